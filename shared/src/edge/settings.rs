//! The edge's settings, read from wrangler `[vars]` and secrets through a lookup function, so
//! parsing is tested natively and the Worker only supplies `env.var` / `env.secret`.
//!
//! | name | kind | default | meaning |
//! |---|---|---|---|
//! | `KEFFI_SOURCES` | var | — (required) | JSON array of sources: `{"name", "provider", "allow_ips"?, "tolerance_seconds"?}` |
//! | `KEFFI_SECRET_<NAME>` | secret | — (required per source) | the source's secret(s), comma-separated for rotation; `<NAME>` is the source name upper-cased, non-alphanumerics as `_` |
//! | `KEFFI_PULL_TOKENS` | secret | none | the ledger's bearer token(s), comma-separated for rotation; without one every ledger route is 401 |
//! | `KEFFI_SHARDS` | var | 4 | Inbox shard count; changing it moves keys, so it is fixed once deployed |
//! | `KEFFI_MAX_BODY_BYTES` | var | 1048576 | larger deliveries are 413 |
//! | `KEFFI_TOMBSTONE_SECONDS` | var | 604800 (7 days) | how long acked keys keep deduping (Paystack retries for 72 h) |
//! | `KEFFI_LOCATION_HINT` | var | none | Durable Object location hint for the shards (`weur`, `afr`, …) |
//! | `KEFFI_APPEND_TIMEOUT_MS` | var | 5000 | an append slower than this answers 503 (the provider retries) |
//! | `KEFFI_LONG_POLL_MAX_MS` | var | 20000 | cap on a pull's `wait_ms` |
//! | `KEFFI_SOURCES_KEY` | secret | none | key(s) sealing runtime sources' secrets at rest: base64 of 32 bytes (`openssl rand -base64 32`), comma-separated to rotate (the first seals, all open); without one, runtime sources cannot be added or used (static ones are unaffected) |
//! | `KEFFI_SOURCE_CACHE_MS` | var | 5000 | how long an isolate keeps its copy of the runtime sources before reading them again: the staleness of an added, rotated or removed source |
//! | `KEFFI_PAYSTACK_API_BASE` | var | `https://api.paystack.co` | where the reconciler's verify calls for a source go (`/ledger/sources/{name}/verify`) |
//! | `KEFFI_BENCH_ROUTES` | var | off | `1` serves the benchmark baselines `/bench/noop` and `/bench/append`; never set in a deployment |

use std::net::IpAddr;

use serde::Deserialize;

use super::auth::BearerTokens;
use super::sources::seal::{SealError, SealKeys, SOURCES_KEY_SECRET};
use super::sources::{parts, verifier};
use crate::provider::Provider;
use crate::scheme::{SecretError, Verifier};

pub const SOURCES_VAR: &str = "KEFFI_SOURCES";
pub const PULL_TOKENS_SECRET: &str = "KEFFI_PULL_TOKENS";

/// A configured webhook source (`/hooks/{name}`).
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub provider: Provider,
    pub verifier: Verifier,
    /// When set, only these `CF-Connecting-IP` addresses may deliver.
    pub allow_ips: Option<Vec<IpAddr>>,
    /// For the schemes that sign a timestamp: how far from now it may be.
    pub tolerance_seconds: u64,
    /// How many secrets verify (more than one while a rotation overlaps).
    pub secret_count: usize,
}

#[derive(Debug, Clone)]
pub struct EdgeSettings {
    pub sources: Vec<SourceConfig>,
    pub pull_tokens: BearerTokens,
    pub shards: u32,
    pub max_body_bytes: u64,
    pub tombstone_ms: i64,
    pub location_hint: Option<String>,
    pub append_timeout_ms: u64,
    pub long_poll_max_ms: u64,
    /// Paystack's API, for verify calls made with a source's key.
    pub paystack_api_base: String,
    /// Serve `/bench/*` baselines (benchmarks only).
    pub bench_routes: bool,
    /// The keys sealing runtime sources' secrets, or why there are none: only the runtime
    /// sources depend on them, so a missing key never stops the static ones.
    pub seal_keys: Result<SealKeys, SealError>,
    pub source_cache_ms: u64,
}

/// A setting is missing or invalid. Always names the setting, never prints a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is not set")]
    Missing(String),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: String, reason: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceSpec {
    name: String,
    provider: String,
    #[serde(default)]
    allow_ips: Option<Vec<String>>,
    #[serde(default)]
    tolerance_seconds: Option<u64>,
}

/// The secret binding that holds `source`'s secrets.
pub fn secret_name(source: &str) -> String {
    let upper: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("KEFFI_SECRET_{upper}")
}

fn invalid(name: &str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

fn number<T: std::str::FromStr>(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: T,
    valid: impl Fn(&T) -> bool,
) -> Result<T, SettingsError> {
    match lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
    {
        None => Ok(default),
        Some(v) => v
            .parse::<T>()
            .ok()
            .filter(|n| valid(n))
            .ok_or_else(|| invalid(name, format!("{v:?} is not an allowed number"))),
    }
}

impl EdgeSettings {
    /// Reads every setting through `lookup` (a var or secret by name).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let sources_json =
            lookup(SOURCES_VAR).ok_or_else(|| SettingsError::Missing(SOURCES_VAR.into()))?;
        let specs: Vec<SourceSpec> =
            serde_json::from_str(&sources_json).map_err(|e| invalid(SOURCES_VAR, e.to_string()))?;
        let mut sources: Vec<SourceConfig> = Vec::with_capacity(specs.len());
        for spec in specs {
            sources.push(source(spec, lookup)?);
            let name = &sources[sources.len() - 1].name;
            if sources.iter().filter(|s| &s.name == name).count() > 1 {
                return Err(invalid(
                    SOURCES_VAR,
                    format!("source `{name}` is defined twice"),
                ));
            }
        }
        Ok(EdgeSettings {
            sources,
            pull_tokens: BearerTokens::parse_list(&lookup(PULL_TOKENS_SECRET).unwrap_or_default()),
            shards: number(lookup, "KEFFI_SHARDS", 4u32, |n| (1..=256).contains(n))?,
            max_body_bytes: number(lookup, "KEFFI_MAX_BODY_BYTES", 1024 * 1024u64, |n| {
                (1..=100 * 1024 * 1024).contains(n)
            })?,
            tombstone_ms: number(lookup, "KEFFI_TOMBSTONE_SECONDS", 7 * 24 * 3600i64, |n| {
                (1..=366 * 24 * 3600).contains(n)
            })? * 1000,
            location_hint: lookup("KEFFI_LOCATION_HINT")
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty()),
            append_timeout_ms: number(lookup, "KEFFI_APPEND_TIMEOUT_MS", 5000u64, |n| {
                (100..=60_000).contains(n)
            })?,
            long_poll_max_ms: number(lookup, "KEFFI_LONG_POLL_MAX_MS", 20_000u64, |n| {
                *n <= 60_000
            })?,
            paystack_api_base: match lookup("KEFFI_PAYSTACK_API_BASE") {
                None => "https://api.paystack.co".to_owned(),
                Some(v) if v.starts_with("https://") || v.starts_with("http://") => {
                    v.trim().trim_end_matches('/').to_owned()
                }
                Some(v) => {
                    return Err(invalid(
                        "KEFFI_PAYSTACK_API_BASE",
                        format!("{v:?} is not an http(s) URL"),
                    ))
                }
            },
            bench_routes: lookup("KEFFI_BENCH_ROUTES").is_some_and(|v| v.trim() == "1"),
            seal_keys: SealKeys::parse(lookup(SOURCES_KEY_SECRET).as_deref()),
            source_cache_ms: number(lookup, "KEFFI_SOURCE_CACHE_MS", 5000u64, |n| *n <= 60_000)?,
        })
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }
}

fn source(
    spec: SourceSpec,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<SourceConfig, SettingsError> {
    if spec.name.is_empty()
        || !spec
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(
            SOURCES_VAR,
            format!(
                "source name {:?} must be letters, digits, `-` or `_`",
                spec.name
            ),
        ));
    }
    let parts = parts(
        &spec.name,
        &spec.provider,
        spec.allow_ips.as_deref(),
        spec.tolerance_seconds,
    )
    .map_err(|reason| invalid(SOURCES_VAR, reason))?;
    let secret_var = secret_name(&spec.name);
    let secrets_text =
        lookup(&secret_var).ok_or_else(|| SettingsError::Missing(secret_var.clone()))?;
    let secrets: Vec<&str> = secrets_text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let verifier =
        verifier(&parts, &secrets).map_err(|e: SecretError| invalid(&secret_var, e.to_string()))?;
    Ok(SourceConfig {
        name: spec.name,
        provider: parts.provider,
        verifier,
        allow_ips: parts.allow_ips,
        tolerance_seconds: parts.tolerance_seconds,
        secret_count: secrets.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const PAYSTACK: &str = r#"[{"name":"paystack","provider":"paystack","allow_ips":["52.31.139.75","52.49.173.169","52.214.14.220"]}]"#;

    #[test]
    fn reads_sources_secrets_and_defaults() {
        let s = EdgeSettings::from_lookup(&lookup(&[
            (SOURCES_VAR, PAYSTACK),
            ("KEFFI_SECRET_PAYSTACK", "sk_test_old, sk_test_new"),
            (PULL_TOKENS_SECRET, "t1,t2"),
        ]))
        .unwrap();
        let p = s.source("paystack").unwrap();
        assert_eq!(p.provider, Provider::Paystack);
        assert_eq!(p.allow_ips.as_ref().unwrap().len(), 3);
        assert_eq!(s.pull_tokens.len(), 2);
        assert_eq!(s.shards, 4);
        assert_eq!(s.max_body_bytes, 1_048_576);
        assert_eq!(s.tombstone_ms, 7 * 24 * 3_600_000);
        assert_eq!(s.location_hint, None);
        assert!(s.source("stripe").is_none());
        assert_eq!(s.source_cache_ms, 5000);
        assert_eq!(s.seal_keys.unwrap_err(), SealError::NoKey);
    }

    #[test]
    fn a_bad_sources_key_disables_only_runtime_sources() {
        let s = EdgeSettings::from_lookup(&lookup(&[
            (SOURCES_VAR, PAYSTACK),
            ("KEFFI_SECRET_PAYSTACK", "sk"),
            (SOURCES_KEY_SECRET, "not-a-key"),
        ]))
        .unwrap();
        assert!(s.source("paystack").is_some());
        assert_eq!(s.seal_keys.unwrap_err(), SealError::BadKey(1));
    }

    #[test]
    fn errors_name_the_setting_and_never_the_secret() {
        let err = EdgeSettings::from_lookup(&lookup(&[])).unwrap_err();
        assert_eq!(err, SettingsError::Missing("KEFFI_SOURCES".into()));

        let err = EdgeSettings::from_lookup(&lookup(&[(SOURCES_VAR, PAYSTACK)])).unwrap_err();
        assert_eq!(err, SettingsError::Missing("KEFFI_SECRET_PAYSTACK".into()));

        let sw = r#"[{"name":"svix-main","provider":"standard-webhooks"}]"#;
        let err = EdgeSettings::from_lookup(&lookup(&[
            (SOURCES_VAR, sw),
            ("KEFFI_SECRET_SVIX_MAIN", "whsec_!!not-base64-supersecret"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("KEFFI_SECRET_SVIX_MAIN"), "{err}");
        assert!(!err.to_string().contains("supersecret"), "{err}");

        for (name, value) in [
            ("KEFFI_SHARDS", "0"),
            ("KEFFI_SHARDS", "four"),
            ("KEFFI_MAX_BODY_BYTES", "-1"),
        ] {
            let err = EdgeSettings::from_lookup(&lookup(&[
                (SOURCES_VAR, PAYSTACK),
                ("KEFFI_SECRET_PAYSTACK", "k"),
                (name, value),
            ]))
            .unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }

    #[test]
    fn bad_sources_are_refused() {
        for sources in [
            "not json",
            r#"[{"name":"a","provider":"paypal"}]"#,
            r#"[{"name":"a b","provider":"paystack"}]"#,
            r#"[{"name":"a","provider":"paystack","allow_ips":["nope"]}]"#,
            r#"[{"name":"a","provider":"paystack"},{"name":"a","provider":"stripe"}]"#,
            r#"[{"name":"a","provider":"paystack","typo":1}]"#,
        ] {
            let got = EdgeSettings::from_lookup(&lookup(&[
                (SOURCES_VAR, sources),
                ("KEFFI_SECRET_A", "k"),
            ]));
            assert!(got.is_err(), "{sources}");
        }
    }

    #[test]
    fn secret_names_are_derived_from_source_names() {
        assert_eq!(secret_name("paystack"), "KEFFI_SECRET_PAYSTACK");
        assert_eq!(secret_name("stripe-eu_2"), "KEFFI_SECRET_STRIPE_EU_2");
    }
}
