//! The running script (EVAL or FCALL). A script holds every shard while it
//! runs, so at most one runs in the whole process, and its state is
//! process-wide: once it has run longer than `busy-reply-threshold` other
//! clients are answered `-BUSY` (`dispatch::route`), SCRIPT KILL or FUNCTION
//! KILL stop it unless it has written, and FUNCTION STATS shows it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use bytes::Bytes;

/// What kind of script runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Eval = 1,
    Function = 2,
}

/// 0: none; else a [`Kind`].
static RUNNING: AtomicU8 = AtomicU8::new(0);
/// Past the threshold: other clients get `-BUSY`.
static BUSY: AtomicBool = AtomicBool::new(false);
static KILL: AtomicBool = AtomicBool::new(false);
/// It called a write command: it cannot be killed any more.
static WROTE: AtomicBool = AtomicBool::new(false);
/// Replayed from the AOF (Redis: sent by a master): never killed.
static UNKILLABLE: AtomicBool = AtomicBool::new(false);
/// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call `noscript` commands.
static DENY_DISABLED: AtomicBool = AtomicBool::new(false);
/// `busy-reply-threshold` (alias `lua-time-limit`), in milliseconds.
static THRESHOLD_MS: AtomicU64 = AtomicU64::new(5000);

/// The script's start (unix ms; 0: none): the time its commands judge
/// expiry by, as Redis freezes time for a script.
static SNAPSHOT_MS: AtomicU64 = AtomicU64::new(0);

/// The time a command judges expiry by: the running script's start, else
/// now.
#[inline]
pub fn command_time() -> u64 {
    match SNAPSHOT_MS.load(Relaxed) {
        0 => crate::store::now_ms(),
        t => t,
    }
}

struct Running {
    name: String,
    argv: Vec<Bytes>,
    started: Instant,
}

static INFO: Mutex<Option<Running>> = Mutex::new(None);

pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

pub fn set_deny_disabled(on: bool) {
    DENY_DISABLED.store(on, Relaxed);
}

/// Whether scripts may call commands flagged `noscript` (a test hack).
pub fn deny_disabled() -> bool {
    DENY_DISABLED.load(Relaxed)
}

pub fn set_threshold_ms(ms: u64) {
    THRESHOLD_MS.store(ms, Relaxed);
}

/// A script starts (its locks held): `name` is its SHA1 or function name,
/// `argv` the command that runs it.
pub fn begin(kind: Kind, name: &str, argv: &[Bytes], unkillable: bool) {
    if let Ok(mut i) = INFO.lock() {
        *i = Some(Running {
            name: name.to_string(),
            argv: argv.to_vec(),
            started: Instant::now(),
        });
    }
    KILL.store(false, Relaxed);
    WROTE.store(false, Relaxed);
    BUSY.store(false, Relaxed);
    UNKILLABLE.store(unkillable, Relaxed);
    SNAPSHOT_MS.store(crate::store::now_ms(), Relaxed);
    RUNNING.store(kind as u8, Relaxed);
}

/// The script ended (before its locks go).
pub fn end() {
    RUNNING.store(0, Relaxed);
    SNAPSHOT_MS.store(0, Relaxed);
    BUSY.store(false, Relaxed);
    KILL.store(false, Relaxed);
    if let Ok(mut i) = INFO.lock() {
        *i = None;
    }
}

/// Whether a script is running (so a keyed command running now is its).
pub fn running() -> bool {
    RUNNING.load(Relaxed) != 0
}

fn running_kind() -> Option<Kind> {
    match RUNNING.load(Relaxed) {
        1 => Some(Kind::Eval),
        2 => Some(Kind::Function),
        _ => None,
    }
}

/// While a script is busy: the `-BUSY` text other commands are refused
/// with. One relaxed load when none is.
#[inline]
pub fn busy_error() -> Option<&'static str> {
    if !BUSY.load(Relaxed) {
        return None;
    }
    Some(match running_kind() {
        Some(Kind::Function) => BUSY_FUNCTION,
        _ => BUSY_EVAL,
    })
}

/// From the script's hook: whether it has now run past the threshold (and
/// so is busy).
pub fn past_threshold() -> bool {
    if BUSY.load(Relaxed) {
        return true;
    }
    let late = INFO
        .lock()
        .ok()
        .and_then(|i| i.as_ref().map(|r| r.started.elapsed()))
        .is_some_and(|d| d.as_millis() as u64 >= THRESHOLD_MS.load(Relaxed));
    if late && running_kind().is_some() {
        BUSY.store(true, Relaxed);
    }
    late
}

/// From the script's hook: SCRIPT KILL or FUNCTION KILL asked it to stop.
#[inline]
pub fn killed() -> bool {
    KILL.load(Relaxed)
}

/// The script called a write command.
pub fn wrote() {
    WROTE.store(true, Relaxed);
}

/// SCRIPT KILL (`kind` Eval) or FUNCTION KILL (`kind` Function): the reply's
/// error, as Redis's `scriptKill`.
pub fn kill(kind: Kind) -> Result<(), &'static str> {
    let Some(running) = running_kind() else {
        return Err("NOTBUSY No scripts in execution right now.");
    };
    if UNKILLABLE.load(Relaxed) {
        return Err(
            "UNKILLABLE The busy script was sent by a master instance in the context of replication and cannot be killed.",
        );
    }
    if WROTE.load(Relaxed) {
        return Err(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        );
    }
    match (kind, running) {
        (Kind::Eval, Kind::Function) => return Err(BUSY_FUNCTION),
        (Kind::Function, Kind::Eval) => return Err(BUSY_EVAL),
        _ => {}
    }
    KILL.store(true, Relaxed);
    Ok(())
}

/// A running function as FUNCTION STATS shows it: name, the command that
/// runs it, milliseconds so far.
pub type RunningFunction = (String, Vec<Bytes>, u64);

/// FUNCTION STATS's `running_script`, or the error FUNCTION STATS answers
/// while an EVAL runs.
pub fn running_function() -> Result<Option<RunningFunction>, &'static str> {
    match running_kind() {
        None => Ok(None),
        Some(Kind::Eval) => Err(BUSY_EVAL),
        Some(Kind::Function) => Ok(INFO.lock().ok().and_then(|i| {
            i.as_ref().map(|r| {
                (
                    r.name.clone(),
                    r.argv.clone(),
                    r.started.elapsed().as_millis() as u64,
                )
            })
        })),
    }
}
