//! Split sources (one platform account, many merchants): whether a source splits and on
//! which metadata key, its subaccount map, what routing reads of the inbox, and the events
//! held because no merchant could be told from them.

use std::collections::{HashMap, HashSet};

use keffi_shared::MerchantId;
use serde::Serialize;
use utoipa::ToSchema;

use super::conn::{on_pool, on_tx, params};
use super::rows::merchant;
use super::{Store, StoreError, Tx};

/// How a source's events find their merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRoute {
    /// All of them are this merchant's.
    Owner(MerchantId),
    /// Each is the merchant its payload names (see `domain::route`); `owner` holds the
    /// name.
    Split {
        owner: MerchantId,
        metadata_key: Option<String>,
    },
}

impl SourceRoute {
    /// The merchant whose name the source is.
    pub fn owner(&self) -> &MerchantId {
        match self {
            SourceRoute::Owner(m) | SourceRoute::Split { owner: m, .. } => m,
        }
    }
}

/// A subaccount of a split source and the merchant it settles to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SubaccountRecord {
    pub source: String,
    /// The gateway's subaccount code, e.g. Paystack's `ACCT_…`.
    pub code: String,
    pub merchant: MerchantId,
    pub created_at_ms: i64,
}

/// The outcome of claiming a subaccount code for a merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeClaim {
    New(SubaccountRecord),
    /// The merchant's already: a retry.
    Again(SubaccountRecord),
    /// Another merchant's, for good.
    Taken,
}

/// An event held because its merchant could not be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HeldEvent {
    pub id: i64,
    pub source: String,
    pub idempotency_key: String,
    pub provider: String,
    pub event_type: String,
    pub reference: Option<String>,
    /// Why no merchant could be told, as of when it was held.
    pub reason: String,
    pub received_at_ms: i64,
    pub held_at_ms: i64,
    pub shard: Option<i64>,
    pub seq: Option<i64>,
    /// The merchant it went to, once a route appeared.
    pub merchant: Option<MerchantId>,
    pub routed_at_ms: Option<i64>,
    #[serde(skip)]
    pub envelope: String,
}

#[derive(sqlx::FromRow)]
struct HeldRow {
    id: i64,
    source: String,
    idempotency_key: String,
    provider: String,
    event_type: String,
    reference: Option<String>,
    reason: String,
    received_at_ms: i64,
    held_at_ms: i64,
    shard: Option<i64>,
    seq: Option<i64>,
    envelope: String,
    merchant_id: Option<String>,
    routed_at_ms: Option<i64>,
}

const HELD_COLUMNS: &str = "id, source, idempotency_key, provider, event_type, reference, reason, \
     received_at_ms, held_at_ms, shard, seq, envelope, merchant_id, routed_at_ms";

impl TryFrom<HeldRow> for HeldEvent {
    type Error = StoreError;
    fn try_from(r: HeldRow) -> Result<Self, StoreError> {
        Ok(HeldEvent {
            id: r.id,
            source: r.source,
            idempotency_key: r.idempotency_key,
            provider: r.provider,
            event_type: r.event_type,
            reference: r.reference,
            reason: r.reason,
            received_at_ms: r.received_at_ms,
            held_at_ms: r.held_at_ms,
            shard: r.shard,
            seq: r.seq,
            envelope: r.envelope,
            merchant: r.merchant_id.as_deref().map(merchant).transpose()?,
            routed_at_ms: r.routed_at_ms,
        })
    }
}

/// An event to hold.
#[derive(Debug, Clone)]
pub struct NewHeld {
    pub source: String,
    pub key: String,
    pub provider: String,
    pub event_type: String,
    pub reference: Option<String>,
    pub reason: String,
    pub received_at_ms: i64,
    pub shard: Option<i64>,
    pub seq: Option<i64>,
    pub envelope_json: String,
}

impl Store {
    /// How each of `names` routes, and whose name it is; a name not listed (as those configured in `wrangler.toml`
    /// and never routed) is absent: its events are the default merchant's.
    pub async fn source_routes(
        &self,
        names: &[&str],
    ) -> Result<HashMap<String, SourceRoute>, StoreError> {
        if names.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT name, merchant_id, split_at_ms, metadata_key FROM sources WHERE name IN ({})",
            params(1, names.len())
        );
        type Row = (String, String, Option<i64>, Option<String>);
        let rows: Vec<Row> = on_pool!(self, c => {
            let mut q = sqlx::query_as(&sql);
            for n in names {
                q = q.bind(*n);
            }
            q.fetch_all(c).await
        })?;
        rows.into_iter()
            .map(|(name, owner, split_at, metadata_key)| {
                let owner = merchant(&owner)?;
                let route = match split_at {
                    Some(_) => SourceRoute::Split {
                        owner,
                        metadata_key,
                    },
                    None => SourceRoute::Owner(owner),
                };
                Ok((name, route))
            })
            .collect()
    }

    /// Makes the merchant's source `name` split on `metadata_key`, for good. `Ok(None)`: not
    /// the merchant's source. `Err(Split)` with the key it splits on: it splits already, on
    /// another key.
    pub async fn split_source(
        &self,
        owner: &MerchantId,
        name: &str,
        metadata_key: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<Result<(), Option<String>>>, StoreError> {
        // One statement sets it unless set; the read after it tells which key won.
        on_pool!(self, c => sqlx::query(
            "UPDATE sources SET split_at_ms = $3, metadata_key = $4, updated_at_ms = $3
             WHERE merchant_id = $1 AND name = $2 AND split_at_ms IS NULL",
        )
        .bind(owner.as_str())
        .bind(name)
        .bind(now_ms)
        .bind(metadata_key)
        .execute(c)
        .await
        .map(|_| ()))?;
        let row: Option<(Option<i64>, Option<String>)> = on_pool!(self, c => sqlx::query_as(
            "SELECT split_at_ms, metadata_key FROM sources WHERE merchant_id = $1 AND name = $2",
        )
        .bind(owner.as_str())
        .bind(name)
        .fetch_optional(c)
        .await)?;
        Ok(row.map(|(_, key)| {
            if key.as_deref() == metadata_key {
                Ok(())
            } else {
                Err(key)
            }
        }))
    }

    /// Maps a split source's subaccount `code` to `merchant`, for good (one statement decides
    /// between two merchants' requests for one code).
    pub async fn claim_subaccount(
        &self,
        source: &str,
        code: &str,
        merchant_id: &MerchantId,
        now_ms: i64,
    ) -> Result<CodeClaim, StoreError> {
        let inserted: Option<i64> = on_pool!(self, c => sqlx::query_scalar(
            "INSERT INTO subaccounts (source, code, merchant_id, created_at_ms)
             VALUES ($1, $2, $3, $4) ON CONFLICT (source, code) DO NOTHING RETURNING created_at_ms",
        )
        .bind(source)
        .bind(code)
        .bind(merchant_id.as_str())
        .bind(now_ms)
        .fetch_optional(c)
        .await)?;
        let record = |created_at_ms| SubaccountRecord {
            source: source.to_owned(),
            code: code.to_owned(),
            merchant: merchant_id.clone(),
            created_at_ms,
        };
        if let Some(at) = inserted {
            return Ok(CodeClaim::New(record(at)));
        }
        let owner: Option<(String, i64)> = on_pool!(self, c => sqlx::query_as(
            "SELECT merchant_id, created_at_ms FROM subaccounts WHERE source = $1 AND code = $2",
        )
        .bind(source)
        .bind(code)
        .fetch_optional(c)
        .await)?;
        Ok(match owner {
            Some((m, at)) if m == merchant_id.as_str() => CodeClaim::Again(record(at)),
            _ => CodeClaim::Taken,
        })
    }

    /// The merchant's subaccounts, every source's, by source and code.
    pub async fn subaccounts_of(
        &self,
        merchant_id: &MerchantId,
    ) -> Result<Vec<SubaccountRecord>, StoreError> {
        let rows: Vec<(String, String, i64)> = on_pool!(self, c => sqlx::query_as(
            "SELECT source, code, created_at_ms FROM subaccounts WHERE merchant_id = $1
             ORDER BY source, code",
        )
        .bind(merchant_id.as_str())
        .fetch_all(c)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(source, code, created_at_ms)| SubaccountRecord {
                source,
                code,
                merchant: merchant_id.clone(),
                created_at_ms,
            })
            .collect())
    }

    /// The merchant each of `codes` of `source` settles to; unmapped codes are absent.
    pub async fn subaccount_merchants(
        &self,
        source: &str,
        codes: &[&str],
    ) -> Result<HashMap<String, MerchantId>, StoreError> {
        if codes.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT code, merchant_id FROM subaccounts WHERE source = $1 AND code IN ({})",
            params(2, codes.len())
        );
        let rows: Vec<(String, String)> = on_pool!(self, c => {
            let mut q = sqlx::query_as(&sql).bind(source);
            for code in codes {
                q = q.bind(*code);
            }
            q.fetch_all(c).await
        })?;
        rows.into_iter()
            .map(|(code, m)| Ok((code, merchant(&m)?)))
            .collect()
    }

    /// Which of `ids` are merchants.
    pub async fn existing_merchants(
        &self,
        ids: &[&MerchantId],
    ) -> Result<HashSet<MerchantId>, StoreError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let sql = format!(
            "SELECT id FROM merchants WHERE id IN ({})",
            params(1, ids.len())
        );
        let rows: Vec<String> = on_pool!(self, c => {
            let mut q = sqlx::query_scalar(&sql);
            for id in ids {
                q = q.bind(id.as_str());
            }
            q.fetch_all(c).await
        })?;
        rows.iter().map(|m| merchant(m)).collect()
    }

    /// The merchants `source`'s stored events of `reference` went to (each once).
    pub async fn reference_merchants(
        &self,
        source: &str,
        reference: &str,
    ) -> Result<Vec<MerchantId>, StoreError> {
        let rows: Vec<String> = on_pool!(self, c => sqlx::query_scalar(
            "SELECT DISTINCT merchant_id FROM inbox_events WHERE reference = $1 AND source = $2",
        )
        .bind(reference)
        .bind(source)
        .fetch_all(c)
        .await)?;
        rows.iter().map(|m| merchant(m)).collect()
    }

    /// The merchant each of `keys` of `source` is stored under, where it is.
    pub async fn stored_keys(
        &self,
        source: &str,
        keys: &[&str],
    ) -> Result<HashMap<String, MerchantId>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT idempotency_key, merchant_id FROM inbox_events
             WHERE idempotency_key IN ({}) AND source = $1",
            params(2, keys.len())
        );
        let rows: Vec<(String, String)> = on_pool!(self, c => {
            let mut q = sqlx::query_as(&sql).bind(source);
            for k in keys {
                q = q.bind(*k);
            }
            q.fetch_all(c).await
        })?;
        rows.into_iter()
            .map(|(k, m)| Ok((k, merchant(&m)?)))
            .collect()
    }

    /// The ids of `source`'s events held and not yet routed, of those with `keys`.
    pub async fn waiting_held(
        &self,
        source: &str,
        keys: &[&str],
    ) -> Result<HashMap<String, i64>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT idempotency_key, id FROM unrouted_events
             WHERE source = $1 AND routed_at_ms IS NULL AND idempotency_key IN ({})",
            params(2, keys.len())
        );
        on_pool!(self, c => {
            let mut q = sqlx::query_as::<_, (String, i64)>(&sql).bind(source);
            for k in keys {
                q = q.bind(*k);
            }
            q.fetch_all(c).await
        })
        .map(|rows| rows.into_iter().collect())
        .map_err(StoreError::from)
    }

    /// Held events, newest first, `limit` after id `before`; only the waiting ones when
    /// `waiting`.
    pub async fn held_events(
        &self,
        waiting: bool,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<HeldEvent>, StoreError> {
        let sql = format!(
            "SELECT {HELD_COLUMNS} FROM unrouted_events
             WHERE ($1 = 0 OR routed_at_ms IS NULL) AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<HeldRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(i64::from(waiting))
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(c)
            .await)?;
        rows.into_iter().map(HeldEvent::try_from).collect()
    }

    /// How many held events wait for a route.
    pub async fn count_waiting_held(&self) -> Result<i64, StoreError> {
        on_pool!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM unrouted_events WHERE routed_at_ms IS NULL",
        )
        .fetch_one(c)
        .await)
        .map_err(StoreError::from)
    }

    /// The waiting held events, oldest first, `limit` after id `after`.
    pub async fn waiting_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<HeldEvent>, StoreError> {
        let sql = format!(
            "SELECT {HELD_COLUMNS} FROM unrouted_events
             WHERE routed_at_ms IS NULL AND id > $1 ORDER BY id LIMIT $2"
        );
        let rows: Vec<HeldRow> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(c)
            .await)?;
        rows.into_iter().map(HeldEvent::try_from).collect()
    }
}

impl Tx {
    /// Holds `events`; one already held (a re-pull, a retry) keeps its row.
    pub async fn hold(&mut self, events: &[NewHeld], now_ms: i64) -> Result<(), StoreError> {
        for e in events {
            on_tx!(self, c, _lock => sqlx::query(
                "INSERT INTO unrouted_events (source, idempotency_key, provider, event_type,
                     reference, reason, received_at_ms, held_at_ms, shard, seq, envelope)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (source, idempotency_key) DO NOTHING",
            )
            .bind(&e.source)
            .bind(&e.key)
            .bind(&e.provider)
            .bind(&e.event_type)
            .bind(&e.reference)
            .bind(&e.reason)
            .bind(e.received_at_ms)
            .bind(now_ms)
            .bind(e.shard)
            .bind(e.seq)
            .bind(&e.envelope_json)
            .execute(c)
            .await
            .map(|_| ()))?;
        }
        Ok(())
    }

    /// Records that the held events `released` went to their merchants.
    pub async fn release_held(
        &mut self,
        released: &[(i64, MerchantId)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for (id, to) in released {
            on_tx!(self, c, _lock => sqlx::query(
                "UPDATE unrouted_events SET merchant_id = $2, routed_at_ms = $3
                 WHERE id = $1 AND routed_at_ms IS NULL",
            )
            .bind(id)
            .bind(to.as_str())
            .bind(now_ms)
            .execute(c)
            .await
            .map(|_| ()))?;
        }
        Ok(())
    }
}
