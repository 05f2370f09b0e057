use super::*;
use proptest::prelude::*;

const NGN: Currency = Currency::NGN;

#[test]
fn a_charge_posts_gross_fee_and_net() {
    let tx = JournalTx::charge(
        "ord_1",
        Provider::Paystack,
        MinorUnits(500_000),
        MinorUnits(7_500),
        NGN,
    )
    .unwrap();
    let b = balances(&tx.entries).unwrap();
    assert_eq!(b[&(Account::sales(), NGN)], MinorUnits(-500_000));
    assert_eq!(
        b[&(Account::fees(Provider::Paystack), NGN)],
        MinorUnits(7_500)
    );
    assert_eq!(
        b[&(Account::merchant_balance(Provider::Paystack), NGN)],
        MinorUnits(492_500)
    );
}

#[test]
fn zero_fee_lines_are_left_out() {
    let tx =
        JournalTx::charge("r", Provider::Paystack, MinorUnits(100), MinorUnits(0), NGN).unwrap();
    assert_eq!(tx.entries.len(), 2);
}

#[test]
fn unbalanced_transactions_are_refused() {
    let tx = JournalTx {
        kind: TxKind::Charge,
        reference: "r".into(),
        entries: vec![entry(Account::sales(), NGN, MinorUnits(1))],
    };
    assert_eq!(tx.check_balanced(), Err(JournalError::Unbalanced(NGN)));
}

#[test]
fn overflow_is_an_error_not_a_wrap() {
    assert_eq!(
        JournalTx::charge(
            "r",
            Provider::Paystack,
            MinorUnits(i64::MIN),
            MinorUnits(1),
            NGN
        ),
        Err(JournalError::Overflow)
    );
}

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["NGN", "GHS", "USD", "KES"]).prop_map(|c| c.parse().unwrap())
}

/// One of the journal's transaction builders with arbitrary figures.
fn transaction() -> impl Strategy<Value = JournalTx> {
    (0u8..5, 1i64..1_000_000_000_000, 0i64..1_000_000, currency()).prop_map(
        |(kind, amount, fee, c)| {
            let (a, f) = (MinorUnits(amount), MinorUnits(fee.min(amount)));
            match kind {
                0 => JournalTx::charge("r", Provider::Paystack, a, f, c),
                1 => JournalTx::refund("r", Provider::Paystack, a, c),
                2 => JournalTx::dispute_opened("r", Provider::Paystack, a, c),
                3 => JournalTx::dispute_resolved("r", Provider::Paystack, a, MinorUnits::ZERO, c),
                _ => JournalTx::dispute_resolved("r", Provider::Paystack, a, a, c),
            }
            .unwrap()
        },
    )
}

proptest! {
    /// Every transaction the ledger can build sums to zero per currency.
    #[test]
    fn every_transaction_balances(tx in transaction()) {
        prop_assert_eq!(tx.check_balanced(), Ok(()));
        let total: BTreeMap<Currency, i64> = sums(&tx.entries).unwrap();
        prop_assert!(total.values().all(|s| *s == 0));
    }

    /// Balances are sums of entries, and across any journal they net to zero per currency.
    #[test]
    fn balances_are_sums_and_net_to_zero(txs in prop::collection::vec(transaction(), 0..40)) {
        let entries: Vec<Entry> = txs.iter().flat_map(|t| t.entries.clone()).collect();
        let b = balances(&entries).unwrap();
        for ((account, c), balance) in &b {
            let direct: i64 = entries.iter()
                .filter(|e| &e.account == account && e.currency == *c)
                .map(|e| e.amount.get())
                .sum();
            prop_assert_eq!(balance.get(), direct);
        }
        let mut per_currency: BTreeMap<Currency, i64> = BTreeMap::new();
        for ((_, c), v) in b {
            *per_currency.entry(c).or_default() += v.get();
        }
        prop_assert!(per_currency.values().all(|s| *s == 0));
    }
}
