//! Reply encoding straight into an output buffer, RESP2 or RESP3.
//!
//! Handlers never build reply trees: they call these writers, which append bytes.
//! The few places where RESP2 and RESP3 differ (nulls, maps, sets, doubles,
//! booleans, verbatim strings) are decided here, once.

use bytes::{BufMut, BytesMut};

/// Protocol version negotiated with `HELLO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Proto {
    #[default]
    Resp2,
    Resp3,
}

/// Appends replies to a buffer.
pub struct Reply<'a> {
    pub buf: &'a mut BytesMut,
    pub proto: Proto,
}

impl<'a> Reply<'a> {
    pub fn new(buf: &'a mut BytesMut, proto: Proto) -> Self {
        Reply { buf, proto }
    }

    pub fn resp3(&self) -> bool {
        self.proto == Proto::Resp3
    }

    #[inline]
    fn header(&mut self, tag: u8, n: i64) {
        let mut b = itoa::Buffer::new();
        let s = b.format(n);
        self.buf.reserve(s.len() + 3);
        self.buf.put_u8(tag);
        self.buf.put_slice(s.as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }

    /// `+text`; the text must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.buf.reserve(s.len() + 3);
        self.buf.put_u8(b'+');
        self.buf.put_slice(s.as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    /// `-msg`; `msg` already carries its code (`ERR ...`, `WRONGTYPE ...`).
    pub fn error(&mut self, msg: &str) {
        self.buf.reserve(msg.len() + 3);
        self.buf.put_u8(b'-');
        // CR/LF inside an error would break the stream: Redis replaces them by spaces.
        for &c in msg.as_bytes() {
            self.buf
                .put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.put_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    #[inline]
    pub fn bulk(&mut self, s: &[u8]) {
        self.header(b'$', s.len() as i64);
        self.buf.put_slice(s);
        self.buf.put_slice(b"\r\n");
    }

    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        if self.resp3() {
            self.buf.put_slice(b"_\r\n");
        } else {
            self.buf.put_slice(b"$-1\r\n");
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if self.resp3() {
            self.buf.put_slice(b"_\r\n");
        } else {
            self.buf.put_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs: `%n` in RESP3, a flat array of 2n in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A set: `~n` in RESP3, an array in RESP2.
    pub fn set(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'~', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A double: `,` in RESP3 (Redis's `%.17g` form), a bulk string in RESP2.
    pub fn double(&mut self, d: f64) {
        let text = format_double(d);
        if self.resp3() {
            self.buf.reserve(text.len() + 3);
            self.buf.put_u8(b',');
            self.buf.put_slice(text.as_bytes());
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        if self.resp3() {
            self.buf.put_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// A verbatim string (`=` with a `txt:` prefix) in RESP3, a bulk string in RESP2.
    pub fn verbatim(&mut self, s: &[u8]) {
        if self.resp3() {
            self.header(b'=', s.len() as i64 + 4);
            self.buf.put_slice(b"txt:");
            self.buf.put_slice(s);
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(s);
        }
    }
}

/// The length in bytes of the first complete RESP2/RESP3 value in `buf`
/// (nested aggregates included), or `None` if it is incomplete or malformed.
/// Coordinators use it to split shards' replies into elements.
pub fn value_len(buf: &[u8]) -> Option<usize> {
    let line_end = |from: usize| -> Option<usize> {
        memchr::memchr(b'\n', buf.get(from..)?)
            .map(|i| from + i + 1)
            .filter(|&e| e >= 2 && buf[e - 2] == b'\r')
    };
    let head = line_end(0)?;
    let num = || crate::protocol::parse_i64(&buf[1..head - 2]);
    match *buf.first()? {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(head),
        b'$' | b'=' | b'!' => {
            let n = num()?;
            if n < 0 {
                return Some(head);
            }
            let end = head.checked_add(n as usize)?.checked_add(2)?;
            (end <= buf.len() && &buf[end - 2..end] == b"\r\n").then_some(end)
        }
        t @ (b'*' | b'~' | b'>' | b'%' | b'|') => {
            let n = num()?;
            if n < 0 {
                return Some(head);
            }
            let items = if matches!(t, b'%' | b'|') { n * 2 } else { n };
            let mut at = head;
            for _ in 0..items {
                at += value_len(&buf[at..])?;
            }
            Some(at)
        }
        _ => None,
    }
}

/// Formats a double as Redis does for replies (`%.17g`, with `inf`/`-inf`/`nan`).
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    format_g(d, 17)
}

/// C's `%.<prec>g`: shortest of fixed and exponent forms with `prec` significant
/// digits, trailing zeros removed. Hot for sorted-set replies, so integers take a
/// fast path and the fixed form reuses the digits of the exponent form (one
/// exact conversion instead of two).
pub fn format_g(d: f64, prec: usize) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // An integral value with at most `prec` digits prints as that integer.
    if prec <= 18 && d.fract() == 0.0 && d.abs() < 10f64.powi(prec as i32) {
        return itoa::Buffer::new().format(d as i64).to_string();
    }
    let e = format!("{:.*e}", prec - 1, d);
    let (mant, exp) = match e.split_once('e') {
        Some(p) => p,
        None => return e,
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{}{:02}", mant, sign, exp.abs());
    }
    // Fixed notation from the same `prec` rounded digits, as C derives it.
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    let mut out = String::with_capacity(prec + 8);
    if neg {
        out.push('-');
    }
    if exp >= 0 {
        let int_len = (exp as usize + 1).min(digits.len());
        out.extend(digits[..int_len].iter().map(|&b| b as char));
        if int_len < digits.len() {
            out.push('.');
            out.extend(digits[int_len..].iter().map(|&b| b as char));
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.extend(digits.iter().map(|&b| b as char));
    }
    trim_zeros(&out).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_format_matches_c() {
        assert_eq!(format_g(1.5, 17), "1.5");
        assert_eq!(format_g(0.1, 17), "0.10000000000000001");
        assert_eq!(format_g(1e20, 17), "1e+20");
        assert_eq!(format_g(123456.0, 17), "123456");
        assert_eq!(format_g(1e-5, 17), "1.0000000000000001e-05");
        assert_eq!(format_g(3.0, 17), "3");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_g(-2.5, 17), "-2.5");
        assert_eq!(format_g(0.0001, 17), "0.0001");
        assert_eq!(format_g(-123.0, 17), "-123");
        assert_eq!(format_g(99999999999999999.0, 17), "1e+17");
        assert_eq!(format_g(1e16, 17), "10000000000000000");
    }

    /// The straightforward two-conversion form of `%.17g`, as an oracle.
    fn format_g_slow(d: f64, prec: usize) -> String {
        let e = format!("{:.*e}", prec - 1, d);
        let (mant, exp) = e.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        if exp < -4 || exp >= prec as i32 {
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{}e{}{:02}", trim_zeros(mant), sign, exp.abs())
        } else {
            let decimals = (prec as i32 - 1 - exp).max(0) as usize;
            trim_zeros(&format!("{:.*}", decimals, d)).to_string()
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_g_equals_slow_g(bits in proptest::prelude::any::<u64>(), int in -1_000_000_000i64..1_000_000_000, scale in 0i32..20) {
            for d in [f64::from_bits(bits), int as f64, int as f64 / 10f64.powi(scale), int as f64 * 10f64.powi(scale)] {
                if d.is_finite() && d != 0.0 {
                    proptest::prop_assert_eq!(format_g(d, 17), format_g_slow(d, 17), "{}", d);
                }
            }
        }
    }

    #[test]
    fn resp2_and_resp3_nulls() {
        let mut b = BytesMut::new();
        Reply::new(&mut b, Proto::Resp2).null();
        Reply::new(&mut b, Proto::Resp3).null();
        Reply::new(&mut b, Proto::Resp3).map(2);
        Reply::new(&mut b, Proto::Resp2).map(2);
        assert_eq!(&b[..], b"$-1\r\n_\r\n%2\r\n*4\r\n");
    }

    #[test]
    fn value_lengths() {
        assert_eq!(value_len(b":12\r\n:3"), Some(5));
        assert_eq!(value_len(b"$3\r\nabc\r\n+x"), Some(9));
        assert_eq!(value_len(b"$-1\r\n"), Some(5));
        assert_eq!(value_len(b"*2\r\n$1\r\na\r\n_\r\n!"), Some(14));
        assert_eq!(value_len(b"%1\r\n+k\r\n*1\r\n:1\r\n"), Some(16));
        assert_eq!(value_len(b"$3\r\nab"), None);
        assert_eq!(value_len(b"*2\r\n:1\r\n"), None);
        assert_eq!(value_len(b"?x\r\n"), None);
    }
}
