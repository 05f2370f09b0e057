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

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use keffi_shared::edge::EdgeSettings;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::access::auth::AdminAuth;
use crate::config::{redact_url, DbConfig, ServeConfig, SweepConfig};
use crate::puller::client::EdgeClient;
use crate::puller::status::PullerStatus;
use crate::puller::PullerConfig;
use crate::reconciler::ReconcilerConfig;
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

/// Runs the service on `listener` until `shutdown` fires: the HTTP API, and the puller if an
/// edge is set. On shutdown the puller finishes the batch in flight and the server drains its
/// requests. `cfg.listen` is not used: the caller binds (the binary binds `KEFFI_LISTEN` with
/// [`bind`], tests bind port 0 and read the port from the listener).
pub async fn serve(
    cfg: ServeConfig,
    listener: TcpListener,
    shutdown: shutdown::Shutdown,
) -> anyhow::Result<()> {
    Ledger::build(cfg).await?.run(listener, shutdown).await
}

/// Binds the HTTP address (`KEFFI_LISTEN`), with an error naming the setting.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("KEFFI_LISTEN: cannot listen on {addr}"))
}

/// A ledger ready to take connections: its settings checked, its database connected and
/// migrated. [`serve`] is [`Ledger::build`] then [`Ledger::run`]; the binary binds between the
/// two, so a bad setting or an unusable database is reported before the port is taken.
pub struct Ledger {
    store: Store,
    settings: Settings,
}

/// The service's settings, resolved and checked.
struct Settings {
    puller: Option<PullerConfig>,
    sweep: SweepConfig,
    reconciler: Option<ReconcilerConfig>,
    auth: AdminAuth,
    hooks: Option<Arc<EdgeSettings>>,
    sse_max_age: Duration,
    max_streams: usize,
    status_catch_up: Duration,
    demo: bool,
    default_gateway: keffi_shared::Provider,
}

impl Settings {
    fn resolve(cfg: &ServeConfig) -> anyhow::Result<Settings> {
        let puller = cfg.puller.resolve()?;
        let sweep = cfg.sweep()?;
        let reconciler = cfg.reconciler.resolve(
            puller
                .as_ref()
                .map(|p| (p.edge_url.as_str(), &p.edge_token)),
        )?;
        let auth = cfg.admin_auth()?;
        if matches!(auth, AdminAuth::Disabled) {
            tracing::warn!("--insecure-no-auth: the admin API is open to anyone who can reach it; local development only");
        }
        Ok(Settings {
            puller,
            sweep,
            reconciler,
            auth,
            hooks: hook_settings()?,
            sse_max_age: Duration::from_secs(cfg.sse_max_seconds.max(1)),
            max_streams: cfg.max_streams,
            status_catch_up: cfg.status_catch_up.max(Duration::from_millis(100)),
            demo: cfg.demo,
            default_gateway: cfg.default_gateway,
        })
    }
}

impl Ledger {
    /// Checks the settings, connects to the database and migrates it (unless told not to).
    pub async fn build(cfg: ServeConfig) -> anyhow::Result<Ledger> {
        let settings = Settings::resolve(&cfg)?;
        let store = connect(&cfg.db).await?;
        if !cfg.no_migrate {
            store.migrate().await.context("migrating the database")?;
        }
        Ok(Ledger { store, settings })
    }

    /// Serves on `listener` with the background tasks beside it until `shutdown` fires, then
    /// waits for each task to finish its work in flight and closes the database.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: shutdown::Shutdown,
    ) -> anyhow::Result<()> {
        let Ledger { store, settings } = self;
        let shared = Shared::new(&settings);
        let metrics = telemetry_metrics::install();
        let background = Background::spawn(&store, &settings, &shared, &shutdown);
        let edge = settings
            .puller
            .as_ref()
            .map(|p| EdgeClient::new(&p.edge_url, &p.edge_token))
            .transpose()
            .context("building the edge's HTTP client")?;
        let state = state::AppState {
            store: store.clone(),
            puller: shared.status,
            hooks: settings.hooks,
            edge,
            changes: shared.changes,
            auth: settings.auth,
            shutdown: shutdown.clone(),
            last_reconcile: shared.last_reconcile,
            sse_max_age: settings.sse_max_age,
            default_gateway: settings.default_gateway,
            metrics,
        };
        tracing::info!(addr = %listener.local_addr()?, backend = store.backend(), "keffi-ledger listening");
        serve_http(listener, app(state, settings.demo), shutdown).await?;
        background.join().await?;
        store.close().await;
        tracing::info!("keffi-ledger stopped");
        Ok(())
    }
}

/// What the HTTP handlers and the background tasks share.
struct Shared {
    status: Arc<PullerStatus>,
    changes: changes::Changes,
    last_reconcile: reconciler::LastRun,
}

impl Shared {
    fn new(settings: &Settings) -> Shared {
        Shared {
            status: Arc::new(if settings.puller.is_some() {
                PullerStatus::enabled()
            } else {
                PullerStatus::disabled()
            }),
            changes: changes::Changes::with_max_streams(settings.max_streams),
            last_reconcile: reconciler::LastRun::default(),
        }
    }
}

/// How often an idle status stream sends a keep-alive comment, so proxies and mobile
/// networks do not take it for dead (axum's default keep-alive period).
const STREAM_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The tasks that run beside the HTTP server until shutdown.
struct Background {
    relay: Option<JoinHandle<()>>,
    catch_up: JoinHandle<()>,
    heartbeat: JoinHandle<()>,
    puller: Option<JoinHandle<anyhow::Result<()>>>,
    sweeper: JoinHandle<()>,
    statistics: JoinHandle<()>,
    reconciler: Option<JoinHandle<()>>,
}

impl Background {
    fn spawn(
        store: &Store,
        settings: &Settings,
        shared: &Shared,
        shutdown: &shutdown::Shutdown,
    ) -> Background {
        // Other replicas' commits reach this one's live status streams through the database.
        let relay = match store {
            Store::Postgres(pool) => Some(tokio::spawn(changes::relay_postgres(
                pool.clone(),
                shared.changes.clone(),
                shutdown.clone(),
            ))),
            Store::Sqlite(_) => None,
        };
        // One shared reader finds what a lost notification (or a writer that could not name
        // what it moved) missed, for every stream at once.
        let catch_up = tokio::spawn(changes::catch_up(
            store.clone(),
            shared.changes.clone(),
            settings.status_catch_up,
            shutdown.clone(),
        ));
        // The keep-alive and lifetime clock of every stream: as often as a keep-alive is due,
        // and twice per `KEFFI_SSE_MAX_SECONDS` at least, so a stream ends within half its
        // lifetime of it (and a short-lived stream still sees a keep-alive).
        let heartbeat = tokio::spawn(changes::heartbeat(
            shared.changes.clone(),
            (settings.sse_max_age / 2).min(STREAM_KEEP_ALIVE),
            shutdown.clone(),
        ));
        let puller = settings.puller.clone().map(|pc| {
            tokio::spawn(puller::run(
                store.clone(),
                pc,
                shared.status.clone(),
                shared.changes.clone(),
                shutdown.clone(),
            ))
        });
        if puller.is_none() {
            tracing::info!("no KEFFI_EDGE_URL: the puller is off");
        }
        // A periodic sweep repairs what concurrent transactions could not see of each other
        // (events parked behind another replica's charge, orders created while their charge
        // was applied); it also gives up on events parked longer than the park timeout.
        let sweeper = tokio::spawn(pipeline::sweep_forever(
            store.clone(),
            settings.sweep.clone(),
            shared.changes.clone(),
            shutdown.clone(),
        ));
        // A new Postgres database gets planner statistics as soon as its busy tables have
        // rows, not at autovacuum's first nap (see `store::statistics`).
        let statistics = tokio::spawn(crate::store::statistics::first_statistics_forever(
            store.clone(),
            Duration::from_secs(2),
            shutdown.clone(),
        ));
        let reconciler = match settings.reconciler.clone() {
            Some(rc) => Some(tokio::spawn(reconciler::run(
                store.clone(),
                rc,
                shared.changes.clone(),
                shared.last_reconcile.clone(),
                shutdown.clone(),
            ))),
            None => {
                tracing::info!("no KEFFI_PAYSTACK_SECRET_KEY nor KEFFI_RECONCILE_VIA_EDGE: the reconciler is off");
                None
            }
        };
        Background {
            relay,
            catch_up,
            heartbeat,
            puller,
            sweeper,
            statistics,
            reconciler,
        }
    }

    /// Waits for every task (each stops on the shutdown signal), the puller's error first.
    async fn join(self) -> anyhow::Result<()> {
        if let Some(p) = self.puller {
            p.await.context("puller task")??;
        }
        if let Some(r) = self.reconciler {
            r.await.context("reconciler task")?;
        }
        self.sweeper.await.context("sweep task")?;
        self.statistics.await.context("first statistics")?;
        if let Some(r) = self.relay {
            r.await.context("change-notification relay")?;
        }
        self.catch_up.await.context("status catch-up")?;
        self.heartbeat.await.context("stream heartbeat")?;
        Ok(())
    }
}

/// The HTTP application: the API and, with `--demo`, the demo checkout.
fn app(state: state::AppState, demo: bool) -> axum::Router {
    let app = http::router(state.clone());
    if !demo {
        return app;
    }
    tracing::warn!("--demo: serving the demo checkout at /demo/checkout (local development only)");
    app.merge(demo::routes().with_state(state))
}

/// Serves `app` on `listener` until `shutdown`, then drains the requests in flight.
async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    shutdown: shutdown::Shutdown,
) -> anyhow::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.wait())
    .await
    .context("HTTP server failed")
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
