//! The HTTP surface. Every error is `{"error": {"code", "message"}}` (shared `ErrorBody`).

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use keffi_shared::wire::ErrorBody;
use serde::Serialize;

pub fn router() -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .fallback(not_found)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    service: &'static str,
    version: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        service: "keffi-ledger",
        version: env!("CARGO_PKG_VERSION"),
    })
}

async fn not_found(uri: Uri) -> Response {
    let body = ErrorBody::new("not_found", format!("no route for {}", uri.path()));
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
