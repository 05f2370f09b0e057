//! A write transaction and the operations the apply pipeline performs in it.

use sqlx::{Postgres, Sqlite, Transaction};

use super::conn::on_tx;
use super::rows::{InboxEvent, InboxStatus, NewInboxEvent, OrderRow, PaymentRow};
use super::StoreError;
use crate::domain::{JournalTx, Order, Payment};

pub enum Tx {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

pub(super) const INBOX_COLUMNS: &str =
    "id, idempotency_key, source, provider, event_type, reference, \
     received_at_ms, applied_at_ms, status, reason, shard, seq, envelope";

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

    /// Announces, on commit, that orders may have changed: a Postgres `NOTIFY` every replica
    /// relays to its live status streams (see `changes`). SQLite has one process: nothing to do.
    pub async fn announce_change(&mut self) -> Result<(), StoreError> {
        if let Tx::Postgres(t) = self {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(crate::changes::CHANNEL)
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

    /// Records a new inbox event, provisionally `dead` until its outcome is set in the same
    /// transaction. `None` when the key is already known: the event is a duplicate. On
    /// Postgres a concurrent insert of the same key waits for the other transaction, so two
    /// replicas can never both apply one event.
    pub async fn insert_inbox(&mut self, e: &NewInboxEvent) -> Result<Option<i64>, StoreError> {
        let id: Option<i64> = on_tx!(self, c, _lock => sqlx::query_scalar(
            "INSERT INTO inbox_events (idempotency_key, source, provider, event_type,
                 received_at_ms, shard, seq, envelope, status, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'dead', 'not applied yet')
             ON CONFLICT (idempotency_key) DO NOTHING
             RETURNING id",
        )
        .bind(&e.key)
        .bind(&e.source)
        .bind(&e.provider)
        .bind(&e.event_type)
        .bind(e.received_at_ms)
        .bind(e.shard)
        .bind(e.seq)
        .bind(&e.envelope_json)
        .fetch_optional(c)
        .await)?;
        Ok(id)
    }

    pub async fn set_outcome(
        &mut self,
        id: i64,
        status: InboxStatus,
        reason: Option<&str>,
        reference: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let applied_at = (status != InboxStatus::Parked).then_some(now_ms);
        on_tx!(self, c, _lock => sqlx::query(
            "UPDATE inbox_events SET status = $1, reason = $2, reference = $3, applied_at_ms = $4
             WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(reference)
        .bind(applied_at)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The payment for `reference`, locked until the transaction ends (Postgres).
    pub async fn payment_for_update(
        &mut self,
        reference: &str,
    ) -> Result<Option<Payment>, StoreError> {
        let row: Option<PaymentRow> = on_tx!(self, c, lock => {
            let sql = format!(
                "SELECT reference, gateway, gateway_id, amount, currency, fees, channel, status,
                        refunded, disputed_from, paid_at, review_reason
                 FROM payments WHERE reference = $1{lock}"
            );
            sqlx::query_as(&sql).bind(reference).fetch_optional(c).await
        })?;
        row.map(Payment::try_from).transpose()
    }

    /// The order for `reference`, locked until the transaction ends (Postgres).
    pub async fn order_for_update(&mut self, reference: &str) -> Result<Option<Order>, StoreError> {
        let row: Option<OrderRow> = on_tx!(self, c, lock => {
            let sql = format!(
                "SELECT reference, amount, currency, status, review_reason
                 FROM orders WHERE reference = $1{lock}"
            );
            sqlx::query_as(&sql).bind(reference).fetch_optional(c).await
        })?;
        row.map(Order::try_from).transpose()
    }

    pub async fn save_payment(&mut self, p: &Payment, now_ms: i64) -> Result<(), StoreError> {
        on_tx!(self, c, _lock => sqlx::query(
            "INSERT INTO payments (reference, gateway, gateway_id, amount, currency, fees, channel,
                 status, refunded, disputed_from, paid_at, review_reason, created_at_ms,
                 updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
             ON CONFLICT (reference) DO UPDATE SET
                 gateway_id = excluded.gateway_id, amount = excluded.amount,
                 currency = excluded.currency, fees = excluded.fees, channel = excluded.channel,
                 status = excluded.status, refunded = excluded.refunded,
                 disputed_from = excluded.disputed_from, paid_at = excluded.paid_at,
                 review_reason = excluded.review_reason, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&p.reference)
        .bind(&p.gateway)
        .bind(&p.gateway_id)
        .bind(p.amount.get())
        .bind(p.currency.as_str())
        .bind(p.fees.get())
        .bind(&p.channel)
        .bind(p.status.as_str())
        .bind(p.refunded.get())
        .bind(p.disputed_from.map(|s| s.as_str()))
        .bind(&p.paid_at)
        .bind(&p.review_reason)
        .bind(now_ms)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn save_order(&mut self, o: &Order, now_ms: i64) -> Result<(), StoreError> {
        on_tx!(self, c, _lock => sqlx::query(
            "UPDATE orders SET status = $1, review_reason = $2, updated_at_ms = $3,
                 version = version + 1
             WHERE reference = $4",
        )
        .bind(o.status.as_str())
        .bind(&o.review_reason)
        .bind(now_ms)
        .bind(&o.reference)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Appends a balanced journal transaction; returns its id.
    pub async fn post_journal(
        &mut self,
        j: &JournalTx,
        event_key: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        j.check_balanced()
            .map_err(|e| StoreError::Corrupt(format!("refusing to post: {e}")))?;
        let id: i64 = on_tx!(self, c, _lock => sqlx::query_scalar(
            "INSERT INTO journal_transactions (reference, kind, event_key, posted_at_ms)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&j.reference)
        .bind(j.kind.as_str())
        .bind(event_key)
        .bind(now_ms)
        .fetch_one(&mut *c)
        .await)?;
        // All entries in one statement: one round trip per transaction, not per line.
        if !j.entries.is_empty() {
            on_tx!(self, c, _lock => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO journal_entries (transaction_id, account, currency, amount) ",
                );
                q.push_values(&j.entries, |mut row, e| {
                    row.push_bind(id)
                        .push_bind(e.account.as_str())
                        .push_bind(e.currency.as_str())
                        .push_bind(e.amount.get());
                });
                q.build().execute(c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(id)
    }

    /// Events parked on `reference`, oldest first, locked (Postgres).
    pub async fn parked_for(&mut self, reference: &str) -> Result<Vec<InboxEvent>, StoreError> {
        let rows = on_tx!(self, c, lock => {
            let sql = format!(
                "SELECT {INBOX_COLUMNS} FROM inbox_events
                 WHERE status = 'parked' AND reference = $1 ORDER BY id{lock}"
            );
            sqlx::query_as(&sql).bind(reference).fetch_all(c).await
        })?;
        Ok(rows)
    }

    /// Whether any event is parked at all (a partial index makes this one cheap lookup).
    pub async fn any_parked(&mut self) -> Result<bool, StoreError> {
        let n: i64 = on_tx!(self, c, _lock => sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM inbox_events WHERE status = 'parked' LIMIT 1) AS p",
        )
        .fetch_one(c)
        .await)?;
        Ok(n > 0)
    }

    /// An inbox event by id, locked (Postgres): the replay path reads it through here.
    pub async fn inbox_event_for_update(
        &mut self,
        id: i64,
    ) -> Result<Option<InboxEvent>, StoreError> {
        let row = on_tx!(self, c, lock => {
            let sql = format!("SELECT {INBOX_COLUMNS} FROM inbox_events WHERE id = $1{lock}");
            sqlx::query_as(&sql).bind(id).fetch_optional(c).await
        })?;
        Ok(row)
    }

    /// Moves the shard's cursor forward to `seq` (never back).
    pub async fn advance_cursor(
        &mut self,
        shard: i64,
        seq: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
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
