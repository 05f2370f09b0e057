//! `/v1/shards`: the puller's view of each edge shard (state, cursor, backlog and lag).

use crate::api::access::tenant::Platform;
use crate::api::support::error::ApiError;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::support::contract::{BadRequest, Unauthorized};
use crate::api::support::extract::{ApiQuery, NoQuery};
use crate::api::support::ApiState;
use crate::puller::status::ShardStatus;

/// Named `PullerStatus` in the document (a schema named like its `shards` property trips
/// openapi-python-client, as `Balances` does).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PullerStatus)]
pub struct Shards {
    /// Whether this ledger pulls from an edge at all.
    pub puller_enabled: bool,
    pub shards: Vec<ShardStatus>,
}

/// The edge shards this replica pulls: state, cursor, lag.
#[utoipa::path(get, path = "/v1/shards", operation_id = "list_shards", tag = "events",
    responses(
        (status = 200, description = "The shards and the puller's view of each", body = Shards),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token (this is the platform's, shared by every merchant)", body = keffi_shared::wire::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    _: Platform,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<Shards>, ApiError> {
    Ok(Json(Shards {
        puller_enabled: state.puller.enabled,
        shards: state.puller.snapshot(),
    }))
}
