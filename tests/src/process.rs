//! Child processes that are always stopped: each runs in its own process group, and dropping
//! the handle signals the whole group (wrangler's node process and its workerd child alike).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A running child process group with its output captured to a log file.
pub struct Service {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Spawns `cmd` in a new process group, stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> anyhow::Result<Self> {
        use std::os::unix::process::CommandExt;
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create log file {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name}: {cmd:?}"))?;
        Ok(Service {
            name: name.to_owned(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's output so far, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Waits until the child writes a line starting with `prefix` and returns the rest of it
    /// (e.g. `listening on ` → `127.0.0.1:41234`); fails if the child exits or `timeout`
    /// passes first.
    pub async fn wait_for_line(
        &mut self,
        prefix: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let start = Instant::now();
        loop {
            // Read before checking for exit, so a line written just before exiting is seen.
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            // Only whole lines: the child may be writing the last one right now.
            let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            if let Some(rest) = complete.lines().find_map(|l| l.strip_prefix(prefix)) {
                return Ok(rest.trim().to_owned());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} before writing `{prefix}…`; its log:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            if start.elapsed() > timeout {
                bail!(
                    "{} wrote no `{prefix}…` line after {timeout:?}; its log:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls `url` until it answers 200, the child exits, or `timeout` passes.
    pub async fn wait_ready(&mut self, url: &str, timeout: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} before it was ready; its log:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            if let Ok(resp) = client.get(url).send().await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
            if start.elapsed() > timeout {
                bail!(
                    "{} not ready at {url} after {timeout:?}; its log:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends `signal` to the whole process group.
    pub fn signal(&self, signal: i32) {
        // SAFETY: killpg has no memory-safety preconditions; the group id is our child's pid.
        unsafe {
            libc::killpg(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Asks the group to stop (SIGINT), waits up to `grace`, then kills it.
    pub fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        self.signal(libc::SIGINT);
        let start = Instant::now();
        while start.elapsed() < grace {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                // The leader is gone; make sure no grandchild (workerd) outlives it.
                self.signal(libc::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}
