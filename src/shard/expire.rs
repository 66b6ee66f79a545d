//! Active expiry: each shard's `hz` tick deletes expired keys it samples, as
//! Redis's `activeExpireCycle` samples its `expires` dict.

use super::{Shard, Stats};
use crate::store::now_ms;

/// One round on this shard: sample 20 keys with a TTL per db, repeat while more
/// than a quarter of a sample had expired, within about 1 ms. Keys held by a
/// transaction are left alone (the transaction may still read them).
pub fn active_expire(shard: &Shard) {
    let start = std::time::Instant::now();
    let now = now_ms();
    let mut store = shard.store.borrow_mut();
    for (i, db) in store.dbs.iter_mut().enumerate() {
        loop {
            let (sampled, expired) = db.expire_cycle(now, 20, &mut crate::num::rand, &|k| {
                shard.is_locked(i as u8, k)
            });
            Stats::add(&shard.stats.expired, expired as u64);
            if sampled == 0 || expired * 4 <= sampled || start.elapsed().as_micros() > 1000 {
                break;
            }
        }
    }
    drop(store);
    shard.after_work();
}
