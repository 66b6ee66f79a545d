//! Coordinators shared by multi-key commands whose keys span shards (SUNIONSTORE,
//! ZINTER, SMOVE...): read the source values under one transaction, compute on
//! the coordinator with the same code the single-shard handler runs, then write
//! the destination in the hop that releases the locks.

use std::cell::RefCell;

use bytes::Bytes;

use super::string::{keys_by_shard, lock_parts};
use crate::server::conn::Client;
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
    let tx = Tx::begin(c, parts).await;
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
