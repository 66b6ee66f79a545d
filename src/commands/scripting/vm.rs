//! One Lua 5.1 interpreter per shard thread, set up as Redis 7.0 sets up its
//! one (`prelude.lua`), and the process-wide script cache that EVALSHA and
//! SCRIPT EXISTS read on every shard.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::MultiValue;
use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value};

use crate::shard::functions::{self as registry, Library};

/// Script bodies by lower-case SHA1, shared by all shards; each thread
/// compiles a body the first time it runs it there.
static SCRIPTS: LazyLock<RwLock<HashMap<String, Bytes>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));
/// Bumped by SCRIPT FLUSH: threads drop their compiled functions.
static GENERATION: AtomicU64 = AtomicU64::new(0);

pub fn sha1hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

pub fn stored(sha: &str) -> Option<Bytes> {
    SCRIPTS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(sha)
        .cloned()
}

pub fn store(sha: String, body: Bytes) {
    SCRIPTS
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(sha, body);
}

pub fn flush() {
    SCRIPTS.write().unwrap_or_else(|p| p.into_inner()).clear();
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// A shard thread's interpreter.
pub struct Vm {
    pub lua: Lua,
    pub env: Table,
    /// `start(f, KEYS, ARGV)` → the script's coroutine.
    pub start: Function,
    /// `step(co, ...)` → `'call', args...` | `'done', value` | `'error', table`.
    pub step: Function,
    /// Redis's `luaPushErrorBuff`: a message → `{err = "CODE msg"}`.
    pub error_table: Function,
    /// `fail(co, err)`: a failed `redis.call` ends the script: `err` with
    /// where it was called.
    pub fail: Function,
    /// What the host resumes a nested failed `redis.call` with.
    pub raise: Value,
    compiled: RefCell<HashMap<String, Function>>,
    generation: Cell<u64>,
    /// `redis.setresp`: the protocol the script's calls answer in.
    pub resp: Rc<Cell<u8>>,
    /// The function libraries' shared environment.
    fenv: Table,
    /// `load_library(co)` → `true, {registered...}` | `false, message`.
    load_library: Function,
    /// `start_fn(callback, keys, args)` → a function call's coroutine.
    pub start_fn: Function,
    /// Libraries compiled on this thread: each function's callback, valid
    /// while the registry still holds that very `Arc`.
    libs: RefCell<HashMap<String, CompiledLib>>,
    libs_version: Cell<u64>,
}

struct CompiledLib {
    lib: Arc<Library>,
    callbacks: Vec<Function>,
}

thread_local! {
    static VM: RefCell<Option<Rc<Vm>>> = const { RefCell::new(None) };
}

/// The script cache's size (INFO `number_of_cached_scripts`).
pub fn cached_scripts() -> usize {
    SCRIPTS.read().unwrap_or_else(|p| p.into_inner()).len()
}

/// Bytes this thread's interpreter uses (0 before one is made).
pub fn memory() -> usize {
    VM.with(|v| v.borrow().as_ref().map_or(0, |vm| vm.lua.used_memory()))
}

/// This thread's interpreter (made on first use).
pub fn get() -> Result<Rc<Vm>, String> {
    VM.with(|v| {
        if let Some(vm) = v.borrow().as_ref() {
            return Ok(vm.clone());
        }
        let vm = Rc::new(Vm::new().map_err(|e| format!("ERR Lua setup failed: {e}"))?);
        *v.borrow_mut() = Some(vm.clone());
        Ok(vm)
    })
}

/// Redis's `redisLrand48`: the 48-bit linear congruential generator, from
/// the same default state, so `math.random` gives Redis's sequence.
#[derive(Clone, Copy)]
struct Lrand48(u64);

impl Lrand48 {
    const A: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn seed(s: i32) -> Lrand48 {
        Lrand48((((s as u32 as u64) << 16) | 0x330E) & Self::MASK)
    }

    fn next(&mut self) -> i32 {
        self.0 = (Self::A.wrapping_mul(self.0).wrapping_add(0xB)) & Self::MASK;
        (self.0 >> 17) as i32
    }
}

impl Vm {
    fn new() -> mlua::Result<Vm> {
        // SAFETY: the debug library is loaded only for the prelude, which keeps
        // `debug.getinfo` in a local and never hands the library to scripts;
        // nothing else of it is reachable from a script's environment.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::default(),
            )
        };
        let resp = Rc::new(Cell::new(2u8));
        let host = lua.create_table()?;
        host.set(
            "sha1hex",
            lua.create_function(|_, s: mlua::LuaString| Ok(sha1hex(&s.as_bytes())))?,
        )?;
        host.set(
            "log",
            lua.create_function(|_, (level, msg): (i64, mlua::LuaString)| {
                let msg = msg.to_string_lossy();
                match level {
                    0 => log::debug!("{msg}"),
                    1 => log::info!("{msg}"),
                    2 => log::info!("{msg}"),
                    _ => log::warn!("{msg}"),
                }
                Ok(())
            })?,
        )?;
        let r = resp.clone();
        host.set(
            "set_resp",
            lua.create_function(move |_, n: u8| {
                r.set(n);
                Ok(())
            })?,
        )?;
        let rng = Rc::new(Cell::new(Lrand48(0x1234_ABCD_330E)));
        let g = rng.clone();
        host.set(
            "random",
            lua.create_function(move |_, args: mlua::Variadic<f64>| {
                let mut st = g.get();
                let x = st.next();
                g.set(st);
                let r = (x % i32::MAX) as f64 / i32::MAX as f64;
                match args.len() {
                    0 => Ok(r),
                    1 => {
                        let u = args[0] as i32;
                        if u < 1 {
                            return Err(mlua::Error::runtime(
                                "bad argument #1 to 'random' (interval is empty)",
                            ));
                        }
                        Ok((r * u as f64).floor() + 1.0)
                    }
                    2 => {
                        let (l, u) = (args[0] as i32, args[1] as i32);
                        if l > u {
                            return Err(mlua::Error::runtime(
                                "bad argument #2 to 'random' (interval is empty)",
                            ));
                        }
                        Ok((r * (u as f64 - l as f64 + 1.0)).floor() + l as f64)
                    }
                    _ => Err(mlua::Error::runtime("wrong number of arguments")),
                }
            })?,
        )?;
        host.set(
            "randomseed",
            lua.create_function(move |_, s: f64| {
                rng.set(Lrand48::seed(s as i32));
                Ok(())
            })?,
        )?;
        host.set(
            "command_exists",
            lua.create_function(|_, name: mlua::LuaString| {
                Ok(crate::dispatch::table::lookup(&name.as_bytes()).is_some())
            })?,
        )?;
        host.set(
            "script_flag",
            lua.create_function(|_, name: mlua::LuaString| {
                Ok(registry::flag::by_name(&name.as_bytes()).is_some())
            })?,
        )?;
        host.set(
            "valid_name",
            lua.create_function(|_, name: mlua::LuaString| {
                Ok(registry::valid_name(&name.as_bytes()))
            })?,
        )?;
        host.set(
            "take_tick",
            lua.create_function(|_, ()| Ok(TICKED.with(|t| t.replace(false))))?,
        )?;
        host.set(
            "killed",
            lua.create_function(|_, ()| Ok(crate::shard::script::killed()))?,
        )?;
        host.set("version", crate::commands::server::REDIS_VERSION)?;
        host.set("version_num", version_num())?;
        host.set("bit", super::bit::library(&lua)?)?;
        host.set("cjson", super::cjson::library(&lua)?)?;
        // Functions run in a Lua state of their own in Redis: their cjson
        // settings are not the scripts'.
        host.set("fn_cjson", super::cjson::library(&lua)?)?;
        host.set("cmsgpack", super::cmsgpack::library(&lua)?)?;
        host.set("struct", super::lstruct::library(&lua)?)?;
        host.set(
            "cwrap",
            lua.create_function(|lua, f: Function| {
                // SAFETY: `f` is the one value pushed; `lua_pushcclosure`
                // pops it as the closure's upvalue and pushes the closure,
                // the one result `exec_raw` reads back.
                unsafe {
                    lua.exec_raw::<Function>(f, |l| {
                        mlua::ffi::lua_pushcclosure(l, trampoline, 1);
                    })
                }
            })?,
        )?;
        // An error value's message, and whether it is already complete with
        // its location (the libraries' errors are).
        host.set(
            "sandbox",
            lua.create_function(|lua, (protected, string_mt): (Table, Table)| {
                // SAFETY: each closure is made from the two values pushed
                // here as its upvalues (`lua_pushvalue` copies them for the
                // next); the three closures are what is left on the stack,
                // the results `exec_raw` reads back.
                unsafe {
                    lua.exec_raw::<(Function, Function, Function)>((protected, string_mt), |l| {
                        use mlua::ffi;
                        for f in [sandbox_setmetatable, sandbox_getmetatable, sandbox_rawset] {
                            ffi::lua_pushvalue(l, 1);
                            ffi::lua_pushvalue(l, 2);
                            ffi::lua_pushcclosure(l, f, 2);
                        }
                        ffi::lua_remove(l, 1);
                        ffi::lua_remove(l, 1);
                    })
                }
            })?,
        )?;
        host.set(
            "errmsg",
            lua.create_function(|lua, v: Value| {
                Ok(match v {
                    Value::Error(e) => match super::luaaux::raised(&e) {
                        Some(m) => (lua.create_string(m)?, true),
                        None => (lua.create_string(error_message(&e))?, false),
                    },
                    other => (
                        lua.create_string(other.to_string().unwrap_or_default())?,
                        false,
                    ),
                })
            })?,
        )?;
        host.set(
            "take_call",
            lua.create_function(|_, ()| {
                Ok(match CALLED.with(|c| c.replace(0)) {
                    0 => None,
                    k => Some(k == 1),
                })
            })?,
        )?;
        // SAFETY: `yield_call` and `yield_pcall` are C functions that follow
        // the Lua C API: they touch only their own stack and end by yielding.
        unsafe {
            host.set("call", lua.create_c_function(yield_call)?)?;
            host.set("pcall", lua.create_c_function(yield_pcall)?)?;
            host.set("unpack", lua.create_c_function(checked_unpack)?)?;
        }
        type Prelude = (
            Table,
            Function,
            Function,
            Function,
            Function,
            Value,
            Table,
            Function,
            Function,
        );
        let (env, start, step, error_table, fail, raise, fenv, load_library, start_fn): Prelude =
            lua.load(include_str!("prelude.lua"))
                .set_name("@corekv")
                .set_mode(ChunkMode::Text)
                .call(host)?;
        let probe = lua.create_thread(lua.create_function(|_, ()| Ok(()))?)?;
        // SAFETY: the one argument pushed is the fresh thread `probe`, which
        // `check_head` only inspects and leaves as it was; nothing is left
        // on the stack.
        let ok = unsafe {
            lua.exec_raw::<bool>(probe, |l| {
                let t = mlua::ffi::lua_tothread(l, -1);
                let ok = !t.is_null() && check_head(t);
                mlua::ffi::lua_settop(l, 0);
                mlua::ffi::lua_pushboolean(l, ok as std::ffi::c_int);
            })?
        };
        HEAD_OK.with(|h| h.set(ok));
        if !ok {
            log::warn!("Lua's state layout is not the one expected: busy scripts will not yield");
        }
        // What the prelude captured is all scripts get of these.
        let globals = lua.globals();
        for name in ["debug", "print", "dofile", "loadfile", "setfenv", "getfenv"] {
            globals.raw_set(name, Value::Nil)?;
        }
        Ok(Vm {
            lua,
            env,
            start,
            step,
            error_table,
            fail,
            raise,
            compiled: RefCell::new(HashMap::new()),
            generation: Cell::new(GENERATION.load(Ordering::Relaxed)),
            resp,
            fenv,
            load_library,
            start_fn,
            libs: RefCell::new(HashMap::new()),
            libs_version: Cell::new(registry::version()),
        })
    }

    /// Runs a library's code as FUNCTION LOAD does (its shebang already
    /// checked: `body` is what follows it): what it registered, and each
    /// function's callback. `timeout`: FUNCTION LOAD's time limit applies.
    pub fn load_library(
        &self,
        meta: registry::Meta,
        code: &bytes::Bytes,
        timeout: bool,
    ) -> Result<(Library, Vec<Function>), String> {
        let chunk = self
            .lua
            .load(&code[meta.body..])
            .set_name("@user_function")
            .set_mode(ChunkMode::Text)
            .set_environment(self.fenv.clone())
            .into_function()
            .map_err(|e| format!("Error compiling function: {}", lua_message(&e)))?;
        let fail = |e: mlua::Error| format!("Error registering functions: ERR {}", lua_message(&e));
        let co = self.lua.create_thread(chunk).map_err(fail)?;
        let deadline = timeout.then(|| Instant::now() + LOAD_TIMEOUT);
        LOAD_DEADLINE.with(|d| d.set(deadline));
        // SAFETY: the one argument pushed is the thread `co`; the hook is a
        // C function that only reads a thread-local and, past the deadline,
        // raises an error table (as Redis's load hook does). Nothing is left
        // on the stack.
        let hooked = unsafe {
            self.lua.exec_raw::<()>(co.clone(), |l| {
                let t = mlua::ffi::lua_tothread(l, -1);
                if !t.is_null() {
                    mlua::ffi::lua_sethook(t, Some(load_hook), mlua::ffi::LUA_MASKCOUNT, 100_000);
                }
                mlua::ffi::lua_settop(l, 0);
            })
        };
        hooked.map_err(fail)?;
        let out = self.load_library.call::<MultiValue>(co);
        LOAD_DEADLINE.with(|d| d.set(None));
        let out = out.map_err(fail)?;
        let mut out = out.into_vec().into_iter();
        let ok = matches!(out.next(), Some(Value::Boolean(true)));
        let list = match (ok, out.next()) {
            (true, Some(Value::Table(t))) => t,
            (_, Some(Value::String(m))) => {
                return Err(format!(
                    "Error registering functions: {}",
                    m.to_string_lossy()
                ));
            }
            _ => return Err("Error registering functions: ERR unknown error".into()),
        };
        let mut functions = Vec::new();
        let mut callbacks = Vec::new();
        for entry in list.sequence_values::<Table>() {
            let entry = entry.map_err(fail)?;
            let name: String = entry.get("name").map_err(fail)?;
            let desc: Option<mlua::LuaString> = entry.get("desc").map_err(fail)?;
            let names: Vec<mlua::LuaString> = entry.get("flags").map_err(fail)?;
            let flags = names
                .iter()
                .filter_map(|n| registry::flag::by_name(&n.as_bytes()))
                .fold(0, |a, f| a | f);
            callbacks.push(entry.get::<Function>("callback").map_err(fail)?);
            functions.push(registry::Function {
                name,
                desc: desc.map(|d| bytes::Bytes::copy_from_slice(&d.as_bytes())),
                flags,
            });
        }
        if functions.is_empty() {
            return Err("No functions registered".into());
        }
        let lib = Library {
            name: meta.name,
            engine: meta.engine,
            code: code.clone(),
            functions,
        };
        Ok((lib, callbacks))
    }

    /// Puts the script hook on a script's coroutine (the coroutines it
    /// creates inherit it).
    pub fn hook_script(&self, co: &mlua::Thread) -> mlua::Result<()> {
        // SAFETY: the one argument pushed is the thread `co`; the hook is
        // `script_hook`; nothing is left on the stack.
        unsafe {
            self.lua.exec_raw::<()>(co.clone(), |l| {
                let t = mlua::ffi::lua_tothread(l, -1);
                if !t.is_null() {
                    mlua::ffi::lua_sethook(
                        t,
                        Some(script_hook),
                        mlua::ffi::LUA_MASKCOUNT,
                        HOOK_EVERY,
                    );
                }
                mlua::ffi::lua_settop(l, 0);
            })
        }
    }

    /// Remembers the callbacks of a library this thread just compiled.
    pub fn keep_library(&self, lib: &Arc<Library>, callbacks: Vec<Function>) {
        self.libs.borrow_mut().insert(
            lib.name.clone(),
            CompiledLib {
                lib: lib.clone(),
                callbacks,
            },
        );
    }

    /// The callback of function `idx` of `lib`, compiling the library on
    /// this thread if it has not yet (or has an older version).
    pub fn function_of(&self, lib: &Arc<Library>, idx: usize) -> Result<Function, String> {
        let version = registry::version();
        if self.libs_version.replace(version) != version {
            self.libs
                .borrow_mut()
                .retain(|_, c| registry::is_current(&c.lib));
        }
        if let Some(c) = self.libs.borrow().get(&lib.name)
            && Arc::ptr_eq(&c.lib, lib)
        {
            return c
                .callbacks
                .get(idx)
                .cloned()
                .ok_or_else(|| "ERR Function not found".to_string());
        }
        let meta = registry::metadata(&lib.code).map_err(|e| format!("ERR {e}"))?;
        let (_, callbacks) = self
            .load_library(meta, &lib.code, false)
            .map_err(|e| format!("ERR {e}"))?;
        let f = callbacks.get(idx).cloned();
        self.keep_library(lib, callbacks);
        f.ok_or_else(|| "ERR Function not found".to_string())
    }

    /// The compiled script `sha` (compiling `body`), or Redis's compile error.
    pub fn function(&self, sha: &str, body: &[u8]) -> Result<Function, String> {
        let generation = GENERATION.load(Ordering::Relaxed);
        if self.generation.replace(generation) != generation {
            self.compiled.borrow_mut().clear();
        }
        if let Some(f) = self.compiled.borrow().get(sha) {
            return Ok(f.clone());
        }
        let f = compile(&self.lua, &self.env, body)?;
        self.compiled
            .borrow_mut()
            .insert(sha.to_string(), f.clone());
        Ok(f)
    }
}

/// FUNCTION LOAD's time limit (Redis's `LOAD_TIMEOUT_MS`).
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

thread_local! {
    /// While a library's code runs under FUNCTION LOAD: when it must stop.
    static LOAD_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The count hook of a library load: past the deadline, raises Redis's
/// `FUNCTION LOAD timeout` error table.
///
/// # Safety
/// Called by Lua with a valid state, as a hook.
unsafe extern "C-unwind" fn load_hook(l: *mut mlua::lua_State, _ar: *mut mlua::ffi::lua_Debug) {
    let late = LOAD_DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() > t));
    if !late {
        return;
    }
    use mlua::ffi;
    // SAFETY: `l` is the running state; two slots are reserved before the
    // table and its one field are pushed, and raising an error from a count
    // hook is allowed (the hook is not called again until the next count).
    unsafe {
        if ffi::lua_checkstack(l, 2) == 0 {
            return;
        }
        ffi::lua_createtable(l, 0, 1);
        ffi::lua_pushstring(l, c"ERR FUNCTION LOAD timeout".as_ptr());
        ffi::lua_setfield(l, -2, c"err".as_ptr());
        ffi::lua_error(l);
    }
}

thread_local! {
    /// The script hook paused the running coroutine (a yield with no
    /// values): the prelude passes that up to the host instead of treating
    /// it as the script's own `coroutine.yield()`.
    static TICKED: Cell<bool> = const { Cell::new(false) };
    /// [`StateHead`] matches this build's Lua (checked once per thread).
    static HEAD_OK: Cell<bool> = const { Cell::new(false) };
}

/// Instructions between two runs of the script hook (Redis's count).
const HOOK_EVERY: std::ffi::c_int = 100_000;

/// The head of Lua 5.1.5's `struct lua_State` (`lstate.h`, the vendored
/// Lua that `mlua` builds), up to the hook counters. The script hook reads
/// `n_ccalls` and `base_ccalls` from it: Lua refuses (with an error in the
/// script) a yield made while a C function or metamethod is between the
/// coroutine's base and the running code, so the hook only pauses a script
/// when they are equal. [`check_head`] verifies the layout against the
/// public API before any hook relies on it.
#[repr(C)]
#[derive(Clone, Copy)]
struct StateHead {
    next: *mut std::ffi::c_void,
    tt: u8,
    marked: u8,
    status: u8,
    top: *mut u8,
    base: *mut u8,
    l_g: *mut std::ffi::c_void,
    ci: *mut std::ffi::c_void,
    savedpc: *const std::ffi::c_void,
    stack_last: *mut u8,
    stack: *mut u8,
    end_ci: *mut std::ffi::c_void,
    base_ci: *mut std::ffi::c_void,
    stacksize: std::ffi::c_int,
    size_ci: std::ffi::c_int,
    n_ccalls: u16,
    base_ccalls: u16,
    hookmask: u8,
    allowhook: u8,
    basehookcount: std::ffi::c_int,
    hookcount: std::ffi::c_int,
}

/// A copy of `l`'s head.
///
/// # Safety
/// `l` is a live Lua 5.1 state whose layout [`check_head`] confirmed (or
/// which it is checking), on this thread.
unsafe fn head(l: *mut mlua::lua_State) -> StateHead {
    // SAFETY: by the contract above the first bytes of `*l` are a
    // `StateHead`; it is read by value, so no reference outlives the read
    // while Lua goes on changing the state.
    unsafe { std::ptr::read(l as *const StateHead) }
}

unsafe extern "C-unwind" fn noop_hook(_l: *mut mlua::lua_State, _ar: *mut mlua::ffi::lua_Debug) {}

/// Whether [`StateHead`] is this Lua's layout: every field the API also
/// reports (status, stack top, hook mask and count, stack size) must agree
/// on a fresh thread `l`, whose C-call counters start at 0.
///
/// # Safety
/// `l` is a fresh thread of this thread's Lua state, not running.
unsafe fn check_head(l: *mut mlua::lua_State) -> bool {
    use mlua::ffi;
    const TVALUE: isize = 16;
    if std::mem::size_of::<usize>() != 8 {
        return false;
    }
    // SAFETY: `l` is a valid state; each `head` read is a plain copy taken
    // between API calls, and the checks leave the thread as it was.
    unsafe {
        let h = head(l);
        let fresh = h.status == 0
            && ffi::lua_status(l) == 0
            && h.n_ccalls == 0
            && h.base_ccalls == 0
            && h.hookmask as i32 == ffi::lua_gethookmask(l)
            && !h.stack.is_null()
            && h.stack_last.offset_from(h.stack) / TVALUE == (h.stacksize - 6) as isize;
        if !fresh || ffi::lua_checkstack(l, 3) == 0 {
            return false;
        }
        let before = ffi::lua_gettop(l);
        let top0 = head(l).top.offset_from(head(l).base);
        ffi::lua_pushnil(l);
        ffi::lua_pushnil(l);
        ffi::lua_pushnil(l);
        let grew = head(l).top.offset_from(head(l).base) - top0 == 3 * TVALUE
            && ffi::lua_gettop(l) == before + 3;
        ffi::lua_settop(l, before);
        ffi::lua_sethook(l, Some(noop_hook), ffi::LUA_MASKCOUNT, 4321);
        let h = head(l);
        let hooked = h.hookmask as i32 == ffi::LUA_MASKCOUNT
            && h.basehookcount == 4321
            && ffi::lua_gethookcount(l) == 4321;
        ffi::lua_sethook(l, None, 0, 0);
        grew && hooked && head(l).hookmask == 0
    }
}

/// The hook of a running script (EVAL or a function), every
/// [`HOOK_EVERY`] instructions: stops a killed script with Redis's error
/// (from then on at every line, so a pcall cannot keep it alive), and once
/// the script is busy pauses it (a yield the host turns into a turn for the
/// shard's other work, whose clients are answered `-BUSY`).
///
/// # Safety
/// Called by Lua with a valid state, as a hook.
unsafe extern "C-unwind" fn script_hook(l: *mut mlua::lua_State, _ar: *mut mlua::ffi::lua_Debug) {
    use crate::shard::script;
    use mlua::ffi;
    // SAFETY: `l` is the running state. Raising an error from a hook is
    // allowed; so is yielding from a count or line hook of a Lua function
    // when no C call is in between (`n_ccalls == base_ccalls`, read from
    // the head whose layout this thread checked).
    unsafe {
        if script::killed() {
            ffi::lua_sethook(l, Some(script_hook), ffi::LUA_MASKLINE, 0);
            if ffi::lua_checkstack(l, 2) == 0 {
                return;
            }
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_pushstring(l, c"ERR Script killed by user with SCRIPT KILL...".as_ptr());
            ffi::lua_setfield(l, -2, c"err".as_ptr());
            ffi::lua_error(l);
        }
        if script::past_threshold() && HEAD_OK.with(Cell::get) {
            let h = head(l);
            if h.n_ccalls == h.base_ccalls {
                TICKED.with(|t| t.set(true));
                ffi::lua_yield(l, 0);
            }
        }
    }
}

/// An mlua error's message as Lua printed it.
fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        other => other.to_string(),
    }
}

/// A host function's error as Lua's own library functions word theirs.
fn error_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => error_message(cause),
        mlua::Error::BadArgument { to, pos, cause, .. } => {
            let why = match cause.as_ref() {
                mlua::Error::FromLuaConversionError { from, to, .. } => {
                    let want = if to.contains("f64") || to.contains("i") {
                        "number"
                    } else {
                        "string"
                    };
                    let got = if *from == "nil" { "no value" } else { from };
                    format!("{want} expected, got {got}")
                }
                other => error_message(other),
            };
            let name = to.as_deref().unwrap_or("?");
            let name = name.rsplit('.').next().unwrap_or(name);
            format!("bad argument #{pos} to '{name}' ({why})")
        }
        other => other.to_string(),
    }
}

thread_local! {
    /// The yield the running coroutine just made is a `redis.call` (1) or
    /// `redis.pcall` (2): read (and cleared) by the prelude's resumers,
    /// which so tell it from the script's own `coroutine.yield`.
    static CALLED: Cell<u8> = const { Cell::new(0) };
}

/// `redis.call(...)` / `redis.pcall(...)`: yields one table of its
/// arguments (`n` of them: a call may have 8,000, more than a resume can
/// hand over one by one) and notes which it was in [`CALLED`]; the host
/// resumes the script with the reply, which becomes the result.
///
/// # Safety
/// Called by Lua with a valid state, as a C function.
unsafe extern "C-unwind" fn yield_with_flag(l: *mut mlua::lua_State, raise: bool) -> i32 {
    use mlua::ffi;
    CALLED.with(|c| c.set(if raise { 1 } else { 2 }));
    // SAFETY: `l` is the running state (Lua calls us). A C function may
    // push LUA_MINSTACK (20) values without asking: this pushes at most
    // two at a time (the table, and one value or count being stored in
    // it). Yielding the one value left is how a C function yields.
    unsafe {
        let n = ffi::lua_gettop(l);
        ffi::lua_createtable(l, n, 1);
        for i in 1..=n {
            ffi::lua_pushvalue(l, i);
            ffi::lua_rawseti_(l, -2, i);
        }
        ffi::lua_pushinteger(l, n as ffi::lua_Integer);
        ffi::lua_setfield(l, -2, c"n".as_ptr());
        ffi::lua_insert(l, 1);
        ffi::lua_settop(l, 1);
        ffi::lua_yield(l, 1)
    }
}

/// A C closure over a Lua function (its upvalue) that calls it with its own
/// arguments: an API function written in Lua keeps the script's frame on
/// the stack even when called in tail position, so its errors are placed on
/// the script's line, as Redis's C API functions' are.
unsafe extern "C-unwind" fn trampoline(l: *mut mlua::lua_State) -> i32 {
    use mlua::ffi;
    // SAFETY: `l` is the running state; the closure was made with one
    // upvalue (`cwrap`), and `lua_call` with the arguments already on the
    // stack leaves exactly the results there.
    unsafe {
        let n = ffi::lua_gettop(l);
        if ffi::lua_checkstack(l, 1) == 0 {
            return ffi::luaL_error(l, c"stack overflow".as_ptr());
        }
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
        ffi::lua_insert(l, 1);
        ffi::lua_call(l, n, ffi::LUA_MULTRET);
        ffi::lua_gettop(l)
    }
}

/// `unpack` as Lua 5.1.5's, with the fix Redis carries (CVE-2014-5461's
/// family): a range whose length overflows or does not fit the stack is an
/// error ("too many results to unpack"), not a crash.
///
/// # Safety
/// Called by Lua with a valid state, as a C function.
unsafe extern "C-unwind" fn checked_unpack(l: *mut mlua::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    use std::ffi::c_int;
    // SAFETY: `l` is the running state; the argument checks raise Lua
    // errors as the stock function's do; `lua_checkstack` reserves the `n`
    // slots before they are pushed, and `n` is computed without overflow.
    unsafe {
        ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
        let i = ffi::luaL_optinteger(l, 2, 1) as c_int;
        let e = if ffi::lua_isnoneornil(l, 3) != 0 {
            ffi::lua_objlen(l, 1) as c_int
        } else {
            ffi::luaL_checkinteger(l, 3) as c_int
        };
        if i > e {
            return 0;
        }
        let n = e as i64 - i as i64 + 1;
        if n > c_int::MAX as i64 || ffi::lua_checkstack(l, n as c_int) == 0 {
            return ffi::luaL_error(l, c"too many results to unpack".as_ptr());
        }
        for k in i..=e {
            ffi::lua_rawgeti_(l, 1, k);
        }
        n as c_int
    }
}

/// Whether the table at `idx` is one of the prelude's read-only views (the
/// closure's first upvalue is their set).
///
/// # Safety
/// `l` is the running state inside a sandbox closure; `idx` is absolute.
unsafe fn is_protected(l: *mut mlua::lua_State, idx: std::ffi::c_int) -> bool {
    use mlua::ffi;
    // SAFETY: one slot is reserved; the set and the key are read with raw
    // accesses, leaving the stack as it was.
    unsafe {
        if ffi::lua_checkstack(l, 2) == 0 {
            return false;
        }
        ffi::lua_pushvalue(l, idx);
        ffi::lua_rawget_(l, ffi::lua_upvalueindex(1));
        let p = ffi::lua_toboolean(l, -1) != 0;
        ffi::lua_settop(l, -2);
        p
    }
}

/// Raises Redis's read-only error without a position (Redis raises it from
/// inside the C API, where Lua has no line to give).
///
/// # Safety
/// `l` is the running state.
unsafe fn readonly_error(l: *mut mlua::lua_State) -> std::ffi::c_int {
    // SAFETY: one value pushed, then raised.
    unsafe {
        mlua::ffi::lua_pushstring(l, c"Attempt to modify a readonly table".as_ptr());
        mlua::ffi::lua_error(l)
    }
}

/// The sandbox's `setmetatable`: Lua 5.1's, refusing read-only views.
///
/// # Safety
/// Called by Lua with a valid state, as a C closure made by `host.sandbox`.
unsafe extern "C-unwind" fn sandbox_setmetatable(l: *mut mlua::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: the stock function's checks on the given arguments, then the
    // view check, then the stock body; stack use stays within LUA_MINSTACK.
    unsafe {
        let t = ffi::lua_type(l, 2);
        ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
        if t != ffi::LUA_TNIL && t != ffi::LUA_TTABLE {
            return ffi::luaL_argerror(l, 2, c"nil or table expected".as_ptr());
        }
        if is_protected(l, 1) {
            return readonly_error(l);
        }
        if ffi::luaL_getmetafield_(l, 1, c"__metatable".as_ptr()) != 0 {
            return ffi::luaL_error(l, c"cannot change a protected metatable".as_ptr());
        }
        ffi::lua_settop(l, 2);
        ffi::lua_setmetatable(l, 1);
        1
    }
}

/// The sandbox's `getmetatable`: Lua 5.1's, but a string's metatable is a
/// read-only view (the closure's second upvalue).
///
/// # Safety
/// Called by Lua with a valid state, as a C closure made by `host.sandbox`.
unsafe extern "C-unwind" fn sandbox_getmetatable(l: *mut mlua::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: the stock function's body; at most two values pushed.
    unsafe {
        ffi::luaL_checkany(l, 1);
        if ffi::lua_type(l, 1) == ffi::LUA_TSTRING {
            ffi::lua_pushvalue(l, ffi::lua_upvalueindex(2));
            return 1;
        }
        if ffi::lua_getmetatable(l, 1) == 0 {
            ffi::lua_pushnil(l);
            return 1;
        }
        ffi::luaL_getmetafield_(l, 1, c"__metatable".as_ptr());
        1
    }
}

/// The sandbox's `rawset`: Lua 5.1's, refusing read-only views.
///
/// # Safety
/// Called by Lua with a valid state, as a C closure made by `host.sandbox`.
unsafe extern "C-unwind" fn sandbox_rawset(l: *mut mlua::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: the stock function's checks and body, with the view check.
    unsafe {
        ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
        ffi::luaL_checkany(l, 2);
        ffi::luaL_checkany(l, 3);
        if is_protected(l, 1) {
            return readonly_error(l);
        }
        ffi::lua_settop(l, 3);
        ffi::lua_rawset(l, 1);
        1
    }
}

unsafe extern "C-unwind" fn yield_call(l: *mut mlua::lua_State) -> i32 {
    // SAFETY: as `yield_with_flag`.
    unsafe { yield_with_flag(l, true) }
}

unsafe extern "C-unwind" fn yield_pcall(l: *mut mlua::lua_State) -> i32 {
    // SAFETY: as `yield_with_flag`.
    unsafe { yield_with_flag(l, false) }
}

/// Compiles a script body as Redis does: its shebang line, if any, is
/// skipped but its line feed kept, so line numbers stay the user's.
pub fn compile(lua: &Lua, env: &Table, body: &[u8]) -> Result<Function, String> {
    let code = if body.starts_with(b"#!") {
        let nl = memchr::memchr(b'\n', body).unwrap_or(body.len());
        &body[nl..]
    } else {
        body
    };
    lua.load(code)
        .set_name("@user_script")
        .set_mode(ChunkMode::Text)
        .set_environment(env.clone())
        .into_function()
        .map_err(|e| {
            format!(
                "ERR Error compiling script (new function): {}",
                lua_message(&e)
            )
        })
}

/// `REDIS_VERSION_NUM`: 0x00MMmmpp.
fn version_num() -> i64 {
    let mut parts = crate::commands::server::REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b << 8) | c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lrand48_is_redis_sequence() {
        // The first values of Redis's math.random() after start-up.
        let mut r = Lrand48(0x1234_ABCD_330E);
        let x = r.next();
        let f = (x % i32::MAX) as f64 / i32::MAX as f64;
        assert!((0.0..1.0).contains(&f));
        let mut s = Lrand48::seed(0);
        let mut t = Lrand48::seed(0);
        assert_eq!(s.next(), t.next());
    }

    #[test]
    fn lua_state_head_matches_this_lua() {
        // Busy scripts pause only when this holds (see `StateHead`).
        assert!(get().is_ok());
        assert!(HEAD_OK.with(Cell::get));
    }

    #[test]
    fn sha1_of_empty() {
        assert_eq!(sha1hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }
}
