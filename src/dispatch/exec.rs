//! Running a command on the shard that owns its keys: the `Exec` a shard
//! handler gets, and the table's specs as the shard's [`ShardCmd`].

use bytes::{Bytes, BytesMut};

use super::args::Args;
use super::table::{CommandSpec, Handler, ks};
use crate::protocol::{Proto, Reply};
use crate::shard::{Shard, ShardCmd, Stats, journal};
use crate::store::{Db, Store};

/// What a shard handler gets: this shard's store, the client's db, the time the
/// command started (expiry is judged against one instant per command, as Redis
/// does) and the reply writer.
pub struct Exec<'a> {
    pub store: &'a mut Store,
    /// (this shard, number of shards): for commands whose arguments may name
    /// keys of other shards (SORT's BY/GET patterns).
    pub shards: (usize, usize),
    pub stats: &'a Stats,
    pub db: usize,
    pub now: u64,
    pub reply: Reply<'a>,
}

impl Exec<'_> {
    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.store.dbs[self.db]
    }

    /// Counts a read hit or miss for INFO's keyspace_hits/misses.
    pub fn hit(&self, found: bool) {
        let s = self.stats;
        Stats::add(if found { &s.hits } else { &s.misses }, 1);
    }
}

/// Runs `spec`'s shard handler in `ex` and writes its reply (or error).
/// `argv[0]` is the command name (and `argv[1]` the subcommand of a container).
pub fn run_in(spec: &CommandSpec, ex: &mut Exec, argv: &[Bytes]) {
    let Handler::Shard(f) = spec.handler else {
        ex.reply.error("ERR internal routing error");
        return;
    };
    // Subcommands (OBJECT ENCODING ...) see their arguments after the subcommand.
    let skip = if spec.name.contains('|') { 2 } else { 1 };
    let mut args = Args::new(&argv[skip.min(argv.len())..]);
    if let Err(e) = f(ex, &mut args) {
        ex.reply.error(&e.message());
    }
}

/// [`run_in`] on a real store (not a coordinator's scratch copy): what the
/// command wrote goes to the journal, at this shard's place in it.
#[inline]
pub fn run_journaled(spec: &CommandSpec, ex: &mut Exec, argv: &[Bytes]) {
    if !journal::on() {
        run_in(spec, ex, argv);
        return;
    }
    let before = crate::store::notify::dirty();
    run_in(spec, ex, argv);
    let wrote = crate::store::notify::dirty() != before;
    if wrote && let Some(cmds) = replay_form(spec.name, argv, ex) {
        journal::propagate_as(cmds);
    }
    journal::command_ran(ex.db, argv, wrote);
}

/// What replays a command that wrote, when the command itself would not
/// replay the same (Redis's rewrites): read from the key as it now is, so
/// one rule covers every way the command can be spelled.
/// - relative or optional expiries (SET EX, SETEX, GETEX, EXPIRE...) become
///   `SET key value PXAT t`, `PEXPIREAT key t`, `PERSIST key`, or `DEL key`
///   when the key is gone;
/// - GETDEL is `DEL`; INCRBYFLOAT and HINCRBYFLOAT store the value they
///   computed (`SET ... KEEPTTL`, `HSET`); RESTORE gets an absolute TTL.
fn replay_form(name: &str, argv: &[Bytes], ex: &mut Exec) -> Option<Vec<Vec<Bytes>>> {
    let b = Bytes::from_static;
    let key = argv.get(1)?.clone();
    let now = ex.now;
    let (value, expire_at) = match ex.db().peek(&key, now) {
        None => (None, 0),
        Some(e) => (
            e.value.as_str().map(|v| Bytes::copy_from_slice(v)),
            e.expire_at,
        ),
    };
    let gone = || Some(vec![vec![b(b"DEL"), key.clone()]]);
    let at = |t: u64| Bytes::from(t.to_string());
    match name {
        "set" | "setex" | "psetex" => {
            let timed = name != "set"
                || argv[3..].iter().any(|a| {
                    ["ex", "px", "exat", "pxat"]
                        .iter()
                        .any(|o| a.eq_ignore_ascii_case(o.as_bytes()))
                });
            if !timed {
                return None;
            }
            match value {
                None => gone(),
                Some(v) if expire_at != 0 => {
                    Some(vec![vec![b(b"SET"), key, v, b(b"PXAT"), at(expire_at)]])
                }
                Some(v) => Some(vec![vec![b(b"SET"), key, v]]),
            }
        }
        "getex" | "expire" | "pexpire" | "expireat" | "pexpireat" => {
            if ex.db().peek(&key, now).is_none() {
                return gone();
            }
            Some(vec![if expire_at != 0 {
                vec![b(b"PEXPIREAT"), key, at(expire_at)]
            } else {
                vec![b(b"PERSIST"), key]
            }])
        }
        "getdel" => gone(),
        "incrbyfloat" => Some(vec![vec![b(b"SET"), key, value?, b(b"KEEPTTL")]]),
        "hincrbyfloat" => {
            let field = argv.get(2)?;
            let e = ex.db().peek(&key, now)?;
            let crate::store::Value::Hash(h) = &e.value else {
                return None;
            };
            let v = Bytes::copy_from_slice(h.get(field)?);
            Some(vec![vec![b(b"HSET"), key, field.clone(), v]])
        }
        "restore" => {
            if ex.db().peek(&key, now).is_none() {
                return gone();
            }
            let mut cmd = argv.to_vec();
            cmd[2] = at(expire_at);
            if expire_at != 0 && !argv[4..].iter().any(|a| a.eq_ignore_ascii_case(b"absttl")) {
                cmd.push(b(b"ABSTTL"));
            }
            Some(vec![cmd])
        }
        _ => None,
    }
}

impl Exec<'_> {
    /// Journals `cmds` instead of the running command (see
    /// `journal::propagate_as`): for what would not replay the same.
    pub fn propagate_as(&self, cmds: Vec<Vec<Bytes>>) {
        journal::propagate_as(cmds);
    }
}

impl ShardCmd for CommandSpec {
    fn run(&self, shard: &Shard, db: u8, proto: Proto, argv: &[Bytes], out: &mut BytesMut) {
        {
            let mut store = shard.store.borrow_mut();
            let now = crate::shard::script::command_time();
            crate::store::set_clock(now);
            let started = std::time::Instant::now();
            let mark = out.len();
            let mut ex = Exec {
                store: &mut store,
                shards: (shard.id, shard.nshards),
                stats: &shard.stats,
                db: db as usize,
                now,
                reply: Reply::new(out, proto),
            };
            run_journaled(self, &mut ex, argv);
            super::stats::ran(self, started, out.get(mark) == Some(&b'-'));
        }
        shard.after_work();
    }

    fn keys(&self, argv: &[Bytes], f: &mut dyn FnMut(&Bytes, bool)) {
        self.for_each_key(argv, |i, flags| f(&argv[i], !ks::read_only(flags)));
    }
}
