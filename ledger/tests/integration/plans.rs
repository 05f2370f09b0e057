//! What Postgres's cached (generic) plans do with the write path's lookups, on a database as
//! new as a fresh deployment's: a foreign-key check or a lookup by merchant and key that is
//! answered from the merchant alone reads all of the merchant's rows each time, and such a
//! plan stays cached while the table grows. Each lookup is prepared on one connection with
//! `plan_cache_mode = force_generic_plan` and its plan read with EXPLAIN: the index it uses
//! must be searched by the key, not only by the merchant.

use crate::common;

use keffi_ledger::store::statistics::FIRST_ANALYZE_ROWS;
use keffi_ledger::store::Store;
use sqlx::PgPool;

/// The generic plan of `sql` (with `types` as its parameters' types) on one connection.
async fn generic_plan(pool: &PgPool, types: &str, sql: &str, args: &str) -> String {
    let mut c = pool.acquire().await.unwrap();
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *c)
        .await
        .unwrap();
    sqlx::query(&format!("PREPARE lookup ({types}) AS {sql}"))
        .execute(&mut *c)
        .await
        .unwrap();
    let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN EXECUTE lookup ({args})"))
        .fetch_all(&mut *c)
        .await
        .unwrap();
    sqlx::query("DEALLOCATE lookup")
        .execute(&mut *c)
        .await
        .unwrap();
    sqlx::query("RESET plan_cache_mode")
        .execute(&mut *c)
        .await
        .unwrap();
    lines.join("\n")
}

/// The index conditions of a plan, one per line.
fn index_conditions(plan: &str) -> Vec<&str> {
    plan.lines()
        .filter(|l| l.contains("Index Cond:"))
        .map(str::trim)
        .collect()
}

/// Asserts the plan searches an index by `column` (not only by the merchant).
fn searches_by(plan: &str, column: &str) {
    let conditions = index_conditions(plan);
    assert!(
        conditions
            .iter()
            .any(|c| c.contains(&format!("{column} = "))),
        "the lookup is not searched by {column}:\n{plan}"
    );
}

fn pool(store: &Store) -> &PgPool {
    match store {
        Store::Postgres(pool) => pool,
        Store::Sqlite(_) => unreachable!("these checks are of Postgres's planner"),
    }
}

/// The journal's foreign keys look their parent up as Postgres checks them, on a database
/// that has never been analyzed: by the parent's id.
#[tokio::test]
async fn foreign_key_checks_on_a_new_database_search_by_id() {
    let s = common::postgres().await;
    let pool = pool(&s.store);
    // The queries Postgres's foreign-key triggers run (ri_triggers.c), for the journal's
    // two parents.
    let plan = generic_plan(
        pool,
        "text, bigint",
        "SELECT 1 FROM ONLY inbox_events x WHERE merchant_id = $1 AND id = $2
         FOR KEY SHARE OF x",
        "'default', 1",
    )
    .await;
    searches_by(&plan, "id");
    let plan = generic_plan(
        pool,
        "bigint, text",
        "SELECT 1 FROM ONLY journal_transactions x WHERE id = $1 AND merchant_id = $2
         FOR KEY SHARE OF x",
        "1, 'default'",
    )
    .await;
    searches_by(&plan, "id");
}

/// Once the busy tables hold rows, the ledger analyzes each of them once, and from then on
/// the write path's lookups by merchant and key or reference are searched by the key.
#[tokio::test]
async fn the_busy_tables_get_their_first_statistics_and_lookups_search_by_key() {
    let s = common::postgres().await;
    let store = &s.store;
    let pool = pool(store);
    let rows = FIRST_ANALYZE_ROWS + 100;
    sqlx::query(
        "INSERT INTO inbox_events (merchant_id, idempotency_key, source, provider, event_type,
             received_at_ms, status, envelope)
         SELECT 'default', 'k' || g, 'paystack', 'paystack', 'charge.success', 0, 'applied', '{}'
         FROM generate_series(1, $1) g",
    )
    .bind(rows)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO payments (merchant_id, reference, gateway, amount, requested_amount,
             currency, fees, status, created_at_ms, updated_at_ms)
         SELECT 'default', 'r' || g, 'paystack', 500, 500, 'NGN', 0, 'pending', 0, 0
         FROM generate_series(1, $1) g",
    )
    .bind(rows)
    .execute(pool)
    .await
    .unwrap();
    // Postgres counts the inserted rows in its statistics views within a second or so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut analyzed = Vec::new();
    while !(analyzed.contains(&"inbox_events".to_owned())
        && analyzed.contains(&"payments".to_owned()))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "not analyzed within 30 s: {analyzed:?}"
        );
        analyzed.extend(store.first_statistics().await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Tables with too few rows wait; an analyzed table is not analyzed again.
    assert!(!analyzed.contains(&"orders".to_owned()), "{analyzed:?}");
    let again = store.first_statistics().await.unwrap();
    assert!(!again.contains(&"inbox_events".to_owned()), "{again:?}");

    // Which of the merchant's keys the inbox knows (`Tx::known_keys`), and the merchant's
    // payments for some references (`Tx::payments_for_update`).
    let plan = generic_plan(
        pool,
        "text, text, text",
        "SELECT idempotency_key FROM inbox_events
         WHERE merchant_id = $1 AND idempotency_key IN ($2, $3)",
        "'default', 'k1', 'k2'",
    )
    .await;
    searches_by(&plan, "idempotency_key");
    let plan = generic_plan(
        pool,
        "text, text, text",
        "SELECT reference FROM payments WHERE merchant_id = $1 AND reference IN ($2, $3)
         ORDER BY reference FOR UPDATE",
        "'default', 'r1', 'r2'",
    )
    .await;
    searches_by(&plan, "reference");
}
