//! Numbers as Redis reads and writes them, and the one fast RNG.

/// xorshift64: a fast generator for sampling (random members, eviction and
/// expiry samples, run ids). Not for anything security-related.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is mapped to a fixed odd seed).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Seeded from the clock and `salt` (a shard id, a thread...).
    pub fn from_clock(salt: u64) -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng::new((salt.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ t)
    }

    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_nonzero() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for _ in 0..1000 {
            let x = a.next();
            assert_eq!(x, b.next());
            assert_ne!(x, 0);
        }
        assert_ne!(Rng::new(0).next(), 0);
    }
}
