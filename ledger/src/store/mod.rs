//! The ledger's storage: Postgres (production, several replicas) or SQLite (embedded, one
//! merchant, local dev), chosen by the database URL. Both run the same SQL — written once, in
//! the portable subset both accept (`$N` parameters, `ON CONFLICT`, `RETURNING`) — and differ
//! only where they must: row locks (`FOR UPDATE`, Postgres only; SQLite serialises writers),
//! migrations (one set per backend) and connection setup. One contract suite tests both.

mod bulk;
mod conn;
mod rows;
mod tx;

pub mod audit;
pub mod client_secrets;
pub mod cursors;
pub mod idempotency;
pub mod journal;
pub mod merchants;
pub mod notify;
pub mod orders;
pub mod reconcile;
pub mod records;
pub mod splits;
pub mod statistics;
pub mod timeline;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use bulk::{OutcomeRow, SettledInbox};
pub use rows::{InboxEvent, InboxStatus, NewInboxEvent};
pub use tx::Tx;

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL must start with sqlite:// or postgres:// (got `{0}`)")]
    UnsupportedUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Another writer recorded the same event between this batch's check and its insert (two
    /// replicas during a lease hand-over): the batch rolls back and is applied again.
    #[error("event `{0}` was recorded by another writer at the same moment")]
    Raced(String),
}

/// A connection pool to one of the two backends.
#[derive(Debug, Clone)]
pub enum Store {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Postgres connections at most (SQLite always uses one writer connection).
    pub max_connections: u32,
    /// How long to wait for a connection before failing (so an unreachable database is an
    /// error, not a hang).
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl Store {
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url).map_err(StoreError::Connect)?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(opts)
                .await
                .map_err(StoreError::Connect)?;
            Ok(Store::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(StoreError::Connect)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // A ledger's commit must survive a power cut, not only a process crash.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            // One connection: SQLite has one writer anyway, and a single connection makes every
            // transaction serialisable without lock-upgrade deadlocks.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(opts)
                .await
                .map_err(StoreError::Connect)?;
            Ok(Store::Sqlite(pool))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Postgres(_) => "postgres",
            Store::Sqlite(_) => "sqlite",
        }
    }

    /// Applies the backend's migrations (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Postgres(pool) => PG_MIGRATIONS.run(pool).await?,
            Store::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        conn::on_pool!(self, c => sqlx::query("SELECT 1").execute(c).await.map(|_| ()))?;
        Ok(())
    }

    /// Starts a transaction: everything the pipeline writes for a batch goes through one.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Store::Postgres(pool) => Tx::Postgres(pool.begin().await?),
            Store::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
        })
    }

    pub async fn close(&self) {
        match self {
            Store::Postgres(pool) => pool.close().await,
            Store::Sqlite(pool) => pool.close().await,
        }
    }
}

/// Milliseconds since the Unix epoch, the ledger's one clock format.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
