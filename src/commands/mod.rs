//! Commands: the table, the argument cursor, and one module per family.
//!
//! A family module exports `COMMANDS: &[CommandSpec]`. Shard handlers
//! (`fn(&mut Exec, &mut Args) -> CmdResult`) touch only the local store and are
//! synchronous; connection handlers (`ConnFn`) are async and may coordinate shards.

pub mod args;
pub mod bits;
pub mod keyspace;
pub mod server;
pub mod string;
pub mod table;

use bytes::{Bytes, BytesMut};
use futures::future::LocalBoxFuture;

pub use args::{Args, CmdError, CmdResult};
pub use table::CommandSpec;

use crate::protocol::{Proto, Reply};
use crate::server::conn::Client;
use crate::shard::Shard;
use crate::store::{Db, Store};

/// Every family's commands; the table is built from this list.
pub const FAMILIES: &[&[CommandSpec]] = &[string::COMMANDS, keyspace::COMMANDS, server::COMMANDS];

pub type ShardFn = fn(&mut Exec, &mut Args) -> CmdResult;
pub type ConnFn = for<'a> fn(&'a mut Client, &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult>;

/// What a shard handler gets: this shard's store, the client's db, the time the
/// command started (expiry is judged against one instant per command, as Redis
/// does) and the reply writer.
pub struct Exec<'a> {
    pub store: &'a mut Store,
    pub shard: &'a Shard,
    pub db: usize,
    pub now: u64,
    pub reply: Reply<'a>,
}

impl Exec<'_> {
    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.store.dbs[self.db]
    }

    pub fn hit(&self, found: bool) {
        let s = &self.shard.stats;
        crate::shard::Stats::add(if found { &s.hits } else { &s.misses }, 1);
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
    let mut store = shard.store.borrow_mut();
    let now = crate::store::now_ms();
    crate::store::set_clock(now);
    let mut ex = Exec {
        store: &mut store,
        shard,
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
