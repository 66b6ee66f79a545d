//! Expected values below were checked against a real redis-server 7.0.15.
use super::*;
use proptest::prelude::*;

fn bf(args: &[&str], ro: bool, s: &mut Vec<u8>) -> Result<Vec<Option<i64>>, BitsError> {
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    parse_bitfield(&argv, ro).map(|p| p.execute(s))
}

#[test]
fn error_texts() {
    // Checked against Redis 7: each message is the reply text minus '-' and CRLF.
    let mut s = Vec::new();
    assert_eq!(
        bf(&["get", "u64", "0"], false, &mut s)
            .unwrap_err()
            .message(),
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
    );
    for t in ["i65", "i0", "I8", "u8x", "u", "u-1", "u08"] {
        assert_eq!(
            bf(&["get", t, "0"], false, &mut s),
            Err(BitsError::BitfieldType)
        );
    }
    for o in [
        "-1",
        "#-1",
        "#536870912",
        "4294967296",
        "#",
        "01",
        "+1",
        " 1",
        "",
    ] {
        assert_eq!(
            bf(&["get", "u8", o], false, &mut s),
            Err(BitsError::BitOffset),
            "{o}"
        );
    }
    assert_eq!(
        bf(&["set", "u8", "0", "abc"], false, &mut s),
        Err(BitsError::NotInteger)
    );
    assert_eq!(
        bf(&["set", "u8", "0", "01"], false, &mut s),
        Err(BitsError::NotInteger)
    );
    assert_eq!(
        bf(&["overflow", "foo"], false, &mut s),
        Err(BitsError::OverflowType)
    );
    assert_eq!(
        BitsError::OverflowType.message(),
        "ERR Invalid OVERFLOW type specified"
    );
    for a in [
        &["foo"][..],
        &["get", "u8"],
        &["overflow"],
        &["get", "u8", "0", "overflow"],
        &["set", "u8", "0"],
        &["incrby", "u8", "0"],
    ] {
        assert_eq!(bf(a, false, &mut s), Err(BitsError::Syntax), "{a:?}");
    }
    assert_eq!(BitsError::Syntax.message(), "ERR syntax error");
    assert_eq!(
        bf(&["set", "u8", "0", "1"], true, &mut s),
        Err(BitsError::BitfieldRo)
    );
    assert_eq!(
        BitsError::BitfieldRo.message(),
        "ERR BITFIELD_RO only supports the GET subcommand"
    );
    // Parse errors win over the BITFIELD_RO check.
    assert_eq!(
        bf(&["set", "i8", "0", "1", "get", "u65", "0"], true, &mut s),
        Err(BitsError::BitfieldType)
    );
    assert_eq!(
        bf(&["overflow", "sat", "get", "u8", "0"], true, &mut s),
        Ok(vec![Some(0)])
    );
    assert!(s.is_empty());
    assert_eq!(
        parse_bit_offset(b"4294967296", false, 0)
            .unwrap_err()
            .message(),
        "ERR bit offset is not an integer or out of range"
    );
    assert_eq!(parse_bit_offset(b"4294967295", false, 0), Ok(4294967295));
    assert_eq!(parse_bit_offset(b"#1", false, 8), Err(BitsError::BitOffset));
    // Redis multiplies '#' offsets with wrap-around: 2^61 * 8 wraps to 0.
    assert_eq!(parse_bit_offset(b"#2305843009213693952", true, 8), Ok(0));
    assert_eq!(parse_bit_offset(b"#536870911", true, 8), Ok(4294967288));
    assert_eq!(
        parse_setbit_value(b"2").unwrap_err().message(),
        "ERR bit is not an integer or out of range"
    );
    assert_eq!(parse_setbit_value(b"-1"), Err(BitsError::BitValue));
    assert_eq!(parse_setbit_value(b"abc"), Err(BitsError::BitValue));
    assert_eq!(
        parse_bitpos_bit(b"2").unwrap_err().message(),
        "ERR The bit argument must be 1 or 0."
    );
    assert_eq!(
        parse_bitpos_bit(b"abc").unwrap_err().message(),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        check_bitop_sources(BitOp::Not, 2).unwrap_err().message(),
        "ERR BITOP NOT must be called with a single source key."
    );
    assert_eq!(
        check_string_len(MAX_STRING_BYTES + 1)
            .unwrap_err()
            .message(),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(check_string_len(MAX_STRING_BYTES), Ok(()));
    assert_eq!(
        lcs_check_sizes(12000, 12000).unwrap_err().message(),
        "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
    );
    assert_eq!(
        BitsError::LcsIdxAndLen.message(),
        "ERR If you want both the length and indexes, please just use IDX."
    );
}

#[test]
fn string2ll_is_strict() {
    assert_eq!(string2ll(b"0"), Some(0));
    assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
    assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
    for bad in [
        &b"9223372036854775808"[..],
        b"-0",
        b"00",
        b"+1",
        b"1 ",
        b"-",
        b"",
        b"1a",
    ] {
        assert_eq!(string2ll(bad), None);
    }
}

#[test]
fn getbit_setbit() {
    let mut s = Vec::new();
    assert_eq!(setbit(&mut s, 7, true), 0);
    assert_eq!(s, vec![1]);
    assert_eq!(setbit(&mut s, 7, false), 1);
    assert_eq!(setbit(&mut s, 17, true), 0);
    assert_eq!(s, vec![0, 0, 0x40]);
    assert_eq!(getbit(&s, 17), 1);
    assert_eq!(getbit(&s, 4294967295), 0);
    assert_eq!(getbit(&s, u64::MAX), 0);
    assert_eq!(setbit(&mut s, MAX_STRING_BITS, true), 0);
    assert_eq!(s.len(), 3);
}

#[test]
fn ranges_and_bitcount() {
    // GETRANGE "This is a string".
    let s = b"This is a string";
    let gr = |a, b| normalize_range(a, b, s.len() as i64).map(|(x, y)| &s[x..=y]);
    assert_eq!(gr(0, 3), Some(&b"This"[..]));
    assert_eq!(gr(-3, -1), Some(&b"ing"[..]));
    assert_eq!(gr(0, -1), Some(&s[..]));
    assert_eq!(gr(10, 100), Some(&b"string"[..]));
    assert_eq!(gr(-20, -30), None);
    assert_eq!(normalize_range(0, 0, 0), None);
    // BITCOUNT "foobar".
    let f = b"foobar";
    assert_eq!(bitcount(f, None, false), 26);
    assert_eq!(bitcount(f, Some((0, 0)), false), 4);
    assert_eq!(bitcount(f, Some((1, 1)), false), 6);
    assert_eq!(bitcount(f, Some((1, 1)), true), 1);
    assert_eq!(bitcount(f, Some((5, 30)), true), 17);
    assert_eq!(bitcount(b"\xff\xf0\x00", Some((-20, -30)), false), 0);
    assert_eq!(bitcount(b"", Some((0, 0)), false), 0);
    assert_eq!(bitcount(b"", None, false), 0);
}

#[test]
fn bitpos_cases() {
    let a = b"\xff\xf0\x00";
    assert_eq!(bitpos(a, 0, None, None, false), 12);
    // BITPOS has no "both negative" shortcut: -20 -30 clamps to byte 0.
    assert_eq!(bitpos(a, 1, Some(-20), Some(-30), false), 0);
    assert_eq!(bitpos(a, 0, Some(-20), Some(-30), false), -1);
    let b = b"\x00\xff\xf0";
    assert_eq!(bitpos(b, 1, Some(0), None, false), 8);
    assert_eq!(bitpos(b, 1, Some(2), None, false), 16);
    assert_eq!(bitpos(b, 1, Some(2), Some(-1), false), 16);
    assert_eq!(bitpos(b, 1, Some(7), Some(15), true), 8);
    assert_eq!(bitpos(b, 1, Some(7), Some(-3), true), 8);
    assert_eq!(bitpos(b"\x00\x00\x00", 1, None, None, false), -1);
    assert_eq!(bitpos(b"\x00\x00\x00", 0, Some(1), None, false), 8);
    let f = b"\xff\xff";
    assert_eq!(bitpos(f, 0, None, None, false), 16);
    assert_eq!(bitpos(f, 0, Some(0), None, false), 16);
    assert_eq!(bitpos(f, 0, Some(0), Some(-1), false), -1);
    assert_eq!(bitpos(f, 0, Some(0), Some(-1), true), -1);
    assert_eq!(bitpos(f, 0, Some(5), Some(3), true), -1);
    // Existing empty string vs missing key.
    assert_eq!(bitpos(b"", 0, None, None, false), -1);
    assert_eq!(bitpos(b"", 1, None, None, false), -1);
    assert_eq!(bitpos(b"", 0, Some(0), None, false), -1);
    assert_eq!(bitpos_missing_key(0), 0);
    assert_eq!(bitpos_missing_key(1), -1);
}

#[test]
fn bitop_cases() {
    assert_eq!(parse_bitop(b"AnD"), Some(BitOp::And));
    assert_eq!(parse_bitop(b"foo"), None);
    assert_eq!(
        bitop(BitOp::And, &[b"foobar", b"abcdef"]),
        b"`bc`ab".to_vec()
    );
    assert_eq!(bitop(BitOp::And, &[b"ab", b"abc"]), b"ab\0".to_vec());
    assert_eq!(bitop(BitOp::Or, &[b"", b"a"]), b"a".to_vec());
    assert_eq!(bitop(BitOp::Not, &[b"\x0f"]), vec![0xf0]);
    assert!(bitop(BitOp::Xor, &[b"", b""]).is_empty());
    assert!(bitop(BitOp::Or, &[]).is_empty());
}

#[test]
fn bitfield_cases() {
    let mut s = Vec::new();
    assert_eq!(
        bf(
            &["incrby", "i5", "100", "1", "get", "u4", "0"],
            false,
            &mut s
        ),
        Ok(vec![Some(1), Some(0)])
    );
    let mut s = Vec::new();
    let args = [
        "incrby", "u2", "100", "1", "OVERFLOW", "SAT", "incrby", "u2", "102", "1",
    ];
    for exp in [(1, 1), (2, 2), (3, 3), (0, 3)] {
        assert_eq!(bf(&args, false, &mut s), Ok(vec![Some(exp.0), Some(exp.1)]));
    }
    assert_eq!(s.len(), 13);
    assert_eq!(
        bf(
            &[
                "get", "u8", "0", "get", "u8", "8", "get", "u8", "100", "get", "u4", "100"
            ],
            false,
            &mut s
        ),
        Ok(vec![Some(0), Some(0), Some(48), Some(3)])
    );
    let mut s = Vec::new();
    let r = bf(
        &[
            "overflow", "sat", "set", "u8", "0", "-1", "overflow", "wrap", "set", "u8", "0", "-1",
            "overflow", "fail", "set", "u8", "0", "-1", "set", "i8", "0", "200", "overflow", "sat",
            "set", "i8", "0", "200", "set", "i8", "0", "-200", "overflow", "wrap", "set", "i8",
            "0", "-200",
        ],
        false,
        &mut s,
    );
    assert_eq!(
        r,
        Ok(vec![
            Some(0),
            Some(255),
            None,
            None,
            Some(-1),
            Some(127),
            Some(-128)
        ])
    );
    assert_eq!(s, vec![56]);
    assert_eq!(
        bf(
            &["overflow", "fail", "incrby", "u8", "0", "1"],
            false,
            &mut s
        ),
        Ok(vec![Some(57)])
    );
    let mut s = Vec::new();
    let r = bf(
        &[
            "overflow",
            "sat",
            "incrby",
            "i64",
            "0",
            "9223372036854775807",
            "incrby",
            "i64",
            "0",
            "1",
            "overflow",
            "wrap",
            "incrby",
            "i64",
            "0",
            "1",
            "overflow",
            "fail",
            "incrby",
            "i64",
            "0",
            "-1",
            "set",
            "i64",
            "0",
            "-9223372036854775808",
            "incrby",
            "i64",
            "0",
            "-1",
            "overflow",
            "sat",
            "incrby",
            "i64",
            "0",
            "-1",
            "get",
            "u63",
            "0",
            "get",
            "u63",
            "1",
            "get",
            "i1",
            "0",
        ],
        false,
        &mut s,
    );
    assert_eq!(
        r,
        Ok(vec![
            Some(i64::MAX),
            Some(i64::MAX),
            Some(i64::MIN),
            None,
            Some(i64::MIN),
            None,
            Some(i64::MIN),
            Some(1 << 62),
            Some(0),
            Some(-1)
        ])
    );
    // Read-only plan never grows; writes grow to cover the highest write first.
    let p = parse_bitfield(&[b"get", b"u8", b"#100"], false).unwrap();
    assert!(p.is_read_only() && !p.has_writes() && p.required_len() == 0);
    let p = parse_bitfield(
        &[b"set", b"u8", b"#1", b"1", b"get", b"u8", b"4294967288"],
        false,
    )
    .unwrap();
    assert!(!p.is_read_only() && p.has_writes());
    assert_eq!(p.required_len(), 2);
    let p = parse_bitfield(&[b"set", b"i64", b"4294967295", b"1"], false).unwrap();
    assert_eq!(p.required_len(), 536870920);
    assert!(parse_bitfield(&[], false).unwrap().is_empty());
}

#[test]
fn lcs_cases() {
    let r = lcs(b"ohmytext", b"mynewtext", true, false, 0);
    assert_eq!((r.len, r.string.as_slice()), (6, &b"mytext"[..]));
    assert_eq!(lcs(b"ohmytext", b"mynewtext", false, false, 0).len, 6);
    let r = lcs(b"ohmytext", b"mynewtext", false, true, 0);
    assert_eq!(r.matches, vec![((4, 7), (5, 8), 4), ((2, 3), (0, 1), 2)]);
    let r = lcs(b"ohmytext", b"mynewtext", false, true, 4);
    assert_eq!(r.matches, vec![((4, 7), (5, 8), 4)]);
    assert_eq!(lcs(b"", b"abc", true, true, 0), LcsResult::default());
    assert_eq!(lcs_table_cells(usize::MAX, 1), None);
    assert_eq!(lcs_table_cells(2, 3), Some(12));
    assert!(try_lcs(b"ab", b"b", true, false, 0).is_ok());
}

/// Naive MSB-first bit reader used as the oracle in property tests.
fn naive_bits(s: &[u8]) -> Vec<u8> {
    s.iter()
        .flat_map(|b| (0..8).rev().map(move |k| (b >> k) & 1))
        .collect()
}

proptest! {
    #[test]
    fn bitcount_matches_naive(s in proptest::collection::vec(any::<u8>(), 0..40),
                              a in -400i64..400, b in -400i64..400, unit in any::<bool>()) {
        let bits = naive_bits(&s);
        let (len, per) = if unit { (bits.len() as i64, 1) } else { (s.len() as i64, 8) };
        let exp: i64 = match normalize_range(a, b, len) {
            Some((x, y)) => bits[x * per..(y + 1) * per].iter().map(|&v| i64::from(v)).sum(),
            None => 0,
        };
        prop_assert_eq!(bitcount(&s, Some((a, b)), unit), exp);
        prop_assert_eq!(bitcount(&s, None, false), bits.iter().map(|&v| i64::from(v)).sum::<i64>());
    }

    #[test]
    fn bitpos_matches_naive(s in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xff), any::<u8>()], 0..20),
                            bit in 0u8..2, a in proptest::option::of(-200i64..200),
                            b in proptest::option::of(-200i64..200), unit in any::<bool>()) {
        let got = bitpos(&s, bit, a, b, unit);
        let bits = naive_bits(&s);
        // Oracle: first matching bit inside the normalised range, as Redis defines it.
        let range = match a {
            None => (!s.is_empty()).then(|| (0, bits.len() - 1)),
            Some(st) => {
                let tot = if unit { bits.len() as i64 } else { s.len() as i64 };
                normalize_inner(st, b.unwrap_or(tot - 1), tot, false)
                    .map(|(x, y)| if unit { (x, y) } else { (x * 8, y * 8 + 7) })
            }
        };
        let exp = match range {
            None => -1,
            Some((x, y)) => match (x..=y).find(|&i| bits[i] == bit) {
                Some(i) => i as i64,
                None if bit == 0 && (a.is_none() || b.is_none()) => y as i64 + 1,
                None => -1,
            },
        };
        prop_assert_eq!(got, exp);
    }

    #[test]
    fn bitop_matches_naive(srcs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..10), 1..4), k in 0usize..4) {
        let op = [BitOp::And, BitOp::Or, BitOp::Xor, BitOp::Not][k];
        let refs: Vec<&[u8]> = srcs.iter().map(|v| v.as_slice()).collect();
        let got = bitop(op, &refs);
        let n = if op == BitOp::Not { srcs[0].len() } else { srcs.iter().map(Vec::len).max().unwrap_or(0) };
        prop_assert_eq!(got.len(), n);
        for (i, &g) in got.iter().enumerate() {
            let at = |v: &Vec<u8>| v.get(i).copied().unwrap_or(0);
            let exp = match op {
                BitOp::And => srcs.iter().map(at).fold(0xff, |x, y| x & y),
                BitOp::Or => srcs.iter().map(at).fold(0, |x, y| x | y),
                BitOp::Xor => srcs.iter().map(at).fold(0, |x, y| x ^ y),
                BitOp::Not => !at(&srcs[0]),
            };
            prop_assert_eq!(g, exp);
        }
    }

    #[test]
    fn bitfield_set_get_roundtrip(init in proptest::collection::vec(any::<u8>(), 0..12), signed in any::<bool>(),
                                  bits in 1u32..65, off in 0u64..120, v in any::<i64>()) {
        let bits = if signed { bits } else { bits.min(63) };
        let ty = format!("{}{}", if signed { 'i' } else { 'u' }, bits);
        let (off_s, v_s) = (off.to_string(), v.to_string());
        let args: Vec<&[u8]> = vec![b"overflow", b"wrap", b"set", ty.as_bytes(), off_s.as_bytes(), v_s.as_bytes(),
                                    b"get", ty.as_bytes(), off_s.as_bytes()];
        let mut s = init.clone();
        let r = parse_bitfield(&args, false).unwrap().execute(&mut s);
        // WRAP keeps the low `bits` bits, sign-extended for signed types.
        let low = if bits == 64 { v as u64 } else { (v as u64) & ((1u64 << bits) - 1) };
        let exp = if signed && bits < 64 && low >> (bits - 1) == 1 { (low | (u64::MAX << bits)) as i64 } else { low as i64 };
        prop_assert_eq!(r[1], Some(exp));
        prop_assert_eq!(s.len(), init.len().max(((off + u64::from(bits) - 1) / 8 + 1) as usize));
        // Bits outside the field are untouched.
        let (nb, ob) = (naive_bits(&s), naive_bits(&init));
        for (i, &bit) in nb.iter().enumerate() {
            if (i as u64) < off || i as u64 >= off + u64::from(bits) {
                prop_assert_eq!(bit, ob.get(i).copied().unwrap_or(0));
            }
        }
    }

    #[test]
    fn bitfield_parse_never_panics(args in proptest::collection::vec(
        prop_oneof![Just(b"get".to_vec()), Just(b"set".to_vec()), Just(b"incrby".to_vec()), Just(b"overflow".to_vec()),
                    Just(b"sat".to_vec()), Just(b"fail".to_vec()), Just(b"i64".to_vec()), Just(b"u63".to_vec()),
                    Just(b"#536870911".to_vec()), Just(b"4294967295".to_vec()), Just(b"-9223372036854775808".to_vec()),
                    "[iu#]?-?[0-9]{0,3}".prop_map(String::into_bytes), proptest::collection::vec(any::<u8>(), 0..4)], 0..12),
        init in proptest::collection::vec(any::<u8>(), 0..8), ro in any::<bool>()) {
        let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        if let Ok(p) = parse_bitfield(&argv, ro) {
            let mut s = init;
            if p.required_len() < 4096 {
                let r = p.execute(&mut s);
                prop_assert_eq!(r.len(), p.len());
                prop_assert!(s.len() >= p.required_len());
            }
        }
    }

    #[test]
    fn offsets_and_ranges_never_panic(s in proptest::collection::vec(any::<u8>(), 0..16), off in any::<u64>(),
                                      a in any::<i64>(), b in any::<i64>(), arg in proptest::collection::vec(any::<u8>(), 0..22)) {
        let _ = getbit(&s, off);
        let mut t = s.clone();
        let _ = setbit(&mut t, off % 200, true);
        let _ = setbit(&mut t, off, true);
        let _ = normalize_range(a, b, s.len() as i64);
        let _ = bitcount(&s, Some((a, b)), true);
        let _ = bitcount(&s, Some((a, b)), false);
        let _ = bitpos(&s, 0, Some(a), Some(b), true);
        let _ = bitpos(&s, 1, Some(a), None, false);
        let _ = parse_bit_offset(&arg, true, 64);
        let _ = string2ll(&arg);
    }

    #[test]
    fn lcs_is_consistent(a in "[ab]{0,12}", b in "[abc]{0,12}") {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let full = lcs(a, b, true, true, 0);
        prop_assert_eq!(full.len, lcs(a, b, false, false, 0).len);
        prop_assert_eq!(full.string.len(), full.len);
        prop_assert_eq!(full.matches.iter().map(|m| m.2).sum::<usize>(), full.len);
        for &((x0, x1), (y0, y1), l) in &full.matches {
            prop_assert_eq!(&a[x0..=x1], &b[y0..=y1]);
            prop_assert_eq!(x1 - x0 + 1, l);
        }
    }
}
