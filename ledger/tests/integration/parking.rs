//! Bounded parking, a sweep that reaches every parked event, and balances that cannot
//! overflow, on both backends (SQLite in a temp file, a fresh Postgres database).

use crate::common;
use crate::common::{dm, order};

use std::time::Duration;

use common::{charge, paystack, refund};
use keffi_ledger::config::SweepConfig;
use keffi_ledger::pipeline::{apply_batch, replay, sweep_forever, sweep_parked, Incoming};
use keffi_ledger::store::journal::Balance;
use keffi_ledger::store::reconcile::Orphan;
use keffi_ledger::store::{now_ms, InboxStatus, Store};

const HOUR_MS: i64 = 3_600_000;
const PARK_TIMEOUT: Duration = Duration::from_secs(72 * 3600);

/// Applies `event` alone and returns its inbox id.
async fn apply(store: &Store, event: &Incoming) -> i64 {
    apply_batch(store, std::slice::from_ref(event), None)
        .await
        .unwrap();
    store
        .inbox_by_key(&dm(), event.envelope.key.as_str())
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn status(store: &Store, id: i64) -> (String, Option<String>) {
    let e = store.inbox_event(&dm(), id).await.unwrap().unwrap();
    (e.status.to_string(), e.reason)
}

/// Runs `sql` on the store's pool with `binds` (tests write rows no code path would).
async fn execute(store: &Store, sql: &str, binds: &[i64]) {
    match store {
        Store::Postgres(pool) => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(pool).await.unwrap();
        }
        Store::Sqlite(pool) => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(pool).await.unwrap();
        }
    }
}

async fn parked_at(store: &Store, id: i64) -> Option<i64> {
    let sql = "SELECT parked_at_ms FROM inbox_events WHERE id = $1";
    match store {
        Store::Postgres(pool) => sqlx::query_scalar(sql).bind(id).fetch_one(pool).await,
        Store::Sqlite(pool) => sqlx::query_scalar(sql).bind(id).fetch_one(pool).await,
    }
    .unwrap()
}

/// Moves an event's parking back in time, as if it had waited since `at_ms`.
async fn park_since(store: &Store, id: i64, at_ms: i64) {
    execute(
        store,
        "UPDATE inbox_events SET parked_at_ms = $1 WHERE id = $2",
        &[at_ms, id],
    )
    .await;
}

/// A dispute resolution for a dispute `reference`'s payment never opened: once the charge is
/// captured it looks ready to the sweep, but stays parked every time it is tried.
fn resolution_without_opening(reference: &str, dispute_id: u64) -> Incoming {
    paystack(serde_json::json!({
        "event": "charge.dispute.resolve",
        "data": {"id": dispute_id, "status": "resolved", "refund_amount": 1_000,
                 "currency": "NGN", "resolution": "declined",
                 "transaction": {"id": 1, "reference": reference, "amount": 500_000,
                                 "currency": "NGN"}}
    }))
}

/// The database stamps when an event parks; re-deciding an event that stays parked keeps its
/// wait running, and only a fresh parking (a replay of a dead event) restarts it. The
/// give-up write only touches a row still parked since the moment that was judged.
async fn parking_is_timed_from_the_move_into_parked(store: &Store) {
    order(store, "ord_1", 500_000).await;
    let before = now_ms();
    let id = apply(store, &refund("ord_1", "rf_1", 100_000)).await;
    let after = now_ms();
    assert_eq!(status(store, id).await.0, "parked");
    let stamped = parked_at(store, id).await.expect("stamped on parking");
    // The database's clock and this one are the same host's; allow for rounding.
    assert!(
        (before - 5_000..=after + 5_000).contains(&stamped),
        "{before} <= {stamped} <= {after}"
    );

    park_since(store, id, 1_000).await;
    let replayed = replay(store, &dm(), id).await.unwrap().unwrap();
    assert_eq!(replayed.after.as_str(), "parked", "{replayed:?}");
    assert_eq!(
        parked_at(store, id).await,
        Some(1_000),
        "still waiting: the clock runs on"
    );

    let orphan = |parked_at_ms| Orphan {
        id,
        merchant_id: dm(),
        idempotency_key: String::new(),
        reference: Some("ord_1".into()),
        parked_at_ms,
        reason: "orphaned: test".into(),
    };
    let now = now_ms();
    assert!(
        store
            .give_up_parked(&[orphan(Some(999))], now)
            .await
            .unwrap()
            .is_empty(),
        "judged on another parking: left alone"
    );
    assert_eq!(status(store, id).await.0, "parked");
    assert_eq!(
        store
            .give_up_parked(&[orphan(Some(1_000))], now)
            .await
            .unwrap(),
        vec![id]
    );
    assert_eq!(
        status(store, id).await,
        ("dead".into(), Some("orphaned: test".into()))
    );
    assert!(
        store
            .give_up_parked(&[orphan(Some(1_000))], now)
            .await
            .unwrap()
            .is_empty(),
        "no longer parked: left alone"
    );

    // An operator replays it; its charge is still missing, so it parks again, afresh.
    let replayed = replay(store, &dm(), id).await.unwrap().unwrap();
    assert_eq!(
        (replayed.before.as_str(), replayed.after.as_str()),
        ("dead", "parked")
    );
    assert!(parked_at(store, id).await.unwrap() >= before - 5_000);
}
on_both_stores!(parking_is_timed_from_the_move_into_parked);

/// The periodic sweep makes an event parked longer than the timeout dead, with how long it
/// waited and what for; a younger one keeps waiting. The orphan can still be replayed once
/// what it waited for arrives.
async fn the_sweep_gives_up_on_events_parked_too_long(store: &Store) {
    order(store, "ord_old", 500_000).await;
    order(store, "ord_new", 500_000).await;
    let old = apply(store, &refund("ord_old", "rf_old", 100_000)).await;
    let young = apply(store, &refund("ord_new", "rf_new", 100_000)).await;
    let parked_reason = status(store, old).await.1.expect("parked with a reason");
    park_since(store, old, now_ms() - 73 * HOUR_MS).await;
    park_since(store, young, now_ms() - 71 * HOUR_MS).await;

    let (trigger, shutdown) = keffi_ledger::shutdown::channel();
    let sweeper = tokio::spawn(sweep_forever(
        store.clone(),
        SweepConfig {
            interval: Duration::from_millis(20),
            park_timeout: PARK_TIMEOUT,
            // One row a page: the walk over the parked events must page to see both.
            page: 1,
        },
        keffi_ledger::changes::Changes::default(),
        shutdown,
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while status(store, old).await.0 == "parked" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweep never gave up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A few more sweeps: the young event must survive them.
    tokio::time::sleep(Duration::from_millis(100)).await;
    trigger.fire();
    sweeper.await.unwrap();

    let (state, reason) = status(store, old).await;
    let reason = reason.unwrap();
    assert_eq!(state, "dead");
    assert!(
        reason.starts_with("orphaned: waited 3days 1h"),
        "how long: {reason}"
    );
    assert!(
        reason.ends_with(&format!(" for what it needed ({parked_reason})")),
        "what for: {reason}"
    );
    assert_eq!(status(store, young).await.0, "parked");

    // The charge turns up after all: the orphan stays dead until an operator replays it.
    apply(store, &charge(7, "ord_old", 500_000, 0)).await;
    assert_eq!(status(store, old).await.0, "dead");
    let replayed = replay(store, &dm(), old).await.unwrap().unwrap();
    assert_eq!(replayed.after.as_str(), "applied", "{replayed:?}");
}
on_both_stores!(the_sweep_gives_up_on_events_parked_too_long);

/// More than a page of parked events that look ready but stay parked (resolutions of disputes
/// never opened, on a captured payment) sit before one that is genuinely ready (a refund
/// parked while another replica captured its charge). One sweep run reaches it.
async fn the_sweep_reaches_a_ready_event_behind_pages_of_hopeless_ones(store: &Store) {
    order(store, "ord_h", 500_000).await;
    apply(store, &charge(1, "ord_h", 500_000, 0)).await;
    let mut hopeless = Vec::new();
    for dispute in 0..5 {
        let id = apply(store, &resolution_without_opening("ord_h", 900 + dispute)).await;
        let (state, reason) = status(store, id).await;
        assert_eq!(state, "parked", "{reason:?}");
        hopeless.push(id);
    }

    order(store, "ord_r", 500_000).await;
    apply(store, &charge(2, "ord_r", 500_000, 0)).await;
    // The other replica's transaction, which parked the refund before the charge was visible.
    let refund_event = refund("ord_r", "rf_1", 100_000);
    let mut tx = store.begin().await.unwrap();
    common::record_in(
        &mut tx,
        &refund_event,
        InboxStatus::Parked,
        Some("refund before its charge"),
        Some("ord_r"),
    )
    .await;
    tx.commit().await.unwrap();
    let ready = common::inbox_id(store, &refund_event).await;

    // What one page of two shows: only hopeless events, the refund out of reach.
    assert_eq!(
        store.parked_but_ready(2).await.unwrap(),
        hopeless[..2]
            .iter()
            .map(|id| (dm(), *id))
            .collect::<Vec<_>>()
    );
    assert_eq!(sweep_parked(store, 2).await.unwrap(), 1);
    assert_eq!(status(store, ready).await.0, "applied");
    assert_eq!(
        store.journal_for(&dm(), "ord_r").await.unwrap().len(),
        2,
        "charge and refund, once each"
    );
    for id in &hopeless {
        assert_eq!(status(store, *id).await.0, "parked");
    }
    assert_eq!(
        sweep_parked(store, 2).await.unwrap(),
        0,
        "nothing else to move"
    );
    assert_eq!(
        store.parked_but_ready(10).await.unwrap(),
        hopeless.iter().map(|id| (dm(), *id)).collect::<Vec<_>>()
    );
}
on_both_stores!(the_sweep_reaches_a_ready_event_behind_pages_of_hopeless_ones);

/// Journal entries near i64::MAX, written straight to the tables (balanced transactions, as
/// the journal requires): the balances are the exact sums, past 64 bits, and never an error.
async fn balances_are_exact_beyond_64_bits(store: &Store) {
    execute(
        store,
        "INSERT INTO inbox_events (merchant_id, idempotency_key, source, provider, event_type,
             received_at_ms, status, envelope)
         VALUES ('default', 'k_big', 'paystack', 'paystack', 'charge.success', 0, 'applied',
                 '{}')",
        &[],
    )
    .await;
    let max = i64::MAX;
    let transactions: [&[(&str, i64)]; 4] = [
        &[("assets:gateway", max), ("revenue:sales", -max)],
        &[("assets:gateway", max), ("revenue:sales", -max)],
        &[("odd:low", i64::MIN), ("odd:high", max), ("odd:high", 1)],
        &[
            ("small", 1_500_000_001),
            ("small", -2),
            ("small", 999_999_999),
            ("small:other", -2_499_999_998),
        ],
    ];
    for (n, entries) in (1_i64..).zip(transactions) {
        execute(
            store,
            "INSERT INTO journal_transactions (id, merchant_id, reference, kind, event_id,
                 posted_at_ms)
             SELECT $1, 'default', 'big', 'charge', id, 0 FROM inbox_events
             WHERE merchant_id = 'default' AND idempotency_key = 'k_big'",
            &[n],
        )
        .await;
        for (account, amount) in entries {
            let sql = format!(
                "INSERT INTO journal_entries (transaction_id, merchant_id, account, currency,
                     amount)
                 VALUES ($1, 'default', '{account}', 'NGN', $2)"
            );
            execute(store, &sql, &[n, *amount]).await;
        }
    }

    // A plain `SUM(amount)` cannot hold these: the data really is out of its range.
    let plain = "SELECT CAST(SUM(amount) AS BIGINT) FROM journal_entries
                 WHERE account = 'assets:gateway'";
    let overflowed = match store {
        Store::Postgres(pool) => sqlx::query_scalar::<_, i64>(plain).fetch_one(pool).await,
        Store::Sqlite(pool) => sqlx::query_scalar::<_, i64>(plain).fetch_one(pool).await,
    };
    assert!(overflowed.is_err(), "{overflowed:?}");

    let balance = |account: &str, balance: i128| Balance {
        account: account.into(),
        currency: "NGN".into(),
        balance,
    };
    let max = i128::from(max);
    let got = store.balances(&dm()).await.expect("balances never fail");
    assert_eq!(
        got,
        vec![
            balance("assets:gateway", 2 * max),
            balance("odd:high", max + 1),
            balance("odd:low", i128::from(i64::MIN)),
            balance("revenue:sales", -2 * max),
            balance("small", 2_499_999_998),
            balance("small:other", -2_499_999_998),
        ]
    );
    // As the route writes them: exact integers, wider than 64 bits.
    let body = serde_json::to_string(&got).unwrap();
    assert!(body.contains(r#""balance":18446744073709551614"#), "{body}");
    assert!(
        body.contains(r#""balance":-18446744073709551614"#),
        "{body}"
    );
}
on_both_stores!(balances_are_exact_beyond_64_bits);

/// The OpenAPI document calls a balance an integer without claiming it fits 64 bits.
#[test]
fn the_balance_schema_is_an_unbounded_integer() {
    let doc = serde_json::to_value(keffi_ledger::api::document()).unwrap();
    let schema = &doc["components"]["schemas"]["Balance"]["properties"]["balance"];
    assert_eq!(schema["type"], "integer", "{schema}");
    assert!(schema.get("format").is_none(), "{schema}");
}
