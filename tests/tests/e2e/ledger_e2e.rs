//! The whole path, with real parts: signed webhooks → the edge under `wrangler dev` → the
//! ledger binary's puller → the ledger's database (SQLite and Postgres) → a paid order with one
//! journal transaction, and the edge's backlog drained to zero.

use std::time::{Duration, Instant};

use keffi_tests::edge::{EdgeConfig, TestEdge, PAYSTACK_SECRET, PULL_TOKEN};
use keffi_tests::gateway;
use keffi_tests::ledger::{cli, TestDb, TestLedger};

async fn wait_for<F: Fn() -> anyhow::Result<bool>>(what: &str, f: F) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if f()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn backlog(edge: &TestEdge) -> anyhow::Result<u64> {
    Ok(edge
        .shards_report()
        .await?
        .backlog
        .iter()
        .map(|b| b.unacked)
        .sum())
}

/// Waits until the ledger has acked everything the edge holds.
async fn drained(edge: &TestEdge) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(45);
    while backlog(edge).await? > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(backlog(edge).await?, 0, "the edge's backlog drains");
    Ok(())
}

/// A ledger on `url` pulling from `edge`, with `extra` flags.
async fn pulling(edge: &TestEdge, url: &str, extra: &[&str]) -> anyhow::Result<TestLedger> {
    let edge_url = edge.url("");
    let mut args = vec!["--database-url", url, "--edge-url", &edge_url];
    args.extend_from_slice(extra);
    TestLedger::start(&args, &[("KEFFI_EDGE_TOKEN", PULL_TOKEN)]).await
}

/// The `sales` account's balance (minus the sum of all charges) per `keffi-ledger balances`.
fn sales_balance(url: &str) -> anyhow::Result<i64> {
    let balances = cli(&["balances", "--database-url", url])?;
    balances["balances"]
        .as_array()
        .and_then(|all| all.iter().find(|b| b["account"] == "sales"))
        .and_then(|b| b["balance"].as_i64())
        .ok_or_else(|| anyhow::anyhow!("no sales balance: {balances}"))
}

async fn webhook_to_paid_order(db: TestDb) -> anyhow::Result<()> {
    let url = db.url();
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    cli(&[
        "create-order",
        "--database-url",
        &url,
        "--reference",
        "ord_e2e",
        "--amount",
        "500000",
    ])?;
    let ledger = pulling(&edge, &url, &["--pull-wait-ms", "2000"]).await?;

    // The gateway retries the same webhook five times.
    let charge = gateway::paystack_charge_success(PAYSTACK_SECRET, 4099260516, "ord_e2e", 500_000);
    for _ in 0..5 {
        let (status, _) = edge.deliver("paystack", &charge).await?;
        assert_eq!(status, 200);
    }
    let status = || cli(&["status", "--database-url", &url, "ord_e2e"]);
    wait_for("the order to be paid", || {
        Ok(status()?["order"]["status"] == "paid")
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}; ledger log:\n{}", ledger.log_tail(30)))?;

    let view = status()?;
    assert_eq!(view["payment"]["status"], "success");
    assert_eq!(view["payment"]["gateway_id"], "4099260516");
    let journal = view["journal"].as_array().unwrap();
    assert_eq!(journal.len(), 1, "one journal transaction: {view}");
    let sum: i64 = journal[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 0);

    // The edge's backlog drains: the ledger acked what it applied.
    drained(&edge).await?;

    let metrics = reqwest::Client::new()
        .get(ledger.url("/metrics"))
        .bearer_auth(keffi_tests::ledger::ADMIN_TOKEN)
        .send()
        .await?
        .text()
        .await?;
    for expected in [
        r#"keffi_events_total{source="paystack",outcome="applied"} 1"#,
        "keffi_events_pulled_total",
        "keffi_shard_lag_events",
        "keffi_shard_lag_seconds",
        "keffi_apply_batch_seconds_bucket",
        "keffi_http_requests_total",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from:\n{metrics}"
        );
    }
    let unauthenticated = reqwest::get(ledger.url("/metrics")).await?;
    assert_eq!(unauthenticated.status(), 401);

    let ready: serde_json::Value = reqwest::get(ledger.url("/readyz")).await?.json().await?;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["puller"]["enabled"], true);
    assert_eq!(ready["puller"]["shards"].as_array().unwrap().len(), 4);
    Ok(())
}

#[tokio::test]
async fn webhook_to_paid_order_on_sqlite() -> anyhow::Result<()> {
    webhook_to_paid_order(TestDb::sqlite().await?).await
}

#[tokio::test]
async fn webhook_to_paid_order_on_postgres() -> anyhow::Result<()> {
    webhook_to_paid_order(TestDb::postgres().await?).await
}

/// The ledger down while webhooks arrive: the edge buffers, the ledger drains it when back.
#[tokio::test]
async fn a_ledger_that_was_down_drains_the_backlog() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let url = db.url();
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    for i in 0..30u64 {
        let reference = format!("ord_{i}");
        cli(&[
            "create-order",
            "--database-url",
            &url,
            "--reference",
            &reference,
            "--amount",
            "1000",
        ])?;
        let d = gateway::paystack_charge_success(PAYSTACK_SECRET, 1000 + i, &reference, 1000);
        assert_eq!(edge.deliver("paystack", &d).await?.0, 200);
    }
    assert_eq!(backlog(&edge).await?, 30);
    // Where it is, should it ever stall (nextest shows a failed test's stderr).
    eprintln!("30 orders created and their charges buffered at the edge");
    let _ledger = pulling(&edge, &url, &["--pull-batch", "7"]).await?;
    eprintln!("ledger started");
    drained(&edge).await?;
    eprintln!("drained");
    assert_eq!(
        sales_balance(&url)?,
        -30_000,
        "thirty charges of 1000, each posted once"
    );
    Ok(())
}

#[tokio::test]
async fn misconfiguration_fails_at_start_with_one_line_naming_the_setting() -> anyhow::Result<()> {
    let bin = keffi_tests::ledger::binary()?;
    let cases: [(&[&str], &str); 4] = [
        (
            &["serve", "--edge-url", "http://127.0.0.1:9"],
            "KEFFI_EDGE_TOKEN",
        ),
        (&["serve"], "KEFFI_ADMIN_TOKENS"),
        (
            &[
                "serve",
                "--admin-tokens",
                "t",
                "--database-url",
                "mysql://x",
            ],
            "KEFFI_DATABASE_URL",
        ),
        (
            &[
                "serve",
                "--admin-tokens",
                "t",
                "--database-url",
                "postgres://nobody@127.0.0.1:1/none",
            ],
            "KEFFI_DATABASE_URL",
        ),
    ];
    for (args, setting) in cases {
        let started = Instant::now();
        let out = std::process::Command::new(&bin).args(args).output()?;
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("keffi-ledger: error:") && last.contains(setting),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(15));
    }
    Ok(())
}

/// `kill -9` while the ledger drains a backlog, restart, repeat: every accepted event is
/// applied exactly once and the backlog still drains.
#[tokio::test]
async fn killed_mid_backlog_and_restarted_applies_everything_once() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let url = db.url();
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    // The same replica id across restarts: a restarted replica resumes its own leases at once.
    let n = 120u64;
    for i in 0..n {
        let d = gateway::paystack_charge_success(
            PAYSTACK_SECRET,
            5000 + i,
            &format!("orphan_{i}"),
            1000,
        );
        assert_eq!(edge.deliver("paystack", &d).await?.0, 200);
    }
    let args = [
        "--database-url",
        url.as_str(),
        "--edge-url",
        &edge.url(""),
        "--pull-batch",
        "2",
        "--replica-id",
        "crashy",
    ];
    let env = [
        ("KEFFI_EDGE_TOKEN", PULL_TOKEN),
        ("KEFFI_LEASE_TTL_MS", "1000"),
    ];
    for round in 0..5u64 {
        let mut ledger = TestLedger::start(&args, &env).await?;
        tokio::time::sleep(Duration::from_millis(60 + 40 * round)).await;
        ledger.kill();
        println!(
            "round {round}: killed with {} events still unacked",
            backlog(&edge).await?
        );
    }
    let _ledger = TestLedger::start(&args, &env).await?;
    drained(&edge).await?;
    let balances = cli(&["balances", "--database-url", &url])?;
    let applied = balances["inbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_i64().unwrap())
        .sum::<i64>();
    assert_eq!(
        applied, n as i64,
        "one inbox row per accepted event: {balances}"
    );
    assert_eq!(
        sales_balance(&url)?,
        -(n as i64) * 1000,
        "each charge posted exactly once"
    );
    Ok(())
}

/// SIGTERM: the ledger finishes what it is doing, releases its leases and exits cleanly.
#[tokio::test]
async fn sigterm_shuts_down_gracefully_and_releases_leases() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let url = db.url();
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let mut ledger = TestLedger::start(
        &[
            "--database-url",
            &url,
            "--edge-url",
            &edge.url(""),
            "--replica-id",
            "r1",
        ],
        &[("KEFFI_EDGE_TOKEN", PULL_TOKEN)],
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    ledger.terminate();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        ledger.log_tail(5).contains("keffi-ledger stopped"),
        "{}",
        ledger.log_tail(20)
    );
    let cursors = cli(&["balances", "--database-url", &url])?["cursors"].clone();
    for c in cursors.as_array().unwrap() {
        assert!(c["lease_holder"].is_null(), "lease released: {c}");
    }
    Ok(())
}

/// Without an edge: the ledger's own `/hooks/{source}` verifies with the same schemes and
/// applies through the same pipeline.
#[tokio::test]
async fn direct_hooks_on_the_ledger_verify_and_apply() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let url = db.url();
    cli(&[
        "create-order",
        "--database-url",
        &url,
        "--reference",
        "ord_d",
        "--amount",
        "500000",
    ])?;
    let ledger = TestLedger::start(
        &["--database-url", &url],
        &[
            (
                "KEFFI_SOURCES",
                r#"[{"name":"paystack","provider":"paystack"}]"#,
            ),
            ("KEFFI_SECRET_PAYSTACK", PAYSTACK_SECRET),
        ],
    )
    .await?;
    let http = reqwest::Client::new();
    let send = |d: gateway::Delivery| {
        let mut req = http.post(ledger.url("/hooks/paystack")).body(d.body);
        for (n, v) in d.headers {
            req = req.header(n, v);
        }
        req.send()
    };
    let charge = gateway::paystack_charge_success(PAYSTACK_SECRET, 77, "ord_d", 500_000);
    let first: serde_json::Value = send(charge.clone()).await?.json().await?;
    assert_eq!(first["status"], "accepted");
    let second: serde_json::Value = send(charge.clone()).await?.json().await?;
    assert_eq!(second["status"], "duplicate");
    let forged = gateway::paystack_charge_success("sk_wrong", 78, "ord_d", 500_000);
    let resp = send(forged).await?;
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "bad_signature");
    let view = cli(&["status", "--database-url", &url, "ord_d"])?;
    assert_eq!(view["order"]["status"], "paid");
    assert_eq!(view["journal"].as_array().unwrap().len(), 1);
    Ok(())
}

/// The ledger's own hook route checks its allow-list against the socket's peer: a forwarded
/// header naming an allowed address does not get a stranger in.
#[tokio::test]
async fn the_ledger_allow_list_ignores_forwarded_headers() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let url = db.url();
    let ledger = TestLedger::start(
        &["--database-url", &url],
        &[
            (
                "KEFFI_SOURCES",
                r#"[{"name":"paystack","provider":"paystack","allow_ips":["52.31.139.75"]}]"#,
            ),
            ("KEFFI_SECRET_PAYSTACK", PAYSTACK_SECRET),
        ],
    )
    .await?;
    let d = gateway::paystack_charge_success(PAYSTACK_SECRET, 5, "ord_x", 1000);
    let resp = d
        .post(&reqwest::Client::new(), &ledger.url("/hooks/paystack"))
        .header("x-forwarded-for", "52.31.139.75")
        .send()
        .await?;
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "ip_not_allowed");
    Ok(())
}

/// The gap the reconciler closes: the customer paid, the webhook never came. The reconciler
/// running in `serve` asks the (local) gateway and the order ends paid; the webhook arriving
/// late through the edge changes nothing.
#[tokio::test]
async fn a_lost_webhook_is_recovered_by_the_reconciler() -> anyhow::Result<()> {
    use keffi_tests::paystack::FakePaystack;
    let db = TestDb::sqlite().await?;
    let url = db.url();
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let gateway = FakePaystack::start(PAYSTACK_SECRET).await?;
    gateway.set("ord_lost", FakePaystack::success(4242, 500_000));
    cli(&[
        "create-order",
        "--database-url",
        &url,
        "--reference",
        "ord_lost",
        "--amount",
        "500000",
    ])?;
    let ledger = TestLedger::start(
        &[
            "--database-url",
            &url,
            "--edge-url",
            &edge.url(""),
            "--paystack-api-base",
            &gateway.url(),
            "--reconcile-interval",
            "500ms",
            "--reconcile-min-age",
            "0s",
        ],
        &[
            ("KEFFI_EDGE_TOKEN", PULL_TOKEN),
            ("KEFFI_PAYSTACK_SECRET_KEY", PAYSTACK_SECRET),
        ],
    )
    .await?;
    let status = || cli(&["status", "--database-url", &url, "ord_lost"]);
    wait_for("the reconciler to confirm the payment", || {
        Ok(status()?["order"]["status"] == "paid")
    })
    .await?;

    // Now the webhook turns up after all.
    let late = gateway::paystack_charge_success(PAYSTACK_SECRET, 4242, "ord_lost", 500_000);
    assert_eq!(edge.deliver("paystack", &late).await?.0, 200);
    drained(&edge).await?;
    let view = status()?;
    assert_eq!(
        view["journal"].as_array().unwrap().len(),
        1,
        "posted once: {view}"
    );

    let http = reqwest::Client::new();
    let events: serde_json::Value = http
        .get(ledger.url("/v1/events?reference=ord_lost"))
        .bearer_auth(keffi_tests::ledger::ADMIN_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    let kinds: Vec<(String, String)> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("reconciler".into(), "applied".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("paystack".into(), "ignored".into())),
        "{kinds:?}"
    );
    let last: serde_json::Value = http
        .get(ledger.url("/v1/reconciler"))
        .bearer_auth(keffi_tests::ledger::ADMIN_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert!(last["last_run"]["checked"].is_number(), "{last}");
    Ok(())
}

/// `keffi-ledger reconcile`: a dry run reports and changes nothing; a real run applies.
/// (Multi-threaded: the local gateway must answer while this thread waits on the command.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcile_command_dry_runs_and_runs() -> anyhow::Result<()> {
    use keffi_tests::paystack::{Behaviour, FakePaystack};
    let db = TestDb::sqlite().await?;
    let url = db.url();
    let gateway = FakePaystack::start(PAYSTACK_SECRET).await?;
    for (r, b) in [
        ("ord_a", FakePaystack::success(1, 1000)),
        ("ord_b", Behaviour::Failed),
        ("ord_c", Behaviour::Ongoing),
    ] {
        cli(&[
            "create-order",
            "--database-url",
            &url,
            "--reference",
            r,
            "--amount",
            "1000",
        ])?;
        gateway.set(r, b);
    }
    let bin = keffi_tests::ledger::binary()?;
    let api = gateway.url();
    let reconcile = |extra: &[&str]| {
        let mut args = vec![
            "reconcile",
            "--database-url",
            &url,
            "--paystack-api-base",
            &api,
            "--older-than",
            "0s",
        ];
        args.extend_from_slice(extra);
        std::process::Command::new(&bin)
            .args(&args)
            .env("KEFFI_PAYSTACK_SECRET_KEY", PAYSTACK_SECRET)
            .output()
    };
    let dry = reconcile(&["--dry-run"])?;
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(text.contains("dry run: nothing was changed"), "{text}");
    assert!(
        text.contains("confirmed paid") && text.contains("checked"),
        "{text}"
    );
    let line = |t: &str, name: &str| -> u64 {
        t.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX)
    };
    assert_eq!(line(&text, "checked"), 3);
    assert_eq!(line(&text, "confirmed paid"), 1);
    assert_eq!(
        cli(&["status", "--database-url", &url, "ord_a"])?["order"]["status"],
        "pending"
    );

    let real = reconcile(&["--reference", "ord_a"])?;
    let text = String::from_utf8_lossy(&real.stdout);
    assert_eq!(line(&text, "checked"), 1, "{text}");
    assert_eq!(
        cli(&["status", "--database-url", &url, "ord_a"])?["order"]["status"],
        "paid"
    );
    assert_eq!(
        cli(&["status", "--database-url", &url, "ord_b"])?["order"]["status"],
        "pending"
    );

    let missing = std::process::Command::new(&bin)
        .args(["reconcile", "--database-url", &url])
        .output()?;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("KEFFI_PAYSTACK_SECRET_KEY"));
    Ok(())
}

/// A log written to a file (or a pipe) is plain text: colour codes only reach a terminal.
#[tokio::test]
async fn a_log_written_to_a_file_has_no_colour_codes() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let ledger = TestLedger::with_hooks(&db, &["--log", "info,keffi_ledger=debug"]).await?;
    let status = reqwest::get(ledger.url("/v1/orders")).await?.status();
    assert_eq!(status, 401);
    let log = ledger.log();
    assert!(log.contains("listening on"), "{log}");
    assert!(log.contains("http_request"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a log file: {log}");
    Ok(())
}

/// A quiet source's charge and its refund, buffered in the middle of another source's
/// backlog, are applied ahead of the backlog's tail (the puller's lookahead), in their own
/// order, once; the backlog is then drained in full, each event once.
#[tokio::test]
async fn a_quiet_sources_events_go_ahead_of_a_backlog_in_their_own_order() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let url = db.url();
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    cli(&[
        "create-order",
        "--database-url",
        &url,
        "--reference",
        "ord_quiet",
        "--amount",
        "10000",
    ])?;
    let storm = |range: std::ops::Range<u64>| {
        let edge = &edge;
        async move {
            for i in range {
                let d =
                    gateway::paystack_charge_success(PAYSTACK_SECRET, i, &format!("s_{i}"), 100);
                assert_eq!(edge.deliver("paystack", &d).await?.0, 200);
            }
            anyhow::Ok(())
        }
    };
    storm(1..600).await?;
    let from_quiet =
        |d: gateway::Delivery| d.header("cf-connecting-ip", keffi_tests::edge::PAYSTACK_IP);
    let charge = from_quiet(gateway::paystack_charge_success(
        PAYSTACK_SECRET,
        777_001,
        "ord_quiet",
        10_000,
    ));
    let refund = from_quiet(gateway::paystack_body(
        PAYSTACK_SECRET,
        serde_json::to_vec(&serde_json::json!({"event": "refund.processed", "data": {
            "status": "processed", "transaction_reference": "ord_quiet",
            "refund_reference": "rf_q", "amount": "4000", "currency": "NGN"}}))?,
    ));
    for d in [&charge, &refund] {
        assert_eq!(edge.deliver("paystack-ip", d).await?.0, 200);
    }
    storm(600..1000).await?;
    let ledger = pulling(&edge, &url, &["--pull-batch", "50"]).await?;
    drained(&edge).await?;

    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(ledger.url(path))
            .bearer_auth(keffi_tests::ledger::ADMIN_TOKEN)
            .send()
    };
    let quiet: serde_json::Value = get("/v1/events?reference=ord_quiet").await?.json().await?;
    let quiet = quiet["data"].as_array().unwrap().clone();
    assert_eq!(quiet.len(), 2, "{quiet:?}");
    // Newest first: the refund was recorded after the charge, and both applied.
    assert_eq!(quiet[0]["event_type"], "refund.processed", "{quiet:?}");
    assert!(quiet.iter().all(|e| e["status"] == "applied"), "{quiet:?}");
    // Every event's inbox id is the order it was applied in. In the quiet charge's shard, a
    // first-in-first-out drain would apply every storm charge delivered before it first; the
    // lookahead applies it after one batch of them.
    let mut applied_at = std::collections::HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/events?limit=200&cursor={c}"),
            None => "/v1/events?limit=200".to_owned(),
        };
        let page: serde_json::Value = get(&path).await?.json().await?;
        for e in page["data"].as_array().unwrap() {
            applied_at.insert(
                e["idempotency_key"].as_str().unwrap().to_owned(),
                e["id"].as_i64().unwrap(),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(applied_at.len(), 1001, "every event once");
    let quiet_key = "paystack:charge.success:777001";
    let shard = edge.shard_of(quiet_key);
    let quiet_at = applied_at[quiet_key];
    let before: Vec<i64> = (1..600)
        .map(|i| format!("paystack:charge.success:{i}"))
        .filter(|k| edge.shard_of(k) == shard)
        .map(|k| applied_at[&k])
        .collect();
    let overtaken = before.iter().filter(|&&at| at > quiet_at).count();
    assert!(
        overtaken * 2 > before.len(),
        "the quiet charge overtook {overtaken} of the {} storm charges ahead of it in its shard",
        before.len()
    );
    let order: serde_json::Value = get("/v1/orders/ord_quiet").await?.json().await?;
    assert_eq!(order["payment"]["refunded"], 4000, "{order}");
    // Sales hold every charge once (a refund posts to its own account, counted above).
    assert_eq!(
        sales_balance(&url)?,
        -(999 * 100 + 10_000),
        "every charge posted once"
    );
    Ok(())
}
