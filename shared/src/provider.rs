//! The webhook providers Keffi understands, named as they appear in configuration.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A provider's signature scheme and idempotency rules. Its configuration name is stable: it is
/// stored in every envelope and in the ledger's inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    Paystack,
    Flutterwave,
    Stripe,
    /// <https://www.standardwebhooks.com/>: Svix and the providers that adopted its spec.
    StandardWebhooks,
}

crate::named_variants!(Provider {
    Paystack => "paystack",
    Flutterwave => "flutterwave",
    Stripe => "stripe",
    StandardWebhooks => "standard-webhooks",
});

impl Provider {
    /// Whether this provider only ever sends JSON bodies, so the edge may answer 415 to others.
    pub fn requires_json(self) -> bool {
        match self {
            Provider::Paystack | Provider::Flutterwave | Provider::Stripe => true,
            // The spec signs arbitrary payloads; most are JSON, but it does not promise it.
            Provider::StandardWebhooks => false,
        }
    }

    /// Headers worth keeping in the envelope: enough for the ledger to re-verify the signature
    /// and for an operator to audit a delivery, and nothing that carries credentials.
    pub fn audit_headers(self) -> &'static [&'static str] {
        match self {
            Provider::Paystack => &["x-paystack-signature", "content-type", "user-agent"],
            Provider::Flutterwave => &["verif-hash", "content-type", "user-agent"],
            Provider::Stripe => &["stripe-signature", "content-type", "user-agent"],
            Provider::StandardWebhooks => &[
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "svix-id",
                "svix-timestamp",
                "svix-signature",
                "content-type",
                "user-agent",
            ],
        }
    }
}

/// The configured name matched no provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown provider `{0}` (expected one of: paystack, flutterwave, stripe, standard-webhooks)"
)]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

impl TryFrom<String> for Provider {
    type Error = UnknownProvider;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>(), Ok(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<Provider>(&json).unwrap(), p);
        }
        assert!("paypal".parse::<Provider>().is_err());
    }
}
