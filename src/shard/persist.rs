//! RDB snapshots: every shard serialises its own keys, under whole-shard locks
//! taken on all shards at once, so a file is one point in time for the whole
//! server (a cross-shard MSET, RENAME or EXEC is wholly in or wholly out); and
//! loading, where every shard reads the same file and keeps the keys it owns.
//!
//! The locks are held only while the shards copy their keys into RDB bytes
//! (in parallel, one per core); writing the file happens afterwards, on a
//! helper thread for BGSAVE.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

use log::{info, warn};

use super::Shard;
use super::locks::LockSet;
use super::tx::Tx;
use crate::store::rdb::{self, RdbError, Writer};
use crate::store::{Entry, NUM_DBS, now_ms};

/// `stop-writes-on-bgsave-error yes` with save points set: a failed
/// background save then refuses writes (MISCONF) until one succeeds.
static STOP_WRITES_ON_ERROR: AtomicBool = AtomicBool::new(true);

pub fn set_stop_writes_on_error(config: &crate::config::Config) {
    let on = config.get("stop-writes-on-bgsave-error") == "yes"
        && !save_points(config.get("save")).is_empty();
    STOP_WRITES_ON_ERROR.store(on, Relaxed);
}

/// Redis's text for writes refused after a failed background save.
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Process-wide persistence state (in [`Globals`](super::Globals)).
pub struct State {
    /// Each shard's write counter as its last cron saw it.
    pub dirty: Vec<AtomicU64>,
    /// The sum of the write counters when the last snapshot was taken.
    pub dirty_at_save: AtomicU64,
    /// Unix seconds of the last successful save (LASTSAVE).
    pub lastsave: AtomicU64,
    pub bgsave_running: AtomicBool,
    /// BGSAVE SCHEDULE arrived while one ran: start another once it ends.
    pub scheduled: AtomicBool,
    pub last_bgsave_ok: AtomicBool,
    /// Duration of the last background save, -1 before the first.
    pub last_bgsave_secs: AtomicI64,
    /// Unix ms when the running background save started.
    pub bgsave_started_ms: AtomicU64,
    /// Unix ms of the last save attempt (a failed one is retried after 5 s).
    pub last_try_ms: AtomicU64,
    /// Loading a file (startup or DEBUG RELOAD).
    pub loading: AtomicBool,
    pub saves: AtomicU64,
}

impl State {
    pub fn new(nshards: usize) -> State {
        State {
            dirty: (0..nshards).map(|_| AtomicU64::new(0)).collect(),
            dirty_at_save: AtomicU64::new(0),
            lastsave: AtomicU64::new(now_ms() / 1000),
            bgsave_running: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_secs: AtomicI64::new(-1),
            bgsave_started_ms: AtomicU64::new(0),
            last_try_ms: AtomicU64::new(0),
            loading: AtomicBool::new(false),
            saves: AtomicU64::new(0),
        }
    }

    /// Whether writes are refused with [`MISCONF`] (as Redis, PING too).
    #[inline]
    pub fn refuses_writes(&self) -> bool {
        !self.last_bgsave_ok.load(Relaxed) && STOP_WRITES_ON_ERROR.load(Relaxed)
    }

    /// Writes since the last snapshot (`rdb_changes_since_last_save`).
    pub fn changes_since_save(&self) -> u64 {
        let total: u64 = self.dirty.iter().map(|d| d.load(Relaxed)).sum();
        total.saturating_sub(self.dirty_at_save.load(Relaxed))
    }
}

/// One shard's keys, per database, as RDB key/value records.
struct ShardDump {
    dbs: Vec<DbDump>,
    dirty: u64,
}

#[derive(Default)]
struct DbDump {
    keys: u64,
    volatile: u64,
    bytes: Vec<u8>,
}

/// Every shard's keys at one instant.
pub struct Snapshot {
    shards: Vec<ShardDump>,
    pub taken_ms: u64,
}

impl Snapshot {
    pub fn keys(&self) -> u64 {
        self.shards
            .iter()
            .flat_map(|s| s.dbs.iter())
            .map(|d| d.keys)
            .sum()
    }

    /// Writes the snapshot as an RDB file at `path`, through a temporary file in
    /// the same directory renamed over it once synced (a crash never leaves a
    /// half-written `dump.rdb`). Returns the file's size.
    pub fn write_file(&self, path: &Path, checksum: bool) -> std::io::Result<u64> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = dir.join(format!("temp-{}.rdb", std::process::id()));
        let result = self.write_to(&tmp, checksum).and_then(|n| {
            std::fs::rename(&tmp, path)?;
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(n)
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn write_to(&self, tmp: &Path, checksum: bool) -> std::io::Result<u64> {
        let file = std::fs::File::create(tmp)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut digest = rdb::CRC64.digest();
        let mut written = 0u64;
        let mut put = |out: &mut std::io::BufWriter<std::fs::File>, b: &[u8]| {
            if checksum {
                digest.update(b);
            }
            written += b.len() as u64;
            out.write_all(b)
        };
        let mut head = Writer::new(false);
        let ctime = (self.taken_ms / 1000).to_string();
        rdb::write_header(
            &mut head,
            &[
                (
                    "redis-ver",
                    crate::config::REDIS_VERSION.as_bytes().to_vec(),
                ),
                ("redis-bits", b"64".to_vec()),
                ("ctime", ctime.into_bytes()),
                ("used-mem", b"0".to_vec()),
                ("aof-base", b"0".to_vec()),
            ],
        );
        put(&mut out, &head.buf)?;
        for db in 0..NUM_DBS {
            let keys: u64 = self.shards.iter().map(|s| s.dbs[db].keys).sum();
            if keys == 0 {
                continue;
            }
            let volatile: u64 = self.shards.iter().map(|s| s.dbs[db].volatile).sum();
            let mut w = Writer::new(false);
            rdb::write_db_start(&mut w, db, keys, volatile);
            put(&mut out, &w.buf)?;
            for s in &self.shards {
                put(&mut out, &s.dbs[db].bytes)?;
            }
        }
        put(&mut out, &[rdb::op::EOF])?;
        let crc = if checksum { digest.finalize() } else { 0 };
        out.write_all(&crc.to_le_bytes())?;
        written += 8;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(written)
    }
}

impl Shard {
    /// This shard's live keys as RDB records (run under the snapshot's locks).
    fn dump_dbs(&self, compress: bool, now: u64) -> ShardDump {
        let store = self.store.borrow();
        let dbs = store
            .dbs
            .iter()
            .map(|db| {
                let mut w = Writer::new(compress);
                let (mut keys, mut volatile) = (0, 0);
                for (key, e) in db.dict.iter() {
                    if e.is_expired(now) {
                        continue;
                    }
                    keys += 1;
                    volatile += (e.expire_at != 0) as u64;
                    w.key_value(key, e);
                }
                DbDump {
                    keys,
                    volatile,
                    bytes: w.buf,
                }
            })
            .collect();
        ShardDump {
            dbs,
            dirty: crate::store::notify::dirty(),
        }
    }

    /// Loads the keys of `data` (a whole RDB file) that this shard owns. With
    /// `replace`, a key already here is overwritten (DEBUG RELOAD MERGE); else a
    /// duplicate is an error, as in Redis.
    pub fn load_rdb(&self, data: &[u8], replace: bool) -> Result<rdb::FileInfo, RdbError> {
        struct Mine<'a> {
            shard: &'a Shard,
            replace: bool,
        }
        impl rdb::Sink for Mine<'_> {
            fn want(&mut self, key: &[u8]) -> bool {
                self.shard.owner(key) == self.shard.id
            }
            fn put(&mut self, db: usize, key: Vec<u8>, entry: Entry) -> Result<(), RdbError> {
                let mut store = self.shard.store.borrow_mut();
                let d = &mut store.dbs[db];
                if !self.replace && d.dict.get(&key).is_some() {
                    return Err(RdbError::Corrupt(format!(
                        "Duplicate key '{}' found in RDB file",
                        String::from_utf8_lossy(&key)
                    )));
                }
                d.set_entry(&key, entry);
                Ok(())
            }
        }
        let r = rdb::load_file(
            data,
            now_ms(),
            &mut Mine {
                shard: self,
                replace,
            },
        );
        // Loading is nobody's write: no events, nothing for watchers beyond what
        // the caller signals.
        let _ = crate::store::notify::take_events();
        r
    }

    /// Publishes this shard's write counter for save points and INFO.
    pub(super) fn publish_dirty(&self) {
        if let Some(d) = self.globals.persist.dirty.get(self.id) {
            d.store(crate::store::notify::dirty(), Relaxed);
        }
    }

    fn empty_all(&self) {
        self.touch_flushed(None, None);
        for d in self.store.borrow_mut().dbs.iter_mut() {
            d.clear();
        }
        self.invalidate_all();
    }
}

/// Whole-shard locks on every shard.
async fn lock_all(shard: &Rc<Shard>) -> Tx {
    let parts = (0..shard.nshards).map(|s| (s, LockSet::Global)).collect();
    Tx::lock(shard, parts, 0).await
}

/// Copies every shard's keys under `tx`'s locks.
async fn dump_all(tx: &Tx, shard: &Shard) -> Snapshot {
    let compress = shard.globals.config().get("rdbcompression") == "yes";
    let now = now_ms();
    let shards = tx
        .run_each(|_| move |sh: &Shard| sh.dump_dbs(compress, now))
        .await
        .into_iter()
        .filter_map(|(_, d)| d)
        .collect();
    Snapshot {
        shards,
        taken_ms: now,
    }
}

/// Takes a snapshot of every shard at one instant.
pub async fn snapshot(shard: &Rc<Shard>) -> Snapshot {
    let tx = lock_all(shard).await;
    let snap = dump_all(&tx, shard).await;
    tx.release().await;
    snap
}

/// Where snapshots go: `dbfilename` in the working directory (`dir`).
pub fn rdb_path(shard: &Shard) -> PathBuf {
    PathBuf::from(shard.globals.config().get("dbfilename"))
}

fn checksum_on(shard: &Shard) -> bool {
    shard.globals.config().get("rdbchecksum") != "no"
}

/// Records a finished save in the shared state.
fn saved(state: &State, snap_dirty: u64, ok: bool, started_ms: u64, background: bool) {
    state.last_try_ms.store(now_ms(), Relaxed);
    if ok {
        state.dirty_at_save.store(snap_dirty, Relaxed);
        state.lastsave.store(now_ms() / 1000, Relaxed);
        state.saves.fetch_add(1, Relaxed);
    }
    if background {
        state.last_bgsave_ok.store(ok, Relaxed);
        state
            .last_bgsave_secs
            .store((now_ms().saturating_sub(started_ms) / 1000) as i64, Relaxed);
        state.bgsave_running.store(false, Relaxed);
    }
}

impl Snapshot {
    fn dirty(&self) -> u64 {
        self.shards.iter().map(|s| s.dirty).sum()
    }
}

/// SAVE: snapshot and write the file before returning.
pub async fn save(shard: &Rc<Shard>) -> Result<(), String> {
    let started = now_ms();
    let snap = snapshot(shard).await;
    let path = rdb_path(shard);
    let state = &shard.globals.persist;
    match snap.write_file(&path, checksum_on(shard)) {
        Ok(_) => {
            saved(state, snap.dirty(), true, started, false);
            info!("DB saved on disk");
            Ok(())
        }
        Err(e) => {
            saved(state, 0, false, started, false);
            warn!("Failed saving the DB: {e}");
            Err(e.to_string())
        }
    }
}

/// BGSAVE: snapshot now, write the file on a helper thread. Refused (false)
/// while another background save runs.
pub async fn bgsave(shard: &Rc<Shard>) -> bool {
    let g = shard.globals.clone();
    if g.persist
        .bgsave_running
        .compare_exchange(false, true, Relaxed, Relaxed)
        .is_err()
    {
        return false;
    }
    let started = now_ms();
    g.persist.bgsave_started_ms.store(started, Relaxed);
    info!("Background saving started");
    let snap = snapshot(shard).await;
    let path = rdb_path(shard);
    let checksum = checksum_on(shard);
    let spawned = std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || write_in_background(g, snap, path, checksum, started));
    if let Err(e) = spawned {
        warn!("Can't save in background: {e}");
        saved(&shard.globals.persist, 0, false, started, true);
    }
    true
}

fn write_in_background(g: Arc<super::Globals>, snap: Snapshot, path: PathBuf, sum: bool, t0: u64) {
    match snap.write_file(&path, sum) {
        Ok(_) => {
            info!("DB saved on disk");
            info!("Background saving terminated with success");
            saved(&g.persist, snap.dirty(), true, t0, true);
        }
        Err(e) => {
            warn!("Background saving error: {e}");
            saved(&g.persist, 0, false, t0, true);
        }
    }
}

/// Redis's `save <seconds> <changes>` points, as configured.
pub fn save_points(spec: &str) -> Vec<(u64, u64)> {
    let n: Vec<u64> = spec
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    n.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

/// Shard 0's cron: starts a background save when a save point is reached
/// (after a failed save, only once 5 s have passed, as Redis retries).
pub fn check_save_points(shard: &Rc<Shard>) {
    let g = &shard.globals;
    let st = &g.persist;
    if st.bgsave_running.load(Relaxed) || st.loading.load(Relaxed) {
        return;
    }
    if st.scheduled.swap(false, Relaxed) {
        let sh = shard.clone();
        glommio::spawn_local(async move {
            bgsave(&sh).await;
        })
        .detach();
        return;
    }
    let points = save_points(g.config().get("save"));
    if points.is_empty() {
        return;
    }
    let changes = st.changes_since_save();
    let now = now_ms();
    let since = (now / 1000).saturating_sub(st.lastsave.load(Relaxed));
    let retry_ok =
        st.last_bgsave_ok.load(Relaxed) || now.saturating_sub(st.last_try_ms.load(Relaxed)) > 5000;
    if retry_ok
        && points
            .iter()
            .any(|&(secs, n)| changes >= n && since >= secs && changes > 0)
    {
        info!("{changes} changes in {since} seconds. Saving...");
        let sh = shard.clone();
        glommio::spawn_local(async move {
            bgsave(&sh).await;
        })
        .detach();
    }
}

/// DEBUG RELOAD: save (unless `nosave`), empty every shard (unless `keep`),
/// and load the file back (`replace`: its keys win over existing ones), all
/// under one set of locks.
pub async fn reload(
    shard: &Rc<Shard>,
    nosave: bool,
    keep: bool,
    replace: bool,
) -> Result<(), String> {
    let path = rdb_path(shard);
    let tx = lock_all(shard).await;
    if !nosave {
        let started = now_ms();
        let snap = dump_all(&tx, shard).await;
        if let Err(e) = snap.write_file(&path, checksum_on(shard)) {
            tx.release().await;
            return Err(format!("Error trying to save the DB: {e}"));
        }
        saved(&shard.globals.persist, snap.dirty(), true, started, false);
    }
    let data = match std::fs::read(&path) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            tx.release().await;
            return Err(format!("Error trying to load the RDB dump: {e}"));
        }
    };
    let results = tx
        .finish_each(|_| {
            let data = data.clone();
            move |sh: &Shard| {
                if !keep {
                    sh.empty_all();
                }
                sh.load_rdb(&data, replace).map_err(|e| e.to_string())
            }
        })
        .await;
    for (_, r) in results {
        if let Some(Err(e)) = r {
            warn!("Error trying to load the RDB dump: {e}");
            return Err("Error trying to load the RDB dump, check server logs.".into());
        }
    }
    Ok(())
}

/// Start-up: reads `dbfilename` if it exists. Every shard loads its share
/// (see [`load_share`]); a missing file is an empty dataset.
pub fn read_startup_file(path: &Path) -> Result<Option<Arc<Vec<u8>>>, String> {
    match std::fs::read(path) {
        Ok(d) => Ok(Some(Arc::new(d))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("Fatal error loading the DB: {e}. Exiting.")),
    }
}

/// One shard's part of start-up loading; the caller refuses to start unless
/// every shard succeeds.
pub fn load_share(shard: &Shard, data: &[u8]) -> Result<rdb::FileInfo, String> {
    shard.load_rdb(data, false).map_err(|e| e.to_string())
}

/// Shard 0's tick: a signal's shutdown (saving first when save points are
/// set; a failed save cancels it, as in Redis), else the save points.
pub async fn on_tick(shard: &Rc<Shard>) {
    let g = &shard.globals;
    if g.shutdown_requested.swap(false, Relaxed) {
        if !save_points(g.config().get("save")).is_empty() {
            warn!("Saving the final RDB snapshot before exiting.");
            if save(shard).await.is_err() {
                warn!("Error trying to save the DB, can't exit.");
                return;
            }
        }
        g.shutdown.store(true, Relaxed);
        return;
    }
    check_save_points(shard);
}
