//! Each Worker isolate's copy of the runtime sources: the whole table as of its last read, and
//! the table's version then. It is read again at most every time-to-live, and then only
//! rows if the version moved, so the `Sources` object sees one small request per isolate per
//! time-to-live whatever the traffic: a flood of deliveries to names that do not exist is
//! answered 404 from the copy and never reaches the object.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::StoredSource;

/// A runtime source as the snapshot carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRow {
    pub name: String,
    pub source: StoredSource,
}

/// The `Sources` object's answer to "the table, unless it is still at version `known`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotAnswer {
    pub version: u64,
    /// Every row; absent when the version is the one the isolate knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<SnapshotRow>>,
}

impl SnapshotAnswer {
    /// What the object answers an isolate that knows `known`, with the table at `version`.
    pub fn for_known(
        known: Option<u64>,
        version: u64,
        rows: impl FnOnce() -> Vec<SnapshotRow>,
    ) -> Self {
        SnapshotAnswer {
            version,
            rows: (known != Some(version)).then(rows),
        }
    }
}

#[derive(Debug, Default)]
pub struct Snapshot {
    version: Option<u64>,
    fetched_at_ms: i64,
    rows: HashMap<String, StoredSource>,
}

impl Snapshot {
    /// Whether the copy must be read again before it answers at `now_ms`: never read, older
    /// than `ttl_ms`, or a clock that went back.
    pub fn stale(&self, now_ms: i64, ttl_ms: u64) -> bool {
        self.version.is_none()
            || now_ms < self.fetched_at_ms
            || now_ms - self.fetched_at_ms >= ttl_ms as i64
    }

    /// The version to tell the object, so it can answer "unchanged".
    pub fn known(&self) -> Option<u64> {
        self.version
    }

    /// Takes the object's answer, read at `now_ms`.
    pub fn refresh(&mut self, answer: SnapshotAnswer, now_ms: i64) {
        match answer.rows {
            Some(rows) => {
                self.rows = rows.into_iter().map(|r| (r.name, r.source)).collect();
                self.version = Some(answer.version);
            }
            // "Unchanged" for a version this copy does not hold cannot be trusted: read it
            // all next time.
            None if Some(answer.version) != self.version => self.version = None,
            None => {}
        }
        self.fetched_at_ms = now_ms;
    }

    /// Makes the next use read the object again (after a change made through this isolate).
    pub fn invalidate(&mut self) {
        self.version = None;
    }

    pub fn get(&self, name: &str) -> Option<&StoredSource> {
        self.rows.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rows.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;
    use proptest::prelude::*;

    fn source(version: u64) -> StoredSource {
        StoredSource {
            provider: Provider::Paystack,
            allow_ips: None,
            tolerance_seconds: 300,
            secrets: vec![],
            version,
            updated_at_ms: 0,
        }
    }

    /// The object: its rows and version, answering as `Sources` does.
    #[derive(Default)]
    struct Object {
        version: u64,
        rows: HashMap<String, StoredSource>,
    }

    impl Object {
        fn answer(&self, known: Option<u64>) -> SnapshotAnswer {
            SnapshotAnswer::for_known(known, self.version, || {
                self.rows
                    .iter()
                    .map(|(name, source)| SnapshotRow {
                        name: name.clone(),
                        source: source.clone(),
                    })
                    .collect()
            })
        }
    }

    #[test]
    fn an_unchanged_table_is_not_sent_again() {
        let mut object = Object::default();
        object.rows.insert("a".into(), source(1));
        object.version = 1;
        let mut copy = Snapshot::default();
        assert!(copy.stale(0, 5000));
        copy.refresh(object.answer(copy.known()), 0);
        assert_eq!(copy.get("a"), Some(&source(1)));
        assert!(!copy.stale(4999, 5000));
        assert!(copy.stale(5000, 5000));
        assert!(copy.stale(-1, 5000), "a clock that went back reads again");
        let again = object.answer(copy.known());
        assert_eq!(again.rows, None);
        copy.refresh(again, 5000);
        assert_eq!(copy.get("a"), Some(&source(1)));
        copy.invalidate();
        assert!(copy.stale(5001, 5000));
        // "Unchanged" for a version the copy does not hold: read it all next time.
        let mut copy = Snapshot::default();
        copy.refresh(
            SnapshotAnswer {
                version: 7,
                rows: None,
            },
            0,
        );
        assert!(copy.stale(1, 5000));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(u8),
        Delete(u8),
        Wait(i64),
        Look(u8),
    }

    proptest! {
        /// Any interleaving of writes at the object and lookups at an isolate: what the copy
        /// answers is the object's state as of its last read, never older than the
        /// time-to-live, and a read happens only when the copy is stale.
        #[test]
        fn the_copy_is_never_staler_than_its_ttl(ops in prop::collection::vec(prop_oneof![
            (0u8..6).prop_map(Op::Write),
            (0u8..6).prop_map(Op::Delete),
            (0i64..4000).prop_map(Op::Wait),
            (0u8..6).prop_map(Op::Look),
        ], 1..80)) {
            const TTL: u64 = 2000;
            let mut object = Object::default();
            let mut copy = Snapshot::default();
            let mut now = 0i64;
            // The object's rows at each read of it, newest last.
            let mut history: Vec<(i64, HashMap<String, StoredSource>)> = vec![];
            let mut reads = 0u32;
            for op in ops {
                match op {
                    Op::Write(n) => {
                        object.version += 1;
                        let v = object.version;
                        object.rows.insert(format!("s{n}"), source(v));
                    }
                    Op::Delete(n) => {
                        if object.rows.remove(&format!("s{n}")).is_some() {
                            object.version += 1;
                        }
                    }
                    Op::Wait(ms) => now += ms,
                    Op::Look(n) => {
                        if copy.stale(now, TTL) {
                            reads += 1;
                            copy.refresh(object.answer(copy.known()), now);
                            history.push((now, object.rows.clone()));
                        }
                        let (at, seen) = history.last().unwrap();
                        prop_assert!(now - at < TTL as i64);
                        let name = format!("s{n}");
                        prop_assert_eq!(copy.get(&name), seen.get(&name));
                    }
                }
            }
            prop_assert!(reads as usize == history.len());
        }
    }
}
