//! `POST /hooks/{source}` on the ledger itself, for running without an edge: the same checks
//! and signature schemes as the edge (from keffi-shared), then the same apply pipeline. The
//! answer is 200 only after the event's transaction committed.

use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keffi_shared::edge::{admit, precheck, Precheck, Rejection};
use keffi_shared::headers::RequestHeaders;
use keffi_shared::wire::{HookAck, HookOutcome};

use super::{error, AppState};
use crate::pipeline::{apply_routed, routed};
use crate::store::now_ms;
use crate::store::StoreError;
use tracing::Instrument as _;

pub async fn receive(
    State(state): State<AppState>,
    Path(source): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(settings) = state.hooks.clone() else {
        return rejection(&Rejection::UnknownSource);
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let peer_ip = peer.ip().to_string();
    // Only the static sources (`KEFFI_SOURCES`): runtime sources live at the edge.
    let configured = match precheck(
        &settings,
        settings.source(&source),
        &Precheck {
            method: method.as_str(),
            // The socket's peer, never a forwarded header a sender could write itself.
            client_ip: Some(peer_ip.as_str()),
            content_length: header("content-length"),
            content_type: header("content-type"),
        },
    ) {
        Ok(s) => s,
        Err(r) => return rejection(&r),
    };
    let limit = settings.max_body_bytes as usize;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return rejection(&Rejection::PayloadTooLarge {
                limit: settings.max_body_bytes,
            })
        }
    };
    let request_headers: RequestHeaders = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?.to_owned())))
        .collect();
    let admitted = match admit(
        &settings,
        configured,
        &request_headers,
        bytes.to_vec(),
        now_ms(),
    ) {
        Ok(a) => a,
        Err(r) => return rejection(&r),
    };
    let key = admitted.envelope.key.clone();
    // In a task of its own: a gateway that hangs up mid-request does not cancel the
    // transaction half-way; the event is stored and applied, and its retry is a duplicate.
    let store = state.store.clone();
    let applied = tokio::spawn(
        async move {
            let incoming = routed(&store, vec![(admitted.envelope, None)]).await?;
            apply_routed(&store, &incoming, None).await
        }
        .in_current_span(),
    )
    .await
    .map_err(NotStored::Task)
    .and_then(|r| r.map_err(NotStored::Store));
    match applied {
        Ok(report) => {
            state.changes.publish(&report.moved);
            let status = if report.duplicates > 0 {
                HookOutcome::Duplicate
            } else {
                HookOutcome::Accepted
            };
            (StatusCode::OK, Json(HookAck { status, key })).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "direct hook not stored");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the event was not stored, retry later",
            )
        }
    }
}

fn rejection(r: &Rejection) -> Response {
    let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, Json(r.body())).into_response();
    if let Rejection::MethodNotAllowed { allowed } = r {
        resp.headers_mut().insert(
            axum::http::header::ALLOW,
            axum::http::HeaderValue::from_static(allowed),
        );
    }
    resp
}

/// Why a direct hook was not stored: the database, or the task that applied it ending
/// without an answer (a panic), which is not the store's fault and is logged as what it is.
#[derive(Debug, thiserror::Error)]
enum NotStored {
    #[error(transparent)]
    Store(StoreError),
    #[error("the apply task ended without an answer: {0}")]
    Task(tokio::task::JoinError),
}
