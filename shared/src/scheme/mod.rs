//! Webhook signature schemes: one module per provider behind [`SignatureScheme`].
//!
//! Every scheme verifies the raw body bytes exactly as received (never a re-serialised JSON),
//! compares in constant time, accepts a signature made with any of the source's secrets (so a
//! secret can be rotated without dropping deliveries), and reports which check failed without
//! revealing the expected value.

pub mod flutterwave;
pub mod paystack;
pub mod standard_webhooks;
pub mod stripe;

mod hmac_util;
mod secret;
mod timestamp;

use crate::headers::HeaderSource;
use crate::provider::Provider;

pub use secret::{Secret, SecretError};

/// Default tolerance between a signed timestamp and "now" for the timestamped schemes (Stripe and
/// Standard Webhooks): the five minutes both providers' own libraries use.
pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

/// Why a delivery's signature was refused. `code()` is stable; the edge returns and counts it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing `{0}` header")]
    MissingHeader(&'static str),
    #[error("malformed `{header}` header: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: &'static str,
    },
    #[error("signature does not match any configured secret")]
    BadSignature,
    #[error(
        "signed timestamp is {skew_seconds}s from now, outside the {tolerance_seconds}s tolerance"
    )]
    TimestampOutsideTolerance {
        skew_seconds: i64,
        tolerance_seconds: u64,
    },
}

impl VerifyError {
    /// A stable machine-readable code for responses, logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_signature",
            VerifyError::MalformedHeader { .. } => "malformed_signature",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::TimestampOutsideTolerance { .. } => "timestamp_outside_tolerance",
        }
    }
}

/// A provider's way of proving a delivery came from it.
pub trait SignatureScheme {
    /// Checks `body` (the exact received bytes) against the signature headers. `now_unix` is
    /// the current time in Unix seconds, passed in because this crate never reads a clock;
    /// schemes without a signed timestamp ignore it.
    fn verify(
        &self,
        headers: &dyn HeaderSource,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError>;
}

/// A configured source's verifier: the provider's scheme with that source's secrets.
#[derive(Debug, Clone)]
pub enum Verifier {
    Paystack(paystack::Paystack),
    Flutterwave(flutterwave::Flutterwave),
    Stripe(stripe::Stripe),
    StandardWebhooks(standard_webhooks::StandardWebhooks),
}

impl Verifier {
    /// The Paystack account's current secret key, for a Paystack source.
    pub fn paystack_key(&self) -> Option<&Secret> {
        match self {
            Verifier::Paystack(p) => p.current_key(),
            _ => None,
        }
    }

    /// Builds the verifier for `provider` from the source's configured secrets (one or more,
    /// for rotation) and the timestamp tolerance (ignored by schemes without timestamps).
    pub fn new<S: AsRef<str>>(
        provider: Provider,
        secrets: &[S],
        tolerance_seconds: u64,
    ) -> Result<Self, SecretError> {
        Ok(match provider {
            Provider::Paystack => Verifier::Paystack(paystack::Paystack::new(secrets)?),
            Provider::Flutterwave => Verifier::Flutterwave(flutterwave::Flutterwave::new(secrets)?),
            Provider::Stripe => {
                Verifier::Stripe(stripe::Stripe::new(secrets)?.with_tolerance(tolerance_seconds))
            }
            Provider::StandardWebhooks => Verifier::StandardWebhooks(
                standard_webhooks::StandardWebhooks::new(secrets)?
                    .with_tolerance(tolerance_seconds),
            ),
        })
    }

    pub fn provider(&self) -> Provider {
        match self {
            Verifier::Paystack(_) => Provider::Paystack,
            Verifier::Flutterwave(_) => Provider::Flutterwave,
            Verifier::Stripe(_) => Provider::Stripe,
            Verifier::StandardWebhooks(_) => Provider::StandardWebhooks,
        }
    }
}

impl SignatureScheme for Verifier {
    fn verify(
        &self,
        headers: &dyn HeaderSource,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        match self {
            Verifier::Paystack(s) => s.verify(headers, body, now_unix),
            Verifier::Flutterwave(s) => s.verify(headers, body, now_unix),
            Verifier::Stripe(s) => s.verify(headers, body, now_unix),
            Verifier::StandardWebhooks(s) => s.verify(headers, body, now_unix),
        }
    }
}

/// Reads a required header, trimmed, refusing an empty value as missing.
fn required<'h>(headers: &'h dyn HeaderSource, name: &'static str) -> Result<&'h str, VerifyError> {
    headers
        .header(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(VerifyError::MissingHeader(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::RequestHeaders;

    #[test]
    fn verifier_dispatches_to_the_providers_scheme() {
        let body = br#"{"event":"charge.success","data":{"id":1}}"#;
        let v = Verifier::new(Provider::Paystack, &["sk_test_a"], 300).unwrap();
        assert_eq!(v.provider(), Provider::Paystack);
        let sig = paystack::sign(b"sk_test_a", body);
        let h = RequestHeaders::new().with("x-paystack-signature", sig);
        assert_eq!(v.verify(&h, body, 0), Ok(()));
        assert_eq!(
            v.verify(&RequestHeaders::new(), body, 0),
            Err(VerifyError::MissingHeader("x-paystack-signature"))
        );
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(VerifyError::BadSignature.code(), "bad_signature");
        assert_eq!(VerifyError::MissingHeader("x").code(), "missing_signature");
    }
}
