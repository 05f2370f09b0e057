//! The reconciler against a local Paystack that speaks the Verify Transaction API: every
//! outcome, the race with a late webhook (no double posting), rate limiting, 429 with
//! Retry-After, slow answers and resets, refusals (a rotated key) that stop the pass without
//! abandoning anything, and the bound per run.

use crate::common;
use crate::common::dm;

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
        secret_key: Some(KEY.parse().unwrap()),
        via_edge: None,
        interval: Duration::from_secs(60),
        min_age: Duration::ZERO,
        give_up_after: Duration::from_secs(3600),
        rate_per_second: 200.0,
        max_per_run: 100,
        timeout: Duration::from_millis(800),
    }
}

async fn order(store: &Store, reference: &str, amount: i64) {
    order_at(store, reference, amount, now_ms()).await;
}

async fn order_at(store: &Store, reference: &str, amount: i64, created_at_ms: i64) {
    store
        .create_order(
            &dm(),
            reference,
            MinorUnits(amount),
            Currency::NGN,
            None,
            created_at_ms,
        )
        .await
        .unwrap();
}

/// Created long enough ago (two hours, twice `config`'s `give_up_after`) that a not-found
/// abandons it.
async fn old_order(store: &Store, reference: &str) {
    order_at(store, reference, 500_000, now_ms() - 2 * 3600 * 1000).await;
}

/// The answer a bad key gets (401 documented, 400 seen).
fn invalid_key(status: u16) -> Behaviour {
    Behaviour::Answer {
        status,
        body: r#"{"status":false,"message":"Invalid key"}"#.into(),
    }
}

/// The order and its payment are as the order's creation left them: pending, never checked.
async fn untouched(store: &Store, reference: &str) {
    let o = store.order(&dm(), reference).await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::Pending, "{reference}");
    let p = store.payment(&dm(), reference).await.unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::Pending, "{reference}");
    // Not by reference: a reference given bypasses the schedule.
    let due = store
        .stale_payments(Some(&dm()), now_ms(), now_ms(), None, 100)
        .await
        .unwrap();
    let due = due.iter().find(|p| p.reference == reference);
    assert_eq!(
        due.map(|p| p.reconcile_attempts),
        Some(0),
        "{reference} is still due, not scheduled later"
    );
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

    let status =
        |r: &'static str| async move { store.order(&dm(), r).await.unwrap().unwrap().status };
    assert_eq!(status("ord_paid").await, OrderStatus::Paid);
    assert_eq!(status("ord_failed").await, OrderStatus::Failed);
    assert_eq!(status("ord_abandoned").await, OrderStatus::Abandoned);
    assert_eq!(status("ord_ongoing").await, OrderStatus::Pending);
    assert_eq!(status("ord_unknown").await, OrderStatus::Pending);
    // The amount is checked as a charge.success would be.
    assert_eq!(status("ord_short").await, OrderStatus::NeedsReview);

    // The audit trail says how the payment was confirmed; the journal has one transaction.
    let event = store
        .inbox_by_key(&dm(), "reconciler:verify.success:ord_paid")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (event.source.as_str(), event.status.as_str()),
        ("reconciler", "applied")
    );
    assert_eq!(store.journal_for(&dm(), "ord_paid").await.unwrap().len(), 1);
    let p = store.payment(&dm(), "ord_paid").await.unwrap().unwrap();
    assert_eq!(p.gateway_id.as_deref(), Some("4099260516"));
    assert_eq!(p.fees, MinorUnits(17_500));

    // Still pending and not found are asked again later, not on every pass.
    let again = run(store, &config(&gateway)).await;
    assert_eq!(again.checked, 0, "backed off: {again:?}");
}
on_both_stores!(every_verify_outcome_is_applied);

async fn not_found_past_the_give_up_age_abandons_the_order(store: &Store) {
    let gateway = FakePaystack::start(KEY).await.unwrap();
    // The documented not-found, as documented (404) and as seen (400).
    order(store, "ord_ghost", 500_000).await;
    order(store, "ord_ghost_400", 500_000).await;
    gateway.set(
        "ord_ghost_400",
        Behaviour::Answer {
            status: 400,
            body: r#"{"status":false,"message":"Transaction reference not found"}"#.into(),
        },
    );
    let cfg = ReconcilerConfig {
        give_up_after: Duration::ZERO,
        ..config(&gateway)
    };
    let summary = run(store, &cfg).await;
    assert_eq!(summary.count(Outcome::GaveUp), 2, "{summary:?}");
    assert_eq!(summary.aborted, None);
    for r in ["ord_ghost", "ord_ghost_400"] {
        let o = store.order(&dm(), r).await.unwrap().unwrap();
        assert_eq!(o.status, OrderStatus::Abandoned, "{r}");
        assert!(o.review_reason.unwrap().contains("gave up"));
    }
}
on_both_stores!(not_found_past_the_give_up_age_abandons_the_order);

/// A rotated key: the gateway refuses every request. Read as "not found", it would abandon
/// every pending order past the give-up age; the pass must stop at the first refusal instead.
async fn a_rotated_key_stops_the_pass_and_abandons_nothing(store: &Store, refused_with: u16) {
    let gateway = FakePaystack::start(KEY).await.unwrap();
    gateway.refuse_bad_keys_with(refused_with);
    let references = ["ord_1", "ord_2", "ord_3", "ord_4"];
    for r in references {
        old_order(store, r).await; // the gateway would answer not-found: give-up material
    }
    let cfg = ReconcilerConfig {
        secret_key: Some("sk_test_rotated_away".parse().unwrap()),
        ..config(&gateway)
    };
    let summary = run(store, &cfg).await;

    assert_eq!(
        gateway.requests().len(),
        1,
        "stopped after the first answer"
    );
    assert_eq!(summary.checked, 1, "{summary:?}");
    assert_eq!(summary.count(Outcome::Error), 1);
    assert_eq!(summary.count(Outcome::GaveUp), 0);
    let reason =
        format!("gateway refused the request ({refused_with} Invalid key): stopping the pass");
    assert_eq!(summary.aborted.as_deref(), Some(reason.as_str()));
    assert_eq!(summary.errors, vec![reason]);
    for r in references {
        untouched(store, r).await;
    }
    assert!(
        store.inbox_counts(&dm()).await.unwrap().is_empty(),
        "the reconciler recorded nothing"
    );

    // With the key fixed, the next pass checks them all (and gives up on them, as it should).
    let fixed = run(store, &config(&gateway)).await;
    assert_eq!(
        (fixed.checked, fixed.count(Outcome::GaveUp), fixed.aborted),
        (4, 4, None)
    );
}

async fn a_rotated_key_answered_401_stops_the_pass_and_abandons_nothing(store: &Store) {
    a_rotated_key_stops_the_pass_and_abandons_nothing(store, 401).await;
}
on_both_stores!(a_rotated_key_answered_401_stops_the_pass_and_abandons_nothing);

async fn a_rotated_key_answered_400_stops_the_pass_and_abandons_nothing(store: &Store) {
    a_rotated_key_stops_the_pass_and_abandons_nothing(store, 400).await;
}
on_both_stores!(a_rotated_key_answered_400_stops_the_pass_and_abandons_nothing);

/// Only the documented not-found may abandon: any other 4xx answer, even a 400 or 404 with
/// `status: false`, stops the pass and leaves the order pending, pass after pass.
async fn a_4xx_other_than_not_found_never_abandons(store: &Store) {
    let gateway = FakePaystack::start(KEY).await.unwrap();
    let cases = [
        ("ord_404", 404, r#"{"status":false,"message":"Not found"}"#),
        ("ord_404_html", 404, "<html><body>Not Found</body></html>"),
        (
            "ord_400",
            400,
            r#"{"status":false,"message":"Invalid key"}"#,
        ),
        (
            "ord_400_other",
            400,
            r#"{"status":false,"message":"Bad request"}"#,
        ),
        (
            "ord_401",
            401,
            r#"{"status":false,"message":"Invalid key"}"#,
        ),
        ("ord_403", 403, r#"{"status":false,"message":"Forbidden"}"#),
    ];
    for (reference, status, body) in cases {
        old_order(store, reference).await;
        gateway.set(
            reference,
            Behaviour::Answer {
                status,
                body: body.into(),
            },
        );
    }
    for (reference, status, _) in cases {
        let options = PassOptions {
            reference: Some((dm(), reference.into())),
            ..PassOptions::default()
        };
        for _ in 0..2 {
            let summary = pass(store, &config(&gateway), &options, None, &|_, _| {})
                .await
                .unwrap();
            assert_eq!(summary.count(Outcome::Error), 1, "{reference}: {summary:?}");
            let aborted = summary.aborted.unwrap_or_default();
            assert!(
                aborted.contains(&format!("refused the request ({status} ")),
                "{reference}: {aborted}"
            );
        }
        untouched(store, reference).await;
    }
    assert!(store.inbox_counts(&dm()).await.unwrap().is_empty());
}
on_both_stores!(a_4xx_other_than_not_found_never_abandons);

/// A refusal stops the pass where it is: answers before it are applied, payments after it are
/// not asked about. A 5xx is about one call and does not stop it.
async fn a_refusal_stops_the_pass_where_it_is_but_a_5xx_does_not(store: &Store) {
    let gateway = FakePaystack::start(KEY).await.unwrap();
    let now = now_ms();
    for (i, r) in ["ord_down", "ord_paid", "ord_refused", "ord_after"]
        .into_iter()
        .enumerate()
    {
        // Oldest first is the order of the pass.
        order_at(store, r, 500_000, now - 3 * 3600 * 1000 + i as i64 * 1000).await;
    }
    gateway.set(
        "ord_down",
        Behaviour::Answer {
            status: 503,
            body: r#"{"status":false,"message":"Service unavailable"}"#.into(),
        },
    );
    gateway.set("ord_paid", FakePaystack::success(7, 500_000));
    gateway.set("ord_refused", invalid_key(401));
    // ord_after would be not found: abandoned, had the pass gone on.
    let summary = run(store, &config(&gateway)).await;

    let asked: Vec<String> = gateway
        .requests()
        .into_iter()
        .map(|r| r.reference)
        .collect();
    assert_eq!(asked, ["ord_down", "ord_paid", "ord_refused"]);
    assert_eq!(summary.checked, 3);
    assert_eq!(summary.count(Outcome::Error), 2, "{summary:?}");
    assert_eq!(summary.count(Outcome::Paid), 1);
    assert_eq!(summary.errors.len(), 2);
    assert!(summary.errors[0].starts_with("ord_down: gateway answered 503"));
    assert!(summary
        .aborted
        .is_some_and(|a| a.contains("401 Invalid key")));
    assert_eq!(
        store
            .order(&dm(), "ord_paid")
            .await
            .unwrap()
            .unwrap()
            .status,
        OrderStatus::Paid
    );
    for r in ["ord_down", "ord_refused", "ord_after"] {
        untouched(store, r).await;
    }
}
on_both_stores!(a_refusal_stops_the_pass_where_it_is_but_a_5xx_does_not);

async fn a_late_webhook_after_the_reconciler_changes_nothing(store: &Store) {
    let gateway = FakePaystack::start(KEY).await.unwrap();
    order(store, "ord_1", 500_000).await;
    gateway.set("ord_1", FakePaystack::success(42, 500_000));
    run(store, &config(&gateway)).await;
    let late = apply_batch(store, &[charge(42, "ord_1", 500_000, 17_500)], None)
        .await
        .unwrap();
    assert_eq!(late.ignored, 1, "a recorded no-op");
    assert_eq!(store.journal_for(&dm(), "ord_1").await.unwrap().len(), 1);
    assert_eq!(
        store.payment(&dm(), "ord_1").await.unwrap().unwrap().status,
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
        assert_eq!(store.journal_for(&dm(), &r).await.unwrap().len(), 1, "{r}");
        assert_eq!(
            store.order(&dm(), &r).await.unwrap().unwrap().status,
            OrderStatus::Paid
        );
    }
    assert_eq!(common::unbalanced_transactions(store).await, 0);
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
        s.store
            .order(&dm(), "ord_slow")
            .await
            .unwrap()
            .unwrap()
            .status,
        OrderStatus::Pending
    );
    assert_eq!(
        s.store
            .order(&dm(), "ord_fine")
            .await
            .unwrap()
            .unwrap()
            .status,
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
                .order(&dm(), &format!("ord_{i}"))
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

/// The configured key is the default merchant's gateway account: another merchant's pending
/// payment, old enough that "not found" would abandon it, is never asked about, and naming
/// one is refused rather than checked with the wrong account.
async fn another_merchants_payments_are_not_reconciled_with_the_default_key(store: &Store) {
    let gateway = FakePaystack::start(KEY).await.unwrap();
    let acme = common::add_merchant(store, "acme").await;
    store
        .create_order(
            &acme,
            "ord_theirs",
            MinorUnits(500_000),
            Currency::NGN,
            None,
            now_ms() - 2 * 3600 * 1000,
        )
        .await
        .unwrap();
    old_order(store, "ord_ours").await;
    gateway.set("ord_theirs", Behaviour::NotFound);
    gateway.set("ord_ours", Behaviour::NotFound);
    let summary = run(store, &config(&gateway)).await;
    assert_eq!(summary.checked, 1, "{summary:?}");
    assert!(gateway
        .requests()
        .iter()
        .all(|r| r.reference != "ord_theirs"));
    let theirs = store.order(&acme, "ord_theirs").await.unwrap().unwrap();
    assert_eq!(theirs.status, OrderStatus::Pending);
    let ours = store.order(&dm(), "ord_ours").await.unwrap().unwrap();
    assert_eq!(ours.status, OrderStatus::Abandoned);
    let named = PassOptions {
        reference: Some((acme, "ord_theirs".into())),
        ..PassOptions::default()
    };
    assert!(pass(store, &config(&gateway), &named, None, &|_, _| {})
        .await
        .is_err());
}
on_both_stores!(another_merchants_payments_are_not_reconciled_with_the_default_key);

/// An order opened for Flutterwave is never asked of Paystack: "not found" there would
/// abandon a payment that is another gateway's to settle.
async fn another_gateways_payments_are_not_asked_of_paystack(store: &Store) {
    let gateway = FakePaystack::start(KEY).await.unwrap();
    store
        .create_order_via(
            &dm(),
            "ord_flw",
            MinorUnits(500_000),
            Currency::NGN,
            keffi_shared::Provider::Flutterwave,
            None,
            now_ms() - 48 * 3600 * 1000,
        )
        .await
        .unwrap();
    old_order(store, "ord_ours").await;
    gateway.set("ord_ours", Behaviour::NotFound);
    let summary = run(store, &config(&gateway)).await;
    assert_eq!(summary.checked, 1, "{summary:?}");
    assert!(gateway.requests().iter().all(|r| r.reference != "ord_flw"));
    let flw = store.order(&dm(), "ord_flw").await.unwrap().unwrap();
    assert_eq!(flw.status, OrderStatus::Pending);
}
on_both_stores!(another_gateways_payments_are_not_asked_of_paystack);
