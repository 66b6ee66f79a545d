//! Differential tests: corekv must answer byte-for-byte like redis-server 7.
//!
//! Three sources of commands are replayed over [`RawConn`] against corekv and
//! a throwaway redis-server, comparing raw reply bytes:
//!
//! * hand-written corpora in `tests/corpus/*.txt` (edge cases, error texts),
//!   against corekv with 1, 2 and 3 shards ([`CORPUS_SHARDS`]; three shards
//!   make bugs visible that only appear when a command spans more than a
//!   pair of shards);
//! * PRNG-generated string/keyspace command sequences (3 fixed seeds),
//!   against corekv with 2 and 3 shards ([`GENERATED_SHARDS`]);
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
//! redis-server instead of corekv: every corpus line must pass that way
//! (twice) before it is committed, which proves it is deterministic.

mod support;

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
/// Number of commands in each generated sequence.
const GENERATED_COMMANDS: usize = 2000;
/// Seeds of the generated sequences; fixed so failures reproduce.
const SEEDS: [u64; 3] = [0x5EED_0001, 0xC0FF_EE42, 0xDEAD_BEEF_1234];
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
            Mode::Exact | Mode::ScanAll | Mode::Approx(_) => (ours, theirs),
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

/// The generated key set: plain keys land on both shards; the `{t}` keys
/// share a hash tag.
fn generated_keys() -> Vec<String> {
    let mut keys: Vec<String> = (0..16).map(|i| format!("k{i}")).collect();
    keys.extend(["{t}a".to_string(), "{t}b".to_string()]);
    keys
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
const FLOATS: &[&str] = &["0.5", "1.5", "-2.25", "10", "3.0e3", "-1", "0.1", "abc"];
const RANGES: &[&str] = &["0", "1", "2", "5", "-1", "-2", "-100", "100"];

/// Produces one random command over `keys`.
fn gen_command(rng: &mut SplitMix64, keys: &[String]) -> Vec<String> {
    let key = |rng: &mut SplitMix64| keys[rng.below(keys.len())].clone();
    let keys_n = |rng: &mut SplitMix64, max: usize| -> Vec<String> {
        let n = 1 + rng.below(max);
        (0..n)
            .map(|_| keys[rng.below(keys.len())].clone())
            .collect()
    };
    let val = |rng: &mut SplitMix64| rng.pick(VALUES).to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut cmd = match rng.below(32) {
        0..=2 => {
            let mut c = vec!["SET".to_string(), key(rng), val(rng)];
            if rng.chance(30) {
                c.extend(s(&["EX", "100"]));
            }
            if rng.chance(30) {
                c.push(rng.pick(&["NX", "XX"]).to_string());
            }
            if rng.chance(30) {
                c.push("GET".to_string());
            }
            c
        }
        3 | 4 => vec!["GET".into(), key(rng)],
        5 => [vec!["DEL".into()], keys_n(rng, 3)].concat(),
        6 => [vec!["EXISTS".into()], keys_n(rng, 3)].concat(),
        7 => vec!["INCR".into(), key(rng)],
        8 => vec!["INCRBY".into(), key(rng), rng.pick(BIG_NUMBERS).into()],
        9 => vec!["DECR".into(), key(rng)],
        10 => vec!["APPEND".into(), key(rng), val(rng)],
        11 => vec!["STRLEN".into(), key(rng)],
        12 => vec![
            "GETRANGE".into(),
            key(rng),
            rng.pick(RANGES).into(),
            rng.pick(RANGES).into(),
        ],
        13 => vec![
            "SETRANGE".into(),
            key(rng),
            rng.below(20).to_string(),
            val(rng),
        ],
        14 | 15 => {
            let mut c = vec![rng.pick(&["MSET", "MSETNX"]).to_string()];
            for _ in 0..1 + rng.below(3) {
                c.push(key(rng));
                c.push(val(rng));
            }
            c
        }
        16 => [vec!["MGET".into()], keys_n(rng, 4)].concat(),
        17 => vec!["GETSET".into(), key(rng), val(rng)],
        18 => vec!["GETDEL".into(), key(rng)],
        19 => vec!["SETNX".into(), key(rng), val(rng)],
        20 => vec!["TYPE".into(), key(rng)],
        21 => vec![
            rng.pick(&["RENAME", "RENAMENX"]).to_string(),
            key(rng),
            key(rng),
        ],
        22 => {
            let mut c = vec!["COPY".to_string(), key(rng), key(rng)];
            if rng.chance(50) {
                c.push("REPLACE".into());
            }
            c
        }
        23 => vec!["PERSIST".into(), key(rng)],
        24 => vec![
            "EXPIRE".into(),
            key(rng),
            rng.pick(&["1000", "100000", "9223372036854775807", "abc"])
                .into(),
        ],
        25 => vec![
            "SETBIT".into(),
            key(rng),
            rng.below(64).to_string(),
            rng.pick(&["0", "1", "2"]).into(),
        ],
        26 => vec!["GETBIT".into(), key(rng), rng.below(64).to_string()],
        27 => {
            let mut c = vec!["BITCOUNT".to_string(), key(rng)];
            if rng.chance(50) {
                c.push(rng.pick(RANGES).into());
                c.push(rng.pick(RANGES).into());
            }
            c
        }
        28 => vec!["INCRBYFLOAT".into(), key(rng), rng.pick(FLOATS).into()],
        29 => vec!["DECRBY".into(), key(rng), rng.pick(BIG_NUMBERS).into()],
        30 => vec!["EXISTS".into(), key(rng)],
        _ => vec!["STRLEN".into(), key(rng)],
    };
    cmd.shrink_to_fit();
    cmd
}

/// Runs one generated sequence and the final state comparison.
fn run_generated(servers: &Servers, seed: u64) -> Vec<String> {
    let keys = generated_keys();
    let mut rng = SplitMix64(seed);
    let mut conns = ConnPair::open(servers);
    conns.both(&[b"FLUSHALL".to_vec()]);
    let mut mismatches = Vec::new();
    let mut check = |label: String, args: Vec<Vec<u8>>, mode: Mode, conns: &mut ConnPair| {
        if let Some((ours, theirs)) = conns.compare(mode, &args) {
            mismatches.push(format!(
                "{label}: {} => corekv: {} redis: {}",
                render_cmd(&args),
                render_reply(&ours),
                render_reply(&theirs)
            ));
        }
    };
    for i in 0..GENERATED_COMMANDS {
        let cmd = gen_command(&mut rng, &keys);
        let args = cmd.into_iter().map(String::into_bytes).collect();
        check(
            format!("gen(seed={seed:#x}):{i}"),
            args,
            Mode::Exact,
            &mut conns,
        );
    }
    let label = format!("gen(seed={seed:#x}):final");
    check(
        label.clone(),
        vec![b"KEYS".to_vec(), b"*".to_vec()],
        Mode::Sort,
        &mut conns,
    );
    let mget = std::iter::once(b"MGET".to_vec())
        .chain(keys.iter().map(|k| k.clone().into_bytes()))
        .collect();
    check(label, mget, Mode::Exact, &mut conns);
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
            .flat_map(|&seed| run_generated(servers, seed))
            .collect()
    });
    report("generated", &mismatches);
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
