//! What an event says, in the ledger's terms, whatever route it came by (a provider webhook, or
//! the reconciler's call to the gateway's verify API).

use keffi_shared::payload::flutterwave::{self, FlutterwaveEvent};
use keffi_shared::payload::paystack::{
    Charge, DisputeEvent, PaystackEvent, RefundEvent, TransferEvent,
};
use keffi_shared::payload::stripe::StripeEvent;
use keffi_shared::{Currency, Envelope, MinorUnits, Provider};

/// The inbox source of the facts the reconciler records: Paystack's Verify Transaction
/// answers, kept whole for the audit trail.
pub const RECONCILER_SOURCE: &str = "reconciler";

/// The envelope header naming the reference a verify answer is about (a not-found answer
/// does not name it itself).
pub const VERIFY_REFERENCE_HEADER: &str = "x-keffi-reference";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// The gateway captured money for `reference`.
    ChargeSucceeded {
        reference: String,
        gateway: Provider,
        gateway_id: String,
        /// What the customer was charged.
        amount: MinorUnits,
        /// What the merchant asked for, when the gateway says (the charge adds the fees on
        /// top when the merchant passes them on): what the order is compared with.
        requested_amount: Option<MinorUnits>,
        currency: Currency,
        fees: MinorUnits,
        channel: Option<String>,
        paid_at: Option<String>,
    },
    /// The gateway reports the charge did not happen (`failed`, `abandoned`).
    ChargeFailed {
        reference: String,
        gateway: Provider,
        abandoned: bool,
        reason: String,
    },
    /// Money went back to the customer.
    RefundProcessed {
        reference: String,
        /// The gateway that moved the money.
        gateway: Provider,
        amount: MinorUnits,
        currency: Currency,
    },
    /// The payment's refunds come to `total` in all so far (Stripe's `amount_refunded`): what
    /// is new is the part above what the payment has refunded already.
    RefundedTo {
        reference: String,
        /// The gateway that moved the money.
        gateway: Provider,
        total: MinorUnits,
        currency: Currency,
    },
    /// A customer disputed `amount` of the payment; the gateway holds it until resolved.
    DisputeOpened {
        reference: String,
        /// The gateway that moved the money.
        gateway: Provider,
        dispute_id: String,
        amount: MinorUnits,
        currency: Currency,
    },
    DisputeResolved {
        reference: String,
        /// The gateway that moved the money.
        gateway: Provider,
        dispute_id: String,
        currency: Currency,
        resolution: Resolution,
    },
    /// An event the ledger records but does not act on, and why.
    Noted {
        reference: Option<String>,
        why: String,
    },
    /// `fact`, about the payment whose `gateway` transaction is `gateway_id` (a Stripe
    /// dispute names only its PaymentIntent): the pipeline finds that payment's reference and
    /// applies `fact` about it ([`Fact::resolved`]). Until then its reference is the
    /// transaction id, so one no payment has parks there.
    ByGatewayId {
        gateway: Provider,
        gateway_id: String,
        fact: Box<Fact>,
    },
}

/// How a dispute ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The merchant's evidence won (`declined`): the held money comes back.
    MerchantWon,
    /// The customer gets `refund` back (`merchant-accepted`, perhaps in part, or
    /// `auto-accepted`); the rest of what was held comes back to the merchant.
    CustomerRefunded { refund: MinorUnits },
}

impl Fact {
    /// Why the fact's amounts cannot move money (zero, negative, above the ceiling, fees
    /// larger than the charge), if they cannot. Such an event is dead before anything else is
    /// decided, so it never parks, never applies and never touches another event.
    /// The fact about `reference` (the payment's, once found), or, with none found, about the
    /// transaction id itself.
    pub fn resolved(self, reference: Option<&str>) -> Fact {
        let Fact::ByGatewayId {
            gateway_id, fact, ..
        } = self
        else {
            return self;
        };
        let to = reference.unwrap_or(&gateway_id).to_owned();
        let mut fact = *fact;
        match &mut fact {
            Fact::ChargeSucceeded { reference, .. }
            | Fact::ChargeFailed { reference, .. }
            | Fact::RefundProcessed { reference, .. }
            | Fact::RefundedTo { reference, .. }
            | Fact::DisputeOpened { reference, .. }
            | Fact::DisputeResolved { reference, .. } => *reference = to,
            Fact::Noted { reference, .. } => *reference = Some(to),
            Fact::ByGatewayId { .. } => {}
        }
        fact
    }

    /// The gateway transaction this fact names its payment by, if it does.
    pub fn by_gateway_id(&self) -> Option<(Provider, &str)> {
        match self {
            Fact::ByGatewayId {
                gateway,
                gateway_id,
                ..
            } => Some((*gateway, gateway_id)),
            _ => None,
        }
    }

    pub fn invalid_amounts(&self) -> Option<String> {
        let bad = |what: &str, a: MinorUnits| {
            (!a.is_valid_amount()).then(|| {
                format!(
                    "{what} {a} is not an amount: it must be 1 to {} minor units",
                    MinorUnits::MAX_AMOUNT
                )
            })
        };
        match self {
            Fact::ChargeSucceeded {
                amount,
                requested_amount,
                fees,
                ..
            } => bad("charge amount", *amount)
                .or_else(|| requested_amount.and_then(|r| bad("requested amount", r)))
                .or_else(|| {
                    (*fees < MinorUnits::ZERO || fees > amount)
                        .then(|| format!("fees {fees} do not fit the charge of {amount}"))
                })
                .or_else(|| {
                    requested_amount
                        .filter(|r| r > amount)
                        .map(|r| format!("requested amount {r} is more than the charged {amount}"))
                }),
            Fact::RefundProcessed { amount, .. } => bad("refund amount", *amount),
            Fact::RefundedTo { total, .. } => bad("refunds in all", *total),
            Fact::DisputeOpened { amount, .. } => bad("disputed amount", *amount),
            Fact::DisputeResolved {
                resolution: Resolution::CustomerRefunded { refund },
                ..
            } => bad("dispute refund", *refund),
            Fact::ByGatewayId { fact, .. } => fact.invalid_amounts(),
            Fact::DisputeResolved { .. } | Fact::ChargeFailed { .. } | Fact::Noted { .. } => None,
        }
    }

    /// The gateway a refund or dispute says moved the money: it must be the one that
    /// captured the payment.
    pub fn after_capture_gateway(&self) -> Option<Provider> {
        match self {
            Fact::RefundProcessed { gateway, .. }
            | Fact::RefundedTo { gateway, .. }
            | Fact::DisputeOpened { gateway, .. }
            | Fact::DisputeResolved { gateway, .. } => Some(*gateway),
            Fact::ByGatewayId { fact, .. } => fact.after_capture_gateway(),
            _ => None,
        }
    }

    pub fn reference(&self) -> Option<&str> {
        match self {
            Fact::ChargeSucceeded { reference, .. }
            | Fact::ChargeFailed { reference, .. }
            | Fact::RefundProcessed { reference, .. }
            | Fact::RefundedTo { reference, .. }
            | Fact::DisputeOpened { reference, .. }
            | Fact::DisputeResolved { reference, .. } => Some(reference),
            Fact::Noted { reference, .. } => reference.as_deref(),
            Fact::ByGatewayId { gateway_id, .. } => Some(gateway_id),
        }
    }

    /// The fact a stored envelope states, or why it cannot be read (the event goes `dead`).
    pub fn from_envelope(envelope: &Envelope) -> Result<Fact, String> {
        if envelope.source == RECONCILER_SOURCE {
            return from_verify_answer(envelope);
        }
        match envelope.provider {
            Provider::Paystack => {
                let event = PaystackEvent::parse(&envelope.body).map_err(|e| e.to_string())?;
                from_paystack(event)
            }
            Provider::Flutterwave => {
                let event = FlutterwaveEvent::parse(&envelope.body).map_err(|e| e.to_string())?;
                Ok(from_flutterwave(event))
            }
            Provider::Stripe => {
                let event = StripeEvent::parse(&envelope.body).map_err(|e| e.to_string())?;
                from_stripe(event)
            }
            other => Ok(Fact::Noted {
                reference: None,
                why: format!("{other} events are recorded; applying them is not supported yet"),
            }),
        }
    }

    /// The fact a Paystack Verify Transaction answer states about a charge.
    pub fn from_paystack_charge(charge: &Charge) -> Fact {
        match charge.status.as_str() {
            "success" => charge_succeeded(charge),
            "failed" | "abandoned" | "reversed" => Fact::ChargeFailed {
                reference: charge.reference.clone(),
                gateway: Provider::Paystack,
                abandoned: charge.status == "abandoned",
                reason: format!(
                    "gateway reports `{}`{}",
                    charge.status,
                    charge
                        .gateway_response
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            },
            other => Fact::Noted {
                reference: Some(charge.reference.clone()),
                why: format!("gateway reports `{other}`: not final yet"),
            },
        }
    }
}

/// A fact the reconciler recorded from the gateway's Verify Transaction answer.
fn from_verify_answer(envelope: &Envelope) -> Result<Fact, String> {
    use keffi_shared::payload::paystack::VerifyResponse;
    let reference = envelope
        .headers
        .get(VERIFY_REFERENCE_HEADER)
        .cloned()
        .ok_or("reconciler event without its reference")?;
    if envelope.event_type == "verify.gave_up" {
        return Ok(Fact::ChargeFailed {
            reference,
            gateway: Provider::Paystack,
            abandoned: true,
            reason: "the gateway has no transaction for this reference; gave up waiting".into(),
        });
    }
    let answer: VerifyResponse = serde_json::from_slice(&envelope.body)
        .map_err(|e| format!("unreadable verify answer: {e}"))?;
    let charge = answer.data.ok_or("verify answer without data")?;
    if charge.reference != reference {
        return Err(format!(
            "verify answer names {} for {reference}",
            charge.reference
        ));
    }
    Ok(Fact::from_paystack_charge(&charge))
}

fn charge_succeeded(c: &Charge) -> Fact {
    Fact::ChargeSucceeded {
        reference: c.reference.clone(),
        gateway: Provider::Paystack,
        gateway_id: c.id.to_string(),
        amount: c.amount,
        requested_amount: c.requested_amount,
        currency: c.currency,
        fees: c.fees.unwrap_or_default(),
        channel: c.channel.clone(),
        paid_at: c.paid_at().map(str::to_owned),
    }
}

fn from_paystack(event: PaystackEvent) -> Result<Fact, String> {
    Ok(match event {
        PaystackEvent::ChargeSuccess(c) => charge_succeeded(&c),
        PaystackEvent::Refund(RefundEvent::Processed, r) => Fact::RefundProcessed {
            gateway: Provider::Paystack,
            reference: r.transaction_reference,
            amount: r.amount,
            currency: r.currency,
        },
        PaystackEvent::Refund(kind, r) => Fact::Noted {
            reference: Some(r.transaction_reference),
            why: format!("refund {kind:?} is not final; money moves when the refund is processed")
                .to_lowercase(),
        },
        PaystackEvent::Dispute(DisputeEvent::Create, d) => Fact::DisputeOpened {
            gateway: Provider::Paystack,
            reference: d.transaction.reference,
            dispute_id: d.id.to_string(),
            amount: d.refund_amount,
            currency: d.currency,
        },
        PaystackEvent::Dispute(DisputeEvent::Resolve, d) => Fact::DisputeResolved {
            gateway: Provider::Paystack,
            resolution: resolution(d.resolution.as_deref(), d.refund_amount)?,
            reference: d.transaction.reference,
            dispute_id: d.id.to_string(),
            currency: d.currency,
        },
        PaystackEvent::Dispute(DisputeEvent::Remind, d) => Fact::Noted {
            reference: Some(d.transaction.reference),
            why: "dispute reminder: nothing changes".into(),
        },
        PaystackEvent::Transfer(kind, t) => Fact::Noted {
            reference: Some(t.reference),
            why: format!(
                "transfer {}: payouts are not tracked by the ledger yet",
                match kind {
                    TransferEvent::Success => "success",
                    TransferEvent::Failed => "failed",
                    TransferEvent::Reversed => "reversed",
                }
            ),
        },
        PaystackEvent::Other { event, .. } => Fact::Noted {
            reference: None,
            why: format!("`{event}` is not an event the ledger acts on"),
        },
    })
}

fn from_flutterwave(event: FlutterwaveEvent) -> Fact {
    match event {
        FlutterwaveEvent::ChargeCompleted(c) => match c.status.as_str() {
            "successful" => flutterwave_charge(c),
            "failed" => Fact::ChargeFailed {
                reason: format!(
                    "gateway reports `failed`{}",
                    c.processor_response
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
                reference: c.tx_ref,
                gateway: Provider::Flutterwave,
                abandoned: false,
            },
            other => Fact::Noted {
                why: format!("gateway reports `{other}`: not final yet"),
                reference: Some(c.tx_ref),
            },
        },
        FlutterwaveEvent::Other { event } => Fact::Noted {
            reference: None,
            why: format!("`{event}` is not an event the ledger acts on"),
        },
    }
}

/// A successful Flutterwave charge: what the customer paid (`charged_amount`), what the
/// merchant asked for (`amount`), Flutterwave's fee (`app_fee`).
fn flutterwave_charge(c: flutterwave::Charge) -> Fact {
    Fact::ChargeSucceeded {
        gateway: Provider::Flutterwave,
        gateway_id: c.id,
        amount: c.charged_amount,
        requested_amount: Some(c.amount),
        currency: c.currency,
        fees: c.app_fee,
        channel: c.payment_type,
        paid_at: c.created_at,
        reference: c.tx_ref,
    }
}

/// Stripe's PaymentIntent outcomes. Stripe's fee is not in the event (it is on the charge's
/// balance transaction), so the charge's fee is recorded as 0: the merchant balance is gross
/// for Stripe until fees are read from the balance transactions.
fn from_stripe(event: StripeEvent) -> Result<Fact, String> {
    Ok(match event {
        StripeEvent::PaymentSucceeded(pi) => Fact::ChargeSucceeded {
            gateway: Provider::Stripe,
            gateway_id: pi.id,
            amount: pi.amount_received,
            requested_amount: Some(pi.amount),
            currency: pi.currency,
            fees: MinorUnits::ZERO,
            channel: pi.method,
            paid_at: None,
            reference: pi.reference,
        },
        StripeEvent::PaymentFailed(pi) => Fact::ChargeFailed {
            reason: format!(
                "gateway reports the payment failed{}",
                pi.failure.map(|r| format!(": {r}")).unwrap_or_default()
            ),
            reference: pi.reference,
            gateway: Provider::Stripe,
            abandoned: false,
        },
        StripeEvent::DisputeCreated(d) if d.status.starts_with("warning") => Fact::Noted {
            reference: None,
            why: format!("dispute {} is an inquiry: no money is held", d.id),
        },
        StripeEvent::DisputeCreated(d) => Fact::ByGatewayId {
            gateway: Provider::Stripe,
            fact: Box::new(Fact::DisputeOpened {
                reference: d.payment.clone(),
                gateway: Provider::Stripe,
                dispute_id: d.id,
                amount: d.amount,
                currency: d.currency,
            }),
            gateway_id: d.payment,
        },
        StripeEvent::DisputeClosed(d) => {
            let resolution = match d.status.as_str() {
                "won" => Resolution::MerchantWon,
                "lost" => Resolution::CustomerRefunded { refund: d.amount },
                "warning_closed" => {
                    return Ok(Fact::Noted {
                        reference: None,
                        why: format!("inquiry {} closed: no money moved", d.id),
                    })
                }
                other => return Err(format!("dispute {} closed as `{other}`", d.id)),
            };
            Fact::ByGatewayId {
                gateway: Provider::Stripe,
                fact: Box::new(Fact::DisputeResolved {
                    reference: d.payment.clone(),
                    gateway: Provider::Stripe,
                    dispute_id: d.id,
                    currency: d.currency,
                    resolution,
                }),
                gateway_id: d.payment,
            }
        }
        StripeEvent::PaymentCanceled(pi) => Fact::ChargeFailed {
            reason: "gateway reports the payment canceled".into(),
            reference: pi.reference,
            gateway: Provider::Stripe,
            abandoned: true,
        },
        StripeEvent::ChargeRefunded(r) => Fact::RefundedTo {
            gateway: Provider::Stripe,
            reference: r.reference,
            total: r.amount_refunded,
            currency: r.currency,
        },
        StripeEvent::Other { event } => Fact::Noted {
            reference: None,
            why: format!("`{event}` is not an event the ledger acts on"),
        },
    })
}

/// Paystack's dispute resolutions. An unknown one is not guessed at: the event is dead and a
/// human reads it.
fn resolution(value: Option<&str>, refund_amount: MinorUnits) -> Result<Resolution, String> {
    match value {
        Some("declined") => Ok(Resolution::MerchantWon),
        Some("merchant-accepted" | "auto-accepted") => Ok(Resolution::CustomerRefunded {
            refund: refund_amount,
        }),
        Some(other) => Err(format!("unknown dispute resolution `{other}`")),
        None => Err("a dispute resolution without its `resolution`".into()),
    }
}
