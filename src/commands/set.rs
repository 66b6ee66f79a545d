//! The set family. (Being written.)

use super::table::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
