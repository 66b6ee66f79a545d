//! ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD: one evaluation
//! over the sources, which `dispatch::coord` gathers when they span shards.

use super::*;

// ---- set operations ----

#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Mode {
    Read,
    Store,
    Card,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Agg {
    Sum,
    Min,
    Max,
}

/// A source of a set operation: sets count as members with score 1.
pub(super) enum Src<'a> {
    Missing,
    Z(&'a ZSet),
    S(&'a Set),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Src::Missing => {}
            Src::Z(z) => z.for_each_in_order(f),
            Src::S(s) => s.for_each(|m| f(m, 1.0)),
        }
    }
}

/// Membership lookups into a source.
pub(super) enum Lookup<'a> {
    Missing,
    Z(&'a ZSet),
    S(hashbrown::HashSet<Vec<u8>>),
}

impl Lookup<'_> {
    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Lookup::Missing => None,
            Lookup::Z(z) => z.score(m),
            Lookup::S(s) => s.contains(m).then_some(1.0),
        }
    }
}

pub(super) fn lookup_of<'a>(src: &Src<'a>) -> Lookup<'a> {
    match src {
        Src::Missing => Lookup::Missing,
        Src::Z(z) => Lookup::Z(z),
        Src::S(s) => {
            let mut h = hashbrown::HashSet::with_capacity(s.len());
            s.for_each(|m| {
                h.insert(m.to_vec());
            });
            Lookup::S(h)
        }
    }
}

pub(super) fn aggregate(target: &mut f64, val: f64, agg: Agg) {
    match agg {
        Agg::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Agg::Min => {
            if val < *target {
                *target = val;
            }
        }
        Agg::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// `numkeys` at `args[nk]` (args after the command name), checked as Redis does.
pub(super) fn numkeys(args: &[Bytes], nk: usize, name: &str) -> Result<usize, CmdError> {
    let n = int_arg(args.get(nk).ok_or(CmdError::Syntax)?)?;
    if n < 1 {
        return Err(CmdError::Msg(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if n as u64 > (args.len() - nk - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    Ok(n as usize)
}

/// What a set operation produced.
pub(super) enum SetOut {
    /// Members with their scores, sorted; and whether to reply the scores.
    Items(Vec<(Vec<u8>, f64)>, bool),
    Card(usize),
}

/// The whole of ZUNION/ZINTER/ZDIFF(STORE)/ZINTERCARD after the keys were read:
/// type checks, options, then the computation. `vals` are the source values in
/// key order.
pub(super) fn setop_eval(
    args: &[Bytes],
    nk: usize,
    n: usize,
    vals: &[Option<&Value>],
    op: SetOp,
    mode: Mode,
) -> Result<SetOut, CmdError> {
    let mut srcs = Vec::with_capacity(n);
    for v in vals {
        srcs.push(match v {
            None => Src::Missing,
            Some(Value::ZSet(z)) => Src::Z(z),
            Some(Value::Set(s)) => Src::S(s),
            Some(_) => return Err(CmdError::WrongType),
        });
    }
    let mut weights = vec![1.0f64; n];
    let (mut agg, mut withscores, mut limit) = (Agg::Sum, false, 0usize);
    let mut j = nk + 1 + n;
    while j < args.len() {
        let remaining = args.len() - j;
        let t = &args[j];
        if op != SetOp::Diff && mode != Mode::Card && remaining > n && eq_ic(t, "weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = parse_double(&args[j + 1 + i])
                    .ok_or(CmdError::Static("ERR weight value is not a float"))?;
            }
            j += 1 + n;
        } else if op != SetOp::Diff && mode != Mode::Card && remaining >= 2 && eq_ic(t, "aggregate")
        {
            let v = &args[j + 1];
            agg = if eq_ic(v, "sum") {
                Agg::Sum
            } else if eq_ic(v, "min") {
                Agg::Min
            } else if eq_ic(v, "max") {
                Agg::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if mode == Mode::Card && remaining >= 2 && eq_ic(t, "limit") {
            limit = parse_i64(&args[j + 1])
                .filter(|&l| l >= 0)
                .ok_or(CmdError::Static("ERR LIMIT can't be negative"))?
                as usize;
            j += 2;
        } else if mode == Mode::Read && eq_ic(t, "withscores") {
            withscores = true;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    // Smallest inputs first, as Redis orders them (it also fixes the order in
    // which SUM adds, hence the exact float results).
    let mut order: Vec<usize> = (0..n).collect();
    if op != SetOp::Diff {
        order.sort_by_key(|&i| srcs[i].len());
    }
    let mut out: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        SetOp::Union => {
            let mut acc: hashbrown::HashMap<Vec<u8>, f64> = hashbrown::HashMap::new();
            for &i in &order {
                let w = weights[i];
                srcs[i].for_each(|m, s| {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, agg),
                        None => {
                            acc.insert(m.to_vec(), score);
                        }
                    }
                });
            }
            out = acc.into_iter().collect();
        }
        SetOp::Inter => {
            let first = order[0];
            if srcs[first].len() > 0 {
                let lookups: Vec<(Lookup, f64)> = order[1..]
                    .iter()
                    .map(|&i| (lookup_of(&srcs[i]), weights[i]))
                    .collect();
                let mut count = 0usize;
                srcs[first].for_each(|m, s| {
                    if mode == Mode::Card && limit > 0 && count >= limit {
                        return;
                    }
                    let mut score = weights[first] * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for (l, w) in &lookups {
                        match l.score(m) {
                            Some(v) => aggregate(&mut score, v * w, agg),
                            None => return,
                        }
                    }
                    count += 1;
                    if mode != Mode::Card {
                        out.push((m.to_vec(), score));
                    }
                });
                if mode == Mode::Card {
                    return Ok(SetOut::Card(count));
                }
            } else if mode == Mode::Card {
                return Ok(SetOut::Card(0));
            }
        }
        SetOp::Diff => {
            let others: Vec<Lookup> = srcs[1..].iter().map(lookup_of).collect();
            srcs[0].for_each(|m, s| {
                if others.iter().all(|l| l.score(m).is_none()) {
                    out.push((m.to_vec(), s));
                }
            });
        }
    }
    out.sort_by(|a, b| crate::store::zset::cmp_entry(a.1, &a.0, b.1, &b.0));
    Ok(SetOut::Items(out, withscores))
}

/// Runs a set operation whose keys are all on this shard.
pub(super) fn setop_shard(
    ex: &mut Exec,
    a: &mut Args,
    name: &str,
    op: SetOp,
    mode: Mode,
) -> CmdResult {
    let args = a.all();
    let nk = if mode == Mode::Store { 1 } else { 0 };
    let n = numkeys(args, nk, name)?;
    let keys = &args[nk + 1..nk + 1 + n];
    let now = ex.now;
    let db = &mut ex.store.dbs[ex.db];
    for k in keys {
        db.find(k, now);
    }
    let out = {
        let vals: Vec<Option<&Value>> = keys
            .iter()
            .map(|k| db.peek(k, now).map(|e| &e.value))
            .collect();
        setop_eval(args, nk, n, &vals, op, mode)?
    };
    match out {
        SetOut::Card(c) => ex.reply.int(c as i64),
        SetOut::Items(items, ws) => {
            if mode == Mode::Store {
                let z = (!items.is_empty()).then(|| ZSet::from_pairs(items));
                let event = match op {
                    SetOp::Union => "zunionstore",
                    SetOp::Inter => "zinterstore",
                    SetOp::Diff => "zdiffstore",
                };
                store_result(db, &args[0], z, &mut ex.reply, event);
            } else {
                reply_entries(
                    &mut ex.reply,
                    items.len(),
                    ws,
                    items.iter().map(|(m, s)| (m.as_slice(), *s)),
                );
            }
        }
    }
    Ok(())
}

macro_rules! setop_cmds {
    ($($shard:ident, $name:literal, $op:expr, $mode:expr;)*) => {
        $(
            pub(super) fn $shard(ex: &mut Exec, a: &mut Args) -> CmdResult {
                setop_shard(ex, a, $name, $op, $mode)
            }
        )*
    };
}

setop_cmds! {
    zunion, "zunion", SetOp::Union, Mode::Read;
    zinter, "zinter", SetOp::Inter, Mode::Read;
    zdiff, "zdiff", SetOp::Diff, Mode::Read;
    zintercard, "zintercard", SetOp::Inter, Mode::Card;
    zunionstore, "zunionstore", SetOp::Union, Mode::Store;
    zinterstore, "zinterstore", SetOp::Inter, Mode::Store;
    zdiffstore, "zdiffstore", SetOp::Diff, Mode::Store;
}
