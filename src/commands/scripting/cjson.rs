//! The `cjson` library Redis embeds (lua-cjson 2.1 with Redis's defaults):
//! `encode` and `decode`, `null`. Numbers are written `%.14g`, `/` is
//! escaped, an empty table is `{}`, a table with only positive integer keys
//! (not too sparse) is an array.

use mlua::{LightUserData, Lua, Result, Table, Value};

const MAX_DEPTH: usize = 1000;

pub fn library(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let mut out = Vec::new();
            encode(&v, &mut out, 1).map_err(mlua::Error::runtime)?;
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, s: mlua::LuaString| {
            let bytes = s.as_bytes();
            let mut p = Parser {
                s: &bytes,
                at: 0,
                lua,
            };
            p.skip_ws();
            let v = p.value(1)?;
            p.skip_ws();
            if p.at < p.s.len() {
                return Err(p.err("the end"));
            }
            Ok(v)
        })?,
    )?;
    t.set(
        "null",
        Value::LightUserData(LightUserData(std::ptr::null_mut())),
    )?;
    Ok(t)
}

/// `%.14g`, as lua-cjson's default `encode_number_precision`.
fn format_g14(n: f64) -> String {
    if n == n.trunc() && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    let exp = n.abs().log10().floor() as i32;
    if !(-5..14).contains(&exp) {
        let s = format!("{:.13e}", n);
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = mant.trim_end_matches('0').trim_end_matches('.');
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", e.abs());
    }
    let decimals = (13 - exp).max(0) as usize;
    let s = format!("{:.*}", decimals, n);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> std::result::Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(u) if u.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(format_g14(*i as f64).as_bytes()),
        Value::Number(n) => {
            if !n.is_finite() {
                return Err("Cannot serialise number: must not be NaN or Inf".into());
            }
            out.extend_from_slice(format_g14(*n).as_bytes())
        }
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth > MAX_DEPTH {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    MAX_DEPTH + 1
                ));
            }
            table(t, out, depth)?
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ));
        }
    }
    Ok(())
}

fn string(s: &[u8], out: &mut Vec<u8>) {
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
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn table(t: &Table, out: &mut Vec<u8>, depth: usize) -> std::result::Result<(), String> {
    // lua-cjson's array test: all keys positive integers; `max` elements.
    let mut max = 0usize;
    let mut items = 0usize;
    let mut array = true;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        items += 1;
        let idx = match k {
            Value::Integer(i) if i >= 1 => Some(i as usize),
            Value::Number(n) if n >= 1.0 && n == n.floor() => Some(n as usize),
            _ => None,
        };
        match idx {
            Some(i) => max = max.max(i),
            None => array = false,
        }
    }
    // Excessively sparse: more than twice the elements and over 10 (defaults).
    if array && items > 0 && max > items * 2 && max > 10 {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    if array && items > 0 {
        out.push(b'[');
        for i in 1..=max {
            if i > 1 {
                out.push(b',');
            }
            let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
            encode(&v, out, depth + 1)?;
        }
        out.push(b']');
        return Ok(());
    }
    out.push(b'{');
    let mut first = true;
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        if !first {
            out.push(b',');
        }
        first = false;
        match &k {
            Value::String(s) => string(&s.as_bytes(), out),
            Value::Integer(i) => string(format_g14(*i as f64).as_bytes(), out),
            Value::Number(n) => string(format_g14(*n).as_bytes(), out),
            other => {
                return Err(format!(
                    "Cannot serialise {}: table key must be a number or string",
                    other.type_name()
                ));
            }
        }
        out.push(b':');
        encode(&v, out, depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    lua: &'a Lua,
}

impl Parser<'_> {
    fn err(&self, expected: &str) -> mlua::Error {
        let found = match self.s.get(self.at) {
            None => "the end".to_string(),
            Some(_) => "invalid token".to_string(),
        };
        mlua::Error::runtime(format!(
            "Expected {expected} but found {found} at character {}",
            self.at + 1
        ))
    }

    fn skip_ws(&mut self) {
        while self
            .s
            .get(self.at)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(mlua::Error::runtime(format!(
                "Found too many nested data structures ({}) at character {}",
                depth,
                self.at + 1
            )));
        }
        match self.s.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let t = self.lua.create_table()?;
                self.skip_ws();
                if self.s.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Value::Table(t));
                }
                loop {
                    self.skip_ws();
                    if self.s.get(self.at) != Some(&b'"') {
                        return Err(self.err("object key string"));
                    }
                    let k = self.lua.create_string(self.string()?)?;
                    self.skip_ws();
                    if self.s.get(self.at) != Some(&b':') {
                        return Err(self.err("colon"));
                    }
                    self.at += 1;
                    self.skip_ws();
                    let v = self.value(depth + 1)?;
                    t.raw_set(k, v)?;
                    self.skip_ws();
                    match self.s.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Value::Table(t));
                        }
                        _ => return Err(self.err("comma or object end")),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let t = self.lua.create_table()?;
                self.skip_ws();
                if self.s.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Value::Table(t));
                }
                let mut i = 1;
                loop {
                    self.skip_ws();
                    let v = self.value(depth + 1)?;
                    t.raw_set(i, v)?;
                    i += 1;
                    self.skip_ws();
                    match self.s.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Value::Table(t));
                        }
                        _ => return Err(self.err("comma or array end")),
                    }
                }
            }
            Some(b'"') => Ok(Value::String(self.lua.create_string(self.string()?)?)),
            Some(b't') if self.s[self.at..].starts_with(b"true") => {
                self.at += 4;
                Ok(Value::Boolean(true))
            }
            Some(b'f') if self.s[self.at..].starts_with(b"false") => {
                self.at += 5;
                Ok(Value::Boolean(false))
            }
            Some(b'n') if self.s[self.at..].starts_with(b"null") => {
                self.at += 4;
                Ok(Value::LightUserData(LightUserData(std::ptr::null_mut())))
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.at;
                while self.s.get(self.at).is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.at]).unwrap_or("");
                match text.parse::<f64>() {
                    Ok(n) => Ok(Value::Number(n)),
                    Err(_) => {
                        self.at = start;
                        Err(self.err("value"))
                    }
                }
            }
            _ => Err(self.err("value")),
        }
    }

    /// A JSON string at `self.at` (the opening quote), unescaped.
    fn string(&mut self) -> Result<Vec<u8>> {
        let start = self.at;
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.at) else {
                self.at = start;
                return Err(self.err("value"));
            };
            self.at += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.at) else {
                        return Err(self.err("value"));
                    };
                    self.at += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.s[self.at..].starts_with(b"\\u")
                            {
                                self.at += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3ff);
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
                            let mut b = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                        }
                        _ => {
                            self.at -= 2;
                            return Err(self.err("value"));
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let h = self
            .s
            .get(self.at..self.at + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        match h {
            Some(v) => {
                self.at += 4;
                Ok(v)
            }
            None => Err(self.err("value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_g14;

    #[test]
    fn numbers_as_percent_14g() {
        assert_eq!(format_g14(1.0), "1");
        assert_eq!(format_g14(0.1), "0.1");
        assert_eq!(format_g14(1.234_567_890_123_456_7), "1.2345678901235");
        assert_eq!(format_g14(1e20), "1e+20");
        assert_eq!(format_g14(-2.5), "-2.5");
        assert_eq!(format_g14(1e-7), "1e-07");
    }
}
