//! Benchmark baselines in the same worker, served only when `KEFFI_BENCH_ROUTES=1`: a route
//! that answers 200 and does nothing, and one that appends the raw body to one Durable
//! Object's SQLite table with no verification or dedupe (the durable-write floor every webhook
//! must pay anyway). Keffi's ack path is reported as ratios to both.

use std::time::Duration;

use keffi_shared::edge::{Rejection, Route};
use worker::{Env, Method, Request, Response, Result};

use crate::{env, protocol, respond, shards};

pub async fn handle(mut req: Request, env: &Env, route: Route) -> Result<Response> {
    let settings = match env::settings(env) {
        Ok(s) if s.bench_routes => s,
        Ok(_) => return respond::rejection(&Rejection::NotFound),
        Err(r) => return respond::rejection(&r),
    };
    match route {
        Route::BenchNoop => Response::ok("{}"),
        _ => {
            let body = req.bytes().await?;
            // Not an inbox shard: its own object, so the floor never touches Keffi's data.
            let stub = match env
                .durable_object(shards::INBOX_BINDING)
                .and_then(|ns| ns.get_by_name("bench-floor"))
            {
                Ok(s) => s,
                Err(e) => return respond::rejection(&Rejection::InboxUnavailable(e.to_string())),
            };
            let call = match shards::request(
                Method::Post,
                protocol::BENCH_APPEND,
                Some(String::from_utf8_lossy(&body).into_owned()),
            ) {
                Ok(c) => c,
                Err(r) => return respond::rejection(&r),
            };
            match shards::call(
                &stub,
                call,
                Duration::from_millis(settings.append_timeout_ms),
            )
            .await
            {
                Ok(resp) if resp.status_code() == 200 => Response::ok("{}"),
                Ok(resp) => respond::rejection(&Rejection::InboxUnavailable(format!(
                    "floor answered {}",
                    resp.status_code()
                ))),
                Err(r) => respond::rejection(&r),
            }
        }
    }
}
