//! Signing secrets, kept out of logs.

use std::fmt;

/// A signing secret's key bytes. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as text (API keys and bearer tokens are), if it is UTF-8; a secret parsed
    /// from a string always is.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

/// A secret given as text (a setting, an environment variable), surrounding whitespace
/// trimmed; empty is refused.
impl std::str::FromStr for Secret {
    type Err = SecretError;
    fn from_str(s: &str) -> Result<Self, SecretError> {
        Secret::from_bytes(s.trim().as_bytes().to_vec())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// A configured secret cannot be used. Never carries the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("no secret configured")]
    NoSecrets,
    #[error("a configured secret is empty")]
    Empty,
    #[error("a configured secret is not valid: {0}")]
    Invalid(&'static str),
}

/// Parses every configured secret with `parse`, requiring at least one.
pub(crate) fn parse_all<S: AsRef<str>>(
    secrets: &[S],
    parse: impl Fn(&str) -> Result<Secret, SecretError>,
) -> Result<Vec<Secret>, SecretError> {
    if secrets.is_empty() {
        return Err(SecretError::NoSecrets);
    }
    secrets.iter().map(|s| parse(s.as_ref().trim())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_secrets_are_trimmed_and_never_empty() {
        let s: Secret = " sk_test_1 ".parse().unwrap();
        assert_eq!(s.expose_str(), Some("sk_test_1"));
        assert_eq!("  ".parse::<Secret>(), Err(SecretError::Empty));
    }

    #[test]
    fn debug_redacts() {
        let s = Secret::from_bytes(b"sk_live_very_secret".to_vec()).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("very_secret"), "{shown}");
    }

    #[test]
    fn empty_lists_and_values_are_refused() {
        let none: [&str; 0] = [];
        assert_eq!(
            parse_all(&none, |s| Secret::from_bytes(s.as_bytes().to_vec())),
            Err(SecretError::NoSecrets)
        );
        assert_eq!(
            parse_all(&["  "], |s| Secret::from_bytes(s.as_bytes().to_vec())),
            Err(SecretError::Empty)
        );
    }
}
