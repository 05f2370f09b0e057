//! Reads and small writes outside the apply pipeline: orders created by the merchant's app,
//! lookups, balances, inbox review, and the shard cursors and their leases.

use keffi_shared::{Currency, MinorUnits};
use serde::Serialize;

use super::conn::on_pool;
use super::rows::{InboxEvent, OrderRow, PaymentRow};
use super::{Store, StoreError};
use crate::domain::{order_meets_payment, Order, OrderStatus, Payment};

/// Creating an order failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateOrderError {
    #[error("an order with reference `{0}` already exists")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One journal transaction with its entries, for reading.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostedTransaction {
    pub id: i64,
    pub reference: String,
    pub kind: String,
    pub event_key: String,
    pub posted_at_ms: i64,
    pub entries: Vec<PostedEntry>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PostedEntry {
    #[serde(skip)]
    pub transaction_id: i64,
    pub account: String,
    pub currency: String,
    pub amount: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct TransactionRow {
    id: i64,
    reference: String,
    kind: String,
    event_key: String,
    posted_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Balance {
    pub account: String,
    pub currency: String,
    pub balance: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Cursor {
    pub shard: i64,
    pub last_seq: i64,
    pub lease_holder: Option<String>,
    pub lease_expires_at_ms: Option<i64>,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StatusCount {
    pub status: String,
    pub count: i64,
}

impl Store {
    /// Creates an order and the pending payment it expects, in one transaction.
    pub async fn create_order(
        &self,
        reference: &str,
        amount: MinorUnits,
        currency: Currency,
        metadata: Option<&str>,
        now_ms: i64,
    ) -> Result<Order, CreateOrderError> {
        let mut tx = self.begin().await?;
        let inserted: Option<String> = super::conn::on_tx!(&mut tx, c, _lock => sqlx::query_scalar(
            "INSERT INTO orders (reference, amount, currency, status, metadata, created_at_ms,
                 updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (reference) DO NOTHING RETURNING reference",
        )
        .bind(reference)
        .bind(amount.get())
        .bind(currency.as_str())
        .bind(OrderStatus::Pending.as_str())
        .bind(metadata)
        .bind(now_ms)
        .fetch_optional(c)
        .await)
        .map_err(StoreError::from)?;
        if inserted.is_none() {
            tx.rollback().await?;
            return Err(CreateOrderError::Exists(reference.to_owned()));
        }
        let mut order = Order {
            reference: reference.to_owned(),
            amount,
            currency,
            status: OrderStatus::Pending,
            review_reason: None,
        };
        match tx.payment_for_update(reference).await? {
            None => {
                tx.save_payment(
                    &Payment::pending(reference, "paystack", amount, currency),
                    now_ms,
                )
                .await?
            }
            // The charge arrived first (an order-less payment): the order takes its state now,
            // or it would wait for a charge that will never come again.
            Some(payment) => {
                if let Some((adopted, payment)) = order_meets_payment(&order, &payment) {
                    tx.save_order(&adopted, now_ms).await?;
                    tx.save_payment(&payment, now_ms).await?;
                    order = adopted;
                }
            }
        }
        tx.commit().await?;
        Ok(order)
    }

    pub async fn order(&self, reference: &str) -> Result<Option<Order>, StoreError> {
        let row: Option<OrderRow> = on_pool!(self, c => sqlx::query_as(
            "SELECT reference, amount, currency, status, review_reason FROM orders WHERE reference = $1",
        )
        .bind(reference)
        .fetch_optional(c)
        .await)?;
        row.map(Order::try_from).transpose()
    }

    pub async fn payment(&self, reference: &str) -> Result<Option<Payment>, StoreError> {
        let row: Option<PaymentRow> = on_pool!(self, c => sqlx::query_as(
            "SELECT reference, gateway, gateway_id, amount, currency, fees, channel, status,
                    refunded, disputed_from, paid_at, review_reason
             FROM payments WHERE reference = $1",
        )
        .bind(reference)
        .fetch_optional(c)
        .await)?;
        row.map(Payment::try_from).transpose()
    }

    /// The journal transactions for `reference`, oldest first, with their entries.
    pub async fn journal_for(&self, reference: &str) -> Result<Vec<PostedTransaction>, StoreError> {
        let ids: Vec<i64> = on_pool!(self, c => sqlx::query_scalar(
            "SELECT id FROM journal_transactions WHERE reference = $1 ORDER BY id",
        )
        .bind(reference)
        .fetch_all(c)
        .await)?;
        self.journal_by_ids(&ids).await
    }

    /// The transactions with these ids, with their entries, in the order given.
    pub async fn journal_by_ids(&self, ids: &[i64]) -> Result<Vec<PostedTransaction>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let list = placeholders.join(", ");
        let tx_sql = format!(
            "SELECT id, reference, kind, event_key, posted_at_ms FROM journal_transactions
             WHERE id IN ({list})"
        );
        let entry_sql = format!(
            "SELECT transaction_id, account, currency, amount FROM journal_entries
             WHERE transaction_id IN ({list}) ORDER BY id"
        );
        let txs: Vec<TransactionRow> = on_pool!(self, c => {
            let mut q = sqlx::query_as(&tx_sql);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(c).await
        })?;
        let entries: Vec<PostedEntry> = on_pool!(self, c => {
            let mut q = sqlx::query_as(&entry_sql);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(c).await
        })?;
        Ok(ids
            .iter()
            .filter_map(|id| txs.iter().find(|t| t.id == *id))
            .map(|t| PostedTransaction {
                entries: entries
                    .iter()
                    .filter(|e| e.transaction_id == t.id)
                    .cloned()
                    .collect(),
                id: t.id,
                reference: t.reference.clone(),
                kind: t.kind.clone(),
                event_key: t.event_key.clone(),
                posted_at_ms: t.posted_at_ms,
            })
            .collect())
    }

    /// Balances per account and currency: sums of the journal's entries.
    pub async fn balances(&self) -> Result<Vec<Balance>, StoreError> {
        let rows = on_pool!(self, c => sqlx::query_as(
            "SELECT account, currency, CAST(SUM(amount) AS BIGINT) AS balance FROM journal_entries
             GROUP BY account, currency ORDER BY account, currency",
        )
        .fetch_all(c)
        .await)?;
        Ok(rows)
    }

    /// Journal transactions whose entries do not sum to zero in some currency (should be none).
    pub async fn unbalanced_transactions(&self) -> Result<i64, StoreError> {
        let n: i64 = on_pool!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT transaction_id, currency FROM journal_entries
                 GROUP BY transaction_id, currency HAVING SUM(amount) <> 0) AS unbalanced",
        )
        .fetch_one(c)
        .await)?;
        Ok(n)
    }

    pub async fn inbox_counts(&self) -> Result<Vec<StatusCount>, StoreError> {
        let rows = on_pool!(self, c => sqlx::query_as(
            "SELECT status, COUNT(*) AS count FROM inbox_events GROUP BY status ORDER BY status",
        )
        .fetch_all(c)
        .await)?;
        Ok(rows)
    }

    pub async fn inbox_by_key(&self, key: &str) -> Result<Option<InboxEvent>, StoreError> {
        let row = on_pool!(self, c => sqlx::query_as(
            "SELECT id, idempotency_key, source, provider, event_type, reference, received_at_ms,
                    applied_at_ms, status, reason, shard, seq, envelope
             FROM inbox_events WHERE idempotency_key = $1",
        )
        .bind(key)
        .fetch_optional(c)
        .await)?;
        Ok(row)
    }

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
