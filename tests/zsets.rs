//! Sorted sets through the real server (2 shards) and the `redis` crate:
//! multi-key commands whose keys live on different shards, the RESP3 shapes,
//! and the listpack → skiplist conversion.

mod support;

use support::{q, q_err};

/// `n` keys `<prefix><i>`, one per shard of a 2-shard server, first on shard 0.
fn split_keys(prefix: &str) -> (String, String) {
    let mut found: [Option<String>; 2] = [None, None];
    for i in 0..10_000 {
        let k = format!("{prefix}{i}");
        let s = support::shard_of(k.as_bytes(), 2);
        if found[s].is_none() {
            found[s] = Some(k);
        }
        if let [Some(a), Some(b)] = &found {
            return (a.clone(), b.clone());
        }
    }
    panic!("no keys on both shards for {prefix}");
}

#[test]
fn set_operations_across_shards() {
    let server = support::start_corekv(2);
    let mut con = support::redis_client(server.port);
    let (a, b) = split_keys("za");
    let (d0, d1) = split_keys("zdst");
    q::<i64>(&mut con, &["ZADD", &a, "1", "x", "2", "y", "3", "z"]);
    q::<i64>(&mut con, &["ZADD", &b, "10", "y", "20", "z", "30", "w"]);

    let u: Vec<(String, f64)> = q(&mut con, &["ZUNION", "2", &a, &b, "WITHSCORES"]);
    assert_eq!(
        u,
        vec![
            ("x".into(), 1.0),
            ("y".into(), 12.0),
            ("z".into(), 23.0),
            ("w".into(), 30.0)
        ]
    );
    let i: Vec<String> = q(&mut con, &["ZINTER", "2", &a, &b, "AGGREGATE", "MAX"]);
    assert_eq!(i, vec!["y", "z"]);
    let d: Vec<String> = q(&mut con, &["ZDIFF", "2", &a, &b]);
    assert_eq!(d, vec!["x"]);
    assert_eq!(q::<i64>(&mut con, &["ZINTERCARD", "2", &a, &b]), 2);
    assert_eq!(
        q::<i64>(&mut con, &["ZINTERCARD", "2", &a, &b, "LIMIT", "1"]),
        1
    );

    // Destinations on either shard, sources on both.
    for dest in [&d0, &d1] {
        q::<()>(&mut con, &["SET", dest, "old", "EX", "100"]);
        assert_eq!(
            q::<i64>(
                &mut con,
                &["ZUNIONSTORE", dest, "2", &a, &b, "WEIGHTS", "2", "1"]
            ),
            4
        );
        assert_eq!(q::<i64>(&mut con, &["TTL", dest]), -1);
        let got: Vec<(String, f64)> = q(&mut con, &["ZRANGE", dest, "0", "-1", "WITHSCORES"]);
        assert_eq!(got[0], ("x".into(), 2.0));
        assert_eq!(got[3], ("w".into(), 30.0));
        assert_eq!(q::<i64>(&mut con, &["ZINTERSTORE", dest, "2", &a, &b]), 2);
        assert_eq!(q::<f64>(&mut con, &["ZSCORE", dest, "z"]), 23.0);
        assert_eq!(q::<i64>(&mut con, &["ZDIFFSTORE", dest, "2", &a, &b]), 1);
        assert_eq!(q::<i64>(&mut con, &["ZCARD", dest]), 1);
        // An empty result deletes the destination.
        assert_eq!(q::<i64>(&mut con, &["ZDIFFSTORE", dest, "2", &a, &a]), 0);
        assert_eq!(q::<i64>(&mut con, &["EXISTS", dest]), 0);
        // ZRANGESTORE with source and destination on different shards.
        assert_eq!(
            q::<i64>(
                &mut con,
                &["ZRANGESTORE", dest, &b, "(10", "+inf", "BYSCORE"]
            ),
            2
        );
        let got: Vec<String> = q(&mut con, &["ZRANGE", dest, "0", "-1"]);
        assert_eq!(got, vec!["z", "w"]);
        assert_eq!(q::<i64>(&mut con, &["ZRANGESTORE", dest, &b, "5", "9"]), 0);
        assert_eq!(q::<i64>(&mut con, &["EXISTS", dest]), 0);
    }

    // Errors keep Redis's order: numkeys, then types, then options.
    q::<()>(&mut con, &["SET", &d1, "str"]);
    assert!(q_err(&mut con, &["ZUNION", "2", &a, &d1, "WEIGHTS", "x", "y"]).contains("WRONGTYPE"));
    assert!(
        q_err(&mut con, &["ZUNION", "2", &a, &b, "WEIGHTS", "1", "x"])
            .contains("weight value is not a float")
    );
    assert!(
        q_err(&mut con, &["ZUNIONSTORE", &d0, "2", &a, &b, "WITHSCORES"]).contains("syntax error")
    );
    assert!(q_err(&mut con, &["ZRANGESTORE", &d0, &d1, "0", "-1"]).contains("WRONGTYPE"));
    assert_eq!(q::<String>(&mut con, &["GET", &d1]), "str");
}

#[test]
fn conversion_ranks_and_pops_on_a_big_set() {
    let server = support::start_corekv(2);
    let mut con = support::redis_client(server.port);
    let mut args = vec!["ZADD".to_string(), "big".to_string()];
    for i in 0..1000 {
        args.push(((i * 7919) % 1000).to_string());
        args.push(format!("m{:04}", (i * 7919) % 1000));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(q::<i64>(&mut con, &refs), 1000);
    assert_eq!(
        q::<String>(&mut con, &["OBJECT", "ENCODING", "big"]),
        "skiplist"
    );
    assert_eq!(q::<i64>(&mut con, &["ZRANK", "big", "m0500"]), 500);
    assert_eq!(q::<i64>(&mut con, &["ZREVRANK", "big", "m0500"]), 499);
    assert_eq!(q::<i64>(&mut con, &["ZCOUNT", "big", "(100", "200"]), 100);
    let r: Vec<String> = q(
        &mut con,
        &[
            "ZRANGE", "big", "(100", "+inf", "BYSCORE", "LIMIT", "2", "3",
        ],
    );
    assert_eq!(r, vec!["m0103", "m0104", "m0105"]);
    assert_eq!(
        q::<i64>(&mut con, &["ZREMRANGEBYRANK", "big", "0", "99"]),
        100
    );
    let p: Vec<(String, f64)> = q(&mut con, &["ZPOPMIN", "big", "2"]);
    assert_eq!(p, vec![("m0100".into(), 100.0), ("m0101".into(), 101.0)]);
    assert_eq!(q::<i64>(&mut con, &["ZCARD", "big"]), 898);
    // ZSCAN visits every member exactly as a set.
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    loop {
        let (next, items): (String, Vec<String>) =
            q(&mut con, &["ZSCAN", "big", &cursor, "COUNT", "50"]);
        for pair in items.chunks(2) {
            seen.insert(pair[0].clone());
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 898);
    let r: Vec<String> = q(&mut con, &["ZRANDMEMBER", "big", "-5"]);
    assert_eq!(r.len(), 5);
    let r: Vec<String> = q(&mut con, &["ZRANDMEMBER", "big", "10"]);
    let uniq: std::collections::HashSet<_> = r.iter().collect();
    assert_eq!(uniq.len(), 10);
}

#[test]
fn resp3_shapes() {
    let server = support::start_corekv(2);
    let mut raw = support::RawConn::connect(server.port);
    raw.cmd_bytes(&[b"HELLO", b"3"]);
    raw.cmd_bytes(&[b"ZADD", b"z", b"1.1", b"a", b"2", b"b"]);
    assert_eq!(
        raw.cmd_bytes(&[b"ZSCORE", b"z", b"a"]),
        b",1.1000000000000001\r\n"
    );
    assert_eq!(
        raw.cmd_bytes(&[b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES"]),
        b"*2\r\n*2\r\n$1\r\na\r\n,1.1000000000000001\r\n*2\r\n$1\r\nb\r\n,2\r\n"
    );
    assert_eq!(
        raw.cmd_bytes(&[b"ZPOPMIN", b"z"]),
        b"*2\r\n$1\r\na\r\n,1.1000000000000001\r\n"
    );
    assert_eq!(
        raw.cmd_bytes(&[b"ZPOPMAX", b"z", b"1"]),
        b"*1\r\n*2\r\n$1\r\nb\r\n,2\r\n"
    );
    assert_eq!(raw.cmd_bytes(&[b"ZMSCORE", b"z", b"a"]), b"*1\r\n_\r\n");
    assert_eq!(
        raw.cmd_bytes(&[b"ZADD", b"z", b"XX", b"INCR", b"1", b"a"]),
        b"_\r\n"
    );
    assert_eq!(
        raw.cmd_bytes(&[b"ZINCRBY", b"z", b"inf", b"a"]),
        b",inf\r\n"
    );
}
