//! The stable fuzz loop: generate or mutate inputs, run a target's body on each
//! under `catch_unwind`, stop at the first panic, minimize the input and report it.
//!
//! There is no coverage feedback (that needs libFuzzer's instrumentation, i.e.
//! cargo-fuzz), so the quality of the search rests on the targets' generators; in
//! exchange it runs anywhere `cargo test` does. A run is deterministic for a given
//! seed, corpus and run count (with one job).

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Target;
use crate::inputs::{Rng, mutate};

/// How long and how to fuzz one target.
#[derive(Clone)]
pub struct Options {
    /// Stop after this long; `None`: no time limit.
    pub duration: Option<Duration>,
    /// Stop after this many inputs (all jobs together); `None`: no limit.
    pub runs: Option<u64>,
    pub seed: u64,
    /// Worker threads, each with its own stream derived from `seed`.
    pub jobs: usize,
    /// Starting inputs for the mutator, e.g. a libFuzzer corpus.
    pub corpus: Vec<Vec<u8>>,
    /// Longer inputs are cut to this length.
    pub max_len: usize,
    /// Time allowed for minimizing a failing input.
    pub minimize_for: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: Some(Duration::from_secs(30)),
            runs: None,
            seed: 0,
            jobs: 1,
            corpus: Vec::new(),
            // Above the parser's 64 KiB line limit, which its generator goes past.
            max_len: 128 * 1024,
            minimize_for: Duration::from_secs(10),
        }
    }
}

/// A failing input.
pub struct Failure {
    pub input: Vec<u8>,
    /// The smallest variant found that panics at the same place.
    pub minimized: Vec<u8>,
    /// The panic's location and message ("panicked at src/parser.rs:56:9:\n...").
    pub message: String,
    /// The worker that found it.
    pub job: usize,
}

pub struct Report {
    /// Inputs run to completion.
    pub runs: u64,
    pub elapsed: Duration,
    pub failure: Option<Failure>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// While alive, panics are recorded for [`run_one`] instead of printed (the
/// minimizer makes hundreds of them). Restores the previous hook on drop.
pub struct QuietPanics(Option<Hook>);

impl QuietPanics {
    pub fn install() -> Self {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(|info| {
            let msg = info.to_string();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
        }));
        QuietPanics(Some(prev))
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        if let Some(prev) = self.0.take() {
            panic::set_hook(prev);
        }
    }
}

/// Runs `check(input)`; returns the panic's location and message if it panicked.
pub fn run_one(check: fn(&[u8]), input: &[u8]) -> Option<String> {
    LAST_PANIC.with(|p| p.borrow_mut().take());
    let payload = panic::catch_unwind(AssertUnwindSafe(|| check(input))).err()?;
    let recorded = LAST_PANIC.with(|p| p.borrow_mut().take());
    Some(recorded.unwrap_or_else(|| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".into());
        format!("panicked:\n{msg}")
    }))
}

/// The first line of a panic report: "panicked at FILE:LINE:COL:".
fn site(message: &str) -> &str {
    message.lines().next().unwrap_or("")
}

/// Fuzzes `target` as `opts` says; stops early at the first failure.
pub fn fuzz(target: &Target, opts: &Options) -> Report {
    let _quiet = QuietPanics::install();
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let tickets = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failure: Mutex<Option<Failure>> = Mutex::new(None);
    let mut seeds = Rng::new(opts.seed);
    std::thread::scope(|s| {
        for job in 0..opts.jobs.max(1) {
            let mut rng = Rng::new(seeds.next_u64());
            let (stop, tickets, done, failure) = (&stop, &tickets, &done, &failure);
            s.spawn(move || {
                // Recently run inputs, for the mutator to start from and splice.
                let mut recent: Vec<Vec<u8>> = Vec::new();
                let mut input = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if opts
                        .runs
                        .is_some_and(|max| tickets.fetch_add(1, Ordering::Relaxed) >= max)
                    {
                        break;
                    }
                    if n.is_multiple_of(16) && opts.duration.is_some_and(|d| start.elapsed() >= d) {
                        break;
                    }
                    n += 1;
                    input.clear();
                    let pool = opts.corpus.len() + recent.len();
                    let get = |i: usize| match opts.corpus.get(i) {
                        Some(c) => c,
                        None => &recent[i - opts.corpus.len()],
                    };
                    if pool > 0 && rng.one_in(2) {
                        let (from, other) = (rng.below(pool), rng.below(pool));
                        input.extend_from_slice(get(from));
                        mutate(&mut rng, &mut input, get(other), target.tokens);
                    } else {
                        (target.generate)(&mut rng, &mut input);
                    }
                    input.truncate(opts.max_len);
                    if let Some(message) = run_one(target.check, &input) {
                        stop.store(true, Ordering::Relaxed);
                        let minimized = minimize(target.check, &input, &message, opts.minimize_for);
                        failure.lock().unwrap().get_or_insert(Failure {
                            input: input.clone(),
                            minimized,
                            message,
                            job,
                        });
                        break;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    if rng.one_in(4) {
                        if recent.len() < 256 {
                            recent.push(input.clone());
                        } else {
                            let i = rng.below(recent.len());
                            recent[i].clone_from(&input);
                        }
                    }
                }
            });
        }
    });
    Report {
        runs: done.into_inner(),
        elapsed: start.elapsed(),
        failure: failure.into_inner().unwrap(),
    }
}

/// Greedy delta debugging: drops ever smaller chunks of `input` (halves, quarters,
/// ... single bytes) while the result still panics at the same place as `message`.
/// Call with [`QuietPanics`] installed, or every attempt prints its panic.
pub fn minimize(check: fn(&[u8]), input: &[u8], message: &str, budget: Duration) -> Vec<u8> {
    let deadline = Instant::now() + budget;
    let want = site(message).to_string();
    let mut best = input.to_vec();
    let mut chunk = best.len().div_ceil(2);
    while chunk > 0 {
        let mut i = 0;
        while i < best.len() {
            if Instant::now() >= deadline {
                return best;
            }
            let mut cand = best.clone();
            cand.drain(i..(i + chunk).min(best.len()));
            if run_one(check, &cand).is_some_and(|m| site(&m) == want) {
                best = cand;
            } else {
                i += chunk;
            }
        }
        chunk /= 2;
    }
    best
}

/// The contents of each path: a file, or every file directly inside a directory
/// (libFuzzer corpora are flat), in name order.
pub fn read_inputs(paths: &[PathBuf]) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            files.retain(|f| f.is_file());
            files.sort();
            for f in files {
                let data = std::fs::read(&f)?;
                out.push((f, data));
            }
        } else {
            out.push((p.clone(), std::fs::read(p)?));
        }
    }
    Ok(out)
}

/// Runs `target` once on each input in `paths` (see [`read_inputs`]) with the
/// usual panic hook, so failures print as usual (RUST_BACKTRACE=1 for a backtrace);
/// prints one line per input and returns how many failed.
pub fn replay(target: &Target, paths: &[PathBuf]) -> std::io::Result<usize> {
    let inputs = read_inputs(paths)?;
    let mut failed = 0;
    for (path, data) in &inputs {
        let ok = panic::catch_unwind(|| (target.check)(data)).is_ok();
        let verdict = if ok { "ok" } else { "FAILED" };
        println!("{}: {verdict} ({} bytes)", path.display(), data.len());
        failed += usize::from(!ok);
    }
    println!(
        "== {}: {failed} of {} inputs failed",
        target.name,
        inputs.len()
    );
    Ok(failed)
}

/// Writes `data` to `dir/<prefix>-<hash>` (creating `dir`); returns the path.
pub fn save(dir: &Path, prefix: &str, data: &[u8]) -> std::io::Result<PathBuf> {
    // FNV-1a: names are stable for the same bytes, so a re-found failure overwrites.
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{prefix}-{hash:016x}"));
    std::fs::write(&path, data)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs;

    fn seeded(name: &str, runs: u64) {
        let t = crate::target(name).unwrap();
        let opts = Options {
            duration: None,
            runs: Some(runs),
            seed: 0x5EED,
            ..Options::default()
        };
        let r = fuzz(t, &opts);
        if let Some(f) = r.failure {
            panic!(
                "{name} failed after {} runs: {}\nminimized input: b\"{}\"",
                r.runs,
                f.message,
                f.minimized.escape_ascii()
            );
        }
        assert_eq!(r.runs, runs);
    }

    // The fuzz targets on a fixed set of random inputs: an ordinary, deterministic
    // test of their properties (scripts/fuzz.sh --stable runs them for longer).
    #[test]
    fn parser_seeded() {
        seeded("parser", 3000);
    }

    #[test]
    fn dict_seeded() {
        seeded("dict", 300);
    }

    #[test]
    fn rdb_seeded() {
        seeded("rdb", 2000);
    }

    fn planted(data: &[u8]) {
        assert!(!data.windows(3).any(|w| w == b"bug"), "planted bug");
    }

    fn letters(rng: &mut Rng, out: &mut Vec<u8>) {
        out.extend((0..rng.size(200)).map(|_| b'a' + rng.below(26) as u8));
    }

    /// The driver catches a failure, and the minimizer reduces it to its core.
    #[test]
    fn finds_and_minimizes_a_planted_bug() {
        let t = Target {
            name: "planted",
            check: planted,
            generate: letters,
            tokens: &[b"bug"],
        };
        let opts = Options {
            duration: Some(Duration::from_secs(20)),
            ..Options::default()
        };
        let f = fuzz(&t, &opts).failure.expect("planted bug not found");
        assert!(f.message.contains("planted bug"), "{}", f.message);
        assert!(f.message.contains("driver.rs"), "{}", f.message);
        assert_eq!(f.minimized, b"bug");
    }

    /// The rdb generator's payloads and files get past the checksum to the decoder:
    /// many load (a damaged file still loads its keys up to the damage), values of
    /// every type byte restore, many inputs fail inside it, in a spread of ways.
    #[test]
    fn rdb_inputs_reach_values_and_errors() {
        use corekv::store::Entry;
        use corekv::store::rdb::{self, RdbError, Sink};
        struct Count(usize);
        impl Sink for Count {
            fn want(&mut self, _: &[u8]) -> bool {
                true
            }
            fn put(&mut self, _: usize, _: Vec<u8>, _: Entry) -> Result<(), RdbError> {
                self.0 += 1;
                Ok(())
            }
        }
        let mut rng = Rng::new(1);
        let (mut values, mut files, mut keys) = (0, 0, 0);
        let mut errors = std::collections::BTreeSet::new();
        let mut types = std::collections::BTreeSet::new();
        let n = 2000;
        for _ in 0..n {
            let mut input = Vec::new();
            inputs::rdb_input(&mut rng, &mut input);
            let r = if input.starts_with(b"REDIS") {
                let mut c = Count(0);
                let r = rdb::load_file(&input, 0, &mut c).map(|_| ());
                files += usize::from(r.is_ok());
                keys += c.0;
                r
            } else {
                let r = rdb::restore_payload(&input);
                if let Ok(Some(_)) = r {
                    values += 1;
                    types.insert(input[0]);
                }
                r.map(|_| ())
            };
            if let Err(e) = r {
                // Group "unknown value type 77" and the like by their fixed part.
                let e = e.to_string();
                let e = e.trim_end_matches(|c: char| c.is_ascii_digit() || c == ' ');
                errors.insert(e.split('(').next().unwrap().to_string());
            }
        }
        assert!(values * 10 > n, "only {values}/{n} inputs restore a value");
        assert!(files * 20 > n, "only {files}/{n} inputs load as a file");
        assert!(keys > n, "only {keys} keys loaded from {n} inputs");
        // Every value type and encoding, plain and packed, restores somewhere.
        let every: std::collections::BTreeSet<u8> =
            [0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14, 16, 17, 18, 20].into();
        assert_eq!(
            every.difference(&types).collect::<Vec<_>>(),
            Vec::<&u8>::new(),
            "value types never restored"
        );
        for want in [
            "Unexpected EOF reading RDB file",
            "Bad RDB format: packed value",
            "Bad RDB format: invalid LZF compressed string",
            "Bad RDB format: duplicate",
            "Bad RDB format: unknown value type",
            "Bad RDB format: invalid zset score",
            "Bad RDB format: zset with NAN score detected",
            "Bad RDB format: bytes after the end-of-file marker",
            "Wrong RDB checksum",
            "Can't handle RDB format version",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "no input hit {want:?}; got {errors:#?}"
            );
        }
    }

    /// The parser generator reaches both complete commands and each kind of error;
    /// blind random bytes would mostly produce neither.
    #[test]
    fn parser_inputs_reach_commands_and_errors() {
        use bytes::BytesMut;
        use corekv::protocol::Parser;
        let mut rng = Rng::new(1);
        let (mut with_cmds, mut with_err) = (0, 0);
        let mut errors = std::collections::BTreeSet::new();
        let n = 3000;
        for _ in 0..n {
            let mut input = Vec::new();
            inputs::parser_input(&mut rng, &mut input);
            let mut buf = BytesMut::from(&input[1..]);
            let mut cmds = Vec::new();
            let r = Parser::default().parse(&mut buf, &mut cmds);
            with_cmds += usize::from(!cmds.is_empty());
            if let Err(e) = r {
                with_err += 1;
                // Group "expected '$', got 'x'" by its fixed part.
                errors.insert(e.0.split(',').next().unwrap().to_string());
            }
        }
        assert!(
            with_cmds * 2 > n,
            "only {with_cmds}/{n} inputs parse to a command"
        );
        assert!(with_err * 10 > n, "only {with_err}/{n} inputs hit an error");
        for want in [
            "invalid multibulk length",
            "invalid bulk length",
            "expected '$'",
            "unbalanced quotes in request",
            "too big mbulk count string",
            "too big bulk count string",
            "too big inline request",
        ] {
            assert!(
                errors.contains(want),
                "no input hit {want:?}; got {errors:?}"
            );
        }
    }
}
