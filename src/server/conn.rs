//! One client connection: read, parse a pipeline, route each command, write replies.
//!
//! A connection lives on the shard that accepted it. Each read's pipeline is split
//! by owner shard: commands for this shard run inline, the others go out as one
//! [`Batch`] message per owner shard, and the replies are stitched back together in
//! the client's order. Commands that need the client (connection state, multi-shard
//! coordination) are barriers: the batch before them is flushed first.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use log::{debug, warn};

use crate::commands::table::{self, CommandSpec, Handler, flag};
use crate::commands::{CmdError, arity_error, unknown_command_error};
use crate::protocol::{Parser, Proto, Reply};
use crate::shard::{Batch, BatchOut, ClientInfo, Req, Shard, Stats};

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
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A command was refused while queueing: EXEC must abort.
    pub multi_dirty: bool,
    /// The transaction id EXEC holds while it runs the queued commands.
    pub exec_tx: Option<u64>,
}

impl Client {
    pub fn reply(&mut self) -> Reply<'_> {
        Reply::new(&mut self.out, self.proto)
    }

    pub fn error(&mut self, e: &CmdError) {
        let msg = e.message();
        self.reply().error(&msg);
    }
}

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
    per_shard: Vec<Vec<(&'static CommandSpec, Vec<Bytes>)>>,
    order: Vec<Option<usize>>,
    ready: Vec<Bytes>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let g = &shard.globals;
                let max = g.config().get_u64("maxclients");
                if g.connected.load(Ordering::Relaxed) >= max {
                    Stats::add(&shard.stats.rejected, 1);
                    let mut s = stream;
                    let _ = s.write_all(b"-ERR max number of clients reached\r\n").await;
                    continue;
                }
                glommio::spawn_local(serve(shard.clone(), stream)).detach();
            }
            Err(e) => {
                warn!("accept: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve(shard: Rc<Shard>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let g = shard.globals.clone();
    let id = g.next_client_id.fetch_add(1, Ordering::Relaxed);
    g.connected.fetch_add(1, Ordering::Relaxed);
    g.total_connections.fetch_add(1, Ordering::Relaxed);
    Stats::add(&shard.stats.connections, 1);
    let now = Instant::now();
    let info = Rc::new(ClientInfo {
        id,
        fd: stream.as_raw_fd(),
        addr: stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        laddr: stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        created: now,
        last: Cell::new(now),
        name: RefCell::new(None),
        lib_name: RefCell::new(None),
        lib_ver: RefCell::new(None),
        db: Cell::new(0),
        resp: Cell::new(2),
        last_cmd: Cell::new("NULL"),
        no_evict: Cell::new(false),
        no_touch: Cell::new(false),
        killed: Cell::new(false),
    });
    shard.clients.borrow_mut().insert(id, info.clone());
    let authed = g.config().requirepass().is_none();
    let mut client = Client {
        shard: shard.clone(),
        info,
        db: 0,
        proto: Proto::Resp2,
        authed,
        out: BytesMut::with_capacity(16 * 1024),
        quit: false,
        multi: None,
        multi_dirty: false,
        exec_tx: None,
    };
    if let Err(e) = client_loop(&mut client, &mut stream).await {
        debug!("client {id}: {e}");
    }
    shard.clients.borrow_mut().remove(&id);
    g.connected.fetch_sub(1, Ordering::Relaxed);
    let _ = stream.close().await;
}

const READ_CHUNK: usize = 16 * 1024;
const MIN_READ: usize = 1024;
const MAX_READ: usize = 256 * 1024;

/// Reads what the socket already holds, without waiting (WouldBlock if nothing).
/// Bypasses glommio's read, which waits for an io_uring poll completion first.
fn try_recv(fd: RawFd, buf: &mut BytesMut, max: usize) -> std::io::Result<usize> {
    buf.reserve(max);
    let spare = &mut buf.spare_capacity_mut()[..max];
    // SAFETY: `fd` is the open socket of the connection being served; it stays open
    // for this whole call (the stream owning it is borrowed by our caller).
    let sock = unsafe { BorrowedFd::borrow_raw(fd) };
    let n = socket2::SockRef::from(&sock).recv_with_flags(spare, libc::MSG_DONTWAIT)?;
    // SAFETY: recv(2) initialised the first `n` bytes of the spare capacity, and
    // `n <= max <= spare capacity`.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Gives the other tasks of this shard a turn.
async fn yield_now() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

async fn client_loop(c: &mut Client, stream: &mut TcpStream) -> std::io::Result<()> {
    let fd = stream.as_raw_fd();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = Parser::default();
    let mut cmds: Vec<Vec<Bytes>> = Vec::new();
    let limit = c
        .shard
        .globals
        .config()
        .get_u64("client-query-buffer-limit") as usize;
    // How much to read at once: grows while reads fill it (big values, deep
    // pipelines), shrinks back for small request/response traffic.
    let mut chunk = MIN_READ * 4;
    loop {
        let n = match try_recv(fd, &mut buf, chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Nothing there yet: wait for readiness through the reactor. Zero
                // the room we read into (safe code cannot hand out uninitialised
                // memory); the adaptive size keeps that memset small.
                let filled = buf.len();
                buf.resize(filled + chunk, 0);
                let n = stream.read(&mut buf[filled..]).await?;
                buf.truncate(filled + n);
                n
            }
            Err(e) => return Err(e),
        };
        chunk = if n == chunk {
            (chunk * 2).min(MAX_READ)
        } else if n < chunk / 4 {
            (chunk / 2).max(MIN_READ)
        } else {
            chunk
        };
        if n == 0 || c.info.killed.get() {
            return Ok(());
        }
        Stats::add(&c.shard.stats.net_in, n as u64);
        c.info.last.set(Instant::now());
        let parsed = parser.parse(&mut buf, &mut cmds);
        execute(c, &mut cmds).await;
        if let Err(e) = parsed {
            c.reply().error(&format!("ERR Protocol error: {}", e.0));
            c.quit = true;
        } else if buf.len() > limit {
            warn!("closing client {}: query buffer over the limit", c.info.id);
            c.quit = true;
        }
        if !c.out.is_empty() {
            Stats::add(&c.shard.stats.net_out, c.out.len() as u64);
            stream.write_all(&c.out).await?;
            c.out.clear();
            if c.out.capacity() > 1024 * 1024 {
                c.out = BytesMut::with_capacity(16 * 1024);
            }
        }
        if c.quit || c.info.killed.get() {
            return Ok(());
        }
        if buf.is_empty() && buf.capacity() > 1024 * 1024 {
            buf = BytesMut::with_capacity(READ_CHUNK);
        }
        // Let the shard's other connections run before reading again: by then
        // this client's next request has usually arrived and `try_recv` gets it
        // without a readiness round trip through io_uring.
        yield_now().await;
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
                        crate::commands::run_shard_command(sh, spec, db, proto, &argv, &mut b);
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
