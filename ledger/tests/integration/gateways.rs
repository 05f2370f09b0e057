//! Flutterwave moves money: its published `charge.completed` sample applies, in minor units
//! (its amounts are naira, decimals included), to an order opened for the default gateway,
//! which is then the payment's gateway, with its fee and balance accounts; a failed charge
//! fails the order; an amount that would round is dead with the reason; and a charge of the
//! other gateway for the paid reference, with the same transaction id, is a second capture
//! (journaled, held for review), not the first one again. Stripe's PaymentIntent events pay and fail orders too, and its
//! `charge.refunded`, which says the refunds so far in all, refunds each part once.

use crate::common::{self, dm, order, unbalanced_transactions};

use keffi_ledger::domain::{OrderStatus, PaymentStatus};
use keffi_ledger::pipeline::{apply_batch, Incoming};
use keffi_ledger::store::{now_ms, InboxStatus, Store};
use keffi_shared::headers::RequestHeaders;
use keffi_shared::{derive_event, Envelope, MinorUnits, Provider};

/// A provider's published sample, kept with the payload parsers in
/// `shared/tests/fixtures/` (see its README for where each comes from).
fn fixture(path: &str) -> Vec<u8> {
    let file = keffi_tests::workspace::root()
        .join("shared/tests/fixtures")
        .join(path);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn flutterwave_sample() -> Vec<u8> {
    fixture("flutterwave/charge-completed.json")
}

/// A Flutterwave webhook body, as the edge would have stored it.
fn flutterwave(body: Vec<u8>) -> Incoming {
    delivered(Provider::Flutterwave, body)
}

/// A body of `provider`'s, as the edge would have stored it from its source of that name.
fn delivered(provider: Provider, body: Vec<u8>) -> Incoming {
    let headers = RequestHeaders::new().with("content-type", "application/json");
    let derived = derive_event(provider, &headers, &body).unwrap();
    Incoming {
        merchant: dm(),
        envelope: Envelope::new(
            provider.as_str(),
            provider,
            derived.key,
            derived.event_type,
            1_764_000_000_000,
            &headers,
            body,
        ),
        origin: None,
    }
}

/// An order of `amount` cents, opened for Stripe.
async fn stripe_order(store: &Store, reference: &str, amount: i64) {
    store
        .create_order_via(
            &dm(),
            reference,
            MinorUnits(amount),
            "USD".parse().unwrap(),
            Provider::Stripe,
            None,
            now_ms(),
        )
        .await
        .unwrap();
}

fn charge(id: u64, reference: &str, amount: &str, fee: &str, status: &str) -> Incoming {
    flutterwave(
        format!(
            r#"{{"event":"charge.completed","data":{{"id":{id},"tx_ref":"{reference}","amount":{amount},
            "charged_amount":{amount},"app_fee":{fee},"currency":"NGN","status":"{status}",
            "payment_type":"card","processor_response":"Declined by bank"}}}}"#
        )
        .into_bytes(),
    )
}

async fn the_published_sample_pays_an_order_in_minor_units(store: &Store) {
    order(store, "Links-616626414629", 10_000).await;
    let report = apply_batch(store, &[flutterwave(flutterwave_sample())], None)
        .await
        .unwrap();
    assert_eq!(report.applied, 1, "{report:?}");
    let o = store
        .order(&dm(), "Links-616626414629")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.status, OrderStatus::Paid);
    let p = store
        .payment(&dm(), "Links-616626414629")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.gateway,
        Provider::Flutterwave,
        "paid through the other gateway: its payment"
    );
    assert_eq!((p.amount, p.fees), (MinorUnits(10_000), MinorUnits(140)));
    assert_eq!(p.gateway_id.as_deref(), Some("285959875"));
    let journal = store
        .journal_for(&dm(), "Links-616626414629")
        .await
        .unwrap();
    let entries: Vec<(String, i64)> = journal[0]
        .entries
        .iter()
        .map(|e| (e.account.clone(), e.amount))
        .collect();
    for want in [
        ("sales".to_owned(), -10_000),
        ("fees:flutterwave".to_owned(), 140),
        ("merchant_balance:flutterwave".to_owned(), 9_860),
    ] {
        assert!(entries.contains(&want), "{entries:?}");
    }
    // Flutterwave's retry of the same event is a duplicate.
    let again = apply_batch(store, &[flutterwave(flutterwave_sample())], None)
        .await
        .unwrap();
    assert_eq!(again.duplicates, 1);
    assert_eq!(unbalanced_transactions(store).await, 0);
}
on_both_stores!(the_published_sample_pays_an_order_in_minor_units);

async fn failures_and_amounts_that_would_round(store: &Store) {
    order(store, "ord_fail", 50_000).await;
    order(store, "ord_odd", 50_000).await;
    let report = apply_batch(
        store,
        &[
            charge(1, "ord_fail", "500", "0", "failed"),
            charge(2, "ord_odd", "500.005", "7", "successful"),
            charge(3, "ord_pending", "500", "0", "pending"),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!((report.applied, report.dead), (1, 1), "{report:?}");
    let failed = store.order(&dm(), "ord_fail").await.unwrap().unwrap();
    assert_eq!(failed.status, OrderStatus::Failed);
    let odd = store.order(&dm(), "ord_odd").await.unwrap().unwrap();
    assert_eq!(
        odd.status,
        OrderStatus::Pending,
        "never rounded into a payment"
    );
    let dm = dm();
    let dead = store
        .list_events_where(
            &keffi_ledger::store::timeline::EventFilter {
                status: Some(InboxStatus::Dead),
                ..keffi_ledger::store::timeline::EventFilter::of(&dm)
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert!(
        dead[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("more decimals"),
        "{dead:?}"
    );
}
on_both_stores!(failures_and_amounts_that_would_round);

/// Paid through Flutterwave with transaction 1001, then through Paystack with its own 1001:
/// another capture, not the first arriving again. The money is real: it is journaled beside
/// the first, the order waits for a human, and Paystack's refund of its capture comes out of
/// the payment while the order stays for review.
async fn the_same_id_from_the_other_gateway_is_another_capture(store: &Store) {
    order(store, "ord_1", 500_000).await;
    apply_batch(
        store,
        &[charge(1001, "ord_1", "5000", "75", "successful")],
        None,
    )
    .await
    .unwrap();
    let report = apply_batch(
        store,
        &[common::charge(1001, "ord_1", 500_000, 7_500)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(report.applied, 1, "{report:?}");
    let p = store.payment(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(
        (p.gateway, p.status),
        (Provider::Flutterwave, PaymentStatus::Success)
    );
    assert_eq!(p.also_captured.len(), 1);
    assert_eq!(p.also_captured[0].gateway, Provider::Paystack);
    assert_eq!(p.captured_total(), MinorUnits(1_000_000));
    let o = store.order(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::NeedsReview);
    assert!(o.review_reason.unwrap().contains("captured twice"));
    let kinds: Vec<String> = store
        .journal_for(&dm(), "ord_1")
        .await
        .unwrap()
        .iter()
        .map(|t| t.kind.clone())
        .collect();
    assert_eq!(
        kinds,
        ["charge", "charge"],
        "both captures are in the books"
    );
    // Its retry is nothing new.
    let again = apply_batch(
        store,
        &[common::charge(1001, "ord_1", 500_000, 7_500)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(again.duplicates, 1);
    let refunded = apply_batch(store, &[common::refund("ord_1", "rf_dup", 500_000)], None)
        .await
        .unwrap();
    assert_eq!(refunded.applied, 1, "{refunded:?}");
    let p = store.payment(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(
        (p.refunded, p.status),
        (MinorUnits(500_000), PaymentStatus::PartiallyRefunded)
    );
    let o = store.order(&dm(), "ord_1").await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::NeedsReview, "a human closes it");
    assert_eq!(unbalanced_transactions(store).await, 0);
}
on_both_stores!(the_same_id_from_the_other_gateway_is_another_capture);

/// Stripe's PaymentIntent events: the fixture pays its order (the reference from
/// `metadata.keffi_reference`), in the currency's smallest unit as Stripe writes it (UGX with
/// its two always-zero decimals dropped), and a failed payment fails its order.
async fn stripe_payment_intents_pay_and_fail_orders(store: &Store) {
    stripe_order(store, "ord_stripe_1", 1099).await;
    for reference in ["ord_gone", "ord_no"] {
        stripe_order(store, reference, 5000).await;
    }
    let failed = serde_json::json!({"id": "evt_f", "type": "payment_intent.payment_failed", "data": {"object": {
        "id": "pi_f", "amount": 5000, "currency": "usd", "metadata": {"keffi_reference": "ord_no"},
        "last_payment_error": {"message": "Your card was declined."}}}});
    let canceled = serde_json::json!({"id": "evt_c", "type": "payment_intent.canceled", "data": {"object": {
        "id": "pi_c", "amount": 5000, "currency": "usd", "metadata": {"keffi_reference": "ord_gone"}}}});
    let odd = serde_json::json!({"id": "evt_u", "type": "payment_intent.succeeded", "data": {"object": {
        "id": "pi_u", "amount": 150_050, "amount_received": 150_050, "currency": "ugx"}}});
    let report = apply_batch(
        store,
        &[
            delivered(
                Provider::Stripe,
                fixture("stripe/payment-intent-succeeded.json"),
            ),
            delivered(Provider::Stripe, serde_json::to_vec(&failed).unwrap()),
            delivered(Provider::Stripe, serde_json::to_vec(&odd).unwrap()),
            delivered(Provider::Stripe, serde_json::to_vec(&canceled).unwrap()),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!((report.applied, report.dead), (3, 1), "{report:?}");
    let o = store.order(&dm(), "ord_stripe_1").await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::Paid);
    let p = store.payment(&dm(), "ord_stripe_1").await.unwrap().unwrap();
    assert_eq!((p.gateway, p.amount), (Provider::Stripe, MinorUnits(1099)));
    assert_eq!(p.gateway_id.as_deref(), Some("pi_1PgafyB7WZ01zgkWSjxsAJo3"));
    let no = store.order(&dm(), "ord_no").await.unwrap().unwrap();
    assert_eq!(no.status, OrderStatus::Failed);
    let gone = store.order(&dm(), "ord_gone").await.unwrap().unwrap();
    assert_eq!(gone.status, OrderStatus::Abandoned);

    // Two partial refunds say 300 then 500 in all; the 300 again, late, says nothing new.
    let refunded = |event: &str, total: i64| {
        let body = serde_json::json!({"id": event, "type": "charge.refunded", "data": {"object": {
            "id": "ch_1PgafuB7WZ01zgkWXYmPNZs8", "object": "charge", "amount": 1099,
            "amount_refunded": total, "currency": "usd", "payment_intent": "pi_1PgafyB7WZ01zgkWSjxsAJo3",
            "metadata": {"keffi_reference": "ord_stripe_1"}}}});
        delivered(Provider::Stripe, serde_json::to_vec(&body).unwrap())
    };
    let report = apply_batch(
        store,
        &[refunded("evt_r1", 300), refunded("evt_r2", 500)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(report.applied, 2, "{report:?}");
    let late = apply_batch(store, &[refunded("evt_r1_late", 300)], None)
        .await
        .unwrap();
    assert_eq!(late.ignored, 1, "{late:?}");
    let p = store.payment(&dm(), "ord_stripe_1").await.unwrap().unwrap();
    assert_eq!(
        (p.refunded, p.status),
        (MinorUnits(500), PaymentStatus::PartiallyRefunded)
    );
    let refunds: i64 = store
        .journal_for(&dm(), "ord_stripe_1")
        .await
        .unwrap()
        .iter()
        .flat_map(|t| t.entries.iter())
        .filter(|e| e.account == "refunds")
        .map(|e| e.amount)
        .sum();
    assert_eq!(
        refunds, 500,
        "the journal's refunds add up to the last total"
    );
    assert_eq!(unbalanced_transactions(store).await, 0);
}
on_both_stores!(stripe_payment_intents_pay_and_fail_orders);

/// A Stripe dispute names only the PaymentIntent: the pipeline finds the payment whose Stripe
/// transaction it is and holds, then charges back, its money; an inquiry moves nothing; a
/// dispute of a PaymentIntent no payment has waits (parked) on that id. Replaying a stored
/// one finds the same payment.
async fn stripe_disputes_find_their_payment_by_its_payment_intent(store: &Store) {
    stripe_order(store, "ord_d", 2000).await;
    let body =
        |value: serde_json::Value| delivered(Provider::Stripe, serde_json::to_vec(&value).unwrap());
    let paid = body(
        serde_json::json!({"id": "evt_p", "type": "payment_intent.succeeded", "data": {"object": {
        "id": "pi_d", "amount": 2000, "amount_received": 2000, "currency": "usd",
        "metadata": {"keffi_reference": "ord_d"}}}}),
    );
    let dispute = |event: &str, kind: &str, status: &str, pi: &str| {
        body(
            serde_json::json!({"id": event, "type": kind, "data": {"object": {
            "id": "dp_1", "object": "dispute", "amount": 2000, "currency": "usd",
            "charge": "ch_d", "payment_intent": pi, "status": status}}}),
        )
    };
    apply_batch(store, &[paid], None).await.unwrap();
    let report = apply_batch(
        store,
        &[
            dispute(
                "evt_i",
                "charge.dispute.created",
                "warning_needs_response",
                "pi_d",
            ),
            dispute("evt_o", "charge.dispute.created", "needs_response", "pi_d"),
            dispute(
                "evt_x",
                "charge.dispute.created",
                "needs_response",
                "pi_nobody",
            ),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (report.ignored, report.applied, report.parked),
        (1, 1, 1),
        "{report:?}"
    );
    let p = store.payment(&dm(), "ord_d").await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.held()),
        (PaymentStatus::Disputed, MinorUnits(2000))
    );
    let o = store.order(&dm(), "ord_d").await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::Disputed);
    let closed = apply_batch(
        store,
        &[dispute("evt_c", "charge.dispute.closed", "lost", "pi_d")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(closed.applied, 1, "{closed:?}");
    let p = store.payment(&dm(), "ord_d").await.unwrap().unwrap();
    assert_eq!(
        (p.charged_back, p.held(), p.status),
        (MinorUnits(2000), MinorUnits::ZERO, PaymentStatus::Refunded)
    );
    // The parked one waits on the PaymentIntent's id; replayed, it still finds no payment.
    let dm = dm();
    let parked = store
        .list_events_where(
            &keffi_ledger::store::timeline::EventFilter {
                status: Some(InboxStatus::Parked),
                ..keffi_ledger::store::timeline::EventFilter::of(&dm)
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(parked[0].reference.as_deref(), Some("pi_nobody"));
    let again = keffi_ledger::pipeline::replay(store, &dm, parked[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.after, InboxStatus::Parked);
    assert_eq!(unbalanced_transactions(store).await, 0);
}
on_both_stores!(stripe_disputes_find_their_payment_by_its_payment_intent);
