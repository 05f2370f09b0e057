//! The fast path: a whole batch in a handful of statements — one insert of its inbox rows
//! (duplicates fall out by key), one read each of the payments, orders and parked events its
//! references touch (locked), the decisions folded in memory by [`crate::domain::batch`], then
//! one write each of payments, orders, journal and outcomes. The round trip, not the row, is
//! what a batch costs on both backends, so this is what makes batching pay.

use std::collections::{BTreeSet, HashSet};

use keffi_shared::Envelope;

use super::{inbox_row, status_of, BatchReport, Incoming};
use crate::domain::batch::{plan, NewEvent, ParkedEvent};
use crate::domain::Fact;
use crate::store::{now_ms, InboxEvent, NewInboxEvent, OutcomeRow, StoreError, Tx};

pub(super) async fn apply(
    tx: &mut Tx,
    events: &[Incoming],
    report: &mut BatchReport,
) -> Result<(), StoreError> {
    let mut clock = Phases::start();
    // Each key once (the first delivery wins), inserted in key order: one lock order for
    // every replica.
    let mut rows: Vec<NewInboxEvent> = Vec::with_capacity(events.len());
    let mut seen = HashSet::with_capacity(events.len());
    for incoming in events {
        if seen.insert(incoming.envelope.key.as_str()) {
            rows.push(inbox_row(incoming));
        }
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    let mut ids = tx.insert_inbox_many(&rows).await?;
    drop(rows);
    clock.mark("inbox", report);

    // In arrival order: the first delivery of a new key is applied, the rest are duplicates.
    let mut fresh: Vec<NewEvent> = Vec::new();
    let mut slots: Vec<Option<usize>> = Vec::with_capacity(events.len());
    for incoming in events {
        let key = incoming.envelope.key.as_str();
        match ids.remove(key) {
            Some(id) => {
                slots.push(Some(fresh.len()));
                fresh.push(NewEvent {
                    id,
                    key: key.to_owned(),
                    fact: Fact::from_envelope(&incoming.envelope),
                });
            }
            None => slots.push(None),
        }
    }

    let references: BTreeSet<String> = fresh
        .iter()
        .filter_map(|e| e.fact.as_ref().ok()?.reference().map(str::to_owned))
        .collect();
    let references: Vec<&str> = references.iter().map(String::as_str).collect();
    let (payments, orders, parked) = if references.is_empty() {
        (Vec::new(), Vec::new(), Vec::new())
    } else {
        // Payments before orders, as on every path: one lock order, so no deadlock.
        let payments = tx.payments_for_update(&references).await?;
        let orders = tx.orders_for_update(&references).await?;
        let parked = readable(tx.parked_on(&references).await?)?;
        (payments, orders, parked)
    };
    clock.mark("read", report);

    let plan = plan(fresh, payments, orders, parked);
    clock.mark("decide", report);
    let now = now_ms();
    if !plan.payments.is_empty() {
        tx.save_payments(&plan.payments, now).await?;
    }
    clock.mark("payments", report);
    if !plan.orders.is_empty() {
        tx.save_orders(&plan.orders, now).await?;
    }
    clock.mark("orders", report);
    if !plan.journal.is_empty() {
        tx.post_journals(&plan.journal, now).await?;
    }
    clock.mark("journal", report);
    let outcomes: Vec<OutcomeRow<'_>> = plan
        .settled
        .iter()
        .map(|s| {
            let (status, reason) = status_of(&s.outcome);
            OutcomeRow {
                id: s.id,
                status,
                reason,
                reference: s.reference.as_deref(),
            }
        })
        .collect();
    if !outcomes.is_empty() {
        tx.set_outcomes(&outcomes, now).await?;
    }
    clock.mark("outcomes", report);

    report.unparked += plan.unparked;
    for (incoming, slot) in events.iter().zip(slots) {
        let source = incoming.envelope.source.clone();
        match slot {
            None => {
                report.duplicates += 1;
                report.outcomes.push((source, "duplicate"));
            }
            Some(i) => {
                let status = status_of(&plan.first[i]).0;
                report.count(status);
                report.outcomes.push((source, status.as_str()));
            }
        }
    }
    Ok(())
}

/// Times the phases of a batch (reading the events counts towards `inbox`, parsing them
/// towards `read`).
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

/// Parked events as facts. One that no longer reads (it could not have been parked so) stays
/// parked for a human, as the event-by-event path leaves it.
fn readable(parked: Vec<InboxEvent>) -> Result<Vec<ParkedEvent>, StoreError> {
    let mut out = Vec::with_capacity(parked.len());
    for event in parked {
        let envelope = Envelope::from_json(&event.envelope)
            .map_err(|e| StoreError::Corrupt(format!("inbox event {}: {e}", event.id)))?;
        if let Ok(fact) = Fact::from_envelope(&envelope) {
            out.push(ParkedEvent {
                id: event.id,
                key: event.idempotency_key,
                fact,
            });
        }
    }
    Ok(out)
}
