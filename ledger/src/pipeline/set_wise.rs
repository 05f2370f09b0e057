//! The fast path: a whole batch in a handful of statements — one read of which of its keys the
//! inbox knows (duplicates), one read each of the payments, orders and parked events its
//! references touch (locked), the decisions folded in memory by [`crate::domain::batch`], then
//! one write each of inbox rows (with their outcomes), payments, orders and journal. The round
//! trip, not the row, is what a statement costs on both backends, so this is what makes
//! batching pay.

use std::collections::{BTreeSet, HashMap, HashSet};

use keffi_shared::{Envelope, MerchantId};

use super::{inbox_row, status_of, BatchReport, Incoming};
use crate::domain::batch::{plan, NewEvent, ParkedEvent, Plan};
use crate::domain::{Fact, Order, Outcome, Payment};
use crate::store::notify::OrderChange;
use crate::store::{now_ms, InboxEvent, NewInboxEvent, OutcomeRow, SettledInbox, StoreError, Tx};

/// Applies `events`, all of `merchant` (with the `facts` they state, same order): the caller
/// has taken their references' locks.
pub(super) async fn apply(
    tx: &mut Tx,
    merchant: &MerchantId,
    events: &[Incoming],
    facts: &[Result<Fact, String>],
    report: &mut BatchReport,
) -> Result<(), StoreError> {
    let mut clock = Phases::start();
    let keys: Vec<&str> = {
        let mut seen = HashSet::with_capacity(events.len());
        events
            .iter()
            .map(|i| i.envelope.key.as_str())
            .filter(|k| seen.insert(*k))
            .collect()
    };
    let known = tx.known_keys(merchant, &keys).await?;
    let New { fresh, rows, slots } = sort_out(events, facts, &known);
    clock.mark("duplicates", report);

    let references: BTreeSet<String> = fresh
        .iter()
        .filter_map(|e| e.fact.as_ref().ok()?.reference().map(str::to_owned))
        .collect();
    let references: Vec<&str> = references.iter().map(String::as_str).collect();
    let (payments, orders, parked, versions) = state_of(tx, merchant, &references).await?;
    clock.mark("read", report);

    let plan = plan(fresh, payments, orders, parked);
    clock.mark("decide", report);
    write(tx, merchant, &plan, &rows, &versions, &mut clock, report).await?;

    report.unparked += plan.unparked;
    for (incoming, slot) in events.iter().zip(slots) {
        let source = incoming.envelope.source.clone();
        let outcome = match slot {
            None => {
                report.duplicates += 1;
                "duplicate"
            }
            Some(i) => {
                let status = status_of(&plan.first[i]).0;
                report.count(status);
                status.as_str()
            }
        };
        report.outcomes.push((source, outcome));
    }
    Ok(())
}

/// What a batch reads: payments, orders, parked events, and each order's version (so the
/// change feed learns the new versions without reading them back).
type State = (
    Vec<Payment>,
    Vec<Order>,
    Vec<ParkedEvent>,
    HashMap<String, i64>,
);

/// The payments, orders and parked events of `references`, locked (Postgres). Payments
/// before orders before parked events, as on every path.
async fn state_of(
    tx: &mut Tx,
    merchant: &MerchantId,
    references: &[&str],
) -> Result<State, StoreError> {
    if references.is_empty() {
        return Ok((Vec::new(), Vec::new(), Vec::new(), HashMap::new()));
    }
    let payments = tx.payments_for_update(merchant, references).await?;
    let locked = tx.orders_for_update(merchant, references).await?;
    let parked = readable(tx.parked_on(merchant, references).await?)?;
    let versions = locked
        .iter()
        .map(|(o, version)| (o.reference.clone(), *version))
        .collect();
    let orders = locked.into_iter().map(|(o, _)| o).collect();
    Ok((payments, orders, parked, versions))
}

/// Decides a stored event again (an operator's replay, a sweep) as a batch of one, with
/// whatever it unparks, and writes the result; the caller holds its reference's lock.
/// Returns the event's new outcome.
pub(super) async fn replay(
    tx: &mut Tx,
    merchant: &MerchantId,
    id: i64,
    fact: Result<Fact, String>,
    report: &mut BatchReport,
) -> Result<Outcome, StoreError> {
    let mut clock = Phases::start();
    let references: Vec<&str> = fact
        .as_ref()
        .ok()
        .and_then(Fact::reference)
        .into_iter()
        .collect();
    let (payments, orders, mut parked, versions) = state_of(tx, merchant, &references).await?;
    parked.retain(|p| p.id != id);
    let event = NewEvent { id, fact };
    let plan = plan(vec![event], payments, orders, parked);
    write(tx, merchant, &plan, &[], &versions, &mut clock, report).await?;
    report.phases.clear();
    report.unparked += plan.unparked;
    Ok(plan.first[0].clone())
}

/// The batch's new events, and where each delivery went.
struct New {
    fresh: Vec<NewEvent>,
    /// The inbox row of each new event, same order.
    rows: Vec<NewInboxEvent>,
    /// Per delivery, in arrival order: the index of its new event, or `None` for a duplicate.
    slots: Vec<Option<usize>>,
}

/// In arrival order, the first delivery of a key the inbox does not know is new; every other
/// delivery is a duplicate. New events get provisional ids: the inbox assigns the real ones
/// when they are recorded, with their outcomes.
fn sort_out(events: &[Incoming], facts: &[Result<Fact, String>], known: &HashSet<String>) -> New {
    let mut new = New {
        fresh: Vec::new(),
        rows: Vec::new(),
        slots: Vec::with_capacity(events.len()),
    };
    let mut taken: HashSet<&str> = known.iter().map(String::as_str).collect();
    for (incoming, fact) in events.iter().zip(facts) {
        let key = incoming.envelope.key.as_str();
        if !taken.insert(key) {
            new.slots.push(None);
            continue;
        }
        new.slots.push(Some(new.fresh.len()));
        new.fresh.push(NewEvent {
            id: provisional_id(new.fresh.len()),
            fact: fact.clone(),
        });
        new.rows.push(inbox_row(incoming));
    }
    new
}

/// Writes what the plan decided. New events are recorded with their outcomes in one insert,
/// in key order (one lock order for every replica), before the journal that refers to them;
/// events parked earlier get their new outcomes by id.
async fn write(
    tx: &mut Tx,
    merchant: &MerchantId,
    plan: &Plan,
    rows: &[NewInboxEvent],
    versions: &HashMap<String, i64>,
    clock: &mut Phases,
    report: &mut BatchReport,
) -> Result<(), StoreError> {
    let now = now_ms();
    let mut new_rows: Vec<SettledInbox<'_>> = Vec::with_capacity(rows.len());
    let mut earlier: Vec<OutcomeRow<'_>> = Vec::new();
    for settled in &plan.settled {
        let (status, reason) = status_of(&settled.outcome);
        let reference = settled.reference.as_deref();
        match fresh_index(settled.id) {
            Some(i) => new_rows.push(SettledInbox {
                event: &rows[i],
                status,
                reason,
                reference,
            }),
            None => earlier.push(OutcomeRow {
                id: settled.id,
                status,
                reason,
                reference,
            }),
        }
    }
    report
        .settled_again
        .extend(earlier.iter().map(|row| row.status));
    new_rows.sort_by(|a, b| a.event.key.cmp(&b.event.key));
    let stored_ids = if new_rows.is_empty() {
        HashMap::new()
    } else {
        tx.insert_inbox_settled(&new_rows, now).await?
    };
    clock.mark("inbox", report);
    if !plan.payments.is_empty() {
        tx.save_payments(merchant, &plan.payments, now).await?;
    }
    clock.mark("payments", report);
    if !plan.orders.is_empty() {
        tx.save_orders(merchant, &plan.orders, now).await?;
        // Each saved order's version went up by one from what the batch read, locked.
        report.moved.extend(plan.orders.iter().map(|o| OrderChange {
            merchant: merchant.clone(),
            reference: o.reference.clone(),
            status: o.status,
            amount: o.amount,
            currency: o.currency,
            review_reason: o.review_reason.clone(),
            version: versions.get(&o.reference).copied().unwrap_or(0) + 1,
        }));
    }
    clock.mark("orders", report);
    if !plan.journal.is_empty() {
        let journal = plan
            .journal
            .iter()
            .map(|(id, j)| Ok((stored_id(*id, rows, &stored_ids)?, j)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.post_journals(merchant, &journal, now).await?;
    }
    clock.mark("journal", report);
    if !earlier.is_empty() {
        tx.set_outcomes(&earlier, now).await?;
    }
    clock.mark("unparked", report);
    Ok(())
}

/// The provisional id of the `i`th new event (negative, so it never meets a stored id).
fn provisional_id(i: usize) -> i64 {
    -(i as i64) - 1
}

/// The index of the new event a provisional id names, or `None` for a stored id.
fn fresh_index(id: i64) -> Option<usize> {
    (id < 0).then(|| (-(id + 1)) as usize)
}

/// The inbox id of the event the plan calls `id`: a stored id as it is, a provisional one as
/// the inbox assigned it to that new event's key.
fn stored_id(
    id: i64,
    rows: &[NewInboxEvent],
    stored: &HashMap<String, i64>,
) -> Result<i64, StoreError> {
    let Some(i) = fresh_index(id) else {
        return Ok(id);
    };
    rows.get(i)
        .and_then(|row| stored.get(&row.key))
        .copied()
        .ok_or_else(|| StoreError::Corrupt(format!("new event {i} has no inbox id")))
}

/// Times the phases of a batch (parsing the events and building their inbox rows count
/// towards `duplicates`).
struct Phases(std::time::Instant);

impl Phases {
    fn start() -> Self {
        Phases(std::time::Instant::now())
    }

    fn mark(&mut self, phase: &'static str, report: &mut BatchReport) {
        let now = std::time::Instant::now();
        report.phases.push((phase, now - self.0));
        self.0 = now;
    }
}

/// Parked events as facts. One whose envelope does not read as a fact (it could not have been
/// parked so) stays parked for a human, as the event-by-event path leaves it.
fn readable(parked: Vec<InboxEvent>) -> Result<Vec<ParkedEvent>, StoreError> {
    let mut out = Vec::with_capacity(parked.len());
    for event in parked {
        let envelope = Envelope::from_json(&event.envelope)
            .map_err(|e| StoreError::Corrupt(format!("inbox event {}: {e}", event.id)))?;
        // One that names its payment by a gateway transaction waits on the reference it was
        // stored under.
        if let Ok(fact) = Fact::from_envelope(&envelope) {
            let fact = fact.resolved(event.reference.as_deref());
            out.push(ParkedEvent { id: event.id, fact });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisional_ids_never_meet_stored_ones_and_name_their_event() {
        for i in [0, 1, 999, 100_000] {
            assert!(provisional_id(i) < 0);
            assert_eq!(fresh_index(provisional_id(i)), Some(i));
        }
        assert_eq!(fresh_index(1), None);
        assert_eq!(fresh_index(0), None);
    }
}
