//! What a commit announces about the orders it moved: the record each live status stream is
//! sent, and the Postgres `NOTIFY` payloads that carry those records to every replica. Below
//! the store's writers (which return these records) and the change feed (which hands them
//! to the streams).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rows::OrderRecord;

/// The Postgres channel commits announce changes on.
pub const CHANNEL: &str = "keffi_changes";

/// Postgres refuses a `NOTIFY` payload of 8,000 bytes or more: changes are sent in chunks
/// below this.
pub const MAX_PAYLOAD: usize = 7_000;

/// An order after a change: what a status stream sends (the `status` event's data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[schema(as = OrderStatusEvent)]
pub struct OrderChange {
    /// Whose order it is: the change feed keys its streams by merchant and reference.
    #[sqlx(rename = "merchant_id", try_from = "String")]
    pub merchant: keffi_shared::MerchantId,
    pub reference: String,
    pub status: crate::domain::OrderStatus,
    #[sqlx(try_from = "i64")]
    pub amount: keffi_shared::MinorUnits,
    #[sqlx(try_from = "String")]
    pub currency: keffi_shared::Currency,
    pub review_reason: Option<String>,
    /// Bumped on every change; the event's id (`Last-Event-ID` resumes from it).
    pub version: i64,
}

impl From<&OrderRecord> for OrderChange {
    fn from(o: &OrderRecord) -> Self {
        OrderChange {
            merchant: o.merchant_id.clone(),
            reference: o.reference.clone(),
            status: o.status,
            amount: o.amount,
            currency: o.currency,
            review_reason: o.review_reason.clone(),
            version: o.version,
        }
    }
}

/// The `NOTIFY` payloads announcing `changes`: JSON arrays, each under [`MAX_PAYLOAD`] bytes.
pub fn payloads(changes: &[OrderChange]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::from("[");
    for change in changes {
        let Ok(json) = serde_json::to_string(change) else {
            continue;
        };
        if current.len() > 1 && current.len() + json.len() + 2 > MAX_PAYLOAD {
            current.push(']');
            out.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(&json);
    }
    if current.len() > 1 {
        current.push(']');
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(reference: &str, version: i64) -> OrderChange {
        OrderChange {
            merchant: keffi_shared::MerchantId::default_merchant(),
            reference: reference.into(),
            status: crate::domain::OrderStatus::Paid,
            amount: keffi_shared::MinorUnits(500_000),
            currency: keffi_shared::Currency::NGN,
            review_reason: None,
            version,
        }
    }

    #[test]
    fn payloads_stay_under_the_postgres_limit_and_lose_nothing() {
        let many: Vec<OrderChange> = (0..500).map(|i| change(&format!("ord_{i}"), i)).collect();
        let chunks = payloads(&many);
        assert!(chunks.len() > 1);
        let mut back = Vec::new();
        for c in &chunks {
            assert!(c.len() < MAX_PAYLOAD, "{}", c.len());
            back.extend(serde_json::from_str::<Vec<OrderChange>>(c).unwrap());
        }
        assert_eq!(back, many);
        assert!(payloads(&[]).is_empty());
    }
}
