//! The real `keffi-ledger` binary, built by `scripts/test`, on a loopback port of its own: it
//! listens on port 0 and prints `listening on ADDR`, which the harness reads (no free port is
//! guessed, so no other process can take it first).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::bail;

use crate::process::Service;
use crate::workspace;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The admin token every test ledger accepts (with `old-admin-token`, for rotation).
pub const ADMIN_TOKEN: &str = "e2e-admin-token";

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

/// How long a one-shot subcommand may take before it counts as hung.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a one-shot `keffi-ledger` subcommand (e.g. `create-order`, `status`) and parses its
/// JSON output. A command still running after [`CLI_TIMEOUT`] is killed and reported with what
/// it had written, so a hang fails the test with its cause instead of stalling it.
pub fn cli(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    // Files, not pipes: a child that fills a pipe nobody reads would block, looking hung.
    let (stdout, stderr) = (tempfile::tempfile()?, tempfile::tempfile()?);
    let mut child = Command::new(binary()?)
        .args(args)
        .stdout(stdout.try_clone()?)
        .stderr(stderr.try_clone()?)
        .spawn()?;
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > CLI_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |mut f: std::fs::File| -> anyhow::Result<Vec<u8>> {
        use std::io::{Read, Seek};
        let mut buf = Vec::new();
        f.rewind()?;
        f.read_to_end(&mut buf)?;
        Ok(buf)
    };
    let (out, err) = (read(stdout)?, read(stderr)?);
    match status {
        None => bail!(
            "keffi-ledger {} still running after {CLI_TIMEOUT:?} (killed); it wrote: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        ),
        Some(s) if !s.success() => bail!(
            "keffi-ledger {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&err)
        ),
        Some(_) => Ok(serde_json::from_slice(&out)?),
    }
}

/// A database for a test ledger: a SQLite file in a temp folder, or a fresh Postgres database.
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres(crate::pg::TestDatabase),
}

impl TestDb {
    pub async fn sqlite() -> anyhow::Result<Self> {
        Ok(TestDb::Sqlite(
            tempfile::Builder::new().prefix("keffi-db-").tempdir()?,
        ))
    }

    pub async fn postgres() -> anyhow::Result<Self> {
        Ok(TestDb::Postgres(crate::pg::TestDatabase::create().await?))
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(dir) => format!("sqlite://{}", dir.path().join("ledger.db").display()),
            TestDb::Postgres(db) => db.url().to_owned(),
        }
    }
}

pub struct TestLedger {
    service: Service,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestLedger {
    /// Starts `keffi-ledger serve` with extra `args` and environment, on port 0: the address
    /// it got is read from its `listening on ADDR` line, then `/healthz` must answer.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("keffi-ledger-").tempdir()?;
        let mut cmd = Command::new(binary()?);
        cmd.current_dir(dir.path())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env(
                "KEFFI_ADMIN_TOKENS",
                format!("old-admin-token,{ADMIN_TOKEN}"),
            )
            .envs(env.iter().copied());
        let log = dir.path().join("ledger.log");
        let mut service = Service::spawn("keffi-ledger", cmd, log.clone())?;
        let said = service
            .wait_for_line("listening on ", READY_TIMEOUT)
            .await?;
        let addr: SocketAddr = said
            .parse()
            .map_err(|e| anyhow::anyhow!("keffi-ledger said `listening on {said}`: {e}"))?;
        service
            .wait_ready(&format!("http://{addr}/healthz"), READY_TIMEOUT)
            .await?;
        Ok(TestLedger {
            service,
            addr,
            log,
            _dir: dir,
        })
    }

    /// A ledger on `db` that also takes signed Paystack webhooks on its own
    /// `/hooks/paystack` (the test secret), with extra `args`.
    pub async fn with_hooks(db: &TestDb, args: &[&str]) -> anyhow::Result<Self> {
        let url = db.url();
        let mut all = vec!["--database-url", url.as_str()];
        all.extend_from_slice(args);
        Self::start(
            &all,
            &[
                (
                    "KEFFI_SOURCES",
                    r#"[{"name":"paystack","provider":"paystack"}]"#,
                ),
                ("KEFFI_SECRET_PAYSTACK", crate::edge::PAYSTACK_SECRET),
            ],
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything the process has written so far (stdout and stderr, one file).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.service.pid()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.service.log_tail(lines)
    }

    /// Stops the process with SIGKILL: no graceful anything, as in a crash.
    pub fn kill(&mut self) {
        self.service.signal(libc::SIGKILL);
        self.service.stop(Duration::from_secs(5));
    }

    /// Stops the process with SIGTERM and waits for it to exit.
    pub fn terminate(&mut self) {
        self.service.signal(libc::SIGTERM);
        self.service.stop(Duration::from_secs(20));
    }
}
