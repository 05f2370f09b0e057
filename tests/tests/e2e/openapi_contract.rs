//! The ledger's OpenAPI document held to the running ledger, by tools that know nothing of
//! it but the document:
//!
//! - schemathesis (pinned in `tests/openapi/requirements.txt`) generates valid and invalid
//!   requests for every route from `/openapi.json` and checks every answer with all of its
//!   checks: each status declared, each body and header as its schema says, each request the
//!   schema allows accepted and each it forbids refused, auth enforced, SSE events as
//!   declared, no 5xx;
//! - openapi-python-client generates a client from the document; it must type-check with
//!   `mypy --strict` together with a program written against it, and that program must work
//!   against the ledger.
//!
//! The tools live in the virtualenv `scripts/lib/schemathesis.sh` creates (`ensure_schemathesis`,
//! run by `scripts/test`). Without it these tests fail, naming the command: a contract that
//! is never checked is not a contract.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use keffi_tests::edge::{EdgeConfig, TestEdge, PAYSTACK_SECRET, PULL_TOKEN};
use keffi_tests::gateway::{self, Delivery};
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use keffi_tests::workspace;
use reqwest::Client;
use serde_json::{json, Value};

/// Examples per operation and phase; `KEFFI_SCHEMATHESIS_EXAMPLES` raises it.
const EXAMPLES: u32 = 50;
/// Fixed, so a run is repeatable; `KEFFI_SCHEMATHESIS_SEED` picks another (schemathesis prints
/// the seed of every run, to replay a failure).
const SEED: &str = "20261126";
const TOOL_TIMEOUT: Duration = Duration::from_secs(240);

const CREATE_VENV: &str = "scripts/lib/schemathesis.sh";
/// The runtime source the fuzzed ledger's source routes act on.
const SEEDED_SOURCE: &str = "seeded";

/// The tools' virtualenv, checked to match the pinned lock.
async fn venv() -> anyhow::Result<PathBuf> {
    let venv = std::env::var_os("KEFFI_OPENAPI_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace::root().join("target/openapi-venv"));
    let tool = venv.join("bin/schemathesis");
    if !tool.exists() {
        bail!(
            "{} is missing: the OpenAPI contract test needs schemathesis. Create its \
             virtualenv with `{CREATE_VENV}` (scripts/test does, via ensure_schemathesis).",
            tool.display()
        );
    }
    // The stamp ensure_schemathesis writes: the SHA-256 of the lock it installed.
    let lock = workspace::root().join("tests/openapi/requirements.txt");
    let lock = lock.to_string_lossy();
    let digest = "import hashlib, sys; \
                  print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())";
    let want = run(&venv, "python", &["-c", digest, &lock], &workspace::root()).await?;
    let stamp =
        std::fs::read_to_string(venv.join(".keffi-requirements-sha256")).unwrap_or_default();
    if stamp.trim() != want.trim() {
        bail!(
            "{} was not made from tests/openapi/requirements.txt as it is now: run \
             `{CREATE_VENV}` again",
            venv.display()
        );
    }
    Ok(venv)
}

/// Runs a tool of the virtualenv, with its `bin` first on `PATH`; fails with everything the
/// tool printed unless it succeeded.
async fn run(venv: &Path, program: &str, args: &[&str], cwd: &Path) -> anyhow::Result<String> {
    run_with(venv, program, args, cwd, &[]).await
}

async fn run_with(
    venv: &Path,
    program: &str,
    args: &[&str],
    cwd: &Path,
    env: &[(&str, &Path)],
) -> anyhow::Result<String> {
    let bin = venv.join("bin");
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let mut cmd = tokio::process::Command::new(bin.join(program));
    cmd.args(args)
        .current_dir(cwd)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(TOOL_TIMEOUT, cmd.output())
        .await
        .with_context(|| format!("{program} ran longer than {TOOL_TIMEOUT:?}"))??;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success(),
        "{program} {} failed ({}):\n{text}",
        args.join(" "),
        out.status
    );
    Ok(text)
}

struct Seeded {
    /// An order and the client secret that opens it, for the browser's routes.
    client_reference: &'static str,
    client_secret: String,
}

/// Gives every route real objects to answer with: orders pending, paid, disputed and in
/// review; a payment with no order (a reference no order could have); an applied, a dead and
/// a parked event; journal transactions.
async fn seed(ledger: &TestLedger, http: &Client) -> anyhow::Result<Seeded> {
    let mut secrets = Vec::new();
    for (reference, amount) in [
        ("ord_paid", 500_000),
        ("ord_pending", 1_000),
        ("ord_disputed", 250_000),
        ("ord_review", 300_000),
    ] {
        let resp = http
            .post(ledger.url("/v1/orders"))
            .bearer_auth(ADMIN_TOKEN)
            .json(
                &json!({"reference": reference, "amount": amount, "currency": "NGN",
                          "metadata": {"table": 4}}),
            )
            .send()
            .await?;
        ensure!(
            resp.status() == 201,
            "seeding {reference}: {}",
            resp.status()
        );
        let body: Value = resp.json().await?;
        secrets.push(
            body["client_secret"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let signed = |body: Value| gateway::paystack_body(PAYSTACK_SECRET, body.to_string().into());
    let deliveries: Vec<Delivery> = vec![
        gateway::paystack_charge_success(PAYSTACK_SECRET, 1001, "ord_paid", 500_000),
        gateway::paystack_charge_success(PAYSTACK_SECRET, 1002, "ord_disputed", 250_000),
        signed(json!({"event": "charge.dispute.create", "data": {
            "id": 77, "refund_amount": 250_000, "currency": "NGN",
            "status": "awaiting-merchant-feedback", "category": "fraud",
            "transaction": {"id": 1002, "reference": "ord_disputed", "amount": 250_000,
                            "currency": "NGN"}}})),
        // Paid more than the order asks: the order needs review.
        gateway::paystack_charge_success(PAYSTACK_SECRET, 1003, "ord_review", 310_000),
        // A charge for a reference no order has (nor could: a space and a slash).
        gateway::paystack_charge_success(PAYSTACK_SECRET, 1004, "PSK gw/only", 7_000),
        // More than the charge holds: dead.
        signed(json!({"event": "refund.processed", "data": {
            "status": "processed", "transaction_reference": "ord_paid",
            "refund_reference": "rf_9", "amount": "900000", "currency": "NGN"}})),
        // Before its charge: parked.
        signed(json!({"event": "refund.processed", "data": {
            "status": "processed", "transaction_reference": "ord_later",
            "refund_reference": "rf_10", "amount": "100", "currency": "NGN"}})),
    ];
    for d in &deliveries {
        let resp = d.post(http, &ledger.url("/hooks/paystack")).send().await?;
        ensure!(resp.status() == 200, "seeding a webhook: {}", resp.status());
    }
    let get = |path: String| {
        let req = http.get(ledger.url(&path)).bearer_auth(ADMIN_TOKEN);
        async move { anyhow::Ok(req.send().await?.json::<Value>().await?) }
    };
    for (status, want) in [("applied", 5), ("dead", 1), ("parked", 1)] {
        let page = get(format!("/v1/events?status={status}")).await?;
        ensure!(
            page["data"].as_array().map(Vec::len) == Some(want),
            "{want} {status} event(s) expected: {page}"
        );
    }
    for (reference, status) in [
        ("ord_paid", "paid"),
        ("ord_disputed", "disputed"),
        ("ord_review", "needs_review"),
    ] {
        let order = get(format!("/v1/orders/{reference}")).await?;
        ensure!(order["status"] == status, "{reference}: {order}");
    }
    Ok(Seeded {
        client_reference: "ord_paid",
        client_secret: secrets.swap_remove(0),
    })
}

async fn seeded_ledger() -> anyhow::Result<(TestDb, TestLedger, Client, Seeded)> {
    seeded_ledger_with(&[]).await
}

async fn seeded_ledger_with(args: &[&str]) -> anyhow::Result<(TestDb, TestLedger, Client, Seeded)> {
    let db = TestDb::sqlite().await?;
    // Streams end after a second, so a stream the fuzzer opens never holds a run up.
    let mut all = vec!["--sse-max-seconds", "1"];
    all.extend_from_slice(args);
    let ledger = TestLedger::with_hooks(&db, &all).await?;
    let http = Client::builder().timeout(Duration::from_secs(20)).build()?;
    let seeded = seed(&ledger, &http).await?;
    Ok((db, ledger, http, seeded))
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

#[tokio::test]
async fn schemathesis_finds_nothing_wrong_with_the_running_ledger() -> anyhow::Result<()> {
    let venv = venv().await?;
    // A real edge behind the ledger, so the source routes are fuzzed through to it: what they
    // write there is what the edge accepts, and what it refuses is refused with its reason.
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let edge_url = edge.url("");
    let (_db, ledger, http, seeded) =
        seeded_ledger_with(&["--edge-url", &edge_url, "--edge-token", PULL_TOKEN]).await?;
    let resp = http
        .put(ledger.url(&format!("/v1/merchants/default/sources/{SEEDED_SOURCE}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"provider": "paystack", "secret": "sk_test_seeded"}))
        .send()
        .await?;
    ensure!(
        resp.status() == 201,
        "seeding a source: {}",
        resp.text().await?
    );
    // Split too, so a subaccount of it can be mapped (the edge keeps verifying it the same).
    let resp = http
        .put(ledger.url(&format!(
            "/v1/merchants/default/sources/{SEEDED_SOURCE}/split"
        )))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"metadata_key": "keffi_merchant"}))
        .send()
        .await?;
    ensure!(
        resp.status() == 200,
        "splitting the seeded source: {}",
        resp.text().await?
    );
    let dir = tempfile::Builder::new()
        .prefix("keffi-openapi-")
        .tempdir()?;
    let hooks = workspace::root().join("tests/openapi/hooks.py");
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            r#"# Written by tests/tests/e2e/openapi_contract.rs. Every check runs (schemathesis' default);
# the one exception below is per operation, with its reason.
hooks = {hooks}
# A stream's first event (the order's state) is enough; the rest is the SSE test's.
max-stream-events = 1
request-timeout = 10

# A warning (e.g. every request refused for its auth) means the run did not test what it
# should: it fails the run too.
[warnings]
fail-on = true

[auth.openapi.bearer]
bearer = {token}

[auth.openapi.client_secret]
api_key = {secret}

# The browser's routes are fuzzed on the order the client secret opens.
[[operations]]
include-path-regex = "^/client/"
parameters = {{ "path.reference" = {reference} }}

# One source's routes are fuzzed on the source seeded at the edge (otherwise nearly every
# generated name is one no merchant has). A secret's form depends on its provider (Standard
# Webhooks' is base64 with canonical padding bits), which a schema cannot say: a generated
# secret the edge refuses is 422 with the reason, so only for these routes a schema-valid
# body may be refused.
[[operations]]
include-path-regex = "^/v1/merchants/[{{]id[}}]/sources/[{{]name[}}]"
parameters = {{ "path.id" = "default", "path.name" = {source} }}
checks.positive_data_acceptance.enabled = false

# Subaccounts are mapped on the seeded source, split above, for the default merchant.
[[operations]]
include-path-regex = "^/v1/merchants/[{{]id[}}]/subaccounts/"
parameters = {{ "path.id" = "default", "path.source" = {source} }}
"#,
            hooks = toml_str(&hooks.to_string_lossy()),
            token = toml_str(ADMIN_TOKEN),
            secret = toml_str(&seeded.client_secret),
            reference = toml_str(seeded.client_reference),
            source = toml_str(SEEDED_SOURCE),
        ),
    )?;
    let examples =
        std::env::var("KEFFI_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| EXAMPLES.to_string());
    let seed = std::env::var("KEFFI_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.to_owned());
    let spec = ledger.url("/openapi.json");
    let config = config.to_string_lossy();
    let out = run(
        &venv,
        "schemathesis",
        &[
            "--config-file",
            &config,
            "run",
            &spec,
            "--max-examples",
            &examples,
            "--seed",
            &seed,
            "--generation-database",
            "none",
            "--no-color",
        ],
        dir.path(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:#}\nledger log (tail):\n{}", ledger.log_tail(40)))?;
    println!("{out}");
    ensure!(
        out.contains("Selected: 41/41") && out.contains("Tested: 41"),
        "schemathesis did not test every operation:\n{out}"
    );
    Ok(())
}

#[tokio::test]
async fn a_generated_python_client_type_checks_and_works() -> anyhow::Result<()> {
    let venv = venv().await?;
    let (_db, ledger, http, _seeded) = seeded_ledger().await?;
    let dir = tempfile::Builder::new()
        .prefix("keffi-openapi-client-")
        .tempdir()?;
    let spec = http
        .get(ledger.url("/openapi.json"))
        .send()
        .await?
        .text()
        .await?;
    let spec_path = dir.path().join("openapi.json");
    std::fs::write(&spec_path, spec)?;
    let generated = run(
        &venv,
        "openapi-python-client",
        &[
            "generate",
            "--path",
            &spec_path.to_string_lossy(),
            "--meta",
            "none",
            "--output-path",
            "keffi_ledger_client",
        ],
        dir.path(),
    )
    .await?;
    ensure!(
        !generated.contains("Warning"),
        "openapi-python-client could not render all of the document:\n{generated}"
    );

    let openapi = workspace::root().join("tests/openapi");
    let smoke = openapi.join("client_smoke.py");
    let smoke = smoke.to_string_lossy();
    let mypy_ini = openapi.join("mypy.ini");
    run_with(
        &venv,
        "mypy",
        &[
            "--config-file",
            &mypy_ini.to_string_lossy(),
            "--cache-dir",
            &dir.path().join(".mypy_cache").to_string_lossy(),
            &smoke,
            "keffi_ledger_client",
        ],
        dir.path(),
        &[("MYPYPATH", dir.path())],
    )
    .await?;
    let out = run_with(
        &venv,
        "python",
        &[&smoke, &ledger.url(""), ADMIN_TOKEN],
        dir.path(),
        &[("PYTHONPATH", dir.path())],
    )
    .await?;
    println!("{out}");
    Ok(())
}

#[tokio::test]
async fn the_edges_of_the_contract_sqlite() -> anyhow::Result<()> {
    the_edges_of_the_contract(TestDb::sqlite().await?).await
}

/// On Postgres too: text there cannot hold a NUL, and a key with one must still not be a 503.
#[tokio::test]
async fn the_edges_of_the_contract_postgres() -> anyhow::Result<()> {
    the_edges_of_the_contract(TestDb::postgres().await?).await
}

/// What the document states that schemathesis does not probe on its own: parameters a route
/// does not take, methods it does not take, bodies over the limit, whole numbers written with
/// a decimal point, cursors of the stated format, and keys no store can hold.
async fn the_edges_of_the_contract(db: TestDb) -> anyhow::Result<()> {
    let ledger = TestLedger::with_hooks(&db, &[]).await?;
    let http = Client::builder().timeout(Duration::from_secs(20)).build()?;
    let call = |req: reqwest::RequestBuilder| async move {
        let resp = req.bearer_auth(ADMIN_TOKEN).send().await?;
        let status = resp.status().as_u16();
        let allow = resp
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        anyhow::Ok((status, body, allow))
    };
    let get = |path: &str| call(http.get(ledger.url(path)));

    // An amount is a whole number however it is written; a fraction is not.
    let (status, created, _) = call(
        http.post(ledger.url("/v1/orders"))
            .header("content-type", "application/json")
            .body(r#"{"reference":"ord_1","amount":85.0,"currency":"ngn"}"#),
    )
    .await?;
    assert_eq!((status, &created["amount"]), (201, &json!(85)), "{created}");
    let (status, refused, _) = call(
        http.post(ledger.url("/v1/orders"))
            .header("content-type", "application/json")
            .body(r#"{"reference":"ord_2","amount":85.5,"currency":"NGN"}"#),
    )
    .await?;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (422, &json!("invalid_request"))
    );

    // Every route refuses a query parameter it does not take, with the error body.
    for path in [
        "/v1/orders/ord_1?expand=payment",
        "/v1/orders/ord_1/events?x=1",
        "/v1/payments/ord_1?x=1",
        "/v1/events/1?x=1",
        "/v1/balances?currency=NGN",
        "/v1/shards?x=1",
        "/v1/reconciler?x=1",
        "/v1/orders?statuses=paid",
        "/v1/journal?status=applied",
        "/v1/orders/ord_1/timeline?x=1",
        "/v1/search?q=ord_1&kind=order",
        "/v1/stats/series?window=1",
        "/v1/events?source=paystack",
    ] {
        let (status, body, _) = get(path).await?;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!("bad_request")),
            "{path}"
        );
    }
    let (status, _, _) = call(
        http.post(ledger.url("/v1/orders?dry_run=1"))
            .json(&json!({"reference": "ord_3", "amount": 1, "currency": "NGN"})),
    )
    .await?;
    assert_eq!(status, 400);
    let (status, body, _) = call(http.post(ledger.url("/v1/events/1/replay?force=1"))).await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("bad_request"))
    );
    let (status, _, _) = call(
        http.post(ledger.url("/v1/events/replay?force=1"))
            .json(&json!({"status": "dead", "dry_run": true})),
    )
    .await?;
    assert_eq!(status, 400);
    // A bulk replay's limit written 5.0 is 5; 5.5 is refused.
    let (status, counted, _) = call(
        http.post(ledger.url("/v1/events/replay"))
            .json(&json!({"status": "dead", "dry_run": true, "limit": 5.0})),
    )
    .await?;
    assert_eq!(status, 200, "{counted}");
    let (status, _, _) = call(
        http.post(ledger.url("/v1/events/replay"))
            .json(&json!({"status": "dead", "dry_run": true, "limit": 5.5})),
    )
    .await?;
    assert_eq!(status, 422);

    // A method a route does not take: 405, `Allow`, and the error body.
    let (status, body, allow) = call(http.delete(ledger.url("/v1/orders/ord_1"))).await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (405, &json!("method_not_allowed"))
    );
    assert_eq!(allow.as_deref(), Some("GET,HEAD"));
    let (status, body, allow) = call(http.put(ledger.url("/client/v1/orders/ord_1"))).await?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (405, &json!("method_not_allowed"))
    );
    assert_eq!(allow.as_deref(), Some("GET,HEAD"));

    // A body over the limit is 413, not a malformed request. (Over a socket that reads while
    // it writes: the answer may come before the upload is done.)
    let huge = format!(
        r#"{{"reference":"ord_4","amount":1,"currency":"NGN","metadata":{{"x":"{}"}}}}"#,
        "x".repeat(3 << 20)
    );
    let answer = keffi_tests::raw_http::send(
        &ledger.url(""),
        "POST",
        "/v1/orders",
        &[
            ("authorization".into(), format!("Bearer {ADMIN_TOKEN}")),
            ("content-type".into(), "application/json".into()),
        ],
        huge.as_bytes(),
    )
    .await?;
    let body: Value = serde_json::from_slice(&answer.body)?;
    assert_eq!(
        (answer.status, &body["error"]["code"]),
        (413, &json!("payload_too_large"))
    );

    // Cursors: what the list hands out works; any string of the stated format is a
    // position (here, past everything); anything else is 400.
    for i in 0..3 {
        let (status, _, _) = call(
            http.post(ledger.url("/v1/orders"))
                .json(&json!({"reference": format!("page_{i}"), "amount": 1, "currency": "NGN"})),
        )
        .await?;
        assert_eq!(status, 201);
    }
    let (_, first, _) = get("/v1/orders?limit=2").await?;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (status, second, _) = get(&format!("/v1/orders?limit=2&cursor={cursor}")).await?;
    assert_eq!(status, 200);
    assert_eq!(second["data"].as_array().unwrap().len(), 2, "{second}");
    for (path, want) in [
        ("/v1/orders?cursor=0.", 200),
        ("/v1/payments?cursor=5.ff00", 200),
        ("/v1/events?cursor=0", 200),
        ("/v1/journal?cursor=123456789012345678", 200),
        ("/v1/orders?cursor=eyJhdCI6MSwia2V5IjoieCJ9", 400),
        ("/v1/orders?cursor=1.ABCD", 400),
        ("/v1/events?cursor=-1", 400),
        ("/v1/journal?cursor=1234567890123456789", 400),
    ] {
        assert_eq!(get(path).await?.0, want, "{path}");
    }

    // A key with a NUL names nothing on any store: 404 or an empty page, never a 503.
    for (path, want) in [
        ("/v1/orders/ord%001", 404),
        ("/v1/payments/ord%001", 404),
        ("/v1/orders/ord%001/events", 404),
        ("/v1/events?reference=ord%001", 200),
        ("/v1/journal?reference=ord%001", 200),
        ("/v1/orders/ord%001/timeline", 404),
        ("/v1/search?q=ord%001", 200),
        ("/v1/events?provider=pay%00stack", 200),
    ] {
        assert_eq!(get(path).await?.0, want, "{path}");
    }
    Ok(())
}
