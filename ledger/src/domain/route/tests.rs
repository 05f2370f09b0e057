use super::*;
use proptest::prelude::*;

fn m(s: &str) -> MerchantId {
    MerchantId::parse(s).unwrap()
}

fn hints(subaccount: Option<&str>, split: &[&str], metadata: Option<&str>) -> PayeeHints {
    PayeeHints {
        subaccount: subaccount.map(str::to_owned),
        split: split.iter().map(|s| (*s).to_owned()).collect(),
        metadata: metadata.map(str::to_owned),
    }
}

/// What is known: `subs`, `merchants` and `by_reference`, nothing stored.
fn knowing<'a>(
    subs: &'a HashMap<String, MerchantId>,
    merchants: &'a HashSet<MerchantId>,
    by_reference: &'a [MerchantId],
) -> Known<'a> {
    Known {
        stored_at: None,
        subaccounts: subs,
        merchants,
        by_reference,
    }
}

static NONE: std::sync::LazyLock<HashSet<MerchantId>> = std::sync::LazyLock::new(HashSet::new);

fn map(pairs: &[(&str, &str)]) -> HashMap<String, MerchantId> {
    pairs.iter().map(|(c, x)| ((*c).to_owned(), m(x))).collect()
}

#[test]
fn a_mapped_subaccount_places_a_charge_and_an_unmapped_one_holds_it() {
    let subs = map(&[("ACCT_a", "shop-a")]);
    let known = knowing(&subs, &NONE, &[]);
    assert_eq!(
        route(&hints(Some("ACCT_a"), &[], None), Some("r1"), &known),
        Route::To(m("shop-a"))
    );
    let Route::Held(why) = route(&hints(Some("ACCT_z"), &[], None), Some("r1"), &known) else {
        panic!("placed an unmapped subaccount");
    };
    assert!(why.contains("ACCT_z"), "{why}");
}

#[test]
fn a_split_must_settle_to_one_merchant_and_metadata_cannot_overrule_it() {
    let subs = map(&[
        ("ACCT_a", "shop-a"),
        ("ACCT_a2", "shop-a"),
        ("ACCT_b", "shop-b"),
    ]);
    let merchants: HashSet<MerchantId> = [m("shop-a"), m("shop-b")].into();
    let known = knowing(&subs, &merchants, &[]);
    let one = hints(None, &["ACCT_a", "ACCT_a2"], Some("shop-a"));
    assert_eq!(route(&one, None, &known), Route::To(m("shop-a")));
    assert!(matches!(
        route(&hints(None, &["ACCT_a", "ACCT_b"], None), None, &known),
        Route::Held(_)
    ));
    assert!(matches!(
        route(&hints(Some("ACCT_a"), &[], Some("shop-b")), None, &known),
        Route::Held(_)
    ));
    assert!(matches!(
        route(&hints(Some("ACCT_a"), &[], Some("Not An Id")), None, &known),
        Route::Held(_)
    ));
}

#[test]
fn metadata_names_an_existing_merchant_or_holds() {
    let subs = HashMap::new();
    let merchants: HashSet<MerchantId> = [m("shop-a")].into();
    let known = knowing(&subs, &merchants, &[]);
    assert_eq!(
        route(&hints(None, &[], Some("shop-a")), None, &known),
        Route::To(m("shop-a"))
    );
    assert!(matches!(
        route(&hints(None, &[], Some("shop-x")), None, &known),
        Route::Held(_)
    ));
    assert!(matches!(
        route(&hints(None, &[], Some("SHOP A")), None, &known),
        Route::Held(_)
    ));
}

#[test]
fn a_refund_follows_its_charge_when_that_is_one_merchant() {
    let subs = HashMap::new();
    let a = [m("shop-a"), m("shop-a")];
    let known = knowing(&subs, &NONE, &a);
    assert_eq!(
        route(&PayeeHints::default(), Some("r1"), &known),
        Route::To(m("shop-a"))
    );
    let two = [m("shop-a"), m("shop-b")];
    let known = knowing(&subs, &NONE, &two);
    assert!(matches!(
        route(&PayeeHints::default(), Some("r1"), &known),
        Route::Held(_)
    ));
    let known = knowing(&subs, &NONE, &[]);
    assert!(matches!(
        route(&PayeeHints::default(), Some("r1"), &known),
        Route::Held(_)
    ));
    assert!(matches!(
        route(&PayeeHints::default(), None, &known),
        Route::Held(_)
    ));
}

#[test]
fn a_stored_event_stays_where_it_is() {
    let subs = map(&[("ACCT_b", "shop-b")]);
    let a = m("shop-a");
    let known = Known {
        stored_at: Some(&a),
        ..knowing(&subs, &NONE, &[])
    };
    assert_eq!(
        route(&hints(Some("ACCT_b"), &[], None), None, &known),
        Route::To(a)
    );
}

const CODES: [&str; 4] = ["ACCT_a", "ACCT_b", "ACCT_c", "ACCT_d"];
const MERCHANTS: [&str; 3] = ["shop-a", "shop-b", "shop-c"];

#[derive(Debug, Clone)]
struct Case {
    subaccount: Option<usize>,
    split: Vec<usize>,
    /// 0..3 a merchant, 3 one that does not exist, 4 not an id, 5 none.
    metadata: usize,
    /// Which merchant (if any) each code is mapped to.
    mapping: [Option<usize>; 4],
    /// Merchants 0..3 exist; the ones here too.
    exists: [bool; 3],
    by_reference: Vec<usize>,
    has_reference: bool,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        proptest::option::of(0..4usize),
        proptest::collection::vec(0..4usize, 0..3),
        0..6usize,
        proptest::array::uniform4(proptest::option::of(0..3usize)),
        proptest::array::uniform3(any::<bool>()),
        proptest::collection::vec(0..3usize, 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(subaccount, split, metadata, mapping, exists, by_reference, has_reference)| Case {
                subaccount,
                split,
                metadata,
                mapping,
                exists,
                by_reference,
                has_reference,
            },
        )
}

fn run(c: &Case) -> Route {
    let metadata = match c.metadata {
        i @ 0..=2 => Some(MERCHANTS[i]),
        3 => Some("shop-gone"),
        4 => Some("Not An Id"),
        _ => None,
    };
    let split: Vec<&str> = c.split.iter().map(|i| CODES[*i]).collect();
    let h = hints(c.subaccount.map(|i| CODES[i]), &split, metadata);
    let subs: HashMap<String, MerchantId> = c
        .mapping
        .iter()
        .enumerate()
        .filter_map(|(code, to)| to.map(|x| (CODES[code].to_owned(), m(MERCHANTS[x]))))
        .collect();
    let merchants: HashSet<MerchantId> = (0..3)
        .filter(|i| c.exists[*i])
        .map(|i| m(MERCHANTS[i]))
        .collect();
    let by_reference: Vec<MerchantId> = c.by_reference.iter().map(|i| m(MERCHANTS[*i])).collect();
    let known = Known {
        stored_at: None,
        subaccounts: &subs,
        merchants: &merchants,
        by_reference: &by_reference,
    };
    route(&h, c.has_reference.then_some("r1"), &known)
}

/// The model: the merchants the event's evidence points at, by kind. An event may go to a
/// merchant only when its strongest evidence points at that one merchant alone, and no other
/// evidence it carries points elsewhere.
fn justified(c: &Case, to: &str) -> bool {
    let mut codes: Vec<usize> = c.subaccount.into_iter().collect();
    codes.extend(&c.split);
    if !codes.is_empty() {
        let all_to = codes
            .iter()
            .all(|i| c.mapping[*i].map(|x| MERCHANTS[x]) == Some(to));
        let meta_agrees = match c.metadata {
            i @ 0..=3 => [MERCHANTS[0], MERCHANTS[1], MERCHANTS[2], "shop-gone"][i] == to,
            4 => false,
            _ => true,
        };
        return all_to && meta_agrees;
    }
    match c.metadata {
        i @ 0..=2 => return MERCHANTS[i] == to && c.exists[i],
        3 | 4 => return false,
        _ => {}
    }
    c.has_reference
        && !c.by_reference.is_empty()
        && c.by_reference.iter().all(|i| MERCHANTS[*i] == to)
}

proptest! {
    /// Placed only where the evidence points, and held whenever some merchant is justified
    /// by nothing (the rule never holds an event the model would place, either).
    #[test]
    fn an_event_goes_only_where_its_evidence_points(c in cases()) {
        match run(&c) {
            Route::To(to) => prop_assert!(justified(&c, to.as_str()), "{c:?} placed at {to}"),
            Route::Held(_) => prop_assert!(
                !MERCHANTS.iter().any(|x| justified(&c, x)),
                "{c:?} held though justified"
            ),
        }
    }

    /// Mapping more codes never moves a placed event: the inputs only grow, so a retry or a
    /// re-pull lands where the first copy did.
    #[test]
    fn mapping_more_subaccounts_never_moves_a_placed_event(c in cases(), more in proptest::array::uniform4(proptest::option::of(0..3usize))) {
        if let Route::To(before) = run(&c) {
            let mut grown = c.clone();
            for (slot, extra) in grown.mapping.iter_mut().zip(more) {
                if slot.is_none() {
                    *slot = extra;
                }
            }
            for (e, _) in grown.exists.iter_mut().zip(0..) {
                *e = true;
            }
            prop_assert_eq!(run(&grown), Route::To(before));
        }
    }
}
