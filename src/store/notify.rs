//! Keyspace notifications: the events commands and expiry raise, as Redis's
//! `notifyKeyspaceEvent` names them. Raising one only queues it on this
//! thread (a relaxed load and nothing else while `notify-keyspace-events` is
//! off); the shard publishes the queue after each piece of work
//! (`Shard::after_work`), as `__keyspace@<db>__:<key>` and
//! `__keyevent@<db>__:<event>` messages.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering};

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
}

/// Raises `event` of `class` on `key` of database `db`, if configured.
#[inline]
pub fn notify(db: usize, class: u32, event: &'static str, key: &[u8]) {
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
