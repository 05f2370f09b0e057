//! A merchant's sources: which merchant each source's events belong to, and the sources the
//! platform adds, rotates and removes at runtime (their settings and sealed secrets live at
//! the edge, written through its `/ledger/sources` API; the ledger keeps only whose each one
//! is and its provider, never a secret). Platform tokens only.
//!
//! A source's name is one merchant's for good: once claimed (routed, or added here), no other
//! merchant can take it, removed or not, so a late retry of a removed source's delivery can
//! never land at someone else.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use keffi_shared::edge::sources::{
    valid_runtime_name, Origin, PutSource, RotateSource, SecretView, SourceView,
};
use keffi_shared::version::V1;
use keffi_shared::wire::ErrorBody;
use keffi_shared::{MerchantId, Provider};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::merchants::{existing, exists, MerchantPath};
use crate::api::access::tenant::Platform;
use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{whole_number, ApiJson, ApiPath, ApiQuery, NoQuery};
use crate::api::support::ApiState;
use crate::puller::client::{EdgeClient, EdgeError};
use crate::store::merchants::{Claim, SourceRecord};
use crate::store::now_ms;

/// How long the secrets a rotation replaces keep verifying, unless it says.
pub const DEFAULT_OVERLAP_SECONDS: u64 = 24 * 3600;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSource {
    /// The `{source}` of the edge's `/hooks/{source}`: 1 to 64 of `a-z 0-9 _ -`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9_-]+$")]
    pub name: String,
}

/// A source's name follows the edge's path rule and the merchant id's alphabet, so it can be
/// a path segment, a metrics label and a log field as it is.
fn valid_source(name: &str) -> Result<&str, ApiError> {
    if valid_runtime_name(name) {
        Ok(name)
    } else {
        Err(ApiError::invalid("a source name is 1 to 64 of a-z 0-9 _ -"))
    }
}

/// Route a source's events to the merchant, from the next one applied on. A source is routed
/// once, for good; events it brought before stay the default merchant's, so route a source
/// before its gateway sends to it. A source routed nowhere (as those in `wrangler.toml`) is
/// the default merchant's.
#[utoipa::path(post, path = "/v1/merchants/{id}/sources", operation_id = "add_merchant_source", tag = "merchants",
    params(MerchantPath),
    request_body = NewSource,
    responses(
        (status = 201, description = "The source, routed", body = SourceRecord),
        (status = 400, description = "`bad_request`: malformed JSON or a query parameter", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant", body = ErrorBody),
        (status = 409, description = "`already_exists`: the source is routed already", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: the name breaks its rule", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn add(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(MerchantPath { id }): ApiPath<MerchantPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
    ApiJson(req): ApiJson<NewSource>,
) -> Result<(StatusCode, Json<SourceRecord>), ApiError> {
    let merchant = existing(&state, &id).await?;
    let name = valid_source(&req.name)?;
    let source = state
        .store
        .add_source(name, &merchant.id, now_ms())
        .await
        .map_err(exists)?;
    Ok((StatusCode::CREATED, Json(source)))
}

/// The sources routed to the merchant.
#[utoipa::path(get, path = "/v1/merchants/{id}/sources", operation_id = "list_merchant_sources", tag = "merchants",
    params(MerchantPath),
    responses(
        (status = 200, description = "The merchant's sources, by name", body = Vec<SourceRecord>),
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
) -> Result<Json<Vec<SourceRecord>>, ApiError> {
    let merchant = existing(&state, &id).await?;
    Ok(Json(state.store.sources_of(&merchant.id).await?))
}

/// `{id}` and `{name}` of one of a merchant's sources.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SourcePath {
    /// The merchant's id.
    #[param(value_type = MerchantId, inline)]
    pub id: String,
    /// The source's name: the `{source}` of the edge's `/hooks/{source}`.
    pub name: String,
}

/// A source's settings, as the edge will verify its deliveries.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// Whose signature scheme the source's deliveries carry.
    #[schema(value_type = String, pattern = "^(paystack|flutterwave|stripe|standard-webhooks)$")]
    pub provider: String,
    /// What the provider signs with: Paystack's secret key, Flutterwave's secret hash,
    /// Stripe's `whsec_…`, or Standard Webhooks' `whsec_<base64>`. Surrounding whitespace is
    /// trimmed. Kept only at the edge, sealed; never shown.
    #[schema(min_length = 1, max_length = 1024, pattern = r"\S")]
    pub secret: String,
    /// When set, only these addresses (`CF-Connecting-IP`) may deliver.
    #[schema(value_type = Option<Vec<IpAddress>>)]
    pub allow_ips: Option<Vec<String>>,
    /// For the schemes that sign a timestamp (Stripe, Standard Webhooks): how far from now it
    /// may be, in seconds. Default 300.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 86400)]
    pub tolerance_seconds: Option<i64>,
}

/// An IPv4 or an IPv6 address.
pub struct IpAddress;

impl utoipa::PartialSchema for IpAddress {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
        let address = |format: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom(format.into())))
        };
        OneOfBuilder::new()
            .item(address("ipv4"))
            .item(address("ipv6"))
            .description(Some("An IPv4 or an IPv6 address."))
            .into()
    }
}

impl ToSchema for IpAddress {}

/// A new secret for a source: it signs from now on; the ones it replaces keep verifying for
/// the overlap, so the provider can be switched over without a delivery refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRotation {
    /// The new secret (as in `SourceSettings`).
    #[schema(min_length = 1, max_length = 1024, pattern = r"\S")]
    pub secret: String,
    /// Seconds the replaced secrets keep verifying: 0 (at once) to 2592000 (30 days);
    /// default 86400.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 2592000)]
    pub overlap_seconds: Option<i64>,
}

/// `n` as a count of seconds, or the rule `field` breaks.
fn seconds(n: Option<i64>, field: &str) -> Result<Option<u64>, ApiError> {
    n.map(|n| {
        u64::try_from(n).map_err(|_| ApiError::invalid(format!("{field} cannot be negative")))
    })
    .transpose()
}

/// One of a source's secrets, as the edge reports it (never the secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceSecret {
    /// Unset for a source in `wrangler.toml` (the edge does not know).
    pub added_at_ms: Option<i64>,
    /// Unset: verifies until replaced.
    pub expires_at_ms: Option<i64>,
}

/// What the edge holds of a source.
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeSource {
    /// `static` (in `wrangler.toml`) or `runtime` (added through this API).
    #[schema(value_type = String, pattern = "^(static|runtime)$")]
    pub origin: &'static str,
    #[schema(value_type = String)]
    pub provider: Provider,
    #[schema(value_type = Option<Vec<String>>)]
    pub allow_ips: Option<Vec<std::net::IpAddr>>,
    pub tolerance_seconds: u64,
    /// The secrets that verify now, the current one first.
    pub secrets: Vec<SourceSecret>,
    /// Counts the edge's writes of the source (0 for a static one).
    pub version: u64,
}

impl From<SourceView> for EdgeSource {
    fn from(v: SourceView) -> Self {
        EdgeSource {
            origin: match v.origin {
                Origin::Static => "static",
                Origin::Runtime => "runtime",
            },
            provider: v.provider,
            allow_ips: v.allow_ips,
            tolerance_seconds: v.tolerance_seconds,
            secrets: v
                .secrets
                .into_iter()
                .map(
                    |SecretView {
                         added_at_ms,
                         expires_at_ms,
                     }| SourceSecret {
                        added_at_ms,
                        expires_at_ms,
                    },
                )
                .collect(),
            version: v.version,
        }
    }
}

/// A merchant's source: whose it is here, and what the edge holds of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantSource {
    #[serde(flatten)]
    pub record: SourceRecord,
    /// Unset when the edge has no such source (removed, or not configured yet) or no edge is
    /// configured.
    pub edge: Option<EdgeSource>,
}

fn edge(state: &ApiState) -> Result<&EdgeClient, ApiError> {
    state.edge.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "edge_not_configured",
            "this ledger has no edge (KEFFI_EDGE_URL): runtime sources live there",
        )
    })
}

/// The edge's refusal as this API's error: its rule refusals keep their meaning, the rest
/// say the edge is the problem (never the caller's request).
fn edge_error(e: EdgeError) -> ApiError {
    match e {
        EdgeError::Refused {
            status,
            code,
            message,
        } => match (status, code.as_str()) {
            (409, "source_static") => ApiError::new(StatusCode::CONFLICT, "source_static", message),
            (409, "too_many_secrets") => {
                ApiError::new(StatusCode::CONFLICT, "too_many_secrets", message)
            }
            (422, "invalid_source") => ApiError::invalid(message),
            (404, _) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            (503, "edge_misconfigured") => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "edge_misconfigured",
                message,
            ),
            _ => {
                tracing::warn!(status, code = %code, "the edge refused a source request");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "edge_unavailable",
                    format!("the edge answered {status} {code}: {message}"),
                )
            }
        },
        other => {
            tracing::warn!(error = %other, "the edge did not answer a source request");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "edge_unavailable",
                format!("the edge did not answer: {other}"),
            )
        }
    }
}

fn taken(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "source_taken",
        format!("source `{name}` is another merchant's"),
    )
}

/// A source in `wrangler.toml`: this API neither writes nor removes it.
fn static_source(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "source_static",
        format!("source `{name}` is configured in wrangler.toml; change it there"),
    )
}

fn rule(e: keffi_shared::edge::sources::SourceError) -> ApiError {
    ApiError::invalid(e.to_string())
}

/// The merchant's source `name` (removed or not); 404 if the name is not the merchant's.
async fn own(
    state: &ApiState,
    merchant: &MerchantId,
    name: &str,
) -> Result<SourceRecord, ApiError> {
    state
        .store
        .source_of(merchant, name)
        .await?
        .ok_or_else(|| ApiError::not_found("source", name))
}

/// The merchant's live source `name` added through this API, or why it cannot be changed
/// here.
async fn own_runtime(
    state: &ApiState,
    merchant: &MerchantId,
    name: &str,
) -> Result<(SourceRecord, Provider), ApiError> {
    let record = own(state, merchant, name).await?;
    if record.removed_at_ms.is_some() {
        return Err(ApiError::not_found("source", name));
    }
    let provider = record
        .provider
        .as_deref()
        .and_then(|p| p.parse::<Provider>().ok())
        .ok_or_else(|| static_source(name))?;
    Ok((record, provider))
}

/// Add a source to the merchant, or replace it, at runtime: the edge verifies its deliveries
/// at `/hooks/{name}` with this secret within its cache's staleness (`KEFFI_SOURCE_CACHE_MS`,
/// 5 s unless set), and its events are the merchant's. Replacing makes this secret the only
/// one at once (a rotation with an overlap is `…/rotate`). Safe to retry: the same request
/// converges on the same source.
#[utoipa::path(put, path = "/v1/merchants/{id}/sources/{name}", operation_id = "put_merchant_source", tag = "merchants",
    params(SourcePath),
    request_body = SourceSettings,
    responses(
        (status = 200, description = "The source, replaced", body = MerchantSource),
        (status = 201, description = "The source, added", body = MerchantSource),
        (status = 400, description = "`bad_request`: malformed JSON or a query parameter", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant", body = ErrorBody),
        (status = 409, description = "`source_taken`: another merchant's name; `source_static`: a source in `wrangler.toml`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: the name, the provider, the secret, an address or the tolerance breaks its rule", body = ErrorBody),
        (status = 502, description = "`edge_unavailable`: the edge did not answer; retry", body = ErrorBody),
        (status = 503, description = "`edge_not_configured`: this ledger has no edge; `edge_misconfigured`: the edge has no `KEFFI_SOURCES_KEY`; or `store_unavailable`", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(SourcePath { id, name }): ApiPath<SourcePath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
    ApiJson(req): ApiJson<SourceSettings>,
) -> Result<(StatusCode, Json<MerchantSource>), ApiError> {
    let merchant = existing(&state, &id).await?;
    let name = valid_source(&name)?;
    let spec = PutSource {
        v: V1,
        provider: req.provider,
        secret: req.secret,
        allow_ips: req.allow_ips,
        tolerance_seconds: seconds(req.tolerance_seconds, "tolerance_seconds")?,
    };
    spec.check(name).map_err(rule)?;
    let edge = edge(&state)?;
    // Another merchant's name is refused before the edge is asked anything.
    let routes = state.store.source_routes(&[name]).await?;
    if routes.get(name).is_some_and(|r| *r.owner() != merchant.id) {
        return Err(taken(name));
    }
    match edge.source(name).await {
        Ok(view) if view.origin == Origin::Static => return Err(static_source(name)),
        Ok(_) | Err(EdgeError::Refused { status: 404, .. }) => {}
        Err(e) => return Err(edge_error(e)),
    }
    let provider = spec.provider.trim().to_owned();
    let (created, record) = match state
        .store
        .claim_source(name, &merchant.id, &provider, now_ms())
        .await?
    {
        Claim::New(r) => (true, r),
        Claim::Again(r) => (false, r),
        Claim::Taken => return Err(taken(name)),
    };
    match edge.put_source(name, &spec).await {
        Ok(view) => Ok((
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            Json(MerchantSource {
                record,
                edge: Some(view.into()),
            }),
        )),
        Err(e) => {
            // A name claimed just now for a source the edge refused goes back; one the edge
            // may have stored (no answer) stays claimed, so the retry converges.
            if created && matches!(e, EdgeError::Refused { status, .. } if status < 500) {
                state.store.release_source(name, &merchant.id).await?;
            }
            Err(edge_error(e))
        }
    }
}

/// One of the merchant's sources: whose it is, and what the edge holds of it (its provider,
/// and when each of its secrets was added and stops verifying; never a secret).
#[utoipa::path(get, path = "/v1/merchants/{id}/sources/{name}", operation_id = "get_merchant_source", tag = "merchants",
    params(SourcePath),
    responses(
        (status = 200, description = "The source", body = MerchantSource),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant, or no such source of the merchant", body = ErrorBody),
        (status = 502, description = "`edge_unavailable`: the edge did not answer; retry", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(SourcePath { id, name }): ApiPath<SourcePath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<MerchantSource>, ApiError> {
    let merchant = existing(&state, &id).await?;
    let record = own(&state, &merchant.id, &name).await?;
    let edge = match (&state.edge, record.removed_at_ms) {
        (Some(edge), None) => match edge.source(&name).await {
            Ok(view) => Some(view.into()),
            Err(EdgeError::Refused { status: 404, .. }) => None,
            Err(e) => return Err(edge_error(e)),
        },
        _ => None,
    };
    Ok(Json(MerchantSource { record, edge }))
}

/// Give the merchant's source a new secret: it verifies at once (within the edge's cache
/// staleness), and the secrets it replaces keep verifying for the overlap, then stop. Asking
/// again for the secret already current changes nothing, so a retry is safe.
#[utoipa::path(post, path = "/v1/merchants/{id}/sources/{name}/rotate", operation_id = "rotate_merchant_source", tag = "merchants",
    params(SourcePath),
    request_body = SecretRotation,
    responses(
        (status = 200, description = "The source, its new secret first", body = MerchantSource),
        (status = 400, description = "`bad_request`: malformed JSON or a query parameter", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant, or no live source of the merchant added through this API", body = ErrorBody),
        (status = 409, description = "`source_static`: a source in `wrangler.toml`; `too_many_secrets`: five secrets verify already", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: the secret or the overlap breaks its rule", body = ErrorBody),
        (status = 502, description = "`edge_unavailable`: the edge did not answer; retry", body = ErrorBody),
        (status = 503, description = "`edge_not_configured`: this ledger has no edge; `edge_misconfigured`: the edge has no `KEFFI_SOURCES_KEY`; or `store_unavailable`", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(SourcePath { id, name }): ApiPath<SourcePath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
    ApiJson(req): ApiJson<SecretRotation>,
) -> Result<Json<MerchantSource>, ApiError> {
    let merchant = existing(&state, &id).await?;
    let (record, provider) = own_runtime(&state, &merchant.id, &name).await?;
    let rotation = RotateSource {
        v: V1,
        secret: req.secret,
        overlap_seconds: seconds(req.overlap_seconds, "overlap_seconds")?
            .unwrap_or(DEFAULT_OVERLAP_SECONDS),
    };
    rotation.check(provider).map_err(rule)?;
    let view = edge(&state)?
        .rotate_source(&name, &rotation)
        .await
        .map_err(edge_error)?;
    Ok(Json(MerchantSource {
        record,
        edge: Some(view.into()),
    }))
}

/// Remove the merchant's source: the edge refuses its deliveries (404) within its cache's
/// staleness. Events it brought before stay the merchant's, applied or not, and the name
/// stays the merchant's (it may add the source again; no one else can). Safe to retry.
#[utoipa::path(delete, path = "/v1/merchants/{id}/sources/{name}", operation_id = "delete_merchant_source", tag = "merchants",
    params(SourcePath),
    responses(
        (status = 200, description = "The source, removed", body = SourceRecord),
        BadRequest,
        Unauthorized,
        (status = 403, description = "`platform_only`: a merchant's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such merchant, or no source of the merchant by this name", body = ErrorBody),
        (status = 409, description = "`source_static`: a source in `wrangler.toml`", body = ErrorBody),
        (status = 502, description = "`edge_unavailable`: the edge did not answer; retry", body = ErrorBody),
        (status = 503, description = "`edge_not_configured`: this ledger has no edge; or `store_unavailable`", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<ApiState>,
    _: Platform,
    ApiPath(SourcePath { id, name }): ApiPath<SourcePath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<SourceRecord>, ApiError> {
    let merchant = existing(&state, &id).await?;
    if own(&state, &merchant.id, &name).await?.provider.is_none() {
        return Err(static_source(&name));
    }
    edge(&state)?
        .delete_source(&name)
        .await
        .map_err(edge_error)?;
    state
        .store
        .remove_source(&merchant.id, &name, now_ms())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("source", &name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_are_path_and_label_safe() {
        for ok in ["paystack", "shop-b", "acme_2"] {
            assert!(valid_source(ok).is_ok());
        }
        for bad in ["", "Shop", "a/b", "a b", "a.b", &"x".repeat(65)] {
            assert!(valid_source(bad).is_err(), "{bad:?}");
        }
    }

    /// The edge's refusals keep their meaning; anything else from the edge is the edge's
    /// problem (502), never the caller's.
    #[test]
    fn edge_refusals_map_to_stable_codes() {
        let refused = |status: u16, code: &str| EdgeError::Refused {
            status,
            code: code.into(),
            message: "m".into(),
        };
        for (e, status, code) in [
            (refused(409, "source_static"), 409, "source_static"),
            (refused(409, "too_many_secrets"), 409, "too_many_secrets"),
            (refused(422, "invalid_source"), 422, "invalid_request"),
            (refused(404, "unknown_source"), 404, "not_found"),
            (
                refused(503, "edge_misconfigured"),
                503,
                "edge_misconfigured",
            ),
            (refused(401, "invalid_token"), 502, "edge_unavailable"),
            (refused(503, "inbox_unavailable"), 502, "edge_unavailable"),
            (
                EdgeError::Unreadable {
                    status: 200,
                    detail: "x".into(),
                },
                502,
                "edge_unavailable",
            ),
        ] {
            let got = edge_error(e);
            assert_eq!((got.status.as_u16(), got.code), (status, code));
        }
    }
}
