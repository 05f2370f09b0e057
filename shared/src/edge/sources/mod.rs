//! Sources added at runtime: what the ledger sends the edge (`/ledger/sources/…`), what the
//! edge keeps in its `Sources` Durable Object, and the rules for replacing and rotating a
//! source's secrets. Pure: the Worker reads and writes the rows, these functions decide what
//! goes in them.
//!
//! A source in `wrangler.toml` (`KEFFI_SOURCES`) always wins over a runtime one of the same
//! name, and a runtime source cannot take a static source's name. Secrets are kept only sealed
//! ([`seal`]) and no answer ever carries one: [`SourceView`] says how many secrets a source has
//! and when each expires, nothing more.

pub mod seal;
pub mod snapshot;

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::settings::SourceConfig;
use crate::provider::Provider;
use crate::scheme::{SecretError, Verifier, DEFAULT_TOLERANCE_SECONDS};
use crate::version::V1;
use seal::SealError;

pub const SOURCES_PATH: &str = "/ledger/sources";
/// Secrets a source may hold at once (the current one and those still in their overlap).
pub const MAX_SECRETS: usize = 5;
/// The longest overlap a rotation may give the secrets it replaces.
pub const MAX_OVERLAP_SECONDS: u64 = 30 * 24 * 3600;
/// The widest timestamp tolerance a source may have (for the schemes that sign a timestamp).
pub const MAX_TOLERANCE_SECONDS: u64 = 24 * 3600;

/// A runtime source's name: 1 to 64 of `a-z 0-9 _ -`, so it is a path segment, a metrics
/// label and a log field as it is. (Static sources keep their older, wider rule.)
pub fn valid_runtime_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

/// Where a source's settings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `KEFFI_SOURCES` in `wrangler.toml`: changed by a deploy only.
    Static,
    /// Added through `/ledger/sources` and kept in the `Sources` Durable Object.
    Runtime,
}

/// `PUT /ledger/sources/{name}`: create or replace a runtime source. Its secret becomes its
/// only one (a rotation with an overlap is [`RotateSource`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSource {
    pub v: V1,
    pub provider: String,
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_ips: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_seconds: Option<u64>,
}

impl fmt::Debug for PutSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutSource")
            .field("provider", &self.provider)
            .field("secret", &"[redacted]")
            .field("allow_ips", &self.allow_ips)
            .field("tolerance_seconds", &self.tolerance_seconds)
            .finish()
    }
}

/// `POST /ledger/sources/{name}/rotate`: `secret` becomes the source's current secret; the
/// ones it replaces keep verifying for `overlap_seconds`, then stop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateSource {
    pub v: V1,
    pub secret: String,
    pub overlap_seconds: u64,
}

impl fmt::Debug for RotateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotateSource")
            .field("secret", &"[redacted]")
            .field("overlap_seconds", &self.overlap_seconds)
            .finish()
    }
}

/// One of a source's secrets, as an answer shows it: when it was added and until when it
/// verifies (`None`: until it is replaced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretView {
    /// Unset for a static source's secrets (the edge does not know when they were set).
    pub added_at_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
}

/// A source as the edge answers it: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceView {
    pub v: V1,
    pub name: String,
    pub provider: Provider,
    pub origin: Origin,
    pub allow_ips: Option<Vec<IpAddr>>,
    pub tolerance_seconds: u64,
    pub secrets: Vec<SecretView>,
    /// Counts the writes of a runtime source (0 for a static one).
    pub version: u64,
    pub updated_at_ms: Option<i64>,
}

/// `GET /ledger/sources`: every source, static and runtime, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceList {
    pub v: V1,
    pub sources: Vec<SourceView>,
}

/// A runtime source as its Durable Object row keeps it: its secrets sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredSource {
    pub provider: Provider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_ips: Option<Vec<IpAddr>>,
    pub tolerance_seconds: u64,
    /// The current secret first.
    pub secrets: Vec<StoredSecret>,
    pub version: u64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredSecret {
    pub sealed: String,
    pub added_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

/// Why a source could not be written or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The request breaks a rule; the message names which, never a secret.
    #[error("{0}")]
    Invalid(String),
    #[error("a source holds at most {MAX_SECRETS} secrets at once; wait for an overlap to end or replace the source")]
    TooManySecrets,
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// A source's checked parts, the same rules for a static and a runtime source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parts {
    pub provider: Provider,
    pub allow_ips: Option<Vec<IpAddr>>,
    pub tolerance_seconds: u64,
}

/// Checks a source's provider, allow-list and tolerance; the message says what is wrong.
pub(crate) fn parts(
    name: &str,
    provider: &str,
    allow_ips: Option<&[String]>,
    tolerance_seconds: Option<u64>,
) -> Result<Parts, String> {
    let provider: Provider = provider.parse().map_err(|e| format!("{e}"))?;
    let tolerance_seconds = tolerance_seconds.unwrap_or(DEFAULT_TOLERANCE_SECONDS);
    if !(1..=MAX_TOLERANCE_SECONDS).contains(&tolerance_seconds) {
        return Err(format!(
            "source `{name}`: tolerance_seconds must be 1 to {MAX_TOLERANCE_SECONDS}"
        ));
    }
    let allow_ips = allow_ips
        .map(|ips| {
            ips.iter()
                .map(|ip| {
                    ip.trim()
                        .parse::<IpAddr>()
                        .map_err(|_| format!("source `{name}`: {ip:?} is not an IP address"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(Parts {
        provider,
        allow_ips,
        tolerance_seconds,
    })
}

/// The verifier for `secrets`, or why they are not secrets of this provider (never echoing
/// one).
pub(crate) fn verifier<S: AsRef<str>>(
    parts: &Parts,
    secrets: &[S],
) -> Result<Verifier, SecretError> {
    Verifier::new(parts.provider, secrets, parts.tolerance_seconds)
}

impl PutSource {
    /// The checks the edge makes of this request, made anywhere: the ledger makes them before
    /// it claims the name or asks the edge.
    pub fn check(&self, name: &str) -> Result<(), SourceError> {
        StoredSource::put(name, self, None, 0, &|_| Ok(String::new())).map(|_| ())
    }
}

impl RotateSource {
    /// The checks the edge makes of this rotation of a `provider` source.
    pub fn check(&self, provider: Provider) -> Result<(), SourceError> {
        if self.overlap_seconds > MAX_OVERLAP_SECONDS {
            return Err(SourceError::Invalid(format!(
                "overlap_seconds must be 0 to {MAX_OVERLAP_SECONDS}"
            )));
        }
        let parts = Parts {
            provider,
            allow_ips: None,
            tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
        };
        checked_secret(&parts, &self.secret).map(|_| ())
    }
}

impl StoredSource {
    /// The source `req` describes, replacing `previous` (if any) whole: its secret becomes the
    /// only one. `seal` seals a secret for this source.
    pub fn put(
        name: &str,
        req: &PutSource,
        previous: Option<&StoredSource>,
        now_ms: i64,
        seal: &dyn Fn(&str) -> Result<String, SealError>,
    ) -> Result<StoredSource, SourceError> {
        if !valid_runtime_name(name) {
            return Err(SourceError::Invalid(
                "a source name is 1 to 64 of a-z 0-9 _ -".into(),
            ));
        }
        let parts = parts(
            name,
            &req.provider,
            req.allow_ips.as_deref(),
            req.tolerance_seconds,
        )
        .map_err(SourceError::Invalid)?;
        let secret = checked_secret(&parts, &req.secret)?;
        Ok(StoredSource {
            provider: parts.provider,
            allow_ips: parts.allow_ips,
            tolerance_seconds: parts.tolerance_seconds,
            secrets: vec![StoredSecret {
                sealed: seal(secret)?,
                added_at_ms: now_ms,
                expires_at_ms: None,
            }],
            version: previous.map_or(0, |p| p.version) + 1,
            updated_at_ms: now_ms,
        })
    }

    /// This source with `req.secret` as its current secret and the secrets it replaces
    /// expiring after the overlap (never later than they already would). Asking again for
    /// the secret that is already current changes nothing, so a retried rotation converges.
    pub fn rotate(
        &self,
        req: &RotateSource,
        now_ms: i64,
        seal: &dyn Fn(&str) -> Result<String, SealError>,
        open: &dyn Fn(&str) -> Result<String, SealError>,
    ) -> Result<StoredSource, SourceError> {
        req.check(self.provider)?;
        let secret = req.secret.trim();
        let current = self
            .secrets
            .first()
            .filter(|s| s.expires_at_ms.is_none())
            .and_then(|s| open(&s.sealed).ok());
        if current.as_deref() == Some(secret) {
            return Ok(self.clone());
        }
        let overlap_end = now_ms.saturating_add((req.overlap_seconds as i64).saturating_mul(1000));
        let mut secrets = vec![StoredSecret {
            sealed: seal(secret)?,
            added_at_ms: now_ms,
            expires_at_ms: None,
        }];
        secrets.extend(self.live(now_ms).map(|s| StoredSecret {
            expires_at_ms: Some(s.expires_at_ms.map_or(overlap_end, |e| e.min(overlap_end))),
            ..s.clone()
        }));
        secrets.retain(|s| s.expires_at_ms.is_none_or(|e| e > now_ms));
        if secrets.len() > MAX_SECRETS {
            return Err(SourceError::TooManySecrets);
        }
        Ok(StoredSource {
            secrets,
            version: self.version + 1,
            updated_at_ms: now_ms,
            ..self.clone()
        })
    }

    /// The secrets that verify at `now_ms`, the current one first.
    pub fn live(&self, now_ms: i64) -> impl Iterator<Item = &StoredSecret> {
        self.secrets
            .iter()
            .filter(move |s| s.expires_at_ms.is_none_or(|e| e > now_ms))
    }

    /// The source's settings at `now_ms`: a verifier of its live secrets, opened by `open`.
    pub fn config(
        &self,
        name: &str,
        now_ms: i64,
        open: &dyn Fn(&str) -> Result<String, SealError>,
    ) -> Result<SourceConfig, SourceError> {
        let secrets = self
            .live(now_ms)
            .map(|s| open(&s.sealed))
            .collect::<Result<Vec<_>, _>>()?;
        let verifier = verifier(&self.parts(), &secrets)
            .map_err(|e| SourceError::Invalid(format!("source `{name}`: {e}")))?;
        Ok(SourceConfig {
            name: name.to_owned(),
            provider: self.provider,
            verifier,
            allow_ips: self.allow_ips.clone(),
            tolerance_seconds: self.tolerance_seconds,
            secret_count: secrets.len(),
        })
    }

    /// What an answer shows of it at `now_ms`: its live secrets' times, never a secret.
    pub fn view(&self, name: &str, now_ms: i64) -> SourceView {
        SourceView {
            v: V1,
            name: name.to_owned(),
            provider: self.provider,
            origin: Origin::Runtime,
            allow_ips: self.allow_ips.clone(),
            tolerance_seconds: self.tolerance_seconds,
            secrets: self
                .live(now_ms)
                .map(|s| SecretView {
                    added_at_ms: Some(s.added_at_ms),
                    expires_at_ms: s.expires_at_ms,
                })
                .collect(),
            version: self.version,
            updated_at_ms: Some(self.updated_at_ms),
        }
    }

    fn parts(&self) -> Parts {
        Parts {
            provider: self.provider,
            allow_ips: self.allow_ips.clone(),
            tolerance_seconds: self.tolerance_seconds,
        }
    }
}

/// `secret` trimmed, if it is one `parts`' provider can verify with.
fn checked_secret<'s>(parts: &Parts, secret: &'s str) -> Result<&'s str, SourceError> {
    let secret = secret.trim();
    if secret.len() > 1024 {
        return Err(SourceError::Invalid(
            "a secret is at most 1024 characters".into(),
        ));
    }
    verifier(parts, &[secret]).map_err(|e| SourceError::Invalid(format!("secret: {e}")))?;
    Ok(secret)
}

/// How a static source shows in the list: its secrets counted, their times unknown.
pub fn static_view(source: &SourceConfig) -> SourceView {
    SourceView {
        v: V1,
        name: source.name.clone(),
        provider: source.provider,
        origin: Origin::Static,
        allow_ips: source.allow_ips.clone(),
        tolerance_seconds: source.tolerance_seconds,
        secrets: (0..source.secret_count)
            .map(|_| SecretView {
                added_at_ms: None,
                expires_at_ms: None,
            })
            .collect(),
        version: 0,
        updated_at_ms: None,
    }
}

#[cfg(test)]
mod tests;
