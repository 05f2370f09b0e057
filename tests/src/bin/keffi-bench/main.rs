//! `keffi-bench`: the edge's ack path under `wrangler dev`, against two baselines measured in
//! the same run and the same worker — `/bench/noop` (answers 200, does nothing) and
//! `/bench/append` (one durable SQLite insert of the raw body: the floor). Keffi's signed
//! Paystack webhooks are measured unique and as 10× duplicates, at 1, 16 and 64 in flight;
//! each cell is the median of several interleaved rounds. Prints a Markdown table and writes
//! `target/bench/edge.json`.
//!
//! ```sh
//! scripts/bench            # small: a few minutes
//! scripts/bench --full     # more requests per cell
//! keffi-bench --drain N     # the drain of N buffered events (see drain.rs)
//! keffi-bench --latency N   # end-to-end latency, N orders per cell (see latency.rs)
//! keffi-bench --streams N   # N live status streams: idle cost, apply, commit → paid (streams.rs)
//! keffi-bench --fairness N  # merchant B's latency beside merchant A's N-charge backlog (fairness.rs)
//! ```

use std::collections::BTreeMap;

mod affinity;
mod drain;
mod fairness;
mod latency;
mod streams;

use clap::Parser;
use keffi_tests::edge::{EdgeConfig, TestEdge, PAYSTACK_SECRET};
use keffi_tests::gateway::{self, Delivery};
use keffi_tests::load::{self, LoadResult};
use keffi_tests::workspace;
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Requests per cell and round.
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// Interleaved rounds per cell (the median is reported); with --streams, apply rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Instead of the ack path: buffer this many events at the edge with the ledger stopped,
    /// then start it and time the drain, on SQLite and Postgres (with its peak RSS).
    #[arg(long)]
    drain: Option<usize>,
    /// Instead of the ack path: end-to-end latency, from the edge's 200 to the `paid` event
    /// on the order's live status stream, this many orders per store and long-poll setting.
    #[arg(long)]
    latency: Option<usize>,
    /// Instead of the ack path: hold this many live status streams open on a ledger (SQLite,
    /// Postgres, two Postgres replicas) and measure its idle CPU and RSS, webhook apply with
    /// and without them, and each charge's commit to `paid` on its stream.
    #[arg(long)]
    streams: Option<usize>,
    /// Instead of the ack path: merchant B's edge-200 → `paid`, one charge a second, alone and
    /// then beside merchant A's backlog of this many charges draining (Postgres).
    #[arg(long)]
    fairness: Option<usize>,
    /// With --fairness: B's charges in each phase.
    #[arg(long, default_value_t = 20)]
    fairness_samples: usize,
    /// With --streams: charges applied per round (default: min(streams, 2000)).
    #[arg(long)]
    charges: Option<usize>,
    /// With --streams: charges in flight during the apply rounds.
    #[arg(long, default_value_t = 8)]
    charges_in_flight: usize,
    /// With --streams: seconds of each idle window (CPU and RSS sampled over it). At least
    /// 15 (the streams' keep-alive interval) to include their keep-alive comments.
    #[arg(long, default_value_t = 15.0)]
    idle_seconds: f64,
    /// With --streams: the stores to run (postgres-2: two replicas, streams on one, webhooks
    /// on the other).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sqlite,postgres,postgres-2"
    )]
    stores: Vec<String>,
    /// With --streams: an extra argument for every ledger, e.g.
    /// `--ledger-arg=--status-catch-up=1h` (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    ledger_arg: Vec<String>,
    /// With --streams: pin the ledger(s) to these CPUs (e.g. `0`), so the bench's own stream
    /// readers and webhook sender (pinned with --bench-cpus) do not queue on the ledger's core.
    #[arg(long, value_delimiter = ',')]
    ledger_cpus: Vec<usize>,
    /// With --streams: pin this process to these CPUs (e.g. `1`).
    #[arg(long, value_delimiter = ',')]
    bench_cpus: Vec<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(n) = args.drain {
        println!("| store | events | buffering s (edge req/s) | drain s | drained events/s | ledger peak RSS MiB |");
        println!("|---|---|---|---|---|---|");
        let sqlite =
            drain::drain(n, keffi_tests::ledger::TestDb::sqlite().await?, "sqlite").await?;
        let postgres = drain::drain(
            n,
            keffi_tests::ledger::TestDb::postgres().await?,
            "postgres",
        )
        .await?;
        let out = workspace::target_dir().join("bench");
        std::fs::create_dir_all(&out)?;
        std::fs::write(
            out.join("drain.json"),
            serde_json::to_vec_pretty(&json!([sqlite, postgres]))?,
        )?;
        return Ok(());
    }
    if let Some(n) = args.streams {
        let n = streams::fit_open_files(n)?;
        let opts = streams::Options {
            streams: n,
            charges: args.charges.unwrap_or(n.min(2000)).min(n),
            in_flight: args.charges_in_flight,
            idle: std::time::Duration::from_secs_f64(args.idle_seconds.max(0.1)),
            rounds: args.rounds,
            ledger_args: args.ledger_arg.clone(),
            stores: args.stores.clone(),
            ledger_cpus: args.ledger_cpus.clone(),
            bench_cpus: args.bench_cpus.clone(),
        };
        let rows = streams::run(&opts).await?;
        let out = workspace::target_dir().join("bench");
        std::fs::create_dir_all(&out)?;
        std::fs::write(out.join("streams.json"), serde_json::to_vec_pretty(&rows)?)?;
        return Ok(());
    }
    if let Some(n) = args.fairness {
        println!("| merchant B's charges | samples | p50 ms | p99 ms | max ms |");
        println!("|---|---|---|---|---|");
        let row = fairness::measure(n, args.fairness_samples.max(1)).await?;
        let out = workspace::target_dir().join("bench");
        std::fs::create_dir_all(&out)?;
        std::fs::write(out.join("fairness.json"), serde_json::to_vec_pretty(&row)?)?;
        return Ok(());
    }
    if let Some(n) = args.latency {
        println!("| store | path | orders | p50 ms | p90 ms | p99 ms | range ms |");
        println!("|---|---|---|---|---|---|---|");
        let mut rows = Vec::new();
        let mut first_id = 9_000_000_000u64;
        for store in ["sqlite", "postgres"] {
            for mode in &latency::MODES {
                let db = match store {
                    "sqlite" => keffi_tests::ledger::TestDb::sqlite().await?,
                    _ => keffi_tests::ledger::TestDb::postgres().await?,
                };
                rows.push(latency::measure(n, db, store, mode, first_id).await?);
                first_id += n as u64;
            }
        }
        let out = workspace::target_dir().join("bench");
        std::fs::create_dir_all(&out)?;
        std::fs::write(
            out.join("latency.json"),
            serde_json::to_vec_pretty(&json!(rows))?,
        )?;
        return Ok(());
    }
    // Cold start: launch to the first answer, then the first webhook (its Durable Object and
    // isolate cold), with the wasm already built.
    let launched = std::time::Instant::now();
    let edge = TestEdge::start(EdgeConfig::standard().var("KEFFI_BENCH_ROUTES", "1")).await?;
    let to_ready = launched.elapsed();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    let first = gateway::paystack_charge_success(PAYSTACK_SECRET, 5_999_999_999, "b_first", 1);
    let cold = load::run(&http, &edge.url("/hooks/paystack"), &[first], 1).await;
    println!(
        "cold start: `wrangler dev` launch to first answer {:.2} s; first webhook after it {:.1} ms\n",
        to_ready.as_secs_f64(),
        cold.p50_ms
    );
    let mut next_id = 6_000_000_000u64;
    let mut fresh = |n: usize| -> Vec<Delivery> {
        (0..n)
            .map(|_| {
                next_id += 1;
                gateway::paystack_charge_success(
                    PAYSTACK_SECRET,
                    next_id,
                    &format!("b_{next_id}"),
                    500_000,
                )
            })
            .collect()
    };
    // Warm the isolate, the objects and the connection pool.
    load::run(&http, &edge.url("/hooks/paystack"), &fresh(100), 8).await;
    load::run(&http, &edge.url("/bench/append"), &fresh(100), 8).await;

    let targets = ["noop", "append", "keffi-unique", "keffi-dup10"];
    let mut cells: BTreeMap<(usize, &str), Vec<LoadResult>> = BTreeMap::new();
    for &c in &args.concurrency {
        for _ in 0..args.rounds {
            for target in targets {
                let (url, deliveries) = match target {
                    "noop" => (edge.url("/bench/noop"), fresh(args.requests)),
                    "append" => (edge.url("/bench/append"), fresh(args.requests)),
                    "keffi-unique" => (edge.url("/hooks/paystack"), fresh(args.requests)),
                    _ => {
                        // Every event delivered 10 times: 1 accepted, 9 duplicates.
                        let unique = fresh(args.requests.div_ceil(10));
                        let mut all: Vec<Delivery> = unique
                            .iter()
                            .flat_map(|d| std::iter::repeat_n(d.clone(), 10))
                            .collect();
                        all.truncate(args.requests);
                        (edge.url("/hooks/paystack"), all)
                    }
                };
                let r = load::run(&http, &url, &deliveries, c).await;
                anyhow::ensure!(
                    r.non_2xx == 0,
                    "{target} at {c}: {} non-2xx answers",
                    r.non_2xx
                );
                cells.entry((c, target)).or_default().push(r);
            }
        }
    }

    let med =
        |rs: &Vec<LoadResult>, f: fn(&LoadResult) -> f64| load::median(rs.iter().map(f).collect());
    let mut rows = Vec::new();
    println!("| in flight | route | p50 ms | p90 ms | p99 ms | req/s | p50 ÷ floor | p50 ÷ noop |");
    println!("|---|---|---|---|---|---|---|---|");
    for &c in &args.concurrency {
        let noop = med(&cells[&(c, "noop")], |r| r.p50_ms);
        let floor = med(&cells[&(c, "append")], |r| r.p50_ms);
        for target in targets {
            let rs = &cells[&(c, target)];
            let (p50, p90, p99, rps) = (
                med(rs, |r| r.p50_ms),
                med(rs, |r| r.p90_ms),
                med(rs, |r| r.p99_ms),
                med(rs, |r| r.per_second),
            );
            println!(
                "| {c} | {target} | {p50:.2} | {p90:.2} | {p99:.2} | {rps:.0} | {:.2}× | {:.2}× |",
                p50 / floor,
                p50 / noop
            );
            rows.push(json!({
                "concurrency": c, "route": target, "p50_ms": p50, "p90_ms": p90, "p99_ms": p99,
                "per_second": rps, "p50_over_floor": p50 / floor, "p50_over_noop": p50 / noop,
                "rounds": rs.len(), "requests_per_round": args.requests,
            }));
        }
    }
    // The wasm build's verification cost, inside workerd: the latency of a route doing n
    // verifications minus the same route doing none, divided by n (medians).
    println!("\n| scheme | body | per verify + key, in workerd (µs) |");
    println!("|---|---|---|");
    let mut wasm_rows = Vec::new();
    for provider in ["paystack", "stripe"] {
        for size in [1024usize, 4096, 65536] {
            let n = if size > 10_000 { 20 } else { 200 };
            let (mut base, mut work) = (Vec::new(), Vec::new());
            for _ in 0..(args.rounds * 5) {
                for (count, into) in [(0, &mut base), (n, &mut work)] {
                    let url = edge.url(&format!(
                        "/bench/verify?provider={provider}&size={size}&n={count}"
                    ));
                    let t = std::time::Instant::now();
                    let resp = http.get(url).send().await?;
                    anyhow::ensure!(
                        resp.status().is_success(),
                        "bench/verify answered {}",
                        resp.status()
                    );
                    let _ = resp.bytes().await?;
                    into.push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
            let per = (load::median(work) - load::median(base)) / n as f64;
            println!("| {provider} | {size} B | {per:.1} |");
            wasm_rows
                .push(json!({ "scheme": provider, "body_bytes": size, "micros_per_verify": per }));
        }
    }
    let wasm = std::fs::metadata(workspace::root().join("edge/build/index_bg.wasm"))?.len();
    let out = workspace::target_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("edge.json"),
        serde_json::to_vec_pretty(&json!({
            "edge_ack_path": rows, "wasm_verify": wasm_rows, "wasm_bytes": wasm,
            "launch_to_ready_seconds": to_ready.as_secs_f64(), "first_webhook_ms": cold.p50_ms,
        }))?,
    )?;
    println!(
        "\nwasm: {wasm} bytes; figures in {}",
        out.join("edge.json").display()
    );
    Ok(())
}
