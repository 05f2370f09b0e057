//! `POST /hooks/{source}`: check, verify, key, append durably, and only then answer 200.

use std::time::Duration;

use keffi_shared::edge::{admit, precheck, EdgeSettings, Precheck, Rejection, SourceConfig};
use keffi_shared::headers::RequestHeaders;
use keffi_shared::wire::HookAck;
use worker::{Context, Date, Env, Method, Request, Response, Result};

use crate::protocol::{self, Appended};
use crate::{counters, env, respond, shards, sources};

pub async fn receive(mut req: Request, env: &Env, ctx: &Context, source: &str) -> Result<Response> {
    let settings = match env::settings(env) {
        Ok(s) => s,
        Err(r) => return respond::rejection(&r),
    };
    // A static source is never looked up at runtime; a runtime one comes from the isolate's
    // cache or the `Sources` object. Failing to read it is ours (503), not the provider's.
    let runtime = match settings.source(source) {
        Some(_) => None,
        None => match sources::runtime(env, &settings, source).await {
            Ok(found) => found,
            Err(r) => return respond::rejection(&r),
        },
    };
    let config = settings.source(source).or(runtime.as_deref());
    match store(&mut req, env, &settings, config).await {
        Ok(ack) => respond::json(200, &ack),
        Err(r) => {
            if r.is_delivery_rejection() {
                counters::count_rejection(env, ctx, source, r.code(), config.is_some());
            }
            respond::rejection(&r)
        }
    }
}

async fn store(
    req: &mut Request,
    env: &Env,
    settings: &EdgeSettings,
    source: Option<&SourceConfig>,
) -> std::result::Result<HookAck, Rejection> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let (client_ip, content_length, content_type) = (
        header("cf-connecting-ip"),
        header("content-length"),
        header("content-type"),
    );
    let method = req.method();
    let source = precheck(
        settings,
        source,
        &Precheck {
            method: method.as_ref(),
            client_ip: client_ip.as_deref(),
            content_length: content_length.as_deref(),
            content_type: content_type.as_deref(),
        },
    )?;
    let headers: RequestHeaders = req.headers().entries().collect();
    let body = req
        .bytes()
        .await
        .map_err(|e| Rejection::BadRequest(format!("cannot read the body: {e}")))?;
    let admitted = admit(
        settings,
        source,
        &headers,
        body,
        Date::now().as_millis() as i64,
    )?;

    let stub = shards::stub(env, settings, admitted.shard)?;
    let call = shards::request(
        Method::Post,
        protocol::APPEND,
        Some(admitted.envelope.to_json()),
    )?;
    let mut resp = shards::call(
        &stub,
        call,
        Duration::from_millis(settings.append_timeout_ms),
    )
    .await?;
    if resp.status_code() != 200 {
        return Err(Rejection::InboxUnavailable(format!(
            "shard {} answered {}",
            admitted.shard,
            resp.status_code()
        )));
    }
    let appended: Appended = resp
        .json()
        .await
        .map_err(|e| Rejection::InboxUnavailable(format!("unreadable inbox answer: {e}")))?;
    Ok(HookAck {
        status: appended.outcome,
        key: admitted.envelope.key,
    })
}
