//! DEBUG DIGEST and DIGEST-VALUE exactly as Redis computes them (`debug.c`), so
//! the same dataset gives the same 40 hex digits on corekv and on redis-server:
//! the cheapest whole-dataset equality check between the two.
//!
//! `xor(d, data)`: d ^= SHA1(data) (order-free); `mix(d, data)`: the same, then
//! d = SHA1(d) (order-sensitive). A key's digest mixes the key, the type and the
//! value (list elements mixed in order; set members, hash fields and zset
//! members xored in), plus "!!expire!!" if it has a TTL; a database's digest is
//! the xor of its keys', so shards' parts combine.

use super::{Db, Entry, Value};

pub type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

pub fn xor(d: &mut Digest, data: &[u8]) {
    for (a, b) in d.iter_mut().zip(sha1(data)) {
        *a ^= b;
    }
}

fn mix(d: &mut Digest, data: &[u8]) {
    xor(d, data);
    *d = sha1(d);
}

/// Redis's `xorObjectDigest`, from a zeroed digest (DIGEST-VALUE's unit).
pub fn value_digest(e: &Entry) -> Digest {
    let mut d = [0u8; 20];
    add_value(&mut d, e);
    d
}

fn add_value(d: &mut Digest, e: &Entry) {
    let ty: u32 = match &e.value {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
    };
    mix(d, &ty.to_be_bytes());
    match &e.value {
        Value::Str(s) => mix(d, s),
        Value::List(l) => l.iter().for_each(|x| mix(d, x)),
        Value::Set(s) => s.for_each(|m| xor(d, m)),
        Value::ZSet(z) => z.for_each_in_order(|m, score| {
            let mut el = [0u8; 20];
            mix(&mut el, m);
            mix(&mut el, crate::num::format_g(score, 17).as_bytes());
            xor(d, &el);
        }),
        Value::Hash(h) => h.for_each(|f, v| {
            let mut el = [0u8; 20];
            mix(&mut el, f);
            mix(&mut el, v);
            xor(d, &el);
        }),
    }
    if e.expire_at != 0 {
        xor(d, b"!!expire!!");
    }
}

/// The xor of every key's digest in `db`, logically expired keys included (as
/// Redis walks its dict); `None` for an empty database.
pub fn db_digest(db: &Db) -> Option<Digest> {
    if db.is_empty() {
        return None;
    }
    let mut total = [0u8; 20];
    for (k, e) in db.dict().iter() {
        let mut d = [0u8; 20];
        mix(&mut d, k);
        add_value(&mut d, e);
        // Redis's `xorDigest(final, digest, 20)`: the key's digest hashed in.
        xor(&mut total, &d);
    }
    Some(total)
}

/// Redis's `computeDatasetDigest` from each database's combined digest (xor
/// over shards; `None`: empty everywhere).
pub fn dataset_digest(dbs: &[Option<Digest>]) -> Digest {
    let mut fin = [0u8; 20];
    for (i, d) in dbs.iter().enumerate() {
        if let Some(d) = d {
            mix(&mut fin, &(i as u32).to_be_bytes());
            for (a, b) in fin.iter_mut().zip(d) {
                *a ^= b;
            }
        }
    }
    fin
}

pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
