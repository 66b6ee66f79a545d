//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH. Queueing happens in
//! dispatch (`dispatch::route::queue`); EXEC runs the queue under one
//! multi-shard transaction (`dispatch::route::run_exec`), after checking the
//! watched keys (`shard::watch`) under its locks.

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::{CmdError, CmdResult};
use crate::dispatch::table::ks::{RO, keys_from};
use crate::dispatch::table::{CommandSpec, acl, flag};
use crate::dispatch::{Client, run_exec};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("multi", 1, multi)
        .flags(flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY)
        .acl(acl::TRANSACTION)
        .doc("transactions", "1.2.0", "Starts a transaction."),
    CommandSpec::conn("exec", 1, exec)
        .flags(flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::SKIP_SLOWLOG)
        .acl(acl::TRANSACTION)
        .doc(
            "transactions",
            "1.2.0",
            "Executes all commands in a transaction.",
        ),
    CommandSpec::conn("discard", 1, discard)
        .flags(flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY)
        .acl(acl::TRANSACTION)
        .doc("transactions", "2.0.0", "Discards a transaction."),
    CommandSpec::conn("watch", -2, watch)
        .flags(flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY)
        .keys(&[keys_from(1, RO)])
        .acl(acl::TRANSACTION)
        .doc(
            "transactions",
            "2.2.0",
            "Monitors changes to keys to determine the execution of a transaction.",
        ),
    CommandSpec::conn("unwatch", 1, unwatch)
        .flags(flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY)
        .acl(acl::TRANSACTION)
        .doc("transactions", "2.2.0", "Forgets about all watched keys."),
];

fn watch<'a>(c: &'a mut Client, argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        if c.multi.is_some() {
            return Err(CmdError::Static("ERR WATCH inside MULTI is not allowed"));
        }
        c.watch_keys(&argv[1..]).await;
        c.reply().ok();
        Ok(())
    })
}

fn unwatch<'a>(c: &'a mut Client, _argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        c.unwatch();
        c.reply().ok();
        Ok(())
    })
}

fn multi<'a>(c: &'a mut Client, _argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        if c.multi.is_some() {
            return Err(CmdError::Static("ERR MULTI calls can not be nested"));
        }
        c.multi = Some(Vec::new());
        c.multi_dirty = false;
        c.reply().ok();
        Ok(())
    })
}

fn exec<'a>(c: &'a mut Client, _argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let Some(queued) = c.multi.take() else {
            return Err(CmdError::Static("ERR EXEC without MULTI"));
        };
        if std::mem::take(&mut c.multi_dirty) {
            c.unwatch();
            return Err(CmdError::Static(
                "EXECABORT Transaction discarded because of previous errors.",
            ));
        }
        run_exec(c, queued).await;
        c.unwatch();
        Ok(())
    })
}

fn discard<'a>(c: &'a mut Client, _argv: &'a [Bytes]) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        if c.multi.take().is_none() {
            return Err(CmdError::Static("ERR DISCARD without MULTI"));
        }
        c.multi_dirty = false;
        c.unwatch();
        c.reply().ok();
        Ok(())
    })
}
