//! Keffi's ledger: the central service that pulls buffered webhook envelopes from the edge and
//! applies each exactly once to orders, payments and a double-entry journal, and serves the
//! admin API. The library holds everything; `main.rs` only parses flags and calls it, so tests
//! build the same application the binary runs.
//!
//! It never applies an event twice (the inbox key is unique forever), never updates or deletes a
//! journal entry, and never holds money as a float.

pub mod api;
pub mod changes;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod pipeline;
pub mod puller;
pub mod reconciler;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod telemetry_metrics;

use std::sync::Arc;

use anyhow::Context as _;
use keffi_shared::edge::EdgeSettings;
use tokio::net::TcpListener;

use crate::config::{redact_url, DbConfig, ServeConfig};
use crate::puller::status::PullerStatus;
use crate::store::{ConnectOptions, Store};

/// Connects to the configured database, with an error naming the setting.
pub async fn connect(db: &DbConfig) -> anyhow::Result<Store> {
    let options = ConnectOptions {
        max_connections: db.db_max_connections.max(1),
        ..ConnectOptions::default()
    };
    Store::connect(&db.database_url, &options)
        .await
        .with_context(|| {
            format!(
                "KEFFI_DATABASE_URL ({}) is not usable",
                redact_url(&db.database_url)
            )
        })
}

/// Runs the service until `shutdown` fires: the HTTP API, and the puller if an edge is set.
/// On shutdown the puller finishes the batch in flight and the server drains its requests.
pub async fn serve(cfg: ServeConfig, shutdown: shutdown::Shutdown) -> anyhow::Result<()> {
    let puller_cfg = cfg.puller.resolve()?;
    let sweep_cfg = cfg.sweep()?;
    let reconciler_cfg = cfg.reconciler.resolve()?;
    let auth = cfg.admin_auth()?;
    if matches!(auth, api::auth::AdminAuth::Disabled) {
        tracing::warn!("--insecure-no-auth: the admin API is open to anyone who can reach it; local development only");
    }
    let hooks = hook_settings()?;
    let store = connect(&cfg.db).await?;
    if !cfg.no_migrate {
        store.migrate().await.context("migrating the database")?;
    }
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("KEFFI_LISTEN: cannot listen on {}", cfg.listen))?;
    let status = Arc::new(match puller_cfg {
        Some(_) => PullerStatus::enabled(),
        None => PullerStatus::disabled(),
    });
    let changes = changes::Changes::default();
    // Other replicas' commits reach this one's live status streams through the database.
    let relay = match &store {
        Store::Postgres(pool) => Some(tokio::spawn(changes::relay_postgres(
            pool.clone(),
            changes.clone(),
            shutdown.clone(),
        ))),
        Store::Sqlite(_) => None,
    };
    let metrics = telemetry_metrics::install();
    let puller = puller_cfg.map(|pc| {
        tokio::spawn(puller::run(
            store.clone(),
            pc,
            status.clone(),
            changes.clone(),
            shutdown.clone(),
        ))
    });
    if puller.is_none() {
        tracing::info!("no KEFFI_EDGE_URL: the puller is off");
    }
    // What concurrent transactions could not see of each other (events parked behind another
    // replica's charge, orders created while their charge was applied) a periodic sweep
    // repairs; it also gives up on events parked longer than the park timeout.
    let sweeper = tokio::spawn(pipeline::sweep_forever(
        store.clone(),
        sweep_cfg,
        changes.clone(),
        shutdown.clone(),
    ));
    let last_reconcile = reconciler::LastRun::default();
    let reconciler_task = match reconciler_cfg {
        Some(rc) => Some(tokio::spawn(reconciler::run(
            store.clone(),
            rc,
            changes.clone(),
            last_reconcile.clone(),
            shutdown.clone(),
        ))),
        None => {
            tracing::info!("no KEFFI_PAYSTACK_SECRET_KEY: the reconciler is off");
            None
        }
    };
    let state = state::AppState {
        store: store.clone(),
        puller: status,
        hooks,
        changes,
        auth,
        shutdown: shutdown.clone(),
        last_reconcile,
        sse_max_age: std::time::Duration::from_secs(cfg.sse_max_seconds.max(1)),
        metrics,
    };
    tracing::info!(addr = %listener.local_addr()?, backend = store.backend(), "keffi-ledger listening");
    let mut app = http::router(state.clone());
    if cfg.demo {
        tracing::warn!(
            "--demo: serving the demo checkout at /demo/checkout (local development only)"
        );
        app = app.merge(demo::routes().with_state(state));
    }
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().wait())
    .await
    .context("HTTP server failed")?;
    if let Some(p) = puller {
        p.await.context("puller task")??;
    }
    if let Some(r) = reconciler_task {
        r.await.context("reconciler task")?;
    }
    sweeper.await.context("sweep task")?;
    if let Some(r) = relay {
        r.await.context("change-notification relay")?;
    }
    store.close().await;
    tracing::info!("keffi-ledger stopped");
    Ok(())
}

/// Sources for the ledger's own `/hooks/{source}`: the edge's format (`KEFFI_SOURCES` and
/// `KEFFI_SECRET_<NAME>`), read from the environment. Absent: the route answers 404.
fn hook_settings() -> anyhow::Result<Option<Arc<EdgeSettings>>> {
    if std::env::var_os("KEFFI_SOURCES").is_none() {
        return Ok(None);
    }
    let settings = EdgeSettings::from_lookup(&|name: &str| std::env::var(name).ok())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(Arc::new(settings)))
}
