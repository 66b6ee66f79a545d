//! The `dict` fuzz target: the store's dict against a `HashMap` model (body:
//! `corekv_fuzz::dict::check` in fuzz/src/dict.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| corekv_fuzz::dict::check(data));
