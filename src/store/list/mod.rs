//! Lists: a deque of compact chunks, like Redis's quicklist of listpacks.
//!
//! A [`List`] is a `VecDeque` of [`Chunk`]s, each one heap buffer holding up to
//! [`MAX_COUNT`] entries in at most [`MAX_BYTES`] bytes (a bigger element gets a
//! chunk of its own). An entry is its length as a LEB128 varint, the bytes, and
//! the same varint written backwards, so a chunk is walked from either end: an
//! element of up to 127 bytes costs 2 bytes of overhead, as in a listpack.
//!
//! A chunk's buffer keeps free room at both ends: the entries sit at
//! `buf[head..]`, with spare bytes before `head` (the room left by pops at the
//! front, or reserved for pushes there) and the `Vec`'s spare capacity after. So
//! pushes and pops at either end of the list touch only the end chunk and move
//! no bytes; when a side runs out of room the buffer is rebuilt with a quarter
//! of its size to spare on that side (amortised O(1)). Only the two end chunks
//! keep spare room: a chunk that stops being an end is shrunk to fit.
//!
//! Chunk metadata sits contiguously in the deque, so finding the chunk holding
//! index `i` sums counts over `n / 128` adjacent records from the nearer end;
//! inside a chunk, entries are walked from the nearer end too. Iterators stream
//! `&[u8]` slices straight out of the buffers (LRANGE writes replies from them).

use std::collections::VecDeque;

/// Most entries in one chunk.
pub const MAX_COUNT: usize = 128;
/// Most bytes of entries in one chunk (unless it holds a single bigger entry).
pub const MAX_BYTES: usize = 8 * 1024;

// ---------------------------------------------------------------------------
// Entry encoding: varint(len) | bytes | varint(len) reversed
// ---------------------------------------------------------------------------

#[inline]
fn varint_len(n: usize) -> usize {
    match n {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => (usize::BITS - n.leading_zeros()).div_ceil(7) as usize,
    }
}

/// Bytes an element of length `n` takes in a chunk.
#[inline]
fn enc_len(n: usize) -> usize {
    n + 2 * varint_len(n)
}

/// Writes the entry for `v` at the start of `out` (exactly `enc_len(v.len())` bytes).
#[inline]
fn write_entry(out: &mut [u8], v: &[u8]) {
    let n = v.len();
    if n < 0x80 {
        out[0] = n as u8;
        out[1..1 + n].copy_from_slice(v);
        out[1 + n] = n as u8;
        return;
    }
    let mut tmp = [0u8; 10];
    let mut k = 0;
    let mut x = n;
    loop {
        let b = (x & 0x7f) as u8;
        x >>= 7;
        if x == 0 {
            tmp[k] = b;
            k += 1;
            break;
        }
        tmp[k] = b | 0x80;
        k += 1;
    }
    out[..k].copy_from_slice(&tmp[..k]);
    out[k..k + n].copy_from_slice(v);
    for i in 0..k {
        out[k + n + i] = tmp[k - 1 - i];
    }
}

/// Decodes the entry starting at `at`: (data start, data length, next entry).
#[inline]
fn read_fwd(buf: &[u8], at: usize) -> (usize, usize, usize) {
    let b = buf[at];
    if b < 0x80 {
        let n = b as usize;
        return (at + 1, n, at + 2 + n);
    }
    let mut n = (b & 0x7f) as usize;
    let mut shift = 7;
    let mut p = at + 1;
    loop {
        let b = buf[p];
        p += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    let k = p - at;
    (p, n, p + n + k)
}

/// Decodes the entry ending at `end`: (entry start, data start, data length).
#[inline]
fn read_back(buf: &[u8], end: usize) -> (usize, usize, usize) {
    let b = buf[end - 1];
    if b < 0x80 {
        let n = b as usize;
        let ds = end - 1 - n;
        return (ds - 1, ds, n);
    }
    let mut n = (b & 0x7f) as usize;
    let mut shift = 7;
    let mut p = end - 1;
    loop {
        p -= 1;
        let b = buf[p];
        n |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    let k = end - p;
    let ds = p - n;
    (ds - k, ds, n)
}

/// Spare room given to the side of a chunk that ran out of it: a quarter of
/// its size, none once it is full (only a split can follow).
#[inline]
fn growth(bytes: usize) -> usize {
    (bytes / 4).max(16).min(MAX_BYTES.saturating_sub(bytes))
}

// ---------------------------------------------------------------------------
// Chunk
// ---------------------------------------------------------------------------

/// Up to `MAX_COUNT` entries in one buffer: `buf[head..]` holds them, the bytes
/// before `head` and the spare capacity after are room to grow. Never empty
/// while it is part of a list.
#[derive(Clone)]
struct Chunk {
    buf: Vec<u8>,
    head: u32,
    count: u32,
}

impl Chunk {
    const EMPTY: Chunk = Chunk {
        buf: Vec::new(),
        head: 0,
        count: 0,
    };

    /// A chunk holding `v`, with `room` spare bytes before it (`front`) or after.
    fn with(v: &[u8], front: bool, room: usize) -> Chunk {
        let need = enc_len(v.len());
        let mut buf = Vec::with_capacity(need + room);
        let head = if front { room } else { 0 };
        buf.resize(head + need, 0);
        write_entry(&mut buf[head..], v);
        Chunk {
            buf,
            head: head as u32,
            count: 1,
        }
    }

    #[inline]
    fn head(&self) -> usize {
        self.head as usize
    }

    #[inline]
    fn count(&self) -> usize {
        self.count as usize
    }

    /// Bytes of entries.
    #[inline]
    fn bytes(&self) -> usize {
        self.buf.len() - self.head()
    }

    #[inline]
    fn fits(&self, need: usize) -> bool {
        self.count() < MAX_COUNT && self.bytes() + need <= MAX_BYTES
    }

    /// Over the limits with more than one entry: must be split.
    #[inline]
    fn over(&self) -> bool {
        self.count > 1 && (self.count() > MAX_COUNT || self.bytes() > MAX_BYTES)
    }

    /// Whether `other`'s entries fit in this chunk too.
    #[inline]
    fn can_absorb(&self, other: &Chunk) -> bool {
        self.count() + other.count() <= MAX_COUNT && self.bytes() + other.bytes() <= MAX_BYTES
    }

    #[inline]
    fn entry(&self, at: usize) -> (&[u8], usize) {
        let (ds, n, next) = read_fwd(&self.buf, at);
        (&self.buf[ds..ds + n], next)
    }

    /// Offset of entry `i` (`i == count` gives the end), walking from the nearer end.
    fn offset_of(&self, i: usize) -> usize {
        let n = self.count();
        if i <= n / 2 {
            let mut at = self.head();
            for _ in 0..i {
                at = read_fwd(&self.buf, at).2;
            }
            at
        } else {
            let mut at = self.buf.len();
            for _ in i..n {
                at = read_back(&self.buf, at).0;
            }
            at
        }
    }

    /// Resizes the `old` bytes at `off` to `new` bytes (their content is then
    /// undefined) keeping everything around them; returns where they now start.
    /// Moves the smaller side of the buffer; reallocates with room to spare when
    /// that side has none.
    fn splice(&mut self, off: usize, old: usize, new: usize) -> usize {
        let head = self.head();
        let len = self.buf.len();
        debug_assert!(head <= off && off + old <= len);
        let front_cost = off - head;
        let back_cost = len - off - old;
        if new <= old {
            let d = old - new;
            if d == 0 {
                return off;
            }
            if front_cost < back_cost {
                self.buf.copy_within(head..off, head + d);
                self.head = (head + d) as u32;
                return off + d;
            }
            self.buf.copy_within(off + old..len, off + new);
            self.buf.truncate(len - d);
            return off;
        }
        let d = new - old;
        let back_room = self.buf.capacity() - len;
        let to_front = front_cost < back_cost;
        if to_front {
            if head >= d {
                self.buf.copy_within(head..off, head - d);
                self.head = (head - d) as u32;
                return off - d;
            }
        } else if back_room >= d {
            self.buf.resize(len + d, 0);
            self.buf.copy_within(off + old..len, off + new);
            return off;
        }
        // The cheap side has no room left: reallocate with room on that side.
        let bytes = len - head;
        let grow = growth(bytes);
        if !to_front && head <= grow {
            // Keep the buffer (realloc may extend it in place).
            self.buf.reserve_exact(d + grow);
            self.buf.resize(len + d, 0);
            self.buf.copy_within(off + old..len, off + new);
            return off;
        }
        let (front, back) = if to_front {
            (grow, back_room.min(grow))
        } else {
            (head.min(grow), grow)
        };
        let mut v = Vec::with_capacity(front + bytes + d + back);
        v.resize(front, 0);
        v.extend_from_slice(&self.buf[head..off]);
        let at = v.len();
        v.resize(at + new, 0);
        v.extend_from_slice(&self.buf[off + old..len]);
        self.buf = v;
        self.head = front as u32;
        at
    }

    /// Inserts `v` as a new entry at offset `off`.
    fn insert_at(&mut self, off: usize, v: &[u8]) {
        let need = enc_len(v.len());
        let at = self.splice(off, 0, need);
        write_entry(&mut self.buf[at..at + need], v);
        self.count += 1;
    }

    /// Replaces the entry at `off` with `v`.
    fn replace_at(&mut self, off: usize, v: &[u8]) {
        let old = read_fwd(&self.buf, off).2 - off;
        let need = enc_len(v.len());
        let at = self.splice(off, old, need);
        write_entry(&mut self.buf[at..at + need], v);
    }

    #[inline]
    fn push_front(&mut self, v: &[u8]) {
        let need = enc_len(v.len());
        let head = self.head();
        if head >= need {
            // The common case: room left by earlier growth or pops.
            write_entry(&mut self.buf[head - need..head], v);
            self.head = (head - need) as u32;
            self.count += 1;
        } else {
            self.insert_at(head, v);
        }
    }

    #[inline]
    fn push_back(&mut self, v: &[u8]) {
        let need = enc_len(v.len());
        let len = self.buf.len();
        if self.buf.capacity() - len >= need {
            let n = v.len();
            if n < 0x80 {
                self.buf.push(n as u8);
                self.buf.extend_from_slice(v);
                self.buf.push(n as u8);
            } else {
                self.buf.resize(len + need, 0);
                write_entry(&mut self.buf[len..], v);
            }
            self.count += 1;
        } else {
            self.insert_at(len, v);
        }
    }

    /// Drops the first `k` entries (the room stays for later pushes).
    fn drop_front(&mut self, k: usize) {
        let off = self.offset_of(k);
        self.head = off as u32;
        self.count -= k as u32;
    }

    /// Drops the last `k` entries.
    fn drop_back(&mut self, k: usize) {
        let off = self.offset_of(self.count() - k);
        self.buf.truncate(off);
        self.count -= k as u32;
    }

    /// Reallocates to fit when more than `slack` bytes are spare.
    fn shrink_if(&mut self, slack: usize) {
        if self.buf.capacity() - self.bytes() > slack {
            self.buf = self.buf[self.head()..].to_vec();
            self.head = 0;
        }
    }

    /// Moves entries `k..` into a new chunk.
    fn split_off(&mut self, k: usize) -> Chunk {
        let off = self.offset_of(k);
        let right = Chunk {
            buf: self.buf[off..].to_vec(),
            head: 0,
            count: self.count - k as u32,
        };
        self.buf.truncate(off);
        self.count = k as u32;
        self.shrink_if(self.bytes() / 8);
        right
    }

    /// Appends `other`'s entries.
    fn append(&mut self, other: &Chunk) {
        self.buf.reserve_exact(other.bytes());
        self.buf.extend_from_slice(&other.buf[other.head()..]);
        self.count += other.count;
    }

    /// Where to split an over-full chunk: about half its bytes on each side, at
    /// least one entry on each.
    fn split_point(&self) -> usize {
        let half = self.bytes() / 2;
        let mut at = self.head();
        let mut k = 0;
        while k + 1 < self.count() {
            let next = read_fwd(&self.buf, at).2;
            if next - self.head() > half {
                break;
            }
            at = next;
            k += 1;
        }
        k.clamp(1, self.count() - 1)
    }

    fn matches(&self, v: &[u8]) -> usize {
        let mut at = self.head();
        let mut m = 0;
        while at < self.buf.len() {
            let (e, next) = self.entry(at);
            m += (e == v) as usize;
            at = next;
        }
        m
    }

    /// Removes the entries equal to `v`, leaving the first `skip` of them, at
    /// most `max`; returns how many went.
    fn remove_matching(&mut self, v: &[u8], skip: usize, max: usize) -> usize {
        let len = self.buf.len();
        let (mut r, mut w) = (self.head(), self.head());
        let (mut seen, mut removed) = (0, 0);
        while r < len {
            if removed == max {
                if w != r {
                    self.buf.copy_within(r..len, w);
                }
                w += len - r;
                break;
            }
            let (ds, n, next) = read_fwd(&self.buf, r);
            let hit = n == v.len() && &self.buf[ds..ds + n] == v && {
                seen += 1;
                seen > skip
            };
            if hit {
                removed += 1;
            } else {
                if w != r {
                    self.buf.copy_within(r..next, w);
                }
                w += next - r;
            }
            r = next;
        }
        self.buf.truncate(w);
        self.count -= removed as u32;
        removed
    }
}

// ---------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Inner {
    len: usize,
    chunks: VecDeque<Chunk>,
}

/// A list of byte strings (see the module docs). One pointer inline.
#[derive(Clone, Default)]
pub struct List(Box<Inner>);

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Lists are equal when they hold the same elements, however they are chunked.
impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for List {}

impl<T: AsRef<[u8]>> FromIterator<T> for List {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> List {
        let mut l = List::new();
        for v in items {
            l.push(false, v.as_ref());
        }
        l
    }
}

impl<'a> IntoIterator for &'a List {
    type Item = &'a [u8];
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl List {
    pub fn new() -> Self {
        Self::default()
    }

    /// A list of `items`, head first.
    pub fn from_items<I, T>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        items.into_iter().collect()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.0.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// The name OBJECT ENCODING reports (Redis 7.0 reports every list as a quicklist).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Bytes of heap this list holds (approximate: allocator overhead not counted).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Inner>()
            + self.0.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self
                .0
                .chunks
                .iter()
                .map(|c| c.buf.capacity())
                .sum::<usize>()
    }

    pub fn clear(&mut self) {
        *self.0 = Inner::default();
    }

    /// Pushes at the head (`left`) or the tail.
    pub fn push(&mut self, left: bool, v: &[u8]) {
        let need = enc_len(v.len());
        let inner = &mut *self.0;
        inner.len += 1;
        let chunks = &mut inner.chunks;
        let end = if left {
            chunks.front_mut()
        } else {
            chunks.back_mut()
        };
        let new = match end {
            Some(c) if c.fits(need) => {
                if left {
                    c.push_front(v);
                } else {
                    c.push_back(v);
                }
                return;
            }
            Some(c) => {
                // A big list: the new end chunk will likely fill like this one did.
                let room = c.bytes().min(MAX_BYTES).saturating_sub(need);
                c.shrink_if(c.bytes() / 8);
                Chunk::with(v, left, room)
            }
            None => {
                chunks.reserve_exact(1);
                Chunk::with(v, left, 0)
            }
        };
        if left {
            chunks.push_front(new);
        } else {
            chunks.push_back(new);
        }
    }

    /// Pops from the head (`left`) or the tail.
    pub fn pop(&mut self, left: bool) -> Option<Vec<u8>> {
        self.pop_with(left, <[u8]>::to_vec)
    }

    /// Pops from the head (`left`) or the tail, handing the element to `f`
    /// before it leaves the buffer (no copy).
    pub fn pop_with<R>(&mut self, left: bool, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let inner = &mut *self.0;
        let c = if left {
            inner.chunks.front_mut()
        } else {
            inner.chunks.back_mut()
        }?;
        let r = if left {
            let (ds, n, next) = read_fwd(&c.buf, c.head());
            let r = f(&c.buf[ds..ds + n]);
            c.head = next as u32;
            r
        } else {
            let (start, ds, n) = read_back(&c.buf, c.buf.len());
            let r = f(&c.buf[ds..ds + n]);
            c.buf.truncate(start);
            r
        };
        c.count -= 1;
        if c.count == 0 {
            if left {
                inner.chunks.pop_front();
            } else {
                inner.chunks.pop_back();
            }
        }
        inner.len -= 1;
        Some(r)
    }

    /// Pops up to `n` elements from the head (`left`) or the tail, calling `f`
    /// with each in popping order; returns how many were popped.
    pub fn pop_each(&mut self, left: bool, n: usize, mut f: impl FnMut(&[u8])) -> usize {
        let len = self.len();
        let n = n.min(len);
        if left {
            self.range(0, n).for_each(&mut f);
            self.trim(n, 0);
        } else {
            self.range(len - n, len).rev().for_each(&mut f);
            self.trim(0, n);
        }
        n
    }

    /// (chunk, index inside it) of element `i < len`, counting from the nearer end.
    fn locate(&self, i: usize) -> (usize, usize) {
        let chunks = &self.0.chunks;
        if i < self.len() / 2 {
            let mut i = i;
            for (ci, c) in chunks.iter().enumerate() {
                let n = c.count();
                if i < n {
                    return (ci, i);
                }
                i -= n;
            }
        } else {
            let mut j = self.len() - 1 - i;
            for (ci, c) in chunks.iter().enumerate().rev() {
                let n = c.count();
                if j < n {
                    return (ci, n - 1 - j);
                }
                j -= n;
            }
        }
        unreachable!("index {i} within a list of {}", self.len())
    }

    /// The element at index `i` (from the head), if any.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len() {
            return None;
        }
        let (ci, k) = self.locate(i);
        let c = &self.0.chunks[ci];
        Some(c.entry(c.offset_of(k)).0)
    }

    /// Replaces the element at index `i`; false when out of range.
    pub fn set(&mut self, i: usize, v: &[u8]) -> bool {
        if i >= self.len() {
            return false;
        }
        let (ci, k) = self.locate(i);
        let c = &mut self.0.chunks[ci];
        let off = c.offset_of(k);
        c.replace_at(off, v);
        self.fix(ci);
        true
    }

    /// Inserts `v` just before (or `after`) the first element equal to `pivot`;
    /// false when there is none.
    pub fn insert(&mut self, pivot: &[u8], after: bool, v: &[u8]) -> bool {
        let chunks = &self.0.chunks;
        let mut found = None;
        'search: for (ci, c) in chunks.iter().enumerate() {
            let mut at = c.head();
            let mut k = 0;
            while at < c.buf.len() {
                let (e, next) = c.entry(at);
                if e == pivot {
                    found = Some(if after {
                        (ci, next, k + 1)
                    } else {
                        (ci, at, k)
                    });
                    break 'search;
                }
                at = next;
                k += 1;
            }
        }
        let Some((ci, off, k)) = found else {
            return false;
        };
        self.insert_in(ci, off, k, v);
        true
    }

    /// Inserts `v` at offset `off` (entry index `k`) of chunk `ci`.
    fn insert_in(&mut self, ci: usize, off: usize, k: usize, v: &[u8]) {
        let need = enc_len(v.len());
        let inner = &mut *self.0;
        inner.len += 1;
        let chunks = &mut inner.chunks;
        if chunks[ci].fits(need) {
            chunks[ci].insert_at(off, v);
            return;
        }
        // At an edge of a full chunk: the neighbour, or a new chunk.
        if k == chunks[ci].count() {
            match chunks.get_mut(ci + 1) {
                Some(n) if n.fits(need) => n.push_front(v),
                _ => chunks.insert(ci + 1, Chunk::with(v, false, 0)),
            }
            return;
        }
        if k == 0 {
            match ci.checked_sub(1).map(|p| &mut chunks[p]) {
                Some(p) if p.fits(need) => p.push_back(v),
                _ => chunks.insert(ci, Chunk::with(v, false, 0)),
            }
            return;
        }
        chunks[ci].insert_at(off, v);
        self.fix(ci);
    }

    /// Splits chunk `ci` until every piece is within the limits.
    fn fix(&mut self, ci: usize) {
        let chunks = &mut self.0.chunks;
        if !chunks[ci].over() {
            return;
        }
        let k = chunks[ci].split_point();
        let right = chunks[ci].split_off(k);
        chunks.insert(ci + 1, right);
        self.fix(ci + 1);
        self.fix(ci);
    }

    /// Removes elements equal to `v` as LREM does: the first `count` from the
    /// head if `count > 0`, the last `-count` if `count < 0`, all if 0. Returns
    /// how many were removed.
    pub fn remove(&mut self, v: &[u8], count: i64) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let chunks = &mut self.0.chunks;
        let mut removed = 0;
        if count >= 0 {
            for c in chunks.iter_mut() {
                removed += c.remove_matching(v, 0, limit - removed);
                if removed == limit {
                    break;
                }
            }
        } else {
            for c in chunks.iter_mut().rev() {
                let m = c.matches(v);
                if m == 0 {
                    continue;
                }
                let take = m.min(limit - removed);
                removed += c.remove_matching(v, m - take, take);
                if removed == limit {
                    break;
                }
            }
        }
        if removed > 0 {
            self.0.len -= removed;
            self.compact();
        }
        removed
    }

    /// Drops emptied chunks and merges neighbours that fit in one.
    fn compact(&mut self) {
        let chunks = &mut self.0.chunks;
        let s = chunks.make_contiguous();
        let mut w = 0;
        for r in 0..s.len() {
            if s[r].count == 0 {
                s[r] = Chunk::EMPTY;
                continue;
            }
            if w > 0 && s[w - 1].can_absorb(&s[r]) {
                let (a, b) = s.split_at_mut(r);
                a[w - 1].append(&b[0]);
                b[0] = Chunk::EMPTY;
            } else {
                s.swap(w, r);
                w += 1;
            }
        }
        chunks.truncate(w);
        let n = chunks.len();
        for (i, c) in chunks.iter_mut().enumerate() {
            let slack = if i == 0 || i + 1 == n {
                c.bytes().max(64)
            } else {
                c.bytes() / 8
            };
            c.shrink_if(slack);
        }
    }

    /// Removes `front` elements from the head and `back` from the tail.
    pub fn trim(&mut self, front: usize, back: usize) {
        if front.saturating_add(back) >= self.len() {
            self.clear();
            return;
        }
        let inner = &mut *self.0;
        inner.len -= front + back;
        let chunks = &mut inner.chunks;
        let mut f = front;
        while f > 0 {
            let c = chunks.front_mut().expect("elements left to trim");
            if c.count() <= f {
                f -= c.count();
                chunks.pop_front();
            } else {
                c.drop_front(f);
                c.shrink_if(c.bytes().max(64));
                f = 0;
            }
        }
        let mut b = back;
        while b > 0 {
            let c = chunks.back_mut().expect("elements left to trim");
            if c.count() <= b {
                b -= c.count();
                chunks.pop_back();
            } else {
                c.drop_back(b);
                c.shrink_if(c.bytes().max(64));
                b = 0;
            }
        }
    }

    /// Elements head to tail (double-ended: `.rev()` walks from the tail).
    pub fn iter(&self) -> Iter<'_> {
        self.range(0, self.len())
    }

    /// Elements at indexes `start..end` (clamped to the list).
    pub fn range(&self, start: usize, end: usize) -> Iter<'_> {
        let chunks = &self.0.chunks;
        let end = end.min(self.len());
        if start >= end {
            return Iter {
                chunks,
                fc: 0,
                fbuf: &[],
                fpos: 0,
                bc: 0,
                bbuf: &[],
                bhead: 0,
                bend: 0,
                left: 0,
            };
        }
        let (fc, fk) = self.locate(start);
        let (bc, bk) = self.locate(end - 1);
        let (f, b) = (&chunks[fc], &chunks[bc]);
        Iter {
            chunks,
            fc,
            fbuf: &f.buf,
            fpos: f.offset_of(fk),
            bc,
            bbuf: &b.buf,
            bhead: b.head(),
            bend: b.offset_of(bk + 1),
            left: end - start,
        }
    }

    /// Checks the internal invariants (tests).
    #[cfg(test)]
    fn check(&self) {
        let mut total = 0;
        for c in &self.0.chunks {
            assert!(c.count > 0, "empty chunk");
            assert!(!c.over(), "chunk over the limits");
            let mut at = c.head();
            let mut n = 0;
            while at < c.buf.len() {
                at = read_fwd(&c.buf, at).2;
                n += 1;
            }
            assert_eq!(at, c.buf.len());
            assert_eq!(n, c.count());
            let mut end = c.buf.len();
            for _ in 0..n {
                end = read_back(&c.buf, end).0;
            }
            assert_eq!(end, c.head());
            total += n;
        }
        assert_eq!(total, self.len());
    }
}

/// Elements of a [`List`] as slices of its buffers.
pub struct Iter<'a> {
    chunks: &'a VecDeque<Chunk>,
    fc: usize,
    fbuf: &'a [u8],
    fpos: usize,
    bc: usize,
    bbuf: &'a [u8],
    bhead: usize,
    bend: usize,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        if self.fpos >= self.fbuf.len() {
            self.fc += 1;
            let c = &self.chunks[self.fc];
            self.fbuf = &c.buf;
            self.fpos = c.head();
        }
        let (ds, n, next) = read_fwd(self.fbuf, self.fpos);
        self.fpos = next;
        self.left -= 1;
        Some(&self.fbuf[ds..ds + n])
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        if self.bend <= self.bhead {
            self.bc -= 1;
            let c = &self.chunks[self.bc];
            self.bbuf = &c.buf;
            self.bhead = c.head();
            self.bend = c.buf.len();
        }
        let (start, ds, n) = read_back(self.bbuf, self.bend);
        self.bend = start;
        self.left -= 1;
        Some(&self.bbuf[ds..ds + n])
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests;
