//! What each shard's puller is doing, for `/readyz` and logs.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShardState {
    Starting,
    /// Holding the lease and pulling.
    Pulling,
    /// Another replica holds the lease.
    Standby,
    /// The last attempt failed; retrying with backoff.
    Failing,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShardStatus {
    pub shard: u32,
    pub state: ShardState,
    /// The last sequence applied here.
    pub cursor: u64,
    /// The last sequence the edge has stored, as of the last pull.
    pub head_seq: u64,
    /// Events stored at the edge and not yet applied here, as of the last pull.
    pub lag_events: u64,
    /// Age of the oldest event the edge holds unacknowledged, as of the last pull.
    pub lag_seconds: f64,
    pub last_success_ms: Option<i64>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub applied: u64,
    pub duplicates: u64,
    pub dead: u64,
}

/// Minutes of backlog-age history kept per shard (for the dashboard's chart).
pub const LAG_HISTORY_MINUTES: i64 = 60;

/// One minute of one shard's backlog age: the largest `lag_seconds` its pulls saw in it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LagSample {
    pub shard: u32,
    /// The minute's start, ms since the epoch.
    pub minute_ms: i64,
    pub lag_seconds: f64,
}

/// Shared, cheap to read: the HTTP handlers read it, the shard tasks write it.
#[derive(Debug, Default)]
pub struct PullerStatus {
    pub enabled: bool,
    shards: Mutex<Vec<ShardStatus>>,
    /// (minute, shard) → the largest lag seen: at most [`LAG_HISTORY_MINUTES`] minutes a shard.
    lag_history: Mutex<BTreeMap<(i64, u32), f64>>,
}

impl PullerStatus {
    pub fn disabled() -> Self {
        PullerStatus::default()
    }

    pub fn enabled() -> Self {
        PullerStatus {
            enabled: true,
            ..PullerStatus::default()
        }
    }

    /// Records a pull's backlog age in its minute (the minute keeps the largest), and forgets
    /// minutes older than [`LAG_HISTORY_MINUTES`]: once a pull round, never per event.
    pub fn record_lag(&self, shard: u32, lag_seconds: f64, now_ms: i64) {
        let Ok(mut history) = self.lag_history.lock() else {
            return;
        };
        let minute = now_ms - now_ms.rem_euclid(60_000);
        let slot = history.entry((minute, shard)).or_insert(0.0);
        *slot = slot.max(lag_seconds);
        let oldest = minute - (LAG_HISTORY_MINUTES - 1) * 60_000;
        while history
            .first_key_value()
            .is_some_and(|(&(m, _), _)| m < oldest)
        {
            history.pop_first();
        }
    }

    /// The backlog-age history, oldest minute first, then by shard.
    pub fn lag_history(&self) -> Vec<LagSample> {
        self.lag_history
            .lock()
            .map(|h| {
                h.iter()
                    .map(|(&(minute_ms, shard), &lag_seconds)| LagSample {
                        shard,
                        minute_ms,
                        lag_seconds,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn snapshot(&self) -> Vec<ShardStatus> {
        self.shards.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Updates shard `shard`'s entry (creating it on first use).
    pub fn update(&self, shard: u32, f: impl FnOnce(&mut ShardStatus)) {
        let Ok(mut shards) = self.shards.lock() else {
            return;
        };
        let index = match shards.iter().position(|s| s.shard == shard) {
            Some(i) => i,
            None => {
                shards.push(ShardStatus {
                    shard,
                    state: ShardState::Starting,
                    cursor: 0,
                    head_seq: 0,
                    lag_events: 0,
                    lag_seconds: 0.0,
                    last_success_ms: None,
                    last_error: None,
                    consecutive_failures: 0,
                    applied: 0,
                    duplicates: 0,
                    dead: 0,
                });
                shards.sort_by_key(|s| s.shard);
                shards
                    .iter()
                    .position(|s| s.shard == shard)
                    .expect("just inserted")
            }
        };
        f(&mut shards[index]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_history_keeps_each_minutes_largest_for_an_hour() {
        let status = PullerStatus::enabled();
        let t0 = 30_000_000 * 60_000; // a whole minute
        status.record_lag(0, 2.0, t0 + 1_000);
        status.record_lag(0, 5.0, t0 + 30_000);
        status.record_lag(0, 1.0, t0 + 59_999);
        status.record_lag(1, 0.5, t0 + 10);
        let h = status.lag_history();
        assert_eq!(h.len(), 2);
        assert_eq!((h[0].shard, h[0].minute_ms, h[0].lag_seconds), (0, t0, 5.0));
        assert_eq!((h[1].shard, h[1].lag_seconds), (1, 0.5));
        // Two hours of pulls later: only the last hour's minutes are kept.
        for m in 1..=120 {
            status.record_lag(0, m as f64, t0 + m * 60_000);
        }
        let h = status.lag_history();
        assert_eq!(h.len(), LAG_HISTORY_MINUTES as usize);
        assert_eq!(h[0].minute_ms, t0 + 61 * 60_000);
        assert_eq!(h.last().unwrap().lag_seconds, 120.0);
    }
}
