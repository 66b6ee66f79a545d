//! Function libraries (FUNCTION LOAD, FCALL): one registry for the whole
//! process, as Redis keeps one. Here a library is data: its name, its code
//! and the functions it registered, with their flags. The scripting family
//! compiles libraries (once per shard thread, on first call) and installs
//! its compiler ([`set_compiler`]) so that loading a snapshot, replaying an
//! AOF or FUNCTION RESTORE checks a library's code exactly as FUNCTION LOAD
//! does.
//!
//! Every change replaces whole `Arc<Library>` values, so a shard thread
//! knows its compiled copy is current when it holds the same `Arc`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

/// Script flags (Redis's `SCRIPT_FLAG_*`), from a shebang or
/// `redis.register_function{flags=...}`.
pub mod flag {
    pub const NO_WRITES: u8 = 1;
    pub const ALLOW_OOM: u8 = 2;
    pub const ALLOW_STALE: u8 = 4;
    pub const NO_CLUSTER: u8 = 8;
    pub const ALLOW_CROSS_SLOT: u8 = 16;
    /// An EVAL script without a shebang: none of the above applies.
    pub const EVAL_COMPAT: u8 = 32;

    /// The flags' names, in the order Redis lists them.
    pub const NAMES: [(u8, &str); 5] = [
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];

    /// The flag named `name` (case-insensitive, as Redis compares).
    pub fn by_name(name: &[u8]) -> Option<u8> {
        NAMES
            .iter()
            .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|(f, _)| *f)
    }
}

/// One function a library registered.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    pub desc: Option<Bytes>,
    pub flags: u8,
}

/// A loaded library.
#[derive(Debug)]
pub struct Library {
    pub name: String,
    /// The engine as the shebang spelled it (Redis lists its own name).
    pub engine: String,
    /// The whole code, shebang included (what FUNCTION LIST WITHCODE, DUMP
    /// and snapshots carry).
    pub code: Bytes,
    pub functions: Vec<Function>,
}

/// The only engine there is.
pub const ENGINE: &str = "LUA";

/// What a library's shebang says: `#!<engine> name=<name>`.
#[derive(Debug, PartialEq, Eq)]
pub struct Meta {
    pub engine: String,
    pub name: String,
    /// Where the code after the shebang starts (at its line feed, so line
    /// numbers stay the user's).
    pub body: usize,
}

/// Parses a library's shebang, with Redis's errors (without the `ERR `).
pub fn metadata(code: &[u8]) -> Result<Meta, String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = memchr::memchr(b'\n', code) else {
        return Err("Invalid library metadata".into());
    };
    let parts: Vec<String> = match crate::util::split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect(),
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or("").to_string();
    let mut name = None;
    for p in &parts[1..] {
        let is_name = p.len() >= 5 && p.as_bytes()[..5].eq_ignore_ascii_case(b"name=");
        if !is_name {
            return Err(format!("Invalid metadata value given: {p}"));
        }
        if name.is_some() {
            return Err("Invalid metadata value, name argument was given multiple times".into());
        }
        name = Some(p[5..].to_string());
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if !valid_name(name.as_bytes()) {
        return Err(BAD_NAME.into());
    }
    if !engine.eq_ignore_ascii_case(ENGINE) {
        return Err(format!("Engine '{engine}' not found"));
    }
    Ok(Meta {
        engine,
        name,
        body: end,
    })
}

/// Redis's text for a library or function name outside `[A-Za-z0-9_]+`.
pub const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// `[A-Za-z0-9_]+`.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Checks a library's code and says what it registers: the scripting
/// family's compiler. `timeout`: whether FUNCTION LOAD's time limit applies
/// (not to a snapshot, an AOF or a master).
pub type Compiler = fn(code: &Bytes, timeout: bool) -> Result<Library, String>;

static COMPILER: OnceLock<Compiler> = OnceLock::new();

/// Installs the compiler (at start-up, with the command table).
pub fn set_compiler(c: Compiler) {
    let _ = COMPILER.set(c);
}

/// Compiles `code` with the installed compiler.
pub fn compile(code: &Bytes, timeout: bool) -> Result<Library, String> {
    match COMPILER.get() {
        Some(c) => c(code, timeout),
        None => Err("no scripting engine".into()),
    }
}

/// A set of libraries and the index of their functions (by lower-cased
/// name: function names are case-insensitive, library names are not).
#[derive(Default)]
pub struct Libraries {
    libs: BTreeMap<String, Arc<Library>>,
    funcs: HashMap<String, (Arc<Library>, usize)>,
}

impl Libraries {
    /// Adds `lib`; `replace`: an existing library of that name goes (and
    /// comes back if `lib` cannot be added).
    pub fn link(&mut self, lib: Library, replace: bool) -> Result<Arc<Library>, String> {
        let old = self.libs.get(&lib.name).cloned();
        if old.is_some() && !replace {
            return Err(format!("Library '{}' already exists", lib.name));
        }
        if let Some(old) = &old {
            self.unlink(old);
        }
        if let Some(f) = lib
            .functions
            .iter()
            .find(|f| self.funcs.contains_key(&f.name.to_ascii_lowercase()))
        {
            let e = format!("Function {} already exists", f.name);
            if let Some(old) = old {
                self.insert(old);
            }
            return Err(e);
        }
        let lib = Arc::new(lib);
        self.insert(lib.clone());
        Ok(lib)
    }

    fn insert(&mut self, lib: Arc<Library>) {
        for (i, f) in lib.functions.iter().enumerate() {
            self.funcs
                .entry(f.name.to_ascii_lowercase())
                .or_insert_with(|| (lib.clone(), i));
        }
        self.libs.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, lib: &Arc<Library>) {
        for f in &lib.functions {
            let key = f.name.to_ascii_lowercase();
            if self
                .funcs
                .get(&key)
                .is_some_and(|(l, _)| Arc::ptr_eq(l, lib))
            {
                self.funcs.remove(&key);
            }
        }
        self.libs.remove(&lib.name);
    }

    /// Moves every library of `other` in (FUNCTION RESTORE APPEND or
    /// REPLACE); all or nothing.
    fn join(&mut self, other: Libraries, replace: bool) -> Result<(), String> {
        let mut replaced = Vec::new();
        for name in other.libs.keys() {
            if let Some(old) = self.libs.get(name).cloned() {
                if !replace {
                    return Err(format!("Library {name} already exists"));
                }
                self.unlink(&old);
                replaced.push(old);
            }
        }
        let clash = other.libs.values().find_map(|l| {
            l.functions
                .iter()
                .find(|f| self.funcs.contains_key(&f.name.to_ascii_lowercase()))
        });
        if let Some(f) = clash {
            let e = format!("Function {} already exists", f.name);
            for old in replaced {
                self.insert(old);
            }
            return Err(e);
        }
        for lib in other.libs.into_values() {
            self.insert(lib);
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.libs.is_empty()
    }
}

static REGISTRY: LazyLock<RwLock<Libraries>> = LazyLock::new(|| RwLock::new(Libraries::default()));
/// Bumped by every change, so shard threads can drop stale compiled copies.
static VERSION: AtomicU64 = AtomicU64::new(0);

fn read() -> RwLockReadGuard<'static, Libraries> {
    REGISTRY.read().unwrap_or_else(|p| p.into_inner())
}

fn write() -> RwLockWriteGuard<'static, Libraries> {
    VERSION.fetch_add(1, Ordering::Relaxed);
    REGISTRY.write().unwrap_or_else(|p| p.into_inner())
}

/// The registry's version (changes with every load, delete, flush, restore).
pub fn version() -> u64 {
    VERSION.load(Ordering::Relaxed)
}

/// The function `name` (case-insensitive): its library and its index there.
pub fn lookup(name: &[u8]) -> Option<(Arc<Library>, usize)> {
    let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    read().funcs.get(&name).cloned()
}

/// Whether `lib` is still the registry's library of that name.
pub fn is_current(lib: &Arc<Library>) -> bool {
    read()
        .libs
        .get(&lib.name)
        .is_some_and(|l| Arc::ptr_eq(l, lib))
}

/// Whether a library called `name` exists.
pub fn exists(name: &str) -> bool {
    read().libs.contains_key(name)
}

/// Every library, by name.
pub fn libraries() -> Vec<Arc<Library>> {
    read().libs.values().cloned().collect()
}

/// (libraries, functions) for FUNCTION STATS and INFO.
pub fn counts() -> (usize, usize) {
    let r = read();
    (r.libs.len(), r.funcs.len())
}

/// Adds a compiled library (FUNCTION LOAD).
pub fn link(lib: Library, replace: bool) -> Result<Arc<Library>, String> {
    write().link(lib, replace)
}

/// FUNCTION DELETE.
pub fn delete(name: &[u8]) -> Result<(), String> {
    let mut w = write();
    let Some(lib) = std::str::from_utf8(name)
        .ok()
        .and_then(|n| w.libs.get(n).cloned())
    else {
        return Err("Library not found".into());
    };
    w.unlink(&lib);
    Ok(())
}

/// FUNCTION FLUSH (and what DEBUG RELOAD and a full resync empty).
pub fn flush() {
    *write() = Libraries::default();
}

/// How FUNCTION RESTORE treats the libraries already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Flush,
    Append,
    Replace,
}

/// Compiles `codes` into a set of their own (a library twice is an error),
/// as FUNCTION RESTORE and a snapshot's loader read them.
pub fn compile_all(codes: &[Bytes]) -> Result<Libraries, String> {
    let mut set = Libraries::default();
    for code in codes {
        let lib = compile(code, false)?;
        set.link(lib, false)?;
    }
    Ok(set)
}

/// Installs libraries read from a payload or a file.
pub fn restore(set: Libraries, policy: Policy) -> Result<(), String> {
    let mut w = write();
    match policy {
        Policy::Flush => {
            *w = set;
            Ok(())
        }
        Policy::Append => w.join(set, false),
        Policy::Replace => w.join(set, true),
    }
}

/// Libraries a loaded snapshot carried (`replace`: DEBUG RELOAD MERGE, a
/// library already here is replaced; else one is an error, as in Redis).
pub fn install_loaded(codes: &[Bytes], replace: bool) -> Result<(), String> {
    if codes.is_empty() {
        return Ok(());
    }
    let mut w = write();
    for code in codes {
        let lib = compile(code, false).map_err(|e| format!("Failed loading library, {e}"))?;
        w.link(lib, replace)
            .map_err(|e| format!("Failed loading library, {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib(name: &str, fns: &[&str]) -> Library {
        Library {
            name: name.into(),
            engine: ENGINE.into(),
            code: Bytes::new(),
            functions: fns
                .iter()
                .map(|f| Function {
                    name: (*f).into(),
                    desc: None,
                    flags: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn shebang_metadata() {
        let m = metadata(b"#!lua name=mylib\nreturn 1").unwrap();
        assert_eq!(
            (m.engine.as_str(), m.name.as_str(), m.body),
            ("lua", "mylib", 16)
        );
        assert_eq!(
            metadata(b"#!LUA name=\"q\"\n").unwrap().name,
            "q",
            "quotes as sdssplitargs reads them"
        );
        let err = |c: &[u8]| metadata(c).unwrap_err();
        assert_eq!(err(b"return 1"), "Missing library metadata");
        assert_eq!(err(b"#!lua name=x"), "Invalid library metadata");
        assert_eq!(err(b"#!lua\n"), "Library name was not given");
        assert_eq!(err(b"#! name=t\n"), "Engine '' not found");
        assert_eq!(
            err(b"#!lua name=t foo=bar\n"),
            "Invalid metadata value given: foo=bar"
        );
        assert_eq!(
            err(b"#!lua name=a name=b\n"),
            "Invalid metadata value, name argument was given multiple times"
        );
        assert_eq!(err(b"#!lua name=a-b\n"), BAD_NAME);
        assert_eq!(err(b"#!js name=a\n"), "Engine 'js' not found");
    }

    #[test]
    fn link_replace_and_collisions() {
        let mut l = Libraries::default();
        assert_eq!(l.link(lib("a", &["f1", "f2"]), false).unwrap().name, "a");
        assert_eq!(
            l.link(lib("a", &["f3"]), false).unwrap_err(),
            "Library 'a' already exists"
        );
        assert_eq!(
            l.link(lib("b", &["F1"]), false).unwrap_err(),
            "Function F1 already exists",
            "function names are case-insensitive"
        );
        // A failed replace keeps the old library.
        l.link(lib("b", &["g"]), false).unwrap();
        assert!(l.link(lib("a", &["g"]), true).is_err());
        assert!(l.funcs.contains_key("f1") && l.funcs.contains_key("f2"));
        l.link(lib("a", &["f9"]), true).unwrap();
        assert!(!l.funcs.contains_key("f1") && l.funcs.contains_key("f9"));
    }

    #[test]
    fn join_is_all_or_nothing() {
        let mut l = Libraries::default();
        l.link(lib("lib1", &["f6"]), false).unwrap();
        l.link(lib("lib2", &["f3", "f4"]), false).unwrap();
        let mut dump = Libraries::default();
        dump.link(lib("lib1", &["f1", "f3"]), false).unwrap();
        assert_eq!(
            l.join(std::mem::take(&mut dump), false).unwrap_err(),
            "Library lib1 already exists"
        );
        dump.link(lib("lib1", &["f1", "f3"]), false).unwrap();
        assert_eq!(
            l.join(dump, true).unwrap_err(),
            "Function f3 already exists"
        );
        assert!(l.funcs.contains_key("f6"), "the replaced library is back");
    }
}
