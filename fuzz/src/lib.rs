//! corekv's fuzz targets. Each target's body (`parser::check`, `dict::check`,
//! `rdb::check`) runs one input and panics when a property is violated; it runs
//!
//! - in the cargo-fuzz (libFuzzer) binaries, `fuzz_targets/*.rs`, built with the
//!   default `libfuzzer` feature; needs nightly and cargo-fuzz (`scripts/fuzz.sh`);
//! - on stable, without that feature, in [`driver`]: a seeded random-input loop
//!   with per-target generators, a mutator and a minimizer, run by
//!   `examples/random.rs` (`scripts/fuzz.sh --stable`) and by this crate's unit
//!   tests, next to proptest properties (`scripts/fuzz.sh --test`).
//!
//! A [`Target`] pairs the body with a generator of plausible inputs for the stable
//! driver, which has no coverage feedback to discover the input format by itself.

pub mod dict;
pub mod driver;
pub mod inputs;
pub mod parser;
#[cfg(test)]
mod proptests;
pub mod rdb;

/// One fuzz target.
pub struct Target {
    /// The cargo-fuzz binary name (`fuzz_targets/<name>.rs`).
    pub name: &'static str,
    /// The body: runs one input, panics on a violated property.
    pub check: fn(&[u8]),
    /// Appends one fresh input (structured for the target) to the buffer.
    pub generate: fn(&mut inputs::Rng, &mut Vec<u8>),
    /// Byte strings the mutator splices into inputs (like a libFuzzer dictionary).
    pub tokens: &'static [&'static [u8]],
}

/// Every target, in the order `scripts/fuzz.sh` runs them by default.
pub const TARGETS: &[Target] = &[
    Target {
        name: "parser",
        check: parser::check,
        generate: inputs::parser_input,
        tokens: inputs::PARSER_TOKENS,
    },
    Target {
        name: "dict",
        check: dict::check,
        generate: inputs::dict_input,
        tokens: &[],
    },
    Target {
        name: "rdb",
        check: rdb::check,
        generate: inputs::rdb_input,
        tokens: inputs::RDB_TOKENS,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// `main` of a fuzz_targets binary built without libFuzzer: replays the files (or
/// directories of files) named on the command line; exit status 1 if any fails.
pub fn replay_main(name: &str) -> std::process::ExitCode {
    let paths: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    if paths.is_empty() {
        eprintln!(
            "usage: {name} FILE|DIR...  (built without libFuzzer, this binary only replays \
             inputs; fuzz on stable with scripts/fuzz.sh --stable)"
        );
        return std::process::ExitCode::from(2);
    }
    match driver::replay(target(name).expect("a known target"), &paths) {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
