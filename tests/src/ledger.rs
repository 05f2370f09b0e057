//! The real `keffi-ledger` binary, built by `scripts/test`, on a free loopback port.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::bail;

use crate::process::{free_port, Service};
use crate::workspace;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The built binary: `KEFFI_LEDGER_BIN` if set, else `target/debug/keffi-ledger`.
pub fn binary() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("KEFFI_LEDGER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace::target_dir().join("debug/keffi-ledger"));
    if !path.exists() {
        bail!(
            "{} is missing: run scripts/test (or `cargo build -p keffi-ledger`)",
            path.display()
        );
    }
    Ok(path)
}

pub struct TestLedger {
    service: Service,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TestLedger {
    /// Starts `keffi-ledger serve` with extra `args` and environment.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("keffi-ledger-").tempdir()?;
        let port = free_port();
        let mut cmd = Command::new(binary()?);
        cmd.current_dir(dir.path())
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(env.iter().copied());
        let log = dir.path().join("ledger.log");
        let mut service = Service::spawn("keffi-ledger", cmd, log)?;
        service
            .wait_ready(&format!("http://127.0.0.1:{port}/healthz"), READY_TIMEOUT)
            .await?;
        Ok(TestLedger {
            service,
            port,
            _dir: dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.service.pid()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.service.log_tail(lines)
    }
}
