//! The admin API against the running `keffi-ledger` binary: auth, orders with Idempotency-Key,
//! payments, events and replay, the journal, live status over SSE, and the OpenAPI document.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use keffi_tests::edge::PAYSTACK_SECRET;
use keffi_tests::gateway::{self, Delivery};
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

struct Api {
    ledger: TestLedger,
    http: Client,
    _db: TestDb,
}

impl Api {
    async fn start() -> anyhow::Result<Api> {
        let db = TestDb::sqlite().await?;
        let ledger = TestLedger::with_hooks(&db, &[]).await?;
        Ok(Api {
            ledger,
            http: Client::builder().timeout(Duration::from_secs(20)).build()?,
            _db: db,
        })
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.ledger.url(path))
            .bearer_auth(ADMIN_TOKEN)
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
        let resp = req.send().await?;
        let status = resp.status();
        let body = resp.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, Value)> {
        self.call(self.req(Method::GET, path)).await
    }

    async fn create(&self, body: Value, key: Option<&str>) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self.req(Method::POST, "/v1/orders").json(&body);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        self.call(req).await
    }

    async fn hook(&self, d: &Delivery) -> anyhow::Result<Value> {
        let resp = d
            .post(&self.http, &self.ledger.url("/hooks/paystack"))
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 200, "hook answered {}", resp.status());
        Ok(resp.json().await?)
    }
}

fn order(reference: &str, amount: i64) -> Value {
    json!({"reference": reference, "amount": amount, "currency": "NGN"})
}

fn assert_error(got: &(StatusCode, Value), status: u16, code: &str) {
    assert_eq!(got.0.as_u16(), status, "{:?}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{:?}", got.1);
    assert!(got.1["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn every_admin_route_requires_a_valid_token() -> anyhow::Result<()> {
    let api = Api::start().await?;
    let routes = [
        (Method::POST, "/v1/orders"),
        (Method::GET, "/v1/orders"),
        (Method::GET, "/v1/orders/x"),
        (Method::GET, "/v1/orders/x/events"),
        (Method::GET, "/v1/payments"),
        (Method::GET, "/v1/payments/x"),
        (Method::GET, "/v1/events"),
        (Method::GET, "/v1/events/1"),
        (Method::POST, "/v1/events/1/replay"),
        (Method::POST, "/v1/events/replay"),
        (Method::GET, "/v1/orders/x/timeline"),
        (Method::GET, "/v1/search?q=x"),
        (Method::GET, "/v1/stats/series"),
        (Method::GET, "/v1/journal"),
        (Method::GET, "/v1/balances"),
        (Method::GET, "/v1/shards"),
        (Method::GET, "/v1/reconciler"),
        (Method::GET, "/metrics"),
    ];
    for (method, path) in &routes {
        for token in [None, Some("wrong"), Some("")] {
            let mut req = api.http.request(method.clone(), api.ledger.url(path));
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let got = api.call(req).await?;
            assert_eq!(got.0, 401, "{method} {path} {token:?}");
            assert!(got.1["error"]["code"].as_str().unwrap().ends_with("_token"));
        }
    }
    for token in ["old-admin-token", ADMIN_TOKEN] {
        let resp = api
            .http
            .get(api.ledger.url("/v1/orders"))
            .bearer_auth(token)
            .send()
            .await?;
        assert_eq!(resp.status(), 200);
    }
    Ok(())
}

#[tokio::test]
async fn orders_are_created_read_listed_and_validated() -> anyhow::Result<()> {
    let api = Api::start().await?;
    let (status, created) = api
        .create(json!({"reference": "ord_1", "amount": 500000, "currency": "ngn", "metadata": {"cart": [1, 2]}}), None)
        .await?;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["currency"], "NGN");
    assert_eq!(created["metadata"]["cart"][1], 2);
    assert_eq!(created["payment"]["status"], "pending");

    let (status, got) = api.get("/v1/orders/ord_1").await?;
    assert_eq!((status.as_u16(), &got["amount"]), (200, &json!(500000)));
    assert_error(&api.get("/v1/orders/nope").await?, 404, "not_found");
    assert_error(
        &api.create(order("ord_1", 10), None).await?,
        409,
        "order_exists",
    );

    // Validation: wrong types and values are 422, malformed JSON 400, no JSON type 415.
    for bad in [
        json!({"reference": "ord_2", "amount": "500", "currency": "NGN"}),
        json!({"reference": "ord_2", "amount": 5.5, "currency": "NGN"}),
        json!({"reference": "ord_2", "amount": 0, "currency": "NGN"}),
        json!({"reference": "ord_2", "amount": -1, "currency": "NGN"}),
        json!({"reference": "ord_2", "amount": 1, "currency": "NAIRA"}),
        json!({"reference": "has space", "amount": 1, "currency": "NGN"}),
        json!({"reference": "", "amount": 1, "currency": "NGN"}),
        json!({"reference": "ord_2", "amount": 1, "currency": "NGN", "metadata": [1]}),
        json!({"reference": "ord_2", "amount": 1, "currency": "NGN", "typo": true}),
        json!({"amount": 1, "currency": "NGN"}),
    ] {
        let got = api.create(bad.clone(), None).await?;
        assert_eq!(got.0, 422, "{bad} → {:?}", got.1);
        assert!(got.1["error"]["code"].is_string());
    }
    let malformed = api
        .call(
            api.req(Method::POST, "/v1/orders")
                .header("content-type", "application/json")
                .body("{\"reference\":"),
        )
        .await?;
    assert_error(&malformed, 400, "bad_request");
    let untyped = api
        .call(api.req(Method::POST, "/v1/orders").body("{}"))
        .await?;
    assert_error(&untyped, 415, "unsupported_media_type");

    // Listing: newest first, paginated by cursor, filtered by status.
    for i in 0..5 {
        api.create(order(&format!("page_{i}"), 1000), None).await?;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orders?limit=2&cursor={c}"),
            None => "/v1/orders?limit=2".into(),
        };
        let (status, page) = api.get(&path).await?;
        assert_eq!(status, 200);
        for o in page["data"].as_array().unwrap() {
            seen.push(o["reference"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        6,
        "no order twice"
    );
    let (_, pending) = api.get("/v1/orders?status=pending&limit=200").await?;
    assert_eq!(pending["data"].as_array().unwrap().len(), 6);
    for bad in [
        "/v1/orders?limit=0",
        "/v1/orders?limit=1000",
        "/v1/orders?status=bogus",
    ] {
        assert_eq!(api.get(bad).await?.0, 422, "{bad}");
    }
    for bad in [
        "/v1/orders?limit=x",
        "/v1/orders?cursor=garbage!",
        "/v1/orders?unknown=1",
    ] {
        assert_eq!(api.get(bad).await?.0, 400, "{bad}");
    }
    Ok(())
}

#[tokio::test]
async fn idempotency_keys_replay_refuse_and_serialise() -> anyhow::Result<()> {
    let api = Api::start().await?;
    let first = api
        .create(order("ord_k", 500000), Some("device-key-1"))
        .await?;
    assert_eq!(first.0, 201);
    // Same key, same parameters (another key order): the stored response, marked replayed.
    let resp = api
        .req(Method::POST, "/v1/orders")
        .header("idempotency-key", "device-key-1")
        .json(&json!({"currency": "NGN", "amount": 500000, "reference": "ord_k"}))
        .send()
        .await?;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["idempotent-replayed"], "true");
    let mut replayed: Value = resp.json().await?;
    // The client secret is stored only as a hash, so a replay carries a fresh one; the rest is
    // the stored response.
    let fresh_secret = replayed["client_secret"].take();
    let mut original = first.1.clone();
    let first_secret = original["client_secret"].take();
    assert_eq!(replayed, original);
    assert!(fresh_secret.is_string() && fresh_secret != first_secret);
    // Same key, other parameters: 422.
    assert_error(
        &api.create(order("ord_k", 1), Some("device-key-1")).await?,
        422,
        "idempotency_key_reused",
    );
    // A bad key is refused.
    assert_error(
        &api.create(order("ord_z", 1), Some("has space")).await?,
        400,
        "bad_request",
    );

    // Ten concurrent requests with one key: one order; every answer is the same 201 (the
    // first, or a replay: a retry while the first runs waits for its answer).
    let sends = (0..10).map(|_| api.create(order("ord_c", 700000), Some("tap-tap-tap")));
    let answers = futures_util::future::join_all(sends).await;
    let mut bodies = BTreeSet::new();
    for a in answers {
        let (status, body) = a?;
        match status.as_u16() {
            201 => {
                let mut body = body;
                body["client_secret"].take();
                bodies.insert(body.to_string());
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(bodies.len(), 1, "every 201 is the same response");
    let (_, list) = api.get("/v1/orders?limit=200").await?;
    let count = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["reference"] == "ord_c")
        .count();
    assert_eq!(count, 1);
    Ok(())
}

/// Clients that hang up right after sending `POST /v1/orders` (a phone on a bad link). Each
/// request is written whole on a raw socket and the socket closed at once, or after a moment;
/// the retry with the same key must always get its order, created once, with a client secret
/// that opens it. The key must never stay "in flight" (409 on every retry for 24 hours, then
/// `order_exists` for good).
async fn hang_ups_then_retries(db: TestDb) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let ledger = TestLedger::with_hooks(&db, &[]).await?;
    let api = Api {
        ledger,
        http: Client::builder().timeout(Duration::from_secs(20)).build()?,
        _db: db,
    };
    let port = api
        .ledger
        .url("")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .expect("the ledger's port");
    for i in 0..30 {
        let body = order(&format!("hang_{i}"), 500000).to_string();
        let request = format!(
            "POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
             Content-Type: application/json\r\nIdempotency-Key: phone-{i}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        socket.write_all(request.as_bytes()).await?;
        if i % 3 == 1 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(socket);
    }
    for i in 0..30 {
        let reference = format!("hang_{i}");
        let (status, body) = api
            .create(order(&reference, 500000), Some(&format!("phone-{i}")))
            .await?;
        assert_eq!(status, 201, "retry {i}: {body}");
        assert_eq!(body["reference"], reference.as_str());
        let secret = body["client_secret"].as_str().expect("a client secret");
        let opened = api
            .http
            .get(api.ledger.url(&format!(
                "/client/v1/orders/{reference}?client_secret={secret}"
            )))
            .send()
            .await?;
        assert_eq!(opened.status(), 200, "the secret opens {reference}");
    }
    let (_, list) = api.get("/v1/orders?limit=200").await?;
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(30),
        "one order per key"
    );
    Ok(())
}

#[tokio::test]
async fn clients_that_hang_up_mid_create_complete_on_retry_sqlite() -> anyhow::Result<()> {
    hang_ups_then_retries(TestDb::sqlite().await?).await
}

#[tokio::test]
async fn clients_that_hang_up_mid_create_complete_on_retry_postgres() -> anyhow::Result<()> {
    hang_ups_then_retries(TestDb::postgres().await?).await
}

#[tokio::test]
async fn payments_events_replay_and_the_journal() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.create(order("ord_1", 500000), None).await?;
    let charge = gateway::paystack_charge_success(PAYSTACK_SECRET, 42, "ord_1", 500000);
    api.hook(&charge).await?;
    // A refund larger than the charge: dead, with its reason.
    let refund = gateway::paystack_body(
        PAYSTACK_SECRET,
        serde_json::to_vec(&json!({"event": "refund.processed", "data": {
            "status": "processed", "transaction_reference": "ord_1", "refund_reference": "rf_9",
            "amount": "900000", "currency": "NGN"}}))?,
    );
    api.hook(&refund).await?;

    let (status, payment) = api.get("/v1/payments/ord_1").await?;
    assert_eq!(
        (status.as_u16(), &payment["status"]),
        (200, &json!("success"))
    );
    assert_eq!(payment["fees"], gateway::paystack_local_fee(500000));
    let (_, payments) = api.get("/v1/payments?status=success").await?;
    assert_eq!(payments["data"].as_array().unwrap().len(), 1);
    assert_eq!(api.get("/v1/payments?status=bogus").await?.0, 422);
    assert_error(&api.get("/v1/payments/nope").await?, 404, "not_found");

    let (_, dead) = api.get("/v1/events?status=dead").await?;
    let dead = &dead["data"].as_array().unwrap()[0];
    assert!(
        dead["reason"].as_str().unwrap().contains("exceed"),
        "{dead}"
    );
    let dead_id = dead["id"].as_i64().unwrap();
    let (_, detail) = api.get(&format!("/v1/events/{dead_id}")).await?;
    assert!(detail["body"].as_str().unwrap().contains("rf_9"));

    // Replaying the dead event re-runs the rule: still dead, and says why. Replaying the
    // applied charge changes nothing and says so.
    let (status, replayed) = api
        .call(api.req(Method::POST, &format!("/v1/events/{dead_id}/replay")))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(
        (replayed["before"].as_str(), replayed["after"].as_str()),
        (Some("dead"), Some("dead"))
    );
    let (_, applied) = api.get("/v1/events?status=applied").await?;
    let applied_id = applied["data"][0]["id"].as_i64().unwrap();
    let (_, again) = api
        .call(api.req(Method::POST, &format!("/v1/events/{applied_id}/replay")))
        .await?;
    assert_eq!(again["after"], "applied");
    assert!(again["message"]
        .as_str()
        .unwrap()
        .contains("nothing to replay"));
    assert_error(
        &api.call(api.req(Method::POST, "/v1/events/999999/replay"))
            .await?,
        404,
        "not_found",
    );
    assert_eq!(
        api.call(api.req(Method::POST, "/v1/events/abc/replay"))
            .await?
            .0,
        400
    );

    let (_, journal) = api.get("/v1/journal?reference=ord_1").await?;
    let txs = journal["data"].as_array().unwrap();
    assert_eq!(txs.len(), 1, "the dead refund posted nothing");
    assert_eq!(txs[0]["kind"], "charge");
    let (_, balances) = api.get("/v1/balances").await?;
    let sales = balances["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["account"] == "sales")
        .unwrap();
    assert_eq!(sales["balance"], -500000);
    Ok(())
}

/// Reads SSE events from a streaming response until `want` have arrived or the time runs out.
async fn sse_events(
    resp: &mut reqwest::Response,
    want: usize,
    within: Duration,
) -> Vec<(String, Value)> {
    keffi_tests::sse::read_events(resp, &mut String::new(), want, within).await
}

/// Two replicas on one Postgres: a stream held on one flips as soon as the other applies the
/// payment (the commit's NOTIFY, relayed), not on the stream's one-second re-read. Five
/// samples all under 300 ms: with only the re-read, each would have a 30% chance.
#[tokio::test]
async fn a_stream_on_one_replica_flips_when_another_applies_the_payment() -> anyhow::Result<()> {
    let db = TestDb::postgres().await?;
    let applying = TestLedger::with_hooks(&db, &[]).await?;
    let streaming = TestLedger::with_hooks(&db, &[]).await?;
    let http = Client::builder().timeout(Duration::from_secs(20)).build()?;
    for i in 0..5u64 {
        let reference = format!("ord_relay_{i}");
        let created = http
            .post(streaming.url("/v1/orders"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&order(&reference, 500000))
            .send()
            .await?;
        assert_eq!(created.status(), 201);
        let mut stream = http
            .get(streaming.url(&format!("/v1/orders/{reference}/events")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?;
        let first = sse_events(&mut stream, 1, Duration::from_secs(5)).await;
        assert_eq!(first[0].1["status"], "pending");
        // Let the stream settle into its wait before the payment lands.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let d = gateway::paystack_charge_success(PAYSTACK_SECRET, 900 + i, &reference, 500000);
        let acked = d
            .post(&http, &applying.url("/hooks/paystack"))
            .send()
            .await?;
        assert_eq!(acked.status(), 200);
        let applied = Instant::now();
        let next = sse_events(&mut stream, 1, Duration::from_secs(5)).await;
        assert_eq!(next[0].1["status"], "paid");
        assert!(
            applied.elapsed() < Duration::from_millis(300),
            "sample {i}: the other replica's stream took {:?}",
            applied.elapsed()
        );
    }
    Ok(())
}

#[tokio::test]
async fn live_status_flips_to_paid_and_resumes_after_a_reconnect() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.create(order("ord_live", 500000), None).await?;
    let mut stream = api
        .req(Method::GET, "/v1/orders/ord_live/events")
        .send()
        .await?;
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()?
        .starts_with("text/event-stream"));
    let first = sse_events(&mut stream, 1, Duration::from_secs(5)).await;
    assert_eq!(
        first[0].1["status"], "pending",
        "the current status at once"
    );

    let started = Instant::now();
    api.hook(&gateway::paystack_charge_success(
        PAYSTACK_SECRET,
        7,
        "ord_live",
        500000,
    ))
    .await?;
    let next = sse_events(&mut stream, 1, Duration::from_secs(5)).await;
    assert_eq!(next[0].1["status"], "paid");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let paid_id = next[0].0.clone();
    drop(stream);

    // Reconnect having seen the latest: nothing new is sent.
    let mut resumed = api
        .req(Method::GET, "/v1/orders/ord_live/events")
        .header("last-event-id", &paid_id)
        .send()
        .await?;
    assert!(sse_events(&mut resumed, 1, Duration::from_millis(1500))
        .await
        .is_empty());
    // Reconnect having missed the change: the latest status at once.
    let mut behind = api
        .req(Method::GET, "/v1/orders/ord_live/events")
        .header("last-event-id", &first[0].0)
        .send()
        .await?;
    let caught_up = sse_events(&mut behind, 1, Duration::from_secs(5)).await;
    assert_eq!(
        (caught_up[0].0.as_str(), &caught_up[0].1["status"]),
        (paid_id.as_str(), &json!("paid"))
    );

    assert_error(&api.get("/v1/orders/nope/events").await?, 404, "not_found");
    Ok(())
}

#[tokio::test]
async fn the_openapi_document_matches_the_running_server() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.create(order("ord_doc", 1000), None).await?;
    let spec: Value = reqwest::get(api.ledger.url("/openapi.json"))
        .await?
        .json()
        .await?;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    let documented: BTreeSet<String> = paths
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {p}", m.to_uppercase()))
        })
        .collect();
    let served: BTreeSet<String> = [
        "POST /v1/orders",
        "GET /v1/orders",
        "GET /v1/orders/{reference}",
        "GET /v1/orders/{reference}/events",
        "GET /v1/payments",
        "GET /v1/payments/{reference}",
        "GET /v1/events",
        "GET /v1/events/{id}",
        "POST /v1/events/{id}/replay",
        "POST /v1/events/replay",
        "GET /v1/orders/{reference}/timeline",
        "GET /v1/search",
        "GET /v1/stats/series",
        "GET /v1/journal",
        "GET /v1/balances",
        "GET /v1/shards",
        "GET /v1/reconciler",
        "GET /v1/me",
        "GET /v1/audit",
        "POST /v1/merchants",
        "GET /v1/merchants",
        "GET /v1/merchants/{id}",
        "PATCH /v1/merchants/{id}",
        "POST /v1/merchants/{id}/sources",
        "GET /v1/merchants/{id}/sources",
        "GET /v1/merchants/{id}/sources/{name}",
        "PUT /v1/merchants/{id}/sources/{name}",
        "DELETE /v1/merchants/{id}/sources/{name}",
        "POST /v1/merchants/{id}/sources/{name}/rotate",
        "PUT /v1/merchants/{id}/sources/{name}/split",
        "PUT /v1/merchants/{id}/subaccounts/{source}/{code}",
        "GET /v1/merchants/{id}/subaccounts",
        "GET /v1/held",
        "POST /v1/merchants/{id}/tokens",
        "GET /v1/merchants/{id}/tokens",
        "DELETE /v1/merchants/{id}/tokens/{name}",
        "POST /v1/tokens",
        "GET /v1/tokens",
        "DELETE /v1/tokens/{name}",
        "GET /client/v1/orders/{reference}",
        "GET /client/v1/orders/{reference}/events",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(documented, served, "every route documented, nothing else");

    // Every documented GET answers on the running server with a status the document lists.
    for (path, ops) in paths {
        let Some(op) = ops.get("get") else { continue };
        if path.ends_with("/events") && path.contains("{reference}") {
            continue; // a stream: checked by the SSE test
        }
        let concrete = path.replace("{reference}", "ord_doc").replace("{id}", "1");
        let (status, body) = api.get(&concrete).await?;
        let listed = op["responses"].as_object().unwrap();
        assert!(
            listed.contains_key(status.as_str()),
            "{concrete} answered {status} (documented: {:?}): {body}",
            listed.keys()
        );
        assert!(op["security"].is_array(), "{path} documents its auth");
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    Ok(())
}

/// Two ledger replicas on one Postgres: a stream held on one sees a payment applied by the
/// other (the change is observed from the database, not from process memory).
#[tokio::test]
async fn live_status_works_across_replicas_on_postgres() -> anyhow::Result<()> {
    let db = TestDb::postgres().await?;
    let env = [
        (
            "KEFFI_SOURCES",
            r#"[{"name":"paystack","provider":"paystack"}]"#,
        ),
        ("KEFFI_SECRET_PAYSTACK", PAYSTACK_SECRET),
    ];
    let a = TestLedger::start(&["--database-url", &db.url()], &env).await?;
    let b = TestLedger::start(&["--database-url", &db.url()], &env).await?;
    let http = Client::builder().timeout(Duration::from_secs(20)).build()?;
    let created = http
        .post(a.url("/v1/orders"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&order("ord_rep", 500000))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    let mut stream = http
        .get(a.url("/v1/orders/ord_rep/events"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?;
    assert_eq!(
        sse_events(&mut stream, 1, Duration::from_secs(5)).await[0].1["status"],
        "pending"
    );

    let charge = gateway::paystack_charge_success(PAYSTACK_SECRET, 8, "ord_rep", 500000);
    let mut req = http
        .post(b.url("/hooks/paystack"))
        .body(charge.body.clone());
    for (n, v) in &charge.headers {
        req = req.header(n, v);
    }
    assert_eq!(req.send().await?.status(), 200);
    let started = Instant::now();
    let next = sse_events(&mut stream, 1, Duration::from_secs(5)).await;
    assert_eq!(next[0].1["status"], "paid");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_client_secret_opens_one_order_and_nothing_else() -> anyhow::Result<()> {
    let api = Api::start().await?;
    let (_, a) = api.create(order("ord_a", 500000), Some("k-a")).await?;
    let (_, b) = api.create(order("ord_b", 1000), None).await?;
    let secret_a = a["client_secret"].as_str().unwrap().to_owned();
    let secret_b = b["client_secret"].as_str().unwrap().to_owned();
    assert!(secret_a.starts_with("kcs_"));
    assert!(
        api.get("/v1/orders/ord_a").await?.1["client_secret"].is_null(),
        "shown once"
    );

    let client = |path: &str| api.http.get(api.ledger.url(path));
    let status = |r: reqwest::Response| async move {
        let code = r.status().as_u16();
        (code, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let ok = status(
        client(&format!("/client/v1/orders/ord_a?client_secret={secret_a}"))
            .send()
            .await?,
    )
    .await;
    assert_eq!((ok.0, &ok.1["status"]), (200, &json!("pending")));
    let header = status(
        client("/client/v1/orders/ord_a")
            .header("x-keffi-client-secret", &secret_a)
            .send()
            .await?,
    )
    .await;
    assert_eq!(header.0, 200);

    for (path, code) in [
        (
            "/client/v1/orders/ord_a".to_owned(),
            "missing_client_secret",
        ),
        (
            "/client/v1/orders/ord_a?client_secret=kcs_wrong".to_owned(),
            "invalid_client_secret",
        ),
        (
            format!("/client/v1/orders/ord_a?client_secret={secret_b}"),
            "invalid_client_secret",
        ),
        (
            format!("/client/v1/orders/nope?client_secret={secret_a}"),
            "invalid_client_secret",
        ),
        (
            format!("/client/v1/orders/ord_b/events?client_secret={secret_a}"),
            "invalid_client_secret",
        ),
    ] {
        let got = status(client(&path).send().await?).await;
        assert_eq!(
            (got.0, got.1["error"]["code"].as_str()),
            (401, Some(code)),
            "{path}"
        );
    }
    // The secret is not an admin token.
    let admin = api
        .http
        .get(api.ledger.url("/v1/orders/ord_a"))
        .bearer_auth(&secret_a)
        .send()
        .await?;
    assert_eq!(admin.status(), 401);

    // A replayed creation issues a second secret; both open the order.
    let (_, again) = api.create(order("ord_a", 500000), Some("k-a")).await?;
    let secret_a2 = again["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(secret_a, secret_a2);
    for s in [&secret_a, &secret_a2] {
        let got = status(
            client(&format!("/client/v1/orders/ord_a?client_secret={s}"))
                .send()
                .await?,
        )
        .await;
        assert_eq!(got.0, 200);
    }

    // The secret opens the stream, with CORS for the merchant's page.
    let mut stream = client(&format!(
        "/client/v1/orders/ord_a/events?client_secret={secret_a}"
    ))
    .header("origin", "https://shop.example")
    .send()
    .await?;
    assert_eq!(stream.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        sse_events(&mut stream, 1, Duration::from_secs(5)).await[0].1["status"],
        "pending"
    );

    // The library is served, small and compressed.
    let js = api
        .http
        .get(api.ledger.url("/client/keffi.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await?;
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["content-encoding"], "gzip");
    assert!(js.headers()["content-type"]
        .to_str()?
        .contains("javascript"));
    Ok(())
}
