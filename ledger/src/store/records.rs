//! What the admin API and the dashboard show: orders, payments and inbox events as records
//! (with their timestamps and metadata), keyset-paginated lists (stable under concurrent
//! writes, unlike OFFSET), inbox counts, and the change feed's catch-up read.

use keffi_shared::{Currency, MerchantId, MinorUnits, Provider};
use serde::Serialize;
use utoipa::ToSchema;

use super::conn::{on_pool, on_tx};
pub use super::rows::OrderRecord;
use super::rows::{
    currency, gateway, InboxEvent, PaymentRow, INBOX_COLUMNS, ORDER_COLUMNS, PAYMENT_ROW_COLUMNS,
};
use super::{Store, StoreError, Tx};
use crate::domain::{OrderStatus, PaymentStatus};

/// A payment as the API shows it, built from the table's one read model.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentRecord {
    pub reference: String,
    pub gateway: Provider,
    pub gateway_id: Option<String>,
    /// What the gateway captured (before capture: what the order expects).
    pub amount: MinorUnits,
    /// What the merchant asked for: `amount` less fees passed on to the customer.
    pub requested_amount: MinorUnits,
    pub currency: Currency,
    pub fees: MinorUnits,
    pub channel: Option<String>,
    pub status: crate::domain::PaymentStatus,
    /// Returned by refunds.
    pub refunded: MinorUnits,
    /// Returned by disputes the merchant lost or accepted.
    pub charged_back: MinorUnits,
    /// Held now by open disputes.
    pub held: MinorUnits,
    /// Every dispute on this payment, by the gateway's id.
    pub disputes: Vec<crate::domain::payment::Dispute>,
    pub paid_at: Option<String>,
    pub review_reason: Option<String>,
    /// Captures beyond the first (the customer paid twice): each journaled; refund one.
    pub also_captured: Vec<crate::domain::payment::Capture>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl TryFrom<PaymentRow> for PaymentRecord {
    type Error = StoreError;
    fn try_from(r: PaymentRow) -> Result<Self, StoreError> {
        let disputes = r.disputes()?;
        let held = crate::domain::payment::held_by(&disputes);
        let also_captured = r.also_captured()?;
        Ok(PaymentRecord {
            also_captured,
            reference: r.reference,
            gateway: gateway(&r.gateway)?,
            gateway_id: r.gateway_id,
            amount: MinorUnits(r.amount),
            requested_amount: MinorUnits(r.requested_amount),
            currency: currency(&r.currency)?,
            fees: MinorUnits(r.fees),
            channel: r.channel,
            status: r.status,
            refunded: MinorUnits(r.refunded),
            charged_back: MinorUnits(r.charged_back),
            held,
            disputes,
            paid_at: r.paid_at,
            review_reason: r.review_reason,
            created_at_ms: r.created_at_ms,
            updated_at_ms: r.updated_at_ms,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StatusCount {
    pub status: super::InboxStatus,
    pub count: i64,
}

impl Tx {
    /// The order as the API shows it, as this transaction sees it (its own writes included).
    pub async fn order_record(
        &mut self,
        merchant: &MerchantId,
        reference: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let sql =
            format!("SELECT {ORDER_COLUMNS} FROM orders WHERE merchant_id = $1 AND reference = $2");
        let row = on_tx!(self, c, _lock => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .bind(reference)
            .fetch_optional(c)
            .await)?;
        Ok(row)
    }

    /// The payment as the API shows it, as this transaction sees it.
    pub async fn payment_record(
        &mut self,
        merchant: &MerchantId,
        reference: &str,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        let sql = format!(
            "SELECT {PAYMENT_ROW_COLUMNS} FROM payments WHERE merchant_id = $1 AND reference = $2"
        );
        let row: Option<PaymentRow> = on_tx!(self, c, _lock => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .bind(reference)
            .fetch_optional(c)
            .await)?;
        row.map(PaymentRecord::try_from).transpose()
    }
}

/// A position in a newest-first list: the last row's timestamp and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub at_ms: i64,
    pub key: String,
}

impl Store {
    /// Orders changed at or after `since_ms`, oldest change first, at most `limit`, with the
    /// newest `updated_at_ms` among them: the change feed's catch-up (an index on
    /// `updated_at_ms` makes this a range read of what changed).
    pub async fn orders_changed_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<(Vec<super::notify::OrderChange>, Option<i64>), StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            change: super::notify::OrderChange,
            updated_at_ms: i64,
        }
        let rows: Vec<Row> = on_pool!(self, c => sqlx::query_as(
            "SELECT merchant_id, reference, status, amount, currency, review_reason, version,
                    updated_at_ms
             FROM orders WHERE updated_at_ms >= $1 ORDER BY updated_at_ms LIMIT $2",
        )
        .bind(since_ms)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await)?;
        let newest = rows.iter().map(|r| r.updated_at_ms).max();
        Ok((rows.into_iter().map(|r| r.change).collect(), newest))
    }

    pub async fn order_record(
        &self,
        merchant: &MerchantId,
        reference: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let sql =
            format!("SELECT {ORDER_COLUMNS} FROM orders WHERE merchant_id = $1 AND reference = $2");
        let row = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .bind(reference)
            .fetch_optional(c)
            .await)?;
        Ok(row)
    }

    /// The merchant's orders newest first, optionally with one status, after a cursor.
    pub async fn list_orders(
        &self,
        merchant: &MerchantId,
        status: Option<OrderStatus>,
        after: Option<&After>,
        limit: u32,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        let select = format!("SELECT {ORDER_COLUMNS} FROM orders");
        let status = status.map(|s| s.as_str());
        self.newest_first(&select, merchant, "created_at_ms", status, after, limit)
            .await
    }

    pub async fn payment_record(
        &self,
        merchant: &MerchantId,
        reference: &str,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        let sql = format!(
            "SELECT {PAYMENT_ROW_COLUMNS} FROM payments WHERE merchant_id = $1 AND reference = $2"
        );
        let row: Option<PaymentRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .bind(reference)
            .fetch_optional(c)
            .await)?;
        row.map(PaymentRecord::try_from).transpose()
    }

    /// The merchant's payments, most recently changed first.
    pub async fn list_payments(
        &self,
        merchant: &MerchantId,
        status: Option<PaymentStatus>,
        after: Option<&After>,
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let select = format!("SELECT {PAYMENT_ROW_COLUMNS} FROM payments");
        let status = status.map(|s| s.as_str());
        let rows: Vec<PaymentRow> = self
            .newest_first(&select, merchant, "updated_at_ms", status, after, limit)
            .await?;
        rows.into_iter().map(PaymentRecord::try_from).collect()
    }

    /// One page of `select` (a table keyed by `reference`, with a `status`), newest `time`
    /// first, optionally with one status, after a cursor: the keyset paging every list shares.
    async fn newest_first<T>(
        &self,
        select: &str,
        merchant: &MerchantId,
        time: &str,
        status: Option<&str>,
        after: Option<&After>,
        limit: u32,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + Send
            + Unpin,
    {
        let sql = format!(
            "{select}
             WHERE merchant_id = $5 AND ($1 IS NULL OR status = $1)
               AND ($2 IS NULL OR {time} < $2 OR ({time} = $2 AND reference < $3))
             ORDER BY {time} DESC, reference DESC LIMIT $4"
        );
        let rows = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(status)
            .bind(after.map(|a| a.at_ms))
            .bind(after.map(|a| a.key.as_str()).unwrap_or_default())
            .bind(i64::from(limit))
            .bind(merchant.as_str())
            .fetch_all(c)
            .await)?;
        Ok(rows)
    }

    pub async fn inbox_event(
        &self,
        merchant: &MerchantId,
        id: i64,
    ) -> Result<Option<InboxEvent>, StoreError> {
        let sql =
            format!("SELECT {INBOX_COLUMNS} FROM inbox_events WHERE merchant_id = $1 AND id = $2");
        let row = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .bind(id)
            .fetch_optional(c)
            .await)?;
        Ok(row)
    }

    /// The merchant's inbox events newest first (by id), optionally one status and/or one
    /// reference.
    pub async fn list_events(
        &self,
        merchant: &MerchantId,
        status: Option<&str>,
        reference: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        let sql = format!(
            "SELECT {INBOX_COLUMNS} FROM inbox_events
             WHERE merchant_id = $5 AND ($1 IS NULL OR status = $1)
               AND ($2 IS NULL OR reference = $2) AND ($3 IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4"
        );
        let rows = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(status)
            .bind(reference)
            .bind(before_id)
            .bind(i64::from(limit))
            .bind(merchant.as_str())
            .fetch_all(c)
            .await)?;
        Ok(rows)
    }

    /// The merchant's inbox events, counted by status.
    pub async fn inbox_counts(
        &self,
        merchant: &MerchantId,
    ) -> Result<Vec<StatusCount>, StoreError> {
        let rows = on_pool!(self, c => sqlx::query_as(
            "SELECT status, COUNT(*) AS count FROM inbox_events WHERE merchant_id = $1
             GROUP BY status ORDER BY status",
        )
        .bind(merchant.as_str())
        .fetch_all(c)
        .await)?;
        Ok(rows)
    }

    pub async fn inbox_by_key(
        &self,
        merchant: &MerchantId,
        key: &str,
    ) -> Result<Option<InboxEvent>, StoreError> {
        let sql = format!(
            "SELECT {INBOX_COLUMNS} FROM inbox_events
             WHERE merchant_id = $1 AND idempotency_key = $2"
        );
        let row = on_pool!(self, c => sqlx::query_as(&sql)
        .bind(merchant.as_str())
        .bind(key)
        .fetch_optional(c)
        .await)?;
        Ok(row)
    }
}
