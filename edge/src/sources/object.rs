//! The `Sources` Durable Object: one object holding every runtime source, a row per source in
//! its SQLite table, each row the source's settings with its secrets sealed. Every write is a
//! read, a pure decision (`keffi_shared::edge::sources`) and a write inside one request to this
//! object, so two writes to one source can never interleave: the object runs one request's
//! synchronous code at a time.

use keffi_shared::edge::sources::seal::{SealError, NONCE_LEN};
use keffi_shared::edge::sources::snapshot::{SnapshotAnswer, SnapshotRow};
use keffi_shared::edge::sources::{PutSource, RotateSource, SourceError, StoredSource};
use keffi_shared::edge::Rejection;
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, Date, DurableObject, Env, Request, Response, Result, SqlStorage,
    SqlStorageValue, State,
};

use crate::{env, respond};

/// The largest write request read (a source's settings are well under 2 KB).
pub const MAX_BODY: usize = 16 * 1024;

/// A row as the list answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    pub source: StoredSource,
}

#[durable_object]
pub struct Sources {
    env: Env,
    sql: SqlStorage,
}

impl DurableObject for Sources {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        // Idempotent; runs once per object start, before any request.
        for ddl in [
            "CREATE TABLE IF NOT EXISTS sources (name TEXT PRIMARY KEY, spec TEXT NOT NULL)",
            // The table's version: every write and removal moves it, in the same synchronous
            // step, so an isolate that knows the version knows the whole table.
            "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
        ] {
            if let Err(e) = sql.exec(ddl, None) {
                worker::console_error!("sources schema failed: {e}");
            }
        }
        Sources { env, sql }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let param = |key: &str| {
            url.query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let name = param("name").unwrap_or_default();
        let result = match url.path() {
            "/get" => self.get(&name).and_then(|s| json(&s)),
            "/snapshot" => {
                let known = param("known").and_then(|v| v.parse().ok());
                self.snapshot(known).and_then(|s| json(&s))
            }
            "/list" => self.list().and_then(|rows| json(&rows)),
            "/put" => match body(&mut req).await {
                Ok(b) => self.put(&name, &b).and_then(|s| json(&s)),
                Err(r) => Err(r),
            },
            "/rotate" => match body(&mut req).await {
                Ok(b) => self.rotate(&name, &b).and_then(|s| json(&s)),
                Err(r) => Err(r),
            },
            "/delete" => self.delete(&name).and_then(|s| json(&s)),
            _ => Err(Rejection::NotFound),
        };
        result.or_else(|r| respond::rejection(&r))
    }
}

impl Sources {
    fn get(&self, name: &str) -> std::result::Result<Option<StoredSource>, Rejection> {
        #[derive(Deserialize)]
        struct Spec {
            spec: String,
        }
        let rows: Vec<Spec> = self
            .sql
            .exec(
                "SELECT spec FROM sources WHERE name = ?",
                vec![SqlStorageValue::from(name.to_owned())],
            )
            .and_then(|c| c.to_array())
            .map_err(storage)?;
        rows.into_iter()
            .next()
            .map(|r| parse(name, &r.spec))
            .transpose()
    }

    fn version(&self) -> std::result::Result<u64, Rejection> {
        #[derive(Deserialize)]
        struct V {
            v: i64,
        }
        let rows: Vec<V> = self
            .sql
            .exec("SELECT v FROM meta WHERE k = 'version'", None)
            .and_then(|c| c.to_array())
            .map_err(storage)?;
        Ok(rows.first().map_or(0, |r| r.v.max(0) as u64))
    }

    fn bump(&self) -> std::result::Result<(), Rejection> {
        self.sql
            .exec(
                "INSERT INTO meta (k, v) VALUES ('version', 1)
                 ON CONFLICT (k) DO UPDATE SET v = v + 1",
                None,
            )
            .map_err(storage)?;
        Ok(())
    }

    fn snapshot(&self, known: Option<u64>) -> std::result::Result<SnapshotAnswer, Rejection> {
        let version = self.version()?;
        if known == Some(version) {
            return Ok(SnapshotAnswer::for_known(known, version, Vec::new));
        }
        let rows = self
            .list()?
            .into_iter()
            .map(|r| SnapshotRow {
                name: r.name,
                source: r.source,
            })
            .collect();
        Ok(SnapshotAnswer::for_known(known, version, || rows))
    }

    fn list(&self) -> std::result::Result<Vec<Row>, Rejection> {
        #[derive(Deserialize)]
        struct NameSpec {
            name: String,
            spec: String,
        }
        let rows: Vec<NameSpec> = self
            .sql
            .exec("SELECT name, spec FROM sources ORDER BY name", None)
            .and_then(|c| c.to_array())
            .map_err(storage)?;
        rows.into_iter()
            .map(|r| {
                Ok(Row {
                    source: parse(&r.name, &r.spec)?,
                    name: r.name,
                })
            })
            .collect()
    }

    fn put(&self, name: &str, body: &str) -> std::result::Result<StoredSource, Rejection> {
        let req: PutSource = serde_json::from_str(body)
            .map_err(|e| Rejection::BadRequest(format!("invalid source: {e}")))?;
        let settings = env::settings(&self.env)?;
        let keys = settings.seal_keys.clone().map_err(SourceError::from)?;
        let previous = self.get(name)?;
        let seal = |secret: &str| Ok(keys.seal(name, secret, nonce()?));
        let stored = StoredSource::put(name, &req, previous.as_ref(), now_ms(), &seal)?;
        self.write(name, &stored)?;
        Ok(stored)
    }

    fn rotate(&self, name: &str, body: &str) -> std::result::Result<StoredSource, Rejection> {
        let req: RotateSource = serde_json::from_str(body)
            .map_err(|e| Rejection::BadRequest(format!("invalid rotation: {e}")))?;
        let settings = env::settings(&self.env)?;
        let keys = settings.seal_keys.clone().map_err(SourceError::from)?;
        let current = self.get(name)?.ok_or(Rejection::UnknownSource)?;
        let seal = |secret: &str| Ok(keys.seal(name, secret, nonce()?));
        let open = |sealed: &str| keys.open(name, sealed);
        let stored = current.rotate(&req, now_ms(), &seal, &open)?;
        if stored != current {
            self.write(name, &stored)?;
        }
        Ok(stored)
    }

    /// Removes the source; `None` if there was none.
    fn delete(&self, name: &str) -> std::result::Result<Option<StoredSource>, Rejection> {
        let existing = self.get(name)?;
        if existing.is_some() {
            self.sql
                .exec(
                    "DELETE FROM sources WHERE name = ?",
                    vec![SqlStorageValue::from(name.to_owned())],
                )
                .map_err(storage)?;
            self.bump()?;
        }
        Ok(existing)
    }

    fn write(&self, name: &str, stored: &StoredSource) -> std::result::Result<(), Rejection> {
        let spec = serde_json::to_string(stored)
            .map_err(|e| Rejection::InboxUnavailable(format!("sources: {e}")))?;
        self.sql
            .exec(
                "INSERT INTO sources (name, spec) VALUES (?, ?)
                 ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
                vec![
                    SqlStorageValue::from(name.to_owned()),
                    SqlStorageValue::from(spec),
                ],
            )
            .map_err(storage)?;
        self.bump()
    }
}

async fn body(req: &mut Request) -> std::result::Result<String, Rejection> {
    let text = req
        .text()
        .await
        .map_err(|e| Rejection::BadRequest(format!("cannot read the body: {e}")))?;
    if text.len() > MAX_BODY {
        return Err(Rejection::PayloadTooLarge {
            limit: MAX_BODY as u64,
        });
    }
    Ok(text)
}

fn parse(name: &str, spec: &str) -> std::result::Result<StoredSource, Rejection> {
    serde_json::from_str(spec).map_err(|e| {
        Rejection::Misconfigured(format!(
            "the stored settings of source `{name}` are unreadable: {e}"
        ))
    })
}

fn storage(e: worker::Error) -> Rejection {
    Rejection::InboxUnavailable(format!("sources storage: {e}"))
}

fn json<T: Serialize>(body: &T) -> std::result::Result<Response, Rejection> {
    respond::json(200, body).map_err(|e| Rejection::InboxUnavailable(e.to_string()))
}

fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}

/// A fresh random nonce, from the runtime's `crypto.getRandomValues`.
fn nonce() -> std::result::Result<[u8; NONCE_LEN], SealError> {
    let mut n = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut n).map_err(|e| SealError::NoRandom(e.to_string()))?;
    Ok(n)
}
