//! Input generation and mutation for the stable driver: a seeded PRNG, one
//! structure-aware generator per target, and a byte-level mutator.
//!
//! libFuzzer finds the RESP grammar by itself through coverage feedback; a blind
//! random loop does not (random bytes almost never form `*2\r\n$3\r\nGET\r\n...`),
//! so the parser generator writes mostly well-formed requests and then breaks them
//! in the ways the parser must handle: wrong lengths, bad headers, unbalanced
//! quotes, truncation, lines past the size limits. Likewise the RDB generator
//! builds real DUMP payloads and RDB files (every value type and encoding) and
//! damages them lightly, with checksums that let the damage reach the decoder.

use std::io::Write;

use corekv::store::hash::Hash;
use corekv::store::list::List;
use corekv::store::rdb::{self, CRC64, Writer};
use corekv::store::set::Set;
use corekv::store::zset::ZSet;
use corekv::store::{Entry, Value};

/// splitmix64: tiny, fast, and every seed (including 0) gives a good stream.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// One of `xs` (for byte strings; [`Rng::pick`] would infer the wrong type).
    pub fn pick_bytes<'a>(&mut self, xs: &[&'a [u8]]) -> &'a [u8] {
        xs[self.below(xs.len())]
    }

    /// A length skewed towards small values: mostly `< 16`, sometimes up to `max`.
    pub fn size(&mut self, max: usize) -> usize {
        match self.below(8) {
            0..=4 => self.below(16.min(max + 1)),
            5 | 6 => self.below(256.min(max + 1)),
            _ => self.below(max + 1),
        }
    }
}

/// Splice-in tokens for parser inputs.
pub const PARSER_TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\r",
    b"\n",
    b"*",
    b"$",
    b"*1\r\n",
    b"$0\r\n\r\n",
    b"*1\r\n$4\r\nPING\r\n",
    b"PING\r\n",
    b" ",
    b"\t",
    b"\"",
    b"'",
    b"\\",
    b"\\x",
    b"-1",
    b"-0",
    b"0",
    b"00",
    b"2147483647",
    b"2147483648",
    b"536870912",
    b"536870913",
    b"9223372036854775808",
];

/// Strings the parser treats specially somewhere, as counts or lengths.
const COUNTS: &[&str] = &[
    "-1",
    "-0",
    "-5",
    "0",
    "01",
    "+1",
    "",
    " 1",
    "1 ",
    "abc",
    "2147483647",
    "2147483648",
    "536870912",
    "536870913",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
];

const WORDS: &[&[u8]] = &[
    b"PING", b"SET", b"GET", b"DEL", b"key", b"value", b"0", b"-1", b"*", b"$", b"\r\n", b"",
];

const QUOTED_PIECES: &[&[u8]] = &[
    b"a", b"b c", b"\\n", b"\\r", b"\\t", b"\\b", b"\\a", b"\\\\", b"\\\"", b"\\'", b"\\x41",
    b"\\xzz", b"\\x4", b"\\", b"'", b"\"", b"\xff",
];

/// An argument value: empty, a word, random bytes (any value, or the parser's
/// delimiters), or a long run.
fn arg(rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        0 => Vec::new(),
        1 => rng.pick(WORDS).to_vec(),
        2 => (0..rng.size(40)).map(|_| rng.byte()).collect(),
        3 => (0..rng.size(40))
            .map(|_| *rng.pick(b"*$\r\n -0123456789\"'\\ax"))
            .collect(),
        4 => vec![b'x'; rng.size(3000)],
        _ => (0..rng.size(12))
            .map(|_| b'a' + (rng.below(26) as u8))
            .collect(),
    }
}

/// A well-formed multibulk request.
fn multibulk(rng: &mut Rng, out: &mut Vec<u8>) {
    let n = rng.size(6);
    write!(out, "*{n}\r\n").unwrap();
    for _ in 0..n {
        let a = arg(rng);
        write!(out, "${}\r\n", a.len()).unwrap();
        out.extend_from_slice(&a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A multibulk request with one thing wrong (or merely cut short).
fn broken_multibulk(rng: &mut Rng, out: &mut Vec<u8>) {
    let start = out.len();
    let n = 1 + rng.below(3);
    let bad = rng.below(n + 1); // which header to break; n means the count
    let how = rng.below(6);
    if bad == n && how < 3 {
        write!(out, "*{}\r\n", rng.pick(COUNTS)).unwrap();
    } else {
        write!(out, "*{n}\r\n").unwrap();
    }
    for i in 0..n {
        let a = arg(rng);
        if i == bad {
            match how {
                0 => write!(out, "${}\r\n", rng.pick(COUNTS)).unwrap(),
                1 => write!(out, "${}\r\n", a.len() + 1).unwrap(),
                2 => write!(out, "${}\r\n", a.len().saturating_sub(1)).unwrap(),
                3 => write!(out, "{}{}\r\n", *rng.pick(b"+:-*x ") as char, a.len()).unwrap(),
                4 => write!(out, "${}\r", a.len()).unwrap(),
                _ => writeln!(out, "${}", a.len()).unwrap(),
            }
        } else {
            write!(out, "${}\r\n", a.len()).unwrap();
        }
        out.extend_from_slice(&a);
        out.extend_from_slice(if rng.one_in(6) { b"\n" } else { b"\r\n" });
    }
    if rng.one_in(3) {
        let keep = start + rng.below(out.len() - start + 1);
        out.truncate(keep);
    }
}

/// An inline command: plain, double-quoted and single-quoted words.
fn inline(rng: &mut Rng, out: &mut Vec<u8>) {
    for i in 0..1 + rng.below(5) {
        if i > 0 || rng.one_in(4) {
            out.extend_from_slice(rng.pick_bytes(&[b" ", b"  ", b"\t", b" \t "]));
        }
        match rng.below(4) {
            0 | 1 => out.extend_from_slice(
                &arg(rng)
                    .into_iter()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect::<Vec<_>>(),
            ),
            q => {
                let q = if q == 2 { b'"' } else { b'\'' };
                out.push(q);
                for _ in 0..rng.size(5) {
                    out.extend_from_slice(rng.pick_bytes(QUOTED_PIECES));
                }
                // Usually closed and followed by a space or the end, as required.
                match rng.below(8) {
                    0 => {}
                    1 => out.extend_from_slice(&[q, b'x']),
                    _ => out.push(q),
                }
            }
        }
    }
    out.extend_from_slice(rng.pick_bytes(&[b"\r\n", b"\r\n", b"\n", b"", b"\r", b" \r\n"]));
}

/// A line around the parser's 64 KiB header/inline limit (mostly past it), without
/// a line end.
fn long_line(rng: &mut Rng, out: &mut Vec<u8>) {
    let len = corekv::protocol::parse::MAX_INLINE - 8 + rng.below(24);
    match rng.below(3) {
        0 => out.push(b'*'),
        1 => out.extend_from_slice(b"*1\r\n$"),
        _ => {}
    }
    let c = *rng.pick(b"1a ");
    out.resize(out.len() + len, c);
}

/// Parser input: the chunking seed byte, then a pipeline of requests.
pub fn parser_input(rng: &mut Rng, out: &mut Vec<u8>) {
    out.push(rng.byte());
    for _ in 0..rng.size(10) {
        match rng.below(16) {
            0..=5 => multibulk(rng, out),
            6..=8 => broken_multibulk(rng, out),
            9..=11 => inline(rng, out),
            12 => out.extend_from_slice(
                rng.pick_bytes(&[b"\r\n", b"\n", b"*0\r\n", b"*-1\r\n", b" \r\n"]),
            ),
            13 | 14 => {
                for _ in 0..rng.size(24) {
                    out.push(if rng.one_in(2) {
                        rng.byte()
                    } else {
                        *rng.pick(b"*$\r\n-01 \"'")
                    });
                }
            }
            _ if rng.one_in(16) => {
                // Last: a later '\r' or '\n' would end the line below the limit.
                long_line(rng, out);
                break;
            }
            _ => multibulk(rng, out),
        }
    }
}

/// Dict input: an op program (see `dict.rs`); every byte string is one, so random
/// bytes of a spread of lengths do.
pub fn dict_input(rng: &mut Rng, out: &mut Vec<u8>) {
    let len = match rng.below(4) {
        0 => rng.below(64),
        1 | 2 => rng.below(1024),
        _ => rng.below(8192),
    };
    out.extend((0..len).map(|_| rng.byte()));
}

// ---------------------------------------------------------------- rdb

/// Splice-in tokens for RDB inputs: headers, opcodes, type bytes, length and
/// string encodings, packed-blob headers.
pub const RDB_TOKENS: &[&[u8]] = &[
    b"REDIS0010",
    b"REDIS0009",
    b"REDIS0012",
    b"REDIS0004",
    &[rdb::op::EOF],
    &[rdb::op::SELECTDB, 0],
    &[rdb::op::SELECTDB, 15],
    &[rdb::op::RESIZEDB, 1, 0],
    &[rdb::op::AUX, 1, b'a', 0],
    &[rdb::op::EXPIRETIME_MS, 0, 0, 0, 0, 0, 0, 0, 0x80],
    &[rdb::op::EXPIRETIME, 1, 0, 0, 0],
    &[rdb::op::IDLE, 0x40, 1],
    &[rdb::op::FREQ, 7],
    &[rdb::op::SLOT_INFO, 1, 2, 3],
    &[rdb::op::FUNCTION2, 0],
    &[rdb::ty::STRING, 1, b'k', 1, b'v'],
    &[rdb::ty::LIST_QUICKLIST_2, 1, 2],
    &[rdb::ty::SET_INTSET],
    &[rdb::ty::HASH_LISTPACK],
    &[rdb::ty::ZSET_2, 1, 1, b'm'],
    &[0x3F],
    &[0x40, 0x00],
    &[0x7F, 0xFF],
    &[0x80, 0xFF, 0xFF, 0xFF, 0xFF],
    &[0x80, 0x00, 0x01, 0x00, 0x00],
    &[0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
    &[0xC0, 0x80],
    &[0xC1, 0x00, 0x80],
    &[0xC2, 0x00, 0x00, 0x00, 0x80],
    &[0xC3, 0x05, 0x40, 0x80],
    &[0xC4],
    &[0x1F],
    &[0xE0, 0x00, 0x00],
    &[0xFE, 0xFF, 0xFF, 0xFF, 0x7F],
    &[2, 0, 0, 0],
    &[8, 0, 0, 0],
    &[0xFF, 0xFF, 0xFF, 0xFF],
    &[0xFF, 0xFF],
];

/// An element of a packed blob (listpack, ziplist): Redis stores integers in
/// their own encodings, which the decoder renders in decimal.
#[derive(Clone)]
enum Elem {
    Int(i64),
    Str(Vec<u8>),
}

impl Elem {
    fn rendered(&self) -> Vec<u8> {
        match self {
            Elem::Int(v) => v.to_string().into_bytes(),
            Elem::Str(s) => s.clone(),
        }
    }
}

/// An integer near an encoding boundary, small, or anything.
fn rdb_int(rng: &mut Rng) -> i64 {
    const EDGES: &[i64] = &[
        0,
        -1,
        12,
        13,
        127,
        128,
        -128,
        -129,
        4095,
        4096,
        -4096,
        -4097,
        i16::MAX as i64,
        i16::MAX as i64 + 1,
        i16::MIN as i64,
        i16::MIN as i64 - 1,
        8_388_607,
        8_388_608,
        -8_388_608,
        -8_388_609,
        i32::MAX as i64,
        i32::MAX as i64 + 1,
        i32::MIN as i64,
        i32::MIN as i64 - 1,
        i64::MAX,
        i64::MIN,
    ];
    match rng.below(5) {
        0 => rng.below(13) as i64,
        1 => *rng.pick(EDGES),
        2 => rng.next_u64() as i64,
        3 => (rng.next_u64() as i64) >> rng.below(64),
        _ => rng.below(100_000) as i64 - 50_000,
    }
}

/// A string value: empty, an integer (canonical or not), short bytes, a long
/// compressible or random run, or a length at a length-encoding boundary.
fn rdb_string(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0 => Vec::new(),
        1 | 2 => rdb_int(rng).to_string().into_bytes(),
        3 => rng
            .pick_bytes(&[
                b"007",
                b"-0",
                b"+1",
                b" 1",
                b"1 ",
                b"1.5",
                b"-",
                b"0x10",
                b"12345678901",
                b"99999999999",
                b"-2147483649",
                b"9223372036854775808",
            ])
            .to_vec(),
        4 => {
            // Long and compressible: a short pattern repeated, with a few changes.
            let pat: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.byte()).collect();
            let len = 21 + rng.size(6000);
            let mut s: Vec<u8> = pat.iter().copied().cycle().take(len).collect();
            for _ in 0..rng.size(8) {
                let i = rng.below(len);
                s[i] = rng.byte();
            }
            s
        }
        5 => (0..rng.size(2000)).map(|_| rng.byte()).collect(),
        6 => {
            let len = *rng.pick(&[20, 21, 63, 64, 255, 4095, 4096, 16383, 16384]);
            vec![*rng.pick(b"ab\x00\xff"); len]
        }
        7 | 8 => (0..rng.size(40)).map(|_| rng.byte()).collect(),
        _ => (0..1 + rng.size(12))
            .map(|_| b'a' + rng.below(26) as u8)
            .collect(),
    }
}

/// A short string, for members of big collections.
fn rdb_member(rng: &mut Rng) -> Vec<u8> {
    match rng.below(4) {
        0 => rdb_int(rng).to_string().into_bytes(),
        1 => (0..rng.size(20)).map(|_| rng.byte()).collect(),
        _ => (0..1 + rng.size(8))
            .map(|_| b'a' + rng.below(26) as u8)
            .collect(),
    }
}

/// A sorted-set score (never NaN: the loaders refuse it, tested separately).
fn rdb_score(rng: &mut Rng) -> f64 {
    let s = match rng.below(6) {
        0 => *rng.pick(&[
            0.0,
            -0.0,
            1.5,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
            1e300,
            0.1,
        ]),
        1 => f64::from_bits(rng.next_u64()),
        2 => rdb_int(rng) as f64,
        3 => rng.below(1000) as f64 / 7.0,
        _ => rng.below(100) as f64,
    };
    if s.is_nan() { 0.0 } else { s }
}

/// A collection size: mostly small, sometimes past the listpack (128) or intset
/// (512) thresholds.
fn rdb_count(rng: &mut Rng) -> usize {
    if rng.one_in(10) {
        100 + rng.below(600)
    } else {
        rng.size(40)
    }
}

/// A random value of any type (collections possibly empty).
fn rdb_value(rng: &mut Rng) -> Value {
    let n = rdb_count(rng);
    let big = n > 60;
    let item = |rng: &mut Rng| {
        if big {
            rdb_member(rng)
        } else {
            rdb_string(rng)
        }
    };
    match rng.below(6) {
        0 => Value::Str(rdb_string(rng)),
        1 => Value::List(List::from_items((0..n).map(|_| item(rng)))),
        2 => {
            let mut s = Set::new();
            let ints = rng.one_in(2);
            for _ in 0..n {
                if ints && !rng.one_in(50) {
                    s.insert(rdb_int(rng).to_string().as_bytes());
                } else {
                    s.insert(&item(rng));
                }
            }
            Value::Set(s)
        }
        3 => {
            let mut h = Hash::new();
            for _ in 0..n {
                h.set(&item(rng), &item(rng));
            }
            Value::Hash(h)
        }
        _ => {
            let mut pairs = std::collections::BTreeMap::new();
            for _ in 0..n {
                pairs.insert(item(rng), rdb_score(rng));
            }
            Value::ZSet(ZSet::from_pairs(pairs.into_iter().collect()))
        }
    }
}

/// A listpack (Redis 7): u32 total bytes, u16 count, entries each followed by
/// its backlen, 0xFF.
fn listpack(items: &[Elem]) -> Vec<u8> {
    let mut b = vec![0u8; 6];
    for e in items {
        let start = b.len();
        match e {
            Elem::Int(v) => {
                let v = *v;
                if (0..=127).contains(&v) {
                    b.push(v as u8);
                } else if (-4096..=4095).contains(&v) {
                    let u = (v as u16) & 0x1FFF;
                    b.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
                } else if let Ok(v) = i16::try_from(v) {
                    b.push(0xF1);
                    b.extend_from_slice(&v.to_le_bytes());
                } else if (-8_388_608..=8_388_607).contains(&v) {
                    b.push(0xF2);
                    b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                } else if let Ok(v) = i32::try_from(v) {
                    b.push(0xF3);
                    b.extend_from_slice(&v.to_le_bytes());
                } else {
                    b.push(0xF4);
                    b.extend_from_slice(&v.to_le_bytes());
                }
            }
            Elem::Str(s) => {
                let n = s.len();
                if n < 64 {
                    b.push(0x80 | n as u8);
                } else if n < 4096 {
                    b.extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
                } else {
                    b.push(0xF0);
                    b.extend_from_slice(&(n as u32).to_le_bytes());
                }
                b.extend_from_slice(s);
            }
        }
        // The backlen: the entry's size, 7 bits a byte, most significant first,
        // the high bit set on all but the first byte (lpEncodeBacklen).
        let len = b.len() - start;
        let n = match len {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2_097_150 => 3,
            2_097_151..=268_435_454 => 4,
            _ => 5,
        };
        for k in 0..n {
            let bits = ((len >> (7 * (n - 1 - k))) & 0x7F) as u8;
            b.push(if k == 0 { bits } else { bits | 0x80 });
        }
    }
    b.push(0xFF);
    let total = b.len() as u32;
    b[..4].copy_from_slice(&total.to_le_bytes());
    let count = items.len().min(u16::MAX as usize) as u16;
    b[4..6].copy_from_slice(&count.to_le_bytes());
    b
}

/// A ziplist (Redis 3.2-6.2): u32 total bytes, u32 offset of the last entry, u16
/// count, entries each led by the previous entry's size, 0xFF.
fn ziplist(items: &[Elem]) -> Vec<u8> {
    let mut b = vec![0u8; 10];
    let (mut prev, mut tail) = (0usize, 10usize);
    for e in items {
        let start = b.len();
        tail = start;
        if prev < 254 {
            b.push(prev as u8);
        } else {
            b.push(0xFE);
            b.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match e {
            Elem::Int(v) => {
                let v = *v;
                if (0..=12).contains(&v) {
                    b.push(0xF1 + v as u8);
                } else if let Ok(v) = i8::try_from(v) {
                    b.extend_from_slice(&[0xFE, v as u8]);
                } else if let Ok(v) = i16::try_from(v) {
                    b.push(0xC0);
                    b.extend_from_slice(&v.to_le_bytes());
                } else if (-8_388_608..=8_388_607).contains(&v) {
                    b.push(0xF0);
                    b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                } else if let Ok(v) = i32::try_from(v) {
                    b.push(0xD0);
                    b.extend_from_slice(&v.to_le_bytes());
                } else {
                    b.push(0xE0);
                    b.extend_from_slice(&v.to_le_bytes());
                }
            }
            Elem::Str(s) => {
                let n = s.len();
                if n <= 63 {
                    b.push(n as u8);
                } else if n <= 16383 {
                    b.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
                } else {
                    b.push(0x80);
                    b.extend_from_slice(&(n as u32).to_be_bytes());
                }
                b.extend_from_slice(s);
            }
        }
        prev = b.len() - start;
    }
    b.push(0xFF);
    let total = b.len() as u32;
    b[..4].copy_from_slice(&total.to_le_bytes());
    b[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    let count = items.len().min(u16::MAX as usize) as u16;
    b[8..10].copy_from_slice(&count.to_le_bytes());
    b
}

/// An intset: u32 element width, u32 count, the members sorted, little-endian.
fn intset(rng: &mut Rng, members: &mut Vec<i64>) -> Vec<u8> {
    members.sort_unstable();
    members.dedup();
    let need = members.iter().fold(2, |w, &v| {
        if i16::try_from(v).is_ok() {
            w
        } else if i32::try_from(v).is_ok() {
            w.max(4)
        } else {
            8
        }
    });
    // Sometimes wider than needed, which Redis never writes but reads.
    let width = if rng.one_in(8) { 8 } else { need };
    let mut b = Vec::with_capacity(8 + width * members.len());
    b.extend_from_slice(&(width as u32).to_le_bytes());
    b.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for v in members.iter() {
        b.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    b
}

/// A zipmap (Redis 2.x): count, then key length, key, value length, free byte
/// count, value, free bytes for each pair, then 0xFF.
fn zipmap(rng: &mut Rng, pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    fn len(b: &mut Vec<u8>, n: usize) {
        if n < 254 {
            b.push(n as u8);
        } else {
            b.push(254);
            b.extend_from_slice(&(n as u32).to_le_bytes());
        }
    }
    let mut b = vec![pairs.len().min(254) as u8];
    for (k, v) in pairs {
        len(&mut b, k.len());
        b.extend_from_slice(k);
        len(&mut b, v.len());
        let free = if rng.one_in(4) { rng.below(5) } else { 0 };
        b.push(free as u8);
        b.extend_from_slice(v);
        b.extend((0..free).map(|_| rng.byte()));
    }
    b.push(0xFF);
    b
}

/// Packed elements: integers and strings, distinct as rendered when `distinct`.
fn rdb_elems(rng: &mut Rng, n: usize, distinct: bool) -> Vec<Elem> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let e = if rng.one_in(3) {
            Elem::Int(rdb_int(rng))
        } else if n > 60 {
            Elem::Str(rdb_member(rng))
        } else {
            Elem::Str(rdb_string(rng))
        };
        if !distinct || seen.insert(e.rendered()) {
            out.push(e);
        }
    }
    out
}

/// Packed elements, distinct as rendered but for now and then (the loaders
/// refuse duplicate set members, hash fields and sorted-set members).
fn rdb_mostly_distinct(rng: &mut Rng, n: usize) -> Vec<Elem> {
    let distinct = !rng.one_in(16);
    rdb_elems(rng, n, distinct)
}

/// A score as packed sorted sets hold it: an integer or a number's text.
fn rdb_score_elem(rng: &mut Rng) -> Elem {
    match rng.below(8) {
        0 | 1 => Elem::Int(rdb_int(rng)),
        2 => Elem::Str(
            rng.pick_bytes(&[b"inf", b"-inf", b"+inf", b"nan", b"1e", b"", b" 1", b"0x1"])
                .to_vec(),
        ),
        _ => Elem::Str(rdb_score(rng).to_string().into_bytes()),
    }
}

/// Member/score pairs for a packed sorted set, flattened.
fn rdb_zset_elems(rng: &mut Rng, n: usize) -> Vec<Elem> {
    let members = rdb_mostly_distinct(rng, n);
    members
        .into_iter()
        .flat_map(|m| [m, rdb_score_elem(rng)])
        .collect()
}

/// A value in one of the packed or older encodings Writer never writes: its
/// type byte and body (blobs written as RDB strings, so LZF-compressed when
/// `compress` and worth it).
fn rdb_packed_value(rng: &mut Rng, compress: bool) -> (u8, Vec<u8>) {
    use rdb::ty;
    let mut w = Writer::new(compress);
    let n = rdb_count(rng);
    let t = match rng.below(11) {
        0 => {
            w.string(&ziplist(&rdb_elems(rng, n, false)));
            ty::LIST_ZIPLIST
        }
        1 => {
            let mut m: Vec<i64> = (0..n.max(1)).map(|_| rdb_int(rng)).collect();
            w.string(&intset(rng, &mut m));
            ty::SET_INTSET
        }
        2 => {
            w.string(&ziplist(&rdb_zset_elems(rng, n)));
            ty::ZSET_ZIPLIST
        }
        3 => {
            let mut e = rdb_elems(rng, 2 * n, false);
            e.truncate(e.len() & !1);
            w.string(&ziplist(&e));
            ty::HASH_ZIPLIST
        }
        4 => {
            let nodes = 1 + rng.size(4);
            w.length(nodes as u64);
            for _ in 0..nodes {
                let k = rdb_count(rng);
                w.string(&ziplist(&rdb_elems(rng, k, false)));
            }
            ty::LIST_QUICKLIST
        }
        5 => {
            let mut e = rdb_elems(rng, 2 * n, false);
            e.truncate(e.len() & !1);
            w.string(&listpack(&e));
            ty::HASH_LISTPACK
        }
        6 => {
            w.string(&listpack(&rdb_zset_elems(rng, n)));
            ty::ZSET_LISTPACK
        }
        7 => {
            let nodes = 1 + rng.size(4);
            w.length(nodes as u64);
            for _ in 0..nodes {
                if rng.one_in(3) {
                    w.length(1); // a plain node: one element
                    w.string(&rdb_string(rng));
                } else {
                    w.length(2);
                    let k = rdb_count(rng);
                    w.string(&listpack(&rdb_elems(rng, k, false)));
                }
            }
            ty::LIST_QUICKLIST_2
        }
        8 => {
            w.string(&listpack(&rdb_mostly_distinct(rng, n)));
            ty::SET_LISTPACK
        }
        9 => {
            let pairs: Vec<_> = rdb_mostly_distinct(rng, n.max(1))
                .iter()
                .map(|k| (k.rendered(), rdb_string(rng)))
                .collect();
            w.string(&zipmap(rng, &pairs));
            ty::HASH_ZIPMAP
        }
        _ => {
            // The old sorted set: scores as text, or 253/254/255 for nan/+inf/-inf.
            let members = rdb_mostly_distinct(rng, n);
            w.length(members.len() as u64);
            for m in &members {
                w.string(&m.rendered());
                match rng.below(8) {
                    0 => w.byte(*rng.pick(&[253, 254, 255])),
                    _ => {
                        let s = match rdb_score_elem(rng) {
                            Elem::Int(v) => v.to_string().into_bytes(),
                            Elem::Str(s) => s,
                        };
                        w.byte(s.len().min(252) as u8);
                        w.buf.extend_from_slice(&s[..s.len().min(252)]);
                    }
                }
            }
            ty::ZSET
        }
    };
    (t, w.buf)
}

/// A DUMP payload body (type byte and value, without the version and CRC).
fn rdb_payload_body(rng: &mut Rng, out: &mut Vec<u8>) {
    let compress = rng.one_in(2);
    if rng.one_in(3) {
        let (t, body) = rdb_packed_value(rng, compress);
        out.push(t);
        out.extend_from_slice(&body);
    } else {
        let p = rdb::dump_payload(&rdb_value(rng), compress);
        out.extend_from_slice(&p[..p.len() - 10]);
    }
}

/// An RDB file body (everything up to the 8-byte checksum): header and AUX
/// fields, keys of every type in a few databases, with expiries and the other
/// opcodes Redis writes, then EOF.
fn rdb_file_body(rng: &mut Rng, out: &mut Vec<u8>) {
    use rdb::op;
    let compress = rng.one_in(2);
    let mut w = Writer::new(compress);
    let aux: Vec<(&str, Vec<u8>)> = (0..rng.size(4))
        .map(|_| match rng.below(5) {
            0 => ("redis-ver", b"7.0.15".to_vec()),
            1 => ("redis-bits", b"64".to_vec()),
            2 => ("ctime", rdb_int(rng).to_string().into_bytes()),
            3 => ("aof-base", b"0".to_vec()),
            _ => ("used-mem", rdb_string(rng)),
        })
        .collect();
    rdb::write_header(&mut w, &aux);
    let dbs = if rng.one_in(8) { 0 } else { 1 + rng.size(3) };
    for _ in 0..dbs {
        let db = if rng.one_in(32) {
            16 + rng.below(100)
        } else {
            rng.below(16)
        };
        let keys = rng.size(12);
        rdb::write_db_start(&mut w, db, keys as u64, rng.below(keys + 1) as u64);
        for _ in 0..keys {
            let expire_at = match rng.below(6) {
                0 => rng.next_u64(),
                1 => 1 + rng.below(2_000_000_000_000) as u64,
                _ => 0,
            };
            // Now and then an opcode Redis writes between keys.
            match rng.below(12) {
                0 => {
                    w.byte(op::IDLE);
                    w.length(rng.next_u64() >> rng.below(64));
                }
                1 => {
                    w.byte(op::FREQ);
                    w.byte(rng.byte());
                }
                2 => {
                    w.byte(op::SLOT_INFO);
                    for _ in 0..3 {
                        w.length(rng.below(20_000) as u64);
                    }
                }
                3 => {
                    w.byte(op::FUNCTION2);
                    w.string(&rdb_string(rng));
                }
                4 => w.aux("lua", &rdb_string(rng)),
                _ => {}
            }
            let key = rdb_member(rng);
            if rng.one_in(3) {
                let (t, body) = rdb_packed_value(rng, compress);
                if expire_at != 0 {
                    if rng.one_in(2) {
                        w.byte(op::EXPIRETIME);
                        w.buf.extend_from_slice(&(expire_at as u32).to_le_bytes());
                    } else {
                        w.byte(op::EXPIRETIME_MS);
                        w.buf.extend_from_slice(&expire_at.to_le_bytes());
                    }
                }
                w.byte(t);
                w.string(&key);
                w.buf.extend_from_slice(&body);
            } else {
                let mut e = Entry::new(rdb_value(rng));
                e.expire_at = expire_at;
                w.key_value(&key, &e);
            }
        }
    }
    rdb::write_footer(&mut w, false);
    let body = &w.buf[..w.buf.len() - 8];
    if rng.one_in(8) {
        // Another version: older ones have no checksum, newer ones are refused
        // past 12.
        let v = rng.below(14);
        out.extend_from_slice(format!("REDIS{v:04}").as_bytes());
        out.extend_from_slice(&body[9..]);
    } else {
        out.extend_from_slice(body);
    }
}

/// One edit of an RDB body: bit flips, byte values that mean something, random
/// insertions, deletions, duplications, truncation, a 4-byte length or a token.
fn rdb_mutation(rng: &mut Rng, b: &mut Vec<u8>) {
    let len = b.len();
    let pos = rng.below(len + 1);
    match rng.below(9) {
        0 if len > 0 => b[pos.min(len - 1)] ^= 1 << rng.below(8),
        1 if len > 0 => b[pos.min(len - 1)] = rng.byte(),
        2 if len > 0 => {
            b[pos.min(len - 1)] = *rng.pick(&[
                0, 1, 0x3F, 0x40, 0x7F, 0x80, 0x81, 0xBF, 0xC0, 0xC3, 0xC4, 0xE0, 0xF0, 0xF4, 0xF5,
                0xFE, 0xFF,
            ])
        }
        3 => {
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            b.splice(pos..pos, bytes);
        }
        4 if len > 0 => {
            let end = (pos + 1 + rng.size(64)).min(len);
            b.drain(pos.min(len - 1)..end);
        }
        5 if len > 0 => {
            let from = rng.below(len);
            let end = (from + 1 + rng.size(64)).min(len);
            let copy = b[from..end].to_vec();
            b.splice(pos..pos, copy);
        }
        6 => b.truncate(pos),
        7 if len >= 4 => {
            let at = rng.below(len - 3);
            let v: u32 = *rng.pick(&[0, 1, 2, 0x7FFF_FFFF, 0xFFFF_FFFF, len as u32, 65535]);
            let v = if rng.one_in(2) { v } else { v.swap_bytes() };
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        _ => {
            let t = rng.pick(RDB_TOKENS);
            b.splice(pos..pos, t.iter().copied());
        }
    }
}

/// RDB input: a DUMP payload or a whole file, built from random values with
/// `dump_payload` and `Writer` (plus the packed encodings Redis also writes),
/// mostly mutated a little, with its checksum made to match (payloads) or
/// stored as 0, "not checked" (files), so that the damage reaches the decoder.
pub fn rdb_input(rng: &mut Rng, out: &mut Vec<u8>) {
    let mut b = Vec::new();
    let is_file = rng.one_in(2);
    if is_file {
        rdb_file_body(rng, &mut b);
    } else {
        rdb_payload_body(rng, &mut b);
    }
    let edits = match rng.below(4) {
        0 => 0,
        1 => 1,
        2 => 2,
        _ => 1 + rng.below(8),
    };
    for _ in 0..edits {
        rdb_mutation(rng, &mut b);
    }
    if is_file {
        // Mostly "not checked"; sometimes the real checksum, or a wrong one.
        let crc = match rng.below(8) {
            0 => CRC64.checksum(&b),
            1 => rng.next_u64(),
            _ => 0,
        };
        if b.starts_with(b"REDIS000") && b.get(8).is_some_and(|&c| c < b'5') && !rng.one_in(4) {
            // Versions before 5 have no checksum.
        } else {
            b.extend_from_slice(&crc.to_le_bytes());
        }
    } else {
        let version = if rng.one_in(16) {
            rng.below(16) as u16
        } else {
            rdb::RDB_VERSION
        };
        b.extend_from_slice(&version.to_le_bytes());
        let crc = if rng.one_in(16) {
            rng.next_u64()
        } else {
            CRC64.checksum(&b)
        };
        b.extend_from_slice(&crc.to_le_bytes());
    }
    if rng.one_in(16) {
        // Damage after the checksum was set.
        rdb_mutation(rng, &mut b);
    }
    out.extend_from_slice(&b);
}

/// Applies a few random byte-level edits to `data`: bit flips, byte sets, inserts,
/// deletes, duplicated ranges, a splice from `other`, or a token.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], tokens: &[&[u8]]) {
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        let pos = rng.below(len + 1);
        match rng.below(8) {
            0 if len > 0 => data[pos.min(len - 1)] ^= 1 << rng.below(8),
            1 if len > 0 => data[pos.min(len - 1)] = rng.byte(),
            2 => {
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                data.splice(pos..pos, bytes);
            }
            3 if len > 0 => {
                let end = (pos + 1 + rng.size(64)).min(len);
                data.drain(pos.min(len - 1)..end);
            }
            4 if len > 0 => {
                let from = rng.below(len);
                let end = (from + 1 + rng.size(64)).min(len);
                let copy = data[from..end].to_vec();
                data.splice(pos..pos, copy);
            }
            5 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.size(256)).min(other.len());
                data.splice(pos..pos, other[from..end].iter().copied());
            }
            6 if !tokens.is_empty() => {
                let t = rng.pick(tokens);
                data.splice(pos..pos, t.iter().copied());
            }
            7 => data.truncate(pos),
            _ => data.push(rng.byte()),
        }
    }
}
