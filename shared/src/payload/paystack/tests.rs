use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/fixtures/paystack/", $name, ".json"))
    };
}

#[test]
fn charge_success_examples_parse() {
    let PaystackEvent::ChargeSuccess(c) = PaystackEvent::parse(fixture!("charge-success")).unwrap()
    else {
        panic!("not a charge");
    };
    assert_eq!(c.id, 302961);
    assert_eq!(c.reference, "qTPrJoy9Bx");
    assert_eq!(c.amount, MinorUnits(10000));
    assert_eq!(c.currency, Currency::NGN);
    assert_eq!(c.fees, None);
    assert_eq!(c.paid_at(), Some("2016-09-30T21:10:19.000Z"));
    assert_eq!(c.metadata, serde_json::json!(0));

    let PaystackEvent::ChargeSuccess(c) =
        PaystackEvent::parse(fixture!("charge-success-2")).unwrap()
    else {
        panic!("not a charge");
    };
    assert_eq!(c.id, 4677002219);
    assert_eq!(c.fees, Some(MinorUnits(290)));
    assert_eq!(c.currency.as_str(), "KES");
}

#[test]
fn refund_amounts_parse_as_strings_or_integers() {
    let cases: [(&[u8], RefundEvent, i64, &str); 5] = [
        (
            fixture!("refund-processed"),
            RefundEvent::Processed,
            5000,
            "T2154954_412829_3be32076_6lcg3",
        ),
        (
            fixture!("refund-pending"),
            RefundEvent::Pending,
            10000,
            "tvunjbbd_412829_4b18075d_c7had",
        ),
        (
            fixture!("refund-processing"),
            RefundEvent::Processing,
            10000,
            "tvunjbbd_412829_4b18075d_c7had",
        ),
        (
            fixture!("refund-failed"),
            RefundEvent::Failed,
            20000,
            "T9171231_412325_3be2736c_n6tml",
        ),
        (
            fixture!("refund-needs-attention"),
            RefundEvent::NeedsAttention,
            5306,
            "88bfa94509eb96aa9785641c26cc57cc",
        ),
    ];
    for (body, kind, amount, reference) in cases {
        let event = PaystackEvent::parse(body).unwrap();
        assert_eq!(event.reference(), Some(reference));
        let PaystackEvent::Refund(k, r) = event else {
            panic!("not a refund");
        };
        assert_eq!(k, kind);
        assert_eq!(r.amount, MinorUnits(amount));
    }
}

#[test]
fn disputes_name_the_transaction_reference() {
    for (body, kind) in [
        (&fixture!("charge-dispute-create")[..], DisputeEvent::Create),
        (fixture!("charge-dispute-remind"), DisputeEvent::Remind),
        (fixture!("charge-dispute-resolve"), DisputeEvent::Resolve),
    ] {
        let event = PaystackEvent::parse(body).unwrap();
        let PaystackEvent::Dispute(k, d) = &event else {
            panic!("not a dispute");
        };
        assert_eq!(*k, kind);
        assert_eq!(event.reference(), Some(d.transaction.reference.as_str()));
        assert!(d.refund_amount.get() > 0);
    }
}

#[test]
fn transfers_parse() {
    for (body, kind, amount) in [
        (
            &fixture!("transfer-success")[..],
            TransferEvent::Success,
            100000,
        ),
        (fixture!("transfer-failed"), TransferEvent::Failed, 200000),
        (
            fixture!("transfer-reversed"),
            TransferEvent::Reversed,
            10000,
        ),
    ] {
        let PaystackEvent::Transfer(k, t) = PaystackEvent::parse(body).unwrap() else {
            panic!("not a transfer");
        };
        assert_eq!(k, kind);
        assert_eq!(t.amount, MinorUnits(amount));
        assert!(t.transfer_code.starts_with("TRF_"));
    }
}

#[test]
fn unknown_events_are_kept_whole() {
    let body = br#"{"event":"subscription.create","data":{"subscription_code":"SUB_1"}}"#;
    let event = PaystackEvent::parse(body).unwrap();
    assert_eq!(
        event,
        PaystackEvent::Other {
            event: "subscription.create".into(),
            data: serde_json::json!({"subscription_code": "SUB_1"}),
        }
    );
    assert_eq!(event.reference(), None);
}

#[test]
fn malformed_known_events_name_the_problem() {
    let fractional = br#"{"event":"charge.success","data":{"id":1,"reference":"r","amount":10.5,"currency":"NGN","status":"success"}}"#;
    let err = PaystackEvent::parse(fractional).unwrap_err();
    assert!(matches!(err, PayloadError::Malformed { ref event, .. } if event == "charge.success"));
    assert!(err.to_string().contains("not an integer"), "{err}");

    let missing = br#"{"event":"charge.success","data":{"id":1,"amount":100,"currency":"NGN","status":"success"}}"#;
    assert!(PaystackEvent::parse(missing)
        .unwrap_err()
        .to_string()
        .contains("reference"));

    assert!(matches!(
        PaystackEvent::parse(b"[]"),
        Err(PayloadError::NotAnEvent(_))
    ));
}

#[test]
fn verify_response_parses() {
    let v: VerifyResponse = serde_json::from_slice(include_bytes!(
        "../../../tests/fixtures/paystack/verify-success.json"
    ))
    .unwrap();
    assert!(v.status);
    let data = v.data.unwrap();
    assert_eq!(data.id, 4099260516);
    assert_eq!(data.reference, "re4lyvq3s3");
    assert_eq!(data.amount, MinorUnits(40333));
    assert_eq!(data.status, "success");

    let not_found: VerifyResponse =
        serde_json::from_str(r#"{"status":false,"message":"Transaction reference not found"}"#)
            .unwrap();
    assert!(!not_found.status && not_found.data.is_none());
}
