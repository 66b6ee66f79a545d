//! Per-shard key intent locks and the queue of work waiting on them.
//!
//! A multi-shard transaction holds locks on its keys in every shard it touches from
//! its first hop to its last; anything else that touches a locked key on that shard
//! (a single-key command, another transaction) waits in `pending`, in arrival order.
//! When no lock is held and nothing waits, [`Locks::idle`] is true and commands run
//! with no bookkeeping at all: that is the fast path every single-shard command takes.

use std::collections::VecDeque;

use bytes::Bytes;
use fxhash::FxHashMap;

/// A lockable key: database index plus key bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LockKey {
    pub db: u8,
    pub key: Bytes,
}

/// What a piece of work needs on one shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockSet {
    /// Keys with `true` for exclusive (write) access, `false` for shared (read).
    Keys(Vec<(LockKey, bool)>),
    /// The whole shard (FLUSHALL, SWAPDB, ...).
    Global,
}

impl LockSet {
    /// Whether two lock sets cannot run at the same time.
    pub fn conflicts(&self, other: &LockSet) -> bool {
        match (self, other) {
            (LockSet::Keys(a), _) if a.is_empty() => false,
            (_, LockSet::Keys(b)) if b.is_empty() => false,
            (LockSet::Global, _) | (_, LockSet::Global) => true,
            (LockSet::Keys(a), LockSet::Keys(b)) => a
                .iter()
                .any(|(ka, xa)| b.iter().any(|(kb, xb)| (*xa || *xb) && ka == kb)),
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Held {
    readers: u32,
    writer: bool,
}

/// Work parked until its keys are free. `T` is the action type chosen by the shard.
pub struct Waiting<T> {
    pub set: LockSet,
    /// Transactions acquire the set when they leave the queue; plain work does not.
    pub acquire_for: Option<u64>,
    pub action: T,
}

pub struct Locks<T> {
    // Keys are client-controlled, but the table only holds keys of in-flight
    // transactions, a handful at a time: its size is bounded by the server.
    held: FxHashMap<LockKey, Held>,
    global: Option<u64>,
    by_tx: FxHashMap<u64, LockSet>,
    pending: VecDeque<Waiting<T>>,
}

impl<T> Default for Locks<T> {
    fn default() -> Self {
        Locks {
            held: FxHashMap::default(),
            global: None,
            by_tx: FxHashMap::default(),
            pending: VecDeque::new(),
        }
    }
}

impl<T> Locks<T> {
    /// Nothing held and nothing waiting: work may run without looking at its keys.
    #[inline]
    pub fn idle(&self) -> bool {
        self.by_tx.is_empty() && self.pending.is_empty()
    }

    pub fn is_locked(&self, db: u8, key: &[u8]) -> bool {
        if self.global.is_some() {
            return true;
        }
        !self.held.is_empty()
            && self.held.contains_key(&LockKey {
                db,
                key: Bytes::copy_from_slice(key),
            })
    }

    fn conflicts_held(&self, set: &LockSet) -> bool {
        match set {
            LockSet::Keys(keys) if keys.is_empty() => false,
            _ if self.global.is_some() => true,
            LockSet::Global => !self.by_tx.is_empty(),
            LockSet::Keys(keys) => keys.iter().any(|(k, excl)| match self.held.get(k) {
                None => false,
                Some(h) => h.writer || (*excl && h.readers > 0),
            }),
        }
    }

    /// Whether `set` may run now: no held lock and no earlier waiter conflicts.
    pub fn can_run(&self, set: &LockSet) -> bool {
        !self.conflicts_held(set) && !self.pending.iter().any(|w| w.set.conflicts(set))
    }

    /// Takes the locks of `set` for transaction `tx` (the caller checked `can_run`).
    pub fn acquire(&mut self, tx: u64, set: LockSet) {
        match &set {
            LockSet::Global => self.global = Some(tx),
            LockSet::Keys(keys) => {
                for (k, excl) in keys {
                    let h = self.held.entry(k.clone()).or_default();
                    if *excl {
                        h.writer = true;
                    } else {
                        h.readers += 1;
                    }
                }
            }
        }
        self.by_tx.insert(tx, set);
    }

    /// Drops every lock `tx` holds here. Returns false if it held none.
    pub fn release(&mut self, tx: u64) -> bool {
        let Some(set) = self.by_tx.remove(&tx) else {
            return false;
        };
        match set {
            LockSet::Global => {
                if self.global == Some(tx) {
                    self.global = None;
                }
            }
            LockSet::Keys(keys) => {
                for (k, excl) in keys {
                    if let Some(h) = self.held.get_mut(&k) {
                        if excl {
                            h.writer = false;
                        } else {
                            h.readers = h.readers.saturating_sub(1);
                        }
                        if !h.writer && h.readers == 0 {
                            self.held.remove(&k);
                        }
                    }
                }
            }
        }
        true
    }

    pub fn park(&mut self, w: Waiting<T>) {
        self.pending.push_back(w);
    }

    /// Removes and returns the first waiter that can run now, taking its locks if it
    /// is a transaction. Waiters behind a conflicting earlier waiter stay behind it,
    /// so each key is served in arrival order.
    pub fn pop_runnable(&mut self) -> Option<Waiting<T>> {
        let idx = (0..self.pending.len()).find(|&i| {
            let set = &self.pending[i].set;
            !self.conflicts_held(set) && !self.pending.range(..i).any(|w| w.set.conflicts(set))
        })?;
        let w = self.pending.remove(idx)?;
        if let Some(tx) = w.acquire_for {
            self.acquire(tx, w.set.clone());
        }
        Some(w)
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub fn held_by_txs(&self) -> usize {
        self.by_tx.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> LockKey {
        LockKey {
            db: 0,
            key: Bytes::from(s.to_string()),
        }
    }

    fn keys(v: &[(&str, bool)]) -> LockSet {
        LockSet::Keys(v.iter().map(|(s, x)| (k(s), *x)).collect())
    }

    #[test]
    fn shared_and_exclusive() {
        let mut l: Locks<u32> = Locks::default();
        assert!(l.idle());
        l.acquire(1, keys(&[("a", false)]));
        assert!(l.can_run(&keys(&[("a", false)])));
        assert!(!l.can_run(&keys(&[("a", true)])));
        assert!(l.can_run(&keys(&[("b", true)])));
        assert!(!l.can_run(&LockSet::Global));
        assert!(l.release(1));
        assert!(l.idle());
    }

    #[test]
    fn waiters_keep_order_per_key() {
        let mut l: Locks<u32> = Locks::default();
        l.acquire(1, keys(&[("a", true)]));
        l.park(Waiting {
            set: keys(&[("a", true)]),
            acquire_for: Some(2),
            action: 1,
        });
        l.park(Waiting {
            set: keys(&[("a", false)]),
            acquire_for: None,
            action: 2,
        });
        l.park(Waiting {
            set: keys(&[("b", false)]),
            acquire_for: None,
            action: 3,
        });
        // "b" is free and no earlier waiter wants it.
        assert_eq!(l.pop_runnable().map(|w| w.action), Some(3));
        assert!(l.pop_runnable().is_none());
        l.release(1);
        assert_eq!(l.pop_runnable().map(|w| w.action), Some(1));
        // Transaction 2 now holds "a": the reader still waits.
        assert!(l.pop_runnable().is_none());
        l.release(2);
        assert_eq!(l.pop_runnable().map(|w| w.action), Some(2));
        assert!(l.idle());
    }

    #[test]
    fn global_blocks_everything() {
        let mut l: Locks<u32> = Locks::default();
        l.acquire(7, LockSet::Global);
        assert!(!l.can_run(&keys(&[("x", false)])));
        assert!(l.can_run(&LockSet::Keys(vec![])));
        l.release(7);
        assert!(l.can_run(&keys(&[("x", true)])));
    }
}
