//! What the OpenAPI document says that the derive macros cannot: request constraints built
//! from the very constants the handlers validate with (a reference's alphabet and length, the
//! amount ceiling, the settled currencies, page limits, cursor formats, the `Idempotency-Key`
//! rule), the error answers the routes share, and the shape of a status stream's events.
//!
//! `tests/tests/openapi_contract.rs` runs schemathesis against the running ledger with every
//! check on, so the document and the server are held to each other: a status a route can
//! answer that is not declared here, or a request the schema allows that a handler refuses,
//! fails the suite.

use std::borrow::Cow;
use std::collections::BTreeMap;

use keffi_shared::{MinorUnits, Reference};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{Content, Ref, RefOr, Required, Response, Schema};
use utoipa::{IntoParams, IntoResponses, PartialSchema, ToSchema};

use super::{idempotency, page};
use crate::domain::order::SETTLED_CURRENCIES;
use crate::store::notify::OrderChange as OrderStatusEvent;

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

/// An order's reference ([`Reference`]): what `POST /v1/orders` takes and every order has.
pub fn reference() -> RefOr<Schema> {
    string()
        .min_length(Some(1))
        .max_length(Some(Reference::MAX_LEN))
        .pattern(Some(Reference::PATTERN))
        .description(Some(
            "The payment reference the checkout will use with the gateway: 1 to 100 of \
             `A-Z a-z 0-9 . - _ =`.",
        ))
        .into()
}

/// A payment reference as the gateway sent it: any text (only orders' references are ours).
pub fn gateway_reference() -> RefOr<Schema> {
    string()
        .description(Some("A payment reference, as the gateway sent it."))
        .into()
}

/// A provider's name as the inbox stores it: any text (a name no event has matches none).
pub fn provider() -> RefOr<Schema> {
    string()
        .description(Some(
            "A provider, as the inbox names it: `paystack`, `flutterwave`, `stripe`, \
             `standard-webhooks`.",
        ))
        .into()
}

/// The longest search query taken (longer is 422): longer than any reference or key the
/// ledger holds.
pub const SEARCH_MAX_QUERY_LEN: usize = 512;

/// How many minutes `GET /v1/stats/series` covers unless asked, and at most.
pub const SERIES_DEFAULT_MINUTES: u32 = 60;
pub const SERIES_MAX_MINUTES: u32 = 180;

/// What `GET /v1/search` takes: 1 to [`SEARCH_MAX_QUERY_LEN`] characters.
pub fn search_query() -> RefOr<Schema> {
    string()
        .min_length(Some(1))
        .max_length(Some(SEARCH_MAX_QUERY_LEN))
        .description(Some(
            "An order or payment reference, an inbox event id, or an idempotency key, matched \
             exactly.",
        ))
        .into()
}

/// How many minutes `GET /v1/stats/series` covers: 1 to [`SERIES_MAX_MINUTES`].
pub fn series_minutes() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(1))
        .maximum(Some(SERIES_MAX_MINUTES))
        .default(Some(SERIES_DEFAULT_MINUTES.into()))
        .into()
}

/// An order's amount: 1 to [`MinorUnits::MAX_AMOUNT`] minor units.
pub fn amount() -> RefOr<Schema> {
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
pub fn currency() -> RefOr<Schema> {
    string()
        .enum_values(Some(SETTLED_CURRENCIES))
        .description(Some(
            "ISO 4217 code of a currency the gateway settles. Read case-insensitively (`ngn` is \
             `NGN`); answers always carry the upper-case code.",
        ))
        .into()
}

/// An order's metadata: a JSON object or null.
pub fn metadata() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::Object, Type::Null]))
        .description(Some(
            "Any JSON object, at most 8 KiB serialised (larger is 422), returned as given.",
        ))
        .into()
}

/// A page size: 1 to [`page::MAX_LIMIT`], [`page::DEFAULT_LIMIT`] when absent.
pub fn limit() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(1))
        .maximum(Some(page::MAX_LIMIT))
        .default(Some(page::DEFAULT_LIMIT.into()))
        .into()
}

/// A newest-first list's cursor ([`page::KEYSET_CURSOR_PATTERN`]).
pub fn keyset_cursor() -> RefOr<Schema> {
    string()
        .pattern(Some(page::KEYSET_CURSOR_PATTERN))
        .description(Some(
            "The previous page's `next_cursor`, as given (its format is not a promise).",
        ))
        .into()
}

/// An id-ordered list's cursor ([`page::ID_CURSOR_PATTERN`]).
pub fn id_cursor() -> RefOr<Schema> {
    string()
        .pattern(Some(page::ID_CURSOR_PATTERN))
        .description(Some("The previous page's `next_cursor`, as given."))
        .into()
}

/// A status filter.
pub fn order_status() -> RefOr<Schema> {
    schema_ref("OrderStatus")
}

pub fn payment_status() -> RefOr<Schema> {
    schema_ref("PaymentStatus")
}

pub fn inbox_status() -> RefOr<Schema> {
    schema_ref("InboxStatus")
}

/// The `Idempotency-Key` header ([`idempotency::IdempotencyKey`]).
pub fn idempotency_key() -> RefOr<Schema> {
    string()
        .min_length(Some(1))
        .max_length(Some(idempotency::MAX_KEY_LEN))
        .pattern(Some(idempotency::KEY_PATTERN))
        .into()
}

/// `Last-Event-ID`: any text; an order version (an integer) resumes, anything else is ignored.
pub fn last_event_id() -> RefOr<Schema> {
    string().into()
}

fn error_content() -> Content {
    Content::new(Some(schema_ref("ErrorBody")))
}

fn error(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", error_content())
}

fn one(status: &str, response: ResponseBuilder) -> BTreeMap<String, RefOr<Response>> {
    BTreeMap::from([(status.to_owned(), response.build().into())])
}

/// 401 from the admin routes' bearer check, with `WWW-Authenticate: Bearer`.
pub struct Unauthorized;

impl IntoResponses for Unauthorized {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        one(
            "401",
            error("No valid admin token: `missing_token` or `invalid_token`.").header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(string().enum_values(Some(["Bearer"])))
                    .build(),
            ),
        )
    }
}

/// 401 from the browser routes' client-secret check.
pub struct ClientUnauthorized;

impl IntoResponses for ClientUnauthorized {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        one(
            "401",
            error(
                "`missing_client_secret`, or `invalid_client_secret`: the secret does not \
                 open this order.",
            ),
        )
    }
}

/// 400 for a path or query parameter that cannot be read, or one the route does not take.
pub struct BadRequest;

impl IntoResponses for BadRequest {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        one(
            "400",
            error(
                "`bad_request`: a path or query parameter of the wrong type or not UTF-8, a \
                 cursor this API did not issue, or a query parameter this route does not take.",
            ),
        )
    }
}

/// 503 when the database does not answer (never anything else: client errors are 4xx).
pub struct StoreUnavailable;

impl IntoResponses for StoreUnavailable {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        one(
            "503",
            error("`store_unavailable`: the database did not answer; retry later."),
        )
    }
}

/// 503 from a status stream: the database, or the cap on open streams (with `Retry-After`).
pub struct StreamUnavailable;

impl IntoResponses for StreamUnavailable {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        one(
            "503",
            error(
                "`too_many_streams`: the ledger holds as many streams as it may; retry after \
                 `Retry-After` seconds or poll the order. Or `store_unavailable`.",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(0)),
                    )
                    .description(Some("Seconds to wait (only with `too_many_streams`)."))
                    .build(),
            ),
        )
    }
}

/// One Server-Sent Event of a status stream, as OpenAPI 3.1 describes an event of a
/// `text/event-stream`: its `event` name, its `id` (the order's version, which
/// `Last-Event-ID` resumes from) and its `data`, an [`OrderStatusEvent`] as JSON.
pub struct OrderStatusStreamEvent;

impl PartialSchema for OrderStatusStreamEvent {
    fn schema() -> RefOr<Schema> {
        let mut data = string()
            .content_media_type("application/json")
            .description(Some("An `OrderStatusEvent`, as JSON."))
            .build();
        // JSON Schema's `contentSchema`, which utoipa has no field for.
        data.extensions.get_or_insert_with(Default::default).insert(
            "contentSchema".into(),
            serde_json::json!({ "$ref": format!("#/components/schemas/{}", OrderStatusEvent::name()) }),
        );
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "event",
                string()
                    .enum_values(Some(["status"]))
                    .description(Some("Always `status`.")),
            )
            .required("event")
            .property(
                "id",
                string().pattern(Some("^[0-9]+$")).description(Some(
                    "The order's version: send it back as `Last-Event-ID`.",
                )),
            )
            .required("id")
            .property("data", Schema::Object(data))
            .required("data")
            .description(Some(
                "One event of an order's status stream: the order's state now, first when the \
                 stream opens (unless `Last-Event-ID` already has it), then after every change.",
            ))
            .into()
    }
}

impl ToSchema for OrderStatusStreamEvent {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("OrderStatusStreamEvent")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            OrderStatusEvent::name().into_owned(),
            OrderStatusEvent::schema(),
        ));
        <OrderStatusEvent as ToSchema>::schemas(schemas);
    }
}

/// A parameter: the derive's `schema_with` drops a parameter's description and required-ness,
/// so the parameters are written out with these.
pub fn param(
    name: &str,
    at: ParameterIn,
    required: bool,
    description: &str,
    schema: RefOr<Schema>,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(at)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// An optional query parameter.
pub fn query(name: &str, description: &str, schema: RefOr<Schema>) -> Parameter {
    param(name, ParameterIn::Query, false, description, schema)
}

/// `{reference}` of an order's routes (documentation only; the handlers take `ApiPath`).
pub struct OrderReference;

impl IntoParams for OrderReference {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "reference",
            ParameterIn::Path,
            true,
            "The order's reference.",
            reference(),
        )]
    }
}

/// `{reference}` of `/v1/payments/{reference}`: the gateway's reference, any text.
pub struct PaymentReference;

impl IntoParams for PaymentReference {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "reference",
            ParameterIn::Path,
            true,
            "The payment's reference, as the gateway sent it.",
            gateway_reference(),
        )]
    }
}

/// The `Idempotency-Key` request header.
pub struct IdempotencyKeyHeader;

impl IntoParams for IdempotencyKeyHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "Idempotency-Key",
            ParameterIn::Header,
            false,
            "Makes retries safe for 24 h: 1 to 255 printable ASCII characters, no spaces. The \
             same key with the same body gets the first answer again; with another body, 422.",
            idempotency_key(),
        )]
    }
}

/// The `Last-Event-ID` request header of a status stream.
pub struct LastEventIdHeader;

impl IntoParams for LastEventIdHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "Last-Event-ID",
            ParameterIn::Header,
            false,
            "The last event's id (an order version) when reconnecting: the stream then starts \
             with the next change. Anything that is not an integer is ignored.",
            last_event_id(),
        )]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;
    use utoipa::OpenApi;

    use super::*;

    fn doc() -> Value {
        serde_json::to_value(super::super::ApiDoc::openapi()).unwrap()
    }

    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
        out
    }

    /// What every operation must state, whatever it does: a unique operation id (generated
    /// clients name their functions by it), its security, the 400 and 401 every route can
    /// answer, the error body on every error, and each path parameter as required.
    #[test]
    fn every_operation_states_its_id_auth_errors_and_parameters() {
        let doc = doc();
        let mut ids = BTreeSet::new();
        for (method, path, op) in operations(&doc) {
            let at = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(ids.insert(id.clone()), "{at}: operationId `{id}` twice");
            let schemes: BTreeSet<&str> = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: no security"))
                .iter()
                .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
                .collect();
            let want: BTreeSet<&str> = if path.starts_with("/client/") {
                ["client_secret", "client_secret_header"].into()
            } else {
                ["bearer"].into()
            };
            assert_eq!(schemes, want, "{at}");
            let responses = op["responses"].as_object().unwrap();
            for status in ["400", "401"] {
                assert!(responses.contains_key(status), "{at}: no {status}");
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{at} {status}"
                    );
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    assert_eq!(p["required"], true, "{at}: {p}");
                }
                assert!(p["description"].is_string(), "{at}: {p}");
            }
        }
        assert_eq!(ids.len(), 21);
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["client_secret"]["in"], "query");
        assert_eq!(
            schemes["client_secret_header"]["name"],
            "X-Keffi-Client-Secret"
        );
    }

    /// The request constraints are the validating code's constants, not copies.
    #[test]
    fn constraints_come_from_the_code_that_validates() {
        let doc = doc();
        let create = &doc["components"]["schemas"]["CreateOrder"];
        assert_eq!(create["additionalProperties"], false);
        let props = &create["properties"];
        assert_eq!(props["reference"]["pattern"], Reference::PATTERN);
        assert_eq!(props["reference"]["maxLength"], Reference::MAX_LEN);
        assert_eq!(props["reference"]["minLength"], 1);
        assert_eq!(props["amount"]["minimum"], 1);
        assert_eq!(props["amount"]["maximum"], MinorUnits::MAX_AMOUNT.get());
        assert_eq!(
            props["currency"]["enum"],
            serde_json::json!(SETTLED_CURRENCIES)
        );
        let list = &doc["paths"]["/v1/orders"]["get"]["parameters"];
        let limit = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["in"], "query");
        assert_eq!(limit["schema"]["maximum"], page::MAX_LIMIT);
        let key = &doc["paths"]["/v1/orders"]["post"]["parameters"][0];
        assert_eq!(key["name"], "Idempotency-Key");
        assert_eq!(key["schema"]["pattern"], idempotency::KEY_PATTERN);
    }

    /// A status stream is declared as `text/event-stream` whose events carry an
    /// `OrderStatusEvent` as JSON data.
    #[test]
    fn streams_declare_their_events() {
        let doc = doc();
        for path in [
            "/v1/orders/{reference}/events",
            "/client/v1/orders/{reference}/events",
        ] {
            let ok = &doc["paths"][path]["get"]["responses"]["200"]["content"];
            assert_eq!(
                ok["text/event-stream"]["schema"]["$ref"],
                "#/components/schemas/OrderStatusStreamEvent",
                "{path}"
            );
        }
        let event = &doc["components"]["schemas"]["OrderStatusStreamEvent"];
        assert_eq!(
            event["properties"]["data"]["contentSchema"]["$ref"],
            "#/components/schemas/OrderStatusEvent"
        );
        assert_eq!(
            event["properties"]["data"]["contentMediaType"],
            "application/json"
        );
        let data = &doc["components"]["schemas"]["OrderStatusEvent"];
        assert!(data["required"]
            .as_array()
            .unwrap()
            .contains(&"reference".into()));
    }
}
