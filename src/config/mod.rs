//! Configuration: Redis 7.0's parameter table (`params`), each kind's value rules
//! (`value`), the command line (`args`), redis.conf files, `CONFIG GET|SET`'s
//! semantics and `CONFIG REWRITE` (`rewrite`).
//!
//! Precedence, as in Redis: built-in defaults, then the file, then the command
//! line's options (appended to the file as more lines).

mod args;
pub mod events;
pub mod params;
mod rewrite;
mod value;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use args::{Startup, USAGE, parse_args};
use params::{PARAMS, Param};
pub use value::{memtoull as parse_memory, shutdown_flags};

/// The Redis version corekv answers as (clients gate features on it; RDB files
/// carry it).
pub const REDIS_VERSION: &str = "7.0.15";

/// The live configuration: every parameter's canonical value (as CONFIG GET
/// shows it), in table order, and the file it was read from.
#[derive(Clone, Debug)]
pub struct Config {
    values: Vec<String>,
    file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            values: PARAMS.iter().map(|p| p.default.to_string()).collect(),
            file: None,
        }
    }
}

/// Every name a parameter answers to (its own and its alias), lowercased: the
/// name and the index of its parameter.
fn names() -> &'static HashMap<&'static str, (&'static str, usize)> {
    static NAMES: OnceLock<HashMap<&'static str, (&'static str, usize)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut m = HashMap::with_capacity(PARAMS.len() * 2);
        for (i, p) in PARAMS.iter().enumerate() {
            m.insert(p.name, (p.name, i));
            if let Some(a) = p.alias {
                m.insert(a, (a, i));
            }
        }
        m
    })
}

/// A parameter by any of its names, case-insensitively (as Redis's lookup):
/// the name it was found under and its index.
fn lookup(name: &[u8]) -> Option<(&'static str, usize)> {
    let lower = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    names().get(lower.as_str()).copied()
}

/// Every (name, parameter index), aliases right after their parameter.
fn all_names() -> impl Iterator<Item = (&'static str, usize)> {
    PARAMS
        .iter()
        .enumerate()
        .flat_map(|(i, p)| std::iter::once((p.name, i)).chain(p.alias.map(|a| (a, i))))
}

/// What CONFIG SET may do for this client, and whether the dataset is loading.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetRules {
    pub protected_allowed: bool,
    pub loading: bool,
}

/// Why CONFIG SET refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SetError {
    /// A `DENY_LOADING` parameter while loading: Redis's -LOADING error.
    Loading,
    /// Redis's text, without the "ERR " prefix.
    Msg(String),
}

/// A parameter CONFIG SET changed, and the name it was set under.
#[derive(Clone, Copy, Debug)]
pub struct Change {
    pub param: &'static Param,
    pub name: &'static str,
}

impl Config {
    /// Defaults, then `file`, then `options` (redis.conf lines) on top.
    pub fn load(file: Option<&str>, options: &str) -> Result<Config, String> {
        let mut c = Config::default();
        let mut text = String::new();
        if let Some(path) = file {
            text = std::fs::read_to_string(path)
                .map_err(|e| format!("Fatal error, can't open config file '{path}': {e}"))?;
            c.file = Some(std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path)));
        }
        if !options.is_empty() {
            text.push('\n');
            text.push_str(options);
        }
        c.apply_file(&text)?;
        Ok(c)
    }

    /// Applies redis.conf text: `directive arg...` lines, `#` comments, quoted
    /// words, `include`; errors as Redis prints them.
    pub fn apply_file(&mut self, text: &str) -> Result<(), String> {
        let mut loader = Loader::default();
        loader.apply(self, text, 0)
    }

    /// The config file the server was started with, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    fn index(name: &str) -> Option<usize> {
        names().get(name).map(|(_, i)| *i)
    }

    /// A parameter's canonical value by its (lowercase) name; "" if unknown.
    pub fn get(&self, name: &str) -> &str {
        Config::index(name)
            .and_then(|i| self.values.get(i))
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn get_u64(&self, name: &str) -> u64 {
        self.get(name).parse().unwrap_or(0)
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    /// Sets a value without checks (values the server itself determined).
    fn force(&mut self, name: &str, value: String) {
        if let Some(i) = Config::index(name) {
            self.values[i] = value;
        }
    }

    /// `notify-keyspace-events` as flags.
    pub fn keyspace_events(&self) -> u32 {
        events::parse_flags(self.get("notify-keyspace-events")).unwrap_or(0)
    }

    pub fn port(&self) -> u16 {
        self.get("port").parse().unwrap_or(6379)
    }

    pub fn set_port(&mut self, port: u16) {
        self.force("port", port.to_string());
    }

    /// The working directory actually in use (CONFIG GET dir shows it whole).
    pub fn set_dir(&mut self, dir: &str) {
        self.force("dir", dir.to_string());
    }

    pub fn requirepass(&self) -> Option<&str> {
        Some(self.get("requirepass")).filter(|p| !p.is_empty())
    }

    /// `CONFIG GET pattern...`: each name once, under the name it was asked by
    /// (an exact name as typed, a pattern's matches as Redis spells them);
    /// patterns skip hidden parameters, aliases are listed as names of their own.
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = Vec::new();
        let seen = |out: &Vec<(String, &str)>, n: &[u8]| {
            out.iter()
                .any(|(k, _)| k.as_bytes().eq_ignore_ascii_case(n))
        };
        for pat in patterns {
            if !pat.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
                if !seen(&out, pat)
                    && let Some((_, i)) = lookup(pat)
                {
                    out.push((String::from_utf8_lossy(pat).into_owned(), &self.values[i]));
                }
                continue;
            }
            for (name, i) in all_names() {
                if PARAMS[i].has(params::HIDDEN) || seen(&out, name.as_bytes()) {
                    continue;
                }
                if crate::util::glob_match(pat, name.as_bytes(), true) {
                    out.push((name.to_string(), &self.values[i]));
                }
            }
        }
        out
    }

    /// `CONFIG SET name value ...` as Redis 7.0 checks and sets it: the first
    /// unknown, immutable, protected, loading-denied or duplicate name refuses
    /// the whole command; then each value is set in order and the first bad one
    /// refuses it (the caller keeps the old `Config`). Returns the parameters
    /// whose value changed, each once, in order.
    pub fn set_many(
        &mut self,
        pairs: &[(&[u8], &[u8])],
        rules: SetRules,
    ) -> Result<Vec<Change>, SetError> {
        let mut targets: Vec<(&'static str, usize)> = Vec::with_capacity(pairs.len());
        for (name, _) in pairs {
            let shown = String::from_utf8_lossy(name);
            let Some((found, i)) = lookup(name) else {
                return Err(SetError::Msg(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{shown}'"
                )));
            };
            let p = &PARAMS[i];
            let why = if p.has(params::IMMUTABLE) {
                Some("can't set immutable config")
            } else if p.has(params::PROTECTED) && !rules.protected_allowed {
                Some("can't set protected config")
            } else if rules.loading && p.has(params::DENY_LOADING) {
                return Err(SetError::Loading);
            } else if targets.iter().any(|(n, _)| *n == found) {
                // Aliases are names of their own: `a 1 alias-of-a 2` is no duplicate.
                Some("duplicate parameter")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(SetError::Msg(format!(
                    "CONFIG SET failed (possibly related to argument '{shown}') - {why}"
                )));
            }
            targets.push((found, i));
        }
        let mut changes: Vec<Change> = Vec::new();
        for ((found, i), (_, v)) in targets.into_iter().zip(pairs) {
            let p = &PARAMS[i];
            let v = String::from_utf8_lossy(v);
            let words: Vec<String> = if !p.has(params::MULTI_ARG) {
                vec![v.into_owned()]
            } else if v.is_empty() {
                Vec::new()
            } else {
                v.split(' ').map(str::to_string).collect()
            };
            let new = value::parse(p, &words, &self.values[i]).map_err(|e| {
                SetError::Msg(format!(
                    "CONFIG SET failed (possibly related to argument '{found}') - {e}"
                ))
            })?;
            if new != self.values[i] && !changes.iter().any(|c| std::ptr::eq(c.param, p)) {
                changes.push(Change {
                    param: p,
                    name: found,
                });
            }
            self.values[i] = new;
        }
        Ok(changes)
    }

    /// `CONFIG REWRITE`: the file rewritten with the values in use, keeping its
    /// comments and layout, as Redis does.
    pub fn rewrite(&self) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Err("The server is running without a config file".into());
        };
        rewrite::rewrite_file(self, path)
    }

    /// Parameters set away from their default that corekv does not act on.
    pub fn inert_settings(&self) -> Vec<(&'static str, &str)> {
        PARAMS
            .iter()
            .zip(&self.values)
            .filter(|(p, v)| p.has(params::INERT) && *v != p.default)
            .map(|(p, v)| (p.name, v.as_str()))
            .collect()
    }

    /// The value of parameter `i` of the table.
    fn value_at(&self, i: usize) -> &str {
        &self.values[i]
    }
}

/// Redis's log levels mapped onto `log`'s.
pub fn log_level(name: &str) -> Option<log::LevelFilter> {
    Some(match name {
        "debug" => log::LevelFilter::Debug,
        "verbose" | "notice" => log::LevelFilter::Info,
        "warning" => log::LevelFilter::Warn,
        _ => return None,
    })
}

/// The README's list of the parameters corekv accepts without acting on
/// them (sorted, with their aliases); a test keeps the README equal to it.
pub fn markdown_inert_list() -> String {
    let mut inert: Vec<&Param> = PARAMS.iter().filter(|p| p.has(params::INERT)).collect();
    inert.sort_by_key(|p| p.name);
    let names: Vec<String> = inert
        .iter()
        .map(|p| match p.alias {
            Some(a) => format!("`{}` (`{a}`)", p.name),
            None => format!("`{}`", p.name),
        })
        .collect();
    format!("{}.\n", names.join(", "))
}

/// Directives a Redis config file may hold that are not parameters and that
/// corekv ignores: the old ziplist list settings and `lua-replicate-commands`,
/// with exactly one value, as Redis 7.0 ignores them.
const DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// How deep `include` may nest (a file including itself stops here).
const MAX_INCLUDE_DEPTH: usize = 16;

/// State of one load: the first `save` line replaces the default, later ones
/// add to it (Redis's rule for several `save` lines).
#[derive(Default)]
struct Loader {
    save_seen: bool,
}

impl Loader {
    fn apply(&mut self, c: &mut Config, text: &str, depth: usize) -> Result<(), String> {
        for (n, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches(|ch| matches!(ch, ' ' | '\t' | '\r' | '\n'));
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| bad_line(n, line, why);
            let words =
                split_quoted(line).ok_or_else(|| bad("Unbalanced quotes in configuration line"))?;
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            if let Some((_, i)) = lookup(name.as_bytes()) {
                let p = &PARAMS[i];
                self.set(c, p, i, args).map_err(|e| bad(&e))?;
                continue;
            }
            if DEPRECATED.contains(&name.as_str()) && args.len() == 1 {
                continue;
            }
            if name == "include" && args.len() == 1 {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(bad("include nested too deeply"));
                }
                let inner = std::fs::read_to_string(&args[0]).map_err(|e| {
                    format!("Fatal error, can't open config file '{}': {e}", args[0])
                })?;
                self.apply(c, &inner, depth + 1)?;
                continue;
            }
            return Err(bad("Bad directive or wrong number of arguments"));
        }
        Ok(())
    }

    /// One parameter line: a single value, or for `MULTI_ARG` parameters the
    /// words (one non-empty word is split again, so `--save "60 1 10 5"` works).
    fn set(&mut self, c: &mut Config, p: &Param, i: usize, args: &[String]) -> Result<(), String> {
        let multi = p.has(params::MULTI_ARG);
        if !multi && args.len() != 1 {
            return Err("wrong number of arguments".into());
        }
        let mut words: Vec<String> = if multi && args.len() == 1 && !args[0].is_empty() {
            split_quoted(&args[0]).unwrap_or_default()
        } else {
            args.to_vec()
        };
        if p.name == "save" {
            let reset = words.len() == 1 && words[0].is_empty();
            if self.save_seen && !reset && !c.values[i].is_empty() {
                let mut all: Vec<String> = c.values[i].split(' ').map(str::to_string).collect();
                all.append(&mut words);
                words = all;
            }
            if !reset {
                self.save_seen = true;
            }
        }
        c.values[i] = value::parse(p, &words, &c.values[i]).map_err(|e| e.into_owned())?;
        Ok(())
    }
}

fn bad_line(n: usize, line: &str, why: &str) -> String {
    format!(
        "\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
        n + 1,
        line,
        why
    )
}

/// Splits a line into words as Redis's `sdssplitargs`: "double quotes" with
/// `\n \r \t \b \a \xHH` escapes, 'single quotes' with `\'`, a closing quote
/// followed by a space or the end. `None` on unbalanced quotes.
pub fn split_quoted(line: &str) -> Option<Vec<String>> {
    let b = line.as_bytes();
    // A closing quote must end the word.
    let ends_word = |i: usize| b.get(i + 1).is_none_or(|&n| crate::num::is_c_space(n));
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && crate::num::is_c_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            return Some(out);
        }
        let mut word: Vec<u8> = Vec::new();
        let (mut dq, mut sq) = (false, false);
        loop {
            let c = b.get(i).copied();
            if dq {
                match c {
                    None => return None,
                    Some(b'\\')
                        if b.get(i + 1) == Some(&b'x')
                            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
                            && b.get(i + 3).is_some_and(u8::is_ascii_hexdigit) =>
                    {
                        let hex = std::str::from_utf8(&b[i + 2..i + 4]).ok()?;
                        word.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        i += 1;
                        word.push(match b[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            o => o,
                        });
                    }
                    Some(b'"') if ends_word(i) => {
                        i += 1;
                        break;
                    }
                    Some(b'"') => return None,
                    Some(o) => word.push(o),
                }
            } else if sq {
                match c {
                    None => return None,
                    Some(b'\\') if b.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        word.push(b'\'');
                    }
                    Some(b'\'') if ends_word(i) => {
                        i += 1;
                        break;
                    }
                    Some(b'\'') => return None,
                    Some(o) => word.push(o),
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t' | 0) => break,
                    Some(b'"') => dq = true,
                    Some(b'\'') => sq = true,
                    Some(o) => word.push(o),
                }
            }
            i += 1;
        }
        out.push(String::from_utf8_lossy(&word).into_owned());
    }
}

/// A value quoted as Redis's `sdscatrepr` writes it (CONFIG REWRITE, the
/// command line's options).
pub fn repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &c in s.as_bytes() {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(c: &mut Config, kv: &[(&str, &str)]) -> Result<Vec<Change>, SetError> {
        let pairs: Vec<(&[u8], &[u8])> = kv
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        c.set_many(&pairs, SetRules::default())
    }

    fn msg(e: Result<Vec<Change>, SetError>) -> String {
        match e {
            Err(SetError::Msg(m)) => m,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn file_and_options() {
        let mut c = Config::default();
        c.apply_file("# comment\nport 7000\nrequirepass \"a b\"\n\nmaxmemory 1mb\n")
            .unwrap();
        assert_eq!(c.port(), 7000);
        assert_eq!(c.requirepass(), Some("a b"));
        assert_eq!(c.get("maxmemory"), "1048576");
        assert!(c.apply_file("nosuchdirective 1").is_err());
        assert!(c.apply_file("port \"7000").is_err());
        assert!(
            c.apply_file("port 1 2")
                .unwrap_err()
                .contains("wrong number")
        );
        c.apply_file("hash-max-ziplist-entries 20\nlist-max-ziplist-entries 5")
            .unwrap();
        assert_eq!(c.get("hash-max-listpack-entries"), "20");
        let mut c = Config::default();
        c.apply_file("save 900 1\nsave 100 100").unwrap();
        assert_eq!(c.get("save"), "900 1 100 100");
        c.apply_file("save \"\"").unwrap();
        assert_eq!(c.get("save"), "");
        c.apply_file("save \"60 5 10 1\"\nshutdown-on-sigint nosave force now")
            .unwrap();
        assert_eq!(c.get("save"), "60 5 10 1");
        assert_eq!(c.get("shutdown-on-sigint"), "nosave now force");
    }

    #[test]
    fn config_set_rules() {
        let mut c = Config::default();
        assert!(set(&mut c, &[("maxclients", "5")]).is_ok());
        assert!(msg(set(&mut c, &[("daemonize", "yes")])).contains("immutable"));
        assert!(msg(set(&mut c, &[("dir", "/")])).contains("protected"));
        assert!(msg(set(&mut c, &[("nope", "1")])).starts_with("Unknown option"));
        assert!(msg(set(&mut c, &[("appendonly", "maybe")])).contains("'yes' or 'no'"));
        assert!(
            msg(set(&mut c, &[("Maxmemory", "1"), ("MAXMEMORY", "2")]))
                .contains("argument 'MAXMEMORY') - duplicate parameter")
        );
        // An alias is a name of its own; the last one set wins.
        set(
            &mut c,
            &[("lua-time-limit", "100"), ("busy-reply-threshold", "200")],
        )
        .unwrap();
        assert_eq!(c.get("busy-reply-threshold"), "200");
        assert_eq!(
            msg(set(&mut c, &[("LUA-TIME-LIMIT", "x")])),
            "CONFIG SET failed (possibly related to argument 'lua-time-limit') - argument couldn't be parsed into an integer"
        );
        let loading = SetRules {
            protected_allowed: false,
            loading: true,
        };
        assert_eq!(
            c.set_many(&[(b"appendonly", b"yes")], loading).unwrap_err(),
            SetError::Loading
        );
        set(&mut c, &[("hz", "1000")]).unwrap();
        assert_eq!(c.get("hz"), "500");
    }

    #[test]
    fn config_get_patterns() {
        let c = Config::default();
        let got = c.matching(&[b"maxmemory", b"maxmemory*", b"*of"]);
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names.iter().filter(|n| **n == "maxmemory").count(), 1);
        assert!(names.contains(&"slaveof") && names.contains(&"replicaof"));
        assert!(names.contains(&"maxmemory-clients"));
        assert!(
            c.matching(&[b"*"])
                .iter()
                .all(|(k, _)| k != "key-load-delay")
        );
        assert_eq!(c.matching(&[b"key-load-delay"]).len(), 1);
        assert_eq!(c.matching(&[b"MAXMEMORY"])[0].0, "MAXMEMORY");
    }

    #[test]
    fn readme_lists_what_is_not_acted_on() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        let list = markdown_inert_list();
        assert!(
            readme.contains(&list),
            "README.md's list of accepted-only parameters is stale; replace it with:\n{list}"
        );
    }

    #[test]
    fn the_example_config_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/corekv.conf");
        let c = Config::load(Some(path), "").expect("config/corekv.conf");
        assert_eq!(c.get("save"), "3600 1 300 100 60 10000");
        assert_eq!(c.file(), Some(Path::new(path)));
    }

    #[test]
    fn split_as_sdssplitargs() {
        assert_eq!(
            split_quoted(r#"a "b c" 'd\'e' "\x41\n""#).unwrap(),
            vec!["a", "b c", "d'e", "A\n"]
        );
        assert_eq!(split_quoted(r#"x"y z""#).unwrap(), vec!["xy z"]);
        assert!(split_quoted(r#""a"b"#).is_none());
        assert!(split_quoted(r#""a"#).is_none());
        assert_eq!(split_quoted(r#""""#).unwrap(), vec![""]);
        assert_eq!(repr("a\"b\n"), r#""a\"b\n""#);
    }

    #[test]
    fn every_name_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for (n, _) in all_names() {
            assert!(seen.insert(n), "{n} twice");
            assert_eq!(n, n.to_ascii_lowercase());
        }
        // Every default is a value its own rules accept, unchanged.
        for p in PARAMS.iter().filter(|p| p.kind != params::Kind::ReplicaOf) {
            let words: Vec<String> = if p.has(params::MULTI_ARG) && !p.default.is_empty() {
                p.default.split(' ').map(str::to_string).collect()
            } else if p.has(params::MULTI_ARG) {
                Vec::new()
            } else {
                vec![p.default.to_string()]
            };
            let v = value::parse(p, &words, p.default);
            assert_eq!(v.as_deref(), Ok(p.default), "{}", p.name);
        }
    }
}
