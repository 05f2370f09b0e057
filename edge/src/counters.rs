//! Rejection counters: one small Durable Object (SQLite) counting refused deliveries per
//! source and reason. Counting happens after the response (`wait_until`), so a counter that
//! cannot be written never delays or changes an answer. Accepted and duplicate deliveries are
//! counted by the Inbox shards, in the same write as the append.

use keffi_shared::wire::ErrorBody;
use serde::Deserialize;
use worker::{
    durable_object, Context, DurableObject, Env, Method, Request, Response, Result, SqlStorage,
    SqlStorageValue, State,
};

use crate::protocol::{self, Rejected, RejectionCount};
use crate::{respond, shards};

pub const COUNTERS_BINDING: &str = "COUNTERS";
const OBJECT_NAME: &str = "rejections";
/// Source names are attacker-controlled on unknown routes; they are pooled under one name so
/// the table stays bounded.
pub const UNKNOWN_SOURCE: &str = "(unknown)";

/// Counts a rejection of a delivery to `source`, after the response is sent.
pub fn count_rejection(env: &Env, ctx: &Context, source: &str, reason: &str, known: bool) {
    let rejected = Rejected {
        source: if known { source } else { UNKNOWN_SOURCE }.to_owned(),
        reason: reason.to_owned(),
    };
    let Ok(stub) = env
        .durable_object(COUNTERS_BINDING)
        .and_then(|ns| ns.get_by_name(OBJECT_NAME))
    else {
        return;
    };
    ctx.wait_until(async move {
        let body = serde_json::to_string(&rejected).unwrap_or_default();
        if let Ok(req) = shards::request(Method::Post, protocol::COUNT_REJECTION, Some(body)) {
            let _ = stub.fetch_with_request(req).await;
        }
    });
}

/// All rejection counts.
pub async fn rejections(env: &Env) -> Result<Vec<RejectionCount>> {
    let stub = env
        .durable_object(COUNTERS_BINDING)?
        .get_by_name(OBJECT_NAME)?;
    let mut resp = stub.fetch_with_str(protocol::REJECTIONS).await?;
    resp.json().await
}

#[durable_object]
pub struct Counters {
    sql: SqlStorage,
}

impl DurableObject for Counters {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        // Idempotent; runs once per object start, before any request.
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS rejections (
                source TEXT NOT NULL,
                reason TEXT NOT NULL,
                count INTEGER NOT NULL,
                PRIMARY KEY (source, reason)
            )",
            None,
        );
        Counters { sql }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/reject" => {
                let r: Rejected = req.json().await?;
                self.sql.exec(
                    "INSERT INTO rejections (source, reason, count) VALUES (?, ?, 1)
                     ON CONFLICT (source, reason) DO UPDATE SET count = count + 1",
                    vec![
                        SqlStorageValue::from(r.source),
                        SqlStorageValue::from(r.reason),
                    ],
                )?;
                Response::empty()
            }
            "/rejections" => {
                #[derive(Deserialize)]
                struct Row {
                    source: String,
                    reason: String,
                    count: u64,
                }
                let rows: Vec<Row> = self
                    .sql
                    .exec("SELECT source, reason, count FROM rejections", None)?
                    .to_array()?;
                let counts: Vec<RejectionCount> = rows
                    .into_iter()
                    .map(|r| RejectionCount {
                        source: r.source,
                        reason: r.reason,
                        count: r.count,
                    })
                    .collect();
                respond::json(200, &counts)
            }
            other => respond::json(404, &ErrorBody::new("not_found", other)),
        }
    }
}
