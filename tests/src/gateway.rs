//! Signed deliveries built the way each provider builds them, with `keffi-shared`'s signers.

use keffi_shared::scheme::{paystack, standard_webhooks, stripe};

/// An HTTP delivery: the headers a provider sends and the exact body bytes.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// A POST of this delivery to `url`: its headers and its exact body bytes.
    pub fn post(&self, http: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        let req = http.post(url).body(self.body.clone());
        self.headers
            .iter()
            .fold(req, |req, (name, value)| req.header(name, value))
    }
}

fn json_headers(extra: Vec<(&str, String)>) -> Vec<(String, String)> {
    let mut h = vec![("content-type".to_owned(), "application/json".to_owned())];
    h.extend(extra.into_iter().map(|(n, v)| (n.to_owned(), v)));
    h
}

/// A Paystack `charge.success` for transaction `id` / `reference` of `amount` kobo.
pub fn paystack_charge_success(secret: &str, id: u64, reference: &str, amount: i64) -> Delivery {
    paystack_charge_to(secret, id, reference, amount, None)
}

/// The same, on a platform account: for `subaccount`'s merchant when set (`subaccount` is
/// `{}` on a transaction without one, as Paystack sends it).
pub fn paystack_charge_to(
    secret: &str,
    id: u64,
    reference: &str,
    amount: i64,
    subaccount: Option<&str>,
) -> Delivery {
    let subaccount = subaccount.map_or(
        serde_json::json!({}),
        |code| serde_json::json!({"subaccount_code": code, "business_name": code}),
    );
    let body = serde_json::json!({
        "event": "charge.success",
        "data": {
            "id": id,
            "domain": "test",
            "status": "success",
            "reference": reference,
            "amount": amount,
            "gateway_response": "Successful",
            "paid_at": "2026-11-25T10:00:00.000Z",
            "channel": "card",
            "currency": "NGN",
            "fees": paystack_local_fee(amount),
            "customer": {"email": "ada@example.com", "customer_code": "CUS_1"},
            "metadata": {},
            "subaccount": subaccount,
            "split": {}
        }
    });
    paystack_body(secret, serde_json::to_vec(&body).expect("json"))
}

/// Paystack's fee for a local card payment: 1.5% plus ₦100 (the ₦100 waived under ₦2,500),
/// capped at ₦2,000; in kobo.
pub fn paystack_local_fee(amount: i64) -> i64 {
    let flat = if amount >= 250_000 { 10_000 } else { 0 };
    (amount * 15 / 1000 + flat).min(200_000)
}

/// Any body, signed as Paystack signs it.
pub fn paystack_body(secret: &str, body: Vec<u8>) -> Delivery {
    Delivery {
        headers: json_headers(vec![(
            "x-paystack-signature",
            paystack::sign(secret.as_bytes(), &body),
        )]),
        body,
    }
}

/// A Flutterwave `charge.completed` for transaction `id` / `tx_ref`, its amounts in naira as
/// Flutterwave writes them (`"2500.5"` → 2500.5 naira), verified by the `verif-hash` header.
pub fn flutterwave_charge(
    secret_hash: &str,
    id: u64,
    tx_ref: &str,
    amount: &str,
    app_fee: &str,
    status: &str,
) -> Delivery {
    let body = format!(
        r#"{{"event":"charge.completed","data":{{"id":{id},"tx_ref":"{tx_ref}","flw_ref":"FLW-{id}","amount":{amount},"charged_amount":{amount},"app_fee":{app_fee},"merchant_fee":0,"currency":"NGN","status":"{status}","payment_type":"card","created_at":"2026-12-06T10:00:00.000Z"}},"event.type":"CARD_TRANSACTION"}}"#
    );
    Delivery {
        headers: json_headers(vec![("verif-hash", secret_hash.to_owned())]),
        body: body.into_bytes(),
    }
}

/// A Stripe PaymentIntent event (`payment_intent.succeeded` or `.payment_failed`) for the
/// order `reference` (its `metadata.keffi_reference`), signed at `t`.
#[allow(clippy::too_many_arguments)] // one per field a test varies
pub fn stripe_payment_intent(
    secret: &str,
    event_id: &str,
    kind: &str,
    intent_id: &str,
    reference: &str,
    amount: i64,
    currency: &str,
    t: i64,
) -> Delivery {
    let body = serde_json::to_vec(&serde_json::json!({
        "id": event_id, "object": "event", "type": kind, "api_version": "2024-06-20",
        "data": {"object": {
            "id": intent_id, "object": "payment_intent", "amount": amount,
            "amount_received": if kind == "payment_intent.succeeded" { amount } else { 0 },
            "currency": currency, "status": if kind == "payment_intent.succeeded" { "succeeded" } else { "requires_payment_method" },
            "payment_method_types": ["card"], "metadata": {"keffi_reference": reference}
        }}
    }))
    .expect("json");
    stripe_body(secret, t, body)
}

/// Any body, signed as Stripe signs it at `t`.
pub fn stripe_body(secret: &str, t: i64, body: Vec<u8>) -> Delivery {
    Delivery {
        headers: json_headers(vec![(
            "stripe-signature",
            stripe::sign(secret.as_bytes(), t, &body),
        )]),
        body,
    }
}

/// A Stripe event `id` of `kind`, signed at `t`.
pub fn stripe_event(secret: &str, id: &str, kind: &str, t: i64) -> Delivery {
    let body = serde_json::to_vec(&serde_json::json!({
        "id": id, "object": "event", "type": kind, "data": {"object": {}}
    }))
    .expect("json");
    Delivery {
        headers: json_headers(vec![(
            "stripe-signature",
            stripe::sign(secret.as_bytes(), t, &body),
        )]),
        body,
    }
}

/// A Standard Webhooks message `msg_id`, signed at `t` with a `whsec_` secret.
pub fn standard_webhook(secret: &str, msg_id: &str, t: i64, body: &[u8]) -> Delivery {
    let key = standard_webhooks::parse_secret(secret).expect("a valid whsec_ secret");
    Delivery {
        headers: json_headers(vec![
            ("webhook-id", msg_id.to_owned()),
            ("webhook-timestamp", t.to_string()),
            (
                "webhook-signature",
                standard_webhooks::sign(key.expose(), msg_id, t, body),
            ),
        ]),
        body: body.to_vec(),
    }
}

pub fn now_unix() -> i64 {
    now_ms() / 1000
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}
