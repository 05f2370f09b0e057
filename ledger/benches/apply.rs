//! The ledger's apply path, on SQLite and Postgres: events applied per second for batches of
//! 1, 10, 100 and 1,000, unique and as 10× duplicates, against baselines run on the same
//! database in the same process: the naive design (one transaction and round trip per event —
//! Keffi's own pipeline at batch 1), the common Redis-queue design (each event pushed onto a
//! Redis list, a worker popping one at a time and applying it in its own transaction — the same
//! domain logic, only the queueing differs; the local Redis on 127.0.0.1:6379), and the floor (a
//! plain multi-row insert of the same rows into one table, no logic). Prints a Markdown table
//! and writes `target/bench/ledger.json`.
//!
//! ```sh
//! cargo bench -p keffi-ledger --bench apply              # small
//! cargo bench -p keffi-ledger --bench apply -- --full    # ten times the events
//! ```

use keffi_shared::MerchantId;
use std::time::Instant;

use keffi_ledger::pipeline::{apply_batch, Incoming};
use keffi_ledger::store::{ConnectOptions, Store};
use keffi_shared::headers::RequestHeaders;
use keffi_shared::{derive_event, Envelope, Provider};
use serde_json::json;

fn events(first_id: u64, n: usize) -> Vec<Incoming> {
    (0..n as u64)
        .map(|i| {
            let id = first_id + i;
            let body = serde_json::to_vec(&json!({
                "event": "charge.success",
                "data": { "id": id, "reference": format!("bench_{id}"), "amount": 500000,
                          "currency": "NGN", "status": "success", "fees": 17500, "channel": "card",
                          "paid_at": "2026-11-25T10:00:00.000Z" }
            }))
            .unwrap();
            let headers = RequestHeaders::new().with("content-type", "application/json");
            let d = derive_event(Provider::Paystack, &headers, &body).unwrap();
            Incoming {
                merchant: MerchantId::default_merchant(),
                envelope: Envelope::new(
                    "paystack",
                    Provider::Paystack,
                    d.key,
                    d.event_type,
                    0,
                    &headers,
                    body,
                ),
                origin: None,
            }
        })
        .collect()
}

/// The merchant's side of each event, created untimed before a case: an order of the charged
/// amount and its pending payment, as `POST /v1/orders` leaves them — so every case also
/// reads, moves and writes an order, as real traffic does.
async fn merchant_orders(store: &Store, first_id: u64, n: usize) {
    use keffi_ledger::domain::Payment;
    use keffi_shared::{Currency, MinorUnits};
    let now = keffi_ledger::store::now_ms();
    let references: Vec<String> = (0..n as u64)
        .map(|i| format!("bench_{}", first_id + i))
        .collect();
    for chunk in references.chunks(1000) {
        let sql = "INSERT INTO orders (merchant_id, reference, amount, currency, status, created_at_ms, updated_at_ms) ";
        macro_rules! insert {
            ($pool:expr) => {{
                let mut q = sqlx::QueryBuilder::new(sql);
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(MerchantId::DEFAULT)
                        .push_bind(r)
                        .push_bind(500_000i64)
                        .push_bind("NGN")
                        .push_bind("pending")
                        .push_bind(now)
                        .push_bind(now);
                });
                q.build().execute($pool).await.unwrap();
            }};
        }
        match store {
            Store::Postgres(pool) => insert!(pool),
            Store::Sqlite(pool) => insert!(pool),
        }
    }
    let payments: Vec<Payment> = references
        .iter()
        .map(|r| Payment::pending(r, Provider::Paystack, MinorUnits(500_000), Currency::NGN))
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.save_payments(&MerchantId::default_merchant(), &payments, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // As the ledger's own background task does on a new database (`store::statistics`).
    store.first_statistics().await.unwrap();
}

/// Keffi's pipeline at `batch`: events per second, and the time its batches spent per phase
/// (summed, in phase order).
async fn keffi_phases(
    store: &Store,
    events: &[Incoming],
    batch: usize,
) -> (f64, Vec<(&'static str, f64)>) {
    let mut phases: Vec<(&'static str, f64)> = Vec::new();
    let started = Instant::now();
    for chunk in events.chunks(batch) {
        let report = apply_batch(store, chunk, None).await.unwrap();
        for (name, took) in report.phases {
            match phases.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += took.as_secs_f64(),
                None => phases.push((name, took.as_secs_f64())),
            }
        }
    }
    (
        events.len() as f64 / started.elapsed().as_secs_f64(),
        phases,
    )
}

const NAIVE: &str = "naive: one transaction per event";
const REDIS: &str = "redis queue: push, pop one, apply in its own transaction";
const FLOOR: &str = "floor: multi-row insert, no logic";
const EVENT_BY_EVENT: &str = "keffi event by event (the fallback path), batch 1000, unique";

/// The event-by-event path: each event's own reads and writes, in a savepoint, `batch`
/// events per transaction.
async fn event_by_event(store: &Store, events: &[Incoming], batch: usize) -> f64 {
    let started = Instant::now();
    for chunk in events.chunks(batch) {
        let mut tx = store.begin().await.unwrap();
        keffi_ledger::pipeline::apply_events(&mut tx, chunk)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    events.len() as f64 / started.elapsed().as_secs_f64()
}

fn median(xs: &[f64]) -> f64 {
    keffi_tests::load::median(xs.to_vec())
}

async fn keffi(store: &Store, events: &[Incoming], batch: usize) -> f64 {
    keffi_phases(store, events, batch).await.0
}

/// The Redis-queue design: the handler pushes each event onto a list; one worker pops them one
/// at a time and applies each in its own transaction (the inbox key is its idempotency check).
async fn redis_queue(store: &Store, events: &[Incoming]) -> anyhow::Result<f64> {
    use redis::AsyncCommands;
    let client = redis::Client::open("redis://127.0.0.1:6379/")?;
    let mut producer = client.get_multiplexed_async_connection().await?;
    let mut consumer = client.get_multiplexed_async_connection().await?;
    let list = format!("keffi-bench-{}", std::process::id());
    let _: () = producer.del(&list).await?;
    let started = Instant::now();
    for e in events {
        let _: () = producer.rpush(&list, e.envelope.to_json()).await?;
    }
    let mut applied = 0;
    while applied < events.len() {
        let Some(json): Option<String> = consumer.lpop(&list, None).await? else {
            continue;
        };
        let envelope = Envelope::from_json(&json)?;
        apply_batch(
            store,
            &[Incoming {
                merchant: MerchantId::default_merchant(),
                envelope,
                origin: None,
            }],
            None,
        )
        .await?;
        applied += 1;
    }
    Ok(events.len() as f64 / started.elapsed().as_secs_f64())
}

/// The floor: the same rows, one multi-row INSERT per 1,000, into a table with no logic.
async fn floor(store: &Store, events: &[Incoming]) -> f64 {
    let create = "CREATE TABLE IF NOT EXISTS bench_floor (key TEXT NOT NULL, source TEXT NOT NULL, envelope TEXT NOT NULL)";
    let started_at;
    match store {
        Store::Postgres(pool) => {
            sqlx::query(create).execute(pool).await.unwrap();
            started_at = Instant::now();
            for chunk in events.chunks(1000) {
                let mut q =
                    sqlx::QueryBuilder::new("INSERT INTO bench_floor (key, source, envelope) ");
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.envelope.key.to_string())
                        .push_bind(e.envelope.source.clone())
                        .push_bind(e.envelope.to_json());
                });
                q.build().execute(pool).await.unwrap();
            }
        }
        Store::Sqlite(pool) => {
            sqlx::query(create).execute(pool).await.unwrap();
            started_at = Instant::now();
            for chunk in events.chunks(1000) {
                let mut q =
                    sqlx::QueryBuilder::new("INSERT INTO bench_floor (key, source, envelope) ");
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(e.envelope.key.to_string())
                        .push_bind(e.envelope.source.clone())
                        .push_bind(e.envelope.to_json());
                });
                q.build().execute(pool).await.unwrap();
            }
        }
    }
    events.len() as f64 / started_at.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let full = std::env::args().any(|a| a == "--full");
    // `cargo bench` passes `--bench`; under `cargo test` (the CI smoke run) it is absent.
    let tiny = !std::env::args().any(|a| a == "--bench");
    let n = if full {
        20_000
    } else if tiny {
        200
    } else {
        2_000
    };
    let rounds = if full {
        5
    } else if tiny {
        1
    } else {
        3
    };
    let dir = tempfile::tempdir()?;
    let pg = keffi_tests::pg::TestDatabase::create().await?;
    let backends = [
        (
            "sqlite",
            format!("sqlite://{}", dir.path().join("bench.db").display()),
        ),
        ("postgres", pg.url().to_owned()),
    ];
    let mut rows = Vec::new();
    let mut breakdowns = Vec::new();
    println!(
        "| store | case | events/s (median of {rounds}) | range | ÷ naive | ÷ redis queue | of floor |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, url) in &backends {
        let store = Store::connect(url, &ConnectOptions::default()).await?;
        store.migrate().await?;
        let mut next = 7_000_000_000u64;
        // Fresh ids for every case: no case may see another's events as duplicates.
        let mut ids = |k: usize| {
            let first = next;
            next += k as u64;
            first
        };
        let store_ref = &store;
        let take = |first: u64, k: usize| async move {
            merchant_orders(store_ref, first, k).await;
            events(first, k)
        };
        // Several interleaved rounds, each case on fresh events: the machine is noisy, so
        // every figure is the median over rounds, with its range.
        let mut rates: Vec<(String, Vec<f64>)> = Vec::new();
        let mut record = |case: &str, rate: f64| match rates.iter_mut().find(|(c, _)| c == case) {
            Some((_, v)) => v.push(rate),
            None => rates.push((case.to_owned(), vec![rate])),
        };
        let mut phases_total: Vec<(&'static str, f64)> = Vec::new();
        let mut phase_events = 0;
        for _ in 0..rounds {
            // The naive design is batch 1: fewer events keep its run short.
            record(
                NAIVE,
                keffi(&store, &take(ids(n / 4), n / 4).await, 1).await,
            );
            record(
                REDIS,
                redis_queue(&store, &take(ids(n / 4), n / 4).await).await?,
            );
            record(FLOOR, floor(&store, &events(ids(n), n)).await);
            for batch in [1usize, 10, 100, 1000] {
                let k = if batch == 1 { n / 4 } else { n };
                let evs = take(ids(k), k).await;
                let (rate, phases) = keffi_phases(&store, &evs, batch).await;
                record(&format!("keffi, batch {batch}, unique"), rate);
                if batch == 1000 {
                    phase_events += evs.len();
                    for (phase, secs) in phases {
                        match phases_total.iter_mut().find(|(p, _)| *p == phase) {
                            Some((_, t)) => *t += secs,
                            None => phases_total.push((phase, secs)),
                        }
                    }
                }
            }
            // The same batch through the event-by-event path (the pipeline's fallback when a
            // set-wise attempt fails), to compare with the set-wise path.
            let evs = take(ids(n), n).await;
            record(EVENT_BY_EVENT, event_by_event(&store, &evs, 1000).await);
            // 10× duplicates: each event ten times in the stream, at batch 1,000.
            let unique = take(ids(n / 10), n / 10).await;
            let stream: Vec<Incoming> = unique
                .iter()
                .flat_map(|e| std::iter::repeat_n(e.clone(), 10))
                .collect();
            record(
                "keffi, batch 1000, 10× duplicates",
                keffi(&store, &stream, 1000).await,
            );
        }
        let median_of = |case: &str| {
            rates
                .iter()
                .find(|(c, _)| c == case)
                .map(|(_, v)| median(v))
                .unwrap_or(f64::NAN)
        };
        let (naive, redis, floor_rate) = (median_of(NAIVE), median_of(REDIS), median_of(FLOOR));
        for (case, v) in &rates {
            let rate = median(v);
            let (lo, hi) = v
                .iter()
                .fold((f64::MAX, 0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
            println!(
                "| {name} | {case} | {rate:.0} | {lo:.0}–{hi:.0} | {:.1}× | {:.1}× | {:.1}% |",
                rate / naive,
                rate / redis,
                100.0 * rate / floor_rate
            );
            rows.push(
                json!({ "store": name, "case": case, "events_per_second": rate,
                              "range": [lo, hi], "rounds": v.len(),
                              "over_naive": rate / naive, "over_redis_queue": rate / redis,
                              "of_floor": rate / floor_rate, "events": n }),
            );
        }
        let total: f64 = phases_total.iter().map(|(_, t)| t).sum();
        breakdowns.push((name, phase_events, total, phases_total));
        store.close().await;
    }
    // Where a set-wise batch of 1,000 spends its time (the pipeline's own phase clock, summed
    // over the rounds).
    println!("\n| store | phase | ms per 1,000 events | share |");
    println!("|---|---|---|---|");
    let mut phase_rows = Vec::new();
    for (store, events, total, phases) in &breakdowns {
        for (phase, secs) in phases {
            let per_thousand = secs * 1000.0 * 1000.0 / *events as f64;
            println!(
                "| {store} | {phase} | {per_thousand:.1} | {:.0}% |",
                100.0 * secs / total
            );
            phase_rows.push(json!({ "store": store, "phase": phase,
                                    "ms_per_1000_events": per_thousand }));
        }
    }
    let out = keffi_tests::workspace::target_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("ledger.json"),
        serde_json::to_vec_pretty(&json!({ "apply_path": rows, "batch_1000_phases": phase_rows }))?,
    )?;
    Ok(())
}
