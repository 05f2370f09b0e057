//! The HTTP surface. Every error is the shared `{"error": {"code", "message"}}` body.

mod dashboard;
mod health;
mod hooks;

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::MatchedPath;
use axum::http::{header, HeaderValue, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use keffi_shared::wire::ErrorBody;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::field::Empty;
use tracing::Span;

use crate::api::support::error::ApiError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let (api, document) = crate::api::routes(&state);
    // Serialised once: the document is fixed for the life of the process.
    let document = Bytes::from(serde_json::to_vec(&document).unwrap_or_default());
    Router::new()
        .merge(api)
        // Any valid platform token (every scope includes `read`) may scrape.
        .merge(Router::new().route("/metrics", get(metrics)).route_layer(
            axum::middleware::from_fn_with_state(
                crate::api::access::auth::Gate {
                    auth: state.auth.clone(),
                    store: Some(state.store.clone()),
                },
                crate::api::access::auth::authenticate,
            ),
        ))
        .route(
            "/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], document) }),
        )
        .route("/", get(dashboard::page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/hooks/{source}", any(hooks::receive))
        .fallback(not_found)
        // No answer of ours is meant to be read as anything but the type it declares.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(axum::middleware::from_fn(crate::telemetry_metrics::http))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(record_response)
                .on_body_chunk(())
                .on_eos(())
                // A failing request is logged by its handler, inside this span.
                .on_failure(()),
        )
        .with_state(state)
}

/// Each request's span: its method and matched route (`/v1/orders/{reference}`, never the
/// raw path with its ids: bounded, and no reference or secret in the logs), then the
/// response's status and latency.
fn request_span<B>(req: &Request<B>) -> Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "http_request",
        method = %req.method(),
        route,
        status = Empty,
        latency_ms = Empty,
    )
}

/// Records the response on the request's span (a stream's body may go on long after).
fn record_response<B>(resp: &axum::http::Response<B>, latency: Duration, span: &Span) {
    span.record("status", resp.status().as_u16());
    span.record("latency_ms", latency.as_micros() as f64 / 1000.0);
    tracing::debug!("response");
}

/// `/metrics` in Prometheus text format (behind a platform token of any scope: the counts
/// are every merchant's, so a merchant's token is refused). Each scrape first asks the
/// database what `/readyz` asks it, for `keffi_ledger_ready`; a database that does not answer
/// within a few seconds counts as not ready.
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    platform: Result<crate::api::access::tenant::Platform, ApiError>,
) -> Response {
    if let Err(refused) = platform {
        return refused.into_response();
    }
    let ping = tokio::time::timeout(Duration::from_secs(3), state.store.ping()).await;
    crate::telemetry_metrics::ready(matches!(ping, Ok(Ok(()))));
    // Read at the scrape, not set at each open and close: two streams opening at once would
    // each set the count it loaded, and the older one could land last, leaving the gauge
    // below the number open.
    crate::telemetry_metrics::streams_open(state.changes.open());
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
