//! What moved: the one change feed of the ledger. A transaction that changes orders says which
//! — reference, new version and status — and only the live status streams following those
//! references wake, with the new status in hand (no database read). On Postgres the same
//! changes travel in the transaction's `NOTIFY` payload ([`CHANNEL`]), so a stream on one
//! replica flips as soon as another replica commits. One shared catch-up ([`catch_up`]) covers
//! a lost notification at a cost that depends on how many orders changed, not on how many
//! streams are open; there is no timer per stream.
//!
//! A follower costs a `watch` receiver; followers of one reference share one sender.

use keffi_shared::MerchantId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::shutdown::Shutdown;
pub use crate::store::notify::{payloads, OrderChange, CHANNEL, MAX_PAYLOAD};
use crate::store::Store;

/// The change feed of this replica.
#[derive(Debug, Clone)]
pub struct Changes {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Per followed order (merchant and reference), the latest change known (or `None`
    /// before the first).
    followed: Mutex<HashMap<Followed, watch::Sender<Option<OrderChange>>>>,
    open: AtomicUsize,
    max_open: usize,
    /// Wakes the catch-up early: something moved that its writer could not name.
    nudge: tokio::sync::Notify,
    /// The streams' one shared clock ([`heartbeat`]): at its beat, an open stream sends its
    /// keep-alive and ends if its lifetime is over. One timer for all of them instead of two
    /// each: ten thousand per-stream timers keep tokio's timer wheel busy while idle. The
    /// streams are dealt round the [`BEAT_PHASES`] phases as they open, and the clock beats one
    /// phase at a time: ten thousand keep-alives at once are a burst of wakes and socket writes
    /// that a webhook applied at that moment waits behind.
    beat: Box<[watch::Sender<u64>]>,
    /// The phase the next stream gets.
    next_phase: AtomicUsize,
}

/// An order, as streams follow it: two merchants' `ord_1` are two orders.
type Followed = (MerchantId, String);

/// Groups the streams' keep-alives are spread over (each stream still gets one per period).
pub const BEAT_PHASES: usize = 64;

/// The stream cap is reached: come back later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} status streams are open, the most this ledger serves")]
pub struct Full(pub usize);

impl Default for Changes {
    fn default() -> Self {
        Changes::with_max_streams(DEFAULT_MAX_STREAMS)
    }
}

/// Streams one ledger serves by default (see `KEFFI_MAX_STREAMS`). Every open stream holds
/// memory of its own (hyper's buffers, mostly) and a file descriptor, so the cap bounds both.
/// Keep it below the process's open-files limit, or accepts fail before the cap can answer 503.
pub const DEFAULT_MAX_STREAMS: usize = 10_000;

impl Changes {
    pub fn with_max_streams(max_open: usize) -> Self {
        Changes {
            inner: Arc::new(Inner {
                followed: Mutex::new(HashMap::new()),
                open: AtomicUsize::new(0),
                max_open,
                nudge: tokio::sync::Notify::new(),
                beat: (0..BEAT_PHASES).map(|_| watch::Sender::new(0)).collect(),
                next_phase: AtomicUsize::new(0),
            }),
        }
    }

    /// The shared heartbeat a stream waits on beside its changes: one of its phases.
    pub fn heartbeat(&self) -> watch::Receiver<u64> {
        let phase = self.inner.next_phase.fetch_add(1, Ordering::Relaxed) % BEAT_PHASES;
        self.inner.beat[phase].subscribe()
    }

    /// Beats one phase of the heartbeat; returns the next.
    fn beat(&self, phase: usize) -> usize {
        self.inner.beat[phase].send_modify(|n| *n = n.wrapping_add(1));
        (phase + 1) % BEAT_PHASES
    }

    /// Follows the changes of the merchant's `reference`, unless the cap is reached.
    pub fn follow(&self, merchant: &MerchantId, reference: &str) -> Result<Follower, Full> {
        let inner = &self.inner;
        if inner
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < inner.max_open).then_some(n + 1)
            })
            .is_err()
        {
            return Err(Full(inner.max_open));
        }
        let order = (merchant.clone(), reference.to_owned());
        let rx = {
            let mut followed = inner.followed.lock().unwrap_or_else(|e| e.into_inner());
            followed
                .entry(order.clone())
                .or_insert_with(|| watch::channel(None).0)
                .subscribe()
        };
        Ok(Follower {
            rx,
            order,
            changes: self.clone(),
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Whether anyone follows anything (the catch-up sleeps otherwise).
    pub fn is_followed(&self) -> bool {
        self.open() > 0
    }

    /// Something moved that the caller cannot name (a sweep): the catch-up looks now rather
    /// than at its next tick.
    pub fn nudge(&self) {
        self.inner.nudge.notify_one();
    }

    /// Hands each change to the followers of its reference, if any, and only if it is newer
    /// than what they have (the same change may arrive from this replica's commit, its
    /// `NOTIFY` and the catch-up). Costs a map lookup per change, whatever the followers.
    pub fn publish(&self, changes: &[OrderChange]) {
        if changes.is_empty() || !self.is_followed() {
            return;
        }
        let followed = self
            .inner
            .followed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for change in changes {
            // A lookup by borrowed parts would need a key type of its own; the clone is the
            // price of one map for every merchant, and only changes being published pay it.
            let order = (change.merchant.clone(), change.reference.clone());
            if let Some(tx) = followed.get(&order) {
                tx.send_if_modified(|known| {
                    let newer = known.as_ref().is_none_or(|k| change.version > k.version);
                    if newer {
                        *known = Some(change.clone());
                    }
                    newer
                });
            }
        }
    }
}

/// One stream's subscription to one reference; unfollows when dropped.
pub struct Follower {
    rx: watch::Receiver<Option<OrderChange>>,
    order: Followed,
    changes: Changes,
}

impl Follower {
    /// The next change newer than `after`: waits for it. `None` when the feed is gone.
    pub async fn next_after(&mut self, after: Option<i64>) -> Option<OrderChange> {
        loop {
            if let Some(c) = self.rx.borrow_and_update().as_ref() {
                if after.is_none_or(|v| c.version > v) {
                    return Some(c.clone());
                }
            }
            self.rx.changed().await.ok()?;
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let inner = &self.changes.inner;
        inner.open.fetch_sub(1, Ordering::AcqRel);
        let mut followed = inner.followed.lock().unwrap_or_else(|e| e.into_inner());
        // The last follower of a reference takes its entry with it (this receiver still
        // counts until the drop completes).
        if followed
            .get(&self.order)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            followed.remove(&self.order);
        }
    }
}

/// Relays the database's change notifications into `changes` until shutdown. A dropped
/// connection is re-established (sqlx's listener reconnects on the next receive); the
/// catch-up finds what it missed meanwhile.
pub async fn relay_postgres(pool: PgPool, changes: Changes, shutdown: Shutdown) {
    let mut listener = loop {
        let attempt = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        match attempt.await {
            Ok(l) => break l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for change notifications; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = shutdown.clone().wait() => return,
                }
            }
        }
    };
    loop {
        tokio::select! {
            received = listener.recv() => match received {
                // A payload not ours to read (another version's empty one): the catch-up
                // covers it.
                Ok(n) => {
                    if let Ok(moved) = serde_json::from_str::<Vec<OrderChange>>(n.payload()) {
                        changes.publish(&moved);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "change notifications interrupted; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.clone().wait() => return,
                    }
                }
            },
            _ = shutdown.clone().wait() => return,
        }
    }
}

/// How far back each catch-up looks beyond the last change it saw: a transaction stamps
/// `updated_at_ms` before it commits, so a commit can land after a later stamp was read.
const CATCH_UP_SLACK_MS: i64 = 3_000;

/// Orders read per catch-up query.
const CATCH_UP_PAGE: u32 = 2_000;

/// Beats each phase every `every` until shutdown, one phase per `every / BEAT_PHASES`: the
/// keep-alive and lifetime clock of every open stream (see `Inner::beat`), spread evenly.
pub async fn heartbeat(changes: Changes, every: Duration, shutdown: Shutdown) {
    let step = (every / BEAT_PHASES as u32).max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval(step);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut phase = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => phase = changes.beat(phase),
            _ = shutdown.clone().wait() => return,
        }
    }
}

/// The one shared repair for lost notifications: every `every`, while any stream is open,
/// reads the orders changed since the last look (an indexed range on `updated_at_ms`, its cost
/// the number of changes, not of streams) and publishes them; followers drop what they have.
pub async fn catch_up(store: Store, changes: Changes, every: Duration, shutdown: Shutdown) {
    let mut since = crate::store::now_ms() - CATCH_UP_SLACK_MS;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = changes.inner.nudge.notified() => {}
            _ = shutdown.clone().wait() => return,
        }
        if !changes.is_followed() {
            since = crate::store::now_ms() - CATCH_UP_SLACK_MS;
            continue;
        }
        match catch_up_once(&store, &changes, since).await {
            Ok(Some(newest)) => since = since.max(newest - CATCH_UP_SLACK_MS),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "status catch-up failed"),
        }
    }
}

/// Publishes every order changed since `since`, page by page; returns the newest change time.
async fn catch_up_once(
    store: &Store,
    changes: &Changes,
    since: i64,
) -> Result<Option<i64>, crate::store::StoreError> {
    let (mut from, mut newest_seen) = (since, None);
    loop {
        let (moved, newest) = store.orders_changed_since(from, CATCH_UP_PAGE).await?;
        changes.publish(&moved);
        newest_seen = newest_seen.max(newest);
        match newest {
            // A full page: go on from its newest change (strictly later, so it progresses).
            Some(n) if moved.len() == CATCH_UP_PAGE as usize && n > from => from = n,
            _ => return Ok(newest_seen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(reference: &str, version: i64) -> OrderChange {
        OrderChange {
            merchant: MerchantId::default_merchant(),
            reference: reference.into(),
            status: crate::domain::OrderStatus::Paid,
            amount: keffi_shared::MinorUnits(500_000),
            currency: keffi_shared::Currency::NGN,
            review_reason: None,
            version,
        }
    }

    #[tokio::test]
    async fn a_follower_wakes_for_its_reference_only_and_only_for_newer_versions() {
        let changes = Changes::default();
        let mut a = changes
            .follow(&MerchantId::default_merchant(), "ord_a")
            .unwrap();
        let mut b = changes
            .follow(&MerchantId::default_merchant(), "ord_b")
            .unwrap();
        changes.publish(&[change("ord_a", 2), change("ord_c", 9)]);
        assert_eq!(a.next_after(Some(1)).await.unwrap().version, 2);
        // b saw nothing: it would wait.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), b.next_after(None))
                .await
                .is_err()
        );
        // An older or equal version (a late NOTIFY, the catch-up) changes nothing.
        changes.publish(&[change("ord_a", 1), change("ord_a", 2)]);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), a.next_after(Some(2)))
                .await
                .is_err()
        );
    }

    #[test]
    fn the_heartbeat_wakes_one_phase_of_the_streams_at_a_time_and_each_stream_once_a_period() {
        let changes = Changes::default();
        let mut beats: Vec<_> = (0..3 * BEAT_PHASES).map(|_| changes.heartbeat()).collect();
        let mut woken = vec![0usize; beats.len()];
        let mut phase = 0;
        for tick in 0..2 * BEAT_PHASES {
            phase = changes.beat(phase);
            let now: Vec<usize> = beats
                .iter_mut()
                .enumerate()
                .filter_map(|(i, b)| {
                    b.has_changed().unwrap().then(|| {
                        b.mark_unchanged();
                        i
                    })
                })
                .collect();
            assert_eq!(
                now.len(),
                3,
                "tick {tick} woke {now:?}, not the one phase (3 streams) it beats"
            );
            for i in now {
                woken[i] += 1;
            }
        }
        assert!(
            woken.iter().all(|&n| n == 2),
            "two periods, two beats each: {woken:?}"
        );
    }

    #[test]
    fn followers_are_capped_and_released_on_drop() {
        let changes = Changes::with_max_streams(2);
        let a = changes
            .follow(&MerchantId::default_merchant(), "r")
            .unwrap();
        let b = changes
            .follow(&MerchantId::default_merchant(), "r")
            .unwrap();
        assert_eq!(
            changes.follow(&MerchantId::default_merchant(), "s").err(),
            Some(Full(2))
        );
        drop(a);
        let c = changes
            .follow(&MerchantId::default_merchant(), "s")
            .unwrap();
        assert_eq!(changes.open(), 2);
        drop((b, c));
        assert_eq!(changes.open(), 0);
        assert!(
            changes.inner.followed.lock().unwrap().is_empty(),
            "no entry left behind"
        );
    }
}
