//! The list family: pushes, pops, ranges, LINDEX/LSET/LINSERT/LREM/LTRIM/LPOS.
//!
//! Every command touches one key, so each runs on the key's owner shard. Argument
//! checks and key lookups happen in Redis's order, so the same malformed command
//! gets the same error (or the same null) as from Redis 7.0. Replies stream
//! straight out of the list's buffers. (LMOVE, LMPOP and the blocking pops live in
//! `blocking.rs`.)

use crate::store::notify::{class as ev, notify};
use bytes::BufMut;

use super::args::eq_ic;
use super::{Args, CmdError, CmdResult, Exec};
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{CommandSpec, acl, flag};
use crate::protocol::{Reply, parse_i64};
use crate::store::list::List;
use crate::store::{Db, Value};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::shard("lpush", -3, lpush)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | INSERT)])
        .acl(acl::LIST)
        .doc(
            "list",
            "1.0.0",
            "Prepend one or multiple elements to a list",
        ),
    CommandSpec::shard("rpush", -3, rpush)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | INSERT)])
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Append one or multiple elements to a list"),
    CommandSpec::shard("lpushx", -3, lpushx)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | INSERT)])
        .acl(acl::LIST)
        .doc(
            "list",
            "2.2.0",
            "Prepend an element to a list, only if the list exists",
        ),
    CommandSpec::shard("rpushx", -3, rpushx)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | INSERT)])
        .acl(acl::LIST)
        .doc(
            "list",
            "2.2.0",
            "Append an element to a list, only if the list exists",
        ),
    CommandSpec::shard("lpop", -2, lpop)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | ACCESS | DELETE)])
        .acl(acl::LIST)
        .doc(
            "list",
            "1.0.0",
            "Remove and get the first elements in a list",
        ),
    CommandSpec::shard("rpop", -2, rpop)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | ACCESS | DELETE)])
        .acl(acl::LIST)
        .doc(
            "list",
            "1.0.0",
            "Remove and get the last elements in a list",
        ),
    CommandSpec::shard("llen", 2, llen)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO)])
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Get the length of a list"),
    CommandSpec::shard("lrange", 4, lrange)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Get a range of elements from a list"),
    CommandSpec::shard("lindex", 3, lindex)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Get an element from a list by its index"),
    CommandSpec::shard("lset", 4, lset)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RW | UPDATE)])
        .acl(acl::LIST)
        .doc(
            "list",
            "1.0.0",
            "Set the value of an element in a list by its index",
        ),
    CommandSpec::shard("linsert", 5, linsert)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RW | INSERT)])
        .acl(acl::LIST)
        .doc(
            "list",
            "2.2.0",
            "Insert an element before or after another element in a list",
        ),
    CommandSpec::shard("lrem", 4, lrem)
        .flags(flag::WRITE)
        .keys(&[key(1, RW | DELETE)])
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Remove elements from a list"),
    CommandSpec::shard("ltrim", 4, ltrim)
        .flags(flag::WRITE)
        .keys(&[key(1, RW | DELETE)])
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Trim a list to the specified range"),
    CommandSpec::shard("lpos", -3, lpos)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::LIST)
        .doc(
            "list",
            "6.0.6",
            "Return the index of matching elements on a list",
        ),
];

/// Redis's reply when a count must be a non-negative integer.
const NOT_POSITIVE: CmdError = CmdError::Static("ERR value is out of range, must be positive");

/// The list at `key`, or `None`; WRONGTYPE for other types. (Other families
/// holding lists, e.g. the blocking pops, use it too.)
pub fn get_list<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a mut List>, CmdError> {
    super::lookup_mut(db, key, now)
}

/// Redis's `getPositiveLongFromObjectOrReply`: a non-negative integer, `err` otherwise.
fn non_negative(arg: &[u8], err: CmdError) -> Result<i64, CmdError> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(err),
    }
}

/// Writes an array of the `n` bulk strings `items` (short lengths take a
/// one-digit header without formatting).
#[inline]
fn write_bulks<'a>(reply: &mut Reply, n: usize, items: impl Iterator<Item = &'a [u8]>) {
    reply.array(n);
    let buf = &mut *reply.buf;
    let mut itoa = itoa::Buffer::new();
    for e in items {
        let len = e.len();
        buf.reserve(len + 16);
        if len < 10 {
            buf.put_slice(&[b'$', b'0' + len as u8, b'\r', b'\n']);
        } else {
            buf.put_u8(b'$');
            buf.put_slice(itoa.format(len).as_bytes());
            buf.put_slice(b"\r\n");
        }
        buf.put_slice(e);
        buf.put_slice(b"\r\n");
    }
}

/// Removes `key` if the command emptied its list (Redis deletes empty lists).
#[inline]
fn drop_if_empty(db: &mut Db, key: &[u8], empty: bool) {
    if empty {
        db.remove(key);
        notify(db.id as usize, ev::GENERIC, "del", key);
    }
}

fn push_generic(ex: &mut Exec, a: &mut Args, left: bool, existing_only: bool) -> CmdResult {
    let key = a.next()?;
    let vals = a.rest();
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    let list = if existing_only {
        match get_list(db, key, now)? {
            Some(l) => l,
            None => {
                ex.reply.int(0);
                return Ok(());
            }
        }
    } else {
        let e = db.entry_or_insert_with(key, now, || Value::List(List::new()));
        match &mut e.value {
            Value::List(l) => l,
            _ => return Err(CmdError::WrongType),
        }
    };
    for v in vals {
        list.push(left, v);
    }
    let n = list.len();
    notify(ex.db, ev::LIST, if left { "lpush" } else { "rpush" }, key);
    ex.reply.int(n as i64);
    Ok(())
}

fn lpush(ex: &mut Exec, a: &mut Args) -> CmdResult {
    push_generic(ex, a, true, false)
}

fn rpush(ex: &mut Exec, a: &mut Args) -> CmdResult {
    push_generic(ex, a, false, false)
}

fn lpushx(ex: &mut Exec, a: &mut Args) -> CmdResult {
    push_generic(ex, a, true, true)
}

fn rpushx(ex: &mut Exec, a: &mut Args) -> CmdResult {
    push_generic(ex, a, false, true)
}

fn pop_generic(ex: &mut Exec, a: &mut Args, left: bool, name: &str) -> CmdResult {
    let key = a.next()?;
    let count = match a.len() {
        0 => None,
        1 => Some(non_negative(a.next()?, NOT_POSITIVE)? as usize),
        _ => return Err(CmdError::Msg(crate::dispatch::arity_error(name))),
    };
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    let Some(list) = get_list(db, key, now)? else {
        if count.is_some() {
            ex.reply.null_array();
        } else {
            ex.reply.null();
        }
        return Ok(());
    };
    match count {
        None => {
            let reply = &mut ex.reply;
            list.pop_with(left, |v| reply.bulk(v));
        }
        Some(0) => {
            ex.reply.array(0);
            return Ok(());
        }
        Some(n) => {
            let len = list.len();
            let n = n.min(len);
            // Reply straight from the buffers, then drop the popped chunks.
            if left {
                write_bulks(&mut ex.reply, n, list.range(0, n));
                list.trim(n, 0);
            } else {
                write_bulks(&mut ex.reply, n, list.range(len - n, len).rev());
                list.trim(0, n);
            }
        }
    }
    let empty = list.is_empty();
    notify(
        db.id as usize,
        ev::LIST,
        if left { "lpop" } else { "rpop" },
        key,
    );
    drop_if_empty(db, key, empty);
    Ok(())
}

fn lpop(ex: &mut Exec, a: &mut Args) -> CmdResult {
    pop_generic(ex, a, true, "lpop")
}

fn rpop(ex: &mut Exec, a: &mut Args) -> CmdResult {
    pop_generic(ex, a, false, "rpop")
}

fn llen(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let n = get_list(&mut ex.store.dbs[ex.db], key, now)?.map(|l| l.len());
    ex.hit(n.is_some());
    ex.reply.int(n.unwrap_or(0) as i64);
    Ok(())
}

fn lrange(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let (start, end) = (a.next_i64()?, a.next_i64()?);
    let now = ex.now;
    let Some(list) = get_list(&mut ex.store.dbs[ex.db], key, now)? else {
        ex.hit(false);
        ex.reply.array(0);
        return Ok(());
    };
    crate::shard::Stats::add(&ex.stats.hits, 1);
    match super::clamp_range(start, end, list.len()) {
        None => ex.reply.array(0),
        Some((s, e)) => write_bulks(&mut ex.reply, e - s + 1, list.range(s, e + 1)),
    }
    Ok(())
}

fn lindex(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let Some(list) = get_list(&mut ex.store.dbs[ex.db], key, now)? else {
        ex.hit(false);
        ex.reply.null();
        return Ok(());
    };
    crate::shard::Stats::add(&ex.stats.hits, 1);
    let idx = a.next_i64()?;
    let len = list.len() as i64;
    let i = if idx < 0 { idx + len } else { idx };
    let found = if (0..len).contains(&i) {
        list.get(i as usize)
    } else {
        None
    };
    match found {
        Some(v) => ex.reply.bulk(v),
        None => ex.reply.null(),
    }
    Ok(())
}

fn lset(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let list = get_list(&mut ex.store.dbs[ex.db], key, now)?.ok_or(CmdError::NoSuchKey)?;
    let idx = a.next_i64()?;
    let v = a.next()?;
    let len = list.len() as i64;
    let i = if idx < 0 { idx + len } else { idx };
    if !(0..len).contains(&i) {
        return Err(CmdError::Static("ERR index out of range"));
    }
    list.set(i as usize, v);
    notify(ex.db, ev::LIST, "lset", key);
    ex.reply.ok();
    Ok(())
}

fn linsert(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let wh = a.next()?;
    let after = if eq_ic(wh, "after") {
        true
    } else if eq_ic(wh, "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let (pivot, v) = (a.next()?, a.next()?);
    let now = ex.now;
    let Some(list) = get_list(&mut ex.store.dbs[ex.db], key, now)? else {
        ex.reply.int(0);
        return Ok(());
    };
    if list.insert(pivot, after, v) {
        let n = list.len();
        notify(ex.db, ev::LIST, "linsert", key);
        ex.reply.int(n as i64);
    } else {
        ex.reply.int(-1);
    }
    Ok(())
}

fn lrem(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let count = a.next_i64()?;
    let v = a.next()?;
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    let Some(list) = get_list(db, key, now)? else {
        ex.reply.int(0);
        return Ok(());
    };
    let removed = list.remove(v, count);
    let empty = list.is_empty();
    if removed > 0 {
        notify(db.id as usize, ev::LIST, "lrem", key);
    }
    drop_if_empty(db, key, empty);
    ex.reply.int(removed as i64);
    Ok(())
}

fn ltrim(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let (start, end) = (a.next_i64()?, a.next_i64()?);
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    if let Some(list) = get_list(db, key, now)? {
        let len = list.len();
        match super::clamp_range(start, end, len) {
            None => list.clear(),
            Some((s, e)) => list.trim(s, len - e - 1),
        }
        let empty = list.is_empty();
        notify(db.id as usize, ev::LIST, "ltrim", key);
        drop_if_empty(db, key, empty);
    }
    ex.reply.ok();
    Ok(())
}

fn lpos(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let elem = a.next()?;
    let (mut rank, mut count, mut maxlen): (i64, Option<i64>, i64) = (1, None, 0);
    while let Some(opt) = a.peek() {
        let more = a.len() > 1;
        a.next()?;
        if eq_ic(opt, "rank") && more {
            rank = a.next_i64()?;
            if rank == 0 {
                return Err(CmdError::Static(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if eq_ic(opt, "count") && more {
            count = Some(non_negative(
                a.next()?,
                CmdError::Static("ERR COUNT can't be negative"),
            )?);
        } else if eq_ic(opt, "maxlen") && more {
            maxlen = non_negative(a.next()?, CmdError::Static("ERR MAXLEN can't be negative"))?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = ex.now;
    let Some(list) = get_list(&mut ex.store.dbs[ex.db], key, now)? else {
        ex.hit(false);
        match count {
            Some(_) => ex.reply.array(0),
            None => ex.reply.null(),
        }
        return Ok(());
    };
    crate::shard::Stats::add(&ex.stats.hits, 1);
    // A negative rank searches from the tail. (As in Redis, i64::MIN stays
    // negative when negated, so it matches from the first hit.)
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let len = list.len();
    let limit = if maxlen == 0 {
        len
    } else {
        (maxlen as u64).min(len as u64) as usize
    };
    let mut hits: Vec<i64> = Vec::new();
    let mut matches: i64 = 0;
    let mut check = |i: usize, e: &[u8]| -> bool {
        // Returns true to stop.
        if e != elem.as_ref() {
            return false;
        }
        matches += 1;
        if matches < rank {
            return false;
        }
        let at = if from_tail { len - 1 - i } else { i } as i64;
        hits.push(at);
        match count {
            None => true,
            Some(c) => c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c,
        }
    };
    if from_tail {
        for (i, e) in list.iter().rev().take(limit).enumerate() {
            if check(i, e) {
                break;
            }
        }
    } else {
        for (i, e) in list.iter().take(limit).enumerate() {
            if check(i, e) {
                break;
            }
        }
    }
    match count {
        Some(_) => {
            ex.reply.array(hits.len());
            for h in hits {
                ex.reply.int(h);
            }
        }
        None => match hits.first() {
            Some(&h) => ex.reply.int(h),
            None => ex.reply.null(),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::commands::tests::run;
    use crate::store::Store;

    #[test]
    fn pushes_pops_and_nulls() {
        let mut st = Store::default();
        assert_eq!(run(&mut st, &["rpush", "l", "a", "b", "c"]), ":3\r\n");
        assert_eq!(run(&mut st, &["lpush", "l", "z"]), ":4\r\n");
        assert_eq!(run(&mut st, &["lpushx", "nol", "z"]), ":0\r\n");
        assert_eq!(
            run(&mut st, &["lrange", "l", "0", "-1"]),
            "*4\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(
            run(&mut st, &["rpop", "l", "2"]),
            "*2\r\n$1\r\nc\r\n$1\r\nb\r\n"
        );
        assert_eq!(run(&mut st, &["lpop", "l"]), "$1\r\nz\r\n");
        assert_eq!(run(&mut st, &["lpop", "l", "0"]), "*0\r\n");
        assert_eq!(run(&mut st, &["lpop", "nol"]), "$-1\r\n");
        assert_eq!(run(&mut st, &["lpop", "nol", "3"]), "*-1\r\n");
        assert_eq!(
            run(&mut st, &["lpop", "l", "-1"]),
            "-ERR value is out of range, must be positive\r\n"
        );
        assert_eq!(
            run(&mut st, &["lpop", "l", "1", "2"]),
            "-ERR wrong number of arguments for 'lpop' command\r\n"
        );
        assert_eq!(run(&mut st, &["rpop", "l", "5"]), "*1\r\n$1\r\na\r\n");
        assert_eq!(run(&mut st, &["exists", "l"]), ":0\r\n");
        run(&mut st, &["set", "s", "v"]);
        assert_eq!(
            run(&mut st, &["rpush", "s", "a"]),
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
    }

    #[test]
    fn index_set_insert_rem_trim_pos() {
        let mut st = Store::default();
        run(&mut st, &["rpush", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(run(&mut st, &["lindex", "l", "-1"]), "$1\r\na\r\n");
        assert_eq!(run(&mut st, &["lindex", "l", "5"]), "$-1\r\n");
        assert_eq!(run(&mut st, &["lset", "l", "1", "B"]), "+OK\r\n");
        assert_eq!(
            run(&mut st, &["lset", "l", "9", "B"]),
            "-ERR index out of range\r\n"
        );
        assert_eq!(
            run(&mut st, &["lset", "nol", "0", "B"]),
            "-ERR no such key\r\n"
        );
        assert_eq!(
            run(&mut st, &["linsert", "l", "before", "c", "x"]),
            ":6\r\n"
        );
        assert_eq!(
            run(&mut st, &["linsert", "l", "after", "zz", "x"]),
            ":-1\r\n"
        );
        assert_eq!(
            run(&mut st, &["linsert", "nol", "after", "a", "x"]),
            ":0\r\n"
        );
        assert_eq!(
            run(&mut st, &["linsert", "l", "middle", "a", "x"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(run(&mut st, &["lpos", "l", "a", "rank", "-1"]), ":5\r\n");
        assert_eq!(
            run(&mut st, &["lpos", "l", "a", "count", "0"]),
            "*3\r\n:0\r\n:2\r\n:5\r\n"
        );
        assert_eq!(
            run(&mut st, &["lpos", "l", "a", "rank", "2", "count", "1"]),
            "*1\r\n:2\r\n"
        );
        assert_eq!(
            run(&mut st, &["lpos", "l", "a", "maxlen", "1", "rank", "2"]),
            "$-1\r\n"
        );
        assert_eq!(
            run(&mut st, &["lpos", "l", "a", "rank", "-9223372036854775808"]),
            ":5\r\n"
        );
        assert_eq!(run(&mut st, &["lrem", "l", "-1", "a"]), ":1\r\n");
        assert_eq!(
            run(&mut st, &["lrange", "l", "0", "-1"]),
            "*5\r\n$1\r\na\r\n$1\r\nB\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nc\r\n"
        );
        assert_eq!(run(&mut st, &["ltrim", "l", "1", "-2"]), "+OK\r\n");
        assert_eq!(
            run(&mut st, &["lrange", "l", "0", "-1"]),
            "*3\r\n$1\r\nB\r\n$1\r\na\r\n$1\r\nx\r\n"
        );
        assert_eq!(run(&mut st, &["ltrim", "l", "5", "1"]), "+OK\r\n");
        assert_eq!(run(&mut st, &["exists", "l"]), ":0\r\n");
    }
}
