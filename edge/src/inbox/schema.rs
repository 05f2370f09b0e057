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

pub const SCHEMA_VERSION: i64 = 3;

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

/// Version 3: the unacknowledged events by sequence with their source, so a pull that skips
/// one source's backlog reads this small index, not every skipped event's stored envelope.
const V3: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS events_pending ON events (seq, source)
        WHERE acked_at_ms IS NULL",
];

/// The statements that bring a shard at schema version `current` (0: a new object) to
/// [`SCHEMA_VERSION`], in order. Pure, so the SQL is tested natively against SQLite.
fn steps(current: i64) -> impl Iterator<Item = &'static str> {
    // Future versions: `(4, V4)`.
    [(1, V1), (2, V2), (3, V3)]
        .into_iter()
        .filter(move |(version, _)| current < *version)
        .flat_map(|(_, statements)| statements.iter().copied())
}

/// Brings the schema to [`SCHEMA_VERSION`]. Each step is idempotent and runs in the object's
/// constructor, before any request is delivered.
pub fn migrate(sql: &SqlStorage) -> Result<()> {
    for statement in steps(current_version(sql)) {
        sql.exec(statement, None)?;
    }
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

#[cfg(test)]
mod tests {
    //! The migration's SQL against SQLite (the engine under a Durable Object's storage),
    //! natively: a shard written at version 1 keeps every event, envelope and tombstone
    //! through version 2, and dedupes per source afterwards.

    use super::*;
    use sqlx::{Connection, SqliteConnection};

    async fn run(c: &mut SqliteConnection, statements: impl Iterator<Item = &'static str>) {
        for statement in statements {
            sqlx::query(statement).execute(&mut *c).await.unwrap();
        }
    }

    async fn events(
        c: &mut SqliteConnection,
    ) -> Vec<(i64, String, String, Option<String>, Option<i64>)> {
        sqlx::query_as("SELECT seq, key, source, envelope, acked_at_ms FROM events ORDER BY seq")
            .fetch_all(&mut *c)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_version_1_shard_keeps_every_event_and_dedupes_per_source_after() {
        let mut c = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        run(&mut c, steps(0).take(V1.len())).await;
        // As version 1 left a shard: two live events, a tombstone, its counters.
        for (seq, key, source, envelope, acked) in [
            (1, "k1", "shop-a", Some("{\"n\":1}"), None),
            (2, "k2", "shop-b", None, Some(5_i64)),
            (3, "k3", "shop-a", Some("{\"n\":3}"), None),
        ] {
            sqlx::query(
                "INSERT INTO events (seq, key, source, received_at_ms, envelope, acked_at_ms)
                 VALUES (?, ?, ?, 0, ?, ?)",
            )
            .bind(seq)
            .bind(key)
            .bind(source)
            .bind(envelope)
            .bind(acked)
            .execute(&mut c)
            .await
            .unwrap();
        }
        // Version 1's dedupe was per key, whatever the source.
        let clash =
            "INSERT INTO events (seq, key, source, received_at_ms) VALUES (9, 'k1', 'shop-b', 0)";
        assert!(sqlx::query(clash).execute(&mut c).await.is_err());
        let before = events(&mut c).await;

        run(&mut c, steps(1)).await;
        assert_eq!(
            events(&mut c).await,
            before,
            "every event, envelope and tombstone kept"
        );
        // Now the same key from another source is an event of its own; from the same source,
        // still a duplicate.
        sqlx::query(clash).execute(&mut c).await.unwrap();
        let again =
            "INSERT INTO events (seq, key, source, received_at_ms) VALUES (10, 'k1', 'shop-a', 0)";
        assert!(sqlx::query(again).execute(&mut c).await.is_err());
        // The tombstone index is there for the purge.
        let indexes: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        assert!(
            indexes.iter().any(|(n,)| n == "events_tombstones"),
            "{indexes:?}"
        );
    }

    #[test]
    fn a_current_shard_runs_nothing_and_a_new_one_runs_every_step() {
        assert_eq!(steps(SCHEMA_VERSION).count(), 0);
        assert_eq!(steps(0).count(), V1.len() + V2.len() + V3.len());
        assert!(steps(1).eq(V2.iter().chain(V3).copied()));
        assert!(steps(2).eq(V3.iter().copied()));
    }

    /// A pull skipping a source walks the pending index (sequence and source), and reads an
    /// envelope only for what it returns.
    #[tokio::test]
    async fn a_pull_skipping_a_source_reads_the_pending_index() {
        let mut c = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        run(&mut c, steps(0)).await;
        for seq in 1..=50 {
            let source = if seq % 10 == 0 { "shop-b" } else { "shop-a" };
            sqlx::query(
                "INSERT INTO events (seq, key, source, received_at_ms, envelope)
                 VALUES (?, ?, ?, 0, '{}')",
            )
            .bind(seq)
            .bind(format!("k{seq}"))
            .bind(source)
            .execute(&mut c)
            .await
            .unwrap();
        }
        sqlx::query("UPDATE events SET acked_at_ms = 1, envelope = NULL WHERE seq <= 10")
            .execute(&mut c)
            .await
            .unwrap();
        // After 0, within 1000, skipping shop-a, at most 100.
        async fn skipping<T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>>(
            c: &mut SqliteConnection,
            sql: &str,
        ) -> Vec<T> {
            sqlx::query_as(sql)
                .bind(0)
                .bind(1000)
                .bind("shop-a")
                .bind(100)
                .fetch_all(c)
                .await
                .unwrap()
        }
        let pull = crate::inbox::log::PULL_SKIPPING;
        let plan: Vec<(i64, i64, i64, String)> =
            skipping(&mut c, &format!("EXPLAIN QUERY PLAN {pull}")).await;
        let plan: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
        assert!(
            plan.iter()
                .any(|step| step.contains("INDEX events_pending (seq>? AND seq<?)")),
            "{plan:?}"
        );
        let rows: Vec<(i64, String)> = skipping(&mut c, pull).await;
        let seqs: Vec<(i64,)> = rows.into_iter().map(|(seq, _)| (seq,)).collect();
        assert_eq!(seqs, [(20,), (30,), (40,), (50,)], "acked ones left out");
    }
}
