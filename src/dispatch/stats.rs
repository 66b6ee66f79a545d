//! Per-command statistics: calls, time, rejected and failed calls, and a
//! latency histogram (INFO commandstats and latencystats), kept per shard
//! thread and summed by INFO. A command is counted where it runs: a shard
//! command in `ShardCmd::run`, a multi-shard one by its coordinator, a
//! connection command in `route::run_conn`.

use std::cell::RefCell;
use std::time::Instant;

use fxhash::FxHashMap;

use super::table::CommandSpec;

/// Latency buckets: four per power of two of microseconds.
const BUCKETS: usize = 4 * 40;

#[derive(Clone)]
pub struct CmdStat {
    pub name: &'static str,
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
    hist: Box<[u32; BUCKETS]>,
}

impl CmdStat {
    fn new(name: &'static str) -> CmdStat {
        CmdStat {
            name,
            calls: 0,
            usec: 0,
            rejected: 0,
            failed: 0,
            hist: Box::new([0; BUCKETS]),
        }
    }

    /// Adds another shard's counts.
    pub fn merge(&mut self, o: &CmdStat) {
        self.calls += o.calls;
        self.usec += o.usec;
        self.rejected += o.rejected;
        self.failed += o.failed;
        for (a, b) in self.hist.iter_mut().zip(o.hist.iter()) {
            *a += b;
        }
    }

    /// The latency (µs) under which `p` percent of the calls ran: the upper
    /// edge of the bucket that reaches it.
    pub fn percentile(&self, p: f64) -> f64 {
        let total: u64 = self.hist.iter().map(|&n| n as u64).sum();
        if total == 0 {
            return 0.0;
        }
        let want = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &n) in self.hist.iter().enumerate() {
            seen += n as u64;
            if seen >= want {
                return bucket_top(i);
            }
        }
        bucket_top(BUCKETS - 1)
    }

    pub fn has_latency(&self) -> bool {
        self.hist.iter().any(|&n| n != 0)
    }
}

fn bucket(usec: u64) -> usize {
    let v = usec.max(1);
    let log = 63 - v.leading_zeros() as usize;
    let frac = if log >= 2 {
        ((v >> (log - 2)) & 3) as usize
    } else {
        ((v << (2 - log)) & 3) as usize
    };
    (log * 4 + frac).min(BUCKETS - 1)
}

fn bucket_top(i: usize) -> f64 {
    let log = i / 4;
    let frac = (i % 4) as f64;
    2f64.powi(log as i32) * (1.0 + (frac + 1.0) / 4.0)
}

thread_local! {
    /// By the command name's address (names are `'static`).
    static STATS: RefCell<FxHashMap<usize, CmdStat>> = RefCell::new(FxHashMap::default());
}

fn with(name: &'static str, f: impl FnOnce(&mut CmdStat)) {
    STATS.with(|s| {
        let mut s = s.borrow_mut();
        let e = s
            .entry(name.as_ptr() as usize)
            .or_insert_with(|| CmdStat::new(name));
        f(e);
    });
}

/// A command ran since `started`; `failed`: it answered an error.
#[inline]
pub fn ran(spec: &CommandSpec, started: Instant, failed: bool) {
    let usec = started.elapsed().as_micros() as u64;
    with(spec.name, |e| {
        e.calls += 1;
        e.usec += usec;
        e.failed += failed as u64;
        e.hist[bucket(usec)] += 1;
    });
}

/// A command refused before it ran (arity, auth, -BUSY, -LOADING...).
pub fn rejected(spec: &CommandSpec) {
    with(spec.name, |e| e.rejected += 1);
}

/// This thread's statistics.
pub fn snapshot() -> Vec<CmdStat> {
    STATS.with(|s| s.borrow().values().cloned().collect())
}

/// CONFIG RESETSTAT.
pub fn reset() {
    STATS.with(|s| s.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_cover_their_values() {
        let mut last = 0;
        for v in 1..100_000u64 {
            let b = bucket(v);
            assert!(b >= last);
            last = b;
            assert!(
                bucket_top(b) >= v as f64,
                "{v} in bucket {b} ({})",
                bucket_top(b)
            );
        }
    }
}
