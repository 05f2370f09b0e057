//! The store contract and the apply pipeline, on both backends (SQLite in a temp file, a fresh
//! Postgres database on 127.0.0.1:5432).

use crate::common;
use crate::common::dm;

use common::{charge, paystack, refund};
use keffi_ledger::domain::{OrderStatus, PaymentStatus};
use keffi_ledger::pipeline::{apply_batch, apply_events, BatchReport};
use keffi_ledger::store::orders::CreateOrderError;
use keffi_ledger::store::{now_ms, Store};
use keffi_shared::wire::EdgePosition;
use keffi_shared::{Currency, MinorUnits};

const NGN: Currency = Currency::NGN;

async fn order(store: &Store, reference: &str, amount: i64) {
    store
        .create_order(&dm(), reference, MinorUnits(amount), NGN, None, now_ms())
        .await
        .unwrap();
}

async fn journal_count(store: &Store, reference: &str) -> usize {
    store.journal_for(&dm(), reference).await.unwrap().len()
}

async fn migrations_are_idempotent_and_orders_unique(store: &Store) {
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    order(store, "ord_1", 500_000).await;
    let o = store.order(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(
        (o.status, o.amount),
        (OrderStatus::Pending, MinorUnits(500_000))
    );
    let p = store.payment(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::Pending);
    let again = store
        .create_order(&dm(), "ord_1", MinorUnits(1), NGN, None, now_ms())
        .await;
    assert!(matches!(again, Err(CreateOrderError::Exists(_))));
    assert!(store.order(&dm(), "nope").await.unwrap().is_none());
}
on_both_stores!(migrations_are_idempotent_and_orders_unique);

async fn a_matching_charge_pays_the_order_with_one_balanced_transaction(store: &Store) {
    order(store, "ord_1", 500_000).await;
    let report = apply_batch(store, &[charge(42, "ord_1", 500_000, 7_500)], None)
        .await
        .unwrap();
    assert_eq!(report.applied, 1);
    assert_eq!(
        store.order(&dm(), "ord_1").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
    let p = store.payment(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.fees),
        (PaymentStatus::Success, MinorUnits(7_500))
    );
    let journal = store.journal_for(&dm(), "ord_1").await.unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].entries.iter().map(|e| e.amount).sum::<i64>(), 0);
    let balances = store.balances(&dm()).await.unwrap();
    let balance = |account: &str| {
        balances
            .iter()
            .find(|b| b.account == account)
            .map(|b| b.balance)
    };
    assert_eq!(balance("merchant_balance:paystack"), Some(492_500));
    assert_eq!(balance("fees:paystack"), Some(7_500));
    assert_eq!(balance("sales"), Some(-500_000));
    assert_eq!(common::unbalanced_transactions(store).await, 0);
    let event = store
        .inbox_by_key(&dm(), "paystack:charge.success:42")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.status.as_str(), "applied");
    assert_eq!(event.reference.as_deref(), Some("ord_1"));
}
on_both_stores!(a_matching_charge_pays_the_order_with_one_balanced_transaction);

async fn a_duplicate_storm_applies_once(store: &Store) {
    order(store, "ord_1", 500_000).await;
    let storm: Vec<_> = (0..10).map(|_| charge(42, "ord_1", 500_000, 0)).collect();
    let first = apply_batch(store, &storm, None).await.unwrap();
    assert_eq!((first.applied, first.duplicates), (1, 9));
    let second = apply_batch(store, &storm, None).await.unwrap();
    assert_eq!((second.applied, second.duplicates), (0, 10));
    assert_eq!(journal_count(store, "ord_1").await, 1);
}
on_both_stores!(a_duplicate_storm_applies_once);

async fn the_same_fact_by_another_route_is_a_recorded_no_op(store: &Store) {
    order(store, "ord_1", 500_000).await;
    apply_batch(store, &[charge(42, "ord_1", 500_000, 0)], None)
        .await
        .unwrap();
    // The same charge with a byte-different body reaches the ledger under another key (as the
    // reconciler's verify answer will): recorded, not applied again.
    let mut other = charge(42, "ord_1", 500_000, 0);
    other.envelope.key = keffi_shared::IdempotencyKey::parse("reconciler:verify:ord_1").unwrap();
    let report = apply_batch(store, &[other], None).await.unwrap();
    assert_eq!(report.ignored, 1);
    assert_eq!(journal_count(store, "ord_1").await, 1);
    let noted = store
        .inbox_by_key(&dm(), "reconciler:verify:ord_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(noted.status.as_str(), "ignored");
    assert!(noted.reason.unwrap().contains("already success"));
}
on_both_stores!(the_same_fact_by_another_route_is_a_recorded_no_op);

async fn a_dead_event_never_blocks_the_events_behind_it(store: &Store) {
    order(store, "ord_1", 500_000).await;
    let malformed = paystack(serde_json::json!({
        "event": "charge.success",
        "data": {"id": 1, "reference": "ord_x", "amount": "lots", "currency": "NGN", "status": "success"}
    }));
    let report = apply_batch(store, &[malformed, charge(42, "ord_1", 500_000, 0)], None)
        .await
        .unwrap();
    assert_eq!((report.dead, report.applied), (1, 1));
    let dead = store
        .inbox_by_key(&dm(), "paystack:charge.success:1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.status.as_str(), "dead");
    assert!(dead.reason.unwrap().contains("amount"));
    assert_eq!(
        store.order(&dm(), "ord_1").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
}
on_both_stores!(a_dead_event_never_blocks_the_events_behind_it);

async fn an_uncommitted_batch_leaves_nothing(store: &Store) {
    order(store, "ord_1", 500_000).await;
    store.ensure_cursors(1, now_ms()).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let report = apply_events(&mut tx, &[charge(42, "ord_1", 500_000, 0)])
        .await
        .unwrap();
    assert_eq!(report.applied, 1);
    tx.advance_cursor(EdgePosition { shard: 0, seq: 7 }, now_ms())
        .await
        .unwrap();
    // The process dies here: the transaction never commits.
    tx.rollback().await.unwrap();
    assert!(store
        .inbox_by_key(&dm(), "paystack:charge.success:42")
        .await
        .unwrap()
        .is_none());
    assert_eq!(journal_count(store, "ord_1").await, 0);
    assert_eq!(
        store.order(&dm(), "ord_1").await.unwrap().unwrap().status,
        OrderStatus::Pending
    );
    assert_eq!(store.cursors().await.unwrap()[0].last_seq, 0);
    // Pulled again after the restart, it applies once.
    let again = apply_batch(
        store,
        &[charge(42, "ord_1", 500_000, 0)],
        Some(EdgePosition { shard: 0, seq: 7 }),
    )
    .await
    .unwrap();
    assert_eq!(again.applied, 1);
    assert_eq!(store.cursors().await.unwrap()[0].last_seq, 7);
}
on_both_stores!(an_uncommitted_batch_leaves_nothing);

async fn a_refund_before_its_charge_is_parked_then_applied(store: &Store) {
    order(store, "ord_1", 500_000).await;
    let parked = apply_batch(store, &[refund("ord_1", "rf_1", 200_000)], None)
        .await
        .unwrap();
    assert_eq!(parked.parked, 1);
    assert_eq!(journal_count(store, "ord_1").await, 0);

    let report = apply_batch(store, &[charge(42, "ord_1", 500_000, 0)], None)
        .await
        .unwrap();
    assert_eq!((report.applied, report.unparked, report.parked), (1, 1, 0));
    let p = store.payment(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.refunded),
        (PaymentStatus::PartiallyRefunded, MinorUnits(200_000))
    );
    assert_eq!(
        store.order(&dm(), "ord_1").await.unwrap().unwrap().status,
        OrderStatus::PartiallyRefunded
    );
    assert_eq!(journal_count(store, "ord_1").await, 2);
    let refund_event = store
        .inbox_by_key(&dm(), "paystack:refund.processed:rf_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refund_event.status.as_str(), "applied");
    assert_eq!(common::unbalanced_transactions(store).await, 0);
}
on_both_stores!(a_refund_before_its_charge_is_parked_then_applied);

async fn mismatches_and_unknown_references_need_review(store: &Store) {
    order(store, "ord_1", 500_000).await;
    apply_batch(
        store,
        &[
            charge(1, "ord_1", 400_000, 0),
            charge(2, "ord_unknown", 1_000, 0),
        ],
        None,
    )
    .await
    .unwrap();
    let o = store.order(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::NeedsReview);
    assert!(o.review_reason.unwrap().contains("400000"));
    let orphan = store.payment(&dm(), "ord_unknown").await.unwrap().unwrap();
    assert_eq!(orphan.status, PaymentStatus::Success);
    assert!(orphan.review_reason.unwrap().contains("no order"));
}
on_both_stores!(mismatches_and_unknown_references_need_review);

async fn the_journal_is_append_only(store: &Store) {
    order(store, "ord_1", 500_000).await;
    apply_batch(store, &[charge(42, "ord_1", 500_000, 0)], None)
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    let update = match &mut tx {
        keffi_ledger::store::Tx::Postgres(t) => {
            sqlx::query("UPDATE journal_entries SET amount = 1")
                .execute(&mut **t)
                .await
                .map(|_| ())
        }
        keffi_ledger::store::Tx::Sqlite(t) => sqlx::query("DELETE FROM journal_entries")
            .execute(&mut **t)
            .await
            .map(|_| ()),
    };
    let err = update.expect_err("the journal refuses changes").to_string();
    assert!(err.contains("append-only"), "{err}");
}
on_both_stores!(the_journal_is_append_only);

async fn leases_and_cursors(store: &Store) {
    store.ensure_cursors(2, 0).await.unwrap();
    store.ensure_cursors(2, 0).await.unwrap();
    assert_eq!(store.cursors().await.unwrap().len(), 2);
    assert!(store.try_lease(0, "a", 1_000, 10_000).await.unwrap());
    assert!(
        !store.try_lease(0, "b", 1_000, 10_500).await.unwrap(),
        "held by a"
    );
    assert!(
        store.try_lease(0, "a", 1_000, 10_900).await.unwrap(),
        "a renews"
    );
    assert!(
        store.try_lease(0, "b", 1_000, 12_000).await.unwrap(),
        "expired: b takes over"
    );
    store.release_lease(0, "a").await.unwrap();
    assert!(
        !store.try_lease(0, "a", 1_000, 12_100).await.unwrap(),
        "a no longer holds it"
    );
    store.release_lease(0, "b").await.unwrap();
    assert!(store.try_lease(0, "a", 1_000, 12_200).await.unwrap());

    let mut tx = store.begin().await.unwrap();
    tx.advance_cursor(EdgePosition { shard: 1, seq: 10 }, 1)
        .await
        .unwrap();
    tx.advance_cursor(EdgePosition { shard: 1, seq: 4 }, 2)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.cursors().await.unwrap()[1].last_seq,
        10,
        "never backwards"
    );
}
on_both_stores!(leases_and_cursors);

/// Two ledger replicas applying overlapping batches at the same moment (Postgres, where
/// replicas are supported): every event is applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replicas_apply_each_event_once_on_postgres() {
    let s = common::postgres().await;
    let store = &s.store;
    for i in 0..40 {
        order(store, &format!("ord_{i}"), 1_000).await;
    }
    let events: Vec<_> = (0..40)
        .map(|i| charge(i, &format!("ord_{i}"), 1_000, 10))
        .collect();
    let mut tasks = Vec::new();
    for replica in 0..4 {
        let store = store.clone();
        // Each replica applies the same events in a different order, in batches of 8.
        let mut mine = events.clone();
        mine.rotate_left(replica * 10);
        tasks.push(tokio::spawn(async move {
            let mut total = BatchReport::default();
            for batch in mine.chunks(8) {
                let r = apply_batch(&store, batch, None).await.unwrap();
                total.applied += r.applied;
                total.duplicates += r.duplicates;
            }
            total
        }));
    }
    let mut applied = 0;
    let mut duplicates = 0;
    for t in tasks {
        let r = t.await.unwrap();
        applied += r.applied;
        duplicates += r.duplicates;
    }
    assert_eq!((applied, duplicates), (40, 120));
    for i in 0..40 {
        assert_eq!(journal_count(store, &format!("ord_{i}")).await, 1);
    }
    assert_eq!(common::unbalanced_transactions(store).await, 0);
}

async fn idempotency_keys_claim_replay_and_expire(store: &Store) {
    use keffi_ledger::store::idempotency::{Claim, KEY_TTL_MS};
    let t = 1_000_000;
    let claim = |key: &'static str, hash: &'static str, at: i64| async move {
        let mut tx = store.begin().await.unwrap();
        let c = tx
            .claim_idempotency_key(&dm(), key, hash, at)
            .await
            .unwrap();
        (tx, c)
    };
    // A request that dies before it commits (a client hang-up, a crash) leaves nothing: the
    // retry claims the key afresh.
    let (tx, c) = claim("k", "h1", t).await;
    assert_eq!(c, Claim::Fresh);
    drop(tx);
    let (mut tx, c) = claim("k", "h1", t + 1).await;
    assert_eq!(
        c,
        Claim::Fresh,
        "an abandoned claim does not outlive its request"
    );
    tx.complete_idempotency_key(&dm(), "k", 201, "{\"ok\":1}", t + 2)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (tx, c) = claim("k", "h1", t + 3).await;
    assert_eq!(
        c,
        Claim::Replay {
            status: 201,
            body: "{\"ok\":1}".into()
        }
    );
    tx.rollback().await.unwrap();
    let (tx, c) = claim("k", "h2", t + 3).await;
    assert_eq!(c, Claim::Mismatch);
    tx.rollback().await.unwrap();
    // After 24 hours the key is forgotten and may be used again.
    let (tx, c) = claim("k", "h2", t + 1 + KEY_TTL_MS + 1).await;
    assert_eq!(c, Claim::Fresh);
    tx.rollback().await.unwrap();
}
on_both_stores!(idempotency_keys_claim_replay_and_expire);

/// A store error on one event (here a database trigger refusing one reference) rolls back the
/// fast attempt; the batch is re-applied event by event and only that event is dead.
async fn a_store_error_on_one_event_makes_only_that_event_dead(store: &Store) {
    match store {
        Store::Sqlite(pool) => {
            sqlx::query(
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON payments WHEN NEW.reference = 'boom'
                 BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END",
            )
            .execute(pool)
            .await
            .unwrap();
        }
        Store::Postgres(pool) => {
            sqlx::query(
                "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$
                 BEGIN IF NEW.reference = 'boom' THEN RAISE EXCEPTION 'refused by test trigger'; END IF;
                 RETURN NEW; END; $$ LANGUAGE plpgsql",
            )
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON payments
                 FOR EACH ROW EXECUTE FUNCTION refuse_boom()",
            )
            .execute(pool)
            .await
            .unwrap();
        }
    }
    order(store, "ord_1", 500_000).await;
    store.ensure_cursors(1, now_ms()).await.unwrap();
    let batch = [
        charge(1, "ord_1", 500_000, 0),
        charge(2, "boom", 1_000, 0),
        refund("ord_1", "rf_1", 100_000),
    ];
    let report = apply_batch(store, &batch, Some(EdgePosition { shard: 0, seq: 3 }))
        .await
        .unwrap();
    assert_eq!((report.applied, report.dead), (2, 1), "{report:?}");
    let dead = store
        .inbox_by_key(&dm(), "paystack:charge.success:2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.status.as_str(), "dead");
    assert!(dead.reason.unwrap().contains("refused by test trigger"));
    assert!(
        store.payment(&dm(), "boom").await.unwrap().is_none(),
        "its writes were undone"
    );
    assert_eq!(journal_count(store, "ord_1").await, 2);
    assert_eq!(journal_count(store, "boom").await, 0);
    assert_eq!(store.cursors().await.unwrap()[0].last_seq, 3);
}
on_both_stores!(a_store_error_on_one_event_makes_only_that_event_dead);

/// The cross-replica race: the charge commits on one replica while another replica's
/// transaction parks the refund (invisible to the charge's unpark until it commits). The sweep
/// applies the refund, once.
async fn the_sweep_applies_events_parked_behind_a_concurrent_charge(store: &Store) {
    use keffi_ledger::store::InboxStatus;
    order(store, "ord_1", 500_000).await;
    apply_batch(store, &[charge(42, "ord_1", 500_000, 0)], None)
        .await
        .unwrap();
    // The other replica's transaction, which parked the refund before the charge was visible.
    let refund_event = refund("ord_1", "rf_1", 100_000);
    let mut tx = store.begin().await.unwrap();
    common::record_in(
        &mut tx,
        &refund_event,
        InboxStatus::Parked,
        Some("refund before its charge"),
        Some("ord_1"),
    )
    .await;
    tx.commit().await.unwrap();
    let id = common::inbox_id(store, &refund_event).await;

    assert_eq!(store.parked_but_ready(10).await.unwrap(), vec![(dm(), id)]);
    assert_eq!(
        keffi_ledger::pipeline::sweep_parked(store, 10)
            .await
            .unwrap(),
        1
    );
    assert!(store.parked_but_ready(10).await.unwrap().is_empty());
    assert_eq!(
        store
            .inbox_event(&dm(), id)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "applied"
    );
    let p = store.payment(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.refunded),
        (PaymentStatus::PartiallyRefunded, MinorUnits(100_000))
    );
    assert_eq!(
        journal_count(store, "ord_1").await,
        2,
        "charge and refund, once each"
    );
    // A second sweep finds nothing to do.
    assert_eq!(
        keffi_ledger::pipeline::sweep_parked(store, 10)
            .await
            .unwrap(),
        0
    );
}
on_both_stores!(the_sweep_applies_events_parked_behind_a_concurrent_charge);

/// Another writer records an event between the batch's duplicate check and its insert (two
/// replicas during a lease hand-over): the insert waits for the other transaction, sees the
/// key taken, and the batch is applied again, finding the event a duplicate. Once, either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_races_another_writer_applies_nothing_twice_on_postgres() {
    use keffi_ledger::store::InboxStatus;
    let s = common::postgres().await;
    let store = &s.store;
    order(store, "ord_1", 500_000).await;
    let event = charge(42, "ord_1", 500_000, 0);
    // The other writer: the same key recorded, not yet committed.
    let mut other = store.begin().await.unwrap();
    common::record_in(
        &mut other,
        &event,
        InboxStatus::Applied,
        None,
        Some("ord_1"),
    )
    .await;
    let racing = {
        let store = store.clone();
        let event = event.clone();
        tokio::spawn(async move { apply_batch(&store, &[event], None).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !racing.is_finished(),
        "the insert waits for the other writer"
    );
    other.commit().await.unwrap();
    let report = racing.await.unwrap().unwrap();
    assert_eq!((report.applied, report.duplicates), (0, 1), "{report:?}");
    assert_eq!(
        journal_count(store, "ord_1").await,
        0,
        "the other writer owns it"
    );
}

/// The charge overtakes the order (a create retried from a phone that was offline): the
/// order is paid the moment it is created, with one journal transaction, and the payment's
/// review reason is cleared.
async fn an_order_created_after_its_charge_is_paid_at_once(store: &Store) {
    apply_batch(store, &[charge(42, "ord_1", 500_000, 7_500)], None)
        .await
        .unwrap();
    assert!(store
        .payment(&dm(), "ord_1")
        .await
        .unwrap()
        .unwrap()
        .review_reason
        .is_some());
    let created = store
        .create_order(&dm(), "ord_1", MinorUnits(500_000), NGN, None, now_ms())
        .await
        .unwrap();
    assert_eq!(created.status, OrderStatus::Paid, "the API answers `paid`");
    assert_eq!(
        store.order(&dm(), "ord_1").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
    let p = store.payment(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!((p.status, p.review_reason), (PaymentStatus::Success, None));
    assert_eq!(journal_count(store, "ord_1").await, 1);
    // The same for an amount that differs: the order needs review instead.
    apply_batch(store, &[charge(43, "ord_2", 400_000, 0)], None)
        .await
        .unwrap();
    let created = store
        .create_order(&dm(), "ord_2", MinorUnits(500_000), NGN, None, now_ms())
        .await
        .unwrap();
    assert_eq!(created.status, OrderStatus::NeedsReview);
}
on_both_stores!(an_order_created_after_its_charge_is_paid_at_once);

/// The charge and the order's creation cross (each transaction saw the other uncommitted):
/// the order is left pending beside a captured payment. The sweep moves it, once.
async fn the_sweep_moves_an_order_created_while_its_charge_was_applied(store: &Store) {
    apply_batch(store, &[charge(42, "ord_1", 500_000, 0)], None)
        .await
        .unwrap();
    // What the crossing leaves: the order row inserted without seeing the payment.
    let sql = "INSERT INTO orders (merchant_id, reference, amount, currency, status, created_at_ms,
                             updated_at_ms)
               VALUES ('default', 'ord_1', 500000, 'NGN', 'pending', 0, 0)";
    match store {
        Store::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        Store::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
    .unwrap();
    assert_eq!(
        store.orders_behind_their_payment(10).await.unwrap(),
        [(dm(), "ord_1".to_owned())]
    );
    let sweep = || keffi_ledger::pipeline::adopt_orders_behind(store, 10);
    assert_eq!(sweep().await.unwrap(), 1);
    assert_eq!(
        store.order(&dm(), "ord_1").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
    assert_eq!(
        store
            .payment(&dm(), "ord_1")
            .await
            .unwrap()
            .unwrap()
            .review_reason,
        None
    );
    assert_eq!(sweep().await.unwrap(), 0, "nothing left to move");
    assert_eq!(journal_count(store, "ord_1").await, 1);
}
on_both_stores!(the_sweep_moves_an_order_created_while_its_charge_was_applied);

/// A batch mixing what real traffic mixes: a refund before its charge, a delivery repeated
/// inside the batch, a charge for the wrong amount, a charge with no order, an unreadable
/// event, a dispute opened and won. `tag` keeps two copies apart (references and keys).
fn mixed_batch(tag: &str, id_base: u64) -> Vec<keffi_ledger::pipeline::Incoming> {
    let r = |name: &str| format!("{tag}_{name}");
    let dispute = |event: &str, status: &str| {
        paystack(serde_json::json!({
            "event": event,
            "data": {"id": id_base + 90, "status": status, "refund_amount": 300_000,
                     "currency": "NGN", "resolution": "declined",
                     "transaction": {"id": id_base + 2, "reference": r("b"), "amount": 300_000,
                                     "currency": "NGN"}}
        }))
    };
    vec![
        refund(&r("a"), &r("rf1"), 100_000),
        charge(id_base + 1, &r("a"), 500_000, 7_500),
        charge(id_base + 2, &r("b"), 300_000, 0),
        charge(id_base + 2, &r("b"), 300_000, 0),
        charge(id_base + 3, &r("c"), 1, 0),
        charge(id_base + 4, &r("d"), 42_000, 0),
        paystack(serde_json::json!({
            "event": "charge.success",
            "data": {"id": id_base + 5, "reference": r("x"), "amount": "lots"}
        })),
        // The resolution overtakes the opening: parked, then released by it.
        dispute("charge.dispute.resolve", "resolved"),
        dispute("charge.dispute.create", "awaiting-merchant-feedback"),
        refund(&r("a"), &r("rf2"), 50_000),
    ]
}

/// What a copy of the mixed batch left behind, with its tag taken out.
async fn footprint(store: &Store, tag: &str, keys: &[String]) -> String {
    let mut out = String::new();
    for name in ["a", "b", "c", "d", "x"] {
        let reference = format!("{tag}_{name}");
        let p = store.payment(&dm(), &reference).await.unwrap();
        let o = store.order(&dm(), &reference).await.unwrap();
        let journal: Vec<_> = store
            .journal_for(&dm(), &reference)
            .await
            .unwrap()
            .into_iter()
            .map(|t| {
                let lines: Vec<_> = t
                    .entries
                    .iter()
                    .map(|e| (e.account.replace(tag, ""), e.amount))
                    .collect();
                (t.kind, lines)
            })
            .collect();
        out += &format!(
            "{name}: payment {:?} order {:?} journal {journal:?}\n",
            p.map(|p| (p.status, p.amount, p.refunded, p.fees)),
            o.map(|o| (o.status, o.review_reason)),
        );
    }
    for key in keys {
        let e = store.inbox_by_key(&dm(), key).await.unwrap().unwrap();
        out += &format!("{}: {} {:?}\n", key.replace(tag, ""), e.status, e.reason);
    }
    out.replace(tag, "")
}

async fn the_set_wise_path_ends_where_event_by_event_ends(store: &Store) {
    for tag in ["qq", "ww"] {
        for name in ["a", "b", "c"] {
            order(store, &format!("{tag}_{name}"), 500_000).await;
        }
    }
    let set = mixed_batch("qq", 1_000);
    let one = mixed_batch("ww", 2_000);
    let report = apply_batch(store, &set, None).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let expected = apply_events(&mut tx, &one).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        (
            report.applied,
            report.duplicates,
            report.dead,
            report.parked,
            report.unparked
        ),
        (
            expected.applied,
            expected.duplicates,
            expected.dead,
            expected.parked,
            expected.unparked
        )
    );
    assert_eq!(report.duplicates, 1);
    assert_eq!(
        report.unparked, 2,
        "the early refund follows its charge, the early resolution its opening"
    );
    let keys = |batch: &[keffi_ledger::pipeline::Incoming]| -> Vec<String> {
        batch.iter().map(|i| i.envelope.key.to_string()).collect()
    };
    let got = footprint(store, "qq", &keys(&set)).await;
    let want = footprint(store, "ww", &keys(&one)).await;
    // Event ids differ between the copies (charge keys carry them): compare without digits.
    let strip = |s: &str| s.replace(char::is_numeric, "");
    assert_eq!(
        strip(&got),
        strip(&want),
        "set-wise:\n{got}\nevent by event:\n{want}"
    );
    assert!(!got.contains("parked"), "{got}");
    assert!(got.contains("dispute"), "the dispute moved money: {got}");
    assert_eq!(common::unbalanced_transactions(store).await, 0);
}
on_both_stores!(the_set_wise_path_ends_where_event_by_event_ends);

/// Amounts that are not amounts: signed refunds of zero, below zero and beyond the ceiling,
/// delivered before their charge, are dead on arrival, never parked, so the charge that comes
/// later cannot release them beside itself and be taken down with them (`dead`: the payment
/// lost). The charge applies, and nothing but the charge moves money.
async fn amounts_that_are_not_amounts_never_touch_the_charge(store: &Store) {
    order(store, "ord_1", 500_000).await;
    let bad = [
        refund("ord_1", "rf_zero", 0),
        refund("ord_1", "rf_neg", -100_000),
        refund("ord_1", "rf_huge", i64::MAX),
        refund("ord_1", "rf_over", MinorUnits::MAX_AMOUNT.get() + 1),
    ];
    let report = apply_batch(store, &bad, None).await.unwrap();
    assert_eq!((report.dead, report.parked), (4, 0));
    let report = apply_batch(store, &[charge(42, "ord_1", 500_000, 0)], None)
        .await
        .unwrap();
    assert_eq!((report.applied, report.dead, report.unparked), (1, 0, 0));
    let p = store.payment(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.refunded),
        (PaymentStatus::Success, MinorUnits::ZERO)
    );
    assert_eq!(
        store.order(&dm(), "ord_1").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
    assert_eq!(journal_count(store, "ord_1").await, 1);
    // An absurd charge is dead too, and the read routes still answer.
    apply_batch(store, &[charge(43, "ord_2", i64::MAX, 0)], None)
        .await
        .unwrap();
    assert!(store.payment(&dm(), "ord_2").await.unwrap().is_none());
    store.balances(&dm()).await.unwrap();
    for e in &bad {
        let row = store
            .inbox_by_key(&dm(), &e.envelope.key.to_string())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status.as_str(), "dead");
        assert!(row.reason.unwrap().contains("is not an amount"));
    }
}
on_both_stores!(amounts_that_are_not_amounts_never_touch_the_charge);

/// The API's payment record is built from the same row as the domain's payment: it shows
/// the disputes by id and what the open ones hold.
async fn the_payment_record_shows_disputes_and_what_they_hold(store: &Store) {
    order(store, "ord_1", 500_000).await;
    let dispute = paystack(serde_json::json!({
        "event": "charge.dispute.create",
        "data": {"id": 77, "refund_amount": 200_000, "currency": "NGN",
                 "status": "awaiting-merchant-feedback",
                 "transaction": {"id": 42, "reference": "ord_1", "amount": 500_000,
                                 "currency": "NGN"}}
    }));
    apply_batch(store, &[charge(42, "ord_1", 500_000, 0), dispute], None)
        .await
        .unwrap();
    let record = store.payment_record(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(record.status, PaymentStatus::Disputed);
    assert_eq!(record.held, MinorUnits(200_000));
    assert_eq!(record.disputes.len(), 1);
    assert_eq!(record.disputes[0].id, "77");
    let listed = store.list_payments(&dm(), None, None, 10).await.unwrap();
    assert_eq!(listed[0].held, MinorUnits(200_000));
}
on_both_stores!(the_payment_record_shows_disputes_and_what_they_hold);

/// The apply path reads orders and payments without their timestamps (they are not the
/// domain's): what it writes back must still leave each record's creation time as it was and
/// its update time moved, as the API shows them.
async fn the_apply_path_keeps_the_records_timestamps(store: &Store) {
    let created = 1_000;
    store
        .create_order(&dm(), "ord_t", MinorUnits(500_000), NGN, None, created)
        .await
        .unwrap();
    let before = now_ms();
    apply_batch(store, &[charge(42, "ord_t", 500_000, 0)], None)
        .await
        .unwrap();
    let order = store.order_record(&dm(), "ord_t").await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(order.created_at_ms, created);
    assert!(order.updated_at_ms >= before, "{order:?}");
    let payment = store.payment_record(&dm(), "ord_t").await.unwrap().unwrap();
    assert_eq!(payment.status, PaymentStatus::Success);
    assert_eq!(payment.created_at_ms, created);
    assert!(payment.updated_at_ms >= before, "{payment:?}");
}
on_both_stores!(the_apply_path_keeps_the_records_timestamps);
