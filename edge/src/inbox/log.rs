//! The shard's log operations. Each runs its statements without an `await` in between, so the
//! Durable Object applies them as one atomic write, and its output gate holds the answer until
//! that write is durable.

use keffi_shared::envelope::Envelope;
use keffi_shared::version::V1;
use keffi_shared::wire::{HookOutcome, PullResponse, PulledEvent, ShardBacklog, SKIP_WINDOW};
use serde::Deserialize;
use worker::{Result, SqlStorage, SqlStorageValue as V};

use crate::protocol::{AppendHead, Appended, OutcomeCount};

fn meta(sql: &SqlStorage, name: &str) -> Result<u64> {
    #[derive(Deserialize)]
    struct Row {
        value: u64,
    }
    let rows: Vec<Row> = sql
        .exec("SELECT value FROM meta WHERE name = ?", vec![V::from(name)])?
        .to_array()?;
    Ok(rows.first().map_or(0, |r| r.value))
}

fn set_meta(sql: &SqlStorage, name: &str, value: u64) -> Result<()> {
    sql.exec(
        "UPDATE meta SET value = ? WHERE name = ?",
        vec![V::from(value as i64), V::from(name)],
    )?;
    Ok(())
}

fn count_outcome(sql: &SqlStorage, source: &str, outcome: &str) -> Result<()> {
    sql.exec(
        "INSERT INTO outcomes (source, outcome, count) VALUES (?, ?, 1)
         ON CONFLICT (source, outcome) DO UPDATE SET count = count + 1",
        vec![V::from(source), V::from(outcome)],
    )?;
    Ok(())
}

/// Appends the envelope (`head` read from `envelope_json`, stored verbatim) unless its source
/// already logged its key (stored or tombstoned).
pub fn append(sql: &SqlStorage, envelope: &AppendHead, envelope_json: &str) -> Result<Appended> {
    #[derive(Deserialize)]
    struct Existing {
        seq: u64,
    }
    let existing: Vec<Existing> = sql
        .exec(
            "SELECT seq FROM events WHERE source = ? AND key = ?",
            vec![
                V::from(envelope.source.as_str()),
                V::from(envelope.key.as_str()),
            ],
        )?
        .to_array()?;
    if let Some(e) = existing.first() {
        count_outcome(sql, &envelope.source, "duplicate")?;
        return Ok(Appended {
            outcome: HookOutcome::Duplicate,
            seq: e.seq,
        });
    }
    let seq = meta(sql, "head_seq")? + 1;
    sql.exec(
        "INSERT INTO events (seq, key, source, received_at_ms, envelope) VALUES (?, ?, ?, ?, ?)",
        vec![
            V::from(seq as i64),
            V::from(envelope.key.as_str()),
            V::from(envelope.source.as_str()),
            V::from(envelope.received_at_ms),
            V::from(envelope_json),
        ],
    )?;
    set_meta(sql, "head_seq", seq)?;
    count_outcome(sql, &envelope.source, "accepted")?;
    Ok(Appended {
        outcome: HookOutcome::Accepted,
        seq,
    })
}

/// Unacknowledged events after `after`, in order, at most `limit`.
/// A pull skipping one source: the window walked in the pending index (sequence and source,
/// never a skipped event's envelope), then the envelopes of what it found.
pub(crate) const PULL_SKIPPING: &str = "SELECT seq, envelope FROM events WHERE seq IN (
        SELECT seq FROM events
        WHERE seq > ? AND seq <= ? AND acked_at_ms IS NULL AND source <> ?
        ORDER BY seq LIMIT ?)
    ORDER BY seq";

pub fn pull(
    sql: &SqlStorage,
    shard: u32,
    after: u64,
    limit: u32,
    skip_source: Option<&str>,
) -> Result<PullResponse> {
    #[derive(Deserialize)]
    struct Row {
        seq: u64,
        envelope: String,
    }
    let rows: Vec<Row> = match skip_source {
        None => sql.exec(
            "SELECT seq, envelope FROM events
             WHERE seq > ? AND acked_at_ms IS NULL
             ORDER BY seq LIMIT ?",
            vec![V::from(after as i64), V::from(i64::from(limit) + 1)],
        )?,
        Some(skip) => sql.exec(
            PULL_SKIPPING,
            vec![
                V::from(after as i64),
                V::from(after.saturating_add(SKIP_WINDOW).min(i64::MAX as u64) as i64),
                V::from(skip.to_owned()),
                V::from(i64::from(limit) + 1),
            ],
        )?,
    }
    .to_array()?;
    let has_more = rows.len() > limit as usize;
    let mut events = Vec::with_capacity(rows.len().min(limit as usize));
    for row in rows.into_iter().take(limit as usize) {
        let envelope = Envelope::from_json(&row.envelope)
            .map_err(|e| worker::Error::RustError(format!("stored envelope {}: {e}", row.seq)))?;
        events.push(PulledEvent {
            seq: row.seq,
            envelope,
        });
    }
    Ok(PullResponse {
        v: V1,
        shard,
        events,
        has_more,
        head_seq: meta(sql, "head_seq")?,
        oldest_unacked_ms: oldest_unacked(sql)?,
    })
}

/// The outcome of an ack request.
pub enum Acked {
    Upto(u64),
    AheadOfLog { head: u64 },
}

/// Marks every event with `seq <= upto` acknowledged: drops its body, keeps its key.
pub fn ack(sql: &SqlStorage, upto: u64, now_ms: i64) -> Result<Acked> {
    let head = meta(sql, "head_seq")?;
    if upto > head {
        return Ok(Acked::AheadOfLog { head });
    }
    let acked = meta(sql, "acked_upto")?;
    if upto > acked {
        sql.exec(
            "UPDATE events SET envelope = NULL, acked_at_ms = ?
             WHERE seq <= ? AND acked_at_ms IS NULL",
            vec![V::from(now_ms), V::from(upto as i64)],
        )?;
        set_meta(sql, "acked_upto", upto)?;
    }
    Ok(Acked::Upto(upto.max(acked)))
}

/// Deletes tombstones acknowledged before `cutoff_ms`; returns when the oldest remaining
/// tombstone was acknowledged, if any (the next purge is due a window after it).
pub fn purge(sql: &SqlStorage, cutoff_ms: i64) -> Result<Option<i64>> {
    sql.exec(
        "DELETE FROM events WHERE acked_at_ms IS NOT NULL AND acked_at_ms <= ?",
        vec![V::from(cutoff_ms)],
    )?;
    #[derive(Deserialize)]
    struct Row {
        oldest: Option<i64>,
    }
    let rows: Vec<Row> = sql
        .exec(
            "SELECT MIN(acked_at_ms) AS oldest FROM events WHERE acked_at_ms IS NOT NULL",
            None,
        )?
        .to_array()?;
    Ok(rows.first().and_then(|r| r.oldest))
}

/// Acks are a prefix of the log, so the first row after `acked_upto` is the oldest unacked:
/// a primary-key lookup, cheap enough for every pull.
fn oldest_unacked(sql: &SqlStorage) -> Result<Option<i64>> {
    #[derive(Deserialize)]
    struct Row {
        received_at_ms: i64,
    }
    let rows: Vec<Row> = sql
        .exec(
            "SELECT received_at_ms FROM events WHERE seq > ? ORDER BY seq LIMIT 1",
            vec![V::from(meta(sql, "acked_upto")? as i64)],
        )?
        .to_array()?;
    Ok(rows.first().map(|r| r.received_at_ms))
}

pub fn backlog(sql: &SqlStorage, shard: u32) -> Result<ShardBacklog> {
    #[derive(Deserialize)]
    struct Row {
        unacked: u64,
        oldest: Option<i64>,
        tombstones: u64,
    }
    let rows: Vec<Row> = sql
        .exec(
            "SELECT
                COUNT(*) FILTER (WHERE acked_at_ms IS NULL) AS unacked,
                MIN(received_at_ms) FILTER (WHERE acked_at_ms IS NULL) AS oldest,
                COUNT(*) FILTER (WHERE acked_at_ms IS NOT NULL) AS tombstones
             FROM events",
            None,
        )?
        .to_array()?;
    let row = rows.into_iter().next();
    Ok(ShardBacklog {
        shard,
        unacked: row.as_ref().map_or(0, |r| r.unacked),
        oldest_unacked_ms: row.as_ref().and_then(|r| r.oldest),
        head_seq: meta(sql, "head_seq")?,
        acked_upto: meta(sql, "acked_upto")?,
        tombstones: row.map_or(0, |r| r.tombstones),
    })
}

pub fn outcomes(sql: &SqlStorage) -> Result<Vec<OutcomeCount>> {
    sql.exec("SELECT source, outcome, count FROM outcomes", None)?
        .to_array()
}
