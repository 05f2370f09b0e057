//! The double-entry journal. A transaction is a set of entries, debits positive and credits
//! negative, that sums to zero in every currency; nothing is ever updated or deleted, a
//! correction is a new reversing transaction, and a balance is a sum of entries.
//!
//! Accounts (per gateway where it matters):
//!
//! | account | what it holds |
//! |---|---|
//! | `sales` | credited with every charge's gross amount |
//! | `fees:{gateway}` | debited with the gateway's fee on a charge |
//! | `merchant_balance:{gateway}` | the merchant's net money at the gateway |
//! | `refunds` | debited with money returned to customers |
//! | `disputes_held` | money held while a dispute is open |
//! | `chargebacks` | debited with disputes the merchant lost |

use std::collections::BTreeMap;
use std::fmt;

use keffi_shared::{Currency, MinorUnits, Provider};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Account(String);

impl Account {
    pub fn sales() -> Self {
        Account("sales".into())
    }
    pub fn fees(gateway: Provider) -> Self {
        Account(format!("fees:{gateway}"))
    }
    pub fn merchant_balance(gateway: Provider) -> Self {
        Account(format!("merchant_balance:{gateway}"))
    }
    pub fn refunds() -> Self {
        Account("refunds".into())
    }
    pub fn disputes_held() -> Self {
        Account("disputes_held".into())
    }
    pub fn chargebacks() -> Self {
        Account("chargebacks".into())
    }
    /// An account name read back from storage.
    pub fn named(name: impl Into<String>) -> Self {
        Account(name.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub account: Account,
    pub currency: Currency,
    /// Debit positive, credit negative.
    pub amount: MinorUnits,
}

/// What a journal transaction records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    Charge,
    Refund,
    DisputeOpened,
    DisputeWon,
    DisputeLost,
}

keffi_shared::named_variants!(TxKind {
    Charge => "charge",
    Refund => "refund",
    DisputeOpened => "dispute_opened",
    DisputeWon => "dispute_won",
    DisputeLost => "dispute_lost",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalTx {
    pub kind: TxKind,
    pub reference: String,
    pub entries: Vec<Entry>,
}

/// A journal transaction would not balance or would overflow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error("entries do not sum to zero in {0}")]
    Unbalanced(Currency),
    #[error("amounts overflow")]
    Overflow,
}

impl JournalTx {
    fn new(kind: TxKind, reference: &str, entries: Vec<Entry>) -> Result<Self, JournalError> {
        let tx = JournalTx {
            kind,
            reference: reference.to_owned(),
            // Zero lines (a charge without fees) carry no information.
            entries: entries
                .into_iter()
                .filter(|e| e.amount != MinorUnits::ZERO)
                .collect(),
        };
        tx.check_balanced()?;
        Ok(tx)
    }

    /// Checks the invariant: the entries sum to zero in every currency.
    pub fn check_balanced(&self) -> Result<(), JournalError> {
        for (currency, sum) in sums(&self.entries)? {
            if sum != 0 {
                return Err(JournalError::Unbalanced(currency));
            }
        }
        Ok(())
    }

    /// A charge: the customer's gross to sales, the gateway's fee, the net to the merchant.
    pub fn charge(
        reference: &str,
        gateway: Provider,
        gross: MinorUnits,
        fees: MinorUnits,
        currency: Currency,
    ) -> Result<Self, JournalError> {
        let net = gross.checked_sub(fees).ok_or(JournalError::Overflow)?;
        let credit = gross.checked_neg().ok_or(JournalError::Overflow)?;
        Self::new(
            TxKind::Charge,
            reference,
            vec![
                entry(Account::merchant_balance(gateway), currency, net),
                entry(Account::fees(gateway), currency, fees),
                entry(Account::sales(), currency, credit),
            ],
        )
    }

    /// Money moved from `from` (credited) to `to` (debited).
    fn transfer(
        kind: TxKind,
        reference: &str,
        to: Account,
        from: Account,
        amount: MinorUnits,
        currency: Currency,
    ) -> Result<Self, JournalError> {
        let credit = amount.checked_neg().ok_or(JournalError::Overflow)?;
        Self::new(
            kind,
            reference,
            vec![entry(to, currency, amount), entry(from, currency, credit)],
        )
    }

    /// A refund: money leaves the merchant's balance back to the customer.
    pub fn refund(
        reference: &str,
        gateway: Provider,
        amount: MinorUnits,
        currency: Currency,
    ) -> Result<Self, JournalError> {
        Self::transfer(
            TxKind::Refund,
            reference,
            Account::refunds(),
            Account::merchant_balance(gateway),
            amount,
            currency,
        )
    }

    /// A dispute opens: the disputed amount is held out of the merchant's balance.
    pub fn dispute_opened(
        reference: &str,
        gateway: Provider,
        amount: MinorUnits,
        currency: Currency,
    ) -> Result<Self, JournalError> {
        Self::transfer(
            TxKind::DisputeOpened,
            reference,
            Account::disputes_held(),
            Account::merchant_balance(gateway),
            amount,
            currency,
        )
    }

    /// A dispute is resolved: of the `held` amount, `to_customer` is gone as a chargeback
    /// and the rest returns to the merchant's balance (all of it when the merchant won).
    pub fn dispute_resolved(
        reference: &str,
        gateway: Provider,
        held: MinorUnits,
        to_customer: MinorUnits,
        currency: Currency,
    ) -> Result<Self, JournalError> {
        let back = held
            .checked_sub(to_customer)
            .ok_or(JournalError::Overflow)?;
        let release = held.checked_neg().ok_or(JournalError::Overflow)?;
        let kind = if to_customer == MinorUnits::ZERO {
            TxKind::DisputeWon
        } else {
            TxKind::DisputeLost
        };
        Self::new(
            kind,
            reference,
            vec![
                entry(Account::chargebacks(), currency, to_customer),
                entry(Account::merchant_balance(gateway), currency, back),
                entry(Account::disputes_held(), currency, release),
            ],
        )
    }
}

fn entry(account: Account, currency: Currency, amount: MinorUnits) -> Entry {
    Entry {
        account,
        currency,
        amount,
    }
}

fn sums(entries: &[Entry]) -> Result<BTreeMap<Currency, i64>, JournalError> {
    let mut sums: BTreeMap<Currency, i64> = BTreeMap::new();
    for e in entries {
        let s = sums.entry(e.currency).or_default();
        *s = s
            .checked_add(e.amount.get())
            .ok_or(JournalError::Overflow)?;
    }
    Ok(sums)
}

/// Balances per account and currency: the sum of the entries, never a stored counter.
pub fn balances<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
) -> Result<BTreeMap<(Account, Currency), MinorUnits>, JournalError> {
    let mut out: BTreeMap<(Account, Currency), MinorUnits> = BTreeMap::new();
    for e in entries {
        let b = out.entry((e.account.clone(), e.currency)).or_default();
        *b = b.checked_add(e.amount).ok_or(JournalError::Overflow)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
