//! Sorted sets. (Placeholder; the sorted-set family fills it in.)

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZSet {
    /// (score, member), ordered.
    items: Vec<(f64, Vec<u8>)>,
}

impl ZSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Removes and returns the lowest (or, with `max`, the highest) member.
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        let (s, m) = if max {
            self.items.pop()?
        } else {
            if self.items.is_empty() {
                return None;
            }
            self.items.remove(0)
        };
        Some((m, s))
    }

    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
