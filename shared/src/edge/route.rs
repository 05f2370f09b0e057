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
    /// `/ledger/sources`: every source, static and runtime.
    Sources,
    /// `/ledger/sources/{name}`: one source, read, written or removed.
    Source(String),
    /// `/ledger/sources/{name}/rotate`: a new secret, the old one kept for an overlap.
    RotateSource(String),
    /// `/ledger/sources/{name}/verify?reference=`: the gateway's Verify Transaction API asked
    /// with the source's own key, which never leaves the edge (the ledger's reconciler).
    VerifySource(String),
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
            "/ledger/sources" => Route::Sources,
            p => {
                if let Some(source) = segment(p, "/hooks/") {
                    return Route::Hook(source);
                }
                if let Some(rest) = p.strip_prefix("/ledger/sources/") {
                    if let Some(name) = rest.strip_suffix("/rotate").and_then(|n| segment(n, "")) {
                        return Route::RotateSource(name);
                    }
                    if let Some(name) = rest.strip_suffix("/verify").and_then(|n| segment(n, "")) {
                        return Route::VerifySource(name);
                    }
                    if let Some(name) = segment(rest, "") {
                        return Route::Source(name);
                    }
                }
                Route::NotFound
            }
        }
    }

    /// The methods the route answers, as an `Allow` header lists them; any other is 405.
    pub fn allow(&self) -> Option<&'static str> {
        match self {
            Route::Health
            | Route::Pull
            | Route::Shards
            | Route::Stats
            | Route::Sources
            | Route::VerifySource(_)
            | Route::BenchVerify => Some("GET"),
            Route::Hook(_)
            | Route::Ack
            | Route::RotateSource(_)
            | Route::BenchNoop
            | Route::BenchAppend => Some("POST"),
            Route::Source(_) => Some("GET, PUT, DELETE"),
            Route::NotFound => None,
        }
    }

    /// Whether the route answers `method`.
    pub fn allows(&self, method: &str) -> bool {
        self.allow()
            .is_some_and(|list| list.split(", ").any(|m| m.eq_ignore_ascii_case(method)))
    }

    /// Routes only the ledger (holding a pull token) may call.
    pub fn requires_pull_token(&self) -> bool {
        matches!(
            self,
            Route::Pull
                | Route::Ack
                | Route::Shards
                | Route::Stats
                | Route::Sources
                | Route::Source(_)
                | Route::RotateSource(_)
                | Route::VerifySource(_)
        )
    }
}

/// `path` after `prefix`, if that is one non-empty path segment.
fn segment(path: &str, prefix: &str) -> Option<String> {
    path.strip_prefix(prefix)
        .filter(|s| !s.is_empty() && !s.contains('/'))
        .map(str::to_owned)
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
        assert_eq!(Route::of("/ledger/sources"), Route::Sources);
        assert_eq!(Route::of("/ledger/sources/a"), Route::Source("a".into()));
        assert_eq!(
            Route::of("/ledger/sources/a/rotate"),
            Route::RotateSource("a".into())
        );
        // A source may be called `rotate`; its rotation is `/rotate/rotate`.
        assert_eq!(
            Route::of("/ledger/sources/rotate"),
            Route::Source("rotate".into())
        );
        assert_eq!(
            Route::of("/ledger/sources/a/verify"),
            Route::VerifySource("a".into())
        );
        assert_eq!(Route::of("/ledger/sources/a/b"), Route::NotFound);
        assert_eq!(Route::of("/ledger/sources//rotate"), Route::NotFound);
    }

    #[test]
    fn only_ledger_routes_need_a_token() {
        assert!(Route::Pull.requires_pull_token());
        assert!(Route::Stats.requires_pull_token());
        assert!(!Route::Health.requires_pull_token());
        assert!(!Route::Hook("x".into()).requires_pull_token());
        assert!(Route::Source("x".into()).requires_pull_token());
        assert!(Route::RotateSource("x".into()).requires_pull_token());
        let verify = Route::VerifySource("x".into());
        assert!(verify.requires_pull_token() && verify.allows("GET") && !verify.allows("POST"));
        assert!(Route::Ack.allows("POST") && !Route::Ack.allows("GET"));
        let one = Route::Source("x".into());
        assert!(["GET", "PUT", "DELETE", "delete"]
            .iter()
            .all(|m| one.allows(m)));
        assert!(!one.allows("POST") && !one.allows("PATCH"));
        assert!(!Route::NotFound.allows("GET"));
    }
}
