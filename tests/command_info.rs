//! `COMMAND INFO` of every corekv command equals redis-server 7's, byte for
//! byte, in RESP2 and RESP3: arity, flags (with `movablekeys`), the legacy
//! first/last/step, ACL categories, tips, key specs and subcommands. The rows of
//! the command table are Redis's facts, so this keeps them so. Commands Redis
//! 7.0 does not have (corekv's few 7.2 additions) are only checked for shape.

mod support;

use support::{RawConn, split_aggregate};

/// corekv commands newer than the redis-server the tests run against.
const NEWER_THAN_REDIS_7_0: &[&str] = &["client|setinfo", "client|no-touch"];

fn names(conn: &mut RawConn) -> Vec<String> {
    let reply = conn.cmd(&["COMMAND", "LIST"]);
    let (_, items) = split_aggregate(&reply).expect("COMMAND LIST is an array");
    items
        .iter()
        .map(|b| {
            let s = String::from_utf8_lossy(b);
            // `$4\r\nname\r\n` -> name
            s.split("\r\n").nth(1).unwrap_or_default().to_string()
        })
        .collect()
}

/// `COMMAND INFO x` with the subcommand field of its one entry emptied.
fn without_subcommands(reply: &[u8]) -> Vec<u8> {
    let Some((outer, entries)) = split_aggregate(reply) else {
        return reply.to_vec();
    };
    let mut out = outer;
    for e in entries {
        let Some((head, mut fields)) = split_aggregate(&e) else {
            out.extend_from_slice(&e);
            continue;
        };
        if let Some(last) = fields.last_mut()
            && last.len() > 4
        {
            *last = b"<subcommands>".to_vec();
        }
        out.extend_from_slice(&head);
        for f in fields {
            out.extend_from_slice(&f);
        }
    }
    out
}

#[test]
fn command_info_matches_redis() {
    let Some(redis) = support::start_redis() else {
        return;
    };
    let corekv = support::start_corekv(2);
    let mut mismatches = Vec::new();
    for resp3 in [false, true] {
        let mut ours = RawConn::connect(corekv.port);
        let mut theirs = RawConn::connect(redis.port);
        if resp3 {
            ours.cmd(&["HELLO", "3"]);
            theirs.cmd(&["HELLO", "3"]);
        }
        let list = names(&mut ours);
        assert!(
            list.len() > 150,
            "COMMAND LIST has only {} names",
            list.len()
        );
        for name in &list {
            let a = ours.cmd(&["COMMAND", "INFO", name]);
            if NEWER_THAN_REDIS_7_0.contains(&name.as_str()) {
                assert!(a.starts_with(b"*1\r\n*10\r\n"), "{name}: {a:?}");
                continue;
            }
            let mut b = theirs.cmd(&["COMMAND", "INFO", name]);
            // A container's subcommands come in Redis's hash order, and corekv
            // has fewer of some (CLIENT): each `container|sub` is compared on
            // its own, so compare a container without its last field.
            let a = if name.contains('|') {
                a
            } else {
                without_subcommands(&a)
            };
            if !name.contains('|') {
                b = without_subcommands(&b);
            }
            if a != b {
                mismatches.push(format!(
                    "{} {name}:\n  corekv: {}\n  redis:  {}",
                    if resp3 { "RESP3" } else { "RESP2" },
                    support::escape(&a),
                    support::escape(&b)
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} COMMAND INFO mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn command_getkeys_matches_redis() {
    let Some(redis) = support::start_redis() else {
        return;
    };
    let corekv = support::start_corekv(2);
    let mut ours = RawConn::connect(corekv.port);
    let mut theirs = RawConn::connect(redis.port);
    let cases: &[&[&str]] = &[
        &["mset", "a", "1", "b", "2"],
        &["bitop", "and", "d", "s1", "s2"],
        &["zunionstore", "d", "2", "a", "b", "weights", "1", "2"],
        &["zinter", "2", "a", "b"],
        &["sort", "k", "by", "w_*", "store", "d"],
        &["lmpop", "2", "a", "b", "left"],
        &["blmpop", "0", "2", "a", "b", "left"],
        &["blpop", "a", "b", "0"],
        &["copy", "a", "b", "db", "3"],
        &["sintercard", "2", "a", "b", "limit", "1"],
        &["get", "k"],
        &["ping"],
        &["zunionstore", "d", "x", "a"],
    ];
    let mut mismatches = Vec::new();
    for case in cases {
        let mut args = vec!["COMMAND", "GETKEYS"];
        args.extend_from_slice(case);
        let (a, b) = (ours.cmd(&args), theirs.cmd(&args));
        if a != b {
            mismatches.push(format!(
                "{case:?}: corekv {} redis {}",
                support::escape(&a),
                support::escape(&b)
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
