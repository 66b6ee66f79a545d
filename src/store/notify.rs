//! Keyspace notifications: the events commands and expiry raise, as Redis's
//! `notifyKeyspaceEvent` names them. Raising one only queues it on this
//! thread (a relaxed load and nothing else while `notify-keyspace-events` is
//! off); the shard publishes the queue after each piece of work
//! (`Shard::after_work`), as `__keyspace@<db>__:<key>` and
//! `__keyevent@<db>__:<event>` messages.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use bytes::Bytes;

pub use crate::config::events::class;

/// The process's `notify-keyspace-events`, as flags.
static FLAGS: AtomicU32 = AtomicU32::new(0);

pub fn set_flags(flags: u32) {
    FLAGS.store(flags, Ordering::Relaxed);
}

/// One raised event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub db: u8,
    pub event: &'static str,
    pub key: Bytes,
    /// Which channels carry it (`KEYSPACE`, `KEYEVENT` or both).
    pub channels: u32,
}

thread_local! {
    static EVENTS: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
    static PENDING: Cell<bool> = const { Cell::new(false) };
    /// Keys modified since the last `take_modified`, for client-side caching
    /// invalidation and WATCH.
    static MODIFIED: RefCell<Vec<Modified>> = const { RefCell::new(Vec::new()) };
    static CALLER: Cell<u64> = const { Cell::new(0) };
    /// Writes on this thread since it started (Redis's `server.dirty`, per
    /// shard): save points and `rdb_changes_since_last_save` read it.
    static DIRTY: Cell<u64> = const { Cell::new(0) };
}

/// Counts a change that is not a key's (FUNCTION LOAD) as a write.
pub fn mark_dirty() {
    DIRTY.with(|d| d.set(d.get() + 1));
}

/// This thread's write counter (see `DIRTY`).
#[inline]
pub fn dirty() -> u64 {
    DIRTY.with(Cell::get)
}

/// Whether writes are journaled (`shard::journal`): expiry and eviction then
/// note the keys they remove, for the journal to record as `DEL`s.
static JOURNALING: AtomicBool = AtomicBool::new(false);

thread_local! {
    static EXPIRED: RefCell<Vec<(u8, Bytes)>> = const { RefCell::new(Vec::new()) };
}

pub fn set_journaling(on: bool) {
    JOURNALING.store(on, Ordering::Relaxed);
}

#[inline]
pub fn journaling() -> bool {
    JOURNALING.load(Ordering::Relaxed)
}

/// Keys expiry or eviction removed on this thread since the last call.
#[inline]
pub fn take_expired() -> Option<Vec<(u8, Bytes)>> {
    EXPIRED.with(|e| {
        let mut e = e.borrow_mut();
        (!e.is_empty()).then(|| std::mem::take(&mut *e))
    })
}

/// A key a write modified (Redis's `signalModifiedKey`).
#[derive(Debug, Clone)]
pub struct Modified {
    pub db: u8,
    pub key: Bytes,
    /// The client whose command did it (0: nobody, or unknown).
    pub by: u64,
    /// Deleted by expiry or eviction: absent from that moment on.
    pub expired: bool,
}

/// Whether some client tracks keys (CLIENT TRACKING): writes then record the
/// keys they modify.
static TRACKING: AtomicBool = AtomicBool::new(false);
/// Keys WATCHed by some client, process-wide: writes record them too.
static WATCHED: AtomicUsize = AtomicUsize::new(0);

pub fn set_tracking(on: bool) {
    TRACKING.store(on, Ordering::Relaxed);
}

#[inline]
pub fn tracking() -> bool {
    TRACKING.load(Ordering::Relaxed)
}

/// `n` more (or, negative, fewer) watched keys in the process.
pub fn count_watched(n: isize) {
    if n >= 0 {
        WATCHED.fetch_add(n as usize, Ordering::Relaxed);
    } else {
        WATCHED.fetch_sub(n.unsigned_abs(), Ordering::Relaxed);
    }
}

/// Whether writes must note the keys they modify.
#[inline]
fn recording() -> bool {
    TRACKING.load(Ordering::Relaxed) || WATCHED.load(Ordering::Relaxed) != 0
}

/// The client whose command runs on this thread now (0: none known).
#[inline]
pub fn set_caller(id: u64) {
    CALLER.with(|c| c.set(id));
}

/// The keys modified on this thread since the last call, with who did it.
#[inline]
pub fn take_modified() -> Option<Vec<Modified>> {
    if !recording() {
        return None;
    }
    let v = MODIFIED.with(|m| std::mem::take(&mut *m.borrow_mut()));
    (!v.is_empty()).then_some(v)
}

/// Raises `event` of `class` on `key` of database `db`, if configured. Every
/// write raises one, so this is also where modified keys are noted for
/// CLIENT TRACKING and WATCH.
#[inline]
pub fn notify(db: usize, class: u32, event: &'static str, key: &[u8]) {
    if class & (class::NEW | class::EXPIRED | class::EVICTED | class::KEY_MISS) == 0 {
        DIRTY.with(|d| d.set(d.get() + 1));
    }
    if class & (class::EXPIRED | class::EVICTED) != 0 && journaling() {
        EXPIRED.with(|e| e.borrow_mut().push((db as u8, Bytes::copy_from_slice(key))));
    }
    if class != class::NEW && recording() {
        // Expiry and eviction are nobody's write (Redis signals them with no
        // client), so NOLOOP does not hide them.
        let expired = class & (class::EXPIRED | class::EVICTED) != 0;
        let by = if expired { 0 } else { CALLER.with(Cell::get) };
        MODIFIED.with(|m| {
            m.borrow_mut().push(Modified {
                db: db as u8,
                key: Bytes::copy_from_slice(key),
                by,
                expired,
            })
        });
    }
    let flags = FLAGS.load(Ordering::Relaxed);
    if flags & class == 0 || flags & (class::KEYSPACE | class::KEYEVENT) == 0 {
        return;
    }
    EVENTS.with(|e| {
        e.borrow_mut().push(Event {
            db: db as u8,
            event,
            key: Bytes::copy_from_slice(key),
            channels: flags & (class::KEYSPACE | class::KEYEVENT),
        })
    });
    PENDING.with(|p| p.set(true));
}

thread_local! {
    /// Set while transaction work runs: its events stay queued for the
    /// transaction's coordinator to publish (see `Shard::after_work`).
    static DEFER: Cell<bool> = const { Cell::new(false) };
}

/// Holds (true) or releases (false) this thread's events for the caller.
pub fn defer_events(on: bool) {
    DEFER.with(|d| d.set(on));
}

/// Whether events are being held for a transaction's coordinator.
#[inline]
pub fn events_deferred() -> bool {
    DEFER.with(Cell::get)
}

/// The events raised on this thread since the last call, in order.
#[inline]
pub fn take_events() -> Option<Vec<Event>> {
    if !PENDING.with(|p| p.replace(false)) {
        return None;
    }
    Some(EVENTS.with(|e| std::mem::take(&mut *e.borrow_mut())))
}
