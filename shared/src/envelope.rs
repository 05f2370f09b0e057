//! The envelope: the normalised record of one accepted delivery. The edge stores it in an Inbox
//! shard and the ledger receives it unchanged; it is the unit of exactly-once.
//!
//! Serialisation is stable JSON: fields in declaration order, headers sorted by name, the body
//! as standard base64 of the exact received bytes (so the ledger can re-verify the signature or
//! audit the delivery byte for byte), and a version field `v` that a reader checks first.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::headers::HeaderSource;
use crate::idempotency::IdempotencyKey;
use crate::provider::Provider;
use crate::version::V1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: V1,
    /// The configured source name (`/hooks/{source}`).
    pub source: String,
    pub provider: Provider,
    pub key: IdempotencyKey,
    pub event_type: String,
    /// When the edge accepted it, Unix milliseconds.
    pub received_at_ms: i64,
    /// The selected request headers (lower-cased names), see [`Provider::audit_headers`].
    pub headers: BTreeMap<String, String>,
    #[serde(
        serialize_with = "body_to_base64",
        deserialize_with = "body_from_base64"
    )]
    pub body: Vec<u8>,
}

impl Envelope {
    /// Builds the envelope for a verified delivery, keeping only the provider's audit headers.
    pub fn new(
        source: impl Into<String>,
        provider: Provider,
        key: IdempotencyKey,
        event_type: impl Into<String>,
        received_at_ms: i64,
        headers: &dyn HeaderSource,
        body: Vec<u8>,
    ) -> Self {
        let headers = provider
            .audit_headers()
            .iter()
            .filter_map(|&name| {
                headers
                    .header(name)
                    .map(|v| (name.to_owned(), v.to_owned()))
            })
            .collect();
        Envelope {
            v: V1,
            source: source.into(),
            provider,
            key,
            event_type: event_type.into(),
            received_at_ms,
            headers,
            body,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an envelope always serialises")
    }

    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

impl HeaderSource for BTreeMap<String, String> {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

fn body_to_base64<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&B64.encode(body))
}

fn body_from_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    B64.decode(text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::RequestHeaders;

    fn sample() -> Envelope {
        let headers = RequestHeaders::new()
            .with("Content-Type", "application/json")
            .with("X-Paystack-Signature", "ab12")
            .with("Authorization", "Bearer must-not-be-kept")
            .with("User-Agent", "Paystack");
        Envelope::new(
            "paystack-main",
            Provider::Paystack,
            IdempotencyKey::parse("paystack:charge.success:42").unwrap(),
            "charge.success",
            1_764_000_000_123,
            &headers,
            b"{\"event\":\"charge.success\"}\n".to_vec(),
        )
    }

    /// The serialised form is a contract between deployed edges and ledgers: pinned here.
    #[test]
    fn serialisation_is_pinned() {
        let expected = concat!(
            r#"{"v":1,"source":"paystack-main","provider":"paystack","#,
            r#""key":"paystack:charge.success:42","event_type":"charge.success","#,
            r#""received_at_ms":1764000000123,"#,
            r#""headers":{"content-type":"application/json","user-agent":"Paystack","x-paystack-signature":"ab12"},"#,
            r#""body":"eyJldmVudCI6ImNoYXJnZS5zdWNjZXNzIn0K"}"#
        );
        assert_eq!(sample().to_json(), expected);
        assert_eq!(Envelope::from_json(expected).unwrap(), sample());
    }

    #[test]
    fn credentials_are_not_kept() {
        assert!(!sample().to_json().to_lowercase().contains("authorization"));
    }

    #[test]
    fn non_utf8_bodies_survive_exactly() {
        let mut e = sample();
        e.body = vec![0, 159, 146, 150, 255];
        assert_eq!(Envelope::from_json(&e.to_json()).unwrap().body, e.body);
    }

    #[test]
    fn other_versions_and_bad_keys_are_refused() {
        let json = sample().to_json();
        assert!(Envelope::from_json(&json.replacen("\"v\":1", "\"v\":2", 1)).is_err());
        assert!(Envelope::from_json(&json.replacen("paystack:charge", "pay stack", 1)).is_err());
    }
}
