//! One client's socket: accept, read, hand each read's pipeline to dispatch,
//! write the replies. Every socket system call of the server is in this file.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::future::Either;
use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use log::{debug, warn};

use crate::dispatch::{self, Client};
use crate::protocol::Parser;
use crate::shard::{ClientInfo, Peer, Shard, Stats};

/// The socket of a connection, as the shard may touch it.
struct SocketPeer(RawFd);

impl Peer for SocketPeer {
    fn gone(&self) -> bool {
        let mut b = [0u8; 1];
        // SAFETY: the fd is this connection's socket, open for as long as its
        // `ClientInfo` is registered (the connection unregisters it before
        // closing); `b` is a valid 1-byte buffer. MSG_PEEK leaves any pipelined
        // bytes for the connection to read.
        let n = unsafe {
            libc::recv(
                self.0,
                b.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n == 0 {
            return true;
        }
        n < 0 && {
            let e = std::io::Error::last_os_error().kind();
            e != std::io::ErrorKind::WouldBlock && e != std::io::ErrorKind::Interrupted
        }
    }

    fn hang_up(&self) {
        // SAFETY: as in `gone`, the fd is open while registered; shutdown(2)
        // does not free it (the connection's task closes it).
        unsafe {
            libc::shutdown(self.0, libc::SHUT_RDWR);
        }
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
    let keepalive = g.config().get_u64("tcp-keepalive");
    if keepalive > 0
        && let Err(e) = set_keepalive(stream.as_raw_fd(), keepalive)
    {
        debug!("tcp-keepalive: {e}");
    }
    let id = g.next_client_id.fetch_add(1, Ordering::Relaxed);
    g.connected.fetch_add(1, Ordering::Relaxed);
    g.total_connections.fetch_add(1, Ordering::Relaxed);
    Stats::add(&shard.stats.connections, 1);
    let fd = stream.as_raw_fd();
    let addr = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let info = Rc::new(ClientInfo::new(
        id,
        fd,
        Box::new(SocketPeer(fd)),
        addr,
        laddr,
    ));
    shard.clients.borrow_mut().insert(id, info.clone());
    let mut client = Client::new(shard.clone(), info);
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

/// Runs `f` on the socket of the connection being served (glommio's stream
/// lends only its raw fd).
fn with_socket<R>(fd: RawFd, f: impl FnOnce(socket2::SockRef<'_>) -> R) -> R {
    // SAFETY: `fd` is the open socket of the connection being served; it stays open
    // for this whole call (the stream owning it is borrowed by our caller).
    let sock = unsafe { BorrowedFd::borrow_raw(fd) };
    f(socket2::SockRef::from(&sock))
}

/// `tcp-keepalive` as Redis's `anetKeepAlive` sets it: probes after `secs` idle
/// seconds, then every third of that, three of them.
fn set_keepalive(fd: RawFd, secs: u64) -> std::io::Result<()> {
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(secs))
        .with_interval(Duration::from_secs((secs / 3).max(1)))
        .with_retries(3);
    with_socket(fd, |s| s.set_tcp_keepalive(&ka))
}

/// Reads what the socket already holds, without waiting (WouldBlock if nothing).
/// Bypasses glommio's read, which waits for an io_uring poll completion first.
fn try_recv(fd: RawFd, buf: &mut BytesMut, max: usize) -> std::io::Result<usize> {
    buf.reserve(max);
    let spare = &mut buf.spare_capacity_mut()[..max];
    let n = with_socket(fd, |s| s.recv_with_flags(spare, libc::MSG_DONTWAIT))?;
    // SAFETY: recv(2) initialised the first `n` bytes of the spare capacity, and
    // `n <= max <= spare capacity`.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Writes the pushes that arrived while the client was idle.
async fn write_pushes(c: &mut Client, stream: &mut TcpStream) -> std::io::Result<()> {
    c.info.outbox.drain_into(&mut c.out);
    if !c.out.is_empty() {
        Stats::add(&c.shard.stats.net_out, c.out.len() as u64);
        stream.write_all(&c.out).await?;
        c.out.clear();
    }
    Ok(())
}

async fn client_loop(c: &mut Client, stream: &mut TcpStream) -> std::io::Result<()> {
    let fd = stream.as_raw_fd();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = Parser::default();
    let mut cmds: Vec<Vec<Bytes>> = Vec::new();
    // How much to read at once: grows while reads fill it (big values, deep
    // pipelines), shrinks back for small request/response traffic.
    let mut chunk = MIN_READ * 4;
    // A protocol error or an over-long query found by the parse, reported once
    // the commands parsed before it have run.
    let mut stop: Option<String> = None;
    loop {
        // Commands left by a read whose replies passed the high-water mark run
        // before anything more is read.
        if cmds.is_empty() {
            if let Some(e) = stop.take() {
                if !e.is_empty() {
                    c.reply().error(&e);
                }
                c.info.outbox.drain_into(&mut c.out);
                stream.write_all(&c.out).await?;
                return Ok(());
            }
            if !read_more(c, stream, fd, &mut buf, &mut chunk).await? {
                return Ok(());
            }
            // As Redis counts it while the read's commands run: all of it.
            c.info.qbuf.set((buf.len(), buf.capacity() - buf.len()));
            match parser.parse(&mut buf, &mut cmds) {
                Err(e) => stop = Some(format!("ERR Protocol error: {}", e.0)),
                Ok(()) if buf.len() > crate::protocol::query_buffer_limit() => {
                    warn!("closing client {}: query buffer over the limit", c.info.id);
                    stop = Some(String::new());
                }
                Ok(()) => {}
            }
        }
        dispatch::execute(c, &mut cmds).await;
        if c.quit {
            // Gone for everyone once QUIT is answered (a redirect target
            // that quit is "broken" at once, as in Redis).
            c.leave();
        }
        c.info.qbuf.set((buf.len(), buf.capacity() - buf.len()));
        c.info.outbox.drain_into(&mut c.out);
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
        crate::shard::yield_now().await;
    }
}

/// Reads what the client sent next into `buf`, writing any pushes that arrive
/// while it waits. False when the client has gone (or was killed).
async fn read_more(
    c: &mut Client,
    stream: &mut TcpStream,
    fd: RawFd,
    buf: &mut BytesMut,
    chunk: &mut usize,
) -> std::io::Result<bool> {
    loop {
        let n = match try_recv(fd, buf, *chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Nothing there yet: wait for readiness through the reactor, or
                // for pushes (pub/sub messages) to write meanwhile. Zero the room
                // we read into (safe code cannot hand out uninitialised memory);
                // the adaptive size keeps that memset small.
                let filled = buf.len();
                buf.resize(filled + *chunk, 0);
                let read = {
                    let read = stream.read(&mut buf[filled..]);
                    let pushed = c.info.outbox.ready();
                    // A read still pending when the outbox wins has consumed
                    // nothing: glommio reads with plain recv(2) on readiness.
                    match futures::future::select(pin!(read), pin!(pushed)).await {
                        Either::Left((r, _)) => Some(r?),
                        Either::Right(((), _)) => None,
                    }
                };
                let Some(n) = read else {
                    buf.truncate(filled);
                    write_pushes(c, stream).await?;
                    if c.info.killed.get() {
                        return Ok(false);
                    }
                    continue;
                };
                buf.truncate(filled + n);
                n
            }
            Err(e) => return Err(e),
        };
        *chunk = if n == *chunk {
            (*chunk * 2).min(MAX_READ)
        } else if n < *chunk / 4 {
            (*chunk / 2).max(MIN_READ)
        } else {
            *chunk
        };
        if n == 0 || c.info.killed.get() {
            return Ok(false);
        }
        Stats::add(&c.shard.stats.net_in, n as u64);
        c.info.last.set(Instant::now());
        return Ok(true);
    }
}
