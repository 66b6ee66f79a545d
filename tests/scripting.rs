//! Lua scripts and functions on several shards: atomic whatever keys they
//! touch (declared or not), the script cache and the function libraries
//! shared by every shard, scripts inside EXEC. Reply and error texts are
//! compared with redis-server by the differential corpora
//! `tests/corpus/scripting.txt` and `tests/corpus/functions.txt`.

mod support;

use std::thread;

use support::{RawConn, start_corekv};

fn s(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// Moves one unit between keys on different shards, named in ARGV (so not
/// declared): a script is all-or-nothing to other clients.
const MOVE: &str = "local a = tonumber(redis.call('get', ARGV[1])) \
    local b = tonumber(redis.call('get', ARGV[2])) \
    redis.call('set', ARGV[1], a - 1) \
    redis.call('set', ARGV[2], b + 1) \
    return a + b";

#[test]
fn scripts_are_atomic_across_shards_with_undeclared_keys() {
    let srv = start_corekv(3);
    let mut c = RawConn::connect(srv.port);
    // Keys chosen to live on different shards (different hash tags).
    let keys = ["acct{a}", "acct{b}", "acct{c}"];
    for k in keys {
        assert_eq!(s(&c.cmd(&["SET", k, "1000"])), "+OK\r\n");
    }
    let port = srv.port;
    let movers: Vec<_> = (0..3)
        .map(|i| {
            thread::spawn(move || {
                let mut c = RawConn::connect(port);
                let keys = ["acct{a}", "acct{b}", "acct{c}"];
                for n in 0..300 {
                    let (x, y) = (keys[(i + n) % 3], keys[(i + n + 1) % 3]);
                    let r = s(&c.cmd(&["EVAL", MOVE, "0", x, y]));
                    assert!(r.starts_with(':'), "{r}");
                }
            })
        })
        .collect();
    // Readers see the total unchanged, through MGET and through a script.
    let mut r = RawConn::connect(srv.port);
    let sum_script = "local t = 0 for _, k in ipairs(ARGV) do \
        t = t + tonumber(redis.call('get', k)) end return t";
    for _ in 0..300 {
        let total = s(&r.cmd(&["EVAL", sum_script, "0", keys[0], keys[1], keys[2]]));
        assert_eq!(total, ":3000\r\n");
        let m = r.cmd(&["MGET", keys[0], keys[1], keys[2]]);
        let text = s(&m);
        let sum: i64 = text
            .split("\r\n")
            .filter_map(|l| l.parse::<i64>().ok())
            .filter(|n| *n > 10)
            .sum();
        assert_eq!(sum, 3000, "{text}");
    }
    for m in movers {
        m.join().expect("mover thread");
    }
    let total = s(&c.cmd(&["EVAL", sum_script, "0", keys[0], keys[1], keys[2]]));
    assert_eq!(total, ":3000\r\n");
}

#[test]
fn script_cache_is_shared_by_every_shard() {
    let srv = start_corekv(3);
    let mut a = RawConn::connect(srv.port);
    let sha = s(&a.cmd(&[
        "SCRIPT",
        "LOAD",
        "return ARGV[1] .. redis.call('incr', KEYS[1])",
    ]));
    let sha = sha.trim().rsplit('\n').next().unwrap_or("").to_string();
    assert_eq!(sha.len(), 40, "{sha}");
    // Connections are spread over the shards: every one finds the script.
    for i in 0..12 {
        let mut c = RawConn::connect(srv.port);
        let v = format!("x{}", i + 1);
        let want = format!("${}\r\n{v}\r\n", v.len());
        assert_eq!(s(&c.cmd(&["EVALSHA", &sha, "1", "n{z}", "x"])), want);
        assert_eq!(s(&c.cmd(&["SCRIPT", "EXISTS", &sha])), "*1\r\n:1\r\n");
    }
    assert_eq!(s(&a.cmd(&["SCRIPT", "FLUSH"])), "+OK\r\n");
    let mut c = RawConn::connect(srv.port);
    assert_eq!(
        s(&c.cmd(&["EVALSHA", &sha, "1", "n{z}", "x"])),
        "-NOSCRIPT No matching script. Please use EVAL.\r\n"
    );
}

#[test]
fn scripts_run_inside_exec_and_see_its_writes() {
    let srv = start_corekv(2);
    let mut c = RawConn::connect(srv.port);
    assert_eq!(s(&c.cmd(&["MULTI"])), "+OK\r\n");
    assert_eq!(s(&c.cmd(&["SET", "k{1}", "5"])), "+QUEUED\r\n");
    let script = "return redis.call('incrby', 'k{1}', 1) + redis.call('incr', 'k{2}')";
    assert_eq!(s(&c.cmd(&["EVAL", script, "0"])), "+QUEUED\r\n");
    assert_eq!(s(&c.cmd(&["EXEC"])), "*2\r\n+OK\r\n:7\r\n");
    // Blocking commands are refused in scripts (Redis 7.0 flags them noscript).
    let r = s(&c.cmd(&["EVAL", "return redis.call('blpop', 'none', 0)", "0"]));
    assert!(
        r.starts_with("-ERR This Redis command is not allowed from script"),
        "{r}"
    );
    // A script that fails halfway keeps what it did (Redis has no rollback).
    let r = s(&c.cmd(&[
        "EVAL",
        "redis.call('set', 'half{1}', 'x') redis.call('incr', 'half{1}')",
        "0",
    ]));
    assert!(r.starts_with("-ERR value is not an integer"), "{r}");
    assert_eq!(s(&c.cmd(&["GET", "half{1}"])), "$1\r\nx\r\n");
}

/// A library moving units between keys on different shards and one summing
/// them (read-only): FCALL is atomic like EVAL, and every shard thread
/// compiles the library it is asked to run, and drops it once replaced or
/// deleted.
const BANK: &str = "#!lua name=bank\n\
    redis.register_function('move', function(keys, args)\n\
      local a = tonumber(redis.call('get', args[1]))\n\
      local b = tonumber(redis.call('get', args[2]))\n\
      redis.call('set', args[1], a - 1)\n\
      redis.call('set', args[2], b + 1)\n\
      return a + b\n\
    end)\n\
    redis.register_function{function_name='total', flags={'no-writes'}, callback=function(keys, args)\n\
      local t = 0 for _, k in ipairs(args) do t = t + tonumber(redis.call('get', k)) end return t\n\
    end}";

#[test]
fn functions_are_atomic_across_shards_and_shared_by_every_shard() {
    let srv = start_corekv(3);
    let mut c = RawConn::connect(srv.port);
    let keys = ["acct{a}", "acct{b}", "acct{c}"];
    for k in keys {
        assert_eq!(s(&c.cmd(&["SET", k, "1000"])), "+OK\r\n");
    }
    assert_eq!(s(&c.cmd(&["FUNCTION", "LOAD", BANK])), "$4\r\nbank\r\n");
    let port = srv.port;
    let movers: Vec<_> = (0..3)
        .map(|i| {
            thread::spawn(move || {
                let mut c = RawConn::connect(port);
                let keys = ["acct{a}", "acct{b}", "acct{c}"];
                for n in 0..300 {
                    let (x, y) = (keys[(i + n) % 3], keys[(i + n + 1) % 3]);
                    let r = s(&c.cmd(&["FCALL", "move", "0", x, y]));
                    assert!(r.starts_with(':'), "{r}");
                }
            })
        })
        .collect();
    let mut r = RawConn::connect(srv.port);
    for _ in 0..300 {
        let total = s(&r.cmd(&["FCALL_RO", "total", "0", keys[0], keys[1], keys[2]]));
        assert_eq!(total, ":3000\r\n");
    }
    for m in movers {
        m.join().expect("mover thread");
    }
    // Connections are spread over the shards; each compiled `bank`. A new
    // version replaces it everywhere, a delete removes it everywhere.
    let mut conns: Vec<RawConn> = (0..9).map(|_| RawConn::connect(srv.port)).collect();
    for c in &mut conns {
        let total = s(&c.cmd(&["FCALL", "total", "0", keys[0], keys[1], keys[2]]));
        assert_eq!(total, ":3000\r\n");
    }
    let v2 = "#!lua name=bank\nredis.register_function('total', function() return 'v2' end)";
    assert_eq!(
        s(&c.cmd(&["FUNCTION", "LOAD", "REPLACE", v2])),
        "$4\r\nbank\r\n"
    );
    for c in &mut conns {
        assert_eq!(s(&c.cmd(&["FCALL", "total", "0"])), "$2\r\nv2\r\n");
        assert_eq!(
            s(&c.cmd(&["FCALL", "move", "0"])),
            "-ERR Function not found\r\n"
        );
    }
    assert_eq!(s(&c.cmd(&["FUNCTION", "DELETE", "bank"])), "+OK\r\n");
    for c in &mut conns {
        assert_eq!(
            s(&c.cmd(&["FCALL", "total", "0"])),
            "-ERR Function not found\r\n"
        );
    }
}

/// Sends `args` on a fresh connection without waiting for the reply: the
/// connection, to read it later.
fn start(port: u16, args: &[&str]) -> RawConn {
    let mut c = RawConn::connect(port);
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.send_cmd(&args);
    c
}

/// Polls until `conn` answers PING with `-BUSY` (the script is past the
/// threshold); bounded.
fn wait_busy(conn: &mut RawConn) -> String {
    for _ in 0..200 {
        let r = s(&conn.cmd(&["PING"]));
        if r.starts_with("-BUSY") {
            return r;
        }
        thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the script never became busy");
}

/// Past `busy-reply-threshold` a script yields to its shard now and then:
/// clients on every shard are answered -BUSY, SCRIPT KILL and FUNCTION KILL
/// stop a script that has not written (even one that pcalls in a loop),
/// FUNCTION STATS shows it, and a script that wrote cannot be killed.
#[test]
fn busy_scripts_answer_busy_and_can_be_killed() {
    let srv = start_corekv(2);
    let mut admin = RawConn::connect(srv.port);
    assert_eq!(
        s(&admin.cmd(&["CONFIG", "SET", "lua-time-limit", "20"])),
        "+OK\r\n"
    );
    // Several clients: the kernel spreads them over both shards, so some
    // share the script's shard.
    let mut others: Vec<RawConn> = (0..6).map(|_| RawConn::connect(srv.port)).collect();
    assert_eq!(
        s(&admin.cmd(&["SCRIPT", "KILL"])),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );
    let looping =
        "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end";
    let mut runner = start(srv.port, &["EVAL", looping, "0"]);
    let busy = wait_busy(&mut admin);
    assert_eq!(
        busy,
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    for c in &mut others {
        assert!(s(&c.cmd(&["GET", "k"])).starts_with("-BUSY"));
    }
    assert!(s(&admin.cmd(&["FUNCTION", "KILL"])).starts_with("-BUSY"));
    assert!(s(&admin.cmd(&["SHUTDOWN"])).starts_with("-BUSY"));
    assert_eq!(s(&admin.cmd(&["SCRIPT", "KILL"])), "+OK\r\n");
    let r = s(&runner.read_reply());
    assert!(
        r.starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{r}"
    );
    for c in &mut others {
        assert_eq!(s(&c.cmd(&["PING"])), "+PONG\r\n");
    }

    // A function: FUNCTION STATS shows it; SCRIPT KILL is the wrong kill.
    let lib = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(s(&admin.cmd(&["FUNCTION", "LOAD", lib])), "$4\r\nspin\r\n");
    let mut runner = start(srv.port, &["FCALL", "spin", "0"]);
    wait_busy(&mut admin);
    let stats = s(&admin.cmd(&["FUNCTION", "STATS"]));
    assert!(
        stats.contains("$4\r\nspin\r\n$7\r\ncommand\r\n*3\r\n$5\r\nFCALL\r\n"),
        "{stats}"
    );
    assert!(s(&admin.cmd(&["SCRIPT", "KILL"])).starts_with("-BUSY"));
    assert_eq!(s(&admin.cmd(&["FUNCTION", "KILL"])), "+OK\r\n");
    assert!(s(&runner.read_reply()).contains("killed by user"));

    // A script busy inside a C call (a sort comparator) cannot be paused
    // there, and still finishes correctly.
    let sorting = "local t = {} for i = 1, 300 do t[i] = (i * 7919) % 300 end \
        table.sort(t, function(a, b) for _ = 1, 3000 do end return a < b end) \
        return {t[1], t[300]}";
    assert_eq!(
        s(&admin.cmd(&["EVAL", sorting, "0"])),
        "*2\r\n:0\r\n:299\r\n"
    );

    // Once it has written, it runs to the end: only SHUTDOWN NOSAVE stops it.
    let mut runner = start(
        srv.port,
        &[
            "EVAL",
            "redis.call('set', KEYS[1], 'y') while true do end",
            "1",
            "x",
        ],
    );
    wait_busy(&mut admin);
    assert!(s(&admin.cmd(&["SCRIPT", "KILL"])).starts_with("-UNKILLABLE Sorry the script"));
    admin.send_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    let mut srv = srv;
    assert_eq!(srv.wait_exit(std::time::Duration::from_secs(10)), Some(0));
    assert!(runner.closed_by_peer());
}
