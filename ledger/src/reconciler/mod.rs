//! The reconciler: closes the "paid, but the webhook never came" gap. For payments still
//! `pending` after a threshold, it asks the gateway's Verify Transaction API and applies the
//! answer as a fact of its own (inbox source `reconciler`) through the same pipeline and state
//! machine as webhooks, so a webhook arriving later is a recorded no-op and the journal holds
//! one transaction. Rate-limited, bounded per run, respectful of 429 and `Retry-After`.
//! A request the gateway refuses outright (a bad or rotated key) stops the checks of that
//! gateway account: it says nothing about the payment, and read as "not found" it would
//! abandon every pending order. Each merchant's payments are asked of its own account: the
//! default merchant's with `KEFFI_PAYSTACK_SECRET_KEY`, every other's (with
//! `KEFFI_RECONCILE_VIA_EDGE`) through the edge, with the key of its Paystack source that
//! only the edge holds; a platform account's answers go only to the merchant they are for.

pub mod decide;
pub mod verify;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keffi_shared::version::V1;
use keffi_shared::MerchantId;
use keffi_shared::{Envelope, IdempotencyKey, Provider};
use serde::Serialize;
use tracing::field::Empty;
use tracing::Instrument as _;

use crate::changes::Changes;
use crate::domain::route::Route;
use crate::pipeline::{apply_batch, Incoming};
use crate::shutdown::Shutdown;
use crate::store::splits::SourceRoute;
use crate::store::{now_ms, Store};
use decide::{Action, Outcome};
use verify::{VerifyClient, VerifyError};

/// The inbox source of the reconciler's facts, and the envelope header naming the reference
/// each is about: the fact format lives with the other facts, in the domain.
pub use crate::domain::fact::{
    RECONCILER_SOURCE as SOURCE, VERIFY_REFERENCE_HEADER as REFERENCE_HEADER,
};

/// The edge to ask through, for the merchants whose keys only it holds.
#[derive(Debug, Clone)]
pub struct EdgeVerify {
    pub url: String,
    pub token: keffi_shared::Secret,
}

#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    pub api_base: String,
    /// The default merchant's Paystack key, asked with directly.
    pub secret_key: Option<keffi_shared::Secret>,
    /// Every merchant's payments, each asked through the edge with its own source's key.
    pub via_edge: Option<EdgeVerify>,
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
    /// `gave_up`, `elsewhere` (a platform account's transaction of another merchant's),
    /// `error`.
    pub outcomes: BTreeMap<String, u64>,
    /// The first few errors, for humans.
    pub errors: Vec<String>,
    /// Why the pass stopped before checking every due payment, if it did: the gateway refused
    /// a request outright (a 4xx other than 429 and the documented "Transaction reference not
    /// found", e.g. 401 "Invalid key" after a key rotation). Such a refusal is about the key or
    /// configuration, not the payment, so the rest are left unchecked and untouched; fix the
    /// configuration and they are checked on the next pass. Also counted under `error` and
    /// listed in `errors`. It stops that one gateway account: other merchants' accounts go on.
    pub aborted: Option<String>,
    /// Merchants whose due payments were not checked, and why (no gateway account to ask).
    pub skipped: BTreeMap<String, String>,
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

/// One gateway account to ask, and how its answers are checked.
struct Gateway {
    /// Names the account for pacing and refusals: `direct`, or `source:{name}`.
    account: String,
    client: VerifyClient,
    /// For a split source (one platform account, many merchants): its answers are applied
    /// only to the merchant the rule of `domain::route` places them with.
    split: Option<(String, Option<String>)>,
}

/// The gateway account that answers for `merchant`'s payments, or why there is none.
async fn gateway_of(
    store: &Store,
    cfg: &ReconcilerConfig,
    merchant: &MerchantId,
) -> anyhow::Result<Result<Gateway, String>> {
    if merchant.is_default() {
        if let Some(key) = &cfg.secret_key {
            return Ok(Ok(Gateway {
                account: "direct".into(),
                client: VerifyClient::new(&cfg.api_base, key, cfg.timeout)?,
                split: None,
            }));
        }
    }
    // The configured secret key is one gateway account's: the default merchant's. Asking it
    // about another merchant's payment (made on that merchant's own account) would hear "not
    // found", and a payment given up on for that would be abandoned though it was paid.
    let Some(edge) = &cfg.via_edge else {
        return Ok(Err(format!(
            "the reconciler holds the default merchant's gateway key only; `{merchant}`'s \
             payments are reconciled with KEFFI_RECONCILE_VIA_EDGE"
        )));
    };
    let Some((source, split)) = store.verify_source(merchant).await? else {
        return Ok(Err(format!(
            "merchant `{merchant}` has no Paystack source to ask about its payments"
        )));
    };
    let split = if split {
        match store
            .source_routes(&[source.as_str()])
            .await?
            .remove(&source)
        {
            Some(SourceRoute::Split { metadata_key, .. }) => Some((source.clone(), metadata_key)),
            _ => None,
        }
    } else {
        None
    };
    Ok(Ok(Gateway {
        account: format!("source:{source}"),
        client: VerifyClient::via_edge(&edge.url, &edge.token, &source, cfg.timeout)?,
        split,
    }))
}

/// Whether a split source's answer is `merchant`'s: the transaction it describes is placed
/// with `merchant` by the same rule its webhooks are (its subaccount, split or metadata).
/// A platform account answers for every merchant on it, and merchant B's pending `ord_9` must
/// not be paid by merchant A's transaction `ord_9`.
async fn placed_with(
    store: &Store,
    (source, metadata_key): &(String, Option<String>),
    merchant: &MerchantId,
    answer: &verify::Verified,
) -> anyhow::Result<bool> {
    let verify::Verified::Found { raw, .. } = answer else {
        return Ok(true);
    };
    let placed = crate::pipeline::payee_of(store, source, metadata_key.as_deref(), raw).await?;
    Ok(placed == Route::To(merchant.clone()))
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
    let now = now_ms();
    let min_age = options.older_than.unwrap_or(cfg.min_age);
    // Every merchant's through the edge; otherwise only the default merchant's.
    let only = match (&options.reference, &cfg.via_edge) {
        (Some((m, _)), _) => Some(m.clone()),
        (None, Some(_)) => None,
        (None, None) => Some(MerchantId::default_merchant()),
    };
    let reference = options.reference.as_ref().map(|(_, r)| r.as_str());
    let stale = store
        .stale_payments(
            only.as_ref(),
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
    let mut gateways: HashMap<MerchantId, Option<Gateway>> = HashMap::new();
    let mut paces: HashMap<String, Pace> = HashMap::new();
    let mut refused: HashSet<String> = HashSet::new();
    for payment in stale {
        let merchant = payment.merchant_id.clone();
        if !gateways.contains_key(&merchant) {
            let gateway = match gateway_of(store, cfg, &merchant).await? {
                Ok(g) => Some(g),
                Err(why) if options.reference.is_some() => anyhow::bail!(why),
                Err(why) => {
                    tracing::warn!(%merchant, reason = %why, "merchant's payments not reconciled");
                    summary.skipped.insert(merchant.to_string(), why);
                    None
                }
            };
            gateways.insert(merchant.clone(), gateway);
        }
        let Some(gateway) = gateways.get(&merchant).and_then(Option::as_ref) else {
            continue;
        };
        if refused.contains(&gateway.account) {
            continue;
        }
        let pace = paces
            .entry(gateway.account.clone())
            .or_insert_with(|| Pace::new(cfg.rate_per_second));
        // One span per payment checked: the gateway's answer, the fact applied (its
        // `apply_batch` inside) and any error belong to the reference.
        let span = tracing::info_span!(
            "reconcile_check",
            merchant = %payment.merchant_id,
            reference = %payment.reference,
            outcome = Empty,
        );
        let outcome = async {
            let outcome = match check(&gateway.client, pace, &payment.reference).await {
                Err(e) if e.stops_the_pass() => {
                    abort(&mut summary, &payment.reference, &e);
                    refused.insert(gateway.account.clone());
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
                    let (action, outcome) = match &gateway.split {
                        Some(split) if !placed_with(store, split, &merchant, &answer).await? => {
                            let after = decide::recheck_after(payment.reconcile_attempts);
                            (Action::Later { after }, Outcome::Elsewhere)
                        }
                        _ => decide::decide(
                            &answer,
                            age,
                            cfg.give_up_after,
                            payment.reconcile_attempts,
                        ),
                    };
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
