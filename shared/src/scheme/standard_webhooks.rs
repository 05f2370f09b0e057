//! Standard Webhooks (<https://www.standardwebhooks.com/>, Svix and its adopters): headers
//! `webhook-id`, `webhook-timestamp` and `webhook-signature`, the last a space-separated list
//! of `v1,<base64>` entries, each the HMAC-SHA256 of `"{id}.{timestamp}.{body}"` keyed with the
//! base64-decoded secret (`whsec_` prefix optional). Svix's `svix-*` header names are accepted
//! as the same thing. Asymmetric `v1a` entries are ignored: no secret here can check them.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as B64};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::secret::{parse_all, Secret, SecretError};
use super::{hmac_util, timestamp, SignatureScheme, VerifyError, DEFAULT_TOLERANCE_SECONDS};
use crate::headers::HeaderSource;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

const SECRET_PREFIX: &str = "whsec_";

/// Secrets are read with or without their base64 padding, as the Python library does: a
/// secret pasted without its trailing `=` must not silently fail every delivery.
const SECRET_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The Standard Webhooks scheme with one or more `whsec_…` secrets.
#[derive(Debug, Clone)]
pub struct StandardWebhooks {
    secrets: Vec<Secret>,
    tolerance_seconds: u64,
}

impl StandardWebhooks {
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Result<Self, SecretError> {
        Ok(StandardWebhooks {
            secrets: parse_all(secrets, parse_secret)?,
            tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
        })
    }

    pub fn with_tolerance(mut self, seconds: u64) -> Self {
        self.tolerance_seconds = seconds;
        self
    }
}

/// Decodes a `whsec_<base64>` (or bare base64) secret into its key bytes.
pub fn parse_secret(s: &str) -> Result<Secret, SecretError> {
    let b64 = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
    let bytes = SECRET_B64.decode(b64).map_err(|_| {
        SecretError::Invalid("a Standard Webhooks secret is base64, optionally prefixed `whsec_`")
    })?;
    Secret::from_bytes(bytes)
}

/// The `webhook-signature` value (a single `v1,<base64>` entry) for the message.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let tag = hmac_util::sha256(key, &[id.as_bytes(), b".", t.as_bytes(), b".", body]);
    format!("v1,{}", B64.encode(tag))
}

/// Looks a header up by its standard name, then by Svix's (`svix-id` for `webhook-id`, …).
fn header<'h>(headers: &'h dyn HeaderSource, name: &'static str) -> Result<&'h str, VerifyError> {
    let svix = name.replacen("webhook-", "svix-", 1);
    headers
        .header(name)
        .or_else(|| headers.header(&svix))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(VerifyError::MissingHeader(name))
}

/// The message id, by whichever header name it came with; the idempotency key derives from it.
pub fn message_id(headers: &dyn HeaderSource) -> Option<&str> {
    header(headers, ID_HEADER).ok()
}

impl SignatureScheme for StandardWebhooks {
    fn verify(
        &self,
        headers: &dyn HeaderSource,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        let id = header(headers, ID_HEADER)?;
        let t_raw = header(headers, TIMESTAMP_HEADER)?;
        let signatures = header(headers, SIGNATURE_HEADER)?;
        let signed_at = t_raw
            .parse::<i64>()
            .map_err(|_| VerifyError::MalformedHeader {
                header: TIMESTAMP_HEADER,
                reason: "not an integer number of seconds",
            })?;
        let mut saw_v1 = false;
        let tags: Vec<Vec<u8>> = signatures
            .split_ascii_whitespace()
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == "v1")
            .inspect(|_| saw_v1 = true)
            .filter_map(|(_, b64)| B64.decode(b64).ok())
            .collect();
        if !saw_v1 {
            return Err(VerifyError::MalformedHeader {
                header: SIGNATURE_HEADER,
                reason: "no v1 signature",
            });
        }
        let signed = [id.as_bytes(), b".", t_raw.as_bytes(), b".", body];
        if !hmac_util::sha256_matches_any(&self.secrets, &signed, &tags) {
            return Err(VerifyError::BadSignature);
        }
        timestamp::check(signed_at, now_unix, self.tolerance_seconds)
    }
}

#[cfg(test)]
mod tests;
