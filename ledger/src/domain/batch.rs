//! A whole batch decided in memory: the pipeline loads every payment, order and parked event
//! the batch's references touch in a few set-wise reads, this folds the events through
//! [`decide`] one by one in arrival order — exactly as if each were applied alone — and the
//! pipeline writes the end state back in a few set-wise writes. Pure, so the equivalence with
//! event-by-event application is tested without a database.

use std::collections::{BTreeSet, HashMap};

use super::decide::{decide, Decision, Outcome};
use super::fact::Fact;
use super::journal::JournalTx;
use super::order::Order;
use super::payment::Payment;

/// A new event of the batch: an id naming it in the plan (unique in the batch; the pipeline
/// uses provisional ones until the inbox assigns real ids) and the fact it states (or why it
/// cannot be read).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: i64,
    pub fact: Result<Fact, String>,
}

/// An event parked by an earlier batch on one of this batch's references.
#[derive(Debug, Clone)]
pub struct ParkedEvent {
    pub id: i64,
    pub fact: Fact,
}

/// The final outcome of one inbox event the batch touched (each id once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub id: i64,
    pub reference: Option<String>,
    pub outcome: Outcome,
}

/// What the batch writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The outcome each new event had when it was first decided, in input order (what the
    /// batch report counts; a later unpark is counted in `unparked`).
    pub first: Vec<Outcome>,
    /// The last outcome of every event decided, new or previously parked.
    pub settled: Vec<Settled>,
    /// Payments that changed, in their end state, one per reference.
    pub payments: Vec<Payment>,
    /// Orders that changed, in their end state, one per reference.
    pub orders: Vec<Order>,
    /// Journal transactions, each with the id of the event that posted it (as the plan names
    /// it), in posting order.
    pub journal: Vec<(i64, JournalTx)>,
    /// Previously parked events (of earlier batches or this one) that left the parked state.
    pub unparked: u64,
}

#[derive(Default)]
struct Folding {
    payments: HashMap<String, Payment>,
    orders: HashMap<String, Order>,
    changed_payments: BTreeSet<String>,
    changed_orders: BTreeSet<String>,
    /// Per reference, events still parked, oldest first.
    parked: HashMap<String, Vec<ParkedEvent>>,
    settled: Vec<Settled>,
    settled_at: HashMap<i64, usize>,
    journal: Vec<(i64, JournalTx)>,
    unparked: u64,
}

impl Folding {
    /// Decides `fact` against the current state, keeps the result, records the outcome.
    fn decide(&mut self, id: i64, fact: &Fact) -> Outcome {
        let reference = fact.reference();
        let decision = match reference {
            Some(r) => decide(fact, self.payments.get(r), self.orders.get(r)),
            None => decide(fact, None, None),
        };
        let Decision {
            outcome,
            payment,
            order,
            journal,
        } = decision;
        if let Some(p) = payment {
            self.changed_payments.insert(p.reference.clone());
            self.payments.insert(p.reference.clone(), p);
        }
        if let Some(o) = order {
            self.changed_orders.insert(o.reference.clone());
            self.orders.insert(o.reference.clone(), o);
        }
        if let Some(j) = journal {
            self.journal.push((id, j));
        }
        self.settle(id, reference.map(str::to_owned), outcome.clone());
        outcome
    }

    fn settle(&mut self, id: i64, reference: Option<String>, outcome: Outcome) {
        let s = Settled {
            id,
            reference,
            outcome,
        };
        match self.settled_at.get(&id) {
            Some(&at) => self.settled[at] = s,
            None => {
                self.settled_at.insert(id, self.settled.len());
                self.settled.push(s);
            }
        }
    }

    /// Re-decides the events parked on `reference`, oldest first, until a pass changes
    /// nothing (a dispute resolution may need the dispute's opening, parked before it).
    fn unpark(&mut self, reference: &str) {
        loop {
            let Some(waiting) = self.parked.remove(reference) else {
                return;
            };
            let mut still = Vec::with_capacity(waiting.len());
            let mut progress = false;
            for event in waiting {
                match self.decide(event.id, &event.fact) {
                    Outcome::Parked(_) => still.push(event),
                    _ => {
                        self.unparked += 1;
                        progress = true;
                    }
                }
            }
            if !still.is_empty() {
                self.parked.insert(reference.to_owned(), still);
            }
            if !progress {
                return;
            }
        }
    }
}

/// Folds `events` (in arrival order) over the current `payments` and `orders` of their
/// references and the events already `parked` on them (oldest first).
pub fn plan(
    events: Vec<NewEvent>,
    payments: Vec<Payment>,
    orders: Vec<Order>,
    parked: Vec<ParkedEvent>,
) -> Plan {
    let mut f = Folding {
        payments: payments
            .into_iter()
            .map(|p| (p.reference.clone(), p))
            .collect(),
        orders: orders
            .into_iter()
            .map(|o| (o.reference.clone(), o))
            .collect(),
        ..Folding::default()
    };
    for p in parked {
        if let Some(r) = p.fact.reference().map(str::to_owned) {
            f.parked.entry(r).or_default().push(p);
        }
    }
    let mut first = Vec::with_capacity(events.len());
    for event in events {
        let fact = match event.fact {
            Ok(fact) => fact,
            Err(reason) => {
                let outcome = Outcome::Dead(reason);
                f.settle(event.id, None, outcome.clone());
                first.push(outcome);
                continue;
            }
        };
        let outcome = f.decide(event.id, &fact);
        match (&outcome, fact.reference()) {
            (Outcome::Parked(_), Some(r)) => f
                .parked
                .entry(r.to_owned())
                .or_default()
                .push(ParkedEvent { id: event.id, fact }),
            (Outcome::Applied, Some(r)) => f.unpark(r),
            _ => {}
        }
        first.push(outcome);
    }
    let payments = take_changed(&mut f.payments, &f.changed_payments);
    let orders = take_changed(&mut f.orders, &f.changed_orders);
    Plan {
        first,
        settled: f.settled,
        payments,
        orders,
        journal: f.journal,
        unparked: f.unparked,
    }
}

fn take_changed<T>(all: &mut HashMap<String, T>, changed: &BTreeSet<String>) -> Vec<T> {
    changed.iter().filter_map(|r| all.remove(r)).collect()
}

#[cfg(test)]
mod tests {
    use keffi_shared::Provider;

    use keffi_shared::{Currency, MinorUnits};
    use proptest::prelude::*;

    use super::*;
    use crate::domain::{OrderStatus, PaymentStatus};

    fn charge(reference: &str, amount: i64) -> Fact {
        Fact::ChargeSucceeded {
            reference: reference.into(),
            gateway: Provider::Paystack,
            gateway_id: format!("gw_{reference}"),
            amount: MinorUnits(amount),
            requested_amount: None,
            currency: Currency::NGN,
            fees: MinorUnits(0),
            channel: None,
            paid_at: None,
        }
    }

    fn refund(reference: &str, amount: i64) -> Fact {
        Fact::RefundProcessed {
            gateway: Provider::Paystack,
            reference: reference.into(),
            amount: MinorUnits(amount),
            currency: Currency::NGN,
        }
    }

    fn dispute(reference: &str, amount: i64) -> Fact {
        Fact::DisputeOpened {
            gateway: Provider::Paystack,
            reference: reference.into(),
            dispute_id: "d1".into(),
            amount: MinorUnits(amount),
            currency: Currency::NGN,
        }
    }

    fn resolved(reference: &str, amount: i64, merchant_won: bool) -> Fact {
        Fact::DisputeResolved {
            gateway: Provider::Paystack,
            reference: reference.into(),
            dispute_id: "d1".into(),
            currency: Currency::NGN,
            resolution: if merchant_won {
                crate::domain::fact::Resolution::MerchantWon
            } else {
                crate::domain::fact::Resolution::CustomerRefunded {
                    refund: MinorUnits(amount),
                }
            },
        }
    }

    fn order(reference: &str, amount: i64) -> Order {
        Order {
            reference: reference.into(),
            amount: MinorUnits(amount),
            currency: Currency::NGN,
            status: OrderStatus::Pending,
            review_reason: None,
        }
    }

    fn new(id: i64, fact: Fact) -> NewEvent {
        NewEvent { id, fact: Ok(fact) }
    }

    /// The reference: each event applied alone, in order, against state saved after each —
    /// what the event-by-event pipeline does. Returns the same shape as `plan`.
    fn one_by_one(events: &[NewEvent], orders: &[Order]) -> Plan {
        let mut payments: HashMap<String, Payment> = HashMap::new();
        let mut orders: HashMap<String, Order> = orders
            .iter()
            .map(|o| (o.reference.clone(), o.clone()))
            .collect();
        let mut parked: Vec<(i64, Fact)> = Vec::new();
        let mut out = Plan::default();
        let mut last: HashMap<i64, Settled> = HashMap::new();
        let mut order_of_ids = Vec::new();
        let mut apply = |id: i64,
                         fact: &Fact,
                         payments: &mut HashMap<String, Payment>,
                         orders: &mut HashMap<String, Order>,
                         out: &mut Plan| {
            let r = fact.reference().unwrap();
            let d = decide(fact, payments.get(r), orders.get(r));
            if let Some(p) = d.payment {
                payments.insert(r.into(), p);
            }
            if let Some(o) = d.order {
                orders.insert(r.into(), o);
            }
            if let Some(j) = d.journal {
                out.journal.push((id, j));
            }
            if !last.contains_key(&id) {
                order_of_ids.push(id);
            }
            last.insert(
                id,
                Settled {
                    id,
                    reference: Some(r.into()),
                    outcome: d.outcome.clone(),
                },
            );
            d.outcome
        };
        for e in events {
            let fact = e.fact.as_ref().unwrap();
            let outcome = apply(e.id, fact, &mut payments, &mut orders, &mut out);
            out.first.push(outcome.clone());
            match outcome {
                Outcome::Parked(_) => parked.push((e.id, fact.clone())),
                Outcome::Applied => loop {
                    let r = fact.reference().unwrap();
                    let mut progress = false;
                    let mut i = 0;
                    while i < parked.len() {
                        if parked[i].1.reference() != Some(r) {
                            i += 1;
                            continue;
                        }
                        let (id, f) = parked[i].clone();
                        match apply(id, &f, &mut payments, &mut orders, &mut out) {
                            Outcome::Parked(_) => i += 1,
                            _ => {
                                parked.remove(i);
                                out.unparked += 1;
                                progress = true;
                            }
                        }
                    }
                    if !progress {
                        break;
                    }
                },
                _ => {}
            }
        }
        out.settled = order_of_ids.iter().map(|id| last[id].clone()).collect();
        let mut payments: Vec<Payment> = payments.into_values().collect();
        payments.sort_by(|a, b| a.reference.cmp(&b.reference));
        out.payments = payments;
        out.orders = orders.into_values().collect();
        out
    }

    #[test]
    fn a_refund_before_its_charge_waits_then_follows_it_in_the_same_batch() {
        let p = plan(
            vec![new(1, refund("r", 100)), new(2, charge("r", 500))],
            vec![],
            vec![order("r", 500)],
            vec![],
        );
        assert!(matches!(p.first[0], Outcome::Parked(_)));
        assert_eq!(p.first[1], Outcome::Applied);
        assert_eq!(p.unparked, 1);
        assert!(p.settled.iter().all(|s| s.outcome == Outcome::Applied));
        assert_eq!(
            p.payments.len(),
            1,
            "one row per reference, in its end state"
        );
        assert_eq!(p.payments[0].refunded, MinorUnits(100));
        assert_eq!(p.payments[0].status, PaymentStatus::PartiallyRefunded);
        assert_eq!(p.orders.len(), 1);
        let posted_by: Vec<i64> = p.journal.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            posted_by,
            [2, 1],
            "the charge posts before the refund it unblocked"
        );
    }

    #[test]
    fn events_parked_by_earlier_batches_are_released_by_a_charge() {
        let p = plan(
            vec![new(9, charge("r", 500))],
            vec![],
            vec![],
            vec![
                ParkedEvent {
                    id: 3,
                    fact: resolved("r", 500, true),
                },
                ParkedEvent {
                    id: 4,
                    fact: dispute("r", 500),
                },
            ],
        );
        // The resolution needs the opening, which is newer: a second pass picks it up.
        assert_eq!(p.unparked, 2);
        assert_eq!(p.payments[0].status, PaymentStatus::Success);
        assert_eq!(p.journal.len(), 3);
    }

    #[test]
    fn an_unreadable_event_is_dead_and_the_rest_goes_on() {
        let p = plan(
            vec![
                NewEvent {
                    id: 1,
                    fact: Err("bad json".into()),
                },
                new(2, charge("r", 500)),
            ],
            vec![],
            vec![],
            vec![],
        );
        assert_eq!(p.first[0], Outcome::Dead("bad json".into()));
        assert_eq!(p.first[1], Outcome::Applied);
        assert_eq!(p.settled.len(), 2);
    }

    fn fact_strategy() -> impl Strategy<Value = Fact> {
        let reference = prop::sample::select(vec!["a", "b", "c"]);
        let amount = prop::sample::select(vec![100i64, 250, 500]);
        (0..5u8, reference, amount, any::<bool>()).prop_map(|(kind, r, amount, won)| match kind {
            0 | 1 => charge(r, amount),
            2 => refund(r, amount / 2),
            3 => dispute(r, amount),
            _ => resolved(r, amount, won),
        })
    }

    proptest! {
        /// Folding a batch in memory ends where applying its events one by one ends: the same
        /// outcomes, journal and end state.
        #[test]
        fn the_fold_equals_one_by_one_application(
            facts in prop::collection::vec(fact_strategy(), 1..40),
            with_orders in any::<bool>(),
        ) {
            let events: Vec<NewEvent> = facts
                .into_iter()
                .enumerate()
                .map(|(i, f)| new(i as i64 + 1, f))
                .collect();
            let orders: Vec<Order> = if with_orders {
                ["a", "b", "c"].iter().map(|r| order(r, 500)).collect()
            } else {
                vec![]
            };
            let expected = one_by_one(&events, &orders);
            let got = plan(events, vec![], orders, vec![]);
            prop_assert_eq!(&got.first, &expected.first);
            prop_assert_eq!(&got.journal, &expected.journal);
            prop_assert_eq!(got.unparked, expected.unparked);
            let mut settled = got.settled.clone();
            let mut want = expected.settled.clone();
            settled.sort_by_key(|s| s.id);
            want.sort_by_key(|s| s.id);
            prop_assert_eq!(settled, want);
            prop_assert_eq!(&got.payments, &expected.payments);
            for o in &got.orders {
                prop_assert!(expected.orders.contains(o), "order {:?}", o);
            }
        }
    }
}
