//! `/v1/orders`: create (with `Idempotency-Key`), get, list.

use crate::api::access::tenant::Tenant;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use keffi_shared::MerchantId;
use keffi_shared::MinorUnits;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, ToSchema};

use crate::api::access::client_secret;
use crate::api::support::contract::{BadRequest, StoreUnavailable, Unauthorized};
use crate::api::support::error::ApiError;
use crate::api::support::extract::{ApiJson, ApiPath, ApiQuery, NoQuery, OrderPath};
use crate::api::support::idempotency::{self, IdempotencyKey};
use crate::api::support::page::{self, KeysetCursor, Limit, Page};
use crate::api::support::ApiState;
use crate::domain::order::{order_gateway, InvalidOrder, NewOrder, SETTLED_CURRENCIES};
use crate::domain::OrderStatus;
use crate::store::orders::CreateOrderError;
use crate::store::records::{OrderRecord, PaymentRecord};
use crate::store::{now_ms, Store, Tx};
use keffi_shared::wire::ErrorBody;
use keffi_shared::Provider;

/// Largest metadata object accepted, serialised.
const MAX_METADATA_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    // Described by `Reference`'s own schema: the reference the checkout will use with the
    // gateway.
    #[schema(value_type = keffi_shared::Reference, inline)]
    pub reference: String,
    /// Amount in minor units (kobo for NGN): 500000 is ₦5,000.00. At most 10^12.
    #[serde(deserialize_with = "whole_number")]
    #[schema(schema_with = amount_schema)]
    pub amount: i64,
    /// ISO 4217 code of a currency the gateway settles, e.g. `NGN`.
    #[schema(schema_with = currency_schema)]
    pub currency: String,
    /// Any JSON object (at most 8 KiB), returned as given.
    #[serde(default)]
    #[schema(schema_with = metadata_schema)]
    pub metadata: Option<serde_json::Value>,
    /// The gateway the order is paid through: `paystack`, `flutterwave` or `stripe` (default:
    /// the ledger's `KEFFI_DEFAULT_GATEWAY`, `paystack` unless set). A charge through another
    /// still pays it, and the payment is then that gateway's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(paystack|flutterwave|stripe)$")]
    pub gateway: Option<String>,
}

/// An order's amount: 1 to [`MinorUnits::MAX_AMOUNT`] minor units, the rule
/// [`NewOrder::parse`] applies.
fn amount_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(MinorUnits::MAX_AMOUNT.get()))
        .description(Some(
            "Amount in minor units (kobo for NGN): 500000 is ₦5,000.00. At most 10^12.",
        ))
        .into()
}

/// The currencies an order may be in ([`SETTLED_CURRENCIES`]).
fn currency_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(SETTLED_CURRENCIES))
        .description(Some(
            "ISO 4217 code of a currency the gateway settles. Read case-insensitively (`ngn` is \
             `NGN`); answers always carry the upper-case code.",
        ))
        .into()
}

/// An order's metadata: a JSON object or null.
fn metadata_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::Object, Type::Null]))
        .description(Some(
            "Any JSON object, at most 8 KiB serialised (larger is 422), returned as given.",
        ))
        .into()
}

/// A JSON number that is a whole number, as JSON Schema's `integer` is: `85` and `85.0` are
/// both 85 (a client's JSON encoder may write either); `85.5`, a string or a whole number
/// beyond `i64` is refused with the amount rule's own message (422 `invalid_request`).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let refused = || serde::de::Error::custom(InvalidOrder::Amount(MinorUnits::ZERO).to_string());
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        // Exact: every whole f64 below 2^53 is the integer it looks like, and the amount
        // ceiling (10^12) is far below it.
        Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => Ok(f as i64),
        _ => Err(refused()),
    }
}

/// An order, with its payment when one exists.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    #[serde(flatten)]
    pub order: OrderRecord,
    pub metadata: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentRecord>,
    /// Only in the answer to `POST /v1/orders`: the secret a browser uses to follow this one
    /// order (`/client/v1/orders/{reference}…`). Shown once; stored only as a hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl OrderView {
    pub fn new(order: OrderRecord, payment: Option<PaymentRecord>) -> Self {
        let metadata = order
            .metadata
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok());
        OrderView {
            order,
            metadata,
            payment,
            client_secret: None,
        }
    }
}

struct ValidOrder {
    order: NewOrder,
    metadata: Option<String>,
}

/// The order's rules ([`NewOrder::parse`], shared with the `create-order` command), then the
/// metadata, which only the API takes.
fn validate(req: &CreateOrder, default_gateway: Provider) -> Result<ValidOrder, ApiError> {
    let invalid = |e: InvalidOrder| ApiError::invalid(e.to_string());
    let gateway = match &req.gateway {
        Some(g) => order_gateway(g).map_err(invalid)?,
        None => default_gateway,
    };
    let order =
        NewOrder::parse(&req.reference, req.amount, &req.currency, gateway).map_err(invalid)?;
    let metadata = match &req.metadata {
        None | Some(serde_json::Value::Null) => None,
        Some(m @ serde_json::Value::Object(_)) => {
            let text = m.to_string();
            if text.len() > MAX_METADATA_BYTES {
                return Err(ApiError::invalid("metadata is larger than 8 KiB"));
            }
            Some(text)
        }
        Some(_) => return Err(ApiError::invalid("metadata must be a JSON object")),
    };
    Ok(ValidOrder { order, metadata })
}

/// The headers `POST /v1/orders` reads, as the document states them (the handler reads them
/// with [`IdempotencyKey::from_headers`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct CreateOrderHeaders {
    /// Makes retries safe for 24 h: 1 to 255 printable ASCII characters, no spaces. The same
    /// key with the same body gets the first answer again; with another body, 422.
    #[param(rename = "Idempotency-Key", inline, required = false)]
    idempotency_key: IdempotencyKey,
}

/// Create an order (and the pending payment it expects). If its charge already arrived, the
/// order takes the payment's state at once (`paid`, or `needs_review` if the amounts differ).
///
/// Send an `Idempotency-Key` (e.g. generated on the device) and retry freely: the first
/// response is replayed for the same key and parameters.
#[utoipa::path(post, path = "/v1/orders", operation_id = "create_order", tag = "orders",
    request_body = CreateOrder,
    params(CreateOrderHeaders),
    responses(
        (status = 201, description = "Created (or, with `Idempotent-Replayed: true`, the answer to an earlier request with the same key and body; its client secret is a new one)", body = OrderView,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
        (status = 400, description = "`bad_request`: malformed JSON, a malformed `Idempotency-Key`, or a query parameter (this route takes none)", body = ErrorBody),
        Unauthorized,
        (status = 409, description = "`order_exists`: an order with this reference exists", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `Content-Type: application/json`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: the body breaks a rule above (the message names it); or `idempotency_key_reused`: the key came with another body", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<ApiState>,
    tenant: Tenant,
    headers: HeaderMap,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
    ApiJson(req): ApiJson<CreateOrder>,
) -> Result<Response, ApiError> {
    let key = IdempotencyKey::from_headers(&headers)?;
    create_order_via(
        &state.store,
        state.default_gateway,
        &tenant,
        key,
        "POST /v1/orders",
        req,
    )
    .await
    .map(idempotency::Answer::into_response)
}

/// Creates an order once per idempotency key and answers with its client secret. Shared by
/// the admin route and the demo's merchant backend.
pub async fn create_order(
    store: &Store,
    merchant: &MerchantId,
    key: Option<IdempotencyKey>,
    route: &str,
    req: CreateOrder,
) -> Result<idempotency::Answer, ApiError> {
    create_order_via(store, Provider::Paystack, merchant, key, route, req).await
}

/// [`create_order`], for `default_gateway` when the request names none.
pub async fn create_order_via(
    store: &Store,
    default_gateway: Provider,
    merchant: &MerchantId,
    key: Option<IdempotencyKey>,
    route: &str,
    req: CreateOrder,
) -> Result<idempotency::Answer, ApiError> {
    let params = serde_json::to_value(&req).unwrap_or_default();
    let whose = merchant.clone();
    let work: idempotency::Work =
        Box::new(move |tx| Box::pin(create_in(tx, whose, req, default_gateway)));
    // The secret is never kept in the replay record; a replayed creation gets a fresh one.
    let whose = merchant.clone();
    let refresh: idempotency::Refresh = Box::new(move |tx, answer| {
        Box::pin(async move {
            if answer.status == StatusCode::CREATED {
                if let Some(reference) = answer.body["reference"].as_str().map(str::to_owned) {
                    let secret = client_secret::issue(tx, &whose, &reference).await?;
                    answer.body["client_secret"] = serde_json::Value::String(secret);
                }
            }
            Ok(())
        })
    });
    let scope = idempotency::KeyScope { merchant, route };
    idempotency::once(store, scope, key, &params, scrub_secret, refresh, work).await
}

fn scrub_secret(body: &mut serde_json::Value) {
    if let Some(o) = body.as_object_mut() {
        o.remove("client_secret");
    }
}

/// Validates and creates the order, its pending payment and a client secret in `tx`.
async fn create_in(
    tx: &mut Tx,
    merchant: MerchantId,
    req: CreateOrder,
    default_gateway: Provider,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let ValidOrder { order, metadata } = validate(&req, default_gateway)?;
    let reference = order.reference.as_str();
    let now = now_ms();
    let created = tx
        .create_order(
            &merchant,
            reference,
            order.amount,
            order.currency,
            order.gateway,
            metadata.as_deref(),
            now,
        )
        .await;
    match created {
        Ok(_) => {}
        Err(CreateOrderError::Exists(r)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "order_exists",
                format!("an order with reference `{r}` already exists"),
            ))
        }
        Err(CreateOrderError::Store(e)) => return Err(e.into()),
    }
    let record = tx
        .order_record(&merchant, reference)
        .await?
        .ok_or_else(|| ApiError::not_found("order", reference))?;
    let payment = tx.payment_record(&merchant, reference).await?;
    let mut view = OrderView::new(record, payment);
    view.client_secret = Some(client_secret::issue(tx, &merchant, reference).await?);
    Ok((
        StatusCode::CREATED,
        serde_json::to_value(view).unwrap_or_default(),
    ))
}

/// An order and its payment.
#[utoipa::path(get, path = "/v1/orders/{reference}", operation_id = "get_order", tag = "orders",
    params(OrderPath),
    responses(
        (status = 200, description = "The order", body = OrderView),
        BadRequest,
        Unauthorized,
        (status = 404, description = "`not_found`: no such order", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiPath(OrderPath { reference }): ApiPath<OrderPath>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<OrderView>, ApiError> {
    if !keffi_shared::Reference::is_valid(&reference) {
        // No order has such a reference; the store is not asked.
        return Err(ApiError::not_found("order", &reference));
    }
    let order = state
        .store
        .order_record(&tenant, &reference)
        .await?
        .ok_or_else(|| ApiError::not_found("order", &reference))?;
    let payment = state.store.payment_record(&tenant, &reference).await?;
    Ok(Json(OrderView::new(order, payment)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListOrders {
    /// Only orders with this status.
    #[param(value_type = Option<OrderStatus>)]
    pub status: Option<String>,
    /// The previous page's `next_cursor`.
    #[param(inline)]
    pub cursor: Option<KeysetCursor>,
    /// Orders per page: 1 to 200, default 50.
    #[param(inline)]
    pub limit: Option<Limit>,
}

/// Orders, newest first.
#[utoipa::path(get, path = "/v1/orders", operation_id = "list_orders", tag = "orders", params(ListOrders),
    responses(
        (status = 200, description = "One page of orders", body = Page<OrderView>),
        BadRequest,
        Unauthorized,
        (status = 422, description = "`invalid_request`: `limit` out of range, or an unknown `status`", body = ErrorBody),
        StoreUnavailable,
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
    ApiQuery(q): ApiQuery<ListOrders>,
) -> Result<Json<Page<OrderView>>, ApiError> {
    let status = page::status_filter::<OrderStatus>(q.status.as_deref())?;
    let limit = page::limit(q.limit)?;
    let after = q.cursor.map(|c| c.0);
    let rows = state
        .store
        .list_orders(&tenant, status, after.as_ref(), limit)
        .await?;
    let next_cursor = page::next(&rows, limit, |o| {
        page::encode_after(o.created_at_ms, &o.reference)
    });
    Ok(Json(Page {
        data: rows.into_iter().map(|o| OrderView::new(o, None)).collect(),
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(reference: &str, amount: i64, currency: &str) -> CreateOrder {
        CreateOrder {
            reference: reference.into(),
            amount,
            currency: currency.into(),
            metadata: None,
            gateway: None,
        }
    }

    fn refused(req: CreateOrder) -> (StatusCode, &'static str, String) {
        let e = validate(&req, Provider::Paystack).err().expect("refused");
        (e.status, e.code, e.message)
    }

    /// The API's validation is `NewOrder::parse` (shared with the CLI) plus metadata: 422
    /// `invalid_request` with the rule in the message.
    #[test]
    fn invalid_orders_are_422_invalid_request_naming_the_rule() {
        let invalid = |m: &str| {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                m.to_owned(),
            )
        };
        let bad_reference = invalid("reference must be 1 to 100 of A-Z a-z 0-9 . - _ =");
        for r in ["", "has space", "ord/1", "ordé", &"x".repeat(101)] {
            assert_eq!(refused(request(r, 1, "NGN")), bad_reference, "{r:?}");
        }
        assert_eq!(
            refused(request("ord_1", 0, "NGN")),
            invalid("amount must be a whole number of minor units from 1 to 1000000000000")
        );
        assert_eq!(
            refused(request("ord_1", 1, "EUR")),
            invalid(
                "currency `EUR` is not one the gateway settles \
                 (NGN, GHS, ZAR, KES, USD, XOF, EGP, RWF)"
            )
        );
        assert_eq!(
            refused(request("ord_1", 1, "NAIRA")),
            invalid("`NAIRA` is not an ISO 4217 currency code (three letters)")
        );
        let mut with_list = request("ord_1", 1, "NGN");
        with_list.metadata = Some(serde_json::json!([1]));
        assert_eq!(
            refused(with_list),
            invalid("metadata must be a JSON object")
        );

        // Amounts are whole JSON numbers: `85.0` is 85; a fraction, a string or a number
        // beyond i64 is refused with the amount rule.
        let parse = |amount: &str| {
            serde_json::from_str::<CreateOrder>(&format!(
                r#"{{"reference":"ord_1","amount":{amount},"currency":"NGN"}}"#
            ))
            .map(|o| o.amount)
            .map_err(|e| e.to_string())
        };
        assert_eq!(parse("85"), Ok(85));
        assert_eq!(parse("85.0"), Ok(85));
        assert_eq!(parse("-0.0"), Ok(0));
        assert_eq!(parse("1e12"), Ok(1_000_000_000_000));
        for bad in ["85.5", "\"85\"", "18446744073709551615", "1e300", "null"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("85.5")
            .unwrap_err()
            .starts_with("amount must be a whole number of minor units from 1 to"));

        let mut ok = request("ord_1", 500_000, "ngn");
        ok.metadata = Some(serde_json::json!({"table": 4}));
        let valid = validate(&ok, Provider::Paystack).unwrap();
        assert_eq!(valid.order.reference.as_str(), "ord_1");
        assert_eq!(valid.order.currency.as_str(), "NGN");
        assert_eq!(valid.metadata.as_deref(), Some(r#"{"table":4}"#));
    }
}
