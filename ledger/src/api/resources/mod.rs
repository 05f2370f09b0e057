//! One module per resource of the admin API: its handlers, request and response types and
//! OpenAPI annotations side by side.

pub(crate) mod client;
pub(crate) mod events;
pub(crate) mod journal;
pub(crate) mod merchants;
pub mod orders;
pub(crate) mod payments;
pub(crate) mod reconciler;
pub(crate) mod search;
pub(crate) mod shards;
pub(crate) mod sources;
pub(crate) mod splits;
pub(crate) mod stats;
pub(crate) mod stream;
pub(crate) mod timeline;
pub(crate) mod tokens;
