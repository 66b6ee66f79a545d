//! MONITOR: every command a client runs, from every shard, as a line to each
//! monitoring client. A shard keeps its own monitors; `Globals::monitors`
//! counts them per shard, so a command costs one atomic load while nobody
//! monitors, and one message per shard with a monitor otherwise.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::Shard;

impl Shard {
    /// Whether any client of any shard is monitoring.
    #[inline]
    pub fn monitored(&self) -> bool {
        self.globals.monitors_total.load(Ordering::Relaxed) > 0
    }

    /// Makes client `id` of this shard a monitor.
    pub fn add_monitor(&self, id: u64) {
        self.monitors.borrow_mut().push(id);
        self.globals.monitors[self.id].fetch_add(1, Ordering::Relaxed);
        self.globals.monitors_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Undoes [`add_monitor`](Self::add_monitor).
    pub fn remove_monitor(&self, id: u64) {
        let mut m = self.monitors.borrow_mut();
        let before = m.len();
        m.retain(|&x| x != id);
        if m.len() < before {
            self.globals.monitors[self.id].fetch_sub(1, Ordering::Relaxed);
            self.globals.monitors_total.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Sends `line` (a whole `+...\r\n` frame) to every monitor of every shard.
    pub async fn feed_monitors(&self, line: Bytes) {
        let targets: Vec<usize> = (0..self.nshards)
            .filter(|&s| self.globals.monitors[s].load(Ordering::Relaxed) > 0)
            .collect();
        for s in targets {
            if s == self.id {
                self.write_to_monitors(&line);
            } else {
                let l = line.clone();
                self.run_now(s, move |sh| sh.write_to_monitors(&l)).await;
            }
        }
    }

    fn write_to_monitors(&self, line: &[u8]) {
        let clients = self.clients.borrow();
        for id in self.monitors.borrow().iter() {
            if let Some(ci) = clients.get(id) {
                ci.outbox.raw(ci, line);
            }
        }
    }
}

/// A MONITOR line for `argv` run by a client of `addr` in `db` at `now`
/// (µs since the epoch): `+<s>.<µs> [<db> <addr>] "arg" ...`, each argument
/// quoted and escaped as Redis's `sdscatrepr` does.
pub fn monitor_line(now_us: u64, db: u8, addr: &str, argv: &[Bytes]) -> Bytes {
    let mut out = format!(
        "+{}.{:06} [{} {}]",
        now_us / 1_000_000,
        now_us % 1_000_000,
        db,
        addr
    )
    .into_bytes();
    for a in argv {
        out.extend_from_slice(b" \"");
        for &b in a.iter() {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'"' => out.extend_from_slice(b"\\\""),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                7 => out.extend_from_slice(b"\\a"),
                8 => out.extend_from_slice(b"\\b"),
                b if b.is_ascii_graphic() || b == b' ' => out.push(b),
                b => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            }
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_escape_as_sdscatrepr() {
        let argv = [
            Bytes::from_static(b"set"),
            Bytes::from_static(b"k"),
            Bytes::from_static(b"a b\"c\nd\x01\\"),
        ];
        assert_eq!(
            &monitor_line(1_796_228_097_000_123, 3, "127.0.0.1:5", &argv)[..],
            &b"+1796228097.000123 [3 127.0.0.1:5] \"set\" \"k\" \"a b\\\"c\\nd\\x01\\\\\"\r\n"[..]
        );
    }
}
