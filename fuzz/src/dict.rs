//! Model-based fuzzing of `corekv::store::dict::Dict<u32>` against `HashMap`.
//!
//! The input is an op program: each op is one byte (op code) followed by its
//! operands (a key byte, value bytes, ...); missing bytes read as zero. Besides
//! agreeing with the model after every op, it checks the documented guarantees:
//! positions are stable while a key is present, `random` returns a present entry,
//! and a SCAN walk interleaved with other ops returns every key that was present
//! for the whole walk.

use std::collections::{HashMap, HashSet};

use corekv::store::dict::Dict;

struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn more(&self) -> bool {
        self.pos < self.data.len()
    }
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// Small key space (~190 distinct keys, lengths 0..=5) so ops collide often.
    fn key(&mut self) -> Vec<u8> {
        let b = self.u8();
        let len = usize::from(b % 6);
        let mut k = vec![b'k'; len];
        if let Some(last) = k.last_mut() {
            *last = b / 6;
        }
        k
    }
}

/// An in-progress SCAN: the cursor, keys returned so far, and keys present
/// continuously since the walk began (those must all be returned).
struct Walk {
    cursor: u64,
    seen: HashSet<Vec<u8>>,
    must_see: HashSet<Vec<u8>>,
}

/// The fuzz target body: panics when a property is violated.
pub fn check(data: &[u8]) {
    let mut inp = Input { data, pos: 0 };
    let mut d: Dict<u32> = Dict::new();
    let mut m: HashMap<Vec<u8>, u32> = HashMap::new();
    // Position of each present key when it was inserted: must not change.
    let mut pos_of: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut walk: Option<Walk> = None;
    let mut rng_state = 0x2545_F491_4F6C_DD1Du64;

    // Records that `k` left the dict (so it is no longer "present throughout").
    fn gone(walk: &mut Option<Walk>, pos_of: &mut HashMap<Vec<u8>, u32>, k: &[u8]) {
        pos_of.remove(k);
        if let Some(w) = walk {
            w.must_see.remove(k);
        }
    }

    let mut ops = 0usize;
    while inp.more() && ops < 10_000 {
        ops += 1;
        match inp.u8() % 14 {
            0 => {
                let (k, v) = (inp.key(), inp.u32());
                assert_eq!(d.insert(&k, v), m.insert(k.clone(), v));
            }
            1 => {
                let (k, v) = (inp.key(), inp.u32());
                assert_eq!(
                    d.insert_owned(k.clone().into_boxed_slice(), v),
                    m.insert(k.clone(), v)
                );
            }
            2 => {
                let k = inp.key();
                assert_eq!(d.get(&k), m.get(&k));
                assert_eq!(d.contains_key(&k), m.contains_key(&k));
            }
            3 => {
                let (k, add) = (inp.key(), inp.u32());
                match (d.get_mut(&k), m.get_mut(&k)) {
                    (Some(a), Some(b)) => {
                        assert_eq!(*a, *b);
                        *a = a.wrapping_add(add);
                        *b = b.wrapping_add(add);
                    }
                    (None, None) => {}
                    (a, b) => panic!("get_mut mismatch: {a:?} vs {b:?}"),
                }
            }
            4 => {
                let k = inp.key();
                let got = d.remove(&k);
                let want = m.remove(&k);
                assert_eq!(got.as_ref().map(|(_, v)| *v), want);
                if let Some((rk, _)) = got {
                    assert_eq!(&*rk, &k[..]);
                }
                gone(&mut walk, &mut pos_of, &k);
            }
            5 => {
                let (k, v) = (inp.key(), inp.u32());
                let (got, created) = d.get_or_insert_with(&k, || v);
                assert_eq!(created, !m.contains_key(&k));
                let want = *m.entry(k.clone()).or_insert(v);
                assert_eq!(*got, want);
            }
            6 => {
                // position/at agree, and positions are stable.
                let k = inp.key();
                match d.position(&k) {
                    Some(p) => {
                        let (ak, av) = d.at(p).expect("position of a hole");
                        assert_eq!(ak, &k[..]);
                        assert_eq!(Some(av), m.get(&k));
                        assert!((p as usize) < d.slot_count());
                    }
                    None => assert!(!m.contains_key(&k)),
                }
            }
            7 => {
                // remove_at an arbitrary position: a key, a hole or out of range.
                let p = u32::from(inp.u8()) % (d.slot_count() as u32 + 2);
                let expect = d.at(p).map(|(k, v)| (k.to_vec(), *v));
                let got = d.remove_at(p);
                assert_eq!(got.as_ref().map(|(k, v)| (k.to_vec(), *v)), expect);
                if let Some((k, v)) = expect {
                    assert_eq!(m.remove(&k), Some(v));
                    gone(&mut walk, &mut pos_of, &k);
                }
            }
            8 => {
                let mut r = || {
                    rng_state ^= rng_state << 13;
                    rng_state ^= rng_state >> 7;
                    rng_state ^= rng_state << 17;
                    rng_state
                };
                match d.random(&mut r) {
                    Some((p, k, v)) => {
                        assert_eq!(m.get(k), Some(v));
                        assert_eq!(d.position(k), Some(p));
                    }
                    None => assert!(m.is_empty()),
                }
            }
            9 => {
                // A complete SCAN with no interleaved writes returns every key exactly once.
                let count = usize::from(inp.u8() % 8);
                let mut seen = Vec::new();
                let mut cursor = 0u64;
                let mut steps = 0usize;
                loop {
                    cursor = d.scan(cursor, count, |k, v| {
                        assert_eq!(m.get(k), Some(v));
                        seen.push(k.to_vec());
                    });
                    steps += 1;
                    assert!(steps <= d.slot_count() + 1, "scan does not advance");
                    if cursor == 0 {
                        break;
                    }
                }
                let unique: HashSet<_> = seen.iter().cloned().collect();
                assert_eq!(unique.len(), seen.len(), "scan returned a key twice");
                assert_eq!(unique.len(), m.len(), "scan missed keys");
            }
            10 => {
                // One step of an interleaved SCAN walk.
                let count = usize::from(inp.u8() % 4);
                let w = walk.get_or_insert_with(|| Walk {
                    cursor: 0,
                    seen: HashSet::new(),
                    must_see: m.keys().cloned().collect(),
                });
                let seen = &mut w.seen;
                w.cursor = d.scan(w.cursor, count, |k, _| {
                    seen.insert(k.to_vec());
                });
                if w.cursor == 0 {
                    let missed: Vec<_> = w.must_see.difference(&w.seen).collect();
                    assert!(
                        missed.is_empty(),
                        "SCAN walk missed keys present throughout: {missed:?}"
                    );
                    walk = None;
                }
            }
            11 => {
                let modulus = u32::from(inp.u8() % 5) + 2;
                let mut dropped = Vec::new();
                d.retain(|k, v| {
                    let keep = *v % modulus != 0;
                    if !keep {
                        dropped.push(k.to_vec());
                    }
                    keep
                });
                m.retain(|_, v| *v % modulus != 0);
                for k in dropped {
                    gone(&mut walk, &mut pos_of, &k);
                }
            }
            12 => {
                // Rare: clear.
                if inp.u8() == 0xff {
                    d.clear();
                    m.clear();
                    pos_of.clear();
                    if let Some(w) = &mut walk {
                        w.must_see.clear();
                    }
                }
            }
            _ => {
                let mut all: Vec<_> = d.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
                all.sort();
                let mut want: Vec<_> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
                want.sort();
                assert_eq!(all, want);
                for (_, v) in d.iter_mut() {
                    *v ^= 1;
                }
                for v in m.values_mut() {
                    *v ^= 1;
                }
            }
        }
        assert_eq!(d.len(), m.len());
        assert_eq!(d.is_empty(), m.is_empty());
        assert!(d.slot_count() >= d.len());
        // Positions never move while a key stays present.
        for k in m.keys() {
            let p = d.position(k).expect("present key has no position");
            let old = *pos_of.entry(k.clone()).or_insert(p);
            assert_eq!(old, p, "key {k:?} moved from {old} to {p}");
        }
        let _ = d.overhead_bytes();
    }
    let mut all: Vec<_> = d.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
    all.sort();
    let mut want: Vec<_> = m.into_iter().collect();
    want.sort();
    assert_eq!(all, want);
}
