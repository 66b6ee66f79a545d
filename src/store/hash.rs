//! Hashes: maps from field to value, in one of Redis's two encodings.
//!
//! * `listpack`: one [`Pack`] holding field, value, field, value... in insertion
//!   order. A small hash is a single allocation with one or two bytes of overhead
//!   per string; lookups are linear, which is cheap at this size.
//! * `hashtable`: a boxed [`Dict`] from field to value, for big hashes.
//!
//! A hash starts as a listpack and becomes a hashtable, for good, once it holds
//! more than `hash-max-listpack-entries` fields or is asked to hold a field or
//! value longer than `hash-max-listpack-value` bytes (defaults
//! [`MAX_PACK_ENTRIES`] and [`MAX_PACK_VALUE`], as set now in [`limits`]). Like
//! Redis, it never converts back, even after deletions.
//!
//! Write commands that take many field/value pairs (HSET) first call
//! [`Hash::convert_for`] with all of them, then [`Hash::set`] each pair: that is
//! Redis's `hashTypeTryConversion` then `hashTypeSet`, and it decides the
//! encoding `OBJECT ENCODING` reports in the same cases.

use super::dict::Dict;
use super::limits;
use super::pack::{self, Cursor, Pack};
use crate::num::below;

/// Most fields a listpack-encoded hash holds by default (`hash-max-listpack-entries`,
/// live in [`limits`]): 512 in Redis 7.0 (128 is the default of the sorted-set setting;
/// redis-server 7.0.15 answers `CONFIG GET hash-max-listpack-entries` with 512 and
/// keeps a 512-field hash a listpack).
pub const MAX_PACK_ENTRIES: usize = 512;
/// Longest field or value a listpack-encoded hash holds by default
/// (`hash-max-listpack-value`, live in [`limits`]).
pub const MAX_PACK_VALUE: usize = 64;

type Table = Dict<Box<[u8]>>;

/// A hash value. 24 bytes inline: the table form sits behind a `Box`.
#[derive(Debug, Clone, Default)]
pub struct Hash {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// field, value, field, value...
    Pack(Pack),
    Table(Box<Table>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Pack(Pack::new())
    }
}

/// Two hashes are equal when they map the same fields to the same values,
/// whatever their encodings and orders.
impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

/// Offsets of `field` and of its value in a listpack-form hash.
#[inline]
fn pack_find(p: &Pack, field: &[u8]) -> Option<(Cursor, Cursor)> {
    let at = p.find(field, 2)?;
    let (_, value_at) = p.get(at)?;
    Some((at, value_at))
}

impl Hash {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of fields.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.len() / 2,
            Repr::Table(t) => t.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// The value of `field`.
    #[inline]
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Pack(p) => {
                let (_, at) = pack_find(p, field)?;
                p.get(at).map(|(v, _)| v)
            }
            Repr::Table(t) => t.get(field).map(|v| &**v),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match &self.repr {
            Repr::Pack(p) => p.find(field, 2).is_some(),
            Repr::Table(t) => t.contains_key(field),
        }
    }

    /// Converts to the hashtable form if any of `items` (fields and values about
    /// to be set) is too long for a listpack. Redis checks every argument of an
    /// HSET this way before setting any, so one long value converts the hash even
    /// if it is not the one that ends up stored.
    pub fn convert_for<'a>(&mut self, items: impl IntoIterator<Item = &'a [u8]>) {
        if matches!(self.repr, Repr::Pack(_))
            && items.into_iter().any(|s| s.len() > limits::hash_value())
        {
            self.convert();
        }
    }

    /// Sets `field` to `value`; returns true if the field is new. Converts to the
    /// hashtable form when either string is too long for a listpack or the
    /// listpack would hold too many fields.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Repr::Pack(_) = self.repr
            && (field.len() > limits::hash_value() || value.len() > limits::hash_value())
        {
            self.convert();
        }
        match &mut self.repr {
            Repr::Pack(p) => {
                if let Some((_, at)) = pack_find(p, field) {
                    p.replace_at(at, value);
                    // A shorter value leaves its spare bytes in the block; once
                    // they pass Pack's 64-byte slack, take the value out and put
                    // it back so that `remove_at` shrinks the block to fit.
                    if p.heap_bytes() > p.end() + 64 {
                        p.remove_at(at, 1);
                        p.insert_at(at, &[value]);
                    }
                    return false;
                }
                p.push_back(&[field, value]);
                if p.len() / 2 > limits::hash_entries() {
                    self.convert();
                }
                true
            }
            Repr::Table(t) => match t.get_mut(field) {
                Some(v) => {
                    if v.len() == value.len() {
                        v.copy_from_slice(value);
                    } else {
                        *v = Box::from(value);
                    }
                    false
                }
                None => {
                    t.insert(field, Box::from(value));
                    true
                }
            },
        }
    }

    /// Removes `field`; returns true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Pack(p) => match p.find(field, 2) {
                Some(at) => {
                    p.remove_at(at, 2);
                    true
                }
                None => false,
            },
            Repr::Table(t) => t.remove(field).is_some(),
        }
    }

    /// Moves every entry into a hashtable (no-op if already one).
    fn convert(&mut self) {
        let Repr::Pack(p) = &self.repr else {
            return;
        };
        let mut t = Table::new();
        let mut it = p.iter();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            t.insert(f, Box::from(v));
        }
        self.repr = Repr::Table(Box::new(t));
    }

    /// (field, value) pairs: insertion order for a listpack, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Pack(p) => Iter::Pack(p.iter()),
            Repr::Table(t) => Iter::Table { t, pos: 0 },
        }
    }

    /// Calls `f` with every (field, value) pair, in [`iter`](Self::iter)'s order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        for (k, v) in self.iter() {
            f(k, v);
        }
    }

    /// A uniformly random (field, value); `rand` yields fresh random u64s.
    pub fn random(&self, rand: &mut impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Pack(p) => {
                let n = p.len() / 2;
                if n == 0 {
                    return None;
                }
                let mut it = p.iter().skip(2 * below(rand(), n));
                Some((it.next()?, it.next()?))
            }
            Repr::Table(t) => t.random(rand).map(|(_, k, v)| (k, &**v)),
        }
    }

    /// `count` distinct random pairs (all of them when `count >= len()`).
    /// A listpack answers in its own order, as Redis's `lpRandomPairsUnique`.
    pub fn random_distinct(
        &self,
        count: usize,
        rand: &mut impl FnMut() -> u64,
    ) -> Vec<(&[u8], &[u8])> {
        let len = self.len();
        if count >= len {
            return self.iter().collect();
        }
        match &self.repr {
            Repr::Pack(_) => {
                // Selection sampling (Knuth's algorithm S): one pass, in order.
                let mut out = Vec::with_capacity(count);
                for (i, pair) in self.iter().enumerate() {
                    let left = len - i;
                    let need = count - out.len();
                    if below(rand(), left) < need {
                        out.push(pair);
                        if out.len() == count {
                            break;
                        }
                    }
                }
                out
            }
            Repr::Table(t) => {
                if count.saturating_mul(3) > len {
                    // Many of them: a partial Fisher-Yates shuffle of all positions.
                    let mut all: Vec<(&[u8], &[u8])> = self.iter().collect();
                    for i in 0..count {
                        let j = i + below(rand(), all.len() - i);
                        all.swap(i, j);
                    }
                    all.truncate(count);
                    all
                } else {
                    // Few of them: sample until `count` distinct positions.
                    let mut seen = hashbrown::HashSet::with_capacity(count);
                    let mut out = Vec::with_capacity(count);
                    while out.len() < count {
                        let Some((pos, k, v)) = t.random(rand) else {
                            break;
                        };
                        if seen.insert(pos) {
                            out.push((k, &**v));
                        }
                    }
                    out
                }
            }
        }
    }

    /// One HSCAN step from `cursor`: calls `f` with about `count` pairs and returns
    /// the next cursor (0 at the end). A listpack is returned whole in one call,
    /// whatever the cursor, as Redis does; a hashtable walks its stable slot
    /// positions, so every field present for the whole scan is returned.
    ///
    /// The table walk is `Dict::scan`'s (at least `count` entries, at most about
    /// ten holes per entry wanted), done here through `Dict::at` so that `f` gets
    /// references that live as long as the hash.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&'a [u8], &'a [u8]),
    ) -> u64 {
        let t = match &self.repr {
            Repr::Pack(_) => {
                self.iter().for_each(|(k, v)| f(k, v));
                return 0;
            }
            Repr::Table(t) => t,
        };
        let end = t.slot_count();
        let Ok(mut pos) = usize::try_from(cursor) else {
            return 0;
        };
        let want = count.max(1);
        let max_holes = want.saturating_mul(10).saturating_add(16);
        let (mut seen, mut holes) = (0usize, 0usize);
        while pos < end && seen < want && holes < max_holes {
            match t.at(pos as u32) {
                Some((k, v)) => {
                    f(k, v);
                    seen += 1;
                }
                None => holes += 1,
            }
            pos += 1;
        }
        if pos >= end { 0 } else { pos as u64 }
    }

    /// Heap bytes held (approximate for the hashtable form).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.heap_bytes(),
            Repr::Table(t) => {
                std::mem::size_of::<Table>()
                    + t.overhead_bytes()
                    + t.iter().map(|(_, v)| v.len()).sum::<usize>()
            }
        }
    }
}

/// Iterator over a hash's (field, value) pairs.
pub enum Iter<'a> {
    Pack(pack::Iter<'a>),
    Table { t: &'a Table, pos: u32 },
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Pack(it) => Some((it.next()?, it.next()?)),
            Iter::Table { t, pos } => {
                while (*pos as usize) < t.slot_count() {
                    let at = *pos;
                    *pos += 1;
                    if let Some((k, v)) = t.at(at) {
                        return Some((k, v));
                    }
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    #[test]
    fn inline_size_is_24_bytes() {
        assert!(std::mem::size_of::<Hash>() <= 24);
        assert!(std::mem::size_of::<crate::store::Value>() <= 32);
    }

    #[test]
    fn basics_and_listpack_order() {
        let mut h = Hash::new();
        assert!(h.is_empty());
        assert_eq!(h.encoding(), "listpack");
        assert!(h.set(b"a", b"1"));
        assert!(h.set(b"b", b"2"));
        assert!(h.set(b"", b""));
        assert!(!h.set(b"a", b"one"));
        assert_eq!(h.len(), 3);
        assert_eq!(h.get(b"a"), Some(&b"one"[..]));
        assert_eq!(h.get(b""), Some(&b""[..]));
        assert_eq!(h.get(b"zz"), None);
        // A value is never mistaken for a field.
        assert!(h.set(b"c", b"b"));
        assert_eq!(h.get(b"2"), None);
        assert!(h.contains(b"c") && !h.contains(b"one"));
        let pairs: Vec<_> = h.iter().collect();
        assert_eq!(
            pairs,
            vec![
                (&b"a"[..], &b"one"[..]),
                (b"b", b"2"),
                (b"", b""),
                (b"c", b"b")
            ]
        );
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.len(), 3);
        let mut n = 0;
        h.for_each(|_, _| n += 1);
        assert_eq!(n, 3);
        assert_eq!(h.encoding(), "listpack");
        for f in [&b"a"[..], b"", b"c"] {
            assert!(h.remove(f));
        }
        assert!(h.is_empty());
        assert_eq!(h.heap_bytes(), 0);
    }

    #[test]
    fn listpack_is_one_tight_allocation() {
        let mut h = Hash::new();
        h.set(b"field", b"value");
        // 4-byte count + (1 + 5) + (1 + 5).
        assert_eq!(h.heap_bytes(), 16);
    }

    #[test]
    fn converts_past_512_entries_and_never_back() {
        let mut h = Hash::new();
        for i in 0..MAX_PACK_ENTRIES {
            h.set(format!("f{i}").as_bytes(), b"v");
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f0", b"updated");
        assert_eq!(h.encoding(), "listpack");
        h.set(b"one-more", b"v");
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), MAX_PACK_ENTRIES + 1);
        assert_eq!(h.get(b"f0"), Some(&b"updated"[..]));
        h.remove(b"one-more");
        for i in 0..MAX_PACK_ENTRIES {
            h.remove(format!("f{i}").as_bytes());
        }
        assert!(h.is_empty());
        h.set(b"x", b"y");
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn converts_on_long_strings() {
        let long = [b'x'; 65];
        let mut h = Hash::new();
        h.set(&long[..64], &long[..64]);
        assert_eq!(h.encoding(), "listpack");
        let mut g = h.clone();
        g.set(b"f", &long);
        assert_eq!(g.encoding(), "hashtable");
        let mut g = h.clone();
        g.set(&long, b"v");
        assert_eq!(g.encoding(), "hashtable");
        // convert_for looks at every argument, set or not.
        let mut g = h.clone();
        g.convert_for([&b"f"[..], b"v"]);
        assert_eq!(g.encoding(), "listpack");
        g.convert_for([&b"f"[..], &long[..]]);
        assert_eq!(g.encoding(), "hashtable");
        assert_eq!(g, h, "equality ignores the encoding");
        assert_eq!(g.get(&long[..64]), Some(&long[..64]));
    }

    #[test]
    fn random_and_distinct() {
        let mut r = rng(3);
        assert!(Hash::new().random(&mut r).is_none());
        for n in [5usize, 300] {
            let mut h = Hash::new();
            for i in 0..n {
                h.set(format!("f{i}").as_bytes(), format!("v{i}").as_bytes());
            }
            let mut seen = std::collections::HashSet::new();
            for _ in 0..20 * n {
                let (f, v) = h.random(&mut r).unwrap();
                assert_eq!(h.get(f), Some(v));
                seen.insert(f.to_vec());
            }
            assert_eq!(seen.len(), n, "every field comes up");
            for count in [1, 2, n / 4, n / 2, n - 1, n, n + 10] {
                let got = h.random_distinct(count, &mut r);
                assert_eq!(got.len(), count.min(n));
                let uniq: std::collections::HashSet<_> = got.iter().map(|p| p.0).collect();
                assert_eq!(uniq.len(), got.len());
                for (f, v) in got {
                    assert_eq!(h.get(f), Some(v));
                }
            }
        }
    }

    #[test]
    fn scan_listpack_whole_and_table_by_cursor() {
        let mut h = Hash::new();
        for i in 0..10 {
            h.set(format!("f{i}").as_bytes(), b"v");
        }
        let mut n = 0;
        assert_eq!(h.scan(12345, 1, |_, _| n += 1), 0);
        assert_eq!(n, 10);
        for i in 10..1000 {
            h.set(format!("f{i}").as_bytes(), b"v");
        }
        let (mut cursor, mut seen, mut calls) = (0, Vec::new(), 0);
        loop {
            cursor = h.scan(cursor, 10, |f, _| seen.push(f.to_vec()));
            calls += 1;
            if cursor == 0 {
                break;
            }
        }
        assert!(calls > 50);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 1000);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(u16, Vec<u8>),
        /// HSET of `n` new-or-old fields from `start` on: jumps towards the
        /// 512-entry threshold.
        SetMany(u16, u16),
        Del(u16),
        Incr(u16, i64),
    }

    /// Field names; field 1023 is 65 bytes long (in runs that allow long strings),
    /// so it converts a hash on length rather than count.
    fn field(i: u16, long_ok: bool) -> Vec<u8> {
        if long_ok && i == 1023 {
            vec![b'L'; 65]
        } else {
            format!("field:{i}").into_bytes()
        }
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            200 => prop::collection::vec(any::<u8>(), 0..20),
            1 => prop::collection::vec(any::<u8>(), 65..80),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u16..1024, value()).prop_map(|(f, v)| Op::Set(f, v)),
            1 => (0u16..1024, 1u16..200).prop_map(|(f, n)| Op::SetMany(f, n)),
            3 => (0u16..1024).prop_map(Op::Del),
            2 => (0u16..1024, -1000i64..1000).prop_map(|(f, n)| Op::Incr(f, n)),
        ]
    }

    proptest! {
        /// Random HSET/HDEL/HINCRBY-like sequences against a HashMap model,
        /// crossing the conversion thresholds (count and length).
        #[test]
        fn matches_hashmap_model(long_ok in any::<bool>(), ops in prop::collection::vec(op(), 1..300)) {
            let mut h = Hash::new();
            let mut m: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            let mut was_table = false;
            for op in ops {
                match op {
                    Op::Set(f, mut v) => {
                        let f = field(f, long_ok);
                        if !long_ok {
                            v.truncate(MAX_PACK_VALUE);
                        }
                        prop_assert_eq!(h.set(&f, &v), m.insert(f, v).is_none());
                    }
                    Op::SetMany(start, n) => {
                        for i in start..start.saturating_add(n).min(1023) {
                            let (f, v) = (field(i, long_ok), i.to_string().into_bytes());
                            prop_assert_eq!(h.set(&f, &v), m.insert(f, v).is_none());
                        }
                    }
                    Op::Del(f) => {
                        let f = field(f, long_ok);
                        prop_assert_eq!(h.remove(&f), m.remove(&f).is_some());
                    }
                    Op::Incr(f, n) => {
                        let f = field(f, long_ok);
                        let cur = h.get(&f).map(<[u8]>::to_vec);
                        prop_assert_eq!(&cur, &m.get(&f).cloned());
                        let cur = cur.and_then(|c| std::str::from_utf8(&c).ok()?.parse::<i64>().ok());
                        let new = (cur.unwrap_or(0) + n).to_string().into_bytes();
                        h.set(&f, &new);
                        m.insert(f, new);
                    }
                }
                prop_assert_eq!(h.len(), m.len());
                let long = m.iter().any(|(k, v)| k.len() > MAX_PACK_VALUE || v.len() > MAX_PACK_VALUE);
                if m.len() > MAX_PACK_ENTRIES || long {
                    prop_assert_eq!(h.encoding(), "hashtable");
                }
                was_table |= h.encoding() == "hashtable";
                if was_table {
                    prop_assert_eq!(h.encoding(), "hashtable", "never converts back");
                } else {
                    // One allocation, exact after growth; deletions leave at
                    // most 64 spare bytes (Pack's shrink rule).
                    let exact = if m.is_empty() { 0 } else {
                        4 + m.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>()
                    };
                    prop_assert!((exact..=exact + 64).contains(&h.heap_bytes()));
                }
            }
            let got: HashMap<Vec<u8>, Vec<u8>> =
                h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            prop_assert_eq!(&got, &m);
            for (f, v) in &m {
                prop_assert_eq!(h.get(f), Some(&v[..]));
            }
        }
    }
}
