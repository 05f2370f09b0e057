//! The audit log of operator actions: [`record`] writes one row per request to a route it
//! guards (every route above the `read` scope: replay, bulk replay, order creation, and what
//! joins those groups later) after the route answered, with the status it answered, so no handler
//! knows about it; `GET /v1/audit` lists the rows, newest first.
//!
//! It sits between authentication and the scope check, so a request refused for its scope is
//! recorded (403) with the token's name: the attempt is what an investigator looks for. A
//! request without a valid token is not: it names no one, and anyone could fill the table.

use super::tenant::{acting_merchant, Tenant, MERCHANT_HEADER};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::FutureExt;
use keffi_shared::MerchantId;
use serde::Deserialize;
use serde_json::{Map, Value};
use tracing::Instrument;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use super::tokens::{valid_name, Caller, TokenName, Whose};
use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{storable, ApiQuery};
use crate::api::support::page::{self, IdCursor, Limit, Page};
use crate::api::support::ApiState;
use crate::store::audit::{AuditEntry, NewAuditEntry};
use crate::store::{now_ms, Store};
use keffi_shared::wire::ErrorBody;

/// Bodies up to this size are read to name what the action was about (an order's reference);
/// a larger or unsized body passes untouched (only its path is recorded), so the audit never
/// changes how a route reads its body.
const SUMMARY_BODY_MAX: usize = 16 * 1024;

/// Body fields worth recording, each a short scalar (never `metadata` or a secret): an
/// order's, and a bulk replay's filter.
const SUMMARY_FIELDS: [&str; 9] = [
    "reference",
    "amount",
    "currency",
    "status",
    "provider",
    "source",
    "dry_run",
    "limit",
    "after_id",
];

/// `routes`, each request to them recorded in the audit log. Wrap the scope check (see
/// [`super::auth::scoped`]), so refusals are recorded too.
pub fn audited(
    store: Store,
    whose: Whose,
    routes: OpenApiRouter<ApiState>,
) -> OpenApiRouter<ApiState> {
    routes.route_layer(middleware::from_fn_with_state((store, whose), record))
}

/// The audit layer.
///
/// The route and the write of its row run in a task of their own: a client that hangs up
/// would otherwise drop this future, and the row with it, after the action may already have
/// committed. A failed write is logged at error level with the whole row (the record is then
/// in the log, not lost) and counted in `keffi_audit_write_failures_total`; the answer stays
/// what the action answered, because the action has already happened: turning its success
/// into an error would have the client retry (or give up on) something that took effect.
pub async fn record(
    State((store, whose)): State<(Store, Whose)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        // Not behind authentication: the scope check inside refuses it (fails closed).
        return next.run(req).await;
    };
    let at_ms = now_ms();
    // A request refused for naming another merchant records none: it acted on nothing.
    let merchant = match whose {
        Whose::Merchant => {
            let named = req.headers().get(MERCHANT_HEADER).map(|v| v.as_bytes());
            acting_merchant(&caller, named).ok()
        }
        Whose::Platform => None,
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_owned(), |m| m.as_str().to_owned());
    let action = format!("{} {route}", req.method());
    let target = clip(req.uri().path(), 500);
    let mut detail = Map::new();
    if let Some(key) = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
    {
        detail.insert("idempotency_key".into(), clip(key, 255).into());
    }
    let work = async move {
        let resp = match summarise_body(req, &mut detail).await {
            Ok(req) => std::panic::AssertUnwindSafe(next.run(req))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!(%action, "the route panicked");
                    ApiError::internal("the request failed").into_response()
                }),
            Err(refused) => refused,
        };
        if resp
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
        {
            detail.insert("replayed".into(), true.into());
        }
        let entry = NewAuditEntry {
            at_ms,
            merchant,
            token_name: caller.name.to_string(),
            token_scope: caller.scope.to_string(),
            action,
            target,
            status: resp.status().as_u16(),
            detail: (!detail.is_empty()).then(|| Value::Object(detail).to_string()),
        };
        if let Err(e) = store.append_audit(&entry).await {
            crate::telemetry_metrics::audit_write_failed();
            tracing::error!(
                error = %e,
                at_ms = entry.at_ms,
                merchant = entry.merchant.as_ref().map_or("", |m| m.as_str()),
                token = %entry.token_name,
                scope = %entry.token_scope,
                action = %entry.action,
                target = %entry.target,
                status = entry.status,
                detail = entry.detail.as_deref().unwrap_or(""),
                "audit log write failed; this line is the action's only record"
            );
        }
        resp
    };
    // The task carries the request's span, so what the route logs stays inside it.
    let task = tokio::spawn(work.instrument(tracing::Span::current()));
    task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "the audited request's task failed");
        ApiError::internal("the request failed").into_response()
    })
}

/// Reads a small body (see [`SUMMARY_BODY_MAX`]) to record its [`SUMMARY_FIELDS`], then hands
/// the same bytes on. A body that cannot be read is answered 400, as the route would.
async fn summarise_body(
    req: Request,
    detail: &mut Map<String, Value>,
) -> Result<Request, Response> {
    let small = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| (1..=SUMMARY_BODY_MAX).contains(&n));
    if !small {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, SUMMARY_BODY_MAX)
        .await
        .map_err(|_| ApiError::bad_request("the request body could not be read").into_response())?;
    if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&bytes) {
        for name in SUMMARY_FIELDS {
            match fields.get(name) {
                Some(Value::String(s)) => {
                    detail.insert(name.into(), clip(s, 100).into());
                }
                Some(n @ (Value::Number(_) | Value::Bool(_))) => {
                    detail.insert(name.into(), n.clone());
                }
                _ => {}
            }
        }
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// At most `max` characters of `s`: what a client sends is stored, but bounded.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAudit {
    /// Only actions by the token with this name.
    #[param(value_type = Option<TokenName>, inline)]
    pub token: Option<String>,
    /// The previous page's `next_cursor`.
    #[param(inline)]
    pub cursor: Option<IdCursor>,
    /// Entries per page: 1 to 200, default 50.
    #[param(inline)]
    pub limit: Option<Limit>,
}

/// The audit log: every operator action (replay, order creation…) with the token's name and
/// what the API answered, refusals for scope included; newest first.
#[utoipa::path(get, path = "/v1/audit", operation_id = "list_audit", tag = "access", params(ListAudit),
    responses(
        (status = 200, description = "One page of the audit log", body = Page<AuditEntry>),
        BadRequest,
        Unauthorized,
        (status = 422, description = "`invalid_request`: `limit` out of range, or `token` is not a token name", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListAudit>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let limit = page::limit(q.limit)?;
    let before = q.cursor.map(|c| c.0);
    if let Some(t) = q.token.as_deref() {
        if !(storable(t) && valid_name(t)) {
            return Err(ApiError::invalid(
                "token must be a token name: 1 to 64 of A-Z a-z 0-9 . _ -",
            ));
        }
    }
    let rows = state
        .store
        .list_audit(seen_by(&caller, &tenant), q.token.as_deref(), before, limit)
        .await?;
    let next_cursor = page::next(&rows, limit, |e| e.id.to_string());
    Ok(Json(Page {
        data: rows,
        next_cursor,
    }))
}

/// Whose entries a caller reads: a merchant token its merchant's; a platform token every
/// entry, unless it names a merchant in `Keffi-Merchant`, then that merchant's.
fn seen_by<'a>(caller: &Caller, tenant: &'a Tenant) -> Option<&'a MerchantId> {
    match caller.merchant {
        Some(_) => Some(&tenant.0),
        None if tenant.is_default() => None,
        None => Some(&tenant.0),
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;

    use super::*;

    #[tokio::test]
    async fn a_small_json_body_is_summarised_and_passed_on_unchanged() {
        let body =
            r#"{"reference":"ord_1","amount":500,"currency":"NGN","metadata":{"x":"secret"}}"#;
        let req = Request::builder()
            .method("POST")
            .uri("/v1/orders")
            .header(header::CONTENT_LENGTH, body.len())
            .body(axum::body::Body::from(body))
            .unwrap();
        let mut detail = Map::new();
        let req = summarise_body(req, &mut detail).await.unwrap();
        assert_eq!(
            Value::Object(detail),
            serde_json::json!({"reference": "ord_1", "amount": 500, "currency": "NGN"})
        );
        let passed = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(passed, body.as_bytes());
    }

    #[tokio::test]
    async fn large_unsized_or_foreign_bodies_pass_untouched() {
        let big = "x".repeat(SUMMARY_BODY_MAX + 1);
        for (body, length) in [
            (big.clone(), Some(big.len())),
            (r#"{"reference":"r"}"#.to_owned(), None),
            ("not json".to_owned(), Some(8)),
        ] {
            let mut builder = Request::builder().method("POST").uri("/v1/orders");
            if let Some(n) = length {
                builder = builder.header(header::CONTENT_LENGTH, n);
            }
            let req = builder.body(axum::body::Body::from(body.clone())).unwrap();
            let mut detail = Map::new();
            let req = summarise_body(req, &mut detail).await.unwrap();
            assert!(detail.is_empty());
            let passed = axum::body::to_bytes(req.into_body(), usize::MAX)
                .await
                .unwrap();
            assert_eq!(passed, body.as_bytes());
        }
    }

    /// An audited route on `store`, behind insecure-mode authentication, on a loopback port.
    async fn serve(store: Store) -> String {
        use axum::routing::post;
        let app: Router = Router::new()
            .route("/v1/things/{id}", post(|| async { "done" }))
            .route_layer(middleware::from_fn_with_state(
                (store, Whose::Merchant),
                record,
            ))
            .route_layer(middleware::from_fn_with_state(
                crate::api::access::auth::Gate {
                    auth: crate::api::access::auth::AdminAuth::Disabled,
                    store: None,
                },
                crate::api::access::auth::authenticate,
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/things/7", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn an_action_is_recorded_after_it_answered() {
        let store = Store::connect("sqlite::memory:", &Default::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let resp = reqwest::Client::new()
            .post(serve(store.clone()).await)
            .header("idempotency-key", "k-1")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let rows = store.list_audit(None, None, None, 10).await.unwrap();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(
            (
                row.token_name.as_str(),
                row.token_scope.as_str(),
                row.status
            ),
            ("insecure-local", "admin", 200)
        );
        assert_eq!(
            (row.action.as_str(), row.target.as_str()),
            ("POST /v1/things/{id}", "/v1/things/7")
        );
        assert_eq!(
            row.detail,
            Some(serde_json::json!({"idempotency_key": "k-1"}))
        );
    }

    /// The action has happened: a failed audit write does not turn its answer into an error.
    #[tokio::test]
    async fn a_failed_audit_write_keeps_the_actions_answer() {
        // Not migrated: there is no audit_log to write to.
        let store = Store::connect("sqlite::memory:", &Default::default())
            .await
            .unwrap();
        let resp = reqwest::Client::new()
            .post(serve(store).await)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "done");
    }

    #[test]
    fn clip_counts_characters_not_bytes() {
        assert_eq!(clip("₦₦₦", 2), "₦₦");
        assert_eq!(clip("ab", 5), "ab");
    }
}
