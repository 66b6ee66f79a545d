use super::*;
use proptest::prelude::*;

fn items(l: &List) -> Vec<Vec<u8>> {
    l.iter().map(<[u8]>::to_vec).collect()
}

#[test]
fn inline_size() {
    assert!(std::mem::size_of::<List>() <= 24);
    assert_eq!(std::mem::size_of::<List>(), 8);
    assert_eq!(std::mem::size_of::<Chunk>(), 32);
}

#[test]
fn entry_codec_both_ways() {
    for n in [0usize, 1, 127, 128, 300, 16383, 16384, 70_000, 3_000_000] {
        let v: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let mut buf = vec![0u8; enc_len(n) + 2];
        write_entry(&mut buf[1..], &v);
        let (ds, len, next) = read_fwd(&buf, 1);
        assert_eq!((len, next), (n, 1 + enc_len(n)));
        assert_eq!(&buf[ds..ds + len], &v[..]);
        let (start, ds2, len2) = read_back(&buf, next);
        assert_eq!((start, ds2, len2), (1, ds, n));
    }
}

#[test]
fn basics() {
    let mut l = List::new();
    assert!(l.is_empty());
    assert_eq!(l.pop(true), None);
    l.push(false, b"b");
    l.push(true, b"a");
    l.push(false, b"c");
    assert_eq!(items(&l), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(l.get(1), Some(&b"b"[..]));
    assert_eq!(l.get(3), None);
    assert!(l.set(1, b"BB"));
    assert!(l.insert(b"BB", true, b"x"));
    assert!(!l.insert(b"zz", true, b"x"));
    assert_eq!(l.iter().next_back(), Some(&b"c"[..]));
    assert_eq!(l.remove(b"x", 0), 1);
    assert_eq!(l.pop(false), Some(b"c".to_vec()));
    assert_eq!(l.pop(true), Some(b"a".to_vec()));
    assert_eq!(l.pop(true), Some(b"BB".to_vec()));
    assert!(l.is_empty());
    assert_eq!(l.encoding(), "quicklist");
    l.check();
}

#[test]
fn many_chunks_and_big_elements() {
    let mut l = List::new();
    let mut m: VecDeque<Vec<u8>> = VecDeque::new();
    for i in 0..5000u32 {
        let v = i.to_string().into_bytes();
        if i % 3 == 0 {
            l.push(true, &v);
            m.push_front(v);
        } else {
            l.push(false, &v);
            m.push_back(v);
        }
    }
    let big = vec![b'z'; 20_000];
    l.push(true, &big);
    m.push_front(big.clone());
    assert!(l.set(2500, &big));
    m[2500] = big.clone();
    assert!(l.insert(b"4999", false, &big));
    let p = m.iter().position(|e| e == b"4999").unwrap();
    m.insert(p, big.clone());
    l.check();
    assert_eq!(items(&l), Vec::from(m.clone()));
    for i in [0, 1, 127, 128, 129, 2500, 5000, 5002] {
        assert_eq!(l.get(i), m.get(i).map(|v| &v[..]));
    }
    let r: Vec<&[u8]> = l.range(100, 400).rev().collect();
    let e: Vec<&[u8]> = m.range(100..400).rev().map(|v| &v[..]).collect();
    assert_eq!(r, e);
    assert_eq!(l.remove(&big, -2), 2);
    l.check();
    assert!(l.0.chunks.len() < 5002 / 64);
    let clone = l.clone();
    assert_eq!(clone, l);
    l.trim(10, 4000);
    l.check();
    assert_eq!(l.len(), 5002 - 2 - 4010);
    let got: Vec<Vec<u8>> = clone
        .iter()
        .skip(10)
        .take(l.len())
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(items(&l), got);
    // Pushing many tiny elements stays compact: about 2 bytes of overhead each.
    let mut t = List::new();
    for _ in 0..100_000 {
        t.push(true, b"xxx");
    }
    assert!(t.heap_bytes() < 100_000 * 6, "{}", t.heap_bytes());
    t.check();
}

#[test]
fn pop_each_orders() {
    let mut l = List::from_items((0..300).map(|i: u32| i.to_string()));
    let mut got = vec![];
    assert_eq!(l.pop_each(false, 3, |v| got.push(v.to_vec())), 3);
    assert_eq!(got, vec![b"299".to_vec(), b"298".to_vec(), b"297".to_vec()]);
    got.clear();
    assert_eq!(l.pop_each(true, 200, |v| got.push(v.to_vec())), 200);
    assert_eq!(got[199], b"199".to_vec());
    assert_eq!(l.len(), 97);
    assert_eq!(l.pop_each(true, 1000, |_| {}), 97);
    assert!(l.is_empty());
    l.check();
}

#[test]
fn queue_and_alternating_patterns_stay_bounded() {
    // A queue (push one end, pop the other) and alternating ends keep
    // bounded buffers.
    let mut l = List::new();
    for i in 0..100_000u32 {
        l.push(false, &i.to_le_bytes());
        if i >= 50 {
            l.pop(true);
        }
    }
    assert_eq!(l.len(), 50);
    assert!(l.heap_bytes() < 2048, "{}", l.heap_bytes());
    let mut a = List::new();
    for i in 0..1000u32 {
        a.push(i % 2 == 0, b"abcdef");
    }
    assert!(a.heap_bytes() < 1000 * 8 * 3 / 2, "{}", a.heap_bytes());
    a.check();
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(b'a'..b'e', 0..3),
        1 => prop::collection::vec(any::<u8>(), 100..300),
        1 => Just(vec![b'q'; 9000]),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Push(bool, Vec<u8>),
    PushMany(bool, u16),
    Pop(bool),
    Get(usize),
    Set(usize, Vec<u8>),
    Insert(Vec<u8>, bool, Vec<u8>),
    Remove(Vec<u8>, i64),
    Trim(usize, usize),
    Range(usize, usize, bool),
    PopEach(bool, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), value()).prop_map(|(l, v)| Op::Push(l, v)),
        1 => (any::<bool>(), 0u16..400).prop_map(|(l, n)| Op::PushMany(l, n)),
        3 => any::<bool>().prop_map(Op::Pop),
        2 => (0usize..1000).prop_map(Op::Get),
        2 => (0usize..1000, value()).prop_map(|(i, v)| Op::Set(i, v)),
        2 => (value(), any::<bool>(), value()).prop_map(|(p, a, v)| Op::Insert(p, a, v)),
        2 => (value(), -3i64..4).prop_map(|(v, c)| Op::Remove(v, c)),
        1 => (0usize..300, 0usize..300).prop_map(|(f, b)| Op::Trim(f, b)),
        2 => (0usize..1000, 0usize..1000, any::<bool>()).prop_map(|(s, e, r)| Op::Range(s, e, r)),
        1 => (any::<bool>(), 0usize..200).prop_map(|(l, n)| Op::PopEach(l, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any sequence of operations matches a `VecDeque` model.
    #[test]
    fn matches_vecdeque_model(ops in prop::collection::vec(op(), 1..150)) {
        let mut l = List::new();
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        for op in ops {
            match op {
                Op::Push(left, v) => {
                    l.push(left, &v);
                    if left { m.push_front(v) } else { m.push_back(v) }
                }
                Op::PushMany(left, n) => {
                    for i in 0..n {
                        let v = format!("{}", i % 7).into_bytes();
                        l.push(left, &v);
                        if left { m.push_front(v) } else { m.push_back(v) }
                    }
                }
                Op::Pop(left) => {
                    let e = if left { m.pop_front() } else { m.pop_back() };
                    prop_assert_eq!(l.pop(left), e);
                }
                Op::Get(i) => {
                    let i = if m.is_empty() { i } else { i % (m.len() + 1) };
                    prop_assert_eq!(l.get(i), m.get(i).map(|v| &v[..]));
                }
                Op::Set(i, v) => {
                    let i = if m.is_empty() { i } else { i % (m.len() + 1) };
                    let ok = i < m.len();
                    prop_assert_eq!(l.set(i, &v), ok);
                    if ok { m[i] = v; }
                }
                Op::Insert(p, after, v) => {
                    let pos = m.iter().position(|e| *e == p);
                    prop_assert_eq!(l.insert(&p, after, &v), pos.is_some());
                    if let Some(i) = pos { m.insert(if after { i + 1 } else { i }, v); }
                }
                Op::Remove(v, count) => {
                    let mut removed = 0;
                    let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
                    if count >= 0 {
                        let mut i = 0;
                        while i < m.len() && removed < limit {
                            if m[i] == v { m.remove(i); removed += 1; } else { i += 1; }
                        }
                    } else {
                        let mut i = m.len();
                        while i > 0 && removed < limit {
                            i -= 1;
                            if m[i] == v { m.remove(i); removed += 1; }
                        }
                    }
                    prop_assert_eq!(l.remove(&v, count), removed);
                }
                Op::Trim(f, b) => {
                    l.trim(f, b);
                    for _ in 0..f { m.pop_front(); }
                    for _ in 0..b { m.pop_back(); }
                }
                Op::Range(s, e, rev) => {
                    let n = m.len().max(1);
                    let (s, e) = (s % (n + 1), e % (n + 2));
                    let got: Vec<&[u8]> = if rev { l.range(s, e).rev().collect() } else { l.range(s, e).collect() };
                    let e = e.min(m.len());
                    let want: Vec<&[u8]> = if s >= e { vec![] } else if rev {
                        m.range(s..e).rev().map(|v| &v[..]).collect()
                    } else {
                        m.range(s..e).map(|v| &v[..]).collect()
                    };
                    prop_assert_eq!(l.range(s, e).len(), want.len());
                    prop_assert_eq!(got, want);
                }
                Op::PopEach(left, n) => {
                    let mut got = vec![];
                    let k = l.pop_each(left, n, |v| got.push(v.to_vec()));
                    let mut want = vec![];
                    for _ in 0..n {
                        let e = if left { m.pop_front() } else { m.pop_back() };
                        match e { Some(e) => want.push(e), None => break }
                    }
                    prop_assert_eq!(k, want.len());
                    prop_assert_eq!(got, want);
                }
            }
            l.check();
            prop_assert_eq!(l.len(), m.len());
            prop_assert_eq!(items(&l), Vec::from(m.clone()));
            // Mixed-direction iteration meets in the middle.
            let mut it = l.iter();
            let mut front = vec![];
            let mut back = vec![];
            while let Some(v) = it.next() {
                front.push(v.to_vec());
                match it.next_back() {
                    Some(v) => back.push(v.to_vec()),
                    None => break,
                }
            }
            back.reverse();
            front.extend(back);
            prop_assert_eq!(front, Vec::from(m.clone()));
        }
    }
}
