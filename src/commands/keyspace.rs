//! The keyspace family: DEL, EXISTS, expiry, RENAME/COPY/MOVE, KEYS/SCAN, the
//! whole-database commands, and the active expiry cycle.

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::{Args, CmdError, CmdResult, Exec};
use crate::dispatch::Client;
use crate::dispatch::coord::{on_all_shards, with_all_locked};
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{CommandSpec, Multi, acl, flag};
use crate::num::parse_cursor;
use crate::protocol::parse_i64;
use crate::shard::locks::LockSet;
use crate::store::notify::{class as ev, notify};
use crate::store::{Db, Entry, NUM_DBS};
use crate::util::glob_match;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::shard("del", -2, del)
        .flags(flag::WRITE)
        .keys(&[keys_from(1, RM | DELETE)])
        .acl(acl::KEYSPACE)
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .doc("generic", "1.0.0", "Deletes one or more keys.")
        .multi(Multi::Sum),
    CommandSpec::shard("unlink", -2, del)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[keys_from(1, RM | DELETE)])
        .acl(acl::KEYSPACE)
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .doc("generic", "4.0.0", "Asynchronously deletes one or more keys.")
        .multi(Multi::Sum),
    CommandSpec::shard("exists", -2, exists)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[keys_from(1, RO)])
        .acl(acl::KEYSPACE)
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .doc("generic", "1.0.0", "Determines whether one or more keys exist.")
        .multi(Multi::Sum),
    CommandSpec::shard("touch", -2, exists)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[keys_from(1, RO)])
        .acl(acl::KEYSPACE)
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .doc("generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.")
        .multi(Multi::Sum),
    CommandSpec::shard("type", 2, type_cmd)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO)])
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Determines the type of value stored at a key."),
    CommandSpec::shard("expire", -3, expire)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | UPDATE)])
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Sets the expiration time of a key in seconds."),
    CommandSpec::shard("pexpire", -3, pexpire)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | UPDATE)])
        .acl(acl::KEYSPACE)
        .doc("generic", "2.6.0", "Sets the expiration time of a key in milliseconds."),
    CommandSpec::shard("expireat", -3, expireat)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | UPDATE)])
        .acl(acl::KEYSPACE)
        .doc("generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp."),
    CommandSpec::shard("pexpireat", -3, pexpireat)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | UPDATE)])
        .acl(acl::KEYSPACE)
        .doc("generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    CommandSpec::shard("ttl", 2, ttl)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::KEYSPACE)
        .tips(&["nondeterministic_output"])
        .doc("generic", "1.0.0", "Returns the expiration time in seconds of a key."),
    CommandSpec::shard("pttl", 2, pttl)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::KEYSPACE)
        .tips(&["nondeterministic_output"])
        .doc("generic", "2.6.0", "Returns the expiration time in milliseconds of a key."),
    CommandSpec::shard("expiretime", 2, expiretime)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::KEYSPACE)
        .doc("generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp."),
    CommandSpec::shard("pexpiretime", 2, pexpiretime)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::KEYSPACE)
        .doc("generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp."),
    CommandSpec::shard("persist", 2, persist)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | UPDATE)])
        .acl(acl::KEYSPACE)
        .doc("generic", "2.2.0", "Removes the expiration time of a key."),
    CommandSpec::shard("rename", 3, rename)
        .flags(flag::WRITE)
        .keys(&[key(1, RW | ACCESS | DELETE), key(2, OW | UPDATE)])
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Renames a key and overwrites the destination.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("renamenx", 3, renamenx)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | ACCESS | DELETE), key(2, OW | INSERT)])
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Renames a key only when the target key name doesn't exist.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("copy", -3, copy)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RO | ACCESS), key(2, OW | UPDATE)])
        .acl(acl::KEYSPACE)
        .doc("generic", "6.2.0", "Copies the value of a key to a new key.")
        .multi(Multi::Gather { extra_db: Some(copy_db) }),
    CommandSpec::shard("move", 3, move_cmd)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | ACCESS | UPDATE)])
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Moves a key to another database."),
    CommandSpec::conn("keys", 2, keys)
        .flags(flag::READONLY)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .tips(&["request_policy:all_shards", "nondeterministic_output_order"])
        .doc("generic", "1.0.0", "Returns all key names that match a pattern."),
    CommandSpec::conn("scan", -2, scan)
        .flags(flag::READONLY)
        .acl(acl::KEYSPACE)
        .tips(&["nondeterministic_output", "request_policy:special"])
        .doc("generic", "2.8.0", "Iterates over the key names in the database."),
    CommandSpec::conn("randomkey", 1, randomkey)
        .flags(flag::READONLY)
        .acl(acl::KEYSPACE)
        .tips(&["request_policy:all_shards", "nondeterministic_output"])
        .doc("generic", "1.0.0", "Returns a random key name from the database."),
    CommandSpec::conn("dbsize", 1, dbsize)
        .flags(flag::READONLY | flag::FAST)
        .acl(acl::KEYSPACE)
        .tips(&["request_policy:all_shards", "response_policy:agg_sum"])
        .doc("server", "1.0.0", "Returns the number of keys in the database."),
    CommandSpec::conn("flushdb", -1, flushdb)
        .flags(flag::WRITE)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .doc("server", "1.0.0", "Removes all keys from the current database."),
    CommandSpec::conn("flushall", -1, flushall)
        .flags(flag::WRITE)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .doc("server", "1.0.0", "Removes all keys from all databases."),
    CommandSpec::conn("swapdb", 3, swapdb)
        .flags(flag::WRITE | flag::FAST)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .doc("server", "4.0.0", "Swaps two Redis databases."),
    CommandSpec::conn("select", 2, select)
        .flags(flag::LOADING | flag::STALE | flag::FAST)
        .acl(acl::CONNECTION)
        .doc("connection", "1.0.0", "Changes the selected database."),
    CommandSpec::conn("wait", 3, wait)
        .flags(flag::NOSCRIPT)
        .acl(acl::CONNECTION)
        .tips(&["request_policy:all_shards", "response_policy:agg_min"])
        .doc("generic", "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed."),
    CommandSpec::conn("object", -2, container_help)
        .doc("generic", "2.2.3", "A container for object introspection commands.")
        .subcommands(OBJECT_SUBCOMMANDS),
];

static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::shard("object|encoding", 3, object_encoding)
        .flags(flag::READONLY)
        .keys(&[key(2, RO)])
        .acl(acl::KEYSPACE)
        .tips(&["nondeterministic_output"])
        .doc(
            "generic",
            "2.2.3",
            "Returns the internal encoding of a Redis object.",
        ),
    CommandSpec::shard("object|idletime", 3, object_idletime)
        .flags(flag::READONLY)
        .keys(&[key(2, RO)])
        .acl(acl::KEYSPACE)
        .tips(&["nondeterministic_output"])
        .doc(
            "generic",
            "2.2.3",
            "Returns the time since the last access to a Redis object.",
        ),
    CommandSpec::shard("object|freq", 3, object_freq)
        .flags(flag::READONLY)
        .keys(&[key(2, RO)])
        .acl(acl::KEYSPACE)
        .tips(&["nondeterministic_output"])
        .doc(
            "generic",
            "4.0.0",
            "Returns the logarithmic access frequency counter of a Redis object.",
        ),
    CommandSpec::shard("object|refcount", 3, object_refcount)
        .flags(flag::READONLY)
        .keys(&[key(2, RO)])
        .acl(acl::KEYSPACE)
        .tips(&["nondeterministic_output"])
        .doc(
            "generic",
            "2.2.3",
            "Returns the reference count of a value of a key.",
        ),
    CommandSpec::conn("object|help", 2, object_help)
        .flags(flag::LOADING | flag::STALE)
        .acl(acl::KEYSPACE)
        .doc(
            "generic",
            "6.2.0",
            "Returns helpful text about the different subcommands.",
        ),
];

/// Placeholder handler of container commands: routing always picks a subcommand.
pub fn container_help<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
        c.reply().error(&format!(
            "ERR wrong number of arguments for '{}' command",
            name.to_lowercase()
        ));
        Ok(())
    })
}

fn object_help<'a>(c: &'a mut Client, _argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ];
        super::help_reply(c, &lines);
        Ok(())
    })
}

// ---- shard halves ----

fn del(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let now = ex.now;
    let n = op_del(ex.db(), a.rest(), now);
    ex.reply.int(n);
    Ok(())
}

/// Deletes keys (expired ones count as missing); returns how many existed.
pub fn op_del(db: &mut Db, keys: &[Bytes], now: u64) -> i64 {
    keys.iter()
        .filter(|k| {
            let gone = db.peek(k, now).is_some() && db.remove(k).is_some();
            if gone {
                notify(db.id as usize, ev::GENERIC, "del", k);
            }
            gone
        })
        .count() as i64
}

/// Counts keys that exist, with repetitions, without touching them (Redis's
/// LOOKUP_NOTOUCH).
pub fn op_exists(db: &mut Db, keys: &[Bytes], now: u64) -> i64 {
    keys.iter()
        .filter(|k| db.get_untouched(k, now).is_some())
        .count() as i64
}

fn exists(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let now = ex.now;
    let n = op_exists(ex.db(), a.rest(), now);
    ex.reply.int(n);
    Ok(())
}

fn type_cmd(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let t = ex
        .db()
        .get_untouched(key, now)
        .map_or("none", |e| e.value.type_name());
    ex.reply.simple(t);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Seconds,
    Millis,
}

fn expire_generic(
    ex: &mut Exec,
    a: &mut Args,
    unit: Unit,
    absolute: bool,
    name: &str,
) -> CmdResult {
    let key = a.next()?;
    let when_arg = a.next()?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    while let Some(opt) = a.peek() {
        a.next()?;
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(CmdError::Msg(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                )));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::Static(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::Static(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let mut when = parse_i64(when_arg).ok_or(CmdError::NotInteger)?;
    let invalid = || CmdError::Msg(format!("ERR invalid expire time in '{name}' command"));
    if unit == Unit::Seconds {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    let now = ex.now;
    if !absolute {
        when = when.checked_add(now as i64).ok_or_else(invalid)?;
    }
    let db = ex.db();
    let Some(e) = db.get(key, now) else {
        ex.reply.int(0);
        return Ok(());
    };
    let cur = e.expire_at;
    let fail = (nx && cur != 0)
        || (xx && cur == 0)
        || (gt && (cur == 0 || when <= cur as i64))
        || (lt && cur != 0 && when >= cur as i64);
    if fail {
        ex.reply.int(0);
        return Ok(());
    }
    if when <= now as i64 {
        db.remove(key);
        notify(db.id as usize, ev::GENERIC, "del", key);
    } else {
        db.set_expire(key, when as u64);
        notify(db.id as usize, ev::GENERIC, "expire", key);
    }
    ex.reply.int(1);
    Ok(())
}

fn expire(ex: &mut Exec, a: &mut Args) -> CmdResult {
    expire_generic(ex, a, Unit::Seconds, false, "expire")
}

fn pexpire(ex: &mut Exec, a: &mut Args) -> CmdResult {
    expire_generic(ex, a, Unit::Millis, false, "pexpire")
}

fn expireat(ex: &mut Exec, a: &mut Args) -> CmdResult {
    expire_generic(ex, a, Unit::Seconds, true, "expireat")
}

fn pexpireat(ex: &mut Exec, a: &mut Args) -> CmdResult {
    expire_generic(ex, a, Unit::Millis, true, "pexpireat")
}

/// -2 missing, -1 persistent, else what `f(expire_at, now)` says.
fn ttl_generic(ex: &mut Exec, a: &mut Args, f: fn(u64, u64) -> i64) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let v = match ex.db().get_untouched(key, now) {
        None => -2,
        Some(e) if e.expire_at == 0 => -1,
        Some(e) => f(e.expire_at, now),
    };
    ex.reply.int(v);
    Ok(())
}

fn ttl(ex: &mut Exec, a: &mut Args) -> CmdResult {
    ttl_generic(ex, a, |at, now| {
        ((at.saturating_sub(now) + 500) / 1000) as i64
    })
}

fn pttl(ex: &mut Exec, a: &mut Args) -> CmdResult {
    ttl_generic(ex, a, |at, now| at.saturating_sub(now) as i64)
}

fn expiretime(ex: &mut Exec, a: &mut Args) -> CmdResult {
    // Redis rounds to the nearest second here too.
    ttl_generic(ex, a, |at, _| ((at + 500) / 1000) as i64)
}

fn pexpiretime(ex: &mut Exec, a: &mut Args) -> CmdResult {
    ttl_generic(ex, a, |at, _| at as i64)
}

fn persist(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let db = ex.db();
    let had = db.get(key, now).is_some_and(|e| e.expire_at != 0);
    if had {
        db.set_expire(key, 0);
        notify(db.id as usize, ev::GENERIC, "persist", key);
    }
    ex.reply.int(had as i64);
    Ok(())
}

fn rename_local(ex: &mut Exec, a: &mut Args, nx: bool) -> CmdResult {
    let (src, dst) = (a.next()?, a.next()?);
    let now = ex.now;
    let db = ex.db();
    if db.get(src, now).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        if nx {
            ex.reply.int(0);
        } else {
            ex.reply.ok();
        }
        return Ok(());
    }
    if nx && db.get(dst, now).is_some() {
        ex.reply.int(0);
        return Ok(());
    }
    if let Some(e) = db.remove(src) {
        db.set_entry(dst, e);
        notify(db.id as usize, ev::GENERIC, "rename_from", src);
        notify(db.id as usize, ev::GENERIC, "rename_to", dst);
    }
    if nx {
        ex.reply.int(1);
    } else {
        ex.reply.ok();
    }
    Ok(())
}

fn rename(ex: &mut Exec, a: &mut Args) -> CmdResult {
    rename_local(ex, a, false)
}

fn renamenx(ex: &mut Exec, a: &mut Args) -> CmdResult {
    rename_local(ex, a, true)
}

struct CopyOpts {
    db: Option<usize>,
    replace: bool,
}

fn parse_copy(a: &mut Args) -> Result<CopyOpts, CmdError> {
    let mut o = CopyOpts {
        db: None,
        replace: false,
    };
    while !a.is_empty() {
        if a.eat("REPLACE") {
            o.replace = true;
        } else if a.eat("DB") {
            let n = a.next_i64()?;
            if !(0..NUM_DBS as i64).contains(&n) {
                return Err(CmdError::DbIndex);
            }
            o.db = Some(n as usize);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// The other database COPY writes to (`DB n`), for its coordinator; a bad
/// option is left for the handler to report.
fn copy_db(argv: &[Bytes]) -> Option<u8> {
    let mut a = Args::new(argv.get(3..)?);
    parse_copy(&mut a).ok()?.db.map(|d| d as u8)
}

fn copy(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let (src, dst) = (a.next()?, a.next()?);
    let o = parse_copy(a)?;
    let to_db = o.db.unwrap_or(ex.db);
    if src == dst && to_db == ex.db {
        return Err(CmdError::Static(
            "ERR source and destination objects are the same",
        ));
    }
    let now = ex.now;
    let Some(e) = ex.db().get(src, now).cloned() else {
        ex.reply.int(0);
        return Ok(());
    };
    let target = &mut ex.store.dbs[to_db];
    if target.get(dst, now).is_some() && !o.replace {
        ex.reply.int(0);
        return Ok(());
    }
    target.set_entry(dst, e);
    notify(to_db, ev::GENERIC, "copy_to", dst);
    ex.reply.int(1);
    Ok(())
}

/// MOVE stays on one shard: a key's owner depends only on its name, not its db.
fn move_cmd(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let to = a.next_i64()?;
    if !(0..NUM_DBS as i64).contains(&to) {
        return Err(CmdError::DbIndex);
    }
    let to = to as usize;
    if to == ex.db {
        return Err(CmdError::Static(
            "ERR source and destination objects are the same",
        ));
    }
    let now = ex.now;
    if ex.db().get(key, now).is_none() || ex.store.dbs[to].get(key, now).is_some() {
        ex.reply.int(0);
        return Ok(());
    }
    if let Some(e) = ex.db().remove(key) {
        ex.store.dbs[to].set_entry(key, e);
        notify(ex.db, ev::GENERIC, "move_from", key);
        notify(to, ev::GENERIC, "move_to", key);
    }
    ex.reply.int(1);
    Ok(())
}

fn with_entry(
    ex: &mut Exec,
    a: &mut Args,
    f: impl FnOnce(&Entry, &mut crate::protocol::Reply),
) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    // OBJECT does not touch the key: peek without updating its access time.
    match db.peek(key, now) {
        None => ex.reply.null(),
        Some(e) => f(e, &mut ex.reply),
    }
    Ok(())
}

fn object_encoding(ex: &mut Exec, a: &mut Args) -> CmdResult {
    with_entry(ex, a, |e, r| r.bulk(e.encoding().as_bytes()))
}

fn object_idletime(ex: &mut Exec, a: &mut Args) -> CmdResult {
    with_entry(ex, a, |e, r| {
        if crate::store::lfu() {
            r.error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        } else {
            r.int((e.idle_ms() / 1000) as i64);
        }
    })
}

/// The LFU counter, decayed; refused (for a key that exists: a missing one
/// is nil, as for every OBJECT subcommand) without an LFU policy.
fn object_freq(ex: &mut Exec, a: &mut Args) -> CmdResult {
    with_entry(ex, a, |e, r| {
        if crate::store::lfu() {
            r.int(e.lfu_counter() as i64);
        } else {
            r.error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        }
    })
}

fn object_refcount(ex: &mut Exec, a: &mut Args) -> CmdResult {
    // Redis shares the integers 0..9999 and reports them as immortal.
    with_entry(ex, a, |e, r| {
        let shared = matches!(&e.value, crate::store::Value::Str(s)
            if e.encoding() == "int" && parse_i64(s).is_some_and(|n| (0..10000).contains(&n)));
        r.int(if shared { i32::MAX as i64 } else { 1 })
    })
}

fn keys<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let pattern = argv[1].clone();
        let db = c.db as usize;
        let all = on_all_shards(&c.shard, move |sh| {
            let now = crate::shard::script::command_time();
            let st = sh.store.borrow();
            let all = pattern.as_ref() == b"*";
            st.dbs[db]
                .dict()
                .iter()
                .filter(|(k, e)| !e.is_expired(now) && (all || glob_match(&pattern, k, false)))
                .map(|(k, _)| Bytes::copy_from_slice(k))
                .collect::<Vec<_>>()
        })
        .await;
        let mut r = c.reply();
        r.array(all.iter().map(Vec::len).sum());
        for k in all.iter().flatten() {
            r.bulk(k);
        }
        Ok(())
    })
}

/// SCAN's cursor: the low 8 bits name the shard, the rest is a position in that
/// shard's table. Positions never move (see `store::dict`), so one cursor walks
/// every shard in turn with Redis's guarantee.
fn scan<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let cursor = parse_cursor(&argv[1]).ok_or(CmdError::Static("ERR invalid cursor"))?;
        let mut a = Args::new(&argv[2..]);
        let mut pattern: Option<Bytes> = None;
        let mut count = 10usize;
        let mut typ: Option<Bytes> = None;
        while !a.is_empty() {
            if a.eat("MATCH") {
                pattern = Some(a.next()?.clone());
            } else if a.eat("COUNT") {
                let n = a.next_i64()?;
                if n < 1 {
                    return Err(CmdError::Syntax);
                }
                count = n as usize;
            } else if a.eat("TYPE") {
                typ = Some(a.next()?.clone());
            } else {
                return Err(CmdError::Syntax);
            }
        }
        let n = c.shard.nshards as u64;
        let mut s = cursor & 0xff;
        let mut pos = cursor >> 8;
        let mut found: Vec<Bytes> = Vec::new();
        let db = c.db as usize;
        let next_cursor = loop {
            if s >= n {
                break 0;
            }
            let (pat, ty) = (pattern.clone(), typ.clone());
            let want = count.saturating_sub(found.len()).max(1);
            let r = c
                .shard
                .run_on(s as usize, LockSet::Keys(vec![]), move |sh| {
                    let now = crate::shard::script::command_time();
                    let st = sh.store.borrow();
                    let mut keys = Vec::new();
                    let next = st.dbs[db].dict().scan(pos, want, |k, e| {
                        let ok = !e.is_expired(now)
                            && pat.as_ref().is_none_or(|p| glob_match(p, k, false))
                            && ty.as_ref().is_none_or(|t| {
                                t.eq_ignore_ascii_case(e.value.type_name().as_bytes())
                            });
                        if ok {
                            keys.push(Bytes::copy_from_slice(k));
                        }
                    });
                    (next, keys)
                })
                .await;
            let Some((next, keys)) = r else { break 0 };
            found.extend(keys);
            if next == 0 {
                s += 1;
                pos = 0;
                if s >= n {
                    break 0;
                }
            } else {
                pos = next;
            }
            if found.len() >= count {
                break (pos << 8) | s;
            }
        };
        let mut r = c.reply();
        r.array(2);
        r.bulk(next_cursor.to_string().as_bytes());
        r.array(found.len());
        for k in &found {
            r.bulk(k);
        }
        Ok(())
    })
}

fn randomkey<'a>(c: &'a mut Client, _argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let db = c.db as usize;
        let n = c.shard.nshards;
        let start = (crate::num::rand() % n as u64) as usize;
        for i in 0..n {
            let s = (start + i) % n;
            let k = c
                .shard
                .run_on(s, LockSet::Keys(vec![]), move |sh| {
                    let now = crate::shard::script::command_time();
                    let mut st = sh.store.borrow_mut();
                    let d = &mut st.dbs[db];
                    // A few tries: a sampled key may have expired.
                    for _ in 0..16 {
                        let pick = d
                            .dict()
                            .random(&mut crate::num::rand)
                            .map(|(_, k, e)| (Bytes::copy_from_slice(k), e.is_expired(now)));
                        match pick {
                            None => return None,
                            Some((k, false)) => return Some(k),
                            Some((k, true)) => {
                                d.remove(&k);
                            }
                        }
                    }
                    None
                })
                .await
                .flatten();
            if let Some(k) = k {
                c.reply().bulk(&k);
                return Ok(());
            }
        }
        c.reply().null();
        Ok(())
    })
}

fn dbsize<'a>(c: &'a mut Client, _argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let db = c.db as usize;
        let sizes = on_all_shards(&c.shard, move |sh| sh.store.borrow().dbs[db].len()).await;
        c.reply().int(sizes.iter().sum::<usize>() as i64);
        Ok(())
    })
}

fn parse_flush_mode(argv: &[Bytes]) -> CmdResult {
    match argv.len() {
        1 => Ok(()),
        2 if super::args::eq_ic(&argv[1], "ASYNC") || super::args::eq_ic(&argv[1], "SYNC") => {
            Ok(())
        }
        _ => Err(CmdError::Syntax),
    }
}

fn flushdb<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        parse_flush_mode(argv)?;
        let db = c.db as usize;
        with_all_locked(c, argv, move |sh| {
            sh.touch_flushed(Some(db as u8), None);
            sh.store.borrow_mut().dbs[db].clear();
            sh.invalidate_all();
        })
        .await;
        c.reply().ok();
        Ok(())
    })
}

fn flushall<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        parse_flush_mode(argv)?;
        with_all_locked(c, argv, |sh| {
            sh.touch_flushed(None, None);
            for d in sh.store.borrow_mut().dbs.iter_mut() {
                d.clear();
            }
            sh.invalidate_all();
        })
        .await;
        c.reply().ok();
        Ok(())
    })
}

fn swapdb<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let a = parse_i64(&argv[1]).ok_or(CmdError::Static("ERR invalid first DB index"))?;
        let b = parse_i64(&argv[2]).ok_or(CmdError::Static("ERR invalid second DB index"))?;
        let range = 0..NUM_DBS as i64;
        if !range.contains(&a) || !range.contains(&b) {
            return Err(CmdError::DbIndex);
        }
        let (a, b) = (a as usize, b as usize);
        if a != b {
            with_all_locked(c, argv, move |sh| {
                sh.touch_flushed(Some(a as u8), Some(b as u8));
                sh.touch_flushed(Some(b as u8), Some(a as u8));
                sh.store.borrow_mut().swap_dbs(a, b);
            })
            .await;
        }
        c.reply().ok();
        Ok(())
    })
}

fn select<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let n = parse_i64(&argv[1]).ok_or(CmdError::NotInteger)?;
        if !(0..NUM_DBS as i64).contains(&n) {
            return Err(CmdError::DbIndex);
        }
        c.db = n as u8;
        c.info.db.set(c.db);
        c.reply().ok();
        Ok(())
    })
}

fn wait<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        parse_i64(&argv[1]).ok_or(CmdError::NotInteger)?;
        let t = parse_i64(&argv[2]).ok_or(CmdError::Static(
            "ERR timeout is not an integer or out of range",
        ))?;
        if t < 0 {
            return Err(CmdError::Static("ERR timeout is negative"));
        }
        // No replicas yet: every write is acknowledged by zero of them.
        c.reply().int(0);
        Ok(())
    })
}
