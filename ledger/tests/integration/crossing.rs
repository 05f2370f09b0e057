//! Orders created while their charge lands, and requests that die half-way.
//!
//! The interleavings that can break money are forced here at chosen points, on Postgres
//! (where transactions really run side by side): a transaction is held open at the dangerous
//! moment while the other path runs, then released. Then a stress test crosses hundreds of
//! creations with their charges from two replicas at random moments, and a hang-up test
//! abandons order creations at random moments and checks the retry always completes.

use crate::common;
use crate::common::dm;

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use common::{charge, refund};
use keffi_ledger::api::resources::orders::{create_order, CreateOrder};
use keffi_ledger::api::support::idempotency::IdempotencyKey;
use keffi_ledger::domain::{OrderStatus, PaymentStatus};
use keffi_ledger::pipeline::{apply_batch, apply_events, replay, Incoming};
use keffi_ledger::store::{now_ms, Store};
use keffi_shared::{Currency, MinorUnits};
use rand::{Rng, SeedableRng};

const NGN: Currency = Currency::NGN;

/// A second connection pool to the same database: another replica.
async fn replica(store: &Store) -> Store {
    let Store::Postgres(pool) = store else {
        panic!("replicas are a Postgres thing")
    };
    Store::Postgres(
        sqlx::PgPool::connect_with((*pool.connect_options()).clone())
            .await
            .unwrap(),
    )
}

/// Waits long enough that a task that could run has run (it is blocked if not finished).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn assert_paid_once(store: &Store, reference: &str) {
    let order = store.order(&dm(), reference).await.unwrap().unwrap();
    let payment = store.payment(&dm(), reference).await.unwrap().unwrap();
    let journal = store.journal_for(&dm(), reference).await.unwrap();
    assert_eq!(
        (order.status, payment.status, journal.len()),
        (OrderStatus::Paid, PaymentStatus::Success, 1),
        "{reference}: order, payment and journal"
    );
}

/// The batch applying the charge has locked its reference and not yet committed when the
/// order is created. A creation that saw no payment and wrote its pending payment over the
/// charge's on commit would leave order and payment pending, the journal holding the charge,
/// and the reconciler later posting it a second time; the order must end paid instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_created_while_its_charge_commits_is_paid_postgres() {
    let s = common::postgres().await;
    let store = &s.store;
    let mut batch = store.begin().await.unwrap();
    apply_events(&mut batch, &[charge(42, "ord_1", 500_000, 0)])
        .await
        .unwrap();
    let creating = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create_order(&dm(), "ord_1", MinorUnits(500_000), NGN, None, now_ms())
                .await
        })
    };
    settle().await;
    assert!(!creating.is_finished(), "the creation waits for the batch");
    batch.commit().await.unwrap();
    let created = creating.await.unwrap().unwrap();
    assert_eq!(created.status, OrderStatus::Paid, "the API answers `paid`");
    assert_paid_once(store, "ord_1").await;
    let p = store.payment(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(p.review_reason, None, "the payment found its order");
}

/// The other way round: the order's creation holds the reference when the batch comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_applied_while_its_order_is_created_pays_it_postgres() {
    let s = common::postgres().await;
    let store = &s.store;
    let mut creation = store.begin().await.unwrap();
    creation
        .create_order(
            &dm(),
            "ord_1",
            MinorUnits(500_000),
            NGN,
            keffi_shared::Provider::Paystack,
            None,
            now_ms(),
        )
        .await
        .unwrap();
    let applying = {
        let store = replica(store).await;
        tokio::spawn(
            async move { apply_batch(&store, &[charge(42, "ord_1", 500_000, 0)], None).await },
        )
    };
    settle().await;
    assert!(!applying.is_finished(), "the batch waits for the creation");
    creation.commit().await.unwrap();
    assert_eq!(applying.await.unwrap().unwrap().applied, 1);
    assert_paid_once(store, "ord_1").await;
}

/// An operator's replay of a parked refund while a batch is applying its charge: the replay
/// waits, then applies the refund once (not parked again on a state it could not see).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_crossing_the_charge_applies_after_it_postgres() {
    let s = common::postgres().await;
    let store = &s.store;
    store
        .create_order(&dm(), "ord_1", MinorUnits(500_000), NGN, None, now_ms())
        .await
        .unwrap();
    apply_batch(store, &[refund("ord_1", "rf_1", 100_000)], None)
        .await
        .unwrap();
    let parked = store
        .inbox_by_key(
            &dm(),
            &refund("ord_1", "rf_1", 100_000).envelope.key.to_string(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parked.status.as_str(), "parked");
    let mut batch = store.begin().await.unwrap();
    let report = apply_events(&mut batch, &[charge(42, "ord_1", 500_000, 0)])
        .await
        .unwrap();
    assert_eq!(report.unparked, 1, "the charge releases the refund itself");
    let replaying = {
        let store = replica(store).await;
        tokio::spawn(async move { replay(&store, &dm(), parked.id).await })
    };
    settle().await;
    assert!(!replaying.is_finished(), "the replay waits for the batch");
    batch.commit().await.unwrap();
    let replayed = replaying.await.unwrap().unwrap().unwrap();
    assert_eq!(replayed.after.as_str(), "applied");
    assert!(
        replayed.message.contains("nothing to replay"),
        "{replayed:?}"
    );
    let p = store.payment(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(p.refunded, MinorUnits(100_000), "refunded once");
    assert_eq!(store.journal_for(&dm(), "ord_1").await.unwrap().len(), 2);
}

fn key(k: &str) -> Option<IdempotencyKey> {
    let mut h = HeaderMap::new();
    h.insert("idempotency-key", HeaderValue::from_str(k).unwrap());
    IdempotencyKey::from_headers(&h).unwrap()
}

fn request(reference: &str) -> CreateOrder {
    CreateOrder {
        reference: reference.into(),
        amount: 500_000,
        currency: "NGN".into(),
        metadata: None,
        gateway: None,
    }
}

/// How many crossings the stress test makes: `KEFFI_CROSSINGS`, default 1,000.
fn crossings() -> usize {
    std::env::var("KEFFI_CROSSINGS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000)
}

/// Hundreds of orders, each created (through the API's code, with an Idempotency-Key) at the
/// same moment as its `charge.success` is applied by one of two replicas, in batches of
/// random sizes with random pauses. Every one must end paid with one charge transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_creations_all_end_paid_exactly_once_postgres() {
    let s = common::postgres().await;
    let store = &s.store;
    let replicas = [store.clone(), replica(store).await];
    let n = crossings();
    let references: Vec<String> = (0..n).map(|i| format!("cross_{i}")).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let mut batches: Vec<Vec<Incoming>> = Vec::new();
    let mut i = 0;
    while i < n {
        let size = rng.gen_range(1..=20).min(n - i);
        batches.push(
            (i..i + size)
                .map(|j| charge(10_000 + j as u64, &references[j], 500_000, 0))
                .collect(),
        );
        i += size;
    }
    // Each batch goes with the creations of its orders, all started together, so every
    // creation crosses its own charge. A few groups at a time: more would only queue for a
    // pool connection (and time out on a loaded machine), not cross anything more.
    let groups = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    for (b, batch) in batches.into_iter().enumerate() {
        let applier = replicas[b % 2].clone();
        let creator = replicas[(b + 1) % 2].clone();
        let pauses: Vec<u64> = (0..=batch.len()).map(|_| rng.gen_range(0..3)).collect();
        let groups = groups.clone();
        tasks.spawn(async move {
            let _slot = groups.acquire_owned().await;
            let references: Vec<String> = batch
                .iter()
                .map(|i| {
                    keffi_ledger::domain::Fact::from_envelope(&i.envelope)
                        .unwrap()
                        .reference()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            let apply = async {
                tokio::time::sleep(Duration::from_millis(pauses[0])).await;
                apply_batch(&applier, &batch, None).await.unwrap();
            };
            let creations = references
                .iter()
                .zip(&pauses[1..])
                .map(|(reference, pause)| {
                    let creator = creator.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(*pause)).await;
                        create_with_retries(&creator, reference).await;
                    }
                });
            tokio::join!(apply, futures_util::future::join_all(creations));
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let mut wrong = Vec::new();
    for reference in &references {
        let order = store.order(&dm(), reference).await.unwrap().unwrap();
        let payment = store.payment(&dm(), reference).await.unwrap().unwrap();
        let charges = store.journal_for(&dm(), reference).await.unwrap().len();
        if (order.status, payment.status, charges) != (OrderStatus::Paid, PaymentStatus::Success, 1)
            || payment.review_reason.is_some()
        {
            wrong.push(format!(
                "{reference}: order {} payment {} journal {charges} review {:?}",
                order.status, payment.status, payment.review_reason
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {n} crossings ended wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    eprintln!("crossing creations: {n} of {n} paid exactly once");
}

/// Creates `reference`'s order through the API's code with the device's key, retrying a 503
/// with the same key as a phone would (the API asks it to).
async fn create_with_retries(store: &Store, reference: &str) {
    let k = format!("device-{reference}");
    for _ in 0..5 {
        match create_order(store, &dm(), key(&k), "POST /v1/orders", request(reference)).await {
            Ok(_) => return,
            Err(e) if e.status.is_server_error() => {}
            Err(e) => panic!("{reference}: {} {}", e.code, e.message),
        }
    }
    panic!("{reference}: five 503s in a row");
}

/// A client that hangs up at any moment of `POST /v1/orders`. The request is abandoned after a
/// random delay (as hyper drops a handler whose client went away); a retry with the same key,
/// at once or later, must always get the order — the same one, created once — and a client
/// secret that opens it.
async fn a_client_that_hangs_up_can_always_complete_its_order(store: &Store) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for i in 0..40 {
        let reference = format!("hang_{i}");
        let k = format!("device-hang-{i}");
        let cut = Duration::from_micros(rng.gen_range(0..4_000));
        let _ = tokio::time::timeout(
            cut,
            create_order(
                store,
                &dm(),
                key(&k),
                "POST /v1/orders",
                request(&reference),
            ),
        )
        .await;
        if i % 2 == 0 {
            // Some retries come at once, racing what the abandoned request left running.
            tokio::time::sleep(Duration::from_micros(rng.gen_range(0..2_000))).await;
        }
        let answer = create_order(
            store,
            &dm(),
            key(&k),
            "POST /v1/orders",
            request(&reference),
        )
        .await
        .unwrap_or_else(|e| panic!("retry {i} after a hang-up at {cut:?}: {}", e.message));
        assert_eq!(answer.status, axum::http::StatusCode::CREATED, "{i}");
        assert_eq!(answer.body["reference"], reference.as_str());
        let secret = answer.body["client_secret"]
            .as_str()
            .expect("a client secret");
        let opens = store
            .client_secret_reference(&keffi_ledger::api::access::client_secret::hash(secret))
            .await
            .unwrap();
        assert_eq!(opens, Some((dm(), reference.clone())), "the secret works");
        // And the key stays good: a third try replays the same order.
        let again = create_order(
            store,
            &dm(),
            key(&k),
            "POST /v1/orders",
            request(&reference),
        )
        .await
        .unwrap();
        assert!(again.replayed);
        assert_eq!(again.body["reference"], reference.as_str());
    }
}
on_both_stores!(a_client_that_hangs_up_can_always_complete_its_order);
