//! Every setting of `keffi-ledger`, with its flag, its `KEFFI_…` environment fall-back and its
//! default, in one place.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

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
    /// Run the HTTP service.
    Serve(ServeConfig),
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address the HTTP API listens on.
    #[arg(long, env = "KEFFI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Args)]
pub struct LogConfig {
    /// Log as JSON lines (for log shippers) instead of human-readable text.
    #[arg(long, env = "KEFFI_LOG_JSON", global = true)]
    pub log_json: bool,
    /// Log filter, `tracing` syntax (e.g. `info,keffi_ledger=debug`).
    #[arg(long, env = "KEFFI_LOG", default_value = "info", global = true)]
    pub log: String,
}
