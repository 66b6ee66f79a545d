//! WATCH: optimistic locking for MULTI/EXEC.
//!
//! A watched key is registered on the shard that owns it, with the watching
//! client's flag: one `Arc<AtomicBool>` per WATCH round, shared by all the
//! round's keys whatever their shards. A write to the key on its owner (its
//! `after_work`, or a gathered command's write-back) sets the flag there, on
//! the owner's thread, before the writer's reply exists; EXEC reads it once it
//! holds every shard's lock, which orders it after every such write.
//!
//! As Redis 7.0 (`multi.c`): a key that had already expired when watched is
//! "stale"; its deletion by expiry is no change, and touching it while its
//! stale entry is still there does not dirty the watcher either. FLUSHDB,
//! FLUSHALL and SWAPDB touch the watched keys that exist (stale or not) in the
//! emptied database or, for SWAPDB, in the one replacing it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use fxhash::FxHashMap;

use super::Shard;
use crate::store::notify::{Modified, count_watched};
use crate::store::now_ms;

/// The flag of one WATCH round: set once any of its keys changed.
pub type WatchFlag = Arc<AtomicBool>;

struct Watcher {
    flag: WatchFlag,
    /// The key had expired (but not been deleted) when it was watched.
    stale: bool,
}

/// The watched keys this shard owns, with their watchers in watch order.
#[derive(Default)]
pub struct Watched {
    map: FxHashMap<(u8, Bytes), Vec<Watcher>>,
}

/// What the owner answers for a newly watched key: whether it was stale, and
/// its expiry (0: none), for EXEC's "expired since WATCH" check.
pub struct WatchedAt {
    pub stale: bool,
    pub expire_at: u64,
}

impl Shard {
    /// Registers `keys` of database `db` (owned here) for `flag`.
    pub fn watch_keys(&self, db: u8, keys: Vec<Bytes>, flag: &WatchFlag) -> Vec<WatchedAt> {
        let now = now_ms();
        let st = self.store.borrow();
        let mut w = self.watched.borrow_mut();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let (stale, expire_at) = match st.dbs[db as usize].dict().get(&key) {
                Some(e) => (e.is_expired(now), e.expire_at),
                None => (false, 0),
            };
            w.map.entry((db, key)).or_default().push(Watcher {
                flag: flag.clone(),
                stale,
            });
            count_watched(1);
            out.push(WatchedAt { stale, expire_at });
        }
        out
    }

    /// Forgets `flag`'s registrations of `keys` (UNWATCH, EXEC, disconnect).
    pub fn unwatch_keys(&self, keys: &[(u8, Bytes)], flag: &WatchFlag) {
        let mut w = self.watched.borrow_mut();
        for k in keys {
            let Some(list) = w.map.get_mut(k) else {
                continue;
            };
            let before = list.len();
            list.retain(|x| !Arc::ptr_eq(&x.flag, flag));
            count_watched(list.len() as isize - before as isize);
            if list.is_empty() {
                w.map.remove(k);
            }
        }
    }

    /// Keys modified here: their watchers are dirtied, in the order written
    /// (`keys` may name other shards' keys; only this shard's count).
    pub fn touch_watched(&self, keys: &[Modified]) {
        if self.watched.borrow().map.is_empty() {
            return;
        }
        let st = self.store.borrow();
        let mut w = self.watched.borrow_mut();
        for m in keys {
            let k = (m.db, m.key.clone());
            let Some(list) = w.map.get_mut(&k) else {
                continue;
            };
            let present = !m.expired && st.dbs[m.db as usize].dict().get(&m.key).is_some();
            let before = list.len();
            list.retain_mut(|x| {
                if x.stale {
                    // Deleting an already expired key changes nothing; Redis
                    // ignores the watcher while the stale entry remains too.
                    if !present {
                        x.stale = false;
                    }
                    return true;
                }
                x.flag.store(true, Ordering::Release);
                false
            });
            count_watched(list.len() as isize - before as isize);
            if list.is_empty() {
                w.map.remove(&k);
            }
        }
    }

    /// FLUSHDB (`replaced_with: None`), FLUSHALL (`emptied` too) or SWAPDB,
    /// before database `emptied` (all of them for `None`) loses its keys:
    /// Redis's `touchAllWatchedKeysInDb`.
    pub fn touch_flushed(&self, emptied: Option<u8>, replaced_with: Option<u8>) {
        if self.watched.borrow().map.is_empty() {
            return;
        }
        let now = now_ms();
        let st = self.store.borrow();
        let mut w = self.watched.borrow_mut();
        let mut dropped = 0isize;
        w.map.retain(|(db, key), list| {
            if emptied.is_some_and(|e| e != *db) {
                return true;
            }
            let in_emptied = st.dbs[*db as usize].dict().get(key).is_some();
            let other = replaced_with.and_then(|r| st.dbs[r as usize].dict().get(key));
            if !in_emptied && other.is_none() {
                return true;
            }
            let other_expired = other.is_some_and(|e| e.is_expired(now));
            let before = list.len();
            list.retain_mut(|x| {
                if x.stale {
                    if other.is_none() {
                        x.stale = false;
                        return true;
                    }
                    if other_expired {
                        return true;
                    }
                } else if !in_emptied && other_expired {
                    // A missing key replaced by an expired one: no change.
                    x.stale = true;
                    return true;
                }
                x.flag.store(true, Ordering::Release);
                false
            });
            dropped += list.len() as isize - before as isize;
            !list.is_empty()
        });
        count_watched(dropped);
    }
}
