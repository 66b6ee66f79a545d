//! The `struct` library Redis embeds (Roberto Ierusalimschy's lua-struct,
//! with Redis's bounds checks): `pack`, `unpack` and `size` over a format
//! of `<` `>` `!n` (endianness, alignment), `x` (padding), `b/B h/H l/L T
//! i/In I/In` (integers of 1, 2, 8, 8 and n <= 32 bytes), `f` `d`, `s`
//! (zero-terminated) and `cn` (fixed length; `c0` the whole string, or when
//! unpacking the number read before). Sizes are those of Redis's x86-64
//! build (`long` and `size_t` 8 bytes, maximum alignment 8); integers are
//! carried in 64 bits as the C code carries them, so wider ones keep their
//! low 8 bytes.

use mlua::{Lua, MultiValue, Result, Table, Value};

use super::luaaux::{self, Args, arg_error, c_str, check_stack, cvt_i64, cvt_u64, function};

/// `MAXINTSIZE`: the widest `i`/`I`.
const MAX_INT_SIZE: i64 = 32;
/// `MAXALIGN`: `!` without a number.
const MAX_ALIGN: i64 = 8;

pub fn library(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", function(lua, pack)?)?;
    t.set("unpack", function(lua, |lua, a| unpack(lua, &a))?)?;
    t.set("size", function(lua, |lua, a| size(lua, &a))?)?;
    Ok(t)
}

/// The state a format sets as it goes (`Header`).
struct Header {
    little: bool,
    align: u64,
}

impl Default for Header {
    fn default() -> Header {
        Header {
            little: cfg!(target_endian = "little"),
            align: 1,
        }
    }
}

/// A format string read option by option (as C reads it: up to a NUL).
struct Format<'a> {
    s: &'a [u8],
    at: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.s.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// `getnum`: the decimal number at the cursor, else `default`.
    fn number(&mut self, lua: &Lua, default: i64) -> Result<i64> {
        if !self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i64 = 0;
        while let Some(&d) = self.s.get(self.at).filter(|d| d.is_ascii_digit()) {
            let d = (d - b'0') as i64;
            if a > i32::MAX as i64 / 10 || a * 10 > i32::MAX as i64 - d {
                return Err(luaaux::error(lua, "integral size overflow"));
            }
            a = a * 10 + d;
            self.at += 1;
        }
        Ok(a)
    }

    /// `optsize`: the bytes option `opt` takes (0 for the ones that
    /// take none or, as `s`, a size of their data's).
    fn size(&mut self, lua: &Lua, opt: u8) -> Result<u64> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.number(lua, 1)? as u64,
            b'i' | b'I' => {
                let n = self.number(lua, 4)?;
                if n > MAX_INT_SIZE {
                    return Err(luaaux::error(
                        lua,
                        format!("integral size {n} is larger than limit of {MAX_INT_SIZE}"),
                    ));
                }
                n as u64
            }
            _ => 0,
        })
    }

    /// `controloptions`: endianness, alignment and spaces; any other
    /// option is not one.
    fn control(&mut self, lua: &Lua, opt: u8, h: &mut Header) -> Result<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.number(lua, MAX_ALIGN)?;
                if a <= 0 || a & (a - 1) != 0 {
                    return Err(luaaux::error(
                        lua,
                        format!("alignment {a} is not a power of 2"),
                    ));
                }
                h.align = a as u64;
            }
            _ => {
                let mut msg = b"invalid format option '".to_vec();
                msg.push(opt);
                msg.push(b'\'');
                return Err(arg_error(lua, 1, msg));
            }
        }
        Ok(())
    }
}

/// `gettoalign`: padding before an item of `size` bytes at offset `len`.
fn padding(len: u64, h: &Header, opt: u8, size: u64) -> u64 {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & (size - 1))) & (size - 1)
}

fn is_integer(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

/// `size` bytes of `b`, most significant first when `little` is false.
fn ordered(b: &[u8], little: bool) -> Vec<u8> {
    let mut v = b.to_vec();
    if !little {
        v.reverse();
    }
    v
}

fn pack(lua: &Lua, mut a: Args) -> Result<mlua::LuaString> {
    let fmt = a.check_string(1)?;
    // The C code then pushes a nil after the arguments: a missing one is
    // "got nil", not "got no value".
    a.push(Value::Nil);
    let fmt = fmt.as_bytes();
    let mut f = Format {
        s: c_str(&fmt),
        at: 0,
    };
    let mut h = Header::default();
    let mut arg = 2;
    let mut out = Vec::new();
    let mut total: u64 = 0;
    while let Some(opt) = f.next() {
        let mut size = f.size(lua, opt)?;
        let pad = padding(total, &h, opt, size);
        total = total.wrapping_add(pad);
        out.resize(out.len() + pad as usize, 0);
        match opt {
            _ if is_integer(opt) => {
                let n = a.check_number(arg)?;
                arg += 1;
                // C's cast: through `long` for negatives, unsigned otherwise.
                let mut value = if n < 0.0 {
                    cvt_i64(n) as u64
                } else {
                    cvt_u64(n)
                };
                let mut bytes = Vec::with_capacity(size as usize);
                for _ in 0..size {
                    bytes.push(value as u8);
                    value >>= 8;
                }
                out.extend(ordered(&bytes, h.little));
            }
            b'x' => out.push(0),
            b'f' => {
                let v = a.check_number(arg)? as f32;
                arg += 1;
                out.extend(ordered(&v.to_le_bytes(), h.little));
            }
            b'd' => {
                let v = a.check_number(arg)?;
                arg += 1;
                out.extend(ordered(&v.to_le_bytes(), h.little));
            }
            b'c' | b's' => {
                let s = a.check_string(arg)?;
                arg += 1;
                let s = s.as_bytes();
                let l = s.len() as u64;
                if size == 0 {
                    size = l;
                }
                if l < size {
                    // The C code checks after moving on: it names the next
                    // argument.
                    return Err(arg_error(lua, arg, "string too short"));
                }
                out.extend_from_slice(&s[..size as usize]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => f.control(lua, opt, &mut h)?,
        }
        total = total.wrapping_add(size);
    }
    lua.create_string(&out)
}

/// `getinteger`: `b` as a number, the bytes accumulated in 64 bits (wider
/// integers keep their last 8), the sign extended from bit `8 * size - 1`
/// as x86 shifts (by that count modulo 64).
fn integer(b: &[u8], little: bool, signed: bool) -> f64 {
    let fold = |l: u64, &c: &u8| (l << 8) | c as u64;
    let l = if little {
        b.iter().rev().fold(0, fold)
    } else {
        b.iter().fold(0, fold)
    };
    if !signed {
        return l as f64;
    }
    let shift = ((b.len() as i64 * 8 - 1) & 63) as u32;
    let mask = u64::MAX << shift;
    let l = if l & mask != 0 { l | mask } else { l };
    l as i64 as f64
}

fn unpack(lua: &Lua, a: &Args) -> Result<MultiValue> {
    let fmt = a.check_string(1)?;
    let fmt = fmt.as_bytes();
    let data = a.check_string(2)?;
    let data = data.as_bytes();
    let ld = data.len() as u64;
    let mut pos = a.opt_integer(3, 1)? as u64;
    if pos == 0 {
        return Err(arg_error(lua, 3, "offset must be 1 or greater"));
    }
    pos -= 1;
    let mut f = Format {
        s: c_str(&fmt),
        at: 0,
    };
    let mut h = Header::default();
    let mut out: Vec<Value> = Vec::new();
    let too_short = || arg_error(lua, 2, "data string too short");
    let string = |b: &[u8]| {
        lua.create_string(b)
            .map_err(luaaux::overflow_as(lua, "too many results"))
    };
    while let Some(opt) = f.next() {
        let mut size = f.size(lua, opt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(too_short());
        }
        check_stack(lua, a.len() + out.len(), 2, "too many results")?;
        let at = pos as usize;
        match opt {
            _ if is_integer(opt) => {
                let b = &data[at..at + size as usize];
                out.push(Value::Number(integer(
                    b,
                    h.little,
                    opt.is_ascii_lowercase(),
                )));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&ordered(&data[at..at + 4], h.little));
                out.push(Value::Number(f32::from_le_bytes(b) as f64));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&ordered(&data[at..at + 8], h.little));
                out.push(Value::Number(f64::from_le_bytes(b)));
            }
            b'c' => {
                if size == 0 {
                    let n = match out.last() {
                        Some(v) => luaaux::to_number(lua, Some(v))?,
                        None => None,
                    };
                    let Some(n) = n else {
                        return Err(luaaux::error(lua, "format 'c0' needs a previous size"));
                    };
                    size = cvt_u64(n);
                    out.pop();
                    if !(size <= ld && pos <= ld - size) {
                        return Err(too_short());
                    }
                }
                out.push(Value::String(string(&data[at..at + size as usize])?));
            }
            b's' => {
                let Some(e) = memchr::memchr(0, &data[at..]) else {
                    return Err(luaaux::error(lua, "unfinished string in data"));
                };
                size = e as u64 + 1;
                out.push(Value::String(string(&data[at..at + e])?));
            }
            _ => f.control(lua, opt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    out.push(Value::Number(pos.wrapping_add(1) as i64 as f64));
    Ok(MultiValue::from_vec(out))
}

fn size(lua: &Lua, a: &Args) -> Result<f64> {
    let fmt = a.check_string(1)?;
    let fmt = fmt.as_bytes();
    let mut f = Format {
        s: c_str(&fmt),
        at: 0,
    };
    let mut h = Header::default();
    let mut pos: u64 = 0;
    while let Some(opt) = f.next() {
        let size = f.size(lua, opt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if opt == b's' {
            return Err(arg_error(lua, 1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(lua, 1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(lua, opt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(pos as i64 as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::scripting::luaaux::testing::{assert_errors, eval, lua_with};

    fn lua() -> Lua {
        lua_with("struct", library)
    }

    fn bytes(lua: &Lua, code: &str) -> Vec<u8> {
        eval::<mlua::LuaString>(lua, code)
            .expect("eval")
            .as_bytes()
            .to_vec()
    }

    #[test]
    fn packs_integers_in_either_order() {
        let lua = lua();
        assert_eq!(bytes(&lua, "return struct.pack('>i', 1)"), [0, 0, 0, 1]);
        assert_eq!(bytes(&lua, "return struct.pack('<h', -2)"), [0xfe, 0xff]);
        assert_eq!(
            bytes(&lua, "return struct.pack('>I3', 0x010203)"),
            [1, 2, 3]
        );
        assert_eq!(bytes(&lua, "return struct.pack('b', 300)"), [44]);
        // Alignment pads an int to 4 bytes after a byte.
        assert_eq!(
            bytes(&lua, "return struct.pack('!<bi', 1, 2)"),
            [1, 0, 0, 0, 2, 0, 0, 0]
        );
        assert_eq!(bytes(&lua, "return struct.pack('<L', 2^64)"), [0; 8]);
        assert_eq!(
            bytes(&lua, "return struct.pack('>L', 0/0)"),
            [0x80, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn strings_and_round_trips() {
        let lua = lua();
        assert_eq!(
            bytes(&lua, "return struct.pack('sc3c0', 'ab', 'xyz', 'q')"),
            b"ab\0xyzq"
        );
        let (a, b, c, n): (f64, String, f64, f64) = eval(
            &lua,
            "return struct.unpack('<i2 s d', struct.pack('<i2 s d', -3, 'hi', 0.1))",
        )
        .expect("eval");
        assert_eq!((a, b.as_str(), c, n), (-3.0, "hi", 0.1, 14.0));
        let (s, n): (String, f64) =
            eval(&lua, "return struct.unpack('b c0', '\\3abcd')").expect("eval");
        assert_eq!((s.as_str(), n), ("abc", 5.0));
    }

    #[test]
    fn sign_extension_keeps_the_low_eight_bytes() {
        assert_eq!(integer(b"123456789", true, true), -79.0);
        assert_eq!(integer(&[0xff, 0xff], true, true), -1.0);
        assert_eq!(integer(&[0xff, 0xff], true, false), 65535.0);
        assert_eq!(integer(&[], true, true), 0.0);
    }

    #[test]
    fn sizes() {
        let lua = lua();
        let n: i64 = eval(&lua, "return struct.size('!bidxc5')").expect("eval");
        assert_eq!(n, 1 + 3 + 4 + 8 + 1 + 5);
        let n: i64 = eval(&lua, "return struct.size('zz9b')").expect("eval");
        assert_eq!(n, 1);
    }

    #[test]
    fn errors() {
        let cases = [
            (
                "struct.pack('i33', 1)",
                "integral size 33 is larger than limit of 32",
            ),
            ("struct.pack('c99999999999', 'a')", "integral size overflow"),
            ("struct.pack('!3i', 1)", "alignment 3 is not a power of 2"),
            ("struct.pack('y')", "invalid format option 'y'"),
            (
                "struct.pack('c5', 'ab')",
                "bad argument #3 to 'pack' (string too short)",
            ),
            (
                "struct.pack('i')",
                "bad argument #2 to 'pack' (number expected, got nil)",
            ),
            ("struct.unpack('i', 'ab')", "data string too short"),
            (
                "struct.unpack('i', 'abcd', 0)",
                "offset must be 1 or greater",
            ),
            ("struct.unpack('s', 'ab')", "unfinished string in data"),
            (
                "struct.unpack('c0', 'ab')",
                "format 'c0' needs a previous size",
            ),
            ("struct.size('s')", "option 's' has no fixed size"),
            ("struct.size('c0')", "option 'c0' has no fixed size"),
            (
                "struct.unpack(string.rep('b', 9000), string.rep('a', 9000))",
                "stack overflow",
            ),
        ];
        assert_errors(&lua(), &cases);
    }
}
