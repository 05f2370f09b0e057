//! The end-to-end harness: starts the real edge (the built Worker under `wrangler dev`, i.e.
//! workerd) and the real `keffi-ledger` binary on free loopback ports, waits until each answers,
//! and always stops them. Nothing of ours is mocked; only outside gateways may be played by
//! local servers.
//!
//! The harness never builds anything: `scripts/test` builds the Worker and the ledger once,
//! and a missing artefact is a clear error naming the command to run.

pub mod audit;
pub mod browser;
pub mod edge;
pub mod gateway;
pub mod ledger;
pub mod load;
pub mod paystack;
pub mod pg;
pub mod process;
pub mod proxy;
pub mod raw_http;
pub mod sender;
pub mod sse;
pub mod workspace;
