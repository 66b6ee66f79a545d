//! The pub/sub family: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBE
//! forms, PUBLISH, SPUBLISH and PUBSUB. A subscription lives on the client's
//! shard; a PUBLISH on any shard reaches every subscriber on every shard
//! (`shard::pubsub` has the delivery and its ordering).
//!
//! corekv is not a cluster, so shard channels are a namespace of their own
//! with the same reach as channels (as on a one-node Redis Cluster).

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::keyspace::container_help;
use super::{CmdResult, CommandSpec};
use crate::dispatch::Client;
use crate::dispatch::table::flag;
use crate::dispatch::table::ks::*;
use crate::shard::pubsub::{Kind, OutputLimit};

/// Subscribing commands: no scripts, and served while loading or stale.
const SUB: u32 = flag::PUBSUB | flag::NOSCRIPT | flag::LOADING | flag::STALE;
/// PUBLISH, SPUBLISH and the PUBSUB introspection subcommands.
const PUB: u32 = flag::PUBSUB | flag::LOADING | flag::STALE;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("subscribe", -2, subscribe)
        .flags(SUB)
        .doc(
            "pubsub",
            "2.0.0",
            "Listen for messages published to the given channels",
        ),
    CommandSpec::conn("unsubscribe", -1, unsubscribe)
        .flags(SUB)
        .doc(
            "pubsub",
            "2.0.0",
            "Stop listening for messages posted to the given channels",
        ),
    CommandSpec::conn("psubscribe", -2, psubscribe)
        .flags(SUB)
        .doc(
            "pubsub",
            "2.0.0",
            "Listen for messages published to channels matching the given patterns",
        ),
    CommandSpec::conn("punsubscribe", -1, punsubscribe)
        .flags(SUB)
        .doc(
            "pubsub",
            "2.0.0",
            "Stop listening for messages posted to channels matching the given patterns",
        ),
    CommandSpec::conn("ssubscribe", -2, ssubscribe)
        .flags(SUB)
        .keys(&[keys_from(1, NOT_KEY)])
        .doc(
            "pubsub",
            "7.0.0",
            "Listen for messages published to the given shard channels",
        ),
    CommandSpec::conn("sunsubscribe", -1, sunsubscribe)
        .flags(SUB)
        .keys(&[keys_from(1, NOT_KEY)])
        .doc(
            "pubsub",
            "7.0.0",
            "Stop listening for messages posted to the given shard channels",
        ),
    CommandSpec::conn("publish", 3, publish)
        .flags(PUB | flag::FAST | flag::MAY_REPLICATE)
        .doc("pubsub", "2.0.0", "Post a message to a channel"),
    CommandSpec::conn("spublish", 3, spublish)
        .flags(PUB | flag::FAST | flag::MAY_REPLICATE)
        .keys(&[key(1, NOT_KEY)])
        .doc("pubsub", "7.0.0", "Post a message to a shard channel"),
    CommandSpec::conn("pubsub", -2, container_help)
        .doc("pubsub", "2.8.0", "A container for Pub/Sub commands")
        .subcommands(PUBSUB_SUBCOMMANDS),
];

static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::conn("pubsub|channels", -2, pubsub_channels)
        .flags(PUB)
        .doc("pubsub", "2.8.0", "List active channels"),
    CommandSpec::conn("pubsub|numsub", -2, pubsub_numsub)
        .flags(PUB)
        .doc(
            "pubsub",
            "2.8.0",
            "Get the count of subscribers for channels",
        ),
    CommandSpec::conn("pubsub|numpat", 2, pubsub_numpat)
        .flags(PUB)
        .doc(
            "pubsub",
            "2.8.0",
            "Get the count of unique patterns pattern subscriptions",
        ),
    CommandSpec::conn("pubsub|shardchannels", -2, pubsub_shardchannels)
        .flags(PUB)
        .doc("pubsub", "7.0.0", "List active shard channels"),
    CommandSpec::conn("pubsub|shardnumsub", -2, pubsub_shardnumsub)
        .flags(PUB)
        .doc(
            "pubsub",
            "7.0.0",
            "Get the count of subscribers for shard channels",
        ),
    CommandSpec::conn("pubsub|help", 2, pubsub_help)
        .flags(flag::LOADING | flag::STALE)
        .doc(
            "pubsub",
            "6.2.0",
            "Show helpful text about the different subcommands",
        ),
];

conn_fn!(subscribe, |c, argv| sub(c, argv, Kind::Channel));
conn_fn!(psubscribe, |c, argv| sub(c, argv, Kind::Pattern));
conn_fn!(ssubscribe, |c, argv| sub(c, argv, Kind::Shard));
conn_fn!(unsubscribe, |c, argv| unsub(c, argv, Kind::Channel));
conn_fn!(punsubscribe, |c, argv| unsub(c, argv, Kind::Pattern));
conn_fn!(sunsubscribe, |c, argv| unsub(c, argv, Kind::Shard));
conn_fn!(publish, |c, argv| publish_to(c, argv, false).await);
conn_fn!(spublish, |c, argv| publish_to(c, argv, true).await);

/// The confirmation's first element, per kind: (subscribe, unsubscribe).
fn labels(kind: Kind) -> (&'static [u8], &'static [u8]) {
    match kind {
        Kind::Channel => (b"subscribe", b"unsubscribe"),
        Kind::Pattern => (b"psubscribe", b"punsubscribe"),
        Kind::Shard => (b"ssubscribe", b"sunsubscribe"),
    }
}

/// The count a confirmation carries: channels plus patterns, or, for shard
/// channels, shard channels alone (as Redis 7.0 counts them).
fn count(c: &Client, kind: Kind) -> i64 {
    let n = |k: Kind| c.subs[k as usize].len() as i64;
    match kind {
        Kind::Shard => n(Kind::Shard),
        _ => n(Kind::Channel) + n(Kind::Pattern),
    }
}

/// Writes one confirmation: `[label, name or nil, count]`, pushed in RESP3.
fn confirm(c: &mut Client, label: &[u8], name: Option<&[u8]>, kind: Kind) {
    let n = count(c, kind);
    let mut r = c.reply();
    r.push(3);
    r.bulk(label);
    match name {
        Some(name) => r.bulk(name),
        None => r.null(),
    }
    r.int(n);
}

/// Messages delivered before this command go out before its reply, and its
/// output is pushes (kept under CLIENT REPLY OFF).
fn flush_pushes(c: &mut Client) {
    c.output_is_push = true;
    let info = c.info.clone();
    info.outbox.drain_into(&mut c.out);
}

fn sub(c: &mut Client, argv: &[Bytes], kind: Kind) -> CmdResult {
    flush_pushes(c);
    let limit = OutputLimit::parse(
        c.shard.globals.config().get("client-output-buffer-limit"),
        "pubsub",
    );
    c.info.outbox.set_limit(limit);
    for name in &argv[1..] {
        c.subscribe(kind, name);
        confirm(c, labels(kind).0, Some(name), kind);
    }
    Ok(())
}

fn unsub(c: &mut Client, argv: &[Bytes], kind: Kind) -> CmdResult {
    flush_pushes(c);
    let label = labels(kind).1;
    if argv.len() > 1 {
        for name in &argv[1..] {
            c.unsubscribe(kind, name);
            confirm(c, label, Some(name), kind);
        }
        return Ok(());
    }
    let names: Vec<Bytes> = c.subs[kind as usize].iter().cloned().collect();
    if names.is_empty() {
        confirm(c, label, None, kind);
    }
    for name in names {
        c.unsubscribe(kind, &name);
        confirm(c, label, Some(&name), kind);
    }
    Ok(())
}

/// PUBLISH / SPUBLISH: the message goes once to each shard with a subscriber
/// (a shared buffer), which writes it to its clients: at once on this shard,
/// for PUBLISH through this shard's ordered send queue to the others (so the
/// publisher does not wait a round trip per message). The reply, how many
/// subscriptions receive it, comes from the registry's counts.
async fn publish_to(c: &mut Client, argv: &[Bytes], sharded: bool) -> CmdResult {
    let (channel, message) = (&argv[1], &argv[2]);
    let (targets, n) = c.shard.globals.pubsub().receivers(sharded, channel);
    for t in targets {
        if t == c.shard.id {
            c.shard.deliver(sharded, channel, message);
        } else if sharded {
            let (ch, msg) = (channel.clone(), message.clone());
            c.shard
                .run_now(t, move |sh| sh.deliver(true, &ch, &msg))
                .await;
        } else {
            c.shard
                .send_messages(t, vec![(channel.clone(), message.clone())]);
        }
    }
    c.reply().int(n as i64);
    Ok(())
}

fn names_reply(c: &mut Client, argv: &[Bytes], kind: Kind) -> CmdResult {
    let pattern = argv.get(2).map(|p| &p[..]);
    let names = c.shard.globals.pubsub().names(kind, pattern);
    let mut r = c.reply();
    r.array(names.len());
    for n in &names {
        r.bulk(n);
    }
    Ok(())
}

fn numsub_reply(c: &mut Client, argv: &[Bytes], kind: Kind) -> CmdResult {
    let counts: Vec<u64> = {
        let reg = c.shard.globals.pubsub();
        argv[2..].iter().map(|ch| reg.count(kind, ch)).collect()
    };
    let mut r = c.reply();
    r.array(2 * counts.len());
    for (ch, n) in argv[2..].iter().zip(counts) {
        r.bulk(ch);
        r.int(n as i64);
    }
    Ok(())
}

conn_fn!(pubsub_channels, |c, argv| names_reply(
    c,
    argv,
    Kind::Channel
));
conn_fn!(pubsub_shardchannels, |c, argv| names_reply(
    c,
    argv,
    Kind::Shard
));
conn_fn!(pubsub_numsub, |c, argv| numsub_reply(
    c,
    argv,
    Kind::Channel
));
conn_fn!(pubsub_shardnumsub, |c, argv| numsub_reply(
    c,
    argv,
    Kind::Shard
));
conn_fn!(pubsub_numpat, |c, _argv| {
    let n = c.shard.globals.pubsub().len(Kind::Pattern);
    c.reply().int(n as i64);
    Ok(())
});
conn_fn!(pubsub_help, |c, _argv| {
    let lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    super::help_reply(c, &lines);
    Ok(())
});
