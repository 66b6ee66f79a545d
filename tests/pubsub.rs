//! Pub/sub against the real server on 2 and 3 shards: subscribers and
//! publishers on different shards, patterns, shard channels, subscribed-mode
//! rules in RESP2 and pushes in RESP3 (byte for byte against redis-server),
//! ordering under load, cleanup on disconnect, and a subscriber that stops
//! reading.

mod support;

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use support::{RawConn, escape, start_corekv, start_corekv_with, start_redis};

fn s(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// The `shard=` field of this connection's CLIENT INFO line.
fn shard_of_conn(c: &mut RawConn) -> usize {
    let line = s(&c.cmd(&["CLIENT", "INFO"]));
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("shard="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no shard= in {line}"))
}

/// Opens connections until one lands on every shard (bounded).
fn conns_on_every_shard(port: u16, shards: usize) -> Vec<RawConn> {
    let mut by_shard: Vec<Option<RawConn>> = (0..shards).map(|_| None).collect();
    for _ in 0..200 {
        let mut c = RawConn::connect(port);
        let sh = shard_of_conn(&mut c);
        if by_shard[sh].is_none() {
            by_shard[sh] = Some(c);
        }
        if by_shard.iter().all(Option::is_some) {
            return by_shard.into_iter().flatten().collect();
        }
    }
    panic!("200 connections did not reach all {shards} shards");
}

fn message(channel: &str, msg: &str) -> String {
    format!(
        "*3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${}\r\n{msg}\r\n",
        channel.len(),
        msg.len()
    )
}

#[test]
fn publish_reaches_subscribers_on_every_shard() {
    for shards in [2, 3] {
        let srv = start_corekv(shards);
        let mut subs = conns_on_every_shard(srv.port, shards);
        for (i, c) in subs.iter_mut().enumerate() {
            assert_eq!(
                s(&c.cmd(&["SUBSCRIBE", "news"])),
                "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
            );
            // Every other subscriber also listens to a matching pattern.
            if i % 2 == 0 {
                assert_eq!(
                    s(&c.cmd(&["PSUBSCRIBE", "n*"])),
                    "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n"
                );
            }
        }
        let with_pattern = subs.len().div_ceil(2);
        // Publish from every shard in turn.
        for mut p in conns_on_every_shard(srv.port, shards) {
            let want = subs.len() + with_pattern;
            assert_eq!(
                s(&p.cmd(&["PUBLISH", "news", "hi"])),
                format!(":{want}\r\n")
            );
            assert_eq!(s(&p.cmd(&["PUBLISH", "zzz", "x"])), ":0\r\n");
            assert_eq!(
                s(&p.cmd(&["PUBLISH", "nope", "x"])),
                format!(":{with_pattern}\r\n")
            );
            for (i, c) in subs.iter_mut().enumerate() {
                assert_eq!(s(&c.read_reply()), message("news", "hi"), "subscriber {i}");
                if i % 2 == 0 {
                    assert_eq!(
                        s(&c.read_reply()),
                        "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
                    );
                    assert_eq!(
                        s(&c.read_reply()),
                        "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnope\r\n$1\r\nx\r\n"
                    );
                }
            }
        }
        let mut ctl = RawConn::connect(srv.port);
        assert_eq!(
            s(&ctl.cmd(&["PUBSUB", "NUMSUB", "news", "none"])),
            format!(
                "*4\r\n$4\r\nnews\r\n:{}\r\n$4\r\nnone\r\n:0\r\n",
                subs.len()
            )
        );
        assert_eq!(s(&ctl.cmd(&["PUBSUB", "NUMPAT"])), ":1\r\n");
        assert_eq!(s(&ctl.cmd(&["PUBSUB", "CHANNELS"])), "*1\r\n$4\r\nnews\r\n");
        // Subscribers that go away leave their channels (bounded wait: the
        // connection task notices the close on its next read).
        drop(subs);
        let deadline = Instant::now() + Duration::from_secs(10);
        while s(&ctl.cmd(&["PUBSUB", "NUMSUB", "news"])) != "*2\r\n$4\r\nnews\r\n:0\r\n" {
            assert!(
                Instant::now() < deadline,
                "subscriptions outlived their clients"
            );
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(s(&ctl.cmd(&["PUBSUB", "NUMPAT"])), ":0\r\n");
        assert_eq!(s(&ctl.cmd(&["PUBLISH", "news", "x"])), ":0\r\n");
    }
}

#[test]
fn shard_channels_are_their_own_namespace() {
    let srv = start_corekv(3);
    let mut subs = conns_on_every_shard(srv.port, 3);
    for c in subs.iter_mut() {
        assert_eq!(
            s(&c.cmd(&["SSUBSCRIBE", "orders", "{u1}cart"])),
            "*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n"
        );
        assert_eq!(
            s(&c.read_reply()),
            "*3\r\n$10\r\nssubscribe\r\n$8\r\n{u1}cart\r\n:2\r\n"
        );
    }
    let mut p = RawConn::connect(srv.port);
    assert_eq!(s(&p.cmd(&["PUBLISH", "orders", "x"])), ":0\r\n");
    assert_eq!(s(&p.cmd(&["SPUBLISH", "orders", "o1"])), ":3\r\n");
    for c in subs.iter_mut() {
        assert_eq!(
            s(&c.read_reply()),
            "*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$2\r\no1\r\n"
        );
    }
    assert_eq!(
        s(&p.cmd(&["PUBSUB", "SHARDNUMSUB", "orders"])),
        "*2\r\n$6\r\norders\r\n:3\r\n"
    );
    let chans = s(&p.cmd(&["PUBSUB", "SHARDCHANNELS", "ord*"]));
    assert_eq!(chans, "*1\r\n$6\r\norders\r\n");
    assert_eq!(s(&p.cmd(&["PUBSUB", "CHANNELS"])), "*0\r\n");
    let c = &mut subs[0];
    assert_eq!(
        s(&c.cmd(&["SUNSUBSCRIBE", "orders"])),
        "*3\r\n$12\r\nsunsubscribe\r\n$6\r\norders\r\n:1\r\n"
    );
    assert_eq!(
        s(&c.cmd(&["SUNSUBSCRIBE"])),
        "*3\r\n$12\r\nsunsubscribe\r\n$8\r\n{u1}cart\r\n:0\r\n"
    );
    assert_eq!(s(&p.cmd(&["SPUBLISH", "orders", "o2"])), ":2\r\n");
}

/// One scripted session, run on corekv and on redis-server; the subscriber's
/// and the publisher's bytes must match. Deterministic: one channel or
/// pattern wherever Redis's reply order would be its hash order.
fn session(port: u16, resp3: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut sub = RawConn::connect(port);
    let mut publ = RawConn::connect(port);
    let mut log = |what: &str, reply: Vec<u8>| out.push(format!("{what} -> {}", escape(&reply)));
    if resp3 {
        let _ = sub.cmd(&["HELLO", "3"]);
    }
    log("unsubscribe none", sub.cmd(&["UNSUBSCRIBE"]));
    log("punsubscribe none", sub.cmd(&["PUNSUBSCRIBE"]));
    log("sunsubscribe none", sub.cmd(&["SUNSUBSCRIBE"]));
    log("subscribe", sub.cmd(&["SUBSCRIBE", "a"]));
    log("subscribe again", sub.cmd(&["SUBSCRIBE", "a"]));
    log("psubscribe", sub.cmd(&["PSUBSCRIBE", "a*"]));
    log("ping", sub.cmd(&["PING"]));
    log("ping msg", sub.cmd(&["PING", "hello"]));
    log("get", sub.cmd(&["GET", "k"]));
    log("set", sub.cmd(&["SET", "k", "v"]));
    log("echo", sub.cmd(&["ECHO", "e"]));
    log("publish", publ.cmd(&["PUBLISH", "a", "m1"]));
    log("message", sub.read_reply());
    log("pmessage", sub.read_reply());
    log("publish pattern", publ.cmd(&["PUBLISH", "ab", ""]));
    log("pmessage 2", sub.read_reply());
    log("numsub", publ.cmd(&["PUBSUB", "NUMSUB", "a", "ab"]));
    log("numsub none", publ.cmd(&["PUBSUB", "NUMSUB"]));
    log("numpat", publ.cmd(&["PUBSUB", "NUMPAT"]));
    log("channels", publ.cmd(&["PUBSUB", "CHANNELS"]));
    log("channels pattern", publ.cmd(&["PUBSUB", "CHANNELS", "b*"]));
    log("shardnumsub", publ.cmd(&["PUBSUB", "SHARDNUMSUB", "a"]));
    log("shardchannels", publ.cmd(&["PUBSUB", "SHARDCHANNELS"]));
    log("pubsub bad", publ.cmd(&["PUBSUB", "NOSUCH"]));
    log("pubsub help", publ.cmd(&["PUBSUB", "HELP"]));
    log("pubsub numpat arity", publ.cmd(&["PUBSUB", "NUMPAT", "x"]));
    log("publish arity", publ.cmd(&["PUBLISH", "a"]));
    log("subscribe arity", publ.cmd(&["SUBSCRIBE"]));
    log("ssubscribe", sub.cmd(&["SSUBSCRIBE", "s"]));
    log("spublish", publ.cmd(&["SPUBLISH", "s", "sm"]));
    log("smessage", sub.read_reply());
    log("unsubscribe pattern", sub.cmd(&["PUNSUBSCRIBE", "a*"]));
    log("unsubscribe other", sub.cmd(&["UNSUBSCRIBE", "zzz"]));
    log("unsubscribe all", sub.cmd(&["UNSUBSCRIBE"]));
    log("still shard-subscribed", sub.cmd(&["GET", "k"]));
    log("sunsubscribe all", sub.cmd(&["SUNSUBSCRIBE"]));
    log("get after", sub.cmd(&["GET", "k"]));
    log("ping after", sub.cmd(&["PING"]));
    log("subscribe two", sub.cmd(&["SUBSCRIBE", "x"]));
    log("subscribe two b", sub.cmd(&["PSUBSCRIBE", "y"]));
    log("multi", sub.cmd(&["MULTI"]));
    log("reset", sub.cmd(&["RESET"]));
    log("ping after reset", sub.cmd(&["PING"]));
    log("publish after reset", publ.cmd(&["PUBLISH", "x", "gone"]));
    log("del", publ.cmd(&["DEL", "k"]));
    for v in ["Elg$", "KEA", "AKEmn", "Kq", "xK", ""] {
        log(
            "events set",
            publ.cmd(&["CONFIG", "SET", "notify-keyspace-events", v]),
        );
        log(
            "events get",
            publ.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        );
    }
    out
}

#[test]
fn subscribed_mode_matches_redis_resp2_and_resp3() {
    let Some(redis) = start_redis() else {
        return;
    };
    let srv = start_corekv(2);
    for resp3 in [false, true] {
        let ours = session(srv.port, resp3);
        let theirs = session(redis.port, resp3);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a, b, "resp3={resp3}");
        }
        assert_eq!(ours.len(), theirs.len());
    }
}

#[test]
fn messages_from_one_publisher_arrive_in_order() {
    let srv = start_corekv(2);
    let mut subs = conns_on_every_shard(srv.port, 2);
    for c in subs.iter_mut() {
        c.cmd(&["SUBSCRIBE", "seq"]);
    }
    let mut publishers = conns_on_every_shard(srv.port, 2);
    let p = &mut publishers[1];
    const N: usize = 100_000;
    const BATCH: usize = 1_000;
    let readers: Vec<_> = subs
        .into_iter()
        .map(|mut c| {
            thread::spawn(move || {
                for i in 0..N {
                    let want = message("seq", &i.to_string());
                    let got = s(&c.read_reply());
                    assert_eq!(got, want, "message {i}");
                }
            })
        })
        .collect();
    let mut sent = 0;
    while sent < N {
        let mut pipe = Vec::new();
        for i in sent..(sent + BATCH).min(N) {
            pipe.extend(support::encode_cmd(&[
                b"PUBLISH",
                b"seq",
                i.to_string().as_bytes(),
            ]));
        }
        p.send(&pipe);
        for _ in sent..(sent + BATCH).min(N) {
            assert_eq!(s(&p.read_reply()), ":2\r\n");
        }
        sent += BATCH;
    }
    for r in readers {
        r.join().expect("subscriber saw every message in order");
    }
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected() {
    let srv = start_corekv_with(&["--shards", "2"]);
    let mut ctl = RawConn::connect(srv.port);
    assert_eq!(
        s(&ctl.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 0 0",
        ])),
        "+OK\r\n"
    );
    let mut lazy = RawConn::connect(srv.port);
    lazy.cmd(&["SUBSCRIBE", "firehose"]);
    let mut good = RawConn::connect(srv.port);
    good.cmd(&["SUBSCRIBE", "other"]);
    // 64 MB through one channel: far past the socket buffers and the 1 MB
    // limit; the publisher never waits on the slow subscriber.
    let chunk = "x".repeat(64 * 1024);
    let mut receivers = HashSet::new();
    for _ in 0..1024 {
        receivers.insert(s(&ctl.cmd(&["PUBLISH", "firehose", &chunk])));
    }
    assert!(
        receivers.contains(":0\r\n"),
        "the lazy subscriber was never dropped"
    );
    // The others are served as before.
    assert_eq!(s(&ctl.cmd(&["PUBLISH", "other", "still"])), ":1\r\n");
    assert_eq!(s(&good.read_reply()), message("other", "still"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = s(&ctl.cmd(&["CLIENT", "LIST"]));
        if list.lines().filter(|l| l.contains(" flags=P ")).count() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{list}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn redis_crate_pubsub_works() {
    let srv = start_corekv(2);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", srv.port)).expect("url");
    let mut sub_conn = client.get_connection().expect("connect");
    let mut pubsub = sub_conn.as_pubsub();
    pubsub.subscribe("events").expect("subscribe");
    pubsub.psubscribe("ev*").expect("psubscribe");
    pubsub
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut publisher = support::redis_client(srv.port);
    let n: i64 = redis::cmd("PUBLISH")
        .arg("events")
        .arg("payload")
        .query(&mut publisher)
        .expect("publish");
    assert_eq!(n, 2);
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = pubsub.get_message().expect("message");
        let payload: String = m.get_payload().expect("payload");
        got.push((m.get_channel_name().to_string(), payload, m.from_pattern()));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("events".to_string(), "payload".to_string(), false),
            ("events".to_string(), "payload".to_string(), true),
        ]
    );
    pubsub.unsubscribe("events").expect("unsubscribe");
    pubsub.punsubscribe("ev*").expect("punsubscribe");
}

#[test]
fn keyspace_notifications_reach_every_shard() {
    let srv = start_corekv(3);
    let mut ctl = RawConn::connect(srv.port);
    assert_eq!(
        s(&ctl.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"])),
        "+OK\r\n"
    );
    let mut subs = conns_on_every_shard(srv.port, 3);
    for c in subs.iter_mut() {
        c.cmd(&["SUBSCRIBE", "__keyevent@0__:expired", "__keyevent@0__:set"]);
        c.read_reply();
    }
    // One key per shard, written from one connection, expiring on its own
    // (active expiry) or when read (lazy expiry): each event reaches every
    // subscriber exactly once.
    let keys = support::keys_on_each_shard("ev:", 3);
    for k in &keys {
        assert_eq!(s(&ctl.cmd(&["SET", k, "v", "PX", "30"])), "+OK\r\n");
    }
    thread::sleep(Duration::from_millis(60));
    for k in &keys {
        assert_eq!(s(&ctl.cmd(&["GET", k])), "$-1\r\n");
    }
    for c in subs.iter_mut() {
        let mut set = Vec::new();
        let mut expired = Vec::new();
        while set.len() + expired.len() < 2 * keys.len() {
            let m = s(&c.read_reply());
            let key = m.rsplit("\r\n").nth(1).unwrap_or("").to_string();
            if m.contains("__keyevent@0__:set") {
                set.push(key);
            } else {
                expired.push(key);
            }
        }
        set.sort();
        expired.sort();
        let mut want = keys.clone();
        want.sort();
        assert_eq!(set, want);
        assert_eq!(expired, want);
    }
    assert_eq!(s(&ctl.cmd(&["PING"])), "+PONG\r\n");
}

#[test]
fn client_types_and_kill() {
    let srv = start_corekv(2);
    let mut subs = conns_on_every_shard(srv.port, 2);
    for c in subs.iter_mut() {
        c.cmd(&["SUBSCRIBE", "t"]);
    }
    let mut ctl = RawConn::connect(srv.port);
    let pubsub = s(&ctl.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]));
    assert_eq!(pubsub.matches("flags=P").count(), 2, "{pubsub}");
    let normal = s(&ctl.cmd(&["CLIENT", "LIST", "TYPE", "normal"]));
    assert!(
        !normal.contains("flags=P") && normal.contains("cmd=client|list"),
        "{normal}"
    );
    assert_eq!(
        s(&ctl.cmd(&["CLIENT", "LIST", "TYPE", "replica"])),
        "$0\r\n\r\n"
    );
    assert_eq!(s(&ctl.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"])), ":2\r\n");
    for c in subs.iter_mut() {
        assert!(c.closed_by_peer());
    }
    // Killing itself, a client still gets the reply, then is closed.
    let mut other = RawConn::connect(srv.port);
    assert_eq!(s(&other.cmd(&["PING"])), "+PONG\r\n");
    assert_eq!(s(&ctl.cmd(&["CLIENT", "KILL", "SKIPME", "no"])), ":2\r\n");
    assert!(ctl.closed_by_peer());
    assert!(other.closed_by_peer());
    assert_eq!(s(&RawConn::connect(srv.port).cmd(&["PING"])), "+PONG\r\n");
}

#[test]
fn a_subscriber_over_the_soft_limit_for_its_seconds_is_disconnected() {
    let srv = start_corekv(2);
    let mut ctl = RawConn::connect(srv.port);
    assert_eq!(
        s(&ctl.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 0 1mb 1",
        ])),
        "+OK\r\n"
    );
    let mut lazy = RawConn::connect(srv.port);
    lazy.cmd(&["SUBSCRIBE", "slow"]);
    let chunk = "y".repeat(64 * 1024);
    // Publish for at most 20 s: past the socket buffers the outbox stays over
    // 1 MB, and after a second of that the subscriber is cut off.
    let deadline = Instant::now() + Duration::from_secs(20);
    let start = Instant::now();
    loop {
        if s(&ctl.cmd(&["PUBLISH", "slow", &chunk])) == ":0\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "never disconnected");
        thread::sleep(Duration::from_millis(2));
    }
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
}
