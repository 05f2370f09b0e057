//! `GET /ledger/sources/{name}/verify?reference=`: Paystack's Verify Transaction API, asked
//! with the source's own secret key, for the ledger's reconciler. The key never leaves the
//! edge (a runtime source's is sealed in the `Sources` object); the ledger gets Paystack's
//! answer as it came, status, body and `Retry-After`, and reads it exactly as it reads a
//! direct call, so a refused key is a refusal and only Paystack's own "not found" is one.

use std::time::Duration;

use futures_util::future::{select, Either};
use keffi_shared::edge::{EdgeSettings, Rejection, SourceConfig};
use worker::{Delay, Fetch, Headers, Method, Request, RequestInit, Response, Url};

/// Longer than the ledger's own per-call timeout is pointless; shorter than a slow Paystack.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Paystack references are at most 100 characters; anything longer is not one.
const MAX_REFERENCE: usize = 200;

pub async fn call(
    req: &Request,
    settings: &EdgeSettings,
    source: &SourceConfig,
) -> Result<Response, Rejection> {
    let key = source
        .verifier
        .paystack_key()
        .and_then(|k| k.expose_str())
        .ok_or_else(|| {
            Rejection::InvalidSource(format!(
                "source `{}` is not a Paystack source: only Paystack's verify is asked here",
                source.name
            ))
        })?;
    let url = req
        .url()
        .map_err(|e| Rejection::BadRequest(e.to_string()))?;
    let reference = url
        .query_pairs()
        .find(|(k, _)| k == "reference")
        .map(|(_, v)| v.into_owned())
        .filter(|r| !r.is_empty() && r.len() <= MAX_REFERENCE)
        .ok_or_else(|| {
            Rejection::BadRequest(format!(
                "`reference` is required, 1 to {MAX_REFERENCE} characters"
            ))
        })?;
    let mut target = Url::parse(&format!(
        "{}/transaction/verify",
        settings.paystack_api_base
    ))
    .map_err(|e| Rejection::Misconfigured(format!("KEFFI_PAYSTACK_API_BASE: {e}")))?;
    target
        .path_segments_mut()
        .map_err(|_| Rejection::Misconfigured("KEFFI_PAYSTACK_API_BASE cannot take a path".into()))?
        .push(&reference);
    let headers = Headers::new();
    let set = |name: &str, value: &str| {
        headers
            .set(name, value)
            .map_err(|e| Rejection::GatewayUnavailable(e.to_string()))
    };
    set("authorization", &format!("Bearer {key}"))?;
    set("accept", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let outbound = Request::new_with_init(target.as_str(), &init)
        .map_err(|e| Rejection::GatewayUnavailable(e.to_string()))?;
    let fetch = Fetch::Request(outbound);
    let fetch = Box::pin(fetch.send());
    let deadline = Box::pin(Delay::from(TIMEOUT));
    let mut answer = match select(fetch, deadline).await {
        Either::Left((Ok(resp), _)) => resp,
        Either::Left((Err(e), _)) => return Err(Rejection::GatewayUnavailable(e.to_string())),
        Either::Right(_) => {
            return Err(Rejection::GatewayUnavailable(format!(
                "no answer within {} s",
                TIMEOUT.as_secs()
            )))
        }
    };
    let status = answer.status_code();
    let retry_after = answer.headers().get("retry-after").ok().flatten();
    let body = answer
        .bytes()
        .await
        .map_err(|e| Rejection::GatewayUnavailable(format!("unreadable answer: {e}")))?;
    let out = Headers::new();
    let _ = out.set("content-type", "application/json");
    if let Some(r) = retry_after {
        let _ = out.set("retry-after", &r);
    }
    Ok(Response::from_bytes(body)
        .map_err(|e| Rejection::GatewayUnavailable(e.to_string()))?
        .with_status(status)
        .with_headers(out))
}
