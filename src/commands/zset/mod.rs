//! The sorted-set family: ZADD, ranges by rank/score/lex, pops, random
//! members, ZSCAN and the set operations (ZUNION, ZINTER, ZDIFF and their STORE
//! forms, ZINTERCARD).
//!
//! Multi-key commands are written once: when their keys span shards,
//! `dispatch::coord` gathers the values and runs the same handler.

use crate::store::notify::{class as ev, notify};
use bytes::Bytes;

mod range;
mod setop;
use range::*;
use setop::*;

use super::args::eq_ic;
use super::{Args, CmdError, CmdResult, Exec};
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{CommandSpec, Multi, acl, flag};
use crate::num::{format_double, parse_cursor, parse_double, rand, strtod};
use crate::protocol::{Reply, parse_i64};
use crate::shard::Stats;
use crate::store::set::Set;
use crate::store::zset::{LexBound, LexRange, ScoreRange, ZSet};
use crate::store::{Db, Value};
use crate::util::glob_match;

const NAN_SCORE: CmdError = CmdError::Static("ERR resulting score is not a number (NaN)");
const NOT_FLOAT_RANGE: CmdError = CmdError::Static("ERR min or max is not a float");
const NOT_LEX_RANGE: CmdError = CmdError::Static("ERR min or max not valid string range item");

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::shard("zadd", -4, zadd)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | UPDATE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist."),
    CommandSpec::shard("zincrby", 4, zincrby)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | ACCESS | UPDATE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "1.2.0", "Increments the score of a member in a sorted set."),
    CommandSpec::shard("zrem", -3, zrem)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | DELETE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
    CommandSpec::shard("zcard", 2, zcard)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "1.2.0", "Returns the number of members in a sorted set."),
    CommandSpec::shard("zscore", 3, zscore)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "1.2.0", "Returns the score of a member in a sorted set."),
    CommandSpec::shard("zmscore", -3, zmscore)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set."),
    CommandSpec::shard("zrank", 3, zrank)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores."),
    CommandSpec::shard("zrevrank", 3, zrevrank)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores."),
    CommandSpec::shard("zcount", 4, zcount)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range."),
    CommandSpec::shard("zlexcount", 4, zlexcount)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range."),
    CommandSpec::shard("zrange", -4, zrange)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes."),
    CommandSpec::shard("zrangestore", -5, zrangestore)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, OW | UPDATE), key(2, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "6.2.0", "Stores a range of members from sorted set in a key.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("zrangebyscore", -4, zrangebyscore)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores."),
    CommandSpec::shard("zrevrangebyscore", -4, zrevrangebyscore)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order."),
    CommandSpec::shard("zrangebylex", -4, zrangebylex)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range."),
    CommandSpec::shard("zrevrangebylex", -4, zrevrangebylex)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order."),
    CommandSpec::shard("zrevrange", -4, zrevrange)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order."),
    CommandSpec::shard("zremrangebyrank", 4, zremrangebyrank)
        .flags(flag::WRITE)
        .keys(&[key(1, RW | DELETE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    CommandSpec::shard("zremrangebyscore", 4, zremrangebyscore)
        .flags(flag::WRITE)
        .keys(&[key(1, RW | DELETE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    CommandSpec::shard("zremrangebylex", 4, zremrangebylex)
        .flags(flag::WRITE)
        .keys(&[key(1, RW | DELETE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    CommandSpec::shard("zpopmin", -2, zpopmin)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | ACCESS | DELETE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    CommandSpec::shard("zpopmax", -2, zpopmax)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | ACCESS | DELETE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    CommandSpec::shard("zrandmember", -2, zrandmember)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .tips(&["nondeterministic_output"])
        .doc("sorted-set", "6.2.0", "Returns one or more random members from a sorted set."),
    CommandSpec::shard("zunion", -3, zunion)
        .flags(flag::READONLY)
        .keys(&[keynum(1, 0, 1, 1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "6.2.0", "Returns the union of multiple sorted sets.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("zinter", -3, zinter)
        .flags(flag::READONLY)
        .keys(&[keynum(1, 0, 1, 1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("zdiff", -3, zdiff)
        .flags(flag::READONLY)
        .keys(&[keynum(1, 0, 1, 1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "6.2.0", "Returns the difference between multiple sorted sets.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("zintercard", -3, zintercard)
        .flags(flag::READONLY)
        .keys(&[keynum(1, 0, 1, 1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("zunionstore", -4, zunionstore)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, OW | UPDATE), keynum(2, 0, 1, 1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "2.0.0", "Stores the union of multiple sorted sets in a key.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("zinterstore", -4, zinterstore)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, OW | UPDATE), keynum(2, 0, 1, 1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "2.0.0", "Stores the intersect of multiple sorted sets in a key.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("zdiffstore", -4, zdiffstore)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, OW | UPDATE), keynum(2, 0, 1, 1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "6.2.0", "Stores the difference of multiple sorted sets in a key.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("zscan", -3, zscan)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::SORTEDSET)
        .tips(&["nondeterministic_output"])
        .doc("sorted-set", "2.8.0", "Iterates over members and scores of a sorted set."),
];

// ---- parsing ----

/// One end of a score range: `(` for exclusive, then whatever `strtod` takes,
/// up to the end of the string (or a NUL byte).
fn parse_range_end(s: &[u8]) -> Option<(f64, bool)> {
    let (ex, body) = match s.first() {
        Some(b'(') => (true, &s[1..]),
        _ => (false, s),
    };
    let (v, n, _) = strtod(body);
    let at_end = match body.get(n) {
        None => true,
        Some(0) => true,
        Some(_) => false,
    };
    if !at_end || v.is_nan() {
        return None;
    }
    Some((v, ex))
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let (min, minex) = parse_range_end(min).ok_or(NOT_FLOAT_RANGE)?;
    let (max, maxex) = parse_range_end(max).ok_or(NOT_FLOAT_RANGE)?;
    Ok(ScoreRange {
        min,
        max,
        minex,
        maxex,
    })
}

fn parse_lex_bound(s: &[u8]) -> Option<LexBound> {
    match s.first()? {
        b'+' if s.len() == 1 => Some(LexBound::PosInf),
        b'-' if s.len() == 1 => Some(LexBound::NegInf),
        b'(' => Some(LexBound::Excl(s[1..].to_vec())),
        b'[' => Some(LexBound::Incl(s[1..].to_vec())),
        _ => None,
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    Ok(LexRange {
        min: parse_lex_bound(min).ok_or(NOT_LEX_RANGE)?,
        max: parse_lex_bound(max).ok_or(NOT_LEX_RANGE)?,
    })
}

fn int_arg(s: &[u8]) -> Result<i64, CmdError> {
    parse_i64(s).ok_or(CmdError::NotInteger)
}

// ---- lookups ----

/// The sorted set at `key` for reading (`None` if missing).
fn zread<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    stats: &Stats,
) -> Result<Option<&'a ZSet>, CmdError> {
    super::lookup_read(db, key, now, stats)
}

/// The sorted set at `key` for writing (`None` if missing).
fn zwrite<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut ZSet>, CmdError> {
    super::lookup_mut(db, key, now)
}

/// Deletes `key` if its sorted set became empty (Redis never keeps one).
fn drop_if_empty(db: &mut Db, key: &[u8], now: u64) {
    if matches!(db.peek(key, now).map(|e| &e.value), Some(Value::ZSet(z)) if z.is_empty()) {
        db.remove(key);
        notify(db.id as usize, ev::GENERIC, "del", key);
    }
}

// ---- replies ----

/// Writes `n` members, with their scores if asked: flat in RESP2, as
/// `[member, score]` pairs in RESP3 (ZRANGE WITHSCORES, ZPOPMIN with a count).
pub fn reply_entries<'a>(
    r: &mut Reply,
    n: usize,
    withscores: bool,
    items: impl IntoIterator<Item = (&'a [u8], f64)>,
) {
    let nested = withscores && r.resp3();
    r.array(if withscores && !nested { 2 * n } else { n });
    for (m, s) in items {
        if nested {
            r.array(2);
        }
        r.bulk(m);
        if withscores {
            r.double(s);
        }
    }
}

/// One member and its score, without an array header (BZPOPMIN's reply tail).
pub fn reply_member_score(r: &mut Reply, member: &[u8], score: f64) {
    r.bulk(member);
    r.double(score);
}

/// Popped members as ZPOPMIN replies: without a count, one flat
/// `[member, score]` (empty array if none); with one, [`reply_entries`].
pub fn reply_popped(r: &mut Reply, items: &[(Vec<u8>, f64)], count_given: bool) {
    if !count_given {
        match items.first() {
            Some((m, s)) => {
                r.array(2);
                reply_member_score(r, m, *s);
            }
            None => r.array(0),
        }
        return;
    }
    reply_entries(
        r,
        items.len(),
        true,
        items.iter().map(|(m, s)| (m.as_slice(), *s)),
    );
}

// ---- ZADD / ZINCRBY / ZREM ----

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

fn zadd(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let mut f = AddFlags::default();
    while let Some(t) = a.peek() {
        let flag = match () {
            _ if eq_ic(t, "nx") => &mut f.nx,
            _ if eq_ic(t, "xx") => &mut f.xx,
            _ if eq_ic(t, "gt") => &mut f.gt,
            _ if eq_ic(t, "lt") => &mut f.lt,
            _ if eq_ic(t, "ch") => &mut f.ch,
            _ if eq_ic(t, "incr") => &mut f.incr,
            _ => break,
        };
        *flag = true;
        a.next()?;
    }
    let rest = a.rest();
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::Static(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::Static(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(CmdError::Static(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks(2) {
        pairs.push((parse_double(&p[0]).ok_or(CmdError::NotFloat)?, &p[1][..]));
    }
    zadd_apply(ex, key, f, &pairs)
}

fn zadd_apply(ex: &mut Exec, key: &[u8], f: AddFlags, pairs: &[(f64, &[u8])]) -> CmdResult {
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    let exists = match db.get(key, now) {
        None => false,
        Some(e) if matches!(e.value, Value::ZSet(_)) => true,
        Some(_) => return Err(CmdError::WrongType),
    };
    if !exists && f.xx {
        if f.incr {
            ex.reply.null();
        } else {
            ex.reply.int(0);
        }
        return Ok(());
    }
    let first_len = pairs.first().map_or(0, |p| p.1.len());
    let e = db.entry_or_insert_with(key, now, || Value::ZSet(ZSet::for_first_member(first_len)));
    let Value::ZSet(z) = &mut e.value else {
        return Err(CmdError::WrongType);
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0usize);
    let mut last = 0.0;
    for &(score, m) in pairs {
        match z.score(m) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                let mut s = score;
                if f.incr {
                    s += cur;
                    if s.is_nan() {
                        return Err(NAN_SCORE);
                    }
                }
                last = s;
                if (f.lt && s >= cur) || (f.gt && s <= cur) {
                    continue;
                }
                processed += 1;
                if s != cur {
                    z.insert(m, s);
                    updated += 1;
                }
            }
            None => {
                if f.xx {
                    continue;
                }
                z.insert(m, score);
                last = score;
                added += 1;
                processed += 1;
            }
        }
    }
    if added > 0 || updated > 0 {
        notify(ex.db, ev::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    if f.incr {
        if processed > 0 {
            ex.reply.double(last);
        } else {
            ex.reply.null();
        }
    } else {
        ex.reply.int(if f.ch { added + updated } else { added });
    }
    Ok(())
}

fn zincrby(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let incr = parse_double(a.next()?).ok_or(CmdError::NotFloat)?;
    let m = a.next()?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    zadd_apply(ex, key, f, &[(incr, &m[..])])
}

fn zrem(ex: &mut Exec, a: &mut Args) -> CmdResult {
    super::remove_members::<ZSet>(ex, a)
}

// ---- point reads ----

fn zcard(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let z = zread(&mut ex.store.dbs[ex.db], key, ex.now, ex.stats)?;
    ex.reply.int(z.map_or(0, |z| z.len() as i64));
    Ok(())
}

fn zscore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let m = a.next()?;
    let z = zread(&mut ex.store.dbs[ex.db], key, ex.now, ex.stats)?;
    match z.and_then(|z| z.score(m)) {
        Some(s) => ex.reply.double(s),
        None => ex.reply.null(),
    }
    Ok(())
}

fn zmscore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let z = zread(&mut ex.store.dbs[ex.db], key, ex.now, ex.stats)?;
    let members = a.rest();
    ex.reply.array(members.len());
    for m in members {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ex.reply.double(s),
            None => ex.reply.null(),
        }
    }
    Ok(())
}

fn rank_generic(ex: &mut Exec, a: &mut Args, rev: bool) -> CmdResult {
    let key = a.next()?;
    let m = a.next()?;
    let z = zread(&mut ex.store.dbs[ex.db], key, ex.now, ex.stats)?;
    match z.and_then(|z| z.rank(m).map(|r| if rev { z.len() - 1 - r } else { r })) {
        Some(r) => ex.reply.int(r as i64),
        None => ex.reply.null(),
    }
    Ok(())
}

fn zrank(ex: &mut Exec, a: &mut Args) -> CmdResult {
    rank_generic(ex, a, false)
}

fn zrevrank(ex: &mut Exec, a: &mut Args) -> CmdResult {
    rank_generic(ex, a, true)
}

fn zcount(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let r = parse_score_range(a.next()?, a.next()?)?;
    let z = zread(&mut ex.store.dbs[ex.db], key, ex.now, ex.stats)?;
    let (s, e) = z.map_or((0, 0), |z| z.score_span(&r));
    ex.reply.int((e - s) as i64);
    Ok(())
}

fn zlexcount(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let r = parse_lex_range(a.next()?, a.next()?)?;
    let z = zread(&mut ex.store.dbs[ex.db], key, ex.now, ex.stats)?;
    let (s, e) = z.map_or((0, 0), |z| z.lex_span(&r));
    ex.reply.int((e - s) as i64);
    Ok(())
}

// ---- pops ----

fn zpop(ex: &mut Exec, a: &mut Args, max: bool) -> CmdResult {
    let key = a.next()?;
    if a.len() > 1 {
        return Err(CmdError::Syntax);
    }
    let count = match a.peek() {
        None => None,
        Some(c) => match parse_i64(c) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => {
                return Err(CmdError::Static(
                    "ERR value is out of range, must be positive",
                ));
            }
        },
    };
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    let Some(z) = zwrite(db, key, now)? else {
        ex.reply.array(0);
        return Ok(());
    };
    if count == Some(0) {
        ex.reply.array(0);
        return Ok(());
    }
    let n = count.unwrap_or(1).min(z.len() as u64) as usize;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        match z.pop(max) {
            Some(p) => items.push(p),
            None => break,
        }
    }
    if !items.is_empty() {
        notify(
            db.id as usize,
            ev::ZSET,
            if max { "zpopmax" } else { "zpopmin" },
            key,
        );
    }
    drop_if_empty(db, key, now);
    reply_popped(&mut ex.reply, &items, count.is_some());
    Ok(())
}

fn zpopmin(ex: &mut Exec, a: &mut Args) -> CmdResult {
    zpop(ex, a, false)
}

fn zpopmax(ex: &mut Exec, a: &mut Args) -> CmdResult {
    zpop(ex, a, true)
}

// ---- ZRANDMEMBER ----

fn zrandmember(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    if a.is_empty() {
        let z = zread(&mut ex.store.dbs[ex.db], key, ex.now, ex.stats)?;
        match z.filter(|z| !z.is_empty()) {
            Some(z) => {
                let r = (rand() % z.len() as u64) as usize;
                match z.get(r) {
                    Some((m, _)) => ex.reply.bulk(m),
                    None => ex.reply.null(),
                }
            }
            None => ex.reply.null(),
        }
        return Ok(());
    }
    let l = int_arg(a.next()?)?;
    if l == i64::MIN {
        return Err(CmdError::Static(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withscores = match a.len() {
        0 => false,
        1 if eq_ic(a.peek().map_or(&b""[..], |b| &b[..]), "withscores") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::Static("ERR value is out of range"));
    }
    super::check_random_repeats(l)?;
    let (count, uniq) = (l.unsigned_abs(), l >= 0);
    let Some(z) = zread(&mut ex.store.dbs[ex.db], key, ex.now, ex.stats)? else {
        ex.reply.array(0);
        return Ok(());
    };
    let size = z.len();
    let r = &mut ex.reply;
    if count == 0 || size == 0 {
        r.array(0);
        return Ok(());
    }
    let small = z.encoding() == "listpack";
    let all: Vec<(&[u8], f64)> = if small || (uniq && count >= size as u64) {
        let mut v = Vec::with_capacity(size);
        z.for_each_in_order(|m, s| v.push((m, s)));
        v
    } else {
        Vec::new()
    };
    let pick = |i: usize| -> (&[u8], f64) {
        match all.get(i) {
            Some(&e) => e,
            None => z.get(i).unwrap_or((&[][..], 0.0)),
        }
    };
    if !uniq || count == 1 {
        let n = count as usize;
        let items = (0..n).map(|_| pick((rand() % size as u64) as usize));
        reply_entries(r, n, withscores, items);
        return Ok(());
    }
    // The whole set, highest first, as Redis 7.0 replies it.
    if count >= size as u64 {
        reply_entries(r, size, withscores, all.iter().rev().copied());
        return Ok(());
    }
    let count = count as usize;
    // Distinct ranks: a partial shuffle when most are taken, rejection otherwise.
    let mut ranks: Vec<usize> = if count * 3 > size {
        let mut v: Vec<usize> = (0..size).collect();
        for i in 0..count {
            let j = i + (rand() % (size - i) as u64) as usize;
            v.swap(i, j);
        }
        v.truncate(count);
        v
    } else {
        let mut seen = hashbrown::HashSet::with_capacity(count);
        let mut v = Vec::with_capacity(count);
        while v.len() < count {
            let i = (rand() % size as u64) as usize;
            if seen.insert(i) {
                v.push(i);
            }
        }
        v
    };
    // Redis samples a listpack's distinct members in their stored order.
    if small {
        ranks.sort_unstable();
    }
    reply_entries(r, count, withscores, ranks.into_iter().map(pick));
    Ok(())
}

// ---- ZSCAN ----

fn zscan(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let cursor = parse_cursor(a.next()?).ok_or(CmdError::Static("ERR invalid cursor"))?;
    let Some(z) = zread(&mut ex.store.dbs[ex.db], key, ex.now, ex.stats)? else {
        ex.reply.array(2);
        ex.reply.bulk(b"0");
        ex.reply.array(0);
        return Ok(());
    };
    let mut count = 10usize;
    let mut pattern: Option<&Bytes> = None;
    while !a.is_empty() {
        if a.eat("count") {
            let n = a.next_i64()?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = n as usize;
        } else if a.eat("match") {
            pattern = Some(a.next()?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let all_match = pattern.is_none_or(|p| &p[..] == b"*");
    let mut found: Vec<(Vec<u8>, f64)> = Vec::new();
    let next = z.scan(cursor, count, |m, s| {
        if all_match || pattern.is_some_and(|p| glob_match(p, m, false)) {
            found.push((m.to_vec(), s));
        }
    });
    let r = &mut ex.reply;
    r.array(2);
    r.bulk(itoa::Buffer::new().format(next).as_bytes());
    r.array(2 * found.len());
    for (m, s) in &found {
        r.bulk(m);
        r.bulk(format_double(*s).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
