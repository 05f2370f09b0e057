//! The ledger's integration tests, one binary (one link) for all: each module checks one
//! part against real stores (SQLite in a temporary directory, a fresh Postgres database per
//! test) through the crate's public API, or runs the `keffi-ledger` binary itself.

#[macro_use]
mod common;

mod cli;
mod crossing;
mod gateways;
mod migrations;
mod model;
mod parking;
mod plans;
mod reconciler;
mod serve;
mod splits;
mod store_pipeline;
mod streams;
mod tenants;
mod tracing_spans;
