//! The keyspace of one shard: values, encodings and expiry. Single-threaded: a
//! `Store` is owned by its shard's thread and never shared.

pub mod dict;

use dict::Dict;

/// Redis's default number of databases.
pub const NUM_DBS: usize = 16;

/// A stored value. Collection types are added here as they are implemented.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Vec<u8>),
}

impl Value {
    pub fn as_str(&self) -> Option<&Vec<u8>> {
        match self {
            Value::Str(s) => Some(s),
        }
    }

    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }
}

/// One key's slot in the keyspace.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in unix milliseconds; 0 means none.
    pub expire_at: u64,
    /// Last access, in seconds since the shard started (for OBJECT IDLETIME).
    pub access: u32,
    /// Set when a string was modified in place (APPEND, SETRANGE, ...): Redis then
    /// reports the `raw` encoding whatever the length.
    pub raw: bool,
}

thread_local! {
    /// Seconds clock of the command being run on this thread (for access times),
    /// refreshed once per command so entries need not take a time argument.
    static CLOCK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Sets this thread's command clock from a unix-ms instant.
#[inline]
pub fn set_clock(now_ms: u64) {
    CLOCK.with(|c| c.set((now_ms / 1000) as u32));
}

#[inline]
pub fn clock() -> u32 {
    CLOCK.with(|c| c.get())
}

impl Entry {
    pub fn new(value: Value) -> Self {
        Entry {
            value,
            expire_at: 0,
            access: clock(),
            raw: false,
        }
    }

    #[inline]
    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now
    }

    /// The name `OBJECT ENCODING` reports, following Redis's rules for strings.
    pub fn encoding(&self) -> &'static str {
        match &self.value {
            Value::Str(s) => {
                if self.raw {
                    "raw"
                } else if s.len() <= 20 && crate::protocol::parse_i64(s).is_some() {
                    "int"
                } else if s.len() > 44 {
                    "raw"
                } else {
                    "embstr"
                }
            }
        }
    }
}

/// One database of one shard.
#[derive(Default)]
pub struct Db {
    pub dict: Dict<Entry>,
    /// Number of keys with an expiry (INFO keyspace `expires=`).
    pub volatile: usize,
}

impl Db {
    /// The slot position of a live key, deleting it first if it has expired (lazy
    /// expiry). One hash and one probe: callers reuse the position.
    #[inline]
    pub fn find(&mut self, key: &[u8], now: u64) -> Option<u32> {
        let pos = self.dict.position(key)?;
        if self.dict.at(pos).is_some_and(|(_, e)| e.is_expired(now)) {
            self.remove_at(pos);
            return None;
        }
        Some(pos)
    }

    /// Looks a key up (see [`find`](Self::find)) and marks it accessed.
    #[inline]
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&mut Entry> {
        let pos = self.find(key, now)?;
        let (_, e) = self.dict.at_mut(pos)?;
        e.access = clock();
        Some(e)
    }

    /// Replaces the entry at a position found by [`find`](Self::find).
    pub fn replace_at(&mut self, pos: u32, entry: Entry) {
        let new_volatile = entry.expire_at != 0;
        if let Some((_, e)) = self.dict.at_mut(pos) {
            if e.expire_at != 0 {
                self.volatile -= 1;
            }
            *e = entry;
            if new_volatile {
                self.volatile += 1;
            }
        }
    }

    fn remove_at(&mut self, pos: u32) -> Option<Entry> {
        let (_, e) = self.dict.remove_at(pos)?;
        if e.expire_at != 0 {
            self.volatile -= 1;
        }
        Some(e)
    }

    /// Read-only lookup that treats expired keys as missing without deleting them.
    #[inline]
    pub fn peek(&self, key: &[u8], now: u64) -> Option<&Entry> {
        self.dict.get(key).filter(|e| !e.is_expired(now))
    }

    pub fn exists(&mut self, key: &[u8], now: u64) -> bool {
        self.get(key, now).is_some()
    }

    /// Stores a value, replacing any previous one and clearing its expiry.
    pub fn set(&mut self, key: &[u8], value: Value) {
        self.set_entry(key, Entry::new(value));
    }

    /// Stores a whole entry (value + expiry), replacing any previous one.
    pub fn set_entry(&mut self, key: &[u8], entry: Entry) {
        let new_volatile = entry.expire_at != 0;
        if let Some(old) = self.dict.insert(key, entry)
            && old.expire_at != 0
        {
            self.volatile -= 1;
        }
        if new_volatile {
            self.volatile += 1;
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (_, e) = self.dict.remove(key)?;
        if e.expire_at != 0 {
            self.volatile -= 1;
        }
        Some(e)
    }

    /// Sets or clears (0) the expiry of an existing key; returns false if missing.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        match self.dict.get_mut(key) {
            None => false,
            Some(e) => {
                match (e.expire_at != 0, at != 0) {
                    (false, true) => self.volatile += 1,
                    (true, false) => self.volatile -= 1,
                    _ => {}
                }
                e.expire_at = at;
                true
            }
        }
    }

    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    pub fn clear(&mut self) {
        self.dict.clear();
        self.volatile = 0;
    }

    /// One round of Redis-style active expiry: sample up to `samples` keys at random,
    /// delete the expired ones; returns (sampled, expired) so the caller can repeat
    /// while more than a quarter of the samples had expired.
    pub fn expire_cycle(
        &mut self,
        now: u64,
        samples: usize,
        rand: &mut impl FnMut() -> u64,
        skip: &dyn Fn(&[u8]) -> bool,
    ) -> (usize, usize) {
        if self.volatile == 0 {
            return (0, 0);
        }
        let mut sampled = 0;
        let mut victims: Vec<u32> = Vec::new();
        for _ in 0..samples {
            let Some((pos, key, e)) = self.dict.random(rand) else {
                break;
            };
            sampled += 1;
            if e.is_expired(now) && !skip(key) {
                victims.push(pos);
            }
        }
        victims.sort_unstable();
        victims.dedup();
        let mut expired = 0;
        for pos in victims {
            if let Some((_, e)) = self.dict.remove_at(pos) {
                if e.expire_at != 0 {
                    self.volatile -= 1;
                }
                expired += 1;
            }
        }
        (sampled, expired)
    }
}

/// All databases of one shard.
pub struct Store {
    pub dbs: Vec<Db>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            dbs: (0..NUM_DBS).map(|_| Db::default()).collect(),
        }
    }
}

impl Store {
    pub fn keys(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }
}

/// Milliseconds since the unix epoch.
#[inline]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
