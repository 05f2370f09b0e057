//! The spans tell one batch's story: the real puller pulls a batch from a stand-in edge (an
//! in-process axum server speaking the pull/ack API), applies and acks it, and the JSON log
//! lines, captured from the ledger's own subscriber (`telemetry::subscriber`, as
//! `KEFFI_LOG_JSON=1` sets it up), carry the `pull_cycle` span with the shard, the batch's
//! size, its first and last sequence and what became of its events, and the `apply_batch` span
//! inside it. An HTTP request's span names its matched route, never the raw path, and its
//! status.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use keffi_ledger::config::LogConfig;
use keffi_ledger::puller::status::PullerStatus;
use keffi_ledger::puller::PullerConfig;
use keffi_shared::version::V1;
use keffi_shared::wire::{
    AckRequest, AckResponse, PullQuery, PullResponse, PulledEvent, ShardsResponse, ACK_PATH,
    PULL_PATH,
};
use serde_json::Value;

/// Log output, shared with the subscriber's writer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Every JSON line written so far.
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// The first line whose message is `message`, waiting for it up to ten seconds.
    async fn wait_for(&self, message: &str) -> Value {
        for _ in 0..200 {
            if let Some(line) = self
                .lines()
                .into_iter()
                .find(|l| l["fields"]["message"] == message)
            {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no `{message}` line in:\n{:#?}", self.lines());
    }
}

/// The ledger's JSON subscriber, writing into a buffer, as this thread's default (the test
/// runs on a current-thread runtime, so every task it spawns logs here).
fn capture(filter: &str) -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let cfg = LogConfig {
        log_json: true,
        log: filter.into(),
    };
    let subscriber =
        keffi_ledger::telemetry::subscriber(&cfg, false, move || writer.clone()).unwrap();
    let guard = tracing::subscriber::set_default(subscriber);
    (captured, guard)
}

/// A one-shard edge holding `events` (seq 1, 2, …), remembering the last ack.
#[derive(Clone)]
struct FakeEdge {
    events: Arc<Vec<PulledEvent>>,
    acked: Arc<Mutex<u64>>,
}

async fn shards() -> Json<ShardsResponse> {
    Json(ShardsResponse {
        v: V1,
        shards: 1,
        backlog: Vec::new(),
    })
}

async fn pull(State(edge): State<FakeEdge>, RawQuery(q): RawQuery) -> Json<PullResponse> {
    let q = PullQuery::from_query(&q.unwrap_or_default()).unwrap();
    let events: Vec<PulledEvent> = edge
        .events
        .iter()
        .filter(|e| e.seq > q.after)
        .take(q.effective_limit() as usize)
        .cloned()
        .collect();
    if events.is_empty() {
        // A short long-poll, so an idle puller does not spin.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Json(PullResponse {
        v: V1,
        shard: q.shard,
        has_more: false,
        head_seq: edge.events.len() as u64,
        oldest_unacked_ms: None,
        events,
    })
}

async fn ack(State(edge): State<FakeEdge>, Json(req): Json<AckRequest>) -> Json<AckResponse> {
    *edge.acked.lock().unwrap() = req.upto;
    Json(AckResponse {
        v: V1,
        shard: req.shard,
        acked_upto: req.upto,
    })
}

/// The span named `name` in a line's `spans` list.
fn span<'a>(line: &'a Value, name: &str) -> &'a Value {
    line["spans"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no `{name}` span in {line}"))
}

#[tokio::test]
async fn a_pulled_batch_is_one_story_in_the_json_logs() {
    let (logs, _guard) = capture("keffi_ledger=debug");
    let db = common::sqlite().await;

    // One batch of three: a charge, the same charge again, a refund before its charge.
    let batch = [
        common::charge(4099260516, "ord_span", 500_000, 7_500),
        common::charge(4099260516, "ord_span", 500_000, 7_500),
        common::refund("ord_elsewhere", "rf_1", 1_000),
    ];
    let edge = FakeEdge {
        events: Arc::new(
            batch
                .into_iter()
                .zip(1..)
                .map(|(incoming, seq)| PulledEvent {
                    seq,
                    envelope: incoming.envelope,
                })
                .collect(),
        ),
        acked: Arc::default(),
    };
    let app = Router::new()
        .route("/ledger/shards", get(shards))
        .route(PULL_PATH, get(pull))
        .route(ACK_PATH, post(ack))
        .with_state(edge.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let edge_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (trigger, shutdown) = keffi_ledger::shutdown::channel();
    let puller = tokio::spawn(keffi_ledger::puller::run(
        db.store.clone(),
        PullerConfig {
            edge_url,
            edge_token: "test-pull-token".parse().unwrap(),
            batch: 10,
            wait: Duration::ZERO,
            idle: Duration::from_millis(20),
            lease_ttl: Duration::from_secs(30),
            replica: "test".into(),
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(100),
        },
        Arc::new(PullerStatus::enabled()),
        keffi_ledger::changes::Changes::default(),
        shutdown,
    ));

    let done = logs.wait_for("batch applied and acked").await;
    trigger.fire();
    puller.await.unwrap().unwrap();
    assert_eq!(*edge.acked.lock().unwrap(), 3, "the batch was acked");

    // At info, the whole round in one line: its span has everything.
    assert_eq!(done["level"], "INFO");
    let cycle = &done["span"];
    assert_eq!(cycle["name"], "pull_cycle", "{done}");
    assert_eq!(cycle["shard"], 0, "{done}");
    assert_eq!(cycle["after"], 0, "{done}");
    assert_eq!(cycle["events"], 3, "{done}");
    assert_eq!(cycle["first_seq"], 1, "{done}");
    assert_eq!(cycle["last_seq"], 3, "{done}");
    assert_eq!(cycle["applied"], 1, "{done}");
    assert_eq!(cycle["duplicates"], 1, "{done}");
    assert_eq!(cycle["parked"], 1, "{done}");
    assert_eq!(cycle["dead"], 0, "{done}");
    assert_eq!(cycle["ignored"], 0, "{done}");

    // At debug, the pull and the batch's transaction, each inside the same round.
    let pulled = logs.wait_for("pulled").await;
    assert_eq!(pulled["fields"]["events"], 3, "{pulled}");
    assert_eq!(span(&pulled, "pull_cycle")["shard"], 0, "{pulled}");
    let committed = logs.wait_for("batch committed").await;
    let apply = &committed["span"];
    assert_eq!(apply["name"], "apply_batch", "{committed}");
    assert_eq!(apply["events"], 3, "{committed}");
    assert_eq!(apply["applied"], 1, "{committed}");
    assert_eq!(apply["duplicates"], 1, "{committed}");
    assert_eq!(apply["parked"], 1, "{committed}");
    assert_eq!(apply["dead"], 0, "{committed}");
    let outer = span(&committed, "pull_cycle");
    assert_eq!(
        (&outer["shard"], &outer["first_seq"], &outer["last_seq"]),
        (&0.into(), &1.into(), &3.into()),
        "{committed}"
    );
    // No span per event: one round, one batch.
    let lines = logs.lines();
    let batch_lines: Vec<_> = lines
        .iter()
        .filter(|l| l["span"]["name"] == "apply_batch")
        .collect();
    assert_eq!(batch_lines.len(), 1, "{batch_lines:#?}");
}

#[tokio::test]
async fn an_http_request_span_names_its_route_and_status() {
    let (logs, _guard) = capture("keffi_ledger=debug");
    let db = common::sqlite().await;
    let (_trigger, shutdown) = keffi_ledger::shutdown::channel();
    let state = keffi_ledger::state::AppState {
        store: db.store.clone(),
        puller: Arc::new(PullerStatus::disabled()),
        hooks: None,
        edge: None,
        changes: keffi_ledger::changes::Changes::default(),
        auth: keffi_ledger::api::access::auth::AdminAuth::Disabled,
        shutdown,
        last_reconcile: keffi_ledger::reconciler::LastRun::default(),
        sse_max_age: Duration::from_secs(60),
        default_gateway: keffi_shared::Provider::Paystack,
        metrics: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = keffi_ledger::http::router(state);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });

    let resp = reqwest::get(format!("{base}/v1/orders/ord_secret_ref_42"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let line = logs.wait_for("response").await;
    let request = &line["span"];
    assert_eq!(request["name"], "http_request", "{line}");
    assert_eq!(request["method"], "GET", "{line}");
    assert_eq!(request["route"], "/v1/orders/{reference}", "{line}");
    assert_eq!(request["status"], 404, "{line}");
    assert!(request["latency_ms"].as_f64().is_some(), "{line}");
    assert!(
        !logs
            .lines()
            .iter()
            .any(|l| l.to_string().contains("ord_secret_ref_42")),
        "the raw path (with its reference) is not logged"
    );
}
