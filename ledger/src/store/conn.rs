//! Running one piece of SQL on whichever backend: the body is written once and type-checked
//! against each backend separately.

/// `on_pool!(store, c => body)`: runs `body` with `c` bound to the backend's pool.
macro_rules! on_pool {
    ($store:expr, $c:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Postgres(pool) => {
                let $c = pool;
                $body
            }
            $crate::store::Store::Sqlite(pool) => {
                let $c = pool;
                $body
            }
        }
    };
}

/// `on_tx!(tx, c, lock => body)`: runs `body` with `c` bound to the transaction's connection
/// and `lock` to the row-lock clause (`" FOR UPDATE"` on Postgres, empty on SQLite, whose one
/// connection already serialises writers).
macro_rules! on_tx {
    ($tx:expr, $c:ident, $lock:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Postgres(t) => {
                let $c = &mut **t;
                #[allow(unused_variables)]
                let $lock = " FOR UPDATE";
                $body
            }
            $crate::store::Tx::Sqlite(t) => {
                let $c = &mut **t;
                #[allow(unused_variables)]
                let $lock = "";
                $body
            }
        }
    };
}

pub(crate) use on_pool;
pub(crate) use on_tx;

/// `$from, $from+1, …` for `n` values: the placeholders of an `IN (…)` list.
pub(crate) fn params(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
