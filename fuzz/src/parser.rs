//! Differential fuzzing of `corekv::protocol::Parser::parse`: the same bytes parsed
//! in one shot and fed incrementally in random-sized chunks (as socket reads would
//! deliver them) must yield the same commands, the same leftover bytes and the same
//! error, and parsing must never panic or consume more than it was given.
//!
//! Input layout: byte 0 seeds the chunk sizes; the rest is the wire data.

use bytes::{Bytes, BytesMut};
use corekv::protocol::{Parser, ProtocolError};

/// Byte-limit errors depend on how much of a request is buffered (Redis behaves the
/// same way: it checks its limits against whatever one read delivered), so a chunked
/// parse may legitimately report them where a one-shot parse does not.
fn is_size_limit(e: &ProtocolError) -> bool {
    e.0.starts_with("too big")
}

struct Outcome {
    cmds: Vec<Vec<Bytes>>,
    left: Vec<u8>,
    err: Option<ProtocolError>,
}

/// Feeds `data` to one parser in chunks from `sizes`; stops at the first error,
/// like a connection does.
fn run(data: &[u8], mut next_size: impl FnMut() -> usize) -> Outcome {
    let mut parser = Parser::default();
    let mut buf = BytesMut::new();
    let mut cmds = Vec::new();
    let mut fed = 0usize;
    let mut consumed = 0usize;
    let mut err = None;
    while fed < data.len() {
        let n = next_size().clamp(1, data.len() - fed);
        buf.extend_from_slice(&data[fed..fed + n]);
        fed += n;
        let before = buf.len();
        let ncmds = cmds.len();
        let r = parser.parse(&mut buf, &mut cmds);
        assert!(buf.len() <= before, "parse grew the buffer");
        consumed += before - buf.len();
        assert!(consumed <= fed, "consumed {consumed} > fed {fed}");
        // What is left must be exactly the unconsumed suffix of the input so far.
        assert_eq!(
            &buf[..],
            &data[consumed..fed],
            "leftover is not the input suffix"
        );
        for cmd in &cmds[ncmds..] {
            assert!(!cmd.is_empty(), "empty command emitted");
        }
        if cmds.len() > ncmds {
            assert!(
                before > buf.len(),
                "commands emitted without consuming input"
            );
        }
        if let Err(e) = r {
            err = Some(e);
            break;
        }
    }
    Outcome {
        cmds,
        left: buf.to_vec(),
        err,
    }
}

/// The fuzz target body: panics when a property is violated.
pub fn check(input: &[u8]) {
    let Some((&seed, data)) = input.split_first() else {
        return;
    };

    let one = run(data, || usize::MAX);

    // Chunk sizes from a xorshift seeded by byte 0; the seed's low bits also pick the
    // size range, so both byte-at-a-time and large reads are exercised.
    let mut s = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
    let max = match seed & 3 {
        0 => 1,
        1 => 4,
        2 => 17,
        _ => 300,
    };
    let chunked = run(data, move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        1 + (s as usize) % max
    });

    match (&one.err, &chunked.err) {
        (_, Some(e)) if is_size_limit(e) => {
            // Limits may trip earlier when data trickles in; what was parsed before
            // must still agree with the one-shot parse.
            assert!(
                chunked.cmds.len() <= one.cmds.len()
                    && one.cmds[..chunked.cmds.len()] == chunked.cmds[..],
                "chunked commands before a size-limit error are not a prefix of the one-shot commands"
            );
        }
        (a, b) => {
            assert_eq!(a, b, "one-shot vs chunked error differs");
            assert_eq!(
                one.cmds, chunked.cmds,
                "one-shot vs chunked commands differ"
            );
            if a.is_none() {
                assert_eq!(
                    one.left, chunked.left,
                    "one-shot vs chunked leftover differs"
                );
            }
        }
    }
}
