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
    /// Counted for INFO errorstats.
    pub fn error(&mut self, msg: &str) {
        note_error(msg);
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

    /// An out-of-band push of `n` elements (pub/sub messages and confirmations):
    /// `>n` in RESP3, an array in RESP2.
    pub fn push(&mut self, n: usize) {
        self.header(if self.resp3() { b'>' } else { b'*' }, n as i64);
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
        let text = crate::num::format_double(d);
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

    /// A RESP3 verbatim string whose body already starts with its `fmt:`.
    pub fn verbatim_raw(&mut self, body: &[u8]) {
        self.header(b'=', body.len() as i64);
        self.buf.put_slice(body);
        self.buf.put_slice(b"\r\n");
    }

    /// The buffer, for frames this type has no method for.
    pub fn buf_mut(&mut self) -> &mut BytesMut {
        self.buf
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

thread_local! {
    /// Error replies sent by this thread, by code (INFO errorstats).
    static ERRORS: std::cell::RefCell<Vec<(String, u64)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Redis's errorstats: errors are counted by their code, the first word
/// (`ERR`, `WRONGTYPE`, ...); Redis keeps at most 128 codes.
fn note_error(msg: &str) {
    let code = msg.split(' ').next().unwrap_or("");
    ERRORS.with(|e| {
        let mut e = e.borrow_mut();
        match e.iter().position(|(c, _)| c == code) {
            Some(i) => e[i].1 += 1,
            None if e.len() < 128 => e.push((code.to_string(), 1)),
            None => {}
        }
    });
}

/// This thread's error counts, by code.
pub fn error_counts() -> Vec<(String, u64)> {
    ERRORS.with(|e| e.borrow().clone())
}

/// CONFIG RESETSTAT.
pub fn reset_error_counts() {
    ERRORS.with(|e| e.borrow_mut().clear());
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

#[cfg(test)]
mod tests {
    use super::*;

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
