//! Who may call what: scoped admin tokens, the bearer check in front of every `/v1` route,
//! the client secrets that open one order to a browser, the audit log of operator actions,
//! and `GET /v1/me`.

pub(crate) mod audit;
pub mod auth;
pub mod client_secret;
pub(crate) mod me;
pub mod tenant;
pub mod tokens;
