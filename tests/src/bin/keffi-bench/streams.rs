//! Live status at scale: N status streams (`GET /v1/orders/{reference}/events`, SSE over
//! HTTP/1.1, one TCP connection each) held open on a real ledger, measured three ways, each
//! against a baseline from the same run:
//!
//! - **idle**: the ledger's CPU (utime + stime from `/proc/PID/stat`, as % of one core) and RSS
//!   (`VmRSS`) over a quiet window with the N streams open, against the same window with none;
//! - **apply**: M signed `charge.success` webhooks on the ledger's own `/hooks/paystack` (the
//!   real pipeline; its 200 comes after the commit) at a fixed number in flight, for M of the
//!   streamed orders, against the same M on fresh orders with no stream open (one round
//!   before the streams open and one after they close; the baseline is their mean);
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

use futures_util::stream::{self, StreamExt};
use keffi_tests::edge::PAYSTACK_SECRET;
use keffi_tests::gateway;
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use keffi_tests::load::quantile;
use serde_json::{json, Value};

/// Streams per reqwest client (each stream holds its own connection either way).
const STREAMS_PER_CLIENT: usize = 256;
/// Streams being opened at once.
const OPENING_IN_FLIGHT: usize = 64;
/// Orders being created at once (untimed set-up).
const CREATING_IN_FLIGHT: usize = 16;
/// File descriptors kept free beside the streams (database, pools, logs).
const FD_MARGIN: u64 = 1_024;

/// The goals the issue sets (printed beside the figures).
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
    pub stores: Vec<String>,
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
    let room = (lim.rlim_cur as u64).saturating_sub(FD_MARGIN) as usize;
    if wanted > room {
        eprintln!(
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
        "| store | streams | charges ({} in flight) | apply p50 ms, none / with (×) | apply p99 ms, none / with (×) | charges/s, none / with (×) | commit → paid p50 / p99 ms | paid seen | goals: ≤ {GOAL_APPLY_RATIO}× of none, commit → paid p99 < {GOAL_PAID_P99_MS} ms |",
        opts.in_flight
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!("{}", r.apply_row());
    }
    println!();
    println!(
        "none = the mean of one round before the streams open and one after they close, on fresh orders; \
         commit → paid runs from the webhook's 200 (sent after the commit) to the `paid` event on the \
         order's stream; idle windows {:.0} s.",
        opts.idle.as_secs_f64()
    );
    Ok(Value::Array(results.iter().map(|r| r.json.clone()).collect()))
}

/// One store's figures: the printed cells and the JSON twin.
struct Measured {
    store: String,
    streams: usize,
    opened_seconds: f64,
    idle_base: Sample,
    idle_with: Sample,
    none: [Apply; 2],
    with: Apply,
    paid_ms: Vec<f64>,
    paid_seen: usize,
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
}

impl Apply {
    fn mean(rounds: &[Apply; 2]) -> Apply {
        Apply {
            p50_ms: (rounds[0].p50_ms + rounds[1].p50_ms) / 2.0,
            p99_ms: (rounds[0].p99_ms + rounds[1].p99_ms) / 2.0,
            per_second: (rounds[0].per_second + rounds[1].per_second) / 2.0,
        }
    }

    fn json(&self) -> Value {
        json!({"p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "per_second": self.per_second})
    }
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
        let none = Apply::mean(&self.none);
        let w = &self.with;
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
        if self.paid_seen < self.paid_ms.len().max(self.charges()) {
            misses.push("paid lost");
        }
        let verdict = if misses.is_empty() {
            "met".to_owned()
        } else {
            format!("**not met**: {}", misses.join(", "))
        };
        format!(
            "| {} | {} | {} | {:.2} / {:.2} ({r50:.2}×) | {:.2} / {:.2} ({r99:.2}×) | {:.0} / {:.0} ({rps:.2}×) | {paid50:.1} / {paid99:.1} | {} of {} | {verdict} |",
            self.store,
            self.streams,
            self.charges(),
            none.p50_ms,
            w.p50_ms,
            none.p99_ms,
            w.p99_ms,
            none.per_second,
            w.per_second,
            self.paid_seen,
            self.charges(),
        )
    }

    fn charges(&self) -> usize {
        self.json["charges"].as_u64().unwrap_or(0) as usize
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
    let (n, m) = (opts.streams, opts.charges);
    let (db, replicas, label) = match store {
        "sqlite" => (TestDb::sqlite().await?, 1, "sqlite"),
        "postgres" => (TestDb::postgres().await?, 1, "postgres"),
        "postgres-2" => (TestDb::postgres().await?, 2, "postgres, 2 replicas"),
        other => anyhow::bail!("unknown store `{other}` (sqlite, postgres, postgres-2)"),
    };
    let max_streams = (n + 1_000).to_string();
    // Streams outlive the bench (no reconnect inside a measurement window).
    let args = ["--max-streams", &max_streams, "--sse-max-seconds", "3600"];
    let applying = TestLedger::with_hooks(&db, &args).await?;
    let second = if replicas == 2 {
        Some(TestLedger::with_hooks(&db, &args).await?)
    } else {
        None
    };
    let streaming = second.as_ref().unwrap_or(&applying);
    let admin = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()?;
    let hooks = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()?;

    // Untimed set-up: every order of the run, so each round sees the same database size.
    let warm = m.clamp(1, 100);
    let refs = |prefix: &str, count: usize| -> Vec<String> {
        (0..count).map(|i| format!("{prefix}_{i}")).collect()
    };
    let (streamed, before, after, warming) = (
        refs("st", n),
        refs("nb", m),
        refs("na", m),
        refs("wm", warm),
    );
    let all: Vec<&String> = streamed
        .iter()
        .chain(&before)
        .chain(&after)
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
    // Warm the hooks path and the pools; then the first round with no stream.
    apply_round(&hooks, &hooks_url, deliver(&warming), opts.in_flight).await?;
    let (none_before, _) =
        apply_round(&hooks, &hooks_url, deliver(&before), opts.in_flight).await?;
    let idle_base = sample_idle(streaming.pid(), opts.idle).await?;

    // Open the N streams and read each one's first event.
    let seen: Arc<Vec<Seen>> = Arc::new((0..n).map(|_| Seen::default()).collect());
    let clients = (0..n.div_ceil(STREAMS_PER_CLIENT).max(1))
        .map(|_| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(0)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let t = Instant::now();
    let mut readers = Vec::with_capacity(n);
    let mut opening = stream::iter(streamed.iter().enumerate())
        .map(|(i, reference)| {
            let client = &clients[i / STREAMS_PER_CLIENT];
            let url = streaming.url(&format!("/v1/orders/{reference}/events"));
            async move { (i, open_stream(client, &url).await) }
        })
        .buffer_unordered(OPENING_IN_FLIGHT);
    while let Some((i, opened)) = opening.next().await {
        let (resp, buffer) = opened.map_err(|e| {
            anyhow::anyhow!("stream {i} of {n}: {e}\n{}", streaming.log_tail(20))
        })?;
        readers.push(tokio::spawn(read_on(resp, buffer, seen.clone(), i)));
    }
    drop(opening);
    let opened_seconds = t.elapsed().as_secs_f64();
    let open_now = streams_open(&admin, streaming).await?;
    anyhow::ensure!(
        open_now == n as u64,
        "the ledger counts {open_now} open streams, expected {n}"
    );
    eprintln!("  {n} streams open in {opened_seconds:.1} s");

    let client_cpu0 = cpu_seconds(std::process::id())?;
    let idle_with = sample_idle(streaming.pid(), opts.idle).await?;
    let client_cpu = (cpu_seconds(std::process::id())? - client_cpu0) * 100.0
        / opts.idle.as_secs_f64().max(0.001);

    // The same apply, for the first M streamed orders.
    let charged = &streamed[..m];
    let (with, acked) = apply_round(&hooks, &hooks_url, deliver(charged), opts.in_flight).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen[..m].iter().any(|s| s.paid_at.get().is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let paid_ms: Vec<f64> = acked
        .iter()
        .zip(seen.iter())
        .filter_map(|(acked, s)| {
            let paid = *s.paid_at.get()?;
            Some(if paid >= *acked {
                (paid - *acked).as_secs_f64() * 1000.0
            } else {
                -((*acked - paid).as_secs_f64() * 1000.0)
            })
        })
        .collect();
    let paid_seen = paid_ms.len();
    let stray: usize = seen[m..]
        .iter()
        .map(|s| s.events.load(Ordering::Relaxed))
        .sum();
    let ended = seen.iter().filter(|s| s.ended.load(Ordering::Relaxed)).count();
    anyhow::ensure!(
        stray == 0,
        "{stray} events reached streams whose order did not move"
    );
    anyhow::ensure!(ended == 0, "{ended} streams ended early");
    if paid_seen < m {
        eprintln!(
            "  LOST: {} of {m} streams never saw `paid`",
            m - paid_seen
        );
    }

    // Close the streams, wait for the ledger to let them go, and the second round with none.
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
    let (none_after, _) = apply_round(&hooks, &hooks_url, deliver(&after), opts.in_flight).await?;

    let mut measured = Measured {
        store: label.to_owned(),
        streams: n,
        opened_seconds,
        idle_base,
        idle_with,
        none: [none_before, none_after],
        with,
        paid_ms,
        paid_seen,
        json: Value::Null,
    };
    let none = Apply::mean(&measured.none);
    let (idle_cpu_10k, idle_rss_10k) = measured.idle_at_goal();
    measured.json = json!({
        "store": store, "replicas": replicas, "streams": n, "charges": m,
        "in_flight": opts.in_flight, "idle_seconds": opts.idle.as_secs_f64(),
        "opened_seconds": opened_seconds,
        "idle_cpu_percent_no_streams": idle_base.cpu_percent,
        "idle_cpu_percent_with_streams": idle_with.cpu_percent,
        "rss_mib_no_streams": idle_base.rss_mib, "rss_mib_with_streams": idle_with.rss_mib,
        "kib_per_stream": measured.kib_per_stream(),
        "idle_cpu_percent_at_10000": idle_cpu_10k, "rss_mib_at_10000": idle_rss_10k,
        "bench_client_cpu_percent_idle": client_cpu,
        "apply_none_before": measured.none[0].json(), "apply_none_after": measured.none[1].json(),
        "apply_none": none.json(), "apply_with_streams": measured.with.json(),
        "apply_p50_ratio": measured.with.p50_ms / none.p50_ms,
        "apply_p99_ratio": measured.with.p99_ms / none.p99_ms,
        "apply_throughput_ratio": measured.with.per_second / none.per_second,
        "commit_to_paid_p50_ms": quantile_or_nan(&measured.paid_ms, 0.5),
        "commit_to_paid_p99_ms": quantile_or_nan(&measured.paid_ms, 0.99),
        "commit_to_paid_max_ms": measured.paid_ms.iter().copied().fold(f64::NAN, f64::max),
        "paid_seen": paid_seen, "paid_lost": m - paid_seen,
        "goals": {"streams": GOAL_STREAMS, "idle_cpu_percent": GOAL_IDLE_CPU_PERCENT,
                  "rss_mib": GOAL_RSS_MIB, "apply_ratio": GOAL_APPLY_RATIO,
                  "commit_to_paid_p99_ms": GOAL_PAID_P99_MS},
    });
    anyhow::ensure!(
        paid_seen == m,
        "{} of {m} streams never saw `paid` (within 10 s of the last charge)",
        m - paid_seen
    );
    Ok(measured)
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
) -> anyhow::Result<(Apply, Vec<Instant>)> {
    let count = deliveries.len();
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
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cpu0, t0) = (cpu_seconds(pid)?, Instant::now());
    tokio::time::sleep(window).await;
    let cpu = cpu_seconds(pid)? - cpu0;
    Ok(Sample {
        cpu_percent: cpu * 100.0 / t0.elapsed().as_secs_f64(),
        rss_mib: rss_mib(pid)?,
    })
}
