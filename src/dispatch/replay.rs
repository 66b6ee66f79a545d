//! Replaying AOF files: their commands run through the normal dispatch path
//! (routing, cross-shard coordination, MULTI/EXEC) on an internal client, as
//! Redis's loader runs them on a fake client. Expiry is judged against time
//! zero meanwhile (a key the file gives a past deadline is still there for
//! the commands after it, as in Redis), and nothing is journaled.

use std::path::Path;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::{Client, execute, table};
use crate::protocol::Parser;
use crate::shard::Shard;

/// Commands handed to dispatch at once.
const BATCH: usize = 8192;
/// Bytes read from the file per parse.
const CHUNK: usize = 1 << 20;

/// How a replay went.
#[derive(Debug, Default)]
pub struct Replayed {
    pub commands: u64,
    /// The last file ended in a torn record or an unfinished MULTI, cut off
    /// at this length (`aof-load-truncated yes`).
    pub truncated_at: Option<u64>,
}

/// Replays `files` in order. `truncated_ok`: the last file may end in a torn
/// record, which is cut off (the file is truncated there) rather than fatal.
pub async fn run(
    shard: &Rc<Shard>,
    files: &[(std::path::PathBuf, u64)],
    truncated_ok: bool,
) -> Result<Replayed, String> {
    let info = Rc::new(crate::shard::ClientInfo::internal(
        shard
            .globals
            .next_client_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    ));
    let mut c = Client::new(shard.clone(), info);
    c.authed = true;
    c.replaying = true;
    let mut done = Replayed::default();
    crate::store::freeze_clock(true);
    let mut r = Ok(());
    for (i, (f, from)) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        r = replay_file(&mut c, (f, *from), last && truncated_ok, &mut done).await;
        if r.is_err() {
            break;
        }
    }
    crate::store::freeze_clock(false);
    r.map(|_| done)
}

/// DEBUG LOADAOF: empties the dataset and loads it back from the AOF files
/// (which hold everything journaled so far).
pub async fn debug_loadaof(shard: &Rc<Shard>) -> Result<(), String> {
    use crate::shard::aof;
    let files = aof::reload_base(shard).await?;
    let r = run(shard, &files, false).await;
    aof::reload_done(&shard.globals);
    r.map(|_| log::warn!("Append Only File loaded by DEBUG LOADAOF"))
}

/// Replays `path` from byte `from` (past an RDB preamble the shards loaded).
async fn replay_file(
    c: &mut Client,
    (path, from): (&Path, u64),
    truncated_ok: bool,
    done: &mut Replayed,
) -> Result<(), String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let data = std::fs::read(path).map_err(|e| {
        format!("Fatal error: can't open the append log file {name} for reading: {e}")
    })?;
    let data = data.get(from as usize..).unwrap_or_default();
    if data.starts_with(b"REDIS") {
        return Err(format!(
            "Bad file format reading the append only file {name}: an RDB preamble is only allowed at the start of the base file"
        ));
    }
    c.db = 0;
    let mut parser = Parser::default();
    let mut buf = BytesMut::new();
    // File offsets: where parsing stands, and where the open MULTI began.
    let (mut at, mut multi_at) = (from, None::<u64>);
    let mut cmds: Vec<Vec<Bytes>> = Vec::new();
    for chunk in data.chunks(CHUNK) {
        buf.extend_from_slice(chunk);
        let mut parsed = Vec::new();
        if parser.parse(&mut buf, &mut parsed).is_err() {
            return Err(bad_format(&name));
        }
        for argv in parsed {
            let Some(first) = argv.first() else { continue };
            if table::lookup(first).is_none() {
                return Err(format!(
                    "Unknown command '{}' reading the append only file {name}",
                    String::from_utf8_lossy(first)
                ));
            }
            if first.eq_ignore_ascii_case(b"multi") {
                multi_at = Some(at);
            } else if first.eq_ignore_ascii_case(b"exec") {
                multi_at = None;
            }
            at += encoded_len(&argv);
            done.commands += 1;
            cmds.push(argv);
            if cmds.len() >= BATCH {
                run_batch(c, &mut cmds).await;
            }
        }
    }
    run_batch(c, &mut cmds).await;
    let torn = !buf.is_empty();
    if torn || multi_at.is_some() {
        // An unfinished MULTI was queued, never run: dropped like the torn tail.
        c.multi = None;
        let valid = multi_at.unwrap_or(at);
        if !truncated_ok {
            return Err(format!(
                "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
            ));
        }
        log::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
        log::warn!("!!! Truncating the AOF {name} at offset {valid} !!!");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(valid).and_then(|_| f.sync_all()));
        if let Err(e) = f {
            return Err(format!("Error truncating the AOF file {name}: {e}"));
        }
        log::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
        done.truncated_at = Some(valid);
    }
    Ok(())
}

async fn run_batch(c: &mut Client, cmds: &mut Vec<Vec<Bytes>>) {
    while !cmds.is_empty() {
        execute(c, cmds).await;
        c.out.clear();
    }
}

fn bad_format(name: &str) -> String {
    format!(
        "Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
    )
}

/// The bytes `argv` took in the file (AOF files are canonical RESP).
fn encoded_len(argv: &[Bytes]) -> u64 {
    let digits = |n: usize| n.to_string().len() as u64;
    let mut n = 1 + digits(argv.len()) + 2;
    for a in argv {
        n += 1 + digits(a.len()) + 2 + a.len() as u64 + 2;
    }
    n
}
