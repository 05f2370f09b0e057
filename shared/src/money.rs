//! Money as integers: an amount in the currency's minor unit (kobo for NGN, cents for USD) and
//! an ISO 4217 currency code. Never floats: a float cannot hold 0.1 naira exactly, and a ledger
//! that rounds is a ledger that drifts.

mod major;

pub use major::MajorAmountError;

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// An amount in minor units. Gateways send it as a JSON integer, and some Paystack events as a
/// string of digits; both are read, anything fractional or non-numeric is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct MinorUnits(pub i64);

impl MinorUnits {
    pub const ZERO: MinorUnits = MinorUnits(0);

    /// The largest amount Keffi accepts in one order, charge, refund or dispute:
    /// 10^12 minor units (₦10 billion, $10 billion), orders of magnitude above any card or
    /// bank payment a gateway settles. A ceiling keeps every sum of real amounts far from
    /// `i64` overflow (9.2 × 10^18 is nine million transactions at the ceiling), so an absurd
    /// amount is refused where it enters instead of breaking a total later.
    pub const MAX_AMOUNT: MinorUnits = MinorUnits(1_000_000_000_000);

    /// Whether this is an amount money can move by: positive and at most [`Self::MAX_AMOUNT`].
    pub fn is_valid_amount(self) -> bool {
        self.0 > 0 && self <= Self::MAX_AMOUNT
    }

    pub fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: MinorUnits) -> Option<MinorUnits> {
        self.0.checked_add(other.0).map(MinorUnits)
    }

    pub fn checked_sub(self, other: MinorUnits) -> Option<MinorUnits> {
        self.0.checked_sub(other.0).map(MinorUnits)
    }

    pub fn checked_neg(self) -> Option<MinorUnits> {
        self.0.checked_neg().map(MinorUnits)
    }
}

impl From<i64> for MinorUnits {
    fn from(minor: i64) -> Self {
        MinorUnits(minor)
    }
}

impl fmt::Display for MinorUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for MinorUnits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AmountVisitor;
        impl Visitor<'_> for AmountVisitor {
            type Value = MinorUnits;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer amount in minor units (a number or a string of digits)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MinorUnits, E> {
                Ok(MinorUnits(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MinorUnits, E> {
                i64::try_from(v)
                    .map(MinorUnits)
                    .map_err(|_| E::custom("amount out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MinorUnits, E> {
                Err(E::custom(format!(
                    "amount {v} is not an integer number of minor units"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MinorUnits, E> {
                v.trim()
                    .parse::<i64>()
                    .map(MinorUnits)
                    .map_err(|_| E::custom(format!("amount {v:?} is not an integer")))
            }
        }
        d.deserialize_any(AmountVisitor)
    }
}

/// An ISO 4217 alphabetic code: three ASCII uppercase letters (`NGN`, `GHS`, `USD`, …).
/// Lowercase input is upper-cased (Stripe sends `ngn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const NGN: Currency = Currency(*b"NGN");

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

/// Not a three-letter currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ISO 4217 currency code (three letters)")]
pub struct InvalidCurrency(pub String);

impl FromStr for Currency {
    type Err = InvalidCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(InvalidCurrency(s.to_owned()));
        }
        Ok(Currency([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in its currency, as people read it: the code, the major units grouped by
/// thousands, the currency's decimals (`NGN 5,000.00` for 500000 kobo, `UGX 5,000` for 5000
/// shillings). Every money figure Keffi writes
/// for a human in text (the timeline's summaries) goes through this one formatter, and the
/// dashboard's `money()` writes the same form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub amount: MinorUnits,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: MinorUnits, currency: Currency) -> Self {
        Money { amount, currency }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `unsigned_abs`: `i64::MIN` has no positive `i64`.
        let minor = self.amount.0.unsigned_abs();
        let sign = if self.amount.0 < 0 { "-" } else { "" };
        let exponent = self.currency.exponent();
        let scale = 10u64.pow(exponent);
        let major = (minor / scale).to_string();
        let mut grouped = String::with_capacity(major.len() + major.len() / 3);
        for (i, digit) in major.chars().enumerate() {
            if i > 0 && (major.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        if exponent == 0 {
            return write!(f, "{} {sign}{grouped}", self.currency);
        }
        let width = exponent as usize;
        write!(
            f,
            "{} {sign}{grouped}.{:0width$}",
            self.currency,
            minor % scale
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_integers_and_digit_strings_only() {
        let read = |s: &str| serde_json::from_str::<MinorUnits>(s);
        assert_eq!(read("500000").unwrap(), MinorUnits(500000));
        assert_eq!(read("\"500000\"").unwrap(), MinorUnits(500000));
        assert_eq!(read("-20").unwrap(), MinorUnits(-20));
        assert!(read("5000.5").is_err());
        assert!(read("\"5000.00\"").is_err());
        assert!(read("\"abc\"").is_err());
        assert!(read("18446744073709551615").is_err());
        assert!(read("null").is_err());
        assert_eq!(serde_json::to_string(&MinorUnits(7)).unwrap(), "7");
    }

    #[test]
    fn currencies_are_three_letters_uppercased() {
        assert_eq!("ngn".parse::<Currency>().unwrap(), Currency::NGN);
        assert_eq!(Currency::NGN.to_string(), "NGN");
        for bad in ["NG", "NGNN", "N1N", "", "₦"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&Currency::NGN).unwrap(), "\"NGN\"");
        assert!(serde_json::from_str::<Currency>("\"US\"").is_err());
    }

    #[test]
    fn money_reads_as_major_units_grouped_with_two_decimals() {
        let ngn = |minor| Money::new(MinorUnits(minor), Currency::NGN).to_string();
        assert_eq!(ngn(500_000), "NGN 5,000.00");
        assert_eq!(ngn(250_000_000), "NGN 2,500,000.00");
        assert_eq!(ngn(5), "NGN 0.05");
        assert_eq!(ngn(0), "NGN 0.00");
        assert_eq!(ngn(99_999), "NGN 999.99");
        assert_eq!(ngn(-150), "NGN -1.50");
        assert_eq!(ngn(i64::MIN), "NGN -92,233,720,368,547,758.08");
        assert_eq!(ngn(i64::MAX), "NGN 92,233,720,368,547,758.07");
        let of =
            |minor, code: &str| Money::new(MinorUnits(minor), code.parse().unwrap()).to_string();
        assert_eq!(of(5000, "UGX"), "UGX 5,000", "no minor unit: no decimals");
        assert_eq!(of(1_234, "KWD"), "KWD 1.234");
    }

    proptest::proptest! {
        /// Whatever the amount, the text says exactly it: the digits without the grouping
        /// commas and the point are the amount in minor units, and the commas fall every
        /// three digits of the major part.
        #[test]
        fn money_text_is_exactly_the_amount(minor in proptest::num::i64::ANY) {
            let text = Money::new(MinorUnits(minor), Currency::NGN).to_string();
            let figure = text.strip_prefix("NGN ").unwrap();
            let (major, cents) = figure.trim_start_matches('-').split_once('.').unwrap();
            proptest::prop_assert_eq!(cents.len(), 2);
            for (i, group) in major.split(',').enumerate() {
                let ok = if i == 0 {
                    (1..=3).contains(&group.len())
                } else {
                    group.len() == 3
                };
                proptest::prop_assert!(ok, "{text}");
            }
            let digits: String = figure.chars().filter(char::is_ascii_digit).collect();
            let back = digits.parse::<i128>().unwrap() * if minor < 0 { -1 } else { 1 };
            proptest::prop_assert_eq!(back, i128::from(minor));
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(MinorUnits(i64::MAX).checked_add(MinorUnits(1)), None);
        assert_eq!(
            MinorUnits(5).checked_sub(MinorUnits(7)),
            Some(MinorUnits(-2))
        );
        assert_eq!(MinorUnits(i64::MIN).checked_neg(), None);
    }
}
