//! An order: what the merchant expects to be paid, created by the merchant's app.
//!
//! `pending → paid | failed | abandoned`; `paid → refunded | partially_refunded | disputed`
//! (and back from disputed when the merchant wins); `needs_review` when money and expectation
//! disagree. `needs_review` is sticky: later facts are recorded on the payment, and a human
//! decides the order.

use std::str::FromStr;

use keffi_shared::money::InvalidCurrency;
use keffi_shared::{Currency, InvalidReference, MinorUnits, Provider, Reference};
use serde::{Deserialize, Serialize};

use super::payment::PaymentStatus;

/// The currencies Paystack settles; an order in any other could never be paid.
pub const SETTLED_CURRENCIES: [&str; 8] = ["NGN", "GHS", "ZAR", "KES", "USD", "XOF", "EGP", "RWF"];

/// An order a merchant may create: the one set of rules every way in (the admin API's
/// `POST /v1/orders`, the `create-order` command) applies, so they refuse exactly the same
/// orders with the same messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub reference: Reference,
    pub amount: MinorUnits,
    pub currency: Currency,
    /// The gateway the order is paid through (a charge through another still pays it).
    pub gateway: Provider,
}

/// The gateways an order can be opened for: those whose events move money.
pub const GATEWAYS: [&str; 3] = ["paystack", "flutterwave", "stripe"];

/// Why an order cannot be created. The messages are the admin API's `invalid_request`
/// messages, word for word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOrder {
    #[error(transparent)]
    Reference(#[from] InvalidReference),
    #[error(
        "amount must be a whole number of minor units from 1 to {max}",
        max = MinorUnits::MAX_AMOUNT
    )]
    Amount(MinorUnits),
    #[error(transparent)]
    Currency(#[from] InvalidCurrency),
    #[error(
        "currency `{0}` is not one the gateway settles ({settled})",
        settled = SETTLED_CURRENCIES.join(", ")
    )]
    Unsettled(Currency),
    #[error("gateway must be one of {list} (got `{0}`)", list = GATEWAYS.join(", "))]
    Gateway(String),
}

/// The gateway named `name`, if an order can be opened for it.
pub fn order_gateway(name: &str) -> Result<Provider, InvalidOrder> {
    match name.parse::<Provider>() {
        Ok(p) if GATEWAYS.contains(&p.as_str()) => Ok(p),
        _ => Err(InvalidOrder::Gateway(name.to_owned())),
    }
}

impl NewOrder {
    /// Checks, in this order: the reference (see [`Reference`]), the amount (1 to
    /// [`MinorUnits::MAX_AMOUNT`]), the currency code, and that the gateway settles it.
    /// (Every gateway an order can be opened for settles the same currencies.)
    pub fn parse(
        reference: &str,
        amount: i64,
        currency: &str,
        gateway: Provider,
    ) -> Result<NewOrder, InvalidOrder> {
        let reference = Reference::parse(reference)?;
        let amount = MinorUnits(amount);
        if !amount.is_valid_amount() {
            return Err(InvalidOrder::Amount(amount));
        }
        let currency: Currency = currency.parse()?;
        if !SETTLED_CURRENCIES.contains(&currency.as_str()) {
            return Err(InvalidOrder::Unsettled(currency));
        }
        Ok(NewOrder {
            reference,
            amount,
            currency,
            gateway,
        })
    }
}

/// Stored as its snake_case name in a TEXT column.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Paid,
    Failed,
    Abandoned,
    PartiallyRefunded,
    Refunded,
    Disputed,
    NeedsReview,
}

keffi_shared::named_variants!(OrderStatus {
    Pending => "pending",
    Paid => "paid",
    Failed => "failed",
    Abandoned => "abandoned",
    PartiallyRefunded => "partially_refunded",
    Refunded => "refunded",
    Disputed => "disputed",
    NeedsReview => "needs_review",
});

impl OrderStatus {
    /// The order status that mirrors a payment status.
    pub fn following(payment: PaymentStatus) -> OrderStatus {
        match payment {
            PaymentStatus::Pending => OrderStatus::Pending,
            PaymentStatus::Success => OrderStatus::Paid,
            PaymentStatus::Failed => OrderStatus::Failed,
            PaymentStatus::PartiallyRefunded => OrderStatus::PartiallyRefunded,
            PaymentStatus::Refunded => OrderStatus::Refunded,
            PaymentStatus::Disputed => OrderStatus::Disputed,
        }
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OrderStatus::from_name(s).ok_or_else(|| format!("unknown order status `{s}`"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub reference: String,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub status: OrderStatus,
    pub review_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_order_follows_the_apis_rules_with_its_messages() {
        assert_eq!(order_gateway("flutterwave"), Ok(Provider::Flutterwave));
        assert_eq!(order_gateway("paystack"), Ok(Provider::Paystack));
        assert_eq!(order_gateway("stripe"), Ok(Provider::Stripe));
        for no in ["standard-webhooks", "", "PAYSTACKX"] {
            assert_eq!(
                order_gateway(no).unwrap_err().to_string(),
                format!("gateway must be one of paystack, flutterwave, stripe (got `{no}`)")
            );
        }
        let ok = NewOrder::parse("ord_1", 500_000, "ngn", Provider::Paystack).unwrap();
        assert_eq!(
            (ok.reference.as_str(), ok.amount, ok.currency),
            ("ord_1", MinorUnits(500_000), Currency::NGN)
        );
        assert!(NewOrder::parse(
            "x",
            MinorUnits::MAX_AMOUNT.get(),
            "RWF",
            Provider::Flutterwave
        )
        .is_ok());
        let refused = |r: &str, a: i64, c: &str| {
            NewOrder::parse(r, a, c, Provider::Paystack)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused("bad ref", 1, "NGN"),
            "reference must be 1 to 100 of A-Z a-z 0-9 . - _ ="
        );
        assert_eq!(
            refused("", 1, "NGN"),
            "reference must be 1 to 100 of A-Z a-z 0-9 . - _ ="
        );
        for amount in [0, -1, MinorUnits::MAX_AMOUNT.get() + 1, i64::MIN] {
            assert_eq!(
                refused("ord_1", amount, "NGN"),
                "amount must be a whole number of minor units from 1 to 1000000000000"
            );
        }
        assert_eq!(
            refused("ord_1", 1, "NAIRA"),
            "`NAIRA` is not an ISO 4217 currency code (three letters)"
        );
        assert_eq!(
            refused("ord_1", 1, "EUR"),
            "currency `EUR` is not one the gateway settles \
             (NGN, GHS, ZAR, KES, USD, XOF, EGP, RWF)"
        );
        // The reference is checked first, then the amount, then the currency.
        assert!(matches!(
            NewOrder::parse("bad ref", 0, "EUR", Provider::Paystack),
            Err(InvalidOrder::Reference(_))
        ));
        assert!(matches!(
            NewOrder::parse("ord_1", 0, "EUR", Provider::Paystack),
            Err(InvalidOrder::Amount(_))
        ));
    }
}
