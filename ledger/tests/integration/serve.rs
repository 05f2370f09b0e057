//! `keffi_ledger::serve` on a listener the caller bound (port 0: the OS picks, nothing to
//! guess or race for): the whole service in-process, as the binary runs it, answering and
//! stopping cleanly on shutdown.

use std::time::Duration;

use clap::Parser as _;
use keffi_ledger::config::{Cli, Command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_on_a_listener_bound_by_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let cli = Cli::try_parse_from([
        "keffi-ledger",
        "serve",
        "--database-url",
        &url,
        "--admin-tokens",
        "serve-test-token",
    ])
    .unwrap();
    let Command::Serve(cfg) = cli.command else {
        unreachable!("parsed `serve`")
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert_ne!(addr, cfg.listen, "the configured address is not used");

    let (trigger, shutdown) = keffi_ledger::shutdown::channel();
    let server = tokio::spawn(keffi_ledger::serve(cfg, listener, shutdown));

    let http = reqwest::Client::new();
    let health: serde_json::Value = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let orders = http
        .get(format!("http://{addr}/v1/orders"))
        .bearer_auth("serve-test-token")
        .send()
        .await
        .unwrap();
    assert_eq!(orders.status(), 200);

    trigger.fire();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the service stops on shutdown")
        .unwrap()
        .unwrap();
}
