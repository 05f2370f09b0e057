//! The browser's routes, opened by a per-order client secret instead of the admin token:
//! `GET /client/v1/orders/{reference}` (status) and `…/events` (the live status stream), plus
//! the client library itself at `/client/keffi.js`. CORS is open on these routes so a
//! merchant's page on its own origin can use them; the secret is the only key.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::stream::{open_stream, OrderStatusEvent, StreamHeaders};
use crate::api::access::client_secret;
use crate::api::support::contract::{BadRequest, ClientUnauthorized, OrderStatusStreamEvent};
use crate::api::support::contract::{StoreUnavailable, StreamUnavailable};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{ApiPath, ApiQuery, OrderPath};
use crate::api::support::ApiState;

/// The query these routes take: the order's client secret (or send it as
/// `X-Keffi-Client-Secret`). In the OpenAPI document it is the `client_secret` security
/// scheme (with `client_secret_header`), not a parameter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretQuery {
    pub client_secret: Option<String>,
}

fn secret<'a>(q: &'a SecretQuery, headers: &'a HeaderMap) -> Option<&'a str> {
    q.client_secret.as_deref().or_else(|| {
        headers
            .get("x-keffi-client-secret")
            .and_then(|v| v.to_str().ok())
    })
}

/// An order's status, for the browser holding its client secret.
#[utoipa::path(get, path = "/client/v1/orders/{reference}", operation_id = "client_get_order_status", tag = "client",
    params(OrderPath),
    responses(
        (status = 200, description = "The order's status", body = OrderStatusEvent),
        BadRequest,
        ClientUnauthorized,
        StoreUnavailable,
    ),
    security(("client_secret" = []), ("client_secret_header" = [])))]
pub async fn status(
    State(state): State<ApiState>,
    headers: HeaderMap,
    ApiPath(OrderPath { reference }): ApiPath<OrderPath>,
    ApiQuery(q): ApiQuery<SecretQuery>,
) -> Result<Json<OrderStatusEvent>, ApiError> {
    let merchant = client_secret::authorize(&state.store, &reference, secret(&q, &headers)).await?;
    let order = state
        .store
        .order_record(&merchant, &reference)
        .await?
        .ok_or_else(|| ApiError::not_found("order", &reference))?;
    Ok(Json(OrderStatusEvent::from(&order)))
}

/// An order's live status (Server-Sent Events), for the browser holding its client secret.
/// Same events as the admin stream; `Last-Event-ID` resumes.
#[utoipa::path(get, path = "/client/v1/orders/{reference}/events", operation_id = "client_follow_order", tag = "client",
    params(OrderPath, StreamHeaders),
    responses(
        (status = 200, description = "A stream of `status` events", content_type = "text/event-stream", body = OrderStatusStreamEvent),
        BadRequest,
        ClientUnauthorized,
        StreamUnavailable,
    ),
    security(("client_secret" = []), ("client_secret_header" = [])))]
pub async fn events(
    State(state): State<ApiState>,
    headers: HeaderMap,
    ApiPath(OrderPath { reference }): ApiPath<OrderPath>,
    ApiQuery(q): ApiQuery<SecretQuery>,
) -> Result<Response, ApiError> {
    let merchant = client_secret::authorize(&state.store, &reference, secret(&q, &headers)).await?;
    open_stream(state, &headers, &merchant, reference).await
}

/// The client library: no build step, no framework.
pub async fn library() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../../assets/keffi.js"),
    )
        .into_response()
}
