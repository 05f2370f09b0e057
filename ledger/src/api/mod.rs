//! The admin API, versioned under `/v1`, and the browser's `/client/v1`.
//!
//! - `resources/`: one module per resource (orders, payments, events, journal…), each with its
//!   handlers, request and response types and OpenAPI annotations side by side.
//! - `access/`: who may call what: tokens and scopes, the bearer check, client secrets, the
//!   audit log of operator actions, `GET /v1/me`.
//! - `support/`: what every resource uses: the error type, extractors, paging, the
//!   `Idempotency-Key` flow, and the document's shared parts.
//!
//! Each route is registered once, with its handler's `#[utoipa::path]`, in [`v1_routes`] or
//! [`client_api`]: the router and the OpenAPI document (`/openapi.json`) are built from the
//! same list, so the document cannot name a route the server lacks or miss one it has.

pub mod access;
pub mod resources;
pub mod support;

use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use access::tokens::Scope;
use access::tokens::Whose;
use access::{audit, auth, me};
use resources::{
    client, events, journal, merchants, orders, payments, reconciler, search, shards, sources,
    splits, stats, stream, timeline, tokens,
};
use support::{error, ApiState};

/// What the document says beyond its routes: the API's description, the error body, the
/// security schemes and the tags.
#[derive(OpenApi)]
#[openapi(
    info(title = "Keffi ledger admin API", description = "Orders, payments, the inbox and the journal. Every `/v1` route needs `Authorization: Bearer <admin token>` (the `bearer` scheme); the `/client/v1` routes take one order's client secret instead. Every error is `{\"error\": {\"code\", \"message\"}}` with a stable code, and every route lists each status it can answer. A query parameter a route does not take is refused (400), as is a method it does not take (405, with `Allow`)."),
    components(schemas(keffi_shared::wire::ErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "orders", description = "The merchant's orders and their live status"),
        (name = "payments", description = "Payments by gateway reference"),
        (name = "events", description = "The inbox: every event received, for review and replay"),
        (name = "journal", description = "The double-entry journal and balances"),
        (name = "access", description = "Who is calling, and the audit log of operator actions"),
        (name = "merchants", description = "The platform's merchants and their sources (platform tokens only)"),
        (name = "tokens", description = "The acting merchant's own issued tokens, for its admins"),
        (name = "client", description = "For browsers: one order's status, opened by its client secret"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "client_secret",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "client_secret",
                "The order's client secret, from the answer to `POST /v1/orders`.",
            ))),
        );
        components.add_security_scheme(
            "client_secret_header",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Keffi-Client-Secret",
                "The order's client secret, as a header.",
            ))),
        );
    }
}

/// The `/v1` routes, grouped by the scope each needs (`read` < `operate` < `admin`) and by
/// whose they are (a merchant's, acted on through `Keffi-Merchant` or a merchant's token; or
/// the platform's own): the one place that decides who may call what.
fn v1_routes() -> [(Scope, Whose, OpenApiRouter<ApiState>); 5] {
    let read = OpenApiRouter::new()
        .routes(routes!(orders::list))
        .routes(routes!(orders::get))
        .routes(routes!(stream::order_events))
        .routes(routes!(timeline::get))
        .routes(routes!(payments::list))
        .routes(routes!(payments::get))
        .routes(routes!(events::list))
        .routes(routes!(events::get))
        .routes(routes!(search::search))
        .routes(routes!(stats::series))
        .routes(routes!(journal::list))
        .routes(routes!(journal::balances))
        .routes(routes!(me::me))
        .routes(routes!(audit::list));
    // Replay and bulk replay (its dry run too: it is asked as part of the action).
    let operate = OpenApiRouter::new()
        .routes(routes!(events::replay))
        .routes(routes!(events::replay_bulk));
    let admin = OpenApiRouter::new()
        .routes(routes!(orders::create))
        .routes(routes!(tokens::list, tokens::issue))
        .routes(routes!(tokens::revoke));
    let platform_read = OpenApiRouter::new()
        .routes(routes!(merchants::list))
        .routes(routes!(merchants::get))
        .routes(routes!(sources::list))
        .routes(routes!(sources::get))
        .routes(routes!(splits::list))
        .routes(routes!(splits::held))
        .routes(routes!(merchants::tokens))
        .routes(routes!(shards::list))
        .routes(routes!(reconciler::status));
    let platform_admin = OpenApiRouter::new()
        .routes(routes!(merchants::create))
        .routes(routes!(merchants::update))
        .routes(routes!(sources::add))
        .routes(routes!(sources::put, sources::delete))
        .routes(routes!(sources::rotate))
        .routes(routes!(splits::split))
        .routes(routes!(splits::map))
        .routes(routes!(merchants::issue_token))
        .routes(routes!(merchants::revoke_token));
    [
        (Scope::Read, Whose::Merchant, read),
        (Scope::Operate, Whose::Merchant, operate),
        (Scope::Admin, Whose::Merchant, admin),
        (Scope::Read, Whose::Platform, platform_read),
        (Scope::Admin, Whose::Platform, platform_admin),
    ]
}

/// The browser's routes: one order's status, opened by its client secret.
fn client_api() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(client::status))
        .routes(routes!(client::events))
}

/// The `/v1` routes behind the bearer check and each group's scope; every route above `read`
/// is an operator action, recorded in the audit log (refusals too: the audit wraps the scope
/// check). Returns the routes and their part of the document.
fn v1(state: &ApiState) -> OpenApiRouter<ApiState> {
    let mut all = OpenApiRouter::with_openapi(ApiDoc::openapi());
    for (scope, whose, group) in v1_routes() {
        let group = auth::scoped(scope, whose, group);
        let group = if scope > Scope::Read {
            audit::audited(state.store.clone(), whose, group)
        } else {
            group
        };
        all = all.merge(group);
    }
    all.route_layer(axum::middleware::from_fn_with_state(
        auth::Gate {
            auth: state.auth.clone(),
            store: Some(state.store.clone()),
        },
        auth::authenticate,
    ))
}

/// The `/v1` and `/client/v1` routes (and the client library), with the OpenAPI document
/// built from the same registrations.
pub fn routes(state: &ApiState) -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    use tower_http::cors::{Any, CorsLayer};
    let (admin, mut doc) = v1(state).split_for_parts();
    let admin = admin.method_not_allowed_fallback(error::method_not_allowed);
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([axum::http::Method::GET])
        .allow_headers([
            axum::http::HeaderName::from_static("x-keffi-client-secret"),
            axum::http::HeaderName::from_static("last-event-id"),
        ]);
    let (client, client_doc) = client_api()
        .route(
            "/client/keffi.js",
            get(client::library).layer(tower_http::compression::CompressionLayer::new()),
        )
        .split_for_parts();
    let client = client
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(cors);
    doc.merge(client_doc);
    (admin.merge(client), doc)
}

/// The OpenAPI document `/openapi.json` serves, without a running ledger (for tests and
/// tooling): the same registrations [`routes`] serves.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for (scope, whose, group) in v1_routes() {
        doc.merge(auth::scoped(scope, whose, group).into_openapi());
    }
    doc.merge(client_api().into_openapi());
    doc
}
