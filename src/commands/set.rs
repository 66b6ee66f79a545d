//! The set family: SADD ... SSCAN.
//!
//! Multi-key commands (SINTER/SUNION/SDIFF and their STORE forms, SINTERCARD)
//! are written once: across shards, `dispatch::coord` gathers their keys and
//! runs the same handler. SMOVE moves one member with its own two-shard
//! coordinator, so no client sees a partial result either way.

use crate::store::notify::{class as ev, notify};
use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::{Args, CmdError, CmdResult, Exec};
use crate::dispatch::Client;
use crate::dispatch::coord::KeyGroups;
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{CommandSpec, Multi, acl, flag};
use crate::num::{parse_cursor, rand};
use crate::protocol::{Reply, parse_i64};
use crate::shard::Shard;
use crate::store::set::{Member, Set};
use crate::store::{Db, Value};
use crate::util::glob_match;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::shard("sadd", -3, sadd)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | INSERT)])
        .acl(acl::SET)
        .doc("set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist."),
    CommandSpec::shard("srem", -3, srem)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | DELETE)])
        .acl(acl::SET)
        .doc("set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed."),
    CommandSpec::shard("scard", 2, scard)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO)])
        .acl(acl::SET)
        .doc("set", "1.0.0", "Returns the number of members in a set."),
    CommandSpec::shard("sismember", 3, sismember)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO)])
        .acl(acl::SET)
        .doc("set", "1.0.0", "Determines whether a member belongs to a set."),
    CommandSpec::shard("smismember", -3, smismember)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SET)
        .doc("set", "6.2.0", "Determines whether multiple members belong to a set."),
    CommandSpec::shard("smembers", 2, smembers)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SET)
        .tips(&["nondeterministic_output_order"])
        .doc("set", "1.0.0", "Returns all members of a set."),
    CommandSpec::shard("spop", -2, spop)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | ACCESS | DELETE)])
        .acl(acl::SET)
        .tips(&["nondeterministic_output"])
        .doc("set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    CommandSpec::shard("srandmember", -2, srandmember)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SET)
        .tips(&["nondeterministic_output"])
        .doc("set", "1.0.0", "Get one or multiple random members from a set"),
    CommandSpec::shard("smove", 4, smove)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | ACCESS | DELETE), key(2, RW | INSERT)])
        .acl(acl::SET)
        .doc("set", "1.0.0", "Moves a member from one set to another.")
        .multi(Multi::Custom(smove_across)),
    CommandSpec::shard("sinter", -2, sinter)
        .flags(flag::READONLY)
        .keys(&[keys_from(1, RO | ACCESS)])
        .acl(acl::SET)
        .tips(&["nondeterministic_output_order"])
        .doc("set", "1.0.0", "Returns the intersect of multiple sets.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("sintercard", -3, sintercard)
        .flags(flag::READONLY)
        .keys(&[keynum(1, 0, 1, 1, RO | ACCESS)])
        .acl(acl::SET)
        .doc("set", "7.0.0", "Returns the number of members of the intersect of multiple sets.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("sunion", -2, sunion)
        .flags(flag::READONLY)
        .keys(&[keys_from(1, RO | ACCESS)])
        .acl(acl::SET)
        .tips(&["nondeterministic_output_order"])
        .doc("set", "1.0.0", "Returns the union of multiple sets.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("sdiff", -2, sdiff)
        .flags(flag::READONLY)
        .keys(&[keys_from(1, RO | ACCESS)])
        .acl(acl::SET)
        .tips(&["nondeterministic_output_order"])
        .doc("set", "1.0.0", "Returns the difference of multiple sets.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("sinterstore", -3, sinterstore)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RW | UPDATE), keys_from(2, RO | ACCESS)])
        .acl(acl::SET)
        .doc("set", "1.0.0", "Stores the intersect of multiple sets in a key.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("sunionstore", -3, sunionstore)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, OW | UPDATE), keys_from(2, RO | ACCESS)])
        .acl(acl::SET)
        .doc("set", "1.0.0", "Stores the union of multiple sets in a key.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("sdiffstore", -3, sdiffstore)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, OW | UPDATE), keys_from(2, RO | ACCESS)])
        .acl(acl::SET)
        .doc("set", "1.0.0", "Stores the difference of multiple sets in a key.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("sscan", -3, sscan)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SET)
        .tips(&["nondeterministic_output"])
        .doc("set", "2.8.0", "Iterates over members of a set."),
];

// ---------------------------------------------------------------------------
// Pure helpers shared by the shard handlers and the coordinators
// ---------------------------------------------------------------------------

/// Which combination SINTER/SUNION/SDIFF compute.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

/// A value read as a set: `None` for a missing key, WRONGTYPE for other types.
pub fn as_set(v: Option<&Value>) -> Result<Option<&Set>, CmdError> {
    match v {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The combination of `sets` (missing keys are empty sets), built member by
/// member as Redis builds its destination, so the result's encoding matches.
pub fn combine(op: SetOp, sets: &[Option<&Set>]) -> Set {
    let mut out = Set::new();
    match op {
        SetOp::Inter => {
            let Some(mut present) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
                return out;
            };
            // Walk the smallest set; the others only answer membership.
            present.sort_by_key(|s| s.len());
            if let Some((first, rest)) = present.split_first() {
                first.for_each(|m| {
                    if rest.iter().all(|s| s.contains(m)) {
                        out.insert(m);
                    }
                });
            }
        }
        SetOp::Union => {
            for s in sets.iter().flatten() {
                s.for_each(|m| {
                    out.insert(m);
                });
            }
        }
        SetOp::Diff => {
            if let Some(Some(first)) = sets.first() {
                let rest: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
                first.for_each(|m| {
                    if !rest.iter().any(|s| s.contains(m)) {
                        out.insert(m);
                    }
                });
            }
        }
    }
    out
}

/// SINTERCARD's count: the intersection's size, stopping at `limit` (0 = none).
pub fn inter_card(sets: &[Option<&Set>], limit: usize) -> usize {
    let Some(mut present) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return 0;
    };
    present.sort_by_key(|s| s.len());
    let Some((first, rest)) = present.split_first() else {
        return 0;
    };
    let mut n = 0;
    // `for_each` cannot stop early; a full walk of the smallest set is bounded.
    first.for_each(|m| {
        if (limit == 0 || n < limit) && rest.iter().all(|s| s.contains(m)) {
            n += 1;
        }
    });
    n
}

/// SINTERCARD's arguments after the command name: (number of keys, limit).
fn parse_intercard(argv: &[Bytes]) -> Result<(usize, usize), CmdError> {
    const NUMKEYS: CmdError = CmdError::Static("ERR numkeys should be greater than 0");
    let n = argv
        .first()
        .and_then(|a| parse_i64(a))
        .filter(|&n| n >= 1)
        .ok_or(NUMKEYS)?;
    let rest = argv.len().saturating_sub(1);
    if n as u64 > rest as u64 {
        return Err(CmdError::Static(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let n = n as usize;
    let mut a = Args::new(&argv[1 + n..]);
    let mut limit = 0usize;
    while !a.is_empty() {
        if a.len() >= 2 && a.eat("LIMIT") {
            limit = parse_i64(a.next()?)
                .filter(|&l| l >= 0)
                .ok_or(CmdError::Static("ERR LIMIT can't be negative"))?
                as usize;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((n, limit))
}

/// Writes a member as a bulk string.
fn bulk_member(r: &mut Reply, m: Member<'_>) {
    match m {
        Member::Int(v) => r.bulk_int(v),
        Member::Bytes(b) => r.bulk(b),
    }
}

/// Writes a whole set with the RESP3 set type.
fn reply_set(r: &mut Reply, s: &Set) {
    r.set(s.len());
    s.for_each_member(|m| bulk_member(r, m));
}

/// Writes members gathered in a list with the RESP3 set type.
fn reply_members_as_set(r: &mut Reply, ms: &[Vec<u8>]) {
    r.set(ms.len());
    for m in ms {
        r.bulk(m);
    }
}

// ---------------------------------------------------------------------------
// Store access
// ---------------------------------------------------------------------------

/// The set at `key`, or `None`; WRONGTYPE for other types.
fn get_set<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut Set>, CmdError> {
    super::lookup_mut(db, key, now)
}

/// The set at `key`, created empty when missing; WRONGTYPE for other types.
fn set_for_write<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<&'a mut Set, CmdError> {
    if let Some(e) = db.get(key, now)
        && !matches!(e.value, Value::Set(_))
    {
        return Err(CmdError::WrongType);
    }
    match &mut db
        .entry_or_insert_with(key, now, || Value::Set(Set::new()))
        .value
    {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// Reads the sets at `keys` (expiring lazily and checking types in order, as
/// Redis does before computing anything).
fn load_sets<'a>(
    db: &'a mut Db,
    keys: &[Bytes],
    now: u64,
) -> Result<Vec<Option<&'a Set>>, CmdError> {
    for k in keys {
        get_set(db, k, now)?;
    }
    let db: &Db = db;
    keys.iter()
        .map(|k| as_set(db.peek(k, now).map(|e| &e.value)))
        .collect()
}

/// Stores a computed set at `dest` (deleting it when empty); returns its size.
fn store_result(db: &mut Db, dest: &[u8], result: Set, event: &'static str) -> usize {
    let n = result.len();
    if n == 0 {
        if db.remove(dest).is_some() {
            notify(db.id as usize, ev::GENERIC, "del", dest);
        }
    } else {
        db.set(dest, Value::Set(result));
        notify(db.id as usize, ev::SET, event, dest);
    }
    n
}

// ---------------------------------------------------------------------------
// Single-key commands
// ---------------------------------------------------------------------------

fn sadd(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let s = set_for_write(&mut ex.store.dbs[ex.db], key, ex.now)?;
    let added = a.rest().iter().filter(|m| s.insert(m)).count();
    if added > 0 {
        notify(ex.db, ev::SET, "sadd", key);
    }
    ex.reply.int(added as i64);
    Ok(())
}

fn srem(ex: &mut Exec, a: &mut Args) -> CmdResult {
    super::remove_members::<Set>(ex, a)
}

fn scard(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let n = get_set(&mut ex.store.dbs[ex.db], key, ex.now)?.map_or(0, |s| s.len());
    ex.reply.int(n as i64);
    Ok(())
}

fn sismember(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let (key, m) = (a.next()?, a.next()?);
    let s = get_set(&mut ex.store.dbs[ex.db], key, ex.now)?;
    ex.reply.int(s.is_some_and(|s| s.contains(m)) as i64);
    Ok(())
}

fn smismember(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let s = get_set(&mut ex.store.dbs[ex.db], key, ex.now)?;
    let ms = a.rest();
    ex.reply.array(ms.len());
    for m in ms {
        ex.reply
            .int(s.as_ref().is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

fn smembers(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let s = get_set(&mut ex.store.dbs[ex.db], key, ex.now)?;
    let found = s.is_some();
    match s {
        Some(s) => reply_set(&mut ex.reply, s),
        None => ex.reply.set(0),
    }
    ex.hit(found);
    Ok(())
}

fn spop(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    if a.len() > 1 {
        return Err(CmdError::Syntax);
    }
    let count = match a.peek() {
        None => None,
        Some(c) => Some(parse_i64(c).filter(|&n| n >= 0).ok_or(CmdError::Static(
            "ERR value is out of range, must be positive",
        ))? as usize),
    };
    let db = &mut ex.store.dbs[ex.db];
    let Some(s) = get_set(db, key, ex.now)? else {
        match count {
            None => ex.reply.null(),
            Some(_) => ex.reply.set(0),
        }
        return Ok(());
    };
    let take_all = matches!(count, Some(n) if n > 0 && n >= s.len());
    if count != Some(0) {
        notify(ex.db, ev::SET, "spop", key);
    }
    // Journaled as what it removed: a random pick would not replay the same.
    let journal = crate::shard::journal::on();
    let k = || Bytes::copy_from_slice(key);
    match count {
        None => match s.pop_random(&mut rand) {
            Some(m) => {
                ex.reply.bulk(&m);
                if journal {
                    crate::shard::journal::propagate_as(vec![vec![
                        Bytes::from_static(b"SREM"),
                        k(),
                        Bytes::from(m),
                    ]]);
                }
            }
            None => ex.reply.null(),
        },
        Some(0) => ex.reply.set(0),
        Some(n) if n >= s.len() => {
            reply_set(&mut ex.reply, s);
            if journal {
                crate::shard::journal::propagate_as(vec![vec![Bytes::from_static(b"DEL"), k()]]);
            }
        }
        Some(n) => {
            let popped: Vec<Vec<u8>> = (0..n).filter_map(|_| s.pop_random(&mut rand)).collect();
            reply_members_as_set(&mut ex.reply, &popped);
            if journal {
                let mut cmd = vec![Bytes::from_static(b"SREM"), k()];
                cmd.extend(popped.into_iter().map(Bytes::from));
                crate::shard::journal::propagate_as(vec![cmd]);
            }
        }
    }
    if take_all || s.is_empty() {
        db.remove(key);
        notify(db.id as usize, ev::GENERIC, "del", key);
    }
    Ok(())
}

fn srandmember(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    if a.len() > 1 {
        return Err(CmdError::Syntax);
    }
    let count = match a.peek() {
        None => None,
        Some(c) => {
            let n = parse_i64(c).ok_or(CmdError::NotInteger)?;
            if n == i64::MIN {
                return Err(CmdError::Static(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            Some(n)
        }
    };
    let s = get_set(&mut ex.store.dbs[ex.db], key, ex.now)?;
    let r = &mut ex.reply;
    let Some(s) = s else {
        match count {
            None => r.null(),
            Some(_) => r.array(0),
        }
        return Ok(());
    };
    match count {
        None => match s.random(&mut rand) {
            Some(m) => bulk_member(r, m),
            None => r.null(),
        },
        Some(0) => r.array(0),
        Some(n) if n < 0 => {
            super::check_random_repeats(n)?;
            let n = n.unsigned_abs() as usize;
            r.array(n);
            for _ in 0..n {
                match s.random(&mut rand) {
                    Some(m) => bulk_member(r, m),
                    None => r.null(),
                }
            }
        }
        Some(n) => {
            let ms = s.random_distinct(n as usize, &mut rand);
            r.array(ms.len());
            for m in &ms {
                r.bulk(m);
            }
        }
    }
    Ok(())
}

fn sscan(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let cursor = parse_cursor(a.next()?).ok_or(CmdError::Static("ERR invalid cursor"))?;
    let s = get_set(&mut ex.store.dbs[ex.db], key, ex.now)?;
    let Some(s) = s else {
        ex.reply.array(2);
        ex.reply.bulk(b"0");
        ex.reply.array(0);
        return Ok(());
    };
    let mut count = 10usize;
    let mut pattern: Option<&Bytes> = None;
    while !a.is_empty() {
        if a.len() >= 2 && a.eat("COUNT") {
            let n = a.next_i64()?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = n as usize;
        } else if a.len() >= 2 && a.eat("MATCH") {
            pattern = Some(a.next()?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let pattern = pattern.filter(|p| p.as_ref() != b"*");
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = s.scan(cursor, count, |m| {
        m.with_bytes(|b| {
            if pattern.is_none_or(|p| glob_match(p, b, false)) {
                found.push(b.to_vec());
            }
        })
    });
    let r = &mut ex.reply;
    r.array(2);
    r.bulk_int(next as i64);
    r.array(found.len());
    for m in &found {
        r.bulk(m);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Multi-key commands, one shard
// ---------------------------------------------------------------------------

fn smove(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let (src, dst, m) = (a.next()?, a.next()?, a.next()?);
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    // Redis answers 0 for a missing source before looking at any type.
    if as_set(db.get(src, now).map(|e| &e.value))?.is_none() {
        ex.reply.int(0);
        return Ok(());
    }
    as_set(db.get(dst, now).map(|e| &e.value))?;
    if src == dst {
        let has = get_set(db, src, now)?.is_some_and(|s| s.contains(m));
        ex.reply.int(has as i64);
        return Ok(());
    }
    let Some(s) = get_set(db, src, now)? else {
        ex.reply.int(0);
        return Ok(());
    };
    if !s.remove(m) {
        ex.reply.int(0);
        return Ok(());
    }
    notify(ex.db, ev::SET, "srem", src);
    if s.is_empty() {
        db.remove(src);
        notify(db.id as usize, ev::GENERIC, "del", src);
    }
    if set_for_write(db, dst, now)?.insert(m) {
        notify(db.id as usize, ev::SET, "sadd", dst);
    }
    ex.reply.int(1);
    Ok(())
}

fn setop(ex: &mut Exec, a: &mut Args, op: SetOp) -> CmdResult {
    let sets = load_sets(&mut ex.store.dbs[ex.db], a.rest(), ex.now)?;
    let result = combine(op, &sets);
    reply_set(&mut ex.reply, &result);
    Ok(())
}

fn setop_store(ex: &mut Exec, a: &mut Args, op: SetOp) -> CmdResult {
    let dest = a.next()?;
    let db = &mut ex.store.dbs[ex.db];
    let sets = load_sets(db, a.rest(), ex.now)?;
    let result = combine(op, &sets);
    let event = match op {
        SetOp::Inter => "sinterstore",
        SetOp::Union => "sunionstore",
        SetOp::Diff => "sdiffstore",
    };
    let n = store_result(db, dest, result, event);
    ex.reply.int(n as i64);
    Ok(())
}

fn sinter(ex: &mut Exec, a: &mut Args) -> CmdResult {
    setop(ex, a, SetOp::Inter)
}

fn sunion(ex: &mut Exec, a: &mut Args) -> CmdResult {
    setop(ex, a, SetOp::Union)
}

fn sdiff(ex: &mut Exec, a: &mut Args) -> CmdResult {
    setop(ex, a, SetOp::Diff)
}

fn sinterstore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    setop_store(ex, a, SetOp::Inter)
}

fn sunionstore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    setop_store(ex, a, SetOp::Union)
}

fn sdiffstore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    setop_store(ex, a, SetOp::Diff)
}

fn sintercard(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let argv = a.rest();
    let (n, limit) = parse_intercard(argv)?;
    let sets = load_sets(&mut ex.store.dbs[ex.db], &argv[1..1 + n], ex.now)?;
    ex.reply.int(inter_card(&sets, limit) as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// Multi-key commands, several shards
// ---------------------------------------------------------------------------

/// What SMOVE's source shard saw: missing, a set holding the member or not, or
/// another type.
#[derive(Clone, Copy, PartialEq)]
enum SrcState {
    Missing,
    Set { has: bool },
    WrongType,
}

/// SMOVE over two shards: lock both keys exclusively; look at both; then remove
/// from the source and add to the destination in the hop that releases them.
/// (A gather would copy both whole sets to move one member.)
fn smove_across<'a>(
    c: &'a mut Client,
    argv: &'a [Bytes],
    groups: KeyGroups,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let (src, dst, member) = (argv[1].clone(), argv[2].clone(), argv[3].clone());
        let s_src = groups.owner_at(1).unwrap_or(c.shard.id);
        let db = c.db as usize;
        let tx = c.tx(groups.lock_parts(c.db, argv)).await;
        let looked = tx
            .run_each(|s| {
                let (src, dst, member) = (src.clone(), dst.clone(), member.clone());
                move |sh: &Shard| {
                    let now = crate::shard::script::command_time();
                    let mut st = sh.store.borrow_mut();
                    let d = &mut st.dbs[db];
                    if s == s_src {
                        let state = match get_set(d, &src, now) {
                            Ok(None) => SrcState::Missing,
                            Ok(Some(set)) => SrcState::Set {
                                has: set.contains(&member),
                            },
                            Err(_) => SrcState::WrongType,
                        };
                        (state, true)
                    } else {
                        (SrcState::Missing, get_set(d, &dst, now).is_ok())
                    }
                }
            })
            .await;
        let mut src_state = SrcState::Missing;
        let mut dst_ok = true;
        for (s, v) in looked {
            if let Some((state, ok)) = v {
                if s == s_src {
                    src_state = state;
                } else {
                    dst_ok = ok;
                }
            }
        }
        // Redis answers 0 for a missing source before looking at types.
        let outcome = match src_state {
            SrcState::Missing => Ok(false),
            SrcState::WrongType => Err(CmdError::WrongType),
            SrcState::Set { .. } if !dst_ok => Err(CmdError::WrongType),
            SrcState::Set { has } => Ok(has),
        };
        match outcome {
            Ok(true) => {}
            Ok(false) => {
                tx.release().await;
                c.reply().int(0);
                return Ok(());
            }
            Err(e) => {
                tx.release().await;
                return Err(e);
            }
        }
        tx.journal(c.db, argv);
        tx.finish_each(|s| {
            let (src, dst, member) = (src.clone(), dst.clone(), member.clone());
            move |sh: &Shard| {
                let now = crate::shard::script::command_time();
                let mut st = sh.store.borrow_mut();
                let d = &mut st.dbs[db];
                if s == s_src {
                    if let Ok(Some(set)) = get_set(d, &src, now) {
                        set.remove(&member);
                        notify(db, ev::SET, "srem", &src);
                        if set.is_empty() {
                            d.remove(&src);
                            notify(db, ev::GENERIC, "del", &src);
                        }
                    }
                } else if let Ok(set) = set_for_write(d, &dst, now)
                    && set.insert(&member)
                {
                    notify(db, ev::SET, "sadd", &dst);
                }
            }
        })
        .await;
        c.reply().int(1);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use crate::commands::tests::run;
    use crate::store::Store;

    fn enc(st: &Store, key: &str) -> &'static str {
        st.dbs[0]
            .peek(key.as_bytes(), crate::shard::script::command_time())
            .map_or("none", |e| e.encoding())
    }

    fn sorted(reply: &str) -> Vec<String> {
        let mut v: Vec<String> = reply
            .split("\r\n")
            .skip(1)
            .filter(|l| !l.starts_with('$') && !l.is_empty())
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn add_remove_card() {
        let mut st = Store::default();
        assert_eq!(run(&mut st, &["sadd", "s", "1", "2", "2", "x"]), ":3\r\n");
        assert_eq!(run(&mut st, &["scard", "s"]), ":3\r\n");
        assert_eq!(run(&mut st, &["sismember", "s", "x"]), ":1\r\n");
        assert_eq!(
            run(&mut st, &["smismember", "s", "1", "9"]),
            "*2\r\n:1\r\n:0\r\n"
        );
        assert_eq!(run(&mut st, &["srem", "s", "1", "9"]), ":1\r\n");
        assert_eq!(run(&mut st, &["srem", "s", "2", "x"]), ":2\r\n");
        assert_eq!(run(&mut st, &["exists", "s"]), ":0\r\n");
        run(&mut st, &["set", "str", "v"]);
        assert!(run(&mut st, &["sadd", "str", "a"]).starts_with("-WRONGTYPE"));
        assert!(run(&mut st, &["scard", "str"]).starts_with("-WRONGTYPE"));
        assert_eq!(run(&mut st, &["scard", "nope"]), ":0\r\n");
    }

    #[test]
    fn encodings() {
        let mut st = Store::default();
        run(&mut st, &["sadd", "i", "1", "-5", "100000"]);
        assert_eq!(enc(&st, "i"), "intset");
        run(&mut st, &["sadd", "i", "a"]);
        assert_eq!(enc(&st, "i"), "listpack");
        assert_eq!(
            sorted(&run(&mut st, &["smembers", "i"])),
            ["-5", "1", "100000", "a"]
        );
    }

    #[test]
    fn combinations_and_store() {
        let mut st = Store::default();
        run(&mut st, &["sadd", "a", "1", "2", "3", "x"]);
        run(&mut st, &["sadd", "b", "2", "3", "4"]);
        assert_eq!(sorted(&run(&mut st, &["sinter", "a", "b"])), ["2", "3"]);
        assert_eq!(
            sorted(&run(&mut st, &["sunion", "a", "b"])),
            ["1", "2", "3", "4", "x"]
        );
        assert_eq!(sorted(&run(&mut st, &["sdiff", "a", "b"])), ["1", "x"]);
        assert_eq!(run(&mut st, &["sinter", "a", "nope"]), "*0\r\n");
        assert_eq!(run(&mut st, &["sinterstore", "d", "a", "b"]), ":2\r\n");
        assert_eq!(enc(&st, "d"), "intset");
        assert_eq!(run(&mut st, &["sdiffstore", "d", "nope", "a"]), ":0\r\n");
        assert_eq!(run(&mut st, &["exists", "d"]), ":0\r\n");
        assert_eq!(run(&mut st, &["sintercard", "2", "a", "b"]), ":2\r\n");
        assert_eq!(
            run(&mut st, &["sintercard", "2", "a", "b", "LIMIT", "1"]),
            ":1\r\n"
        );
        assert_eq!(
            run(&mut st, &["sintercard", "0", "a"]),
            "-ERR numkeys should be greater than 0\r\n"
        );
        assert_eq!(
            run(&mut st, &["sintercard", "3", "a", "b"]),
            "-ERR Number of keys can't be greater than number of args\r\n"
        );
        assert_eq!(
            run(&mut st, &["sintercard", "1", "a", "LIMIT", "-1"]),
            "-ERR LIMIT can't be negative\r\n"
        );
        assert_eq!(
            run(&mut st, &["sintercard", "1", "a", "LIMIT"]),
            "-ERR syntax error\r\n"
        );
        run(&mut st, &["set", "str", "v"]);
        assert!(run(&mut st, &["sunion", "nope", "str"]).starts_with("-WRONGTYPE"));
    }

    #[test]
    fn smove_rules() {
        let mut st = Store::default();
        run(&mut st, &["sadd", "a", "m"]);
        run(&mut st, &["set", "str", "v"]);
        assert_eq!(run(&mut st, &["smove", "nope", "str", "m"]), ":0\r\n");
        assert!(run(&mut st, &["smove", "a", "str", "m"]).starts_with("-WRONGTYPE"));
        assert_eq!(run(&mut st, &["smove", "a", "a", "m"]), ":1\r\n");
        assert_eq!(run(&mut st, &["smove", "a", "b", "zz"]), ":0\r\n");
        assert_eq!(run(&mut st, &["smove", "a", "b", "m"]), ":1\r\n");
        assert_eq!(run(&mut st, &["exists", "a"]), ":0\r\n");
        assert_eq!(run(&mut st, &["smembers", "b"]), "*1\r\n$1\r\nm\r\n");
    }

    #[test]
    fn pop_and_random() {
        let mut st = Store::default();
        run(&mut st, &["sadd", "s", "a", "b", "c", "d"]);
        assert_eq!(run(&mut st, &["spop", "s", "0"]), "*0\r\n");
        assert_eq!(
            run(&mut st, &["spop", "s", "-1"]),
            "-ERR value is out of range, must be positive\r\n"
        );
        assert!(run(&mut st, &["spop", "s", "2"]).starts_with("*2\r\n"));
        assert_eq!(run(&mut st, &["scard", "s"]), ":2\r\n");
        assert!(run(&mut st, &["srandmember", "s", "-5"]).starts_with("*5\r\n"));
        assert!(run(&mut st, &["srandmember", "s", "5"]).starts_with("*2\r\n"));
        assert!(run(&mut st, &["spop", "s", "5"]).starts_with("*2\r\n"));
        assert_eq!(run(&mut st, &["exists", "s"]), ":0\r\n");
        assert_eq!(run(&mut st, &["spop", "s"]), "$-1\r\n");
        assert_eq!(run(&mut st, &["srandmember", "s", "3"]), "*0\r\n");
        assert_eq!(
            run(&mut st, &["srandmember", "s", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
        );
    }

    #[test]
    fn sscan_cursor_and_options() {
        let mut st = Store::default();
        run(&mut st, &["sadd", "s", "1", "2", "3"]);
        assert_eq!(
            run(&mut st, &["sscan", "s", "0", "MATCH", "2*"]),
            "*2\r\n$1\r\n0\r\n*1\r\n$1\r\n2\r\n"
        );
        assert_eq!(
            run(&mut st, &["sscan", "s", "x"]),
            "-ERR invalid cursor\r\n"
        );
        assert_eq!(
            run(&mut st, &["sscan", "s", "0", "COUNT", "0"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&mut st, &["sscan", "nope", "0", "COUNT", "0"]),
            "*2\r\n$1\r\n0\r\n*0\r\n"
        );
    }
}
