//! Hash commands against the real binary (2 shards): the parts the differential
//! corpus cannot compare byte for byte because they are random (HRANDFIELD),
//! depend on table order (HSCAN on a hashtable), or need many commands (a model
//! check of HSET/HDEL/HINCRBY across the listpack -> hashtable conversion).
//! None of this needs redis-server.

mod support;

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use support::{RawConn, Server, escape};

/// A decoded reply.
#[derive(Debug, Clone, PartialEq)]
enum R {
    Simple(String),
    Err(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<R>),
    Map(Vec<(R, R)>),
}

impl R {
    fn bulk(&self) -> &[u8] {
        match self {
            R::Bulk(b) => b,
            other => panic!("expected a bulk string, got {other:?}"),
        }
    }

    fn array(&self) -> &[R] {
        match self {
            R::Array(a) => a,
            other => panic!("expected an array, got {other:?}"),
        }
    }

    fn int(&self) -> i64 {
        match self {
            R::Int(n) => *n,
            other => panic!("expected an integer, got {other:?}"),
        }
    }
}

/// Decodes one reply at the start of `b`; returns it and the bytes it used.
fn decode(b: &[u8]) -> (R, usize) {
    let end = b.windows(2).position(|w| w == b"\r\n").expect("CRLF");
    let line = std::str::from_utf8(&b[1..end]).expect("utf8 header");
    let mut pos = end + 2;
    let num = || line.parse::<i64>().expect("number");
    let r = match b[0] {
        b'+' => R::Simple(line.to_string()),
        b'-' => R::Err(line.to_string()),
        b':' => R::Int(num()),
        b'_' => R::Null,
        b'$' if num() < 0 => R::Null,
        b'$' => {
            let n = num() as usize;
            let s = b[pos..pos + n].to_vec();
            pos += n + 2;
            R::Bulk(s)
        }
        b'*' if num() < 0 => R::Null,
        b'*' | b'~' => {
            let mut v = Vec::new();
            for _ in 0..num() {
                let (e, used) = decode(&b[pos..]);
                v.push(e);
                pos += used;
            }
            R::Array(v)
        }
        b'%' => {
            let mut v = Vec::new();
            for _ in 0..num() {
                let (k, used) = decode(&b[pos..]);
                pos += used;
                let (val, used) = decode(&b[pos..]);
                pos += used;
                v.push((k, val));
            }
            R::Map(v)
        }
        other => panic!("unexpected reply type {:?} in {}", other as char, escape(b)),
    };
    (r, pos)
}

struct Client {
    conn: RawConn,
}

impl Client {
    fn new(server: &Server, resp3: bool) -> Client {
        let mut conn = RawConn::connect(server.port);
        if resp3 {
            let hello = conn.cmd(&["HELLO", "3"]);
            assert_eq!(hello[0], b'%', "HELLO 3: {}", escape(&hello));
        }
        Client { conn }
    }

    fn raw(&mut self, args: &[&str]) -> Vec<u8> {
        self.conn.cmd(args)
    }

    fn cmd(&mut self, args: &[&str]) -> R {
        let raw = self.conn.cmd(args);
        let (r, used) = decode(&raw);
        assert_eq!(used, raw.len(), "one reply: {}", escape(&raw));
        r
    }

    fn cmd_bytes(&mut self, args: &[&[u8]]) -> R {
        let raw = self.conn.cmd_bytes(args);
        decode(&raw).0
    }

    fn hset_many(&mut self, key: &str, fields: impl Iterator<Item = (String, String)>) {
        let mut args = vec!["HSET".to_string(), key.to_string()];
        for (f, v) in fields {
            args.push(f);
            args.push(v);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        assert!(matches!(self.cmd(&refs), R::Int(_)));
    }

    fn encoding(&mut self, key: &str) -> String {
        String::from_utf8(self.cmd(&["OBJECT", "ENCODING", key]).bulk().to_vec()).unwrap()
    }

    fn hgetall(&mut self, key: &str) -> HashMap<Vec<u8>, Vec<u8>> {
        let r = self.cmd(&["HGETALL", key]);
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = match r {
            R::Map(m) => m
                .into_iter()
                .map(|(k, v)| (k.bulk().to_vec(), v.bulk().to_vec()))
                .collect(),
            R::Array(a) => a
                .chunks(2)
                .map(|c| (c[0].bulk().to_vec(), c[1].bulk().to_vec()))
                .collect(),
            other => panic!("HGETALL: {other:?}"),
        };
        let n = pairs.len();
        let map: HashMap<_, _> = pairs.into_iter().collect();
        assert_eq!(map.len(), n, "HGETALL repeats a field");
        map
    }
}

/// `n` fields `f0..` with values `v0..`.
fn fields(n: usize) -> impl Iterator<Item = (String, String)> {
    (0..n).map(|i| (format!("f{i}"), format!("v{i}")))
}

/// Checks one HRANDFIELD-with-count reply: its shape for the protocol, that
/// every pair is real, and distinctness when `count` is positive.
fn check_randfield(
    c: &mut Client,
    key: &str,
    count: i64,
    withvalues: bool,
    resp3: bool,
    size: usize,
) -> Vec<Vec<u8>> {
    let n = count.to_string();
    let mut args = vec!["HRANDFIELD", key, &n];
    if withvalues {
        args.push("WITHVALUES");
    }
    let reply = c.cmd(&args);
    let items = reply.array();
    let want = if count < 0 {
        count.unsigned_abs() as usize
    } else {
        (count as usize).min(size)
    };
    let pairs: Vec<(Vec<u8>, Option<Vec<u8>>)> = if !withvalues {
        items.iter().map(|f| (f.bulk().to_vec(), None)).collect()
    } else if resp3 {
        items
            .iter()
            .map(|p| {
                let p = p.array();
                assert_eq!(p.len(), 2, "RESP3 pairs are 2-element arrays");
                (p[0].bulk().to_vec(), Some(p[1].bulk().to_vec()))
            })
            .collect()
    } else {
        assert_eq!(items.len() % 2, 0, "RESP2 WITHVALUES is flat");
        items
            .chunks(2)
            .map(|p| (p[0].bulk().to_vec(), Some(p[1].bulk().to_vec())))
            .collect()
    };
    assert_eq!(pairs.len(), want, "{args:?}");
    for (f, v) in &pairs {
        let i: usize = std::str::from_utf8(&f[1..]).unwrap().parse().unwrap();
        assert!(
            f[0] == b'f' && i < size,
            "{args:?}: bad field {}",
            escape(f)
        );
        if let Some(v) = v {
            assert_eq!(
                v,
                format!("v{i}").as_bytes(),
                "{args:?}: value of the field"
            );
        }
    }
    let fields: Vec<Vec<u8>> = pairs.into_iter().map(|(f, _)| f).collect();
    if count > 0 {
        let uniq: HashSet<&Vec<u8>> = fields.iter().collect();
        assert_eq!(uniq.len(), fields.len(), "{args:?}: repeated field");
    }
    fields
}

#[test]
fn hrandfield_shapes_counts_and_randomness() {
    let server = support::start_corekv(2);
    for resp3 in [false, true] {
        let mut c = Client::new(&server, resp3);
        // A listpack and a hashtable.
        for (key, size, enc) in [("small", 5, "listpack"), ("large", 700, "hashtable")] {
            c.hset_many(key, fields(size));
            assert_eq!(c.encoding(key), enc);
            for withvalues in [false, true] {
                for count in [1, 2, 3, 4, size as i64 / 3, size as i64 - 1] {
                    check_randfield(&mut c, key, count, withvalues, resp3, size);
                }
                // More than there are: the whole hash, once each.
                let all = check_randfield(&mut c, key, size as i64 + 10, withvalues, resp3, size);
                assert_eq!(all.len(), size);
                // Negative: exactly that many, repeats allowed (and certain here).
                let rep = check_randfield(&mut c, key, -(size as i64) * 3, withvalues, resp3, size);
                let uniq: HashSet<_> = rep.iter().collect();
                assert!(uniq.len() < rep.len());
                assert_eq!(c.cmd(&["HRANDFIELD", key, "0"]), R::Array(vec![]));
            }
            // Without a count: one field, and every field comes up eventually.
            let mut seen = HashSet::new();
            for _ in 0..(size * 20).min(4000) {
                let f = c.cmd(&["HRANDFIELD", key]).bulk().to_vec();
                seen.insert(f);
            }
            if size <= 5 {
                assert_eq!(seen.len(), size, "every field of a small hash comes up");
            } else {
                assert!(seen.len() > size / 2, "draws spread over the table");
            }
            c.cmd(&["DEL", key]);
        }
        // Missing keys: null without a count, an empty array with one.
        let null = c.raw(&["HRANDFIELD", "nokey"]);
        assert_eq!(null, if resp3 { &b"_\r\n"[..] } else { b"$-1\r\n" });
        assert_eq!(c.raw(&["HRANDFIELD", "nokey", "3"]), b"*0\r\n");
        assert_eq!(
            c.raw(&["HRANDFIELD", "nokey", "-3", "WITHVALUES"]),
            b"*0\r\n"
        );
        assert_eq!(
            c.raw(&["HRANDFIELD", "nokey", "-9223372036854775807", "WITHVALUES"]),
            b"-ERR value is out of range\r\n"
        );
    }
}

#[test]
fn hscan_walks_a_hashtable_with_churn() {
    let server = support::start_corekv(2);
    let mut c = Client::new(&server, false);
    c.hset_many("big", fields(3000));
    assert_eq!(c.encoding("big"), "hashtable");
    let mut seen: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut cursor = "0".to_string();
    let (mut calls, mut added) = (0, 0);
    loop {
        let r = c.cmd(&["HSCAN", "big", &cursor, "COUNT", "25"]);
        let parts = r.array();
        cursor = String::from_utf8(parts[0].bulk().to_vec()).unwrap();
        let items = parts[1].array();
        assert!(items.len() <= 2 * 25, "COUNT bounds a step");
        for p in items.chunks(2) {
            seen.insert(p[0].bulk().to_vec(), p[1].bulk().to_vec());
        }
        calls += 1;
        // Churn: fields f2000.. come and go, new ones arrive.
        let gone = format!("f{}", 2000 + calls % 1000);
        c.cmd(&["HDEL", "big", &gone]);
        c.cmd(&["HSET", "big", &format!("new{added}"), "x"]);
        added += 1;
        if cursor == "0" {
            break;
        }
    }
    assert!(calls > 50, "a large hash takes several steps ({calls})");
    for i in 0..2000 {
        let f = format!("f{i}");
        assert_eq!(
            seen.get(f.as_bytes()).map(Vec::as_slice),
            Some(format!("v{i}").as_bytes()),
            "a field present for the whole scan is returned"
        );
    }
    // MATCH filters on fields; a full walk finds exactly the matches.
    let mut matched = HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let r = c.cmd(&["HSCAN", "big", &cursor, "MATCH", "f1?", "COUNT", "100"]);
        let parts = r.array();
        cursor = String::from_utf8(parts[0].bulk().to_vec()).unwrap();
        for p in parts[1].array().chunks(2) {
            matched.insert(p[0].bulk().to_vec());
        }
        if cursor == "0" {
            break;
        }
    }
    let want: HashSet<Vec<u8>> = (10..20).map(|i| format!("f{i}").into_bytes()).collect();
    assert_eq!(matched, want);
    // A listpack comes back whole, in order, with cursor 0, whatever the cursor.
    c.hset_many("small", fields(20));
    let r = c.cmd(&["HSCAN", "small", "987", "COUNT", "1"]);
    assert_eq!(r.array()[0], R::Bulk(b"0".to_vec()));
    let items = r.array()[1].array();
    assert_eq!(items.len(), 40);
    assert_eq!(items[0], R::Bulk(b"f0".to_vec()));
    assert_eq!(items[39], R::Bulk(b"v19".to_vec()));
}

#[test]
fn encodings_convert_once_and_for_good() {
    let server = support::start_corekv(2);
    let mut c = Client::new(&server, false);
    c.hset_many("h", fields(512));
    assert_eq!(c.encoding("h"), "listpack");
    c.cmd(&["HSET", "h", "f512", "v"]);
    assert_eq!(c.encoding("h"), "hashtable");
    for i in 0..510 {
        c.cmd(&["HDEL", "h", &format!("f{i}")]);
    }
    assert_eq!(c.encoding("h"), "hashtable", "never back to a listpack");
    let long = "x".repeat(65);
    c.cmd(&["HSET", "v", "a", &"y".repeat(64)]);
    assert_eq!(c.encoding("v"), "listpack");
    c.cmd(&["HINCRBYFLOAT", "v", &long, "1.5"]);
    assert_eq!(c.encoding("v"), "hashtable");
    assert_eq!(c.cmd(&["HGET", "v", &long]), R::Bulk(b"1.5".to_vec()));
    c.cmd(&["HSET", "nx", "a", "1"]);
    assert_eq!(c.cmd(&["HSETNX", "nx", "a", &long]), R::Int(0));
    assert_eq!(c.encoding("nx"), "listpack");
    assert_eq!(c.cmd(&["HSETNX", "nx", "b", &long]), R::Int(1));
    assert_eq!(c.encoding("nx"), "hashtable");
    // RESP3: HGETALL is a map, also when the key is missing.
    let mut c3 = Client::new(&server, true);
    assert_eq!(c3.raw(&["HGETALL", "nokey"]), b"%0\r\n");
    assert_eq!(
        c3.raw(&["HGETALL", "nx"])[..4],
        b"%2\r\n"[..],
        "a map of 2 pairs"
    );
}

/// One step of the model check.
#[derive(Debug, Clone)]
enum Op {
    /// HSET key with (field, value) pairs.
    Set(u8, Vec<(u16, Vec<u8>)>),
    /// HSET of `n` generated fields from `start`: reaches the 512 threshold.
    SetMany(u8, u16, u16),
    Del(u8, Vec<u16>),
    Incr(u8, u16, i64),
}

fn field_name(i: u16) -> Vec<u8> {
    // Field 999 is 65 bytes: it converts on length.
    if i == 999 {
        vec![b'L'; 65]
    } else {
        format!("f{i}").into_bytes()
    }
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        100 => prop::collection::vec(any::<u8>(), 0..12),
        3 => Just(b"12".to_vec()),
        1 => prop::collection::vec(any::<u8>(), 65..70),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..3;
    let f = 0u16..1000;
    prop_oneof![
        6 => (key.clone(), prop::collection::vec((f.clone(), value()), 1..4)).prop_map(|(k, p)| Op::Set(k, p)),
        2 => (key.clone(), f.clone(), 1u16..400).prop_map(|(k, s, n)| Op::SetMany(k, s, n)),
        3 => (key.clone(), prop::collection::vec(f.clone(), 1..4)).prop_map(|(k, fs)| Op::Del(k, fs)),
        3 => (key, f, -100i64..100).prop_map(|(k, f, n)| Op::Incr(k, f, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random HSET/HDEL/HINCRBY sequences on three hashes (on both shards)
    /// against a HashMap model, crossing the listpack -> hashtable conversion:
    /// every reply, then every hash's content, length and encoding.
    #[test]
    fn hash_commands_match_a_model(ops in prop::collection::vec(op(), 1..120)) {
        thread_local! {
            static SERVER: Server = support::start_corekv(2);
        }
        SERVER.with(|server| -> Result<(), TestCaseError> {
            let mut c = Client::new(server, false);
            c.cmd(&["FLUSHALL"]);
            let keys = ["hk0", "hk1", "{x}hk2"];
            let mut model: Vec<HashMap<Vec<u8>, Vec<u8>>> = vec![HashMap::new(); 3];
            let mut table = [false; 3];
            for op in ops {
                match op {
                    Op::Set(k, pairs) => {
                        let m = &mut model[k as usize];
                        let mut args: Vec<Vec<u8>> = vec![b"HSET".to_vec(), keys[k as usize].into()];
                        let mut created = std::collections::BTreeSet::new();
                        for (f, v) in &pairs {
                            let f = field_name(*f);
                            args.push(f.clone());
                            args.push(v.clone());
                            table[k as usize] |= f.len() > 64 || v.len() > 64;
                            if !m.contains_key(&f) {
                                created.insert(f.clone());
                            }
                            m.insert(f, v.clone());
                        }
                        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                        prop_assert_eq!(c.cmd_bytes(&refs), R::Int(created.len() as i64));
                    }
                    Op::SetMany(k, start, n) => {
                        let m = &mut model[k as usize];
                        let mut args: Vec<Vec<u8>> = vec![b"HSET".to_vec(), keys[k as usize].into()];
                        let mut created = 0;
                        for i in start..start.saturating_add(n).min(999) {
                            let (f, v) = (field_name(i), i.to_string().into_bytes());
                            args.push(f.clone());
                            args.push(v.clone());
                            created += m.insert(f, v).is_none() as i64;
                        }
                        if args.len() > 2 {
                            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                            prop_assert_eq!(c.cmd_bytes(&refs), R::Int(created));
                        }
                    }
                    Op::Del(k, fs) => {
                        let m = &mut model[k as usize];
                        let mut args: Vec<Vec<u8>> = vec![b"HDEL".to_vec(), keys[k as usize].into()];
                        let mut deleted = 0;
                        for f in fs {
                            let f = field_name(f);
                            deleted += m.remove(&f).is_some() as i64;
                            args.push(f);
                        }
                        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                        prop_assert_eq!(c.cmd_bytes(&refs), R::Int(deleted));
                        if m.is_empty() {
                            table[k as usize] = false; // the key is gone
                        }
                    }
                    Op::Incr(k, f, n) => {
                        let m = &mut model[k as usize];
                        let f = field_name(f);
                        let by = n.to_string();
                        let reply = c.cmd_bytes(&[b"HINCRBY", keys[k as usize].as_bytes(), &f, by.as_bytes()]);
                        let cur = m.get(&f).map(|v| std::str::from_utf8(v).ok().and_then(|s| s.parse::<i64>().ok()).filter(|x| x.to_string().as_bytes() == v.as_slice()));
                        match cur {
                            Some(None) => prop_assert_eq!(reply, R::Err("ERR hash value is not an integer".into())),
                            Some(Some(x)) => {
                                prop_assert_eq!(reply, R::Int(x + n));
                                m.insert(f, (x + n).to_string().into_bytes());
                            }
                            None => {
                                prop_assert_eq!(reply, R::Int(n));
                                table[k as usize] |= f.len() > 64;
                                m.insert(f, n.to_string().into_bytes());
                            }
                        }
                    }
                }
                for k in 0..3 {
                    table[k] |= model[k].len() > 512;
                }
            }
            for (k, key) in keys.iter().enumerate() {
                let m = &model[k];
                prop_assert_eq!(&c.hgetall(key), m);
                prop_assert_eq!(c.cmd(&["HLEN", key]).int(), m.len() as i64);
                if m.is_empty() {
                    prop_assert_eq!(c.cmd(&["EXISTS", key]), R::Int(0));
                } else {
                    let want = if table[k] { "hashtable" } else { "listpack" };
                    prop_assert_eq!(c.encoding(key), want);
                }
            }
            Ok(())
        })?;
    }
}
