//! RESP2/RESP3 on the wire: the zero-copy request parser and the reply writer.

pub mod parse;
pub mod reply;

pub use parse::{Parser, ProtocolError, parse_i64};
pub use reply::{Proto, Reply};
