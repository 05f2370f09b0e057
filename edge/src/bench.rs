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
        Route::BenchVerify => verify_loop(&req),
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

/// `GET /bench/verify?provider=paystack&size=4096&n=200`: `n` verifications (and key
/// derivations) of one signed body. Timed from outside against `n=0`: Workers freeze the clock
/// during execution, so the only honest clock is the caller's.
fn verify_loop(req: &Request) -> Result<Response> {
    use keffi_shared::headers::RequestHeaders;
    use keffi_shared::scheme::{paystack, stripe};
    use keffi_shared::{derive_event, Provider, SignatureScheme, Verifier};
    let url = req.url()?;
    let param = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let n: usize = param("n")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
        .min(100_000);
    let size: usize = param("size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
        .clamp(64, 1 << 20);
    let provider = param("provider").unwrap_or_else(|| "paystack".into());
    let mut body = br#"{"event":"charge.success","data":{"id":42,"pad":""#.to_vec();
    body.resize(size - 3, b'x');
    body.extend_from_slice(b"\"}}");
    let now = 1_700_000_000;
    let (verifier, headers) = match provider.as_str() {
        "stripe" => (
            Verifier::new(Provider::Stripe, &["whsec_bench"], 300),
            RequestHeaders::new()
                .with("stripe-signature", stripe::sign(b"whsec_bench", now, &body)),
        ),
        _ => (
            Verifier::new(Provider::Paystack, &["sk_bench"], 300),
            RequestHeaders::new().with("x-paystack-signature", paystack::sign(b"sk_bench", &body)),
        ),
    };
    let verifier = verifier.map_err(|e| worker::Error::RustError(e.to_string()))?;
    let mut ok = 0usize;
    for _ in 0..n {
        if verifier.verify(&headers, &body, now).is_ok()
            && derive_event(verifier.provider(), &headers, &body).is_ok()
        {
            ok += 1;
        }
    }
    Response::from_json(&serde_json::json!({ "n": n, "ok": ok, "size": size }))
}
