use super::*;
use crate::headers::RequestHeaders;

/// The cross-language vector in every standard-webhooks and Svix library's tests
/// (e.g. standard-webhooks `libraries/python/tests/test_webhooks.py`, `test_sign_function`).
const SW1_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW1_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW1_T: i64 = 1614265330;
const SW1_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW1_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/// The Rust libraries' vector (standard-webhooks `libraries/rust/src/lib.rs`, `test_sign`).
const SW2_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SW2_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const SW2_T: i64 = 1649367553;
const SW2_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const SW2_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

fn headers(id: &str, t: i64, sig: &str) -> RequestHeaders {
    RequestHeaders::new()
        .with("webhook-id", id)
        .with("webhook-timestamp", t.to_string())
        .with("webhook-signature", sig)
}

fn key(secret: &str) -> Vec<u8> {
    parse_secret(secret).unwrap().expose().to_vec()
}

#[test]
fn published_vectors_sign_and_verify() {
    assert_eq!(sign(&key(SW1_SECRET), SW1_ID, SW1_T, SW1_BODY), SW1_SIG);
    assert_eq!(sign(&key(SW2_SECRET), SW2_ID, SW2_T, SW2_BODY), SW2_SIG);
    let sw1 = StandardWebhooks::new(&[SW1_SECRET]).unwrap();
    assert_eq!(
        sw1.verify(&headers(SW1_ID, SW1_T, SW1_SIG), SW1_BODY, SW1_T),
        Ok(())
    );
    let sw2 = StandardWebhooks::new(&[SW2_SECRET]).unwrap();
    assert_eq!(
        sw2.verify(&headers(SW2_ID, SW2_T, SW2_SIG), SW2_BODY, SW2_T),
        Ok(())
    );
}

/// Svix's C# tests sign large payloads of `a`s with the SW1 key, id and timestamp.
#[test]
fn published_large_payload_vectors() {
    for (n, expected) in [
        (
            1024 * 1024,
            "v1,txpEUxqWZJ5nteTnymUVa+7C4NHpBeXJ6CsBAW0c3/A=",
        ),
        (
            256 * 1024,
            "v1,Mw4Pe2WgApuT7NSqnSq0PQPV9gbLdggCl9B865x5Xh0=",
        ),
        (
            256 * 1024 - 1,
            "v1,NTItnqyWMoFhk2Bbe5V/BMdcFRWgcSQaTgqLHX7FC7c=",
        ),
    ] {
        let body = vec![b'a'; n];
        assert_eq!(
            sign(&key(SW1_SECRET), SW1_ID, SW1_T, &body),
            expected,
            "{n}"
        );
    }
}

/// The libraries' decoy lists: a valid entry among wrong ones and other versions verifies.
#[test]
fn published_decoys_around_the_valid_signature() {
    let decoy_v1 = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
    let decoy_v2 = "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
    let sw1 = StandardWebhooks::new(&[SW1_SECRET]).unwrap();
    let list = format!("{decoy_v1} {decoy_v2} {SW1_SIG} {decoy_v1}");
    assert_eq!(
        sw1.verify(&headers(SW1_ID, SW1_T, &list), SW1_BODY, SW1_T),
        Ok(())
    );
    let without = format!("{decoy_v1} {decoy_v2} {decoy_v1}");
    assert_eq!(
        sw1.verify(&headers(SW1_ID, SW1_T, &without), SW1_BODY, SW1_T),
        Err(VerifyError::BadSignature)
    );
}

/// Wrong signatures from the libraries' tests: a one-character change, bad base64, empty.
#[test]
fn published_wrong_signatures_fail() {
    let sw1 = StandardWebhooks::new(&[SW1_SECRET]).unwrap();
    for bad in [
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLawdd",
        "v1,dawfeoifkpqwoekfpqoekf",
        "v1,",
    ] {
        assert_eq!(
            sw1.verify(&headers(SW1_ID, SW1_T, bad), SW1_BODY, SW1_T),
            Err(VerifyError::BadSignature),
            "{bad}"
        );
    }
    let sw2 = StandardWebhooks::new(&[SW2_SECRET]).unwrap();
    assert_eq!(
        sw2.verify(
            &headers(
                SW2_ID,
                SW2_T,
                "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU="
            ),
            SW2_BODY,
            SW2_T
        ),
        Err(VerifyError::BadSignature)
    );
}

/// The libraries allow 300 s either way, inclusive, and refuse 301.
#[test]
fn tolerance_matches_the_libraries() {
    let sw1 = StandardWebhooks::new(&[SW1_SECRET]).unwrap();
    let h = headers(SW1_ID, SW1_T, SW1_SIG);
    assert_eq!(sw1.verify(&h, SW1_BODY, SW1_T + 300), Ok(()));
    assert_eq!(sw1.verify(&h, SW1_BODY, SW1_T - 300), Ok(()));
    for now in [SW1_T + 301, SW1_T - 301] {
        assert!(matches!(
            sw1.verify(&h, SW1_BODY, now),
            Err(VerifyError::TimestampOutsideTolerance { .. })
        ));
    }
}

#[test]
fn timestamps_must_be_integers() {
    let sw1 = StandardWebhooks::new(&[SW1_SECRET]).unwrap();
    for t in ["161426533.0", "invalid timestamp", ""] {
        let h = RequestHeaders::new()
            .with("webhook-id", SW1_ID)
            .with("webhook-timestamp", t)
            .with("webhook-signature", SW1_SIG);
        assert!(sw1.verify(&h, SW1_BODY, SW1_T).is_err(), "{t:?}");
    }
}

#[test]
fn svix_header_names_are_accepted() {
    let sw1 = StandardWebhooks::new(&[SW1_SECRET]).unwrap();
    let h = RequestHeaders::new()
        .with("svix-id", SW1_ID)
        .with("svix-timestamp", SW1_T.to_string())
        .with("svix-signature", SW1_SIG);
    assert_eq!(sw1.verify(&h, SW1_BODY, SW1_T), Ok(()));
    assert_eq!(message_id(&h), Some(SW1_ID));
}

#[test]
fn each_missing_header_is_named() {
    let sw1 = StandardWebhooks::new(&[SW1_SECRET]).unwrap();
    let full = [
        ("webhook-id", SW1_ID),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", SW1_SIG),
    ];
    for skip in 0..3 {
        let h: RequestHeaders = full
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, kv)| *kv)
            .collect();
        assert_eq!(
            sw1.verify(&h, SW1_BODY, SW1_T),
            Err(VerifyError::MissingHeader(full[skip].0))
        );
    }
    assert!(matches!(
        sw1.verify(&headers(SW1_ID, SW1_T, "v2,abc"), SW1_BODY, SW1_T),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

/// The Python library accepts secrets with their base64 padding left off; so do we.
#[test]
fn secrets_parse_with_or_without_prefix_and_padding() {
    let k = key(SW1_SECRET);
    assert_eq!(key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), k);
    let padded = B64.encode([7u8; 31]);
    assert!(padded.ends_with('='));
    assert_eq!(
        key(&format!("whsec_{}", padded.trim_end_matches('='))),
        vec![7u8; 31]
    );
    assert!(parse_secret("whsec_").is_err());
    assert!(parse_secret("").is_err());
    assert!(parse_secret("whsec_not base64!").is_err());
}
