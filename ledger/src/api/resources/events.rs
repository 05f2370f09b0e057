//! `/v1/events`: the inbox, for review (`?status=dead` / `parked`, `?provider=`), and replay:
//! one event, or the dead events matching a filter in bulk (a dry run counts them first).

use crate::api::access::tenant::Tenant;
use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use base64::Engine;
use keffi_shared::wire::ErrorBody;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{storable, ApiJson, ApiPath, ApiQuery, NoQuery};
use crate::api::support::page::{self, IdCursor, Limit, Page};
use crate::api::support::ApiState;
use crate::pipeline::{self, Replayed};
use crate::store::timeline::EventFilter;
use crate::store::{InboxEvent, InboxStatus};

/// An inbox event: what arrived, how, and what became of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    #[serde(flatten)]
    pub event: InboxEvent,
    /// The raw body as received (UTF-8 text; base64 if it is not text). Only on `GET /v1/events/{id}`
    /// and in an order's timeline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The delivery's headers the edge kept (lower-cased names; the provider's audit headers),
    /// with `body`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

impl EventView {
    pub(super) fn new(event: InboxEvent, with_body: bool) -> Self {
        let envelope = with_body
            .then(|| keffi_shared::Envelope::from_json(&event.envelope).ok())
            .flatten();
        let (body, headers) = match envelope {
            Some(env) => {
                let body = match String::from_utf8(env.body) {
                    Ok(text) => text,
                    Err(raw) => base64::engine::general_purpose::STANDARD.encode(raw.into_bytes()),
                };
                (Some(body), Some(env.headers))
            }
            None => (None, None),
        };
        EventView {
            event,
            body,
            headers,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEvents {
    /// Only events with this status.
    #[param(value_type = Option<InboxStatus>)]
    pub status: Option<String>,
    /// Only events about this payment reference.
    pub reference: Option<String>,
    /// Only events from this provider, as the inbox names it (`paystack`, `flutterwave`,
    /// `stripe`, `standard-webhooks`); another name matches none.
    pub provider: Option<String>,
    /// The previous page's `next_cursor`.
    #[param(inline)]
    pub cursor: Option<IdCursor>,
    /// Events per page: 1 to 200, default 50.
    #[param(inline)]
    pub limit: Option<Limit>,
}

/// Inbox events, newest first, optionally by status, reference and provider.
#[utoipa::path(get, path = "/v1/events", operation_id = "list_events", tag = "events", params(ListEvents),
    responses(
        (status = 200, description = "One page of events", body = Page<EventView>),
        BadRequest,
        Unauthorized,
        (status = 422, description = "`invalid_request`: `limit` out of range, or an unknown `status`", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<ListEvents>,
) -> Result<Json<Page<EventView>>, ApiError> {
    let status = page::status_filter::<InboxStatus>(q.status.as_deref())?;
    let limit = page::limit(q.limit)?;
    let before = q.cursor.map(|c| c.0);
    if ![&q.reference, &q.provider]
        .iter()
        .all(|f| f.as_deref().is_none_or(storable))
    {
        return Ok(Json(Page {
            data: Vec::new(),
            next_cursor: None,
        }));
    }
    let filter = EventFilter {
        status,
        provider: q.provider.as_deref(),
        source: None,
        reference: q.reference.as_deref(),
        ..EventFilter::of(&tenant)
    };
    let rows = state
        .store
        .list_events_where(&filter, before, limit)
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
        (status = 404, description = "`not_found`: no such event", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<EventView>, ApiError> {
    state
        .store
        .inbox_event(&tenant, id)
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
        (status = 404, description = "`not_found`: no such event", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn replay(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<Replayed>, ApiError> {
    let replayed = pipeline::replay(&state.store, &tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("event", &id.to_string()))?;
    state.changes.publish(&replayed.moved);
    Ok(Json(replayed))
}

/// The most events one bulk replay takes (each is its own transaction).
pub const BULK_REPLAY_MAX: u32 = 500;
/// How many it takes when the request does not say.
pub const BULK_REPLAY_DEFAULT: u32 = 100;

/// The only status replayed in bulk.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkReplayStatus {
    Dead,
}

/// Which dead events to replay, or to count first.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkReplay {
    /// Always `dead`: parked events are re-tried by the sweep, one at a time by hand.
    pub status: BulkReplayStatus,
    /// Only events from this provider.
    pub provider: Option<String>,
    /// Only events from this source (`/hooks/{source}`).
    pub source: Option<String>,
    /// Only events about this payment reference.
    pub reference: Option<String>,
    /// Count the matching events and list the ids a real run would take, replaying nothing.
    pub dry_run: bool,
    /// At most this many events this call, oldest first: 1 to 500, default 100.
    #[serde(
        default,
        deserialize_with = "crate::api::support::extract::whole_number"
    )]
    #[schema(minimum = 1, maximum = 500, default = 100)]
    pub limit: Option<i64>,
    /// Start after this event id (a previous answer's `next_after_id`), so events that stay
    /// dead do not hold back the ones behind them.
    #[serde(
        default,
        deserialize_with = "crate::api::support::extract::whole_number"
    )]
    #[schema(minimum = 0)]
    pub after_id: Option<i64>,
}

/// Events by their status after a replay.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StatusCounts {
    pub applied: u64,
    pub ignored: u64,
    pub parked: u64,
    pub dead: u64,
}

impl StatusCounts {
    fn add(&mut self, status: InboxStatus) {
        *match status {
            InboxStatus::Applied => &mut self.applied,
            InboxStatus::Ignored => &mut self.ignored,
            InboxStatus::Parked => &mut self.parked,
            InboxStatus::Dead => &mut self.dead,
        } += 1;
    }
}

/// What a bulk replay did, or (dry run) would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkReplayed {
    pub dry_run: bool,
    /// Dead events matching the filter now (after `after_id`), whatever the limit.
    pub matched: i64,
    /// The events this call took (a dry run: would take), oldest first, at most `limit`.
    pub ids: Vec<i64>,
    /// How many it replayed (0 on a dry run).
    pub replayed: u64,
    /// The replayed events by their status afterwards.
    pub by_status: StatusCounts,
    /// More match beyond `ids`: pass as `after_id` to go on.
    pub next_after_id: Option<i64>,
}

/// Replays the dead events matching a filter through the same pipeline as one replay, each in
/// its own transaction, oldest first, at most `limit` a call; `dry_run` counts them first. An
/// event that is still dead after its replay stays in the filter: repeat with `after_id` to
/// go past it. Repeating a call is safe: an event no longer dead is not taken again.
#[utoipa::path(post, path = "/v1/events/replay", operation_id = "replay_events", tag = "events",
    request_body = BulkReplay,
    responses(
        (status = 200, description = "What the replay did, or would do", body = BulkReplayed),
        BadRequest,
        Unauthorized,
        (status = 413, description = "`payload_too_large`: the body is larger than this route takes", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: a field of the wrong type, an unknown field, a status other than `dead`, or `limit` out of range", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn replay_bulk(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
    ApiJson(req): ApiJson<BulkReplay>,
) -> Result<Json<BulkReplayed>, ApiError> {
    let BulkReplayStatus::Dead = req.status;
    let limit = req.limit.unwrap_or(BULK_REPLAY_DEFAULT.into());
    if !(1..=i64::from(BULK_REPLAY_MAX)).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {BULK_REPLAY_MAX} (got {limit})"
        )));
    }
    let limit = limit as u32;
    if req.after_id.is_some_and(|id| id < 0) {
        return Err(ApiError::invalid("after_id must be 0 or more"));
    }
    let mut answer = BulkReplayed {
        dry_run: req.dry_run,
        matched: 0,
        ids: Vec::new(),
        replayed: 0,
        by_status: StatusCounts::default(),
        next_after_id: None,
    };
    if ![&req.provider, &req.source, &req.reference]
        .iter()
        .all(|f| f.as_deref().is_none_or(storable))
    {
        return Ok(Json(answer));
    }
    let filter = EventFilter {
        status: Some(InboxStatus::Dead),
        provider: req.provider.as_deref(),
        source: req.source.as_deref(),
        reference: req.reference.as_deref(),
        ..EventFilter::of(&tenant)
    };
    answer.matched = state
        .store
        .count_events_after(&filter, req.after_id)
        .await?;
    answer.ids = state
        .store
        .event_ids_where(&filter, req.after_id, limit)
        .await?;
    if answer.matched > answer.ids.len() as i64 {
        answer.next_after_id = answer.ids.last().copied();
    }
    if req.dry_run {
        return Ok(Json(answer));
    }
    for &id in &answer.ids {
        // One at a time, each its own transaction, exactly as `POST /v1/events/{id}/replay`.
        let Some(replayed) = pipeline::replay(&state.store, &tenant, id).await? else {
            continue;
        };
        state.changes.publish(&replayed.moved);
        answer.replayed += 1;
        answer.by_status.add(replayed.after);
    }
    Ok(Json(answer))
}
