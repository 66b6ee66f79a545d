//! Sets, in the three forms Redis uses:
//!
//! * **intset**: every member is an integer: the values sorted, little-endian, in
//!   the narrowest width (2, 4 or 8 bytes) that holds them all, found by binary
//!   search. Up to `set-max-intset-entries` (512) members.
//! * **listpack** ([`Pack`]): a small set with non-integer members (at most 128
//!   members of at most 64 bytes, Redis 7.2's `set-max-listpack-*`), one
//!   allocation with 1–2 bytes of overhead per member, searched linearly.
//! * **hashtable** ([`Dict<()>`]): anything bigger; its stable positions give
//!   SSCAN its guarantee.
//!
//! A set only ever converts upwards (intset → listpack → hashtable, or intset →
//! hashtable), as Redis does; removals never convert back.

use super::dict::Dict;
use super::pack::Pack;
use crate::num::below;
use crate::protocol::parse_i64;

/// The default of `set-max-intset-entries` (as set now: [`super::limits`]).
pub const MAX_INTSET_ENTRIES: usize = 512;
/// `set-max-listpack-entries` (Redis 7.2).
pub const MAX_LISTPACK_ENTRIES: usize = 128;
/// `set-max-listpack-value` (Redis 7.2).
pub const MAX_LISTPACK_VALUE: usize = 64;

/// A set of byte strings.
#[derive(Debug, Clone, Default)]
pub struct Set {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    Ints(IntSet),
    Pack(Pack),
    /// Boxed so a `Set` stays 24 bytes.
    Table(Box<Dict<()>>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Ints(IntSet::default())
    }
}

/// Two sets are equal when they hold the same members, whatever their forms.
impl PartialEq for Set {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut same = true;
        self.for_each(|m| same = same && other.contains(m));
        same
    }
}

/// One member taken out of a set (an intset holds numbers, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Member::Int(v) => itoa::Buffer::new().format(v).as_bytes().to_vec(),
            Member::Bytes(b) => b.to_vec(),
        }
    }

    /// Calls `f` with the member's bytes (formatting integers on the stack).
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(v) => f(itoa::Buffer::new().format(v).as_bytes()),
            Member::Bytes(b) => f(b),
        }
    }
}

impl Set {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(s) => s.len(),
            Repr::Pack(p) => p.len(),
            Repr::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Ints(_) => "intset",
            Repr::Pack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Calls `f` with every member (any order). Other families (ZUNION, SORT)
    /// read sets through this.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        self.for_each_member(|m| m.with_bytes(&mut f));
    }

    /// Like [`for_each`](Self::for_each) but hands intset members over as numbers
    /// (replies write them without a round trip through text).
    pub fn for_each_member(&self, mut f: impl FnMut(Member<'_>)) {
        match &self.repr {
            Repr::Ints(s) => (0..s.len()).for_each(|i| f(Member::Int(s.get(i)))),
            Repr::Pack(p) => p.iter().for_each(|m| f(Member::Bytes(m))),
            Repr::Table(d) => d.iter().for_each(|(m, _)| f(Member::Bytes(m))),
        }
    }

    /// All members, owned (any order).
    pub fn members(&self) -> Vec<Vec<u8>> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each_member(|m| v.push(m.to_vec()));
        v
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(s) => parse_i64(member).is_some_and(|v| s.search(v).is_ok()),
            Repr::Pack(p) => p.find(member, 1).is_some(),
            Repr::Table(d) => d.contains_key(member),
        }
    }

    /// Adds `member`; false if it was already there. Converts the form first when
    /// the new member would not fit the current one.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(s) => match parse_i64(member) {
                Some(v) => {
                    let Err(at) = s.search(v) else {
                        return false;
                    };
                    if s.len() < super::limits::intset_entries() {
                        s.insert_at(at, v);
                        return true;
                    }
                    self.convert_to_table();
                }
                None => {
                    // Redis 7.2: a small intset becomes a listpack, a big one a table.
                    if s.len() < MAX_LISTPACK_ENTRIES && member.len() <= MAX_LISTPACK_VALUE {
                        self.convert_to_pack();
                    } else {
                        self.convert_to_table();
                    }
                }
            },
            Repr::Pack(p) => {
                if p.find(member, 1).is_some() {
                    return false;
                }
                if p.len() < MAX_LISTPACK_ENTRIES && member.len() <= MAX_LISTPACK_VALUE {
                    p.push_back(&[member]);
                    return true;
                }
                self.convert_to_table();
            }
            Repr::Table(_) => {}
        }
        match &mut self.repr {
            Repr::Ints(_) => false,
            Repr::Pack(p) => {
                p.push_back(&[member]);
                true
            }
            Repr::Table(d) => d.insert(member, ()).is_none(),
        }
    }

    /// Removes `member`; false if it was not there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(s) => match parse_i64(member).map(|v| s.search(v)) {
                Some(Ok(at)) => {
                    s.remove_at(at);
                    true
                }
                _ => false,
            },
            Repr::Pack(p) => match p.find(member, 1) {
                Some(at) => {
                    p.remove_at(at, 1);
                    true
                }
                None => false,
            },
            Repr::Table(d) => d.remove(member).is_some(),
        }
    }

    /// A uniformly random member, or None when empty. `rand` yields fresh u64s.
    pub fn random(&self, rand: &mut impl FnMut() -> u64) -> Option<Member<'_>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match &self.repr {
            Repr::Ints(s) => Some(Member::Int(s.get(below(rand(), n)))),
            Repr::Pack(p) => p.nth(below(rand(), n)).map(Member::Bytes),
            Repr::Table(d) => d.random(rand).map(|(_, m, _)| Member::Bytes(m)),
        }
    }

    /// Removes and returns a uniformly random member.
    pub fn pop_random(&mut self, rand: &mut impl FnMut() -> u64) -> Option<Vec<u8>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match &mut self.repr {
            Repr::Ints(s) => {
                let i = below(rand(), n);
                let v = s.get(i);
                s.remove_at(i);
                Some(Member::Int(v).to_vec())
            }
            Repr::Pack(p) => {
                let at = p.offset_of(below(rand(), n));
                let m = p.get(at)?.0.to_vec();
                p.remove_at(at, 1);
                Some(m)
            }
            Repr::Table(d) => {
                let pos = d.random(rand)?.0;
                d.remove_at(pos).map(|(k, _)| k.into_vec())
            }
        }
    }

    /// `count` distinct random members (all of them when `count >= len`).
    pub fn random_distinct(&self, count: usize, rand: &mut impl FnMut() -> u64) -> Vec<Vec<u8>> {
        let n = self.len();
        if count >= n {
            return self.members();
        }
        if let Repr::Table(d) = &self.repr
            && count.saturating_mul(3) < n
        {
            // Few out of many: sample positions, skipping repeats.
            let mut seen = hashbrown::HashSet::with_capacity(count);
            let mut out = Vec::with_capacity(count);
            while out.len() < count {
                let Some((pos, m, _)) = d.random(rand) else {
                    break;
                };
                if seen.insert(pos) {
                    out.push(m.to_vec());
                }
            }
            return out;
        }
        // A good share of the set: a partial Fisher-Yates shuffle of all members.
        let mut all = self.members();
        for i in 0..count {
            let j = i + below(rand(), n - i);
            all.swap(i, j);
        }
        all.truncate(count);
        all
    }

    /// Members in `[cursor, next)` for SSCAN: small forms answer everything at once
    /// with cursor 0, as Redis does; a table walks its stable positions.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(Member<'_>)) -> u64 {
        match &self.repr {
            Repr::Table(d) => d.scan(cursor, count, |m, _| f(Member::Bytes(m))),
            _ => {
                self.for_each_member(f);
                0
            }
        }
    }

    /// Bytes of heap this set holds (approximate for tables).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Ints(s) => s.buf.len(),
            Repr::Pack(p) => p.heap_bytes(),
            Repr::Table(d) => std::mem::size_of::<Dict<()>>() + d.overhead_bytes(),
        }
    }

    fn convert_to_pack(&mut self) {
        let mut p = Pack::new();
        self.for_each(|m| p.push_back(&[m]));
        self.repr = Repr::Pack(p);
    }

    fn convert_to_table(&mut self) {
        let mut d = Dict::new();
        self.for_each(|m| {
            d.insert(m, ());
        });
        self.repr = Repr::Table(Box::new(d));
    }
}

/// Sorted integers at a common width: `buf[0]` is the width (2, 4 or 8), the
/// values follow little-endian. Empty = no allocation. Every change reallocates
/// to the exact size (as Redis's intset does), so no spare capacity is kept.
#[derive(Clone, Default, PartialEq, Eq)]
struct IntSet {
    buf: Box<[u8]>,
}

impl std::fmt::Debug for IntSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries((0..self.len()).map(|i| self.get(i)))
            .finish()
    }
}

/// The narrowest width that holds `v`.
fn width_of(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

fn read_at(buf: &[u8], w: usize, i: usize) -> i64 {
    let at = 1 + i * w;
    match w {
        2 => i16::from_le_bytes([buf[at], buf[at + 1]]) as i64,
        4 => i32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as i64,
        _ => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[at..at + 8]);
            i64::from_le_bytes(b)
        }
    }
}

fn write_at(buf: &mut [u8], w: usize, i: usize, v: i64) {
    let at = 1 + i * w;
    buf[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
}

impl IntSet {
    fn width(&self) -> usize {
        self.buf.first().map_or(2, |&w| w as usize)
    }

    fn len(&self) -> usize {
        match self.buf.len() {
            0 => 0,
            n => (n - 1) / self.width(),
        }
    }

    fn get(&self, i: usize) -> i64 {
        read_at(&self.buf, self.width(), i)
    }

    /// Ok(index) if present, Err(insertion index) otherwise.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let n = self.len();
        if n == 0 || width_of(v) > self.width() {
            // Wider than every stored value: it goes at one end.
            return Err(if v < 0 { 0 } else { n });
        }
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Inserts `v` (known absent) at index `at`, widening every value if needed.
    fn insert_at(&mut self, at: usize, v: i64) {
        let n = self.len();
        let old_w = self.width();
        let w = old_w.max(width_of(v));
        let mut buf = vec![0u8; 1 + (n + 1) * w].into_boxed_slice();
        buf[0] = w as u8;
        for i in 0..n {
            let x = read_at(&self.buf, old_w, i);
            write_at(&mut buf, w, if i < at { i } else { i + 1 }, x);
        }
        write_at(&mut buf, w, at, v);
        self.buf = buf;
    }

    fn remove_at(&mut self, at: usize) {
        let n = self.len();
        if n <= 1 {
            self.buf = Box::default();
            return;
        }
        let w = self.width();
        let mut buf = Vec::with_capacity(1 + (n - 1) * w);
        buf.extend_from_slice(&self.buf[..1 + at * w]);
        buf.extend_from_slice(&self.buf[1 + (at + 1) * w..]);
        self.buf = buf.into_boxed_slice();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    fn model_of(s: &Set) -> HashSet<Vec<u8>> {
        let mut h = HashSet::new();
        s.for_each(|m| {
            assert!(h.insert(m.to_vec()), "duplicate member {m:?}");
        });
        h
    }

    #[test]
    fn stays_small() {
        assert!(std::mem::size_of::<Set>() <= 24);
    }

    #[test]
    fn intset_widths_and_order() {
        let mut s = Set::new();
        for v in [
            "5",
            "-3",
            "70000",
            "1",
            "-9223372036854775808",
            "9223372036854775807",
        ] {
            assert!(s.insert(v.as_bytes()));
        }
        assert!(!s.insert(b"70000"));
        assert_eq!(s.encoding(), "intset");
        let mut got = vec![];
        s.for_each(|m| got.push(String::from_utf8_lossy(m).into_owned()));
        assert_eq!(
            got,
            [
                "-9223372036854775808",
                "-3",
                "1",
                "5",
                "70000",
                "9223372036854775807"
            ]
        );
        assert!(s.contains(b"-3") && !s.contains(b"-03") && !s.contains(b"x"));
        assert!(s.remove(b"70000") && !s.remove(b"70000"));
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn conversions() {
        let mut s = Set::new();
        for i in 0..MAX_INTSET_ENTRIES {
            s.insert(i.to_string().as_bytes());
        }
        assert_eq!(s.encoding(), "intset");
        s.insert(b"512");
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 513);

        let mut s = Set::new();
        s.insert(b"1");
        s.insert(b"a");
        assert_eq!(s.encoding(), "listpack");
        for i in 0..(MAX_LISTPACK_ENTRIES - 2) {
            s.insert(format!("m{i}").as_bytes());
        }
        assert_eq!((s.len(), s.encoding()), (128, "listpack"));
        s.insert(b"one more");
        assert_eq!(s.encoding(), "hashtable");

        let mut s = Set::new();
        s.insert(b"a");
        s.insert(&[b'x'; 65]);
        assert_eq!(s.encoding(), "hashtable");

        let mut s = Set::new();
        for i in 0..200 {
            s.insert(i.to_string().as_bytes());
        }
        s.insert(b"a");
        assert_eq!((s.len(), s.encoding()), (201, "hashtable"));
    }

    #[test]
    fn random_pops_and_samples() {
        let mut rand = xorshift(42);
        for n in [3usize, 100, 300, 1000] {
            for strings in [false, true] {
                let mut s = Set::new();
                for i in 0..n {
                    let m = if strings {
                        format!("s{i}")
                    } else {
                        i.to_string()
                    };
                    s.insert(m.as_bytes());
                }
                let sample = s.random_distinct(n / 2, &mut rand);
                let uniq: HashSet<_> = sample.iter().cloned().collect();
                assert_eq!(uniq.len(), n / 2);
                assert!(sample.iter().all(|m| s.contains(m)));
                let sample = s.random_distinct(n / 10, &mut rand);
                let uniq: HashSet<_> = sample.iter().cloned().collect();
                assert_eq!(uniq.len(), n / 10);
                assert_eq!(s.random_distinct(n + 5, &mut rand).len(), n);
                let mut popped = HashSet::new();
                while let Some(m) = s.pop_random(&mut rand) {
                    assert!(popped.insert(m));
                }
                assert_eq!(popped.len(), n);
                assert!(s.is_empty());
            }
        }
    }

    #[test]
    fn scan_of_a_table_sees_everything() {
        let mut s = Set::new();
        for i in 0..1000 {
            s.insert(format!("m{i}").as_bytes());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = s.scan(cursor, 10, |m| {
                seen.insert(m.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen, model_of(&s));
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (-40i64..40).prop_map(|v| v.to_string().into_bytes()),
            (0u32..700).prop_map(|v| v.to_string().into_bytes()),
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            (-70000i64..70000).prop_map(|v| v.to_string().into_bytes()),
            "[a-c]{0,3}".prop_map(String::into_bytes),
            (0usize..80).prop_map(|n| vec![b'z'; n]),
        ]
    }

    proptest! {
        /// Random SADD/SREM/SPOP sequences agree with a HashSet, through every
        /// conversion; the form only ever moves up.
        #[test]
        fn matches_hashset_model(
            ints_first in prop::collection::vec((0u8..8, 0i64..600), 0..700),
            ops in prop::collection::vec((0u8..10, member()), 1..400),
            seed in any::<u64>(),
        ) {
            let mut rand = xorshift(seed);
            let mut s = Set::new();
            let mut m: HashSet<Vec<u8>> = HashSet::new();
            let rank = |e: &str| match e { "intset" => 0, "listpack" => 1, _ => 2 };
            let mut last = rank(s.encoding());
            let ops = ints_first
                .into_iter()
                .map(|(op, v)| (op % 2, v.to_string().into_bytes()))
                .chain(ops);
            for (op, x) in ops {
                match op {
                    0..=5 => prop_assert_eq!(s.insert(&x), m.insert(x.clone())),
                    6..=7 => prop_assert_eq!(s.remove(&x), m.remove(&x)),
                    8 => {
                        let p = s.pop_random(&mut rand);
                        prop_assert_eq!(p.is_some(), !m.is_empty());
                        if let Some(p) = p {
                            prop_assert!(m.remove(&p));
                        }
                    }
                    _ => {
                        if let Some(r) = s.random(&mut rand) {
                            prop_assert!(m.contains(&r.to_vec()));
                        }
                    }
                }
                prop_assert_eq!(s.len(), m.len());
                prop_assert_eq!(s.contains(&x), m.contains(&x));
                let r = rank(s.encoding());
                prop_assert!(r >= last, "converted back");
                last = r;
                match s.encoding() {
                    "intset" => prop_assert!(m.len() <= MAX_INTSET_ENTRIES),
                    "listpack" => prop_assert!(m.len() <= MAX_LISTPACK_ENTRIES),
                    _ => {}
                }
            }
            prop_assert_eq!(model_of(&s), m);
            let c = s.clone();
            prop_assert_eq!(&c, &s);
        }
    }
}
