//! Every command corekv implements is exercised by some test.
//!
//! The command table comes from the running binary (`COMMAND LIST`, which
//! also lists subcommands as `container|sub`, e.g. `client|list`), so a
//! command added to the server without a test fails here. A command counts
//! as tested when its name appears, case-insensitively and as a whole word
//! (`-` and `_` count as word characters), in a corpus line
//! (`tests/corpus/*.txt`, comments excluded) or inside a string literal of a
//! test source (`tests/**/*.rs`, this file excluded): a Rust identifier such
//! as `.get(` is not a test of GET. A subcommand counts when both of its
//! words appear on one line, e.g. `CLIENT LIST` or `"client", "list"`.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::{RawConn, split_aggregate};

/// Files under `dir` (recursively) whose name ends in `ext`.
fn files_with(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_with(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The contents of the double-quoted string literals on one line of Rust
/// (`"..."`, `b"..."`; escapes are skipped, not decoded).
fn string_literals(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    let mut chars = line.chars();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        let was = prev;
        prev = c;
        match (&mut current, c) {
            // `'"'` is a char literal, not the start of a string.
            (None, '"') if was == '\'' => {}
            (None, '"') => current = Some(String::new()),
            (None, '/') if line.contains("//") && chars.clone().next() == Some('/') => break,
            (None, _) => {}
            (Some(_), '"') => out.extend(current.take()),
            (Some(s), '\\') => {
                // Keep word boundaries: an escape is never part of a name.
                s.push(' ');
                chars.next();
            }
            (Some(s), c) => s.push(c),
        }
    }
    out
}

/// The lines of test text a command name may appear on: string literals of
/// `.rs` files (one entry per source line) and corpus lines.
fn test_lines() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut rs = Vec::new();
    files_with(&root, "rs", &mut rs);
    let this_file = root.join("coverage.rs");
    let mut lines = Vec::new();
    for path in rs.iter().filter(|p| **p != this_file) {
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        lines.extend(
            text.lines()
                .map(|l| string_literals(l).join(" "))
                .filter(|l| !l.trim().is_empty()),
        );
    }
    let mut corpus = Vec::new();
    files_with(&root.join("corpus"), "txt", &mut corpus);
    assert!(!corpus.is_empty(), "no corpus files");
    for path in &corpus {
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        lines.extend(
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .map(str::to_string),
        );
    }
    lines.iter().map(|l| l.to_ascii_lowercase()).collect()
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// True when `word` (lower-case) occurs in `line` (lower-case) as a whole word.
fn has_word(line: &str, word: &str) -> bool {
    let bytes = line.as_bytes();
    line.match_indices(word).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + word.len()).copied();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

/// True when some line names `command` (`name` or `container|sub`).
fn is_named(lines: &[String], command: &str) -> bool {
    match command.split_once('|') {
        Some((container, sub)) => lines
            .iter()
            .any(|l| has_word(l, container) && has_word(l, sub)),
        None => lines.iter().any(|l| has_word(l, command)),
    }
}

/// `COMMAND LIST` of a running corekv, lower-case.
fn command_list() -> Vec<String> {
    let server = support::start_corekv(1);
    let mut c = RawConn::connect(server.port);
    let reply = c.cmd(&["COMMAND", "LIST"]);
    let (_, elems) = split_aggregate(&reply)
        .unwrap_or_else(|| panic!("COMMAND LIST: {}", support::escape(&reply)));
    let mut names: Vec<String> = elems
        .iter()
        .map(|e| {
            let text = String::from_utf8_lossy(e);
            let name = text.split("\r\n").nth(1).unwrap_or_default();
            name.to_ascii_lowercase()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_command_is_named_by_some_test() {
    let commands = command_list();
    assert!(
        commands.len() > 150 && commands.iter().any(|c| c == "client|list"),
        "COMMAND LIST looks wrong (subcommands missing?): {commands:?}"
    );
    let lines = test_lines();
    let untested: Vec<&String> = commands.iter().filter(|c| !is_named(&lines, c)).collect();
    assert!(
        untested.is_empty(),
        "{} of {} commands are named by no test (corpus line or string literal \
         in tests/**/*.rs): {untested:?}",
        untested.len(),
        commands.len()
    );
}

/// The matcher itself: whole words only, subcommands on one line.
#[test]
fn matcher_rules() {
    assert!(has_word("set k v", "set"));
    assert!(!has_word("setex k 1 v", "set"));
    assert!(!has_word("bitfield_ro k", "bitfield"));
    assert!(has_word("bitfield_ro k", "bitfield_ro"));
    assert!(!has_word("client no-evict on", "evict"));
    assert!(has_word("client no-evict on", "no-evict"));
    let lines = vec!["client list".to_string(), "config get x".to_string()];
    assert!(is_named(&lines, "client|list"));
    assert!(!is_named(&lines, "client|get"));
    assert_eq!(
        string_literals(r#"q(&mut c, &["CLIENT", "LIST"]); // "GETNAME""#),
        vec!["CLIENT".to_string(), "LIST".to_string()]
    );
    assert_eq!(
        string_literals(r#"c.send(b"PING\r\nECHO x")"#),
        vec!["PING  ECHO x".to_string()]
    );
    assert!(string_literals("let get = map.get(&k);").is_empty());
    assert!(string_literals(r#"if b == b'"' { get() }"#).is_empty());
}
