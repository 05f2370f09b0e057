//! Paystack's Verify Transaction API: `GET {base}/transaction/verify/{reference}` with the
//! secret key as bearer, asked directly or through the edge with a source's key (the edge
//! passes Paystack's answer on as it came, so both are read the same). A transaction that exists answers 200 with `status: true` whatever
//! its outcome (the outcome is `data.status`); an unknown reference answers `status: false`
//! with "Transaction reference not found" (documented as 404; 400 is seen too). 429 means slow
//! down, with `Retry-After` when given.
//!
//! A bad or rotated secret key also answers 400/401 with `status: false`, so "not found" is
//! read only from the documented message (or code), never from the status alone: a
//! not-found can end in the order being abandoned, a key problem must not.

use std::time::Duration;

use keffi_shared::payload::paystack::{Charge, VerifyResponse};
use keffi_shared::Secret;

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
    /// A 4xx other than 429 and the documented not-found: the gateway refused the request
    /// itself (bad or rotated key, no permission, wrong API base), not answered about the
    /// payment.
    #[error("gateway refused the request ({status} {message})")]
    Refused { status: u16, message: String },
}

impl VerifyError {
    /// Whether no other reference can get a better answer either: a refusal is about our key
    /// or configuration, so asking on would only repeat it for every pending payment.
    pub fn stops_the_pass(&self) -> bool {
        matches!(self, VerifyError::Refused { .. })
    }
}

/// Who is asked: Paystack itself with a key the ledger holds (the default merchant's), or
/// the edge, which asks Paystack with a source's key (kept only at the edge) and passes the
/// answer on as it came.
#[derive(Debug, Clone)]
enum Target {
    Direct { base: String, key: Secret },
    Edge { verify_url: String, token: Secret },
}

#[derive(Debug, Clone)]
pub struct VerifyClient {
    http: reqwest::Client,
    target: Target,
}

fn http(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .build()
}

impl VerifyClient {
    /// Asks Paystack at `base` with `secret_key`.
    pub fn new(base: &str, secret_key: &Secret, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(VerifyClient {
            http: http(timeout)?,
            target: Target::Direct {
                base: base.trim_end_matches('/').to_owned(),
                key: secret_key.clone(),
            },
        })
    }

    /// Asks the edge at `edge_base` (with its pull token) to ask Paystack with `source`'s key.
    pub fn via_edge(
        edge_base: &str,
        token: &Secret,
        source: &str,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(VerifyClient {
            http: http(timeout)?,
            target: Target::Edge {
                verify_url: format!(
                    "{}/ledger/sources/{}/verify",
                    edge_base.trim_end_matches('/'),
                    encode(source)
                ),
                token: token.clone(),
            },
        })
    }

    pub async fn verify(&self, reference: &str) -> Result<Verified, VerifyError> {
        let (url, bearer) = match &self.target {
            Target::Direct { base, key } => (
                format!("{base}/transaction/verify/{}", encode(reference)),
                key,
            ),
            Target::Edge { verify_url, token } => (
                format!("{verify_url}?reference={}", encode(reference)),
                token,
            ),
        };
        let resp = self
            .http
            .get(url)
            .bearer_auth(bearer.expose_str().unwrap_or_default())
            .send()
            .await?;
        let status = resp.status().as_u16();
        if status == 429 {
            return Err(VerifyError::RateLimited {
                retry_after: retry_after(resp.headers()),
            });
        }
        let raw = resp.bytes().await?.to_vec();
        classify(status, raw)
    }
}

/// The fields of an error answer that tell a not-found from a refusal. All optional, and an
/// unreadable body reads as all absent: errors may come from a proxy in front of the API, in
/// any shape.
#[derive(Debug, Default, serde::Deserialize)]
struct ErrorBody {
    status: Option<bool>,
    message: Option<String>,
    code: Option<String>,
}

impl ErrorBody {
    fn message(self) -> String {
        self.message
            .unwrap_or_else(|| "unreadable answer".to_owned())
    }
}

/// Reads one answer as what it says about the reference. Pure: status and body in, verdict
/// out. (`verify` answers 429 itself, as it needs the `Retry-After` header.)
pub fn classify(status: u16, raw: Vec<u8>) -> Result<Verified, VerifyError> {
    if status == 200 {
        return found(raw);
    }
    let body: ErrorBody = serde_json::from_slice(&raw).unwrap_or_default();
    match status {
        400 | 404 if is_not_found(&body) => Ok(Verified::NotFound { raw }),
        429 => Err(VerifyError::RateLimited { retry_after: None }),
        400..=499 => Err(VerifyError::Refused {
            status,
            message: body.message(),
        }),
        // 5xx and anything else: the gateway failed this call; the next may do better.
        _ => Err(VerifyError::Unexpected {
            status,
            detail: body.message(),
        }),
    }
}

/// A 200 must carry the transaction; one without it is not an answer we can act on.
fn found(raw: Vec<u8>) -> Result<Verified, VerifyError> {
    match serde_json::from_slice::<VerifyResponse>(&raw) {
        Ok(VerifyResponse {
            status: true,
            data: Some(charge),
            ..
        }) => Ok(Verified::Found {
            charge: Box::new(charge),
            raw,
        }),
        Ok(v) => Err(VerifyError::Unexpected {
            status: 200,
            detail: v.message,
        }),
        Err(e) => Err(VerifyError::Unexpected {
            status: 200,
            detail: format!("unreadable answer: {e}"),
        }),
    }
}

/// Paystack's documented "no such transaction": `status: false` with the message
/// "Transaction reference not found" (matched loosely, wording drifts in case) or the code
/// `transaction_not_found`. Nothing else may count, since a not-found can abandon an order.
fn is_not_found(body: &ErrorBody) -> bool {
    let message = body.message.as_deref().unwrap_or_default().to_lowercase();
    body.status == Some(false)
        && (message.contains("reference not found")
            || message.contains("transaction not found")
            || body.code.as_deref() == Some("transaction_not_found"))
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

    fn read(status: u16, body: &str) -> Result<Verified, VerifyError> {
        classify(status, body.as_bytes().to_vec())
    }

    fn refused(status: u16, body: &str) -> bool {
        matches!(read(status, body), Err(VerifyError::Refused { status: s, .. }) if s == status)
    }

    #[test]
    fn the_documented_not_found_is_not_found() {
        let documented = r#"{"status":false,"message":"Transaction reference not found"}"#;
        for status in [400, 404] {
            assert!(matches!(
                read(status, documented),
                Ok(Verified::NotFound { .. })
            ));
        }
        for body in [
            r#"{"status":false,"message":"TRANSACTION REFERENCE NOT FOUND."}"#,
            r#"{"status":false,"message":"Transaction not found"}"#,
            r#"{"status":false,"message":"No luck","code":"transaction_not_found"}"#,
            r#"{"status":false,"code":"transaction_not_found"}"#,
        ] {
            assert!(
                matches!(read(404, body), Ok(Verified::NotFound { .. })),
                "{body}"
            );
        }
    }

    #[test]
    fn a_not_found_needs_status_false_and_a_400_or_404() {
        let msg = r#""message":"Transaction reference not found""#;
        assert!(refused(404, &format!("{{\"status\":true,{msg}}}")));
        assert!(refused(404, &format!("{{{msg}}}")));
        assert!(refused(401, &format!("{{\"status\":false,{msg}}}")));
        assert!(refused(403, &format!("{{\"status\":false,{msg}}}")));
        assert!(matches!(
            read(500, &format!("{{\"status\":false,{msg}}}")),
            Err(VerifyError::Unexpected { status: 500, .. })
        ));
    }

    #[test]
    fn a_bad_key_is_a_refusal_whatever_its_status() {
        let invalid_key = r#"{"status":false,"message":"Invalid key"}"#;
        for status in [400, 401, 403, 404] {
            assert!(refused(status, invalid_key), "{status}");
        }
        let Err(e) = read(401, invalid_key) else {
            panic!("a refusal")
        };
        assert!(e.stops_the_pass());
        assert_eq!(
            e.to_string(),
            "gateway refused the request (401 Invalid key)"
        );
    }

    #[test]
    fn any_other_4xx_is_a_refusal() {
        assert!(refused(
            400,
            r#"{"status":false,"message":"Invalid reference"}"#
        ));
        assert!(refused(404, r#"{"status":false,"message":"Not found"}"#));
        assert!(refused(404, "<html>no such route</html>"));
        assert!(refused(403, ""));
        assert!(refused(422, r#"{"status":false,"code":"invalid_key"}"#));
    }

    #[test]
    fn rate_limits_and_server_errors_do_not_stop_the_pass() {
        assert!(matches!(
            read(429, "{}"),
            Err(VerifyError::RateLimited { retry_after: None })
        ));
        for status in [500, 502, 503] {
            let Err(e) = read(status, r#"{"status":false,"message":"Down"}"#) else {
                panic!("an error")
            };
            assert!(matches!(e, VerifyError::Unexpected { .. }), "{status}");
            assert!(!e.stops_the_pass());
        }
        assert!(!read(429, "").unwrap_err().stops_the_pass());
    }

    #[test]
    fn a_200_must_carry_the_transaction() {
        let ok = r#"{"status":true,"message":"Verification successful","data":{
            "id":1,"reference":"r","amount":100,"currency":"NGN","status":"success"}}"#;
        assert!(matches!(read(200, ok), Ok(Verified::Found { .. })));
        for body in [
            r#"{"status":true,"message":"Verification successful"}"#,
            r#"{"status":false,"message":"Transaction reference not found"}"#,
            "not json",
        ] {
            assert!(matches!(
                read(200, body),
                Err(VerifyError::Unexpected { status: 200, .. })
            ));
        }
    }
}
