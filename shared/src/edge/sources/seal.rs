//! Secrets at rest: a runtime source's secrets are kept sealed (XChaCha20-Poly1305) under a key
//! only the Worker holds (`KEFFI_SOURCES_KEY`, a wrangler secret), bound to the source's name,
//! so a copy of the Durable Object's storage reveals no secret and a sealed secret moved to
//! another source's row does not open.
//!
//! The nonce is passed in (the Worker draws it from its random source), so sealing is a pure
//! function tested natively. 24-byte random nonces make reuse under one key negligible.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// The wrangler secret holding the sealing key(s).
pub const SOURCES_KEY_SECRET: &str = "KEFFI_SOURCES_KEY";
pub const NONCE_LEN: usize = 24;
const PREFIX: &str = "v1.";

/// The sealing keys: the first seals, every one opens, so the key can be rotated by putting a
/// new one in front and re-sealing (any write of a source re-seals its secrets).
#[derive(Clone)]
pub struct SealKeys {
    keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for SealKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKeys({} keys)", self.keys.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("{SOURCES_KEY_SECRET} is not set: runtime sources cannot be stored or read")]
    NoKey,
    #[error("{SOURCES_KEY_SECRET} key {0} is not the base64 of 32 bytes (e.g. `openssl rand -base64 32`)")]
    BadKey(usize),
    #[error("a sealed secret is malformed")]
    Malformed,
    #[error("a sealed secret does not open under any key of {SOURCES_KEY_SECRET}")]
    WrongKey,
    #[error("no random source for a nonce: {0}")]
    NoRandom(String),
}

impl SealKeys {
    /// Keys from the secret's text: comma- or newline-separated base64 keys of 32 bytes.
    pub fn parse(text: Option<&str>) -> Result<Self, SealError> {
        let parts: Vec<&str> = text
            .unwrap_or_default()
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            return Err(SealError::NoKey);
        }
        let keys = parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                STANDARD
                    .decode(p)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                    .ok_or(SealError::BadKey(i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SealKeys { keys })
    }

    /// `secret` sealed for `source` under the first key.
    pub fn seal(&self, source: &str, secret: &str, nonce: [u8; NONCE_LEN]) -> String {
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&self.keys[0]));
        let aad = aad(source);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            )
            // Encryption fails only for messages beyond the cipher's limit (256 GiB).
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// The secret `sealed` holds, if it was sealed for `source` under one of the keys.
    pub fn open(&self, source: &str, sealed: &str) -> Result<String, SealError> {
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(SealError::Malformed)?;
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let aad = aad(source);
        for key in &self.keys {
            let cipher = XChaCha20Poly1305::new(Key::from_slice(key));
            if let Ok(plain) = cipher.decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            ) {
                return String::from_utf8(plain).map_err(|_| SealError::Malformed);
            }
        }
        Err(SealError::WrongKey)
    }
}

fn aad(source: &str) -> Vec<u8> {
    format!("keffi-source-v1:{source}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn keys_are_required_and_must_be_32_bytes() {
        assert_eq!(SealKeys::parse(None).unwrap_err(), SealError::NoKey);
        assert_eq!(SealKeys::parse(Some(" , ")).unwrap_err(), SealError::NoKey);
        assert_eq!(
            SealKeys::parse(Some(&format!("{K1},c2hvcnQ="))).unwrap_err(),
            SealError::BadKey(2)
        );
        assert_eq!(
            SealKeys::parse(Some(&format!("{K1}, {K2}")))
                .unwrap()
                .keys
                .len(),
            2
        );
        // Debug never shows key material.
        let keys = SealKeys::parse(Some(K1)).unwrap();
        assert_eq!(format!("{keys:?}"), "SealKeys(1 keys)");
    }

    #[test]
    fn sealed_secrets_are_bound_to_their_source_and_key() {
        let keys = SealKeys::parse(Some(K1)).unwrap();
        let sealed = keys.seal("shop-a", "sk_live_a", [7; NONCE_LEN]);
        assert!(!sealed.contains("sk_live_a"));
        assert_eq!(keys.open("shop-a", &sealed).unwrap(), "sk_live_a");
        // Copied into another source's row: does not open.
        assert_eq!(
            keys.open("shop-b", &sealed).unwrap_err(),
            SealError::WrongKey
        );
        // Under another key only: does not open.
        let other = SealKeys::parse(Some(K2)).unwrap();
        assert_eq!(
            other.open("shop-a", &sealed).unwrap_err(),
            SealError::WrongKey
        );
        for bad in ["", "v1.", "v2.AAAA", "v1.!!!", &sealed[..sealed.len() - 2]] {
            assert!(keys.open("shop-a", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_new_key_in_front_still_opens_what_the_old_one_sealed() {
        let old = SealKeys::parse(Some(K1)).unwrap();
        let rotated = SealKeys::parse(Some(&format!("{K2},{K1}"))).unwrap();
        let sealed_old = old.seal("s", "whsec_x", [1; NONCE_LEN]);
        assert_eq!(rotated.open("s", &sealed_old).unwrap(), "whsec_x");
        let sealed_new = rotated.seal("s", "whsec_y", [2; NONCE_LEN]);
        assert_eq!(old.open("s", &sealed_new).unwrap_err(), SealError::WrongKey);
    }

    proptest! {
        #[test]
        fn any_flipped_byte_is_refused(secret in "[ -~]{1,80}", nonce in any::<[u8; 24]>(), at in any::<prop::sample::Index>()) {
            let keys = SealKeys::parse(Some(K1)).unwrap();
            let sealed = keys.seal("src", &secret, nonce);
            prop_assert_eq!(keys.open("src", &sealed).unwrap(), secret.clone());
            let mut raw = URL_SAFE_NO_PAD.decode(&sealed[3..]).unwrap();
            let i = at.index(raw.len());
            raw[i] ^= 0x01;
            let tampered = format!("v1.{}", URL_SAFE_NO_PAD.encode(raw));
            prop_assert!(keys.open("src", &tampered).is_err());
        }
    }
}
