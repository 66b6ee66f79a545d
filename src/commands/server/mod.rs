//! Connection and server commands: PING, HELLO, AUTH, CLIENT, INFO, CONFIG,
//! COMMAND, DEBUG, SHUTDOWN, ...

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::args::eq_ic;
use super::help_reply;
use super::keyspace::container_help;
use super::{Args, CmdError, CmdResult};
use crate::dispatch::Client;
use crate::dispatch::coord::on_all_shards;
use crate::dispatch::table::{self, Begin, CommandSpec, Find, KeySpec, acl, flag, ks};
use crate::protocol::{Proto, Reply, parse_i64};
use crate::shard::Shard;

pub use crate::config::REDIS_VERSION;

const CONN: u32 = acl::CONNECTION;
const NS: u32 = flag::NOSCRIPT | flag::LOADING | flag::STALE;
/// QUIT, RESET, HELLO, AUTH: allowed before AUTH and while busy.
const HANDSHAKE: u32 = NS | flag::FAST | flag::NO_AUTH | flag::ALLOW_BUSY;
/// Administrative subcommands (CONFIG GET/SET, CLIENT KILL...).
const ADMIN: u32 = flag::ADMIN | NS;

mod client;
mod command;
mod config;
mod info;
pub use crate::config::log_level;
use client::*;
use command::*;
use config::*;
use info::*;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("ping", -1, ping)
        .flags(flag::FAST)
        .acl(acl::CONNECTION)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .doc(
            "connection",
            "1.0.0",
            "Returns the server's liveliness response.",
        ),
    CommandSpec::conn("echo", 2, echo)
        .flags(flag::LOADING | flag::STALE | flag::FAST)
        .acl(acl::CONNECTION)
        .doc("connection", "1.0.0", "Returns the given string."),
    CommandSpec::conn("quit", -1, quit)
        .flags(HANDSHAKE)
        .acl(acl::CONNECTION)
        .doc("connection", "1.0.0", "Closes the connection."),
    CommandSpec::conn("reset", 1, reset)
        .flags(HANDSHAKE)
        .acl(acl::CONNECTION)
        .doc("connection", "6.2.0", "Resets the connection."),
    CommandSpec::conn("hello", -1, hello)
        .flags(HANDSHAKE)
        .acl(acl::CONNECTION)
        .doc("connection", "6.0.0", "Handshakes with the Redis server."),
    CommandSpec::conn("auth", -2, auth)
        .flags(HANDSHAKE)
        .acl(acl::CONNECTION)
        .doc("connection", "1.0.0", "Authenticates the connection."),
    CommandSpec::conn("client", -2, container_help)
        .doc(
            "connection",
            "2.4.0",
            "A container for client connection commands.",
        )
        .subcommands(CLIENT_SUBCOMMANDS),
    CommandSpec::conn("info", -1, info)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::DANGEROUS)
        .tips(&[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ])
        .doc(
            "server",
            "1.0.0",
            "Returns information and statistics about the server.",
        ),
    CommandSpec::conn("config", -2, container_help)
        .doc(
            "server",
            "2.0.0",
            "A container for server configuration commands.",
        )
        .subcommands(CONFIG_SUBCOMMANDS),
    CommandSpec::conn("time", 1, time)
        .flags(flag::LOADING | flag::STALE | flag::FAST)
        .tips(&["nondeterministic_output"])
        .doc("server", "2.6.0", "Returns the server time."),
    CommandSpec::conn("monitor", 1, monitor).flags(ADMIN).doc(
        "server",
        "1.0.0",
        "Listen for all requests received by the server in real time",
    ),
    CommandSpec::conn("debug", -2, debug).flags(ADMIN).doc(
        "server",
        "1.0.0",
        "A container for debugging commands.",
    ),
    CommandSpec::conn("shutdown", -1, shutdown)
        .flags(
            flag::ADMIN
                | flag::NOSCRIPT
                | flag::LOADING
                | flag::STALE
                | flag::NO_MULTI
                | flag::ALLOW_BUSY,
        )
        .doc(
            "server",
            "1.0.0",
            "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        ),
    CommandSpec::conn("command", -1, command)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .tips(&["nondeterministic_output_order"])
        .doc(
            "server",
            "2.8.13",
            "Returns detailed information about all commands.",
        )
        .subcommands(COMMAND_SUBCOMMANDS),
];

static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("client|id", 2, client_id)
        .flags(flag::NOSCRIPT | flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "5.0.0",
            "Returns the unique client ID of the connection.",
        ),
    CommandSpec::conn("client|setname", 3, client_setname)
        .flags(flag::NOSCRIPT | flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .doc("connection", "2.6.9", "Sets the connection name."),
    CommandSpec::conn("client|getname", 2, client_getname)
        .flags(flag::NOSCRIPT | flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .doc("connection", "2.6.9", "Returns the name of the connection."),
    CommandSpec::conn("client|list", -2, client_list)
        .flags(ADMIN)
        .acl(acl::CONNECTION)
        .tips(&["nondeterministic_output"])
        .doc("connection", "2.4.0", "Lists open connections."),
    CommandSpec::conn("client|info", 2, client_info)
        .flags(flag::NOSCRIPT | flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .tips(&["nondeterministic_output"])
        .doc(
            "connection",
            "6.2.0",
            "Returns information about the connection.",
        ),
    CommandSpec::conn("client|kill", -3, client_kill)
        .flags(ADMIN)
        .acl(acl::CONNECTION)
        .doc("connection", "2.4.0", "Terminates open connections."),
    CommandSpec::conn("client|setinfo", 4, client_setinfo)
        .flags(NS)
        .acl(CONN | acl::SLOW)
        .doc(
            "connection",
            "7.2.0",
            "Sets information specific to the client or connection.",
        ),
    CommandSpec::conn("client|no-evict", 3, client_no_evict)
        .flags(ADMIN)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "7.0.0",
            "Sets the client eviction mode of the connection.",
        ),
    CommandSpec::conn("client|no-touch", 3, client_no_touch)
        .flags(NS)
        .acl(CONN | acl::SLOW)
        .doc(
            "connection",
            "7.2.0",
            "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        ),
    CommandSpec::conn("client|pause", -3, client_pause)
        .flags(ADMIN)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "2.9.50",
            "Stop processing commands from clients for some time",
        ),
    CommandSpec::conn("client|unpause", 2, client_unpause)
        .flags(ADMIN)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "6.2.0",
            "Resume processing of clients that were paused",
        ),
    CommandSpec::conn("client|tracking", -3, client_tracking)
        .flags(NS)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "6.0.0",
            "Enable or disable server assisted client side caching support",
        ),
    CommandSpec::conn("client|caching", 3, client_caching)
        .flags(NS)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "6.0.0",
            "Instruct the server about tracking or not keys in the next request",
        ),
    CommandSpec::conn("client|getredir", 2, client_getredir)
        .flags(NS)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "6.0.0",
            "Get tracking notifications redirection client ID if any",
        ),
    CommandSpec::conn("client|trackinginfo", 2, client_trackinginfo)
        .flags(NS)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "6.2.0",
            "Return information about server assisted client side caching for the current connection",
        ),
    CommandSpec::conn("client|reply", 3, client_reply)
        .flags(NS)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "3.2.0",
            "Instruct the server whether to reply to commands",
        ),
    CommandSpec::conn("client|help", 2, client_help)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "5.0.0",
            "Returns helpful text about the different subcommands.",
        ),
];

static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("config|get", -3, config_get)
        .flags(ADMIN)
        .doc(
            "server",
            "2.0.0",
            "Returns the effective values of configuration parameters.",
        ),
    CommandSpec::conn("config|set", -4, config_set)
        .flags(ADMIN)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"])
        .doc(
            "server",
            "2.0.0",
            "Sets configuration parameters in-flight.",
        ),
    CommandSpec::conn("config|resetstat", 2, config_resetstat)
        .flags(ADMIN)
        .doc("server", "2.0.0", "Resets the server's statistics."),
    CommandSpec::conn("config|rewrite", 2, config_rewrite)
        .flags(ADMIN)
        .doc(
            "server",
            "2.8.0",
            "Persists the effective configuration to file.",
        ),
    CommandSpec::conn("config|help", 2, config_help)
        .flags(flag::LOADING | flag::STALE)
        .doc(
            "server",
            "5.0.0",
            "Returns helpful text about the different subcommands.",
        ),
];

static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("command|count", 2, command_count)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .doc("server", "2.8.13", "Returns a count of commands."),
    CommandSpec::conn("command|info", -2, command_info)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .tips(&["nondeterministic_output_order"])
        .doc(
            "server",
            "2.8.13",
            "Returns information about one, multiple or all commands.",
        ),
    CommandSpec::conn("command|docs", -2, command_docs)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .tips(&["nondeterministic_output_order"])
        .doc(
            "server",
            "7.0.0",
            "Returns documentary information about one, multiple or all commands.",
        ),
    CommandSpec::conn("command|list", -2, command_list)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .tips(&["nondeterministic_output_order"])
        .doc("server", "7.0.0", "Returns a list of command names."),
    CommandSpec::conn("command|getkeys", -4, command_getkeys)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .doc(
            "server",
            "2.8.13",
            "Extracts the key names from an arbitrary command.",
        ),
    CommandSpec::conn("command|getkeysandflags", -4, command_getkeysandflags)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .doc(
            "server",
            "7.0.0",
            "Extracts the key names and access flags for an arbitrary command.",
        ),
    CommandSpec::conn("command|help", 2, command_help)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::CONNECTION)
        .doc(
            "server",
            "5.0.0",
            "Returns helpful text about the different subcommands.",
        ),
];

conn_fn!(ping, |c, argv| {
    if argv.len() > 2 {
        return Err(CmdError::Msg(crate::dispatch::arity_error("ping")));
    }
    if c.proto == Proto::Resp2 && c.subscribed() {
        // Subscribed RESP2 clients read pushes: PING answers in their shape.
        let mut r = c.reply();
        r.array(2);
        r.bulk(b"pong");
        r.bulk(argv.get(1).map_or(&b""[..], |m| &m[..]));
        return Ok(());
    }
    match argv.get(1) {
        None => c.reply().simple("PONG"),
        Some(m) => c.reply().bulk(m),
    }
    Ok(())
});

conn_fn!(echo, |c, argv| {
    c.reply().bulk(&argv[1]);
    Ok(())
});

conn_fn!(quit, |c, _argv| {
    c.reply().ok();
    c.quit = true;
    Ok(())
});

// MONITOR: from now on every command of every client, as a line (see
// `shard::monitor`). A second MONITOR is silently ignored, as in Redis.
conn_fn!(monitor, |c, _argv| {
    if c.exec_tx.is_some() {
        return Err(CmdError::Static(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    if !c.info.monitor.get() {
        c.start_monitor();
        c.reply().ok();
    }
    Ok(())
});

conn_fn!(reset, |c, _argv| {
    c.unsubscribe_all();
    c.stop_monitor();
    c.reply_off = false;
    c.reply_skip_next = false;
    c.multi = None;
    c.multi_dirty = false;
    c.unwatch();
    c.db = 0;
    c.info.db.set(0);
    c.proto = Proto::Resp2;
    c.info.resp.set(2);
    *c.info.name.borrow_mut() = None;
    c.info.no_evict.set(false);
    c.info.no_touch.set(false);
    c.authed = c.shard.globals.config().requirepass().is_none();
    c.reply().simple("RESET");
    Ok(())
});

/// Checks a password against `requirepass`; the default user is the only one.
fn check_auth(c: &mut Client, user: Option<&[u8]>, pass: &[u8]) -> CmdResult {
    let required = c.shard.globals.config().requirepass().map(str::to_string);
    let Some(required) = required else {
        if user.is_none() {
            return Err(CmdError::Static(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ));
        }
        if user == Some(b"default") {
            c.authed = true;
            return Ok(());
        }
        return Err(CmdError::Static(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ));
    };
    if user.is_none_or(|u| u == b"default") && pass == required.as_bytes() {
        c.authed = true;
        Ok(())
    } else {
        Err(CmdError::Static(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ))
    }
}

conn_fn!(auth, |c, argv| {
    match argv.len() {
        2 => check_auth(c, None, &argv[1])?,
        3 => check_auth(c, Some(&argv[1]), &argv[2])?,
        _ => return Err(CmdError::Syntax),
    }
    c.reply().ok();
    Ok(())
});

conn_fn!(hello, |c, argv| {
    let mut a = Args::new(&argv[1..]);
    let mut proto = c.proto;
    if !a.is_empty() {
        let v = parse_i64(a.next()?).ok_or(CmdError::Static(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        proto = match v {
            2 => Proto::Resp2,
            3 => Proto::Resp3,
            _ => return Err(CmdError::Static("NOPROTO unsupported protocol version")),
        };
    }
    let mut name = None;
    while !a.is_empty() {
        if a.eat("AUTH") && a.len() >= 2 {
            let (u, p) = (a.next()?.clone(), a.next()?.clone());
            check_auth(c, Some(&u), &p)?;
        } else if a.eat("SETNAME") && !a.is_empty() {
            let n = a.next()?.clone();
            validate_name(&n)?;
            name = Some(n);
        } else {
            let opt = a.next()?;
            return Err(CmdError::Msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if !c.authed {
        return Err(CmdError::Static(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(n) = name {
        *c.info.name.borrow_mut() = Some(n);
    }
    c.proto = proto;
    c.info.resp.set(if proto == Proto::Resp3 { 3 } else { 2 });
    let id = c.info.id as i64;
    let mut r = c.reply();
    r.map(7);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk(REDIS_VERSION.as_bytes());
    r.bulk(b"proto");
    r.int(if proto == Proto::Resp3 { 3 } else { 2 });
    r.bulk(b"id");
    r.int(id);
    r.bulk(b"mode");
    r.bulk(b"standalone");
    r.bulk(b"role");
    r.bulk(b"master");
    r.bulk(b"modules");
    r.array(0);
    Ok(())
});
