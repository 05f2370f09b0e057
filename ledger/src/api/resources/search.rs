//! `GET /v1/search?q=`: what an operator pasted — an order or payment reference, an inbox
//! event id, or an idempotency key — matched exactly; several kinds may match at once.

use crate::api::access::tenant::Tenant;
use std::borrow::Cow;

use axum::extract::State;
use axum::Json;
use keffi_shared::money::Money;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{storable, ApiQuery};
use crate::api::support::ApiState;
use crate::store::timeline::EventFilter;
use crate::store::InboxEvent;
use keffi_shared::wire::ErrorBody;

/// The longest query taken (longer is 422): longer than any reference or key the ledger
/// holds.
const MAX_QUERY_LEN: usize = 512;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// What to look for: a reference, an event id or an idempotency key (exact).
    #[param(inline)]
    pub q: SearchText,
}

/// `q`, as asked: 1 to [`MAX_QUERY_LEN`] characters, checked by the handler (422 past it).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct SearchText(pub String);

impl PartialSchema for SearchText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_QUERY_LEN))
            .description(Some(
                "An order or payment reference, an inbox event id, or an idempotency key, \
                 matched exactly.",
            ))
            .into()
    }
}

impl ToSchema for SearchText {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SearchText")
    }
}

/// What a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// An order with this reference.
    Order,
    /// A payment with this reference.
    Payment,
    /// Inbox events name this reference, though no order or payment has it.
    Reference,
    /// The inbox event with this id.
    EventId,
    /// The inbox event with this idempotency key.
    IdempotencyKey,
}

/// One match.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchMatch {
    pub kind: MatchKind,
    /// The reference whose timeline (`GET /v1/orders/{reference}/timeline`) this opens, if any.
    pub reference: Option<String>,
    /// The inbox event matched (`event_id`, `idempotency_key`).
    pub event_id: Option<i64>,
    /// The order's, payment's or event's status now.
    pub status: String,
    /// For humans.
    pub summary: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub query: String,
    /// Orders first, then payments, references, events.
    pub matches: Vec<SearchMatch>,
}

fn event_match(kind: MatchKind, e: InboxEvent) -> SearchMatch {
    SearchMatch {
        kind,
        summary: format!("event {} · {} · {}", e.id, e.event_type, e.idempotency_key),
        reference: e.reference,
        event_id: Some(e.id),
        status: e.status.to_string(),
    }
}

/// Finds what `q` names: an order, a payment, a reference only events carry, an inbox event by
/// id or by idempotency key. Exact matches only; none is an empty list, not a 404.
#[utoipa::path(get, path = "/v1/search", operation_id = "search", tag = "events", params(SearchQuery),
    responses(
        (status = 200, description = "What `q` matched (maybe nothing)", body = SearchResults),
        BadRequest,
        Unauthorized,
        (status = 422, description = "`invalid_request`: `q` empty or longer than 512 characters", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiQuery(SearchQuery { q: SearchText(q) }): ApiQuery<SearchQuery>,
) -> Result<Json<SearchResults>, ApiError> {
    let len = q.chars().count();
    if len == 0 || len > MAX_QUERY_LEN {
        return Err(ApiError::invalid(format!(
            "q must be 1 to {MAX_QUERY_LEN} characters (got {len})"
        )));
    }
    let mut matches = Vec::new();
    if !storable(&q) {
        return Ok(Json(SearchResults { query: q, matches }));
    }
    let store = &state.store;
    let order = store.order_record(&tenant, &q).await?;
    let payment = store.payment_record(&tenant, &q).await?;
    if let Some(o) = &order {
        matches.push(SearchMatch {
            kind: MatchKind::Order,
            reference: Some(o.reference.clone()),
            event_id: None,
            status: o.status.to_string(),
            summary: format!(
                "order {} · {}",
                o.reference,
                Money::new(o.amount, o.currency)
            ),
        });
    }
    if let Some(p) = &payment {
        matches.push(SearchMatch {
            kind: MatchKind::Payment,
            reference: Some(p.reference.clone()),
            event_id: None,
            status: p.status.to_string(),
            summary: format!(
                "payment {} · {}",
                p.reference,
                Money::new(p.amount, p.currency)
            ),
        });
    }
    if order.is_none() && payment.is_none() {
        let filter = EventFilter {
            reference: Some(&q),
            ..EventFilter::of(&tenant)
        };
        let n = store.count_events_after(&filter, None).await?;
        if n > 0 {
            matches.push(SearchMatch {
                kind: MatchKind::Reference,
                reference: Some(q.clone()),
                event_id: None,
                status: "events".into(),
                summary: format!("{n} inbox event(s) name this reference"),
            });
        }
    }
    let as_id = q
        .parse::<i64>()
        .ok()
        .filter(|_| q.len() <= 18 && q.bytes().all(|b| b.is_ascii_digit()));
    if let Some(id) = as_id {
        if let Some(e) = store.inbox_event(&tenant, id).await? {
            matches.push(event_match(MatchKind::EventId, e));
        }
    }
    if let Some(e) = store.inbox_by_key(&tenant, &q).await? {
        matches.push(event_match(MatchKind::IdempotencyKey, e));
    }
    Ok(Json(SearchResults { query: q, matches }))
}
