//! The encoding thresholds CONFIG SET changes at runtime (`hash-max-listpack-*`,
//! `zset-max-listpack-*`, `set-max-intset-entries`, `hll-sparse-max-bytes`):
//! process-wide atomics, read with one relaxed load where a value decides its
//! encoding. They start at Redis's defaults (the modules' `MAX_*` constants).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

static HASH_ENTRIES: AtomicUsize = AtomicUsize::new(super::hash::MAX_PACK_ENTRIES);
static HASH_VALUE: AtomicUsize = AtomicUsize::new(super::hash::MAX_PACK_VALUE);
static ZSET_ENTRIES: AtomicUsize = AtomicUsize::new(super::zset::MAX_PACK_ENTRIES);
static ZSET_VALUE: AtomicUsize = AtomicUsize::new(super::zset::MAX_PACK_VALUE);
static INTSET_ENTRIES: AtomicUsize = AtomicUsize::new(super::set::MAX_INTSET_ENTRIES);
static HLL_SPARSE_BYTES: AtomicUsize = AtomicUsize::new(super::hll::SPARSE_MAX_BYTES);

/// The thresholds, as the config gives them.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub zset_entries: usize,
    pub zset_value: usize,
    pub intset_entries: usize,
    pub hll_sparse_bytes: usize,
}

pub fn set(l: Limits) {
    HASH_ENTRIES.store(l.hash_entries, Relaxed);
    HASH_VALUE.store(l.hash_value, Relaxed);
    ZSET_ENTRIES.store(l.zset_entries, Relaxed);
    ZSET_VALUE.store(l.zset_value, Relaxed);
    // Redis caps it: an intset holds at most 2^30 members.
    INTSET_ENTRIES.store(l.intset_entries.min(1 << 30), Relaxed);
    HLL_SPARSE_BYTES.store(l.hll_sparse_bytes, Relaxed);
}

#[inline]
pub fn hash_entries() -> usize {
    HASH_ENTRIES.load(Relaxed)
}

#[inline]
pub fn hash_value() -> usize {
    HASH_VALUE.load(Relaxed)
}

#[inline]
pub fn zset_entries() -> usize {
    ZSET_ENTRIES.load(Relaxed)
}

#[inline]
pub fn zset_value() -> usize {
    ZSET_VALUE.load(Relaxed)
}

#[inline]
pub fn intset_entries() -> usize {
    INTSET_ENTRIES.load(Relaxed)
}

#[inline]
pub fn hll_sparse_bytes() -> usize {
    HLL_SPARSE_BYTES.load(Relaxed)
}
