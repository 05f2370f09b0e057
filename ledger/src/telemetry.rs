//! Logging, set up once for the whole process.

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

pub fn init(cfg: &LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&cfg.log).map_err(|e| {
        anyhow::anyhow!("invalid log filter {:?} (--log / KEFFI_LOG): {e}", cfg.log)
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}
