//! Admin tokens with names and scopes (`KEFFI_ADMIN_TOKENS`), parsed once at start.
//!
//! Entries are separated by commas or whitespace. Each is `name:scope:token` (a platform
//! token), `name@merchant:scope:token` (one merchant's token), or a bare token. A bare token
//! is a full platform admin named `admin-1`, `admin-2`, … by its place among the bare entries,
//! so a plain list of tokens (the simplest setting) gives full admins.
//! Scopes are ordered, each including the ones below it: `read` < `operate` < `admin`.
//!
//! A platform token acts on the merchant a request names in `Keffi-Merchant` (the default
//! merchant when none is named) and alone manages merchants; a merchant's token acts on its
//! merchant only (see [`super::tenant`]).
//!
//! Nothing here ever repeats a configured value in an error: an entry written in the wrong
//! order (`token:scope:name`) would put the secret where a name or scope is expected, so
//! errors name the entry by its position only.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use keffi_shared::digest_set::DigestSet;
use keffi_shared::edge::auth::{bearer_token, AuthError};
use keffi_shared::MerchantId;
use serde::Serialize;
use utoipa::ToSchema;

/// What a token may do. The order of the variants is the order of the scopes: a higher
/// scope includes every lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The dashboard and every `GET`: records, lists, the audit log, metrics.
    Read,
    /// `read`, and the operator's actions on the pipeline: replay (and reconcile).
    Operate,
    /// `operate`, and what changes the merchant's books or the configuration: orders.
    Admin,
}

keffi_shared::named_variants!(Scope {
    Read => "read",
    Operate => "operate",
    Admin => "admin",
});

impl Scope {
    /// Whether a token of this scope may call a route that needs `needed`.
    pub fn includes(self, needed: Scope) -> bool {
        self >= needed
    }

    /// This scope and every scope it includes, lowest first.
    pub fn granted(self) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.includes(*s))
            .collect()
    }
}

/// Whose routes a group holds: a merchant's (acted on through a merchant's token or
/// `Keffi-Merchant`; the audit row records that merchant) or the platform's own (merchants,
/// sources, the edge's shards: a merchant's token is refused, the audit row records none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    Merchant,
    Platform,
}

/// Not one of `read`, `operate`, `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a scope is one of read, operate, admin")]
pub struct UnknownScope;

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, UnknownScope> {
        Scope::from_name(s).ok_or(UnknownScope)
    }
}

/// Who made an authenticated request: the token's name (never the token), its scope, and
/// whose token it is: one merchant's, or the platform's (`None`). Put in the request's
/// extensions by the authentication layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: Arc<str>,
    pub scope: Scope,
    pub merchant: Option<MerchantId>,
}

impl Caller {
    /// A platform token's caller.
    pub fn new(name: &str, scope: Scope) -> Self {
        Caller {
            name: name.into(),
            scope,
            merchant: None,
        }
    }

    /// One merchant's token's caller.
    pub fn of_merchant(name: &str, scope: Scope, merchant: MerchantId) -> Self {
        Caller {
            merchant: Some(merchant),
            ..Caller::new(name, scope)
        }
    }

    pub fn is_platform(&self) -> bool {
        self.merchant.is_none()
    }
}

/// The configured tokens: their digests (compared in constant time) and who each one is.
#[derive(Clone, Default)]
pub struct AdminTokens {
    digests: DigestSet,
    callers: Vec<Caller>,
}

impl fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names and scopes are not secret; the tokens never leave the digest set.
        let who: Vec<String> = self
            .callers
            .iter()
            .map(|c| match &c.merchant {
                Some(m) => format!("{}@{m}:{}", c.name, c.scope),
                None => format!("{}:{}", c.name, c.scope),
            })
            .collect();
        write!(f, "AdminTokens({} <tokens redacted>)", who.join(", "))
    }
}

/// A `KEFFI_ADMIN_TOKENS` entry that cannot be used. Entries are numbered from 1, empty ones
/// not counted; no part of an entry is ever repeated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenConfigError {
    #[error(
        "entry {entry}: {problem} (write `name:scope:token` for a platform token or \
         `name@merchant:scope:token` for one merchant's, with a scope of read, operate or \
         admin, or a bare token for a full platform admin)"
    )]
    Malformed { entry: usize, problem: &'static str },
    #[error("entries {first} and {second} have the same name")]
    DuplicateName { first: usize, second: usize },
    #[error("entries {first} and {second} have the same token")]
    DuplicateToken { first: usize, second: usize },
}

/// [`valid_name`]'s rule as the OpenAPI document states it (kept beside it: change both).
pub const NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

/// A token's name, as a filter gives it: [`valid_name`] holds it to the rule.
pub struct TokenName;

impl utoipa::PartialSchema for TokenName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some(NAME_PATTERN))
            .into()
    }
}

impl utoipa::ToSchema for TokenName {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("TokenName")
    }
}

/// A name: 1 to 64 of `A-Z a-z 0-9 . _ -` (it is shown in the dashboard, the audit log and
/// the logs, so nothing that could be markup or a separator).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl AdminTokens {
    /// Parses the setting's value (see the module docs). An empty list is valid and empty:
    /// whether running without tokens is allowed is the caller's decision.
    pub fn parse(list: &str) -> Result<AdminTokens, TokenConfigError> {
        let mut callers = Vec::new();
        let mut secrets: Vec<&str> = Vec::new();
        let mut bare = 0;
        let entries = list
            .split([',', ' ', '\n', '\t', '\r'])
            .filter(|e| !e.is_empty());
        for (i, entry) in entries.enumerate() {
            let number = i + 1;
            let malformed = |problem| TokenConfigError::Malformed {
                entry: number,
                problem,
            };
            let (caller, secret) = if !entry.contains(':') {
                bare += 1;
                (Caller::new(&format!("admin-{bare}"), Scope::Admin), entry)
            } else {
                // The token is everything after the second colon, so it may hold colons.
                let mut parts = entry.splitn(3, ':');
                let (who, scope, token) = match (parts.next(), parts.next(), parts.next()) {
                    (Some(n), Some(s), Some(t)) => (n, s, t),
                    _ => return Err(malformed("a token with a colon must be name:scope:token")),
                };
                let (name, merchant) = match who.split_once('@') {
                    Some((name, merchant)) => {
                        let merchant = MerchantId::parse(merchant).map_err(|_| {
                            malformed(
                                "the merchant must be 1 to 40 of a-z 0-9 _ -, starting with a letter",
                            )
                        })?;
                        (name, Some(merchant))
                    }
                    None => (who, None),
                };
                if !valid_name(name) {
                    return Err(malformed("the name must be 1 to 64 of A-Z a-z 0-9 . _ -"));
                }
                let scope = scope
                    .parse::<Scope>()
                    .map_err(|_| malformed("unknown scope"))?;
                if token.is_empty() {
                    return Err(malformed("the token is empty"));
                }
                let caller = match merchant {
                    Some(m) => Caller::of_merchant(name, scope, m),
                    None => Caller::new(name, scope),
                };
                (caller, token)
            };
            // Parsing is not on a request's path: plain comparisons are fine here.
            if let Some(first) = callers.iter().position(|c: &Caller| c.name == caller.name) {
                return Err(TokenConfigError::DuplicateName {
                    first: first + 1,
                    second: number,
                });
            }
            if let Some(first) = secrets.iter().position(|s| *s == secret) {
                return Err(TokenConfigError::DuplicateToken {
                    first: first + 1,
                    second: number,
                });
            }
            callers.push(caller);
            secrets.push(secret);
        }
        Ok(AdminTokens {
            digests: DigestSet::new(secrets.iter().map(|s| s.as_bytes())),
            callers,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.callers.is_empty()
    }

    /// Who the token is, by name and scope, without the tokens.
    pub fn callers(&self) -> &[Caller] {
        &self.callers
    }

    /// Who an `Authorization` header value belongs to. Every configured token is compared,
    /// in constant time, whichever matches (see [`DigestSet::position`]).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let token = bearer_token(authorization)?;
        self.digests
            .position(token.as_bytes())
            .and_then(|i| self.callers.get(i))
            .cloned()
            .ok_or(AuthError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(tokens: &AdminTokens, token: &str) -> Result<(String, Scope), AuthError> {
        tokens
            .authenticate(Some(&format!("Bearer {token}")))
            .map(|c| (c.name.to_string(), c.scope))
    }

    #[test]
    fn scopes_are_ordered_and_include_the_lower_ones() {
        assert!(Scope::Read < Scope::Operate && Scope::Operate < Scope::Admin);
        assert!(Scope::Admin.includes(Scope::Read) && Scope::Admin.includes(Scope::Operate));
        assert!(Scope::Operate.includes(Scope::Read) && !Scope::Operate.includes(Scope::Admin));
        assert!(!Scope::Read.includes(Scope::Operate));
        assert_eq!(Scope::Read.granted(), [Scope::Read]);
        assert_eq!(Scope::Admin.granted(), Scope::ALL);
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("Admin".parse::<Scope>().is_err() && "".parse::<Scope>().is_err());
    }

    #[test]
    fn bare_tokens_are_full_admins() {
        let t = AdminTokens::parse("old-admin-token,e2e-admin-token").unwrap();
        assert_eq!(
            who(&t, "old-admin-token"),
            Ok(("admin-1".into(), Scope::Admin))
        );
        assert_eq!(
            who(&t, "e2e-admin-token"),
            Ok(("admin-2".into(), Scope::Admin))
        );
        assert_eq!(who(&t, "other"), Err(AuthError::Invalid));
        assert_eq!(t.authenticate(None), Err(AuthError::Missing));
        assert!(AdminTokens::parse(" , \n").unwrap().is_empty());
    }

    #[test]
    fn named_tokens_carry_their_scope() {
        let t = AdminTokens::parse(
            "grafana:read:r-tok, oncall:operate:o:tok:with:colons\n ci:admin:a-tok bare-tok",
        )
        .unwrap();
        assert_eq!(who(&t, "r-tok"), Ok(("grafana".into(), Scope::Read)));
        assert_eq!(
            who(&t, "o:tok:with:colons"),
            Ok(("oncall".into(), Scope::Operate))
        );
        assert_eq!(who(&t, "a-tok"), Ok(("ci".into(), Scope::Admin)));
        assert_eq!(who(&t, "bare-tok"), Ok(("admin-1".into(), Scope::Admin)));
        // The entry as written is not a token.
        assert_eq!(who(&t, "grafana:read:r-tok"), Err(AuthError::Invalid));
        assert_eq!(t.callers().len(), 4);
    }

    #[test]
    fn a_merchant_token_names_its_merchant() {
        let t = AdminTokens::parse("kitchen@acme:read:k-tok, ops:admin:p-tok").unwrap();
        let kitchen = t.authenticate(Some("Bearer k-tok")).unwrap();
        assert_eq!(kitchen.name.as_ref(), "kitchen");
        assert_eq!(kitchen.merchant, Some(MerchantId::parse("acme").unwrap()));
        assert!(!kitchen.is_platform());
        assert!(t.authenticate(Some("Bearer p-tok")).unwrap().is_platform());
        assert!(format!("{t:?}").contains("kitchen@acme:read"));
        for bad in ["k@Acme:read:x", "k@:read:x", "k@1a:read:x", "@acme:read:x"] {
            assert!(AdminTokens::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_entries_are_named_by_position_without_their_text() {
        let cases: &[(&str, usize)] = &[
            ("ok-token, s3cret:only", 2),
            ("viewer:reader:s3cret", 1),
            ("viewer:READ:s3cret", 1),
            ("a, b, viewer:read:", 3),
            (":read:s3cret", 1),
            ("bad/name:read:s3cret", 1),
            ("s3cret!:admin:x", 1),
        ];
        for (list, entry) in cases {
            let err = AdminTokens::parse(list).unwrap_err();
            assert!(
                matches!(err, TokenConfigError::Malformed { entry: e, .. } if e == *entry),
                "{list}: {err}"
            );
            let text = err.to_string();
            assert!(!text.contains("s3cret") && !text.contains("only"), "{text}");
        }
        let long = format!("{}:read:s3cret", "n".repeat(65));
        assert!(AdminTokens::parse(&long).is_err());
    }

    #[test]
    fn names_and_tokens_are_unique() {
        assert_eq!(
            AdminTokens::parse("a:read:s3cret1, a:admin:s3cret2").unwrap_err(),
            TokenConfigError::DuplicateName {
                first: 1,
                second: 2
            }
        );
        // A bare token's generated name is a name like any other.
        assert!(AdminTokens::parse("admin-1:read:x, y").is_err());
        let err = AdminTokens::parse("a:read:s3cret, b:admin:s3cret").unwrap_err();
        assert_eq!(
            err,
            TokenConfigError::DuplicateToken {
                first: 1,
                second: 2
            }
        );
        assert!(!err.to_string().contains("s3cret"));
    }

    #[test]
    fn debug_shows_names_never_tokens() {
        let t = AdminTokens::parse("viewer:read:s3cret, hunter2").unwrap();
        let shown = format!("{t:?}");
        assert!(shown.contains("viewer:read") && shown.contains("admin-1:admin"));
        assert!(!shown.contains("s3cret") && !shown.contains("hunter2"));
    }
}
