//! The layering rule: imports point one way, from the connection down to the
//! values. A module may name only modules of a lower layer (or itself):
//!
//! ```text
//! main → server → commands → dispatch → shard → store → protocol, config → num, util
//! ```
//!
//! This reads every file under `src/`, resolves each `crate::`/`super::` path
//! (and `corekv::` in `main.rs`) to the top-level module it names, and fails on
//! any path that points up or sideways.

use std::fs;
use std::path::{Path, PathBuf};

/// Layers, lowest first; a module may use modules of a strictly lower rank.
const LAYERS: &[(&str, u8)] = &[
    ("num", 0),
    ("util", 0),
    ("protocol", 1),
    ("config", 1),
    ("store", 2),
    ("shard", 3),
    ("dispatch", 4),
    ("commands", 5),
    ("server", 6),
    ("main", 7),
];

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file below `src/` (`commands/string.rs` →
/// `[commands, string]`, `shard/mod.rs` → `[shard]`, `main.rs` → `[main]`).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

/// Top-level modules that the code of `file` (module `path`) names.
fn referenced_modules(text: &str, path: &[String]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let bytes = code.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let rest = &code[i..];
            let boundary =
                i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
            if boundary && (rest.starts_with("crate::") || rest.starts_with("corekv::")) {
                let after = &rest[rest.find("::").map_or(0, |p| p + 2)..];
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.push((no + 1, name));
                i += 7;
                continue;
            }
            if boundary && rest.starts_with("super::") {
                // Resolve a chain of `super::` against this file's module path.
                let mut depth = 0;
                let mut r = rest;
                while let Some(x) = r.strip_prefix("super::") {
                    depth += 1;
                    r = x;
                }
                // A file `a/b.rs` is module a::b: one `super` is `a`, two are the crate.
                let name: String = r
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let base = path.len().saturating_sub(depth);
                let top = if base == 0 { name } else { path[0].clone() };
                out.push((no + 1, top));
                i += 7 * depth;
                continue;
            }
            i += 1;
        }
    }
    out
}

#[test]
fn imports_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(
        files.len() > 20,
        "found only {} files under src/",
        files.len()
    );
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        if rel == Path::new("lib.rs") {
            continue; // declares the modules; names no item
        }
        let path = module_path(rel);
        let me = &path[0];
        let Some(my_rank) = rank(me) else {
            violations.push(format!(
                "{}: top-level module `{me}` has no layer; add it to LAYERS",
                rel.display()
            ));
            continue;
        };
        let text = fs::read_to_string(file).expect("read source");
        for (line, target) in referenced_modules(&text, &path) {
            if target == *me || target.is_empty() {
                continue;
            }
            match rank(&target) {
                Some(r) if r < my_rank => {}
                Some(_) => violations.push(format!(
                    "{}:{line}: `{me}` must not use `{target}` (imports point down: {})",
                    rel.display(),
                    LAYERS
                        .iter()
                        .rev()
                        .map(|(m, _)| *m)
                        .collect::<Vec<_>>()
                        .join(" → ")
                )),
                // Macros and crate-root items (`crate::cmd!`) are not modules.
                None => {}
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_catches_upward_paths() {
    let path = vec!["shard".to_string(), "tx".to_string()];
    let refs = referenced_modules(
        "use crate::commands::table;\nuse super::super::server::Globals; // crate::dispatch in a comment\nuse super::locks;",
        &path,
    );
    let names: Vec<&str> = refs.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["commands", "server", "shard"]);
}
