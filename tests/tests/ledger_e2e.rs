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
    let ledger = TestLedger::start(
        &[
            "--database-url",
            &url,
            "--edge-url",
            &edge.url(""),
            "--pull-wait-ms",
            "2000",
        ],
        &[("KEFFI_EDGE_TOKEN", PULL_TOKEN)],
    )
    .await?;

    // The gateway retries the same webhook five times, and a second, unrelated order's charge.
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
    let deadline = Instant::now() + Duration::from_secs(30);
    while backlog(&edge).await? > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(backlog(&edge).await?, 0);

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
    let _ledger = TestLedger::start(
        &[
            "--database-url",
            &url,
            "--edge-url",
            &edge.url(""),
            "--pull-batch",
            "7",
        ],
        &[("KEFFI_EDGE_TOKEN", PULL_TOKEN)],
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while backlog(&edge).await? > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(backlog(&edge).await?, 0);
    let balances = cli(&["balances", "--database-url", &url])?;
    let sales = balances["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["account"] == "sales")
        .unwrap()["balance"]
        .as_i64()
        .unwrap();
    assert_eq!(sales, -30_000, "thirty charges of 1000, each posted once");
    Ok(())
}

#[tokio::test]
async fn misconfiguration_fails_at_start_with_one_line_naming_the_setting() -> anyhow::Result<()> {
    let bin = keffi_tests::ledger::binary()?;
    let cases: [(&[&str], &str); 3] = [
        (
            &["serve", "--edge-url", "http://127.0.0.1:9"],
            "KEFFI_EDGE_TOKEN",
        ),
        (
            &["serve", "--database-url", "mysql://x"],
            "KEFFI_DATABASE_URL",
        ),
        (
            &[
                "serve",
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
