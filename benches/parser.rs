//! RESP parser and reply-writer micro-benchmarks.
//!
//! Register in Cargo.toml with:
//! ```toml
//! [[bench]]
//! name = "parser"
//! harness = false
//! ```

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use corekv::protocol::{Parser, Proto, Reply};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// One RESP multibulk command.
fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// A pipeline of 16 `SET key:<i> <value>` commands with `value_len`-byte values.
fn set_pipeline(value_len: usize) -> Vec<u8> {
    let value = vec![b'x'; value_len];
    let mut v = Vec::new();
    for i in 0..16 {
        let key = format!("key:{i:012}");
        v.extend_from_slice(&command(&[b"SET", key.as_bytes(), &value]));
    }
    v
}

/// Parses `input` completely, as a connection would after one read.
fn parse_once(parser: &mut Parser, input: &[u8], out: &mut Vec<Vec<Bytes>>) -> usize {
    let mut buf = BytesMut::from(input);
    out.clear();
    parser.parse(&mut buf, out).expect("valid input");
    debug_assert!(buf.is_empty());
    out.len()
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        ("pipeline16_set_3b", set_pipeline(3), 16),
        ("pipeline16_set_100b", set_pipeline(100), 16),
        (
            "bulk_64KiB",
            command(&[b"SET", b"bigkey", &vec![b'v'; 64 * 1024]]),
            1,
        ),
        ("inline_ping", b"PING\r\n".to_vec(), 1),
    ];
    for (name, input, n) in &cases {
        g.throughput(Throughput::Bytes(input.len() as u64));
        let mut parser = Parser::default();
        let mut out = Vec::with_capacity(16);
        assert_eq!(parse_once(&mut parser, input, &mut out), *n);
        g.bench_function(*name, |b| {
            b.iter(|| parse_once(&mut parser, black_box(input), &mut out))
        });
    }
    // The 64 KiB bulk arriving in 4 KiB reads: the incomplete-request path.
    let big = command(&[b"SET", b"bigkey", &vec![b'v'; 64 * 1024]]);
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("bulk_64KiB_in_4KiB_reads", |b| {
        let mut parser = Parser::default();
        let mut out = Vec::new();
        b.iter_batched_ref(
            || BytesMut::with_capacity(big.len()),
            |buf| {
                out.clear();
                for chunk in big.chunks(4096) {
                    buf.extend_from_slice(chunk);
                    parser.parse(buf, &mut out).expect("valid input");
                }
                assert_eq!(out.len(), 1);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_reply(c: &mut Criterion) {
    let mut g = c.benchmark_group("reply");
    let small = vec![b'x'; 3];
    let medium = vec![b'x'; 100];
    let big = vec![b'x'; 64 * 1024];
    for (name, value) in [
        ("bulk16_3b", &small),
        ("bulk16_100b", &medium),
        ("bulk16_64KiB", &big),
    ] {
        g.throughput(Throughput::Elements(16));
        let mut buf = BytesMut::with_capacity(16 * (value.len() + 16));
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                let mut r = Reply::new(&mut buf, Proto::Resp2);
                for _ in 0..16 {
                    r.bulk(black_box(value));
                }
                buf.len()
            })
        });
    }
    g.throughput(Throughput::Elements(16));
    let mut buf = BytesMut::with_capacity(1024);
    let ints: Vec<i64> = (0..16)
        .map(|i| (i as i64 - 8) * 1_234_567_890_123)
        .collect();
    g.bench_function("int16", |b| {
        b.iter(|| {
            buf.clear();
            let mut r = Reply::new(&mut buf, Proto::Resp2);
            for &n in black_box(&ints) {
                r.int(n);
            }
            buf.len()
        })
    });
    g.bench_function("array16_bulk_int", |b| {
        b.iter(|| {
            buf.clear();
            let mut r = Reply::new(&mut buf, Proto::Resp2);
            r.array(16);
            for &n in black_box(&ints) {
                r.bulk_int(n);
            }
            buf.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_parse, bench_reply);
criterion_main!(benches);
