//! INFO: every section Redis 7.0 prints, summed over the shards.

use super::*;
use std::sync::atomic::Ordering::Relaxed;

/// Totals gathered from every shard for INFO.
#[derive(Default, Clone)]
pub(super) struct ShardTotals {
    id: usize,
    keys: Vec<(usize, usize, usize)>,
    commands: u64,
    connections: u64,
    rejected: u64,
    expired: u64,
    hits: u64,
    misses: u64,
    net_in: u64,
    net_out: u64,
    clients: usize,
    blocked: usize,
    remote_batches: u64,
    txs: u64,
    ops_per_sec: u64,
    locks: (usize, usize),
    tracked_keys: usize,
    tracked_items: usize,
}

pub(super) fn shard_totals(sh: &Shard) -> ShardTotals {
    let st = sh.store.borrow();
    let s = &sh.stats;
    ShardTotals {
        id: sh.id,
        keys: st
            .dbs
            .iter()
            .enumerate()
            .map(|(i, d)| (i, d.len(), d.volatile_len()))
            .collect(),
        commands: s.commands.get(),
        connections: s.connections.get(),
        rejected: s.rejected.get(),
        expired: s.expired.get(),
        hits: s.hits.get(),
        misses: s.misses.get(),
        net_in: s.net_in.get(),
        net_out: s.net_out.get(),
        clients: sh.clients.borrow().len(),
        blocked: sh.blocked_clients(),
        remote_batches: s.remote_batches.get(),
        txs: s.txs.get(),
        ops_per_sec: s.ops_per_sec(),
        locks: sh.lock_stats(),
        tracked_keys: sh.tracked.borrow().keys(),
        tracked_items: sh.tracked.borrow().items(),
    }
}

pub(super) fn rusage() -> (f64, f64) {
    // SAFETY: `rusage` is a plain C struct of integers and timevals, for which all
    // zero bytes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the zero-initialised struct we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

pub(super) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

pub(super) fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

pub(super) const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "keyspace",
    "shards",
];

conn_fn!(info, |c, argv| {
    let mut sections: Vec<String> = argv[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if sections.is_empty()
        || sections
            .iter()
            .any(|s| s == "default" || s == "all" || s == "everything")
    {
        sections = DEFAULT_SECTIONS.iter().map(|s| s.to_string()).collect();
    }
    let totals = on_all_shards(&c.shard, shard_totals).await;
    let g = c.shard.globals.clone();
    let cfg = g.config().clone();
    let sum = |f: fn(&ShardTotals) -> u64| totals.iter().map(f).sum::<u64>();
    let uptime = g.started.elapsed().as_secs();
    let mut out = String::new();
    for sec in &sections {
        match sec.as_str() {
            "server" => {
                let _ = write!(
                    out,
                    "# Server\r\nredis_version:{REDIS_VERSION}\r\ncorekv_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:io_uring\r\natomicvar_api:c11-builtin\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nshards:{}\r\n\r\n",
                    env!("CARGO_PKG_VERSION"),
                    std::env::consts::OS,
                    std::env::consts::ARCH,
                    std::process::id(),
                    g.run_id,
                    cfg.port(),
                    crate::store::now_ms() * 1000,
                    uptime,
                    uptime / 86400,
                    cfg.get("hz"),
                    cfg.get("hz"),
                    crate::store::now_ms() / 1000 % (1 << 24),
                    g.executable,
                    cfg.file()
                        .map(|f| f.display().to_string())
                        .unwrap_or_default(),
                    g.nshards,
                );
            }
            "clients" => {
                let _ = write!(
                    out,
                    "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:{}\r\n\r\n",
                    totals.iter().map(|t| t.clients).sum::<usize>(),
                    cfg.get("maxclients"),
                    totals.iter().map(|t| t.blocked).sum::<usize>(),
                    g.tracking_clients
                        .load(std::sync::atomic::Ordering::Relaxed),
                    totals.iter().map(|t| t.blocked).sum::<usize>(),
                );
            }
            "memory" => {
                let rss = rss_bytes();
                let _ = write!(
                    out,
                    "# Memory\r\nused_memory:{rss}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{rss}\r\nmaxmemory:{}\r\nmaxmemory_policy:{}\r\nmem_not_counted_for_evict:0\r\nmem_allocator:libc\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n\r\n",
                    human(rss),
                    human(rss),
                    cfg.get("maxmemory"),
                    cfg.get("maxmemory-policy"),
                );
            }
            "persistence" => {
                let p = &g.persist;
                let running = p.bgsave_running.load(Relaxed)
                    && !p.foreground.load(Relaxed)
                    && !g.aof.rewrite_running.load(Relaxed);
                let current = if running {
                    (crate::store::now_ms().saturating_sub(p.bgsave_started_ms.load(Relaxed))
                        / 1000) as i64
                } else {
                    -1
                };
                let _ = write!(
                    out,
                    "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{current}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:0\r\nrdb_last_load_keys_loaded:0\r\n{}\r\n",
                    p.loading.load(Relaxed) as u8,
                    p.changes_since_save(),
                    running as u8,
                    p.lastsave.load(Relaxed),
                    if p.last_bgsave_ok.load(Relaxed) {
                        "ok"
                    } else {
                        "err"
                    },
                    p.last_bgsave_secs.load(Relaxed),
                    p.saves.load(Relaxed),
                    crate::shard::aof::info_fields(&g),
                );
            }
            "stats" => {
                let (pubsub_channels, pubsub_patterns) = {
                    let r = g.pubsub();
                    (
                        r.len(crate::shard::pubsub::Kind::Channel),
                        r.len(crate::shard::pubsub::Kind::Pattern),
                    )
                };
                let tracking_prefixes = {
                    let b = g.bcast.read().unwrap_or_else(|p| p.into_inner());
                    let mut p: Vec<&bytes::Bytes> = b.iter().map(|e| &e.0).collect();
                    p.sort_unstable();
                    p.dedup();
                    p.len()
                };
                let _ = write!(
                    out,
                    "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\nmigrate_cached_sockets:{}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\ntotal_cross_shard_batches:{}\r\ntotal_multi_shard_transactions:{}\r\n\r\n",
                    sum(|t| t.connections),
                    sum(|t| t.commands),
                    sum(|t| t.ops_per_sec),
                    sum(|t| t.net_in),
                    sum(|t| t.net_out),
                    sum(|t| t.rejected),
                    sum(|t| t.expired),
                    sum(|t| t.hits),
                    sum(|t| t.misses),
                    pubsub_channels,
                    pubsub_patterns,
                    crate::shard::outbound::cached(),
                    totals.iter().map(|t| t.tracked_keys).sum::<usize>(),
                    totals.iter().map(|t| t.tracked_items).sum::<usize>(),
                    tracking_prefixes,
                    sum(|t| t.remote_batches),
                    sum(|t| t.txs),
                );
            }
            "replication" => {
                out.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_repl_offset:0\r\n\r\n");
            }
            "cpu" => {
                let (sys, user) = rusage();
                let _ = write!(
                    out,
                    "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n\r\n"
                );
            }
            "keyspace" => {
                out.push_str("# Keyspace\r\n");
                for db in 0..crate::store::NUM_DBS {
                    let keys: usize = totals.iter().map(|t| t.keys[db].1).sum();
                    let expires: usize = totals.iter().map(|t| t.keys[db].2).sum();
                    if keys > 0 {
                        let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
                    }
                }
                out.push_str("\r\n");
            }
            "shards" => {
                out.push_str("# Shards\r\n");
                for t in &totals {
                    let keys: usize = t.keys.iter().map(|k| k.1).sum();
                    let _ = write!(
                        out,
                        "shard{}:keys={},clients={},commands={},cross_shard_batches={},transactions={},locks_held={},waiting={}\r\n",
                        t.id,
                        keys,
                        t.clients,
                        t.commands,
                        t.remote_batches,
                        t.txs,
                        t.locks.0,
                        t.locks.1
                    );
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    // Redis ends the text without the trailing blank line.
    while out.ends_with("\r\n\r\n") {
        out.truncate(out.len() - 2);
    }
    c.reply().verbatim(out.as_bytes());
    Ok(())
});
