//! `/v1/events`: the inbox, for review (`?status=dead` / `parked`), and replay.

use axum::extract::State;
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};

use super::contract::{self, BadRequest, StoreUnavailable, Unauthorized};
use super::error::{ApiError, ErrorSchema};
use super::extract::{storable, ApiPath, ApiQuery, NoQuery};
use super::page::{self, Page};
use super::ApiState;
use crate::pipeline::{self, Replayed};
use crate::store::InboxEvent;

/// An inbox event: what arrived, how, and what became of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    #[serde(flatten)]
    pub event: InboxEvent,
    /// The raw body as received (UTF-8 text; base64 if it is not text). Only on `GET /v1/events/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl EventView {
    fn new(event: InboxEvent, with_body: bool) -> Self {
        let body = with_body
            .then(|| keffi_shared::Envelope::from_json(&event.envelope).ok())
            .flatten()
            .map(|env| match String::from_utf8(env.body) {
                Ok(text) => text,
                Err(raw) => base64::engine::general_purpose::STANDARD.encode(raw.into_bytes()),
            });
        EventView { event, body }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListEvents {
    /// Only events with this status.
    pub status: Option<String>,
    /// Only events about this payment reference.
    pub reference: Option<String>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Events per page: 1 to 200, default 50.
    pub limit: Option<u32>,
}

impl IntoParams for ListEvents {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            contract::query(
                "status",
                "Only events with this status.",
                contract::inbox_status(),
            ),
            contract::query(
                "reference",
                "Only events about this payment reference.",
                contract::gateway_reference(),
            ),
            contract::query(
                "cursor",
                "The previous page's `next_cursor`.",
                contract::id_cursor(),
            ),
            contract::query(
                "limit",
                "Events per page: 1 to 200, default 50.",
                contract::limit(),
            ),
        ]
    }
}

/// Inbox events, newest first.
#[utoipa::path(get, path = "/v1/events", operation_id = "list_events", tag = "events", params(ListEvents),
    responses(
        (status = 200, description = "One page of events", body = Page<EventView>),
        BadRequest,
        Unauthorized,
        (status = 422, description = "`invalid_request`: `limit` out of range, or an unknown `status`", body = ErrorSchema),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<ListEvents>,
) -> Result<Json<Page<EventView>>, ApiError> {
    if let Some(s) = &q.status {
        s.parse::<crate::store::InboxStatus>()
            .map_err(ApiError::invalid)?;
    }
    let limit = page::limit(q.limit)?;
    let before = page::decode_id(q.cursor.as_deref())?;
    if !q.reference.as_deref().is_none_or(storable) {
        return Ok(Json(Page {
            data: Vec::new(),
            next_cursor: None,
        }));
    }
    let rows = state
        .store
        .list_events(q.status.as_deref(), q.reference.as_deref(), before, limit)
        .await?;
    let next_cursor = page::next(&rows, limit, |e| e.id.to_string());
    Ok(Json(Page {
        data: rows.into_iter().map(|e| EventView::new(e, false)).collect(),
        next_cursor,
    }))
}

/// One inbox event, with its raw body.
#[utoipa::path(get, path = "/v1/events/{id}", operation_id = "get_event", tag = "events", params(("id" = i64, Path, description = "The inbox event's id.")),
    responses(
        (status = 200, description = "The event, with its body", body = EventView),
        BadRequest,
        Unauthorized,
        (status = 404, description = "`not_found`: no such event", body = ErrorSchema),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<EventView>, ApiError> {
    state
        .store
        .inbox_event(id)
        .await?
        .map(|e| Json(EventView::new(e, true)))
        .ok_or_else(|| ApiError::not_found("event", &id.to_string()))
}

/// Re-apply a dead or parked event through the same pipeline (after a fix). Idempotent:
/// replaying an applied event changes nothing and says so.
#[utoipa::path(post, path = "/v1/events/{id}/replay", operation_id = "replay_event", tag = "events", params(("id" = i64, Path, description = "The inbox event's id.")),
    responses(
        (status = 200, description = "What the replay did (or why it did nothing)", body = Replayed),
        BadRequest,
        Unauthorized,
        (status = 404, description = "`not_found`: no such event", body = ErrorSchema),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn replay(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<Replayed>, ApiError> {
    let replayed = pipeline::replay(&state.store, id)
        .await?
        .ok_or_else(|| ApiError::not_found("event", &id.to_string()))?;
    state.changes.publish(&replayed.moved);
    Ok(Json(replayed))
}
