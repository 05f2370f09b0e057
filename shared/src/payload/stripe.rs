//! Stripe events (<https://docs.stripe.com/api/events>): the PaymentIntent events that move
//! money. Quirks handled here so the ledger never sees them:
//!
//! - Amounts are integers in the currency's smallest unit, which is Keffi's minor unit, with
//!   Stripe's documented special cases (<https://docs.stripe.com/currencies#special-cases>):
//!   ISK and UGX are zero-decimal currencies that Stripe's API writes with two decimals
//!   always `00`, so their amounts are divided by 100, exactly, or refused.
//! - Currencies are lower-case (`usd`).
//! - The merchant's order reference is `metadata.keffi_reference` (the key Keffi documents;
//!   set it when creating the PaymentIntent), or else the PaymentIntent's own id.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::PayloadError;
use crate::money::{Currency, MinorUnits};

/// Where the order's reference is read from in a PaymentIntent's `metadata`.
pub const REFERENCE_KEY: &str = "keffi_reference";

/// One Stripe event, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeEvent {
    /// `payment_intent.succeeded`.
    PaymentSucceeded(PaymentIntent),
    /// `payment_intent.payment_failed`.
    PaymentFailed(PaymentIntent),
    /// `payment_intent.canceled`: it will never be paid.
    PaymentCanceled(PaymentIntent),
    /// `charge.refunded`: the charge's refunds so far, in all.
    ChargeRefunded(ChargeRefunds),
    /// `charge.dispute.created`.
    DisputeCreated(ChargeDispute),
    /// `charge.dispute.closed`.
    DisputeClosed(ChargeDispute),
    /// Any other event, recorded and not acted on.
    Other { event: String },
}

/// A PaymentIntent, amounts in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIntent {
    pub id: String,
    /// `metadata.keffi_reference`, or the PaymentIntent's id.
    pub reference: String,
    /// What the merchant asked for.
    pub amount: MinorUnits,
    /// What was captured.
    pub amount_received: MinorUnits,
    pub currency: Currency,
    /// The first payment method type (`card`, …).
    pub method: Option<String>,
    /// Why the last attempt failed, when it did.
    pub failure: Option<String>,
}

/// A refunded charge: `amount_refunded` is every refund of it so far, not this one's, so
/// two partial refunds arrive as 300 then 500, and a late 300 after the 500 says nothing new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRefunds {
    pub id: String,
    /// `metadata.keffi_reference`, else its PaymentIntent's id, else the charge's own id.
    pub reference: String,
    pub amount_refunded: MinorUnits,
    pub currency: Currency,
}

/// A dispute of a charge. It names the payment only by its PaymentIntent (or, for a charge
/// made without one, the charge), not by the order's reference: the ledger finds the payment
/// whose Stripe transaction that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeDispute {
    pub id: String,
    /// The PaymentIntent's id, else the charge's.
    pub payment: String,
    pub amount: MinorUnits,
    pub currency: Currency,
    /// `warning_*` for an inquiry (no money moves); `needs_response`, `under_review`, then
    /// `won` or `lost`.
    pub status: String,
}

#[derive(Deserialize)]
struct RawDispute {
    id: String,
    amount: i64,
    currency: Currency,
    charge: Option<String>,
    payment_intent: Option<String>,
    status: String,
}

#[derive(Deserialize)]
struct RawCharge {
    id: String,
    payment_intent: Option<String>,
    amount_refunded: i64,
    currency: Currency,
    #[serde(default)]
    metadata: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    data: Option<RawData>,
}

#[derive(Deserialize)]
struct RawData {
    object: Value,
}

#[derive(Deserialize)]
struct RawIntent {
    id: String,
    amount: i64,
    #[serde(default)]
    amount_received: i64,
    currency: Currency,
    #[serde(default)]
    metadata: BTreeMap<String, Value>,
    #[serde(default)]
    payment_method_types: Vec<String>,
    last_payment_error: Option<RawError>,
}

#[derive(Deserialize)]
struct RawError {
    message: Option<String>,
    code: Option<String>,
}

/// A Stripe amount of `currency` in Keffi's minor units (see the module's note on ISK and
/// UGX), or why it is not one.
pub fn minor_units(amount: i64, currency: Currency) -> Result<MinorUnits, String> {
    if amount < 0 {
        return Err(format!("amount {amount} is negative"));
    }
    match currency.as_str() {
        "ISK" | "UGX" if amount % 100 != 0 => Err(format!(
            "amount {amount} {currency} is not a whole number of units (Stripe writes {currency} with two decimals, always 00)"
        )),
        "ISK" | "UGX" => Ok(MinorUnits(amount / 100)),
        _ => Ok(MinorUnits(amount)),
    }
}

impl StripeEvent {
    /// Parses an event body. An event type the ledger does not act on is `Other`; a
    /// PaymentIntent event without the fields it needs is an error naming the field.
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        let raw: RawEvent =
            serde_json::from_slice(body).map_err(|e| PayloadError::NotAnEvent(e.to_string()))?;
        Ok(match raw.kind.as_str() {
            "payment_intent.succeeded" => {
                StripeEvent::PaymentSucceeded(intent(&raw.kind, raw.data)?)
            }
            "payment_intent.payment_failed" => {
                StripeEvent::PaymentFailed(intent(&raw.kind, raw.data)?)
            }
            "payment_intent.canceled" => StripeEvent::PaymentCanceled(intent(&raw.kind, raw.data)?),
            "charge.dispute.created" => StripeEvent::DisputeCreated(dispute(&raw.kind, raw.data)?),
            "charge.dispute.closed" => StripeEvent::DisputeClosed(dispute(&raw.kind, raw.data)?),
            "charge.refunded" => StripeEvent::ChargeRefunded(refunds(&raw.kind, raw.data)?),
            _ => StripeEvent::Other { event: raw.kind },
        })
    }
}

fn malformed(kind: &str) -> impl Fn(String) -> PayloadError + '_ {
    move |reason| PayloadError::Malformed {
        event: kind.to_owned(),
        reason,
    }
}

/// The event's `data.object` as `T`.
fn object<T: serde::de::DeserializeOwned>(
    kind: &str,
    data: Option<RawData>,
) -> Result<T, PayloadError> {
    let object = data
        .ok_or_else(|| malformed(kind)("no `data.object`".into()))?
        .object;
    serde_json::from_value(object).map_err(|e| malformed(kind)(e.to_string()))
}

/// `metadata.keffi_reference`, if set; a value that is not a reference is refused.
fn metadata_reference(
    kind: &str,
    metadata: &BTreeMap<String, Value>,
) -> Result<Option<String>, PayloadError> {
    match metadata.get(REFERENCE_KEY) {
        Some(Value::String(r)) if !r.trim().is_empty() => Ok(Some(r.trim().to_owned())),
        Some(other) => Err(malformed(kind)(format!(
            "`metadata.{REFERENCE_KEY}` {other} is not a reference"
        ))),
        None => Ok(None),
    }
}

/// The dispute a `charge.dispute.*` event carries.
fn dispute(kind: &str, data: Option<RawData>) -> Result<ChargeDispute, PayloadError> {
    let d: RawDispute = object(kind, data)?;
    let payment = d
        .payment_intent
        .or(d.charge)
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| malformed(kind)("neither `payment_intent` nor `charge`".into()))?;
    Ok(ChargeDispute {
        payment,
        amount: minor_units(d.amount, d.currency).map_err(malformed(kind))?,
        currency: d.currency,
        status: d.status,
        id: d.id,
    })
}

/// The charge a `charge.refunded` event carries.
fn refunds(kind: &str, data: Option<RawData>) -> Result<ChargeRefunds, PayloadError> {
    let c: RawCharge = object(kind, data)?;
    let reference = metadata_reference(kind, &c.metadata)?
        .or_else(|| c.payment_intent.clone())
        .unwrap_or_else(|| c.id.clone());
    Ok(ChargeRefunds {
        reference,
        amount_refunded: minor_units(c.amount_refunded, c.currency).map_err(malformed(kind))?,
        currency: c.currency,
        id: c.id,
    })
}

/// The PaymentIntent a PaymentIntent event carries.
fn intent(kind: &str, data: Option<RawData>) -> Result<PaymentIntent, PayloadError> {
    let i: RawIntent = object(kind, data)?;
    let reference = metadata_reference(kind, &i.metadata)?.unwrap_or_else(|| i.id.clone());
    Ok(PaymentIntent {
        reference,
        amount: minor_units(i.amount, i.currency).map_err(malformed(kind))?,
        amount_received: minor_units(i.amount_received, i.currency).map_err(malformed(kind))?,
        currency: i.currency,
        method: i.payment_method_types.into_iter().next(),
        failure: i.last_payment_error.and_then(|e| e.message.or(e.code)),
        id: i.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] =
        include_bytes!("../../tests/fixtures/stripe/payment-intent-succeeded.json");

    #[test]
    fn the_fixture_parses() {
        let StripeEvent::PaymentSucceeded(pi) = StripeEvent::parse(SAMPLE).unwrap() else {
            panic!("not a succeeded PaymentIntent");
        };
        assert_eq!(pi.reference, "ord_stripe_1");
        assert_eq!(pi.id, "pi_1PgafyB7WZ01zgkWSjxsAJo3");
        assert_eq!(
            (pi.amount, pi.amount_received),
            (MinorUnits(1099), MinorUnits(1099))
        );
        assert_eq!(pi.currency.as_str(), "USD");
        assert_eq!(pi.method.as_deref(), Some("card"));
    }

    fn event(kind: &str, object: Value) -> Result<StripeEvent, PayloadError> {
        StripeEvent::parse(
            serde_json::to_vec(
                &serde_json::json!({"id": "evt_1", "type": kind, "data": {"object": object}}),
            )
            .unwrap()
            .as_slice(),
        )
    }

    #[test]
    fn zero_decimal_currencies_and_the_special_cases() {
        let pi = |amount: i64, currency: &str| {
            event(
                "payment_intent.succeeded",
                serde_json::json!({"id": "pi_1", "amount": amount, "amount_received": amount, "currency": currency}),
            )
        };
        let amount = |e: StripeEvent| match e {
            StripeEvent::PaymentSucceeded(p) => (p.amount, p.reference),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            amount(pi(5000, "xof").unwrap()),
            (MinorUnits(5000), "pi_1".into()),
            "zero-decimal: as sent"
        );
        assert_eq!(amount(pi(1099, "usd").unwrap()).0, MinorUnits(1099));
        assert_eq!(
            amount(pi(150_000, "ugx").unwrap()).0,
            MinorUnits(1500),
            "UGX: two decimals, always 00"
        );
        assert_eq!(amount(pi(10_000, "isk").unwrap()).0, MinorUnits(100));
        for (a, c) in [(150_050, "ugx"), (10_001, "isk"), (-1, "usd")] {
            assert!(
                matches!(pi(a, c), Err(PayloadError::Malformed { .. })),
                "{a} {c}"
            );
        }
    }

    #[test]
    fn failures_other_events_and_broken_bodies() {
        let failed = event(
            "payment_intent.payment_failed",
            serde_json::json!({"id": "pi_2", "amount": 500, "currency": "usd",
                "metadata": {"keffi_reference": "ord_9"},
                "last_payment_error": {"code": "card_declined", "message": "Your card was declined."}}),
        )
        .unwrap();
        let StripeEvent::PaymentFailed(p) = failed else {
            panic!("{failed:?}")
        };
        assert_eq!(
            (p.reference.as_str(), p.failure.as_deref()),
            ("ord_9", Some("Your card was declined."))
        );
        let canceled = event(
            "payment_intent.canceled",
            serde_json::json!({"id": "pi_3", "amount": 500, "currency": "usd",
                "cancellation_reason": "abandoned"}),
        )
        .unwrap();
        assert!(
            matches!(canceled, StripeEvent::PaymentCanceled(ref p) if p.reference == "pi_3"),
            "{canceled:?}"
        );
        assert_eq!(
            event("customer.created", serde_json::json!({})).unwrap(),
            StripeEvent::Other {
                event: "customer.created".into()
            }
        );
        assert!(
            event(
                "payment_intent.succeeded",
                serde_json::json!({"id": "pi_3", "currency": "usd"})
            )
            .is_err(),
            "no amount"
        );
        assert!(event("payment_intent.succeeded", serde_json::json!({"id": "pi_3", "amount": 1, "currency": "usd", "metadata": {"keffi_reference": 7}})).is_err());
        assert!(StripeEvent::parse(b"{}").is_err());
    }

    #[test]
    fn a_refunded_charge_says_its_refunds_in_all() {
        let refunded = |object: Value| event("charge.refunded", object);
        let StripeEvent::ChargeRefunded(r) = refunded(serde_json::json!({
            "id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 1099,
            "amount_refunded": 500, "currency": "usd", "refunded": false,
            "metadata": {"keffi_reference": "ord_stripe_1"}}))
        .unwrap() else {
            panic!("not a refund");
        };
        assert_eq!(
            (r.reference.as_str(), r.amount_refunded),
            ("ord_stripe_1", MinorUnits(500))
        );
        let by_intent = refunded(serde_json::json!({"id": "ch_2", "payment_intent": "pi_2", "amount_refunded": 10_000, "currency": "isk"})).unwrap();
        assert_eq!(
            by_intent,
            StripeEvent::ChargeRefunded(ChargeRefunds {
                id: "ch_2".into(),
                reference: "pi_2".into(),
                amount_refunded: MinorUnits(100),
                currency: "ISK".parse().unwrap(),
            })
        );
        assert!(
            refunded(serde_json::json!({"id": "ch_3", "currency": "usd"})).is_err(),
            "no amount_refunded"
        );
    }

    #[test]
    fn a_dispute_names_its_payment_intent() {
        let StripeEvent::DisputeCreated(d) = event(
            "charge.dispute.created",
            serde_json::json!({"id": "dp_1", "object": "dispute", "amount": 1000, "currency": "usd",
                "charge": "ch_1", "payment_intent": "pi_1", "reason": "general", "status": "needs_response"}),
        )
        .unwrap() else {
            panic!("not a dispute");
        };
        assert_eq!(
            (d.payment.as_str(), d.amount, d.status.as_str()),
            ("pi_1", MinorUnits(1000), "needs_response")
        );
        let by_charge = event(
            "charge.dispute.closed",
            serde_json::json!({"id": "dp_2", "amount": 5, "currency": "usd", "charge": "ch_2", "payment_intent": null, "status": "lost"}),
        )
        .unwrap();
        assert!(
            matches!(by_charge, StripeEvent::DisputeClosed(ref d) if d.payment == "ch_2"),
            "{by_charge:?}"
        );
        assert!(event(
            "charge.dispute.created",
            serde_json::json!({"id": "dp_3", "amount": 5, "currency": "usd", "status": "x"})
        )
        .is_err());
    }
}
