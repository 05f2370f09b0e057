//! A payment: money a gateway took (or tried to take) for one reference.
//!
//! ```text
//! pending ──charge──▶ captured ◀──────────────────────────────┐
//!    │                   status follows the money:             │
//!    └─failed/abandoned─▶ failed                               │
//!                        success · partially_refunded · refunded · disputed
//! ```
//!
//! Once captured, a payment's status is not a state of its own but a function of its money
//! ([`Payment::status_from_money`]): `disputed` while any dispute is open, else `success`
//! until something went back to the customer, `partially_refunded`, then `refunded` once the
//! whole capture went back (by refunds, lost disputes, or both).
//!
//! # Money invariants
//!
//! For a captured payment with captured amount `C`, refunds `R`, charged-back (lost
//! disputes) `B` and money held by open disputes `H`:
//!
//! - every one of them is ≥ 0, and `R + B + H ≤ C`: no more can leave than came in, and
//!   an open dispute reserves its amount, so a refund during a dispute cannot spend money the
//!   dispute may take;
//! - the journal tells the same story: for the reference, one charge transaction, the
//!   `refunds` entries sum to `R`, `chargebacks` to `B`, `disputes_held` to `H`;
//! - the order's status is [`OrderStatus::following`](super::OrderStatus::following) the
//!   payment's, unless a human must decide (`needs_review`).
//!
//! [`Payment::check_invariants`] states them in code; the pipeline's tests check them after
//! every step of generated sequences.

use std::str::FromStr;

use keffi_shared::{Currency, MinorUnits, Provider};
use serde::{Deserialize, Serialize};

/// Stored as its snake_case name in a TEXT column.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Success,
    Failed,
    PartiallyRefunded,
    Refunded,
    Disputed,
}

keffi_shared::named_variants!(PaymentStatus {
    Pending => "pending",
    Success => "success",
    Failed => "failed",
    PartiallyRefunded => "partially_refunded",
    Refunded => "refunded",
    Disputed => "disputed",
});

impl PaymentStatus {
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

impl FromStr for PaymentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PaymentStatus::from_name(s).ok_or_else(|| format!("unknown payment status `{s}`"))
    }
}

/// One payment, keyed by the gateway reference (the merchant's transaction reference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub reference: String,
    pub gateway: Provider,
    /// The gateway's own transaction id, once a charge names it.
    pub gateway_id: Option<String>,
    /// What the gateway captured (once captured; before, what the order expects).
    pub amount: MinorUnits,
    /// What the merchant asked for: `amount` less any fees passed on to the customer. The
    /// order is compared with this.
    pub requested: MinorUnits,
    pub currency: Currency,
    pub fees: MinorUnits,
    pub channel: Option<String>,
    pub status: PaymentStatus,
    /// Sum of processed refunds.
    pub refunded: MinorUnits,
    /// Sum of what lost (or accepted) disputes gave back to the customer.
    pub charged_back: MinorUnits,
    /// Every dispute the gateway reported on this payment, by its id.
    pub disputes: Vec<Dispute>,
    pub paid_at: Option<String>,
    /// Why a human should look at this payment (e.g. no order for the reference).
    pub review_reason: Option<String>,
    /// Captures beyond the first for this reference (a customer who paid twice, through the
    /// fallback gateway too): each journaled, the payment held for review.
    pub also_captured: Vec<Capture>,
}

/// A capture beyond a payment's first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Capture {
    #[schema(value_type = String)]
    pub gateway: Provider,
    pub gateway_id: String,
    pub amount: MinorUnits,
    pub fees: MinorUnits,
}

impl Payment {
    /// The pending payment an order expects.
    pub fn pending(
        reference: &str,
        gateway: Provider,
        amount: MinorUnits,
        currency: Currency,
    ) -> Self {
        Payment {
            reference: reference.to_owned(),
            gateway,
            gateway_id: None,
            amount,
            requested: amount,
            currency,
            fees: MinorUnits::ZERO,
            channel: None,
            status: PaymentStatus::Pending,
            refunded: MinorUnits::ZERO,
            charged_back: MinorUnits::ZERO,
            disputes: Vec::new(),
            paid_at: None,
            review_reason: None,
            also_captured: Vec::new(),
        }
    }

    /// Money held by open disputes.
    pub fn held(&self) -> MinorUnits {
        held_by(&self.disputes)
    }

    /// What is still the merchant's and free to leave: captured, less what went back and what
    /// open disputes hold. Never negative for a payment that keeps its invariants.
    pub fn free(&self) -> MinorUnits {
        MinorUnits(
            self.captured_total()
                .get()
                .saturating_sub(self.refunded.get())
                .saturating_sub(self.charged_back.get())
                .saturating_sub(self.held().get()),
        )
    }

    /// Every capture of this reference: the first and any beyond it.
    pub fn captured_total(&self) -> MinorUnits {
        self.also_captured.iter().fold(self.amount, |sum, c| {
            sum.checked_add(c.amount).unwrap_or(MinorUnits::MAX_AMOUNT)
        })
    }

    /// Whether `gateway`'s transaction `id` is one of this payment's captures.
    pub fn captured_by(&self, gateway: Provider, id: &str) -> bool {
        (self.gateway == gateway && self.gateway_id.as_deref() == Some(id))
            || self
                .also_captured
                .iter()
                .any(|c| c.gateway == gateway && c.gateway_id == id)
    }

    /// Whether `gateway` captured any of this payment's money.
    pub fn captured_through(&self, gateway: Provider) -> bool {
        self.gateway == gateway || self.also_captured.iter().any(|c| c.gateway == gateway)
    }

    /// The dispute with the gateway's id `id`, if reported.
    pub fn dispute(&self, id: &str) -> Option<&Dispute> {
        self.disputes.iter().find(|d| d.id == id)
    }

    /// The status a captured payment's money implies (see the module's documentation).
    pub fn status_from_money(&self) -> PaymentStatus {
        let returned = self.refunded.get().saturating_add(self.charged_back.get());
        if self.disputes.iter().any(|d| d.state == DisputeState::Open) {
            PaymentStatus::Disputed
        } else if returned == 0 {
            PaymentStatus::Success
        } else if returned >= self.captured_total().get() {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        }
    }

    /// The invariants of the module's documentation, or the first one broken.
    pub fn check_invariants(&self) -> Result<(), String> {
        let held = self.held();
        if self.refunded < MinorUnits::ZERO || self.charged_back < MinorUnits::ZERO {
            return Err(format!(
                "{}: negative refunds or chargebacks",
                self.reference
            ));
        }
        if self.disputes.iter().any(|d| !d.amount.is_valid_amount()) {
            return Err(format!(
                "{}: a dispute without a valid amount",
                self.reference
            ));
        }
        if self.status.is_captured() {
            let out = i128::from(self.refunded.get())
                + i128::from(self.charged_back.get())
                + i128::from(held.get());
            if out > i128::from(self.captured_total().get()) {
                return Err(format!(
                    "{}: refunded {} + charged back {} + held {} exceed the captured {}",
                    self.reference,
                    self.refunded,
                    self.charged_back,
                    held,
                    self.captured_total()
                ));
            }
            if self.status != self.status_from_money() {
                return Err(format!(
                    "{}: status {} but its money says {}",
                    self.reference,
                    self.status,
                    self.status_from_money()
                ));
            }
        } else if self.refunded != MinorUnits::ZERO
            || self.charged_back != MinorUnits::ZERO
            || !self.disputes.is_empty()
            || !self.also_captured.is_empty()
        {
            return Err(format!(
                "{}: money moved on a payment never captured",
                self.reference
            ));
        }
        Ok(())
    }
}

/// What the open ones among `disputes` hold.
pub fn held_by(disputes: &[Dispute]) -> MinorUnits {
    disputes
        .iter()
        .filter(|d| d.state == DisputeState::Open)
        .fold(MinorUnits::ZERO, |sum, d| {
            sum.checked_add(d.amount).unwrap_or(MinorUnits::MAX_AMOUNT)
        })
}

/// One dispute a customer raised against a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dispute {
    /// The gateway's dispute id.
    pub id: String,
    /// What the dispute holds (while open) or held, in minor units.
    #[schema(value_type = i64)]
    pub amount: MinorUnits,
    pub state: DisputeState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisputeState {
    Open,
    /// Resolved for the merchant: the held money came back.
    Won,
    /// Resolved for the customer (in whole or part): what went back is in `charged_back`.
    Lost,
}
