//! The operator dashboard in a real headless Chromium (Debian's, driven through the DevTools
//! protocol by playwright-core): sign in, watch a webhook sent during the test appear in the
//! live feed without a reload, replay a dead event, and save a screenshot as a test artifact
//! (`target/test-artifacts/dashboard.png`).

use keffi_tests::edge::PAYSTACK_SECRET;
use keffi_tests::gateway;
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn dashboard_shows_live_events_and_replays_in_a_real_browser() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let ledger = TestLedger::with_hooks(&db, &[]).await?;
    let http = reqwest::Client::new();
    let created = http
        .post(ledger.url("/v1/orders"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"reference": "ord_ui", "amount": 250000, "currency": "NGN"}))
        .send()
        .await?;
    assert_eq!(created.status(), 201);

    // A dead event waiting for review: a charge whose amount is not a number.
    let dead = gateway::paystack_body(
        PAYSTACK_SECRET,
        serde_json::to_vec(&json!({"event": "charge.success", "data": {
            "id": 9, "reference": "ord_bad", "amount": "lots", "currency": "NGN", "status": "success"}}))?,
    );
    let mut req = http
        .post(ledger.url("/hooks/paystack"))
        .body(dead.body.clone());
    for (n, v) in &dead.headers {
        req = req.header(n, v);
    }
    assert_eq!(req.send().await?.status(), 200);
    let dead_events: Value = http
        .get(ledger.url("/v1/events?status=dead"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    let dead_id = dead_events["data"][0]["id"].as_i64().unwrap();

    let charge = gateway::paystack_charge_success(PAYSTACK_SECRET, 31337, "ord_ui", 250000);
    let artifacts = keffi_tests::browser::artifacts()?;
    let screenshot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let scenario = json!({
        "url": ledger.url("/"),
        "token": ADMIN_TOKEN,
        "deadId": dead_id,
        "reference": "ord_ui",
        "screenshot": screenshot,
        "hook": {
            "headers": charge.headers.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "body": String::from_utf8(charge.body.clone())?,
            "key": "paystack:charge.success:31337",
        },
    });
    let result = keffi_tests::browser::run("dashboard.mjs", scenario)?;

    assert_eq!(
        result["marker"], "same-page",
        "the feed updated without a reload"
    );
    assert!(
        result["pageErrors"].is_null(),
        "JavaScript errors: {result}"
    );
    assert!(
        result["replayText"].as_str().unwrap().contains("dead"),
        "{result}"
    );
    assert!(
        std::fs::metadata(&screenshot)?.len() > 10_000,
        "screenshot saved"
    );

    // The replay went through the real pipeline: the event is still dead, with its reason.
    let after: Value = http
        .get(ledger.url(&format!("/v1/events/{dead_id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(after["status"], "dead");
    Ok(())
}
