//! Routing: where each command of a pipeline runs, and the pipeline itself.
//!
//! Each read's pipeline is split by owner shard: commands for this shard run
//! inline, the others go out as one [`Batch`] message per owner shard, and the
//! replies are stitched back together in the client's order. Commands that need
//! the client (connection state, multi-shard coordination) are barriers: the
//! batch before them is flushed first.

use bytes::{Bytes, BytesMut};

use super::client::Client;
use super::table::{self, CommandSpec, Handler, flag};
use super::{arity_error, unknown_command_error};
use crate::protocol::Reply;
use crate::shard::{Batch, BatchOut, Req, ShardCmd, Stats};

/// Where one command of a pipeline runs.
enum Route {
    /// Already answered (an error): these bytes are its reply.
    Done(Bytes),
    Shard(usize, &'static CommandSpec),
    Conn(&'static CommandSpec),
    Cross(&'static CommandSpec),
}

/// Commands of one pipeline read waiting to be sent to their shards.
#[derive(Default)]
struct Pending {
    per_shard: Vec<Vec<(&'static dyn ShardCmd, Vec<Bytes>)>>,
    order: Vec<Option<usize>>,
    ready: Vec<Bytes>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Runs one read's worth of commands, appending every reply to `c.out` in order.
pub async fn execute(c: &mut Client, cmds: &mut Vec<Vec<Bytes>>) {
    let mut pending = Pending::default();
    for argv in cmds.drain(..) {
        if c.quit {
            break;
        }
        Stats::add(&c.shard.stats.commands, 1);
        if c.multi.is_some() && !controls_transaction(&argv[0]) {
            queue(c, argv);
            continue;
        }
        match route(c, &argv) {
            Route::Done(err) => {
                if pending.is_empty() {
                    c.out.extend_from_slice(&err);
                } else {
                    pending.ready.push(err);
                    pending.order.push(None);
                }
            }
            Route::Shard(s, spec) => {
                c.info.last_cmd.set(spec.name);
                if pending.is_empty() && s == c.shard.id {
                    c.shard
                        .run_local(spec, argv, c.db, c.proto, &mut c.out)
                        .await;
                } else {
                    if pending.per_shard.is_empty() {
                        pending.per_shard = (0..c.shard.nshards).map(|_| Vec::new()).collect();
                    }
                    pending.per_shard[s].push((spec, argv));
                    pending.order.push(Some(s));
                }
            }
            Route::Conn(spec) | Route::Cross(spec) => {
                flush(c, &mut pending).await;
                c.info.last_cmd.set(spec.name);
                run_with_client(c, spec, &argv).await;
            }
        }
    }
    flush(c, &mut pending).await;
}

/// Commands that act at once even between MULTI and EXEC.
fn controls_transaction(name: &[u8]) -> bool {
    ["exec", "discard", "multi", "quit", "reset"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// Queues a command for EXEC after the checks Redis makes when queueing (unknown
/// command, arity, auth, not allowed in MULTI); a refused command dooms the EXEC.
fn queue(c: &mut Client, argv: Vec<Bytes>) {
    let spec = match route(c, &argv) {
        Route::Done(err) => {
            c.multi_dirty = true;
            c.out.extend_from_slice(&err);
            return;
        }
        Route::Shard(_, spec) | Route::Conn(spec) | Route::Cross(spec) => spec,
    };
    if spec.has(flag::NO_MULTI) {
        c.multi_dirty = true;
        c.reply()
            .error("ERR Command not allowed inside a transaction");
        return;
    }
    if let Some(q) = c.multi.as_mut() {
        q.push(argv);
    }
    c.reply().simple("QUEUED");
}

/// Runs EXEC's queued commands as one transaction: every shard is locked for its
/// whole duration, so no other client observes any state between two of them
/// (Redis's guarantee; locking only the declared keys is a later refinement).
/// Each command then runs as it would alone, its cross-shard steps reusing the
/// held locks (`Tx::begin`).
pub async fn run_exec(c: &mut Client, queued: Vec<Vec<Bytes>>) {
    let parts = (0..c.shard.nshards)
        .map(|s| (s, crate::shard::locks::LockSet::Global))
        .collect();
    let tx = crate::shard::tx::Tx::lock(&c.shard, parts).await;
    c.exec_tx = Some(tx.id);
    c.reply().array(queued.len());
    for argv in queued {
        Stats::add(&c.shard.stats.commands, 1);
        match route(c, &argv) {
            Route::Done(err) => c.out.extend_from_slice(&err),
            Route::Shard(s, spec) => {
                let (db, proto) = (c.db, c.proto);
                let out = tx
                    .run(s, move |sh| {
                        let mut b = BytesMut::new();
                        spec.run(sh, db, proto, &argv, &mut b);
                        b.freeze()
                    })
                    .await;
                match out {
                    Some(b) => c.out.extend_from_slice(&b),
                    None => c.reply().error("ERR shard unavailable"),
                }
            }
            Route::Conn(spec) | Route::Cross(spec) => run_with_client(c, spec, &argv).await,
        }
    }
    c.exec_tx = None;
    tx.release().await;
}

/// Runs a command that needs the client: its connection handler, or the
/// coordinator of a command whose keys span shards.
async fn run_with_client(c: &mut Client, spec: &'static CommandSpec, argv: &[Bytes]) {
    let f = match (spec.handler, spec.cross) {
        (Handler::Conn(f), _) | (_, Some(f)) => f,
        // `route` only answers Cross for commands that have a coordinator.
        _ => {
            c.reply().error("ERR internal routing error");
            return;
        }
    };
    if let Err(e) = f(c, argv).await {
        c.error(&e);
    }
}

/// Sends each shard its part of the pipeline at once, then writes the replies in
/// the client's order.
async fn flush(c: &mut Client, p: &mut Pending) {
    if p.is_empty() {
        return;
    }
    let shard = c.shard.clone();
    let (db, proto) = (c.db, c.proto);
    let parts: Vec<(usize, Vec<_>)> = std::mem::take(&mut p.per_shard)
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let shard_ids: Vec<usize> = parts.iter().map(|(s, _)| *s).collect();
    let results: Vec<Option<BatchOut>> = futures::future::join_all(
        parts
            .into_iter()
            .map(|(s, cmds)| shard.call_as::<BatchOut>(s, Req::Batch(Batch { db, proto, cmds }))),
    )
    .await;
    let mut cursor: Vec<(usize, usize)> = vec![(0, 0); c.shard.nshards]; // (next index, byte offset)
    let mut ready = std::mem::take(&mut p.ready).into_iter();
    for slot in std::mem::take(&mut p.order) {
        match slot {
            None => {
                if let Some(b) = ready.next() {
                    c.out.extend_from_slice(&b);
                }
            }
            Some(s) => {
                let r = shard_ids
                    .iter()
                    .position(|&x| x == s)
                    .and_then(|i| results[i].as_ref());
                let (idx, off) = cursor[s];
                match r.and_then(|r| r.ends.get(idx).map(|&e| (r, e as usize))) {
                    Some((r, end)) => {
                        c.out.extend_from_slice(&r.buf[off..end]);
                        cursor[s] = (idx + 1, end);
                    }
                    None => c.reply().error("ERR shard unavailable"),
                }
            }
        }
    }
}

/// Decides where a command runs, answering errors (unknown command, arity, auth,
/// cross-slot) on the spot.
fn route(c: &Client, argv: &[Bytes]) -> Route {
    let err = |msg: &str| {
        let mut b = BytesMut::new();
        Reply::new(&mut b, c.proto).error(msg);
        Route::Done(b.freeze())
    };
    let Some(mut spec) = table::lookup(&argv[0]) else {
        return err(&unknown_command_error(argv));
    };
    if !spec.arity_ok(argv.len()) {
        return err(&arity_error(spec.name));
    }
    if !spec.subcommands.is_empty() && argv.len() > 1 {
        match table::lookup_sub(spec, &argv[1]) {
            Some(sub) => {
                if !sub.arity_ok(argv.len()) {
                    return err(&arity_error(sub.name));
                }
                spec = sub;
            }
            None => {
                return err(&format!(
                    "ERR unknown subcommand '{}'. Try {} HELP.",
                    String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)]),
                    spec.name.to_ascii_uppercase()
                ));
            }
        }
    }
    if !c.authed && !spec.has(flag::NO_AUTH) {
        return err("NOAUTH Authentication required.");
    }
    match spec.handler {
        Handler::Conn(_) => Route::Conn(spec),
        Handler::Shard(_) => {
            let n = c.shard.nshards;
            if n == 1 || spec.keys.is_none() {
                return Route::Shard(c.shard.id, spec);
            }
            let mut owner: Option<usize> = None;
            let mut split = false;
            spec.for_each_key(argv, |i| {
                let s = c.shard.owner(&argv[i]);
                match owner {
                    None => owner = Some(s),
                    Some(o) if o != s => split = true,
                    _ => {}
                }
            });
            if !split {
                return Route::Shard(owner.unwrap_or(c.shard.id), spec);
            }
            if spec.cross.is_some() {
                Route::Cross(spec)
            } else {
                err("CROSSSLOT Keys in request don't hash to the same slot")
            }
        }
    }
}
