//! Client-side caching (CLIENT TRACKING): who may hold a cached copy of which
//! key, and the invalidation messages when it changes.
//!
//! - Default mode: the shard that owns a key keeps its readers (`tracked`:
//!   key → (home shard, client id)); a reader is recorded before its read runs,
//!   so a write in between costs at most a spurious invalidation.
//! - BCAST mode: prefixes in `Globals::bcast`; every modified key is matched
//!   and, inside a transaction, held until it ends (Redis sends them in
//!   `beforeSleep`), so one message per prefix carries a whole EXEC's keys.
//! - Every write raises a keyspace notification (`store::notify`), which while
//!   some client tracks also notes the key as modified; after the work the
//!   shard sends the owner's readers an invalidation, through its home shard,
//!   which applies NOLOOP and REDIRECT and writes the frame.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use super::pubsub::Outgoing;
use super::{ClientInfo, Shard};

pub const ON: u8 = 1 << 0;
pub const BCAST: u8 = 1 << 1;
pub const OPTIN: u8 = 1 << 2;
pub const OPTOUT: u8 = 1 << 3;
pub const NOLOOP: u8 = 1 << 4;
/// CLIENT CACHING yes (OPTIN) or no (OPTOUT), for the next command.
pub const CACHING: u8 = 1 << 5;
pub const BROKEN_REDIRECT: u8 = 1 << 6;

/// A connection's tracking settings.
#[derive(Default)]
pub struct TrackState {
    pub flags: Cell<u8>,
    /// REDIRECT: (shard, client id) of the client that gets the messages.
    pub redirect: Cell<Option<(usize, u64)>>,
    pub prefixes: RefCell<Vec<Bytes>>,
}

/// One invalidation for client `id` of the receiving shard: `key` (`None`:
/// everything, after a flush), modified by client `by` (0: unknown).
#[derive(Debug, Clone)]
pub struct Inval {
    pub id: u64,
    pub key: Option<Bytes>,
    pub by: u64,
    /// Already redirected: write it to `id` as it is.
    pub redirected: bool,
    /// From a BCAST prefix (else from the readers' table, which a client now
    /// in BCAST mode ignores, as Redis does).
    pub bcast: bool,
    /// BCAST: invalidations of one recipient with the same non-zero group
    /// (one prefix of one flush) travel as one message.
    pub group: u32,
    /// Redirected: the (shard, id) of the tracking client it is for, told
    /// if the target has gone.
    pub origin: (usize, u64),
}

impl Inval {
    /// An invalidation raised on the key's shard (not yet redirected).
    fn new(id: u64, key: Option<Bytes>, by: u64, bcast: bool, group: u32) -> Inval {
        Inval {
            id,
            key,
            by,
            redirected: false,
            bcast,
            group,
            origin: (0, 0),
        }
    }
}

/// BCAST keys matched by one client's prefix, waiting for the flush.
pub struct BcastPending {
    prefix: Bytes,
    home: usize,
    id: u64,
    keys: Vec<(Bytes, u64)>,
}

/// A client that gets invalidations, and whether as a redirect target.
type Recipient = (u64, bool);

/// `tracking-table-max-keys` (0: no limit).
static MAX_KEYS: AtomicUsize = AtomicUsize::new(1_000_000);

pub fn set_max_keys(n: u64) {
    MAX_KEYS.store(usize::try_from(n).unwrap_or(usize::MAX), Ordering::Relaxed);
}

/// The readers' table of one shard, with its counts kept for INFO and for
/// `tracking-table-max-keys` (whose key count is over all shards).
#[derive(Default)]
pub struct Tracked {
    map: std::collections::HashMap<Bytes, Vec<(usize, u64)>>,
    /// Readers over all keys (INFO `tracking_total_items`).
    items: usize,
    /// Keys evicted per round while over the limit (Redis's growing effort).
    rounds_over: u32,
}

impl Tracked {
    pub fn keys(&self) -> usize {
        self.map.len()
    }

    pub fn items(&self) -> usize {
        self.items
    }

    fn remove(&mut self, key: &[u8], total: &AtomicUsize) -> Option<Vec<(usize, u64)>> {
        let readers = self.map.remove(key)?;
        self.items -= readers.len();
        total.fetch_sub(1, Ordering::Relaxed);
        Some(readers)
    }
}

impl Shard {
    /// Records that client `id` of shard `home` read `key` (a key of this shard).
    pub fn track_read(&self, key: &[u8], home: usize, id: u64) {
        let mut guard = self.tracked.borrow_mut();
        let t = &mut *guard;
        let readers = match t.map.get_mut(key) {
            Some(r) => r,
            None => {
                self.globals.tracking_keys.fetch_add(1, Ordering::Relaxed);
                t.map.entry(Bytes::copy_from_slice(key)).or_default()
            }
        };
        if !readers.contains(&(home, id)) {
            readers.push((home, id));
            t.items += 1;
        }
        let max = MAX_KEYS.load(Ordering::Relaxed);
        if max != 0 && self.globals.tracking_keys.load(Ordering::Relaxed) > max {
            drop(guard);
            self.limit_tracked();
        }
    }

    /// Whether the readers' table is over `tracking-table-max-keys`.
    pub fn tracking_over_limit(&self) -> bool {
        let max = MAX_KEYS.load(Ordering::Relaxed);
        max != 0 && self.globals.tracking_keys.load(Ordering::Relaxed) > max
    }

    /// As Redis before every command: bring the table back within the limit
    /// (a lowered limit or keys read inside MULTI), on every shard that holds
    /// part of it. Each shard sends its invalidations before it answers, so
    /// they reach the client before the command's reply.
    pub async fn limit_tracked_everywhere(&self) {
        for s in 0..self.nshards {
            if !self.tracking_over_limit() {
                break;
            }
            if s == self.id {
                self.limit_tracked();
            } else {
                self.run_now(s, |sh| sh.limit_tracked()).await;
            }
        }
    }

    /// Keeps the readers' table within `tracking-table-max-keys` (summed over
    /// shards), as Redis's `trackingLimitUsedSlots`: evicted keys are
    /// invalidated as if written, 100 more per round while still over.
    pub fn limit_tracked(&self) {
        let max = MAX_KEYS.load(Ordering::Relaxed);
        let total = &self.globals.tracking_keys;
        let mut t = self.tracked.borrow_mut();
        if max == 0 || total.load(Ordering::Relaxed) <= max || t.map.is_empty() {
            t.rounds_over = 0;
            return;
        }
        let effort = 100 * (t.rounds_over as usize + 1);
        let mut victims = Vec::new();
        for key in t.map.keys().take(effort) {
            // Claim one key of the excess at a time, so shards evicting at
            // once never take the table below the limit.
            if total
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n > max).then(|| n - 1)
                })
                .is_err()
            {
                break;
            }
            victims.push(key.clone());
        }
        let mut to: Vec<Vec<Inval>> = vec![Vec::new(); self.nshards];
        for key in victims {
            let Some(readers) = t.map.remove(&key) else {
                continue;
            };
            t.items -= readers.len();
            for (home, id) in readers {
                to[home].push(Inval::new(id, Some(key.clone()), 0, false, 0));
            }
        }
        t.rounds_over = if total.load(Ordering::Relaxed) > max {
            t.rounds_over + 1
        } else {
            0
        };
        drop(t);
        self.send_invals(to);
    }

    /// Keys modified by this shard's last work: BCAST prefixes are matched
    /// here, the readers' table on each key's owner.
    pub fn invalidate(&self, keys: Vec<(Bytes, u64)>) {
        {
            let bcast = self.globals.bcast.read().unwrap_or_else(|p| p.into_inner());
            let mut pending = self.bcast_pending.borrow_mut();
            let was_empty = pending.is_empty();
            for (key, by) in &keys {
                for (prefix, home, id) in bcast.iter() {
                    if !key.starts_with(prefix) {
                        continue;
                    }
                    let at = match pending
                        .iter()
                        .position(|p| p.id == *id && p.home == *home && p.prefix == *prefix)
                    {
                        Some(at) => at,
                        None => {
                            pending.push(BcastPending {
                                prefix: prefix.clone(),
                                home: *home,
                                id: *id,
                                keys: Vec::new(),
                            });
                            pending.len() - 1
                        }
                    };
                    let keys = &mut pending[at].keys;
                    if !keys.iter().any(|(k, b)| k == key && b == by) {
                        keys.push((key.clone(), *by));
                    }
                }
            }
            if pending.is_empty() {
            } else if self.locks.borrow().idle() {
                // Not inside a transaction: out before the command's reply.
                drop(pending);
                drop(bcast);
                self.flush_bcast();
            } else if was_empty && let Some(me) = self.me.upgrade() {
                glommio::spawn_local(async move {
                    // After the transaction (EXEC) that holds this shard, so
                    // its keys go in one message, within a bound.
                    super::yield_now().await;
                    for _ in 0..100 {
                        if me.locks.borrow().idle() {
                            break;
                        }
                        glommio::timer::sleep(std::time::Duration::from_micros(100)).await;
                    }
                    me.flush_bcast();
                })
                .detach();
            }
        }
        let mut by_owner: Vec<Vec<(Bytes, u64)>> = vec![Vec::new(); self.nshards];
        for (key, by) in keys {
            by_owner[self.owner(&key)].push((key, by));
        }
        for (owner, keys) in by_owner.into_iter().enumerate() {
            if keys.is_empty() {
                continue;
            }
            if owner == self.id {
                self.invalidate_owned(keys);
            } else {
                self.send_to(owner, Outgoing::Modified(keys));
            }
        }
    }

    /// Sends the held BCAST keys: per client and prefix one message, in
    /// Redis's order (prefixes, then client ids, then keys, sorted).
    fn flush_bcast(&self) {
        let mut pending = std::mem::take(&mut *self.bcast_pending.borrow_mut());
        pending.sort_unstable_by(|a, b| (&a.prefix, a.id).cmp(&(&b.prefix, b.id)));
        for p in &mut pending {
            p.keys.sort();
        }
        let mut to: Vec<Vec<Inval>> = vec![Vec::new(); self.nshards];
        for (group, p) in pending.into_iter().enumerate() {
            for (key, by) in p.keys {
                to[p.home].push(Inval::new(p.id, Some(key), by, true, group as u32 + 1));
            }
        }
        self.send_invals(to);
    }

    /// Modified keys this shard owns: their readers get an invalidation and
    /// are forgotten (they must read again to be told again).
    pub fn invalidate_owned(&self, keys: Vec<(Bytes, u64)>) {
        let mut to: Vec<Vec<Inval>> = vec![Vec::new(); self.nshards];
        {
            let mut t = self.tracked.borrow_mut();
            if t.map.is_empty() {
                return;
            }
            for (key, by) in keys {
                let readers = t.remove(&key, &self.globals.tracking_keys);
                for (home, id) in readers.unwrap_or_default() {
                    to[home].push(Inval::new(id, Some(key.clone()), by, false, 0));
                }
            }
        }
        self.send_invals(to);
    }

    /// FLUSHDB/FLUSHALL: this shard forgets its readers, and each of its
    /// tracking clients is told to drop everything.
    pub fn invalidate_all(&self) {
        {
            let mut t = self.tracked.borrow_mut();
            let n = t.map.len();
            t.map.clear();
            t.items = 0;
            self.globals.tracking_keys.fetch_sub(n, Ordering::Relaxed);
        }
        let ids: Vec<u64> = self
            .clients
            .borrow()
            .values()
            .filter(|ci| ci.tracking.flags.get() & ON != 0)
            .map(|ci| ci.id)
            .collect();
        let invs = ids
            .into_iter()
            .map(|id| Inval::new(id, None, 0, true, 0))
            .collect();
        self.deliver_invalidations(invs);
    }

    fn send_invals(&self, to: Vec<Vec<Inval>>) {
        for (home, invs) in to.into_iter().enumerate() {
            if invs.is_empty() {
            } else if home == self.id {
                self.deliver_invalidations(invs);
            } else {
                self.send_to(home, Outgoing::Invalidations(invs));
            }
        }
    }

    /// Invalidations for clients of this shard: NOLOOP and REDIRECT applied,
    /// each recipient's keys in one message, as Redis sends a command's (a
    /// redirect target on another shard gets them there).
    pub fn deliver_invalidations(&self, invs: Vec<Inval>) {
        let mut forward: Vec<Vec<Inval>> = vec![Vec::new(); self.nshards];
        let mut broken: Vec<Vec<(u64, u64)>> = vec![Vec::new(); self.nshards];
        // (recipient, redirected, group) -> keys; `None` is a flush. As in
        // Redis, a BCAST client gets one message per prefix, a default-mode
        // one a message per key.
        let mut out: Vec<(Recipient, u32, Vec<Option<Bytes>>)> = Vec::new();
        let mut add = |to: (u64, bool), key: Option<Bytes>, group: u32| match out
            .iter_mut()
            .rfind(|(t, g, _)| *t == to && *g == group)
        {
            Some((_, _, keys)) if group != 0 => {
                if !keys.contains(&key) {
                    keys.push(key)
                }
            }
            _ => out.push((to, group, vec![key])),
        };
        {
            let clients = self.clients.borrow();
            for inv in invs {
                let Some(ci) = clients.get(&inv.id) else {
                    if inv.redirected {
                        broken[inv.origin.0].push((inv.origin.1, inv.id));
                    }
                    continue;
                };
                if inv.redirected {
                    add((ci.id, true), inv.key, inv.group);
                    continue;
                }
                let group = inv.group;
                let flags = ci.tracking.flags.get();
                if flags & ON == 0
                    || (flags & NOLOOP != 0 && inv.by == ci.id)
                    || (flags & BCAST != 0 && !inv.bcast)
                {
                    continue;
                }
                match ci.tracking.redirect.get() {
                    None => add((ci.id, false), inv.key, group),
                    Some((shard, target)) if shard == self.id => {
                        if clients.contains_key(&target) {
                            add((target, true), inv.key, group);
                        } else {
                            redirect_broken(ci, target);
                        }
                    }
                    Some((shard, target)) => forward[shard].push(Inval {
                        id: target,
                        redirected: true,
                        group,
                        origin: (self.id, ci.id),
                        ..inv
                    }),
                }
            }
            for ((id, redirected), _, keys) in out {
                let Some(ci) = clients.get(&id) else {
                    continue;
                };
                let (flush, keys): (Vec<_>, Vec<_>) = keys.into_iter().partition(Option::is_none);
                if !flush.is_empty() {
                    write_invalidation(ci, None, redirected);
                }
                let keys: Vec<Bytes> = keys.into_iter().flatten().collect();
                if !keys.is_empty() {
                    write_invalidation(ci, Some(&keys), redirected);
                }
            }
        }
        self.send_invals(forward);
        for (home, pairs) in broken.into_iter().enumerate() {
            if pairs.is_empty() {
            } else if home == self.id {
                self.redirects_broken(pairs);
            } else {
                self.send_to(home, Outgoing::RedirectsBroken(pairs));
            }
        }
    }

    /// (client, target): the redirect target of a client of this shard has
    /// gone; one notice per invalidation message that could not be sent.
    pub fn redirects_broken(&self, mut pairs: Vec<(u64, u64)>) {
        pairs.dedup();
        let clients = self.clients.borrow();
        for (id, target) in pairs {
            if let Some(ci) = clients.get(&id)
                && ci.tracking.redirect.get().is_some_and(|(_, t)| t == target)
            {
                redirect_broken(ci, target);
            }
        }
    }
}

/// Writes one invalidation to `ci` as Redis's `sendTrackingMessage` does: a
/// RESP3 push, or for a RESP2 redirect target in subscribed mode a message on
/// `__redis__:invalidate`; a RESP2 client without redirect gets nothing.
/// `keys` `None` is a flush (a null payload).
fn write_invalidation(ci: &ClientInfo, keys: Option<&[Bytes]>, redirected: bool) {
    let resp3 = ci.resp.get() == 3;
    let subscribed = ci.subs.get().iter().any(|&n| n > 0);
    let mut frame: Vec<u8> = if resp3 {
        b">2\r\n$10\r\ninvalidate\r\n".to_vec()
    } else if redirected && subscribed {
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n".to_vec()
    } else {
        return;
    };
    match keys {
        Some(keys) => {
            frame.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
            for k in keys {
                frame.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
                frame.extend_from_slice(k);
                frame.extend_from_slice(b"\r\n");
            }
        }
        None if resp3 => frame.extend_from_slice(b"_\r\n"),
        None => frame.extend_from_slice(b"$-1\r\n"),
    }
    ci.outbox.raw(ci, &frame);
}

/// The redirect target has gone: a RESP3 client is told, once per message.
fn redirect_broken(ci: &ClientInfo, target: u64) {
    let t = &ci.tracking;
    t.flags.set(t.flags.get() | BROKEN_REDIRECT);
    if ci.resp.get() == 3 {
        let frame = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{target}\r\n");
        ci.outbox.raw(ci, frame.as_bytes());
    }
}

impl Shard {
    /// Counts a client in or out of tracking (writes note modified keys only
    /// while someone tracks).
    pub fn count_tracking(&self, on: bool) {
        let n = &self.globals.tracking_clients;
        let now = if on {
            n.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            n.fetch_sub(1, Ordering::Relaxed).saturating_sub(1)
        };
        crate::store::notify::set_tracking(now > 0);
    }
}
