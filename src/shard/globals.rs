//! Process-wide settings and counters shared by every shard. Holds no keyspace
//! data: every key lives in exactly one shard's `Store`.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::future::LocalBoxFuture;
use std::time::Instant;

use crate::config::Config;

pub struct Globals {
    pub config: RwLock<Config>,
    pub nshards: usize,
    pub next_client_id: AtomicU64,
    /// Transaction and waiter ids (one sequence: both key the same shard tables).
    pub next_txid: AtomicU64,
    pub shutdown: AtomicBool,
    /// A signal asked for shutdown: [`SHUTDOWN_SIGNALLED`] with the
    /// signal's `shutdown-on-sig*` flags. Shard 0 saves as they say and then
    /// sets `shutdown`.
    pub shutdown_requested: AtomicU32,
    pub connected: AtomicU64,
    pub total_connections: AtomicU64,
    pub started: Instant,
    pub run_id: String,
    pub executable: String,
    /// Who subscribes to what on which shard (see `shard::pubsub`).
    pub pubsub: RwLock<super::pubsub::Registry>,
    /// MONITOR clients per shard, and in all (see `shard::monitor`).
    pub monitors: Vec<AtomicU32>,
    pub monitors_total: AtomicUsize,
    /// CLIENT PAUSE: until when (unix ms, 0: not paused) and what
    /// ([`PAUSE_WRITE`] or [`PAUSE_ALL`]).
    pub pause_until: AtomicU64,
    pub pause_mode: AtomicU32,
    /// Clients with CLIENT TRACKING on, and the BCAST ones' prefixes:
    /// (prefix, home shard, client id).
    pub tracking_clients: AtomicUsize,
    /// Keys in the readers' tables of all shards.
    pub tracking_keys: AtomicUsize,
    /// DEBUG PAUSE-CRON and DEBUG SET-ACTIVE-EXPIRE.
    pub cron_paused: AtomicBool,
    pub active_expire: AtomicBool,
    pub bcast: RwLock<Vec<(bytes::Bytes, usize, u64)>>,
    /// Snapshots and loading (see `shard::persist`).
    pub persist: super::persist::State,
    /// The append-only file (see `shard::aof`).
    pub aof: super::aof::State,
    /// Moves the listening sockets (CONFIG SET port|bind); only `server`
    /// holds sockets, so it registers this at start-up.
    pub relisten: OnceLock<Relisten>,
    /// The address and port the shards listen on now.
    pub listening: Mutex<(String, u16)>,
}

/// Moves every shard's listener to `bind`'s first address and `port`, all or
/// none; answers the port now listened on (port 0 picks a free one).
pub type Relisten =
    fn(Rc<super::Shard>, String, u16) -> LocalBoxFuture<'static, Result<u16, String>>;

/// Set in `shutdown_requested` when a signal asked for shutdown.
pub const SHUTDOWN_SIGNALLED: u32 = 1 << 31;

/// CLIENT PAUSE WRITE: commands that may write or replicate wait.
pub const PAUSE_WRITE: u32 = 1;
/// CLIENT PAUSE ALL: every command waits.
pub const PAUSE_ALL: u32 = 2;

impl Globals {
    pub fn new(config: Config, nshards: usize) -> Globals {
        apply_live_settings(&config);
        Globals {
            config: RwLock::new(config),
            nshards,
            next_client_id: AtomicU64::new(1),
            next_txid: AtomicU64::new(1),
            shutdown: AtomicBool::new(false),
            shutdown_requested: AtomicU32::new(0),
            connected: AtomicU64::new(0),
            total_connections: AtomicU64::new(0),
            started: Instant::now(),
            run_id: run_id(),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            pubsub: RwLock::new(super::pubsub::Registry::default()),
            monitors: (0..nshards).map(|_| AtomicU32::new(0)).collect(),
            monitors_total: AtomicUsize::new(0),
            pause_until: AtomicU64::new(0),
            pause_mode: AtomicU32::new(0),
            tracking_clients: AtomicUsize::new(0),
            tracking_keys: AtomicUsize::new(0),
            cron_paused: AtomicBool::new(false),
            active_expire: AtomicBool::new(true),
            bcast: RwLock::new(Vec::new()),
            persist: super::persist::State::new(nshards),
            aof: super::aof::State::new(),
            relisten: OnceLock::new(),
            listening: Mutex::new((String::new(), 0)),
        }
    }

    pub fn pubsub(&self) -> RwLockReadGuard<'_, super::pubsub::Registry> {
        self.pubsub.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn pubsub_mut(&self) -> RwLockWriteGuard<'_, super::pubsub::Registry> {
        self.pubsub.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn config(&self) -> RwLockReadGuard<'_, Config> {
        self.config.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the configuration (CONFIG SET) and applies what is read
    /// outside it on hot paths.
    pub fn set_config(&self, config: Config) {
        apply_live_settings(&config);
        super::aof::apply_settings(self, &config);
        *self.config_mut() = config;
    }

    pub fn config_mut(&self) -> RwLockWriteGuard<'_, Config> {
        self.config.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The pause in effect now, if any: its mode.
    #[inline]
    pub fn paused(&self) -> Option<u32> {
        let until = self.pause_until.load(Ordering::Relaxed);
        if until == 0 || until <= crate::store::now_ms() {
            return None;
        }
        Some(self.pause_mode.load(Ordering::Relaxed))
    }

    /// CLIENT PAUSE: a second pause extends the first and keeps the stricter
    /// mode, as in Redis.
    pub fn pause(&self, until: u64, mode: u32) {
        if self.paused().is_none() {
            self.pause_mode.store(mode, Ordering::Relaxed);
            self.pause_until.store(until, Ordering::Relaxed);
            return;
        }
        self.pause_mode.fetch_max(mode, Ordering::Relaxed);
        self.pause_until.fetch_max(until, Ordering::Relaxed);
    }

    pub fn unpause(&self) {
        self.pause_until.store(0, Ordering::Relaxed);
        self.pause_mode.store(0, Ordering::Relaxed);
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }
}

/// Settings the hot paths read from atomics rather than the config lock.
fn apply_live_settings(config: &Config) {
    if let Some(level) = crate::config::log_level(config.get("loglevel")) {
        log::set_max_level(level);
    }
    crate::store::notify::set_flags(config.keyspace_events());
    crate::protocol::set_limits(
        config.get_i64("proto-max-bulk-len"),
        config.get_u64("client-query-buffer-limit") as usize,
    );
    super::tracking::set_max_keys(config.get_u64("tracking-table-max-keys"));
    crate::store::limits::set(crate::store::limits::Limits {
        hash_entries: config.get_u64("hash-max-listpack-entries") as usize,
        hash_value: config.get_u64("hash-max-listpack-value") as usize,
        zset_entries: config.get_u64("zset-max-listpack-entries") as usize,
        zset_value: config.get_u64("zset-max-listpack-value") as usize,
        intset_entries: config.get_u64("set-max-intset-entries") as usize,
        hll_sparse_bytes: config.get_u64("hll-sparse-max-bytes") as usize,
    });
    crate::store::rdb::set_compression(config.get("rdbcompression") != "no");
    super::persist::set_stop_writes_on_error(config);
    super::script::set_threshold_ms(config.get("busy-reply-threshold").parse().unwrap_or(5000));
    crate::store::set_access_policy(
        config.get("maxmemory-policy"),
        config.get("lfu-log-factor").parse().unwrap_or(10),
        config.get("lfu-decay-time").parse().unwrap_or(1),
    );
}

/// 40 hex digits, as Redis's run_id.
fn run_id() -> String {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ (std::process::id() as u64) << 32;
    let mut rng = crate::num::Rng::new(seed);
    (0..40)
        .map(|_| char::from_digit((rng.next() % 16) as u32, 16).unwrap_or('0'))
        .collect()
}
