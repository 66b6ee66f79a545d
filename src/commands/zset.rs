//! The sorted-set family: ZADD, ranges by rank/score/lex, pops, random
//! members, ZSCAN and the set operations (ZUNION, ZINTER, ZDIFF and their STORE
//! forms, ZINTERCARD).
//!
//! Multi-key commands are written once: when their keys span shards,
//! `dispatch::coord` gathers the values and runs the same handler.

use std::cell::Cell;

use bytes::Bytes;

use super::args::eq_ic;
use super::{Args, CmdError, CmdResult, Exec};
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{CommandSpec, Multi, acl, flag};
use crate::protocol::reply::format_double;
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

/// C's `isspace`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C's `strtod` on a prefix of `s`: the value and how many bytes it used (0 when
/// no number starts there). Also reports whether the digits were all zero, so
/// callers can tell an underflow from a real zero.
fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let num_start = i;
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = if neg { -1.0 } else { 1.0 };
    let rest = &s[i..];
    let starts =
        |w: &str| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes());
    if starts("infinity") {
        return (sign * f64::INFINITY, i + 8, false);
    }
    if starts("inf") {
        return (sign * f64::INFINITY, i + 3, false);
    }
    if starts("nan") {
        return (f64::NAN, i + 3, false);
    }
    if (starts("0x") || starts("0X"))
        && let Some(r) = strtod_hex(&rest[2..])
    {
        return (sign * r.0, i + 2 + r.1, r.2);
    }
    let mut j = i;
    let mut digits = 0;
    let mut nonzero = false;
    while j < s.len() && s[j].is_ascii_digit() {
        nonzero |= s[j] != b'0';
        j += 1;
        digits += 1;
    }
    if j < s.len() && s[j] == b'.' {
        j += 1;
        while j < s.len() && s[j].is_ascii_digit() {
            nonzero |= s[j] != b'0';
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0, true);
    }
    if j < s.len() && (s[j] == b'e' || s[j] == b'E') {
        let mut k = j + 1;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            k += 1;
        }
        if k < s.len() && s[k].is_ascii_digit() {
            while k < s.len() && s[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    let text = std::str::from_utf8(&s[num_start..j]).unwrap_or("0");
    (text.parse::<f64>().unwrap_or(0.0), j, !nonzero)
}

/// The part of a hex float after `0x`: (magnitude, bytes used, all digits zero).
fn strtod_hex(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut j = 0;
    let mut v = 0.0f64;
    let mut digits = 0;
    let mut scale = 0i32;
    while let Some(d) = s.get(j).and_then(|c| (*c as char).to_digit(16)) {
        v = v * 16.0 + d as f64;
        j += 1;
        digits += 1;
    }
    if s.get(j) == Some(&b'.') {
        j += 1;
        while let Some(d) = s.get(j).and_then(|c| (*c as char).to_digit(16)) {
            v = v * 16.0 + d as f64;
            scale -= 4;
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(s.get(j), Some(b'p' | b'P')) {
        let mut k = j + 1;
        let neg = match s.get(k) {
            Some(b'-') => {
                k += 1;
                true
            }
            Some(b'+') => {
                k += 1;
                false
            }
            _ => false,
        };
        let mut e = 0i32;
        let start = k;
        while let Some(c) = s.get(k).filter(|c| c.is_ascii_digit()) {
            e = e.saturating_mul(10).saturating_add((c - b'0') as i32);
            k += 1;
        }
        if k > start {
            scale = scale.saturating_add(if neg { -e } else { e });
            j = k;
        }
    }
    let zero = v == 0.0;
    Some((v * 2f64.powi(scale), j, zero))
}

/// A score argument as Redis's `getDoubleFromObject` reads it: the whole string,
/// no leading space, no NaN, no overflow to infinity or underflow to zero.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let (v, n, zero_digits) = strtod(s);
    if n != s.len() || v.is_nan() {
        return None;
    }
    let literal_inf = s.iter().any(|c| c.eq_ignore_ascii_case(&b'i'));
    if (v.is_infinite() && !literal_inf) || (v == 0.0 && !zero_digits) {
        return None;
    }
    Some(v)
}

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

fn count_hit(stats: &Stats, found: bool) {
    Stats::add(if found { &stats.hits } else { &stats.misses }, 1);
}

/// The sorted set at `key` for reading (`None` if missing).
fn zread<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    stats: &Stats,
) -> Result<Option<&'a ZSet>, CmdError> {
    let e = db.get(key, now);
    count_hit(stats, e.is_some());
    match e {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The sorted set at `key` for writing (`None` if missing).
fn zwrite<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut ZSet>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Deletes `key` if its sorted set became empty (Redis never keeps one).
fn drop_if_empty(db: &mut Db, key: &[u8], now: u64) {
    if matches!(db.peek(key, now).map(|e| &e.value), Some(Value::ZSet(z)) if z.is_empty()) {
        db.remove(key);
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
        pairs.push((parse_score(&p[0]).ok_or(CmdError::NotFloat)?, &p[1][..]));
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
    let incr = parse_score(a.next()?).ok_or(CmdError::NotFloat)?;
    let m = a.next()?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    zadd_apply(ex, key, f, &[(incr, &m[..])])
}

fn zrem(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    let Some(z) = zwrite(db, key, now)? else {
        ex.reply.int(0);
        return Ok(());
    };
    let mut n = 0;
    for m in a.rest() {
        if z.remove(m).is_some() {
            n += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    drop_if_empty(db, key, now);
    ex.reply.int(n);
    Ok(())
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

// ---- ranges ----

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rank,
    Score,
    Lex,
}

enum Sel {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

struct RangeQuery {
    sel: Sel,
    rev: bool,
    offset: i64,
    limit: i64,
    withscores: bool,
}

/// Parses `min max [options]` (`args` starts at min) as Redis's
/// `zrangeGenericCommand`; `kind`/`rev` are fixed by the legacy commands.
fn parse_range(
    args: &[Bytes],
    store: bool,
    kind: Option<Kind>,
    rev: Option<bool>,
) -> Result<RangeQuery, CmdError> {
    let (mut kind_opt, mut rev_opt) = (kind, rev);
    let (mut offset, mut limit, mut withscores) = (0i64, -1i64, false);
    let mut j = 2;
    while j < args.len() {
        let t = &args[j];
        let left = args.len() - j - 1;
        if !store && eq_ic(t, "withscores") {
            withscores = true;
        } else if eq_ic(t, "limit") && left >= 2 {
            offset = int_arg(&args[j + 1])?;
            limit = int_arg(&args[j + 2])?;
            j += 2;
        } else if rev_opt.is_none() && eq_ic(t, "rev") {
            rev_opt = Some(true);
        } else if kind_opt.is_none() && eq_ic(t, "bylex") {
            kind_opt = Some(Kind::Lex);
        } else if kind_opt.is_none() && eq_ic(t, "byscore") {
            kind_opt = Some(Kind::Score);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let kind = kind_opt.unwrap_or(Kind::Rank);
    let rev = rev_opt.unwrap_or(false);
    if limit != -1 && kind == Kind::Rank {
        return Err(CmdError::Static(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == Kind::Lex {
        return Err(CmdError::Static(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (lo, hi) = if rev && kind != Kind::Rank {
        (&args[1], &args[0])
    } else {
        (&args[0], &args[1])
    };
    let sel = match kind {
        Kind::Rank => Sel::Rank(int_arg(lo)?, int_arg(hi)?),
        Kind::Score => Sel::Score(parse_score_range(lo, hi)?),
        Kind::Lex => Sel::Lex(parse_lex_range(lo, hi)?),
    };
    Ok(RangeQuery {
        sel,
        rev,
        offset,
        limit,
        withscores,
    })
}

/// The members a range query selects, in reply order.
fn range_items<'a>(z: &'a ZSet, q: &RangeQuery) -> Vec<(&'a [u8], f64)> {
    let len = z.len();
    let (lo, hi) = match &q.sel {
        Sel::Rank(s, e) => {
            let Some((s, e)) = super::clamp_range(*s, *e, len) else {
                return Vec::new();
            };
            if q.rev {
                (len - 1 - e, len - s)
            } else {
                (s, e + 1)
            }
        }
        _ if q.offset < 0 => return Vec::new(),
        sel => {
            let (s, e) = match sel {
                Sel::Score(r) => z.score_span(r),
                Sel::Lex(r) => z.lex_span(r),
                Sel::Rank(..) => (0, 0),
            };
            let n = e - s;
            let skip = (q.offset as u64).min(n as u64) as usize;
            let take = if q.limit < 0 {
                n - skip
            } else {
                (q.limit as u64).min((n - skip) as u64) as usize
            };
            if q.rev {
                (e - skip - take, e - skip)
            } else {
                (s + skip, s + skip + take)
            }
        }
    };
    let mut out = Vec::with_capacity(hi.saturating_sub(lo));
    z.visit(lo, hi, q.rev, |m, s| out.push((m, s)));
    out
}

fn range_cmd(ex: &mut Exec, a: &mut Args, kind: Option<Kind>, rev: Option<bool>) -> CmdResult {
    let args = a.all();
    let q = parse_range(&args[1..], false, kind, rev)?;
    let z = zread(&mut ex.store.dbs[ex.db], &args[0], ex.now, ex.stats)?;
    let items = z.map(|z| range_items(z, &q)).unwrap_or_default();
    reply_entries(&mut ex.reply, items.len(), q.withscores, items);
    Ok(())
}

fn zrange(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, None, None)
}

fn zrevrange(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, Some(Kind::Rank), Some(true))
}

fn zrangebyscore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, Some(Kind::Score), Some(false))
}

fn zrevrangebyscore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, Some(Kind::Score), Some(true))
}

fn zrangebylex(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, Some(Kind::Lex), Some(false))
}

fn zrevrangebylex(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, Some(Kind::Lex), Some(true))
}

/// ZRANGESTORE's result from the source value (`args` starts at dst).
fn rangestore_eval(args: &[Bytes], src: Option<&Value>) -> Result<Option<ZSet>, CmdError> {
    let q = parse_range(&args[2..], true, None, None)?;
    let z = match src {
        None => return Ok(None),
        Some(Value::ZSet(z)) => z,
        Some(_) => return Err(CmdError::WrongType),
    };
    let items: Vec<(Vec<u8>, f64)> = range_items(z, &q)
        .into_iter()
        .map(|(m, s)| (m.to_vec(), s))
        .collect();
    Ok((!items.is_empty()).then(|| ZSet::from_pairs(items)))
}

/// Writes a *STORE result (deleting `dest` when empty) and replies its size.
fn store_result(db: &mut Db, dest: &[u8], z: Option<ZSet>, r: &mut Reply) {
    match z {
        Some(z) => {
            r.int(z.len() as i64);
            db.set(dest, Value::ZSet(z));
        }
        None => {
            r.int(0);
            db.remove(dest);
        }
    }
}

fn zrangestore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let args = a.all();
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    db.find(&args[1], now);
    let z = rangestore_eval(args, db.peek(&args[1], now).map(|e| &e.value))?;
    store_result(db, &args[0], z, &mut ex.reply);
    Ok(())
}

// ---- removals by range ----

fn zremrange(ex: &mut Exec, a: &mut Args, kind: Kind) -> CmdResult {
    let key = a.next()?;
    let (lo, hi) = (a.next()?, a.next()?);
    let sel = match kind {
        Kind::Rank => Sel::Rank(int_arg(lo)?, int_arg(hi)?),
        Kind::Score => Sel::Score(parse_score_range(lo, hi)?),
        Kind::Lex => Sel::Lex(parse_lex_range(lo, hi)?),
    };
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    let Some(z) = zwrite(db, key, now)? else {
        ex.reply.int(0);
        return Ok(());
    };
    let (s, e) = match &sel {
        Sel::Rank(s, e) => super::clamp_range(*s, *e, z.len()).map_or((0, 0), |(s, e)| (s, e + 1)),
        Sel::Score(r) => z.score_span(r),
        Sel::Lex(r) => z.lex_span(r),
    };
    let n = z.remove_span(s, e);
    drop_if_empty(db, key, now);
    ex.reply.int(n as i64);
    Ok(())
}

fn zremrangebyrank(ex: &mut Exec, a: &mut Args) -> CmdResult {
    zremrange(ex, a, Kind::Rank)
}

fn zremrangebyscore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    zremrange(ex, a, Kind::Score)
}

fn zremrangebylex(ex: &mut Exec, a: &mut Args) -> CmdResult {
    zremrange(ex, a, Kind::Lex)
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

thread_local! {
    static RNG: Cell<u64> = Cell::new(
        crate::store::now_ms() ^ 0x9E37_79B9_7F4A_7C15 ^ (&RNG_SEED as *const u8 as u64)
    );
}
static RNG_SEED: u8 = 0;

/// A xorshift draw (sampling only, nothing security-related).
fn rand_u64() -> u64 {
    RNG.with(|c| {
        let mut x = c.get() | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        x
    })
}

fn zrandmember(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    if a.is_empty() {
        let z = zread(&mut ex.store.dbs[ex.db], key, ex.now, ex.stats)?;
        match z.filter(|z| !z.is_empty()) {
            Some(z) => {
                let r = (rand_u64() % z.len() as u64) as usize;
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
        let items = (0..n).map(|_| pick((rand_u64() % size as u64) as usize));
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
            let j = i + (rand_u64() % (size - i) as u64) as usize;
            v.swap(i, j);
        }
        v.truncate(count);
        v
    } else {
        let mut seen = hashbrown::HashSet::with_capacity(count);
        let mut v = Vec::with_capacity(count);
        while v.len() < count {
            let i = (rand_u64() % size as u64) as usize;
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

// ---- set operations ----

#[derive(Clone, Copy, PartialEq, Debug)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Read,
    Store,
    Card,
}

#[derive(Clone, Copy, PartialEq)]
enum Agg {
    Sum,
    Min,
    Max,
}

/// A source of a set operation: sets count as members with score 1.
enum Src<'a> {
    Missing,
    Z(&'a ZSet),
    S(&'a Set),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Src::Missing => {}
            Src::Z(z) => z.for_each_in_order(f),
            Src::S(s) => s.for_each(|m| f(m, 1.0)),
        }
    }
}

/// Membership lookups into a source.
enum Lookup<'a> {
    Missing,
    Z(&'a ZSet),
    S(hashbrown::HashSet<Vec<u8>>),
}

impl Lookup<'_> {
    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Lookup::Missing => None,
            Lookup::Z(z) => z.score(m),
            Lookup::S(s) => s.contains(m).then_some(1.0),
        }
    }
}

fn lookup_of<'a>(src: &Src<'a>) -> Lookup<'a> {
    match src {
        Src::Missing => Lookup::Missing,
        Src::Z(z) => Lookup::Z(z),
        Src::S(s) => {
            let mut h = hashbrown::HashSet::with_capacity(s.len());
            s.for_each(|m| {
                h.insert(m.to_vec());
            });
            Lookup::S(h)
        }
    }
}

fn aggregate(target: &mut f64, val: f64, agg: Agg) {
    match agg {
        Agg::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Agg::Min => {
            if val < *target {
                *target = val;
            }
        }
        Agg::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// `numkeys` at `args[nk]` (args after the command name), checked as Redis does.
fn numkeys(args: &[Bytes], nk: usize, name: &str) -> Result<usize, CmdError> {
    let n = int_arg(args.get(nk).ok_or(CmdError::Syntax)?)?;
    if n < 1 {
        return Err(CmdError::Msg(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if n as u64 > (args.len() - nk - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    Ok(n as usize)
}

/// What a set operation produced.
enum SetOut {
    /// Members with their scores, sorted; and whether to reply the scores.
    Items(Vec<(Vec<u8>, f64)>, bool),
    Card(usize),
}

/// The whole of ZUNION/ZINTER/ZDIFF(STORE)/ZINTERCARD after the keys were read:
/// type checks, options, then the computation. `vals` are the source values in
/// key order.
fn setop_eval(
    args: &[Bytes],
    nk: usize,
    n: usize,
    vals: &[Option<&Value>],
    op: SetOp,
    mode: Mode,
) -> Result<SetOut, CmdError> {
    let mut srcs = Vec::with_capacity(n);
    for v in vals {
        srcs.push(match v {
            None => Src::Missing,
            Some(Value::ZSet(z)) => Src::Z(z),
            Some(Value::Set(s)) => Src::S(s),
            Some(_) => return Err(CmdError::WrongType),
        });
    }
    let mut weights = vec![1.0f64; n];
    let (mut agg, mut withscores, mut limit) = (Agg::Sum, false, 0usize);
    let mut j = nk + 1 + n;
    while j < args.len() {
        let remaining = args.len() - j;
        let t = &args[j];
        if op != SetOp::Diff && mode != Mode::Card && remaining > n && eq_ic(t, "weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = parse_score(&args[j + 1 + i])
                    .ok_or(CmdError::Static("ERR weight value is not a float"))?;
            }
            j += 1 + n;
        } else if op != SetOp::Diff && mode != Mode::Card && remaining >= 2 && eq_ic(t, "aggregate")
        {
            let v = &args[j + 1];
            agg = if eq_ic(v, "sum") {
                Agg::Sum
            } else if eq_ic(v, "min") {
                Agg::Min
            } else if eq_ic(v, "max") {
                Agg::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if mode == Mode::Card && remaining >= 2 && eq_ic(t, "limit") {
            limit = parse_i64(&args[j + 1])
                .filter(|&l| l >= 0)
                .ok_or(CmdError::Static("ERR LIMIT can't be negative"))?
                as usize;
            j += 2;
        } else if mode == Mode::Read && eq_ic(t, "withscores") {
            withscores = true;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    // Smallest inputs first, as Redis orders them (it also fixes the order in
    // which SUM adds, hence the exact float results).
    let mut order: Vec<usize> = (0..n).collect();
    if op != SetOp::Diff {
        order.sort_by_key(|&i| srcs[i].len());
    }
    let mut out: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        SetOp::Union => {
            let mut acc: hashbrown::HashMap<Vec<u8>, f64> = hashbrown::HashMap::new();
            for &i in &order {
                let w = weights[i];
                srcs[i].for_each(|m, s| {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, agg),
                        None => {
                            acc.insert(m.to_vec(), score);
                        }
                    }
                });
            }
            out = acc.into_iter().collect();
        }
        SetOp::Inter => {
            let first = order[0];
            if srcs[first].len() > 0 {
                let lookups: Vec<(Lookup, f64)> = order[1..]
                    .iter()
                    .map(|&i| (lookup_of(&srcs[i]), weights[i]))
                    .collect();
                let mut count = 0usize;
                srcs[first].for_each(|m, s| {
                    if mode == Mode::Card && limit > 0 && count >= limit {
                        return;
                    }
                    let mut score = weights[first] * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for (l, w) in &lookups {
                        match l.score(m) {
                            Some(v) => aggregate(&mut score, v * w, agg),
                            None => return,
                        }
                    }
                    count += 1;
                    if mode != Mode::Card {
                        out.push((m.to_vec(), score));
                    }
                });
                if mode == Mode::Card {
                    return Ok(SetOut::Card(count));
                }
            } else if mode == Mode::Card {
                return Ok(SetOut::Card(0));
            }
        }
        SetOp::Diff => {
            let others: Vec<Lookup> = srcs[1..].iter().map(lookup_of).collect();
            srcs[0].for_each(|m, s| {
                if others.iter().all(|l| l.score(m).is_none()) {
                    out.push((m.to_vec(), s));
                }
            });
        }
    }
    out.sort_by(|a, b| crate::store::zset::cmp_entry(a.1, &a.0, b.1, &b.0));
    Ok(SetOut::Items(out, withscores))
}

/// Runs a set operation whose keys are all on this shard.
fn setop_shard(ex: &mut Exec, a: &mut Args, name: &str, op: SetOp, mode: Mode) -> CmdResult {
    let args = a.all();
    let nk = if mode == Mode::Store { 1 } else { 0 };
    let n = numkeys(args, nk, name)?;
    let keys = &args[nk + 1..nk + 1 + n];
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    for k in keys {
        db.find(k, now);
    }
    let out = {
        let vals: Vec<Option<&Value>> = keys
            .iter()
            .map(|k| db.peek(k, now).map(|e| &e.value))
            .collect();
        setop_eval(args, nk, n, &vals, op, mode)?
    };
    match out {
        SetOut::Card(c) => ex.reply.int(c as i64),
        SetOut::Items(items, ws) => {
            if mode == Mode::Store {
                let z = (!items.is_empty()).then(|| ZSet::from_pairs(items));
                store_result(db, &args[0], z, &mut ex.reply);
            } else {
                reply_entries(
                    &mut ex.reply,
                    items.len(),
                    ws,
                    items.iter().map(|(m, s)| (m.as_slice(), *s)),
                );
            }
        }
    }
    Ok(())
}

macro_rules! setop_cmds {
    ($($shard:ident, $name:literal, $op:expr, $mode:expr;)*) => {
        $(
            fn $shard(ex: &mut Exec, a: &mut Args) -> CmdResult {
                setop_shard(ex, a, $name, $op, $mode)
            }
        )*
    };
}

setop_cmds! {
    zunion, "zunion", SetOp::Union, Mode::Read;
    zinter, "zinter", SetOp::Inter, Mode::Read;
    zdiff, "zdiff", SetOp::Diff, Mode::Read;
    zintercard, "zintercard", SetOp::Inter, Mode::Card;
    zunionstore, "zunionstore", SetOp::Union, Mode::Store;
    zinterstore, "zinterstore", SetOp::Inter, Mode::Store;
    zdiffstore, "zdiffstore", SetOp::Diff, Mode::Store;
}

// ---- ZSCAN ----

/// A SCAN cursor as C's `strtoul` reads it (a leading `-` wraps around).
fn parse_cursor(s: &[u8]) -> Option<u64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}

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
mod tests {
    use super::super::tests::run;
    use super::*;
    use crate::store::Store;

    #[test]
    fn zadd_options_and_errors() {
        let mut st = Store::default();
        assert_eq!(run(&mut st, &["zadd", "z", "1", "a", "2", "b"]), ":2\r\n");
        assert_eq!(
            run(&mut st, &["zadd", "z", "ch", "3", "a", "2", "b", "1", "c"]),
            ":2\r\n"
        );
        assert_eq!(run(&mut st, &["zadd", "z", "nx", "9", "a"]), ":0\r\n");
        assert_eq!(
            run(&mut st, &["zadd", "z", "xx", "incr", "1", "a"]),
            "$1\r\n4\r\n"
        );
        assert_eq!(
            run(&mut st, &["zadd", "z", "gt", "incr", "-1", "a"]),
            "$-1\r\n"
        );
        assert_eq!(run(&mut st, &["zadd", "z", "xx", "1", "zz"]), ":0\r\n");
        assert_eq!(run(&mut st, &["zscore", "z", "zz"]), "$-1\r\n");
        assert_eq!(
            run(&mut st, &["zadd", "z", "nx", "xx", "1", "a"]),
            "-ERR XX and NX options at the same time are not compatible\r\n"
        );
        assert_eq!(
            run(&mut st, &["zadd", "z", "gt", "lt", "1", "a"]),
            "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"
        );
        assert_eq!(
            run(&mut st, &["zadd", "z", "incr", "1", "a", "2", "b"]),
            "-ERR INCR option supports a single increment-element pair\r\n"
        );
        assert_eq!(
            run(&mut st, &["zadd", "z", "x", "a"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(
            run(&mut st, &["zadd", "z", "1e400", "a"]),
            "-ERR value is not a valid float\r\n"
        );
        run(&mut st, &["zadd", "i", "inf", "a"]);
        assert_eq!(
            run(&mut st, &["zincrby", "i", "-inf", "a"]),
            "-ERR resulting score is not a number (NaN)\r\n"
        );
        assert_eq!(run(&mut st, &["zadd", "f", "1.1", "a"]), ":1\r\n");
        assert_eq!(
            run(&mut st, &["zscore", "f", "a"]),
            "$18\r\n1.1000000000000001\r\n"
        );
        assert_eq!(run(&mut st, &["zadd", "h", "0x10", "a"]), ":1\r\n");
        assert_eq!(run(&mut st, &["zscore", "h", "a"]), "$2\r\n16\r\n");
    }

    #[test]
    fn ranges_and_removals() {
        let mut st = Store::default();
        run(
            &mut st,
            &["zadd", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
        );
        assert_eq!(
            run(
                &mut st,
                &["zrange", "z", "(1", "3", "byscore", "withscores"]
            ),
            "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"
        );
        assert_eq!(
            run(
                &mut st,
                &[
                    "zrange", "z", "+inf", "-inf", "byscore", "rev", "limit", "1", "2"
                ]
            ),
            "*2\r\n$1\r\nc\r\n$1\r\nb\r\n"
        );
        assert_eq!(
            run(&mut st, &["zrevrange", "z", "0", "0"]),
            "*1\r\n$1\r\nd\r\n"
        );
        assert_eq!(
            run(&mut st, &["zrangebylex", "z", "[b", "(d"]),
            "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(
            run(&mut st, &["zcount", "z", "x", "1"]),
            "-ERR min or max is not a float\r\n"
        );
        assert_eq!(
            run(&mut st, &["zlexcount", "z", "a", "+"]),
            "-ERR min or max not valid string range item\r\n"
        );
        assert_eq!(run(&mut st, &["zrangestore", "d", "z", "1", "2"]), ":2\r\n");
        assert_eq!(
            run(&mut st, &["zremrangebyscore", "z", "-inf", "(3"]),
            ":2\r\n"
        );
        assert_eq!(run(&mut st, &["zremrangebyrank", "z", "0", "-1"]), ":2\r\n");
        assert_eq!(run(&mut st, &["exists", "z"]), ":0\r\n");
    }

    #[test]
    fn pops_and_setops() {
        let mut st = Store::default();
        run(&mut st, &["zadd", "a", "1", "x", "2", "y"]);
        run(&mut st, &["zadd", "b", "10", "y", "20", "z"]);
        assert_eq!(
            run(&mut st, &["zunion", "2", "a", "b", "withscores"]),
            "*6\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n20\r\n"
        );
        assert_eq!(
            run(
                &mut st,
                &[
                    "zinter",
                    "2",
                    "a",
                    "b",
                    "weights",
                    "2",
                    "1",
                    "aggregate",
                    "min"
                ]
            ),
            "*1\r\n$1\r\ny\r\n"
        );
        assert_eq!(run(&mut st, &["zdiffstore", "d", "2", "a", "b"]), ":1\r\n");
        assert_eq!(
            run(&mut st, &["zintercard", "2", "a", "b", "limit", "0"]),
            ":1\r\n"
        );
        assert_eq!(
            run(&mut st, &["zunion", "0", "a"]),
            "-ERR at least 1 input key is needed for 'zunion' command\r\n"
        );
        assert_eq!(
            run(&mut st, &["zpopmin", "a"]),
            "*2\r\n$1\r\nx\r\n$1\r\n1\r\n"
        );
        assert_eq!(
            run(&mut st, &["zpopmax", "a", "5"]),
            "*2\r\n$1\r\ny\r\n$1\r\n2\r\n"
        );
        assert_eq!(run(&mut st, &["exists", "a"]), ":0\r\n");
        assert_eq!(
            run(&mut st, &["zpopmin", "b", "-1"]),
            "-ERR value is out of range, must be positive\r\n"
        );
    }

    #[test]
    fn strtod_like_c() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b"1 "), None);
        assert_eq!(parse_score(b"1e-400"), None);
        assert_eq!(parse_score(b"0e5"), Some(0.0));
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b"0x1p4"), Some(16.0));
        assert_eq!(parse_range_end(b""), Some((0.0, false)));
        assert_eq!(parse_range_end(b"("), Some((0.0, true)));
        assert_eq!(parse_range_end(b" 2"), Some((2.0, false)));
        assert_eq!(parse_range_end(b"2 "), None);
    }
}
