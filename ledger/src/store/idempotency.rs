//! Persistence of the admin API's `Idempotency-Key`s (Stripe semantics): a key is claimed
//! with the request's fingerprint, completed with the response to replay, and expires after
//! 24 hours.

use super::conn::on_pool;
use super::{Store, StoreError};

/// How long a key is remembered.
pub const KEY_TTL_MS: i64 = 24 * 3_600_000;

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours now: perform the request, then `complete` it.
    Fresh,
    /// Done before with the same parameters: replay this response.
    Replay { status: u16, body: String },
    /// Used before with different parameters.
    Mismatch,
    /// The first request with this key has not finished.
    InFlight,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    request_hash: String,
    response_status: Option<i64>,
    response_body: Option<String>,
    created_at_ms: i64,
}

impl Store {
    /// Claims `key` for a request whose parameters hash to `request_hash`. The insert is the
    /// lock: of two concurrent requests with one key, exactly one gets `Fresh`.
    pub async fn claim_idempotency_key(
        &self,
        key: &str,
        request_hash: &str,
        now_ms: i64,
    ) -> Result<Claim, StoreError> {
        // An expired key is forgotten first, so it can be claimed anew.
        on_pool!(self, c => sqlx::query(
            "DELETE FROM api_idempotency_keys WHERE key = $1 AND created_at_ms < $2",
        )
        .bind(key)
        .bind(now_ms - KEY_TTL_MS)
        .execute(c)
        .await
        .map(|_| ()))?;
        let inserted: Option<String> = on_pool!(self, c => sqlx::query_scalar(
            "INSERT INTO api_idempotency_keys (key, request_hash, created_at_ms)
             VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING RETURNING key",
        )
        .bind(key)
        .bind(request_hash)
        .bind(now_ms)
        .fetch_optional(c)
        .await)?;
        if inserted.is_some() {
            return Ok(Claim::Fresh);
        }
        let row: Option<KeyRow> = on_pool!(self, c => sqlx::query_as(
            "SELECT request_hash, response_status, response_body, created_at_ms
             FROM api_idempotency_keys WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(c)
        .await)?;
        let Some(row) = row else {
            // Deleted between our two statements (expired, or its request failed): retry.
            return Box::pin(self.claim_idempotency_key(key, request_hash, now_ms)).await;
        };
        debug_assert!(row.created_at_ms >= now_ms - KEY_TTL_MS);
        Ok(if row.request_hash != request_hash {
            Claim::Mismatch
        } else {
            match (row.response_status, row.response_body) {
                (Some(status), Some(body)) => Claim::Replay {
                    status: status as u16,
                    body,
                },
                _ => Claim::InFlight,
            }
        })
    }

    /// Stores the response of a claimed key, to be replayed.
    pub async fn complete_idempotency_key(
        &self,
        key: &str,
        status: u16,
        body: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, c => sqlx::query(
            "UPDATE api_idempotency_keys
             SET response_status = $1, response_body = $2, completed_at_ms = $3
             WHERE key = $4",
        )
        .bind(i64::from(status))
        .bind(body)
        .bind(now_ms)
        .bind(key)
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Releases a claimed key whose request failed on our side (5xx): a retry may run it.
    pub async fn release_idempotency_key(&self, key: &str) -> Result<(), StoreError> {
        on_pool!(self, c => sqlx::query(
            "DELETE FROM api_idempotency_keys WHERE key = $1 AND response_status IS NULL",
        )
        .bind(key)
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}
