//! Runtime sources at the edge: their Durable Object ([`object`]), the isolate's copy of them
//! (the whole table, read again at most every `KEFFI_SOURCE_CACHE_MS`, and then only if its
//! version moved: the staleness of an added, rotated or removed source, and one small request
//! to the object per isolate per staleness whatever the traffic), and the ledger's routes that
//! manage them (`/ledger/sources…`, behind the pull token).
//!
//! A source in `KEFFI_SOURCES` always wins: it is never looked up here, a runtime source
//! cannot take its name, and the list shows it as `static`.

pub mod object;
mod verify;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use keffi_shared::edge::sources::snapshot::{Snapshot, SnapshotAnswer};
use keffi_shared::edge::sources::{
    static_view, valid_runtime_name, SourceList, SourceView, StoredSource,
};
use keffi_shared::edge::{EdgeSettings, Rejection, Route, SourceConfig};
use keffi_shared::version::V1;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Date, Env, Method, Request, Response, Stub, Url};

use crate::{respond, shards};
use object::Row;

pub const SOURCES_BINDING: &str = "SOURCES";
const OBJECT_NAME: &str = "sources";
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

thread_local! {
    static SNAPSHOT: RefCell<Snapshot> = RefCell::new(Snapshot::default());
    /// Verifiers built from the snapshot, dropped at each read of it (an overlap may have
    /// ended since they were built).
    static CONFIGS: RefCell<HashMap<String, Rc<SourceConfig>>> = RefCell::new(HashMap::new());
}

/// Reads the table again if this isolate's copy is older than the staleness.
async fn fresh(env: &Env, settings: &EdgeSettings) -> Result<(), Rejection> {
    let now = now_ms();
    if !SNAPSHOT.with(|s| s.borrow().stale(now, settings.source_cache_ms)) {
        return Ok(());
    }
    let known = SNAPSHOT.with(|s| s.borrow().known());
    let query: Vec<(&str, String)> = known
        .map(|v| ("known", v.to_string()))
        .into_iter()
        .collect();
    let answer: SnapshotAnswer = call(env, Method::Get, "snapshot", &query, None)
        .await
        .map_err(Failure::into_rejection)?;
    SNAPSHOT.with(|s| s.borrow_mut().refresh(answer, now));
    CONFIGS.with(|c| c.borrow_mut().clear());
    Ok(())
}

/// The runtime source `name`, if there is one (the caller has found no static one).
pub async fn runtime(
    env: &Env,
    settings: &EdgeSettings,
    name: &str,
) -> Result<Option<Rc<SourceConfig>>, Rejection> {
    if !valid_runtime_name(name) {
        return Ok(None);
    }
    fresh(env, settings).await?;
    if let Some(config) = CONFIGS.with(|c| c.borrow().get(name).cloned()) {
        return Ok(Some(config));
    }
    let Some(stored) = SNAPSHOT.with(|s| s.borrow().get(name).cloned()) else {
        return Ok(None);
    };
    let keys = settings
        .seal_keys
        .as_ref()
        .map_err(|e| Rejection::Misconfigured(e.to_string()))?;
    let config = Rc::new(stored.config(name, now_ms(), &|sealed| keys.open(name, sealed))?);
    CONFIGS.with(|c| c.borrow_mut().insert(name.to_owned(), config.clone()));
    Ok(Some(config))
}

/// Every runtime source's name (for `/stats`).
pub async fn runtime_names(env: &Env, settings: &EdgeSettings) -> Result<Vec<String>, Rejection> {
    fresh(env, settings).await?;
    Ok(SNAPSHOT.with(|s| s.borrow().names().map(str::to_owned).collect()))
}

/// Why a call to the `Sources` object failed: a rejection of ours, or the object's own
/// error answer, passed on as it is.
enum Failure {
    Rejected(Rejection),
    Answered(Response),
}

impl From<Rejection> for Failure {
    fn from(r: Rejection) -> Self {
        Failure::Rejected(r)
    }
}

impl Failure {
    /// On a delivery's path every failure of the object is ours: 503, so the provider retries.
    fn into_rejection(self) -> Rejection {
        match self {
            Failure::Rejected(r) => r,
            Failure::Answered(resp) => {
                Rejection::InboxUnavailable(format!("sources answered {}", resp.status_code()))
            }
        }
    }
}

/// `/ledger/sources…` (the caller has checked the pull token).
pub async fn handle(
    req: Request,
    env: &Env,
    settings: &EdgeSettings,
    route: Route,
) -> worker::Result<Response> {
    match serve(req, env, settings, route).await {
        Ok(resp) => Ok(resp),
        Err(Failure::Rejected(r)) => respond::rejection(&r),
        Err(Failure::Answered(resp)) => respond::from_object_error(resp).await,
    }
}

async fn serve(
    mut req: Request,
    env: &Env,
    settings: &EdgeSettings,
    route: Route,
) -> Result<Response, Failure> {
    let now = now_ms();
    match route {
        Route::Sources => {
            let rows: Vec<Row> = call(env, Method::Get, "list", &[], None).await?;
            let mut sources: Vec<SourceView> = settings.sources.iter().map(static_view).collect();
            sources.extend(
                rows.into_iter()
                    .filter(|r| settings.source(&r.name).is_none())
                    .map(|r| r.source.view(&r.name, now)),
            );
            sources.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(json(&SourceList { v: V1, sources })?)
        }
        Route::Source(name) | Route::RotateSource(name) if settings.source(&name).is_some() => {
            match (req.method(), settings.source(&name)) {
                (Method::Get, Some(s)) => Ok(json(&static_view(s))?),
                _ => Err(Rejection::SourceStatic.into()),
            }
        }
        Route::Source(name) => {
            let stored: Option<StoredSource> = match req.method() {
                Method::Get => call(env, Method::Get, "get", &named(&name), None).await?,
                Method::Put => {
                    let body = text(&mut req).await?;
                    Some(written(
                        call(env, Method::Post, "put", &named(&name), Some(body)).await,
                    )?)
                }
                _ => {
                    let gone: Option<StoredSource> =
                        written(call(env, Method::Post, "delete", &named(&name), None).await)?;
                    if gone.is_some() {
                        return Ok(json(&Deleted {
                            v: V1,
                            name,
                            deleted: true,
                        })?);
                    }
                    None
                }
            };
            let stored = stored.ok_or(Rejection::UnknownSource)?;
            Ok(json(&stored.view(&name, now))?)
        }
        Route::VerifySource(name) => {
            let config = match settings.source(&name) {
                Some(s) => Rc::new(s.clone()),
                None => runtime(env, settings, &name)
                    .await?
                    .ok_or(Rejection::UnknownSource)?,
            };
            Ok(verify::call(&req, settings, &config).await?)
        }
        Route::RotateSource(name) => {
            let body = text(&mut req).await?;
            let stored: StoredSource =
                written(call(env, Method::Post, "rotate", &named(&name), Some(body)).await)?;
            Ok(json(&stored.view(&name, now))?)
        }
        _ => Err(Rejection::NotFound.into()),
    }
}

#[derive(Serialize)]
struct Deleted {
    v: V1,
    name: String,
    deleted: bool,
}

/// A write's answer, after dropping this isolate's copy of the table, so the change shows here
/// at once (other isolates see it within the staleness). Dropped once the write is done, not
/// before: a delivery read in between would otherwise keep the old table for the staleness.
/// Dropped on a failure too, since the write may have happened.
fn written<T>(answer: Result<T, Failure>) -> Result<T, Failure> {
    SNAPSHOT.with(|s| s.borrow_mut().invalidate());
    CONFIGS.with(|c| c.borrow_mut().clear());
    answer
}

fn named(name: &str) -> [(&'static str, String); 1] {
    [("name", name.to_owned())]
}

/// The body of a source write, refused unread when it declares more than the object takes.
async fn text(req: &mut Request) -> Result<String, Rejection> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > object::MAX_BODY as u64) {
        return Err(Rejection::PayloadTooLarge {
            limit: object::MAX_BODY as u64,
        });
    }
    req.text()
        .await
        .map_err(|e| Rejection::BadRequest(format!("cannot read the body: {e}")))
}

fn stub(env: &Env) -> Result<Stub, Rejection> {
    env.durable_object(SOURCES_BINDING)
        .map_err(|e| Rejection::Misconfigured(format!("binding {SOURCES_BINDING}: {e}")))?
        .get_by_name(OBJECT_NAME)
        .map_err(|e| Rejection::InboxUnavailable(format!("sources: {e}")))
}

/// One request to the `Sources` object; its error answers are passed on as they are.
async fn call<T: DeserializeOwned>(
    env: &Env,
    method: Method,
    op: &str,
    query: &[(&str, String)],
    body: Option<String>,
) -> Result<T, Failure> {
    let mut url = Url::parse("https://sources/")
        .map_err(|e| Rejection::InboxUnavailable(format!("sources url: {e}")))?;
    url.set_path(op);
    for (k, v) in query {
        url.query_pairs_mut().append_pair(k, v);
    }
    let req = shards::request(method, url.as_str(), body)?;
    let mut resp = shards::call(&stub(env)?, req, CALL_TIMEOUT).await?;
    if resp.status_code() != 200 {
        return Err(Failure::Answered(resp));
    }
    Ok(resp
        .json()
        .await
        .map_err(|e| Rejection::InboxUnavailable(format!("unreadable sources answer: {e}")))?)
}

fn json<T: Serialize>(body: &T) -> Result<Response, Rejection> {
    respond::json(200, body).map_err(|e| Rejection::InboxUnavailable(e.to_string()))
}

fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}
