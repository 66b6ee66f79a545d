//! Blocked clients (BLPOP, BLMOVE, BZPOPMIN...): who waits on which key, and how a
//! waiter learns that a key it waits on was filled.
//!
//! A blocked client is a *waiter* with a global id, owned by its connection's
//! shard (the *home*). The shards that own its keys keep, per key, a FIFO of
//! `(home, id)`: the longest-waiting client first. Only the home ever pops for
//! its waiter, and only from the connection's own task, so a value can never be
//! served twice or to a client that has just timed out or gone away:
//!
//! 1. The first attempt runs with the keys locked; if every key is empty the
//!    waiter is registered on the keys' shards in the same locked step, so no
//!    push can slip between the check and the registration.
//! 2. When a command creates a key that has waiters (`Db::created`), the owner
//!    shard wakes the **head** of that key's queue once the command is done.
//! 3. The woken home retries under the locks. On success it unregisters the
//!    waiter in the same step; unregistering re-announces a key that still holds
//!    data, which wakes the next waiter in line. On failure (another client took
//!    the data first) it stays registered, in place.
//! 4. Timeout or disconnect: the home unregisters the waiter; nothing was popped
//!    for it, since only its own task pops.

use std::cell::Cell;
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::Bytes;

use super::{ClientInfo, Req, Shard};
use crate::store::{Store, now_ms};

/// A waiter's wake-up flag on its home shard.
#[derive(Default)]
pub struct WaitSlot {
    woken: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl WaitSlot {
    pub fn wake(&self) {
        self.woken.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Resolves once [`wake`](Self::wake) was called (at once if it already was),
    /// clearing the flag.
    pub async fn woken(&self) {
        std::future::poll_fn(|cx| {
            if self.woken.replace(false) {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// Adds waiter `(home, id)` at the back of the queues of `keys` (this shard's).
pub fn register(st: &mut Store, db: usize, keys: &[Bytes], home: usize, id: u64) {
    let d = &mut st.dbs[db];
    for k in keys {
        let q = &mut d.blocked.entry(k[..].into()).or_default().queue;
        if !q.iter().any(|&(_, w)| w == id) {
            q.push_back((home, id));
        }
    }
}

/// Removes waiter `id` from `keys`. A key that still holds data and has other
/// waiters is marked ready again, so the next in line is woken.
pub fn unregister(st: &mut Store, db: usize, keys: &[Bytes], id: u64) {
    let now = now_ms();
    let d = &mut st.dbs[db];
    for k in keys {
        let Some(w) = d.blocked.get_mut(&k[..]) else {
            continue;
        };
        let was_head = w.queue.front().is_some_and(|&(_, x)| x == id);
        w.queue.retain(|&(_, x)| x != id);
        if w.queue.is_empty() {
            d.blocked.remove(&k[..]);
        } else if was_head && d.peek(k, now).is_some() {
            d.ready.push(k[..].into());
            crate::store::mark_ready_pending();
        }
    }
}

impl Shard {
    /// Wakes the head waiter of every key that commands just created (called
    /// after each piece of work that may have written).
    #[inline]
    pub fn after_work(&self) {
        if crate::store::take_ready_pending() {
            self.announce_ready();
        }
        // Inside transaction work the coordinator publishes them, in order
        // with the events of the transaction's other shards.
        if !crate::store::notify::events_deferred()
            && let Some(events) = crate::store::notify::take_events()
        {
            self.publish_events(events);
        }
        if let Some(keys) = crate::store::notify::take_modified() {
            self.touch_watched(&keys);
            self.track_modified(keys);
        }
    }

    /// Modified keys, for the tracking clients that read them (if any client
    /// tracks).
    pub fn track_modified(&self, keys: Vec<crate::store::notify::Modified>) {
        if crate::store::notify::tracking() {
            self.invalidate(keys.into_iter().map(|m| (m.key, m.by)).collect());
        }
    }

    fn announce_ready(&self) {
        let now = now_ms();
        let mut wakes: Vec<(usize, u64)> = Vec::new();
        {
            let mut st = self.store.borrow_mut();
            for d in st.dbs.iter_mut() {
                if d.ready.is_empty() {
                    continue;
                }
                for key in std::mem::take(&mut d.ready) {
                    if d.peek(&key, now).is_none() {
                        continue;
                    }
                    if let Some(&head) = d.blocked.get(&key).and_then(|w| w.queue.front())
                        && !wakes.contains(&head)
                    {
                        wakes.push(head);
                    }
                }
            }
        }
        for (home, id) in wakes {
            if home == self.id {
                self.wake_local(id);
            } else if let Some(me) = self.me.upgrade() {
                glommio::spawn_local(async move {
                    me.call(home, Req::Wake { id }).await;
                })
                .detach();
            }
        }
    }

    /// Wakes waiter `id` if it still waits here (it may have timed out).
    pub fn wake_local(&self, id: u64) {
        let slot = self.waits.borrow().get(&id).cloned();
        if let Some(s) = slot {
            s.wake();
        }
    }

    /// A new waiter on this (home) shard.
    pub fn new_waiter(&self) -> (u64, Rc<WaitSlot>) {
        let id = self
            .globals
            .next_txid
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let slot = Rc::new(WaitSlot::default());
        self.waits.borrow_mut().insert(id, slot.clone());
        (id, slot)
    }

    pub fn drop_waiter(&self, id: u64) {
        self.waits.borrow_mut().remove(&id);
    }

    /// Clients of this shard blocked right now (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.blocked.get()
    }

    /// Counts `info`'s client as blocked until the guard is dropped. Taken once
    /// the waiter is registered on every key's shard (the first attempt has
    /// returned), as Redis counts a client blocked only once it is in line: a
    /// client seen blocked can no longer be overtaken by a later one.
    pub fn block(self: &Rc<Self>, info: &Rc<ClientInfo>) -> Blocked {
        info.blocked.set(true);
        self.blocked.set(self.blocked.get() + 1);
        Blocked {
            shard: self.clone(),
            info: info.clone(),
        }
    }
}

/// A client counted as blocked; see [`Shard::block`]. Dropping it (served,
/// timed out, gone, or the connection's task dropped) uncounts it.
pub struct Blocked {
    shard: Rc<Shard>,
    info: Rc<ClientInfo>,
}

impl Drop for Blocked {
    fn drop(&mut self) {
        self.info.blocked.set(false);
        let n = &self.shard.blocked;
        n.set(n.get().saturating_sub(1));
    }
}
