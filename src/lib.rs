//! corekv: a Redis-compatible in-memory data-structure server with a
//! thread-per-core, shared-nothing design.
//!
//! # Layout
//! Imports point one way, top to bottom (a test keeps it so):
//! - [`server`]: start-up, listeners, a connection's socket.
//! - [`commands`]: one module per family, each exporting its table rows.
//! - [`dispatch`]: the command table, argument cursor, client state, routing
//!   of a pipeline, coordination of commands whose keys span shards.
//! - [`shard`]: shard runtime, key → slot → shard, cross-shard messages,
//!   key locks, multi-shard transactions, blocked clients, active expiry.
//! - [`store`]: the single-threaded keyspace of one shard: values, expiry.
//! - [`protocol`], [`num`], [`util`], [`config`]: RESP parsing and reply
//!   writing, numbers, glob matching, configuration.
//!
//! See `ARCHITECTURE.md` for how a command travels through these pieces.

pub mod commands;
pub mod config;
pub mod dispatch;
pub mod num;
pub mod protocol;
pub mod server;
pub mod shard;
pub mod store;
pub mod util;
