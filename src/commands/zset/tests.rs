use super::super::tests::run;
use super::*;
use crate::store::Store;

#[test]
fn score_range_ends() {
    assert_eq!(parse_range_end(b""), Some((0.0, false)));
    assert_eq!(parse_range_end(b"("), Some((0.0, true)));
    assert_eq!(parse_range_end(b" 2"), Some((2.0, false)));
    assert_eq!(parse_range_end(b"2 "), None);
}

#[test]
fn zadd_options_and_errors() {
    let mut st = Store::default();
    assert_eq!(run(&mut st, &["zadd", "z", "1", "a", "2", "b"]), ":2\r\n");
    assert_eq!(
        run(&mut st, &["zadd", "z", "ch", "3", "a", "2", "b", "1", "c"]),
        ":2\r\n"
    );
    assert_eq!(run(&mut st, &["zadd", "z", "nx", "9", "a"]), ":0\r\n");
    assert_eq!(
        run(&mut st, &["zadd", "z", "xx", "incr", "1", "a"]),
        "$1\r\n4\r\n"
    );
    assert_eq!(
        run(&mut st, &["zadd", "z", "gt", "incr", "-1", "a"]),
        "$-1\r\n"
    );
    assert_eq!(run(&mut st, &["zadd", "z", "xx", "1", "zz"]), ":0\r\n");
    assert_eq!(run(&mut st, &["zscore", "z", "zz"]), "$-1\r\n");
    assert_eq!(
        run(&mut st, &["zadd", "z", "nx", "xx", "1", "a"]),
        "-ERR XX and NX options at the same time are not compatible\r\n"
    );
    assert_eq!(
        run(&mut st, &["zadd", "z", "gt", "lt", "1", "a"]),
        "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"
    );
    assert_eq!(
        run(&mut st, &["zadd", "z", "incr", "1", "a", "2", "b"]),
        "-ERR INCR option supports a single increment-element pair\r\n"
    );
    assert_eq!(
        run(&mut st, &["zadd", "z", "x", "a"]),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(
        run(&mut st, &["zadd", "z", "1e400", "a"]),
        "-ERR value is not a valid float\r\n"
    );
    run(&mut st, &["zadd", "i", "inf", "a"]);
    assert_eq!(
        run(&mut st, &["zincrby", "i", "-inf", "a"]),
        "-ERR resulting score is not a number (NaN)\r\n"
    );
    assert_eq!(run(&mut st, &["zadd", "f", "1.1", "a"]), ":1\r\n");
    assert_eq!(
        run(&mut st, &["zscore", "f", "a"]),
        "$18\r\n1.1000000000000001\r\n"
    );
    assert_eq!(run(&mut st, &["zadd", "h", "0x10", "a"]), ":1\r\n");
    assert_eq!(run(&mut st, &["zscore", "h", "a"]), "$2\r\n16\r\n");
}

#[test]
fn ranges_and_removals() {
    let mut st = Store::default();
    run(
        &mut st,
        &["zadd", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
    );
    assert_eq!(
        run(
            &mut st,
            &["zrange", "z", "(1", "3", "byscore", "withscores"]
        ),
        "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    assert_eq!(
        run(
            &mut st,
            &[
                "zrange", "z", "+inf", "-inf", "byscore", "rev", "limit", "1", "2"
            ]
        ),
        "*2\r\n$1\r\nc\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        run(&mut st, &["zrevrange", "z", "0", "0"]),
        "*1\r\n$1\r\nd\r\n"
    );
    assert_eq!(
        run(&mut st, &["zrangebylex", "z", "[b", "(d"]),
        "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    assert_eq!(
        run(&mut st, &["zcount", "z", "x", "1"]),
        "-ERR min or max is not a float\r\n"
    );
    assert_eq!(
        run(&mut st, &["zlexcount", "z", "a", "+"]),
        "-ERR min or max not valid string range item\r\n"
    );
    assert_eq!(run(&mut st, &["zrangestore", "d", "z", "1", "2"]), ":2\r\n");
    assert_eq!(
        run(&mut st, &["zremrangebyscore", "z", "-inf", "(3"]),
        ":2\r\n"
    );
    assert_eq!(run(&mut st, &["zremrangebyrank", "z", "0", "-1"]), ":2\r\n");
    assert_eq!(run(&mut st, &["exists", "z"]), ":0\r\n");
}

#[test]
fn pops_and_setops() {
    let mut st = Store::default();
    run(&mut st, &["zadd", "a", "1", "x", "2", "y"]);
    run(&mut st, &["zadd", "b", "10", "y", "20", "z"]);
    assert_eq!(
        run(&mut st, &["zunion", "2", "a", "b", "withscores"]),
        "*6\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n20\r\n"
    );
    assert_eq!(
        run(
            &mut st,
            &[
                "zinter",
                "2",
                "a",
                "b",
                "weights",
                "2",
                "1",
                "aggregate",
                "min"
            ]
        ),
        "*1\r\n$1\r\ny\r\n"
    );
    assert_eq!(run(&mut st, &["zdiffstore", "d", "2", "a", "b"]), ":1\r\n");
    assert_eq!(
        run(&mut st, &["zintercard", "2", "a", "b", "limit", "0"]),
        ":1\r\n"
    );
    assert_eq!(
        run(&mut st, &["zunion", "0", "a"]),
        "-ERR at least 1 input key is needed for 'zunion' command\r\n"
    );
    assert_eq!(
        run(&mut st, &["zpopmin", "a"]),
        "*2\r\n$1\r\nx\r\n$1\r\n1\r\n"
    );
    assert_eq!(
        run(&mut st, &["zpopmax", "a", "5"]),
        "*2\r\n$1\r\ny\r\n$1\r\n2\r\n"
    );
    assert_eq!(run(&mut st, &["exists", "a"]), ":0\r\n");
    assert_eq!(
        run(&mut st, &["zpopmin", "b", "-1"]),
        "-ERR value is out of range, must be positive\r\n"
    );
}
