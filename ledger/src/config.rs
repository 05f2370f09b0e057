//! Every setting of `keffi-ledger`, with its flag, its `KEFFI_…` environment fall-back and its
//! default, in one place.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use keffi_shared::Secret;

use crate::puller::PullerConfig;

#[derive(Debug, Parser)]
#[command(name = "keffi-ledger", version, about = "Keffi's ledger service")]
pub struct Cli {
    #[command(flatten)]
    pub log: LogConfig,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: HTTP API, and the puller when an edge is configured.
    Serve(ServeConfig),
    /// Apply database migrations and exit.
    Migrate(DbConfig),
    /// Create an order, with the same rules and messages as the admin API's `POST /v1/orders`.
    CreateOrder(CreateOrderArgs),
    /// Show an order, its payment and its journal.
    Status(StatusArgs),
    /// Show journal balances per account and currency, and inbox counts.
    Balances(BalancesArgs),
    /// Run one reconciler pass now: ask the gateway about stale pending payments.
    Reconcile(ReconcileArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ReconcilerArgs {
    /// Paystack secret key for the Verify Transaction API: the default merchant's account.
    /// Without it (and without --reconcile-via-edge) the reconciler is off.
    #[arg(long, env = "KEFFI_PAYSTACK_SECRET_KEY", hide_env_values = true)]
    pub paystack_secret_key: Option<Secret>,
    /// Reconcile every merchant's payments, each asked with its own Paystack source's key
    /// through the edge (which alone holds the keys of runtime sources): needs KEFFI_EDGE_URL.
    /// The default merchant's go to Paystack directly when KEFFI_PAYSTACK_SECRET_KEY is set.
    #[arg(long, env = "KEFFI_RECONCILE_VIA_EDGE")]
    pub reconcile_via_edge: bool,
    /// Paystack API base URL.
    #[arg(
        long,
        env = "KEFFI_PAYSTACK_API_BASE",
        default_value = "https://api.paystack.co"
    )]
    pub paystack_api_base: String,
    /// Time between background passes.
    #[arg(long, env = "KEFFI_RECONCILE_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub reconcile_interval: Duration,
    /// Only payments pending at least this long are checked.
    #[arg(long, env = "KEFFI_RECONCILE_MIN_AGE", default_value = "15m", value_parser = humantime::parse_duration)]
    pub reconcile_min_age: Duration,
    /// A payment the gateway still does not know after this long is marked abandoned.
    #[arg(long, env = "KEFFI_RECONCILE_GIVE_UP", default_value = "24h", value_parser = humantime::parse_duration)]
    pub reconcile_give_up: Duration,
    /// Gateway calls per second at most.
    #[arg(long, env = "KEFFI_RECONCILE_RPS", default_value_t = 5.0)]
    pub reconcile_rps: f64,
    /// Payments checked per pass at most.
    #[arg(long, env = "KEFFI_RECONCILE_MAX_PER_RUN", default_value_t = 500)]
    pub reconcile_max_per_run: u32,
    /// Timeout of one gateway call.
    #[arg(long, env = "KEFFI_RECONCILE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub reconcile_timeout: Duration,
}

impl ReconcilerArgs {
    /// The reconciler's settings; `None` without a secret key or the edge to ask through.
    /// `edge` is the edge's URL and pull token, when one is configured.
    pub fn resolve(
        &self,
        edge: Option<(&str, &Secret)>,
    ) -> Result<Option<crate::reconciler::ReconcilerConfig>, ConfigError> {
        let via_edge = match (self.reconcile_via_edge, edge) {
            (false, _) => None,
            (true, Some((url, token))) => Some(crate::reconciler::EdgeVerify {
                url: url.to_owned(),
                token: token.clone(),
            }),
            (true, None) => {
                return Err(ConfigError {
                    setting: "KEFFI_RECONCILE_VIA_EDGE",
                    problem: "needs the edge: set KEFFI_EDGE_URL and KEFFI_EDGE_TOKEN".into(),
                })
            }
        };
        let key = self.paystack_secret_key.clone();
        if key.is_none() && via_edge.is_none() {
            return Ok(None);
        }
        if !(self.reconcile_rps > 0.0 && self.reconcile_rps.is_finite())
            || self.reconcile_max_per_run == 0
        {
            return Err(ConfigError {
                setting: "KEFFI_RECONCILE_RPS / KEFFI_RECONCILE_MAX_PER_RUN",
                problem: "must be positive".into(),
            });
        }
        if !self.paystack_api_base.starts_with("http") {
            return Err(ConfigError {
                setting: "KEFFI_PAYSTACK_API_BASE",
                problem: format!("`{}` is not an http(s) URL", self.paystack_api_base),
            });
        }
        Ok(Some(crate::reconciler::ReconcilerConfig {
            api_base: self.paystack_api_base.clone(),
            secret_key: key,
            via_edge,
            interval: self.reconcile_interval,
            min_age: self.reconcile_min_age,
            give_up_after: self.reconcile_give_up,
            rate_per_second: self.reconcile_rps,
            max_per_run: self.reconcile_max_per_run,
            timeout: self.reconcile_timeout,
        }))
    }
}

#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub db: DbConfig,
    #[command(flatten)]
    pub reconciler: ReconcilerArgs,
    /// The edge, for --reconcile-via-edge.
    #[command(flatten)]
    pub puller: PullerArgs,
    /// The merchant whose payment `--reference` names (its id; the deployment's own merchant when absent).
    #[arg(long, default_value = keffi_shared::MerchantId::DEFAULT, value_parser = parse_merchant)]
    pub merchant: keffi_shared::MerchantId,
    /// Check only this payment reference (the `--merchant`'s).
    #[arg(long)]
    pub reference: Option<String>,
    /// Check payments pending at least this long (default: --reconcile-min-age), e.g. `10m`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub older_than: Option<Duration>,
    /// Ask the gateway and report, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DbConfig {
    /// `sqlite://FILE` (created on first run) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "KEFFI_DATABASE_URL", default_value = "sqlite://keffi.db")]
    pub database_url: String,
    /// Postgres connections at most (SQLite uses one).
    #[arg(long, env = "KEFFI_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub db: DbConfig,
    /// Address the HTTP API listens on.
    #[arg(long, env = "KEFFI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Do not run migrations at start (run `keffi-ledger migrate` yourself).
    #[arg(long, env = "KEFFI_NO_MIGRATE")]
    pub no_migrate: bool,
    #[command(flatten)]
    pub puller: PullerArgs,
    #[command(flatten)]
    pub reconciler: ReconcilerArgs,
    /// Bearer tokens for the admin API, comma-separated: `name:scope:token` (scope `read`,
    /// `operate` or `admin`) or a bare token (a full admin named `admin-N`).
    #[arg(long, env = "KEFFI_ADMIN_TOKENS", hide_env_values = true)]
    pub admin_tokens: Option<Secret>,
    /// Serve the admin API without authentication. Local development only.
    #[arg(long, env = "KEFFI_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Seconds a live status stream lasts before the server ends it; clients reconnect with
    /// Last-Event-ID and miss nothing.
    #[arg(long, env = "KEFFI_SSE_MAX_SECONDS", default_value_t = 300)]
    pub sse_max_seconds: u64,
    /// Live status streams this ledger holds open at most; past it a new stream is refused
    /// with 503 and Retry-After (the client library polls instead).
    #[arg(long, env = "KEFFI_MAX_STREAMS", default_value_t = crate::changes::DEFAULT_MAX_STREAMS)]
    pub max_streams: usize,
    /// How often the status streams' shared catch-up looks for changes a lost notification
    /// missed.
    #[arg(long, env = "KEFFI_STATUS_CATCH_UP", default_value = "1s", value_parser = humantime::parse_duration)]
    pub status_catch_up: Duration,
    /// How often to repair what concurrent transactions could not see: events parked behind a
    /// charge another replica applied at the same moment, and orders created while their charge
    /// was being applied (they take the payment's state).
    #[arg(long, env = "KEFFI_PARKED_SWEEP_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub parked_sweep_interval: Duration,
    /// How long a parked event (a refund before its charge, a dispute resolution before its
    /// opening) may wait for what it needs before the sweep gives up on it: it becomes `dead`
    /// as orphaned, for review and replay. Paystack retries a delivery for about 72 hours, so
    /// what has not arrived by then is not coming.
    #[arg(long, env = "KEFFI_PARK_TIMEOUT", default_value = "72h", value_parser = humantime::parse_duration)]
    pub park_timeout: Duration,
    /// Serve the demo checkout at /demo/checkout, the ledger playing the merchant's backend.
    /// Local development only.
    #[arg(long, env = "KEFFI_DEMO")]
    pub demo: bool,
    /// The gateway an order is opened for when `POST /v1/orders` names none: `paystack`,
    /// `flutterwave` or `stripe`.
    #[arg(long, env = "KEFFI_DEFAULT_GATEWAY", default_value = "paystack", value_parser = parse_gateway)]
    pub default_gateway: keffi_shared::Provider,
}

/// The periodic sweep's settings (see `pipeline::sweep_forever`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepConfig {
    /// Time between sweeps.
    pub interval: Duration,
    /// A parked event that has waited this long becomes `dead` as orphaned.
    pub park_timeout: Duration,
    /// Rows read per query while walking the parked events (every one is reached: pages).
    pub page: u32,
}

impl ServeConfig {
    /// The sweep's settings; a zero park timeout is refused (it would give up on every event
    /// the moment it parks, before its charge could arrive).
    pub fn sweep(&self) -> Result<SweepConfig, ConfigError> {
        if self.park_timeout.is_zero() {
            return Err(ConfigError {
                setting: "KEFFI_PARK_TIMEOUT (--park-timeout)",
                problem: "must be greater than zero, e.g. `72h`".into(),
            });
        }
        Ok(SweepConfig {
            // A sweep every few milliseconds would only load the database.
            interval: self.parked_sweep_interval.max(Duration::from_millis(100)),
            park_timeout: self.park_timeout,
            page: 500,
        })
    }

    /// Who may call the admin API; refuses to start open unless explicitly told to, and
    /// refuses a token list it cannot read (naming the entry, never its text).
    pub fn admin_auth(&self) -> Result<crate::api::access::auth::AdminAuth, ConfigError> {
        use crate::api::access::auth::AdminAuth;
        use crate::api::access::tokens::AdminTokens;
        const SETTING: &str = "KEFFI_ADMIN_TOKENS (--admin-tokens)";
        let tokens = AdminTokens::parse(
            self.admin_tokens
                .as_ref()
                .and_then(Secret::expose_str)
                .unwrap_or_default(),
        )
        .map_err(|e| ConfigError {
            setting: SETTING,
            problem: e.to_string(),
        })?;
        match (tokens.is_empty(), self.insecure_no_auth) {
            (false, _) => Ok(AdminAuth::Tokens(std::sync::Arc::new(tokens))),
            (true, true) => Ok(AdminAuth::Disabled),
            (true, false) => Err(ConfigError {
                setting: SETTING,
                problem: "required: the admin API never runs open (for local development only, \
                          pass --insecure-no-auth)"
                    .into(),
            }),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct PullerArgs {
    /// The edge's base URL; without it the puller does not run.
    #[arg(long, env = "KEFFI_EDGE_URL")]
    pub edge_url: Option<String>,
    /// Bearer token for the edge's pull API (one of its KEFFI_PULL_TOKENS).
    #[arg(long, env = "KEFFI_EDGE_TOKEN", hide_env_values = true)]
    pub edge_token: Option<Secret>,
    /// Events per pull.
    #[arg(long, env = "KEFFI_PULL_BATCH", default_value_t = 200)]
    pub pull_batch: u32,
    /// Long-poll wait per pull, milliseconds.
    #[arg(long, env = "KEFFI_PULL_WAIT_MS", default_value_t = 15_000)]
    pub pull_wait_ms: u64,
    /// The least time between two pulls that found nothing, milliseconds: the polling
    /// interval when long-poll is off (KEFFI_PULL_WAIT_MS=0).
    #[arg(long, env = "KEFFI_PULL_IDLE_MS", default_value_t = 1_000)]
    pub pull_idle_ms: u64,
    /// Shard lease lifetime, milliseconds (a crashed replica's shards move after this).
    #[arg(long, env = "KEFFI_LEASE_TTL_MS", default_value_t = 30_000)]
    pub lease_ttl_ms: u64,
    /// This replica's name in shard leases (default: host and process id).
    #[arg(long, env = "KEFFI_REPLICA_ID")]
    pub replica_id: Option<String>,
    /// Largest backoff between failed attempts, milliseconds.
    #[arg(long, env = "KEFFI_BACKOFF_MAX_MS", default_value_t = 30_000)]
    pub backoff_max_ms: u64,
}

#[derive(Debug, Clone, Args)]
pub struct CreateOrderArgs {
    #[command(flatten)]
    pub db: DbConfig,
    /// The merchant whose order it is (its id; the deployment's own merchant when absent).
    #[arg(long, default_value = keffi_shared::MerchantId::DEFAULT, value_parser = parse_merchant)]
    pub merchant: keffi_shared::MerchantId,
    /// The payment reference the merchant's checkout will use: 1 to 100 of
    /// `A-Z a-z 0-9 . - _ =`.
    #[arg(long)]
    pub reference: String,
    /// Amount in minor units (kobo): 500000 is ₦5,000.00. At most 10^12.
    #[arg(long)]
    pub amount: i64,
    /// ISO 4217 code of a currency the gateway settles (NGN, GHS, ZAR, KES, USD, XOF, EGP, RWF).
    #[arg(long, default_value = "NGN")]
    pub currency: String,
    /// The gateway the order is paid through: `paystack`, `flutterwave` or `stripe`.
    #[arg(long, default_value = "paystack")]
    pub gateway: String,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub db: DbConfig,
    /// The merchant whose order it is (its id; the deployment's own merchant when absent).
    #[arg(long, default_value = keffi_shared::MerchantId::DEFAULT, value_parser = parse_merchant)]
    pub merchant: keffi_shared::MerchantId,
    /// The order's reference.
    pub reference: String,
}

#[derive(Debug, Clone, Args)]
pub struct BalancesArgs {
    #[command(flatten)]
    pub db: DbConfig,
    /// The merchant whose books to show (its id; the deployment's own merchant when absent).
    #[arg(long, default_value = keffi_shared::MerchantId::DEFAULT, value_parser = parse_merchant)]
    pub merchant: keffi_shared::MerchantId,
}

fn parse_gateway(s: &str) -> Result<keffi_shared::Provider, String> {
    crate::domain::order::order_gateway(s).map_err(|e| e.to_string())
}

fn parse_merchant(s: &str) -> Result<keffi_shared::MerchantId, keffi_shared::InvalidMerchantId> {
    keffi_shared::MerchantId::parse(s)
}

#[derive(Debug, Clone, Args)]
pub struct LogConfig {
    /// Log as JSON lines (for log shippers) instead of human-readable text.
    #[arg(long, env = "KEFFI_LOG_JSON", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub log_json: bool,
    /// Log filter, `tracing` syntax (e.g. `info,keffi_ledger=debug`).
    #[arg(long, env = "KEFFI_LOG", default_value = "info", global = true)]
    pub log: String,
}

/// A setting that cannot work, named so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

impl PullerArgs {
    /// The puller's settings, `None` when no edge is configured.
    pub fn resolve(&self) -> Result<Option<PullerConfig>, ConfigError> {
        let Some(url) = self
            .edge_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError {
                setting: "KEFFI_EDGE_URL (--edge-url)",
                problem: format!("`{url}` is not an http(s) URL"),
            });
        }
        let token = self.edge_token.clone().ok_or(ConfigError {
            setting: "KEFFI_EDGE_TOKEN (--edge-token)",
            problem: "required when KEFFI_EDGE_URL is set".into(),
        })?;
        if self.pull_batch == 0 || self.lease_ttl_ms < 1000 {
            return Err(ConfigError {
                setting: "KEFFI_PULL_BATCH / KEFFI_LEASE_TTL_MS",
                problem: "batch must be at least 1 and the lease at least 1000 ms".into(),
            });
        }
        let lease_ttl = Duration::from_millis(self.lease_ttl_ms);
        Ok(Some(PullerConfig {
            edge_url: url.trim_end_matches('/').to_owned(),
            edge_token: token,
            batch: self.pull_batch,
            // The lease is renewed once per pull: a pull must end well within it.
            wait: Duration::from_millis(self.pull_wait_ms).min(lease_ttl / 2),
            idle: Duration::from_millis(self.pull_idle_ms),
            lease_ttl,
            replica: self.replica_id.clone().unwrap_or_else(default_replica),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_millis(self.backoff_max_ms.max(200)),
        }))
    }
}

fn default_replica() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "ledger".into());
    format!("{host}-{}", std::process::id())
}

/// The URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: Option<&str>, token: Option<&str>) -> PullerArgs {
        PullerArgs {
            edge_url: url.map(String::from),
            edge_token: token.map(|t| t.parse().unwrap()),
            pull_batch: 100,
            pull_wait_ms: 20_000,
            pull_idle_ms: 1_000,
            lease_ttl_ms: 30_000,
            replica_id: Some("r1".into()),
            backoff_max_ms: 30_000,
        }
    }

    #[test]
    fn no_edge_no_puller_and_a_url_needs_a_token() {
        assert!(args(None, None).resolve().unwrap().is_none());
        let err = args(Some("http://edge"), None).resolve().unwrap_err();
        assert!(err.to_string().starts_with("KEFFI_EDGE_TOKEN"), "{err}");
        let err = args(Some("edge.example"), Some("t")).resolve().unwrap_err();
        assert!(err.to_string().starts_with("KEFFI_EDGE_URL"), "{err}");
        let cfg = args(Some("http://edge/"), Some("t"))
            .resolve()
            .unwrap()
            .unwrap();
        assert_eq!(cfg.edge_url, "http://edge");
        assert_eq!(
            cfg.wait,
            Duration::from_secs(15),
            "capped at half the lease"
        );
    }

    fn serve(extra: &[&str]) -> ServeConfig {
        let argv = ["keffi-ledger", "serve", "--insecure-no-auth"];
        let cli = Cli::try_parse_from(argv.iter().chain(extra)).unwrap();
        match cli.command {
            Command::Serve(cfg) => cfg,
            other => panic!("parsed {other:?}"),
        }
    }

    /// Every setting that holds a secret keeps it out of `Debug` (and so out of logs and
    /// panics), in the settings and in what they resolve to.
    #[test]
    fn secrets_never_show_in_debug_output() {
        let cfg = serve(&[
            "--admin-tokens",
            "adm_s3cr3t_one,adm_s3cr3t_two",
            "--edge-url",
            "http://edge.test",
            "--edge-token",
            "pull_s3cr3t",
            "--paystack-secret-key",
            "sk_live_s3cr3t",
            "--reconcile-via-edge",
        ]);
        let puller = cfg.puller.resolve().unwrap().unwrap();
        let edge = Some((puller.edge_url.as_str(), &puller.edge_token));
        let shown = format!("{cfg:?} {puller:?} {:?}", cfg.reconciler.resolve(edge));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        let reconciler = cfg.reconciler.resolve(edge).unwrap().unwrap();
        assert!(reconciler.secret_key.is_some() && reconciler.via_edge.is_some());
        assert!(
            cfg.reconciler.resolve(None).is_err(),
            "through the edge needs an edge"
        );
        assert!(
            Cli::try_parse_from(["keffi-ledger", "serve", "--edge-token", " "]).is_err(),
            "an empty secret is refused, not taken for none"
        );
    }

    /// A token list the ledger cannot read stops it at start, naming the setting and the
    /// entry but never the entry's text; the resolved tokens keep the secrets out of `Debug`.
    #[test]
    fn admin_tokens_are_checked_at_start() {
        let err = serve(&["--admin-tokens", "ops:operate:t1, viewer:reed:s3cr3t"])
            .admin_auth()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("KEFFI_ADMIN_TOKENS") && text.contains("entry 2"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t") && !text.contains("reed"), "{text}");
        let auth = serve(&["--admin-tokens", "viewer:read:s3cr3t,adm_s3cr3t"])
            .admin_auth()
            .unwrap();
        let shown = format!("{auth:?}");
        assert!(
            shown.contains("viewer:read") && !shown.contains("s3cr3t"),
            "{shown}"
        );
    }

    #[test]
    fn the_park_timeout_defaults_to_paystacks_retry_window_and_must_be_positive() {
        if std::env::var_os("KEFFI_PARK_TIMEOUT").is_none() {
            assert_eq!(
                serve(&[]).sweep().unwrap().park_timeout,
                Duration::from_secs(72 * 3600)
            );
        }
        let cfg = serve(&["--park-timeout", "90m"]).sweep().unwrap();
        assert_eq!(cfg.park_timeout, Duration::from_secs(90 * 60));
        let err = serve(&["--park-timeout", "0s"]).sweep().unwrap_err();
        assert!(err.to_string().starts_with("KEFFI_PARK_TIMEOUT"), "{err}");
        assert!(Cli::try_parse_from(["keffi-ledger", "serve", "--park-timeout", "soon"]).is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://keffi:s3cret@db:5432/keffi"),
            "postgres://keffi:***@db:5432/keffi"
        );
        assert_eq!(redact_url("sqlite://keffi.db"), "sqlite://keffi.db");
        assert_eq!(redact_url("postgres://keffi@db/k"), "postgres://keffi@db/k");
    }
}
