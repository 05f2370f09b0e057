//! Two merchants on one Keffi, through the real edge under `wrangler dev` and the ledger
//! binary on Postgres: a platform adds the merchants and routes each one's source to it, each
//! merchant's gateway pays its own `ord_1` through the edge, and then every admin route (read
//! from the ledger's own OpenAPI document, so a new route is tried too) is called with
//! merchant A's token: it sees and moves only A's, it is refused when it names B, it cannot
//! manage merchants, and B's secrets, ids and signatures open nothing of B's for A.

use std::time::{Duration, Instant};

use keffi_tests::edge::{EdgeConfig, TestEdge, PULL_TOKEN};
use keffi_tests::gateway;
use keffi_tests::ledger::{TestDb, TestLedger};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const SECRET_A: &str = "sk_test_acme";
const SECRET_B: &str = "sk_test_bolt";
const PLATFORM: &str = "plat-s3cret";
const A_ADMIN: &str = "acme-admin-s3cret";
const A_READ: &str = "acme-read-s3cret";
const B_ADMIN: &str = "bolt-admin-s3cret";

struct Keffi {
    edge: TestEdge,
    ledger: TestLedger,
    http: Client,
}

impl Keffi {
    async fn start(db: &TestDb) -> anyhow::Result<Keffi> {
        Keffi::start_with(db, &[], &[]).await
    }

    /// With more edge vars and ledger arguments.
    async fn start_with(
        db: &TestDb,
        edge_vars: &[(&str, &str)],
        ledger_args: &[&str],
    ) -> anyhow::Result<Keffi> {
        let sources = r#"[{"name":"paystack","provider":"paystack"},
                          {"name":"shop-a","provider":"paystack"},
                          {"name":"shop-b","provider":"paystack"}]"#;
        let mut config = EdgeConfig::standard()
            .var("KEFFI_SOURCES", sources)
            .secret("KEFFI_SECRET_SHOP_A", SECRET_A)
            .secret("KEFFI_SECRET_SHOP_B", SECRET_B);
        for (name, value) in edge_vars {
            config = config.var(name, value);
        }
        let edge = TestEdge::start(config).await?;
        let url = db.url();
        let edge_url = edge.url("");
        let tokens = format!(
            "ops:admin:{PLATFORM}, a-admin@acme:admin:{A_ADMIN}, a-read@acme:read:{A_READ}, \
             b-admin@bolt:admin:{B_ADMIN}"
        );
        let mut args = vec![
            "--database-url",
            &url,
            "--edge-url",
            &edge_url,
            "--pull-wait-ms",
            "1000",
        ];
        args.extend_from_slice(ledger_args);
        let ledger = TestLedger::start(
            &args,
            &[
                ("KEFFI_EDGE_TOKEN", PULL_TOKEN),
                ("KEFFI_ADMIN_TOKENS", &tokens),
            ],
        )
        .await?;
        Ok(Keffi {
            edge,
            ledger,
            http: Client::builder().timeout(Duration::from_secs(20)).build()?,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        merchant: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .request(method, self.ledger.url(path))
            .bearer_auth(token);
        if let Some(m) = merchant {
            req = req.header("keffi-merchant", m);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Adds merchant `id` as the platform.
    async fn add_merchant(&self, id: &str, name: &str) -> anyhow::Result<()> {
        let body = json!({"id": id, "name": name});
        let (s, m) = self
            .call(Method::POST, "/v1/merchants", PLATFORM, None, Some(body))
            .await?;
        anyhow::ensure!(s == StatusCode::CREATED, "adding {id}: {s} {m}");
        Ok(())
    }

    async fn get(&self, path: &str, token: &str) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::GET, path, token, None, None).await
    }

    async fn until_paid(&self, token: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let (_, order) = self.get("/v1/orders/ord_1", token).await?;
            if order["status"] == "paid" {
                return Ok(order);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "ord_1 not paid: {order}; ledger log:\n{}",
                self.ledger.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Every `(method, path)` of `/v1` in the ledger's document.
async fn routes(k: &Keffi) -> anyhow::Result<Vec<(Method, String)>> {
    let doc: Value = k
        .http
        .get(k.ledger.url("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for method in ["get", "post", "patch", "put", "delete"] {
            if item.get(method).is_some() {
                out.push((method.to_uppercase().parse()?, path.clone()));
            }
        }
    }
    Ok(out)
}

/// A body each route accepts (so a refusal is the tenant's, not the body's).
fn body_for(method: &Method, path: &str) -> Option<Value> {
    match (method.as_str(), path) {
        ("POST", "/v1/orders") => {
            Some(json!({"reference": "ord_x", "amount": 100, "currency": "NGN"}))
        }
        ("POST", "/v1/events/replay") => Some(json!({"dry_run": true})),
        ("POST", "/v1/merchants") => Some(json!({"id": "zed", "name": "Zed"})),
        ("PATCH", "/v1/merchants/{id}") => Some(json!({"name": "Bolt 2"})),
        ("POST", "/v1/merchants/{id}/sources") => Some(json!({"name": "shop-z"})),
        ("POST", "/v1/merchants/{id}/tokens") => Some(json!({"name": "z", "scope": "read"})),
        ("POST", "/v1/tokens") => Some(json!({"name": "z", "scope": "read"})),
        _ => None,
    }
}

async fn two_merchants_each_see_and_move_only_their_own(db: TestDb) -> anyhow::Result<()> {
    let k = Keffi::start(&db).await?;

    // The platform adds both merchants and routes each one's source to it.
    for (id, name, source) in [
        ("acme", "Acme Foods", "shop-a"),
        ("bolt", "Bolt Grills", "shop-b"),
    ] {
        let (s, m) = k
            .call(
                Method::POST,
                "/v1/merchants",
                PLATFORM,
                None,
                Some(json!({"id": id, "name": name})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        let path = format!("/v1/merchants/{id}/sources");
        let (s, src) = k
            .call(
                Method::POST,
                &path,
                PLATFORM,
                None,
                Some(json!({"name": source})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{src}");
        assert_eq!(src["merchant"], id);
    }
    // Each creates its own ord_1, for its own amount.
    let mut secrets = Vec::new();
    for (token, amount) in [(A_ADMIN, 500_000), (B_ADMIN, 777_777)] {
        let (s, o) = k
            .call(
                Method::POST,
                "/v1/orders",
                token,
                None,
                Some(json!({"reference": "ord_1", "amount": amount, "currency": "NGN"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{o}");
        assert_eq!(
            o["merchant_id"],
            if token == A_ADMIN { "acme" } else { "bolt" }
        );
        secrets.push(o["client_secret"].as_str().unwrap().to_owned());
    }

    // A source of A signed with B's secret is refused at the edge; each signed with its own
    // secret pays its own merchant's order.
    let forged = gateway::paystack_charge_success(SECRET_B, 1001, "ord_1", 500_000);
    assert_eq!(k.edge.deliver("shop-a", &forged).await?.0, 401);
    let charge_a = gateway::paystack_charge_success(SECRET_A, 1001, "ord_1", 500_000);
    let charge_b = gateway::paystack_charge_success(SECRET_B, 86_753_091, "ord_1", 777_777);
    assert_eq!(k.edge.deliver("shop-a", &charge_a).await?.0, 200);
    assert_eq!(k.edge.deliver("shop-b", &charge_b).await?.0, 200);
    let paid_a = k.until_paid(A_READ).await?;
    let paid_b = k.until_paid(B_ADMIN).await?;
    assert_eq!(
        (paid_a["amount"].clone(), paid_b["amount"].clone()),
        (json!(500_000), json!(777_777))
    );
    assert_eq!(paid_a["payment"]["gateway_id"], "1001");
    assert_eq!(paid_b["payment"]["gateway_id"], "86753091");

    // The same refund reference from both merchants' gateways: two events at the edge (its
    // dedupe is per source) and two refunds at the ledger (its dedupe is per merchant).
    for (source, secret) in [("shop-a", SECRET_A), ("shop-b", SECRET_B)] {
        let refund = gateway::paystack_body(
            secret,
            serde_json::to_vec(&json!({"event": "refund.processed", "data": {
                "status": "processed", "transaction_reference": "ord_1",
                "refund_reference": "rf_1", "amount": "100000", "currency": "NGN"}}))?,
        );
        let (s, ack) = k.edge.deliver(source, &refund).await?;
        assert_eq!(
            (s, ack["status"].clone()),
            (200, json!("accepted")),
            "{source}: {ack}"
        );
    }
    for token in [A_READ, B_ADMIN] {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let (_, o) = k.get("/v1/orders/ord_1", token).await?;
            if o["payment"]["refunded"] == 100_000 {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "refund not applied: {o}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // B's event id, for A to try.
    let (_, b_events) = k.get("/v1/events?reference=ord_1", B_ADMIN).await?;
    let b_event = b_events["data"][0]["id"].as_i64().expect("B's event");
    let (s, _) = k.get(&format!("/v1/events/{b_event}"), A_READ).await?;
    assert_eq!(s, StatusCode::NOT_FOUND, "A reads B's event");
    let (s, _) = k
        .call(
            Method::POST,
            &format!("/v1/events/{b_event}/replay"),
            A_ADMIN,
            None,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::NOT_FOUND, "A replays B's event");

    // Every route, from A: naming B is refused; platform routes are refused; what A reads
    // carries nothing of B's (its amount, its gateway id, its event).
    let b_event_id = b_event.to_string();
    for (method, path) in routes(&k).await? {
        let id = if path.starts_with("/v1/merchants") {
            "bolt"
        } else {
            &b_event_id
        };
        let concrete = path.replace("{reference}", "ord_1").replace("{id}", id);
        let body = body_for(&method, &path);
        let (s, named_b) = k
            .call(
                method.clone(),
                &concrete,
                A_ADMIN,
                Some("bolt"),
                body.clone(),
            )
            .await?;
        let platform = path.starts_with("/v1/merchants")
            || path == "/v1/shards"
            || path == "/v1/reconciler"
            || path == "/v1/held";
        if platform {
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {named_b}");
            assert_eq!(named_b["error"]["code"], "platform_only", "{method} {path}");
            continue;
        }
        assert_eq!(
            s,
            StatusCode::FORBIDDEN,
            "{method} {path} naming bolt: {named_b}"
        );
        assert_eq!(
            named_b["error"]["code"], "merchant_forbidden",
            "{method} {path}"
        );
        if method != Method::GET || path.ends_with("}/events") {
            continue;
        }
        let (s, seen) = k.get(&concrete, A_READ).await?;
        let text = seen.to_string();
        // B's amount and B's transaction id (in its payment, its events' keys and bodies).
        for b_mark in ["777777", "86753091"] {
            assert!(
                !text.contains(b_mark),
                "{path} ({s}) shows B's {b_mark}: {text}"
            );
        }
    }

    // The client secrets: each opens its own merchant's ord_1 and nothing else.
    for (secret, amount) in [(&secrets[0], 500_000), (&secrets[1], 777_777)] {
        let url = k
            .ledger
            .url(&format!("/client/v1/orders/ord_1?client_secret={secret}"));
        let seen: Value = k.http.get(url).send().await?.json().await?;
        assert_eq!(seen["amount"], amount, "{seen}");
    }

    // Balances and the audit log are each merchant's own.
    let (_, a_books) = k.get("/v1/balances", A_READ).await?;
    let a_sales: Vec<&Value> = a_books["balances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["account"] == "sales")
        .collect();
    assert_eq!(a_sales.len(), 1, "{a_books}");
    assert_eq!(a_sales[0]["balance"], -500_000);
    let (_, a_audit) = k.get("/v1/audit", A_READ).await?;
    let rows = a_audit["data"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["merchant"] == "acme"), "{a_audit}");

    // The platform sees each merchant by naming it, and the default merchant otherwise.
    let (s, seen) = k
        .call(
            Method::GET,
            "/v1/orders/ord_1",
            PLATFORM,
            Some("bolt"),
            None,
        )
        .await?;
    assert_eq!(
        (s, seen["amount"].clone()),
        (StatusCode::OK, json!(777_777))
    );
    let (s, _) = k.get("/v1/orders/ord_1", PLATFORM).await?;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "the default merchant has no ord_1"
    );
    let (s, e) = k
        .call(Method::GET, "/v1/orders", PLATFORM, Some("nobody"), None)
        .await?;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("unknown_merchant"))
    );
    let (s, e) = k
        .call(Method::GET, "/v1/orders", PLATFORM, Some("Not An Id"), None)
        .await?;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_merchant"))
    );
    // A token the platform issues to A through the API: A's alone, until revoked.
    let (s, issued) = k
        .call(
            Method::POST,
            "/v1/merchants/acme/tokens",
            PLATFORM,
            None,
            Some(json!({"name": "till", "scope": "read"})),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{issued}");
    let till = issued["token"].as_str().unwrap().to_owned();
    let (s, seen) = k.get("/v1/orders/ord_1", &till).await?;
    assert_eq!(
        (s, seen["amount"].clone()),
        (StatusCode::OK, json!(500_000))
    );
    let (s, _) = k
        .call(Method::GET, "/v1/orders/ord_1", &till, Some("bolt"), None)
        .await?;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = k
        .call(
            Method::POST,
            "/v1/merchants/bolt/tokens",
            A_ADMIN,
            None,
            Some(json!({"name": "x", "scope": "admin"})),
        )
        .await?;
    assert_eq!(s, StatusCode::FORBIDDEN, "a merchant cannot issue tokens");
    let (_, listed) = k.get("/v1/merchants/acme/tokens", PLATFORM).await?;
    assert!(
        !listed.to_string().contains(&till),
        "a listing shows no token: {listed}"
    );
    let (s, _) = k
        .call(
            Method::DELETE,
            "/v1/merchants/acme/tokens/till",
            PLATFORM,
            None,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = k.get("/v1/orders/ord_1", &till).await?;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a revoked token opens nothing");

    // A's admins issue and revoke A's own tokens; B's are out of their reach, by name too.
    let (s, b_till) = k
        .call(
            Method::POST,
            "/v1/merchants/bolt/tokens",
            PLATFORM,
            None,
            Some(json!({"name": "till-b", "scope": "read"})),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{b_till}");
    let b_till = b_till["token"].as_str().unwrap().to_owned();
    let (s, e) = k
        .call(
            Method::POST,
            "/v1/tokens",
            A_READ,
            None,
            Some(json!({"name": "mine", "scope": "read"})),
        )
        .await?;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("insufficient_scope")),
        "a reader issues no tokens"
    );
    let (s, own) = k
        .call(
            Method::POST,
            "/v1/tokens",
            A_ADMIN,
            None,
            Some(json!({"name": "till-b", "scope": "operate"})),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "B's token name is free at A: {own}");
    assert_eq!(
        (own["merchant"].clone(), own["scope"].clone()),
        (json!("acme"), json!("operate"))
    );
    let teammate = own["token"].as_str().unwrap().to_owned();
    let (s, seen) = k.get("/v1/orders/ord_1", &teammate).await?;
    assert_eq!(
        (s, seen["amount"].clone()),
        (StatusCode::OK, json!(500_000))
    );
    let (s, listed) = k.get("/v1/tokens", A_ADMIN).await?;
    assert_eq!(s, StatusCode::OK, "{listed}");
    let names: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["merchant"].as_str().unwrap(), t["name"].as_str().unwrap()))
        .collect();
    assert!(names.iter().all(|(m, _)| *m == "acme"), "{listed}");
    assert!(names.contains(&("acme", "till-b")), "{listed}");
    assert!(!listed.to_string().contains(&teammate), "{listed}");
    // Revoking `till-b` as A revokes A's, not B's.
    let (s, revoked) = k
        .call(Method::DELETE, "/v1/tokens/till-b", A_ADMIN, None, None)
        .await?;
    assert_eq!(s, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["merchant"], "acme");
    let (s, _) = k.get("/v1/orders/ord_1", &teammate).await?;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "A's revoked token opens nothing"
    );
    let (s, seen) = k.get("/v1/orders/ord_1", &b_till).await?;
    assert_eq!(
        (s, seen["amount"].clone()),
        (StatusCode::OK, json!(777_777)),
        "B's token of the same name still works"
    );
    let (s, e) = k
        .call(
            Method::DELETE,
            "/v1/tokens/till-b",
            A_ADMIN,
            Some("bolt"),
            None,
        )
        .await?;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("merchant_forbidden"))
    );

    let (_, me) = k.get("/v1/me", A_READ).await?;
    assert_eq!(
        (me["merchant"].clone(), me["platform"].clone()),
        (json!("acme"), json!(false))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_merchants_each_see_and_move_only_their_own_postgres() -> anyhow::Result<()> {
    two_merchants_each_see_and_move_only_their_own(TestDb::postgres().await?).await
}

/// One platform account for both merchants, through the real edge: the platform makes its
/// source split and maps acme's subaccount; acme's charge pays acme's order and its refund
/// (which names only the reference) follows it; bolt's charge, its subaccount not mapped yet,
/// is held in no one's inbox with the reason, and is placed with bolt once the platform maps
/// it. Merchants see none of it: `/v1/held` and the mapping routes are the platform's.
async fn a_platform_account_pays_each_merchant_by_its_subaccount(db: TestDb) -> anyhow::Result<()> {
    let k = Keffi::start(&db).await?;
    for (id, name) in [
        ("platco", "The platform"),
        ("acme", "Acme Foods"),
        ("bolt", "Bolt Grills"),
    ] {
        k.add_merchant(id, name).await?;
    }
    let (s, src) = k
        .call(
            Method::POST,
            "/v1/merchants/platco/sources",
            PLATFORM,
            None,
            Some(json!({"name": "paystack"})),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{src}");
    let split = "/v1/merchants/platco/sources/paystack/split";
    let (s, src) = k
        .call(
            Method::PUT,
            split,
            A_ADMIN,
            None,
            Some(json!({"metadata_key": null})),
        )
        .await?;
    assert_eq!(
        (s, src["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("platform_only"))
    );
    let (s, src) = k
        .call(
            Method::PUT,
            split,
            PLATFORM,
            None,
            Some(json!({"metadata_key": "keffi_merchant"})),
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{src}");
    assert!(src["split_at_ms"].is_i64(), "{src}");
    let (s, e) = k
        .call(
            Method::PUT,
            split,
            PLATFORM,
            None,
            Some(json!({"metadata_key": "other"})),
        )
        .await?;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("split_fixed"))
    );
    let (s, m) = k
        .call(
            Method::PUT,
            "/v1/merchants/acme/subaccounts/paystack/ACCT_acme",
            PLATFORM,
            None,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let (s, e) = k
        .call(
            Method::PUT,
            "/v1/merchants/bolt/subaccounts/paystack/ACCT_acme",
            PLATFORM,
            None,
            None,
        )
        .await?;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("subaccount_taken"))
    );

    for (token, reference, amount) in [(A_ADMIN, "ord_p1", 500_000), (B_ADMIN, "ord_p2", 300_000)] {
        let (s, o) = k
            .call(
                Method::POST,
                "/v1/orders",
                token,
                None,
                Some(json!({"reference": reference, "amount": amount, "currency": "NGN"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{o}");
    }
    assert_eq!(
        k.edge
            .deliver(
                "paystack",
                &gateway::paystack_charge_to(
                    keffi_tests::edge::PAYSTACK_SECRET,
                    7001,
                    "ord_p1",
                    500_000,
                    Some("ACCT_acme")
                )
            )
            .await?
            .0,
        200
    );
    assert_eq!(
        k.edge
            .deliver(
                "paystack",
                &gateway::paystack_charge_to(
                    keffi_tests::edge::PAYSTACK_SECRET,
                    7002,
                    "ord_p2",
                    300_000,
                    Some("ACCT_bolt")
                )
            )
            .await?
            .0,
        200
    );
    let refund = gateway::paystack_body(
        keffi_tests::edge::PAYSTACK_SECRET,
        serde_json::to_vec(&json!({"event": "refund.processed", "data": {
            "status": "processed", "transaction_reference": "ord_p1",
            "refund_reference": "rf_p1", "amount": "100000", "currency": "NGN"}}))?,
    );
    assert_eq!(k.edge.deliver("paystack", &refund).await?.0, 200);

    let until = |path: &'static str, token: &'static str, done: fn(&Value) -> bool| {
        let k = &k;
        async move {
            let deadline = Instant::now() + Duration::from_secs(45);
            loop {
                let (_, v) = k.get(path, token).await?;
                if done(&v) {
                    return anyhow::Ok(v);
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "{path}: {v}; ledger log:\n{}",
                    k.ledger.log_tail(30)
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let a = until("/v1/orders/ord_p1", A_READ, |o| {
        o["payment"]["refunded"] == 100_000
    })
    .await?;
    assert_eq!(a["status"], "partially_refunded", "{a}");
    let held = until("/v1/held", PLATFORM, |h| {
        h["data"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await?;
    assert_eq!(held["data"].as_array().unwrap().len(), 1, "{held}");
    assert_eq!(held["data"][0]["reference"], "ord_p2");
    assert!(
        held["data"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("ACCT_bolt"),
        "{held}"
    );
    let (_, b) = k.get("/v1/orders/ord_p2", B_ADMIN).await?;
    assert_eq!(b["status"], "pending", "{b}");
    for token in [A_ADMIN, B_ADMIN] {
        let (s, e) = k.get("/v1/held", token).await?;
        assert_eq!(
            (s, e["error"]["code"].clone()),
            (StatusCode::FORBIDDEN, json!("platform_only"))
        );
    }
    let (_, owner) = k
        .call(Method::GET, "/v1/events", PLATFORM, Some("platco"), None)
        .await?;
    assert_eq!(
        owner["data"],
        json!([]),
        "the account's owner holds none of its merchants' events"
    );

    let (s, m) = k
        .call(
            Method::PUT,
            "/v1/merchants/bolt/subaccounts/paystack/ACCT_bolt",
            PLATFORM,
            None,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let b = until("/v1/orders/ord_p2", B_ADMIN, |o| o["status"] == "paid").await?;
    assert_eq!(b["payment"]["gateway_id"], "7002");
    let (_, held) = k.get("/v1/held?state=all", PLATFORM).await?;
    assert_eq!(held["data"][0]["merchant"], "bolt", "{held}");
    let (_, waiting) = k.get("/v1/held", PLATFORM).await?;
    assert_eq!(waiting["data"], json!([]));
    let (_, subs) = k.get("/v1/merchants/bolt/subaccounts", PLATFORM).await?;
    assert_eq!(subs[0]["code"], "ACCT_bolt", "{subs}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_account_pays_each_merchant_by_its_subaccount_postgres() -> anyhow::Result<()> {
    a_platform_account_pays_each_merchant_by_its_subaccount(TestDb::postgres().await?).await
}

/// The reconciler asks each merchant's own gateway account, through the edge, which alone
/// holds the keys: acme's payment with acme's runtime source's key, bolt's with the platform
/// account's (bolt is a subaccount of it), and a platform transaction for bolt that carries
/// cora's reference never pays cora's order. No webhook is ever sent: only the verify answers
/// move the orders.
async fn every_merchants_payments_are_reconciled_with_its_own_account(
    db: TestDb,
) -> anyhow::Result<()> {
    use keffi_tests::paystack::{Behaviour, FakePaystack};
    const ACME_KEY: &str = "sk_test_acme_own_account";
    let gateway =
        FakePaystack::start_accounts(&[keffi_tests::edge::PAYSTACK_SECRET, ACME_KEY]).await?;
    let api = gateway.url();
    let k = Keffi::start_with(
        &db,
        &[("KEFFI_PAYSTACK_API_BASE", &api)],
        &[
            "--reconcile-via-edge",
            "--reconcile-interval",
            "300ms",
            "--reconcile-min-age",
            "0s",
        ],
    )
    .await?;
    let call = |method: Method, path: String, body: Option<Value>| {
        let k = &k;
        async move {
            let (s, v) = k.call(method, &path, PLATFORM, None, body).await?;
            anyhow::ensure!(s.is_success(), "{path}: {s} {v}");
            anyhow::Ok(v)
        }
    };
    for id in ["platco", "acme", "bolt", "cora"] {
        k.add_merchant(id, id).await?;
    }
    call(
        Method::PUT,
        "/v1/merchants/acme/sources/acme-own".into(),
        Some(json!({"provider": "paystack", "secret": ACME_KEY})),
    )
    .await?;
    call(
        Method::POST,
        "/v1/merchants/platco/sources".into(),
        Some(json!({"name": "paystack"})),
    )
    .await?;
    call(
        Method::PUT,
        "/v1/merchants/platco/sources/paystack/split".into(),
        Some(json!({"metadata_key": null})),
    )
    .await?;
    for m in ["bolt", "cora"] {
        call(
            Method::PUT,
            format!("/v1/merchants/{m}/subaccounts/paystack/ACCT_{m}"),
            None,
        )
        .await?;
    }
    gateway.set_for(1, "ord_r1", FakePaystack::success(9001, 500_000));
    gateway.set_for(
        0,
        "ord_r2",
        Behaviour::SettledTo {
            id: 9002,
            amount: 300_000,
            subaccount: "ACCT_bolt".into(),
        },
    );
    gateway.set_for(
        0,
        "ord_r3",
        Behaviour::SettledTo {
            id: 9003,
            amount: 300_000,
            subaccount: "ACCT_bolt".into(),
        },
    );
    for (m, reference, amount) in [
        ("acme", "ord_r1", 500_000),
        ("bolt", "ord_r2", 300_000),
        ("cora", "ord_r3", 300_000),
    ] {
        let (s, o) = k
            .call(
                Method::POST,
                "/v1/orders",
                PLATFORM,
                Some(m),
                Some(json!({"reference": reference, "amount": amount, "currency": "NGN"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{o}");
    }
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (_, a) = k
            .call(
                Method::GET,
                "/v1/orders/ord_r1",
                PLATFORM,
                Some("acme"),
                None,
            )
            .await?;
        let (_, b) = k
            .call(
                Method::GET,
                "/v1/orders/ord_r2",
                PLATFORM,
                Some("bolt"),
                None,
            )
            .await?;
        let asked_r3 = gateway.requests().iter().any(|r| r.reference == "ord_r3");
        if a["status"] == "paid" && b["status"] == "paid" && asked_r3 {
            assert_eq!(a["payment"]["gateway_id"], "9001");
            assert_eq!(b["payment"]["gateway_id"], "9002");
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not reconciled: {a} {b}; ledger log:\n{}",
            k.ledger.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, c) = k
        .call(
            Method::GET,
            "/v1/orders/ord_r3",
            PLATFORM,
            Some("cora"),
            None,
        )
        .await?;
    assert_eq!(
        c["status"], "pending",
        "bolt's transaction paid cora's order: {c}"
    );
    // The edge's verify route: the ledger's only (pull token), Paystack sources only, and a
    // reference it must be given.
    call(
        Method::PUT,
        "/v1/merchants/acme/sources/acme-stripe".into(),
        Some(json!({"provider": "stripe", "secret": "whsec_acme_stripe"})),
    )
    .await?;
    for (path, token, status) in [
        (
            "/ledger/sources/paystack/verify?reference=ord_r2",
            None,
            401,
        ),
        (
            "/ledger/sources/paystack/verify?reference=ord_r2",
            Some("wrong"),
            401,
        ),
        (
            "/ledger/sources/acme-stripe/verify?reference=ord_r2",
            Some(PULL_TOKEN),
            422,
        ),
        (
            "/ledger/sources/nope/verify?reference=ord_r2",
            Some(PULL_TOKEN),
            404,
        ),
        ("/ledger/sources/paystack/verify", Some(PULL_TOKEN), 400),
        (
            "/ledger/sources/paystack/verify?reference=ord_r2",
            Some(PULL_TOKEN),
            200,
        ),
    ] {
        let mut req = k.http.get(k.edge.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        assert_eq!(resp.status().as_u16(), status, "{path} with {token:?}");
        let body: Value = resp.json().await?;
        if status != 200 {
            assert!(body["error"]["code"].is_string(), "{path}: {body}");
        } else {
            assert_eq!(body["data"]["subaccount"]["subaccount_code"], "ACCT_bolt");
        }
    }
    let seen = gateway.requests();
    for (reference, account) in [("ord_r1", 1), ("ord_r2", 0), ("ord_r3", 0)] {
        let asked: Vec<Option<usize>> = seen
            .iter()
            .filter(|r| r.reference == reference)
            .map(|r| r.account)
            .collect();
        assert!(
            !asked.is_empty() && asked.iter().all(|a| *a == Some(account)),
            "{reference} asked with {asked:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_merchants_payments_are_reconciled_with_its_own_account_postgres(
) -> anyhow::Result<()> {
    every_merchants_payments_are_reconciled_with_its_own_account(TestDb::postgres().await?).await
}
