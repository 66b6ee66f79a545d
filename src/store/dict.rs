//! `Dict<V>`: the byte-string keyed hash map behind a shard's keyspace (and,
//! later, the member tables of hashes and sets).
//!
//! # Design: a slab plus an index
//!
//! Entries live in a slab, `entries: Vec<Slot<V>>`. A slot is either occupied
//! (`key: Box<[u8]>`, `value: V`) or a hole. Lookup goes through
//! `index: HashTable<u32>`, which stores only slot positions; the hash of a
//! position is recomputed from the key stored in that slot, so the index costs
//! 4 bytes plus one control byte per bucket and never duplicates keys.
//!
//! Removal never moves another entry: the slot becomes a hole that is linked
//! into a free list, and new keys reuse holes before growing the slab. Holes at
//! the tail are popped so the slab shrinks when its end empties out.
//!
//! # Why positions never move: SCAN
//!
//! A SCAN cursor is simply a slot position. Because an entry keeps its position
//! for as long as it stays in the dict, a walk that visits positions in
//! increasing order returns every key that is present for the whole walk at
//! least once, no matter what is inserted or removed between calls. (Keys added
//! or removed during the walk may or may not be seen, and a key removed and
//! re-added may be seen twice, exactly as Redis allows.) The same stable
//! positions make random sampling O(1): pick a random position and retry on a
//! hole (RANDOMKEY, active expiry).
//!
//! # Hashing
//!
//! Keys are client-controlled, so the index uses hashbrown's
//! `DefaultHashBuilder` (foldhash seeded randomly per instance) to resist
//! hash-flooding; never an unseeded hasher.

use crate::num::below;
use std::fmt;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Free-list terminator; also why at most `u32::MAX` positions (0..u32::MAX) exist.
const NIL: u32 = u32::MAX;

/// Rejection-sampling attempts in `random` before falling back to a walk.
const RANDOM_TRIES: usize = 32;

/// Up to this many entries, a fallback `random` picks the n-th index entry
/// (exactly uniform, O(len)); above it, a linear walk from a random start.
const RANDOM_NTH_MAX: usize = 4096;

/// Below this capacity neither the slab nor the index is ever shrunk: tiny
/// tables are not worth a reallocation.
const SHRINK_MIN_CAPACITY: usize = 64;

/// A slab slot.
///
/// The free list is threaded through the holes (doubly linked) rather than kept
/// in a separate `Vec<u32>`: holes are already paid for, so the list costs no
/// extra memory, and the back link lets the tail trim unlink any hole in O(1).
/// The two `u32` links fit beside the key's pointer niche, so a `Slot<V>` is
/// no larger than `(Box<[u8]>, V)` itself.
#[derive(Clone)]
enum Slot<V> {
    Occupied { key: Box<[u8]>, value: V },
    Vacant { prev: u32, next: u32 },
}

impl<V> Slot<V> {
    fn key(&self) -> Option<&[u8]> {
        match self {
            Slot::Occupied { key, .. } => Some(key),
            Slot::Vacant { .. } => None,
        }
    }
}

/// A hash map from byte strings to `V` whose entries keep stable slot
/// positions; see the module docs.
#[derive(Clone)]
pub struct Dict<V> {
    entries: Vec<Slot<V>>,
    index: HashTable<u32>,
    hash_builder: DefaultHashBuilder,
    /// Head of the hole free list, or `NIL`.
    free_head: u32,
    /// Sum of key lengths, so `overhead_bytes` is O(1).
    key_bytes: usize,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: fmt::Debug> fmt::Debug for Dict<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (String::from_utf8_lossy(k), v)))
            .finish()
    }
}

/// Hash of the key stored at `pos`; the index's rehash callback. Free function
/// over disjoint fields so it can be used while `index` is borrowed mutably.
fn hash_at<V>(entries: &[Slot<V>], hash_builder: &DefaultHashBuilder, pos: u32) -> u64 {
    let key = entries.get(pos as usize).and_then(Slot::key);
    debug_assert!(key.is_some(), "index points at a hole");
    hash_builder.hash_one(key.unwrap_or_default())
}

impl<V> Dict<V> {
    pub fn new() -> Self {
        Dict {
            entries: Vec::new(),
            index: HashTable::new(),
            hash_builder: DefaultHashBuilder::default(),
            free_head: NIL,
            key_bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hash_builder.hash_one(key)
    }

    fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let entries = &self.entries;
        self.index
            .find(hash, |&p| {
                entries.get(p as usize).and_then(Slot::key) == Some(key)
            })
            .copied()
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.at(self.position(key)?).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let pos = self.position(key)?;
        self.at_mut(pos).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.position(key).is_some()
    }

    /// Slot position of a key (stable until the key is removed).
    pub fn position(&self, key: &[u8]) -> Option<u32> {
        if self.is_empty() {
            return None;
        }
        self.find(self.hash(key), key)
    }

    /// Insert or replace; returns the old value. Copies the key only when it is new.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        let hash = self.hash(key);
        match self.find(hash, key) {
            Some(pos) => Some(std::mem::replace(self.value_mut(pos), value)),
            None => {
                self.insert_new(hash, Box::from(key), value);
                None
            }
        }
    }

    /// Insert with an already-owned key (no copy), e.g. when a value moves between dicts.
    pub fn insert_owned(&mut self, key: Box<[u8]>, value: V) -> Option<V> {
        let hash = self.hash(&key);
        match self.find(hash, &key) {
            Some(pos) => Some(std::mem::replace(self.value_mut(pos), value)),
            None => {
                self.insert_new(hash, key, value);
                None
            }
        }
    }

    /// Returns (&mut value, true if it was just created by `make`).
    pub fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> V) -> (&mut V, bool) {
        let hash = self.hash(key);
        let (pos, created) = match self.find(hash, key) {
            Some(pos) => (pos, false),
            None => (self.insert_new(hash, Box::from(key), make()), true),
        };
        (self.value_mut(pos), created)
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<(Box<[u8]>, V)> {
        let pos = self.position(key)?;
        self.remove_at(pos)
    }

    /// Number of slot positions (occupied + holes); positions are 0..slot_count().
    pub fn slot_count(&self) -> usize {
        self.entries.len()
    }

    /// The entry at a slot position, None for a hole or out of range.
    pub fn at(&self, pos: u32) -> Option<(&[u8], &V)> {
        match self.entries.get(pos as usize)? {
            Slot::Occupied { key, value } => Some((key, value)),
            Slot::Vacant { .. } => None,
        }
    }

    pub fn at_mut(&mut self, pos: u32) -> Option<(&[u8], &mut V)> {
        match self.entries.get_mut(pos as usize)? {
            Slot::Occupied { key, value } => Some((key, value)),
            Slot::Vacant { .. } => None,
        }
    }

    /// Remove the entry at a position (used by active expiry after sampling).
    pub fn remove_at(&mut self, pos: u32) -> Option<(Box<[u8]>, V)> {
        let key = self.entries.get(pos as usize)?.key()?;
        let hash = self.hash(key);
        match self.index.find_entry(hash, |&p| p == pos) {
            Ok(entry) => {
                entry.remove();
            }
            Err(_) => debug_assert!(false, "occupied slot {pos} missing from index"),
        }
        let old = std::mem::replace(
            &mut self.entries[pos as usize],
            Slot::Vacant {
                prev: NIL,
                next: NIL,
            },
        );
        self.push_free(pos);
        self.trim_tail();
        self.maybe_shrink();
        match old {
            Slot::Occupied { key, value } => {
                self.key_bytes -= key.len();
                Some((key, value))
            }
            Slot::Vacant { .. } => None,
        }
    }

    /// A uniformly random occupied entry using `rand` as the randomness source
    /// (called repeatedly for fresh random u64s); None when empty. Must terminate quickly
    /// even when most slots are holes (fall back to a linear walk from a random start).
    ///
    /// Rejection sampling over positions is exactly uniform and O(slots/len)
    /// expected. Only a very sparse slab exhausts the tries; then a small dict
    /// picks the n-th index entry (still uniform), and a large one walks from a
    /// random start (biased towards entries after long runs of holes, but
    /// bounded by the slab length and reached only at <~10% density).
    pub fn random(&self, rand: &mut impl FnMut() -> u64) -> Option<(u32, &[u8], &V)> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        let slots = self.entries.len();
        let at = |pos: usize| {
            let pos = pos as u32;
            self.at(pos).map(|(k, v)| (pos, k, v))
        };
        for _ in 0..RANDOM_TRIES {
            if let Some(hit) = at(below(rand(), slots)) {
                return Some(hit);
            }
        }
        if len <= RANDOM_NTH_MAX {
            let &pos = self.index.iter().nth(below(rand(), len))?;
            return at(pos as usize);
        }
        let start = below(rand(), slots);
        (start..slots).chain(0..start).find_map(at)
    }

    /// Visit occupied entries from position `cursor`, examining at least `count` occupied
    /// entries when available (and at most ~10*count+some holes per call), calling `f`
    /// for each. Returns the next cursor, or 0 when the walk reached the end.
    ///
    /// Each call advances at least one position, so a walk always terminates,
    /// including when position 0 holds a key.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &V)) -> u64 {
        let end = self.entries.len();
        let Ok(mut pos) = usize::try_from(cursor) else {
            return 0;
        };
        let want = count.max(1);
        let max_holes = want.saturating_mul(10).saturating_add(16);
        let (mut seen, mut holes) = (0usize, 0usize);
        while pos < end && seen < want && holes < max_holes {
            match &self.entries[pos] {
                Slot::Occupied { key, value } => {
                    f(key, value);
                    seen += 1;
                }
                Slot::Vacant { .. } => holes += 1,
            }
            pos += 1;
        }
        if pos >= end { 0 } else { pos as u64 }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.entries.iter().filter_map(|slot| match slot {
            Slot::Occupied { key, value } => Some((&**key, value)),
            Slot::Vacant { .. } => None,
        })
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&[u8], &mut V)> {
        self.entries.iter_mut().filter_map(|slot| match slot {
            Slot::Occupied { key, value } => Some((&**key, value)),
            Slot::Vacant { .. } => None,
        })
    }

    /// Remove all; keep no capacity beyond a small amount.
    pub fn clear(&mut self) {
        self.entries = Vec::new();
        self.index = HashTable::new();
        self.free_head = NIL;
        self.key_bytes = 0;
    }

    /// Remove entries for which `keep` returns false.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &mut V) -> bool) {
        let mut pos = 0;
        // `remove_at` may trim the tail, but only at or below `pos`, so
        // re-reading the length each round visits every remaining entry once.
        while pos < self.entries.len() {
            let drop_it = match &mut self.entries[pos] {
                Slot::Occupied { key, value } => !keep(key, value),
                Slot::Vacant { .. } => false,
            };
            if drop_it {
                self.remove_at(pos as u32);
            }
            pos += 1;
        }
    }

    /// Approximate heap bytes used by the table structure (not counting V's own heap).
    ///
    /// Counts the slab (holes included), the index allocation and the key
    /// bytes, but not the allocator's per-key rounding.
    pub fn overhead_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Slot<V>>()
            + self.index.allocation_size()
            + self.key_bytes
    }

    /// Store a new key (known absent) in a hole or at the end; returns its position.
    fn insert_new(&mut self, hash: u64, key: Box<[u8]>, value: V) -> u32 {
        self.key_bytes += key.len();
        let slot = Slot::Occupied { key, value };
        let pos = if self.free_head != NIL {
            let pos = self.free_head;
            self.unlink(pos);
            self.entries[pos as usize] = slot;
            pos
        } else {
            let pos = u32::try_from(self.entries.len())
                .ok()
                .filter(|&p| p != NIL)
                .expect("Dict holds at most u32::MAX slots");
            self.entries.push(slot);
            pos
        };
        let (entries, hash_builder) = (&self.entries, &self.hash_builder);
        self.index
            .insert_unique(hash, pos, |&p| hash_at(entries, hash_builder, p));
        pos
    }

    /// Value at a position the caller knows to be occupied.
    fn value_mut(&mut self, pos: u32) -> &mut V {
        match &mut self.entries[pos as usize] {
            Slot::Occupied { value, .. } => value,
            Slot::Vacant { .. } => unreachable!("position {pos} is a hole"),
        }
    }

    fn set_link(&mut self, pos: u32, set_prev: Option<u32>, set_next: Option<u32>) {
        if let Some(Slot::Vacant { prev, next }) = self.entries.get_mut(pos as usize) {
            if let Some(p) = set_prev {
                *prev = p;
            }
            if let Some(n) = set_next {
                *next = n;
            }
        } else {
            debug_assert!(false, "free list links to non-hole {pos}");
        }
    }

    /// Push the (already vacant) slot `pos` on the free list.
    fn push_free(&mut self, pos: u32) {
        let head = self.free_head;
        self.set_link(pos, Some(NIL), Some(head));
        if head != NIL {
            self.set_link(head, Some(pos), None);
        }
        self.free_head = pos;
    }

    /// Take the hole `pos` off the free list.
    fn unlink(&mut self, pos: u32) {
        let (prev, next) = match self.entries.get(pos as usize) {
            Some(&Slot::Vacant { prev, next }) => (prev, next),
            _ => {
                debug_assert!(false, "unlink of non-hole {pos}");
                return;
            }
        };
        if prev == NIL {
            self.free_head = next;
        } else {
            self.set_link(prev, None, Some(next));
        }
        if next != NIL {
            self.set_link(next, Some(prev), None);
        }
    }

    /// Pop trailing holes so the slab ends with an occupied slot (or is empty).
    fn trim_tail(&mut self) {
        while let Some(Slot::Vacant { .. }) = self.entries.last() {
            let last = (self.entries.len() - 1) as u32;
            self.unlink(last);
            self.entries.pop();
        }
    }

    /// Give memory back after mass deletion. Shrinks only below 1/4 load to
    /// 1/2 load, so alternating insert/remove cannot thrash reallocations.
    fn maybe_shrink(&mut self) {
        let (len, cap) = (self.index.len(), self.index.capacity());
        if cap > SHRINK_MIN_CAPACITY && len < cap / 4 {
            let (entries, hash_builder) = (&self.entries, &self.hash_builder);
            self.index
                .shrink_to(len * 2, |&p| hash_at(entries, hash_builder, p));
        }
        let (slots, cap) = (self.entries.len(), self.entries.capacity());
        if cap > SHRINK_MIN_CAPACITY && slots < cap / 4 {
            self.entries.shrink_to(slots * 2);
        }
    }

    /// Check every structural invariant; test-only.
    #[cfg(test)]
    fn check_invariants(&self) {
        // Index and occupied slots agree.
        let occupied = self.entries.iter().filter(|s| s.key().is_some()).count();
        assert_eq!(occupied, self.index.len());
        for &p in self.index.iter() {
            let key = self.entries[p as usize].key().expect("index -> hole");
            assert_eq!(self.position(key), Some(p));
        }
        // Free list covers exactly the holes, with consistent back links.
        let holes = self.entries.len() - occupied;
        let (mut cur, mut prev_seen, mut n) = (self.free_head, NIL, 0);
        while cur != NIL {
            match self.entries[cur as usize] {
                Slot::Vacant { prev, next } => {
                    assert_eq!(prev, prev_seen);
                    prev_seen = cur;
                    cur = next;
                }
                Slot::Occupied { .. } => panic!("free list -> occupied"),
            }
            n += 1;
            assert!(n <= holes, "free list cycle");
        }
        assert_eq!(n, holes);
        assert!(!matches!(self.entries.last(), Some(Slot::Vacant { .. })));
        let key_bytes: usize = self.iter().map(|(k, _)| k.len()).sum();
        assert_eq!(key_bytes, self.key_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    /// Deterministic xorshift for tests.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    fn key(i: usize) -> Vec<u8> {
        format!("key:{i:012}").into_bytes()
    }

    #[test]
    fn slot_is_no_bigger_than_its_payload() {
        assert_eq!(
            std::mem::size_of::<Slot<u64>>(),
            std::mem::size_of::<(Box<[u8]>, u64)>()
        );
        assert_eq!(std::mem::size_of::<Slot<()>>(), 16);
    }

    #[test]
    fn basic_ops() {
        let mut d = Dict::new();
        assert!(d.is_empty());
        assert_eq!(d.insert(b"a", 1), None);
        assert_eq!(d.insert(b"b", 2), None);
        assert_eq!(d.insert(b"a", 3), Some(1));
        assert_eq!(d.len(), 2);
        assert_eq!(d.get(b"a"), Some(&3));
        assert_eq!(d.get(b"zz"), None);
        assert!(d.contains_key(b"b"));
        *d.get_mut(b"b").unwrap() += 10;
        assert_eq!(d.get(b"b"), Some(&12));
        assert_eq!(d.insert_owned(Box::from(&b"c"[..]), 5), None);
        assert_eq!(d.insert_owned(Box::from(&b"c"[..]), 6), Some(5));

        let (v, created) = d.get_or_insert_with(b"d", || 7);
        assert!(created);
        *v += 1;
        let (v, created) = d.get_or_insert_with(b"d", || 100);
        assert!(!created);
        assert_eq!(*v, 8);

        let pos = d.position(b"a").unwrap();
        assert_eq!(d.at(pos), Some((&b"a"[..], &3)));
        assert_eq!(d.remove(b"a"), Some((Box::from(&b"a"[..]), 3)));
        assert_eq!(d.remove(b"a"), None);
        assert_eq!(d.at(pos), None);
        assert_eq!(d.at(u32::MAX), None);
        assert_eq!(d.remove_at(u32::MAX), None);
        assert_eq!(d.len(), 3);
        let mut all: Vec<_> = d.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
        all.sort();
        assert_eq!(
            all,
            vec![(b"b".to_vec(), 12), (b"c".to_vec(), 6), (b"d".to_vec(), 8)]
        );
        for (_, v) in d.iter_mut() {
            *v *= 2;
        }
        assert_eq!(d.get(b"d"), Some(&16));
        d.retain(|k, _| k != b"c");
        assert_eq!(d.len(), 2);
        assert!(d.overhead_bytes() > 0);
        d.check_invariants();
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.slot_count(), 0);
        assert_eq!(d.get(b"b"), None);
        d.check_invariants();
        assert_eq!(d.insert(b"", 1), None, "empty key is a valid key");
        assert_eq!(d.get(b""), Some(&1));
    }

    #[test]
    fn holes_are_reused_and_positions_stable() {
        let mut d = Dict::new();
        for i in 0..10 {
            d.insert(&key(i), i);
        }
        let positions: Vec<u32> = (0..10).map(|i| d.position(&key(i)).unwrap()).collect();
        d.remove(&key(3));
        d.remove(&key(6));
        assert_eq!(d.slot_count(), 10);
        for i in [0, 1, 2, 4, 5, 7, 8, 9] {
            assert_eq!(d.position(&key(i)), Some(positions[i]), "entry moved");
        }
        d.insert(b"new1", 100);
        d.insert(b"new2", 101);
        assert_eq!(d.slot_count(), 10, "holes reused before growing");
        let mut reused = [d.position(b"new1").unwrap(), d.position(b"new2").unwrap()];
        reused.sort();
        assert_eq!(reused, [positions[3], positions[6]]);
        d.insert(b"new3", 102);
        assert_eq!(d.slot_count(), 11);
        d.check_invariants();
    }

    #[test]
    fn trailing_holes_are_trimmed() {
        let mut d = Dict::new();
        for i in 0..10 {
            d.insert(&key(i), i);
        }
        d.remove(&key(7));
        d.remove(&key(8));
        assert_eq!(d.slot_count(), 10);
        d.remove(&key(9));
        assert_eq!(d.slot_count(), 7, "holes 7..10 popped");
        d.check_invariants();
        for i in 0..7 {
            d.remove(&key(i));
        }
        assert_eq!(d.slot_count(), 0);
        d.check_invariants();
        for i in 0..1000 {
            d.insert(&key(i), i);
        }
        let big = d.overhead_bytes();
        for i in 0..1000 {
            d.remove(&key(i));
        }
        assert!(d.overhead_bytes() < big / 4, "memory given back");
        d.check_invariants();
    }

    #[test]
    fn scan_from_zero_terminates() {
        let mut d = Dict::new();
        d.insert(b"only", 1);
        let mut seen = 0;
        assert_eq!(d.scan(0, 10, |_, _| seen += 1), 0);
        assert_eq!(seen, 1);
        // count 0 still makes progress
        for i in 0..5 {
            d.insert(&key(i), i);
        }
        let (mut cursor, mut calls, mut seen) = (0, 0, 0);
        loop {
            cursor = d.scan(cursor, 0, |_, _| seen += 1);
            calls += 1;
            assert!(calls < 100);
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen, 6);
        assert_eq!(Dict::<u8>::new().scan(0, 10, |_, _| panic!()), 0);
        assert_eq!(d.scan(u64::MAX, 10, |_, _| panic!()), 0);
    }

    #[test]
    fn scan_bounds_holes_per_call() {
        let mut d = Dict::new();
        for i in 0..10_000 {
            d.insert(&key(i), i);
        }
        for i in 1..9_999 {
            d.remove(&key(i));
        }
        assert_eq!(d.slot_count(), 10_000);
        let mut seen = Vec::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            let before = seen.len();
            let next = d.scan(cursor, 10, |k, _| seen.push(k.to_vec()));
            let advanced = if next == 0 {
                d.slot_count() as u64
            } else {
                next
            } - cursor;
            assert!(advanced <= 10 * 10 + 16 + (seen.len() - before) as u64);
            calls += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert!(calls > 10);
        assert_eq!(seen, vec![key(0), key(9_999)]);
    }

    #[test]
    fn scan_sees_stable_keys_despite_churn() {
        let mut r = rng(42);
        let mut d = Dict::new();
        for i in 0..2000 {
            d.insert(&key(i), i);
        }
        // Keys with i % 3 == 0 stay for the whole scan; the rest churn.
        let stable: HashSet<Vec<u8>> = (0..2000).step_by(3).map(key).collect();
        let mut seen = HashSet::new();
        let mut next_new = 2000;
        let mut cursor = 0;
        loop {
            cursor = d.scan(cursor, 7, |k, _| {
                seen.insert(k.to_vec());
            });
            for _ in 0..20 {
                let i = (r() % 2000) as usize;
                if !i.is_multiple_of(3) {
                    d.remove(&key(i));
                }
                if r().is_multiple_of(2) {
                    d.insert(&key(next_new), next_new);
                    next_new += 1;
                }
            }
            // Sometimes drop a lot of churn keys at the tail: shrink then regrow.
            if r().is_multiple_of(10) {
                d.retain(|k, _| stable.contains(k) || r().is_multiple_of(2));
            }
            if cursor == 0 {
                break;
            }
        }
        d.check_invariants();
        assert!(stable.is_subset(&seen));
    }

    #[test]
    fn random_is_uniform_enough_and_handles_sparse() {
        let mut r = rng(7);
        let d = Dict::<u32>::new();
        assert!(d.random(&mut r).is_none());

        let mut d = Dict::new();
        for i in 0..100 {
            d.insert(&key(i), i);
        }
        let mut counts = [0u32; 100];
        for _ in 0..20_000 {
            let (pos, k, &v) = d.random(&mut r).unwrap();
            assert_eq!(d.at(pos), Some((k, &v)));
            counts[v] += 1;
        }
        assert!(
            counts.iter().all(|&c| (100..=320).contains(&c)),
            "{counts:?}"
        );

        // Very sparse, small: nth fallback.
        let mut d = Dict::new();
        for i in 0..100_000 {
            d.insert(&key(i), i);
        }
        d.retain(|_, v| *v % 20_000 == 0 || *v == 99_999);
        assert_eq!(d.len(), 6);
        let mut hits = HashSet::new();
        for _ in 0..600 {
            let (_, _, &v) = d.random(&mut r).unwrap();
            hits.insert(v);
        }
        assert_eq!(hits.len(), 6);

        // Very sparse, large: linear walk fallback still finds entries.
        let mut d = Dict::new();
        for i in 0..200_000 {
            d.insert(&key(i), i);
        }
        d.retain(|_, v| *v % 40 == 0 || *v == 199_999);
        assert!(d.len() > RANDOM_NTH_MAX);
        for _ in 0..1000 {
            let (pos, k, _) = d.random(&mut r).unwrap();
            assert_eq!(d.position(k), Some(pos));
        }
        d.check_invariants();
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Vec<u8>, u32),
        InsertOwned(Vec<u8>, u32),
        Remove(Vec<u8>),
        RemoveAt(u32),
        Get(Vec<u8>),
        GetOrInsert(Vec<u8>, u32),
        Retain(u32),
        Random(u64),
        Clear,
    }

    fn small_key() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(0u8..4, 0..4)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (small_key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => (small_key(), any::<u32>()).prop_map(|(k, v)| Op::InsertOwned(k, v)),
            4 => small_key().prop_map(Op::Remove),
            2 => (0u32..100).prop_map(Op::RemoveAt),
            3 => small_key().prop_map(Op::Get),
            3 => (small_key(), any::<u32>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
            1 => (2u32..5).prop_map(Op::Retain),
            1 => any::<u64>().prop_map(Op::Random),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #[test]
        fn matches_hashmap_model(ops in prop::collection::vec(op(), 1..200)) {
            let mut d = Dict::new();
            let mut m: HashMap<Vec<u8>, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(d.insert(&k, v), m.insert(k, v)),
                    Op::InsertOwned(k, v) => {
                        prop_assert_eq!(d.insert_owned(k.clone().into(), v), m.insert(k, v))
                    }
                    Op::Remove(k) => prop_assert_eq!(
                        d.remove(&k).map(|(k, v)| (k.into_vec(), v)),
                        m.remove_entry(&k)
                    ),
                    Op::RemoveAt(p) => {
                        let expect = d.at(p).map(|(k, v)| (k.to_vec(), *v));
                        let got = d.remove_at(p).map(|(k, v)| (k.into_vec(), v));
                        prop_assert_eq!(&got, &expect);
                        if let Some((k, _)) = got {
                            m.remove(&k);
                        }
                    }
                    Op::Get(k) => {
                        prop_assert_eq!(d.get(&k), m.get(&k));
                        prop_assert_eq!(d.contains_key(&k), m.contains_key(&k));
                    }
                    Op::GetOrInsert(k, v) => {
                        let expect_created = !m.contains_key(&k);
                        let mv = *m.entry(k.clone()).or_insert(v);
                        let (dv, created) = d.get_or_insert_with(&k, || v);
                        prop_assert_eq!(created, expect_created);
                        prop_assert_eq!(*dv, mv);
                    }
                    Op::Retain(modulus) => {
                        d.retain(|_, v| *v % modulus != 0);
                        m.retain(|_, v| *v % modulus != 0);
                    }
                    Op::Random(seed) => {
                        let mut r = rng(seed);
                        match d.random(&mut r) {
                            Some((pos, k, v)) => {
                                prop_assert_eq!(m.get(k), Some(v));
                                prop_assert_eq!(d.position(k), Some(pos));
                            }
                            None => prop_assert!(m.is_empty()),
                        }
                    }
                    Op::Clear => {
                        d.clear();
                        m.clear();
                    }
                }
                prop_assert_eq!(d.len(), m.len());
                d.check_invariants();
            }
            let got: HashMap<Vec<u8>, u32> = d.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
            prop_assert_eq!(got, m);
        }

        #[test]
        fn scan_guarantee_under_random_churn(
            stable_n in 0usize..40,
            steps in prop::collection::vec((small_key(), any::<bool>(), 1usize..4), 0..60),
            count in 1usize..5,
        ) {
            let mut d = Dict::new();
            // Interleave stable and churn keys so they share the slab.
            for i in 0..stable_n {
                d.insert(format!("s{i}").as_bytes(), 0u8);
                d.insert(format!("c{i}").as_bytes(), 0u8);
            }
            let stable: HashSet<Vec<u8>> =
                (0..stable_n).map(|i| format!("s{i}").into_bytes()).collect();
            let mut seen = HashSet::new();
            let mut cursor = 0;
            let mut steps = steps.into_iter();
            for _ in 0..10_000 {
                cursor = d.scan(cursor, count, |k, _| { seen.insert(k.to_vec()); });
                if let Some((k, add, n)) = steps.next() {
                    for j in 0..n {
                        let mut k = k.clone();
                        k.push(j as u8);
                        if add { d.insert(&k, 1); } else { d.remove(&k); }
                    }
                    if !add {
                        d.retain(|k, _| k.first() == Some(&b's'));
                    }
                }
                if cursor == 0 {
                    break;
                }
            }
            prop_assert_eq!(cursor, 0, "scan did not finish");
            prop_assert!(stable.is_subset(&seen));
        }
    }
}
