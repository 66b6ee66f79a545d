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
    cmdstats: Vec<crate::dispatch::stats::CmdStat>,
    errors: Vec<(String, u64)>,
    lua_memory: usize,
    cpu_main: (f64, f64),
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
        cmdstats: crate::dispatch::stats::snapshot(),
        errors: crate::protocol::reply::error_counts(),
        lua_memory: crate::commands::scripting::lua_memory(),
        cpu_main: if sh.id == 0 {
            thread_rusage()
        } else {
            (0.0, 0.0)
        },
    }
}

/// This thread's CPU time (shard 0's, as Redis's main thread's).
fn thread_rusage() -> (f64, f64) {
    // SAFETY: `rusage` is a plain C struct of integers and timevals, for which all
    // zero bytes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the zero-initialised struct we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
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

/// Physical memory (INFO `total_system_memory`).
fn system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
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

/// INFO's sections in Redis 7.0's order; `default` is all but the last two
/// (`commandstats`, `latencystats`); `shards` is corekv's own.
pub(super) const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
    "shards",
    "commandstats",
    "latencystats",
];

/// Which sections INFO's arguments ask for (case-insensitive; `all` and
/// `everything` add the per-command ones; unknown names ask for nothing).
fn wanted(argv: &[Bytes]) -> Vec<&'static str> {
    let args: Vec<String> = argv[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let default = args.is_empty() || args.iter().any(|a| a == "default");
    let all = args.iter().any(|a| a == "all" || a == "everything");
    SECTIONS
        .iter()
        .enumerate()
        .filter(|(i, name)| {
            all || (default && *i < SECTIONS.len() - 2) || args.iter().any(|a| a == *name)
        })
        .map(|(_, name)| *name)
        .collect()
}

conn_fn!(info, |c, argv| {
    let sections = wanted(argv);
    let totals = on_all_shards(&c.shard, shard_totals).await;
    let g = c.shard.globals.clone();
    let cfg = g.config().clone();
    let sum = |f: fn(&ShardTotals) -> u64| totals.iter().map(f).sum::<u64>();
    let uptime = g.started.elapsed().as_secs();
    let mut cmdstats: Vec<crate::dispatch::stats::CmdStat> = Vec::new();
    for t in &totals {
        for st in &t.cmdstats {
            match cmdstats.iter_mut().find(|x| x.name == st.name) {
                Some(x) => x.merge(st),
                None => cmdstats.push(st.clone()),
            }
        }
    }
    cmdstats.sort_by(|a, b| a.name.cmp(b.name));
    let mut errors: Vec<(String, u64)> = Vec::new();
    for t in &totals {
        for (code, n) in &t.errors {
            match errors.iter_mut().find(|(c, _)| c == code) {
                Some((_, x)) => *x += n,
                None => errors.push((code.clone(), *n)),
            }
        }
    }
    errors.sort();
    let mut out = String::new();
    for sec in &sections {
        match *sec {
            "server" => {
                let _ = write!(
                    out,
                    "# Server\r\nredis_version:{REDIS_VERSION}\r\ncorekv_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:io_uring\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nshards:{}\r\n\r\n",
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
                let lua: usize = totals.iter().map(|t| t.lua_memory).sum();
                let (libs, funcs) = crate::shard::functions::counts();
                let maxmemory: u64 = cfg.get("maxmemory").parse().unwrap_or(0);
                let system = system_memory();
                let _ = write!(
                    out,
                    "# Memory\r\nused_memory:{rss}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{rss}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:100.00%\r\nused_memory_overhead:0\r\nused_memory_startup:0\r\nused_memory_dataset:{rss}\r\nused_memory_dataset_perc:100.00%\r\nallocator_allocated:{rss}\r\nallocator_active:{rss}\r\nallocator_resident:{rss}\r\ntotal_system_memory:{system}\r\ntotal_system_memory_human:{}\r\nused_memory_lua:{lua}\r\nused_memory_vm_eval:{lua}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:0\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{funcs}\r\nnumber_of_libraries:{libs}\r\nused_memory_vm_functions:0\r\nused_memory_vm_total:{lua}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:0\r\nused_memory_scripts:0\r\nused_memory_scripts_human:0B\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_frag_ratio:1.00\r\nallocator_frag_bytes:0\r\nallocator_rss_ratio:1.00\r\nallocator_rss_bytes:0\r\nrss_overhead_ratio:1.00\r\nrss_overhead_bytes:0\r\nmem_fragmentation_ratio:1.00\r\nmem_fragmentation_bytes:0\r\nmem_not_counted_for_evict:0\r\nmem_replication_backlog:0\r\nmem_total_replication_buffers:0\r\nmem_clients_slaves:0\r\nmem_clients_normal:0\r\nmem_cluster_links:0\r\nmem_aof_buffer:0\r\nmem_allocator:mimalloc\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n\r\n",
                    human(rss),
                    human(rss),
                    human(rss),
                    human(system),
                    human(lua as u64),
                    crate::commands::scripting::cached_scripts(),
                    human(lua as u64),
                    human(maxmemory),
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
                    "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{current}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:0\r\nrdb_last_load_keys_loaded:0\r\n{}module_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n\r\n",
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
                    "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:0.00\r\ninstantaneous_output_kbps:0.00\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:0\r\nevicted_keys:0\r\nevicted_clients:0\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:{}\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\ntotal_cross_shard_batches:{}\r\ntotal_multi_shard_transactions:{}\r\n\r\n",
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
                    g.pubsub().len(crate::shard::pubsub::Kind::Shard),
                    crate::shard::outbound::cached(),
                    totals.iter().map(|t| t.tracked_keys).sum::<usize>(),
                    totals.iter().map(|t| t.tracked_items).sum::<usize>(),
                    tracking_prefixes,
                    errors.iter().map(|(_, n)| n).sum::<u64>(),
                    sum(|t| t.commands),
                    sum(|t| t.commands),
                    sum(|t| t.remote_batches),
                    sum(|t| t.txs),
                );
            }
            "replication" => {
                let _ = write!(
                    out,
                    "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n\r\n",
                    g.run_id,
                    cfg.get("repl-backlog-size"),
                );
            }
            "cpu" => {
                let (sys, user) = rusage();
                let _ = write!(
                    out,
                    "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{:.6}\r\nused_cpu_user_main_thread:{:.6}\r\n\r\n",
                    totals.iter().map(|t| t.cpu_main.0).sum::<f64>(),
                    totals.iter().map(|t| t.cpu_main.1).sum::<f64>(),
                );
            }
            "modules" => out.push_str("# Modules\r\n\r\n"),
            "errorstats" => {
                out.push_str("# Errorstats\r\n");
                for (code, n) in &errors {
                    let _ = write!(out, "errorstat_{code}:count={n}\r\n");
                }
                out.push_str("\r\n");
            }
            "cluster" => out.push_str("# Cluster\r\ncluster_enabled:0\r\n\r\n"),
            "commandstats" => {
                out.push_str("# Commandstats\r\n");
                for st in &cmdstats {
                    let per_call = if st.calls == 0 {
                        0.0
                    } else {
                        st.usec as f64 / st.calls as f64
                    };
                    let _ = write!(
                        out,
                        "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                        st.name, st.calls, st.usec, st.rejected, st.failed
                    );
                }
                out.push_str("\r\n");
            }
            "latencystats" => {
                out.push_str("# Latencystats\r\n");
                if cfg.get("latency-tracking") != "no" {
                    let percentiles: Vec<f64> = cfg
                        .get("latency-tracking-info-percentiles")
                        .split_whitespace()
                        .filter_map(|p| p.parse().ok())
                        .collect();
                    for st in cmdstats.iter().filter(|s| s.has_latency()) {
                        let parts: Vec<String> = percentiles
                            .iter()
                            .map(|&p| format!("p{p}={:.3}", st.percentile(p)))
                            .collect();
                        let _ = write!(
                            out,
                            "latency_percentiles_usec_{}:{}\r\n",
                            st.name,
                            parts.join(",")
                        );
                    }
                }
                out.push_str("\r\n");
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
