//! MONITOR, CLIENT REPLY and bounded reply memory against the real server,
//! compared with redis-server where the bytes are deterministic.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use support::{RawConn, encode_cmd, info, info_field, start_corekv, start_redis};

fn s(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// A MONITOR line without its timestamp and client address (which differ
/// between servers): `[<db>] "arg" ...`.
fn strip(line: &[u8]) -> String {
    let l = s(line);
    let (head, rest) = l
        .split_once(']')
        .unwrap_or_else(|| panic!("not a monitor line: {l}"));
    let db = head
        .split_once('[')
        .map_or("", |(_, d)| d)
        .split(' ')
        .next()
        .unwrap_or("");
    assert!(l.starts_with('+'), "{l}");
    format!("[{db}]{}", rest.trim_end())
}

/// What a monitor sees of a fixed session (timestamps and ports removed).
fn monitored(port: u16) -> Vec<String> {
    let mut mon = RawConn::connect(port);
    assert_eq!(s(&mon.cmd(&["MONITOR"])), "+OK\r\n");
    let mut c = RawConn::connect(port);
    let session: &[&[&str]] = &[
        &["SET", "k", "a b\"c\nd\x01"],
        &["GET", "k"],
        &["AUTH", "nopass"],
        &["AUTH", "user", "pw"],
        &["HELLO", "2", "AUTH", "default", "pw"],
        &["CONFIG", "GET", "maxmemory"],
        &["NOSUCHCOMMAND"],
        &["SET", "onlykey"],
        &["MULTI"],
        &["INCR", "n"],
        &["EXEC"],
        &["SELECT", "3"],
        &["PING"],
        &["SELECT", "0"],
        &["LPUSH", "k", "x"],
        &["DEL", "k", "n"],
    ];
    for cmd in session {
        c.cmd(cmd);
    }
    // Everything the session fed arrives before this marker.
    c.cmd(&["ECHO", "end"]);
    let mut lines = Vec::new();
    loop {
        let l = strip(&mon.read_reply());
        let end = l.ends_with("\"ECHO\" \"end\"");
        lines.push(l);
        if end {
            return lines;
        }
        assert!(lines.len() < 100, "{lines:?}");
    }
}

#[test]
fn monitor_lines_match_redis() {
    let srv = start_corekv(2);
    let ours = monitored(srv.port);
    if let Some(redis) = start_redis() {
        assert_eq!(ours, monitored(redis.port));
    }
    assert_eq!(ours[0], "[0] \"SET\" \"k\" \"a b\\\"c\\nd\\x01\"");
    assert!(ours.contains(&"[0] \"AUTH\" \"(redacted)\" \"(redacted)\"".to_string()));
    // A monitor sees commands of clients on every shard; RESET ends it.
    let mut mon = RawConn::connect(srv.port);
    mon.cmd(&["MONITOR"]);
    let others: Vec<RawConn> = (0..6).map(|_| RawConn::connect(srv.port)).collect();
    for (i, mut c) in others.into_iter().enumerate() {
        c.cmd(&["ECHO", &i.to_string()]);
        assert_eq!(strip(&mon.read_reply()), format!("[0] \"ECHO\" \"{i}\""));
    }
    let list = s(&RawConn::connect(srv.port).cmd(&["CLIENT", "LIST"]));
    assert!(list.contains(" flags=O "), "{list}");
    assert_eq!(s(&mon.cmd(&["RESET"])), "+RESET\r\n");
    let mut c = RawConn::connect(srv.port);
    c.cmd(&["ECHO", "unseen"]);
    assert_eq!(s(&mon.cmd(&["PING"])), "+PONG\r\n");
}

/// CLIENT REPLY OFF / SKIP / ON, with pipelined commands on every shard's
/// keys in between.
fn reply_session(port: u16) -> Vec<u8> {
    let mut c = RawConn::connect(port);
    let mut pipe = Vec::new();
    for cmd in [
        &["SET", "a", "1"][..],
        &["CLIENT", "REPLY", "SKIP"],
        &["GET", "a"],
        &["SET", "b", "2"],
        &["CLIENT", "REPLY", "OFF"],
        &["GET", "b"],
        &["MGET", "a", "b", "c"],
        &["CLIENT", "REPLY", "SKIP"],
        &["NOSUCH"],
        &["CLIENT", "REPLY", "ON"],
        &["MGET", "a", "b"],
        &["CLIENT", "REPLY", "SKIP"],
        &["CLIENT", "REPLY", "ON"],
        &["CLIENT", "REPLY", "MAYBE"],
        &["DEL", "a", "b"],
    ] {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        pipe.extend(encode_cmd(&args));
    }
    c.send(&pipe);
    let mut out = Vec::new();
    for _ in 0..6 {
        out.extend(c.read_reply());
    }
    out
}

#[test]
fn client_reply_matches_redis() {
    let srv = start_corekv(2);
    let ours = reply_session(srv.port);
    assert_eq!(
        s(&ours),
        "+OK\r\n+OK\r\n+OK\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n+OK\r\n-ERR syntax error\r\n"
    );
    if let Some(redis) = start_redis() {
        assert_eq!(s(&ours), s(&reply_session(redis.port)));
    }
}

/// The server's resident memory as INFO reports it.
fn rss(c: &mut RawConn) -> u64 {
    info_field(&info(c, "memory"), "used_memory_rss")
        .and_then(|v| v.parse().ok())
        .expect("used_memory_rss")
}

#[test]
fn replies_of_one_read_are_written_as_they_come() {
    let srv = start_corekv(1);
    let mut c = RawConn::connect(srv.port);
    // A 100k-element list: each LRANGE reply is about 1.3 MB.
    for chunk in 0..10 {
        let mut args: Vec<String> = vec!["RPUSH".into(), "big".into()];
        args.extend((0..10_000).map(|i| format!("element-{chunk}-{i:05}")));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        c.cmd(&a);
    }
    let before = rss(&mut c);
    // 100 LRANGEs in one write ask for 130 MB of replies; a reader that does
    // not read yet must not make the server hold them all.
    let mut slow = RawConn::connect(srv.port);
    let mut pipe = Vec::new();
    for _ in 0..100 {
        pipe.extend(encode_cmd(&[b"LRANGE", b"big", b"0", b"-1"]));
    }
    slow.send(&pipe);
    thread::sleep(Duration::from_millis(500));
    let during = rss(&mut c);
    assert!(
        during < before + 40 * 1024 * 1024,
        "RSS grew from {before} to {during} while the reader did not read"
    );
    // Everything still arrives, in order, once the client reads.
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..100 {
        let r = slow.read_reply();
        assert!(r.starts_with(b"*100000\r\n"), "reply {i}");
        assert!(Instant::now() < deadline);
    }
    assert_eq!(s(&slow.cmd(&["PING"])), "+PONG\r\n");
}

#[test]
fn client_pause_holds_writes_or_everything() {
    let srv = start_corekv(2);
    let mut ctl = RawConn::connect(srv.port);
    for (args, want) in [
        (
            &["CLIENT", "PAUSE", "abc"][..],
            "-ERR timeout is not an integer or out of range\r\n",
        ),
        (&["CLIENT", "PAUSE", "-1"], "-ERR timeout is negative\r\n"),
        (
            &["CLIENT", "PAUSE", "10", "foo"],
            "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n",
        ),
        (&["CLIENT", "UNPAUSE"], "+OK\r\n"),
    ] {
        assert_eq!(s(&ctl.cmd(args)), want, "{args:?}");
    }
    assert_eq!(
        s(&ctl.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"])),
        "+OK\r\n"
    );
    // Reads and refused commands are answered; writes (and PUBLISH, which
    // may replicate) wait, counted as blocked clients.
    let mut w = RawConn::connect(srv.port);
    assert_eq!(s(&w.cmd(&["GET", "k"])), "$-1\r\n");
    assert_eq!(
        s(&w.cmd(&["SET", "k"])),
        "-ERR wrong number of arguments for 'set' command\r\n"
    );
    w.send(&encode_cmd(&[b"SET", b"k", b"v"]));
    let mut p = RawConn::connect(srv.port);
    p.send(&encode_cmd(&[b"PUBLISH", b"ch", b"m"]));
    support::wait_blocked(srv.port, 2);
    assert_eq!(s(&ctl.cmd(&["GET", "k"])), "$-1\r\n");
    assert_eq!(s(&ctl.cmd(&["CLIENT", "UNPAUSE"])), "+OK\r\n");
    assert_eq!(s(&w.read_reply()), "+OK\r\n");
    assert_eq!(s(&p.read_reply()), ":0\r\n");
    // ALL holds every command until the timeout.
    assert_eq!(s(&ctl.cmd(&["CLIENT", "PAUSE", "300", "ALL"])), "+OK\r\n");
    let start = Instant::now();
    assert_eq!(s(&w.cmd(&["PING"])), "+PONG\r\n");
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
    support::wait_blocked(srv.port, 0);
}

/// What tracking clients receive in a fixed session; every push is read
/// where it must have arrived (after the write that causes it).
fn tracking_session(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let mut log = |what: &str, reply: Vec<u8>| out.push(format!("{what} -> {}", s(&reply)));
    let mut w = RawConn::connect(port);
    let mut t = RawConn::connect(port);
    t.cmd(&["HELLO", "3"]);
    log("info off", t.cmd(&["CLIENT", "TRACKINGINFO"]));
    log("getredir off", t.cmd(&["CLIENT", "GETREDIR"]));
    log("caching off", t.cmd(&["CLIENT", "CACHING", "yes"]));
    for args in [
        &["CLIENT", "TRACKING", "on", "PREFIX", "a"][..],
        &["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"],
        &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
        &["CLIENT", "TRACKING", "on", "REDIRECT", "999999"],
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a",
        ],
        &["CLIENT", "TRACKING", "maybe"],
    ] {
        log("error", t.cmd(args));
    }
    // Default mode: a read is remembered, the next write by another client
    // invalidates it (one message per key), later writes do not.
    log("on", t.cmd(&["CLIENT", "TRACKING", "on"]));
    log("info on", t.cmd(&["CLIENT", "TRACKINGINFO"]));
    log("getredir on", t.cmd(&["CLIENT", "GETREDIR"]));
    log("get", t.cmd(&["GET", "a{t}"]));
    w.cmd(&["SET", "a{t}", "1"]);
    log("inval a", t.read_reply());
    w.cmd(&["SET", "a{t}", "2"]);
    log("no more", t.cmd(&["PING"]));
    log("mget", t.cmd(&["MGET", "b{t}", "c{t}"]));
    w.cmd(&["SET", "b{t}", "1"]);
    log("inval b", t.read_reply());
    // The client's own write: reply first, then a message per key.
    log("get d", t.cmd(&["GET", "d{t}"]));
    log("get e", t.cmd(&["GET", "e{t}"]));
    log("own mset", t.cmd(&["MSET", "d{t}", "1", "e{t}", "1"]));
    let mut keys = [s(&t.read_reply()), s(&t.read_reply())];
    keys.sort();
    log("own inval", keys.concat().into_bytes());
    w.cmd(&["FLUSHALL"]);
    log("flush", t.read_reply());
    log("off", t.cmd(&["CLIENT", "TRACKING", "off"]));
    // OPTIN: only a read right after CLIENT CACHING yes is remembered.
    log("optin", t.cmd(&["CLIENT", "TRACKING", "on", "OPTIN"]));
    log("caching no", t.cmd(&["CLIENT", "CACHING", "no"]));
    log("get x1", t.cmd(&["GET", "x1"]));
    log("caching yes", t.cmd(&["CLIENT", "CACHING", "yes"]));
    log("optin info", t.cmd(&["CLIENT", "TRACKINGINFO"]));
    log("info resets caching", t.cmd(&["CLIENT", "TRACKINGINFO"]));
    log("caching yes again", t.cmd(&["CLIENT", "CACHING", "yes"]));
    log("get x2", t.cmd(&["GET", "x2"]));
    w.cmd(&["SET", "x1", "1"]);
    w.cmd(&["SET", "x2", "1"]);
    log("optin inval", t.read_reply());
    log("off 2", t.cmd(&["CLIENT", "TRACKING", "off"]));
    // BCAST with a prefix, NOLOOP.
    log(
        "bcast",
        t.cmd(&[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p:", "NOLOOP",
        ]),
    );
    log("bcast info", t.cmd(&["CLIENT", "TRACKINGINFO"]));
    w.cmd(&["SET", "q:1", "x"]);
    log("own write", t.cmd(&["SET", "p:self", "x"]));
    w.cmd(&["SET", "p:1", "x"]);
    log("bcast inval", t.read_reply());
    log("off 3", t.cmd(&["CLIENT", "TRACKING", "off"]));
    // RESP2 with REDIRECT to a subscriber of __redis__:invalidate.
    let mut r = RawConn::connect(port);
    let rid = s(&r.cmd(&["CLIENT", "ID"]))
        .trim_start_matches(':')
        .trim()
        .to_string();
    log("sub", r.cmd(&["SUBSCRIBE", "__redis__:invalidate"]));
    let mut t2 = RawConn::connect(port);
    log(
        "redirect",
        t2.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &rid]),
    );
    log("get r", t2.cmd(&["GET", "r{x}"]));
    w.cmd(&["SET", "r{x}", "1"]);
    log("redirected", r.read_reply());
    w.cmd(&["FLUSHDB"]);
    log("redirected flush", r.read_reply());
    log("off 4", t2.cmd(&["CLIENT", "TRACKING", "off"]));
    // BCAST: one message per prefix with all the keys of an EXEC.
    log(
        "bcast 2",
        t.cmd(&[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "b:", "PREFIX", "a:", "NOLOOP",
        ]),
    );
    w.cmd(&["MULTI"]);
    for k in ["b:2{t}", "a:1{t}", "c:1{t}", "b:1{t}", "a:2{t}", "a:1{t}"] {
        w.cmd(&["INCR", k]);
    }
    w.cmd(&["EXEC"]);
    log("bcast exec a", t.read_reply());
    log("bcast exec b", t.read_reply());
    // Expiry is nobody's write: NOLOOP does not hide it.
    log("own volatile", t.cmd(&["SET", "a:v{t}", "x", "PX", "1"]));
    std::thread::sleep(std::time::Duration::from_millis(20));
    log("lazy expire", t.cmd(&["GET", "a:v{t}"]));
    log("expired inval", t.read_reply());
    log("off 5", t.cmd(&["CLIENT", "TRACKING", "off"]));
    // The table holds `tracking-table-max-keys` keys: the rest are evicted
    // and invalidated.
    log("on again", t.cmd(&["CLIENT", "TRACKING", "on"]));
    log("mget 3", t.cmd(&["MGET", "k1{t}", "k2{t}", "k3{t}"]));
    let info = s(&t.cmd(&["INFO", "stats"]));
    log(
        "tracking info",
        info.split("\r\n")
            .filter(|l| l.starts_with("tracking_"))
            .collect::<Vec<_>>()
            .join(",")
            .into_bytes(),
    );
    log(
        "max keys",
        t.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "1"]),
    );
    let evicted = [s(&t.read_reply()), s(&t.read_reply())];
    log("evicted", evicted.len().to_string().into_bytes());
    // A lowered limit applies before the next command, even one MULTI only
    // queues: the eviction's invalidation comes before QUEUED (#11715).
    // (FLUSHALL empties the table first.)
    w.cmd(&["DEBUG", "PAUSE-CRON", "1"]);
    w.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "2"]);
    w.cmd(&["FLUSHALL"]);
    log("flushed", t.read_reply());
    log("mget 2", t.cmd(&["MGET", "q1{t}", "q2{t}"]));
    log("multi", t.cmd(&["MULTI"]));
    w.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "1"]);
    // Which of the two goes is the server's choice.
    let first = s(&t.cmd(&["PING"]));
    log(
        "evicted before queued",
        first.replace("q2{t}", "q1{t}").into_bytes(),
    );
    log("queued", t.read_reply());
    log("exec", t.cmd(&["EXEC"]));
    w.cmd(&["DEBUG", "PAUSE-CRON", "0"]);
    log(
        "max keys back",
        t.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "0"]),
    );
    log("off 6", t.cmd(&["CLIENT", "TRACKING", "off"]));
    // A redirect target that quits: the RESP3 client is told on its next
    // invalidation.
    let mut gone = RawConn::connect(port);
    let gid = s(&gone.cmd(&["CLIENT", "ID"]))
        .trim_start_matches(':')
        .trim()
        .to_string();
    log(
        "redirect to gone",
        t.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &gid]),
    );
    log("get g", t.cmd(&["GET", "g"]));
    log("quit", gone.cmd(&["QUIT"]));
    w.cmd(&["SET", "g", "1"]);
    // Client ids differ between servers: compare them as the target's.
    let id = format!(":{gid}\r\n");
    let broken = s(&t.read_reply()).replace(&id, ":<target>\r\n");
    log("broken", broken.into_bytes());
    let info = s(&t.cmd(&["CLIENT", "TRACKINGINFO"])).replace(&id, ":<target>\r\n");
    log("broken info", info.into_bytes());
    log("off 7", t.cmd(&["CLIENT", "TRACKING", "off"]));
    w.cmd(&["FLUSHALL"]);
    out
}

#[test]
fn client_tracking_matches_redis() {
    let srv = start_corekv(2);
    let ours = tracking_session(srv.port);
    if let Some(redis) = start_redis() {
        let theirs = tracking_session(redis.port);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a, b, "\ncorekv: {ours:#?}\nredis: {theirs:#?}");
        }
        assert_eq!(ours.len(), theirs.len());
    }
    assert!(
        ours.iter()
            .any(|l| l == "inval a -> >2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\na{t}\r\n"),
        "{ours:?}"
    );
}
