//! Event-level idempotency keys: what a provider guarantees is unique about one event.
//!
//! | provider | key |
//! |---|---|
//! | Standard Webhooks | `standard-webhooks:{webhook-id}` |
//! | Stripe | `stripe:{event.id}` |
//! | Paystack | `paystack:{event}:{data.id}` |
//! | Flutterwave | `flutterwave:{event}:{data.id}` |
//!
//! Paystack and Flutterwave send no event id, but a transaction id with an event type names one
//! fact: a retried `charge.success` for transaction 42 is the same event, a `refund.processed`
//! for it is another. Paystack's refund events carry no `id`; their `refund_reference` stands
//! in when present. When the body has no usable id the key falls back to the SHA-256 of the
//! raw body (`…:sha256:{hex}`), so only byte-identical retries collapse. A component that is too
//! long or not printable ASCII is replaced by its SHA-256, keeping every key short and safe to
//! log and to store in a unique column.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::headers::HeaderSource;
use crate::provider::Provider;
use crate::scheme::standard_webhooks;

/// Longest accepted key, in bytes.
pub const MAX_KEY_LEN: usize = 256;
/// Longest id or event type kept verbatim inside a key; longer ones are hashed.
const MAX_COMPONENT_LEN: usize = 100;

/// A derived idempotency key: non-empty printable ASCII without spaces, at most
/// [`MAX_KEY_LEN`] bytes. Holding one means it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: impl Into<String>) -> Result<Self, KeyError> {
        let s = s.into();
        if s.is_empty() || s.len() > MAX_KEY_LEN || !s.bytes().all(is_key_byte) {
            return Err(KeyError::InvalidKey);
        }
        Ok(IdempotencyKey(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_graphic()
}

impl TryFrom<String> for IdempotencyKey {
    type Error = KeyError;
    fn try_from(s: String) -> Result<Self, KeyError> {
        IdempotencyKey::parse(s)
    }
}

impl From<IdempotencyKey> for String {
    fn from(k: IdempotencyKey) -> String {
        k.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why no key could be derived: the request is refused (400) and nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("body is not a JSON object")]
    NotJsonObject,
    #[error("missing `{0}` header")]
    MissingHeader(&'static str),
    #[error("not a valid idempotency key (1 to 256 printable ASCII characters, no spaces)")]
    InvalidKey,
}

impl KeyError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::NotJsonObject => "unparseable_body",
            KeyError::MissingHeader(_) => "missing_event_id",
            KeyError::InvalidKey => "invalid_idempotency_key",
        }
    }
}

/// What the edge learns about an event before storing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedEvent {
    pub key: IdempotencyKey,
    /// The provider's event type (`charge.success`, …), or `unknown` when the body names none.
    pub event_type: String,
}

/// Event type recorded when a body names none.
pub const UNKNOWN_EVENT_TYPE: &str = "unknown";

/// Derives the idempotency key and event type of a verified delivery.
pub fn derive_event(
    provider: Provider,
    headers: &dyn HeaderSource,
    body: &[u8],
) -> Result<DerivedEvent, KeyError> {
    match provider {
        Provider::StandardWebhooks => {
            let id = standard_webhooks::message_id(headers)
                .ok_or(KeyError::MissingHeader(standard_webhooks::ID_HEADER))?;
            // The spec does not require a JSON body; the type is informative only.
            let event_type = serde_json::from_slice::<Probe>(body)
                .ok()
                .and_then(|p| p.kind)
                .unwrap_or_else(|| UNKNOWN_EVENT_TYPE.to_owned());
            Ok(DerivedEvent {
                key: key(&[provider.as_str(), &component(id)])?,
                event_type: component(&event_type),
            })
        }
        Provider::Stripe => {
            let probe = probe(body)?;
            let event_type = component(probe.kind.as_deref().unwrap_or(UNKNOWN_EVENT_TYPE));
            let id = id_component(probe.id, body);
            Ok(DerivedEvent {
                key: key(&[provider.as_str(), &id])?,
                event_type,
            })
        }
        Provider::Paystack | Provider::Flutterwave => {
            let probe = probe(body)?;
            let event_type = component(
                probe
                    .event
                    .as_deref()
                    .or(probe.legacy_event_type.as_deref())
                    .unwrap_or(UNKNOWN_EVENT_TYPE),
            );
            let id = id_component(
                probe
                    .data
                    .and_then(|d| d.id.or(d.refund_reference.map(IdValue::Text))),
                body,
            );
            Ok(DerivedEvent {
                key: key(&[provider.as_str(), &event_type, &id])?,
                event_type,
            })
        }
    }
}

/// Only the fields keys are made of; serde skips the rest of the body without building it.
#[derive(Deserialize)]
struct Probe {
    event: Option<String>,
    /// Flutterwave's older webhooks name the event `event.type` at the top level.
    #[serde(rename = "event.type")]
    legacy_event_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<IdValue>,
    data: Option<ProbeData>,
}

#[derive(Deserialize)]
struct ProbeData {
    id: Option<IdValue>,
    /// Paystack refund events have no `id`; once processed they carry the refund's reference.
    refund_reference: Option<String>,
}

/// Providers send ids as numbers (Paystack's transaction ids) or strings (Stripe's `evt_…`).
#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue {
    Unsigned(u64),
    Signed(i64),
    Text(String),
    Other(serde::de::IgnoredAny),
}

impl IdValue {
    fn render(&self) -> String {
        match self {
            IdValue::Unsigned(n) => n.to_string(),
            IdValue::Signed(n) => n.to_string(),
            IdValue::Text(s) => s.clone(),
            // A float, object or bool is not an id a provider promises is unique.
            IdValue::Other(_) => String::new(),
        }
    }
}

fn probe(body: &[u8]) -> Result<Probe, KeyError> {
    // Typed fields that come in an unexpected type (`"event": 5`) must not make a genuine,
    // signed event unstorable: fall back to a probe that only checks for an object.
    match serde_json::from_slice::<Probe>(body) {
        Ok(p) => Ok(p),
        Err(_) => serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
            .map(|_| Probe {
                event: None,
                legacy_event_type: None,
                kind: None,
                id: None,
                data: None,
            })
            .map_err(|_| KeyError::NotJsonObject),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn body_hash(body: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(body))
}

/// The id part of a key: the provider's id when it has a usable one, else the body's hash.
/// Never a constant: two different events without ids must never share a key.
fn id_component(id: Option<IdValue>, body: &[u8]) -> String {
    match id.map(|id| id.render()) {
        Some(id) if !id.is_empty() => component(&id),
        _ => body_hash(body),
    }
}

/// A key component kept verbatim when short and printable, otherwise replaced by its hash.
fn component(raw: &str) -> String {
    if raw.is_empty() {
        return UNKNOWN_EVENT_TYPE.to_owned();
    }
    if raw.len() <= MAX_COMPONENT_LEN && raw.bytes().all(is_key_byte) {
        raw.to_owned()
    } else {
        format!("sha256:{}", sha256_hex(raw.as_bytes()))
    }
}

fn key(parts: &[&str]) -> Result<IdempotencyKey, KeyError> {
    IdempotencyKey::parse(parts.join(":"))
}

#[cfg(test)]
mod tests;
