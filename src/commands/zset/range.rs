//! ZRANGE and its older forms by rank, score and lex, ZRANGESTORE, and the
//! ZREMRANGEBY* removals.

use super::*;

// ---- ranges ----

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Rank,
    Score,
    Lex,
}

pub(super) enum Sel {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

pub(super) struct RangeQuery {
    sel: Sel,
    rev: bool,
    offset: i64,
    limit: i64,
    withscores: bool,
}

/// Parses `min max [options]` (`args` starts at min) as Redis's
/// `zrangeGenericCommand`; `kind`/`rev` are fixed by the legacy commands.
pub(super) fn parse_range(
    args: &[Bytes],
    store: bool,
    kind: Option<Kind>,
    rev: Option<bool>,
) -> Result<RangeQuery, CmdError> {
    let (mut kind_opt, mut rev_opt) = (kind, rev);
    let (mut offset, mut limit, mut withscores) = (0i64, -1i64, false);
    let mut j = 2;
    while j < args.len() {
        let t = &args[j];
        let left = args.len() - j - 1;
        if !store && eq_ic(t, "withscores") {
            withscores = true;
        } else if eq_ic(t, "limit") && left >= 2 {
            offset = int_arg(&args[j + 1])?;
            limit = int_arg(&args[j + 2])?;
            j += 2;
        } else if rev_opt.is_none() && eq_ic(t, "rev") {
            rev_opt = Some(true);
        } else if kind_opt.is_none() && eq_ic(t, "bylex") {
            kind_opt = Some(Kind::Lex);
        } else if kind_opt.is_none() && eq_ic(t, "byscore") {
            kind_opt = Some(Kind::Score);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let kind = kind_opt.unwrap_or(Kind::Rank);
    let rev = rev_opt.unwrap_or(false);
    if limit != -1 && kind == Kind::Rank {
        return Err(CmdError::Static(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == Kind::Lex {
        return Err(CmdError::Static(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (lo, hi) = if rev && kind != Kind::Rank {
        (&args[1], &args[0])
    } else {
        (&args[0], &args[1])
    };
    let sel = match kind {
        Kind::Rank => Sel::Rank(int_arg(lo)?, int_arg(hi)?),
        Kind::Score => Sel::Score(parse_score_range(lo, hi)?),
        Kind::Lex => Sel::Lex(parse_lex_range(lo, hi)?),
    };
    Ok(RangeQuery {
        sel,
        rev,
        offset,
        limit,
        withscores,
    })
}

/// The members a range query selects, in reply order.
pub(super) fn range_items<'a>(z: &'a ZSet, q: &RangeQuery) -> Vec<(&'a [u8], f64)> {
    let len = z.len();
    let (lo, hi) = match &q.sel {
        Sel::Rank(s, e) => {
            let Some((s, e)) = crate::commands::clamp_range(*s, *e, len) else {
                return Vec::new();
            };
            if q.rev {
                (len - 1 - e, len - s)
            } else {
                (s, e + 1)
            }
        }
        _ if q.offset < 0 => return Vec::new(),
        sel => {
            let (s, e) = match sel {
                Sel::Score(r) => z.score_span(r),
                Sel::Lex(r) => z.lex_span(r),
                Sel::Rank(..) => (0, 0),
            };
            let n = e - s;
            let skip = (q.offset as u64).min(n as u64) as usize;
            let take = if q.limit < 0 {
                n - skip
            } else {
                (q.limit as u64).min((n - skip) as u64) as usize
            };
            if q.rev {
                (e - skip - take, e - skip)
            } else {
                (s + skip, s + skip + take)
            }
        }
    };
    let mut out = Vec::with_capacity(hi.saturating_sub(lo));
    z.visit(lo, hi, q.rev, |m, s| out.push((m, s)));
    out
}

pub(super) fn range_cmd(
    ex: &mut Exec,
    a: &mut Args,
    kind: Option<Kind>,
    rev: Option<bool>,
) -> CmdResult {
    let args = a.all();
    let q = parse_range(&args[1..], false, kind, rev)?;
    let z = zread(&mut ex.store.dbs[ex.db], &args[0], ex.now, ex.stats)?;
    let items = z.map(|z| range_items(z, &q)).unwrap_or_default();
    reply_entries(&mut ex.reply, items.len(), q.withscores, items);
    Ok(())
}

pub(super) fn zrange(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, None, None)
}

pub(super) fn zrevrange(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, Some(Kind::Rank), Some(true))
}

pub(super) fn zrangebyscore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, Some(Kind::Score), Some(false))
}

pub(super) fn zrevrangebyscore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, Some(Kind::Score), Some(true))
}

pub(super) fn zrangebylex(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, Some(Kind::Lex), Some(false))
}

pub(super) fn zrevrangebylex(ex: &mut Exec, a: &mut Args) -> CmdResult {
    range_cmd(ex, a, Some(Kind::Lex), Some(true))
}

/// ZRANGESTORE's result from the source value (`args` starts at dst).
pub(super) fn rangestore_eval(
    args: &[Bytes],
    src: Option<&Value>,
) -> Result<Option<ZSet>, CmdError> {
    let q = parse_range(&args[2..], true, None, None)?;
    let z = match src {
        None => return Ok(None),
        Some(Value::ZSet(z)) => z,
        Some(_) => return Err(CmdError::WrongType),
    };
    let items: Vec<(Vec<u8>, f64)> = range_items(z, &q)
        .into_iter()
        .map(|(m, s)| (m.to_vec(), s))
        .collect();
    Ok((!items.is_empty()).then(|| ZSet::from_pairs(items)))
}

/// Writes a *STORE result (deleting `dest` when empty) and replies its size.
pub(super) fn store_result(
    db: &mut Db,
    dest: &[u8],
    z: Option<ZSet>,
    r: &mut Reply,
    event: &'static str,
) {
    match z {
        Some(z) => {
            r.int(z.len() as i64);
            db.set(dest, Value::ZSet(z));
            notify(db.id as usize, ev::ZSET, event, dest);
        }
        None => {
            r.int(0);
            if db.remove(dest).is_some() {
                notify(db.id as usize, ev::GENERIC, "del", dest);
            }
        }
    }
}

pub(super) fn zrangestore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    let args = a.all();
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    db.find(&args[1], now);
    let z = rangestore_eval(args, db.peek(&args[1], now).map(|e| &e.value))?;
    store_result(db, &args[0], z, &mut ex.reply, "zrangestore");
    Ok(())
}

// ---- removals by range ----

pub(super) fn zremrange(ex: &mut Exec, a: &mut Args, kind: Kind) -> CmdResult {
    let key = a.next()?;
    let (lo, hi) = (a.next()?, a.next()?);
    let sel = match kind {
        Kind::Rank => Sel::Rank(int_arg(lo)?, int_arg(hi)?),
        Kind::Score => Sel::Score(parse_score_range(lo, hi)?),
        Kind::Lex => Sel::Lex(parse_lex_range(lo, hi)?),
    };
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    let Some(z) = zwrite(db, key, now)? else {
        ex.reply.int(0);
        return Ok(());
    };
    let (s, e) = match &sel {
        Sel::Rank(s, e) => {
            crate::commands::clamp_range(*s, *e, z.len()).map_or((0, 0), |(s, e)| (s, e + 1))
        }
        Sel::Score(r) => z.score_span(r),
        Sel::Lex(r) => z.lex_span(r),
    };
    let n = z.remove_span(s, e);
    if n > 0 {
        let event = match kind {
            Kind::Rank => "zremrangebyrank",
            Kind::Score => "zremrangebyscore",
            Kind::Lex => "zremrangebylex",
        };
        notify(db.id as usize, ev::ZSET, event, key);
    }
    drop_if_empty(db, key, now);
    ex.reply.int(n as i64);
    Ok(())
}

pub(super) fn zremrangebyrank(ex: &mut Exec, a: &mut Args) -> CmdResult {
    zremrange(ex, a, Kind::Rank)
}

pub(super) fn zremrangebyscore(ex: &mut Exec, a: &mut Args) -> CmdResult {
    zremrange(ex, a, Kind::Score)
}

pub(super) fn zremrangebylex(ex: &mut Exec, a: &mut Args) -> CmdResult {
    zremrange(ex, a, Kind::Lex)
}
