//! Rows as stored, and their conversion to and from the domain's types.

use keffi_shared::wire::EdgePosition;
use std::str::FromStr;

use keffi_shared::{Currency, MerchantId, MinorUnits, Provider};
use serde::Serialize;

use super::StoreError;
use crate::domain::payment::{Capture, Dispute};
use crate::domain::{Order, Payment, PaymentStatus};

/// What became of an inbox event. Stored as its snake_case name in a TEXT column.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
pub enum InboxStatus {
    Applied,
    Ignored,
    Parked,
    Dead,
}

keffi_shared::named_variants!(InboxStatus {
    Applied => "applied",
    Ignored => "ignored",
    Parked => "parked",
    Dead => "dead",
});

impl FromStr for InboxStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        InboxStatus::from_name(s).ok_or_else(|| format!("unknown event status `{s}`"))
    }
}

/// An event to record in the inbox.
#[derive(Debug, Clone)]
pub struct NewInboxEvent {
    /// Whose event it is: its source's merchant.
    pub merchant: MerchantId,
    pub key: String,
    pub source: String,
    pub provider: Provider,
    pub event_type: String,
    pub received_at_ms: i64,
    /// Where the edge stored it, for an event pulled from the edge.
    pub position: Option<EdgePosition>,
    pub envelope_json: String,
}

impl NewInboxEvent {
    /// The `shard` column: the edge shard, for a pulled event.
    pub fn shard_column(&self) -> Option<i64> {
        self.position.map(|p| i64::from(p.shard))
    }

    /// The `seq` column. A shard's log numbers its events from 1 in a SQLite integer
    /// column, so a sequence always fits an `i64`.
    pub fn seq_column(&self) -> Option<i64> {
        self.position.map(|p| p.seq as i64)
    }
}

/// The columns an [`InboxEvent`] reads, in its order.
pub(crate) const INBOX_COLUMNS: &str =
    "id, merchant_id, idempotency_key, source, provider, event_type, \
     reference, received_at_ms, applied_at_ms, status, reason, shard, seq, envelope";

/// An inbox event as stored (and, without its envelope, as the admin API shows it).
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct InboxEvent {
    pub id: i64,
    #[sqlx(try_from = "String")]
    #[schema(value_type = MerchantId)]
    pub merchant_id: MerchantId,
    pub idempotency_key: String,
    pub source: String,
    #[sqlx(try_from = "String")]
    pub provider: Provider,
    pub event_type: String,
    pub reference: Option<String>,
    pub received_at_ms: i64,
    pub applied_at_ms: Option<i64>,
    pub status: InboxStatus,
    pub reason: Option<String>,
    pub shard: Option<i64>,
    pub seq: Option<i64>,
    #[serde(skip)]
    #[schema(ignore)]
    pub envelope: String,
}

/// The columns a [`PaymentRow`] reads, in its order.
pub(crate) const PAYMENT_ROW_COLUMNS: &str = "reference, gateway, gateway_id, amount, \
     requested_amount, currency, fees, channel, status, refunded, charged_back, disputes, \
     paid_at, review_reason, also_captured, created_at_ms, updated_at_ms";

/// The same without the row's timestamps: what the apply path reads, locked. SQLite copies
/// every column of every row out of the statement, and a batch reads up to a thousand rows,
/// so the apply path reads only the columns the domain uses: not these two timestamps, nor
/// the order's timestamps and metadata.
pub(crate) const PAYMENT_STATE_COLUMNS: &str = "reference, gateway, gateway_id, amount, \
     requested_amount, currency, fees, channel, status, refunded, charged_back, disputes, \
     paid_at, review_reason, also_captured";

/// The one read model of the `payments` table: the domain's [`Payment`] and the API's
/// [`PaymentRecord`](super::records::PaymentRecord) are both built from it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct PaymentRow {
    pub reference: String,
    pub gateway: String,
    pub gateway_id: Option<String>,
    pub amount: i64,
    pub requested_amount: i64,
    pub currency: String,
    pub fees: i64,
    pub channel: Option<String>,
    pub status: PaymentStatus,
    pub refunded: i64,
    pub charged_back: i64,
    /// JSON, see [`Payment::disputes`].
    pub disputes: String,
    pub paid_at: Option<String>,
    pub review_reason: Option<String>,
    /// JSON, see [`Payment::also_captured`]; NULL for none.
    pub also_captured: Option<String>,
    /// Absent from the apply path's select ([`PAYMENT_STATE_COLUMNS`]), so 0 there; the
    /// domain's [`Payment`] has no timestamps.
    #[sqlx(default)]
    pub created_at_ms: i64,
    #[sqlx(default)]
    pub updated_at_ms: i64,
}

impl PaymentRow {
    pub fn also_captured(&self) -> Result<Vec<Capture>, StoreError> {
        match self.also_captured.as_deref() {
            None => Ok(Vec::new()),
            Some(json) => serde_json::from_str(json).map_err(|e| {
                StoreError::Corrupt(format!("captures of payment {}: {e}", self.reference))
            }),
        }
    }

    pub fn disputes(&self) -> Result<Vec<Dispute>, StoreError> {
        serde_json::from_str(&self.disputes).map_err(|e| {
            StoreError::Corrupt(format!("disputes of payment {}: {e}", self.reference))
        })
    }
}

/// A payment's gateway as stored: a provider's name.
pub(super) fn gateway(s: &str) -> Result<Provider, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("gateway `{s}`")))
}

/// A merchant id as stored.
pub(super) fn merchant(s: &str) -> Result<MerchantId, StoreError> {
    MerchantId::parse(s).map_err(|_| StoreError::Corrupt(format!("merchant id `{s}`")))
}

pub(super) fn currency(s: &str) -> Result<Currency, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("currency `{s}`")))
}

impl TryFrom<PaymentRow> for Payment {
    type Error = StoreError;
    fn try_from(r: PaymentRow) -> Result<Self, StoreError> {
        Ok(Payment {
            currency: currency(&r.currency)?,
            status: r.status,
            disputes: r.disputes()?,
            also_captured: r.also_captured()?,
            gateway: gateway(&r.gateway)?,
            reference: r.reference,
            gateway_id: r.gateway_id,
            amount: MinorUnits(r.amount),
            requested: MinorUnits(r.requested_amount),
            fees: MinorUnits(r.fees),
            channel: r.channel,
            refunded: MinorUnits(r.refunded),
            charged_back: MinorUnits(r.charged_back),
            paid_at: r.paid_at,
            review_reason: r.review_reason,
        })
    }
}

/// An order as the API shows it: the one read model of the `orders` table (the domain's
/// [`Order`](crate::domain::Order) is built from it).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct OrderRecord {
    #[sqlx(try_from = "String")]
    #[schema(value_type = MerchantId)]
    pub merchant_id: MerchantId,
    pub reference: String,
    /// Minor units (kobo for NGN).
    #[sqlx(try_from = "i64")]
    pub amount: MinorUnits,
    #[sqlx(try_from = "String")]
    pub currency: Currency,
    pub status: crate::domain::OrderStatus,
    pub review_reason: Option<String>,
    /// The merchant's metadata, as a JSON text. Not read by the apply path (up to 8 KiB an
    /// order, for nothing): absent from its select, so `None` there.
    #[serde(skip)]
    #[sqlx(default)]
    pub metadata: Option<String>,
    /// Bumped on every change: the live stream's event id.
    pub version: i64,
    /// Absent from the apply path's select ([`ORDER_STATE_COLUMNS`]), so 0 there.
    #[sqlx(default)]
    pub created_at_ms: i64,
    #[sqlx(default)]
    pub updated_at_ms: i64,
}

/// The columns an [`OrderRecord`], the one read model of the `orders` table, reads.
pub(crate) const ORDER_COLUMNS: &str =
    "merchant_id, reference, amount, currency, status, review_reason, \
     metadata, version, created_at_ms, updated_at_ms";

/// The same without the merchant's metadata and the timestamps: what the apply path reads
/// (see [`PAYMENT_STATE_COLUMNS`] for why fewer columns matter).
pub(crate) const ORDER_STATE_COLUMNS: &str = "merchant_id, reference, amount, currency, status, \
     review_reason, version";

impl TryFrom<OrderRecord> for Order {
    type Error = StoreError;
    fn try_from(r: OrderRecord) -> Result<Self, StoreError> {
        Ok(Order {
            currency: r.currency,
            status: r.status,
            reference: r.reference,
            amount: r.amount,
            review_reason: r.review_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::journal::TxKind;
    use crate::domain::OrderStatus;

    /// Each name table says what serde writes (the API, the journal) and what the database
    /// holds: a variant renamed in one place and not the other fails here.
    fn names_agree<T>(all: &[T], as_str: fn(&T) -> &'static str)
    where
        T: Serialize + for<'de> serde::Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        for v in all {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", as_str(v)));
            assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), v);
        }
    }

    #[test]
    fn every_name_table_matches_serde() {
        names_agree(&InboxStatus::ALL, |s| s.as_str());
        names_agree(&OrderStatus::ALL, |s| s.as_str());
        names_agree(&PaymentStatus::ALL, |s| s.as_str());
        names_agree(&TxKind::ALL, |s| s.as_str());
        assert_eq!("parked".parse::<InboxStatus>(), Ok(InboxStatus::Parked));
        assert_eq!(
            "Parked".parse::<InboxStatus>(),
            Err("unknown event status `Parked`".to_owned())
        );
    }
}
