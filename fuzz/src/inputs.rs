//! Input generation and mutation for the stable driver: a seeded PRNG, one
//! structure-aware generator per target, and a byte-level mutator.
//!
//! libFuzzer finds the RESP grammar by itself through coverage feedback; a blind
//! random loop does not (random bytes almost never form `*2\r\n$3\r\nGET\r\n...`),
//! so the parser generator writes mostly well-formed requests and then breaks them
//! in the ways the parser must handle: wrong lengths, bad headers, unbalanced
//! quotes, truncation, lines past the size limits.

use std::io::Write;

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
