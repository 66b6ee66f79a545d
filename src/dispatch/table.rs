//! The command table: the single source of truth for every command's name, arity,
//! flags, key positions, ACL categories and handler. Dispatch, arity checks, key
//! routing and `COMMAND *` all read it.

use std::sync::OnceLock;

use bytes::Bytes;
use fxhash::FxHashMap;

use super::{ConnFn, ShardFn};

/// Command flags, named as in `COMMAND INFO`.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const NOSCRIPT: u32 = 1 << 4;
    pub const LOADING: u32 = 1 << 5;
    pub const STALE: u32 = 1 << 6;
    pub const FAST: u32 = 1 << 7;
    pub const NO_AUTH: u32 = 1 << 8;
    pub const MAY_REPLICATE: u32 = 1 << 9;
    pub const ALLOW_BUSY: u32 = 1 << 10;
    pub const SKIP_SLOWLOG: u32 = 1 << 11;
    pub const NO_MULTI: u32 = 1 << 12;
    pub const SENTINEL: u32 = 1 << 13;
    pub const BLOCKING: u32 = 1 << 14;
    pub const PUBSUB: u32 = 1 << 15;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (SENTINEL, "sentinel"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories (`@string`, `@keyspace`, ...).
pub mod acl {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const READ: u32 = 1 << 1;
    pub const WRITE: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const BITMAP: u32 = 1 << 4;
    pub const FAST: u32 = 1 << 5;
    pub const SLOW: u32 = 1 << 6;
    pub const ADMIN: u32 = 1 << 7;
    pub const DANGEROUS: u32 = 1 << 8;
    pub const CONNECTION: u32 = 1 << 9;
    pub const LIST: u32 = 1 << 10;
    pub const HASH: u32 = 1 << 11;
    pub const SET: u32 = 1 << 12;
    pub const SORTEDSET: u32 = 1 << 13;
    pub const BLOCKING: u32 = 1 << 14;
    pub const PUBSUB: u32 = 1 << 15;
    pub const TRANSACTION: u32 = 1 << 16;
    pub const SCRIPTING: u32 = 1 << 17;
    pub const HYPERLOGLOG: u32 = 1 << 18;

    pub const NAMES: &[(u32, &str)] = &[
        (KEYSPACE, "keyspace"),
        (READ, "read"),
        (WRITE, "write"),
        (SET, "set"),
        (SORTEDSET, "sortedset"),
        (LIST, "list"),
        (HASH, "hash"),
        (STRING, "string"),
        (BITMAP, "bitmap"),
        (HYPERLOGLOG, "hyperloglog"),
        (PUBSUB, "pubsub"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (SLOW, "slow"),
        (BLOCKING, "blocking"),
        (DANGEROUS, "dangerous"),
        (CONNECTION, "connection"),
        (TRANSACTION, "transaction"),
        (SCRIPTING, "scripting"),
    ];
}

/// Finds the key positions of a command whose keys no fixed rule describes
/// (ZUNIONSTORE's destination plus numkeys sources, SORT's STORE). Returns false
/// when the arguments cannot hold the keys (the command then reports the error).
pub type KeyFinder = fn(&[Bytes], &mut dyn FnMut(usize)) -> bool;

/// Where a command's keys are, in argument positions (0 = the command name).
#[derive(Clone, Copy, Debug)]
pub enum KeySpec {
    None,
    /// Keys at `first`, `first+step`, ... up to `last` (negative: from the end).
    Range {
        first: u8,
        last: i8,
        step: u8,
    },
    /// The number of keys is the argument at `numkeys`; keys start at `numkeys + first`.
    NumKeys {
        numkeys: u8,
        first: u8,
        step: u8,
    },
    /// Keys found by `find`; `first/last/step` is what `COMMAND INFO` reports.
    Fn {
        first: u8,
        last: i8,
        step: u8,
        find: KeyFinder,
    },
}

impl KeySpec {
    pub fn is_none(&self) -> bool {
        matches!(self, KeySpec::None)
    }
}

/// The key specs most commands share.
pub mod keys {
    use super::KeySpec;

    /// `CMD key ...`
    pub const K1: KeySpec = KeySpec::Range {
        first: 1,
        last: 1,
        step: 1,
    };
    /// `CMD x key ...` (OBJECT ENCODING key)
    pub const K2: KeySpec = KeySpec::Range {
        first: 2,
        last: 2,
        step: 1,
    };
    /// `CMD key1 key2 ...` (RENAME, SMOVE, LMOVE)
    pub const K12: KeySpec = KeySpec::Range {
        first: 1,
        last: 2,
        step: 1,
    };
    /// `CMD key [key ...]`
    pub const KALL: KeySpec = KeySpec::Range {
        first: 1,
        last: -1,
        step: 1,
    };
    /// `CMD key value [key value ...]` (MSET)
    pub const KPAIRS: KeySpec = KeySpec::Range {
        first: 1,
        last: -1,
        step: 2,
    };
    /// `CMD key [key ...] timeout` (BLPOP)
    pub const KBUT_LAST: KeySpec = KeySpec::Range {
        first: 1,
        last: -2,
        step: 1,
    };
    /// `CMD numkeys key [key ...] ...` (ZUNION, LMPOP)
    pub const NK1: KeySpec = KeySpec::NumKeys {
        numkeys: 1,
        first: 1,
        step: 1,
    };
    /// `CMD timeout numkeys key [key ...] ...` (BLMPOP)
    pub const NK2: KeySpec = KeySpec::NumKeys {
        numkeys: 2,
        first: 1,
        step: 1,
    };
}

/// Keys of `CMD dest numkeys key...` (ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE).
pub fn dest_numkeys_keys(argv: &[Bytes], f: &mut dyn FnMut(usize)) -> bool {
    if argv.len() < 3 {
        return false;
    }
    let Some(n) = crate::protocol::parse_i64(&argv[2]) else {
        return false;
    };
    if n < 1 || (n as u64) > (argv.len() - 3) as u64 {
        return false;
    }
    f(1);
    for i in 0..n as usize {
        f(3 + i);
    }
    true
}

/// ZUNIONSTORE-style key spec.
pub const DEST_NUMKEYS: KeySpec = KeySpec::Fn {
    first: 1,
    last: 1,
    step: 1,
    find: dest_numkeys_keys,
};

/// How a command runs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// On the shard that owns its keys (all of them: a command whose keys span
    /// shards goes through `cross` instead).
    Shard(ShardFn),
    /// On the connection's own shard, with access to the client; coordinates any
    /// other shard itself.
    Conn(ConnFn),
}

pub struct CommandSpec {
    /// Lower-case name (`"get"`, or `"client|list"` for a subcommand).
    pub name: &'static str,
    /// Redis arity: positive = exact, negative = at least.
    pub arity: i32,
    pub flags: u32,
    pub keys: KeySpec,
    pub acl: u32,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub handler: Handler,
    /// The coordinator used when a `Shard` command's keys live on several shards;
    /// `None` answers CROSSSLOT, as Redis Cluster does.
    pub cross: Option<ConnFn>,
    /// Subcommands of a container command (`CLIENT`, `CONFIG`, ...), for `COMMAND`.
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Redis's arity check.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        (a > 0 && argc == a as usize) || (a < 0 && argc >= (-a) as usize)
    }

    /// The name as Redis prints it in `COMMAND` and in errors (`client|list`).
    pub fn display_name(&self) -> &'static str {
        self.name
    }

    /// Legacy (first, last, step) triple of `COMMAND INFO`.
    pub fn legacy_range(&self) -> (i64, i64, i64) {
        match self.keys {
            KeySpec::None => (0, 0, 0),
            KeySpec::Range { first, last, step }
            | KeySpec::Fn {
                first, last, step, ..
            } => (first as i64, last as i64, step as i64),
            // Redis reports numkeys commands as having no fixed range.
            KeySpec::NumKeys { .. } => (0, 0, 0),
        }
    }

    /// Positions of the keys in `argv` (argv[0] is the command name). Calls `f` for
    /// each; returns `false` when the arguments cannot hold the declared keys (a bad
    /// numkeys), which the command itself then reports.
    pub fn for_each_key(&self, argv: &[Bytes], mut f: impl FnMut(usize)) -> bool {
        let argc = argv.len();
        match self.keys {
            KeySpec::None => true,
            KeySpec::Range { first, last, step } => {
                let first = first as usize;
                let last = if last < 0 {
                    argc as i64 + last as i64
                } else {
                    last as i64
                };
                let mut i = first as i64;
                while i <= last && (i as usize) < argc {
                    f(i as usize);
                    i += step.max(1) as i64;
                }
                true
            }
            KeySpec::NumKeys {
                numkeys,
                first,
                step,
            } => {
                let Some(n) = argv
                    .get(numkeys as usize)
                    .and_then(|a| crate::protocol::parse_i64(a))
                else {
                    return false;
                };
                if n < 0 {
                    return false;
                }
                let start = numkeys as usize + first as usize;
                let n = n as usize;
                let step = step.max(1) as usize;
                if n == 0 || start + (n - 1) * step >= argc {
                    return n == 0;
                }
                for k in 0..n {
                    f(start + k * step);
                }
                true
            }
            KeySpec::Fn { find, .. } => find(argv, &mut f),
        }
    }
}

type Table = FxHashMap<&'static str, &'static CommandSpec>;

static TABLE: OnceLock<Table> = OnceLock::new();

/// Fills the table from the families' slices, once (later calls do nothing).
/// The families live above this layer, so they hand their commands in at
/// start-up rather than being named here.
pub fn install(families: &'static [&'static [CommandSpec]]) {
    TABLE.get_or_init(|| {
        let mut m = FxHashMap::default();
        for family in families {
            for spec in family.iter() {
                let prev = m.insert(spec.name, spec);
                assert!(prev.is_none(), "command {} registered twice", spec.name);
            }
        }
        m
    });
}

/// All top-level commands, by lower-case name (empty before [`install`]). The
/// names are ours, not the client's, so the fast non-seeded FxHash is fine here.
pub fn table() -> &'static Table {
    static EMPTY: OnceLock<Table> = OnceLock::new();
    TABLE
        .get()
        .unwrap_or_else(|| EMPTY.get_or_init(FxHashMap::default))
}

/// Looks a command up by the name a client sent, case-insensitively, without
/// allocating for names up to 32 bytes.
#[inline]
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    let s = std::str::from_utf8(lower).ok()?;
    table().get(s).copied()
}

/// Looks up a subcommand of a container command (`CLIENT LIST` -> `client|list`).
pub fn lookup_sub(spec: &'static CommandSpec, sub: &[u8]) -> Option<&'static CommandSpec> {
    let parent = spec.name;
    spec.subcommands.iter().find(|s| {
        s.name.len() == parent.len() + 1 + sub.len()
            && s.name.as_bytes()[parent.len() + 1..].eq_ignore_ascii_case(sub)
    })
}

/// The README's list of supported commands, grouped as Redis groups them
/// (`generic`, `string`, ...). The README test keeps the README equal to this.
pub fn markdown_command_list() -> String {
    let mut groups: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for spec in table().values() {
        let names = groups.entry(spec.group).or_default();
        // A container that also runs bare (COMMAND) is listed itself too.
        if spec.subcommands.is_empty() || spec.arity == -1 {
            names.push(spec.name.to_ascii_uppercase());
        }
        for sub in spec.subcommands {
            names.push(sub.name.replace('|', " ").to_ascii_uppercase());
        }
    }
    let mut out = String::new();
    for (group, mut names) in groups {
        names.sort();
        let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        out.push_str(&format!(
            "- **{group}** ({}): {}\n",
            names.len(),
            list.join(", ")
        ));
    }
    out
}
