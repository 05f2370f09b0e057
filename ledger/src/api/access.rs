//! `GET /v1/me` (who the caller is and what its token may do, for the dashboard), and what the
//! OpenAPI document says about scopes: these routes, and a 403 on every admin route.

use axum::{Extension, Json};
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi, ToSchema};

use super::contract::{BadRequest, Unauthorized};
use super::extract::{ApiQuery, NoQuery};
use super::tokens::{Caller, Scope};

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The token's name, as the audit log records it.
    pub name: String,
    /// The token's scope.
    pub scope: Scope,
    /// Every scope the token holds: its own and those below it (`read` < `operate` <
    /// `admin`). `read`: every `GET`; `operate`: replay; `admin`: order creation.
    pub scopes: Vec<Scope>,
}

/// Who the caller is: its token's name and scope, and the scopes that includes.
#[utoipa::path(get, path = "/v1/me", operation_id = "get_me", tag = "access",
    responses(
        (status = 200, description = "The caller's token: name and scope", body = Me),
        BadRequest,
        Unauthorized,
    ),
    security(("bearer" = [])))]
pub async fn me(
    Extension(caller): Extension<Caller>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Json<Me> {
    Json(Me {
        name: caller.name.to_string(),
        scope: caller.scope,
        scopes: caller.scope.granted(),
    })
}

#[derive(OpenApi)]
#[openapi(
    paths(me, super::audit::list),
    tags((name = "access", description = "Who is calling, and the audit log of operator actions")),
)]
struct AccessPaths;

/// Adds the access routes, and to every `/v1` route the 403 a token below its scope gets.
pub struct ScopeDoc;

impl Modify for ScopeDoc {
    fn modify(&self, openapi: &mut Document) {
        openapi.merge(AccessPaths::openapi());
        let forbidden: RefOr<Response> = ResponseBuilder::new()
            .description(
                "`insufficient_scope`: the token is valid, but its scope (`read` < `operate` < \
                 `admin`) does not include this route's.",
            )
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build()
            .into();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            let operations: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                op.responses
                    .responses
                    .entry("403".to_owned())
                    .or_insert_with(|| forbidden.clone());
            }
        }
    }
}
