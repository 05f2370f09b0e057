//! What the reconciler and the periodic sweeps read and schedule.

use super::conn::on_pool;
use super::{Store, StoreError};

/// The payment statuses that hold captured money (`PaymentStatus::is_captured`), as SQL.
const CAPTURED: &str = "('success', 'partially_refunded', 'refunded', 'disputed')";

/// A payment still pending, due for a check.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StalePayment {
    pub reference: String,
    pub created_at_ms: i64,
    pub reconcile_attempts: i64,
}

impl Store {
    /// Pending payments created before `created_before_ms` and due (`next_reconcile_at_ms`
    /// passed or never set), oldest first, at most `limit`; or just `reference` if given.
    pub async fn stale_payments(
        &self,
        created_before_ms: i64,
        now_ms: i64,
        reference: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StalePayment>, StoreError> {
        let rows = on_pool!(self, c => sqlx::query_as(
            "SELECT reference, created_at_ms, reconcile_attempts FROM payments
             WHERE status = 'pending' AND created_at_ms <= $1
               AND ($2 IS NULL OR reference = $2)
               AND (next_reconcile_at_ms IS NULL OR next_reconcile_at_ms <= $3 OR $2 IS NOT NULL)
             ORDER BY created_at_ms LIMIT $4",
        )
        .bind(created_before_ms)
        .bind(reference)
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await)?;
        Ok(rows)
    }

    /// Records a check that found nothing final: try again at `next_at_ms`.
    pub async fn schedule_reconcile(
        &self,
        reference: &str,
        next_at_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, c => sqlx::query(
            "UPDATE payments SET reconcile_attempts = reconcile_attempts + 1,
                 next_reconcile_at_ms = $1
             WHERE reference = $2",
        )
        .bind(next_at_ms)
        .bind(reference)
        .execute(c)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}

impl Store {
    /// Parked events whose payment has since been captured: normally unparked by the charge's
    /// own transaction, but a charge applied by another replica at the same moment cannot see
    /// an event parked in a transaction that had not committed yet.
    pub async fn parked_but_ready(&self, limit: u32) -> Result<Vec<i64>, StoreError> {
        let sql = format!(
            "SELECT e.id FROM inbox_events e JOIN payments p ON p.reference = e.reference
             WHERE e.status = 'parked' AND p.status IN {CAPTURED}
             ORDER BY e.id LIMIT $1"
        );
        let ids = on_pool!(self, c => sqlx::query_scalar(&sql)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await)?;
        Ok(ids)
    }

    /// Pending orders whose payment was captured without them: the charge and the order's
    /// creation crossed (each transaction saw the other not yet committed). The sweep
    /// repairs them; none should exist for long.
    pub async fn orders_behind_their_payment(&self, limit: u32) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "SELECT o.reference FROM orders o JOIN payments p ON p.reference = o.reference
             WHERE o.status = 'pending' AND p.status IN {CAPTURED}
             ORDER BY o.reference LIMIT $1"
        );
        let references = on_pool!(self, c => sqlx::query_scalar(&sql)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await)?;
        Ok(references)
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
