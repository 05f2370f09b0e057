//! Reading the journal: transactions with their entries, balances (exact beyond 64 bits), and
//! the balance check.

use keffi_shared::MerchantId;
use serde::Serialize;

use super::conn::on_pool;
use super::{Store, StoreError};

/// One journal transaction with its entries, for reading.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostedTransaction {
    pub id: i64,
    pub reference: String,
    pub kind: String,
    /// The inbox event that posted it, by id and by idempotency key.
    pub event_id: i64,
    pub event_key: String,
    pub posted_at_ms: i64,
    pub entries: Vec<PostedEntry>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PostedEntry {
    #[serde(skip)]
    pub transaction_id: i64,
    pub account: String,
    pub currency: String,
    pub amount: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct TransactionRow {
    id: i64,
    reference: String,
    kind: String,
    event_id: i64,
    event_key: String,
    posted_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Balance {
    pub account: String,
    pub currency: String,
    /// Minor units. A sum of 64-bit entries can exceed 64 bits, so this is wider: JSON numbers
    /// have no width, and a reader must not assume it fits an i64.
    pub balance: i128,
}

/// A balance as the database can sum it without overflow (see `Store::balances`).
#[derive(Debug, sqlx::FromRow)]
struct BalanceParts {
    account: String,
    currency: String,
    billions: i64,
    units: i64,
}

/// The split of an amount in `Store::balances`: entries are summed as `amount / SPLIT` and
/// `amount % SPLIT`. Each part of an entry is below 10^10 in magnitude, so neither sum can
/// overflow a BIGINT before an account has about a billion entries.
const SPLIT: i64 = 1_000_000_000;

impl Store {
    /// The merchant's journal transactions for `reference`, oldest first, with their entries.
    pub async fn journal_for(
        &self,
        merchant: &MerchantId,
        reference: &str,
    ) -> Result<Vec<PostedTransaction>, StoreError> {
        let ids: Vec<i64> = on_pool!(self, c => sqlx::query_scalar(
            "SELECT id FROM journal_transactions
             WHERE merchant_id = $1 AND reference = $2 ORDER BY id",
        )
        .bind(merchant.as_str())
        .bind(reference)
        .fetch_all(c)
        .await)?;
        self.journal_by_ids(merchant, &ids).await
    }

    /// The merchant's transactions with these ids, with their entries, in the order given.
    async fn journal_by_ids(
        &self,
        merchant: &MerchantId,
        ids: &[i64],
    ) -> Result<Vec<PostedTransaction>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = super::conn::params(2, ids.len());
        let tx_sql = format!(
            "SELECT t.id, t.reference, t.kind, t.event_id, e.idempotency_key AS event_key,
                    t.posted_at_ms
             FROM journal_transactions t
             JOIN inbox_events e ON e.merchant_id = t.merchant_id AND e.id = t.event_id
             WHERE t.merchant_id = $1 AND t.id IN ({list})"
        );
        let entry_sql = format!(
            "SELECT transaction_id, account, currency, amount FROM journal_entries
             WHERE merchant_id = $1 AND transaction_id IN ({list}) ORDER BY id"
        );
        let txs: Vec<TransactionRow> = on_pool!(self, c => {
            let mut q = sqlx::query_as(&tx_sql).bind(merchant.as_str());
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(c).await
        })?;
        let entries: Vec<PostedEntry> = on_pool!(self, c => {
            let mut q = sqlx::query_as(&entry_sql).bind(merchant.as_str());
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(c).await
        })?;
        Ok(ids
            .iter()
            .filter_map(|id| txs.iter().find(|t| t.id == *id))
            .map(|t| PostedTransaction {
                entries: entries
                    .iter()
                    .filter(|e| e.transaction_id == t.id)
                    .cloned()
                    .collect(),
                id: t.id,
                reference: t.reference.clone(),
                kind: t.kind.clone(),
                event_id: t.event_id,
                event_key: t.event_key.clone(),
                posted_at_ms: t.posted_at_ms,
            })
            .collect())
    }

    /// The merchant's balances per account and currency: sums of the journal's entries, exact whatever the
    /// entries hold. A plain `SUM(amount)` overflows a BIGINT on absurd (but signed, so
    /// accepted) amounts, and the route would fail until the rows were gone: instead the high
    /// and low parts are summed apart, in SQL both backends run alike (integer `/` and `%`
    /// truncate toward zero on both, so `amount = high * SPLIT + low`), and joined here.
    pub async fn balances(&self, merchant: &MerchantId) -> Result<Vec<Balance>, StoreError> {
        let sql = format!(
            "SELECT account, currency, CAST(SUM(amount / {SPLIT}) AS BIGINT) AS billions,
                    CAST(SUM(amount % {SPLIT}) AS BIGINT) AS units
             FROM journal_entries WHERE merchant_id = $1
             GROUP BY account, currency ORDER BY account, currency"
        );
        let rows: Vec<BalanceParts> = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(merchant.as_str())
            .fetch_all(c)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| Balance {
                balance: i128::from(r.billions) * i128::from(SPLIT) + i128::from(r.units),
                account: r.account,
                currency: r.currency,
            })
            .collect())
    }

    /// The merchant's journal transactions newest first, with entries; optionally for one
    /// reference.
    pub async fn list_journal(
        &self,
        merchant: &MerchantId,
        reference: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<PostedTransaction>, StoreError> {
        let ids: Vec<i64> = on_pool!(self, c => sqlx::query_scalar(
            "SELECT id FROM journal_transactions
             WHERE merchant_id = $4 AND ($1 IS NULL OR reference = $1)
               AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(reference)
        .bind(before_id)
        .bind(i64::from(limit))
        .bind(merchant.as_str())
        .fetch_all(c)
        .await)?;
        self.journal_by_ids(merchant, &ids).await
    }
}
