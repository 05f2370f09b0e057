//! End-to-end latency in the healthy case: an order is created through the admin API and its
//! live status stream opened; a signed `charge.success` is delivered to the edge, and the
//! clock runs from the edge's 200 to the `paid` event on the stream. One order at a time, so
//! each sample is the quiet-path latency, not a queue. Long-poll on (the default wait) and off
//! (`KEFFI_PULL_WAIT_MS=0`, the puller asking every `KEFFI_PULL_IDLE_MS`). Each delivery waits
//! a random 0–1.5 s first, so arrivals fall anywhere in the puller's cycle instead of locking
//! to it (back-to-back samples would each land just after a poll and wait a whole interval).

use std::time::{Duration, Instant};

use keffi_tests::edge::{EdgeConfig, TestEdge, PAYSTACK_SECRET, PULL_TOKEN};
use keffi_tests::gateway;
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use keffi_tests::load::quantile;
use serde_json::json;

pub struct Mode {
    pub name: &'static str,
    pub wait_ms: &'static str,
}

pub const MODES: [Mode; 2] = [
    Mode {
        name: "long-poll on (wait 15 s)",
        wait_ms: "15000",
    },
    Mode {
        name: "long-poll off (poll every 1 s)",
        wait_ms: "0",
    },
];

/// `n` samples on `db` in `mode`; prints a table row and returns it as JSON.
pub async fn measure(
    n: usize,
    db: TestDb,
    store: &str,
    mode: &Mode,
    first_id: u64,
) -> anyhow::Result<serde_json::Value> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let url = db.url();
    let edge_url = edge.url("");
    let ledger = TestLedger::start(
        &[
            "--database-url",
            &url,
            "--edge-url",
            &edge_url,
            "--pull-wait-ms",
            mode.wait_ms,
        ],
        &[("KEFFI_EDGE_TOKEN", PULL_TOKEN)],
    )
    .await?;
    let http = reqwest::Client::new();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let reference = format!("lat_{first_id}_{i}");
        let created = http
            .post(ledger.url("/v1/orders"))
            .bearer_auth(ADMIN_TOKEN)
            .header("idempotency-key", &reference)
            .json(&json!({"reference": reference, "amount": 500_000, "currency": "NGN"}))
            .send()
            .await?;
        anyhow::ensure!(
            created.status().is_success(),
            "create answered {}",
            created.status()
        );
        let mut stream = http
            .get(ledger.url(&format!("/v1/orders/{reference}/events")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?;
        let mut buffer = String::new();
        let now =
            keffi_tests::sse::read_events(&mut stream, &mut buffer, 1, Duration::from_secs(5))
                .await;
        anyhow::ensure!(
            now.first().is_some_and(|(_, e)| e["status"] == "pending"),
            "the stream did not open with the pending status: {now:?}"
        );
        let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0..1500);
        tokio::time::sleep(Duration::from_millis(jitter)).await;
        let d =
            gateway::paystack_charge_success(PAYSTACK_SECRET, first_id + i, &reference, 500_000);
        let acked = d.post(&http, &edge.url("/hooks/paystack")).send().await?;
        anyhow::ensure!(
            acked.status() == 200,
            "the edge answered {}",
            acked.status()
        );
        let t0 = Instant::now();
        let next =
            keffi_tests::sse::read_events(&mut stream, &mut buffer, 1, Duration::from_secs(30))
                .await;
        let elapsed = t0.elapsed();
        anyhow::ensure!(
            next.first().is_some_and(|(_, e)| e["status"] == "paid"),
            "no `paid` within 30 s: {next:?}\n{}",
            ledger.log_tail(20)
        );
        samples.push(elapsed.as_secs_f64() * 1000.0);
    }
    let (p50, p90, p99) = (
        quantile(&samples, 0.50),
        quantile(&samples, 0.90),
        quantile(&samples, 0.99),
    );
    let (min, max) = samples
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
    println!(
        "| {store} | {} | {n} | {p50:.1} | {p90:.1} | {p99:.1} | {min:.1}–{max:.1} |",
        mode.name
    );
    Ok(
        json!({ "store": store, "mode": mode.name, "samples": n, "p50_ms": p50,
               "p90_ms": p90, "p99_ms": p99, "min_ms": min, "max_ms": max }),
    )
}
