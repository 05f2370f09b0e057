//! The periodic repairs for what concurrent transactions cannot see of each other (several
//! replicas, or the admin API racing a webhook): events parked behind a charge that another
//! transaction committed, and orders created while their charge was being applied.

use super::replay;
use crate::domain::order_meets_payment;
use crate::store::{now_ms, Store, StoreError};

/// Re-applies parked events whose payment has since been captured (see
/// `Store::parked_but_ready`); returns how many left the parked state.
pub async fn sweep_parked(store: &Store, limit: u32) -> Result<u64, StoreError> {
    let mut moved = 0;
    for id in store.parked_but_ready(limit).await? {
        if let Some(r) = replay(store, id).await? {
            if r.after != "parked" {
                moved += 1;
            }
        }
    }
    Ok(moved)
}

/// Moves pending orders whose payment was captured without them to the payment's state (see
/// `Store::orders_behind_their_payment`), each in its own transaction with both rows locked;
/// returns how many moved.
pub async fn adopt_orders_behind(store: &Store, limit: u32) -> Result<u64, StoreError> {
    let mut moved = 0;
    for reference in store.orders_behind_their_payment(limit).await? {
        let mut tx = store.begin().await?;
        // Payment before order, as on every path.
        let payment = tx.payment_for_update(&reference).await?;
        let order = tx.order_for_update(&reference).await?;
        let adopted = payment
            .zip(order)
            .and_then(|(p, o)| order_meets_payment(&o, &p));
        match adopted {
            Some((order, payment)) => {
                let now = now_ms();
                tx.save_order(&order, now).await?;
                tx.save_payment(&payment, now).await?;
                tx.announce_change().await?;
                tx.commit().await?;
                tracing::info!(%reference, status = %order.status, "order caught up with its payment");
                moved += 1;
            }
            None => tx.rollback().await?,
        }
    }
    Ok(moved)
}

/// Both sweeps, every `every`, until shutdown.
pub async fn sweep_forever(
    store: Store,
    every: std::time::Duration,
    changes: crate::changes::Changes,
    shutdown: crate::shutdown::Shutdown,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.clone().wait() => return,
        }
        match sweep_parked(&store, 500).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(unparked = n, "parked events applied by the sweep");
                changes.notify();
            }
            Err(e) => tracing::warn!(error = %e, "parked-event sweep failed"),
        }
        match adopt_orders_behind(&store, 500).await {
            Ok(0) => {}
            Ok(_) => changes.notify(),
            Err(e) => tracing::warn!(error = %e, "order catch-up sweep failed"),
        }
    }
}
