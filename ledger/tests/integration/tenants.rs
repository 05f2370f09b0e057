//! Two merchants on one store, with the same references: nothing of one is ever read, moved
//! or deduplicated by the other's. Each rule is tried the way it would break: the same
//! `ord_1` (and the same refund reference) at both merchants, in one batch; a charge at one
//! merchant for a reference only the other has; the other merchant's client secret and event
//! ids; a source routed to a merchant. And a database made by the code before merchants
//! existed migrates to the default merchant with nothing lost.

use crate::common::{self, add_merchant, charge, dm, of, order_of as order, refund};

use keffi_ledger::domain::{OrderStatus, PaymentStatus};
use keffi_ledger::pipeline::{apply_batch, replay, routed, Incoming};
use keffi_ledger::store::{now_ms, Store};
use keffi_shared::{Currency, MinorUnits};

fn sales(balances: &[keffi_ledger::store::journal::Balance]) -> i128 {
    balances
        .iter()
        .filter(|b| b.account == "sales")
        .map(|b| b.balance)
        .sum()
}

/// Merchant A's `ord_1` and merchant B's `ord_1` are two orders, paid in one batch by two
/// charges (and refunded by two refunds with the same refund reference): each keeps its own
/// amount, payment, journal and balances.
async fn the_same_reference_at_two_merchants_is_two_orders(store: &Store) {
    let (a, b) = (
        add_merchant(store, "acme").await,
        add_merchant(store, "bolt").await,
    );
    order(store, &a, "ord_1", 500_000).await;
    order(store, &b, "ord_1", 700_000).await;
    // The two refunds carry one refund reference: two gateways' words, not one event.
    let batch: Vec<Incoming> = vec![
        of(&a, charge(11, "ord_1", 500_000, 7_500)),
        of(&b, charge(22, "ord_1", 700_000, 10_500)),
        of(&a, refund("ord_1", "rf_1", 100_000)),
        of(&b, refund("ord_1", "rf_1", 200_000)),
    ];
    let report = apply_batch(store, &batch, None).await.unwrap();
    assert_eq!((report.applied, report.duplicates), (4, 0), "{report:?}");
    for (m, amount, refunded) in [(&a, 500_000, 100_000), (&b, 700_000, 200_000)] {
        let o = store.order(m, "ord_1").await.unwrap().unwrap();
        assert_eq!(o.amount, MinorUnits(amount), "{m}");
        assert_eq!(o.status, OrderStatus::PartiallyRefunded, "{m}");
        let p = store.payment(m, "ord_1").await.unwrap().unwrap();
        assert_eq!(
            (p.amount, p.refunded, p.status),
            (
                MinorUnits(amount),
                MinorUnits(refunded),
                PaymentStatus::PartiallyRefunded
            ),
            "{m}"
        );
        let journal = store.journal_for(m, "ord_1").await.unwrap();
        assert_eq!(journal.len(), 2, "{m}: a charge and a refund");
        assert_eq!(
            sales(&store.balances(m).await.unwrap()),
            -i128::from(amount),
            "{m}"
        );
    }
    // The default merchant has neither.
    assert!(store.order(&dm(), "ord_1").await.unwrap().is_none());
    assert!(store.balances(&dm()).await.unwrap().is_empty());
    assert_eq!(common::unbalanced_transactions(store).await, 0);

    // Re-delivered, every one of the four is a duplicate of its own merchant's.
    let again = apply_batch(store, &batch, None).await.unwrap();
    assert_eq!((again.applied, again.duplicates), (0, 4), "{again:?}");
}
on_both_stores!(the_same_reference_at_two_merchants_is_two_orders);

/// The database itself refuses a journal that crosses merchants: a transaction of merchant B
/// naming merchant A's event, and an entry of B in A's transaction.
async fn the_database_refuses_a_journal_across_merchants(store: &Store) {
    let (a, b) = (
        add_merchant(store, "acme").await,
        add_merchant(store, "bolt").await,
    );
    order(store, &a, "ord_1", 500_000).await;
    let paid = of(&a, charge(11, "ord_1", 500_000, 7_500));
    apply_batch(store, std::slice::from_ref(&paid), None)
        .await
        .unwrap();
    let event = store
        .inbox_by_key(&a, paid.envelope.key.as_str())
        .await
        .unwrap()
        .expect("the charge is recorded")
        .id;
    let transaction = store.journal_for(&a, "ord_1").await.unwrap()[0].id;
    assert_eq!(
        store.journal_for(&a, "ord_1").await.unwrap()[0].event_id,
        event
    );
    let cross_event = format!(
        "INSERT INTO journal_transactions (merchant_id, reference, kind, event_id, posted_at_ms)
         VALUES ('{b}', 'ord_1', 'charge', {event}, 0)"
    );
    let cross_entry = format!(
        "INSERT INTO journal_entries (transaction_id, merchant_id, account, currency, amount)
         VALUES ({transaction}, '{b}', 'sales', 'NGN', -1)"
    );
    for sql in [cross_event, cross_entry] {
        let refused = match store {
            Store::Postgres(pool) => sqlx::query(&sql).execute(pool).await.err(),
            Store::Sqlite(pool) => sqlx::query(&sql).execute(pool).await.err(),
        };
        let refused = refused.unwrap_or_else(|| panic!("accepted: {sql}"));
        assert!(
            refused.to_string().to_lowercase().contains("foreign key"),
            "{refused}"
        );
    }
}
on_both_stores!(the_database_refuses_a_journal_across_merchants);

/// A charge at merchant B for a reference only merchant A has an order for never pays A's
/// order: it is B's payment without an order, and A's order stays pending.
async fn a_charge_never_pays_another_merchants_order(store: &Store) {
    let (a, b) = (
        add_merchant(store, "acme").await,
        add_merchant(store, "bolt").await,
    );
    order(store, &a, "ord_only_a", 500_000).await;
    apply_batch(store, &[of(&b, charge(31, "ord_only_a", 500_000, 0))], None)
        .await
        .unwrap();
    let mine = store.order(&a, "ord_only_a").await.unwrap().unwrap();
    assert_eq!(mine.status, OrderStatus::Pending);
    assert_eq!(
        store
            .payment(&a, "ord_only_a")
            .await
            .unwrap()
            .unwrap()
            .status,
        PaymentStatus::Pending
    );
    assert!(store.order(&b, "ord_only_a").await.unwrap().is_none());
    let theirs = store.payment(&b, "ord_only_a").await.unwrap().unwrap();
    assert_eq!(theirs.status, PaymentStatus::Success);
    assert!(sales(&store.balances(&a).await.unwrap()) == 0);
    // Neither the order catch-up sweep nor a later order at B mixes them up.
    keffi_ledger::pipeline::adopt_orders_behind(store, 10)
        .await
        .unwrap();
    assert_eq!(
        store.order(&a, "ord_only_a").await.unwrap().unwrap().status,
        OrderStatus::Pending
    );
    order(store, &b, "ord_only_a", 500_000).await;
    assert_eq!(
        store.order(&b, "ord_only_a").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
    assert_eq!(
        store.order(&a, "ord_only_a").await.unwrap().unwrap().status,
        OrderStatus::Pending
    );
}
on_both_stores!(a_charge_never_pays_another_merchants_order);

/// Events, client secrets and replays are found only through their own merchant.
async fn ids_and_secrets_open_only_their_own_merchants_rows(store: &Store) {
    let (a, b) = (
        add_merchant(store, "acme").await,
        add_merchant(store, "bolt").await,
    );
    // A refund before its charge parks: an event an operator could replay.
    let parked = of(&b, refund("ord_9", "rf_9", 100));
    apply_batch(store, std::slice::from_ref(&parked), None)
        .await
        .unwrap();
    let id = store
        .inbox_by_key(&b, parked.envelope.key.as_str())
        .await
        .unwrap()
        .expect("B's event")
        .id;
    assert!(store.inbox_event(&a, id).await.unwrap().is_none());
    assert!(store
        .inbox_by_key(&a, parked.envelope.key.as_str())
        .await
        .unwrap()
        .is_none());
    assert!(
        replay(store, &a, id).await.unwrap().is_none(),
        "A cannot replay B's event"
    );
    assert!(replay(store, &b, id).await.unwrap().is_some());

    let mut tx = store.begin().await.unwrap();
    tx.create_order(
        &a,
        "ord_1",
        MinorUnits(500),
        Currency::NGN,
        keffi_shared::Provider::Paystack,
        None,
        now_ms(),
    )
    .await
    .unwrap();
    tx.create_order(
        &b,
        "ord_1",
        MinorUnits(700),
        Currency::NGN,
        keffi_shared::Provider::Paystack,
        None,
        now_ms(),
    )
    .await
    .unwrap();
    tx.add_client_secret(&a, "ord_1", "hash_a", now_ms())
        .await
        .unwrap();
    tx.add_client_secret(&b, "ord_1", "hash_b", now_ms())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.client_secret_reference("hash_a").await.unwrap(),
        Some((a.clone(), "ord_1".to_owned()))
    );
    assert_eq!(
        store.client_secret_reference("hash_b").await.unwrap(),
        Some((b.clone(), "ord_1".to_owned()))
    );
    // A secret cannot name an order its merchant does not have (the foreign key).
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .add_client_secret(&dm(), "ord_1", "hash_c", now_ms())
        .await
        .is_err());
    tx.rollback().await.unwrap();
}
on_both_stores!(ids_and_secrets_open_only_their_own_merchants_rows);

/// A source routed to a merchant brings its events to that merchant; a source routed nowhere
/// (as the ones in wrangler.toml) to the default merchant; a source is routed once.
async fn sources_route_events_to_their_merchant(store: &Store) {
    let a = add_merchant(store, "acme").await;
    store.add_source("shop-a", &a, now_ms()).await.unwrap();
    assert!(store.add_source("shop-a", &dm(), now_ms()).await.is_err());
    let mut via_a = charge(41, "ord_1", 500, 0).envelope;
    via_a.source = "shop-a".into();
    let plain = charge(42, "ord_2", 500, 0).envelope;
    let routed = routed(store, vec![(via_a, None), (plain, None)])
        .await
        .unwrap()
        .events;
    assert_eq!(routed[0].merchant, a);
    assert_eq!(routed[1].merchant, dm());
    assert_eq!(
        store
            .sources_of(&a)
            .await
            .unwrap()
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["shop-a"]
    );
    // An unknown merchant cannot be given a source (the foreign key).
    let ghost = common::merchant("ghost");
    assert!(store.add_source("shop-g", &ghost, now_ms()).await.is_err());
}
on_both_stores!(sources_route_events_to_their_merchant);

/// A name is one merchant's for good: claimed by A, another merchant's claim is refused,
/// A's own again is a re-claim; removed, its events (in flight when it went) still route to
/// A and the name is still not B's; the claim A's failed push gives back frees it.
async fn a_source_name_is_one_merchants_for_good(store: &Store) {
    use keffi_ledger::store::merchants::Claim;
    let a = add_merchant(store, "acme").await;
    let b = add_merchant(store, "bolt").await;
    let Claim::New(first) = store
        .claim_source("acme-pay", &a, "paystack", now_ms())
        .await
        .unwrap()
    else {
        panic!("a free name is claimed");
    };
    assert_eq!(
        (first.provider.as_deref(), first.removed_at_ms),
        (Some("paystack"), None)
    );
    assert_eq!(
        store
            .claim_source("acme-pay", &b, "paystack", now_ms())
            .await
            .unwrap(),
        Claim::Taken
    );
    assert!(matches!(
        store
            .claim_source("acme-pay", &a, "stripe", now_ms())
            .await
            .unwrap(),
        Claim::Again(r) if r.provider.as_deref() == Some("stripe")
    ));
    // Not B's to remove, read or route; removed by A, its events stay A's.
    assert!(store
        .remove_source(&b, "acme-pay", now_ms())
        .await
        .unwrap()
        .is_none());
    assert!(store.source_of(&b, "acme-pay").await.unwrap().is_none());
    let removed = store
        .remove_source(&a, "acme-pay", now_ms())
        .await
        .unwrap()
        .unwrap();
    let at = removed.removed_at_ms.expect("removed");
    let again = store
        .remove_source(&a, "acme-pay", at + 5_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.removed_at_ms,
        Some(at),
        "a repeated removal keeps its time"
    );
    let mut late = charge(51, "ord_1", 500, 0).envelope;
    late.source = "acme-pay".into();
    let routed = routed(store, vec![(late, None)]).await.unwrap().events;
    assert_eq!(
        routed[0].merchant, a,
        "a removed source's events stay its merchant's"
    );
    assert_eq!(
        store
            .claim_source("acme-pay", &b, "paystack", now_ms())
            .await
            .unwrap(),
        Claim::Taken,
        "a removed name is never another merchant's"
    );
    assert!(matches!(
        store
            .claim_source("acme-pay", &a, "paystack", now_ms())
            .await
            .unwrap(),
        Claim::Again(r) if r.removed_at_ms.is_none()
    ));
    // A claim given back (the edge refused the source) frees the name.
    assert!(matches!(
        store
            .claim_source("bolt-pay", &a, "paystack", now_ms())
            .await
            .unwrap(),
        Claim::New(_)
    ));
    store.release_source("bolt-pay", &a).await.unwrap();
    store.release_source("acme-pay", &b).await.unwrap();
    assert!(matches!(
        store
            .claim_source("bolt-pay", &b, "paystack", now_ms())
            .await
            .unwrap(),
        Claim::New(_)
    ));
    assert!(
        store.source_of(&a, "acme-pay").await.unwrap().is_some(),
        "B cannot give back A's name"
    );
}
on_both_stores!(a_source_name_is_one_merchants_for_good);

/// Ten merchants claim one free name at once: exactly one gets it, the others are refused,
/// and the name is the winner's.
async fn concurrent_claims_of_one_name_have_one_winner(store: &Store) {
    use keffi_ledger::store::merchants::Claim;
    let mut merchants = Vec::new();
    for i in 0..10 {
        merchants.push(add_merchant(store, &format!("m{i}")).await);
    }
    let claims = merchants.iter().map(|m| {
        let store = store.clone();
        let m = m.clone();
        tokio::spawn(async move {
            (
                m.clone(),
                store
                    .claim_source("hot-name", &m, "paystack", now_ms())
                    .await,
            )
        })
    });
    let mut winners = Vec::new();
    for claim in claims {
        let (m, got) = claim.await.unwrap();
        match got.unwrap() {
            Claim::New(r) => winners.push((m, r)),
            Claim::Taken => {}
            Claim::Again(r) => panic!("nobody held the name: {r:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let (winner, record) = &winners[0];
    assert_eq!(&record.merchant, winner);
    for m in &merchants {
        assert_eq!(
            store.source_of(m, "hot-name").await.unwrap().is_some(),
            m == winner
        );
    }
}
on_both_stores!(concurrent_claims_of_one_name_have_one_winner);

/// Rows as the code before merchants wrote them (migrations 0001–0009), one of each kind.
fn before_merchants() -> Vec<String> {
    let now = now_ms();
    [
    "INSERT INTO orders (reference, amount, currency, status, created_at_ms, updated_at_ms, version)
     VALUES ('ord_old', 500000, 'NGN', 'paid', 1, 2, 2)",
    "INSERT INTO payments (reference, gateway, gateway_id, amount, requested_amount, currency,
         fees, status, created_at_ms, updated_at_ms)
     VALUES ('ord_old', 'paystack', '77', 500000, 500000, 'NGN', 7500, 'success', 1, 2)",
    "INSERT INTO order_client_secrets (secret_hash, reference, created_at_ms)
     VALUES ('old_hash', 'ord_old', 1)",
    "INSERT INTO inbox_events (idempotency_key, source, provider, event_type, reference,
         received_at_ms, applied_at_ms, status, envelope)
     VALUES ('paystack:charge.success:77', 'paystack', 'paystack', 'charge.success', 'ord_old',
         1, 2, 'applied', '{}')",
    "INSERT INTO inbox_events (idempotency_key, source, provider, event_type, reference,
         received_at_ms, status, reason, envelope)
     VALUES ('paystack:refund.processed:rf_old', 'paystack', 'paystack', 'refund.processed',
         'ord_gone', 1, 'parked', 'refund before its charge', '{}')",
    "INSERT INTO journal_transactions (id, reference, kind, event_key, posted_at_ms)
     VALUES (1, 'ord_old', 'charge', 'paystack:charge.success:77', 2)",
    "INSERT INTO journal_entries (transaction_id, account, currency, amount)
     VALUES (1, 'gateway_receivable:paystack', 'NGN', 492500), (1, 'fees:paystack', 'NGN', 7500),
            (1, 'sales', 'NGN', -500000)",
    &format!("INSERT INTO api_idempotency_keys (key, request_hash, response_status, response_body,
         created_at_ms, completed_at_ms)
     VALUES ('POST /v1/orders k1', 'h', 201, '{{}}', {now}, {now})"),
    "INSERT INTO audit_log (at_ms, token_name, token_scope, action, target, status)
     VALUES (1, 'boss', 'admin', 'POST /v1/orders', '/v1/orders', 201)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A database created and filled by the code before merchants (its migrations, its rows)
/// upgrades to the default merchant's, with every row where it was.
async fn a_database_from_before_merchants_becomes_the_default_merchants(store: &Store) {
    let dir = match store {
        Store::Sqlite(_) => "sqlite",
        Store::Postgres(_) => "postgres",
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dir);
    let mut before = sqlx::migrate::Migrator::new(path).await.unwrap();
    let merchants_at = before
        .migrations
        .iter()
        .position(|m| m.description == "merchants")
        .expect("the merchants migration");
    before.migrations = before.migrations[..merchants_at].to_vec().into();
    macro_rules! prepare {
        ($pool:expr) => {{
            before.run($pool).await.unwrap();
            for sql in before_merchants() {
                sqlx::query(&sql).execute($pool).await.unwrap();
            }
        }};
    }
    match store {
        Store::Sqlite(pool) => prepare!(pool),
        Store::Postgres(pool) => prepare!(pool),
    }

    store.migrate().await.unwrap();
    let d = dm();
    let o = store.order_record(&d, "ord_old").await.unwrap().unwrap();
    assert_eq!((o.status, o.version), (OrderStatus::Paid, 2));
    let p = store.payment(&d, "ord_old").await.unwrap().unwrap();
    assert_eq!(p.gateway_id.as_deref(), Some("77"));
    assert_eq!(
        store.client_secret_reference("old_hash").await.unwrap(),
        Some((d.clone(), "ord_old".to_owned()))
    );
    let journal = store.journal_for(&d, "ord_old").await.unwrap();
    assert_eq!(journal.len(), 1);
    // The journal names its event by id now; the event is the one its key named.
    assert_eq!(journal[0].event_key, "paystack:charge.success:77");
    let event = store.inbox_event(&d, journal[0].event_id).await.unwrap();
    assert_eq!(
        event.map(|e| e.idempotency_key).as_deref(),
        Some("paystack:charge.success:77")
    );
    assert_eq!(sales(&store.balances(&d).await.unwrap()), -500_000);
    let counts = store.inbox_counts(&d).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<i64>(), 2);
    let audit = store.list_audit(Some(&d), None, None, 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].merchant.as_deref(), Some("default"));
    // The old event still dedupes its retry, and the parked one still waits for its charge.
    let retry = charge(77, "ord_old", 500_000, 7_500);
    let mut envelope = retry.envelope.clone();
    envelope.key = keffi_shared::IdempotencyKey::parse("paystack:charge.success:77").unwrap();
    let report = apply_batch(store, &[Incoming { envelope, ..retry }], None)
        .await
        .unwrap();
    assert_eq!(report.duplicates, 1);
    // The old Idempotency-Key answers as before, at the default merchant only.
    let mut tx = store.begin().await.unwrap();
    let claim = tx
        .claim_idempotency_key(&d, "POST /v1/orders k1", "h", now_ms())
        .await
        .unwrap();
    assert!(matches!(
        claim,
        keffi_ledger::store::idempotency::Claim::Replay { status: 201, .. }
    ));
    tx.rollback().await.unwrap();
    // A new merchant can have an `ord_old` of its own.
    let a = add_merchant(store, "acme").await;
    order(store, &a, "ord_old", 100).await;
    assert_eq!(
        store.order(&d, "ord_old").await.unwrap().unwrap().amount,
        MinorUnits(500_000)
    );
}

mod migrating {
    use super::*;

    /// A store connected but not migrated: the test migrates it in two steps.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        let store = Store::connect(&url, &Default::default()).await.unwrap();
        a_database_from_before_merchants_becomes_the_default_merchants(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let db = keffi_tests::pg::TestDatabase::create().await.unwrap();
        let store = Store::connect(db.url(), &Default::default()).await.unwrap();
        a_database_from_before_merchants_becomes_the_default_merchants(&store).await;
    }
}
