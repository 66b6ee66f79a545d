//! Pub/sub delivery across shards.
//!
//! A subscription lives on its connection's shard ([`LocalSubs`]: name →
//! client ids, in subscription order). The process-wide [`Registry`] counts, per
//! name, the subscribers each shard has, so a PUBLISH asks only the shards that
//! have one: the message crosses to each such shard once, as a shared `Bytes`,
//! and that shard writes the frames into its clients' [`Outbox`]es, which their
//! connections write out between requests or while idle.
//!
//! Ordering: a connection runs its commands one at a time and a PUBLISH
//! returns only once every target shard has delivered, so messages from one
//! publisher reach every subscriber in the order published.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::task::{Poll, Waker};

use bytes::{Bytes, BytesMut};

use std::rc::Rc;

use super::{ClientInfo, Shard};
use crate::protocol::{Proto, Reply};
use crate::store::notify::{Event, class};
use crate::util::glob_match;

/// Messages for one shard's subscribers: (channel, message) pairs.
pub type Messages = Vec<(Bytes, Bytes)>;

/// What a shard's ordered send queue carries to another shard.
pub enum Outgoing {
    /// Pub/sub messages and keyspace notifications for its subscribers.
    Messages(Messages),
    /// Keys modified here that it owns (its tracking table knows the readers).
    Modified(Vec<(Bytes, u64)>),
    /// Invalidations for its tracking clients.
    Invalidations(Vec<super::tracking::Inval>),
    /// (client, target) pairs whose redirect target has gone.
    RedirectsBroken(Vec<(u64, u64)>),
    /// Watched keys it owns that a WATCH round no longer needs.
    Unwatch(Vec<(u8, Bytes)>, super::watch::WatchFlag),
}

/// The three namespaces: SUBSCRIBE channels, PSUBSCRIBE patterns and
/// SSUBSCRIBE shard channels.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Channel = 0,
    Pattern = 1,
    Shard = 2,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Channel, Kind::Pattern, Kind::Shard];
}

/// Process-wide: for each name of each kind, the number of subscribers on each
/// shard. Written when a client (un)subscribes, read by PUBLISH and PUBSUB.
#[derive(Default)]
pub struct Registry {
    names: [HashMap<Bytes, Vec<u32>>; 3],
}

impl Registry {
    /// One more subscriber to `name` on `shard`.
    pub fn add(&mut self, kind: Kind, name: &Bytes, shard: usize, nshards: usize) {
        let counts = self.names[kind as usize]
            .entry(name.clone())
            .or_insert_with(|| vec![0; nshards]);
        if let Some(c) = counts.get_mut(shard) {
            *c += 1;
        }
    }

    /// One subscriber fewer to `name` on `shard`; forgets names nobody wants.
    pub fn remove(&mut self, kind: Kind, name: &[u8], shard: usize) {
        let map = &mut self.names[kind as usize];
        let Some(counts) = map.get_mut(name) else {
            return;
        };
        if let Some(c) = counts.get_mut(shard) {
            *c = c.saturating_sub(1);
        }
        if counts.iter().all(|&c| c == 0) {
            map.remove(name);
        }
    }

    /// The shards a message on `channel` must go to: those with a subscriber
    /// to it, or (unless `sharded`) to a pattern matching it.
    pub fn targets(&self, sharded: bool, channel: &[u8]) -> Vec<usize> {
        self.receivers(sharded, channel).0
    }

    /// [`targets`](Self::targets), and how many subscriptions will receive the
    /// message (PUBLISH's reply: a client subscribed to the channel and to a
    /// matching pattern counts twice).
    pub fn receivers(&self, sharded: bool, channel: &[u8]) -> (Vec<usize>, u64) {
        let mut want: Vec<bool> = Vec::new();
        let mut total = 0u64;
        let mut mark = |counts: &Vec<u32>| {
            if want.len() < counts.len() {
                want.resize(counts.len(), false);
            }
            for (i, &c) in counts.iter().enumerate() {
                want[i] |= c > 0;
                total += u64::from(c);
            }
        };
        let exact = if sharded { Kind::Shard } else { Kind::Channel };
        if let Some(counts) = self.names[exact as usize].get(channel) {
            mark(counts);
        }
        if !sharded {
            for (pattern, counts) in &self.names[Kind::Pattern as usize] {
                if glob_match(pattern, channel, false) {
                    mark(counts);
                }
            }
        }
        let targets = want
            .iter()
            .enumerate()
            .filter(|(_, w)| **w)
            .map(|(i, _)| i)
            .collect();
        (targets, total)
    }

    /// The names of `kind` with a subscriber, matching `pattern` if given.
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.names[kind as usize]
            .keys()
            .filter(|n| pattern.is_none_or(|p| glob_match(p, n, false)))
            .cloned()
            .collect()
    }

    /// How many subscribers `name` has, over all shards.
    pub fn count(&self, kind: Kind, name: &[u8]) -> u64 {
        self.names[kind as usize]
            .get(name)
            .map_or(0, |c| c.iter().map(|&n| u64::from(n)).sum())
    }

    /// How many distinct names of `kind` have a subscriber (PUBSUB NUMPAT).
    pub fn len(&self, kind: Kind) -> usize {
        self.names[kind as usize].len()
    }
}

/// One shard's subscriptions: for each name, its subscribed clients here.
#[derive(Default)]
pub struct LocalSubs {
    names: [HashMap<Bytes, Vec<u64>>; 3],
}

impl Shard {
    /// Subscribes client `id` of this shard to `name` (the caller checked, in
    /// the client's own set, that it was not already).
    pub fn subscribe(&self, kind: Kind, name: &Bytes, id: u64) {
        self.subs.borrow_mut().names[kind as usize]
            .entry(name.clone())
            .or_default()
            .push(id);
        self.globals
            .pubsub_mut()
            .add(kind, name, self.id, self.nshards);
    }

    /// Undoes [`subscribe`](Self::subscribe).
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], id: u64) {
        let mut subs = self.subs.borrow_mut();
        let map = &mut subs.names[kind as usize];
        if let Some(ids) = map.get_mut(name) {
            ids.retain(|&x| x != id);
            if ids.is_empty() {
                map.remove(name);
            }
        }
        drop(subs);
        self.globals.pubsub_mut().remove(kind, name, self.id);
    }

    /// Writes a message on `channel` to this shard's subscribers: SUBSCRIBE and
    /// matching PSUBSCRIBE ones for a PUBLISH, SSUBSCRIBE ones for an SPUBLISH.
    /// Returns how many received it (a client subscribed to the channel and to
    /// a matching pattern receives, and counts, twice, as in Redis).
    pub fn deliver(&self, sharded: bool, channel: &Bytes, message: &Bytes) -> u64 {
        let subs = self.subs.borrow();
        let clients = self.clients.borrow();
        let mut n = 0;
        let (exact, label): (Kind, &[u8]) = if sharded {
            (Kind::Shard, b"smessage")
        } else {
            (Kind::Channel, b"message")
        };
        if let Some(ids) = subs.names[exact as usize].get(channel) {
            for ci in ids.iter().filter_map(|id| clients.get(id)) {
                ci.outbox.frame(ci, &[label, channel, message]);
                n += 1;
            }
        }
        if !sharded {
            for (pattern, ids) in &subs.names[Kind::Pattern as usize] {
                if !glob_match(pattern, channel, false) {
                    continue;
                }
                for ci in ids.iter().filter_map(|id| clients.get(id)) {
                    ci.outbox
                        .frame(ci, &[b"pmessage", pattern, channel, message]);
                    n += 1;
                }
            }
        }
        n
    }
}

impl Shard {
    /// Publishes keyspace notifications raised by this shard's last piece of
    /// work: delivered at once to subscribers here, and queued, in order, for
    /// the other shards (one message per target shard per batch of events).
    pub fn publish_events(&self, events: Vec<Event>) {
        let mut msgs: Vec<(Bytes, Bytes)> = Vec::with_capacity(events.len() * 2);
        for e in events {
            if e.channels & class::KEYSPACE != 0 {
                let mut ch = format!("__keyspace@{}__:", e.db).into_bytes();
                ch.extend_from_slice(&e.key);
                msgs.push((Bytes::from(ch), Bytes::from_static(e.event.as_bytes())));
            }
            if e.channels & class::KEYEVENT != 0 {
                let ch = format!("__keyevent@{}__:{}", e.db, e.event);
                msgs.push((Bytes::from(ch), e.key.clone()));
            }
        }
        let mut remote: Vec<Vec<(Bytes, Bytes)>> = vec![Vec::new(); self.nshards];
        let mut local = Vec::new();
        {
            let reg = self.globals.pubsub();
            for (ch, msg) in msgs {
                for t in reg.targets(false, &ch) {
                    if t == self.id {
                        local.push((ch.clone(), msg.clone()));
                    } else if let Some(v) = remote.get_mut(t) {
                        v.push((ch.clone(), msg.clone()));
                    }
                }
            }
        }
        for (ch, msg) in &local {
            self.deliver(false, ch, msg);
        }
        for (target, msgs) in remote.into_iter().enumerate() {
            if !msgs.is_empty() {
                self.send_messages(target, msgs);
            }
        }
    }

    /// Queues `msgs` for the subscribers of shard `target`, after everything
    /// queued before (so one publisher's messages keep their order); messages
    /// that pile up while a send is in flight go together in the next one.
    pub fn send_messages(&self, target: usize, mut msgs: Messages) {
        let mut out = self.notify_out.borrow_mut();
        match out.back_mut() {
            Some((t, Outgoing::Messages(queued))) if *t == target => {
                queued.append(&mut msgs);
            }
            _ => out.push_back((target, Outgoing::Messages(msgs))),
        }
        drop(out);
        self.kick_sender();
    }

    /// Queues `what` for shard `target`, in order with everything else.
    pub fn send_to(&self, target: usize, what: Outgoing) {
        self.notify_out.borrow_mut().push_back((target, what));
        self.kick_sender();
    }

    fn kick_sender(&self) {
        if self.notifier_running.replace(true) {
            return;
        }
        if let Some(me) = self.me.upgrade() {
            glommio::spawn_local(send_events(me)).detach();
        }
    }
}

/// Sends the queued notifications to their shards, one batch at a time, so
/// they arrive in the order they were raised.
async fn send_events(shard: Rc<Shard>) {
    loop {
        let next = shard.notify_out.borrow_mut().pop_front();
        let Some((target, what)) = next else {
            shard.notifier_running.set(false);
            return;
        };
        shard
            .run_now(target, move |sh| match what {
                Outgoing::Messages(msgs) => {
                    for (ch, msg) in &msgs {
                        sh.deliver(false, ch, msg);
                    }
                }
                Outgoing::Modified(keys) => sh.invalidate_owned(keys),
                Outgoing::Invalidations(invs) => sh.deliver_invalidations(invs),
                Outgoing::RedirectsBroken(pairs) => sh.redirects_broken(pairs),
                Outgoing::Unwatch(keys, flag) => sh.unwatch_keys(&keys, &flag),
            })
            .await;
    }
}

/// Bytes for a connection to write that no request of its own produced (pub/sub
/// messages, later invalidations and MONITOR lines), with a waker for the
/// connection's idle wait.
#[derive(Default)]
pub struct Outbox {
    buf: RefCell<BytesMut>,
    waker: Cell<Option<Waker>>,
    /// The client's class of `client-output-buffer-limit`.
    limit: Cell<OutputLimit>,
    /// Since when the outbox has stayed over the soft limit.
    over_soft_since: Cell<Option<std::time::Instant>>,
}

/// One class of `client-output-buffer-limit`: past `hard` bytes, or past
/// `soft` bytes for `soft_secs` seconds in a row, the client is disconnected
/// (0: that limit is off).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: usize,
    pub soft: usize,
    pub soft_secs: u64,
}

impl OutputLimit {
    /// The `class` triple of a `client-output-buffer-limit` value
    /// (`<class> <hard> <soft> <seconds>` ...; `slave` and `replica` alike).
    pub fn parse(value: &str, class: &str) -> OutputLimit {
        let words: Vec<&str> = value.split_whitespace().collect();
        let is = |w: &str| {
            w.eq_ignore_ascii_case(class) || (class == "replica" && w.eq_ignore_ascii_case("slave"))
        };
        words
            .chunks(4)
            .rfind(|w| w.len() == 4 && is(w[0]))
            .map(|w| OutputLimit {
                hard: crate::config::parse_memory(w[1]).unwrap_or(0) as usize,
                soft: crate::config::parse_memory(w[2]).unwrap_or(0) as usize,
                soft_secs: w[3].parse().unwrap_or(0),
            })
            .unwrap_or_default()
    }
}

impl Outbox {
    /// Appends a push frame of bulk strings, in the client's protocol, and wakes
    /// the connection. A client whose outbox passes the limit is disconnected:
    /// a subscriber that stops reading cannot grow the server's memory.
    pub fn frame(&self, ci: &ClientInfo, parts: &[&[u8]]) {
        if ci.killed.get() {
            return;
        }
        let proto = if ci.resp.get() == 3 {
            Proto::Resp3
        } else {
            Proto::Resp2
        };
        let mut buf = self.buf.borrow_mut();
        let mut r = Reply::new(&mut buf, proto);
        r.push(parts.len());
        for p in parts {
            r.bulk(p);
        }
        let len = buf.len();
        drop(buf);
        self.check_limit(ci, len);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Disconnects the client past its class's limits, as Redis's
    /// `checkClientOutputBufferLimits`: the hard limit at once, the soft one
    /// once it has held for its seconds.
    fn check_limit(&self, ci: &ClientInfo, len: usize) {
        let l = self.limit.get();
        let hard = l.hard > 0 && len > l.hard;
        let soft = l.soft > 0 && len > l.soft && {
            let now = std::time::Instant::now();
            let since = *self.over_soft_since.get().get_or_insert(now);
            self.over_soft_since.set(Some(since));
            now.duration_since(since).as_secs() >= l.soft_secs
        };
        if l.soft > 0 && len <= l.soft {
            self.over_soft_since.set(None);
        }
        if hard || soft {
            log::warn!(
                "closing client {} ({}): output buffer over the {} limit ({len} bytes)",
                ci.id,
                ci.addr,
                if hard { "hard" } else { "soft" }
            );
            self.buf.borrow_mut().clear();
            ci.killed.set(true);
            ci.peer.hang_up();
        }
    }

    /// Appends an already encoded frame (a MONITOR line) and wakes the connection.
    pub fn raw(&self, ci: &ClientInfo, frame: &[u8]) {
        if ci.killed.get() {
            return;
        }
        let len = {
            let mut buf = self.buf.borrow_mut();
            buf.extend_from_slice(frame);
            buf.len()
        };
        self.check_limit(ci, len);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    pub fn set_limit(&self, limit: OutputLimit) {
        self.limit.set(limit);
    }

    pub fn is_empty(&self) -> bool {
        self.buf.borrow().is_empty()
    }

    pub fn len(&self) -> usize {
        self.buf.borrow().len()
    }

    /// Moves everything pending onto the end of `out`.
    pub fn drain_into(&self, out: &mut BytesMut) {
        let mut buf = self.buf.borrow_mut();
        if !buf.is_empty() {
            out.extend_from_slice(&buf);
            buf.clear();
        }
    }

    /// Resolves once something is pending (at once if it already is).
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| {
            if self.is_empty() {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_limits_parse_as_redis_writes_them() {
        let v = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
        assert_eq!(
            OutputLimit::parse(v, "pubsub"),
            OutputLimit {
                hard: 33554432,
                soft: 8388608,
                soft_secs: 60
            }
        );
        assert_eq!(OutputLimit::parse(v, "replica").hard, 268435456);
        assert_eq!(OutputLimit::parse(v, "normal"), OutputLimit::default());
        assert_eq!(
            OutputLimit::parse("pubsub 1mb 64kb 2", "pubsub").soft,
            65536
        );
        assert_eq!(
            OutputLimit::parse("garbage", "pubsub"),
            OutputLimit::default()
        );
    }

    #[test]
    fn registry_targets_exact_and_patterns() {
        let mut r = Registry::default();
        let ch = Bytes::from_static(b"news.tech");
        r.add(Kind::Channel, &ch, 1, 3);
        r.add(Kind::Pattern, &Bytes::from_static(b"news.*"), 2, 3);
        r.add(Kind::Shard, &Bytes::from_static(b"s"), 0, 3);
        assert_eq!(r.targets(false, b"news.tech"), vec![1, 2]);
        assert_eq!(r.targets(false, b"news.art"), vec![2]);
        assert_eq!(r.targets(false, b"other"), Vec::<usize>::new());
        assert_eq!(r.targets(true, b"s"), vec![0]);
        assert_eq!(r.targets(true, b"news.tech"), Vec::<usize>::new());
        assert_eq!(r.count(Kind::Channel, b"news.tech"), 1);
        r.add(Kind::Channel, &ch, 2, 3);
        assert_eq!(r.count(Kind::Channel, b"news.tech"), 2);
        r.remove(Kind::Channel, b"news.tech", 1);
        r.remove(Kind::Channel, b"news.tech", 2);
        assert_eq!(r.count(Kind::Channel, b"news.tech"), 0);
        assert!(r.names(Kind::Channel, None).is_empty());
        assert_eq!(r.len(Kind::Pattern), 1);
    }
}
