//! The `rdb` fuzz target: the RDB reader on DUMP payloads and whole files, with
//! round trips through the writer (body: `corekv_fuzz::rdb::check` in
//! fuzz/src/rdb.rs).
//!
//! With the `libfuzzer` feature (the default, what cargo-fuzz builds) this is a
//! libFuzzer binary. Without it (`--no-default-features`, on stable) it runs the
//! body once on each file named on its command line, as a libFuzzer binary given
//! files does: `cargo run --release --no-default-features --bin rdb -- CRASH...`.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| corekv_fuzz::rdb::check(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() -> std::process::ExitCode {
    corekv_fuzz::replay_main("rdb")
}
