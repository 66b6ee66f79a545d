//! SORT and SORT_RO.
//!
//! BY and GET patterns name other keys (`weight_*`, `obj_*->field`). A shard can
//! only read its own keys, so — as Redis Cluster does — a pattern is accepted only
//! when every key it can form lives on the sorted key's shard: on a one-shard
//! server always, otherwise when the pattern carries a hash tag (`w_{user}*`)
//! that maps to that shard. `STORE` may name a key on any shard.

use crate::store::notify::{class as ev, notify};
use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::{Args, CmdError, CmdResult, Exec};
use crate::dispatch::Client;
use crate::dispatch::coord::{KeyGroups, store_and_release};
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{CommandSpec, Multi, acl, flag};
use crate::num::parse_double_erange;
use crate::shard::Shard;
use crate::store::list::List;
use crate::store::{Db, Value};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::shard("sort", -2, sort)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RO | ACCESS), unknown(RO | ACCESS).notes("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"), unknown(OW | UPDATE).notes("For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array")])
        .getkeys(sort_keys)
        .acl(acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS)
        .doc("generic", "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.")
        .multi(Multi::Custom(sort_across)),
    CommandSpec::shard("sort_ro", -2, sort_ro)
        .flags(flag::READONLY)
        .keys(&[key(1, RO | ACCESS), unknown(RO | ACCESS).notes("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort")])
        .acl(acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS)
        .doc("generic", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set."),
];

/// SORT's keys: the sorted key and a STORE destination.
fn sort_keys(argv: &[Bytes], f: &mut dyn FnMut(usize, u16)) -> bool {
    if argv.len() < 2 {
        return false;
    }
    f(1, RO | ACCESS);
    if let Some(i) = store_pos(argv) {
        f(i, OW | UPDATE);
    }
    true
}

/// Position of the last STORE destination, skipping option arguments as the
/// parser does (a key named "store" after BY is a pattern, not the option).
fn store_pos(argv: &[Bytes]) -> Option<usize> {
    let mut j = 2;
    let mut found = None;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j];
        if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            j += 2;
        } else if (a.eq_ignore_ascii_case(b"by") || a.eq_ignore_ascii_case(b"get")) && left >= 1 {
            j += 1;
        } else if a.eq_ignore_ascii_case(b"store") && left >= 1 {
            found = Some(j + 1);
            j += 1;
        }
        j += 1;
    }
    found
}

struct Opts {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    by: Option<Bytes>,
    /// BY without a `*`: keep the collection's own order.
    dontsort: bool,
    get: Vec<Bytes>,
    store: Option<Bytes>,
}

/// Whether every key `pattern` can form lives on `shard` (see the module docs).
fn pattern_local(pattern: &[u8], key_shard: usize, nshards: usize) -> bool {
    // `#` is the element itself; a pattern without `*` names no key at all.
    if nshards == 1 || pattern == b"#" || !pattern.contains(&b'*') {
        return true;
    }
    let Some(open) = pattern.iter().position(|&b| b == b'{') else {
        return false;
    };
    let Some(len) = pattern[open + 1..].iter().position(|&b| b == b'}') else {
        return false;
    };
    let tag = &pattern[open + 1..open + 1 + len];
    if tag.is_empty() || tag.iter().any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\')) {
        return false;
    }
    crate::shard::slot::shard_of(tag, nshards) == key_shard
}

/// Parses SORT's options (after the key). `where_` = (this key's shard, shards).
fn parse(args: &[Bytes], ro: bool, where_: (usize, usize)) -> Result<Opts, CmdError> {
    let mut o = Opts {
        desc: false,
        alpha: false,
        limit: None,
        by: None,
        dontsort: false,
        get: Vec::new(),
        store: None,
    };
    let mut a = Args::new(args);
    while !a.is_empty() {
        let left = a.len() - 1;
        if a.eat("ASC") {
            o.desc = false;
        } else if a.eat("DESC") {
            o.desc = true;
        } else if a.eat("ALPHA") {
            o.alpha = true;
        } else if left >= 2 && a.eat("LIMIT") {
            let start = a.next_i64()?;
            let count = a.next_i64()?;
            o.limit = Some((start, count));
        } else if !ro && left >= 1 && a.eat("STORE") {
            o.store = Some(a.next()?.clone());
        } else if left >= 1 && a.eat("BY") {
            let p = a.next()?.clone();
            if !p.contains(&b'*') {
                o.dontsort = true;
            } else if !pattern_local(&p, where_.0, where_.1) {
                return Err(CmdError::Static(
                    "ERR BY option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.",
                ));
            }
            o.by = Some(p);
        } else if left >= 1 && a.eat("GET") {
            let p = a.next()?.clone();
            if !pattern_local(&p, where_.0, where_.1) {
                return Err(CmdError::Static(
                    "ERR GET option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.",
                ));
            }
            o.get.push(p);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// The value a pattern names for one element: `#` is the element itself,
/// `key_*` a string key, `hash_*->field` a hash field; `None` when missing or of
/// another type (as Redis's `lookupKeyByPattern`).
fn lookup(db: &Db, now: u64, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let arrow = pattern[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&i| i + 2 < pattern.len());
    let key_end = arrow.unwrap_or(pattern.len());
    let mut key = Vec::with_capacity(key_end + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let e = db.peek(&key, now)?;
    match (arrow, &e.value) {
        (None, Value::Str(s)) => Some(s.clone()),
        (Some(i), Value::Hash(h)) => h.get(&pattern[i + 2..]).map(<[u8]>::to_vec),
        _ => None,
    }
}

/// The elements of a sortable value, in its own order.
fn elements(v: &Value) -> Result<Vec<Vec<u8>>, CmdError> {
    let mut out = Vec::new();
    match v {
        Value::List(l) => {
            for x in l.iter() {
                out.push(x.to_vec());
            }
        }
        Value::Set(s) => s.for_each(|m| out.push(m.to_vec())),
        Value::ZSet(z) => z.for_each_in_order(|m, _| out.push(m.to_vec())),
        _ => return Err(CmdError::WrongType),
    }
    Ok(out)
}

/// Sorts `key` in `db` as `o` says; `None` entries are missing GET values.
fn sort_values(
    db: &mut Db,
    now: u64,
    key: &[u8],
    o: &Opts,
) -> Result<Vec<Option<Vec<u8>>>, CmdError> {
    let (mut elems, is_set) = match db.get(key, now).map(|e| &e.value) {
        None => (Vec::new(), false),
        Some(v) => (elements(v)?, matches!(v, Value::Set(_))),
    };
    let db: &Db = db;
    let mut dontsort = o.dontsort;
    let mut alpha = o.alpha;
    let mut by = o.by.as_ref();
    // A set's own order is arbitrary: sort it when storing or for a script,
    // so what is stored or replicated does not depend on hash order (as
    // Redis does). While a script runs it holds every shard, so a SORT
    // running then is the script's.
    if dontsort && is_set && (o.store.is_some() || crate::shard::script::running()) {
        dontsort = false;
        alpha = true;
        by = None;
    }
    if dontsort && o.desc {
        // Redis reverses a sorted set's order for DESC even without sorting.
        elems.reverse();
    }
    if !dontsort {
        enum W {
            Num(f64),
            Str(Option<Vec<u8>>),
        }
        let mut keyed: Vec<(W, Vec<u8>)> = Vec::with_capacity(elems.len());
        for e in elems {
            let w = match by {
                Some(p) => lookup(db, now, p, &e),
                None => None,
            };
            let w = if alpha {
                W::Str(if by.is_some() { w } else { Some(e.clone()) })
            } else {
                let src = if by.is_some() { w } else { Some(e.clone()) };
                match src {
                    Some(s) => W::Num(parse_double_erange(&s).ok_or(CmdError::Static(
                        "ERR One or more scores can't be converted into double",
                    ))?),
                    None => W::Num(0.0),
                }
            };
            keyed.push((w, e));
        }
        keyed.sort_by(|(wa, ea), (wb, eb)| {
            let c = match (wa, wb) {
                (W::Num(a), W::Num(b)) => a
                    .partial_cmp(b)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| ea.cmp(eb)),
                (W::Str(a), W::Str(b)) => a.cmp(b),
                _ => std::cmp::Ordering::Equal,
            };
            if o.desc { c.reverse() } else { c }
        });
        elems = keyed.into_iter().map(|(_, e)| e).collect();
    }
    let len = elems.len() as i64;
    let (start, end) = match o.limit {
        None => (0, len - 1),
        Some((s, c)) => {
            let mut start = s.max(0);
            let mut end = if c < 0 {
                len - 1
            } else {
                start.saturating_add(c) - 1
            };
            if start >= len {
                start = len - 1;
                end = len - 2;
            }
            (start, end.min(len - 1))
        }
    };
    let picked = if end >= start && start >= 0 {
        &elems[start as usize..=end as usize]
    } else {
        &[][..]
    };
    let mut out = Vec::with_capacity(picked.len() * o.get.len().max(1));
    for e in picked {
        if o.get.is_empty() {
            out.push(Some(e.clone()));
        }
        for g in &o.get {
            out.push(lookup(db, now, g, e));
        }
    }
    Ok(out)
}

fn reply_values(r: &mut crate::protocol::Reply, vals: &[Option<Vec<u8>>]) {
    r.array(vals.len());
    for v in vals {
        match v {
            Some(x) => r.bulk(x),
            None => r.null(),
        }
    }
}

/// The stored form of a result: a list (missing GET values as empty strings),
/// or nothing for an empty result.
fn stored(vals: Vec<Option<Vec<u8>>>) -> Option<Value> {
    if vals.is_empty() {
        return None;
    }
    let mut l = List::new();
    for v in vals {
        l.push(false, &v.unwrap_or_default());
    }
    Some(Value::List(l))
}

fn sort_generic(ex: &mut Exec, a: &mut Args, ro: bool) -> CmdResult {
    let key = a.next()?.clone();
    // The key (and any STORE target) is on this shard.
    let o = parse(a.rest(), ro, ex.shards)?;
    let now = ex.now;
    let vals = sort_values(ex.db(), now, &key, &o)?;
    match &o.store {
        None => reply_values(&mut ex.reply, &vals),
        Some(dest) => {
            let n = vals.len() as i64;
            match stored(vals) {
                Some(v) => {
                    ex.db().set(dest, v);
                    notify(ex.db, ev::LIST, "sortstore", dest);
                }
                None => {
                    if ex.db().remove(dest).is_some() {
                        notify(ex.db, ev::GENERIC, "del", dest);
                    }
                }
            }
            ex.reply.int(n);
        }
    }
    Ok(())
}

fn sort(ex: &mut Exec, a: &mut Args) -> CmdResult {
    sort_generic(ex, a, false)
}

fn sort_ro(ex: &mut Exec, a: &mut Args) -> CmdResult {
    sort_generic(ex, a, true)
}

/// SORT ... STORE with the destination on another shard: sort under a shared
/// lock on the key, store while releasing.
fn sort_across<'a>(
    c: &'a mut Client,
    argv: &'a [Bytes],
    groups: KeyGroups,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let key = argv[1].clone();
        let key_shard = groups.owner_at(1).unwrap_or(c.shard.id);
        let o = parse(&argv[2..], false, (key_shard, c.shard.nshards))?;
        let Some(dest) = o.store.clone() else {
            return Err(CmdError::Static("ERR internal routing error"));
        };
        let db = c.db;
        let parts = groups.lock_parts(db, argv);
        let tx = c.tx(parts).await;
        let vals = tx
            .run(key_shard, move |sh: &Shard| {
                let now = crate::shard::script::command_time();
                let mut st = sh.store.borrow_mut();
                sort_values(&mut st.dbs[db as usize], now, &key, &o)
            })
            .await
            .unwrap_or(Ok(Vec::new()));
        let vals = match vals {
            Ok(v) => v,
            Err(e) => {
                tx.release().await;
                return Err(e);
            }
        };
        let n = vals.len() as i64;
        let dest_shard = store_pos(argv)
            .and_then(|p| groups.owner_at(p))
            .unwrap_or(c.shard.id);
        let event = (ev::LIST, "sortstore");
        tx.journal(db, argv);
        store_and_release(c, tx, (&dest, dest_shard), stored(vals), event).await;
        c.reply().int(n);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<Bytes> {
        s.iter().map(|a| Bytes::from(a.to_string())).collect()
    }

    #[test]
    fn store_position() {
        assert_eq!(store_pos(&argv(&["sort", "k", "STORE", "d"])), Some(3));
        assert_eq!(
            store_pos(&argv(&["sort", "k", "BY", "store", "LIMIT", "0", "1"])),
            None
        );
        assert_eq!(store_pos(&argv(&["sort", "k", "store"])), None);
    }

    #[test]
    fn patterns() {
        assert!(pattern_local(b"w_*", 0, 1));
        assert!(!pattern_local(b"w_*", 0, 2));
        assert!(pattern_local(b"#", 1, 2));
        let s = crate::shard::slot::shard_of(b"user", 2);
        assert!(pattern_local(b"w_{user}_*", s, 2));
        assert!(!pattern_local(b"w_{user}_*", 1 - s, 2));
    }
}
