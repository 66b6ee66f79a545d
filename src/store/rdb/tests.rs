use super::*;
use crate::store::NUM_DBS;

fn values() -> Vec<Value> {
    let mut big_set = Set::new();
    let mut ints = Set::new();
    for i in 0..700 {
        big_set.insert(format!("m{i}").as_bytes());
        ints.insert(i.to_string().as_bytes());
    }
    let mut h = Hash::new();
    h.set(b"f", b"v");
    h.set(b"n", b"-12");
    let mut big_h = Hash::new();
    for i in 0..600 {
        big_h.set(format!("f{i}").as_bytes(), &[b'v'; 70]);
    }
    vec![
        Value::Str(b"hello".to_vec()),
        Value::Str(b"-2147483648".to_vec()),
        Value::Str(b"2147483648".to_vec()),
        Value::Str(b"007".to_vec()),
        Value::Str(vec![b'z'; 5000]),
        Value::Str(Vec::new()),
        Value::List(List::from_items(["a", "1", "", "-9"])),
        Value::List(List::from_items((0..3000).map(|i| i.to_string()))),
        Value::Set(big_set),
        Value::Set(ints),
        Value::Hash(h),
        Value::Hash(big_h),
        Value::ZSet(ZSet::from_pairs(vec![
            (b"a".to_vec(), 1.5),
            (b"b".to_vec(), f64::NEG_INFINITY),
            (b"c".to_vec(), f64::INFINITY),
            (b"d".to_vec(), -0.0),
        ])),
        Value::ZSet(ZSet::from_pairs(
            (0..500)
                .map(|i| (format!("m{i}").into_bytes(), i as f64 / 7.0))
                .collect(),
        )),
    ]
}

#[test]
fn payloads_round_trip() {
    for compress in [false, true] {
        for v in values() {
            let p = dump_payload(&v, compress);
            assert_eq!(restore_payload(&p), Ok(Some(v.clone())));
        }
    }
}

#[test]
fn crc_is_redis_crc64() {
    assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
}

#[test]
fn small_strings_are_integer_encoded_as_redis_does() {
    let p = dump_payload(&Value::Str(b"5".to_vec()), true);
    assert_eq!(&p[..3], &[ty::STRING, 0xC0, 5]);
    // Not canonical: stays a string.
    let p = dump_payload(&Value::Str(b"05".to_vec()), true);
    assert_eq!(&p[..4], &[ty::STRING, 2, b'0', b'5']);
}

#[test]
fn damaged_payloads_are_errors_never_panics() {
    for v in values() {
        let p = dump_payload(&v, true);
        for cut in 0..p.len().min(300) {
            let _ = restore_payload(&p[..cut]);
        }
        for i in (0..p.len()).step_by(p.len() / 50 + 1) {
            let mut q = p.clone();
            q[i] ^= 0x5A;
            assert!(
                restore_payload(&q).is_err(),
                "flip at {i} passed the checksum"
            );
        }
    }
}

struct Collect(Vec<(usize, Vec<u8>, Entry)>);

impl Sink for Collect {
    fn want(&mut self, _: &[u8]) -> bool {
        true
    }
    fn put(&mut self, db: usize, key: Vec<u8>, entry: Entry) -> Result<(), RdbError> {
        self.0.push((db, key, entry));
        Ok(())
    }
}

fn file_of(entries: &[(usize, &[u8], Value, u64)], checksum: bool) -> Vec<u8> {
    let mut w = Writer::new(true);
    write_header(&mut w, &[("redis-ver", b"7.0.15".to_vec())]);
    for db in 0..NUM_DBS {
        let mine: Vec<_> = entries.iter().filter(|e| e.0 == db).collect();
        if mine.is_empty() {
            continue;
        }
        write_db_start(&mut w, db, mine.len() as u64, 0);
        for (_, k, v, at) in mine {
            let mut e = Entry::new(v.clone());
            e.expire_at = *at;
            w.key_value(k, &e);
        }
    }
    write_footer(&mut w, checksum);
    w.buf
}

#[test]
fn files_round_trip_and_skip_expired_keys() {
    let vals = values();
    let mut entries: Vec<(usize, &[u8], Value, u64)> = Vec::new();
    for (i, v) in vals.iter().enumerate() {
        entries.push((i % 3 * 5, b"k", v.clone(), 0));
    }
    entries.push((0, b"gone", Value::Str(b"x".to_vec()), 1000));
    entries.push((0, b"later", Value::Str(b"x".to_vec()), u64::MAX / 2));
    for checksum in [true, false] {
        let f = file_of(&entries, checksum);
        let mut c = Collect(Vec::new());
        let info = load_file(&f, 5000, &mut c).expect("load");
        assert_eq!(info.keys as usize, vals.len() + 1);
        assert_eq!(info.expired_skipped, 1);
        let mut got: Vec<_> =
            c.0.iter()
                .filter(|e| e.1 == b"k")
                .map(|e| (e.0, e.2.value.clone()))
                .collect();
        let mut want: Vec<_> = entries
            .iter()
            .filter(|e| e.1 == b"k")
            .map(|e| (e.0, e.2.clone()))
            .collect();
        got.sort_by_key(|x| x.0);
        want.sort_by_key(|x| x.0);
        assert_eq!(got.len(), want.len());
        assert!(
            c.0.iter()
                .any(|e| e.1 == b"later" && e.2.expire_at == u64::MAX / 2)
        );
    }
}

#[test]
fn damaged_files_are_errors_never_panics() {
    let entries: Vec<(usize, &[u8], Value, u64)> = values()
        .into_iter()
        .map(|v| (0usize, &b"k"[..], v, 0u64))
        .collect();
    for checksum in [true, false] {
        let f = file_of(&entries, checksum);
        for cut in (0..f.len()).step_by(f.len() / 400 + 1) {
            let mut c = Collect(Vec::new());
            assert!(load_file(&f[..cut], 0, &mut c).is_err(), "cut at {cut}");
        }
        for i in (9..f.len()).step_by(f.len() / 400 + 1) {
            let mut g = f.clone();
            g[i] ^= 0xA5;
            let mut c = Collect(Vec::new());
            let r = load_file(&g, 0, &mut c);
            if checksum {
                assert!(r.is_err(), "flip at {i} loaded");
            }
        }
    }
}

#[test]
fn duplicate_members_are_corrupt() {
    let mut w = Writer::new(false);
    w.byte(ty::SET);
    w.length(2);
    w.string(b"a");
    w.string(b"a");
    let mut r = Reader::new(&w.buf[1..]);
    assert!(r.value(ty::SET).is_err());
    let mut w = Writer::new(false);
    w.length(2);
    for _ in 0..2 {
        w.string(b"m");
        w.buf.extend_from_slice(&1f64.to_le_bytes());
    }
    assert!(Reader::new(&w.buf).value(ty::ZSET_2).is_err());
}
