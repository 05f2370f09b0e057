//! Keffi's edge: the Cloudflare Worker that receives provider webhooks, verifies them, stores
//! them durably in the Inbox and serves the ledger's pull/ack API.
//!
//! The entry point is a router and nothing else. Every decision that can be a pure function
//! (settings, routes, the order of checks, error mapping, shard choice) lives in
//! `keffi_shared::edge` and is tested natively; this crate does the I/O around them. It must
//! never answer 200 for a delivery it has not durably stored.

mod bench;
mod counters;
mod env;
mod hooks;
mod inbox;
mod ledger_api;
mod protocol;
mod respond;
mod shards;
mod sources;

use keffi_shared::edge::{Rejection, Route};
use serde::Serialize;
use worker::{event, Context, Env, Request, Response, Result};

pub use counters::Counters;
pub use inbox::Inbox;
pub use sources::object::Sources;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    service: &'static str,
    version: &'static str,
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let route = Route::of(&req.path());
    let method = req.method();
    // A hook's method is checked (and counted) with the rest of its checks, in `precheck`.
    if let Some(allowed) = route.allow().filter(|_| !matches!(route, Route::Hook(_))) {
        if !route.allows(method.as_ref()) {
            return respond::rejection(&Rejection::MethodNotAllowed { allowed });
        }
    }
    match route {
        Route::Health => Response::from_json(&Health {
            status: "ok",
            service: "keffi-edge",
            version: env!("CARGO_PKG_VERSION"),
        }),
        Route::Hook(source) => hooks::receive(req, &env, &ctx, &source).await,
        Route::BenchNoop | Route::BenchAppend | Route::BenchVerify => {
            bench::handle(req, &env, route).await
        }
        Route::NotFound => respond::rejection(&Rejection::NotFound),
        ledger_route => ledger_api::handle(req, &env, ledger_route).await,
    }
}
