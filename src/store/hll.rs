//! HyperLogLog in Redis's exact string format, so the bytes a client GETs, the
//! counts PFCOUNT answers and the way encodings change all match redis-server.
//!
//! Layout: a 16-byte header (`HYLL`, the encoding byte, 3 unused bytes, an 8-byte
//! little-endian cached cardinality whose top bit marks it stale), then either
//! 16384 packed 6-bit registers (dense) or a run-length list of opcodes (sparse):
//! `00xxxxxx` ZERO (1..64 zero registers), `01xxxxxx yyyyyyyy` XZERO (1..16384
//! zero registers), `1vvvvvxx` VAL (1..4 registers holding 1..32).
//!
//! The strings are client-controlled (SET can store anything starting with
//! `HYLL`), so every read is bounds-checked. A read one byte past the end yields
//! 0, like the terminator that always follows a Redis string, so a truncated
//! XZERO decodes as redis-server decodes it.

/// Index bits of the hash (Redis's `HLL_P`).
pub const P: u32 = 14;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Hash bits left for the run of zeros (`HLL_Q`).
const Q: usize = 64 - P as usize;
/// Bits per dense register.
const BITS: usize = 6;
const REG_MASK: u32 = (1 << BITS) - 1;
/// Header size.
pub const HDR: usize = 16;
/// Exact length of a dense HLL string.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
/// The default of `hll-sparse-max-bytes` (as set now: [`super::limits`]): a
/// sparse HLL that would grow past it (header included) becomes dense.
pub const SPARSE_MAX_BYTES: usize = 3000;
/// Encoding byte values.
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
/// Largest value and run a VAL opcode holds.
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
/// Longest run a ZERO opcode holds (longer runs use XZERO).
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
/// Seed of the element hash.
const SEED: u64 = 0xadc8_3b19;
/// 1 / (2 ln 2): the estimator's constant for m -> infinity.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Why a value cannot be used as an HLL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HllError {
    /// Not a string at all (the usual WRONGTYPE).
    WrongType,
    /// A string without a valid HLL header.
    NotHll,
    /// A valid header over a broken sparse body.
    Corrupt,
}

/// MurmurHash64A (Austin Appleby), the hash Redis applies to elements: 8-byte
/// little-endian blocks, then the tail bytes, then the final avalanche.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for b in &mut blocks {
        let mut k = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the value it proposes: one plus the
/// number of trailing zeros of the remaining hash bits (at most `Q + 1`).
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let h = murmur64a(ele, SEED);
    let index = (h as usize) & (REGISTERS - 1);
    let rest = (h >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

#[inline]
fn byte_at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// A fresh, empty HLL: sparse, one XZERO covering every register, cache valid (0).
pub fn new_sparse() -> Vec<u8> {
    let mut s = Vec::with_capacity(HDR + 2);
    s.extend_from_slice(b"HYLL");
    s.push(SPARSE);
    s.extend_from_slice(&[0; 11]);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        s.extend_from_slice(&xzero_op(n));
        left -= n;
    }
    s
}

/// Redis's `isHLLObjectOrReply` test on a string: magic, known encoding, exact
/// dense length.
pub fn check(s: &[u8]) -> Result<(), HllError> {
    if s.len() < HDR || &s[..4] != b"HYLL" || s[4] > SPARSE {
        return Err(HllError::NotHll);
    }
    if s[4] == DENSE && s.len() != DENSE_SIZE {
        return Err(HllError::NotHll);
    }
    Ok(())
}

/// The string an HLL command may use: a valid HLL string, or the error to report.
pub fn as_hll(v: &super::Value) -> Result<&Vec<u8>, HllError> {
    let s = v.as_str().ok_or(HllError::WrongType)?;
    check(s)?;
    Ok(s)
}

pub fn is_dense(s: &[u8]) -> bool {
    s.get(4) == Some(&DENSE)
}

/// The cached cardinality, unless marked stale.
pub fn cached(s: &[u8]) -> Option<u64> {
    let c: [u8; 8] = s.get(8..16)?.try_into().ok()?;
    (c[7] & 0x80 == 0).then(|| u64::from_le_bytes(c))
}

pub fn set_cache(s: &mut [u8], card: u64) {
    if let Some(c) = s.get_mut(8..16) {
        c.copy_from_slice(&card.to_le_bytes());
    }
}

pub fn invalidate(s: &mut [u8]) {
    if let Some(b) = s.get_mut(15) {
        *b |= 0x80;
    }
}

// ---- dense registers ----

/// Register `i` of a packed 6-bit array (`regs` starts after the header).
#[inline]
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * BITS;
    let (b, fb) = (bit / 8, (bit % 8) as u32);
    let lo = byte_at(regs, b) as u32 >> fb;
    let hi = (byte_at(regs, b + 1) as u32) << (8 - fb);
    ((lo | hi) & REG_MASK) as u8
}

#[inline]
pub fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let bit = i * BITS;
    let (b, fb) = (bit / 8, (bit % 8) as u32);
    let v = v as u32 & REG_MASK;
    if let Some(x) = regs.get_mut(b) {
        *x = ((*x as u32 & !(REG_MASK << fb)) | (v << fb)) as u8;
    }
    if let Some(x) = regs.get_mut(b + 1) {
        *x = ((*x as u32 & !(REG_MASK >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

// ---- sparse opcodes ----

/// One decoded sparse opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    /// The opcode at `p` (which must be inside `s`).
    #[inline]
    fn at(s: &[u8], p: usize) -> Op {
        let b = byte_at(s, p);
        if b & 0x80 != 0 {
            Op::Val(((b >> 2) & 0x1f) + 1, (b & 3) as usize + 1)
        } else if b & 0x40 == 0 {
            Op::Zero((b & 0x3f) as usize + 1)
        } else {
            Op::XZero((((b & 0x3f) as usize) << 8 | byte_at(s, p + 1) as usize) + 1)
        }
    }

    fn width(self) -> usize {
        if matches!(self, Op::XZero(_)) { 2 } else { 1 }
    }

    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }
}

fn zero_op(n: usize) -> u8 {
    (n - 1) as u8
}

fn xzero_op(n: usize) -> [u8; 2] {
    let l = n - 1;
    [((l >> 8) as u8 & 0x3f) | 0x40, l as u8]
}

fn val_op(v: u8, n: usize) -> u8 {
    0x80 | ((v - 1) << 2) | (n - 1) as u8
}

/// Pushes the opcode for a run of `n` zero registers.
fn push_zeros(seq: &mut Vec<u8>, n: usize) {
    if n > ZERO_MAX_LEN {
        seq.extend_from_slice(&xzero_op(n));
    } else {
        seq.push(zero_op(n));
    }
}

/// Walks a sparse body, calling `f(first_register, value, run)` for each VAL
/// run that fits; fails unless the runs cover exactly `REGISTERS` registers.
fn walk_sparse(s: &[u8], mut f: impl FnMut(usize, u8, usize)) -> Result<(), HllError> {
    let mut idx = 0usize;
    let mut p = HDR;
    while p < s.len() {
        let op = Op::at(s, p);
        p += op.width();
        match op {
            Op::Zero(n) | Op::XZero(n) => idx += n,
            Op::Val(v, n) => {
                if idx + n > REGISTERS {
                    break;
                }
                f(idx, v, n);
                idx += n;
            }
        }
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(HllError::Corrupt)
    }
}

/// Converts a sparse HLL to dense, keeping the header (cache and unused bytes);
/// dense input is returned as is.
pub fn to_dense(s: &[u8]) -> Result<Vec<u8>, HllError> {
    if is_dense(s) {
        return Ok(s.to_vec());
    }
    let mut d = vec![0u8; DENSE_SIZE];
    d[..HDR].copy_from_slice(&s[..HDR]);
    d[4] = DENSE;
    let regs = &mut d[HDR..];
    walk_sparse(s, |first, v, n| {
        for i in first..first + n {
            dense_set(regs, i, v);
        }
    })?;
    Ok(d)
}

/// Sets register `index` to `count` if that raises it, in whatever encoding the
/// HLL has, promoting sparse to dense when needed; returns whether it changed.
pub fn set_register(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, HllError> {
    if is_dense(s) {
        let regs = &mut s[HDR..];
        if count > dense_get(regs, index) {
            dense_set(regs, index, count);
            return Ok(true);
        }
        return Ok(false);
    }
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    sparse_set(s, index, count)
}

/// Adds one element; returns whether a register changed.
pub fn add(s: &mut Vec<u8>, ele: &[u8]) -> Result<bool, HllError> {
    let (index, count) = pat_len(ele);
    set_register(s, index, count)
}

fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, HllError> {
    let mut d = to_dense(s)?;
    dense_set(&mut d[HDR..], index, count);
    *s = d;
    Ok(true)
}

/// Redis's in-place sparse update: split the opcode covering `index` into at
/// most three, then merge equal neighbouring VALs in a short window after the
/// previous opcode. The exact sequence matters: the sparse form of a set of
/// registers is not unique, and GET must return redis-server's bytes.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, HllError> {
    let end = s.len();
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut op = None;
    while p < end {
        let o = Op::at(s, p);
        if index < first + o.span() {
            op = Some(o);
            break;
        }
        prev = Some(p);
        p += o.width();
        first += o.span();
    }
    let Some(op) = op else {
        return Err(HllError::Corrupt);
    };
    let next = p + op.width();
    let last = first + op.span() - 1;

    let updated_in_place = match op {
        Op::Val(old, _) if old >= count => return Ok(false),
        Op::Val(_, 1) | Op::Zero(1) => {
            s[p] = val_op(count, 1);
            true
        }
        _ => false,
    };
    if !updated_in_place {
        let mut seq = Vec::with_capacity(5);
        match op {
            Op::Zero(_) | Op::XZero(_) => {
                if index != first {
                    push_zeros(&mut seq, index - first);
                }
                seq.push(val_op(count, 1));
                if index != last {
                    push_zeros(&mut seq, last - index);
                }
            }
            Op::Val(cur, _) => {
                if index != first {
                    seq.push(val_op(cur, index - first));
                }
                seq.push(val_op(count, 1));
                if index != last {
                    seq.push(val_op(cur, last - index));
                }
            }
        }
        let new_len = (end + seq.len()).saturating_sub(op.width());
        if seq.len() > op.width() && new_len > super::limits::hll_sparse_bytes() {
            return promote(s, index, count);
        }
        if next < end {
            s.splice(p..next, seq);
        } else {
            // Last opcode (possibly an XZERO cut short by the end of the string).
            s.truncate(p);
            s.extend_from_slice(&seq);
            s.truncate(new_len);
        }
    }

    // Merge adjacent VALs with the same value, scanning up to 5 opcodes.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        match Op::at(s, p) {
            Op::XZero(_) => p += 2,
            Op::Zero(_) => p += 1,
            Op::Val(v1, n1) => {
                if p + 1 < s.len()
                    && let Op::Val(v2, n2) = Op::at(s, p + 1)
                    && v1 == v2
                    && n1 + n2 <= VAL_MAX_LEN
                {
                    s[p + 1] = val_op(v1, n1 + n2);
                    s.remove(p);
                    continue;
                }
                p += 1;
            }
        }
    }
    invalidate(s);
    Ok(true)
}

/// Raises `max[i]` to each register of `s` (Redis's `hllMerge`).
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), HllError> {
    if is_dense(s) {
        let regs = &s[HDR..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    walk_sparse(s, |first, v, n| {
        for m in &mut max[first..first + n] {
            *m = (*m).max(v);
        }
    })
}

/// Histogram of register values of a stored HLL; `None` when a sparse body does
/// not cover exactly all registers.
fn histogram(s: &[u8]) -> Option<[u32; 64]> {
    let mut h = [0u32; 64];
    if is_dense(s) {
        let regs = &s[HDR..];
        for i in 0..REGISTERS {
            h[dense_get(regs, i) as usize] += 1;
        }
        return Some(h);
    }
    // Unlike a merge, the histogram does not stop at an overflowing run.
    let mut idx = 0usize;
    let mut p = HDR;
    while p < s.len() {
        let op = Op::at(s, p);
        p += op.width();
        match op {
            Op::Zero(n) | Op::XZero(n) => h[0] += n as u32,
            Op::Val(v, n) => h[v as usize] += n as u32,
        }
        idx += op.span();
    }
    (idx == REGISTERS).then_some(h)
}

/// Ertl's tau function ("New cardinality estimation algorithms for
/// HyperLogLog sketches", arXiv:1702.01284): corrects for saturated registers.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let zp = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if zp == z {
            return z / 3.0;
        }
    }
}

/// Ertl's sigma function: corrects for zero registers (small cardinalities).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let zp = z;
        z += x * y;
        y += y;
        if zp == z {
            return z;
        }
    }
}

/// The improved estimator Redis uses since 5.0, from the register histogram.
fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    let e = (ALPHA_INF * m * m / z).round();
    // C's llround of a non-finite or huge value gives LLONG_MIN on x86-64,
    // which Redis then treats as the u64 2^63; answer the same.
    if e.is_finite() && e.abs() < 2f64.powi(63) {
        e as i64 as u64
    } else {
        1u64 << 63
    }
}

/// Cardinality of a stored (checked) HLL, ignoring the cache.
pub fn count(s: &[u8]) -> Result<u64, HllError> {
    histogram(s).map(|h| estimate(&h)).ok_or(HllError::Corrupt)
}

/// Cardinality of plain registers (the union PFCOUNT builds over several keys).
pub fn count_registers(regs: &[u8; REGISTERS]) -> u64 {
    let mut h = [0u32; 64];
    for &r in regs.iter() {
        h[(r & 63) as usize] += 1;
    }
    estimate(&h)
}

/// PFCOUNT on one key: the cache if valid, else the count, written back into the
/// cache (Redis does the same, modifying the string).
pub fn count_cached(s: &mut [u8]) -> Result<u64, HllError> {
    if let Some(c) = cached(s) {
        return Ok(c);
    }
    let c = count(s)?;
    set_cache(s, c);
    Ok(c)
}

/// The union of the HLLs among `values` (missing keys count as empty), with
/// whether one of them was dense. Values are checked in order, so the first bad
/// one decides the error, as in Redis.
pub fn union<'a>(
    values: impl IntoIterator<Item = Option<&'a super::Value>>,
) -> Result<(Box<[u8; REGISTERS]>, bool), HllError> {
    let mut max = Box::new([0u8; REGISTERS]);
    let mut dense = false;
    for v in values.into_iter().flatten() {
        let s = as_hll(v)?;
        dense |= is_dense(s);
        merge_into(&mut max, s)?;
    }
    Ok((max, dense))
}

/// PFMERGE's new destination string: the current one (or a fresh HLL), made dense
/// if any input was, with every register raised to the union's (the union
/// includes the destination itself), cache invalidated.
pub fn merge_dest(
    dest: Option<Vec<u8>>,
    max: &[u8; REGISTERS],
    dense: bool,
) -> Result<Vec<u8>, HllError> {
    let mut s = dest.unwrap_or_else(new_sparse);
    if dense {
        s = to_dense(&s)?;
    }
    for (i, &m) in max.iter().enumerate() {
        if m != 0 {
            // Errors are impossible here: the destination was checked while
            // merging. Redis ignores them as well.
            let _ = set_register(&mut s, i, m);
        }
    }
    invalidate(&mut s);
    Ok(s)
}

/// PFDEBUG DECODE's text for a sparse body.
pub fn decode(s: &[u8]) -> String {
    let mut out = String::new();
    let mut p = HDR;
    while p < s.len() {
        let op = Op::at(s, p);
        p += op.width();
        let part = match op {
            Op::Zero(n) => format!("z:{n} "),
            Op::XZero(n) => format!("Z:{n} "),
            Op::Val(v, n) => format!("v:{v},{n} "),
        };
        out.push_str(&part);
    }
    out.trim_matches(' ').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registers(s: &[u8]) -> Box<[u8; REGISTERS]> {
        let mut m = Box::new([0u8; REGISTERS]);
        merge_into(&mut m, s).expect("valid hll");
        m
    }

    #[test]
    fn murmur_known_values() {
        // Empty input: only the seed and the avalanche.
        assert_eq!(murmur64a(b"", 0), 0);
        // Elements hash to the registers redis-server reports (see the corpus
        // for byte equality); spot-check stability here.
        let (i, c) = pat_len(b"a");
        assert!(i < REGISTERS && (1..=51).contains(&c));
    }

    #[test]
    fn empty_hll_layout() {
        let s = new_sparse();
        assert_eq!(s, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert_eq!(check(&s), Ok(()));
        assert_eq!(count(&s), Ok(0));
        assert_eq!(cached(&s), Some(0));
    }

    #[test]
    fn dense_registers_roundtrip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_set(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8, "register {i}");
        }
        dense_set(&mut regs, 5, 0);
        assert_eq!(dense_get(&regs, 4), 4);
        assert_eq!(dense_get(&regs, 5), 0);
        assert_eq!(dense_get(&regs, 6), 6);
    }

    #[test]
    fn sparse_splits_and_merges() {
        let mut s = new_sparse();
        assert_eq!(set_register(&mut s, 100, 3), Ok(true));
        // XZERO 100, VAL 3x1, XZERO 16283.
        assert_eq!(&s[HDR..], &[0x40, 99, 0x88, 0x7f, 0x9a]);
        assert_eq!(set_register(&mut s, 100, 2), Ok(false));
        assert_eq!(set_register(&mut s, 101, 3), Ok(true));
        // The two VAL 3 runs merge into one of length 2.
        assert_eq!(decode(&s), "Z:100 v:3,2 Z:16282");
        assert_eq!(set_register(&mut s, 0, 1), Ok(true));
        assert_eq!(decode(&s), "v:1,1 Z:99 v:3,2 Z:16282");
        let regs = registers(&s);
        assert_eq!((regs[0], regs[100], regs[101], regs[102]), (1, 3, 3, 0));
        assert_eq!(cached(&s), None);
    }

    #[test]
    fn sparse_promotes_on_big_values_and_size() {
        let mut s = new_sparse();
        assert_eq!(set_register(&mut s, 7, 33), Ok(true));
        assert!(is_dense(&s) && s.len() == DENSE_SIZE);
        assert_eq!(dense_get(&s[HDR..], 7), 33);

        let mut s = new_sparse();
        let mut i = 0;
        while !is_dense(&s) {
            set_register(&mut s, i, 1 + (i % 2) as u8).expect("valid");
            assert!(is_dense(&s) || s.len() <= SPARSE_MAX_BYTES);
            i += 3;
        }
        let regs = registers(&s);
        for j in (0..i).step_by(3) {
            assert_eq!(regs[j], 1 + (j % 2) as u8);
        }
    }

    #[test]
    fn corrupt_and_invalid() {
        assert_eq!(check(b"HYLL"), Err(HllError::NotHll));
        assert_eq!(
            check(b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"),
            Err(HllError::NotHll)
        );
        assert_eq!(
            check(b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"),
            Err(HllError::NotHll)
        );
        assert_eq!(
            check(b"HYLL\x00\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"),
            Err(HllError::NotHll)
        );
        // Covers only 16383 registers.
        let short = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xfe".to_vec();
        assert_eq!(check(&short), Ok(()));
        assert_eq!(count(&short), Err(HllError::Corrupt));
        let mut m = Box::new([0u8; REGISTERS]);
        assert_eq!(merge_into(&mut m, &short), Err(HllError::Corrupt));
        assert_eq!(to_dense(&short), Err(HllError::Corrupt));
        // A header alone has no opcodes at all.
        let mut bare = short[..HDR].to_vec();
        assert_eq!(add(&mut bare, b"x"), Err(HllError::Corrupt));
        // A truncated XZERO reads a zero second byte, like Redis's terminator.
        let mut cut = short[..HDR].to_vec();
        cut.extend_from_slice(&[0x7f, 0xfe, 0x40]);
        assert_eq!(count(&cut), Ok(0));
        cut[HDR + 2] = 0x41;
        assert_eq!(count(&cut), Err(HllError::Corrupt));
        let mut cut2 = short[..HDR].to_vec();
        cut2.extend_from_slice(&[0x7f, 0xfe, 0x00]);
        assert_eq!(count(&cut2), Ok(0));
        // All registers at 63 make the estimate infinite: LLONG_MIN in Redis.
        let mut d = vec![0xffu8; DENSE_SIZE];
        d[..HDR].copy_from_slice(b"HYLL\0\0\0\0\0\0\0\0\0\0\0\x80");
        assert_eq!(count(&d), Ok(1 << 63));
    }

    #[test]
    fn estimates_are_close() {
        let mut s = new_sparse();
        let n = 200_000u32;
        for i in 0..n {
            add(&mut s, format!("e{i}").as_bytes()).expect("valid");
        }
        assert!(is_dense(&s));
        let c = count(&s).expect("valid") as f64;
        assert!((c - n as f64).abs() / (n as f64) < 0.02, "{c}");
        let mut s = new_sparse();
        for i in 0..100u32 {
            add(&mut s, &i.to_le_bytes()).expect("valid");
        }
        assert!(!is_dense(&s));
        let c = count(&s).expect("valid");
        assert!((95..=105).contains(&c), "{c}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn build(elems: &[Vec<u8>]) -> Vec<u8> {
            let mut s = new_sparse();
            for e in elems {
                add(&mut s, e).expect("valid");
            }
            s
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// The sparse and dense forms of the same registers agree on every
            /// register and on the count.
            #[test]
            fn sparse_equals_dense(elems in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 0..600)) {
                let s = build(&elems);
                let d = to_dense(&s).expect("valid");
                prop_assert_eq!(registers(&s), registers(&d));
                prop_assert_eq!(count(&s), count(&d));
                let mut dd = to_dense(&new_sparse()).expect("valid");
                for e in &elems {
                    add(&mut dd, e).expect("valid");
                }
                prop_assert_eq!(registers(&dd), registers(&s));
                prop_assert_eq!(count(&dd), count(&s));
            }

            /// Merging two HLLs gives the registers (and count) of adding the union.
            #[test]
            fn merge_is_union(a in prop::collection::vec(any::<u32>(), 0..800), b in prop::collection::vec(any::<u32>(), 0..800), dense in any::<bool>()) {
                let ea: Vec<Vec<u8>> = a.iter().map(|x| x.to_be_bytes().to_vec()).collect();
                let eb: Vec<Vec<u8>> = b.iter().map(|x| x.to_be_bytes().to_vec()).collect();
                let sa = build(&ea);
                let mut sb = build(&eb);
                if dense {
                    sb = to_dense(&sb).expect("valid");
                }
                let va = crate::store::Value::Str(sa.clone());
                let vb = crate::store::Value::Str(sb);
                let (max, d) = union([Some(&va), None, Some(&vb)]).expect("valid");
                let merged = merge_dest(Some(sa), &max, d).expect("valid");
                let all: Vec<Vec<u8>> = ea.iter().chain(eb.iter()).cloned().collect();
                let direct = build(&all);
                prop_assert_eq!(registers(&merged), registers(&direct));
                prop_assert_eq!(count(&merged), count(&direct));
                prop_assert_eq!(count_registers(&max), count(&direct).expect("valid"));
            }
        }
    }
}
