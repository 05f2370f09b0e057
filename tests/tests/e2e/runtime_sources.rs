//! Sources added, rotated and removed at runtime, through the ledger's API, against the real
//! edge under `wrangler dev` and the ledger binary on Postgres: a platform adds a merchant's
//! Paystack source, the edge takes its deliveries within the stated staleness (the isolate's
//! cache, `KEFFI_SOURCE_CACHE_MS`), the merchant's order is paid and no one else's; a
//! rotation keeps the old secret verifying for its overlap only; a removal makes the source
//! 404. Every step is also tried from the wrong merchant and with the wrong secret, and no
//! answer ever carries a secret.

use std::time::{Duration, Instant};

use keffi_tests::edge::{EdgeConfig, TestEdge, PULL_TOKEN, SOURCE_CACHE_MS};
use keffi_tests::gateway::{self, Delivery};
use keffi_tests::ledger::{TestDb, TestLedger};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const PLATFORM: &str = "plat-s3cret";
const A_ADMIN: &str = "acme-admin-s3cret";
const B_ADMIN: &str = "bolt-admin-s3cret";
const SECRET_A: &str = "sk_test_acme_first";
const SECRET_A2: &str = "sk_test_acme_second";
const SECRET_A3: &str = "sk_test_acme_third";
const SECRET_B: &str = "sk_test_bolt";

/// How long a change may take to show at the edge: its cache, and room for a loaded machine.
fn staleness() -> Duration {
    Duration::from_millis(SOURCE_CACHE_MS) + Duration::from_secs(4)
}

struct Keffi {
    edge: TestEdge,
    ledger: TestLedger,
    http: Client,
}

impl Keffi {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .request(method, self.ledger.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        for secret in [SECRET_A, SECRET_A2, SECRET_A3, SECRET_B] {
            assert!(!text.contains(secret), "{path} shows a secret: {text}");
        }
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Delivers `delivery` to `source` until the edge answers `want`, within the staleness.
    async fn until_answer(
        &self,
        source: &str,
        delivery: &Delivery,
        want: u16,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            let (status, body) = self.edge.deliver(source, delivery).await?;
            if status == want {
                return Ok(started.elapsed());
            }
            anyhow::ensure!(
                started.elapsed() < staleness(),
                "{source} still answers {status} {body} after {:?}, not {want}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn order(&self, token: &str) -> anyhow::Result<Value> {
        Ok(self
            .call(Method::GET, "/v1/orders/ord_1", token, None)
            .await?
            .1)
    }
}

fn charge(secret: &str, id: u64, amount: i64) -> Delivery {
    gateway::paystack_charge_success(secret, id, "ord_1", amount)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_adds_rotates_and_removes_a_merchants_source_at_runtime() -> anyhow::Result<()> {
    let db = TestDb::postgres().await?;
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let tokens =
        format!("ops:admin:{PLATFORM}, a-admin@acme:admin:{A_ADMIN}, b-admin@bolt:admin:{B_ADMIN}");
    let ledger = TestLedger::start(
        &[
            "--database-url",
            &db.url(),
            "--edge-url",
            &edge.url(""),
            "--pull-wait-ms",
            "1000",
        ],
        &[
            ("KEFFI_EDGE_TOKEN", PULL_TOKEN),
            ("KEFFI_ADMIN_TOKENS", &tokens),
        ],
    )
    .await?;
    let k = Keffi {
        edge,
        ledger,
        http: Client::builder().timeout(Duration::from_secs(30)).build()?,
    };
    for (id, amount, token) in [("acme", 500_000, A_ADMIN), ("bolt", 500_000, B_ADMIN)] {
        let (s, m) = k
            .call(
                Method::POST,
                "/v1/merchants",
                PLATFORM,
                Some(json!({"id": id, "name": id})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        // The same reference and amount at both: only the source says whose a charge is.
        let (s, o) = k
            .call(
                Method::POST,
                "/v1/orders",
                token,
                Some(json!({"reference": "ord_1", "amount": amount, "currency": "NGN"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{o}");
    }

    // Before it exists, the source is 404 at the edge (and that absence is cached).
    let first = charge(SECRET_A, 7001, 500_000);
    assert_eq!(k.edge.deliver("acme-pay", &first).await?.0, 404);

    // Bad settings are refused by the ledger with the rule, and claim nothing.
    let src = "/v1/merchants/acme/sources/acme-pay";
    for bad in [
        json!({"provider": "paypal", "secret": SECRET_A}),
        json!({"provider": "paystack", "secret": "  "}),
        json!({"provider": "paystack", "secret": SECRET_A, "allow_ips": ["nope"]}),
        json!({"provider": "standard-webhooks", "secret": "whsec_!!"}),
        json!({"provider": "stripe", "secret": "whsec_x", "tolerance_seconds": 0}),
    ] {
        let (s, e) = k
            .call(Method::PUT, src, PLATFORM, Some(bad.clone()))
            .await?;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {e}");
    }
    let (s, _) = k.call(Method::GET, src, PLATFORM, None).await?;
    assert_eq!(s, StatusCode::NOT_FOUND, "a refused source claims nothing");
    // A merchant's own token cannot add sources, not even its own.
    let put_a = json!({"provider": "paystack", "secret": SECRET_A});
    let (s, e) = k
        .call(Method::PUT, src, A_ADMIN, Some(put_a.clone()))
        .await?;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("platform_only"))
    );
    // A name in wrangler.toml is not the API's to take.
    let (s, e) = k
        .call(
            Method::PUT,
            "/v1/merchants/acme/sources/paystack",
            PLATFORM,
            Some(put_a.clone()),
        )
        .await?;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("source_static")),
        "{e}"
    );
    let (s, _) = k
        .call(
            Method::GET,
            "/v1/merchants/acme/sources/paystack",
            PLATFORM,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::NOT_FOUND, "the static name stays unclaimed");

    // Added: the edge takes signed deliveries within the staleness; the charge is acme's.
    let (s, added) = k
        .call(Method::PUT, src, PLATFORM, Some(put_a.clone()))
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    assert_eq!(
        (added["merchant"].clone(), added["provider"].clone()),
        (json!("acme"), json!("paystack"))
    );
    assert_eq!(added["edge"]["origin"], "runtime");
    assert_eq!(added["edge"]["secrets"].as_array().unwrap().len(), 1);
    let took = k.until_answer("acme-pay", &first, 200).await?;
    println!("added source answered 200 after {took:?}");
    // Signed with bolt's secret: refused.
    let forged = charge(SECRET_B, 7002, 500_000);
    assert_eq!(k.edge.deliver("acme-pay", &forged).await?.0, 401);
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let order = k.order(A_ADMIN).await?;
        if order["status"] == "paid" {
            assert_eq!(order["payment"]["gateway_id"], "7001");
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "acme's ord_1 not paid: {order}\n{}",
            k.ledger.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let bolt = k.order(B_ADMIN).await?;
    assert_ne!(
        bolt["status"], "paid",
        "bolt's ord_1 paid by acme's source: {bolt}"
    );

    // A retried PUT converges (200, same source); from the wrong merchant, nothing moves.
    let (s, again) = k
        .call(Method::PUT, src, PLATFORM, Some(put_a.clone()))
        .await?;
    assert_eq!(s, StatusCode::OK, "{again}");
    let b_src = "/v1/merchants/bolt/sources/acme-pay";
    let put_b = json!({"provider": "paystack", "secret": SECRET_B});
    let (s, e) = k
        .call(Method::PUT, b_src, PLATFORM, Some(put_b.clone()))
        .await?;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("source_taken"))
    );
    let rotate_b = json!({"secret": SECRET_B, "overlap_seconds": 0});
    for (method, path, body) in [
        (Method::GET, b_src.to_owned(), None),
        (Method::DELETE, b_src.to_owned(), None),
        (
            Method::POST,
            format!("{b_src}/rotate"),
            Some(rotate_b.clone()),
        ),
    ] {
        let (s, e) = k.call(method.clone(), &path, PLATFORM, body).await?;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {e}");
    }
    for (method, body) in [
        (Method::GET, None),
        (Method::DELETE, None),
        (Method::PUT, Some(put_b.clone())),
    ] {
        let (s, _) = k.call(method.clone(), src, B_ADMIN, body).await?;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} as bolt's admin");
    }
    let (s, _) = k
        .call(
            Method::POST,
            &format!("{src}/rotate"),
            B_ADMIN,
            Some(rotate_b.clone()),
        )
        .await?;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The forged deliveries above are still refused: bolt's secret opens nothing of acme's.
    assert_eq!(k.edge.deliver("acme-pay", &forged).await?.0, 401);

    // Rotated with an overlap: the new secret verifies within the staleness, the old one
    // still verifies during the overlap.
    let (s, rotated) = k
        .call(
            Method::POST,
            &format!("{src}/rotate"),
            PLATFORM,
            Some(json!({"secret": SECRET_A2, "overlap_seconds": 600})),
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let secrets = rotated["edge"]["secrets"].as_array().unwrap().clone();
    assert_eq!(secrets.len(), 2, "{rotated}");
    assert!(secrets[0]["expires_at_ms"].is_null() && secrets[1]["expires_at_ms"].is_i64());
    k.until_answer("acme-pay", &charge(SECRET_A2, 7003, 1), 200)
        .await?;
    assert_eq!(
        k.edge
            .deliver("acme-pay", &charge(SECRET_A, 7004, 1))
            .await?
            .0,
        200,
        "the old secret verifies during the overlap"
    );
    // Rotated again with no overlap: both earlier secrets stop, the newest verifies.
    let (s, rotated) = k
        .call(
            Method::POST,
            &format!("{src}/rotate"),
            PLATFORM,
            Some(json!({"secret": SECRET_A3, "overlap_seconds": 0})),
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["edge"]["secrets"].as_array().unwrap().len(), 1);
    k.until_answer("acme-pay", &charge(SECRET_A2, 7005, 1), 401)
        .await?;
    assert_eq!(
        k.edge
            .deliver("acme-pay", &charge(SECRET_A, 7006, 1))
            .await?
            .0,
        401
    );
    assert_eq!(
        k.edge
            .deliver("acme-pay", &charge(SECRET_A3, 7007, 1))
            .await?
            .0,
        200
    );

    // At rest: the Durable Objects' storage on disk holds the source, and none of its secrets.
    let stored = files_under(&k.edge.state_dir())?;
    assert!(
        stored.iter().any(|(_, bytes)| contains(bytes, b"acme-pay")),
        "the source's row is not in the edge's storage"
    );
    for (path, bytes) in &stored {
        for secret in [SECRET_A, SECRET_A2, SECRET_A3] {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{} holds a secret in clear",
                path.display()
            );
        }
    }

    // The edge's own view, behind its pull token: static and runtime sources, no secret.
    let list = k
        .edge
        .http()
        .get(k.edge.url("/ledger/sources"))
        .send()
        .await?;
    assert_eq!(
        list.status(),
        401,
        "the edge's source list needs the pull token"
    );
    let list: Value = k
        .edge
        .http()
        .get(k.edge.url("/ledger/sources"))
        .bearer_auth(PULL_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    let text = list.to_string();
    for secret in [SECRET_A, SECRET_A2, SECRET_A3] {
        assert!(!text.contains(secret), "{text}");
    }
    let origins: Vec<(String, String)> = list["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["origin"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        origins.contains(&("acme-pay".into(), "runtime".into())),
        "{list}"
    );
    assert!(
        origins.contains(&("paystack".into(), "static".into())),
        "{list}"
    );
    let stats = k.edge.stats().await?;
    assert!(stats.sources["acme-pay"].accepted >= 4, "{stats:?}");
    let unauthorised = k
        .edge
        .http()
        .put(k.edge.url("/ledger/sources/evil"))
        .json(&json!({"v": 1, "provider": "paystack", "secret": "x"}))
        .send()
        .await?;
    assert_eq!(unauthorised.status(), 401);

    // Removed: 404 within the staleness; what it brought stays acme's; the name stays
    // acme's (bolt still cannot take it), and acme can add it again.
    let (s, removed) = k.call(Method::DELETE, src, PLATFORM, None).await?;
    assert_eq!(s, StatusCode::OK, "{removed}");
    assert!(removed["removed_at_ms"].is_i64(), "{removed}");
    k.until_answer("acme-pay", &charge(SECRET_A3, 7008, 1), 404)
        .await?;
    let (s, again) = k.call(Method::DELETE, src, PLATFORM, None).await?;
    assert_eq!(s, StatusCode::OK, "a retried removal converges: {again}");
    let (_, seen) = k.call(Method::GET, src, PLATFORM, None).await?;
    assert!(
        seen["edge"].is_null() && seen["removed_at_ms"].is_i64(),
        "{seen}"
    );
    let (s, _) = k.call(Method::PUT, b_src, PLATFORM, Some(put_b)).await?;
    assert_eq!(s, StatusCode::CONFLICT, "a removed name is never another's");
    let (s, back) = k.call(Method::PUT, src, PLATFORM, Some(put_a)).await?;
    assert_eq!(s, StatusCode::OK, "{back}");
    assert!(back["removed_at_ms"].is_null(), "{back}");
    k.until_answer("acme-pay", &charge(SECRET_A, 7009, 1), 200)
        .await?;
    let (_, listed) = k
        .call(Method::GET, "/v1/merchants/acme/sources", PLATFORM, None)
        .await?;
    assert_eq!(listed[0]["name"], "acme-pay", "{listed}");
    let (_, bolt_sources) = k
        .call(Method::GET, "/v1/merchants/bolt/sources", PLATFORM, None)
        .await?;
    assert_eq!(bolt_sources, json!([]), "{bolt_sources}");
    Ok(())
}

/// Every file under `dir` (SQLite databases, their journals and WAL files) with its bytes.
fn files_under(dir: &std::path::Path) -> anyhow::Result<Vec<(std::path::PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path)?));
            }
        }
    }
    Ok(out)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Without `KEFFI_SOURCES_KEY` the edge refuses to store a runtime source (503, naming the
/// setting) and every static source keeps working.
#[tokio::test]
async fn without_a_sources_key_only_runtime_sources_stop() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard().without_secret("KEFFI_SOURCES_KEY")).await?;
    let resp = edge
        .http()
        .put(edge.url("/ledger/sources/shop"))
        .bearer_auth(PULL_TOKEN)
        .json(&json!({"v": 1, "provider": "paystack", "secret": SECRET_A}))
        .send()
        .await?;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "edge_misconfigured", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("KEFFI_SOURCES_KEY"),
        "{body}"
    );
    let charge =
        gateway::paystack_charge_success(keffi_tests::edge::PAYSTACK_SECRET, 9001, "ord_1", 100);
    assert_eq!(edge.deliver("paystack", &charge).await?.0, 200);
    assert_eq!(edge.deliver("shop", &charge).await?.0, 404);
    // A PUT over a static name is refused whatever the key.
    let resp = edge
        .http()
        .put(edge.url("/ledger/sources/paystack"))
        .bearer_auth(PULL_TOKEN)
        .json(&json!({"v": 1, "provider": "paystack", "secret": SECRET_A}))
        .send()
        .await?;
    assert_eq!(resp.status(), 409);
    // A write larger than a source can be is refused before it is read.
    let resp = edge
        .http()
        .put(edge.url("/ledger/sources/shop"))
        .bearer_auth(PULL_TOKEN)
        .body(vec![b' '; 64 * 1024])
        .send()
        .await?;
    assert_eq!(resp.status(), 413);
    // The methods a source route takes are listed.
    let resp = edge
        .http()
        .post(edge.url("/ledger/sources/shop"))
        .bearer_auth(PULL_TOKEN)
        .send()
        .await?;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, PUT, DELETE");
    Ok(())
}
