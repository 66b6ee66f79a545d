//! Running a command on the shard that owns its keys: the `Exec` a shard
//! handler gets, and the table's specs as the shard's [`ShardCmd`].

use bytes::{Bytes, BytesMut};

use super::args::Args;
use super::table::{CommandSpec, Handler, ks};
use crate::protocol::{Proto, Reply};
use crate::shard::{Shard, ShardCmd, Stats};
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

impl ShardCmd for CommandSpec {
    fn run(&self, shard: &Shard, db: u8, proto: Proto, argv: &[Bytes], out: &mut BytesMut) {
        {
            let mut store = shard.store.borrow_mut();
            let now = crate::store::now_ms();
            crate::store::set_clock(now);
            let mut ex = Exec {
                store: &mut store,
                shards: (shard.id, shard.nshards),
                stats: &shard.stats,
                db: db as usize,
                now,
                reply: Reply::new(out, proto),
            };
            run_in(self, &mut ex, argv);
        }
        shard.after_work();
    }

    fn keys(&self, argv: &[Bytes], f: &mut dyn FnMut(&Bytes, bool)) {
        self.for_each_key(argv, |i, flags| f(&argv[i], !ks::read_only(flags)));
    }
}
