//! The operator dashboard in a real headless Chromium (Debian's, driven through the DevTools
//! protocol by playwright-core): sign in, watch a webhook sent during the test appear in the
//! live feed without a reload, replay a dead event; search by idempotency key and read the
//! order's timeline (a raw body, a replay from it); filter the events by status and provider
//! and page through a few hundred; bulk-replay the dead events after a dry-run count; and
//! draw the charts; pick a merchant as the platform, and sign in as a merchant that sees only
//! its own. Screenshots of each view are saved as test artifacts in
//! `target/test-artifacts/` (`dashboard-*.png`; `dashboard.png` is the overview on a phone).

use std::time::{Duration, Instant};

use keffi_tests::edge::PAYSTACK_SECRET;
use keffi_tests::gateway::{self, Delivery};
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use serde_json::{json, Value};

/// A read token of merchant `acme`.
const MERCHANT_TOKEN: &str = "acme-kitchen-s3cret";

/// Events seeded for paging: more than four pages of 50.
const SEEDED: usize = 240;

async fn hook(http: &reqwest::Client, ledger: &TestLedger, d: &Delivery) -> anyhow::Result<()> {
    let status = d
        .post(http, &ledger.url("/hooks/paystack"))
        .send()
        .await?
        .status();
    anyhow::ensure!(status == 200, "hook answered {status}");
    Ok(())
}

fn refund(reference: &str, refund_reference: &str, amount: i64) -> anyhow::Result<Delivery> {
    Ok(gateway::paystack_body(
        PAYSTACK_SECRET,
        serde_json::to_vec(&json!({"event": "refund.processed", "data": {
            "status": "processed", "transaction_reference": reference,
            "refund_reference": refund_reference, "amount": amount.to_string(), "currency": "NGN"}}))?,
    ))
}

async fn get(http: &reqwest::Client, ledger: &TestLedger, path: &str) -> anyhow::Result<Value> {
    Ok(http
        .get(ledger.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .json()
        .await?)
}

#[tokio::test]
async fn dashboard_shows_live_events_and_replays_in_a_real_browser() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    // A short park timeout: refunds sent before their charge are given up on (dead, orphaned)
    // within a second, and a replay after the charge applies them.
    let url = db.url();
    let tokens = format!("{ADMIN_TOKEN}, kitchen@acme:read:{MERCHANT_TOKEN}");
    let ledger = TestLedger::start(
        &[
            "--database-url",
            &url,
            "--park-timeout",
            "1s",
            "--parked-sweep-interval",
            "200ms",
        ],
        &[
            (
                "KEFFI_SOURCES",
                r#"[{"name":"paystack","provider":"paystack"}]"#,
            ),
            ("KEFFI_SECRET_PAYSTACK", PAYSTACK_SECRET),
            ("KEFFI_ADMIN_TOKENS", &tokens),
        ],
    )
    .await?;
    let http = reqwest::Client::new();
    // A second merchant with an order of its own, for the picker and the merchant's token.
    let added = http
        .post(ledger.url("/v1/merchants"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"id": "acme", "name": "Acme Foods"}))
        .send()
        .await?;
    assert_eq!(added.status(), 201);
    let theirs = http
        .post(ledger.url("/v1/orders"))
        .bearer_auth(ADMIN_TOKEN)
        .header("keffi-merchant", "acme")
        .json(&json!({"reference": "ord_acme", "amount": 120000, "currency": "NGN"}))
        .send()
        .await?;
    assert_eq!(theirs.status(), 201);
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
    hook(&http, &ledger, &dead).await?;
    let dead_events = get(&http, &ledger, "/v1/events?status=dead").await?;
    let dead_id = dead_events["data"][0]["id"].as_i64().unwrap();

    // Refunds ahead of their charges: ord_ui's (replayed from its timeline) and three others
    // (replayed in bulk), orphaned after a second; then the three charges arrive.
    hook(&http, &ledger, &refund("ord_ui", "rf_ui", 50000)?).await?;
    for i in 1..=3 {
        hook(
            &http,
            &ledger,
            &refund(&format!("bulk_{i}"), &format!("rf_bulk_{i}"), 10000)?,
        )
        .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let dead = get(&http, &ledger, "/v1/events?status=dead&limit=200").await?;
        if dead["data"].as_array().unwrap().len() == 5 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "refunds not orphaned: {dead}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 1..=3 {
        let charge = gateway::paystack_charge_success(
            PAYSTACK_SECRET,
            7000 + i,
            &format!("bulk_{i}"),
            500000,
        );
        hook(&http, &ledger, &charge).await?;
    }

    // A few hundred applied events to page through.
    for i in 0..SEEDED {
        let charge = gateway::paystack_charge_success(
            PAYSTACK_SECRET,
            100_000 + i as u64,
            &format!("seed_{i:03}"),
            100_000 + i as i64,
        );
        hook(&http, &ledger, &charge).await?;
    }
    let rf_ui_id = get(&http, &ledger, "/v1/events?reference=ord_ui").await?["data"][0]["id"]
        .as_i64()
        .unwrap();

    let charge = gateway::paystack_charge_success(PAYSTACK_SECRET, 31337, "ord_ui", 250000);
    let artifacts = keffi_tests::browser::artifacts()?;
    let shots = [
        "dashboard.png",
        "dashboard-overview.png",
        "dashboard-timeline.png",
        "dashboard-timeline-phone.png",
        "dashboard-events.png",
        "dashboard-bulk-replay.png",
        "dashboard-bulk-replay-done.png",
        "dashboard-charts.png",
    ];
    for s in shots {
        let _ = std::fs::remove_file(artifacts.join(s));
    }
    let scenario = json!({
        "url": ledger.url("/"),
        "token": ADMIN_TOKEN,
        "deadId": dead_id,
        "refundId": rf_ui_id,
        "reference": "ord_ui",
        "merchant": "acme",
        "merchantOrder": "ord_acme",
        "merchantToken": MERCHANT_TOKEN,
        "artifacts": artifacts,
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
    // A platform token picks among the merchants; a merchant's token sees its own alone.
    assert_eq!(result["merchants"], json!(["acme", "default"]), "{result}");
    assert_eq!(result["pickedOrders"], json!(["ord_acme"]), "{result}");
    let merchant = &result["merchantSees"];
    assert_eq!(merchant["picker"], false, "{result}");
    assert_eq!(merchant["shards"], false, "{result}");
    assert_eq!(merchant["held"], false, "{result}");
    assert_eq!(result["platformHeld"], "Nothing held.", "{result}");
    assert_eq!(merchant["orders"], json!(["ord_acme"]), "{result}");
    assert!(
        merchant["me"].as_str().is_some_and(|m| m.contains("acme")),
        "{result}"
    );
    // The page ran under its policy (its one script allowed by hash) and cannot be framed.
    assert!(result["cspViolations"].is_null(), "CSP blocked: {result}");
    let headers = &result["headers"];
    let policy = headers["content-security-policy"]
        .as_str()
        .unwrap_or_default();
    assert!(policy.contains("frame-ancestors 'none'"), "{headers}");
    let script_src = policy
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap_or_default();
    assert!(
        script_src.contains("'sha256-") && !script_src.contains("unsafe-inline"),
        "{headers}"
    );
    assert_eq!(headers["x-frame-options"], "DENY", "{headers}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{headers}");
    assert_eq!(result["framedHasSignIn"], false, "framed: {result}");
    assert!(
        result["replayText"].as_str().unwrap().contains("dead"),
        "{result}"
    );
    // The timeline: the raw body of the charge, and the orphaned refund replayed from it.
    assert!(
        result["timelineBody"]
            .as_str()
            .unwrap()
            .contains("\"reference\": \"ord_ui\""),
        "{result}"
    );
    assert!(
        result["timelineReplay"]
            .as_str()
            .unwrap()
            .contains("dead → applied"),
        "{result}"
    );
    // One money formatter: the order's amount reads the same in its card and its entry.
    for text in [&result["timelineCreated"], &result["timelineOrderCard"]] {
        assert!(
            text.as_str().unwrap_or_default().contains("NGN 2,500.00"),
            "{result}"
        );
    }
    // Paging: four full pages of applied Paystack events, none twice; no Stripe events.
    let pages = result["pages"].as_array().unwrap();
    assert!(pages.len() >= 2, "{result}");
    let ids: Vec<i64> = pages
        .iter()
        .flat_map(|p| p.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()))
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );
    assert_eq!(result["backToFirst"], pages[0], "Newer returns to page 1");
    assert_eq!(result["stripeRows"], 0, "{result}");
    // Bulk replay: the dry run's count is what the real run replayed; the three orphaned
    // refunds apply, the charge with no amount stays dead.
    assert_eq!(result["bulkMatched"], "4", "{result}");
    assert_eq!(result["bulkReplayed"], "4", "{result}");
    assert!(
        result["bulkText"]
            .as_str()
            .unwrap()
            .contains("3 applied, 0 ignored, 0 parked, 1 still dead"),
        "{result}"
    );
    // Charts: points on the per-minute lines and a bar for the dead hour.
    assert!(result["chartPoints"].as_u64().unwrap() >= 2, "{result}");
    assert!(result["deadBars"].as_u64().unwrap() >= 1, "{result}");
    for s in shots {
        assert!(
            std::fs::metadata(artifacts.join(s))?.len() > 10_000,
            "screenshot {s} saved"
        );
    }

    // The replays went through the real pipeline: the charge with no amount is still dead
    // with its reason; ord_ui's refund applied.
    let after = get(&http, &ledger, &format!("/v1/events/{dead_id}")).await?;
    assert_eq!(after["status"], "dead");
    let order = get(&http, &ledger, "/v1/orders/ord_ui").await?;
    assert_eq!(order["payment"]["refunded"], 50000, "{order}");
    let dead = get(&http, &ledger, "/v1/events?status=dead").await?;
    assert_eq!(dead["data"].as_array().unwrap().len(), 1, "{dead}");
    Ok(())
}
