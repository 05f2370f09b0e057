use super::*;
use crate::headers::RequestHeaders;

fn headers(value: &str) -> RequestHeaders {
    RequestHeaders::new().with("Stripe-Signature", value)
}

/// stripe-dotnet's fixed vector (`src/StripeTests/Services/Events/EventUtilityTest.cs`):
/// secret `webhook_secret`, t=1533204620, over its `event_test_signature.json` fixture,
/// trailing newline included. Its `v0` entry is a decoy that must be ignored.
const DOTNET_PAYLOAD: &[u8] =
    include_bytes!("../../../tests/fixtures/stripe/event_test_signature.json");
const DOTNET_HEADER: &str = "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef";
const DOTNET_T: i64 = 1533204620;

fn dotnet() -> Stripe {
    Stripe::new(&["webhook_secret"]).unwrap()
}

#[test]
fn stripe_dotnet_vector_verifies() {
    assert_eq!(DOTNET_PAYLOAD.len(), 484);
    assert_eq!(
        signature(b"webhook_secret", DOTNET_T, DOTNET_PAYLOAD),
        "2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7"
    );
    assert_eq!(
        dotnet().verify(&headers(DOTNET_HEADER), DOTNET_PAYLOAD, DOTNET_T + 100),
        Ok(())
    );
}

#[test]
fn stripe_dotnet_vector_rejects_outdated_timestamp() {
    assert!(matches!(
        dotnet().verify(&headers(DOTNET_HEADER), DOTNET_PAYLOAD, DOTNET_T + 400),
        Err(VerifyError::TimestampOutsideTolerance {
            skew_seconds: 400,
            ..
        })
    ));
}

#[test]
fn stripe_dotnet_vector_rejects_changed_payload() {
    let mut body = DOTNET_PAYLOAD.to_vec();
    body.extend_from_slice(b"this_changes_the_json");
    assert_eq!(
        dotnet().verify(&headers(DOTNET_HEADER), &body, DOTNET_T),
        Err(VerifyError::BadSignature)
    );
}

/// The malformed headers stripe-dotnet's tests require to be refused.
#[test]
fn stripe_dotnet_malformed_headers_are_refused() {
    for bad in [
        "t=,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7",
        "t,v1=,v0=",
        "t,v1=,v0",
        "t,v1=,",
        "t,,",
        ",,",
        "t",
    ] {
        let got = dotnet().verify(&headers(bad), DOTNET_PAYLOAD, DOTNET_T);
        assert!(
            matches!(got, Err(VerifyError::MalformedHeader { .. })),
            "{bad:?} gave {got:?}"
        );
    }
}

/// stripe-node/python/ruby tests: the HMAC key is the whole secret, `whsec_` prefix included.
#[test]
fn secret_is_used_with_its_prefix() {
    let body = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
    let s = Stripe::new(&["whsec_test_secret"]).unwrap();
    let header = sign(b"whsec_test_secret", 1_700_000_000, body);
    assert_eq!(s.verify(&headers(&header), body, 1_700_000_000), Ok(()));
    let header = sign(b"test_secret", 1_700_000_000, body);
    assert_eq!(
        s.verify(&headers(&header), body, 1_700_000_000),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn any_v1_entry_may_match_and_extra_schemes_are_ignored() {
    let body = br#"{"id":"evt_1"}"#;
    let s = Stripe::new(&["whsec_a"]).unwrap();
    let good = signature(b"whsec_a", 10, body);
    let header = format!("t=10,v1=bad_signature,v1={good},v0=zz,scheme=x");
    assert_eq!(s.verify(&headers(&header), body, 10), Ok(()));
    assert!(matches!(
        s.verify(&headers(&format!("t=10,v0={good}")), body, 10),
        Err(VerifyError::MalformedHeader {
            reason: "no v1 signature",
            ..
        })
    ));
}

/// stripe-go: while a secret is rolled, Stripe signs with both; either secret verifies.
#[test]
fn rolled_secrets_verify_either_way() {
    let body = br#"{"id":"evt_1"}"#;
    let header = format!(
        "t=10,v1={},v1={}",
        signature(b"whsec_old", 10, body),
        signature(b"whsec_new", 10, body)
    );
    for secret in ["whsec_old", "whsec_new"] {
        let s = Stripe::new(&[secret]).unwrap();
        assert_eq!(s.verify(&headers(&header), body, 10), Ok(()));
    }
    let s = Stripe::new(&["whsec_other", "whsec_new"]).unwrap();
    assert_eq!(
        s.verify(&headers(&sign(b"whsec_new", 10, body)), body, 10),
        Ok(())
    );
}

#[test]
fn future_timestamps_beyond_tolerance_are_refused_too() {
    let body = b"{}";
    let s = Stripe::new(&["whsec_a"]).unwrap().with_tolerance(10);
    let h = headers(&sign(b"whsec_a", 100, body));
    assert_eq!(s.verify(&h, body, 90), Ok(()));
    assert!(s.verify(&h, body, 89).is_err());
    assert!(s.verify(&h, body, 111).is_err());
}

#[test]
fn forged_signatures_fail_on_signature_before_time() {
    let body = b"{}";
    let s = Stripe::new(&["whsec_a"]).unwrap();
    let forged = sign(b"whsec_guess", 1, body);
    assert_eq!(
        s.verify(&headers(&forged), body, 1_000_000),
        Err(VerifyError::BadSignature)
    );
}
