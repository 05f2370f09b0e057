//! Live status streams against the whole service in-process: the cap on open streams (503
//! with `Retry-After`, a freed slot reused), and the shared catch-up that delivers a change
//! this replica's feed never heard of (made by another process on the same database) with no
//! timer per stream.

use crate::common;
use crate::common::dm;

use std::time::Duration;

use clap::Parser as _;
use common::charge;
use keffi_ledger::config::{Cli, Command};
use keffi_ledger::pipeline::apply_batch;
use keffi_ledger::store::{now_ms, ConnectOptions, Store};
use keffi_shared::{Currency, MinorUnits};
use keffi_tests::sse::read_events;

const TOKEN: &str = "streams-test-token";

struct Running {
    addr: std::net::SocketAddr,
    url: String,
    trigger: keffi_ledger::shutdown::Trigger,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start(extra: &[&str]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let mut argv = vec![
        "keffi-ledger",
        "serve",
        "--database-url",
        &url,
        "--admin-tokens",
        TOKEN,
    ];
    argv.extend_from_slice(extra);
    let Command::Serve(cfg) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!("parsed `serve`")
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = keffi_ledger::shutdown::channel();
    let server = tokio::spawn(keffi_ledger::serve(cfg, listener, shutdown));
    // Ready once it answers.
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Running {
        addr,
        url,
        trigger,
        server,
        _dir: dir,
    }
}

impl Running {
    async fn stream(&self, reference: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("http://{}/v1/orders/{reference}/events", self.addr))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// `keffi_status_streams_open` from `/metrics`.
    async fn streams_open_gauge(&self) -> usize {
        let text = reqwest::Client::new()
            .get(format!("http://{}/metrics", self.addr))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("keffi_status_streams_open "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no keffi_status_streams_open in /metrics:\n{text}"))
            as usize
    }

    async fn stop(self) {
        self.trigger.fire();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("stops")
            .unwrap()
            .unwrap();
    }
}

/// Another process on the same database: the CLI, or a replica that does not share this
/// one's feed.
async fn other_process(url: &str) -> Store {
    Store::connect(url, &ConnectOptions::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_a_stream_is_refused_with_retry_after_and_a_freed_slot_is_reused() {
    let ledger = start(&["--max-streams", "2"]).await;
    let other = other_process(&ledger.url).await;
    for r in ["ord_a", "ord_b", "ord_c"] {
        other
            .create_order(&dm(), r, MinorUnits(500_000), Currency::NGN, None, now_ms())
            .await
            .unwrap();
    }
    let a = ledger.stream("ord_a").await;
    let b = ledger.stream("ord_b").await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let refused = ledger.stream("ord_c").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    // A closed stream frees its slot (the server notices at its next write: the keep-alive,
    // or the end of the response).
    drop(a);
    let mut reopened = None;
    for _ in 0..40 {
        let r = ledger.stream("ord_c").await;
        if r.status() == 200 {
            reopened = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(reopened.is_some(), "the freed slot was never reused");
    drop((b, reopened));
    ledger.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_this_replica_never_heard_of_reaches_its_stream_through_the_catch_up() {
    let ledger = start(&["--status-catch-up", "200ms"]).await;
    let other = other_process(&ledger.url).await;
    other
        .create_order(
            &dm(),
            "ord_1",
            MinorUnits(500_000),
            Currency::NGN,
            None,
            now_ms(),
        )
        .await
        .unwrap();
    let mut resp = ledger.stream("ord_1").await;
    let mut buffer = String::new();
    let first = read_events(&mut resp, &mut buffer, 1, Duration::from_secs(5)).await;
    assert_eq!(first[0].1["status"], "pending");
    // Applied by the other process: nothing is published to this ledger's feed.
    apply_batch(&other, &[charge(42, "ord_1", 500_000, 0)], None)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let next = read_events(&mut resp, &mut buffer, 1, Duration::from_secs(5)).await;
    assert_eq!(next.len(), 1, "the catch-up delivered the change");
    assert_eq!(next[0].1["status"], "paid");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "within a catch-up tick or two: {:?}",
        started.elapsed()
    );
    drop(resp);
    ledger.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_gets_keep_alives_from_the_shared_heartbeat_and_ends_at_its_lifetime() {
    let ledger = start(&["--sse-max-seconds", "2"]).await;
    let other = other_process(&ledger.url).await;
    other
        .create_order(
            &dm(),
            "ord_idle",
            MinorUnits(500_000),
            Currency::NGN,
            None,
            now_ms(),
        )
        .await
        .unwrap();
    let opened = std::time::Instant::now();
    let stream = ledger.stream("ord_idle").await;
    assert_eq!(stream.status(), 200);
    // The whole body: the stream ends by itself, with no timer of its own.
    let body = tokio::time::timeout(Duration::from_secs(10), stream.text())
        .await
        .expect("the stream ends at its lifetime")
        .unwrap();
    let lived = opened.elapsed();
    assert!(
        lived >= Duration::from_secs(2) && lived < Duration::from_secs(5),
        "lived {lived:?}, for a 2 s lifetime checked every second"
    );
    assert_eq!(body.matches("event: status").count(), 1, "{body:?}");
    assert!(
        body.lines().any(|l| l.starts_with(':')),
        "at least one keep-alive comment: {body:?}"
    );
    ledger.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_streams_gauge_counts_streams_opened_at_once_and_their_closing() {
    // Opened all at once, racing each other: a gauge set from each opener's own count could
    // read fewer than are open.
    const N: usize = 24;
    let ledger = start(&["--sse-max-seconds", "4"]).await;
    let other = other_process(&ledger.url).await;
    let references: Vec<String> = (0..N).map(|i| format!("ord_gauge_{i}")).collect();
    for r in &references {
        other
            .create_order(&dm(), r, MinorUnits(500_000), Currency::NGN, None, now_ms())
            .await
            .unwrap();
    }
    let open = futures_util::future::join_all(references.iter().map(|r| ledger.stream(r))).await;
    assert!(open.iter().all(|s| s.status() == 200));
    assert_eq!(ledger.streams_open_gauge().await, N);
    drop(open);
    // The server notices a closed stream at its next write (its keep-alive, within 2 s here).
    let mut left = N;
    for _ in 0..50 {
        left = ledger.streams_open_gauge().await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        left, 0,
        "streams still counted open after their clients left"
    );
    ledger.stop().await;
}
