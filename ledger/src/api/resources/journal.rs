//! `/v1/journal` and `/v1/balances`: the double-entry journal, read-only.

use crate::api::access::tenant::Tenant;
use axum::extract::State;
use axum::Json;
use keffi_shared::wire::ErrorBody;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{storable, ApiQuery, NoQuery};
use crate::api::support::page::{self, IdCursor, Limit, Page};
use crate::api::support::ApiState;
use crate::store::journal::{Balance, PostedTransaction};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListJournal {
    /// Only transactions for this payment reference.
    pub reference: Option<String>,
    /// The previous page's `next_cursor`.
    #[param(inline)]
    pub cursor: Option<IdCursor>,
    /// Transactions per page: 1 to 200, default 50.
    #[param(inline)]
    pub limit: Option<Limit>,
}

/// Journal transactions with their entries, newest first.
#[utoipa::path(get, path = "/v1/journal", operation_id = "list_journal", tag = "journal", params(ListJournal),
    responses(
        (status = 200, description = "One page of transactions", body = Page<PostedTransaction>),
        BadRequest,
        Unauthorized,
        (status = 422, description = "`invalid_request`: `limit` out of range", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<ListJournal>,
) -> Result<Json<Page<PostedTransaction>>, ApiError> {
    let limit = page::limit(q.limit)?;
    let before = q.cursor.map(|c| c.0);
    if !q.reference.as_deref().is_none_or(storable) {
        return Ok(Json(Page {
            data: Vec::new(),
            next_cursor: None,
        }));
    }
    let data = state
        .store
        .list_journal(&tenant, q.reference.as_deref(), before, limit)
        .await?;
    let next_cursor = page::next(&data, limit, |t| t.id.to_string());
    Ok(Json(Page { data, next_cursor }))
}

/// Named `BalanceSheet` in the document: a schema named like its one property (`balances`)
/// makes openapi-python-client's generated `from_dict` shadow its own variable.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BalanceSheet)]
pub struct Balances {
    /// Per account and currency: the sum of the journal's entries (debit positive), exact
    /// even beyond 64 bits.
    pub balances: Vec<Balance>,
}

/// Balances per account and currency, computed from the journal. Sums never overflow (see
/// `Store::balances`), so no recorded entry can make this route fail; the body is written
/// straight from the typed value, which keeps integers wider than 64 bits exact.
#[utoipa::path(get, path = "/v1/balances", operation_id = "get_balances", tag = "journal",
    responses(
        (status = 200, description = "Every account's balance per currency", body = Balances),
        BadRequest,
        Unauthorized,
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn balances(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<Balances>, ApiError> {
    Ok(Json(Balances {
        balances: state.store.balances(&tenant).await?,
    }))
}
