//! Sorted sets: members ordered by (score, member bytes).
//!
//! Two forms, as Redis: small sets are a `listpack`, one [`Pack`] of
//! member/score pairs kept in order (linear operations, ~2 bytes of overhead
//! per element); past `zset-max-listpack-entries` members or a member longer
//! than `zset-max-listpack-value` (128 and 64 by default; see
//! [`super::limits`]) they become a `skiplist` for good: a [`Dict`] from member to score (O(1) score lookup, ZSCAN,
//! random picks) plus an order-statistic [`Tree`] of the dict's slot
//! positions (O(log n) insert, remove, rank, nth and range search).
//!
//! Scores in the pack take 1–8 bytes: integral scores are stored as a
//! zig-zag integer of the fewest bytes (so `-0` reads back as `0`, as in a
//! Redis listpack), anything else as the 8 raw bytes of the double.

pub mod tree;

use std::cmp::Ordering;

use super::dict::Dict;
use super::limits;
use super::pack::{Cursor, Pack};
pub use tree::Tree;

/// The default of Redis's `zset-max-listpack-entries`.
pub const MAX_PACK_ENTRIES: usize = 128;
/// The default of Redis's `zset-max-listpack-value`.
pub const MAX_PACK_VALUE: usize = 64;

/// A sorted set.
#[derive(Debug, Clone)]
pub struct ZSet(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Pack(Pack),
    Big(Box<Big>),
}

/// The big form: member → score, and the members' slots in order.
#[derive(Debug, Clone, Default)]
struct Big {
    dict: Dict<f64>,
    tree: Tree,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet(Repr::Pack(Pack::new()))
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        self.for_each_in_order(|m, s| a.push((m.to_vec(), s)));
        other.for_each_in_order(|m, s| b.push((m.to_vec(), s)));
        a == b
    }
}

/// Total order of (score, member); scores are never NaN.
#[inline]
pub fn cmp_entry(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

/// A score interval (`ZRANGEBYSCORE` min/max, `(` for exclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    #[inline]
    pub fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }
    #[inline]
    pub fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }
}

/// One end of a lex interval (`-`, `+`, `[a`, `(a`).
#[derive(Debug, Clone, PartialEq)]
pub enum LexBound {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(b) => m >= b.as_slice(),
            LexBound::Excl(b) => m > b.as_slice(),
        }
    }
    pub fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(b) => m <= b.as_slice(),
            LexBound::Excl(b) => m < b.as_slice(),
        }
    }
}

// ---- score encoding inside the pack ----

/// Integral scores below this magnitude are stored as integers (7 bytes max).
const INT_LIMIT: f64 = (1u64 << 55) as f64;

fn enc_score(s: f64, buf: &mut [u8; 8]) -> usize {
    if s == s.trunc() && s.abs() < INT_LIMIT {
        let i = s as i64;
        let z = ((i << 1) ^ (i >> 63)) as u64;
        let n = (64 - z.leading_zeros() as usize).div_ceil(8);
        buf[..n].copy_from_slice(&z.to_le_bytes()[..n]);
        n
    } else {
        *buf = s.to_bits().to_le_bytes();
        8
    }
}

fn dec_score(b: &[u8]) -> f64 {
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    let v = u64::from_le_bytes(w);
    if b.len() == 8 {
        f64::from_bits(v)
    } else {
        (((v >> 1) as i64) ^ -((v & 1) as i64)) as f64
    }
}

/// (offset of the member, member, score) for each pair of a pack, in order.
fn pairs(p: &Pack) -> impl Iterator<Item = (Cursor, &[u8], f64)> {
    let mut it = p.iter_at();
    std::iter::from_fn(move || {
        let (at, m) = it.next()?;
        let (_, s) = it.next()?;
        Some((at, m, dec_score(s)))
    })
}

fn pack_insert(p: &mut Pack, m: &[u8], s: f64) {
    let at = pairs(p)
        .find(|&(_, pm, ps)| cmp_entry(ps, pm, s, m) == Ordering::Greater)
        .map_or(p.end(), |(at, _, _)| at);
    let mut buf = [0u8; 8];
    let n = enc_score(s, &mut buf);
    p.insert_at(at, &[m, &buf[..n]]);
}

impl Big {
    #[inline]
    fn entry(&self, id: u32) -> (&[u8], f64) {
        self.dict.at(id).map_or((&[][..], 0.0), |(k, &v)| (k, v))
    }

    /// Rank that (s, m) has or would have.
    fn rank_of(&self, s: f64, m: &[u8]) -> usize {
        self.tree.rank_by(|id| {
            let (k, v) = self.entry(id);
            cmp_entry(v, k, s, m) == Ordering::Less
        })
    }

    fn insert_new(&mut self, m: &[u8], s: f64) {
        let r = self.rank_of(s, m);
        self.dict.insert(m, s);
        if let Some(pos) = self.dict.position(m) {
            self.tree.insert(r, pos);
        }
    }
}

impl ZSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set in the form Redis's ZADD creates for this first member: a
    /// listpack unless the member is already too long for one (or listpacks
    /// may hold no member at all).
    pub fn for_first_member(member_len: usize) -> Self {
        if limits::zset_entries() == 0 || member_len > limits::zset_value() {
            ZSet(Repr::Big(Box::default()))
        } else {
            Self::new()
        }
    }

    /// Builds a set from pairs with distinct members in any order (the result of
    /// ZUNIONSTORE, ZRANGESTORE...): a listpack when it fits, as Redis converts.
    pub fn from_pairs(mut items: Vec<(Vec<u8>, f64)>) -> Self {
        items.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
        let (max_entries, max_value) = (limits::zset_entries(), limits::zset_value());
        let fits = items.len() <= max_entries && items.iter().all(|(m, _)| m.len() <= max_value);
        if fits {
            let mut p = Pack::new();
            let mut bufs: Vec<([u8; 8], usize)> = Vec::with_capacity(items.len());
            for (_, s) in &items {
                let mut b = [0u8; 8];
                let n = enc_score(*s, &mut b);
                bufs.push((b, n));
            }
            let flat: Vec<&[u8]> = items
                .iter()
                .zip(&bufs)
                .flat_map(|((m, _), (b, n))| [m.as_slice(), &b[..*n]])
                .collect();
            p.push_back(&flat);
            ZSet(Repr::Pack(p))
        } else {
            let mut big = Big::default();
            for (m, s) in items {
                big.dict.insert(&m, s);
                if let Some(pos) = big.dict.position(&m) {
                    let n = big.tree.len();
                    big.tree.insert(n, pos);
                }
            }
            ZSet(Repr::Big(Box::new(big)))
        }
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Pack(p) => p.len() / 2,
            Repr::Big(b) => b.tree.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Pack(_) => "listpack",
            Repr::Big(_) => "skiplist",
        }
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match &self.0 {
            Repr::Pack(p) => pairs(p).find(|&(_, pm, _)| pm == m).map(|(_, _, s)| s),
            Repr::Big(b) => b.dict.get(m).copied(),
        }
    }

    /// Converts to the big form for good.
    fn convert_to_big(&mut self) {
        let Repr::Pack(p) = &self.0 else {
            return;
        };
        let mut big = Big::default();
        for (_, m, s) in pairs(p) {
            big.dict.insert(m, s);
            if let Some(pos) = big.dict.position(m) {
                let n = big.tree.len();
                big.tree.insert(n, pos);
            }
        }
        self.0 = Repr::Big(Box::new(big));
    }

    /// Sets `m`'s score, adding it if new; returns the previous score. A score
    /// equal to the old one (`0` and `-0` included) changes nothing.
    pub fn insert(&mut self, m: &[u8], s: f64) -> Option<f64> {
        let old = self.score(m);
        if old.is_some_and(|o| o == s) {
            return old;
        }
        // As Redis, only a new member can convert the listpack (an existing one
        // keeps fitting even if the limits were lowered since).
        if let Repr::Pack(p) = &self.0
            && old.is_none()
            && (m.len() > limits::zset_value() || p.len() / 2 >= limits::zset_entries())
        {
            self.convert_to_big();
        }
        match &mut self.0 {
            Repr::Pack(p) => {
                let found = if old.is_some() {
                    pairs(p).find(|&(_, pm, _)| pm == m).map(|(at, _, _)| at)
                } else {
                    None
                };
                if let Some(at) = found {
                    p.remove_at(at, 2);
                }
                pack_insert(p, m, s);
            }
            Repr::Big(b) => {
                if let Some(o) = old {
                    let r = b.rank_of(o, m);
                    b.tree.remove(r);
                    if let Some(v) = b.dict.get_mut(m) {
                        *v = s;
                    }
                    let r = b.rank_of(s, m);
                    if let Some(pos) = b.dict.position(m) {
                        b.tree.insert(r, pos);
                    }
                } else {
                    b.insert_new(m, s);
                }
            }
        }
        old
    }

    /// Removes `m`; returns its score.
    pub fn remove(&mut self, m: &[u8]) -> Option<f64> {
        match &mut self.0 {
            Repr::Pack(p) => {
                let (at, _, s) = pairs(p).find(|&(_, pm, _)| pm == m)?;
                p.remove_at(at, 2);
                Some(s)
            }
            Repr::Big(b) => {
                let pos = b.dict.position(m)?;
                let s = b.entry(pos).1;
                let r = b.rank_of(s, m);
                b.tree.remove(r);
                b.dict.remove_at(pos);
                Some(s)
            }
        }
    }

    /// 0-based rank of `m` in ascending order.
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        match &self.0 {
            Repr::Pack(p) => pairs(p).position(|(_, pm, _)| pm == m),
            Repr::Big(b) => {
                let s = *b.dict.get(m)?;
                Some(b.rank_of(s, m))
            }
        }
    }

    /// The member and score at ascending rank `r`.
    pub fn get(&self, r: usize) -> Option<(&[u8], f64)> {
        match &self.0 {
            Repr::Pack(p) => pairs(p).nth(r).map(|(_, m, s)| (m, s)),
            Repr::Big(b) => b.tree.get(r).map(|id| b.entry(id)),
        }
    }

    /// Calls `f` for ranks `start..end` (ascending ranks), in ascending order or,
    /// with `rev`, descending.
    pub fn visit<'a>(
        &'a self,
        start: usize,
        end: usize,
        rev: bool,
        mut f: impl FnMut(&'a [u8], f64),
    ) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        match &self.0 {
            Repr::Pack(p) => {
                if rev {
                    let v: Vec<(&[u8], f64)> = pairs(p)
                        .skip(start)
                        .take(end - start)
                        .map(|(_, m, s)| (m, s))
                        .collect();
                    v.into_iter().rev().for_each(|(m, s)| f(m, s));
                } else {
                    pairs(p)
                        .skip(start)
                        .take(end - start)
                        .for_each(|(_, m, s)| f(m, s));
                }
            }
            Repr::Big(b) => b.tree.visit(start, end, rev, &mut |id| {
                let (m, s) = b.entry(id);
                f(m, s)
            }),
        }
    }

    /// Every member with its score, in order (SORT, ZUNION...).
    pub fn for_each_in_order<'a>(&'a self, f: impl FnMut(&'a [u8], f64)) {
        self.visit(0, self.len(), false, f);
    }

    /// The ranks `start..end` whose scores are in `r`.
    pub fn score_span(&self, r: &ScoreRange) -> (usize, usize) {
        match &self.0 {
            Repr::Pack(p) => linear_span(
                pairs(p).map(|(_, _, s)| s),
                |s| r.gte_min(*s),
                |s| r.lte_max(*s),
            ),
            Repr::Big(b) => {
                let start = b.tree.rank_by(|id| !r.gte_min(b.entry(id).1));
                let end = b.tree.rank_by(|id| r.lte_max(b.entry(id).1));
                (start, end.max(start))
            }
        }
    }

    /// The ranks `start..end` whose members are in `r` (meaningful when all
    /// scores are equal; otherwise as deterministic as Redis's listpack walk).
    pub fn lex_span(&self, r: &LexRange) -> (usize, usize) {
        match &self.0 {
            Repr::Pack(p) => linear_span(
                pairs(p).map(|(_, m, _)| m),
                |m| r.gte_min(m),
                |m| r.lte_max(m),
            ),
            Repr::Big(b) => {
                let start = b.tree.rank_by(|id| !r.gte_min(b.entry(id).0));
                let end = b.tree.rank_by(|id| r.lte_max(b.entry(id).0));
                (start, end.max(start))
            }
        }
    }

    /// Removes ranks `start..end`; returns how many went.
    pub fn remove_span(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match &mut self.0 {
            Repr::Pack(p) => {
                let at = p.offset_of(2 * start);
                p.remove_at(at, 2 * (end - start));
            }
            Repr::Big(b) => {
                for _ in start..end {
                    if let Some(id) = b.tree.remove(start) {
                        b.dict.remove_at(id);
                    }
                }
            }
        }
        end - start
    }

    /// Removes and returns the lowest (or, with `max`, the highest) member.
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let r = if max { n - 1 } else { 0 };
        let (m, s) = self.get(r).map(|(m, s)| (m.to_vec(), s))?;
        self.remove_span(r, r + 1);
        Some((m, s))
    }

    /// One step of ZSCAN: the small form returns everything at once (cursor 0),
    /// the big one walks its dict with SCAN's guarantee. `f` gets each member
    /// and its score.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.0 {
            Repr::Pack(p) => {
                pairs(p).for_each(|(_, m, s)| f(m, s));
                0
            }
            Repr::Big(b) => b.dict.scan(cursor, count, |m, &s| f(m, s)),
        }
    }

    /// Bytes of heap held (memory reports).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Pack(p) => p.heap_bytes(),
            Repr::Big(b) => {
                std::mem::size_of::<Big>() + b.dict.overhead_bytes() + b.tree.heap_bytes()
            }
        }
    }
}

/// `[start, end)` of a sorted sequence for a range, walking as Redis's listpack
/// code does: the first element at or above the minimum, then while below the
/// maximum.
fn linear_span<T>(
    items: impl Iterator<Item = T>,
    gte_min: impl Fn(&T) -> bool,
    lte_max: impl Fn(&T) -> bool,
) -> (usize, usize) {
    let mut start = None;
    let mut end = 0;
    for (i, x) in items.enumerate() {
        match start {
            None => {
                if gte_min(&x) {
                    if !lte_max(&x) {
                        return (i, i);
                    }
                    start = Some(i);
                    end = i + 1;
                }
            }
            Some(_) => {
                if !lte_max(&x) {
                    break;
                }
                end = i + 1;
            }
        }
    }
    match start {
        Some(s) => (s, end),
        None => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap};

    #[test]
    fn stays_small_inline() {
        assert!(std::mem::size_of::<ZSet>() <= 24);
    }

    #[test]
    fn score_encoding_round_trips() {
        for s in [
            0.0,
            1.0,
            -1.0,
            1.5,
            -2.5e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            (1u64 << 55) as f64,
            -((1u64 << 55) as f64) + 1.0,
            123456789.0,
            1e-300,
        ] {
            let mut b = [0u8; 8];
            let n = enc_score(s, &mut b);
            assert_eq!(dec_score(&b[..n]), s, "{s}");
        }
        let mut b = [0u8; 8];
        assert_eq!(enc_score(1.0, &mut b), 1);
        assert_eq!(enc_score(0.0, &mut b), 0);
        let n = enc_score(-0.0, &mut b);
        assert!(dec_score(&b[..n]).is_sign_positive());
    }

    #[test]
    fn converts_past_the_limits_and_never_back() {
        let mut z = ZSet::new();
        for i in 0..128 {
            z.insert(format!("m{i}").as_bytes(), i as f64);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"m0", 5.0);
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"x", 1.0);
        assert_eq!(z.encoding(), "skiplist");
        z.remove_span(0, 120);
        assert_eq!(z.encoding(), "skiplist");
        let mut y = ZSet::new();
        y.insert(&[b'a'; 65], 1.0);
        assert_eq!(y.encoding(), "skiplist");
    }

    /// Total-order wrapper for the model.
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Ord64(f64);
    impl Eq for Ord64 {}
    impl PartialOrd for Ord64 {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Ord64 {
        fn cmp(&self, o: &Self) -> Ordering {
            self.0.partial_cmp(&o.0).unwrap_or(Ordering::Equal)
        }
    }

    fn check(z: &ZSet, model: &BTreeSet<(Ord64, Vec<u8>)>, scores: &HashMap<Vec<u8>, f64>) {
        assert_eq!(z.len(), model.len());
        let mut got = Vec::new();
        z.for_each_in_order(|m, s| got.push((Ord64(s), m.to_vec())));
        let want: Vec<(Ord64, Vec<u8>)> = model.iter().cloned().collect();
        assert_eq!(got, want);
        for (i, (s, m)) in want.iter().enumerate() {
            assert_eq!(z.rank(m), Some(i));
            assert_eq!(z.score(m), Some(s.0));
            assert_eq!(scores.get(m), Some(&s.0));
            assert_eq!(
                z.get(i).map(|(m, s)| (Ord64(s), m.to_vec())),
                Some((*s, m.clone()))
            );
        }
        if let Repr::Big(b) = &z.0 {
            b.tree.check(&|x, y| {
                let (m1, s1) = b.entry(x);
                let (m2, s2) = b.entry(y);
                cmp_entry(s1, m1, s2, m2) == Ordering::Less
            });
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Random adds, removes, increments, pops and range removals match a
        /// BTreeSet + HashMap model, across the listpack → skiplist conversion.
        #[test]
        fn matches_model(ops in prop::collection::vec((0u8..7, 0u16..400, -20i32..20, 0usize..300), 1..700)) {
            let mut z = ZSet::new();
            let mut model: BTreeSet<(Ord64, Vec<u8>)> = BTreeSet::new();
            let mut scores: HashMap<Vec<u8>, f64> = HashMap::new();
            for (op, k, sc, n) in ops {
                let m = if k % 97 == 0 { vec![b'L'; 70 + k as usize % 3] } else { format!("m{k}").into_bytes() };
                let s = if sc == 19 { f64::INFINITY } else { sc as f64 / 4.0 };
                match op {
                    0 | 1 => {
                        let old = z.insert(&m, s);
                        prop_assert_eq!(old, scores.get(&m).copied());
                        if let Some(o) = scores.insert(m.clone(), s) {
                            model.remove(&(Ord64(o), m.clone()));
                        }
                        model.insert((Ord64(s), m));
                    }
                    2 => {
                        let got = z.remove(&m);
                        let want = scores.remove(&m);
                        prop_assert_eq!(got, want);
                        if let Some(o) = want { model.remove(&(Ord64(o), m)); }
                    }
                    3 => {
                        let max = n % 2 == 0;
                        let got = z.pop(max);
                        let want = if max { model.iter().next_back().cloned() } else { model.iter().next().cloned() };
                        if let Some((s, m)) = &want {
                            model.remove(&(*s, m.clone()));
                            scores.remove(m);
                        }
                        prop_assert_eq!(got, want.map(|(s, m)| (m, s.0)));
                    }
                    4 => {
                        let r = ScoreRange { min: s, max: s + (n % 8) as f64, minex: n % 3 == 0, maxex: n % 5 == 0 };
                        let (a, b) = z.score_span(&r);
                        let want: Vec<usize> = model.iter().enumerate()
                            .filter(|(_, (sc, _))| r.gte_min(sc.0) && r.lte_max(sc.0)).map(|(i, _)| i).collect();
                        prop_assert_eq!(b - a, want.len());
                        if let Some(&f) = want.first() { prop_assert_eq!(a, f); }
                    }
                    5 => {
                        let len = model.len();
                        let (a, b) = (n % (len + 1), (n % (len + 1)) + n % 5);
                        let removed = z.remove_span(a, b);
                        let victims: Vec<(Ord64, Vec<u8>)> = model.iter().skip(a).take(b - a).cloned().collect();
                        prop_assert_eq!(removed, victims.len());
                        for v in victims { scores.remove(&v.1); model.remove(&v); }
                    }
                    _ => {
                        let got = z.rank(&m);
                        let want = scores.get(&m).map(|&s| model.range(..(Ord64(s), m.clone())).count());
                        prop_assert_eq!(got, want);
                    }
                }
            }
            check(&z, &model, &scores);
            let back: Vec<(Vec<u8>, f64)> = model.iter().rev().map(|(s, m)| (m.clone(), s.0)).collect();
            let mut got = Vec::new();
            z.visit(0, z.len(), true, |m, s| got.push((m.to_vec(), s)));
            prop_assert_eq!(got, back);
        }
    }

    #[test]
    fn big_set_through_many_ops() {
        let mut z = ZSet::new();
        let mut model: BTreeSet<(Ord64, Vec<u8>)> = BTreeSet::new();
        let mut scores = HashMap::new();
        let mut x = 88172645463325252u64;
        for _ in 0..40_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = format!("k{}", x % 5000).into_bytes();
            let s = ((x >> 20) % 300) as f64;
            if x.is_multiple_of(3) {
                if let Some(o) = z.remove(&m) {
                    model.remove(&(Ord64(o), m.clone()));
                    scores.remove(&m);
                }
            } else {
                if let Some(o) = z.insert(&m, s) {
                    model.remove(&(Ord64(o), m.clone()));
                }
                model.insert((Ord64(s), m.clone()));
                scores.insert(m, s);
            }
        }
        check(&z, &model, &scores);
    }
}
