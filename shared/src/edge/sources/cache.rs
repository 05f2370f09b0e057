//! The isolate's cache of runtime sources: each name's source, or its absence, kept for a
//! time-to-live and then read again, so a change made elsewhere shows within that time. It is
//! bounded: names come from `/hooks/{source}` paths anyone can send, so past its capacity it
//! starts over rather than grow.

use std::collections::HashMap;

#[derive(Debug)]
pub struct SourceCache<T> {
    ttl_ms: i64,
    capacity: usize,
    entries: HashMap<String, (Option<T>, i64)>,
}

impl<T: Clone> SourceCache<T> {
    pub fn new(ttl_ms: u64, capacity: usize) -> Self {
        SourceCache {
            ttl_ms: ttl_ms as i64,
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// What is known of `name` at `now_ms`: `Some(None)` is a known absence; `None` means it
    /// must be read.
    pub fn get(&self, name: &str, now_ms: i64) -> Option<Option<T>> {
        self.entries
            .get(name)
            .filter(|(_, at)| now_ms - at < self.ttl_ms && now_ms >= *at)
            .map(|(v, _)| v.clone())
    }

    /// Keeps what was read of `name` at `now_ms`.
    pub fn put(&mut self, name: &str, value: Option<T>, now_ms: i64) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(name) {
            self.entries.clear();
        }
        self.entries.insert(name.to_owned(), (value, now_ms));
    }

    /// Forgets `name`, so the next use reads it (after a change made through this isolate).
    pub fn forget(&mut self, name: &str) {
        self.entries.remove(name);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_source_and_an_absence_are_kept_for_the_ttl_only() {
        let mut c = SourceCache::new(5000, 10);
        assert_eq!(c.get("a", 0), None);
        c.put("a", Some(1), 1000);
        c.put("gone", None, 1000);
        assert_eq!(c.get("a", 5999), Some(Some(1)));
        assert_eq!(c.get("gone", 5999), Some(None));
        assert_eq!(c.get("a", 6000), None);
        assert_eq!(c.get("gone", 6000), None);
        // A clock that went back does not make an entry live for longer.
        assert_eq!(c.get("a", 999), None);
        c.forget("a");
        assert_eq!(c.get("a", 1001), None);
    }

    #[test]
    fn a_ttl_of_zero_reads_every_time() {
        let mut c = SourceCache::new(0, 10);
        c.put("a", Some(1), 1000);
        assert_eq!(c.get("a", 1000), None);
    }

    proptest! {
        /// Any sequence of reads of attacker-chosen names: the cache never holds more than
        /// its capacity, and what it answers is never older than the TTL.
        #[test]
        fn bounded_and_never_staler_than_the_ttl(
            ops in prop::collection::vec((0u16..500, 0i64..3000, any::<bool>()), 1..400),
        ) {
            let mut c = SourceCache::new(2000, 64);
            let mut now = 0i64;
            let mut written: HashMap<String, (Option<u16>, i64)> = HashMap::new();
            for (name, step, present) in ops {
                now += step;
                let name = format!("s{name}");
                match c.get(&name, now) {
                    Some(v) => {
                        let (w, at) = written[&name];
                        prop_assert_eq!(v, w);
                        prop_assert!(now - at < 2000);
                    }
                    None => {
                        let v = present.then_some(step as u16);
                        c.put(&name, v, now);
                        written.insert(name, (v, now));
                    }
                }
                prop_assert!(c.len() <= 64);
            }
        }
    }
}
