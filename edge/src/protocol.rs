//! The Worker ↔ Durable Object protocol: internal requests to `https://inbox/…` and
//! `https://counters/…`. Not public; the ledger never sees it.

use keffi_shared::wire::HookOutcome;
use serde::{Deserialize, Serialize};

pub const APPEND: &str = "https://inbox/append";
pub const PULL: &str = "https://inbox/pull";
pub const ACK: &str = "https://inbox/ack";
pub const BACKLOG: &str = "https://inbox/backlog";
pub const BENCH_APPEND: &str = "https://inbox/bench-append";
pub const COUNT_REJECTION: &str = "https://counters/reject";
pub const REJECTIONS: &str = "https://counters/rejections";

/// What the Inbox reads of an envelope it appends (the body, base64, is skipped unparsed).
#[derive(Debug, Clone, Deserialize)]
pub struct AppendHead {
    pub key: keffi_shared::IdempotencyKey,
    pub source: String,
    pub received_at_ms: i64,
}

/// The Inbox's answer to an append: stored now, or already there.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Appended {
    pub outcome: HookOutcome,
    pub seq: u64,
}

/// Accepted/duplicate counts a shard keeps per source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeCount {
    pub source: String,
    pub outcome: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardReport {
    pub backlog: keffi_shared::wire::ShardBacklog,
    pub outcomes: Vec<OutcomeCount>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rejected {
    pub source: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RejectionCount {
    pub source: String,
    pub reason: String,
    pub count: u64,
}
