//! Connections this server opens to other servers (MIGRATE's targets), on
//! the shard that needs them: connect, write and read lines with a time
//! limit, and a per-shard cache of idle connections that closes them after
//! 10 seconds unused, as Redis's migrate socket cache does.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

/// Cached connections in all shards (INFO `migrate_cached_sockets`).
static CACHED: AtomicUsize = AtomicUsize::new(0);
/// Redis's `MIGRATE_SOCKET_CACHE_ITEMS` (per shard here).
const CACHE_ITEMS: usize = 64;
/// Redis's `MIGRATE_SOCKET_CACHE_TTL`.
const CACHE_TTL: Duration = Duration::from_secs(10);
/// The longest reply line read (Redis reads into a 1 KB buffer).
const MAX_LINE: usize = 64 * 1024;

/// A connection to another server.
pub struct Peer {
    stream: TcpStream,
    /// Bytes read past the last line.
    buf: Vec<u8>,
    /// The database last SELECTed on it (-1: unknown).
    pub db: i64,
    last_use: Instant,
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Peer>> = RefCell::new(HashMap::new());
}

/// INFO's `migrate_cached_sockets`.
pub fn cached() -> usize {
    CACHED.load(Relaxed)
}

impl Peer {
    /// A cached connection to `host:port`, else a new one (connected within
    /// `timeout`). The bool: it came from the cache.
    pub async fn get(host: &str, port: &str, timeout: Duration) -> std::io::Result<(Peer, bool)> {
        let name = format!("{host}:{port}");
        if let Some(p) = CACHE.with(|c| c.borrow_mut().remove(&name)) {
            CACHED.fetch_sub(1, Relaxed);
            return Ok((p, true));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad port"))?;
        let stream = TcpStream::connect_timeout((host, port), timeout).await?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let _ = stream.set_nodelay(true);
        Ok((
            Peer {
                stream,
                buf: Vec::new(),
                db: -1,
                last_use: Instant::now(),
            },
            false,
        ))
    }

    /// Puts the connection back in this shard's cache (unless it is full).
    pub fn keep(mut self, host: &str, port: &str) {
        self.last_use = Instant::now();
        let name = format!("{host}:{port}");
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() < CACHE_ITEMS && !c.contains_key(&name) {
                c.insert(name, self);
                CACHED.fetch_add(1, Relaxed);
            }
        });
    }

    pub async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(data).await?;
        self.stream.flush().await
    }

    /// One reply line, without its CRLF.
    pub async fn read_line(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf) {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(std::io::Error::other("reply line too long"));
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Closes this shard's cached connections idle for longer than the TTL
/// (from the shard's cron).
pub fn close_idle() {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_empty() {
            return;
        }
        let before = c.len();
        c.retain(|_, p| p.last_use.elapsed() <= CACHE_TTL);
        CACHED.fetch_sub(before - c.len(), Relaxed);
    });
}
