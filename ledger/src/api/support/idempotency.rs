//! The `Idempotency-Key` header (Stripe semantics): the first request's response is stored and
//! replayed for a retry with the same key and parameters; the same key with other parameters
//! is 422; a retry while the first is still running waits for it and gets its answer; keys
//! expire after 24 hours. The key's type lives here, its storage in `store::idempotency`.
//!
//! The claim, the request's own writes and the stored answer commit together (see
//! `store::idempotency`), and the work runs in a task of its own, so a client that hangs up
//! mid-request neither cancels it half-way nor locks its key: its retry replays the answer,
//! or, if nothing committed, does the work.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keffi_shared::MerchantId;
use sha2::{Digest, Sha256};

use std::future::Future;
use std::pin::Pin;

use super::error::ApiError;
use crate::store::idempotency::Claim;
use crate::store::{now_ms, Store, Tx};

pub const HEADER: &str = "idempotency-key";

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// A key's alphabet for the OpenAPI document: printable ASCII without spaces (`!` to `~`, what
/// [`u8::is_ascii_graphic`] admits), 1 to [`MAX_KEY_LEN`] of them.
pub const KEY_PATTERN: &str = "^[!-~]+$";

/// A valid key: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl utoipa::PartialSchema for IdempotencyKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_KEY_LEN))
            .pattern(Some(KEY_PATTERN))
            .into()
    }
}

impl utoipa::ToSchema for IdempotencyKey {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("IdempotencyKey")
    }
}

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
            .filter(|k| {
                (1..=MAX_KEY_LEN).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
            })
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

/// The work of a request: its writes go in the transaction it is given, and it answers a
/// status and JSON body (or an error).
pub type Work = Box<
    dyn for<'t> FnOnce(
            &'t mut Tx,
        ) -> Pin<
            Box<dyn Future<Output = Result<(StatusCode, serde_json::Value), ApiError>> + Send + 't>,
        > + Send,
>;

/// Where a key counts: one merchant's keys never meet another's, and one route's never meet
/// another's.
#[derive(Debug, Clone, Copy)]
pub struct KeyScope<'a> {
    pub merchant: &'a MerchantId,
    /// The method and route, e.g. `POST /v1/orders`.
    pub route: &'a str,
}

/// Runs `work` at most once per key (in its [`KeyScope`]), in a task a client hang-up cannot cancel: replays a
/// completed answer, refuses a mismatch, and otherwise commits `work`'s writes together with
/// its answer — after `scrub` removed what must not be stored (a client secret). A client
/// error is an answer too (its writes are undone, the error is stored and replayed); our own
/// failure (5xx) rolls everything back, key included, so the retry runs the work again.
/// `replayed` answers are passed to `refresh` in the transaction that found them (to issue
/// a new client secret).
pub async fn once(
    store: &Store,
    KeyScope { merchant, route }: KeyScope<'_>,
    key: Option<IdempotencyKey>,
    params: &serde_json::Value,
    scrub: fn(&mut serde_json::Value),
    refresh: Refresh,
    work: Work,
) -> Result<Answer, ApiError> {
    let store = store.clone();
    let merchant = merchant.clone();
    let scoped = key.map(|k| k.scoped(route));
    let hash = fingerprint(params);
    let task = tokio::spawn(async move {
        let mut tx = store.begin().await?;
        if let Some(scoped) = &scoped {
            match tx
                .claim_idempotency_key(&merchant, scoped, &hash, now_ms())
                .await?
            {
                Claim::Fresh => {}
                Claim::Mismatch => {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with different parameters",
                    ))
                }
                Claim::Replay { status, body } => {
                    let mut answer = Answer {
                        status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                        body: serde_json::from_str(&body).unwrap_or_default(),
                        replayed: true,
                    };
                    refresh(&mut tx, &mut answer).await?;
                    tx.commit().await?;
                    return Ok(answer);
                }
            }
        }
        tx.savepoint().await?;
        match work(&mut tx).await {
            Ok((status, body)) => {
                tx.release_savepoint().await?;
                if let Some(scoped) = &scoped {
                    let mut stored = body.clone();
                    scrub(&mut stored);
                    tx.complete_idempotency_key(
                        &merchant,
                        scoped,
                        status.as_u16(),
                        &stored.to_string(),
                        now_ms(),
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(Answer {
                    status,
                    body,
                    replayed: false,
                })
            }
            Err(e) if e.status.is_server_error() => {
                tx.rollback().await?;
                Err(e)
            }
            Err(e) => {
                tx.rollback_to_savepoint().await?;
                if let Some(scoped) = &scoped {
                    // A client error is an answer too: replay it for the same request.
                    let body = serde_json::to_string(&keffi_shared::wire::ErrorBody::new(
                        e.code,
                        e.message.clone(),
                    ))
                    .unwrap_or_default();
                    tx.complete_idempotency_key(
                        &merchant,
                        scoped,
                        e.status.as_u16(),
                        &body,
                        now_ms(),
                    )
                    .await?;
                }
                tx.commit().await?;
                Err(e)
            }
        }
    });
    task.await.map_err(|e| {
        tracing::error!(error = %e, "idempotent request task failed");
        ApiError::internal("the request failed; retry it with the same Idempotency-Key")
    })?
}

/// What to do to a replayed answer before it is sent, in the transaction that found it.
pub type Refresh = Box<
    dyn for<'t> FnOnce(
            &'t mut Tx,
            &'t mut Answer,
        ) -> Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send + 't>>
        + Send,
>;

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
