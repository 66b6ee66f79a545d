//! Zero-copy request parser: RESP multibulk and inline commands.
//!
//! The parser walks the connection's read buffer, records argument ranges, then
//! splits the consumed prefix off as one frozen `Bytes` and hands out slices of it:
//! arguments never get copied. Limits and error texts follow Redis 7's
//! `processMultibulkBuffer` / `processInlineBuffer`.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use memchr::memchr;

/// Redis's `proto-max-bulk-len` default.
pub const MAX_BULK_LEN: i64 = 512 * 1024 * 1024;

/// `proto-max-bulk-len` and `client-query-buffer-limit` as set now: read on
/// every bulk header and every read, so CONFIG SET applies to open
/// connections too (a relaxed load each).
static MAX_BULK: AtomicI64 = AtomicI64::new(MAX_BULK_LEN);
static QUERY_BUF_LIMIT: AtomicUsize = AtomicUsize::new(1 << 30);

/// Sets the two request limits (the config applies them).
pub fn set_limits(max_bulk_len: i64, query_buffer_limit: usize) {
    MAX_BULK.store(max_bulk_len, Ordering::Relaxed);
    QUERY_BUF_LIMIT.store(query_buffer_limit, Ordering::Relaxed);
}

/// `proto-max-bulk-len`: the longest argument, and the longest string a
/// command may build.
#[inline]
pub fn max_bulk_len() -> i64 {
    MAX_BULK.load(Ordering::Relaxed)
}

/// `client-query-buffer-limit`: past it, a client's unparsed input closes it.
#[inline]
pub fn query_buffer_limit() -> usize {
    QUERY_BUF_LIMIT.load(Ordering::Relaxed)
}
/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest line without a newline.
pub const MAX_INLINE: usize = 64 * 1024;
/// Redis rejects multibulk counts above `INT_MAX`; so do we, but arguments are
/// only allocated as they arrive, so a huge count costs nothing up front.
const MAX_MULTIBULK: i64 = i32::MAX as i64;

/// A protocol violation: the connection gets `-ERR Protocol error: <msg>` and is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(msg: &str) -> Self {
        ProtocolError(msg.to_string())
    }
}

pub use crate::num::parse_i64;

/// Progress through one multibulk request.
#[derive(Default, Clone, Copy)]
struct MultiBulk {
    /// Arguments still to read; `None` until the `*<n>` header is parsed.
    remaining: Option<i64>,
    /// Offset (from the request's start) of the next unparsed byte.
    pos: usize,
}

/// A multibulk request left incomplete at the front of the buffer by the last read.
struct Partial {
    state: MultiBulk,
    args: Vec<(usize, usize)>,
}

/// Parser state kept across reads, so a request arriving in many reads (a huge
/// pipeline entry, a million-argument command) is parsed once, not once per read.
#[derive(Default)]
pub struct Parser {
    ranges: Vec<(usize, usize)>,
    partial: Option<Partial>,
}

impl Parser {
    /// Parses every complete request at the front of `buf` into `out` (one `Vec<Bytes>`
    /// per command; empty requests are skipped). Stops at the first incomplete request,
    /// leaving its bytes in `buf`. On a protocol error, requests parsed before it are in
    /// `out` and must be executed before the error is sent, as Redis does.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        out: &mut Vec<Vec<Bytes>>,
    ) -> Result<(), ProtocolError> {
        // Argument ranges of all complete commands, with a command boundary marker.
        let mut pos = 0usize;
        // (first range, end range, inline?) per command.
        let mut cmds: Vec<(usize, usize, bool)> = Vec::new();
        self.ranges.clear();
        let mut err = None;
        loop {
            if pos >= buf.len() {
                break;
            }
            let first = self.ranges.len();
            let mut state = MultiBulk::default();
            // A request left incomplete by the last call always sits at the front.
            let resumed = if pos == 0 { self.partial.take() } else { None };
            let inline = resumed.is_none() && buf[pos] != b'*';
            let r = if let Some(p) = resumed {
                state = p.state;
                self.ranges.extend(p.args);
                parse_multibulk(&buf[pos..], &mut state, &mut self.ranges)
            } else if !inline {
                parse_multibulk(&buf[pos..], &mut state, &mut self.ranges)
            } else {
                parse_inline(&buf[pos..], &mut self.ranges)
            };
            match r {
                Ok(Some(used)) => {
                    for r in &mut self.ranges[first..] {
                        r.0 += pos;
                        r.1 += pos;
                    }
                    if self.ranges.len() > first {
                        cmds.push((first, self.ranges.len(), inline));
                    }
                    pos += used;
                }
                Ok(None) => {
                    if !inline {
                        self.partial = Some(Partial {
                            state,
                            args: self.ranges.drain(first..).collect(),
                        });
                    }
                    self.ranges.truncate(first);
                    break;
                }
                Err(e) => {
                    self.ranges.truncate(first);
                    err = Some(e);
                    break;
                }
            }
        }
        if pos > 0 {
            let frozen: Bytes = buf.split_to(pos).freeze();
            for (a, b, inline) in cmds {
                let args = self.ranges[a..b]
                    .iter()
                    .map(|&(s, e)| {
                        let arg = frozen.slice(s..e);
                        if inline { unescape_inline(&arg) } else { arg }
                    })
                    .collect();
                out.push(args);
            }
        }
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Finds the CRLF-terminated line starting at `from`; returns the index of '\r'.
fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let nl = memchr(b'\n', &buf[from..])? + from;
    // Redis looks for '\r' and requires the byte after it to exist; treat a bare
    // '\n' as the end of the line too, with the number ending before it.
    if nl > from && buf[nl - 1] == b'\r' {
        Some(nl - 1)
    } else {
        Some(nl)
    }
}

/// Parses (or resumes) a multibulk request; returns the bytes consumed when
/// complete, `None` when more input is needed (`st` and `ranges` keep the progress).
fn parse_multibulk(
    buf: &[u8],
    st: &mut MultiBulk,
    ranges: &mut Vec<(usize, usize)>,
) -> Result<Option<usize>, ProtocolError> {
    if st.remaining.is_none() {
        let Some(cr) = find_cr(buf, 1) else {
            if buf.len() > MAX_INLINE {
                return Err(ProtocolError::new("too big mbulk count string"));
            }
            return Ok(None);
        };
        if cr + 1 >= buf.len() {
            return Ok(None);
        }
        let count = match parse_i64(&buf[1..cr]) {
            Some(n) if n <= MAX_MULTIBULK => n,
            _ => return Err(ProtocolError::new("invalid multibulk length")),
        };
        st.pos = cr + 2;
        st.remaining = Some(count.max(0));
    }
    while let Some(left) = st.remaining.filter(|&n| n > 0) {
        let pos = st.pos;
        if pos >= buf.len() {
            return Ok(None);
        }
        let Some(cr) = find_cr(buf, pos) else {
            if buf.len() - pos > MAX_INLINE {
                return Err(ProtocolError::new("too big bulk count string"));
            }
            return Ok(None);
        };
        if cr + 1 >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(ProtocolError(format!(
                "expected '$', got '{}'",
                buf[pos] as char
            )));
        }
        let len = match parse_i64(&buf[pos + 1..cr]) {
            Some(n) if (0..=max_bulk_len()).contains(&n) => n as usize,
            _ => return Err(ProtocolError::new("invalid bulk length")),
        };
        let start = cr + 2;
        if buf.len() < start + len + 2 {
            return Ok(None);
        }
        ranges.push((start, start + len));
        st.pos = start + len + 2;
        st.remaining = Some(left - 1);
    }
    Ok(Some(st.pos))
}

/// Redis searches for '\r' to end a header line.
fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    memchr(b'\r', &buf[from..]).map(|i| i + from)
}

fn parse_inline(
    buf: &[u8],
    ranges: &mut Vec<(usize, usize)>,
) -> Result<Option<usize>, ProtocolError> {
    let Some(end) = line_end(buf, 0) else {
        if buf.len() > MAX_INLINE {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    let consumed = if buf.get(end) == Some(&b'\r') {
        end + 2
    } else {
        end + 1
    };
    split_inline_args(&buf[..end], ranges)?;
    Ok(Some(consumed))
}

/// Splits an inline line into arguments like Redis's `sdssplitargs`. Quoted arguments
/// with escapes cannot be zero-copy ranges of the buffer, so they are rejected here
/// only when unbalanced; escapes are handled by [`unescape_inline`] later.
fn split_inline_args(line: &[u8], ranges: &mut Vec<(usize, usize)>) -> Result<(), ProtocolError> {
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let start = i;
        match line[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                loop {
                    if i >= line.len() {
                        return Err(ProtocolError::new("unbalanced quotes in request"));
                    }
                    if line[i] == b'\\' && q == b'"' && i + 1 < line.len() {
                        i += 2;
                        continue;
                    }
                    if line[i] == b'\\' && q == b'\'' && line.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    if line[i] == q {
                        i += 1;
                        // The closing quote must be followed by a space or the end.
                        if i < line.len() && !line[i].is_ascii_whitespace() {
                            return Err(ProtocolError::new("unbalanced quotes in request"));
                        }
                        break;
                    }
                    i += 1;
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    i += 1;
                }
            }
        }
        ranges.push((start, i));
    }
    Ok(())
}

/// Turns a quoted inline argument (as recorded by the splitter) into its value.
pub fn unescape_inline(arg: &Bytes) -> Bytes {
    let s = &arg[..];
    if s.len() < 2 || !(s[0] == b'"' || s[0] == b'\'') {
        return arg.clone();
    }
    let q = s[0];
    let body = &s[1..s.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if q == b'"' && c == b'\\' && i + 1 < body.len() {
            let n = body[i + 1];
            if n == b'x'
                && i + 3 < body.len()
                && body[i + 2].is_ascii_hexdigit()
                && body[i + 3].is_ascii_hexdigit()
            {
                let h = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(h(body[i + 2]) * 16 + h(body[i + 3]));
                i += 4;
                continue;
            }
            out.push(match n {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'b' => 8,
                b'a' => 7,
                other => other,
            });
            i += 2;
        } else if q == b'\'' && c == b'\\' && body.get(i + 1) == Some(&b'\'') {
            out.push(b'\'');
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> (Result<(), ProtocolError>, Vec<Vec<Bytes>>, usize) {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        let r = Parser::default().parse(&mut buf, &mut out);
        (r, out, buf.len())
    }

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"1a",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn multibulk_and_pipeline() {
        let (r, out, left) =
            parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI");
        assert!(r.is_ok());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], vec![Bytes::from("GET"), Bytes::from("a")]);
        assert_eq!(left, 10);
    }

    #[test]
    fn inline_commands() {
        let (r, out, _) = parse_all(b"SET  a b\r\nPING\n\r\n");
        assert!(r.is_ok());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), 3);
        let (r, _, _) = parse_all(b"SET \"a b\r\n");
        assert_eq!(r, Err(ProtocolError::new("unbalanced quotes in request")));
        let (_, out, _) = parse_all(b"SET \"a\\x41 b\" 'c'\r\n");
        assert_eq!(out[0][1], Bytes::from("aA b"));
        assert_eq!(out[0][2], Bytes::from("c"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_all(b"*1\r\n$abc\r\n").0,
            Err(ProtocolError::new("invalid bulk length"))
        );
        assert_eq!(
            parse_all(b"*abc\r\n").0,
            Err(ProtocolError::new("invalid multibulk length"))
        );
        assert_eq!(
            parse_all(b"*1\r\n$999999999999\r\n").0,
            Err(ProtocolError::new("invalid bulk length"))
        );
        assert_eq!(
            parse_all(b"*1\r\nx3\r\n").0,
            Err(ProtocolError::new("expected '$', got 'x'"))
        );
        // Empty multibulks are ignored.
        let (r, out, left) = parse_all(b"*0\r\n*-1\r\n");
        assert!(r.is_ok() && out.is_empty() && left == 0);
    }

    #[test]
    fn resumes_a_request_split_over_reads() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n";
        for cut in 0..input.len() {
            let mut p = Parser::default();
            let mut buf = BytesMut::from(&input[..cut]);
            let mut out = Vec::new();
            p.parse(&mut buf, &mut out).unwrap();
            buf.extend_from_slice(&input[cut..]);
            p.parse(&mut buf, &mut out).unwrap();
            assert_eq!(out.len(), 2, "cut at {cut}");
            assert_eq!(out[0][2], Bytes::from("hello"));
            assert_eq!(out[1][0], Bytes::from("PING"));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn huge_declared_bulk_waits_without_allocating() {
        let (r, out, left) = parse_all(b"*1\r\n$536870912\r\nabc");
        assert!(r.is_ok());
        assert!(out.is_empty());
        assert_eq!(left, 19);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn encode(cmds: &[Vec<Vec<u8>>]) -> Vec<u8> {
            let mut out = Vec::new();
            for args in cmds {
                out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
                for a in args {
                    out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                    out.extend_from_slice(a);
                    out.extend_from_slice(b"\r\n");
                }
            }
            out
        }

        proptest! {
            /// Any pipeline of well-formed requests, cut into any chunks, parses back
            /// to exactly the arguments that were sent, with nothing left over.
            #[test]
            fn chunked_pipelines_round_trip(
                cmds in prop::collection::vec(
                    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6),
                    1..12,
                ),
                cuts in prop::collection::vec(1usize..64, 1..40),
            ) {
                let input = encode(&cmds);
                let mut parser = Parser::default();
                let mut buf = BytesMut::new();
                let mut out = Vec::new();
                let mut pos = 0;
                for c in cuts.iter().cycle() {
                    if pos >= input.len() {
                        break;
                    }
                    let end = (pos + c).min(input.len());
                    buf.extend_from_slice(&input[pos..end]);
                    pos = end;
                    parser.parse(&mut buf, &mut out).unwrap();
                }
                prop_assert!(buf.is_empty());
                let got: Vec<Vec<Vec<u8>>> = out
                    .iter()
                    .map(|c| c.iter().map(|a| a.to_vec()).collect())
                    .collect();
                prop_assert_eq!(got, cmds);
            }

            /// Arbitrary bytes never panic, and never consume more than was given.
            #[test]
            fn garbage_never_panics(input in prop::collection::vec(any::<u8>(), 0..300)) {
                let mut buf = BytesMut::from(&input[..]);
                let mut out = Vec::new();
                let _ = Parser::default().parse(&mut buf, &mut out);
                prop_assert!(buf.len() <= input.len());
            }
        }
    }
}
