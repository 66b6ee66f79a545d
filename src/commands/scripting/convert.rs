//! RESP ↔ Lua as Redis 7.0 converts (`redisProtocolToLuaType`,
//! `luaReplyToRedisReply`).

use bytes::BufMut;
use mlua::{Function, Lua, Table, Value};

use crate::protocol::Reply;

/// A command's reply (one RESP2/RESP3 value) as the Lua value a script gets;
/// an error reply becomes `{err = ...}` through `error_table`.
pub fn reply_to_lua(lua: &Lua, error_table: &Function, buf: &[u8]) -> mlua::Result<Value> {
    let mut at = 0;
    parse(lua, error_table, buf, &mut at)
}

fn line<'a>(buf: &'a [u8], at: &mut usize) -> &'a [u8] {
    let start = *at + 1;
    let end = memchr::memchr(b'\r', &buf[start.min(buf.len())..]).map_or(buf.len(), |i| start + i);
    *at = (end + 2).min(buf.len());
    &buf[start.min(end)..end]
}

fn num(s: &[u8]) -> i64 {
    crate::protocol::parse_i64(s).unwrap_or(0)
}

fn parse(lua: &Lua, et: &Function, buf: &[u8], at: &mut usize) -> mlua::Result<Value> {
    let Some(&t) = buf.get(*at) else {
        return Ok(Value::Nil);
    };
    let single = |k: &str, v: Value| -> mlua::Result<Value> {
        let tb = lua.create_table()?;
        tb.raw_set(k, v)?;
        Ok(Value::Table(tb))
    };
    match t {
        b':' => Ok(Value::Number(num(line(buf, at)) as f64)),
        b'+' => {
            let s = lua.create_string(line(buf, at))?;
            single("ok", Value::String(s))
        }
        b'-' => {
            let mut msg = b"-".to_vec();
            msg.extend_from_slice(line(buf, at));
            let s = lua.create_string(&msg)?;
            et.call(s)
        }
        b'$' | b'=' => {
            let n = num(line(buf, at));
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let body = &buf[*at..(*at + n as usize).min(buf.len())];
            *at = (*at + n as usize + 2).min(buf.len());
            if t == b'$' {
                return Ok(Value::String(lua.create_string(body)?));
            }
            let (format, text) = body.split_at(body.len().min(4));
            let v = lua.create_table()?;
            v.raw_set("string", lua.create_string(text)?)?;
            v.raw_set("format", lua.create_string(&format[..format.len().min(3)])?)?;
            single("verbatim_string", Value::Table(v))
        }
        b'*' | b'~' | b'%' | b'>' => {
            let n = num(line(buf, at));
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let tb = lua.create_table()?;
            for i in 0..n {
                let v = parse(lua, et, buf, at)?;
                match t {
                    b'~' => tb.raw_set(v, true)?,
                    b'%' => {
                        let val = parse(lua, et, buf, at)?;
                        tb.raw_set(v, val)?
                    }
                    _ => tb.raw_set(i + 1, v)?,
                }
            }
            match t {
                b'~' => single("set", Value::Table(tb)),
                b'%' => single("map", Value::Table(tb)),
                _ => Ok(Value::Table(tb)),
            }
        }
        b'|' => {
            let n = num(line(buf, at));
            for _ in 0..n.max(0) * 2 {
                parse(lua, et, buf, at)?;
            }
            parse(lua, et, buf, at)
        }
        b'_' => {
            line(buf, at);
            Ok(Value::Nil)
        }
        b'#' => Ok(Value::Boolean(line(buf, at) == b"t")),
        b',' => {
            let d = crate::num::strtod(line(buf, at)).0;
            single("double", Value::Number(d))
        }
        b'(' => {
            let s = lua.create_string(line(buf, at))?;
            single("big_number", Value::String(s))
        }
        _ => Ok(Value::Nil),
    }
}

/// Writes a script's return value as Redis does; `script_resp` is the
/// protocol the script set (`redis.setresp`), which decides booleans.
pub fn lua_to_reply(v: &Value, out: &mut Reply, script_resp: u8) {
    // Iterative, so a deep (or self-referencing) table cannot overflow the
    // thread's stack: values wait on `todo` in reverse, with their depth.
    let mut todo = vec![(v.clone(), 0usize)];
    while let Some((v, depth)) = todo.pop() {
        match v {
            Value::String(s) => out.bulk(&s.as_bytes()),
            Value::Boolean(b) => {
                if script_resp == 2 {
                    if b { out.int(1) } else { out.null() }
                } else {
                    out.boolean(b)
                }
            }
            Value::Integer(i) => out.int(i),
            Value::Number(n) => out.int(super::luaaux::cvt_i64(n)),
            Value::Table(_) if depth >= MAX_DEPTH => out.error("ERR reached lua stack limit"),
            Value::Table(t) => {
                let first = todo.len();
                table_to_reply(&t, out, &mut |v| todo.push((v, depth + 1)));
                todo[first..].reverse();
            }
            _ => out.null(),
        }
    }
}

/// How deep Redis's conversion goes before its Lua stack runs out (8000
/// slots, one per nested table, less what the call itself holds): the
/// table at this depth becomes the error.
const MAX_DEPTH: usize = 7995;

fn raw_string(t: &Table, k: &str) -> Option<Vec<u8>> {
    match t.raw_get::<Value>(k).ok()? {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// Writes what a table converts to, handing its elements (in order) to
/// `child` to be converted after.
fn table_to_reply(t: &Table, out: &mut Reply, child: &mut dyn FnMut(Value)) {
    if let Some(e) = raw_string(t, "err") {
        out.error(&String::from_utf8_lossy(&e));
        return;
    }
    if let Some(s) = raw_string(t, "ok") {
        let s: String = String::from_utf8_lossy(&s)
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        out.simple(&s);
        return;
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => return out.double(d),
        Ok(Value::Integer(i)) => return out.double(i as f64),
        _ => {}
    }
    if let Some(mut n) = raw_string(t, "big_number") {
        for c in n.iter_mut() {
            if *c == b'\r' || *c == b'\n' {
                *c = b' ';
            }
        }
        if out.resp3() {
            raw(out, b'(', &n);
        } else {
            out.bulk(&n);
        }
        return;
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string")
        && let (Some(f), Some(s)) = (raw_string(&v, "format"), raw_string(&v, "string"))
    {
        if out.resp3() {
            let mut body = f.clone();
            body.truncate(3);
            body.push(b':');
            body.extend_from_slice(&s);
            out.verbatim_raw(&body);
        } else {
            out.bulk(&s);
        }
        return;
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in pairs {
            child(k);
            child(v);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok().map(|p| p.0))
            .collect();
        out.set(keys.len());
        for k in keys {
            child(k);
        }
        return;
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for v in items {
        child(v);
    }
}

fn raw(out: &mut Reply, tag: u8, body: &[u8]) {
    let b = out.buf_mut();
    b.put_u8(tag);
    b.put_slice(body);
    b.put_slice(b"\r\n");
}
