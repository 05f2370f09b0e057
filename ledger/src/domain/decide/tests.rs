use super::*;
use crate::domain::journal::{balances, Account, TxKind};
use keffi_shared::Currency;
use proptest::prelude::*;

const NGN: Currency = Currency::NGN;

fn charge(reference: &str, amount: i64, fees: i64) -> Fact {
    Fact::ChargeSucceeded {
        reference: reference.into(),
        gateway: "paystack".into(),
        gateway_id: "4099260516".into(),
        amount: MinorUnits(amount),
        currency: NGN,
        fees: MinorUnits(fees),
        channel: Some("card".into()),
        paid_at: Some("2026-11-25T10:00:00.000Z".into()),
    }
}

fn refund(reference: &str, amount: i64) -> Fact {
    Fact::RefundProcessed {
        reference: reference.into(),
        amount: MinorUnits(amount),
        currency: NGN,
    }
}

fn order(amount: i64) -> Order {
    Order {
        reference: "ord_1".into(),
        amount: MinorUnits(amount),
        currency: NGN,
        status: OrderStatus::Pending,
        review_reason: None,
    }
}

fn pending() -> Payment {
    Payment::pending("ord_1", "paystack", MinorUnits(500_000), NGN)
}

/// Applies `fact` to the state, returning the decision and the new state.
fn step(
    fact: &Fact,
    payment: Option<Payment>,
    order: Option<Order>,
) -> (Decision, Option<Payment>, Option<Order>) {
    let d = decide(fact, payment.as_ref(), order.as_ref());
    let p = d.payment.clone().or(payment);
    let o = d.order.clone().or(order);
    (d, p, o)
}

#[test]
fn matching_charge_pays_the_order_and_posts_one_transaction() {
    let (d, p, o) = step(
        &charge("ord_1", 500_000, 7_500),
        Some(pending()),
        Some(order(500_000)),
    );
    assert_eq!(d.outcome, Outcome::Applied);
    assert_eq!(p.as_ref().unwrap().status, PaymentStatus::Success);
    assert_eq!(p.as_ref().unwrap().fees, MinorUnits(7_500));
    assert_eq!(o.unwrap().status, OrderStatus::Paid);
    let j = d.journal.unwrap();
    assert_eq!(j.kind, TxKind::Charge);
    let b = balances(&j.entries).unwrap();
    assert_eq!(
        b[&(Account::merchant_balance("paystack"), NGN)],
        MinorUnits(492_500)
    );
}

#[test]
fn the_same_charge_again_is_a_recorded_no_op() {
    let (_, p, o) = step(
        &charge("ord_1", 500_000, 7_500),
        Some(pending()),
        Some(order(500_000)),
    );
    let d = decide(&charge("ord_1", 500_000, 7_500), p.as_ref(), o.as_ref());
    assert!(matches!(d.outcome, Outcome::Ignored(_)), "{d:?}");
    assert!(d.journal.is_none() && d.payment.is_none() && d.order.is_none());
}

#[test]
fn a_second_charge_with_another_gateway_id_is_dead() {
    let (_, p, o) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    let mut other = charge("ord_1", 500_000, 0);
    if let Fact::ChargeSucceeded { gateway_id, .. } = &mut other {
        *gateway_id = "999".into();
    }
    assert!(matches!(
        decide(&other, p.as_ref(), o.as_ref()).outcome,
        Outcome::Dead(_)
    ));
}

#[test]
fn amount_or_currency_mismatch_needs_review_with_both_figures() {
    let (d, p, o) = step(
        &charge("ord_1", 400_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    assert_eq!(
        d.outcome,
        Outcome::Applied,
        "the money is real and is recorded"
    );
    let o = o.unwrap();
    assert_eq!(o.status, OrderStatus::NeedsReview);
    let why = o.review_reason.unwrap();
    assert!(why.contains("400000") && why.contains("500000"), "{why}");
    assert_eq!(p.unwrap().amount, MinorUnits(400_000));

    let mut usd = charge("ord_1", 500_000, 0);
    if let Fact::ChargeSucceeded { currency, .. } = &mut usd {
        *currency = "USD".parse().unwrap();
    }
    let (_, _, o) = step(&usd, Some(pending()), Some(order(500_000)));
    assert_eq!(o.unwrap().status, OrderStatus::NeedsReview);
}

#[test]
fn unknown_reference_records_an_order_less_payment_for_review() {
    let (d, p, o) = step(&charge("ord_x", 1000, 0), None, None);
    assert_eq!(d.outcome, Outcome::Applied);
    assert!(o.is_none());
    let p = p.unwrap();
    assert_eq!(p.status, PaymentStatus::Success);
    assert!(p.review_reason.unwrap().contains("no order"));
}

#[test]
fn refunds_before_the_charge_are_parked() {
    for payment in [None, Some(pending())] {
        let d = decide(&refund("ord_1", 100), payment.as_ref(), None);
        assert!(matches!(d.outcome, Outcome::Parked(_)), "{d:?}");
    }
}

#[test]
fn partial_then_full_refund() {
    let (_, p, o) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    let (d, p, o) = step(&refund("ord_1", 200_000), p, o);
    assert_eq!(d.journal.unwrap().kind, TxKind::Refund);
    assert_eq!(p.as_ref().unwrap().status, PaymentStatus::PartiallyRefunded);
    assert_eq!(o.as_ref().unwrap().status, OrderStatus::PartiallyRefunded);
    let (_, p, o) = step(&refund("ord_1", 300_000), p, o);
    assert_eq!(p.as_ref().unwrap().status, PaymentStatus::Refunded);
    assert_eq!(o.as_ref().unwrap().status, OrderStatus::Refunded);
    let d = decide(&refund("ord_1", 1), p.as_ref(), o.as_ref());
    assert!(
        matches!(d.outcome, Outcome::Dead(_)),
        "refund beyond a full refund"
    );
}

#[test]
fn refund_larger_than_the_capture_is_dead() {
    let (_, p, o) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    let d = decide(&refund("ord_1", 500_001), p.as_ref(), o.as_ref());
    assert!(matches!(d.outcome, Outcome::Dead(_)));
}

#[test]
fn disputes_hold_then_return_or_charge_back() {
    let dispute = |won: Option<bool>| match won {
        None => Fact::DisputeOpened {
            reference: "ord_1".into(),
            amount: MinorUnits(500_000),
            currency: NGN,
        },
        Some(merchant_won) => Fact::DisputeResolved {
            reference: "ord_1".into(),
            amount: MinorUnits(500_000),
            currency: NGN,
            merchant_won,
        },
    };
    let (_, p0, o0) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    let (d, p, o) = step(&dispute(None), p0, o0);
    assert_eq!(d.journal.unwrap().kind, TxKind::DisputeOpened);
    assert_eq!(p.as_ref().unwrap().status, PaymentStatus::Disputed);
    assert_eq!(o.as_ref().unwrap().status, OrderStatus::Disputed);
    assert!(matches!(
        decide(&dispute(None), p.as_ref(), o.as_ref()).outcome,
        Outcome::Ignored(_)
    ));

    let (d, pw, ow) = step(&dispute(Some(true)), p.clone(), o.clone());
    assert_eq!(d.journal.unwrap().kind, TxKind::DisputeWon);
    assert_eq!(pw.unwrap().status, PaymentStatus::Success);
    assert_eq!(ow.unwrap().status, OrderStatus::Paid);

    let (d, pl, ol) = step(&dispute(Some(false)), p, o);
    assert_eq!(d.journal.unwrap().kind, TxKind::DisputeLost);
    assert_eq!(pl.unwrap().status, PaymentStatus::Refunded);
    assert_eq!(ol.unwrap().status, OrderStatus::Refunded);
}

#[test]
fn failures_apply_to_pending_payments_only() {
    let failed = |abandoned| Fact::ChargeFailed {
        reference: "ord_1".into(),
        gateway: "paystack".into(),
        abandoned,
        reason: "gateway reports `abandoned`".into(),
    };
    let (d, p, o) = step(&failed(true), Some(pending()), Some(order(500_000)));
    assert_eq!(d.outcome, Outcome::Applied);
    assert!(d.journal.is_none(), "no money moved");
    assert_eq!(p.as_ref().unwrap().status, PaymentStatus::Failed);
    assert_eq!(o.as_ref().unwrap().status, OrderStatus::Abandoned);
    // A customer who pays after all: money wins.
    let (d, _, o) = step(&charge("ord_1", 500_000, 0), p, o);
    assert_eq!(d.outcome, Outcome::Applied);
    assert_eq!(o.unwrap().status, OrderStatus::Paid);

    // A stale failure after success changes nothing.
    let (_, p, o) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    assert!(matches!(
        decide(&failed(false), p.as_ref(), o.as_ref()).outcome,
        Outcome::Ignored(_)
    ));
}

#[test]
fn needs_review_is_sticky() {
    let (_, p, o) = step(
        &charge("ord_1", 400_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    let (_, _, o) = step(&refund("ord_1", 400_000), p, o);
    assert_eq!(o.unwrap().status, OrderStatus::NeedsReview);
}

#[test]
fn impossible_figures_are_dead() {
    for (amount, fees) in [(0, 0), (-5, 0), (100, 101), (100, -1)] {
        let d = decide(&charge("ord_1", amount, fees), Some(&pending()), None);
        assert!(matches!(d.outcome, Outcome::Dead(_)), "{amount} {fees}");
    }
}

fn any_fact() -> impl Strategy<Value = Fact> {
    (0u8..6, 1i64..600_000, 0i64..10_000, any::<bool>()).prop_map(|(k, amount, fees, flag)| {
        let amount = MinorUnits(amount);
        match k {
            0 => charge("ord_1", amount.get(), fees.min(amount.get())),
            1 => refund("ord_1", amount.get()),
            2 => Fact::DisputeOpened {
                reference: "ord_1".into(),
                amount,
                currency: NGN,
            },
            3 => Fact::DisputeResolved {
                reference: "ord_1".into(),
                amount,
                currency: NGN,
                merchant_won: flag,
            },
            4 => Fact::ChargeFailed {
                reference: "ord_1".into(),
                gateway: "paystack".into(),
                abandoned: flag,
                reason: "x".into(),
            },
            _ => Fact::Noted {
                reference: None,
                why: "noted".into(),
            },
        }
    })
}

proptest! {
    /// Whatever facts arrive in whatever order: money only moves through balanced journal
    /// transactions, refunds never exceed the capture, a charge is posted at most once, and a
    /// decision that changes nothing changes nothing.
    #[test]
    fn any_sequence_of_facts_keeps_the_books_straight(facts in prop::collection::vec(any_fact(), 1..30)) {
        let (mut p, mut o) = (Some(pending()), Some(order(500_000)));
        let mut charges = 0;
        for fact in &facts {
            let (d, np, no) = step(fact, p.clone(), o.clone());
            if let Some(j) = &d.journal {
                prop_assert_eq!(j.check_balanced(), Ok(()));
                prop_assert_eq!(d.outcome.clone(), Outcome::Applied);
                if j.kind == TxKind::Charge { charges += 1; }
            }
            if !matches!(d.outcome, Outcome::Applied) {
                prop_assert!(d.payment.is_none() && d.order.is_none() && d.journal.is_none());
            }
            let pay = np.as_ref().unwrap();
            prop_assert!(pay.refunded <= pay.amount);
            prop_assert!(pay.refunded >= MinorUnits::ZERO);
            p = np;
            o = no;
        }
        prop_assert!(charges <= 1, "one capture per reference");
    }
}

#[test]
fn an_order_created_after_its_charge_is_paid_at_once() {
    let (_, paid, _) = step(&charge("ord_1", 500_000, 7_500), None, None);
    let paid = paid.unwrap();
    assert_eq!(
        paid.review_reason.as_deref(),
        Some("no order for reference ord_1")
    );
    let (o, p) = order_meets_payment(&order(500_000), &paid).unwrap();
    assert_eq!(o.status, OrderStatus::Paid);
    assert_eq!(p.review_reason, None, "the payment found its order");
    assert_eq!(p.status, PaymentStatus::Success);
}

#[test]
fn an_order_created_after_a_charge_of_another_amount_needs_review() {
    let (_, paid, _) = step(&charge("ord_1", 400_000, 0), None, None);
    let (o, p) = order_meets_payment(&order(500_000), &paid.unwrap()).unwrap();
    assert_eq!(o.status, OrderStatus::NeedsReview);
    assert!(o.review_reason.unwrap().contains("expects 500000"));
    assert!(p.review_reason.unwrap().contains("charged 400000"));
}

#[test]
fn an_order_follows_a_payment_refunded_before_it_existed() {
    let (_, p, _) = step(&charge("ord_1", 500_000, 0), None, None);
    let (_, p, _) = step(&refund("ord_1", 500_000), p, None);
    let (o, _) = order_meets_payment(&order(500_000), &p.unwrap()).unwrap();
    assert_eq!(o.status, OrderStatus::Refunded);
}

#[test]
fn nothing_to_adopt_without_money_or_once_the_order_moved() {
    assert!(order_meets_payment(&order(500_000), &pending()).is_none());
    let (_, paid, _) = step(&charge("ord_1", 500_000, 0), None, None);
    let moved = Order {
        status: OrderStatus::Paid,
        ..order(500_000)
    };
    assert!(order_meets_payment(&moved, &paid.unwrap()).is_none());
}
