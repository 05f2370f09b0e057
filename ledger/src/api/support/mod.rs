//! What every resource of the API uses: the one error type, extractors whose rejections are
//! that error, cursor paging, the `Idempotency-Key` flow, and the document's shared parts.

pub(crate) mod contract;
pub mod error;
pub(crate) mod extract;
pub mod idempotency;
pub(crate) mod page;

/// The state every handler reads: the ledger's.
pub(crate) type ApiState = crate::state::AppState;
