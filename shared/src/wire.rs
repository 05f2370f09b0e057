//! The edge↔ledger pull protocol, version 1. Both sides use these types, so they cannot drift.
//!
//! The ledger is always the client (outbound only): it asks a shard for events after its
//! cursor, applies them, commits, then acknowledges up to the last applied sequence. The edge
//! keeps acknowledged rows as dedupe tombstones for the retention window.
//!
//! - `GET  /ledger/pull?shard=K&after=SEQ&limit=N&wait_ms=W` → [`PullResponse`]
//! - `POST /ledger/ack` with [`AckRequest`] → [`AckResponse`]
//! - `GET  /ledger/shards` → [`ShardsResponse`]; `GET /stats` → [`StatsResponse`]
//! - any error → [`ErrorBody`] with a stable code
//!
//! Every route here requires `Authorization: Bearer <pull token>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::idempotency::IdempotencyKey;
use crate::version::V1;

pub const PULL_PATH: &str = "/ledger/pull";
pub const ACK_PATH: &str = "/ledger/ack";
/// Events per pull when the ledger does not say.
pub const DEFAULT_PULL_LIMIT: u32 = 100;
/// The most events one pull returns, whatever is asked: bounds the edge's response size.
pub const MAX_PULL_LIMIT: u32 = 1000;

/// How far past `after` a pull that skips a source looks (sequences, not events): bounds the
/// rows the shard reads to answer it, however deep the skipped source's backlog is.
pub const SKIP_WINDOW: u64 = 20_000;

/// Query of a pull: events of `shard` with sequence greater than `after`. With `wait_ms`, an
/// empty shard holds the request until an event arrives or the wait ends (long-poll).
///
/// With `skip_source`, only the events of every other source, among the next
/// [`SKIP_WINDOW`] sequences: how the ledger reaches a quiet merchant's events behind one
/// source's backlog (a lookahead; the cursor and the acks still follow the whole log).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    pub shard: u32,
    #[serde(default)]
    pub after: u64,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub wait_ms: Option<u64>,
    #[serde(default)]
    pub skip_source: Option<String>,
}

impl PullQuery {
    /// Parses `shard=K&after=SEQ&limit=N&wait_ms=W` (only `shard` is required). Unknown or
    /// repeated parameters and non-numbers are errors naming the parameter.
    pub fn from_query(query: &str) -> Result<Self, String> {
        let mut q = PullQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if seen.contains(&name) {
                return Err(format!("query parameter `{name}` is repeated"));
            }
            seen.push(name);
            let bad = || format!("query parameter `{name}` must be a non-negative integer");
            match name {
                "shard" => q.shard = value.parse().map_err(|_| bad())?,
                "after" => q.after = value.parse().map_err(|_| bad())?,
                "limit" => q.limit = Some(value.parse().map_err(|_| bad())?),
                "wait_ms" => q.wait_ms = Some(value.parse().map_err(|_| bad())?),
                "skip_source" => {
                    // Source names are letters, digits, `-` and `_`: nothing to decode.
                    let ok = !value.is_empty()
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                    if !ok {
                        return Err("query parameter `skip_source` must be a source name".into());
                    }
                    q.skip_source = Some(value.to_owned());
                }
                other => return Err(format!("unknown query parameter `{other}`")),
            }
        }
        if !seen.contains(&"shard") {
            return Err("query parameter `shard` is required".into());
        }
        Ok(q)
    }

    /// The query string for this pull (the ledger's side of [`PullQuery::from_query`]).
    pub fn to_query(&self) -> String {
        let mut s = format!("shard={}&after={}", self.shard, self.after);
        if let Some(l) = self.limit {
            s.push_str(&format!("&limit={l}"));
        }
        if let Some(w) = self.wait_ms {
            s.push_str(&format!("&wait_ms={w}"));
        }
        if let Some(skip) = &self.skip_source {
            s.push_str(&format!("&skip_source={skip}"));
        }
        s
    }

    /// The limit the edge applies: the requested one clamped to 1‥=[`MAX_PULL_LIMIT`].
    pub fn effective_limit(&self) -> u32 {
        self.limit
            .unwrap_or(DEFAULT_PULL_LIMIT)
            .clamp(1, MAX_PULL_LIMIT)
    }
}

/// One stored event and its position in the shard's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledEvent {
    pub seq: u64,
    pub envelope: Envelope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResponse {
    pub v: V1,
    pub shard: u32,
    /// In increasing `seq` order, all greater than the query's `after`.
    pub events: Vec<PulledEvent>,
    /// More events are waiting after the last one returned.
    pub has_more: bool,
    /// The highest sequence the shard has stored (0 when empty): the ledger's lag is
    /// `head_seq - cursor`.
    pub head_seq: u64,
    /// When the oldest unacknowledged event was received (Unix ms), if any: lag in time.
    pub oldest_unacked_ms: Option<i64>,
}

impl PullResponse {
    /// The cursor after applying this batch: the last event's seq, or `after` if none.
    pub fn last_seq(&self, after: u64) -> u64 {
        self.events.last().map_or(after, |e| e.seq)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    pub v: V1,
    pub shard: u32,
    /// Every event with `seq <= upto` has been applied and committed by the ledger.
    pub upto: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckResponse {
    pub v: V1,
    pub shard: u32,
    /// The shard's acknowledged position after this ack (never moves backwards).
    pub acked_upto: u64,
}

/// One shard's backlog, as `/ledger/shards` and `/stats` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardBacklog {
    pub shard: u32,
    /// Stored and not yet acknowledged.
    pub unacked: u64,
    /// When the oldest unacknowledged event was received (Unix ms).
    pub oldest_unacked_ms: Option<i64>,
    pub head_seq: u64,
    pub acked_upto: u64,
    /// Acknowledged keys still kept to dedupe late retries.
    pub tombstones: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardsResponse {
    pub v: V1,
    pub shards: u32,
    pub backlog: Vec<ShardBacklog>,
}

/// Per-source delivery counts since the edge's storage was created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStats {
    pub accepted: u64,
    pub duplicate: u64,
    /// Rejections by stable code (`bad_signature`, `payload_too_large`, …).
    pub rejected: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsResponse {
    pub v: V1,
    pub sources: BTreeMap<String, SourceStats>,
    pub shards: Vec<ShardBacklog>,
}

/// Where an event sits at the edge: its Inbox shard and its sequence number in that shard's
/// log. The ledger's cursor for a shard is the position of the last event it applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdgePosition {
    pub shard: u32,
    pub seq: u64,
}

/// The JSON body of every HTTP error Keffi returns, at the edge and the ledger:
/// `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable (`bad_signature`, `payload_too_large`, …).
    pub code: String,
    /// For humans; may change between releases.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

/// What the edge answers a provider for a stored delivery (Paystack ignores the body; a human
/// with curl is helped by it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookAck {
    pub status: HookOutcome,
    pub key: IdempotencyKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookOutcome {
    /// Stored now, durably, for the first time.
    Accepted,
    /// Already stored (or acknowledged within the dedupe window); nothing new stored.
    Duplicate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clamped() {
        let q = |limit| PullQuery {
            limit,
            ..PullQuery::default()
        };
        assert_eq!(q(None).effective_limit(), DEFAULT_PULL_LIMIT);
        assert_eq!(q(Some(0)).effective_limit(), 1);
        assert_eq!(q(Some(1_000_000)).effective_limit(), MAX_PULL_LIMIT);
    }

    #[test]
    fn pull_queries_parse_strictly_and_round_trip() {
        let q = PullQuery::from_query("shard=2&after=10&limit=50&wait_ms=2000").unwrap();
        assert_eq!(
            q,
            PullQuery {
                shard: 2,
                after: 10,
                limit: Some(50),
                wait_ms: Some(2000),
                skip_source: None,
            }
        );
        assert_eq!(PullQuery::from_query(&q.to_query()).unwrap(), q);
        let skip = PullQuery::from_query("shard=0&skip_source=shop-a_1").unwrap();
        assert_eq!(skip.skip_source.as_deref(), Some("shop-a_1"));
        assert_eq!(PullQuery::from_query(&skip.to_query()).unwrap(), skip);
        assert_eq!(PullQuery::from_query("shard=1").unwrap().after, 0);
        for bad in [
            "",
            "after=1",
            "shard=-1",
            "shard=1&shard=2",
            "shard=1&x=2",
            "shard=1&limit=a",
            "shard=1&skip_source=",
            "shard=1&skip_source=a%20b",
            "shard=1&skip_source=a'b",
        ] {
            assert!(PullQuery::from_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ack_round_trips_and_refuses_unknown_fields_and_versions() {
        let ack = AckRequest {
            v: V1,
            shard: 2,
            upto: 41,
        };
        let json = serde_json::to_string(&ack).unwrap();
        assert_eq!(json, r#"{"v":1,"shard":2,"upto":41}"#);
        assert_eq!(serde_json::from_str::<AckRequest>(&json).unwrap(), ack);
        assert!(
            serde_json::from_str::<AckRequest>(r#"{"v":1,"shard":2,"upto":41,"x":1}"#).is_err()
        );
        assert!(serde_json::from_str::<AckRequest>(r#"{"v":2,"shard":2,"upto":41}"#).is_err());
    }

    #[test]
    fn error_body_shape_is_pinned() {
        let e = ErrorBody::new("bad_signature", "signature does not match");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"error":{"code":"bad_signature","message":"signature does not match"}}"#
        );
    }

    #[test]
    fn hook_ack_shape() {
        let a = HookAck {
            status: HookOutcome::Duplicate,
            key: IdempotencyKey::parse("paystack:charge.success:1").unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"status":"duplicate","key":"paystack:charge.success:1"}"#
        );
    }

    #[test]
    fn last_seq_defaults_to_after() {
        let r = PullResponse {
            v: V1,
            shard: 0,
            events: vec![],
            has_more: false,
            head_seq: 0,
            oldest_unacked_ms: None,
        };
        assert_eq!(r.last_seq(17), 17);
    }
}
