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
    CommandSpec::conn("migrate", -6, migrate)
        .flags(flag::WRITE)
        .keys(&[
            key(3, RW | ACCESS | DELETE),
            crate::dispatch::table::KeySpec {
                notes: None,
                flags: RW | ACCESS | DELETE | INCOMPLETE,
                begin: crate::dispatch::table::Begin::Keyword {
                    keyword: "KEYS",
                    startfrom: -2,
                },
                find: crate::dispatch::table::Find::Range {
                    lastkey: -1,
                    step: 1,
                    limit: 0,
                },
            },
        ])
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .tips(&["nondeterministic_output"])
        .doc(
            "generic",
            "2.6.0",
            "Atomically transfer a key from a Redis instance to another one.",
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
    e.set_lru_or_lfu(freq.map(|f| f as u8), idle.map(|s| s as u64));
    db.set_entry(key, e);
    notify(dbi, ev::GENERIC, "restore", key);
    ex.reply.ok();
    Ok(())
}

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE]
/// [AUTH password | AUTH2 username password] [KEYS key ...], as Redis 7.0:
/// the keys (locked on their shards for the whole exchange, as Redis blocks
/// for it) are sent as RESTOREs on a cached connection, and deleted here
/// once the target accepted them (unless COPY), journaled as one DEL.
fn migrate<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let (mut copy, mut replace) = (false, false);
        let mut auth: Option<(Option<Bytes>, Bytes)> = None;
        let mut keys: &[Bytes] = &argv[3..4];
        let mut j = 6;
        while j < argv.len() {
            let more = argv.len() - 1 - j;
            let a = &argv[j];
            if eq_ic(a, "COPY") {
                copy = true;
            } else if eq_ic(a, "REPLACE") {
                replace = true;
            } else if eq_ic(a, "AUTH") && more >= 1 {
                auth = Some((None, argv[j + 1].clone()));
                j += 1;
            } else if eq_ic(a, "AUTH2") && more >= 2 {
                auth = Some((Some(argv[j + 1].clone()), argv[j + 2].clone()));
                j += 2;
            } else if eq_ic(a, "KEYS") {
                if !argv[3].is_empty() {
                    return Err(CmdError::Static(
                        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                    ));
                }
                keys = &argv[j + 1..];
                break;
            } else {
                return Err(CmdError::Syntax);
            }
            j += 1;
        }
        let timeout = crate::protocol::parse_i64(&argv[5]).ok_or(CmdError::NotInteger)?;
        let dbid = crate::protocol::parse_i64(&argv[4]).ok_or(CmdError::NotInteger)?;
        let timeout =
            std::time::Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });

        // Lock the keys where they live and take their payloads.
        let db = c.db;
        let mut by_shard: std::collections::BTreeMap<usize, Vec<Bytes>> = Default::default();
        for k in keys {
            by_shard.entry(c.owner(k)).or_default().push(k.clone());
        }
        let parts = by_shard
            .iter()
            .map(|(&s, ks)| {
                let set = ks
                    .iter()
                    .map(|k| {
                        let lk = crate::shard::locks::LockKey { db, key: k.clone() };
                        (lk, true)
                    })
                    .collect();
                (s, crate::shard::locks::LockSet::Keys(set))
            })
            .collect();
        let tx = c.tx(parts).await;
        let found = tx
            .run_each(|s| {
                let ks = by_shard.get(&s).cloned().unwrap_or_default();
                move |sh: &crate::shard::Shard| {
                    let now = crate::shard::script::command_time();
                    let mut st = sh.store.borrow_mut();
                    let d = &mut st.dbs[db as usize];
                    ks.into_iter()
                        .filter_map(|k| {
                            let e = d.get(&k, now)?;
                            let payload = rdb::dump_payload(&e.value, rdb::compression());
                            Some((k, payload, e.expire_at))
                        })
                        .collect::<Vec<_>>()
                }
            })
            .await;
        // In the order the keys were given.
        let mut items: Vec<(Bytes, Vec<u8>, u64)> = found
            .into_iter()
            .flat_map(|(_, r)| r.unwrap_or_default())
            .collect();
        items.sort_by_key(|(k, _, _)| keys.iter().position(|x| x == k));
        if items.is_empty() {
            tx.release().await;
            c.reply().simple("NOKEY");
            return Ok(());
        }
        let host = String::from_utf8_lossy(&argv[1]).into_owned();
        let port = String::from_utf8_lossy(&argv[2]).into_owned();
        let outcome = migrate_send(&host, &port, timeout, dbid, &auth, replace, &items).await;
        let (moved, reply) = match outcome {
            Ok(r) => r,
            Err(e) => {
                tx.release().await;
                return Err(e);
            }
        };
        if copy || moved.is_empty() {
            tx.release().await;
        } else {
            let mut del: Vec<Bytes> = vec![Bytes::from_static(b"DEL")];
            del.extend(moved.iter().cloned());
            tx.journal(db, &del);
            tx.finish_each(|s| {
                let mine: Vec<Bytes> = moved.iter().filter(|k| c.owner(k) == s).cloned().collect();
                move |sh: &crate::shard::Shard| {
                    let mut st = sh.store.borrow_mut();
                    let d = &mut st.dbs[db as usize];
                    for k in mine {
                        if d.remove(&k).is_some() {
                            notify(db as usize, ev::GENERIC, "del", &k);
                        }
                    }
                }
            })
            .await;
        }
        reply.map_err(CmdError::Msg)?;
        c.reply().ok();
        Ok(())
    })
}

/// The network half of MIGRATE: sends AUTH, SELECT and one RESTORE per key
/// on a (cached) connection and reads the replies, retrying once on a
/// cached connection that went stale. Ok: the keys the target accepted,
/// and the reply (an error the target gave); Err: an I/O failure.
async fn migrate_send(
    host: &str,
    port: &str,
    timeout: std::time::Duration,
    dbid: i64,
    auth: &Option<(Option<Bytes>, Bytes)>,
    replace: bool,
    items: &[(Bytes, Vec<u8>, u64)],
) -> Result<(Vec<Bytes>, Result<(), String>), CmdError> {
    use crate::shard::journal::encode;
    use crate::shard::outbound::Peer;
    let mut may_retry = true;
    loop {
        let (mut peer, _) = Peer::get(host, port, timeout)
            .await
            .map_err(|_| CmdError::Static("IOERR error or timeout connecting to the client"))?;
        let mut out = Vec::new();
        if let Some((user, pass)) = auth {
            match user {
                Some(u) => encode(&mut out, &[&b"AUTH"[..], u, pass]),
                None => encode(&mut out, &[&b"AUTH"[..], pass]),
            }
        }
        let select = peer.db != dbid;
        if select {
            encode(&mut out, &[&b"SELECT"[..], dbid.to_string().as_bytes()]);
        }
        let now = crate::store::now_ms();
        let mut sent = Vec::new();
        for (k, payload, at) in items {
            let ttl = match *at {
                0 => 0,
                at if at < now => continue,
                at => (at - now).max(1),
            };
            let ttl = ttl.to_string();
            let mut args: Vec<&[u8]> = vec![b"RESTORE", k, ttl.as_bytes(), payload];
            if replace {
                args.push(b"REPLACE");
            }
            encode(&mut out, &args);
            sent.push(k.clone());
        }
        if let Err(e) = peer.write_all(&out).await {
            if may_retry && e.kind() != std::io::ErrorKind::TimedOut {
                may_retry = false;
                continue;
            }
            return Err(CmdError::Static(
                "IOERR error or timeout writing to target instance",
            ));
        }
        let read_err = |_| CmdError::Static("IOERR error or timeout reading to target instance");
        let auth_reply = match auth {
            Some(_) => Some(peer.read_line().await.map_err(read_err)?),
            None => None,
        };
        let select_reply = match select {
            true => Some(peer.read_line().await.map_err(read_err)?),
            false => None,
        };
        let mut moved = Vec::new();
        let mut error: Option<String> = None;
        let mut socket_error = None;
        for (i, k) in sent.iter().enumerate() {
            let line = match peer.read_line().await {
                Ok(l) => l,
                Err(e) => {
                    socket_error = Some((i, e));
                    break;
                }
            };
            let failed = [auth_reply.as_ref(), select_reply.as_ref(), Some(&line)]
                .into_iter()
                .flatten()
                .find(|r| r.first() == Some(&b'-'));
            match failed {
                Some(r) => {
                    if error.is_none() {
                        peer.db = -1;
                        error = Some(format!(
                            "ERR Target instance replied with error: {}",
                            String::from_utf8_lossy(&r[1..])
                        ));
                    }
                }
                None => moved.push(k.clone()),
            }
        }
        if let Some((i, e)) = socket_error {
            // A cached connection the target had closed: once more, fresh.
            if error.is_none() && i == 0 && may_retry && e.kind() != std::io::ErrorKind::TimedOut {
                may_retry = false;
                continue;
            }
            if error.is_none() {
                return Err(CmdError::Static(
                    "IOERR error or timeout reading to target instance",
                ));
            }
            return Ok((moved, error.map_or(Ok(()), Err)));
        }
        if error.is_none() {
            peer.db = dbid;
        }
        peer.keep(host, port);
        return Ok((moved, error.map_or(Ok(()), Err)));
    }
}
