//! `/v1/journal` and `/v1/balances`: the double-entry journal, read-only.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::ApiQuery;
use super::page::{self, Page};
use super::ApiState;
use crate::store::journal::{Balance, PostedTransaction};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListJournal {
    /// Only transactions for this payment reference.
    pub reference: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// Journal transactions with their entries, newest first.
#[utoipa::path(get, path = "/v1/journal", tag = "journal", params(ListJournal),
    responses((status = 200, body = Page<PostedTransaction>), (status = 400, body = super::error::ErrorSchema)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<ListJournal>,
) -> Result<Json<Page<PostedTransaction>>, ApiError> {
    let limit = page::limit(q.limit)?;
    let before = page::decode_id(q.cursor.as_deref())?;
    let data = state
        .store
        .list_journal(q.reference.as_deref(), before, limit)
        .await?;
    let next_cursor = page::next(&data, limit, |t| t.id.to_string());
    Ok(Json(Page { data, next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Balances {
    /// Per account and currency: the sum of the journal's entries (debit positive), exact
    /// even beyond 64 bits.
    pub balances: Vec<Balance>,
}

/// Balances per account and currency, computed from the journal. Sums never overflow (see
/// `Store::balances`), so no recorded entry can make this route fail; the body is written
/// straight from the typed value, which keeps integers wider than 64 bits exact.
#[utoipa::path(get, path = "/v1/balances", tag = "journal",
    responses((status = 200, body = Balances)), security(("bearer" = [])))]
pub async fn balances(State(state): State<ApiState>) -> Result<Json<Balances>, ApiError> {
    Ok(Json(Balances {
        balances: state.store.balances().await?,
    }))
}
