//! Keffi's ledger: the central service that pulls buffered webhook envelopes from the edge and
//! applies each exactly once to orders, payments and a double-entry journal, and serves the
//! admin API. The library holds everything; `main.rs` only parses flags and calls it, so tests
//! build the same application the binary runs.
//!
//! It never applies an event twice (the inbox key is unique forever), never updates or deletes a
//! journal entry, and never holds money as a float.

pub mod config;
pub mod domain;
pub mod http;
pub mod pipeline;
pub mod shutdown;
pub mod store;
pub mod telemetry;

use anyhow::Context as _;
use tokio::net::TcpListener;

/// Runs the HTTP server until `shutdown` fires, then drains in-flight requests.
pub async fn serve(cfg: config::ServeConfig, shutdown: shutdown::Shutdown) -> anyhow::Result<()> {
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen / KEFFI_LISTEN)", cfg.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "keffi-ledger listening");
    axum::serve(listener, http::router())
        .with_graceful_shutdown(shutdown.wait())
        .await
        .context("HTTP server failed")?;
    tracing::info!("keffi-ledger stopped");
    Ok(())
}
