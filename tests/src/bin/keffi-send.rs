//! `keffi-send`: sends sample signed webhooks to a running edge, the way the gateway would.
//!
//! ```sh
//! scripts/send-webhook --reference ord_1 --amount 500000          # one charge.success
//! scripts/send-webhook --reference ord_1 --amount 500000 --times 5 # the same event, 5 times
//! scripts/send-webhook --count 200                                 # 200 distinct events, with latency figures
//! scripts/send-webhook --reference ord_2 --subaccount ACCT_acme    # a platform account's charge for a subaccount
//! scripts/send-webhook --provider flutterwave --reference ord_3     # a Flutterwave charge.completed
//! scripts/send-webhook --provider stripe --reference ord_4          # a Stripe payment_intent.succeeded
//! ```
//! The secret defaults to the source's entry in `.dev.vars` (`KEFFI_SECRET_<SOURCE>`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use keffi_tests::gateway;

#[derive(Parser)]
#[command(about = "Send signed sample Paystack, Flutterwave or Stripe webhooks to a Keffi edge")]
struct Args {
    /// The edge's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    edge: String,
    /// Whose webhook to send: `paystack` (a `charge.success`), `flutterwave` (a
    /// `charge.completed`, its amounts in naira as Flutterwave writes them) or `stripe` (a
    /// `payment_intent.succeeded` naming the order in `metadata.keffi_reference`).
    #[arg(long, default_value = "paystack", value_parser = ["paystack", "flutterwave", "stripe"])]
    provider: String,
    /// The configured source name (`/hooks/{source}`); defaults to the provider's name.
    #[arg(long)]
    source: Option<String>,
    /// The source's secret (Paystack's secret key, Flutterwave's secret hash); defaults to
    /// KEFFI_SECRET_<SOURCE> from .dev.vars.
    #[arg(long, env = "KEFFI_SEND_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The merchant's transaction reference (the order's reference).
    #[arg(long, default_value = "ord_demo_1")]
    reference: String,
    /// Amount in kobo (minor units): 500000 is ₦5,000.00.
    #[arg(long, default_value_t = 500_000)]
    amount: i64,
    /// Paystack's transaction id; defaults to one derived from the reference.
    #[arg(long)]
    transaction_id: Option<u64>,
    /// Deliver the same event this many times (a retrying gateway).
    #[arg(long, default_value_t = 1)]
    times: u32,
    /// Send this many distinct events (references `{reference}-{i}`) and print latency.
    #[arg(long)]
    count: Option<u32>,
    /// The Paystack subaccount the charge settles to (`ACCT_…`), as a platform account's
    /// charge for one of its merchants carries it.
    #[arg(long)]
    subaccount: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let source = args.source.clone().unwrap_or_else(|| args.provider.clone());
    let secret = match &args.secret {
        Some(s) => s.clone(),
        None => secret_from_dev_vars(&source)?,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = format!("{}/hooks/{}", args.edge.trim_end_matches('/'), source);

    let events: Vec<(String, u64)> = match args.count {
        Some(n) => (0..n)
            .map(|i| {
                let r = format!("{}-{i}", args.reference);
                let id = id_for(&r);
                (r, id)
            })
            .collect(),
        None => vec![(
            args.reference.clone(),
            args.transaction_id
                .unwrap_or_else(|| id_for(&args.reference)),
        )],
    };
    let mut latencies = Vec::new();
    for (reference, id) in &events {
        let d = if args.provider == "stripe" {
            gateway::stripe_payment_intent(
                &secret,
                &format!("evt_{id}"),
                "payment_intent.succeeded",
                &format!("pi_{id}"),
                reference,
                args.amount,
                "ngn",
                gateway::now_unix(),
            )
        } else if args.provider == "flutterwave" {
            // Flutterwave writes naira, not kobo.
            let naira = format!("{}.{:02}", args.amount / 100, args.amount % 100);
            let fee = gateway::paystack_local_fee(args.amount);
            let fee = format!("{}.{:02}", fee / 100, fee % 100);
            gateway::flutterwave_charge(&secret, *id, reference, &naira, &fee, "successful")
        } else {
            gateway::paystack_charge_to(
                &secret,
                *id,
                reference,
                args.amount,
                args.subaccount.as_deref(),
            )
        };
        for _ in 0..args.times {
            let req = d.post(&http, &url);
            let started = Instant::now();
            let resp = req
                .send()
                .await
                .with_context(|| format!("cannot reach {url}"))?;
            let status = resp.status();
            let body = resp.text().await?;
            latencies.push(started.elapsed());
            if args.count.is_none() {
                println!("{status} {body}");
            } else if !status.is_success() {
                bail!("{reference}: {status} {body}");
            }
        }
    }
    if args.count.is_some() {
        report(&mut latencies);
    }
    Ok(())
}

/// A stable numeric transaction id for a reference, as Paystack would assign one.
fn id_for(reference: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    reference.hash(&mut h);
    4_000_000_000 + h.finish() % 1_000_000_000
}

fn secret_from_dev_vars(source: &str) -> anyhow::Result<String> {
    let name = keffi_shared::edge::settings::secret_name(source);
    let path = keffi_tests::workspace::root().join(".dev.vars");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no --secret given and {} is unreadable (scripts/dev creates it)",
            path.display()
        )
    })?;
    dev_var(&text, &name)
        .with_context(|| format!("{name} is not set in {}", Path::new(&path).display()))
}

fn dev_var(text: &str, name: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .map(|v| v.split(',').next().unwrap_or_default().trim().to_owned())
}

fn report(latencies: &mut [Duration]) {
    latencies.sort();
    let pick = |q: f64| {
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies[i].as_secs_f64() * 1000.0
    };
    println!(
        "{} deliveries: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        pick(0.50),
        pick(0.90),
        pick(0.99),
        pick(1.0)
    );
}
