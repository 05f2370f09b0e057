//! Flutterwave webhook events (v3, <https://developer.flutterwave.com/v3.0/docs/webhooks>),
//! shaped after the sample Flutterwave publishes. Quirks handled here so the ledger never
//! sees them:
//!
//! - Amounts are in **major units** (naira, not kobo) and may be decimals (`"app_fee": 1.4`):
//!   each is read from its exact JSON text into minor units, and one that would round
//!   (`1.005` naira) makes the event malformed, never rounded.
//! - `amount` is what the merchant asked for; `charged_amount` what the customer paid (more,
//!   when the fees are passed on); `app_fee` is Flutterwave's fee.
//! - One event name, `charge.completed`, carries both outcomes: `data.status` is `successful`
//!   or `failed` (anything else is not final).
//! - The merchant's reference is `tx_ref`; `id` is Flutterwave's transaction id (a number).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::PayloadError;
use crate::money::{Currency, MinorUnits};

/// One Flutterwave webhook, by event name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlutterwaveEvent {
    ChargeCompleted(Charge),
    /// Any other event (transfers, subscriptions, …), recorded and not acted on.
    Other {
        event: String,
    },
}

/// The data of `charge.completed`, amounts in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// Flutterwave's transaction id.
    pub id: String,
    /// The merchant's reference.
    pub tx_ref: String,
    pub flw_ref: Option<String>,
    /// What the merchant asked for.
    pub amount: MinorUnits,
    /// What the customer was charged (the fees included when passed on).
    pub charged_amount: MinorUnits,
    /// Flutterwave's fee.
    pub app_fee: MinorUnits,
    pub currency: Currency,
    /// `successful`, `failed`, or not final yet (`pending`).
    pub status: String,
    pub payment_type: Option<String>,
    pub created_at: Option<String>,
    pub processor_response: Option<String>,
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    event: Option<String>,
    /// Older payloads name the event here as well (`CARD_TRANSACTION`).
    #[serde(rename = "event.type")]
    event_type: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawCharge<'a> {
    id: serde_json::Value,
    tx_ref: String,
    flw_ref: Option<String>,
    #[serde(borrow)]
    amount: &'a RawValue,
    #[serde(borrow)]
    charged_amount: Option<&'a RawValue>,
    #[serde(borrow)]
    app_fee: Option<&'a RawValue>,
    currency: Currency,
    status: String,
    payment_type: Option<String>,
    created_at: Option<String>,
    processor_response: Option<String>,
}

impl FlutterwaveEvent {
    /// Parses a webhook body. An unknown event is `Other`; a `charge.completed` without the
    /// fields the ledger needs, or with an amount that is not exact in minor units, is an
    /// error naming the field.
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        let raw: RawEvent =
            serde_json::from_slice(body).map_err(|e| PayloadError::NotAnEvent(e.to_string()))?;
        let event = raw
            .event
            .or(raw.event_type)
            .ok_or_else(|| PayloadError::NotAnEvent("no `event` name".into()))?;
        if event != "charge.completed" {
            return Ok(FlutterwaveEvent::Other { event });
        }
        let malformed = |reason: String| PayloadError::Malformed {
            event: event.clone(),
            reason,
        };
        let data = raw.data.ok_or_else(|| malformed("no `data`".into()))?;
        let c: RawCharge =
            serde_json::from_str(data.get()).map_err(|e| malformed(e.to_string()))?;
        let id = match &c.id {
            serde_json::Value::Number(n) if n.is_u64() => n.to_string(),
            serde_json::Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
            other => return Err(malformed(format!("`id` {other} is not a transaction id"))),
        };
        let money = |field: &str, raw: Option<&RawValue>| -> Result<MinorUnits, PayloadError> {
            match raw.map(RawValue::get) {
                None | Some("null") => Ok(MinorUnits::ZERO),
                Some(text) => MinorUnits::from_major(text, c.currency)
                    .map_err(|e| malformed(format!("`{field}`: {e}"))),
            }
        };
        let amount = money("amount", Some(c.amount))?;
        let charged_amount = match c.charged_amount {
            Some(raw) if raw.get() != "null" => money("charged_amount", Some(raw))?,
            _ => amount,
        };
        Ok(FlutterwaveEvent::ChargeCompleted(Charge {
            id,
            amount,
            charged_amount,
            app_fee: money("app_fee", c.app_fee)?,
            tx_ref: c.tx_ref,
            flw_ref: c.flw_ref,
            currency: c.currency,
            status: c.status,
            payment_type: c.payment_type,
            created_at: c.created_at,
            processor_response: c.processor_response,
        }))
    }

    /// The merchant's reference the event is about, if any.
    pub fn reference(&self) -> Option<&str> {
        match self {
            FlutterwaveEvent::ChargeCompleted(c) => Some(&c.tx_ref),
            FlutterwaveEvent::Other { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = include_bytes!("../../tests/fixtures/flutterwave/charge-completed.json");

    #[test]
    fn the_published_sample_parses_in_minor_units() {
        let FlutterwaveEvent::ChargeCompleted(c) = FlutterwaveEvent::parse(SAMPLE).unwrap() else {
            panic!("not a charge");
        };
        assert_eq!(c.id, "285959875");
        assert_eq!(c.tx_ref, "Links-616626414629");
        assert_eq!(c.amount, MinorUnits(10_000), "₦100 is 10,000 kobo");
        assert_eq!(c.charged_amount, MinorUnits(10_000));
        assert_eq!(c.app_fee, MinorUnits(140), "₦1.40 of fee");
        assert_eq!(c.currency, Currency::NGN);
        assert_eq!(c.status, "successful");
        assert_eq!(c.payment_type.as_deref(), Some("card"));
    }

    fn charge(data: &str) -> Result<FlutterwaveEvent, PayloadError> {
        FlutterwaveEvent::parse(
            format!(r#"{{"event":"charge.completed","data":{data}}}"#).as_bytes(),
        )
    }

    #[test]
    fn amounts_that_would_round_make_the_event_malformed() {
        let base = |amount: &str, fee: &str| {
            format!(
                r#"{{"id":1,"tx_ref":"r","amount":{amount},"currency":"NGN","app_fee":{fee},"status":"successful"}}"#
            )
        };
        assert!(charge(&base("100.5", "1.4")).is_ok());
        for (amount, fee) in [
            ("100.005", "1"),
            ("100", "1.401"),
            ("-5", "0"),
            ("\"lots\"", "0"),
            ("1e40", "0"),
        ] {
            let err = charge(&base(amount, fee)).unwrap_err();
            assert!(
                matches!(err, PayloadError::Malformed { .. }),
                "{amount} {fee}: {err}"
            );
        }
        let FlutterwaveEvent::ChargeCompleted(c) = charge(r#"{"id":"9","tx_ref":"r","amount":5000,"currency":"UGX","status":"failed","app_fee":null}"#).unwrap() else {
            panic!("not a charge");
        };
        assert_eq!(
            (c.amount, c.app_fee, c.id.as_str()),
            (MinorUnits(5000), MinorUnits::ZERO, "9"),
            "UGX has no minor unit"
        );
    }

    #[test]
    fn other_events_and_broken_bodies() {
        assert_eq!(
            FlutterwaveEvent::parse(br#"{"event":"transfer.completed","data":{}}"#).unwrap(),
            FlutterwaveEvent::Other {
                event: "transfer.completed".into()
            }
        );
        assert!(FlutterwaveEvent::parse(b"[]").is_err());
        assert!(FlutterwaveEvent::parse(br#"{"data":{}}"#).is_err());
        assert!(
            charge(r#"{"tx_ref":"r","amount":1,"currency":"NGN","status":"successful"}"#).is_err(),
            "no id"
        );
        assert!(charge(
            r#"{"id":-1,"tx_ref":"r","amount":1,"currency":"NGN","status":"successful"}"#
        )
        .is_err());
        assert!(charge(
            r#"{"id":1,"tx_ref":"r","amount":1,"currency":"naira","status":"successful"}"#
        )
        .is_err());
    }
}
