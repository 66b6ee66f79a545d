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

    /// Calls `f` with every member (any order). Other families (ZUNION, SORT)
    /// read sets through this.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        for m in self.pack.iter() {
            f(m);
        }
    }

    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
