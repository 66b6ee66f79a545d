//! Configuration against a real redis-server and on its own: every parameter
//! `CONFIG GET *` of redis-server lists is known with Redis's default, every
//! value CONFIG GET shows can be set back (Redis's "CONFIG sanity"), the
//! settings corekv makes live act on open connections and new values, the
//! listening port moves (and a failed move restores everything), config
//! files and command lines take every parameter, CONFIG REWRITE writes a file
//! that reads back, protected parameters, pidfile and shutdown-on-sigterm.
//! Error texts and value formats are compared byte for byte in
//! `tests/corpus/config.txt`.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use support::*;

/// The text of a bulk-string reply element.
fn bulk_text(elem: &[u8]) -> String {
    let start = elem
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(0, |i| i + 2);
    String::from_utf8_lossy(&elem[start..elem.len().saturating_sub(2).max(start)]).into_owned()
}

/// `CONFIG GET patterns...` as a name → value map.
fn config_get(conn: &mut RawConn, patterns: &[&str]) -> BTreeMap<String, String> {
    let mut args = vec!["CONFIG", "GET"];
    args.extend_from_slice(patterns);
    let reply = conn.cmd(&args);
    let (_, elems) =
        split_aggregate(&reply).unwrap_or_else(|| panic!("CONFIG GET reply {}", escape(&reply)));
    elems
        .chunks(2)
        .map(|kv| (bulk_text(&kv[0]), bulk_text(&kv[1])))
        .collect()
}

fn one(conn: &mut RawConn, name: &str) -> String {
    config_get(conn, &[name]).remove(name).unwrap_or_default()
}

fn ok(reply: Vec<u8>) {
    assert_eq!(escape(&reply), "+OK\\r\\n");
}

/// Values that depend on how and where each server was started.
const STARTED_DIFFERENTLY: &[&str] = &[
    "port",
    "dir",
    // The tests start corekv with `--loglevel warning` and redis-server with
    // `--enable-debug-command yes`.
    "loglevel",
    "enable-debug-command",
    // Redis lowers it to what the open-files limit allows.
    "maxclients",
];

#[test]
fn every_redis_parameter_with_its_default() {
    let Some(redis) = start_redis() else {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPING every_redis_parameter_with_its_default: redis-server not found\n"
        );
        return;
    };
    let corekv = start_corekv_with(&["--shards", "2", "--save", ""]);
    let mut rc = RawConn::connect(redis.port);
    let mut kc = RawConn::connect(corekv.port);
    let theirs = config_get(&mut rc, &["*"]);
    let ours = config_get(&mut kc, &["*"]);
    assert!(theirs.len() > 150, "redis-server listed {}", theirs.len());
    let mut problems = Vec::new();
    for (name, value) in &theirs {
        match ours.get(name) {
            None => problems.push(format!("{name}: unknown to corekv")),
            Some(v) if v != value && !STARTED_DIFFERENTLY.contains(&name.as_str()) => {
                problems.push(format!("{name}: corekv {v:?}, redis {value:?}"))
            }
            _ => {}
        }
    }
    // A redis-server built without TLS lists no tls-* parameters.
    for name in ours.keys() {
        if !theirs.contains_key(name) && !name.starts_with("tls-") {
            problems.push(format!("{name}: listed by corekv only"));
        }
    }
    // Hidden ones answer an exact name only, on both.
    for name in [
        "key-load-delay",
        "rdb-key-save-delay",
        "loading-process-events-interval-bytes",
        "watchdog-period",
        "use-exit-on-panic",
        "lua-enable-deprecated-api",
    ] {
        assert!(!ours.contains_key(name), "{name} is hidden");
        let (a, b) = (one(&mut kc, name), one(&mut rc, name));
        if a != b || a.is_empty() {
            problems.push(format!("hidden {name}: corekv {a:?}, redis {b:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_value_shown_sets_back() {
    let server = start_corekv_with(&["--shards", "2", "--save", ""]);
    let mut c = RawConn::connect(server.port);
    let before = config_get(&mut c, &["*"]);
    for (name, value) in &before {
        let reply = c.cmd(&["CONFIG", "SET", name, value]);
        let text = String::from_utf8_lossy(&reply).into_owned();
        assert!(
            text == "+OK\r\n"
                || text.contains("can't set immutable config")
                || text.contains("can't set protected config"),
            "CONFIG SET {name} {value:?}: {text}"
        );
    }
    assert_eq!(config_get(&mut c, &["*"]), before);
}

/// Reads until the server closes the connection (bounded); true if it did.
fn closed_within(conn: &mut TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn live_settings_act_at_once() {
    let server = start_corekv_with(&["--shards", "2", "--save", ""]);
    let mut admin = RawConn::connect(server.port);

    // proto-max-bulk-len: an open connection's next bulk is checked against it.
    let mut open = RawConn::connect(server.port);
    assert_eq!(open.cmd(&["PING"]), b"+PONG\r\n");
    ok(admin.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]));
    open.send(b"*2\r\n$4\r\nECHO\r\n$2000000\r\n");
    assert_eq!(
        escape(&open.read_reply()),
        "-ERR Protocol error: invalid bulk length\\r\\n"
    );
    assert!(open.closed_by_peer());
    ok(admin.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "512mb"]));

    // client-query-buffer-limit: past it, the client is dropped.
    let mut big = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    ok(admin.cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]));
    let mut req = b"*2\r\n$4\r\nECHO\r\n$3000000\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'x', 1_500_000));
    let _ = big.write_all(&req);
    assert!(closed_within(&mut big, Duration::from_secs(5)));
    ok(admin.cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1gb"]));

    // hz is clamped as Redis applies it.
    ok(admin.cmd(&["CONFIG", "SET", "hz", "100000"]));
    assert_eq!(one(&mut admin, "hz"), "500");
    ok(admin.cmd(&["CONFIG", "SET", "hz", "10"]));

    // Encoding thresholds, under their old names too.
    ok(admin.cmd(&["CONFIG", "SET", "hash-max-ziplist-entries", "1"]));
    admin.cmd(&["HSET", "h", "a", "1", "b", "2"]);
    assert_eq!(
        admin.cmd(&["OBJECT", "ENCODING", "h"]),
        b"$9\r\nhashtable\r\n"
    );
    ok(admin.cmd(&["CONFIG", "SET", "hash-max-ziplist-entries", "512"]));

    // timeout: an idle client goes, a subscriber stays.
    let mut idle = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let mut sub = RawConn::connect(server.port);
    sub.cmd(&["SUBSCRIBE", "ch"]);
    ok(admin.cmd(&["CONFIG", "SET", "timeout", "1"]));
    assert!(closed_within(&mut idle, Duration::from_secs(6)));
    // The admin connection was idle too: a new one puts timeout back.
    let mut admin = RawConn::connect(server.port);
    ok(admin.cmd(&["CONFIG", "SET", "timeout", "0"]));
    assert_eq!(
        escape(&sub.cmd(&["PING"])),
        "*2\\r\\n$4\\r\\npong\\r\\n$0\\r\\n\\r\\n"
    );

    // loglevel: the started-at `warning` hides notices until it changes.
    ok(admin.cmd(&["CONFIG", "SET", "maxmemory", "5"]));
    ok(admin.cmd(&["CONFIG", "SET", "loglevel", "notice"]));
    ok(admin.cmd(&["CONFIG", "SET", "maxmemory", "0"]));
    let log = server.log();
    let notices = log
        .matches("CONFIG SET maxmemory: corekv accepts it")
        .count();
    assert_eq!(notices, 1, "{log}");
    ok(admin.cmd(&["CONFIG", "SET", "loglevel", "warning"]));

    // Protected parameters need enable-protected-configs.
    assert!(
        String::from_utf8_lossy(&admin.cmd(&["CONFIG", "SET", "dir", "/tmp"]))
            .contains("can't set protected config")
    );
}

#[test]
fn port_moves_and_a_failed_move_restores_everything() {
    let server = start_corekv_with(&["--shards", "2", "--save", ""]);
    let mut c = RawConn::connect(server.port);
    let old = server.port;
    let new = free_port();
    ok(c.cmd(&["CONFIG", "SET", "port", &new.to_string()]));
    let mut moved = RawConn::connect(new);
    assert_eq!(moved.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(one(&mut moved, "port"), new.to_string());
    assert!(TcpStream::connect(("127.0.0.1", old)).is_err());
    // A port another process listens on: refused, nothing applied.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("addr").port().to_string();
    let reply = moved.cmd(&[
        "CONFIG",
        "SET",
        "maxmemory",
        "10000001",
        "port",
        &taken_port,
        "client-query-buffer-limit",
        "10m",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.\r\n"
    );
    let now = config_get(
        &mut moved,
        &["maxmemory", "port", "client-query-buffer-limit"],
    );
    assert_eq!(now["maxmemory"], "0");
    assert_eq!(now["port"], new.to_string());
    assert_eq!(now["client-query-buffer-limit"], "1073741824");
    assert_eq!(RawConn::connect(new).cmd(&["PING"]), b"+PONG\r\n");
    // An address that cannot be bound is Redis's bind error; nothing moves.
    let reply = moved.cmd(&["CONFIG", "SET", "bind", "999.999.999.999"]);
    assert!(String::from_utf8_lossy(&reply).contains("Failed to bind to specified addresses."));
    assert_eq!(one(&mut moved, "bind"), "127.0.0.1");
    assert_eq!(RawConn::connect(new).cmd(&["PING"]), b"+PONG\r\n");
}

/// Waits (bounded) for `path` to exist.
fn wait_for_file(path: &std::path::Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn config_file_command_line_and_rewrite() {
    let dir = test_dir("config-file");
    let inc = dir.join("extra.conf");
    fs::write(&inc, "tcp-keepalive 120\n").expect("write include");
    let conf = dir.join("corekv.conf");
    fs::write(
        &conf,
        format!(
            "# a test config\n\
             hash-max-ziplist-entries 20\n\
             save 900 1\n\
             save 300 10\n\
             client-output-buffer-limit pubsub 64mb 16mb 90\n\
             list-max-ziplist-entries 5\n\
             maxmemory-policy allkeys-lru\n\
             shutdown-on-sigint \"nosave now\"\n\
             include {}\n\
             \n\
             \n\
             notify-keyspace-events Ex\n",
            inc.display()
        ),
    )
    .expect("write config");
    let server = start_corekv_in(
        &dir,
        &[
            "--config",
            conf.to_str().expect("utf-8 path"),
            "--shards",
            "2",
            "--save",
            "100",
            "100",
            "--zset-max-ziplist-value",
            "1kb",
        ],
    );
    let mut c = RawConn::connect(server.port);
    let got = config_get(
        &mut c,
        &[
            "hash-max-listpack-entries",
            "save",
            "client-output-buffer-limit",
            "maxmemory-policy",
            "shutdown-on-sigint",
            "tcp-keepalive",
            "notify-keyspace-events",
            "zset-max-listpack-value",
        ],
    );
    assert_eq!(got["hash-max-listpack-entries"], "20");
    // Command-line lines come after the file's: its save adds to the file's.
    assert_eq!(got["save"], "900 1 300 10 100 100");
    assert_eq!(
        got["client-output-buffer-limit"],
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 90"
    );
    assert_eq!(got["maxmemory-policy"], "allkeys-lru");
    assert_eq!(got["shutdown-on-sigint"], "nosave now");
    assert_eq!(got["tcp-keepalive"], "120");
    assert_eq!(got["notify-keyspace-events"], "xE");
    assert_eq!(got["zset-max-listpack-value"], "1024");
    let info = String::from_utf8_lossy(&c.cmd(&["INFO", "server"])).into_owned();
    assert!(
        info.contains(&format!("config_file:{}", conf.display())),
        "{info}"
    );

    ok(c.cmd(&[
        "CONFIG",
        "SET",
        "hash-max-listpack-entries",
        "30",
        "maxmemory",
        "2gb",
        "save",
        "60 5",
    ]));
    ok(c.cmd(&["CONFIG", "REWRITE"]));
    let text = fs::read_to_string(&conf).expect("read rewritten config");
    assert!(
        text.starts_with("# a test config\nhash-max-listpack-entries 30\nsave 60 5\n"),
        "{text}"
    );
    assert!(text.contains("# Generated by CONFIG REWRITE\n"), "{text}");
    assert!(text.contains("\nmaxmemory 2gb\n"), "{text}");
    assert!(!text.contains("save 300 10"), "{text}");
    assert!(!text.contains("\n\n\n"), "{text}");
    let all_before = config_get(&mut c, &["*"]);
    drop(c);
    drop(server);
    // The rewritten file reads back to the same values.
    let again = start_corekv_in(&dir, &["--config", conf.to_str().expect("utf-8 path")]);
    let mut c = RawConn::connect(again.port);
    let all_after = config_get(&mut c, &["*"]);
    for (k, v) in &all_before {
        if !["port", "bind", "loglevel"].contains(&k.as_str()) {
            assert_eq!(all_after.get(k), Some(v), "{k}");
        }
    }
    drop(c);
    drop(again);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn bad_configs_stop_start_up_as_redis() {
    let dir = test_dir("config-bad");
    for (args, wanted) in [
        (
            vec!["--maxmemory-policy", "sometimes"],
            ">>> 'maxmemory-policy \"sometimes\"'\nargument(s) must be one of the following:",
        ),
        (vec!["--port"], ">>> 'port'\nwrong number of arguments"),
        (
            vec!["--hz", "fast"],
            "argument couldn't be parsed into an integer",
        ),
        (
            vec!["--nosuch-parameter", "1"],
            "Bad directive or wrong number of arguments",
        ),
        (
            vec!["--shutdown-on-sigint", "save nosave"],
            "shutdown options SAVE and NOSAVE can't be used simultaneously",
        ),
    ] {
        let child = spawn_corekv_in(&dir, &args);
        let (code, out) = wait_output(child, Duration::from_secs(10)).expect("corekv exits");
        assert_eq!(code, 1, "{args:?}: {out}");
        assert!(
            out.contains("*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"),
            "{out}"
        );
        assert!(out.contains(wanted), "{args:?}: {out}");
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn protected_configs_pidfile_and_sigterm_without_save() {
    let dir = test_dir("config-protected");
    let sub = dir.join("elsewhere");
    fs::create_dir_all(&sub).expect("mkdir");
    let pidfile = dir.join("corekv.pid");
    let server = start_corekv_in(
        &dir,
        &[
            "--shards",
            "2",
            "--enable-protected-configs",
            "local",
            "--pidfile",
            pidfile.to_str().expect("utf-8 path"),
            "--save",
            "3600 1",
            "--shutdown-on-sigterm",
            "nosave",
        ],
    );
    assert!(wait_for_file(&pidfile), "no pidfile");
    let pid = fs::read_to_string(&pidfile).expect("read pidfile");
    assert!(pid.trim().parse::<u32>().is_ok(), "{pid:?}");
    let mut c = RawConn::connect(server.port);
    // A loopback client may set protected parameters under `local`.
    ok(c.cmd(&["CONFIG", "SET", "dir", sub.to_str().expect("utf-8 path")]));
    assert_eq!(
        one(&mut c, "dir"),
        fs::canonicalize(&sub)
            .expect("canonical")
            .display()
            .to_string()
    );
    let reply = c.cmd(&["CONFIG", "SET", "dir", "/no/such/dir"]);
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "-ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory\r\n"
    );
    ok(c.cmd(&["CONFIG", "SET", "dbfilename", "other.rdb"]));
    c.cmd(&["SET", "k", "v"]);
    drop(c);
    // SIGTERM with shutdown-on-sigterm nosave: no final save despite the
    // save point and the change.
    drop(server);
    assert!(!sub.join("other.rdb").exists(), "saved despite nosave");
    assert!(!dir.join("other.rdb").exists(), "saved despite nosave");
    assert!(!pidfile.exists(), "pidfile left behind");
    let _ = fs::remove_dir_all(&dir);
}
