//! Coordination of commands whose keys span shards (SUNIONSTORE, ZINTER,
//! SMOVE...): group keys by owner, lock them under one transaction, read the
//! source values, compute on the coordinator with the same code the
//! single-shard handler runs, then write the destination in the hop that
//! releases the locks. Also the whole-keyspace helpers (every shard, locked or
//! not).

use std::cell::RefCell;

use bytes::Bytes;

use super::client::Client;
use crate::shard::Shard;
use crate::shard::locks::{LockKey, LockSet};
use crate::shard::tx::Tx;
use crate::store::{Value, now_ms};

/// Locks the keys at `sources` (shared) and `dest` (exclusive) and reads the
/// sources' values (`None` for missing keys), in `sources` order. The caller
/// finishes the transaction with [`finish_store`] or [`Tx::release`].
pub async fn gather(
    c: &Client,
    argv: &[Bytes],
    sources: &[usize],
    dest: Option<usize>,
) -> (Tx, Vec<Option<Value>>) {
    let groups = keys_by_shard(c, argv, sources.iter().copied());
    let mut parts = lock_parts(c.db, argv, &groups, false);
    if let Some(d) = dest {
        let owner = c.shard.owner(&argv[d]);
        let key = (
            LockKey {
                db: c.db,
                key: argv[d].clone(),
            },
            true,
        );
        match parts.iter_mut().find(|(s, _)| *s == owner) {
            Some((_, LockSet::Keys(keys))) => {
                keys.retain(|(k, _)| k.key != argv[d]);
                keys.push(key);
            }
            _ => parts.push((owner, LockSet::Keys(vec![key]))),
        }
    }
    let tx = c.tx(parts).await;
    let db = c.db as usize;
    let fetched = tx
        .run_each(|s| {
            let keys: Vec<(usize, Bytes)> = groups
                .iter()
                .find(|(x, _)| *x == s)
                .map(|(_, idx)| idx.iter().map(|&i| (i, argv[i].clone())).collect())
                .unwrap_or_default();
            move |sh: &Shard| {
                let now = now_ms();
                let st = sh.store.borrow();
                keys.into_iter()
                    .map(|(i, k)| (i, st.dbs[db].peek(&k, now).map(|e| e.value.clone())))
                    .collect::<Vec<_>>()
            }
        })
        .await;
    let mut by_pos: Vec<(usize, Option<Value>)> = fetched
        .into_iter()
        .flat_map(|(_, v)| v.unwrap_or_default())
        .collect();
    let values = sources
        .iter()
        .map(|p| {
            by_pos
                .iter_mut()
                .find(|(i, _)| i == p)
                .and_then(|(_, v)| v.clone())
        })
        .collect();
    (tx, values)
}

/// Stores `value` at `dest` (deleting it for `None`, dropping any TTL, as Redis's
/// *STORE commands do) and releases the transaction in the same hop.
pub async fn finish_store(c: &Client, tx: Tx, dest: &Bytes, value: Option<Value>) {
    let owner = c.shard.owner(dest);
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
                Some(v) => d.set(&key, v),
                None => {
                    d.remove(&key);
                }
            }
        }
    })
    .await;
}

/// Groups key positions (into `argv`) by owner shard.
pub fn keys_by_shard(
    c: &Client,
    argv: &[Bytes],
    positions: impl Iterator<Item = usize>,
) -> Vec<(usize, Vec<usize>)> {
    let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in positions {
        let s = c.shard.owner(&argv[i]);
        match out.iter_mut().find(|(x, _)| *x == s) {
            Some((_, v)) => v.push(i),
            None => out.push((s, vec![i])),
        }
    }
    out
}

/// Lock sets for the given groups.
pub fn lock_parts(
    db: u8,
    argv: &[Bytes],
    groups: &[(usize, Vec<usize>)],
    exclusive: bool,
) -> Vec<(usize, LockSet)> {
    groups
        .iter()
        .map(|(s, idx)| {
            let keys = idx
                .iter()
                .map(|&i| {
                    (
                        LockKey {
                            db,
                            key: argv[i].clone(),
                        },
                        exclusive,
                    )
                })
                .collect();
            (*s, LockSet::Keys(keys))
        })
        .collect()
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
/// commands (FLUSHALL, FLUSHDB, SWAPDB) are atomic across shards.
pub async fn with_all_locked(c: &Client, f: impl Fn(&Shard) + Clone + Send + 'static) {
    let parts = (0..c.shard.nshards).map(|s| (s, LockSet::Global)).collect();
    let tx = c.tx(parts).await;
    tx.finish_each(|_| {
        let f = f.clone();
        move |sh: &Shard| f(sh)
    })
    .await;
}
