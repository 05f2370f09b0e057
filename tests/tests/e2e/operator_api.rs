//! The operator's routes against the running `keffi-ledger` binary, on SQLite and Postgres:
//! an order's timeline (order, events with raw bodies, journal, in time order), search by
//! reference / event id / idempotency key, the events list by provider and paged, bulk replay
//! (a dry run counts what the real run replays; a second run takes nothing it fixed), and the
//! chart series (their counts are the events sent).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use keffi_tests::edge::{PAYSTACK_SECRET, STRIPE_SECRET};
use keffi_tests::gateway::{self, Delivery};
use keffi_tests::ledger::{TestDb, TestLedger, ADMIN_TOKEN};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

struct Api {
    ledger: TestLedger,
    http: Client,
    _db: TestDb,
}

impl Api {
    /// A ledger taking Paystack and Stripe hooks; a parked event is orphaned after a second.
    async fn start(db: TestDb) -> anyhow::Result<Api> {
        let url = db.url();
        let ledger = TestLedger::start(
            &[
                "--database-url",
                &url,
                "--park-timeout",
                "1s",
                "--parked-sweep-interval",
                "200ms",
            ],
            &[
                (
                    "KEFFI_SOURCES",
                    r#"[{"name":"paystack","provider":"paystack"},{"name":"stripe","provider":"stripe"}]"#,
                ),
                ("KEFFI_SECRET_PAYSTACK", PAYSTACK_SECRET),
                ("KEFFI_SECRET_STRIPE", STRIPE_SECRET),
            ],
        )
        .await?;
        Ok(Api {
            ledger,
            http: Client::builder().timeout(Duration::from_secs(60)).build()?,
            _db: db,
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, Value)> {
        let resp = self
            .http
            .get(self.ledger.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?;
        Ok((resp.status(), resp.json().await.unwrap_or(Value::Null)))
    }

    async fn ok(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.get(path).await?;
        anyhow::ensure!(status == 200, "GET {path}: {status} {body}");
        Ok(body)
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<(StatusCode, Value)> {
        let resp = self
            .http
            .post(self.ledger.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await?;
        Ok((resp.status(), resp.json().await.unwrap_or(Value::Null)))
    }

    async fn hook(&self, source: &str, d: &Delivery) -> anyhow::Result<()> {
        let resp = d
            .post(&self.http, &self.ledger.url(&format!("/hooks/{source}")))
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 200, "hook answered {}", resp.status());
        Ok(())
    }

    /// Every event matching `query`, paging through with `limit`, newest first.
    async fn all_events(&self, query: &str, limit: u32) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/events?limit={limit}{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.ok(&path).await?;
            out.extend(page["data"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(out),
            }
        }
    }

    async fn wait_dead(&self, n: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let dead = self.all_events("&status=dead", 200).await?;
            if dead.len() == n {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "{} dead, not {n}", dead.len());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn refund(reference: &str, amount: i64) -> anyhow::Result<Delivery> {
    Ok(gateway::paystack_body(
        PAYSTACK_SECRET,
        serde_json::to_vec(&json!({"event": "refund.processed", "data": {
            "status": "processed", "transaction_reference": reference,
            "refund_reference": format!("rf_{reference}"), "amount": amount.to_string(),
            "currency": "NGN"}}))?,
    ))
}

fn ids(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

/// A ledger with what every scenario reads: an order `ord_t`, a charge that can never apply
/// (dead for good), refunds ahead of their charges (orphaned, dead) for `ord_t` and
/// `bulk_1..3`, then those charges, 120 more Paystack charges and 5 Stripe events.
async fn seeded(db: TestDb) -> anyhow::Result<Api> {
    let api = Api::start(db).await?;
    let (status, _) = api
        .post(
            "/v1/orders",
            json!({"reference": "ord_t", "amount": 500000, "currency": "NGN"}),
        )
        .await?;
    assert_eq!(status, 201);

    // Dead for good: a charge whose amount is not a number.
    let never = gateway::paystack_body(
        PAYSTACK_SECRET,
        serde_json::to_vec(&json!({"event": "charge.success", "data": {
            "id": 9, "reference": "ord_bad", "amount": "lots", "currency": "NGN", "status": "success"}}))?,
    );
    api.hook("paystack", &never).await?;
    // Refunds ahead of their charges, orphaned (dead) after a second; then the charges.
    for r in ["ord_t", "bulk_1", "bulk_2", "bulk_3"] {
        api.hook("paystack", &refund(r, 20000)?).await?;
    }
    api.wait_dead(5).await?;
    let charge = gateway::paystack_charge_success(PAYSTACK_SECRET, 4242, "ord_t", 500000);
    api.hook("paystack", &charge).await?;
    for i in 1..=3u64 {
        let c = gateway::paystack_charge_success(
            PAYSTACK_SECRET,
            5000 + i,
            &format!("bulk_{i}"),
            300000,
        );
        api.hook("paystack", &c).await?;
    }
    // Some volume: 120 more Paystack charges and 5 Stripe events.
    for i in 0..120u64 {
        let c = gateway::paystack_charge_success(
            PAYSTACK_SECRET,
            10_000 + i,
            &format!("seed_{i}"),
            100_000,
        );
        api.hook("paystack", &c).await?;
    }
    for i in 0..5 {
        let e = gateway::stripe_event(
            STRIPE_SECRET,
            &format!("evt_{i}"),
            "charge.succeeded",
            gateway::now_unix(),
        );
        api.hook("stripe", &e).await?;
    }

    Ok(api)
}

/// Replays `ord_t`'s orphaned refund (its charge has arrived since) and returns its id.
async fn replay_ord_t_refund(api: &Api) -> anyhow::Result<i64> {
    let by_ref = api
        .all_events("&provider=paystack&reference=ord_t", 50)
        .await?;
    let refund_id = by_ref
        .iter()
        .find(|e| e["event_type"] == "refund.processed")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, replayed) = api
        .post(&format!("/v1/events/{refund_id}/replay"), json!(null))
        .await?;
    assert_eq!(
        (status.as_u16(), &replayed["after"]),
        (200, &json!("applied"))
    );

    Ok(refund_id)
}

/// The events list: filtered by provider, status and reference, paged newest first.
async fn the_events_list_filters_and_pages(db: TestDb) -> anyhow::Result<()> {
    let api = seeded(db).await?;
    // ---- Provider filter and paging.
    let all = api.all_events("", 200).await?;
    assert_eq!(all.len(), 1 + 4 + 1 + 3 + 120 + 5);
    let paystack = api.all_events("&provider=paystack", 7).await?;
    assert_eq!(paystack.len(), all.len() - 5);
    assert!(paystack.iter().all(|e| e["provider"] == "paystack"));
    let paystack_ids = ids(&paystack);
    assert!(
        paystack_ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, each once across pages"
    );
    let stripe = api.all_events("&provider=stripe", 2).await?;
    assert_eq!(stripe.len(), 5);
    assert!(stripe.iter().all(|e| e["source"] == "stripe"));
    let dead_paystack = api.all_events("&provider=paystack&status=dead", 50).await?;
    assert_eq!(dead_paystack.len(), 5);
    assert!(api
        .all_events("&provider=flutterwave", 50)
        .await?
        .is_empty());
    let by_ref = api
        .all_events("&provider=paystack&reference=ord_t", 50)
        .await?;
    assert_eq!(by_ref.len(), 2);

    Ok(())
}

/// A reference's timeline (order, events with raw bodies, journal, in time order) and search
/// by reference, event id and idempotency key, including a reference only events name.
async fn the_timeline_and_search(db: TestDb) -> anyhow::Result<()> {
    let api = seeded(db).await?;
    let refund_id = replay_ord_t_refund(&api).await?;
    let t = api.ok("/v1/orders/ord_t/timeline").await?;
    assert_eq!(t["reference"], "ord_t");
    assert_eq!(t["order"]["reference"], "ord_t");
    assert_eq!(t["payment"]["refunded"], 20000);
    assert_eq!(t["truncated"], false);
    let entries = t["entries"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "order_created", "{kinds:?}");
    let at: Vec<i64> = entries
        .iter()
        .map(|e| e["at_ms"].as_i64().unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "in time order: {at:?}");
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count("event_received"), 2, "{kinds:?}");
    assert_eq!(count("event_settled"), 2, "{kinds:?}");
    assert_eq!(count("journal_posted"), 2, "charge and refund: {kinds:?}");
    assert_eq!(count("order_updated"), 1, "{kinds:?}");
    // Each event with its raw body and headers; each transaction with balanced lines, linked
    // to the event that posted it.
    let received: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "event_received")
        .collect();
    let charge_entry = received
        .iter()
        .find(|e| e["event"]["event_type"] == "charge.success")
        .unwrap();
    assert!(charge_entry["event"]["body"]
        .as_str()
        .unwrap()
        .contains("\"reference\":\"ord_t\""));
    assert!(charge_entry["event"]["headers"]["x-paystack-signature"].is_string());
    // The refund arrived first (orphaned, then replayed): its arrival precedes the charge's.
    assert_eq!(received[0]["event"]["event_type"], "refund.processed");
    for tx in entries.iter().filter(|e| e["kind"] == "journal_posted") {
        let lines = tx["transaction"]["entries"].as_array().unwrap();
        assert_eq!(
            lines
                .iter()
                .map(|l| l["amount"].as_i64().unwrap())
                .sum::<i64>(),
            0
        );
        assert!(tx["event_id"].is_i64(), "{tx}");
    }
    // The refund's settling (the replay) is after the charge's journal transaction.
    let pos = |pred: &dyn Fn(&Value) -> bool| entries.iter().position(pred).unwrap();
    let refund_settled =
        pos(&|e| e["kind"] == "event_settled" && e["event_id"] == json!(refund_id));
    let charge_posted =
        pos(&|e| e["kind"] == "journal_posted" && e["transaction"]["kind"] == "charge");
    assert!(charge_posted < refund_settled, "{kinds:?}");

    assert_eq!(api.get("/v1/orders/nobody/timeline").await?.0, 404);

    // ---- Search.
    let kinds_of = |r: &Value| -> BTreeSet<String> {
        r["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = api.ok("/v1/search?q=ord_t").await?;
    assert_eq!(kinds_of(&r), ["order", "payment"].map(String::from).into());
    let charge_id = charge_entry["event"]["id"].as_i64().unwrap();
    let r = api.ok(&format!("/v1/search?q={charge_id}")).await?;
    assert_eq!(r["matches"][0]["kind"], "event_id");
    assert_eq!(r["matches"][0]["reference"], "ord_t");
    let r = api
        .ok("/v1/search?q=paystack%3Acharge.success%3A4242")
        .await?;
    assert_eq!(r["matches"][0]["kind"], "idempotency_key");
    assert_eq!(r["matches"][0]["event_id"], charge_id);
    assert!(api.ok("/v1/search?q=nothing").await?["matches"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(api.get("/v1/search?q=").await?.0, 422);
    assert_eq!(api.get("/v1/search").await?.0, 400);

    // A reference only events name (a refund whose charge never came, orphaned): it has a
    // timeline and search finds it.
    api.hook("paystack", &refund("ghost", 1000)?).await?;
    api.wait_dead(5).await?;
    let ghost = api.ok("/v1/orders/ghost/timeline").await?;
    assert!(ghost["order"].is_null() && ghost["payment"].is_null());
    assert_eq!(ghost["entries"][0]["event"]["status"], "dead");
    assert!(ghost["entries"][0]["event"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("orphaned"));
    let r = api.ok("/v1/search?q=ghost").await?;
    assert_eq!(r["matches"][0]["kind"], "reference");
    Ok(())
}

/// Bulk replay (a dry run counts what the real run replays; a second run takes nothing it
/// fixed), then the chart series, whose counts are the events sent.
async fn bulk_replay_and_the_series(db: TestDb) -> anyhow::Result<()> {
    let api = seeded(db).await?;
    replay_ord_t_refund(&api).await?;
    // ---- Bulk replay: the charge with no amount and the three orphaned refunds are dead now.
    let dry = |extra: Value| {
        let mut body = json!({"status": "dead", "dry_run": true});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        api.post("/v1/events/replay", body)
    };
    let (status, counted) = dry(json!({})).await?;
    assert_eq!(status, 200, "{counted}");
    assert_eq!(counted["matched"], 4);
    assert_eq!(counted["replayed"], 0);
    let (_, one_ref) = dry(json!({"reference": "bulk_2"})).await?;
    assert_eq!(one_ref["matched"], 1);
    let (_, stripe_only) = dry(json!({"provider": "stripe"})).await?;
    assert_eq!(stripe_only["matched"], 0);
    let (_, two) = dry(json!({"limit": 2})).await?;
    assert_eq!(two["ids"].as_array().unwrap().len(), 2);
    assert_eq!(two["next_after_id"], two["ids"][1]);
    assert_eq!(dry(json!({"limit": 501})).await?.0, 422);
    assert_eq!(dry(json!({"status": "parked"})).await?.0, 422);
    assert_eq!(
        api.post("/v1/events/replay", json!({"status": "dead"}))
            .await?
            .0,
        422,
        "dry_run is required"
    );
    // Nothing was replayed by the dry runs.
    assert_eq!(api.all_events("&status=dead", 50).await?.len(), 4);

    let (status, done) = api
        .post(
            "/v1/events/replay",
            json!({"status": "dead", "dry_run": false, "provider": "paystack"}),
        )
        .await?;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["replayed"], counted["matched"], "{done}");
    assert_eq!(done["ids"], counted["ids"]);
    assert_eq!(
        done["by_status"],
        json!({"applied": 3, "ignored": 0, "parked": 0, "dead": 1})
    );
    for i in 1..=3 {
        let p = api.ok(&format!("/v1/payments/bulk_{i}")).await?;
        assert_eq!(p["refunded"], 20000, "{p}");
    }
    // Again: only the event still dead is taken (and stays dead); past it, nothing.
    let (_, again) = api
        .post(
            "/v1/events/replay",
            json!({"status": "dead", "dry_run": false}),
        )
        .await?;
    assert_eq!(again["replayed"], 1, "{again}");
    assert_eq!(again["by_status"]["dead"], 1);
    let still_dead = again["ids"][0].as_i64().unwrap();
    let (_, past) = api
        .post(
            "/v1/events/replay",
            json!({"status": "dead", "dry_run": false, "after_id": still_dead}),
        )
        .await?;
    assert_eq!(
        (&past["matched"], &past["replayed"]),
        (&json!(0), &json!(0))
    );

    // ---- Series: the per-minute counts are the events sent, the hours the dead.
    let s = api.ok("/v1/stats/series?minutes=15").await?;
    let minutes = s["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 15);
    let sum = |field: &str| -> i64 { minutes.iter().map(|m| m[field].as_i64().unwrap()).sum() };
    let all = api.all_events("", 200).await?;
    assert_eq!(sum("received"), all.len() as i64, "{s}");
    let applied = all.iter().filter(|e| e["status"] == "applied").count();
    assert_eq!(sum("applied"), applied as i64, "{s}");
    let hours = s["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let dead: i64 = hours.iter().map(|h| h["dead"].as_i64().unwrap()).sum();
    assert_eq!(dead, 1);
    assert_eq!(s["puller_enabled"], false);
    assert!(s["lag"].as_array().unwrap().is_empty());
    assert_eq!(api.get("/v1/stats/series?minutes=0").await?.0, 422);
    assert_eq!(api.get("/v1/stats/series?minutes=181").await?.0, 422);

    Ok(())
}

#[tokio::test]
async fn the_events_list_filters_and_pages_on_sqlite() -> anyhow::Result<()> {
    the_events_list_filters_and_pages(TestDb::sqlite().await?).await
}

#[tokio::test]
async fn the_events_list_filters_and_pages_on_postgres() -> anyhow::Result<()> {
    the_events_list_filters_and_pages(TestDb::postgres().await?).await
}

#[tokio::test]
async fn the_timeline_and_search_on_sqlite() -> anyhow::Result<()> {
    the_timeline_and_search(TestDb::sqlite().await?).await
}

#[tokio::test]
async fn the_timeline_and_search_on_postgres() -> anyhow::Result<()> {
    the_timeline_and_search(TestDb::postgres().await?).await
}

#[tokio::test]
async fn bulk_replay_and_the_series_on_sqlite() -> anyhow::Result<()> {
    bulk_replay_and_the_series(TestDb::sqlite().await?).await
}

#[tokio::test]
async fn bulk_replay_and_the_series_on_postgres() -> anyhow::Result<()> {
    bulk_replay_and_the_series(TestDb::postgres().await?).await
}
