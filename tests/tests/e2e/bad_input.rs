//! Hostile and broken requests (the corpus in `tests/corpus/hostile.json`) against every public
//! route of the real edge and ledger: each gets a clear 4xx JSON error, nothing is stored or
//! applied, and both services stay healthy. Then signed nonsense — a genuine signature over
//! absurd figures — is stored (the gateway signed it) but never applied.

use keffi_shared::scheme::{paystack, standard_webhooks, stripe};
use keffi_tests::edge::{EdgeConfig, TestEdge, PAYSTACK_SECRET, STRIPE_SECRET, SVIX_SECRET};
use keffi_tests::gateway::{self, now_unix};
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use keffi_tests::raw_http;
use keffi_tests::workspace;
use serde_json::Value;

/// Bodies above this go through `raw_http`: a server may answer them before reading them.
const EARLY_ANSWER_BYTES: usize = 64 * 1024;

fn body_of(case: &Value) -> Vec<u8> {
    if let Some(hex) = case["body_hex"].as_str() {
        return (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
    }
    if let Some(rep) = case.get("body_repeat").filter(|r| r.is_object()) {
        let text = rep["text"].as_str().unwrap();
        return text
            .repeat(rep["count"].as_u64().unwrap() as usize)
            .into_bytes();
    }
    case["body"]
        .as_str()
        .unwrap_or_default()
        .as_bytes()
        .to_vec()
}

fn signature_headers(kind: &str, body: &[u8]) -> Vec<(String, String)> {
    let now = now_unix();
    let one = |n: &str, v: String| vec![(n.to_owned(), v)];
    match kind {
        "paystack" => one(
            "x-paystack-signature",
            paystack::sign(PAYSTACK_SECRET.as_bytes(), body),
        ),
        "other-secret" => one(
            "x-paystack-signature",
            paystack::sign(b"sk_test_someone_else", body),
        ),
        "stripe-old" => one(
            "stripe-signature",
            stripe::sign(STRIPE_SECRET.as_bytes(), now - 3600, body),
        ),
        "stripe-future" => one(
            "stripe-signature",
            stripe::sign(STRIPE_SECRET.as_bytes(), now + 3600, body),
        ),
        "svix-old" => {
            let key = standard_webhooks::parse_secret(SVIX_SECRET).unwrap();
            let t = now - 3600;
            vec![
                ("webhook-id".into(), "msg_replayed".into()),
                ("webhook-timestamp".into(), t.to_string()),
                (
                    "webhook-signature".into(),
                    standard_webhooks::sign(key.expose(), "msg_replayed", t, body),
                ),
            ]
        }
        other => panic!("unknown signing `{other}`"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_errors_and_change_nothing() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let db = TestDb::sqlite().await?;
    let ledger = TestLedger::with_hooks(&db, &[]).await?;
    let corpus: Vec<Value> = serde_json::from_slice(&std::fs::read(
        workspace::root().join("tests/corpus/hostile.json"),
    )?)?;
    assert!(corpus.len() >= 60, "the corpus is all there");
    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    for case in &corpus {
        let name = case["name"].as_str().unwrap();
        let base = match case["target"].as_str().unwrap() {
            "edge" => edge.url(""),
            _ => ledger.url(""),
        };
        let body = body_of(case);
        let method = case["method"].as_str().unwrap();
        let path = case["path"].as_str().unwrap();
        let mut headers: Vec<(String, String)> = case["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        if let Some(kind) = case["sign"].as_str() {
            headers.extend(signature_headers(kind, &body));
        }
        if let Some(extra) = case["extra_signature"].as_str() {
            headers.push(("x-paystack-signature".into(), extra.into()));
        }
        match case["auth"].as_str() {
            Some("admin") => {
                headers.push(("authorization".into(), format!("Bearer {ADMIN_TOKEN}")))
            }
            Some(token) => headers.push(("authorization".into(), format!("Bearer {token}"))),
            None => {}
        }
        let (status, json) = if body.len() > EARLY_ANSWER_BYTES {
            // The server may refuse an oversize body before it has all of it and close the
            // connection: read that answer while still writing (see raw_http).
            let resp = raw_http::send(&base, method, path, &headers, &body).await?;
            (
                resp.status,
                serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
            )
        } else {
            let mut req = http
                .request(
                    reqwest::Method::from_bytes(method.as_bytes())?,
                    format!("{base}{path}"),
                )
                .body(body.clone());
            for (n, v) in &headers {
                req = req.header(n, v);
            }
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or(Value::Null))
        };
        let expect = case["expect"].as_u64().unwrap() as u16;
        let clear = json["error"]["code"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
            && json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty());
        if status != expect || !clear {
            failures.push(format!("{name}: got {status} {json}, expected {expect}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Nothing stored at the edge, nothing applied at the ledger, both healthy.
    let shards = edge.shards_report().await?;
    assert!(shards.backlog.iter().all(|b| b.head_seq == 0), "{shards:?}");
    for path in ["/v1/events", "/v1/orders", "/v1/journal"] {
        let page: Value = http
            .get(ledger.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(
            page["data"].as_array().map(Vec::len),
            Some(0),
            "{path}: {page}"
        );
    }
    assert_eq!(reqwest::get(edge.url("/healthz")).await?.status(), 200);
    assert_eq!(reqwest::get(ledger.url("/readyz")).await?.status(), 200);
    let stats = edge.stats().await?;
    let rejected: u64 = stats
        .sources
        .values()
        .flat_map(|s| s.rejected.values())
        .sum();
    assert!(rejected >= 25, "rejections are counted: {stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_nonsense_is_stored_but_never_applied() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let db = TestDb::sqlite().await?;
    let ledger = TestLedger::start(
        &["--database-url", &db.url(), "--edge-url", &edge.url("")],
        &[("KEFFI_EDGE_TOKEN", keffi_tests::edge::PULL_TOKEN)],
    )
    .await?;
    let nonsense = [
        r#"{"event":"charge.success","data":{"id":1,"reference":"r1","amount":-500,"currency":"NGN","status":"success"}}"#,
        r#"{"event":"charge.success","data":{"id":2,"reference":"r2","amount":0,"currency":"NGN","status":"success"}}"#,
        r#"{"event":"charge.success","data":{"id":3,"reference":"r3","amount":99999999999999999999999,"currency":"NGN","status":"success"}}"#,
        r#"{"event":"charge.success","data":{"id":4,"reference":"r4","amount":500,"currency":"XX","status":"success"}}"#,
        r#"{"event":"charge.success","data":{"id":5,"reference":"<script>alert(1)</script>","amount":"lots","currency":"NGN","status":"success"}}"#,
        r#"{"event":"charge.success","data":{"id":6,"reference":"r6'; DROP TABLE payments;--","amount":500,"currency":"NGN","status":"success","fees":900}}"#,
        r#"{"event":"never.heard.of.it","data":{"id":7}}"#,
        r#"{"event":"refund.processed","data":{"transaction_reference":"nope","amount":"-1","currency":"NGN","status":"processed","refund_reference":"x"}}"#,
    ];
    for body in nonsense {
        let d = gateway::paystack_body(PAYSTACK_SECRET, body.as_bytes().to_vec());
        let (status, answer) = edge.deliver("paystack", &d).await?;
        assert_eq!(status, 200, "a genuinely signed event is stored: {answer}");
    }
    keffi_tests::audit::drained(&edge, std::time::Duration::from_secs(30)).await?;
    let http = reqwest::Client::new();
    let events: Value = http
        .get(ledger.url("/v1/events"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    let events = events["data"].as_array().unwrap();
    assert_eq!(events.len(), nonsense.len());
    for e in events {
        let status = e["status"].as_str().unwrap();
        assert!(["dead", "ignored", "parked"].contains(&status), "{e}");
        assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{e}");
    }
    let journal: Value = http
        .get(ledger.url("/v1/journal"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        journal["data"].as_array().map(Vec::len),
        Some(0),
        "nothing applied: {journal}"
    );
    assert_eq!(reqwest::get(ledger.url("/readyz")).await?.status(), 200);
    Ok(())
}
