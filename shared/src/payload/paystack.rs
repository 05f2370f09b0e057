//! Paystack webhook events (<https://paystack.com/docs/payments/webhooks/>), shaped after the
//! examples Paystack publishes. Quirks handled here so the ledger never sees them:
//!
//! - Refund amounts arrive as strings in some refund events and integers in others.
//! - A transaction carries both `paid_at` and `paidAt`; a transfer `created_at` or `createdAt`.
//! - The refunded transaction's reference is `data.transaction_reference` in refund events and
//!   `data.transaction.reference` in dispute events; `fees` may be null.
//! - Paystack sends no `charge.failed`: failed and abandoned charges are learnt from the Verify
//!   Transaction API (see [`VerifyResponse`]).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod payee;

use super::PayloadError;
use crate::money::{Currency, MinorUnits};

/// One Paystack webhook, by event type.
#[derive(Debug, Clone, PartialEq)]
pub enum PaystackEvent {
    ChargeSuccess(Charge),
    Refund(RefundEvent, Refund),
    Dispute(DisputeEvent, Dispute),
    Transfer(TransferEvent, Transfer),
    /// Any other event type, kept whole for the audit trail.
    Other {
        event: String,
        data: Value,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundEvent {
    Pending,
    Processing,
    Processed,
    Failed,
    NeedsAttention,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeEvent {
    Create,
    Remind,
    Resolve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferEvent {
    Success,
    Failed,
    Reversed,
}

#[derive(Deserialize)]
struct RawEvent {
    event: String,
    data: Value,
}

impl PaystackEvent {
    /// Parses a webhook body. An unknown event type is `Other`; a known one whose data does not
    /// have the fields the ledger needs is an error naming the field.
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        let raw: RawEvent =
            serde_json::from_slice(body).map_err(|e| PayloadError::NotAnEvent(e.to_string()))?;
        let event = raw.event.as_str();
        Ok(match event {
            "charge.success" => PaystackEvent::ChargeSuccess(data(event, raw.data)?),
            "refund.pending" => PaystackEvent::Refund(RefundEvent::Pending, data(event, raw.data)?),
            "refund.processing" => {
                PaystackEvent::Refund(RefundEvent::Processing, data(event, raw.data)?)
            }
            "refund.processed" => {
                PaystackEvent::Refund(RefundEvent::Processed, data(event, raw.data)?)
            }
            "refund.failed" => PaystackEvent::Refund(RefundEvent::Failed, data(event, raw.data)?),
            "refund.needs-attention" => {
                PaystackEvent::Refund(RefundEvent::NeedsAttention, data(event, raw.data)?)
            }
            "charge.dispute.create" => {
                PaystackEvent::Dispute(DisputeEvent::Create, data(event, raw.data)?)
            }
            "charge.dispute.remind" => {
                PaystackEvent::Dispute(DisputeEvent::Remind, data(event, raw.data)?)
            }
            "charge.dispute.resolve" => {
                PaystackEvent::Dispute(DisputeEvent::Resolve, data(event, raw.data)?)
            }
            "transfer.success" => {
                PaystackEvent::Transfer(TransferEvent::Success, data(event, raw.data)?)
            }
            "transfer.failed" => {
                PaystackEvent::Transfer(TransferEvent::Failed, data(event, raw.data)?)
            }
            "transfer.reversed" => {
                PaystackEvent::Transfer(TransferEvent::Reversed, data(event, raw.data)?)
            }
            _ => PaystackEvent::Other {
                event: raw.event,
                data: raw.data,
            },
        })
    }

    /// The merchant's transaction or transfer reference the event is about, if any.
    pub fn reference(&self) -> Option<&str> {
        match self {
            PaystackEvent::ChargeSuccess(c) => Some(&c.reference),
            PaystackEvent::Refund(_, r) => Some(&r.transaction_reference),
            PaystackEvent::Dispute(_, d) => Some(&d.transaction.reference),
            PaystackEvent::Transfer(_, t) => Some(&t.reference),
            PaystackEvent::Other { .. } => None,
        }
    }
}

fn data<T: DeserializeOwned>(event: &str, data: Value) -> Result<T, PayloadError> {
    serde_json::from_value(data).map_err(|e| PayloadError::Malformed {
        event: event.to_owned(),
        reason: e.to_string(),
    })
}

/// A transaction: the data of `charge.success` and of a Verify Transaction answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    /// Paystack's transaction id (above 2^31 in practice).
    pub id: i64,
    pub reference: String,
    /// What the customer was charged. When the merchant passes Paystack's fees on to the
    /// customer, this is the amount the merchant asked for plus the fees.
    pub amount: MinorUnits,
    /// The amount the merchant initialised the transaction with (what the order expects);
    /// absent in older payloads, where it equals `amount`.
    #[serde(default)]
    pub requested_amount: Option<MinorUnits>,
    pub currency: Currency,
    /// `success`, `failed`, `abandoned`, `ongoing`, `pending`, `processing`, `queued`, `reversed`.
    pub status: String,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub gateway_response: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub fees: Option<MinorUnits>,
    #[serde(default)]
    paid_at: Option<String>,
    #[serde(default, rename = "paidAt")]
    paid_at_camel: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub customer: Option<Customer>,
    #[serde(default)]
    pub metadata: Value,
}

impl Charge {
    /// When it was paid (ISO 8601, UTC), from whichever of `paid_at` / `paidAt` is set.
    pub fn paid_at(&self) -> Option<&str> {
        self.paid_at.as_deref().or(self.paid_at_camel.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub customer_code: Option<String>,
}

/// The data of a `refund.*` event. Refund events carry no timestamp and, mostly, no id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The refunded transaction's reference.
    pub transaction_reference: String,
    /// The refund's own reference; null while pending or processing.
    #[serde(default)]
    pub refund_reference: Option<String>,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub status: String,
    #[serde(default)]
    pub processor: Option<String>,
}

/// The data of a `charge.dispute.*` event. One transaction can be disputed more than once;
/// each dispute has its own `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispute {
    pub id: i64,
    /// On `create`, the amount in dispute (the transaction's amount in Paystack's samples); on
    /// `resolve`, what goes back to the customer — the merchant may accept a dispute in part.
    pub refund_amount: MinorUnits,
    pub currency: Currency,
    /// `awaiting-merchant-feedback`, `awaiting-bank-feedback`, `pending`, `resolved`.
    pub status: String,
    /// Once resolved: `merchant-accepted` (the customer gets `refund_amount`, perhaps part of
    /// the dispute), `auto-accepted` (the merchant did not answer in time; the customer is
    /// refunded) or `declined` (the merchant's evidence won).
    #[serde(default)]
    pub resolution: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    pub transaction: DisputedTransaction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputedTransaction {
    pub id: i64,
    pub reference: String,
    pub amount: MinorUnits,
    pub currency: Currency,
}

/// The data of a `transfer.*` event (a payout from the merchant's balance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub id: i64,
    pub reference: String,
    pub transfer_code: String,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The answer of `GET /transaction/verify/{reference}`. A transaction that exists is HTTP 200
/// with `status: true` whatever its outcome; the outcome is `data.status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyResponse {
    pub status: bool,
    pub message: String,
    #[serde(default)]
    pub data: Option<Charge>,
}

#[cfg(test)]
mod tests;
