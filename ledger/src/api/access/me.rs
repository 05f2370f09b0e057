//! `GET /v1/me`: who the caller is and what its token may do (the dashboard shows only what
//! these allow).

use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::tenant::Tenant;
use super::tokens::{Caller, Scope};
use crate::api::support::contract::{BadRequest, Unauthorized};
use crate::api::support::extract::{ApiQuery, NoQuery};

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The token's name, as the audit log records it.
    pub name: String,
    /// The token's scope.
    pub scope: Scope,
    /// Every scope the token holds: its own and those below it (`read` < `operate` <
    /// `admin`). `read`: every `GET`; `operate`: replay; `admin`: order creation.
    pub scopes: Vec<Scope>,
    /// The merchant this request acts on: a merchant's token's own; for a platform token, the
    /// one `Keffi-Merchant` names (`default` when none).
    pub merchant: keffi_shared::MerchantId,
    /// Whether this is a platform token (which may name any merchant, and alone manages them).
    pub platform: bool,
}

/// Who the caller is: its token's name and scope, and the scopes that includes.
#[utoipa::path(get, path = "/v1/me", operation_id = "get_me", tag = "access",
    responses(
        (status = 200, description = "The caller's token: name and scope", body = Me),
        BadRequest,
        Unauthorized,
    ),
    security(("bearer" = [])))]
pub async fn me(
    Extension(caller): Extension<Caller>,
    tenant: Tenant,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Json<Me> {
    Json(Me {
        name: caller.name.to_string(),
        scope: caller.scope,
        scopes: caller.scope.granted(),
        platform: caller.is_platform(),
        merchant: tenant.0,
    })
}
