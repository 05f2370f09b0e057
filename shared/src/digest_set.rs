//! A set of secrets held as SHA-256 digests, checked in constant time. Comparing fixed-size
//! digests hides each secret's length as well as its content, and a memory dump shows no
//! secret. Used where a presented value must equal a configured one (Flutterwave's secret hash,
//! bearer tokens).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Clone, Default)]
pub struct DigestSet {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for DigestSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DigestSet(<{} redacted>)", self.digests.len())
    }
}

impl DigestSet {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) -> Self {
        DigestSet {
            digests: secrets.into_iter().map(digest).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` equals one of the secrets. Every digest is compared, whichever
    /// matches, so timing does not tell which one did.
    pub fn contains(&self, presented: &[u8]) -> bool {
        self.position(presented).is_some()
    }

    /// Which secret `presented` equals, by its position in the order given to [`Self::new`]
    /// (the first, if several are equal). Every digest is compared and the position is
    /// selected without a branch, so timing tells neither whether nor which one matched.
    pub fn position(&self, presented: &[u8]) -> Option<usize> {
        use subtle::ConditionallySelectable;
        let presented = digest(presented);
        let (found, index) = self.digests.iter().enumerate().rev().fold(
            (subtle::Choice::from(0), 0u64),
            |(found, index), (i, d)| {
                let eq = d.ct_eq(&presented);
                (found | eq, u64::conditional_select(&index, &(i as u64), eq))
            },
        );
        bool::from(found).then_some(index as usize)
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_is_exact() {
        let set = DigestSet::new([&b"alpha"[..], b"beta"]);
        assert!(set.contains(b"alpha") && set.contains(b"beta"));
        assert!(!set.contains(b"alph") && !set.contains(b"alphaa") && !set.contains(b""));
        assert!(!format!("{set:?}").contains("alpha"));
    }

    #[test]
    fn position_names_the_matching_secret() {
        let set = DigestSet::new([&b"alpha"[..], b"beta", b"alpha"]);
        assert_eq!(
            set.position(b"alpha"),
            Some(0),
            "the first of equal secrets"
        );
        assert_eq!(set.position(b"beta"), Some(1));
        assert_eq!(set.position(b"gamma"), None);
        assert_eq!(DigestSet::default().position(b""), None);
    }
}
