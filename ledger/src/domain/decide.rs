//! The one decision: given a fact and the current payment and order for its reference, what
//! changes. Pure; the pipeline loads the rows (locked), calls this, and writes the result.

use keffi_shared::MinorUnits;

use super::fact::Fact;
use super::journal::JournalTx;
use super::order::{Order, OrderStatus};
use super::payment::{Payment, PaymentStatus};

/// What becomes of the event that stated the fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The state changed.
    Applied,
    /// Recorded, nothing changed (a fact already known by another route, an event the ledger
    /// does not act on, a stale report that cannot undo a later state).
    Ignored(String),
    /// Waiting for a fact that has not arrived yet (a refund before its charge).
    Parked(String),
    /// Cannot be applied: an illegal transition or contradictory money. Needs a human.
    Dead(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The payment's new state, to save.
    pub payment: Option<Payment>,
    /// The order's new state, to save.
    pub order: Option<Order>,
    pub journal: Option<JournalTx>,
}

impl Decision {
    fn only(outcome: Outcome) -> Self {
        Decision {
            outcome,
            payment: None,
            order: None,
            journal: None,
        }
    }

    fn ignored(why: impl Into<String>) -> Self {
        Self::only(Outcome::Ignored(why.into()))
    }

    fn dead(why: impl Into<String>) -> Self {
        Self::only(Outcome::Dead(why.into()))
    }

    fn parked(why: impl Into<String>) -> Self {
        Self::only(Outcome::Parked(why.into()))
    }
}

pub fn decide(fact: &Fact, payment: Option<&Payment>, order: Option<&Order>) -> Decision {
    match fact {
        Fact::Noted { why, .. } => Decision::ignored(why.clone()),
        Fact::ChargeSucceeded { .. } => charge_succeeded(fact, payment, order),
        Fact::ChargeFailed {
            abandoned, reason, ..
        } => charge_failed(*abandoned, reason, payment, order),
        Fact::RefundProcessed {
            amount, currency, ..
        } => {
            let Some(p) = captured(payment) else {
                return Decision::parked("refund before its charge: waiting for the charge");
            };
            if *currency != p.currency {
                return Decision::dead(format!(
                    "refund in {currency} for a payment in {}",
                    p.currency
                ));
            }
            if p.status == PaymentStatus::Refunded {
                return Decision::dead("refund for a payment already fully refunded");
            }
            let Some(total) = p.refunded.checked_add(*amount).filter(|t| *t <= p.amount) else {
                return Decision::dead(format!(
                    "refund of {amount} would exceed the captured {} ({} already refunded)",
                    p.amount, p.refunded
                ));
            };
            let mut next = p.clone();
            next.refunded = total;
            if p.status != PaymentStatus::Disputed {
                next.status = p.status_after_refund(total);
            }
            money_moved(
                next,
                order,
                JournalTx::refund(&p.reference, &p.gateway, *amount, p.currency),
            )
        }
        Fact::DisputeOpened {
            amount, currency, ..
        } => {
            let Some(p) = captured(payment) else {
                return Decision::parked("dispute before its charge: waiting for the charge");
            };
            if p.status == PaymentStatus::Disputed {
                return Decision::ignored("dispute already open");
            }
            if *currency != p.currency || *amount > p.amount {
                return Decision::dead(format!(
                    "dispute of {amount} {currency} does not fit the payment of {} {}",
                    p.amount, p.currency
                ));
            }
            let mut next = p.clone();
            next.disputed_from = Some(p.status);
            next.status = PaymentStatus::Disputed;
            money_moved(
                next,
                order,
                JournalTx::dispute_opened(&p.reference, &p.gateway, *amount, p.currency),
            )
        }
        Fact::DisputeResolved {
            amount,
            currency,
            merchant_won,
            ..
        } => {
            let Some(p) = captured(payment) else {
                return Decision::parked("dispute resolution before its charge");
            };
            if p.status != PaymentStatus::Disputed {
                // The opening event is still on its way (or was lost): wait for it.
                return Decision::parked("dispute resolved before it was opened");
            }
            if *currency != p.currency {
                return Decision::dead("dispute resolved in another currency");
            }
            let mut next = p.clone();
            let before = p.disputed_from.unwrap_or(PaymentStatus::Success);
            next.disputed_from = None;
            let journal = if *merchant_won {
                next.status = before;
                JournalTx::dispute_won(&p.reference, &p.gateway, *amount, p.currency)
            } else {
                let total = p
                    .refunded
                    .checked_add(*amount)
                    .unwrap_or(p.amount)
                    .min(p.amount);
                next.refunded = total;
                next.status = p.status_after_refund(total);
                JournalTx::dispute_lost(&p.reference, *amount, p.currency)
            };
            money_moved(next, order, journal)
        }
    }
}

/// The payment if money was captured for it.
fn captured(payment: Option<&Payment>) -> Option<&Payment> {
    payment.filter(|p| p.status.is_captured())
}

/// A decision that saves `next`, moves the order with it and posts `journal`.
fn money_moved(
    next: Payment,
    order: Option<&Order>,
    journal: Result<JournalTx, super::journal::JournalError>,
) -> Decision {
    let journal = match journal {
        Ok(j) => j,
        Err(e) => return Decision::dead(format!("journal: {e}")),
    };
    let order = order.map(|o| follow(o, next.status));
    Decision {
        outcome: Outcome::Applied,
        payment: Some(next),
        order,
        journal: Some(journal),
    }
}

/// The order after its payment moved to `status`; `needs_review` stays until a human acts.
fn follow(order: &Order, status: PaymentStatus) -> Order {
    let mut next = order.clone();
    if order.status != OrderStatus::NeedsReview {
        next.status = OrderStatus::following(status);
    }
    next
}

fn charge_succeeded(fact: &Fact, payment: Option<&Payment>, order: Option<&Order>) -> Decision {
    let Fact::ChargeSucceeded {
        reference,
        gateway,
        gateway_id,
        amount,
        currency,
        fees,
        channel,
        paid_at,
    } = fact
    else {
        unreachable!("called with a charge");
    };
    if let Some(p) = payment.filter(|p| p.status.is_captured()) {
        // The same fact by another route (webhook after the reconciler, or a re-sent event).
        return match &p.gateway_id {
            Some(id) if id != gateway_id => Decision::dead(format!(
                "a second charge ({gateway_id}) for reference {reference}, already paid by {id}"
            )),
            _ => Decision::ignored(format!("payment already {}: nothing to do", p.status)),
        };
    }
    if *amount <= MinorUnits::ZERO || *fees < MinorUnits::ZERO || fees > amount {
        return Decision::dead(format!(
            "impossible charge figures: amount {amount}, fees {fees}"
        ));
    }
    let journal = match JournalTx::charge(reference, gateway, *amount, *fees, *currency) {
        Ok(j) => j,
        Err(e) => return Decision::dead(format!("journal: {e}")),
    };
    let mut next = payment
        .cloned()
        .unwrap_or_else(|| Payment::pending(reference, gateway, *amount, *currency));
    // The payment records what the gateway captured, whatever the order expected.
    next.gateway_id = Some(gateway_id.clone());
    next.amount = *amount;
    next.currency = *currency;
    next.fees = *fees;
    next.channel = channel.clone();
    next.paid_at = paid_at.clone();
    next.status = PaymentStatus::Success;
    let order = match order {
        None => {
            next.review_reason = Some(no_order(reference));
            None
        }
        Some(o) if o.amount != *amount || o.currency != *currency => {
            let why = format!(
                "charged {amount} {currency}, the order expects {} {}",
                o.amount, o.currency
            );
            next.review_reason = Some(why.clone());
            Some(Order {
                status: OrderStatus::NeedsReview,
                review_reason: Some(why),
                ..o.clone()
            })
        }
        // Money arrived: a pending, failed or abandoned order is paid (a customer may finish
        // paying after the reconciler gave up on them).
        Some(o) => Some(follow(o, PaymentStatus::Success)),
    };
    Decision {
        outcome: Outcome::Applied,
        payment: Some(next),
        order,
        journal: Some(journal),
    }
}

/// Why a captured payment waits for a human: no order names its reference (yet).
fn no_order(reference: &str) -> String {
    format!("no order for reference {reference}")
}

/// An order created after its payment was captured — the charge overtook the order (a create
/// retried from a phone that was offline, or one racing the webhook): the order takes the
/// payment's state at once, by the rules a charge arriving after the order follows, and the
/// payment's "no order" flag is cleared. `None` when there is nothing to adopt: the payment
/// holds no money yet, or the order has already moved.
pub fn order_meets_payment(order: &Order, payment: &Payment) -> Option<(Order, Payment)> {
    if !payment.status.is_captured() || order.status != OrderStatus::Pending {
        return None;
    }
    let mut p = payment.clone();
    if order.amount != payment.amount || order.currency != payment.currency {
        let why = format!(
            "charged {} {}, the order expects {} {}",
            payment.amount, payment.currency, order.amount, order.currency
        );
        p.review_reason = Some(why.clone());
        let order = Order {
            status: OrderStatus::NeedsReview,
            review_reason: Some(why),
            ..order.clone()
        };
        return Some((order, p));
    }
    if p.review_reason.as_deref() == Some(no_order(&p.reference).as_str()) {
        p.review_reason = None;
    }
    Some((follow(order, payment.status), p))
}

fn charge_failed(
    abandoned: bool,
    reason: &str,
    payment: Option<&Payment>,
    order: Option<&Order>,
) -> Decision {
    let Some(p) = payment else {
        return Decision::ignored(format!("no payment to fail ({reason})"));
    };
    match p.status {
        PaymentStatus::Pending => {}
        PaymentStatus::Failed => return Decision::ignored("payment already failed"),
        // Money captured cannot be un-captured by a failure report: a stale or reordered
        // answer, recorded and not applied.
        s => return Decision::ignored(format!("payment is {s}; a failure report cannot undo it")),
    }
    let mut next = p.clone();
    next.status = PaymentStatus::Failed;
    next.review_reason = None;
    let order = order.map(|o| {
        let mut o = o.clone();
        if o.status == OrderStatus::Pending {
            o.status = if abandoned {
                OrderStatus::Abandoned
            } else {
                OrderStatus::Failed
            };
            o.review_reason = Some(reason.to_owned());
        }
        o
    });
    Decision {
        outcome: Outcome::Applied,
        payment: Some(next),
        order,
        journal: None,
    }
}

#[cfg(test)]
mod tests;
