//! `GET /v1/orders/{reference}/events`: the order's status as Server-Sent Events — the current
//! status at once, then every change. Each event's id is the order's version, so a client that
//! reconnects with `Last-Event-ID` gets the latest status only if it changed meanwhile.
//!
//! A stream follows its one reference on the change feed (`crate::changes`): it wakes only
//! when its own order moves, with the new status in hand, and reads the database once, when
//! it opens. Idle, it costs a `watch` receiver and the keep-alive comments. Past the
//! configured number of open streams, a new one is refused with 503 and `Retry-After` (the
//! client library falls back to polling with backoff).

use crate::api::access::tenant::Tenant;
use keffi_shared::MerchantId;
use std::convert::Infallible;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream};

use crate::api::support::contract::{
    BadRequest, OrderStatusStreamEvent, StreamUnavailable, Unauthorized,
};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{ApiPath, ApiQuery, NoQuery, OrderPath};
use crate::api::support::ApiState;
use crate::changes::{Follower, Full};
pub use crate::store::notify::OrderChange as OrderStatusEvent;
use keffi_shared::wire::ErrorBody;

/// Seconds a client refused for the stream cap is asked to wait.
const RETRY_AFTER_SECONDS: u32 = 5;

/// The headers a status stream reads, as the document states them (the handler reads
/// `Last-Event-ID` from the request's headers).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct StreamHeaders {
    /// The last event's id (an order version) when reconnecting: the stream then starts with
    /// the next change. Anything that is not an integer is ignored.
    #[param(rename = "Last-Event-ID", required = false)]
    last_event_id: String,
}

/// Live order status (Server-Sent Events). Events are named `status`, carry an
/// `OrderStatusEvent` as data and the order's version as id; send `Last-Event-ID` to resume.
/// A stream ends after `KEFFI_SSE_MAX_SECONDS` (5 minutes by default); reconnect with
/// `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/orders/{reference}/events", operation_id = "follow_order", tag = "orders",
    params(OrderPath, StreamHeaders),
    responses(
        (status = 200, description = "A stream of `status` events", content_type = "text/event-stream", body = OrderStatusStreamEvent),
        BadRequest,
        Unauthorized,
        (status = 404, description = "`not_found`: no such order", body = ErrorBody),
        StreamUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn order_events(
    State(state): State<ApiState>,
    tenant: Tenant,
    headers: HeaderMap,
    ApiPath(OrderPath { reference }): ApiPath<OrderPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Response, ApiError> {
    open_stream(state, &headers, &tenant, reference).await
}

/// The `Last-Event-ID` a reconnecting client sent.
fn last_event_id(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
}

/// Opens a status stream on the merchant's `reference` for a caller already authorised:
/// follows it first, then reads its current state, so no change can slip between the two.
pub(crate) async fn open_stream(
    state: ApiState,
    headers: &HeaderMap,
    merchant: &MerchantId,
    reference: String,
) -> Result<Response, ApiError> {
    if !keffi_shared::Reference::is_valid(&reference) {
        // No order has such a reference; neither the stream cap nor the store is asked.
        return Err(ApiError::not_found("order", &reference));
    }
    let follower = match state.changes.follow(merchant, &reference) {
        Ok(f) => f,
        Err(full) => return Ok(too_many(full)),
    };
    let Some(order) = state.store.order_record(merchant, &reference).await? else {
        return Err(ApiError::not_found("order", &reference));
    };
    let current = OrderStatusEvent::from(&order);
    let stream = status_stream(state, follower, current, last_event_id(headers));
    // Keep-alives come from the shared heartbeat (see `Follow::beat`), not a timer per stream.
    Ok(Sse::new(stream).into_response())
}

fn too_many(full: Full) -> Response {
    crate::telemetry_metrics::stream_refused();
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(keffi_shared::wire::ErrorBody::new(
            "too_many_streams",
            format!("{full}; retry in {RETRY_AFTER_SECONDS} s or poll the order's status"),
        )),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
    resp
}

struct Follow {
    follower: Follower,
    /// The order's state when the stream opened, sent first if the client lacks it.
    current: Option<OrderStatusEvent>,
    last_sent: Option<i64>,
    /// The ledger's shared stream clock: a keep-alive each beat, and the lifetime check.
    beat: tokio::sync::watch::Receiver<u64>,
    /// When this stream ends on its own (the client reconnects with Last-Event-ID): a bounded
    /// lifetime keeps half-dead connections from piling up behind proxies and mobile networks.
    /// Checked at each beat, so no timer per stream.
    ends_at: std::time::Instant,
    shutdown: crate::shutdown::Shutdown,
}

fn status_stream(
    state: ApiState,
    follower: Follower,
    current: OrderStatusEvent,
    last_seen: Option<i64>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let mut beat = state.changes.heartbeat();
    beat.mark_unchanged();
    let follow = Follow {
        follower,
        current: Some(current),
        last_sent: last_seen,
        beat,
        ends_at: std::time::Instant::now() + state.sse_max_age,
        shutdown: state.shutdown.clone(),
    };
    stream::unfold(follow, |mut f| async move {
        if let Some(now) = f.current.take() {
            if f.last_sent.is_none_or(|v| now.version > v) {
                f.last_sent = Some(now.version);
                return Some((Ok(event(&now)), f));
            }
        }
        if f.shutdown.is_requested() {
            return None;
        }
        tokio::select! {
            next = f.follower.next_after(f.last_sent) => {
                let next = next?;
                f.last_sent = Some(next.version);
                Some((Ok(event(&next)), f))
            }
            beat = f.beat.changed() => {
                if beat.is_err() || std::time::Instant::now() >= f.ends_at {
                    return None;
                }
                Some((Ok(Event::default().comment("")), f))
            }
            _ = f.shutdown.clone().wait() => None,
        }
    })
}

fn event(order: &OrderStatusEvent) -> Event {
    Event::default()
        .event("status")
        .id(order.version.to_string())
        .json_data(order)
        .unwrap_or_else(|_| Event::default().comment("unserialisable"))
}
