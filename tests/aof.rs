//! The append-only file against a real redis-server, both ways (the same
//! directory, manifest, base and incr files), crash safety under
//! `appendfsync always` and `everysec` (kill -9 mid-run), torn and corrupt
//! files, rewrites under cross-shard writes, and turning it on at runtime.

mod support;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use redis::{Commands, Connection};
use support::*;

fn digest(con: &mut Connection) -> String {
    redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(con)
        .expect("DEBUG DIGEST")
}

fn aof_flags<'a>(shards: &'a str, fsync: &'a str) -> Vec<&'a str> {
    vec![
        "--shards",
        shards,
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        fsync,
    ]
}

/// Writes through every path that journals differently: plain and
/// cross-shard commands, MULTI/EXEC, a script, relative expiries, random
/// pops, float increments, blocking pops, whole-keyspace commands.
fn write_workload(c: &mut Connection, round: usize) {
    let r = round.to_string();
    let mut p = redis::pipe();
    for i in 0..200 {
        p.cmd("SET").arg(format!("s{r}:{i}")).arg(i).ignore();
    }
    p.cmd("MSET")
        .arg(&[("ma", "1"), ("mb", "2"), ("mc", "3"), ("md", "4")])
        .ignore();
    p.cmd("DEL").arg(&["mc", "nope", "md"]).ignore();
    p.cmd("SET")
        .arg(format!("ex{r}"))
        .arg("v")
        .arg("EX")
        .arg(1000)
        .ignore();
    p.cmd("SETEX")
        .arg(format!("setex{r}"))
        .arg(500)
        .arg("v")
        .ignore();
    p.cmd("SET").arg("gone").arg("v").ignore();
    p.cmd("EXPIRE").arg("gone").arg(-1).ignore();
    p.cmd("SET").arg(format!("pe{r}")).arg("v").ignore();
    p.cmd("PEXPIRE").arg(format!("pe{r}")).arg(900_000).ignore();
    p.cmd("SADD")
        .arg(format!("set{r}"))
        .arg(&["a", "b", "c", "d", "e", "f"])
        .ignore();
    p.cmd("SPOP").arg(format!("set{r}")).ignore();
    p.cmd("SPOP").arg(format!("set{r}")).arg(2).ignore();
    p.cmd("INCRBYFLOAT").arg("float").arg("1.1").ignore();
    p.cmd("HINCRBYFLOAT").arg("hf").arg("f").arg("2.5").ignore();
    p.cmd("HSET")
        .arg("h")
        .arg(&[("a", "1"), ("b", "2")])
        .ignore();
    p.cmd("ZADD")
        .arg("z")
        .arg(&[(1, "one"), (2, "two"), (3, "three")])
        .ignore();
    p.cmd("ZPOPMIN").arg("z").ignore();
    p.cmd("RPUSH").arg("l").arg(&["x", "y", "z"]).ignore();
    p.cmd("BLPOP").arg("l").arg(0).ignore();
    p.cmd("LMOVE")
        .arg("l")
        .arg("l2")
        .arg("LEFT")
        .arg("RIGHT")
        .ignore();
    p.cmd("RENAME")
        .arg("ma")
        .arg(format!("renamed{r}"))
        .ignore();
    p.cmd("SUNIONSTORE")
        .arg(format!("union{r}"))
        .arg(format!("set{r}"))
        .arg("other")
        .ignore();
    p.cmd("SELECT").arg(3).ignore();
    p.cmd("SET").arg("in3").arg(&r).ignore();
    p.cmd("RPUSH").arg("l3").arg(&r).ignore();
    p.cmd("SELECT").arg(0).ignore();
    p.cmd("MULTI").ignore();
    p.cmd("INCR").arg("tx:a").ignore();
    p.cmd("INCR").arg("tx:b").ignore();
    p.cmd("SET")
        .arg("tx:c")
        .arg("x")
        .arg("PX")
        .arg(700_000)
        .ignore();
    p.cmd("EXEC").ignore();
    p.cmd("EVAL")
        .arg("redis.call('INCR', KEYS[1]); redis.call('SET', KEYS[2], ARGV[1]); return 1")
        .arg(2)
        .arg("{sc}1")
        .arg("{sc}2")
        .arg(&r)
        .ignore();
    // Function libraries: loaded, called, deleted (journaled as commands,
    // carried by a rewrite's base).
    let lib = format!(
        "#!lua name=wl{r}\nredis.register_function('wl{r}', function(k) return redis.call('INCR', k[1]) end)"
    );
    p.cmd("FUNCTION").arg("LOAD").arg(lib).ignore();
    p.cmd("FCALL")
        .arg(format!("wl{r}"))
        .arg(1)
        .arg(format!("fc{r}"))
        .ignore();
    if round > 0 {
        p.cmd("FUNCTION")
            .arg("DELETE")
            .arg(format!("wl{}", round - 1))
            .ignore();
    }
    p.query::<()>(c).expect("workload");
}

/// The dataset's digest and its function libraries (FUNCTION LIST WITHCODE
/// in name order): what must survive every trip.
fn state(c: &mut Connection) -> (String, Vec<String>) {
    let v: redis::Value = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("WITHCODE")
        .query(c)
        .expect("FUNCTION LIST");
    let redis::Value::Array(libs) = v else {
        panic!("FUNCTION LIST: {v:?}")
    };
    let mut libs: Vec<String> = libs.iter().map(|l| format!("{l:?}")).collect();
    libs.sort();
    (digest(c), libs)
}

/// corekv's AOF directory starts redis-server 7.0 with the same dataset,
/// and what redis-server appends there loads back in corekv.
#[test]
fn aof_directory_moves_between_corekv_and_redis_server() {
    for shards in ["1", "3"] {
        let dir = test_dir("aof-interop");
        let want = {
            let ck = start_corekv_in(&dir, &aof_flags(shards, "always"));
            let mut c = redis_client(ck.port);
            write_workload(&mut c, 0);
            // A rewrite in the middle: a base with data, then an incr file.
            rewrite_now(&mut c);
            write_workload(&mut c, 1);
            let _: String = redis::cmd("FLUSHDB").query(&mut c).expect("flushdb");
            write_workload(&mut c, 2);
            let d = state(&mut c);
            let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
            d
        };
        let manifest = fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
            .expect("manifest");
        assert!(
            manifest.contains("type b") && manifest.contains("type i"),
            "{manifest}"
        );
        let Some(rs) = start_redis_in_with(&dir, &["--appendonly", "yes"]) else {
            let _ = fs::remove_dir_all(&dir);
            return;
        };
        let mut r = redis_client(rs.port);
        assert_eq!(
            state(&mut r),
            want,
            "{shards} shard(s): redis-server read corekv's AOF"
        );
        write_workload(&mut r, 3);
        rewrite_now(&mut r);
        write_workload(&mut r, 4);
        let want = state(&mut r);
        let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut r);
        drop(rs);
        let ck = start_corekv_in(&dir, &aof_flags(shards, "everysec"));
        let mut c = redis_client(ck.port);
        assert_eq!(
            state(&mut c),
            want,
            "{shards} shard(s): corekv read redis-server's AOF"
        );
        drop(ck);
        let _ = fs::remove_dir_all(&dir);
    }
}

/// BGREWRITEAOF, waited for.
fn rewrite_now(c: &mut Connection) {
    let _: String = redis::cmd("BGREWRITEAOF").query(c).expect("bgrewriteaof");
    wait_rewrite(c);
}

fn wait_rewrite(c: &mut Connection) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query(c)
            .expect("info");
        let running =
            info.contains("aof_rewrite_in_progress:1") || info.contains("aof_rewrite_scheduled:1");
        if !running {
            assert!(info.contains("aof_last_bgrewrite_status:ok"), "{info}");
            return;
        }
        assert!(Instant::now() < deadline, "rewrite did not finish");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Writers each count up a key of their own; returns the values each saw
/// acknowledged last, once `stop` is set.
fn run_counters(port: u16, n: usize, stop: Arc<AtomicBool>) -> Vec<thread::JoinHandle<i64>> {
    (0..n)
        .map(|w| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut c = redis_client(port);
                let key = format!("counter:{w}");
                let mut acked = 0;
                for _ in 0..1_000_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match c.incr::<_, _, i64>(&key, 1) {
                        Ok(v) => acked = v,
                        Err(_) => break,
                    }
                }
                acked
            })
        })
        .collect()
}

/// `appendfsync always`: kill -9 mid-run, restart on the same directory:
/// every acknowledged increment is there, and nothing more than was sent
/// (at most the one in flight per writer).
#[test]
fn acknowledged_writes_survive_kill9_with_fsync_always() {
    let dir = test_dir("aof-crash-always");
    let writers = 4;
    let acked: Vec<i64> = {
        let mut ck = start_corekv_in(&dir, &aof_flags("2", "always"));
        let stop = Arc::new(AtomicBool::new(false));
        let hs = run_counters(ck.port, writers, stop.clone());
        thread::sleep(Duration::from_millis(1500));
        ck.kill9();
        stop.store(true, Ordering::Relaxed);
        hs.into_iter().map(|h| h.join().expect("writer")).collect()
    };
    let ck = start_corekv_in(&dir, &aof_flags("2", "always"));
    let mut c = redis_client(ck.port);
    for (w, a) in acked.iter().enumerate() {
        let got: i64 = c.get(format!("counter:{w}")).unwrap_or(0);
        assert!(*a > 0, "writer {w} made no progress");
        assert!(
            got == *a || got == *a + 1,
            "writer {w}: acknowledged {a}, recovered {got}"
        );
    }
    drop(ck);
    let _ = fs::remove_dir_all(&dir);
}

/// `everysec`: a kill -9 loses at most about the last second of writes.
#[test]
fn everysec_loses_at_most_about_a_second() {
    let dir = test_dir("aof-crash-everysec");
    let mut ck = start_corekv_in(&dir, &aof_flags("2", "everysec"));
    let port = ck.port;
    // One writer, noting when each value was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let h = thread::spawn(move || {
        let mut c = redis_client(port);
        let mut log = Vec::new();
        for _ in 0..10_000_000 {
            if s.load(Ordering::Relaxed) {
                break;
            }
            match c.incr::<_, _, i64>("counter", 1) {
                Ok(v) => log.push((Instant::now(), v)),
                Err(_) => break,
            }
        }
        log
    });
    thread::sleep(Duration::from_millis(2500));
    let killed = Instant::now();
    ck.kill9();
    stop.store(true, Ordering::Relaxed);
    let log = h.join().expect("writer");
    let ck = start_corekv_in(&dir, &aof_flags("2", "everysec"));
    let mut c = redis_client(ck.port);
    let got: i64 = c.get("counter").unwrap_or(0);
    let last = log.last().map_or(0, |l| l.1);
    // What was acknowledged two seconds before the kill must be there.
    let floor = log
        .iter()
        .rev()
        .find(|(t, _)| killed.duration_since(*t) >= Duration::from_secs(2))
        .map_or(0, |l| l.1);
    assert!(
        got >= floor && got <= last + 1,
        "floor {floor}, last acked {last}, recovered {got}"
    );
    drop(ck);
    let _ = fs::remove_dir_all(&dir);
}

fn incr_file(dir: &Path) -> std::path::PathBuf {
    let m =
        fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).expect("manifest");
    let name = m
        .lines()
        .rfind(|l| l.ends_with("type i"))
        .and_then(|l| l.split(' ').nth(1))
        .expect("an incr file")
        .to_string();
    dir.join("appendonlydir").join(name)
}

/// A torn last record is cut off (`aof-load-truncated yes`, the default)
/// or refused (`no`); garbage in the middle, or an unreadable manifest, is
/// refused with a clear message.
#[test]
fn torn_and_corrupt_aof_files() {
    let dir = test_dir("aof-torn");
    {
        let ck = start_corekv_in(&dir, &aof_flags("2", "always"));
        let mut c = redis_client(ck.port);
        let _: () = c.set("kept", "1").expect("set");
        let _: () = c.set("kept2", "2").expect("set");
        let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    }
    let incr = incr_file(&dir);
    let good = fs::read(&incr).expect("incr");
    // Torn: half a SET, then an unfinished MULTI.
    for tail in [
        &b"*3\r\n$3\r\nSET\r\n$4\r\ntorn\r\n$1"[..],
        b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$4\r\ntorn\r\n$1\r\n1\r\n",
    ] {
        fs::write(&incr, [&good[..], tail].concat()).expect("write");
        fs::write(dir.join("strict.conf"), "aof-load-truncated no\n").expect("conf");
        let mut flags = aof_flags("2", "always");
        flags.extend(["--config", "strict.conf"]);
        let child = spawn_corekv_in(&dir, &flags);
        let (code, log) = wait_output(child, Duration::from_secs(10)).expect("strict start exits");
        assert_ne!(code, 0, "{log}");
        assert!(log.contains("Unexpected end of file"), "{log}");
        let ck = start_corekv_in(&dir, &aof_flags("2", "always"));
        let mut c = redis_client(ck.port);
        assert_eq!(
            c.get::<_, Option<String>>("kept").expect("get").as_deref(),
            Some("1")
        );
        assert_eq!(c.get::<_, Option<String>>("torn").expect("get"), None);
        let _: () = c.set("after", "3").expect("set");
        let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
        drop(ck);
        // The tail was cut off, so what came after it loads.
        let ck = start_corekv_in(&dir, &aof_flags("2", "always"));
        let mut c = redis_client(ck.port);
        assert_eq!(
            c.get::<_, Option<String>>("after").expect("get").as_deref(),
            Some("3")
        );
        let _: () = c.del("after").expect("del");
        let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
        drop(ck);
    }
    let good = fs::read(&incr).expect("incr");
    fs::write(
        &incr,
        [&b"*1\r\n$4\r\nPING\r\nGARBAGE\r\n"[..], &good].concat(),
    )
    .expect("write");
    let child = spawn_corekv_in(&dir, &aof_flags("2", "always"));
    let (code, log) = wait_output(child, Duration::from_secs(10)).expect("exits");
    assert_ne!(code, 0, "{log}");
    assert!(
        log.contains("Bad file format") || log.contains("Unknown command"),
        "{log}"
    );
    fs::write(&incr, &good).expect("write");
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let m = fs::read_to_string(&manifest).expect("manifest");
    fs::write(&manifest, "file x seq one type q\n").expect("write");
    let child = spawn_corekv_in(&dir, &aof_flags("2", "always"));
    let (code, log) = wait_output(child, Duration::from_secs(10)).expect("exits");
    assert_ne!(code, 0, "{log}");
    assert!(log.contains("Invalid AOF manifest file format"), "{log}");
    fs::write(&manifest, m).expect("write");
    let ck = start_corekv_in(&dir, &aof_flags("2", "always"));
    let mut c = redis_client(ck.port);
    assert_eq!(
        c.get::<_, Option<String>>("kept2").expect("get").as_deref(),
        Some("2")
    );
    drop(ck);
    let _ = fs::remove_dir_all(&dir);
}

/// Rewrites while writers run cross-shard MSETs of pairs and MULTI/EXECs,
/// then kill -9: after the restart every pair is equal (each multi-shard
/// write replays whole) and nothing acknowledged is missing.
#[test]
fn rewrites_under_cross_shard_writes_stay_consistent() {
    let dir = test_dir("aof-rewrite");
    let pairs = keys_on_each_shard("pair", 3);
    let mut ck = start_corekv_in(&dir, &aof_flags("3", "always"));
    let port = ck.port;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let stop = stop.clone();
            let pairs = pairs.clone();
            thread::spawn(move || {
                let mut c = redis_client(port);
                let (a, b) = (format!("{}:{w}", pairs[0]), format!("{}:{w}", pairs[1]));
                let mut acked = 0u64;
                for i in 1..1_000_000u64 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let ok = if i % 2 == 0 {
                        redis::cmd("MSET")
                            .arg(&a)
                            .arg(i)
                            .arg(&b)
                            .arg(i)
                            .query::<()>(&mut c)
                    } else {
                        redis::pipe()
                            .atomic()
                            .cmd("SET")
                            .arg(&a)
                            .arg(i)
                            .ignore()
                            .cmd("SET")
                            .arg(&b)
                            .arg(i)
                            .ignore()
                            .query::<()>(&mut c)
                    };
                    if ok.is_err() {
                        break;
                    }
                    acked = i;
                }
                acked
            })
        })
        .collect();
    let mut c = redis_client(port);
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(300));
        rewrite_now(&mut c);
    }
    thread::sleep(Duration::from_millis(200));
    ck.kill9();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = writers
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect();
    let ck = start_corekv_in(&dir, &aof_flags("3", "always"));
    let mut c = redis_client(ck.port);
    for (w, acked) in acked.iter().enumerate() {
        let a: u64 = c.get(format!("{}:{w}", pairs[0])).unwrap_or(0);
        let b: u64 = c.get(format!("{}:{w}", pairs[1])).unwrap_or(0);
        assert_eq!(a, b, "writer {w}: a pair replayed half");
        assert!(
            a == *acked || a == acked + 1,
            "writer {w}: acknowledged {acked}, recovered {a}"
        );
    }
    let files: Vec<_> = fs::read_dir(dir.join("appendonlydir"))
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 3, "old files were removed: {files:?}");
    drop(ck);
    let _ = fs::remove_dir_all(&dir);
}

/// BGREWRITEAOF with appendonly no still writes a directory (base and
/// manifest) that a server started with appendonly yes loads, as in Redis.
#[test]
fn bgrewriteaof_without_appendonly_writes_a_base() {
    let dir = test_dir("aof-off-rewrite");
    let want = {
        let ck = start_corekv_in(&dir, &["--shards", "2", "--save", ""]);
        let mut c = redis_client(ck.port);
        write_workload(&mut c, 0);
        rewrite_now(&mut c);
        state(&mut c)
    };
    let ck = start_corekv_in(&dir, &aof_flags("2", "everysec"));
    let mut c = redis_client(ck.port);
    assert_eq!(state(&mut c), want);
    drop(ck);
    let _ = fs::remove_dir_all(&dir);
}

/// A disk that refuses the AOF's writes (the incr file is /dev/full): writes
/// and PING get Redis's `-MISCONF Errors writing to the AOF file`, reads go on.
#[test]
fn aof_write_errors_refuse_writes() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let dir = test_dir("aof-full");
    let ck = start_corekv_in(&dir, &aof_flags("2", "everysec"));
    let mut c = redis_client(ck.port);
    let _: () = c.set("k", "v").expect("set");
    // The incr file the next rewrite starts is the full device.
    std::os::unix::fs::symlink(
        "/dev/full",
        dir.join("appendonlydir/appendonly.aof.2.incr.aof"),
    )
    .expect("symlink");
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query(&mut c)
        .expect("info");
    let r: redis::RedisResult<String> = redis::cmd("BGREWRITEAOF").query(&mut c);
    r.unwrap_or_else(|e| panic!("{e}: {info}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        match c.set::<_, _, ()>("x", "1") {
            Err(e) => break e.to_string(),
            Ok(()) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(()) => panic!("writes were never refused"),
        }
    };
    assert!(err.contains("Errors writing to the AOF file"), "{err}");
    assert!(c.get::<_, String>("k").is_ok(), "reads still work");
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query(&mut c)
        .expect("info");
    assert!(info.contains("aof_last_write_status:err"), "{info}");
    drop(ck);
    let _ = fs::remove_dir_all(&dir);
}

/// A Redis 4-6 single `appendonly.aof` (an RDB preamble, then commands) is
/// moved into the directory as its base, as Redis 7.0 upgrades it; the
/// result starts redis-server 7.0 too.
#[test]
fn redis6_appendonly_file_with_rdb_preamble_is_upgraded() {
    let dir = test_dir("aof-upgrade");
    let Some(rs) = start_redis_in(&dir) else {
        let _ = fs::remove_dir_all(&dir);
        return;
    };
    let mut r = redis_client(rs.port);
    write_workload(&mut r, 0);
    let _: () = redis::cmd("SAVE").query(&mut r).expect("save");
    let _: () = r.set("extra", "1").expect("set");
    let _: () = r.incr("counter", 5).expect("incr");
    let want = state(&mut r);
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut r);
    drop(rs);
    let mut old = fs::read(dir.join("dump.rdb")).expect("dump.rdb");
    old.extend_from_slice(
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$5\r\nextra\r\n$1\r\n1\r\n",
    );
    old.extend_from_slice(b"*3\r\n$6\r\nINCRBY\r\n$7\r\ncounter\r\n$1\r\n5\r\n");
    fs::write(dir.join("appendonly.aof"), old).expect("write");
    fs::remove_file(dir.join("dump.rdb")).expect("rm");
    let ck = start_corekv_in(&dir, &aof_flags("2", "always"));
    let mut c = redis_client(ck.port);
    assert_eq!(state(&mut c), want);
    assert!(
        !dir.join("appendonly.aof").exists(),
        "moved into the directory"
    );
    let _: () = c.set("after", "1").expect("set");
    let want = state(&mut c);
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    drop(ck);
    let rs = start_redis_in_with(&dir, &["--appendonly", "yes"]).expect("redis-server");
    let mut r = redis_client(rs.port);
    assert_eq!(
        state(&mut r),
        want,
        "redis-server loads the upgraded directory"
    );
    drop(rs);
    let _ = fs::remove_dir_all(&dir);
}

/// DEBUG LOADAOF empties the dataset and loads it back from the files.
#[test]
fn debug_loadaof_reloads_the_files() {
    let dir = test_dir("aof-loadaof");
    let ck = start_corekv_in(&dir, &aof_flags("2", "everysec"));
    let mut c = redis_client(ck.port);
    write_workload(&mut c, 0);
    rewrite_now(&mut c);
    write_workload(&mut c, 1);
    let want = state(&mut c);
    let _: () = redis::cmd("DEBUG")
        .arg("LOADAOF")
        .query(&mut c)
        .expect("loadaof");
    assert_eq!(state(&mut c), want);
    // And journaling goes on after it.
    let _: () = c.set("after", "1").expect("set");
    let want = state(&mut c);
    let _: () = redis::cmd("DEBUG")
        .arg("LOADAOF")
        .query(&mut c)
        .expect("loadaof");
    assert_eq!(state(&mut c), want);
    drop(ck);
    let _ = fs::remove_dir_all(&dir);
}

/// CONFIG SET appendonly yes on a running server with data: the rewrite it
/// starts holds what was there, the incr file what followed.
#[test]
fn appendonly_turned_on_at_runtime() {
    let dir = test_dir("aof-runtime");
    let mut ck = start_corekv_in(&dir, &["--shards", "2", "--save", ""]);
    let mut c = redis_client(ck.port);
    write_workload(&mut c, 0);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("yes")
        .query(&mut c)
        .expect("config set");
    wait_rewrite(&mut c);
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query(&mut c)
        .expect("info");
    assert!(info.contains("aof_enabled:1"), "{info}");
    write_workload(&mut c, 1);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendfsync")
        .arg("always")
        .query(&mut c)
        .expect("config set");
    let _: () = c.set("last", "1").expect("set");
    let want = state(&mut c);
    ck.kill9();
    let ck = start_corekv_in(&dir, &aof_flags("2", "everysec"));
    let mut c = redis_client(ck.port);
    assert_eq!(state(&mut c), want);
    drop(ck);
    let _ = fs::remove_dir_all(&dir);
}
