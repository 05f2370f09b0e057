//! The one decision: given a fact and the current payment and order for its reference, what
//! changes. Pure; the pipeline loads the rows (locked), calls this, and writes the result.

use keffi_shared::{Currency, MinorUnits};

use super::fact::{Fact, Resolution};
use super::journal::JournalTx;
use super::order::{Order, OrderStatus};
use super::payment::{Capture, Dispute, DisputeState, Payment, PaymentStatus};

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

/// Decides `fact` against the current payment and order of its reference.
///
/// Rules, in the order they are checked:
/// 1. A fact whose amounts cannot move money is dead ([`Fact::invalid_amounts`]): it never
///    parks, so it can never later be applied beside (or instead of) a real event.
/// 2. Refunds and disputes wait (park) until their charge is captured, and are dead when they
///    come from another gateway than the one that captured it.
/// 3. Money leaves a payment only within what it still holds (`R + B + H ≤ C`, see
///    [`super::payment`]): a refund or a dispute that would take more is dead, except a
///    refund that fits once open disputes resolve, which waits for them.
/// 4. A captured payment's status follows its money; its order follows the payment.
pub fn decide(fact: &Fact, payment: Option<&Payment>, order: Option<&Order>) -> Decision {
    if let Some(why) = fact.invalid_amounts() {
        return Decision::dead(why);
    }
    // A refund or a dispute from another gateway than the one that captured the payment is
    // about another capture (a customer who paid twice, through the fallback too): applied
    // here, it would take money out of the wrong one.
    if let (Some(gateway), Some(p)) = (fact.after_capture_gateway(), captured(payment)) {
        if !p.captured_through(gateway) {
            return Decision::dead(format!(
                "a {gateway} refund or dispute for a payment captured through {}",
                p.gateway
            ));
        }
    }
    match fact {
        Fact::Noted { why, .. } => Decision::ignored(why.clone()),
        // The pipeline resolves these first; one that reaches here names no payment found.
        Fact::ByGatewayId { fact, .. } => decide(fact, payment, order),
        Fact::ChargeSucceeded { .. } => charge_succeeded(fact, payment, order),
        Fact::ChargeFailed {
            abandoned, reason, ..
        } => charge_failed(*abandoned, reason, payment, order),
        Fact::RefundProcessed {
            amount, currency, ..
        } => refund(*amount, *currency, payment, order),
        Fact::RefundedTo {
            total, currency, ..
        } => refunded_to(*total, *currency, payment, order),
        Fact::DisputeOpened {
            dispute_id,
            amount,
            currency,
            ..
        } => dispute_opened(dispute_id, *amount, *currency, payment, order),
        Fact::DisputeResolved {
            dispute_id,
            currency,
            resolution,
            ..
        } => dispute_resolved(dispute_id, *currency, *resolution, payment, order),
    }
}

/// The payment if money was captured for it.
fn captured(payment: Option<&Payment>) -> Option<&Payment> {
    payment.filter(|p| p.status.is_captured())
}

fn refund(
    amount: MinorUnits,
    currency: Currency,
    payment: Option<&Payment>,
    order: Option<&Order>,
) -> Decision {
    let Some(p) = captured(payment) else {
        return Decision::parked("refund before its charge: waiting for the charge");
    };
    if currency != p.currency {
        return Decision::dead(format!(
            "refund in {currency} for a payment in {}",
            p.currency
        ));
    }
    if amount > p.free() {
        let after_disputes = p.free().get().saturating_add(p.held().get());
        if amount.get() <= after_disputes {
            return Decision::parked(format!(
                "refund of {amount} while disputes hold {}: waiting for them to resolve",
                p.held()
            ));
        }
        return more_than_it_holds(format!("refund of {amount}"), p);
    }
    let mut next = p.clone();
    next.refunded = MinorUnits(p.refunded.get() + amount.get());
    money_moved(
        next,
        order,
        JournalTx::refund(&p.reference, p.gateway, amount, p.currency),
    )
}

/// Refunds that come to `total` in all: the part above what the payment has refunded is a
/// refund; nothing above it (a re-sent or late event, one overtaken by a later total) changes
/// nothing and says so.
fn refunded_to(
    total: MinorUnits,
    currency: Currency,
    payment: Option<&Payment>,
    order: Option<&Order>,
) -> Decision {
    match captured(payment) {
        Some(p) if currency == p.currency && total <= p.refunded => Decision::ignored(format!(
            "refunds of {total} in all: {} refunded already",
            p.refunded
        )),
        Some(p) if currency == p.currency => refund(
            MinorUnits(total.get() - p.refunded.get()),
            currency,
            payment,
            order,
        ),
        _ => refund(total, currency, payment, order),
    }
}

/// `what` would take more than the payment still holds: dead, with every figure a human needs.
fn more_than_it_holds(what: String, p: &Payment) -> Decision {
    Decision::dead(format!(
        "{what} exceeds what the payment still holds: captured {}, refunded {}, charged back \
         {}, held by open disputes {}",
        p.amount,
        p.refunded,
        p.charged_back,
        p.held()
    ))
}

fn dispute_opened(
    id: &str,
    amount: MinorUnits,
    currency: Currency,
    payment: Option<&Payment>,
    order: Option<&Order>,
) -> Decision {
    let Some(p) = captured(payment) else {
        return Decision::parked("dispute before its charge: waiting for the charge");
    };
    if let Some(d) = p.dispute(id) {
        return Decision::ignored(format!("dispute {id} already known ({:?})", d.state));
    }
    if currency != p.currency {
        return Decision::dead(format!(
            "dispute in {currency} for a payment in {}",
            p.currency
        ));
    }
    if amount > p.free() {
        return more_than_it_holds(format!("dispute {id} of {amount}"), p);
    }
    let mut next = p.clone();
    next.disputes.push(Dispute {
        id: id.to_owned(),
        amount,
        state: DisputeState::Open,
    });
    money_moved(
        next,
        order,
        JournalTx::dispute_opened(&p.reference, p.gateway, amount, p.currency),
    )
}

fn dispute_resolved(
    id: &str,
    currency: Currency,
    resolution: Resolution,
    payment: Option<&Payment>,
    order: Option<&Order>,
) -> Decision {
    let Some(p) = captured(payment) else {
        return Decision::parked("dispute resolution before its charge");
    };
    let Some(dispute) = p.dispute(id) else {
        // The opening is still on its way (or was lost): wait for it.
        return Decision::parked(format!("dispute {id} resolved before it was opened"));
    };
    if dispute.state != DisputeState::Open {
        return Decision::ignored(format!(
            "dispute {id} already resolved ({:?})",
            dispute.state
        ));
    }
    if currency != p.currency {
        return Decision::dead(format!(
            "dispute {id} resolved in {currency} for a payment in {}",
            p.currency
        ));
    }
    let held = dispute.amount;
    let (to_customer, state) = match resolution {
        Resolution::MerchantWon => (MinorUnits::ZERO, DisputeState::Won),
        Resolution::CustomerRefunded { refund } => (refund, DisputeState::Lost),
    };
    // A partial acceptance returns less than was held; a customer can get back at most what
    // the dispute held plus what is still free, never more than was captured.
    if to_customer.get() > held.get().saturating_add(p.free().get()) {
        return Decision::dead(format!(
            "dispute {id} gives back {to_customer}, more than it held ({held}) and the payment \
             still holds ({})",
            p.free()
        ));
    }
    let mut next = p.clone();
    next.charged_back = MinorUnits(p.charged_back.get() + to_customer.get());
    for d in next.disputes.iter_mut().filter(|d| d.id == id) {
        d.state = state;
    }
    money_moved(
        next,
        order,
        JournalTx::dispute_resolved(&p.reference, p.gateway, held, to_customer, p.currency),
    )
}

/// A decision that saves `next` with the status its money implies, moves the order with it
/// and posts `journal`.
fn money_moved(
    mut next: Payment,
    order: Option<&Order>,
    journal: Result<JournalTx, super::journal::JournalError>,
) -> Decision {
    let journal = match journal {
        Ok(j) => j,
        Err(e) => return Decision::dead(format!("journal: {e}")),
    };
    next.status = next.status_from_money();
    let order = order.map(|o| follow(o, next.status));
    Decision {
        outcome: Outcome::Applied,
        payment: Some(next),
        order,
        journal: Some(journal),
    }
}

/// Another capture for a reference already paid (the customer paid twice, perhaps through
/// the fallback gateway): the money is real, so it is journaled, kept on the payment beside
/// the first, and the payment and its order wait for a human to refund one.
fn second_capture(fact: &Fact, p: &Payment, order: Option<&Order>) -> Decision {
    let Fact::ChargeSucceeded {
        reference,
        gateway,
        gateway_id,
        amount,
        currency,
        fees,
        ..
    } = fact
    else {
        return Decision::dead("not a charge");
    };
    if *currency != p.currency {
        return Decision::dead(format!(
            "a second charge ({gateway} {gateway_id}) for reference {reference} in {currency}, \
             already paid in {}",
            p.currency
        ));
    }
    let journal = match JournalTx::charge(reference, *gateway, *amount, *fees, *currency) {
        Ok(j) => j,
        Err(e) => return Decision::dead(format!("journal: {e}")),
    };
    let why = format!(
        "captured twice: {} {} for {}, then {gateway} {gateway_id} for {amount}; refund one",
        p.gateway,
        p.gateway_id.as_deref().unwrap_or_default(),
        p.amount
    );
    let mut next = p.clone();
    next.also_captured.push(Capture {
        gateway: *gateway,
        gateway_id: gateway_id.clone(),
        amount: *amount,
        fees: *fees,
    });
    next.review_reason = Some(why.clone());
    next.status = next.status_from_money();
    Decision {
        outcome: Outcome::Applied,
        payment: Some(next),
        order: order.map(|o| Order {
            status: OrderStatus::NeedsReview,
            review_reason: Some(why),
            ..o.clone()
        }),
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
        requested_amount,
        currency,
        fees,
        channel,
        paid_at,
    } = fact
    else {
        return Decision::dead("not a charge");
    };
    if let Some(p) = payment.filter(|p| p.status.is_captured()) {
        // The same fact by another route (webhook after the reconciler, or a re-sent event).
        if p.gateway_id.is_none() || p.captured_by(*gateway, gateway_id) {
            return Decision::ignored(format!("payment already {}: nothing to do", p.status));
        }
        return second_capture(fact, p, order);
    }
    let journal = match JournalTx::charge(reference, *gateway, *amount, *fees, *currency) {
        Ok(j) => j,
        Err(e) => return Decision::dead(format!("journal: {e}")),
    };
    let mut next = payment
        .cloned()
        .unwrap_or_else(|| Payment::pending(reference, *gateway, *amount, *currency));
    // The payment records what the gateway captured, whatever the order expected, and which
    // gateway it was: a payment opened for one gateway and paid through another (the
    // fallback a merchant runs beside it) is that other's, and its refunds and fees follow it.
    next.gateway = *gateway;
    next.gateway_id = Some(gateway_id.clone());
    next.amount = *amount;
    next.currency = *currency;
    next.fees = *fees;
    next.channel = channel.clone();
    next.paid_at = paid_at.clone();
    next.requested = requested_amount.unwrap_or(*amount);
    next.refunded = MinorUnits::ZERO;
    next.charged_back = MinorUnits::ZERO;
    next.disputes.clear();
    next.status = PaymentStatus::Success;
    let order = match order {
        None => {
            next.review_reason = Some(no_order(reference));
            None
        }
        Some(o) => match mismatch(o, &next) {
            Some(why) => {
                next.review_reason = Some(why.clone());
                Some(Order {
                    status: OrderStatus::NeedsReview,
                    review_reason: Some(why),
                    ..o.clone()
                })
            }
            // Money arrived: a pending, failed or abandoned order is paid (a customer may
            // finish paying after the reconciler gave up on them).
            None => Some(follow(o, PaymentStatus::Success)),
        },
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
    if !payment.also_captured.is_empty() {
        // Paid twice before the order existed: a human refunds one first.
        let why = payment
            .review_reason
            .clone()
            .unwrap_or_else(|| "captured twice: refund one".into());
        let order = Order {
            status: OrderStatus::NeedsReview,
            review_reason: Some(why),
            ..order.clone()
        };
        return Some((order, p));
    }
    if let Some(why) = mismatch(order, payment) {
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

/// Why a captured payment does not pay `order`, if it does not: the order is compared with
/// what the merchant asked the gateway for (the charge may add passed-on fees on top).
fn mismatch(order: &Order, payment: &Payment) -> Option<String> {
    (order.amount != payment.requested || order.currency != payment.currency).then(|| {
        let fees_on_top = if payment.requested != payment.amount {
            format!(" ({} with fees)", payment.amount)
        } else {
            String::new()
        };
        format!(
            "charged {} {}{fees_on_top}, the order expects {} {}",
            payment.requested, payment.currency, order.amount, order.currency
        )
    })
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
