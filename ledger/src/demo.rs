//! The demo checkout (`--demo`, local development only): a page at `/demo/checkout` that uses
//! `/client/keffi.js`, with the ledger playing the merchant's backend at `/demo/api/orders` and a
//! "simulate payment" route that applies a Paystack `charge.success` through the real pipeline.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keffi_shared::headers::RequestHeaders;
use keffi_shared::{derive_event, Envelope, MerchantId, Provider};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::resources::orders::{create_order_via, CreateOrder};
use crate::api::support::error::ApiError;
use crate::api::support::idempotency::IdempotencyKey;
use crate::pipeline::{apply_batch, Incoming};
use crate::state::AppState;
use crate::store::now_ms;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/demo/checkout",
            get(page).layer(tower_http::compression::CompressionLayer::new()),
        )
        .route("/demo/api/orders", post(merchant_backend))
        .route(
            "/demo/api/simulate-payment/{reference}",
            post(simulate_payment),
        )
}

async fn page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("../assets/checkout.html"),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoOrder {
    product: String,
}

/// The merchant's backend, played by the ledger: prices the cart itself (never trusts the page
/// for the amount) and creates the order with the device's Idempotency-Key.
async fn merchant_backend(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<DemoOrder>,
) -> Result<Response, ApiError> {
    let amount = match req.product.as_str() {
        "jollof" => 500_000,
        other => return Err(ApiError::invalid(format!("unknown product `{other}`"))),
    };
    let key = IdempotencyKey::from_headers(&headers)?;
    // The reference follows from the device's key, so a retry names the same order.
    let seed = headers
        .get("idempotency-key")
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_else(|| now_ms().to_be_bytes().to_vec());
    let reference = format!("demo_{}", &hex::encode(Sha256::digest(&seed))[..16]);
    let order = CreateOrder {
        reference,
        amount,
        currency: "NGN".into(),
        metadata: Some(serde_json::json!({ "product": req.product })),
        gateway: None,
    };
    // The demo's shop is the default merchant: its page has no platform to pick another.
    let shop = MerchantId::default_merchant();
    let answer = create_order_via(
        &state.store,
        state.default_gateway,
        &shop,
        key,
        "POST /demo/api/orders",
        order,
    )
    .await?;
    Ok(answer.into_response())
}

/// Plays Paystack: a `charge.success` for the order's amount, applied through the pipeline as
/// a webhook from the `demo` source would be.
async fn simulate_payment(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> Result<Response, ApiError> {
    let order = state
        .store
        .order(&MerchantId::default_merchant(), &reference)
        .await?
        .ok_or_else(|| ApiError::not_found("order", &reference))?;
    let body = serde_json::to_vec(&serde_json::json!({
        "event": "charge.success",
        "data": {
            "id": u64::from_be_bytes(Sha256::digest(reference.as_bytes())[..8].try_into().unwrap_or_default()) % 1_000_000_000,
            "reference": reference,
            "amount": order.amount.get(),
            "currency": order.currency.as_str(),
            "status": "success",
            "fees": order.amount.get() * 15 / 1000,
            "channel": "card",
            "paid_at": "2026-11-25T00:00:00.000Z"
        }
    }))
    .unwrap_or_default();
    let headers = RequestHeaders::new().with("content-type", "application/json");
    let derived = derive_event(Provider::Paystack, &headers, &body)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let envelope = Envelope::new(
        "demo",
        Provider::Paystack,
        derived.key,
        derived.event_type,
        now_ms(),
        &headers,
        body,
    );
    let report = apply_batch(
        &state.store,
        &[Incoming {
            merchant: MerchantId::default_merchant(),
            envelope,
            origin: None,
        }],
        None,
    )
    .await?;
    state.changes.publish(&report.moved);
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({ "simulated": reference })),
    )
        .into_response())
}
