//! The edge shards' cursors (how far the ledger has applied each) and the leases on them that
//! let replicas share the shards.

use serde::Serialize;

use super::conn::on_pool;
use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Cursor {
    pub shard: i64,
    pub last_seq: i64,
    pub lease_holder: Option<String>,
    pub lease_expires_at_ms: Option<i64>,
    pub updated_at_ms: i64,
}

impl Store {
    /// Makes sure shards `0..shards` have cursor rows (new ones start at 0).
    pub async fn ensure_cursors(&self, shards: u32, now_ms: i64) -> Result<(), StoreError> {
        for shard in 0..i64::from(shards) {
            on_pool!(self, c => sqlx::query(
                "INSERT INTO edge_cursors (shard, last_seq, updated_at_ms) VALUES ($1, 0, $2)
                 ON CONFLICT (shard) DO NOTHING",
            )
            .bind(shard)
            .bind(now_ms)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    pub async fn cursors(&self) -> Result<Vec<Cursor>, StoreError> {
        let rows = on_pool!(self, c => sqlx::query_as(
            "SELECT shard, last_seq, lease_holder, lease_expires_at_ms, updated_at_ms
             FROM edge_cursors ORDER BY shard",
        )
        .fetch_all(c)
        .await)?;
        Ok(rows)
    }

    /// Takes or renews the lease on `shard` for `holder` until `now + ttl`; false while another
    /// live holder has it. The cursor row is the lease, so replicas need no other coordination.
    pub async fn try_lease(
        &self,
        shard: i64,
        holder: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, c => sqlx::query(
            "UPDATE edge_cursors SET lease_holder = $1, lease_expires_at_ms = $2
             WHERE shard = $3
               AND (lease_holder IS NULL OR lease_holder = $1 OR lease_expires_at_ms < $4)",
        )
        .bind(holder)
        .bind(now_ms + ttl_ms)
        .bind(shard)
        .bind(now_ms)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Gives the lease back (on shutdown), so another replica takes over at once.
    pub async fn release_lease(&self, shard: i64, holder: &str) -> Result<(), StoreError> {
        on_pool!(self, c => sqlx::query(
            "UPDATE edge_cursors SET lease_holder = NULL, lease_expires_at_ms = NULL
             WHERE shard = $1 AND lease_holder = $2",
        )
        .bind(shard)
        .bind(holder)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
