//! The dispatch layer: the command table, the argument cursor, a client's
//! state, routing a pipeline to the shards that own its keys, and coordinating
//! commands whose keys span shards.
//!
//! It sits between the families (`commands`, which fill the table) and the
//! shards (`shard`, which run work and hold locks): a command's path is
//! `server::conn` → [`execute`] → `route` → the owner shard's `ShardCmd` (or
//! `coord` for several shards).

pub mod args;
pub mod client;
pub mod coord;
pub mod exec;
pub mod route;
pub mod table;

pub use args::{Args, CmdError, CmdResult};
pub use client::Client;
pub use exec::Exec;
pub use route::{execute, run_exec};
pub use table::CommandSpec;

use bytes::Bytes;
use futures::future::LocalBoxFuture;

/// A shard handler: touches only the local store, synchronous.
pub type ShardFn = fn(&mut Exec, &mut Args) -> CmdResult;
/// A connection handler: async, with the client; may coordinate shards.
pub type ConnFn = for<'a> fn(&'a mut Client, &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult>;

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
        $crate::dispatch::table::CommandSpec {
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
