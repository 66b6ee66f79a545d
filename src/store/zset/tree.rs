//! An order-statistic B+tree of `u32` ids: the ordered half of a big sorted set.
//!
//! The tree stores only ids (slot positions in the set's member dict); their
//! order is the caller's, given as a `less` predicate when searching. Every
//! operation is by rank: the caller finds where a key goes with
//! [`rank_by`](Tree::rank_by) and then inserts or removes at that rank, so the
//! tree never compares keys while restructuring. Inner nodes keep each child's
//! element count (rank arithmetic) and first id (search), making insert,
//! remove, rank and nth O(log n) with about 4.2 bytes per element.
//!
//! Nodes live in two arenas (`Vec`s) addressed by index, with free lists: no
//! pointers, no `unsafe`.

/// Most entries per node; a node that grows past it splits in two.
const CAP: usize = 64;
/// A node below this size after a removal merges with a neighbour when they fit.
const MIN: usize = CAP / 4;

#[derive(Debug, Clone, Default)]
struct Inner {
    kids: Vec<u32>,
    /// Elements under each child.
    counts: Vec<u32>,
    /// First id under each child.
    firsts: Vec<u32>,
}

#[derive(Debug, Clone)]
pub struct Tree {
    leaves: Vec<Vec<u32>>,
    inners: Vec<Inner>,
    free_leaves: Vec<u32>,
    free_inners: Vec<u32>,
    root: u32,
    /// Inner levels above the leaves (0: the root is a leaf).
    height: u32,
    len: usize,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

/// A node split off during insertion: (node, element count, first id).
type Split = (u32, u32, u32);

impl Tree {
    pub fn new() -> Self {
        Tree {
            leaves: vec![Vec::new()],
            inners: Vec::new(),
            free_leaves: Vec::new(),
            free_inners: Vec::new(),
            root: 0,
            height: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of ids for which `less` holds; `less` must hold for a prefix of the
    /// order (it is "sorts before the searched key").
    pub fn rank_by(&self, less: impl Fn(u32) -> bool) -> usize {
        let mut node = self.root;
        let mut rank = 0usize;
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            let j = inner.firsts.partition_point(|&f| less(f));
            if j == 0 {
                return rank;
            }
            rank += inner.counts[..j - 1]
                .iter()
                .map(|&c| c as usize)
                .sum::<usize>();
            node = inner.kids[j - 1];
        }
        rank + self.leaves[node as usize].partition_point(|&x| less(x))
    }

    /// The id at `rank`.
    pub fn get(&self, mut rank: usize) -> Option<u32> {
        if rank >= self.len {
            return None;
        }
        let mut node = self.root;
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            let mut i = 0;
            while i + 1 < inner.kids.len() && rank >= inner.counts[i] as usize {
                rank -= inner.counts[i] as usize;
                i += 1;
            }
            node = inner.kids[i];
        }
        self.leaves[node as usize].get(rank).copied()
    }

    /// Inserts `id` so that it gets rank `rank` (clamped to the end).
    pub fn insert(&mut self, rank: usize, id: u32) {
        let rank = rank.min(self.len);
        if let Some((right, rcount, rfirst)) = self.ins(self.root, self.height, rank, id) {
            let left = self.root;
            let lfirst = self.first_direct(left, self.height);
            let lcount = (self.len + 1) as u32 - rcount;
            self.root = self.alloc_inner(Inner {
                kids: vec![left, right],
                counts: vec![lcount, rcount],
                firsts: vec![lfirst, rfirst],
            });
            self.height += 1;
        }
        self.len += 1;
    }

    fn ins(&mut self, node: u32, h: u32, rank: usize, id: u32) -> Option<Split> {
        if h == 0 {
            let leaf = &mut self.leaves[node as usize];
            leaf.insert(rank.min(leaf.len()), id);
            if leaf.len() <= CAP {
                return None;
            }
            let right = leaf.split_off(leaf.len() / 2);
            let (count, first) = (right.len() as u32, right[0]);
            return Some((self.alloc_leaf(right), count, first));
        }
        let (i, sub) = {
            let inner = &self.inners[node as usize];
            let (mut i, mut r) = (0, rank);
            while i + 1 < inner.kids.len() && r > inner.counts[i] as usize {
                r -= inner.counts[i] as usize;
                i += 1;
            }
            (i, r)
        };
        let child = self.inners[node as usize].kids[i];
        let split = self.ins(child, h - 1, sub, id);
        let inner = &mut self.inners[node as usize];
        inner.counts[i] += 1;
        if sub == 0 {
            inner.firsts[i] = id;
        }
        let (right, rcount, rfirst) = split?;
        inner.counts[i] -= rcount;
        inner.kids.insert(i + 1, right);
        inner.counts.insert(i + 1, rcount);
        inner.firsts.insert(i + 1, rfirst);
        if inner.kids.len() <= CAP {
            return None;
        }
        let half = inner.kids.len() / 2;
        let part = Inner {
            kids: inner.kids.split_off(half),
            counts: inner.counts.split_off(half),
            firsts: inner.firsts.split_off(half),
        };
        let count = part.counts.iter().sum();
        let first = part.firsts[0];
        Some((self.alloc_inner(part), count, first))
    }

    /// Removes and returns the id at `rank`.
    pub fn remove(&mut self, rank: usize) -> Option<u32> {
        if rank >= self.len {
            return None;
        }
        let id = self.rem(self.root, self.height, rank)?;
        self.len -= 1;
        while self.height > 0 && self.inners[self.root as usize].kids.len() == 1 {
            let old = self.root;
            self.root = self.inners[old as usize].kids[0];
            self.free_inner(old);
            self.height -= 1;
        }
        Some(id)
    }

    fn rem(&mut self, node: u32, h: u32, rank: usize) -> Option<u32> {
        if h == 0 {
            let leaf = &mut self.leaves[node as usize];
            return (rank < leaf.len()).then(|| leaf.remove(rank));
        }
        let (i, sub) = {
            let inner = &self.inners[node as usize];
            let (mut i, mut r) = (0, rank);
            while i + 1 < inner.kids.len() && r >= inner.counts[i] as usize {
                r -= inner.counts[i] as usize;
                i += 1;
            }
            (i, r)
        };
        let child = self.inners[node as usize].kids[i];
        let id = self.rem(child, h - 1, sub)?;
        let child_len = self.node_len(child, h - 1);
        let inner = &mut self.inners[node as usize];
        inner.counts[i] -= 1;
        if child_len == 0 {
            inner.kids.remove(i);
            inner.counts.remove(i);
            inner.firsts.remove(i);
            self.free_node(child, h - 1);
            return Some(id);
        }
        if sub == 0 {
            let f = self.first_direct(child, h - 1);
            self.inners[node as usize].firsts[i] = f;
        }
        if child_len < MIN {
            let n = self.inners[node as usize].kids.len();
            if i + 1 < n {
                self.try_merge(node, h, i);
            } else if i > 0 {
                self.try_merge(node, h, i - 1);
            }
        }
        Some(id)
    }

    /// Merges children `j` and `j + 1` of `node` (at height `h`) if they fit in one.
    fn try_merge(&mut self, node: u32, h: u32, j: usize) {
        let (a, b) = {
            let inner = &self.inners[node as usize];
            (inner.kids[j], inner.kids[j + 1])
        };
        if self.node_len(a, h - 1) + self.node_len(b, h - 1) > CAP {
            return;
        }
        if h - 1 == 0 {
            let mut items = std::mem::take(&mut self.leaves[b as usize]);
            self.leaves[a as usize].append(&mut items);
            self.free_leaves.push(b);
        } else {
            let part = std::mem::take(&mut self.inners[b as usize]);
            let dst = &mut self.inners[a as usize];
            dst.kids.extend(part.kids);
            dst.counts.extend(part.counts);
            dst.firsts.extend(part.firsts);
            self.free_inners.push(b);
        }
        let inner = &mut self.inners[node as usize];
        inner.counts[j] += inner.counts[j + 1];
        inner.kids.remove(j + 1);
        inner.counts.remove(j + 1);
        inner.firsts.remove(j + 1);
    }

    /// Entries of a node (ids for a leaf, children for an inner node).
    fn node_len(&self, node: u32, h: u32) -> usize {
        if h == 0 {
            self.leaves[node as usize].len()
        } else {
            self.inners[node as usize].kids.len()
        }
    }

    /// First id under a non-empty node.
    fn first_direct(&self, node: u32, h: u32) -> u32 {
        if h == 0 {
            self.leaves[node as usize].first().copied().unwrap_or(0)
        } else {
            self.inners[node as usize]
                .firsts
                .first()
                .copied()
                .unwrap_or(0)
        }
    }

    fn alloc_leaf(&mut self, items: Vec<u32>) -> u32 {
        match self.free_leaves.pop() {
            Some(i) => {
                self.leaves[i as usize] = items;
                i
            }
            None => {
                self.leaves.push(items);
                (self.leaves.len() - 1) as u32
            }
        }
    }

    fn alloc_inner(&mut self, inner: Inner) -> u32 {
        match self.free_inners.pop() {
            Some(i) => {
                self.inners[i as usize] = inner;
                i
            }
            None => {
                self.inners.push(inner);
                (self.inners.len() - 1) as u32
            }
        }
    }

    fn free_inner(&mut self, node: u32) {
        self.inners[node as usize] = Inner::default();
        self.free_inners.push(node);
    }

    fn free_node(&mut self, node: u32, h: u32) {
        if h == 0 {
            self.leaves[node as usize] = Vec::new();
            self.free_leaves.push(node);
        } else {
            self.free_inner(node);
        }
    }

    /// Calls `f` with the ids at ranks `start..end`, ascending or (`rev`) descending.
    pub fn visit(&self, start: usize, end: usize, rev: bool, f: &mut impl FnMut(u32)) {
        let end = end.min(self.len);
        if start < end {
            self.visit_node(self.root, self.height, start, end, rev, f);
        }
    }

    fn visit_node(
        &self,
        node: u32,
        h: u32,
        start: usize,
        end: usize,
        rev: bool,
        f: &mut impl FnMut(u32),
    ) {
        if h == 0 {
            let leaf = &self.leaves[node as usize];
            let items = &leaf[start.min(leaf.len())..end.min(leaf.len())];
            if rev {
                items.iter().rev().for_each(|&x| f(x));
            } else {
                items.iter().for_each(|&x| f(x));
            }
            return;
        }
        let inner = &self.inners[node as usize];
        let n = inner.kids.len();
        let mut base = 0usize;
        let mut spans = Vec::with_capacity(n);
        for i in 0..n {
            let c = inner.counts[i] as usize;
            let (lo, hi) = (base, base + c);
            if hi > start && lo < end {
                spans.push((i, start.max(lo) - lo, end.min(hi) - lo));
            }
            base = hi;
        }
        if rev {
            spans.reverse();
        }
        for (i, s, e) in spans {
            self.visit_node(inner.kids[i], h - 1, s, e, rev, f);
        }
    }

    /// Heap bytes held (for tests and memory reports).
    pub fn heap_bytes(&self) -> usize {
        let leaves: usize = self.leaves.iter().map(|l| l.capacity() * 4).sum();
        let inners: usize = self
            .inners
            .iter()
            .map(|i| (i.kids.capacity() + i.counts.capacity() + i.firsts.capacity()) * 4)
            .sum();
        leaves
            + inners
            + self.leaves.capacity() * std::mem::size_of::<Vec<u32>>()
            + self.inners.capacity() * std::mem::size_of::<Inner>()
    }

    /// Checks counts, firsts and order against `less` (tests).
    #[cfg(test)]
    pub fn check(&self, less: &impl Fn(u32, u32) -> bool) {
        let mut all = Vec::new();
        let n = self.check_node(self.root, self.height, &mut all);
        assert_eq!(n, self.len);
        assert_eq!(all.len(), self.len);
        for w in all.windows(2) {
            assert!(less(w[0], w[1]), "out of order");
        }
    }

    #[cfg(test)]
    fn check_node(&self, node: u32, h: u32, all: &mut Vec<u32>) -> usize {
        if h == 0 {
            let l = &self.leaves[node as usize];
            assert!(l.len() <= CAP);
            all.extend(l);
            return l.len();
        }
        let inner = &self.inners[node as usize];
        assert!(!inner.kids.is_empty() && inner.kids.len() <= CAP);
        let mut total = 0;
        for i in 0..inner.kids.len() {
            let before = all.len();
            let n = self.check_node(inner.kids[i], h - 1, all);
            assert!(n > 0);
            assert_eq!(n, inner.counts[i] as usize);
            assert_eq!(all[before], inner.firsts[i]);
            total += n;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Inserting and removing by rank matches a Vec; search by predicate
        /// agrees with the Vec's partition point.
        #[test]
        fn matches_vec(ops in prop::collection::vec((0u8..3, 0u32..3000), 1..3000)) {
            let mut t = Tree::new();
            let mut m: Vec<u32> = Vec::new();
            for (op, v) in ops {
                match op {
                    0 | 1 => {
                        if m.binary_search(&v).is_err() {
                            let r = t.rank_by(|x| x < v);
                            prop_assert_eq!(r, m.partition_point(|&x| x < v));
                            t.insert(r, v);
                            m.insert(r, v);
                        }
                    }
                    _ => {
                        if !m.is_empty() {
                            let r = v as usize % m.len();
                            prop_assert_eq!(t.remove(r), Some(m.remove(r)));
                        }
                    }
                }
            }
            t.check(&|a, b| a < b);
            for (i, &x) in m.iter().enumerate() {
                prop_assert_eq!(t.get(i), Some(x));
            }
            let mut fwd = Vec::new();
            t.visit(3, m.len().saturating_sub(2), false, &mut |x| fwd.push(x));
            let want: Vec<u32> = m.iter().copied().skip(3).take(m.len().saturating_sub(5)).collect();
            prop_assert_eq!(&fwd, &want);
            let mut back = Vec::new();
            t.visit(0, m.len(), true, &mut |x| back.push(x));
            m.reverse();
            prop_assert_eq!(back, m);
        }
    }

    #[test]
    fn drains_to_empty_and_refills() {
        let mut t = Tree::new();
        for i in 0..10_000u32 {
            t.insert(i as usize, i);
        }
        t.check(&|a, b| a < b);
        for _ in 0..10_000 {
            t.remove(0);
        }
        assert!(t.is_empty());
        assert_eq!(t.height, 0);
        for i in 0..500u32 {
            t.insert(0, 500 - i);
        }
        t.check(&|a, b| a < b);
    }
}
