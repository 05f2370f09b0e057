//! The real binary with `KEFFI_LOG_JSON=true`: one webhook through the real edge is one pulled
//! batch, and its story is in the ledger's JSON log — the `pull_cycle` span with the shard,
//! the batch's size, first and last sequence and outcome counts, the `apply_batch` span inside
//! it — and an admin request's line carries its matched route and status, not its raw path.

use std::time::{Duration, Instant};

use keffi_tests::edge::{EdgeConfig, TestEdge, PAYSTACK_SECRET, PULL_TOKEN};
use keffi_tests::gateway;
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use serde_json::Value;

/// The ledger's JSON log lines (its stdout line, `listening on …`, is not one).
fn json_lines(ledger: &TestLedger) -> Vec<Value> {
    ledger
        .log()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The first JSON line with `message` whose innermost span is `span` and that `matches`,
/// waiting up to 30 s.
async fn wait_for_line(
    ledger: &TestLedger,
    message: &str,
    span: &str,
    matches: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(line) = json_lines(ledger)
            .into_iter()
            .find(|l| l["fields"]["message"] == message && l["span"]["name"] == span && matches(l))
        {
            return Ok(line);
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "no such `{message}` line in `{span}`; the log:\n{}",
                ledger.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_batch_is_one_story_in_the_json_log() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let url = db.url();
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let edge_url = edge.url("");
    let ledger = TestLedger::start(
        &[
            "--database-url",
            &url,
            "--edge-url",
            &edge_url,
            "--pull-wait-ms",
            "2000",
        ],
        &[
            ("KEFFI_EDGE_TOKEN", PULL_TOKEN),
            ("KEFFI_LOG_JSON", "true"),
            ("KEFFI_LOG", "info,keffi_ledger=debug"),
        ],
    )
    .await?;

    let charge = gateway::paystack_charge_success(PAYSTACK_SECRET, 4099260517, "ord_logs", 500_000);
    let (status, _) = edge.deliver("paystack", &charge).await?;
    assert_eq!(status, 200);

    // At info, one line for the batch, its span holding the whole round.
    let done = wait_for_line(&ledger, "batch applied and acked", "pull_cycle", |_| true).await?;
    assert_eq!(done["level"], "INFO", "{done}");
    let cycle = &done["span"];
    assert!(cycle["shard"].as_u64().is_some(), "{done}");
    assert_eq!(cycle["events"], 1, "{done}");
    assert!(
        cycle["first_seq"].as_u64().is_some_and(|s| s >= 1),
        "{done}"
    );
    assert_eq!(cycle["first_seq"], cycle["last_seq"], "{done}");
    assert_eq!(cycle["applied"], 1, "{done}");
    assert_eq!(cycle["duplicates"], 0, "{done}");
    assert_eq!(cycle["dead"], 0, "{done}");

    // At debug, the transaction inside the same round.
    let committed = wait_for_line(&ledger, "batch committed", "apply_batch", |_| true).await?;
    assert_eq!(committed["span"]["events"], 1, "{committed}");
    assert_eq!(committed["span"]["applied"], 1, "{committed}");
    let spans = committed["spans"].as_array().expect("a span list");
    assert_eq!(spans[0]["name"], "pull_cycle", "{committed}");
    assert_eq!(spans[0]["shard"], cycle["shard"], "{committed}");
    assert_eq!(spans[0]["last_seq"], cycle["last_seq"], "{committed}");

    // An admin request: its route, not its path (which holds the reference).
    let resp = reqwest::Client::new()
        .get(ledger.url("/v1/payments/ord_logs"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let line = wait_for_line(&ledger, "response", "http_request", |l| {
        l["span"]["route"] != "/healthz"
    })
    .await?;
    let request = &line["span"];
    assert_eq!(request["method"], "GET", "{line}");
    assert_eq!(request["route"], "/v1/payments/{reference}", "{line}");
    assert_eq!(request["status"], 200, "{line}");
    assert!(request["latency_ms"].as_f64().is_some(), "{line}");
    Ok(())
}
