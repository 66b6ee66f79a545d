//! Forkless point-in-time snapshots of one database.
//!
//! `Db::snapshot_begin` records the instant and the dict's slot count; a
//! traversal (`snapshot_step`, run a little at a time by the shard) then
//! serialises every slot position below that count. A write that reaches an
//! entry the traversal has not visited yet serialises it first, as it was, and
//! marks it visited (`before_change`); a key created after the instant marks
//! its slot visited without being serialised (`after_insert`). Slot positions
//! never move in a `Dict`, so one bit per position is the whole bookkeeping. A
//! database emptied meanwhile (FLUSHDB/FLUSHALL) hands its old dict to the
//! snapshot, which finishes from it. The output is RDB key records, taken in
//! chunks that each start with SELECTDB, so chunks of several shards and
//! databases can be written in any interleaving.

use super::dict::Dict;
use super::rdb::{Writer, op};
use super::{Db, Entry};

pub struct DbSnap {
    /// The database's number at the snapshot instant (SWAPDB moves the data,
    /// and its snapshot with it).
    db: u8,
    now: u64,
    /// Slot positions that existed at the instant: 0..limit.
    limit: u32,
    /// One bit per position below `limit`: serialised, or not part of the
    /// snapshot (a hole, or a key created since).
    done: Vec<u64>,
    cursor: u32,
    /// Records not yet taken, after the SELECTDB prefix.
    out: Writer,
    prefix: usize,
    /// The dict as of a FLUSH during the snapshot: traversed instead of the
    /// live one, which then holds only keys newer than the snapshot.
    detached: Option<Dict<Entry>>,
    keys: u64,
}

impl DbSnap {
    #[inline]
    fn is_done(&self, pos: u32) -> bool {
        pos >= self.limit || self.done[(pos / 64) as usize] >> (pos % 64) & 1 == 1
    }

    #[inline]
    fn mark(&mut self, pos: u32) {
        if pos < self.limit {
            self.done[(pos / 64) as usize] |= 1 << (pos % 64);
        }
    }

    fn record(&mut self, key: &[u8], e: &Entry) {
        if !e.is_expired(self.now) {
            self.out.key_value(key, e);
            self.keys += 1;
        }
    }

    fn fresh_out(db: u8, compress: bool) -> (Writer, usize) {
        let mut w = Writer::new(compress);
        w.byte(op::SELECTDB);
        w.length(db as u64);
        let n = w.buf.len();
        (w, n)
    }
}

impl Db {
    /// Starts a snapshot of this database as it is now (`now`: the instant,
    /// for expiry).
    pub fn snapshot_begin(&mut self, now: u64, compress: bool) {
        let limit = self.dict.slot_count() as u32;
        let (out, prefix) = DbSnap::fresh_out(self.id, compress);
        self.snap = Some(Box::new(DbSnap {
            db: self.id,
            now,
            limit,
            done: vec![0; (limit as usize).div_ceil(64)],
            cursor: 0,
            out,
            prefix,
            detached: None,
            keys: 0,
        }));
    }

    /// Before the entry at `pos` changes or goes: if the snapshot still needs
    /// it, serialise it as it is.
    #[inline]
    pub(super) fn before_change(&mut self, pos: u32) {
        if let Some(s) = self.snap.as_deref_mut()
            && s.detached.is_none()
            && !s.is_done(pos)
        {
            if let Some((k, e)) = self.dict.at(pos) {
                s.record(k, e);
            }
            s.mark(pos);
        }
    }

    /// After `key` was created: it is newer than the snapshot.
    #[inline]
    pub(super) fn after_insert(&mut self, key: &[u8]) {
        if let Some(s) = self.snap.as_deref_mut()
            && s.detached.is_none()
            && let Some(p) = self.dict.position(key)
        {
            s.mark(p);
        }
    }

    /// FLUSH during a snapshot: the snapshot keeps the old dict. Returns
    /// false when no snapshot needs it.
    pub(super) fn detach_for_snapshot(&mut self) -> bool {
        match self.snap.as_deref_mut() {
            Some(s) if s.detached.is_none() => {
                s.detached = Some(std::mem::take(&mut self.dict));
                true
            }
            _ => false,
        }
    }

    /// Serialises up to `budget` more slot positions; true once every
    /// position of the snapshot is done (or there is no snapshot).
    pub fn snapshot_step(&mut self, budget: u32) -> bool {
        let Some(s) = self.snap.as_deref_mut() else {
            return true;
        };
        let detached = s.detached.take();
        let dict = detached.as_ref().unwrap_or(&self.dict);
        let end = s.limit.min(s.cursor.saturating_add(budget));
        for pos in s.cursor..end {
            if !s.is_done(pos) {
                if let Some((k, e)) = dict.at(pos) {
                    s.record(k, e);
                }
                s.mark(pos);
            }
        }
        s.cursor = end;
        s.detached = detached;
        s.cursor >= s.limit
    }

    /// The records serialised so far, as a chunk starting with SELECTDB, once
    /// there are at least `min` bytes of them.
    pub fn snapshot_take(&mut self, min: usize) -> Option<Vec<u8>> {
        let s = self.snap.as_deref_mut()?;
        let n = s.out.buf.len() - s.prefix;
        if n == 0 || n < min {
            return None;
        }
        let (fresh, _) = DbSnap::fresh_out(s.db, s.out.compress);
        Some(std::mem::replace(&mut s.out, fresh).buf)
    }

    /// Ends the snapshot; the number of keys it serialised.
    pub fn snapshot_end(&mut self) -> u64 {
        self.snap.take().map_or(0, |s| s.keys)
    }

    pub fn snapshot_active(&self) -> bool {
        self.snap.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::super::rdb::{self, RdbError, Sink};
    use super::super::{Entry, Store, Value};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    type Model = BTreeMap<(usize, Vec<u8>), (Vec<u8>, u64)>;

    fn model(st: &Store, now: u64) -> Model {
        let mut m = Model::new();
        for (i, db) in st.dbs.iter().enumerate() {
            for (k, e) in db.dict.iter() {
                if !e.is_expired(now)
                    && let Value::Str(v) = &e.value
                {
                    m.insert((i, k.to_vec()), (v.clone(), e.expire_at));
                }
            }
        }
        m
    }

    struct Collect(Model);
    impl Sink for Collect {
        fn want(&mut self, _: &[u8]) -> bool {
            true
        }
        fn put(&mut self, db: usize, key: Vec<u8>, e: Entry) -> Result<(), RdbError> {
            let Value::Str(v) = e.value else {
                return Err(RdbError::Corrupt("type".into()));
            };
            if self.0.insert((db, key), (v, e.expire_at)).is_some() {
                return Err(RdbError::Corrupt("duplicate".into()));
            }
            Ok(())
        }
    }

    proptest! {
        /// Whatever writes, deletes, expiries, flushes and swaps interleave
        /// with the traversal, the snapshot holds exactly the keys (and
        /// values, and TTLs) of its instant, each once.
        #[test]
        fn snapshot_is_the_state_of_its_instant(
            before in prop::collection::vec((0u8..3, 0u8..40, 0u8..4), 0..120),
            during in prop::collection::vec((0u8..8, 0u8..60, 0u8..4, 0u8..3), 0..200),
        ) {
            let mut st = Store::default();
            let now = 10_000;
            for (db, k, v) in &before {
                let mut e = Entry::new(Value::Str(vec![*v]));
                if *v == 3 { e.expire_at = 20_000; }
                st.dbs[*db as usize].set_entry(&[b'k', *k], e);
            }
            // Some holes below the limit, too.
            st.dbs[0].remove(b"k\x03");
            let want = model(&st, now);
            for db in st.dbs.iter_mut() {
                db.snapshot_begin(now, true);
            }
            let mut chunks: Vec<Vec<u8>> = Vec::new();
            for (op, k, v, db) in &during {
                let d = *db as usize;
                let key = [b'k', *k];
                match op {
                    0 | 1 => st.dbs[d].set(&key, Value::Str(vec![*v, 9])),
                    2 => { st.dbs[d].remove(&key); }
                    3 => { st.dbs[d].set_expire(&key, 1); st.dbs[d].find(&key, now); }
                    4 => { if let Some(e) = st.dbs[d].get(&key, now) { e.value = Value::Str(vec![7]); } }
                    5 => st.dbs[d].clear(),
                    6 => st.swap_dbs(d, (d + 1) % 3),
                    _ => {
                        for db in st.dbs.iter_mut() {
                            db.snapshot_step(3);
                            if let Some(c) = db.snapshot_take(0) { chunks.push(c); }
                        }
                    }
                }
            }
            for db in st.dbs.iter_mut() {
                while !db.snapshot_step(5) {}
                if let Some(c) = db.snapshot_take(0) { chunks.push(c); }
                db.snapshot_end();
            }
            // Chunks in reverse order: any interleaving is a valid file.
            chunks.reverse();
            let mut w = rdb::Writer::new(false);
            rdb::write_header(&mut w, &[]);
            for c in &chunks { w.buf.extend_from_slice(c); }
            rdb::write_footer(&mut w, true);
            let mut got = Collect(Model::new());
            rdb::load_file(&w.buf, now, &mut got).expect("load");
            prop_assert_eq!(got.0, want);
            prop_assert!(st.dbs.iter().all(|d| !d.snapshot_active()));
        }
    }
}
