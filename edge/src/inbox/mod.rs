//! The Inbox: one Durable Object per shard, each a durable log in its own SQLite database.
//!
//! Durability: the object's output gate holds every answer until the writes made before it are
//! durable, so when `/append` answers, the event is stored; the Worker answers the provider 200
//! only after that. Long-poll pulls wait on an in-memory list of wakers that appends signal;
//! while a pull waits on a timer, the object keeps serving appends.

mod log;
mod schema;

use std::cell::RefCell;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::select;
use keffi_shared::edge::Rejection;
use keffi_shared::version::V1;
use keffi_shared::wire::{AckRequest, AckResponse, ErrorBody, PullQuery};
use worker::{
    durable_object, Date, Delay, DurableObject, Env, Request, Response, Result, SqlStorage, State,
};

use crate::env;
use crate::protocol::{AppendHead, ShardReport};
use crate::respond;

#[durable_object]
pub struct Inbox {
    state: State,
    env: Env,
    sql: SqlStorage,
    /// Pulls waiting for the next append.
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl DurableObject for Inbox {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        if let Err(e) = schema::migrate(&sql) {
            worker::console_error!("inbox schema migration failed: {e}");
        }
        Inbox {
            state,
            env,
            sql,
            waiters: RefCell::new(Vec::new()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let result = match req.path().as_str() {
            "/append" => {
                // Stored as received: the Worker serialised it once; only its head is read.
                let text = req.text().await?;
                let head: AppendHead = serde_json::from_str(&text)
                    .map_err(|e| worker::Error::RustError(format!("not an envelope: {e}")))?;
                let appended = log::append(&self.sql, &head, &text)?;
                self.wake_waiters();
                respond::json(200, &appended)
            }
            "/pull" => {
                let query = req.url()?.query().unwrap_or_default().to_owned();
                self.pull(&query).await
            }
            "/ack" => {
                let ack: AckRequest = req.json().await?;
                self.ack(ack).await
            }
            "/backlog" => {
                let shard = shard_param(&req)?;
                respond::json(
                    200,
                    &ShardReport {
                        backlog: log::backlog(&self.sql, shard)?,
                        outcomes: log::outcomes(&self.sql)?,
                    },
                )
            }
            "/bench-append" => {
                // The benchmark floor: one insert of the raw body, nothing else.
                let body = req.text().await?;
                self.sql.exec(
                    "CREATE TABLE IF NOT EXISTS bench_floor (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)",
                    None,
                )?;
                self.sql.exec(
                    "INSERT INTO bench_floor (body) VALUES (?)",
                    vec![worker::SqlStorageValue::from(body)],
                )?;
                respond::json(200, &serde_json::json!({}))
            }
            other => respond::json(404, &ErrorBody::new("not_found", other)),
        };
        result.or_else(|e| {
            respond::rejection(&Rejection::InboxUnavailable(format!("inbox error: {e}")))
        })
    }

    /// Purges tombstones older than the dedupe window, then re-arms for the next oldest.
    async fn alarm(&self) -> Result<Response> {
        let window = self.tombstone_ms();
        let now = now_ms();
        if let Some(oldest) = log::purge(&self.sql, now - window)? {
            self.state
                .storage()
                .set_alarm(Duration::from_millis(
                    (oldest + window - now).max(1000) as u64
                ))
                .await?;
        }
        Response::empty()
    }
}

impl Inbox {
    async fn pull(&self, query: &str) -> Result<Response> {
        let q = match PullQuery::from_query(query) {
            Ok(q) => q,
            Err(m) => return respond::rejection(&Rejection::BadRequest(m)),
        };
        let limit = q.effective_limit();
        let max_wait = env::settings(&self.env).map_or(20_000, |s| s.long_poll_max_ms);
        let deadline = now_ms() + q.wait_ms.unwrap_or(0).min(max_wait) as i64;
        loop {
            let batch = log::pull(&self.sql, q.shard, q.after, limit, q.skip_source.as_deref())?;
            let remaining = deadline - now_ms();
            if !batch.events.is_empty() || remaining <= 0 {
                return respond::json(200, &batch);
            }
            let (tx, rx) = oneshot::channel();
            {
                let mut waiters = self.waiters.borrow_mut();
                // Pulls that timed out dropped their receivers; forget them.
                waiters.retain(|w| !w.is_canceled());
                waiters.push(tx);
            }
            let timer = Delay::from(Duration::from_millis(remaining as u64));
            select(rx, Box::pin(timer)).await;
        }
    }

    async fn ack(&self, ack: AckRequest) -> Result<Response> {
        match log::ack(&self.sql, ack.upto, now_ms())? {
            log::Acked::AheadOfLog { head } => respond::rejection(&Rejection::AckAheadOfLog {
                upto: ack.upto,
                head,
            }),
            log::Acked::Upto(acked_upto) => {
                let storage = self.state.storage();
                if storage.get_alarm().await?.is_none() {
                    storage
                        .set_alarm(Duration::from_millis(self.tombstone_ms() as u64))
                        .await?;
                }
                respond::json(
                    200,
                    &AckResponse {
                        v: V1,
                        shard: ack.shard,
                        acked_upto,
                    },
                )
            }
        }
    }

    fn wake_waiters(&self) {
        for waiter in self.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }

    fn tombstone_ms(&self) -> i64 {
        env::settings(&self.env).map_or(7 * 24 * 3_600_000, |s| s.tombstone_ms)
    }
}

fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}

fn shard_param(req: &Request) -> Result<u32> {
    let url = req.url()?;
    url.query_pairs()
        .find(|(k, _)| k == "shard")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| worker::Error::RustError("missing shard".into()))
}
