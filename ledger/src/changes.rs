//! "Something was applied": a cheap in-process signal that wakes live status streams at once
//! after a commit on this replica. On Postgres, commits that move orders also `NOTIFY` a
//! channel ([`CHANNEL`]) in their transaction, and every replica relays it here
//! ([`relay_postgres`]), so a stream on one replica flips as soon as another applies the
//! payment. Streams still re-read on a short timer, for anything a lost notification misses.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::shutdown::Shutdown;

/// The Postgres channel commits announce changes on.
pub const CHANNEL: &str = "keffi_changes";

#[derive(Debug, Clone)]
pub struct Changes {
    tx: watch::Sender<u64>,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            tx: watch::channel(0).0,
        }
    }
}

impl Changes {
    pub fn notify(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

/// Relays the database's change notifications into `changes` until shutdown. A dropped
/// connection is re-established (sqlx's listener reconnects on the next receive); while it is
/// down, streams fall back to their timer.
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
                Ok(_) => changes.notify(),
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
