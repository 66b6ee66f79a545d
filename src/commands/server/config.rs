//! CONFIG GET/SET/RESETSTAT/REWRITE, the log level, TIME, DEBUG and SHUTDOWN.

use super::*;

conn_fn!(config_get, |c, argv| {
    let cfg = c.shard.globals.config().clone();
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for p in &argv[2..] {
        for (k, v) in cfg.matching(p) {
            if !pairs.iter().any(|(x, _)| *x == k) {
                pairs.push((k, v));
            }
        }
    }
    let mut r = c.reply();
    r.map(pairs.len());
    for (k, v) in pairs {
        r.bulk(k.as_bytes());
        r.bulk(v.as_bytes());
    }
    Ok(())
});

conn_fn!(config_set, |c, argv| {
    let args = &argv[2..];
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Msg(crate::dispatch::arity_error("config|set")));
    }
    // All or nothing: validate on a copy, then swap it in.
    let g = c.shard.globals.clone();
    let mut cfg = g.config().clone();
    for kv in args.chunks(2) {
        let (k, v) = (
            String::from_utf8_lossy(&kv[0]),
            String::from_utf8_lossy(&kv[1]),
        );
        cfg.set(&k, &v)
            .map_err(|e| CmdError::Msg(format!("ERR {e}")))?;
    }
    if let Some(level) = log_level(cfg.get("loglevel")) {
        log::set_max_level(level);
    }
    let aof = cfg.get("appendonly") == "yes";
    g.set_config(cfg);
    if aof != g.aof.enabled.load(Ordering::Relaxed)
        && let Err(e) = crate::shard::aof::set_enabled(&c.shard, aof).await
    {
        log::warn!("{e}");
        return Err(CmdError::Msg(format!("ERR {e}")));
    }
    c.reply().ok();
    Ok(())
});

/// Redis's log levels mapped onto `log`'s.
pub fn log_level(name: &str) -> Option<log::LevelFilter> {
    Some(match name {
        "debug" => log::LevelFilter::Debug,
        "verbose" => log::LevelFilter::Info,
        "notice" => log::LevelFilter::Info,
        "warning" => log::LevelFilter::Warn,
        _ => return None,
    })
}

conn_fn!(config_resetstat, |c, _argv| {
    on_all_shards(&c.shard, |sh: &Shard| {
        let s = &sh.stats;
        for cell in [
            &s.commands,
            &s.connections,
            &s.rejected,
            &s.expired,
            &s.hits,
            &s.misses,
            &s.net_in,
            &s.net_out,
            &s.remote_batches,
            &s.txs,
        ] {
            cell.set(0);
        }
    })
    .await;
    c.reply().ok();
    Ok(())
});

conn_fn!(config_rewrite, |_c, _argv| {
    Err(CmdError::Static(
        "ERR The server is running without a config file",
    ))
});

conn_fn!(config_help, |c, _argv| {
    help_reply(
        c,
        &[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
});

conn_fn!(time, |c, _argv| {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut r = c.reply();
    r.array(2);
    r.bulk(d.as_secs().to_string().as_bytes());
    r.bulk(d.subsec_micros().to_string().as_bytes());
    Ok(())
});

conn_fn!(debug, |c, argv| {
    if eq_ic(&argv[1], "SLEEP") && argv.len() == 3 {
        // Redis reads the seconds with a bare `strtod`: `abc` sleeps 0 s.
        let secs = crate::num::strtod(&argv[2]).0;
        let secs = if secs.is_nan() { 0.0 } else { secs };
        // Like Redis, DEBUG SLEEP blocks the server thread: here, this shard.
        std::thread::sleep(Duration::from_secs_f64(secs.clamp(0.0, 3600.0)));
        c.reply().ok();
    } else if (eq_ic(&argv[1], "SET-ACTIVE-EXPIRE") || eq_ic(&argv[1], "PAUSE-CRON"))
        && argv.len() == 3
    {
        let on = crate::protocol::parse_i64(&argv[2]).is_some_and(|n| n != 0);
        let g = &c.shard.globals;
        if eq_ic(&argv[1], "PAUSE-CRON") {
            g.cron_paused.store(on, Ordering::Relaxed);
        } else {
            g.active_expire.store(on, Ordering::Relaxed);
        }
        c.reply().ok();
    } else if eq_ic(&argv[1], "PROTOCOL") && argv.len() == 3 {
        debug_protocol(c, &argv[2])?;
    } else if eq_ic(&argv[1], "SET-DISABLE-DENY-SCRIPTS") && argv.len() == 3 {
        let on = crate::protocol::parse_i64(&argv[2]).is_some_and(|n| n != 0);
        crate::shard::script::set_deny_disabled(on);
        c.reply().ok();
    } else if eq_ic(&argv[1], "DIGEST") && argv.len() == 2 {
        use crate::store::digest::{self, Digest};
        let parts = crate::dispatch::coord::on_all_shards(&c.shard, |sh| {
            let st = sh.store.borrow();
            st.dbs.iter().map(digest::db_digest).collect::<Vec<_>>()
        })
        .await;
        let mut dbs: Vec<Option<Digest>> = vec![None; crate::store::NUM_DBS];
        for shard in parts {
            for (acc, d) in dbs.iter_mut().zip(shard) {
                if let Some(d) = d {
                    let a = acc.get_or_insert([0; 20]);
                    a.iter_mut().zip(d).for_each(|(x, y)| *x ^= y);
                }
            }
        }
        let hex = digest::hex(&digest::dataset_digest(&dbs));
        c.reply().simple(&hex);
    } else if eq_ic(&argv[1], "DIGEST-VALUE") {
        let db = c.db as usize;
        let mut out = Vec::with_capacity(argv.len() - 2);
        for key in &argv[2..] {
            let d = with_raw_entry(c, db, key, |e| e.map(crate::store::digest::value_digest))
                .await
                .unwrap_or([0; 20]);
            out.push(crate::store::digest::hex(&d));
        }
        let mut r = c.reply();
        r.array(out.len());
        for h in &out {
            r.simple(h);
        }
    } else if eq_ic(&argv[1], "OBJECT") && argv.len() == 3 {
        let db = c.db as usize;
        let line = with_raw_entry(c, db, &argv[2], |e| {
            let e = e?;
            let mut w = crate::store::rdb::Writer::new(crate::store::rdb::compression());
            w.value(&e.value);
            let idle = e.idle_ms() / 1000;
            Some(format!(
                "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
                e as *const _,
                e.encoding(),
                w.buf.len(),
                e.access & 0xFF_FFFF,
                idle
            ))
        })
        .await
        .ok_or(CmdError::Static("ERR no such key"))?;
        c.reply().simple(&line);
    } else if eq_ic(&argv[1], "RELOAD") {
        let (mut merge, mut noflush, mut nosave) = (false, false, false);
        for a in &argv[2..] {
            if eq_ic(a, "MERGE") {
                merge = true;
            } else if eq_ic(a, "NOFLUSH") {
                noflush = true;
            } else if eq_ic(a, "NOSAVE") {
                nosave = true;
            } else {
                return Err(CmdError::Static(
                    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                ));
            }
        }
        // NOFLUSH keeps the keys; MERGE also lets the file's replace them.
        crate::shard::persist::reload(&c.shard, nosave, merge || noflush, merge)
            .await
            .map_err(|e| CmdError::Msg(format!("ERR {e}")))?;
        c.reply().ok();
    } else if eq_ic(&argv[1], "LOADAOF") {
        crate::dispatch::replay::debug_loadaof(&c.shard)
            .await
            .map_err(|e| CmdError::Msg(format!("ERR {e}")))?;
        c.reply().ok();
    } else if eq_ic(&argv[1], "HELP") {
        help_reply(
            c,
            &[
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "PAUSE-CRON <0|1>",
                "    Stop periodic cron job processing.",
                "PROTOCOL <type>",
                "    Reply with a test value of the specified type. <type> can be: string,",
                "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
                "    true, false.",
                "SET-DISABLE-DENY-SCRIPTS <0|1>",
                "    Enable scripts to call commands flagged noscript (for tests).",
                "OBJECT <key>",
                "    Show low level info about the key and associated value.",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "LOADAOF",
                "    Flush the AOF buffers on disk and reload the AOF in memory.",
                "RELOAD [option ...]",
                "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
                "    * MERGE: conflicting keys will be loaded from RDB.",
                "    * NOFLUSH: the existing database will not be removed before load, but",
                "      conflicting keys will generate an exception and kill the server.",
                "    * NOSAVE: the database will be loaded from an existing RDB file.",
            ],
        );
    } else {
        return Err(CmdError::Msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&argv[1])
        )));
    }
    Ok(())
});

/// DEBUG PROTOCOL <type>: one reply of each RESP3 type (as RESP2 shows it
/// to a RESP2 client), for clients' and scripts' parsers.
fn debug_protocol(c: &mut Client, name: &[u8]) -> Result<(), CmdError> {
    use bytes::BufMut;
    let resp3 = c.proto == crate::protocol::Proto::Resp3;
    let is = |n: &str| eq_ic(name, n);
    if is("push") && !resp3 {
        return Err(CmdError::Static(
            "ERR RESP2 is not supported by this command",
        ));
    }
    let mut r = c.reply();
    if is("string") {
        r.bulk(b"Hello World");
    } else if is("integer") {
        r.int(12345);
    } else if is("double") {
        // Redis's literal, not an approximation of anything.
        #[allow(clippy::approx_constant)]
        r.double(3.141);
    } else if is("bignum") {
        const BIG: &[u8] = b"1234567999999999999999999999999999999";
        if resp3 {
            let b = r.buf_mut();
            b.put_u8(b'(');
            b.put_slice(BIG);
            b.put_slice(b"\r\n");
        } else {
            r.bulk(BIG);
        }
    } else if is("null") {
        r.null();
    } else if is("array") || is("set") {
        if is("set") {
            r.set(3)
        } else {
            r.array(3)
        }
        for j in 0..3 {
            r.int(j);
        }
    } else if is("map") {
        r.map(3);
        for j in 0..3 {
            r.int(j);
            r.boolean(j == 1);
        }
    } else if is("attrib") {
        if resp3 {
            r.buf_mut().put_slice(b"|1\r\n");
            r.bulk(b"key-popularity");
            r.array(2);
            r.bulk(b"key:123");
            r.int(90);
        }
        r.bulk(b"Some real reply following the attribute");
    } else if is("push") {
        r.push(2);
        r.bulk(b"server-cpu-usage");
        r.int(42);
        r.bulk(b"Some real reply following the push reply");
    } else if is("true") || is("false") {
        r.boolean(is("true"));
    } else if is("verbatim") {
        r.verbatim(b"This is a verbatim\nstring");
    } else {
        return Err(CmdError::Static(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ));
    }
    Ok(())
}

/// Runs `f` on the key's owner with its entry as stored (DEBUG's view: a
/// logically expired key not yet deleted is still there, as in Redis).
async fn with_raw_entry<R: Send + 'static>(
    c: &Client,
    db: usize,
    key: &Bytes,
    f: impl FnOnce(Option<&crate::store::Entry>) -> Option<R> + Send + 'static,
) -> Option<R> {
    let k = key.clone();
    c.shard
        .run_on(
            c.shard.owner(key),
            crate::shard::locks::LockSet::Keys(vec![]),
            move |sh| f(sh.store.borrow().dbs[db].dict().get(&k)),
        )
        .await
        .flatten()
}

conn_fn!(shutdown, |c, argv| {
    let (mut save, mut nosave, mut force) = (false, false, false);
    for a in &argv[1..] {
        if eq_ic(a, "NOSAVE") {
            nosave = true;
        } else if eq_ic(a, "SAVE") {
            save = true;
        } else if eq_ic(a, "FORCE") {
            force = true;
        } else if eq_ic(a, "ABORT") && argv.len() == 2 {
            // Shutdowns here never wait, so there is never one to abort.
            return Err(CmdError::Static("ERR No shutdown in progress."));
        } else if !eq_ic(a, "NOW") {
            return Err(CmdError::Syntax);
        }
    }
    if save && nosave {
        return Err(CmdError::Syntax);
    }
    // A busy script: only SHUTDOWN NOSAVE goes ahead.
    if let Some(busy) = crate::shard::script::busy_error()
        && !nosave
    {
        return Err(CmdError::Static(busy));
    }
    log::warn!("User requested shutdown...");
    let points =
        !crate::shard::persist::save_points(c.shard.globals.config().get("save")).is_empty();
    if save || (points && !nosave) {
        log::warn!("Saving the final RDB snapshot before exiting.");
        if crate::shard::persist::save_for_shutdown(&c.shard)
            .await
            .is_err()
            && !force
        {
            log::warn!("Error trying to save the DB, can't exit.");
            return Err(CmdError::Static(
                "ERR Errors trying to SHUTDOWN. Check logs.",
            ));
        }
    }
    c.shard.globals.shutdown.store(true, Ordering::Relaxed);
    // Redis closes the connection without a reply on success.
    c.quit = true;
    Ok(())
});
