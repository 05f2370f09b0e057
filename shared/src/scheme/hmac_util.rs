//! HMAC helpers shared by the schemes. Verification goes through `Mac::verify_slice`, which
//! compares in constant time.

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};

use super::Secret;

pub(crate) fn sha512(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Whether `tag` is the HMAC-SHA512 of `parts` under any of `secrets`.
pub(crate) fn sha512_matches_any(secrets: &[Secret], parts: &[&[u8]], tag: &[u8]) -> bool {
    secrets.iter().any(|s| {
        let mut mac =
            Hmac::<Sha512>::new_from_slice(s.expose()).expect("HMAC accepts keys of any length");
        for p in parts {
            mac.update(p);
        }
        mac.verify_slice(tag).is_ok()
    })
}

/// Whether any of `tags` is the HMAC-SHA256 of `parts` under any of `secrets`. The MAC state
/// is computed once per secret and cloned per candidate tag.
pub(crate) fn sha256_matches_any(secrets: &[Secret], parts: &[&[u8]], tags: &[Vec<u8>]) -> bool {
    secrets.iter().any(|s| {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(s.expose()).expect("HMAC accepts keys of any length");
        for p in parts {
            mac.update(p);
        }
        tags.iter().any(|t| mac.clone().verify_slice(t).is_ok())
    })
}
