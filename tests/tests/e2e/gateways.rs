//! Flutterwave moves money, through the real edge under `wrangler dev` and the ledger binary
//! on Postgres: a `charge.completed` signed with the source's secret hash pays an order, in minor units from Flutterwave's naira (decimals included), and
//! the payment, its fee and its balance are Flutterwave's; the retry is a duplicate, a forged
//! hash is refused at the edge, and a failed charge fails its order. An order is opened for the
//! ledger's default gateway or the one it names, and a Stripe PaymentIntent pays its order.

use std::time::{Duration, Instant};

use keffi_tests::edge::{EdgeConfig, TestEdge, PULL_TOKEN};
use keffi_tests::gateway;
use keffi_tests::ledger::{TestDb, TestLedger};
use serde_json::{json, Value};

const HASH: &str = "flw-e2e-secret-hash";
const ADMIN: &str = "gw-admin-s3cret";

async fn until(
    http: &reqwest::Client,
    ledger: &TestLedger,
    reference: &str,
    status: &str,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let o: Value = http
            .get(ledger.url(&format!("/v1/orders/{reference}")))
            .bearer_auth(ADMIN)
            .send()
            .await?
            .json()
            .await?;
        if o["status"] == status {
            return Ok(o);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{reference} not {status}: {o}; ledger log:\n{}",
            ledger.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flutterwave_charge_pays_an_order_through_the_edge() -> anyhow::Result<()> {
    let config = EdgeConfig::standard()
        .var(
            "KEFFI_SOURCES",
            r#"[{"name":"flutterwave","provider":"flutterwave"},{"name":"stripe","provider":"stripe"}]"#,
        )
        .secret("KEFFI_SECRET_FLUTTERWAVE", HASH);
    let edge = TestEdge::start(config).await?;
    let db = TestDb::postgres().await?;
    let url = db.url();
    let edge_url = edge.url("");
    let ledger = TestLedger::start(
        &[
            "--database-url",
            &url,
            "--edge-url",
            &edge_url,
            "--pull-wait-ms",
            "1000",
            "--default-gateway",
            "flutterwave",
        ],
        &[
            ("KEFFI_EDGE_TOKEN", PULL_TOKEN),
            ("KEFFI_ADMIN_TOKENS", ADMIN),
        ],
    )
    .await?;
    let http = reqwest::Client::new();
    for (reference, amount) in [("ord_fw", 250_050), ("ord_fw_fail", 10_000)] {
        let resp = http
            .post(ledger.url("/v1/orders"))
            .bearer_auth(ADMIN)
            .json(&json!({"reference": reference, "amount": amount, "currency": "NGN"}))
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 201, "{}", resp.text().await?);
    }

    // The order's gateway: the ledger's default, or the one it names (one that moves money).
    let (_, o): (u16, Value) = {
        let r = http
            .get(ledger.url("/v1/orders/ord_fw"))
            .bearer_auth(ADMIN)
            .send()
            .await?;
        (r.status().as_u16(), r.json().await?)
    };
    assert_eq!(o["payment"]["gateway"], "flutterwave", "{o}");
    for (gateway, status) in [("paystack", 201), ("stripe", 201), ("nope", 422)] {
        let resp = http
            .post(ledger.url("/v1/orders"))
            .bearer_auth(ADMIN)
            .json(&json!({"reference": format!("ord_{gateway}"), "amount": 1000, "currency": "NGN", "gateway": gateway}))
            .send()
            .await?;
        assert_eq!(resp.status().as_u16(), status, "{gateway}");
        let body: Value = resp.json().await?;
        if status == 201 {
            assert_eq!(body["payment"]["gateway"], gateway, "{body}");
        } else {
            assert_eq!(body["error"]["code"], "invalid_request", "{body}");
        }
    }

    let forged = gateway::flutterwave_charge(
        "not-the-hash",
        77,
        "ord_fw",
        "2500.5",
        "35.01",
        "successful",
    );
    assert_eq!(edge.deliver("flutterwave", &forged).await?.0, 401);
    let paid = gateway::flutterwave_charge(HASH, 77, "ord_fw", "2500.5", "35.01", "successful");
    let (s, ack) = edge.deliver("flutterwave", &paid).await?;
    assert_eq!(
        (s, ack["status"].clone()),
        (200, json!("accepted")),
        "{ack}"
    );
    let (s, ack) = edge.deliver("flutterwave", &paid).await?;
    assert_eq!(
        (s, ack["status"].clone()),
        (200, json!("duplicate")),
        "{ack}"
    );
    let failed = gateway::flutterwave_charge(HASH, 78, "ord_fw_fail", "100", "0", "failed");
    assert_eq!(edge.deliver("flutterwave", &failed).await?.0, 200);

    let o = until(&http, &ledger, "ord_fw", "paid").await?;
    let p = &o["payment"];
    assert_eq!(
        (
            p["gateway"].clone(),
            p["gateway_id"].clone(),
            p["amount"].clone(),
            p["fees"].clone()
        ),
        (
            json!("flutterwave"),
            json!("77"),
            json!(250_050),
            json!(3_501)
        ),
        "{o}"
    );
    until(&http, &ledger, "ord_fw_fail", "failed").await?;

    // Stripe pays the order opened for it above (`ord_stripe`, 1000 cents), by its
    // PaymentIntent's `metadata.keffi_reference`.
    let t = gateway::now_unix();
    let stripe = gateway::stripe_payment_intent(
        keffi_tests::edge::STRIPE_SECRET,
        "evt_e2e_1",
        "payment_intent.succeeded",
        "pi_e2e_1",
        "ord_stripe",
        1000,
        "ngn",
        t,
    );
    let (s, ack) = edge.deliver("stripe", &stripe).await?;
    assert_eq!(s, 200, "{ack}");
    let o = until(&http, &ledger, "ord_stripe", "paid").await?;
    assert_eq!(
        (
            o["payment"]["gateway"].clone(),
            o["payment"]["gateway_id"].clone()
        ),
        (json!("stripe"), json!("pi_e2e_1")),
        "{o}"
    );
    let balances: Value = http
        .get(ledger.url("/v1/balances"))
        .bearer_auth(ADMIN)
        .send()
        .await?
        .json()
        .await?;
    let of = |account: &str| {
        balances["balances"]
            .as_array()
            .and_then(|b| b.iter().find(|x| x["account"] == account))
            .map(|x| x["balance"].clone())
    };
    assert_eq!(
        of("merchant_balance:flutterwave"),
        Some(json!(246_549)),
        "{balances}"
    );
    assert_eq!(of("fees:flutterwave"), Some(json!(3_501)), "{balances}");
    Ok(())
}
