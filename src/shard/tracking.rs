//! Client-side caching (CLIENT TRACKING): who may hold a cached copy of which
//! key, and the invalidation messages when it changes.
//!
//! - Default mode: the shard that owns a key keeps its readers (`tracked`:
//!   key → (home shard, client id)); a reader is recorded before its read runs,
//!   so a write in between costs at most a spurious invalidation.
//! - BCAST mode: prefixes in `Globals::bcast`; every modified key is matched.
//! - Every write raises a keyspace notification (`store::notify`), which while
//!   some client tracks also notes the key as modified; after the work the
//!   shard sends the owner's readers an invalidation, through its home shard,
//!   which applies NOLOOP and REDIRECT and writes the frame.

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;

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
    /// Redirected, and to be merged with others (BCAST).
    pub own: bool,
}

/// A client that gets invalidations, and whether as a redirect target.
type Recipient = (u64, bool);

impl Shard {
    /// Records that client `id` of shard `home` read `key` (a key of this shard).
    pub fn track_read(&self, key: &[u8], home: usize, id: u64) {
        let mut t = self.tracked.borrow_mut();
        let readers = t.entry(Bytes::copy_from_slice(key)).or_default();
        if !readers.contains(&(home, id)) {
            readers.push((home, id));
        }
    }

    /// Keys modified by this shard's last work: BCAST prefixes are matched
    /// here, the readers' table on each key's owner.
    pub fn invalidate(&self, keys: Vec<(Bytes, u64)>) {
        let mut to: Vec<Vec<Inval>> = vec![Vec::new(); self.nshards];
        {
            let bcast = self.globals.bcast.read().unwrap_or_else(|p| p.into_inner());
            for (key, by) in &keys {
                for (prefix, home, id) in bcast.iter() {
                    if key.starts_with(prefix) {
                        to[*home].push(Inval {
                            id: *id,
                            key: Some(key.clone()),
                            by: *by,
                            redirected: false,
                            bcast: true,
                            own: false,
                        });
                    }
                }
            }
        }
        self.send_invals(to);
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

    /// Modified keys this shard owns: their readers get an invalidation and
    /// are forgotten (they must read again to be told again).
    pub fn invalidate_owned(&self, keys: Vec<(Bytes, u64)>) {
        let mut to: Vec<Vec<Inval>> = vec![Vec::new(); self.nshards];
        {
            let mut t = self.tracked.borrow_mut();
            if t.is_empty() {
                return;
            }
            for (key, by) in keys {
                for (home, id) in t.remove(&key).unwrap_or_default() {
                    to[home].push(Inval {
                        id,
                        key: Some(key.clone()),
                        by,
                        redirected: false,
                        bcast: false,
                        own: false,
                    });
                }
            }
        }
        self.send_invals(to);
    }

    /// FLUSHDB/FLUSHALL: this shard forgets its readers, and each of its
    /// tracking clients is told to drop everything.
    pub fn invalidate_all(&self) {
        self.tracked.borrow_mut().clear();
        let ids: Vec<u64> = self
            .clients
            .borrow()
            .values()
            .filter(|ci| ci.tracking.flags.get() & ON != 0)
            .map(|ci| ci.id)
            .collect();
        let invs = ids
            .into_iter()
            .map(|id| Inval {
                id,
                key: None,
                by: 0,
                redirected: false,
                bcast: true,
                own: false,
            })
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
        // (recipient, redirected) -> keys; `None` is a flush. As in Redis, a
        // BCAST client gets the keys of one batch in one message (`own`), a
        // default-mode one a message per key.
        let mut out: Vec<(Recipient, Vec<Option<Bytes>>)> = Vec::new();
        let mut add = |to: (u64, bool), key: Option<Bytes>, own: bool| match out
            .iter_mut()
            .rfind(|(t, _)| *t == to)
        {
            Some((_, keys)) if own => {
                if !keys.contains(&key) {
                    keys.push(key)
                }
            }
            _ => out.push((to, vec![key])),
        };
        {
            let clients = self.clients.borrow();
            for inv in invs {
                let Some(ci) = clients.get(&inv.id) else {
                    continue;
                };
                if inv.redirected {
                    add((ci.id, true), inv.key, inv.own);
                    continue;
                }
                let own = inv.bcast;
                let flags = ci.tracking.flags.get();
                if flags & ON == 0
                    || (flags & NOLOOP != 0 && inv.by == ci.id)
                    || (flags & BCAST != 0 && !inv.bcast)
                {
                    continue;
                }
                match ci.tracking.redirect.get() {
                    None => add((ci.id, false), inv.key, own),
                    Some((shard, target)) if shard == self.id => {
                        if clients.contains_key(&target) {
                            add((target, true), inv.key, own);
                        } else {
                            redirect_broken(ci, target);
                        }
                    }
                    Some((shard, target)) => forward[shard].push(Inval {
                        id: target,
                        redirected: true,
                        own,
                        ..inv
                    }),
                }
            }
            for ((id, redirected), keys) in out {
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
