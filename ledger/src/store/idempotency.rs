//! Persistence of the admin API's `Idempotency-Key`s (Stripe semantics): a key is claimed
//! with the request's fingerprint, completed with the response to replay, and expires after
//! 24 hours.
//!
//! The claim, the work and the stored answer are ONE transaction: a key is never seen
//! claimed without its answer. A request whose client hangs up, whose task is cancelled or
//! whose database connection drops rolls back all three, so the retry finds the key free and
//! does the work itself; one that commits leaves the answer for every retry to replay. (A
//! claim stored on its own and completed later would outlive a request that died in between,
//! and lock the key for a day.)

use keffi_shared::MerchantId;

use super::conn::on_tx;
use super::{StoreError, Tx};

/// How long a key is remembered.
pub const KEY_TTL_MS: i64 = 24 * 3_600_000;

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours now, within this transaction: perform the request, then `complete` it.
    Fresh,
    /// Done before with the same parameters: replay this response.
    Replay { status: u16, body: String },
    /// Used before with different parameters.
    Mismatch,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    request_hash: String,
    response_status: Option<i64>,
    response_body: Option<String>,
}

impl Tx {
    /// Claims `key` for a request whose parameters hash to `request_hash`, in this
    /// transaction. The insert is the lock: on Postgres a concurrent claim of the same key
    /// waits for this transaction and then sees its answer (SQLite's one connection
    /// serialises them anyway), so two requests with one key never both run.
    pub async fn claim_idempotency_key(
        &mut self,
        merchant: &MerchantId,
        key: &str,
        request_hash: &str,
        now_ms: i64,
    ) -> Result<Claim, StoreError> {
        // An expired key is forgotten, and so is a claim without an answer: a claim commits
        // only together with its answer, so such a row belongs to no live request.
        on_tx!(self, c, _lock => sqlx::query(
            "DELETE FROM api_idempotency_keys
             WHERE merchant_id = $3 AND key = $1
               AND (created_at_ms < $2 OR response_status IS NULL)",
        )
        .bind(key)
        .bind(now_ms - KEY_TTL_MS)
        .bind(merchant.as_str())
        .execute(c)
        .await
        .map(|_| ()))?;
        let inserted: Option<String> = on_tx!(self, c, _lock => sqlx::query_scalar(
            "INSERT INTO api_idempotency_keys (merchant_id, key, request_hash, created_at_ms)
             VALUES ($4, $1, $2, $3) ON CONFLICT (merchant_id, key) DO NOTHING RETURNING key",
        )
        .bind(key)
        .bind(request_hash)
        .bind(now_ms)
        .bind(merchant.as_str())
        .fetch_optional(c)
        .await)?;
        if inserted.is_some() {
            return Ok(Claim::Fresh);
        }
        // The insert waited for the other transaction and found its committed row.
        let row: KeyRow = on_tx!(self, c, _lock => sqlx::query_as(
            "SELECT request_hash, response_status, response_body
             FROM api_idempotency_keys WHERE merchant_id = $2 AND key = $1",
        )
        .bind(key)
        .bind(merchant.as_str())
        .fetch_one(c)
        .await)?;
        Ok(if row.request_hash != request_hash {
            Claim::Mismatch
        } else {
            match (row.response_status, row.response_body) {
                (Some(status), Some(body)) => Claim::Replay {
                    status: u16::try_from(status).unwrap_or(200),
                    body,
                },
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "idempotency key `{key}` committed without its answer"
                    )))
                }
            }
        })
    }

    /// Stores the response of a key claimed in this transaction, to be replayed.
    pub async fn complete_idempotency_key(
        &mut self,
        merchant: &MerchantId,
        key: &str,
        status: u16,
        body: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_tx!(self, c, _lock => sqlx::query(
            "UPDATE api_idempotency_keys
             SET response_status = $1, response_body = $2, completed_at_ms = $3
             WHERE merchant_id = $5 AND key = $4",
        )
        .bind(i64::from(status))
        .bind(body)
        .bind(now_ms)
        .bind(key)
        .bind(merchant.as_str())
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}
