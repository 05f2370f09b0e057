//! Scoped admin tokens and the audit log, against the running `keffi-ledger` binary with three
//! named tokens (`read`, `operate`, `admin`): every admin route × every scope answers as
//! decided, with the route list read from the ledger's own OpenAPI document (so a new route
//! without a decision here fails); operator actions, refused ones included, land in the audit
//! log with the token's name; and the database refuses to change that log (SQLite, Postgres).

use std::collections::BTreeSet;
use std::time::Duration;

use keffi_tests::edge::PAYSTACK_SECRET;
use keffi_tests::gateway;
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

/// A scope, in its order: each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Read,
    Operate,
    Admin,
}

/// The three tokens the ledger is started with: name, scope, token.
const TOKENS: [(&str, Scope, &str); 3] = [
    ("viewer", Scope::Read, "view-s3cret"),
    ("oncall", Scope::Operate, "op-s3cret"),
    ("boss", Scope::Admin, "boss-s3cret"),
];

/// The scope every admin route needs: the decision this test holds the router to. A route in
/// the OpenAPI document that is missing here fails the test, as does one here that is gone.
const NEEDED: &[(&str, &str, Scope)] = &[
    ("GET", "/v1/orders", Scope::Read),
    ("POST", "/v1/orders", Scope::Admin),
    ("GET", "/v1/orders/{reference}", Scope::Read),
    ("GET", "/v1/orders/{reference}/events", Scope::Read),
    ("GET", "/v1/orders/{reference}/timeline", Scope::Read),
    ("GET", "/v1/payments", Scope::Read),
    ("GET", "/v1/payments/{reference}", Scope::Read),
    ("GET", "/v1/events", Scope::Read),
    ("GET", "/v1/events/{id}", Scope::Read),
    ("POST", "/v1/events/{id}/replay", Scope::Operate),
    // A dry run too: it is the first half of the action, and it is audited with it.
    ("POST", "/v1/events/replay", Scope::Operate),
    ("GET", "/v1/search", Scope::Read),
    ("GET", "/v1/stats/series", Scope::Read),
    ("GET", "/v1/journal", Scope::Read),
    ("GET", "/v1/balances", Scope::Read),
    ("GET", "/v1/shards", Scope::Read),
    ("GET", "/v1/reconciler", Scope::Read),
    ("GET", "/v1/me", Scope::Read),
    ("GET", "/v1/audit", Scope::Read),
    // The acting merchant's own tokens, for its admins.
    ("GET", "/v1/tokens", Scope::Admin),
    ("POST", "/v1/tokens", Scope::Admin),
    // After the POST above: the token the admin issued there is the one it revokes.
    ("DELETE", "/v1/tokens/{name}", Scope::Admin),
    // The platform's own (these tokens are all platform tokens: no `@merchant`).
    ("GET", "/v1/merchants", Scope::Read),
    ("POST", "/v1/merchants", Scope::Admin),
    ("GET", "/v1/merchants/{id}", Scope::Read),
    ("PATCH", "/v1/merchants/{id}", Scope::Admin),
    ("GET", "/v1/merchants/{id}/sources", Scope::Read),
    ("POST", "/v1/merchants/{id}/sources", Scope::Admin),
    // Past the scope check these need an edge, which this ledger has not (see `NEEDS_EDGE`).
    ("GET", "/v1/merchants/{id}/sources/{name}", Scope::Read),
    ("PUT", "/v1/merchants/{id}/sources/{name}", Scope::Admin),
    (
        "POST",
        "/v1/merchants/{id}/sources/{name}/rotate",
        Scope::Admin,
    ),
    ("DELETE", "/v1/merchants/{id}/sources/{name}", Scope::Admin),
    // On the source the POST above added (see `SPLIT`), then a subaccount of it.
    ("PUT", SPLIT, Scope::Admin),
    (
        "PUT",
        "/v1/merchants/{id}/subaccounts/{source}/{code}",
        Scope::Admin,
    ),
    ("GET", "/v1/merchants/{id}/subaccounts", Scope::Read),
    ("GET", "/v1/held", Scope::Read),
    ("GET", "/v1/merchants/{id}/tokens", Scope::Read),
    ("POST", "/v1/merchants/{id}/tokens", Scope::Admin),
    // After the POST above: the token the admin issued there is the one it revokes.
    ("DELETE", "/v1/merchants/{id}/tokens/{name}", Scope::Admin),
    // Not in the document (it is not JSON), behind the same tokens.
    ("GET", "/metrics", Scope::Read),
];

/// Routes about a source at the edge: this ledger has no edge and no such source, so a token
/// that passes the scope check is answered `not_found` or `edge_not_configured`, never a
/// refusal of its own (the runtime-sources test runs them against a real edge).
const NEEDS_EDGE: &str = "/v1/merchants/{id}/sources/{name}";

/// Splitting a source needs no edge: it is tried on the source the admin added above.
const SPLIT: &str = "/v1/merchants/{id}/sources/{name}/split";

fn token_list() -> String {
    TOKENS
        .iter()
        .map(|(name, scope, token)| format!("{name}:{}:{token}", scope_name(*scope)))
        .collect::<Vec<_>>()
        .join(",")
}

fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Read => "read",
        Scope::Operate => "operate",
        Scope::Admin => "admin",
    }
}

struct Api {
    ledger: TestLedger,
    http: Client,
}

impl Api {
    /// A ledger on `db` taking signed Paystack webhooks, with the three named tokens.
    async fn start(db: &TestDb) -> anyhow::Result<Api> {
        let url = db.url();
        let tokens = token_list();
        let ledger = TestLedger::start(
            &["--database-url", &url],
            &[
                (
                    "KEFFI_SOURCES",
                    r#"[{"name":"paystack","provider":"paystack"}]"#,
                ),
                ("KEFFI_SECRET_PAYSTACK", PAYSTACK_SECRET),
                ("KEFFI_ADMIN_TOKENS", &tokens),
            ],
        )
        .await?;
        Ok(Api {
            ledger,
            http: Client::builder().timeout(Duration::from_secs(20)).build()?,
        })
    }

    fn req(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let req = self.http.request(method, self.ledger.url(path));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
        let resp = req.send().await?;
        let status = resp.status();
        let body = resp.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn create(&self, token: &str, reference: &str) -> anyhow::Result<(StatusCode, Value)> {
        self.call(
            self.req(Method::POST, "/v1/orders", Some(token))
                .header("idempotency-key", format!("key-{reference}"))
                .json(&json!({"reference": reference, "amount": 250000, "currency": "NGN"})),
        )
        .await
    }

    /// A dead event to replay: a charge whose amount is not a number. Returns its id.
    async fn dead_event(&self) -> anyhow::Result<i64> {
        let dead = gateway::paystack_body(
            PAYSTACK_SECRET,
            serde_json::to_vec(&json!({"event": "charge.success", "data": {
                "id": 9, "reference": "ord_bad", "amount": "lots", "currency": "NGN", "status": "success"}}))?,
        );
        let resp = dead
            .post(&self.http, &self.ledger.url("/hooks/paystack"))
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 200, "hook answered {}", resp.status());
        let (_, events) = self
            .call(self.req(
                Method::GET,
                "/v1/events?status=dead",
                Some(ADMIN_TOKEN_BOSS),
            ))
            .await?;
        events["data"][0]["id"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("no dead event: {events}"))
    }

    async fn audit(&self, query: &str) -> anyhow::Result<Vec<Value>> {
        let (status, page) = self
            .call(self.req(
                Method::GET,
                &format!("/v1/audit{query}"),
                Some(ADMIN_TOKEN_VIEWER),
            ))
            .await?;
        anyhow::ensure!(status == 200, "GET /v1/audit answered {status}: {page}");
        Ok(page["data"].as_array().cloned().unwrap_or_default())
    }
}

const ADMIN_TOKEN_BOSS: &str = TOKENS[2].2;
const ADMIN_TOKEN_OPS: &str = TOKENS[1].2;
const ADMIN_TOKEN_VIEWER: &str = TOKENS[0].2;

#[tokio::test]
async fn every_route_answers_every_scope_as_decided() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let api = Api::start(&db).await?;
    assert_eq!(api.create(ADMIN_TOKEN_BOSS, "ord_seed").await?.0, 201);
    let dead_id = api.dead_event().await?;

    // The route list is the ledger's: every `/v1` operation in its OpenAPI document.
    let doc: Value = api
        .http
        .get(api.ledger.url("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for (method, op) in item.as_object().into_iter().flatten() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            // The document states the scope the router guards the route with, and the 403
            // a lesser token gets wherever one can (above `read`, which every token holds).
            let method = method.to_uppercase();
            let needed = NEEDED
                .iter()
                .find(|(m, p, _)| *m == method && p == path)
                .map(|(_, _, s)| *s);
            if let Some(needed) = needed {
                let name = format!("{needed:?}").to_lowercase();
                assert_eq!(op["x-keffi-scope"], name.as_str(), "{method} {path}");
                let forbidden = op["responses"]["403"]["description"]
                    .as_str()
                    .unwrap_or_default();
                assert_eq!(
                    forbidden.contains("insufficient_scope"),
                    needed != Scope::Read,
                    "{method} {path}: a scope's 403 documented where it cannot happen, or missing"
                );
            }
            documented.insert((method, path.clone()));
        }
    }
    let decided: BTreeSet<(String, String)> = NEEDED
        .iter()
        .filter(|(_, path, _)| path.starts_with("/v1/"))
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let undecided: Vec<_> = documented.difference(&decided).collect();
    let gone: Vec<_> = decided.difference(&documented).collect();
    assert!(
        undecided.is_empty(),
        "routes without a scope decision in this test: {undecided:?}"
    );
    assert!(
        gone.is_empty(),
        "decided routes the ledger no longer has: {gone:?}"
    );

    let mut table = Vec::new();
    for (method, path, needed) in NEEDED {
        let id = if path.starts_with("/v1/merchants/") {
            "default".to_owned()
        } else {
            dead_id.to_string()
        };
        let issued_as = if path.starts_with("/v1/tokens/") {
            "own-by-boss"
        } else {
            "t-by-boss"
        };
        let issued_as = if *path == SPLIT {
            "src-by-boss"
        } else {
            issued_as
        };
        let mut concrete = path
            .replace("{reference}", "ord_seed")
            .replace("{id}", &id)
            .replace("{name}", issued_as)
            .replace("{source}", "src-by-boss")
            .replace("{code}", "ACCT_seed");
        if *path == "/v1/search" {
            concrete.push_str("?q=ord_seed");
        }
        let method: Method = method.parse()?;
        for token in [None, Some(TOKENS[0]), Some(TOKENS[1]), Some(TOKENS[2])] {
            let mut req = api.req(method.clone(), &concrete, token.map(|t| t.2));
            if method == Method::POST && *path == "/v1/orders" {
                let reference = format!("ord_by_{}", token.map_or("nobody", |t| t.0));
                req = req.json(&json!({"reference": reference, "amount": 1000, "currency": "NGN"}));
            }
            if method == Method::POST && *path == "/v1/events/replay" {
                req = req.json(&json!({"status": "dead", "dry_run": true}));
            }
            let by = token.map_or("nobody", |t| t.0);
            match (method.as_str(), *path) {
                ("POST", "/v1/merchants") => {
                    req = req.json(&json!({"id": format!("m-by-{by}"), "name": by}));
                }
                ("PATCH", "/v1/merchants/{id}") => req = req.json(&json!({"name": by})),
                ("POST", "/v1/merchants/{id}/sources") => {
                    req = req.json(&json!({"name": format!("src-by-{by}")}));
                }
                ("PUT", "/v1/merchants/{id}/sources/{name}") => {
                    req = req.json(&json!({"provider": "paystack", "secret": "sk_test_x"}));
                }
                ("POST", "/v1/merchants/{id}/sources/{name}/rotate") => {
                    req = req.json(&json!({"secret": "sk_test_y"}));
                }
                ("PUT", SPLIT) => req = req.json(&json!({"metadata_key": "keffi_merchant"})),
                ("POST", "/v1/merchants/{id}/tokens") => {
                    req = req.json(&json!({"name": format!("t-by-{by}"), "scope": "read"}));
                }
                ("POST", "/v1/tokens") => {
                    req = req.json(&json!({"name": format!("own-by-{by}"), "scope": "read"}));
                }
                _ => {}
            }
            // Headers are enough (a status stream would not end): the body only if it is JSON.
            let resp = req.send().await?;
            let status = resp.status();
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let json = resp
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            let body: Value = if json {
                resp.json().await?
            } else {
                Value::Null
            };
            let who = token.map_or("no token", |t| t.0);
            match token {
                None => {
                    assert_eq!(status, 401, "{method} {path} without a token: {body}");
                    assert_eq!(challenge.as_deref(), Some("Bearer"));
                }
                Some((_, scope, _))
                    if scope >= *needed && path.starts_with(NEEDS_EDGE) && *path != SPLIT =>
                {
                    let code = body["error"]["code"].as_str().unwrap_or_default();
                    assert!(
                        ["not_found", "edge_not_configured"].contains(&code),
                        "{method} {path} as {who}: {status} {body}"
                    );
                }
                Some((_, scope, _)) if scope >= *needed => {
                    assert!(
                        status.is_success(),
                        "{method} {path} as {who}: {status} {body}"
                    );
                }
                Some(_) => {
                    assert_eq!(status, 403, "{method} {path} as {who}: {body}");
                    assert_eq!(body["error"]["code"], "insufficient_scope", "{body}");
                    assert!(
                        body["error"]["message"]
                            .as_str()
                            .is_some_and(|m| m.contains(who)),
                        "{body}"
                    );
                    assert_eq!(
                        challenge.as_deref(),
                        Some("Bearer error=\"insufficient_scope\"")
                    );
                }
            }
            table.push(format!("{method} {path} {who} → {}", status.as_u16()));
        }
    }
    println!("{}", table.join("\n"));

    // Each token says who it is.
    for (name, scope, token) in TOKENS {
        let (status, me) = api
            .call(api.req(Method::GET, "/v1/me", Some(token)))
            .await?;
        assert_eq!(status, 200);
        assert_eq!(me["name"], name);
        assert_eq!(me["scope"], scope_name(scope));
        let scopes: Vec<&str> = [Scope::Read, Scope::Operate, Scope::Admin]
            .into_iter()
            .filter(|s| *s <= scope)
            .map(scope_name)
            .collect();
        assert_eq!(me["scopes"], json!(scopes));
    }
    Ok(())
}

#[tokio::test]
async fn operator_actions_and_refusals_are_audited_with_the_tokens_name() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let api = Api::start(&db).await?;
    let dead_id = api.dead_event().await?;
    let replay = format!("/v1/events/{dead_id}/replay");

    // In order: a refused replay, a replay, a refused creation, a creation and its retry, an
    // unknown token's replay (not recorded: it names no one), reads (not actions).
    let (status, _) = api
        .call(api.req(Method::POST, &replay, Some(ADMIN_TOKEN_VIEWER)))
        .await?;
    assert_eq!(status, 403);
    let (status, _) = api
        .call(api.req(Method::POST, &replay, Some(ADMIN_TOKEN_OPS)))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(api.create(ADMIN_TOKEN_OPS, "ord_audit").await?.0, 403);
    assert_eq!(api.create(ADMIN_TOKEN_BOSS, "ord_audit").await?.0, 201);
    assert_eq!(api.create(ADMIN_TOKEN_BOSS, "ord_audit").await?.0, 201);
    let (status, _) = api
        .call(api.req(Method::POST, &replay, Some("not-a-token")))
        .await?;
    assert_eq!(status, 401);
    for token in [ADMIN_TOKEN_VIEWER, ADMIN_TOKEN_BOSS] {
        api.call(api.req(Method::GET, "/v1/orders", Some(token)))
            .await?;
    }
    // Bulk replay's dry run: refused for a viewer, counted for on-call; both recorded.
    let bulk = json!({"status": "dead", "provider": "paystack", "dry_run": true});
    for (token, want) in [(ADMIN_TOKEN_VIEWER, 403), (ADMIN_TOKEN_OPS, 200)] {
        let (status, body) = api
            .call(
                api.req(Method::POST, "/v1/events/replay", Some(token))
                    .json(&bulk),
            )
            .await?;
        assert_eq!(status, want, "{body}");
    }

    let rows = api.audit("").await?;
    let seen: Vec<(String, String, String, String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["token_name"].as_str().unwrap_or_default().to_owned(),
                r["token_scope"].as_str().unwrap_or_default().to_owned(),
                r["action"].as_str().unwrap_or_default().to_owned(),
                r["target"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let row = |name: &str, scope: &str, action: &str, target: &str, status: u64| {
        (
            name.into(),
            scope.into(),
            action.into(),
            target.into(),
            status,
        )
    };
    let bulk_rows: Vec<_> = rows.iter().take(2).collect();
    assert_eq!(
        seen[..2],
        [
            row(
                "oncall",
                "operate",
                "POST /v1/events/replay",
                "/v1/events/replay",
                200
            ),
            row(
                "viewer",
                "read",
                "POST /v1/events/replay",
                "/v1/events/replay",
                403
            ),
        ],
        "{bulk_rows:#?}"
    );
    for r in bulk_rows {
        assert_eq!(
            r["detail"],
            json!({"status": "dead", "provider": "paystack", "dry_run": true})
        );
    }
    let rows = rows[2..].to_vec();
    let seen = seen[2..].to_vec();
    assert_eq!(
        seen,
        vec![
            row("boss", "admin", "POST /v1/orders", "/v1/orders", 201),
            row("boss", "admin", "POST /v1/orders", "/v1/orders", 201),
            row("oncall", "operate", "POST /v1/orders", "/v1/orders", 403),
            row(
                "oncall",
                "operate",
                "POST /v1/events/{id}/replay",
                &replay,
                200
            ),
            row(
                "viewer",
                "read",
                "POST /v1/events/{id}/replay",
                &replay,
                403
            ),
        ],
        "newest first: {rows:#?}"
    );
    // What each was about: the order's reference (the refused attempt's too), the key, and the
    // retry answered from the key's stored answer.
    assert_eq!(rows[0]["detail"]["reference"], "ord_audit");
    assert_eq!(rows[0]["detail"]["replayed"], true);
    assert_eq!(rows[1]["detail"]["idempotency_key"], "key-ord_audit");
    assert_eq!(rows[1]["detail"]["amount"], 250000);
    assert!(rows[1]["detail"].get("replayed").is_none());
    assert_eq!(rows[2]["detail"]["reference"], "ord_audit");
    assert!(rows[3]["detail"].is_null());
    let ids: Vec<i64> = rows.iter().filter_map(|r| r["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert!(rows
        .iter()
        .all(|r| r["at_ms"].as_i64().is_some_and(|t| t > 0)));

    // Keyset paging and the token filter.
    let first = api.audit("?limit=2").await?;
    assert_eq!(first.len(), 2);
    let (_, page) = api
        .call(api.req(Method::GET, "/v1/audit?limit=2", Some(ADMIN_TOKEN_VIEWER)))
        .await?;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let second = api.audit(&format!("?limit=2&cursor={cursor}")).await?;
    assert_eq!(second[0]["id"], rows[0]["id"], "the third newest");
    let oncall = api.audit("?token=oncall").await?;
    assert_eq!(oncall.len(), 3);
    assert!(oncall.iter().all(|r| r["token_name"] == "oncall"));
    let (status, _) = api
        .call(api.req(
            Method::GET,
            "/v1/audit?token=no%20such",
            Some(ADMIN_TOKEN_VIEWER),
        ))
        .await?;
    assert_eq!(status, 422);
    Ok(())
}

/// UPDATE and DELETE (and TRUNCATE on Postgres) on `audit_log` are refused by the database
/// itself, and the rows are still there.
#[tokio::test]
async fn the_database_refuses_to_change_the_audit_log() -> anyhow::Result<()> {
    for db in [TestDb::sqlite().await?, TestDb::postgres().await?] {
        let api = Api::start(&db).await?;
        assert_eq!(api.create(ADMIN_TOKEN_BOSS, "ord_kept").await?.0, 201);
        assert_eq!(api.create(ADMIN_TOKEN_VIEWER, "ord_tried").await?.0, 403);
        let mut statements = vec![
            "UPDATE audit_log SET token_name = 'someone-else'",
            "UPDATE audit_log SET status = 200 WHERE status = 403",
            "DELETE FROM audit_log",
            "DELETE FROM audit_log WHERE token_name = 'viewer'",
        ];
        let refusals: Vec<String> = match &db {
            TestDb::Sqlite(_) => {
                let pool = sqlx::SqlitePool::connect(&db.url()).await?;
                let mut out = Vec::new();
                for sql in &statements {
                    out.push(match sqlx::query(sql).execute(&pool).await {
                        Ok(done) => format!("{sql}: changed {} rows", done.rows_affected()),
                        Err(e) => e.to_string(),
                    });
                }
                pool.close().await;
                out
            }
            TestDb::Postgres(_) => {
                statements.push("TRUNCATE audit_log");
                let pool = sqlx::PgPool::connect(&db.url()).await?;
                let mut out = Vec::new();
                for sql in &statements {
                    out.push(match sqlx::query(sql).execute(&pool).await {
                        Ok(done) => format!("{sql}: changed {} rows", done.rows_affected()),
                        Err(e) => e.to_string(),
                    });
                }
                pool.close().await;
                out
            }
        };
        for r in &refusals {
            assert!(r.contains("the audit log is append-only"), "{r}");
        }
        let rows = api.audit("").await?;
        let kept: Vec<(&str, u64)> = rows
            .iter()
            .map(|r| {
                (
                    r["token_name"].as_str().unwrap_or_default(),
                    r["status"].as_u64().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(kept, [("viewer", 403), ("boss", 201)]);
    }
    Ok(())
}

/// Bare tokens (entries without a name and scope) are full admins named by position.
#[tokio::test]
async fn bare_tokens_are_full_admins() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let ledger = TestLedger::with_hooks(&db, &[]).await?;
    let http = Client::new();
    for (token, name) in [("old-admin-token", "admin-1"), (ADMIN_TOKEN, "admin-2")] {
        let me: Value = http
            .get(ledger.url("/v1/me"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(
            me,
            json!({"name": name, "scope": "admin", "scopes": ["read", "operate", "admin"],
                   "merchant": "default", "platform": true})
        );
    }
    Ok(())
}

/// A token list the ledger cannot read stops it at start, naming the setting and the entry
/// but never repeating the entry (it may be a secret written in the wrong place).
#[tokio::test]
async fn a_malformed_token_list_fails_at_start_without_echoing_it() -> anyhow::Result<()> {
    let bin = keffi_tests::ledger::binary()?;
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("l.db").display());
    for list in [
        "viewer:reader:s3cret-one",
        "ok:read:t1,s3cret-two:only",
        "a:read:s3cret-same,b:admin:s3cret-same",
    ] {
        let out = std::process::Command::new(&bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &db])
            .env("KEFFI_ADMIN_TOKENS", list)
            .output()?;
        assert!(!out.status.success(), "{list}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.contains("KEFFI_ADMIN_TOKENS") && last.contains("entr"),
            "{stderr}"
        );
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }
    Ok(())
}
