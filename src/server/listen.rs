//! The listening sockets: one SO_REUSEPORT listener per shard on `bind`'s first
//! address, and moving them all at runtime (CONFIG SET port|bind).

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{IntoRawFd, RawFd};
use std::rc::Rc;

use futures::future::LocalBoxFuture;
use glommio::net::TcpListener;

use super::conn;
use crate::dispatch::coord::on_all_shards;
use crate::shard::Shard;

/// The address corekv listens on: `bind`'s first word (Redis's optional `-`
/// prefix dropped), loopback when there is none.
pub fn first_address(bind: &str) -> String {
    bind.split_whitespace()
        .next()
        .map(|a| a.trim_start_matches('-').to_string())
        .unwrap_or_else(|| "127.0.0.1".to_string())
}

/// An address as `bind` writes it: an IP, or `*` / `::*` for every IPv4 / IPv6
/// address.
fn parse_ip(addr: &str) -> Result<IpAddr, String> {
    match addr {
        "*" => Ok(IpAddr::from([0, 0, 0, 0])),
        "::*" => Ok(IpAddr::from([0u16; 8])),
        a => a
            .parse()
            .map_err(|_| format!("Invalid bind address '{addr}'")),
    }
}

/// A plain bind (no SO_REUSEPORT): fails like Redis when another process
/// listens there, where SO_REUSEPORT could silently share the port with it.
/// Answers the port (port 0: the one the kernel picked).
fn probe(ip: IpAddr, addr: &str, port: u16) -> Result<u16, String> {
    let sock = std::net::TcpListener::bind(SocketAddr::new(ip, port)).map_err(|e| {
        format!("Could not create server TCP listening socket {addr}:{port}: bind: {e}")
    })?;
    sock.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("could not read the bound port: {e}"))
}

/// Binds `n` SO_REUSEPORT listeners on one address with `backlog`, after a
/// probe.
pub fn bind_listeners(
    addr: &str,
    port: u16,
    n: usize,
    backlog: i32,
) -> Result<(u16, Vec<RawFd>), String> {
    let ip = parse_ip(addr)?;
    let port = probe(ip, addr, port)?;
    let mut fds = Vec::with_capacity(n);
    for _ in 0..n {
        let domain = if ip.is_ipv6() {
            socket2::Domain::IPV6
        } else {
            socket2::Domain::IPV4
        };
        let sock =
            socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))
                .map_err(|e| format!("socket: {e}"))?;
        let bind_to = SocketAddr::new(ip, port);
        sock.set_reuse_address(true)
            .and_then(|_| sock.set_reuse_port(true))
            .and_then(|_| sock.bind(&bind_to.into()))
            .and_then(|_| sock.listen(backlog))
            .map_err(|e| {
                format!("Could not create server TCP listening socket {addr}:{port}: bind: {e}")
            })?;
        fds.push(std::net::TcpListener::from(sock).into_raw_fd());
    }
    Ok((port, fds))
}

/// This shard thread's listening state.
#[derive(Default)]
struct Local {
    shard: Option<Rc<Shard>>,
    acceptor: Option<glommio::task::JoinHandle<()>>,
    /// A listener bound by a move in progress, not accepting yet.
    staged: Option<TcpListener>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

fn accept_on(shard: Rc<Shard>, listener: TcpListener) {
    let task = glommio::spawn_local(conn::accept_loop(shard.clone(), listener)).detach();
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if let Some(old) = l.acceptor.replace(task) {
            old.cancel();
        }
        l.shard = Some(shard);
    });
}

/// Starts accepting on the listener `bind_listeners` made for this shard.
pub fn adopt(shard: &Rc<Shard>, fd: RawFd) {
    // SAFETY: `fd` is a listening socket created by `bind_listeners` and handed to
    // exactly this shard; nothing else owns or closes it.
    let listener = unsafe { <TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    accept_on(shard.clone(), listener);
}

/// Stops accepting (shutdown).
pub fn stop() {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if let Some(t) = l.acceptor.take() {
            t.cancel();
        }
        l.staged = None;
        l.shard = None;
    });
}

/// Step one of a move, on each shard: bind the new listener beside the old.
fn stage(to: SocketAddr) -> Result<(), String> {
    let listener = TcpListener::bind(to).map_err(|e| {
        format!(
            "Could not create server TCP listening socket {}:{}: bind: {e}",
            to.ip(),
            to.port()
        )
    })?;
    LOCAL.with(|l| l.borrow_mut().staged = Some(listener));
    Ok(())
}

/// Step two: accept on the staged listener and close the old one, or (`keep`
/// false) drop the staged one.
fn finish(commit: bool) {
    let (shard, staged) = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        (l.shard.clone(), l.staged.take())
    });
    if let (true, Some(shard), Some(listener)) = (commit, shard, staged) {
        accept_on(shard, listener);
    }
}

/// [`crate::shard::globals::Relisten`]: every shard binds the new address
/// first; only when all have does each switch to it (the old sockets close),
/// so a failure leaves the server listening where it was.
pub fn relisten(
    shard: Rc<Shard>,
    bind: String,
    port: u16,
) -> LocalBoxFuture<'static, Result<u16, String>> {
    Box::pin(async move {
        let addr = first_address(&bind);
        let now = shard
            .globals
            .listening
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        if now == (addr.clone(), port) && port != 0 {
            return Ok(port);
        }
        let ip = parse_ip(&addr)?;
        // The current port is ours already: only a new one needs the probe.
        let port = if port == 0 || port != now.1 {
            probe(ip, &addr, port)?
        } else {
            port
        };
        let to = SocketAddr::new(ip, port);
        let staged = on_all_shards(&shard, move |_| stage(to)).await;
        let failed = staged.into_iter().find_map(Result::err);
        let ok = failed.is_none() && shard.nshards > 0;
        on_all_shards(&shard, move |_| finish(ok)).await;
        if let Some(e) = failed {
            return Err(e);
        }
        if let Ok(mut l) = shard.globals.listening.lock() {
            *l = (addr, port);
        }
        log::info!("Listening on {to} now");
        Ok(port)
    })
}
