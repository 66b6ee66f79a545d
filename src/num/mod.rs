//! Numbers as Redis reads and writes them, and the one fast RNG.

mod float;
mod int;

pub use float::{
    LongDoubleError, add_long_double, format_double, format_g, is_c_space, parse_double,
    parse_double_erange, parse_f64, strtod,
};
pub use int::{parse_cursor, parse_i64, strtoll_whole};

use std::cell::Cell;

/// xorshift64: a fast generator for sampling (random members, eviction and
/// expiry samples, run ids). Not for anything security-related.
#[derive(Clone, Copy, Debug)]
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

thread_local! {
    /// This thread's sampling generator: each shard runs on its own thread, so
    /// this is one generator per shard, with no locking.
    static RNG: Cell<Rng> = Cell::new(Rng::from_clock(thread_salt()));
}

/// A salt that differs between threads started in the same nanosecond.
fn thread_salt() -> u64 {
    let local = 0u8;
    &local as *const u8 as u64
}

/// A draw from this thread's generator (sampling only: SPOP, SRANDMEMBER,
/// HRANDFIELD, ZRANDMEMBER, RANDOMKEY, expiry and eviction samples).
#[inline]
pub fn rand() -> u64 {
    RNG.with(|c| {
        let mut r = c.get();
        let x = r.next();
        c.set(r);
        x
    })
}

/// Maps a random u64 uniformly onto `0..n` (multiply-shift: no division; `n` > 0).
#[inline]
pub fn below(r: u64, n: usize) -> usize {
    ((u128::from(r) * n as u128) >> 64) as usize
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
