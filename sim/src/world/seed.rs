//! One `u64` seed feeds a tree of ChaCha RNGs forked by name (`traffic`, `faults`, `host/serving`),
//! so adding a consumer of randomness never shifts another's stream.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use warehouse::row::stable_hash;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedTree {
    pub seed: u64,
}

impl SeedTree {
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// An RNG whose stream depends only on the run seed and `name`.
    pub fn fork(&self, name: &str) -> ChaCha8Rng {
        let mut words: Vec<i64> = vec![self.seed as i64, name.len() as i64];
        words.extend(name.bytes().map(i64::from));
        let mut key = [0u8; 32];
        for (lane, chunk) in key.chunks_mut(8).enumerate() {
            words.push(lane as i64);
            chunk.copy_from_slice(&stable_hash(&words).to_le_bytes());
            words.pop();
        }
        ChaCha8Rng::from_seed(key)
    }

    /// A derived `u64` seed (for turmoil's own RNG).
    pub fn derive_u64(&self, name: &str) -> u64 {
        use rand::RngCore;
        self.fork(name).next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn forks_are_stable_and_independent() {
        let tree = SeedTree::new(7);
        assert_eq!(
            tree.fork("traffic").next_u64(),
            tree.fork("traffic").next_u64()
        );
        assert_ne!(
            tree.fork("traffic").next_u64(),
            tree.fork("faults").next_u64()
        );
        assert_ne!(
            tree.fork("traffic").next_u64(),
            SeedTree::new(8).fork("traffic").next_u64()
        );
    }
}
