//! A platform account with subaccounts: one source (one gateway account, one secret) whose
//! events belong to many merchants, each the one its payload names. The platform makes its
//! source split, maps each gateway subaccount to the merchant it settles to, and reviews the
//! events held because no merchant could be told from them. Platform tokens only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use keffi_shared::wire::ErrorBody;
use keffi_shared::{MerchantId, Provider};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::merchants::{existing, MerchantPath};
use super::sources::SourcePath;
use crate::api::access::tenant::Platform;
use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{ApiJson, ApiPath, ApiQuery, NoQuery};
use crate::api::support::page::{self, IdCursor, Limit, Page};
use crate::api::support::ApiState;
use crate::store::merchants::SourceRecord;
use crate::store::now_ms;
use crate::store::splits::{CodeClaim, HeldEvent, SourceRoute, SubaccountRecord};

/// How a split source's events name their merchant beyond their subaccount.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitSettings {
    /// The key of the transaction's `metadata` the platform writes the merchant's id under,
    /// for transactions with no subaccount (e.g. `keffi_merchant`); unset: subaccounts and
    /// references only.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.-]+$")]
    pub metadata_key: Option<String>,
}

/// A metadata key or a subaccount code: short, printable, a path segment as it is.
fn token_like(s: &str, what: &str, extra: &[char]) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra.contains(&c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "a {what} is 1 to 64 of A-Z a-z 0-9 _ -{}",
            extra.iter().map(|c| format!(" {c}")).collect::<String>()
        )))
    }
}

/// Make the merchant's source split: from the next event applied on, each of its events is
/// the merchant's its payload names (its subaccount, its split's subaccounts, the metadata
/// key, or, for a refund or dispute, its charge's merchant), and one no merchant can be told
/// for is held (`GET /v1/held`), never given to this merchant or another on a guess. For
/// good, on the key given: asking again with the same key is a no-op; with another, 409.
/// Events it brought before stay this merchant's.
#[utoipa::path(put, path = "/v1/merchants/{id}/sources/{name}/split", operation_id = "split_merchant_source", tag = "merchants",
    params(SourcePath),
    request_body = SplitSettings,
    responses(
        (status = 200, description = "The source, split", body = SourceRecord),
        (status = 400, description = "`bad_request`: malformed JSON or a query parameter", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant, or the source is not the merchant's", body = ErrorBody),
        (status = 409, description = "`split_fixed`: the source splits already, on another metadata key", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: the metadata key breaks its rule, or the source is not a Paystack one", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn split(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(SourcePath { id, name }): ApiPath<SourcePath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
    ApiJson(req): ApiJson<SplitSettings>,
) -> Result<Json<SourceRecord>, ApiError> {
    let merchant = existing(&state, &id).await?;
    if let Some(key) = &req.metadata_key {
        token_like(key, "metadata key", &['.'])?;
    }
    let source = state
        .store
        .source_of(&merchant.id, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("source", &name))?;
    // A static source's provider is the edge's to know; one added here says.
    if let Some(p) = source.provider.as_deref() {
        if p != Provider::Paystack.as_str() {
            return Err(ApiError::invalid(format!(
                "only a Paystack source can split (source `{name}` is {p})"
            )));
        }
    }
    match state
        .store
        .split_source(&merchant.id, &name, req.metadata_key.as_deref(), now_ms())
        .await?
    {
        None => Err(ApiError::not_found("source", &name)),
        Some(Err(key)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "split_fixed",
            format!(
                "source `{name}` splits already, on {}; a split source's rule never changes",
                key.map_or("no metadata key".to_owned(), |k| format!(
                    "metadata key `{k}`"
                ))
            ),
        )),
        Some(Ok(())) => Ok(Json(
            state
                .store
                .source_of(&merchant.id, &name)
                .await?
                .ok_or_else(|| ApiError::not_found("source", &name))?,
        )),
    }
}

/// `{id}`, `{source}` and `{code}`: a gateway subaccount of a split source, the merchant's.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SubaccountPath {
    /// The merchant's id.
    #[param(value_type = MerchantId, inline)]
    pub id: String,
    /// The split source (the platform's account) the code is a subaccount of.
    #[param(pattern = "^[a-z0-9_-]{1,64}$")]
    pub source: String,
    /// The gateway's subaccount code, e.g. Paystack's `ACCT_…`.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub code: String,
}

/// Map a subaccount of a split source to the merchant it settles to: that source's events
/// naming the code are the merchant's from now on, and the ones held for want of it are
/// placed at once (a charge before the refunds behind it). For good: a code is one
/// merchant's; asking again is a no-op.
#[utoipa::path(put, path = "/v1/merchants/{id}/subaccounts/{source}/{code}", operation_id = "put_merchant_subaccount", tag = "merchants",
    params(SubaccountPath),
    responses(
        (status = 200, description = "The subaccount, the merchant's already", body = SubaccountRecord),
        (status = 201, description = "The subaccount, mapped", body = SubaccountRecord),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant or source", body = ErrorBody),
        (status = 409, description = "`subaccount_taken`: the code is another merchant's; `source_not_split`: the source does not split", body = ErrorBody),
        (status = 422, description = "`invalid_request`: the code breaks its rule", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn map(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(SubaccountPath { id, source, code }): ApiPath<SubaccountPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<(StatusCode, Json<SubaccountRecord>), ApiError> {
    let merchant = existing(&state, &id).await?;
    token_like(&code, "subaccount code", &[])?;
    let routes = state.store.source_routes(&[source.as_str()]).await?;
    match routes.get(&source) {
        None => return Err(ApiError::not_found("source", &source)),
        Some(SourceRoute::Owner(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "source_not_split",
                format!(
                    "source `{source}` does not split: make it split first (PUT …/sources/{{name}}/split)"
                ),
            ))
        }
        Some(SourceRoute::Split { .. }) => {}
    }
    match state
        .store
        .claim_subaccount(&source, &code, &merchant.id, now_ms())
        .await?
    {
        CodeClaim::New(r) => {
            place_held_now(&state);
            Ok((StatusCode::CREATED, Json(r)))
        }
        CodeClaim::Again(r) => Ok((StatusCode::OK, Json(r))),
        CodeClaim::Taken => Err(ApiError::new(
            StatusCode::CONFLICT,
            "subaccount_taken",
            format!("subaccount `{code}` of `{source}` is another merchant's"),
        )),
    }
}

/// Places the events a new mapping may have unblocked in the background, at once rather than
/// at the next sweep (which would place them too: this only saves the wait).
fn place_held_now(state: &ApiState) {
    let (store, changes) = (state.store.clone(), state.changes.clone());
    tokio::spawn(async move {
        match crate::pipeline::route_held(&store, 200).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    placed = n,
                    "held events placed after a subaccount was mapped"
                );
                changes.nudge();
            }
            Err(e) => tracing::warn!(error = %e, "placing held events failed; the sweep retries"),
        }
    });
}

/// The merchant's subaccounts on split sources.
#[utoipa::path(get, path = "/v1/merchants/{id}/subaccounts", operation_id = "list_merchant_subaccounts", tag = "merchants",
    params(MerchantPath),
    responses(
        (status = 200, description = "The merchant's subaccounts, by source and code", body = Vec<SubaccountRecord>),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(MerchantPath { id }): ApiPath<MerchantPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<Vec<SubaccountRecord>>, ApiError> {
    let merchant = existing(&state, &id).await?;
    Ok(Json(state.store.subaccounts_of(&merchant.id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListHeld {
    /// `waiting` (default: the ones no route has placed yet) or `all` (placed ones too, with
    /// the merchant each went to).
    #[param(value_type = Option<String>, pattern = "^(waiting|all)$")]
    pub state: Option<String>,
    /// The previous page's `next_cursor`.
    #[param(inline)]
    pub cursor: Option<IdCursor>,
    /// Events per page: 1 to 200, default 50.
    #[param(inline)]
    pub limit: Option<Limit>,
}

/// Events of split sources no merchant could be told for, newest first, with why: an
/// unmapped subaccount, a split across merchants, metadata contradicting the subaccount, a
/// refund whose charge is not placed. Each is in no merchant's inbox; the sweep places it
/// once a route appears (map the subaccount), and it then names the merchant it went to.
#[utoipa::path(get, path = "/v1/held", operation_id = "list_held_events", tag = "merchants", params(ListHeld),
    responses(
        (status = 200, description = "One page of held events", body = Page<HeldEvent>),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 422, description = "`invalid_request`: `limit` out of range, or an unknown `state`", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn held(
    State(state): State<ApiState>,
    _: Platform,
    ApiQuery(q): ApiQuery<ListHeld>,
) -> Result<Json<Page<HeldEvent>>, ApiError> {
    let waiting = match q.state.as_deref() {
        None | Some("waiting") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "state is `waiting` or `all` (got `{other}`)"
            )))
        }
    };
    let limit = page::limit(q.limit)?;
    let rows = state
        .store
        .held_events(waiting, q.cursor.map(|c| c.0), limit)
        .await?;
    let next_cursor = page::next(&rows, limit, |e| e.id.to_string());
    Ok(Json(Page {
        data: rows,
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_keys_are_short_and_printable() {
        assert!(token_like("ACCT_6uujpqtzmnufzkw", "code", &[]).is_ok());
        assert!(token_like("keffi.merchant", "key", &['.']).is_ok());
        for bad in ["", "ACCT 1", "ACCT/1", "ac\u{e9}", &"A".repeat(65)] {
            assert!(token_like(bad, "code", &[]).is_err(), "{bad}");
        }
        assert!(token_like("a.b", "code", &[]).is_err());
    }
}
