//! The edge's routes, decided from method and path alone.

/// What a request is for. The method is checked by the handler, so a wrong method on a known
/// path is a 405, not a 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    /// `/hooks/{source}`: a provider delivery for the named source.
    Hook(String),
    Pull,
    Ack,
    Shards,
    Stats,
    /// Benchmark baseline: answers 200 and does nothing (only with `KEFFI_BENCH_ROUTES`).
    BenchNoop,
    /// Benchmark baseline: appends the raw body to one object's SQLite table, no checks (only
    /// with `KEFFI_BENCH_ROUTES`): the durable-write floor.
    BenchAppend,
    /// Benchmark: runs `n` signature verifications of a `size`-byte body inside the Worker, so
    /// the wasm build's cost can be measured from outside (only with `KEFFI_BENCH_ROUTES`).
    BenchVerify,
    NotFound,
}

impl Route {
    pub fn of(path: &str) -> Route {
        match path.trim_end_matches('/') {
            "/healthz" => Route::Health,
            "/ledger/pull" => Route::Pull,
            "/ledger/ack" => Route::Ack,
            "/ledger/shards" => Route::Shards,
            "/stats" => Route::Stats,
            "/bench/noop" => Route::BenchNoop,
            "/bench/append" => Route::BenchAppend,
            "/bench/verify" => Route::BenchVerify,
            p => match p.strip_prefix("/hooks/") {
                Some(source) if !source.is_empty() && !source.contains('/') => {
                    Route::Hook(source.to_owned())
                }
                _ => Route::NotFound,
            },
        }
    }

    /// The one method the route answers; anything else is 405.
    pub fn method(&self) -> Option<&'static str> {
        match self {
            Route::Health | Route::Pull | Route::Shards | Route::Stats | Route::BenchVerify => {
                Some("GET")
            }
            Route::Hook(_) | Route::Ack | Route::BenchNoop | Route::BenchAppend => Some("POST"),
            Route::NotFound => None,
        }
    }

    /// Routes only the ledger (holding a pull token) may call.
    pub fn requires_pull_token(&self) -> bool {
        matches!(
            self,
            Route::Pull | Route::Ack | Route::Shards | Route::Stats
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(Route::of("/healthz"), Route::Health);
        assert_eq!(Route::of("/hooks/paystack"), Route::Hook("paystack".into()));
        assert_eq!(
            Route::of("/hooks/paystack/"),
            Route::Hook("paystack".into())
        );
        assert_eq!(Route::of("/hooks/"), Route::NotFound);
        assert_eq!(Route::of("/hooks/a/b"), Route::NotFound);
        assert_eq!(Route::of("/ledger/pull"), Route::Pull);
        assert_eq!(Route::of("/ledger/ack"), Route::Ack);
        assert_eq!(Route::of("/ledger/shards"), Route::Shards);
        assert_eq!(Route::of("/stats"), Route::Stats);
        assert_eq!(Route::of("/"), Route::NotFound);
    }

    #[test]
    fn only_ledger_routes_need_a_token() {
        assert!(Route::Pull.requires_pull_token());
        assert!(Route::Stats.requires_pull_token());
        assert!(!Route::Health.requires_pull_token());
        assert!(!Route::Hook("x".into()).requires_pull_token());
        assert_eq!(Route::Ack.method(), Some("POST"));
    }
}
