//! Multi-shard atomicity hammer: the key invariants of corekv's design.
//!
//! A command whose keys live on several shards runs as a transaction (see
//! `src/shard/tx.rs`): it locks its keys on every involved shard, executes, and
//! releases, so no other command can observe it half done, and lock acquisition
//! in one global order cannot deadlock. Each test starts a 4-shard server,
//! checks that its keys really land on different shards, then races writers
//! against readers (std threads, the `redis` crate) for a bounded time and
//! asserts that readers never see a state that an atomic execution could not
//! produce. Throughput is printed (`eprintln!`) but never asserted.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use redis::{Connection, Value};

/// Shards of the server under test.
const SHARDS: usize = 4;
/// How long each race runs.
const RACE: Duration = Duration::from_secs(3);
/// Hard cap on iterations per thread, so every loop is bounded even if the
/// clock misbehaves.
const MAX_ITERS: u64 = 5_000_000;
/// A reply slower than this is treated as a hang (deadlock), failing the test.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Owner shard of a key, by the placement rule restated in `tests/support`
/// (checked against the server by `integration::placement_rule_matches_the_server`).
fn shard_of(key: &str) -> usize {
    support::shard_of(key.as_bytes(), SHARDS)
}

/// Asserts that `keys` span at least two shards, so the commands under test
/// really are multi-shard transactions.
fn assert_multi_shard(keys: &[&str]) {
    let shards: Vec<usize> = keys.iter().map(|k| shard_of(k)).collect();
    assert!(
        shards.iter().any(|&s| s != shards[0]),
        "keys {keys:?} all land on shard {}",
        shards[0]
    );
}

/// A `redis` crate connection whose reads time out after [`REPLY_TIMEOUT`].
fn client(port: u16) -> Connection {
    let con = support::redis_client(port);
    con.set_read_timeout(Some(REPLY_TIMEOUT))
        .expect("set read timeout");
    con.set_write_timeout(Some(REPLY_TIMEOUT))
        .expect("set write timeout");
    con
}

/// Runs a command built from string arguments.
fn query<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> redis::RedisResult<T> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
}

/// Runs a command that must succeed.
fn q<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    query(con, args).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Threads of one race, each counting the operations it completed.
struct Race {
    port: u16,
    start: Instant,
    deadline: Instant,
    threads: Vec<(String, thread::JoinHandle<u64>)>,
}

impl Race {
    fn new(port: u16, duration: Duration) -> Race {
        let start = Instant::now();
        Race {
            port,
            start,
            deadline: start + duration,
            threads: Vec::new(),
        }
    }

    /// Spawns a thread running `step` (one operation, given its index) on its
    /// own connection until the deadline or [`MAX_ITERS`].
    fn spawn(&mut self, name: &str, mut step: impl FnMut(&mut Connection, u64) + Send + 'static) {
        let (port, deadline) = (self.port, self.deadline);
        let handle = thread::spawn(move || {
            let mut con = client(port);
            let mut n = 0;
            while n < MAX_ITERS && Instant::now() < deadline {
                step(&mut con, n);
                n += 1;
            }
            n
        });
        self.threads.push((name.to_string(), handle));
    }

    /// Joins every thread (re-raising the first panic) and prints throughput.
    fn finish(self, test: &str) {
        let mut total = 0;
        let mut failure = None;
        let mut per_thread = Vec::new();
        for (name, h) in self.threads {
            match h.join() {
                Ok(n) => {
                    total += n;
                    per_thread.push(format!("{name}={n}"));
                }
                Err(e) => {
                    failure.get_or_insert((name, e));
                }
            }
        }
        if let Some((name, e)) = failure {
            eprintln!("{test}: thread {name} failed");
            std::panic::resume_unwind(e);
        }
        let secs = self.start.elapsed().as_secs_f64();
        eprintln!(
            "{test}: {total} ops in {secs:.2} s = {:.0} ops/s ({})",
            total as f64 / secs,
            per_thread.join(", ")
        );
    }
}

/// Values of an `MGET` reply as `Option<String>`s.
fn mget(con: &mut Connection, keys: &[&str]) -> Vec<Option<String>> {
    let mut args = vec!["MGET"];
    args.extend_from_slice(keys);
    q(con, &args)
}

/// MSET over three shards is all-or-nothing to MGET: concurrent readers see
/// the three values equal (one writer's one MSET), or all nil after a
/// concurrent `DEL a b c`, never a mix of two MSETs or a partial DEL.
#[test]
fn mset_and_del_are_atomic_to_mget() {
    let server = support::start_corekv(SHARDS);
    let keys = ["a", "b", "c"];
    assert_multi_shard(&keys);
    let mut race = Race::new(server.port, RACE);
    for w in 0..2 {
        race.spawn(&format!("writer{w}"), move |con, n| {
            if w == 0 && n % 50 == 49 {
                let _: i64 = q(con, &["DEL", "a", "b", "c"]);
            } else {
                let x = format!("w{w}-{n}");
                let _: () = q(con, &["MSET", "a", &x, "b", &x, "c", &x]);
            }
        });
    }
    let seen_nil = Arc::new(AtomicU64::new(0));
    for r in 0..2 {
        let seen_nil = seen_nil.clone();
        race.spawn(&format!("reader{r}"), move |con, _| {
            let v = mget(con, &keys);
            let all_nil = v.iter().all(Option::is_none);
            let all_equal = v[0].is_some() && v.iter().all(|x| *x == v[0]);
            assert!(all_nil || all_equal, "MGET saw a torn state: {v:?}");
            if all_nil {
                seen_nil.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    race.finish("mset/del vs mget");
    eprintln!(
        "mset/del vs mget: readers saw all-nil {} times",
        seen_nil.load(Ordering::Relaxed)
    );
}

/// A value moved around a ring of keys on three shards with RENAME is never
/// lost or duplicated: a concurrent `EXISTS r1 r2 r3` (itself one multi-shard
/// command) always counts exactly 1, `MGET` shows exactly one non-nil value,
/// and at the end exactly one key holds the original value. This stands in for
/// a "transfer between accounts" test until MULTI exists.
#[test]
fn rename_ring_never_loses_or_duplicates() {
    let server = support::start_corekv(SHARDS);
    let ring = pick_distinct_shard_keys("r", 3);
    // Leaked (three short strings) so every thread can hold them as `&'static str`.
    let ring: Vec<&'static str> = ring
        .into_iter()
        .map(|k| &*Box::leak(k.into_boxed_str()))
        .collect();
    let mut con = client(server.port);
    let _: () = q(&mut con, &["SET", ring[0], "the-value"]);

    let mut race = Race::new(server.port, RACE);
    let renamed = Arc::new(AtomicU64::new(0));
    for i in 0..3 {
        let (from, to) = (ring[i], ring[(i + 1) % 3]);
        // Two threads per edge: contention on the same pair as well as around.
        for t in 0..2 {
            let renamed = renamed.clone();
            race.spawn(&format!("rename{i}.{t}"), move |con, _| {
                match query::<Value>(con, &["RENAME", from, to]) {
                    Ok(_) => {
                        renamed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => assert!(
                        e.to_string().contains("no such key"),
                        "RENAME {from} {to}: {e}"
                    ),
                }
            });
        }
    }
    let ring_keys = [ring[0], ring[1], ring[2]];
    race.spawn("exists", move |con, _| {
        let n: i64 = q(con, &["EXISTS", ring_keys[0], ring_keys[1], ring_keys[2]]);
        assert_eq!(n, 1, "EXISTS over the ring counted {n}");
    });
    race.spawn("mget", move |con, _| {
        let v = mget(con, &ring_keys);
        let present: Vec<&String> = v.iter().flatten().collect();
        assert_eq!(present, vec!["the-value"], "MGET over the ring: {v:?}");
    });
    race.finish("rename ring");
    eprintln!(
        "rename ring: {} successful renames",
        renamed.load(Ordering::Relaxed)
    );
    let end = mget(&mut con, &ring_keys);
    assert_eq!(
        end.iter().flatten().collect::<Vec<_>>(),
        vec!["the-value"],
        "{end:?}"
    );
}

/// COPY reads its source and writes its destination in one transaction, and
/// MGET reads both at one instant. The source only ever grows (`SET src N`,
/// N increasing, one writer), so any atomic MGET must see `dst` nil (after a
/// concurrent DEL) or a copy no newer than `src`: `dst <= src`. A torn COPY or
/// a torn MGET could show a `dst` newer than `src`.
#[test]
fn copy_and_del_race() {
    let server = support::start_corekv(SHARDS);
    let (src, dst) = ("src", "dst");
    assert_multi_shard(&[src, dst]);
    let mut con = client(server.port);
    let _: () = q(&mut con, &["SET", src, "0"]);

    let mut race = Race::new(server.port, RACE);
    race.spawn("setter", move |con, n| {
        let _: () = q(con, &["SET", src, &(n + 1).to_string()]);
    });
    race.spawn("copier", move |con, _| {
        let copied: i64 = q(con, &["COPY", src, dst, "REPLACE"]);
        assert_eq!(copied, 1, "COPY of an existing source failed");
    });
    race.spawn("deleter", move |con, n| {
        if n % 3 == 0 {
            let _: i64 = q(con, &["DEL", dst]);
        } else {
            let _: i64 = q(con, &["EXISTS", dst]);
        }
    });
    for r in 0..2 {
        race.spawn(&format!("checker{r}"), move |con, _| {
            let v = mget(con, &[src, dst]);
            let s: u64 = v[0]
                .as_deref()
                .expect("src is never deleted")
                .parse()
                .expect("src is a number");
            if let Some(d) = v[1].as_deref() {
                let d: u64 = d.parse().expect("dst is a number");
                assert!(d <= s, "dst {d} is newer than src {s}");
            }
        });
    }
    race.finish("copy/del");
}

/// FLUSHALL empties every shard at one instant relative to multi-shard
/// commands: readers' `MGET p1 p2 p3` see all-nil or all three set to the same
/// MSET's value, never an MSET half flushed.
#[test]
fn flushall_is_atomic() {
    let server = support::start_corekv(SHARDS);
    let keys = ["p1", "p2", "p3"];
    assert_multi_shard(&keys);
    let mut race = Race::new(server.port, RACE);
    race.spawn("writer", move |con, n| {
        let x = n.to_string();
        let _: () = q(con, &["MSET", "p1", &x, "p2", &x, "p3", &x]);
    });
    race.spawn("flusher", move |con, n| {
        let _: () = q(con, &["FLUSHALL"]);
        // Let some MSETs land in between, else readers only ever see nil.
        if n % 2 == 1 {
            thread::sleep(Duration::from_micros(200));
        }
    });
    let both = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    for r in 0..2 {
        let both = both.clone();
        race.spawn(&format!("reader{r}"), move |con, _| {
            let v = mget(con, &keys);
            if v.iter().all(Option::is_none) {
                both[0].fetch_add(1, Ordering::Relaxed);
            } else {
                assert!(
                    v[0].is_some() && v.iter().all(|x| *x == v[0]),
                    "MGET saw a partial FLUSHALL or torn MSET: {v:?}"
                );
                both[1].fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    race.finish("flushall vs mset/mget");
    eprintln!(
        "flushall vs mset/mget: readers saw {} all-nil and {} all-set",
        both[0].load(Ordering::Relaxed),
        both[1].load(Ordering::Relaxed)
    );
}

/// Multi-shard commands over overlapping key sets, issued in different
/// argument orders by many clients at once, always complete: lock acquisition
/// must not deadlock. A hang fails via the 10 s reply timeout instead of
/// hanging the suite; afterwards the server still answers.
#[test]
fn overlapping_msets_do_not_deadlock() {
    let server = support::start_corekv(SHARDS);
    assert_multi_shard(&["a", "b", "c"]);
    let mut race = Race::new(server.port, Duration::from_secs(2));
    let patterns: [&[&str]; 6] = [
        &["MSET", "a", "1", "b", "1"],
        &["MSET", "b", "2", "a", "2"],
        &["MSET", "c", "3", "a", "3", "b", "3"],
        &["DEL", "c", "b"],
        &["MGET", "b", "c", "a"],
        &["RENAME", "c", "d"],
    ];
    for (i, args) in patterns.into_iter().enumerate() {
        for t in 0..2 {
            race.spawn(&format!("p{i}.{t}"), move |con, _| {
                if let Err(e) = query::<Value>(con, args) {
                    assert!(
                        args[0] == "RENAME" && e.to_string().contains("no such key"),
                        "{args:?}: {e}"
                    );
                }
            });
        }
    }
    race.finish("overlapping msets (deadlock check)");
    let mut con = client(server.port);
    assert_eq!(q::<String>(&mut con, &["PING"]), "PONG");
    let _: () = q(&mut con, &["MSET", "a", "x", "b", "x", "c", "x"]);
    let v = mget(&mut con, &["c", "b", "a"]);
    assert!(v.iter().all(|x| x.as_deref() == Some("x")), "{v:?}");
}

/// `n` keys `<prefix><i>` owned by `n` different shards.
fn pick_distinct_shard_keys(prefix: &str, n: usize) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut used = Vec::new();
    for i in 1..10_000 {
        let k = format!("{prefix}{i}");
        let s = shard_of(&k);
        if !used.contains(&s) {
            used.push(s);
            keys.push(k);
            if keys.len() == n {
                return keys;
            }
        }
    }
    panic!("no {n} keys with prefix {prefix} on distinct shards");
}

/// Transfers between two accounts on different shards, each a `MULTI; DECRBY
/// from n; INCRBY to n; EXEC` from several clients: every `MGET` of both, and every
/// read inside its own transaction, sees the total unchanged.
#[test]
fn multi_exec_transfers_keep_the_total() {
    let server = support::start_corekv(SHARDS);
    let keys = pick_distinct_shard_keys("acct", 2);
    let (a, b) = (keys[0].clone(), keys[1].clone());
    let mut con = client(server.port);
    let _: () = q(&mut con, &["MSET", &a, "1000", &b, "1000"]);
    let mut race = Race::new(server.port, RACE);
    for w in 0..3u64 {
        let (a, b) = (a.clone(), b.clone());
        race.spawn(&format!("mover{w}"), move |con, n| {
            let amount = (n % 7 + 1).to_string();
            let (from, to) = if (n + w) % 2 == 0 { (&a, &b) } else { (&b, &a) };
            let r: Vec<i64> = redis::pipe()
                .atomic()
                .cmd("DECRBY")
                .arg(from)
                .arg(&amount)
                .cmd("INCRBY")
                .arg(to)
                .arg(&amount)
                .query(con)
                .expect("EXEC");
            assert_eq!(r.len(), 2, "EXEC returns both replies");
        });
    }
    for r in 0..2 {
        let (a, b) = (a.clone(), b.clone());
        race.spawn(&format!("reader{r}"), move |con, n| {
            let sum: i64 = if n % 2 == 0 {
                mget(con, &[&a, &b])
                    .iter()
                    .map(|v| {
                        v.as_deref()
                            .and_then(|s| s.parse::<i64>().ok())
                            .unwrap_or(0)
                    })
                    .sum()
            } else {
                let (x, y): (i64, i64) = redis::pipe()
                    .atomic()
                    .cmd("GET")
                    .arg(&a)
                    .cmd("GET")
                    .arg(&b)
                    .query(con)
                    .expect("EXEC");
                x + y
            };
            assert_eq!(sum, 2000, "a transfer was observed half done");
        });
    }
    race.finish("multi/exec transfers");
}
