//! COMMAND and its subcommands: the table rendered as Redis 7.0 renders
//! its own (INFO, DOCS, COUNT, LIST, GETKEYS[ANDFLAGS]).

use super::*;

pub(super) fn all_specs() -> Vec<&'static CommandSpec> {
    let mut v: Vec<_> = table::table().values().copied().collect();
    v.sort_by_key(|s| s.name);
    v
}

pub(super) fn write_info(r: &mut Reply, spec: &CommandSpec) {
    let (first, last, step) = spec.legacy_range();
    r.array(10);
    r.bulk(spec.name.as_bytes());
    r.int(spec.arity as i64);
    let flags = spec.info_flags();
    let names: Vec<&str> = flag::NAMES
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    r.set(names.len());
    for f in names {
        r.simple(f);
    }
    r.int(first);
    r.int(last);
    r.int(step);
    let acl_cats = spec.acl_categories();
    let cats: Vec<&str> = acl::NAMES
        .iter()
        .filter(|(b, _)| acl_cats & b != 0)
        .map(|(_, n)| *n)
        .collect();
    r.set(cats.len());
    for cat in cats {
        r.simple(&format!("@{cat}"));
    }
    // Tips, key specs and subcommands are sets in Redis 7.0's RESP3 reply.
    r.set(spec.tips.len());
    for t in spec.tips {
        r.bulk(t.as_bytes());
    }
    r.set(spec.keys.len());
    for k in spec.keys {
        write_key_spec(r, k);
    }
    r.set(spec.subcommands.len());
    for sub in spec.subcommands {
        write_info(r, sub);
    }
}

/// One Redis 7 key spec: notes, flags, begin_search, find_keys.
pub(super) fn write_key_spec(r: &mut Reply, k: &KeySpec) {
    r.map(if k.notes.is_some() { 4 } else { 3 });
    if let Some(n) = k.notes {
        r.bulk(b"notes");
        r.bulk(n.as_bytes());
    }
    r.bulk(b"flags");
    let names: Vec<&str> = ks::NAMES
        .iter()
        .filter(|(b, _)| k.flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    r.set(names.len());
    for n in names {
        r.simple(n);
    }
    r.bulk(b"begin_search");
    r.map(2);
    r.bulk(b"type");
    match k.begin {
        Begin::Index(pos) => {
            r.bulk(b"index");
            r.bulk(b"spec");
            r.map(1);
            r.bulk(b"index");
            r.int(pos as i64);
        }
        Begin::Keyword { keyword, startfrom } => {
            r.bulk(b"keyword");
            r.bulk(b"spec");
            r.map(2);
            r.bulk(b"keyword");
            r.bulk(keyword.as_bytes());
            r.bulk(b"startfrom");
            r.int(startfrom as i64);
        }
        Begin::Unknown => {
            r.bulk(b"unknown");
            r.bulk(b"spec");
            r.map(0);
        }
    }
    r.bulk(b"find_keys");
    r.map(2);
    r.bulk(b"type");
    let fields: &[(&[u8], i64)] = match k.find {
        Find::Range {
            lastkey,
            step,
            limit,
        } => {
            r.bulk(b"range");
            &[
                (b"lastkey", lastkey as i64),
                (b"keystep", step as i64),
                (b"limit", limit as i64),
            ]
        }
        Find::KeyNum {
            keynumidx,
            firstkey,
            step,
        } => {
            r.bulk(b"keynum");
            &[
                (b"keynumidx", keynumidx as i64),
                (b"firstkey", firstkey as i64),
                (b"keystep", step as i64),
            ]
        }
        Find::Unknown => {
            r.bulk(b"unknown");
            &[]
        }
    };
    r.bulk(b"spec");
    r.map(fields.len());
    for (name, v) in fields {
        r.bulk(name);
        r.int(*v);
    }
}

conn_fn!(command, |c, argv| {
    if argv.len() > 1 {
        // Routing sends known subcommands to their own handlers.
        return Err(CmdError::Syntax);
    }
    let specs = all_specs();
    let mut r = c.reply();
    r.array(specs.len());
    for s in specs {
        write_info(&mut r, s);
    }
    Ok(())
});

conn_fn!(command_count, |c, _argv| {
    let n = table::table().len();
    c.reply().int(n as i64);
    Ok(())
});

conn_fn!(command_info, |c, argv| {
    let specs: Vec<Option<&'static CommandSpec>> = if argv.len() == 2 {
        all_specs().into_iter().map(Some).collect()
    } else {
        argv[2..].iter().map(|n| table::lookup_full(n)).collect()
    };
    let mut r = c.reply();
    r.array(specs.len());
    for s in specs {
        match s {
            Some(s) => write_info(&mut r, s),
            None => r.null_array(),
        }
    }
    Ok(())
});

pub(super) fn write_docs(r: &mut Reply, spec: &CommandSpec) {
    let has_subs = !spec.subcommands.is_empty();
    r.map(if has_subs { 5 } else { 4 });
    r.bulk(b"summary");
    r.bulk(spec.summary.as_bytes());
    r.bulk(b"since");
    r.bulk(spec.since.as_bytes());
    r.bulk(b"group");
    r.bulk(spec.group.as_bytes());
    r.bulk(b"complexity");
    r.bulk(b"");
    if has_subs {
        r.bulk(b"subcommands");
        r.map(spec.subcommands.len());
        for sub in spec.subcommands {
            r.bulk(sub.name.as_bytes());
            write_docs(r, sub);
        }
    }
}

conn_fn!(command_docs, |c, argv| {
    let specs: Vec<&'static CommandSpec> = if argv.len() == 2 {
        all_specs()
    } else {
        argv[2..]
            .iter()
            .filter_map(|n| table::lookup_full(n))
            .collect()
    };
    let mut r = c.reply();
    r.map(specs.len());
    for s in specs {
        r.bulk(s.name.as_bytes());
        write_docs(&mut r, s);
    }
    Ok(())
});

conn_fn!(command_list, |c, argv| {
    let mut a = Args::new(&argv[2..]);
    let mut filter: Option<(String, Bytes)> = None;
    if a.eat("FILTERBY") {
        let kind = String::from_utf8_lossy(a.next()?).to_ascii_lowercase();
        let val = a.next()?.clone();
        if !["module", "aclcat", "pattern"].contains(&kind.as_str()) {
            return Err(CmdError::Syntax);
        }
        filter = Some((kind, val));
    }
    a.finish()?;
    let mut list: Vec<&'static str> = Vec::new();
    for s in all_specs() {
        let mut push = |spec: &'static CommandSpec| {
            let keep = match &filter {
                None => true,
                Some((k, _)) if k == "module" => false,
                Some((k, v)) if k == "aclcat" => acl::NAMES.iter().any(|(b, n)| {
                    spec.acl_categories() & b != 0 && v.eq_ignore_ascii_case(n.as_bytes())
                }),
                Some((_, v)) => crate::util::glob_match(v, spec.name.as_bytes(), true),
            };
            if keep {
                list.push(spec.name);
            }
        };
        push(s);
        for sub in s.subcommands {
            push(sub);
        }
    }
    let mut r = c.reply();
    r.array(list.len());
    for n in list {
        r.bulk(n.as_bytes());
    }
    Ok(())
});

conn_fn!(command_getkeys, |c, argv| {
    let keys = keys_of(argv)?;
    let mut r = c.reply();
    r.array(keys.len());
    for (k, _) in keys {
        r.bulk(&k);
    }
    Ok(())
});

// COMMAND GETKEYSANDFLAGS: each key with its key-spec flags.
conn_fn!(command_getkeysandflags, |c, argv| {
    let keys = keys_of(argv)?;
    let mut r = c.reply();
    r.array(keys.len());
    for (k, flags) in keys {
        r.array(2);
        r.bulk(&k);
        let names: Vec<&str> = ks::NAMES
            .iter()
            .filter(|(f, _)| flags & f != 0)
            .map(|(_, n)| *n)
            .collect();
        r.set(names.len());
        for n in names {
            r.simple(n);
        }
    }
    Ok(())
});

/// The keys (and their key-spec flags) of the command in `argv[2..]`, or
/// Redis's COMMAND GETKEYS errors.
fn keys_of(argv: &[Bytes]) -> Result<Vec<(Bytes, u16)>, CmdError> {
    let target = &argv[2..];
    let Some(mut spec) = table::lookup(&target[0]) else {
        return Err(CmdError::Static("ERR Invalid command specified"));
    };
    if !spec.subcommands.is_empty()
        && target.len() > 1
        && let Some(sub) = table::lookup_sub(spec, &target[1])
    {
        spec = sub;
    }
    if !spec.arity_ok(target.len()) {
        return Err(CmdError::Static(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let mut keys = Vec::new();
    let ok = spec.for_each_key(target, |i, flags| keys.push((target[i].clone(), flags)));
    if !ok {
        return Err(CmdError::Static(
            "ERR Invalid arguments specified for command",
        ));
    }
    if keys.is_empty() {
        return Err(CmdError::Static("ERR The command has no key arguments"));
    }
    Ok(keys)
}

conn_fn!(command_help, |c, _argv| {
    help_reply(
        c,
        &[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
});
