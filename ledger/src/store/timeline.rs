//! What the operator's dashboard reads beyond the records: inbox events by filter (status,
//! provider, source, reference) — paged, counted, or as ids to replay; one reference's events
//! for its timeline; and the per-minute / per-hour counts its charts draw.
//!
//! Every read is one merchant's, and a range of an index (migrations `0009_operator_reads`
//! and `0010_merchants`): `(merchant_id, id)` and `(status, id)` for the filtered lists,
//! `(merchant_id, reference, id)` for a reference, `(received_at_ms)` and
//! `(status, applied_at_ms)` for the series. None of them writes.

use keffi_shared::MerchantId;

use super::conn::on_pool;
use super::rows::{InboxEvent, InboxStatus, INBOX_COLUMNS};
use super::{Store, StoreError};

/// Which of one merchant's inbox events: every field that is set must match exactly. The
/// merchant is not optional: a filter is made for one ([`EventFilter::of`]).
#[derive(Debug, Clone, Copy)]
pub struct EventFilter<'a> {
    pub merchant: &'a MerchantId,
    pub status: Option<InboxStatus>,
    pub provider: Option<&'a str>,
    pub source: Option<&'a str>,
    pub reference: Option<&'a str>,
}

impl<'a> EventFilter<'a> {
    /// Every event of `merchant`.
    pub fn of(merchant: &'a MerchantId) -> Self {
        EventFilter {
            merchant,
            status: None,
            provider: None,
            source: None,
            reference: None,
        }
    }

    /// `column = $n` for each set field (numbered from 1), and the values in their order.
    /// Only the set fields are in the SQL, so each query's plan is the index's range, not a
    /// `($1 IS NULL OR …)` that a generic plan cannot use.
    fn conditions(&self) -> (Vec<String>, Vec<&'a str>) {
        let mut sql = Vec::new();
        let mut binds = Vec::new();
        let fields = [
            ("merchant_id", Some(self.merchant.as_str())),
            ("status", self.status.map(InboxStatus::as_str)),
            ("provider", self.provider),
            ("source", self.source),
            ("reference", self.reference),
        ];
        for (column, value) in fields {
            if let Some(v) = value {
                binds.push(v);
                sql.push(format!("{column} = ${}", binds.len()));
            }
        }
        (sql, binds)
    }
}

/// One bucket of a series: its start (ms since the epoch) and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Bucket {
    pub bucket: i64,
    pub count: i64,
}

impl Store {
    /// Inbox events matching `filter`, newest first (by id), before `before_id`.
    pub async fn list_events_where(
        &self,
        filter: &EventFilter<'_>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        let (mut conditions, binds) = filter.conditions();
        let n = binds.len();
        if before_id.is_some() {
            conditions.push(format!("id < ${}", n + 1));
        }
        let limit_at = n + 1 + usize::from(before_id.is_some());
        let sql = format!(
            "SELECT {INBOX_COLUMNS} FROM inbox_events {} ORDER BY id DESC LIMIT ${limit_at}",
            where_clause(&conditions)
        );
        let rows = on_pool!(self, c => {
            let mut q = sqlx::query_as(&sql);
            for b in &binds {
                q = q.bind(*b);
            }
            if let Some(id) = before_id {
                q = q.bind(id);
            }
            q.bind(i64::from(limit)).fetch_all(c).await
        })?;
        Ok(rows)
    }

    /// How many inbox events match `filter` (after `after_id`, if given).
    pub async fn count_events_after(
        &self,
        filter: &EventFilter<'_>,
        after_id: Option<i64>,
    ) -> Result<i64, StoreError> {
        let (mut conditions, binds) = filter.conditions();
        if after_id.is_some() {
            conditions.push(format!("id > ${}", binds.len() + 1));
        }
        let sql = format!(
            "SELECT COUNT(*) FROM inbox_events {}",
            where_clause(&conditions)
        );
        let n = on_pool!(self, c => {
            let mut q = sqlx::query_scalar(&sql);
            for b in &binds {
                q = q.bind(*b);
            }
            if let Some(id) = after_id {
                q = q.bind(id);
            }
            q.fetch_one(c).await
        })?;
        Ok(n)
    }

    /// The ids of the events matching `filter`, oldest first, after `after_id`, at most `limit`.
    pub async fn event_ids_where(
        &self,
        filter: &EventFilter<'_>,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError> {
        let (mut conditions, binds) = filter.conditions();
        let n = binds.len();
        conditions.push(format!("id > ${}", n + 1));
        let sql = format!(
            "SELECT id FROM inbox_events {} ORDER BY id LIMIT ${}",
            where_clause(&conditions),
            n + 2
        );
        let ids = on_pool!(self, c => {
            let mut q = sqlx::query_scalar(&sql);
            for b in &binds {
                q = q.bind(*b);
            }
            q.bind(after_id.unwrap_or(0))
                .bind(i64::from(limit))
                .fetch_all(c)
                .await
        })?;
        Ok(ids)
    }

    /// The merchant's events about `reference`, oldest first (by id), at most `limit`.
    pub async fn events_for_reference(
        &self,
        merchant: &MerchantId,
        reference: &str,
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        let sql = format!(
            "SELECT {INBOX_COLUMNS} FROM inbox_events WHERE merchant_id = $3 AND reference = $1
             ORDER BY id LIMIT $2"
        );
        let rows = on_pool!(self, c => sqlx::query_as(&sql)
            .bind(reference)
            .bind(i64::from(limit))
            .bind(merchant.as_str())
            .fetch_all(c)
            .await)?;
        Ok(rows)
    }

    /// The merchant's events received (by `received_at_ms`) in `[since_ms, until_ms)`, counted per
    /// `bucket_ms`; buckets with none are absent.
    pub async fn received_per(
        &self,
        merchant: &MerchantId,
        bucket_ms: i64,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<Bucket>, StoreError> {
        let rows = on_pool!(self, c => sqlx::query_as(
            "SELECT (received_at_ms / $1) * $1 AS bucket, COUNT(*) AS count FROM inbox_events
             WHERE merchant_id = $4 AND received_at_ms >= $2 AND received_at_ms < $3
             GROUP BY bucket ORDER BY bucket",
        )
        .bind(bucket_ms)
        .bind(since_ms)
        .bind(until_ms)
        .bind(merchant.as_str())
        .fetch_all(c)
        .await)?;
        Ok(rows)
    }

    /// The merchant's events that are `status` now and were settled (`applied_at_ms`) in
    /// `[since_ms, until_ms)`, counted per `bucket_ms`; buckets with none are absent.
    pub async fn settled_per(
        &self,
        merchant: &MerchantId,
        status: InboxStatus,
        bucket_ms: i64,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<Bucket>, StoreError> {
        let rows = on_pool!(self, c => sqlx::query_as(
            "SELECT (applied_at_ms / $1) * $1 AS bucket, COUNT(*) AS count FROM inbox_events
             WHERE merchant_id = $5 AND status = $2 AND applied_at_ms >= $3
               AND applied_at_ms < $4
             GROUP BY bucket ORDER BY bucket",
        )
        .bind(bucket_ms)
        .bind(status.as_str())
        .bind(since_ms)
        .bind(until_ms)
        .bind(merchant.as_str())
        .fetch_all(c)
        .await)?;
        Ok(rows)
    }
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_set_fields_are_conditions() {
        let acme = MerchantId::parse("acme").unwrap();
        let (sql, binds) = EventFilter::of(&acme).conditions();
        assert_eq!(
            (sql, binds),
            (vec!["merchant_id = $1".to_owned()], vec!["acme"])
        );
        let (sql, binds) = EventFilter {
            status: Some(InboxStatus::Dead),
            reference: Some("ord_1"),
            ..EventFilter::of(&acme)
        }
        .conditions();
        assert_eq!(sql, ["merchant_id = $1", "status = $2", "reference = $3"]);
        assert_eq!(binds, ["acme", "dead", "ord_1"]);
        assert_eq!(
            where_clause(&sql),
            "WHERE merchant_id = $1 AND status = $2 AND reference = $3"
        );
    }
}
