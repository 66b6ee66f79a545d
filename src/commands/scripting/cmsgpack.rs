//! The `cmsgpack` library Redis embeds (lua-cmsgpack 0.4.0): `pack`,
//! `unpack`, `unpack_one`, `unpack_limit`, with its encoding choices (an
//! integral number is an int of the smallest width, any other a float32
//! when that is exact, else a float64; strings as fixstr/str8/str16/str32;
//! a table is an array when its keys are exactly 1..n, else a map; tables
//! nested 16 deep are packed as nil) and its decoder (no bin or ext types:
//! those are "Bad data format"). Decoding nests without recursion, and
//! counts the Lua stack slots the C code would use to fail where it fails.

use mlua::{Lua, LuaString, MultiValue, Result, Table, Value};

use super::luaaux::{self, Args, MAX_C_STACK, arg_error, check_stack, cvt_i32, cvt_i64, function};

/// `LUACMSGPACK_MAX_NESTING`: a table at this depth is packed as nil (so a
/// table that contains itself packs to a finite depth).
const MAX_NESTING: usize = 16;

pub fn library(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", function(lua, pack)?)?;
    t.set(
        "unpack",
        function(lua, |lua, a| unpack(lua, &a, a.len(), 0, 0))?,
    )?;
    t.set(
        "unpack_one",
        function(lua, |lua, a| {
            let offset = a.opt_integer(2, 0)?;
            unpack(lua, &a, a.len().min(1), 1, offset)
        })?,
    )?;
    t.set(
        "unpack_limit",
        function(lua, |lua, a| {
            let limit = a.check_integer(2)?;
            let offset = a.opt_integer(3, 0)?;
            unpack(lua, &a, a.len().min(1), limit, offset)
        })?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

// ---- Encoding ----

fn pack(lua: &Lua, a: Args) -> Result<LuaString> {
    let n = a.len();
    if n == 0 {
        return Err(arg_error(lua, 0, "MessagePack pack needs input."));
    }
    if n > MAX_C_STACK || n + n > MAX_C_STACK {
        return Err(arg_error(
            lua,
            0,
            "Too many arguments for MessagePack pack.",
        ));
    }
    let mut buf = Vec::new();
    for i in 1..=n {
        // The arguments, the strings packed so far, and this value's copy.
        let top = n + i - 1;
        check_stack(lua, top, 1, "in function mp_check")?;
        if let Some(v) = a.get(i) {
            encode(lua, &mut buf, v, 0, top + 1)?;
        }
    }
    lua.create_string(&buf)
}

/// Packs `v` (a table `level` deep, the C code's stack holding `top` slots
/// with `v` on top).
fn encode(lua: &Lua, buf: &mut Vec<u8>, v: &Value, level: usize, top: usize) -> Result<()> {
    luaaux::check_output(buf.len())?;
    match v {
        Value::String(s) => encode_bytes(buf, &s.as_bytes()),
        Value::Boolean(b) => buf.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => {
            encode_number(buf, luaaux::number(v).unwrap_or(0.0))
        }
        Value::Table(t) if level < MAX_NESTING => encode_table(lua, buf, t, level, top)?,
        _ => buf.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= 0xff {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

/// An integral number (one `int64_t` holds exactly) as an int, any other
/// as a float.
fn encode_number(buf: &mut Vec<u8>, n: f64) {
    if !n.is_infinite() && cvt_i64(n) as f64 == n {
        encode_int(buf, cvt_i64(n));
    } else {
        encode_double(buf, n);
    }
}

/// float32 when the value survives the round trip, else float64.
fn encode_double(buf: &mut Vec<u8>, d: f64) {
    let f = d as f32;
    if f as f64 == d {
        buf.push(0xca);
        buf.extend_from_slice(&f.to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend_from_slice(&d.to_be_bytes());
    }
}

/// The smallest encoding: fixnums, then uint8..64 for non-negative values
/// and int8..64 for negative ones.
fn encode_int(buf: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            buf.push(n as u8);
        } else if n <= 0xff {
            buf.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            buf.push(0xcd);
            buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            buf.push(0xce);
            buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            buf.push(0xcf);
            buf.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        buf.push(n as i8 as u8);
    } else if n >= -128 {
        buf.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

/// A header for `n` elements: fix form (`fix | n`) up to 15, then 16 and 32
/// bits (`code16`, `code16 + 1`).
fn encode_header(buf: &mut Vec<u8>, fix: u8, code16: u8, n: usize) {
    if n <= 15 {
        buf.push(fix | n as u8);
    } else if n <= 0xffff {
        buf.push(code16);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(code16 + 1);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_table(lua: &Lua, buf: &mut Vec<u8>, t: &Table, level: usize, top: usize) -> Result<()> {
    check_stack(lua, top, 2, "in function table_is_an_array")?;
    if is_array(t)? {
        let len = t.raw_len();
        encode_header(buf, 0x90, 0xdc, len);
        check_stack(lua, top, 1, "in function mp_encode_lua_table_as_array")?;
        for j in 1..=len {
            let v: Value = t.raw_get(j)?;
            encode(lua, buf, &v, level + 1, top + 1)?;
        }
        return Ok(());
    }
    check_stack(lua, top, 3, "in function mp_encode_lua_table_as_map")?;
    let mut len = 0;
    for pair in t.pairs::<Value, Value>() {
        pair?;
        len += 1;
    }
    encode_header(buf, 0x80, 0xde, len);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        encode(lua, buf, &k, level + 1, top + 3)?;
        encode(lua, buf, &v, level + 1, top + 2)?;
    }
    Ok(())
}

/// Whether the keys are exactly 1..n: all numbers that are positive `int`s,
/// the largest equal to their count.
fn is_array(t: &Table) -> Result<bool> {
    let (mut count, mut max) = (0i64, 0i64);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        match luaaux::number(&k) {
            Some(n) if n > 0.0 && cvt_i32(n) as f64 == n => {
                max = max.max(n as i64);
                count += 1;
            }
            _ => return Ok(false),
        }
    }
    Ok(max == count)
}

// ---- Decoding ----

/// Why decoding stopped: lua-cmsgpack's cursor errors, or a Lua error
/// already raised.
enum Stop {
    Eof,
    BadFormat,
    Lua(mlua::Error),
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Stop {
        Stop::Lua(e)
    }
}

/// A container being filled: the C decoder's recursion, as data.
enum Open {
    /// An array and its next index; `left` elements to come.
    Array { t: Table, index: f64, left: u64 },
    /// A map and the key decoded last (its value comes next).
    Map {
        t: Table,
        key: Option<Value>,
        left: u64,
    },
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn left(&self) -> usize {
        self.s.len() - self.at
    }

    /// The next `n` bytes, consumed.
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], Stop> {
        if self.left() < n {
            return Err(Stop::Eof);
        }
        let b = &self.s[self.at..self.at + n];
        self.at += n;
        Ok(b)
    }

    fn uint(&mut self, n: usize) -> std::result::Result<u64, Stop> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }
}

/// `unpack`, `unpack_one` and `unpack_limit` (lua-cmsgpack's
/// `mp_unpack_full`): `stacked` arguments stay on the C stack.
fn unpack(lua: &Lua, a: &Args, stacked: usize, limit: i64, offset: i64) -> Result<MultiValue> {
    let s = a.check_string(1)?;
    let bytes = s.as_bytes();
    let len = bytes.len();
    if offset < 0 || limit < 0 {
        return Err(luaaux::error(
            lua,
            format!(
                "Invalid request to unpack with offset of {} and limit of {}.",
                offset as i32, len as i32
            ),
        ));
    }
    if offset as u64 > len as u64 {
        return Err(luaaux::error(
            lua,
            format!(
                "Start offset {} greater than input length {}.",
                offset as i32, len as i32
            ),
        ));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let mut c = Cursor {
        s: &bytes,
        at: offset as usize,
    };
    let mut out = Vec::new();
    while c.left() > 0 && (out.len() as i64) < limit {
        match decode(lua, &mut c, stacked + out.len()) {
            Ok(v) => out.push(v),
            Err(Stop::Eof) => return Err(luaaux::error(lua, "Missing bytes in input.")),
            Err(Stop::BadFormat) => return Err(luaaux::error(lua, "Bad data format in input.")),
            Err(Stop::Lua(e)) => return Err(e),
        }
    }
    if !decode_all {
        check_stack(lua, stacked + out.len(), 1, "in function mp_unpack_full")?;
        let next = if c.left() == 0 { -1.0 } else { c.at as f64 };
        out.insert(0, Value::Number(next));
    }
    Ok(MultiValue::from_vec(out))
}

const TOO_MANY: &str = "too many return values at once; use unpack_one or unpack_limit instead.";

/// Decodes one value; `base` stack slots are in use below it. `slots`
/// follows what the C decoder holds: an open array's table and the index
/// it pushes before each element, an open map's table and, while its value
/// is decoded, the key.
fn decode(lua: &Lua, c: &mut Cursor, base: usize) -> std::result::Result<Value, Stop> {
    let mut open: Vec<Open> = Vec::new();
    let mut slots = base;
    loop {
        if c.left() < 1 {
            return Err(Stop::Eof);
        }
        check_stack(lua, slots, 1, TOO_MANY)?;
        let mut v = match item(lua, c)? {
            Item::Value(v) => v,
            Item::Array(left) => {
                let t = new_table(lua)?;
                check_stack(lua, slots + 1, 1, "in function mp_decode_to_lua_array")?;
                if left == 0 {
                    Value::Table(t)
                } else {
                    open.push(Open::Array {
                        t,
                        index: 1.0,
                        left,
                    });
                    slots += 2;
                    continue;
                }
            }
            Item::Map(0) => Value::Table(new_table(lua)?),
            Item::Map(left) => {
                let t = new_table(lua)?;
                open.push(Open::Map { t, key: None, left });
                slots += 1;
                continue;
            }
        };
        // Store `v` in the containers it completes, up to one that wants more.
        loop {
            let Some(top) = open.last_mut() else {
                return Ok(v);
            };
            let done = match top {
                Open::Array { t, index, left } => {
                    t.raw_set(*index, v)?;
                    *index += 1.0;
                    *left -= 1;
                    *left == 0
                }
                Open::Map {
                    key: key @ None, ..
                } => {
                    *key = Some(v);
                    slots += 1;
                    break;
                }
                Open::Map { t, key, left } => {
                    set_field(t, key.take().unwrap_or(Value::Nil), v)?;
                    slots -= 1;
                    *left -= 1;
                    *left == 0
                }
            };
            if !done {
                break;
            }
            v = match open.pop() {
                Some(Open::Array { t, .. }) => {
                    slots -= 2;
                    Value::Table(t)
                }
                Some(Open::Map { t, .. }) => {
                    slots -= 1;
                    Value::Table(t)
                }
                None => break,
            };
        }
    }
}

fn new_table(lua: &Lua) -> mlua::Result<Table> {
    lua.create_table()
        .map_err(luaaux::overflow_as(lua, TOO_MANY))
}

/// `lua_settable` on a fresh table: a nil or NaN key is Lua's error.
fn set_field(t: &Table, k: Value, v: Value) -> mlua::Result<()> {
    match k {
        Value::Nil => Err(luaaux::raw_error("table index is nil")),
        Value::Number(n) if n.is_nan() => Err(luaaux::raw_error("table index is NaN")),
        k => t.raw_set(k, v),
    }
}

/// What one type byte starts: a whole value, or a container's header.
enum Item {
    Value(Value),
    Array(u64),
    Map(u64),
}

fn item(lua: &Lua, c: &mut Cursor) -> std::result::Result<Item, Stop> {
    let num = |n: f64| Ok(Item::Value(Value::Number(n)));
    let code = c.take(1)?[0];
    match code {
        0xcc => num(c.uint(1)? as f64),
        0xcd => num(c.uint(2)? as f64),
        0xce => num(c.uint(4)? as f64),
        // lua_pushinteger of a uint64_t: past INT64_MAX it wraps.
        0xcf => num(c.uint(8)? as i64 as f64),
        0xd0 => num(c.uint(1)? as u8 as i8 as f64),
        0xd1 => num(c.uint(2)? as u16 as i16 as f64),
        0xd2 => num(c.uint(4)? as u32 as i32 as f64),
        0xd3 => num(c.uint(8)? as i64 as f64),
        0xc0 => Ok(Item::Value(Value::Nil)),
        0xc2 => Ok(Item::Value(Value::Boolean(false))),
        0xc3 => Ok(Item::Value(Value::Boolean(true))),
        0xca => num(f32::from_bits(c.uint(4)? as u32) as f64),
        0xcb => num(f64::from_bits(c.uint(8)?)),
        0xd9 => string(lua, c, 1),
        0xda => string(lua, c, 2),
        0xdb => string(lua, c, 4),
        0xdc => Ok(Item::Array(c.uint(2)?)),
        0xdd => Ok(Item::Array(c.uint(4)?)),
        0xde => Ok(Item::Map(c.uint(2)?)),
        0xdf => Ok(Item::Map(c.uint(4)?)),
        0x00..=0x7f => num(code as f64),
        0xe0..=0xff => num(code as i8 as f64),
        0xa0..=0xbf => {
            let s = c.take((code & 0x1f) as usize)?;
            Ok(Item::Value(Value::String(lua_string(lua, s)?)))
        }
        0x90..=0x9f => Ok(Item::Array((code & 0xf) as u64)),
        0x80..=0x8f => Ok(Item::Map((code & 0xf) as u64)),
        // nil's neighbour 0xc1, bin, ext and fixext.
        _ => Err(Stop::BadFormat),
    }
}

/// A str8/16/32: a `width`-byte length, then the bytes.
fn string(lua: &Lua, c: &mut Cursor, width: usize) -> std::result::Result<Item, Stop> {
    let n = c.uint(width)?;
    let n = usize::try_from(n).map_err(|_| Stop::Eof)?;
    let s = c.take(n)?;
    Ok(Item::Value(Value::String(lua_string(lua, s)?)))
}

fn lua_string(lua: &Lua, s: &[u8]) -> mlua::Result<LuaString> {
    lua.create_string(s)
        .map_err(luaaux::overflow_as(lua, TOO_MANY))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::scripting::luaaux::testing::{assert_errors, eval, lua_with};

    fn packed(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut b = Vec::new();
        f(&mut b);
        b
    }

    #[test]
    fn integers_take_the_smallest_width() {
        let int = |n: i64| packed(|b| encode_number(b, n as f64));
        assert_eq!(int(0), [0x00]);
        assert_eq!(int(127), [0x7f]);
        assert_eq!(int(128), [0xcc, 0x80]);
        assert_eq!(int(255), [0xcc, 0xff]);
        assert_eq!(int(256), [0xcd, 0x01, 0x00]);
        assert_eq!(int(65535), [0xcd, 0xff, 0xff]);
        assert_eq!(int(65536), [0xce, 0, 1, 0, 0]);
        assert_eq!(int(0xffff_ffff), [0xce, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(int(0x1_0000_0000), [0xcf, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(int(-1), [0xff]);
        assert_eq!(int(-32), [0xe0]);
        assert_eq!(int(-33), [0xd0, 0xdf]);
        assert_eq!(int(-128), [0xd0, 0x80]);
        assert_eq!(int(-129), [0xd1, 0xff, 0x7f]);
        assert_eq!(int(-32768), [0xd1, 0x80, 0x00]);
        assert_eq!(int(-32769), [0xd2, 0xff, 0xff, 0x7f, 0xff]);
        assert_eq!(
            int(-2_147_483_649),
            [0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff]
        );
        // Redis's "cmsgpack can pack negative int64?" test.
        assert_eq!(
            int(-1_099_511_627_776),
            [0xd3, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn floats_are_float32_when_exact() {
        let f = |d: f64| packed(|b| encode_number(b, d));
        assert_eq!(f(0.5), [0xca, 0x3f, 0, 0, 0]);
        // Redis's "cmsgpack can pack double?" test.
        assert_eq!(
            f(0.1),
            [0xcb, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]
        );
        assert_eq!(f(f64::INFINITY), [0xca, 0x7f, 0x80, 0, 0]);
        assert_eq!(f(-0.0), [0x00]);
        assert_eq!(f(9_223_372_036_854_775_808.0)[0], 0xca);
        assert_eq!(f(-9_223_372_036_854_775_808.0)[0], 0xd3);
        assert_eq!(f(f64::NAN)[0], 0xcb);
    }

    #[test]
    fn string_headers() {
        let s = |n: usize| packed(|b| encode_bytes(b, &vec![b'x'; n]))[..3].to_vec();
        assert_eq!(s(31)[0], 0xbf);
        assert_eq!(s(32)[..2], [0xd9, 32]);
        assert_eq!(s(255)[..2], [0xd9, 255]);
        assert_eq!(s(256), [0xda, 1, 0]);
        assert_eq!(s(65536)[0], 0xdb);
    }

    fn lua() -> Lua {
        lua_with("cmsgpack", library)
    }

    #[test]
    fn round_trips() {
        let lua = lua();
        let ok: bool = eval(
            &lua,
            r#"
            local t = {1, 'two', {a = 3.5, b = {true, false}}, -70000, 2^40, 0.1}
            local u = cmsgpack.unpack(cmsgpack.pack(t))
            return u[1] == 1 and u[2] == 'two' and u[3].a == 3.5 and u[3].b[1] == true
                and u[3].b[2] == false and u[4] == -70000 and u[5] == 2^40 and u[6] == 0.1
            "#,
        )
        .expect("eval");
        assert!(ok);
        let (a, b, c): (f64, String, f64) =
            eval(&lua, "return cmsgpack.unpack(cmsgpack.pack(1, 'x', 3))").expect("eval");
        assert_eq!((a, b.as_str(), c), (1.0, "x", 3.0));
    }

    #[test]
    fn offsets_and_limits() {
        let lua = lua();
        let (off, v): (i64, i64) =
            eval(&lua, "return cmsgpack.unpack_one(cmsgpack.pack(5, 6))").expect("eval");
        assert_eq!((off, v), (1, 5));
        let (off, v): (i64, i64) =
            eval(&lua, "return cmsgpack.unpack_one(cmsgpack.pack(5, 6), 1)").expect("eval");
        assert_eq!((off, v), (-1, 6));
        let n: i64 = eval(
            &lua,
            "return select('#', cmsgpack.unpack_limit('\\1\\2\\3', 2))",
        )
        .expect("eval");
        assert_eq!(n, 3);
    }

    #[test]
    fn circular_tables_stop_at_the_nesting_limit() {
        let lua = lua();
        let n: i64 = eval(
            &lua,
            "local a = {} a[1] = a local s = cmsgpack.pack(a) return #s",
        )
        .expect("eval");
        // 16 one-element arrays, then nil.
        assert_eq!(n, 17);
    }

    #[test]
    fn bad_input_is_an_error() {
        let lua = lua();
        assert_errors(
            &lua,
            &[
                ("cmsgpack.unpack('\\196\\1a')", "Bad data format in input."),
                ("cmsgpack.unpack('\\217\\5ab')", "Missing bytes in input."),
                ("cmsgpack.unpack('\\129\\192\\1')", "table index is nil"),
                (
                    "cmsgpack.unpack(string.rep('\\145', 5000) .. '\\1')",
                    "stack overflow",
                ),
            ],
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let lua = lua();
        let ok: bool = eval(
            &lua,
            "local t = cmsgpack.unpack(string.rep('\\145', 1000) .. '\\1')
             for i = 1, 1000 do t = t[1] end return t == 1",
        )
        .expect("eval");
        assert!(ok);
    }
}
