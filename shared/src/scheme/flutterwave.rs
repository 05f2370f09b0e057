//! Flutterwave (v3): the `verif-hash` header carries the "secret hash" the merchant set on the
//! dashboard, verbatim. Nothing about the body is signed, so this proves only that the sender
//! knows the hash; pair it with the source IP allow-list and the ledger's re-verification.

use super::secret::{parse_all, Secret, SecretError};
use super::{required, SignatureScheme, VerifyError};
use crate::digest_set::DigestSet;
use crate::headers::HeaderSource;

pub const SIGNATURE_HEADER: &str = "verif-hash";

/// Flutterwave's scheme with one or more secret hashes.
#[derive(Debug, Clone)]
pub struct Flutterwave {
    hashes: DigestSet,
}

impl Flutterwave {
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Result<Self, SecretError> {
        let secrets = parse_all(secrets, |s| Secret::from_bytes(s.as_bytes().to_vec()))?;
        Ok(Flutterwave {
            hashes: DigestSet::new(secrets.iter().map(Secret::expose)),
        })
    }
}

/// The `verif-hash` value Flutterwave sends: the secret hash itself (the body plays no part).
pub fn sign(secret: &[u8], _body: &[u8]) -> String {
    String::from_utf8_lossy(secret).into_owned()
}

impl SignatureScheme for Flutterwave {
    fn verify(
        &self,
        headers: &dyn HeaderSource,
        _body: &[u8],
        _now_unix: i64,
    ) -> Result<(), VerifyError> {
        let presented = required(headers, SIGNATURE_HEADER)?;
        if self.hashes.contains(presented.as_bytes()) {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::RequestHeaders;

    #[test]
    fn matches_the_configured_hash_and_nothing_else() {
        let f = Flutterwave::new(&["my-secret-hash", "rotated-hash"]).unwrap();
        let ok = |v: &str| f.verify(&RequestHeaders::new().with("verif-hash", v), b"{}", 0);
        assert_eq!(ok("my-secret-hash"), Ok(()));
        assert_eq!(ok("rotated-hash"), Ok(()));
        assert_eq!(ok("my-secret-has"), Err(VerifyError::BadSignature));
        assert_eq!(ok("my-secret-hashh"), Err(VerifyError::BadSignature));
        assert_eq!(
            f.verify(&RequestHeaders::new(), b"{}", 0),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
    }
}
