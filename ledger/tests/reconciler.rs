//! The reconciler against a local Paystack that speaks the Verify Transaction API: every
//! outcome, the race with a late webhook (no double posting), rate limiting, 429 with
//! Retry-After, slow answers and resets, and the bound per run.

mod common;

use std::time::{Duration, Instant};

use common::charge;
use keffi_ledger::domain::{OrderStatus, PaymentStatus};
use keffi_ledger::pipeline::apply_batch;
use keffi_ledger::reconciler::decide::Outcome;
use keffi_ledger::reconciler::{pass, PassOptions, ReconcilerConfig, Summary};
use keffi_ledger::store::{now_ms, Store};
use keffi_shared::{Currency, MinorUnits};
use keffi_tests::paystack::{Behaviour, FakePaystack};

const KEY: &str = "sk_test_reconciler";

fn config(gateway: &FakePaystack) -> ReconcilerConfig {
    ReconcilerConfig {
        api_base: gateway.url(),
        secret_key: KEY.into(),
        interval: Duration::from_secs(60),
        min_age: Duration::ZERO,
        give_up_after: Duration::from_secs(3600),
        rate_per_second: 200.0,
        max_per_run: 100,
        timeout: Duration::from_millis(800),
    }
}

async fn order(store: &Store, reference: &str, amount: i64) {
    store
        .create_order(reference, MinorUnits(amount), Currency::NGN, None, now_ms())
        .await
        .unwrap();
}

async fn run(store: &Store, cfg: &ReconcilerConfig) -> Summary {
    pass(store, cfg, &PassOptions::default(), None, &|_, _| {})
        .await
        .unwrap()
}

async fn every_verify_outcome_is_applied(store: &Store) {
    let gateway = FakePaystack::start(KEY).await.unwrap();
    for (reference, behaviour) in [
        ("ord_paid", FakePaystack::success(4099260516, 500_000)),
        ("ord_failed", Behaviour::Failed),
        ("ord_abandoned", Behaviour::Abandoned),
        ("ord_ongoing", Behaviour::Ongoing),
        ("ord_unknown", Behaviour::NotFound),
        ("ord_short", FakePaystack::success(77, 400_000)),
    ] {
        order(store, reference, 500_000).await;
        gateway.set(reference, behaviour);
    }
    let summary = run(store, &config(&gateway)).await;
    assert_eq!(summary.checked, 6);
    assert_eq!(summary.count(Outcome::Paid), 2);
    assert_eq!(summary.count(Outcome::Failed), 1);
    assert_eq!(summary.count(Outcome::Abandoned), 1);
    assert_eq!(summary.count(Outcome::StillPending), 1);
    assert_eq!(summary.count(Outcome::NotFound), 1);
    assert!(
        gateway.requests().iter().all(|r| r.authorized),
        "the secret key is the bearer"
    );

    let status = |r: &'static str| async move { store.order(r).await.unwrap().unwrap().status };
    assert_eq!(status("ord_paid").await, OrderStatus::Paid);
    assert_eq!(status("ord_failed").await, OrderStatus::Failed);
    assert_eq!(status("ord_abandoned").await, OrderStatus::Abandoned);
    assert_eq!(status("ord_ongoing").await, OrderStatus::Pending);
    assert_eq!(status("ord_unknown").await, OrderStatus::Pending);
    // The amount is checked as a charge.success would be.
    assert_eq!(status("ord_short").await, OrderStatus::NeedsReview);

    // The audit trail says how the payment was confirmed; the journal has one transaction.
    let event = store
        .inbox_by_key("reconciler:verify.success:ord_paid")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (event.source.as_str(), event.status.as_str()),
        ("reconciler", "applied")
    );
    assert_eq!(store.journal_for("ord_paid").await.unwrap().len(), 1);
    let p = store.payment("ord_paid").await.unwrap().unwrap();
    assert_eq!(p.gateway_id.as_deref(), Some("4099260516"));
    assert_eq!(p.fees, MinorUnits(17_500));

    // Still pending and not found are asked again later, not on every pass.
    let again = run(store, &config(&gateway)).await;
    assert_eq!(again.checked, 0, "backed off: {again:?}");
}
on_both_stores!(every_verify_outcome_is_applied);

async fn not_found_past_the_give_up_age_abandons_the_order(store: &Store) {
    let gateway = FakePaystack::start(KEY).await.unwrap();
    order(store, "ord_ghost", 500_000).await;
    let cfg = ReconcilerConfig {
        give_up_after: Duration::ZERO,
        ..config(&gateway)
    };
    let summary = run(store, &cfg).await;
    assert_eq!(summary.count(Outcome::GaveUp), 1);
    let o = store.order("ord_ghost").await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::Abandoned);
    assert!(o.review_reason.unwrap().contains("gave up"));
}
on_both_stores!(not_found_past_the_give_up_age_abandons_the_order);

async fn a_late_webhook_after_the_reconciler_changes_nothing(store: &Store) {
    let gateway = FakePaystack::start(KEY).await.unwrap();
    order(store, "ord_1", 500_000).await;
    gateway.set("ord_1", FakePaystack::success(42, 500_000));
    run(store, &config(&gateway)).await;
    let late = apply_batch(store, &[charge(42, "ord_1", 500_000, 17_500)], None)
        .await
        .unwrap();
    assert_eq!(late.ignored, 1, "a recorded no-op");
    assert_eq!(store.journal_for("ord_1").await.unwrap().len(), 1);
    assert_eq!(
        store.payment("ord_1").await.unwrap().unwrap().status,
        PaymentStatus::Success
    );
}
on_both_stores!(a_late_webhook_after_the_reconciler_changes_nothing);

/// Webhooks and the reconciler settle the same payments at the same moment: each payment is
/// posted once, whichever wins.
async fn webhook_and_reconciler_racing_post_once(store: &Store) {
    let gateway = FakePaystack::start(KEY).await.unwrap();
    let n = 30u64;
    for i in 0..n {
        let r = format!("ord_{i}");
        order(store, &r, 10_000).await;
        gateway.set(&r, FakePaystack::success(1000 + i, 10_000));
    }
    let cfg = config(&gateway);
    let reconciling = {
        let store = store.clone();
        tokio::spawn(
            async move { pass(&store, &cfg, &PassOptions::default(), None, &|_, _| {}).await },
        )
    };
    let webhooks = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in (0..n).rev() {
                apply_batch(
                    &store,
                    &[charge(1000 + i, &format!("ord_{i}"), 10_000, 150)],
                    None,
                )
                .await
                .unwrap();
            }
        })
    };
    reconciling.await.unwrap().unwrap();
    webhooks.await.unwrap();
    for i in 0..n {
        let r = format!("ord_{i}");
        assert_eq!(store.journal_for(&r).await.unwrap().len(), 1, "{r}");
        assert_eq!(
            store.order(&r).await.unwrap().unwrap().status,
            OrderStatus::Paid
        );
    }
    assert_eq!(store.unbalanced_transactions().await.unwrap(), 0);
}
on_both_stores!(webhook_and_reconciler_racing_post_once);

#[tokio::test]
async fn calls_are_paced_to_the_configured_rate() {
    let s = common::sqlite().await;
    let gateway = FakePaystack::start(KEY).await.unwrap();
    for i in 0..6 {
        order(&s.store, &format!("ord_{i}"), 1000).await;
    }
    let cfg = ReconcilerConfig {
        rate_per_second: 10.0,
        ..config(&gateway)
    };
    let started = Instant::now();
    run(&s.store, &cfg).await;
    assert!(
        started.elapsed() >= Duration::from_millis(480),
        "{:?}",
        started.elapsed()
    );
    let at: Vec<Instant> = gateway.requests().iter().map(|r| r.at).collect();
    for pair in at.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(90),
            "{:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test]
async fn a_429_with_retry_after_is_respected() {
    let s = common::sqlite().await;
    let gateway = FakePaystack::start(KEY).await.unwrap();
    order(&s.store, "ord_1", 500_000).await;
    gateway.set(
        "ord_1",
        Behaviour::RateLimited {
            times: 1,
            retry_after_s: 1,
            then: Box::new(FakePaystack::success(1, 500_000)),
        },
    );
    let started = Instant::now();
    let summary = run(&s.store, &config(&gateway)).await;
    assert_eq!(summary.count(Outcome::Paid), 1);
    let requests = gateway.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(950));
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn slow_answers_and_resets_are_errors_that_do_not_stop_the_pass() {
    let s = common::sqlite().await;
    let gateway = FakePaystack::start(KEY).await.unwrap();
    for r in ["ord_slow", "ord_reset", "ord_fine"] {
        order(&s.store, r, 500_000).await;
    }
    gateway.set(
        "ord_slow",
        Behaviour::Slow {
            delay: Duration::from_secs(3),
            then: Box::new(FakePaystack::success(1, 500_000)),
        },
    );
    gateway.set("ord_reset", Behaviour::Reset);
    gateway.set("ord_fine", FakePaystack::success(2, 500_000));
    let summary = run(&s.store, &config(&gateway)).await;
    assert_eq!(summary.count(Outcome::Error), 2, "{summary:?}");
    assert_eq!(summary.count(Outcome::Paid), 1);
    assert_eq!(
        s.store.order("ord_slow").await.unwrap().unwrap().status,
        OrderStatus::Pending
    );
    assert_eq!(
        s.store.order("ord_fine").await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
}

#[tokio::test]
async fn a_pass_is_bounded_and_a_dry_run_changes_nothing() {
    let s = common::sqlite().await;
    let gateway = FakePaystack::start(KEY).await.unwrap();
    for i in 0..5 {
        let r = format!("ord_{i}");
        order(&s.store, &r, 1000).await;
        gateway.set(&r, FakePaystack::success(i, 1000));
    }
    let cfg = ReconcilerConfig {
        max_per_run: 2,
        ..config(&gateway)
    };
    let dry = pass(
        &s.store,
        &cfg,
        &PassOptions {
            dry_run: true,
            ..PassOptions::default()
        },
        None,
        &|_, _| {},
    )
    .await
    .unwrap();
    assert_eq!((dry.checked, dry.count(Outcome::Paid)), (2, 2));
    for i in 0..5 {
        assert_eq!(
            s.store
                .order(&format!("ord_{i}"))
                .await
                .unwrap()
                .unwrap()
                .status,
            OrderStatus::Pending
        );
    }
    let real = run(&s.store, &cfg).await;
    assert_eq!(real.checked, 2, "at most max_per_run per pass");
    // Young payments wait for the age threshold.
    let young = ReconcilerConfig {
        min_age: Duration::from_secs(3600),
        ..config(&gateway)
    };
    assert_eq!(run(&s.store, &young).await.checked, 0);
}
