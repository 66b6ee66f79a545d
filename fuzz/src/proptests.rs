//! The fuzz target bodies as proptest properties: a third way to run them (with
//! `cargo test`), whose failures proptest shrinks to a small case. Case count:
//! 256 per property, or `PROPTEST_CASES`.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::inputs::PARSER_TOKENS;

/// One piece of a RESP stream: a token, a header with a small count or length,
/// letters, or arbitrary bytes. Shrinking drops and simplifies pieces.
fn resp_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::sample::select(PARSER_TOKENS).prop_map(<[u8]>::to_vec),
        (-2i64..12).prop_map(|n| format!("*{n}\r\n").into_bytes()),
        (-2i64..12).prop_map(|n| format!("${n}\r\n").into_bytes()),
        "[a-z ]{0,8}".prop_map(String::into_bytes),
        vec(any::<u8>(), 0..8),
    ]
}

proptest! {
    #[test]
    fn parser(seed in any::<u8>(), pieces in vec(resp_piece(), 0..32)) {
        let mut input = vec![seed];
        input.extend(pieces.concat());
        crate::parser::check(&input);
    }

    #[test]
    fn dict(program in vec(any::<u8>(), 0..1024)) {
        crate::dict::check(&program);
    }
}
