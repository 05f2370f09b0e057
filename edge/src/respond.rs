//! JSON responses. Every error body is the shared `ErrorBody` with a stable code.

use keffi_shared::edge::Rejection;
use keffi_shared::wire::ErrorBody;
use serde::Serialize;
use worker::{Headers, Response, Result};

pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    json_with(status, body, &[])
}

fn json_with<T: Serialize>(status: u16, body: &T, extra: &[(&str, &str)]) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    for (name, value) in extra {
        headers.set(name, value)?;
    }
    Ok(Response::from_json(body)?
        .with_status(status)
        .with_headers(headers))
}

pub fn rejection(r: &Rejection) -> Result<Response> {
    match r {
        Rejection::MethodNotAllowed { allowed } => {
            json_with(r.status(), &r.body(), &[("allow", allowed)])
        }
        _ => json(r.status(), &r.body()),
    }
}

/// A response from a Durable Object that is not a success, passed on as an `ErrorBody`, or
/// mapped to 503 when it has none (the object failed in a way it did not describe).
pub async fn from_object_error(mut resp: Response) -> Result<Response> {
    let status = resp.status_code();
    match resp.json::<ErrorBody>().await {
        Ok(body) => json(status, &body),
        Err(_) => rejection(&Rejection::InboxUnavailable(format!(
            "inbox answered {status}"
        ))),
    }
}
