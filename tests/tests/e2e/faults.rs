//! Fault injection with the exactly-once audit: a retry storm and the ledger killed twenty times
//! (both a mixed Paystack, Flutterwave and Stripe storm),
//! a bad link between ledger and edge, an edge restart mid-stream, a database outage, two
//! replicas with one killed, and a soak. Sizes are small by default (CI); set
//! `KEFFI_FAULT_SCALE=10` for the full size.

use std::time::{Duration, Instant};

use keffi_tests::audit::{create_orders, drained, exactly_once};
use keffi_tests::edge::{
    EdgeConfig, TestEdge, FLUTTERWAVE_SECRET, PAYSTACK_SECRET, PULL_TOKEN, STRIPE_SECRET,
};
use keffi_tests::ledger::{TestDb, TestLedger};
use keffi_tests::proxy::{FaultProxy, Faults};
use keffi_tests::sender::{event_mix, mixed_event_mix, send, Secrets, SenderConfig};

/// The three gateways' sources of `EdgeConfig::standard`.
const MIXED: Secrets<'static> = Secrets {
    paystack: PAYSTACK_SECRET,
    flutterwave: FLUTTERWAVE_SECRET,
    stripe: STRIPE_SECRET,
};
use rand::Rng;

fn scale() -> usize {
    std::env::var("KEFFI_FAULT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

async fn ledger_for(db: &TestDb, edge_url: &str, extra: &[&str]) -> anyhow::Result<TestLedger> {
    let url = db.url();
    let mut args = vec![
        "--database-url",
        url.as_str(),
        "--edge-url",
        edge_url,
        "--pull-wait-ms",
        "1000",
        "--parked-sweep-interval",
        "500ms",
    ];
    args.extend_from_slice(extra);
    TestLedger::start(&args, &[("KEFFI_EDGE_TOKEN", PULL_TOKEN)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_storm_applies_each_event_once() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let db = TestDb::sqlite().await?;
    let ledger = ledger_for(&db, &edge.url(""), &[]).await?;
    // Paystack, Flutterwave and Stripe at once.
    let events = mixed_event_mix(&MIXED, "storm", 300 * scale());
    create_orders(&ledger.url(""), &events).await?;
    // Each event delivered 5 to 10 times, all at once.
    let copies = rand::thread_rng().gen_range(5..=10);
    let started = Instant::now();
    let log = send(
        &edge.url(""),
        "paystack",
        &events,
        &SenderConfig {
            copies,
            concurrency: 48,
            ..SenderConfig::default()
        },
    )
    .await;
    println!(
        "storm: {} events × {copies} in {:?}, answers {:?}",
        events.len(),
        started.elapsed(),
        log.answers
    );
    assert!(
        log.abandoned.is_empty(),
        "the gateway gave up on {:?}",
        log.abandoned
    );
    let report = exactly_once(&ledger.url(""), Some(&edge), &events, &log).await?;
    println!("audit: {report:?}");
    Ok(())
}

async fn killed_twenty_times(db: TestDb) -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let events = mixed_event_mix(&MIXED, "crash", 300 * scale());
    // Orders first (through a ledger that does not pull yet), then the backlog at the edge.
    {
        let url = db.url();
        let plain = TestLedger::start(&["--database-url", &url], &[]).await?;
        create_orders(&plain.url(""), &events).await?;
    }
    let log = send(&edge.url(""), "paystack", &events, &SenderConfig::default()).await;
    assert!(log.abandoned.is_empty());
    // Small batches, so the backlog takes many transactions and the kills land mid-drain.
    let extra = ["--replica-id", "crashy", "--pull-batch", "1"];
    let mut progress = Vec::new();
    for _ in 0..20 {
        let mut ledger = ledger_for(&db, &edge.url(""), &extra).await?;
        let ms = rand::thread_rng().gen_range(10..120);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ledger.kill();
        let left: u64 = edge
            .shards_report()
            .await?
            .backlog
            .iter()
            .map(|b| b.unacked)
            .sum();
        progress.push(left);
    }
    println!("unacked after each of the 20 kills: {progress:?}");
    let ledger = ledger_for(&db, &edge.url(""), &extra).await?;
    let report = exactly_once(&ledger.url(""), Some(&edge), &events, &log).await?;
    println!("audit: {report:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_killed_twenty_times_on_sqlite() -> anyhow::Result<()> {
    killed_twenty_times(TestDb::sqlite().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_killed_twenty_times_on_postgres() -> anyhow::Result<()> {
    killed_twenty_times(TestDb::postgres().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_link_between_ledger_and_edge_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let edge_port: u16 = edge
        .url("")
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()?;
    let proxy = FaultProxy::start(
        edge_port,
        Faults {
            drop: 0.1,
            reset: 0.1,
            cut: 0.1,
            max_latency: Duration::from_millis(700),
        },
    )
    .await?;
    let db = TestDb::sqlite().await?;
    let ledger = ledger_for(&db, &proxy.url(), &["--backoff-max-ms", "1000"]).await?;
    let events = event_mix(PAYSTACK_SECRET, "link", 150 * scale());
    create_orders(&ledger.url(""), &events).await?;
    let log = send(&edge.url(""), "paystack", &events, &SenderConfig::default()).await;
    // The faults stay on: the puller must drain through them, and the audit must hold.
    let started = Instant::now();
    let report = exactly_once(&ledger.url(""), Some(&edge), &events, &log).await?;
    println!(
        "bad link: drained through the faults in {:?}; audit: {report:?}",
        started.elapsed()
    );
    let ready: serde_json::Value = reqwest::get(ledger.url("/readyz")).await?.json().await?;
    println!("puller after the storm: {}", ready["puller"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_restart_mid_stream_is_covered_by_retries() -> anyhow::Result<()> {
    let mut edge = TestEdge::start(EdgeConfig::standard()).await?;
    let db = TestDb::sqlite().await?;
    let ledger = ledger_for(&db, &edge.url(""), &[]).await?;
    let events = event_mix(PAYSTACK_SECRET, "restart", 200 * scale());
    create_orders(&ledger.url(""), &events).await?;
    let base = edge.url("");
    let sending = {
        let events = events.clone();
        tokio::spawn(async move {
            send(
                &base,
                "paystack",
                &events,
                &SenderConfig {
                    concurrency: 4,
                    ..SenderConfig::default()
                },
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    edge.restart().await?;
    let log = sending.await?;
    println!("edge restart: answers {:?}", log.answers);
    assert!(log.abandoned.is_empty(), "{:?}", log.abandoned);
    let report = exactly_once(&ledger.url(""), Some(&edge), &events, &log).await?;
    println!("audit: {report:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_loses_nothing() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let db = TestDb::postgres().await?;
    let ledger = ledger_for(&db, &edge.url(""), &["--backoff-max-ms", "1000"]).await?;
    let events = event_mix(PAYSTACK_SECRET, "outage", 200 * scale());
    create_orders(&ledger.url(""), &events).await?;
    let TestDb::Postgres(pg) = &db else {
        unreachable!()
    };
    let admin = pg.admin_pool().await?;
    let name = pg.name().to_owned();
    // Cut every connection the ledger holds, again and again, while the backlog drains.
    let cutting = tokio::spawn(async move {
        let mut cuts = 0u64;
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            let killed: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&name)
            .fetch_all(&admin)
            .await
            .unwrap_or_default();
            cuts += killed.len() as u64;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        cuts
    });
    let log = send(&edge.url(""), "paystack", &events, &SenderConfig::default()).await;
    let cuts = cutting.await?;
    println!("database outage: {cuts} connections cut");
    let report = exactly_once(&ledger.url(""), Some(&edge), &events, &log).await?;
    println!("audit: {report:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_with_one_killed_apply_everything_once() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let db = TestDb::postgres().await?;
    let events = event_mix(PAYSTACK_SECRET, "replicas", 300 * scale());
    let lease = ["--lease-ttl-ms", "2000"];
    let mut a = ledger_for(
        &db,
        &edge.url(""),
        &[&lease[..], &["--replica-id", "a"]].concat(),
    )
    .await?;
    let b = ledger_for(
        &db,
        &edge.url(""),
        &[&lease[..], &["--replica-id", "b"]].concat(),
    )
    .await?;
    create_orders(&b.url(""), &events).await?;
    let log = send(&edge.url(""), "paystack", &events, &SenderConfig::default()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill();
    let report = exactly_once(&b.url(""), Some(&edge), &events, &log).await?;
    println!("audit: {report:?}");
    Ok(())
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_keeps_the_ledgers_memory_flat() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("KEFFI_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let db = TestDb::sqlite().await?;
    let ledger = ledger_for(&db, &edge.url(""), &[]).await?;
    let mut all_events = Vec::new();
    let mut log = keffi_tests::sender::SendLog::default();
    let mut samples = Vec::new();
    let started = Instant::now();
    let mut batch = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        let events = event_mix(PAYSTACK_SECRET, &format!("soak{batch}"), 40);
        create_orders(&ledger.url(""), &events).await?;
        let l = send(&edge.url(""), "paystack", &events, &SenderConfig::default()).await;
        log.accepted.extend(l.accepted);
        all_events.extend(events);
        batch += 1;
        samples.push((started.elapsed().as_secs(), rss_kb(ledger.pid())));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "soak: {} events in {seconds} s; ledger RSS (s, KiB): {samples:?}",
        all_events.len()
    );
    let report = exactly_once(&ledger.url(""), Some(&edge), &all_events, &log).await?;
    println!("audit: {report:?}");
    // Flat: after warm-up (the first quarter), RSS grows by less than half again or 32 MiB.
    let warm = samples[samples.len() / 4].1;
    let last = samples.last().unwrap().1;
    assert!(
        last < warm + (warm / 2).max(32 * 1024),
        "RSS grew from {warm} to {last} KiB"
    );
    drained(&edge, Duration::from_secs(10)).await
}
