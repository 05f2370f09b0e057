//! One platform account, many merchants: a split source's events go to the merchant their
//! subaccount (or split, or metadata key) names, a refund follows its charge, and an event no
//! merchant can be told for is held, in no merchant's inbox, until a route appears. Tried the
//! ways it would break: an unmapped subaccount, a split across two merchants, metadata that
//! contradicts the subaccount, a refund whose charge is held, a re-pulled batch, and
//! generated sequences of mappings, charges, refunds, batches and sweeps checked against
//! what the rule allows.

use std::collections::{BTreeMap, HashMap};

use crate::common::{self, add_merchant, paystack, unbalanced_transactions};

use keffi_ledger::domain::{OrderStatus, PaymentStatus};
use keffi_ledger::pipeline::{apply_routed, route_held, routed, Incoming};
use keffi_ledger::store::splits::CodeClaim;
use keffi_ledger::store::{now_ms, Store};
use keffi_shared::{Currency, Envelope, MerchantId, MinorUnits};
use proptest::prelude::*;
use serde_json::json;

const SOURCE: &str = "platform";
const KEY: &str = "keffi_merchant";

fn on_platform(mut event: Incoming) -> Envelope {
    event.envelope.source = SOURCE.into();
    event.envelope
}

/// A charge on the platform account, naming its merchant the ways Paystack can.
fn charge(
    id: u64,
    reference: &str,
    subaccount: Option<&str>,
    split: &[&str],
    meta: Option<&str>,
) -> Envelope {
    let subaccount = subaccount.map_or(json!({}), |c| json!({ "subaccount_code": c }));
    let split = if split.is_empty() {
        json!({})
    } else {
        json!({ "split_code": "SPL_1", "subaccounts": split.iter().map(|c| json!({"subaccount": {"subaccount_code": c}, "share": 10})).collect::<Vec<_>>() })
    };
    let metadata = meta.map_or(json!(""), |m| json!({ KEY: m }));
    on_platform(paystack(json!({
        "event": "charge.success",
        "data": {
            "id": id, "reference": reference, "amount": 500_000, "currency": "NGN",
            "status": "success", "fees": 0, "channel": "card",
            "paid_at": "2026-11-25T10:00:00.000Z",
            "subaccount": subaccount, "split": split, "metadata": metadata
        }
    })))
}

fn refund(reference: &str, refund_reference: &str) -> Envelope {
    on_platform(common::refund(reference, refund_reference, 100_000))
}

async fn apply(store: &Store, batch: &[Envelope]) -> keffi_ledger::pipeline::BatchReport {
    let events = batch.iter().map(|e| (e.clone(), None)).collect();
    let r = routed(store, events).await.unwrap();
    apply_routed(store, &r, None).await.unwrap()
}

/// The owner of the platform account, its split source, and `codes` mapped.
async fn platform(store: &Store, codes: &[(&str, &MerchantId)]) -> MerchantId {
    let owner = add_merchant(store, "platform-co").await;
    store.add_source(SOURCE, &owner, now_ms()).await.unwrap();
    assert_eq!(
        store
            .split_source(&owner, SOURCE, Some(KEY), now_ms())
            .await
            .unwrap(),
        Some(Ok(()))
    );
    for (code, m) in codes {
        assert!(matches!(
            store
                .claim_subaccount(SOURCE, code, m, now_ms())
                .await
                .unwrap(),
            CodeClaim::New(_)
        ));
    }
    owner
}

async fn held_keys(store: &Store) -> Vec<(String, Option<String>)> {
    store
        .held_events(false, None, 100)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|h| {
            (
                h.reference.unwrap_or_default(),
                h.merchant.map(|m| m.to_string()),
            )
        })
        .collect()
}

async fn a_split_sources_events_go_where_their_payload_says(store: &Store) {
    let (a, b) = (
        add_merchant(store, "shop-a").await,
        add_merchant(store, "shop-b").await,
    );
    let owner = platform(store, &[("ACCT_a", &a), ("ACCT_b", &b), ("ACCT_b2", &b)]).await;
    for m in [&a, &b] {
        store
            .create_order(
                m,
                "ord_1",
                MinorUnits(500_000),
                Currency::NGN,
                None,
                now_ms(),
            )
            .await
            .unwrap();
    }
    let batch = [
        charge(1, "ord_1", Some("ACCT_a"), &[], None),
        // Right behind its charge, in the same batch: it names only the reference.
        refund("ord_1", "rf_1"),
        charge(2, "ord_2", None, &["ACCT_b", "ACCT_b2"], None),
        charge(3, "ord_3", Some("ACCT_z"), &[], None),
        charge(4, "ord_4", None, &[], Some("shop-b")),
        charge(5, "ord_5", Some("ACCT_a"), &[], Some("shop-b")),
        charge(6, "ord_6", None, &["ACCT_a", "ACCT_b"], None),
        charge(7, "ord_7", None, &[], Some("shop-nobody")),
    ];
    let report = apply(store, &batch).await;
    assert_eq!((report.applied, report.held), (4, 4), "{report:?}");
    let o = store.order(&a, "ord_1").await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::PartiallyRefunded);
    assert_eq!(
        store.order(&b, "ord_1").await.unwrap().unwrap().status,
        OrderStatus::Pending,
        "shop-a's charge of ord_1 never pays shop-b's ord_1"
    );
    for (m, reference) in [(&b, "ord_2"), (&b, "ord_4")] {
        let p = store.payment(m, reference).await.unwrap().unwrap();
        assert_eq!(p.status, PaymentStatus::Success, "{m} {reference}");
    }
    assert!(store.payment(&owner, "ord_3").await.unwrap().is_none());
    assert!(
        store.balances(&owner).await.unwrap().is_empty(),
        "the owner gets nothing"
    );
    let held = store.held_events(true, None, 100).await.unwrap();
    let reasons: BTreeMap<String, String> = held
        .iter()
        .map(|h| (h.reference.clone().unwrap(), h.reason.clone()))
        .collect();
    assert!(reasons["ord_3"].contains("ACCT_z"), "{reasons:?}");
    assert!(reasons["ord_5"].contains("shop-b"), "{reasons:?}");
    assert!(
        reasons["ord_6"].contains("several merchants"),
        "{reasons:?}"
    );
    assert!(reasons["ord_7"].contains("shop-nobody"), "{reasons:?}");

    // The refund of a held charge is held behind it; a re-pulled batch changes nothing.
    let report = apply(store, &[refund("ord_3", "rf_3")]).await;
    assert_eq!(report.held, 1, "{report:?}");
    let again = apply(store, &batch).await;
    assert_eq!((again.applied, again.duplicates), (0, 4), "{again:?}");
    assert_eq!(store.held_events(true, None, 100).await.unwrap().len(), 5);

    // Mapping the code places the charge, then its refund, in order, each once.
    assert_eq!(route_held(store, 100).await.unwrap(), 0);
    store
        .claim_subaccount(SOURCE, "ACCT_z", &b, now_ms())
        .await
        .unwrap();
    assert!(matches!(
        store
            .claim_subaccount(SOURCE, "ACCT_z", &a, now_ms())
            .await
            .unwrap(),
        CodeClaim::Taken
    ));
    assert_eq!(route_held(store, 1).await.unwrap(), 2);
    let p = store.payment(&b, "ord_3").await.unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(route_held(store, 100).await.unwrap(), 0, "placed once");
    let routed_to: HashMap<String, Option<String>> = held_keys(store).await.into_iter().collect();
    assert_eq!(routed_to["ord_3"].as_deref(), Some("shop-b"));
    assert_eq!(routed_to["ord_5"], None);
    // The gateway's retry of a placed event is its merchant's duplicate.
    let retry = apply(store, &[charge(3, "ord_3", Some("ACCT_z"), &[], None)]).await;
    assert_eq!((retry.duplicates, retry.held), (1, 0), "{retry:?}");
    assert_eq!(unbalanced_transactions(store).await, 0);
}
on_both_stores!(a_split_sources_events_go_where_their_payload_says);

/// A source splits for good, on the key it was given, and only its owner can make it split.
async fn a_source_splits_once_on_one_key(store: &Store) {
    let a = add_merchant(store, "shop-a").await;
    let owner = platform(store, &[]).await;
    assert_eq!(
        store
            .split_source(&owner, SOURCE, Some(KEY), now_ms())
            .await
            .unwrap(),
        Some(Ok(()))
    );
    assert_eq!(
        store
            .split_source(&owner, SOURCE, None, now_ms())
            .await
            .unwrap(),
        Some(Err(Some(KEY.to_owned())))
    );
    assert_eq!(
        store
            .split_source(&a, SOURCE, None, now_ms())
            .await
            .unwrap(),
        None
    );
}
on_both_stores!(a_source_splits_once_on_one_key);

#[derive(Debug, Clone)]
enum Op {
    Map {
        code: usize,
        to: usize,
    },
    Charge {
        reference: usize,
        code: Option<usize>,
        meta: Option<usize>,
    },
    Refund {
        reference: usize,
    },
    Apply,
    Sweep,
}

const CODES: [&str; 3] = ["ACCT_0", "ACCT_1", "ACCT_2"];
const SHOPS: [&str; 2] = ["shop-a", "shop-b"];

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        2 => (0..3usize, 0..2usize).prop_map(|(code, to)| Op::Map { code, to }),
        4 => (0..4usize, proptest::option::of(0..3usize), proptest::option::weighted(0.3, 0..2usize))
            .prop_map(|(reference, code, meta)| Op::Charge { reference, code, meta }),
        2 => (0..4usize).prop_map(|reference| Op::Refund { reference }),
        2 => Just(Op::Apply),
        1 => Just(Op::Sweep),
    ];
    proptest::collection::vec(op, 1..24)
}

/// Runs `ops` and checks, against the mappings as they end: every event is in at most one
/// inbox, never the owner's; a charge is only where its subaccount settles (or, with none,
/// where its metadata says), a refund only where its charge is; and once every code is mapped
/// and the sweep has run, every charge the rule can place is placed.
async fn run(store: &Store, ops: &[Op]) {
    let shops = [
        add_merchant(store, SHOPS[0]).await,
        add_merchant(store, SHOPS[1]).await,
    ];
    let owner = platform(store, &[]).await;
    let mut mapping: [Option<usize>; 3] = [None; 3];
    let mut pending: Vec<Envelope> = Vec::new();
    let mut charges: Vec<(String, Option<usize>, Option<usize>)> = Vec::new();
    let mut refunds: Vec<String> = Vec::new();
    let mut n = 0;
    for op in ops {
        match op {
            Op::Map { code, to } => {
                if mapping[*code].is_none() {
                    mapping[*code] = Some(*to);
                    store
                        .claim_subaccount(SOURCE, CODES[*code], &shops[*to], now_ms())
                        .await
                        .unwrap();
                }
            }
            Op::Charge {
                reference,
                code,
                meta,
            } => {
                n += 1;
                let reference = format!("ord_{n}_{reference}");
                pending.push(charge(
                    n,
                    &reference,
                    code.map(|c| CODES[c]),
                    &[],
                    meta.map(|m| SHOPS[m]),
                ));
                charges.push((reference, *code, *meta));
            }
            Op::Refund { reference } => {
                // A refund of one of the charges so far (by position), or of none yet.
                let Some((r, _, _)) = charges.get(*reference) else {
                    continue;
                };
                let r = r.clone();
                n += 1;
                pending.push(refund(&r, &format!("rf_{n}")));
                refunds.push(r);
            }
            Op::Apply => {
                apply(store, &std::mem::take(&mut pending)).await;
            }
            Op::Sweep => {
                route_held(store, 2).await.unwrap();
            }
        }
    }
    apply(store, &pending).await;
    for (code, slot) in mapping.iter_mut().enumerate() {
        if slot.is_none() {
            *slot = Some(code % 2);
            store
                .claim_subaccount(SOURCE, CODES[code], &shops[code % 2], now_ms())
                .await
                .unwrap();
        }
    }
    route_held(store, 3).await.unwrap();

    // Where each reference's events are, by merchant.
    let mut placed: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, shop) in shops.iter().enumerate() {
        for (reference, _, _) in &charges {
            if store.payment(shop, reference).await.unwrap().is_some() {
                placed.entry(reference.clone()).or_default().push(i);
            }
        }
    }
    for (reference, code, meta) in &charges {
        assert!(
            store.payment(&owner, reference).await.unwrap().is_none(),
            "{reference} at the owner"
        );
        let expected = match (code.map(|c| mapping[c].unwrap()), meta) {
            (Some(to), Some(m)) if to != *m => None,
            (Some(to), _) => Some(to),
            (None, Some(m)) => Some(*m),
            (None, None) => None,
        };
        let at = placed.get(reference).cloned().unwrap_or_default();
        match expected {
            Some(to) => assert_eq!(at, vec![to], "{reference}: {code:?} {meta:?}"),
            None => assert!(
                at.is_empty(),
                "{reference} placed without its merchant named: {at:?}"
            ),
        }
    }
    // A refund is applied with its charge's merchant or held; never elsewhere.
    let held: Vec<String> = store
        .held_events(true, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|h| h.reference)
        .collect();
    for reference in &refunds {
        let at = placed.get(reference).cloned().unwrap_or_default();
        let refunded = {
            let mut any = false;
            for (i, shop) in shops.iter().enumerate() {
                let p = store.payment(shop, reference).await.unwrap();
                if p.is_some_and(|p| p.refunded.0 > 0) {
                    assert_eq!(at, vec![i], "{reference} refunded where its charge is not");
                    any = true;
                }
            }
            any
        };
        assert!(
            refunded || held.contains(reference),
            "{reference}: refund lost"
        );
    }
    assert_eq!(unbalanced_transactions(store).await, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn generated_sequences_place_each_event_with_its_merchant_once(ops in ops()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let s = common::sqlite().await;
            run(&s.store, &ops).await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_sequence_on_postgres() {
    let s = common::postgres().await;
    run(
        &s.store,
        &[
            Op::Charge {
                reference: 0,
                code: Some(0),
                meta: None,
            },
            Op::Refund { reference: 0 },
            Op::Apply,
            Op::Map { code: 0, to: 1 },
            Op::Charge {
                reference: 1,
                code: None,
                meta: Some(0),
            },
            Op::Refund { reference: 1 },
            Op::Sweep,
            Op::Charge {
                reference: 2,
                code: Some(1),
                meta: Some(0),
            },
        ],
    )
    .await;
}
