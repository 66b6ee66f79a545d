//! List commands end to end: the real `corekv` binary with 2 shards, driven
//! through the `redis` crate. Byte-exact replies and error texts are pinned
//! against redis-server by `tests/corpus/lists.txt`; these tests cover what a
//! corpus cannot: big lists checked against a model, pipelines, transactions and
//! keys on every shard.

mod support;

use support::{keys_on_each_shard, q, q_err};

use std::collections::VecDeque;

use redis::{FromRedisValue, Value};

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn push_pop_range_basics() {
    let server = support::start_corekv(2);
    let mut con = support::redis_client(server.port);

    for key in keys_on_each_shard("basic", 2) {
        let k = key.as_str();
        assert_eq!(q::<i64>(&mut con, &["RPUSH", k, "b", "c"]), 2);
        assert_eq!(q::<i64>(&mut con, &["LPUSH", k, "a", "z"]), 4);
        assert_eq!(
            q::<Vec<String>>(&mut con, &["LRANGE", k, "0", "-1"]),
            ["z", "a", "b", "c"]
        );
        assert_eq!(q::<i64>(&mut con, &["LPUSHX", k, "y"]), 5);
        assert_eq!(q::<i64>(&mut con, &["RPUSHX", k, "d"]), 6);
        assert_eq!(q::<i64>(&mut con, &["LLEN", k]), 6);
        assert_eq!(q::<String>(&mut con, &["TYPE", k]), "list");
        assert_eq!(
            q::<String>(&mut con, &["OBJECT", "ENCODING", k]),
            "quicklist"
        );
        assert_eq!(
            q::<Option<String>>(&mut con, &["LPOP", k]).as_deref(),
            Some("y")
        );
        assert_eq!(
            q::<Option<String>>(&mut con, &["RPOP", k]).as_deref(),
            Some("d")
        );
        assert_eq!(q::<Vec<String>>(&mut con, &["LPOP", k, "2"]), ["z", "a"]);
        assert_eq!(q::<Vec<String>>(&mut con, &["RPOP", k, "5"]), ["c", "b"]);
        assert_eq!(
            q::<i64>(&mut con, &["EXISTS", k]),
            0,
            "emptied list is deleted"
        );
        assert_eq!(q::<Option<String>>(&mut con, &["LPOP", k]), None);
        assert_eq!(q::<Value>(&mut con, &["LPOP", k, "1"]), Value::Nil);
        assert_eq!(q::<i64>(&mut con, &["LPUSHX", k, "x"]), 0);
        assert_eq!(q::<i64>(&mut con, &["EXISTS", k]), 0);
    }

    // Index, set, insert, remove, trim, pos.
    q::<i64>(&mut con, &["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(q::<String>(&mut con, &["LINDEX", "l", "-2"]), "c");
    assert_eq!(q::<Option<String>>(&mut con, &["LINDEX", "l", "9"]), None);
    assert_eq!(q::<String>(&mut con, &["LSET", "l", "1", "B"]), "OK");
    assert!(q_err(&mut con, &["LSET", "l", "5", "x"]).contains("index out of range"));
    assert!(q_err(&mut con, &["LSET", "nol", "0", "x"]).contains("no such key"));
    assert_eq!(q::<i64>(&mut con, &["LINSERT", "l", "AFTER", "c", "d"]), 6);
    assert_eq!(
        q::<i64>(&mut con, &["LINSERT", "l", "BEFORE", "nope", "d"]),
        -1
    );
    assert_eq!(
        q::<i64>(&mut con, &["LINSERT", "nol", "BEFORE", "a", "d"]),
        0
    );
    assert_eq!(q::<i64>(&mut con, &["LPOS", "l", "a", "RANK", "-1"]), 5);
    assert_eq!(
        q::<Vec<i64>>(&mut con, &["LPOS", "l", "a", "COUNT", "0"]),
        [0, 2, 5]
    );
    assert!(q_err(&mut con, &["LPOS", "l", "a", "RANK", "0"]).contains("RANK can't be zero"));
    assert_eq!(q::<i64>(&mut con, &["LREM", "l", "-2", "a"]), 2);
    assert_eq!(
        q::<Vec<String>>(&mut con, &["LRANGE", "l", "0", "-1"]),
        ["a", "B", "c", "d"]
    );
    assert_eq!(q::<String>(&mut con, &["LTRIM", "l", "1", "2"]), "OK");
    assert_eq!(
        q::<Vec<String>>(&mut con, &["LRANGE", "l", "0", "-1"]),
        ["B", "c"]
    );
    assert!(q_err(&mut con, &["LPOP", "l", "-1"]).contains("must be positive"));
    assert_eq!(q::<String>(&mut con, &["LTRIM", "l", "3", "1"]), "OK");
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "l"]), 0);

    // Binary-safe elements, empty ones included.
    let bin: Vec<u8> = (0..=255u8).collect();
    let _: i64 = redis::cmd("RPUSH")
        .arg("bin")
        .arg(&bin[..])
        .arg(&b""[..])
        .arg(&b"\r\n"[..])
        .query(&mut con)
        .unwrap();
    let got: Vec<Vec<u8>> = redis::cmd("LRANGE")
        .arg("bin")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(got, vec![bin.clone(), vec![], b"\r\n".to_vec()]);
    let pos: i64 = redis::cmd("LPOS")
        .arg("bin")
        .arg(&b""[..])
        .query(&mut con)
        .unwrap();
    assert_eq!(pos, 1);
}

#[test]
fn wrongtype_everywhere() {
    let server = support::start_corekv(2);
    let mut con = support::redis_client(server.port);
    q::<String>(&mut con, &["SET", "s", "v"]);
    let cmds: &[&[&str]] = &[
        &["LPUSH", "s", "a"],
        &["RPUSH", "s", "a"],
        &["LPUSHX", "s", "a"],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["RPOP", "s", "2"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "-1"],
        &["LINDEX", "s", "0"],
        &["LSET", "s", "0", "x"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
    ];
    for c in cmds {
        let e = q_err(&mut con, c);
        assert!(e.contains("WRONGTYPE"), "{c:?}: {e}");
    }
    assert_eq!(q::<String>(&mut con, &["GET", "s"]), "v");
    // And the other way round: string commands on a list.
    q::<i64>(&mut con, &["RPUSH", "l", "a"]);
    assert!(q_err(&mut con, &["GET", "l"]).contains("WRONGTYPE"));
    assert!(q_err(&mut con, &["APPEND", "l", "x"]).contains("WRONGTYPE"));
    // SET replaces a list whatever its type.
    q::<String>(&mut con, &["SET", "l", "now a string"]);
    assert_eq!(q::<String>(&mut con, &["TYPE", "l"]), "string");
}

/// 10k-element lists on both shards against a `VecDeque` model: every command
/// with random arguments, the whole list compared after each batch.
#[test]
fn big_lists_match_a_model() {
    let server = support::start_corekv(2);
    let mut con = support::redis_client(server.port);
    let mut rng = Rng(0x5EED_1157);
    for key in keys_on_each_shard("big", 2) {
        let k = key.as_str();
        let mut m: VecDeque<String> = VecDeque::new();
        // 10k elements pushed in batches from both ends.
        for batch in 0..20 {
            let items: Vec<String> = (0..500)
                .map(|i| format!("e{}", (batch * 500 + i) % 97))
                .collect();
            let left = batch % 3 == 0;
            let mut cmd = redis::cmd(if left { "LPUSH" } else { "RPUSH" });
            cmd.arg(k).arg(&items);
            let n: usize = cmd.query(&mut con).unwrap();
            for it in items {
                if left {
                    m.push_front(it);
                } else {
                    m.push_back(it);
                }
            }
            assert_eq!(n, m.len());
        }
        assert_eq!(m.len(), 10_000);
        let all: Vec<String> = q(&mut con, &["LRANGE", k, "0", "-1"]);
        assert_eq!(all, Vec::from(m.clone()));

        for round in 0..400 {
            let len = m.len() as i64;
            let val = format!("e{}", rng.below(100));
            match rng.below(10) {
                0 => {
                    let i = rng.below(len as u64 + 10) as i64 - 5;
                    let got: Option<String> = q(&mut con, &["LINDEX", k, &i.to_string()]);
                    let j = if i < 0 { i + len } else { i };
                    let want = (0..len).contains(&j).then(|| m[j as usize].clone());
                    assert_eq!(got, want, "LINDEX {i}");
                }
                1 => {
                    let i = rng.below(len as u64) as i64;
                    // Sometimes a big element (its own chunk).
                    let v = if rng.below(8) == 0 {
                        "B".repeat(10_000 + round)
                    } else {
                        val.clone()
                    };
                    q::<String>(&mut con, &["LSET", k, &i.to_string(), &v]);
                    m[i as usize] = v;
                }
                2 => {
                    let after = rng.below(2) == 0;
                    let got: i64 = q(
                        &mut con,
                        &[
                            "LINSERT",
                            k,
                            if after { "AFTER" } else { "BEFORE" },
                            &val,
                            "ins",
                        ],
                    );
                    match m.iter().position(|e| *e == val) {
                        Some(p) => {
                            m.insert(if after { p + 1 } else { p }, "ins".into());
                            assert_eq!(got, m.len() as i64);
                        }
                        None => assert_eq!(got, -1),
                    }
                }
                3 => {
                    let count = rng.below(7) as i64 - 3;
                    let got: usize = q(&mut con, &["LREM", k, &count.to_string(), &val]);
                    let limit = if count == 0 {
                        usize::MAX
                    } else {
                        count.unsigned_abs() as usize
                    };
                    let mut removed = 0;
                    if count >= 0 {
                        let mut i = 0;
                        while i < m.len() && removed < limit {
                            if m[i] == val {
                                m.remove(i);
                                removed += 1;
                            } else {
                                i += 1;
                            }
                        }
                    } else {
                        let mut i = m.len();
                        while i > 0 && removed < limit {
                            i -= 1;
                            if m[i] == val {
                                m.remove(i);
                                removed += 1;
                            }
                        }
                    }
                    assert_eq!(got, removed, "LREM {count} {val}");
                }
                4 => {
                    let s = rng.below(len as u64) as i64 - len / 2;
                    let e = s + rng.below(700) as i64;
                    let got: Vec<String> =
                        q(&mut con, &["LRANGE", k, &s.to_string(), &e.to_string()]);
                    let (mut a, mut b) = (s, e);
                    if a < 0 {
                        a += len;
                    }
                    if b < 0 {
                        b += len;
                    }
                    a = a.max(0);
                    let want: Vec<String> = if a > b || a >= len {
                        vec![]
                    } else {
                        m.range(a as usize..=(b.min(len - 1)) as usize)
                            .cloned()
                            .collect()
                    };
                    assert_eq!(got, want, "LRANGE {s} {e}");
                }
                5 => {
                    let left = rng.below(2) == 0;
                    let n = rng.below(300);
                    let got: Vec<String> = q(
                        &mut con,
                        &[if left { "LPOP" } else { "RPOP" }, k, &n.to_string()],
                    );
                    let want: Vec<String> = (0..n)
                        .map_while(|_| if left { m.pop_front() } else { m.pop_back() })
                        .collect();
                    assert_eq!(got, want);
                }
                6 => {
                    let rank = rng.below(5) as i64 - 2;
                    let rank = if rank == 0 { 1 } else { rank };
                    let got: Vec<i64> = q(
                        &mut con,
                        &["LPOS", k, &val, "RANK", &rank.to_string(), "COUNT", "3"],
                    );
                    let hits: Vec<i64> = if rank > 0 {
                        m.iter()
                            .enumerate()
                            .filter(|(_, e)| **e == val)
                            .map(|(i, _)| i as i64)
                            .skip(rank as usize - 1)
                            .take(3)
                            .collect()
                    } else {
                        m.iter()
                            .enumerate()
                            .rev()
                            .filter(|(_, e)| **e == val)
                            .map(|(i, _)| i as i64)
                            .skip((-rank) as usize - 1)
                            .take(3)
                            .collect()
                    };
                    assert_eq!(got, hits, "LPOS {val} RANK {rank}");
                }
                7 => {
                    let left = rng.below(2) == 0;
                    let items: Vec<String> = (0..rng.below(200)).map(|i| format!("p{i}")).collect();
                    if items.is_empty() {
                        continue;
                    }
                    let mut cmd = redis::cmd(if left { "LPUSH" } else { "RPUSH" });
                    cmd.arg(k).arg(&items);
                    let n: usize = cmd.query(&mut con).unwrap();
                    for it in items {
                        if left {
                            m.push_front(it);
                        } else {
                            m.push_back(it);
                        }
                    }
                    assert_eq!(n, m.len());
                }
                8 => {
                    if rng.below(10) == 0 {
                        let (f, b) = (rng.below(50) as i64, rng.below(50) as i64);
                        q::<String>(
                            &mut con,
                            &["LTRIM", k, &f.to_string(), &(-1 - b).to_string()],
                        );
                        for _ in 0..f {
                            m.pop_front();
                        }
                        for _ in 0..b {
                            m.pop_back();
                        }
                    }
                }
                _ => {
                    let got: usize = q(&mut con, &["LLEN", k]);
                    assert_eq!(got, m.len());
                }
            }
            if round % 50 == 49 {
                let all: Vec<String> = q(&mut con, &["LRANGE", k, "0", "-1"]);
                assert_eq!(all, Vec::from(m.clone()), "after round {round}");
            }
        }
        let all: Vec<String> = q(&mut con, &["LRANGE", k, "0", "-1"]);
        assert_eq!(all, Vec::from(m.clone()));
        q::<i64>(&mut con, &["DEL", k]);
    }
}

/// Pipelined list commands on keys of both shards come back in order.
#[test]
fn pipelines_keep_order_across_shards() {
    let server = support::start_corekv(2);
    let mut con = support::redis_client(server.port);
    let keys = keys_on_each_shard("pipe", 2);
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        let k = &keys[i % 2];
        pipe.cmd("RPUSH").arg(k).arg(i);
    }
    for k in &keys {
        pipe.cmd("LLEN").arg(k);
        pipe.cmd("LRANGE").arg(k).arg(0).arg(4);
        pipe.cmd("LPOP").arg(k).arg(3);
        pipe.cmd("RPOP").arg(k);
        pipe.cmd("LINDEX").arg(k).arg(-1);
    }
    let replies: Vec<Value> = pipe.query(&mut con).unwrap();
    assert_eq!(replies.len(), 1010);
    for (i, r) in replies[..1000].iter().enumerate() {
        assert_eq!(*r, Value::Int((i / 2 + 1) as i64), "push {i}");
    }
    let tail = &replies[1000..];
    for (s, k) in keys.iter().enumerate() {
        let r = &tail[s * 5..s * 5 + 5];
        let first: Vec<i64> = (0..5).map(|j| (2 * j + s) as i64).collect();
        assert_eq!(i64::from_redis_value(r[0].clone()).unwrap(), 500, "{k}");
        assert_eq!(Vec::<i64>::from_redis_value(r[1].clone()).unwrap(), first);
        assert_eq!(
            Vec::<i64>::from_redis_value(r[2].clone()).unwrap(),
            &first[..3]
        );
        assert_eq!(
            i64::from_redis_value(r[3].clone()).unwrap(),
            (998 + s) as i64
        );
        assert_eq!(
            i64::from_redis_value(r[4].clone()).unwrap(),
            (996 + s) as i64
        );
    }
    // A pipeline that interleaves writes and reads on one key sees each write.
    let mut pipe = redis::pipe();
    pipe.cmd("DEL").arg("q").ignore();
    for i in 0..100 {
        pipe.cmd("LPUSH").arg("q").arg(i).ignore();
        if i % 10 == 9 {
            pipe.cmd("LPOP").arg("q");
        }
    }
    pipe.cmd("LLEN").arg("q");
    let got: Vec<i64> = pipe.query(&mut con).unwrap();
    let mut want: Vec<i64> = (0..10).map(|j| j * 10 + 9).collect();
    want.push(90);
    assert_eq!(got, want);
}

/// MULTI/EXEC with list commands on keys of both shards runs them in order.
#[test]
fn transactions_with_lists() {
    let server = support::start_corekv(2);
    let mut con = support::redis_client(server.port);
    let keys = keys_on_each_shard("tx", 2);
    let (a, b) = (keys[0].as_str(), keys[1].as_str());
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("RPUSH")
        .arg(a)
        .arg("1")
        .arg("2")
        .cmd("RPUSH")
        .arg(b)
        .arg("3")
        .cmd("LPOP")
        .arg(a)
        .cmd("LRANGE")
        .arg(b)
        .arg(0)
        .arg(-1)
        .cmd("LPUSH")
        .arg(a)
        .arg("x");
    let (n1, n2, popped, range, n3): (i64, i64, String, Vec<String>, i64) =
        pipe.query(&mut con).unwrap();
    assert_eq!(
        (n1, n2, popped.as_str(), range, n3),
        (2, 1, "1", vec!["3".to_string()], 2)
    );
    assert_eq!(
        q::<Vec<String>>(&mut con, &["LRANGE", a, "0", "-1"]),
        ["x", "2"]
    );
}

/// An expired list is gone for every list command.
#[test]
fn expired_lists_are_missing() {
    let server = support::start_corekv(2);
    let mut con = support::redis_client(server.port);
    q::<i64>(&mut con, &["RPUSH", "e", "a", "b"]);
    q::<i64>(&mut con, &["PEXPIRE", "e", "30"]);
    std::thread::sleep(std::time::Duration::from_millis(80));
    assert_eq!(q::<i64>(&mut con, &["LLEN", "e"]), 0);
    assert_eq!(q::<i64>(&mut con, &["RPUSHX", "e", "x"]), 0);
    assert_eq!(q::<i64>(&mut con, &["RPUSH", "e", "x"]), 1);
    assert_eq!(q::<i64>(&mut con, &["TTL", "e"]), -1);
}
