//! The fuzz target bodies as proptest properties: a third way to run them (with
//! `cargo test`), whose failures proptest shrinks to a small case. Case count:
//! 256 per property, or `PROPTEST_CASES`.

use proptest::collection::vec;
use proptest::prelude::*;

use corekv::store::rdb::{CRC64, RDB_VERSION};

use crate::inputs::{PARSER_TOKENS, RDB_TOKENS};

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

/// One piece of an RDB body: a token (opcode, type byte, length or string
/// encoding, packed-blob header), a short length-prefixed string, or bytes.
fn rdb_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::sample::select(RDB_TOKENS).prop_map(<[u8]>::to_vec),
        "[a-z0-9]{0,8}".prop_map(|s| {
            let mut v = vec![s.len() as u8];
            v.extend(s.into_bytes());
            v
        }),
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

    /// A DUMP payload with a valid footer (so the pieces reach the decoder).
    #[test]
    fn rdb_payload(ty in 0u8..22, pieces in vec(rdb_piece(), 0..16)) {
        let mut p = vec![ty];
        p.extend(pieces.concat());
        p.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = CRC64.checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        crate::rdb::check(&p);
    }

    /// An RDB file of pieces, ending with EOF and an unchecked (0) checksum.
    #[test]
    fn rdb_file(pieces in vec(rdb_piece(), 0..24)) {
        let mut f = b"REDIS0010".to_vec();
        f.extend(pieces.concat());
        f.push(0xFF);
        f.extend_from_slice(&[0; 8]);
        crate::rdb::check(&f);
    }
}
