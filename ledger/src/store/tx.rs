//! A write transaction and the operations the apply pipeline performs in it.

use keffi_shared::wire::EdgePosition;
use keffi_shared::MerchantId;
use sqlx::{Postgres, Sqlite, Transaction};

use super::bulk::OutcomeRow;
use super::conn::on_tx;
use super::notify::OrderChange;
use super::records::OrderRecord;
use super::rows::{
    InboxEvent, InboxStatus, PaymentRow, INBOX_COLUMNS, ORDER_STATE_COLUMNS, PAYMENT_STATE_COLUMNS,
};
use super::StoreError;
use crate::domain::{Order, Payment};

pub enum Tx {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// The advisory-lock keys of `references` (each a merchant's): sorted and distinct, so every
/// transaction takes them in the same order. A key is the first 8 bytes of a SHA-256 of the
/// merchant and the reference, the same on every replica and every version; two references
/// sharing a key only wait for each other.
fn reference_lock_keys(references: &[(&MerchantId, &str)]) -> Vec<i64> {
    use sha2::{Digest, Sha256};
    let mut keys: Vec<i64> = references
        .iter()
        .map(|(m, r)| {
            // A merchant id has no `/`, so no two (merchant, reference) pairs share a text.
            let digest = Sha256::digest(format!("keffi:reference:{m}/{r}").as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            i64::from_be_bytes(first)
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Postgres(t) => t.commit().await?,
            Tx::Sqlite(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Postgres(t) => t.rollback().await?,
            Tx::Sqlite(t) => t.rollback().await?,
        }
        Ok(())
    }

    /// Announces, on commit, the orders this transaction moved: Postgres `NOTIFY`s carrying
    /// them, which every replica relays to the streams following them (see `changes`).
    /// SQLite has one process: its callers publish what they committed themselves.
    pub async fn announce_changes(&mut self, moved: &[OrderChange]) -> Result<(), StoreError> {
        if let Tx::Postgres(t) = self {
            for payload in super::notify::payloads(moved) {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(super::notify::CHANNEL)
                    .bind(payload)
                    .execute(&mut **t)
                    .await?;
            }
        }
        Ok(())
    }

    /// Takes the per-reference locks of `references` until the transaction ends (Postgres;
    /// SQLite's one connection already serialises writers).
    ///
    /// The one lock order: every path that reads or writes a reference's payment, order or
    /// parked events — a pulled batch, a replay, the sweeps, an order's creation — takes
    /// these locks first, all of them at once, in ascending key order, and only then reads.
    /// A row lock (`FOR UPDATE`) cannot do this job: it locks nothing while the row does not
    /// exist yet, which is exactly when an order's creation and its charge cross. Once the
    /// lock is held, every statement sees whatever the previous holder committed.
    pub async fn lock_references(
        &mut self,
        references: &[(&MerchantId, &str)],
    ) -> Result<(), StoreError> {
        if let Tx::Postgres(t) = self {
            let keys = reference_lock_keys(references);
            if keys.is_empty() {
                return Ok(());
            }
            // Volatile functions in the select list run after ORDER BY (Postgres 9.6+), so
            // the locks are taken in key order.
            sqlx::query(
                "SELECT pg_advisory_xact_lock(k)
                 FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, n) ORDER BY n",
            )
            .bind(&keys)
            .execute(&mut **t)
            .await?;
        }
        Ok(())
    }

    /// Runs a savepoint statement (`SAVEPOINT x`, `RELEASE SAVEPOINT x`, `ROLLBACK TO
    /// SAVEPOINT x`): one event's changes can be undone without losing the batch.
    async fn savepoint_statement(&mut self, sql: &str) -> Result<(), StoreError> {
        on_tx!(self, c, _lock => sqlx::query(sql).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn savepoint(&mut self) -> Result<(), StoreError> {
        self.savepoint_statement("SAVEPOINT keffi_event").await
    }

    pub async fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.savepoint_statement("RELEASE SAVEPOINT keffi_event")
            .await
    }

    pub async fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        self.savepoint_statement("ROLLBACK TO SAVEPOINT keffi_event")
            .await
    }

    pub async fn set_outcome(
        &mut self,
        id: i64,
        status: InboxStatus,
        reason: Option<&str>,
        reference: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let row = OutcomeRow {
            id,
            status,
            reason,
            reference,
        };
        self.set_outcomes(&[row], now_ms).await
    }

    /// The payment for `reference`, locked until the transaction ends (Postgres).
    pub async fn payment_for_update(
        &mut self,
        merchant: &MerchantId,
        reference: &str,
    ) -> Result<Option<Payment>, StoreError> {
        let row: Option<PaymentRow> = on_tx!(self, c, lock => {
            let sql = format!(
                "SELECT {PAYMENT_STATE_COLUMNS} FROM payments
                 WHERE merchant_id = $1 AND reference = $2{lock}"
            );
            sqlx::query_as(&sql).bind(merchant.as_str()).bind(reference).fetch_optional(c).await
        })?;
        row.map(Payment::try_from).transpose()
    }

    /// The order for `reference`, locked until the transaction ends (Postgres).
    pub async fn order_for_update(
        &mut self,
        merchant: &MerchantId,
        reference: &str,
    ) -> Result<Option<Order>, StoreError> {
        let row: Option<OrderRecord> = on_tx!(self, c, lock => {
            let sql = format!(
                "SELECT {ORDER_STATE_COLUMNS} FROM orders
                 WHERE merchant_id = $1 AND reference = $2{lock}"
            );
            sqlx::query_as(&sql).bind(merchant.as_str()).bind(reference).fetch_optional(c).await
        })?;
        row.map(Order::try_from).transpose()
    }

    pub async fn save_payment(
        &mut self,
        merchant: &MerchantId,
        p: &Payment,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.save_payments(merchant, std::slice::from_ref(p), now_ms)
            .await
    }

    /// Inserts the pending payment an order expects; never writes over a payment that exists
    /// (a charge's), which `save_payment` would.
    pub async fn insert_pending_payment(
        &mut self,
        merchant: &MerchantId,
        p: &Payment,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_tx!(self, c, _lock => sqlx::query(
            "INSERT INTO payments (merchant_id, reference, gateway, amount, requested_amount,
                 currency, status, created_at_ms, updated_at_ms)
             VALUES ($8, $1, $2, $3, $4, $5, $6, $7, $7)
             ON CONFLICT (merchant_id, reference) DO NOTHING",
        )
        .bind(&p.reference)
        .bind(p.gateway.as_str())
        .bind(p.amount.get())
        .bind(p.requested.get())
        .bind(p.currency.as_str())
        .bind(p.status.as_str())
        .bind(now_ms)
        .bind(merchant.as_str())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn save_order(
        &mut self,
        merchant: &MerchantId,
        o: &Order,
        now_ms: i64,
    ) -> Result<Vec<OrderChange>, StoreError> {
        self.save_orders(merchant, std::slice::from_ref(o), now_ms)
            .await?;
        Ok(self
            .order_record(merchant, &o.reference)
            .await?
            .map(|r| OrderChange::from(&r))
            .into_iter()
            .collect())
    }

    /// An inbox event by id, locked (Postgres): the replay path reads it through here.
    pub async fn inbox_event_for_update(
        &mut self,
        merchant: &MerchantId,
        id: i64,
    ) -> Result<Option<InboxEvent>, StoreError> {
        let row = on_tx!(self, c, lock => {
            let sql = format!(
                "SELECT {INBOX_COLUMNS} FROM inbox_events WHERE merchant_id = $1 AND id = $2{lock}"
            );
            sqlx::query_as(&sql).bind(merchant.as_str()).bind(id).fetch_optional(c).await
        })?;
        Ok(row)
    }

    /// Moves the shard's cursor forward to `to` (never back).
    pub async fn advance_cursor(
        &mut self,
        to: EdgePosition,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (shard, seq) = (i64::from(to.shard), to.seq as i64);
        on_tx!(self, c, _lock => sqlx::query(
            "UPDATE edge_cursors
             SET last_seq = CASE WHEN last_seq < $1 THEN $1 ELSE last_seq END, updated_at_ms = $2
             WHERE shard = $3",
        )
        .bind(seq)
        .bind(now_ms)
        .bind(shard)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::reference_lock_keys;
    use keffi_shared::MerchantId;

    #[test]
    fn lock_keys_are_stable_sorted_and_distinct() {
        let (m, n) = (
            MerchantId::parse("acme").unwrap(),
            MerchantId::parse("bolt").unwrap(),
        );
        let a = reference_lock_keys(&[(&m, "ord_2"), (&m, "ord_1"), (&m, "ord_2")]);
        assert_eq!(a.len(), 2);
        assert!(a[0] < a[1]);
        assert_eq!(a, reference_lock_keys(&[(&m, "ord_1"), (&m, "ord_2")]));
        assert_ne!(
            reference_lock_keys(&[(&m, "a")]),
            reference_lock_keys(&[(&m, "b")])
        );
        // Two merchants' `ord_1` are two orders: neither waits for the other.
        assert_ne!(
            reference_lock_keys(&[(&m, "ord_1")]),
            reference_lock_keys(&[(&n, "ord_1")])
        );
    }
}
