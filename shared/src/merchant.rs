//! A merchant's id: who owns an order, a payment, a journal account, a token. Chosen by the
//! platform when it adds the merchant and never changed, so it can be part of every key the
//! database holds, every URL and every log line without escaping: 1 to 40 of `a-z 0-9 _ -`,
//! starting with a letter (`acme`, `shop_42`). Parsed once where it enters; holding a
//! [`MerchantId`] means it follows the rule.
//!
//! [`MerchantId::DEFAULT`] is the merchant of a deployment that configures none: the sources
//! in `wrangler.toml`, every order made before merchants existed, and every platform request
//! that names no merchant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

/// A merchant id that follows the rule (see the module).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct MerchantId(String);

/// Not a valid merchant id. Names the rule and never echoes the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a merchant id is 1 to 40 of a-z 0-9 _ -, starting with a letter")]
pub struct InvalidMerchantId;

impl MerchantId {
    pub const MAX_LEN: usize = 40;
    /// The rule as an ECMA-262 pattern, for the OpenAPI document (tested against
    /// [`MerchantId::is_valid`] below).
    pub const PATTERN: &'static str = "^[a-z][a-z0-9_-]{0,39}$";
    /// The id of the deployment's own merchant (see the module).
    pub const DEFAULT: &'static str = "default";

    pub fn is_valid(s: &str) -> bool {
        let b = s.as_bytes();
        (1..=Self::MAX_LEN).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-'))
    }

    pub fn parse<S: AsRef<str> + Into<String>>(s: S) -> Result<MerchantId, InvalidMerchantId> {
        if Self::is_valid(s.as_ref()) {
            Ok(MerchantId(s.into()))
        } else {
            Err(InvalidMerchantId)
        }
    }

    /// The deployment's own merchant, [`MerchantId::DEFAULT`].
    pub fn default_merchant() -> MerchantId {
        MerchantId(Self::DEFAULT.to_owned())
    }

    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for MerchantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MerchantId {
    type Err = InvalidMerchantId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MerchantId::parse(s)
    }
}

impl TryFrom<String> for MerchantId {
    type Error = InvalidMerchantId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        MerchantId::parse(s)
    }
}

impl From<MerchantId> for String {
    fn from(m: MerchantId) -> String {
        m.0
    }
}

impl Serialize for MerchantId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_lowercase_ids_that_start_with_a_letter() {
        for ok in ["a", "acme", "shop_42", "m-1", "default"] {
            assert_eq!(MerchantId::parse(ok).unwrap().as_str(), ok);
        }
        assert!(MerchantId::parse("a".repeat(40)).is_ok());
        assert!(MerchantId::default_merchant().is_default());
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "", "1shop", "_a", "-a", "Acme", "a b", "a/b", "a.b", "a:b", "é", "a\n",
        ] {
            assert_eq!(MerchantId::parse(bad), Err(InvalidMerchantId), "{bad:?}");
        }
        assert!(MerchantId::parse("a".repeat(41)).is_err());
        assert!(serde_json::from_str::<MerchantId>("\"Bad\"").is_err());
        assert_eq!(
            serde_json::to_string(&MerchantId::parse("acme").unwrap()).unwrap(),
            "\"acme\""
        );
    }

    /// The documented alphabet, spelled out apart from `is_valid`.
    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyz";
    const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz0123456789_-";

    proptest! {
        #[test]
        fn the_rule_is_the_documented_one(s in "[a-zA-Z0-9_.:/ -]{0,42}") {
            let documented = (1..=40).contains(&s.len())
                && LETTERS.contains(&s[..1])
                && s.chars().all(|c| ALPHABET.contains(c));
            prop_assert_eq!(MerchantId::is_valid(&s), documented);
        }
    }
}
