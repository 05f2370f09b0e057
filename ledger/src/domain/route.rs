//! Which merchant an event of a split source (one platform account, many merchants) is
//! for. Pure: the pipeline reads what is known (the source's subaccount map, the merchants a
//! metadata hint names, where the source's earlier events of the reference went) and this
//! decides. An event it cannot place with certainty is held with the reason, never given to
//! a merchant on a guess.
//!
//! The rule, in order:
//! 1. An event already stored (its key is in a merchant's inbox) goes where it went: a
//!    gateway's retry or a re-pull is that merchant's duplicate, whatever is known now.
//! 2. Subaccounts decide where the money settles, so they come first: every code the event
//!    names (its own subaccount, its split's) must be mapped, all to one merchant; a metadata
//!    hint naming another merchant is a conflict, not a tie-break.
//! 3. Else the metadata key, naming an existing merchant.
//! 4. Else the reference: a refund or a dispute names only its charge's reference, and goes
//!    where the source's earlier events of it went, if that is one merchant.
//!
//! Every input only grows (a code is mapped for good, a merchant is never deleted, an event
//! stays stored), so an event placed once is placed the same way whenever it is routed again;
//! a held one may be placed later, never moved.

use std::collections::{BTreeSet, HashMap, HashSet};

use keffi_shared::payload::paystack::payee::PayeeHints;
use keffi_shared::MerchantId;

/// What the store knows that the rule reads, for one event.
#[derive(Debug)]
pub struct Known<'a> {
    /// The merchant this event's key is already stored under, if any.
    pub stored_at: Option<&'a MerchantId>,
    /// The source's subaccount codes and the merchant each settles to.
    pub subaccounts: &'a HashMap<String, MerchantId>,
    /// The merchants that exist, of those the metadata hints name.
    pub merchants: &'a HashSet<MerchantId>,
    /// The merchants the source's earlier events of this event's reference went to.
    pub by_reference: &'a [MerchantId],
}

/// Where an event goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    To(MerchantId),
    /// Held for a human (or for a route to appear), with why.
    Held(String),
}

/// Places one event of a split source (see the module's rule).
pub fn route(hints: &PayeeHints, reference: Option<&str>, known: &Known<'_>) -> Route {
    if let Some(m) = known.stored_at {
        return Route::To(m.clone());
    }
    let named = hints.metadata.as_deref().map(MerchantId::parse);
    let codes = hints.codes();
    if !codes.is_empty() {
        let unmapped: Vec<&str> = codes
            .iter()
            .copied()
            .filter(|c| !known.subaccounts.contains_key(*c))
            .collect();
        if !unmapped.is_empty() {
            return Route::Held(format!(
                "subaccount {} is no merchant's on this source",
                unmapped.join(", ")
            ));
        }
        let merchants: BTreeSet<&MerchantId> =
            codes.iter().map(|c| &known.subaccounts[*c]).collect();
        let mut merchants = merchants.into_iter();
        let (Some(m), None) = (merchants.next(), merchants.next()) else {
            let all: Vec<&str> = codes
                .iter()
                .map(|c| known.subaccounts[*c].as_str())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            return Route::Held(format!(
                "its subaccounts settle to several merchants: {}",
                all.join(", ")
            ));
        };
        return match &named {
            Some(Ok(n)) if n != m => Route::Held(format!(
                "its subaccount is merchant {m}'s but its metadata names {n}"
            )),
            Some(Err(_)) => Route::Held(format!(
                "its subaccount is merchant {m}'s but its metadata names no merchant id"
            )),
            _ => Route::To(m.clone()),
        };
    }
    match named {
        Some(Ok(n)) if known.merchants.contains(&n) => return Route::To(n),
        Some(Ok(n)) => {
            return Route::Held(format!(
                "its metadata names merchant {n}, which does not exist"
            ))
        }
        Some(Err(_)) => return Route::Held("its metadata names no merchant id".to_owned()),
        None => {}
    }
    let Some(reference) = reference else {
        return Route::Held("it names no subaccount, merchant or reference".to_owned());
    };
    let merchants: BTreeSet<&MerchantId> = known.by_reference.iter().collect();
    let mut it = merchants.iter();
    match (it.next(), it.next()) {
        (Some(m), None) => Route::To((*m).clone()),
        (None, _) => Route::Held(format!(
            "it names no subaccount or merchant, and no event of reference {reference} was placed before"
        )),
        (Some(_), Some(_)) => Route::Held(format!(
            "reference {reference} is several merchants': {}",
            merchants.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

#[cfg(test)]
mod tests;
