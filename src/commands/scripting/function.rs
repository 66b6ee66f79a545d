//! Functions: FUNCTION LOAD|DELETE|FLUSH|LIST|DUMP|RESTORE|STATS|KILL|HELP,
//! FCALL and FCALL_RO. Libraries live in the process-wide registry
//! (`shard::functions`); each shard thread compiles a library the first
//! time one of its functions is called there. A function runs exactly as an
//! EVAL script does (`super::invoke`), with its keys and arguments as
//! parameters.

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::{CmdError, CmdResult, CommandSpec, Invocation, vm};
use crate::dispatch::Client;
use crate::dispatch::args::eq_ic;
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{acl, flag};
use crate::shard::functions::{self as registry, Library, Policy};
use crate::shard::{journal, script};

const FCALL_FLAGS: u32 =
    flag::NOSCRIPT | flag::SKIP_MONITOR | flag::NO_MANDATORY_KEYS | flag::STALE;
const ALL_SHARDS: &[&str] = &["request_policy:all_shards", "response_policy:all_succeeded"];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("fcall", -3, fcall)
        .flags(FCALL_FLAGS)
        .keys(&[keynum(2, 0, 1, 1, RW | ACCESS | UPDATE).notes(super::WORST_RW)])
        .acl(acl::SCRIPTING)
        .doc("scripting", "7.0.0", "Invoke a function"),
    CommandSpec::conn("fcall_ro", -3, fcall_ro)
        .flags(FCALL_FLAGS | flag::READONLY)
        .keys(&[keynum(2, 0, 1, 1, RO | ACCESS).notes(super::WORST_RO)])
        .acl(acl::SCRIPTING)
        .doc("scripting", "7.0.0", "Invoke a read-only function"),
    CommandSpec::conn("function", -2, super::super::keyspace::container_help)
        .doc("scripting", "7.0.0", "A container for function commands")
        .subcommands(FUNCTION_SUBCOMMANDS),
];

static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("function|load", -3, function_load)
        .flags(flag::WRITE | flag::DENYOOM | flag::NOSCRIPT)
        .acl(acl::SCRIPTING)
        .tips(ALL_SHARDS)
        .doc(
            "scripting",
            "7.0.0",
            "Create a function with the given arguments (name, code, description)",
        ),
    CommandSpec::conn("function|delete", 3, function_delete)
        .flags(flag::WRITE | flag::NOSCRIPT)
        .acl(acl::SCRIPTING)
        .tips(ALL_SHARDS)
        .doc("scripting", "7.0.0", "Delete a function by name"),
    CommandSpec::conn("function|flush", -2, function_flush)
        .flags(flag::WRITE | flag::NOSCRIPT)
        .acl(acl::SCRIPTING)
        .tips(ALL_SHARDS)
        .doc("scripting", "7.0.0", "Deleting all functions"),
    CommandSpec::conn("function|list", -2, function_list)
        .flags(flag::NOSCRIPT)
        .acl(acl::SCRIPTING)
        .tips(&["nondeterministic_output_order"])
        .doc(
            "scripting",
            "7.0.0",
            "List information about all the functions",
        ),
    CommandSpec::conn("function|dump", 2, function_dump)
        .flags(flag::NOSCRIPT)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Dump all functions into a serialized binary payload",
        ),
    CommandSpec::conn("function|restore", -3, function_restore)
        .flags(flag::WRITE | flag::DENYOOM | flag::NOSCRIPT)
        .acl(acl::SCRIPTING)
        .tips(ALL_SHARDS)
        .doc(
            "scripting",
            "7.0.0",
            "Restore all the functions on the given payload",
        ),
    CommandSpec::conn("function|stats", 2, function_stats)
        .flags(flag::NOSCRIPT | flag::ALLOW_BUSY)
        .acl(acl::SCRIPTING)
        .tips(&[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ])
        .doc(
            "scripting",
            "7.0.0",
            "Return information about the function currently running (name, description, duration)",
        ),
    CommandSpec::conn("function|kill", 2, function_kill)
        .flags(flag::NOSCRIPT | flag::ALLOW_BUSY)
        .acl(acl::SCRIPTING)
        .tips(&["request_policy:all_shards", "response_policy:one_succeeded"])
        .doc(
            "scripting",
            "7.0.0",
            "Kill the function currently in execution.",
        ),
    CommandSpec::conn("function|help", 2, function_help)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Show helpful text about the different subcommands",
        ),
];

/// The scripting engine's side of `registry::compile`: checks a library's
/// code by running it on this thread, as FUNCTION LOAD does.
pub fn compile(code: &Bytes, timeout: bool) -> Result<Library, String> {
    let meta = registry::metadata(code)?;
    let lua = vm::get().map_err(|e| e.trim_start_matches("ERR ").to_string())?;
    lua.load_library(meta, code, timeout).map(|(lib, _)| lib)
}

conn_fn!(fcall, |c, argv| call(c, argv, false).await);
conn_fn!(fcall_ro, |c, argv| call(c, argv, true).await);

/// FCALL and FCALL_RO.
async fn call(c: &mut Client, argv: &[Bytes], ro: bool) -> CmdResult {
    let Some((lib, idx)) = registry::lookup(&argv[1]) else {
        return Err(CmdError::Static("ERR Function not found"));
    };
    let n = super::numkeys(argv, CmdError::Static("ERR Bad number of keys provided"))?;
    let Some(info) = lib.functions.get(idx) else {
        return Err(CmdError::Static("ERR Function not found"));
    };
    let lua = vm::get().map_err(CmdError::Msg)?;
    let f = lua.function_of(&lib, idx).map_err(CmdError::Msg)?;
    super::invoke(
        c,
        &lua,
        Invocation {
            f,
            name: &info.name,
            argv,
            function: true,
            flags: info.flags,
            ro,
            keys: &argv[3..3 + n],
            args: &argv[3 + n..],
        },
    )
    .await
}

/// A change to the libraries: counted as a write (save points) and
/// journaled as the command itself, as Redis propagates it.
fn changed(c: &Client, argv: &[Bytes]) {
    crate::store::notify::mark_dirty();
    journal::record(c.db as usize, argv);
}

conn_fn!(function_load, |c, argv| {
    let mut replace = false;
    let mut pos = 2;
    while pos < argv.len() - 1 {
        if eq_ic(&argv[pos], "replace") {
            replace = true;
            pos += 1;
            continue;
        }
        return Err(CmdError::Msg(format!(
            "ERR Unknown option given: {}",
            String::from_utf8_lossy(&argv[pos])
        )));
    }
    let code = &argv[pos];
    let err = |e: String| CmdError::Msg(format!("ERR {e}"));
    let meta = registry::metadata(code).map_err(err)?;
    if !replace && registry::exists(&meta.name) {
        return Err(err(format!("Library '{}' already exists", meta.name)));
    }
    let lua = vm::get().map_err(CmdError::Msg)?;
    // No time limit for what the AOF (or, later, a master) replays.
    let (lib, callbacks) = lua.load_library(meta, code, !c.replaying).map_err(err)?;
    let lib = registry::link(lib, replace).map_err(err)?;
    lua.keep_library(&lib, callbacks);
    changed(c, argv);
    c.reply().bulk(lib.name.as_bytes());
    Ok(())
});

conn_fn!(function_delete, |c, argv| {
    registry::delete(&argv[2]).map_err(|e| CmdError::Msg(format!("ERR {e}")))?;
    changed(c, argv);
    c.reply().ok();
    Ok(())
});

conn_fn!(function_flush, |c, argv| {
    match argv.len() {
        2 => {}
        3 if eq_ic(&argv[2], "sync") || eq_ic(&argv[2], "async") => {}
        3 => {
            return Err(CmdError::Static(
                "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
            ));
        }
        _ => return Err(subcommand_syntax(&argv[1])),
    }
    registry::flush();
    changed(c, argv);
    c.reply().ok();
    Ok(())
});

/// Redis's `addReplySubcommandSyntaxError` for FUNCTION `sub` (as typed).
fn subcommand_syntax(sub: &[u8]) -> CmdError {
    CmdError::Msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(sub)
    ))
}

conn_fn!(function_list, |c, argv| {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if !with_code && eq_ic(a, "withcode") {
            with_code = true;
        } else if pattern.is_none() && eq_ic(a, "libraryname") {
            if i + 1 >= argv.len() {
                return Err(CmdError::Static("ERR library name argument was not given"));
            }
            i += 1;
            pattern = Some(&argv[i]);
        } else {
            // As Redis's addReplyErrorSdsSafe: no line breaks in an error.
            let shown = String::from_utf8_lossy(a).replace(['\r', '\n'], " ");
            return Err(CmdError::Msg(format!("ERR Unknown argument {shown}")));
        }
        i += 1;
    }
    let libs: Vec<_> = registry::libraries()
        .into_iter()
        .filter(|l| pattern.is_none_or(|p| crate::util::glob_match(p, l.name.as_bytes(), true)))
        .collect();
    let mut r = c.reply();
    r.array(libs.len());
    for lib in &libs {
        r.map(if with_code { 4 } else { 3 });
        r.bulk(b"library_name");
        r.bulk(lib.name.as_bytes());
        r.bulk(b"engine");
        r.bulk(registry::ENGINE.as_bytes());
        r.bulk(b"functions");
        r.array(lib.functions.len());
        for f in &lib.functions {
            r.map(3);
            r.bulk(b"name");
            r.bulk(f.name.as_bytes());
            r.bulk(b"description");
            match &f.desc {
                Some(d) => r.bulk(d),
                None => r.null(),
            }
            r.bulk(b"flags");
            let names: Vec<&str> = registry::flag::NAMES
                .iter()
                .filter(|(bit, _)| f.flags & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            r.set(names.len());
            for n in names {
                r.simple(n);
            }
        }
        if with_code {
            r.bulk(b"library_code");
            r.bulk(&lib.code);
        }
    }
    Ok(())
});

conn_fn!(function_dump, |c, _argv| {
    let codes: Vec<Bytes> = registry::libraries()
        .iter()
        .map(|l| l.code.clone())
        .collect();
    let payload = crate::store::rdb::functions_payload(&codes, crate::store::rdb::compression());
    c.reply().bulk(&payload);
    Ok(())
});

conn_fn!(function_restore, |c, argv| {
    if argv.len() > 4 {
        return Err(subcommand_syntax(&argv[1]));
    }
    let policy = match argv.get(3) {
        None => Policy::Append,
        Some(p) if eq_ic(p, "append") => Policy::Append,
        Some(p) if eq_ic(p, "replace") => Policy::Replace,
        Some(p) if eq_ic(p, "flush") => Policy::Flush,
        Some(_) => {
            return Err(CmdError::Static(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ));
        }
    };
    let err = |e: String| CmdError::Msg(format!("ERR {e}"));
    let codes: Vec<Bytes> = crate::store::rdb::read_functions_payload(&argv[2])
        .map_err(err)?
        .into_iter()
        .map(Bytes::from)
        .collect();
    let set = registry::compile_all(&codes).map_err(err)?;
    registry::restore(set, policy).map_err(err)?;
    changed(c, argv);
    c.reply().ok();
    Ok(())
});

conn_fn!(function_stats, |c, _argv| {
    let running = script::running_function().map_err(CmdError::Static)?;
    let (libs, funcs) = registry::counts();
    let mut r = c.reply();
    r.map(2);
    r.bulk(b"running_script");
    match running {
        None => r.null(),
        Some((name, argv, ms)) => {
            r.map(3);
            r.bulk(b"name");
            r.bulk(name.as_bytes());
            r.bulk(b"command");
            r.array(argv.len());
            for a in &argv {
                r.bulk(a);
            }
            r.bulk(b"duration_ms");
            r.int(ms as i64);
        }
    }
    r.bulk(b"engines");
    r.map(1);
    r.bulk(registry::ENGINE.as_bytes());
    r.map(2);
    r.bulk(b"libraries_count");
    r.int(libs as i64);
    r.bulk(b"functions_count");
    r.int(funcs as i64);
    Ok(())
});

conn_fn!(function_kill, |c, _argv| {
    script::kill(script::Kind::Function).map_err(CmdError::Static)?;
    c.reply().ok();
    Ok(())
});

conn_fn!(function_help, |c, _argv| {
    super::super::help_reply(
        c,
        &[
            "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
});
