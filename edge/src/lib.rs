//! Keffi's edge: the Cloudflare Worker that receives provider webhooks, verifies them, stores
//! them durably in the Inbox and serves the ledger's pull/ack API.
//!
//! The entry point is a router and nothing else. Every decision that can be a pure function
//! lives in `keffi-shared`, where it is tested natively; this crate must never answer 200 for a
//! delivery it has not durably stored.

use keffi_shared::wire::ErrorBody;
use serde::Serialize;
use worker::{event, Context, Env, Request, Response, Result, RouteContext, Router};

#[derive(Serialize)]
struct Health {
    status: &'static str,
    service: &'static str,
    version: &'static str,
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Router::new()
        .get("/healthz", healthz)
        .or_else_any_method("/*path", not_found)
        .run(req, env)
        .await
}

fn healthz(_req: Request, _ctx: RouteContext<()>) -> Result<Response> {
    Response::from_json(&Health {
        status: "ok",
        service: "keffi-edge",
        version: env!("CARGO_PKG_VERSION"),
    })
}

fn not_found(req: Request, _ctx: RouteContext<()>) -> Result<Response> {
    let body = ErrorBody::new("not_found", format!("no route for {}", req.path()));
    Ok(Response::from_json(&body)?.with_status(404))
}
