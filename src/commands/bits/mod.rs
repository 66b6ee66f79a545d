//! Value-level logic of the Redis bit and string-algorithm commands: SETBIT, GETBIT,
//! BITCOUNT, BITPOS, BITOP, BITFIELD/BITFIELD_RO and LCS, plus the start/end range
//! normalisation shared with GETRANGE.
//!
//! Everything here is a pure function over byte slices so it can be unit- and
//! property-tested without a server. The semantics mirror Redis 7.0 (`bitops.c`,
//! `t_string.c`) including its quirks, which are called out where they matter.
//! No function panics on any input; allocations are bounded by the offset limits
//! enforced by the parsers (or by explicit size checks the caller can run first).

// corekv is a binary crate: optional helpers the dispatcher does not (yet) call would
// otherwise trip `dead_code` under `-D warnings`.

/// The default proto-max-bulk-len (512MB) expressed in bits.
pub const MAX_STRING_BITS: u64 = 512 * 1024 * 1024 * 8;

/// The default proto-max-bulk-len in bytes.
pub const MAX_STRING_BYTES: u64 = MAX_STRING_BITS / 8;

/// proto-max-bulk-len as set now: the largest string Redis lets a command
/// build; valid bit offsets are below eight times it.
#[inline]
pub fn max_string_bytes() -> u64 {
    crate::protocol::max_bulk_len().max(0) as u64
}

/// Errors produced by this module; `message()` gives Redis's exact reply text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitsError {
    /// Bad SETBIT/GETBIT/BITFIELD offset (not an integer, negative or >= 2^32).
    BitOffset,
    /// SETBIT value that is not 0 or 1.
    BitValue,
    /// BITFIELD type other than i1..i64 / u1..u63.
    BitfieldType,
    /// Generic integer parse failure (BITFIELD value, BITPOS bit, ranges).
    NotInteger,
    /// Unknown sub-command or missing arguments.
    Syntax,
    /// BITFIELD_RO given SET or INCRBY.
    BitfieldRo,
    /// BITOP NOT with more than one source.
    BitopNot,
    /// BITPOS bit argument that is an integer but not 0/1.
    BitposBit,
    /// Result would exceed proto-max-bulk-len.
    StringTooBig,
    /// BITFIELD OVERFLOW with an unknown behaviour name.
    OverflowType,
    /// LCS input longer than Redis's u32 indexes allow.
    LcsTooLong,
    /// LCS DP table would exceed proto-max-bulk-len bytes.
    LcsTableTooBig,
    /// LCS DP table allocation failed.
    LcsAllocFailed,
    /// LCS given both IDX and LEN.
    LcsIdxAndLen,
}

impl BitsError {
    /// Exact Redis error text, without the leading '-' and without CRLF.
    pub fn message(&self) -> &'static str {
        match self {
            BitsError::BitOffset => "ERR bit offset is not an integer or out of range",
            BitsError::BitValue => "ERR bit is not an integer or out of range",
            BitsError::BitfieldType => {
                "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
            }
            BitsError::NotInteger => "ERR value is not an integer or out of range",
            BitsError::Syntax => "ERR syntax error",
            BitsError::BitfieldRo => "ERR BITFIELD_RO only supports the GET subcommand",
            BitsError::BitopNot => "ERR BITOP NOT must be called with a single source key.",
            BitsError::BitposBit => "ERR The bit argument must be 1 or 0.",
            BitsError::StringTooBig => {
                "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
            }
            BitsError::OverflowType => "ERR Invalid OVERFLOW type specified",
            BitsError::LcsTooLong => "ERR String too long for LCS",
            BitsError::LcsTableTooBig => {
                "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
            }
            BitsError::LcsAllocFailed => {
                "ERR Insufficient memory, failed allocating transient memory for LCS"
            }
            BitsError::LcsIdxAndLen => {
                "ERR If you want both the length and indexes, please just use IDX."
            }
        }
    }
}

impl std::fmt::Display for BitsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for BitsError {}

// ---------------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------------

use crate::protocol::parse_i64 as string2ll;

/// Parse a SETBIT/GETBIT/BITFIELD offset argument (its byte must be below
/// [`max_string_bytes`]).
/// With `hash_form_allowed` (BITFIELD) a `#N` offset means `N * bits`; like Redis the
/// multiplication wraps on (absurd) overflow before the range check.
pub fn parse_bit_offset(arg: &[u8], hash_form_allowed: bool, bits: u32) -> Result<u64, BitsError> {
    let use_hash = hash_form_allowed && bits > 0 && arg.first() == Some(&b'#');
    let digits = if use_hash { &arg[1..] } else { arg };
    let mut off = string2ll(digits).ok_or(BitsError::BitOffset)?;
    if use_hash {
        off = off.wrapping_mul(i64::from(bits));
    }
    if off < 0 || (off as u64) >> 3 >= max_string_bytes() {
        return Err(BitsError::BitOffset);
    }
    Ok(off as u64)
}

/// Parse the SETBIT value argument: only the integers 0 and 1 are accepted.
pub fn parse_setbit_value(arg: &[u8]) -> Result<bool, BitsError> {
    match string2ll(arg) {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(BitsError::BitValue),
    }
}

/// Parse the BITPOS bit argument: a non-integer is a generic integer error, any
/// other integer than 0/1 gets the dedicated message (Redis checks in that order).
pub fn parse_bitpos_bit(arg: &[u8]) -> Result<u8, BitsError> {
    match string2ll(arg) {
        None => Err(BitsError::NotInteger),
        Some(0) => Ok(0),
        Some(1) => Ok(1),
        Some(_) => Err(BitsError::BitposBit),
    }
}

/// Redis's `checkStringLength` for SETRANGE/APPEND/SETBIT-like growth: a resulting
/// length above proto-max-bulk-len is refused.
pub fn check_string_len(total_len: u64) -> Result<(), BitsError> {
    if total_len > max_string_bytes() {
        Err(BitsError::StringTooBig)
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// GETBIT / SETBIT
// ---------------------------------------------------------------------------

/// Bit at `offset` (MSB-first within each byte); bits past the end read as 0.
pub fn getbit(s: &[u8], offset: u64) -> u8 {
    let Ok(byte) = usize::try_from(offset >> 3) else {
        return 0;
    };
    match s.get(byte) {
        Some(b) => (b >> (7 - (offset & 7))) & 1,
        None => 0,
    }
}

/// Sets the bit (growing s with zero bytes as needed) and returns the old bit.
/// Offsets past the proto-max-bulk-len limit (which `parse_bit_offset` never
/// yields) are ignored and return 0, so a bad caller cannot trigger a huge
/// allocation.
pub fn setbit(s: &mut Vec<u8>, offset: u64, on: bool) -> u8 {
    if offset >> 3 >= max_string_bytes() {
        return 0;
    }
    let byte = (offset >> 3) as usize;
    if s.len() <= byte {
        s.resize(byte + 1, 0);
    }
    let shift = 7 - (offset & 7) as u32;
    let old = (s[byte] >> shift) & 1;
    if on {
        s[byte] |= 1 << shift;
    } else {
        s[byte] &= !(1u8 << shift);
    }
    old
}

// ---------------------------------------------------------------------------
// Range normalisation, BITCOUNT, BITPOS
// ---------------------------------------------------------------------------

/// Core of Redis's start/end handling. `neg_check` is the GETRANGE/BITCOUNT early
/// "both negative and start > end means empty" test, which BITPOS lacks.
fn normalize_inner(start: i64, end: i64, len: i64, neg_check: bool) -> Option<(usize, usize)> {
    if neg_check && start < 0 && end < 0 && start > end {
        return None;
    }
    let len = len.max(0);
    let mut start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut end = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

/// Redis's start/end normalisation for GETRANGE/BITCOUNT byte or bit ranges: negative
/// from end, clamped; returns None for an empty range. `len` is the length in the unit
/// (bytes or bits). The result is inclusive and always within `0..len`.
/// (BITPOS uses the same rules minus the "both negative, start > end" shortcut; its
/// `bitpos` function handles that internally.)
pub fn normalize_range(start: i64, end: i64, len: i64) -> Option<(usize, usize)> {
    normalize_inner(start, end, len, true)
}

/// Population count of a byte slice, 8 bytes at a time.
fn popcount(s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from(u64::from_ne_bytes(w).count_ones());
    }
    n + chunks
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>()
}

/// Mask of the bits of one byte from bit index `from` to `to` (inclusive, MSB = 0).
fn byte_mask(from: usize, to: usize) -> u8 {
    (0xFFu8 >> (from & 7)) & (0xFFu8 << (7 - (to & 7)))
}

/// Set bits in the inclusive bit range `[bs, be]`; caller guarantees `be < 8*len`.
fn count_bit_range(s: &[u8], bs: usize, be: usize) -> u64 {
    let (fb, lb) = (bs >> 3, be >> 3);
    let (Some(&first), Some(&last)) = (s.get(fb), s.get(lb)) else {
        return 0;
    };
    if fb == lb {
        return u64::from((first & byte_mask(bs, be)).count_ones());
    }
    u64::from((first & byte_mask(bs, 7)).count_ones())
        + popcount(&s[fb + 1..lb])
        + u64::from((last & byte_mask(0, be)).count_ones())
}

/// `bits(len)` in i64 without overflow (strings are far below this in practice).
fn bit_len(s: &[u8]) -> i64 {
    i64::try_from(s.len()).unwrap_or(i64::MAX).saturating_mul(8)
}

/// BITCOUNT key [start end [BYTE|BIT]]: `range` is the raw start/end, `bit_unit` selects BIT.
pub fn bitcount(s: &[u8], range: Option<(i64, i64)>, bit_unit: bool) -> i64 {
    let count = match range {
        None => popcount(s),
        Some((start, end)) => {
            let len_bytes = i64::try_from(s.len()).unwrap_or(i64::MAX);
            if bit_unit {
                match normalize_range(start, end, bit_len(s)) {
                    Some((bs, be)) => count_bit_range(s, bs, be),
                    None => 0,
                }
            } else {
                match normalize_range(start, end, len_bytes) {
                    Some((a, b)) => popcount(&s[a..=b]),
                    None => 0,
                }
            }
        }
    };
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// First bit equal to `bit` in the inclusive bit range `[bs, be]` (within the string).
fn find_bit(s: &[u8], bit: u8, bs: usize, be: usize) -> Option<usize> {
    // Transform each byte so that the wanted bit value becomes 1.
    let conv = |b: u8| if bit == 1 { b } else { !b };
    let (fb, lb) = (bs >> 3, be >> 3);
    let hit = |byte_idx: usize, masked: u8| byte_idx * 8 + masked.leading_zeros() as usize;
    let first = conv(*s.get(fb)?);
    if fb == lb {
        let m = first & byte_mask(bs, be);
        return (m != 0).then(|| hit(fb, m));
    }
    let m = first & byte_mask(bs, 7);
    if m != 0 {
        return Some(hit(fb, m));
    }
    let skip = if bit == 1 { 0x00 } else { 0xFF };
    let middle = s.get(fb + 1..lb)?;
    if let Some(i) = middle.iter().position(|&b| b != skip) {
        return Some(hit(fb + 1 + i, conv(middle[i])));
    }
    let m = conv(*s.get(lb)?) & byte_mask(0, be);
    (m != 0).then(|| hit(lb, m))
}

/// BITPOS on a missing key: it is an infinite run of zeros, so 0 is found at 0 and 1 never.
pub fn bitpos_missing_key(bit: u8) -> i64 {
    if bit != 0 { -1 } else { 0 }
}

/// BITPOS key bit [start [end [BYTE|BIT]]] on an existing string (`bit` is 0 or 1; any
/// non-zero value means 1). When looking for 0 with no explicit end, the string is
/// treated as zero-padded, so an all-ones range yields the first bit past it; with an
/// explicit end it yields -1. An existing empty string always gives -1 (as in Redis).
/// `end` is ignored when `start` is None (Redis syntax cannot express it).
pub fn bitpos(s: &[u8], bit: u8, start: Option<i64>, end: Option<i64>, bit_unit: bool) -> i64 {
    let bit = u8::from(bit != 0);
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    let (range, end_given) = match start {
        None => {
            if s.is_empty() {
                return -1;
            }
            ((0usize, s.len() * 8 - 1), false)
        }
        Some(st) => {
            let totlen = if bit_unit { bit_len(s) } else { len };
            let (e, given) = match end {
                Some(e) => (e, true),
                None => (totlen.saturating_sub(1), false),
            };
            let Some((a, b)) = normalize_inner(st, e, totlen, false) else {
                return -1;
            };
            let r = if bit_unit { (a, b) } else { (a * 8, b * 8 + 7) };
            (r, given)
        }
    };
    match find_bit(s, bit, range.0, range.1) {
        Some(p) => i64::try_from(p).unwrap_or(-1),
        None if bit == 1 || end_given => -1,
        None => i64::try_from(range.1 + 1).unwrap_or(-1),
    }
}

// ---------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------

/// BITOP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Parse the BITOP operation name, case-insensitively (Redis 7.0 has only these four).
pub fn parse_bitop(name: &[u8]) -> Option<BitOp> {
    if name.eq_ignore_ascii_case(b"and") {
        Some(BitOp::And)
    } else if name.eq_ignore_ascii_case(b"or") {
        Some(BitOp::Or)
    } else if name.eq_ignore_ascii_case(b"xor") {
        Some(BitOp::Xor)
    } else if name.eq_ignore_ascii_case(b"not") {
        Some(BitOp::Not)
    } else {
        None
    }
}

/// Validate the BITOP source count (NOT takes exactly one source).
pub fn check_bitop_sources(op: BitOp, n_srcs: usize) -> Result<(), BitsError> {
    if op == BitOp::Not && n_srcs != 1 {
        Err(BitsError::BitopNot)
    } else {
        Ok(())
    }
}

/// Result of BITOP over sources (missing keys are passed as empty slices). Length =
/// longest source; shorter sources are zero-padded. NOT uses only the first source.
/// An empty result means Redis deletes the destination key (and replies 0).
pub fn bitop(op: BitOp, srcs: &[&[u8]]) -> Vec<u8> {
    let Some((first, rest)) = srcs.split_first() else {
        return Vec::new();
    };
    if op == BitOp::Not {
        return first.iter().map(|b| !b).collect();
    }
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = first.to_vec();
    out.resize(maxlen, 0);
    for src in rest {
        match op {
            BitOp::And => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o &= src.get(i).copied().unwrap_or(0);
                }
            }
            BitOp::Or => out.iter_mut().zip(src.iter()).for_each(|(o, b)| *o |= b),
            BitOp::Xor => out.iter_mut().zip(src.iter()).for_each(|(o, b)| *o ^= b),
            BitOp::Not => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------
// BITFIELD
// ---------------------------------------------------------------------------

/// BITFIELD overflow behaviour; applies to the SET/INCRBY ops that follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BfKind {
    Get,
    Set(i64),
    IncrBy(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BfOp {
    kind: BfKind,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// Parsed BITFIELD/BITFIELD_RO sub-commands, ready to run against a string value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BitfieldPlan {
    ops: Vec<BfOp>,
    /// Highest bit touched by a SET/INCRBY; Redis grows the string to cover it up front.
    highest_write: Option<u64>,
}

/// Parse `i1..i64` / `u1..u63` (Redis reads the type as a C string, hence the NUL cut).
fn parse_bitfield_type(arg: &[u8]) -> Result<(bool, u32), BitsError> {
    let arg = arg.split(|&b| b == 0).next().unwrap_or(&[]);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BitsError::BitfieldType),
    };
    match string2ll(&arg[1..]) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(BitsError::BitfieldType),
    }
}

/// BITFIELD: parse the sub-commands (args after the key) once; `read_only` for BITFIELD_RO.
/// Errors come in Redis's order: every parse error first, the BITFIELD_RO write check last.
pub fn parse_bitfield(args: &[&[u8]], read_only: bool) -> Result<BitfieldPlan, BitsError> {
    let mut plan = BitfieldPlan::default();
    let mut overflow = Overflow::Wrap;
    let mut j = 0;
    while j < args.len() {
        let sub = args[j];
        let remaining = args.len() - j - 1;
        let op_kind = if sub.eq_ignore_ascii_case(b"get") && remaining >= 2 {
            0
        } else if sub.eq_ignore_ascii_case(b"set") && remaining >= 3 {
            1
        } else if sub.eq_ignore_ascii_case(b"incrby") && remaining >= 3 {
            2
        } else if sub.eq_ignore_ascii_case(b"overflow") && remaining >= 1 {
            let t = args[j + 1];
            overflow = if t.eq_ignore_ascii_case(b"wrap") {
                Overflow::Wrap
            } else if t.eq_ignore_ascii_case(b"sat") {
                Overflow::Sat
            } else if t.eq_ignore_ascii_case(b"fail") {
                Overflow::Fail
            } else {
                return Err(BitsError::OverflowType);
            };
            j += 2;
            continue;
        } else {
            return Err(BitsError::Syntax);
        };
        let (signed, bits) = parse_bitfield_type(args[j + 1])?;
        let offset = parse_bit_offset(args[j + 2], true, bits)?;
        let kind = if op_kind == 0 {
            BfKind::Get
        } else {
            let last = offset + u64::from(bits) - 1;
            plan.highest_write = Some(plan.highest_write.map_or(last, |h| h.max(last)));
            let v = string2ll(args[j + 3]).ok_or(BitsError::NotInteger)?;
            if op_kind == 1 {
                BfKind::Set(v)
            } else {
                BfKind::IncrBy(v)
            }
        };
        plan.ops.push(BfOp {
            kind,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if op_kind == 0 { 3 } else { 4 };
    }
    if read_only && plan.has_writes() {
        return Err(BitsError::BitfieldRo);
    }
    Ok(plan)
}

/// Read `bits` bits MSB-first starting at `offset`; bytes past the end read as 0.
fn get_unsigned_bf(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0u64, |v, k| (v << 1) | u64::from(getbit(s, offset + k)))
}

/// Two's-complement sign extension of a `bits`-wide field, as Redis's getSignedBitfield.
fn get_signed_bf(s: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned_bf(s, offset, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        v |= u64::MAX << bits;
    }
    v as i64
}

/// Write the low `bits` bits of `value` MSB-first; the string was grown beforehand.
fn set_unsigned_bf(s: &mut Vec<u8>, offset: u64, bits: u32, value: u64) {
    for k in 0..bits {
        let on = (value >> (bits - 1 - k)) & 1 == 1;
        setbit(s, offset + u64::from(k), on);
    }
}

/// Redis's checkUnsignedBitfieldOverflow: `Some(replacement)` on overflow (the
/// replacement is meaningless for FAIL), `None` when `value + incr` fits.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > maxincr) {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => max,
        })
    } else if incr < 0 && incr < minincr {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => 0,
        })
    } else {
        None
    }
}

/// Redis's checkSignedBitfieldOverflow, including its i64-specific conditions.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => max,
        })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(match ow {
            Overflow::Wrap => wrap(),
            _ => min,
        })
    } else {
        None
    }
}

impl BitfieldPlan {
    /// True if only GETs (then a missing key need not be created).
    pub fn is_read_only(&self) -> bool {
        self.highest_write.is_none()
    }

    /// True if any SET/INCRBY is present (the key is created/grown even if values don't change).
    pub fn has_writes(&self) -> bool {
        self.highest_write.is_some()
    }

    /// Number of replies `execute` produces (one per GET/SET/INCRBY).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the plan has no GET/SET/INCRBY at all (reply is an empty array).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The largest byte length the plan would grow the string to (for the 512MB check
    /// before executing). 0 for read-only plans. Note Redis itself does not refuse a
    /// BITFIELD write near the 2^32-bit limit: the string may end up a few bytes over 512MB.
    pub fn required_len(&self) -> usize {
        self.highest_write
            .map_or(0, |h| usize::try_from((h >> 3) + 1).unwrap_or(usize::MAX))
    }

    /// Execute on the string value (grows it as Redis does: with writes, up front to
    /// `required_len`). Each element: Some(i64) or None (nil on FAIL overflow).
    /// Unsigned fields are at most 63 bits, so they always fit the i64 reply.
    pub fn execute(&self, s: &mut Vec<u8>) -> Vec<Option<i64>> {
        let need = self.required_len();
        if self.has_writes() && s.len() < need {
            s.resize(need, 0);
        }
        let mut out = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            let (bits, off) = (op.bits, op.offset);
            let reply = match op.kind {
                BfKind::Get if op.signed => Some(get_signed_bf(s, off, bits)),
                BfKind::Get => Some(get_unsigned_bf(s, off, bits) as i64),
                BfKind::Set(v) | BfKind::IncrBy(v) if op.signed => {
                    let old = get_signed_bf(s, off, bits);
                    let (ovf, newval, ret) = if let BfKind::IncrBy(_) = op.kind {
                        let o = signed_overflow(old, v, bits, op.overflow);
                        let nv = o.unwrap_or_else(|| old.wrapping_add(v));
                        (o.is_some(), nv, nv)
                    } else {
                        let o = signed_overflow(v, 0, bits, op.overflow);
                        (o.is_some(), o.unwrap_or(v), old)
                    };
                    if ovf && op.overflow == Overflow::Fail {
                        None
                    } else {
                        set_unsigned_bf(s, off, bits, newval as u64);
                        Some(ret)
                    }
                }
                BfKind::Set(v) | BfKind::IncrBy(v) => {
                    let old = get_unsigned_bf(s, off, bits);
                    let (ovf, newval, ret) = if let BfKind::IncrBy(_) = op.kind {
                        let o = unsigned_overflow(old, v, bits, op.overflow);
                        let nv = o.unwrap_or_else(|| old.wrapping_add(v as u64));
                        (o.is_some(), nv, nv)
                    } else {
                        let o = unsigned_overflow(v as u64, 0, bits, op.overflow);
                        (o.is_some(), o.unwrap_or(v as u64), old)
                    };
                    if ovf && op.overflow == Overflow::Fail {
                        None
                    } else {
                        set_unsigned_bf(s, off, bits, newval);
                        Some(ret as i64)
                    }
                }
            };
            out.push(reply);
        }
        out
    }
}

// ---------------------------------------------------------------------------
// LCS
// ---------------------------------------------------------------------------

/// One IDX range: ((a_start, a_end), (b_start, b_end), match_len), all inclusive.
pub type LcsMatch = ((usize, usize), (usize, usize), usize);

/// LCS: the longest common subsequence string, and for IDX mode the matches.
/// `matches` holds ((a_start,a_end),(b_start,b_end),match_len) in Redis's order
/// (from the end of the strings backwards). `string` is filled only when asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LcsResult {
    pub len: usize,
    pub string: Vec<u8>,
    pub matches: Vec<LcsMatch>,
}

/// Cells in the (a_len+1)*(b_len+1) DP table Redis allocates; None on overflow.
/// Each cell is a u32, so the table takes `4 * cells` bytes.
pub fn lcs_table_cells(a_len: usize, b_len: usize) -> Option<usize> {
    a_len.checked_add(1)?.checked_mul(b_len.checked_add(1)?)
}

/// Redis's LCS size guards, in its order: inputs must fit its u32 indexes, and the
/// u32 table must not exceed proto-max-bulk-len bytes (checked even for LEN).
pub fn lcs_check_sizes(a_len: usize, b_len: usize) -> Result<(), BitsError> {
    let limit = (u32::MAX - 1) as usize;
    if a_len >= limit || b_len >= limit {
        return Err(BitsError::LcsTooLong);
    }
    match lcs_table_cells(a_len, b_len).and_then(|c| c.checked_mul(4)) {
        Some(bytes) if bytes as u64 <= max_string_bytes() => Ok(()),
        _ => Err(BitsError::LcsTableTooBig),
    }
}

/// LCS length with two rows (O(min) memory), used when neither string nor IDX is wanted.
fn lcs_len_only(a: &[u8], b: &[u8]) -> usize {
    let (a, b) = if a.len() < b.len() { (b, a) } else { (a, b) };
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for &ca in a {
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = if ca == cb {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// LCS as Redis computes it (same DP, same backtracking tie-break `lcs1 > lcs2 ? i-- : j--`,
/// same range emission), so strings and IDX ranges match byte-for-byte. The full table is
/// only built when the string or matches are needed. `min_match_len` 0 keeps every range.
/// Callers should run `lcs_check_sizes` first; if the table cannot be allocated anyway,
/// only `len` is filled in (computed in linear memory).
pub fn lcs(
    a: &[u8],
    b: &[u8],
    want_string: bool,
    want_idx: bool,
    min_match_len: usize,
) -> LcsResult {
    if !want_string && !want_idx {
        return LcsResult {
            len: lcs_len_only(a, b),
            ..LcsResult::default()
        };
    }
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    let mut table: Vec<u32> = Vec::new();
    let ok = lcs_table_cells(alen, blen)
        .filter(|_| alen < u32::MAX as usize && blen < u32::MAX as usize)
        .is_some_and(|cells| table.try_reserve_exact(cells).is_ok());
    if !ok {
        return LcsResult {
            len: lcs_len_only(a, b),
            ..LcsResult::default()
        };
    }
    table.resize(w, 0);
    for i in 1..=alen {
        let row = (i - 1) * w;
        table.push(0);
        for j in 1..=blen {
            let v = if a[i - 1] == b[j - 1] {
                table[row + j - 1] + 1
            } else {
                table[row + j].max(table[row + w + j - 1])
            };
            table.push(v);
        }
    }
    let at = |i: usize, j: usize| table[i * w + j] as usize;
    let total = at(alen, blen);
    let mut result = vec![0u8; total];
    let mut matches = Vec::new();
    let mut idx = total;
    let (mut i, mut j) = (alen, blen);
    // `None` plays the role of Redis's "arange_start == alen" (no range open).
    let mut range: Option<(usize, usize, usize, usize)> = None; // (a_start, a_end, b_start, b_end)
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            match &mut range {
                None => range = Some((i - 1, i - 1, j - 1, j - 1)),
                Some(r) if r.0 == i && r.2 == j => {
                    r.0 -= 1;
                    r.2 -= 1;
                }
                Some(_) => emit = true,
            }
            if let Some(r) = range
                && (r.0 == 0 || r.2 == 0)
            {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            if range.is_some() {
                emit = true;
            }
        }
        if emit && let Some((as_, ae, bs, be)) = range.take() {
            let mlen = ae - as_ + 1;
            if want_idx && (min_match_len == 0 || mlen >= min_match_len) {
                matches.push(((as_, ae), (bs, be), mlen));
            }
        }
    }
    LcsResult {
        len: total,
        string: if want_string { result } else { Vec::new() },
        matches,
    }
}

/// LCS with Redis's size guards applied first (see `lcs_check_sizes`).
pub fn try_lcs(
    a: &[u8],
    b: &[u8],
    want_string: bool,
    want_idx: bool,
    min_match_len: usize,
) -> Result<LcsResult, BitsError> {
    lcs_check_sizes(a.len(), b.len())?;
    Ok(lcs(a, b, want_string, want_idx, min_match_len))
}

#[cfg(test)]
mod tests;
