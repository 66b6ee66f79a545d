//! Configuration: clap flags with Redis's names, an optional redis.conf-style file,
//! and the parameter table behind `CONFIG GET|SET`.
//!
//! Precedence, as in Redis: built-in defaults, then the file, then flags.

use std::collections::BTreeMap;

use clap::Parser;

/// The Redis version corekv answers as (clients gate features on it; RDB files
/// carry it).
pub const REDIS_VERSION: &str = "7.0.15";

/// Command-line flags. Every flag is also a config-file directive.
#[derive(Parser, Debug, Default, Clone)]
#[command(
    name = "corekv",
    version,
    about = "A Redis-compatible thread-per-core server"
)]
pub struct Cli {
    /// A redis.conf-style file of `directive value` lines.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Option<String>,
    /// TCP port (6379 by default; 0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Address to listen on (127.0.0.1 by default).
    #[arg(long)]
    pub bind: Option<String>,
    /// Number of shards, one per core (default: the number of online cores).
    #[arg(long)]
    pub shards: Option<usize>,
    /// debug | verbose | notice | warning
    #[arg(long)]
    pub loglevel: Option<String>,
    /// Password clients must give with AUTH.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Maximum number of connected clients.
    #[arg(long)]
    pub maxclients: Option<u64>,
    /// Working directory: where snapshots are written and read.
    #[arg(long)]
    pub dir: Option<String>,
    /// Snapshot file name (dump.rdb).
    #[arg(long)]
    pub dbfilename: Option<String>,
    /// Save points, `"<seconds> <changes> ..."`; `""` turns snapshots off.
    #[arg(long, allow_hyphen_values = true)]
    pub save: Option<String>,
    /// Append-only file: `yes` or `no`.
    #[arg(long)]
    pub appendonly: Option<String>,
    /// `always`, `everysec` or `no`.
    #[arg(long)]
    pub appendfsync: Option<String>,
}

/// A runtime-visible parameter: how `CONFIG SET` validates it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Read-only after start-up.
    Immutable,
    /// Any string.
    Str,
    /// A non-negative integer (with k/m/g suffixes where Redis takes memory sizes).
    Int,
    /// yes | no
    Bool,
    /// One of a fixed list.
    Enum(&'static [&'static str]),
    /// `notify-keyspace-events` letters (shown in Redis's canonical order).
    Events,
    /// `save`: pairs of `<seconds> <changes>`, or empty.
    Save,
}

/// The parameters corekv knows, with Redis's defaults. Unknown names are refused at
/// start-up and by CONFIG SET exactly as Redis refuses them.
const PARAMS: &[(&str, &str, Kind)] = &[
    ("bind", "127.0.0.1", Kind::Immutable),
    ("port", "6379", Kind::Immutable),
    ("shards", "0", Kind::Immutable),
    ("databases", "16", Kind::Immutable),
    (
        "loglevel",
        "notice",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
    ),
    ("requirepass", "", Kind::Str),
    ("maxclients", "10000", Kind::Int),
    ("timeout", "0", Kind::Int),
    ("tcp-keepalive", "300", Kind::Int),
    ("hz", "10", Kind::Int),
    ("proto-max-bulk-len", "536870912", Kind::Immutable),
    ("client-query-buffer-limit", "1073741824", Kind::Immutable),
    ("maxmemory", "0", Kind::Int),
    (
        "maxmemory-policy",
        "noeviction",
        Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
    ),
    ("save", "3600 1 300 100 60 10000", Kind::Save),
    ("appendonly", "no", Kind::Bool),
    (
        "appendfsync",
        "everysec",
        Kind::Enum(&["always", "everysec", "no"]),
    ),
    ("appenddirname", "appendonlydir", Kind::Immutable),
    ("appendfilename", "appendonly.aof", Kind::Immutable),
    ("aof-use-rdb-preamble", "yes", Kind::Bool),
    ("aof-load-truncated", "yes", Kind::Bool),
    ("aof-timestamp-enabled", "no", Kind::Bool),
    ("aof-rewrite-incremental-fsync", "yes", Kind::Bool),
    ("no-appendfsync-on-rewrite", "no", Kind::Bool),
    ("auto-aof-rewrite-percentage", "100", Kind::Int),
    ("auto-aof-rewrite-min-size", "67108864", Kind::Int),
    ("dir", "", Kind::Immutable),
    ("dbfilename", "dump.rdb", Kind::Str),
    ("rdbcompression", "yes", Kind::Bool),
    ("rdbchecksum", "yes", Kind::Immutable),
    ("stop-writes-on-bgsave-error", "yes", Kind::Bool),
    ("rdb-del-sync-files", "no", Kind::Bool),
    ("rdb-save-incremental-fsync", "yes", Kind::Bool),
    (
        "sanitize-dump-payload",
        "no",
        Kind::Enum(&["no", "yes", "clients"]),
    ),
    ("slowlog-log-slower-than", "10000", Kind::Int),
    ("slowlog-max-len", "128", Kind::Int),
    ("lazyfree-lazy-user-del", "no", Kind::Bool),
    ("io-memory-kb", "256", Kind::Immutable),
    ("spin-before-park-us", "0", Kind::Immutable),
    ("daemonize", "no", Kind::Immutable),
    ("protected-mode", "no", Kind::Bool),
    ("tcp-backlog", "511", Kind::Immutable),
    ("notify-keyspace-events", "", Kind::Events),
    ("tracking-table-max-keys", "1000000", Kind::Int),
    (
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        Kind::Str,
    ),
];

/// The live configuration: every parameter as its string value.
#[derive(Clone, Debug)]
pub struct Config {
    values: BTreeMap<&'static str, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            values: PARAMS.iter().map(|(k, v, _)| (*k, v.to_string())).collect(),
        }
    }
}

impl Config {
    /// Defaults, then the file named by `--config`, then the flags.
    pub fn load(cli: &Cli) -> Result<Config, String> {
        let mut c = Config::default();
        if let Some(path) = &cli.config {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("Fatal error, can't open config file '{path}': {e}"))?;
            c.apply_file(&text)?;
        }
        let flags: [(&str, Option<String>); 11] = [
            ("port", cli.port.map(|v| v.to_string())),
            ("bind", cli.bind.clone()),
            ("shards", cli.shards.map(|v| v.to_string())),
            ("loglevel", cli.loglevel.clone()),
            ("requirepass", cli.requirepass.clone()),
            ("maxclients", cli.maxclients.map(|v| v.to_string())),
            ("dir", cli.dir.clone()),
            ("dbfilename", cli.dbfilename.clone()),
            ("save", cli.save.clone()),
            ("appendonly", cli.appendonly.clone()),
            ("appendfsync", cli.appendfsync.clone()),
        ];
        for (k, v) in flags {
            if let Some(v) = v {
                c.set_startup(k, &v)?;
            }
        }
        Ok(c)
    }

    /// Parses redis.conf syntax: `directive arg...`, `#` comments, quoted strings.
    pub fn apply_file(&mut self, text: &str) -> Result<(), String> {
        // Several `save` lines add up; the first replaces the default.
        let mut saves: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = split_quoted(line)
                .ok_or_else(|| bad_line(n, line, "Unbalanced quotes in configuration line"))?;
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            let mut value = args.join(" ");
            if name == "save" {
                let acc = saves.get_or_insert_with(String::new);
                if !value.is_empty() {
                    if !acc.is_empty() {
                        acc.push(' ');
                    }
                    acc.push_str(&value);
                }
                value = acc.clone();
            }
            self.set_startup(&name, &value)
                .map_err(|e| bad_line(n, line, &e))?;
        }
        Ok(())
    }

    fn set_startup(&mut self, name: &str, value: &str) -> Result<(), String> {
        let (key, _, kind) = PARAMS
            .iter()
            .find(|(k, _, _)| *k == name)
            .ok_or_else(|| "Bad directive or wrong number of arguments".to_string())?;
        validate(*kind, value, true)?;
        self.values.insert(key, normalize(*kind, value));
        Ok(())
    }

    /// `CONFIG SET name value`; errors carry Redis's wording after "ERR ".
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let lname = name.to_ascii_lowercase();
        let Some((key, _, kind)) = PARAMS.iter().find(|(k, _, _)| *k == lname) else {
            return Err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        if *kind == Kind::Immutable {
            return Err(format!(
                "CONFIG SET failed (possibly related to argument '{lname}') - can't set immutable config"
            ));
        }
        validate(*kind, value, false).map_err(|e| {
            format!("CONFIG SET failed (possibly related to argument '{lname}') - {e}")
        })?;
        self.values.insert(key, normalize(*kind, value));
        Ok(())
    }

    /// Parameters whose names match a glob, as `CONFIG GET` lists them.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        self.values
            .iter()
            .filter(|(k, _)| crate::util::glob_match(pattern, k.as_bytes(), true))
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map(String::as_str).unwrap_or("")
    }

    /// `notify-keyspace-events` as flags.
    pub fn keyspace_events(&self) -> u32 {
        keyspace_events::parse_flags(self.get("notify-keyspace-events")).unwrap_or(0)
    }

    pub fn get_u64(&self, name: &str) -> u64 {
        self.get(name).parse().unwrap_or(0)
    }

    pub fn port(&self) -> u16 {
        self.get("port").parse().unwrap_or(6379)
    }

    pub fn set_port(&mut self, port: u16) {
        self.values.insert("port", port.to_string());
    }

    /// The working directory actually in use (CONFIG GET dir shows it whole).
    pub fn set_dir(&mut self, dir: &str) {
        self.values.insert("dir", dir.to_string());
    }

    pub fn requirepass(&self) -> Option<&str> {
        Some(self.get("requirepass")).filter(|p| !p.is_empty())
    }
}

fn bad_line(n: usize, line: &str, why: &str) -> String {
    format!(
        "\n*** FATAL CONFIG FILE ERROR ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
        n + 1,
        line,
        why
    )
}

fn validate(kind: Kind, v: &str, startup: bool) -> Result<(), String> {
    match kind {
        Kind::Immutable if !startup => Err("can't set immutable config".into()),
        Kind::Immutable | Kind::Str => Ok(()),
        Kind::Int => parse_memory(v)
            .map(|_| ())
            .ok_or_else(|| "argument couldn't be parsed into an integer".into()),
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "yes" | "no" => Ok(()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Enum(opts) => {
            if opts.iter().any(|o| o.eq_ignore_ascii_case(v)) {
                Ok(())
            } else {
                Err("argument(s) must be one of the following: ".to_string() + &opts.join(", "))
            }
        }
        Kind::Events => keyspace_events::parse_flags(v)
            .map(|_| ())
            .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        Kind::Save => {
            // Redis: an even count of integers, seconds >= 1, changes >= 0.
            let w: Vec<&str> = v.split_whitespace().collect();
            let ok = w.len().is_multiple_of(2)
                && w.iter().enumerate().all(|(i, x)| {
                    x.parse::<i64>()
                        .is_ok_and(|n| if i % 2 == 0 { n >= 1 } else { n >= 0 })
                });
            if ok {
                Ok(())
            } else {
                Err("Invalid save parameters".into())
            }
        }
    }
}

fn normalize(kind: Kind, v: &str) -> String {
    match kind {
        Kind::Int => parse_memory(v).map(|n| n.to_string()).unwrap_or_default(),
        Kind::Bool | Kind::Enum(_) => v.to_ascii_lowercase(),
        Kind::Events => {
            keyspace_events::flags_to_string(keyspace_events::parse_flags(v).unwrap_or(0))
        }
        Kind::Save => v
            .split_whitespace()
            .filter_map(|x| x.parse::<i64>().ok())
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        _ => v.to_string(),
    }
}

/// Integers with Redis's memory suffixes (1k = 1000, 1kb = 1024, ...).
pub fn parse_memory(v: &str) -> Option<u64> {
    let l = v.to_ascii_lowercase();
    let units: [(&str, u64); 6] = [
        ("kb", 1024),
        ("mb", 1024 * 1024),
        ("gb", 1024 * 1024 * 1024),
        ("k", 1000),
        ("m", 1000 * 1000),
        ("g", 1000 * 1000 * 1000),
    ];
    for (suffix, mul) in units {
        if let Some(num) = l.strip_suffix(suffix) {
            return num.parse::<u64>().ok()?.checked_mul(mul);
        }
    }
    l.parse().ok()
}

/// Splits a config line into words, honouring "double" and 'single' quotes.
pub fn split_quoted(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        let mut word = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    None => return None,
                    Some('\\') if c == '"' => match chars.next() {
                        Some('n') => word.push('\n'),
                        Some('t') => word.push('\t'),
                        Some(o) => word.push(o),
                        None => return None,
                    },
                    Some(q) if q == c => break,
                    Some(o) => word.push(o),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
}

/// The grammar of `notify-keyspace-events`: event classes as letters.
pub mod keyspace_events {
    /// Event classes and the two channel kinds, as `notify-keyspace-events` letters.
    pub mod class {
        pub const KEYSPACE: u32 = 1 << 0; // K
        pub const KEYEVENT: u32 = 1 << 1; // E
        pub const GENERIC: u32 = 1 << 2; // g
        pub const STRING: u32 = 1 << 3; // $
        pub const LIST: u32 = 1 << 4; // l
        pub const SET: u32 = 1 << 5; // s
        pub const HASH: u32 = 1 << 6; // h
        pub const ZSET: u32 = 1 << 7; // z
        pub const EXPIRED: u32 = 1 << 8; // x
        pub const EVICTED: u32 = 1 << 9; // e
        pub const STREAM: u32 = 1 << 10; // t
        pub const KEY_MISS: u32 = 1 << 11; // m
        pub const MODULE: u32 = 1 << 12; // d
        pub const NEW: u32 = 1 << 13; // n
        /// `A`: every class but key-miss and new.
        pub const ALL: u32 =
            GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
    }

    /// The letters of `notify-keyspace-events`, in the order Redis prints them.
    const LETTERS: &[(char, u32)] = &[
        ('g', class::GENERIC),
        ('$', class::STRING),
        ('l', class::LIST),
        ('s', class::SET),
        ('h', class::HASH),
        ('z', class::ZSET),
        ('x', class::EXPIRED),
        ('e', class::EVICTED),
        ('t', class::STREAM),
        ('d', class::MODULE),
        ('n', class::NEW),
    ];

    /// Parses a `notify-keyspace-events` value (`None` on an unknown letter).
    pub fn parse_flags(s: &str) -> Option<u32> {
        let mut f = 0;
        for ch in s.chars() {
            f |= match ch {
                'A' => class::ALL,
                'K' => class::KEYSPACE,
                'E' => class::KEYEVENT,
                'm' => class::KEY_MISS,
                c => LETTERS.iter().find(|(l, _)| *l == c)?.1,
            };
        }
        Some(f)
    }

    /// The canonical text of `flags`, as CONFIG GET shows it (Redis's order; with
    /// `A`, the classes it covers and `n` are not spelled out).
    pub fn flags_to_string(flags: u32) -> String {
        let mut s = String::new();
        if flags & class::ALL == class::ALL {
            s.push('A');
        } else {
            for (l, c) in LETTERS {
                if flags & c != 0 {
                    s.push(*l);
                }
            }
        }
        for (l, c) in [
            ('K', class::KEYSPACE),
            ('E', class::KEYEVENT),
            ('m', class::KEY_MISS),
        ] {
            if flags & c != 0 {
                s.push(l);
            }
        }
        s
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn flags_round_trip_as_redis_prints_them() {
            for (given, shown) in [
                ("KEA", "AKE"),
                ("", ""),
                ("Kx", "xK"),
                ("E$lg", "g$lE"),
                ("AKEm", "AKEm"),
                ("Kn", "nK"),
                ("AnK", "AK"),
            ] {
                let f = parse_flags(given).expect(given);
                assert_eq!(flags_to_string(f), shown, "{given}");
            }
            assert_eq!(parse_flags("Kq"), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_flags() {
        let mut c = Config::default();
        c.apply_file("# comment\nport 7000\nrequirepass \"a b\"\n\nmaxmemory 1mb\n")
            .unwrap();
        assert_eq!(c.port(), 7000);
        assert_eq!(c.requirepass(), Some("a b"));
        assert_eq!(c.get("maxmemory"), "1048576");
        assert!(c.apply_file("nosuchdirective 1").is_err());
        assert!(c.apply_file("port \"7000").is_err());
    }

    #[test]
    fn config_set_rules() {
        let mut c = Config::default();
        assert!(c.set("maxclients", "5").is_ok());
        assert!(c.set("port", "1").unwrap_err().contains("immutable"));
        assert!(
            c.set("nope", "1")
                .unwrap_err()
                .starts_with("Unknown option")
        );
        assert!(c.set("appendonly", "maybe").is_err());
        assert_eq!(c.matching(b"max*").len(), 3);
    }
}
