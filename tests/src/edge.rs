//! The real edge: the Worker built by `scripts/test` (edge/build), run under `wrangler dev`
//! with a config derived from the root `wrangler.toml` minus its build step, so tests never
//! rebuild the wasm.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use keffi_shared::shard::shard_for;
use keffi_shared::version::V1;
use keffi_shared::wire::{
    AckRequest, AckResponse, PullQuery, PullResponse, PulledEvent, ShardsResponse, StatsResponse,
};
use keffi_shared::IdempotencyKey;

use crate::gateway::Delivery;
use crate::process::Service;
use crate::workspace;

pub const PAYSTACK_SECRET: &str = "sk_test_e2e_paystack";
pub const STRIPE_SECRET: &str = "whsec_e2e_stripe";
pub const FLUTTERWAVE_SECRET: &str = "flw-e2e-standard-hash";
pub const SVIX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const PULL_TOKEN: &str = "e2e-pull-token";
/// Seals runtime sources' secrets at the test edge (base64 of 32 bytes).
pub const SOURCES_KEY: &str = "ZTJlLXNvdXJjZXMta2V5LW5vdC1mb3ItdXNlLTMyYiE=";
/// The test edge's runtime-source cache: the staleness its tests hold it to.
pub const SOURCE_CACHE_MS: u64 = 1000;
/// An address no test request comes from: the `paystack-ip` source only accepts it.
pub const PAYSTACK_IP: &str = "52.31.139.75";

/// How long a cold `wrangler dev` may take to answer (the wasm is already built, so it
/// usually answers within seconds; the margin is for a loaded machine).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Settings of one test edge: wrangler `[vars]` overrides and `.dev.vars` secrets.
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    pub vars: Vec<(String, String)>,
    pub secrets: Vec<(String, String)>,
}

impl EdgeConfig {
    /// Four sources (Paystack, Paystack behind an IP allow-list, Stripe, Standard Webhooks),
    /// four shards, a pull token, and a key for runtime sources.
    pub fn standard() -> Self {
        let sources = format!(
            r#"[{{"name":"paystack","provider":"paystack"}},
                {{"name":"paystack-ip","provider":"paystack","allow_ips":["{PAYSTACK_IP}"]}},
                {{"name":"stripe","provider":"stripe"}},
                {{"name":"flutterwave","provider":"flutterwave"}},
                {{"name":"svix","provider":"standard-webhooks"}}]"#
        );
        EdgeConfig {
            vars: vec![
                ("KEFFI_SOURCES".into(), sources),
                ("KEFFI_SHARDS".into(), "4".into()),
                ("KEFFI_SOURCE_CACHE_MS".into(), SOURCE_CACHE_MS.to_string()),
            ],
            secrets: vec![
                ("KEFFI_SECRET_PAYSTACK".into(), PAYSTACK_SECRET.into()),
                ("KEFFI_SECRET_PAYSTACK_IP".into(), PAYSTACK_SECRET.into()),
                ("KEFFI_SECRET_STRIPE".into(), STRIPE_SECRET.into()),
                ("KEFFI_SECRET_FLUTTERWAVE".into(), FLUTTERWAVE_SECRET.into()),
                ("KEFFI_SECRET_SVIX".into(), SVIX_SECRET.into()),
                ("KEFFI_SOURCES_KEY".into(), SOURCES_KEY.into()),
                (
                    "KEFFI_PULL_TOKENS".into(),
                    format!("old-token,{PULL_TOKEN}"),
                ),
            ],
        }
    }

    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.into(), value.into()));
        self
    }

    pub fn without_secret(mut self, name: &str) -> Self {
        self.secrets.retain(|(n, _)| n != name);
        self
    }

    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.retain(|(n, _)| n != name);
        self.secrets.push((name.into(), value.into()));
        self
    }

    pub fn shards(&self) -> u32 {
        self.vars
            .iter()
            .find(|(n, _)| n == "KEFFI_SHARDS")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(4)
    }
}

/// A running edge. Its persisted Durable Object state lives in a temp folder that outlives
/// restarts of the process and is removed with the value.
pub struct TestEdge {
    service: Option<Service>,
    port: u16,
    dir: tempfile::TempDir,
    config: EdgeConfig,
    http: reqwest::Client,
    /// How many times wrangler was started (each start logs to its own file).
    launches: u32,
}

impl TestEdge {
    pub async fn start(config: EdgeConfig) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("keffi-edge-").tempdir()?;
        let mut edge = TestEdge {
            service: None,
            // Port 0: wrangler binds a port the OS picks and says which (no guess to race).
            port: 0,
            dir,
            config,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            launches: 0,
        };
        edge.launch().await?;
        Ok(edge)
    }

    /// Where `wrangler dev` keeps the Durable Objects' storage (their SQLite files).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn shards(&self) -> u32 {
        self.config.shards()
    }

    /// The shard an idempotency key is stored in.
    pub fn shard_of(&self, key: &str) -> u32 {
        shard_for(
            &IdempotencyKey::parse(key).expect("valid key"),
            self.shards(),
        )
    }

    /// POSTs `delivery` to `/hooks/{source}`; returns the status and the JSON body.
    pub async fn deliver(
        &self,
        source: &str,
        delivery: &Delivery,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let mut req = self
            .http
            .post(self.url(&format!("/hooks/{source}")))
            .body(delivery.body.clone());
        for (name, value) in &delivery.headers {
            req = req.header(name, value);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let body = resp.json().await.context("the edge answered non-JSON")?;
        Ok((status, body))
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.bearer_auth(PULL_TOKEN)
    }

    pub async fn pull(&self, query: PullQuery) -> anyhow::Result<PullResponse> {
        let url = self.url(&format!("/ledger/pull?{}", query.to_query()));
        let resp = self.authed(self.http.get(url)).send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("pull answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Acks `upto` on `shard`; returns the status and body (errors are data here).
    pub async fn ack(&self, shard: u32, upto: u64) -> anyhow::Result<(u16, serde_json::Value)> {
        let resp = self
            .authed(self.http.post(self.url("/ledger/ack")))
            .json(&AckRequest { v: V1, shard, upto })
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.json().await?))
    }

    pub async fn shards_report(&self) -> anyhow::Result<ShardsResponse> {
        let resp = self
            .authed(self.http.get(self.url("/ledger/shards")))
            .send()
            .await?;
        Ok(resp.error_for_status()?.json().await?)
    }

    pub async fn stats(&self) -> anyhow::Result<StatsResponse> {
        let resp = self
            .authed(self.http.get(self.url("/stats")))
            .send()
            .await?;
        Ok(resp.error_for_status()?.json().await?)
    }

    /// Every unacknowledged event of every shard, paging with `limit`, without acking.
    pub async fn pull_all(&self, limit: u32) -> anyhow::Result<Vec<PulledEvent>> {
        let mut all = Vec::new();
        for shard in 0..self.shards() {
            let mut after = 0;
            loop {
                let page = self
                    .pull(PullQuery {
                        shard,
                        after,
                        limit: Some(limit),
                        wait_ms: None,
                        skip_source: None,
                    })
                    .await?;
                after = page.last_seq(after);
                let more = page.has_more;
                all.extend(page.events);
                if !more {
                    break;
                }
            }
        }
        Ok(all)
    }

    /// Acks every shard up to its head.
    pub async fn ack_all(&self) -> anyhow::Result<Vec<AckResponse>> {
        let mut acks = Vec::new();
        for b in self.shards_report().await?.backlog {
            let (status, body) = self.ack(b.shard, b.head_seq).await?;
            if status != 200 {
                bail!("ack of shard {} answered {status}: {body}", b.shard);
            }
            acks.push(serde_json::from_value(body)?);
        }
        Ok(acks)
    }

    /// Stops the edge and starts it again on the same port (the ledger under test knows it)
    /// with the same persisted state.
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
            .args(["--inspector-port", "0"])
            .arg("--persist-to")
            .arg(self.dir.path().join("state"))
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true");
        self.launches += 1;
        let log = self
            .dir
            .path()
            .join(format!("wrangler-{}.log", self.launches));
        let mut service = Service::spawn("wrangler dev", cmd, log)?;
        if self.port == 0 {
            let port = service
                .wait_for_line("[wrangler:info] Ready on http://127.0.0.1:", READY_TIMEOUT)
                .await?;
            self.port = port
                .parse()
                .map_err(|e| anyhow::anyhow!("wrangler's port `{port}`: {e}"))?;
        }
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
