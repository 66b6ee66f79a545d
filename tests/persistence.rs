//! Persistence against a real redis-server, both ways: corekv's snapshot files
//! load in redis-server 7.0 and Redis's load in corekv (every type, each of
//! Redis's encodings, expiries, several databases), DUMP payloads RESTORE
//! across the two, a snapshot is one point in time across shards, and a
//! corrupt file is refused at start-up.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use redis::{Commands, Connection, Value};
use support::*;

/// Builds a dataset that covers every type and each of Redis's encodings
/// (small and big forms, integer and LZF-compressible strings), with expiries,
/// in databases 0 and 5.
fn build_dataset(con: &mut Connection) {
    let mut p = redis::pipe();
    for db in [0, 5] {
        p.cmd("SELECT").arg(db).ignore();
        p.cmd("SET").arg("str").arg("hello").ignore();
        p.cmd("SET").arg("int").arg(-123456).ignore();
        p.cmd("SET").arg("i64").arg("9223372036854775807").ignore();
        p.cmd("SET").arg("lzf").arg("abcd".repeat(400)).ignore();
        p.cmd("SET")
            .arg("bin")
            .arg(&[0u8, 255, 13, 10, 7][..])
            .ignore();
        p.cmd("SET")
            .arg("ttl")
            .arg("soon")
            .arg("PX")
            .arg(600_000)
            .ignore();
        p.cmd("RPUSH")
            .arg("list")
            .arg(&["a", "1", "-7", "x"])
            .ignore();
        for i in 0..600 {
            p.cmd("RPUSH")
                .arg("biglist")
                .arg(format!("{}{i}", "e".repeat(i % 9)))
                .ignore();
        }
        p.cmd("RPUSH").arg("plain").arg("p".repeat(9000)).ignore();
        p.cmd("SADD")
            .arg("intset")
            .arg(&[1, -2, 300, 70000])
            .ignore();
        p.cmd("SADD").arg("strset").arg(&["a", "b", "c"]).ignore();
        for i in 0..700 {
            p.cmd("SADD").arg("bigintset").arg(i * 3).ignore();
            p.cmd("HSET")
                .arg("bighash")
                .arg(format!("f{i}"))
                .arg(format!("v{i}"))
                .ignore();
            p.cmd("ZADD")
                .arg("bigzset")
                .arg(i as f64 / 3.0)
                .arg(format!("m{i}"))
                .ignore();
        }
        p.cmd("HSET")
            .arg("hash")
            .arg(&["f", "v", "n", "12"])
            .ignore();
        p.cmd("HSET")
            .arg("longhash")
            .arg("f")
            .arg("v".repeat(100))
            .ignore();
        p.cmd("ZADD")
            .arg("zset")
            .arg(&["1.5", "a", "-inf", "b", "+inf", "c", "0", "d"])
            .ignore();
        p.cmd("PFADD")
            .arg("hll")
            .arg(&["a", "b", "c", "d"])
            .ignore();
        p.cmd("EXPIRE").arg("bighash").arg(100_000).ignore();
    }
    p.cmd("SELECT").arg(0).ignore();
    for lib in LIBRARIES {
        p.cmd("FUNCTION")
            .arg("LOAD")
            .arg("REPLACE")
            .arg(*lib)
            .ignore();
    }
    p.query::<()>(con).expect("build dataset");
}

/// Function libraries (snapshots carry them): flags, a description, code
/// long enough to be LZF-compressed.
const LIBRARIES: &[&str] = &[
    "#!lua name=cklib\n\
     local function upper(k) return string.upper(redis.call('GET', k) or '') end\n\
     redis.register_function{function_name='ck_upper', callback=function(keys) return upper(keys[1]) end,\
     flags={'no-writes', 'allow-stale'}, description='the value, in upper case'}\n",
    "#!lua name=lib2\nredis.register_function('ck_incr', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)",
];

/// The loaded libraries' functions run (on whichever shard compiles them).
fn functions_run(con: &mut Connection) {
    let v: String = redis::cmd("FCALL_RO")
        .arg("ck_upper")
        .arg(1)
        .arg("str")
        .query(con)
        .expect("FCALL_RO");
    assert_eq!(v, "HELLO");
}

/// FUNCTION LIST WITHCODE, one entry per library in name order (Redis lists
/// them in its hash order).
fn libraries(con: &mut Connection) -> String {
    let v: Value = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("WITHCODE")
        .query(con)
        .expect("FUNCTION LIST");
    let Value::Array(libs) = v else {
        panic!("FUNCTION LIST: {v:?}")
    };
    let mut out: Vec<String> = libs.iter().map(|l| format!("{l:?}")).collect();
    out.sort();
    out.join("\n")
}

/// Everything a client can see of the keyspace: per (db, key), the type, the
/// value in a canonical form, and whether it has a TTL.
fn contents(con: &mut Connection) -> BTreeMap<(u8, Vec<u8>), String> {
    let mut out = BTreeMap::new();
    for db in 0..16u8 {
        redis::cmd("SELECT")
            .arg(db)
            .query::<()>(con)
            .expect("select");
        let keys: Vec<Vec<u8>> = con.keys("*").expect("keys");
        for k in keys {
            let t: String = redis::cmd("TYPE").arg(&k).query(con).expect("type");
            let v = match t.as_str() {
                "string" => format!("{:?}", con.get::<_, Vec<u8>>(&k).expect("get")),
                "list" => format!(
                    "{:?}",
                    con.lrange::<_, Vec<Vec<u8>>>(&k, 0, -1).expect("lrange")
                ),
                "set" => {
                    let mut m: Vec<Vec<u8>> = con.smembers(&k).expect("smembers");
                    m.sort();
                    format!("{m:?}")
                }
                "hash" => {
                    let m: BTreeMap<Vec<u8>, Vec<u8>> = con.hgetall(&k).expect("hgetall");
                    format!("{m:?}")
                }
                "zset" => {
                    let m: Vec<(Vec<u8>, String)> =
                        con.zrange_withscores(&k, 0, -1).expect("zrange");
                    format!("{m:?}")
                }
                other => panic!("unexpected type {other}"),
            };
            let ttl: i64 = con.pttl(&k).expect("pttl");
            out.insert((db, k), format!("{t} {v} ttl={}", ttl > 0));
        }
    }
    redis::cmd("SELECT")
        .arg(0)
        .query::<()>(con)
        .expect("select");
    out.insert((u8::MAX, b"FUNCTION LIST".to_vec()), libraries(con));
    out
}

/// DEBUG DIGEST: Redis's whole-dataset SHA1 digest, which corekv computes the
/// same way.
fn digest(con: &mut Connection) -> String {
    redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(con)
        .expect("DEBUG DIGEST")
}

fn encodings(con: &mut Connection, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .map(|k| {
            redis::cmd("OBJECT")
                .arg("ENCODING")
                .arg(k)
                .query::<String>(con)
                .expect("object encoding")
        })
        .collect()
}

/// Keys whose encoding must survive the trip (small string sets are left
/// out: corekv gives them 7.2's listpack, where 7.0 uses a hashtable).
const ENCODED: &[&str] = &[
    "str",
    "int",
    "lzf",
    "list",
    "biglist",
    "intset",
    "bigintset",
    "hash",
    "bighash",
    "longhash",
    "zset",
    "bigzset",
];

#[test]
fn corekv_snapshot_loads_in_redis_server() {
    for shards in [1, 3] {
        let ck = start_corekv(shards);
        let mut c = redis_client(ck.port);
        build_dataset(&mut c);
        let want = contents(&mut c);
        let want_digest = digest(&mut c);
        let _: () = redis::cmd("SAVE").query(&mut c).expect("SAVE");
        let dir = test_dir("rdb-to-redis");
        fs::copy(ck.dir().join("dump.rdb"), dir.join("dump.rdb")).expect("copy dump.rdb");
        let Some(rs) = start_redis_in(&dir) else {
            eprintln!("redis-server not installed; skipping");
            let _ = fs::remove_dir_all(&dir);
            return;
        };
        let mut r = redis_client(rs.port);
        assert_eq!(contents(&mut r), want, "{shards} shard(s)");
        assert_eq!(digest(&mut r), want_digest, "{shards} shard(s)");
        // Redis re-encodes plain forms by its own thresholds as it loads.
        assert_eq!(
            encodings(&mut r, ENCODED),
            [
                "embstr",
                "int",
                "raw",
                "quicklist",
                "quicklist",
                "intset",
                "hashtable",
                "listpack",
                "hashtable",
                "hashtable",
                "listpack",
                "skiplist"
            ]
        );
        drop(rs);
        let _ = fs::remove_dir_all(&dir);
    }
}

#[test]
fn redis_server_snapshot_loads_in_corekv() {
    let rdir = test_dir("redis-to-rdb");
    let Some(rs) = start_redis_in(&rdir) else {
        eprintln!("redis-server not installed; skipping");
        let _ = fs::remove_dir_all(&rdir);
        return;
    };
    let mut r = redis_client(rs.port);
    build_dataset(&mut r);
    let want = contents(&mut r);
    let want_enc = encodings(&mut r, ENCODED);
    let want_digest = digest(&mut r);
    let _: () = redis::cmd("SAVE").query(&mut r).expect("SAVE");
    for shards in [1, 2, 3] {
        let dir = test_dir("rdb-from-redis");
        fs::copy(rdir.join("dump.rdb"), dir.join("dump.rdb")).expect("copy dump.rdb");
        let ck = start_corekv_in(&dir, &["--shards", &shards.to_string()]);
        let mut c = redis_client(ck.port);
        assert_eq!(contents(&mut c), want, "{shards} shard(s)");
        assert_eq!(encodings(&mut c, ENCODED), want_enc, "{shards} shard(s)");
        assert_eq!(digest(&mut c), want_digest, "{shards} shard(s)");
        functions_run(&mut c);
        drop(ck);
        let _ = fs::remove_dir_all(&dir);
    }
    drop(rs);
    let _ = fs::remove_dir_all(&rdir);
}

/// Every key's DUMP restores on the other server, in both directions.
#[test]
fn dump_payloads_restore_across_servers() {
    let Some(rs) = start_redis() else {
        eprintln!("redis-server not installed; skipping");
        return;
    };
    let ck = start_corekv(2);
    let mut r = redis_client(rs.port);
    let mut c = redis_client(ck.port);
    build_dataset(&mut r);
    let want = contents(&mut r);
    let copy = |from: &mut Connection, to: &mut Connection| {
        let _: () = redis::cmd("FLUSHALL").query(to).expect("flushall");
        let libs: Vec<u8> = redis::cmd("FUNCTION")
            .arg("DUMP")
            .query(from)
            .expect("FUNCTION DUMP");
        let _: () = redis::cmd("FUNCTION")
            .arg("RESTORE")
            .arg(libs)
            .arg("FLUSH")
            .query(to)
            .expect("FUNCTION RESTORE");
        for db in [0u8, 5] {
            redis::cmd("SELECT")
                .arg(db)
                .query::<()>(from)
                .expect("select");
            redis::cmd("SELECT")
                .arg(db)
                .query::<()>(to)
                .expect("select");
            let keys: Vec<Vec<u8>> = from.keys("*").expect("keys");
            for k in keys {
                let payload: Vec<u8> = redis::cmd("DUMP").arg(&k).query(from).expect("dump");
                let ttl: i64 = from.pttl(&k).expect("pttl");
                let _: () = redis::cmd("RESTORE")
                    .arg(&k)
                    .arg(ttl.max(0))
                    .arg(payload)
                    .query(to)
                    .unwrap_or_else(|e| panic!("RESTORE {}: {e}", String::from_utf8_lossy(&k)));
            }
        }
        redis::cmd("SELECT")
            .arg(0)
            .query::<()>(from)
            .expect("select");
        redis::cmd("SELECT").arg(0).query::<()>(to).expect("select");
    };
    let want_digest = digest(&mut r);
    copy(&mut r, &mut c);
    let what = "redis-server DUMP -> corekv RESTORE";
    assert_eq!(contents(&mut c), want, "{what}");
    assert_eq!(digest(&mut c), want_digest, "{what}");
    copy(&mut c, &mut r);
    let what = "corekv DUMP -> redis-server RESTORE";
    assert_eq!(contents(&mut r), want, "{what}");
    assert_eq!(digest(&mut r), want_digest, "{what}");
}

#[test]
fn debug_reload_and_restart_keep_the_dataset() {
    let dir = test_dir("restart");
    let want = {
        let mut ck = start_corekv_in(&dir, &["--shards", "2"]);
        let mut c = redis_client(ck.port);
        build_dataset(&mut c);
        let want = contents(&mut c);
        let _: () = redis::cmd("DEBUG")
            .arg("RELOAD")
            .query(&mut c)
            .expect("DEBUG RELOAD");
        assert_eq!(contents(&mut c), want, "after DEBUG RELOAD");
        // The default save points are set, so SHUTDOWN saves.
        let _ = redis::cmd("SHUTDOWN").query::<()>(&mut c);
        assert_eq!(ck.wait_exit(Duration::from_secs(10)), Some(0));
        want
    };
    let ck = start_corekv_in(&dir, &["--shards", "3"]);
    let mut c = redis_client(ck.port);
    assert_eq!(contents(&mut c), want, "after restart on 3 shards");
    functions_run(&mut c);
    let t: i64 = redis::cmd("LASTSAVE").query(&mut c).expect("lastsave");
    assert!(t > 1_600_000_000);
    // SIGTERM saves too (with save points set).
    let _: () = c.set("after", "restart").expect("set");
    drop(ck);
    let ck = start_corekv_in(&dir, &["--shards", "1"]);
    let mut c = redis_client(ck.port);
    let v: String = c.get("after").expect("get");
    assert_eq!(v, "restart");
    drop(ck);
    let _ = fs::remove_dir_all(&dir);
}

/// A truncated or bit-flipped snapshot is refused with a clear message and
/// the server does not start with part of it.
#[test]
fn corrupt_snapshot_is_refused_at_startup() {
    let dir = test_dir("corrupt");
    {
        let ck = start_corekv_in(&dir, &["--shards", "2"]);
        let mut c = redis_client(ck.port);
        build_dataset(&mut c);
        let _: () = redis::cmd("SAVE").query(&mut c).expect("SAVE");
        let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    }
    let good = fs::read(dir.join("dump.rdb")).expect("read dump.rdb");
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    // Cut short, with a zero ("not checked") checksum: the parse itself
    // must find the missing end.
    let mut cut = good[..good.len() / 2].to_vec();
    cut.extend_from_slice(&[0; 8]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_vec(), "checksum"),
        ("bit flip", flipped, "checksum"),
        ("truncated, no checksum", cut, ""),
        (
            "not an rdb",
            b"hello world, not a snapshot".to_vec(),
            "signature",
        ),
        (
            "future version",
            [b"REDIS0099".as_slice(), &good[9..]].concat(),
            "version",
        ),
    ];
    for (what, bytes, needle) in cases {
        fs::write(dir.join("dump.rdb"), &bytes).expect("write dump.rdb");
        let child = spawn_corekv_in(&dir, &["--shards", "2"]);
        let out = wait_output(child, Duration::from_secs(10));
        let (code, log) = out.unwrap_or_else(|| panic!("{what}: corekv kept running"));
        assert_ne!(code, 0, "{what}: {log}");
        assert!(log.contains("Fatal error loading the DB"), "{what}: {log}");
        assert!(log.to_lowercase().contains(needle), "{what}: {log}");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// BGSAVE while writers run cross-shard MSETs of pairs and MULTI/EXECs,
/// over a dataset big enough that each shard serialises it over many turns:
/// in every file each pair is equal (each multi-shard write is wholly in or
/// out) and every key is there once.
#[test]
fn snapshot_is_one_point_in_time_across_shards() {
    const PAIRS: usize = 2000;
    const FILLER: usize = 150_000;
    let dir = test_dir("consistent");
    let ck = start_corekv_in(&dir, &["--shards", "3", "--save", ""]);
    let port = ck.port;
    let mut c = redis_client(port);
    for chunk in 0..FILLER / 1000 {
        let mut p = redis::pipe();
        let mut m = redis::cmd("MSET");
        for i in chunk * 1000..(chunk + 1) * 1000 {
            m.arg(format!("filler:{i}")).arg(i);
        }
        p.add_command(m).ignore();
        p.query::<()>(&mut c).expect("filler");
    }
    let mut p = redis::pipe();
    for i in 0..PAIRS {
        p.cmd("MSET")
            .arg(format!("pa{i}"))
            .arg(0)
            .arg(format!("pb{i}"))
            .arg(0)
            .ignore();
    }
    p.query::<()>(&mut c).expect("pairs");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut c = redis_client(port);
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 1_000_000 {
                    n += 1;
                    let i = (n as usize * 7 + w * 613) % PAIRS;
                    let v = format!("{w}:{n}");
                    let _: () = redis::cmd("MSET")
                        .arg(format!("pa{i}"))
                        .arg(&v)
                        .arg(format!("pb{i}"))
                        .arg(&v)
                        .query(&mut c)
                        .expect("mset");
                    let mut p = redis::pipe();
                    p.atomic()
                        .cmd("SET")
                        .arg(format!("pa{}", (i + 1) % PAIRS))
                        .arg(&v)
                        .cmd("SET")
                        .arg(format!("pb{}", (i + 1) % PAIRS))
                        .arg(&v);
                    let _: Value = p.query(&mut c).expect("exec");
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    for round in 0..3 {
        let reply: String = redis::cmd("BGSAVE").query(&mut c).expect("bgsave");
        assert!(reply.starts_with("Background saving"), "{reply}");
        wait_bgsave(&mut c);
        let copy = dir.join(format!("snap{round}.rdb"));
        fs::copy(dir.join("dump.rdb"), &copy).expect("copy");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    drop(ck);
    for round in 0..3 {
        let sub = test_dir("consistent-load");
        fs::copy(dir.join(format!("snap{round}.rdb")), sub.join("dump.rdb")).expect("copy");
        let ck = start_corekv_in(&sub, &["--shards", "2", "--save", ""]);
        let mut c = redis_client(ck.port);
        let n: usize = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
        assert_eq!(n, FILLER + 2 * PAIRS, "snapshot {round}");
        let a: Vec<String> = c
            .mget((0..PAIRS).map(|i| format!("pa{i}")).collect::<Vec<_>>())
            .expect("mget");
        let b: Vec<String> = c
            .mget((0..PAIRS).map(|i| format!("pb{i}")).collect::<Vec<_>>())
            .expect("mget");
        for i in 0..PAIRS {
            assert_eq!(a[i], b[i], "snapshot {round}: pa{i} vs pb{i}");
        }
        drop(ck);
        let _ = fs::remove_dir_all(&sub);
    }
    let _ = fs::remove_dir_all(&dir);
}

fn wait_bgsave(c: &mut Connection) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query(c)
            .expect("info");
        if info.contains("rdb_bgsave_in_progress:0") {
            assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
            return;
        }
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Redis's own RDB fixtures (its `tests/assets`: Redis 2.x zipmap, ziplist and
/// intset encodings, quicklist v1, ziplist zsets and hashes) load in corekv to
/// the same DEBUG DIGEST as in redis-server. They are not vendored: the test
/// runs where a Redis source tree is (`REDIS_TEST_ASSETS`, default where
/// `../shared/tools/redis-tcl.sh` unpacks it) and says so when skipping.
#[test]
fn redis_test_assets_load_like_redis() {
    let assets = std::env::var("REDIS_TEST_ASSETS")
        .unwrap_or_else(|_| "/tmp/redis-tests/redis-src/tests/assets".into());
    let assets = std::path::Path::new(&assets);
    if !assets.is_dir() {
        eprintln!("SKIPPING: no Redis test assets at {}", assets.display());
        return;
    }
    let names = [
        "encodings.rdb",
        "hash-zipmap.rdb",
        "hash-ziplist.rdb",
        "list-quicklist.rdb",
        "zset-ziplist.rdb",
    ];
    for name in names {
        let src = assets.join(name);
        if !src.is_file() {
            continue;
        }
        let load = |redis: bool| -> (u64, String) {
            let dir = test_dir("assets");
            fs::copy(&src, dir.join("dump.rdb")).expect("copy asset");
            let srv = if redis {
                match start_redis_in(&dir) {
                    Some(s) => s,
                    None => return (0, String::new()),
                }
            } else {
                start_corekv_in(&dir, &["--shards", "2", "--save", ""])
            };
            let mut c = redis_client(srv.port);
            let n: u64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
            let d = digest(&mut c);
            drop(srv);
            let _ = fs::remove_dir_all(&dir);
            (n, d)
        };
        let want = load(true);
        if want.1.is_empty() {
            return;
        }
        assert_eq!(load(false), want, "{name}");
    }
}

/// SIGTERM (or SHUTDOWN) while a BGSAVE runs: the server lets it finish, then
/// saves once more and exits, so writes made after the BGSAVE began survive.
#[test]
fn shutdown_during_bgsave_saves_the_latest_data() {
    let dir = test_dir("shutdown-bgsave");
    let mut ck = start_corekv_in(&dir, &["--shards", "2"]);
    let mut c = redis_client(ck.port);
    for chunk in 0..100 {
        let mut m = redis::cmd("MSET");
        for i in chunk * 1000..(chunk + 1) * 1000 {
            m.arg(format!("k:{i}")).arg(i);
        }
        let _: () = m.query(&mut c).expect("mset");
    }
    let reply: String = redis::cmd("BGSAVE").query(&mut c).expect("bgsave");
    assert!(reply.starts_with("Background saving"), "{reply}");
    let _: () = c.set("late", "write").expect("set");
    let _ = redis::cmd("SHUTDOWN").query::<()>(&mut c);
    assert_eq!(
        ck.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        ck.log()
    );
    drop(ck);
    let ck = start_corekv_in(&dir, &["--shards", "2", "--save", ""]);
    let mut c = redis_client(ck.port);
    let n: u64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(n, 100_001);
    let v: String = c.get("late").expect("get");
    assert_eq!(v, "write");
    drop(ck);
    let _ = fs::remove_dir_all(&dir);
}

/// While a big snapshot loads at start-up, clients are answered `-LOADING`
/// (commands Redis allows while loading, like INFO, still run) and then
/// served the whole dataset.
#[test]
fn clients_get_loading_while_the_snapshot_loads() {
    let dir = test_dir("loading");
    {
        let mut ck = start_corekv_in(&dir, &["--shards", "2", "--save", ""]);
        let mut c = redis_client(ck.port);
        for chunk in 0..400 {
            let mut m = redis::cmd("MSET");
            for i in chunk * 1000..(chunk + 1) * 1000 {
                m.arg(format!("k:{i}")).arg(i);
            }
            let _: () = m.query(&mut c).expect("mset");
        }
        let _: () = redis::cmd("SAVE").query(&mut c).expect("SAVE");
        let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
        assert_eq!(ck.wait_exit(Duration::from_secs(10)), Some(0));
    }
    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_corekv"))
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--shards",
            "2",
        ])
        .args(["--save", "", "--loglevel", "warning"])
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn corekv");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            break RawConn::from_stream(s);
        }
        assert!(Instant::now() < deadline, "corekv did not listen");
        thread::sleep(Duration::from_millis(2));
    };
    let first = Instant::now();
    let (mut loading, mut info_while_loading) = (0, false);
    loop {
        let r = conn.cmd(&["PING"]);
        if r == b"+PONG\r\n" {
            break;
        }
        assert_eq!(r, b"-LOADING Redis is loading the dataset in memory\r\n");
        loading += 1;
        let info = conn.cmd(&["INFO", "persistence"]);
        info_while_loading |= String::from_utf8_lossy(&info).contains("loading:1");
        assert!(Instant::now() < deadline, "still loading");
        thread::sleep(Duration::from_millis(1));
    }
    let took = first.elapsed();
    if took > Duration::from_millis(300) {
        assert!(
            loading > 0 && info_while_loading,
            "{took:?} without -LOADING"
        );
    }
    assert_eq!(conn.cmd(&["DBSIZE"]), b":400000\r\n");
    let _ = child.kill();
    let _ = child.wait();
    let _ = fs::remove_dir_all(&dir);
}

/// MIGRATE both ways between corekv (keys on every shard) and redis-server:
/// the KEYS form, TTLs, COPY, REPLACE, a target's BUSYKEY, NOKEY, and the
/// connection cache that INFO reports.
#[test]
fn migrate_moves_keys_between_servers() {
    let Some(rs) = start_redis() else {
        eprintln!("redis-server not installed; skipping");
        return;
    };
    let ck = start_corekv(3);
    let mut r = redis_client(rs.port);
    let mut c = redis_client(ck.port);
    build_dataset(&mut c);
    let want = contents(&mut c);
    let keys: Vec<Vec<u8>> = c.keys("*").expect("keys");
    let mig = |from: &mut Connection, port: u16, db: u8, extra: &[&str], keys: &[Vec<u8>]| {
        let mut cmd = redis::cmd("MIGRATE");
        cmd.arg("127.0.0.1").arg(port).arg("").arg(db).arg(5000);
        for e in extra {
            cmd.arg(*e);
        }
        cmd.arg("KEYS");
        for k in keys {
            cmd.arg(k);
        }
        cmd.query::<String>(from)
    };
    // corekv -> redis-server, db 0 (db 5 is left behind).
    assert_eq!(
        mig(&mut c, rs.port, 0, &["COPY"], &keys).expect("copy"),
        "OK"
    );
    let copied: Vec<Vec<u8>> = r.keys("*").expect("keys");
    assert_eq!(copied.len(), keys.len(), "COPY keeps the source keys");
    let busy = mig(&mut c, rs.port, 0, &[], &keys).unwrap_err().to_string();
    assert!(
        busy.contains("Target instance replied with error: BUSYKEY"),
        "{busy}"
    );
    assert_eq!(
        mig(&mut c, rs.port, 0, &["REPLACE"], &keys).expect("replace"),
        "OK"
    );
    let left: Vec<Vec<u8>> = c.keys("*").expect("keys");
    assert!(left.is_empty(), "moved keys are deleted: {left:?}");
    assert_eq!(mig(&mut c, rs.port, 0, &[], &keys).expect("nokey"), "NOKEY");
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).expect("info");
    assert!(info.contains("migrate_cached_sockets:1"), "{info}");
    // ... and back: redis-server -> corekv, into db 0.
    let keys: Vec<Vec<u8>> = r.keys("*").expect("keys");
    assert_eq!(mig(&mut r, ck.port, 0, &[], &keys).expect("back"), "OK");
    assert_eq!(
        contents(&mut c),
        want,
        "the round trip keeps every value and TTL"
    );
}

/// Under an LFU policy snapshots carry each key's counter, under an LRU
/// one its idle time (Redis's FREQ and IDLE records), both ways.
#[test]
fn access_counters_survive_snapshots_both_ways() {
    let payload = |con: &mut Connection| -> Vec<u8> {
        let _: () = con.set("probe", "bar").expect("set");
        let p: Vec<u8> = redis::cmd("DUMP").arg("probe").query(con).expect("dump");
        let _: () = con.del("probe").expect("del");
        p
    };
    for (policy, restore_opt, ask, want) in [
        ("allkeys-lfu", "FREQ", "FREQ", 100i64),
        ("allkeys-lru", "IDLETIME", "IDLETIME", 5000),
    ] {
        let dir = test_dir("access-counters");
        {
            let ck = start_corekv_in(&dir, &["--shards", "2"]);
            let mut c = redis_client(ck.port);
            let p = payload(&mut c);
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory-policy")
                .arg(policy)
                .query::<()>(&mut c)
                .expect("config set");
            for k in ["k1", "k2", "k3"] {
                redis::cmd("RESTORE")
                    .arg(k)
                    .arg(0)
                    .arg(&p)
                    .arg(restore_opt)
                    .arg(want)
                    .query::<()>(&mut c)
                    .expect("restore");
            }
            let _: () = redis::cmd("SAVE").query(&mut c).expect("save");
        }
        let Some(rs) = start_redis_in_with(&dir, &["--maxmemory-policy", policy]) else {
            let _ = fs::remove_dir_all(&dir);
            return;
        };
        let mut r = redis_client(rs.port);
        for k in ["k1", "k2", "k3"] {
            let got: i64 = redis::cmd("OBJECT")
                .arg(ask)
                .arg(k)
                .query(&mut r)
                .expect("object");
            assert!(
                (got - want).abs() <= 2,
                "{policy}: redis-server read {got} for {k}"
            );
        }
        let _: () = redis::cmd("SAVE").query(&mut r).expect("save");
        drop(rs);
        let ck = start_corekv_in(&dir, &["--shards", "3"]);
        let mut c = redis_client(ck.port);
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg(policy)
            .query::<()>(&mut c)
            .expect("config set");
        // Loaded before the policy was set: the records were read under
        // noeviction, which keeps neither (as Redis would); reload now.
        let _: () = redis::cmd("DEBUG")
            .arg("RELOAD")
            .arg("NOSAVE")
            .query(&mut c)
            .expect("reload");
        for k in ["k1", "k2", "k3"] {
            let got: i64 = redis::cmd("OBJECT")
                .arg(ask)
                .arg(k)
                .query(&mut c)
                .expect("object");
            assert!(
                (got - want).abs() <= 2,
                "{policy}: corekv read {got} for {k}"
            );
        }
        drop(ck);
        let _ = fs::remove_dir_all(&dir);
    }
}
