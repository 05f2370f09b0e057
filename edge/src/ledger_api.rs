//! The ledger's API: pull, ack, shard backlog and stats, all behind a pull token.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use keffi_shared::edge::{EdgeSettings, Rejection, Route};
use keffi_shared::version::V1;
use keffi_shared::wire::{
    AckRequest, PullQuery, ShardBacklog, ShardsResponse, SourceStats, StatsResponse,
};
use worker::{Env, Method, Request, Response, Result};

use crate::protocol::{self, ShardReport};
use crate::{counters, env, respond, shards, sources};

/// Room above the long-poll wait for the shard to answer before the call is abandoned.
const CALL_MARGIN: Duration = Duration::from_secs(10);

pub async fn handle(req: Request, env: &Env, route: Route) -> Result<Response> {
    match serve(req, env, route).await {
        Ok(resp) => Ok(resp),
        Err(r) => respond::rejection(&r),
    }
}

async fn serve(req: Request, env: &Env, route: Route) -> std::result::Result<Response, Rejection> {
    let settings = env::settings(env)?;
    let authorization = req.headers().get("authorization").ok().flatten();
    settings
        .pull_tokens
        .authorize(authorization.as_deref())
        .map_err(Rejection::Unauthorized)?;
    match route {
        Route::Pull => pull(req, env, &settings).await,
        Route::Ack => ack(req, env, &settings).await,
        Route::Shards => shards_report(env, &settings).await,
        Route::Stats => stats(env, &settings).await,
        Route::Sources | Route::Source(_) | Route::RotateSource(_) | Route::VerifySource(_) => {
            sources::handle(req, env, &settings, route)
                .await
                .map_err(internal)
        }
        // Only the ledger's routes are sent here; anything else is not a route of this API.
        Route::Health
        | Route::Hook(_)
        | Route::NotFound
        | Route::BenchNoop
        | Route::BenchAppend
        | Route::BenchVerify => Err(Rejection::NotFound),
    }
}

fn internal(e: worker::Error) -> Rejection {
    Rejection::InboxUnavailable(e.to_string())
}

/// `GET /ledger/pull`: the shard's events after a sequence, long-polling up to the wait asked.
async fn pull(
    req: Request,
    env: &Env,
    settings: &EdgeSettings,
) -> std::result::Result<Response, Rejection> {
    let query = req
        .url()
        .map_err(internal)?
        .query()
        .unwrap_or_default()
        .to_owned();
    let q = PullQuery::from_query(&query).map_err(Rejection::BadRequest)?;
    check_shard(settings, q.shard)?;
    let wait = Duration::from_millis(q.wait_ms.unwrap_or(0).min(settings.long_poll_max_ms));
    let stub = shards::stub(env, settings, q.shard)?;
    let call = shards::request(
        Method::Get,
        &format!("{}?{}", protocol::PULL, q.to_query()),
        None,
    )?;
    passthrough(shards::call(&stub, call, wait + CALL_MARGIN).await?).await
}

/// `POST /ledger/ack`: the ledger applied a shard up to a sequence.
async fn ack(
    mut req: Request,
    env: &Env,
    settings: &EdgeSettings,
) -> std::result::Result<Response, Rejection> {
    let body = req.text().await.map_err(internal)?;
    let ack: AckRequest = serde_json::from_str(&body)
        .map_err(|e| Rejection::BadRequest(format!("invalid ack body: {e}")))?;
    check_shard(settings, ack.shard)?;
    let stub = shards::stub(env, settings, ack.shard)?;
    let call = shards::request(Method::Post, protocol::ACK, Some(body))?;
    passthrough(shards::call(&stub, call, CALL_MARGIN).await?).await
}

/// `GET /ledger/shards`: each shard's backlog.
async fn shards_report(
    env: &Env,
    settings: &EdgeSettings,
) -> std::result::Result<Response, Rejection> {
    let backlog = backlogs(env, settings).await?;
    let body = ShardsResponse {
        v: V1,
        shards: settings.shards,
        backlog: backlog.into_iter().map(|r| r.backlog).collect(),
    };
    respond::json(200, &body).map_err(internal)
}

/// `GET /stats`: per source (static and runtime), accepted, duplicate and rejected
/// deliveries, with the shards' backlogs.
async fn stats(env: &Env, settings: &EdgeSettings) -> std::result::Result<Response, Rejection> {
    let reports = backlogs(env, settings).await?;
    let mut sources: BTreeMap<String, SourceStats> = settings
        .sources
        .iter()
        .map(|s| (s.name.clone(), SourceStats::default()))
        .collect();
    for name in sources::runtime_names(env, settings).await? {
        sources.entry(name).or_default();
    }
    for count in reports.iter().flat_map(|r| &r.outcomes) {
        let stats = sources.entry(count.source.clone()).or_default();
        match count.outcome.as_str() {
            "accepted" => stats.accepted += count.count,
            _ => stats.duplicate += count.count,
        }
    }
    for count in counters::rejections(env).await.map_err(internal)? {
        *sources
            .entry(count.source)
            .or_default()
            .rejected
            .entry(count.reason)
            .or_default() += count.count;
    }
    let body = StatsResponse {
        v: V1,
        sources,
        shards: reports
            .into_iter()
            .map(|r| r.backlog)
            .collect::<Vec<ShardBacklog>>(),
    };
    respond::json(200, &body).map_err(internal)
}

fn check_shard(settings: &EdgeSettings, shard: u32) -> std::result::Result<(), Rejection> {
    if shard >= settings.shards {
        return Err(Rejection::BadRequest(format!(
            "shard {shard} does not exist (this edge has shards 0..{})",
            settings.shards
        )));
    }
    Ok(())
}

/// A shard's answer, success or error, passed on with its status.
async fn passthrough(resp: Response) -> std::result::Result<Response, Rejection> {
    if resp.status_code() == 200 {
        return Ok(resp);
    }
    respond::from_object_error(resp)
        .await
        .map_err(|e| Rejection::InboxUnavailable(e.to_string()))
}

async fn backlogs(
    env: &Env,
    settings: &EdgeSettings,
) -> std::result::Result<Vec<ShardReport>, Rejection> {
    let calls = (0..settings.shards).map(|shard| async move {
        let stub = shards::stub(env, settings, shard)?;
        let call = shards::request(
            Method::Get,
            &format!("{}?shard={shard}", protocol::BACKLOG),
            None,
        )?;
        let mut resp = shards::call(&stub, call, CALL_MARGIN).await?;
        resp.json::<ShardReport>()
            .await
            .map_err(|e| Rejection::InboxUnavailable(format!("shard {shard}: {e}")))
    });
    join_all(calls).await.into_iter().collect()
}
