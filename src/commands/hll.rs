//! The hyperloglog family: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.
//!
//! An HLL is a plain string in Redis's binary format (see `store::hll`), so the
//! handlers only check, decode and rewrite strings. Multi-key PFCOUNT and PFMERGE
//! over several shards gather the values under one transaction and compute with
//! the same functions on the coordinator.

use super::args::eq_ic;
use super::{Args, CmdError, CmdResult, Exec};
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{CommandSpec, Multi, acl, flag};
use crate::store::hll::{self, HllError, REGISTERS};
use crate::store::notify::{class as ev, notify};
use crate::store::{Db, Entry, Value};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::shard("pfadd", -2, pfadd)
        .flags(flag::WRITE | flag::DENYOOM | flag::FAST)
        .keys(&[key(1, RW | INSERT)])
        .acl(acl::HYPERLOGLOG)
        .doc("hyperloglog", "2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist."),
    CommandSpec::shard("pfcount", -2, pfcount)
        .flags(flag::READONLY | flag::MAY_REPLICATE)
        .keys(&[keys_from(1, RW | ACCESS).notes("RW because it may change the internal representation of the key, and propagate to replicas")])
        .acl(acl::HYPERLOGLOG)
        .doc("hyperloglog", "2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("pfmerge", -2, pfmerge)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RW | ACCESS | INSERT), keys_from(2, RO | ACCESS)])
        .acl(acl::HYPERLOGLOG)
        .doc("hyperloglog", "2.8.9", "Merges one or more HyperLogLog values into a single key.")
        .multi(Multi::Gather { extra_db: None }),
    CommandSpec::shard("pfdebug", 3, pfdebug)
        .flags(flag::WRITE | flag::DENYOOM | flag::ADMIN)
        .keys(&[key(2, RW | ACCESS)])
        .acl(acl::HYPERLOGLOG)
        .doc("hyperloglog", "2.8.9", "Internal commands for debugging HyperLogLog values."),
    CommandSpec::shard("pfselftest", 1, pfselftest)
        .flags(flag::ADMIN)
        .acl(acl::HYPERLOGLOG)
        .doc("hyperloglog", "2.8.9", "An internal command for testing HyperLogLog values."),
];

/// Redis's texts for the HLL errors.
fn hll_err(e: HllError) -> CmdError {
    match e {
        HllError::WrongType => CmdError::WrongType,
        HllError::NotHll => {
            CmdError::Static("WRONGTYPE Key is not a valid HyperLogLog string value.")
        }
        HllError::Corrupt => CmdError::Static("INVALIDOBJ Corrupted HLL object detected"),
    }
}

/// The HLL string at `key` for in-place changes (`None` if missing), checked.
/// Marks the entry raw: Redis unshares the string before touching it.
fn hll_mut<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut Vec<u8>>, CmdError> {
    let Some(e) = db.get(key, now) else {
        return Ok(None);
    };
    hll::as_hll(&e.value).map_err(hll_err)?;
    e.set_raw(true);
    match &mut e.value {
        Value::Str(s) => Ok(Some(s)),
        _ => Err(CmdError::WrongType),
    }
}

fn pfadd(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let key = a.next()?;
    let now = ex.now;
    let db = ex.db();
    let mut updated = false;
    if hll_mut(db, key, now)?.is_none() {
        let mut e = Entry::new(Value::Str(hll::new_sparse()));
        e.set_raw(true);
        db.set_entry(key, e);
        updated = true;
    }
    let Some(s) = hll_mut(db, key, now)? else {
        return Err(CmdError::NoSuchKey);
    };
    for ele in a.rest() {
        // On a corrupt HLL the registers already raised stay raised, as in Redis.
        updated |= hll::add(s, ele).map_err(hll_err)?;
    }
    if updated {
        hll::invalidate(s);
        notify(ex.db, ev::STRING, "pfadd", key);
    }
    ex.reply.int(updated as i64);
    Ok(())
}

fn pfcount(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let now = ex.now;
    let keys = a.rest();
    if keys.len() == 1 {
        let (found, card) = match hll_mut(ex.db(), &keys[0], now)? {
            None => (false, 0),
            Some(s) => (true, hll::count_cached(s).map_err(hll_err)?),
        };
        ex.hit(found);
        ex.reply.int(card as i64);
        return Ok(());
    }
    let mut max = Box::new([0u8; REGISTERS]);
    for k in keys {
        let found = match ex.db().get(k, now) {
            Some(e) => {
                let s = hll::as_hll(&e.value).map_err(hll_err)?;
                hll::merge_into(&mut max, s).map_err(hll_err)?;
                true
            }
            None => false,
        };
        ex.hit(found);
    }
    ex.reply.int(hll::count_registers(&max) as i64);
    Ok(())
}

fn pfmerge(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let now = ex.now;
    let keys = a.rest();
    // Look every key up first (lazy expiry, hit counts), then merge in
    // argument order.
    for k in keys {
        let found = ex.db().get(k, now).is_some();
        ex.hit(found);
    }
    let db = ex.db();
    let values = keys.iter().map(|k| db.peek(k, now).map(|e| &e.value));
    let (max, dense) = hll::union(values).map_err(hll_err)?;
    let dest = &keys[0];
    let current = db.peek(dest, now).and_then(|e| e.value.as_str().cloned());
    let merged = hll::merge_dest(current, &max, dense).map_err(hll_err)?;
    store_dest(db, dest, now, merged);
    notify(ex.db, ev::STRING, "pfadd", dest);
    ex.reply.ok();
    Ok(())
}

/// Writes PFMERGE's result, keeping the destination's TTL (Redis rewrites the
/// string in place).
fn store_dest(db: &mut Db, key: &[u8], now: u64, s: Vec<u8>) {
    match db.get(key, now) {
        Some(e) => {
            e.value = Value::Str(s);
            e.set_raw(true);
        }
        None => {
            let mut e = Entry::new(Value::Str(s));
            e.set_raw(true);
            db.set_entry(key, e);
        }
    }
}

fn pfdebug(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let sub = a.next()?;
    let key = a.next()?;
    let now = ex.now;
    let Some(s) = hll_mut(ex.db(), key, now)? else {
        return Err(CmdError::Static("ERR The specified key does not exist"));
    };
    if eq_ic(sub, "getreg") || eq_ic(sub, "todense") {
        let converted = !hll::is_dense(s);
        if converted {
            *s = hll::to_dense(s).map_err(hll_err)?;
        }
        if eq_ic(sub, "todense") {
            ex.reply.int(converted as i64);
            return Ok(());
        }
        let regs: Vec<u8> = (0..REGISTERS)
            .map(|i| hll::dense_get(&s[hll::HDR..], i))
            .collect();
        ex.reply.array(REGISTERS);
        for r in regs {
            ex.reply.int(r as i64);
        }
    } else if eq_ic(sub, "decode") {
        if hll::is_dense(s) {
            return Err(CmdError::Static("ERR HLL encoding is not sparse"));
        }
        let text = hll::decode(s);
        ex.reply.bulk(text.as_bytes());
    } else if eq_ic(sub, "encoding") {
        let enc = if hll::is_dense(s) { "dense" } else { "sparse" };
        ex.reply.simple(enc);
    } else {
        return Err(CmdError::Msg(format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

/// A quick self-check of the register and encoding code (Redis's version runs
/// its own longer battery); errors name the failing step.
fn pfselftest(ex: &mut Exec, _a: &mut Args) -> CmdResult {
    let fail = |what: &str| Err(CmdError::Msg(format!("ERR TESTFAILED {what}")));
    let mut regs = vec![0u8; hll::DENSE_SIZE - hll::HDR];
    for i in 0..REGISTERS {
        hll::dense_set(&mut regs, i, (i * 7 % 64) as u8);
    }
    if (0..REGISTERS).any(|i| hll::dense_get(&regs, i) != (i * 7 % 64) as u8) {
        return fail("Register error");
    }
    let mut sparse = hll::new_sparse();
    let mut dense = hll::to_dense(&sparse).map_err(hll_err)?;
    for i in 0..20_000u32 {
        let e = i.to_le_bytes();
        let a = hll::add(&mut sparse, &e);
        let b = hll::add(&mut dense, &e);
        if a != b {
            return fail("Sparse and dense disagree");
        }
        if i % 1000 == 0 && hll::count(&sparse) != hll::count(&dense) {
            return fail("Sparse and dense counts differ");
        }
    }
    let c = hll::count(&dense).map_err(hll_err)? as f64;
    if (c - 20_000.0).abs() > 20_000.0 * 0.05 {
        return fail(&format!("Approximation error {c} for 20000 elements"));
    }
    ex.reply.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::commands::tests::run;
    use crate::store::Store;

    #[test]
    fn pfadd_pfcount_pfmerge() {
        let mut st = Store::default();
        assert_eq!(run(&mut st, &["pfadd", "h"]), ":1\r\n");
        assert_eq!(run(&mut st, &["pfadd", "h"]), ":0\r\n");
        assert_eq!(run(&mut st, &["pfadd", "h", "a", "b", "c"]), ":1\r\n");
        assert_eq!(run(&mut st, &["pfadd", "h", "a"]), ":0\r\n");
        assert_eq!(run(&mut st, &["pfcount", "h"]), ":3\r\n");
        assert_eq!(run(&mut st, &["pfadd", "g", "c", "d"]), ":1\r\n");
        assert_eq!(run(&mut st, &["pfcount", "h", "g", "nokey"]), ":4\r\n");
        assert_eq!(run(&mut st, &["pfmerge", "m", "h", "g"]), "+OK\r\n");
        assert_eq!(run(&mut st, &["pfcount", "m"]), ":4\r\n");
        assert_eq!(run(&mut st, &["pfmerge", "empty"]), "+OK\r\n");
        assert_eq!(run(&mut st, &["pfcount", "empty"]), ":0\r\n");
        assert_eq!(run(&mut st, &["pfdebug", "encoding", "m"]), "+sparse\r\n");
        assert_eq!(run(&mut st, &["pfdebug", "todense", "m"]), ":1\r\n");
        assert_eq!(run(&mut st, &["pfcount", "m"]), ":4\r\n");
        assert_eq!(run(&mut st, &["pfselftest"]), "+OK\r\n");
    }

    #[test]
    fn errors() {
        let mut st = Store::default();
        run(&mut st, &["set", "s", "not an hll string"]);
        let not_hll = "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n";
        assert_eq!(run(&mut st, &["pfadd", "s", "a"]), not_hll);
        assert_eq!(run(&mut st, &["pfcount", "s"]), not_hll);
        assert_eq!(run(&mut st, &["pfmerge", "d", "s"]), not_hll);
        run(
            &mut st,
            &["set", "bad", "HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x01"],
        );
        // The cache (0, valid) answers without reading the broken body.
        assert_eq!(run(&mut st, &["pfcount", "bad"]), ":0\r\n");
        assert_eq!(
            run(&mut st, &["pfadd", "bad", "a", "b", "c", "d"]),
            "-INVALIDOBJ Corrupted HLL object detected\r\n"
        );
        // Other types get the usual WRONGTYPE, and a failed merge creates nothing.
        st.dbs[0].set(b"l", crate::store::Value::List(Default::default()));
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        for cmd in [
            &["pfadd", "l", "a"][..],
            &["pfcount", "l"],
            &["pfcount", "nokey", "l", "s"],
            &["pfmerge", "l"],
            &["pfmerge", "d", "l"],
            &["pfdebug", "getreg", "l"],
        ] {
            assert_eq!(run(&mut st, cmd), wrong, "{cmd:?}");
        }
        assert_eq!(run(&mut st, &["pfcount", "s", "l"]), not_hll);
        assert_eq!(run(&mut st, &["exists", "d"]), ":0\r\n");
        assert_eq!(
            run(&mut st, &["pfdebug", "encoding", "nokey"]),
            "-ERR The specified key does not exist\r\n"
        );
    }
}
