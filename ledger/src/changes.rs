//! "Something was applied": a cheap in-process signal that wakes live status streams at once
//! after a commit on this replica. Streams also re-read on a short timer, which is how they see
//! changes committed by other replicas sharing the database.

use tokio::sync::watch;

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
