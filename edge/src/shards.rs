//! Calls from the Worker to the Inbox shards (Durable Objects), with a deadline.

use std::time::Duration;

use futures_util::future::{select, Either};
use keffi_shared::edge::{EdgeSettings, Rejection};
use keffi_shared::shard::shard_name;
use worker::{Delay, Env, Method, Request, RequestInit, Response, Stub};

pub const INBOX_BINDING: &str = "INBOX";

/// The stub of shard `index`, placed near the configured location hint if any.
pub fn stub(env: &Env, settings: &EdgeSettings, index: u32) -> Result<Stub, Rejection> {
    let namespace = env
        .durable_object(INBOX_BINDING)
        .map_err(|e| Rejection::Misconfigured(format!("binding {INBOX_BINDING}: {e}")))?;
    let name = shard_name(index);
    let stub = match &settings.location_hint {
        Some(hint) => namespace.get_by_name_with_location_hint(&name, hint),
        None => namespace.get_by_name(&name),
    };
    stub.map_err(|e| Rejection::InboxUnavailable(format!("shard {index}: {e}")))
}

/// Builds an internal request to a Durable Object.
pub fn request(method: Method, url: &str, body: Option<String>) -> Result<Request, Rejection> {
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        init.with_body(Some(body.into()));
    }
    Request::new_with_init(url, &init)
        .map_err(|e| Rejection::InboxUnavailable(format!("building request: {e}")))
}

/// Sends `req` to `stub`, giving up after `timeout`. A give-up is a 503: the object may still
/// finish the write, and the provider's retry is then recognised as a duplicate.
pub async fn call(stub: &Stub, req: Request, timeout: Duration) -> Result<Response, Rejection> {
    let fetch = Box::pin(stub.fetch_with_request(req));
    let deadline = Box::pin(Delay::from(timeout));
    match select(fetch, deadline).await {
        Either::Left((Ok(resp), _)) => Ok(resp),
        Either::Left((Err(e), _)) => Err(Rejection::InboxUnavailable(e.to_string())),
        Either::Right(_) => Err(Rejection::InboxUnavailable(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}
