//! Paystack's Verify Transaction API: `GET {base}/transaction/verify/{reference}` with the
//! secret key as bearer. A transaction that exists answers 200 with `status: true` whatever
//! its outcome (the outcome is `data.status`); an unknown reference answers `status: false`
//! (documented as 404; 400 is seen too). 429 means slow down, with `Retry-After` when given.

use std::time::Duration;

use keffi_shared::payload::paystack::{Charge, VerifyResponse};

/// What the gateway said about one reference.
#[derive(Debug, Clone)]
pub enum Verified {
    /// The gateway knows the transaction; `raw` is its exact answer, kept for the audit trail.
    Found { charge: Box<Charge>, raw: Vec<u8> },
    /// The gateway has no transaction with this reference.
    NotFound { raw: Vec<u8> },
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("gateway asks us to slow down (429)")]
    RateLimited { retry_after: Option<Duration> },
    #[error("gateway unreachable: {0}")]
    Network(#[from] reqwest::Error),
    #[error("gateway answered {status}: {detail}")]
    Unexpected { status: u16, detail: String },
}

#[derive(Debug, Clone)]
pub struct VerifyClient {
    http: reqwest::Client,
    base: String,
    secret_key: String,
}

impl VerifyClient {
    pub fn new(base: &str, secret_key: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(VerifyClient {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(timeout)
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        })
    }

    pub async fn verify(&self, reference: &str) -> Result<Verified, VerifyError> {
        let url = format!("{}/transaction/verify/{}", self.base, encode(reference));
        let resp = self
            .http
            .get(url)
            .bearer_auth(&self.secret_key)
            .send()
            .await?;
        let status = resp.status().as_u16();
        if status == 429 {
            return Err(VerifyError::RateLimited {
                retry_after: retry_after(resp.headers()),
            });
        }
        let raw = resp.bytes().await?.to_vec();
        let parsed: Result<VerifyResponse, _> = serde_json::from_slice(&raw);
        match (status, parsed) {
            (
                200,
                Ok(VerifyResponse {
                    status: true,
                    data: Some(charge),
                    ..
                }),
            ) => Ok(Verified::Found {
                charge: Box::new(charge),
                raw,
            }),
            (400 | 404, Ok(VerifyResponse { status: false, .. })) => Ok(Verified::NotFound { raw }),
            (status, Ok(v)) => Err(VerifyError::Unexpected {
                status,
                detail: v.message,
            }),
            (status, Err(e)) => Err(VerifyError::Unexpected {
                status,
                detail: format!("unreadable answer: {e}"),
            }),
        }
    }
}

/// Paystack references are `[A-Za-z0-9._=-]`; anything else is percent-encoded.
fn encode(reference: &str) -> String {
    reference
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'=' | b'-') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and treated as absent).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_path_safe() {
        assert_eq!(encode("T123_ab-c.d="), "T123_ab-c.d=");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
    }
}
