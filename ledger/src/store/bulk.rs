//! Set-wise reads and writes for the apply pipeline's fast path: a batch of a thousand events
//! costs a handful of statements, not ten per event, because on both backends the round trip
//! (loopback to Postgres, a hop to sqlx's SQLite worker thread) costs more than the row.
//!
//! Rows go in chunks small enough for either backend's bound-parameter limit (SQLite 32,766,
//! Postgres 65,535). Locks are taken in one order — payments by reference, then orders by
//! reference, then inbox keys sorted — so two Postgres replicas applying overlapping batches
//! wait for each other instead of deadlocking.

use std::collections::{HashMap, HashSet};

use keffi_shared::MerchantId;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::QueryBuilder;

use super::conn::on_tx;
use super::records::OrderRecord;
use super::rows::{
    InboxEvent, InboxStatus, NewInboxEvent, PaymentRow, INBOX_COLUMNS, ORDER_STATE_COLUMNS,
    PAYMENT_STATE_COLUMNS,
};
use super::{StoreError, Tx};
use crate::domain::{JournalTx, Order, Payment};

/// Rows per statement: the widest row (a payment) binds 16 parameters.
const CHUNK: usize = 1_000;

/// Whether a set-wise read locks what it reads (Postgres `FOR UPDATE`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    No,
    ForUpdate,
}

/// A new inbox event with its outcome, to record in one go.
#[derive(Debug, Clone)]
pub struct SettledInbox<'a> {
    pub event: &'a NewInboxEvent,
    pub status: InboxStatus,
    pub reason: Option<&'a str>,
    pub reference: Option<&'a str>,
}

/// One inbox event's outcome, to record.
#[derive(Debug, Clone)]
pub struct OutcomeRow<'a> {
    pub id: i64,
    pub status: InboxStatus,
    pub reason: Option<&'a str>,
    pub reference: Option<&'a str>,
}

impl Tx {
    /// Which of `keys` the merchant's inbox already holds (duplicates: dedupe is per
    /// merchant, so another merchant's event with the same key is not one).
    pub async fn known_keys(
        &mut self,
        merchant: &MerchantId,
        keys: &[&str],
    ) -> Result<HashSet<String>, StoreError> {
        let rows: Vec<(String,)> = self
            .rows_in(
                "SELECT idempotency_key FROM inbox_events",
                merchant,
                "idempotency_key",
                keys,
                "",
                Lock::No,
            )
            .await?;
        Ok(rows.into_iter().map(|(k,)| k).collect())
    }

    /// Records new inbox events with their outcomes, in key order (each key once), and
    /// returns the id each key got. A key that turns out to be taken — another writer
    /// recorded it since [`Tx::known_keys`] — fails with [`StoreError::Raced`]: the caller
    /// rolls back. On Postgres the insert waits for a concurrent transaction holding the same
    /// key, so the race is always seen.
    pub async fn insert_inbox_settled(
        &mut self,
        events: &[SettledInbox<'_>],
        now_ms: i64,
    ) -> Result<HashMap<String, i64>, StoreError> {
        let mut ids = HashMap::with_capacity(events.len());
        for chunk in events.chunks(CHUNK) {
            let inserted: Vec<(i64, String)> = on_tx!(self, c, _lock => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO inbox_events (merchant_id, idempotency_key, source, provider,
                         event_type, received_at_ms, shard, seq, envelope, status, reason,
                         reference, applied_at_ms) ",
                );
                q.push_values(chunk, |mut b, s| {
                    let e = s.event;
                    let applied_at = (s.status != InboxStatus::Parked).then_some(now_ms);
                    b.push_bind(e.merchant.as_str())
                        .push_bind(&e.key)
                        .push_bind(&e.source)
                        .push_bind(e.provider.as_str())
                        .push_bind(&e.event_type)
                        .push_bind(e.received_at_ms)
                        .push_bind(e.shard_column())
                        .push_bind(e.seq_column())
                        .push_bind(&e.envelope_json)
                        .push_bind(s.status.as_str())
                        .push_bind(s.reason)
                        .push_bind(s.reference)
                        .push_bind(applied_at);
                });
                q.push(
                    " ON CONFLICT (merchant_id, idempotency_key) DO NOTHING
                     RETURNING id, idempotency_key",
                );
                q.build_query_as().fetch_all(c).await
            })?;
            if inserted.len() != chunk.len() {
                let inserted: HashSet<&str> = inserted.iter().map(|(_, k)| k.as_str()).collect();
                let taken = chunk
                    .iter()
                    .find(|s| !inserted.contains(s.event.key.as_str()))
                    .map_or_else(String::new, |s| s.event.key.clone());
                return Err(StoreError::Raced(taken));
            }
            ids.extend(inserted.into_iter().map(|(id, key)| (key, id)));
        }
        Ok(ids)
    }

    /// The merchant's payments for `references` (sorted, distinct), locked until the
    /// transaction ends (Postgres).
    pub async fn payments_for_update(
        &mut self,
        merchant: &MerchantId,
        references: &[&str],
    ) -> Result<Vec<Payment>, StoreError> {
        let head = format!("SELECT {PAYMENT_STATE_COLUMNS} FROM payments");
        let rows: Vec<PaymentRow> = self
            .rows_in(
                &head,
                merchant,
                "reference",
                references,
                " ORDER BY reference",
                Lock::ForUpdate,
            )
            .await?;
        rows.into_iter().map(Payment::try_from).collect()
    }

    /// The orders for `references` (sorted, distinct), each with its version, locked until the
    /// transaction ends (Postgres). The rows are read without the columns the domain does not
    /// use and are returned as domain orders, so no record with those fields missing leaves
    /// the store.
    pub async fn orders_for_update(
        &mut self,
        merchant: &MerchantId,
        references: &[&str],
    ) -> Result<Vec<(Order, i64)>, StoreError> {
        let head = format!("SELECT {ORDER_STATE_COLUMNS} FROM orders");
        let rows: Vec<OrderRecord> = self
            .rows_in(
                &head,
                merchant,
                "reference",
                references,
                " ORDER BY reference",
                Lock::ForUpdate,
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let version = r.version;
                Ok((Order::try_from(r)?, version))
            })
            .collect()
    }

    /// The merchant's events parked on any of `references`, oldest first, locked (Postgres).
    pub async fn parked_on(
        &mut self,
        merchant: &MerchantId,
        references: &[&str],
    ) -> Result<Vec<InboxEvent>, StoreError> {
        let head = format!("SELECT {INBOX_COLUMNS} FROM inbox_events");
        let mut rows: Vec<InboxEvent> = self
            .rows_in(
                &head,
                merchant,
                "status = 'parked' AND reference",
                references,
                " ORDER BY id",
                Lock::ForUpdate,
            )
            .await?;
        // Chunks are each in order; the whole must be too.
        rows.sort_by_key(|e| e.id);
        Ok(rows)
    }

    /// `{head} WHERE merchant_id = $m AND {column} IN ($1, …){tail}`, with the row lock if
    /// asked, over `values` in chunks.
    async fn rows_in<T>(
        &mut self,
        head: &str,
        merchant: &MerchantId,
        column: &str,
        values: &[&str],
        tail: &str,
        lock: Lock,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let mut out = Vec::with_capacity(values.len());
        for chunk in values.chunks(CHUNK) {
            let rows: Vec<T> = on_tx!(self, c, for_update => {
                let mut q = QueryBuilder::new(head);
                q.push(" WHERE merchant_id = ").push_bind(merchant.as_str()).push(" AND ");
                q.push(column).push(" IN (");
                let mut list = q.separated(", ");
                for v in chunk {
                    list.push_bind(*v);
                }
                q.push(")").push(tail);
                if lock == Lock::ForUpdate {
                    q.push(for_update);
                }
                q.build_query_as().fetch_all(c).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Saves the merchant's payments in their end state (each reference once).
    pub async fn save_payments(
        &mut self,
        merchant: &MerchantId,
        payments: &[Payment],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for chunk in payments.chunks(CHUNK) {
            on_tx!(self, c, _lock => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO payments (merchant_id, reference, gateway, gateway_id, amount,
                         requested_amount, currency, fees, channel, status, refunded,
                         charged_back, disputes, paid_at, review_reason, also_captured,
                         also_captured_total, created_at_ms, updated_at_ms) ",
                );
                q.push_values(chunk, |mut b, p| {
                    b.push_bind(merchant.as_str())
                        .push_bind(&p.reference)
                        .push_bind(p.gateway.as_str())
                        .push_bind(&p.gateway_id)
                        .push_bind(p.amount.get())
                        .push_bind(p.requested.get())
                        .push_bind(p.currency.as_str())
                        .push_bind(p.fees.get())
                        .push_bind(&p.channel)
                        .push_bind(p.status.as_str())
                        .push_bind(p.refunded.get())
                        .push_bind(p.charged_back.get())
                        .push_bind(disputes_json(p))
                        .push_bind(&p.paid_at)
                        .push_bind(&p.review_reason)
                        .push_bind(captures_json(p))
                        .push_bind(p.captured_total().get() - p.amount.get())
                        .push_bind(now_ms)
                        .push_bind(now_ms);
                });
                q.push(
                    " ON CONFLICT (merchant_id, reference) DO UPDATE SET
                         gateway = excluded.gateway,
                         gateway_id = excluded.gateway_id, amount = excluded.amount,
                         requested_amount = excluded.requested_amount,
                         currency = excluded.currency, fees = excluded.fees,
                         channel = excluded.channel, status = excluded.status,
                         refunded = excluded.refunded, charged_back = excluded.charged_back,
                         disputes = excluded.disputes,
                         paid_at = excluded.paid_at, review_reason = excluded.review_reason,
                         also_captured = excluded.also_captured,
                         also_captured_total = excluded.also_captured_total,
                         updated_at_ms = excluded.updated_at_ms",
                );
                q.build().execute(c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Saves orders in their end state (each reference once), bumping each one's version
    /// once: the live status stream sees one change per batch, the batch's end state. (The
    /// caller knows the new versions: it read the orders, locked, in this transaction.)
    pub async fn save_orders(
        &mut self,
        merchant: &MerchantId,
        orders: &[Order],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for chunk in orders.chunks(CHUNK) {
            on_tx!(self, c, _lock => {
                // A CTE names the VALUES columns the same way on both backends.
                let mut q = QueryBuilder::new("WITH v (reference, status, review_reason) AS (");
                q.push_values(chunk, |mut b, o| {
                    b.push_bind(&o.reference)
                        .push_bind(o.status.as_str())
                        .push_bind(&o.review_reason);
                });
                q.push(
                    ") UPDATE orders SET status = v.status, review_reason = v.review_reason,
                         version = orders.version + 1, updated_at_ms = ",
                );
                q.push_bind(now_ms);
                q.push(" FROM v WHERE orders.merchant_id = ")
                    .push_bind(merchant.as_str())
                    .push(" AND orders.reference = v.reference");
                q.build().execute(c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Records outcomes (each id once).
    pub async fn set_outcomes(
        &mut self,
        outcomes: &[OutcomeRow<'_>],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for chunk in outcomes.chunks(CHUNK) {
            on_tx!(self, c, _lock => {
                let mut q = QueryBuilder::new(
                    "WITH v (id, status, reason, reference, applied_at_ms) AS (",
                );
                q.push_values(chunk, |mut b, o| {
                    let applied_at = (o.status != InboxStatus::Parked).then_some(now_ms);
                    b.push_bind(o.id)
                        .push_bind(o.status.as_str())
                        .push_bind(o.reason)
                        .push_bind(o.reference)
                        .push_bind(applied_at);
                });
                q.push(
                    ") UPDATE inbox_events SET status = v.status, reason = v.reason,
                         reference = v.reference, applied_at_ms = v.applied_at_ms
                     FROM v WHERE inbox_events.id = v.id",
                );
                q.build().execute(c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Appends the merchant's balanced journal transactions, each posted by the inbox event
    /// whose id it carries (one per event).
    pub async fn post_journals(
        &mut self,
        merchant: &MerchantId,
        journal: &[(i64, &JournalTx)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for (_, j) in journal {
            j.check_balanced()
                .map_err(|e| StoreError::Corrupt(format!("refusing to post: {e}")))?;
        }
        for chunk in journal.chunks(CHUNK) {
            let ids: Vec<(i64, i64)> = on_tx!(self, c, _lock => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO journal_transactions (merchant_id, reference, kind, event_id,
                         posted_at_ms) ",
                );
                q.push_values(chunk, |mut b, (event, j)| {
                    b.push_bind(merchant.as_str())
                        .push_bind(&j.reference)
                        .push_bind(j.kind.as_str())
                        .push_bind(*event)
                        .push_bind(now_ms);
                });
                q.push(" RETURNING id, event_id");
                q.build_query_as().fetch_all(c).await
            })?;
            // RETURNING's row order is unspecified (SQLite says so): match by event.
            let by_event: HashMap<i64, i64> = ids.iter().map(|(id, e)| (*e, *id)).collect();
            if by_event.len() != chunk.len() {
                return Err(StoreError::Corrupt(
                    "two journal transactions for one event in a batch".into(),
                ));
            }
            let entries: Vec<(i64, &crate::domain::Entry)> = chunk
                .iter()
                .flat_map(|(event, j)| {
                    let id = by_event[event];
                    j.entries.iter().map(move |e| (id, e))
                })
                .collect();
            for lines in entries.chunks(CHUNK * 4) {
                on_tx!(self, c, _lock => {
                    let mut q = QueryBuilder::new(
                        "INSERT INTO journal_entries (transaction_id, merchant_id, account,
                             currency, amount) ",
                    );
                    q.push_values(lines, |mut b, (id, e)| {
                        b.push_bind(*id)
                            .push_bind(merchant.as_str())
                            .push_bind(e.account.as_str())
                            .push_bind(e.currency.as_str())
                            .push_bind(e.amount.get());
                    });
                    q.build().execute(c).await.map(|r| r.rows_affected())
                })?;
            }
        }
        Ok(())
    }
}

/// A payment's disputes as stored (see `PaymentRow::disputes`).
/// NULL when the payment has no capture beyond its first.
fn captures_json(p: &Payment) -> Option<String> {
    (!p.also_captured.is_empty())
        .then(|| serde_json::to_string(&p.also_captured).unwrap_or_else(|_| "[]".into()))
}

fn disputes_json(p: &Payment) -> String {
    serde_json::to_string(&p.disputes).unwrap_or_else(|_| "[]".into())
}
