//! A gateway that behaves like Paystack: it signs each webhook, times out on its side, retries
//! anything but a 2xx on a (compressed) schedule, sends several deliveries of one event at once,
//! and records which events it was told "200" for — what the exactly-once audit checks against.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use crate::gateway::{self, Delivery};

/// One event the gateway wants to deliver.
#[derive(Debug, Clone)]
pub struct Event {
    /// The source it is delivered to; `None`: the one `send` is given.
    pub source: Option<&'static str>,
    pub key: String,
    pub reference: String,
    pub kind: EventKind,
    pub delivery: Delivery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `charge.success` for an order of `amount`.
    Charge { amount: i64 },
    /// `refund.processed` of `amount` for a charged reference.
    Refund { amount: i64 },
    /// An event type the ledger records and ignores.
    Other,
}

/// A mix of events: `orders` charges, a refund for every fifth order, and a few unknown types.
pub fn event_mix(secret: &str, prefix: &str, orders: usize) -> Vec<Event> {
    // Transaction ids are unique per prefix too: two mixes never share an event.
    let base = 5_000_000_000 + (prefix_hash(prefix) % 100_000) * 100_000;
    let mut events = Vec::new();
    for i in 0..orders {
        let reference = format!("{prefix}_{i}");
        let amount = 100_000 + (i as i64 % 7) * 25_000;
        let id = base + i as u64;
        events.push(Event {
            source: None,
            key: format!("paystack:charge.success:{id}"),
            reference: reference.clone(),
            kind: EventKind::Charge { amount },
            delivery: gateway::paystack_charge_success(secret, id, &reference, amount),
        });
        if i % 5 == 0 {
            let refund_ref = format!("rf_{prefix}_{i}");
            let body = serde_json::to_vec(&serde_json::json!({
                "event": "refund.processed",
                "data": { "status": "processed", "transaction_reference": reference,
                          "refund_reference": refund_ref, "amount": (amount / 4).to_string(),
                          "currency": "NGN" }
            }))
            .expect("json");
            events.push(Event {
                source: None,
                key: format!("paystack:refund.processed:{refund_ref}"),
                reference: reference.clone(),
                kind: EventKind::Refund { amount: amount / 4 },
                delivery: gateway::paystack_body(secret, body),
            });
        }
        if i % 25 == 0 {
            let code = format!("SUB_{prefix}_{i}");
            let body = serde_json::to_vec(&serde_json::json!({
                "event": "subscription.create", "data": { "id": id, "subscription_code": code }
            }))
            .expect("json");
            events.push(Event {
                source: None,
                key: format!("paystack:subscription.create:{id}"),
                reference: reference.clone(),
                kind: EventKind::Other,
                delivery: gateway::paystack_body(secret, body),
            });
        }
    }
    events
}

/// The secrets of the three gateways' sources a mixed storm is delivered to (`paystack`,
/// `flutterwave`, `stripe`).
pub struct Secrets<'a> {
    pub paystack: &'a str,
    pub flutterwave: &'a str,
    pub stripe: &'a str,
}

/// [`event_mix`] across three gateways: every third order is paid through Flutterwave (no
/// refunds) and every third through Stripe (a `payment_intent.succeeded`, its refund a
/// `charge.refunded` saying the refunds in all), the rest through Paystack, all for orders
/// opened for the default gateway (a charge through another pays it).
pub fn mixed_event_mix(secrets: &Secrets<'_>, prefix: &str, orders: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let paystack = event_mix(secrets.paystack, prefix, orders);
    let t = gateway::now_unix();
    for (i, e) in paystack.into_iter().enumerate() {
        let order = e
            .reference
            .rsplit('_')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(i);
        let id = 7_000_000_000 + (prefix_hash(prefix) % 100_000) * 100_000 + order as u64;
        let event = match (order % 3, e.kind) {
            (1, EventKind::Charge { amount }) => Event {
                source: Some("flutterwave"),
                key: format!("flutterwave:charge.completed:{id}"),
                delivery: gateway::flutterwave_charge(
                    secrets.flutterwave,
                    id,
                    &e.reference,
                    &format!("{}.{:02}", amount / 100, amount % 100),
                    "0",
                    "successful",
                ),
                ..e
            },
            (2, EventKind::Charge { amount }) => Event {
                source: Some("stripe"),
                key: format!("stripe:evt_{id}"),
                delivery: gateway::stripe_payment_intent(
                    secrets.stripe,
                    &format!("evt_{id}"),
                    "payment_intent.succeeded",
                    &format!("pi_{id}"),
                    &e.reference,
                    amount,
                    "ngn",
                    t,
                ),
                ..e
            },
            // Flutterwave's refunds do not move money yet, and Paystack's refund of a payment
            // Flutterwave captured is another payment's (dead): none for these orders.
            (1, EventKind::Refund { .. }) => continue,
            (2, EventKind::Refund { amount }) => {
                let body = serde_json::to_vec(&serde_json::json!({
                    "id": format!("evt_r{id}"), "object": "event", "type": "charge.refunded",
                    "data": {"object": {"id": format!("ch_{id}"), "object": "charge",
                        "payment_intent": format!("pi_{id}"), "amount_refunded": amount,
                        "currency": "ngn", "metadata": {"keffi_reference": e.reference}}}
                }))
                .expect("json");
                Event {
                    source: Some("stripe"),
                    key: format!("stripe:evt_r{id}"),
                    delivery: gateway::stripe_body(secrets.stripe, t, body),
                    ..e
                }
            }
            _ => e,
        };
        events.push(event);
    }
    events
}

/// FNV-1a: a stable hash (std's hasher may change between releases).
fn prefix_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// What the gateway was told.
#[derive(Debug, Default, Clone)]
pub struct SendLog {
    /// Keys answered 2xx at least once.
    pub accepted: BTreeSet<String>,
    /// Keys never answered 2xx (gave up after the retry schedule).
    pub abandoned: BTreeSet<String>,
    /// Status (or "error") → count, over every attempt.
    pub answers: BTreeMap<String, u64>,
    pub attempts: u64,
}

#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// How many times each event is sent regardless (the gateway's own duplicates), at once.
    pub copies: usize,
    /// Deliveries in flight at most.
    pub concurrency: usize,
    /// The gateway's timeout per attempt.
    pub timeout: Duration,
    /// Delays between attempts for one copy (Paystack: minutes to hours; compressed here).
    pub retry_delays: Vec<Duration>,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            copies: 1,
            concurrency: 16,
            timeout: Duration::from_secs(5),
            retry_delays: [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]
                .into_iter()
                .map(Duration::from_millis)
                .collect(),
        }
    }
}

/// Delivers every event (each `copies` times, concurrently) to `{base}/hooks/{source}`, or to
/// the event's own source when it names one.
pub async fn send(base: &str, source: &str, events: &[Event], cfg: &SenderConfig) -> SendLog {
    let http = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .build()
        .expect("a client");
    let base = base.trim_end_matches('/');
    let log = Arc::new(Mutex::new(SendLog::default()));
    let jobs = events
        .iter()
        .flat_map(|e| std::iter::repeat_n(e, cfg.copies.max(1)));
    stream::iter(jobs)
        .for_each_concurrent(cfg.concurrency, |event| {
            let url = format!("{base}/hooks/{}", event.source.unwrap_or(source));
            let (http, log) = (http.clone(), log.clone());
            async move {
                let ok = deliver_with_retries(&http, &url, &event.delivery, cfg, &log).await;
                let mut l = log.lock().expect("not poisoned");
                if ok {
                    l.accepted.insert(event.key.clone());
                }
            }
        })
        .await;
    let mut log = Arc::try_unwrap(log)
        .map(|m| m.into_inner().expect("not poisoned"))
        .unwrap_or_else(|arc| arc.lock().expect("not poisoned").clone());
    for e in events {
        if !log.accepted.contains(&e.key) {
            log.abandoned.insert(e.key.clone());
        }
    }
    log
}

async fn deliver_with_retries(
    http: &reqwest::Client,
    url: &str,
    d: &Delivery,
    cfg: &SenderConfig,
    log: &Mutex<SendLog>,
) -> bool {
    for attempt in 0..=cfg.retry_delays.len() {
        let answer = match d.post(http, url).send().await {
            Ok(resp) => resp.status().as_u16().to_string(),
            Err(_) => "error".to_owned(),
        };
        let ok = answer.starts_with('2');
        {
            let mut l = log.lock().expect("not poisoned");
            l.attempts += 1;
            *l.answers.entry(answer).or_default() += 1;
        }
        if ok {
            return true;
        }
        if let Some(delay) = cfg.retry_delays.get(attempt) {
            tokio::time::sleep(*delay).await;
        }
    }
    false
}
