//! corekv: a Redis-compatible in-memory data-structure server with a
//! thread-per-core, shared-nothing design.
//!
//! # Layout
//! - [`protocol`]: RESP2/RESP3 request parsing (zero-copy) and reply writing.
//! - [`server`]: start-up, listeners, connections and pipelines.
//! - [`shard`]: shard runtime, key → slot → shard, cross-shard messages,
//!   key locks and multi-shard transactions.
//! - [`store`]: the single-threaded keyspace of one shard: values, expiry.
//! - [`commands`]: the declarative command table and one module per family.
//! - [`config`]: flags, config file and `CONFIG GET|SET` parameters.
//!
//! See `ARCHITECTURE.md` for how a command travels through these pieces.

pub mod commands;
pub mod config;
pub mod protocol;
pub mod server;
pub mod shard;
pub mod store;
pub mod util;
