//! Typed gateway payloads: the events the ledger acts on, parsed from the raw body the envelope
//! carries. Amounts are [`MinorUnits`](crate::money::MinorUnits); unknown fields are ignored and
//! unknown event types are kept as raw JSON, never an error.

pub mod flutterwave;
pub mod paystack;
pub mod stripe;

/// A body could not be read as the event it claims to be. The ledger dead-letters the event
/// with this reason; the edge never parses payloads, so this never refuses a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not a JSON object with an `event` name and a `data` object: {0}")]
    NotAnEvent(String),
    #[error("`{event}` data is malformed: {reason}")]
    Malformed { event: String, reason: String },
}
