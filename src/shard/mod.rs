//! Shards: one per core, each owning a [`Store`] and talking to the others only by
//! message.
//!
//! Every request another shard (or a connection on this shard) makes of a shard is a
//! [`Req`]; work runs here, on the owner's thread, and its result goes back as a
//! boxed value. Requests and replies travel on separate glommio `shared_channel`s,
//! one pair per ordered pair of shards, so a shard busy sending replies can never
//! block a peer that is sending it requests.

pub mod aof;
pub mod blocking;
pub mod expire;
pub mod functions;
pub mod globals;
pub mod journal;
pub mod locks;
pub mod monitor;
pub mod outbound;
pub mod persist;
pub mod pubsub;
pub mod script;
pub mod slot;
pub mod tracking;
pub mod tx;
pub mod watch;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures::channel::oneshot;
use fxhash::FxHashMap;
use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};

use crate::protocol::Proto;
use crate::store::Store;
pub use globals::Globals;
use locks::{LockKey, LockSet, Locks, Waiting};

/// A value crossing shards; the requester knows its concrete type.
pub type AnyBox = Box<dyn Any + Send>;
/// Work to run on a shard's thread.
pub type Work = Box<dyn FnOnce(&Shard) -> AnyBox + Send>;

/// A command as a shard sees it: work to run on this shard's store, and the
/// keys that work touches. The dispatch layer implements it for its command
/// table; the shard itself names no command.
pub trait ShardCmd: Sync {
    /// Runs the command against this shard's store, appending its reply to `out`.
    fn run(&self, shard: &Shard, db: u8, proto: Proto, argv: &[Bytes], out: &mut BytesMut);
    /// Calls `f(key, exclusive)` for every key of `argv` (exclusive: the command
    /// may write it). Only asked while some lock is held on this shard.
    fn keys(&self, argv: &[Bytes], f: &mut dyn FnMut(&Bytes, bool));
}

/// Single-shard commands from one read of one client's pipeline, for one shard.
pub struct Batch {
    pub db: u8,
    pub proto: Proto,
    /// The client the commands are for (NOLOOP tracking).
    pub caller: u64,
    pub cmds: Vec<(&'static dyn ShardCmd, Vec<Bytes>)>,
}

/// The replies of a [`Batch`]: all in one buffer, `ends[i]` closing the i-th.
pub struct BatchOut {
    pub buf: Bytes,
    pub ends: Vec<u32>,
}

/// What transaction work on a shard answers: its result, the keyspace events
/// it raised (for the coordinator to publish), and whether the shard kept
/// locks it was asked to drop until then.
pub struct TxOut {
    pub value: AnyBox,
    pub events: Option<Vec<crate::store::notify::Event>>,
    pub held: bool,
}

pub enum Req {
    Batch(Batch),
    /// A closure that waits, like a command, until none of `set` is locked.
    Call {
        set: LockSet,
        work: Work,
    },
    /// Take `set` for transaction `tx`; reply `true` once held. With `wait: false`,
    /// reply `false` at once instead of queueing.
    Lock {
        tx: u64,
        set: LockSet,
        wait: bool,
    },
    /// Run inside transaction `tx`, which holds its locks here; optionally release.
    TxCall {
        tx: u64,
        work: Work,
        release: bool,
        caller: u64,
    },
    Release {
        tx: u64,
    },
    /// Wake blocked waiter `id` of this shard: a key it waits on was filled.
    Wake {
        id: u64,
    },
    /// Run at once, whatever is locked: work that does not touch the keyspace
    /// (pub/sub delivery), so it never waits behind a transaction.
    Now {
        work: Work,
    },
}

pub struct Msg {
    id: u64,
    from: usize,
    req: Req,
}

pub struct Resp {
    id: u64,
    value: AnyBox,
}

enum ReplyTo {
    Local(oneshot::Sender<AnyBox>),
    Remote { from: usize, id: u64 },
}

enum Parked {
    Batch(Batch),
    Call(Work),
    Grant,
}

/// Channel ends of one shard, before they are connected on its thread.
pub struct Wiring {
    pub req_tx: Vec<Option<glommio::channels::shared_channel::SharedSender<Msg>>>,
    pub req_rx: Vec<Option<glommio::channels::shared_channel::SharedReceiver<Msg>>>,
    pub resp_tx: Vec<Option<glommio::channels::shared_channel::SharedSender<Resp>>>,
    pub resp_rx: Vec<Option<glommio::channels::shared_channel::SharedReceiver<Resp>>>,
}

/// Builds the full mesh of request and reply channels for `n` shards.
pub fn wire(n: usize, capacity: usize) -> Vec<Wiring> {
    use glommio::channels::shared_channel::new_bounded;
    let mut w: Vec<Wiring> = (0..n)
        .map(|_| Wiring {
            req_tx: (0..n).map(|_| None).collect(),
            req_rx: (0..n).map(|_| None).collect(),
            resp_tx: (0..n).map(|_| None).collect(),
            resp_rx: (0..n).map(|_| None).collect(),
        })
        .collect();
    for a in 0..n {
        for b in 0..n {
            if a != b {
                let (s, r) = new_bounded(capacity);
                w[a].req_tx[b] = Some(s);
                w[b].req_rx[a] = Some(r);
                let (s, r) = new_bounded(capacity);
                w[a].resp_tx[b] = Some(s);
                w[b].resp_rx[a] = Some(r);
            }
        }
    }
    w
}

/// Per-shard counters for INFO.
#[derive(Default)]
pub struct Stats {
    pub commands: Cell<u64>,
    pub connections: Cell<u64>,
    pub rejected: Cell<u64>,
    pub expired: Cell<u64>,
    pub hits: Cell<u64>,
    pub misses: Cell<u64>,
    pub net_in: Cell<u64>,
    pub net_out: Cell<u64>,
    pub remote_batches: Cell<u64>,
    pub txs: Cell<u64>,
    /// Recent commands-per-second samples (INFO instantaneous_ops_per_sec), as
    /// Redis keeps 16 samples taken every 100 ms.
    ops_samples: Cell<[u64; 16]>,
    ops_next: Cell<usize>,
    ops_last: Cell<(u64, Option<Instant>)>,
}

impl Stats {
    pub fn add(c: &Cell<u64>, n: u64) {
        c.set(c.get().wrapping_add(n));
    }

    /// Records the command rate since the previous call (called each `hz` tick).
    pub fn sample_ops(&self) {
        let now = Instant::now();
        let total = self.commands.get();
        let (last_total, last_at) = self.ops_last.get();
        self.ops_last.set((total, Some(now)));
        let Some(last_at) = last_at else { return };
        let ms = now.duration_since(last_at).as_millis().max(1) as u64;
        let mut samples = self.ops_samples.get();
        let i = self.ops_next.get();
        samples[i] = total.wrapping_sub(last_total) * 1000 / ms;
        self.ops_samples.set(samples);
        self.ops_next.set((i + 1) % samples.len());
    }

    /// The mean of the recent samples.
    pub fn ops_per_sec(&self) -> u64 {
        let s = self.ops_samples.get();
        s.iter().sum::<u64>() / s.len() as u64
    }
}

/// What the shard may do to a connection's socket; the server implements it, so
/// that every socket call stays in `server`.
pub trait Peer {
    /// Whether the client has closed its end (checked while it is blocked and
    /// not reading).
    fn gone(&self) -> bool;
    /// Shuts the socket down (CLIENT KILL, shutdown): the connection's task
    /// then reads end-of-file and exits.
    fn hang_up(&self);
}

/// What CLIENT LIST / CLIENT KILL need to know of a connection.
pub struct ClientInfo {
    pub id: u64,
    pub fd: i32,
    pub peer: Box<dyn Peer>,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub last: Cell<Instant>,
    pub name: RefCell<Option<Bytes>>,
    pub lib_name: RefCell<Option<Bytes>>,
    pub lib_ver: RefCell<Option<Bytes>>,
    pub db: Cell<u8>,
    pub resp: Cell<u8>,
    pub last_cmd: Cell<&'static str>,
    pub no_evict: Cell<bool>,
    pub no_touch: Cell<bool>,
    pub killed: Cell<bool>,
    /// Waiting in a blocking command, already in line on every key's shard
    /// (CLIENT LIST's `b`; see `blocking::Blocked`).
    pub blocked: Cell<bool>,
    /// Subscriptions (channels, patterns, shard channels), for CLIENT LIST.
    pub subs: Cell<[u32; 3]>,
    /// A MONITOR client (CLIENT LIST's `O`).
    pub monitor: Cell<bool>,
    /// CLIENT TRACKING state (see `shard::tracking`).
    pub tracking: tracking::TrackState,
    /// The query buffer: bytes held and room left (CLIENT LIST qbuf,
    /// qbuf-free), as the connection last saw it.
    pub qbuf: Cell<(usize, usize)>,
    /// Pushes waiting to be written (pub/sub messages).
    pub outbox: pubsub::Outbox,
}

/// The peer of an internal client (the AOF loader): no socket.
struct NoPeer;

impl Peer for NoPeer {
    fn gone(&self) -> bool {
        false
    }
    fn hang_up(&self) {}
}

impl ClientInfo {
    /// An internal client's record (not in any client list).
    pub fn internal(id: u64) -> ClientInfo {
        ClientInfo::new(id, -1, Box::new(NoPeer), String::new(), String::new())
    }

    /// A fresh client's record: db 0, RESP2, no name, nothing subscribed.
    pub fn new(id: u64, fd: i32, peer: Box<dyn Peer>, addr: String, laddr: String) -> ClientInfo {
        let now = Instant::now();
        ClientInfo {
            id,
            fd,
            peer,
            addr,
            laddr,
            created: now,
            last: Cell::new(now),
            name: RefCell::new(None),
            lib_name: RefCell::new(None),
            lib_ver: RefCell::new(None),
            db: Cell::new(0),
            resp: Cell::new(2),
            last_cmd: Cell::new("NULL"),
            no_evict: Cell::new(false),
            no_touch: Cell::new(false),
            killed: Cell::new(false),
            blocked: Cell::new(false),
            subs: Cell::new([0; 3]),
            monitor: Cell::new(false),
            tracking: Default::default(),
            qbuf: Cell::new((0, 0)),
            outbox: Default::default(),
        }
    }
}

pub struct Shard {
    pub id: usize,
    pub nshards: usize,
    pub globals: Arc<Globals>,
    pub store: RefCell<Store>,
    locks: RefCell<Locks<(ReplyTo, Parked)>>,
    req_tx: Vec<Option<ConnectedSender<Msg>>>,
    resp_tx: Vec<Option<ConnectedSender<Resp>>>,
    waiting: RefCell<FxHashMap<u64, oneshot::Sender<AnyBox>>>,
    next_id: Cell<u64>,
    me: Weak<Shard>,
    pub clients: RefCell<FxHashMap<u64, Rc<ClientInfo>>>,
    /// Blocked clients of this shard's connections, by waiter id.
    waits: RefCell<FxHashMap<u64, Rc<blocking::WaitSlot>>>,
    /// Clients of this shard counted as blocked (INFO `blocked_clients`).
    blocked: Cell<usize>,
    /// This shard's clients' subscriptions.
    subs: RefCell<pubsub::LocalSubs>,
    /// This shard's MONITOR clients.
    monitors: RefCell<Vec<u64>>,
    /// Keyspace notifications waiting to go to other shards, in order, and
    /// whether the task sending them runs.
    notify_out: RefCell<std::collections::VecDeque<(usize, pubsub::Outgoing)>>,
    /// Keys this shard owns that tracking clients read: who read them.
    pub tracked: RefCell<tracking::Tracked>,
    /// Keys this shard owns that clients WATCH.
    watched: RefCell<watch::Watched>,
    /// BCAST invalidations held until this round's tasks have run.
    bcast_pending: RefCell<Vec<tracking::BcastPending>>,
    notifier_running: Cell<bool>,
    pub stats: Stats,
    pub started: Instant,
}

impl Shard {
    /// Connects this shard's channel ends (all at once: each `connect` waits for its
    /// peer) and starts the loops that serve peers.
    pub async fn start(id: usize, globals: Arc<Globals>, wiring: Wiring) -> Rc<Shard> {
        let n = wiring.req_tx.len();
        let connect_tx = futures::future::join_all(wiring.req_tx.into_iter().map(|s| async move {
            match s {
                Some(s) => Some(s.connect().await),
                None => None,
            }
        }));
        let connect_resp_tx =
            futures::future::join_all(wiring.resp_tx.into_iter().map(|s| async move {
                match s {
                    Some(s) => Some(s.connect().await),
                    None => None,
                }
            }));
        let connect_rx = futures::future::join_all(wiring.req_rx.into_iter().map(|r| async move {
            match r {
                Some(r) => Some(r.connect().await),
                None => None,
            }
        }));
        let connect_resp_rx =
            futures::future::join_all(wiring.resp_rx.into_iter().map(|r| async move {
                match r {
                    Some(r) => Some(r.connect().await),
                    None => None,
                }
            }));
        let (req_tx, resp_tx, req_rx, resp_rx) =
            futures::join!(connect_tx, connect_resp_tx, connect_rx, connect_resp_rx);
        let shard = Rc::new_cyclic(|me| Shard {
            id,
            nshards: n,
            globals,
            store: RefCell::new(Store::default()),
            locks: RefCell::new(Locks::default()),
            req_tx,
            resp_tx,
            waiting: RefCell::new(FxHashMap::default()),
            next_id: Cell::new(1),
            me: me.clone(),
            clients: RefCell::new(FxHashMap::default()),
            waits: RefCell::new(FxHashMap::default()),
            blocked: Cell::new(0),
            subs: RefCell::new(pubsub::LocalSubs::default()),
            monitors: RefCell::new(Vec::new()),
            notify_out: RefCell::new(Default::default()),
            tracked: RefCell::new(Default::default()),
            watched: RefCell::new(Default::default()),
            bcast_pending: RefCell::new(Vec::new()),
            notifier_running: Cell::new(false),
            stats: Stats::default(),
            started: Instant::now(),
        });
        for rx in req_rx.into_iter().flatten() {
            let s = shard.clone();
            glommio::spawn_local(serve_requests(s, rx)).detach();
        }
        for rx in resp_rx.into_iter().flatten() {
            let s = shard.clone();
            glommio::spawn_local(serve_replies(s, rx)).detach();
        }
        shard
    }

    /// The shard that owns `key`.
    #[inline]
    pub fn owner(&self, key: &[u8]) -> usize {
        slot::shard_of(key, self.nshards)
    }

    /// Sends `req` to shard `target` (possibly this one) and waits for its result.
    /// Returns `None` when the target has shut down.
    pub async fn call(&self, target: usize, req: Req) -> Option<AnyBox> {
        let (tx, rx) = oneshot::channel();
        if target == self.id {
            self.handle(req, ReplyTo::Local(tx));
        } else {
            let id = self.next_id.get();
            self.next_id.set(id + 1);
            self.waiting.borrow_mut().insert(id, tx);
            let sender = self.req_tx.get(target)?.as_ref()?;
            let msg = Msg {
                id,
                from: self.id,
                req,
            };
            if sender.send(msg).await.is_err() {
                self.waiting.borrow_mut().remove(&id);
                return None;
            }
        }
        rx.await.ok()
    }

    /// [`call`](Self::call) for a result of a known type.
    pub async fn call_as<T: 'static>(&self, target: usize, req: Req) -> Option<T> {
        let v = self.call(target, req).await?;
        v.downcast::<T>().ok().map(|b| *b)
    }

    /// Runs `work` on shard `target` at once, whatever is locked there (for
    /// work outside the keyspace).
    pub async fn run_now<R: Send + 'static>(
        &self,
        target: usize,
        work: impl FnOnce(&Shard) -> R + Send + 'static,
    ) -> Option<R> {
        let work: Work = Box::new(move |s| Box::new(work(s)) as AnyBox);
        self.call_as(target, Req::Now { work }).await
    }

    /// Runs `work` on shard `target` once none of `set` is locked there.
    pub async fn run_on<R: Send + 'static>(
        &self,
        target: usize,
        set: LockSet,
        work: impl FnOnce(&Shard) -> R + Send + 'static,
    ) -> Option<R> {
        let work: Work = Box::new(move |s| Box::new(work(s)) as AnyBox);
        self.call_as(target, Req::Call { set, work }).await
    }

    fn respond(&self, to: ReplyTo, value: AnyBox) {
        match to {
            ReplyTo::Local(tx) => {
                let _ = tx.send(value);
            }
            ReplyTo::Remote { from, id } => {
                let Some(Some(sender)) = self.resp_tx.get(from) else {
                    return;
                };
                if let Err(err) = sender.try_send(Resp { id, value }) {
                    use glommio::{GlommioError, ResourceType};
                    let resp = match err {
                        GlommioError::WouldBlock(ResourceType::Channel(r)) => r,
                        _ => return, // the peer is gone (shutdown)
                    };
                    // The reply channel is full: finish the send in the background
                    // rather than block this shard's request loop.
                    if let Some(me) = self.me.upgrade() {
                        glommio::spawn_local(async move {
                            if let Some(Some(s)) = me.resp_tx.get(from) {
                                let _ = s.send(resp).await;
                            }
                        })
                        .detach();
                    }
                }
            }
        }
    }

    fn handle(&self, req: Req, reply: ReplyTo) {
        match req {
            Req::Batch(b) => self.gated(reply, Parked::Batch(b), None),
            Req::Call { set, work } => self.gated(reply, Parked::Call(work), Some(set)),
            Req::Lock { tx, set, wait } => {
                let mut l = self.locks.borrow_mut();
                if l.can_run(&set) {
                    l.acquire(tx, set);
                    drop(l);
                    self.respond(reply, Box::new(true));
                } else if wait {
                    l.park(Waiting {
                        set,
                        acquire_for: Some(tx),
                        action: (reply, Parked::Grant),
                    });
                } else {
                    drop(l);
                    self.respond(reply, Box::new(false));
                }
            }
            Req::TxCall {
                tx,
                work,
                release,
                caller,
            } => {
                crate::store::notify::set_caller(caller);
                crate::store::notify::defer_events(true);
                let prev = journal::set_target(tx);
                let value = work(self);
                journal::flush_expired();
                journal::set_target(prev);
                crate::store::notify::defer_events(false);
                // A transaction's keyspace events are published by its
                // coordinator, so subscribers get them in the order raised
                // whichever shards raised them.
                let events = crate::store::notify::take_events();
                self.after_work();
                crate::store::notify::set_caller(0);
                // Locks stay until the coordinator has published them.
                let held = release && events.is_some();
                if release && !held {
                    self.release(tx);
                }
                self.respond(
                    reply,
                    Box::new(TxOut {
                        value,
                        events,
                        held,
                    }),
                );
            }
            Req::Release { tx } => {
                self.release(tx);
                self.respond(reply, Box::new(()));
            }
            Req::Wake { id } => {
                self.wake_local(id);
                self.respond(reply, Box::new(()));
            }
            Req::Now { work } => {
                let v = work(self);
                self.respond(reply, v);
            }
        }
    }

    /// Runs work now if its keys are free, else parks it behind the locks.
    fn gated(&self, reply: ReplyTo, job: Parked, set: Option<LockSet>) {
        if self.locks.borrow().idle() {
            self.run_parked(reply, job);
            return;
        }
        let set = match (set, &job) {
            (Some(s), _) => s,
            (None, Parked::Batch(b)) => batch_lock_set(b),
            (None, _) => LockSet::Keys(vec![]),
        };
        let mut l = self.locks.borrow_mut();
        if l.can_run(&set) {
            drop(l);
            self.run_parked(reply, job);
        } else {
            l.park(Waiting {
                set,
                acquire_for: None,
                action: (reply, job),
            });
        }
    }

    fn run_parked(&self, reply: ReplyTo, job: Parked) {
        let v: AnyBox = match job {
            Parked::Batch(b) => {
                Stats::add(&self.stats.remote_batches, 1);
                let mut buf = BytesMut::new();
                let mut ends = Vec::with_capacity(b.cmds.len());
                crate::store::notify::set_caller(b.caller);
                for (cmd, argv) in &b.cmds {
                    cmd.run(self, b.db, b.proto, argv, &mut buf);
                    ends.push(buf.len() as u32);
                }
                crate::store::notify::set_caller(0);
                Box::new(BatchOut {
                    buf: buf.freeze(),
                    ends,
                })
            }
            Parked::Call(work) => {
                let v = work(self);
                self.after_work();
                v
            }
            Parked::Grant => Box::new(true),
        };
        self.respond(reply, v);
    }

    fn release(&self, tx: u64) {
        self.locks.borrow_mut().release(tx);
        loop {
            let next = self.locks.borrow_mut().pop_runnable();
            match next {
                None => break,
                Some(w) => {
                    let (reply, job) = w.action;
                    self.run_parked(reply, job);
                }
            }
        }
    }

    /// Runs a single-shard command of this shard's own connection: inline when no
    /// lock is in the way (the fast path: no message, no allocation), else queued
    /// behind the locks like any remote batch.
    pub async fn run_local(
        &self,
        cmd: &'static dyn ShardCmd,
        argv: Vec<Bytes>,
        db: u8,
        proto: Proto,
        out: &mut BytesMut,
    ) {
        if self.locks.borrow().idle() {
            cmd.run(self, db, proto, &argv, out);
            return;
        }
        let batch = Batch {
            db,
            proto,
            caller: 0,
            cmds: vec![(cmd, argv)],
        };
        if let Some(r) = self.call_as::<BatchOut>(self.id, Req::Batch(batch)).await {
            out.extend_from_slice(&r.buf);
        }
    }

    /// Whether the key is held by a transaction (active expiry leaves such keys alone).
    pub fn is_locked(&self, db: u8, key: &[u8]) -> bool {
        let l = self.locks.borrow();
        !l.idle() && l.is_locked(db, key)
    }

    /// Housekeeping at `hz` (Redis's `serverCron`): active expiry, the
    /// tracking table's limit, the ops/sec sample. DEBUG PAUSE-CRON stops it.
    pub fn cron(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.globals.cron_paused.load(Relaxed) {
            return;
        }
        if self.globals.active_expire.load(Relaxed) {
            expire::active_expire(self);
            journal::flush_expired();
        }
        self.limit_tracked();
        outbound::close_idle();
        self.close_idle_clients();
        self.stats.sample_ops();
        self.publish_dirty();
    }

    /// `timeout`: closes clients idle for longer, as Redis's client cron does
    /// (not blocked, subscribed or MONITOR clients).
    fn close_idle_clients(&self) {
        let secs = self.globals.config().get_u64("timeout");
        if secs == 0 {
            return;
        }
        let now = Instant::now();
        for ci in self.clients.borrow().values() {
            let exempt = ci.blocked.get()
                || ci.monitor.get()
                || ci.killed.get()
                || ci.subs.get().iter().any(|&n| n > 0);
            if !exempt && now.duration_since(ci.last.get()).as_secs() > secs {
                log::debug!("Closing idle client {}", ci.id);
                ci.killed.set(true);
                ci.peer.hang_up();
            }
        }
    }

    /// Ends every connection of this shard (shutdown).
    pub fn close_clients(&self) {
        for ci in self.clients.borrow().values() {
            ci.killed.set(true);
            ci.peer.hang_up();
        }
    }

    pub fn lock_stats(&self) -> (usize, usize) {
        let l = self.locks.borrow();
        (l.held_by_txs(), l.pending_len())
    }
}

/// The keys a batch touches, exclusive for commands that write.
fn batch_lock_set(b: &Batch) -> LockSet {
    let mut keys = Vec::new();
    for (cmd, argv) in &b.cmds {
        cmd.keys(argv, &mut |key, excl| {
            keys.push((
                LockKey {
                    db: b.db,
                    key: key.clone(),
                },
                excl,
            ))
        });
    }
    LockSet::Keys(keys)
}

async fn serve_requests(shard: Rc<Shard>, rx: ConnectedReceiver<Msg>) {
    while let Some(msg) = rx.recv().await {
        shard.handle(
            msg.req,
            ReplyTo::Remote {
                from: msg.from,
                id: msg.id,
            },
        );
    }
}

async fn serve_replies(shard: Rc<Shard>, rx: ConnectedReceiver<Resp>) {
    while let Some(resp) = rx.recv().await {
        let waiter = shard.waiting.borrow_mut().remove(&resp.id);
        if let Some(tx) = waiter {
            let _ = tx.send(resp.value);
        }
    }
}

/// Gives the other ready tasks of this shard a turn.
pub async fn yield_now() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
