//! `/v1/payments`: get and list.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use super::contract::{self, BadRequest, StoreUnavailable, Unauthorized};
use super::error::{ApiError, ErrorSchema};
use super::extract::{storable, ApiPath, ApiQuery, NoQuery};
use super::page::{self, Page};
use super::ApiState;
use crate::domain::PaymentStatus;
use crate::store::records::PaymentRecord;

/// A payment by its gateway reference.
#[utoipa::path(get, path = "/v1/payments/{reference}", operation_id = "get_payment", tag = "payments",
    params(contract::PaymentReference),
    responses(
        (status = 200, description = "The payment", body = PaymentRecord),
        BadRequest,
        Unauthorized,
        (status = 404, description = "`not_found`: no such payment", body = ErrorSchema),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    ApiPath(reference): ApiPath<String>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<PaymentRecord>, ApiError> {
    if !storable(&reference) {
        return Err(ApiError::not_found("payment", &reference));
    }
    state
        .store
        .payment_record(&reference)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("payment", &reference))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListPayments {
    /// Only payments with this status.
    pub status: Option<String>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Payments per page: 1 to 200, default 50.
    pub limit: Option<u32>,
}

impl IntoParams for ListPayments {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            contract::query(
                "status",
                "Only payments with this status.",
                contract::payment_status(),
            ),
            contract::query(
                "cursor",
                "The previous page's `next_cursor`.",
                contract::keyset_cursor(),
            ),
            contract::query(
                "limit",
                "Payments per page: 1 to 200, default 50.",
                contract::limit(),
            ),
        ]
    }
}

/// Payments, most recently changed first.
#[utoipa::path(get, path = "/v1/payments", operation_id = "list_payments", tag = "payments", params(ListPayments),
    responses(
        (status = 200, description = "One page of payments", body = Page<PaymentRecord>),
        BadRequest,
        Unauthorized,
        (status = 422, description = "`invalid_request`: `limit` out of range, or an unknown `status`", body = ErrorSchema),
        StoreUnavailable,
    ),
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
