//! Pops that pick the first non-empty of several keys, moves between two lists,
//! and their blocking forms: LMPOP, LMOVE, RPOPLPUSH, ZMPOP, BLPOP, BRPOP, BLMPOP,
//! BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! One *attempt* serves them all: with every key locked, pick the key to pop from
//! (the first non-empty in argument order; for a woken waiter, the one that
//! became ready first), pop, push to the destination for moves, and either
//! unregister a served waiter or register one that must wait — all in the same
//! locked step. Keys on one shard make it a single hop; keys on several shards
//! run it as a transaction (lock, probe, pop, push, release). The waiting itself
//! is in [`crate::shard::blocking`].

use crate::shard::journal;
use std::pin::pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::{Either, LocalBoxFuture};

use super::{Args, CmdError, CmdResult, Exec};
use crate::dispatch::Client;
use crate::dispatch::coord::KeyGroups;
use crate::dispatch::table::ks::*;
use crate::dispatch::table::{CommandSpec, Multi, acl, flag};
use crate::protocol::{Reply, parse_i64};
use crate::shard::Shard;
use crate::shard::blocking::{WaitSlot, register, unregister};
use crate::shard::locks::{LockKey, LockSet};
use crate::store::list::List;
use crate::store::notify::{class as ev, notify};
use crate::store::{Db, Store, Value, now_ms};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::shard("lmove", 5, lmove)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RW | ACCESS | DELETE), key(2, RW | INSERT)])
        .acl(acl::LIST)
        .doc("list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.")
        .multi(Multi::Custom(pops_across)),
    CommandSpec::shard("rpoplpush", 3, rpoplpush)
        .flags(flag::WRITE | flag::DENYOOM)
        .keys(&[key(1, RW | ACCESS | DELETE), key(2, RW | INSERT)])
        .acl(acl::LIST)
        .doc("list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.")
        .multi(Multi::Custom(pops_across)),
    CommandSpec::shard("lmpop", -4, lmpop)
        .flags(flag::WRITE)
        .keys(&[keynum(1, 0, 1, 1, RW | ACCESS | DELETE)])
        .acl(acl::LIST)
        .doc("list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.")
        .multi(Multi::Custom(pops_across)),
    CommandSpec::shard("zmpop", -4, zmpop)
        .flags(flag::WRITE)
        .keys(&[keynum(1, 0, 1, 1, RW | ACCESS | DELETE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.")
        .multi(Multi::Custom(pops_across)),
    CommandSpec::conn("blpop", -3, blocking_cmd)
        .flags(flag::WRITE | flag::NOSCRIPT | flag::BLOCKING)
        .keys(&[range(1, -2, 1, RW | ACCESS | DELETE)])
        .acl(acl::LIST)
        .doc("list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    CommandSpec::conn("brpop", -3, blocking_cmd)
        .flags(flag::WRITE | flag::NOSCRIPT | flag::BLOCKING)
        .keys(&[range(1, -2, 1, RW | ACCESS | DELETE)])
        .acl(acl::LIST)
        .doc("list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    CommandSpec::conn("brpoplpush", 4, blocking_cmd)
        .flags(flag::WRITE | flag::DENYOOM | flag::NOSCRIPT | flag::BLOCKING)
        .keys(&[key(1, RW | ACCESS | DELETE), key(2, RW | INSERT)])
        .acl(acl::LIST)
        .doc("list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped."),
    CommandSpec::conn("blmove", 6, blocking_cmd)
        .flags(flag::WRITE | flag::DENYOOM | flag::NOSCRIPT | flag::BLOCKING)
        .keys(&[key(1, RW | ACCESS | DELETE), key(2, RW | INSERT)])
        .acl(acl::LIST)
        .doc("list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved."),
    CommandSpec::conn("blmpop", -5, blocking_cmd)
        .flags(flag::WRITE | flag::BLOCKING)
        .keys(&[keynum(2, 0, 1, 1, RW | ACCESS | DELETE)])
        .acl(acl::LIST)
        .doc("list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    CommandSpec::conn("bzpopmin", -3, blocking_cmd)
        .flags(flag::WRITE | flag::NOSCRIPT | flag::BLOCKING | flag::FAST)
        .keys(&[range(1, -2, 1, RW | ACCESS | DELETE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    CommandSpec::conn("bzpopmax", -3, blocking_cmd)
        .flags(flag::WRITE | flag::NOSCRIPT | flag::BLOCKING | flag::FAST)
        .keys(&[range(1, -2, 1, RW | ACCESS | DELETE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    CommandSpec::conn("bzmpop", -5, blocking_cmd)
        .flags(flag::WRITE | flag::BLOCKING)
        .keys(&[keynum(2, 0, 1, 1, RW | ACCESS | DELETE)])
        .acl(acl::SORTEDSET)
        .doc("sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
];

// ---- what a command asks for ----

#[derive(Clone, Debug)]
enum Op {
    /// Pop `count` from the head (`left`) or tail of the first non-empty list.
    /// `multi`: LMPOP's `[key, [values]]` reply rather than BLPOP's `[key, value]`.
    ListPop {
        left: bool,
        count: usize,
        multi: bool,
    },
    /// Pop from the source's `from_left` end, push at the destination's `to_left`.
    Move {
        from_left: bool,
        to_left: bool,
        dest: Bytes,
    },
    /// Pop the `count` lowest (or, `max`, highest) members of the first non-empty
    /// sorted set. `multi`: ZMPOP's reply shape rather than BZPOPMIN's.
    ZPop {
        max: bool,
        count: usize,
        multi: bool,
    },
}

impl Op {
    fn is_zset(&self) -> bool {
        matches!(self, Op::ZPop { .. })
    }
}

/// What one attempt took.
#[derive(Debug)]
enum Popped {
    Values(Vec<Vec<u8>>),
    Scored(Vec<(Vec<u8>, f64)>),
}

#[derive(Debug)]
struct Served {
    key: Bytes,
    popped: Popped,
}

/// `None`: every key was empty.
type Outcome = Result<Option<Served>, CmdError>;

/// A parsed command: its keys, what to do, and how long it may wait (`None`:
/// never blocks; `Some(0)`: forever).
struct Request {
    keys: Vec<Bytes>,
    op: Op,
    timeout_ms: Option<u64>,
}

fn where_arg(a: &[u8]) -> Result<bool, CmdError> {
    if a.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if a.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Redis's blocking timeout: seconds as a float, rounded up to milliseconds.
/// Like Redis 7.0 (which casts to a signed 64-bit), a value too large for that
/// reads as negative.
fn parse_timeout(a: &[u8]) -> Result<u64, CmdError> {
    let secs = crate::num::parse_f64(a).ok_or(CmdError::Static(
        "ERR timeout is not a float or out of range",
    ))?;
    let ms = (secs * 1000.0).ceil();
    if !(0.0..9.223_372_036_854_775e18).contains(&ms) {
        return Err(CmdError::Static("ERR timeout is negative"));
    }
    Ok(ms as u64)
}

/// `numkeys key... LEFT|RIGHT|MIN|MAX [COUNT n]` starting at `args[0]`.
fn parse_mpop(args: &[Bytes], zset: bool) -> Result<(Vec<Bytes>, Op), CmdError> {
    const NUMKEYS: CmdError = CmdError::Static("ERR numkeys should be greater than 0");
    let n = args
        .first()
        .and_then(|a| parse_i64(a))
        .filter(|&n| n > 0)
        .ok_or(NUMKEYS)? as u64;
    if n >= args.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let n = n as usize;
    let keys = args[1..=n].to_vec();
    let dir = &args[n + 1];
    let first = if zset {
        if dir.eq_ignore_ascii_case(b"min") {
            true
        } else if dir.eq_ignore_ascii_case(b"max") {
            false
        } else {
            return Err(CmdError::Syntax);
        }
    } else {
        where_arg(dir)?
    };
    let mut count: Option<usize> = None;
    let mut a = Args::new(&args[n + 2..]);
    while !a.is_empty() {
        if count.is_none() && a.len() >= 2 && a.eat("COUNT") {
            let c = parse_i64(a.next()?)
                .filter(|&c| c > 0)
                .ok_or(CmdError::Static("ERR count should be greater than 0"))?;
            count = Some(c as usize);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let count = count.unwrap_or(1);
    let op = if zset {
        Op::ZPop {
            max: !first,
            count,
            multi: true,
        }
    } else {
        Op::ListPop {
            left: first,
            count,
            multi: true,
        }
    };
    Ok((keys, op))
}

/// Parses any command of this module: its lower-case `name` and arguments.
fn parse(name: &[u8], args: &[Bytes]) -> Result<Request, CmdError> {
    let last = args.len().saturating_sub(1);
    let req = match name {
        b"blpop" | b"brpop" | b"bzpopmin" | b"bzpopmax" => {
            let timeout_ms = Some(parse_timeout(&args[last])?);
            let keys = args[..last].to_vec();
            let op = match name {
                b"blpop" | b"brpop" => Op::ListPop {
                    left: name == b"blpop",
                    count: 1,
                    multi: false,
                },
                _ => Op::ZPop {
                    max: name == b"bzpopmax",
                    count: 1,
                    multi: false,
                },
            };
            Request {
                keys,
                op,
                timeout_ms,
            }
        }
        b"rpoplpush" | b"brpoplpush" | b"lmove" | b"blmove" => {
            let (from_left, to_left) = match name {
                b"lmove" | b"blmove" => (where_arg(&args[2])?, where_arg(&args[3])?),
                _ => (false, true),
            };
            let timeout_ms = match name {
                b"brpoplpush" | b"blmove" => Some(parse_timeout(&args[last])?),
                _ => None,
            };
            Request {
                keys: vec![args[0].clone()],
                op: Op::Move {
                    from_left,
                    to_left,
                    dest: args[1].clone(),
                },
                timeout_ms,
            }
        }
        b"lmpop" | b"zmpop" => {
            let (keys, op) = parse_mpop(args, name == b"zmpop")?;
            Request {
                keys,
                op,
                timeout_ms: None,
            }
        }
        _ => {
            // blmpop / bzmpop: the timeout comes first but is checked last.
            let (keys, op) = parse_mpop(&args[1..], name == b"bzmpop")?;
            let timeout_ms = Some(parse_timeout(&args[0])?);
            Request {
                keys,
                op,
                timeout_ms,
            }
        }
    };
    Ok(req)
}

// ---- the work on a shard ----

/// Whether `key` has something to pop: WRONGTYPE for a key of another type.
fn ready(d: &mut Db, key: &[u8], now: u64, zset: bool) -> Result<bool, CmdError> {
    match d.get(key, now).map(|e| &e.value) {
        None => Ok(false),
        Some(Value::List(l)) if !zset => Ok(!l.is_empty()),
        Some(Value::ZSet(z)) if zset => Ok(!z.is_empty()),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The destination of a move must be a list or missing.
fn dest_ok(d: &mut Db, key: &[u8], now: u64) -> Result<(), CmdError> {
    match d.get(key, now).map(|e| &e.value) {
        None | Some(Value::List(_)) => Ok(()),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Pops what `op` asks from `key` (checked ready), deleting the key once empty.
/// Pops for `op` and raises its events; a move raises them after its push, as
/// Redis does (see [`push_dest`]), so it calls [`pop_quietly`].
fn pop(d: &mut Db, key: &[u8], now: u64, op: &Op) -> Popped {
    let (popped, emptied) = pop_quietly(d, key, now, op);
    popped_events(d, key, op, &popped, emptied);
    popped
}

/// Journals a pop as the non-blocking command that replays it (Redis
/// rewrites BLPOP to LPOP, BLMOVE to LMOVE...): runs where the pop ran.
fn journal_pop(db: usize, key: &[u8], op: &Op, popped: &Popped) {
    if !journal::on() {
        return;
    }
    let n = match popped {
        Popped::Values(v) => v.len(),
        Popped::Scored(v) => v.len(),
    };
    if n == 0 {
        return;
    }
    let side = |left: bool| if left { &b"LEFT"[..] } else { &b"RIGHT"[..] };
    let count = n.to_string();
    match op {
        Op::ListPop { left, .. } => {
            let name = if *left { &b"LPOP"[..] } else { &b"RPOP"[..] };
            journal::record(db, &[name, key, count.as_bytes()]);
        }
        Op::Move {
            from_left,
            to_left,
            dest,
        } => journal::record(
            db,
            &[&b"LMOVE"[..], key, dest, side(*from_left), side(*to_left)],
        ),
        Op::ZPop { max, .. } => {
            let name = if *max {
                &b"ZPOPMAX"[..]
            } else {
                &b"ZPOPMIN"[..]
            };
            journal::record(db, &[name, key, count.as_bytes()]);
        }
    }
}

/// The events of a pop: `lpop`/`rpop`/`zpopmin`/`zpopmax`, then `del` if it
/// emptied the key.
fn popped_events(d: &Db, key: &[u8], op: &Op, popped: &Popped, emptied: bool) {
    let some = match popped {
        Popped::Values(v) => !v.is_empty(),
        Popped::Scored(v) => !v.is_empty(),
    };
    if !some {
        return;
    }
    let (class, event) = match op {
        Op::ListPop { left, .. } => (ev::LIST, if *left { "lpop" } else { "rpop" }),
        Op::Move { from_left, .. } => (ev::LIST, if *from_left { "lpop" } else { "rpop" }),
        Op::ZPop { max, .. } => (ev::ZSET, if *max { "zpopmax" } else { "zpopmin" }),
    };
    notify(d.id as usize, class, event, key);
    if emptied {
        notify(d.id as usize, ev::GENERIC, "del", key);
    }
}

fn pop_quietly(d: &mut Db, key: &[u8], now: u64, op: &Op) -> (Popped, bool) {
    let mut emptied = false;
    let popped = match (d.get(key, now).map(|e| &mut e.value), op) {
        (Some(Value::List(l)), Op::ListPop { left, count, .. }) => {
            let mut v = Vec::with_capacity((*count).min(l.len()));
            while v.len() < *count
                && let Some(x) = l.pop(*left)
            {
                v.push(x);
            }
            emptied = l.is_empty();
            Popped::Values(v)
        }
        (Some(Value::List(l)), Op::Move { from_left, .. }) => {
            let v: Vec<Vec<u8>> = l.pop(*from_left).into_iter().collect();
            emptied = l.is_empty();
            Popped::Values(v)
        }
        (Some(Value::ZSet(z)), Op::ZPop { max, count, .. }) => {
            let mut v = Vec::with_capacity((*count).min(z.len()));
            while v.len() < *count
                && let Some(x) = z.pop(*max)
            {
                v.push(x);
            }
            emptied = z.is_empty();
            Popped::Scored(v)
        }
        _ => Popped::Values(Vec::new()),
    };
    if emptied {
        d.remove(key);
    }
    (popped, emptied)
}

fn push_dest(d: &mut Db, dest: &[u8], now: u64, to_left: bool, popped: &Popped) {
    let Popped::Values(vals) = popped else {
        return;
    };
    let e = d.entry_or_insert_with(dest, now, || Value::List(List::new()));
    if let Value::List(l) = &mut e.value {
        for v in vals {
            l.push(to_left, v);
        }
    }
    if !vals.is_empty() {
        notify(
            d.id as usize,
            ev::LIST,
            if to_left { "lpush" } else { "rpush" },
            dest,
        );
    }
}

/// Registration changes made in the attempt's locked step.
#[derive(Clone, Copy, Default)]
struct Reg {
    /// Wait here if nothing can be served: `(home shard, waiter id)`.
    register: Option<(usize, u64)>,
    /// Served a registered waiter: take it off the keys' queues.
    unregister: Option<u64>,
}

/// Picks the key to serve among `(key index, ready?, ready_seq)`: the first in
/// argument order (a WRONGTYPE key first in line is the answer), or for a woken
/// waiter the non-empty key that became ready first (other types are ignored,
/// as Redis keeps such a client blocked).
fn choose(
    probes: &[(usize, Result<bool, CmdError>, u64)],
    woken: bool,
) -> Result<Option<usize>, CmdError> {
    if woken {
        return Ok(probes
            .iter()
            .filter(|(_, r, _)| matches!(r, Ok(true)))
            .min_by_key(|(i, _, seq)| (*seq, *i))
            .map(|(i, _, _)| *i));
    }
    let mut sorted: Vec<&(usize, Result<bool, CmdError>, u64)> = probes.iter().collect();
    sorted.sort_by_key(|p| p.0);
    for (i, r, _) in sorted {
        match r {
            Err(e) => return Err(e.clone()),
            Ok(true) => return Ok(Some(*i)),
            Ok(false) => {}
        }
    }
    Ok(None)
}

fn probe(
    d: &mut Db,
    keys: &[(usize, Bytes)],
    now: u64,
    zset: bool,
) -> Vec<(usize, Result<bool, CmdError>, u64)> {
    keys.iter()
        .map(|(i, k)| {
            let seq = d.blocked.get(&k[..]).map_or(0, |w| w.ready_seq);
            (*i, ready(d, k, now, zset), seq)
        })
        .collect()
}

/// The whole attempt when every key (and the destination) lives on this shard.
fn attempt_local(
    st: &mut Store,
    db: usize,
    keys: &[Bytes],
    op: &Op,
    woken: bool,
    reg: Reg,
) -> Outcome {
    let now = now_ms();
    crate::store::set_clock(now);
    let d = &mut st.dbs[db];
    let indexed: Vec<(usize, Bytes)> = keys.iter().cloned().enumerate().collect();
    let probes = probe(d, &indexed, now, op.is_zset());
    let Some(i) = choose(&probes, woken)? else {
        if let Some((home, id)) = reg.register {
            register(st, db, keys, home, id);
        }
        return Ok(None);
    };
    let key = keys[i].clone();
    if let Op::Move { dest, .. } = op {
        dest_ok(d, dest, now)?;
    }
    let popped = match op {
        Op::Move { dest, to_left, .. } => {
            let (popped, emptied) = pop_quietly(d, &key, now, op);
            push_dest(d, dest, now, *to_left, &popped);
            popped_events(d, &key, op, &popped, emptied);
            popped
        }
        _ => pop(d, &key, now, op),
    };
    if let Some(id) = reg.unregister {
        unregister(st, db, keys, id);
    }
    Ok(Some(Served { key, popped }))
}

/// The keys an attempt locks (the sources, then LMOVE's destination), each
/// hashed once per command however many attempts it takes.
struct Targets {
    all: Vec<Bytes>,
    groups: KeyGroups,
}

impl Targets {
    fn of(c: &Client, keys: &[Bytes], op: &Op) -> Targets {
        let mut all: Vec<Bytes> = keys.to_vec();
        if let Op::Move { dest, .. } = op {
            all.push(dest.clone());
        }
        let groups = KeyGroups::of_positions(&c.shard, &all, 0..all.len(), RW);
        Targets { all, groups }
    }

    /// The shard of the key at `pos` in `all`.
    fn owner(&self, pos: usize) -> usize {
        self.groups.owner_at(pos).unwrap_or(0)
    }
}

/// One attempt wherever the keys live.
async fn attempt(
    c: &Client,
    (keys, op): (&[Bytes], &Op),
    t: &Targets,
    woken: bool,
    reg: Reg,
) -> Outcome {
    let db = c.db;
    if let Some(first) = t.groups.single_owner() {
        let set = LockSet::Keys(
            t.all
                .iter()
                .map(|k| (LockKey { db, key: k.clone() }, true))
                .collect(),
        );
        let (keys, op) = (keys.to_vec(), op.clone());
        let work = move |sh: &Shard| {
            let out = attempt_local(
                &mut sh.store.borrow_mut(),
                db as usize,
                &keys,
                &op,
                woken,
                reg,
            );
            // The shard handlers (LMOVE, LMPOP...) are journaled as
            // themselves; a blocking command as the pop it made.
            if let Ok(Some(s)) = &out {
                journal_pop(db as usize, &s.key, &op, &s.popped);
            }
            out
        };
        // Inside EXEC the shard is already held by this client's transaction.
        let out = if c.exec_tx.is_some() {
            c.tx(vec![(first, set)]).await.run(first, work).await
        } else {
            c.shard.run_on(first, set, work).await
        };
        return out.unwrap_or(Ok(None));
    }
    attempt_across(c, (keys, op), t, woken, reg).await
}

/// The attempt as a transaction over several shards: lock, probe, pop, push,
/// then (un)register while releasing.
async fn attempt_across(
    c: &Client,
    (keys, op): (&[Bytes], &Op),
    t: &Targets,
    woken: bool,
    reg: Reg,
) -> Outcome {
    let (argv, groups) = (&t.all, &t.groups);
    let dest = match op {
        Op::Move { dest, .. } => Some(dest.clone()),
        _ => None,
    };
    let tx = c.tx(groups.lock_parts(c.db, argv)).await;
    let db = c.db as usize;
    let nkeys = keys.len();
    let zset = op.is_zset();
    let probes = tx
        .run_each(|s| {
            let mine: Vec<(usize, Bytes)> = groups
                .on(s)
                .map(|k| (k.pos as usize, argv[k.pos as usize].clone()))
                .collect();
            move |sh: &Shard| {
                let now = now_ms();
                let mut st = sh.store.borrow_mut();
                let d = &mut st.dbs[db];
                let (srcs, dst): (Vec<_>, Vec<_>) = mine.into_iter().partition(|(i, _)| *i < nkeys);
                let dest_state = dst.first().map(|(_, k)| dest_ok(d, k, now));
                (probe(d, &srcs, now, zset), dest_state)
            }
        })
        .await;
    let mut all_probes = Vec::new();
    let mut dest_state = Ok(());
    for (_, r) in probes {
        if let Some((p, ds)) = r {
            all_probes.extend(p);
            if let Some(Err(e)) = ds {
                dest_state = Err(e);
            }
        }
    }
    let chosen = match choose(&all_probes, woken) {
        Ok(x) => x,
        Err(e) => {
            tx.release().await;
            return Err(e);
        }
    };
    let per_shard_keys = |s: usize| -> Vec<Bytes> {
        groups
            .on(s)
            .filter(|k| (k.pos as usize) < nkeys)
            .map(|k| argv[k.pos as usize].clone())
            .collect()
    };
    let Some(i) = chosen else {
        match reg.register {
            Some((home, id)) => {
                tx.finish_each(|s| {
                    let keys = per_shard_keys(s);
                    move |sh: &Shard| register(&mut sh.store.borrow_mut(), db, &keys, home, id)
                })
                .await;
            }
            None => tx.release().await,
        }
        return Ok(None);
    };
    if let Err(e) = dest_state {
        tx.release().await;
        return Err(e);
    }
    let key = keys[i].clone();
    let (k, o) = (key.clone(), op.clone());
    let popped = tx
        .run(t.owner(i), move |sh: &Shard| {
            let popped = pop(&mut sh.store.borrow_mut().dbs[db], &k, now_ms(), &o);
            journal_pop(db, &k, &o, &popped);
            popped
        })
        .await
        .unwrap_or(Popped::Values(Vec::new()));
    let popped = match (dest, op) {
        (Some(dest), Op::Move { to_left, .. }) => {
            let to_left = *to_left;
            tx.run(t.owner(nkeys), move |sh: &Shard| {
                push_dest(
                    &mut sh.store.borrow_mut().dbs[db],
                    &dest,
                    now_ms(),
                    to_left,
                    &popped,
                );
                popped
            })
            .await
            .unwrap_or(Popped::Values(Vec::new()))
        }
        _ => popped,
    };
    match reg.unregister {
        Some(id) => {
            tx.finish_each(|s| {
                let keys = per_shard_keys(s);
                move |sh: &Shard| unregister(&mut sh.store.borrow_mut(), db, &keys, id)
            })
            .await;
        }
        None => tx.release().await,
    }
    Ok(Some(Served { key, popped }))
}

// ---- replies ----

fn write_served(r: &mut Reply, op: &Op, s: Option<Served>) {
    let Some(s) = s else {
        match op {
            Op::Move { .. } => r.null(),
            _ => r.null_array(),
        }
        return;
    };
    match (op, s.popped) {
        (Op::Move { .. }, Popped::Values(v)) => match v.first() {
            Some(x) => r.bulk(x),
            None => r.null(),
        },
        (Op::ListPop { multi: false, .. }, Popped::Values(v)) => {
            r.array(2);
            r.bulk(&s.key);
            match v.first() {
                Some(x) => r.bulk(x),
                None => r.null(),
            }
        }
        (_, Popped::Values(v)) => {
            r.array(2);
            r.bulk(&s.key);
            r.array(v.len());
            for x in &v {
                r.bulk(x);
            }
        }
        (Op::ZPop { multi: false, .. }, Popped::Scored(v)) => {
            r.array(3);
            r.bulk(&s.key);
            match v.first() {
                Some((m, score)) => {
                    r.bulk(m);
                    r.double(*score);
                }
                None => {
                    r.null();
                    r.null();
                }
            }
        }
        (_, Popped::Scored(v)) => {
            r.array(2);
            r.bulk(&s.key);
            r.array(v.len());
            for (m, score) in &v {
                r.array(2);
                r.bulk(m);
                r.double(*score);
            }
        }
    }
}

// ---- handlers ----

/// LMOVE, RPOPLPUSH, LMPOP and ZMPOP with all keys on this shard.
fn local(ex: &mut Exec, a: &mut Args, name: &'static str) -> CmdResult {
    let req = parse(name.as_bytes(), a.all())?;
    let out = attempt_local(ex.store, ex.db, &req.keys, &req.op, false, Reg::default())?;
    write_served(&mut ex.reply, &req.op, out);
    Ok(())
}

fn lmove(ex: &mut Exec, a: &mut Args) -> CmdResult {
    local(ex, a, "lmove")
}

fn rpoplpush(ex: &mut Exec, a: &mut Args) -> CmdResult {
    local(ex, a, "rpoplpush")
}

fn lmpop(ex: &mut Exec, a: &mut Args) -> CmdResult {
    local(ex, a, "lmpop")
}

fn zmpop(ex: &mut Exec, a: &mut Args) -> CmdResult {
    local(ex, a, "zmpop")
}

/// The blocking forms, as client-level handlers.
fn blocking_cmd<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(run(c, argv))
}

/// The coordinator of the non-blocking ones when their keys span shards: the
/// same attempt, as a transaction (a gather would copy whole lists to move
/// one element).
fn pops_across<'a>(
    c: &'a mut Client,
    argv: &'a [Bytes],
    _groups: KeyGroups,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(run(c, argv))
}

/// Runs any command of this module for a client: one attempt, then (for the
/// blocking forms, outside MULTI) wait for a wake-up, the timeout or the client
/// going away.
async fn run(c: &mut Client, argv: &[Bytes]) -> CmdResult {
    let req = parse(&argv[0].to_ascii_lowercase(), &argv[1..])?;
    let timeout_ms = match req.timeout_ms {
        Some(t) if c.exec_tx.is_none() => t,
        _ => {
            // Not allowed to block (MULTI) or not a blocking command: one try.
            let t = Targets::of(c, &req.keys, &req.op);
            let out = attempt(c, (&req.keys, &req.op), &t, false, Reg::default()).await?;
            write_served(&mut c.reply(), &req.op, out);
            return Ok(());
        }
    };
    let (id, slot) = c.shard.new_waiter();
    let result = wait_and_serve(c, &req, id, &slot, timeout_ms).await;
    c.shard.drop_waiter(id);
    result
}

enum Event {
    Woken,
    Timeout,
    Gone,
}

async fn wait_and_serve(
    c: &mut Client,
    req: &Request,
    id: u64,
    slot: &WaitSlot,
    timeout_ms: u64,
) -> CmdResult {
    let home = c.shard.id;
    let first = Reg {
        register: Some((home, id)),
        unregister: None,
    };
    let t = Targets::of(c, &req.keys, &req.op);
    if let Some(s) = attempt(c, (&req.keys, &req.op), &t, false, first).await? {
        write_served(&mut c.reply(), &req.op, Some(s));
        return Ok(());
    }
    let _blocked = c.shard.block(&c.info);
    let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
    let retry = Reg {
        register: None,
        unregister: Some(id),
    };
    loop {
        match next_event(c, slot, deadline).await {
            Event::Woken => match attempt(c, (&req.keys, &req.op), &t, true, retry).await {
                Ok(Some(s)) => {
                    write_served(&mut c.reply(), &req.op, Some(s));
                    return Ok(());
                }
                Ok(None) => continue,
                Err(e) => {
                    forget(c, &req.keys, id).await;
                    return Err(e);
                }
            },
            Event::Timeout => {
                forget(c, &req.keys, id).await;
                // Every blocking command times out with a null array, BLMOVE too
                // (unlike its immediate null inside MULTI), as in Redis.
                c.reply().null_array();
                return Ok(());
            }
            Event::Gone => {
                forget(c, &req.keys, id).await;
                c.quit = true;
                return Ok(());
            }
        }
    }
}

/// How often a blocked client checks that its peer is still connected.
const LIVENESS_TICK: Duration = Duration::from_millis(100);

async fn next_event(c: &Client, slot: &WaitSlot, deadline: Option<Instant>) -> Event {
    loop {
        let tick = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(LIVENESS_TICK),
            None => LIVENESS_TICK,
        };
        let woken = pin!(slot.woken());
        let sleep = pin!(glommio::timer::sleep(tick));
        if let Either::Left(_) = futures::future::select(woken, sleep).await {
            return Event::Woken;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Event::Timeout;
        }
        if c.info.killed.get() || c.info.peer.gone() {
            return Event::Gone;
        }
    }
}

/// Takes a waiter that timed out or lost its client off every key's queue.
async fn forget(c: &Client, keys: &[Bytes], id: u64) {
    let db = c.db as usize;
    let groups = KeyGroups::of_positions(&c.shard, keys, 0..keys.len(), RW);
    futures::future::join_all(groups.shards().into_iter().map(|s| {
        let mine: Vec<Bytes> = groups.on(s).map(|k| keys[k.pos as usize].clone()).collect();
        c.shard.run_on(s, LockSet::Keys(vec![]), move |sh: &Shard| {
            unregister(&mut sh.store.borrow_mut(), db, &mine, id)
        })
    }))
    .await;
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout(b"0"), Ok(0));
        assert_eq!(parse_timeout(b"0.0011"), Ok(2));
        assert_eq!(parse_timeout(b"1.5"), Ok(1500));
        assert!(parse_timeout(b"-1").is_err());
        assert!(parse_timeout(b"abc").is_err());
        assert!(parse_timeout(b"inf").is_err());
    }

    #[test]
    fn mpop_parsing() {
        let args: Vec<Bytes> = ["2", "a", "b", "LEFT", "COUNT", "3"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let (keys, op) = parse_mpop(&args, false).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(matches!(
            op,
            Op::ListPop {
                left: true,
                count: 3,
                multi: true
            }
        ));
        let bad: Vec<Bytes> = ["0", "a", "LEFT"].iter().map(|s| Bytes::from(*s)).collect();
        assert!(parse_mpop(&bad, false).is_err());
    }

    #[test]
    fn local_moves_and_pops() {
        let mut st = Store::default();
        assert_eq!(run(&mut st, &["lmpop", "2", "a", "b", "left"]), "*-1\r\n");
        assert_eq!(run(&mut st, &["rpoplpush", "a", "b"]), "$-1\r\n");
        let d = &mut st.dbs[0];
        let e = d.entry_or_insert_with(b"a", 0, || Value::List(List::new()));
        if let Value::List(l) = &mut e.value {
            l.push(false, b"1");
            l.push(false, b"2");
        }
        assert_eq!(run(&mut st, &["rpoplpush", "a", "b"]), "$1\r\n2\r\n");
        assert_eq!(
            run(&mut st, &["lmove", "a", "b", "left", "right"]),
            "$1\r\n1\r\n"
        );
        assert!(
            st.dbs[0].peek(b"a", 0).is_none(),
            "emptied source is deleted"
        );
        assert_eq!(
            run(&mut st, &["lmpop", "2", "a", "b", "left", "count", "5"]),
            "*2\r\n$1\r\nb\r\n*2\r\n$1\r\n2\r\n$1\r\n1\r\n"
        );
        assert_eq!(
            run(&mut st, &["lmove", "a", "b", "up", "left"]),
            "-ERR syntax error\r\n"
        );
    }
}
