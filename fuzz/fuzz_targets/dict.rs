//! The `dict` fuzz target: the store's dict against a `HashMap` model (body:
//! `corekv_fuzz::dict::check` in fuzz/src/dict.rs).
//!
//! With the `libfuzzer` feature (the default, what cargo-fuzz builds) this is a
//! libFuzzer binary. Without it (`--no-default-features`, on stable) it runs the
//! body once on each file named on its command line, as a libFuzzer binary given
//! files does: `cargo run --release --no-default-features --bin dict -- CRASH...`.
#![cfg_attr(feature = "libfuzzer", no_main)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| corekv_fuzz::dict::check(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() -> std::process::ExitCode {
    corekv_fuzz::replay_main("dict")
}
