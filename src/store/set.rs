//! Sets. (Placeholder; the set family fills it in.)

use super::pack::Pack;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Set {
    pack: Pack,
}

impl Set {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.pack.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pack.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
