use super::*;
use crate::domain::journal::{balances, Account, TxKind};
use keffi_shared::{Currency, Provider};
use proptest::prelude::*;

const NGN: Currency = Currency::NGN;

fn charge(reference: &str, amount: i64, fees: i64) -> Fact {
    Fact::ChargeSucceeded {
        reference: reference.into(),
        gateway: Provider::Paystack,
        gateway_id: "4099260516".into(),
        amount: MinorUnits(amount),
        requested_amount: None,
        currency: NGN,
        fees: MinorUnits(fees),
        channel: Some("card".into()),
        paid_at: Some("2026-11-25T10:00:00.000Z".into()),
    }
}

fn refund(reference: &str, amount: i64) -> Fact {
    Fact::RefundProcessed {
        gateway: Provider::Paystack,
        reference: reference.into(),
        amount: MinorUnits(amount),
        currency: NGN,
    }
}

fn opened(id: &str, amount: i64) -> Fact {
    Fact::DisputeOpened {
        gateway: Provider::Paystack,
        reference: "ord_1".into(),
        dispute_id: id.into(),
        amount: MinorUnits(amount),
        currency: NGN,
    }
}

fn resolved(id: &str, resolution: Resolution) -> Fact {
    Fact::DisputeResolved {
        gateway: Provider::Paystack,
        reference: "ord_1".into(),
        dispute_id: id.into(),
        currency: NGN,
        resolution,
    }
}

fn lost(refund: i64) -> Resolution {
    Resolution::CustomerRefunded {
        refund: MinorUnits(refund),
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
    Payment::pending("ord_1", Provider::Paystack, MinorUnits(500_000), NGN)
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
        b[&(Account::merchant_balance(Provider::Paystack), NGN)],
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

/// The customer paid twice (another transaction, here through the fallback gateway): the
/// second capture is journaled too, kept beside the first, and payment and order wait for a
/// human; its retry changes nothing; its refund comes out of the payment's money, and the
/// other gateway's refund is now one of this payment's.
#[test]
fn a_second_capture_is_journaled_and_held_for_review() {
    let (_, p, o) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    let other = Fact::ChargeSucceeded {
        reference: "ord_1".into(),
        gateway: Provider::Flutterwave,
        gateway_id: "999".into(),
        amount: MinorUnits(500_000),
        requested_amount: None,
        currency: NGN,
        fees: MinorUnits(7_000),
        channel: None,
        paid_at: None,
    };
    let (d, p, o) = step(&other, p, o);
    assert_eq!(d.outcome, Outcome::Applied);
    let j = d.journal.expect("the second capture is journaled");
    assert_eq!(j.check_balanced(), Ok(()));
    let pay = p.clone().unwrap();
    assert_eq!(pay.captured_total(), MinorUnits(1_000_000));
    assert!(pay
        .review_reason
        .as_deref()
        .unwrap()
        .contains("captured twice"));
    assert_eq!(o.as_ref().unwrap().status, OrderStatus::NeedsReview);
    assert_eq!(pay.check_invariants(), Ok(()));
    // The same second capture again: nothing.
    let (again, p, o) = step(&other, p, o);
    assert!(
        matches!(again.outcome, Outcome::Ignored(_)),
        "{:?}",
        again.outcome
    );
    // Flutterwave refunds its capture: out of this payment, which still holds the first.
    let flw_refund = Fact::RefundProcessed {
        gateway: Provider::Flutterwave,
        reference: "ord_1".into(),
        amount: MinorUnits(500_000),
        currency: NGN,
    };
    let (d, p, o) = step(&flw_refund, p, o);
    assert_eq!(d.outcome, Outcome::Applied);
    let pay = p.unwrap();
    assert_eq!(
        (pay.refunded, pay.status),
        (MinorUnits(500_000), PaymentStatus::PartiallyRefunded)
    );
    assert_eq!(
        o.unwrap().status,
        OrderStatus::NeedsReview,
        "a human closes it"
    );
    // In another currency it cannot stand beside the first: dead.
    let mut ghs = other.clone();
    if let Fact::ChargeSucceeded {
        currency,
        gateway_id,
        ..
    } = &mut ghs
    {
        *currency = "GHS".parse().unwrap();
        *gateway_id = "1000".into();
    }
    let (_, p, o) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    assert!(matches!(
        decide(&ghs, p.as_ref(), o.as_ref()).outcome,
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

/// A customer who paid twice (Paystack, then the Flutterwave fallback, whose capture is the
/// dead second one): a Flutterwave refund of that second payment never takes money out of
/// the Paystack one, and neither does a dispute of it.
#[test]
fn refunds_and_disputes_from_another_gateway_than_the_capture_are_dead() {
    let (_, p, o) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    let other = Fact::RefundProcessed {
        gateway: Provider::Flutterwave,
        reference: "ord_1".into(),
        amount: MinorUnits(500_000),
        currency: NGN,
    };
    let (d, p, _) = step(&other, p, o);
    assert!(
        matches!(d.outcome, Outcome::Dead(ref why) if why.contains("captured through paystack")),
        "{:?}",
        d.outcome
    );
    assert_eq!(p.unwrap().refunded, MinorUnits::ZERO);
    let dispute = Fact::DisputeOpened {
        gateway: Provider::Stripe,
        reference: "ord_1".into(),
        dispute_id: "dp_1".into(),
        amount: MinorUnits(1),
        currency: NGN,
    };
    let d = decide(&dispute, Some(&pending()), None);
    assert!(
        matches!(d.outcome, Outcome::Parked(_)),
        "before any capture it waits, as any dispute"
    );
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
    let (_, p0, o0) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    let (d, p, o) = step(&opened("d1", 500_000), p0, o0);
    assert_eq!(d.journal.unwrap().kind, TxKind::DisputeOpened);
    assert_eq!(p.as_ref().unwrap().status, PaymentStatus::Disputed);
    assert_eq!(o.as_ref().unwrap().status, OrderStatus::Disputed);
    assert!(matches!(
        decide(&opened("d1", 500_000), p.as_ref(), o.as_ref()).outcome,
        Outcome::Ignored(_)
    ));

    let (d, pw, ow) = step(
        &resolved("d1", Resolution::MerchantWon),
        p.clone(),
        o.clone(),
    );
    assert_eq!(d.journal.unwrap().kind, TxKind::DisputeWon);
    assert_eq!(pw.unwrap().status, PaymentStatus::Success);
    assert_eq!(ow.unwrap().status, OrderStatus::Paid);

    let (d, pl, ol) = step(&resolved("d1", lost(500_000)), p, o);
    assert_eq!(d.journal.unwrap().kind, TxKind::DisputeLost);
    let pl = pl.unwrap();
    assert_eq!(pl.status, PaymentStatus::Refunded);
    assert_eq!(pl.charged_back, MinorUnits(500_000));
    assert_eq!(pl.refunded, MinorUnits::ZERO);
    assert_eq!(ol.unwrap().status, OrderStatus::Refunded);
}

#[test]
fn a_partial_acceptance_charges_back_part_and_returns_the_rest() {
    let (_, p, o) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    let (_, p, o) = step(&opened("d1", 500_000), p, o);
    let (d, p, o) = step(&resolved("d1", lost(100_000)), p, o);
    let b = balances(&d.journal.unwrap().entries).unwrap();
    assert_eq!(b[&(Account::chargebacks(), NGN)], MinorUnits(100_000));
    assert_eq!(
        b[&(Account::merchant_balance(Provider::Paystack), NGN)],
        MinorUnits(400_000)
    );
    assert_eq!(b[&(Account::disputes_held(), NGN)], MinorUnits(-500_000));
    let p = p.unwrap();
    assert_eq!(p.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(p.charged_back, MinorUnits(100_000));
    assert_eq!(o.unwrap().status, OrderStatus::PartiallyRefunded);
    assert_eq!(p.check_invariants(), Ok(()));
}

/// Neither a dispute after a full refund nor a refund during an open dispute can make
/// refunds + chargebacks exceed the capture.
#[test]
fn refunds_and_disputes_never_return_more_than_was_captured() {
    let (_, p, o) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    // A dispute after a full refund has nothing left to take.
    let (_, refunded, ro) = step(&refund("ord_1", 500_000), p.clone(), o.clone());
    assert_eq!(ro.as_ref().unwrap().status, OrderStatus::Refunded);
    let d = decide(&opened("d1", 500_000), refunded.as_ref(), ro.as_ref());
    assert!(matches!(d.outcome, Outcome::Dead(_)), "{:?}", d.outcome);

    // A refund during an open dispute of the whole amount waits for the dispute...
    let (_, disputed, dor) = step(&opened("d1", 500_000), p.clone(), o.clone());
    let d = decide(&refund("ord_1", 200_000), disputed.as_ref(), dor.as_ref());
    assert!(matches!(d.outcome, Outcome::Parked(_)), "{:?}", d.outcome);
    // ... applies if the merchant wins it ...
    let (_, won, wo) = step(
        &resolved("d1", Resolution::MerchantWon),
        disputed.clone(),
        dor.clone(),
    );
    let (d, after, _) = step(&refund("ord_1", 200_000), won, wo);
    assert_eq!(d.outcome, Outcome::Applied);
    assert_eq!(after.unwrap().check_invariants(), Ok(()));
    // ... and is dead if the customer got everything back.
    let (_, gone, go) = step(&resolved("d1", lost(500_000)), disputed, dor);
    let d = decide(&refund("ord_1", 200_000), gone.as_ref(), go.as_ref());
    assert!(matches!(d.outcome, Outcome::Dead(_)), "{:?}", d.outcome);

    // Two disputes on one transaction, each on its own.
    let (_, p2, o2) = step(&opened("d1", 300_000), p.clone(), o.clone());
    let (d, p2, o2) = step(&opened("d2", 200_000), p2, o2);
    assert_eq!(d.outcome, Outcome::Applied);
    let d = decide(&opened("d3", 1), p2.as_ref(), o2.as_ref());
    assert!(
        matches!(d.outcome, Outcome::Dead(_)),
        "nothing left to dispute"
    );
    let (_, p2, o2) = step(&resolved("d2", lost(200_000)), p2, o2);
    assert_eq!(
        p2.as_ref().unwrap().status,
        PaymentStatus::Disputed,
        "d1 still open"
    );
    let (_, p2, o2) = step(&resolved("d1", Resolution::MerchantWon), p2, o2);
    let p2 = p2.unwrap();
    assert_eq!(p2.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(o2.unwrap().status, OrderStatus::PartiallyRefunded);
    assert_eq!(p2.check_invariants(), Ok(()));
}

#[test]
fn a_resolution_waits_for_its_own_dispute() {
    let (_, p, o) = step(
        &charge("ord_1", 500_000, 0),
        Some(pending()),
        Some(order(500_000)),
    );
    let (_, p, o) = step(&opened("d1", 100_000), p, o);
    let d = decide(&resolved("d2", lost(100_000)), p.as_ref(), o.as_ref());
    assert!(matches!(d.outcome, Outcome::Parked(_)));
    let (_, p, o) = step(&resolved("d1", lost(100_000)), p, o);
    let d = decide(&resolved("d1", lost(100_000)), p.as_ref(), o.as_ref());
    assert!(matches!(d.outcome, Outcome::Ignored(_)), "resolved once");
}

/// Amounts that are not amounts are dead, never parked, never applied.
#[test]
fn amounts_that_are_not_amounts_are_dead_even_before_their_charge() {
    let over = MinorUnits::MAX_AMOUNT.get() + 1;
    for amount in [0, -1, -500_000, over, i64::MAX, i64::MIN] {
        for fact in [refund("ord_1", amount), opened("d1", amount)] {
            let d = decide(&fact, Some(&pending()), Some(&order(500_000)));
            assert!(
                matches!(d.outcome, Outcome::Dead(_)),
                "{fact:?}: {:?}",
                d.outcome
            );
            assert!(d.payment.is_none() && d.journal.is_none());
        }
        let d = decide(&resolved("d1", lost(amount)), None, None);
        assert!(matches!(d.outcome, Outcome::Dead(_)), "{amount}");
        let d = decide(&charge("ord_1", amount, 0), Some(&pending()), None);
        assert!(matches!(d.outcome, Outcome::Dead(_)), "{amount}");
    }
}

#[test]
fn passed_on_fees_are_compared_with_what_the_merchant_asked() {
    let with_fees = Fact::ChargeSucceeded {
        reference: "ord_1".into(),
        gateway: Provider::Paystack,
        gateway_id: "1".into(),
        amount: MinorUnits(40_333),
        requested_amount: Some(MinorUnits(30_050)),
        currency: NGN,
        fees: MinorUnits(10_283),
        channel: None,
        paid_at: None,
    };
    let (d, p, o) = step(&with_fees, Some(pending()), Some(order(30_050)));
    assert_eq!(d.outcome, Outcome::Applied);
    assert_eq!(o.unwrap().status, OrderStatus::Paid);
    let p = p.unwrap();
    assert_eq!(
        (p.amount, p.requested),
        (MinorUnits(40_333), MinorUnits(30_050))
    );
    let b = balances(&d.journal.unwrap().entries).unwrap();
    assert_eq!(
        b[&(Account::merchant_balance(Provider::Paystack), NGN)],
        MinorUnits(30_050)
    );
    // The same charge against an order of the gross amount is a mismatch.
    let (_, _, o) = step(&with_fees, Some(pending()), Some(order(40_333)));
    assert_eq!(o.unwrap().status, OrderStatus::NeedsReview);
}

#[test]
fn failures_apply_to_pending_payments_only() {
    let failed = |abandoned| Fact::ChargeFailed {
        reference: "ord_1".into(),
        gateway: Provider::Paystack,
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
    (0u8..7, -10i64..600_000, 0i64..10_000, any::<bool>(), 0u8..3).prop_map(
        |(k, amount, fees, flag, id)| {
            let id = format!("d{id}");
            match k {
                0 => charge("ord_1", amount, fees.min(amount.max(0))),
                1 => refund("ord_1", amount),
                2 => opened(&id, amount),
                3 if flag => resolved(&id, Resolution::MerchantWon),
                3 => resolved(&id, lost(amount)),
                4 => Fact::ChargeFailed {
                    reference: "ord_1".into(),
                    gateway: Provider::Paystack,
                    abandoned: flag,
                    reason: "x".into(),
                },
                5 => Fact::RefundedTo {
                    gateway: Provider::Paystack,
                    reference: "ord_1".into(),
                    total: MinorUnits(amount),
                    currency: NGN,
                },
                _ => Fact::Noted {
                    reference: None,
                    why: "noted".into(),
                },
            }
        },
    )
}

/// Stripe's `charge.refunded` says the refunds so far in all: however the events of one real
/// sequence of refunds arrive (out of order, repeated, some before the charge), the payment
/// ends refunded by the largest total, once, and the journal's refunds add up to it.
fn totals_arriving_in_any_order() -> impl Strategy<Value = (Vec<i64>, Vec<usize>, usize)> {
    prop::collection::vec(1i64..100_000, 1..6).prop_flat_map(|steps| {
        let totals: Vec<i64> = steps
            .iter()
            .scan(0, |sum, s| {
                *sum += s;
                Some(*sum)
            })
            .collect();
        let n = totals.len();
        (
            Just(totals),
            prop::collection::vec(0..n, n..3 * n).prop_shuffle(),
            0..=n,
        )
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
            prop_assert_eq!(pay.check_invariants(), Ok(()));
            if let (Some(o), true) = (&no, pay.status.is_captured()) {
                if o.status != OrderStatus::NeedsReview {
                    prop_assert_eq!(o.status, OrderStatus::following(pay.status));
                }
            }
            p = np;
            o = no;
        }
        prop_assert!(charges <= 1, "one capture per reference");
    }

    #[test]
    fn refunds_in_all_count_once_whatever_the_order(case in totals_arriving_in_any_order()) {
        let (totals, order_of_arrival, charge_at) = case;
        let fact = |t: i64| Fact::RefundedTo { gateway: Provider::Paystack, reference: "ord_1".into(), total: MinorUnits(t), currency: NGN };
        // Every total arrives at least once; the charge somewhere among them.
        let mut arrivals: Vec<Fact> = order_of_arrival.iter().map(|i| fact(totals[*i])).collect();
        arrivals.extend(totals.iter().map(|t| fact(*t)));
        arrivals.insert(charge_at.min(arrivals.len()), charge("ord_1", 500_000, 0));
        let (mut p, mut o) = (Some(pending()), Some(order(500_000)));
        let mut parked: Vec<Fact> = Vec::new();
        let mut refunded_in_journal = 0;
        for f in arrivals {
            let (d, np, no) = step(&f, p.clone(), o.clone());
            if matches!(d.outcome, Outcome::Parked(_)) { parked.push(f.clone()); }
            if let Some(j) = &d.journal {
                if j.kind == TxKind::Refund { refunded_in_journal += j.entries.iter().filter(|e| e.amount.get() > 0 && e.account == Account::refunds()).map(|e| e.amount.get()).sum::<i64>(); }
            }
            p = np;
            o = no;
            // A charge unparks what waited on it, in order.
            if p.as_ref().is_some_and(|p| p.status.is_captured()) {
                for f in std::mem::take(&mut parked) {
                    let (d, np, no) = step(&f, p.clone(), o.clone());
                    if let Some(j) = &d.journal {
                        if j.kind == TxKind::Refund { refunded_in_journal += j.entries.iter().filter(|e| e.amount.get() > 0 && e.account == Account::refunds()).map(|e| e.amount.get()).sum::<i64>(); }
                    }
                    p = np;
                    o = no;
                }
            }
        }
        let max = *totals.iter().max().unwrap();
        prop_assert_eq!(p.unwrap().refunded, MinorUnits(max));
        prop_assert_eq!(refunded_in_journal, max);
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
