//! The string family: GET/SET and friends, counters, ranges, bits, LCS.
//!
//! Multi-key commands (MGET, MSET, MSETNX, BITOP, LCS) are written once: their
//! rows say how the shards' parts combine when the keys span shards
//! (`dispatch::coord`), so no client sees a partial result.

use bytes::Bytes;

use super::args::{eq_ic, parse_f64};
use super::bits;
use super::{Args, CmdError, CmdResult, Exec};
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{CommandSpec, Multi, acl, flag};
use crate::num::{LongDoubleError, add_long_double};
use crate::protocol::parse_i64;
use crate::store::notify::{class as ev, notify};
use crate::store::{Db, Entry, Value};

/// Redis's `proto-max-bulk-len` as set now: the largest string a command may build.
fn max_string() -> usize {
    usize::try_from(crate::protocol::max_bulk_len()).unwrap_or(0)
}
const TOO_BIG: CmdError =
    CmdError::Static("ERR string exceeds maximum allowed size (proto-max-bulk-len)");

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::shard("get", 2, get)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Returns the string value of a key."),
    CommandSpec::shard("set", -3, set)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RW | ACCESS | UPDATE | VARIABLE_FLAGS).notes("RW and ACCESS due to the optional `GET` argument")])
        .getkeys(set_keys)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
    CommandSpec::shard("setnx", 3, setnx)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, OW | INSERT)])
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Set the string value of a key only when the key doesn't exist."),
    CommandSpec::shard("setex", 4, setex)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, OW | UPDATE)])
        .acl(acl::STRING)
        .doc("string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist."),
    CommandSpec::shard("psetex", 4, psetex)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, OW | UPDATE)])
        .acl(acl::STRING)
        .doc("string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist."),
    CommandSpec::shard("getset", 3, getset)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | ACCESS | UPDATE)])
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Returns the previous string value of a key after setting it to a new value."),
    CommandSpec::shard("getdel", 2, getdel)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | ACCESS | DELETE)])
        .acl(acl::STRING)
        .doc("string", "6.2.0", "Returns the string value of a key after deleting the key."),
    CommandSpec::shard("getex", -2, getex)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | ACCESS | UPDATE).notes("RW and UPDATE because it changes the TTL")])
        .acl(acl::STRING)
        .doc("string", "6.2.0", "Returns the string value of a key after setting its expiration time."),
    CommandSpec::shard("mget", -2, mget)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[keys_from(1, RO | ACCESS)])
        .acl(acl::STRING)
        .tips(&["request_policy:multi_shard"])
        .doc("string", "1.0.0", "Atomically returns the string values of one or more keys.")
        .multi(Multi::Merge),
    CommandSpec::shard("mset", -3, mset)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[range(1, -1, 2, OW | UPDATE)])
        .acl(acl::STRING)
        .tips(&["request_policy:multi_shard", "response_policy:all_succeeded"])
        .doc("string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.")
        .multi(Multi::Same),
    CommandSpec::shard("msetnx", -3, msetnx)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[range(1, -1, 2, OW | INSERT)])
        .acl(acl::STRING)
        .tips(&["request_policy:multi_shard", "response_policy:agg_min"])
        .doc("string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.")
        .multi(Multi::AllOrNone(msetnx_check)),
    CommandSpec::shard("append", 3, append)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | INSERT)])
        .acl(acl::STRING)
        .doc("string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    CommandSpec::shard("strlen", 2, strlen)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO)])
        .acl(acl::STRING)
        .doc("string", "2.2.0", "Returns the length of a string value."),
    CommandSpec::shard("getrange", 4, getrange)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::STRING)
        .doc("string", "2.4.0", "Returns a substring of the string stored at a key."),
    CommandSpec::shard("substr", 4, getrange)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Returns a substring from a string value."),
    CommandSpec::shard("setrange", 4, setrange)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RW | UPDATE)])
        .acl(acl::STRING)
        .doc("string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."),
    CommandSpec::shard("incr", 2, incr)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | ACCESS | UPDATE)])
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    CommandSpec::shard("decr", 2, decr)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | ACCESS | UPDATE)])
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    CommandSpec::shard("incrby", 3, incrby)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | ACCESS | UPDATE)])
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    CommandSpec::shard("decrby", 3, decrby)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | ACCESS | UPDATE)])
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist."),
    CommandSpec::shard("incrbyfloat", 3, incrbyfloat)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | ACCESS | UPDATE)])
        .acl(acl::STRING)
        .doc("string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    CommandSpec::shard("lcs", -3, lcs)
        .flags(flag::READONLY)
        .keys(&[range(1, 1, 1, RO | ACCESS)])
        .acl(acl::STRING)
        .doc("string", "7.0.0", "Finds the longest common substring.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("setbit", 4, setbit)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RW | ACCESS | UPDATE)])
        .acl(acl::BITMAP)
        .doc("bitmap", "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist."),
    CommandSpec::shard("getbit", 3, getbit)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::BITMAP)
        .doc("bitmap", "2.2.0", "Returns a bit value by offset."),
    CommandSpec::shard("bitcount", -2, bitcount)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::BITMAP)
        .doc("bitmap", "2.6.0", "Counts the number of set bits (population counting) in a string."),
    CommandSpec::shard("bitpos", -3, bitpos)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::BITMAP)
        .doc("bitmap", "2.8.7", "Finds the first set (1) or clear (0) bit in a string."),
    CommandSpec::shard("bitop", -4, bitop)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(2, OW | UPDATE), keys_from(3, RO | ACCESS)])
        .acl(acl::BITMAP)
        .doc("bitmap", "2.6.0", "Performs bitwise operations on multiple strings, and stores the result.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("bitfield", -2, bitfield)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RW | ACCESS | UPDATE | VARIABLE_FLAGS).notes("This command allows both access and modification of the key")])
        .getkeys(bitfield_keys)
        .acl(acl::BITMAP)
        .doc("bitmap", "3.2.0", "Performs arbitrary bitfield integer operations on strings."),
    CommandSpec::shard("bitfield_ro", -2, bitfield_ro)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::BITMAP)
        .doc("bitmap", "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings."),
];

/// The string stored at `key`, or `None`; WRONGTYPE for other types.
pub fn read_str<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a [u8]>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Str(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// A mutable string at `key`, created empty when missing (`created` tells).
fn write_str<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<(&'a mut Entry, bool), CmdError> {
    let exists = db.get(key, now).is_some();
    if !exists {
        db.set(key, Value::Str(Vec::new()));
    }
    match db.get(key, now) {
        Some(e) => match &e.value {
            Value::Str(_) => Ok((e, !exists)),
            _ => Err(CmdError::WrongType),
        },
        None => Err(CmdError::NoSuchKey),
    }
}

fn str_mut(e: &mut Entry) -> &mut Vec<u8> {
    // Callers got `e` from `write_str`, which only returns strings.
    if !matches!(e.value, Value::Str(_)) {
        e.value = Value::Str(Vec::new());
    }
    match &mut e.value {
        Value::Str(s) => s,
        _ => unreachable!("just made a string"),
    }
}

fn get(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let now = ex.now;
    let key = a.next()?;
    let v = read_str(&mut ex.store.dbs[ex.db], key, now)?;
    match v {
        Some(s) => {
            ex.reply.bulk(s);
            ex.hit(true);
        }
        None => {
            ex.reply.null();
            ex.hit(false);
        }
    }
    Ok(())
}

/// How an expiry argument is expressed.
#[derive(Clone, Copy, PartialEq)]
enum ExpUnit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl ExpUnit {
    /// The SET/GETEX option naming this unit, if `opt` is one.
    fn parse(opt: &[u8]) -> Option<ExpUnit> {
        [
            ("EX", ExpUnit::Ex),
            ("PX", ExpUnit::Px),
            ("EXAT", ExpUnit::ExAt),
            ("PXAT", ExpUnit::PxAt),
        ]
        .into_iter()
        .find(|(name, _)| eq_ic(opt, name))
        .map(|(_, u)| u)
    }
}

/// Redis's `getExpireMillisecondsOrReply`: validates and converts to absolute ms.
fn expire_at(arg: &[u8], unit: ExpUnit, now: u64, cmd: &str) -> Result<u64, CmdError> {
    let v = parse_i64(arg).ok_or(CmdError::NotInteger)?;
    let invalid = || CmdError::Msg(format!("ERR invalid expire time in '{cmd}' command"));
    let seconds = matches!(unit, ExpUnit::Ex | ExpUnit::ExAt);
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if matches!(unit, ExpUnit::Ex | ExpUnit::Px) {
        ms = ms.checked_add(now as i64).ok_or_else(invalid)?;
    }
    if ms <= 0 {
        return Err(invalid());
    }
    Ok(ms as u64)
}

fn set(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let val = a.next()?;
    let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
    let mut expire: Option<(ExpUnit, &Bytes)> = None;
    while let Some(opt) = a.peek() {
        a.next()?;
        let unit = ExpUnit::parse(opt);
        if let Some(unit) = unit {
            // Redis lets an option repeat (the last wins) but not mix with others.
            if keepttl || expire.is_some_and(|(u, _)| u != unit) || a.is_empty() {
                return Err(CmdError::Syntax);
            }
            expire = Some((unit, a.next()?));
        } else if eq_ic(opt, "NX") && !xx {
            nx = true;
        } else if eq_ic(opt, "XX") && !nx {
            xx = true;
        } else if eq_ic(opt, "GET") {
            get = true;
        } else if eq_ic(opt, "KEEPTTL") && expire.is_none() {
            keepttl = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = ex.now;
    let at = match expire {
        Some((unit, arg)) => Some(expire_at(arg, unit, now, "set")?),
        None => None,
    };
    let db = &mut ex.store.dbs[ex.db];
    // One lookup serves GET, NX/XX, KEEPTTL and the write itself.
    let pos = db.find(key, now);
    let old = pos.and_then(|p| db.dict().at(p)).map(|(_, e)| e);
    if get {
        match old.map(|e| &e.value) {
            Some(Value::Str(s)) => ex.reply.bulk(s),
            Some(_) => return Err(CmdError::WrongType),
            None => ex.reply.null(),
        }
    }
    if (nx && pos.is_some()) || (xx && pos.is_none()) {
        if !get {
            ex.reply.null();
        }
        return Ok(());
    }
    let mut entry = Entry::new(Value::Str(val.to_vec()));
    entry.expire_at = match at {
        Some(at) => at,
        None if keepttl => old.map_or(0, |e| e.expire_at),
        None => 0,
    };
    match pos {
        Some(p) => db.replace_at(p, entry),
        None => db.set_entry(key, entry),
    }
    notify(ex.db, ev::STRING, "set", key);
    if at.is_some() {
        notify(ex.db, ev::GENERIC, "expire", key);
    }
    if !get {
        ex.reply.ok();
    }
    Ok(())
}

fn setnx(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let (key, val) = (a.next()?, a.next()?);
    let now = ex.now;
    let db = ex.db();
    if db.exists(key, now) {
        ex.reply.int(0);
    } else {
        db.set(key, Value::Str(val.to_vec()));
        notify(ex.db, ev::STRING, "set", key);
        ex.reply.int(1);
    }
    Ok(())
}

fn setex_generic(ex: &mut Exec, a: &mut Args, unit: ExpUnit, name: &str) -> CmdResult {
    let (key, ttl, val) = (a.next()?, a.next()?, a.next()?);
    let at = expire_at(ttl, unit, ex.now, name)?;
    let mut e = Entry::new(Value::Str(val.to_vec()));
    e.expire_at = at;
    ex.db().set_entry(key, e);
    notify(ex.db, ev::STRING, "set", key);
    notify(ex.db, ev::GENERIC, "expire", key);
    ex.reply.ok();
    Ok(())
}

fn setex(ex: &mut Exec, a: &mut Args) -> CmdResult {
    setex_generic(ex, a, ExpUnit::Ex, "setex")
}

fn psetex(ex: &mut Exec, a: &mut Args) -> CmdResult {
    setex_generic(ex, a, ExpUnit::Px, "psetex")
}

fn getset(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let (key, val) = (a.next()?, a.next()?);
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    match read_str(db, key, now)? {
        Some(s) => ex.reply.bulk(s),
        None => ex.reply.null(),
    }
    db.set(key, Value::Str(val.to_vec()));
    notify(ex.db, ev::STRING, "set", key);
    Ok(())
}

fn getdel(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    match read_str(db, key, now)? {
        Some(s) => ex.reply.bulk(s),
        None => {
            ex.reply.null();
            return Ok(());
        }
    }
    db.remove(key);
    notify(ex.db, ev::GENERIC, "del", key);
    Ok(())
}

fn getex(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let mut expire: Option<(ExpUnit, &Bytes)> = None;
    let mut persist = false;
    while let Some(opt) = a.peek() {
        a.next()?;
        let unit = ExpUnit::parse(opt);
        if let Some(unit) = unit {
            if persist || expire.is_some_and(|(u, _)| u != unit) || a.is_empty() {
                return Err(CmdError::Syntax);
            }
            expire = Some((unit, a.next()?));
        } else if eq_ic(opt, "PERSIST") && expire.is_none() {
            persist = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = ex.now;
    // Redis looks the key up before it validates the expire time.
    if read_str(ex.db(), key, now)?.is_none() {
        ex.reply.null();
        return Ok(());
    }
    let at = match expire {
        Some((unit, arg)) => Some(expire_at(arg, unit, now, "getex")?),
        None => None,
    };
    let db = &mut ex.store.dbs[ex.db];
    if let Some(s) = read_str(db, key, now)? {
        ex.reply.bulk(s);
    }
    match at {
        Some(at) if at <= now => {
            db.remove(key);
            notify(ex.db, ev::GENERIC, "del", key);
        }
        Some(at) => {
            db.set_expire(key, at);
            notify(ex.db, ev::GENERIC, "expire", key);
        }
        None if persist && db.peek(key, now).is_some_and(|e| e.expire_at != 0) => {
            db.set_expire(key, 0);
            notify(ex.db, ev::GENERIC, "persist", key);
        }
        None => {}
    }
    Ok(())
}

fn mget(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let keys = a.rest();
    let now = ex.now;
    ex.reply.array(keys.len());
    let db = &mut ex.store.dbs[ex.db];
    for k in keys {
        match db.get(k, now) {
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => ex.reply.bulk(s),
            _ => ex.reply.null(),
        }
    }
    Ok(())
}

fn check_pairs(a: &Args, name: &str) -> CmdResult {
    if !a.len().is_multiple_of(2) {
        return Err(CmdError::Msg(crate::dispatch::arity_error(name)));
    }
    Ok(())
}

fn mset(ex: &mut Exec, a: &mut Args) -> CmdResult {
    check_pairs(a, "mset")?;
    let db = ex.db();
    for kv in a.rest().chunks(2) {
        db.set(&kv[0], Value::Str(kv[1].to_vec()));
    }
    for kv in a.rest().chunks(2) {
        notify(ex.db, ev::STRING, "set", &kv[0]);
    }
    ex.reply.ok();
    Ok(())
}

fn msetnx(ex: &mut Exec, a: &mut Args) -> CmdResult {
    check_pairs(a, "msetnx")?;
    let now = ex.now;
    let db = ex.db();
    if a.rest().chunks(2).any(|kv| db.exists(&kv[0], now)) {
        ex.reply.int(0);
        return Ok(());
    }
    for kv in a.rest().chunks(2) {
        db.set(&kv[0], Value::Str(kv[1].to_vec()));
    }
    for kv in a.rest().chunks(2) {
        notify(ex.db, ev::STRING, "set", &kv[0]);
    }
    ex.reply.int(1);
    Ok(())
}

/// MSETNX's check on a shard's share of the keys, before any shard writes:
/// `:1` when none of them exists.
fn msetnx_check(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let now = ex.now;
    let db = ex.db();
    let free = !a.rest().chunks(2).any(|kv| db.exists(&kv[0], now));
    ex.reply.int(free as i64);
    Ok(())
}

fn append(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let (key, val) = (a.next()?, a.next()?);
    let now = ex.now;
    let db = ex.db();
    if let Some(cur) = read_str(db, key, now)?
        && cur.len() + val.len() > max_string()
    {
        return Err(TOO_BIG);
    }
    let (e, created) = write_str(db, key, now)?;
    if !created {
        e.set_raw(true);
    }
    let s = str_mut(e);
    s.extend_from_slice(val);
    let n = s.len();
    notify(ex.db, ev::STRING, "append", key);
    ex.reply.int(n as i64);
    Ok(())
}

fn strlen(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let n = read_str(ex.db(), key, now)?.map_or(0, |s| s.len());
    ex.reply.int(n as i64);
    Ok(())
}

fn getrange(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let (mut start, mut end) = (a.next_i64()?, a.next_i64()?);
    let now = ex.now;
    let s = read_str(&mut ex.store.dbs[ex.db], key, now)?.unwrap_or(&[]);
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ex.reply.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ex.reply.bulk(b"");
    } else {
        ex.reply.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

fn setrange(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let offset = a.next_i64()?;
    let val = a.next()?;
    if offset < 0 {
        return Err(CmdError::Static("ERR offset is out of range"));
    }
    let now = ex.now;
    let db = ex.db();
    let cur_len = match read_str(db, key, now)? {
        Some(s) => s.len(),
        None if val.is_empty() => {
            ex.reply.int(0);
            return Ok(());
        }
        None => 0,
    };
    if val.is_empty() {
        ex.reply.int(cur_len as i64);
        return Ok(());
    }
    let offset = offset as usize;
    if offset
        .checked_add(val.len())
        .is_none_or(|end| end > max_string())
    {
        return Err(TOO_BIG);
    }
    let (e, _) = write_str(db, key, now)?;
    e.set_raw(true);
    let s = str_mut(e);
    if s.len() < offset + val.len() {
        s.resize(offset + val.len(), 0);
    }
    s[offset..offset + val.len()].copy_from_slice(val);
    let n = s.len();
    notify(ex.db, ev::STRING, "setrange", key);
    ex.reply.int(n as i64);
    Ok(())
}

fn incr_generic(ex: &mut Exec, key: &[u8], by: i64) -> CmdResult {
    let now = ex.now;
    let db = ex.db();
    let cur = match read_str(db, key, now)? {
        None => 0,
        Some(s) => {
            if s.len() > 20 {
                return Err(CmdError::NotInteger);
            }
            parse_i64(s).ok_or(CmdError::NotInteger)?
        }
    };
    let new = cur.checked_add(by).ok_or(CmdError::Overflow)?;
    let mut b = itoa::Buffer::new();
    let text = b.format(new).as_bytes();
    match db.get(key, now) {
        Some(e) => {
            let s = str_mut(e);
            s.clear();
            s.extend_from_slice(text);
            e.set_raw(false);
        }
        None => db.set(key, Value::Str(text.to_vec())),
    }
    notify(ex.db, ev::STRING, "incrby", key);
    ex.reply.int(new);
    Ok(())
}

fn incr(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    incr_generic(ex, key, 1)
}

fn decr(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    incr_generic(ex, key, -1)
}

fn incrby(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let by = a.next_i64()?;
    incr_generic(ex, key, by)
}

fn decrby(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let by = a.next_i64()?;
    if by == i64::MIN {
        return Err(CmdError::Static("ERR decrement would overflow"));
    }
    incr_generic(ex, key, -by)
}

fn incrbyfloat(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let incr = a.next()?;
    if parse_f64(incr).is_none() && !incr.is_empty() && incr.len() > 5 * 1024 {
        return Err(CmdError::NotFloat);
    }
    let now = ex.now;
    let db = ex.db();
    let cur = read_str(db, key, now)?.map(|s| s.to_vec());
    let new = add_long_double(cur.as_deref(), incr).map_err(|e| match e {
        LongDoubleError::NotFloat => CmdError::NotFloat,
        LongDoubleError::NanOrInfinity => {
            CmdError::Static("ERR increment would produce NaN or Infinity")
        }
    })?;
    match db.get(key, now) {
        Some(e) => {
            *str_mut(e) = new.clone();
            e.set_raw(false);
        }
        None => db.set(key, Value::Str(new.clone())),
    }
    notify(ex.db, ev::STRING, "incrbyfloat", key);
    ex.reply.bulk(&new);
    Ok(())
}

// ---- LCS ----

struct LcsOpts {
    len: bool,
    idx: bool,
    min_len: usize,
    with_len: bool,
}

fn parse_lcs_opts(a: &mut Args) -> Result<LcsOpts, CmdError> {
    let mut o = LcsOpts {
        len: false,
        idx: false,
        min_len: 0,
        with_len: false,
    };
    while !a.is_empty() {
        if a.eat("IDX") {
            o.idx = true;
        } else if a.eat("LEN") {
            o.len = true;
        } else if a.eat("WITHMATCHLEN") {
            o.with_len = true;
        } else if a.eat("MINMATCHLEN") {
            let v = a.next_i64()?;
            o.min_len = v.max(0) as usize;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if o.len && o.idx {
        return Err(CmdError::Static(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    Ok(o)
}

fn lcs_reply(ex: &mut Exec, a: &[u8], b: &[u8], o: &LcsOpts) -> CmdResult {
    if bits::lcs_table_cells(a.len(), b.len()).is_none_or(|c| c > 1 << 32) {
        return Err(CmdError::Static(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let r = bits::lcs(a, b, !o.len && !o.idx, o.idx, o.min_len);
    let rp = &mut ex.reply;
    if o.idx {
        rp.map(2);
        rp.bulk(b"matches");
        rp.array(r.matches.len());
        for ((a0, a1), (b0, b1), n) in &r.matches {
            rp.array(if o.with_len { 3 } else { 2 });
            rp.array(2);
            rp.int(*a0 as i64);
            rp.int(*a1 as i64);
            rp.array(2);
            rp.int(*b0 as i64);
            rp.int(*b1 as i64);
            if o.with_len {
                rp.int(*n as i64);
            }
        }
        rp.bulk(b"len");
        rp.int(r.len as i64);
    } else if o.len {
        rp.int(r.len as i64);
    } else {
        rp.bulk(&r.string);
    }
    Ok(())
}

fn lcs(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let (k1, k2) = (a.next()?, a.next()?);
    let o = parse_lcs_opts(a)?;
    let now = ex.now;
    let s1 = read_str(ex.db(), k1, now)
        .map_err(|_| lcs_type_err())?
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let s2 = read_str(ex.db(), k2, now)
        .map_err(|_| lcs_type_err())?
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    lcs_reply(ex, &s1, &s2, &o)
}

fn lcs_type_err() -> CmdError {
    CmdError::Static("ERR The specified keys must contain string values")
}

// ---- bits ----

fn bits_err(e: bits::BitsError) -> CmdError {
    CmdError::Static(e.message())
}

fn setbit(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let offset = bits::parse_bit_offset(a.next()?, false, 0).map_err(bits_err)?;
    let on = match &a.next()?[..] {
        b"1" => true,
        b"0" => false,
        _ => {
            return Err(CmdError::Static(
                "ERR bit is not an integer or out of range",
            ));
        }
    };
    let now = ex.now;
    let (e, created) = write_str(ex.db(), key, now)?;
    e.set_raw(true);
    let len = str_mut(e).len();
    let old = bits::setbit(str_mut(e), offset, on);
    if created || str_mut(e).len() != len || (old != 0) != on {
        notify(ex.db, ev::STRING, "setbit", key);
    }
    ex.reply.int(old as i64);
    Ok(())
}

fn getbit(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let offset = bits::parse_bit_offset(a.next()?, false, 0).map_err(bits_err)?;
    let now = ex.now;
    let s = read_str(ex.db(), key, now)?.unwrap_or(&[]);
    let b = bits::getbit(s, offset);
    ex.reply.int(b as i64);
    Ok(())
}

/// Parses `[start end [BYTE|BIT]]` for BITCOUNT.
fn bitcount(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    // Redis answers 0 for a missing key before looking at the other arguments.
    if read_str(ex.db(), key, now)?.is_none() {
        ex.reply.int(0);
        return Ok(());
    }
    let mut range = None;
    let mut bit_unit = false;
    if !a.is_empty() {
        let start = a.next_i64()?;
        let end = a.next_i64()?;
        range = Some((start, end));
        if a.eat("BIT") {
            bit_unit = true;
        } else if !a.eat("BYTE") && !a.is_empty() {
            return Err(CmdError::Syntax);
        }
        a.finish()?;
    }
    let s = read_str(ex.db(), key, now)?;
    let n = s.map_or(0, |s| bits::bitcount(s, range, bit_unit));
    ex.reply.int(n);
    Ok(())
}

fn bitpos(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let bit = bits::parse_bitpos_bit(a.next()?).map_err(bits_err)?;
    let now = ex.now;
    // As Redis: a missing key answers before the range is parsed.
    if read_str(ex.db(), key, now)?.is_none() {
        ex.reply.int(bits::bitpos_missing_key(bit));
        return Ok(());
    }
    let start = if a.is_empty() {
        None
    } else {
        Some(a.next_i64()?)
    };
    let end = if a.is_empty() {
        None
    } else {
        Some(a.next_i64()?)
    };
    let mut bit_unit = false;
    if !a.is_empty() {
        if a.eat("BIT") {
            bit_unit = true;
        } else if !a.eat("BYTE") {
            return Err(CmdError::Syntax);
        }
        a.finish()?;
    }
    let n = match read_str(ex.db(), key, now)? {
        None => bits::bitpos_missing_key(bit),
        Some(s) => bits::bitpos(s, bit, start, end, bit_unit),
    };
    ex.reply.int(n);
    Ok(())
}

fn bitop_parse(a: &mut Args) -> Result<bits::BitOp, CmdError> {
    let op = bits::parse_bitop(a.next()?).ok_or(CmdError::Syntax)?;
    // After op: dest, then at least one source.
    if matches!(op, bits::BitOp::Not) && a.len() != 2 {
        return Err(CmdError::Static(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    Ok(op)
}

fn bitop_store(db: &mut Db, dest: &[u8], result: Vec<u8>) -> i64 {
    let n = result.len() as i64;
    if result.is_empty() {
        if db.remove(dest).is_some() {
            notify(db.id as usize, ev::GENERIC, "del", dest);
        }
    } else {
        let mut e = Entry::new(Value::Str(result));
        e.set_raw(true);
        db.set_entry(dest, e);
        notify(db.id as usize, ev::STRING, "set", dest);
    }
    n
}

fn bitop(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let op = bitop_parse(a)?;
    let dest = a.next()?;
    let now = ex.now;
    let mut vals: Vec<Vec<u8>> = Vec::with_capacity(a.len());
    for k in a.rest() {
        vals.push(
            read_str(ex.db(), k, now)?
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        );
    }
    let srcs: Vec<&[u8]> = vals.iter().map(Vec::as_slice).collect();
    let result = bits::bitop(op, &srcs);
    let n = bitop_store(ex.db(), dest, result);
    ex.reply.int(n);
    Ok(())
}

fn bitfield_generic(ex: &mut Exec, a: &mut Args, ro: bool) -> CmdResult {
    let key = a.next()?;
    let subargs: Vec<&[u8]> = a.rest().iter().map(|b| &b[..]).collect();
    let plan = bits::parse_bitfield(&subargs, ro).map_err(bits_err)?;
    let now = ex.now;
    let db = ex.db();
    let results = if plan.has_writes() {
        if plan.required_len() > max_string() {
            return Err(TOO_BIG);
        }
        read_str(db, key, now)?;
        let (e, created) = write_str(db, key, now)?;
        e.set_raw(true);
        let before = str_mut(e).clone();
        let results = plan.execute(str_mut(e));
        if created || *str_mut(e) != before {
            notify(db.id as usize, ev::STRING, "setbit", key);
        }
        results
    } else {
        let mut tmp = read_str(db, key, now)?
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        plan.execute(&mut tmp)
    };
    ex.reply.array(results.len());
    for r in results {
        match r {
            Some(v) => ex.reply.int(v),
            None => ex.reply.null(),
        }
    }
    Ok(())
}

fn bitfield(ex: &mut Exec, a: &mut Args) -> CmdResult {
    bitfield_generic(ex, a, false)
}

fn bitfield_ro(ex: &mut Exec, a: &mut Args) -> CmdResult {
    bitfield_generic(ex, a, true)
}

/// SET's key with the flags of this call (Redis's `setGetKeys`): only
/// overwritten, unless GET also reads it.
fn set_keys(argv: &[Bytes], f: &mut dyn FnMut(usize, u16)) -> bool {
    if argv.len() < 3 {
        return false;
    }
    let get = argv[3..].iter().any(|a| eq_ic(a, "GET"));
    f(
        1,
        if get {
            RW | ACCESS | UPDATE
        } else {
            OW | UPDATE
        },
    );
    true
}

/// BITFIELD's key with the flags of this call (Redis's `bitfieldGetKeys`):
/// only read when every operation is a GET.
fn bitfield_keys(argv: &[Bytes], f: &mut dyn FnMut(usize, u16)) -> bool {
    if argv.len() < 2 {
        return false;
    }
    let writes = argv[2..]
        .iter()
        .any(|a| eq_ic(a, "SET") || eq_ic(a, "INCRBY"));
    f(
        1,
        if writes {
            RW | ACCESS | UPDATE
        } else {
            RO | ACCESS
        },
    );
    true
}
