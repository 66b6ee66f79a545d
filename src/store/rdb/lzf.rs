//! LZF compression, byte-compatible with liblzf (the codec Redis uses for
//! compressed strings in RDB files and DUMP payloads).
//!
//! Stream format: a sequence of chunks, each introduced by a control byte.
//! * `ctrl < 32`: literal run, the next `ctrl + 1` bytes are copied as is.
//! * otherwise a back reference: `len = ctrl >> 5` (if 7, one more byte
//!   follows and is added), then one byte completing a 13-bit offset
//!   `((ctrl & 0x1f) << 8 | byte) + 1` counted back from the output end;
//!   `len + 2` bytes are copied (possibly overlapping the bytes being written).
//!
//! Both directions treat their input as untrusted: no panics, no allocation
//! larger than what the input could legitimately produce.

/// Longest literal run one control byte can describe.
const MAX_LIT: usize = 32;
/// Longest match: `len` byte maxes out at 7 + 255, plus the implicit 2.
const MAX_MATCH: usize = 264;
/// Shortest match worth encoding (a 2-byte reference must replace >= 3 bytes).
const MIN_MATCH: usize = 3;
/// Offsets are 13 bits wide (stored minus one).
const MAX_OFF: usize = 1 << 13;
/// Hash table size (log2); 16K slots of u32 = 64 KiB, like liblzf's default.
const HLOG: u32 = 14;
/// The most output a single input byte can yield: a 3-byte back reference
/// expands to 264 bytes. Used to reject impossible claimed lengths up front.
const MAX_EXPANSION: usize = MAX_MATCH / 3;

/// Decompresses `input`, which must decode to exactly `out_len` bytes.
///
/// Redis stores the uncompressed length next to the compressed bytes, so a
/// stream that yields any other length is corrupt. Returns `None` on any
/// corruption: truncated chunk, reference before the start of the output,
/// output overflow, or short output.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    // A claimed length the input cannot possibly produce is corruption; this
    // also bounds the allocation below by the real input size.
    if out_len > input.len().saturating_mul(MAX_EXPANSION) {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0usize;
    while let Some(&ctrl) = input.get(ip) {
        ip += 1;
        let ctrl = usize::from(ctrl);
        if ctrl < MAX_LIT {
            let run = ctrl + 1;
            let lit = input.get(ip..ip.checked_add(run)?)?;
            if out.len() + run > out_len {
                return None;
            }
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip)?);
                ip += 1;
            }
            let dist = (((ctrl & 0x1f) << 8) | usize::from(*input.get(ip)?)) + 1;
            ip += 1;
            let len = len + 2;
            if out.len() + len > out_len {
                return None;
            }
            let start = out.len().checked_sub(dist)?;
            if dist >= len {
                out.extend_from_within(start..start + len);
            } else {
                // Overlapping copy (run-length style): each byte may depend
                // on one written by this same reference.
                for k in start..start + len {
                    let b = *out.get(k)?;
                    out.push(b);
                }
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

/// LZF-compresses `input`; `None` if it is empty or the result would be
/// longer than `max_out` bytes (Redis only keeps the compressed form when it
/// saves space, so it passes `len - 4`).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    if input.is_empty() || max_out == 0 {
        return None;
    }
    // Worst case is all literals: one control byte per 32 input bytes.
    let worst = input.len() + input.len().div_ceil(MAX_LIT);
    let mut out = Vec::with_capacity(worst.min(max_out));
    // Slot holds position + 1 of the last occurrence of a 3-byte prefix
    // hash; 0 means empty. Positions fit in u32 for any sane value size;
    // beyond that we simply stop finding matches (still valid output).
    let mut table = vec![0u32; 1 << HLOG];
    let n = input.len();
    let mut lit_start = 0usize;
    let mut i = 0usize;

    while i + MIN_MATCH <= n {
        let slot = hash(input, i);
        let cand = table.get(slot).copied().unwrap_or(0) as usize;
        if let (Some(s), Ok(p)) = (table.get_mut(slot), u32::try_from(i + 1)) {
            *s = p;
        }
        let found = cand
            .checked_sub(1)
            .filter(|&r| r < i && i - r <= MAX_OFF && input.get(r..r + 3) == input.get(i..i + 3));
        let Some(r) = found else {
            i += 1;
            continue;
        };
        let max_len = MAX_MATCH.min(n - i);
        let mut len = MIN_MATCH;
        while len < max_len && input.get(r + len) == input.get(i + len) {
            len += 1;
        }
        emit_literals(&mut out, input.get(lit_start..i)?, max_out)?;
        emit_backref(&mut out, i - r - 1, len, max_out)?;
        // Index the positions inside the match too: better ratio on
        // repetitive data for little cost.
        let stop = (i + len).min(n.saturating_sub(MIN_MATCH - 1));
        for j in i + 1..stop {
            let slot = hash(input, j);
            if let (Some(s), Ok(p)) = (table.get_mut(slot), u32::try_from(j + 1)) {
                *s = p;
            }
        }
        i += len;
        lit_start = i;
    }
    emit_literals(&mut out, input.get(lit_start..)?, max_out)?;
    Some(out)
}

/// Multiplicative hash of the 3 bytes at `i` (caller guarantees they exist;
/// missing bytes hash as zero rather than panicking).
fn hash(input: &[u8], i: usize) -> usize {
    let b = |k: usize| u32::from(input.get(i + k).copied().unwrap_or(0));
    let v = (b(0) << 16) | (b(1) << 8) | b(2);
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HLOG)) as usize
}

/// Writes `lits` as literal runs of at most 32 bytes; `None` if `max_out`
/// would be exceeded.
fn emit_literals(out: &mut Vec<u8>, lits: &[u8], max_out: usize) -> Option<()> {
    for chunk in lits.chunks(MAX_LIT) {
        if out.len() + 1 + chunk.len() > max_out {
            return None;
        }
        // chunk.len() is 1..=32, so the control byte is 0..=31.
        out.push((chunk.len() - 1) as u8);
        out.extend_from_slice(chunk);
    }
    Some(())
}

/// Writes a back reference; `off` is the distance minus one (< 8192) and
/// `len` the match length (3..=264).
fn emit_backref(out: &mut Vec<u8>, off: usize, len: usize, max_out: usize) -> Option<()> {
    let l = len - 2;
    let hi = (off >> 8) as u8; // < 32 because off < 8192
    let lo = (off & 0xff) as u8;
    if l < 7 {
        if out.len() + 2 > max_out {
            return None;
        }
        out.extend_from_slice(&[hi | ((l as u8) << 5), lo]);
    } else {
        if out.len() + 3 > max_out {
            return None;
        }
        // l <= 262, so l - 7 fits in a byte.
        out.extend_from_slice(&[hi | (7 << 5), (l - 7) as u8, lo]);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic xorshift generator so tests are reproducible without
    /// external crates.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    fn round_trip(data: &[u8]) {
        let c = compress(data, data.len() + data.len() / 16 + 64).expect("compress");
        let d = decompress(&c, data.len()).expect("decompress");
        assert_eq!(d, data, "round trip failed for len {}", data.len());
    }

    fn corpus() -> Vec<Vec<u8>> {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut v = Vec::new();
        for &n in &[
            1usize, 2, 3, 4, 5, 31, 32, 33, 64, 100, 263, 264, 265, 1000, 8191, 8192, 8193, 20000,
            70000,
        ] {
            v.push(vec![0u8; n]);
            v.push(rng.bytes(n));
            v.push(
                b"the quick brown fox jumps over the lazy dog. "
                    .iter()
                    .copied()
                    .cycle()
                    .take(n)
                    .collect(),
            );
            // Low-entropy alphabet: many short, scattered matches.
            v.push((0..n).map(|_| b"abcd"[rng.below(4) as usize]).collect());
            // Random blocks repeated at varying distances (incl. > 8K).
            let block = rng.bytes(300);
            let mut m = Vec::with_capacity(n);
            while m.len() < n {
                if rng.below(3) == 0 {
                    let k = rng.below(9000) as usize;
                    m.extend(rng.bytes(k));
                } else {
                    let a = rng.below(300) as usize;
                    let b = a + rng.below((300 - a) as u64 + 1) as usize;
                    m.extend_from_slice(&block[a..b]);
                }
            }
            m.truncate(n);
            v.push(m);
        }
        v
    }

    #[test]
    fn round_trips() {
        for data in corpus() {
            round_trip(&data);
        }
    }

    #[test]
    fn compressible_data_shrinks() {
        let zeros = vec![0u8; 10_000];
        let c = compress(&zeros, zeros.len() - 4).expect("zeros compress");
        // 264 bytes per 3-byte reference: about 115 bytes.
        assert!(c.len() < 130, "len {}", c.len());
        let text: Vec<u8> = b"hello world ".iter().copied().cycle().take(5000).collect();
        assert!(compress(&text, text.len() - 4).expect("text").len() < 100);
    }

    #[test]
    fn tiny_vector() {
        // Literal 'a', then a reference of 9 bytes at distance 1:
        // ctrl = 7<<5 (extended length), extra = 9-2-7 = 0, offset byte 0.
        let c = compress(b"aaaaaaaaaa", 100).expect("compress");
        assert_eq!(c, [0x00, b'a', 0xE0, 0x00, 0x00]);
        assert_eq!(decompress(&c, 10).as_deref(), Some(&b"aaaaaaaaaa"[..]));
        // Short-form reference: "abcabcabc" = literal "abc" + ref len 6 dist 3.
        let c = compress(b"abcabcabc", 100).expect("compress");
        assert_eq!(c, [0x02, b'a', b'b', b'c', 0x80, 0x02]);
        // Hand-written liblzf stream: literal "ab", then ref len 3 dist 2.
        assert_eq!(
            decompress(&[0x01, b'a', b'b', 0x20, 0x01], 5).as_deref(),
            Some(&b"ababa"[..])
        );
    }

    #[test]
    fn compress_limits() {
        assert_eq!(compress(b"", 100), None);
        assert_eq!(compress(b"abc", 0), None);
        // Incompressible data cannot fit in len - 4.
        let mut rng = Rng(99);
        let r = rng.bytes(1000);
        assert_eq!(compress(&r, r.len() - 4), None);
        // Exact fit works, one byte less does not.
        let zeros = vec![0u8; 1000];
        let c = compress(&zeros, 1000).expect("zeros");
        assert!(compress(&zeros, c.len()).is_some());
        assert_eq!(compress(&zeros, c.len() - 1), None);
    }

    #[test]
    fn decompress_rejects_bad_streams() {
        // Wrong declared length (short and long).
        let c = compress(b"aaaaaaaaaa", 100).expect("compress");
        assert_eq!(decompress(&c, 9), None);
        assert_eq!(decompress(&c, 11), None);
        // Reference before start of output.
        assert_eq!(decompress(&[0x20, 0x00], 3), None);
        assert_eq!(decompress(&[0x00, b'a', 0x20, 0x01], 4), None);
        // Literal run past end of input.
        assert_eq!(decompress(&[0x05, b'a', b'b'], 6), None);
        // Truncated reference (missing offset / missing extra length byte).
        assert_eq!(decompress(&[0x00, b'a', 0x20], 4), None);
        assert_eq!(decompress(&[0x00, b'a', 0xE0], 10), None);
        assert_eq!(decompress(&[0x00, b'a', 0xE0, 0x00], 10), None);
        // Empty input decodes only to empty output.
        assert_eq!(decompress(&[], 0), Some(Vec::new()));
        assert_eq!(decompress(&[], 1), None);
        // Absurd claimed length is rejected without allocating it.
        assert_eq!(decompress(&[0x00, b'a'], usize::MAX), None);
    }

    #[test]
    fn decompress_random_garbage_never_panics() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for _ in 0..5000 {
            let n = rng.below(64) as usize;
            let data = rng.bytes(n);
            let out_len = rng.below(400) as usize;
            if let Some(d) = decompress(&data, out_len) {
                assert_eq!(d.len(), out_len);
            }
        }
        // Mutations of valid streams: truncations and byte flips.
        for data in corpus().iter().filter(|d| d.len() <= 1000) {
            let c = compress(data, data.len() + 64).expect("compress");
            for cut in 0..c.len() {
                let _ = decompress(&c[..cut], data.len());
            }
            for _ in 0..50 {
                let mut m = c.clone();
                let k = rng.below(m.len() as u64) as usize;
                m[k] ^= 1 << rng.below(8);
                if let Some(d) = decompress(&m, data.len()) {
                    assert_eq!(d.len(), data.len());
                }
            }
        }
    }

    #[test]
    fn max_match_and_offset_edges() {
        // A match exactly 264 long, then one needing the maximal distance.
        let mut rng = Rng(7);
        let mut data = rng.bytes(8192);
        let head: Vec<u8> = data[..300].to_vec();
        data.extend_from_slice(&head);
        round_trip(&data);
        // Distance 8193 is out of range and must not be used.
        let mut data = rng.bytes(8193);
        let head: Vec<u8> = data[..50].to_vec();
        data.extend_from_slice(&head);
        round_trip(&data);
    }
}
