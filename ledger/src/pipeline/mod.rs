//! The apply pipeline, the heart of the ledger: a batch of envelopes is applied in ONE
//! database transaction. Each event is recorded in the inbox (a known key is a duplicate and
//! is skipped), read for what it states, decided against the payment and order it touches,
//! and its payment, order and journal changes written; an applied event re-evaluates the
//! events parked on its reference. Last, the shard's cursor moves to the batch's end, and
//! everything commits together: a crash leaves all or nothing.
//!
//! There is one implementation of the rules: the pure planner ([`crate::domain::batch`]),
//! read and written set-wise by [`set_wise`]. Every path goes through it — a pulled batch as
//! a whole; the fallback, one event at a time, each in a savepoint, so an event that hits a
//! store error is rolled back alone and recorded `dead` with the reason; an operator's replay
//! and the sweeps, as a batch of one stored event.
//!
//! Locks: every path takes the reference locks of everything it will touch first, all at
//! once, in one order ([`Tx::lock_references`]), then reads payments, orders and parked
//! events. So two writers touching one reference — two replicas, a batch and an order's
//! creation, a batch and a replay — run one after the other, and the second sees the first.

mod route;
mod set_wise;
mod sweep;

pub use route::{payee_of, route_held, routed, Routed};
pub use sweep::{adopt_orders_behind, sweep_forever, sweep_parked};

use keffi_shared::wire::EdgePosition;
use keffi_shared::{Envelope, MerchantId};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::domain::{Fact, Outcome};
use crate::store::notify::OrderChange;
use crate::store::splits::NewHeld;
use crate::store::{InboxStatus, NewInboxEvent, SettledInbox, Store, StoreError, Tx};

/// One event to apply, whose it is, and where it came from.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The merchant the event belongs to (see [`routed`]).
    pub merchant: MerchantId,
    pub envelope: Envelope,
    /// The edge shard and sequence, for events pulled from the edge.
    pub origin: Option<EdgePosition>,
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
    /// Events of a split source no merchant could be told for, held (see [`routed`]).
    pub held: u64,
    /// (source, outcome) per event, counted in metrics once the batch commits.
    #[serde(skip)]
    pub outcomes: Vec<(String, &'static str)>,
    /// Time per phase of a set-wise batch, in order (empty for the event-by-event path).
    #[serde(skip)]
    pub phases: Vec<(&'static str, std::time::Duration)>,
    /// The orders the batch moved, as they now are: publish them to the change feed once the
    /// batch has committed.
    #[serde(skip)]
    pub moved: Vec<OrderChange>,
    /// Events stored earlier that got a new outcome (parked ones this batch unblocked, a
    /// replayed event): counted in metrics once the batch commits, beside `outcomes`.
    #[serde(skip)]
    pub settled_again: Vec<InboxStatus>,
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

    /// Records what the batch did on `span` (`pull_cycle` or `apply_batch`; fields it does not
    /// declare are ignored).
    pub fn record_on(&self, span: &tracing::Span) {
        span.record("applied", self.applied);
        span.record("duplicates", self.duplicates);
        span.record("ignored", self.ignored);
        span.record("parked", self.parked);
        span.record("dead", self.dead);
        span.record("unparked", self.unparked);
        span.record("held", self.held);
    }

    /// Adds what one event's own attempt did (the event-by-event path).
    fn absorb(&mut self, other: BatchReport) {
        self.applied += other.applied;
        self.duplicates += other.duplicates;
        self.ignored += other.ignored;
        self.parked += other.parked;
        self.dead += other.dead;
        self.unparked += other.unparked;
        self.outcomes.extend(other.outcomes);
        self.moved.extend(other.moved);
        self.settled_again.extend(other.settled_again);
    }

    /// Counts what the committed batch did in the metrics.
    fn count_in_metrics(&self) {
        for (source, outcome) in &self.outcomes {
            crate::telemetry_metrics::event(source, outcome);
        }
        for status in &self.settled_again {
            crate::telemetry_metrics::event_settled_again(status.as_str());
        }
    }
}

/// Applies `events` in one transaction and, for a pulled batch, moves the shard's cursor to
/// `cursor` in the same transaction.
pub async fn apply_batch(
    store: &Store,
    events: &[Incoming],
    cursor: Option<EdgePosition>,
) -> Result<BatchReport, StoreError> {
    apply_with(store, events, &Holds::default(), cursor).await
}

/// Applies a routed batch as [`apply_batch`] does, and in the same transaction holds the
/// events no merchant could be told for and marks the held ones it places routed.
pub async fn apply_routed(
    store: &Store,
    routed: &Routed,
    cursor: Option<EdgePosition>,
) -> Result<BatchReport, StoreError> {
    let holds = Holds {
        held: &routed.held,
        released: &routed.released,
    };
    apply_with(store, &routed.events, &holds, cursor).await
}

/// What a batch writes beside its events (see [`apply_routed`]).
#[derive(Default, Clone, Copy)]
struct Holds<'a> {
    held: &'a [NewHeld],
    released: &'a [(i64, MerchantId)],
}

#[tracing::instrument(
    name = "apply_batch",
    skip_all,
    fields(
        events = events.len(),
        applied = tracing::field::Empty,
        duplicates = tracing::field::Empty,
        ignored = tracing::field::Empty,
        parked = tracing::field::Empty,
        dead = tracing::field::Empty,
        unparked = tracing::field::Empty,
        held = tracing::field::Empty,
    )
)]
async fn apply_with(
    store: &Store,
    events: &[Incoming],
    holds: &Holds<'_>,
    cursor: Option<EdgePosition>,
) -> Result<BatchReport, StoreError> {
    let started = std::time::Instant::now();
    let facts: Vec<Result<Fact, String>> = events
        .iter()
        .map(|i| Fact::from_envelope(&i.envelope))
        .collect();
    let facts = resolved(store, events, facts).await?;
    // Fast path: the whole batch set-wise, no savepoints, since almost every batch applies
    // without a store error. If it fails, nothing was committed, and the batch is applied
    // again with a savepoint around each event, so only a failing event is recorded dead.
    let mut races = 0;
    let report = loop {
        match attempt(store, events, &facts, holds, cursor, Isolation::Batch).await {
            Ok(report) => break report,
            // Another writer recorded one of these events meanwhile: it has committed by now
            // (the insert waited for it), so a fresh attempt sees it as a duplicate.
            Err(Failure::Event(StoreError::Raced(key))) if races < MAX_RACES => {
                races += 1;
                tracing::debug!(%key, races, "raced another writer; applying the batch again");
            }
            Err(Failure::Event(e)) => {
                tracing::info!(error = %e, "an event failed; re-applying the batch event by event");
                break attempt(store, events, &facts, holds, cursor, Isolation::PerEvent)
                    .await
                    .map_err(Failure::into_store)?;
            }
            Err(Failure::Store(e)) => return Err(e),
        }
    };
    report.record_on(&tracing::Span::current());
    tracing::debug!("batch committed");
    crate::telemetry_metrics::batch_applied(started);
    crate::telemetry_metrics::phases(&report.phases);
    report.count_in_metrics();
    Ok(report)
}

/// `facts` with each one that names its payment by a gateway transaction id (a Stripe dispute)
/// about that payment's reference, one read per merchant and gateway. One whose payment is not
/// (yet) known stays about the transaction id, and parks there.
async fn resolved(
    store: &Store,
    events: &[Incoming],
    mut facts: Vec<Result<Fact, String>>,
) -> Result<Vec<Result<Fact, String>>, StoreError> {
    let mut wanted: std::collections::HashMap<(&MerchantId, keffi_shared::Provider), Vec<&str>> =
        std::collections::HashMap::new();
    for (event, fact) in events.iter().zip(&facts) {
        if let Some((gateway, id)) = fact.as_ref().ok().and_then(Fact::by_gateway_id) {
            wanted
                .entry((&event.merchant, gateway))
                .or_default()
                .push(id);
        }
    }
    if wanted.is_empty() {
        return Ok(facts);
    }
    let mut found = std::collections::HashMap::new();
    for ((merchant, gateway), ids) in wanted {
        let refs = store
            .references_by_gateway_id(merchant, gateway, &ids)
            .await?;
        for (id, reference) in refs {
            found.insert((merchant.clone(), gateway, id), reference);
        }
    }
    for (event, fact) in events.iter().zip(facts.iter_mut()) {
        let Ok(f) = fact else { continue };
        let Some((gateway, id)) = f.by_gateway_id() else {
            continue;
        };
        let reference = found
            .get(&(event.merchant.clone(), gateway, id.to_owned()))
            .cloned();
        *f = f.clone().resolved(reference.as_deref());
    }
    Ok(facts)
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
    facts: &[Result<Fact, String>],
    holds: &Holds<'_>,
    cursor: Option<EdgePosition>,
    isolation: Isolation,
) -> Result<BatchReport, Failure> {
    let mut tx = store.begin().await.map_err(Failure::Store)?;
    lock_references_of(&mut tx, events, facts)
        .await
        .map_err(Failure::Store)?;
    let mut report = BatchReport::default();
    match isolation {
        Isolation::Batch => {
            // Each merchant's events are a batch of their own: the planner never sees two
            // merchants' references side by side, so `ord_1` of one is never `ord_1` of
            // another. Within a merchant the arrival order is kept.
            for (merchant, group, group_facts) in by_merchant(events, facts) {
                set_wise::apply(&mut tx, merchant, &group, &group_facts, &mut report)
                    .await
                    .map_err(Failure::Event)?;
            }
        }
        Isolation::PerEvent => one_by_one(&mut tx, events, facts, &mut report)
            .await
            .map_err(Failure::Store)?,
    }
    if !holds.held.is_empty() || !holds.released.is_empty() {
        let now = crate::store::now_ms();
        tx.hold(holds.held, now).await.map_err(Failure::Store)?;
        tx.release_held(holds.released, now)
            .await
            .map_err(Failure::Store)?;
        report.held = holds.held.len() as u64;
        for h in holds.held {
            report.outcomes.push((h.source.clone(), "held"));
        }
    }
    let committing = std::time::Instant::now();
    if !report.moved.is_empty() {
        tx.announce_changes(&report.moved)
            .await
            .map_err(Failure::Store)?;
    }
    if let Some(to) = cursor {
        tx.advance_cursor(to, crate::store::now_ms())
            .await
            .map_err(Failure::Store)?;
    }
    tx.commit().await.map_err(Failure::Store)?;
    if isolation == Isolation::Batch {
        report.phases.push(("commit", committing.elapsed()));
    }
    Ok(report)
}

/// The events of each merchant, in arrival order, with their facts; merchants in id order.
/// A batch of one merchant's events (the usual case) is passed on as it is, not copied.
type Group<'a> = (
    &'a MerchantId,
    Cow<'a, [Incoming]>,
    Cow<'a, [Result<Fact, String>]>,
);

fn by_merchant<'a>(events: &'a [Incoming], facts: &'a [Result<Fact, String>]) -> Vec<Group<'a>> {
    let Some(first) = events.first().map(|e| &e.merchant) else {
        return Vec::new();
    };
    if events.iter().all(|e| e.merchant == *first) {
        return vec![(first, Cow::Borrowed(events), Cow::Borrowed(facts))];
    }
    let mut groups: std::collections::BTreeMap<&MerchantId, (Vec<Incoming>, Vec<_>)> =
        std::collections::BTreeMap::new();
    for (incoming, fact) in events.iter().zip(facts) {
        let (group, group_facts) = groups.entry(&incoming.merchant).or_default();
        group.push(incoming.clone());
        group_facts.push(fact.clone());
    }
    groups
        .into_iter()
        .map(|(m, (g, f))| (m, Cow::Owned(g), Cow::Owned(f)))
        .collect()
}

/// Takes the locks of every (merchant, reference) the facts name, before anything is read.
async fn lock_references_of(
    tx: &mut Tx,
    events: &[Incoming],
    facts: &[Result<Fact, String>],
) -> Result<(), StoreError> {
    let references: BTreeSet<(&MerchantId, &str)> = events
        .iter()
        .zip(facts)
        .filter_map(|(i, f)| Some((&i.merchant, f.as_ref().ok()?.reference()?)))
        .collect();
    let references: Vec<(&MerchantId, &str)> = references.into_iter().collect();
    tx.lock_references(&references).await
}

/// Applies `events` inside `tx` without committing, each in a savepoint: the caller decides
/// (tests use this to show that an uncommitted batch leaves nothing behind).
pub async fn apply_events(tx: &mut Tx, events: &[Incoming]) -> Result<BatchReport, StoreError> {
    let facts: Vec<Result<Fact, String>> = events
        .iter()
        .map(|i| Fact::from_envelope(&i.envelope))
        .collect();
    lock_references_of(tx, events, &facts).await?;
    let mut report = BatchReport::default();
    one_by_one(tx, events, &facts, &mut report).await?;
    Ok(report)
}

/// The fallback: each event as a batch of its own, through the same planner and writers, in
/// a savepoint, so a store error undoes only that event's writes and records it dead.
async fn one_by_one(
    tx: &mut Tx,
    events: &[Incoming],
    facts: &[Result<Fact, String>],
    report: &mut BatchReport,
) -> Result<(), StoreError> {
    for (incoming, fact) in events.iter().zip(facts) {
        let one = std::slice::from_ref(incoming);
        let mut own = BatchReport::default();
        tx.savepoint().await?;
        let merchant = &incoming.merchant;
        match set_wise::apply(tx, merchant, one, std::slice::from_ref(fact), &mut own).await {
            Ok(()) => {
                tx.release_savepoint().await?;
                report.absorb(own);
            }
            // Another writer recorded this event and committed (the insert waited for it).
            Err(StoreError::Raced(_)) => {
                tx.rollback_to_savepoint().await?;
                tx.release_savepoint().await?;
                report.duplicates += 1;
                report
                    .outcomes
                    .push((incoming.envelope.source.clone(), "duplicate"));
            }
            Err(e) => {
                tracing::warn!(key = %incoming.envelope.key, error = %e, "event failed; recorded as dead");
                tx.rollback_to_savepoint().await?;
                let row = inbox_row(incoming);
                let reason = format!("failed while applying: {e}");
                tx.insert_inbox_settled(
                    &[SettledInbox {
                        event: &row,
                        status: InboxStatus::Dead,
                        reason: Some(&reason),
                        reference: fact.as_ref().ok().and_then(Fact::reference),
                    }],
                    crate::store::now_ms(),
                )
                .await?;
                tx.release_savepoint().await?;
                report.dead += 1;
                report
                    .outcomes
                    .push((incoming.envelope.source.clone(), "dead"));
            }
        }
    }
    Ok(())
}

/// The inbox row an incoming event becomes.
fn inbox_row(incoming: &Incoming) -> NewInboxEvent {
    let envelope = &incoming.envelope;
    NewInboxEvent {
        merchant: incoming.merchant.clone(),
        key: envelope.key.to_string(),
        source: envelope.source.clone(),
        provider: envelope.provider,
        event_type: envelope.event_type.clone(),
        received_at_ms: envelope.received_at_ms,
        position: incoming.origin,
        envelope_json: envelope.to_json(),
    }
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

/// What replaying an inbox event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    pub id: i64,
    pub before: InboxStatus,
    pub after: InboxStatus,
    /// For humans: what happened, or why nothing did.
    pub message: String,
    /// The orders the replay moved, for the change feed.
    #[serde(skip)]
    #[schema(ignore)]
    pub moved: Vec<OrderChange>,
}

/// Re-applies one of the merchant's `dead` or `parked` events through the same planner and
/// writers, in one transaction (with anything it unparks). Replaying an `applied` or
/// `ignored` event changes nothing and says so. `None`: the merchant has no such event.
pub async fn replay(
    store: &Store,
    merchant: &MerchantId,
    id: i64,
) -> Result<Option<Replayed>, StoreError> {
    // The reference's lock comes before the event's row, as on every path: read the event
    // once to learn its reference, lock, then read it again, locked, for what it is now.
    let Some(peek) = store.inbox_event(merchant, id).await? else {
        return Ok(None);
    };
    // A fact that names its payment by a gateway transaction is about the reference it was
    // stored under.
    let fact = Envelope::from_json(&peek.envelope)
        .map_err(|e| StoreError::Corrupt(format!("inbox event {id}: {e}")))
        .map(|envelope| Fact::from_envelope(&envelope))?
        .map(|f| f.resolved(peek.reference.as_deref()));
    let mut tx = store.begin().await?;
    if let Some(reference) = fact.as_ref().ok().and_then(Fact::reference) {
        tx.lock_references(&[(merchant, reference)]).await?;
    }
    let Some(event) = tx.inbox_event_for_update(merchant, id).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    let before = event.status;
    if matches!(before, InboxStatus::Applied | InboxStatus::Ignored) {
        tx.rollback().await?;
        return Ok(Some(Replayed {
            id,
            after: before,
            message: format!("already {before}: nothing to replay"),
            before,
            moved: Vec::new(),
        }));
    }
    let mut report = BatchReport::default();
    tx.savepoint().await?;
    let outcome = match set_wise::replay(&mut tx, merchant, id, fact, &mut report).await {
        Ok(outcome) => {
            tx.release_savepoint().await?;
            outcome
        }
        Err(e) => {
            tx.rollback_to_savepoint().await?;
            // What the failed attempt wrote is undone: none of it may be announced.
            report = BatchReport::default();
            report.settled_again.push(InboxStatus::Dead);
            let reason = format!("failed while replaying: {e}");
            tx.set_outcome(
                id,
                InboxStatus::Dead,
                Some(&reason),
                None,
                crate::store::now_ms(),
            )
            .await?;
            Outcome::Dead(reason)
        }
    };
    tx.announce_changes(&report.moved).await?;
    tx.commit().await?;
    report.count_in_metrics();
    let (after, reason) = status_of(&outcome);
    Ok(Some(Replayed {
        id,
        before,
        message: match (reason, after) {
            (_, InboxStatus::Applied) if report.unparked > 0 => {
                format!(
                    "applied; {} parked event(s) applied after it",
                    report.unparked
                )
            }
            (_, InboxStatus::Applied) => "applied".into(),
            (Some(reason), _) => reason.to_owned(),
            (None, s) => s.as_str().into(),
        },
        after,
        moved: report.moved,
    }))
}
