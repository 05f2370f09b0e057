//! Which merchant each pulled event is for, before it is applied: its source's owner, or,
//! for a split source (one platform account, many merchants), the merchant its payload names
//! (`domain::route` decides; this reads what it needs, a few reads per batch for a split
//! source and one for all the others). An event no merchant can be told for is held, in no
//! merchant's inbox, and [`route_held`] places it once a route appears.

use std::collections::{BTreeSet, HashMap, HashSet};

use keffi_shared::payload::paystack::payee::PayeeHints;
use keffi_shared::wire::EdgePosition;
use keffi_shared::{Envelope, MerchantId, Provider};

use super::{apply_routed, BatchReport, Incoming};
use crate::domain::route::{route, Known, Route};
use crate::domain::Fact;
use crate::store::splits::{NewHeld, SourceRoute};
use crate::store::{Store, StoreError};

/// A batch, routed: the events to apply, each with its merchant, in arrival order; the
/// events to hold; and the held ones these events place (marked routed in the same
/// transaction).
#[derive(Debug, Default)]
pub struct Routed {
    pub events: Vec<Incoming>,
    pub held: Vec<NewHeld>,
    pub released: Vec<(i64, MerchantId)>,
}

/// `envelopes` (with where each came from), routed. A source routed nowhere (as those
/// configured in `wrangler.toml`) is the default merchant's.
pub async fn routed(
    store: &Store,
    envelopes: Vec<(Envelope, Option<EdgePosition>)>,
) -> Result<Routed, StoreError> {
    let names: BTreeSet<&str> = envelopes.iter().map(|(e, _)| e.source.as_str()).collect();
    let names: Vec<&str> = names.into_iter().collect();
    let routes = store.source_routes(&names).await?;
    let mut split: HashMap<&str, Splitting> = HashMap::new();
    for (name, r) in &routes {
        if let SourceRoute::Split { metadata_key, .. } = r {
            let of_it: Vec<&Envelope> = envelopes
                .iter()
                .map(|(e, _)| e)
                .filter(|e| e.source == *name)
                .collect();
            split.insert(
                name,
                Splitting::read(store, name, metadata_key.as_deref(), &of_it).await?,
            );
        }
    }
    let mut out = Routed::default();
    for (envelope, origin) in envelopes {
        let merchant = match routes.get(&envelope.source) {
            None => MerchantId::default_merchant(),
            Some(SourceRoute::Owner(m)) => m.clone(),
            Some(SourceRoute::Split { .. }) => {
                let s = split
                    .get_mut(envelope.source.as_str())
                    .expect("every split source was read");
                match s.place(store, &envelope).await? {
                    Placed::To(m, released) => {
                        out.released.extend(released.map(|id| (id, m.clone())));
                        m
                    }
                    Placed::Held(reason, reference) => {
                        tracing::warn!(source = %envelope.source, key = %envelope.key, %reason, "event held: no merchant can be told from it");
                        out.held.push(held(&envelope, origin, reason, reference));
                        continue;
                    }
                }
            }
        };
        out.events.push(Incoming {
            merchant,
            envelope,
            origin,
        });
    }
    Ok(out)
}

enum Placed {
    /// To the merchant, releasing the held row of this event if there is one.
    To(MerchantId, Option<i64>),
    /// Held, with why, and the reference the event is about.
    Held(String, Option<String>),
}

/// What routing one split source's events of a batch reads, read once per batch.
struct Splitting {
    metadata_key: Option<String>,
    source: String,
    /// Each event's hints, by its key, read once.
    hints: HashMap<String, PayeeHints>,
    stored: HashMap<String, MerchantId>,
    waiting: HashMap<String, i64>,
    subaccounts: HashMap<String, MerchantId>,
    merchants: HashSet<MerchantId>,
    /// The merchants each reference's events went to: read from the inbox on first use,
    /// then grown by this batch's own placements (a refund right behind its charge).
    by_reference: HashMap<String, Vec<MerchantId>>,
}

impl Splitting {
    async fn read(
        store: &Store,
        source: &str,
        metadata_key: Option<&str>,
        envelopes: &[&Envelope],
    ) -> Result<Splitting, StoreError> {
        let keys: Vec<&str> = envelopes.iter().map(|e| e.key.as_str()).collect();
        let hints: HashMap<String, PayeeHints> = envelopes
            .iter()
            .map(|e| (e.key.to_string(), PayeeHints::read(&e.body, metadata_key)))
            .collect();
        let codes: BTreeSet<&str> = hints.values().flat_map(|h| h.codes()).collect();
        let codes: Vec<&str> = codes.into_iter().collect();
        let named = named_merchants(hints.values());
        Ok(Splitting {
            metadata_key: metadata_key.map(str::to_owned),
            source: source.to_owned(),
            stored: store.stored_keys(source, &keys).await?,
            waiting: store.waiting_held(source, &keys).await?,
            subaccounts: store.subaccount_merchants(source, &codes).await?,
            merchants: store
                .existing_merchants(&named.iter().collect::<Vec<_>>())
                .await?,
            by_reference: HashMap::new(),
            hints,
        })
    }

    async fn place(&mut self, store: &Store, e: &Envelope) -> Result<Placed, StoreError> {
        let fact = Fact::from_envelope(e).ok();
        let reference = fact.as_ref().and_then(|f| f.reference());
        if e.provider != Provider::Paystack && !self.stored.contains_key(e.key.as_str()) {
            return Ok(Placed::Held(
                format!(
                    "a split source places Paystack events only, not {}",
                    e.provider.as_str()
                ),
                reference.map(str::to_owned),
            ));
        }
        let read;
        let hints = match self.hints.get(e.key.as_str()) {
            Some(h) => h,
            None => {
                read = PayeeHints::read(&e.body, self.metadata_key.as_deref());
                &read
            }
        };
        let needs_reference = hints.codes().is_empty() && hints.metadata.is_none();
        if let (Some(r), true) = (reference, needs_reference) {
            if !self.by_reference.contains_key(r) {
                let earlier = store.reference_merchants(&self.source, r).await?;
                self.by_reference.insert(r.to_owned(), earlier);
            }
        }
        let no_one = Vec::new();
        let by_reference = reference
            .and_then(|r| self.by_reference.get(r))
            .unwrap_or(&no_one);
        let known = Known {
            stored_at: self.stored.get(e.key.as_str()),
            subaccounts: &self.subaccounts,
            merchants: &self.merchants,
            by_reference,
        };
        Ok(match route(hints, reference, &known) {
            Route::To(m) => {
                if let Some(r) = reference {
                    self.by_reference
                        .entry(r.to_owned())
                        .or_default()
                        .push(m.clone());
                }
                // A second copy of this key in the batch is that merchant's duplicate.
                self.stored.insert(e.key.to_string(), m.clone());
                Placed::To(m, self.waiting.remove(e.key.as_str()))
            }
            Route::Held(reason) => Placed::Held(reason, reference.map(str::to_owned)),
        })
    }
}

fn held(
    e: &Envelope,
    origin: Option<EdgePosition>,
    reason: String,
    reference: Option<String>,
) -> NewHeld {
    NewHeld {
        source: e.source.clone(),
        key: e.key.to_string(),
        provider: e.provider.as_str().to_owned(),
        event_type: e.event_type.clone(),
        reference,
        reason,
        received_at_ms: e.received_at_ms,
        shard: origin.map(|p| i64::from(p.shard)),
        seq: origin.map(|p| p.seq as i64),
        envelope_json: e.to_json(),
    }
}

/// The merchant ids the hints' metadata names, each once.
fn named_merchants<'a>(hints: impl Iterator<Item = &'a PayeeHints>) -> Vec<MerchantId> {
    hints
        .filter_map(|h| MerchantId::parse(h.metadata.as_deref()?).ok())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Where a split source's payload `body` goes by what it names alone (its subaccounts, split
/// and metadata; nothing stored, no earlier events of a reference): the reconciler asks this of
/// a verify answer, a transaction the source's account holds.
pub async fn payee_of(
    store: &Store,
    source: &str,
    metadata_key: Option<&str>,
    body: &[u8],
) -> Result<Route, StoreError> {
    let hints = PayeeHints::read(body, metadata_key);
    let subaccounts = store.subaccount_merchants(source, &hints.codes()).await?;
    let named = named_merchants(std::iter::once(&hints));
    let merchants = store
        .existing_merchants(&named.iter().collect::<Vec<_>>())
        .await?;
    let known = Known {
        stored_at: None,
        subaccounts: &subaccounts,
        merchants: &merchants,
        by_reference: &[],
    };
    Ok(route(&hints, None, &known))
}

/// Tries every held, unrouted event again, oldest first (a charge before the refund that
/// follows it), `page` at a time: one a route now places is applied to its merchant, and
/// marked routed, in one transaction. Returns how many were placed.
pub async fn route_held(store: &Store, page: u32) -> Result<u64, StoreError> {
    let page = page.max(1);
    let mut placed = 0;
    let mut after = 0;
    loop {
        let waiting = store.waiting_after(after, page).await?;
        for h in &waiting {
            let envelope = match Envelope::from_json(&h.envelope) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(id = h.id, error = %e, "held event's envelope is unreadable");
                    continue;
                }
            };
            let origin = h.shard.zip(h.seq).and_then(|(shard, seq)| {
                Some(EdgePosition {
                    shard: u32::try_from(shard).ok()?,
                    seq: u64::try_from(seq).ok()?,
                })
            });
            let r = routed(store, vec![(envelope, origin)]).await?;
            if r.events.is_empty() {
                continue;
            }
            let report: BatchReport = apply_routed(
                store,
                &Routed {
                    held: Vec::new(),
                    ..r
                },
                None,
            )
            .await?;
            tracing::info!(id = h.id, source = %h.source, key = %h.idempotency_key, applied = report.applied, "held event placed");
            placed += 1;
        }
        if waiting.len() < page as usize {
            return Ok(placed);
        }
        match waiting.last() {
            Some(last) => after = last.id,
            None => return Ok(placed),
        }
    }
}
