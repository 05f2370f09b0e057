//! Prometheus metrics, recorded through the `metrics` facade and rendered at `/metrics`.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `keffi_events_total` | `source`, `outcome` | events by what became of them: `applied`, `ignored`, `parked`, `dead`, `duplicate` |
//! | `keffi_events_settled_again_total` | `outcome` | stored events given a new outcome: parked ones a later event unblocked, replays (`applied`, `ignored`, `parked`, `dead`) |
//! | `keffi_events_pulled_total` | `shard` | events received from the edge |
//! | `keffi_apply_batch_seconds` | — | time to apply and commit one batch (histogram) |
//! | `keffi_apply_phase_seconds` | `phase` | where a set-wise batch spends it: `duplicates`, `read`, `decide`, `inbox`, `payments`, `orders`, `journal`, `unparked`, `commit` (histogram) |
//! | `keffi_shard_lag_events` | `shard` | events stored at the edge and not yet applied here |
//! | `keffi_shard_lag_seconds` | `shard` | age of the oldest event the edge holds unacknowledged |
//! | `keffi_shard_last_pull_timestamp_seconds` | `shard` | Unix time of the shard's last successful round here: pulled and applied (an empty pull counts) |
//! | `keffi_puller_shards` | — | shards this replica's puller drives; 0 until it has learned the edge's shard count |
//! | `keffi_puller_errors_total` | `shard` | failed pull / apply / ack rounds |
//! | `keffi_events_orphaned_total` | — | parked events given up on after `KEFFI_PARK_TIMEOUT` (now `dead`) |
//! | `keffi_reconciler_checks_total` | `outcome` | verify calls by outcome |
//! | `keffi_reconciler_errors_total` | — | verify calls that failed, and passes stopped by a refusal |
//! | `keffi_http_requests_total` | `method`, `route`, `status` | HTTP requests served |
//! | `keffi_http_request_seconds` | `method`, `route` | HTTP latency (histogram) |
//! | `keffi_status_streams_open` | — | live status streams open now |
//! | `keffi_status_streams_refused_total` | — | status streams refused at `KEFFI_MAX_STREAMS` |
//! | `keffi_ledger_ready` | — | 1 if the database answers (what `/readyz` checks), measured at each scrape |
//! | `keffi_audit_write_failures_total` | — | operator actions whose audit-log row could not be written (the row is in the error log instead) |
//!
//! Counters an alert watches with `increase()` and that have no open-ended labels are
//! registered at zero when their task starts, so the first increment is seen as one.
//! `ops/prometheus/keffi-alerts.yml` alerts on these; `tests/tests/e2e/alert_rules.rs` checks that
//! every metric it names is exported.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide recorder once; later calls return the same handle.
pub fn install() -> Option<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
                .inspect(|_| {
                    describe();
                    // At zero from the start: its alert takes `increase()`, which would miss
                    // the first failure of a series that did not exist before it.
                    metrics::counter!("keffi_audit_write_failures_total").increment(0);
                })
        })
        .clone()
}

/// The `# HELP` text of each metric (rendered once the metric has a value).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "keffi_events_total",
        "Events by what became of them (applied, ignored, parked, dead, duplicate)."
    );
    describe_counter!(
        "keffi_events_settled_again_total",
        "Stored events given a new outcome: parked ones a later event unblocked, replays."
    );
    describe_counter!(
        "keffi_events_pulled_total",
        "Events received from the edge."
    );
    describe_histogram!(
        "keffi_apply_batch_seconds",
        Unit::Seconds,
        "Time to apply and commit one batch."
    );
    describe_histogram!(
        "keffi_apply_phase_seconds",
        Unit::Seconds,
        "Where a set-wise batch spends its time, by phase."
    );
    describe_gauge!(
        "keffi_shard_lag_events",
        "Events stored at the edge and not yet applied here, as of the last pull."
    );
    describe_gauge!(
        "keffi_shard_lag_seconds",
        Unit::Seconds,
        "Age of the oldest event the edge holds unacknowledged, as of the last pull."
    );
    describe_gauge!(
        "keffi_shard_last_pull_timestamp_seconds",
        Unit::Seconds,
        "Unix time of the shard's last successful round here: pulled and applied (an empty pull counts)."
    );
    describe_gauge!(
        "keffi_puller_shards",
        "Shards this replica's puller drives; 0 until it has learned the edge's shard count."
    );
    describe_counter!(
        "keffi_puller_errors_total",
        "Failed pull / apply / ack rounds."
    );
    describe_counter!(
        "keffi_events_orphaned_total",
        "Parked events given up on after KEFFI_PARK_TIMEOUT (now dead)."
    );
    describe_counter!(
        "keffi_reconciler_checks_total",
        "Reconciler verify calls by outcome."
    );
    describe_counter!(
        "keffi_reconciler_errors_total",
        "Reconciler verify calls that failed, and passes stopped by a refusal."
    );
    describe_counter!("keffi_http_requests_total", "HTTP requests served.");
    describe_counter!(
        "keffi_audit_write_failures_total",
        "Operator actions whose audit-log row could not be written (logged at error level instead)."
    );
    describe_histogram!(
        "keffi_http_request_seconds",
        Unit::Seconds,
        "HTTP request latency."
    );
    describe_gauge!("keffi_status_streams_open", "Live status streams open now.");
    describe_counter!(
        "keffi_status_streams_refused_total",
        "Status streams refused at KEFFI_MAX_STREAMS."
    );
    describe_gauge!(
        "keffi_ledger_ready",
        "1 if the database answers (what /readyz checks), measured at each scrape."
    );
}

/// An audit-log row could not be written.
pub fn audit_write_failed() {
    metrics::counter!("keffi_audit_write_failures_total").increment(1);
}

pub fn event(source: &str, outcome: &'static str) {
    metrics::counter!("keffi_events_total", "source" => source.to_owned(), "outcome" => outcome)
        .increment(1);
}

pub fn event_settled_again(outcome: &'static str) {
    metrics::counter!("keffi_events_settled_again_total", "outcome" => outcome).increment(1);
}

/// Registers `keffi_events_settled_again_total{outcome="dead"}` at zero (the dead-events
/// alert takes its `increase()`).
pub fn settled_again_dead_registered() {
    metrics::counter!("keffi_events_settled_again_total", "outcome" => "dead").increment(0);
}

pub fn pulled(shard: u32, n: usize) {
    metrics::counter!("keffi_events_pulled_total", "shard" => shard.to_string())
        .increment(n as u64);
}

pub fn batch_applied(started: Instant) {
    metrics::histogram!("keffi_apply_batch_seconds").record(started.elapsed().as_secs_f64());
}

pub fn phases(phases: &[(&'static str, std::time::Duration)]) {
    for (phase, took) in phases {
        metrics::histogram!("keffi_apply_phase_seconds", "phase" => *phase)
            .record(took.as_secs_f64());
    }
}

pub fn lag(shard: u32, events: u64, seconds: f64) {
    let shard = shard.to_string();
    metrics::gauge!("keffi_shard_lag_events", "shard" => shard.clone()).set(events as f64);
    metrics::gauge!("keffi_shard_lag_seconds", "shard" => shard).set(seconds);
}

/// A round of `shard` succeeded at `at_ms` (pulled and applied, even if it found nothing).
pub fn last_pull(shard: u32, at_ms: i64) {
    metrics::gauge!("keffi_shard_last_pull_timestamp_seconds", "shard" => shard.to_string())
        .set(at_ms as f64 / 1000.0);
}

/// How many shards the puller drives (0 while it cannot learn the edge's shard count).
pub fn puller_shards(n: u32) {
    metrics::gauge!("keffi_puller_shards").set(f64::from(n));
}

pub fn puller_error(shard: u32) {
    metrics::counter!("keffi_puller_errors_total", "shard" => shard.to_string()).increment(1);
}

/// Records every HTTP request by method, matched route (not the raw path: bounded labels)
/// and status.
pub async fn http(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("keffi_http_requests_total",
        "method" => method.clone(), "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("keffi_http_request_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}

pub fn reconciler_check(outcome: &'static str) {
    metrics::counter!("keffi_reconciler_checks_total", "outcome" => outcome).increment(1);
}

pub fn reconciler_error() {
    metrics::counter!("keffi_reconciler_errors_total").increment(1);
}

/// Registers the reconciler's error counter at zero when its background task starts.
pub fn reconciler_started() {
    metrics::counter!("keffi_reconciler_errors_total").increment(0);
}

/// How many events of split sources wait, held, for a merchant to be told (set by each sweep).
pub fn held_waiting(n: i64) {
    metrics::gauge!("keffi_events_held").set(n as f64);
}

/// `n` parked events given up on by the sweep (0 registers the counter).
pub fn orphaned(n: usize) {
    metrics::counter!("keffi_events_orphaned_total").increment(n as u64);
}

/// Readiness as `/readyz` judges it (the database answers), set at each scrape.
pub fn ready(ready: bool) {
    metrics::gauge!("keffi_ledger_ready").set(if ready { 1.0 } else { 0.0 });
}

/// Live status streams open now, set at each scrape from the change feed's count.
pub fn streams_open(n: usize) {
    metrics::gauge!("keffi_status_streams_open").set(n as f64);
}

/// A status stream refused at the cap.
pub fn stream_refused() {
    metrics::counter!("keffi_status_streams_refused_total").increment(1);
}
