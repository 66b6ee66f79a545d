//! The `bit` library Redis embeds (LuaBitOp 1.0.2): 32-bit operations on
//! Lua numbers, results as signed 32-bit numbers. Arguments are read as
//! `lua_tonumber` reads them (numeric strings count), and `tohex` carries
//! Redis's fix for a width of `INT32_MIN`.

use mlua::{Lua, Result, Table};

use super::luaaux::{Args, function};

/// LuaBitOp's `tobit`: the number rounded (to nearest, ties to even) and
/// wrapped to 32 bits, by the same add-2^52+2^51 trick.
fn tobit(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

/// LuaBitOp's `barg`: argument `n` as 32 bits; anything `lua_tonumber`
/// cannot read is "number expected".
fn barg(a: &Args, n: usize) -> Result<u32> {
    match a.to_number(n)? {
        Some(d) => Ok(tobit(d)),
        None => Err(a.type_error(n, "number")),
    }
}

/// The result as LuaBitOp returns it: a signed 32-bit number.
fn ret(b: u32) -> f64 {
    b as i32 as f64
}

/// `tohex(b, n)`: `n` hex digits (8 when absent), upper case when negative.
fn tohex(b: u32, n: Option<u32>) -> String {
    let mut n = n.map_or(8, |n| n as i32);
    if n == i32::MIN {
        n = i32::MIN + 1;
    }
    let digits: &[u8; 16] = if n < 0 {
        n = -n;
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.min(8) as usize;
    (0..n)
        .rev()
        .map(|i| digits[((b >> (4 * i)) & 15) as usize] as char)
        .collect()
}

pub fn library(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    let unary = |f: fn(u32) -> u32| function(lua, move |_, a| Ok(ret(f(barg(&a, 1)?))));
    t.set("tobit", unary(|b| b)?)?;
    t.set("bnot", unary(|b| !b)?)?;
    t.set("bswap", unary(u32::swap_bytes)?)?;
    // The first argument, then the others from the last one down (the
    // order their errors come in).
    let fold = |f: fn(u32, u32) -> u32| {
        function(lua, move |_, a| {
            let mut b = barg(&a, 1)?;
            for i in (2..=a.len()).rev() {
                b = f(b, barg(&a, i)?);
            }
            Ok(ret(b))
        })
    };
    t.set("band", fold(|a, b| a & b)?)?;
    t.set("bor", fold(|a, b| a | b)?)?;
    t.set("bxor", fold(|a, b| a ^ b)?)?;
    let shift = |f: fn(u32, u32) -> u32| {
        function(lua, move |_, a| {
            let b = barg(&a, 1)?;
            let n = barg(&a, 2)? & 31;
            Ok(ret(f(b, n)))
        })
    };
    t.set("lshift", shift(|b, n| b << n)?)?;
    t.set("rshift", shift(|b, n| b >> n)?)?;
    t.set("arshift", shift(|b, n| ((b as i32) >> n) as u32)?)?;
    t.set("rol", shift(u32::rotate_left)?)?;
    t.set("ror", shift(u32::rotate_right)?)?;
    t.set(
        "tohex",
        function(lua, |_, a| {
            let b = barg(&a, 1)?;
            let n = if a.len() < 2 {
                None
            } else {
                Some(barg(&a, 2)?)
            };
            Ok(tohex(b, n))
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::{tobit, tohex};

    #[test]
    fn tobit_wraps_and_rounds() {
        assert_eq!(tobit(0xffff_ffffu32 as f64) as i32, -1);
        assert_eq!(tobit(2147483648.0) as i32, i32::MIN);
        assert_eq!(tobit(1.5), 2);
        assert_eq!(tobit(2.5), 2);
        assert_eq!(tobit(-1.0) as i32, -1);
    }

    #[test]
    fn tohex_widths() {
        assert_eq!(tohex(255, None), "000000ff");
        assert_eq!(tohex(255, Some(-4i32 as u32)), "00FF");
        assert_eq!(tohex(0x1234_5678, Some(2)), "78");
        assert_eq!(tohex(1, Some(0)), "");
        assert_eq!(tohex(1, Some(100)), "00000001");
        // Redis's "lua bit.tohex bug" test: INT32_MIN is -INT32_MAX.
        assert_eq!(tohex(65535, Some(i32::MIN as u32)), "0000FFFF");
    }
}
