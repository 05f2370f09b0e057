//! The platform's merchants, and which merchant each source's events belong to. Platform
//! tokens only: a merchant's token is refused (`platform_only`), whatever its scope.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use keffi_shared::MerchantId;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::access::client_secret::{hash as issued_hash, random_secret};
use crate::api::access::tenant::Platform;
use crate::api::access::tokens::{valid_name as valid_token_name, Scope};
use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::storable;
use crate::api::support::extract::{ApiJson, ApiPath, ApiQuery, NoQuery};
use crate::api::support::page::{self, Limit, Page};
use crate::api::support::ApiState;
use crate::store::merchants::{AddError, Merchant, TokenRecord};
use crate::store::now_ms;
use keffi_shared::wire::ErrorBody;
use serde::Serialize;

/// The longest display name.
const MAX_NAME: usize = 200;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMerchant {
    /// Chosen by the platform and never changed (it is in every key the merchant owns).
    pub id: MerchantId,
    /// For people: 1 to 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$"
    )]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantChange {
    /// The new display name: 1 to 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$"
    )]
    pub name: String,
}

/// `{id}` of a merchant's routes. Read as text: an id that breaks the rule names no merchant
/// (404), as one that was never added.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MerchantPath {
    /// The merchant's id.
    #[param(value_type = MerchantId, inline)]
    pub id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMerchants {
    /// The previous page's `next_cursor` (the last merchant's id).
    #[param(value_type = Option<MerchantId>, inline)]
    pub cursor: Option<String>,
    /// Merchants per page: 1 to 200, default 50.
    #[param(inline)]
    pub limit: Option<Limit>,
}

fn valid_name(name: &str) -> Result<&str, ApiError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name must be 1 to 200 characters, none of them control characters",
        ));
    }
    Ok(name)
}

pub(crate) async fn existing(state: &ApiState, id: &str) -> Result<Merchant, ApiError> {
    let Ok(parsed) = MerchantId::parse(id) else {
        return Err(ApiError::not_found("merchant", id));
    };
    state
        .store
        .merchant(&parsed)
        .await?
        .ok_or_else(|| ApiError::not_found("merchant", id))
}

pub(crate) fn exists(e: AddError) -> ApiError {
    match e {
        AddError::Exists(what) => ApiError::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!("`{what}` exists already"),
        ),
        AddError::Store(e) => e.into(),
    }
}

/// Add a merchant.
#[utoipa::path(post, path = "/v1/merchants", operation_id = "create_merchant", tag = "merchants",
    request_body = NewMerchant,
    responses(
        (status = 201, description = "The merchant", body = Merchant),
        (status = 400, description = "`bad_request`: malformed JSON or a query parameter", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 409, description = "`already_exists`: a merchant has this id", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: the id or the name breaks its rule", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<ApiState>,
    _: Platform,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
    ApiJson(req): ApiJson<NewMerchant>,
) -> Result<(StatusCode, Json<Merchant>), ApiError> {
    let name = valid_name(&req.name)?;
    let merchant = state
        .store
        .add_merchant(&req.id, name, now_ms())
        .await
        .map_err(exists)?;
    Ok((StatusCode::CREATED, Json(merchant)))
}

/// The merchants, by id.
#[utoipa::path(get, path = "/v1/merchants", operation_id = "list_merchants", tag = "merchants",
    params(ListMerchants),
    responses(
        (status = 200, description = "One page of merchants", body = Page<Merchant>),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 422, description = "`invalid_request`: `limit` out of range", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    _: Platform,
    ApiQuery(q): ApiQuery<ListMerchants>,
) -> Result<Json<Page<Merchant>>, ApiError> {
    let limit = page::limit(q.limit)?;
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            MerchantId::parse(c)
                .map_err(|_| ApiError::bad_request("cursor is not one this API issued"))?,
        ),
    };
    let data = state.store.list_merchants(after.as_ref(), limit).await?;
    let next_cursor = page::next(&data, limit, |m| m.id.to_string());
    Ok(Json(Page { data, next_cursor }))
}

/// One merchant.
#[utoipa::path(get, path = "/v1/merchants/{id}", operation_id = "get_merchant", tag = "merchants",
    params(MerchantPath),
    responses(
        (status = 200, description = "The merchant", body = Merchant),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(MerchantPath { id }): ApiPath<MerchantPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<Merchant>, ApiError> {
    existing(&state, &id).await.map(Json)
}

/// Rename a merchant (its id never changes).
#[utoipa::path(patch, path = "/v1/merchants/{id}", operation_id = "update_merchant", tag = "merchants",
    params(MerchantPath),
    request_body = MerchantChange,
    responses(
        (status = 200, description = "The merchant", body = Merchant),
        (status = 400, description = "`bad_request`: malformed JSON or a query parameter", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: the name breaks its rule", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(MerchantPath { id }): ApiPath<MerchantPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
    ApiJson(req): ApiJson<MerchantChange>,
) -> Result<Json<Merchant>, ApiError> {
    let merchant = existing(&state, &id).await?;
    let name = valid_name(&req.name)?;
    state
        .store
        .rename_merchant(&merchant.id, name, now_ms())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("merchant", &id))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// The token's name, as the audit log records it: 1 to 64 of `A-Z a-z 0-9 . _ -`, once
    /// per merchant (a revoked token keeps its name).
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    pub name: String,
    /// What it may do: `read` < `operate` < `admin`, each including the ones before it.
    #[schema(value_type = Scope)]
    pub scope: String,
}

/// A token just issued: the only answer that shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    #[serde(flatten)]
    pub record: TokenRecord,
    /// `Authorization: Bearer <token>`. Shown once; only its SHA-256 is kept.
    pub token: String,
}

/// `{id}` and `{name}` of one issued token.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// The merchant's id.
    #[param(value_type = MerchantId, inline)]
    pub id: String,
    /// The token's name.
    pub name: String,
}

const TOKEN_PREFIX: &str = "kft_";

fn new_token() -> String {
    random_secret(TOKEN_PREFIX, 32)
}

/// Issue a token to the merchant: it acts on this merchant only, with its scope, until
/// revoked.
#[utoipa::path(post, path = "/v1/merchants/{id}/tokens", operation_id = "issue_merchant_token", tag = "merchants",
    params(MerchantPath),
    request_body = NewToken,
    responses(
        (status = 201, description = "The token, shown this once", body = IssuedToken),
        (status = 400, description = "`bad_request`: malformed JSON or a query parameter", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant", body = ErrorBody),
        (status = 409, description = "`already_exists`: the merchant has a token of this name", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: the name or the scope breaks its rule", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn issue_token(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(MerchantPath { id }): ApiPath<MerchantPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
    ApiJson(req): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let merchant = existing(&state, &id).await?;
    issue_for(&state, &merchant.id, req).await
}

/// Issues a token of `merchant` (one that exists), as asked.
pub(crate) async fn issue_for(
    state: &ApiState,
    merchant: &MerchantId,
    req: NewToken,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    if !valid_token_name(&req.name) {
        return Err(ApiError::invalid(
            "a token's name is 1 to 64 of A-Z a-z 0-9 . _ -",
        ));
    }
    let scope = Scope::from_name(&req.scope)
        .ok_or_else(|| ApiError::invalid("a scope is one of read, operate, admin"))?;
    let token = new_token();
    let record = state
        .store
        .add_token(
            merchant,
            &req.name,
            scope.as_str(),
            &issued_hash(&token),
            now_ms(),
        )
        .await
        .map_err(exists)?;
    Ok((StatusCode::CREATED, Json(IssuedToken { record, token })))
}

/// The tokens issued to the merchant (never the tokens), revoked ones too.
#[utoipa::path(get, path = "/v1/merchants/{id}/tokens", operation_id = "list_merchant_tokens", tag = "merchants",
    params(MerchantPath),
    responses(
        (status = 200, description = "The merchant's issued tokens, by name", body = Vec<TokenRecord>),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn tokens(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(MerchantPath { id }): ApiPath<MerchantPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<Vec<TokenRecord>>, ApiError> {
    let merchant = existing(&state, &id).await?;
    Ok(Json(state.store.tokens_of(&merchant.id).await?))
}

/// Revoke one of the merchant's tokens: refused from the next request on.
#[utoipa::path(delete, path = "/v1/merchants/{id}/tokens/{name}", operation_id = "revoke_merchant_token", tag = "merchants",
    params(TokenPath),
    responses(
        (status = 200, description = "The token, revoked", body = TokenRecord),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant, or no live token of this name", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(TokenPath { id, name }): ApiPath<TokenPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<TokenRecord>, ApiError> {
    let merchant = existing(&state, &id).await?;
    revoke_for(&state, &merchant.id, &name).await
}

/// Revokes `merchant`'s live token `name`.
pub(crate) async fn revoke_for(
    state: &ApiState,
    merchant: &MerchantId,
    name: &str,
) -> Result<Json<TokenRecord>, ApiError> {
    if !storable(name) {
        return Err(ApiError::not_found("token", name));
    }
    state
        .store
        .revoke_token(merchant, name, now_ms())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("token", name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_printable() {
        assert_eq!(valid_name("Mama Put").unwrap(), "Mama Put");
        assert_eq!(valid_name(&"é".repeat(200)).unwrap().chars().count(), 200);
        for bad in ["", "a\nb", "\u{7}", "\u{9f}", &"x".repeat(201)] {
            assert_eq!(
                valid_name(bad).unwrap_err().code,
                "invalid_request",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn issued_tokens_are_random_and_prefixed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 43);
        assert_ne!(issued_hash(&a), a);
    }
}
