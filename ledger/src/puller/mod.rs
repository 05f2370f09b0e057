//! The puller: for each edge shard, hold the shard's lease, pull (long-poll), apply the batch
//! in one transaction that also moves the cursor, then ack. Errors of any kind back off with
//! capped exponential delays and jitter; a shard's failure state is logged when it changes,
//! not on every retry. Shutdown interrupts waiting, never a batch being applied or acked.

pub mod backoff;
pub mod client;
pub mod status;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use keffi_shared::wire::{EdgePosition, PullQuery, PullResponse, PulledEvent, SKIP_WINDOW};
use keffi_shared::Envelope;
use rand::Rng;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

use crate::changes::Changes;
use crate::pipeline::{apply_routed, routed};
use crate::shutdown::Shutdown;
use crate::store::{now_ms, Store, StoreError};
use backoff::Backoff;
use client::{EdgeClient, EdgeError, EdgeFailure};
use status::{PullerStatus, ShardState};

#[derive(Debug, Clone)]
pub struct PullerConfig {
    pub edge_url: String,
    pub edge_token: keffi_shared::Secret,
    /// Events per pull.
    pub batch: u32,
    /// Long-poll wait per pull.
    pub wait: Duration,
    /// The least time between two pulls that found nothing: without long-poll (a zero
    /// `wait`) this is the polling interval, so an idle shard is not asked in a tight loop.
    pub idle: Duration,
    /// How long a shard's lease lasts without renewal.
    pub lease_ttl: Duration,
    /// This replica's name in the lease.
    pub replica: String,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

/// Runs until `shutdown`: learns the edge's shard count, then drives every shard.
pub async fn run(
    store: Store,
    cfg: PullerConfig,
    status: Arc<PullerStatus>,
    changes: Changes,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let client = EdgeClient::new(&cfg.edge_url, &cfg.edge_token)?;
    let mut backoff = Backoff::new(cfg.backoff_base, cfg.backoff_max);
    let mut failing: Option<EdgeFailure> = None;
    crate::telemetry_metrics::puller_shards(0);
    let shards = loop {
        match client.shards().await {
            Ok(r) => break r.shards,
            Err(e) => {
                if failing.as_ref() != Some(&e.kind()) {
                    tracing::warn!(edge = %cfg.edge_url, error = %e, "cannot read the edge's shards; retrying");
                    failing = Some(e.kind());
                }
                let delay = backoff.next_delay(jitter());
                if !sleep_or_shutdown(delay, &shutdown).await {
                    return Ok(());
                }
            }
        }
    };
    store.ensure_cursors(shards, now_ms()).await?;
    crate::telemetry_metrics::puller_shards(shards);
    for shard in 0..shards {
        status.update(shard, |_| {});
    }
    tracing::info!(shards, edge = %cfg.edge_url, replica = %cfg.replica, "puller started");
    let tasks: Vec<_> = (0..shards)
        .map(|shard| {
            let worker = ShardPuller {
                shard,
                store: store.clone(),
                client: client.clone(),
                cfg: cfg.clone(),
                status: status.clone(),
                changes: changes.clone(),
                shutdown: shutdown.clone(),
            };
            tokio::spawn(worker.run())
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    tracing::info!("puller stopped");
    Ok(())
}

/// The source holding at least half of a full batch with more behind it: a backlog the other
/// sources' events would otherwise wait behind.
fn dominant_source(pulled: &PullResponse) -> Option<String> {
    if !pulled.has_more || pulled.events.is_empty() {
        return None;
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in &pulled.events {
        *counts.entry(e.envelope.source.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| n * 2 >= pulled.events.len())
        .map(|(source, _)| source.to_owned())
}

/// A random number in [0, 1) for backoff jitter.
fn jitter() -> f64 {
    rand::thread_rng().gen()
}

/// Sleeps for `d` unless shutdown comes first; false on shutdown.
async fn sleep_or_shutdown(d: Duration, shutdown: &Shutdown) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.clone().wait() => false,
    }
}

struct ShardPuller {
    shard: u32,
    store: Store,
    client: EdgeClient,
    cfg: PullerConfig,
    status: Arc<PullerStatus>,
    changes: Changes,
    shutdown: Shutdown,
}

/// Why one round failed: the edge's answer, or the store's.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Edge(#[from] EdgeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RoundError {
    /// What kind of failure this is, so a shard that keeps failing the same way logs it once
    /// (and again when the way it fails changes), not at every retry.
    fn kind(&self) -> FailureKind {
        match self {
            RoundError::Edge(e) => FailureKind::Edge(e.kind()),
            RoundError::Store(_) => FailureKind::Store,
        }
    }
}

/// A failure, as far as "has it changed?" goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FailureKind {
    Edge(EdgeFailure),
    Store,
}

enum Round {
    /// Pulled and applied.
    Done,
    /// Nothing was waiting; the pull took this long.
    Empty(Duration),
    /// Another replica holds the lease.
    Standby,
    Shutdown,
}

impl ShardPuller {
    async fn run(self) {
        let mut backoff = Backoff::new(self.cfg.backoff_base, self.cfg.backoff_max);
        let mut failing: Option<FailureKind> = None;
        // After a restart the last committed batch may not have been acked: ack the cursor
        // once first (acks are idempotent), so the edge's backlog drains to zero.
        let mut pending_ack: Option<u64> = None;
        let mut first = true;
        // The source lookahead pulls skip and how far they have applied the others' events
        // (see `scout`).
        let mut scouted: Option<(String, u64)> = None;
        while !self.shutdown.is_requested() {
            // One span per round: what it pulled, applied and acked is recorded on it as it
            // becomes known, so the round's log lines (and its failure) tell one story.
            let cycle = tracing::info_span!(
                "pull_cycle",
                shard = self.shard,
                after = Empty,
                events = Empty,
                first_seq = Empty,
                last_seq = Empty,
                applied = Empty,
                duplicates = Empty,
                ignored = Empty,
                parked = Empty,
                dead = Empty,
                unparked = Empty,
            );
            let result = self
                .round(&mut pending_ack, &mut first, &mut scouted)
                .instrument(cycle.clone())
                .await;
            match result {
                Ok(Round::Shutdown) => break,
                Ok(Round::Standby) => {
                    self.status
                        .update(self.shard, |s| s.state = ShardState::Standby);
                    if !sleep_or_shutdown(self.cfg.lease_ttl / 3, &self.shutdown).await {
                        break;
                    }
                }
                Ok(done @ (Round::Done | Round::Empty(_))) => {
                    if failing.take().is_some() {
                        cycle.in_scope(|| tracing::info!(shard = self.shard, "shard recovered"));
                    }
                    backoff.reset();
                    if let Round::Empty(took) = done {
                        let rest = self.cfg.idle.saturating_sub(took);
                        if !rest.is_zero() && !sleep_or_shutdown(rest, &self.shutdown).await {
                            break;
                        }
                    }
                }
                Err(e) => {
                    crate::telemetry_metrics::puller_error(self.shard);
                    let kind = e.kind();
                    if failing.as_ref() != Some(&kind) {
                        cycle.in_scope(|| {
                            tracing::warn!(shard = self.shard, error = %e, "shard failing; retrying with backoff");
                        });
                        failing = Some(kind);
                    }
                    let failures = backoff.failures() + 1;
                    self.status.update(self.shard, |s| {
                        s.state = ShardState::Failing;
                        s.last_error = Some(e.to_string());
                        s.consecutive_failures = failures;
                    });
                    let delay = backoff.next_delay(jitter());
                    if !sleep_or_shutdown(delay, &self.shutdown).await {
                        break;
                    }
                }
            }
        }
        if let Err(e) = self
            .store
            .release_lease(i64::from(self.shard), &self.cfg.replica)
            .await
        {
            tracing::warn!(shard = self.shard, error = %e, "could not release the lease");
        }
    }

    async fn round(
        &self,
        pending_ack: &mut Option<u64>,
        first: &mut bool,
        scouted: &mut Option<(String, u64)>,
    ) -> Result<Round, RoundError> {
        let ttl_ms = self.cfg.lease_ttl.as_millis() as i64;
        let shard = i64::from(self.shard);
        if !self
            .store
            .try_lease(shard, &self.cfg.replica, ttl_ms, now_ms())
            .await?
        {
            *first = true;
            *scouted = None;
            return Ok(Round::Standby);
        }
        let cursor = self
            .store
            .cursors()
            .await?
            .into_iter()
            .find(|c| c.shard == shard)
            .map_or(0, |c| c.last_seq.max(0) as u64);
        Span::current().record("after", cursor);
        if *first {
            *first = false;
            if cursor > 0 {
                *pending_ack = Some(cursor);
            }
        }
        if let Some(upto) = *pending_ack {
            self.client.ack(self.shard, upto).await?;
            *pending_ack = None;
            tracing::debug!(upto, "acked what was applied before");
        }
        let query = PullQuery {
            shard: self.shard,
            after: cursor,
            limit: Some(self.cfg.batch),
            wait_ms: Some(self.cfg.wait.as_millis() as u64),
            skip_source: None,
        };
        let pull_started = std::time::Instant::now();
        let pulled = tokio::select! {
            r = self.client.pull(query) => r?,
            _ = self.shutdown.clone().wait() => return Ok(Round::Shutdown),
        };
        let took = pull_started.elapsed();
        if !pulled.events.is_empty() {
            tracing::debug!(
                events = pulled.events.len(),
                head_seq = pulled.head_seq,
                has_more = pulled.has_more,
                took_ms = took.as_millis() as u64,
                "pulled"
            );
        }
        self.status.update(self.shard, |s| {
            s.state = ShardState::Pulling;
            s.cursor = cursor;
        });
        let applied_to = pulled.last_seq(cursor);
        let lag_seconds = pulled
            .oldest_unacked_ms
            .map_or(0.0, |t| (now_ms() - t).max(0) as f64 / 1000.0);
        crate::telemetry_metrics::pulled(self.shard, pulled.events.len());
        let lag_events = pulled.head_seq.saturating_sub(applied_to);
        crate::telemetry_metrics::lag(self.shard, lag_events, lag_seconds);
        self.status.update(self.shard, |s| {
            s.head_seq = pulled.head_seq;
            s.lag_events = lag_events;
            s.lag_seconds = lag_seconds;
        });
        self.status.record_lag(self.shard, lag_seconds, now_ms());
        let empty = pulled.events.is_empty();
        let backlogged = dominant_source(&pulled);
        let head = pulled.head_seq;
        self.apply(pulled, cursor, pending_ack).await?;
        match backlogged {
            Some(skip) => {
                // Only a scout that skipped the same source vouches for what lies before
                // where it reached: the events it skipped there are not applied yet.
                let after = match scouted.take() {
                    Some((s, reached)) if s == skip => reached.max(applied_to),
                    _ => applied_to,
                };
                let reached = self.scout(&skip, after, head).await?;
                *scouted = Some((skip, reached));
            }
            None => *scouted = None,
        }
        Ok(if empty {
            Round::Empty(took)
        } else {
            Round::Done
        })
    }

    /// The lookahead that keeps one source's backlog from holding the others' events behind
    /// it: past what the main pull applied, the next events of every source but `skip` (the
    /// backlogged one), applied now without moving the cursor. The main pull reaches them
    /// later as duplicates (the inbox's dedupe), so nothing is applied twice and the cursor
    /// and the acks still follow the whole log; each source's own events stay in order,
    /// since a scout starts where everything before it of those sources is applied.
    /// Returns how far it reached: every event of the other sources up to there is applied.
    async fn scout(&self, skip: &str, after: u64, head: u64) -> Result<u64, RoundError> {
        let query = PullQuery {
            shard: self.shard,
            after,
            limit: Some(self.cfg.batch),
            wait_ms: None,
            skip_source: Some(skip.to_owned()),
        };
        let pulled = self.client.pull(query).await?;
        let reached = match pulled.events.last() {
            // More of them in the window: the next scout goes on from the last one.
            Some(last) if pulled.has_more => last.seq,
            // The window holds no more of them: the next scout starts past it.
            _ => after
                .saturating_add(SKIP_WINDOW)
                .min(head.max(pulled.head_seq)),
        };
        let envelopes = self.positioned(pulled.events.into_iter());
        if !envelopes.is_empty() {
            let events = routed(&self.store, envelopes).await?;
            let report = apply_routed(&self.store, &events, None).await?;
            self.changes.publish(&report.moved);
            tracing::debug!(
                events = events.events.len(),
                applied = report.applied,
                "applied other sources' events ahead of a backlog"
            );
            self.status.update(self.shard, |s| {
                s.applied += report.applied;
                s.dead += report.dead;
            });
        }
        Ok(reached)
    }

    /// Pulled events as envelopes with where each sits at the edge.
    fn positioned(
        &self,
        events: impl Iterator<Item = PulledEvent>,
    ) -> Vec<(Envelope, Option<EdgePosition>)> {
        events
            .map(|e| {
                let origin = EdgePosition {
                    shard: self.shard,
                    seq: e.seq,
                };
                (e.envelope, Some(origin))
            })
            .collect()
    }

    /// Applies a pulled batch (cursor moves in the same transaction), then acks it.
    async fn apply(
        &self,
        pulled: PullResponse,
        cursor: u64,
        pending_ack: &mut Option<u64>,
    ) -> Result<(), RoundError> {
        let envelopes = self.positioned(pulled.events.into_iter().filter(|e| e.seq > cursor));
        // The batch's end, whatever becomes of its last event (a held one moves the cursor
        // as an applied one does).
        let first = envelopes.first().and_then(|(_, o)| *o);
        let last = envelopes.last().and_then(|(_, o)| *o);
        let events = routed(&self.store, envelopes)
            .await
            .map_err(RoundError::Store)?;
        let Some(last) = last else {
            let now = now_ms();
            self.status.update(self.shard, |s| {
                s.last_success_ms = Some(now);
                s.consecutive_failures = 0;
            });
            crate::telemetry_metrics::last_pull(self.shard, now);
            return Ok(());
        };
        let span = Span::current();
        span.record("events", events.events.len() + events.held.len());
        if let Some(first) = first {
            span.record("first_seq", first.seq);
        }
        span.record("last_seq", last.seq);
        let report = apply_routed(&self.store, &events, Some(last)).await?;
        self.changes.publish(&report.moved);
        report.record_on(&span);
        let now = now_ms();
        self.status.update(self.shard, |s| {
            s.cursor = last.seq;
            s.applied += report.applied;
            s.duplicates += report.duplicates;
            s.dead += report.dead;
            s.last_success_ms = Some(now);
            s.consecutive_failures = 0;
        });
        crate::telemetry_metrics::last_pull(self.shard, now);
        // Committed: from here a failed ack only delays the edge's cleanup, never the ledger.
        *pending_ack = Some(last.seq);
        self.client.ack(self.shard, last.seq).await?;
        *pending_ack = None;
        tracing::info!("batch applied and acked");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keffi_shared::headers::RequestHeaders;
    use keffi_shared::version::V1;
    use keffi_shared::{IdempotencyKey, Provider};

    fn batch(sources: &[&str], has_more: bool) -> PullResponse {
        PullResponse {
            v: V1,
            shard: 0,
            events: sources
                .iter()
                .enumerate()
                .map(|(i, source)| PulledEvent {
                    seq: i as u64 + 1,
                    envelope: Envelope::new(
                        (*source).to_owned(),
                        Provider::Paystack,
                        IdempotencyKey::parse(format!("paystack:charge.success:{i}")).unwrap(),
                        "charge.success",
                        0,
                        &RequestHeaders::new(),
                        b"{}".to_vec(),
                    ),
                })
                .collect(),
            has_more,
            head_seq: 100,
            oldest_unacked_ms: None,
        }
    }

    #[test]
    fn only_a_full_batch_mostly_of_one_source_is_a_backlog_to_look_past() {
        assert_eq!(
            dominant_source(&batch(&["a", "a", "b", "a"], true)).as_deref(),
            Some("a")
        );
        assert_eq!(
            dominant_source(&batch(&["a", "b"], true))
                .as_deref()
                .map(|s| s.len()),
            Some(1),
            "an even split looks past one of them"
        );
        assert_eq!(dominant_source(&batch(&["a", "b", "c", "d"], true)), None);
        // Nothing behind the batch: nothing to look past.
        assert_eq!(dominant_source(&batch(&["a", "a", "a"], false)), None);
        assert_eq!(dominant_source(&batch(&[], true)), None);
    }
}
