//! Helpers shared by the ledger's integration tests: a store on each backend and envelopes as
//! the edge would deliver them.
#![allow(dead_code)]

use keffi_ledger::pipeline::Incoming;
use keffi_ledger::store::{ConnectOptions, InboxStatus, NewInboxEvent, SettledInbox, Store, Tx};
use keffi_shared::headers::RequestHeaders;
use keffi_shared::{derive_event, Envelope, MerchantId, Provider};
use keffi_tests::pg::TestDatabase;

/// A migrated store and whatever keeps its database alive.
pub struct TestStore {
    pub store: Store,
    _sqlite: Option<tempfile::TempDir>,
    _pg: Option<TestDatabase>,
}

pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let store = Store::connect(&url, &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    TestStore {
        store,
        _sqlite: Some(dir),
        _pg: None,
    }
}

pub async fn postgres() -> TestStore {
    let db = TestDatabase::create()
        .await
        .expect("a fresh Postgres database");
    let store = Store::connect(db.url(), &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    TestStore {
        store,
        _sqlite: None,
        _pg: Some(db),
    }
}

/// Runs an async check against both backends, as `<name>_sqlite` and `<name>_postgres` tests.
#[macro_export]
macro_rules! on_both_stores {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let s = $crate::common::sqlite().await;
                super::$name(&s.store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let s = $crate::common::postgres().await;
                super::$name(&s.store).await;
            }
        }
    };
}

/// The deployment's own merchant, whose events and orders most tests are about.
pub fn dm() -> MerchantId {
    MerchantId::default_merchant()
}

/// A merchant by id (tests name valid ones).
pub fn merchant(id: &str) -> MerchantId {
    MerchantId::parse(id).unwrap()
}

/// Adds merchant `id` (named after itself) to `store`, and returns it.
pub async fn add_merchant(store: &Store, id: &str) -> MerchantId {
    let m = merchant(id);
    store.add_merchant(&m, id, 0).await.unwrap();
    m
}

/// Creates the default merchant's order `reference` of `amount` kobo, now.
pub async fn order(store: &Store, reference: &str, amount: i64) {
    order_of(store, &dm(), reference, amount).await;
}

/// Creates `merchant`'s order `reference` of `amount` kobo, now.
pub async fn order_of(store: &Store, merchant: &MerchantId, reference: &str, amount: i64) {
    store
        .create_order(
            merchant,
            reference,
            keffi_shared::MinorUnits(amount),
            keffi_shared::Currency::NGN,
            None,
            keffi_ledger::store::now_ms(),
        )
        .await
        .unwrap();
}

/// `event`, as the merchant's (its source routed to it).
pub fn of(merchant: &MerchantId, mut event: Incoming) -> Incoming {
    event.merchant = merchant.clone();
    event
}

/// A Paystack webhook body, as an envelope the edge would have stored (the default
/// merchant's).
pub fn paystack(body: serde_json::Value) -> Incoming {
    let body = serde_json::to_vec(&body).unwrap();
    let headers = RequestHeaders::new().with("content-type", "application/json");
    let derived = derive_event(Provider::Paystack, &headers, &body).unwrap();
    Incoming {
        merchant: dm(),
        envelope: Envelope::new(
            "paystack",
            Provider::Paystack,
            derived.key,
            derived.event_type,
            1_764_000_000_000,
            &headers,
            body,
        ),
        origin: None,
    }
}

pub fn charge(id: u64, reference: &str, amount: i64, fees: i64) -> Incoming {
    paystack(serde_json::json!({
        "event": "charge.success",
        "data": {
            "id": id, "reference": reference, "amount": amount, "currency": "NGN",
            "status": "success", "fees": fees, "channel": "card",
            "paid_at": "2026-11-25T10:00:00.000Z"
        }
    }))
}

pub fn refund(reference: &str, refund_reference: &str, amount: i64) -> Incoming {
    paystack(serde_json::json!({
        "event": "refund.processed",
        "data": {
            "status": "processed", "transaction_reference": reference,
            "refund_reference": refund_reference, "amount": amount.to_string(), "currency": "NGN"
        }
    }))
}

/// Records `event` in the inbox inside `tx` with `status` (and `reason`, `reference`), as the
/// write path records a settled event: what another replica's uncommitted transaction holds.
pub async fn record_in(
    tx: &mut Tx,
    event: &Incoming,
    status: InboxStatus,
    reason: Option<&str>,
    reference: Option<&str>,
) {
    let row = NewInboxEvent {
        merchant: event.merchant.clone(),
        key: event.envelope.key.to_string(),
        source: "paystack".into(),
        provider: Provider::Paystack,
        event_type: event.envelope.event_type.clone(),
        received_at_ms: 0,
        position: None,
        envelope_json: event.envelope.to_json(),
    };
    let settled = SettledInbox {
        event: &row,
        status,
        reason,
        reference,
    };
    tx.insert_inbox_settled(&[settled], keffi_ledger::store::now_ms())
        .await
        .unwrap();
}

/// The inbox id of `event`, once recorded.
pub async fn inbox_id(store: &Store, event: &Incoming) -> i64 {
    store
        .inbox_by_key(&dm(), event.envelope.key.as_str())
        .await
        .unwrap()
        .expect("the event is recorded")
        .id
}

/// Journal transactions whose entries do not sum to zero in some currency (should be none).
pub async fn unbalanced_transactions(store: &Store) -> i64 {
    const SQL: &str = "SELECT COUNT(*) FROM (SELECT transaction_id, currency FROM journal_entries
         GROUP BY transaction_id, currency HAVING SUM(amount) <> 0) AS unbalanced";
    match store {
        Store::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await.unwrap(),
    }
}
