//! The journal: every write of every shard in one order, as the commands that
//! replay it (Redis's command propagation). The append-only file reads it
//! (`shard::aof`); replicas will too.
//!
//! **One order for all shards.** A single-shard command runs on its owner
//! without yielding and appends there and then, so two writes of one key are
//! journaled in the order they ran. A multi-shard transaction reserves its
//! place (a *hole*) once it holds every lock it needs; its shards' effects
//! fill the hole while it runs, and it closes when the locks go. Nothing
//! touching its keys can run, and so be journaled, between the reservation
//! and the release, so the hole's place is the transaction's place. The sink
//! reads only the prefix up to the first open hole, and writes a closed hole
//! with more than one command as `MULTI … EXEC`: a file cut short replays a
//! transaction whole or not at all.
//!
//! **Effects, not requests.** A handler that ran on the real store is
//! journaled as the command it ran when it wrote something (the shard's
//! write counter moved), or as what it asked for instead with
//! [`propagate_as`]: relative expiries become absolute, SPOP the members it
//! removed, a blocking pop the pop it made. Lazy and active expiry journal a
//! `DEL` where the key went.
//!
//! Off (the default), every entry point is one relaxed load.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::oneshot;

use crate::store::notify;

/// A stretch of the journal.
pub struct Seg {
    pub kind: SegKind,
    /// Records: `[db: u8][len: u32 LE][RESP array]` each.
    buf: Vec<u8>,
    /// Commands in `buf`.
    cmds: u32,
    /// The smallest ticket of a record in `buf` (`u64::MAX`: none yet).
    first_ticket: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegKind {
    /// Single-shard writes, in the order they ran.
    Plain,
    /// A transaction's reserved place, still being filled.
    Open(u64),
    /// A transaction's effects: replayed whole (`MULTI … EXEC` when more than one).
    Closed,
    /// A point the sink acts on (AOF rewrite: the next incr file starts here).
    Cut(u64),
}

struct Log {
    segs: VecDeque<Seg>,
    /// Tickets handed out (one per record): the `always` policy waits for the
    /// sink to have made a ticket durable.
    tickets: u64,
    waiters: Vec<(u64, oneshot::Sender<()>)>,
}

static LOG: Mutex<Log> = Mutex::new(Log {
    segs: VecDeque::new(),
    tickets: 0,
    waiters: Vec::new(),
});
/// `appendfsync always`: replies wait for their writes to be on disk.
static ALWAYS: AtomicBool = AtomicBool::new(false);

pub fn set_always(on: bool) {
    ALWAYS.store(on, Ordering::Relaxed);
}

#[inline]
pub fn always() -> bool {
    ALWAYS.load(Ordering::Relaxed)
}

/// Signalled when something became readable for the sink.
static READY: Condvar = Condvar::new();
/// Every ticket up to this one is on disk (`always`) or written (otherwise).
static DURABLE: AtomicU64 = AtomicU64::new(0);
static APPENDED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The transaction whose hole this thread's records go to (0: none).
    static TARGET: Cell<u64> = const { Cell::new(0) };
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// What the running handler asked to journal instead of itself.
    static INSTEAD: RefCell<Option<Vec<Vec<Bytes>>>> = const { RefCell::new(None) };
}

fn log() -> MutexGuard<'static, Log> {
    LOG.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether writes are journaled.
#[inline]
pub fn on() -> bool {
    notify::journaling()
}

/// Starts journaling, or stops it and drops whatever the sink has not taken
/// (waiters are let go).
pub fn set_on(on: bool) {
    notify::set_journaling(on);
    if !on {
        let mut l = log();
        l.segs.clear();
        let t = l.tickets;
        DURABLE.store(t, Ordering::Release);
        for (_, w) in l.waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

/// A handler's replacement for its own journal entry (several commands,
/// or none): used for what would not replay the same (relative times,
/// random picks, blocking).
pub fn propagate_as(cmds: Vec<Vec<Bytes>>) {
    if on() {
        INSTEAD.with(|i| *i.borrow_mut() = Some(cmds));
    }
}

/// After a handler ran on this shard's store: journals `argv` if it wrote
/// (`wrote`), or what it asked for instead.
#[inline]
pub fn command_ran(db: usize, argv: &[Bytes], wrote: bool) {
    if !on() {
        return;
    }
    flush_expired();
    match INSTEAD.with(|i| i.borrow_mut().take()) {
        Some(cmds) => {
            for c in cmds {
                record(db, &c);
            }
        }
        None if wrote => record(db, argv),
        None => {}
    }
}

/// Journals `argv` into transaction `tx`'s hole (from its coordinator).
pub fn command_ran_in(tx: u64, db: usize, argv: &[Bytes], wrote: bool) {
    if !on() {
        return;
    }
    let prev = TARGET.with(|t| t.replace(tx));
    command_ran(db, argv, wrote);
    TARGET.with(|t| t.set(prev));
}

/// Journals one command at this thread's place (its transaction's hole, or
/// the end).
pub fn record<A: AsRef<[u8]>>(db: usize, argv: &[A]) {
    if !on() {
        return;
    }
    // Encoded outside the lock, into this thread's reused buffer.
    SCRATCH.with(|s| {
        let mut rec = s.borrow_mut();
        rec.clear();
        rec.push(db as u8);
        rec.extend_from_slice(&[0; 4]);
        encode(&mut rec, argv);
        let len = (rec.len() - 5) as u32;
        rec[1..5].copy_from_slice(&len.to_le_bytes());
        append(&rec);
    });
}

fn append(rec: &[u8]) {
    let target = TARGET.with(Cell::get);
    let mut l = log();
    l.tickets += 1;
    let ticket = l.tickets;
    APPENDED.store(ticket, Ordering::Release);
    let hole = (target != 0)
        .then(|| {
            l.segs
                .iter_mut()
                .rev()
                .find(|s| s.kind == SegKind::Open(target))
        })
        .flatten();
    let seg = match hole {
        Some(s) => s,
        None => {
            if l.segs.back().is_none_or(|s| s.kind != SegKind::Plain) {
                l.segs.push_back(Seg::new(SegKind::Plain));
            }
            match l.segs.back_mut() {
                Some(s) => s,
                None => return,
            }
        }
    };
    seg.add(rec, ticket);
}

/// `argv` as a RESP array.
pub fn encode<A: AsRef<[u8]>>(out: &mut Vec<u8>, argv: &[A]) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(n.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Keys that expiry or eviction removed on this thread become `DEL`s, at
/// this thread's place.
pub fn flush_expired() {
    if let Some(keys) = notify::take_expired() {
        for (db, key) in keys {
            record(db as usize, &[&b"DEL"[..], &key[..]]);
        }
    }
}

/// Work for transaction `tx` starts (`tx`) or ends (0) on this thread;
/// returns the previous target.
pub fn set_target(tx: u64) -> u64 {
    if tx == 0 {
        flush_expired();
    }
    TARGET.with(|t| t.replace(tx))
}

/// Transaction `tx` holds every lock it needs: its place in the order.
pub fn reserve(tx: u64) {
    if on() {
        log().segs.push_back(Seg::new(SegKind::Open(tx)));
    }
}

/// Transaction `tx` released its locks: its hole may be written.
pub fn close(tx: u64) {
    if !on() {
        return;
    }
    let mut l = log();
    let Some(i) = l.segs.iter().rposition(|s| s.kind == SegKind::Open(tx)) else {
        return;
    };
    if l.segs[i].cmds == 0 {
        l.segs.remove(i);
    } else {
        l.segs[i].kind = SegKind::Closed;
    }
    let first = i == 0;
    drop(l);
    if first {
        READY.notify_one();
    }
}

/// Marks a point for the sink (taken while every shard is held, so every
/// write is wholly before or after it).
pub fn cut(id: u64) {
    log().segs.push_back(Seg::new(SegKind::Cut(id)));
    READY.notify_one();
}

/// Wakes the sink: this thread appended since it last looked.
pub fn poke() {
    if on() && APPENDED.load(Ordering::Acquire) > DURABLE.load(Ordering::Acquire) {
        READY.notify_one();
    }
}

/// Wakes the sink whatever it has to do (stopping).
pub fn wake() {
    READY.notify_all();
}

/// The last ticket handed out.
pub fn appended() -> u64 {
    APPENDED.load(Ordering::Acquire)
}

/// Waits until every record up to `ticket` is durable.
pub async fn durable(ticket: u64) {
    if DURABLE.load(Ordering::Acquire) >= ticket {
        return;
    }
    let rx = {
        let mut l = log();
        if DURABLE.load(Ordering::Acquire) >= ticket || !on() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        l.waiters.push((ticket, tx));
        rx
    };
    READY.notify_one();
    let _ = rx.await;
}

// ---- the sink's side ----

/// Takes the readable prefix (waiting up to `wait` for some).
pub fn take(wait: Duration) -> Vec<Seg> {
    let mut l = log();
    if !readable(&l) {
        l = READY
            .wait_timeout(l, wait)
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0);
    }
    let mut out = Vec::new();
    while l
        .segs
        .front()
        .is_some_and(|s| !matches!(s.kind, SegKind::Open(_)))
    {
        if let Some(s) = l.segs.pop_front() {
            out.push(s);
        }
    }
    out
}

fn readable(l: &Log) -> bool {
    l.segs
        .front()
        .is_some_and(|s| !matches!(s.kind, SegKind::Open(_)))
}

/// The sink wrote (and, under `always`, synced) everything it took: wakes
/// the writers waiting on those tickets.
pub fn taken_durable() {
    let mut l = log();
    let upto = l
        .segs
        .iter()
        .map(|s| s.first_ticket)
        .min()
        .map_or(l.tickets, |t| t.saturating_sub(1).min(l.tickets));
    DURABLE.store(upto, Ordering::Release);
    let mut i = 0;
    while i < l.waiters.len() {
        if l.waiters[i].0 <= upto {
            let (_, w) = l.waiters.swap_remove(i);
            let _ = w.send(());
        } else {
            i += 1;
        }
    }
}

impl Seg {
    fn new(kind: SegKind) -> Seg {
        Seg {
            kind,
            buf: Vec::new(),
            cmds: 0,
            first_ticket: u64::MAX,
        }
    }

    fn add(&mut self, rec: &[u8], ticket: u64) {
        self.buf.extend_from_slice(rec);
        self.cmds += 1;
        self.first_ticket = self.first_ticket.min(ticket);
    }

    /// The records: (db, RESP command).
    pub fn records(&self) -> impl Iterator<Item = (usize, &[u8])> {
        let mut at = 0;
        std::iter::from_fn(move || {
            let head = self.buf.get(at..at + 5)?;
            let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
            let rec = self.buf.get(at + 5..at + 5 + len)?;
            let db = head[0] as usize;
            at += 5 + len;
            Some((db, rec))
        })
    }
}

/// Lays segments out as an AOF stream: `SELECT` where the database
/// changes, `MULTI … EXEC` around a transaction of several commands.
/// `db` is the stream's current database (`usize::MAX`: unknown).
pub fn format(segs: &[Seg], db: &mut usize, out: &mut Vec<u8>) {
    for s in segs {
        let wrap = s.kind == SegKind::Closed && s.cmds > 1;
        let mut recs = s.records().peekable();
        if wrap {
            if let Some((d, _)) = recs.peek()
                && *d != *db
            {
                select(out, *d);
                *db = *d;
            }
            encode(out, &["MULTI"]);
        }
        for (d, rec) in recs {
            if d != *db {
                select(out, d);
                *db = d;
            }
            out.extend_from_slice(rec);
        }
        if wrap {
            encode(out, &["EXEC"]);
        }
    }
}

fn select(out: &mut Vec<u8>, db: usize) {
    encode(out, &[&b"SELECT"[..], db.to_string().as_bytes()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(kind: SegKind, recs: &[(usize, &[&str])]) -> Seg {
        let mut s = Seg::new(kind);
        for (i, (db, argv)) in recs.iter().enumerate() {
            let mut rec = vec![*db as u8, 0, 0, 0, 0];
            encode(&mut rec, argv);
            let len = (rec.len() - 5) as u32;
            rec[1..5].copy_from_slice(&len.to_le_bytes());
            s.add(&rec, i as u64 + 1);
        }
        s
    }

    fn resp(cmds: &[&[&str]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in cmds {
            encode(&mut out, c);
        }
        out
    }

    #[test]
    fn format_selects_databases_and_wraps_transactions() {
        let segs = [
            seg(
                SegKind::Plain,
                &[(0, &["SET", "a", "1"]), (3, &["DEL", "b"])],
            ),
            seg(SegKind::Closed, &[(3, &["INCR", "x"]), (0, &["INCR", "y"])]),
            seg(SegKind::Closed, &[(0, &["SET", "z", "1"])]),
        ];
        let mut db = usize::MAX;
        let mut out = Vec::new();
        format(&segs, &mut db, &mut out);
        let want = resp(&[
            &["SELECT", "0"],
            &["SET", "a", "1"],
            &["SELECT", "3"],
            &["DEL", "b"],
            &["MULTI"],
            &["INCR", "x"],
            &["SELECT", "0"],
            &["INCR", "y"],
            &["EXEC"],
            &["SET", "z", "1"],
        ]);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&want)
        );
        assert_eq!(db, 0);
    }
}
