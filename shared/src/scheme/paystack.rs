//! Paystack: `x-paystack-signature` is the lowercase hex HMAC-SHA512 of the raw body, keyed with
//! the merchant's secret key (`sk_live_…` / `sk_test_…`). No timestamp is signed, so a captured
//! delivery can be replayed; event-level idempotency at the edge and ledger makes that harmless.

use super::secret::{parse_all, Secret, SecretError};
use super::{hmac_util, required, SignatureScheme, VerifyError};
use crate::headers::HeaderSource;

pub const SIGNATURE_HEADER: &str = "x-paystack-signature";

/// Paystack's scheme with one or more secret keys.
#[derive(Debug, Clone)]
pub struct Paystack {
    secrets: Vec<Secret>,
}

impl Paystack {
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Result<Self, SecretError> {
        Ok(Paystack {
            secrets: parse_all(secrets, |s| Secret::from_bytes(s.as_bytes().to_vec()))?,
        })
    }

    /// The current secret key (the first: a rotation lists the new one first), which is also
    /// the account's API key.
    pub fn current_key(&self) -> Option<&Secret> {
        self.secrets.first()
    }
}

/// The `x-paystack-signature` value Paystack would send for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex::encode(hmac_util::sha512(secret, &[body]))
}

impl SignatureScheme for Paystack {
    fn verify(
        &self,
        headers: &dyn HeaderSource,
        body: &[u8],
        _now_unix: i64,
    ) -> Result<(), VerifyError> {
        let value = required(headers, SIGNATURE_HEADER)?;
        let malformed = |reason| VerifyError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason,
        };
        if value.len() != 128 {
            return Err(malformed("expected 128 hex characters"));
        }
        let tag = hex::decode(value).map_err(|_| malformed("not hexadecimal"))?;
        if hmac_util::sha512_matches_any(&self.secrets, &[body], &tag) {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::RequestHeaders;

    fn headers(sig: &str) -> RequestHeaders {
        RequestHeaders::new().with("X-Paystack-Signature", sig)
    }

    /// RFC 4231 §4.3 (test case 2), HMAC-SHA-512: Paystack's signature is exactly this HMAC
    /// rendered as lowercase hex, so the published vector pins the whole computation.
    #[test]
    fn rfc4231_case_2() {
        let expected = "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                        9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737";
        assert_eq!(sign(b"Jefe", b"what do ya want for nothing?"), expected);
        let p = Paystack::new(&["Jefe"]).unwrap();
        assert_eq!(
            p.verify(&headers(expected), b"what do ya want for nothing?", 0),
            Ok(())
        );
    }

    /// RFC 4231 §4.2 (test case 1): a 20-byte key of 0x0b over "Hi There".
    #[test]
    fn rfc4231_case_1() {
        let expected = "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde\
                        daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854";
        assert_eq!(sign(&[0x0b; 20], b"Hi There"), expected);
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let body = br#"{"event":"charge.success"}"#;
        let sig = sign(b"sk_test_x", body).to_uppercase();
        let p = Paystack::new(&["sk_test_x"]).unwrap();
        assert_eq!(p.verify(&headers(&sig), body, 0), Ok(()));
    }

    #[test]
    fn any_rotated_secret_verifies() {
        let body = br#"{"event":"charge.success"}"#;
        let p = Paystack::new(&["sk_test_old", "sk_test_new"]).unwrap();
        for key in ["sk_test_old", "sk_test_new"] {
            let sig = sign(key.as_bytes(), body);
            assert_eq!(p.verify(&headers(&sig), body, 0), Ok(()));
        }
        let sig = sign(b"sk_test_other", body);
        assert_eq!(
            p.verify(&headers(&sig), body, 0),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn each_failed_check_is_named() {
        let p = Paystack::new(&["k"]).unwrap();
        assert_eq!(
            p.verify(&RequestHeaders::new(), b"{}", 0),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        assert!(matches!(
            p.verify(&headers("abc"), b"{}", 0),
            Err(VerifyError::MalformedHeader { .. })
        ));
        assert!(matches!(
            p.verify(&headers(&"zz".repeat(64)), b"{}", 0),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }

    #[test]
    fn error_never_contains_the_expected_signature() {
        let body = b"{}";
        let p = Paystack::new(&["k"]).unwrap();
        let expected = sign(b"k", body);
        let err = p.verify(&headers(&"0".repeat(128)), body, 0).unwrap_err();
        assert!(!format!("{err} {err:?}").contains(&expected));
    }
}
