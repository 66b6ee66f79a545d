//! Shared support for corekv integration tests.
//!
//! Every integration test file declares `mod support;`, so not every helper is
//! used by every test binary; hence the crate-level `dead_code` allowance.
#![allow(dead_code)]

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server gets to answer its first `PING`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server gets to exit after SIGTERM before it is SIGKILLed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Read timeout of [`RawConn`]: a reply that takes longer is a hang, not a slow test.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`RawConn::closed_by_peer`] waits for the server to hang up.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Returns a currently free loopback port.
///
/// The listener is dropped before the port is used, so another process could
/// grab it in between; that race is accepted for tests.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for a free port");
    listener
        .local_addr()
        .expect("local_addr of the free-port listener")
        .port()
}

/// True when running under CI, where a missing redis-server is an error.
///
/// CI systems disagree on the value (`true`, `1`, `yes`, `True`...), so any
/// non-empty value counts except `false` and `0` (case-insensitive).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| ci_value_means_ci(&v))
}

/// The rule of [`under_ci`] for one value of `CI`.
pub fn ci_value_means_ci(value: &str) -> bool {
    let v = value.trim();
    !v.is_empty() && !v.eq_ignore_ascii_case("false") && v != "0"
}

/// A server child process that is terminated when dropped.
pub struct Server {
    pub port: u16,
    child: Child,
    /// Scratch directory holding the log (and redis-server's working files).
    dir: PathBuf,
    log: PathBuf,
    name: &'static str,
    /// Whether `dir` is this server's own scratch directory (removed on drop).
    owns_dir: bool,
}

impl Server {
    /// Current content of the server's combined stdout/stderr log.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_else(|e| format!("<cannot read log: {e}>"))
    }

    /// Spawns `program` with `args` in a fresh scratch directory and waits
    /// until it answers `PING`; panics with the log on failure.
    fn spawn(name: &'static str, program: &Path, args: &[String], port: u16) -> Server {
        let dir = scratch_dir(name, port);
        Server::spawn_in(name, program, args, port, dir, true)
    }

    /// [`spawn`](Self::spawn) in an existing directory, which outlives the server
    /// when `owns_dir` is false (restarts on the same files).
    fn spawn_in(
        name: &'static str,
        program: &Path,
        args: &[String],
        port: u16,
        dir: PathBuf,
        owns_dir: bool,
    ) -> Server {
        let log = dir.join(format!("{name}-{port}.log"));
        let out = fs::File::create(&log).expect("create server log file");
        let err = out.try_clone().expect("clone server log file handle");
        let child = Command::new(program)
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("failed to spawn {name} ({}): {e}", program.display()));
        let mut server = Server {
            port,
            child,
            dir,
            log,
            name,
            owns_dir,
        };
        server.wait_ready();
        server
    }

    /// Polls (bounded by [`STARTUP_TIMEOUT`]) until `PING` returns `+PONG`.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited during startup ({status}); log:\n{}",
                    self.name,
                    self.log()
                );
            }
            if ping(self.port) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not answer PING on port {} within {:?}; log:\n{}",
                    self.name,
                    self.port,
                    STARTUP_TIMEOUT,
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Server {
    /// SIGTERM, bounded wait, then SIGKILL, so no test leaves servers behind.
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: plain kill(2) on our own child's pid, which is not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        if self.owns_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Server {
    /// The server's working directory (where its snapshots go).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Waits (bounded) for the process to exit on its own; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// SIGKILLs the process (a crash: nothing is saved).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch directory for tests that restart servers on the same files;
/// the caller removes it.
pub fn test_dir(name: &str) -> PathBuf {
    scratch_dir(name, free_port())
}

/// Starts corekv with `extra` flags, working in `dir` (kept after it exits).
pub fn start_corekv_in(dir: &Path, extra: &[&str]) -> Server {
    let port = free_port();
    Server::spawn_in(
        "corekv",
        Path::new(env!("CARGO_BIN_EXE_corekv")),
        &corekv_args(port, extra),
        port,
        dir.to_path_buf(),
        false,
    )
}

/// Spawns corekv in `dir` without waiting for it to serve (start-up failures).
pub fn spawn_corekv_in(dir: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_corekv"))
        .args(["--port", &free_port().to_string(), "--bind", "127.0.0.1"])
        .args(["--loglevel", "warning"])
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn corekv")
}

/// Starts redis-server working in `dir` (loading its `dump.rdb` if there),
/// with snapshots on demand only. `None` as [`start_redis`].
pub fn start_redis_in(dir: &Path) -> Option<Server> {
    start_redis_in_with(dir, &[])
}

/// Waits for a child to exit; its code and combined output. None (after
/// killing it) if it is still running at the deadline.
pub fn wait_output(mut child: Child, timeout: Duration) -> Option<(i32, String)> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            let out = child.wait_with_output().expect("output");
            let log = String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout);
            return Some((out.status.code().unwrap_or(-1), log));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// [`start_redis_in`] with `extra` flags (later flags win in redis-server).
pub fn start_redis_in_with(dir: &Path, extra: &[&str]) -> Option<Server> {
    let (program, port, mut args) = redis_command()?;
    args.extend(extra.iter().map(|s| s.to_string()));
    Some(Server::spawn_in(
        "redis-server",
        &program,
        &args,
        port,
        dir.to_path_buf(),
        false,
    ))
}

/// A unique scratch directory under the system temp dir.
fn scratch_dir(name: &str, port: u16) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "corekv-test-{name}-{}-{port}-{n}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create server scratch directory");
    dir
}

/// One connect + `PING` attempt with short timeouts.
fn ping(port: u16) -> bool {
    let addr = ([127, 0, 0, 1], port).into();
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// Starts corekv with `--shards <shards>`.
pub fn start_corekv(shards: usize) -> Server {
    start_corekv_with(&["--shards", &shards.to_string()])
}

/// corekv's flags for a test server on `port`, `extra` appended.
fn corekv_args(port: u16, extra: &[&str]) -> Vec<String> {
    let port = port.to_string();
    [
        "--port",
        &port,
        "--bind",
        "127.0.0.1",
        "--loglevel",
        "warning",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}

/// Starts corekv on a free loopback port with `extra` flags appended.
pub fn start_corekv_with(extra: &[&str]) -> Server {
    let port = free_port();
    Server::spawn(
        "corekv",
        Path::new(env!("CARGO_BIN_EXE_corekv")),
        &corekv_args(port, extra),
        port,
    )
}

/// Finds `redis-server` on `PATH`.
pub fn redis_server_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

/// Starts a throwaway, persistence-free redis-server that accepts DEBUG.
///
/// Returns `None` when redis-server is not installed, except under CI
/// (`CI=true`), where that is a hard failure.
pub fn start_redis() -> Option<Server> {
    let (program, port, args) = redis_command()?;
    Some(Server::spawn("redis-server", &program, &args, port))
}

/// redis-server's path, a free port and its flags for a throwaway,
/// persistence-free server; `None` as [`start_redis`].
fn redis_command() -> Option<(PathBuf, u16, Vec<String>)> {
    let Some(program) = redis_server_path() else {
        if under_ci() {
            panic!("redis-server is required under CI");
        }
        return None;
    };
    let port = free_port();
    let args = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        // DEBUG (SLEEP) is compared too; Redis 7 refuses it by default.
        "--enable-debug-command",
        "yes",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Some((program, port, args))
}

/// A `redis` crate connection to a local server.
pub fn redis_client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("valid redis URL")
        .get_connection()
        .unwrap_or_else(|e| panic!("redis crate connect to port {port}: {e}"))
}

/// Encodes `args` as a RESP array of bulk strings.
pub fn encode_cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Length of the one complete RESP2/RESP3 reply at the start of `buf`, or
/// `None` if more bytes are needed. Panics on bytes that are not RESP, since
/// a server sending garbage is a test failure in itself.
pub fn reply_len(buf: &[u8]) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let header = buf.get(1..line_end)?;
    let after_header = line_end + 2;
    let count = || -> i64 {
        std::str::from_utf8(header)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad RESP length header {:?}", escape(&buf[..after_header])))
    };
    match buf[0] {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(after_header),
        b'$' | b'!' | b'=' => {
            let n = count();
            if n < 0 {
                return Some(after_header);
            }
            let end = after_header + usize::try_from(n).expect("bulk length fits usize") + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = count();
            if n < 0 {
                return Some(after_header);
            }
            let per_entry = if matches!(buf[0], b'%' | b'|') { 2 } else { 1 };
            let mut pos = after_header;
            for _ in 0..n * per_entry {
                pos += reply_len(&buf[pos..])?;
            }
            // An attribute map is metadata attached to the reply that follows it.
            if buf[0] == b'|' {
                pos += reply_len(&buf[pos..])?;
            }
            Some(pos)
        }
        other => panic!(
            "unexpected RESP type byte {:?} in {:?}",
            other as char,
            escape(&buf[..buf.len().min(200)])
        ),
    }
}

/// Splits an aggregate reply into its header line and its element replies.
/// Returns `None` for non-aggregates and null aggregates.
pub fn split_aggregate(reply: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    if !matches!(reply.first(), Some(b'*' | b'~' | b'>' | b'%')) {
        return None;
    }
    let line_end = reply.windows(2).position(|w| w == b"\r\n")?;
    let n: i64 = std::str::from_utf8(&reply[1..line_end])
        .ok()?
        .parse()
        .ok()?;
    if n < 0 {
        return None;
    }
    let n = if reply[0] == b'%' { n * 2 } else { n };
    let mut pos = line_end + 2;
    let mut elems = Vec::new();
    for _ in 0..n {
        let len = reply_len(&reply[pos..])?;
        elems.push(reply[pos..pos + len].to_vec());
        pos += len;
    }
    Some((reply[..line_end + 2].to_vec(), elems))
}

/// Printable rendering of raw protocol bytes (`\r`, `\n`, `\xHH` escaped).
pub fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// A minimal RESP client over a blocking `TcpStream`, for byte-exact tests.
pub struct RawConn {
    stream: TcpStream,
    /// Bytes received but not yet returned as part of a reply.
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects to `127.0.0.1:port` with a [`READ_TIMEOUT`] read timeout.
    pub fn connect(port: u16) -> RawConn {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        RawConn::from_stream(stream)
    }

    /// Wraps a connected stream (a test that connects while the server starts).
    pub fn from_stream(stream: TcpStream) -> RawConn {
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set read timeout");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes raw bytes (inline commands, malformed frames, pipelines).
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to server");
    }

    /// Sends one command as a RESP array of bulk strings.
    pub fn send_cmd(&mut self, args: &[&[u8]]) {
        self.send(&encode_cmd(args));
    }

    /// Reads exactly one complete reply; leftover bytes stay buffered.
    pub fn read_reply(&mut self) -> Vec<u8> {
        loop {
            if !self.buf.is_empty()
                && let Some(len) = reply_len(&self.buf)
            {
                return self.buf.drain(..len).collect();
            }
            if !self.fill() {
                panic!(
                    "connection closed mid-reply; buffered: {:?}",
                    escape(&self.buf)
                );
            }
        }
    }

    /// Sends a command given as strings and reads its reply.
    pub fn cmd(&mut self, args: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send_cmd(&args);
        self.read_reply()
    }

    /// Sends a command given as byte strings and reads its reply.
    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send_cmd(args);
        self.read_reply()
    }

    /// True when the server closes the connection (EOF or reset) with no
    /// further bytes; false if it sends more data or stays open until the
    /// read timeout.
    pub fn closed_by_peer(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        // A server that closes does so right after its error reply; do not
        // spend the full READ_TIMEOUT on one that keeps the connection open.
        let _ = self.stream.set_read_timeout(Some(CLOSE_WAIT));
        let mut chunk = [0u8; 1024];
        let result = self.stream.read(&mut chunk);
        let _ = self.stream.set_read_timeout(Some(READ_TIMEOUT));
        match result {
            Ok(0) => true,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                false
            }
            Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        }
    }

    /// Half-closes the write side (for "EOF mid-command" tests).
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads more bytes into the buffer; false on EOF. Panics on timeout.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) => panic!(
                "read from server failed ({e}); buffered: {:?}",
                escape(&self.buf)
            ),
        }
    }
}

/// Runs a command through the `redis` crate; panics (naming it) on failure.
pub fn q<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs a command that must fail; returns the error text.
pub fn q_err(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(con) {
        Ok(v) => panic!("{args:?} succeeded with {v:?}"),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Key placement
// ---------------------------------------------------------------------------
//
// The tests never link corekv's internals (they are being restructured and the
// tests must talk to the binary only), so the placement rule is restated here:
// Redis Cluster's slot (`CRC16(key or its {hash tag}) mod 16384`, a public,
// fixed rule), and corekv's split of the 16384 slots into contiguous ranges,
// one per shard. `integration::placement_rule_matches_the_server` checks this
// copy against a running server through INFO's `# Shards` section, so a change
// of the rule fails that test instead of silently making "cross-shard" tests
// single-shard.

/// CRC16-CCITT (XModem), bit by bit: slow and obviously right.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hashed part of a key: the content of the first `{...}` if non-empty.
fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// The Redis Cluster hash slot of `key` (what `CLUSTER KEYSLOT` answers).
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) % 16384
}

/// The shard of an `n`-shard corekv that owns `key`.
pub fn shard_of(key: &[u8], n: usize) -> usize {
    usize::from(key_slot(key)) * n / 16384
}

/// One key `<prefix><i>` owned by each of `n` shards (index = shard).
pub fn keys_on_each_shard(prefix: &str, n: usize) -> Vec<String> {
    let mut found: Vec<Option<String>> = vec![None; n];
    for i in 0..10_000 {
        let k = format!("{prefix}{i}");
        let s = shard_of(k.as_bytes(), n);
        if found[s].is_none() {
            found[s] = Some(k);
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    found
        .into_iter()
        .map(|k| k.expect("a key per shard"))
        .collect()
}

/// A key `<prefix><i>` owned by `shard` of an `n`-shard server, not in `avoid`.
pub fn key_on_shard(prefix: &str, shard: usize, n: usize, avoid: &[&str]) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| shard_of(k.as_bytes(), n) == shard && !avoid.contains(&k.as_str()))
        .unwrap_or_else(|| panic!("no key {prefix}<i> on shard {shard} of {n}"))
}

/// The `value` of `field:value` in an INFO reply (any section).
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// INFO `section` of the server behind `conn`, as text.
pub fn info(conn: &mut RawConn, section: &str) -> String {
    let reply = conn.cmd(&["INFO", section]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    assert!(
        text.starts_with('$'),
        "INFO {section} is not a bulk string: {text}"
    );
    text
}

/// Keys per shard of db 0..15 together, from corekv's INFO `# Shards` section
/// (`shard<i>:keys=<n>,...`), in shard order.
pub fn shard_key_counts(conn: &mut RawConn) -> Vec<u64> {
    let text = info(conn, "shards");
    let mut counts = Vec::new();
    for i in 0.. {
        let Some(line) = info_field(&text, &format!("shard{i}")) else {
            break;
        };
        let keys = line
            .split(',')
            .find_map(|kv| kv.strip_prefix("keys="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no keys= in INFO shard line {line:?}"));
        counts.push(keys);
    }
    assert!(!counts.is_empty(), "INFO shards has no shard lines: {text}");
    counts
}

/// The shard that really holds `key`, observed from the outside: SET it on an
/// otherwise unused key, see which shard's key count grew, DEL it again.
/// The caller must not race other writers on the same server.
pub fn observed_shard(conn: &mut RawConn, key: &str) -> usize {
    assert_eq!(
        conn.cmd(&["EXISTS", key]),
        b":0\r\n",
        "{key} must not exist"
    );
    let before = shard_key_counts(conn);
    assert_eq!(conn.cmd(&["SET", key, "placement-probe"]), b"+OK\r\n");
    let after = shard_key_counts(conn);
    assert_eq!(conn.cmd(&["DEL", key]), b":1\r\n");
    let grown: Vec<usize> = (0..after.len())
        .filter(|&i| after[i] > before.get(i).copied().unwrap_or(0))
        .collect();
    assert_eq!(
        grown.len(),
        1,
        "SET {key} grew shards {grown:?}: {before:?} -> {after:?}"
    );
    grown[0]
}

/// Asserts that `keys` are where [`shard_of`] says on the `n`-shard server
/// behind `conn`, so tests built on that rule really span the shards they
/// claim to.
pub fn assert_placement(conn: &mut RawConn, keys: &[&str], n: usize) {
    for key in keys {
        assert_eq!(
            observed_shard(conn, key),
            shard_of(key.as_bytes(), n),
            "{key} is not on the shard the test-side rule predicts ({n} shards)"
        );
    }
}

// ---------------------------------------------------------------------------
// Blocked clients
// ---------------------------------------------------------------------------

/// How long [`wait_blocked`] waits for clients to block.
pub const BLOCK_WAIT: Duration = Duration::from_secs(10);

/// INFO `blocked_clients` (corekv sums it over its shards).
pub fn blocked_clients(conn: &mut RawConn) -> u64 {
    let text = info(conn, "clients");
    info_field(&text, "blocked_clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO clients has no blocked_clients: {text}"))
}

/// Polls INFO (on a fresh connection of its own, bounded by [`BLOCK_WAIT`])
/// until exactly `n` clients are blocked, so a test orders "client is
/// blocked" before "someone pushes" without sleeping. Panics with the last
/// count when that does not happen in time.
pub fn wait_blocked(port: u16, n: u64) {
    let mut conn = RawConn::connect(port);
    let deadline = Instant::now() + BLOCK_WAIT;
    let mut last;
    loop {
        last = blocked_clients(&mut conn);
        if last == n {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "expected {n} blocked client(s) on port {port} within {BLOCK_WAIT:?}, \
                 INFO clients says {last}"
            );
        }
        thread::sleep(Duration::from_millis(2));
    }
}
