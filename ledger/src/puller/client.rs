//! The edge's pull API, from the ledger's side. Outbound only: the ledger needs no public
//! address.

use keffi_shared::Secret;
use std::time::Duration;

use keffi_shared::edge::sources::{PutSource, RotateSource, SourceView, SOURCES_PATH};
use keffi_shared::version::V1;
use keffi_shared::wire::{
    AckRequest, AckResponse, ErrorBody, PullQuery, PullResponse, ShardsResponse, ACK_PATH,
    PULL_PATH,
};
use serde::de::DeserializeOwned;

/// A source's read or write at the edge is one Durable Object request: seconds at most.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("edge unreachable: {0}")]
    Network(#[from] reqwest::Error),
    #[error("edge answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("edge answered {status} with an unreadable body: {detail}")]
    Unreadable { status: u16, detail: String },
}

/// What kind of failure an [`EdgeError`] is, without its details: two failures of one kind
/// are the same state (logged once), whatever their messages say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeFailure {
    Network,
    Refused { status: u16, code: String },
    Unreadable { status: u16 },
}

impl EdgeError {
    pub fn kind(&self) -> EdgeFailure {
        match self {
            EdgeError::Network(_) => EdgeFailure::Network,
            EdgeError::Refused { status, code, .. } => EdgeFailure::Refused {
                status: *status,
                code: code.clone(),
            },
            EdgeError::Unreadable { status, .. } => EdgeFailure::Unreadable { status: *status },
        }
    }
}

#[derive(Debug, Clone)]
pub struct EdgeClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl EdgeClient {
    pub fn new(base: &str, token: &Secret) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(EdgeClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.clone(),
        })
    }

    pub async fn shards(&self) -> Result<ShardsResponse, EdgeError> {
        let req = self.http.get(format!("{}/ledger/shards", self.base));
        self.send(req, Duration::from_secs(15)).await
    }

    /// A pull; the request may be held up to `wait_ms` by the edge (long-poll).
    pub async fn pull(&self, query: PullQuery) -> Result<PullResponse, EdgeError> {
        let url = format!("{}{PULL_PATH}?{}", self.base, query.to_query());
        let timeout = Duration::from_millis(query.wait_ms.unwrap_or(0)) + Duration::from_secs(15);
        self.send(self.http.get(url), timeout).await
    }

    pub async fn ack(&self, shard: u32, upto: u64) -> Result<AckResponse, EdgeError> {
        let req = self
            .http
            .post(format!("{}{ACK_PATH}", self.base))
            .json(&AckRequest { v: V1, shard, upto });
        self.send(req, Duration::from_secs(15)).await
    }

    /// The edge's source `name` (static or runtime), never its secrets.
    pub async fn source(&self, name: &str) -> Result<SourceView, EdgeError> {
        let req = self.http.get(self.source_url(name, ""));
        self.send(req, SOURCE_TIMEOUT).await
    }

    /// Creates or replaces the runtime source `name` at the edge.
    pub async fn put_source(&self, name: &str, spec: &PutSource) -> Result<SourceView, EdgeError> {
        let req = self.http.put(self.source_url(name, "")).json(spec);
        self.send(req, SOURCE_TIMEOUT).await
    }

    /// Rotates the runtime source `name`'s secret at the edge.
    pub async fn rotate_source(
        &self,
        name: &str,
        rotation: &RotateSource,
    ) -> Result<SourceView, EdgeError> {
        let req = self
            .http
            .post(self.source_url(name, "/rotate"))
            .json(rotation);
        self.send(req, SOURCE_TIMEOUT).await
    }

    /// Removes the runtime source `name` from the edge; one already gone is not an error.
    pub async fn delete_source(&self, name: &str) -> Result<(), EdgeError> {
        let req = self.http.delete(self.source_url(name, ""));
        match self.send::<serde_json::Value>(req, SOURCE_TIMEOUT).await {
            Ok(_) => Ok(()),
            Err(EdgeError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `name` is a checked source name (`a-z 0-9 _ -`): a path segment as it is.
    fn source_url(&self, name: &str, suffix: &str) -> String {
        format!("{}{SOURCES_PATH}/{name}{suffix}", self.base)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<T, EdgeError> {
        let resp = req
            .bearer_auth(self.token.expose_str().unwrap_or_default())
            .timeout(timeout)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| EdgeError::Unreadable {
                status,
                detail: e.to_string(),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(EdgeError::Refused {
                status,
                code: body.error.code,
                message: body.error.message,
            }),
            Err(e) => Err(EdgeError::Unreadable {
                status,
                detail: e.to_string(),
            }),
        }
    }
}
