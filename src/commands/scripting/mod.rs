//! The scripting family: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, on
//! Lua 5.1 set up as Redis 7.0 sets it up (`vm`, `prelude.lua`).
//!
//! A script runs on its client's shard as a coroutine: each `redis.call`
//! yields the command to this module, which runs it wherever its keys live
//! (as EXEC runs its commands) and resumes the script with the reply.
//! Atomicity: a script holds every shard for its whole run (as EXEC does), so
//! keys it did not declare are as safe as declared ones and no other client
//! sees a state between two of its commands.

mod bit;
mod cjson;
mod cmsgpack;
mod convert;
pub mod function;
mod lstruct;
mod luaaux;
mod vm;

pub use vm::{cached_scripts, memory as lua_memory};

use bytes::Bytes;
use futures::future::LocalBoxFuture;
use mlua::{MultiValue, Value};

use super::{CmdError, CmdResult, CommandSpec};
use crate::dispatch::Client;
use crate::dispatch::route::ScriptCall;
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{acl, flag};
use crate::protocol::Proto;
use crate::shard::functions::flag as sflag;
use crate::shard::locks::LockSet;
use crate::shard::script;

const EVAL_FLAGS: u32 = flag::NOSCRIPT
    | flag::SKIP_MONITOR
    | flag::MAY_REPLICATE
    | flag::NO_MANDATORY_KEYS
    | flag::STALE;
const EVAL_RO_FLAGS: u32 =
    flag::NOSCRIPT | flag::SKIP_MONITOR | flag::NO_MANDATORY_KEYS | flag::STALE | flag::READONLY;

pub(super) const WORST_RW: &str =
    "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE";
pub(super) const WORST_RO: &str =
    "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS";

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("eval", -3, eval)
        .flags(EVAL_FLAGS)
        .keys(&[keynum(2, 0, 1, 1, RW | ACCESS | UPDATE).notes(WORST_RW)])
        .acl(acl::SCRIPTING)
        .doc("scripting", "2.6.0", "Execute a Lua script server side"),
    CommandSpec::conn("evalsha", -3, evalsha)
        .flags(EVAL_FLAGS)
        .keys(&[keynum(2, 0, 1, 1, RW | ACCESS | UPDATE)])
        .acl(acl::SCRIPTING)
        .doc("scripting", "2.6.0", "Execute a Lua script server side"),
    CommandSpec::conn("eval_ro", -3, eval_ro)
        .flags(EVAL_RO_FLAGS)
        .keys(&[keynum(2, 0, 1, 1, RO | ACCESS).notes(WORST_RO)])
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Execute a read-only Lua script server side",
        ),
    CommandSpec::conn("evalsha_ro", -3, evalsha_ro)
        .flags(EVAL_RO_FLAGS)
        .keys(&[keynum(2, 0, 1, 1, RO | ACCESS)])
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Execute a read-only Lua script server side",
        ),
    CommandSpec::conn("script", -2, super::keyspace::container_help)
        .doc(
            "scripting",
            "2.6.0",
            "A container for Lua scripts management commands",
        )
        .subcommands(SCRIPT_SUBCOMMANDS),
];

static SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("script|load", 3, script_load)
        .flags(flag::NOSCRIPT | flag::STALE)
        .acl(acl::SCRIPTING)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"])
        .doc(
            "scripting",
            "2.6.0",
            "Load the specified Lua script into the script cache.",
        ),
    CommandSpec::conn("script|exists", -3, script_exists)
        .flags(flag::NOSCRIPT)
        .acl(acl::SCRIPTING)
        .tips(&[
            "request_policy:all_shards",
            "response_policy:agg_logical_and",
        ])
        .doc(
            "scripting",
            "2.6.0",
            "Check existence of scripts in the script cache.",
        ),
    CommandSpec::conn("script|flush", -2, script_flush)
        .flags(flag::NOSCRIPT)
        .acl(acl::SCRIPTING)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"])
        .doc(
            "scripting",
            "2.6.0",
            "Remove all the scripts from the script cache.",
        ),
    CommandSpec::conn("script|kill", 2, script_kill)
        .flags(flag::NOSCRIPT | flag::ALLOW_BUSY)
        .acl(acl::SCRIPTING)
        .tips(&["request_policy:all_shards", "response_policy:one_succeeded"])
        .doc(
            "scripting",
            "2.6.0",
            "Kill the script currently in execution.",
        ),
    CommandSpec::conn("script|help", 2, script_help)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "5.0.0",
            "Show helpful text about the different subcommands",
        ),
];

conn_fn!(eval, |c, argv| run(c, argv, false, false).await);
conn_fn!(evalsha, |c, argv| run(c, argv, true, false).await);
conn_fn!(eval_ro, |c, argv| run(c, argv, false, true).await);
conn_fn!(evalsha_ro, |c, argv| run(c, argv, true, true).await);

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// Redis's `evalExtractShebangFlags`: the script's flags (`EVAL_COMPAT`
/// without a shebang), or the error for a bad shebang.
fn shebang_flags(body: &[u8]) -> Result<u8, String> {
    if !body.starts_with(b"#!") {
        return Ok(sflag::EVAL_COMPAT);
    }
    let Some(end) = memchr::memchr(b'\n', body) else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_whitespace();
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = 0;
    for p in parts {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {p}"));
        };
        for f in list.split(',').filter(|f| !f.is_empty()) {
            match sflag::by_name(f.as_bytes()) {
                Some(bit) => flags |= bit,
                None => return Err(format!("ERR Unexpected flag in script shebang: {f}")),
            }
        }
    }
    Ok(flags)
}

/// EVAL and friends: find or compile the script, then run it.
async fn run(c: &mut Client, argv: &[Bytes], by_sha: bool, ro: bool) -> CmdResult {
    let n = numkeys(argv, CmdError::NotInteger)?;
    let (sha, body) = if by_sha {
        let sha = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        if sha.len() != 40 {
            return Err(CmdError::Static(NOSCRIPT));
        }
        match vm::stored(&sha) {
            Some(body) => (sha, body),
            None => return Err(CmdError::Static(NOSCRIPT)),
        }
    } else {
        (vm::sha1hex(&argv[1]), argv[1].clone())
    };
    let flags = shebang_flags(&body).map_err(CmdError::Msg)?;
    let lua = vm::get().map_err(CmdError::Msg)?;
    let f = lua.function(&sha, &body).map_err(CmdError::Msg)?;
    if !by_sha {
        vm::store(sha.clone(), body);
    }
    invoke(
        c,
        &lua,
        Invocation {
            f,
            name: &sha,
            argv,
            function: false,
            flags,
            ro,
            keys: &argv[3..3 + n],
            args: &argv[3 + n..],
        },
    )
    .await
}

/// The key count of EVAL or FCALL (`argv[2]`), checked against the
/// arguments there are; `bad` when it is not a number.
fn numkeys(argv: &[Bytes], bad: CmdError) -> Result<usize, CmdError> {
    let numkeys = crate::protocol::parse_i64(&argv[2]).ok_or(bad)?;
    if numkeys > argv.len() as i64 - 3 {
        return Err(CmdError::Static(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(CmdError::Static("ERR Number of keys can't be negative"));
    }
    Ok(numkeys as usize)
}

/// A script or function about to run.
struct Invocation<'a> {
    /// The compiled script, or the function's callback.
    f: mlua::Function,
    /// The script's SHA1 or the function's name (for error texts).
    name: &'a str,
    /// The command that runs it (FUNCTION STATS).
    argv: &'a [Bytes],
    /// A function gets its keys and arguments as parameters, a script as
    /// the globals KEYS and ARGV.
    function: bool,
    flags: u8,
    /// EVAL_RO, EVALSHA_RO, FCALL_RO.
    ro: bool,
    keys: &'a [Bytes],
    args: &'a [Bytes],
}

/// Redis's `scriptPrepareForRun` checks, then the run: lock, drive,
/// release.
async fn invoke(c: &mut Client, lua: &vm::Vm, inv: Invocation<'_>) -> CmdResult {
    let compat = inv.flags & sflag::EVAL_COMPAT != 0;
    let no_writes = !compat && inv.flags & sflag::NO_WRITES != 0;
    if !compat && !no_writes {
        if c.shard.globals.persist.refuses_writes() {
            return Err(CmdError::Static(crate::shard::persist::MISCONF));
        }
        if crate::shard::aof::write_failed() {
            return Err(CmdError::Msg(crate::shard::aof::write_error(
                &c.shard.globals,
            )));
        }
        if inv.ro {
            return Err(CmdError::Static(
                "ERR Can not execute a script with write flag using *_ro command.",
            ));
        }
    }
    let keys = lua_array(lua, inv.keys);
    let args = lua_array(lua, inv.args);
    let (Ok(keys), Ok(args)) = (keys, args) else {
        return Err(CmdError::Static("ERR Lua setup failed"));
    };
    let parts = (0..c.shard.nshards).map(|s| (s, LockSet::Global)).collect();
    let tx = c.tx(parts).await;
    let outer = c.exec_tx.replace(tx.id);
    // A SELECT inside the script is the script's own (Redis runs it on a
    // client of its own).
    let db = c.db;
    // KEYS and ARGV are the interpreter's globals: set only once this script
    // holds every shard, so no other script runs until it ends.
    let kind = if inv.function {
        script::Kind::Function
    } else {
        script::Kind::Eval
    };
    script::begin(kind, inv.name, inv.argv, c.replaying);
    let start = if inv.function {
        lua.start_fn.call::<mlua::Thread>((inv.f, keys, args))
    } else {
        lua.start.call::<mlua::Thread>((inv.f, keys, args))
    };
    let start = start.and_then(|co| lua.hook_script(&co).map(|_| co));
    let result = match start {
        Ok(co) => {
            lua.resp.set(2);
            let mut reads = false;
            let read_only = inv.ro || no_writes;
            let r = drive(c, lua, &tx, co, inv.name, read_only, &mut reads).await;
            // As Redis: a tracking client that ran a script which read
            // anything is told when any of its declared keys changes.
            if reads && !inv.keys.is_empty() {
                c.track_keys(inv.keys.to_vec()).await;
            }
            r
        }
        Err(e) => Err(CmdError::Msg(format!("ERR {e}"))),
    };
    script::end();
    c.db = db;
    c.exec_tx = outer;
    tx.release().await;
    result
}

fn lua_array(lua: &vm::Vm, items: &[Bytes]) -> mlua::Result<mlua::Table> {
    let t = lua.lua.create_table_with_capacity(items.len(), 0)?;
    for (i, a) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.lua.create_string(a)?)?;
    }
    Ok(t)
}

/// Resumes the script until it ends, running the commands it calls.
async fn drive(
    c: &mut Client,
    lua: &vm::Vm,
    tx: &crate::shard::tx::Tx,
    co: mlua::Thread,
    sha: &str,
    read_only: bool,
    reads: &mut bool,
) -> CmdResult {
    let mut resume: Vec<Value> = Vec::new();
    loop {
        let mut args = vec![Value::Thread(co.clone())];
        args.append(&mut resume);
        let out: MultiValue = lua
            .step
            .call(MultiValue::from_vec(args))
            .map_err(|e| CmdError::Msg(format!("ERR {e}")))?;
        let mut out = out.into_vec().into_iter();
        let kind = match out.next() {
            Some(Value::String(s)) => s.to_string_lossy(),
            _ => String::new(),
        };
        match kind.as_str() {
            "call" => {
                let nested = matches!(out.next(), Some(Value::Boolean(true)));
                let raise = matches!(out.next(), Some(Value::Boolean(true)));
                // The call's arguments: `[1..=n]`.
                let args = match out.next() {
                    Some(Value::Table(t)) => {
                        let n = t.raw_get::<i64>("n").unwrap_or(0);
                        (1..=n)
                            .map(|i| t.raw_get::<Value>(i).unwrap_or(Value::Nil))
                            .collect()
                    }
                    _ => Vec::new(),
                };
                let (is_err, v) = call(c, lua, tx, args, read_only, reads).await;
                if is_err && raise {
                    if nested {
                        resume = vec![lua.raise.clone(), v];
                        continue;
                    }
                    let e: Value = lua
                        .fail
                        .call((co.clone(), v))
                        .map_err(|e| CmdError::Msg(format!("ERR {e}")))?;
                    c.reply().error(&error_text(&e, sha));
                    return Ok(());
                }
                resume = vec![v];
            }
            "tick" => {
                // The script is busy: the shard's other work gets a turn
                // (its clients are answered -BUSY), then the script goes on.
                crate::shard::yield_now().await;
            }
            "done" => {
                let v = out.next().unwrap_or(Value::Nil);
                let resp = lua.resp.get();
                let mut r = c.reply();
                convert::lua_to_reply(&v, &mut r, resp);
                return Ok(());
            }
            _ => {
                let e = out.next().unwrap_or(Value::Nil);
                c.reply().error(&error_text(&e, sha));
                return Ok(());
            }
        }
    }
}

/// The reply text of a failed script: Redis's `err` plus where it failed.
fn error_text(e: &Value, sha: &str) -> String {
    let Value::Table(t) = e else {
        return "ERR execution failure".into();
    };
    let field = |k: &str| match t.raw_get::<Value>(k) {
        Ok(Value::String(s)) => Some(s.to_string_lossy()),
        Ok(Value::Integer(i)) => Some(i.to_string()),
        Ok(Value::Number(n)) => Some(format!("{n}")),
        _ => None,
    };
    let mut msg = field("err").unwrap_or_else(|| "ERR execution failure".into());
    if let (Some(source), Some(line)) = (field("source"), field("line")) {
        msg.push_str(&format!(" script: {sha}, on {source}:{line}."));
    }
    msg
}

/// One `redis.call`/`redis.pcall`: (whether the reply is an error, the
/// reply as a Lua value).
async fn call(
    c: &mut Client,
    lua: &vm::Vm,
    tx: &crate::shard::tx::Tx,
    args: Vec<Value>,
    read_only: bool,
    reads: &mut bool,
) -> (bool, Value) {
    let fail = |msg: &str| -> (bool, Value) {
        let v = lua
            .lua
            .create_string(msg)
            .and_then(|s| lua.error_table.call::<Value>(s))
            .unwrap_or(Value::Nil);
        (true, v)
    };
    if args.is_empty() {
        return fail("Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for a in &args {
        match a {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            // Redis formats numbers with %.17g, not Lua's %.14g.
            Value::Integer(i) => argv.push(Bytes::from(i.to_string())),
            Value::Number(n) => argv.push(Bytes::from(crate::num::format_double(*n))),
            _ => return fail("Lua redis lib command arguments must be strings or integers"),
        }
    }
    let call = match ScriptCall::new(c, argv) {
        Ok(call) => call,
        Err(msg) => return fail(&format!("-{msg}")),
    };
    if read_only && call.spec().has(flag::WRITE | flag::MAY_REPLICATE) {
        return fail("-ERR Write commands are not allowed from read-only scripts.");
    }
    *reads |= call.spec().has(flag::READONLY);
    if call.spec().has(flag::WRITE) {
        script::wrote();
    }
    let saved = c.proto;
    c.proto = if lua.resp.get() == 3 {
        Proto::Resp3
    } else {
        Proto::Resp2
    };
    let mark = c.out.len();
    call.run(c, tx).await;
    let reply = c.out.split_off(mark);
    c.proto = saved;
    let is_err = reply.first() == Some(&b'-');
    match convert::reply_to_lua(&lua.lua, &lua.error_table, &reply) {
        Ok(v) => (is_err, v),
        Err(e) => fail(&format!("ERR {e}")),
    }
}

conn_fn!(script_load, |c, argv| {
    let body = argv[2].clone();
    let sha = vm::sha1hex(&body);
    shebang_flags(&body).map_err(CmdError::Msg)?;
    let lua = vm::get().map_err(CmdError::Msg)?;
    lua.function(&sha, &body).map_err(CmdError::Msg)?;
    vm::store(sha.clone(), body);
    c.reply().bulk(sha.as_bytes());
    Ok(())
});

conn_fn!(script_exists, |c, argv| {
    let shas = &argv[2..];
    c.reply().array(shas.len());
    for s in shas {
        let sha = String::from_utf8_lossy(s).to_ascii_lowercase();
        let known = vm::stored(&sha).is_some();
        c.reply().int(known as i64);
    }
    Ok(())
});

conn_fn!(script_flush, |c, argv| {
    match argv.len() {
        2 => {}
        3 if super::args::eq_ic(&argv[2], "SYNC") || super::args::eq_ic(&argv[2], "ASYNC") => {}
        _ => {
            return Err(CmdError::Static(
                "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
            ));
        }
    }
    vm::flush();
    c.reply().ok();
    Ok(())
});

conn_fn!(script_kill, |c, _argv| {
    script::kill(script::Kind::Eval).map_err(CmdError::Static)?;
    c.reply().ok();
    Ok(())
});

conn_fn!(script_help, |c, _argv| {
    super::help_reply(
        c,
        &[
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
});
