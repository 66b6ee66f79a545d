//! Routing: where each command of a pipeline runs, and the pipeline itself.
//!
//! Each read's pipeline is split by owner shard: commands for this shard run
//! inline, the others go out as one [`Batch`] message per owner shard, and the
//! replies are stitched back together in the client's order. Commands that need
//! the client (connection state, multi-shard coordination) are barriers: the
//! batch before them is flushed first.

use bytes::{Bytes, BytesMut};

use super::args::CmdError;
use super::client::Client;
use super::coord::{self, KeyGroups};
use super::table::{self, CommandSpec, Handler, Multi, flag, ks};
use super::unknown_command_error;
use crate::protocol::{Proto, Reply};
use crate::shard::locks::{LockKey, LockSet};
use crate::shard::{Batch, BatchOut, Req, ShardCmd, Stats};

/// Where one command of a pipeline runs.
enum Route {
    Shard(usize, &'static CommandSpec),
    Conn(&'static CommandSpec),
    /// Keys on several shards: the row's coordination, with the keys grouped.
    Multi(&'static CommandSpec, KeyGroups),
}

/// A command queued between MULTI and EXEC, with the route found when it was
/// queued (so EXEC does not hash its keys again).
pub struct Queued {
    route: Route,
    argv: Vec<Bytes>,
}

/// Commands of one pipeline read waiting to be sent to their shards.
#[derive(Default)]
struct Pending {
    per_shard: Vec<Vec<(&'static dyn ShardCmd, Vec<Bytes>)>>,
    order: Vec<Option<usize>>,
    ready: Vec<Bytes>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Pending output past which the rest of a read's commands wait until what is
/// there has been written: replies in memory stay bounded however many big
/// replies one packet asks for.
pub const OUT_HIGH_WATER: usize = 1 << 20;

/// Commands sent to other shards before their replies are collected, at most.
const MAX_PENDING: usize = 256;
const REPLAY_MAX_PENDING: usize = 8192;

/// Runs a read's worth of commands, appending every reply to `c.out` in order.
/// Stops early, leaving the rest in `cmds`, once `c.out` holds
/// [`OUT_HIGH_WATER`] bytes; the connection writes them out and calls again.
pub async fn execute(c: &mut Client, cmds: &mut Vec<Vec<Bytes>>) {
    let journaled = crate::shard::journal::on().then(crate::shard::journal::appended);
    // The AOF loader sends far bigger batches: one hop per shard covers more.
    let max_pending = if c.replaying {
        REPLAY_MAX_PENDING
    } else {
        MAX_PENDING
    };
    let mut pending = Pending::default();
    let mut done = 0;
    while done < cmds.len() {
        if c.quit {
            done = cmds.len();
            break;
        }
        if c.out.len() >= OUT_HIGH_WATER {
            break;
        }
        let argv = std::mem::take(&mut cmds[done]);
        done += 1;
        if c.reply_off || c.reply_skip_next {
            flush(c, &mut pending).await;
            without_reply(c, argv).await;
            continue;
        }
        if pending.order.len() >= max_pending {
            flush(c, &mut pending).await;
        }
        one(c, &mut pending, argv).await;
    }
    cmds.drain(..done);
    flush(c, &mut pending).await;
    if let Some(before) = journaled {
        after_journaled(before).await;
    }
}

/// The journal grew while this read ran: the AOF writer is woken, and
/// under `appendfsync always` the replies wait until it is on disk (one
/// fsync covers every connection's writes meanwhile: group commit).
async fn after_journaled(before: u64) {
    use crate::shard::journal;
    let now = journal::appended();
    if now > before {
        journal::poke();
        if journal::always() {
            journal::durable(now).await;
        }
    }
}

/// A command under CLIENT REPLY OFF or SKIP: run alone, then its reply is
/// dropped unless the command itself turned replies back on.
async fn without_reply(c: &mut Client, argv: Vec<Bytes>) {
    c.reply_skip = std::mem::take(&mut c.reply_skip_next);
    c.output_is_push = false;
    let mark = c.out.len();
    let mut pending = Pending::default();
    one(c, &mut pending, argv).await;
    flush(c, &mut pending).await;
    if (c.reply_off || c.reply_skip) && !c.output_is_push {
        c.out.truncate(mark);
    }
    c.reply_skip = false;
    c.output_is_push = false;
}

/// Routes and runs (or queues, for a shard batch) one command.
async fn one(c: &mut Client, pending: &mut Pending, argv: Vec<Bytes>) {
    Stats::add(&c.shard.stats.commands, 1);
    crate::store::notify::set_caller(c.info.id);
    if c.shard.globals.paused().is_some() {
        flush(c, pending).await;
        wait_out_pause(c, &argv).await;
    }
    if c.shard.tracking_over_limit() {
        flush(c, pending).await;
        c.shard.limit_tracked_everywhere().await;
        // As Redis: those invalidations go out before this command's reply.
        let info = c.info.clone();
        info.outbox.drain_into(&mut c.out);
    }
    if c.multi.is_some() && !controls_transaction(&argv[0]) {
        queue(c, argv);
        return;
    }
    match route(c, &argv) {
        Err(e) => {
            note_rejected(&argv);
            if pending.is_empty() {
                c.error(&e);
            } else {
                pending.ready.push(rendered(&e, c.proto));
                pending.order.push(None);
            }
        }
        Ok(Route::Shard(s, spec)) => {
            c.info.last_cmd.set(spec.name);
            if c.shard.monitored() {
                c.feed_monitors(spec, &argv).await;
            }
            if c.info.tracking.flags.get() != 0 {
                c.track_reads(spec, &argv).await;
            }
            if pending.is_empty() && s == c.shard.id {
                c.shard
                    .run_local(spec, argv, c.db, c.proto, &mut c.out)
                    .await;
            } else {
                if pending.per_shard.is_empty() {
                    pending.per_shard = (0..c.shard.nshards).map(|_| Vec::new()).collect();
                }
                pending.per_shard[s].push((spec, argv));
                pending.order.push(Some(s));
            }
        }
        Ok(Route::Conn(spec)) => {
            flush(c, pending).await;
            c.info.last_cmd.set(spec.name);
            if c.info.tracking.flags.get() != 0 {
                c.track_reads(spec, &argv).await;
            }
            if spec.has(flag::SKIP_MONITOR) {
                c.feed_monitors_as(spec, &argv, &c.info.addr).await;
            }
            run_conn(c, spec, &argv).await;
            if c.shard.monitored() {
                c.feed_monitors(spec, &argv).await;
            }
        }
        Ok(Route::Multi(spec, groups)) => {
            flush(c, pending).await;
            c.info.last_cmd.set(spec.name);
            if c.info.tracking.flags.get() != 0 {
                c.track_reads(spec, &argv).await;
            }
            if let Err(e) = coord::run_multi(c, spec, &argv, groups).await {
                c.error(&e);
            }
            if c.shard.monitored() {
                c.feed_monitors(spec, &argv).await;
            }
        }
    }
}

/// CLIENT PAUSE: a command it holds back waits (counted as a blocked client)
/// until the pause ends. Commands that fail their checks are answered at once;
/// EXEC waits under WRITE when its queue may write.
async fn wait_out_pause(c: &mut Client, argv: &[Bytes]) {
    let Some(mut spec) = table::lookup(&argv[0]) else {
        return;
    };
    if !spec.subcommands.is_empty() && argv.len() > 1 {
        match table::lookup_sub(spec, &argv[1]) {
            Some(s) => spec = s,
            None => return,
        }
    }
    if !spec.arity_ok(argv.len()) {
        return;
    }
    let writes = |s: &CommandSpec| s.has(flag::WRITE) || s.has(flag::MAY_REPLICATE);
    let may_write = writes(spec)
        || (spec.name == "exec"
            && c.multi.as_ref().is_some_and(|q| {
                q.iter().any(|x| {
                    let (Route::Shard(_, s) | Route::Conn(s) | Route::Multi(s, _)) = &x.route;
                    writes(s)
                })
            }));
    let held = |c: &Client| match c.shard.globals.paused() {
        Some(crate::shard::globals::PAUSE_ALL) => true,
        Some(_) => may_write,
        None => false,
    };
    if !held(c) {
        return;
    }
    let _blocked = c.shard.block(&c.info);
    while held(c) && !c.info.killed.get() && !c.info.peer.gone() {
        glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// An error reply as bytes, to be placed in pipeline order later.
fn rendered(e: &CmdError, proto: Proto) -> Bytes {
    let mut b = BytesMut::new();
    Reply::new(&mut b, proto).error(&e.message());
    b.freeze()
}

/// Commands that act at once even between MULTI and EXEC.
fn controls_transaction(name: &[u8]) -> bool {
    ["exec", "discard", "multi", "watch", "quit", "reset"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// Queues a command for EXEC after the checks Redis makes when queueing (unknown
/// command, arity, auth, not allowed in MULTI); a refused command dooms the EXEC.
fn queue(c: &mut Client, argv: Vec<Bytes>) {
    let route = match route(c, &argv) {
        Err(e) => {
            note_rejected(&argv);
            c.multi_dirty = true;
            c.error(&e);
            return;
        }
        Ok(r) => r,
    };
    let (Route::Shard(_, spec) | Route::Conn(spec) | Route::Multi(spec, _)) = route;
    if spec.has(flag::NO_MULTI) {
        c.multi_dirty = true;
        c.reply()
            .error("ERR Command not allowed inside a transaction");
        return;
    }
    if let Some(q) = c.multi.as_mut() {
        q.push(Queued { route, argv });
    }
    c.reply().simple("QUEUED");
}

/// Runs EXEC's queued commands as one transaction: the keys they name (and
/// the watched ones) are locked for its whole duration, so no other client
/// observes any state between two of them (Redis's guarantee) while
/// commands on other keys go on. A queue whose keys cannot all be known
/// beforehand (scripts, whole-keyspace commands, blocking commands) locks
/// every shard instead. Consecutive commands for one shard run in one hop;
/// the others run as they would alone, their cross-shard steps reusing the
/// held locks (`Tx::begin`).
pub async fn run_exec(c: &mut Client, queued: Vec<Queued>) {
    let parts = exec_locks(c, &queued);
    let tx = crate::shard::tx::Tx::lock(&c.shard, parts, c.info.id).await;
    // With every key held, no write can slip between this check and the
    // queued commands.
    if c.watch
        .as_ref()
        .is_some_and(|w| w.broken(crate::store::now_ms()))
    {
        tx.release().await;
        c.reply().null_array();
        return;
    }
    c.exec_tx = Some(tx.id);
    c.reply().array(queued.len());
    let mut queued = queued.into_iter().peekable();
    while let Some(Queued { route, argv }) = queued.next() {
        let Route::Shard(s, spec) = route else {
            count_and_monitor(c, &route, &argv).await;
            run_in_tx(c, &tx, route, argv).await;
            continue;
        };
        let mut run = vec![(spec, argv)];
        while let Some(Queued {
            route: Route::Shard(next, _),
            ..
        }) = queued.peek()
            && *next == s
        {
            if let Some(Queued {
                route: Route::Shard(_, spec),
                argv,
            }) = queued.next()
            {
                run.push((spec, argv));
            }
        }
        for (spec, argv) in &run {
            count_and_monitor(c, &Route::Shard(s, spec), argv).await;
        }
        let (db, proto) = (c.db, c.proto);
        let out = tx
            .run(s, move |sh| {
                let mut b = BytesMut::new();
                for (spec, argv) in run {
                    spec.run(sh, db, proto, &argv, &mut b);
                }
                b.freeze()
            })
            .await;
        match out {
            Some(b) => c.out.extend_from_slice(&b),
            None => c.reply().error("ERR shard unavailable"),
        }
    }
    c.exec_tx = None;
    tx.release().await;
}

async fn count_and_monitor(c: &mut Client, route: &Route, argv: &[Bytes]) {
    Stats::add(&c.shard.stats.commands, 1);
    if c.shard.monitored() {
        let (Route::Shard(_, spec) | Route::Conn(spec) | Route::Multi(spec, _)) = route;
        c.feed_monitors_as(spec, argv, &c.info.addr).await;
    }
}

/// What EXEC locks: each queued command's keys on their shards (shared for
/// keys only read), and the watched keys (shared), following SELECTs in the
/// queue; every shard whole when a command's keys are not all known from
/// its arguments (a connection command that touches the keyspace, a
/// script, a keyless command that reads or writes the keyspace, SORT's
/// patterns).
fn exec_locks(c: &Client, queued: &[Queued]) -> Vec<(usize, LockSet)> {
    let every = || {
        (0..c.shard.nshards)
            .map(|s| (s, LockSet::Global))
            .collect::<Vec<_>>()
    };
    let touches_data = |spec: &CommandSpec| {
        spec.has(flag::READONLY | flag::WRITE | flag::MAY_REPLICATE) || spec.has_keys()
    };
    let mut db = c.db;
    let mut parts: Vec<(usize, Vec<(LockKey, bool)>)> = Vec::new();
    for Queued { route, argv } in queued {
        let spec = match route {
            Route::Shard(_, spec) | Route::Multi(spec, _) => *spec,
            Route::Conn(spec) if spec.name == "select" => {
                match crate::protocol::parse_i64(&argv[1]) {
                    Some(n) if (0..crate::store::NUM_DBS as i64).contains(&n) => db = n as u8,
                    _ => {}
                }
                continue;
            }
            Route::Conn(spec) if !touches_data(spec) => continue,
            Route::Conn(_) => return every(),
        };
        if !touches_data(spec) {
            continue;
        }
        if !spec.has_keys() || matches!(spec.name, "sort" | "sort_ro") {
            return every();
        }
        let mut keys = Vec::new();
        if !spec.for_each_key(argv, |pos, flags| keys.push((pos, flags))) {
            // Its bad key count is its own error; it touches nothing.
            continue;
        }
        for (pos, flags) in keys {
            let key = &argv[pos];
            add_key_lock(&mut parts, c.owner(key), db, key, !ks::read_only(flags));
        }
    }
    if let Some(w) = &c.watch {
        for (wdb, key) in w.keys() {
            add_key_lock(&mut parts, c.owner(key), *wdb, key, false);
        }
    }
    parts.sort_by_key(|(s, _)| *s);
    parts
        .into_iter()
        .map(|(s, keys)| (s, LockSet::Keys(keys)))
        .collect()
}

fn add_key_lock(
    parts: &mut Vec<(usize, Vec<(LockKey, bool)>)>,
    s: usize,
    db: u8,
    key: &Bytes,
    excl: bool,
) {
    let lk = LockKey {
        db,
        key: key.clone(),
    };
    match parts.iter_mut().find(|(x, _)| *x == s) {
        Some((_, v)) => v.push((lk, excl)),
        None => parts.push((s, vec![(lk, excl)])),
    }
}

/// Runs one routed command inside transaction `tx` (which holds every shard),
/// appending its reply to `c.out`: a command of EXEC or of a script.
async fn run_in_tx(c: &mut Client, tx: &crate::shard::tx::Tx, route: Route, argv: Vec<Bytes>) {
    match route {
        Route::Shard(s, spec) => {
            let (db, proto) = (c.db, c.proto);
            let out = tx
                .run(s, move |sh| {
                    let mut b = BytesMut::new();
                    spec.run(sh, db, proto, &argv, &mut b);
                    b.freeze()
                })
                .await;
            match out {
                Some(b) => c.out.extend_from_slice(&b),
                None => c.reply().error("ERR shard unavailable"),
            }
        }
        Route::Conn(spec) => run_conn(c, spec, &argv).await,
        Route::Multi(spec, groups) => {
            if let Err(e) = coord::run_multi(c, spec, &argv, groups).await {
                c.error(&e);
            }
        }
    }
}

/// A command a script calls (`redis.call`), found and checked before it runs.
pub struct ScriptCall {
    route: Route,
    argv: Vec<Bytes>,
}

impl ScriptCall {
    /// Looks the command up as Redis's `scriptCall` does: `Err` is the
    /// message for the script (without the error code's `-`).
    pub fn new(c: &Client, argv: Vec<Bytes>) -> Result<ScriptCall, String> {
        let Some(mut spec) = table::lookup(&argv[0]) else {
            return Err("ERR Unknown Redis command called from script".into());
        };
        if !spec.subcommands.is_empty() && argv.len() > 1 {
            match table::lookup_sub(spec, &argv[1]) {
                Some(sub) => spec = sub,
                None => return Err("ERR Unknown Redis command called from script".into()),
            }
        }
        if !spec.arity_ok(argv.len()) {
            return Err("ERR Wrong number of args calling Redis command from script".into());
        }
        if spec.has(flag::NOSCRIPT) && !crate::shard::script::deny_disabled() {
            return Err("ERR This Redis command is not allowed from script".into());
        }
        let route = match route_spec(c, spec, &argv) {
            Ok(r) => r,
            Err(e) => {
                let text = e.message();
                return Err(text.trim_start_matches('-').to_string());
            }
        };
        Ok(ScriptCall { route, argv })
    }

    pub fn spec(&self) -> &'static CommandSpec {
        let (Route::Shard(_, spec) | Route::Conn(spec) | Route::Multi(spec, _)) = &self.route;
        spec
    }

    /// Runs it inside the script's transaction; the reply is appended to
    /// `c.out` in `c.proto`.
    pub async fn run(self, c: &mut Client, tx: &crate::shard::tx::Tx) {
        Stats::add(&c.shard.stats.commands, 1);
        if c.shard.monitored() {
            c.feed_monitors_as(self.spec(), &self.argv, "lua").await;
        }
        run_in_tx(c, tx, self.route, self.argv).await;
    }
}

/// Runs a command's connection handler.
async fn run_conn(c: &mut Client, spec: &'static CommandSpec, argv: &[Bytes]) {
    let Handler::Conn(f) = spec.handler else {
        c.error(&CmdError::Static("ERR internal routing error"));
        return;
    };
    let started = std::time::Instant::now();
    let mark = c.out.len();
    let failed = match f(c, argv).await {
        Err(e) => {
            c.error(&e);
            true
        }
        Ok(()) => c.out.get(mark) == Some(&b'-'),
    };
    super::stats::ran(spec, started, failed);
}

/// A command refused before it ran counts as a rejected call of its row
/// (an unknown command only in errorstats).
fn note_rejected(argv: &[Bytes]) {
    let Some(mut spec) = table::lookup(&argv[0]) else {
        return;
    };
    if !spec.subcommands.is_empty()
        && let Some(sub) = argv.get(1).and_then(|a| table::lookup_sub(spec, a))
    {
        spec = sub;
    }
    super::stats::rejected(spec);
}

/// Sends each shard its part of the pipeline at once, then writes the replies in
/// the client's order.
async fn flush(c: &mut Client, p: &mut Pending) {
    if p.is_empty() {
        return;
    }
    let shard = c.shard.clone();
    let (db, proto, caller) = (c.db, c.proto, c.info.id);
    let parts: Vec<(usize, Vec<_>)> = std::mem::take(&mut p.per_shard)
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let shard_ids: Vec<usize> = parts.iter().map(|(s, _)| *s).collect();
    let results: Vec<Option<BatchOut>> =
        futures::future::join_all(parts.into_iter().map(|(s, cmds)| {
            shard.call_as::<BatchOut>(
                s,
                Req::Batch(Batch {
                    db,
                    proto,
                    caller,
                    cmds,
                }),
            )
        }))
        .await;
    let mut cursor: Vec<(usize, usize)> = vec![(0, 0); c.shard.nshards]; // (next index, byte offset)
    let mut ready = std::mem::take(&mut p.ready).into_iter();
    for slot in std::mem::take(&mut p.order) {
        match slot {
            None => {
                if let Some(b) = ready.next() {
                    c.out.extend_from_slice(&b);
                }
            }
            Some(s) => {
                let r = shard_ids
                    .iter()
                    .position(|&x| x == s)
                    .and_then(|i| results[i].as_ref());
                let (idx, off) = cursor[s];
                match r.and_then(|r| r.ends.get(idx).map(|&e| (r, e as usize))) {
                    Some((r, end)) => {
                        c.out.extend_from_slice(&r.buf[off..end]);
                        cursor[s] = (idx + 1, end);
                    }
                    None => c.reply().error("ERR shard unavailable"),
                }
            }
        }
    }
}

/// What a RESP2 client may send while subscribed (RESP3 clients may send anything).
const SUBSCRIBED_MODE: &[&str] = &[
    "ping",
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "quit",
    "reset",
];

/// Decides where a command runs, or the error it is answered with (unknown
/// command, arity, auth, cross-slot). Each key is hashed here, once.
fn route(c: &Client, argv: &[Bytes]) -> Result<Route, CmdError> {
    let Some(mut spec) = table::lookup(&argv[0]) else {
        return Err(CmdError::Msg(unknown_command_error(argv)));
    };
    if !spec.arity_ok(argv.len()) {
        return Err(CmdError::Arity(spec.name));
    }
    if !spec.subcommands.is_empty() && argv.len() > 1 {
        let sub = table::lookup_sub(spec, &argv[1]).ok_or_else(|| {
            CmdError::Msg(format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)]),
                spec.name.to_ascii_uppercase()
            ))
        })?;
        if !sub.arity_ok(argv.len()) {
            return Err(CmdError::Arity(sub.name));
        }
        spec = sub;
    }
    route_spec(c, spec, argv)
}

/// Where a command already looked up (with arity checked) runs.
fn route_spec(c: &Client, spec: &'static CommandSpec, argv: &[Bytes]) -> Result<Route, CmdError> {
    if !c.authed && !spec.has(flag::NO_AUTH) {
        return Err(CmdError::NoAuth);
    }
    if c.proto == Proto::Resp2 && c.subscribed() && !SUBSCRIBED_MODE.contains(&spec.name) {
        return Err(CmdError::Msg(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        )));
    }
    if c.shard
        .globals
        .persist
        .loading
        .load(std::sync::atomic::Ordering::Relaxed)
        && !spec.has(flag::LOADING)
        && !c.replaying
    {
        return Err(CmdError::Static(crate::shard::persist::LOADING));
    }
    // A busy script: other clients may send only what runs meanwhile (the
    // script's own calls run inside its transaction, `exec_tx`).
    if let Some(busy) = crate::shard::script::busy_error()
        && !spec.has(flag::ALLOW_BUSY)
        && c.exec_tx.is_none()
    {
        return Err(CmdError::Static(busy));
    }
    // The atomic first: the name compare stays off the path of every command.
    if c.shard.globals.persist.refuses_writes() && (spec.has(flag::WRITE) || spec.name == "ping") {
        return Err(CmdError::Static(crate::shard::persist::MISCONF));
    }
    if crate::shard::aof::write_failed() && (spec.has(flag::WRITE) || spec.name == "ping") {
        return Err(CmdError::Msg(crate::shard::aof::write_error(
            &c.shard.globals,
        )));
    }
    if let Handler::Conn(_) = spec.handler {
        return Ok(Route::Conn(spec));
    }
    if c.shard.nshards == 1 || !spec.has_keys() {
        return Ok(Route::Shard(c.shard.id, spec));
    }
    // Bad key counts are the handler's to report: run it here.
    let Some(groups) = KeyGroups::of(spec, argv, &c.shard) else {
        return Ok(Route::Shard(c.shard.id, spec));
    };
    if !groups.is_split() {
        return Ok(Route::Shard(
            groups.single_owner().unwrap_or(c.shard.id),
            spec,
        ));
    }
    match spec.multi {
        None => Err(CmdError::CrossSlot),
        // Arguments that do not split into whole windows (`MSET a 1 b`) are
        // rejected by the handler, on the first key's shard.
        Some(Multi::Sum | Multi::Merge | Multi::Same | Multi::AllOrNone(_))
            if !coord::splits_evenly(spec, argv, &groups) =>
        {
            let first = groups
                .keys()
                .next()
                .map_or(c.shard.id, |k| k.shard as usize);
            Ok(Route::Shard(first, spec))
        }
        Some(_) => Ok(Route::Multi(spec, groups)),
    }
}
