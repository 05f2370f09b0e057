//! `keffi-ledger`: flags in, library call out. Errors end here as one clear line.

use clap::Parser;
use keffi_ledger::config::{Cli, Command};
use keffi_ledger::{shutdown, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keffi-ledger: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    telemetry::init(&cli.log)?;
    match cli.command {
        Command::Serve(cfg) => {
            let (trigger, shutdown) = shutdown::channel();
            tokio::spawn(shutdown::on_signals(trigger));
            keffi_ledger::serve(cfg, shutdown).await
        }
    }
}
