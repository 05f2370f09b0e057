//! Every error the edge answers, with its HTTP status and stable code.

use crate::edge::auth::AuthError;
use crate::edge::sources::SourceError;
use crate::idempotency::KeyError;
use crate::scheme::VerifyError;
use crate::wire::ErrorBody;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    MethodNotAllowed {
        allowed: &'static str,
    },
    NotFound,
    UnknownSource,
    IpNotAllowed,
    PayloadTooLarge {
        limit: u64,
    },
    UnsupportedMediaType,
    Signature(VerifyError),
    Unparseable(KeyError),
    Unauthorized(AuthError),
    BadRequest(String),
    /// An ack for a sequence the shard has not stored yet: the ledger is confused, never
    /// something to silently accept.
    AckAheadOfLog {
        upto: u64,
        head: u64,
    },
    /// A runtime source's settings break a rule (the message says which, never a secret).
    InvalidSource(String),
    /// A runtime source cannot take the name of a source in `KEFFI_SOURCES`.
    SourceStatic,
    TooManySecrets,
    /// The Inbox could not store (or answer) in time. 503 so the provider retries.
    InboxUnavailable(String),
    /// The edge's own settings are broken. 503, not 500: a provider retries a 503, and the
    /// delivery must survive until the settings are fixed.
    Misconfigured(String),
    /// A gateway the edge called for the ledger (a verify) did not answer in time.
    GatewayUnavailable(String),
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::MethodNotAllowed { .. } => 405,
            Rejection::NotFound | Rejection::UnknownSource => 404,
            Rejection::IpNotAllowed => 403,
            Rejection::PayloadTooLarge { .. } => 413,
            Rejection::UnsupportedMediaType => 415,
            Rejection::Signature(_) | Rejection::Unauthorized(_) => 401,
            Rejection::Unparseable(_) | Rejection::BadRequest(_) => 400,
            Rejection::AckAheadOfLog { .. }
            | Rejection::SourceStatic
            | Rejection::TooManySecrets => 409,
            Rejection::InvalidSource(_) => 422,
            Rejection::InboxUnavailable(_) | Rejection::Misconfigured(_) => 503,
            Rejection::GatewayUnavailable(_) => 502,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MethodNotAllowed { .. } => "method_not_allowed",
            Rejection::NotFound => "not_found",
            Rejection::UnknownSource => "unknown_source",
            Rejection::IpNotAllowed => "ip_not_allowed",
            Rejection::PayloadTooLarge { .. } => "payload_too_large",
            Rejection::UnsupportedMediaType => "unsupported_media_type",
            Rejection::Signature(e) => e.code(),
            Rejection::Unparseable(e) => e.code(),
            Rejection::Unauthorized(e) => e.code(),
            Rejection::BadRequest(_) => "bad_request",
            Rejection::AckAheadOfLog { .. } => "ack_ahead_of_log",
            Rejection::InvalidSource(_) => "invalid_source",
            Rejection::SourceStatic => "source_static",
            Rejection::TooManySecrets => "too_many_secrets",
            Rejection::InboxUnavailable(_) => "inbox_unavailable",
            Rejection::Misconfigured(_) => "edge_misconfigured",
            Rejection::GatewayUnavailable(_) => "gateway_unavailable",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Rejection::MethodNotAllowed { allowed } => {
                format!("this route only accepts {allowed}")
            }
            Rejection::NotFound => "no such route".into(),
            Rejection::UnknownSource => "no webhook source is configured under this name".into(),
            Rejection::IpNotAllowed => {
                "this source only accepts deliveries from its allow-listed addresses".into()
            }
            Rejection::PayloadTooLarge { limit } => {
                format!("body is larger than the {limit}-byte limit")
            }
            Rejection::UnsupportedMediaType => {
                "this provider sends JSON: Content-Type must be application/json".into()
            }
            Rejection::Signature(e) => e.to_string(),
            Rejection::Unparseable(e) => format!("cannot derive an idempotency key: {e}"),
            Rejection::Unauthorized(e) => e.to_string(),
            Rejection::BadRequest(m) => m.clone(),
            Rejection::AckAheadOfLog { upto, head } => {
                format!("cannot ack up to {upto}: the shard's log ends at {head}")
            }
            Rejection::InvalidSource(m) => m.clone(),
            Rejection::SourceStatic => {
                "this source is configured in KEFFI_SOURCES (wrangler.toml); change it there".into()
            }
            Rejection::TooManySecrets => SourceError::TooManySecrets.to_string(),
            Rejection::InboxUnavailable(m) => {
                format!("the event was not stored, retry later: {m}")
            }
            Rejection::Misconfigured(m) => format!("the edge is misconfigured: {m}"),
            Rejection::GatewayUnavailable(m) => format!("the gateway did not answer: {m}"),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code(), self.message())
    }

    /// Whether this rejection of a delivery is counted against its source (the ones a provider
    /// or an attacker causes; not our own unavailability, which has its own signal).
    pub fn is_delivery_rejection(&self) -> bool {
        !matches!(
            self,
            Rejection::InboxUnavailable(_)
                | Rejection::Misconfigured(_)
                | Rejection::GatewayUnavailable(_)
        )
    }
}

impl From<SourceError> for Rejection {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::Invalid(m) => Rejection::InvalidSource(m),
            SourceError::TooManySecrets => Rejection::TooManySecrets,
            // A missing key, or a row sealed under a key no longer configured: the edge's
            // settings are what must change.
            SourceError::Seal(e) => Rejection::Misconfigured(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        let cases = [
            (
                Rejection::MethodNotAllowed { allowed: "POST" },
                405,
                "method_not_allowed",
            ),
            (Rejection::UnknownSource, 404, "unknown_source"),
            (Rejection::IpNotAllowed, 403, "ip_not_allowed"),
            (
                Rejection::PayloadTooLarge { limit: 10 },
                413,
                "payload_too_large",
            ),
            (
                Rejection::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (
                Rejection::Signature(VerifyError::BadSignature),
                401,
                "bad_signature",
            ),
            (
                Rejection::Unparseable(KeyError::NotJsonObject),
                400,
                "unparseable_body",
            ),
            (
                Rejection::Unauthorized(AuthError::Invalid),
                401,
                "invalid_token",
            ),
            (
                Rejection::AckAheadOfLog { upto: 5, head: 3 },
                409,
                "ack_ahead_of_log",
            ),
            (Rejection::InvalidSource("x".into()), 422, "invalid_source"),
            (Rejection::SourceStatic, 409, "source_static"),
            (Rejection::TooManySecrets, 409, "too_many_secrets"),
            (
                Rejection::InboxUnavailable("x".into()),
                503,
                "inbox_unavailable",
            ),
            (
                Rejection::Misconfigured("x".into()),
                503,
                "edge_misconfigured",
            ),
        ];
        for (r, status, code) in cases {
            assert_eq!((r.status(), r.code()), (status, code), "{r:?}");
            assert_eq!(r.body().error.code, code);
            assert!(!r.message().is_empty());
        }
    }
}
