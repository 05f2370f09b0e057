//! What every HTTP handler can reach: the state the server is built with. Its own module,
//! below both the admin API and the HTTP surface that use it.

use std::sync::Arc;

use keffi_shared::edge::EdgeSettings;

use crate::api::access::auth::AdminAuth;
use crate::changes::Changes;
use crate::puller::status::PullerStatus;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub puller: Arc<PullerStatus>,
    /// Sources for direct `POST /hooks/{source}` (from `KEFFI_SOURCES`), if configured.
    pub hooks: Option<Arc<EdgeSettings>>,
    /// The edge's API, where runtime sources are written; `None` without `KEFFI_EDGE_URL`.
    pub edge: Option<crate::puller::client::EdgeClient>,
    /// Signalled after every commit that may have changed an order.
    pub changes: Changes,
    pub auth: AdminAuth,
    /// Long-lived responses (status streams) end when this fires, so shutdown is not held
    /// open by clients.
    pub shutdown: crate::shutdown::Shutdown,
    /// The reconciler's last background pass, for the dashboard.
    pub last_reconcile: crate::reconciler::LastRun,
    /// How long one status stream lasts before the server ends it (clients resume).
    pub sse_max_age: std::time::Duration,
    /// The gateway an order is opened for when it names none (`KEFFI_DEFAULT_GATEWAY`).
    pub default_gateway: keffi_shared::Provider,
    /// Renders `/metrics`; `None` if the recorder could not be installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}
