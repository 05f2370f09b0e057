//! Which Inbox shard an event belongs to.

use sha2::{Digest, Sha256};

use crate::idempotency::IdempotencyKey;

/// The shard (0‥shards) for `key`: the first eight bytes of the key's SHA-256, big-endian,
/// modulo the shard count. Stable across platforms and releases, because a key must always land
/// on the shard whose SQLite table already holds it, or a retry would be stored twice. Changing
/// the shard count therefore needs a migration, not just a new setting.
pub fn shard_for(key: &IdempotencyKey, shards: u32) -> u32 {
    let shards = shards.max(1);
    let digest = Sha256::digest(key.as_str().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(shards)) as u32
}

/// The Durable Object name of shard `index`; stable so a shard is always the same object.
pub fn shard_name(index: u32) -> String {
    format!("inbox-{index}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(s: &str) -> IdempotencyKey {
        IdempotencyKey::parse(s).unwrap()
    }

    /// Pinned values: if these change, keys stored on live shards would move.
    #[test]
    fn assignment_is_pinned() {
        let k = key("paystack:charge.success:4099260516");
        let pinned: Vec<u32> = [1, 2, 4, 8, 16].iter().map(|&n| shard_for(&k, n)).collect();
        assert_eq!(pinned, PINNED);
    }
    // Cross-checked with Python's hashlib: int.from_bytes(sha256(key)[:8], 'big') % n.
    const PINNED: [u32; 5] = [0, 1, 3, 3, 3];

    #[test]
    fn zero_shards_means_one() {
        assert_eq!(shard_for(&key("a"), 0), 0);
    }

    #[test]
    fn keys_spread_over_shards() {
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            counts[shard_for(&key(&format!("paystack:charge.success:{i}")), 4) as usize] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "uneven spread {counts:?}");
        }
    }

    proptest! {
        #[test]
        fn always_in_range(s in "[!-~]{1,64}", n in 1u32..64) {
            prop_assert!(shard_for(&key(&s), n) < n);
        }
    }
}
