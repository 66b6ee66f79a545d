//! Each parameter kind's rules: a value given as words (one for most kinds,
//! several for `MULTI_ARG` ones) becomes the canonical text CONFIG GET shows,
//! or Redis's error text. Numbers, units and limits follow Redis's `memtoull`,
//! `string2ll` and `strtoll` readings, quirks included.

use std::borrow::Cow;

use super::events;
use super::params::{Kind, NumFmt, Param, SHUTDOWN_FORCE, SHUTDOWN_NOSAVE, SHUTDOWN_SAVE, StrRule};
use crate::num::{parse_double, parse_i64, strtoll_whole};

type Error = Cow<'static, str>;

/// The canonical value of `p` set to `args`; `current` is its present value
/// (client-output-buffer-limit changes only the classes given).
pub fn parse(p: &Param, args: &[String], current: &str) -> Result<String, Error> {
    let one = || args.first().map(String::as_str).unwrap_or("");
    match p.kind {
        Kind::Bool { no_defrag } => match one().to_ascii_lowercase().as_str() {
            "yes" if no_defrag => Err(Cow::Borrowed(
                "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution",
            )),
            v @ ("yes" | "no") => Ok(v.to_string()),
            _ => Err(Cow::Borrowed("argument must be 'yes' or 'no'")),
        },
        Kind::Str(rule) => check_string(rule, one()).map(|()| one().to_string()),
        Kind::Enum(values) => parse_enum(values, args, p.has(super::params::MULTI_ARG)),
        Kind::Num {
            min,
            max,
            unsigned,
            fmt,
        } => {
            let v = parse_number(one(), fmt)?;
            check_bounds(v, min, max, unsigned, fmt)?;
            // Redis clamps hz into 1..=500 as it applies it, and shows that.
            let v = if p.name == "hz" { v.clamp(1, 500) } else { v };
            Ok(format_number(v, fmt))
        }
        Kind::Save => parse_save(args),
        Kind::ClientOutputBufferLimit => parse_obuf(args, current),
        Kind::OomScoreAdjValues => {
            if args.len() != 3 {
                return Err(Cow::Borrowed("wrong number of arguments"));
            }
            let mut out = Vec::with_capacity(3);
            for a in args {
                match strtoll_whole(a.as_bytes(), 10) {
                    Some((v, _)) if (-2000..=2000).contains(&v) => out.push(v.to_string()),
                    _ => {
                        return Err(Cow::Borrowed(
                            "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
                        ));
                    }
                }
            }
            Ok(out.join(" "))
        }
        Kind::KeyspaceEvents => {
            if args.len() != 1 {
                return Err(Cow::Borrowed("wrong number of arguments"));
            }
            events::parse_flags(one())
                .map(events::flags_to_string)
                .ok_or(Cow::Borrowed(
                    "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
                ))
        }
        Kind::Bind => {
            if args.len() > 16 {
                return Err(Cow::Borrowed("Too many bind addresses specified."));
            }
            Ok(args.join(" "))
        }
        Kind::ReplicaOf => {
            if args.len() != 2 {
                return Err(Cow::Borrowed("wrong number of arguments"));
            }
            if args[0].eq_ignore_ascii_case("no") && args[1].eq_ignore_ascii_case("one") {
                return Ok(String::new());
            }
            match strtoll_whole(args[1].as_bytes(), 10) {
                Some((port, false)) if (0..=65535).contains(&port) && !args[1].is_empty() => {
                    Ok(format!("{} {port}", args[0]))
                }
                _ => Err(Cow::Borrowed("Invalid master port")),
            }
        }
        Kind::Dir => {
            if args.len() != 1 {
                return Err(Cow::Borrowed("wrong number of arguments"));
            }
            Ok(one().to_string())
        }
        Kind::Percentiles => parse_percentiles(args),
    }
}

fn check_string(rule: StrRule, v: &str) -> Result<(), Error> {
    let base = !v.contains('/') && !v.contains('\\');
    match rule {
        StrRule::Any => Ok(()),
        StrRule::BaseName if base => Ok(()),
        StrRule::BaseName => Err(Cow::Borrowed("dbfilename can't be a path, just a filename")),
        StrRule::NonEmptyBaseName(name, _) if v.is_empty() => {
            Err(Cow::Owned(format!("{name} can't be empty")))
        }
        StrRule::NonEmptyBaseName(name, what) if !base => {
            Err(Cow::Owned(format!("{name} can't be a path, just a {what}")))
        }
        StrRule::NonEmptyBaseName(..) => Ok(()),
        StrRule::Hostname => {
            if v.len() >= 256 {
                Err(Cow::Borrowed("Hostnames must be less than 256 characters"))
            } else if !v
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
            {
                Err(Cow::Borrowed(
                    "Hostnames may only contain alphanumeric characters, hyphens or dots",
                ))
            } else {
                Ok(())
            }
        }
        StrRule::ProcTitle => {
            if proc_title_ok(v) {
                Ok(())
            } else {
                Err(Cow::Borrowed(
                    "template format is invalid or contains unknown variables",
                ))
            }
        }
    }
}

/// Redis expands the template with an empty title and refuses it when a
/// `{variable}` is unknown or unterminated, or the result is blank.
fn proc_title_ok(t: &str) -> bool {
    let mut out = String::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if after.is_empty() {
            return false;
        }
        if let Some(quoted) = after.strip_prefix('{') {
            out.push('{');
            rest = quoted;
            continue;
        }
        let Some(close) = after.find('}') else {
            return false;
        };
        // Stand-ins with the emptiness of each variable's real value.
        out.push_str(match &after[..close] {
            "title" | "server-mode" | "unixsocket" => "",
            "listen-addr" => "addr:port",
            "config-file" => "-",
            "port" | "tls-port" => "0",
            _ => return false,
        });
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    !out.trim_matches(' ').is_empty()
}

fn parse_enum(values: &[(&str, u32)], args: &[String], multi: bool) -> Result<String, Error> {
    let err = || {
        let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
        Cow::Owned(format!(
            "argument(s) must be one of the following: {}",
            names.join(", ")
        ))
    };
    if args.is_empty() || (!multi && args.len() != 1) {
        return Err(err());
    }
    let mut v = 0;
    for a in args {
        let mut matched = false;
        for (name, val) in values {
            if name.eq_ignore_ascii_case(a) {
                v |= val;
                matched = true;
            }
        }
        if !matched {
            return Err(err());
        }
    }
    if multi && v & SHUTDOWN_SAVE != 0 && v & SHUTDOWN_NOSAVE != 0 {
        return Err(Cow::Borrowed(
            "shutdown options SAVE and NOSAVE can't be used simultaneously",
        ));
    }
    Ok(enum_name(values, v, multi))
}

/// The name(s) of an enum value, as Redis shows it: the first name with that
/// exact value, else (flags) each fully contained flag in table order.
fn enum_name(values: &[(&str, u32)], v: u32, multi: bool) -> String {
    if let Some((name, _)) = values.iter().find(|(_, x)| *x == v) {
        return name.to_string();
    }
    let mut names = Vec::new();
    let mut left = v;
    if multi {
        for (name, x) in values {
            if *x != 0 && left & x == *x {
                names.push(*name);
                left &= !x;
            }
        }
    }
    if names.is_empty() || left != 0 {
        return "unknown".to_string();
    }
    names.join(" ")
}

/// The flags of a `shutdown-on-sig*` value (0 for "default").
pub fn shutdown_flags(v: &str) -> u32 {
    v.split(' ')
        .filter_map(|w| match w {
            "save" => Some(SHUTDOWN_SAVE),
            "nosave" => Some(SHUTDOWN_NOSAVE),
            "now" => Some(4),
            "force" => Some(SHUTDOWN_FORCE),
            _ => None,
        })
        .fold(0, |a, b| a | b)
}

/// Redis's `memtoull`: digits and an optional unit (b, k, kb, m, mb, g, gb, any
/// case); no sign, no space. The empty string and a bare unit are 0; more
/// digits than fit saturate, and the unit's product wraps, as in C.
pub fn memtoull(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let mul: u64 = match s[digits..].to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits >= 128 {
        return None;
    }
    let n = s[..digits]
        .bytes()
        .try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .unwrap_or(u64::MAX);
    Some(n.wrapping_mul(mul))
}

/// A number as Redis's `numericParseString` reads it for each format; the value
/// is a C `long long`, so a memory value past `i64::MAX` wraps negative.
fn parse_number(s: &str, fmt: NumFmt) -> Result<i64, Error> {
    if matches!(fmt, NumFmt::Memory | NumFmt::MemoryPercent)
        && let Some(v) = memtoull(s)
    {
        return Ok(v as i64);
    }
    if fmt == NumFmt::MemoryPercent
        && s.len() > 1
        && let Some(n) = s.strip_suffix('%').and_then(|n| parse_i64(n.as_bytes()))
        && n >= 0
    {
        return Ok(-n);
    }
    match fmt {
        NumFmt::Octal => match strtoll_whole(s.as_bytes(), 8) {
            Some((v, false)) => Ok(v),
            _ => Err(Cow::Borrowed(
                "argument couldn't be parsed as an octal number",
            )),
        },
        NumFmt::Plain => parse_i64(s.as_bytes())
            .ok_or(Cow::Borrowed("argument couldn't be parsed into an integer")),
        NumFmt::Memory => Err(Cow::Borrowed("argument must be a memory value")),
        NumFmt::MemoryPercent => Err(Cow::Borrowed("argument must be a memory or percent value")),
    }
}

fn check_bounds(v: i64, min: i128, max: i128, unsigned: bool, fmt: NumFmt) -> Result<(), Error> {
    let out_of_range = || {
        if fmt == NumFmt::Octal {
            format!("argument must be between {min:o} and {max:o} inclusive")
        } else {
            format!("argument must be between {min} and {max} inclusive")
        }
    };
    if unsigned {
        let u = i128::from(v as u64);
        if u > max || u < min {
            return Err(Cow::Owned(out_of_range()));
        }
    } else if fmt == NumFmt::MemoryPercent && v < 0 {
        if i128::from(v) < min {
            return Err(Cow::Owned(format!(
                "percentage argument must be less or equal to {}",
                -min
            )));
        }
    } else if i128::from(v) > max || i128::from(v) < min {
        return Err(Cow::Owned(out_of_range()));
    }
    Ok(())
}

fn format_number(v: i64, fmt: NumFmt) -> String {
    match fmt {
        NumFmt::MemoryPercent if v < 0 => format!("{}%", -i128::from(v)),
        NumFmt::Memory | NumFmt::MemoryPercent => (v as u64).to_string(),
        NumFmt::Octal => format!("{v:o}"),
        NumFmt::Plain => v.to_string(),
    }
}

/// `save`: pairs of `<seconds> <changes>` read with `strtoll` (seconds >= 1,
/// changes >= 0, kept as C's `int`), or `""` for none.
fn parse_save(args: &[String]) -> Result<String, Error> {
    let bad = || Cow::Borrowed("Invalid save parameters");
    let args: &[String] = if args.len() == 1 && args[0].is_empty() {
        &[]
    } else {
        args
    };
    if !args.len().is_multiple_of(2) {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(args.len() / 2);
    for pair in args.chunks(2) {
        let secs = strtoll_whole(pair[0].as_bytes(), 10).ok_or_else(bad)?.0;
        let changes = strtoll_whole(pair[1].as_bytes(), 10).ok_or_else(bad)?.0;
        if secs < 1 || changes < 0 {
            return Err(bad());
        }
        out.push(format!("{secs} {}", changes as i32));
    }
    Ok(out.join(" "))
}

/// The classes of `client-output-buffer-limit`, in the order CONFIG GET shows.
const OBUF_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

fn parse_obuf(args: &[String], current: &str) -> Result<String, Error> {
    if !args.len().is_multiple_of(4) {
        return Err(Cow::Borrowed(
            "Wrong number of arguments in buffer limit configuration.",
        ));
    }
    let mut classes: Vec<[String; 3]> = OBUF_CLASSES
        .iter()
        .map(|c| obuf_class(current, c).unwrap_or_else(|| ["0".into(), "0".into(), "0".into()]))
        .collect();
    let mut updates = Vec::new();
    for group in args.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err(Cow::Borrowed(
                    "Invalid client class specified in buffer limit configuration.",
                ));
            }
        };
        let hard = memtoull(&group[1]);
        let soft = memtoull(&group[2]);
        // Read into a C int, then checked.
        let secs = strtoll_whole(group[3].as_bytes(), 10).map(|(v, _)| v as i32);
        match (hard, soft, secs) {
            (Some(h), Some(s), Some(secs)) if secs >= 0 => {
                updates.push((class, [h.to_string(), s.to_string(), secs.to_string()]));
            }
            _ => {
                return Err(Cow::Borrowed(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
                ));
            }
        }
    }
    for (class, v) in updates {
        classes[class] = v;
    }
    Ok(OBUF_CLASSES
        .iter()
        .zip(&classes)
        .map(|(c, [h, s, secs])| format!("{c} {h} {s} {secs}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// One class's `[hard, soft, seconds]` in a canonical value.
fn obuf_class(value: &str, class: &str) -> Option<[String; 3]> {
    let words: Vec<&str> = value.split(' ').collect();
    words
        .chunks(4)
        .find(|w| w.len() == 4 && w[0] == class)
        .map(|w| [w[1].to_string(), w[2].to_string(), w[3].to_string()])
}

fn parse_percentiles(args: &[String]) -> Result<String, Error> {
    if args.len() == 1 && args[0].is_empty() {
        return Ok(String::new());
    }
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        let p = parse_double(a.as_bytes()).ok_or(Cow::Borrowed(
            "Invalid latency-tracking-info-percentiles parameters",
        ))?;
        if !(0.0..=100.0).contains(&p) {
            return Err(Cow::Borrowed(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
            ));
        }
        out.push(trim_double(&format!("{p:.6}")));
    }
    Ok(out.join(" "))
}

/// `%f` output without trailing zeros (and without a bare trailing '.').
fn trim_double(s: &str) -> String {
    if !s.contains('.') {
        return s.to_string();
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_as_memtoull() {
        assert_eq!(memtoull("1k"), Some(1000));
        assert_eq!(memtoull("1KB"), Some(1024));
        assert_eq!(memtoull("2mb"), Some(2 << 20));
        assert_eq!(memtoull("1gb"), Some(1 << 30));
        assert_eq!(memtoull("7b"), Some(7));
        assert_eq!(memtoull(""), Some(0));
        assert_eq!(memtoull("k"), Some(0));
        assert_eq!(memtoull("-1"), None);
        assert_eq!(memtoull("1.5mb"), None);
        assert_eq!(memtoull(" 1"), None);
        assert_eq!(memtoull("99999999999999999999"), Some(u64::MAX));
    }

    #[test]
    fn numbers_and_bounds() {
        assert_eq!(parse_number("10%", NumFmt::MemoryPercent), Ok(-10));
        assert_eq!(format_number(-10, NumFmt::MemoryPercent), "10%");
        assert_eq!(format_number(-1, NumFmt::Memory), "18446744073709551615");
        assert!(parse_number("-1", NumFmt::Memory).is_err());
        assert_eq!(parse_number("-1", NumFmt::Plain), Ok(-1));
        assert!(check_bounds(-1, 0, i64::MAX as i128, true, NumFmt::Plain).is_err());
        assert!(check_bounds(-200, -100, 100, false, NumFmt::MemoryPercent).is_err());
        assert!(check_bounds(-1, -100, 100, false, NumFmt::MemoryPercent).is_ok());
    }

    #[test]
    fn special_formats() {
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(parse_save(&w("100 5 60 1")).as_deref(), Ok("100 5 60 1"));
        assert_eq!(parse_save(&[String::new()]).as_deref(), Ok(""));
        assert!(parse_save(&w("100  5")).is_err());
        assert!(parse_save(&w("0 5")).is_err());
        let cur = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
        assert_eq!(
            parse_obuf(&w("pubsub 1mb 1k 5 replica 1 2 3"), cur).as_deref(),
            Ok("normal 0 0 0 slave 1 2 3 pubsub 1048576 1000 5")
        );
        assert!(parse_obuf(&w("master 1 1 1"), cur).is_err());
        assert_eq!(
            parse_percentiles(&w("50 99.99 100.0")).as_deref(),
            Ok("50 99.99 100")
        );
        assert!(proc_title_ok("{title} {listen-addr} {server-mode}"));
        assert!(!proc_title_ok("{title}"));
        assert!(!proc_title_ok("{nope}"));
        assert!(proc_title_ok("x {{"));
    }

    #[test]
    fn enums_show_their_canonical_names() {
        let oom = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
        assert_eq!(
            parse_enum(oom, &["relative".into()], false).as_deref(),
            Ok("yes")
        );
        let sig = &[
            ("default", 0),
            ("save", 1),
            ("nosave", 2),
            ("now", 4),
            ("force", 8),
        ];
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            parse_enum(sig, &w("now nosave"), true).as_deref(),
            Ok("nosave now")
        );
        assert!(parse_enum(sig, &w("save nosave"), true).is_err());
        assert!(parse_enum(sig, &[], true).is_err());
    }
}
