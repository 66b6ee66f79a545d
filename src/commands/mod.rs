//! Commands: the table, the argument cursor, and one module per family.
//!
//! A family module exports `COMMANDS: &[CommandSpec]`. Shard handlers
//! (`fn(&mut Exec, &mut Args) -> CmdResult`) touch only the local store and are
//! synchronous; connection handlers (`ConnFn`) are async and may coordinate shards.

pub mod args;
pub mod bits;
pub mod blocking;
pub mod cross;
pub mod hash;
pub mod hll;
pub mod keyspace;
pub mod list;
pub mod server;
pub mod set;
pub mod sort;
pub mod string;
pub mod table;
pub mod transaction;
pub mod zset;

use bytes::{Bytes, BytesMut};
use futures::future::LocalBoxFuture;

pub use args::{Args, CmdError, CmdResult};
pub use table::CommandSpec;

use crate::protocol::{Proto, Reply};
use crate::server::conn::Client;
use crate::shard::{Shard, Stats};
use crate::store::{Db, Store};

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
    sort::COMMANDS,
];

pub type ShardFn = fn(&mut Exec, &mut Args) -> CmdResult;
pub type ConnFn = for<'a> fn(&'a mut Client, &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult>;

/// What a shard handler gets: this shard's store, the client's db, the time the
/// command started (expiry is judged against one instant per command, as Redis
/// does) and the reply writer.
pub struct Exec<'a> {
    pub store: &'a mut Store,
    /// (this shard, number of shards): for commands whose arguments may name
    /// keys of other shards (SORT's BY/GET patterns).
    pub shards: (usize, usize),
    pub stats: &'a Stats,
    pub db: usize,
    pub now: u64,
    pub reply: Reply<'a>,
}

impl Exec<'_> {
    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.store.dbs[self.db]
    }

    /// Counts a read hit or miss for INFO's keyspace_hits/misses.
    pub fn hit(&self, found: bool) {
        let s = self.stats;
        Stats::add(if found { &s.hits } else { &s.misses }, 1);
    }
}

/// Runs a shard command on this shard and writes its reply (or error) into `out`.
pub fn run_shard_command(
    shard: &Shard,
    spec: &CommandSpec,
    db: u8,
    proto: Proto,
    argv: &[Bytes],
    out: &mut BytesMut,
) {
    let table::Handler::Shard(f) = spec.handler else {
        Reply::new(out, proto).error("ERR internal routing error");
        return;
    };
    {
        let mut store = shard.store.borrow_mut();
        let now = crate::store::now_ms();
        crate::store::set_clock(now);
        let mut ex = Exec {
            store: &mut store,
            shards: (shard.id, shard.nshards),
            stats: &shard.stats,
            db: db as usize,
            now,
            reply: Reply::new(out, proto),
        };
        // Subcommands (OBJECT ENCODING ...) see their arguments after the subcommand.
        let skip = if spec.name.contains('|') { 2 } else { 1 };
        let mut args = Args::new(&argv[skip.min(argv.len())..]);
        if let Err(e) = f(&mut ex, &mut args) {
            ex.reply.error(&e.message());
        }
    }
    shard.after_work();
}

/// Redis 7's text for an unknown command, quoting up to 128 bytes of arguments.
pub fn unknown_command_error(argv: &[Bytes]) -> String {
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let s = String::from_utf8_lossy(&a[..a.len().min(room)]);
        args.push('\'');
        args.push_str(&s);
        args.push_str("' ");
    }
    let name = String::from_utf8_lossy(&argv[0][..argv[0].len().min(128)]);
    format!("ERR unknown command '{name}', with args beginning with: {args}")
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

pub fn arity_error(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// Builds a `CommandSpec` with the common fields filled in; the family tables stay
/// one line per command.
#[macro_export]
macro_rules! cmd {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $acl:expr, $group:literal, $since:literal, $summary:literal, $handler:expr) => {
        $crate::commands::table::CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            acl: $acl,
            group: $group,
            since: $since,
            summary: $summary,
            handler: $handler,
            cross: None,
            subcommands: &[],
        }
    };
}

#[cfg(test)]
mod tests {
    //! Shard halves run straight against a `Store`: no runtime, no sockets.
    use super::*;

    /// Runs one shard command (`args[0]` is the name) and returns its raw reply.
    pub fn run(store: &mut Store, args: &[&str]) -> String {
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        let spec = table::lookup(&argv[0]).expect("known command");
        let table::Handler::Shard(f) = spec.handler else {
            panic!("{} is not a shard command", spec.name)
        };
        let stats = Stats::default();
        let mut out = BytesMut::new();
        let mut ex = Exec {
            store,
            shards: (0, 1),
            stats: &stats,
            db: 0,
            now: crate::store::now_ms(),
            reply: Reply::new(&mut out, Proto::Resp2),
        };
        if let Err(e) = f(&mut ex, &mut Args::new(&argv[1..])) {
            ex.reply.error(&e.message());
        }
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
