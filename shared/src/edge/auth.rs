//! Bearer-token authentication, shared by the edge's pull API and the ledger's admin API.

use crate::digest_set::DigestSet;

/// The accepted tokens (several at once, so a token can be rotated without downtime),
/// compared in constant time.
#[derive(Debug, Clone, Default)]
pub struct BearerTokens {
    tokens: DigestSet,
}

/// Why a request was not authenticated. Both map to 401; the code tells which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing `Authorization: Bearer <token>` header")]
    Missing,
    #[error("the bearer token is not valid")]
    Invalid,
}

impl AuthError {
    pub fn code(self) -> &'static str {
        match self {
            AuthError::Missing => "missing_token",
            AuthError::Invalid => "invalid_token",
        }
    }
}

impl BearerTokens {
    /// Tokens from a configured list separated by commas or whitespace; empty entries skipped.
    pub fn parse_list(list: &str) -> Self {
        Self::new(list.split([',', ' ', '\n', '\t']).filter(|t| !t.is_empty()))
    }

    pub fn new<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Self {
        BearerTokens {
            tokens: DigestSet::new(tokens.into_iter().map(str::as_bytes)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Checks an `Authorization` header value. With no tokens configured nothing passes.
    pub fn authorize(&self, authorization: Option<&str>) -> Result<(), AuthError> {
        let token = bearer_token(authorization)?;
        if self.tokens.contains(token.as_bytes()) {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive);
/// a missing header, another scheme or an empty token is [`AuthError::Missing`].
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    authorization
        .map(str::trim)
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_configured_token_passes() {
        let t = BearerTokens::parse_list("old-token, new-token");
        assert_eq!(t.len(), 2);
        assert_eq!(t.authorize(Some("Bearer old-token")), Ok(()));
        assert_eq!(t.authorize(Some("bearer new-token")), Ok(()));
        assert_eq!(t.authorize(Some("Bearer other")), Err(AuthError::Invalid));
        assert_eq!(
            t.authorize(Some("Bearer new-token2")),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn malformed_headers_are_missing_tokens() {
        let t = BearerTokens::parse_list("tok");
        for h in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer   "),
            Some("Basic tok"),
            Some("tok"),
        ] {
            assert_eq!(t.authorize(h), Err(AuthError::Missing), "{h:?}");
        }
    }

    #[test]
    fn no_tokens_means_nothing_passes() {
        let t = BearerTokens::parse_list(" , ");
        assert!(t.is_empty());
        assert_eq!(t.authorize(Some("Bearer x")), Err(AuthError::Invalid));
    }

    #[test]
    fn debug_redacts() {
        assert!(!format!("{:?}", BearerTokens::parse_list("secret-token")).contains("secret"));
    }
}
