//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`. Each `v1` is the hex
//! HMAC-SHA256 of `"{t}.{body}"` keyed with the endpoint secret (the whole `whsec_…` string, as
//! Stripe's libraries use it). Stripe sends several `v1` entries while a secret is being rolled;
//! any match passes. Other schemes (`v0` is test-mode only) are ignored.

use super::secret::{parse_all, Secret, SecretError};
use super::{
    hmac_util, required, timestamp, SignatureScheme, VerifyError, DEFAULT_TOLERANCE_SECONDS,
};
use crate::headers::HeaderSource;

pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// Stripe's scheme with one or more endpoint secrets.
#[derive(Debug, Clone)]
pub struct Stripe {
    secrets: Vec<Secret>,
    tolerance_seconds: u64,
}

impl Stripe {
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Result<Self, SecretError> {
        Ok(Stripe {
            secrets: parse_all(secrets, |s| Secret::from_bytes(s.as_bytes().to_vec()))?,
            tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
        })
    }

    pub fn with_tolerance(mut self, seconds: u64) -> Self {
        self.tolerance_seconds = seconds;
        self
    }
}

/// The hex `v1` signature of `body` signed at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    hex::encode(hmac_util::sha256(secret, &[t.as_bytes(), b".", body]))
}

/// The whole `Stripe-Signature` header value Stripe would send.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", signature(secret, timestamp, body))
}

struct Parsed {
    timestamp: i64,
    t_raw: String,
    v1: Vec<Vec<u8>>,
}

fn parse(value: &str) -> Result<Parsed, VerifyError> {
    let malformed = |reason| VerifyError::MalformedHeader {
        header: SIGNATURE_HEADER,
        reason,
    };
    let mut t = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        let Some((k, v)) = item.trim().split_once('=') else {
            return Err(malformed("expected comma-separated key=value pairs"));
        };
        match k {
            "t" => {
                if t.is_some() {
                    return Err(malformed("more than one timestamp"));
                }
                t = Some(v.to_owned());
            }
            // An entry that is not hex cannot match; it is skipped, as Stripe's libraries do.
            "v1" => v1.extend(hex::decode(v).ok().filter(|b| b.len() == 32)),
            _ => {}
        }
    }
    let t_raw = t.ok_or_else(|| malformed("no timestamp (t=)"))?;
    let timestamp = t_raw
        .parse::<i64>()
        .map_err(|_| malformed("timestamp is not an integer"))?;
    if v1.is_empty() {
        return Err(malformed("no v1 signature"));
    }
    Ok(Parsed {
        timestamp,
        t_raw,
        v1,
    })
}

impl SignatureScheme for Stripe {
    fn verify(
        &self,
        headers: &dyn HeaderSource,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        let parsed = parse(required(headers, SIGNATURE_HEADER)?)?;
        // The signed payload uses the timestamp exactly as sent, not a re-rendering of it.
        let signed = [parsed.t_raw.as_bytes(), b".", body];
        if !hmac_util::sha256_matches_any(&self.secrets, &signed, &parsed.v1) {
            return Err(VerifyError::BadSignature);
        }
        // Checked after the signature, so a forger learns nothing about our clock.
        timestamp::check(parsed.timestamp, now_unix, self.tolerance_seconds)
    }
}

#[cfg(test)]
mod tests;
