//! The two stores' migrations define the same schema: the same tables, each with the same
//! columns. A column added to one backend's migration and forgotten in the other's would
//! otherwise surface only as a query that fails on one store in production.

use crate::common;

use std::collections::BTreeSet;

use keffi_ledger::store::Store;

type Schema = BTreeSet<(String, String)>;

async fn schema(store: &Store) -> Schema {
    let rows: Vec<(String, String)> = match store {
        Store::Sqlite(pool) => sqlx::query_as(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
               AND m.name <> '_sqlx_migrations'",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        Store::Postgres(pool) => sqlx::query_as(
            "SELECT c.table_name::text, c.column_name::text
             FROM information_schema.columns c
             JOIN information_schema.tables t
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
               AND c.table_name <> '_sqlx_migrations'",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    rows.into_iter().collect()
}

#[tokio::test]
async fn both_stores_define_the_same_tables_and_columns() {
    let (sqlite, postgres) = (common::sqlite().await, common::postgres().await);
    let (lite, pg) = (schema(&sqlite.store).await, schema(&postgres.store).await);
    let tables: BTreeSet<&str> = lite.iter().map(|(t, _)| t.as_str()).collect();
    for table in [
        "orders",
        "payments",
        "inbox_events",
        "journal_entries",
        "audit_log",
    ] {
        assert!(tables.contains(table), "{table} missing: {tables:?}");
    }
    let only_sqlite: Vec<_> = lite.difference(&pg).collect();
    let only_postgres: Vec<_> = pg.difference(&lite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only on SQLite: {only_sqlite:?}; only on Postgres: {only_postgres:?}"
    );
}
