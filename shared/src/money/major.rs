//! Amounts some gateways send in major units (Flutterwave's `100` naira, its `1.4` naira fee),
//! read into minor units exactly: from the number's own decimal text, never through a float.
//! An amount with more decimals than its currency has (`1.005` naira), a negative one, or one
//! past the ceiling is refused with the reason, never rounded.

use super::{Currency, MinorUnits};

/// Why a major-unit amount cannot be minor units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MajorAmountError {
    #[error("amount `{0}` is not a decimal number")]
    NotANumber(String),
    #[error("amount `{text}` has more decimals than {currency}'s {exponent}")]
    TooPrecise {
        text: String,
        currency: Currency,
        exponent: u32,
    },
    #[error("amount `{0}` is negative")]
    Negative(String),
    #[error("amount `{0}` is larger than any amount Keffi takes")]
    TooLarge(String),
}

impl Currency {
    /// The digits after the decimal point of the currency's minor unit (ISO 4217): 2 for most
    /// (NGN, GHS, KES, USD), 0 for those without a minor unit in use (UGX, RWF, XOF, XAF,
    /// JPY, …), 3 for the dinars and rials that have thousandths.
    pub fn exponent(&self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl MinorUnits {
    /// `text`, a JSON number (or a string holding one) in major units of `currency`, as minor
    /// units. Exponent notation (`1.5e3`) is read exactly too.
    pub fn from_major(text: &str, currency: Currency) -> Result<MinorUnits, MajorAmountError> {
        let raw = text.trim().trim_matches('"').trim();
        let not_a_number = || MajorAmountError::NotANumber(raw.to_owned());
        let too_large = || MajorAmountError::TooLarge(raw.to_owned());
        if raw.starts_with('-') {
            return Err(MajorAmountError::Negative(raw.to_owned()));
        }
        let (mantissa, exp10) = match raw.find(['e', 'E']) {
            Some(at) => {
                let e: i32 = raw[at + 1..].parse().map_err(|_| not_a_number())?;
                (&raw[..at], e)
            }
            None => (raw, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty() && fraction.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(not_a_number());
        }
        // The number is digits × 10^(exp10 − fraction's length); in minor units, times
        // 10^exponent more.
        let digits = format!("{whole}{fraction}");
        let digits = digits.trim_start_matches('0');
        let shift = exp10 - fraction.len() as i32 + currency.exponent() as i32;
        let (digits, shift) = {
            // Trailing zeros move into the shift, so `100.50` NGN is 10050 × 10^0.
            let kept = digits.trim_end_matches('0');
            (kept, shift + (digits.len() - kept.len()) as i32)
        };
        if digits.is_empty() {
            return Ok(MinorUnits::ZERO);
        }
        if shift < 0 {
            return Err(MajorAmountError::TooPrecise {
                text: raw.to_owned(),
                currency,
                exponent: currency.exponent(),
            });
        }
        if digits.len() as i32 + shift > 18 {
            return Err(too_large());
        }
        let base: i64 = digits.parse().map_err(|_| too_large())?;
        let minor = base
            .checked_mul(10i64.pow(shift as u32))
            .ok_or_else(too_large)?;
        let minor = MinorUnits(minor);
        if minor > MinorUnits::MAX_AMOUNT {
            return Err(too_large());
        }
        Ok(minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(code: &str) -> Currency {
        code.parse().unwrap()
    }

    #[test]
    fn major_amounts_become_minor_units_exactly() {
        let ngn = Currency::NGN;
        for (text, minor) in [
            ("100", 10_000),
            ("1.4", 140),
            ("0.01", 1),
            ("100.50", 10_050),
            ("1.5e3", 150_000),
            ("25E-1", 250),
            ("\"2500.00\"", 250_000),
            ("0", 0),
            ("0.000", 0),
            ("007.10", 710),
        ] {
            assert_eq!(
                MinorUnits::from_major(text, ngn),
                Ok(MinorUnits(minor)),
                "{text}"
            );
        }
        assert_eq!(
            MinorUnits::from_major("5000", c("UGX")),
            Ok(MinorUnits(5000))
        );
        assert_eq!(
            MinorUnits::from_major("1.234", c("KWD")),
            Ok(MinorUnits(1234))
        );
    }

    #[test]
    fn anything_that_would_round_is_refused() {
        let ngn = Currency::NGN;
        assert!(matches!(
            MinorUnits::from_major("1.005", ngn),
            Err(MajorAmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            MinorUnits::from_major("5000.5", c("UGX")),
            Err(MajorAmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            MinorUnits::from_major("1e-3", ngn),
            Err(MajorAmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            MinorUnits::from_major("-1", ngn),
            Err(MajorAmountError::Negative(_))
        ));
        for huge in ["10000000001", "1e30", "99999999999999999999"] {
            assert!(
                matches!(
                    MinorUnits::from_major(huge, ngn),
                    Err(MajorAmountError::TooLarge(_))
                ),
                "{huge}"
            );
        }
        for bad in [
            "", ".", "1.2.3", "abc", "1e", "0x10", "1,000", "NaN", "Infinity", "+1",
        ] {
            assert!(
                matches!(
                    MinorUnits::from_major(bad, ngn),
                    Err(MajorAmountError::NotANumber(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(c("UGX").exponent(), 0);
        assert_eq!(Currency::NGN.exponent(), 2);
    }

    proptest! {
        /// Any amount written in major units with the currency's decimals (and any number of
        /// trailing zeros, or in exponent form) reads back as exactly itself.
        #[test]
        fn written_then_read_is_the_same_amount(
            minor in 0i64..=MinorUnits::MAX_AMOUNT.0,
            exponent in prop::sample::select(vec![("UGX", 0u32), ("NGN", 2), ("KWD", 3)]),
            zeros in 0usize..4,
            scientific in any::<bool>(),
        ) {
            let (code, e) = exponent;
            let scale = 10i64.pow(e);
            let text = if e == 0 {
                format!("{minor}")
            } else {
                format!("{}.{:0w$}{}", minor / scale, minor % scale, "0".repeat(zeros), w = e as usize)
            };
            let text = if scientific { format!("{minor}e-{e}") } else { text };
            prop_assert_eq!(MinorUnits::from_major(&text, c(code)), Ok(MinorUnits(minor)));
        }

        /// One more decimal than the currency has, not zero, is always refused.
        #[test]
        fn one_decimal_too_many_is_refused(minor in 0i64..1_000_000_000, extra in 1u8..10) {
            let text = format!("{}.{:02}{extra}", minor / 100, minor % 100);
            let refused = matches!(
                MinorUnits::from_major(&text, Currency::NGN),
                Err(MajorAmountError::TooPrecise { .. })
            );
            prop_assert!(refused);
        }
    }
}
