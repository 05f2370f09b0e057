//! Runs a browser script (`tests/browser/*.mjs`, playwright-core driving Debian's Chromium)
//! with a scenario and returns the one JSON line it prints.

use std::process::Command;

use anyhow::{ensure, Context};
use serde_json::Value;

use crate::workspace;

/// Debian's Chromium, installed by `scripts/test`.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs `tests/browser/{script}` with `scenario` (its `chromium` field is filled in) and returns
/// its result; fails with the script's output when it reports failure.
pub fn run(script: &str, mut scenario: Value) -> anyhow::Result<Value> {
    ensure!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: scripts/test installs Debian's chromium package"
    );
    scenario["chromium"] = Value::String(CHROMIUM.into());
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scenario.json");
    std::fs::write(&path, serde_json::to_vec(&scenario)?)?;
    let out = Command::new("node")
        .current_dir(workspace::root())
        .arg(format!("tests/browser/{script}"))
        .arg(&path)
        .output()
        .context("running node")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let result: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("no result from {script}:\n{stdout}\n{stderr}"))?;
    ensure!(result["ok"] == true, "{script} failed: {result}\n{stderr}");
    Ok(result)
}

/// Where tests keep their artifacts (screenshots): `target/test-artifacts`.
pub fn artifacts() -> anyhow::Result<std::path::PathBuf> {
    let dir = workspace::target_dir().join("test-artifacts");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
