//! `/v1/payments`: get and list.

use crate::api::access::tenant::Tenant;
use axum::extract::State;
use axum::Json;
use keffi_shared::wire::ErrorBody;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{storable, ApiPath, ApiQuery, NoQuery, PaymentPath};
use crate::api::support::page::{self, KeysetCursor, Limit, Page};
use crate::api::support::ApiState;
use crate::domain::PaymentStatus;
use crate::store::records::PaymentRecord;

/// A payment by its gateway reference.
#[utoipa::path(get, path = "/v1/payments/{reference}", operation_id = "get_payment", tag = "payments",
    params(PaymentPath),
    responses(
        (status = 200, description = "The payment", body = PaymentRecord),
        BadRequest,
        Unauthorized,
        (status = 404, description = "`not_found`: no such payment", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiPath(PaymentPath { reference }): ApiPath<PaymentPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<PaymentRecord>, ApiError> {
    if !storable(&reference) {
        return Err(ApiError::not_found("payment", &reference));
    }
    state
        .store
        .payment_record(&tenant, &reference)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("payment", &reference))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListPayments {
    /// Only payments with this status.
    #[param(value_type = Option<PaymentStatus>)]
    pub status: Option<String>,
    /// The previous page's `next_cursor`.
    #[param(inline)]
    pub cursor: Option<KeysetCursor>,
    /// Payments per page: 1 to 200, default 50.
    #[param(inline)]
    pub limit: Option<Limit>,
}

/// Payments, most recently changed first.
#[utoipa::path(get, path = "/v1/payments", operation_id = "list_payments", tag = "payments", params(ListPayments),
    responses(
        (status = 200, description = "One page of payments", body = Page<PaymentRecord>),
        BadRequest,
        Unauthorized,
        (status = 422, description = "`invalid_request`: `limit` out of range, or an unknown `status`", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<ListPayments>,
) -> Result<Json<Page<PaymentRecord>>, ApiError> {
    let status = page::status_filter::<PaymentStatus>(q.status.as_deref())?;
    let limit = page::limit(q.limit)?;
    let after = q.cursor.map(|c| c.0);
    let data = state
        .store
        .list_payments(&tenant, status, after.as_ref(), limit)
        .await?;
    let next_cursor = page::next(&data, limit, |p| {
        page::encode_after(p.updated_at_ms, &p.reference)
    });
    Ok(Json(Page { data, next_cursor }))
}
