//! A small load generator: sends prepared requests with a fixed number in flight and reports
//! latency percentiles and throughput. Used by the benchmark harness (`keffi-bench`).

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::gateway::Delivery;

#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    pub requests: usize,
    pub concurrency: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub per_second: f64,
    pub non_2xx: usize,
}

/// Sends every delivery to `url`, `concurrency` at a time.
pub async fn run(
    http: &reqwest::Client,
    url: &str,
    deliveries: &[Delivery],
    concurrency: usize,
) -> LoadResult {
    let started = Instant::now();
    let results: Vec<(Duration, bool)> = stream::iter(deliveries)
        .map(|d| async move {
            let req = d.post(http, url);
            let t = Instant::now();
            let ok = match req.send().await {
                Ok(resp) => {
                    let ok = resp.status().is_success();
                    let _ = resp.bytes().await;
                    ok
                }
                Err(_) => false,
            };
            (t.elapsed(), ok)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let latencies: Vec<f64> = results
        .iter()
        .map(|(d, _)| d.as_secs_f64() * 1000.0)
        .collect();
    LoadResult {
        requests: results.len(),
        concurrency,
        p50_ms: quantile(&latencies, 0.50),
        p90_ms: quantile(&latencies, 0.90),
        p99_ms: quantile(&latencies, 0.99),
        per_second: results.len() as f64 / elapsed.as_secs_f64(),
        non_2xx: results.iter().filter(|(_, ok)| !ok).count(),
    }
}

/// The `q` quantile (0 to 1) of `xs`, nearest rank.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    let mut sorted = xs.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// The median of a list (benchmarks report medians over repeated runs).
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}
