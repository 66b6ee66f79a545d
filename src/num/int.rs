//! Integers as Redis reads them: its strict `string2ll` (`parse_i64`, what the
//! protocol and most arguments use) and the C library readings some places use.

/// A SCAN cursor as Redis's `parseScanCursorOrReply` reads it (`strtoul`, base
/// 10): no leading space, an optional sign (`-1` wraps around), nothing after the
/// digits, no overflow; the text stops at a NUL byte as a C string does.
pub fn parse_cursor(s: &[u8]) -> Option<u64> {
    let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
    let Some(&first) = s.first() else {
        return Some(0);
    };
    if super::float::is_c_space(first) {
        return None;
    }
    let (neg, digits) = match first {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n = 0u64;
    for &d in digits {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { n.wrapping_neg() } else { n })
}

/// Strict `string2ll` as Redis: optional '-', no '+', no leading zeros, no spaces.
///
/// ```
/// use corekv::num::parse_i64;
/// assert_eq!(parse_i64(b"-42"), Some(-42));
/// assert_eq!(parse_i64(b"+1"), None);
/// assert_eq!(parse_i64(b"007"), None);
/// ```
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [] => return None,
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] if !neg => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    if digits.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// C's `strtoll` over the whole of `s`: leading space, an optional sign, digits in
/// `radix`, saturating at the `i64` limits; `None` unless every byte was used (the
/// empty string is 0, as `strtoll` stops at once on the terminating NUL).
/// `overflow` tells whether it saturated (C's `ERANGE`).
pub fn strtoll_whole(s: &[u8], radix: u32) -> Option<(i64, bool)> {
    let (_, i, neg) = super::float::space_and_sign(s);
    let digits = s[i..]
        .iter()
        .take_while(|c| (**c as char).is_digit(radix))
        .count();
    if digits == 0 {
        // No conversion: C leaves the end pointer at the start.
        return s.is_empty().then_some((0, false));
    }
    if i + digits != s.len() {
        return None;
    }
    let mut v: i128 = 0;
    let mut overflow = false;
    for &c in &s[i..] {
        let d = (c as char).to_digit(radix).unwrap_or(0) as i128;
        v = v * radix as i128 + d;
        if v > i64::MAX as i128 + 1 {
            overflow = true;
            v = i64::MAX as i128 + 1;
        }
    }
    let v = if neg { -v } else { v };
    let clamped = v.clamp(i64::MIN as i128, i64::MAX as i128);
    Some((clamped as i64, overflow || clamped != v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_as_strtoul() {
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1 "), None);
        assert_eq!(parse_cursor(b"-"), None);
        assert_eq!(parse_cursor(b"12\0junk"), Some(12));
        assert_eq!(parse_cursor(b"x"), None);
        assert_eq!(parse_cursor(b"-0"), Some(0));
        assert_eq!(parse_cursor(b"+"), None);
        assert_eq!(parse_cursor(b"0x1"), None);
    }

    #[test]
    fn strtoll_as_c() {
        assert_eq!(strtoll_whole(b"", 10), Some((0, false)));
        assert_eq!(strtoll_whole(b" +12", 10), Some((12, false)));
        assert_eq!(strtoll_whole(b"-12", 10), Some((-12, false)));
        assert_eq!(strtoll_whole(b"12 ", 10), None);
        assert_eq!(strtoll_whole(b"-", 10), None);
        assert_eq!(strtoll_whole(b"x", 10), None);
        assert_eq!(strtoll_whole(b"777", 8), Some((511, false)));
        assert_eq!(strtoll_whole(b"8", 8), None);
        assert_eq!(
            strtoll_whole(b"99999999999999999999", 10),
            Some((i64::MAX, true))
        );
        assert_eq!(
            strtoll_whole(b"-9223372036854775808", 10),
            Some((i64::MIN, false))
        );
        assert_eq!(
            strtoll_whole(b"-99999999999999999999", 10),
            Some((i64::MIN, true))
        );
    }
}
