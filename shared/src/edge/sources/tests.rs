use std::cell::Cell;

use proptest::prelude::*;

use super::seal::{SealKeys, NONCE_LEN};
use super::*;
use crate::headers::RequestHeaders;
use crate::scheme::{paystack, SignatureScheme};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const T0: i64 = 1_764_000_000_000;

struct Sealer {
    keys: SealKeys,
    name: String,
    nonce: Cell<u8>,
}

impl Sealer {
    fn new(name: &str) -> Self {
        Sealer {
            keys: SealKeys::parse(Some(KEY)).unwrap(),
            name: name.into(),
            nonce: Cell::new(0),
        }
    }
    fn seal(&self) -> impl Fn(&str) -> Result<String, SealError> + '_ {
        move |s| {
            self.nonce.set(self.nonce.get().wrapping_add(1));
            Ok(self.keys.seal(&self.name, s, [self.nonce.get(); NONCE_LEN]))
        }
    }
    fn open(&self) -> impl Fn(&str) -> Result<String, SealError> + '_ {
        move |s| self.keys.open(&self.name, s)
    }
}

fn put(provider: &str, secret: &str) -> PutSource {
    PutSource {
        v: V1,
        provider: provider.into(),
        secret: secret.into(),
        allow_ips: None,
        tolerance_seconds: None,
    }
}

fn rotate(secret: &str, overlap_seconds: u64) -> RotateSource {
    RotateSource {
        v: V1,
        secret: secret.into(),
        overlap_seconds,
    }
}

/// Whether a Paystack delivery signed with `secret` verifies under the source at `now_ms`.
fn verifies(source: &StoredSource, sealer: &Sealer, secret: &str, now_ms: i64) -> bool {
    let body = br#"{"event":"charge.success","data":{"id":1}}"#;
    let headers = RequestHeaders::new().with(
        "x-paystack-signature",
        paystack::sign(secret.as_bytes(), body),
    );
    let config = source.config("shop", now_ms, &sealer.open()).unwrap();
    config
        .verifier
        .verify(&headers, body, now_ms / 1000)
        .is_ok()
}

#[test]
fn a_put_replaces_the_whole_source_and_keeps_no_secret_in_clear() {
    let sealer = Sealer::new("shop");
    let first =
        StoredSource::put("shop", &put("paystack", "sk_a"), None, T0, &sealer.seal()).unwrap();
    assert_eq!(first.version, 1);
    assert!(!serde_json::to_string(&first).unwrap().contains("sk_a"));
    assert!(verifies(&first, &sealer, "sk_a", T0));

    let second = StoredSource::put(
        "shop",
        &put("paystack", "sk_b"),
        Some(&first),
        T0 + 1,
        &sealer.seal(),
    )
    .unwrap();
    assert_eq!(second.version, 2);
    assert!(verifies(&second, &sealer, "sk_b", T0 + 1));
    assert!(!verifies(&second, &sealer, "sk_a", T0 + 1));
}

#[test]
fn bad_requests_are_refused_with_the_rule_and_never_the_secret() {
    let sealer = Sealer::new("shop");
    let cases = [
        ("Shop", put("paystack", "sk")),
        ("shop/x", put("paystack", "sk")),
        ("", put("paystack", "sk")),
        ("shop", put("paypal", "sk")),
        ("shop", put("paystack", "   ")),
        ("shop", put("standard-webhooks", "whsec_!!supersecret")),
        (
            "shop",
            PutSource {
                allow_ips: Some(vec!["nope".into()]),
                ..put("paystack", "sk")
            },
        ),
        (
            "shop",
            PutSource {
                tolerance_seconds: Some(0),
                ..put("stripe", "whsec_x")
            },
        ),
    ];
    for (name, req) in cases {
        let err = StoredSource::put(name, &req, None, T0, &sealer.seal()).unwrap_err();
        assert!(
            matches!(err, SourceError::Invalid(_)),
            "{name} {req:?}: {err}"
        );
        assert!(!err.to_string().contains("supersecret"), "{err}");
    }
    assert_eq!(
        StoredSource::put(
            "shop",
            &put("paystack", &"x".repeat(1025)),
            None,
            T0,
            &sealer.seal()
        )
        .unwrap_err(),
        SourceError::Invalid("a secret is at most 1024 characters".into())
    );
    let long = "a".repeat(65);
    assert!(StoredSource::put(&long, &put("paystack", "sk"), None, T0, &sealer.seal()).is_err());
}

#[test]
fn requests_never_print_their_secret() {
    let text = format!(
        "{:?} {:?}",
        put("paystack", "sk_live_x"),
        rotate("sk_live_y", 1)
    );
    assert!(!text.contains("sk_live"), "{text}");
}

#[test]
fn a_rotation_keeps_the_old_secret_for_the_overlap_only() {
    let sealer = Sealer::new("shop");
    let s = StoredSource::put("shop", &put("paystack", "sk_a"), None, T0, &sealer.seal()).unwrap();
    let r = s
        .rotate(
            &rotate("sk_b", 60),
            T0 + 1000,
            &sealer.seal(),
            &sealer.open(),
        )
        .unwrap();
    assert_eq!(r.version, 2);
    for t in [T0 + 1000, T0 + 60_999] {
        assert!(verifies(&r, &sealer, "sk_a", t));
        assert!(verifies(&r, &sealer, "sk_b", t));
    }
    assert!(!verifies(&r, &sealer, "sk_a", T0 + 61_000));
    assert!(verifies(&r, &sealer, "sk_b", T0 + 61_000));
    let view = r.view("shop", T0 + 61_000);
    assert_eq!(view.secrets.len(), 1);
    assert_eq!(view.origin, Origin::Runtime);

    // A retried rotation to the current secret changes nothing.
    let again = r
        .rotate(
            &rotate("sk_b", 60),
            T0 + 2000,
            &sealer.seal(),
            &sealer.open(),
        )
        .unwrap();
    assert_eq!(again, r);
    // A rotation never extends an overlap already running.
    let c = r
        .rotate(
            &rotate("sk_c", 3600),
            T0 + 2000,
            &sealer.seal(),
            &sealer.open(),
        )
        .unwrap();
    assert!(!verifies(&c, &sealer, "sk_a", T0 + 61_000));
    assert!(verifies(&c, &sealer, "sk_b", T0 + 61_000));
    assert!(s
        .rotate(
            &rotate("sk_b", MAX_OVERLAP_SECONDS + 1),
            T0,
            &sealer.seal(),
            &sealer.open()
        )
        .is_err());
}

#[test]
fn a_secret_of_another_source_does_not_open_here() {
    let a = Sealer::new("shop-a");
    let b = Sealer::new("shop-b");
    let stored =
        StoredSource::put("shop-a", &put("paystack", "sk_a"), None, T0, &a.seal()).unwrap();
    // shop-a's row read as shop-b's: its secret does not open, so nothing verifies.
    assert!(stored.config("shop-b", T0, &b.open()).is_err());
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8),
    Rotate(u8, u64),
    Wait(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u8..6).prop_map(Op::Put),
        4 => ((0u8..6), prop_oneof![Just(0u64), 1u64..120]).prop_map(|(s, o)| Op::Rotate(s, o)),
        3 => (0i64..90_000).prop_map(Op::Wait),
    ]
}

/// The rule, as simply as it can be said: each secret with the time it stops verifying.
#[derive(Default)]
struct Model {
    secrets: Vec<(u8, Option<i64>)>,
}

impl Model {
    fn live(&self, now: i64) -> Vec<u8> {
        self.secrets
            .iter()
            .filter(|(_, e)| e.is_none_or(|e| e > now))
            .map(|(s, _)| *s)
            .collect()
    }
}

proptest! {
    /// Any sequence of replacements, rotations and waits: exactly the secrets the model says
    /// verify, at every step; a refused rotation changes nothing.
    #[test]
    fn rotations_match_the_model(ops in prop::collection::vec(op(), 1..30)) {
        let sealer = Sealer::new("shop");
        let name = |i: u8| format!("sk_{i}");
        let mut now = T0;
        let mut stored = StoredSource::put("shop", &put("paystack", &name(0)), None, now, &sealer.seal()).unwrap();
        let mut model = Model { secrets: vec![(0, None)] };
        for op in ops {
            match op {
                Op::Put(s) => {
                    stored = StoredSource::put("shop", &put("paystack", &name(s)), Some(&stored), now, &sealer.seal()).unwrap();
                    model.secrets = vec![(s, None)];
                }
                Op::Rotate(s, overlap) => {
                    let got = stored.rotate(&rotate(&name(s), overlap), now, &sealer.seal(), &sealer.open());
                    if model.secrets.first() == Some(&(s, None)) {
                        prop_assert_eq!(got.unwrap(), stored.clone());
                        continue;
                    }
                    let end = now + overlap as i64 * 1000;
                    let mut next = vec![(s, None)];
                    next.extend(model.secrets.iter().filter(|(_, e)| e.is_none_or(|e| e > now)).map(|(x, e)| (*x, Some(e.map_or(end, |e| e.min(end))))));
                    next.retain(|(_, e)| e.is_none_or(|e| e > now));
                    if next.len() > MAX_SECRETS {
                        prop_assert_eq!(got.unwrap_err(), SourceError::TooManySecrets);
                    } else {
                        stored = got.unwrap();
                        model.secrets = next;
                    }
                }
                Op::Wait(ms) => now += ms,
            }
            let live = model.live(now);
            for i in 0u8..6 {
                prop_assert_eq!(verifies(&stored, &sealer, &name(i), now), live.contains(&i), "secret {} at {}", i, now - T0);
            }
            prop_assert_eq!(stored.view("shop", now).secrets.len(), live.len());
        }
    }
}
