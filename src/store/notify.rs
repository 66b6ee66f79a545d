//! Keyspace notifications: the events commands and expiry raise, as Redis's
//! `notifyKeyspaceEvent` names them. Raising one only queues it on this
//! thread (a relaxed load and nothing else while `notify-keyspace-events` is
//! off); the shard publishes the queue after each piece of work
//! (`Shard::after_work`), as `__keyspace@<db>__:<key>` and
//! `__keyevent@<db>__:<event>` messages.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use bytes::Bytes;

pub use crate::config::keyspace_events::class;

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
    /// Keys modified since the last `take_modified`, with the client that did
    /// it (0: unknown), for client-side caching invalidation.
    static MODIFIED: RefCell<Vec<(Bytes, u64)>> = const { RefCell::new(Vec::new()) };
    static CALLER: Cell<u64> = const { Cell::new(0) };
}

/// Whether some client tracks keys (CLIENT TRACKING): writes then record the
/// keys they modify.
static TRACKING: AtomicBool = AtomicBool::new(false);

pub fn set_tracking(on: bool) {
    TRACKING.store(on, Ordering::Relaxed);
}

/// The client whose command runs on this thread now (0: none known).
#[inline]
pub fn set_caller(id: u64) {
    CALLER.with(|c| c.set(id));
}

/// The keys modified on this thread since the last call, with who did it.
#[inline]
pub fn take_modified() -> Option<Vec<(Bytes, u64)>> {
    if !TRACKING.load(Ordering::Relaxed) {
        return None;
    }
    let v = MODIFIED.with(|m| std::mem::take(&mut *m.borrow_mut()));
    (!v.is_empty()).then_some(v)
}

/// Raises `event` of `class` on `key` of database `db`, if configured. Every
/// write raises one, so this is also where modified keys are noted for
/// CLIENT TRACKING.
#[inline]
pub fn notify(db: usize, class: u32, event: &'static str, key: &[u8]) {
    if TRACKING.load(Ordering::Relaxed) && class != class::NEW {
        // Expiry and eviction are nobody's write (Redis signals them with no
        // client), so NOLOOP does not hide them.
        let by = if class & (class::EXPIRED | class::EVICTED) != 0 {
            0
        } else {
            CALLER.with(Cell::get)
        };
        MODIFIED.with(|m| m.borrow_mut().push((Bytes::copy_from_slice(key), by)));
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

/// The events raised on this thread since the last call, in order.
#[inline]
pub fn take_events() -> Option<Vec<Event>> {
    if !PENDING.with(|p| p.replace(false)) {
        return None;
    }
    Some(EVENTS.with(|e| std::mem::take(&mut *e.borrow_mut())))
}
