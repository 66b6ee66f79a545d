//! A client's connection state as commands see it: database, protocol, auth,
//! the MULTI queue and the reply buffer. The socket itself stays in `server`.

use std::rc::Rc;

use bytes::BytesMut;

use super::args::CmdError;
use crate::protocol::{Proto, Reply};
use crate::shard::locks::LockSet;
use crate::shard::tx::Tx;
use crate::shard::{ClientInfo, Shard};

/// Connection state that commands may read or change.
pub struct Client {
    pub shard: Rc<Shard>,
    pub info: Rc<ClientInfo>,
    pub db: u8,
    pub proto: Proto,
    pub authed: bool,
    pub out: BytesMut,
    /// Close after the pending replies are written (QUIT, a protocol error).
    pub quit: bool,
    /// Commands queued since MULTI (None outside a transaction).
    pub multi: Option<Vec<super::route::Queued>>,
    /// A command was refused while queueing: EXEC must abort.
    pub multi_dirty: bool,
    /// The transaction id EXEC holds while it runs the queued commands.
    pub exec_tx: Option<u64>,
}

impl Client {
    /// A new connection's state: db 0, RESP2, authenticated unless a password is set.
    pub fn new(shard: Rc<Shard>, info: Rc<ClientInfo>) -> Client {
        let authed = shard.globals.config().requirepass().is_none();
        Client {
            shard,
            info,
            db: 0,
            proto: Proto::Resp2,
            authed,
            out: BytesMut::with_capacity(16 * 1024),
            quit: false,
            multi: None,
            multi_dirty: false,
            exec_tx: None,
        }
    }

    pub fn reply(&mut self) -> Reply<'_> {
        Reply::new(&mut self.out, self.proto)
    }

    pub fn error(&mut self, e: &CmdError) {
        let msg = e.message();
        self.reply().error(&msg);
    }

    /// The shard that owns `key`.
    #[inline]
    pub fn owner(&self, key: &[u8]) -> usize {
        self.shard.owner(key)
    }

    /// Locks `parts` for a command of this client, or reuses the locks of the
    /// EXEC this command runs in.
    pub async fn tx(&self, parts: Vec<(usize, LockSet)>) -> Tx {
        Tx::begin(&self.shard, self.exec_tx, parts).await
    }
}
