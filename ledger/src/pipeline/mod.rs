//! The apply pipeline, the heart of the ledger: a batch of envelopes is applied in ONE
//! database transaction. Each event is recorded in the inbox (a known key is a duplicate and
//! is skipped), read for what it states, decided against the payment and order it touches
//! (locked), and its payment, order and journal changes written; an applied event re-evaluates
//! the events parked on its reference. Last, the shard's cursor moves to the batch's end, and
//! everything commits together: a crash leaves all or nothing.
//!
//! The fast path ([`set_wise`]) does this for the whole batch in a handful of statements. If
//! it fails, the batch is applied again event by event, each in a savepoint, so an event that
//! hits a store error is rolled back alone and recorded `dead` with the reason, and the batch
//! goes on.

mod set_wise;
mod sweep;

pub use sweep::{adopt_orders_behind, sweep_forever, sweep_parked};

use keffi_shared::Envelope;
use serde::Serialize;

use crate::domain::{decide, Decision, Fact, Outcome};
use crate::store::{InboxStatus, NewInboxEvent, Store, StoreError, Tx};

/// One event to apply and where it came from.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub envelope: Envelope,
    /// The edge shard and sequence, for events pulled from the edge.
    pub origin: Option<(u32, u64)>,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    pub applied: u64,
    pub duplicates: u64,
    pub ignored: u64,
    pub parked: u64,
    pub dead: u64,
    /// Parked events this batch unblocked and applied.
    pub unparked: u64,
    /// (source, outcome) per event, counted in metrics once the batch commits.
    #[serde(skip)]
    pub outcomes: Vec<(String, &'static str)>,
    /// Whether any event may be parked (None: not asked yet). Most batches park nothing and
    /// find nothing parked: asking once per batch saves a query per applied event.
    #[serde(skip)]
    parked_possible: Option<bool>,
    /// Time per phase of a set-wise batch, in order (empty for the event-by-event path).
    #[serde(skip)]
    pub phases: Vec<(&'static str, std::time::Duration)>,
}

impl BatchReport {
    fn count(&mut self, status: InboxStatus) {
        match status {
            InboxStatus::Applied => self.applied += 1,
            InboxStatus::Ignored => self.ignored += 1,
            InboxStatus::Parked => self.parked += 1,
            InboxStatus::Dead => self.dead += 1,
        }
    }
}

/// Applies `events` in one transaction and, for a pulled batch, moves the shard's cursor to
/// `cursor` in the same transaction.
pub async fn apply_batch(
    store: &Store,
    events: &[Incoming],
    cursor: Option<(u32, u64)>,
) -> Result<BatchReport, StoreError> {
    let started = std::time::Instant::now();
    // Fast path: set-wise, no savepoints, since almost every batch applies without a store
    // error. If it fails, nothing was committed, and the batch is applied again with a
    // savepoint around each event, so only a failing event is recorded dead.
    let mut races = 0;
    let report = loop {
        match attempt(store, events, cursor, Isolation::Batch).await {
            Ok(report) => break report,
            // Another writer recorded one of these events meanwhile: it has committed by now
            // (the insert waited for it), so a fresh attempt sees it as a duplicate.
            Err(Failure::Event(StoreError::Raced(key))) if races < MAX_RACES => {
                races += 1;
                tracing::debug!(%key, races, "raced another writer; applying the batch again");
            }
            Err(Failure::Event(e)) => {
                tracing::info!(error = %e, "an event failed; re-applying the batch event by event");
                break attempt(store, events, cursor, Isolation::PerEvent)
                    .await
                    .map_err(Failure::into_store)?;
            }
            Err(Failure::Store(e)) => return Err(e),
        }
    };
    crate::telemetry_metrics::batch_applied(started);
    crate::telemetry_metrics::phases(&report.phases);
    for (source, outcome) in &report.outcomes {
        crate::telemetry_metrics::event(source, outcome);
    }
    Ok(report)
}

/// Set-wise attempts that may lose a race with another writer before the batch is applied
/// event by event (each loss means another writer committed: progress, not a loop).
const MAX_RACES: u32 = 5;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// The batch is the unit, read and written set-wise: any store error fails the attempt.
    Batch,
    /// Each event in a savepoint: an event's store error makes it dead, the rest applies.
    PerEvent,
}

enum Failure {
    /// The set-wise attempt failed, perhaps because of one event: retry event by event.
    Event(StoreError),
    /// The store failed around the events: nothing to retry here.
    Store(StoreError),
}

impl Failure {
    fn into_store(self) -> StoreError {
        match self {
            Failure::Event(e) | Failure::Store(e) => e,
        }
    }
}

async fn attempt(
    store: &Store,
    events: &[Incoming],
    cursor: Option<(u32, u64)>,
    isolation: Isolation,
) -> Result<BatchReport, Failure> {
    let mut tx = store.begin().await.map_err(Failure::Store)?;
    let mut report = BatchReport::default();
    match isolation {
        Isolation::Batch => set_wise::apply(&mut tx, events, &mut report)
            .await
            .map_err(Failure::Event)?,
        Isolation::PerEvent => {
            for incoming in events {
                apply_one(&mut tx, incoming, &mut report)
                    .await
                    .map_err(Failure::Store)?;
            }
        }
    }
    let committing = std::time::Instant::now();
    if report.applied + report.unparked > 0 {
        tx.announce_change().await.map_err(Failure::Store)?;
    }
    if let Some((shard, seq)) = cursor {
        tx.advance_cursor(i64::from(shard), seq as i64, crate::store::now_ms())
            .await
            .map_err(Failure::Store)?;
    }
    tx.commit().await.map_err(Failure::Store)?;
    if isolation == Isolation::Batch {
        report.phases.push(("commit", committing.elapsed()));
    }
    Ok(report)
}

/// Applies `events` inside `tx` without committing, each in a savepoint: the caller decides
/// (tests use this to show that an uncommitted batch leaves nothing behind).
pub async fn apply_events(tx: &mut Tx, events: &[Incoming]) -> Result<BatchReport, StoreError> {
    let mut report = BatchReport::default();
    for incoming in events {
        apply_one(tx, incoming, &mut report).await?;
    }
    Ok(report)
}

/// The inbox row an incoming event becomes.
fn inbox_row(incoming: &Incoming) -> NewInboxEvent {
    let envelope = &incoming.envelope;
    NewInboxEvent {
        key: envelope.key.to_string(),
        source: envelope.source.clone(),
        provider: envelope.provider.to_string(),
        event_type: envelope.event_type.clone(),
        received_at_ms: envelope.received_at_ms,
        shard: incoming.origin.map(|(s, _)| i64::from(s)),
        seq: incoming.origin.map(|(_, q)| q as i64),
        envelope_json: envelope.to_json(),
    }
}

/// One event in its own savepoint: a store error undoes only this event's writes and records
/// it dead; the batch goes on.
async fn apply_one(
    tx: &mut Tx,
    incoming: &Incoming,
    report: &mut BatchReport,
) -> Result<(), StoreError> {
    let envelope = &incoming.envelope;
    let new = inbox_row(incoming);
    tx.savepoint().await?;
    let Some(id) = tx.insert_inbox(&new).await? else {
        tx.release_savepoint().await?;
        report.duplicates += 1;
        report.outcomes.push((new.source.clone(), "duplicate"));
        return Ok(());
    };
    match apply_event(tx, id, envelope, report).await {
        Ok(status) => {
            tx.release_savepoint().await?;
            report.count(status);
            report.outcomes.push((new.source.clone(), status.as_str()));
        }
        Err(e) => {
            tracing::warn!(key = %envelope.key, error = %e, "event failed; recorded as dead");
            record_dead(tx, &new, &e).await?;
            report.dead += 1;
            report.outcomes.push((new.source.clone(), "dead"));
        }
    }
    Ok(())
}

/// Undoes what a failed event half-wrote (back to its savepoint) and records it dead, so it
/// never blocks the events behind it. If even that fails, the database itself is failing and
/// the whole batch rolls back.
async fn record_dead(tx: &mut Tx, new: &NewInboxEvent, e: &StoreError) -> Result<(), StoreError> {
    tx.rollback_to_savepoint().await?;
    let id = tx
        .insert_inbox(new)
        .await?
        .ok_or_else(|| StoreError::Corrupt("inbox row reappeared after rollback".into()))?;
    let reason = format!("failed while applying: {e}");
    tx.set_outcome(
        id,
        InboxStatus::Dead,
        Some(&reason),
        None,
        crate::store::now_ms(),
    )
    .await?;
    tx.release_savepoint().await
}

/// Applies one recorded event (inbox row `id`) and, if it changed state, the events parked on
/// its reference. Returns the event's own status.
async fn apply_event(
    tx: &mut Tx,
    id: i64,
    envelope: &Envelope,
    report: &mut BatchReport,
) -> Result<InboxStatus, StoreError> {
    let now = crate::store::now_ms();
    let fact = match Fact::from_envelope(envelope) {
        Ok(f) => f,
        Err(reason) => {
            tx.set_outcome(id, InboxStatus::Dead, Some(&reason), None, now)
                .await?;
            return Ok(InboxStatus::Dead);
        }
    };
    let status = decide_and_write(tx, id, envelope.key.as_str(), &fact, now).await?;
    if status == InboxStatus::Parked {
        report.parked_possible = Some(true);
    }
    if status == InboxStatus::Applied {
        if let Some(reference) = fact.reference() {
            let possible = match report.parked_possible {
                Some(p) => p,
                None => *report.parked_possible.insert(tx.any_parked().await?),
            };
            if possible {
                report.unparked += unpark(tx, reference).await?;
            }
        }
    }
    Ok(status)
}

/// Locks the reference's payment and order, decides, writes, records the outcome.
pub async fn decide_and_write(
    tx: &mut Tx,
    id: i64,
    key: &str,
    fact: &Fact,
    now: i64,
) -> Result<InboxStatus, StoreError> {
    let reference = fact.reference();
    let decision = match reference {
        // Payment before order, always: one lock order for every path, so no deadlock.
        Some(r) => {
            let payment = tx.payment_for_update(r).await?;
            let order = tx.order_for_update(r).await?;
            decide(fact, payment.as_ref(), order.as_ref())
        }
        None => decide(fact, None, None),
    };
    write(tx, key, &decision, now).await?;
    let (status, reason) = status_of(&decision.outcome);
    tx.set_outcome(id, status, reason, reference, now).await?;
    Ok(status)
}

/// An outcome as the inbox records it.
fn status_of(outcome: &Outcome) -> (InboxStatus, Option<&str>) {
    match outcome {
        Outcome::Applied => (InboxStatus::Applied, None),
        Outcome::Ignored(r) => (InboxStatus::Ignored, Some(r.as_str())),
        Outcome::Parked(r) => (InboxStatus::Parked, Some(r.as_str())),
        Outcome::Dead(r) => (InboxStatus::Dead, Some(r.as_str())),
    }
}

async fn write(tx: &mut Tx, key: &str, d: &Decision, now: i64) -> Result<(), StoreError> {
    if let Some(p) = &d.payment {
        tx.save_payment(p, now).await?;
    }
    if let Some(o) = &d.order {
        tx.save_order(o, now).await?;
    }
    if let Some(j) = &d.journal {
        tx.post_journal(j, key, now).await?;
    }
    Ok(())
}

/// Re-evaluates events parked on `reference`, oldest first, until a pass changes nothing (a
/// dispute resolution may need the dispute's opening, parked before it). Returns how many left
/// the parked state.
async fn unpark(tx: &mut Tx, reference: &str) -> Result<u64, StoreError> {
    let mut unparked = 0;
    loop {
        let mut progress = false;
        for event in tx.parked_for(reference).await? {
            let envelope = Envelope::from_json(&event.envelope)
                .map_err(|e| StoreError::Corrupt(format!("inbox event {}: {e}", event.id)))?;
            let fact = match Fact::from_envelope(&envelope) {
                Ok(f) => f,
                Err(_) => continue,
            };
            let now = crate::store::now_ms();
            let status = decide_and_write(tx, event.id, &event.idempotency_key, &fact, now).await?;
            if status != InboxStatus::Parked {
                unparked += 1;
                progress = true;
            }
        }
        if !progress {
            return Ok(unparked);
        }
    }
}

/// What replaying an inbox event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    pub id: i64,
    pub before: String,
    pub after: String,
    /// For humans: what happened, or why nothing did.
    pub message: String,
}

/// Re-applies a `dead` or `parked` event through the same decision and writes, in one
/// transaction (and then anything it unparks). Replaying an `applied` or `ignored` event
/// changes nothing and says so. `None`: no such event.
pub async fn replay(store: &Store, id: i64) -> Result<Option<Replayed>, StoreError> {
    let mut tx = store.begin().await?;
    let Some(event) = tx.inbox_event_for_update(id).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    let before = event.status.clone();
    if before == "applied" || before == "ignored" {
        tx.rollback().await?;
        return Ok(Some(Replayed {
            id,
            after: before.clone(),
            message: format!("already {before}: nothing to replay"),
            before,
        }));
    }
    let envelope = Envelope::from_json(&event.envelope)
        .map_err(|e| StoreError::Corrupt(format!("inbox event {id}: {e}")))?;
    let mut report = BatchReport::default();
    tx.savepoint().await?;
    let status = match apply_event(&mut tx, id, &envelope, &mut report).await {
        Ok(s) => {
            tx.release_savepoint().await?;
            s
        }
        Err(e) => {
            tx.rollback_to_savepoint().await?;
            let reason = format!("failed while replaying: {e}");
            tx.set_outcome(
                id,
                InboxStatus::Dead,
                Some(&reason),
                None,
                crate::store::now_ms(),
            )
            .await?;
            InboxStatus::Dead
        }
    };
    if status == InboxStatus::Applied {
        tx.announce_change().await?;
    }
    tx.commit().await?;
    let after = store
        .inbox_event(id)
        .await?
        .map(|e| (e.status, e.reason))
        .unwrap_or_else(|| (status.as_str().to_owned(), None));
    Ok(Some(Replayed {
        id,
        before,
        message: match (&after.1, status) {
            (_, InboxStatus::Applied) if report.unparked > 0 => {
                format!(
                    "applied; {} parked event(s) applied after it",
                    report.unparked
                )
            }
            (_, InboxStatus::Applied) => "applied".into(),
            (Some(reason), _) => reason.clone(),
            (None, s) => s.as_str().into(),
        },
        after: after.0,
    }))
}
