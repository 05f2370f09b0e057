//! The two real processes start, answer health checks and answer unknown routes with the
//! shared JSON error body.

use keffi_shared::wire::ErrorBody;
use keffi_tests::edge::{EdgeConfig, TestEdge};
use keffi_tests::ledger::TestLedger;

#[tokio::test]
async fn edge_under_wrangler_dev_answers_health_and_json_errors() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::default()).await?;
    let health: serde_json::Value = reqwest::get(edge.url("/healthz")).await?.json().await?;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "keffi-edge");

    let resp = reqwest::get(edge.url("/no-such-route")).await?;
    assert_eq!(resp.status(), 404);
    let body: ErrorBody = resp.json().await?;
    assert_eq!(body.error.code, "not_found");
    Ok(())
}

#[tokio::test]
async fn ledger_binary_answers_health_and_json_errors() -> anyhow::Result<()> {
    let ledger = TestLedger::start(&[], &[]).await?;
    let health: serde_json::Value = reqwest::get(ledger.url("/healthz")).await?.json().await?;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "keffi-ledger");

    let resp = reqwest::get(ledger.url("/no-such-route")).await?;
    assert_eq!(resp.status(), 404);
    let body: ErrorBody = resp.json().await?;
    assert_eq!(body.error.code, "not_found");
    Ok(())
}
