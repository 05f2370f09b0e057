use super::*;
use crate::headers::RequestHeaders;

const PAYSTACK_CHARGE: &[u8] = include_bytes!("../../tests/fixtures/paystack/charge-success.json");
const PAYSTACK_REFUND_PROCESSED: &[u8] =
    include_bytes!("../../tests/fixtures/paystack/refund-processed.json");
const PAYSTACK_REFUND_PENDING: &[u8] =
    include_bytes!("../../tests/fixtures/paystack/refund-pending.json");

fn derive(provider: Provider, body: &[u8]) -> Result<DerivedEvent, KeyError> {
    derive_event(provider, &RequestHeaders::new(), body)
}

#[test]
fn paystack_key_is_provider_event_and_transaction_id() {
    let d = derive(Provider::Paystack, PAYSTACK_CHARGE).unwrap();
    assert_eq!(d.key.as_str(), "paystack:charge.success:302961");
    assert_eq!(d.event_type, "charge.success");
}

#[test]
fn paystack_resent_identical_body_yields_the_same_key() {
    let a = derive(Provider::Paystack, PAYSTACK_CHARGE).unwrap();
    let resent: Vec<u8> = PAYSTACK_CHARGE.into();
    let b = derive(Provider::Paystack, &resent).unwrap();
    assert_eq!(a, b);
}

/// A retry that Paystack re-serialised (whitespace, field order) is still the same event.
#[test]
fn paystack_reserialised_retry_yields_the_same_key() {
    let value: serde_json::Value = serde_json::from_slice(PAYSTACK_CHARGE).unwrap();
    let compact = serde_json::to_vec(&value).unwrap();
    assert_ne!(compact, PAYSTACK_CHARGE);
    assert_eq!(
        derive(Provider::Paystack, &compact).unwrap().key,
        derive(Provider::Paystack, PAYSTACK_CHARGE).unwrap().key
    );
}

#[test]
fn another_event_for_the_same_transaction_yields_another_key() {
    let success = br#"{"event":"charge.success","data":{"id":42,"reference":"r"}}"#;
    let refund = br#"{"event":"refund.processed","data":{"id":42,"reference":"r"}}"#;
    let a = derive(Provider::Paystack, success).unwrap();
    let b = derive(Provider::Paystack, refund).unwrap();
    assert_ne!(a.key, b.key);
    assert_eq!(b.key.as_str(), "paystack:refund.processed:42");
}

#[test]
fn paystack_refunds_use_the_refund_reference_or_the_body_hash() {
    let processed = derive(Provider::Paystack, PAYSTACK_REFUND_PROCESSED).unwrap();
    assert_eq!(
        processed.key.as_str(),
        "paystack:refund.processed:132013318360"
    );
    let pending = derive(Provider::Paystack, PAYSTACK_REFUND_PENDING).unwrap();
    let hash = hex::encode(Sha256::digest(PAYSTACK_REFUND_PENDING));
    assert_eq!(
        pending.key.as_str(),
        format!("paystack:refund.pending:sha256:{hash}")
    );
}

#[test]
fn string_ids_and_large_ids_are_kept_verbatim() {
    let body = br#"{"event":"charge.completed","data":{"id":"4099260516"}}"#;
    assert_eq!(
        derive(Provider::Flutterwave, body).unwrap().key.as_str(),
        "flutterwave:charge.completed:4099260516"
    );
    let big = br#"{"event":"charge.success","data":{"id":18446744073709551615}}"#;
    assert_eq!(
        derive(Provider::Paystack, big).unwrap().key.as_str(),
        "paystack:charge.success:18446744073709551615"
    );
}

#[test]
fn flutterwave_legacy_event_type_is_read() {
    let body = br#"{"event.type":"CARD_TRANSACTION","id":1,"data":{"id":7}}"#;
    let d = derive(Provider::Flutterwave, body).unwrap();
    assert_eq!(d.key.as_str(), "flutterwave:CARD_TRANSACTION:7");
}

#[test]
fn bodies_without_a_usable_id_fall_back_to_their_hash() {
    for body in [
        &br#"{"event":"charge.success","data":{}}"#[..],
        br#"{"event":"charge.success","data":{"id":""}}"#,
        br#"{"event":"charge.success","data":{"id":1.5}}"#,
        br#"{"event":"charge.success","data":{"id":{"x":1}}}"#,
        br#"{"event":5,"data":{"id":1}}"#,
    ] {
        let d = derive(Provider::Paystack, body).unwrap();
        let hash = hex::encode(Sha256::digest(body));
        assert!(
            d.key.as_str().ends_with(&format!(":sha256:{hash}")),
            "{}",
            d.key
        );
    }
    // Two different events without ids never share a key.
    let a = derive(Provider::Paystack, br#"{"event":"x","data":{"a":1}}"#).unwrap();
    let b = derive(Provider::Paystack, br#"{"event":"x","data":{"a":2}}"#).unwrap();
    assert_ne!(a.key, b.key);
}

#[test]
fn non_json_bodies_are_refused_for_body_keyed_providers() {
    for provider in [Provider::Paystack, Provider::Flutterwave, Provider::Stripe] {
        for body in [&b"not json"[..], b"[1,2]", b"", b"\"s\""] {
            assert_eq!(
                derive(provider, body),
                Err(KeyError::NotJsonObject),
                "{provider}"
            );
        }
    }
}

#[test]
fn stripe_key_is_the_event_id() {
    let body = include_bytes!("../../tests/fixtures/stripe/event_test_signature.json");
    let d = derive(Provider::Stripe, body).unwrap();
    assert_eq!(d.key.as_str(), "stripe:evt_123");
    assert_eq!(d.event_type, "customer.created");
}

#[test]
fn standard_webhooks_key_is_the_message_id() {
    let h = RequestHeaders::new().with("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek");
    let d = derive_event(Provider::StandardWebhooks, &h, b"not even json").unwrap();
    assert_eq!(
        d.key.as_str(),
        "standard-webhooks:msg_p5jXN8AQM9LWM0D4loKWxJek"
    );
    assert_eq!(d.event_type, UNKNOWN_EVENT_TYPE);
    let d = derive_event(
        Provider::StandardWebhooks,
        &h,
        br#"{"type":"invoice.paid"}"#,
    )
    .unwrap();
    assert_eq!(d.event_type, "invoice.paid");
    assert_eq!(
        derive(Provider::StandardWebhooks, b"{}"),
        Err(KeyError::MissingHeader("webhook-id"))
    );
}

#[test]
fn long_or_unprintable_components_are_hashed() {
    let long_id = "x".repeat(500);
    let body = format!(r#"{{"event":"charge.success","data":{{"id":"{long_id}"}}}}"#);
    let d = derive(Provider::Paystack, body.as_bytes()).unwrap();
    assert!(d.key.as_str().len() <= MAX_KEY_LEN);
    let spaced = br#"{"event":"charge success","data":{"id":"a b"}}"#;
    let d = derive(Provider::Paystack, spaced).unwrap();
    assert!(
        d.key.as_str().bytes().all(|b| b.is_ascii_graphic()),
        "{}",
        d.key
    );
}

#[test]
fn keys_parse_only_when_valid() {
    assert!(IdempotencyKey::parse("paystack:charge.success:1").is_ok());
    assert!(IdempotencyKey::parse("").is_err());
    assert!(IdempotencyKey::parse("a b").is_err());
    assert!(IdempotencyKey::parse("x".repeat(MAX_KEY_LEN + 1)).is_err());
    assert!(serde_json::from_str::<IdempotencyKey>("\"a\\nb\"").is_err());
}
