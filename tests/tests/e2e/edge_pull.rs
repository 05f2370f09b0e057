//! The ledger's side of the edge, against the real Worker: pull and ack over several shards,
//! tombstones that keep deduping after an ack, state that survives a restart, long-poll, and
//! authentication on every ledger route.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use keffi_shared::wire::PullQuery;
use keffi_tests::edge::{EdgeConfig, TestEdge, PAYSTACK_SECRET, PULL_TOKEN};
use keffi_tests::gateway;

async fn deliver_charges(edge: &TestEdge, ids: impl Iterator<Item = u64>) -> anyhow::Result<()> {
    for id in ids {
        let d = gateway::paystack_charge_success(PAYSTACK_SECRET, id, &format!("ord_{id}"), 1000);
        let (status, body) = edge.deliver("paystack", &d).await?;
        assert_eq!(status, 200, "{body}");
    }
    Ok(())
}

fn query(shard: u32, after: u64) -> PullQuery {
    PullQuery {
        shard,
        after,
        limit: None,
        wait_ms: None,
        skip_source: None,
    }
}

#[tokio::test]
async fn pull_and_ack_round_trip_over_every_shard() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    deliver_charges(&edge, 1..=40).await?;

    // Paging with a small limit returns every event once, in seq order per shard.
    let events = edge.pull_all(3).await?;
    let keys: BTreeSet<String> = events.iter().map(|e| e.envelope.key.to_string()).collect();
    assert_eq!(events.len(), 40);
    assert_eq!(keys.len(), 40);
    let shards = edge.shards_report().await?;
    assert_eq!(shards.shards, 4);
    assert!(
        shards.backlog.iter().filter(|b| b.unacked > 0).count() >= 3,
        "40 keys spread over the shards: {shards:?}"
    );
    assert_eq!(shards.backlog.iter().map(|b| b.unacked).sum::<u64>(), 40);
    for b in &shards.backlog {
        assert_eq!(b.unacked, b.head_seq);
        assert!(b.oldest_unacked_ms.is_some() == (b.unacked > 0));
    }

    // Ack part of one shard: only the rest comes back.
    let busiest = shards.backlog.iter().max_by_key(|b| b.head_seq).unwrap();
    let (status, body) = edge.ack(busiest.shard, 2).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["acked_upto"], 2);
    let rest = edge.pull(query(busiest.shard, 0)).await?;
    assert_eq!(rest.events.first().map(|e| e.seq), Some(3));
    assert_eq!(rest.head_seq, busiest.head_seq);

    // Acks are idempotent and never move backwards; acking beyond the log is a 409.
    assert_eq!(edge.ack(busiest.shard, 2).await?.1["acked_upto"], 2);
    assert_eq!(edge.ack(busiest.shard, 1).await?.1["acked_upto"], 2);
    let (status, body) = edge.ack(busiest.shard, busiest.head_seq + 1).await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("ack_ahead_of_log"))
    );

    // Ack everything: nothing is pulled again, tombstones remain.
    edge.ack_all().await?;
    assert!(edge.pull_all(100).await?.is_empty());
    let shards = edge.shards_report().await?;
    assert_eq!(shards.backlog.iter().map(|b| b.tombstones).sum::<u64>(), 40);

    // A retry after the ack is still recognised: the tombstone dedupes it.
    let late = gateway::paystack_charge_success(PAYSTACK_SECRET, 7, "ord_7", 1000);
    let (status, body) = edge.deliver("paystack", &late).await?;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    assert!(edge.pull_all(100).await?.is_empty());

    // New events continue the sequence after the acked ones.
    deliver_charges(&edge, 1000..=1000).await?;
    let fresh = edge.pull_all(100).await?;
    assert_eq!(fresh.len(), 1);
    let shard = edge.shard_of(fresh[0].envelope.key.as_str());
    let before = shards.backlog[shard as usize].head_seq;
    assert_eq!(fresh[0].seq, before + 1);
    Ok(())
}

#[tokio::test]
async fn buffered_events_survive_a_restart() -> anyhow::Result<()> {
    let mut edge = TestEdge::start(EdgeConfig::standard()).await?;
    deliver_charges(&edge, 1..=6).await?;
    let shard_of_first = edge.shard_of("paystack:charge.success:1");
    let before = edge.pull(query(shard_of_first, 0)).await?;
    edge.ack(shard_of_first, before.events[0].seq).await?;

    edge.restart().await?;

    let after = edge.pull_all(100).await?;
    assert_eq!(after.len(), 5, "six stored, one acked before the restart");
    // The acked key's tombstone survived too.
    let retry = gateway::paystack_charge_success(PAYSTACK_SECRET, 1, "ord_1", 1000);
    assert_eq!(
        edge.deliver("paystack", &retry).await?.1["status"],
        "duplicate"
    );
    Ok(())
}

#[tokio::test]
async fn long_poll_returns_as_soon_as_an_event_arrives() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let shard = edge.shard_of("paystack:charge.success:500");

    // An idle shard holds the pull for the wait, then answers empty.
    let started = Instant::now();
    let empty = edge
        .pull(PullQuery {
            wait_ms: Some(600),
            ..query(shard, 0)
        })
        .await?;
    assert!(empty.events.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );

    // A pull waiting up to 15 s returns within a moment of the delivery.
    let started = Instant::now();
    let waiting = edge.pull(PullQuery {
        wait_ms: Some(15_000),
        ..query(shard, 0)
    });
    let deliver = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        deliver_charges(&edge, 500..=500).await
    };
    let (pulled, delivered) = tokio::join!(waiting, deliver);
    delivered?;
    let pulled = pulled?;
    assert_eq!(pulled.events.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn every_ledger_route_requires_a_valid_token() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let http = edge.http();
    let ack = r#"{"v":1,"shard":0,"upto":0}"#;
    for token in [None, Some("wrong"), Some("")] {
        for (method, path) in [
            ("GET", "/ledger/pull?shard=0"),
            ("POST", "/ledger/ack"),
            ("GET", "/ledger/shards"),
            ("GET", "/stats"),
            ("GET", "/ledger/sources"),
            ("GET", "/ledger/sources/paystack"),
            ("PUT", "/ledger/sources/evil"),
            ("DELETE", "/ledger/sources/paystack"),
            ("POST", "/ledger/sources/paystack/rotate"),
        ] {
            let put = r#"{"v":1,"provider":"paystack","secret":"sk_evil"}"#;
            let mut req = match method {
                "GET" => http.get(edge.url(path)),
                "PUT" => http.put(edge.url(path)).body(put),
                "DELETE" => http.delete(edge.url(path)),
                _ => http.post(edge.url(path)).body(ack),
            };
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let resp = req.send().await?;
            assert_eq!(resp.status(), 401, "{method} {path} with {token:?}");
            let body: serde_json::Value = resp.json().await?;
            assert!(body["error"]["code"].as_str().unwrap().ends_with("_token"));
        }
    }
    // Both rotated tokens work; health needs none.
    for t in ["old-token", PULL_TOKEN] {
        let resp = http
            .get(edge.url("/ledger/shards"))
            .bearer_auth(t)
            .send()
            .await?;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(http.get(edge.url("/healthz")).send().await?.status(), 200);
    // Nothing the refused writes asked for exists.
    let list: serde_json::Value = http
        .get(edge.url("/ledger/sources"))
        .bearer_auth(PULL_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert!(!list.to_string().contains("evil"), "{list}");
    Ok(())
}

#[tokio::test]
async fn bad_pull_and_ack_requests_are_400_with_json() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    let http = edge.http();
    for path in [
        "/ledger/pull",
        "/ledger/pull?shard=x",
        "/ledger/pull?shard=4",
        "/ledger/pull?shard=0&bogus=1",
    ] {
        let resp = http
            .get(edge.url(path))
            .bearer_auth(PULL_TOKEN)
            .send()
            .await?;
        assert_eq!(resp.status(), 400, "{path}");
        let body: serde_json::Value = resp.json().await?;
        assert_eq!(body["error"]["code"], "bad_request", "{path}");
    }
    for body in [
        "",
        "{",
        r#"{"v":2,"shard":0,"upto":0}"#,
        r#"{"v":1,"shard":9,"upto":0}"#,
    ] {
        let resp = http
            .post(edge.url("/ledger/ack"))
            .bearer_auth(PULL_TOKEN)
            .body(body)
            .send()
            .await?;
        assert_eq!(resp.status(), 400, "{body}");
    }
    Ok(())
}

#[tokio::test]
async fn tombstones_are_purged_by_an_alarm_after_the_window() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard().var("KEFFI_TOMBSTONE_SECONDS", "2")).await?;
    deliver_charges(&edge, 1..=5).await?;
    edge.ack_all().await?;
    let tombstones = |r: &keffi_shared::wire::ShardsResponse| {
        r.backlog.iter().map(|b| b.tombstones).sum::<u64>()
    };
    assert_eq!(tombstones(&edge.shards_report().await?), 5);

    // Within the window a retry is a duplicate; after it, the alarm has purged the key.
    let retry = gateway::paystack_charge_success(PAYSTACK_SECRET, 1, "ord_1", 1000);
    assert_eq!(
        edge.deliver("paystack", &retry).await?.1["status"],
        "duplicate"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut report = edge.shards_report().await?;
    while tombstones(&report) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        report = edge.shards_report().await?;
    }
    assert_eq!(tombstones(&report), 0, "{report:?}");
    // Storage stays bounded: the purged shard keeps its sequence (never reused).
    for b in &report.backlog {
        assert_eq!(b.acked_upto, b.head_seq);
        assert_eq!(b.unacked, 0);
    }
    Ok(())
}

/// A pull that skips one source answers every other source's events behind its backlog, in
/// order, and nothing of the skipped one; the log itself (and a plain pull of it) is
/// unchanged.
#[tokio::test]
async fn a_pull_can_look_past_one_sources_backlog() -> anyhow::Result<()> {
    let edge = TestEdge::start(EdgeConfig::standard()).await?;
    deliver_charges(&edge, 1..=40).await?;
    let quiet: Vec<_> = (0..3)
        .map(|i| {
            gateway::paystack_charge_success(PAYSTACK_SECRET, 900 + i, &format!("q_{i}"), 1000)
        })
        .collect();
    for d in &quiet {
        assert_eq!(
            edge.deliver(
                "paystack-ip",
                &d.clone()
                    .header("cf-connecting-ip", keffi_tests::edge::PAYSTACK_IP)
            )
            .await?
            .0,
            200
        );
    }
    deliver_charges(&edge, 41..=60).await?;
    let mut skipped_seen = 0;
    for shard in 0..edge.shards() {
        let all = edge.pull(query(shard, 0)).await?;
        let others: Vec<u64> = all
            .events
            .iter()
            .filter(|e| e.envelope.source != "paystack")
            .map(|e| e.seq)
            .collect();
        let skipping = edge
            .pull(PullQuery {
                skip_source: Some("paystack".into()),
                ..query(shard, 0)
            })
            .await?;
        assert!(skipping
            .events
            .iter()
            .all(|e| e.envelope.source == "paystack-ip"));
        let seqs: Vec<u64> = skipping.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, others, "shard {shard}: the others, in order");
        skipped_seen += seqs.len();
        assert_eq!(skipping.head_seq, all.head_seq);
    }
    assert_eq!(skipped_seen, 3);
    // A source name that is not one is refused.
    let resp = edge
        .http()
        .get(edge.url("/ledger/pull?shard=0&skip_source=a%20b"))
        .bearer_auth(PULL_TOKEN)
        .send()
        .await?;
    assert_eq!(resp.status(), 400);
    Ok(())
}
