//! `Pack`: the compact form of small collections (Redis's listpack).
//!
//! One heap block holds a 4-byte entry count followed by the entries, each a
//! LEB128 length and the bytes. A small hash, set or sorted set lives in one
//! allocation with 1–2 bytes of overhead per element instead of a table with a
//! node, pointers and its own allocations per element. Operations are linear, so
//! collections convert to a real structure past a size threshold (128 entries /
//! 64-byte elements by default, as Redis).
//!
//! Entries are addressed by byte offset (`Cursor`), which stays valid until the
//! pack is modified at or before it. Growth reserves exactly what is needed: the
//! pack never carries the spare half a doubling `Vec` would.

/// A compact sequence of byte strings.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Pack {
    buf: Vec<u8>,
}

/// The byte offset of an entry inside a [`Pack`].
pub type Cursor = usize;

const HEADER: usize = 4;

#[inline]
fn varint_len(n: usize) -> usize {
    match n {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
}

#[inline]
fn put_varint(out: &mut [u8], mut n: usize) -> usize {
    let mut i = 0;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = b;
            return i + 1;
        }
        out[i] = b | 0x80;
        i += 1;
    }
}

/// Decodes the entry at `off`: (start of data, data length). The pack only ever
/// holds lengths it wrote itself.
#[inline]
fn get_varint(buf: &[u8], mut off: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let b = buf[off];
        off += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            return (off, n);
        }
        shift += 7;
    }
}

impl std::fmt::Debug for Pack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

impl Pack {
    pub fn new() -> Self {
        Pack { buf: Vec::new() }
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        match self.buf.get(..HEADER) {
            Some(h) => u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize,
            None => 0,
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn set_len(&mut self, n: usize) {
        if self.buf.len() < HEADER {
            self.buf.resize(HEADER, 0);
        }
        self.buf[..HEADER].copy_from_slice(&(n as u32).to_le_bytes());
    }

    /// Bytes of heap this pack holds.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Offset of the first entry (equal to [`end`](Self::end) when empty).
    #[inline]
    pub fn first(&self) -> Cursor {
        HEADER.min(self.buf.len())
    }

    /// Offset one past the last entry: inserting here appends.
    #[inline]
    pub fn end(&self) -> Cursor {
        self.buf.len().max(HEADER)
    }

    /// The entry at `at` and the offset of the next one; `None` at the end.
    #[inline]
    pub fn get(&self, at: Cursor) -> Option<(&[u8], Cursor)> {
        if at >= self.buf.len() {
            return None;
        }
        let (start, n) = get_varint(&self.buf, at);
        Some((&self.buf[start..start + n], start + n))
    }

    /// Entries in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            pack: self,
            at: self.first(),
        }
    }

    /// Entries with their offsets.
    pub fn iter_at(&self) -> IterAt<'_> {
        IterAt {
            pack: self,
            at: self.first(),
        }
    }

    /// The i-th entry (linear).
    pub fn nth(&self, i: usize) -> Option<&[u8]> {
        self.iter().nth(i)
    }

    /// Offset of the i-th entry, or `end()` for `i == len()` (linear).
    pub fn offset_of(&self, i: usize) -> Cursor {
        self.iter_at().nth(i).map_or(self.end(), |(at, _)| at)
    }

    /// Inserts `items` before the entry at `at` (or appends when `at == end()`).
    pub fn insert_at(&mut self, at: Cursor, items: &[&[u8]]) {
        let n = self.len();
        self.set_len(n + items.len());
        let add: usize = items.iter().map(|e| varint_len(e.len()) + e.len()).sum();
        let at = at.clamp(HEADER, self.buf.len());
        self.buf.reserve_exact(add);
        let old = self.buf.len();
        self.buf.resize(old + add, 0);
        self.buf.copy_within(at..old, at + add);
        let mut w = at;
        for e in items {
            w += put_varint(&mut self.buf[w..], e.len());
            self.buf[w..w + e.len()].copy_from_slice(e);
            w += e.len();
        }
    }

    pub fn push_back(&mut self, items: &[&[u8]]) {
        self.insert_at(self.end(), items);
    }

    pub fn push_front(&mut self, items: &[&[u8]]) {
        self.insert_at(self.first(), items);
    }

    /// Removes `count` entries starting at `at`; returns the offset that now holds
    /// the entry after them.
    pub fn remove_at(&mut self, at: Cursor, count: usize) -> Cursor {
        let mut end = at;
        let mut removed = 0;
        while removed < count {
            match self.get(end) {
                Some((_, next)) => end = next,
                None => break,
            }
            removed += 1;
        }
        self.buf.drain(at..end);
        let n = self.len() - removed;
        self.set_len(n);
        if n == 0 {
            self.buf = Vec::new();
        } else if self.buf.capacity() > self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
        at
    }

    /// Replaces the single entry at `at` with `value`.
    pub fn replace_at(&mut self, at: Cursor, value: &[u8]) {
        let Some((_, next)) = self.get(at) else {
            return;
        };
        let new_len = varint_len(value.len()) + value.len();
        let old_len = next - at;
        if new_len > old_len {
            self.buf.reserve_exact(new_len - old_len);
        }
        let mut enc = [0u8; 5];
        let h = put_varint(&mut enc, value.len());
        self.buf
            .splice(at..next, enc[..h].iter().chain(value.iter()).copied());
    }

    /// Offset of the first entry equal to `needle` at an index that is a multiple of
    /// `stride` (stride 2 searches the fields of field/value pairs).
    pub fn find(&self, needle: &[u8], stride: usize) -> Option<Cursor> {
        let stride = stride.max(1);
        self.iter_at()
            .step_by(stride)
            .find(|(_, e)| *e == needle)
            .map(|(at, _)| at)
    }

    pub fn clear(&mut self) {
        self.buf = Vec::new();
    }
}

pub struct Iter<'a> {
    pack: &'a Pack,
    at: Cursor,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let (e, next) = self.pack.get(self.at)?;
        self.at = next;
        Some(e)
    }
}

pub struct IterAt<'a> {
    pack: &'a Pack,
    at: Cursor,
}

impl<'a> Iterator for IterAt<'a> {
    type Item = (Cursor, &'a [u8]);
    #[inline]
    fn next(&mut self) -> Option<(Cursor, &'a [u8])> {
        let at = self.at;
        let (e, next) = self.pack.get(at)?;
        self.at = next;
        Some((at, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basics() {
        let mut p = Pack::new();
        assert!(p.is_empty());
        p.push_back(&[b"a", b"bb"]);
        p.push_front(&[b""]);
        let big = vec![7u8; 300];
        p.push_back(&[&big]);
        assert_eq!(p.len(), 4);
        let v: Vec<&[u8]> = p.iter().collect();
        assert_eq!(v, vec![&b""[..], b"a", b"bb", &big[..]]);
        let at = p.find(b"a", 1).unwrap();
        p.replace_at(at, b"zzz");
        assert_eq!(p.nth(1), Some(&b"zzz"[..]));
        let at = p.offset_of(1);
        p.remove_at(at, 2);
        assert_eq!(p.len(), 2);
        assert_eq!(p.nth(1), Some(&big[..]));
        p.remove_at(p.first(), 2);
        assert!(p.is_empty());
        assert_eq!(p.heap_bytes(), 0);
    }

    proptest! {
        /// Any sequence of inserts, removes and replaces matches a Vec model.
        #[test]
        fn matches_vec_model(ops in prop::collection::vec((0u8..4, 0usize..40, prop::collection::vec(any::<u8>(), 0..200)), 1..120)) {
            let mut p = Pack::new();
            let mut m: Vec<Vec<u8>> = Vec::new();
            for (op, i, data) in ops {
                match op {
                    0 | 1 => {
                        let i = i.min(m.len());
                        let at = p.offset_of(i);
                        p.insert_at(at, &[&data]);
                        m.insert(i, data);
                    }
                    2 if !m.is_empty() => {
                        let i = i % m.len();
                        let at = p.offset_of(i);
                        p.remove_at(at, 1);
                        m.remove(i);
                    }
                    3 if !m.is_empty() => {
                        let i = i % m.len();
                        let at = p.offset_of(i);
                        p.replace_at(at, &data);
                        m[i] = data;
                    }
                    _ => {}
                }
                prop_assert_eq!(p.len(), m.len());
                let got: Vec<Vec<u8>> = p.iter().map(<[u8]>::to_vec).collect();
                prop_assert_eq!(&got, &m);
            }
        }
    }
}
