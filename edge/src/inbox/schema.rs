//! The shard's SQLite schema, versioned so a later release can migrate it in place.
//!
//! - `meta(name, value)`: `schema_version`, `head_seq` (the last sequence handed out; never
//!   reused, even after tombstones are purged, so a ledger cursor can never skip a new event)
//!   and `acked_upto` (every seq at or below it is acknowledged).
//! - `events`: the log. `seq` is the shard's order, `key` the idempotency key (unique per
//!   source: the dedupe, so two merchants' sources sending the same key are two events),
//!   `envelope` the stored JSON until acknowledged, then NULL: the row stays as a tombstone
//!   (source, key, seq, acked_at_ms) until the dedupe window passes.
//! - `outcomes(source, outcome, count)`: accepted/duplicate counts, written with the append.

use worker::{Result, SqlStorage, SqlStorageValue};

pub const SCHEMA_VERSION: i64 = 2;

const V1: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        received_at_ms INTEGER NOT NULL,
        envelope TEXT,
        acked_at_ms INTEGER
    )",
    "CREATE INDEX IF NOT EXISTS events_tombstones ON events (acked_at_ms)
        WHERE acked_at_ms IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS outcomes (
        source TEXT NOT NULL,
        outcome TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (source, outcome)
    )",
    "INSERT OR IGNORE INTO meta (name, value) VALUES ('head_seq', 0), ('acked_upto', 0)",
];

/// Version 2: the dedupe is per source (it was per key). The table is rebuilt with its rows:
/// the object's writes in one event commit together, so no half-migrated log is ever seen.
const V2: &[&str] = &[
    "CREATE TABLE events_by_source (
        seq INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        source TEXT NOT NULL,
        received_at_ms INTEGER NOT NULL,
        envelope TEXT,
        acked_at_ms INTEGER,
        UNIQUE (source, key)
    )",
    "INSERT INTO events_by_source (seq, key, source, received_at_ms, envelope, acked_at_ms)
        SELECT seq, key, source, received_at_ms, envelope, acked_at_ms FROM events",
    "DROP TABLE events",
    "ALTER TABLE events_by_source RENAME TO events",
    "CREATE INDEX IF NOT EXISTS events_tombstones ON events (acked_at_ms)
        WHERE acked_at_ms IS NOT NULL",
];

/// Brings the schema to [`SCHEMA_VERSION`]. Each step is idempotent and runs in the object's
/// constructor, before any request is delivered.
pub fn migrate(sql: &SqlStorage) -> Result<()> {
    let current = current_version(sql);
    if current < 1 {
        for statement in V1 {
            sql.exec(statement, None)?;
        }
    }
    if current < 2 {
        for statement in V2 {
            sql.exec(statement, None)?;
        }
    }
    // Future versions: `if current < 3 { … }`.
    sql.exec(
        "INSERT INTO meta (name, value) VALUES ('schema_version', ?)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        vec![SqlStorageValue::from(SCHEMA_VERSION)],
    )?;
    Ok(())
}

fn current_version(sql: &SqlStorage) -> i64 {
    #[derive(serde::Deserialize)]
    struct Row {
        value: i64,
    }
    sql.exec("SELECT value FROM meta WHERE name = 'schema_version'", None)
        .and_then(|c| c.to_array::<Row>())
        .ok()
        .and_then(|rows| rows.first().map(|r| r.value))
        .unwrap_or(0)
}
