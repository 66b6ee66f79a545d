//! The grammar of `notify-keyspace-events`: event classes as letters.

/// Event classes and the two channel kinds, as `notify-keyspace-events` letters.
pub mod class {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const KEY_MISS: u32 = 1 << 11; // m
    pub const MODULE: u32 = 1 << 12; // d
    pub const NEW: u32 = 1 << 13; // n
    /// `A`: every class but key-miss and new.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// The letters of `notify-keyspace-events`, in the order Redis prints them.
const LETTERS: &[(char, u32)] = &[
    ('g', class::GENERIC),
    ('$', class::STRING),
    ('l', class::LIST),
    ('s', class::SET),
    ('h', class::HASH),
    ('z', class::ZSET),
    ('x', class::EXPIRED),
    ('e', class::EVICTED),
    ('t', class::STREAM),
    ('d', class::MODULE),
    ('n', class::NEW),
];

/// Parses a `notify-keyspace-events` value (`None` on an unknown letter).
pub fn parse_flags(s: &str) -> Option<u32> {
    let mut f = 0;
    for ch in s.chars() {
        f |= match ch {
            'A' => class::ALL,
            'K' => class::KEYSPACE,
            'E' => class::KEYEVENT,
            'm' => class::KEY_MISS,
            c => LETTERS.iter().find(|(l, _)| *l == c)?.1,
        };
    }
    Some(f)
}

/// The canonical text of `flags`, as CONFIG GET shows it (Redis's order; with
/// `A`, the classes it covers and `n` are not spelled out).
pub fn flags_to_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & class::ALL == class::ALL {
        s.push('A');
    } else {
        for (l, c) in LETTERS {
            if flags & c != 0 {
                s.push(*l);
            }
        }
    }
    for (l, c) in [
        ('K', class::KEYSPACE),
        ('E', class::KEYEVENT),
        ('m', class::KEY_MISS),
    ] {
        if flags & c != 0 {
            s.push(l);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_as_redis_prints_them() {
        for (given, shown) in [
            ("KEA", "AKE"),
            ("", ""),
            ("Kx", "xK"),
            ("E$lg", "g$lE"),
            ("AKEm", "AKEm"),
            ("Kn", "nK"),
            ("AnK", "AK"),
        ] {
            let f = parse_flags(given).expect(given);
            assert_eq!(flags_to_string(f), shown, "{given}");
        }
        assert_eq!(parse_flags("Kq"), None);
    }
}
