//! The end-to-end tests, one binary (one link) for all: each module starts the real edge
//! under `wrangler dev` and the real `keffi-ledger` binary on real databases, and talks to
//! them only over HTTP, as a gateway, an operator or a merchant's page would.

mod admin_api;
mod alert_rules;
mod bad_input;
mod checkout_browser;
mod dashboard_browser;
mod edge_deploy;
mod edge_intake;
mod edge_pull;
mod faults;
mod gateways;
mod json_logs;
mod ledger_e2e;
mod openapi_contract;
mod operator_api;
mod runtime_sources;
mod scoped_tokens;
mod smoke;
mod tenants;
