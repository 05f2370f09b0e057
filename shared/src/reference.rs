//! The merchant's payment reference: what a checkout hands the gateway and what an order is
//! known by. Parsed once where it enters (the admin API, the command line), so every
//! [`Reference`] in hand already follows the rule: 1 to 100 of `A-Z a-z 0-9 . - _ =`. Never
//! blank, never anything a URL path or a log line would have to escape. (Paystack documents
//! letters, digits, `-`, `.` and `=` for a transaction reference; Keffi also accepts `_`, as
//! in `ord_1`.)
//!
//! References that arrive from gateways (a webhook's `data.reference`, a verify answer) stay
//! plain strings: they are the gateway's word, and a charge must be recorded whatever its
//! reference looks like.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

/// A payment reference that follows the rule (see the module): 1 to [`Reference::MAX_LEN`]
/// ASCII characters, each a letter, a digit or one of `. - _ =`.
///
/// Serialised as a plain string; deserialising validates, so a `Reference` read from JSON
/// follows the rule too.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Reference(String);

/// Not a valid payment reference. The message names the rule and never echoes the input, so
/// it can be shown to an API client or logged as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("reference must be 1 to 100 of A-Z a-z 0-9 . - _ =")]
pub struct InvalidReference;

impl Reference {
    /// The longest reference accepted, in bytes (every accepted character is one byte).
    pub const MAX_LEN: usize = 100;

    /// The alphabet as an ECMA-262 / JSON Schema pattern, for the OpenAPI document: with
    /// `minLength` 1 and `maxLength` [`Reference::MAX_LEN`] it states the same rule as
    /// [`Reference::is_valid`] (tested against it below).
    pub const PATTERN: &'static str = "^[A-Za-z0-9._=-]+$";

    /// Whether `b` may appear in a reference: an ASCII letter or digit, `.`, `-`, `_` or `=`.
    pub fn is_allowed_byte(b: u8) -> bool {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'=')
    }

    /// Whether `s` follows the rule, without keeping it.
    pub fn is_valid(s: &str) -> bool {
        (1..=Self::MAX_LEN).contains(&s.len()) && s.bytes().all(Self::is_allowed_byte)
    }

    /// The reference, if `s` follows the rule. Takes a `&str` or a `String` (kept without a
    /// copy).
    pub fn parse<S: AsRef<str> + Into<String>>(s: S) -> Result<Reference, InvalidReference> {
        if Self::is_valid(s.as_ref()) {
            Ok(Reference(s.into()))
        } else {
            Err(InvalidReference)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for Reference {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Reference {
    type Err = InvalidReference;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl TryFrom<String> for Reference {
    type Error = InvalidReference;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Reference::parse(s)
    }
}

impl TryFrom<&str> for Reference {
    type Error = InvalidReference;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Reference::parse(s)
    }
}

impl From<Reference> for String {
    fn from(r: Reference) -> String {
        r.0
    }
}

/// Transparent: the reference as a JSON string. (Written by hand because serde does not
/// combine `transparent` with the validating `try_from` above.)
impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The documented alphabet, spelled out independently of `is_allowed_byte`.
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_=";

    #[test]
    fn accepts_the_alphabet_from_one_to_a_hundred_characters() {
        for ok in ["a", "ord_1", "T123.abc-X=", "=", "-", ".", "_", "0"] {
            let r = Reference::parse(ok).unwrap();
            assert_eq!(r.as_str(), ok);
            assert_eq!(r.to_string(), ok);
            assert_eq!(r.as_ref(), ok);
        }
        assert!(Reference::parse(ALPHABET).is_ok());
        assert!(Reference::parse("x".repeat(100)).is_ok());
    }

    #[test]
    fn refuses_empty_too_long_and_anything_outside_the_alphabet() {
        for bad in [
            "",
            "has space",
            " ord_1",
            "ord_1\n",
            "ord/1",
            "ord?1",
            "ord#1",
            "ord%201",
            "ord+1",
            "ord:1",
            "ordé",
            "₦500",
            "ord\u{0}1",
        ] {
            assert_eq!(Reference::parse(bad), Err(InvalidReference), "{bad:?}");
        }
        assert_eq!(Reference::parse("x".repeat(101)), Err(InvalidReference));
    }

    /// `PATTERN` is `^[…]+$` around a character class that admits exactly the bytes
    /// `is_allowed_byte` does.
    #[test]
    fn the_pattern_states_the_same_alphabet() {
        let class = Reference::PATTERN
            .strip_prefix("^[")
            .and_then(|p| p.strip_suffix("]+$"))
            .expect("^[class]+$");
        let in_class = |b: u8| {
            let c = b as char;
            ["A-Z", "a-z", "0-9"].iter().any(|r| {
                let r = r.as_bytes();
                (r[0]..=r[2]).contains(&b)
            }) || class
                .replace("A-Z", "")
                .replace("a-z", "")
                .replace("0-9", "")
                .contains(c)
        };
        for b in 0..=255u8 {
            assert_eq!(in_class(b), Reference::is_allowed_byte(b), "byte {b}");
        }
        assert!(
            class.ends_with('-'),
            "a literal `-` must stay last in the class"
        );
    }

    #[test]
    fn the_error_names_the_rule() {
        assert_eq!(
            InvalidReference.to_string(),
            "reference must be 1 to 100 of A-Z a-z 0-9 . - _ ="
        );
    }

    #[test]
    fn every_way_in_applies_the_same_rule() {
        assert_eq!("ord_1".parse::<Reference>(), Reference::parse("ord_1"));
        assert_eq!(Reference::try_from("ord 1"), Err(InvalidReference));
        assert_eq!(
            Reference::try_from(String::from("ord_1")).map(String::from),
            Ok("ord_1".to_owned())
        );
        assert!("bad ref".parse::<Reference>().is_err());
    }

    #[test]
    fn serde_is_a_plain_string_and_validates_on_the_way_in() {
        let r = Reference::parse("ord_1").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"ord_1\"");
        assert_eq!(serde_json::from_str::<Reference>("\"ord_1\"").unwrap(), r);
        let err = serde_json::from_str::<Reference>("\"bad ref\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("reference must be 1 to 100 of A-Z a-z 0-9 . - _ ="),
            "{err}"
        );
        assert!(serde_json::from_str::<Reference>("\"\"").is_err());
        assert!(serde_json::from_str::<Reference>("12").is_err());
    }

    /// The rule, stated independently: every character in the alphabet, 1 to 100 of them.
    fn by_the_rule(s: &str) -> bool {
        let n = s.chars().count();
        (1..=100).contains(&n) && s.chars().all(|c| ALPHABET.contains(c))
    }

    proptest! {
        /// Every string of 1 to 100 characters from the alphabet is accepted, unchanged.
        #[test]
        fn accepts_every_string_of_the_alphabet(s in "[A-Za-z0-9._=-]{1,100}") {
            let r = Reference::parse(s.as_str());
            prop_assert_eq!(r.as_ref().map(Reference::as_str), Ok(s.as_str()));
        }

        /// A string from the alphabet longer than 100 is refused.
        #[test]
        fn refuses_every_string_longer_than_a_hundred(s in "[A-Za-z0-9._=-]{101,300}") {
            prop_assert_eq!(Reference::parse(s), Err(InvalidReference));
        }

        /// A string from the alphabet with any one character outside it somewhere is refused.
        #[test]
        fn refuses_any_character_outside_the_alphabet(
            head in "[A-Za-z0-9._=-]{0,50}",
            bad in any::<char>().prop_filter("outside the alphabet", |c| !ALPHABET.contains(*c)),
            tail in "[A-Za-z0-9._=-]{0,49}",
        ) {
            let s = format!("{head}{bad}{tail}");
            prop_assert_eq!(Reference::parse(s), Err(InvalidReference));
        }

        /// On any input at all, parse agrees with the rule, and what it accepts survives a
        /// JSON round trip.
        #[test]
        fn agrees_with_the_rule_on_any_string(s in prop_oneof![
            any::<String>(),
            "[ -~]{0,120}",
            "[A-Za-z0-9._=-]{0,110}",
        ]) {
            let parsed = Reference::parse(s.as_str());
            prop_assert_eq!(parsed.is_ok(), by_the_rule(&s));
            if let Ok(r) = parsed {
                let json = serde_json::to_string(&r).unwrap();
                prop_assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
            }
        }
    }
}
