//! The money rules checked against a reference model, over generated sequences, on both
//! stores.
//!
//! The model below is deliberately plain: per reference, what was captured, refunded,
//! charged back and held by each dispute, the order's status, and every event's inbox
//! status, changed one event at a time by a few lines per rule. It shares no code with the
//! ledger's domain. Proptest generates sequences of what real traffic does — charges (repeated,
//! re-delivered, another gateway id for the same reference, fees passed on), refunds (re-sent,
//! re-keyed, zero, negative, absurd), disputes (several per transaction, every resolution,
//! resolutions before openings), the reconciler's verify answers, orders created at any
//! point, operators' replays, batches cut anywhere, and a crash before or after a batch's
//! commit — runs each through the real pipeline, and after every step checks that the store
//! holds the model's state and that every money invariant holds.
//!
//! Every sequence runs at two merchants at once, with the same references: each event and
//! step belongs to one of them, a batch mixes both, and each merchant's store state is held to
//! its own model, so a merchant's event that touched the other's order, payment, journal or
//! inbox fails the comparison.
//!
//! `KEFFI_MODEL_CASES` sets the number of sequences per store (default 24).

use crate::common;

use std::collections::{BTreeMap, HashMap};

use common::paystack;
use keffi_ledger::domain::{OrderStatus, PaymentStatus};
use keffi_ledger::pipeline::{apply_batch, apply_events, replay, Incoming};
use keffi_ledger::store::{now_ms, Store};
use keffi_shared::{Currency, Envelope, IdempotencyKey, MerchantId, MinorUnits, Provider};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const MAX: i64 = 1_000_000_000_000;
const REFERENCES: usize = 3;
/// The merchants every sequence runs at: the default one and another, with clashing
/// references.
const MERCHANTS: [&str; 2] = ["default", "acme"];

// ---------------------------------------------------------------------------------------
// What happens.

#[derive(Debug, Clone)]
enum Resolution {
    Declined,
    Accepted(i64),
    AutoAccepted(i64),
    /// A value Paystack does not document.
    Bogus,
}

#[derive(Debug, Clone)]
enum Ev {
    Charge {
        r: usize,
        gw: u64,
        amount: i64,
        fees: i64,
        /// Fees passed on: the merchant asked for `amount - fees`.
        passed_on: bool,
        /// In GHS instead of NGN (orders are in NGN).
        ghs: bool,
    },
    /// The reconciler's verify answer.
    Verify {
        r: usize,
        gw: u64,
        amount: i64,
        status: &'static str,
    },
    Refund {
        r: usize,
        tag: u8,
        amount: i64,
        ghs: bool,
    },
    DisputeOpen {
        r: usize,
        d: u64,
        amount: i64,
        ghs: bool,
    },
    DisputeResolve {
        r: usize,
        d: u64,
        resolution: Resolution,
        ghs: bool,
    },
}

impl Ev {
    fn r(&self) -> usize {
        match self {
            Ev::Charge { r, .. }
            | Ev::Verify { r, .. }
            | Ev::Refund { r, .. }
            | Ev::DisputeOpen { r, .. }
            | Ev::DisputeResolve { r, .. } => *r,
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// One pulled batch (each event with its merchant's index), applied and committed.
    Deliver(Vec<(usize, Ev)>),
    /// The batch applied and rolled back (the ledger died before commit), then pulled again.
    CrashThenDeliver(Vec<(usize, Ev)>),
    /// The last batch pulled again (the ledger died after commit, before its ack).
    Redeliver,
    CreateOrder {
        m: usize,
        r: usize,
        amount: i64,
    },
    /// An operator of merchant `m` replays its `pick`th (mod their number) dead or parked
    /// event.
    Replay {
        m: usize,
        pick: usize,
    },
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => prop::sample::select(vec![100i64, 200, 300, 500, 950, 1000]),
        1 => prop::sample::select(vec![0i64, -100, MAX + 1, i64::MAX, i64::MIN]),
    ]
}

/// Mostly NGN, sometimes another currency.
fn ghs() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.1)
}

fn ev() -> impl Strategy<Value = Ev> {
    let r = 0..REFERENCES;
    prop_oneof![
        4 => (r.clone(), 1..3u64, prop::sample::select(vec![500i64, 1000, 0, -5, MAX + 1]),
              prop::sample::select(vec![0i64, 50]), any::<bool>(), ghs())
            .prop_map(|(r, gw, amount, fees, passed_on, ghs)| Ev::Charge { r, gw, amount, fees, passed_on, ghs }),
        1 => (r.clone(), 1..3u64, prop::sample::select(vec![500i64, 1000]),
              prop::sample::select(vec!["success", "failed", "abandoned"]))
            .prop_map(|(r, gw, amount, status)| Ev::Verify { r, gw, amount, status }),
        3 => (r.clone(), 0..3u8, amount(), ghs())
            .prop_map(|(r, tag, amount, ghs)| Ev::Refund { r, tag, amount, ghs }),
        2 => (r.clone(), 1..4u64, amount(), ghs())
            .prop_map(|(r, d, amount, ghs)| Ev::DisputeOpen { r, d, amount, ghs }),
        2 => (r, 1..4u64, prop_oneof![
                Just(Resolution::Declined),
                amount().prop_map(Resolution::Accepted),
                amount().prop_map(Resolution::AutoAccepted),
                Just(Resolution::Bogus),
            ], ghs())
            .prop_map(|(r, d, resolution, ghs)| Ev::DisputeResolve { r, d, resolution, ghs }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let batch = || prop::collection::vec((0..MERCHANTS.len(), ev()), 1..6);
    prop_oneof![
        6 => batch().prop_map(Step::Deliver),
        1 => batch().prop_map(Step::CrashThenDeliver),
        1 => Just(Step::Redeliver),
        2 => (0..MERCHANTS.len(), 0..REFERENCES, prop::sample::select(vec![500i64, 950, 1000]))
            .prop_map(|(m, r, amount)| Step::CreateOrder { m, r, amount }),
        1 => (0..MERCHANTS.len(), any::<usize>()).prop_map(|(m, pick)| Step::Replay { m, pick }),
    ]
}

// ---------------------------------------------------------------------------------------
// The events as Paystack (or the reconciler) would deliver them, for case `case`.

/// One sequence at one merchant: its references are the same at every merchant; its
/// gateways' transaction ids are its own (two gateway accounts never share one).
struct Case {
    n: u64,
    merchant: MerchantId,
    slot: u64,
}

impl Case {
    fn reference(&self, r: usize) -> String {
        format!("m{}_{r}", self.n)
    }

    fn id(&self, r: usize, x: u64) -> u64 {
        self.n * 1_000 + self.slot * 500 + r as u64 * 100 + x
    }

    fn incoming(&self, ev: &Ev) -> Incoming {
        common::of(&self.merchant, self.event(ev))
    }

    fn event(&self, ev: &Ev) -> Incoming {
        let reference = self.reference(ev.r());
        match ev {
            Ev::Charge {
                r,
                gw,
                amount,
                fees,
                passed_on,
                ghs,
            } => {
                let mut data = serde_json::json!({
                    "id": self.id(*r, *gw), "reference": reference, "amount": amount,
                    "currency": currency(*ghs), "status": "success", "fees": fees, "channel": "card",
                    "paid_at": "2026-11-25T10:00:00.000Z"
                });
                if *passed_on {
                    data["requested_amount"] = serde_json::json!(amount.saturating_sub(*fees));
                }
                paystack(serde_json::json!({"event": "charge.success", "data": data}))
            }
            Ev::Verify {
                r,
                gw,
                amount,
                status,
            } => {
                let body = serde_json::json!({
                    "status": true, "message": "Verification successful",
                    "data": {"id": self.id(*r, *gw), "reference": reference, "amount": amount,
                             "currency": "NGN", "status": status, "fees": 0}
                });
                let event_type = format!("verify.{status}");
                // The reconciler's key names the merchant, but the default one's.
                let whose = if self.merchant.is_default() {
                    reference.clone()
                } else {
                    format!("{}/{reference}", self.merchant)
                };
                let key =
                    IdempotencyKey::parse(format!("reconciler:{event_type}:{whose}")).unwrap();
                Incoming {
                    merchant: self.merchant.clone(),
                    envelope: Envelope {
                        v: keffi_shared::version::V1,
                        source: keffi_ledger::reconciler::SOURCE.into(),
                        provider: Provider::Paystack,
                        key,
                        event_type,
                        received_at_ms: now_ms(),
                        headers: [(
                            keffi_ledger::reconciler::REFERENCE_HEADER.to_owned(),
                            reference,
                        )]
                        .into(),
                        body: serde_json::to_vec(&body).unwrap(),
                    },
                    origin: None,
                }
            }
            Ev::Refund {
                tag, amount, ghs, ..
            } => paystack(serde_json::json!({
                "event": "refund.processed",
                "data": {"status": "processed", "transaction_reference": reference,
                         "refund_reference": format!("{reference}_rf{tag}"),
                         "amount": amount.to_string(), "currency": currency(*ghs)}
            })),
            Ev::DisputeOpen { r, d, amount, ghs } => self.dispute(
                "charge.dispute.create",
                (*r, *d, *ghs),
                *amount,
                None,
                "awaiting-merchant-feedback",
            ),
            Ev::DisputeResolve {
                r,
                d,
                resolution,
                ghs,
            } => {
                let (value, refund) = match resolution {
                    Resolution::Declined => ("declined", 0),
                    Resolution::Accepted(a) => ("merchant-accepted", *a),
                    Resolution::AutoAccepted(a) => ("auto-accepted", *a),
                    Resolution::Bogus => ("merchant-won", 0),
                };
                self.dispute(
                    "charge.dispute.resolve",
                    (*r, *d, *ghs),
                    refund,
                    Some(value),
                    "resolved",
                )
            }
        }
    }

    fn dispute(
        &self,
        event: &str,
        (r, d, ghs): (usize, u64, bool),
        refund_amount: i64,
        resolution: Option<&str>,
        status: &str,
    ) -> Incoming {
        paystack(serde_json::json!({
            "event": event,
            "data": {"id": self.id(r, 50 + d), "refund_amount": refund_amount,
                     "currency": currency(ghs),
                     "status": status, "resolution": resolution,
                     "transaction": {"id": self.id(r, 1), "reference": self.reference(r),
                                     "amount": 1000, "currency": "NGN"}}
        }))
    }
}

fn currency(ghs: bool) -> &'static str {
    if ghs {
        "GHS"
    } else {
        "NGN"
    }
}

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Applied,
    Ignored,
    Parked,
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DState {
    Open,
    Won,
    Lost,
}

#[derive(Debug, Clone, Default)]
struct MPayment {
    /// (gateway id, captured, requested)
    captured: Option<(u64, i64, i64)>,
    /// Captures beyond the first: (gateway id, amount).
    extra: Vec<(u64, i64)>,
    /// The captured money is in GHS (orders are in NGN).
    ghs: bool,
    failed: bool,
    refunded: i64,
    charged_back: i64,
    disputes: BTreeMap<u64, (i64, DState)>,
}

impl MPayment {
    fn held(&self) -> i64 {
        self.disputes
            .values()
            .filter(|(_, s)| *s == DState::Open)
            .map(|(a, _)| a)
            .sum()
    }

    /// Every capture: the first and those beyond it.
    fn total(&self) -> i64 {
        self.captured.map_or(0, |c| c.1) + self.extra.iter().map(|e| e.1).sum::<i64>()
    }

    fn free(&self) -> i64 {
        self.total() - self.refunded - self.charged_back - self.held()
    }

    fn status(&self) -> &'static str {
        match self.captured {
            None if self.failed => "failed",
            None => "pending",
            Some(_) if self.held() > 0 => "disputed",
            Some(_) if self.refunded + self.charged_back == 0 => "success",
            Some(_) if self.refunded + self.charged_back >= self.total() => "refunded",
            Some(_) => "partially_refunded",
        }
    }
}

fn follow(payment_status: &str) -> &'static str {
    match payment_status {
        "success" => "paid",
        "failed" => "failed",
        "refunded" => "refunded",
        "partially_refunded" => "partially_refunded",
        "disputed" => "disputed",
        _ => "pending",
    }
}

struct InboxEntry {
    ev: Ev,
    id: i64,
    status: Status,
}

#[derive(Default)]
struct Model {
    payments: HashMap<usize, MPayment>,
    orders: HashMap<usize, (i64, &'static str)>,
    inbox: HashMap<String, InboxEntry>,
    /// Parked keys, in the order the pipeline re-tries them.
    parked: Vec<String>,
    next_id: i64,
}

fn valid(a: i64) -> bool {
    (1..=MAX).contains(&a)
}

impl Model {
    /// The order after its payment's money moved (a human decides a `needs_review` order).
    fn order_follows(&mut self, r: usize) {
        let status = follow(self.payments[&r].status());
        if let Some((_, s)) = self.orders.get_mut(&r) {
            if *s != "needs_review" {
                *s = status;
            }
        }
    }

    fn decide(&mut self, ev: &Ev) -> Status {
        use Status::*;
        match ev {
            Ev::Charge {
                r,
                gw,
                amount,
                fees,
                passed_on,
                ghs,
            } => {
                let requested = if *passed_on { amount - fees } else { *amount };
                if !valid(*amount) || !valid(requested) || *fees > *amount {
                    return Dead;
                }
                self.charge(*r, *gw, (*amount, requested), *ghs)
            }
            Ev::Verify {
                r,
                gw,
                amount,
                status,
            } => match *status {
                "success" => self.charge(*r, *gw, (*amount, *amount), false),
                _ => {
                    let Some(p) = self.payments.get_mut(r) else {
                        return Ignored;
                    };
                    if p.captured.is_some() || p.failed {
                        return Ignored;
                    }
                    p.failed = true;
                    if let Some((_, s)) = self.orders.get_mut(r) {
                        if *s == "pending" {
                            *s = if *status == "abandoned" {
                                "abandoned"
                            } else {
                                "failed"
                            };
                        }
                    }
                    Applied
                }
            },
            Ev::Refund { r, amount, ghs, .. } => {
                if !valid(*amount) {
                    return Dead;
                }
                let Some(p) = self.payments.get_mut(r).filter(|p| p.captured.is_some()) else {
                    return Parked;
                };
                if *ghs != p.ghs {
                    return Dead;
                }
                if *amount <= p.free() {
                    p.refunded += amount;
                    self.order_follows(*r);
                    Applied
                } else if *amount <= p.free() + p.held() {
                    Parked
                } else {
                    Dead
                }
            }
            Ev::DisputeOpen { r, d, amount, ghs } => {
                if !valid(*amount) {
                    return Dead;
                }
                let Some(p) = self.payments.get_mut(r).filter(|p| p.captured.is_some()) else {
                    return Parked;
                };
                if p.disputes.contains_key(d) {
                    return Ignored;
                }
                if *ghs != p.ghs || *amount > p.free() {
                    return Dead;
                }
                p.disputes.insert(*d, (*amount, DState::Open));
                self.order_follows(*r);
                Applied
            }
            Ev::DisputeResolve {
                r,
                d,
                resolution,
                ghs,
            } => {
                let to_customer = match resolution {
                    Resolution::Bogus => return Dead,
                    Resolution::Declined => 0,
                    Resolution::Accepted(a) | Resolution::AutoAccepted(a) => {
                        if !valid(*a) {
                            return Dead;
                        }
                        *a
                    }
                };
                let Some(p) = self.payments.get_mut(r).filter(|p| p.captured.is_some()) else {
                    return Parked;
                };
                let free = p.free();
                let Some((held, state)) = p.disputes.get_mut(d) else {
                    return Parked;
                };
                if *state != DState::Open {
                    return Ignored;
                }
                if *ghs != p.ghs || to_customer > *held + free {
                    return Dead;
                }
                *state = if to_customer == 0 {
                    DState::Won
                } else {
                    DState::Lost
                };
                p.charged_back += to_customer;
                self.order_follows(*r);
                Applied
            }
        }
    }

    fn charge(&mut self, r: usize, gw: u64, (amount, requested): (i64, i64), ghs: bool) -> Status {
        let p = self.payments.entry(r).or_default();
        if let Some((paid_by, _, _)) = p.captured {
            if paid_by == gw || p.extra.iter().any(|e| e.0 == gw) {
                return Status::Ignored;
            }
            // Paid twice: journaled beside the first, in the same currency only; the order
            // waits for a human.
            if ghs != p.ghs {
                return Status::Dead;
            }
            p.extra.push((gw, amount));
            if let Some((_, s)) = self.orders.get_mut(&r) {
                *s = "needs_review";
            }
            return Status::Applied;
        }
        *p = MPayment {
            captured: Some((gw, amount, requested)),
            ghs,
            ..MPayment::default()
        };
        if let Some((expects, s)) = self.orders.get_mut(&r) {
            if *expects != requested || ghs {
                *s = "needs_review";
            } else if *s != "needs_review" {
                *s = "paid";
            }
        }
        Status::Applied
    }

    /// Re-tries the events parked on `r`, oldest first, until a pass changes nothing.
    fn unpark(&mut self, r: usize) {
        loop {
            let waiting: Vec<String> = self
                .parked
                .iter()
                .filter(|k| self.inbox[*k].ev.r() == r)
                .cloned()
                .collect();
            let mut progress = false;
            for key in waiting {
                let ev = self.inbox[&key].ev.clone();
                let status = self.decide(&ev);
                if status != Status::Parked {
                    self.parked.retain(|k| *k != key);
                    self.inbox.get_mut(&key).unwrap().status = status;
                    progress = true;
                }
            }
            if !progress {
                return;
            }
        }
    }

    fn deliver(&mut self, events: &[(Ev, String)]) {
        // Events parked by earlier batches are re-tried in inbox-id order.
        let ids: HashMap<String, i64> = self.inbox.iter().map(|(k, e)| (k.clone(), e.id)).collect();
        self.parked.sort_by_key(|k| ids[k]);
        let mut fresh = Vec::new();
        for (ev, key) in events {
            if self.inbox.contains_key(key) {
                continue;
            }
            fresh.push(key.clone());
            let status = self.decide(ev);
            self.inbox.insert(
                key.clone(),
                InboxEntry {
                    ev: ev.clone(),
                    id: 0,
                    status,
                },
            );
            match status {
                Status::Parked => self.parked.push(key.clone()),
                Status::Applied => self.unpark(ev.r()),
                _ => {}
            }
        }
        // A batch's new events are recorded in key order, so their ids are too.
        fresh.sort();
        for key in fresh {
            self.next_id += 1;
            self.inbox.get_mut(&key).unwrap().id = self.next_id;
        }
    }

    fn create_order(&mut self, r: usize, amount: i64) {
        if self.orders.contains_key(&r) {
            return;
        }
        let p = self.payments.entry(r).or_default();
        let status = match p.captured {
            Some(_) if !p.extra.is_empty() => "needs_review",
            Some((_, _, requested)) if requested != amount || p.ghs => "needs_review",
            Some(_) => follow(p.status()),
            None => "pending",
        };
        self.orders.insert(r, (amount, status));
    }

    /// The key an operator's replay picks: the `pick`th dead or parked event, by id.
    fn replay_pick(&self, pick: usize) -> Option<String> {
        let mut candidates: Vec<(i64, &String)> = self
            .inbox
            .iter()
            .filter(|(_, e)| matches!(e.status, Status::Dead | Status::Parked))
            .map(|(k, e)| (e.id, k))
            .collect();
        candidates.sort();
        (!candidates.is_empty()).then(|| candidates[pick % candidates.len()].1.clone())
    }

    fn replay(&mut self, key: &str) {
        let ev = self.inbox[key].ev.clone();
        let status = self.decide(&ev);
        self.inbox.get_mut(key).unwrap().status = status;
        if status != Status::Parked {
            self.parked.retain(|k| k != key);
        }
        if status == Status::Applied {
            self.unpark(ev.r());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running a sequence on the real pipeline, checking after every step.

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

async fn run(store: &Store, cases: &[Case], steps: &[Step]) -> Result<(), TestCaseError> {
    let mut models: Vec<Model> = cases.iter().map(|_| Model::default()).collect();
    let mut last: Vec<(usize, Ev, String)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Deliver(evs) | Step::CrashThenDeliver(evs) => {
                let incoming: Vec<Incoming> =
                    evs.iter().map(|(m, e)| cases[*m].incoming(e)).collect();
                if matches!(step, Step::CrashThenDeliver(_)) {
                    let mut tx = store.begin().await.unwrap();
                    apply_events(&mut tx, &incoming).await.unwrap();
                    drop(tx);
                }
                apply_batch(store, &incoming, None).await.unwrap();
                last = evs
                    .iter()
                    .zip(&incoming)
                    .map(|((m, e), i)| (*m, e.clone(), i.envelope.key.to_string()))
                    .collect();
                deliver(&mut models, &last);
            }
            Step::Redeliver => {
                let incoming: Vec<Incoming> =
                    last.iter().map(|(m, e, _)| cases[*m].incoming(e)).collect();
                let report = apply_batch(store, &incoming, None).await.unwrap();
                if report.duplicates != incoming.len() as u64 {
                    return Err(fail(format!("step {i}: a re-pulled batch applied again")));
                }
                deliver(&mut models, &last);
            }
            Step::CreateOrder { m, r, amount } => {
                let case = &cases[*m];
                let _ = store
                    .create_order(
                        &case.merchant,
                        &case.reference(*r),
                        MinorUnits(*amount),
                        Currency::NGN,
                        None,
                        now_ms(),
                    )
                    .await;
                models[*m].create_order(*r, *amount);
            }
            Step::Replay { m, pick } => {
                let merchant = &cases[*m].merchant;
                if let Some(key) = models[*m].replay_pick(*pick) {
                    let id = store
                        .inbox_by_key(merchant, &key)
                        .await
                        .unwrap()
                        .unwrap()
                        .id;
                    replay(store, merchant, id).await.unwrap();
                    models[*m].replay(&key);
                }
            }
        }
        for (case, model) in cases.iter().zip(&models) {
            compare(store, case, model).await.map_err(|e| {
                fail(format!(
                    "after step {i} ({step:?}), at {}: {e}",
                    case.merchant
                ))
            })?;
        }
        no_leaks(store, cases, &models)
            .await
            .map_err(|e| fail(format!("after step {i} ({step:?}): {e}")))?;
    }
    Ok(())
}

/// No merchant's inbox holds an event only another merchant was sent.
async fn no_leaks(store: &Store, cases: &[Case], models: &[Model]) -> Result<(), String> {
    for (m, model) in models.iter().enumerate() {
        for (other, theirs) in cases.iter().enumerate().filter(|(o, _)| *o != m) {
            for key in model.inbox.keys() {
                if models[other].inbox.contains_key(key) {
                    continue;
                }
                if store
                    .inbox_by_key(&theirs.merchant, key)
                    .await
                    .unwrap()
                    .is_some()
                {
                    return Err(format!(
                        "{}'s event {key} is in {}'s inbox",
                        cases[m].merchant, theirs.merchant
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A batch as each merchant's model sees it: its own events, in arrival order (the pipeline
/// plans each merchant's events of a batch apart, in arrival order).
fn deliver(models: &mut [Model], batch: &[(usize, Ev, String)]) {
    for (m, model) in models.iter_mut().enumerate() {
        let own: Vec<(Ev, String)> = batch
            .iter()
            .filter(|(at, _, _)| *at == m)
            .map(|(_, e, k)| (e.clone(), k.clone()))
            .collect();
        model.deliver(&own);
    }
}

/// The store holds the model's state, and every invariant holds.
async fn compare(store: &Store, case: &Case, model: &Model) -> Result<(), String> {
    for r in 0..REFERENCES {
        let reference = case.reference(r);
        let payment = store.payment(&case.merchant, &reference).await.unwrap();
        let order = store.order(&case.merchant, &reference).await.unwrap();
        let journal = store.journal_for(&case.merchant, &reference).await.unwrap();
        let sum = |account: &str| -> i64 {
            journal
                .iter()
                .flat_map(|t| &t.entries)
                .filter(|e| e.account == account)
                .map(|e| e.amount)
                .sum()
        };
        let charges = journal.iter().filter(|t| t.kind == "charge").count();
        let want = model.payments.get(&r);
        match (&payment, want) {
            (None, None) => {}
            (Some(p), Some(m)) => {
                p.check_invariants()?;
                let got = (
                    p.status.as_str(),
                    p.refunded.get(),
                    p.charged_back.get(),
                    p.held().get(),
                );
                let expected = (m.status(), m.refunded, m.charged_back, m.held());
                if got != expected {
                    return Err(format!(
                        "{reference}: payment (status, refunded, charged back, held) {got:?}, model {expected:?}"
                    ));
                }
                if let Some((_, captured, requested)) = m.captured {
                    if (p.amount.get(), p.requested.get()) != (captured, requested) {
                        return Err(format!("{reference}: captured amount differs"));
                    }
                }
                // The payment row and the journal tell the same story.
                let story = (
                    charges,
                    sum("refunds"),
                    sum("chargebacks"),
                    sum("disputes_held"),
                );
                let row = (
                    usize::from(p.status.is_captured()) + p.also_captured.len(),
                    p.refunded.get(),
                    p.charged_back.get(),
                    p.held().get(),
                );
                if story != row {
                    return Err(format!(
                        "{reference}: journal (charges, refunds, chargebacks, held) {story:?}, payment row {row:?}"
                    ));
                }
            }
            (got, want) => {
                return Err(format!(
                    "{reference}: payment {:?}, model {want:?}",
                    got.as_ref().map(|p| p.status)
                ))
            }
        }
        let want_order = model.orders.get(&r).map(|(_, s)| *s);
        let got_order = order.as_ref().map(|o| o.status.as_str());
        if got_order != want_order {
            return Err(format!(
                "{reference}: order {got_order:?}, model {want_order:?}"
            ));
        }
        // An order's status is a function of its payment's money.
        if let (Some(o), Some(p)) = (&order, &payment) {
            if p.status.is_captured()
                && o.status != OrderStatus::NeedsReview
                && o.status != OrderStatus::following(p.status)
            {
                return Err(format!(
                    "{reference}: order {} beside payment {}",
                    o.status, p.status
                ));
            }
            if p.status == PaymentStatus::Pending && o.status != OrderStatus::Pending {
                return Err(format!("{reference}: order {} without money", o.status));
            }
        }
    }
    for (key, entry) in &model.inbox {
        let got = store
            .inbox_by_key(&case.merchant, key)
            .await
            .unwrap()
            .map(|e| e.status.as_str());
        let want = match entry.status {
            Status::Applied => "applied",
            Status::Ignored => "ignored",
            Status::Parked => "parked",
            Status::Dead => "dead",
        };
        if got != Some(want) {
            return Err(format!("event {key}: {got:?}, model {want}"));
        }
    }
    if common::unbalanced_transactions(store).await != 0 {
        return Err("an unbalanced journal transaction".into());
    }
    store
        .balances(&case.merchant)
        .await
        .map_err(|e| format!("balances fail: {e}"))?;
    Ok(())
}

fn cases() -> u32 {
    std::env::var("KEFFI_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24)
}

/// Runs the generated sequences against one store; every case (and every shrinking retry)
/// gets references of its own, so one database serves the whole run.
fn check_against_the_model(store: Store, rt: &tokio::runtime::Runtime) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let counter = std::sync::atomic::AtomicU64::new(1);
    let merchants: Vec<MerchantId> = MERCHANTS
        .iter()
        .map(|m| MerchantId::parse(*m).unwrap())
        .collect();
    for m in merchants.iter().filter(|m| !m.is_default()) {
        rt.block_on(store.add_merchant(m, m.as_str(), 0)).unwrap();
    }
    let started = std::time::Instant::now();
    let result = runner.run(&prop::collection::vec(step(), 1..25), |steps| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cases: Vec<Case> = (0u64..)
            .zip(&merchants)
            .map(|(slot, merchant)| Case {
                n,
                merchant: merchant.clone(),
                slot,
            })
            .collect();
        rt.block_on(run(&store, &cases, &steps))
    });
    eprintln!(
        "model check on {}: {} cases in {:.1?}",
        store.backend(),
        cases(),
        started.elapsed()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn the_pipeline_follows_the_model_sqlite() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(common::sqlite());
    check_against_the_model(s.store.clone(), &rt);
}

#[test]
fn the_pipeline_follows_the_model_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(common::postgres());
    check_against_the_model(s.store.clone(), &rt);
}
