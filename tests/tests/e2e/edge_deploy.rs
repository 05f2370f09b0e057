//! `wrangler deploy --dry-run` bundles the Worker offline: what would be uploaded.

use std::io::Write;
use std::process::Command;

use keffi_tests::workspace;

#[test]
fn deploy_dry_run_bundles_offline() -> anyhow::Result<()> {
    let out = tempfile::tempdir()?;
    let root = workspace::root();
    keffi_tests::edge::built_worker()?;
    // The checked-in config, minus its build step (scripts/test built the Worker already).
    let text = std::fs::read_to_string(root.join("wrangler.toml"))?;
    let mut table: toml::Table = text.parse()?;
    table.remove("build");
    table.insert(
        "main".into(),
        toml::Value::String(
            root.join("edge/build/worker/shim.mjs")
                .display()
                .to_string(),
        ),
    );
    let config = out.path().join("wrangler.toml");
    std::fs::write(&config, toml::to_string(&table)?)?;
    let dist = out.path().join("dist");
    let status = Command::new(root.join("node_modules/.bin/wrangler"))
        .current_dir(out.path())
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(&dist)
        .arg("--config")
        .arg(&config)
        .env("WRANGLER_SEND_METRICS", "false")
        .status()?;
    assert!(status.success(), "wrangler deploy --dry-run failed");

    let mut raw = 0u64;
    let mut gzipped = 0u64;
    for entry in std::fs::read_dir(&dist)? {
        let path = entry?.path();
        let bytes = std::fs::read(&path)?;
        raw += bytes.len() as u64;
        gzipped += gzip_len(&bytes)?;
    }
    println!("deploy bundle: {raw} bytes raw, {gzipped} bytes gzipped");
    // Cloudflare's free plan allows 3 MiB compressed; stay well inside it.
    assert!(
        gzipped < 1024 * 1024,
        "bundle grew to {gzipped} bytes gzipped"
    );
    Ok(())
}

/// The size after gzip at the best level.
fn gzip_len(bytes: &[u8]) -> anyhow::Result<u64> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len() as u64)
}
