//! Start-up and shutdown: sockets, one pinned glommio executor per shard,
//! signals; `conn` serves one client's socket.

pub mod conn;
mod listen;

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};
use log::{error, info, warn};

use crate::config::Config;
use crate::shard::{self, Globals, Shard};

/// glommio refuses to start an executor below this much lockable memory.
const MIN_MEMLOCK: u64 = 512 * 1024;

fn memlock_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass, which lives on our stack.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) };
    if rc != 0 { u64::MAX } else { r.rlim_cur }
}

/// Sets up the log: `loglevel`, and `logfile` when set (opened for appending,
/// as Redis does; an empty name logs to standard error).
pub fn init_logging(config: &Config) -> Result<(), String> {
    let level = crate::config::log_level(config.get("loglevel")).unwrap_or(log::LevelFilter::Info);
    // The logger itself lets everything through: `log`'s global level, which
    // CONFIG SET loglevel changes, is the filter.
    let mut b = env_logger::Builder::new();
    b.filter_level(log::LevelFilter::Trace)
        .format_timestamp_millis();
    let file = config.get("logfile");
    if !file.is_empty() {
        let f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(file)
            .map_err(|e| format!("Can't open the log file: {}", crate::util::strerror(&e)))?;
        b.target(env_logger::Target::Pipe(Box::new(f)));
    }
    b.init();
    log::set_max_level(level);
    Ok(())
}

/// Runs the server until SIGINT/SIGTERM or SHUTDOWN. Returns the exit code.
pub fn run(mut config: Config) -> i32 {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let online = cores.len().max(1);
    let nshards = match config.get_u64("shards") {
        0 => online,
        n => n as usize,
    };
    if nshards > 256 {
        error!("shards must be between 1 and 256");
        return 1;
    }
    let memlock = memlock_limit();
    if memlock < MIN_MEMLOCK {
        error!(
            "locked memory limit (ulimit -l) is {} KiB; corekv needs at least {} KiB per process. \
             Raise it with `ulimit -l 1024` (or LimitMEMLOCK= in systemd).",
            memlock / 1024,
            MIN_MEMLOCK / 1024
        );
        return 1;
    }
    let io_memory = (config.get_u64("io-memory-kb").max(64) * 1024) as usize;
    let spin_us = config.get_u64("spin-before-park-us");
    let bind = listen::first_address(config.get("bind"));
    let backlog = config.get_i64("tcp-backlog") as i32;
    let (port, fds) = match listen::bind_listeners(&bind, config.port(), nshards, backlog, true) {
        Ok(v) => v,
        Err(e) => {
            error!("{e}");
            return 1;
        }
    };
    config.set_port(port);
    // Like Redis, work in `dir`: snapshots are written (and read) there.
    let dir = config.get("dir").to_string();
    if !dir.is_empty()
        && let Err(e) = std::env::set_current_dir(&dir)
    {
        error!("Can't chdir to '{dir}': {e}");
        return 1;
    }
    if let Ok(cwd) = std::env::current_dir() {
        config.set_dir(&cwd.display().to_string());
    }
    for (name, value) in config.inert_settings() {
        warn!("{name} is set to '{value}': corekv accepts it but does not act on it yet");
    }
    // With appendonly yes the AOF directory is the dataset (dump.rdb is
    // not read), as in Redis.
    let aof = if config.get("appendonly") == "yes" {
        match shard::aof::plan(&config) {
            Ok(p) => Some(p),
            Err(e) => {
                error!("{e}");
                return 1;
            }
        }
    } else {
        None
    };
    let snapshot = match &aof {
        Some(p) => p.rdb.clone(),
        None => {
            match shard::persist::read_startup_file(std::path::Path::new(config.get("dbfilename")))
            {
                Ok(s) => s,
                Err(e) => {
                    error!("{e}");
                    return 1;
                }
            }
        }
    };
    // With the AOF on, clients wait (-LOADING) until its files are open,
    // or, on a first start, its first base is written.
    let replays = aof.is_some();
    crate::commands::install();
    let globals = Arc::new(Globals::new(config, nshards));
    let _ = globals.relisten.set(listen::relisten);
    if let Ok(mut l) = globals.listening.lock() {
        *l = (bind.clone(), port);
    }
    globals
        .persist
        .loading
        .store(snapshot.is_some() || replays, Ordering::Relaxed);
    let loading = Arc::new(Loading {
        done: std::sync::atomic::AtomicUsize::new(0),
        keys: std::sync::atomic::AtomicU64::new(0),
        failure: std::sync::Mutex::new(None),
        data: snapshot,
        started: std::time::Instant::now(),
        aof: std::sync::Mutex::new(aof),
        aof_done: AtomicBool::new(false),
    });
    for (sig, param) in [
        (signal_hook::consts::SIGINT, "shutdown-on-sigint"),
        (signal_hook::consts::SIGTERM, "shutdown-on-sigterm"),
    ] {
        let flag = Arc::new(AtomicBool::new(false));
        let g = globals.clone();
        // The handler only sets an atomic flag that the shards poll.
        if let Err(e) = signal_hook::flag::register(sig, flag.clone()) {
            warn!("cannot install signal handler: {e}");
        }
        std::thread::spawn(move || {
            while !g.shutting_down() {
                std::thread::sleep(Duration::from_millis(50));
                if flag.swap(false, Ordering::Relaxed) {
                    warn!("Received signal, scheduling shutdown...");
                    // Shard 0 saves first (as the flags and save points say),
                    // then shuts down.
                    let flags = crate::config::shutdown_flags(g.config().get(param));
                    g.shutdown_requested.store(
                        shard::globals::SHUTDOWN_SIGNALLED | flags,
                        Ordering::Relaxed,
                    );
                }
            }
        });
    }
    info!(
        "corekv {} starting: {} shard(s) on {} online core(s), listening on {}:{}, io_memory {} KiB per shard (memlock limit {} KiB)",
        env!("CARGO_PKG_VERSION"),
        nshards,
        online,
        bind,
        port,
        io_memory / 1024,
        if memlock == u64::MAX {
            u64::MAX
        } else {
            memlock / 1024
        },
    );
    let _pidfile = PidFile::create(globals.config().get("pidfile"));
    let wiring = shard::wire(nshards, 1024);
    let mut handles = Vec::new();
    for (id, (w, fd)) in wiring.into_iter().zip(fds).enumerate() {
        let placement = if cores.is_empty() {
            Placement::Unbound
        } else {
            Placement::Fixed(cores[id % cores.len()].id)
        };
        let g = globals.clone();
        let l = loading.clone();
        let mut builder = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{id}"))
            .io_memory(io_memory);
        if spin_us > 0 {
            builder = builder.spin_before_park(Duration::from_micros(spin_us));
        }
        match builder.spawn(move || shard_main(id, g, w, fd, l)) {
            Ok(h) => handles.push(h),
            Err(e) => {
                error!("cannot start shard {id}: {e}");
                globals.shutdown.store(true, Ordering::Relaxed);
                return 1;
            }
        }
    }
    let mut code = 0;
    for h in handles {
        if let Err(e) = h.join() {
            error!("shard failed: {e}");
            code = 1;
        }
    }
    if loading.failed() {
        return 1;
    }
    info!("corekv is now ready to exit, bye bye...");
    code
}

/// `pidfile`: written at start-up, removed at exit (by its absolute path, as
/// CONFIG SET dir may move the working directory meanwhile).
struct PidFile(Option<std::path::PathBuf>);

impl PidFile {
    fn create(name: &str) -> PidFile {
        if name.is_empty() {
            return PidFile(None);
        }
        let path = std::path::absolute(name).unwrap_or_else(|_| name.into());
        match std::fs::write(&path, format!("{}\n", std::process::id())) {
            Ok(()) => PidFile(Some(path)),
            Err(e) => {
                warn!("Failed to write PID file: {e}");
                PidFile(None)
            }
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Start-up loading of the snapshot file: every shard loads its share of the
/// same bytes at once, a step at a time (its connections are answered
/// `-LOADING` meanwhile), and none serves until all have succeeded.
struct Loading {
    done: std::sync::atomic::AtomicUsize,
    keys: std::sync::atomic::AtomicU64,
    failure: std::sync::Mutex<Option<String>>,
    data: Option<Arc<Vec<u8>>>,
    started: std::time::Instant,
    /// `appendonly yes`: shard 0 replays the AOF files once every shard has
    /// loaded its share of the base, then opens the newest for appending.
    aof: std::sync::Mutex<Option<shard::aof::Plan>>,
    aof_done: AtomicBool,
}

impl Loading {
    fn failed(&self) -> bool {
        self.failure.lock().map(|f| f.is_some()).unwrap_or(true)
    }

    fn fail(&self, e: String) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(e);
        }
    }

    /// Shard 0's part of an AOF load, after the base: the incr files.
    async fn replay_aof(&self, shard: &std::rc::Rc<Shard>) {
        let plan = self.aof.lock().ok().and_then(|mut p| p.take());
        let Some(plan) = plan else {
            return;
        };
        let truncated_ok = shard.globals.config().get("aof-load-truncated") == "yes";
        if !plan.replay.is_empty() {
            match crate::dispatch::replay::run(shard, &plan.replay, truncated_ok).await {
                Ok(r) => info!(
                    "DB loaded from append only file: {:.3} seconds ({} commands)",
                    self.started.elapsed().as_secs_f64(),
                    r.commands
                ),
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
        }
        if let Err(e) = shard::aof::open_after_load(shard, plan).await {
            self.fail(e);
        }
    }

    /// Loads this shard's keys, waits for the others; false if any failed.
    async fn run(&self, shard: &std::rc::Rc<Shard>) -> bool {
        let r = match &self.data {
            None => Ok(0),
            Some(d) => shard::persist::load_share(shard, d).await.and_then(|i| {
                // Every shard reads the libraries; one installs them.
                if shard.id == 0 {
                    shard::persist::install_functions(&i, false)?;
                }
                Ok(i.keys)
            }),
        };
        match r {
            Ok(k) => {
                self.keys.fetch_add(k, Ordering::Relaxed);
            }
            Err(e) => {
                if let Ok(mut f) = self.failure.lock() {
                    f.get_or_insert(e);
                }
            }
        }
        self.done.fetch_add(1, Ordering::AcqRel);
        // Bounded by the other shards' loads, which always finish.
        while self.done.load(Ordering::Acquire) < shard.nshards && !self.failed() {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        if !self.failed() {
            if shard.id == 0 {
                self.replay_aof(shard).await;
                self.aof_done.store(true, Ordering::Release);
            }
            while !self.aof_done.load(Ordering::Acquire) && !self.failed() {
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
        }
        if self.failed() {
            if shard.id == 0 {
                let e = self
                    .failure
                    .lock()
                    .ok()
                    .and_then(|f| f.clone())
                    .unwrap_or_default();
                error!("Fatal error loading the DB: {e}. Exiting.");
            }
            return false;
        }
        shard
            .globals
            .persist
            .loading
            .store(false, Ordering::Relaxed);
        if shard.id == 0 && self.data.is_some() {
            info!(
                "DB loaded from disk: {:.3} seconds",
                self.started.elapsed().as_secs_f64()
            );
            info!(
                "Done loading RDB, keys loaded: {}.",
                self.keys.load(Ordering::Relaxed)
            );
        }
        true
    }
}

async fn shard_main(
    id: usize,
    globals: Arc<Globals>,
    wiring: shard::Wiring,
    fd: OwnedFd,
    loading: Arc<Loading>,
) {
    let shard = Shard::start(id, globals.clone(), wiring).await;
    // Connections are served (with -LOADING) while the snapshot loads.
    listen::adopt(&shard, fd);
    if !loading.run(&shard).await {
        globals.shutdown.store(true, Ordering::Relaxed);
        listen::stop();
        shard.close_clients();
        return;
    }
    if id == 0 {
        info!("Ready to accept connections tcp");
    }
    // Housekeeping at `hz`, and the shutdown check.
    while !globals.shutting_down() {
        let hz = globals.config().get_u64("hz").clamp(1, 500);
        glommio::timer::sleep(Duration::from_millis(1000 / hz)).await;
        shard.cron();
        if id == 0 {
            shard::persist::on_tick(&shard).await;
            shard::aof::on_tick(&shard);
        }
    }
    listen::stop();
    if id == 0 {
        // What was journaled before the shutdown reaches the file, synced.
        shard::aof::stop(&globals).await;
    }
    // Give connection tasks a moment to finish the reply they are writing.
    glommio::timer::sleep(Duration::from_millis(20)).await;
    shard.close_clients();
}
