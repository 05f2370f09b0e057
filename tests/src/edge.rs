//! The real edge: the Worker built by `scripts/test` (edge/build), run under `wrangler dev`
//! with a config derived from the root `wrangler.toml` minus its build step, so tests never
//! rebuild the wasm.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::process::{free_port, Service};
use crate::workspace;

/// How long a cold `wrangler dev` may take to answer (it is 2–5 s when the wasm is built).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Settings of one test edge: wrangler `[vars]` overrides and `.dev.vars` secrets.
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    pub vars: Vec<(String, String)>,
    pub secrets: Vec<(String, String)>,
}

/// A running edge. Its persisted Durable Object state lives in a temp folder that outlives
/// restarts of the process and is removed with the value.
pub struct TestEdge {
    service: Option<Service>,
    port: u16,
    dir: tempfile::TempDir,
    config: EdgeConfig,
}

impl TestEdge {
    pub async fn start(config: EdgeConfig) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("keffi-edge-").tempdir()?;
        let mut edge = TestEdge {
            service: None,
            port: free_port(),
            dir,
            config,
        };
        edge.launch().await?;
        Ok(edge)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops the edge and starts it again on the same port with the same persisted state.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut s) = self.service.take() {
            s.stop(Duration::from_secs(10));
        }
        self.launch().await
    }

    pub fn stop(&mut self) {
        if let Some(mut s) = self.service.take() {
            s.stop(Duration::from_secs(10));
        }
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let config_path = write_config(self.dir.path(), &self.config)?;
        let wrangler = workspace::root().join("node_modules/.bin/wrangler");
        if !wrangler.exists() {
            bail!(
                "{} is missing: run scripts/test (it runs `npm ci`)",
                wrangler.display()
            );
        }
        let mut cmd = Command::new(wrangler);
        cmd.current_dir(self.dir.path())
            .arg("dev")
            .arg("--config")
            .arg(&config_path)
            .args(["--ip", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(self.dir.path().join("state"))
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true");
        let log = self.dir.path().join(format!("wrangler-{}.log", self.port));
        let mut service = Service::spawn("wrangler dev", cmd, log)?;
        service
            .wait_ready(&self.url("/healthz"), READY_TIMEOUT)
            .await?;
        self.service = Some(service);
        Ok(())
    }
}

impl Drop for TestEdge {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The built Worker's entry module.
pub fn built_worker() -> anyhow::Result<PathBuf> {
    let shim = workspace::root().join("edge/build/worker/shim.mjs");
    if !shim.exists() {
        bail!(
            "the edge Worker is not built ({} missing): run scripts/test, which builds it once",
            shim.display()
        );
    }
    Ok(shim)
}

/// Writes `dir/wrangler.toml` (root config, absolute `main`, no `[build]`, vars overridden)
/// and `dir/.dev.vars` (the secrets), returning the config's path.
fn write_config(dir: &Path, config: &EdgeConfig) -> anyhow::Result<PathBuf> {
    let root_config = workspace::root().join("wrangler.toml");
    let text = std::fs::read_to_string(&root_config)
        .with_context(|| format!("cannot read {}", root_config.display()))?;
    let mut table: toml::Table = text.parse().context("wrangler.toml is not valid TOML")?;
    table.remove("build");
    table.insert(
        "main".into(),
        toml::Value::String(built_worker()?.display().to_string()),
    );
    if !config.vars.is_empty() {
        let vars = table
            .entry("vars")
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .context("wrangler.toml [vars] is not a table")?;
        for (k, v) in &config.vars {
            vars.insert(k.clone(), toml::Value::String(v.clone()));
        }
    }
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, toml::to_string(&table)?)?;
    let dev_vars: String = config
        .secrets
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}\n",
                serde_json::to_string(v).expect("strings serialise")
            )
        })
        .collect();
    std::fs::write(dir.join(".dev.vars"), dev_vars)?;
    Ok(path)
}
