//! The checks a delivery to `/hooks/{source}` passes, in order: method (405), source (404),
//! source IP allow-list (403), declared size (413), content type (415) — all before the body is
//! read — then actual size (413), signature (401) and idempotency key (400). Only a delivery
//! that passes all of them becomes an envelope.

use std::net::IpAddr;

use super::rejection::Rejection;
use super::settings::{EdgeSettings, SourceConfig};
use crate::envelope::Envelope;
use crate::headers::HeaderSource;
use crate::idempotency::derive_event;
use crate::scheme::SignatureScheme;
use crate::shard::shard_for;

/// What is known of a delivery before its body is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Precheck<'a> {
    pub method: &'a str,
    /// `CF-Connecting-IP`, set by Cloudflare to the client's address.
    pub client_ip: Option<&'a str>,
    pub content_length: Option<&'a str>,
    pub content_type: Option<&'a str>,
}

/// A delivery that passed every check: the envelope to store and the shard to store it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub envelope: Envelope,
    pub shard: u32,
}

/// The header-only checks of a delivery to `source` (the configured source of that name, if
/// any: static or runtime, the caller resolves it); on success, that source.
pub fn precheck<'s>(
    settings: &EdgeSettings,
    source: Option<&'s SourceConfig>,
    req: &Precheck<'_>,
) -> Result<&'s SourceConfig, Rejection> {
    if !req.method.eq_ignore_ascii_case("POST") {
        return Err(Rejection::MethodNotAllowed { allowed: "POST" });
    }
    let source = source.ok_or(Rejection::UnknownSource)?;
    if let Some(allowed) = &source.allow_ips {
        let ip = req
            .client_ip
            .and_then(|ip| ip.trim().parse::<IpAddr>().ok());
        if !ip.is_some_and(|ip| allowed.contains(&ip)) {
            return Err(Rejection::IpNotAllowed);
        }
    }
    // An unparseable Content-Length is left to the actual size check after reading.
    if let Some(declared) = req
        .content_length
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        if declared > settings.max_body_bytes {
            return Err(Rejection::PayloadTooLarge {
                limit: settings.max_body_bytes,
            });
        }
    }
    if source.provider.requires_json() && !is_json(req.content_type) {
        return Err(Rejection::UnsupportedMediaType);
    }
    Ok(source)
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The body checks: size, signature, key. `now_ms` is the edge's clock (Unix ms).
pub fn admit(
    settings: &EdgeSettings,
    source: &SourceConfig,
    headers: &dyn HeaderSource,
    body: Vec<u8>,
    now_ms: i64,
) -> Result<Admitted, Rejection> {
    if body.len() as u64 > settings.max_body_bytes {
        return Err(Rejection::PayloadTooLarge {
            limit: settings.max_body_bytes,
        });
    }
    source
        .verifier
        .verify(headers, &body, now_ms.div_euclid(1000))
        .map_err(Rejection::Signature)?;
    let event = derive_event(source.provider, headers, &body).map_err(Rejection::Unparseable)?;
    let shard = shard_for(&event.key, settings.shards);
    Ok(Admitted {
        envelope: Envelope::new(
            source.name.clone(),
            source.provider,
            event.key,
            event.event_type,
            now_ms,
            headers,
            body,
        ),
        shard,
    })
}

#[cfg(test)]
mod tests;
