//! `/v1/payments`: get and list.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::page::{self, Page};
use super::ApiState;
use crate::domain::PaymentStatus;
use crate::store::records::PaymentRecord;

/// A payment by its gateway reference.
#[utoipa::path(get, path = "/v1/payments/{reference}", tag = "payments",
    params(("reference" = String, Path)),
    responses((status = 200, body = PaymentRecord), (status = 404, body = super::error::ErrorSchema)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    ApiPath(reference): ApiPath<String>,
) -> Result<Json<PaymentRecord>, ApiError> {
    state
        .store
        .payment_record(&reference)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("payment", &reference))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListPayments {
    /// Only payments with this status.
    pub status: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// Payments, most recently changed first.
#[utoipa::path(get, path = "/v1/payments", tag = "payments", params(ListPayments),
    responses((status = 200, body = Page<PaymentRecord>), (status = 400, body = super::error::ErrorSchema)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<ListPayments>,
) -> Result<Json<Page<PaymentRecord>>, ApiError> {
    if let Some(s) = &q.status {
        s.parse::<PaymentStatus>().map_err(ApiError::invalid)?;
    }
    let limit = page::limit(q.limit)?;
    let after = page::decode_after(q.cursor.as_deref())?;
    let data = state
        .store
        .list_payments(q.status.as_deref(), after.as_ref(), limit)
        .await?;
    let next_cursor = page::next(&data, limit, |p| {
        page::encode_after(p.updated_at_ms, &p.reference)
    });
    Ok(Json(Page { data, next_cursor }))
}
