//! The `parser` fuzz target: the RESP parser, one-shot vs chunked (body:
//! `corekv_fuzz::parser::check` in fuzz/src/parser.rs).
//!
//! With the `libfuzzer` feature (the default, what cargo-fuzz builds) this is a
//! libFuzzer binary. Without it (`--no-default-features`, on stable) it runs the
//! body once on each file named on its command line, as a libFuzzer binary given
//! files does: `cargo run --release --no-default-features --bin parser -- CRASH...`.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| corekv_fuzz::parser::check(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() -> std::process::ExitCode {
    corekv_fuzz::replay_main("parser")
}
