//! What Lua's `lauxlib` gives the C libraries Redis embeds (cjson, cmsgpack,
//! struct, bit), for their Rust versions here: argument checks with Lua's
//! coercions, errors worded and placed as `luaL_error`/`luaL_argerror` place
//! them, the C stack limit those libraries run into, and C's conversions of
//! out-of-range doubles as Redis's x86-64 build performs them.

use std::fmt;

use mlua::{Error, Function, IntoLuaMulti, Lua, LuaString, MultiValue, Result, Value};

/// `LUAI_MAXCSTACK`: the stack slots a C function may use. Redis's libraries
/// fail with "stack overflow (...)" where they would pass it; the Rust
/// versions count the slots the C code would hold to fail at the same point.
pub const MAX_C_STACK: usize = 8000;

/// The chunk name of corekv's own Lua code (`prelude.lua`): a library
/// function called from there was, in Redis, called from C (`pcall`).
const HOST_CHUNK: &str = "@corekv";

/// An error message complete as Lua raises it (located or not): the
/// prelude passes it on unchanged instead of placing it at the script's line.
#[derive(Debug)]
pub struct Raised(pub Vec<u8>);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl std::error::Error for Raised {}

/// An error raised with exactly `msg` (as Lua's own runtime errors inside a
/// C function are: "table index is nil" has no location).
pub fn raw_error(msg: impl Into<Vec<u8>>) -> Error {
    Error::external(Raised(msg.into()))
}

/// The message of an error raised by a library here, if it is one.
pub fn raised(e: &Error) -> Option<&[u8]> {
    match e {
        Error::ExternalError(x) => x.downcast_ref::<Raised>().map(|r| r.0.as_slice()),
        Error::CallbackError { cause, .. } => raised(cause),
        _ => None,
    }
}

/// Whether the function running at `level` is corekv's prelude code.
fn is_host(lua: &Lua, level: usize) -> bool {
    lua.inspect_stack(level, |d| d.source().source.as_deref() == Some(HOST_CHUNK))
        .unwrap_or(false)
}

/// `luaL_where(L, 1)`: "chunk:line: " of the Lua code that called the
/// running function, or nothing when that was C.
pub fn location(lua: &Lua) -> Vec<u8> {
    if is_host(lua, 1) {
        return Vec::new();
    }
    lua.inspect_stack(1, |d| match d.current_line() {
        Some(line) if line > 0 => {
            let src = d.source();
            format!("{}:{}: ", src.short_src.as_deref().unwrap_or("?"), line).into_bytes()
        }
        _ => Vec::new(),
    })
    .unwrap_or_default()
}

/// `luaL_error`: `msg` at the caller's location.
pub fn error(lua: &Lua, msg: impl AsRef<[u8]>) -> Error {
    let mut m = location(lua);
    m.extend_from_slice(msg.as_ref());
    raw_error(m)
}

/// `luaL_argerror`: "bad argument #n to 'name' (msg)", the name being the
/// one the caller called the running function by.
pub fn arg_error(lua: &Lua, narg: usize, msg: impl AsRef<[u8]>) -> Error {
    let (name, method) = if is_host(lua, 1) {
        (None, false)
    } else {
        lua.inspect_stack(0, |d| {
            let n = d.names();
            (
                n.name.map(|s| s.into_owned()),
                n.name_what == Some("method"),
            )
        })
        .unwrap_or((None, false))
    };
    let name = name.as_deref().unwrap_or("?");
    let mut m = Vec::new();
    if method && narg == 1 {
        m.extend_from_slice(format!("calling '{name}' on bad self (").as_bytes());
    } else {
        let narg = if method { narg as i64 - 1 } else { narg as i64 };
        m.extend_from_slice(format!("bad argument #{narg} to '{name}' (").as_bytes());
    }
    m.extend_from_slice(msg.as_ref());
    m.push(b')');
    error(lua, m)
}

/// `luaL_checkstack`: fails when `top` used slots and `space` more would
/// pass [`MAX_C_STACK`].
pub fn check_stack(lua: &Lua, top: usize, space: usize, what: &str) -> Result<()> {
    if top + space > MAX_C_STACK {
        return Err(error(lua, format!("stack overflow ({what})")));
    }
    Ok(())
}

/// The most an encoder (cjson.encode, cmsgpack.pack) writes. Redis sets no
/// limit, but a table that holds the same table many times over encodes to
/// an exponential size in one C call that nothing interrupts; past this
/// (msgpack's largest string) the encoder stops with Lua's memory error
/// instead of hanging the shard and exhausting memory.
pub const MAX_OUTPUT: usize = u32::MAX as usize;

/// Lua's error for an allocation that failed (no location).
pub fn check_output(len: usize) -> Result<()> {
    if len > MAX_OUTPUT {
        return Err(raw_error("not enough memory"));
    }
    Ok(())
}

/// Lua's `lua_typename` of a value (`None`: an absent argument).
pub fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// A Lua number as the double it is (Lua 5.1 has no integers; mlua reports
/// integral ones as `Integer`).
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// A library function: `f` gets its arguments as [`Args`].
pub fn function<R, F>(lua: &Lua, f: F) -> Result<Function>
where
    R: IntoLuaMulti,
    F: Fn(&Lua, Args) -> Result<R> + 'static,
{
    lua.create_function(move |lua, args: MultiValue| f(lua, Args::new(lua, args)))
}

/// A C function's arguments, read as `luaL_check*` reads them.
pub struct Args<'a> {
    lua: &'a Lua,
    vals: Vec<Value>,
}

impl<'a> Args<'a> {
    pub fn new(lua: &'a Lua, args: MultiValue) -> Args<'a> {
        Args {
            lua,
            vals: args.into_vec(),
        }
    }

    /// Pushes `v` after the arguments (a C function's own stack use that
    /// its argument checks can then see).
    pub fn push(&mut self, v: Value) {
        self.vals.push(v);
    }

    /// `lua_gettop`.
    pub fn len(&self) -> usize {
        self.vals.len()
    }

    /// Argument `n` (1-based); `None` past the last.
    pub fn get(&self, n: usize) -> Option<&Value> {
        n.checked_sub(1).and_then(|i| self.vals.get(i))
    }

    pub fn is_nil(&self, n: usize) -> bool {
        matches!(self.get(n), None | Some(Value::Nil))
    }

    pub fn type_error(&self, n: usize, expected: &str) -> Error {
        let got = type_name(self.get(n));
        arg_error(self.lua, n, format!("{expected} expected, got {got}"))
    }

    /// `lua_tonumber` (`None` where `lua_isnumber` is false): numbers, and
    /// strings Lua converts.
    pub fn to_number(&self, n: usize) -> Result<Option<f64>> {
        to_number(self.lua, self.get(n))
    }

    pub fn check_number(&self, n: usize) -> Result<f64> {
        self.to_number(n)?
            .ok_or_else(|| self.type_error(n, "number"))
    }

    /// `luaL_checkinteger`: the number truncated as `lua_tointeger` does.
    pub fn check_integer(&self, n: usize) -> Result<i64> {
        Ok(cvt_i64(self.check_number(n)?))
    }

    pub fn opt_integer(&self, n: usize, default: i64) -> Result<i64> {
        if self.is_nil(n) {
            return Ok(default);
        }
        self.check_integer(n)
    }

    /// `luaL_checklstring`: a string, or a number written as Lua writes it.
    pub fn check_string(&self, n: usize) -> Result<LuaString> {
        match self.get(n) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v @ (Value::Integer(_) | Value::Number(_))) => self
                .lua
                .coerce_string(v.clone())?
                .ok_or_else(|| self.type_error(n, "string")),
            _ => Err(self.type_error(n, "string")),
        }
    }
}

/// `lua_tonumber` of a value, `None` where `lua_isnumber` is false.
pub fn to_number(lua: &Lua, v: Option<&Value>) -> Result<Option<f64>> {
    Ok(match v {
        Some(Value::String(s)) => lua.coerce_number(Value::String(s.clone()))?,
        Some(v) => number(v),
        None => None,
    })
}

/// The part of a C string before its first NUL (what C code sees of a Lua
/// string it reads with `luaL_checkstring`).
pub fn c_str(s: &[u8]) -> &[u8] {
    memchr::memchr(0, s).map_or(s, |i| &s[..i])
}

const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// C's `(int64_t)d` on x86-64 (`cvttsd2si`): truncation; NaN and values out
/// of range give `INT64_MIN`.
pub fn cvt_i64(d: f64) -> i64 {
    if (-TWO_63..TWO_63).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}

/// C's `(int)d` on x86-64: truncation; NaN and values out of range give
/// `INT_MIN`.
pub fn cvt_i32(d: f64) -> i32 {
    if d > -2_147_483_649.0 && d < 2_147_483_648.0 {
        d as i32
    } else {
        i32::MIN
    }
}

/// C's `(uint64_t)d` as gcc compiles it on x86-64: below 2^63 a signed
/// conversion, from 2^63 up one of `d - 2^63` with the top bit flipped (so
/// 2^64 and infinity give 0, NaN and negatives below `INT64_MIN` give 2^63).
pub fn cvt_u64(d: f64) -> u64 {
    if d >= TWO_63 {
        (cvt_i64(d - TWO_63) as u64) ^ (1 << 63)
    } else {
        cvt_i64(d) as u64
    }
}

/// Turns mlua's "out of reference slots" (the most values a Rust function
/// can hold at once, near [`MAX_C_STACK`]) into the library's own stack
/// overflow error.
pub fn overflow_as<'a>(lua: &'a Lua, what: &'static str) -> impl Fn(Error) -> Error + 'a {
    move |e| match e {
        Error::StackError => error(lua, format!("stack overflow ({what})")),
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_x86s() {
        assert_eq!(cvt_i64(f64::NAN), i64::MIN);
        assert_eq!(cvt_i64(1e300), i64::MIN);
        assert_eq!(cvt_i64(-TWO_63), i64::MIN);
        assert_eq!(cvt_i64(-2.9), -2);
        assert_eq!(cvt_i32(2_147_483_648.0), i32::MIN);
        assert_eq!(cvt_i32(-2_147_483_648.5), i32::MIN);
        assert_eq!(cvt_i32(2_147_483_647.9), i32::MAX);
        assert_eq!(cvt_u64(TWO_63 * 2.0), 0);
        assert_eq!(cvt_u64(f64::INFINITY), 0);
        assert_eq!(cvt_u64(f64::NAN), 1 << 63);
        assert_eq!(cvt_u64(TWO_63 + 2048.0), (1 << 63) | 2048);
        assert_eq!(cvt_u64(-1.0), u64::MAX);
        assert_eq!(cvt_u64(-0.5), 0);
    }

    #[test]
    fn encoders_stop_at_the_output_limit() {
        assert!(check_output(MAX_OUTPUT).is_ok());
        let e = check_output(MAX_OUTPUT + 1).expect_err("over");
        assert_eq!(raised(&e), Some(&b"not enough memory"[..]));
    }

    #[test]
    fn c_strings_stop_at_nul() {
        assert_eq!(c_str(b"ab\0cd"), b"ab");
        assert_eq!(c_str(b"abc"), b"abc");
    }
}

/// What the libraries' unit tests share: a bare Lua state with one library.
#[cfg(test)]
pub mod testing {
    use mlua::{FromLuaMulti, Lua, Table, Value};

    /// A Lua state with `lib` as the global `name`.
    pub fn lua_with(name: &str, lib: fn(&Lua) -> mlua::Result<Table>) -> Lua {
        let lua = Lua::new();
        lua.globals()
            .set(name, lib(&lua).expect("library"))
            .expect("set");
        lua
    }

    pub fn eval<T: FromLuaMulti>(lua: &Lua, code: &str) -> mlua::Result<T> {
        lua.load(code).eval()
    }

    /// Each expression fails with an error that contains its message.
    pub fn assert_errors(lua: &Lua, cases: &[(&str, &str)]) {
        for (code, msg) in cases {
            let e = eval::<Value>(lua, &format!("return {code}")).expect_err(code);
            assert!(e.to_string().contains(msg), "{code}: {e}");
        }
    }
}
