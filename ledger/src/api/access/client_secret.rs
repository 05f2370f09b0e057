//! Per-order client secrets (like Stripe's `client_secret`): random, shown once, stored only as
//! a SHA-256 hash, and good for reading one order's status and stream — nothing else. A
//! merchant's backend hands it to the page; the admin token never reaches a browser.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use keffi_shared::MerchantId;

use crate::api::support::error::ApiError;
use crate::store::{now_ms, Store, Tx};

const PREFIX: &str = "kcs_";

/// A new secret (to show once) and its hash (to store).
pub fn generate() -> (String, String) {
    let secret = random_secret(PREFIX, 24);
    let hash = hash(&secret);
    (secret, hash)
}

/// `prefix` and `bytes` random bytes from the OS, URL-safe: the form of every secret the
/// ledger hands out (client secrets, issued tokens).
pub(crate) fn random_secret(prefix: &str, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(buf))
}

/// What the store keeps of a secret it handed out: its SHA-256, hex.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Issues a secret for the merchant's `reference` and stores its hash, in the transaction
/// that creates or replays the order (so a secret is never handed out for an order that was
/// rolled back).
pub async fn issue(
    tx: &mut Tx,
    merchant: &MerchantId,
    reference: &str,
) -> Result<String, ApiError> {
    let (secret, hash) = generate();
    tx.add_client_secret(merchant, reference, &hash, now_ms())
        .await?;
    Ok(secret)
}

/// Checks that `secret` opens `reference`, and answers whose order it is: a secret opens one
/// merchant's one order, so merchant B's `ord_1` is not opened by a secret of A's `ord_1`.
/// The lookup is by hash (a unique index), so the comparison never touches the secret itself.
pub async fn authorize(
    store: &Store,
    reference: &str,
    secret: Option<&str>,
) -> Result<MerchantId, ApiError> {
    use axum::http::StatusCode;
    let secret = secret.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_client_secret",
            "pass the order's client secret (`client_secret` query parameter or `X-Keffi-Client-Secret` header)",
        )
    })?;
    match store.client_secret_reference(&hash(secret)).await? {
        Some((merchant, opens)) if opens == reference => Ok(merchant),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client_secret",
            "this client secret does not open this order",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_hashed() {
        let (a, ha) = generate();
        let (b, _) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 32);
        assert_eq!(hash(&a), ha);
        assert_ne!(ha, a);
    }
}
