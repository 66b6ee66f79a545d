//! The stable fuzz driver's command line (`scripts/fuzz.sh --stable` runs it).
//! It is an example rather than a binary so that cargo-fuzz, which builds every
//! `[[bin]]` with its sanitizer flags, leaves it alone.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use corekv_fuzz::driver::{self, Options};
use corekv_fuzz::{TARGETS, Target};

const USAGE: &str = "\
Usage: random [OPTIONS] [TARGET...]     fuzz each TARGET in turn (default: all)
       random --replay TARGET PATH...   run TARGET once on each file (or each file
                                        in a directory), e.g. a crash reproducer
       random --list                    list the targets

Options:
  --seconds S      time per target (default 30; 0: no limit, then give --runs)
  --runs N         stop each target after N inputs
  --seed N         PRNG seed, decimal or 0x hex (default: from the clock)
  --jobs N         worker threads per target (default 1)
  --corpus DIR     also mutate the inputs in DIR/<target>/ when it exists
                   (scripts/fuzz.sh passes fuzz/corpus, the libFuzzer corpora)
  --artifacts DIR  save failing inputs under DIR/<target>/
  --max-len N      cut inputs to N bytes (default 131072)

Exit status: 0 no failure, 1 a target failed, 2 usage or I/O error.";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn target(name: &str) -> Result<&'static Target, String> {
    corekv_fuzz::target(name).ok_or_else(|| {
        let names: Vec<_> = TARGETS.iter().map(|t| t.name).collect();
        format!("unknown target {name:?} (targets: {})", names.join(", "))
    })
}

fn number(flag: &str, v: Option<String>) -> Result<u64, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.map_err(|_| format!("{flag}: not a number: {v:?}"))
}

fn run(args: Vec<String>) -> Result<ExitCode, String> {
    let mut opts = Options {
        seed: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        ..Options::default()
    };
    let (mut corpus, mut artifacts) = (None::<PathBuf>, None::<PathBuf>);
    let mut names = Vec::new();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            "--list" => {
                for t in TARGETS {
                    println!("{}", t.name);
                }
                return Ok(ExitCode::SUCCESS);
            }
            "--replay" => {
                let t = target(&args.next().ok_or("--replay needs a target")?)?;
                let paths: Vec<PathBuf> = args.map(PathBuf::from).collect();
                if paths.is_empty() {
                    return Err("--replay needs at least one file".into());
                }
                let failed = driver::replay(t, &paths).map_err(|e| e.to_string())?;
                return Ok(if failed > 0 {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                });
            }
            "--seconds" => {
                let s = number(&a, args.next())?;
                opts.duration = (s > 0).then(|| Duration::from_secs(s));
            }
            "--runs" => opts.runs = Some(number(&a, args.next())?),
            "--seed" => opts.seed = number(&a, args.next())?,
            "--jobs" => opts.jobs = number(&a, args.next())?.max(1) as usize,
            "--max-len" => opts.max_len = number(&a, args.next())? as usize,
            "--corpus" => corpus = Some(args.next().ok_or("--corpus needs a directory")?.into()),
            "--artifacts" => {
                artifacts = Some(args.next().ok_or("--artifacts needs a directory")?.into())
            }
            _ if a.starts_with('-') => return Err(format!("unknown option {a:?}")),
            _ => names.push(target(&a)?),
        }
    }
    if opts.duration.is_none() && opts.runs.is_none() {
        return Err("--seconds 0 needs --runs".into());
    }
    if names.is_empty() {
        names = TARGETS.iter().collect();
    }

    let mut failed = false;
    for t in names {
        let mut o = opts.clone();
        if let Some(dir) = corpus
            .as_ref()
            .map(|c| c.join(t.name))
            .filter(|d| d.is_dir())
        {
            let inputs = driver::read_inputs(std::slice::from_ref(&dir))
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            println!(
                "== {}: {} corpus inputs from {}",
                t.name,
                inputs.len(),
                dir.display()
            );
            o.corpus = inputs.into_iter().map(|(_, d)| d).collect();
        }
        let limit = match (o.duration, o.runs) {
            (Some(d), Some(r)) => format!("{}s or {r} runs", d.as_secs()),
            (Some(d), None) => format!("{}s", d.as_secs()),
            (None, Some(r)) => format!("{r} runs"),
            (None, None) => unreachable!(),
        };
        println!(
            "== {}: {limit}, {} job(s), seed {:#x}",
            t.name, o.jobs, o.seed
        );
        let r = driver::fuzz(t, &o);
        let secs = r.elapsed.as_secs_f64();
        let rate = r.runs as f64 / secs.max(1e-9);
        let Some(f) = r.failure else {
            println!(
                "== {}: OK, {} runs in {secs:.1}s ({rate:.0}/s), no failure",
                t.name, r.runs
            );
            continue;
        };
        failed = true;
        eprintln!(
            "!! {}: FAILED after {} passing inputs (seed {:#x}, job {}):\n{}",
            t.name, r.runs, o.seed, f.job, f.message
        );
        eprintln!("   input ({} bytes): {}", f.input.len(), preview(&f.input));
        eprintln!(
            "   minimized ({} bytes): {}",
            f.minimized.len(),
            preview(&f.minimized)
        );
        if let Some(dir) = &artifacts {
            let dir = dir.join(t.name);
            let crash = driver::save(&dir, "crash", &f.input);
            let min = driver::save(&dir, "minimized", &f.minimized);
            match (crash, min) {
                (Ok(crash), Ok(min)) => {
                    eprintln!("   saved: {} and {}", crash.display(), min.display());
                    eprintln!(
                        "   replay: scripts/fuzz.sh --replay {} {}",
                        t.name,
                        min.display()
                    );
                }
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("   could not save to {}: {e}", dir.display())
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The input as an escaped byte string, cut to a readable length.
fn preview(data: &[u8]) -> String {
    const MAX: usize = 400;
    let shown = &data[..data.len().min(MAX)];
    let more = if data.len() > MAX {
        format!("... ({} more bytes)", data.len() - MAX)
    } else {
        String::new()
    };
    format!("b\"{}\"{more}", shown.escape_ascii())
}
