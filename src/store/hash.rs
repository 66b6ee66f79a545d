//! Hashes. (Placeholder; the hash family fills it in.)

use super::pack::Pack;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hash {
    pack: Pack,
}

impl Hash {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.pack.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.pack.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
