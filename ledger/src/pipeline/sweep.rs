//! The periodic repairs for what concurrent transactions cannot see of each other (several
//! replicas, or the admin API racing a webhook): events parked behind a charge that another
//! transaction committed, and orders created while their charge was being applied. And the
//! bound on parking: an event that has waited longer than the park timeout for what it needs
//! is given up on (`dead`, orphaned) instead of waiting forever.

use std::collections::HashSet;
use std::time::Duration;

use super::replay;
use crate::config::SweepConfig;
use crate::domain::order_meets_payment;
use crate::store::reconcile::{Orphan, ParkedEvent};
use crate::store::{now_ms, InboxStatus, Store, StoreError};

/// Re-applies parked events whose payment has since been captured (see
/// `Store::parked_but_ready`), walking all of them `page` ids at a time; returns how many left
/// the parked state.
///
/// Every candidate gets its turn in every run: events that look ready but stay parked (a
/// dispute resolution whose opening never came) would otherwise fill the first page forever
/// and starve the ones behind them.
pub async fn sweep_parked(store: &Store, page: u32) -> Result<u64, StoreError> {
    let page = page.max(1);
    let mut moved = 0;
    let mut after = 0;
    loop {
        let ids = store.parked_but_ready_after(after, page).await?;
        for (merchant, id) in &ids {
            if let Some(r) = replay(store, merchant, *id).await? {
                if r.after != InboxStatus::Parked {
                    moved += 1;
                }
            }
        }
        match next_page(&ids, page, |(_, id)| *id) {
            Some(last) => after = last,
            None => return Ok(moved),
        }
    }
}

/// The id to continue after, or `None` when `rows` was the last page (a short one). Ids only
/// grow, so the walk ends even while new rows arrive behind it.
fn next_page<T>(rows: &[T], page: u32, id: impl Fn(&T) -> i64) -> Option<i64> {
    if rows.len() < page as usize {
        return None;
    }
    rows.last().map(id)
}

/// The parked events that have waited at least `bound` by `now_ms`, each with the reason it
/// becomes dead under. Pure: the sweep reads the parked events and writes these.
///
/// The wait is counted from when the event last became parked, not from its delivery: an
/// event pulled late from a backlog has not been waiting while it sat in the edge's buffer.
pub fn orphans(parked: &[ParkedEvent], now_ms: i64, bound: Duration) -> Vec<Orphan> {
    let bound_ms = i64::try_from(bound.as_millis()).unwrap_or(i64::MAX);
    parked
        .iter()
        .filter_map(|e| {
            let since = e.parked_at_ms.unwrap_or(e.received_at_ms);
            // A clock behind the one that stamped the row gives a negative wait: not yet.
            let waited_ms = now_ms.saturating_sub(since);
            (waited_ms >= bound_ms).then(|| Orphan {
                id: e.id,
                merchant_id: e.merchant_id.clone(),
                idempotency_key: e.idempotency_key.clone(),
                reference: e.reference.clone(),
                parked_at_ms: e.parked_at_ms,
                reason: orphan_reason(waited_ms, e.reason.as_deref()),
            })
        })
        .collect()
}

/// What an orphan's inbox row says: how long it waited (whole seconds: milliseconds would
/// only be noise to a reader) and for what, in the words it was parked with.
fn orphan_reason(waited_ms: i64, parked_reason: Option<&str>) -> String {
    let waited = Duration::from_secs(u64::try_from(waited_ms / 1000).unwrap_or_default());
    format!(
        "orphaned: waited {} for what it needed ({})",
        humantime::format_duration(waited),
        parked_reason.unwrap_or("no reason recorded")
    )
}

/// Gives up on every parked event that has waited at least `bound` by `now_ms` (see
/// [`orphans`]): reads them `page` at a time, then makes them dead in one set-wise update.
/// Returns the events given up on (not those that moved on while being judged).
pub async fn orphan_parked(
    store: &Store,
    now_ms: i64,
    bound: Duration,
    page: u32,
) -> Result<Vec<Orphan>, StoreError> {
    let page = page.max(1);
    let mut judged = Vec::new();
    let mut after = 0;
    loop {
        let parked = store.parked_after(after, page).await?;
        judged.extend(orphans(&parked, now_ms, bound));
        match next_page(&parked, page, |e| e.id) {
            Some(last) => after = last,
            None => break,
        }
    }
    if judged.is_empty() {
        return Ok(judged);
    }
    let changed: HashSet<i64> = store
        .give_up_parked(&judged, now_ms)
        .await?
        .into_iter()
        .collect();
    judged.retain(|o| changed.contains(&o.id));
    for o in &judged {
        tracing::warn!(
            id = o.id,
            merchant = %o.merchant_id,
            key = %o.idempotency_key,
            reference = o.reference.as_deref().unwrap_or_default(),
            reason = %o.reason,
            "parked event given up on: dead as orphaned"
        );
    }
    Ok(judged)
}

/// Moves pending orders whose payment was captured without them to the payment's state (see
/// `Store::orders_behind_their_payment`), each in its own transaction with both rows locked;
/// returns how many moved.
pub async fn adopt_orders_behind(store: &Store, limit: u32) -> Result<u64, StoreError> {
    let mut moved = 0;
    for (merchant, reference) in store.orders_behind_their_payment(limit).await? {
        let mut tx = store.begin().await?;
        // Payment before order, as on every path.
        let payment = tx.payment_for_update(&merchant, &reference).await?;
        let order = tx.order_for_update(&merchant, &reference).await?;
        let adopted = payment
            .zip(order)
            .and_then(|(p, o)| order_meets_payment(&o, &p));
        match adopted {
            Some((order, payment)) => {
                let now = now_ms();
                let changed = tx.save_order(&merchant, &order, now).await?;
                tx.save_payment(&merchant, &payment, now).await?;
                tx.announce_changes(&changed).await?;
                tx.commit().await?;
                tracing::info!(%merchant, %reference, status = %order.status, "order caught up with its payment");
                moved += 1;
            }
            None => tx.rollback().await?,
        }
    }
    Ok(moved)
}

/// The sweeps, every `cfg.interval`, until shutdown: held events a route now places, then
/// parked events that are ready, then the
/// parked events that have waited too long (ready ones first, so an event whose fact has just
/// arrived is applied rather than given up on), then orders behind their payment.
pub async fn sweep_forever(
    store: Store,
    cfg: SweepConfig,
    changes: crate::changes::Changes,
    shutdown: crate::shutdown::Shutdown,
) {
    crate::telemetry_metrics::orphaned(0);
    crate::telemetry_metrics::held_waiting(0);
    crate::telemetry_metrics::settled_again_dead_registered();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(cfg.interval) => {}
            _ = shutdown.clone().wait() => return,
        }
        match super::route_held(&store, cfg.page).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(placed = n, "held events placed with their merchants");
                changes.nudge();
            }
            Err(e) => tracing::warn!(error = %e, "held-event routing failed"),
        }
        match store.count_waiting_held().await {
            Ok(n) => crate::telemetry_metrics::held_waiting(n),
            Err(e) => tracing::warn!(error = %e, "counting held events failed"),
        }
        match sweep_parked(&store, cfg.page).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(unparked = n, "parked events applied by the sweep");
                changes.nudge();
            }
            Err(e) => tracing::warn!(error = %e, "parked-event sweep failed"),
        }
        match orphan_parked(&store, now_ms(), cfg.park_timeout, cfg.page).await {
            Ok(given_up) if given_up.is_empty() => {}
            Ok(given_up) => {
                crate::telemetry_metrics::orphaned(given_up.len());
                tracing::warn!(
                    orphaned = given_up.len(),
                    park_timeout = %humantime::format_duration(cfg.park_timeout),
                    "parked events waited longer than the park timeout: now dead, for review and replay"
                );
            }
            Err(e) => tracing::warn!(error = %e, "orphaned-event sweep failed"),
        }
        match adopt_orders_behind(&store, cfg.page).await {
            Ok(0) => {}
            Ok(_) => changes.nudge(),
            Err(e) => tracing::warn!(error = %e, "order catch-up sweep failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;
    const BOUND: Duration = Duration::from_secs(72 * 3600);

    fn parked(id: i64, parked_at_ms: Option<i64>, reason: Option<&str>) -> ParkedEvent {
        ParkedEvent {
            id,
            merchant_id: keffi_shared::MerchantId::default_merchant(),
            idempotency_key: format!("key_{id}"),
            reference: Some("ord_1".into()),
            received_at_ms: 0,
            parked_at_ms,
            reason: reason.map(String::from),
        }
    }

    #[test]
    fn only_events_that_waited_the_whole_bound_are_orphaned() {
        let now = 1_000 * HOUR_MS;
        let events = [
            parked(
                1,
                Some(now - 72 * HOUR_MS),
                Some("refund before its charge"),
            ),
            parked(
                2,
                Some(now - 72 * HOUR_MS + 1),
                Some("refund before its charge"),
            ),
            parked(3, Some(now - 80 * HOUR_MS - 5_250), None),
            parked(4, Some(now), None),
        ];
        let got = orphans(&events, now, BOUND);
        assert_eq!(got.iter().map(|o| o.id).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(
            got[0].reason,
            "orphaned: waited 3days for what it needed (refund before its charge)"
        );
        assert_eq!(
            got[1].reason,
            "orphaned: waited 3days 8h 5s for what it needed (no reason recorded)"
        );
        assert_eq!(
            (got[0].parked_at_ms, got[0].idempotency_key.as_str()),
            (Some(now - 72 * HOUR_MS), "key_1"),
            "the write is guarded by the parking it judged"
        );
    }

    #[test]
    fn the_wait_counts_from_parking_not_from_delivery() {
        let now = 1_000 * HOUR_MS;
        // Delivered 100 h ago, drained from a backlog and parked an hour ago: not an orphan.
        let mut late = parked(1, Some(now - HOUR_MS), None);
        late.received_at_ms = now - 100 * HOUR_MS;
        assert!(orphans(&[late.clone()], now, BOUND).is_empty());
        // A row without the stamp falls back to its delivery time rather than waiting forever.
        late.parked_at_ms = None;
        assert_eq!(orphans(&[late], now, BOUND).len(), 1);
    }

    #[test]
    fn clocks_and_bounds_at_the_extremes_never_panic() {
        // Stamped by a clock ahead of this one: a negative wait, not an orphan.
        assert!(orphans(&[parked(1, Some(i64::MAX), None)], 0, BOUND).is_empty());
        assert!(orphans(&[parked(1, Some(i64::MIN), None)], i64::MAX, BOUND).len() == 1);
        assert!(orphans(&[parked(1, Some(0), None)], 1_000 * HOUR_MS, Duration::MAX).is_empty());
        assert!(orphans(&[], 0, BOUND).is_empty());
    }

    #[test]
    fn a_page_walk_stops_at_the_first_short_page() {
        assert_eq!(next_page(&[1_i64, 2, 3], 3, |id| *id), Some(3));
        assert_eq!(next_page(&[1_i64, 2], 3, |id| *id), None);
        assert_eq!(next_page::<i64>(&[], 3, |id| *id), None);
    }
}
