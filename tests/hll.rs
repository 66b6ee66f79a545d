//! HyperLogLog through the real binary on 2 shards: accuracy at scale, and
//! multi-key PFCOUNT / PFMERGE whose keys sit on different shards giving the
//! same bytes and counts as when they share one.

mod support;

use support::{q, q_err};

fn shard_of(key: &str) -> usize {
    support::shard_of(key.as_bytes(), 2)
}

/// A key `<prefix><i>` owned by `shard`.
fn key_on(prefix: &str, shard: usize) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| shard_of(k) == shard)
        .expect("some key lands on every shard")
}

/// Adds `elements` to `key` in batches; returns how many PFADDs answered 1.
fn pfadd_all(con: &mut redis::Connection, key: &str, elements: &[String]) -> usize {
    let mut changed = 0;
    for chunk in elements.chunks(10_000) {
        let mut cmd = redis::cmd("PFADD");
        cmd.arg(key);
        for e in chunk {
            cmd.arg(e.as_str());
        }
        changed += cmd.query::<i64>(con).expect("PFADD") as usize;
    }
    changed
}

fn within(count: i64, exact: usize, tolerance: f64) -> bool {
    (count as f64 - exact as f64).abs() <= exact as f64 * tolerance
}

/// 1M distinct elements on one key, 500k of them overlapping with a key on the
/// other shard: single counts, the union count and the merged count are all
/// within 2% of the truth.
#[test]
fn error_bounds_at_scale() {
    let server = support::start_corekv(2);
    let mut con = support::redis_client(server.port);
    let (a, b) = (key_on("big", 0), key_on("big", 1));
    // A cheap deterministic generator: distinct, hash-unfriendly-looking values.
    let elements: Vec<String> = (0..1_500_000u64)
        .map(|i| format!("{:x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .collect();
    pfadd_all(&mut con, &a, &elements[..1_000_000]);
    pfadd_all(&mut con, &b, &elements[500_000..]);
    let ca: i64 = q(&mut con, &["PFCOUNT", &a]);
    let cb: i64 = q(&mut con, &["PFCOUNT", &b]);
    assert!(within(ca, 1_000_000, 0.02), "{ca}");
    assert!(within(cb, 1_000_000, 0.02), "{cb}");
    let union: i64 = q(&mut con, &["PFCOUNT", &a, &b]);
    assert!(within(union, 1_500_000, 0.02), "{union}");
    // Re-adding known elements changes nothing.
    assert_eq!(pfadd_all(&mut con, &a, &elements[..20_000]), 0);
    assert_eq!(q::<String>(&mut con, &["PFMERGE", &a, &b]), "OK");
    assert_eq!(q::<i64>(&mut con, &["PFCOUNT", &a]), union);
    assert_eq!(q::<String>(&mut con, &["PFDEBUG", "ENCODING", &a]), "dense");
}

/// Multi-key commands across shards match the same commands on one shard
/// (hash-tagged keys) byte for byte; the destination keeps its TTL; errors
/// leave no destination behind; a union count leaves its keys untouched.
#[test]
fn across_shards_equals_one_shard() {
    let server = support::start_corekv(2);
    let mut con = support::redis_client(server.port);
    let (x0, x1, d1) = (key_on("x", 0), key_on("x", 1), key_on("d", 1));
    assert_ne!(shard_of(&x0), shard_of(&x1));
    let small: Vec<String> = (0..300).map(|i| format!("s{i}")).collect();
    let large: Vec<String> = (0..5_000).map(|i| format!("l{i}")).collect();
    for (key, els) in [
        (x0.as_str(), &small),
        ("{t}x0", &small),
        (x1.as_str(), &large),
        ("{t}x1", &large),
    ] {
        assert_eq!(pfadd_all(&mut con, key, els), 1);
    }
    let get = |con: &mut redis::Connection, k: &str| q::<Vec<u8>>(con, &["GET", k]);
    // Union counts (never written back: the keys' cache stays invalid).
    let before = get(&mut con, &x0);
    let cross: i64 = q(&mut con, &["PFCOUNT", &x0, &x1, "nokey"]);
    let local: i64 = q(&mut con, &["PFCOUNT", "{t}x0", "{t}x1", "{t}nokey"]);
    assert_eq!(cross, local);
    assert!(within(cross, 5_300, 0.02), "{cross}");
    assert_eq!(get(&mut con, &x0), before);
    // A sparse destination on shard 1 merging a sparse source from shard 0 and
    // a dense one from shard 1.
    q::<i64>(&mut con, &["PFADD", &d1, "a", "b"]);
    q::<i64>(&mut con, &["PFADD", "{t}d", "a", "b"]);
    q::<i64>(&mut con, &["EXPIRE", &d1, "1000"]);
    assert_eq!(q::<String>(&mut con, &["PFMERGE", &d1, &x0, &x1]), "OK");
    assert_eq!(
        q::<String>(&mut con, &["PFMERGE", "{t}d", "{t}x0", "{t}x1"]),
        "OK"
    );
    assert_eq!(get(&mut con, &d1), get(&mut con, "{t}d"));
    let ttl: i64 = q(&mut con, &["TTL", &d1]);
    assert!((990..=1000).contains(&ttl), "{ttl}");
    // A fresh destination on shard 0 from a sparse source on shard 1.
    let (n0, sparse1) = (key_on("n", 0), key_on("sp", 1));
    pfadd_all(&mut con, &sparse1, &small);
    assert_eq!(q::<String>(&mut con, &["PFMERGE", &n0, &sparse1]), "OK");
    assert_eq!(get(&mut con, &n0), {
        q::<String>(&mut con, &["PFMERGE", "{t}n", "{t}x0"]);
        get(&mut con, "{t}n")
    });
    assert_eq!(q::<i64>(&mut con, &["TTL", &n0]), -1);
    // Errors: the first bad key in argument order decides; nothing is created.
    let (bad0, str1, fresh0) = (key_on("bad", 0), key_on("str", 1), key_on("f", 0));
    q::<String>(&mut con, &["SET", &str1, "plain string"]);
    let mut corrupt = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
    corrupt.extend_from_slice(&[0x7f, 0xfe]);
    redis::cmd("SET")
        .arg(&bad0)
        .arg(corrupt)
        .query::<()>(&mut con)
        .expect("SET");
    let not_hll = "WRONGTYPE: Key is not a valid HyperLogLog string value.";
    let corrupt_err = "INVALIDOBJ: Corrupted HLL object detected";
    let e = q_err(&mut con, &["PFMERGE", &fresh0, &str1, &bad0]);
    assert!(
        e.contains("Key is not a valid HyperLogLog"),
        "{e} / {not_hll}"
    );
    let e = q_err(&mut con, &["PFMERGE", &fresh0, &bad0, &str1]);
    assert!(
        e.contains("Corrupted HLL object detected"),
        "{e} / {corrupt_err}"
    );
    let e = q_err(&mut con, &["PFCOUNT", &x1, &bad0]);
    assert!(e.contains("Corrupted HLL object detected"), "{e}");
    assert_eq!(q::<i64>(&mut con, &["EXISTS", &fresh0]), 0);
    // Still serving.
    assert_eq!(q::<String>(&mut con, &["PING"]), "PONG");
}
