//! The drain: a backlog buffered at the edge while no ledger runs, then a ledger started and
//! timed until the edge holds nothing unacknowledged.

use keffi_tests::edge::{EdgeConfig, TestEdge, PAYSTACK_SECRET};
use keffi_tests::gateway::{self, Delivery};
use keffi_tests::load;
use serde_json::json;

/// The drain: `n` charges buffered at a fresh edge, then a ledger started on `db`; the time
/// until the edge holds nothing unacknowledged, and the ledger's peak RSS.
pub async fn drain(
    n: usize,
    db: keffi_tests::ledger::TestDb,
    store: &str,
) -> anyhow::Result<serde_json::Value> {
    use keffi_tests::edge::PULL_TOKEN;
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    let deliveries: Vec<Delivery> = (0..n as u64)
        .map(|i| {
            gateway::paystack_charge_success(
                PAYSTACK_SECRET,
                8_000_000_000 + i,
                &format!("d_{i}"),
                500_000,
            )
        })
        .collect();
    let sent = load::run(&http, &edge.url("/hooks/paystack"), &deliveries, 64).await;
    anyhow::ensure!(sent.non_2xx == 0, "{} deliveries refused", sent.non_2xx);
    let started = std::time::Instant::now();
    let url = db.url();
    let edge_url = edge.url("");
    let ledger = keffi_tests::ledger::TestLedger::start(
        &[
            "--database-url",
            &url,
            "--edge-url",
            &edge_url,
            "--pull-batch",
            "1000",
        ],
        &[("KEFFI_EDGE_TOKEN", PULL_TOKEN)],
    )
    .await?;
    keffi_tests::audit::drained(&edge, std::time::Duration::from_secs(3600)).await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_kib = std::fs::read_to_string(format!("/proc/{}/status", ledger.pid()))?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    println!(
        "| {store} | {n} | {:.1} ({} req/s) | {seconds:.1} | {:.0} | {:.1} |",
        sent.requests as f64 / sent.per_second,
        sent.per_second as u64,
        n as f64 / seconds,
        peak_kib as f64 / 1024.0
    );
    Ok(
        json!({ "store": store, "events": n, "drain_seconds": seconds,
               "events_per_second": n as f64 / seconds, "peak_rss_kib": peak_kib,
               "buffering_per_second": sent.per_second }),
    )
}
