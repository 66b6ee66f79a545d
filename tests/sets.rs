//! Set commands through the real server on 2 shards: multi-key commands whose
//! keys live on different shards (the cross-shard coordinators), RESP3 shapes,
//! and SMOVE's atomicity under concurrent movers and readers.

mod support;

use support::{q, q_err};

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const SHARDS: usize = 2;

/// `n` keys `<prefix><i>`, each owned by a different shard.
fn distinct(prefix: &str, n: usize) -> Vec<String> {
    let mut found: Vec<Option<String>> = vec![None; SHARDS];
    for i in 0..10_000 {
        let key = format!("{prefix}{i}");
        let s = support::shard_of(key.as_bytes(), SHARDS);
        if found[s].is_none() {
            found[s] = Some(key);
        }
        if found.iter().flatten().count() >= n {
            break;
        }
    }
    let keys: Vec<String> = found.into_iter().flatten().take(n).collect();
    assert_eq!(keys.len(), n, "keys on distinct shards for {prefix}");
    keys
}

/// A key with prefix `prefix` on the same shard as `other`, but not `other`.
fn same_shard_as(prefix: &str, other: &str) -> String {
    let want = support::shard_of(other.as_bytes(), SHARDS);
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| k != other && support::shard_of(k.as_bytes(), SHARDS) == want)
        .expect("a key on the wanted shard")
}

fn members(con: &mut redis::Connection, args: &[&str]) -> HashSet<String> {
    q::<Vec<String>>(con, args).into_iter().collect()
}

fn set_of(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn combinations_across_shards() {
    let server = support::start_corekv(SHARDS);
    let mut con = support::redis_client(server.port);
    let k = distinct("x", 2);
    let (a, b) = (k[0].as_str(), k[1].as_str());
    let _: i64 = q(&mut con, &["SADD", a, "1", "2", "3", "x"]);
    let _: i64 = q(&mut con, &["SADD", b, "2", "3", "4", "y"]);

    assert_eq!(members(&mut con, &["SINTER", a, b]), set_of(&["2", "3"]));
    assert_eq!(
        members(&mut con, &["SUNION", a, b, a]),
        set_of(&["1", "2", "3", "4", "x", "y"])
    );
    assert_eq!(members(&mut con, &["SDIFF", a, b]), set_of(&["1", "x"]));
    assert_eq!(members(&mut con, &["SDIFF", b, a]), set_of(&["4", "y"]));
    assert_eq!(q::<i64>(&mut con, &["SINTERCARD", "2", a, b]), 2);
    assert_eq!(
        q::<i64>(&mut con, &["SINTERCARD", "2", a, b, "LIMIT", "1"]),
        1
    );
    assert!(
        q_err(&mut con, &["SINTERCARD", "2", a, b, "LIMIT", "-1"])
            .contains("LIMIT can't be negative")
    );

    // Destinations on either shard, including one of the sources.
    let d_a = same_shard_as("d", a);
    let d_b = same_shard_as("d", b);
    assert_eq!(q::<i64>(&mut con, &["SUNIONSTORE", &d_a, a, b]), 6);
    assert_eq!(q::<i64>(&mut con, &["SCARD", &d_a]), 6);
    assert_eq!(q::<i64>(&mut con, &["SINTERSTORE", &d_b, a, b]), 2);
    assert_eq!(
        q::<String>(&mut con, &["OBJECT", "ENCODING", &d_b]),
        "intset"
    );
    assert_eq!(q::<i64>(&mut con, &["SDIFFSTORE", &d_b, b, a]), 2);
    assert_eq!(members(&mut con, &["SMEMBERS", &d_b]), set_of(&["4", "y"]));
    // An empty result deletes the destination, whatever it held, TTL included.
    let _: () = q(&mut con, &["SET", &d_b, "v", "EX", "100"]);
    assert_eq!(q::<i64>(&mut con, &["SDIFFSTORE", &d_b, a, a]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", &d_b]), 0);
    let _: () = q(&mut con, &["SET", &d_b, "v", "EX", "100"]);
    assert_eq!(q::<i64>(&mut con, &["SINTERSTORE", &d_b, a, b]), 2);
    assert_eq!(q::<i64>(&mut con, &["TTL", &d_b]), -1);
    assert_eq!(q::<i64>(&mut con, &["SUNIONSTORE", a, a, b]), 6);
    assert_eq!(q::<i64>(&mut con, &["SCARD", a]), 6);

    // Type errors on the far shard are reported, and nothing is written.
    let s = same_shard_as("str", b);
    let _: () = q(&mut con, &["SET", &s, "v"]);
    assert!(q_err(&mut con, &["SINTER", a, &s]).contains("wrong kind of value"));
    assert!(q_err(&mut con, &["SUNIONSTORE", &d_a, a, &s]).contains("wrong kind of value"));
    assert_eq!(q::<i64>(&mut con, &["SCARD", &d_a]), 6);
    assert!(q_err(&mut con, &["SINTERCARD", "2", a, &s]).contains("wrong kind of value"));
    assert!(q_err(&mut con, &["SMOVE", a, &s, "1"]).contains("wrong kind of value"));
    assert_eq!(q::<i64>(&mut con, &["SISMEMBER", a, "1"]), 1);
    // Still answering afterwards.
    assert_eq!(q::<String>(&mut con, &["PING"]), "PONG");
}

#[test]
fn smove_across_shards() {
    let server = support::start_corekv(SHARDS);
    let mut con = support::redis_client(server.port);
    let k = distinct("mv", 2);
    let (a, b) = (k[0].as_str(), k[1].as_str());
    let _: i64 = q(&mut con, &["SADD", a, "m", "n"]);
    assert_eq!(q::<i64>(&mut con, &["SMOVE", a, b, "zz"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", b]), 0);
    assert_eq!(q::<i64>(&mut con, &["SMOVE", a, b, "m"]), 1);
    assert_eq!(members(&mut con, &["SMEMBERS", b]), set_of(&["m"]));
    assert_eq!(q::<i64>(&mut con, &["SMOVE", a, b, "n"]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", a]), 0);
    assert_eq!(q::<i64>(&mut con, &["SMOVE", a, b, "n"]), 0);
    assert_eq!(q::<i64>(&mut con, &["SCARD", b]), 2);
    // Inside MULTI/EXEC too.
    let r: Vec<i64> = redis::pipe()
        .atomic()
        .cmd("SMOVE")
        .arg(b)
        .arg(a)
        .arg("m")
        .cmd("SCARD")
        .arg(a)
        .query(&mut con)
        .expect("EXEC");
    assert_eq!(r, vec![1, 1]);
}

#[test]
fn resp3_shapes() {
    let server = support::start_corekv(SHARDS);
    let mut raw = support::RawConn::connect(server.port);
    raw.cmd(&["HELLO", "3"]);
    let k = distinct("r", 2);
    raw.cmd(&["SADD", &k[0], "x"]);
    raw.cmd(&["SADD", &k[1], "x"]);
    assert_eq!(raw.cmd(&["SMEMBERS", &k[0]]), b"~1\r\n$1\r\nx\r\n");
    assert_eq!(raw.cmd(&["SINTER", &k[0], &k[1]]), b"~1\r\n$1\r\nx\r\n");
    assert_eq!(raw.cmd(&["SUNION", &k[0], &k[1]]), b"~1\r\n$1\r\nx\r\n");
    assert_eq!(raw.cmd(&["SDIFF", &k[0], &k[1]]), b"~0\r\n");
    assert_eq!(raw.cmd(&["SPOP", "nosuch"]), b"_\r\n");
    assert_eq!(raw.cmd(&["SPOP", &k[0], "3"]), b"~1\r\n$1\r\nx\r\n");
    assert_eq!(raw.cmd(&["SRANDMEMBER", &k[1], "3"]), b"*1\r\n$1\r\nx\r\n");
}

#[test]
fn random_commands_keep_sizes_and_membership() {
    let server = support::start_corekv(SHARDS);
    let mut con = support::redis_client(server.port);
    for (key, strings) in [("ri", false), ("rs", true)] {
        let all: Vec<String> = (0..300)
            .map(|i| {
                if strings {
                    format!("m{i}")
                } else {
                    i.to_string()
                }
            })
            .collect();
        let mut args = vec!["SADD", key];
        args.extend(all.iter().map(String::as_str));
        assert_eq!(q::<i64>(&mut con, &args), 300);
        let universe: HashSet<String> = all.iter().cloned().collect();
        for count in [1usize, 5, 100, 299, 300, 1000] {
            let got: Vec<String> = q(&mut con, &["SRANDMEMBER", key, &count.to_string()]);
            let uniq: HashSet<String> = got.iter().cloned().collect();
            assert_eq!(got.len(), count.min(300));
            assert_eq!(uniq.len(), got.len(), "distinct members");
            assert!(uniq.is_subset(&universe));
        }
        let got: Vec<String> = q(&mut con, &["SRANDMEMBER", key, "-1000"]);
        assert_eq!(got.len(), 1000);
        assert!(got.iter().all(|m| universe.contains(m)));
        let mut left = universe.clone();
        for count in [1usize, 10, 100] {
            let popped: Vec<String> = q(&mut con, &["SPOP", key, &count.to_string()]);
            assert_eq!(popped.len(), count);
            for m in popped {
                assert!(left.remove(&m), "popped {m} twice or never added");
            }
            assert_eq!(q::<usize>(&mut con, &["SCARD", key]), left.len());
        }
        let one: String = q(&mut con, &["SPOP", key]);
        assert!(left.remove(&one));
        let rest: Vec<String> = q(&mut con, &["SPOP", key, "1000"]);
        assert_eq!(rest.into_iter().collect::<HashSet<_>>(), left);
        assert_eq!(q::<i64>(&mut con, &["EXISTS", key]), 0);
    }
}

#[test]
fn sscan_walks_a_big_set_while_it_changes() {
    let server = support::start_corekv(SHARDS);
    let mut con = support::redis_client(server.port);
    let all: Vec<String> = (0..2000).map(|i| format!("e{i}")).collect();
    for chunk in all.chunks(500) {
        let mut args = vec!["SADD", "big"];
        args.extend(chunk.iter().map(String::as_str));
        let _: i64 = q(&mut con, &args);
    }
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut round = 0;
    loop {
        let (next, batch): (String, Vec<String>) =
            q(&mut con, &["SSCAN", "big", &cursor, "COUNT", "50"]);
        seen.extend(batch);
        // Churn that must not hide the members present throughout.
        let _: i64 = q(&mut con, &["SADD", "big", &format!("new{round}")]);
        let _: i64 = q(&mut con, &["SREM", "big", &format!("new{round}")]);
        round += 1;
        cursor = next;
        if cursor == "0" {
            break;
        }
        assert!(round < 10_000, "SSCAN does not terminate");
    }
    assert!(all.iter().all(|m| seen.contains(m)));
}

/// Movers SMOVE one member between two sets on different shards while readers
/// check, inside MULTI/EXEC and with SUNION, that it is in exactly one of them.
#[test]
fn smove_hammer_member_is_always_in_exactly_one_set() {
    let server = support::start_corekv(SHARDS);
    let k = distinct("hammer", 2);
    let (a, b) = (k[0].clone(), k[1].clone());
    let mut con = support::redis_client(server.port);
    let _: i64 = q(&mut con, &["SADD", &a, "m", "keep"]);
    let _: i64 = q(&mut con, &["SADD", &b, "keep"]);
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut handles = Vec::new();
    for w in 0..3 {
        let (a, b, stop) = (a.clone(), b.clone(), stop.clone());
        let port = server.port;
        handles.push(thread::spawn(move || {
            let mut con = support::redis_client(port);
            let mut moved = 0u64;
            for n in 0..50_000u64 {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                let (from, to) = if (n + w) % 2 == 0 { (&a, &b) } else { (&b, &a) };
                let r: i64 = q(&mut con, &["SMOVE", from, to, "m"]);
                moved += r as u64;
            }
            moved
        }));
    }
    let mut readers = Vec::new();
    for r in 0..2 {
        let (a, b, stop) = (a.clone(), b.clone(), stop.clone());
        let port = server.port;
        readers.push(thread::spawn(move || {
            let mut con = support::redis_client(port);
            let mut checks = 0u64;
            for n in 0..50_000u64 {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                let sum = if (n + r) % 3 == 0 {
                    let u: Vec<String> = q(&mut con, &["SUNION", &a, &b]);
                    assert_eq!(u.len(), 2, "SUNION saw {u:?}");
                    let c: i64 = q(&mut con, &["SINTERCARD", "2", &a, &b]);
                    assert_eq!(c, 1, "SINTERCARD saw the member in both sets");
                    1
                } else {
                    let (x, y): (i64, i64) = redis::pipe()
                        .atomic()
                        .cmd("SISMEMBER")
                        .arg(&a)
                        .arg("m")
                        .cmd("SISMEMBER")
                        .arg(&b)
                        .arg("m")
                        .query(&mut con)
                        .expect("EXEC");
                    x + y
                };
                if sum != 1 {
                    stop.store(true, Ordering::Relaxed);
                    panic!("member seen {sum} times");
                }
                checks += 1;
            }
            checks
        }));
    }
    let moved: u64 = handles.into_iter().map(|h| h.join().expect("mover")).sum();
    let checks: u64 = readers.into_iter().map(|h| h.join().expect("reader")).sum();
    assert!(moved > 0 && checks > 0, "moved {moved}, checks {checks}");
    let x: i64 = q(&mut con, &["SISMEMBER", &a, "m"]);
    let y: i64 = q(&mut con, &["SISMEMBER", &b, "m"]);
    assert_eq!(x + y, 1);
}
