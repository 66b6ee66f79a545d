//! Multi-shard transactions: how a command whose keys live on several shards stays
//! atomic and isolated.
//!
//! The connection that runs the command coordinates it:
//! 1. **Lock hop.** It takes a transaction id and asks every involved shard, in
//!    parallel, to lock that shard's keys (shared for reads, exclusive for writes)
//!    without waiting. If every shard grants, the transaction holds all its keys.
//!    If any refuses, the granted locks are dropped and the shards are asked again
//!    one at a time in ascending shard order, each queueing the request until the
//!    keys are free. Acquiring in one global order cannot deadlock.
//! 2. **Execution hops.** Closures run on the owners' threads with the keys held;
//!    nothing else touching those keys runs in between on any shard.
//! 3. **Release.** The last hop drops the locks (often together with the final
//!    execution step) and lets queued work on those keys proceed, in arrival order.
//!
//! Single-shard commands never come here: they run on their owner at once, or wait
//! in the owner's queue only while one of their keys is locked.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use super::locks::LockSet;
use super::{AnyBox, Req, Shard, TxOut, Work};

pub struct Tx {
    shard: Rc<Shard>,
    pub id: u64,
    shards: Vec<usize>,
    released: bool,
    /// Runs inside an enclosing transaction (a command inside EXEC) that already
    /// holds every lock it needs: no locking, and no releasing, here.
    nested: bool,
    /// The client it runs for (NOLOOP tracking sees its writes as its own).
    caller: u64,
}

impl Tx {
    /// Starts the transaction a command needs: a new one, or, inside an
    /// enclosing transaction (EXEC) that holds every lock already, a view of it
    /// (locking again would wait on itself).
    pub async fn begin(
        shard: &Rc<Shard>,
        enclosing: Option<u64>,
        parts: Vec<(usize, LockSet)>,
        caller: u64,
    ) -> Tx {
        match enclosing {
            Some(id) => Tx {
                shard: shard.clone(),
                id,
                shards: {
                    let mut v: Vec<usize> = parts.iter().map(|p| p.0).collect();
                    v.sort_unstable();
                    v
                },
                released: true,
                nested: true,
                caller,
            },
            None => Tx::lock(shard, parts, caller).await,
        }
    }

    /// Locks `parts` (shard, keys) for a new transaction and returns once all are held.
    pub async fn lock(shard: &Rc<Shard>, mut parts: Vec<(usize, LockSet)>, caller: u64) -> Tx {
        parts.sort_by_key(|p| p.0);
        let id = shard.globals.next_txid.fetch_add(1, Ordering::Relaxed);
        super::Stats::add(&shard.stats.txs, 1);
        let mut tx = Tx {
            shard: shard.clone(),
            id,
            shards: parts.iter().map(|p| p.0).collect(),
            released: false,
            nested: false,
            caller,
        };
        let tries = futures::future::join_all(parts.iter().map(|(s, set)| {
            shard.call_as::<bool>(
                *s,
                Req::Lock {
                    tx: id,
                    set: set.clone(),
                    wait: false,
                },
            )
        }))
        .await;
        if tries.iter().all(|t| *t == Some(true)) {
            super::journal::reserve(id);
            return tx;
        }
        // Contended: give back what was granted, then queue shard by shard in order.
        let granted: Vec<usize> = parts
            .iter()
            .zip(&tries)
            .filter(|(_, t)| **t == Some(true))
            .map(|(p, _)| p.0)
            .collect();
        futures::future::join_all(
            granted
                .iter()
                .map(|s| shard.call(*s, Req::Release { tx: id })),
        )
        .await;
        for (s, set) in parts {
            let _ = shard
                .call_as::<bool>(
                    s,
                    Req::Lock {
                        tx: id,
                        set,
                        wait: true,
                    },
                )
                .await;
        }
        tx.released = false;
        super::journal::reserve(id);
        tx
    }

    /// Runs `f` on shard `s` inside the transaction.
    pub async fn run<R: Send + 'static>(
        &self,
        s: usize,
        f: impl FnOnce(&Shard) -> R + Send + 'static,
    ) -> Option<R> {
        self.call(s, f, false).await
    }

    /// Runs `f` on every shard of the transaction at once; results paired with
    /// their shard, in ascending shard order.
    pub async fn run_each<R: Send + 'static, F>(
        &self,
        make: impl Fn(usize) -> F,
    ) -> Vec<(usize, Option<R>)>
    where
        F: FnOnce(&Shard) -> R + Send + 'static,
    {
        let r =
            futures::future::join_all(self.shards.iter().map(|&s| self.call(s, make(s), false)))
                .await;
        self.shards.iter().copied().zip(r).collect()
    }

    /// Runs `f` on every shard and releases the locks in the same hop; results
    /// paired with their shard, in ascending shard order.
    pub async fn finish_each<R: Send + 'static, F>(
        mut self,
        make: impl Fn(usize) -> F,
    ) -> Vec<(usize, Option<R>)>
    where
        F: FnOnce(&Shard) -> R + Send + 'static,
    {
        self.released = true;
        let r = futures::future::join_all(self.shards.iter().map(|&s| self.call(s, make(s), true)))
            .await;
        if !self.nested {
            super::journal::close(self.id);
        }
        self.shards.iter().copied().zip(r).collect()
    }

    async fn call<R: Send + 'static>(
        &self,
        s: usize,
        f: impl FnOnce(&Shard) -> R + Send + 'static,
        release: bool,
    ) -> Option<R> {
        let work: Work = Box::new(move |sh| Box::new(f(sh)) as AnyBox);
        let out: TxOut = self
            .shard
            .call_as(
                s,
                Req::TxCall {
                    tx: self.id,
                    work,
                    release: release && !self.nested,
                    caller: self.caller,
                },
            )
            .await?;
        if let Some(events) = out.events {
            self.shard.publish_events(events);
        }
        if out.held {
            self.shard.call(s, Req::Release { tx: self.id }).await;
        }
        out.value.downcast::<R>().ok().map(|b| *b)
    }

    /// Journals `argv` (run in database `db`) at this transaction's place:
    /// for a command its coordinator carried out step by step.
    pub fn journal(&self, db: u8, argv: &[bytes::Bytes]) {
        super::journal::command_ran_in(self.id, db as usize, argv, true);
    }

    /// The shards this transaction holds locks on, ascending.
    pub fn shards(&self) -> &[usize] {
        &self.shards
    }

    /// Drops the locks on every shard.
    pub async fn release(mut self) {
        if self.nested {
            return;
        }
        self.released = true;
        let id = self.id;
        futures::future::join_all(
            self.shards
                .iter()
                .map(|&s| self.shard.call(s, Req::Release { tx: id })),
        )
        .await;
        super::journal::close(id);
    }
}

impl Drop for Tx {
    /// A transaction abandoned halfway (its coordinator's future dropped) must not
    /// keep its keys locked forever.
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let shard = self.shard.clone();
        let id = self.id;
        super::journal::close(id);
        // Dropped because the executor is going away (SHUTDOWN NOSAVE in
        // the middle of a script): there is nothing left to release, and
        // no executor to spawn on.
        if shard.globals.shutting_down() {
            return;
        }
        let shards = std::mem::take(&mut self.shards);
        glommio::spawn_local(async move {
            for s in shards {
                shard.call(s, Req::Release { tx: id }).await;
            }
        })
        .detach();
    }
}
