//! `/v1/reconciler`: the reconciler's last background pass.

use crate::api::access::tenant::Platform;
use crate::api::support::error::ApiError;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::support::contract::{BadRequest, Unauthorized};
use crate::api::support::extract::{ApiQuery, NoQuery};
use crate::api::support::ApiState;
use crate::reconciler::Summary;

#[derive(Debug, Serialize, ToSchema)]
pub struct ReconcilerStatus {
    /// The last background pass, if one has run since this replica started.
    pub last_run: Option<Summary>,
}

/// The reconciler's last pass: what it checked and what came of it.
#[utoipa::path(get, path = "/v1/reconciler", operation_id = "get_reconciler", tag = "events",
    responses(
        (status = 200, description = "The last pass, if any", body = ReconcilerStatus),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token (this is the platform's, shared by every merchant)", body = keffi_shared::wire::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn status(
    State(state): State<ApiState>,
    _: Platform,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<ReconcilerStatus>, ApiError> {
    Ok(Json(ReconcilerStatus {
        last_run: state.last_reconcile.lock().ok().and_then(|l| l.clone()),
    }))
}
