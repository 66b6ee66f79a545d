//! The keyspace family: DEL, EXISTS, expiry, RENAME/COPY/MOVE, KEYS/SCAN, the
//! whole-database commands, and the active expiry cycle.

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::table::keys::*;
use super::table::{CommandSpec, Handler, KeySpec, acl, flag};
use super::{Args, CmdError, CmdResult, Exec};
use crate::cmd;
use crate::dispatch::Client;
use crate::dispatch::coord::{keys_by_shard, lock_parts, on_all_shards, with_all_locked};
use crate::protocol::parse_i64;
use crate::shard::Shard;
use crate::shard::locks::{LockKey, LockSet};
use crate::store::{Db, Entry, NUM_DBS, now_ms};
use crate::util::glob_match;

const W: u32 = flag::WRITE;
const R: u32 = flag::READONLY;
const F: u32 = flag::FAST;
const KS: u32 = acl::KEYSPACE;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        cross: Some(del_cross),
        ..cmd!(
            "del",
            -2,
            W,
            KALL,
            KS | acl::WRITE | acl::SLOW,
            "generic",
            "1.0.0",
            "Deletes one or more keys.",
            Handler::Shard(del)
        )
    },
    CommandSpec {
        cross: Some(del_cross),
        ..cmd!(
            "unlink",
            -2,
            W | F,
            KALL,
            KS | acl::WRITE | acl::FAST,
            "generic",
            "4.0.0",
            "Asynchronously deletes one or more keys.",
            Handler::Shard(del)
        )
    },
    CommandSpec {
        cross: Some(exists_cross),
        ..cmd!(
            "exists",
            -2,
            R | F,
            KALL,
            KS | acl::READ | acl::FAST,
            "generic",
            "1.0.0",
            "Determines whether one or more keys exist.",
            Handler::Shard(exists)
        )
    },
    CommandSpec {
        cross: Some(exists_cross),
        ..cmd!(
            "touch",
            -2,
            R | F,
            KALL,
            KS | acl::READ | acl::FAST,
            "generic",
            "3.2.1",
            "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
            Handler::Shard(exists)
        )
    },
    cmd!(
        "type",
        2,
        R | F,
        K1,
        KS | acl::READ | acl::FAST,
        "generic",
        "1.0.0",
        "Determines the type of value stored at a key.",
        Handler::Shard(type_cmd)
    ),
    cmd!(
        "expire",
        -3,
        W | F,
        K1,
        KS | acl::WRITE | acl::FAST,
        "generic",
        "1.0.0",
        "Sets the expiration time of a key in seconds.",
        Handler::Shard(expire)
    ),
    cmd!(
        "pexpire",
        -3,
        W | F,
        K1,
        KS | acl::WRITE | acl::FAST,
        "generic",
        "2.6.0",
        "Sets the expiration time of a key in milliseconds.",
        Handler::Shard(pexpire)
    ),
    cmd!(
        "expireat",
        -3,
        W | F,
        K1,
        KS | acl::WRITE | acl::FAST,
        "generic",
        "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.",
        Handler::Shard(expireat)
    ),
    cmd!(
        "pexpireat",
        -3,
        W | F,
        K1,
        KS | acl::WRITE | acl::FAST,
        "generic",
        "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        Handler::Shard(pexpireat)
    ),
    cmd!(
        "ttl",
        2,
        R | F,
        K1,
        KS | acl::READ | acl::FAST,
        "generic",
        "1.0.0",
        "Returns the expiration time in seconds of a key.",
        Handler::Shard(ttl)
    ),
    cmd!(
        "pttl",
        2,
        R | F,
        K1,
        KS | acl::READ | acl::FAST,
        "generic",
        "2.6.0",
        "Returns the expiration time in milliseconds of a key.",
        Handler::Shard(pttl)
    ),
    cmd!(
        "expiretime",
        2,
        R | F,
        K1,
        KS | acl::READ | acl::FAST,
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp.",
        Handler::Shard(expiretime)
    ),
    cmd!(
        "pexpiretime",
        2,
        R | F,
        K1,
        KS | acl::READ | acl::FAST,
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        Handler::Shard(pexpiretime)
    ),
    cmd!(
        "persist",
        2,
        W | F,
        K1,
        KS | acl::WRITE | acl::FAST,
        "generic",
        "2.2.0",
        "Removes the expiration time of a key.",
        Handler::Shard(persist)
    ),
    CommandSpec {
        cross: Some(rename_cross),
        ..cmd!(
            "rename",
            3,
            W,
            K12,
            KS | acl::WRITE | acl::SLOW,
            "generic",
            "1.0.0",
            "Renames a key and overwrites the destination.",
            Handler::Shard(rename)
        )
    },
    CommandSpec {
        cross: Some(renamenx_cross),
        ..cmd!(
            "renamenx",
            3,
            W | F,
            K12,
            KS | acl::WRITE | acl::FAST,
            "generic",
            "1.0.0",
            "Renames a key only when the target key name doesn't exist.",
            Handler::Shard(renamenx)
        )
    },
    CommandSpec {
        cross: Some(copy_cross),
        ..cmd!(
            "copy",
            -3,
            W | flag::DENYOOM,
            K12,
            KS | acl::WRITE | acl::SLOW,
            "generic",
            "6.2.0",
            "Copies the value of a key to a new key.",
            Handler::Shard(copy)
        )
    },
    cmd!(
        "move",
        3,
        W | F,
        K1,
        KS | acl::WRITE | acl::FAST,
        "generic",
        "1.0.0",
        "Moves a key to another database.",
        Handler::Shard(move_cmd)
    ),
    cmd!(
        "keys",
        2,
        R,
        KeySpec::None,
        KS | acl::READ | acl::SLOW | acl::DANGEROUS,
        "generic",
        "1.0.0",
        "Returns all key names that match a pattern.",
        Handler::Conn(keys)
    ),
    cmd!(
        "scan",
        -2,
        R,
        KeySpec::None,
        KS | acl::READ | acl::SLOW,
        "generic",
        "2.8.0",
        "Iterates over the key names in the database.",
        Handler::Conn(scan)
    ),
    cmd!(
        "randomkey",
        1,
        R,
        KeySpec::None,
        KS | acl::READ | acl::SLOW,
        "generic",
        "1.0.0",
        "Returns a random key name from the database.",
        Handler::Conn(randomkey)
    ),
    cmd!(
        "dbsize",
        1,
        R | F,
        KeySpec::None,
        KS | acl::READ | acl::FAST,
        "server",
        "1.0.0",
        "Returns the number of keys in the database.",
        Handler::Conn(dbsize)
    ),
    cmd!(
        "flushdb",
        -1,
        W,
        KeySpec::None,
        KS | acl::WRITE | acl::SLOW | acl::DANGEROUS,
        "server",
        "1.0.0",
        "Removes all keys from the current database.",
        Handler::Conn(flushdb)
    ),
    cmd!(
        "flushall",
        -1,
        W,
        KeySpec::None,
        KS | acl::WRITE | acl::SLOW | acl::DANGEROUS,
        "server",
        "1.0.0",
        "Removes all keys from all databases.",
        Handler::Conn(flushall)
    ),
    cmd!(
        "swapdb",
        3,
        W | F,
        KeySpec::None,
        KS | acl::WRITE | acl::FAST | acl::DANGEROUS,
        "server",
        "4.0.0",
        "Swaps two Redis databases.",
        Handler::Conn(swapdb)
    ),
    cmd!(
        "select",
        2,
        flag::LOADING | flag::STALE | F,
        KeySpec::None,
        acl::CONNECTION | acl::FAST,
        "connection",
        "1.0.0",
        "Changes the selected database.",
        Handler::Conn(select)
    ),
    cmd!(
        "wait",
        3,
        0,
        KeySpec::None,
        acl::SLOW | acl::CONNECTION,
        "generic",
        "3.0.0",
        "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
        Handler::Conn(wait)
    ),
    CommandSpec {
        subcommands: OBJECT_SUBCOMMANDS,
        ..cmd!(
            "object",
            -2,
            0,
            KeySpec::None,
            acl::SLOW,
            "generic",
            "2.2.3",
            "A container for object introspection commands.",
            Handler::Conn(container_help)
        )
    },
];

static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    cmd!(
        "object|encoding",
        3,
        R,
        K2,
        KS | acl::READ | acl::SLOW,
        "generic",
        "2.2.3",
        "Returns the internal encoding of a Redis object.",
        Handler::Shard(object_encoding)
    ),
    cmd!(
        "object|idletime",
        3,
        R,
        K2,
        KS | acl::READ | acl::SLOW,
        "generic",
        "2.2.3",
        "Returns the time since the last access to a Redis object.",
        Handler::Shard(object_idletime)
    ),
    cmd!(
        "object|freq",
        3,
        R,
        K2,
        KS | acl::READ | acl::SLOW,
        "generic",
        "4.0.0",
        "Returns the logarithmic access frequency counter of a Redis object.",
        Handler::Shard(object_freq)
    ),
    cmd!(
        "object|refcount",
        3,
        R,
        K2,
        KS | acl::READ | acl::SLOW,
        "generic",
        "2.2.3",
        "Returns the reference count of a value of a key.",
        Handler::Shard(object_refcount)
    ),
    cmd!(
        "object|help",
        2,
        flag::LOADING | flag::STALE,
        KeySpec::None,
        KS | acl::SLOW,
        "generic",
        "6.2.0",
        "Returns helpful text about the different subcommands.",
        Handler::Conn(object_help)
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
            "    Print this help.",
        ];
        let mut r = c.reply();
        r.array(lines.len());
        for l in lines {
            r.simple(l);
        }
        Ok(())
    })
}

// ---- shard halves ----

fn del(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let n = op_del(ex.db(), a.rest());
    ex.reply.int(n);
    Ok(())
}

/// Deletes keys (expired ones count as missing); returns how many existed.
pub fn op_del(db: &mut Db, keys: &[Bytes]) -> i64 {
    let now = now_ms();
    keys.iter()
        .filter(|k| db.peek(k, now).is_some() && db.remove(k).is_some())
        .count() as i64
}

/// Counts keys that exist, with repetitions, refreshing their access time.
pub fn op_exists(db: &mut Db, keys: &[Bytes]) -> i64 {
    let now = now_ms();
    keys.iter().filter(|k| db.get(k, now).is_some()).count() as i64
}

fn exists(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let n = op_exists(ex.db(), a.rest());
    ex.reply.int(n);
    Ok(())
}

fn type_cmd(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let t = ex
        .db()
        .get(key, now)
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
    } else {
        db.set_expire(key, when as u64);
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
    let v = match ex.db().get(key, now) {
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
    let now = (ex.now / 1000) as u32;
    with_entry(ex, a, |e, r| r.int(now.saturating_sub(e.access) as i64))
}

fn object_freq(ex: &mut Exec, _a: &mut Args) -> CmdResult {
    let _ = ex;
    Err(CmdError::Static(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
    ))
}

fn object_refcount(ex: &mut Exec, a: &mut Args) -> CmdResult {
    // Redis shares the integers 0..9999 and reports them as immortal.
    with_entry(ex, a, |e, r| {
        let shared = matches!(&e.value, crate::store::Value::Str(s)
            if e.encoding() == "int" && parse_i64(s).is_some_and(|n| (0..10000).contains(&n)));
        r.int(if shared { i32::MAX as i64 } else { 1 })
    })
}

// ---- coordinators ----

/// Runs a per-key-group operation on every shard under one transaction and sums
/// the results (DEL, UNLINK, EXISTS, TOUCH across shards).
async fn sum_across(
    c: &mut Client,
    argv: &[Bytes],
    exclusive: bool,
    op: fn(&mut Db, &[Bytes]) -> i64,
) -> CmdResult {
    let groups = keys_by_shard(c, argv, 1..argv.len());
    let tx = c.tx(lock_parts(c.db, argv, &groups, exclusive)).await;
    let db = c.db as usize;
    let results = tx
        .finish_each(|s| {
            let keys: Vec<Bytes> = groups
                .iter()
                .find(|(x, _)| *x == s)
                .map(|(_, idx)| idx.iter().map(|&i| argv[i].clone()).collect())
                .unwrap_or_default();
            move |sh: &Shard| op(&mut sh.store.borrow_mut().dbs[db], &keys)
        })
        .await;
    c.reply()
        .int(results.into_iter().filter_map(|(_, n)| n).sum());
    Ok(())
}

fn del_cross<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(sum_across(c, argv, true, op_del))
}

fn exists_cross<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(sum_across(c, argv, false, op_exists))
}

/// Two-key commands over two shards, in three hops: lock both keys; look at both
/// (the source entry and whether the destination exists); then remove the source
/// (RENAME) and write the destination while releasing both.
async fn two_key_across(c: &mut Client, argv: &[Bytes], mode: TwoKey) -> CmdResult {
    let (src, dst) = (argv[1].clone(), argv[2].clone());
    let mut to_db = c.db as usize;
    let mut replace = false;
    if let TwoKey::Copy = mode {
        let o = parse_copy(&mut Args::new(&argv[3..]))?;
        to_db = o.db.unwrap_or(to_db);
        replace = o.replace;
    }
    let (s_src, s_dst) = (c.shard.owner(&src), c.shard.owner(&dst));
    let db = c.db as usize;
    let take = !matches!(mode, TwoKey::Copy);
    let parts = vec![
        (
            s_src,
            LockSet::Keys(vec![(
                LockKey {
                    db: db as u8,
                    key: src.clone(),
                },
                take,
            )]),
        ),
        (
            s_dst,
            LockSet::Keys(vec![(
                LockKey {
                    db: to_db as u8,
                    key: dst.clone(),
                },
                true,
            )]),
        ),
    ];
    let tx = c.tx(parts).await;
    let looked = tx
        .run_each(|s| {
            let (src, dst) = (src.clone(), dst.clone());
            move |sh: &Shard| {
                let now = now_ms();
                let mut st = sh.store.borrow_mut();
                if s == s_src {
                    (st.dbs[db].get(&src, now).cloned(), false)
                } else {
                    (None, st.dbs[to_db].get(&dst, now).is_some())
                }
            }
        })
        .await;
    let mut entry = None;
    let mut dst_exists = false;
    for (s, v) in looked {
        match (s == s_src, v) {
            (true, Some((e, _))) => entry = e,
            (false, Some((_, x))) => dst_exists = x,
            _ => {}
        }
    }
    let blocked = match mode {
        TwoKey::RenameNx => dst_exists,
        TwoKey::Copy => dst_exists && !replace,
        TwoKey::Rename => false,
    };
    // Redis reports a missing source before looking at the destination.
    let Some(entry) = entry else {
        tx.release().await;
        return match mode {
            TwoKey::Copy => {
                c.reply().int(0);
                Ok(())
            }
            _ => Err(CmdError::NoSuchKey),
        };
    };
    if blocked {
        tx.release().await;
        c.reply().int(0);
        return Ok(());
    }
    let entry = std::cell::Cell::new(Some(entry));
    tx.finish_each(|s| {
        let (src, dst) = (src.clone(), dst.clone());
        let e = if s == s_dst { entry.take() } else { None };
        move |sh: &Shard| {
            let mut st = sh.store.borrow_mut();
            if s == s_src && take {
                st.dbs[db].remove(&src);
            }
            if let Some(e) = e {
                st.dbs[to_db].set_entry(&dst, e);
            }
        }
    })
    .await;
    match mode {
        TwoKey::Rename => c.reply().ok(),
        _ => c.reply().int(1),
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum TwoKey {
    Rename,
    RenameNx,
    Copy,
}

fn rename_cross<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(two_key_across(c, argv, TwoKey::Rename))
}

fn renamenx_cross<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(two_key_across(c, argv, TwoKey::RenameNx))
}

fn copy_cross<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(two_key_across(c, argv, TwoKey::Copy))
}

fn keys<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let pattern = argv[1].clone();
        let db = c.db as usize;
        let all = on_all_shards(&c.shard, move |sh| {
            let now = now_ms();
            let st = sh.store.borrow();
            let all = pattern.as_ref() == b"*";
            st.dbs[db]
                .dict
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
        let cursor: u64 = std::str::from_utf8(&argv[1])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(CmdError::Static("ERR invalid cursor"))?;
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
                    let now = now_ms();
                    let st = sh.store.borrow();
                    let mut keys = Vec::new();
                    let next = st.dbs[db].dict.scan(pos, want, |k, e| {
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
        let start = (c.shard.rand() % n as u64) as usize;
        for i in 0..n {
            let s = (start + i) % n;
            let k = c
                .shard
                .run_on(s, LockSet::Keys(vec![]), move |sh| {
                    let now = now_ms();
                    let mut st = sh.store.borrow_mut();
                    let d = &mut st.dbs[db];
                    // A few tries: a sampled key may have expired.
                    for _ in 0..16 {
                        let pick = d
                            .dict
                            .random(&mut || sh.rand())
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
        with_all_locked(c, move |sh| sh.store.borrow_mut().dbs[db].clear()).await;
        c.reply().ok();
        Ok(())
    })
}

fn flushall<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        parse_flush_mode(argv)?;
        with_all_locked(c, |sh| {
            for d in sh.store.borrow_mut().dbs.iter_mut() {
                d.clear();
            }
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
            with_all_locked(c, move |sh| sh.store.borrow_mut().swap_dbs(a, b)).await;
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
