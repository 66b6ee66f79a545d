//! Lists. (Placeholder representation; the list family replaces it.)

use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    items: VecDeque<Box<[u8]>>,
}

impl List {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Pushes at the head (`left`) or the tail.
    pub fn push(&mut self, left: bool, v: &[u8]) {
        if left {
            self.items.push_front(v.into());
        } else {
            self.items.push_back(v.into());
        }
    }

    /// Pops from the head (`left`) or the tail.
    pub fn pop(&mut self, left: bool) -> Option<Vec<u8>> {
        let v = if left {
            self.items.pop_front()
        } else {
            self.items.pop_back()
        };
        v.map(Vec::from)
    }

    /// The name OBJECT ENCODING reports (Redis 7.0 reports every list as a quicklist).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }
}
