//! The `Idempotency-Key` header (Stripe semantics): the first request's response is stored and
//! replayed for a retry with the same key and parameters; the same key with other parameters
//! is 422; the same key while the first is in flight is 409; keys expire after 24 hours. The
//! key's type lives here, its storage in `store::idempotency`.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::store::idempotency::Claim;
use crate::store::{now_ms, Store};

pub const HEADER: &str = "idempotency-key";

/// A valid key: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The request's key, if it sent one.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let Some(value) = headers.get(HEADER) else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
                )
            })?;
        Ok(Some(IdempotencyKey(key.to_owned())))
    }

    /// Keys are scoped by route, so one key string used on two routes cannot collide.
    fn scoped(&self, route: &str) -> String {
        format!("{route} {}", self.0)
    }
}

/// The fingerprint of a request's parameters: the SHA-256 of its canonical JSON, so key order
/// and whitespace do not make a genuine retry look like a different request.
pub fn fingerprint(params: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(params.to_string().as_bytes()))
}

/// What `once` produced: the status and JSON body to send, and whether it is a replay.
pub struct Answer {
    pub status: StatusCode,
    pub body: serde_json::Value,
    pub replayed: bool,
}

impl Answer {
    pub fn into_response(self) -> Response {
        json(self.status, &self.body.to_string(), self.replayed)
    }
}

/// Runs `op` at most once per key: replays a completed answer, refuses a mismatch or a key
/// in flight, and stores what `op` answers — after `scrub` removed what must not be stored
/// (a client secret) — except our own 5xx failures, which release the key so the retry can
/// succeed.
pub async fn once<F, Fut>(
    store: &Store,
    key: Option<IdempotencyKey>,
    route: &str,
    params: &serde_json::Value,
    scrub: impl Fn(&mut serde_json::Value),
    op: F,
) -> Result<Answer, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let fresh = |(status, body): (StatusCode, serde_json::Value)| Answer {
        status,
        body,
        replayed: false,
    };
    let Some(key) = key else {
        return op().await.map(fresh);
    };
    let scoped = key.scoped(route);
    match store
        .claim_idempotency_key(&scoped, &fingerprint(params), now_ms())
        .await?
    {
        Claim::Replay { status, body } => Ok(Answer {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            body: serde_json::from_str(&body).unwrap_or_default(),
            replayed: true,
        }),
        Claim::Mismatch => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with different parameters",
        )),
        Claim::InFlight => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is still being processed; retry shortly",
        )),
        Claim::Fresh => match op().await {
            Ok((status, body)) => {
                let mut stored = body.clone();
                scrub(&mut stored);
                store
                    .complete_idempotency_key(
                        &scoped,
                        status.as_u16(),
                        &stored.to_string(),
                        now_ms(),
                    )
                    .await?;
                Ok(fresh((status, body)))
            }
            Err(e) if e.status.is_server_error() => {
                store.release_idempotency_key(&scoped).await?;
                Err(e)
            }
            Err(e) => {
                // A client error is an answer too: replay it for the same request.
                let body = serde_json::to_string(&keffi_shared::wire::ErrorBody::new(
                    e.code,
                    e.message.clone(),
                ))
                .unwrap_or_default();
                store
                    .complete_idempotency_key(&scoped, e.status.as_u16(), &body, now_ms())
                    .await?;
                Err(e)
            }
        },
    }
}

fn json(status: StatusCode, body: &str, replayed: bool) -> Response {
    let mut resp = (status, body.to_owned()).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_key_order_but_not_values() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":2}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{ "b": 2, "a": 1 }"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":3}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn keys_are_validated() {
        let mut h = HeaderMap::new();
        assert_eq!(IdempotencyKey::from_headers(&h).unwrap(), None);
        h.insert(HEADER, HeaderValue::from_static("device-1234"));
        assert!(IdempotencyKey::from_headers(&h).unwrap().is_some());
        h.insert(HEADER, HeaderValue::from_static("has space"));
        assert!(IdempotencyKey::from_headers(&h).is_err());
        h.insert(HEADER, HeaderValue::from_str(&"k".repeat(256)).unwrap());
        assert!(IdempotencyKey::from_headers(&h).is_err());
    }
}
