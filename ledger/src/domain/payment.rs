//! A payment: money a gateway took (or tried to take) for one reference.
//!
//! ```text
//! pending ──charge──▶ success ──refund (part)──▶ partially_refunded ──refund (rest)──▶ refunded
//!    │                  │  ▲                         │
//!    └─failed/abandoned─┘  └──dispute won── disputed ◀┘ (dispute opened from success or
//!       ▶ failed                                        partially_refunded; lost → refunded
//!                                                       or partially_refunded)
//! ```

use std::fmt;
use std::str::FromStr;

use keffi_shared::{Currency, MinorUnits};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Success,
    Failed,
    PartiallyRefunded,
    Refunded,
    Disputed,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::Pending,
        PaymentStatus::Success,
        PaymentStatus::Failed,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
        PaymentStatus::Disputed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Success => "success",
            PaymentStatus::Failed => "failed",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::Disputed => "disputed",
        }
    }

    /// Whether the gateway holds (or held) the customer's money for this payment.
    pub fn is_captured(self) -> bool {
        matches!(
            self,
            PaymentStatus::Success
                | PaymentStatus::PartiallyRefunded
                | PaymentStatus::Refunded
                | PaymentStatus::Disputed
        )
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PaymentStatus::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown payment status `{s}`"))
    }
}

/// One payment, keyed by the gateway reference (the merchant's transaction reference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub reference: String,
    pub gateway: String,
    /// The gateway's own transaction id, once a charge names it.
    pub gateway_id: Option<String>,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub fees: MinorUnits,
    pub channel: Option<String>,
    pub status: PaymentStatus,
    /// Sum of processed refunds and lost disputes.
    pub refunded: MinorUnits,
    /// The status a dispute interrupted, restored if the merchant wins.
    pub disputed_from: Option<PaymentStatus>,
    pub paid_at: Option<String>,
    /// Why a human should look at this payment (e.g. no order for the reference).
    pub review_reason: Option<String>,
}

impl Payment {
    /// The pending payment an order expects.
    pub fn pending(reference: &str, gateway: &str, amount: MinorUnits, currency: Currency) -> Self {
        Payment {
            reference: reference.to_owned(),
            gateway: gateway.to_owned(),
            gateway_id: None,
            amount,
            currency,
            fees: MinorUnits::ZERO,
            channel: None,
            status: PaymentStatus::Pending,
            refunded: MinorUnits::ZERO,
            disputed_from: None,
            paid_at: None,
            review_reason: None,
        }
    }

    /// The status after `total` has been given back to the customer.
    pub fn status_after_refund(&self, total: MinorUnits) -> PaymentStatus {
        if total >= self.amount {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        }
    }
}
