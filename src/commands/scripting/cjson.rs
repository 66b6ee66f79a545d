//! The `cjson` library Redis embeds (lua-cjson 2.1.0): `encode`, `decode`,
//! `null`, `new`, and the settings `encode_sparse_array`,
//! `encode_max_depth`, `decode_max_depth`, `encode_number_precision`,
//! `encode_keep_buffer`, `encode_invalid_numbers`, `decode_invalid_numbers`
//! with its defaults (numbers `%.14g`, `/` escaped, NaN and Inf refused
//! when encoding but read when decoding, as are hex numbers, depth 1000
//! both ways). Each library table has its own settings, kept between
//! scripts as Redis keeps them. Nesting is followed without recursion, and
//! the Lua stack slots the C code would use are counted so that it fails
//! where it fails.

use std::cell::Cell;
use std::rc::Rc;

use mlua::{Function, LightUserData, Lua, LuaString, MultiValue, Result, Table, Value};

use super::luaaux::{self, Args, MAX_C_STACK, arg_error, c_str, cvt_i32, function, type_name};
use crate::num::{format_g, strtod};

/// A library table's settings (`json_config_t`), C's `int`s.
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: i32,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 refuse, 1 write `nan`/`inf`, 2 write `null`.
    encode_invalid_numbers: i32,
    encode_number_precision: i32,
    /// Only how lua-cjson manages its memory; kept to be reported back.
    encode_keep_buffer: i32,
    decode_invalid_numbers: i32,
}

const DEFAULTS: Config = Config {
    sparse_convert: 0,
    sparse_ratio: 2,
    sparse_safe: 10,
    encode_max_depth: 1000,
    decode_max_depth: 1000,
    encode_invalid_numbers: 0,
    encode_number_precision: 14,
    encode_keep_buffer: 1,
    decode_invalid_numbers: 1,
};

type Shared = Rc<Cell<Config>>;

/// A setting function's body: checks its arguments into the settings and
/// answers them.
type Setting = dyn Fn(&Lua, &Args, &mut Config) -> Result<MultiValue>;

/// A new library table with default settings (what `cjson.new()` returns).
pub fn library(lua: &Lua) -> Result<Table> {
    let cfg: Shared = Rc::new(Cell::new(DEFAULTS));
    let next: Function = lua.globals().get("next")?;
    let t = lua.create_table()?;
    let c = cfg.clone();
    t.set(
        "encode",
        function(lua, move |lua, a| {
            if a.len() != 1 {
                return Err(arg_error(lua, 1, "expected 1 argument"));
            }
            let mut e = Encoder {
                lua,
                cfg: c.get(),
                next: &next,
                out: Vec::new(),
                open: Vec::new(),
            };
            let v = a.get(1).cloned().unwrap_or(Value::Nil);
            e.run(v).map_err(|err| match err {
                mlua::Error::StackError => e.too_deep(e.open.len() + 1),
                err => err,
            })?;
            lua.create_string(&e.out)
        })?,
    )?;
    let c = cfg.clone();
    t.set(
        "decode",
        function(lua, move |lua, a| {
            if a.len() != 1 {
                return Err(arg_error(lua, 1, "expected 1 argument"));
            }
            let s = a.check_string(1)?;
            let s = s.as_bytes();
            if s.len() >= 2 && (s[0] == 0 || s[1] == 0) {
                return Err(luaaux::error(
                    lua,
                    "JSON parser does not support UTF-16 or UTF-32",
                ));
            }
            let mut d = Decoder {
                lua,
                cfg: c.get(),
                s: &s,
                ptr: 0,
                tmp: Vec::new(),
                depth: 0,
            };
            d.run().map_err(|err| match err {
                mlua::Error::StackError => d.too_deep(),
                err => err,
            })
        })?,
    )?;
    // Each setting function: its arguments checked against `Config`,
    // answering the settings it covers.
    let setting = |name: &str, f: Box<Setting>| {
        let c = cfg.clone();
        let func = function(lua, move |lua, a| {
            let mut conf = c.get();
            // Settings read before an invalid one are kept, as in C.
            let r = f(lua, &a, &mut conf);
            c.set(conf);
            r
        })?;
        t.set(name, func)
    };
    setting(
        "encode_sparse_array",
        Box::new(|lua, a, c| {
            arg_count(lua, a, 3)?;
            Ok(MultiValue::from_vec(vec![
                bool_option(lua, a, 1, &mut c.sparse_convert)?,
                int_option(lua, a, 2, &mut c.sparse_ratio, 0, i32::MAX)?,
                int_option(lua, a, 3, &mut c.sparse_safe, 0, i32::MAX)?,
            ]))
        }),
    )?;
    type Field = fn(&mut Config) -> &mut i32;
    let ints: [(&str, Field, i32, i32); 3] = [
        ("encode_max_depth", |c| &mut c.encode_max_depth, 1, i32::MAX),
        ("decode_max_depth", |c| &mut c.decode_max_depth, 1, i32::MAX),
        (
            "encode_number_precision",
            |c| &mut c.encode_number_precision,
            1,
            14,
        ),
    ];
    for (name, field, min, max) in ints {
        setting(
            name,
            Box::new(move |lua, a, c| {
                arg_count(lua, a, 1)?;
                one(int_option(lua, a, 1, field(c), min, max)?)
            }),
        )?;
    }
    let enums: [(&str, Field, &'static [&'static str]); 3] = [
        ("encode_keep_buffer", |c| &mut c.encode_keep_buffer, OFF_ON),
        (
            "encode_invalid_numbers",
            |c| &mut c.encode_invalid_numbers,
            &["off", "on", "null"],
        ),
        (
            "decode_invalid_numbers",
            |c| &mut c.decode_invalid_numbers,
            OFF_ON,
        ),
    ];
    for (name, field, options) in enums {
        setting(
            name,
            Box::new(move |lua, a, c| {
                arg_count(lua, a, 1)?;
                one(enum_option(lua, a, 1, field(c), options)?)
            }),
        )?;
    }
    t.set(
        "new",
        lua.create_function(|lua, _: MultiValue| library(lua))?,
    )?;
    t.set(
        "null",
        Value::LightUserData(LightUserData(std::ptr::null_mut())),
    )?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

const OFF_ON: &[&str] = &["off", "on"];

fn one(v: Value) -> Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![v]))
}

/// `json_arg_init`: at most `n` arguments.
fn arg_count(lua: &Lua, a: &Args, n: usize) -> Result<()> {
    if a.len() > n {
        return Err(arg_error(lua, n + 1, "found too many arguments"));
    }
    Ok(())
}

/// `json_integer_option`: sets `setting` from argument `i` unless nil
/// (range errors name argument 1, as lua-cjson's do); answers the setting.
fn int_option(
    lua: &Lua,
    a: &Args,
    i: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> Result<Value> {
    if !a.is_nil(i) {
        let v = a.check_integer(i)? as i32;
        if !(min <= v && v <= max) {
            return Err(arg_error(
                lua,
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = v;
    }
    Ok(Value::Number(*setting as f64))
}

fn bool_option(lua: &Lua, a: &Args, i: usize, setting: &mut i32) -> Result<Value> {
    enum_option(lua, a, i, setting, OFF_ON)
}

/// `json_enum_option`: a boolean, or one of `options` by name; answers a
/// boolean for off/on and the name otherwise.
fn enum_option(
    lua: &Lua,
    a: &Args,
    i: usize,
    setting: &mut i32,
    options: &[&str],
) -> Result<Value> {
    if !a.is_nil(i) {
        if let Some(Value::Boolean(b)) = a.get(i) {
            *setting = *b as i32;
        } else {
            let s = a.check_string(i)?;
            let s = s.as_bytes();
            let name = c_str(&s);
            match options.iter().position(|o| o.as_bytes() == name) {
                Some(p) => *setting = p as i32,
                None => {
                    let mut msg = b"invalid option '".to_vec();
                    msg.extend_from_slice(name);
                    msg.push(b'\'');
                    return Err(arg_error(lua, i, msg));
                }
            }
        }
    }
    Ok(match *setting {
        0 | 1 => Value::Boolean(*setting == 1),
        n => Value::String(lua.create_string(options.get(n as usize).copied().unwrap_or(""))?),
    })
}

// ---- Encoding ----

/// A table being written: the C encoder's recursion, as data.
enum Open {
    /// An array of `len` elements, `i` of them written.
    Array { t: Table, i: i32, len: i32 },
    /// An object and the key written last (`next` continues from it).
    Object { t: Table, key: Value, first: bool },
}

struct Encoder<'a> {
    lua: &'a Lua,
    cfg: Config,
    /// Lua's `next`: walks an object one key at a time.
    next: &'a Function,
    out: Vec<u8>,
    open: Vec<Open>,
}

impl Encoder<'_> {
    fn too_deep(&self, depth: usize) -> mlua::Error {
        luaaux::error(
            self.lua,
            format!("Cannot serialise, excessive nesting ({depth})"),
        )
    }

    fn fail(&self, v: &Value, why: &str) -> mlua::Error {
        luaaux::error(
            self.lua,
            format!("Cannot serialise {}: {why}", type_name(Some(v))),
        )
    }

    fn run(&mut self, mut v: Value) -> Result<()> {
        // The C stack: the argument, and per open table the array element
        // or the object key and value it holds.
        let mut slots = 1;
        loop {
            luaaux::check_output(self.out.len())?;
            match v {
                Value::Table(t) => {
                    let depth = self.open.len() + 1;
                    if depth > self.cfg.encode_max_depth as usize || slots + 3 > MAX_C_STACK {
                        return Err(self.too_deep(depth));
                    }
                    let len = self.array_length(&t)?;
                    if len > 0 {
                        self.out.push(b'[');
                        self.open.push(Open::Array { t, i: 0, len });
                        slots += 1;
                    } else {
                        self.out.push(b'{');
                        self.open.push(Open::Object {
                            t,
                            key: Value::Nil,
                            first: true,
                        });
                        slots += 2;
                    }
                }
                v => self.scalar(&v)?,
            }
            // The next value to write, closing the tables that are done.
            v = loop {
                let Some(top) = self.open.last_mut() else {
                    return Ok(());
                };
                match top {
                    Open::Array { t, i, len } => {
                        if *i < *len {
                            if *i > 0 {
                                self.out.push(b',');
                            }
                            *i += 1;
                            break t.raw_get(*i)?;
                        }
                        self.out.push(b']');
                        self.open.pop();
                        slots -= 1;
                    }
                    Open::Object { t, key, first } => {
                        let (k, val): (Value, Value) = self.next.call((t.clone(), key.clone()))?;
                        if k.is_nil() {
                            self.out.push(b'}');
                            self.open.pop();
                            slots -= 2;
                            continue;
                        }
                        if !*first {
                            self.out.push(b',');
                        }
                        *first = false;
                        *key = k.clone();
                        self.key(&k)?;
                        break val;
                    }
                }
            };
        }
    }

    fn key(&mut self, k: &Value) -> Result<()> {
        match k {
            Value::Integer(_) | Value::Number(_) => {
                self.out.push(b'"');
                self.number(k)?;
                self.out.extend_from_slice(b"\":");
            }
            Value::String(s) => {
                string(&mut self.out, &s.as_bytes());
                self.out.push(b':');
            }
            _ => return Err(self.fail(k, "table key must be a number or string")),
        }
        Ok(())
    }

    fn scalar(&mut self, v: &Value) -> Result<()> {
        match v {
            Value::String(s) => string(&mut self.out, &s.as_bytes()),
            Value::Integer(_) | Value::Number(_) => self.number(v)?,
            Value::Boolean(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(u) if u.0.is_null() => self.out.extend_from_slice(b"null"),
            _ => return Err(self.fail(v, "type not supported")),
        }
        Ok(())
    }

    fn number(&mut self, v: &Value) -> Result<()> {
        let n = luaaux::number(v).unwrap_or(0.0);
        match self.cfg.encode_invalid_numbers {
            0 if !n.is_finite() => return Err(self.fail(v, "must not be NaN or Inf")),
            1 if n.is_nan() => {
                self.out.extend_from_slice(b"nan");
                return Ok(());
            }
            0 | 1 => {}
            _ if !n.is_finite() => {
                self.out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {}
        }
        if n.is_infinite() {
            self.out
                .extend_from_slice(if n > 0.0 { b"inf" } else { b"-inf" });
        } else {
            let prec = self.cfg.encode_number_precision.clamp(1, 14) as usize;
            self.out.extend_from_slice(format_g(n, prec).as_bytes());
        }
        Ok(())
    }

    /// `lua_array_length`: the largest key when every key is a positive
    /// integer (the largest held as C's `int`), -1 for an object; an
    /// excessively sparse array is an error, or an object when the
    /// settings say to convert it.
    fn array_length(&self, t: &Table) -> Result<i32> {
        let (mut max, mut items) = (0i32, 0i32);
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair?;
            match luaaux::number(&k) {
                Some(k) if k != 0.0 && k.floor() == k && k >= 1.0 => {
                    if k > max as f64 {
                        max = cvt_i32(k);
                    }
                    items = items.wrapping_add(1);
                }
                _ => return Ok(-1),
            }
        }
        let c = &self.cfg;
        if c.sparse_ratio > 0 && max > items.wrapping_mul(c.sparse_ratio) && max > c.sparse_safe {
            if c.sparse_convert == 0 {
                return Err(self.fail(&Value::Table(t.clone()), "excessively sparse array"));
            }
            return Ok(-1);
        }
        Ok(max)
    }
}

/// A JSON string: `"`, `\`, `/` and control characters (and DEL) escaped.
fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

// ---- Decoding ----

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num,
    Bool,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::Str => "T_STRING",
            Kind::Num => "T_NUMBER",
            Kind::Bool => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error => "T_ERROR",
        }
    }
}

/// A token: where it starts, and its value (a string's is the decoder's
/// `tmp`; an error token's is its message).
#[derive(Clone, Copy)]
struct Token {
    kind: Kind,
    index: usize,
    num: f64,
    boolean: bool,
    err: &'static str,
}

impl Token {
    fn new(kind: Kind, index: usize) -> Token {
        Token {
            kind,
            index,
            num: 0.0,
            boolean: false,
            err: "",
        }
    }

    fn error(index: usize, err: &'static str) -> Token {
        Token {
            err,
            ..Token::new(Kind::Error, index)
        }
    }
}

/// A container being read: the C parser's recursion, as data.
enum Nest {
    Array { t: Table, i: i64 },
    Object { t: Table, key: LuaString },
}

struct Decoder<'a> {
    lua: &'a Lua,
    cfg: Config,
    s: &'a [u8],
    ptr: usize,
    /// The last string token's bytes, unescaped.
    tmp: Vec<u8>,
    depth: i32,
}

impl Decoder<'_> {
    /// The byte at `i`, 0 past the end (C reads the string's terminator).
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    fn too_deep(&self) -> mlua::Error {
        luaaux::error(
            self.lua,
            format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.ptr
            ),
        )
    }

    fn expected(&self, what: &str, t: &Token) -> mlua::Error {
        let found = if t.kind == Kind::Error {
            t.err
        } else {
            t.kind.name()
        };
        luaaux::error(
            self.lua,
            format!(
                "Expected {what} but found {found} at character {}",
                t.index + 1
            ),
        )
    }

    /// `json_decode_descend`: one level deeper, `slots` more C stack slots
    /// on the `top` already used.
    fn descend(&mut self, top: usize, slots: usize) -> Result<()> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth && top + slots <= MAX_C_STACK {
            return Ok(());
        }
        Err(self.too_deep())
    }

    fn run(&mut self) -> Result<Value> {
        let t = self.token();
        let v = self.value(t)?;
        let t = self.token();
        if t.kind != Kind::End {
            return Err(self.expected("the end", &t));
        }
        Ok(v)
    }

    /// An object's key, from its string token to the colon after it.
    fn key(&mut self, t: Token) -> Result<LuaString> {
        if t.kind != Kind::Str {
            return Err(self.expected("object key string", &t));
        }
        let key = self.lua.create_string(&self.tmp)?;
        let t = self.token();
        if t.kind != Kind::Colon {
            return Err(self.expected("colon", &t));
        }
        Ok(key)
    }

    /// The value that starts with token `t`.
    fn value(&mut self, mut t: Token) -> Result<Value> {
        let mut open: Vec<Nest> = Vec::new();
        // The C stack: the argument, and per open container its table and,
        // in an object, the key whose value is being read.
        let mut slots = 1;
        loop {
            let mut v = match t.kind {
                Kind::Str => Value::String(self.lua.create_string(&self.tmp)?),
                Kind::Num => Value::Number(t.num),
                Kind::Bool => Value::Boolean(t.boolean),
                Kind::Null => Value::LightUserData(LightUserData(std::ptr::null_mut())),
                Kind::ObjBegin => {
                    self.descend(slots, 3)?;
                    let table = self.lua.create_table()?;
                    t = self.token();
                    if t.kind == Kind::ObjEnd {
                        self.depth -= 1;
                        Value::Table(table)
                    } else {
                        let key = self.key(t)?;
                        open.push(Nest::Object { t: table, key });
                        slots += 2;
                        t = self.token();
                        continue;
                    }
                }
                Kind::ArrBegin => {
                    self.descend(slots, 2)?;
                    let table = self.lua.create_table()?;
                    t = self.token();
                    if t.kind == Kind::ArrEnd {
                        self.depth -= 1;
                        Value::Table(table)
                    } else {
                        open.push(Nest::Array { t: table, i: 1 });
                        slots += 1;
                        continue;
                    }
                }
                _ => return Err(self.expected("value", &t)),
            };
            // Store `v` in the containers it completes, up to one that
            // goes on; `t` becomes the token of the next value.
            loop {
                let Some(top) = open.last_mut() else {
                    return Ok(v);
                };
                let closed = match top {
                    Nest::Array { t: table, i } => {
                        table.raw_set(*i, v)?;
                        *i += 1;
                        t = self.token();
                        if t.kind == Kind::ArrEnd {
                            slots -= 1;
                            table.clone()
                        } else if t.kind != Kind::Comma {
                            return Err(self.expected("comma or array end", &t));
                        } else {
                            t = self.token();
                            break;
                        }
                    }
                    Nest::Object { t: table, key } => {
                        table.raw_set(key.clone(), v)?;
                        t = self.token();
                        if t.kind == Kind::ObjEnd {
                            slots -= 2;
                            table.clone()
                        } else if t.kind != Kind::Comma {
                            return Err(self.expected("comma or object end", &t));
                        } else {
                            t = self.token();
                            *key = self.key(t)?;
                            t = self.token();
                            break;
                        }
                    }
                };
                open.pop();
                self.depth -= 1;
                v = Value::Table(closed);
            }
        }
    }

    /// `json_next_token`.
    fn token(&mut self) -> Token {
        let mut ch = self.at(self.ptr);
        while matches!(ch, b' ' | b'\t' | b'\n' | b'\r') {
            self.ptr += 1;
            ch = self.at(self.ptr);
        }
        let index = self.ptr;
        let single = match ch {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            0 => return Token::new(Kind::End, index),
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'"' | b'+' | b'-' | b'0'..=b'9' => None,
            _ => return Token::error(index, "invalid token"),
        };
        if let Some(kind) = single {
            self.ptr += 1;
            return Token::new(kind, index);
        }
        let invalid_ok = self.cfg.decode_invalid_numbers != 0;
        let rest = &self.s[self.ptr.min(self.s.len())..];
        if ch == b'"' {
            self.string(index)
        } else if ch == b'-' || ch.is_ascii_digit() {
            if !invalid_ok && self.invalid_number() {
                return Token::error(index, "invalid number");
            }
            self.number(index)
        } else if rest.starts_with(b"true") {
            self.ptr += 4;
            Token {
                boolean: true,
                ..Token::new(Kind::Bool, index)
            }
        } else if rest.starts_with(b"false") {
            self.ptr += 5;
            Token::new(Kind::Bool, index)
        } else if rest.starts_with(b"null") {
            self.ptr += 4;
            Token::new(Kind::Null, index)
        } else if invalid_ok && self.invalid_number() {
            self.number(index)
        } else {
            Token::error(index, "invalid token")
        }
    }

    /// `json_is_invalid_number`: what `strtod` reads but JSON does not
    /// have: a leading `+`, hex, leading zeros, inf and nan.
    fn invalid_number(&self) -> bool {
        let mut p = self.ptr;
        match self.at(p) {
            b'+' => return true,
            b'-' => p += 1,
            _ => {}
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        }
        // A signed `char` comparison: bytes from 0x80 are below '9'.
        if (c as i8) <= b'9' as i8 {
            return false;
        }
        let word = [self.at(p), self.at(p + 1), self.at(p + 2)].map(|b| b.to_ascii_lowercase());
        &word == b"inf" || &word == b"nan"
    }

    fn number(&mut self, index: usize) -> Token {
        let rest = c_str(&self.s[self.ptr..]);
        let (num, used, _) = strtod(rest);
        if used == 0 {
            return Token::error(index, "invalid number");
        }
        self.ptr += used;
        Token {
            num,
            ..Token::new(Kind::Num, index)
        }
    }

    /// `json_next_string_token`: the string at the quote, into `tmp`.
    fn string(&mut self, index: usize) -> Token {
        self.ptr += 1;
        self.tmp.clear();
        loop {
            // Plain bytes up to the next quote, backslash or terminator.
            let rest = &self.s[self.ptr.min(self.s.len())..];
            let run = memchr::memchr3(b'"', b'\\', 0, rest).unwrap_or(rest.len());
            self.tmp.extend_from_slice(&rest[..run]);
            self.ptr += run;
            match self.at(self.ptr) {
                b'"' => break,
                0 => return Token::error(self.ptr, "unexpected end of string"),
                _ => {}
            }
            let c = match self.at(self.ptr + 1) {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b't' => b'\t',
                b'n' => b'\n',
                b'f' => 0x0c,
                b'r' => b'\r',
                b'u' => {
                    if self.unicode_escape() {
                        continue;
                    }
                    return Token::error(self.ptr, "invalid unicode escape code");
                }
                _ => return Token::error(self.ptr, "invalid escape code"),
            };
            self.tmp.push(c);
            self.ptr += 2;
        }
        self.ptr += 1;
        Token::new(Kind::Str, index)
    }

    /// Four hex digits at `i`, or -1.
    fn hex4(&self, i: usize) -> i32 {
        let mut v = 0;
        for k in 0..4 {
            let c = self.at(i + k);
            let d = match c {
                b'0'..=b'9' => c - b'0',
                _ if (b'a'..=b'f').contains(&(c | 0x20)) => (c | 0x20) - b'a' + 10,
                _ => return -1,
            };
            v = (v << 4) | d as i32;
        }
        v
    }

    /// `\uXXXX` (a surrogate pair as two) at `ptr`, as UTF-8 into `tmp`.
    fn unicode_escape(&mut self) -> bool {
        let mut cp = self.hex4(self.ptr + 2);
        if cp < 0 {
            return false;
        }
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 || self.at(self.ptr + 6) != b'\\' || self.at(self.ptr + 7) != b'u' {
                return false;
            }
            let low = self.hex4(self.ptr + 8);
            if low < 0 || low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let cp = cp as u32;
        if cp <= 0x7F {
            self.tmp.push(cp as u8);
        } else if cp <= 0x7FF {
            self.tmp
                .extend_from_slice(&[(cp >> 6) as u8 | 0xC0, (cp & 0x3F) as u8 | 0x80]);
        } else if cp <= 0xFFFF {
            self.tmp.extend_from_slice(&[
                (cp >> 12) as u8 | 0xE0,
                ((cp >> 6) & 0x3F) as u8 | 0x80,
                (cp & 0x3F) as u8 | 0x80,
            ]);
        } else {
            self.tmp.extend_from_slice(&[
                (cp >> 18) as u8 | 0xF0,
                ((cp >> 12) & 0x3F) as u8 | 0x80,
                ((cp >> 6) & 0x3F) as u8 | 0x80,
                (cp & 0x3F) as u8 | 0x80,
            ]);
        }
        self.ptr += len;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::scripting::luaaux::testing::{eval, lua_with};

    fn lua() -> Lua {
        lua_with("cjson", library)
    }

    fn text(lua: &Lua, code: &str) -> String {
        eval::<String>(lua, code).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn encodes_as_lua_cjson() {
        let lua = lua();
        assert_eq!(
            text(&lua, "return cjson.encode({1, 2, {a = 'b/c'}})"),
            r#"[1,2,{"a":"b\/c"}]"#
        );
        assert_eq!(text(&lua, "return cjson.encode({})"), "{}");
        assert_eq!(text(&lua, "return cjson.encode(1/3)"), "0.33333333333333");
        assert_eq!(
            text(&lua, "return cjson.encode('\\1\\127')"),
            r#""\u0001\u007f""#
        );
        assert_eq!(
            text(&lua, "return cjson.encode({[1] = 1, [3] = 3})"),
            "[1,null,3]"
        );
        assert!(
            text(&lua, "return cjson.encode({[1] = 1, [100] = 2})")
                .contains("excessively sparse array")
        );
        assert!(
            text(&lua, "return cjson.encode(0/0)")
                .contains("Cannot serialise number: must not be NaN or Inf")
        );
        assert!(
            text(&lua, "return cjson.encode({[true] = 1})")
                .contains("Cannot serialise boolean: table key must be a number or string")
        );
        assert!(
            text(&lua, "return cjson.encode(print)")
                .contains("Cannot serialise function: type not supported")
        );
    }

    #[test]
    fn settings() {
        let lua = lua();
        assert_eq!(
            text(
                &lua,
                "cjson.encode_number_precision(3) return cjson.encode(1/3)"
            ),
            "0.333"
        );
        assert_eq!(
            text(
                &lua,
                "cjson.encode_invalid_numbers('null') return cjson.encode({1/0, 0/0})"
            ),
            "[null,null]"
        );
        assert_eq!(
            text(
                &lua,
                "cjson.encode_invalid_numbers(true) return cjson.encode({1/0, -1/0})"
            ),
            "[inf,-inf]"
        );
        assert_eq!(
            text(
                &lua,
                "cjson.encode_sparse_array(true) return cjson.encode({[1] = 1, [100] = 2})"
            ),
            r#"{"1":1,"100":2}"#
        );
        assert!(
            text(
                &lua,
                "cjson.encode_max_depth(2) return cjson.encode({{{}}})"
            )
            .contains("excessive nesting (3)")
        );
        assert!(
            text(
                &lua,
                "cjson.decode_max_depth(2) return cjson.decode('[[[1]]]')"
            )
            .contains("Found too many nested data structures (3) at character 3")
        );
        assert!(text(&lua, "return cjson.encode_max_depth(0)").contains(
            "bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)"
        ));
        assert!(text(&lua, "return cjson.encode_keep_buffer('x')").contains("invalid option 'x'"));
        let fresh: String = eval(&lua, "return cjson.new().encode(1/3)").expect("eval");
        assert_eq!(fresh, "0.33333333333333");
    }

    #[test]
    fn decodes_as_lua_cjson() {
        let lua = lua();
        assert_eq!(
            text(
                &lua,
                "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')"
            ),
            "0 -5000 -1 0.0003 1023.2 0"
        );
        assert_eq!(
            text(
                &lua,
                "return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')"
            ),
            "\u{e9}\u{1f600}"
        );
        assert_eq!(text(&lua, "return tostring(cjson.decode('0x10'))"), "16");
        assert_eq!(
            text(
                &lua,
                "return tostring(cjson.decode('[null]')[1] == cjson.null)"
            ),
            "true"
        );
        for (json, msg) in [
            (
                "{bad",
                "Expected object key string but found invalid token at character 2",
            ),
            ("[1,]", "Expected value but found T_ARR_END at character 4"),
            ("", "Expected value but found T_END at character 1"),
            (
                "[1 2]",
                "Expected comma or array end but found T_NUMBER at character 4",
            ),
            (
                "\"ab",
                "Expected value but found unexpected end of string at character 4",
            ),
            (
                "\"\\\\q\"",
                "Expected value but found invalid escape code at character 2",
            ),
            (
                "\"\\\\udc00\"",
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                "-",
                "Expected value but found invalid number at character 1",
            ),
            (
                "truex",
                "Expected the end but found invalid token at character 5",
            ),
            (
                "{\"a\" 1}",
                "Expected colon but found T_NUMBER at character 6",
            ),
        ] {
            let got = text(&lua, &format!("return cjson.decode('{json}')"));
            assert!(got.contains(msg), "{json}: {got}");
        }
        assert!(text(&lua, "return cjson.decode('a\\0')").contains("UTF-16"));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let lua = lua();
        let got = text(
            &lua,
            "cjson.decode_max_depth(100000) return cjson.decode(string.rep('[', 9000))",
        );
        assert!(
            got.contains("Found too many nested data structures"),
            "{got}"
        );
        let got = text(
            &lua,
            "cjson.encode_max_depth(100000) local t = {} for i = 1, 9000 do t = {t} end return cjson.encode(t)",
        );
        assert!(got.contains("excessive nesting"), "{got}");
    }
}
