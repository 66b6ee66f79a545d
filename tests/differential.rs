//! Differential tests: corekv must answer byte-for-byte like redis-server 7.
//!
//! Three sources of commands are replayed against corekv (2 shards) and a
//! throwaway redis-server over [`RawConn`], comparing raw reply bytes:
//!
//! * hand-written corpora in `tests/corpus/*.txt` (edge cases, error texts);
//! * PRNG-generated string/keyspace command sequences (3 fixed seeds);
//! * raw protocol byte streams (inline commands, protocol errors).
//!
//! All mismatches are collected and reported together, not just the first.
//!
//! Corpus format, one command per line:
//! * tokens are split on whitespace; a token in double quotes may contain
//!   spaces and the escapes `\"` `\\` `\r` `\n` `\t` `\xHH`;
//! * `!repeat N text` as three consecutive tokens becomes one token holding
//!   `text` repeated `N` times (for very long values);
//! * lines starting with `#` and blank lines are ignored;
//! * `!sort CMD ...`: the reply is an array of unspecified order (KEYS,
//!   SMEMBERS); elements are sorted before comparing;
//! * `!skip-reply CMD ...`: sent to both, reply not compared (TIME,
//!   RANDOMKEY on a non-empty db);
//! * `!sleep MS`: pause MS milliseconds (expiry tests);
//! * `!scan-all SCAN 0 args...`: iterate the cursor (the argument after the
//!   command name, or after the key for SSCAN/HSCAN/ZSCAN) from 0 until it
//!   returns to 0, and compare the sorted, de-duplicated union of elements.
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

/// Number of commands in each generated sequence.
const GENERATED_COMMANDS: usize = 2000;
/// Seeds of the generated sequences; fixed so failures reproduce.
const SEEDS: [u64; 3] = [0x5EED_0001, 0xC0FF_EE42, 0xDEAD_BEEF_1234];
/// Upper bound on SCAN round trips in one `!scan-all`.
const MAX_SCAN_ROUNDS: usize = 100_000;

/// The server under test and the reference redis-server.
struct Servers {
    corekv: Server,
    redis: Server,
}

/// Starts both servers, or returns `None` (after a loud message) when
/// redis-server is not installed outside CI.
fn start_servers() -> Option<Servers> {
    let Some(redis) = support::start_redis() else {
        // Written to the real stderr (not `eprintln!`, which libtest captures
        // for passing tests) so a skipped run is visible in the output.
        let _ = writeln!(
            std::io::stderr(),
            "\n{bar}\nSKIPPING differential tests: redis-server not found \
             (apt-get install redis-server)\n{bar}\n",
            bar = "=".repeat(78)
        );
        return None;
    };
    let corekv = if std::env::var("COREKV_DIFF_BASELINE").is_ok_and(|v| v == "redis") {
        support::start_redis().expect("second redis-server for the baseline run")
    } else {
        support::start_corekv(2)
    };
    Some(Servers { corekv, redis })
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

/// How a corpus line's reply is compared.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Exact,
    Sort,
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
        let (mode, rest) = [
            ("!sort ", Mode::Sort),
            ("!skip-reply ", Mode::SkipReply),
            ("!scan-all ", Mode::ScanAll),
        ]
        .iter()
        .find_map(|(prefix, mode)| trimmed.strip_prefix(prefix).map(|r| (*mode, r)))
        .unwrap_or((Mode::Exact, trimmed));
        if mode == Mode::Exact && trimmed.starts_with('!') && !trimmed.starts_with("!repeat") {
            fail("unknown directive");
        }
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
                Step::Cmd { line, mode, args } => (line, mode, args),
            };
            current = format!("{name}:{line}: {}", render_cmd(args));
            let (ours, theirs) = match mode {
                Mode::ScanAll => (
                    scan_all(&mut conns.corekv, args),
                    scan_all(&mut conns.redis, args),
                ),
                Mode::Exact | Mode::Sort | Mode::SkipReply => conns.both(args),
            };
            let (ours, theirs) = match mode {
                Mode::SkipReply => continue,
                Mode::Sort => (sorted_reply(&ours), sorted_reply(&theirs)),
                Mode::Exact | Mode::ScanAll => (ours, theirs),
            };
            if ours != theirs {
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
    let Some(servers) = start_servers() else {
        return;
    };
    let mismatches: Vec<String> = corpus_files()
        .iter()
        .flat_map(|path| run_corpus(&servers, path))
        .collect();
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
    let mut check = |label: String, args: Vec<Vec<u8>>, sort: bool, conns: &mut ConnPair| {
        let (mut ours, mut theirs) = conns.both(&args);
        if sort {
            ours = sorted_reply(&ours);
            theirs = sorted_reply(&theirs);
        }
        if ours != theirs {
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
        check(format!("gen(seed={seed:#x}):{i}"), args, false, &mut conns);
    }
    let label = format!("gen(seed={seed:#x}):final");
    check(
        label.clone(),
        vec![b"KEYS".to_vec(), b"*".to_vec()],
        true,
        &mut conns,
    );
    let mget = std::iter::once(b"MGET".to_vec())
        .chain(keys.iter().map(|k| k.clone().into_bytes()))
        .collect();
    check(label, mget, false, &mut conns);
    mismatches
}

#[test]
fn generated_sequences_match_redis() {
    let Some(servers) = start_servers() else {
        return;
    };
    let mismatches: Vec<String> = SEEDS
        .iter()
        .flat_map(|&seed| run_generated(&servers, seed))
        .collect();
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

#[test]
fn raw_protocol_matches_redis() {
    let Some(servers) = start_servers() else {
        return;
    };
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
