//! The argument cursor and the typed command errors.
//!
//! Handlers pull arguments through [`Args`] and return [`CmdError`]; the dispatcher
//! renders the error with Redis's exact text. Nothing here allocates on success.

use std::borrow::Cow;

use bytes::Bytes;

pub use crate::num::parse_f64;
use crate::protocol::parse_i64;

/// Every error a command can answer with; `message()` is Redis's text.
#[derive(Debug, Clone, PartialEq)]
pub enum CmdError {
    Syntax,
    NotInteger,
    NotFloat,
    WrongType,
    NoSuchKey,
    Overflow,
    DbIndex,
    /// Wrong number of arguments for this command (or `container|sub`).
    Arity(&'static str),
    NoAuth,
    CrossSlot,
    /// A fixed message, with its code (`ERR ...`).
    Static(&'static str),
    /// A formatted message, with its code.
    Msg(String),
}

impl CmdError {
    pub fn message(&self) -> Cow<'static, str> {
        match self {
            CmdError::Syntax => "ERR syntax error".into(),
            CmdError::NotInteger => "ERR value is not an integer or out of range".into(),
            CmdError::NotFloat => "ERR value is not a valid float".into(),
            CmdError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            CmdError::NoSuchKey => "ERR no such key".into(),
            CmdError::Overflow => "ERR increment or decrement would overflow".into(),
            CmdError::DbIndex => "ERR DB index is out of range".into(),
            CmdError::Arity(name) => super::arity_error(name).into(),
            CmdError::NoAuth => "NOAUTH Authentication required.".into(),
            CmdError::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
            CmdError::Static(s) => (*s).into(),
            CmdError::Msg(s) => s.clone().into(),
        }
    }
}

pub type CmdResult = Result<(), CmdError>;

/// Case-insensitive ASCII comparison of an argument with a keyword.
#[inline]
pub fn eq_ic(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

/// A cursor over a command's arguments (after the command name).
pub struct Args<'a> {
    args: &'a [Bytes],
    pos: usize,
}

impl<'a> Args<'a> {
    pub fn new(args: &'a [Bytes]) -> Self {
        Args { args, pos: 0 }
    }

    pub fn len(&self) -> usize {
        self.args.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn all(&self) -> &'a [Bytes] {
        self.args
    }

    pub fn rest(&self) -> &'a [Bytes] {
        &self.args[self.pos..]
    }

    pub fn peek(&self) -> Option<&'a Bytes> {
        self.args.get(self.pos)
    }

    /// The next argument; a missing one is a syntax error. (Not an `Iterator`:
    /// running out is an error to report, not the end of a loop.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<&'a Bytes, CmdError> {
        let a = self.args.get(self.pos).ok_or(CmdError::Syntax)?;
        self.pos += 1;
        Ok(a)
    }

    pub fn next_i64(&mut self) -> Result<i64, CmdError> {
        parse_i64(self.next()?).ok_or(CmdError::NotInteger)
    }

    pub fn next_f64(&mut self) -> Result<f64, CmdError> {
        parse_f64(self.next()?).ok_or(CmdError::NotFloat)
    }

    /// Consumes the next argument if it equals `kw` (case-insensitive).
    pub fn eat(&mut self, kw: &str) -> bool {
        match self.args.get(self.pos) {
            Some(a) if eq_ic(a, kw) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Errors unless every argument was consumed.
    pub fn finish(&self) -> Result<(), CmdError> {
        if self.pos == self.args.len() {
            Ok(())
        } else {
            Err(CmdError::Syntax)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor() {
        let v: Vec<Bytes> = ["k", "10", "nx", "1.5"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let mut a = Args::new(&v);
        assert_eq!(&a.next().unwrap()[..], b"k");
        assert_eq!(a.next_i64(), Ok(10));
        assert!(!a.eat("XX"));
        assert!(a.eat("NX"));
        assert_eq!(a.next_f64(), Ok(1.5));
        assert!(a.finish().is_ok());
        assert_eq!(a.next(), Err(CmdError::Syntax));
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1x"), None);
        assert_eq!(parse_f64(b""), None);
    }
}
