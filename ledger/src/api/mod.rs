//! The admin API, versioned under `/v1`: one module per resource, each with its routes,
//! request and response types and OpenAPI annotations side by side; this module assembles the
//! router and the OpenAPI document (generated from the code, served at `/openapi.json`).

mod access;
pub mod audit;
pub mod auth;
mod client;
pub mod client_secret;
mod contract;
pub mod error;
mod events;
mod extract;
pub mod idempotency;
mod journal;
pub mod orders;
mod page;
mod payments;
mod reconciler;
mod search;
mod shards;
mod stats;
mod stream;
mod timeline;
pub mod tokens;

use access::ScopeDoc;
use axum::middleware;
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub type ApiState = crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Keffi ledger admin API", description = "Orders, payments, the inbox and the journal. Every `/v1` route needs `Authorization: Bearer <admin token>` (the `bearer` scheme); the `/client/v1` routes take one order's client secret instead. Every error is `{\"error\": {\"code\", \"message\"}}` with a stable code, and every route lists each status it can answer. A query parameter a route does not take is refused (400), as is a method it does not take (405, with `Allow`)."),
    paths(
        orders::create, orders::get, orders::list, stream::order_events, timeline::get,
        payments::get, payments::list,
        events::list, events::get, events::replay, events::replay_bulk, search::search,
        stats::series,
        journal::list, journal::balances, shards::list, reconciler::status,
        client::status, client::events,
    ),
    components(schemas(error::ErrorSchema, error::ErrorDetailSchema)),
    modifiers(&BearerAuth, &ScopeDoc),
    tags(
        (name = "orders", description = "The merchant's orders and their live status"),
        (name = "payments", description = "Payments by gateway reference"),
        (name = "events", description = "The inbox: every event received, for review and replay"),
        (name = "journal", description = "The double-entry journal and balances"),
        (name = "client", description = "For browsers: one order's status, opened by its client secret"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
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

/// The `/v1` routes, behind admin auth, grouped by the scope each needs (`read` < `operate` <
/// `admin`): the one place that decides who may call what. Every route above `read` is an
/// operator action, recorded in the audit log (refusals too: the audit wraps the scope check).
pub fn routes(state: ApiState) -> Router<ApiState> {
    use tokens::Scope;
    let read = Router::new()
        .route("/v1/orders", get(orders::list))
        .route("/v1/orders/{reference}", get(orders::get))
        .route("/v1/orders/{reference}/events", get(stream::order_events))
        .route("/v1/orders/{reference}/timeline", get(timeline::get))
        .route("/v1/payments", get(payments::list))
        .route("/v1/payments/{reference}", get(payments::get))
        .route("/v1/events", get(events::list))
        .route("/v1/events/{id}", get(events::get))
        .route("/v1/search", get(search::search))
        .route("/v1/stats/series", get(stats::series))
        .route("/v1/journal", get(journal::list))
        .route("/v1/balances", get(journal::balances))
        .route("/v1/shards", get(shards::list))
        .route("/v1/reconciler", get(reconciler::status))
        .route("/v1/me", get(access::me))
        .route("/v1/audit", get(audit::list));
    // Replay and bulk replay (its dry run too: it is asked as part of the action), and
    // reconcile when it gets a route.
    let operate = Router::new()
        .route("/v1/events/{id}/replay", post(events::replay))
        .route("/v1/events/replay", post(events::replay_bulk));
    let admin = Router::new().route("/v1/orders", post(orders::create));
    auth::scoped(Scope::Read, read)
        .merge(audit::audited(
            state.store.clone(),
            auth::scoped(Scope::Operate, operate),
        ))
        .merge(audit::audited(
            state.store.clone(),
            auth::scoped(Scope::Admin, admin),
        ))
        .method_not_allowed_fallback(error::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            state.auth.clone(),
            auth::authenticate,
        ))
}

/// The browser's routes (client secret, CORS open) and the client library.
pub fn client_routes() -> Router<ApiState> {
    use tower_http::cors::{Any, CorsLayer};
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([axum::http::Method::GET])
        .allow_headers([
            axum::http::HeaderName::from_static("x-keffi-client-secret"),
            axum::http::HeaderName::from_static("last-event-id"),
        ]);
    Router::new()
        .route("/client/v1/orders/{reference}", get(client::status))
        .route("/client/v1/orders/{reference}/events", get(client::events))
        .route(
            "/client/keffi.js",
            get(client::library).layer(tower_http::compression::CompressionLayer::new()),
        )
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(cors)
}

pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
