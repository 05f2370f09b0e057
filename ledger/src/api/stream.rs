//! `GET /v1/orders/{reference}/events`: the order's status as Server-Sent Events — the current
//! status at once, then every change. Each event's id is the order's version, so a client that
//! reconnects with `Last-Event-ID` gets the latest status only if it changed meanwhile.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::ApiPath;
use super::ApiState;
use crate::store::admin::OrderRecord;

/// How often a stream re-reads the order when nothing on this replica signalled a change
/// (changes applied by another replica).
const POLL: Duration = Duration::from_millis(1000);

/// The data of a `status` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderStatusEvent {
    pub reference: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub review_reason: Option<String>,
    pub version: i64,
}

impl From<&OrderRecord> for OrderStatusEvent {
    fn from(o: &OrderRecord) -> Self {
        OrderStatusEvent {
            reference: o.reference.clone(),
            status: o.status.clone(),
            amount: o.amount,
            currency: o.currency.clone(),
            review_reason: o.review_reason.clone(),
            version: o.version,
        }
    }
}

/// Live order status (Server-Sent Events). Events are named `status`, carry an
/// `OrderStatusEvent` as data and the order's version as id; send `Last-Event-ID` to resume.
#[utoipa::path(get, path = "/v1/orders/{reference}/events", tag = "orders",
    params(("reference" = String, Path), ("Last-Event-ID" = Option<i64>, Header)),
    responses((status = 200, description = "text/event-stream of `status` events", body = OrderStatusEvent, content_type = "text/event-stream"),
              (status = 404, body = super::error::ErrorSchema)),
    security(("bearer" = [])))]
pub async fn order_events(
    State(state): State<ApiState>,
    headers: HeaderMap,
    ApiPath(reference): ApiPath<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if state.store.order_record(&reference).await?.is_none() {
        return Err(ApiError::not_found("order", &reference));
    }
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    Ok(Sse::new(status_stream(state, reference, last_seen)).keep_alive(KeepAlive::default()))
}

struct Follow {
    state: ApiState,
    /// When this stream ends on its own (the client reconnects with Last-Event-ID): a bounded
    /// lifetime keeps half-dead connections from piling up behind proxies and mobile networks.
    ends_at: tokio::time::Instant,
    reference: String,
    last_sent: Option<i64>,
    changes: tokio::sync::watch::Receiver<u64>,
}

pub(crate) fn status_stream(
    state: ApiState,
    reference: String,
    last_seen: Option<i64>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let changes = state.changes.subscribe();
    let ends_at = tokio::time::Instant::now() + state.sse_max_age;
    let follow = Follow {
        ends_at,
        state,
        reference,
        last_sent: last_seen,
        changes,
    };
    stream::unfold(follow, |mut f| async move {
        loop {
            if f.state.shutdown.is_requested() || tokio::time::Instant::now() >= f.ends_at {
                return None;
            }
            if let Ok(Some(order)) = f.state.store.order_record(&f.reference).await {
                if f.last_sent.is_none_or(|v| order.version > v) {
                    f.last_sent = Some(order.version);
                    let event = Event::default()
                        .event("status")
                        .id(order.version.to_string())
                        .json_data(OrderStatusEvent::from(&order))
                        .unwrap_or_else(|_| Event::default().comment("unserialisable"));
                    return Some((Ok(event), f));
                }
            }
            tokio::select! {
                changed = f.changes.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(POLL).await;
                    }
                }
                _ = tokio::time::sleep(POLL) => {}
                _ = tokio::time::sleep_until(f.ends_at) => {}
                _ = f.state.shutdown.clone().wait() => return None,
            }
        }
    })
}
