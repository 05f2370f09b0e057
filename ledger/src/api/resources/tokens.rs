//! A merchant's own tokens, managed by the merchant's admins: the same tokens the platform
//! issues through `/v1/merchants/{id}/tokens`, for the acting merchant only, so a merchant's
//! operators can give a till or a teammate its own token (and take it back) without asking
//! the platform. Admin scope: a token can issue tokens of any scope up to its own, and admin
//! is the highest.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::merchants::{issue_for, revoke_for, IssuedToken, NewToken};
use crate::api::access::tenant::Tenant;
use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{ApiJson, ApiPath, ApiQuery, NoQuery};
use crate::api::support::ApiState;
use crate::store::merchants::TokenRecord;
use keffi_shared::wire::ErrorBody;

/// `{name}` of one of the acting merchant's tokens.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OwnTokenPath {
    /// The token's name.
    pub name: String,
}

/// Issue a token of the acting merchant: it acts on this merchant only, with its scope,
/// until revoked.
#[utoipa::path(post, path = "/v1/tokens", operation_id = "issue_token", tag = "tokens",
    request_body = NewToken,
    responses(
        (status = 201, description = "The token, shown this once", body = IssuedToken),
        (status = 400, description = "`bad_request`: malformed JSON or a query parameter; `invalid_merchant`", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`insufficient_scope`, or `merchant_forbidden`: a merchant's token naming another merchant", body = ErrorBody),
        (status = 404, description = "`unknown_merchant`: the platform named no merchant that exists", body = ErrorBody),
        (status = 409, description = "`already_exists`: the merchant has a token of this name", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: the name or the scope breaks its rule", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn issue(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
    ApiJson(req): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    issue_for(&state, &tenant, req).await
}

/// The acting merchant's issued tokens (never the tokens), revoked ones too.
#[utoipa::path(get, path = "/v1/tokens", operation_id = "list_tokens", tag = "tokens",
    responses(
        (status = 200, description = "The merchant's issued tokens, by name", body = Vec<TokenRecord>),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`insufficient_scope`, or `merchant_forbidden`: a merchant's token naming another merchant", body = ErrorBody),
        (status = 404, description = "`unknown_merchant`: the platform named no merchant that exists", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<Vec<TokenRecord>>, ApiError> {
    Ok(Json(state.store.tokens_of(&tenant).await?))
}

/// Revoke one of the acting merchant's tokens: refused from the next request on.
#[utoipa::path(delete, path = "/v1/tokens/{name}", operation_id = "revoke_token", tag = "tokens",
    params(OwnTokenPath),
    responses(
        (status = 200, description = "The token, revoked", body = TokenRecord),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`insufficient_scope`, or `merchant_forbidden`: a merchant's token naming another merchant", body = ErrorBody),
        (status = 404, description = "`not_found`: the merchant has no live token of this name; `unknown_merchant`", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiPath(OwnTokenPath { name }): ApiPath<OwnTokenPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<TokenRecord>, ApiError> {
    revoke_for(&state, &tenant, &name).await
}
