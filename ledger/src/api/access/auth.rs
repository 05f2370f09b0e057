//! Every admin route requires `Authorization: Bearer <token>` (several tokens, each with a
//! name and a scope, compared in constant time; see [`super::tokens`]), unless the service was
//! started with the insecure local-dev flag. Two layers, so the router decides in one place:
//! [`authenticate`] (401) runs once in front of every `/v1` route and says who is calling;
//! [`require_scope`] (403) guards each group of routes with the scope the group needs.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;

use super::client_secret;
use super::tokens::{AdminTokens, Caller, Scope, Whose};
use crate::api::support::error::ApiError;
use crate::store::Store;
use keffi_shared::edge::auth::{bearer_token, AuthError};

/// The name `--insecure-no-auth` requests carry (in the audit log, for one).
pub const INSECURE_CALLER: &str = "insecure-local";

/// Who may call the admin API.
#[derive(Debug, Clone)]
pub enum AdminAuth {
    Tokens(Arc<AdminTokens>),
    /// `--insecure-no-auth`: local development only; logged loudly at start. Every request
    /// is a full admin named [`INSECURE_CALLER`].
    Disabled,
}

/// What [`authenticate`] checks a token against: the configured tokens, then (with a store)
/// the tokens issued to merchants through the API.
#[derive(Debug, Clone)]
pub struct Gate {
    pub auth: AdminAuth,
    pub store: Option<Store>,
}

/// Authenticates the request and puts its [`Caller`] in the request's extensions; a missing
/// or unknown token is 401 with `WWW-Authenticate: Bearer`. Every valid token has at least
/// `read`, so this alone guards a read-only route (as `/metrics`).
///
/// A configured token is compared in constant time against every one of them. A token issued
/// through the API is found by its SHA-256 in a unique index: the lookup's timing depends on
/// the hash of what was sent, which says nothing about any live token.
pub async fn authenticate(State(gate): State<Gate>, mut req: Request, next: Next) -> Response {
    let caller = match &gate.auth {
        AdminAuth::Disabled => Caller::new(INSECURE_CALLER, Scope::Admin),
        AdminAuth::Tokens(tokens) => {
            let header = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match tokens.authenticate(header) {
                Ok(caller) => caller,
                Err(AuthError::Invalid) if gate.store.is_some() => {
                    match issued(gate.store.as_ref(), header).await {
                        Ok(Some(caller)) => caller,
                        Ok(None) => return unauthorized(AuthError::Invalid),
                        Err(e) => return e.into_response(),
                    }
                }
                Err(e) => return unauthorized(e),
            }
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

fn unauthorized(e: AuthError) -> Response {
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()).into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// The merchant's caller an issued, unrevoked token names.
async fn issued(store: Option<&Store>, header: Option<&str>) -> Result<Option<Caller>, ApiError> {
    let (Some(store), Ok(token)) = (store, bearer_token(header)) else {
        return Ok(None);
    };
    let Some(record) = store.token_by_hash(&client_secret::hash(token)).await? else {
        return Ok(None);
    };
    let scope = Scope::from_name(&record.scope)
        .ok_or_else(|| ApiError::internal("a stored token has an unknown scope"))?;
    Ok(Some(Caller::of_merchant(
        &record.name,
        scope,
        record.merchant,
    )))
}

/// Refuses a caller whose scope does not include `needed`: 403 `insufficient_scope` (RFC 6750's
/// error, in the header too). Behind [`authenticate`]; without a caller it fails closed.
pub async fn require_scope(State(needed): State<Scope>, req: Request, next: Next) -> Response {
    match req.extensions().get::<Caller>() {
        Some(caller) if caller.scope.includes(needed) => next.run(req).await,
        Some(caller) => {
            let mut resp = ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "the token `{}` has the `{}` scope; this route needs `{needed}`",
                    caller.name, caller.scope
                ),
            )
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
            );
            resp
        }
        None => {
            tracing::error!("a scoped route is not behind authentication: refused");
            ApiError::internal("this route is not configured for authentication").into_response()
        }
    }
}

/// `routes`, each needing `scope` (see [`require_scope`]), and their operations in the
/// document saying so: the scope as `x-keffi-scope`, and above `read` (which every valid token
/// holds) the 403 a token below it gets. A merchant's routes also state the `Keffi-Merchant`
/// header and the answers it can bring (see [`super::tenant`]).
pub fn scoped<S: Clone + Send + Sync + 'static>(
    scope: Scope,
    whose: Whose,
    routes: OpenApiRouter<S>,
) -> OpenApiRouter<S> {
    let mut routes = routes.route_layer(middleware::from_fn_with_state(scope, require_scope));
    for item in routes.get_openapi_mut().paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in operations.into_iter().flatten() {
            op.extensions
                .get_or_insert_with(Default::default)
                .insert("x-keffi-scope".into(), scope.as_str().into());
            if scope > Scope::Read {
                add_answer(op, "403", INSUFFICIENT_SCOPE);
            }
            if whose == Whose::Merchant {
                op.parameters
                    .get_or_insert_with(Vec::new)
                    .push(merchant_header());
                add_answer(
                    op,
                    "400",
                    "`invalid_merchant`: `Keffi-Merchant` is not a merchant id.",
                );
                add_answer(
                    op,
                    "403",
                    "`merchant_forbidden`: a merchant's token named another merchant in \
                     `Keffi-Merchant`.",
                );
                add_answer(
                    op,
                    "404",
                    "`unknown_merchant`: no merchant has the id `Keffi-Merchant` names.",
                );
            }
        }
    }
    routes
}

const INSUFFICIENT_SCOPE: &str = "`insufficient_scope`: the token is valid, but its scope \
    (`read` < `operate` < `admin`) does not include this route's.";

/// Declares that `op` can answer `status` with an error body for `why`: a new answer, or the
/// reason added to the one the route declares already.
fn add_answer(op: &mut utoipa::openapi::path::Operation, status: &str, why: &str) {
    use utoipa::openapi::RefOr;
    match op.responses.responses.get_mut(status) {
        Some(RefOr::T(existing)) => {
            existing.description = format!("{} Or {why}", existing.description);
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            op.responses
                .responses
                .insert(status.into(), error_answer(why).into());
        }
    }
}

fn merchant_header() -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::Required;
    ParameterBuilder::new()
        .name("Keffi-Merchant")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The merchant a platform token acts on (the default merchant when absent). A \
             merchant's token acts on its own merchant: naming another is 403.",
        ))
        .schema(Some(utoipa::openapi::Ref::from_schema_name("MerchantId")))
        .build()
}

fn error_answer(description: &str) -> utoipa::openapi::Response {
    utoipa::openapi::ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::Content::new(Some(utoipa::openapi::Ref::from_schema_name(
                "ErrorBody",
            ))),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use axum::Extension;

    use super::*;

    /// A route that says who called it, behind `auth` and a scope, served on a loopback port.
    async fn serve(auth: AdminAuth, needed: Scope) -> String {
        let (app, _) =
            scoped(
                needed,
                Whose::Merchant,
                OpenApiRouter::new().route(
                    "/who",
                    get(|Extension(c): Extension<Caller>| async move {
                        format!("{} {}", c.name, c.scope)
                    }),
                ),
            )
            .route_layer(middleware::from_fn_with_state(
                Gate { auth, store: None },
                authenticate,
            ))
            .split_for_parts();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/who", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    async fn call(url: &str, token: Option<&str>) -> (u16, String, Option<String>) {
        let mut req = reqwest::Client::new().get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        (
            resp.status().as_u16(),
            resp.text().await.unwrap(),
            challenge,
        )
    }

    #[tokio::test]
    async fn insecure_mode_is_an_admin_named_for_it() {
        let url = serve(AdminAuth::Disabled, Scope::Admin).await;
        assert_eq!(call(&url, None).await.1, "insecure-local admin");
    }

    #[tokio::test]
    async fn unknown_tokens_are_401_and_low_scopes_403() {
        let tokens = AdminTokens::parse("viewer:read:v-tok,oncall:operate:o-tok").unwrap();
        let url = serve(AdminAuth::Tokens(Arc::new(tokens)), Scope::Operate).await;
        let (status, body, challenge) = call(&url, Some("nope")).await;
        assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")));
        assert!(body.contains("invalid_token"), "{body}");
        let (status, body, challenge) = call(&url, Some("v-tok")).await;
        assert_eq!(status, 403);
        assert!(
            body.contains("insufficient_scope") && body.contains("viewer"),
            "{body}"
        );
        assert_eq!(
            challenge.as_deref(),
            Some("Bearer error=\"insufficient_scope\"")
        );
        assert_eq!(call(&url, Some("o-tok")).await.1, "oncall operate");
    }
}
