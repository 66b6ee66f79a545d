//! Differential tests: corekv must answer byte-for-byte like redis-server 7.
//!
//! Three sources of commands are replayed over [`RawConn`] against corekv and
//! a throwaway redis-server, comparing raw reply bytes:
//!
//! * hand-written corpora in `tests/corpus/*.txt` (edge cases, error texts),
//!   against corekv with 1, 2 and 3 shards ([`CORPUS_SHARDS`]; three shards
//!   make bugs visible that only appear when a command spans more than a
//!   pair of shards);
//! * PRNG-generated sequences over every data type (strings, bits, keyspace,
//!   expiry, lists, hashes, sets, sorted sets, HyperLogLog, MULTI/EXEC
//!   blocks), with keys on every shard and hash-tagged keys, against corekv
//!   with 2 and 3 shards ([`GENERATED_SHARDS`]), followed by a dump of the
//!   final state of every key;
//! * raw protocol byte streams (inline commands, protocol errors).
//!
//! Each shard count gets its own corekv and its own redis-server, run in
//! parallel; every mismatch names the shard count (`[corekv --shards 3]`),
//! and all mismatches are collected and reported together.
//!
//! Corpus format, one command per line:
//! * tokens are split on whitespace; a token in double quotes may contain
//!   spaces and the escapes `\"` `\\` `\r` `\n` `\t` `\xHH`;
//! * `!repeat N text` as three consecutive tokens becomes one token holding
//!   `text` repeated `N` times (for very long values);
//! * lines starting with `#` and blank lines are ignored;
//! * `!sort CMD ...`: the reply is a set, an array of unspecified order
//!   (KEYS, SMEMBERS, SINTER, HKEYS of a hashtable): its elements are
//!   compared as a multiset (sorted; duplicates still count);
//! * `!map CMD ...`: the reply is a field → value map of unspecified order
//!   (HGETALL of a hashtable, HRANDFIELD/ZRANDMEMBER ... WITHVALUES/
//!   WITHSCORES, CONFIG GET with a pattern): it is compared as a set of
//!   (field, value) pairs, so a value moved to another field is a mismatch.
//!   A RESP2 flat array, a RESP3 `%` map and a RESP3 array of 2-element
//!   arrays all work; the reply's type header is still compared;
//! * `!approx N CMD ...`: integer replies (TTL, PTTL, EXPIRETIME...) that
//!   are both non-negative may differ by up to N; anything else is exact;
//! * `!skip-reply CMD ...`: sent to both, reply not compared (TIME,
//!   RANDOMKEY on a non-empty db);
//! * `!sleep MS`: pause MS milliseconds (expiry tests);
//! * `!scan-all SCAN 0 args...`: iterate the cursor (the argument after the
//!   command name, or after the key for SSCAN/HSCAN/ZSCAN) from 0 until it
//!   returns to 0, and compare the sorted, de-duplicated union of elements
//!   (field/value pairs for HSCAN, member/score pairs for ZSCAN).
//!
//! Every file runs on a fresh connection pair after an uncompared FLUSHALL.
//!
//! Set `COREKV_DIFF_BASELINE=redis` to run redis-server against a second
//! redis-server instead of corekv: every corpus line and every generated
//! command must pass that way (twice) before it is committed, which proves
//! it is deterministic.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use support::{RawConn, Server, escape, split_aggregate};

/// Shard counts of the corekv instances the corpora run against.
const CORPUS_SHARDS: &[usize] = &[1, 2, 3];
/// Shard counts of the corekv instances the generated sequences run against.
const GENERATED_SHARDS: &[usize] = &[2, 3];
/// Number of generator steps in each generated sequence (a MULTI/EXEC block
/// is one step).
const GENERATED_STEPS: usize = 3000;
/// Seeds of the generated sequences; fixed so failures reproduce.
const SEEDS: [u64; 4] = [0x5EED_0001, 0xC0FF_EE42, 0xDEAD_BEEF_1234, 0x0BAD_CAFE_7777];
/// Upper bound on SCAN round trips in one `!scan-all`.
const MAX_SCAN_ROUNDS: usize = 100_000;

/// True when the "server under test" is a second redis-server.
fn baseline_is_redis() -> bool {
    std::env::var("COREKV_DIFF_BASELINE").is_ok_and(|v| v == "redis")
}

/// The server under test and its own reference redis-server.
struct Servers {
    /// `[corekv --shards N]`, prefixed to every mismatch.
    label: String,
    shards: usize,
    corekv: Server,
    redis: Server,
}

/// Starts one pair per entry of `shards`, or returns `None` (after a loud
/// message) when redis-server is not installed outside CI.
fn start_servers(shards: &[usize]) -> Option<Vec<Servers>> {
    if support::redis_server_path().is_none() && !support::under_ci() {
        // Written to the real stderr (not `eprintln!`, which libtest captures
        // for passing tests) so a skipped run is visible in the output.
        let _ = writeln!(
            std::io::stderr(),
            "\n{bar}\nSKIPPING differential tests: redis-server not found \
             (apt-get install redis-server)\n{bar}\n",
            bar = "=".repeat(78)
        );
        return None;
    }
    let pairs = shards
        .iter()
        .map(|&n| {
            let redis = support::start_redis().expect("redis-server (checked above)");
            let (label, corekv) = if baseline_is_redis() {
                (
                    format!("[redis baseline #{n}]"),
                    support::start_redis().expect("second redis-server for the baseline run"),
                )
            } else {
                (format!("[corekv --shards {n}]"), support::start_corekv(n))
            };
            Servers {
                label,
                shards: n,
                corekv,
                redis,
            }
        })
        .collect();
    Some(pairs)
}

/// Runs `job` for every pair on its own thread and collects the mismatches,
/// each prefixed with the pair's label.
fn on_every_pair(pairs: &[Servers], job: impl Fn(&Servers) -> Vec<String> + Sync) -> Vec<String> {
    thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .iter()
            .map(|pair| (pair, scope.spawn(|| job(pair))))
            .collect();
        handles
            .into_iter()
            .flat_map(|(pair, h)| {
                let lines = h.join().unwrap_or_else(|panic| {
                    vec![format!("aborted: {}", panic_message(panic.as_ref()))]
                });
                lines
                    .into_iter()
                    .map(|l| format!("{} {l}", pair.label))
                    .collect::<Vec<_>>()
            })
            .collect()
    })
}

/// A connection to each server.
struct ConnPair {
    corekv: RawConn,
    redis: RawConn,
}

impl ConnPair {
    fn open(servers: &Servers) -> ConnPair {
        ConnPair {
            corekv: RawConn::connect(servers.corekv.port),
            redis: RawConn::connect(servers.redis.port),
        }
    }

    /// Sends `args` to both servers; returns (corekv reply, redis reply).
    fn both(&mut self, args: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        (self.corekv.cmd_bytes(&refs), self.redis.cmd_bytes(&refs))
    }

    /// Runs `args` on both servers as `mode` says and returns the two
    /// replies, normalised, when they differ (`None` when they agree or the
    /// reply is not compared).
    fn compare(&mut self, mode: Mode, args: &[Vec<u8>]) -> Option<(Vec<u8>, Vec<u8>)> {
        let (ours, theirs) = match mode {
            Mode::ScanAll => (
                scan_all(&mut self.corekv, args),
                scan_all(&mut self.redis, args),
            ),
            _ => self.both(args),
        };
        let (ours, theirs) = match mode {
            Mode::SkipReply => return None,
            Mode::Sort => (sorted_reply(&ours), sorted_reply(&theirs)),
            Mode::Map => (map_reply(&ours), map_reply(&theirs)),
            Mode::Approx(tolerance) if approx_equal(&ours, &theirs, tolerance) => return None,
            Mode::Encoding
                if ours == b"$8\r\nlistpack\r\n"
                    && theirs == b"$9\r\nhashtable\r\n"
                    && args.len() == 3
                    && self.redis.cmd_bytes(&[b"TYPE", &args[2]]) == b"+set\r\n" =>
            {
                return None;
            }
            Mode::Exact | Mode::ScanAll | Mode::Approx(_) | Mode::Encoding => (ours, theirs),
        };
        (ours != theirs).then_some((ours, theirs))
    }
}

/// Renders a command for reports, quoting arguments that need it.
fn render_cmd(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| {
            let s = escape(a);
            let long = if s.len() > 60 {
                format!("{}...({} bytes)", &s[..60], a.len())
            } else {
                s
            };
            if a.is_empty() || a.iter().any(|b| b.is_ascii_whitespace() || *b == b'"') {
                format!("\"{long}\"")
            } else {
                long
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Shortens very long replies in reports.
fn render_reply(reply: &[u8]) -> String {
    let s = escape(reply);
    if s.len() > 300 {
        format!("{}...({} bytes)", &s[..300], reply.len())
    } else {
        s
    }
}

// ---------------------------------------------------------------------------
// Corpus parsing
// ---------------------------------------------------------------------------

/// How a reply is compared.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Exact,
    /// A set / multiset: element order is free.
    Sort,
    /// A field → value map: pair order is free, pairs stay pairs.
    Map,
    /// Non-negative integers may differ by up to the tolerance.
    Approx(i64),
    /// `OBJECT ENCODING key`: exact, except for corekv's one documented
    /// difference (README, "Compact small collections"): a small set of
    /// strings is a `listpack` (Redis 7.2) where Redis 7.0 says `hashtable`.
    Encoding,
    SkipReply,
    ScanAll,
}

/// One executable corpus line.
#[derive(Debug)]
enum Step {
    Cmd {
        line: usize,
        mode: Mode,
        args: Vec<Vec<u8>>,
    },
    Sleep(u64),
}

/// Splits a corpus line into tokens (see the module docs for the syntax).
fn tokenize(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = line.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let mut tok = Vec::new();
        if bytes[i] == b'"' {
            i += 1;
            loop {
                let Some(&c) = bytes.get(i) else {
                    return Err("unterminated double quote".into());
                };
                i += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let Some(&e) = bytes.get(i) else {
                            return Err("dangling backslash".into());
                        };
                        i += 1;
                        match e {
                            b'"' => tok.push(b'"'),
                            b'\\' => tok.push(b'\\'),
                            b'r' => tok.push(b'\r'),
                            b'n' => tok.push(b'\n'),
                            b't' => tok.push(b'\t'),
                            b'x' => {
                                let hex = line
                                    .get(i..i + 2)
                                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                                    .ok_or("bad \\x escape")?;
                                tok.push(hex);
                                i += 2;
                            }
                            other => return Err(format!("unknown escape \\{}", other as char)),
                        }
                    }
                    _ => tok.push(c),
                }
            }
            if bytes.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                return Err("closing quote must be followed by whitespace".into());
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                tok.push(bytes[i]);
                i += 1;
            }
        }
        tokens.push(tok);
    }
    expand_repeats(tokens)
}

/// Replaces each `!repeat N text` token triple with `text` repeated N times.
fn expand_repeats(tokens: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut it = tokens.into_iter();
    while let Some(tok) = it.next() {
        if tok != b"!repeat" {
            out.push(tok);
            continue;
        }
        let count = it
            .next()
            .and_then(|n| std::str::from_utf8(&n).ok()?.parse::<usize>().ok())
            .ok_or("!repeat needs a count")?;
        let text = it.next().ok_or("!repeat needs a text")?;
        out.push(text.repeat(count));
    }
    Ok(out)
}

/// Splits a leading directive off a corpus line: its mode and the rest.
fn directive(line: &str) -> Result<(Mode, &str), String> {
    for (prefix, mode) in [
        ("!sort ", Mode::Sort),
        ("!map ", Mode::Map),
        ("!skip-reply ", Mode::SkipReply),
        ("!scan-all ", Mode::ScanAll),
    ] {
        if let Some(rest) = line.strip_prefix(prefix) {
            return Ok((mode, rest));
        }
    }
    if let Some(rest) = line.strip_prefix("!approx ") {
        let rest = rest.trim_start();
        let (n, cmd) = rest
            .split_once(char::is_whitespace)
            .ok_or("!approx N CMD")?;
        let n = n.parse().map_err(|_| "bad !approx tolerance")?;
        return Ok((Mode::Approx(n), cmd));
    }
    if line.starts_with('!') && !line.starts_with("!repeat") {
        return Err("unknown directive".into());
    }
    Ok((Mode::Exact, line))
}

/// Parses a whole corpus file; panics on syntax errors (a broken corpus is
/// a bug in the test, not in the server).
fn parse_corpus(path: &Path, text: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fail = |msg: &str| -> ! { panic!("{}:{line}: {msg}: {raw}", path.display()) };
        if let Some(ms) = trimmed.strip_prefix("!sleep ") {
            let ms = ms.trim().parse().unwrap_or_else(|_| fail("bad !sleep"));
            steps.push(Step::Sleep(ms));
            continue;
        }
        let (mode, rest) = directive(trimmed).unwrap_or_else(|e| fail(&e));
        let args = tokenize(rest).unwrap_or_else(|e| fail(&e));
        if args.is_empty() {
            fail("directive without a command");
        }
        steps.push(Step::Cmd { line, mode, args });
    }
    steps
}

// ---------------------------------------------------------------------------
// Reply normalisation
// ---------------------------------------------------------------------------

/// Sorts the elements of an aggregate reply; other replies are unchanged.
fn sorted_reply(reply: &[u8]) -> Vec<u8> {
    match split_aggregate(reply) {
        Some((header, mut elems)) => {
            elems.sort();
            let mut out = header;
            elems.iter().for_each(|e| out.extend_from_slice(e));
            out
        }
        None => reply.to_vec(),
    }
}

/// True for a RESP array reply of exactly two elements (a RESP3 pair).
fn is_pair(reply: &[u8]) -> bool {
    reply.first() == Some(&b'*')
        && split_aggregate(reply).is_some_and(|(_, elems)| elems.len() == 2)
}

/// Canonical form of a field → value map reply: its (field, value) pairs
/// sorted, each pair kept together. Flat arrays (RESP2) and `%` maps pair
/// up consecutive elements; an array whose elements are all 2-element
/// arrays (RESP3 HRANDFIELD ... WITHVALUES) sorts those. Anything else (an
/// error, nil, an odd-length array) is returned unchanged, so it is compared
/// exactly.
fn map_reply(reply: &[u8]) -> Vec<u8> {
    let Some((header, elems)) = split_aggregate(reply) else {
        return reply.to_vec();
    };
    let mut pairs: Vec<Vec<u8>> = if !elems.is_empty() && elems.iter().all(|e| is_pair(e)) {
        elems
    } else if elems.len() % 2 == 0 {
        elems.chunks(2).map(<[Vec<u8>]>::concat).collect()
    } else {
        return reply.to_vec();
    };
    pairs.sort();
    let mut out = header;
    pairs.iter().for_each(|p| out.extend_from_slice(p));
    out
}

/// The value of a RESP integer reply `:<n>\r\n`.
fn resp_int(reply: &[u8]) -> Option<i64> {
    std::str::from_utf8(reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?)
        .ok()?
        .parse()
        .ok()
}

/// True when two replies are equal, or both non-negative integers at most
/// `tolerance` apart (TTLs read an instant apart on two servers). Negative
/// integers (-1 no TTL, -2 no key) must match exactly.
fn approx_equal(a: &[u8], b: &[u8], tolerance: i64) -> bool {
    if a == b {
        return true;
    }
    match (resp_int(a), resp_int(b)) {
        (Some(x), Some(y)) if x >= 0 && y >= 0 => (x - y).abs() <= tolerance,
        _ => false,
    }
}

/// Runs a SCAN-family command to completion and returns a canonical
/// rendering of the sorted, de-duplicated result (or the first reply if it
/// is not a `[cursor, elements]` pair, e.g. an error).
fn scan_all(conn: &mut RawConn, args: &[Vec<u8>]) -> Vec<u8> {
    let name = args[0].to_ascii_uppercase();
    let cursor_at = if name == b"SCAN" { 1 } else { 2 };
    let paired = name == b"HSCAN" || name == b"ZSCAN";
    let mut args = args.to_vec();
    if args.len() <= cursor_at {
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        return conn.cmd_bytes(&refs);
    }
    args[cursor_at] = b"0".to_vec();
    let mut found: Vec<Vec<u8>> = Vec::new();
    for _ in 0..MAX_SCAN_ROUNDS {
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let reply = conn.cmd_bytes(&refs);
        let Some((_, parts)) = split_aggregate(&reply) else {
            return reply;
        };
        let [cursor, elems] = parts.as_slice() else {
            return reply;
        };
        let Some((_, elems)) = split_aggregate(elems) else {
            return reply;
        };
        if paired {
            found.extend(elems.chunks(2).map(|c| c.concat()));
        } else {
            found.extend(elems);
        }
        // The cursor is a bulk string: `$<len>\r\n<digits>\r\n`.
        let digits = cursor
            .split(|&b| b == b'\n')
            .nth(1)
            .map(|d| d.strip_suffix(b"\r").unwrap_or(d))
            .unwrap_or_default();
        if digits == b"0" {
            found.sort();
            found.dedup();
            let mut out = format!("<scan-all {} elements>", found.len()).into_bytes();
            found.iter().for_each(|e| out.extend_from_slice(e));
            return out;
        }
        args[cursor_at] = digits.to_vec();
    }
    panic!("SCAN did not finish within {MAX_SCAN_ROUNDS} rounds");
}

/// Sanity checks of the order-free comparisons themselves: they must accept
/// reorderings and nothing else.
#[test]
fn normalisation_is_order_free_and_nothing_more() {
    let flat = |items: &[&str]| -> Vec<u8> {
        let mut out = format!("*{}\r\n", items.len()).into_bytes();
        for i in items {
            out.extend_from_slice(format!("${}\r\n{i}\r\n", i.len()).as_bytes());
        }
        out
    };
    // Maps: pairs may move, values may not change fields.
    let a = flat(&["f1", "v1", "f2", "v2"]);
    let b = flat(&["f2", "v2", "f1", "v1"]);
    let swapped = flat(&["f1", "v2", "f2", "v1"]);
    assert_eq!(map_reply(&a), map_reply(&b));
    assert_ne!(map_reply(&a), map_reply(&swapped));
    // ...which a sorted flat list would have accepted: the reason for !map.
    assert_eq!(sorted_reply(&a), sorted_reply(&swapped));
    // RESP3 map and array-of-pairs shapes.
    let m1 = b"%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:2\r\n".to_vec();
    let m2 = b"%2\r\n$1\r\nb\r\n:2\r\n$1\r\na\r\n:1\r\n".to_vec();
    let m3 = b"%2\r\n$1\r\nb\r\n:1\r\n$1\r\na\r\n:2\r\n".to_vec();
    assert_eq!(map_reply(&m1), map_reply(&m2));
    assert_ne!(map_reply(&m1), map_reply(&m3));
    let p1 = b"*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n".to_vec();
    let p2 = b"*2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n".to_vec();
    let p3 = b"*2\r\n*2\r\n$1\r\nb\r\n$1\r\n1\r\n*2\r\n$1\r\na\r\n$1\r\n2\r\n".to_vec();
    assert_eq!(map_reply(&p1), map_reply(&p2));
    assert_ne!(map_reply(&p1), map_reply(&p3));
    // The reply type still counts: a map is not an array.
    assert_ne!(map_reply(&m1), map_reply(&flat(&["a", "1", "b", "2"])));
    // Sets: order is free, duplicates and the count are not.
    assert_eq!(
        sorted_reply(&flat(&["a", "b"])),
        sorted_reply(&flat(&["b", "a"]))
    );
    assert_ne!(
        sorted_reply(&flat(&["a", "a"])),
        sorted_reply(&flat(&["a", "b"]))
    );
    assert_ne!(
        sorted_reply(&flat(&["a"])),
        sorted_reply(&flat(&["a", "a"]))
    );
    // Approximate integers.
    assert!(approx_equal(b":100\r\n", b":99\r\n", 1));
    assert!(!approx_equal(b":100\r\n", b":98\r\n", 1));
    assert!(!approx_equal(b":-1\r\n", b":0\r\n", 1));
    assert!(!approx_equal(b":-2\r\n", b":-1\r\n", 5));
    assert!(!approx_equal(b"$1\r\n1\r\n", b"$1\r\n2\r\n", 5));
    assert_eq!(
        directive("!approx 1000 PTTL k").expect("valid"),
        (Mode::Approx(1000), "PTTL k")
    );
    assert!(directive("!nosuch GET k").is_err());
}

// ---------------------------------------------------------------------------
// Corpus runner
// ---------------------------------------------------------------------------

/// All `tests/corpus/*.txt` files, sorted by name.
fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

/// Replays one corpus file; returns its mismatch report lines.
fn run_corpus(servers: &Servers, path: &Path) -> Vec<String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let steps = parse_corpus(path, &text);
    let mut mismatches = Vec::new();
    // Tracks the command in flight so a crash/hang is reported where it happened.
    let mut current = String::from("<connect>");
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut conns = ConnPair::open(servers);
        conns.both(&[b"FLUSHALL".to_vec()]);
        for step in &steps {
            let (line, mode, args) = match step {
                Step::Sleep(ms) => {
                    thread::sleep(Duration::from_millis(*ms));
                    continue;
                }
                Step::Cmd { line, mode, args } => (line, *mode, args),
            };
            current = format!("{name}:{line}: {}", render_cmd(args));
            if let Some((ours, theirs)) = conns.compare(mode, args) {
                mismatches.push(format!(
                    "{current} => corekv: {} redis: {}",
                    render_reply(&ours),
                    render_reply(&theirs)
                ));
            }
        }
    }));
    if let Err(panic) = outcome {
        mismatches.push(format!(
            "{current} => aborted the rest of {name}: {}",
            panic_message(panic.as_ref())
        ));
    }
    mismatches
}

/// The message of a caught panic payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Panics with every mismatch, one per line.
fn report(what: &str, mismatches: &[String]) {
    if !mismatches.is_empty() {
        panic!(
            "{} {what} mismatch(es) between corekv and redis-server:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    }
}

#[test]
fn corpus_matches_redis() {
    let Some(pairs) = start_servers(CORPUS_SHARDS) else {
        return;
    };
    let files = corpus_files();
    let mismatches = on_every_pair(&pairs, |servers| {
        files
            .iter()
            .flat_map(|path| run_corpus(servers, path))
            .collect()
    });
    report("corpus", &mismatches);
}

// ---------------------------------------------------------------------------
// Generated sequences
// ---------------------------------------------------------------------------
//
// Determinism rules the generator follows (checked by running it with
// COREKV_DIFF_BASELINE=redis):
// * no key ever expires while a sequence runs: relative TTLs are >= 100 s,
//   absolute ones are far in the future (2033, 2100) or in the past (which
//   deletes at once: EXPIREAT, GETEX EXAT); TTL/PTTL/EXPIRETIME/PEXPIRETIME
//   are compared with a tolerance, since the two servers run each command an
//   instant apart; GT/LT only on absolute times, where the comparison with
//   any TTL set before is decided by seconds or years, not by the clock;
// * random commands only where the answer is not random: SRANDMEMBER /
//   HRANDFIELD / ZRANDMEMBER / SPOP with a count above any size (the whole
//   collection), compared order-free;
// * unordered replies (SMEMBERS, HGETALL, KEYS, ...) compared as sets or
//   maps, never inside MULTI (whose EXEC reply is compared exactly);
// * lex-range commands only on the `lex:` keys, whose members all have score
//   0 (lex ranges over mixed scores are unspecified in Redis): nothing else
//   writes a zset with other scores there;
// * SORT only over elements whose order is total (distinct strings and
//   distinct numbers; no NUL bytes, which strcoll would stop at).

/// SplitMix64: tiny, deterministic, good enough to pick commands.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish value in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Data-type families of the generator; each has its own key pool.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fam {
    Str,
    Bit,
    List,
    Hash,
    Set,
    Zset,
    Lex,
    Hll,
}

const FAMILIES: [Fam; 8] = [
    Fam::Str,
    Fam::Bit,
    Fam::List,
    Fam::Hash,
    Fam::Set,
    Fam::Zset,
    Fam::Lex,
    Fam::Hll,
];

impl Fam {
    fn prefix(self) -> &'static str {
        match self {
            Fam::Str => "str",
            Fam::Bit => "bit",
            Fam::List => "lst",
            Fam::Hash => "hsh",
            Fam::Set => "set",
            Fam::Zset => "zst",
            Fam::Lex => "lex",
            Fam::Hll => "hll",
        }
    }

    /// Whether a command of family `self` may pick a key of `other`'s pool
    /// (cross-type picks): zset writers stay off the lex pool and lex
    /// commands off the zset pool, so lex ranges only see score-0 members.
    fn may_use(self, other: Fam) -> bool {
        !matches!((self, other), (Fam::Zset, Fam::Lex) | (Fam::Lex, Fam::Zset))
    }
}

/// Untagged keys per family: five names that cover every shard of a 2- and
/// a 3-shard server (checked by [`check_key_pools`]).
const UNTAGGED_PER_FAMILY: usize = 5;

/// The key pool of `fam`: `<prefix>:0..4` spread over the shards, and two
/// keys with the `{t}` hash tag, which every family shares (same shard).
fn pool(fam: Fam) -> Vec<String> {
    let p = fam.prefix();
    let mut keys: Vec<String> = (0..UNTAGGED_PER_FAMILY)
        .map(|i| format!("{p}:{i}"))
        .collect();
    keys.extend([format!("{{t}}{p}:a"), format!("{{t}}{p}:b")]);
    keys
}

/// Every generated key.
fn all_keys() -> Vec<String> {
    FAMILIES.iter().flat_map(|&f| pool(f)).collect()
}

/// Asserts the generator's keys are spread as intended on an `n`-shard
/// server: each family's untagged keys cover every shard, and the tagged
/// ones share one.
fn check_key_pools(n: usize) {
    for fam in FAMILIES {
        let keys = pool(fam);
        let shards: BTreeSet<usize> = keys[..UNTAGGED_PER_FAMILY]
            .iter()
            .map(|k| support::shard_of(k.as_bytes(), n))
            .collect();
        assert_eq!(shards.len(), n, "{fam:?} keys {keys:?} miss a shard of {n}");
    }
    let tagged: BTreeSet<usize> = all_keys()
        .iter()
        .filter(|k| k.starts_with("{t}"))
        .map(|k| support::shard_of(k.as_bytes(), n))
        .collect();
    assert_eq!(tagged.len(), 1, "{{t}} keys on one shard");
}

const VALUES: &[&str] = &[
    "v",
    "",
    "0",
    "1",
    "-5",
    "123",
    "007",
    "3.5",
    "hello world",
    "9223372036854775807",
    "-9223372036854775808",
    "\x00bin\r\n",
    "abcdefghijklmnop",
    "abcxyz",
    "xbzcab",
];
const BIG_NUMBERS: &[&str] = &[
    "1",
    "-1",
    "0",
    "100",
    "-1000",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "4611686018427387904",
    "abc",
    "1.5",
];
const FLOATS: &[&str] = &[
    "0.5", "1.5", "-2.25", "10", "3.0e3", "-1", "0.1", "abc", "inf", "1e308",
];
const RANGES: &[&str] = &["0", "1", "2", "5", "-1", "-2", "-100", "100"];
const COUNTS: &[&str] = &["0", "1", "2", "3", "5", "100", "-1"];
/// List and set elements: distinct strings with distinct numeric values
/// (SORT's order is total; the empty string sorts as 0), no NUL bytes.
const ELEMS: &[&str] = &[
    "",
    "a",
    "b",
    "c",
    "d",
    "x",
    "1",
    "2",
    "10",
    "-3",
    "hello world",
    "a b",
];
const FIELDS: &[&str] = &["f1", "f2", "f3", "a", "b", "", "f with space", "1"];
/// Zset members, the empty string among them.
const MEMBERS: &[&str] = &["", "m1", "m2", "m3", "a", "b", "c", "m 4", "x y"];
const SCORES: &[&str] = &[
    "0", "1", "2", "-1", "1.5", "-2.25", "10", "inf", "-inf", "+inf", "3e2", "0.1", "1e-5", "abc",
    "nan",
];
const SCORE_BOUNDS: &[&str] = &[
    "-inf", "+inf", "0", "1", "(1", "1.5", "(2", "-1", "10", "(inf", "abc",
];
const WEIGHTS: &[&str] = &["1", "2", "0", "-1", "0.5", "inf", "x"];
const LEX_MEMBERS: &[&str] = &["", "a", "b", "c", "d", "aa", "ab", "ba", "z", "a b"];
const LEX_BOUNDS: &[&str] = &[
    "-", "+", "[a", "(a", "[b", "(b", "[aa", "(ab", "[z", "[", "(", "a",
];
/// Relative seconds: all far from expiring while the test runs (or <= 0,
/// which deletes at once, or invalid).
const EXPIRE_S: &[&str] = &[
    "100",
    "1000",
    "100000",
    "0",
    "-5",
    "abc",
    "9223372036854775807",
];
const EXPIRE_MS: &[&str] = &[
    "100000",
    "1000000",
    "100000000",
    "0",
    "-1",
    "9223372036854775807",
];
/// Absolute seconds: 2100, 2033, or the past (deletes at once).
const EXPIREAT_S: &[&str] = &["4102444800", "2000000000", "4102444801", "1", "0", "-1"];
const EXPIREAT_MS: &[&str] = &["4102444800000", "2000000000123", "4102444800999", "1"];
const FUTURE_AT_S: &[&str] = &["4102444800", "2000000000"];
const FUTURE_AT_MS: &[&str] = &["4102444800000", "2000000000123"];
const BLOCK_TIMEOUT: &str = "0.01";

/// One generated command and how its reply is compared.
struct GenCmd {
    args: Vec<String>,
    mode: Mode,
}

fn exact(args: Vec<String>) -> GenCmd {
    GenCmd {
        args,
        mode: Mode::Exact,
    }
}

fn with_mode(args: Vec<String>, mode: Mode) -> GenCmd {
    GenCmd { args, mode }
}

/// `["A", "B"]` as owned strings.
fn sv(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The command generator of one sequence.
struct Gen {
    rng: SplitMix64,
    pools: Vec<(Fam, Vec<String>)>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: SplitMix64(seed),
            pools: FAMILIES.iter().map(|&f| (f, pool(f))).collect(),
        }
    }

    fn pool_of(&self, fam: Fam) -> &[String] {
        &self
            .pools
            .iter()
            .find(|(f, _)| *f == fam)
            .expect("every family has a pool")
            .1
    }

    /// A key of `fam`'s pool, now and then (8%) one of another family's.
    fn key(&mut self, fam: Fam) -> String {
        let from = if self.rng.chance(8) {
            let allowed: Vec<Fam> = FAMILIES
                .iter()
                .copied()
                .filter(|&f| fam.may_use(f))
                .collect();
            allowed[self.rng.below(allowed.len())]
        } else {
            fam
        };
        let n = self.pool_of(from).len();
        let i = self.rng.below(n);
        self.pool_of(from)[i].clone()
    }

    /// A key of `fam`'s own pool only (store destinations).
    fn own_key(&mut self, fam: Fam) -> String {
        let n = self.pool_of(fam).len();
        let i = self.rng.below(n);
        self.pool_of(fam)[i].clone()
    }

    /// 1..=max keys for a multi-key command; a fifth of the time all from
    /// the `{t}` tag (one shard), otherwise spread over the shards.
    fn keys(&mut self, fam: Fam, max: usize) -> Vec<String> {
        let n = 1 + self.rng.below(max);
        if self.rng.chance(20) {
            let tagged: Vec<String> = self
                .pool_of(fam)
                .iter()
                .filter(|k| k.starts_with("{t}"))
                .cloned()
                .collect();
            return (0..n)
                .map(|_| tagged[self.rng.below(tagged.len())].clone())
                .collect();
        }
        (0..n).map(|_| self.key(fam)).collect()
    }

    /// A key of any family (keyspace commands).
    fn any_key(&mut self) -> String {
        let fam = FAMILIES[self.rng.below(FAMILIES.len())];
        self.own_key(fam)
    }

    fn any_keys(&mut self, max: usize) -> Vec<String> {
        let n = 1 + self.rng.below(max);
        (0..n).map(|_| self.any_key()).collect()
    }

    fn p(&mut self, items: &[&str]) -> String {
        self.rng.pick(items).to_string()
    }

    /// The next step: usually one command, sometimes a MULTI/EXEC block.
    fn step(&mut self) -> Vec<GenCmd> {
        match self.rng.below(100) {
            0..=11 => vec![self.string_cmd()],
            12..=17 => vec![self.bit_cmd()],
            18..=27 => vec![self.keyspace_cmd()],
            28..=36 => vec![self.expiry_cmd()],
            37..=48 => vec![self.list_cmd()],
            49..=58 => vec![self.hash_cmd()],
            59..=68 => vec![self.set_cmd()],
            69..=80 => vec![self.zset_cmd()],
            81..=85 => vec![self.lex_cmd()],
            86..=91 => vec![self.hll_cmd()],
            _ => self.multi_block(),
        }
    }

    /// Any single command of any family (for MULTI bodies).
    fn any_cmd(&mut self) -> GenCmd {
        match self.rng.below(10) {
            0 => self.string_cmd(),
            1 => self.bit_cmd(),
            2 => self.keyspace_cmd(),
            3 => self.expiry_cmd(),
            4 => self.list_cmd(),
            5 => self.hash_cmd(),
            6 => self.set_cmd(),
            7 => self.zset_cmd(),
            8 => self.lex_cmd(),
            _ => self.hll_cmd(),
        }
    }

    /// `MULTI`, 1 to 5 exactly-compared commands (sometimes one with a wrong
    /// arity, which aborts the transaction), then `EXEC` or `DISCARD`.
    fn multi_block(&mut self) -> Vec<GenCmd> {
        let mut block = vec![exact(sv(&["MULTI"]))];
        for _ in 0..1 + self.rng.below(5) {
            let mut cmd = self.any_cmd();
            for _ in 0..50 {
                if cmd.mode == Mode::Exact {
                    break;
                }
                cmd = self.any_cmd();
            }
            if cmd.mode != Mode::Exact {
                cmd = exact(vec!["GET".into(), self.any_key()]);
            }
            block.push(cmd);
        }
        if self.rng.chance(5) {
            let at = 1 + self.rng.below(block.len());
            block.insert(at, exact(sv(&["SET", "str:0"])));
        }
        let end = if self.rng.chance(10) {
            "DISCARD"
        } else {
            "EXEC"
        };
        block.push(exact(sv(&[end])));
        block
    }

    fn string_cmd(&mut self) -> GenCmd {
        let f = Fam::Str;
        let c = match self.rng.below(24) {
            0..=2 => {
                let mut c = vec!["SET".into(), self.key(f), self.p(VALUES)];
                match self.rng.below(10) {
                    0 => c.extend(["EX".into(), self.p(&["100", "1000", "0", "-1", "abc"])]),
                    1 => c.extend(["PX".into(), self.p(&["100000", "0"])]),
                    2 => c.extend(["EXAT".into(), self.p(FUTURE_AT_S)]),
                    3 => c.extend(["PXAT".into(), self.p(FUTURE_AT_MS)]),
                    4 => c.push("KEEPTTL".into()),
                    _ => {}
                }
                if self.rng.chance(30) {
                    c.push(self.p(&["NX", "XX"]));
                }
                if self.rng.chance(30) {
                    c.push("GET".into());
                }
                c
            }
            3 | 4 => vec!["GET".into(), self.key(f)],
            5 => vec![self.p(&["INCR", "DECR"]), self.key(f)],
            6 => vec![
                self.p(&["INCRBY", "DECRBY"]),
                self.key(f),
                self.p(BIG_NUMBERS),
            ],
            7 => vec!["INCRBYFLOAT".into(), self.key(f), self.p(FLOATS)],
            8 => vec!["APPEND".into(), self.key(f), self.p(VALUES)],
            9 => vec!["STRLEN".into(), self.key(f)],
            10 => vec![
                self.p(&["GETRANGE", "SUBSTR"]),
                self.key(f),
                self.p(RANGES),
                self.p(RANGES),
            ],
            11 => vec![
                "SETRANGE".into(),
                self.key(f),
                self.p(&["0", "1", "5", "20", "-1", "abc"]),
                self.p(VALUES),
            ],
            12 | 13 => {
                let mut c = vec![self.p(&["MSET", "MSETNX"])];
                for k in self.keys(f, 3) {
                    c.push(k);
                    c.push(self.p(VALUES));
                }
                c
            }
            14 => [vec!["MGET".into()], self.keys(f, 4)].concat(),
            15 => vec!["GETSET".into(), self.key(f), self.p(VALUES)],
            16 => vec!["GETDEL".into(), self.key(f)],
            17 => vec!["SETNX".into(), self.key(f), self.p(VALUES)],
            18 => {
                if self.rng.chance(50) {
                    vec![
                        "SETEX".into(),
                        self.key(f),
                        self.p(&["100", "1000", "0"]),
                        self.p(VALUES),
                    ]
                } else {
                    vec![
                        "PSETEX".into(),
                        self.key(f),
                        self.p(&["100000", "-5"]),
                        self.p(VALUES),
                    ]
                }
            }
            19 => {
                let mut c = vec!["GETEX".into(), self.key(f)];
                match self.rng.below(6) {
                    0 => c.extend(["EX".into(), self.p(&["100", "1000", "0"])]),
                    1 => c.extend(["PX".into(), self.p(&["100000", "-1"])]),
                    2 => c.extend(["EXAT".into(), self.p(EXPIREAT_S)]),
                    3 => c.extend(["PXAT".into(), self.p(EXPIREAT_MS)]),
                    4 => c.push("PERSIST".into()),
                    _ => {}
                }
                c
            }
            20 => {
                let mut c = vec!["LCS".into(), self.key(f), self.key(f)];
                match self.rng.below(4) {
                    0 => c.push("LEN".into()),
                    1 => {
                        c.push("IDX".into());
                        if self.rng.chance(50) {
                            c.extend(["MINMATCHLEN".into(), self.p(&["0", "1", "2", "4"])]);
                        }
                        if self.rng.chance(50) {
                            c.push("WITHMATCHLEN".into());
                        }
                    }
                    _ => {}
                }
                c
            }
            21 => vec!["SET".into(), self.key(f), "0123456789".repeat(10)],
            _ => vec![self.p(&["STRLEN", "GET", "TYPE"]), self.key(f)],
        };
        exact(c)
    }

    fn bitfield_op(&mut self) -> Vec<String> {
        let ty = self.p(&["i8", "u8", "i16", "u16", "u4", "i5", "i64", "u63", "u64"]);
        let off = self.p(&["0", "3", "#1", "#2", "100"]);
        match self.rng.below(4) {
            0 => vec!["GET".into(), ty, off],
            1 => vec![
                "SET".into(),
                ty,
                off,
                self.p(&["1", "-1", "127", "200", "-9223372036854775808", "abc"]),
            ],
            2 => vec![
                "INCRBY".into(),
                ty,
                off,
                self.p(&["1", "-1", "100", "9223372036854775807"]),
            ],
            _ => vec!["OVERFLOW".into(), self.p(&["WRAP", "SAT", "FAIL", "BAD"])],
        }
    }

    fn bit_cmd(&mut self) -> GenCmd {
        // Bit commands work on the bit pool, a quarter of the time on strings.
        let f = if self.rng.chance(25) {
            Fam::Str
        } else {
            Fam::Bit
        };
        let c = match self.rng.below(9) {
            0 | 1 => vec![
                "SETBIT".into(),
                self.key(f),
                self.rng.below(64).to_string(),
                self.p(&["0", "1", "1", "2"]),
            ],
            2 => vec!["GETBIT".into(), self.key(f), self.rng.below(80).to_string()],
            3 => {
                let mut c = vec!["BITCOUNT".into(), self.key(f)];
                if self.rng.chance(60) {
                    c.push(self.p(RANGES));
                    c.push(self.p(RANGES));
                    if self.rng.chance(50) {
                        c.push(self.p(&["BYTE", "BIT"]));
                    }
                }
                c
            }
            4 => {
                let mut c = vec!["BITPOS".into(), self.key(f), self.p(&["0", "1"])];
                if self.rng.chance(60) {
                    c.push(self.p(RANGES));
                    if self.rng.chance(60) {
                        c.push(self.p(RANGES));
                        if self.rng.chance(50) {
                            c.push(self.p(&["BYTE", "BIT"]));
                        }
                    }
                }
                c
            }
            5 => {
                let op = self.p(&["AND", "OR", "XOR", "NOT", "and", "NOPE"]);
                let mut c = vec!["BITOP".into(), op.clone(), self.own_key(Fam::Bit)];
                let n = if op == "NOT" && self.rng.chance(80) {
                    1
                } else {
                    3
                };
                c.extend(self.keys(f, n));
                c
            }
            6 | 7 => {
                let mut c = vec!["BITFIELD".into(), self.key(f)];
                for _ in 0..1 + self.rng.below(3) {
                    c.extend(self.bitfield_op());
                }
                c
            }
            _ => vec![
                "BITFIELD_RO".into(),
                self.key(f),
                "GET".into(),
                self.p(&["u8", "i16", "u4"]),
                self.p(&["0", "#1", "7"]),
            ],
        };
        exact(c)
    }

    fn keyspace_cmd(&mut self) -> GenCmd {
        match self.rng.below(20) {
            0 | 1 => exact([vec![self.p(&["DEL", "UNLINK"])], self.any_keys(4)].concat()),
            2 | 3 => exact([vec![self.p(&["EXISTS", "TOUCH"])], self.any_keys(4)].concat()),
            4 => exact(vec!["TYPE".into(), self.any_key()]),
            5..=7 => {
                let (src, dst) = self.src_dst();
                exact(vec![self.p(&["RENAME", "RENAMENX"]), src, dst])
            }
            8 | 9 => {
                let (src, dst) = self.src_dst();
                let mut c = vec!["COPY".into(), src, dst];
                if self.rng.chance(50) {
                    c.push("REPLACE".into());
                }
                exact(c)
            }
            10 => with_mode(
                vec!["OBJECT".into(), "ENCODING".into(), self.any_key()],
                Mode::Encoding,
            ),
            11 => exact(sv(&["DBSIZE"])),
            12 => with_mode(
                vec![
                    "KEYS".into(),
                    self.p(&["*", "str:*", "{t}*", "*:1", "?st:?", "[hz]s*", "nomatch"]),
                ],
                Mode::Sort,
            ),
            13 => {
                let mut c = sv(&["SCAN", "0"]);
                if self.rng.chance(50) {
                    c.extend(["MATCH".into(), self.p(&["*", "*:1", "{t}*", "lst:*"])]);
                }
                if self.rng.chance(50) {
                    c.extend(["COUNT".into(), self.p(&["1", "3", "1000"])]);
                }
                if self.rng.chance(40) {
                    c.extend([
                        "TYPE".into(),
                        self.p(&["string", "list", "hash", "set", "zset"]),
                    ]);
                }
                with_mode(c, Mode::ScanAll)
            }
            14 => {
                // A rare trip to db 1 and back through SWAPDB.
                if self.rng.chance(50) {
                    exact(vec!["MOVE".into(), self.non_lex_key(), "1".into()])
                } else {
                    exact(sv(&["SWAPDB", "0", "1"]))
                }
            }
            _ => self.sort_cmd(),
        }
    }

    /// A key of any family but lex (the lex pool only ever holds score-0
    /// zsets of its own making).
    fn non_lex_key(&mut self) -> String {
        loop {
            let k = self.any_key();
            if !k.contains("lex:") {
                return k;
            }
        }
    }

    /// Source and destination for RENAME/COPY: often the same family, and a
    /// lex key is only a destination for another lex key.
    fn src_dst(&mut self) -> (String, String) {
        let src = self.any_key();
        let same_family = self.rng.chance(60) || src.contains("lex:");
        let dst = if same_family {
            let fam = FAMILIES
                .iter()
                .copied()
                .find(|f| src.contains(&format!("{}:", f.prefix())))
                .expect("generated keys have a family prefix");
            self.own_key(fam)
        } else {
            self.non_lex_key()
        };
        (src, dst)
    }

    fn sort_cmd(&mut self) -> GenCmd {
        let fam = [Fam::List, Fam::Set, Fam::Zset][self.rng.below(3)];
        let ro = self.rng.chance(30);
        let mut c = vec![
            if ro { "SORT_RO" } else { "SORT" }.to_string(),
            self.key(fam),
        ];
        if self.rng.chance(30) {
            c.extend([
                "LIMIT".into(),
                self.p(&["0", "1", "-1"]),
                self.p(&["1", "3", "-1"]),
            ]);
        }
        if self.rng.chance(40) {
            c.push(self.p(&["ASC", "DESC"]));
        }
        if self.rng.chance(60) {
            c.push("ALPHA".into());
        }
        if !ro && self.rng.chance(30) {
            c.extend(["STORE".into(), self.own_key(Fam::List)]);
        }
        exact(c)
    }

    fn expiry_cmd(&mut self) -> GenCmd {
        let k = self.non_lex_key();
        match self.rng.below(16) {
            0 | 1 => {
                let mut c = vec!["EXPIRE".into(), k, self.p(EXPIRE_S)];
                if self.rng.chance(30) {
                    c.push(self.p(&["NX", "XX"]));
                }
                exact(c)
            }
            2 => {
                let mut c = vec!["PEXPIRE".into(), k, self.p(EXPIRE_MS)];
                if self.rng.chance(30) {
                    c.push(self.p(&["NX", "XX"]));
                }
                exact(c)
            }
            3 | 4 => {
                let mut c = vec!["EXPIREAT".into(), k, self.p(EXPIREAT_S)];
                if self.rng.chance(40) {
                    c.push(self.p(&["NX", "XX", "GT", "LT"]));
                }
                exact(c)
            }
            5 => {
                let mut c = vec!["PEXPIREAT".into(), k, self.p(EXPIREAT_MS)];
                if self.rng.chance(40) {
                    c.push(self.p(&["NX", "XX", "GT", "LT"]));
                }
                exact(c)
            }
            6 | 7 => exact(vec!["PERSIST".into(), k]),
            8 | 9 => with_mode(vec!["TTL".into(), k], Mode::Approx(1)),
            10 | 11 => with_mode(vec!["PTTL".into(), k], Mode::Approx(1000)),
            12 | 13 => with_mode(vec!["EXPIRETIME".into(), k], Mode::Approx(1)),
            _ => with_mode(vec!["PEXPIRETIME".into(), k], Mode::Approx(1000)),
        }
    }

    fn elems(&mut self, max: usize) -> Vec<String> {
        (0..1 + self.rng.below(max))
            .map(|_| self.p(ELEMS))
            .collect()
    }

    fn list_cmd(&mut self) -> GenCmd {
        let f = Fam::List;
        let dir = |g: &mut Gen| g.p(&["LEFT", "RIGHT"]);
        let c = match self.rng.below(26) {
            0..=3 => [
                vec![self.p(&["LPUSH", "RPUSH"]), self.key(f)],
                self.elems(3),
            ]
            .concat(),
            4 => vec![self.p(&["LPUSHX", "RPUSHX"]), self.key(f), self.p(ELEMS)],
            5 | 6 => {
                let mut c = vec![self.p(&["LPOP", "RPOP"]), self.key(f)];
                if self.rng.chance(40) {
                    c.push(self.p(COUNTS));
                }
                c
            }
            7 => vec!["LLEN".into(), self.key(f)],
            8 | 9 => vec!["LRANGE".into(), self.key(f), self.p(RANGES), self.p(RANGES)],
            10 => vec!["LINDEX".into(), self.key(f), self.p(RANGES)],
            11 => vec!["LSET".into(), self.key(f), self.p(RANGES), self.p(ELEMS)],
            12 => vec![
                "LINSERT".into(),
                self.key(f),
                self.p(&["BEFORE", "AFTER", "NEAR"]),
                self.p(ELEMS),
                self.p(ELEMS),
            ],
            13 => vec![
                "LREM".into(),
                self.key(f),
                self.p(&["-2", "-1", "0", "1", "2"]),
                self.p(ELEMS),
            ],
            14 => vec!["LTRIM".into(), self.key(f), self.p(RANGES), self.p(RANGES)],
            15 => {
                let mut c = vec!["LPOS".into(), self.key(f), self.p(ELEMS)];
                if self.rng.chance(40) {
                    c.extend(["RANK".into(), self.p(&["1", "2", "-1", "-2", "0"])]);
                }
                if self.rng.chance(40) {
                    c.extend(["COUNT".into(), self.p(&["0", "1", "2", "-1"])]);
                }
                if self.rng.chance(30) {
                    c.extend(["MAXLEN".into(), self.p(&["0", "1", "3"])]);
                }
                c
            }
            16 | 17 => vec![
                "LMOVE".into(),
                self.key(f),
                self.key(f),
                dir(self),
                dir(self),
            ],
            18 => vec!["RPOPLPUSH".into(), self.key(f), self.key(f)],
            19 => {
                let keys = self.keys(f, 3);
                let mut c = vec!["LMPOP".into(), keys.len().to_string()];
                c.extend(keys);
                c.push(dir(self));
                if self.rng.chance(50) {
                    c.extend(["COUNT".into(), self.p(&["1", "2", "10", "0"])]);
                }
                c
            }
            20 => {
                let mut c = vec![self.p(&["BLPOP", "BRPOP"])];
                c.extend(self.keys(f, 3));
                c.push(BLOCK_TIMEOUT.into());
                c
            }
            21 => {
                if self.rng.chance(50) {
                    vec![
                        "BLMOVE".into(),
                        self.key(f),
                        self.key(f),
                        dir(self),
                        dir(self),
                        BLOCK_TIMEOUT.into(),
                    ]
                } else {
                    vec![
                        "BRPOPLPUSH".into(),
                        self.key(f),
                        self.key(f),
                        BLOCK_TIMEOUT.into(),
                    ]
                }
            }
            22 => {
                let keys = self.keys(f, 3);
                let mut c = vec![
                    "BLMPOP".into(),
                    BLOCK_TIMEOUT.into(),
                    keys.len().to_string(),
                ];
                c.extend(keys);
                c.push(dir(self));
                if self.rng.chance(50) {
                    c.extend(["COUNT".into(), self.p(&["1", "3"])]);
                }
                c
            }
            23 => {
                // Past the listpack limits: a quicklist of 200 elements.
                let mut c = vec!["RPUSH".into(), self.key(f)];
                c.extend((0..200).map(|i| format!("e{i}")));
                c
            }
            _ => vec!["LRANGE".into(), self.key(f), "0".into(), "-1".into()],
        };
        exact(c)
    }

    fn hash_cmd(&mut self) -> GenCmd {
        let f = Fam::Hash;
        match self.rng.below(22) {
            0..=3 => {
                let mut c = vec![self.p(&["HSET", "HSET", "HMSET"]), self.key(f)];
                for _ in 0..1 + self.rng.below(3) {
                    c.push(self.p(FIELDS));
                    c.push(self.p(VALUES));
                }
                exact(c)
            }
            4 => exact(vec![
                "HSETNX".into(),
                self.key(f),
                self.p(FIELDS),
                self.p(VALUES),
            ]),
            5 | 6 => exact(vec!["HGET".into(), self.key(f), self.p(FIELDS)]),
            7 => {
                let mut c = vec!["HMGET".into(), self.key(f)];
                c.extend((0..1 + self.rng.below(4)).map(|_| self.p(FIELDS)));
                exact(c)
            }
            8 => {
                let mut c = vec!["HDEL".into(), self.key(f)];
                c.extend((0..1 + self.rng.below(3)).map(|_| self.p(FIELDS)));
                exact(c)
            }
            9 => exact(vec!["HEXISTS".into(), self.key(f), self.p(FIELDS)]),
            10 => exact(vec!["HLEN".into(), self.key(f)]),
            11 => exact(vec!["HSTRLEN".into(), self.key(f), self.p(FIELDS)]),
            12 => exact(vec![
                "HINCRBY".into(),
                self.key(f),
                self.p(FIELDS),
                self.p(BIG_NUMBERS),
            ]),
            13 => exact(vec![
                "HINCRBYFLOAT".into(),
                self.key(f),
                self.p(FIELDS),
                self.p(FLOATS),
            ]),
            14 | 15 => with_mode(vec!["HGETALL".into(), self.key(f)], Mode::Map),
            16 => with_mode(vec![self.p(&["HKEYS", "HVALS"]), self.key(f)], Mode::Sort),
            17 => with_mode(
                vec!["HRANDFIELD".into(), self.key(f), "1000".into()],
                Mode::Sort,
            ),
            18 => with_mode(
                vec![
                    "HRANDFIELD".into(),
                    self.key(f),
                    "1000".into(),
                    "WITHVALUES".into(),
                ],
                Mode::Map,
            ),
            19 => {
                let mut c = vec!["HSCAN".into(), self.key(f), "0".into()];
                if self.rng.chance(50) {
                    c.extend(["MATCH".into(), self.p(&["f*", "*1", "nomatch"])]);
                }
                if self.rng.chance(50) {
                    c.extend(["COUNT".into(), self.p(&["1", "5", "1000"])]);
                }
                with_mode(c, Mode::ScanAll)
            }
            20 => {
                // Past the listpack limits: a hashtable of 130 fields.
                let mut c = vec!["HSET".into(), self.key(f)];
                for i in 0..130 {
                    c.push(format!("field{i}"));
                    c.push(format!("{i}"));
                }
                exact(c)
            }
            _ => exact(vec!["HLEN".into(), self.key(f)]),
        }
    }

    fn set_cmd(&mut self) -> GenCmd {
        let f = Fam::Set;
        match self.rng.below(24) {
            0..=3 => exact([vec!["SADD".into(), self.key(f)], self.elems(3)].concat()),
            4 | 5 => exact([vec!["SREM".into(), self.key(f)], self.elems(2)].concat()),
            6 => exact(vec!["SISMEMBER".into(), self.key(f), self.p(ELEMS)]),
            7 => exact([vec!["SMISMEMBER".into(), self.key(f)], self.elems(3)].concat()),
            8 => exact(vec!["SCARD".into(), self.key(f)]),
            9 | 10 => with_mode(vec!["SMEMBERS".into(), self.key(f)], Mode::Sort),
            11 | 12 => with_mode(
                [
                    vec![self.p(&["SINTER", "SUNION", "SDIFF"])],
                    self.keys(f, 3),
                ]
                .concat(),
                Mode::Sort,
            ),
            13 | 14 => exact(
                [
                    vec![
                        self.p(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
                        self.own_key(f),
                    ],
                    self.keys(f, 3),
                ]
                .concat(),
            ),
            15 => {
                let keys = self.keys(f, 3);
                let mut c = vec!["SINTERCARD".into(), keys.len().to_string()];
                c.extend(keys);
                if self.rng.chance(50) {
                    c.extend(["LIMIT".into(), self.p(&["0", "1", "2", "-1"])]);
                }
                exact(c)
            }
            16 | 17 => exact(vec![
                "SMOVE".into(),
                self.key(f),
                self.key(f),
                self.p(ELEMS),
            ]),
            18 => with_mode(
                vec!["SRANDMEMBER".into(), self.key(f), "1000".into()],
                Mode::Sort,
            ),
            19 => with_mode(vec!["SPOP".into(), self.key(f), "1000".into()], Mode::Sort),
            20 => {
                let mut c = vec!["SSCAN".into(), self.key(f), "0".into()];
                if self.rng.chance(50) {
                    c.extend(["MATCH".into(), self.p(&["*", "1*", "?"])]);
                }
                if self.rng.chance(50) {
                    c.extend(["COUNT".into(), self.p(&["1", "1000"])]);
                }
                with_mode(c, Mode::ScanAll)
            }
            21 => {
                // Past the intset limit (512): a hashtable.
                let mut c = vec!["SADD".into(), self.key(f)];
                c.extend((0..600).map(|i| i.to_string()));
                exact(c)
            }
            _ => exact(vec!["SCARD".into(), self.key(f)]),
        }
    }

    /// Source keys of zset set-operations: zsets, now and then plain sets
    /// (which count as members with score 1).
    fn zsources(&mut self) -> Vec<String> {
        let n = 1 + self.rng.below(3);
        (0..n)
            .map(|_| {
                if self.rng.chance(15) {
                    self.own_key(Fam::Set)
                } else {
                    self.key(Fam::Zset)
                }
            })
            .collect()
    }

    fn score_pairs(&mut self, max: usize) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..1 + self.rng.below(max) {
            out.push(self.p(SCORES));
            out.push(self.p(MEMBERS));
        }
        out
    }

    fn zset_cmd(&mut self) -> GenCmd {
        let f = Fam::Zset;
        let ws = |g: &mut Gen| -> Vec<String> {
            if g.rng.chance(50) {
                vec!["WITHSCORES".into()]
            } else {
                vec![]
            }
        };
        let c = match self.rng.below(30) {
            0..=3 => {
                let mut c = vec!["ZADD".into(), self.key(f)];
                if self.rng.chance(25) {
                    c.push(self.p(&["NX", "XX"]));
                }
                if self.rng.chance(25) {
                    c.push(self.p(&["GT", "LT"]));
                }
                if self.rng.chance(25) {
                    c.push("CH".into());
                }
                let incr = self.rng.chance(15);
                if incr {
                    c.push("INCR".into());
                }
                c.extend(self.score_pairs(if incr { 1 } else { 3 }));
                c
            }
            4 => vec![
                "ZINCRBY".into(),
                self.key(f),
                self.p(SCORES),
                self.p(MEMBERS),
            ],
            5 => {
                let mut c = vec!["ZREM".into(), self.key(f)];
                c.extend((0..1 + self.rng.below(2)).map(|_| self.p(MEMBERS)));
                c
            }
            6 => vec!["ZSCORE".into(), self.key(f), self.p(MEMBERS)],
            7 => {
                let mut c = vec!["ZMSCORE".into(), self.key(f)];
                c.extend((0..1 + self.rng.below(3)).map(|_| self.p(MEMBERS)));
                c
            }
            8 => vec!["ZCARD".into(), self.key(f)],
            9 => vec![
                "ZCOUNT".into(),
                self.key(f),
                self.p(SCORE_BOUNDS),
                self.p(SCORE_BOUNDS),
            ],
            10 | 11 => {
                let mut c = vec!["ZRANGE".into(), self.key(f), self.p(RANGES), self.p(RANGES)];
                if self.rng.chance(30) {
                    c.push("REV".into());
                }
                c.extend(ws(self));
                c
            }
            12 | 13 => {
                let rev = self.rng.chance(40);
                let mut c = vec![
                    "ZRANGE".into(),
                    self.key(f),
                    self.p(SCORE_BOUNDS),
                    self.p(SCORE_BOUNDS),
                    "BYSCORE".into(),
                ];
                if rev {
                    c.push("REV".into());
                }
                if self.rng.chance(40) {
                    c.extend([
                        "LIMIT".into(),
                        self.p(&["0", "1", "2"]),
                        self.p(&["1", "2", "-1", "0"]),
                    ]);
                }
                c.extend(ws(self));
                c
            }
            14 => {
                let name = self.p(&["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]);
                let mut c = vec![
                    name,
                    self.key(f),
                    self.p(SCORE_BOUNDS),
                    self.p(SCORE_BOUNDS),
                ];
                c.extend(ws(self));
                if self.rng.chance(40) {
                    c.extend([
                        "LIMIT".into(),
                        self.p(&["0", "1"]),
                        self.p(&["1", "2", "-1"]),
                    ]);
                }
                c
            }
            15 => {
                let mut c = vec![
                    "ZREVRANGE".into(),
                    self.key(f),
                    self.p(RANGES),
                    self.p(RANGES),
                ];
                c.extend(ws(self));
                c
            }
            16 => vec![self.p(&["ZRANK", "ZREVRANK"]), self.key(f), self.p(MEMBERS)],
            17 => {
                let mut c = vec![self.p(&["ZPOPMIN", "ZPOPMAX"]), self.key(f)];
                if self.rng.chance(50) {
                    c.push(self.p(COUNTS));
                }
                c
            }
            18 => {
                let keys = self.keys(f, 3);
                let mut c = vec!["ZMPOP".into(), keys.len().to_string()];
                c.extend(keys);
                c.push(self.p(&["MIN", "MAX"]));
                if self.rng.chance(50) {
                    c.extend(["COUNT".into(), self.p(&["1", "2", "10", "0"])]);
                }
                c
            }
            19 => {
                if self.rng.chance(50) {
                    let mut c = vec![self.p(&["BZPOPMIN", "BZPOPMAX"])];
                    c.extend(self.keys(f, 3));
                    c.push(BLOCK_TIMEOUT.into());
                    c
                } else {
                    let keys = self.keys(f, 3);
                    let mut c = vec![
                        "BZMPOP".into(),
                        BLOCK_TIMEOUT.into(),
                        keys.len().to_string(),
                    ];
                    c.extend(keys);
                    c.push(self.p(&["MIN", "MAX"]));
                    if self.rng.chance(50) {
                        c.extend(["COUNT".into(), self.p(&["1", "3"])]);
                    }
                    c
                }
            }
            20 | 21 => {
                let name = self.p(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]);
                let srcs = self.zsources();
                let mut c = vec![name.clone(), self.own_key(f), srcs.len().to_string()];
                c.extend(srcs.iter().cloned());
                self.weights_aggregate(&name, srcs.len(), &mut c);
                c
            }
            22 | 23 => {
                let name = self.p(&["ZUNION", "ZINTER", "ZDIFF"]);
                let srcs = self.zsources();
                let mut c = vec![name.clone(), srcs.len().to_string()];
                c.extend(srcs.iter().cloned());
                self.weights_aggregate(&name, srcs.len(), &mut c);
                c.extend(ws(self));
                c
            }
            24 => {
                let keys = self.zsources();
                let mut c = vec!["ZINTERCARD".into(), keys.len().to_string()];
                c.extend(keys);
                if self.rng.chance(50) {
                    c.extend(["LIMIT".into(), self.p(&["0", "1", "2"])]);
                }
                c
            }
            25 => {
                let mut c = vec!["ZRANGESTORE".into(), self.own_key(f), self.key(f)];
                if self.rng.chance(50) {
                    c.extend([self.p(SCORE_BOUNDS), self.p(SCORE_BOUNDS), "BYSCORE".into()]);
                    if self.rng.chance(30) {
                        c.extend(["LIMIT".into(), "0".into(), self.p(&["1", "2"])]);
                    }
                } else {
                    c.extend([self.p(RANGES), self.p(RANGES)]);
                }
                if self.rng.chance(30) {
                    c.push("REV".into());
                }
                c
            }
            26 => {
                if self.rng.chance(50) {
                    vec![
                        "ZREMRANGEBYRANK".into(),
                        self.key(f),
                        self.p(RANGES),
                        self.p(RANGES),
                    ]
                } else {
                    vec![
                        "ZREMRANGEBYSCORE".into(),
                        self.key(f),
                        self.p(SCORE_BOUNDS),
                        self.p(SCORE_BOUNDS),
                    ]
                }
            }
            27 => {
                let withscores = self.rng.chance(50);
                let mut c = vec!["ZRANDMEMBER".into(), self.key(f), "1000".into()];
                if withscores {
                    c.push("WITHSCORES".into());
                }
                return with_mode(c, if withscores { Mode::Map } else { Mode::Sort });
            }
            28 => {
                let mut c = vec!["ZSCAN".into(), self.key(f), "0".into()];
                if self.rng.chance(50) {
                    c.extend(["MATCH".into(), self.p(&["m*", "*", "x*"])]);
                }
                if self.rng.chance(50) {
                    c.extend(["COUNT".into(), self.p(&["1", "1000"])]);
                }
                return with_mode(c, Mode::ScanAll);
            }
            _ => {
                // Past the listpack limit (128): a skiplist.
                let mut c = vec!["ZADD".into(), self.key(f)];
                for i in 0..130 {
                    c.push((i % 17).to_string());
                    c.push(format!("member{i}"));
                }
                c
            }
        };
        exact(c)
    }

    /// WEIGHTS / AGGREGATE options of ZUNION[STORE] and ZINTER[STORE].
    fn weights_aggregate(&mut self, name: &str, n: usize, c: &mut Vec<String>) {
        if name.starts_with("ZDIFF") {
            return;
        }
        if self.rng.chance(40) {
            c.push("WEIGHTS".into());
            // Sometimes one weight too few: a syntax error.
            let count = if self.rng.chance(10) {
                n.saturating_sub(1)
            } else {
                n
            };
            c.extend((0..count).map(|_| self.p(WEIGHTS)));
        }
        if self.rng.chance(40) {
            c.extend(["AGGREGATE".into(), self.p(&["SUM", "MIN", "MAX", "AVG"])]);
        }
    }

    fn lex_cmd(&mut self) -> GenCmd {
        let f = Fam::Lex;
        let limit = |g: &mut Gen, c: &mut Vec<String>| {
            if g.rng.chance(30) {
                c.extend([
                    "LIMIT".into(),
                    g.p(&["0", "1", "2"]),
                    g.p(&["1", "2", "-1"]),
                ]);
            }
        };
        let c = match self.rng.below(12) {
            0..=3 => {
                let mut c = vec!["ZADD".into(), self.key(f)];
                if self.rng.chance(20) {
                    c.push(self.p(&["NX", "XX"]));
                }
                for _ in 0..1 + self.rng.below(3) {
                    c.push("0".into());
                    c.push(self.p(LEX_MEMBERS));
                }
                c
            }
            4 | 5 => {
                let name = self.p(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]);
                let mut c = vec![name, self.key(f), self.p(LEX_BOUNDS), self.p(LEX_BOUNDS)];
                limit(self, &mut c);
                c
            }
            6 => {
                let mut c = vec![
                    "ZRANGE".into(),
                    self.key(f),
                    self.p(LEX_BOUNDS),
                    self.p(LEX_BOUNDS),
                    "BYLEX".into(),
                ];
                if self.rng.chance(40) {
                    c.push("REV".into());
                }
                limit(self, &mut c);
                c
            }
            7 => vec![
                "ZLEXCOUNT".into(),
                self.key(f),
                self.p(LEX_BOUNDS),
                self.p(LEX_BOUNDS),
            ],
            8 => vec![
                "ZREMRANGEBYLEX".into(),
                self.key(f),
                self.p(LEX_BOUNDS),
                self.p(LEX_BOUNDS),
            ],
            9 => {
                let mut c = vec![
                    "ZRANGESTORE".into(),
                    self.own_key(f),
                    self.own_key(f),
                    self.p(LEX_BOUNDS),
                    self.p(LEX_BOUNDS),
                    "BYLEX".into(),
                ];
                limit(self, &mut c);
                c
            }
            10 => vec!["ZREM".into(), self.key(f), self.p(LEX_MEMBERS)],
            _ => vec![
                "ZRANGE".into(),
                self.key(f),
                "0".into(),
                "-1".into(),
                "WITHSCORES".into(),
            ],
        };
        exact(c)
    }

    fn hll_cmd(&mut self) -> GenCmd {
        let f = Fam::Hll;
        let c = match self.rng.below(12) {
            0..=3 => {
                let mut c = vec!["PFADD".into(), self.key(f)];
                for _ in 0..self.rng.below(6) {
                    c.push(if self.rng.chance(30) {
                        self.p(ELEMS)
                    } else {
                        self.rng.below(300).to_string()
                    });
                }
                c
            }
            4..=6 => [vec!["PFCOUNT".into()], self.keys(f, 3)].concat(),
            7 | 8 => [vec!["PFMERGE".into(), self.own_key(f)], self.keys(f, 3)].concat(),
            9 => vec!["GET".into(), self.key(f)],
            10 => {
                // Past the sparse limit: a dense HLL.
                let mut c = vec!["PFADD".into(), self.key(f)];
                let base = self.rng.below(1000) * 10_000;
                c.extend((0..3000).map(|i| (base + i).to_string()));
                c
            }
            _ => vec!["PFCOUNT".into(), self.key(f)],
        };
        exact(c)
    }
}

/// Commands that dump the whole state of every generated key in the
/// current db: its type, value (read by the command that fits the type
/// redis-server reports) and TTL.
fn final_state_cmds(conns: &mut ConnPair) -> Vec<GenCmd> {
    let mut out = vec![
        exact(sv(&["DBSIZE"])),
        with_mode(sv(&["KEYS", "*"]), Mode::Sort),
    ];
    for key in all_keys() {
        let ty = conns.redis.cmd(&["TYPE", &key]);
        let read = match ty.as_slice() {
            b"+string\r\n" => exact(vec!["GET".into(), key.clone()]),
            b"+list\r\n" => exact(vec!["LRANGE".into(), key.clone(), "0".into(), "-1".into()]),
            b"+hash\r\n" => with_mode(vec!["HGETALL".into(), key.clone()], Mode::Map),
            b"+set\r\n" => with_mode(vec!["SMEMBERS".into(), key.clone()], Mode::Sort),
            b"+zset\r\n" => exact(vec![
                "ZRANGE".into(),
                key.clone(),
                "0".into(),
                "-1".into(),
                "WITHSCORES".into(),
            ]),
            _ => exact(vec!["EXISTS".into(), key.clone()]),
        };
        out.push(exact(vec!["TYPE".into(), key.clone()]));
        out.push(read);
        out.push(with_mode(
            vec!["PTTL".into(), key.clone()],
            Mode::Approx(1000),
        ));
    }
    out
}

/// Runs one generated sequence (in RESP3 when `resp3`) and the final state
/// comparison of db 0 and db 1.
fn run_generated(servers: &Servers, seed: u64, resp3: bool) -> Vec<String> {
    check_key_pools(servers.shards);
    let mut conns = ConnPair::open(servers);
    conns.both(&[b"FLUSHALL".to_vec()]);
    if !baseline_is_redis() {
        // Black-box check that the keys are where the test-side rule says.
        let keys = all_keys();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        support::assert_placement(&mut conns.corekv, &refs, servers.shards);
    }
    if resp3 {
        conns.both(&[b"HELLO".to_vec(), b"3".to_vec()]);
    }
    let tag = format!("gen(seed={seed:#x}{})", if resp3 { ",resp3" } else { "" });
    let mut mismatches = Vec::new();
    // COREKV_DIFF_DUMP=<dir>: write every generated command to a file, to
    // replay a failing sequence by hand.
    let mut dump = std::env::var_os("COREKV_DIFF_DUMP").map(|dir| {
        let name = format!("{}-{tag}.txt", servers.shards);
        fs::File::create(Path::new(&dir).join(name)).expect("create dump file")
    });
    let mut run = |label: String, cmd: &GenCmd, conns: &mut ConnPair| {
        let args: Vec<Vec<u8>> = cmd.args.iter().map(|a| a.clone().into_bytes()).collect();
        if let Some(f) = dump.as_mut() {
            // Label, readable command, then the arguments in hex.
            let hex: Vec<String> = args
                .iter()
                .map(|a| a.iter().map(|b| format!("{b:02x}")).collect())
                .collect();
            let _ = writeln!(f, "{label}\t{}\t{}", render_cmd(&args), hex.join(","));
        }
        if let Some((ours, theirs)) = conns.compare(cmd.mode, &args) {
            mismatches.push(format!(
                "{label}: {} => corekv: {} redis: {}",
                render_cmd(&args),
                render_reply(&ours),
                render_reply(&theirs)
            ));
        }
    };
    let mut generator = Gen::new(seed);
    for i in 0..GENERATED_STEPS {
        for (j, cmd) in generator.step().iter().enumerate() {
            run(format!("{tag}:{i}.{j}"), cmd, &mut conns);
        }
    }
    for db in ["0", "1"] {
        conns.both(&[b"SELECT".to_vec(), db.as_bytes().to_vec()]);
        for cmd in final_state_cmds(&mut conns) {
            run(format!("{tag}:final(db {db})"), &cmd, &mut conns);
        }
    }
    mismatches
}

#[test]
fn generated_sequences_match_redis() {
    let Some(pairs) = start_servers(GENERATED_SHARDS) else {
        return;
    };
    let mismatches = on_every_pair(&pairs, |servers| {
        SEEDS
            .iter()
            .enumerate()
            .flat_map(|(i, &seed)| run_generated(servers, seed, i == SEEDS.len() - 1))
            .collect()
    });
    report("generated", &mismatches);
}

/// The generator covers every family and the multi-key commands the issue
/// asks for, so a refactoring of it cannot quietly drop one.
#[test]
fn generator_covers_every_family() {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for seed in SEEDS {
        let mut generator = Gen::new(seed);
        for _ in 0..GENERATED_STEPS {
            for cmd in generator.step() {
                seen.insert(cmd.args[0].to_ascii_uppercase());
            }
        }
    }
    let required = [
        "SET",
        "GET",
        "MSET",
        "MSETNX",
        "MGET",
        "DEL",
        "EXISTS",
        "RENAME",
        "COPY",
        "EXPIRE",
        "PEXPIRE",
        "EXPIREAT",
        "PEXPIREAT",
        "PERSIST",
        "TTL",
        "PTTL",
        "EXPIRETIME",
        "PEXPIRETIME",
        "GETEX",
        "SETEX",
        "RPUSH",
        "LPOP",
        "LMOVE",
        "LMPOP",
        "BLPOP",
        "HSET",
        "HGETALL",
        "HRANDFIELD",
        "SADD",
        "SMEMBERS",
        "SMOVE",
        "SUNIONSTORE",
        "SINTERCARD",
        "SPOP",
        "ZADD",
        "ZRANGE",
        "ZUNIONSTORE",
        "ZINTER",
        "ZRANGEBYLEX",
        "ZMPOP",
        "BZPOPMIN",
        "PFADD",
        "PFCOUNT",
        "PFMERGE",
        "BITOP",
        "BITFIELD",
        "LCS",
        "SORT",
        "MULTI",
        "EXEC",
        "DISCARD",
        "SWAPDB",
        "MOVE",
    ];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !seen.contains(*c))
        .collect();
    assert!(missing.is_empty(), "generator never emits {missing:?}");
}

// ---------------------------------------------------------------------------
// Raw protocol
// ---------------------------------------------------------------------------

/// A raw byte stream sent on a fresh connection.
struct RawCase {
    name: &'static str,
    input: &'static [u8],
    /// Replies to read and compare after sending `input`.
    replies: usize,
    /// Whether the server must then close the connection (protocol errors);
    /// otherwise a follow-up PING must still work.
    closes: bool,
}

const RAW_CASES: &[RawCase] = &[
    RawCase {
        name: "inline PING",
        input: b"PING\r\n",
        replies: 1,
        closes: false,
    },
    RawCase {
        name: "inline with bare LF",
        input: b"PING\n",
        replies: 1,
        closes: false,
    },
    RawCase {
        name: "inline SET/GET",
        input: b"SET a b\r\nGET a\r\n",
        replies: 2,
        closes: false,
    },
    RawCase {
        name: "inline quoted args",
        input: b"SET \"a b\" 'c'\r\nGET \"a b\"\r\n",
        replies: 2,
        closes: false,
    },
    RawCase {
        name: "inline quoted escapes",
        input: b"ECHO \"x\\x41y\\n\"\r\n",
        replies: 1,
        closes: false,
    },
    RawCase {
        name: "inline extra whitespace and empty lines",
        input: b"\r\n  \r\nPING  a \r\n",
        replies: 1,
        closes: false,
    },
    RawCase {
        name: "inline $3 is an unknown command",
        input: b"$3\r\n",
        replies: 1,
        closes: false,
    },
    RawCase {
        name: "inline unbalanced double quote",
        input: b"SET \"a b c\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "inline unbalanced single quote",
        input: b"SET 'a\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "inline closing quote not followed by space",
        input: b"SET \"a\"b c\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "pipelined multibulk",
        input: b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n",
        replies: 2,
        closes: false,
    },
    RawCase {
        name: "empty command name",
        input: b"*1\r\n$0\r\n\r\n",
        replies: 1,
        closes: false,
    },
    RawCase {
        name: "*0 is ignored",
        input: b"*0\r\n*1\r\n$4\r\nPING\r\n",
        replies: 1,
        closes: false,
    },
    RawCase {
        name: "*-1 is ignored",
        input: b"*-1\r\n*1\r\n$4\r\nPING\r\n",
        replies: 1,
        closes: false,
    },
    RawCase {
        name: "non-numeric bulk length",
        input: b"*1\r\n$abc\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "empty bulk length",
        input: b"*1\r\n$\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "negative bulk length",
        input: b"*2\r\n$4\r\nECHO\r\n$-5\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "null bulk inside a request",
        input: b"*1\r\n$-1\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "bulk length over 512MB",
        input: b"*1\r\n$536870913\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "non-numeric multibulk length",
        input: b"*abc\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "empty multibulk length",
        input: b"*\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "multibulk length over INT_MAX",
        input: b"*2147483648\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "simple string instead of bulk",
        input: b"*1\r\n+PING\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "integer instead of bulk after valid args",
        input: b"*3\r\n$3\r\nset\r\n$1\r\nx\r\n:5\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "QUIT answers +OK and closes",
        input: b"*1\r\n$4\r\nQUIT\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "inline QUIT after PING: what follows is not answered",
        input: b"PING\r\nquit\r\nPING\r\n",
        replies: 2,
        closes: true,
    },
    RawCase {
        name: "QUIT with an argument",
        input: b"*2\r\n$4\r\nQUIT\r\n$3\r\nnow\r\n",
        replies: 1,
        closes: true,
    },
    RawCase {
        name: "valid command before a protocol error is answered",
        input: b"*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n",
        replies: 2,
        closes: true,
    },
];

/// Sends `case` to one server; returns its replies and whether it then
/// closed the connection (or still answered PING).
fn run_raw_case(port: u16, case: &RawCase) -> (Vec<Vec<u8>>, bool) {
    let mut conn = RawConn::connect(port);
    conn.send(case.input);
    let replies = (0..case.replies).map(|_| conn.read_reply()).collect();
    let closed = if case.closes {
        conn.closed_by_peer()
    } else {
        let pong = conn.cmd(&["PING"]);
        assert_eq!(
            pong, b"+PONG\r\n",
            "{}: follow-up PING on port {port}",
            case.name
        );
        false
    };
    (replies, closed)
}

/// Replays every raw case against one pair; returns the mismatches.
fn run_raw_cases(servers: &Servers) -> Vec<String> {
    let mut mismatches = Vec::new();
    for case in RAW_CASES {
        // A hang or malformed reply from corekv is reported, not fatal, so
        // the remaining cases still run.
        let ours = catch_unwind(AssertUnwindSafe(|| run_raw_case(servers.corekv.port, case)));
        let (ours, our_close) = match ours {
            Ok(result) => result,
            Err(panic) => {
                mismatches.push(format!(
                    "raw `{}` ({}) => corekv failed: {}",
                    escape(case.input),
                    case.name,
                    panic_message(panic.as_ref())
                ));
                continue;
            }
        };
        let (theirs, their_close) = run_raw_case(servers.redis.port, case);
        assert_eq!(
            their_close, case.closes,
            "redis-server close behaviour changed for {:?}",
            case.name
        );
        let render = |r: &[Vec<u8>]| render_reply(&r.concat());
        if ours != theirs {
            mismatches.push(format!(
                "raw `{}` ({}) => corekv: {} redis: {}",
                escape(case.input),
                case.name,
                render(&ours),
                render(&theirs)
            ));
        }
        if our_close != their_close {
            mismatches.push(format!(
                "raw `{}` ({}) => corekv closed: {our_close} redis closed: {their_close}",
                escape(case.input),
                case.name
            ));
        }
    }
    mismatches
}

#[test]
fn raw_protocol_matches_redis() {
    let Some(pairs) = start_servers(CORPUS_SHARDS) else {
        return;
    };
    let mismatches = on_every_pair(&pairs, run_raw_cases);
    report("raw protocol", &mismatches);
}

/// Sanity checks of the corpus tokenizer itself.
#[test]
fn corpus_tokenizer() {
    let toks = tokenize(r#"SET "a b" "x\"\\\r\n\x00\xff" plain !repeat 3 ab"#).expect("valid line");
    assert_eq!(
        toks,
        vec![
            b"SET".to_vec(),
            b"a b".to_vec(),
            b"x\"\\\r\n\x00\xff".to_vec(),
            b"plain".to_vec(),
            b"ababab".to_vec(),
        ]
    );
    assert_eq!(
        tokenize(r#""""#).expect("empty quoted token"),
        vec![Vec::<u8>::new()]
    );
    assert!(tokenize(r#""open"#).is_err());
    assert!(tokenize(r#""a"b"#).is_err());
}

/// Notifications redis-server sent the event comparison, over all corpora.
static EVENTS_SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Shard counts of the corekv instances the keyspace-event comparison runs on.
const EVENT_SHARDS: &[usize] = &[1, 3];

/// Every keyspace notification a subscriber to `__key*@*__:*` received until
/// the end marker: per `__keyspace@…` channel the events in order (one key
/// lives on one shard, so its events are ordered), per `__keyevent@…`
/// channel the keys as a sorted list (events of different shards interleave
/// freely).
fn collect_events(sub: &mut RawConn) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut by_channel: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    loop {
        let msg = sub.read_reply();
        let Some((_, parts)) = support::split_aggregate(&msg) else {
            panic!("not a push: {}", render_reply(&msg));
        };
        // Each part is a bulk string: `$<n>\r\n<bytes>\r\n`.
        let text: Vec<String> = parts
            .iter()
            .map(|p| {
                let start = p.windows(2).position(|w| w == b"\r\n").map_or(0, |i| i + 2);
                String::from_utf8_lossy(&p[start..p.len().saturating_sub(2).max(start)])
                    .into_owned()
            })
            .collect();
        if text.len() != 4 {
            continue;
        }
        let (channel, payload) = (text[2].clone(), text[3].clone());
        if channel == "__keyspace@99__:end" {
            break;
        }
        by_channel.entry(channel).or_default().push(payload);
    }
    for (channel, v) in by_channel.iter_mut() {
        if channel.starts_with("__keyevent@") {
            v.sort();
        }
    }
    by_channel
}

/// Runs one corpus file with notifications on, on both servers, and compares
/// the notifications.
fn events_of_corpus(servers: &Servers, path: &Path) -> Vec<String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut subs = Vec::new();
    for port in [servers.corekv.port, servers.redis.port] {
        let mut c = RawConn::connect(port);
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
            b"+OK\r\n"
        );
        let mut sub = RawConn::connect(port);
        sub.cmd(&["PSUBSCRIBE", "__key*@*__:*"]);
        subs.push(sub);
    }
    // Reply differences are `corpus_matches_redis`'s to report.
    let _ = run_corpus(servers, path);
    // Let expiring keys expire on both, and notifications queued for other
    // shards arrive, before the end marker.
    thread::sleep(Duration::from_millis(500));
    let mut got = Vec::new();
    for (port, sub) in [servers.corekv.port, servers.redis.port]
        .into_iter()
        .zip(&mut subs)
    {
        let mut c = RawConn::connect(port);
        c.cmd(&["PUBLISH", "__keyspace@99__:end", "end"]);
        got.push(collect_events(sub));
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    }
    let (ours, theirs) = (&got[0], &got[1]);
    let mut mismatches = Vec::new();
    let seen: usize = theirs.values().map(Vec::len).sum();
    EVENTS_SEEN.fetch_add(seen, std::sync::atomic::Ordering::Relaxed);
    let channels: std::collections::BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    for ch in channels {
        let (a, b) = (ours.get(ch), theirs.get(ch));
        if a != b {
            mismatches.push(format!(
                "{name}: {ch}: corekv {:?} redis {:?}",
                a.map(|v| v.join(" ")),
                b.map(|v| v.join(" "))
            ));
        }
    }
    mismatches
}

#[test]
fn keyspace_events_match_redis() {
    let Some(pairs) = start_servers(EVENT_SHARDS) else {
        return;
    };
    // protocol.txt runs CLIENT KILL TYPE pubsub, which (rightly) cuts off the
    // subscriber that watches the events.
    let files: Vec<PathBuf> = corpus_files()
        .into_iter()
        .filter(|p| !p.ends_with("protocol.txt"))
        .collect();
    let mismatches = on_every_pair(&pairs, |servers| {
        files
            .iter()
            .flat_map(|path| {
                catch_unwind(AssertUnwindSafe(|| events_of_corpus(servers, path))).unwrap_or_else(
                    |p| {
                        vec![format!(
                            "{}: aborted: {}",
                            path.display(),
                            panic_message(p.as_ref())
                        )]
                    },
                )
            })
            .collect()
    });
    report("keyspace event", &mismatches);
    // The comparison saw Redis raise events: a run where nothing was
    // received does not pass.
    let seen = EVENTS_SEEN.load(std::sync::atomic::Ordering::Relaxed);
    assert!(seen > 1000, "only {seen} keyspace events seen");
}
