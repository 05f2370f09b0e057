//! Fairness between merchants: merchant A's flash sale left a backlog of `n` charges at the
//! edge (buffered while no ledger ran), and from the moment a ledger starts on it, merchant B
//! sends one charge a second (on schedule, whether or not the last one is paid yet). The clock
//! runs, for each of B's charges, from the edge's 200 to the `paid` event on B's order's live
//! status stream; a charge counts as "during" if A's backlog was not yet drained when it was
//! sent. The baseline is the same B alone on a stack of its own, measured first in the same
//! run. Ledger on Postgres with long-poll.

use std::time::{Duration, Instant};

use keffi_tests::edge::{EdgeConfig, TestEdge, PULL_TOKEN};
use keffi_tests::gateway::{self, Delivery};
use keffi_tests::ledger::{TestDb, TestLedger};
use keffi_tests::load::{self, quantile};
use serde_json::json;

const SECRET_A: &str = "sk_test_bench_a";
const SECRET_B: &str = "sk_test_bench_b";
const PLATFORM: &str = "bench-platform-token";

struct Stack {
    edge: TestEdge,
    http: reqwest::Client,
}

impl Stack {
    async fn start() -> anyhow::Result<Stack> {
        let sources = r#"[{"name":"shop-a","provider":"paystack"},
                          {"name":"shop-b","provider":"paystack"}]"#;
        let config = EdgeConfig::standard()
            .var("KEFFI_SOURCES", sources)
            .secret("KEFFI_SECRET_SHOP_A", SECRET_A)
            .secret("KEFFI_SECRET_SHOP_B", SECRET_B);
        Ok(Stack {
            edge: TestEdge::start(config).await?,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(128)
                .build()?,
        })
    }

    async fn ledger(&self, db: &TestDb) -> anyhow::Result<TestLedger> {
        let url = db.url();
        let edge_url = self.edge.url("");
        let ledger = TestLedger::start(
            &[
                "--database-url",
                &url,
                "--edge-url",
                &edge_url,
                "--pull-batch",
                "1000",
            ],
            &[
                ("KEFFI_EDGE_TOKEN", PULL_TOKEN),
                ("KEFFI_ADMIN_TOKENS", PLATFORM),
            ],
        )
        .await?;
        for (id, source) in [("alpha", "shop-a"), ("bravo", "shop-b")] {
            self.platform(
                &ledger,
                "/v1/merchants",
                json!({"id": id, "name": id}),
                None,
            )
            .await?;
            let path = format!("/v1/merchants/{id}/sources");
            self.platform(&ledger, &path, json!({"name": source}), None)
                .await?;
        }
        Ok(ledger)
    }

    async fn platform(
        &self,
        ledger: &TestLedger,
        path: &str,
        body: serde_json::Value,
        merchant: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut req = self
            .http
            .post(ledger.url(path))
            .bearer_auth(PLATFORM)
            .json(&body);
        if let Some(m) = merchant {
            req = req.header("keffi-merchant", m);
        }
        let status = req.send().await?.status();
        anyhow::ensure!(status.is_success(), "POST {path} answered {status}");
        Ok(())
    }

    /// One of B's charges: order, stream, charge; the time from the edge's 200 to `paid`.
    async fn b_charge(&self, ledger: &TestLedger, id: u64) -> anyhow::Result<f64> {
        let reference = format!("fair_b_{id}");
        let order = json!({"reference": reference, "amount": 500_000, "currency": "NGN"});
        self.platform(ledger, "/v1/orders", order, Some("bravo"))
            .await?;
        let mut stream = self
            .http
            .get(ledger.url(&format!("/v1/orders/{reference}/events")))
            .bearer_auth(PLATFORM)
            .header("keffi-merchant", "bravo")
            .send()
            .await?;
        let mut buffer = String::new();
        let now =
            keffi_tests::sse::read_events(&mut stream, &mut buffer, 1, Duration::from_secs(5))
                .await;
        anyhow::ensure!(
            now.first().is_some_and(|(_, e)| e["status"] == "pending"),
            "B's stream did not open pending: {now:?}"
        );
        let charge = gateway::paystack_charge_success(SECRET_B, id, &reference, 500_000);
        let acked = charge
            .post(&self.http, &self.edge.url("/hooks/shop-b"))
            .send()
            .await?;
        anyhow::ensure!(
            acked.status() == 200,
            "the edge answered {}",
            acked.status()
        );
        let t0 = Instant::now();
        let paid =
            keffi_tests::sse::read_events(&mut stream, &mut buffer, 1, Duration::from_secs(600))
                .await;
        anyhow::ensure!(
            paid.first().is_some_and(|(_, e)| e["status"] == "paid"),
            "B's order not paid: {paid:?}\n{}",
            ledger.log_tail(20)
        );
        Ok(t0.elapsed().as_secs_f64() * 1000.0)
    }

    async fn backlog(&self) -> anyhow::Result<u64> {
        Ok(self
            .edge
            .shards_report()
            .await?
            .backlog
            .iter()
            .map(|b| b.unacked)
            .sum())
    }
}

fn summary(samples: &[f64]) -> (f64, f64, f64) {
    if samples.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let max = samples.iter().copied().fold(0f64, f64::max);
    (quantile(samples, 0.5), quantile(samples, 0.99), max)
}

/// B's latency alone, then beside A's `n`-charge backlog draining; `samples` of B's charges
/// each, one a second. Prints two table rows and returns them as JSON.
pub async fn measure(n: usize, samples: usize) -> anyhow::Result<serde_json::Value> {
    // B alone.
    let alone_stack = Stack::start().await?;
    let alone_db = TestDb::postgres().await?;
    let ledger = alone_stack.ledger(&alone_db).await?;
    let mut alone = Vec::with_capacity(samples);
    for i in 0..samples as u64 {
        alone.push(alone_stack.b_charge(&ledger, 7_100_000_000 + i).await?);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(ledger);

    // A's flash sale, buffered at the edge while no ledger runs.
    let stack = Stack::start().await?;
    let storm: Vec<Delivery> = (0..n as u64)
        .map(|i| {
            gateway::paystack_charge_success(
                SECRET_A,
                7_200_000_000 + i,
                &format!("fair_a_{i}"),
                500_000,
            )
        })
        .collect();
    let sent = load::run(&stack.http, &stack.edge.url("/hooks/shop-a"), &storm, 64).await;
    anyhow::ensure!(
        sent.non_2xx == 0,
        "{} of A's deliveries refused",
        sent.non_2xx
    );
    let db = TestDb::postgres().await?;
    let started = Instant::now();
    let ledger = stack.ledger(&db).await?;
    let drained_at = std::sync::Mutex::new(None::<Instant>);
    let watch = async {
        while stack.backlog().await? > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        *drained_at.lock().unwrap() = Some(Instant::now());
        anyhow::Ok(())
    };
    let charges = futures_util::future::join_all((0..samples as u64).map(|i| {
        let (stack, ledger, drained_at) = (&stack, &ledger, &drained_at);
        async move {
            tokio::time::sleep(Duration::from_secs(i)).await;
            let behind = drained_at.lock().unwrap().is_none();
            let ms = stack.b_charge(ledger, 7_300_000_000 + i).await?;
            anyhow::Ok((behind, ms))
        }
    }));
    let (watched, timed) = tokio::join!(watch, charges);
    watched?;
    let (mut during, mut after) = (Vec::new(), Vec::new());
    for t in timed {
        let (behind, ms) = t?;
        if behind {
            during.push(ms)
        } else {
            after.push(ms)
        }
    }
    let drain_s = drained_at
        .lock()
        .unwrap()
        .map_or(f64::NAN, |t| (t - started).as_secs_f64());

    let (a50, a99, amax) = summary(&alone);
    let (d50, d99, dmax) = summary(&during);
    println!(
        "| B alone | {} | {a50:.1} | {a99:.1} | {amax:.1} |",
        alone.len()
    );
    println!(
        "| B beside A's {n}-charge backlog (B's charges sent while it drained) | {} | {d50:.1} | {d99:.1} | {dmax:.1} |",
        during.len()
    );
    println!(
        "A's backlog drained {drain_s:.1} s after the ledger was started; {} of B's charges were sent after that",
        after.len()
    );
    Ok(json!({
        "backlog": n,
        "alone": {"samples": alone.len(), "p50_ms": a50, "p99_ms": a99, "max_ms": amax},
        "during": {"samples": during.len(), "p50_ms": d50, "p99_ms": d99, "max_ms": dmax},
        "after_samples": after.len(),
        "drain_seconds": drain_s,
        "p50_ratio": d50 / a50,
        "p99_ratio": d99 / a99,
    }))
}
