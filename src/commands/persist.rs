//! The persistence family: SAVE, BGSAVE, LASTSAVE (snapshots of every shard,
//! `shard::persist`) and DUMP/RESTORE (one key in Redis's payload format,
//! `store::rdb`).

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::{Args, CmdError, CmdResult, Exec};
use crate::dispatch::Client;
use crate::dispatch::args::eq_ic;
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{CommandSpec, acl, flag};
use crate::shard::persist;
use crate::store::notify::{class as ev, notify};
use crate::store::{Entry, rdb};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("save", 1, save)
        .flags(flag::ADMIN | flag::NOSCRIPT | flag::NO_ASYNC_LOADING | flag::NO_MULTI)
        .acl(acl::DANGEROUS)
        .doc(
            "server",
            "1.0.0",
            "Synchronously saves the database(s) to disk.",
        ),
    CommandSpec::conn("bgsave", -1, bgsave)
        .flags(flag::ADMIN | flag::NOSCRIPT | flag::NO_ASYNC_LOADING)
        .acl(acl::DANGEROUS)
        .doc(
            "server",
            "1.0.0",
            "Asynchronously saves the database(s) to disk.",
        ),
    CommandSpec::conn("bgrewriteaof", 1, bgrewriteaof)
        .flags(flag::ADMIN | flag::NOSCRIPT | flag::NO_ASYNC_LOADING)
        .acl(acl::DANGEROUS)
        .doc(
            "server",
            "1.0.0",
            "Asynchronously rewrites the append-only file to disk.",
        ),
    CommandSpec::conn("lastsave", 1, lastsave)
        .flags(flag::LOADING | flag::STALE | flag::FAST)
        .acl(acl::ADMIN | acl::DANGEROUS)
        .tips(&["nondeterministic_output"])
        .doc(
            "server",
            "1.0.0",
            "Returns the Unix timestamp of the last successful save to disk.",
        ),
    CommandSpec::shard("dump", 2, dump)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::KEYSPACE)
        .tips(&["nondeterministic_output"])
        .doc(
            "generic",
            "2.6.0",
            "Returns a serialized representation of the value stored at a key.",
        ),
    CommandSpec::shard("restore", -4, restore)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, OW | UPDATE)])
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .doc(
            "generic",
            "2.6.0",
            "Creates a key from the serialized representation of a value.",
        ),
];

const IN_PROGRESS: &str = "ERR Background save already in progress";

conn_fn!(save, |c, _argv| {
    if c.shard.globals.persist.bgsave_running.load(Relaxed) {
        return Err(CmdError::Static(IN_PROGRESS));
    }
    match persist::save(&c.shard).await {
        Ok(()) => c.reply().ok(),
        Err(e) if e.contains("in progress") => return Err(CmdError::Static(IN_PROGRESS)),
        Err(_) => return Err(CmdError::Static("ERR")),
    }
    Ok(())
});

conn_fn!(bgsave, |c, argv| {
    let schedule = match argv.get(1) {
        None => false,
        Some(a) if argv.len() == 2 && eq_ic(a, "SCHEDULE") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    if persist::bgsave(&c.shard).await {
        c.reply().simple("Background saving started");
    } else if schedule {
        c.shard.globals.persist.scheduled.store(true, Relaxed);
        c.reply().simple("Background saving scheduled");
    } else {
        return Err(CmdError::Static(IN_PROGRESS));
    }
    Ok(())
});

conn_fn!(bgrewriteaof, |c, _argv| {
    match crate::shard::aof::bgrewrite(&c.shard) {
        Ok(msg) => c.reply().simple(msg),
        Err(e) => return Err(CmdError::Static(e)),
    }
    Ok(())
});

conn_fn!(lastsave, |c, _argv| {
    let t = c.shard.globals.persist.lastsave.load(Relaxed);
    c.reply().int(t as i64);
    Ok(())
});

fn dump(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    match ex.store.dbs[ex.db].get(key, now) {
        None => ex.reply.null(),
        Some(e) => {
            let payload = rdb::dump_payload(&e.value, rdb::compression());
            ex.reply.bulk(&payload);
        }
    }
    Ok(())
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f], checked in
/// Redis's order: options, existing key, TTL, payload footer, payload body.
fn restore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let ttl_arg = a.next()?;
    let payload = a.next()?;
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    while let Some(opt) = a.peek() {
        a.next()?;
        let more = !a.is_empty();
        if eq_ic(opt, "REPLACE") {
            replace = true;
        } else if eq_ic(opt, "ABSTTL") {
            absttl = true;
        } else if eq_ic(opt, "IDLETIME") && more && freq.is_none() {
            let v = a.next_i64()?;
            if v < 0 {
                return Err(CmdError::Static("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
        } else if eq_ic(opt, "FREQ") && more && idle.is_none() {
            let v = a.next_i64()?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::Static(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(v);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    if !replace && db.get(key, now).is_some() {
        return Err(CmdError::Static("BUSYKEY Target key name already exists."));
    }
    let ttl = crate::protocol::parse_i64(ttl_arg).ok_or(CmdError::NotInteger)?;
    if ttl < 0 {
        return Err(CmdError::Static("ERR Invalid TTL value, must be >= 0"));
    }
    let value = match rdb::restore_payload(payload) {
        Err(rdb::RdbError::Version(_) | rdb::RdbError::Checksum { .. }) => {
            return Err(CmdError::Static(
                "ERR DUMP payload version or checksum are wrong",
            ));
        }
        Err(rdb::RdbError::Truncated) if payload.len() < 10 => {
            return Err(CmdError::Static(
                "ERR DUMP payload version or checksum are wrong",
            ));
        }
        Err(_) | Ok(None) => return Err(CmdError::Static("ERR Bad data format")),
        Ok(Some(v)) => v,
    };
    let deleted = replace && db.remove(key).is_some();
    let at = match ttl {
        0 => 0,
        t if absttl => t as u64,
        t => now.saturating_add(t as u64),
    };
    let dbi = ex.db;
    if at != 0 && at <= now {
        // Already expired: the key is gone (deleted if it was replaced).
        if deleted {
            notify(dbi, ev::GENERIC, "del", key);
        }
        ex.reply.ok();
        return Ok(());
    }
    let mut e = Entry::new(value);
    e.expire_at = at;
    if let Some(secs) = idle {
        e.access = e.access.saturating_sub(secs.min(u32::MAX as i64) as u32);
    }
    db.set_entry(key, e);
    notify(dbi, ev::GENERIC, "restore", key);
    ex.reply.ok();
    Ok(())
}
