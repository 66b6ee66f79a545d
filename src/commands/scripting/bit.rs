//! The `bit` library Redis embeds (LuaBitOp): 32-bit operations on Lua
//! numbers, results as signed 32-bit numbers.

use mlua::{Lua, Result, Table, Variadic};

/// LuaBitOp's `tobit`: the number rounded (to nearest, ties to even) and
/// wrapped to 32 bits, by the same add-2^52+2^51 trick.
fn tobit(n: f64) -> i32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

pub fn library(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    t.set("tobit", lua.create_function(|_, n: f64| Ok(tobit(n)))?)?;
    t.set("bnot", lua.create_function(|_, n: f64| Ok(!tobit(n)))?)?;
    let fold = |lua: &Lua, f: fn(i32, i32) -> i32| {
        lua.create_function(move |_, (a, rest): (f64, Variadic<f64>)| {
            Ok(rest.iter().fold(tobit(a), |acc, &b| f(acc, tobit(b))))
        })
    };
    t.set("band", fold(lua, |a, b| a & b)?)?;
    t.set("bor", fold(lua, |a, b| a | b)?)?;
    t.set("bxor", fold(lua, |a, b| a ^ b)?)?;
    let shift = |lua: &Lua, f: fn(i32, u32) -> i32| {
        lua.create_function(move |_, (a, n): (f64, f64)| Ok(f(tobit(a), tobit(n) as u32 & 31)))
    };
    t.set("lshift", shift(lua, |a, n| ((a as u32) << n) as i32)?)?;
    t.set("rshift", shift(lua, |a, n| ((a as u32) >> n) as i32)?)?;
    t.set("arshift", shift(lua, |a, n| a >> n)?)?;
    t.set("rol", shift(lua, |a, n| (a as u32).rotate_left(n) as i32)?)?;
    t.set("ror", shift(lua, |a, n| (a as u32).rotate_right(n) as i32)?)?;
    t.set(
        "bswap",
        lua.create_function(|_, a: f64| Ok((tobit(a) as u32).swap_bytes() as i32))?,
    )?;
    t.set(
        "tohex",
        lua.create_function(|_, (a, n): (f64, Option<f64>)| {
            let mut n = n.map(tobit).unwrap_or(8);
            let upper = n < 0;
            if upper {
                n = n.wrapping_neg();
            }
            let n = n.clamp(0, 8) as usize;
            let s = if upper {
                format!("{:08X}", tobit(a) as u32)
            } else {
                format!("{:08x}", tobit(a) as u32)
            };
            Ok(s[8 - n..].to_string())
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::tobit;

    #[test]
    fn tobit_wraps_and_rounds() {
        assert_eq!(tobit(0xffff_ffffu32 as f64), -1);
        assert_eq!(tobit(2147483648.0), i32::MIN);
        assert_eq!(tobit(1.5), 2);
        assert_eq!(tobit(2.5), 2);
        assert_eq!(tobit(-1.0), -1);
    }
}
