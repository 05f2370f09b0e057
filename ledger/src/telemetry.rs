//! Logging, set up once for the whole process.
//!
//! The work is traced in spans, so each log line says what it belongs to (with
//! `KEFFI_LOG_JSON=1`, the line's `span` is the innermost one and `spans` lists them all,
//! outermost first, each with its fields):
//!
//! | span | where | fields |
//! |---|---|---|
//! | `pull_cycle` | one pull → apply → ack round of a shard's puller | `shard`, `after` (the cursor), then once pulled `events`, `first_seq`, `last_seq`, then once applied `applied`, `duplicates`, `ignored`, `parked`, `dead`, `unparked` |
//! | `apply_batch` | one batch's transaction (pulled, direct hook, reconciler, demo) | `events`, then `applied`, `duplicates`, `ignored`, `parked`, `dead`, `unparked` |
//! | `http_request` | one HTTP request | `method`, `route` (the matched route, `/v1/orders/{reference}`, never the raw path), then `status`, `latency_ms` |
//! | `reconcile_pass`, `reconcile_check` | a reconciler pass; one payment's check in it | `dry_run`; `reference`, then `outcome` |
//!
//! At `info` a pulled batch is one line (`batch applied and acked`, in its `pull_cycle` with
//! every field); `KEFFI_LOG=info,keffi_ledger=debug` adds the pull, the batch's commit and
//! every HTTP response.

use std::io::IsTerminal as _;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Installs the process-wide subscriber, writing to stderr: in colour on a terminal, plain
/// text when stderr is a file or a pipe (a log collector would keep the escape codes), and
/// never in colour when `NO_COLOR` is set.
pub fn init(cfg: &LogConfig) -> anyhow::Result<()> {
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    subscriber(cfg, ansi, std::io::stderr)?.init();
    Ok(())
}

/// The subscriber [`init`] installs, writing to `writer` (tests capture the lines with it),
/// with ANSI colour codes only if `ansi`.
pub fn subscriber<W>(
    cfg: &LogConfig,
    ansi: bool,
    writer: W,
) -> anyhow::Result<Box<dyn Subscriber + Send + Sync>>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&cfg.log).map_err(|e| {
        anyhow::anyhow!("invalid log filter {:?} (--log / KEFFI_LOG): {e}", cfg.log)
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    Ok(if cfg.log_json {
        Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .finish(),
        )
    } else {
        Box::new(builder.finish())
    })
}
