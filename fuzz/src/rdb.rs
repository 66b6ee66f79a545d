//! Fuzzing of the RDB reader, `corekv::store::rdb`, whose input is untrusted (a
//! client's RESTORE payload, a damaged or hostile snapshot file): on any bytes it
//! must return an error rather than panic, allocate without bound or hang.
//!
//! The input is read both ways:
//!
//! - as a DUMP payload, by `restore_payload`, as given and with its trailing
//!   CRC-64 recomputed (so that mutations reach the decoder: libFuzzer cannot forge
//!   a CRC). A value it yields must come back unchanged through `dump_payload`
//!   (compressed and not) and `restore_payload`;
//! - as a whole RDB file, by `load_file` into a sink taking every key, and again
//!   into one taking every other key (the rest are stepped over by `skip_value`).
//!   When the first load succeeds, so must the second, with the same keys for the
//!   ones it took; and the loaded keys, written out again with `Writer`, load back
//!   the same. (A file's checksum stored as 0 is not checked, so mutated files
//!   reach the decoder once their last 8 bytes are 0.)

use corekv::store::rdb::{self, CRC64, RdbError, Sink, Writer};
use corekv::store::{Entry, Value};

/// The fuzz target body: panics when a property is violated.
pub fn check(data: &[u8]) {
    payload(data);
    if data.len() >= 10 {
        let end = data.len() - 8;
        let crc = CRC64.checksum(&data[..end]).to_le_bytes();
        if data[end..] != crc {
            let mut p = data.to_vec();
            p[end..].copy_from_slice(&crc);
            payload(&p);
        }
    }
    file(data);
}

/// `restore_payload` does not panic, and what it restores survives a round trip.
fn payload(p: &[u8]) {
    let Ok(Some(v)) = rdb::restore_payload(p) else {
        return;
    };
    for compress in [true, false] {
        let again = rdb::dump_payload(&v, compress);
        assert_eq!(
            rdb::restore_payload(&again),
            Ok(Some(v.clone())),
            "a restored value changed through dump_payload (compress: {compress}) and restore_payload"
        );
    }
}

/// One key a load handed to its sink.
#[derive(Debug, Clone, PartialEq)]
struct Put {
    /// Which `want` call (0-based) asked for it.
    nth: usize,
    db: usize,
    key: Vec<u8>,
    value: Value,
    expire_at: u64,
}

/// A sink that takes every `every`-th key it is offered (the first included).
struct Collect {
    every: usize,
    asked: usize,
    puts: Vec<Put>,
}

impl Collect {
    fn new(every: usize) -> Self {
        Collect {
            every,
            asked: 0,
            puts: Vec::new(),
        }
    }
}

impl Sink for Collect {
    fn want(&mut self, _key: &[u8]) -> bool {
        self.asked += 1;
        (self.asked - 1).is_multiple_of(self.every)
    }

    fn put(&mut self, db: usize, key: Vec<u8>, entry: Entry) -> Result<(), RdbError> {
        assert!(self.asked > 0, "put without want");
        assert!(db < corekv::store::NUM_DBS, "db {db} out of range");
        self.puts.push(Put {
            nth: self.asked - 1,
            db,
            key,
            value: entry.value,
            expire_at: entry.expire_at,
        });
        Ok(())
    }
}

/// `load_file` does not panic; skipping keys agrees with loading them; what loads
/// survives being written out again.
fn file(data: &[u8]) {
    let mut all = Collect::new(1);
    let loaded = rdb::load_file(data, 0, &mut all);
    let mut half = Collect::new(2);
    let partly = rdb::load_file(data, 0, &mut half);
    let Ok(info) = loaded else {
        return;
    };
    assert!(
        partly.is_ok(),
        "the file loads taking every key, but not skipping every other one: {partly:?}"
    );
    assert_eq!(info.keys as usize, all.puts.len(), "FileInfo::keys");
    assert_eq!(
        half.asked, all.asked,
        "keys offered with and without skipping"
    );
    let taken: Vec<&Put> = all.puts.iter().filter(|p| p.nth % 2 == 0).collect();
    assert_eq!(
        half.puts.iter().collect::<Vec<_>>(),
        taken,
        "skipping every other key changed the keys taken"
    );

    for compress in [true, false] {
        let mut w = Writer::new(compress);
        rdb::write_header(&mut w, &[("redis-ver", b"7.0.15".to_vec())]);
        let mut db = None;
        for p in &all.puts {
            if db != Some(p.db) {
                rdb::write_db_start(&mut w, p.db, 0, 0);
                db = Some(p.db);
            }
            let mut e = Entry::new(p.value.clone());
            e.expire_at = p.expire_at;
            w.key_value(&p.key, &e);
        }
        rdb::write_footer(&mut w, compress);
        let mut again = Collect::new(1);
        if let Err(e) = rdb::load_file(&w.buf, 0, &mut again) {
            panic!("the loaded keys, written out again (compress: {compress}), do not load: {e}");
        }
        let strip = |p: &Put| (p.db, p.key.clone(), p.value.clone(), p.expire_at);
        assert_eq!(
            again.puts.iter().map(strip).collect::<Vec<_>>(),
            all.puts.iter().map(strip).collect::<Vec<_>>(),
            "the loaded keys changed through Writer (compress: {compress}) and load_file"
        );
    }
}
