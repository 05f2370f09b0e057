//! The HTTP surface. Every error is the shared `{"error": {"code", "message"}}` body.

mod health;
mod hooks;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use keffi_shared::wire::ErrorBody;

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(crate::api::routes(state.clone()))
        .merge(crate::api::client_routes())
        .merge(Router::new().route("/metrics", get(metrics)).route_layer(
            axum::middleware::from_fn_with_state(
                state.auth.clone(),
                crate::api::auth::require_admin,
            ),
        ))
        .route("/openapi.json", get(crate::api::openapi))
        .route("/", get(dashboard))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/hooks/{source}", any(hooks::receive))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(crate::telemetry_metrics::http))
        .with_state(state)
}

/// The operator dashboard: one self-contained page embedded in the binary. It holds no data
/// itself; after sign-in it reads the admin API with the operator's token.
async fn dashboard() -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
            ),
        ],
        include_str!("../../assets/dashboard.html"),
    )
        .into_response()
}

/// `/metrics` in Prometheus text format (behind the admin token, like the rest of the API).
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            handle.render(),
        )
            .into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_unavailable",
            "the metrics recorder is not installed",
        ),
    }
}

/// A JSON error response.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(ErrorBody::new(code, message))).into_response()
}

async fn not_found(uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {}", uri.path()),
    )
}
