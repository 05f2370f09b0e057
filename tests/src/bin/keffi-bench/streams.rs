//! Live status at scale: N status streams (`GET /v1/orders/{reference}/events`, SSE over
//! HTTP/1.1, one TCP connection each) held open on a real ledger, measured three ways, each
//! against a baseline from the same run:
//!
//! - **idle**: the ledger's CPU (utime + stime from `/proc/PID/stat`, as % of one core) and RSS
//!   (`VmRSS`) over a quiet window with the N streams open, against the same window with none
//!   (15 s by default: a stream's keep-alive comment comes every 15 s, so a shorter window just
//!   after the streams open would see none of them);
//! - **apply**: M signed `charge.success` webhooks on the ledger's own `/hooks/paystack` (the
//!   real pipeline; its 200 comes after the commit) at a fixed number in flight, for M of the
//!   streamed orders, against the same M on fresh orders with no stream open. Rounds are
//!   interleaved (`--rounds`: none, then N streams opened on fresh orders, M of them charged,
//!   the streams closed; odd rounds the other way round); latency percentiles are over every
//!   charge of a condition, throughput and the ledgers' CPU per charge (both replicas'
//!   together) medians of the rounds. `--ledger-cpus`/`--bench-cpus` pin the ledger and this
//!   process to separate cores, so the bench's readers do not queue on the ledger's core;
//! - **commit → paid**: for each of the M, from its 200 to the `paid` event on its stream
//!   (negative when the event beats the 200: the ledger publishes before it answers). Every
//!   one of the M must see `paid`, and no other stream may see anything.
//!
//! Stores: SQLite, Postgres, and Postgres with two replicas (webhooks on one, the streams on the
//! other, so each change crosses in the `NOTIFY` payload; CPU and RSS are the streaming
//! replica's). The ledger binary is `KEFFI_LEDGER_BIN` (scripts/bench: the bench-profile
//! build). Tokio tasks only: a stream is a task reading its response, no thread each.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::affinity;
use futures_util::stream::{self, StreamExt};
use keffi_tests::edge::PAYSTACK_SECRET;
use keffi_tests::gateway;
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use keffi_tests::load::{self, quantile};
use serde_json::{json, Value};

/// The pause before each apply round, in both conditions: opening or closing thousands of
/// streams is a burst of work of its own, not the steady state the ratio compares.
const SETTLE: Duration = Duration::from_secs(1);

/// Streams per reqwest client (each stream holds its own connection either way).
const STREAMS_PER_CLIENT: usize = 256;
/// Streams being opened at once.
const OPENING_IN_FLIGHT: usize = 64;
/// Orders being created at once (untimed set-up).
const CREATING_IN_FLIGHT: usize = 16;
/// File descriptors kept free beside the streams (database, pools, logs).
const FD_MARGIN: libc::rlim_t = 1_024;

/// The goals the ledger is held to at scale (printed beside the figures).
const GOAL_STREAMS: usize = 10_000;
const GOAL_IDLE_CPU_PERCENT: f64 = 5.0;
const GOAL_RSS_MIB: f64 = 256.0;
const GOAL_APPLY_RATIO: f64 = 1.2;
const GOAL_PAID_P99_MS: f64 = 50.0;

#[derive(Debug, Clone)]
pub struct Options {
    pub streams: usize,
    pub charges: usize,
    pub in_flight: usize,
    pub idle: Duration,
    pub rounds: usize,
    /// Extra arguments for every ledger (e.g. `--status-catch-up=1h`, for an A/B).
    pub ledger_args: Vec<String>,
    pub stores: Vec<String>,
    /// CPUs the ledger processes are pinned to, and this process (empty: not pinned).
    pub ledger_cpus: Vec<usize>,
    pub bench_cpus: Vec<usize>,
}

/// Raises this process's open-files limit to its hard limit (the ledger children inherit it)
/// and returns how many streams fit: `wanted`, or fewer if the hard limit is too low.
pub fn fit_open_files(wanted: usize) -> anyhow::Result<usize> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write and read the one struct we pass; no other memory.
    unsafe {
        anyhow::ensure!(
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0,
            "getrlimit(RLIMIT_NOFILE) failed"
        );
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    let room = lim.rlim_cur.saturating_sub(FD_MARGIN) as usize;
    if wanted > room {
        println!(
            "open-files limit is {} (hard {}): capping the streams at {room} instead of {wanted} \
             (raise `ulimit -Hn` for more)",
            lim.rlim_cur, lim.rlim_max
        );
        return Ok(room);
    }
    Ok(wanted)
}

/// Runs every store in `opts.stores`; prints the two tables and returns their rows as JSON.
pub async fn run(opts: &Options) -> anyhow::Result<Value> {
    let mut results = Vec::new();
    for (k, store) in opts.stores.iter().enumerate() {
        eprintln!("streams: {store}, {} streams …", opts.streams);
        results.push(measure(opts, store, 7_000_000_000 + k as u64 * 100_000_000).await?);
    }
    let n = opts.streams;
    println!(
        "| store | streams | opened in s | idle CPU % of a core, 0 → {n} streams | RSS MiB, 0 → {n} streams | KiB per stream | goal at {GOAL_STREAMS}: CPU < {GOAL_IDLE_CPU_PERCENT}%, RSS < {GOAL_RSS_MIB} MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &results {
        println!("{}", r.idle_row());
    }
    println!();
    println!(
        "| store | streams | rounds × charges ({} in flight) | apply p50 ms, none / with (×) | apply p99 ms, none / with (×) | charges/s, none / with (×) | ledger CPU µs per charge, none / with | commit → paid p50 / p99 ms | paid seen | goals: ≤ {GOAL_APPLY_RATIO}× of none, commit → paid p99 < {GOAL_PAID_P99_MS} ms |",
        opts.in_flight
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!("{}", r.apply_row());
    }
    println!();
    println!(
        "Apply latencies are percentiles over every charge of a condition's rounds; charges/s and \
         CPU are medians of the rounds. Rounds interleave the conditions (none, then the N streams \
         opened on fresh orders and M of them charged, then closed; odd rounds the other way \
         round), each apply starting 1 s after streams opened or closed; commit → paid runs from \
         the webhook's 200 (sent after the commit) to the `paid` event on the order's stream, \
         over every charge of every round (negative: the event beat the 200); idle windows \
         {:.1} s, first round.{}",
        opts.idle.as_secs_f64(),
        match (&opts.ledger_cpus[..], &opts.bench_cpus[..]) {
            ([], []) => String::new(),
            (l, b) =>
                format!(" Ledger(s) pinned to CPUs {l:?}, this bench to {b:?} (empty: unpinned)."),
        }
    );
    for r in &results {
        let ratios = |f: fn(&Apply) -> f64| {
            per_round_ratios(&r.none, &r.with, f)
                .iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "{}: per-round ratios, with ÷ none: p50 {}; p99 {}",
            r.store,
            ratios(|a| a.p50_ms),
            ratios(|a| a.p99_ms)
        );
    }
    Ok(Value::Array(
        results.iter().map(|r| r.json.clone()).collect(),
    ))
}

/// One store's figures: the printed cells and the JSON twin.
struct Measured {
    store: String,
    streams: usize,
    charges: usize,
    /// Median time to open the N streams.
    opened_seconds: f64,
    idle_base: Sample,
    idle_with: Sample,
    /// Apply rounds with no stream open, and with the N open.
    none: Vec<Apply>,
    with: Vec<Apply>,
    /// Commit → paid of every charge of every round.
    paid_ms: Vec<f64>,
    json: Value,
}

/// The ledger's CPU and RSS over a quiet window.
#[derive(Debug, Clone, Copy)]
struct Sample {
    cpu_percent: f64,
    rss_mib: f64,
}

/// One apply round.
#[derive(Debug, Clone)]
struct Apply {
    p50_ms: f64,
    p99_ms: f64,
    per_second: f64,
    /// CPU the ledger process(es) spent per charge over the round, microseconds.
    ledger_cpu_us: f64,
    /// CPU this process (the webhook sender and the stream readers) spent per charge.
    bench_cpu_us: f64,
    /// Every charge's latency, ms (pooled across rounds for the run's percentiles).
    latencies: Vec<f64>,
}

impl Apply {
    /// One condition over all its rounds: latency percentiles over every charge of every round
    /// (a p99 of 2,000 charges is decided by its 20 slowest; pooled, by the rounds' hundred
    /// slowest), throughput and CPU as medians of the rounds.
    fn pooled(rounds: &[Apply]) -> Apply {
        let med = |f: fn(&Apply) -> f64| load::median(rounds.iter().map(f).collect());
        let all: Vec<f64> = rounds
            .iter()
            .flat_map(|a| a.latencies.iter().copied())
            .collect();
        Apply {
            p50_ms: quantile_or_nan(&all, 0.50),
            p99_ms: quantile_or_nan(&all, 0.99),
            per_second: med(|a| a.per_second),
            ledger_cpu_us: med(|a| a.ledger_cpu_us),
            bench_cpu_us: med(|a| a.bench_cpu_us),
            latencies: Vec::new(),
        }
    }

    fn json(&self) -> Value {
        json!({"p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "per_second": self.per_second,
               "ledger_cpu_us_per_charge": self.ledger_cpu_us,
               "bench_cpu_us_per_charge": self.bench_cpu_us})
    }
}

/// Round by round, `with`'s figure over `none`'s.
fn per_round_ratios(none: &[Apply], with: &[Apply], f: fn(&Apply) -> f64) -> Vec<f64> {
    none.iter().zip(with).map(|(n, w)| f(w) / f(n)).collect()
}

impl Measured {
    fn kib_per_stream(&self) -> f64 {
        (self.idle_with.rss_mib - self.idle_base.rss_mib) * 1024.0 / self.streams.max(1) as f64
    }

    /// The idle figures at (or projected to) the goal's size.
    fn idle_at_goal(&self) -> (f64, f64) {
        let scale = GOAL_STREAMS as f64 / self.streams.max(1) as f64;
        let cpu = self.idle_base.cpu_percent
            + (self.idle_with.cpu_percent - self.idle_base.cpu_percent) * scale;
        let rss = self.idle_base.rss_mib + self.kib_per_stream() * GOAL_STREAMS as f64 / 1024.0;
        (cpu, rss)
    }

    fn idle_verdict(&self) -> String {
        let (cpu, rss) = if self.streams >= GOAL_STREAMS {
            (self.idle_with.cpu_percent, self.idle_with.rss_mib)
        } else {
            self.idle_at_goal()
        };
        let met = cpu < GOAL_IDLE_CPU_PERCENT && rss < GOAL_RSS_MIB;
        let verdict = if met { "met" } else { "**not met**" };
        if self.streams >= GOAL_STREAMS {
            verdict.to_owned()
        } else {
            format!("projected to {GOAL_STREAMS}: {cpu:.1}%, {rss:.0} MiB — {verdict}")
        }
    }

    fn idle_row(&self) -> String {
        format!(
            "| {} | {} | {:.1} | {:.2} → {:.2} | {:.1} → {:.1} | {:.1} | {} |",
            self.store,
            self.streams,
            self.opened_seconds,
            self.idle_base.cpu_percent,
            self.idle_with.cpu_percent,
            self.idle_base.rss_mib,
            self.idle_with.rss_mib,
            self.kib_per_stream(),
            self.idle_verdict()
        )
    }

    fn apply_row(&self) -> String {
        let none = Apply::pooled(&self.none);
        let w = &Apply::pooled(&self.with);
        let (r50, r99, rps) = (
            w.p50_ms / none.p50_ms,
            w.p99_ms / none.p99_ms,
            w.per_second / none.per_second,
        );
        let (paid50, paid99) = (
            quantile_or_nan(&self.paid_ms, 0.50),
            quantile_or_nan(&self.paid_ms, 0.99),
        );
        let mut misses = Vec::new();
        if r50 > GOAL_APPLY_RATIO {
            misses.push("p50");
        }
        if r99 > GOAL_APPLY_RATIO {
            misses.push("p99");
        }
        if 1.0 / rps > GOAL_APPLY_RATIO {
            misses.push("throughput");
        }
        if paid99.is_nan() || paid99 >= GOAL_PAID_P99_MS {
            misses.push("commit → paid");
        }
        let verdict = if misses.is_empty() {
            "met".to_owned()
        } else {
            format!("**not met**: {}", misses.join(", "))
        };
        format!(
            "| {} | {} | {} × {} | {:.2} / {:.2} ({r50:.2}×) | {:.2} / {:.2} ({r99:.2}×) | {:.0} / {:.0} ({rps:.2}×) | {:.0} / {:.0} | {paid50:.1} / {paid99:.1} | {} of {} | {verdict} |",
            self.store,
            self.streams,
            self.with.len(),
            self.charges,
            none.p50_ms,
            w.p50_ms,
            none.p99_ms,
            w.p99_ms,
            none.per_second,
            w.per_second,
            none.ledger_cpu_us,
            w.ledger_cpu_us,
            self.paid_ms.len(),
            self.charges * self.with.len(),
        )
    }
}

fn quantile_or_nan(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        f64::NAN
    } else {
        quantile(xs, q)
    }
}

/// What one stream saw after its first (`pending`) event.
#[derive(Default)]
struct Seen {
    paid_at: OnceLock<Instant>,
    events: AtomicUsize,
    ended: AtomicBool,
}

async fn measure(opts: &Options, store: &str, first_id: u64) -> anyhow::Result<Measured> {
    let (n, m, rounds) = (opts.streams, opts.charges, opts.rounds.max(1));
    let (db, replicas, label) = match store {
        "sqlite" => (TestDb::sqlite().await?, 1, "sqlite"),
        "postgres" => (TestDb::postgres().await?, 1, "postgres"),
        "postgres-2" => (TestDb::postgres().await?, 2, "postgres, 2 replicas"),
        other => anyhow::bail!("unknown store `{other}` (sqlite, postgres, postgres-2)"),
    };
    let max_streams = (n + 1_000).to_string();
    // Streams outlive the bench (no reconnect inside a measurement window).
    let mut args = vec!["--max-streams", &max_streams, "--sse-max-seconds", "3600"];
    args.extend(opts.ledger_args.iter().map(String::as_str));
    let applying = TestLedger::with_hooks(&db, &args).await?;
    let second = if replicas == 2 {
        Some(TestLedger::with_hooks(&db, &args).await?)
    } else {
        None
    };
    let streaming = second.as_ref().unwrap_or(&applying);
    if !opts.ledger_cpus.is_empty() {
        affinity::pin_process(applying.pid(), &opts.ledger_cpus)?;
        if let Some(s) = &second {
            affinity::pin_process(s.pid(), &opts.ledger_cpus)?;
        }
    }
    if !opts.bench_cpus.is_empty() {
        affinity::pin_process(std::process::id(), &opts.bench_cpus)?;
    }
    let admin = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()?;
    let hooks = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()?;

    // Untimed set-up: every order of the run first (each round streams N fresh orders and
    // charges M others with none open), so the rounds see the same database size.
    let warm = m.clamp(1, 100);
    let refs = |prefix: String, count: usize| -> Vec<String> {
        (0..count).map(|i| format!("{prefix}_{i}")).collect()
    };
    let streamed: Vec<Vec<String>> = (0..rounds).map(|r| refs(format!("st{r}"), n)).collect();
    let unstreamed: Vec<Vec<String>> = (0..rounds).map(|r| refs(format!("ns{r}"), m)).collect();
    let warming = refs("wm".into(), warm);
    let all: Vec<&String> = streamed
        .iter()
        .chain(&unstreamed)
        .flatten()
        .chain(&warming)
        .collect();
    let t = Instant::now();
    create_orders(&admin, &applying, &all).await?;
    eprintln!(
        "  {} orders created in {:.1} s",
        all.len(),
        t.elapsed().as_secs_f64()
    );

    let mut next_id = first_id;
    let mut deliver = |references: &[String]| {
        let ds: Vec<(usize, gateway::Delivery)> = references
            .iter()
            .enumerate()
            .map(|(i, r)| {
                next_id += 1;
                (
                    i,
                    gateway::paystack_charge_success(PAYSTACK_SECRET, next_id, r, 500_000),
                )
            })
            .collect();
        ds
    };
    let hooks_url = applying.url("/hooks/paystack");
    // Warm the hooks path and the pools.
    let pids: Vec<u32> = std::iter::once(applying.pid())
        .chain(second.as_ref().map(TestLedger::pid))
        .collect();
    apply_round(&hooks, &hooks_url, deliver(&warming), opts.in_flight, &pids).await?;

    let (mut none, mut with, mut paid_ms, mut opened) = (vec![], vec![], vec![], vec![]);
    let mut idle: Option<(Sample, Sample, f64)> = None;
    let mut idle_base: Option<Sample> = None;
    for round in 0..rounds {
        // Odd rounds apply with the streams first: the database grows with every charge, and a
        // fixed order would hand one condition the larger database every round.
        let phases = if round % 2 == 0 {
            [Phase::None, Phase::With]
        } else {
            [Phase::With, Phase::None]
        };
        for phase in phases {
            match phase {
                Phase::None => {
                    // No stream open (the previous phase's streams closed: let their teardown
                    // finish, so each apply measures a steady state, not the transient).
                    tokio::time::sleep(SETTLE).await;
                    let (apply, _) = apply_round(
                        &hooks,
                        &hooks_url,
                        deliver(&unstreamed[round]),
                        opts.in_flight,
                        &pids,
                    )
                    .await?;
                    none.push(apply);
                    if round == 0 {
                        idle_base = Some(sample_idle(streaming.pid(), opts.idle).await?);
                    }
                }
                Phase::With => {
                    // N streams open, each having read its first event.
                    let seen: Arc<Vec<Seen>> = Arc::new((0..n).map(|_| Seen::default()).collect());
                    let t = Instant::now();
                    let (clients, readers) =
                        open_streams(streaming, &streamed[round], &seen).await?;
                    opened.push(t.elapsed().as_secs_f64());
                    let open_now = streams_open(&admin, streaming).await?;
                    anyhow::ensure!(
                        open_now == n as u64,
                        "the ledger counts {open_now} open streams, expected {n}"
                    );
                    eprintln!(
                        "  round {}: {n} streams open in {:.1} s",
                        round + 1,
                        t.elapsed().as_secs_f64()
                    );
                    if let (Some(base), true) = (idle_base, idle.is_none()) {
                        let client0 = cpu_seconds(std::process::id())?;
                        let with_streams = sample_idle(streaming.pid(), opts.idle).await?;
                        let client = (cpu_seconds(std::process::id())? - client0) * 100.0
                            / opts.idle.as_secs_f64().max(0.001);
                        idle = Some((base, with_streams, client));
                    }

                    // The same apply, for the first M of the streamed orders, once the opening
                    // has settled.
                    tokio::time::sleep(SETTLE).await;
                    let charged = &streamed[round][..m];
                    let (apply, acked) =
                        apply_round(&hooks, &hooks_url, deliver(charged), opts.in_flight, &pids)
                            .await?;
                    with.push(apply);
                    paid_ms.extend(check_seen(&seen, &acked, m).await?);

                    // Close the streams and wait for the ledger to let them go.
                    for r in &readers {
                        r.abort();
                    }
                    for r in readers {
                        let _ = r.await;
                    }
                    drop(clients);
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while streams_open(&admin, streaming).await? > 0 {
                        anyhow::ensure!(
                            Instant::now() < deadline,
                            "the ledger still counts open streams 30 s after they closed"
                        );
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }
    let (idle_base, idle_with, client_cpu) = idle.expect("round 1 samples the idle windows");

    let mut measured = Measured {
        store: label.to_owned(),
        streams: n,
        charges: m,
        opened_seconds: load::median(opened.clone()),
        idle_base,
        idle_with,
        none,
        with,
        paid_ms,
        json: Value::Null,
    };
    let (none, with) = (Apply::pooled(&measured.none), Apply::pooled(&measured.with));
    let (idle_cpu_10k, idle_rss_10k) = measured.idle_at_goal();
    let rounds_json = |rs: &[Apply]| rs.iter().map(Apply::json).collect::<Vec<_>>();
    measured.json = json!({
        "store": store, "replicas": replicas, "streams": n, "charges_per_round": m,
        "rounds": rounds, "in_flight": opts.in_flight, "idle_seconds": opts.idle.as_secs_f64(),
        "opened_seconds": opened,
        "idle_cpu_percent_no_streams": idle_base.cpu_percent,
        "idle_cpu_percent_with_streams": idle_with.cpu_percent,
        "rss_mib_no_streams": idle_base.rss_mib, "rss_mib_with_streams": idle_with.rss_mib,
        "kib_per_stream": measured.kib_per_stream(),
        "idle_cpu_percent_at_10000": idle_cpu_10k, "rss_mib_at_10000": idle_rss_10k,
        "bench_client_cpu_percent_idle": client_cpu,
        "apply_none_rounds": rounds_json(&measured.none),
        "apply_with_streams_rounds": rounds_json(&measured.with),
        "apply_none": none.json(), "apply_with_streams": with.json(),
        "apply_p50_ratio": with.p50_ms / none.p50_ms,
        "apply_p99_ratio": with.p99_ms / none.p99_ms,
        "apply_p99_ratio_per_round": per_round_ratios(&measured.none, &measured.with, |a| a.p99_ms),
        "apply_p50_ratio_per_round": per_round_ratios(&measured.none, &measured.with, |a| a.p50_ms),
        "apply_throughput_ratio": with.per_second / none.per_second,
        "commit_to_paid_samples": measured.paid_ms.len(),
        "commit_to_paid_p50_ms": quantile_or_nan(&measured.paid_ms, 0.5),
        "commit_to_paid_p99_ms": quantile_or_nan(&measured.paid_ms, 0.99),
        "commit_to_paid_min_ms": measured.paid_ms.iter().copied().fold(f64::NAN, f64::min),
        "commit_to_paid_max_ms": measured.paid_ms.iter().copied().fold(f64::NAN, f64::max),
        "paid_lost": 0,
        "goals": {"streams": GOAL_STREAMS, "idle_cpu_percent": GOAL_IDLE_CPU_PERCENT,
                  "rss_mib": GOAL_RSS_MIB, "apply_ratio": GOAL_APPLY_RATIO,
                  "commit_to_paid_p99_ms": GOAL_PAID_P99_MS},
    });
    Ok(measured)
}

/// The two conditions of a round.
#[derive(Clone, Copy)]
enum Phase {
    /// No stream open.
    None,
    /// The round's N streams open, M of their orders charged.
    With,
}

/// Waits (up to 10 s) until the first `m` streams saw `paid`, and checks that none was lost,
/// no other stream saw anything and none ended; returns each charge's commit → paid in ms
/// (negative: the event beat the 200).
async fn check_seen(seen: &[Seen], acked: &[Instant], m: usize) -> anyhow::Result<Vec<f64>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen[..m].iter().any(|s| s.paid_at.get().is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut paid_ms = Vec::with_capacity(m);
    let mut lost = 0;
    for (acked, s) in acked.iter().zip(seen.iter()) {
        match s.paid_at.get() {
            Some(&paid) if paid >= *acked => paid_ms.push((paid - *acked).as_secs_f64() * 1000.0),
            Some(&paid) => paid_ms.push(-((*acked - paid).as_secs_f64() * 1000.0)),
            None => lost += 1,
        }
    }
    let stray: usize = seen[m..]
        .iter()
        .map(|s| s.events.load(Ordering::Relaxed))
        .sum();
    let ended = seen
        .iter()
        .filter(|s| s.ended.load(Ordering::Relaxed))
        .count();
    anyhow::ensure!(
        lost == 0,
        "{lost} of {m} streams never saw `paid` (within 10 s of the last charge)"
    );
    anyhow::ensure!(
        stray == 0,
        "{stray} events reached streams whose order did not move"
    );
    anyhow::ensure!(ended == 0, "{ended} streams ended early");
    Ok(paid_ms)
}

/// Opens a stream on each of `references` (a bounded number at a time), reads its first
/// event, and leaves a task reading on; returns the clients and the tasks (abort to close).
async fn open_streams(
    ledger: &TestLedger,
    references: &[String],
    seen: &Arc<Vec<Seen>>,
) -> anyhow::Result<(Vec<reqwest::Client>, Vec<tokio::task::JoinHandle<()>>)> {
    let clients = (0..references.len().div_ceil(STREAMS_PER_CLIENT).max(1))
        .map(|_| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(0)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut readers: Vec<tokio::task::JoinHandle<()>> = Vec::with_capacity(references.len());
    let mut opening = stream::iter(references.iter().enumerate())
        .map(|(i, reference)| {
            let client = &clients[i / STREAMS_PER_CLIENT];
            let url = ledger.url(&format!("/v1/orders/{reference}/events"));
            async move { (i, open_stream(client, &url).await) }
        })
        .buffer_unordered(OPENING_IN_FLIGHT);
    while let Some((i, opened)) = opening.next().await {
        let (resp, buffer) = match opened {
            Ok(o) => o,
            Err(e) => {
                for r in &readers {
                    r.abort();
                }
                anyhow::bail!(
                    "stream {i} of {}: {e}\n{}",
                    references.len(),
                    ledger.log_tail(20)
                );
            }
        };
        readers.push(tokio::spawn(read_on(resp, buffer, seen.clone(), i)));
    }
    drop(opening);
    Ok((clients, readers))
}

/// Creates every order through the admin API, a bounded number at a time.
async fn create_orders(
    http: &reqwest::Client,
    ledger: &TestLedger,
    references: &[&String],
) -> anyhow::Result<()> {
    let url = ledger.url("/v1/orders");
    let results: Vec<anyhow::Result<()>> = stream::iter(references)
        .map(|reference| {
            let url = url.clone();
            async move {
                let resp = http
                    .post(&url)
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({"reference": reference, "amount": 500_000, "currency": "NGN"}))
                    .send()
                    .await?;
                anyhow::ensure!(
                    resp.status() == 201,
                    "creating {reference} answered {}",
                    resp.status()
                );
                Ok(())
            }
        })
        .buffer_unordered(CREATING_IN_FLIGHT)
        .collect()
        .await;
    results.into_iter().collect()
}

/// One round of signed charges, `in_flight` at a time: latency percentiles and throughput,
/// and the instant each delivery's 200 arrived (in the order given).
async fn apply_round(
    http: &reqwest::Client,
    url: &str,
    deliveries: Vec<(usize, gateway::Delivery)>,
    in_flight: usize,
    ledgers: &[u32],
) -> anyhow::Result<(Apply, Vec<Instant>)> {
    let count = deliveries.len();
    let cpu = || -> anyhow::Result<(f64, f64)> {
        let ledger = ledgers
            .iter()
            .map(|&p| cpu_seconds(p))
            .sum::<anyhow::Result<f64>>()?;
        Ok((ledger, cpu_seconds(std::process::id())?))
    };
    let cpu0 = cpu()?;
    let started = Instant::now();
    let results: Vec<anyhow::Result<(usize, Duration, Instant)>> = stream::iter(deliveries)
        .map(|(i, d)| async move {
            let t = Instant::now();
            let resp = d.post(http, url).send().await?;
            let acked = Instant::now();
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            anyhow::ensure!(status == 200, "a charge answered {status}: {body}");
            Ok((i, acked - t, acked))
        })
        .buffer_unordered(in_flight.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    let cpu1 = cpu()?;
    let per_charge = |seconds: f64| seconds * 1e6 / count.max(1) as f64;
    let mut acked = vec![started; count];
    let mut latencies = Vec::with_capacity(count);
    for r in results {
        let (i, latency, at) = r?;
        acked[i] = at;
        latencies.push(latency.as_secs_f64() * 1000.0);
    }
    Ok((
        Apply {
            p50_ms: quantile_or_nan(&latencies, 0.50),
            p99_ms: quantile_or_nan(&latencies, 0.99),
            per_second: count as f64 / elapsed.as_secs_f64(),
            ledger_cpu_us: per_charge(cpu1.0 - cpu0.0),
            bench_cpu_us: per_charge(cpu1.1 - cpu0.1),
            latencies,
        },
        acked,
    ))
}

/// Opens one status stream and reads its first event, which must be `pending`.
async fn open_stream(
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<(reqwest::Response, String)> {
    let mut resp = client.get(url).bearer_auth(ADMIN_TOKEN).send().await?;
    anyhow::ensure!(
        resp.status() == 200,
        "opening a stream answered {}",
        resp.status()
    );
    let mut buffer = String::new();
    let first =
        keffi_tests::sse::read_events(&mut resp, &mut buffer, 1, Duration::from_secs(30)).await;
    anyhow::ensure!(
        first.first().is_some_and(|(_, e)| e["status"] == "pending"),
        "the stream did not open with `pending`: {first:?}"
    );
    Ok((resp, buffer))
}

/// Reads a stream until it ends (or the task is aborted), noting each event and when `paid`
/// arrived.
async fn read_on(mut resp: reqwest::Response, mut buffer: String, seen: Arc<Vec<Seen>>, i: usize) {
    let slot = &seen[i];
    loop {
        let events = keffi_tests::sse::read_events(
            &mut resp,
            &mut buffer,
            1,
            Duration::from_secs(24 * 3600),
        )
        .await;
        let now = Instant::now();
        if events.is_empty() {
            slot.ended.store(true, Ordering::Relaxed);
            return;
        }
        for (_, event) in events {
            slot.events.fetch_add(1, Ordering::Relaxed);
            if event["status"] == "paid" {
                let _ = slot.paid_at.set(now);
            }
        }
    }
}

/// The ledger's `keffi_status_streams_open` gauge.
async fn streams_open(http: &reqwest::Client, ledger: &TestLedger) -> anyhow::Result<u64> {
    let text = http
        .get(ledger.url("/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("keffi_status_streams_open "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

/// The process's CPU time so far (user + system), in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name (which may hold spaces) start at the state, field 3;
    // utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // SAFETY: sysconf reads a constant; no memory is passed.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(ticks as f64 / per_second)
}

/// The process's resident set now, in MiB.
fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kib as f64 / 1024.0)
}

/// The process's CPU (% of one core) over a quiet `window`, and its RSS at the end.
async fn sample_idle(pid: u32, window: Duration) -> anyhow::Result<Sample> {
    // Let what the previous phase started settle first.
    tokio::time::sleep((window / 2).min(Duration::from_millis(500))).await;
    let (cpu0, t0) = (cpu_seconds(pid)?, Instant::now());
    tokio::time::sleep(window).await;
    let cpu = cpu_seconds(pid)? - cpu0;
    Ok(Sample {
        cpu_percent: cpu * 100.0 / t0.elapsed().as_secs_f64(),
        rss_mib: rss_mib(pid)?,
    })
}
