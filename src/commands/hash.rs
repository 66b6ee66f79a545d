//! The hash family: HSET and friends, counters, HRANDFIELD, HSCAN.
//!
//! Every command touches one key, so all run on the key's shard. Replies, errors
//! and their order (argument errors before WRONGTYPE where Redis parses first) are
//! Redis 7.0's; the encodings (`listpack`/`hashtable`) live in `store::hash`.

use super::args::eq_ic;
use super::{Args, CmdError, CmdResult, Exec};
use crate::dispatch::arity_error;
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{CommandSpec, acl, flag};
use crate::num::{LongDoubleError, add_long_double, parse_cursor, rand};
use crate::protocol::{Reply, parse_i64};
use crate::shard::Stats;
use crate::store::hash::Hash;
use crate::store::notify::{class as ev, notify};
use crate::store::{Db, Value};
use crate::util::glob_match;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::shard("hset", -4, hset)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | UPDATE)])
        .acl(acl::HASH)
        .doc("hash", "2.0.0", "Creates or modifies the value of a field in a hash."),
    CommandSpec::shard("hmset", -4, hmset)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | UPDATE)])
        .acl(acl::HASH)
        .doc("hash", "2.0.0", "Sets the values of multiple fields."),
    CommandSpec::shard("hsetnx", 4, hsetnx)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | INSERT)])
        .acl(acl::HASH)
        .doc("hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist."),
    CommandSpec::shard("hget", 3, hget)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::HASH)
        .doc("hash", "2.0.0", "Returns the value of a field in a hash."),
    CommandSpec::shard("hmget", -3, hmget)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::HASH)
        .doc("hash", "2.0.0", "Returns the values of all fields in a hash."),
    CommandSpec::shard("hdel", -3, hdel)
        .flags(flag::WRITE | flag::FAST)
        .keys(&[key(1, RW | DELETE)])
        .acl(acl::HASH)
        .doc("hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain."),
    CommandSpec::shard("hlen", 2, hlen)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO)])
        .acl(acl::HASH)
        .doc("hash", "2.0.0", "Returns the number of fields in a hash."),
    CommandSpec::shard("hstrlen", 3, hstrlen)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO)])
        .acl(acl::HASH)
        .doc("hash", "3.2.0", "Returns the length of the value of a field."),
    CommandSpec::shard("hexists", 3, hexists)
        .flags(flag::READONLY | flag::FAST)
        .keys(&[key(1, RO)])
        .acl(acl::HASH)
        .doc("hash", "2.0.0", "Determines whether a field exists in a hash."),
    CommandSpec::shard("hkeys", 2, hkeys)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::HASH)
        .tips(&["nondeterministic_output_order"])
        .doc("hash", "2.0.0", "Returns all fields in a hash."),
    CommandSpec::shard("hvals", 2, hvals)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::HASH)
        .tips(&["nondeterministic_output_order"])
        .doc("hash", "2.0.0", "Returns all values in a hash."),
    CommandSpec::shard("hgetall", 2, hgetall)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::HASH)
        .tips(&["nondeterministic_output_order"])
        .doc("hash", "2.0.0", "Returns all fields and values in a hash."),
    CommandSpec::shard("hincrby", 4, hincrby)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | ACCESS | UPDATE)])
        .acl(acl::HASH)
        .doc("hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist."),
    CommandSpec::shard("hincrbyfloat", 4, hincrbyfloat)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | ACCESS | UPDATE)])
        .acl(acl::HASH)
        .doc("hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist."),
    CommandSpec::shard("hrandfield", -2, hrandfield)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::HASH)
        .tips(&["nondeterministic_output"])
        .doc("hash", "6.2.0", "Returns one or more random fields from a hash."),
    CommandSpec::shard("hscan", -3, hscan)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS)])
        .acl(acl::HASH)
        .tips(&["nondeterministic_output"])
        .doc("hash", "2.8.0", "Iterates over fields and values of a hash."),
];

// ---- lookups ----

/// The hash at `key` for reading (`None` when missing); counts a keyspace hit or
/// miss as Redis's `lookupKeyRead` does, whatever the type.
fn read_hash<'a>(
    db: &'a mut Db,
    stats: &Stats,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a Hash>, CmdError> {
    super::lookup_read(db, key, now, stats)
}

/// The hash at `key` for writing, created empty when missing (the caller makes
/// sure it does not stay empty).
fn hash_or_create<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<&'a mut Hash, CmdError> {
    let e = match db.find(key, now) {
        Some(pos) => {
            let e = db.at_mut(pos).expect("position of a key just found");
            if !matches!(e.value, Value::Hash(_)) {
                return Err(CmdError::WrongType);
            }
            e.touch();
            e
        }
        None => db.entry_or_insert_with(key, now, || Value::Hash(Hash::new())),
    };
    match &mut e.value {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

// ---- setting ----

fn hset(ex: &mut Exec, a: &mut Args) -> CmdResult {
    hset_generic(ex, a, "hset")
}

fn hmset(ex: &mut Exec, a: &mut Args) -> CmdResult {
    hset_generic(ex, a, "hmset")
}

/// HSET answers the number of new fields, HMSET `+OK`.
fn hset_generic(ex: &mut Exec, a: &mut Args, name: &str) -> CmdResult {
    let key = a.next()?;
    let pairs = a.rest();
    if !pairs.len().is_multiple_of(2) {
        return Err(CmdError::Msg(arity_error(name)));
    }
    let now = ex.now;
    let h = hash_or_create(&mut ex.store.dbs[ex.db], key, now)?;
    h.convert_for(pairs.iter().map(|p| &p[..]));
    let mut created = 0;
    for p in pairs.chunks_exact(2) {
        created += h.set(&p[0], &p[1]) as usize;
    }
    notify(ex.db, ev::HASH, "hset", key);
    if name == "hset" {
        ex.reply.int(created as i64);
    } else {
        ex.reply.ok();
    }
    Ok(())
}

fn hsetnx(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let field = a.next()?;
    let value = a.next()?;
    let now = ex.now;
    let h = hash_or_create(&mut ex.store.dbs[ex.db], key, now)?;
    // Redis 7.0 checks the lengths only when it sets: an existing field leaves a
    // listpack alone, however long the refused value.
    let set = !h.contains(field) && h.set(field, value);
    if set {
        notify(ex.db, ev::HASH, "hset", key);
    }
    ex.reply.int(set as i64);
    Ok(())
}

fn hdel(ex: &mut Exec, a: &mut Args) -> CmdResult {
    super::remove_members::<Hash>(ex, a)
}

// ---- reading ----

fn hget(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let field = a.next()?;
    let now = ex.now;
    let h = read_hash(&mut ex.store.dbs[ex.db], ex.stats, key, now)?;
    match h.and_then(|h| h.get(field)) {
        Some(v) => ex.reply.bulk(v),
        None => ex.reply.null(),
    }
    Ok(())
}

fn hmget(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let fields = a.rest();
    let now = ex.now;
    let h = read_hash(&mut ex.store.dbs[ex.db], ex.stats, key, now)?;
    ex.reply.array(fields.len());
    for f in fields {
        match h.and_then(|h| h.get(f)) {
            Some(v) => ex.reply.bulk(v),
            None => ex.reply.null(),
        }
    }
    Ok(())
}

fn hlen(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let h = read_hash(&mut ex.store.dbs[ex.db], ex.stats, key, now)?;
    ex.reply.int(h.map_or(0, Hash::len) as i64);
    Ok(())
}

fn hstrlen(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let field = a.next()?;
    let now = ex.now;
    let h = read_hash(&mut ex.store.dbs[ex.db], ex.stats, key, now)?;
    ex.reply
        .int(h.and_then(|h| h.get(field)).map_or(0, <[u8]>::len) as i64);
    Ok(())
}

fn hexists(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let field = a.next()?;
    let now = ex.now;
    let h = read_hash(&mut ex.store.dbs[ex.db], ex.stats, key, now)?;
    ex.reply.int(h.is_some_and(|h| h.contains(field)) as i64);
    Ok(())
}

/// What HKEYS, HVALS and HGETALL return.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Fields,
    Values,
    Both,
}

fn hgetall_generic(ex: &mut Exec, a: &mut Args, part: Part) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let h = read_hash(&mut ex.store.dbs[ex.db], ex.stats, key, now)?;
    let n = h.map_or(0, Hash::len);
    // HGETALL is a map in RESP3 (also when empty), the others flat arrays.
    if part == Part::Both {
        ex.reply.map(n);
    } else {
        ex.reply.array(n);
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            if part != Part::Values {
                ex.reply.bulk(f);
            }
            if part != Part::Fields {
                ex.reply.bulk(v);
            }
        }
    }
    Ok(())
}

fn hkeys(ex: &mut Exec, a: &mut Args) -> CmdResult {
    hgetall_generic(ex, a, Part::Fields)
}

fn hvals(ex: &mut Exec, a: &mut Args) -> CmdResult {
    hgetall_generic(ex, a, Part::Values)
}

fn hgetall(ex: &mut Exec, a: &mut Args) -> CmdResult {
    hgetall_generic(ex, a, Part::Both)
}

// ---- counters ----

fn hincrby(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let field = a.next()?;
    let incr = a.next_i64()?;
    let now = ex.now;
    let h = hash_or_create(&mut ex.store.dbs[ex.db], key, now)?;
    let cur = match h.get(field) {
        Some(v) => parse_i64(v).ok_or(CmdError::Static("ERR hash value is not an integer"))?,
        None => 0,
    };
    let new = cur.checked_add(incr).ok_or(CmdError::Overflow)?;
    let mut b = itoa::Buffer::new();
    h.set(field, b.format(new).as_bytes());
    notify(ex.db, ev::HASH, "hincrby", key);
    ex.reply.int(new);
    Ok(())
}

/// Redis's `MAX_LONG_DOUBLE_CHARS`: its `string2ld` refuses a string this long
/// or longer (the C helper behind `add_long_double` takes one byte more).
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

fn hincrbyfloat(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let field = a.next()?;
    let incr = a.next()?;
    if incr.len() >= MAX_LONG_DOUBLE_CHARS {
        return Err(CmdError::NotFloat);
    }
    // The increment is checked before the key is looked up, and a finite
    // increment added to nothing cannot overflow: any error here is the
    // increment's own.
    match add_long_double(None, incr) {
        Ok(_) => {}
        Err(LongDoubleError::NotFloat) => return Err(CmdError::NotFloat),
        Err(LongDoubleError::NanOrInfinity) => {
            return Err(CmdError::Static("ERR value is NaN or Infinity"));
        }
    }
    let now = ex.now;
    let h = hash_or_create(&mut ex.store.dbs[ex.db], key, now)?;
    let not_float = CmdError::Static("ERR hash value is not a float");
    let cur = h.get(field);
    if cur.is_some_and(|v| v.len() >= MAX_LONG_DOUBLE_CHARS) {
        return Err(not_float);
    }
    let new = add_long_double(cur, incr).map_err(|e| match e {
        LongDoubleError::NotFloat => not_float,
        LongDoubleError::NanOrInfinity => {
            CmdError::Static("ERR increment would produce NaN or Infinity")
        }
    })?;
    h.set(field, &new);
    notify(ex.db, ev::HASH, "hincrbyfloat", key);
    ex.reply.bulk(&new);
    Ok(())
}

// ---- HRANDFIELD ----

fn hrandfield(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    if a.is_empty() {
        let now = ex.now;
        let h = read_hash(&mut ex.store.dbs[ex.db], ex.stats, key, now)?;
        match h.and_then(|h| h.random(&mut rand)) {
            Some((f, _)) => ex.reply.bulk(f),
            None => ex.reply.null(),
        }
        return Ok(());
    }
    let l = a.next_i64()?;
    if l == i64::MIN {
        return Err(CmdError::Static(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withvalues = match a.rest() {
        [] => false,
        [opt] if eq_ic(opt, "withvalues") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::Static("ERR value is out of range"));
    }
    super::check_random_repeats(l)?;
    let now = ex.now;
    let resp3 = ex.reply.resp3();
    let Some(h) = read_hash(&mut ex.store.dbs[ex.db], ex.stats, key, now)? else {
        ex.reply.array(0);
        return Ok(());
    };
    let count = l.unsigned_abs() as usize;
    if count == 0 {
        ex.reply.array(0);
        return Ok(());
    }
    let shape = Shape { withvalues, resp3 };
    let r = &mut ex.reply;
    if l < 0 || count == 1 {
        // Repeats allowed: independent draws, in random order.
        shape.header(r, count);
        for _ in 0..count {
            if let Some((f, v)) = h.random(&mut rand) {
                shape.pair(r, f, v);
            }
        }
    } else {
        let pairs = h.random_distinct(count, &mut rand);
        shape.header(r, pairs.len());
        for (f, v) in pairs {
            shape.pair(r, f, v);
        }
    }
    Ok(())
}

/// How HRANDFIELD with a count lays its reply out: RESP2 flattens the pairs of
/// WITHVALUES, RESP3 nests each pair in a 2-element array.
struct Shape {
    withvalues: bool,
    resp3: bool,
}

impl Shape {
    fn header(&self, r: &mut Reply, n: usize) {
        r.array(if self.withvalues && !self.resp3 {
            n * 2
        } else {
            n
        });
    }

    fn pair(&self, r: &mut Reply, f: &[u8], v: &[u8]) {
        if self.withvalues && self.resp3 {
            r.array(2);
        }
        r.bulk(f);
        if self.withvalues {
            r.bulk(v);
        }
    }
}

// ---- HSCAN ----

fn hscan(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let cursor = parse_cursor(a.next()?).ok_or(CmdError::Static("ERR invalid cursor"))?;
    let now = ex.now;
    let Some(h) = read_hash(&mut ex.store.dbs[ex.db], ex.stats, key, now)? else {
        ex.reply.array(2);
        ex.reply.bulk(b"0");
        ex.reply.array(0);
        return Ok(());
    };
    // Options are read only for an existing hash, as Redis does.
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    while !a.is_empty() {
        if a.eat("COUNT") {
            let n = a.next_i64()?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = n as usize;
        } else if a.eat("MATCH") {
            let p = a.next()?;
            pattern = (&p[..] != b"*").then_some(&p[..]);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut found: Vec<(&[u8], &[u8])> = Vec::new();
    let next = h.scan(cursor, count, |f, v| {
        if pattern.is_none_or(|p| glob_match(p, f, false)) {
            found.push((f, v));
        }
    });
    let r = &mut ex.reply;
    r.array(2);
    r.bulk_int(next as i64);
    r.array(found.len() * 2);
    for (f, v) in found {
        r.bulk(f);
        r.bulk(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use crate::store::Store;

    #[test]
    fn set_get_delete() {
        let mut st = Store::default();
        assert_eq!(
            run(&mut st, &["hset", "h", "a", "1", "b", "2", "a", "3"]),
            ":2\r\n"
        );
        assert_eq!(run(&mut st, &["hget", "h", "a"]), "$1\r\n3\r\n");
        assert_eq!(
            run(&mut st, &["hset", "h", "a"]),
            "-ERR wrong number of arguments for 'hset' command\r\n"
        );
        assert_eq!(
            run(&mut st, &["hmset", "h", "a", "1", "c"]),
            "-ERR wrong number of arguments for 'hmset' command\r\n"
        );
        assert_eq!(run(&mut st, &["hmset", "h", "c", "x"]), "+OK\r\n");
        assert_eq!(run(&mut st, &["hsetnx", "h", "c", "y"]), ":0\r\n");
        assert_eq!(run(&mut st, &["hsetnx", "h", "d", "y"]), ":1\r\n");
        assert_eq!(
            run(&mut st, &["hmget", "h", "a", "zz", "d"]),
            "*3\r\n$1\r\n3\r\n$-1\r\n$1\r\ny\r\n"
        );
        assert_eq!(run(&mut st, &["hlen", "h"]), ":4\r\n");
        assert_eq!(run(&mut st, &["hstrlen", "h", "a"]), ":1\r\n");
        assert_eq!(run(&mut st, &["hexists", "h", "zz"]), ":0\r\n");
        assert_eq!(
            run(&mut st, &["hkeys", "h"]),
            "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"
        );
        assert_eq!(run(&mut st, &["hdel", "h", "a", "a", "b", "zz"]), ":2\r\n");
        assert_eq!(run(&mut st, &["hdel", "h", "c", "d", "x"]), ":2\r\n");
        assert_eq!(run(&mut st, &["exists", "h"]), ":0\r\n");
        assert_eq!(run(&mut st, &["hgetall", "h"]), "*0\r\n");
        run(&mut st, &["set", "s", "v"]);
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        for cmd in [
            &["hset", "s", "f", "v"][..],
            &["hget", "s", "f"],
            &["hdel", "s", "f"],
            &["hincrby", "s", "f", "1"],
            &["hrandfield", "s"],
            &["hscan", "s", "0"],
        ] {
            assert_eq!(run(&mut st, cmd), wrong, "{cmd:?}");
        }
    }

    #[test]
    fn counters() {
        let mut st = Store::default();
        assert_eq!(run(&mut st, &["hincrby", "h", "n", "5"]), ":5\r\n");
        assert_eq!(
            run(&mut st, &["hincrby", "h", "n", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            run(&mut st, &["hincrby", "h", "n", "9223372036854775807"]),
            "-ERR increment or decrement would overflow\r\n"
        );
        run(&mut st, &["hset", "h", "s", "abc"]);
        assert_eq!(
            run(&mut st, &["hincrby", "h", "s", "1"]),
            "-ERR hash value is not an integer\r\n"
        );
        assert_eq!(
            run(&mut st, &["hincrbyfloat", "h", "s", "1"]),
            "-ERR hash value is not a float\r\n"
        );
        assert_eq!(
            run(&mut st, &["hincrbyfloat", "h", "n", "0.1"]),
            "$3\r\n5.1\r\n"
        );
        assert_eq!(
            run(&mut st, &["hincrbyfloat", "h", "n", "abc"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(
            run(&mut st, &["hincrbyfloat", "x", "n", "inf"]),
            "-ERR value is NaN or Infinity\r\n"
        );
        assert_eq!(run(&mut st, &["exists", "x"]), ":0\r\n");
        run(&mut st, &["hset", "h", "big", "1e4932"]);
        assert_eq!(
            run(&mut st, &["hincrbyfloat", "h", "big", "1e4932"]),
            "-ERR increment would produce NaN or Infinity\r\n"
        );
    }

    fn encoding(st: &Store, key: &str) -> &'static str {
        st.dbs[0]
            .dict()
            .get(key.as_bytes())
            .map_or("none", |e| e.encoding())
    }

    #[test]
    fn encodings_follow_redis() {
        let mut st = Store::default();
        let long = "x".repeat(65);
        run(&mut st, &["hset", "h", "a", "1"]);
        assert_eq!(encoding(&st, "h"), "listpack");
        run(&mut st, &["hsetnx", "h", "a", &long]);
        assert_eq!(encoding(&st, "h"), "listpack");
        run(&mut st, &["hincrby", "h", &long, "1"]);
        assert_eq!(encoding(&st, "h"), "hashtable");
        // One long argument converts before anything is set.
        run(&mut st, &["hset", "h2", "a", "1", "b", &long]);
        assert_eq!(encoding(&st, "h2"), "hashtable");
    }
}
