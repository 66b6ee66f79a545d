//! The listening sockets: one SO_REUSEPORT listener per shard on `bind`'s first
//! address, and moving them all at runtime (CONFIG SET port|bind).

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

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
/// probe unless `probe` is false (the port is ours already).
pub fn bind_listeners(
    addr: &str,
    port: u16,
    n: usize,
    backlog: i32,
    probe_first: bool,
) -> Result<(u16, Vec<OwnedFd>), String> {
    let ip = parse_ip(addr)?;
    let port = if probe_first || port == 0 {
        probe(ip, addr, port)?
    } else {
        port
    };
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
        fds.push(OwnedFd::from(sock));
    }
    Ok((port, fds))
}

/// This shard thread's acceptor, and its shard.
#[derive(Default)]
struct Local {
    shard: Option<Rc<Shard>>,
    acceptor: Option<glommio::task::JoinHandle<()>>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

/// Starts accepting on a listener `bind_listeners` made for this shard (the
/// one accepting before, if any, stops and closes).
pub fn adopt(shard: &Rc<Shard>, fd: OwnedFd) {
    let fd = fd.into_raw_fd();
    // SAFETY: `fd` is a listening socket created by `bind_listeners` and handed to
    // exactly this shard; nothing else owns or closes it.
    let listener = unsafe { <TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let task = glommio::spawn_local(conn::accept_loop(shard.clone(), listener)).detach();
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if let Some(old) = l.acceptor.replace(task) {
            old.cancel();
        }
        l.shard = Some(shard.clone());
    });
}

/// Stops accepting (shutdown).
pub fn stop() {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if let Some(t) = l.acceptor.take() {
            t.cancel();
        }
        l.shard = None;
    });
}

/// [`crate::shard::globals::Relisten`]: binds every shard's new listener
/// first (so a failure leaves the server listening where it was), then each
/// shard switches to its own and closes the old one.
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
        let backlog = shard.globals.config().get_i64("tcp-backlog") as i32;
        // The current port is ours already: only a new one needs the probe.
        let (port, fds) = bind_listeners(&addr, port, shard.nshards, backlog, port != now.1)?;
        let fds: Arc<Mutex<Vec<Option<OwnedFd>>>> =
            Arc::new(Mutex::new(fds.into_iter().map(Some).collect()));
        on_all_shards(&shard, move |sh| {
            let fd = fds
                .lock()
                .ok()
                .and_then(|mut f| f.get_mut(sh.id).and_then(Option::take));
            let me = LOCAL.with(|l| l.borrow().shard.clone());
            if let (Some(fd), Some(me)) = (fd, me) {
                adopt(&me, fd);
            }
        })
        .await;
        if let Ok(mut l) = shard.globals.listening.lock() {
            *l = (addr.clone(), port);
        }
        log::info!("Listening on {addr}:{port} now");
        Ok(port)
    })
}
