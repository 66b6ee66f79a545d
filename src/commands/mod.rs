//! Commands: one module per family, each exporting its slice of the command
//! table (`COMMANDS: &[CommandSpec]`), which [`install`] hands to dispatch.
//!
//! Shard handlers (`fn(&mut Exec, &mut Args) -> CmdResult`) touch only the local
//! store and are synchronous; connection handlers (`ConnFn`) are async and may
//! coordinate shards through `dispatch::coord`.

/// Defines a connection handler (`ConnFn`) from a closure-like body; the
/// calling module has `Client`, `Bytes`, `LocalBoxFuture` and `CmdResult` in
/// scope.
macro_rules! conn_fn {
    ($name:ident, |$c:ident, $argv:ident| $body:expr) => {
        pub(super) fn $name<'a>(
            $c: &'a mut Client,
            $argv: &'a [Bytes],
        ) -> LocalBoxFuture<'a, CmdResult> {
            Box::pin(async move { $body })
        }
    };
}

pub mod bits;
pub mod blocking;
pub mod hash;
pub mod hll;
pub mod keyspace;
pub mod list;
pub mod persist;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sort;
pub mod string;
pub mod transaction;
pub mod zset;

pub use crate::dispatch::{Args, CmdError, CmdResult, CommandSpec, Exec, args, table};

use crate::shard::Stats;
use crate::store::hash::Hash;
use crate::store::notify::{class as ev, notify};
use crate::store::set::Set;
use crate::store::zset::ZSet;
use crate::store::{Db, Typed};

/// Every family's commands; the table is built from this list.
pub const FAMILIES: &[&[CommandSpec]] = &[
    string::COMMANDS,
    keyspace::COMMANDS,
    server::COMMANDS,
    transaction::COMMANDS,
    list::COMMANDS,
    blocking::COMMANDS,
    hash::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    hll::COMMANDS,
    pubsub::COMMANDS,
    sort::COMMANDS,
    scripting::COMMANDS,
    scripting::function::COMMANDS,
    persist::COMMANDS,
];

/// Hands every family's commands to the dispatch table (idempotent).
pub fn install() {
    crate::dispatch::table::install(FAMILIES);
    crate::shard::functions::set_compiler(scripting::function::compile);
}

/// A HELP reply: one simple string per line, as Redis's `addReplyHelp`.
pub fn help_reply(c: &mut crate::dispatch::Client, lines: &[&str]) {
    let mut r = c.reply();
    r.array(lines.len());
    for l in lines {
        r.simple(l);
    }
}

/// The `T` at `key` for writing: `None` when missing, WRONGTYPE for another type.
#[inline]
pub fn lookup_mut<'a, T: Typed>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a mut T>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(e) => T::of_mut(&mut e.value).map(Some).ok_or(CmdError::WrongType),
    }
}

/// The `T` at `key` for reading; counts a keyspace hit or miss as Redis's
/// `lookupKeyRead` does, whatever the type.
#[inline]
pub fn lookup_read<'a, T: Typed>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    stats: &Stats,
) -> Result<Option<&'a T>, CmdError> {
    let e = db.get(key, now);
    Stats::add(
        if e.is_some() {
            &stats.hits
        } else {
            &stats.misses
        },
        1,
    );
    match e {
        None => Ok(None),
        Some(e) => T::of(&e.value).map(Some).ok_or(CmdError::WrongType),
    }
}

/// A collection whose members HDEL, SREM and ZREM remove one by one.
pub trait Members: Typed {
    /// The keyspace event of a removal: (class, name).
    const REMOVED: (u32, &'static str);
    fn remove_member(&mut self, m: &[u8]) -> bool;
    fn is_empty(&self) -> bool;
}

impl Members for Hash {
    const REMOVED: (u32, &'static str) = (ev::HASH, "hdel");
    fn remove_member(&mut self, m: &[u8]) -> bool {
        self.remove(m)
    }
    fn is_empty(&self) -> bool {
        self.is_empty()
    }
}

impl Members for Set {
    const REMOVED: (u32, &'static str) = (ev::SET, "srem");
    fn remove_member(&mut self, m: &[u8]) -> bool {
        self.remove(m)
    }
    fn is_empty(&self) -> bool {
        self.is_empty()
    }
}

impl Members for ZSet {
    const REMOVED: (u32, &'static str) = (ev::ZSET, "zrem");
    fn remove_member(&mut self, m: &[u8]) -> bool {
        self.remove(m).is_some()
    }
    fn is_empty(&self) -> bool {
        self.is_empty()
    }
}

/// HDEL / SREM / ZREM `key member...`: replies how many members were there, and
/// deletes the key once it is empty (Redis keeps no empty collection).
pub fn remove_members<C: Members>(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let db = &mut ex.store.dbs[ex.db];
    let Some(c) = lookup_mut::<C>(db, key, ex.now)? else {
        ex.reply.int(0);
        return Ok(());
    };
    let mut removed = 0;
    for m in a.rest() {
        if c.is_empty() {
            break;
        }
        removed += i64::from(c.remove_member(m));
    }
    if removed > 0 {
        notify(ex.db, C::REMOVED.0, C::REMOVED.1, key);
    }
    if c.is_empty() {
        db.remove(key);
        notify(ex.db, ev::GENERIC, "del", key);
    }
    ex.reply.int(removed);
    Ok(())
}

/// Redis's index range clamping (LRANGE, LTRIM, ZRANGE by rank...): negative
/// indexes count from the end; the inclusive `start..=end` within `len`, or
/// `None` when the range is empty.
pub fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let start = if start < 0 {
        (start + llen).max(0)
    } else {
        start
    };
    let end = if end < 0 { end + llen } else { end };
    if start > end || start >= llen {
        return None;
    }
    Some((start as usize, end.min(llen - 1) as usize))
}

/// Largest negative count SRANDMEMBER / HRANDFIELD / ZRANDMEMBER serve: the
/// reply is built in memory, and Redis itself falls over long before a count
/// near -LONG_MAX completes. Bad input must not take the server down.
pub const MAX_RANDOM_REPEATS: i64 = 1 << 24;

/// Refuses a negative random-member count beyond [`MAX_RANDOM_REPEATS`].
pub fn check_random_repeats(n: i64) -> CmdResult {
    if n < -MAX_RANDOM_REPEATS {
        return Err(CmdError::Msg(format!(
            "ERR value is out of range, value must between -{MAX_RANDOM_REPEATS} and 9223372036854775807"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Shard halves run straight against a `Store`: no runtime, no sockets.
    use super::*;
    use bytes::{Bytes, BytesMut};

    use crate::protocol::Proto;
    use crate::shard::Stats;
    use crate::store::Store;

    /// Runs one shard command (`args[0]` is the name) and returns its raw reply.
    pub fn run(store: &mut Store, args: &[&str]) -> String {
        install();
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        let spec = table::lookup(&argv[0]).expect("known command");
        assert!(
            matches!(spec.handler, table::Handler::Shard(_)),
            "{} is not a shard command",
            spec.name
        );
        let stats = Stats::default();
        let mut out = BytesMut::new();
        let now = crate::store::now_ms();
        let mut ex = Exec {
            store,
            shards: (0, 1),
            stats: &stats,
            db: 0,
            now,
            reply: crate::protocol::Reply::new(&mut out, Proto::Resp2),
        };
        crate::dispatch::exec::run_in(spec, &mut ex, &argv);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn strings() {
        let mut st = Store::default();
        assert_eq!(run(&mut st, &["set", "k", "v", "NX"]), "+OK\r\n");
        assert_eq!(run(&mut st, &["set", "k", "w", "NX"]), "$-1\r\n");
        assert_eq!(run(&mut st, &["set", "k", "w", "XX", "GET"]), "$1\r\nv\r\n");
        assert_eq!(run(&mut st, &["append", "k", "xyz"]), ":4\r\n");
        assert_eq!(
            run(&mut st, &["getrange", "k", "-3", "-1"]),
            "$3\r\nxyz\r\n"
        );
        assert_eq!(
            run(&mut st, &["incr", "k"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            run(&mut st, &["incrby", "n", "9223372036854775807"]),
            ":9223372036854775807\r\n"
        );
        assert_eq!(
            run(&mut st, &["incr", "n"]),
            "-ERR increment or decrement would overflow\r\n"
        );
        assert_eq!(
            run(&mut st, &["incrbyfloat", "f", "10.5"]),
            "$4\r\n10.5\r\n"
        );
        assert_eq!(run(&mut st, &["incrbyfloat", "f", "0.1"]), "$4\r\n10.6\r\n");
        assert_eq!(
            run(&mut st, &["setrange", "r", "536870912", "x"]),
            "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
        );
        assert_eq!(
            run(&mut st, &["mset", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'mset' command\r\n"
        );
        assert_eq!(run(&mut st, &["msetnx", "a", "1", "k", "2"]), ":0\r\n");
        assert_eq!(
            run(&mut st, &["mget", "a", "n"]),
            "*2\r\n$-1\r\n$19\r\n9223372036854775807\r\n"
        );
        assert_eq!(run(&mut st, &["setbit", "bits", "7", "1"]), ":0\r\n");
        assert_eq!(run(&mut st, &["bitcount", "bits"]), ":1\r\n");
    }

    #[test]
    fn keyspace_and_expiry() {
        let mut st = Store::default();
        run(&mut st, &["set", "k", "v"]);
        assert_eq!(run(&mut st, &["ttl", "k"]), ":-1\r\n");
        assert_eq!(run(&mut st, &["expire", "k", "100", "XX"]), ":0\r\n");
        assert_eq!(run(&mut st, &["expire", "k", "100", "NX"]), ":1\r\n");
        assert_eq!(run(&mut st, &["ttl", "k"]), ":100\r\n");
        assert_eq!(run(&mut st, &["expire", "k", "50", "GT"]), ":0\r\n");
        assert_eq!(run(&mut st, &["persist", "k"]), ":1\r\n");
        assert_eq!(run(&mut st, &["rename", "k", "k2"]), "+OK\r\n");
        assert_eq!(run(&mut st, &["rename", "k", "k3"]), "-ERR no such key\r\n");
        assert_eq!(
            run(&mut st, &["copy", "k2", "k2"]),
            "-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(run(&mut st, &["copy", "k2", "k4", "DB", "3"]), ":1\r\n");
        assert_eq!(run(&mut st, &["exists", "k2", "k2", "nope"]), ":2\r\n");
        assert_eq!(run(&mut st, &["move", "k2", "3"]), ":1\r\n");
        assert_eq!(run(&mut st, &["del", "k2"]), ":0\r\n");
        assert_eq!(st.dbs[3].len(), 2);
        // An expired key is invisible even before active expiry removes it.
        run(&mut st, &["set", "gone", "v", "PX", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(run(&mut st, &["get", "gone"]), "$-1\r\n");
        assert_eq!(run(&mut st, &["type", "gone"]), "+none\r\n");
    }
}

#[cfg(test)]
mod table_tests {
    //! The table as the families fill it.
    #[test]
    fn readme_lists_every_command() {
        super::install();
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        let list = markdown_command_list();
        assert!(
            readme.contains(&list),
            "README.md's command list is stale; replace it with:\n{list}"
        );
    }

    use crate::dispatch::table::*;
    use bytes::Bytes;

    fn argv(s: &[&str]) -> Vec<Bytes> {
        s.iter().map(|a| Bytes::from(a.to_string())).collect()
    }

    fn keys(spec: &CommandSpec, a: &[&str]) -> Option<Vec<usize>> {
        let mut v = vec![];
        spec.for_each_key(&argv(a), |i, _| v.push(i)).then_some(v)
    }

    #[test]
    fn every_command_is_well_formed() {
        super::install();
        for (name, spec) in table() {
            assert_eq!(*name, spec.name);
            assert_eq!(name.to_lowercase(), *name);
            assert!(spec.arity != 0, "{name}");
            assert!(!spec.summary.is_empty(), "{name}");
            assert!(
                spec.has(flag::WRITE)
                    || spec.has(flag::READONLY)
                    || !spec.has_keys()
                    // Scripts lock for themselves; their keys are only declared.
                    || matches!(spec.handler, Handler::Conn(_)),
                "{name}: keyed commands say whether they write"
            );
            for sub in spec.subcommands {
                assert!(sub.name.starts_with(&format!("{name}|")), "{}", sub.name);
            }
        }
    }

    #[test]
    fn key_positions() {
        super::install();
        let mset = lookup(b"MSET").unwrap();
        assert_eq!(keys(mset, &["mset", "a", "1", "b", "2"]), Some(vec![1, 3]));
        let get = lookup(b"get").unwrap();
        assert_eq!(keys(get, &["get", "a"]), Some(vec![1]));
        let del = lookup(b"DeL").unwrap();
        assert_eq!(keys(del, &["del", "a", "b", "c"]), Some(vec![1, 2, 3]));
        assert!(lookup(b"nosuchcommand").is_none());
    }

    #[test]
    fn arity() {
        super::install();
        let get = lookup(b"get").unwrap();
        assert!(get.arity_ok(2) && !get.arity_ok(3) && !get.arity_ok(1));
        let mset = lookup(b"mset").unwrap();
        assert!(mset.arity_ok(3) && mset.arity_ok(5) && !mset.arity_ok(2));
    }
}
