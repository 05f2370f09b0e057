//! What the OpenAPI document says that the routes' own annotations do not: the error answers
//! many routes share, and the shape of a status stream's events. Request constraints live on
//! the types the handlers read (`Reference`, [`super::page::Limit`], the cursors, the
//! `Idempotency-Key`), built from the constants their parsers check.
//!
//! `tests/tests/e2e/openapi_contract.rs` runs schemathesis against the running ledger with every
//! check on, so the document and the server are held to each other: a status a route can
//! answer that is not declared, or a request the schema allows that a handler refuses, fails
//! the suite.

use std::borrow::Cow;

use keffi_shared::wire::ErrorBody;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

use crate::store::notify::OrderChange as OrderStatusEvent;

// The response types below are never built: each describes an answer that `ApiError` gives.

/// No valid admin token: `missing_token` or `invalid_token`.
#[derive(IntoResponses)]
#[response(status = 401, headers(("WWW-Authenticate" = String, description = "`Bearer`")))]
#[allow(dead_code)]
pub struct Unauthorized(ErrorBody);

/// `missing_client_secret`, or `invalid_client_secret`: the secret does not open this order.
#[derive(IntoResponses)]
#[response(status = 401)]
#[allow(dead_code)]
pub struct ClientUnauthorized(ErrorBody);

/// `bad_request`: a path or query parameter of the wrong type or not UTF-8, a cursor this API
/// did not issue, or a query parameter this route does not take.
#[derive(IntoResponses)]
#[response(status = 400)]
#[allow(dead_code)]
pub struct BadRequest(ErrorBody);

/// `store_unavailable`: the database did not answer; retry later.
#[derive(IntoResponses)]
#[response(status = 503)]
#[allow(dead_code)]
pub struct StoreUnavailable(ErrorBody);

/// `too_many_streams`: the ledger holds as many streams as it may; retry after `Retry-After`
/// seconds or poll the order. Or `store_unavailable`.
#[derive(IntoResponses)]
#[response(status = 503, headers(("Retry-After" = u32, description = "Seconds to wait (only with `too_many_streams`).")))]
#[allow(dead_code)]
pub struct StreamUnavailable(ErrorBody);

/// One Server-Sent Event of a status stream, as OpenAPI 3.1 describes an event of a
/// `text/event-stream`: its `event` name, its `id` (the order's version, which
/// `Last-Event-ID` resumes from) and its `data`, an [`OrderStatusEvent`] as JSON. Written out
/// because JSON Schema's `contentSchema`, which says what the `data` text holds, has no
/// derive.
pub struct OrderStatusStreamEvent;

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

impl PartialSchema for OrderStatusStreamEvent {
    fn schema() -> RefOr<Schema> {
        let mut data = string()
            .content_media_type("application/json")
            .description(Some("An `OrderStatusEvent`, as JSON."))
            .build();
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use keffi_shared::{MinorUnits, Reference};
    use serde_json::Value;

    use crate::api::support::{idempotency, page};
    use crate::domain::order::SETTLED_CURRENCIES;

    fn doc() -> Value {
        serde_json::to_value(crate::api::document()).unwrap()
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
        assert_eq!(ids.len(), 41);
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

    /// Every `$ref` names a schema the document defines: a parameter's type that was only
    /// referenced, never registered, would leave a generated client (and schemathesis) with a
    /// hole.
    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        out.push(r);
                    }
                    o.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = doc();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50, "{}", found.len());
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r}"));
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} is not defined"
            );
        }
    }

    /// Each operation names the scope the router guards it with, and only a route above `read`
    /// (which every valid token holds) declares the 403 a lesser token gets. A merchant's
    /// route states `Keffi-Merchant` and the refusals it brings; a platform route states that
    /// a merchant's token is refused.
    #[test]
    fn every_operation_states_its_scope_and_whose_it_is() {
        let doc = doc();
        let mut scopes = BTreeSet::new();
        for (method, path, op) in operations(&doc) {
            let at = format!("{method} {path}");
            let forbidden = op["responses"]["403"]["description"]
                .as_str()
                .unwrap_or_default();
            let names_merchant = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == "Keffi-Merchant" && p["in"] == "header");
            if path.starts_with("/client/") {
                assert!(
                    op.get("x-keffi-scope").is_none() && forbidden.is_empty(),
                    "{at}"
                );
                assert!(!names_merchant, "{at}");
                continue;
            }
            let scope = op["x-keffi-scope"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}"));
            scopes.insert((scope.to_owned(), at.clone()));
            assert_eq!(
                forbidden.contains("insufficient_scope"),
                scope != "read",
                "{at}"
            );
            let platform = path.starts_with("/v1/merchants")
                || path == "/v1/shards"
                || path == "/v1/reconciler"
                || path == "/v1/held";
            if platform {
                assert!(
                    !names_merchant && forbidden.contains("platform_only"),
                    "{at}"
                );
            } else {
                assert!(names_merchant, "{at}");
                assert!(forbidden.contains("merchant_forbidden"), "{at}");
                let invalid = op["responses"]["400"]["description"].as_str().unwrap();
                assert!(invalid.contains("invalid_merchant"), "{at}");
                let unknown = op["responses"]["404"]["description"].as_str().unwrap();
                assert!(unknown.contains("unknown_merchant"), "{at}");
            }
        }
        let above_read: Vec<_> = scopes.iter().filter(|(s, _)| s != "read").collect();
        assert_eq!(
            above_read,
            [
                &(
                    "admin".to_owned(),
                    "DELETE /v1/merchants/{id}/sources/{name}".to_owned()
                ),
                &(
                    "admin".to_owned(),
                    "DELETE /v1/merchants/{id}/tokens/{name}".to_owned()
                ),
                &("admin".to_owned(), "DELETE /v1/tokens/{name}".to_owned()),
                &("admin".to_owned(), "GET /v1/tokens".to_owned()),
                &("admin".to_owned(), "PATCH /v1/merchants/{id}".to_owned()),
                &("admin".to_owned(), "POST /v1/merchants".to_owned()),
                &(
                    "admin".to_owned(),
                    "POST /v1/merchants/{id}/sources".to_owned()
                ),
                &(
                    "admin".to_owned(),
                    "POST /v1/merchants/{id}/sources/{name}/rotate".to_owned()
                ),
                &(
                    "admin".to_owned(),
                    "POST /v1/merchants/{id}/tokens".to_owned()
                ),
                &("admin".to_owned(), "POST /v1/orders".to_owned()),
                &("admin".to_owned(), "POST /v1/tokens".to_owned()),
                &(
                    "admin".to_owned(),
                    "PUT /v1/merchants/{id}/sources/{name}".to_owned()
                ),
                &(
                    "admin".to_owned(),
                    "PUT /v1/merchants/{id}/sources/{name}/split".to_owned()
                ),
                &(
                    "admin".to_owned(),
                    "PUT /v1/merchants/{id}/subaccounts/{source}/{code}".to_owned()
                ),
                &("operate".to_owned(), "POST /v1/events/replay".to_owned()),
                &(
                    "operate".to_owned(),
                    "POST /v1/events/{id}/replay".to_owned()
                ),
            ]
        );
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
