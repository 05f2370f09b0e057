//! The merchant's optimistic checkout on a bad network, in Debian's headless Chromium with
//! DevTools network emulation: offline at "Confirm order", a reload mid-request after three
//! taps, a slow 2G-like link, and a status stream cut mid-way. Each ends "Paid" with exactly
//! one order in the ledger; screenshots go to `target/test-artifacts/checkout-*.png`, and the
//! measured bytes are printed.

use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn the_checkout_survives_a_bad_network_with_one_order_each_time() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let ledger = TestLedger::start(
        &[
            "--database-url",
            &db.url(),
            "--demo",
            "--sse-max-seconds",
            "2",
        ],
        &[],
    )
    .await?;
    let artifacts = keffi_tests::browser::artifacts()?;
    let result = keffi_tests::browser::run(
        "checkout.mjs",
        json!({ "url": ledger.url("/"), "artifacts": artifacts }),
    )?;
    println!("checkout measurements: {result}");

    let s = &result["scenarios"];
    for name in [
        "offline_confirm",
        "reload_mid_request",
        "slow_2g",
        "stream_cut",
    ] {
        assert_eq!(s[name]["final"], "paid", "{name}: {result}");
        assert_eq!(s[name]["errors"], json!([]), "{name}: JavaScript errors");
        let shot = artifacts.join(format!(
            "checkout-{}.png",
            match name {
                "offline_confirm" => "offline-then-paid",
                "reload_mid_request" => "reload-then-paid",
                "slow_2g" => "slow-2g-paid",
                _ => "stream-cut-paid",
            }
        ));
        assert!(
            std::fs::metadata(&shot)?.len() > 5_000,
            "{}",
            shot.display()
        );
    }
    assert_eq!(s["offline_confirm"]["shownImmediately"], "syncing");
    assert_eq!(s["offline_confirm"]["stillSyncingOffline"], "syncing");
    assert_eq!(s["reload_mid_request"]["beforeReload"], "syncing");
    assert_eq!(s["slow_2g"]["shownImmediately"], "syncing");
    assert_ne!(
        s["stream_cut"]["whileCut"], "paid",
        "the cut stream did not deliver"
    );
    // Page weight budget: the page and its script under 30 KB transferred.
    let page_bytes = s["slow_2g"]["pageBytes"].as_u64().unwrap();
    assert!(page_bytes < 30_000, "page weighed {page_bytes} bytes");
    // A status update costs bytes, not kilobytes.
    for size in s["slow_2g"]["sseMessageBytes"].as_array().unwrap() {
        assert!(size.as_u64().unwrap() < 300, "status event of {size} bytes");
    }

    // Exactly one order per scenario, whatever the taps, reloads and retries did.
    let http = reqwest::Client::new();
    let orders: Value = http
        .get(ledger.url("/v1/orders?limit=200"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    let references: Vec<&str> = orders["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["reference"].as_str().unwrap())
        .collect();
    assert_eq!(references.len(), 4, "{references:?}");
    for name in [
        "offline_confirm",
        "reload_mid_request",
        "slow_2g",
        "stream_cut",
    ] {
        let r = s[name]["reference"].as_str().unwrap();
        assert_eq!(references.iter().filter(|x| **x == r).count(), 1, "{name}");
    }
    for o in orders["data"].as_array().unwrap() {
        assert_eq!(o["status"], "paid");
    }
    Ok(())
}
