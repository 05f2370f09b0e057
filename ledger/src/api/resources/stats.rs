//! `GET /v1/stats/series`: what the dashboard's charts draw. Received and applied per minute
//! and dead per hour are counted from the inbox itself (`received_at_ms`, and `applied_at_ms`
//! with the status now), each a bounded range of an index; backlog age per shard is the lag
//! the puller records each pull, now and per minute over the last hour (kept in memory).

use crate::api::access::tenant::Tenant;
use crate::api::access::tokens::Caller;
use axum::Extension;
use std::borrow::Cow;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::ApiQuery;
use crate::api::support::ApiState;
use crate::puller::status::LagSample;
use crate::store::timeline::Bucket;
use crate::store::{now_ms, InboxStatus};
use keffi_shared::wire::ErrorBody;

/// How many minutes the series covers unless asked, and at most.
const DEFAULT_MINUTES: u32 = 60;
const MAX_MINUTES: u32 = 180;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DEAD_HOURS: i64 = 24;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// How many minutes the per-minute series covers, ending now: 1 to 180, default 60.
    #[param(inline)]
    pub minutes: Option<Minutes>,
}

/// `minutes`, as asked: held to 1 to [`MAX_MINUTES`] by the handler (422 past it).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(transparent)]
pub struct Minutes(pub u32);

impl PartialSchema for Minutes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(1))
            .maximum(Some(MAX_MINUTES))
            .default(Some(DEFAULT_MINUTES.into()))
            .into()
    }
}

impl ToSchema for Minutes {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Minutes")
    }
}

/// One minute of the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MinutePoint {
    /// The minute's start, ms since the epoch.
    pub minute_ms: i64,
    /// Events received in it (pulled from the edge or posted to `/hooks`), by the time the
    /// gateway's delivery was accepted.
    pub received: i64,
    /// Events applied in it (status `applied` now, settled in this minute).
    pub applied: i64,
}

/// One hour of dead events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HourPoint {
    /// The hour's start, ms since the epoch.
    pub hour_ms: i64,
    /// Events that became dead in it and are dead still (a replayed one leaves its hour).
    pub dead: i64,
}

/// A shard's backlog now, as of its last pull.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ShardBacklog {
    pub shard: u32,
    /// Age of the oldest event the edge holds unacknowledged.
    pub lag_seconds: f64,
    /// Events stored at the edge and not yet applied here.
    pub lag_events: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    /// When the series were read, ms since the epoch.
    pub now_ms: i64,
    /// Every minute of the window, oldest first (zeros included), the current minute last.
    pub minutes: Vec<MinutePoint>,
    /// Each of the last 24 hours, oldest first, the current hour last.
    pub hours: Vec<HourPoint>,
    /// Whether this ledger pulls from an edge (without one, `shards` and `lag` are empty; they
    /// are the edge's, shared by every merchant, so a merchant's token gets them empty too).
    pub puller_enabled: bool,
    /// Each shard's backlog now.
    pub shards: Vec<ShardBacklog>,
    /// Each shard's largest backlog age per minute over the last hour, as this replica's pulls
    /// saw it (since it started), oldest minute first.
    pub lag: Vec<LagSample>,
}

/// `count` for each bucket start from `first`, `step` apart, `n` of them (absent ones are 0).
fn fill(first: i64, step: i64, n: i64, rows: &[Bucket]) -> Vec<(i64, i64)> {
    (0..n)
        .map(|i| {
            let at = first + i * step;
            let count = rows.iter().find(|b| b.bucket == at).map_or(0, |b| b.count);
            (at, count)
        })
        .collect()
}

/// The charts' data: received and applied per minute, dead per hour, backlog age per shard.
#[utoipa::path(get, path = "/v1/stats/series", operation_id = "get_stats_series", tag = "events", params(SeriesQuery),
    responses(
        (status = 200, description = "The series", body = Series),
        BadRequest,
        Unauthorized,
        (status = 422, description = "`invalid_request`: `minutes` out of range", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn series(
    State(state): State<ApiState>,
    tenant: Tenant,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> Result<Json<Series>, ApiError> {
    let minutes = q.minutes.map_or(DEFAULT_MINUTES, |m| m.0);
    if !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(ApiError::invalid(format!(
            "minutes must be between 1 and {MAX_MINUTES} (got {minutes})"
        )));
    }
    let now = now_ms();
    let minutes = i64::from(minutes);
    let this_minute = now - now.rem_euclid(MINUTE_MS);
    let first_minute = this_minute - (minutes - 1) * MINUTE_MS;
    let end = this_minute + MINUTE_MS;
    let store = &state.store;
    let received = store
        .received_per(&tenant, MINUTE_MS, first_minute, end)
        .await?;
    let applied = store
        .settled_per(&tenant, InboxStatus::Applied, MINUTE_MS, first_minute, end)
        .await?;
    let this_hour = now - now.rem_euclid(HOUR_MS);
    let first_hour = this_hour - (DEAD_HOURS - 1) * HOUR_MS;
    let dead = store
        .settled_per(
            &tenant,
            InboxStatus::Dead,
            HOUR_MS,
            first_hour,
            this_hour + HOUR_MS,
        )
        .await?;
    let applied = fill(first_minute, MINUTE_MS, minutes, &applied);
    let minutes = fill(first_minute, MINUTE_MS, minutes, &received)
        .into_iter()
        .zip(applied)
        .map(|((minute_ms, received), (_, applied))| MinutePoint {
            minute_ms,
            received,
            applied,
        })
        .collect();
    let hours = fill(first_hour, HOUR_MS, DEAD_HOURS, &dead)
        .into_iter()
        .map(|(hour_ms, dead)| HourPoint { hour_ms, dead })
        .collect();
    let platform = caller.is_platform();
    let shards = state
        .puller
        .snapshot()
        .into_iter()
        .filter(|_| platform)
        .map(|s| ShardBacklog {
            shard: s.shard,
            lag_seconds: s.lag_seconds,
            lag_events: s.lag_events,
        })
        .collect();
    Ok(Json(Series {
        now_ms: now,
        minutes,
        hours,
        puller_enabled: state.puller.enabled,
        shards,
        lag: if platform {
            state.puller.lag_history()
        } else {
            Vec::new()
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_buckets_are_zero() {
        let rows = [
            Bucket {
                bucket: 120,
                count: 4,
            },
            Bucket {
                bucket: 0,
                count: 1,
            },
        ];
        assert_eq!(fill(0, 60, 3, &rows), [(0, 1), (60, 0), (120, 4)]);
    }
}
