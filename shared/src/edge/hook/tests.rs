use super::*;
use crate::edge::settings::SOURCES_VAR;
use crate::headers::RequestHeaders;
use crate::scheme::{paystack, VerifyError};

const NOW_MS: i64 = 1_764_000_000_000;

fn settings() -> EdgeSettings {
    EdgeSettings::from_lookup(&|k: &str| match k {
        SOURCES_VAR => Some(
            r#"[{"name":"paystack","provider":"paystack","allow_ips":["52.31.139.75"]},
                {"name":"svix","provider":"standard-webhooks"}]"#
                .into(),
        ),
        "KEFFI_SECRET_PAYSTACK" => Some("sk_test_key".into()),
        "KEFFI_SECRET_SVIX" => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        "KEFFI_MAX_BODY_BYTES" => Some("1000".into()),
        _ => None,
    })
    .unwrap()
}

fn ok_precheck() -> Precheck<'static> {
    Precheck {
        method: "POST",
        client_ip: Some("52.31.139.75"),
        content_length: Some("100"),
        content_type: Some("application/json; charset=utf-8"),
    }
}

#[test]
fn checks_run_in_the_documented_order() {
    let s = settings();
    // Every check fails: the first in the order is the one reported.
    let mut source = "nope";
    let mut req = Precheck {
        method: "GET",
        client_ip: Some("1.2.3.4"),
        content_length: Some("5000"),
        content_type: Some("text/plain"),
    };
    let mut seen = vec![];
    loop {
        match precheck(&s, s.source(source), &req) {
            Ok(_) => break,
            Err(r) => {
                seen.push(r.status());
                match r.status() {
                    405 => req.method = "POST",
                    404 => source = "paystack",
                    403 => req.client_ip = Some("52.31.139.75"),
                    413 => req.content_length = Some("10"),
                    415 => req.content_type = Some("application/json"),
                    other => panic!("unexpected {other}"),
                }
            }
        }
    }
    assert_eq!(seen, [405, 404, 403, 413, 415]);
}

#[test]
fn allow_list_needs_a_listed_address() {
    let s = settings();
    for ip in [None, Some("1.2.3.4"), Some("garbage")] {
        let req = Precheck {
            client_ip: ip,
            ..ok_precheck()
        };
        assert_eq!(
            precheck(&s, s.source("paystack"), &req).unwrap_err(),
            Rejection::IpNotAllowed
        );
    }
    // A source without an allow-list takes any address.
    let req = Precheck {
        client_ip: None,
        content_type: None,
        ..ok_precheck()
    };
    assert_eq!(precheck(&s, s.source("svix"), &req).unwrap().name, "svix");
}

#[test]
fn json_is_required_only_where_the_provider_always_sends_it() {
    let s = settings();
    for ct in [None, Some("text/plain"), Some("application/jsonx")] {
        let req = Precheck {
            content_type: ct,
            ..ok_precheck()
        };
        assert_eq!(
            precheck(&s, s.source("paystack"), &req).unwrap_err(),
            Rejection::UnsupportedMediaType
        );
    }
    let req = Precheck {
        content_type: Some("APPLICATION/JSON"),
        ..ok_precheck()
    };
    assert!(precheck(&s, s.source("paystack"), &req).is_ok());
}

#[test]
fn a_signed_delivery_becomes_an_envelope_on_its_shard() {
    let s = settings();
    let body = br#"{"event":"charge.success","data":{"id":42,"reference":"ord_1"}}"#.to_vec();
    let headers = RequestHeaders::new()
        .with(
            "x-paystack-signature",
            paystack::sign(b"sk_test_key", &body),
        )
        .with("content-type", "application/json");
    let source = precheck(&s, s.source("paystack"), &ok_precheck()).unwrap();
    let admitted = admit(&s, source, &headers, body.clone(), NOW_MS).unwrap();
    assert_eq!(admitted.envelope.key.as_str(), "paystack:charge.success:42");
    assert_eq!(admitted.envelope.source, "paystack");
    assert_eq!(admitted.envelope.body, body);
    assert_eq!(admitted.envelope.received_at_ms, NOW_MS);
    assert_eq!(admitted.shard, shard_for(&admitted.envelope.key, 4));
}

#[test]
fn body_checks_run_size_then_signature_then_key() {
    let s = settings();
    let source = precheck(&s, s.source("paystack"), &ok_precheck()).unwrap();
    let big = vec![b' '; 1001];
    let unsigned = RequestHeaders::new();
    assert_eq!(
        admit(&s, source, &unsigned, big, NOW_MS).unwrap_err(),
        Rejection::PayloadTooLarge { limit: 1000 }
    );
    assert_eq!(
        admit(&s, source, &unsigned, b"not json".to_vec(), NOW_MS).unwrap_err(),
        Rejection::Signature(VerifyError::MissingHeader("x-paystack-signature"))
    );
    let body = b"not json".to_vec();
    let signed = RequestHeaders::new().with(
        "x-paystack-signature",
        paystack::sign(b"sk_test_key", &body),
    );
    assert_eq!(
        admit(&s, source, &signed, body, NOW_MS)
            .unwrap_err()
            .status(),
        400
    );
}

#[test]
fn timestamped_schemes_use_the_edge_clock() {
    use crate::scheme::standard_webhooks;
    let s = settings();
    let source = s.source("svix").unwrap();
    let key = standard_webhooks::parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let body = br#"{"type":"invoice.paid"}"#.to_vec();
    let signed_at = NOW_MS / 1000 - 1000;
    let headers = RequestHeaders::new()
        .with("webhook-id", "msg_1")
        .with("webhook-timestamp", signed_at.to_string())
        .with(
            "webhook-signature",
            standard_webhooks::sign(key.expose(), "msg_1", signed_at, &body),
        );
    assert_eq!(
        admit(&s, source, &headers, body.clone(), NOW_MS)
            .unwrap_err()
            .code(),
        "timestamp_outside_tolerance"
    );
    assert!(admit(&s, source, &headers, body, (signed_at + 10) * 1000).is_ok());
}
