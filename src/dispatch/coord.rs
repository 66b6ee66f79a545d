//! Commands whose keys span shards. Routing hashes every key once and hands the
//! coordinator the keys grouped by owner ([`KeyGroups`]); the command's table row
//! says how the shards' parts combine ([`Multi`]). The shard-local step is the
//! command's own handler in every case, so a multi-key command is written once
//! and runs on one shard or many:
//!
//! - **split** (`Sum`, `Merge`, `Same`, `AllOrNone`): lock every key, then each
//!   owner runs the command on its share of the arguments in the hop that
//!   releases; the replies are combined (summed, re-ordered, or one of them).
//! - **gather** (`Gather`): lock every key (shared when read-only), copy the
//!   values into a scratch store, run the command there on the coordinator,
//!   and write back the keys it changed while releasing.
//! - **custom** (`Custom`): the command coordinates itself with these pieces.
//!
//! Also the whole-keyspace helpers (every shard, locked or not).

use crate::store::notify::{class as ev, notify};
use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

use super::client::Client;
use super::exec::{Exec, run_in};
use super::table::{CommandSpec, Find, Multi, ks};
use super::{Args, CmdResult, ShardFn};
use crate::protocol::{Proto, Reply, reply::value_len};
use crate::shard::locks::{LockKey, LockSet};
use crate::shard::tx::Tx;
use crate::shard::{Shard, ShardCmd};
use crate::store::list::List;
use crate::store::{Entry, Store, Value};

/// One key of a command: its argument position, owner shard and key spec flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef {
    pub pos: u32,
    pub shard: u16,
    pub flags: u16,
}

/// A command's keys in argument order, each with its owner, hashed once (by
/// routing). Single-key commands never allocate.
#[derive(Debug, Default)]
pub struct KeyGroups {
    first: Option<KeyRef>,
    rest: Vec<KeyRef>,
    split: bool,
}

impl KeyGroups {
    /// The keys `spec` finds in `argv`, with their owners. `None` when the
    /// arguments cannot hold the declared keys (the command reports it).
    pub fn of(spec: &CommandSpec, argv: &[Bytes], shard: &Shard) -> Option<KeyGroups> {
        let mut g = KeyGroups::default();
        let ok = spec.for_each_key(argv, |pos, flags| {
            g.push(pos, shard.owner(&argv[pos]), flags)
        });
        ok.then_some(g)
    }

    /// The given keys (`argv[pos]` for each position), all with `flags`.
    pub fn of_positions(
        shard: &Shard,
        argv: &[Bytes],
        positions: impl Iterator<Item = usize>,
        flags: u16,
    ) -> KeyGroups {
        let mut g = KeyGroups::default();
        for pos in positions {
            g.push(pos, shard.owner(&argv[pos]), flags);
        }
        g
    }

    fn push(&mut self, pos: usize, shard: usize, flags: u16) {
        let k = KeyRef {
            pos: pos as u32,
            shard: shard as u16,
            flags,
        };
        match self.first {
            None => self.first = Some(k),
            Some(f) => {
                self.split |= f.shard != k.shard;
                self.rest.push(k);
            }
        }
    }

    /// Every key, in argument order.
    pub fn keys(&self) -> impl Iterator<Item = &KeyRef> {
        self.first.iter().chain(self.rest.iter())
    }

    /// The owner of every key when they share one (`None` also for no keys).
    pub fn single_owner(&self) -> Option<usize> {
        match self.first {
            Some(f) if !self.split => Some(f.shard as usize),
            _ => None,
        }
    }

    /// The owner of the key at argument position `pos` (hashed by routing).
    pub fn owner_at(&self, pos: usize) -> Option<usize> {
        self.keys()
            .find(|k| k.pos as usize == pos)
            .map(|k| k.shard as usize)
    }

    pub fn is_split(&self) -> bool {
        self.split
    }

    /// The shards holding keys, ascending.
    pub fn shards(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.keys().map(|k| k.shard as usize).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The keys of shard `s`, in argument order.
    pub fn on(&self, s: usize) -> impl Iterator<Item = &KeyRef> {
        self.keys().filter(move |k| k.shard as usize == s)
    }

    /// Lock sets of every shard: shared for a key use that only reads,
    /// exclusive otherwise.
    pub fn lock_parts(&self, db: u8, argv: &[Bytes]) -> Vec<(usize, LockSet)> {
        let mut parts: Vec<(usize, Vec<(LockKey, bool)>)> = Vec::new();
        for k in self.keys() {
            add_lock(
                &mut parts,
                k.shard as usize,
                db,
                &argv[k.pos as usize],
                !ks::read_only(k.flags),
            );
        }
        parts
            .into_iter()
            .map(|(s, keys)| (s, LockSet::Keys(keys)))
            .collect()
    }
}

/// Adds `key` to shard `s`'s lock set. A key named twice is simply listed
/// twice: the lock table counts each entry and releases each.
fn add_lock(
    parts: &mut Vec<(usize, Vec<(LockKey, bool)>)>,
    s: usize,
    db: u8,
    key: &Bytes,
    excl: bool,
) {
    let i = match parts.iter().position(|(x, _)| *x == s) {
        Some(i) => i,
        None => {
            parts.push((s, Vec::new()));
            parts.len() - 1
        }
    };
    parts[i].1.push((
        LockKey {
            db,
            key: key.clone(),
        },
        excl,
    ));
}

/// Whether a split command's arguments divide into whole per-key windows
/// (`MSET k v k` does not: it runs on one shard, whose handler rejects it).
pub fn splits_evenly(spec: &CommandSpec, argv: &[Bytes], groups: &KeyGroups) -> bool {
    let step = split_step(spec);
    groups.keys().all(|k| k.pos as usize + step <= argv.len())
}

/// The width of one key's window in a split command (MSET: key and value).
fn split_step(spec: &CommandSpec) -> usize {
    match spec.keys.first().map(|k| k.find) {
        Some(Find::Range { step, .. }) => step.max(1) as usize,
        _ => 1,
    }
}

/// Shard `s`'s share of a split command: the arguments before the first key,
/// the windows of its own keys, and those after the last key.
fn share(spec: &CommandSpec, argv: &[Bytes], groups: &KeyGroups, s: usize) -> Vec<Bytes> {
    let step = split_step(spec);
    let first = groups
        .keys()
        .map(|k| k.pos as usize)
        .min()
        .unwrap_or(argv.len());
    let end = groups
        .keys()
        .map(|k| k.pos as usize + step)
        .max()
        .unwrap_or(argv.len())
        .min(argv.len());
    let mut out = argv[..first].to_vec();
    for k in groups.on(s) {
        let p = k.pos as usize;
        out.extend_from_slice(&argv[p..(p + step).min(argv.len())]);
    }
    out.extend_from_slice(&argv[end..]);
    out
}

/// Runs `spec` (whose keys span shards) for `c`, as its row's [`Multi`] says.
pub async fn run_multi(
    c: &mut Client,
    spec: &'static CommandSpec,
    argv: &[Bytes],
    groups: KeyGroups,
) -> CmdResult {
    let started = std::time::Instant::now();
    let mark = c.out.len();
    let r = run_multi_as(c, spec, argv, groups).await;
    super::stats::ran(spec, started, r.is_err() || c.out.get(mark) == Some(&b'-'));
    r
}

async fn run_multi_as(
    c: &mut Client,
    spec: &'static CommandSpec,
    argv: &[Bytes],
    groups: KeyGroups,
) -> CmdResult {
    match spec.multi {
        Some(Multi::Sum) => split(c, spec, argv, &groups, None, combine_sum).await,
        Some(Multi::Merge) => split(c, spec, argv, &groups, None, combine_merge).await,
        Some(Multi::Same) => split(c, spec, argv, &groups, None, combine_same).await,
        Some(Multi::AllOrNone(check)) => {
            split(c, spec, argv, &groups, Some(check), combine_same).await
        }
        Some(Multi::Gather { extra_db }) => {
            gather(c, spec, argv, &groups, extra_db.and_then(|f| f(argv))).await
        }
        Some(Multi::Custom(f)) => f(c, argv, groups).await,
        None => Err(super::CmdError::CrossSlot),
    }
}

/// How a split command's per-shard replies (with each shard's key positions)
/// become the client's reply.
type Combine = fn(&mut Reply, Vec<(Vec<u32>, Bytes)>);

const UNAVAILABLE: &[u8] = b"-ERR shard unavailable\r\n";

/// Split: lock, (optionally check everywhere,) run each share, release.
async fn split(
    c: &mut Client,
    spec: &'static CommandSpec,
    argv: &[Bytes],
    groups: &KeyGroups,
    check: Option<ShardFn>,
    combine: Combine,
) -> CmdResult {
    let tx = c.tx(groups.lock_parts(c.db, argv)).await;
    let (db, proto) = (c.db, c.proto);
    let shares = |s: usize| share(spec, argv, groups, s);
    if let Some(check) = check {
        let answers = tx
            .run_each(|s| {
                let argv = shares(s);
                move |sh: &Shard| run_fn(sh, check, db, proto, &argv)
            })
            .await;
        let refused = answers
            .into_iter()
            .map(|(_, r)| r.unwrap_or_else(|| Bytes::from_static(UNAVAILABLE)))
            .find(|r| r.as_ref() != b":1\r\n");
        if let Some(r) = refused {
            tx.release().await;
            c.out.extend_from_slice(&r);
            return Ok(());
        }
    }
    let replies = tx
        .finish_each(|s| {
            let argv = shares(s);
            move |sh: &Shard| {
                let mut out = BytesMut::new();
                spec.run(sh, db, proto, &argv, &mut out);
                out.freeze()
            }
        })
        .await;
    let parts = replies
        .into_iter()
        .map(|(s, r)| {
            let positions = groups.on(s).map(|k| k.pos).collect();
            (
                positions,
                r.unwrap_or_else(|| Bytes::from_static(UNAVAILABLE)),
            )
        })
        .collect();
    combine(&mut c.reply(), parts);
    Ok(())
}

/// Runs a shard function (not a table row) on `argv` against this shard.
fn run_fn(sh: &Shard, f: ShardFn, db: u8, proto: Proto, argv: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    {
        let mut store = sh.store.borrow_mut();
        let mut ex = Exec {
            store: &mut store,
            shards: (sh.id, sh.nshards),
            stats: &sh.stats,
            db: db as usize,
            now: crate::shard::script::command_time(),
            reply: Reply::new(&mut out, proto),
        };
        if let Err(e) = f(&mut ex, &mut Args::new(&argv[1..])) {
            ex.reply.error(&e.message());
        }
    }
    out.freeze()
}

/// The first error among the replies, if any.
fn first_error(parts: &[(Vec<u32>, Bytes)]) -> Option<&Bytes> {
    parts
        .iter()
        .map(|(_, r)| r)
        .find(|r| r.first() == Some(&b'-'))
}

fn combine_sum(r: &mut Reply, parts: Vec<(Vec<u32>, Bytes)>) {
    if let Some(e) = first_error(&parts) {
        r.buf.extend_from_slice(e);
        return;
    }
    let sum: i64 = parts
        .iter()
        .filter_map(|(_, b)| crate::protocol::parse_i64(b.get(1..b.len().saturating_sub(2))?))
        .sum();
    r.int(sum);
}

fn combine_same(r: &mut Reply, parts: Vec<(Vec<u32>, Bytes)>) {
    match first_error(&parts).or(parts.first().map(|(_, b)| b)) {
        Some(b) => r.buf.extend_from_slice(b),
        None => r.ok(),
    }
}

/// Puts each shard's array elements back at their keys' places.
fn combine_merge(r: &mut Reply, parts: Vec<(Vec<u32>, Bytes)>) {
    if let Some(e) = first_error(&parts) {
        r.buf.extend_from_slice(e);
        return;
    }
    let mut items: Vec<(u32, Bytes)> = Vec::new();
    for (positions, b) in parts {
        let Some(head) = memchr::memchr(b'\n', &b).map(|i| i + 1) else {
            continue;
        };
        let mut at = head;
        for p in positions {
            let Some(n) = value_len(&b[at..]) else { break };
            items.push((p, b.slice(at..at + n)));
            at += n;
        }
    }
    items.sort_by_key(|(p, _)| *p);
    r.array(items.len());
    for (_, v) in items {
        r.buf.extend_from_slice(&v);
    }
}

/// How a gathered key is copied to the scratch store and written back.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Fetch {
    /// Only read: copied, never written back.
    Read,
    /// Only overwritten (`OW`): a stand-in that keeps its existence and TTL is
    /// copied, not the value (the command may not read it); written back if
    /// the command replaced or removed it.
    Stub,
    /// Read and written: copied whole, written back if it changed.
    Full,
}

/// One key of a gathered command, with its database.
struct Gathered {
    shard: usize,
    db: u8,
    key: Bytes,
    fetch: Fetch,
    original: Option<Entry>,
}

/// The stand-in of an overwrite-only key: an empty list, which no command
/// ever leaves in a database, so "still the stand-in" means untouched.
fn stub(e: &Entry) -> Entry {
    let mut s = Entry::new(Value::List(List::new()));
    s.expire_at = e.expire_at;
    s
}

fn is_stub(e: &Entry) -> bool {
    matches!(&e.value, Value::List(l) if l.is_empty())
}

/// The keys of a gathered command, each (db, key) once, with how it is used.
fn gathered_keys(
    db: u8,
    argv: &[Bytes],
    groups: &KeyGroups,
    extra_db: Option<u8>,
) -> Vec<Gathered> {
    let mut keys: Vec<Gathered> = Vec::new();
    let mut add = |shard: usize, db: u8, key: &Bytes, flags: u16| {
        let fetch = if ks::read_only(flags) {
            Fetch::Read
        } else if flags & (ks::RW | ks::RM) == 0 {
            Fetch::Stub
        } else {
            Fetch::Full
        };
        match keys.iter_mut().find(|g| g.db == db && g.key == *key) {
            Some(g) if g.fetch != fetch => g.fetch = Fetch::Full,
            Some(_) => {}
            None => keys.push(Gathered {
                shard,
                db,
                key: key.clone(),
                fetch,
                original: None,
            }),
        }
    };
    for k in groups.keys() {
        let key = &argv[k.pos as usize];
        add(k.shard as usize, db, key, k.flags);
        if let Some(x) = extra_db
            && !ks::read_only(k.flags)
        {
            add(k.shard as usize, x, key, k.flags);
        }
    }
    keys
}

/// Gather: lock, copy every key into a scratch store, run the command whole
/// there, write back what it changed while releasing.
async fn gather(
    c: &mut Client,
    spec: &'static CommandSpec,
    argv: &[Bytes],
    groups: &KeyGroups,
    extra_db: Option<u8>,
) -> CmdResult {
    let mut keys = gathered_keys(c.db, argv, groups, extra_db);
    let mut parts = Vec::new();
    for g in &keys {
        add_lock(&mut parts, g.shard, g.db, &g.key, g.fetch != Fetch::Read);
    }
    let parts = parts
        .into_iter()
        .map(|(s, v)| (s, LockSet::Keys(v)))
        .collect();
    let tx = c.tx(parts).await;
    let fetched = tx
        .run_each(|s| {
            let want: Vec<(u8, Bytes, Fetch)> = keys
                .iter()
                .filter(|g| g.shard == s)
                .map(|g| (g.db, g.key.clone(), g.fetch))
                .collect();
            move |sh: &Shard| {
                let now = crate::shard::script::command_time();
                let st = sh.store.borrow();
                want.into_iter()
                    .map(|(db, k, copy)| {
                        let e = st.dbs[db as usize].peek(&k, now).map(|e| match copy {
                            Fetch::Stub => stub(e),
                            _ => e.clone(),
                        });
                        (db, k, e)
                    })
                    .collect::<Vec<_>>()
            }
        })
        .await;
    let mut scratch = Store::default();
    for (_, got) in fetched {
        for (db, k, e) in got.unwrap_or_default() {
            if let Some(g) = keys.iter_mut().find(|g| g.db == db && g.key == k) {
                if g.fetch == Fetch::Full {
                    g.original = e.clone();
                }
                if let Some(e) = e {
                    scratch.dbs[db as usize].set_entry(&k, e);
                }
            }
        }
    }
    // Filling the scratch store is not an event.
    let _ = crate::store::notify::take_events();
    let now = crate::shard::script::command_time();
    crate::store::set_clock(now);
    let shard = c.shard.clone();
    let mut ex = Exec {
        store: &mut scratch,
        shards: (shard.id, shard.nshards),
        stats: &shard.stats,
        db: c.db as usize,
        now,
        reply: Reply::new(&mut c.out, c.proto),
    };
    run_in(spec, &mut ex, argv);
    // Its keyspace notifications were raised on this thread; the keys it
    // modified are touched for WATCH on their owners, once written back.
    let modified = crate::store::notify::take_modified().unwrap_or_default();
    shard.after_work();
    let mut touched: Vec<Vec<_>> = vec![Vec::new(); shard.nshards];
    for m in &modified {
        touched[shard.owner(&m.key)].push(m.clone());
    }
    shard.track_modified(modified);
    let touched = RefCell::new(touched);
    // What changed, by shard.
    let mut writes: Vec<(usize, u8, Bytes, Option<Entry>)> = Vec::new();
    for g in &keys {
        let after = scratch.dbs[g.db as usize].peek(&g.key, now);
        let changed = match g.fetch {
            Fetch::Read => false,
            Fetch::Stub => !after.is_some_and(is_stub),
            Fetch::Full => !same_entry(after, g.original.as_ref()),
        };
        if changed {
            writes.push((g.shard, g.db, g.key.clone(), after.cloned()));
        }
    }
    crate::shard::journal::command_ran_in(tx.id, c.db as usize, argv, !writes.is_empty());
    let writes = RefCell::new(writes);
    tx.finish_each(|s| {
        let mut all = writes.borrow_mut();
        let (mine, rest): (Vec<_>, Vec<_>) = all.drain(..).partition(|w| w.0 == s);
        *all = rest;
        let touched = std::mem::take(&mut touched.borrow_mut()[s]);
        move |sh: &Shard| {
            {
                let mut st = sh.store.borrow_mut();
                for (_, db, key, e) in mine {
                    let d = &mut st.dbs[db as usize];
                    match e {
                        Some(e) => d.set_entry(&key, e),
                        None => {
                            d.remove(&key);
                        }
                    }
                }
            }
            sh.touch_watched(&touched);
        }
    })
    .await;
    Ok(())
}

fn same_entry(a: Option<&Entry>, b: Option<&Entry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.expire_at == b.expire_at && a.is_raw() == b.is_raw() && a.value == b.value
        }
        _ => false,
    }
}

/// Stores `value` at `dest` (deleting it for `None`, dropping any TTL, as Redis's
/// *STORE commands do) and releases the transaction in the same hop.
/// `owner` is `dest`'s shard, as routing found it; `event` the keyspace
/// notification a stored value raises (an emptied `dest` raises `del`).
pub async fn store_and_release(
    c: &Client,
    tx: Tx,
    (dest, owner): (&Bytes, usize),
    value: Option<Value>,
    event: (u32, &'static str),
) {
    let db = c.db as usize;
    let cell = RefCell::new(value);
    tx.finish_each(|s| {
        let v = if s == owner {
            cell.borrow_mut().take()
        } else {
            None
        };
        let key = dest.clone();
        let write = s == owner;
        move |sh: &Shard| {
            if !write {
                return;
            }
            let mut st = sh.store.borrow_mut();
            let d = &mut st.dbs[db];
            match v {
                Some(v) => {
                    d.set(&key, v);
                    notify(db, event.0, event.1, &key);
                }
                None => {
                    if d.remove(&key).is_some() {
                        notify(db, ev::GENERIC, "del", &key);
                    }
                }
            }
        }
    })
    .await;
}

/// Runs `f` on every shard (no locks) and collects the results in shard order.
pub async fn on_all_shards<R: Send + 'static>(
    shard: &Shard,
    f: impl Fn(&Shard) -> R + Clone + Send + 'static,
) -> Vec<R> {
    let futs = (0..shard.nshards).map(|s| {
        let f = f.clone();
        shard.run_on(s, LockSet::Keys(vec![]), move |sh| f(sh))
    });
    futures::future::join_all(futs)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Runs `f` on every shard while holding every shard exclusively: the whole-server
/// commands (FLUSHALL, FLUSHDB, SWAPDB) are atomic across shards, and
/// journaled once as `argv`.
pub async fn with_all_locked(
    c: &Client,
    argv: &[Bytes],
    f: impl Fn(&Shard) + Clone + Send + 'static,
) {
    let parts = (0..c.shard.nshards).map(|s| (s, LockSet::Global)).collect();
    let tx = c.tx(parts).await;
    tx.journal(c.db, argv);
    tx.finish_each(|_| {
        let f = f.clone();
        move |sh: &Shard| f(sh)
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    fn parts(v: &[(&[u32], &str)]) -> Vec<(Vec<u32>, Bytes)> {
        v.iter().map(|(p, r)| (p.to_vec(), b(r))).collect()
    }

    fn combined(f: Combine, v: &[(&[u32], &str)]) -> String {
        let mut out = BytesMut::new();
        f(&mut Reply::new(&mut out, Proto::Resp2), parts(v));
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn combines() {
        assert_eq!(
            combined(combine_sum, &[(&[1], ":2\r\n"), (&[2, 3], ":3\r\n")]),
            ":5\r\n"
        );
        assert_eq!(
            combined(combine_sum, &[(&[1], ":2\r\n"), (&[2], "-ERR x\r\n")]),
            "-ERR x\r\n"
        );
        assert_eq!(
            combined(
                combine_merge,
                &[
                    (&[1, 3], "*2\r\n$1\r\na\r\n$-1\r\n"),
                    (&[2], "*1\r\n$1\r\nb\r\n")
                ]
            ),
            "*3\r\n$1\r\na\r\n$1\r\nb\r\n$-1\r\n"
        );
        assert_eq!(
            combined(combine_same, &[(&[1], "+OK\r\n"), (&[3], "+OK\r\n")]),
            "+OK\r\n"
        );
    }

    #[test]
    fn gathered_key_modes() {
        let argv = [b("x"), b("d"), b("a"), b("d")];
        let mut g = KeyGroups::default();
        g.push(1, 0, ks::OW | ks::UPDATE);
        g.push(2, 1, ks::RO | ks::ACCESS);
        g.push(3, 0, ks::RO | ks::ACCESS);
        let keys = gathered_keys(0, &argv, &g, None);
        let modes: Vec<(&[u8], Fetch)> = keys.iter().map(|k| (&k.key[..], k.fetch)).collect();
        // `d` is both overwritten and read: copied whole.
        assert_eq!(modes, [(&b"d"[..], Fetch::Full), (&b"a"[..], Fetch::Read)]);
        let mut g = KeyGroups::default();
        g.push(1, 0, ks::OW | ks::UPDATE);
        g.push(2, 1, ks::RO | ks::ACCESS);
        // COPY ... DB 3: the overwritten key is also looked at in db 3.
        let with_db = gathered_keys(0, &argv, &g, Some(3));
        assert_eq!(with_db.len(), 3);
        assert!(with_db.iter().any(|k| k.db == 3 && k.fetch == Fetch::Stub));
    }
}
