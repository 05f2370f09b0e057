//! The exactly-once audit every fault scenario ends with: every event the gateway was told
//! "200" for is applied exactly once (one inbox row, the right state, one journal transaction),
//! nothing the gateway was not told "200" for is applied, the journal balances, and the edge's
//! backlog drains to zero. Read through the real services' APIs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use crate::edge::TestEdge;
use crate::ledger::ADMIN_TOKEN;
use crate::sender::{Event, EventKind, SendLog};

/// Creates the orders the events' charges pay (as the merchant's app would, before paying).
pub async fn create_orders(ledger_url: &str, events: &[Event]) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let orders: Vec<(String, i64)> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Charge { amount } => Some((e.reference.clone(), amount)),
            _ => None,
        })
        .collect();
    let results: Vec<anyhow::Result<()>> = stream::iter(orders)
        .map(|(reference, amount)| {
            let http = http.clone();
            async move {
                let resp = http
                    .post(format!("{ledger_url}/v1/orders"))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&serde_json::json!({"reference": reference, "amount": amount, "currency": "NGN"}))
                    .send()
                    .await?;
                ensure!(resp.status() == 201, "creating {reference}: {}", resp.status());
                Ok(())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Waits until the edge holds nothing unacknowledged.
pub async fn drained(edge: &TestEdge, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let unacked: u64 = edge
            .shards_report()
            .await?
            .backlog
            .iter()
            .map(|b| b.unacked)
            .sum();
        if unacked == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the edge still holds {unacked} unacknowledged events after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn all_pages(http: &reqwest::Client, url: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_url = match &cursor {
            Some(c) => format!("{url}?limit=200&cursor={c}"),
            None => format!("{url}?limit=200"),
        };
        let page: Value = http
            .get(&page_url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        out.extend(page["data"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(out),
        }
    }
}

/// The money invariants, read through the API: per payment, refunds and chargebacks never
/// exceed the capture; the payment row and the journal tell the same story (one charge
/// transaction exactly when money was captured, the `refunds` and `chargebacks` entries
/// summing to what the row says); and every order's status follows its payment's money.
async fn money_invariants(
    http: &reqwest::Client,
    ledger_url: &str,
    journal: &[Value],
) -> anyhow::Result<()> {
    let mut story: BTreeMap<String, (usize, i64, i64)> = BTreeMap::new();
    for tx in journal {
        let reference = tx["reference"].as_str().unwrap_or_default().to_owned();
        let entry = story.entry(reference).or_default();
        if tx["kind"] == "charge" {
            entry.0 += 1;
        }
        for e in tx["entries"].as_array().into_iter().flatten() {
            let amount = e["amount"].as_i64().unwrap_or(0);
            match e["account"].as_str() {
                Some("refunds") => entry.1 += amount,
                Some("chargebacks") => entry.2 += amount,
                _ => {}
            }
        }
    }
    let payments = all_pages(http, &format!("{ledger_url}/v1/payments")).await?;
    let mut payment_status: BTreeMap<String, String> = BTreeMap::new();
    for p in &payments {
        let reference = p["reference"].as_str().context("reference")?.to_owned();
        let status = p["status"].as_str().unwrap_or_default().to_owned();
        let (amount, refunded, charged_back) = (
            p["amount"].as_i64().unwrap_or(0),
            p["refunded"].as_i64().unwrap_or(0),
            p["charged_back"].as_i64().unwrap_or(0),
        );
        let captured = !matches!(status.as_str(), "pending" | "failed");
        ensure!(
            refunded >= 0 && charged_back >= 0 && refunded + charged_back <= amount,
            "{reference}: refunded {refunded} + charged back {charged_back} exceed {amount}"
        );
        let (charges, refunds, chargebacks) = story.get(&reference).copied().unwrap_or_default();
        ensure!(
            (charges, refunds, chargebacks) == (usize::from(captured), refunded, charged_back),
            "{reference}: the journal says {charges} charge(s), {refunds} refunded, \
             {chargebacks} charged back; the payment ({status}) says {refunded} and {charged_back}"
        );
        payment_status.insert(reference, status);
    }
    for o in all_pages(http, &format!("{ledger_url}/v1/orders")).await? {
        let reference = o["reference"].as_str().context("reference")?;
        let order = o["status"].as_str().unwrap_or_default();
        let Some(payment) = payment_status.get(reference) else {
            bail!("order {reference} has no payment");
        };
        let follows = match payment.as_str() {
            "success" => "paid",
            other => other,
        };
        ensure!(
            order == "needs_review"
                || order == follows
                || (payment == "pending" && order == "pending")
                || (payment == "failed" && order == "abandoned"),
            "order {reference} is {order} beside a payment {payment}"
        );
    }
    Ok(())
}

/// What the audit counted.
#[derive(Debug, Default)]
pub struct AuditReport {
    pub accepted: usize,
    pub inbox_rows: usize,
    pub journal_transactions: usize,
}

/// The audit. `edge` is drained first (when given). Work the ledger finishes on its own
/// schedule (the parked-event sweep) is waited for up to 15 s before a finding is reported.
pub async fn exactly_once(
    ledger_url: &str,
    edge: Option<&TestEdge>,
    events: &[Event],
    log: &SendLog,
) -> anyhow::Result<AuditReport> {
    if let Some(edge) = edge {
        drained(edge, Duration::from_secs(180)).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match check(ledger_url, events, log).await {
            Ok(report) => return Ok(report),
            Err(e) if Instant::now() < deadline => {
                eprintln!("audit not settled yet ({e}); checking again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn check(ledger_url: &str, events: &[Event], log: &SendLog) -> anyhow::Result<AuditReport> {
    let http = reqwest::Client::new();
    let inbox = all_pages(&http, &format!("{ledger_url}/v1/events")).await?;
    let mut by_key: BTreeMap<String, (String, String)> = BTreeMap::new();
    for e in &inbox {
        let key = e["idempotency_key"].as_str().context("key")?.to_owned();
        let previous = by_key.insert(
            key.clone(),
            (
                e["status"].as_str().unwrap_or_default().to_owned(),
                e["source"].as_str().unwrap_or_default().to_owned(),
            ),
        );
        ensure!(previous.is_none(), "{key} appears twice in the inbox");
    }
    for key in &log.accepted {
        ensure!(
            by_key.contains_key(key),
            "{key} was accepted (200) but never applied"
        );
    }
    for key in by_key.keys() {
        ensure!(
            log.accepted.contains(key),
            "{key} was applied but never accepted"
        );
    }
    let journal = all_pages(&http, &format!("{ledger_url}/v1/journal")).await?;
    let mut posted: BTreeMap<(String, String), usize> = BTreeMap::new();
    for tx in &journal {
        let sum: i64 = tx["entries"]
            .as_array()
            .map(|es| es.iter().filter_map(|e| e["amount"].as_i64()).sum())
            .unwrap_or(0);
        ensure!(
            sum == 0,
            "journal transaction {} does not balance",
            tx["id"]
        );
        *posted
            .entry((
                tx["reference"].as_str().unwrap_or_default().to_owned(),
                tx["kind"].as_str().unwrap_or_default().to_owned(),
            ))
            .or_default() += 1;
    }
    for e in events.iter().filter(|e| log.accepted.contains(&e.key)) {
        let (status, _) = &by_key[&e.key];
        match e.kind {
            EventKind::Charge { .. } => {
                ensure!(status == "applied", "{}: {status}", e.key);
                let n = posted
                    .get(&(e.reference.clone(), "charge".into()))
                    .copied()
                    .unwrap_or(0);
                ensure!(n == 1, "{}: {n} charge transactions", e.reference);
            }
            EventKind::Refund { .. } => {
                let charge_accepted = events.iter().any(|c| {
                    c.reference == e.reference
                        && matches!(c.kind, EventKind::Charge { .. })
                        && log.accepted.contains(&c.key)
                });
                let want = if charge_accepted { "applied" } else { "parked" };
                ensure!(status == want, "{}: {status}, expected {want}", e.key);
                let n = posted
                    .get(&(e.reference.clone(), "refund".into()))
                    .copied()
                    .unwrap_or(0);
                ensure!(
                    n == usize::from(charge_accepted),
                    "{}: {n} refund transactions",
                    e.reference
                );
            }
            EventKind::Other => ensure!(status == "ignored", "{}: {status}", e.key),
        }
    }
    money_invariants(&http, ledger_url, &journal).await?;
    Ok(AuditReport {
        accepted: log.accepted.len(),
        inbox_rows: by_key.len(),
        journal_transactions: journal.len(),
    })
}
