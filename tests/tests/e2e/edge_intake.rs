//! `POST /hooks/{source}` against the real Worker under `wrangler dev`: signed deliveries of
//! each provider are stored, every rejection path answers its status and code and stores
//! nothing, and concurrent identical deliveries are stored once.

use keffi_tests::edge::{
    EdgeConfig, TestEdge, PAYSTACK_IP, PAYSTACK_SECRET, STRIPE_SECRET, SVIX_SECRET,
};
use keffi_tests::gateway::{self, now_unix};

#[tokio::test]
async fn signed_deliveries_of_each_provider_are_stored_exactly() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let paystack = gateway::paystack_charge_success(PAYSTACK_SECRET, 4099260516, "ord_1", 500_000);
    let stripe = gateway::stripe_event(
        STRIPE_SECRET,
        "evt_1",
        "payment_intent.succeeded",
        now_unix(),
    );
    let svix = gateway::standard_webhook(
        SVIX_SECRET,
        "msg_1",
        now_unix(),
        br#"{"type":"invoice.paid"}"#,
    );

    for (source, delivery, key) in [
        ("paystack", &paystack, "paystack:charge.success:4099260516"),
        ("stripe", &stripe, "stripe:evt_1"),
        ("svix", &svix, "standard-webhooks:msg_1"),
    ] {
        let (status, body) = edge.deliver(source, delivery).await?;
        assert_eq!(status, 200, "{source}: {body}");
        assert_eq!(body["status"], "accepted");
        assert_eq!(body["key"], key);
    }

    let mut stored = edge.pull_all(100).await?;
    stored.sort_by(|a, b| a.envelope.key.cmp(&b.envelope.key));
    assert_eq!(stored.len(), 3);
    let p = &stored[0].envelope;
    assert_eq!(p.key.as_str(), "paystack:charge.success:4099260516");
    assert_eq!(p.source, "paystack");
    assert_eq!(p.event_type, "charge.success");
    assert_eq!(
        p.body, paystack.body,
        "the raw body is stored byte for byte"
    );
    assert!(p.headers.contains_key("x-paystack-signature"));
    assert_eq!(stored[1].envelope.event_type, "invoice.paid");
    assert_eq!(stored[2].envelope.event_type, "payment_intent.succeeded");
    let age_ms = gateway::now_ms() - p.received_at_ms;
    assert!(
        (0..60_000).contains(&age_ms),
        "received_at_ms is the edge's clock: {age_ms}"
    );
    Ok(())
}

#[tokio::test]
async fn every_rejection_has_its_status_and_code_and_stores_nothing() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard().var("KEFFI_MAX_BODY_BYTES", "4096")).await?;
    let good = gateway::paystack_charge_success(PAYSTACK_SECRET, 1, "ord_1", 100);

    // Wrong method.
    let resp = edge.http().get(edge.url("/hooks/paystack")).send().await?;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let body: serde_json::Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "method_not_allowed");

    let forged = gateway::paystack_charge_success("sk_test_guess", 1, "ord_1", 100);
    let big_body = format!(
        r#"{{"event":"charge.success","pad":"{}"}}"#,
        "x".repeat(5000)
    );
    let cases: Vec<(&str, gateway::Delivery, u16, &str)> = vec![
        ("nope", good.clone(), 404, "unknown_source"),
        ("paystack-ip", good.clone(), 403, "ip_not_allowed"),
        (
            "paystack",
            gateway::paystack_body(PAYSTACK_SECRET, big_body.into_bytes()),
            413,
            "payload_too_large",
        ),
        (
            "paystack",
            good.clone().header("content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        (
            "paystack",
            good.clone().without_header("content-type"),
            415,
            "unsupported_media_type",
        ),
        (
            "paystack",
            good.clone().without_header("x-paystack-signature"),
            401,
            "missing_signature",
        ),
        (
            "paystack",
            good.clone().header("x-paystack-signature", "zz"),
            401,
            "malformed_signature",
        ),
        ("paystack", forged, 401, "bad_signature"),
        (
            "paystack",
            gateway::paystack_body(PAYSTACK_SECRET, b"[1,2,3]".to_vec()),
            400,
            "unparseable_body",
        ),
        (
            "stripe",
            gateway::stripe_event(
                STRIPE_SECRET,
                "evt_old",
                "charge.succeeded",
                now_unix() - 3600,
            ),
            401,
            "timestamp_outside_tolerance",
        ),
        (
            "svix",
            gateway::standard_webhook(SVIX_SECRET, "msg_x", now_unix(), b"{}")
                .without_header("webhook-id"),
            401,
            "missing_signature",
        ),
    ];
    for (source, delivery, status, code) in &cases {
        let (got, body) = edge.deliver(source, delivery).await?;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (*status, Some(*code)),
            "{source}: {body}"
        );
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }

    // A tampered body with the original signature.
    let mut tampered = good.clone();
    tampered.body = String::from_utf8(tampered.body)?
        .replace("100", "1")
        .into_bytes();
    let (status, _) = edge.deliver("paystack", &tampered).await?;
    assert_eq!(status, 401);

    // Nothing was stored.
    let shards = edge.shards_report().await?;
    assert!(shards.backlog.iter().all(|b| b.head_seq == 0), "{shards:?}");

    // Rejections are counted per source and reason (after the response, so poll briefly).
    let mut stats = edge.stats().await?;
    for _ in 0..50 {
        if stats.sources["paystack"]
            .rejected
            .get("unsupported_media_type")
            == Some(&2)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stats = edge.stats().await?;
    }
    let paystack = &stats.sources["paystack"];
    assert_eq!(paystack.accepted, 0);
    assert_eq!(paystack.rejected["method_not_allowed"], 1);
    assert_eq!(paystack.rejected["unsupported_media_type"], 2);
    assert_eq!(paystack.rejected["bad_signature"], 2);
    assert_eq!(paystack.rejected["payload_too_large"], 1);
    assert_eq!(stats.sources["paystack-ip"].rejected["ip_not_allowed"], 1);
    assert_eq!(stats.sources["(unknown)"].rejected["unknown_source"], 1);
    assert!(
        !stats.sources.contains_key("nope"),
        "unknown names are pooled"
    );
    Ok(())
}

#[tokio::test]
async fn the_allow_list_admits_its_addresses() -> anyhow::Result<()> {
    // Under wrangler dev the client address is loopback; an allow-list naming it admits us.
    let sources = format!(
        r#"[{{"name":"paystack","provider":"paystack","allow_ips":["{PAYSTACK_IP}","127.0.0.1","::1"]}}]"#
    );
    let edge = TestEdge::start(EdgeConfig::standard().var("KEFFI_SOURCES", &sources)).await?;
    let d = gateway::paystack_charge_success(PAYSTACK_SECRET, 5, "ord_5", 100);
    let (status, body) = edge.deliver("paystack", &d).await?;
    assert_eq!(status, 200, "{body}");
    Ok(())
}

#[tokio::test]
async fn ten_concurrent_identical_deliveries_store_one_event() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let d = gateway::paystack_charge_success(PAYSTACK_SECRET, 77, "ord_77", 250_000);
    let sends = (0..10).map(|_| edge.deliver("paystack", &d));
    let results = futures_util::future::join_all(sends).await;
    let mut accepted = 0;
    for r in results {
        let (status, body) = r?;
        assert_eq!(status, 200, "{body}");
        if body["status"] == "accepted" {
            accepted += 1;
        } else {
            assert_eq!(body["status"], "duplicate");
        }
        assert_eq!(body["key"], "paystack:charge.success:77");
    }
    assert_eq!(accepted, 1);
    let stored = edge.pull_all(100).await?;
    assert_eq!(stored.len(), 1);
    let stats = edge.stats().await?;
    assert_eq!(
        (
            stats.sources["paystack"].accepted,
            stats.sources["paystack"].duplicate
        ),
        (1, 9)
    );
    Ok(())
}

#[tokio::test]
async fn a_broken_configuration_answers_503_never_200() -> anyhow::Result<()> {
    // The secret of the only source is missing: the gateway must retry later, not lose it.
    let edge = TestEdge::start(EdgeConfig::standard().secret("KEFFI_SECRET_SVIX", "")).await?;
    let d = gateway::paystack_charge_success(PAYSTACK_SECRET, 9, "ord_9", 100);
    let (status, body) = edge.deliver("paystack", &d).await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("edge_misconfigured")),
        "{body}"
    );
    Ok(())
}
