//! corekv's fuzz target bodies. Each module's `check` runs one input and panics
//! when a property is violated; the cargo-fuzz binaries in `fuzz_targets/` call them.

pub mod dict;
pub mod parser;
