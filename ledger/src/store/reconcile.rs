//! What the reconciler and the periodic sweeps read and schedule.

use keffi_shared::MerchantId;
use sqlx::QueryBuilder;

use super::conn::{on_pool, on_tx};
use super::{Store, StoreError};

/// The payment statuses that hold captured money (`PaymentStatus::is_captured`), as SQL.
const CAPTURED: &str = "('success', 'partially_refunded', 'refunded', 'disputed')";

/// A payment still pending, due for a check.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StalePayment {
    #[sqlx(try_from = "String")]
    pub merchant_id: MerchantId,
    pub reference: String,
    pub created_at_ms: i64,
    pub reconcile_attempts: i64,
}

/// A parked event, as the sweep judges whether it has waited too long.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ParkedEvent {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub merchant_id: MerchantId,
    pub idempotency_key: String,
    pub reference: Option<String>,
    pub received_at_ms: i64,
    /// When it last became parked (the database sets it: migration 0006). `None` only for a
    /// row written around the schema; the sweep then counts from `received_at_ms`.
    pub parked_at_ms: Option<i64>,
    /// Why it is parked: what it waits for.
    pub reason: Option<String>,
}

/// A parked event given up on: it becomes `dead` with `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub id: i64,
    pub merchant_id: MerchantId,
    pub idempotency_key: String,
    pub reference: Option<String>,
    /// Its `parked_at_ms` when judged: the write only applies to the same parking.
    pub parked_at_ms: Option<i64>,
    pub reason: String,
}

impl Store {
    /// The merchant's (every merchant's for `None`) pending Paystack payments created before
    /// `created_before_ms` and due (`next_reconcile_at_ms` passed or never set), oldest first,
    /// at most `limit`; or just its `reference` if given. Only Paystack's: the reconciler asks
    /// Paystack, which would call another gateway's payment "not found" and abandon it.
    pub async fn stale_payments(
        &self,
        merchant: Option<&MerchantId>,
        created_before_ms: i64,
        now_ms: i64,
        reference: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StalePayment>, StoreError> {
        let rows = on_pool!(self, c => sqlx::query_as(
            "SELECT merchant_id, reference, created_at_ms, reconcile_attempts FROM payments
             WHERE ($5 IS NULL OR merchant_id = $5) AND status = 'pending' AND gateway = 'paystack'
               AND created_at_ms <= $1
               AND ($2 IS NULL OR reference = $2)
               AND (next_reconcile_at_ms IS NULL OR next_reconcile_at_ms <= $3 OR $2 IS NOT NULL)
             ORDER BY created_at_ms LIMIT $4",
        )
        .bind(created_before_ms)
        .bind(reference)
        .bind(now_ms)
        .bind(i64::from(limit))
        .bind(merchant.map(MerchantId::as_str))
        .fetch_all(c)
        .await)?;
        Ok(rows)
    }

    /// The Paystack source to ask about `merchant`'s payments through the edge: its own live
    /// Paystack source (one added through the API before one only routed here, whose provider
    /// the edge knows), else the split source it has a subaccount on, else a split source it
    /// owns. `split` says whether the answers must be checked for whose they are.
    pub async fn verify_source(
        &self,
        merchant: &MerchantId,
    ) -> Result<Option<(String, bool)>, StoreError> {
        const QUERIES: [&str; 3] = [
            "SELECT name FROM sources WHERE merchant_id = $1 AND removed_at_ms IS NULL
               AND split_at_ms IS NULL AND (provider = 'paystack' OR provider IS NULL)
             ORDER BY provider IS NULL, created_at_ms, name LIMIT 1",
            "SELECT s.name FROM subaccounts a JOIN sources s ON s.name = a.source
             WHERE a.merchant_id = $1 AND s.removed_at_ms IS NULL
             ORDER BY a.created_at_ms, s.name LIMIT 1",
            "SELECT name FROM sources WHERE merchant_id = $1 AND removed_at_ms IS NULL
               AND split_at_ms IS NOT NULL ORDER BY created_at_ms, name LIMIT 1",
        ];
        for (i, sql) in QUERIES.iter().enumerate() {
            let name: Option<String> = on_pool!(self, c => sqlx::query_scalar(sql)
                .bind(merchant.as_str())
                .fetch_optional(c)
                .await)?;
            if let Some(name) = name {
                return Ok(Some((name, i > 0)));
            }
        }
        Ok(None)
    }

    /// Records a check that found nothing final: try again at `next_at_ms`.
    pub async fn schedule_reconcile(
        &self,
        merchant: &MerchantId,
        reference: &str,
        next_at_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, c => sqlx::query(
            "UPDATE payments SET reconcile_attempts = reconcile_attempts + 1,
                 next_reconcile_at_ms = $1
             WHERE merchant_id = $3 AND reference = $2",
        )
        .bind(next_at_ms)
        .bind(reference)
        .bind(merchant.as_str())
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}

impl Store {
    /// Parked events whose payment has since been captured: normally unparked by the charge's
    /// own transaction, but a charge applied by another replica at the same moment cannot see
    /// an event parked in a transaction that had not committed yet. The first `limit` by id;
    /// see [`Store::parked_but_ready_after`] for the rest.
    pub async fn parked_but_ready(&self, limit: u32) -> Result<Vec<(MerchantId, i64)>, StoreError> {
        self.parked_but_ready_after(0, limit).await
    }

    /// One page of [`Store::parked_but_ready`]: ids above `after_id`, ascending, at most
    /// `limit`. Keyset pages, so a sweep reaches every candidate however many before it stay
    /// parked (a resolution whose dispute never opened looks ready and is re-tried forever).
    pub async fn parked_but_ready_after(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<(MerchantId, i64)>, StoreError> {
        let sql = format!(
            "SELECT e.merchant_id, e.id FROM inbox_events e
             JOIN payments p ON p.merchant_id = e.merchant_id AND p.reference = e.reference
             WHERE e.status = 'parked' AND p.status IN {CAPTURED} AND e.id > $1
             ORDER BY e.id LIMIT $2"
        );
        let rows: Vec<(String, i64)> = on_pool!(self, c => sqlx::query_as(&sql)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await)?;
        rows.into_iter()
            .map(|(m, id)| Ok((super::rows::merchant(&m)?, id)))
            .collect()
    }

    /// Parked events with ids above `after_id`, ascending, at most `limit`: keyset pages of
    /// everything parked, for the sweep to judge which have waited too long.
    pub async fn parked_after(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<ParkedEvent>, StoreError> {
        let rows = on_pool!(self, c => sqlx::query_as(
            "SELECT id, merchant_id, idempotency_key, reference, received_at_ms, parked_at_ms,
                    reason
             FROM inbox_events WHERE status = 'parked' AND id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await)?;
        Ok(rows)
    }

    /// Makes `orphans` dead with their reasons, set-wise, in one transaction. A row is only
    /// changed if it is still parked since the same moment: one that a charge applied
    /// meanwhile, or that was replayed and parked afresh, is not the event that was judged.
    /// Returns the ids changed.
    ///
    /// The orphans' references are locked first, as every path that touches parked events
    /// does (`Tx::lock_references`): a batch applying one of them right now has committed by
    /// the time this reads its status, so the guard sees it and no event ends up both given up
    /// on and applied.
    pub async fn give_up_parked(
        &self,
        orphans: &[Orphan],
        now_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        if orphans.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let references: Vec<(&MerchantId, &str)> = orphans
            .iter()
            .filter_map(|o| Some((&o.merchant_id, o.reference.as_deref()?)))
            .collect();
        tx.lock_references(&references).await?;
        let mut changed = Vec::with_capacity(orphans.len());
        // Three parameters a row: far below both backends' limits per statement.
        for chunk in orphans.chunks(1_000) {
            let ids: Vec<i64> = on_tx!(&mut tx, c, _lock => {
                let mut q = QueryBuilder::new(
                    "WITH v (orphan_id, orphan_reason, orphan_parked_at_ms) AS (",
                );
                q.push_values(chunk, |mut b, o| {
                    b.push_bind(o.id)
                        .push_bind(o.reason.as_str())
                        .push_bind(o.parked_at_ms);
                });
                q.push(
                    ") UPDATE inbox_events SET status = 'dead', reason = v.orphan_reason,
                         applied_at_ms = ",
                );
                q.push_bind(now_ms);
                // The CTE's columns are named apart from the table's so that `RETURNING id`
                // means the inbox row on both backends.
                q.push(
                    " FROM v WHERE inbox_events.id = v.orphan_id
                         AND inbox_events.status = 'parked'
                         AND inbox_events.parked_at_ms IS NOT DISTINCT FROM v.orphan_parked_at_ms
                     RETURNING id",
                );
                q.build_query_scalar().fetch_all(c).await
            })?;
            changed.extend(ids);
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Pending orders whose payment was captured without them: the charge and the order's
    /// creation crossed (each transaction saw the other not yet committed). The sweep
    /// repairs them; none should exist for long.
    pub async fn orders_behind_their_payment(
        &self,
        limit: u32,
    ) -> Result<Vec<(MerchantId, String)>, StoreError> {
        let sql = format!(
            "SELECT o.merchant_id, o.reference FROM orders o
             JOIN payments p ON p.merchant_id = o.merchant_id AND p.reference = o.reference
             WHERE o.status = 'pending' AND p.status IN {CAPTURED}
             ORDER BY o.merchant_id, o.reference LIMIT $1"
        );
        let rows: Vec<(String, String)> = on_pool!(self, c => sqlx::query_as(&sql)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await)?;
        rows.into_iter()
            .map(|(m, r)| Ok((super::rows::merchant(&m)?, r)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::PaymentStatus;

    #[test]
    fn the_sql_list_of_captured_statuses_is_the_domains() {
        for status in PaymentStatus::ALL {
            let listed = super::CAPTURED.contains(&format!("'{}'", status.as_str()));
            assert_eq!(listed, status.is_captured(), "{status:?}");
        }
    }
}
