//! The append-only file, in Redis 7.0's multi-part layout: a directory
//! (`appenddirname`) holding a base (an RDB snapshot), the incr files with
//! every write since, and the manifest naming them. redis-server 7.0 starts
//! from corekv's directory and the reverse.
//!
//! A thread (the *writer*) reads the journal (`shard::journal`: every
//! shard's writes in one order, transactions whole) and appends it to the
//! newest incr file. `appendfsync always`: replies wait for the fsync that
//! covers them, and one fsync covers whatever every connection wrote
//! meanwhile (group commit). `everysec`: fsync once a second. `no`: never.
//!
//! Rewrite (BGREWRITEAOF), forkless: at one instant with every shard held,
//! the journal gets a cut (the writer starts a new incr file there) and a
//! snapshot starts (`shard::persist`); when the snapshot is written it
//! becomes the new base and the older files go.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::{info, warn};

use super::{Globals, Shard, journal, persist};
use crate::store::now_ms;

/// The last write or fsync of the AOF failed: writes (and PING) are refused
/// with `-MISCONF` until one succeeds, as in Redis.
static WRITE_FAILED: AtomicBool = AtomicBool::new(false);

#[inline]
pub fn write_failed() -> bool {
    WRITE_FAILED.load(Relaxed)
}

/// Redis's refusal while the AOF cannot be written.
pub fn write_error(g: &Globals) -> String {
    let e = g
        .aof
        .last_error
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    format!("MISCONF Errors writing to the AOF file: {e}")
}

fn write_result(st: &State, r: &std::io::Result<()>) {
    match r {
        Ok(()) => {
            if WRITE_FAILED.swap(false, Relaxed) {
                info!("AOF write error looks solved, Redis can write again.");
            }
            st.last_write_ok.store(true, Relaxed);
        }
        Err(e) => {
            if let Ok(mut l) = st.last_error.lock() {
                *l = e.to_string();
            }
            st.last_write_ok.store(false, Relaxed);
            WRITE_FAILED.store(st.enabled.load(Relaxed), Relaxed);
        }
    }
}

/// `appendfsync`.
pub const FSYNC_NO: u8 = 0;
pub const FSYNC_EVERYSEC: u8 = 1;
pub const FSYNC_ALWAYS: u8 = 2;

/// The AOF's process-wide state (in [`Globals`]).
pub struct State {
    /// Writes are being appended (`aof_enabled`).
    pub enabled: AtomicBool,
    pub fsync: AtomicU8,
    pub rewrite_running: AtomicBool,
    pub rewrite_scheduled: AtomicBool,
    pub last_rewrite_ok: AtomicBool,
    pub last_write_ok: AtomicBool,
    pub rewrites: AtomicU64,
    pub rewrite_failures: AtomicU64,
    pub last_rewrite_secs: AtomicI64,
    pub rewrite_started_ms: AtomicU64,
    /// Bytes in the files the manifest names, and in its base.
    pub current_size: AtomicU64,
    pub base_size: AtomicU64,
    /// The newest cut the writer has acted on: started the next incr file
    /// (`cut_seen`) or failed to (`cut_failed`).
    cut_seen: AtomicU64,
    cut_failed: AtomicU64,
    last_error: Mutex<String>,
    next_cut: AtomicU64,
    stop_writer: AtomicBool,
    files: Mutex<Files>,
}

struct Files {
    dir: PathBuf,
    /// `appendfilename`: the files' common prefix.
    name: String,
    manifest: Manifest,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl State {
    pub fn new() -> State {
        State {
            enabled: AtomicBool::new(false),
            fsync: AtomicU8::new(FSYNC_EVERYSEC),
            rewrite_running: AtomicBool::new(false),
            rewrite_scheduled: AtomicBool::new(false),
            last_rewrite_ok: AtomicBool::new(true),
            last_write_ok: AtomicBool::new(true),
            rewrites: AtomicU64::new(0),
            rewrite_failures: AtomicU64::new(0),
            last_rewrite_secs: AtomicI64::new(-1),
            rewrite_started_ms: AtomicU64::new(0),
            current_size: AtomicU64::new(0),
            base_size: AtomicU64::new(0),
            cut_seen: AtomicU64::new(0),
            cut_failed: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
            next_cut: AtomicU64::new(1),
            stop_writer: AtomicBool::new(false),
            files: Mutex::new(Files {
                dir: PathBuf::new(),
                name: String::new(),
                manifest: Manifest::default(),
                writer: None,
            }),
        }
    }

    fn files(&self) -> MutexGuard<'_, Files> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// Reads `appendfsync` (and the AOF's other live settings) from `config`.
pub fn apply_settings(g: &Globals, config: &crate::config::Config) {
    let f = match config.get("appendfsync") {
        "always" => FSYNC_ALWAYS,
        "no" => FSYNC_NO,
        _ => FSYNC_EVERYSEC,
    };
    g.aof.fsync.store(f, Relaxed);
    journal::set_always(f == FSYNC_ALWAYS && g.aof.enabled.load(Relaxed));
}

// ---- the manifest ----

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: u64,
}

/// `appendonly.aof.manifest`: `file <name> seq <n> type b|h|i` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub incr: Vec<AofFile>,
    pub history: Vec<AofFile>,
    pub base_seq: u64,
    pub incr_seq: u64,
}

impl Manifest {
    /// Parses a manifest as Redis 7.0 does (strictly: any bad line is an error).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        let bad = || "Invalid AOF manifest file format".to_string();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = crate::config::split_quoted(line).ok_or_else(bad)?;
            if words.len() % 2 != 0 {
                return Err(bad());
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for kv in words.chunks(2) {
                match kv[0].as_str() {
                    "file" => name = Some(kv[1].clone()),
                    "seq" => seq = kv[1].parse::<u64>().ok(),
                    "type" => kind = kv[1].chars().next(),
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(bad());
            };
            if name.contains('/') || seq == 0 {
                return Err(bad());
            }
            let f = AofFile { name, seq };
            match kind {
                'b' => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.base_seq = seq;
                    m.base = Some(f);
                }
                'h' => m.history.push(f),
                'i' => {
                    if seq <= m.incr_seq {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    m.incr_seq = seq;
                    m.incr.push(f);
                }
                _ => return Err("Unknown AOF file type".into()),
            }
        }
        Ok(m)
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut line = |f: &AofFile, t: char| {
            s.push_str(&format!(
                "file {} seq {} type {}\n",
                quote(&f.name),
                f.seq,
                t
            ));
        };
        if let Some(b) = &self.base {
            line(b, 'b');
        }
        for h in &self.history {
            line(h, 'h');
        }
        for i in &self.incr {
            line(i, 'i');
        }
        s
    }
}

/// A file name as the manifest writes it (quoted when it holds spaces).
fn quote(name: &str) -> String {
    if name
        .bytes()
        .any(|b| b == b' ' || b == b'"' || b == b'\\' || b < 0x20)
    {
        let mut q = String::from("\"");
        for c in name.chars() {
            match c {
                '"' | '\\' => {
                    q.push('\\');
                    q.push(c);
                }
                c if (c as u32) < 0x20 => q.push_str(&format!("\\x{:02x}", c as u32)),
                c => q.push(c),
            }
        }
        q.push('"');
        q
    } else {
        name.to_string()
    }
}

fn manifest_name(name: &str) -> String {
    format!("{name}.manifest")
}

/// Writes the manifest through a synced temp file renamed over the old one.
fn persist_manifest(dir: &Path, name: &str, m: &Manifest) -> std::io::Result<()> {
    let tmp = dir.join(format!("temp-{}", manifest_name(name)));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(m.render().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(manifest_name(name)))?;
    sync_dir(dir);
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

// ---- start-up ----

/// What start-up loads with `appendonly yes`.
pub struct Plan {
    dir: PathBuf,
    name: String,
    manifest: Manifest,
    /// The base, when it is an RDB file (every shard loads its share).
    pub rdb: Option<Arc<Vec<u8>>>,
    /// Files replayed as commands, in order (an AOF-format base first),
    /// each from an offset (past an RDB preamble).
    pub replay: Vec<(PathBuf, u64)>,
    /// An old single `appendonly.aof` (Redis < 7) to move into the directory.
    upgrade: Option<PathBuf>,
}

/// Reads the manifest (or finds a pre-7.0 `appendonly.aof`) in the working
/// directory. Errors are fatal, as in Redis.
pub fn plan(config: &crate::config::Config) -> Result<Plan, String> {
    let dir = PathBuf::from(config.get("appenddirname"));
    let name = config.get("appendfilename").to_string();
    let mut p = Plan {
        dir: dir.clone(),
        name: name.clone(),
        manifest: Manifest::default(),
        rdb: None,
        replay: Vec::new(),
        upgrade: None,
    };
    let mpath = dir.join(manifest_name(&name));
    let text = match std::fs::read_to_string(&mpath) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let old = PathBuf::from(&name);
            if old.is_file() {
                let (rdb, rest) = base_parts(&old)?;
                p.rdb = rdb;
                p.replay.extend(rest);
                p.upgrade = Some(old);
            }
            return Ok(p);
        }
        Err(e) => return Err(format!("Fatal error reading the AOF manifest: {e}")),
    };
    p.manifest = Manifest::parse(&text).map_err(|e| format!("{e} in {}", mpath.display()))?;
    let (rdb, replay) = files_of(&dir, &p.manifest)?;
    p.rdb = rdb;
    p.replay = replay;
    Ok(p)
}

/// What loading the manifest's files takes: the base's RDB bytes (a
/// `.rdb` base, or an AOF base's RDB preamble) for every shard to load its
/// share of, and the files (from an offset) to replay after.
type Parts = (Option<Arc<Vec<u8>>>, Vec<(PathBuf, u64)>);

fn files_of(dir: &Path, m: &Manifest) -> Result<Parts, String> {
    let (mut rdb, mut replay) = (None, Vec::new());
    if let Some(b) = &m.base {
        (rdb, replay) = base_parts(&dir.join(&b.name))?;
    }
    for f in &m.incr {
        let path = dir.join(&f.name);
        if !path.is_file() {
            return Err(format!("The AOF file {} doesn't exist", f.name));
        }
        replay.push((path, 0));
    }
    Ok((rdb, replay))
}

/// A base file: all RDB, all commands, or (Redis 4-6's `aof-use-rdb-preamble`
/// files) an RDB followed by commands.
fn base_parts(path: &Path) -> Result<Parts, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let data =
        std::fs::read(path).map_err(|e| format!("The AOF file {name} doesn't exist: {e}"))?;
    if !data.starts_with(b"REDIS") {
        return Ok((None, vec![(path.to_path_buf(), 0)]));
    }
    let len = crate::store::rdb::preamble_len(&data)
        .map_err(|e| format!("Bad RDB preamble in the AOF file {name}: {e}"))?;
    let rest = if len < data.len() {
        vec![(path.to_path_buf(), len as u64)]
    } else {
        Vec::new()
    };
    let mut data = data;
    data.truncate(len);
    Ok((Some(Arc::new(data)), rest))
}

/// After start-up loading: opens the newest incr file for appending (or,
/// with nothing on disk, writes a first base and incr file, as Redis does)
/// and starts journaling. Err is fatal.
pub async fn open_after_load(shard: &Rc<Shard>, plan: Plan) -> Result<(), String> {
    let g = &shard.globals;
    std::fs::create_dir_all(&plan.dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            plan.dir.display()
        )
    })?;
    let mut manifest = plan.manifest;
    if let Some(old) = &plan.upgrade {
        // Redis 7.0's upgrade: the old file becomes the base, in the directory.
        std::fs::rename(old, plan.dir.join(&plan.name)).map_err(|e| {
            format!(
                "Error moving {} into {}: {e}",
                old.display(),
                plan.dir.display()
            )
        })?;
        manifest.base = Some(AofFile {
            name: plan.name.clone(),
            seq: 1,
        });
        manifest.base_seq = 1;
        info!("Successfully migrated an old-style AOF into the AOF directory");
    }
    {
        let mut f = g.aof.files();
        f.dir = plan.dir.clone();
        f.name = plan.name.clone();
        f.manifest = manifest.clone();
    }
    if manifest.base.is_none() && manifest.incr.is_empty() {
        start_writer(g, None)?;
        g.aof.enabled.store(true, Relaxed);
        apply_settings(g, &g.config());
        rewrite(shard, true).await?;
        info!("Creating AOF base file on server start");
        return Ok(());
    }
    let file = match manifest.incr.last() {
        Some(last) => open_append(&plan.dir.join(&last.name))
            .map_err(|e| format!("Can't open the append-only file {}: {e}", last.name))?,
        None => {
            let (file, _) = new_incr(&mut g.aof.files())
                .map_err(|e| format!("Can't open the append-only file: {e}"))?;
            file
        }
    };
    {
        let f = g.aof.files();
        persist_manifest(&f.dir, &f.name, &f.manifest)
            .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    }
    update_sizes(&g.aof);
    journal::set_on(true);
    start_writer(g, Some(file))?;
    g.aof.enabled.store(true, Relaxed);
    apply_settings(g, &g.config());
    Ok(())
}

fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
}

/// Starts the next incr file and names it in the manifest (persisted).
fn new_incr(f: &mut Files) -> std::io::Result<(File, String)> {
    f.manifest.incr_seq += 1;
    let name = format!("{}.{}.incr.aof", f.name, f.manifest.incr_seq);
    let file = open_append(&f.dir.join(&name))?;
    f.manifest.incr.push(AofFile {
        name: name.clone(),
        seq: f.manifest.incr_seq,
    });
    persist_manifest(&f.dir, &f.name, &f.manifest)?;
    Ok((file, name))
}

fn update_sizes(st: &State) {
    let f = st.files();
    let size = |n: &AofFile| {
        std::fs::metadata(f.dir.join(&n.name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let base = f.manifest.base.as_ref().map_or(0, size);
    let incr: u64 = f.manifest.incr.iter().map(size).sum();
    st.base_size.store(base, Relaxed);
    st.current_size.store(base + incr, Relaxed);
}

// ---- the writer ----

fn start_writer(g: &Arc<Globals>, file: Option<File>) -> Result<(), String> {
    let mut f = g.aof.files();
    if f.writer.is_some() {
        return Ok(());
    }
    g.aof.stop_writer.store(false, Relaxed);
    let gl = g.clone();
    let h = std::thread::Builder::new()
        .name("aof-writer".into())
        .spawn(move || writer_main(&gl, file))
        .map_err(|e| format!("can't start the AOF writer: {e}"))?;
    f.writer = Some(h);
    Ok(())
}

/// Stops journaling and the writer, after it has written and synced
/// everything journaled so far. Waits without blocking the shard: the
/// writer may be waiting on a transaction this shard must finish.
pub async fn stop(g: &Globals) {
    if !g.aof.enabled.swap(false, Relaxed) {
        return;
    }
    WRITE_FAILED.store(false, Relaxed);
    journal::set_always(false);
    g.aof.stop_writer.store(true, Relaxed);
    journal::wake();
    let h = g.aof.files().writer.take();
    if let Some(h) = h {
        for _ in 0..10_000 {
            if h.is_finished() {
                break;
            }
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        if h.is_finished() {
            let _ = h.join();
        }
    }
    journal::set_on(false);
}

fn writer_main(g: &Globals, mut file: Option<File>) {
    let st = &g.aof;
    let mut db = usize::MAX;
    let mut out: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut last_sync = Instant::now();
    let mut unsynced = false;
    loop {
        let stopping = st.stop_writer.load(Relaxed);
        let segs = journal::take(Duration::from_millis(if stopping { 0 } else { 100 }));
        let idle = segs.is_empty();
        for seg in &segs {
            if let journal::SegKind::Cut(id) = seg.kind {
                flush_out(st, &mut file, &mut out);
                if let Some(f) = &file {
                    let _ = f.sync_data();
                }
                match new_incr(&mut st.files()) {
                    Ok((f, name)) => {
                        info!("Creating AOF incr file {name} on background rewrite");
                        file = Some(f);
                        st.cut_seen.store(id, Relaxed);
                    }
                    Err(e) => {
                        // The old file goes on; the rewrite fails (its base
                        // would overlap that file's tail).
                        warn!("Can't open a new AOF incr file: {e}");
                        st.cut_failed.store(id, Relaxed);
                    }
                }
                db = usize::MAX;
            } else {
                journal::format(std::slice::from_ref(seg), &mut db, &mut out);
            }
        }
        let wrote = !out.is_empty();
        flush_out(st, &mut file, &mut out);
        unsynced |= wrote;
        let policy = st.fsync.load(Relaxed);
        let due = match policy {
            FSYNC_ALWAYS => unsynced,
            FSYNC_EVERYSEC => {
                unsynced && (last_sync.elapsed() >= Duration::from_secs(1) || stopping)
            }
            _ => stopping && unsynced,
        };
        if due && let Some(f) = &file {
            let r = f.sync_data();
            if let Err(e) = &r {
                warn!("Can't persist the append-only file: fsync: {e}");
                if policy == FSYNC_ALWAYS {
                    log::error!(
                        "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..."
                    );
                    std::process::exit(1);
                }
            } else {
                unsynced = false;
            }
            write_result(st, &r);
            last_sync = Instant::now();
        }
        if out.is_empty() {
            journal::taken_durable();
        }
        if stopping && idle && out.is_empty() {
            return;
        }
    }
}

/// Appends `out` to the file; on error keeps it to retry (and, under
/// `always`, exits as Redis does: an acknowledged write must not be lost).
fn flush_out(st: &State, file: &mut Option<File>, out: &mut Vec<u8>) {
    if out.is_empty() {
        return;
    }
    let Some(f) = file else {
        out.clear();
        return;
    };
    // A short write is cut back off before the retry, so the file never
    // holds half a batch twice.
    let before = f.metadata().map(|m| m.len());
    let r = f.write_all(out);
    if r.is_err()
        && let Ok(len) = before
    {
        let _ = f.set_len(len);
    }
    write_result(st, &r);
    match r {
        Ok(()) => {
            st.current_size.fetch_add(out.len() as u64, Relaxed);
            out.clear();
        }
        Err(e) => {
            warn!("Error writing to the AOF file: {e}");
            if st.fsync.load(Relaxed) == FSYNC_ALWAYS {
                log::error!(
                    "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..."
                );
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

// ---- rewrite ----

/// A rewrite, start to end (BGREWRITEAOF's background part, CONFIG SET
/// appendonly yes, and start-up with no files). `turn_on`: journaling
/// starts at the rewrite's instant.
pub async fn rewrite(shard: &Rc<Shard>, turn_on: bool) -> Result<(), String> {
    let g = &shard.globals;
    let st = &g.aof;
    if !persist::claim(&g.persist, false) {
        return Err("Background save already in progress".into());
    }
    st.rewrite_running.store(true, Relaxed);
    st.rewrite_started_ms.store(now_ms(), Relaxed);
    let started = now_ms();
    let cut = st.next_cut.fetch_add(1, Relaxed);
    let (dir, base) = {
        let f = st.files();
        let seq = f.manifest.base_seq + 1;
        (f.dir.clone(), format!("{}.{}.base.rdb", f.name, seq))
    };
    let tx = persist::lock_all(shard).await;
    // The instant: every write is before the cut (in the base) or after it
    // (in the new incr file). Without journaling (BGREWRITEAOF with
    // appendonly no) the base is all there is.
    if turn_on {
        journal::set_on(true);
    }
    let journaled = journal::on();
    if journaled {
        journal::cut(cut);
    }
    let done = persist::start_snapshot_to(&tx, shard, dir.join(&base), true).await;
    tx.release().await;
    let outcome = done
        .await
        .unwrap_or_else(|_| Err("the writer thread stopped".into()));
    // The writer has reached the cut (bounded: it only waits on holes,
    // which close as their transactions end).
    for _ in 0..100_000 {
        if !journaled
            || st.cut_seen.load(Relaxed) >= cut
            || st.cut_failed.load(Relaxed) >= cut
            || !st.enabled.load(Relaxed)
        {
            break;
        }
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    let cut_ok = !journaled || st.cut_seen.load(Relaxed) >= cut;
    let r = outcome.and_then(|_| {
        if !cut_ok {
            return Err("the next incr file could not be started".into());
        }
        install_base(st, &base, journaled).map_err(|e| e.to_string())
    });
    g.persist.bgsave_running.store(false, Relaxed);
    st.rewrite_running.store(false, Relaxed);
    st.last_rewrite_secs
        .store((now_ms().saturating_sub(started) / 1000) as i64, Relaxed);
    match &r {
        Ok(()) => {
            st.rewrites.fetch_add(1, Relaxed);
            st.rewrite_failures.store(0, Relaxed);
            st.last_rewrite_ok.store(true, Relaxed);
            info!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            st.rewrite_failures.fetch_add(1, Relaxed);
            st.last_rewrite_ok.store(false, Relaxed);
            let _ = std::fs::remove_file(dir.join(&base));
            warn!("Background AOF rewrite failed: {e}");
        }
    }
    update_sizes(st);
    r
}

/// The rewritten base replaces the old one; every incr file but the newest
/// (started at the rewrite's cut, when `keep_newest`) is history, and is
/// deleted.
fn install_base(st: &State, base: &str, keep_newest: bool) -> std::io::Result<()> {
    let mut f = st.files();
    let mut m = f.manifest.clone();
    let mut history: Vec<AofFile> = m.history.drain(..).collect();
    history.extend(m.base.take());
    let newest = if keep_newest { m.incr.pop() } else { None };
    history.append(&mut m.incr);
    m.incr.extend(newest);
    m.base_seq += 1;
    m.base = Some(AofFile {
        name: base.to_string(),
        seq: m.base_seq,
    });
    persist_manifest(&f.dir, &f.name, &m)?;
    for h in &history {
        if h.name != base {
            let _ = std::fs::remove_file(f.dir.join(&h.name));
        }
    }
    f.manifest = m;
    Ok(())
}

/// BGREWRITEAOF: starts a rewrite in the background (or schedules it after
/// the running snapshot).
pub fn bgrewrite(shard: &Rc<Shard>) -> Result<&'static str, &'static str> {
    let g = &shard.globals;
    if g.aof.rewrite_running.load(Relaxed) {
        return Err("ERR Background append only file rewriting already in progress");
    }
    if g.persist.bgsave_running.load(Relaxed) {
        g.aof.rewrite_scheduled.store(true, Relaxed);
        return Ok("Background append only file rewriting scheduled");
    }
    if !g.aof.enabled.load(Relaxed) {
        // As Redis: the directory gets a base (and a manifest) anyway.
        if let Err(e) = adopt_dir(g) {
            warn!("{e}");
            return Err("ERR Can't open or create append-only dir");
        }
    }
    spawn_rewrite(shard, false);
    Ok("Background append only file rewriting started")
}

fn spawn_rewrite(shard: &Rc<Shard>, turn_on: bool) {
    let sh = shard.clone();
    glommio::spawn_local(async move {
        let _ = rewrite(&sh, turn_on).await;
    })
    .detach();
}

/// CONFIG SET appendonly: on starts journaling at a rewrite's instant (the
/// new base holds everything before it); off stops it.
pub async fn set_enabled(shard: &Rc<Shard>, on: bool) -> Result<(), String> {
    let g = &shard.globals;
    if on == g.aof.enabled.load(Relaxed) {
        return Ok(());
    }
    if !on {
        stop(g).await;
        return Ok(());
    }
    adopt_dir(g)?;
    start_writer(g, None)?;
    g.aof.enabled.store(true, Relaxed);
    apply_settings(g, &g.config());
    if g.persist.bgsave_running.load(Relaxed) {
        // Redis waits for the running save too; here the rewrite is retried.
        for _ in 0..600_000 {
            if !g.persist.bgsave_running.load(Relaxed) {
                break;
            }
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    }
    spawn_rewrite(shard, true);
    Ok(())
}

/// Takes `appenddirname` (created if missing) and its manifest, if any, as
/// the files a rewrite replaces.
fn adopt_dir(g: &Globals) -> Result<(), String> {
    let (dir, name) = {
        let c = g.config();
        (
            PathBuf::from(c.get("appenddirname")),
            c.get("appendfilename").to_string(),
        )
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("Can't open or create append-only dir: {e}"))?;
    let manifest = match std::fs::read_to_string(dir.join(manifest_name(&name))) {
        Ok(t) => Manifest::parse(&t).unwrap_or_default(),
        Err(_) => Manifest::default(),
    };
    let mut f = g.aof.files();
    f.dir = dir;
    f.name = name;
    f.manifest = manifest;
    Ok(())
}

/// Shard 0's tick: a scheduled rewrite starts once no snapshot runs; the
/// auto-rewrite thresholds.
pub fn on_tick(shard: &Rc<Shard>) {
    let g = &shard.globals;
    let st = &g.aof;
    if !st.enabled.load(Relaxed) || g.persist.bgsave_running.load(Relaxed) {
        return;
    }
    if st.rewrite_scheduled.swap(false, Relaxed) {
        spawn_rewrite(shard, false);
        return;
    }
    let (pct, min) = {
        let c = g.config();
        (
            c.get_u64("auto-aof-rewrite-percentage"),
            c.get_u64("auto-aof-rewrite-min-size"),
        )
    };
    let (cur, base) = (st.current_size.load(Relaxed), st.base_size.load(Relaxed));
    if pct > 0 && cur > min && base > 0 && (cur - base) * 100 / base >= pct {
        info!(
            "Starting automatic rewriting of AOF on {}% growth",
            (cur - base) * 100 / base
        );
        spawn_rewrite(shard, false);
    }
}

/// Waits until everything journaled so far is written and synced (SHUTDOWN,
/// DEBUG LOADAOF).
pub async fn sync_now(g: &Globals) {
    if !g.aof.enabled.load(Relaxed) {
        return;
    }
    let t = journal::appended();
    let before = g.aof.fsync.swap(FSYNC_ALWAYS, Relaxed);
    journal::durable(t).await;
    g.aof.fsync.store(before, Relaxed);
}

/// DEBUG LOADAOF's first half: once everything journaled is on disk,
/// journaling stops and clients get `-LOADING`; every shard empties and
/// loads its share of the base. Returns the files left to replay (the
/// caller replays them, then calls [`reload_done`]).
pub async fn reload_base(shard: &Rc<Shard>) -> Result<Vec<(PathBuf, u64)>, String> {
    let g = &shard.globals;
    if g.aof.rewrite_running.load(Relaxed) || g.persist.bgsave_running.load(Relaxed) {
        return Err("Background save already in progress".into());
    }
    if g.aof.enabled.load(Relaxed) {
        sync_now(g).await;
    } else {
        // As Redis: the files in the directory load even with appendonly no.
        adopt_dir(g)?;
    }
    let (dir, m) = {
        let f = g.aof.files();
        (f.dir.clone(), f.manifest.clone())
    };
    let (rdb, replay) = files_of(&dir, &m)?;
    let tx = persist::lock_all(shard).await;
    journal::set_on(false);
    g.persist.loading.store(true, Relaxed);
    crate::store::freeze_clock(true);
    // Emptying the dataset takes the libraries too (Redis's emptyData).
    super::functions::flush();
    let results = tx
        .finish_each(|_| {
            let rdb = rdb.clone();
            move |sh: &Shard| {
                sh.empty_all();
                match &rdb {
                    Some(d) => sh.load_rdb(d, false).map(Some).map_err(|e| e.to_string()),
                    None => Ok(None),
                }
            }
        })
        .await;
    crate::store::freeze_clock(false);
    let mut first = None;
    for (_, r) in results {
        match r {
            Some(Err(e)) => {
                reload_done(g);
                return Err(e);
            }
            Some(Ok(info)) => first = first.or(info),
            None => {}
        }
    }
    if let Some(info) = first
        && let Err(e) = persist::install_functions(&info, false)
    {
        reload_done(g);
        return Err(e);
    }
    Ok(replay)
}

/// DEBUG LOADAOF's end: journaling and serving resume.
pub fn reload_done(g: &Globals) {
    journal::set_on(g.aof.enabled.load(Relaxed));
    g.persist.loading.store(false, Relaxed);
}

/// INFO persistence's aof_* fields.
pub fn info_fields(g: &Globals) -> String {
    let st = &g.aof;
    let running = st.rewrite_running.load(Relaxed);
    let current = if running {
        (now_ms().saturating_sub(st.rewrite_started_ms.load(Relaxed)) / 1000) as i64
    } else {
        -1
    };
    let ok = |b: &AtomicBool| if b.load(Relaxed) { "ok" } else { "err" };
    let mut s = format!(
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        st.enabled.load(Relaxed) as u8,
        running as u8,
        st.rewrite_scheduled.load(Relaxed) as u8,
        st.last_rewrite_secs.load(Relaxed),
        current,
        ok(&st.last_rewrite_ok),
        st.rewrites.load(Relaxed),
        st.rewrite_failures.load(Relaxed),
        ok(&st.last_write_ok),
    );
    if st.enabled.load(Relaxed) {
        s.push_str(&format!(
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:0\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
            st.current_size.load(Relaxed),
            st.base_size.load(Relaxed),
            st.rewrite_scheduled.load(Relaxed) as u8,
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base_seq, 1);
        assert_eq!(m.incr_seq, 2);
        assert_eq!(m.render(), text);
        assert!(Manifest::parse("file x seq 1 type b\nfile y seq 1 type b\n").is_err());
        assert!(Manifest::parse("file x seq 2 type i\nfile y seq 1 type i\n").is_err());
        assert!(Manifest::parse("file x type i\n").is_err());
        assert!(Manifest::parse("file x seq 1 type z\n").is_err());
        let q = Manifest::parse("file \"a b\" seq 1 type i\n").unwrap();
        assert_eq!(q.incr[0].name, "a b");
        assert_eq!(Manifest::parse(&q.render()).unwrap(), q);
    }
}
