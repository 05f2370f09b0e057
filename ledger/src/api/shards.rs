//! `/v1/shards`: the puller's view of each edge shard (state, cursor, backlog and lag).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use crate::puller::status::ShardStatus;

#[derive(Debug, Serialize, ToSchema)]
pub struct Shards {
    /// Whether this ledger pulls from an edge at all.
    pub puller_enabled: bool,
    pub shards: Vec<ShardStatus>,
}

/// The edge shards this replica pulls: state, cursor, lag.
#[utoipa::path(get, path = "/v1/shards", tag = "events",
    responses((status = 200, body = Shards)), security(("bearer" = [])))]
pub async fn list(State(state): State<ApiState>) -> Json<Shards> {
    Json(Shards {
        puller_enabled: state.puller.enabled,
        shards: state.puller.snapshot(),
    })
}
