//! CLIENT and its subcommands: names, LIST/INFO lines, KILL filters, flags.

use super::*;

pub(super) fn validate_name(n: &[u8]) -> CmdResult {
    if n.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::Static(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

conn_fn!(client_id, |c, _argv| {
    let id = c.info.id as i64;
    c.reply().int(id);
    Ok(())
});

conn_fn!(client_setname, |c, argv| {
    validate_name(&argv[2])?;
    *c.info.name.borrow_mut() = if argv[2].is_empty() {
        None
    } else {
        Some(argv[2].clone())
    };
    c.reply().ok();
    Ok(())
});

conn_fn!(client_getname, |c, _argv| {
    let name = c.info.name.borrow().clone();
    match name {
        Some(n) => c.reply().bulk(&n),
        None => c.reply().null(),
    }
    Ok(())
});

/// One CLIENT LIST line, with Redis's field names and order.
pub(super) fn client_line(ci: &crate::shard::ClientInfo, shard: usize) -> String {
    let now = std::time::Instant::now();
    let s = |b: &Option<Bytes>| {
        b.as_ref()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let mut flags = String::new();
    let subs = ci.subs.get();
    if ci.monitor.get() {
        flags.push('O');
    }
    if subs.iter().any(|&n| n > 0) {
        flags.push('P');
    }
    if ci.blocked.get() {
        flags.push('b');
    }
    if ci.no_evict.get() {
        flags.push('e');
    }
    if ci.no_touch.get() {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi=-1 qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={} shard={}\n",
        ci.id,
        ci.addr,
        ci.laddr,
        ci.fd,
        s(&ci.name.borrow()),
        now.duration_since(ci.created).as_secs(),
        now.duration_since(ci.last.get()).as_secs(),
        flags,
        ci.db.get(),
        subs[0],
        subs[1],
        subs[2],
        ci.qbuf.get().0,
        ci.qbuf.get().1,
        ci.outbox.len(),
        // The query buffer, pending output and the connection's own state.
        ci.qbuf.get().0
            + ci.qbuf.get().1
            + ci.outbox.len()
            + std::mem::size_of::<crate::shard::ClientInfo>(),
        ci.last_cmd.get(),
        ci.resp.get(),
        s(&ci.lib_name.borrow()),
        s(&ci.lib_ver.borrow()),
        shard,
    )
}

/// A client's class, as CLIENT LIST/KILL TYPE name them: a subscriber is a
/// pubsub client, anyone else (MONITOR included) a normal one; corekv has no
/// master or replica connections yet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum ClientType {
    Normal,
    Pubsub,
    Replication,
}

impl ClientType {
    fn parse(t: &[u8]) -> Result<ClientType, CmdError> {
        if eq_ic(t, "normal") {
            Ok(ClientType::Normal)
        } else if eq_ic(t, "pubsub") {
            Ok(ClientType::Pubsub)
        } else if ["master", "slave", "replica"].iter().any(|x| eq_ic(t, x)) {
            Ok(ClientType::Replication)
        } else {
            Err(CmdError::Msg(format!(
                "ERR Unknown client type '{}'",
                String::from_utf8_lossy(t)
            )))
        }
    }

    fn of(ci: &crate::shard::ClientInfo) -> ClientType {
        if ci.subs.get().iter().any(|&n| n > 0) {
            ClientType::Pubsub
        } else {
            ClientType::Normal
        }
    }
}

conn_fn!(client_list, |c, argv| {
    let mut a = Args::new(&argv[2..]);
    let mut ids: Option<Vec<u64>> = None;
    let mut ty: Option<ClientType> = None;
    while !a.is_empty() {
        if a.eat("TYPE") {
            ty = Some(ClientType::parse(a.next()?)?);
        } else if a.eat("ID") {
            let mut v = Vec::new();
            while !a.is_empty() {
                let n = parse_i64(a.next()?)
                    .filter(|n| *n > 0)
                    .ok_or(CmdError::Static("ERR Invalid client ID"))?;
                v.push(n as u64);
            }
            ids = Some(v);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let lines = on_all_shards(&c.shard, move |sh: &Shard| {
        let mut out = String::new();
        let clients = sh.clients.borrow();
        let mut list: Vec<_> = clients.values().collect();
        list.sort_by_key(|ci| ci.id);
        for ci in list {
            if ids.as_ref().is_none_or(|v| v.contains(&ci.id))
                && ty.is_none_or(|t| t == ClientType::of(ci))
            {
                out.push_str(&client_line(ci, sh.id));
            }
        }
        out
    })
    .await;
    c.reply().verbatim(lines.concat().as_bytes());
    Ok(())
});

conn_fn!(client_info, |c, _argv| {
    let line = client_line(&c.info, c.shard.id);
    c.reply().verbatim(line.as_bytes());
    Ok(())
});

/// CLIENT KILL filters, applied on every shard.
#[derive(Clone, Default)]
pub(super) struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    skip_me: Option<u64>,
    ty: Option<ClientType>,
    /// The killing client: it is closed after its reply, not hung up.
    me: u64,
    /// A USER filter that no client can match (every client is of the
    /// default user).
    none: bool,
    old_style: bool,
}

conn_fn!(client_kill, |c, argv| {
    let mut f = KillFilter {
        skip_me: Some(c.info.id),
        me: c.info.id,
        ..Default::default()
    };
    if argv.len() == 3 {
        f.addr = Some(String::from_utf8_lossy(&argv[2]).into_owned());
        f.old_style = true;
        f.skip_me = None;
    } else {
        let mut a = Args::new(&argv[2..]);
        while !a.is_empty() {
            let opt = a.next()?.clone();
            let val = a.next()?.clone();
            let v = String::from_utf8_lossy(&val).into_owned();
            if eq_ic(&opt, "ID") {
                f.id = Some(
                    parse_i64(&val)
                        .filter(|n| *n > 0)
                        .ok_or(CmdError::Static("ERR client-id should be greater than 0"))?
                        as u64,
                );
            } else if eq_ic(&opt, "ADDR") {
                f.addr = Some(v);
            } else if eq_ic(&opt, "LADDR") {
                f.laddr = Some(v);
            } else if eq_ic(&opt, "SKIPME") {
                if eq_ic(&val, "yes") {
                    f.skip_me = Some(c.info.id);
                } else if eq_ic(&val, "no") {
                    f.skip_me = None;
                } else {
                    return Err(CmdError::Syntax);
                }
            } else if eq_ic(&opt, "TYPE") {
                f.ty = Some(ClientType::parse(&val)?);
            } else if eq_ic(&opt, "USER") {
                if &val[..] != b"default" {
                    return Err(CmdError::Msg(format!("ERR No such user '{v}'")));
                }
            } else {
                return Err(CmdError::Syntax);
            }
        }
    }
    let filter = f.clone();
    let killed: usize = on_all_shards(&c.shard, move |sh: &Shard| {
        let mut n = 0;
        for ci in sh.clients.borrow().values() {
            let f = &filter;
            let matches = !f.none
                && f.id.is_none_or(|id| id == ci.id)
                && f.addr.as_ref().is_none_or(|a| *a == ci.addr)
                && f.laddr.as_ref().is_none_or(|a| *a == ci.laddr)
                && f.ty.is_none_or(|t| t == ClientType::of(ci))
                && f.skip_me != Some(ci.id);
            if matches {
                ci.killed.set(true);
                if ci.id != f.me {
                    ci.peer.hang_up();
                }
                n += 1;
            }
        }
        n
    })
    .await
    .into_iter()
    .sum();
    if f.old_style {
        if killed == 0 {
            return Err(CmdError::Static("ERR No such client"));
        }
        c.reply().ok();
    } else {
        c.reply().int(killed as i64);
    }
    if c.info.killed.get() {
        c.quit = true;
    }
    Ok(())
});

conn_fn!(client_setinfo, |c, argv| {
    let v = argv[3].clone();
    if v.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::Msg(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(&argv[2]).to_ascii_lowercase()
        )));
    }
    if eq_ic(&argv[2], "LIB-NAME") {
        *c.info.lib_name.borrow_mut() = Some(v);
    } else if eq_ic(&argv[2], "LIB-VER") {
        *c.info.lib_ver.borrow_mut() = Some(v);
    } else {
        return Err(CmdError::Msg(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(&argv[2])
        )));
    }
    c.reply().ok();
    Ok(())
});

pub(super) fn on_off(v: &[u8]) -> Result<bool, CmdError> {
    if eq_ic(v, "ON") {
        Ok(true)
    } else if eq_ic(v, "OFF") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

conn_fn!(client_no_evict, |c, argv| {
    c.info.no_evict.set(on_off(&argv[2])?);
    c.reply().ok();
    Ok(())
});

// CLIENT TRACKING on|off [REDIRECT id] [BCAST] [PREFIX p]... [OPTIN] [OPTOUT]
// [NOLOOP], with Redis 7.0's checks and texts (see `shard::tracking`).
conn_fn!(client_tracking, |c, argv| {
    use crate::shard::tracking::{BCAST, NOLOOP, ON, OPTIN, OPTOUT};
    let mut redir: Option<u64> = None;
    let mut opts = 0u8;
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let a = &argv[j];
        if eq_ic(a, "redirect") && more {
            j += 1;
            if redir.is_some() {
                return Err(CmdError::Static(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = parse_i64(&argv[j]).ok_or(CmdError::NotInteger)?;
            redir = Some(id as u64);
        } else if eq_ic(a, "bcast") {
            opts |= BCAST;
        } else if eq_ic(a, "optin") {
            opts |= OPTIN;
        } else if eq_ic(a, "optout") {
            opts |= OPTOUT;
        } else if eq_ic(a, "noloop") {
            opts |= NOLOOP;
        } else if eq_ic(a, "prefix") && more {
            j += 1;
            prefixes.push(argv[j].clone());
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    // The redirect target must exist now: find its shard.
    let redirect = match redir {
        None | Some(0) => None,
        Some(id) => {
            let found = on_all_shards(&c.shard, move |sh: &Shard| {
                sh.clients.borrow().contains_key(&id)
            })
            .await;
            match found.iter().position(|&f| f) {
                Some(shard) => Some((shard, id)),
                None => {
                    return Err(CmdError::Static(
                        "ERR The client ID you want redirect to does not exist",
                    ));
                }
            }
        }
    };
    let t = &c.info.tracking;
    let cur = t.flags.get();
    if eq_ic(&argv[2], "on") {
        let err = |m: &'static str| Err(CmdError::Static(m));
        if opts & BCAST == 0 && !prefixes.is_empty() {
            return err("ERR PREFIX option requires BCAST mode to be enabled");
        }
        if cur & ON != 0 && (cur & BCAST) != (opts & BCAST) {
            return err(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
            );
        }
        if opts & BCAST != 0 && opts & (OPTIN | OPTOUT) != 0 {
            return err("ERR OPTIN and OPTOUT are not compatible with BCAST");
        }
        if opts & OPTIN != 0 && opts & OPTOUT != 0 {
            return err("ERR You can't specify both OPTIN mode and OPTOUT mode");
        }
        if (opts & OPTIN != 0 && cur & OPTOUT != 0) || (opts & OPTOUT != 0 && cur & OPTIN != 0) {
            return err(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
            );
        }
        if opts & BCAST != 0 {
            let existing = t.prefixes.borrow().clone();
            for (i, p) in prefixes.iter().enumerate() {
                let overlaps = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
                if let Some(e) = existing.iter().find(|e| overlaps(p, e)) {
                    return Err(CmdError::Msg(format!(
                        "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(e)
                    )));
                }
                if let Some(o) = prefixes[i + 1..].iter().find(|o| overlaps(p, o)) {
                    return Err(CmdError::Msg(format!(
                        "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(o)
                    )));
                }
            }
            if prefixes.is_empty() && existing.is_empty() {
                prefixes.push(Bytes::new());
            }
        }
        if cur & ON == 0 {
            c.shard.count_tracking(true);
        }
        t.flags
            .set((cur & (OPTIN | OPTOUT | BCAST | NOLOOP)) | opts | ON);
        t.redirect.set(redirect);
        if opts & BCAST != 0 {
            let (home, id) = (c.shard.id, c.info.id);
            let mut b = c
                .shard
                .globals
                .bcast
                .write()
                .unwrap_or_else(|p| p.into_inner());
            for p in &prefixes {
                b.push((p.clone(), home, id));
            }
            t.prefixes.borrow_mut().extend(prefixes);
        }
    } else if eq_ic(&argv[2], "off") {
        c.stop_tracking();
    } else {
        return Err(CmdError::Syntax);
    }
    c.reply().ok();
    Ok(())
});

conn_fn!(client_caching, |c, argv| {
    use crate::shard::tracking::{CACHING, ON, OPTIN, OPTOUT};
    let t = &c.info.tracking;
    let flags = t.flags.get();
    if flags & ON == 0 {
        return Err(CmdError::Static(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    }
    if eq_ic(&argv[2], "yes") {
        if flags & OPTIN == 0 {
            return Err(CmdError::Static(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if eq_ic(&argv[2], "no") {
        if flags & OPTOUT == 0 {
            return Err(CmdError::Static(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    t.flags.set(flags | CACHING);
    c.reply().ok();
    Ok(())
});

conn_fn!(client_getredir, |c, _argv| {
    let t = &c.info.tracking;
    let n = if t.flags.get() & crate::shard::tracking::ON == 0 {
        -1
    } else {
        t.redirect.get().map_or(0, |(_, id)| id as i64)
    };
    c.reply().int(n);
    Ok(())
});

conn_fn!(client_trackinginfo, |c, _argv| {
    use crate::shard::tracking::{BCAST, BROKEN_REDIRECT, CACHING, NOLOOP, ON, OPTIN, OPTOUT};
    let t = &c.info.tracking;
    let f = t.flags.get();
    let mut flags = vec![if f & ON != 0 { "on" } else { "off" }];
    for (bit, name) in [(BCAST, "bcast"), (OPTIN, "optin")] {
        if f & bit != 0 {
            flags.push(name);
        }
    }
    if f & OPTIN != 0 && f & CACHING != 0 {
        flags.push("caching-yes");
    }
    if f & OPTOUT != 0 {
        flags.push("optout");
        if f & CACHING != 0 {
            flags.push("caching-no");
        }
    }
    for (bit, name) in [(NOLOOP, "noloop"), (BROKEN_REDIRECT, "broken_redirect")] {
        if f & bit != 0 {
            flags.push(name);
        }
    }
    let redirect = if f & ON == 0 {
        -1
    } else {
        t.redirect.get().map_or(0, |(_, id)| id as i64)
    };
    let prefixes = t.prefixes.borrow().clone();
    let mut r = c.reply();
    r.map(3);
    r.bulk(b"flags");
    r.set(flags.len());
    for fl in flags {
        r.bulk(fl.as_bytes());
    }
    r.bulk(b"redirect");
    r.int(redirect);
    r.bulk(b"prefixes");
    r.array(prefixes.len());
    for p in &prefixes {
        r.bulk(p);
    }
    Ok(())
});

// CLIENT PAUSE timeout [WRITE|ALL]: every shard's clients wait (see
// `dispatch::route::wait_out_pause`) until the timeout or CLIENT UNPAUSE.
conn_fn!(client_pause, |c, argv| {
    let ms = parse_i64(&argv[2]).ok_or(CmdError::Static(
        "ERR timeout is not an integer or out of range",
    ))?;
    if ms < 0 {
        return Err(CmdError::Static("ERR timeout is negative"));
    }
    let mode = match argv.get(3) {
        _ if argv.len() > 4 => return Err(CmdError::Syntax),
        None => crate::shard::globals::PAUSE_ALL,
        Some(m) if eq_ic(m, "ALL") => crate::shard::globals::PAUSE_ALL,
        Some(m) if eq_ic(m, "WRITE") => crate::shard::globals::PAUSE_WRITE,
        Some(_) => {
            return Err(CmdError::Static(
                "ERR CLIENT PAUSE mode must be WRITE or ALL",
            ));
        }
    };
    let until = crate::store::now_ms().saturating_add(ms as u64);
    c.shard.globals.pause(until, mode);
    c.reply().ok();
    Ok(())
});

conn_fn!(client_unpause, |c, _argv| {
    c.shard.globals.unpause();
    c.reply().ok();
    Ok(())
});

// CLIENT REPLY: OFF drops replies until ON; SKIP drops the next command's.
// Neither OFF nor SKIP answers (`dispatch::route` drops the replies).
conn_fn!(client_reply, |c, argv| {
    if eq_ic(&argv[2], "ON") {
        c.reply_off = false;
        c.reply_skip = false;
        c.reply_skip_next = false;
        c.reply().ok();
    } else if eq_ic(&argv[2], "OFF") {
        c.reply_off = true;
    } else if eq_ic(&argv[2], "SKIP") {
        if !c.reply_off {
            c.reply_skip_next = true;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
});

conn_fn!(client_no_touch, |c, argv| {
    c.info.no_touch.set(on_off(&argv[2])?);
    c.reply().ok();
    Ok(())
});

conn_fn!(client_help, |c, _argv| {
    help_reply(
        c,
        &[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, ADDR, LADDR, SKIPME.",
            "LIST [options ...]",
            "    Return information about client connections. Options: TYPE, ID.",
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
});
