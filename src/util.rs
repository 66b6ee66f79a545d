//! Small helpers shared by several modules.

/// An OS error as C's `strerror` words it (Redis's error texts carry it), without
/// Rust's " (os error N)".
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    s.split(" (os error").next().unwrap_or(&s).to_string()
}

/// Redis's `stringmatchlen`: glob matching with `*`, `?`, `[...]` (ranges, `^`
/// negation) and `\` escapes. Iterative, so hostile patterns cannot overflow the
/// stack; backtracking is bounded by remembering only the last `*`.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, i));
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = match_class(pattern, p, s[i], nocase)
                        && matched
                    {
                        p = next;
                        i += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if eq(pattern[p + 1], s[i]) {
                        p += 2;
                        i += 1;
                        continue;
                    }
                }
                c => {
                    if eq(c, s[i]) {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, si)) => {
                p = sp;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            None => return false,
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// Matches `c` against the class starting at `pattern[p] == '['`; returns whether it
/// matched and the index after the class.
fn match_class(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> Option<(bool, usize)> {
    p += 1;
    let not = pattern.get(p) == Some(&b'^');
    if not {
        p += 1;
    }
    let lc = |x: u8| if nocase { x.to_ascii_lowercase() } else { x };
    let c = lc(c);
    let mut matched = false;
    loop {
        let &pc = pattern.get(p)?;
        if pc == b']' {
            break;
        }
        if pc == b'\\' && p + 1 < pattern.len() {
            p += 1;
            if lc(pattern[p]) == c {
                matched = true;
            }
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' && pattern[p + 2] != b']' {
            let (mut a, mut b) = (lc(pattern[p]), lc(pattern[p + 2]));
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            if c >= a && c <= b {
                matched = true;
            }
            p += 2;
        } else if lc(pc) == c {
            matched = true;
        }
        p += 1;
    }
    Some((matched != not, p + 1))
}

/// Redis's `sdssplitargs`: words separated by whitespace, where a word may
/// hold "double-quoted" parts (with `\n`, `\r`, `\t`, `\b`, `\a`,
/// `\xHH` and `\<any>` escapes) and 'single-quoted' parts (`\'` only); a
/// closing quote must end its word. `None`: unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // A C string: it ends at the first NUL.
    let line = &line[..memchr::memchr(0, line).unwrap_or(line.len())];
    let at = |i: usize| line.get(i).copied();
    let ends_word = |i: usize| at(i).is_none_or(|c| c.is_ascii_whitespace());
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while at(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        if i >= line.len() {
            return Some(out);
        }
        let mut word = Vec::new();
        let (mut dq, mut sq) = (false, false);
        loop {
            let Some(c) = at(i) else {
                if dq || sq {
                    return None;
                }
                break;
            };
            if dq {
                let hex = |j: usize| at(j).and_then(|b| (b as char).to_digit(16));
                if c == b'\\'
                    && at(i + 1) == Some(b'x')
                    && hex(i + 2).is_some()
                    && hex(i + 3).is_some()
                {
                    word.push((hex(i + 2)? * 16 + hex(i + 3)?) as u8);
                    i += 3;
                } else if c == b'\\' && i + 1 < line.len() {
                    i += 1;
                    word.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        o => o,
                    });
                } else if c == b'"' {
                    if !ends_word(i + 1) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    word.push(c);
                }
            } else if sq {
                if c == b'\\' && at(i + 1) == Some(b'\'') {
                    i += 1;
                    word.push(b'\'');
                } else if c == b'\'' {
                    if !ends_word(i + 1) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    word.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => dq = true,
                    b'\'' => sq = true,
                    _ => word.push(c),
                }
            }
            i += 1;
        }
        out.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::{glob_match, split_args};

    #[test]
    fn sdssplitargs() {
        let w = |s: &str| split_args(s.as_bytes());
        let v = |ws: &[&str]| Some(ws.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>());
        assert_eq!(w("  a  bc\td "), v(&["a", "bc", "d"]));
        assert_eq!(w(r#"name="foo" x"#), v(&["name=foo", "x"]));
        assert_eq!(w(r#""a\x41\n" 'it\'s'"#), v(&["aA\n", "it's"]));
        assert_eq!(w(r#""ab"c"#), None, "a closing quote ends its word");
        assert_eq!(w("'ab"), None);
        assert_eq!(w(""), v(&[]));
        assert_eq!(w("a\0 b"), v(&["a"]), "a C string ends at NUL");
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*llo", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"h\\*llo", b"h*llo", false));
        assert!(!glob_match(b"h\\*llo", b"hello", false));
        assert!(glob_match(b"MAX*", b"maxclients", true));
        assert!(!glob_match(b"a*b", b"acd", false));
        assert!(!glob_match(b"*a*a*a*a*a*a*b", &[b'a'; 40], false));
    }
}
