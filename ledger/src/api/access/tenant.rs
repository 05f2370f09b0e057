//! Which merchant a request acts on. A merchant's token acts on its own merchant and nothing
//! else; a platform token acts on the merchant named in the `Keffi-Merchant` header (as
//! Stripe's `Stripe-Account` lets a platform act for a connected account), or on the default
//! merchant when it names none. Every merchant-owned route takes a [`Tenant`], and the store
//! takes its merchant, so a handler cannot read or write without having been through here.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use keffi_shared::MerchantId;

use super::tokens::Caller;
use crate::api::support::error::ApiError;
use crate::api::support::ApiState;

/// The header a platform token names its merchant with.
pub const MERCHANT_HEADER: &str = "keffi-merchant";

/// The merchant a request acts on, decided by [`acting_merchant`] and known to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant(pub MerchantId);

impl std::ops::Deref for Tenant {
    type Target = MerchantId;
    fn deref(&self) -> &MerchantId {
        &self.0
    }
}

/// Why a request may not act on the merchant it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantRefusal {
    #[error(
        "`Keffi-Merchant` must be a merchant id: 1 to 40 of a-z 0-9 _ -, starting with a letter"
    )]
    Invalid,
    #[error(
        "the token `{token}` belongs to another merchant than the one named in `Keffi-Merchant`"
    )]
    OtherMerchant { token: String },
    #[error("this route manages the platform: it needs a platform token, not a merchant's")]
    PlatformOnly,
}

impl From<TenantRefusal> for ApiError {
    fn from(r: TenantRefusal) -> ApiError {
        let (status, code) = match r {
            TenantRefusal::Invalid => (StatusCode::BAD_REQUEST, "invalid_merchant"),
            TenantRefusal::OtherMerchant { .. } => (StatusCode::FORBIDDEN, "merchant_forbidden"),
            TenantRefusal::PlatformOnly => (StatusCode::FORBIDDEN, "platform_only"),
        };
        ApiError::new(status, code, r.to_string())
    }
}

/// The merchant `caller` acts on when the request names `named` (the header's value, if
/// any). Pure: the rule in one place, for the extractor, the audit log and the tests.
///
/// A merchant token that names its own merchant is fine (a client may always send the
/// header); naming another is refused, never quietly narrowed to its own, so a mistake shows.
pub fn acting_merchant(caller: &Caller, named: Option<&[u8]>) -> Result<MerchantId, TenantRefusal> {
    let named = named
        .map(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| MerchantId::parse(s).ok())
                .ok_or(TenantRefusal::Invalid)
        })
        .transpose()?;
    match (&caller.merchant, named) {
        (Some(own), Some(named)) if *own != named => Err(TenantRefusal::OtherMerchant {
            token: caller.name.to_string(),
        }),
        (Some(own), _) => Ok(own.clone()),
        (None, Some(named)) => Ok(named),
        (None, None) => Ok(MerchantId::default_merchant()),
    }
}

/// The caller the authentication layer put on the request; without one the route is not
/// behind it, and fails closed.
pub(crate) fn caller_of(parts: &Parts) -> Result<&Caller, ApiError> {
    parts.extensions.get::<Caller>().ok_or_else(|| {
        tracing::error!("a merchant's route is not behind authentication: refused");
        ApiError::internal("this route is not configured for authentication")
    })
}

impl FromRequestParts<ApiState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let caller = caller_of(parts)?;
        let named = parts.headers.get(MERCHANT_HEADER).map(|v| v.as_bytes());
        let merchant = acting_merchant(caller, named)?;
        // The default merchant exists from the first migration on; another must have been
        // added. Absent is 404, the same whether it never existed or the name is a guess.
        if !merchant.is_default() && state.store.merchant(&merchant).await?.is_none() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_merchant",
                format!("no merchant `{merchant}`"),
            ));
        }
        Ok(Tenant(merchant))
    }
}

/// A platform token, for the routes that manage merchants; a merchant's token is refused.
pub struct Platform(pub Caller);

impl FromRequestParts<ApiState> for Platform {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &ApiState) -> Result<Self, ApiError> {
        let caller = caller_of(parts)?;
        if caller.is_platform() {
            Ok(Platform(caller.clone()))
        } else {
            Err(TenantRefusal::PlatformOnly.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::access::tokens::Scope;

    fn m(s: &str) -> MerchantId {
        MerchantId::parse(s).unwrap()
    }

    #[test]
    fn a_merchant_token_acts_on_its_merchant_only() {
        let kitchen = Caller::of_merchant("kitchen", Scope::Admin, m("acme"));
        assert_eq!(acting_merchant(&kitchen, None), Ok(m("acme")));
        assert_eq!(acting_merchant(&kitchen, Some(b"acme")), Ok(m("acme")));
        assert!(matches!(
            acting_merchant(&kitchen, Some(b"bolt")),
            Err(TenantRefusal::OtherMerchant { .. })
        ));
        assert!(matches!(
            acting_merchant(&kitchen, Some(b"default")),
            Err(TenantRefusal::OtherMerchant { .. })
        ));
    }

    #[test]
    fn a_platform_token_acts_on_the_merchant_it_names_or_the_default() {
        let ops = Caller::new("ops", Scope::Read);
        assert_eq!(
            acting_merchant(&ops, None),
            Ok(MerchantId::default_merchant())
        );
        assert_eq!(acting_merchant(&ops, Some(b"bolt")), Ok(m("bolt")));
    }

    #[test]
    fn a_header_that_is_not_a_merchant_id_is_refused_for_everyone() {
        for caller in [
            Caller::new("ops", Scope::Admin),
            Caller::of_merchant("k", Scope::Admin, m("acme")),
        ] {
            for bad in [&b""[..], b"Acme", b"acme ", b"\xff", b"a/b"] {
                assert_eq!(
                    acting_merchant(&caller, Some(bad)),
                    Err(TenantRefusal::Invalid)
                );
            }
        }
    }
}
