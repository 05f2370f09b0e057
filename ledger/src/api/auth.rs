//! Every admin route requires `Authorization: Bearer <token>` (several tokens for rotation,
//! compared in constant time), unless the service was started with the insecure local-dev flag.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keffi_shared::edge::BearerTokens;

use super::error::ApiError;

/// Who may call the admin API.
#[derive(Debug, Clone)]
pub enum AdminAuth {
    Tokens(Arc<BearerTokens>),
    /// `--insecure-no-auth`: local development only; logged loudly at start.
    Disabled,
}

pub async fn require_admin(State(auth): State<AdminAuth>, req: Request, next: Next) -> Response {
    if let AdminAuth::Tokens(tokens) = &auth {
        let header = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Err(e) = tokens.authorize(header) {
            let mut resp =
                ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()).into_response();
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            return resp;
        }
    }
    next.run(req).await
}
