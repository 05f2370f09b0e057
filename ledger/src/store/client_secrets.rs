//! Per-order client secrets, stored as hashes.

use keffi_shared::MerchantId;

use super::conn::{on_pool, on_tx};
use super::{Store, StoreError, Tx};

impl Tx {
    /// Stores a secret's hash in the transaction that creates (or replays) its order.
    pub async fn add_client_secret(
        &mut self,
        merchant: &MerchantId,
        reference: &str,
        secret_hash: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_tx!(self, c, _lock => sqlx::query(
            "INSERT INTO order_client_secrets (secret_hash, merchant_id, reference, created_at_ms)
             VALUES ($1, $4, $2, $3)",
        )
        .bind(secret_hash)
        .bind(reference)
        .bind(now_ms)
        .bind(merchant.as_str())
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}

impl Store {
    /// The order a secret hash opens (its merchant and reference), if any.
    pub async fn client_secret_reference(
        &self,
        secret_hash: &str,
    ) -> Result<Option<(MerchantId, String)>, StoreError> {
        let r: Option<(String, String)> = on_pool!(self, c => sqlx::query_as(
            "SELECT merchant_id, reference FROM order_client_secrets WHERE secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(c)
        .await)?;
        r.map(|(m, reference)| Ok((super::rows::merchant(&m)?, reference)))
            .transpose()
    }
}
