//! `keffi-ledger`: flags in, library call out. Errors end here as one clear line.

use clap::Parser;
use keffi_ledger::config::{Cli, Command};
use keffi_ledger::domain::order::NewOrder;
use keffi_ledger::store::now_ms;
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
            let listen = cfg.listen;
            let ledger = keffi_ledger::Ledger::build(cfg).await?;
            let listener = keffi_ledger::bind(listen).await?;
            // On stdout, apart from the logs and whatever their format: a supervisor (or a
            // test) that asked for port 0 reads the port it got from this line.
            println!("listening on {}", listener.local_addr()?);
            ledger.run(listener, shutdown).await
        }
        Command::Migrate(db) => {
            let store = keffi_ledger::connect(&db).await?;
            store.migrate().await?;
            println!("migrated ({})", store.backend());
            Ok(())
        }
        Command::CreateOrder(args) => {
            // The admin API's rules and messages, checked before the database is touched.
            let gateway = keffi_ledger::domain::order::order_gateway(&args.gateway)?;
            let new = NewOrder::parse(&args.reference, args.amount, &args.currency, gateway)?;
            let store = keffi_ledger::connect(&args.db).await?;
            store.migrate().await?;
            let order = store
                .create_order_via(
                    &args.merchant,
                    new.reference.as_str(),
                    new.amount,
                    new.currency,
                    new.gateway,
                    None,
                    now_ms(),
                )
                .await?;
            println!("{}", serde_json::to_string_pretty(&order)?);
            Ok(())
        }
        Command::Status(args) => {
            let store = keffi_ledger::connect(&args.db).await?;
            let order = store.order(&args.merchant, &args.reference).await?;
            let payment = store.payment(&args.merchant, &args.reference).await?;
            anyhow::ensure!(
                order.is_some() || payment.is_some(),
                "no order or payment with reference `{}`",
                args.reference
            );
            let journal = store.journal_for(&args.merchant, &args.reference).await?;
            let view =
                serde_json::json!({ "order": order, "payment": payment, "journal": journal });
            println!("{}", serde_json::to_string_pretty(&view)?);
            Ok(())
        }
        Command::Reconcile(args) => reconcile(args).await,
        Command::Balances(args) => {
            use keffi_ledger::store::{cursors::Cursor, journal::Balance, records::StatusCount};
            // A struct, not `json!`: a `serde_json::Value` cannot hold a balance beyond 64 bits
            // (the macro would panic), while serialising the struct writes it exactly.
            #[derive(serde::Serialize)]
            struct View {
                balances: Vec<Balance>,
                inbox: Vec<StatusCount>,
                cursors: Vec<Cursor>,
            }
            let store = keffi_ledger::connect(&args.db).await?;
            let view = View {
                balances: store.balances(&args.merchant).await?,
                inbox: store.inbox_counts(&args.merchant).await?,
                cursors: store.cursors().await?,
            };
            println!("{}", serde_json::to_string_pretty(&view)?);
            Ok(())
        }
    }
}

/// One reconciler pass from the command line: a progress bar on a terminal, a summary table.
async fn reconcile(args: keffi_ledger::config::ReconcileArgs) -> anyhow::Result<()> {
    use keffi_ledger::reconciler::{self, decide::Outcome, PassOptions};
    use std::io::IsTerminal;
    let edge = args.puller.resolve()?;
    let cfg = args
        .reconciler
        .resolve(edge.as_ref().map(|p| (p.edge_url.as_str(), &p.edge_token)))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "KEFFI_PAYSTACK_SECRET_KEY (--paystack-secret-key) or --reconcile-via-edge is \
                 required to reconcile"
            )
        })?;
    let store = keffi_ledger::connect(&args.db).await?;
    store.migrate().await?;
    let bar = indicatif::ProgressBar::new(0);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} checked {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let options = PassOptions {
        reference: args.reference.clone().map(|r| (args.merchant.clone(), r)),
        older_than: args.older_than,
        dry_run: args.dry_run,
    };
    let summary = reconciler::pass(&store, &cfg, &options, None, &progress).await?;
    bar.finish_and_clear();
    let rows = [
        ("checked", summary.checked),
        ("confirmed paid", summary.count(Outcome::Paid)),
        ("failed", summary.count(Outcome::Failed)),
        (
            "abandoned",
            summary.count(Outcome::Abandoned) + summary.count(Outcome::GaveUp),
        ),
        (
            "still pending",
            summary.count(Outcome::StillPending) + summary.count(Outcome::NotFound),
        ),
        (
            "another merchant's (not applied)",
            summary.count(Outcome::Elsewhere),
        ),
        ("errors", summary.count(Outcome::Error)),
    ];
    if args.dry_run {
        println!("dry run: nothing was changed");
    }
    println!("{:<16} {:>8}", "outcome", "count");
    for (name, n) in rows {
        println!("{name:<16} {n:>8}");
    }
    for e in &summary.errors {
        println!("error: {e}");
    }
    // A refused pass (a bad or rotated key) is an operator's problem: fail the command.
    if let Some(why) = &summary.aborted {
        anyhow::bail!("the pass stopped: {why}");
    }
    Ok(())
}
