//! The keyspace of one shard: values, encodings and expiry. Single-threaded: a
//! `Store` is owned by its shard's thread and never shared.

pub mod dict;
pub mod digest;
pub mod hash;
pub mod hll;
pub mod limits;
pub mod list;
pub mod notify;
pub mod pack;
pub mod rdb;
pub mod set;
pub mod snapshot;
pub mod zset;

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use dict::Dict;

/// Redis's default number of databases.
pub const NUM_DBS: usize = 16;

/// A stored value. (HyperLogLogs are strings, as in Redis.) Each variant's
/// inline part is at most 24 bytes: big structures sit behind a `Box`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Vec<u8>),
    List(list::List),
    Hash(hash::Hash),
    Set(set::Set),
    ZSet(zset::ZSet),
}

/// A collection type that commands look up by key; a key holding another type
/// answers WRONGTYPE.
pub trait Typed: Sized {
    fn of(v: &Value) -> Option<&Self>;
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
}

macro_rules! typed {
    ($($t:ty => $variant:ident),*) => {$(
        impl Typed for $t {
            #[inline]
            fn of(v: &Value) -> Option<&Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            #[inline]
            fn of_mut(v: &mut Value) -> Option<&mut Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
        }
    )*};
}

typed!(list::List => List, hash::Hash => Hash, set::Set => Set, zset::ZSet => ZSet);

impl Value {
    pub fn as_str(&self) -> Option<&Vec<u8>> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }
}

/// One key's slot in the keyspace.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in unix milliseconds; 0 means none. Change it only through
    /// `Db` (`set_expire`, `set_entry`...), which keeps the volatile index right.
    pub expire_at: u64,
    /// Where this key sits in its db's volatile index (low 31 bits,
    /// `NOT_VOLATILE` if absent) and, in the top bit, the `raw` flag: packed so an
    /// entry stays 48 bytes (a million keys: 8 MB less).
    meta: u32,
    /// Redis's 24-bit `lru` field: the LRU clock at the last access, or,
    /// under an LFU policy, the minute (16 bits) and the log counter (8
    /// bits). See [`Entry::touch`].
    pub access: u32,
}

/// Access tracking as the `maxmemory-policy` asks: LFU counters or LRU
/// times (one relaxed load per access).
static LFU: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// An LRU policy: snapshots carry idle times.
static LRU: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static LFU_LOG_FACTOR: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(10);
static LFU_DECAY_TIME: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// Sets how accesses are tracked (`maxmemory-policy`, `lfu-log-factor`,
/// `lfu-decay-time`).
pub fn set_access_policy(policy: &str, log_factor: u32, decay_time: u32) {
    use std::sync::atomic::Ordering::Relaxed;
    LFU.store(policy.ends_with("-lfu"), Relaxed);
    LRU.store(policy.ends_with("-lru"), Relaxed);
    LFU_LOG_FACTOR.store(log_factor, Relaxed);
    LFU_DECAY_TIME.store(decay_time, Relaxed);
}

/// Whether an LFU policy is selected.
#[inline]
pub fn lfu() -> bool {
    LFU.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether an LRU policy is selected (snapshots then carry idle times).
#[inline]
pub fn lru() -> bool {
    LRU.load(std::sync::atomic::Ordering::Relaxed)
}

/// Redis's `LRU_CLOCK_MAX`: the `lru` field is 24 bits.
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// Redis's `LFU_INIT_VAL`: a new key's counter, so it is not evicted at once.
const LFU_INIT_VAL: u32 = 5;

/// The LRU clock: seconds, 24 bits.
#[inline]
fn lru_clock() -> u32 {
    clock() & LRU_CLOCK_MAX
}

/// LFU time: minutes, 16 bits.
#[inline]
fn lfu_minutes() -> u32 {
    (clock() / 60) & 0xFFFF
}

thread_local! {
    /// Seconds clock of the command being run on this thread (for access times),
    /// refreshed once per command so entries need not take a time argument.
    static CLOCK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Sets this thread's command clock from a unix-ms instant.
#[inline]
pub fn set_clock(now_ms: u64) {
    CLOCK.with(|c| c.set((now_ms / 1000) as u32));
}

#[inline]
pub fn clock() -> u32 {
    CLOCK.with(|c| c.get())
}

impl Entry {
    pub fn new(value: Value) -> Self {
        Entry {
            value,
            expire_at: 0,
            meta: NOT_VOLATILE,
            access: if lfu() {
                (lfu_minutes() << 8) | LFU_INIT_VAL
            } else {
                lru_clock()
            },
        }
    }

    /// An access: the LRU time, or (LFU) the counter decayed for the time
    /// since the last access and then maybe incremented, logarithmically
    /// (Redis's `updateLFU`).
    #[inline]
    pub fn touch(&mut self) {
        if !lfu() {
            self.access = lru_clock();
            return;
        }
        let mut counter = self.lfu_counter();
        if counter < 255 {
            let r = (crate::num::rand() >> 11) as f64 / (1u64 << 53) as f64;
            let base = counter.saturating_sub(LFU_INIT_VAL as u8) as f64;
            let factor = LFU_LOG_FACTOR.load(std::sync::atomic::Ordering::Relaxed) as f64;
            if r < 1.0 / (base * factor + 1.0) {
                counter += 1;
            }
        }
        self.access = (lfu_minutes() << 8) | counter as u32;
    }

    /// The LFU counter, decayed by one per `lfu-decay-time` minutes since
    /// the last access (Redis's `LFUDecrAndReturn`).
    pub fn lfu_counter(&self) -> u8 {
        let ldt = self.access >> 8;
        let counter = self.access & 255;
        let decay = LFU_DECAY_TIME.load(std::sync::atomic::Ordering::Relaxed);
        if decay == 0 {
            return counter as u8;
        }
        let now = lfu_minutes();
        let elapsed = if now >= ldt {
            now - ldt
        } else {
            65535 - ldt + now
        };
        counter.saturating_sub(elapsed / decay) as u8
    }

    /// Milliseconds since the last access, by the LRU clock (Redis's
    /// `estimateObjectIdleTime`, wrapping once).
    pub fn idle_ms(&self) -> u64 {
        let now = lru_clock();
        let lru = self.access & LRU_CLOCK_MAX;
        let secs = if now >= lru {
            now - lru
        } else {
            now + (LRU_CLOCK_MAX - lru)
        };
        secs as u64 * 1000
    }

    /// What RESTORE's FREQ or IDLETIME and a file's FREQ or IDLE record say
    /// (Redis's `objectSetLRUOrLFU`): a frequency counts under an LFU
    /// policy, an idle time (seconds) otherwise.
    pub fn set_lru_or_lfu(&mut self, freq: Option<u8>, idle_secs: Option<u64>) {
        if lfu() {
            if let Some(f) = freq {
                self.access = (lfu_minutes() << 8) | f as u32;
            }
        } else if let Some(idle) = idle_secs {
            let idle = (idle % (LRU_CLOCK_MAX as u64 + 1)) as u32;
            let now = lru_clock();
            self.access = if idle > now {
                now + LRU_CLOCK_MAX - idle
            } else {
                now - idle
            };
        }
    }

    /// Whether a string was modified in place (APPEND, SETRANGE, ...): Redis then
    /// reports the `raw` encoding whatever the length.
    #[inline]
    pub fn is_raw(&self) -> bool {
        self.meta & RAW_BIT != 0
    }

    #[inline]
    pub fn set_raw(&mut self, raw: bool) {
        if raw {
            self.meta |= RAW_BIT;
        } else {
            self.meta &= !RAW_BIT;
        }
    }

    #[inline]
    fn vol(&self) -> u32 {
        self.meta & !RAW_BIT
    }

    #[inline]
    fn set_vol(&mut self, v: u32) {
        self.meta = (self.meta & RAW_BIT) | (v & !RAW_BIT);
    }

    #[inline]
    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now
    }

    /// The name `OBJECT ENCODING` reports, following Redis's rules for strings.
    pub fn encoding(&self) -> &'static str {
        match &self.value {
            Value::Str(s) => {
                if self.is_raw() {
                    "raw"
                } else if s.len() <= 20 && crate::protocol::parse_i64(s).is_some() {
                    "int"
                } else if s.len() > 44 {
                    "raw"
                } else {
                    "embstr"
                }
            }
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(x) => x.encoding(),
            Value::ZSet(z) => z.encoding(),
        }
    }
}

/// Clients blocked on one key (BLPOP, BZPOPMIN...): `(home shard, waiter id)`,
/// longest-waiting first, and when the key last became ready.
#[derive(Default, Debug)]
pub struct KeyWaiters {
    pub queue: VecDeque<(usize, u64)>,
    /// Global order of the key's last creation, so a client blocked on several
    /// keys is served from the key that became ready first (as Redis does).
    pub ready_seq: u64,
}

/// Orders readiness events across shards.
static READY_SEQ: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Set when some db of this thread's store has ready keys to announce.
    static READY_PENDING: Cell<bool> = const { Cell::new(false) };
}

/// Flags ready keys set aside outside `Db::created` (a waiter left a key with data).
pub fn mark_ready_pending() {
    READY_PENDING.with(|c| c.set(true));
}

/// Whether a command created a key that blocked clients wait on; clears the flag.
#[inline]
pub fn take_ready_pending() -> bool {
    READY_PENDING.with(|c| c.replace(false))
}

const NOT_VOLATILE: u32 = u32::MAX >> 1;
const RAW_BIT: u32 = 1 << 31;

/// One database of one shard.
#[derive(Default)]
pub struct Db {
    /// Private so that every write goes through `Db`, where a running
    /// snapshot sees it first (`snapshot`); read it through [`Db::dict`].
    dict: Dict<Entry>,
    /// Slot positions of the keys that have an expiry, so active expiry samples only
    /// those (as Redis samples its `expires` dict) whatever the share of persistent
    /// keys. Positions never move in a `Dict`, so they stay valid until removal.
    volatile_keys: Vec<u32>,
    /// Keys clients are blocked on (empty unless some client blocks).
    pub blocked: hashbrown::HashMap<Box<[u8]>, KeyWaiters>,
    /// Blocked-on keys created since the shard last announced them.
    pub ready: Vec<Box<[u8]>>,
    /// This database's number (for keyspace notifications).
    pub id: u8,
    /// A snapshot in progress (BGSAVE), if any.
    snap: Option<Box<snapshot::DbSnap>>,
}

impl Db {
    /// The keyspace, read-only.
    #[inline]
    pub fn dict(&self) -> &Dict<Entry> {
        &self.dict
    }

    /// Records that `key` came into existence, for clients blocked on it.
    #[inline]
    fn created(&mut self, key: &[u8]) {
        notify::notify(self.id as usize, notify::class::NEW, "new", key);
        if self.blocked.is_empty() {
            return;
        }
        if let Some(w) = self.blocked.get_mut(key) {
            w.ready_seq = READY_SEQ.fetch_add(1, Ordering::Relaxed);
            self.ready.push(key.into());
            READY_PENDING.with(|c| c.set(true));
        }
    }

    /// A live key's entry for writing, created with `make()` when missing. Type
    /// checks are the caller's; so is deleting the key if it ends up empty.
    pub fn entry_or_insert_with(
        &mut self,
        key: &[u8],
        now: u64,
        make: impl FnOnce() -> Value,
    ) -> &mut Entry {
        if let Some(pos) = self.find(key, now) {
            self.before_change(pos);
            let (_, e) = self.dict.at_mut(pos).expect("position of a key just found");
            e.touch();
            return e;
        }
        // Announced after the command, so noting it before the insert is fine;
        // the insert then hashes once and hands the entry back.
        self.created(key);
        if self.snap.is_some() {
            self.dict.insert(key, Entry::new(make()));
            self.after_insert(key);
            let pos = self.dict.position(key).expect("key just inserted");
            return self.dict.at_mut(pos).expect("key just inserted").1;
        }
        let (e, _) = self.dict.get_or_insert_with(key, || Entry::new(make()));
        e
    }

    /// A live key's entry for writing, at a position found by [`find`](Self::find).
    #[inline]
    pub fn at_mut(&mut self, pos: u32) -> Option<&mut Entry> {
        self.before_change(pos);
        self.dict.at_mut(pos).map(|(_, e)| e)
    }
    /// The slot position of a live key, deleting it first if it has expired (lazy
    /// expiry). One hash and one probe: callers reuse the position.
    #[inline]
    pub fn find(&mut self, key: &[u8], now: u64) -> Option<u32> {
        let pos = self.dict.position(key)?;
        if self.dict.at(pos).is_some_and(|(_, e)| e.is_expired(now)) {
            notify::notify(self.id as usize, notify::class::EXPIRED, "expired", key);
            self.remove_at(pos);
            return None;
        }
        Some(pos)
    }

    /// Looks a key up (lazily expiring it) without marking it accessed:
    /// TTL, TYPE, EXISTS and OBJECT (Redis's `LOOKUP_NOTOUCH`).
    #[inline]
    pub fn get_untouched(&mut self, key: &[u8], now: u64) -> Option<&Entry> {
        let pos = self.find(key, now)?;
        self.dict.at(pos).map(|(_, e)| e)
    }

    /// Looks a key up (see [`find`](Self::find)) and marks it accessed.
    #[inline]
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&mut Entry> {
        let pos = self.find(key, now)?;
        self.before_change(pos);
        let (_, e) = self.dict.at_mut(pos)?;
        e.touch();
        Some(e)
    }

    /// Number of keys with an expiry (INFO keyspace `expires=`).
    pub fn volatile_len(&self) -> usize {
        self.volatile_keys.len()
    }

    /// Drops index entry `idx`, re-pointing the entry that takes its place.
    fn untrack(&mut self, idx: u32) {
        let idx = idx as usize;
        if idx >= self.volatile_keys.len() {
            return;
        }
        self.volatile_keys.swap_remove(idx);
        if let Some(&moved) = self.volatile_keys.get(idx)
            && let Some((_, e)) = self.dict.at_mut(moved)
        {
            e.set_vol(idx as u32);
        }
    }

    /// Brings the index in line with the entry at `pos` after its expiry changed.
    fn sync(&mut self, pos: u32) {
        let Some((_, e)) = self.dict.at_mut(pos) else {
            return;
        };
        match (e.expire_at != 0, e.vol() != NOT_VOLATILE) {
            (true, false) => {
                e.set_vol(self.volatile_keys.len() as u32);
                self.volatile_keys.push(pos);
            }
            (false, true) => {
                let idx = e.vol();
                e.set_vol(NOT_VOLATILE);
                self.untrack(idx);
            }
            _ => {}
        }
    }

    /// Takes a removed entry out of the index and clears its stale index slot.
    fn forget(&mut self, mut e: Entry) -> Entry {
        if e.vol() != NOT_VOLATILE {
            self.untrack(e.vol());
            e.set_vol(NOT_VOLATILE);
        }
        e
    }

    /// Replaces the entry at a position found by [`find`](Self::find).
    pub fn replace_at(&mut self, pos: u32, mut entry: Entry) {
        self.before_change(pos);
        entry.set_vol(NOT_VOLATILE);
        let Some((_, e)) = self.dict.at_mut(pos) else {
            return;
        };
        let old = std::mem::replace(e, entry);
        self.forget(old);
        self.sync(pos);
    }

    fn remove_at(&mut self, pos: u32) -> Option<Entry> {
        self.before_change(pos);
        let (_, e) = self.dict.remove_at(pos)?;
        Some(self.forget(e))
    }

    /// Read-only lookup that treats expired keys as missing without deleting them.
    #[inline]
    pub fn peek(&self, key: &[u8], now: u64) -> Option<&Entry> {
        self.dict.get(key).filter(|e| !e.is_expired(now))
    }

    pub fn exists(&mut self, key: &[u8], now: u64) -> bool {
        self.get(key, now).is_some()
    }

    /// Stores a value, replacing any previous one and clearing its expiry.
    pub fn set(&mut self, key: &[u8], value: Value) {
        self.set_entry(key, Entry::new(value));
    }

    /// Stores a whole entry (value + expiry), replacing any previous one.
    pub fn set_entry(&mut self, key: &[u8], mut entry: Entry) {
        entry.set_vol(NOT_VOLATILE);
        let volatile = entry.expire_at != 0;
        if self.snap.is_some()
            && let Some(pos) = self.dict.position(key)
        {
            self.before_change(pos);
        }
        // A replaced key counts as created too: RENAME onto a key whose string
        // a blocked client was ignoring brings it a list.
        match self.dict.insert(key, entry) {
            Some(old) => {
                self.forget(old);
            }
            None => self.after_insert(key),
        }
        self.created(key);
        if volatile && let Some(pos) = self.dict.position(key) {
            self.sync(pos);
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let pos = self.dict.position(key)?;
        self.remove_at(pos)
    }

    /// Sets or clears (0) the expiry of an existing key; returns false if missing.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        let Some(pos) = self.dict.position(key) else {
            return false;
        };
        self.before_change(pos);
        if let Some((_, e)) = self.dict.at_mut(pos) {
            e.expire_at = at;
        }
        self.sync(pos);
        true
    }

    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    pub fn clear(&mut self) {
        if !self.detach_for_snapshot() {
            self.dict.clear();
        }
        self.volatile_keys = Vec::new();
    }

    /// One round of Redis-style active expiry: sample up to `samples` keys that have
    /// an expiry, delete the expired ones; returns (sampled, expired) so the caller
    /// can repeat while more than a quarter of the samples had expired.
    pub fn expire_cycle(
        &mut self,
        now: u64,
        samples: usize,
        rand: &mut impl FnMut() -> u64,
        skip: &dyn Fn(&[u8]) -> bool,
    ) -> (usize, usize) {
        let n = self.volatile_keys.len();
        if n == 0 {
            return (0, 0);
        }
        let mut victims: Vec<u32> = Vec::new();
        let sampled = samples.min(n);
        for _ in 0..sampled {
            let pos = self.volatile_keys[(rand() % n as u64) as usize];
            if let Some((key, e)) = self.dict.at(pos)
                && e.is_expired(now)
                && !skip(key)
            {
                victims.push(pos);
            }
        }
        victims.sort_unstable();
        victims.dedup();
        let expired = victims.len();
        for pos in victims {
            if let Some((key, _)) = self.dict.at(pos) {
                notify::notify(self.id as usize, notify::class::EXPIRED, "expired", key);
            }
            self.remove_at(pos);
        }
        (sampled, expired)
    }

    /// Checks the volatile index against the dict (tests).
    #[cfg(test)]
    fn check_index(&self) {
        let with_ttl = self.dict.iter().filter(|(_, e)| e.expire_at != 0).count();
        assert_eq!(with_ttl, self.volatile_keys.len());
        for (i, &pos) in self.volatile_keys.iter().enumerate() {
            let (_, e) = self.dict.at(pos).expect("indexed slot is occupied");
            assert_eq!(e.vol() as usize, i);
            assert_ne!(e.expire_at, 0);
        }
    }
}

/// All databases of one shard.
pub struct Store {
    pub dbs: Vec<Db>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            dbs: (0..NUM_DBS)
                .map(|i| Db {
                    id: i as u8,
                    ..Db::default()
                })
                .collect(),
        }
    }
}

impl Store {
    /// SWAPDB: the data changes places, blocked clients stay with their db
    /// number, and those whose keys now exist are woken (as Redis does).
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        if a == b || a >= self.dbs.len() || b >= self.dbs.len() {
            return;
        }
        self.dbs.swap(a, b);
        (self.dbs[a].id, self.dbs[b].id) = (a as u8, b as u8);
        let (lo, hi) = (a.min(b), a.max(b));
        let (left, right) = self.dbs.split_at_mut(hi);
        std::mem::swap(&mut left[lo].blocked, &mut right[0].blocked);
        std::mem::swap(&mut left[lo].ready, &mut right[0].ready);
        let now = now_ms();
        for i in [a, b] {
            let d = &mut self.dbs[i];
            let live: Vec<Box<[u8]>> = d
                .blocked
                .keys()
                .filter(|k| d.peek(k, now).is_some())
                .cloned()
                .collect();
            if !live.is_empty() {
                d.ready.extend(live);
                mark_ready_pending();
            }
        }
    }

    pub fn keys(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }
}

/// Loading an AOF: time stands at zero, so nothing counts as expired until
/// the whole file has replayed (Redis does not expire keys while loading).
static FROZEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn freeze_clock(on: bool) {
    FROZEN.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Milliseconds since the unix epoch.
#[inline]
pub fn now_ms() -> u64 {
    if FROZEN.load(std::sync::atomic::Ordering::Relaxed) {
        return 0;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever sets, expiries, removals and expiry cycles happen, the volatile
        /// index lists exactly the keys with an expiry.
        #[test]
        fn volatile_index_stays_exact(ops in prop::collection::vec((0u8..6, 0u8..24, 0u64..3), 1..300)) {
            let mut db = Db::default();
            let mut seed = 7u64;
            for (op, k, t) in ops {
                let key = [b'k', k];
                let at = if t == 0 { 0 } else { 1000 * t };
                match op {
                    0 => db.set(&key, Value::Str(vec![k])),
                    1 => {
                        let mut e = Entry::new(Value::Str(vec![k]));
                        e.expire_at = at;
                        db.set_entry(&key, e);
                    }
                    2 => { db.set_expire(&key, at); }
                    3 => { db.remove(&key); }
                    4 => { db.find(&key, 1500); }
                    _ => {
                        db.expire_cycle(1500, 5, &mut || { seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1); seed >> 33 }, &|_| false);
                    }
                }
                db.check_index();
            }
        }
    }

    #[test]
    fn entry_is_compact() {
        assert!(std::mem::size_of::<Entry>() <= 48);
    }

    #[test]
    fn active_expiry_finds_few_volatile_keys_among_many() {
        let mut db = Db::default();
        for i in 0..10_000u32 {
            db.set(format!("p{i}").as_bytes(), Value::Str(vec![1]));
        }
        for i in 0..10u32 {
            let mut e = Entry::new(Value::Str(vec![1]));
            e.expire_at = 1;
            db.set_entry(format!("v{i}").as_bytes(), e);
        }
        let mut x = 1u64;
        let mut rand = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20 {
            db.expire_cycle(10, 20, &mut rand, &|_| false);
        }
        assert_eq!(db.volatile_len(), 0);
        assert_eq!(db.len(), 10_000);
    }
}
