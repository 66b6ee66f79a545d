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
pub mod replay;
pub mod route;
pub mod stats;
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
