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
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
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
