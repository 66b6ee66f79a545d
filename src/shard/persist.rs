//! RDB snapshots, forkless: BGSAVE takes whole-shard locks on every shard at
//! once only to mark one instant (`Db::snapshot_begin`), so the file is one
//! point in time for the whole server (a cross-shard MSET, RENAME or EXEC is
//! wholly in or wholly out). Then each shard serialises its own keys a little
//! per turn while it keeps serving, a write to a key not yet serialised copies
//! it first (`store::snapshot`), and a thread writes the chunks as they come,
//! the shards waiting when it is behind. Loading: every shard reads the same
//! file and keeps the keys it owns.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use futures::channel::oneshot;

use log::{info, warn};

use super::Shard;
use super::locks::LockSet;
use super::tx::Tx;
use crate::store::rdb::{self, RdbError, Writer};
use crate::store::{Entry, now_ms};

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
    /// A snapshot is being taken (BGSAVE, or SAVE when `foreground`).
    pub bgsave_running: AtomicBool,
    pub foreground: AtomicBool,
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
            foreground: AtomicBool::new(false),
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

/// What a shard's traversal hands the file writer.
enum Piece {
    /// RDB key records, starting with SELECTDB.
    Data(Vec<u8>),
    /// This shard is done; its write counter at the snapshot instant.
    Done { dirty: u64 },
}

/// How a save went: the writes it covers (for `rdb_changes_since_last_save`).
pub(super) type Outcome = Result<u64, String>;

/// Positions each database's traversal covers per turn, and the chunk size it
/// hands over: small enough that a turn stays in the tens of microseconds.
const STEP_POSITIONS: u32 = 2048;
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks queued for the writer per shard before a traversal waits for it:
/// the memory a snapshot needs beyond the copies writes force.
const QUEUED_CHUNKS: usize = 8;

impl Shard {
    /// Starts this shard's part of a snapshot at this instant (run under the
    /// snapshot's locks) and the task that serialises it.
    fn begin_snapshot(&self, now: u64, compress: bool, out: SyncSender<Piece>) {
        for db in self.store.borrow_mut().dbs.iter_mut() {
            db.snapshot_begin(now, compress);
        }
        let dirty = crate::store::notify::dirty();
        if let Some(me) = self.me.upgrade() {
            glommio::spawn_local(traverse(me, out, dirty)).detach();
        }
    }

    /// Ends this shard's snapshot early (the writer failed).
    fn abandon_snapshot(&self) {
        for db in self.store.borrow_mut().dbs.iter_mut() {
            db.snapshot_end();
        }
    }

    /// Loads the keys of `data` (a whole RDB file) that this shard owns. With
    /// `replace`, a key already here is overwritten (DEBUG RELOAD MERGE); else a
    /// duplicate is an error, as in Redis.
    pub fn load_rdb(&self, data: &[u8], replace: bool) -> Result<rdb::FileInfo, RdbError> {
        let r = rdb::load_file(
            data,
            now_ms(),
            &mut OwnKeys {
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

    pub(super) fn empty_all(&self) {
        self.touch_flushed(None, None);
        for d in self.store.borrow_mut().dbs.iter_mut() {
            d.clear();
        }
        self.invalidate_all();
    }
}

/// The loader's sink on one shard: the keys it owns go into its store.
struct OwnKeys<'a> {
    shard: &'a Shard,
    replace: bool,
}

impl rdb::Sink for OwnKeys<'_> {
    fn want(&mut self, key: &[u8]) -> bool {
        self.shard.owner(key) == self.shard.id
    }

    fn put(&mut self, db: usize, key: Vec<u8>, entry: Entry) -> Result<(), RdbError> {
        let mut store = self.shard.store.borrow_mut();
        let d = &mut store.dbs[db];
        if !self.replace && d.dict().get(&key).is_some() {
            return Err(RdbError::Corrupt(format!(
                "Duplicate key '{}' found in RDB file",
                String::from_utf8_lossy(&key)
            )));
        }
        d.set_entry(&key, entry);
        Ok(())
    }
}

/// One shard's traversal: a little of every database per turn, chunks to the
/// writer (waiting while it is behind), then `Done`. Writes meanwhile serialise
/// what they change first (`store::snapshot`), so the chunks add up to the
/// shard as it was at the instant.
async fn traverse(shard: Rc<Shard>, out: SyncSender<Piece>, dirty: u64) {
    loop {
        let (finished, chunks) = {
            let mut st = shard.store.borrow_mut();
            let mut finished = true;
            let mut chunks = Vec::new();
            for db in st.dbs.iter_mut() {
                finished &= db.snapshot_step(STEP_POSITIONS);
                chunks.extend(db.snapshot_take(CHUNK_BYTES));
            }
            if finished {
                for db in st.dbs.iter_mut() {
                    chunks.extend(db.snapshot_take(0));
                    db.snapshot_end();
                }
            }
            (finished, chunks)
        };
        for c in chunks {
            if !hand_over(&out, Piece::Data(c)).await {
                shard.abandon_snapshot();
                return;
            }
        }
        if finished {
            hand_over(&out, Piece::Done { dirty }).await;
            return;
        }
        super::yield_now().await;
    }
}

/// Queues a piece for the writer thread, waiting (without blocking the shard)
/// while its queue is full; false if the writer has gone.
async fn hand_over(out: &SyncSender<Piece>, mut piece: Piece) -> bool {
    loop {
        match out.try_send(piece) {
            Ok(()) => return true,
            Err(TrySendError::Full(p)) => {
                piece = p;
                glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
    }
}

/// Whole-shard locks on every shard.
pub(super) async fn lock_all(shard: &Rc<Shard>) -> Tx {
    let parts = (0..shard.nshards).map(|s| (s, LockSet::Global)).collect();
    Tx::lock(shard, parts, 0).await
}

/// Starts a snapshot of every shard at one instant (under `tx`, which holds
/// every shard whole) and the thread that writes it to `dbfilename`; the
/// receiver gets the outcome once the file is in place.
async fn start_snapshot(tx: &Tx, shard: &Shard) -> oneshot::Receiver<Outcome> {
    let path = PathBuf::from(shard.globals.config().get("dbfilename"));
    start_snapshot_to(tx, shard, path, false).await
}

/// [`start_snapshot`] into `path`; `aof_base`: an AOF rewrite's base file
/// (its `aof-base` field says so).
pub(super) async fn start_snapshot_to(
    tx: &Tx,
    shard: &Shard,
    path: PathBuf,
    aof_base: bool,
) -> oneshot::Receiver<Outcome> {
    let (compress, checksum) = {
        let c = shard.globals.config();
        (
            c.get("rdbcompression") == "yes",
            c.get("rdbchecksum") != "no",
        )
    };
    let (pieces, rx) = std::sync::mpsc::sync_channel(QUEUED_CHUNKS * shard.nshards);
    let (done_tx, done_rx) = oneshot::channel();
    let nshards = shard.nshards;
    let now = now_ms();
    // The libraries as they are at the instant (FUNCTION LOAD takes no
    // key lock; Redis's fork catches them the same way).
    let libs = super::functions::libraries();
    let writer = std::thread::Builder::new()
        .name("rdb-writer".into())
        .spawn(move || {
            let codes: Vec<&[u8]> = libs.iter().map(|l| &l.code[..]).collect();
            let r = write_file(
                &path,
                (checksum, aof_base, compress),
                now,
                &codes,
                nshards,
                rx,
            );
            let _ = done_tx.send(r);
        });
    if let Err(e) = writer {
        let (t, r) = oneshot::channel();
        let _ = t.send(Err(format!("can't start the writer thread: {e}")));
        return r;
    }
    tx.run_each(|_| {
        let pieces = pieces.clone();
        move |sh: &Shard| sh.begin_snapshot(now, compress, pieces)
    })
    .await;
    done_rx
}

/// The writer thread: header, every shard's chunks as they come, footer,
/// through `temp-<pid>.rdb` synced and renamed over `path` (a crash never
/// leaves a half-written `dump.rdb`).
fn write_file(
    path: &Path,
    (checksum, aof_base, compress): (bool, bool, bool),
    taken_ms: u64,
    functions: &[&[u8]],
    nshards: usize,
    rx: Receiver<Piece>,
) -> Outcome {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let result = (|| -> std::io::Result<u64> {
        let file = std::fs::File::create(&tmp)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut digest = rdb::CRC64.digest();
        let mut put = |out: &mut std::io::BufWriter<std::fs::File>, b: &[u8]| {
            if checksum {
                digest.update(b);
            }
            out.write_all(b)
        };
        let mut head = Writer::new(compress);
        rdb::write_header(
            &mut head,
            &[
                (
                    "redis-ver",
                    crate::config::REDIS_VERSION.as_bytes().to_vec(),
                ),
                ("redis-bits", b"64".to_vec()),
                ("ctime", (taken_ms / 1000).to_string().into_bytes()),
                ("used-mem", b"0".to_vec()),
                ("aof-base", if aof_base { b"1" } else { b"0" }.to_vec()),
            ],
        );
        rdb::write_functions(&mut head, functions);
        put(&mut out, &head.buf)?;
        let (mut done, mut dirty) = (0, 0);
        while done < nshards {
            match rx.recv() {
                Ok(Piece::Data(b)) => put(&mut out, &b)?,
                Ok(Piece::Done { dirty: d }) => {
                    done += 1;
                    dirty += d;
                }
                Err(_) => return Err(std::io::Error::other("a shard stopped mid-snapshot")),
            }
        }
        put(&mut out, &[rdb::op::EOF])?;
        let crc = if checksum { digest.finalize() } else { 0 };
        out.write_all(&crc.to_le_bytes())?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(dirty)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| e.to_string())
}

/// Records a finished save in the shared state.
fn saved(state: &State, outcome: &Outcome, started_ms: u64, background: bool) {
    state.last_try_ms.store(now_ms(), Relaxed);
    if let Ok(dirty) = outcome {
        state.dirty_at_save.store(*dirty, Relaxed);
        state.lastsave.store(now_ms() / 1000, Relaxed);
        state.saves.fetch_add(1, Relaxed);
    }
    if background {
        state.last_bgsave_ok.store(outcome.is_ok(), Relaxed);
        state
            .last_bgsave_secs
            .store((now_ms().saturating_sub(started_ms) / 1000) as i64, Relaxed);
    }
    state.bgsave_running.store(false, Relaxed);
    state.foreground.store(false, Relaxed);
}

/// Claims the one snapshot that may run at a time.
pub(super) fn claim(state: &State, foreground: bool) -> bool {
    let ok = state
        .bgsave_running
        .compare_exchange(false, true, Relaxed, Relaxed)
        .is_ok();
    if ok {
        state.foreground.store(foreground, Relaxed);
        state.bgsave_started_ms.store(now_ms(), Relaxed);
    }
    ok
}

/// SAVE: a snapshot, returning once the file is in place. Unlike Redis's SAVE
/// the server keeps serving meanwhile. Err if another save runs or it failed.
pub async fn save(shard: &Rc<Shard>) -> Result<(), String> {
    let st = &shard.globals.persist;
    if !claim(st, true) {
        return Err("Background save already in progress".into());
    }
    let started = now_ms();
    let tx = lock_all(shard).await;
    let done = start_snapshot(&tx, shard).await;
    tx.release().await;
    let outcome = done
        .await
        .unwrap_or_else(|_| Err("the writer thread stopped".into()));
    saved(st, &outcome, started, false);
    match outcome {
        Ok(_) => {
            info!("DB saved on disk");
            Ok(())
        }
        Err(e) => {
            warn!("Failed saving the DB: {e}");
            Err(e)
        }
    }
}

/// The final snapshot of a shutdown: a background save still running is let
/// finish first (its file would be older than this one), then a SAVE.
pub async fn save_for_shutdown(shard: &Rc<Shard>) -> Result<(), String> {
    let st = &shard.globals.persist;
    for _ in 0..60_000 {
        if !st.bgsave_running.load(Relaxed) {
            break;
        }
        glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
    }
    save(shard).await
}

/// BGSAVE: starts a snapshot and returns once every shard has taken its
/// instant; the shards serialise it as they serve, a thread writes it.
/// Refused (false) while another save runs.
pub async fn bgsave(shard: &Rc<Shard>) -> bool {
    let st = &shard.globals.persist;
    if !claim(st, false) {
        return false;
    }
    let started = now_ms();
    info!("Background saving started");
    let tx = lock_all(shard).await;
    let done = start_snapshot(&tx, shard).await;
    tx.release().await;
    let g = shard.globals.clone();
    glommio::spawn_local(async move {
        let outcome = done
            .await
            .unwrap_or_else(|_| Err("the writer thread stopped".into()));
        match &outcome {
            Ok(_) => {
                info!("DB saved on disk");
                info!("Background saving terminated with success");
            }
            Err(e) => warn!("Background saving error: {e}"),
        }
        saved(&g.persist, &outcome, started, true);
    })
    .detach();
    true
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
    let st = &shard.globals.persist;
    if !claim(st, true) {
        return Err("Background save already in progress".into());
    }
    let started = now_ms();
    let tx = lock_all(shard).await;
    let outcome = if nosave {
        Ok(st.dirty_at_save.load(Relaxed))
    } else {
        start_snapshot(&tx, shard)
            .await
            .await
            .unwrap_or_else(|_| Err("the writer thread stopped".into()))
    };
    saved(st, &outcome, started, false);
    if let Err(e) = outcome {
        tx.release().await;
        return Err(format!("Error trying to save the DB: {e}"));
    }
    let path = PathBuf::from(shard.globals.config().get("dbfilename"));
    let data = match std::fs::read(&path) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            tx.release().await;
            return Err(format!("Error trying to load the RDB dump: {e}"));
        }
    };
    if !keep {
        // Emptying the dataset takes the libraries too (Redis's emptyData).
        super::functions::flush();
    }
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
    let mut first = None;
    for (_, r) in results {
        match r {
            Some(Err(e)) => {
                warn!("Error trying to load the RDB dump: {e}");
                return Err("Error trying to load the RDB dump, check server logs.".into());
            }
            Some(Ok(info)) => {
                first.get_or_insert(info);
            }
            None => {}
        }
    }
    if let Some(info) = first
        && let Err(e) = install_functions(&info, replace)
    {
        warn!("{e}");
        return Err("Error trying to load the RDB dump, check server logs.".into());
    }
    Ok(())
}

/// Installs the function libraries a loaded file carried (`replace`: DEBUG
/// RELOAD MERGE).
pub fn install_functions(info: &rdb::FileInfo, replace: bool) -> Result<(), String> {
    let codes: Vec<bytes::Bytes> = info
        .functions
        .iter()
        .map(|c| bytes::Bytes::copy_from_slice(c))
        .collect();
    super::functions::install_loaded(&codes, replace)
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

/// Keys a start-up load reads between two turns of its shard's other work
/// (connections answered `-LOADING`, peers' messages).
const LOAD_STEP_KEYS: usize = 4096;

/// One shard's part of start-up loading, a step at a time; the caller
/// refuses to start unless every shard succeeds.
pub async fn load_share(shard: &Shard, data: &[u8]) -> Result<rdb::FileInfo, String> {
    let mut loader = rdb::Loader::new(data, now_ms()).map_err(|e| e.to_string())?;
    let mut sink = OwnKeys {
        shard,
        replace: false,
    };
    loop {
        let done = loader
            .step(&mut sink, LOAD_STEP_KEYS)
            .map_err(|e| e.to_string())?;
        let _ = crate::store::notify::take_events();
        if done {
            return Ok(loader.info);
        }
        super::yield_now().await;
    }
}

/// Redis's answer to commands that cannot run while the dataset loads.
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";

/// Shard 0's tick: a signal's shutdown, else the save points. The signal's
/// `shutdown-on-sig*` flags decide as in Redis: a final save when save points
/// are set (unless `nosave`) or with `save`; a failed save cancels the
/// shutdown unless `force`.
pub async fn on_tick(shard: &Rc<Shard>) {
    use crate::config::params::{SHUTDOWN_FORCE, SHUTDOWN_NOSAVE, SHUTDOWN_SAVE};
    let g = &shard.globals;
    let req = g.shutdown_requested.swap(0, Relaxed);
    if req != 0 {
        let points = !save_points(g.config().get("save")).is_empty();
        if req & SHUTDOWN_SAVE != 0 || (points && req & SHUTDOWN_NOSAVE == 0) {
            warn!("Saving the final RDB snapshot before exiting.");
            if save_for_shutdown(shard).await.is_err() {
                if req & SHUTDOWN_FORCE == 0 {
                    warn!("Error trying to save the DB, can't exit.");
                    return;
                }
                warn!("Error trying to save the DB. Exit anyway.");
            }
        }
        g.shutdown.store(true, Relaxed);
        return;
    }
    check_save_points(shard);
}
