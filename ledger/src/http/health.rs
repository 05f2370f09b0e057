//! `/healthz`: the process is up. `/readyz`: the database answers; the puller's state per shard.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::AppState;
use crate::puller::status::ShardStatus;

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    service: &'static str,
    version: &'static str,
}

pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        service: "keffi-ledger",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    database: DatabaseReadiness,
    puller: PullerReadiness,
}

#[derive(Serialize)]
struct DatabaseReadiness {
    backend: &'static str,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct PullerReadiness {
    enabled: bool,
    shards: Vec<ShardStatus>,
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let ping = state.store.ping().await;
    let ready = ping.is_ok();
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        database: DatabaseReadiness {
            backend: state.store.backend(),
            reachable: ready,
            error: ping.err().map(|e| e.to_string()),
        },
        puller: PullerReadiness {
            enabled: state.puller.enabled,
            shards: state.puller.snapshot(),
        },
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
