//! The HTTP surface. Every error is the shared `{"error": {"code", "message"}}` body.

mod health;
mod hooks;

use std::sync::Arc;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use keffi_shared::edge::EdgeSettings;
use keffi_shared::wire::ErrorBody;

use crate::api::auth::AdminAuth;
use crate::changes::Changes;
use crate::puller::status::PullerStatus;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub puller: Arc<PullerStatus>,
    /// Sources for direct `POST /hooks/{source}` (from `KEFFI_SOURCES`), if configured.
    pub hooks: Option<Arc<EdgeSettings>>,
    /// Signalled after every commit that may have changed an order.
    pub changes: Changes,
    pub auth: AdminAuth,
    /// Long-lived responses (status streams) end when this fires, so shutdown is not held
    /// open by clients.
    pub shutdown: crate::shutdown::Shutdown,
    /// The reconciler's last background pass, for the dashboard.
    pub last_reconcile: crate::reconciler::LastRun,
    /// How long one status stream lasts before the server ends it (clients resume).
    pub sse_max_age: std::time::Duration,
    /// Renders `/metrics`; `None` if the recorder could not be installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

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
