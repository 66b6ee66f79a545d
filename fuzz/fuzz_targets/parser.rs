//! The `parser` fuzz target: the RESP parser, one-shot vs chunked (body:
//! `corekv_fuzz::parser::check` in fuzz/src/parser.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| corekv_fuzz::parser::check(data));
