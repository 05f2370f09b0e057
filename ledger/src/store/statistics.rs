//! Planner statistics for a new Postgres database, before autovacuum's first ANALYZE.
//!
//! Every lookup on the apply path names the merchant and a key or reference, and several
//! indexes lead with the merchant. Until a table has been analyzed, Postgres guesses that
//! `merchant_id = $1` matches a handful of rows; a plan cached then (sqlx prepares each
//! statement once per connection) answers the lookup from the merchant alone and filters
//! every one of the merchant's rows, and keeps doing so as the table grows, until an ANALYZE
//! invalidates it. Autovacuum's first one comes only after its nap (a minute by default), and
//! a backlog drained into a new database can reach a hundred thousand rows by then. So the
//! ledger analyzes each of its busy tables once, as soon as it holds enough rows to say what
//! it looks like; from then on autovacuum keeps the statistics current. SQLite's planner
//! needs none of this (it prefers the index that matches the most columns).

use std::collections::HashSet;
use std::time::Duration;

use super::{Store, StoreError};

/// The tables the apply path reads and writes on every batch.
const BUSY_TABLES: [&str; 6] = [
    "inbox_events",
    "payments",
    "orders",
    "journal_transactions",
    "journal_entries",
    "order_client_secrets",
];

/// Rows a table holds before its first statistics are worth taking: fewer than this and any
/// plan is cheap, and the sample would say little about the table it becomes.
pub const FIRST_ANALYZE_ROWS: i64 = 500;

/// A busy table as Postgres's statistics views see it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TableState {
    pub name: String,
    /// Whether ANALYZE (ours, an operator's or autovacuum's) has ever run on it.
    pub analyzed: bool,
    /// Rows inserted, updated or deleted since (here: ever, as it was never analyzed).
    pub changed_rows: i64,
}

/// Which tables to analyze now: the busy ones never analyzed that hold enough rows.
pub fn to_analyze(tables: &[TableState]) -> Vec<&str> {
    tables
        .iter()
        .filter(|t| !t.analyzed && t.changed_rows >= FIRST_ANALYZE_ROWS)
        .map(|t| t.name.as_str())
        .collect()
}

impl Store {
    /// Analyzes the busy tables that have no statistics yet and hold enough rows for them;
    /// returns the tables analyzed. Nothing on SQLite.
    pub async fn first_statistics(&self) -> Result<Vec<String>, StoreError> {
        let tables = self.busy_tables().await?;
        let mut analyzed = Vec::new();
        for name in to_analyze(&tables) {
            self.analyze(name).await?;
            analyzed.push(name.to_owned());
        }
        Ok(analyzed)
    }

    /// The busy tables' statistics state (none on SQLite).
    async fn busy_tables(&self) -> Result<Vec<TableState>, StoreError> {
        let Store::Postgres(pool) = self else {
            return Ok(Vec::new());
        };
        Ok(sqlx::query_as(
            "SELECT relname AS name,
                    (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL) AS analyzed,
                    n_mod_since_analyze AS changed_rows
             FROM pg_stat_user_tables
             WHERE schemaname = current_schema() AND relname = ANY($1)",
        )
        .bind(&BUSY_TABLES[..])
        .fetch_all(pool)
        .await?)
    }

    async fn analyze(&self, table: &str) -> Result<(), StoreError> {
        let Store::Postgres(pool) = self else {
            return Ok(());
        };
        // The name is one of BUSY_TABLES (read back from the catalog), never input.
        debug_assert!(BUSY_TABLES.contains(&table));
        sqlx::query(&format!("ANALYZE {table}"))
            .execute(pool)
            .await?;
        Ok(())
    }
}

/// Takes each busy table's first statistics as soon as it is due, checking every `every`,
/// and ends once every busy table has some or has been analyzed by this task once (a role
/// that does not own a table gets a warning from ANALYZE, not statistics: asking again would
/// only repeat the warning), or at shutdown.
pub async fn first_statistics_forever(
    store: Store,
    every: Duration,
    shutdown: crate::shutdown::Shutdown,
) {
    let mut tried: HashSet<String> = HashSet::new();
    loop {
        match store.busy_tables().await {
            Ok(tables) => {
                let waiting: Vec<TableState> = tables
                    .into_iter()
                    .filter(|t| !t.analyzed && !tried.contains(&t.name))
                    .collect();
                if waiting.is_empty() {
                    return;
                }
                for name in to_analyze(&waiting) {
                    match store.analyze(name).await {
                        Ok(()) => tracing::info!(
                            table = name,
                            "took the table's first planner statistics"
                        ),
                        Err(e) => {
                            tracing::warn!(table = name, error = %e, "could not analyze the table")
                        }
                    }
                    tried.insert(name.to_owned());
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read the tables' statistics state"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.clone().wait() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, analyzed: bool, changed_rows: i64) -> TableState {
        TableState {
            name: name.into(),
            analyzed,
            changed_rows,
        }
    }

    #[test]
    fn only_unanalyzed_tables_with_enough_rows_are_analyzed() {
        let tables = [
            table("inbox_events", false, FIRST_ANALYZE_ROWS),
            table("payments", false, FIRST_ANALYZE_ROWS - 1),
            table("orders", true, 1_000_000),
            table("journal_entries", false, 0),
        ];
        assert_eq!(to_analyze(&tables), ["inbox_events"]);
        assert!(to_analyze(&[]).is_empty());
    }
}
