//! One shutdown signal shared by every task (HTTP server, puller, reconciler), so SIGTERM and
//! SIGINT stop them all and each finishes the work in flight first.

use tokio::sync::watch;

/// A cloneable handle: `wait()` resolves once shutdown has been requested.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The side that requests shutdown.
#[derive(Debug)]
pub struct Trigger {
    tx: watch::Sender<bool>,
}

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger { tx }, Shutdown { rx })
}

impl Trigger {
    pub fn fire(&self) {
        let _ = self.tx.send(true);
    }
}

impl Shutdown {
    pub async fn wait(mut self) {
        // An error means every trigger is gone, which is also the end.
        let _ = self.rx.wait_for(|stop| *stop).await;
    }

    pub fn is_requested(&self) -> bool {
        *self.rx.borrow()
    }
}

/// Fires `trigger` on SIGINT or SIGTERM.
pub async fn on_signals(trigger: Trigger) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler only fails outside a runtime");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested; finishing work in flight");
    trigger.fire();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger() {
        let (trigger, shutdown) = channel();
        let a = shutdown.clone();
        assert!(!a.is_requested());
        trigger.fire();
        a.wait().await;
        assert!(shutdown.is_requested());
    }
}
