//! A client's connection state as commands see it: database, protocol, auth,
//! the MULTI queue and the reply buffer. The socket itself stays in `server`.

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};

use super::args::CmdError;
use super::table::{CommandSpec, flag};
use crate::protocol::{Proto, Reply};
use crate::shard::locks::{LockKey, LockSet};
use crate::shard::monitor::monitor_line;
use crate::shard::pubsub::{Kind, Outgoing};
use crate::shard::tx::Tx;
use crate::shard::watch::WatchFlag;
use crate::shard::{ClientInfo, Shard};

/// Connection state that commands may read or change.
pub struct Client {
    pub shard: Rc<Shard>,
    pub info: Rc<ClientInfo>,
    pub db: u8,
    pub proto: Proto,
    pub authed: bool,
    pub out: BytesMut,
    /// Close after the pending replies are written (QUIT, a protocol error).
    pub quit: bool,
    /// Commands queued since MULTI (None outside a transaction).
    pub multi: Option<Vec<super::route::Queued>>,
    /// A command was refused while queueing: EXEC must abort.
    pub multi_dirty: bool,
    /// Keys WATCHed for the next EXEC.
    pub watch: Option<Watching>,
    /// The transaction id EXEC holds while it runs the queued commands.
    pub exec_tx: Option<u64>,
    /// Channels, patterns and shard channels subscribed to, by [`Kind`]; the
    /// shard mirrors them for delivery (`shard::pubsub`).
    pub subs: [HashSet<Bytes>; 3],
    /// CLIENT REPLY OFF: replies are dropped until CLIENT REPLY ON.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: the next command's reply is dropped...
    pub reply_skip_next: bool,
    /// ...and this is set while that command runs.
    pub reply_skip: bool,
    /// The running command's output is pushes ((un)subscribe confirmations),
    /// which CLIENT REPLY OFF/SKIP do not drop (as in Redis).
    pub output_is_push: bool,
    /// The AOF loader's client: runs while the server answers `-LOADING`.
    pub replaying: bool,
}

/// A client's WATCH round: the keys (registered on their owners) and the flag
/// their owners set when one changes (see `shard::watch`).
pub struct Watching {
    flag: WatchFlag,
    keys: Vec<(u8, Bytes)>,
    /// The earliest expiry of the keys that were live when watched (0: none):
    /// once past, EXEC fails as if the key had been deleted (Redis's
    /// `isWatchedKeyExpired`).
    deadline: u64,
}

impl Watching {
    /// The watched keys, with their databases.
    pub fn keys(&self) -> &[(u8, Bytes)] {
        &self.keys
    }

    /// Whether EXEC must fail; asked while EXEC holds the watched keys.
    pub fn broken(&self, now: u64) -> bool {
        self.flag.load(Ordering::Acquire) || (self.deadline != 0 && self.deadline <= now)
    }
}

impl Client {
    /// WATCH: registers each key not yet watched in this database on its
    /// owner, once whatever holds it there is done.
    pub async fn watch_keys(&mut self, keys: &[Bytes]) {
        let w = self.watch.get_or_insert_with(|| Watching {
            flag: Arc::new(AtomicBool::new(false)),
            keys: Vec::new(),
            deadline: 0,
        });
        if w.flag.load(Ordering::Acquire) {
            return; // EXEC fails anyway
        }
        let db = self.db;
        let mut by_owner: Vec<Vec<Bytes>> = vec![Vec::new(); self.shard.nshards];
        for key in keys {
            let owner = self.shard.owner(key);
            if !w.keys.iter().any(|(d, k)| *d == db && k == key) && !by_owner[owner].contains(key) {
                by_owner[owner].push(key.clone());
            }
        }
        let shard = self.shard.clone();
        let answers = futures::future::join_all(by_owner.into_iter().enumerate().filter_map(
            |(owner, keys)| {
                if keys.is_empty() {
                    return None;
                }
                let set = LockSet::Keys(
                    keys.iter()
                        .map(|k| (LockKey { db, key: k.clone() }, false))
                        .collect(),
                );
                let flag = w.flag.clone();
                let shard = &shard;
                Some(async move {
                    let at = shard
                        .run_on(owner, set, {
                            let keys = keys.clone();
                            move |sh| sh.watch_keys(db, keys, &flag)
                        })
                        .await;
                    (keys, at)
                })
            },
        ))
        .await;
        for (keys, at) in answers {
            let Some(at) = at else { continue };
            for (key, a) in keys.into_iter().zip(at) {
                if !a.stale && a.expire_at != 0 && (w.deadline == 0 || a.expire_at < w.deadline) {
                    w.deadline = a.expire_at;
                }
                w.keys.push((db, key));
            }
        }
    }

    /// Forgets every watched key (UNWATCH, EXEC, DISCARD, RESET, disconnect).
    pub fn unwatch(&mut self) {
        let Some(w) = self.watch.take() else {
            return;
        };
        let mut by_owner: Vec<Vec<(u8, Bytes)>> = vec![Vec::new(); self.shard.nshards];
        for (db, key) in w.keys {
            by_owner[self.shard.owner(&key)].push((db, key));
        }
        for (owner, keys) in by_owner.into_iter().enumerate() {
            if keys.is_empty() {
                continue;
            }
            if owner == self.shard.id {
                self.shard.unwatch_keys(&keys, &w.flag);
            } else {
                self.shard
                    .send_to(owner, Outgoing::Unwatch(keys, w.flag.clone()));
            }
        }
    }

    /// CLIENT TRACKING: records the keys a read-only command is about to read
    /// on their owners (default mode, honouring OPTIN/OPTOUT and CLIENT
    /// CACHING, which lasts one command).
    pub async fn track_reads(&mut self, spec: &CommandSpec, argv: &[Bytes]) {
        use crate::shard::tracking::CACHING;
        let t = &self.info.tracking;
        let flags = t.flags.get();
        // Redis keeps CLIENT CACHING across CLIENT subcommands and inside MULTI.
        if flags & CACHING != 0 && self.multi.is_none() && !spec.name.starts_with("client|") {
            t.flags.set(flags & !CACHING);
        }
        // Read-only scripts track what their commands read, not themselves.
        if !spec.has(flag::READONLY) || matches!(spec.name, "eval_ro" | "evalsha_ro" | "fcall_ro") {
            return;
        }
        let mut keys: Vec<Bytes> = Vec::new();
        spec.for_each_key(argv, |pos, _| keys.push(argv[pos].clone()));
        // The CLIENT CACHING this command consumed still counts for it.
        self.track_keys_as(flags, keys).await;
    }

    /// Records `keys` as read by this client, if it tracks them (default
    /// mode, OPTIN/OPTOUT as the last CLIENT CACHING says).
    pub async fn track_keys(&mut self, keys: Vec<Bytes>) {
        let flags = self.info.tracking.flags.get();
        self.track_keys_as(flags, keys).await;
    }

    async fn track_keys_as(&mut self, flags: u8, keys: Vec<Bytes>) {
        use crate::shard::tracking::{BCAST, CACHING, ON, OPTIN, OPTOUT};
        if flags & ON == 0 || flags & BCAST != 0 {
            return;
        }
        let wanted = if flags & OPTIN != 0 {
            flags & CACHING != 0
        } else if flags & OPTOUT != 0 {
            flags & CACHING == 0
        } else {
            true
        };
        if !wanted {
            return;
        }
        let (home, id) = (self.shard.id, self.info.id);
        for key in keys {
            let owner = self.shard.owner(&key);
            if owner == home {
                self.shard.track_read(&key, home, id);
            } else {
                self.shard
                    .run_now(owner, move |sh| sh.track_read(&key, home, id))
                    .await;
            }
        }
    }

    /// Ends CLIENT TRACKING for this client.
    pub fn stop_tracking(&mut self) {
        let t = &self.info.tracking;
        if t.flags.replace(0) & crate::shard::tracking::ON == 0 {
            return;
        }
        t.redirect.set(None);
        t.prefixes.borrow_mut().clear();
        let id = self.info.id;
        self.shard
            .globals
            .bcast
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(_, _, x)| *x != id);
        self.shard.count_tracking(false);
    }

    /// Turns this client into a MONITOR client.
    pub fn start_monitor(&mut self) {
        // A monitor is a normal client for the output limits, as in Redis.
        let limit = crate::shard::pubsub::OutputLimit::parse(
            self.shard
                .globals
                .config()
                .get("client-output-buffer-limit"),
            "normal",
        );
        self.info.outbox.set_limit(limit);
        if !self.info.monitor.replace(true) {
            self.shard.add_monitor(self.info.id);
        }
    }

    /// Ends MONITOR mode (RESET, disconnect).
    pub fn stop_monitor(&mut self) {
        if self.info.monitor.replace(false) {
            self.shard.remove_monitor(self.info.id);
        }
    }

    /// Feeds `argv` to the MONITOR clients, if any, as Redis does after a
    /// command ran: not for admin commands, and with AUTH's and HELLO's
    /// credentials redacted.
    pub async fn feed_monitors(&self, spec: &CommandSpec, argv: &[Bytes]) {
        if !spec.has(flag::SKIP_MONITOR) {
            self.feed_monitors_as(spec, argv, &self.info.addr).await;
        }
    }

    /// [`feed_monitors`](Self::feed_monitors) for a command shown as sent
    /// from `addr` (`lua` for a script's commands), also for SKIP_MONITOR
    /// rows, which (EVAL, FCALL) are fed before they run so the script's
    /// commands come after them.
    pub async fn feed_monitors_as(&self, spec: &CommandSpec, argv: &[Bytes], addr: &str) {
        if !self.shard.monitored() || spec.has(flag::ADMIN) {
            return;
        }
        let mut shown = argv.to_vec();
        let redacted = Bytes::from_static(b"(redacted)");
        match spec.name {
            "auth" => shown[1..].iter_mut().for_each(|a| *a = redacted.clone()),
            "hello" => {
                if let Some(i) = shown.iter().position(|a| a.eq_ignore_ascii_case(b"auth")) {
                    for a in shown.iter_mut().skip(i + 1).take(2) {
                        *a = redacted.clone();
                    }
                }
            }
            "migrate" => {
                let mut i = 6;
                while i < shown.len() && !shown[i].eq_ignore_ascii_case(b"keys") {
                    let n = if shown[i].eq_ignore_ascii_case(b"auth") {
                        1
                    } else if shown[i].eq_ignore_ascii_case(b"auth2") {
                        2
                    } else {
                        0
                    };
                    for a in shown.iter_mut().skip(i + 1).take(n) {
                        *a = redacted.clone();
                    }
                    i += n + 1;
                }
            }
            _ => {}
        }
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let line = monitor_line(now_us, self.db, addr, &shown);
        self.shard.feed_monitors(line).await;
    }
}

impl Client {
    /// A new connection's state: db 0, RESP2, authenticated unless a password is set.
    pub fn new(shard: Rc<Shard>, info: Rc<ClientInfo>) -> Client {
        let authed = shard.globals.config().requirepass().is_none();
        Client {
            shard,
            info,
            db: 0,
            proto: Proto::Resp2,
            authed,
            out: BytesMut::with_capacity(16 * 1024),
            quit: false,
            multi: None,
            multi_dirty: false,
            watch: None,
            exec_tx: None,
            subs: Default::default(),
            reply_off: false,
            reply_skip_next: false,
            reply_skip: false,
            output_is_push: false,
            replaying: false,
        }
    }

    /// Whether the client is in subscribed mode (any subscription of any kind).
    pub fn subscribed(&self) -> bool {
        self.subs.iter().any(|s| !s.is_empty())
    }

    /// Subscribes to `name`; false if already subscribed.
    pub fn subscribe(&mut self, kind: Kind, name: &Bytes) -> bool {
        if !self.subs[kind as usize].insert(name.clone()) {
            return false;
        }
        self.shard.subscribe(kind, name, self.info.id);
        self.sync_sub_counts();
        true
    }

    /// Unsubscribes from `name`; false if not subscribed.
    pub fn unsubscribe(&mut self, kind: Kind, name: &[u8]) -> bool {
        if !self.subs[kind as usize].remove(name) {
            return false;
        }
        self.shard.unsubscribe(kind, name, self.info.id);
        self.sync_sub_counts();
        true
    }

    /// Drops every subscription (RESET, disconnect).
    pub fn unsubscribe_all(&mut self) {
        for kind in Kind::ALL {
            for name in std::mem::take(&mut self.subs[kind as usize]) {
                self.shard.unsubscribe(kind, &name, self.info.id);
            }
        }
        self.sync_sub_counts();
    }

    fn sync_sub_counts(&self) {
        let n = |k: Kind| self.subs[k as usize].len() as u32;
        self.info
            .subs
            .set([n(Kind::Channel), n(Kind::Pattern), n(Kind::Shard)]);
    }

    pub fn reply(&mut self) -> Reply<'_> {
        Reply::new(&mut self.out, self.proto)
    }

    pub fn error(&mut self, e: &CmdError) {
        let msg = e.message();
        self.reply().error(&msg);
    }

    /// The shard that owns `key`.
    #[inline]
    pub fn owner(&self, key: &[u8]) -> usize {
        self.shard.owner(key)
    }

    /// Locks `parts` for a command of this client, or reuses the locks of the
    /// EXEC this command runs in.
    pub async fn tx(&self, parts: Vec<(usize, LockSet)>) -> Tx {
        Tx::begin(&self.shard, self.exec_tx, parts, self.info.id).await
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.leave();
    }
}

impl Client {
    /// A connection that goes away (or has answered QUIT) leaves its
    /// channels, MONITOR and tracking, and the shard's client list.
    pub fn leave(&mut self) {
        self.shard.clients.borrow_mut().remove(&self.info.id);
        if self.subscribed() {
            self.unsubscribe_all();
        }
        self.stop_monitor();
        self.stop_tracking();
        self.unwatch();
    }
}
