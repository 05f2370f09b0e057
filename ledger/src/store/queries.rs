//! Reads and small writes outside the apply pipeline: orders created by the merchant's app,
//! lookups, balances, inbox review, and the shard cursors and their leases.

use keffi_shared::{Currency, MinorUnits};
use serde::Serialize;

use super::conn::{on_pool, on_tx};
use super::rows::{InboxEvent, OrderRow, PaymentRow, PAYMENT_ROW_COLUMNS};
use super::{Store, StoreError, Tx};
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Balance {
    pub account: String,
    pub currency: String,
    /// Minor units. A sum of 64-bit entries can exceed 64 bits, so this is wider: JSON numbers
    /// have no width, and a reader must not assume it fits an i64.
    pub balance: i128,
}

/// A balance as the database can sum it without overflow (see `Store::balances`).
#[derive(Debug, sqlx::FromRow)]
struct BalanceParts {
    account: String,
    currency: String,
    billions: i64,
    units: i64,
}

/// The split of an amount in `Store::balances`: entries are summed as `amount / SPLIT` and
/// `amount % SPLIT`. Each part of an entry is below 10^10 in magnitude, so neither sum can
/// overflow a BIGINT before an account has about a billion entries.
const SPLIT: i64 = 1_000_000_000;

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

impl Tx {
    /// Creates an order and the pending payment it expects in this transaction. If the
    /// charge got there first, the order takes the payment's state at once.
    ///
    /// Crossing a batch that applies the order's charge is the common case on a laggy network
    /// (the phone's create is retried just as the webhook lands), so the reference's lock is
    /// taken first, as every path does: whichever of the two commits second sees the other.
    /// The pending payment is only ever inserted, never written over: a charge committed by
    /// the time this runs is adopted, not erased.
    pub async fn create_order(
        &mut self,
        reference: &str,
        amount: MinorUnits,
        currency: Currency,
        metadata: Option<&str>,
        now_ms: i64,
    ) -> Result<Order, CreateOrderError> {
        self.lock_references(&[reference]).await?;
        let inserted: Option<String> = on_tx!(self, c, _lock => sqlx::query_scalar(
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
            return Err(CreateOrderError::Exists(reference.to_owned()));
        }
        let order = Order {
            reference: reference.to_owned(),
            amount,
            currency,
            status: OrderStatus::Pending,
            review_reason: None,
        };
        match self.payment_for_update(reference).await? {
            None => {
                self.insert_pending_payment(
                    &Payment::pending(reference, "paystack", amount, currency),
                    now_ms,
                )
                .await?;
                Ok(order)
            }
            // The charge arrived first (an order-less payment): the order takes its state now,
            // or it would wait for a charge that will never come again.
            Some(payment) => match order_meets_payment(&order, &payment) {
                Some((adopted, payment)) => {
                    // The order is new in this transaction: no stream can follow it yet,
                    // so there is nothing to announce.
                    self.save_order(&adopted, now_ms).await?;
                    self.save_payment(&payment, now_ms).await?;
                    Ok(adopted)
                }
                None => Ok(order),
            },
        }
    }
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
        match tx
            .create_order(reference, amount, currency, metadata, now_ms)
            .await
        {
            Ok(order) => {
                tx.commit().await?;
                Ok(order)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
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
        let sql = format!("SELECT {PAYMENT_ROW_COLUMNS} FROM payments WHERE reference = $1");
        let row: Option<PaymentRow> =
            on_pool!(self, c => sqlx::query_as(&sql).bind(reference).fetch_optional(c).await)?;
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

    /// Balances per account and currency: sums of the journal's entries, exact whatever the
    /// entries hold. A plain `SUM(amount)` overflows a BIGINT on absurd (but signed, so
    /// accepted) amounts, and the route would fail until the rows were gone: instead the high
    /// and low parts are summed apart, in SQL both backends run alike (integer `/` and `%`
    /// truncate toward zero on both, so `amount = high * SPLIT + low`), and joined here.
    pub async fn balances(&self) -> Result<Vec<Balance>, StoreError> {
        let sql = format!(
            "SELECT account, currency, CAST(SUM(amount / {SPLIT}) AS BIGINT) AS billions,
                    CAST(SUM(amount % {SPLIT}) AS BIGINT) AS units
             FROM journal_entries GROUP BY account, currency ORDER BY account, currency"
        );
        let rows: Vec<BalanceParts> = on_pool!(self, c => sqlx::query_as(&sql).fetch_all(c).await)?;
        Ok(rows
            .into_iter()
            .map(|r| Balance {
                balance: i128::from(r.billions) * i128::from(SPLIT) + i128::from(r.units),
                account: r.account,
                currency: r.currency,
            })
            .collect())
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
