//! Connection and server commands: PING, HELLO, AUTH, CLIENT, INFO, CONFIG,
//! COMMAND, DEBUG, SHUTDOWN, ...

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::args::eq_ic;
use super::keyspace::container_help;
use super::{Args, CmdError, CmdResult};
use crate::dispatch::Client;
use crate::dispatch::coord::on_all_shards;
use crate::dispatch::table::{self, Begin, CommandSpec, Find, KeySpec, acl, flag, ks};
use crate::protocol::{Proto, Reply, parse_i64};
use crate::shard::Shard;

/// The Redis version corekv answers as (clients gate features on it).
pub const REDIS_VERSION: &str = "7.0.15";

const CONN: u32 = acl::CONNECTION;
const NS: u32 = flag::NOSCRIPT | flag::LOADING | flag::STALE;
/// QUIT, RESET, HELLO, AUTH: allowed before AUTH and while busy.
const HANDSHAKE: u32 = NS | flag::FAST | flag::NO_AUTH | flag::ALLOW_BUSY;
/// Administrative subcommands (CONFIG GET/SET, CLIENT KILL...).
const ADMIN: u32 = flag::ADMIN | NS;

macro_rules! conn_fn {
    ($name:ident, |$c:ident, $argv:ident| $body:block) => {
        fn $name<'a>($c: &'a mut Client, $argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
            Box::pin(async move { $body })
        }
    };
}

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
    match argv.len() {
        1 => c.reply().simple("PONG"),
        2 => c.reply().bulk(&argv[1]),
        _ => return Err(CmdError::Msg(crate::dispatch::arity_error("ping"))),
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

conn_fn!(reset, |c, _argv| {
    c.multi = None;
    c.multi_dirty = false;
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

fn validate_name(n: &[u8]) -> CmdResult {
    if n.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::Static(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

conn_fn!(client_id, |c, _argv| {
    let id = c.info.id as i64;
    c.reply().int(id);
    Ok(())
});

conn_fn!(client_setname, |c, argv| {
    validate_name(&argv[2])?;
    *c.info.name.borrow_mut() = if argv[2].is_empty() {
        None
    } else {
        Some(argv[2].clone())
    };
    c.reply().ok();
    Ok(())
});

conn_fn!(client_getname, |c, _argv| {
    let name = c.info.name.borrow().clone();
    match name {
        Some(n) => c.reply().bulk(&n),
        None => c.reply().null(),
    }
    Ok(())
});

/// One CLIENT LIST line, with Redis's field names and order.
fn client_line(ci: &crate::shard::ClientInfo, shard: usize) -> String {
    let now = std::time::Instant::now();
    let s = |b: &Option<Bytes>| {
        b.as_ref()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let mut flags = String::new();
    if ci.no_evict.get() {
        flags.push('e');
    }
    if ci.no_touch.get() {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={} shard={}\n",
        ci.id,
        ci.addr,
        ci.laddr,
        ci.fd,
        s(&ci.name.borrow()),
        now.duration_since(ci.created).as_secs(),
        now.duration_since(ci.last.get()).as_secs(),
        flags,
        ci.db.get(),
        ci.last_cmd.get(),
        ci.resp.get(),
        s(&ci.lib_name.borrow()),
        s(&ci.lib_ver.borrow()),
        shard,
    )
}

conn_fn!(client_list, |c, argv| {
    let mut a = Args::new(&argv[2..]);
    let mut ids: Option<Vec<u64>> = None;
    while !a.is_empty() {
        if a.eat("TYPE") {
            let t = a.next()?;
            if !["normal", "master", "replica", "pubsub"]
                .iter()
                .any(|x| eq_ic(t, x))
            {
                return Err(CmdError::Msg(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(t)
                )));
            }
            if !eq_ic(t, "normal") {
                ids = Some(vec![]);
            }
        } else if a.eat("ID") {
            let mut v = Vec::new();
            while !a.is_empty() {
                let n = parse_i64(a.next()?)
                    .filter(|n| *n > 0)
                    .ok_or(CmdError::Static("ERR Invalid client ID"))?;
                v.push(n as u64);
            }
            ids = Some(v);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let lines = on_all_shards(&c.shard, move |sh: &Shard| {
        let mut out = String::new();
        let clients = sh.clients.borrow();
        let mut list: Vec<_> = clients.values().collect();
        list.sort_by_key(|ci| ci.id);
        for ci in list {
            if ids.as_ref().is_none_or(|v| v.contains(&ci.id)) {
                out.push_str(&client_line(ci, sh.id));
            }
        }
        out
    })
    .await;
    c.reply().verbatim(lines.concat().as_bytes());
    Ok(())
});

conn_fn!(client_info, |c, _argv| {
    let line = client_line(&c.info, c.shard.id);
    c.reply().verbatim(line.as_bytes());
    Ok(())
});

/// CLIENT KILL filters, applied on every shard.
#[derive(Clone, Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    skip_me: Option<u64>,
    /// TYPE/USER filters that no client can match (every client is a normal
    /// client of the default user).
    none: bool,
    old_style: bool,
}

conn_fn!(client_kill, |c, argv| {
    let mut f = KillFilter {
        skip_me: Some(c.info.id),
        ..Default::default()
    };
    if argv.len() == 3 {
        f.addr = Some(String::from_utf8_lossy(&argv[2]).into_owned());
        f.old_style = true;
        f.skip_me = None;
    } else {
        let mut a = Args::new(&argv[2..]);
        while !a.is_empty() {
            let opt = a.next()?.clone();
            let val = a.next()?.clone();
            let v = String::from_utf8_lossy(&val).into_owned();
            if eq_ic(&opt, "ID") {
                f.id = Some(
                    parse_i64(&val)
                        .filter(|n| *n > 0)
                        .ok_or(CmdError::Static("ERR client-id should be greater than 0"))?
                        as u64,
                );
            } else if eq_ic(&opt, "ADDR") {
                f.addr = Some(v);
            } else if eq_ic(&opt, "LADDR") {
                f.laddr = Some(v);
            } else if eq_ic(&opt, "SKIPME") {
                if eq_ic(&val, "yes") {
                    f.skip_me = Some(c.info.id);
                } else if eq_ic(&val, "no") {
                    f.skip_me = None;
                } else {
                    return Err(CmdError::Syntax);
                }
            } else if eq_ic(&opt, "TYPE") {
                if !["normal", "master", "slave", "replica", "pubsub"]
                    .iter()
                    .any(|t| eq_ic(&val, t))
                {
                    return Err(CmdError::Msg(format!("ERR Unknown client type '{v}'")));
                }
                f.none |= !eq_ic(&val, "normal");
            } else if eq_ic(&opt, "USER") {
                if &val[..] != b"default" {
                    return Err(CmdError::Msg(format!("ERR No such user '{v}'")));
                }
            } else {
                return Err(CmdError::Syntax);
            }
        }
    }
    let filter = f.clone();
    let killed: usize = on_all_shards(&c.shard, move |sh: &Shard| {
        let mut n = 0;
        for ci in sh.clients.borrow().values() {
            let f = &filter;
            let matches = !f.none
                && f.id.is_none_or(|id| id == ci.id)
                && f.addr.as_ref().is_none_or(|a| *a == ci.addr)
                && f.laddr.as_ref().is_none_or(|a| *a == ci.laddr)
                && f.skip_me != Some(ci.id);
            if matches {
                ci.killed.set(true);
                ci.peer.hang_up();
                n += 1;
            }
        }
        n
    })
    .await
    .into_iter()
    .sum();
    if f.old_style {
        if killed == 0 {
            return Err(CmdError::Static("ERR No such client"));
        }
        c.reply().ok();
    } else {
        c.reply().int(killed as i64);
    }
    if c.info.killed.get() {
        c.quit = true;
    }
    Ok(())
});

conn_fn!(client_setinfo, |c, argv| {
    let v = argv[3].clone();
    if v.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::Msg(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(&argv[2]).to_ascii_lowercase()
        )));
    }
    if eq_ic(&argv[2], "LIB-NAME") {
        *c.info.lib_name.borrow_mut() = Some(v);
    } else if eq_ic(&argv[2], "LIB-VER") {
        *c.info.lib_ver.borrow_mut() = Some(v);
    } else {
        return Err(CmdError::Msg(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(&argv[2])
        )));
    }
    c.reply().ok();
    Ok(())
});

fn on_off(v: &[u8]) -> Result<bool, CmdError> {
    if eq_ic(v, "ON") {
        Ok(true)
    } else if eq_ic(v, "OFF") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

conn_fn!(client_no_evict, |c, argv| {
    c.info.no_evict.set(on_off(&argv[2])?);
    c.reply().ok();
    Ok(())
});

conn_fn!(client_no_touch, |c, argv| {
    c.info.no_touch.set(on_off(&argv[2])?);
    c.reply().ok();
    Ok(())
});

fn help_reply(c: &mut Client, lines: &[&str]) {
    let mut r = c.reply();
    r.array(lines.len());
    for l in lines {
        r.simple(l);
    }
}

conn_fn!(client_help, |c, _argv| {
    help_reply(
        c,
        &[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, ADDR, LADDR, SKIPME.",
            "LIST [options ...]",
            "    Return information about client connections. Options: TYPE, ID.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
            "HELP",
            "    Print this help.",
        ],
    );
    Ok(())
});

// ---- INFO ----

/// Totals gathered from every shard for INFO.
#[derive(Default, Clone)]
struct ShardTotals {
    id: usize,
    keys: Vec<(usize, usize, usize)>,
    commands: u64,
    connections: u64,
    rejected: u64,
    expired: u64,
    hits: u64,
    misses: u64,
    net_in: u64,
    net_out: u64,
    clients: usize,
    blocked: usize,
    remote_batches: u64,
    txs: u64,
    ops_per_sec: u64,
    locks: (usize, usize),
}

fn shard_totals(sh: &Shard) -> ShardTotals {
    let st = sh.store.borrow();
    let s = &sh.stats;
    ShardTotals {
        id: sh.id,
        keys: st
            .dbs
            .iter()
            .enumerate()
            .map(|(i, d)| (i, d.len(), d.volatile_len()))
            .collect(),
        commands: s.commands.get(),
        connections: s.connections.get(),
        rejected: s.rejected.get(),
        expired: s.expired.get(),
        hits: s.hits.get(),
        misses: s.misses.get(),
        net_in: s.net_in.get(),
        net_out: s.net_out.get(),
        clients: sh.clients.borrow().len(),
        blocked: sh.blocked_clients(),
        remote_batches: s.remote_batches.get(),
        txs: s.txs.get(),
        ops_per_sec: s.ops_per_sec(),
        locks: sh.lock_stats(),
    }
}

fn rusage() -> (f64, f64) {
    // SAFETY: `rusage` is a plain C struct of integers and timevals, for which all
    // zero bytes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the zero-initialised struct we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "keyspace",
    "shards",
];

conn_fn!(info, |c, argv| {
    let mut sections: Vec<String> = argv[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if sections.is_empty()
        || sections
            .iter()
            .any(|s| s == "default" || s == "all" || s == "everything")
    {
        sections = DEFAULT_SECTIONS.iter().map(|s| s.to_string()).collect();
    }
    let totals = on_all_shards(&c.shard, shard_totals).await;
    let g = c.shard.globals.clone();
    let cfg = g.config().clone();
    let sum = |f: fn(&ShardTotals) -> u64| totals.iter().map(f).sum::<u64>();
    let uptime = g.started.elapsed().as_secs();
    let mut out = String::new();
    for sec in &sections {
        match sec.as_str() {
            "server" => {
                let _ = write!(
                    out,
                    "# Server\r\nredis_version:{REDIS_VERSION}\r\ncorekv_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:io_uring\r\natomicvar_api:c11-builtin\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:\r\nio_threads_active:0\r\nshards:{}\r\n\r\n",
                    env!("CARGO_PKG_VERSION"),
                    std::env::consts::OS,
                    std::env::consts::ARCH,
                    std::process::id(),
                    g.run_id,
                    g.port,
                    crate::store::now_ms() * 1000,
                    uptime,
                    uptime / 86400,
                    cfg.get("hz"),
                    cfg.get("hz"),
                    crate::store::now_ms() / 1000 % (1 << 24),
                    g.executable,
                    g.nshards,
                );
            }
            "clients" => {
                let _ = write!(
                    out,
                    "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:{}\r\n\r\n",
                    totals.iter().map(|t| t.clients).sum::<usize>(),
                    cfg.get("maxclients"),
                    totals.iter().map(|t| t.blocked).sum::<usize>(),
                    totals.iter().map(|t| t.blocked).sum::<usize>(),
                );
            }
            "memory" => {
                let rss = rss_bytes();
                let _ = write!(
                    out,
                    "# Memory\r\nused_memory:{rss}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{rss}\r\nmaxmemory:{}\r\nmaxmemory_policy:{}\r\nmem_allocator:libc\r\n\r\n",
                    human(rss),
                    human(rss),
                    cfg.get("maxmemory"),
                    cfg.get("maxmemory-policy"),
                );
            }
            "persistence" => {
                out.push_str("# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\n\r\n");
            }
            "stats" => {
                let _ = write!(
                    out,
                    "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:0\r\npubsub_patterns:0\r\ntotal_cross_shard_batches:{}\r\ntotal_multi_shard_transactions:{}\r\n\r\n",
                    sum(|t| t.connections),
                    sum(|t| t.commands),
                    sum(|t| t.ops_per_sec),
                    sum(|t| t.net_in),
                    sum(|t| t.net_out),
                    sum(|t| t.rejected),
                    sum(|t| t.expired),
                    sum(|t| t.hits),
                    sum(|t| t.misses),
                    sum(|t| t.remote_batches),
                    sum(|t| t.txs),
                );
            }
            "replication" => {
                out.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_repl_offset:0\r\n\r\n");
            }
            "cpu" => {
                let (sys, user) = rusage();
                let _ = write!(
                    out,
                    "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n\r\n"
                );
            }
            "keyspace" => {
                out.push_str("# Keyspace\r\n");
                for db in 0..crate::store::NUM_DBS {
                    let keys: usize = totals.iter().map(|t| t.keys[db].1).sum();
                    let expires: usize = totals.iter().map(|t| t.keys[db].2).sum();
                    if keys > 0 {
                        let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
                    }
                }
                out.push_str("\r\n");
            }
            "shards" => {
                out.push_str("# Shards\r\n");
                for t in &totals {
                    let keys: usize = t.keys.iter().map(|k| k.1).sum();
                    let _ = write!(
                        out,
                        "shard{}:keys={},clients={},commands={},cross_shard_batches={},transactions={},locks_held={},waiting={}\r\n",
                        t.id,
                        keys,
                        t.clients,
                        t.commands,
                        t.remote_batches,
                        t.txs,
                        t.locks.0,
                        t.locks.1
                    );
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    // Redis ends the text without the trailing blank line.
    while out.ends_with("\r\n\r\n") {
        out.truncate(out.len() - 2);
    }
    c.reply().verbatim(out.as_bytes());
    Ok(())
});

// ---- CONFIG ----

conn_fn!(config_get, |c, argv| {
    let cfg = c.shard.globals.config().clone();
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for p in &argv[2..] {
        for (k, v) in cfg.matching(p) {
            if !pairs.iter().any(|(x, _)| *x == k) {
                pairs.push((k, v));
            }
        }
    }
    let mut r = c.reply();
    r.map(pairs.len());
    for (k, v) in pairs {
        r.bulk(k.as_bytes());
        r.bulk(v.as_bytes());
    }
    Ok(())
});

conn_fn!(config_set, |c, argv| {
    let args = &argv[2..];
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Msg(crate::dispatch::arity_error("config|set")));
    }
    // All or nothing: validate on a copy, then swap it in.
    let g = c.shard.globals.clone();
    let mut cfg = g.config().clone();
    for kv in args.chunks(2) {
        let (k, v) = (
            String::from_utf8_lossy(&kv[0]),
            String::from_utf8_lossy(&kv[1]),
        );
        cfg.set(&k, &v)
            .map_err(|e| CmdError::Msg(format!("ERR {e}")))?;
    }
    if let Some(level) = log_level(cfg.get("loglevel")) {
        log::set_max_level(level);
    }
    *g.config_mut() = cfg;
    c.reply().ok();
    Ok(())
});

/// Redis's log levels mapped onto `log`'s.
pub fn log_level(name: &str) -> Option<log::LevelFilter> {
    Some(match name {
        "debug" => log::LevelFilter::Debug,
        "verbose" => log::LevelFilter::Info,
        "notice" => log::LevelFilter::Info,
        "warning" => log::LevelFilter::Warn,
        _ => return None,
    })
}

conn_fn!(config_resetstat, |c, _argv| {
    on_all_shards(&c.shard, |sh: &Shard| {
        let s = &sh.stats;
        for cell in [
            &s.commands,
            &s.connections,
            &s.rejected,
            &s.expired,
            &s.hits,
            &s.misses,
            &s.net_in,
            &s.net_out,
            &s.remote_batches,
            &s.txs,
        ] {
            cell.set(0);
        }
    })
    .await;
    c.reply().ok();
    Ok(())
});

conn_fn!(config_rewrite, |_c, _argv| {
    Err(CmdError::Static(
        "ERR The server is running without a config file",
    ))
});

conn_fn!(config_help, |c, _argv| {
    help_reply(
        c,
        &[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Print this help.",
        ],
    );
    Ok(())
});

conn_fn!(time, |c, _argv| {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut r = c.reply();
    r.array(2);
    r.bulk(d.as_secs().to_string().as_bytes());
    r.bulk(d.subsec_micros().to_string().as_bytes());
    Ok(())
});

conn_fn!(debug, |c, argv| {
    if eq_ic(&argv[1], "SLEEP") && argv.len() == 3 {
        let secs = super::args::parse_f64(&argv[2]).ok_or(CmdError::NotFloat)?;
        // Like Redis, DEBUG SLEEP blocks the server thread: here, this shard.
        std::thread::sleep(Duration::from_secs_f64(secs.clamp(0.0, 3600.0)));
        c.reply().ok();
    } else if eq_ic(&argv[1], "HELP") {
        help_reply(
            c,
            &[
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
    } else {
        return Err(CmdError::Msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&argv[1])
        )));
    }
    Ok(())
});

conn_fn!(shutdown, |c, argv| {
    for a in &argv[1..] {
        if !["NOSAVE", "SAVE", "NOW", "FORCE"]
            .iter()
            .any(|k| eq_ic(a, k))
        {
            return Err(CmdError::Syntax);
        }
    }
    log::warn!("User requested shutdown...");
    c.shard.globals.shutdown.store(true, Ordering::Relaxed);
    // Redis closes the connection without a reply on success.
    c.quit = true;
    Ok(())
});

// ---- COMMAND ----

fn all_specs() -> Vec<&'static CommandSpec> {
    let mut v: Vec<_> = table::table().values().copied().collect();
    v.sort_by_key(|s| s.name);
    v
}

fn write_info(r: &mut Reply, spec: &CommandSpec) {
    let (first, last, step) = spec.legacy_range();
    r.array(10);
    r.bulk(spec.name.as_bytes());
    r.int(spec.arity as i64);
    let flags = spec.info_flags();
    let names: Vec<&str> = flag::NAMES
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    r.set(names.len());
    for f in names {
        r.simple(f);
    }
    r.int(first);
    r.int(last);
    r.int(step);
    let acl_cats = spec.acl_categories();
    let cats: Vec<&str> = acl::NAMES
        .iter()
        .filter(|(b, _)| acl_cats & b != 0)
        .map(|(_, n)| *n)
        .collect();
    r.set(cats.len());
    for cat in cats {
        r.simple(&format!("@{cat}"));
    }
    // Tips, key specs and subcommands are sets in Redis 7.0's RESP3 reply.
    r.set(spec.tips.len());
    for t in spec.tips {
        r.bulk(t.as_bytes());
    }
    r.set(spec.keys.len());
    for k in spec.keys {
        write_key_spec(r, k);
    }
    r.set(spec.subcommands.len());
    for sub in spec.subcommands {
        write_info(r, sub);
    }
}

/// One Redis 7 key spec: notes, flags, begin_search, find_keys.
fn write_key_spec(r: &mut Reply, k: &KeySpec) {
    r.map(if k.notes.is_some() { 4 } else { 3 });
    if let Some(n) = k.notes {
        r.bulk(b"notes");
        r.bulk(n.as_bytes());
    }
    r.bulk(b"flags");
    let names: Vec<&str> = ks::NAMES
        .iter()
        .filter(|(b, _)| k.flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    r.set(names.len());
    for n in names {
        r.simple(n);
    }
    r.bulk(b"begin_search");
    r.map(2);
    r.bulk(b"type");
    match k.begin {
        Begin::Index(pos) => {
            r.bulk(b"index");
            r.bulk(b"spec");
            r.map(1);
            r.bulk(b"index");
            r.int(pos as i64);
        }
        Begin::Keyword { keyword, startfrom } => {
            r.bulk(b"keyword");
            r.bulk(b"spec");
            r.map(2);
            r.bulk(b"keyword");
            r.bulk(keyword.as_bytes());
            r.bulk(b"startfrom");
            r.int(startfrom as i64);
        }
        Begin::Unknown => {
            r.bulk(b"unknown");
            r.bulk(b"spec");
            r.map(0);
        }
    }
    r.bulk(b"find_keys");
    r.map(2);
    r.bulk(b"type");
    let fields: &[(&[u8], i64)] = match k.find {
        Find::Range {
            lastkey,
            step,
            limit,
        } => {
            r.bulk(b"range");
            &[
                (b"lastkey", lastkey as i64),
                (b"keystep", step as i64),
                (b"limit", limit as i64),
            ]
        }
        Find::KeyNum {
            keynumidx,
            firstkey,
            step,
        } => {
            r.bulk(b"keynum");
            &[
                (b"keynumidx", keynumidx as i64),
                (b"firstkey", firstkey as i64),
                (b"keystep", step as i64),
            ]
        }
        Find::Unknown => {
            r.bulk(b"unknown");
            &[]
        }
    };
    r.bulk(b"spec");
    r.map(fields.len());
    for (name, v) in fields {
        r.bulk(name);
        r.int(*v);
    }
}

conn_fn!(command, |c, argv| {
    if argv.len() > 1 {
        // Routing sends known subcommands to their own handlers.
        return Err(CmdError::Syntax);
    }
    let specs = all_specs();
    let mut r = c.reply();
    r.array(specs.len());
    for s in specs {
        write_info(&mut r, s);
    }
    Ok(())
});

conn_fn!(command_count, |c, _argv| {
    let n = table::table().len();
    c.reply().int(n as i64);
    Ok(())
});

conn_fn!(command_info, |c, argv| {
    let specs: Vec<Option<&'static CommandSpec>> = if argv.len() == 2 {
        all_specs().into_iter().map(Some).collect()
    } else {
        argv[2..].iter().map(|n| table::lookup_full(n)).collect()
    };
    let mut r = c.reply();
    r.array(specs.len());
    for s in specs {
        match s {
            Some(s) => write_info(&mut r, s),
            None => r.null_array(),
        }
    }
    Ok(())
});

fn write_docs(r: &mut Reply, spec: &CommandSpec) {
    let has_subs = !spec.subcommands.is_empty();
    r.map(if has_subs { 5 } else { 4 });
    r.bulk(b"summary");
    r.bulk(spec.summary.as_bytes());
    r.bulk(b"since");
    r.bulk(spec.since.as_bytes());
    r.bulk(b"group");
    r.bulk(spec.group.as_bytes());
    r.bulk(b"complexity");
    r.bulk(b"");
    if has_subs {
        r.bulk(b"subcommands");
        r.map(spec.subcommands.len());
        for sub in spec.subcommands {
            r.bulk(sub.name.as_bytes());
            write_docs(r, sub);
        }
    }
}

conn_fn!(command_docs, |c, argv| {
    let specs: Vec<&'static CommandSpec> = if argv.len() == 2 {
        all_specs()
    } else {
        argv[2..]
            .iter()
            .filter_map(|n| table::lookup_full(n))
            .collect()
    };
    let mut r = c.reply();
    r.map(specs.len());
    for s in specs {
        r.bulk(s.name.as_bytes());
        write_docs(&mut r, s);
    }
    Ok(())
});

conn_fn!(command_list, |c, argv| {
    let mut a = Args::new(&argv[2..]);
    let mut filter: Option<(String, Bytes)> = None;
    if a.eat("FILTERBY") {
        let kind = String::from_utf8_lossy(a.next()?).to_ascii_lowercase();
        let val = a.next()?.clone();
        if !["module", "aclcat", "pattern"].contains(&kind.as_str()) {
            return Err(CmdError::Syntax);
        }
        filter = Some((kind, val));
    }
    a.finish()?;
    let mut list: Vec<&'static str> = Vec::new();
    for s in all_specs() {
        let mut push = |spec: &'static CommandSpec| {
            let keep = match &filter {
                None => true,
                Some((k, _)) if k == "module" => false,
                Some((k, v)) if k == "aclcat" => acl::NAMES.iter().any(|(b, n)| {
                    spec.acl_categories() & b != 0 && v.eq_ignore_ascii_case(n.as_bytes())
                }),
                Some((_, v)) => crate::util::glob_match(v, spec.name.as_bytes(), true),
            };
            if keep {
                list.push(spec.name);
            }
        };
        push(s);
        for sub in s.subcommands {
            push(sub);
        }
    }
    let mut r = c.reply();
    r.array(list.len());
    for n in list {
        r.bulk(n.as_bytes());
    }
    Ok(())
});

conn_fn!(command_getkeys, |c, argv| {
    let target = &argv[2..];
    let Some(mut spec) = table::lookup(&target[0]) else {
        return Err(CmdError::Static("ERR Invalid command specified"));
    };
    if !spec.subcommands.is_empty()
        && target.len() > 1
        && let Some(sub) = table::lookup_sub(spec, &target[1])
    {
        spec = sub;
    }
    if !spec.arity_ok(target.len()) {
        return Err(CmdError::Static(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let mut keys = Vec::new();
    let ok = spec.for_each_key(target, |i, _| keys.push(target[i].clone()));
    if !ok {
        return Err(CmdError::Static(
            "ERR Invalid arguments specified for command",
        ));
    }
    if keys.is_empty() {
        return Err(CmdError::Static("ERR The command has no key arguments"));
    }
    let mut r = c.reply();
    r.array(keys.len());
    for k in keys {
        r.bulk(&k);
    }
    Ok(())
});

conn_fn!(command_help, |c, _argv| {
    help_reply(
        c,
        &[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "HELP",
            "    Print this help.",
        ],
    );
    Ok(())
});
