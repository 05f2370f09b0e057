//! The edge's decisions as pure functions: its settings, its routes, the order of checks a
//! delivery passes, and every error it can answer. The Worker only does the I/O around them,
//! so all of this is tested natively.

pub mod auth;
pub mod hook;
pub mod rejection;
pub mod route;
pub mod settings;
pub mod sources;

pub use auth::BearerTokens;
pub use hook::{admit, precheck, Admitted, Precheck};
pub use rejection::Rejection;
pub use route::Route;
pub use settings::{EdgeSettings, SettingsError, SourceConfig};
