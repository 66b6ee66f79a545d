//! The command table: the single source of truth for every command's name, arity,
//! flags, key positions, ACL categories and handler. Dispatch, arity checks, key
//! routing and `COMMAND *` all read it.

use std::sync::OnceLock;

use bytes::Bytes;
use futures::future::LocalBoxFuture;
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
    pub const SKIP_MONITOR: u32 = 1 << 16;
    pub const ASKING: u32 = 1 << 17;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 18;
    pub const NO_ASYNC_LOADING: u32 = 1 << 19;
    /// Derived from the key specs (see `CommandSpec::movable_keys`), never set by hand.
    pub const MOVABLE_KEYS: u32 = 1 << 20;

    /// In Redis's `COMMAND INFO` order; `may_replicate` and `sentinel` are
    /// hidden there, as here.
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
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
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
    pub const GEO: u32 = 1 << 19;
    pub const STREAM: u32 = 1 << 20;

    /// In Redis's order (`ACL CAT`, `COMMAND INFO`).
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
        (GEO, "geo"),
        (STREAM, "stream"),
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

    /// The categories Redis derives from command flags (`setImplicitACLCategories`):
    /// a row names only the others (its data type, `@dangerous`...).
    pub const fn implied(flags: u32, cats: u32) -> u32 {
        use super::flag;
        let mut c = cats;
        if flags & flag::WRITE != 0 {
            c |= WRITE;
        }
        if flags & flag::READONLY != 0 && cats & SCRIPTING == 0 {
            c |= READ;
        }
        if flags & flag::ADMIN != 0 {
            c |= ADMIN | DANGEROUS;
        }
        if flags & flag::PUBSUB != 0 {
            c |= PUBSUB;
        }
        if flags & flag::FAST != 0 {
            c |= FAST;
        }
        if flags & flag::BLOCKING != 0 {
            c |= BLOCKING;
        }
        if c & FAST == 0 {
            c |= SLOW;
        }
        c
    }
}

/// Key specs: where a command's keys are and what it does with each, as
/// Redis 7's `key_specs` (begin_search, find_keys, flags). They drive routing,
/// locking (shared for read-only keys, exclusive otherwise), `COMMAND INFO`,
/// `COMMAND GETKEYS` and, later, ACL key patterns (`%R~`/`%W~`).
pub mod ks {
    /// Read-only: the command reads the value but does not change it.
    pub const RO: u16 = 1 << 0;
    /// Read-write: reads and modifies the value.
    pub const RW: u16 = 1 << 1;
    /// Overwrite: replaces the value without reading it (existence may be checked).
    pub const OW: u16 = 1 << 2;
    /// Remove: deletes the key.
    pub const RM: u16 = 1 << 3;
    pub const ACCESS: u16 = 1 << 4;
    pub const UPDATE: u16 = 1 << 5;
    pub const INSERT: u16 = 1 << 6;
    pub const DELETE: u16 = 1 << 7;
    pub const NOT_KEY: u16 = 1 << 8;
    pub const INCOMPLETE: u16 = 1 << 9;
    pub const VARIABLE_FLAGS: u16 = 1 << 10;

    /// In Redis's order.
    pub const NAMES: &[(u16, &str)] = &[
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];

    use super::{Begin, Find, KeySpec};

    /// Whether a key use only reads it (a shared lock suffices).
    pub const fn read_only(flags: u16) -> bool {
        flags & (RW | OW | RM) == 0
    }

    /// The key at `pos`.
    pub const fn key(pos: u8, flags: u16) -> KeySpec {
        range(pos, 0, 1, flags)
    }

    /// Every argument from `pos` to the end.
    pub const fn keys_from(pos: u8, flags: u16) -> KeySpec {
        range(pos, -1, 1, flags)
    }

    /// Keys from `pos`: up to `lastkey` (relative to `pos`; negative counts
    /// from the end), every `step` arguments.
    pub const fn range(pos: u8, lastkey: i8, step: u8, flags: u16) -> KeySpec {
        KeySpec {
            notes: None,
            flags,
            begin: Begin::Index(pos),
            find: Find::Range {
                lastkey,
                step,
                limit: 0,
            },
        }
    }

    /// A count at `pos + keynumidx`, then that many keys from `pos + firstkey`.
    pub const fn keynum(pos: u8, keynumidx: u8, firstkey: u8, step: u8, flags: u16) -> KeySpec {
        KeySpec {
            notes: None,
            flags,
            begin: Begin::Index(pos),
            find: Find::KeyNum {
                keynumidx,
                firstkey,
                step,
            },
        }
    }

    /// Keys no fixed rule finds (the command's `getkeys` finds them).
    pub const fn unknown(flags: u16) -> KeySpec {
        KeySpec {
            notes: None,
            flags,
            begin: Begin::Unknown,
            find: Find::Unknown,
        }
    }
}

/// Where a key spec starts looking.
#[derive(Clone, Copy, Debug)]
pub enum Begin {
    /// At this argument (0 = the command name).
    Index(u8),
    /// After the first `keyword` found from argument `startfrom` (negative:
    /// searching backwards from the end).
    Keyword {
        keyword: &'static str,
        startfrom: i8,
    },
    Unknown,
}

/// Which arguments from the start are keys.
#[derive(Clone, Copy, Debug)]
pub enum Find {
    /// Up to `lastkey` (relative; negative from the end), every `step`; with
    /// `limit` > 1 and a negative `lastkey`, only the first 1/limit of the rest.
    Range {
        lastkey: i8,
        step: u8,
        limit: u8,
    },
    /// The argument at `keynumidx` (relative) counts the keys, which start at
    /// `firstkey` (relative), every `step`.
    KeyNum {
        keynumidx: u8,
        firstkey: u8,
        step: u8,
    },
    Unknown,
}

#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    /// `ks::*` flags.
    pub flags: u16,
    pub begin: Begin,
    pub find: Find,
}

impl KeySpec {
    pub const fn notes(mut self, notes: &'static str) -> KeySpec {
        self.notes = Some(notes);
        self
    }

    /// Calls `f(pos, flags)` for the keys this spec finds in `argv`. Returns
    /// false when the arguments cannot hold them (a bad key count), which the
    /// command itself then reports.
    fn each(&self, argv: &[Bytes], f: &mut dyn FnMut(usize, u16)) -> bool {
        let argc = argv.len() as i64;
        let start = match self.begin {
            Begin::Index(p) => p as i64,
            Begin::Keyword { keyword, startfrom } => {
                let found = if startfrom >= 0 {
                    (startfrom as i64..argc)
                        .find(|&i| argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()))
                } else {
                    (1..=argc + startfrom as i64)
                        .rev()
                        .find(|&i| argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()))
                };
                match found {
                    Some(i) => i + 1,
                    None => return true,
                }
            }
            Begin::Unknown => return true,
        };
        if start >= argc {
            return true;
        }
        let (first, last, step) = match self.find {
            Find::Range {
                lastkey,
                step,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    start + lastkey as i64
                } else if limit > 1 {
                    start + (argc - start) / limit as i64 + lastkey as i64
                } else {
                    argc + lastkey as i64
                };
                (start, last, step.max(1) as i64)
            }
            Find::KeyNum {
                keynumidx,
                firstkey,
                step,
            } => {
                let Some(n) = argv
                    .get((start + keynumidx as i64) as usize)
                    .and_then(|a| crate::protocol::parse_i64(a))
                else {
                    return false;
                };
                let step = step.max(1) as i64;
                let first = start + firstkey as i64;
                if n < 0 || (n > 0 && first + (n - 1) * step >= argc) {
                    return false;
                }
                (first, first + (n - 1) * step, step)
            }
            Find::Unknown => return true,
        };
        let mut i = first;
        while i <= last && i < argc {
            f(i as usize, self.flags);
            i += step;
        }
        true
    }
}

/// Finds the keys of a command with `unknown` key specs (SORT's STORE), as
/// Redis's `getkeys_proc`: `f(position, ks flags)`. Returns false when the
/// arguments cannot hold the keys.
pub type KeyFinder = fn(&[Bytes], &mut dyn FnMut(usize, u16)) -> bool;

/// How a command runs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// On the shard that owns its keys (all of them; keys on several shards go
    /// through the command's [`Multi`] coordination instead).
    Shard(ShardFn),
    /// On the connection's own shard, with access to the client; coordinates any
    /// other shard itself.
    Conn(ConnFn),
}

/// How a shard command runs when its keys live on several shards. The
/// shard-local step is always the command's own handler; this says how the
/// shards' parts are combined. A command without one answers CROSSSLOT, as
/// Redis Cluster does.
#[derive(Clone, Copy)]
pub enum Multi {
    /// Each shard runs the command on its share of the keys; the integer
    /// replies are summed (DEL, UNLINK, EXISTS, TOUCH).
    Sum,
    /// Each shard runs the command on its share; the elements of the array
    /// replies are put back in the client's key order (MGET).
    Merge,
    /// Each shard runs the command on its share; all answer alike and one
    /// answer is the reply (MSET).
    Same,
    /// `check` runs first on every shard's share and must answer `:1`
    /// everywhere; then each shard runs the command on its share. Otherwise
    /// nothing runs and the first refusal is the reply (MSETNX).
    AllOrNone(ShardFn),
    /// Every key's value is read (under the locks) into a scratch store where
    /// the command runs whole, on the coordinator; the keys it changed are
    /// written back while releasing (SUNIONSTORE, ZINTER, RENAME, BITOP,
    /// PFMERGE...). `extra_db` names another database the command writes to
    /// (COPY ... DB n).
    Gather { extra_db: Option<DbArg> },
    /// The command coordinates itself (pops and moves, which also serve
    /// blocked clients; SORT with BY/GET patterns; SMOVE).
    Custom(MultiFn),
}

/// Finds the other database a command names in its arguments (COPY's `DB n`).
pub type DbArg = fn(&[Bytes]) -> Option<u8>;

/// A coordinator that runs a command whose keys span shards, given the keys
/// grouped by owner.
pub type MultiFn = for<'a> fn(
    &'a mut super::Client,
    &'a [Bytes],
    super::coord::KeyGroups,
) -> LocalBoxFuture<'a, super::CmdResult>;

pub struct CommandSpec {
    /// Lower-case name (`"get"`, or `"client|list"` for a subcommand).
    pub name: &'static str,
    /// Redis arity: positive = exact, negative = at least.
    pub arity: i32,
    pub flags: u32,
    pub keys: &'static [KeySpec],
    /// Finds the keys instead of `keys` (which then only document them).
    pub getkeys: Option<KeyFinder>,
    /// ACL categories besides those the flags imply ([`acl::implied`]).
    pub acl: u32,
    /// Command tips of `COMMAND INFO` (`nondeterministic_output`, ...).
    pub tips: &'static [&'static str],
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub handler: Handler,
    pub multi: Option<Multi>,
    /// Subcommands of a container command (`CLIENT`, `CONFIG`, ...).
    pub subcommands: &'static [CommandSpec],
}

/// Rows of a family's table are built with these `const fn`s, one named
/// setting per call: `CommandSpec::shard("get", 2, get).flags(..).keys(..)`.
impl CommandSpec {
    const fn new(name: &'static str, arity: i32, handler: Handler) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags: 0,
            keys: &[],
            getkeys: None,
            acl: 0,
            tips: &[],
            group: "",
            since: "",
            summary: "",
            handler,
            multi: None,
            subcommands: &[],
        }
    }

    /// A command that runs on the shard owning its keys.
    pub const fn shard(name: &'static str, arity: i32, f: ShardFn) -> CommandSpec {
        CommandSpec::new(name, arity, Handler::Shard(f))
    }

    /// A command that runs with the client (connection and server commands).
    pub const fn conn(name: &'static str, arity: i32, f: ConnFn) -> CommandSpec {
        CommandSpec::new(name, arity, Handler::Conn(f))
    }

    pub const fn flags(mut self, flags: u32) -> CommandSpec {
        self.flags = flags;
        self
    }

    pub const fn keys(mut self, keys: &'static [KeySpec]) -> CommandSpec {
        self.keys = keys;
        self
    }

    pub const fn getkeys(mut self, f: KeyFinder) -> CommandSpec {
        self.getkeys = Some(f);
        self
    }

    /// ACL categories beyond the implied ones.
    pub const fn acl(mut self, cats: u32) -> CommandSpec {
        self.acl = cats;
        self
    }

    pub const fn tips(mut self, tips: &'static [&'static str]) -> CommandSpec {
        self.tips = tips;
        self
    }

    /// `COMMAND DOCS`: group, the version that added it, one-line summary.
    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
    ) -> CommandSpec {
        self.group = group;
        self.since = since;
        self.summary = summary;
        self
    }

    pub const fn multi(mut self, m: Multi) -> CommandSpec {
        self.multi = Some(m);
        self
    }

    pub const fn subcommands(mut self, subs: &'static [CommandSpec]) -> CommandSpec {
        self.subcommands = subs;
        self
    }

    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Every ACL category of the command: its own plus the implied ones.
    pub fn acl_categories(&self) -> u32 {
        acl::implied(self.flags, self.acl)
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

    /// Whether the key positions depend on the arguments (`movablekeys`): some
    /// key spec is not a plain index range, or the ranges are not one block,
    /// as Redis's `populateCommandLegacyRangeSpec` decides.
    pub fn movable_keys(&self) -> bool {
        self.legacy().1
    }

    /// The flags `COMMAND INFO` reports: the row's, plus `movablekeys`.
    pub fn info_flags(&self) -> u32 {
        self.flags
            | if self.movable_keys() {
                flag::MOVABLE_KEYS
            } else {
                0
            }
    }

    /// Legacy (first, last, step) triple of `COMMAND INFO`.
    pub fn legacy_range(&self) -> (i64, i64, i64) {
        self.legacy().0
    }

    fn legacy(&self) -> ((i64, i64, i64), bool) {
        let range = |k: &KeySpec| match (k.begin, k.find) {
            (Begin::Index(pos), Find::Range { lastkey, step, .. }) => Some((pos, lastkey, step)),
            _ => None,
        };
        let abs = |pos: u8, lastkey: i8| -> i64 {
            if lastkey >= 0 {
                pos as i64 + lastkey as i64
            } else {
                lastkey as i64
            }
        };
        if let [k] = self.keys
            && let Some((pos, lastkey, step)) = range(k)
        {
            return (
                (pos as i64, abs(pos, lastkey), step as i64),
                k.flags & ks::INCOMPLETE != 0,
            );
        }
        let (mut first, mut last, mut prev_last) = (i64::MAX, 0i64, 0i64);
        let mut movable = false;
        for k in self.keys {
            let Some((pos, lastkey, step)) = range(k) else {
                movable = true;
                continue;
            };
            if step != 1 || (prev_last != 0 && prev_last != pos as i64 - 1) {
                movable = true;
                continue;
            }
            first = first.min(pos as i64);
            // Redis compares as unsigned, so a negative (from the end) wins.
            let l = abs(pos, lastkey);
            if (l as u64) > (last as u64) {
                last = l;
            }
            prev_last = last;
        }
        if first == i64::MAX {
            return ((0, 0, 0), movable);
        }
        ((first, last, 1), movable)
    }

    /// Positions of the keys in `argv` (argv[0] is the command name), with
    /// their key spec flags. Returns `false` when the arguments cannot hold the
    /// declared keys (a bad numkeys), which the command itself then reports.
    pub fn for_each_key(&self, argv: &[Bytes], mut f: impl FnMut(usize, u16)) -> bool {
        if let Some(find) = self.getkeys {
            return find(argv, &mut f);
        }
        self.keys.iter().all(|k| k.each(argv, &mut f))
    }

    /// Whether the command names keys at all.
    /// Whether the command names keys (shard channels, declared like keys with
    /// `not_key`, are not).
    pub fn has_keys(&self) -> bool {
        self.keys.iter().any(|k| k.flags & ks::NOT_KEY == 0)
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

/// Looks a command up by its full name (`get`, or `client|list` for a
/// subcommand), as `COMMAND INFO` and `COMMAND DOCS` accept it.
pub fn lookup_full(name: &[u8]) -> Option<&'static CommandSpec> {
    match memchr::memchr(b'|', name) {
        None => lookup(name),
        Some(i) => lookup_sub(lookup(&name[..i])?, &name[i + 1..]),
    }
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
