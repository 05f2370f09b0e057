//! An order: what the merchant expects to be paid, created by the merchant's app.
//!
//! `pending → paid | failed | abandoned`; `paid → refunded | partially_refunded | disputed`
//! (and back from disputed when the merchant wins); `needs_review` when money and expectation
//! disagree. `needs_review` is sticky: later facts are recorded on the payment, and a human
//! decides the order.

use std::fmt;
use std::str::FromStr;

use keffi_shared::{Currency, MinorUnits};
use serde::{Deserialize, Serialize};

use super::payment::PaymentStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Paid,
    Failed,
    Abandoned,
    PartiallyRefunded,
    Refunded,
    Disputed,
    NeedsReview,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Failed,
        OrderStatus::Abandoned,
        OrderStatus::PartiallyRefunded,
        OrderStatus::Refunded,
        OrderStatus::Disputed,
        OrderStatus::NeedsReview,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Failed => "failed",
            OrderStatus::Abandoned => "abandoned",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Disputed => "disputed",
            OrderStatus::NeedsReview => "needs_review",
        }
    }

    /// The order status that mirrors a payment status.
    pub fn following(payment: PaymentStatus) -> OrderStatus {
        match payment {
            PaymentStatus::Pending => OrderStatus::Pending,
            PaymentStatus::Success => OrderStatus::Paid,
            PaymentStatus::Failed => OrderStatus::Failed,
            PaymentStatus::PartiallyRefunded => OrderStatus::PartiallyRefunded,
            PaymentStatus::Refunded => OrderStatus::Refunded,
            PaymentStatus::Disputed => OrderStatus::Disputed,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OrderStatus::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown order status `{s}`"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub reference: String,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub status: OrderStatus,
    pub review_reason: Option<String>,
}
