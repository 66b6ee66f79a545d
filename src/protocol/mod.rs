//! RESP2/RESP3 on the wire: the zero-copy request parser and the reply writer.

pub mod parse;
pub mod reply;

pub use parse::{Parser, ProtocolError, max_bulk_len, parse_i64, query_buffer_limit, set_limits};
pub use reply::{Proto, Reply};
