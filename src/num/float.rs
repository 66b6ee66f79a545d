//! Floating point as Redis reads and prints it: C's `strtod`, the argument
//! checks of `getDoubleFromObject`/`getLongDoubleFromObject`, `%.17g`, and
//! INCRBYFLOAT's `long double` sum (done in C: Rust has no `long double`).

/// Parses a float argument as Redis's `getLongDoubleFromObject`/`strtold`: no spaces,
/// no trailing garbage, NaN refused; `inf`/`-inf` accepted.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let t = std::str::from_utf8(s).ok()?;
    let lower = t.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // Rust accepts "nan", "inf" spellings handled above; reject other words.
            if lower.contains("nan") || lower.contains("inf") {
                return None;
            }
            t.parse::<f64>().ok()?
        }
    };
    if v.is_nan() { None } else { Some(v) }
}

/// C's `isspace`.
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What C's number readers skip first: white space, then one optional sign.
/// Where the sign (or number) starts, where the digits start, and whether the
/// sign was '-'.
pub(super) fn space_and_sign(s: &[u8]) -> (usize, usize, bool) {
    let start = s.iter().take_while(|&&c| is_c_space(c)).count();
    match s.get(start) {
        Some(b'-') => (start, start + 1, true),
        Some(b'+') => (start, start + 1, false),
        _ => (start, start, false),
    }
}

/// C's `strtod` on a prefix of `s`: the value and how many bytes it used (0 when
/// no number starts there). Also reports whether the digits were all zero, so
/// callers can tell an underflow from a real zero.
pub fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let (num_start, i, neg) = space_and_sign(s);
    let sign = if neg { -1.0 } else { 1.0 };
    let rest = &s[i..];
    let starts =
        |w: &str| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes());
    if starts("infinity") {
        return (sign * f64::INFINITY, i + 8, false);
    }
    if starts("inf") {
        return (sign * f64::INFINITY, i + 3, false);
    }
    if starts("nan") {
        // glibc also takes "nan(chars)" (its payload is not kept here), and
        // keeps the sign.
        let mut end = i + 3;
        if s.get(end) == Some(&b'(') {
            let mut k = end + 1;
            while s
                .get(k)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                k += 1;
            }
            if s.get(k) == Some(&b')') {
                end = k + 1;
            }
        }
        return (if neg { -f64::NAN } else { f64::NAN }, end, false);
    }
    if (starts("0x") || starts("0X"))
        && let Some(r) = strtod_hex(&rest[2..])
    {
        return (sign * r.0, i + 2 + r.1, r.2);
    }
    let mut j = i;
    let mut digits = 0;
    let mut nonzero = false;
    while j < s.len() && s[j].is_ascii_digit() {
        nonzero |= s[j] != b'0';
        j += 1;
        digits += 1;
    }
    if j < s.len() && s[j] == b'.' {
        j += 1;
        while j < s.len() && s[j].is_ascii_digit() {
            nonzero |= s[j] != b'0';
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0, true);
    }
    if j < s.len() && (s[j] == b'e' || s[j] == b'E') {
        let mut k = j + 1;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            k += 1;
        }
        if k < s.len() && s[k].is_ascii_digit() {
            while k < s.len() && s[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    let text = std::str::from_utf8(&s[num_start..j]).unwrap_or("0");
    (text.parse::<f64>().unwrap_or(0.0), j, !nonzero)
}

/// The part of a hex float after `0x`: (magnitude, bytes used, all digits zero).
fn strtod_hex(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut j = 0;
    let mut v = 0.0f64;
    let mut digits = 0;
    let mut scale = 0i32;
    while let Some(d) = s.get(j).and_then(|c| (*c as char).to_digit(16)) {
        v = v * 16.0 + d as f64;
        j += 1;
        digits += 1;
    }
    if s.get(j) == Some(&b'.') {
        j += 1;
        while let Some(d) = s.get(j).and_then(|c| (*c as char).to_digit(16)) {
            v = v * 16.0 + d as f64;
            scale -= 4;
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(s.get(j), Some(b'p' | b'P')) {
        let mut k = j + 1;
        let neg = match s.get(k) {
            Some(b'-') => {
                k += 1;
                true
            }
            Some(b'+') => {
                k += 1;
                false
            }
            _ => false,
        };
        let mut e = 0i32;
        let start = k;
        while let Some(c) = s.get(k).filter(|c| c.is_ascii_digit()) {
            e = e.saturating_mul(10).saturating_add((c - b'0') as i32);
            k += 1;
        }
        if k > start {
            scale = scale.saturating_add(if neg { -e } else { e });
            j = k;
        }
    }
    let zero = v == 0.0;
    Some((ldexp(v, scale), j, zero))
}

/// `v * 2^e` without the intermediate overflow or underflow of `2f64.powi(e)`
/// (whose reciprocal of 2^1070 is already 0).
fn ldexp(mut v: f64, mut e: i32) -> f64 {
    while e > 1000 {
        v *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        v *= 2f64.powi(-1000);
        e += 1000;
    }
    v * 2f64.powi(e)
}

/// A double argument as Redis's `getDoubleFromObject` reads it (scores,
/// weights): the whole string, no leading space, no NaN, no overflow to infinity
/// or underflow to zero.
pub fn parse_double(s: &[u8]) -> Option<f64> {
    if s.first().is_none_or(|&c| is_c_space(c)) {
        return None;
    }
    let (v, zero_digits) = strtod_whole(s)?;
    let literal_inf = s.iter().any(|c| c.eq_ignore_ascii_case(&b'i'));
    if (v.is_infinite() && !literal_inf) || (v == 0.0 && !zero_digits) {
        return None;
    }
    Some(v)
}

/// A whole string as SORT reads a weight: `strtod` with leading space allowed,
/// refused when bytes are left over, on NaN, and where C sets `ERANGE` (overflow,
/// underflow to zero, and an inexact subnormal, which every decimal one is).
/// The empty string is 0: `strtod` stops at once, on the terminating NUL.
pub fn parse_double_erange(s: &[u8]) -> Option<f64> {
    if s.is_empty() {
        return Some(0.0);
    }
    let (v, zero_digits) = strtod_whole(s)?;
    let literal_inf = s.iter().any(|c| c.eq_ignore_ascii_case(&b'i'));
    let hex = s.iter().any(|c| c.eq_ignore_ascii_case(&b'x'));
    let tiny = v != 0.0 && v.is_finite() && !v.is_normal() && !hex;
    if (v.is_infinite() && !literal_inf) || (v == 0.0 && !zero_digits) || tiny {
        return None;
    }
    Some(v)
}

/// `strtod` that must use all of a non-empty `s` and not give NaN: the value and
/// whether its digits were all zero.
fn strtod_whole(s: &[u8]) -> Option<(f64, bool)> {
    let (v, n, zero_digits) = strtod(s);
    (!s.is_empty() && n == s.len() && !v.is_nan()).then_some((v, zero_digits))
}

/// Why a `long double` sum failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongDoubleError {
    /// The current value or the increment is not a number.
    NotFloat,
    /// The sum would be NaN or infinite.
    NanOrInfinity,
}

unsafe extern "C" {
    fn corekv_incrbyfloat(
        cur: *const u8,
        cur_len: usize,
        has_cur: i32,
        incr: *const u8,
        incr_len: usize,
        out: *mut u8,
        out_cap: usize,
        out_len: *mut usize,
    ) -> i32;
}

/// `current + incr` in C `long double`, printed as Redis does.
pub fn add_long_double(cur: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, LongDoubleError> {
    let mut out = vec![0u8; 5 * 1024 + 64];
    let mut len = 0usize;
    let (cp, cl) = cur.map_or((std::ptr::null(), 0), |c| (c.as_ptr(), c.len()));
    // SAFETY: every pointer comes with its length; the C side reads at most
    // `cur_len`/`incr_len` bytes (copying them into its own buffer, refusing longer
    // input) and writes at most `out_cap` bytes into `out`, which we own.
    let rc = unsafe {
        corekv_incrbyfloat(
            cp,
            cl,
            cur.is_some() as i32,
            incr.as_ptr(),
            incr.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut len,
        )
    };
    match rc {
        1 => {
            out.truncate(len.min(out.len()));
            Ok(out)
        }
        -1 | -2 => Err(LongDoubleError::NotFloat),
        _ => Err(LongDoubleError::NanOrInfinity),
    }
}

/// Formats a double as Redis does for replies (`%.17g`, with `inf`/`-inf`/`nan`).
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    format_g(d, 17)
}

/// C's `%.<prec>g`: shortest of fixed and exponent forms with `prec` significant
/// digits, trailing zeros removed. Hot for sorted-set replies, so integers take a
/// fast path and the fixed form reuses the digits of the exponent form (one
/// exact conversion instead of two).
pub fn format_g(d: f64, prec: usize) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // An integral value with at most `prec` digits prints as that integer.
    if prec <= 18 && d.fract() == 0.0 && d.abs() < 10f64.powi(prec as i32) {
        return itoa::Buffer::new().format(d as i64).to_string();
    }
    let e = format!("{:.*e}", prec - 1, d);
    let (mant, exp) = match e.split_once('e') {
        Some(p) => p,
        None => return e,
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{}{:02}", mant, sign, exp.abs());
    }
    // Fixed notation from the same `prec` rounded digits, as C derives it.
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    let mut out = String::with_capacity(prec + 8);
    if neg {
        out.push('-');
    }
    if exp >= 0 {
        let int_len = (exp as usize + 1).min(digits.len());
        out.extend(digits[..int_len].iter().map(|&b| b as char));
        if int_len < digits.len() {
            out.push('.');
            out.extend(digits[int_len..].iter().map(|&b| b as char));
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.extend(digits.iter().map(|&b| b as char));
    }
    trim_zeros(&out).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_format_matches_c() {
        assert_eq!(format_g(1.5, 17), "1.5");
        assert_eq!(format_g(0.1, 17), "0.10000000000000001");
        assert_eq!(format_g(1e20, 17), "1e+20");
        assert_eq!(format_g(123456.0, 17), "123456");
        assert_eq!(format_g(1e-5, 17), "1.0000000000000001e-05");
        assert_eq!(format_g(3.0, 17), "3");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_g(-2.5, 17), "-2.5");
        assert_eq!(format_g(0.0001, 17), "0.0001");
        assert_eq!(format_g(-123.0, 17), "-123");
        assert_eq!(format_g(99999999999999999.0, 17), "1e+17");
        assert_eq!(format_g(1e16, 17), "10000000000000000");
    }

    /// The straightforward two-conversion form of `%.17g`, as an oracle.
    fn format_g_slow(d: f64, prec: usize) -> String {
        let e = format!("{:.*e}", prec - 1, d);
        let (mant, exp) = e.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        if exp < -4 || exp >= prec as i32 {
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{}e{}{:02}", trim_zeros(mant), sign, exp.abs())
        } else {
            let decimals = (prec as i32 - 1 - exp).max(0) as usize;
            trim_zeros(&format!("{:.*}", decimals, d)).to_string()
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_g_equals_slow_g(bits in proptest::prelude::any::<u64>(), int in -1_000_000_000i64..1_000_000_000, scale in 0i32..20) {
            for d in [f64::from_bits(bits), int as f64, int as f64 / 10f64.powi(scale), int as f64 * 10f64.powi(scale)] {
                if d.is_finite() && d != 0.0 {
                    proptest::prop_assert_eq!(format_g(d, 17), format_g_slow(d, 17), "{}", d);
                }
            }
        }
    }

    #[test]
    fn strtod_like_c() {
        assert_eq!(parse_double(b"1.5"), Some(1.5));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_double(b" 1"), None);
        assert_eq!(parse_double(b"1 "), None);
        assert_eq!(parse_double(b"1e-400"), None);
        assert_eq!(parse_double(b"0e5"), Some(0.0));
        assert_eq!(parse_double(b"nan"), None);
        assert_eq!(parse_double(b"0x1p4"), Some(16.0));
    }

    #[test]
    fn sort_weights_as_c_strtod_with_erange() {
        assert_eq!(parse_double_erange(b"1.5"), Some(1.5));
        assert_eq!(parse_double_erange(b" 2"), Some(2.0));
        assert_eq!(parse_double_erange(b"0x10"), Some(16.0));
        assert_eq!(parse_double_erange(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_double_erange(b"1e999"), None);
        assert_eq!(parse_double_erange(b"nan"), None);
        assert_eq!(parse_double_erange(b"1x"), None);
        assert_eq!(parse_double_erange(b""), Some(0.0));
        assert_eq!(parse_double_erange(b" "), None);
        assert_eq!(parse_double_erange(b"1e-310"), None);
        assert_eq!(parse_double_erange(b"0x1p-1070"), Some(f64::from_bits(16)));
        assert_eq!(parse_double_erange(b"2\0"), None);
    }
}
