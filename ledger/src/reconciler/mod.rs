//! The reconciler: closes the "paid, but the webhook never came" gap. For payments still
//! `pending` after a threshold, it asks the gateway's Verify Transaction API and applies the
//! answer as a fact of its own (inbox source `reconciler`) through the same pipeline and state
//! machine as webhooks, so a webhook arriving later is a recorded no-op and the journal holds
//! one transaction. Rate-limited, bounded per run, respectful of 429 and `Retry-After`.
//! A request the gateway refuses outright (a bad or rotated key) stops the pass: it says
//! nothing about the payment, and read as "not found" it would abandon every pending order.

pub mod decide;
pub mod verify;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keffi_shared::version::V1;
use keffi_shared::MerchantId;
use keffi_shared::{Envelope, IdempotencyKey, Provider};
use serde::Serialize;
use tracing::field::Empty;
use tracing::Instrument as _;

use crate::changes::Changes;
use crate::pipeline::{apply_batch, Incoming};
use crate::shutdown::Shutdown;
use crate::store::{now_ms, Store};
use decide::{Action, Outcome};
use verify::{VerifyClient, VerifyError};

/// The inbox source of the reconciler's facts, and the envelope header naming the reference
/// each is about: the fact format lives with the other facts, in the domain.
pub use crate::domain::fact::{
    RECONCILER_SOURCE as SOURCE, VERIFY_REFERENCE_HEADER as REFERENCE_HEADER,
};

#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    pub api_base: String,
    pub secret_key: keffi_shared::Secret,
    /// Time between passes (background task).
    pub interval: Duration,
    /// Only payments pending at least this long are checked.
    pub min_age: Duration,
    /// A payment the gateway still does not know after this long is abandoned.
    pub give_up_after: Duration,
    /// Gateway calls per second at most.
    pub rate_per_second: f64,
    /// Payments checked per pass at most.
    pub max_per_run: u32,
    /// Per-call timeout.
    pub timeout: Duration,
}

/// What one pass did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    pub dry_run: bool,
    pub checked: u64,
    /// Outcome name → count: `paid`, `failed`, `abandoned`, `still_pending`, `not_found`,
    /// `gave_up`, `error`.
    pub outcomes: BTreeMap<String, u64>,
    /// The first few errors, for humans.
    pub errors: Vec<String>,
    /// Why the pass stopped before checking every due payment, if it did: the gateway refused
    /// a request outright (a 4xx other than 429 and the documented "Transaction reference not
    /// found", e.g. 401 "Invalid key" after a key rotation). Such a refusal is about the key or
    /// configuration, not the payment, so the rest are left unchecked and untouched; fix the
    /// configuration and they are checked on the next pass. Also counted under `error` and
    /// listed in `errors`.
    pub aborted: Option<String>,
}

impl Summary {
    pub fn count(&self, o: Outcome) -> u64 {
        self.outcomes.get(o.as_str()).copied().unwrap_or(0)
    }
}

/// The last pass, for the dashboard.
pub type LastRun = Arc<Mutex<Option<Summary>>>;

/// One pass's scope.
#[derive(Debug, Clone, Default)]
pub struct PassOptions {
    /// Check only this merchant's reference (whatever its schedule).
    pub reference: Option<(MerchantId, String)>,
    /// Override the configured age threshold.
    pub older_than: Option<Duration>,
    /// Ask the gateway, change nothing.
    pub dry_run: bool,
}

/// Spaces calls `1/rate` apart.
struct Pace {
    gap: Duration,
    next: Instant,
}

impl Pace {
    fn new(rate_per_second: f64) -> Self {
        Pace {
            gap: Duration::from_secs_f64(1.0 / rate_per_second.max(0.01)),
            next: Instant::now(),
        }
    }

    async fn wait(&mut self) {
        let now = Instant::now();
        if self.next > now {
            tokio::time::sleep(self.next - now).await;
        }
        self.next = Instant::now() + self.gap;
    }

    /// The gateway said slow down: no call before `d` has passed.
    fn hold(&mut self, d: Duration) {
        self.next = self.next.max(Instant::now() + d);
    }
}

/// Runs one pass. `progress(done, total)` is called after each payment.
#[tracing::instrument(name = "reconcile_pass", skip_all, fields(dry_run = options.dry_run))]
pub async fn pass(
    store: &Store,
    cfg: &ReconcilerConfig,
    options: &PassOptions,
    changes: Option<&Changes>,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> anyhow::Result<Summary> {
    let client = VerifyClient::new(&cfg.api_base, &cfg.secret_key, cfg.timeout)?;
    let now = now_ms();
    let min_age = options.older_than.unwrap_or(cfg.min_age);
    // The configured secret key is one gateway account's: the default merchant's. Asking it
    // about another merchant's payment (made on that merchant's own account) would hear "not
    // found", and a payment given up on for that would be abandoned though it was paid.
    let merchant = MerchantId::default_merchant();
    let reference = match &options.reference {
        Some((m, _)) if *m != merchant => anyhow::bail!(
            "the reconciler holds the default merchant's gateway key only; `{m}`'s payments \
             are not reconciled"
        ),
        Some((_, r)) => Some(r.as_str()),
        None => None,
    };
    let stale = store
        .stale_payments(
            &merchant,
            now - min_age.as_millis() as i64,
            now,
            reference,
            cfg.max_per_run,
        )
        .await?;
    let mut summary = Summary {
        started_at_ms: now,
        dry_run: options.dry_run,
        ..Summary::default()
    };
    let total = stale.len() as u64;
    let mut pace = Pace::new(cfg.rate_per_second);
    for payment in stale {
        // One span per payment checked: the gateway's answer, the fact applied (its
        // `apply_batch` inside) and any error belong to the reference.
        let span = tracing::info_span!(
            "reconcile_check",
            merchant = %payment.merchant_id,
            reference = %payment.reference,
            outcome = Empty,
        );
        let outcome = async {
            let outcome = match check(&client, &mut pace, &payment.reference).await {
                Err(e) if e.stops_the_pass() => {
                    abort(&mut summary, &payment.reference, &e);
                    Outcome::Error
                }
                Err(e) => {
                    tracing::warn!(reference = %payment.reference, error = %e, "verify failed");
                    if summary.errors.len() < 10 {
                        summary.errors.push(format!("{}: {e}", payment.reference));
                    }
                    crate::telemetry_metrics::reconciler_error();
                    Outcome::Error
                }
                Ok(answer) => {
                    let age = Duration::from_millis((now - payment.created_at_ms).max(0) as u64);
                    let (action, outcome) =
                        decide::decide(&answer, age, cfg.give_up_after, payment.reconcile_attempts);
                    if !options.dry_run {
                        let whose = (&payment.merchant_id, payment.reference.as_str());
                        act(store, whose, action, &answer, changes).await?;
                    }
                    outcome
                }
            };
            tracing::Span::current().record("outcome", outcome.as_str());
            tracing::debug!("checked");
            anyhow::Ok(outcome)
        }
        .instrument(span)
        .await?;
        crate::telemetry_metrics::reconciler_check(outcome.as_str());
        *summary
            .outcomes
            .entry(outcome.as_str().to_owned())
            .or_default() += 1;
        summary.checked += 1;
        progress(summary.checked, total);
        if summary.aborted.is_some() {
            break;
        }
    }
    summary.finished_at_ms = now_ms();
    Ok(summary)
}

/// Records a refusal that ends the pass. Not capped like per-payment errors: there is one, and
/// it is the one a human must see.
fn abort(summary: &mut Summary, reference: &str, e: &VerifyError) {
    let reason = format!("{e}: stopping the pass");
    tracing::error!(reference, error = %e, "gateway refused the verify request; stopping the pass");
    crate::telemetry_metrics::reconciler_error();
    summary.errors.push(reason.clone());
    summary.aborted = Some(reason);
}

/// Carries out a decision: records the answer as a fact, or schedules the next check.
async fn act(
    store: &Store,
    (merchant, reference): (&MerchantId, &str),
    action: Action,
    answer: &verify::Verified,
    changes: Option<&Changes>,
) -> anyhow::Result<()> {
    match action {
        Action::Apply { event_type } => {
            let envelope = envelope(merchant, reference, event_type, answer)?;
            let report = apply_batch(
                store,
                &[Incoming {
                    merchant: merchant.clone(),
                    envelope,
                    origin: None,
                }],
                None,
            )
            .await?;
            if let Some(c) = changes {
                c.publish(&report.moved);
            }
        }
        Action::Later { after } => {
            store
                .schedule_reconcile(merchant, reference, now_ms() + after.as_millis() as i64)
                .await?;
        }
    }
    Ok(())
}

/// Asks about one reference, pacing calls and honouring 429s (three tries).
async fn check(
    client: &VerifyClient,
    pace: &mut Pace,
    reference: &str,
) -> Result<verify::Verified, VerifyError> {
    let mut tries = 0;
    loop {
        pace.wait().await;
        match client.verify(reference).await {
            Err(VerifyError::RateLimited { retry_after }) if tries < 2 => {
                tries += 1;
                let wait = retry_after
                    .unwrap_or(Duration::from_secs(5))
                    .min(Duration::from_secs(60));
                tracing::info!(?wait, "gateway rate limit; waiting");
                pace.hold(wait);
            }
            other => return other,
        }
    }
}

/// The verify answer as an inbox envelope of its own (source `reconciler`), so the audit trail
/// shows how the payment was settled. The key is stable per merchant, reference and outcome
/// (the default merchant's keys name no merchant, as they did before there were others).
fn envelope(
    merchant: &MerchantId,
    reference: &str,
    event_type: &str,
    answer: &verify::Verified,
) -> anyhow::Result<Envelope> {
    let raw = match answer {
        verify::Verified::Found { raw, .. } | verify::Verified::NotFound { raw } => raw.clone(),
    };
    let whose = if merchant.is_default() {
        reference.to_owned()
    } else {
        format!("{merchant}/{reference}")
    };
    let key = IdempotencyKey::parse(format!("{SOURCE}:{event_type}:{whose}"))
        .or_else(|_| {
            use sha2::Digest;
            let h = hex::encode(sha2::Sha256::digest(whose.as_bytes()));
            IdempotencyKey::parse(format!("{SOURCE}:{event_type}:sha256:{h}"))
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Envelope {
        v: V1,
        source: SOURCE.into(),
        provider: Provider::Paystack,
        key,
        event_type: event_type.into(),
        received_at_ms: now_ms(),
        headers: [(REFERENCE_HEADER.to_owned(), reference.to_owned())].into(),
        body: raw,
    })
}

/// The background task: a pass every `interval` until shutdown.
pub async fn run(
    store: Store,
    cfg: ReconcilerConfig,
    changes: Changes,
    last: LastRun,
    shutdown: Shutdown,
) {
    tracing::info!(interval = ?cfg.interval, min_age = ?cfg.min_age, "reconciler started");
    crate::telemetry_metrics::reconciler_started();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(cfg.interval) => {}
            _ = shutdown.clone().wait() => break,
        }
        match pass(
            &store,
            &cfg,
            &PassOptions::default(),
            Some(&changes),
            &|_, _| {},
        )
        .await
        {
            Ok(summary) => {
                if summary.checked > 0 {
                    tracing::info!(checked = summary.checked, outcomes = ?summary.outcomes, "reconciler pass");
                }
                if let Ok(mut l) = last.lock() {
                    *l = Some(summary);
                }
            }
            Err(e) => tracing::warn!(error = %e, "reconciler pass failed"),
        }
    }
    tracing::info!("reconciler stopped");
}
