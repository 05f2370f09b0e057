//! Pure logic that Keffi's edge (a Cloudflare Worker, wasm32) and ledger (native) must agree on:
//! the providers' signature schemes, idempotency keys and shard choice, the event envelope the
//! edge stores, the edge↔ledger wire types, money newtypes, the merchant's payment reference
//! and typed gateway payloads.
//!
//! This crate never does I/O, never reads a clock and never starts a runtime: every input,
//! including "now", is an argument, so every decision here is unit-tested natively and behaves
//! identically in the Worker.

pub mod digest_set;
pub mod edge;
pub mod envelope;
pub mod headers;
pub mod idempotency;
pub mod merchant;
pub mod money;
pub mod named;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod payload;
pub mod provider;
pub mod reference;
pub mod scheme;
pub mod shard;
pub mod version;
pub mod wire;

pub use envelope::Envelope;
pub use headers::{HeaderSource, RequestHeaders};
pub use idempotency::{derive_event, DerivedEvent, IdempotencyKey, KeyError};
pub use merchant::{InvalidMerchantId, MerchantId};
pub use money::{Currency, MinorUnits};
pub use provider::Provider;
pub use reference::{InvalidReference, Reference};
pub use scheme::{Secret, SignatureScheme, Verifier, VerifyError};
pub use shard::shard_for;
