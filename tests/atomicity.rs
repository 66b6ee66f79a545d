//! Multi-shard atomicity hammer: the key invariants of corekv's design.
//!
//! A command whose keys live on several shards runs as a transaction: it
//! locks its keys on every involved shard, executes, and releases, so no other
//! command can observe it half done, and lock acquisition in one global order
//! cannot deadlock. Each test starts a 4-shard server, checks that its keys
//! really land on different shards, then races writers against readers (std
//! threads, the `redis` crate) for a bounded time and asserts that readers
//! never see a state that an atomic execution could not produce.
//!
//! A race that never got racy proves nothing, so every test also asserts
//! minimums (see [`Minimums`]): operations completed, reads that overlapped
//! an in-flight write ([`Flight`]), distinct states ("generations") readers
//! observed, and the server's own count of multi-shard transactions (INFO
//! `total_multi_shard_transactions`). A run below a minimum fails, naming
//! what it did not reach. The minimums are a sixth of the lowest counts
//! measured in 18 runs on a shared 2-core machine, half of them with two
//! extra busy-looping processes (a 3 s race typically reaches 5 to 20 times
//! the minimum). States that are rare by nature are reported, not required.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use redis::{Connection, Value};
use support::RawConn;

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

/// INFO `total_multi_shard_transactions` of the server on `port`.
fn multi_shard_transactions(port: u16) -> u64 {
    let mut c = RawConn::connect(port);
    let text = support::info(&mut c, "stats");
    support::info_field(&text, "total_multi_shard_transactions")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO stats lacks total_multi_shard_transactions: {text}"))
}

/// Tracks writes in flight, so readers can tell whether their read
/// overlapped one: a read overlapped a write iff some write started before
/// the read ended and had not finished when the read began.
#[derive(Default)]
struct Flight {
    started: AtomicU64,
    finished: AtomicU64,
    /// Reads that overlapped at least one write.
    overlapped: AtomicU64,
}

impl Flight {
    /// Runs one write, counting it in flight while it runs.
    fn write<T>(&self, op: impl FnOnce() -> T) -> T {
        self.started.fetch_add(1, Ordering::SeqCst);
        let out = op();
        self.finished.fetch_add(1, Ordering::SeqCst);
        out
    }

    /// Runs one read and counts it when it overlapped a write.
    fn read<T>(&self, op: impl FnOnce() -> T) -> T {
        let finished_before = self.finished.load(Ordering::SeqCst);
        let out = op();
        let started_by_end = self.started.load(Ordering::SeqCst);
        if started_by_end > finished_before {
            self.overlapped.fetch_add(1, Ordering::Relaxed);
        }
        out
    }

    fn overlapped(&self) -> u64 {
        self.overlapped.load(Ordering::Relaxed)
    }
}

/// Lower bounds a race must reach; a run below any of them fails.
struct Minimums<'a> {
    test: &'a str,
    failures: Vec<String>,
    report: Vec<String>,
}

impl<'a> Minimums<'a> {
    fn new(test: &'a str) -> Minimums<'a> {
        Minimums {
            test,
            failures: Vec::new(),
            report: Vec::new(),
        }
    }

    /// Records `what` = `got`, failing (at [`Minimums::check`]) below `min`.
    fn at_least(&mut self, what: &str, got: u64, min: u64) -> &mut Self {
        self.report.push(format!("{what}={got} (min {min})"));
        if got < min {
            self.failures.push(format!("{what}: {got} < {min}"));
        }
        self
    }

    /// Records `what` = `got` for the report only (states that are rare by
    /// nature, whose absence proves nothing).
    fn note(&mut self, what: &str, got: u64) -> &mut Self {
        self.report.push(format!("{what}={got}"));
        self
    }

    /// Prints the counts and panics if any minimum was missed.
    fn check(&mut self) {
        eprintln!("{}: {}", self.test, self.report.join(", "));
        assert!(
            self.failures.is_empty(),
            "{}: the race did not reach the racy states it is meant to test \
             (a pass would prove nothing): {}",
            self.test,
            self.failures.join("; ")
        );
    }
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

    /// Joins every thread (re-raising the first panic), prints throughput
    /// and returns each thread's operation count, in spawn order.
    fn finish(self, test: &str) -> Vec<(String, u64)> {
        let mut total = 0;
        let mut failure = None;
        let mut per_thread = Vec::new();
        for (name, h) in self.threads {
            match h.join() {
                Ok(n) => {
                    total += n;
                    per_thread.push((name, n));
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
        let list: Vec<String> = per_thread.iter().map(|(n, c)| format!("{n}={c}")).collect();
        eprintln!(
            "{test}: {total} ops in {secs:.2} s = {:.0} ops/s ({})",
            total as f64 / secs,
            list.join(", ")
        );
        per_thread
    }
}

/// The smallest operation count among threads whose name starts with `prefix`.
fn min_ops(counts: &[(String, u64)], prefix: &str) -> u64 {
    counts
        .iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .map(|(_, c)| *c)
        .min()
        .unwrap_or(0)
}

/// Values of an `MGET` reply as `Option<String>`s.
fn mget(con: &mut Connection, keys: &[&str]) -> Vec<Option<String>> {
    let mut args = vec!["MGET"];
    args.extend_from_slice(keys);
    q(con, &args)
}

/// A counter shared by the threads of a race.
fn counter() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// MSET over three shards is all-or-nothing to MGET: concurrent readers see
/// the three values equal (one writer's one MSET), or all nil after a
/// concurrent `DEL a b c` (every 4th command of writer 0), never a mix of two
/// MSETs or a partial DEL.
#[test]
fn mset_and_del_are_atomic_to_mget() {
    let server = support::start_corekv(SHARDS);
    let keys = ["a", "b", "c"];
    assert_multi_shard(&keys);
    let tx_before = multi_shard_transactions(server.port);
    let flight = Arc::new(Flight::default());
    let mut race = Race::new(server.port, RACE);
    for w in 0..2 {
        let flight = flight.clone();
        race.spawn(&format!("writer{w}"), move |con, n| {
            flight.write(|| {
                if w == 0 && n % 4 == 3 {
                    let _: i64 = q(con, &["DEL", "a", "b", "c"]);
                } else {
                    let x = format!("w{w}-{n}");
                    let _: () = q(con, &["MSET", "a", &x, "b", &x, "c", &x]);
                }
            });
        });
    }
    let seen_nil = counter();
    let changes = counter();
    for r in 0..2 {
        let (seen_nil, changes, flight) = (seen_nil.clone(), changes.clone(), flight.clone());
        let mut last: Option<Vec<Option<String>>> = None;
        race.spawn(&format!("reader{r}"), move |con, _| {
            let v = flight.read(|| mget(con, &keys));
            let all_nil = v.iter().all(Option::is_none);
            let all_equal = v[0].is_some() && v.iter().all(|x| *x == v[0]);
            assert!(all_nil || all_equal, "MGET saw a torn state: {v:?}");
            if all_nil {
                seen_nil.fetch_add(1, Ordering::Relaxed);
            }
            if last.as_ref().is_some_and(|l| *l != v) {
                changes.fetch_add(1, Ordering::Relaxed);
            }
            last = Some(v);
        });
    }
    let ops = race.finish("mset/del vs mget");
    let transactions = multi_shard_transactions(server.port) - tx_before;
    Minimums::new("mset/del vs mget")
        .at_least("writes per writer", min_ops(&ops, "writer"), 39)
        .at_least("reads per reader", min_ops(&ops, "reader"), 40)
        .at_least("reads overlapping a write", flight.overlapped(), 81)
        .at_least("generations seen", get(&changes), 80)
        .at_least("reads that saw the DEL", get(&seen_nil), 8)
        .at_least("multi-shard transactions", transactions, 164)
        .check();
}

/// A value moved around a ring of keys on three shards with RENAME is never
/// lost or duplicated: a concurrent `EXISTS r1 r2 r3` (itself one multi-shard
/// command) always counts exactly 1, `MGET` shows exactly one non-nil value,
/// and at the end exactly one key holds the original value.
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
    let tx_before = multi_shard_transactions(server.port);

    let flight = Arc::new(Flight::default());
    let mut race = Race::new(server.port, RACE);
    let renamed = counter();
    for i in 0..3 {
        let (from, to) = (ring[i], ring[(i + 1) % 3]);
        // Two threads per edge: contention on the same pair as well as around.
        for t in 0..2 {
            let (renamed, flight) = (renamed.clone(), flight.clone());
            race.spawn(&format!("rename{i}.{t}"), move |con, _| {
                match flight.write(|| query::<Value>(con, &["RENAME", from, to])) {
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
    let f = flight.clone();
    race.spawn("exists", move |con, _| {
        let n: i64 = f.read(|| q(con, &["EXISTS", ring_keys[0], ring_keys[1], ring_keys[2]]));
        assert_eq!(n, 1, "EXISTS over the ring counted {n}");
    });
    // Where MGET found the value: it must travel around the whole ring.
    let positions: Arc<Mutex<HashSet<usize>>> = Arc::default();
    let moves = counter();
    let (f, pos, mv) = (flight.clone(), positions.clone(), moves.clone());
    let mut last = None;
    race.spawn("mget", move |con, _| {
        let v = f.read(|| mget(con, &ring_keys));
        let present: Vec<&String> = v.iter().flatten().collect();
        assert_eq!(present, vec!["the-value"], "MGET over the ring: {v:?}");
        let at = v.iter().position(Option::is_some);
        if let Some(at) = at {
            pos.lock().expect("positions lock").insert(at);
            if last.is_some_and(|l| l != at) {
                mv.fetch_add(1, Ordering::Relaxed);
            }
            last = Some(at);
        }
    });
    let ops = race.finish("rename ring");
    let end = mget(&mut con, &ring_keys);
    assert_eq!(
        end.iter().flatten().collect::<Vec<_>>(),
        vec!["the-value"],
        "{end:?}"
    );
    let positions = positions.lock().expect("positions lock").len() as u64;
    let transactions = multi_shard_transactions(server.port) - tx_before;
    Minimums::new("rename ring")
        .at_least("successful renames", get(&renamed), 48)
        .at_least("EXISTS reads", min_ops(&ops, "exists"), 12)
        .at_least("MGET reads", min_ops(&ops, "mget"), 12)
        .at_least("reads overlapping a rename", flight.overlapped(), 24)
        .note("ring positions MGET saw the value at", positions)
        .note("moves MGET saw between reads", get(&moves))
        .at_least("multi-shard transactions", transactions, 146)
        .check();
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
    let tx_before = multi_shard_transactions(server.port);

    let flight = Arc::new(Flight::default());
    let mut race = Race::new(server.port, RACE);
    let f = flight.clone();
    race.spawn("setter", move |con, n| {
        let _: () = f.write(|| q(con, &["SET", src, &(n + 1).to_string()]));
    });
    let f = flight.clone();
    race.spawn("copier", move |con, _| {
        let copied: i64 = f.write(|| q(con, &["COPY", src, dst, "REPLACE"]));
        assert_eq!(copied, 1, "COPY of an existing source failed");
    });
    let f = flight.clone();
    race.spawn("deleter", move |con, n| {
        if n % 3 == 0 {
            let _: i64 = f.write(|| q(con, &["DEL", dst]));
        } else {
            let _: i64 = q(con, &["EXISTS", dst]);
        }
    });
    // What checkers saw: dst missing, dst == src (copy current), dst < src
    // (src moved on after the copy: the interleaving under test).
    let states = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    for r in 0..2 {
        let (f, states) = (flight.clone(), states.clone());
        race.spawn(&format!("checker{r}"), move |con, _| {
            let v = f.read(|| mget(con, &[src, dst]));
            let s: u64 = v[0]
                .as_deref()
                .expect("src is never deleted")
                .parse()
                .expect("src is a number");
            let state = match v[1].as_deref() {
                None => 0,
                Some(d) => {
                    let d: u64 = d.parse().expect("dst is a number");
                    assert!(d <= s, "dst {d} is newer than src {s}");
                    if d == s { 1 } else { 2 }
                }
            };
            states[state].fetch_add(1, Ordering::Relaxed);
        });
    }
    let ops = race.finish("copy/del");
    let transactions = multi_shard_transactions(server.port) - tx_before;
    Minimums::new("copy/del")
        .at_least("SETs", min_ops(&ops, "setter"), 136)
        .at_least("COPYs", min_ops(&ops, "copier"), 44)
        .at_least("checks per checker", min_ops(&ops, "checker"), 53)
        .at_least("checks overlapping a write", flight.overlapped(), 116)
        .at_least("checks that saw dst deleted", get(&states[0]), 33)
        .at_least("checks that saw dst behind src", get(&states[2]), 57)
        .note("checks that saw dst equal to src", get(&states[1]))
        .at_least("multi-shard transactions", transactions, 175)
        .check();
}

/// FLUSHALL empties every shard at one instant relative to multi-shard
/// commands: readers' `MGET p1 p2 p3` see all-nil or all three set to the same
/// MSET's value, never an MSET half flushed.
#[test]
fn flushall_is_atomic() {
    let server = support::start_corekv(SHARDS);
    let keys = ["p1", "p2", "p3"];
    assert_multi_shard(&keys);
    let flight = Arc::new(Flight::default());
    let mut race = Race::new(server.port, RACE);
    let f = flight.clone();
    race.spawn("writer", move |con, n| {
        let x = n.to_string();
        let _: () = f.write(|| q(con, &["MSET", "p1", &x, "p2", &x, "p3", &x]));
    });
    let f = flight.clone();
    race.spawn("flusher", move |con, n| {
        let _: () = f.write(|| q(con, &["FLUSHALL"]));
        // Let some MSETs land in between, else readers only ever see nil.
        if n % 2 == 1 {
            thread::sleep(Duration::from_micros(200));
        }
    });
    let both = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let changes = counter();
    for r in 0..2 {
        let (both, changes, f) = (both.clone(), changes.clone(), flight.clone());
        let mut last: Option<Vec<Option<String>>> = None;
        race.spawn(&format!("reader{r}"), move |con, _| {
            let v = f.read(|| mget(con, &keys));
            if v.iter().all(Option::is_none) {
                both[0].fetch_add(1, Ordering::Relaxed);
            } else {
                assert!(
                    v[0].is_some() && v.iter().all(|x| *x == v[0]),
                    "MGET saw a partial FLUSHALL or torn MSET: {v:?}"
                );
                both[1].fetch_add(1, Ordering::Relaxed);
            }
            if last.as_ref().is_some_and(|l| *l != v) {
                changes.fetch_add(1, Ordering::Relaxed);
            }
            last = Some(v);
        });
    }
    let ops = race.finish("flushall vs mset/mget");
    Minimums::new("flushall vs mset/mget")
        .at_least("MSETs", min_ops(&ops, "writer"), 32)
        .at_least("FLUSHALLs", min_ops(&ops, "flusher"), 28)
        .at_least("reads per reader", min_ops(&ops, "reader"), 32)
        .at_least("reads overlapping a write", flight.overlapped(), 75)
        .at_least("reads that saw all-nil", get(&both[0]), 25)
        .at_least("reads that saw all-set", get(&both[1]), 41)
        .at_least("generations seen", get(&changes), 55)
        .check();
}

/// Multi-shard commands over overlapping key sets, issued in different
/// argument orders by many clients at once, always complete: lock acquisition
/// must not deadlock. A hang fails via the 10 s reply timeout instead of
/// hanging the suite; afterwards the server still answers.
#[test]
fn overlapping_msets_do_not_deadlock() {
    let server = support::start_corekv(SHARDS);
    assert_multi_shard(&["a", "b", "c"]);
    let tx_before = multi_shard_transactions(server.port);
    let mut race = Race::new(server.port, Duration::from_secs(2));
    let patterns: [&[&str]; 6] = [
        &["MSET", "a", "1", "b", "1"],
        &["MSET", "b", "2", "a", "2"],
        &["MSET", "c", "3", "a", "3", "b", "3"],
        &["DEL", "c", "b"],
        &["MGET", "b", "c", "a"],
        &["RENAME", "c", "d"],
    ];
    // Commands that found their locks held by another transaction: the
    // contention a deadlock needs. Sampled from INFO's per-shard `waiting=`.
    let contended = counter();
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
    let c = contended.clone();
    race.spawn("observer", move |con, _| {
        let text: String = q(con, &["INFO", "shards"]);
        let waiting: u64 = text
            .lines()
            .filter_map(|l| l.split(',').find_map(|kv| kv.strip_prefix("waiting=")))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .sum();
        if waiting > 0 {
            c.fetch_add(1, Ordering::Relaxed);
        }
    });
    let ops = race.finish("overlapping msets (deadlock check)");
    let mut con = client(server.port);
    assert_eq!(q::<String>(&mut con, &["PING"]), "PONG");
    let _: () = q(&mut con, &["MSET", "a", "x", "b", "x", "c", "x"]);
    let v = mget(&mut con, &["c", "b", "a"]);
    assert!(v.iter().all(|x| x.as_deref() == Some("x")), "{v:?}");
    let transactions = multi_shard_transactions(server.port) - tx_before;
    Minimums::new("overlapping msets")
        .at_least("commands per client", min_ops(&ops, "p"), 5)
        .at_least("multi-shard transactions", transactions, 99)
        .at_least("INFO samples with lock waiters", get(&contended), 71)
        .check();
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
    let tx_before = multi_shard_transactions(server.port);
    let flight = Arc::new(Flight::default());
    let mut race = Race::new(server.port, RACE);
    for w in 0..3u64 {
        let (a, b, f) = (a.clone(), b.clone(), flight.clone());
        race.spawn(&format!("mover{w}"), move |con, n| {
            let amount = (n % 7 + 1).to_string();
            let (from, to) = if (n + w) % 2 == 0 { (&a, &b) } else { (&b, &a) };
            let r: Vec<i64> = f.write(|| {
                redis::pipe()
                    .atomic()
                    .cmd("DECRBY")
                    .arg(from)
                    .arg(&amount)
                    .cmd("INCRBY")
                    .arg(to)
                    .arg(&amount)
                    .query(con)
                    .expect("EXEC")
            });
            assert_eq!(r.len(), 2, "EXEC returns both replies");
        });
    }
    // Distinct balances of `a` readers saw: transfers landed between reads.
    let balances: Arc<Mutex<HashSet<i64>>> = Arc::default();
    for r in 0..2 {
        let (a, b, f, balances) = (a.clone(), b.clone(), flight.clone(), balances.clone());
        race.spawn(&format!("reader{r}"), move |con, n| {
            let (x, y): (i64, i64) = f.read(|| {
                if n % 2 == 0 {
                    let v = mget(con, &[&a, &b]);
                    let num = |s: &Option<String>| {
                        s.as_deref()
                            .and_then(|s| s.parse::<i64>().ok())
                            .unwrap_or(0)
                    };
                    (num(&v[0]), num(&v[1]))
                } else {
                    redis::pipe()
                        .atomic()
                        .cmd("GET")
                        .arg(&a)
                        .cmd("GET")
                        .arg(&b)
                        .query(con)
                        .expect("EXEC")
                }
            });
            assert_eq!(x + y, 2000, "a transfer was observed half done: {x} + {y}");
            balances.lock().expect("balances lock").insert(x);
        });
    }
    let ops = race.finish("multi/exec transfers");
    let balances = balances.lock().expect("balances lock").len() as u64;
    let transactions = multi_shard_transactions(server.port) - tx_before;
    Minimums::new("multi/exec transfers")
        .at_least("transfers per mover", min_ops(&ops, "mover"), 13)
        .at_least("reads per reader", min_ops(&ops, "reader"), 20)
        .at_least("reads overlapping a transfer", flight.overlapped(), 42)
        .at_least("distinct balances seen", balances, 3)
        .at_least("multi-shard transactions", transactions, 83)
        .check();
}

/// Check-and-set with WATCH on two keys of different shards: clients read
/// both, then write both + 1 in MULTI/EXEC, retrying when EXEC answers nil;
/// a bumper increments both in plain cross-shard EXECs. No update is lost
/// (both keys end at the number of successful EXECs), and a CAS whose two
/// reads straddled a bump (so a watched key changed) never commits.
#[test]
fn watch_check_and_set_loses_no_update() {
    let server = support::start_corekv(SHARDS);
    let keys = pick_distinct_shard_keys("cas", 2);
    let (a, b) = (keys[0].clone(), keys[1].clone());
    let mut con = client(server.port);
    let _: () = q(&mut con, &["MSET", &a, "0", &b, "0"]);
    let (done, aborted) = (counter(), counter());
    let mut race = Race::new(server.port, RACE);
    for w in 0..3 {
        let (a, b, done, aborted) = (a.clone(), b.clone(), done.clone(), aborted.clone());
        race.spawn(&format!("cas{w}"), move |con, _| {
            let _: () = q(con, &["WATCH", &a, &b]);
            let va: i64 = q(con, &["GET", &a]);
            let vb: i64 = q(con, &["GET", &b]);
            let r: Option<Vec<String>> = redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&a)
                .arg(va + 1)
                .cmd("SET")
                .arg(&b)
                .arg(vb + 1)
                .query(con)
                .expect("EXEC");
            // Two GETs may straddle a bump; that bump came after the WATCH,
            // so such an EXEC must fail.
            assert!(
                va == vb || r.is_none(),
                "EXEC ran although a watched key changed ({va} vs {vb})"
            );
            match r {
                Some(_) => done.fetch_add(1, Ordering::Relaxed),
                None => aborted.fetch_add(1, Ordering::Relaxed),
            };
        });
    }
    {
        let (a, b, done) = (a.clone(), b.clone(), done.clone());
        race.spawn("bumper", move |con, _| {
            let _: (i64, i64) = redis::pipe()
                .atomic()
                .cmd("INCR")
                .arg(&a)
                .cmd("INCR")
                .arg(&b)
                .query(con)
                .expect("EXEC");
            done.fetch_add(1, Ordering::Relaxed);
            thread::sleep(Duration::from_millis(1));
        });
    }
    let ops = race.finish("watch check-and-set");
    let va: i64 = q(&mut con, &["GET", &a]);
    let vb: i64 = q(&mut con, &["GET", &b]);
    assert_eq!(
        (va, vb),
        (get(&done) as i64, get(&done) as i64),
        "an update was lost"
    );
    Minimums::new("watch check-and-set")
        .at_least("attempts per CAS client", min_ops(&ops, "cas"), 150)
        .at_least("EXECs that failed on a touched key", get(&aborted), 100)
        .at_least("EXECs that succeeded", get(&done), 150)
        .check();
}
