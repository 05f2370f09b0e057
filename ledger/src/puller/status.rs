//! What each shard's puller is doing, for `/readyz` and logs.

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

/// Shared, cheap to read: the HTTP handlers read it, the shard tasks write it.
#[derive(Debug, Default)]
pub struct PullerStatus {
    pub enabled: bool,
    shards: Mutex<Vec<ShardStatus>>,
}

impl PullerStatus {
    pub fn disabled() -> Self {
        PullerStatus::default()
    }

    pub fn enabled() -> Self {
        PullerStatus {
            enabled: true,
            shards: Mutex::new(Vec::new()),
        }
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
