//! Redis's RDB format, version 10 (what redis-server 7.0 writes and loads): the
//! value encodings shared by snapshot files and DUMP/RESTORE payloads.
//!
//! Writing uses the plain forms every Redis since 2.x loads (string, list, set,
//! hash, zset-2: Redis re-encodes them by its own thresholds as it loads), so a
//! file never depends on corekv's internal encodings. Reading accepts everything
//! Redis 7.0 writes and the packed forms older files hold (ziplist, zipmap,
//! intset, quicklist v1), with every length checked: input is untrusted.

pub mod lzf;
pub mod packed;

use super::{Entry, Value, hash::Hash, list::List, set::Set, zset::ZSet};
use crate::protocol::parse_i64;

/// The version written, and the newest one whose value types we know.
pub const RDB_VERSION: u16 = 10;
/// Newest file version accepted: 11 (Redis 7.2) and 12 (7.4) files load too
/// when they hold only types corekv has.
pub const RDB_MAX_READ_VERSION: u16 = 12;

pub mod op {
    pub const SLOT_INFO: u8 = 244;
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

pub mod ty {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// `rdbcompression`, for DUMP (snapshots read the config directly).
static COMPRESSION: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub fn set_compression(on: bool) {
    COMPRESSION.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub fn compression() -> bool {
    COMPRESSION.load(std::sync::atomic::Ordering::Relaxed)
}

/// CRC-64/Jones as Redis computes it (`crc64.c`), over the whole file or payload.
pub static CRC64: crc::Crc<u64, crc::Table<16>> =
    crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);

/// Why a file or payload cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdbError {
    /// Ends before a length or value it announces.
    Truncated,
    /// Malformed: the text says what.
    Corrupt(String),
    /// A version this reader does not know.
    Version(u16),
    /// A value type corekv does not have (module, stream...).
    Unsupported(String),
    Checksum {
        stored: u64,
        computed: u64,
    },
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RdbError::Truncated => write!(f, "Unexpected EOF reading RDB file"),
            RdbError::Corrupt(s) => write!(f, "Bad RDB format: {s}"),
            RdbError::Version(v) => write!(f, "Can't handle RDB format version {v}"),
            RdbError::Unsupported(s) => write!(f, "Unsupported RDB content: {s}"),
            RdbError::Checksum { stored, computed } => write!(
                f,
                "Wrong RDB checksum expected: ({stored:x}) got ({computed:x})"
            ),
        }
    }
}

fn corrupt(s: impl Into<String>) -> RdbError {
    RdbError::Corrupt(s.into())
}

// ---------------------------------------------------------------- writing

/// Appends RDB encodings to a buffer.
pub struct Writer {
    pub buf: Vec<u8>,
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes when it saves.
    pub compress: bool,
}

impl Writer {
    pub fn new(compress: bool) -> Writer {
        Writer {
            buf: Vec::new(),
            compress,
        }
    }

    pub fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    /// A length: 6, 14, 32 or 64 bits, big-endian, tagged in the top two bits.
    pub fn length(&mut self, n: u64) {
        if n < 1 << 6 {
            self.buf.push(n as u8);
        } else if n < 1 << 14 {
            self.buf.push(0x40 | (n >> 8) as u8);
            self.buf.push(n as u8);
        } else if n <= u32::MAX as u64 {
            self.buf.push(0x80);
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.buf.push(0x81);
            self.buf.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// A string as Redis saves it: a small canonical integer as 1, 2 or 4 bytes,
    /// a long one LZF-compressed when that saves at least 4 bytes, else raw.
    pub fn string(&mut self, s: &[u8]) {
        if s.len() <= 11
            && let Some(v) = parse_i64(s)
        {
            if let Ok(v) = i8::try_from(v) {
                self.buf.extend_from_slice(&[0xC0, v as u8]);
                return;
            }
            if let Ok(v) = i16::try_from(v) {
                self.buf.push(0xC1);
                self.buf.extend_from_slice(&v.to_le_bytes());
                return;
            }
            if let Ok(v) = i32::try_from(v) {
                self.buf.push(0xC2);
                self.buf.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
        if self.compress
            && s.len() > 20
            && let Some(c) = lzf::compress(s, s.len() - 4)
        {
            self.buf.push(0xC3);
            self.length(c.len() as u64);
            self.length(s.len() as u64);
            self.buf.extend_from_slice(&c);
            return;
        }
        self.length(s.len() as u64);
        self.buf.extend_from_slice(s);
    }

    pub fn aux(&mut self, key: &str, value: &[u8]) {
        self.byte(op::AUX);
        self.string(key.as_bytes());
        self.string(value);
    }

    /// The type byte `value` is written with.
    pub fn type_of(value: &Value) -> u8 {
        match value {
            Value::Str(_) => ty::STRING,
            Value::List(_) => ty::LIST,
            Value::Set(_) => ty::SET,
            Value::Hash(_) => ty::HASH,
            Value::ZSet(_) => ty::ZSET_2,
        }
    }

    /// A value's body (after its type byte).
    pub fn value(&mut self, value: &Value) {
        match value {
            Value::Str(s) => self.string(s),
            Value::List(l) => {
                self.length(l.len() as u64);
                for item in l.iter() {
                    self.string(item);
                }
            }
            Value::Set(s) => {
                self.length(s.len() as u64);
                s.for_each(|m| self.string(m));
            }
            Value::Hash(h) => {
                self.length(h.len() as u64);
                h.for_each(|f, v| {
                    self.string(f);
                    self.string(v);
                });
            }
            Value::ZSet(z) => {
                self.length(z.len() as u64);
                z.for_each_in_order(|m, s| {
                    self.string(m);
                    self.buf.extend_from_slice(&s.to_le_bytes());
                });
            }
        }
    }

    /// One key as a file holds it: expiry, idle time (LRU policies) or
    /// frequency (LFU policies), type, key, value.
    pub fn key_value(&mut self, key: &[u8], entry: &Entry) {
        if entry.expire_at != 0 {
            self.byte(op::EXPIRETIME_MS);
            self.buf.extend_from_slice(&entry.expire_at.to_le_bytes());
        }
        if super::lru() {
            self.byte(op::IDLE);
            self.length(entry.idle_ms() / 1000);
        } else if super::lfu() {
            self.byte(op::FREQ);
            self.byte(entry.lfu_counter());
        }
        self.byte(Self::type_of(&entry.value));
        self.string(key);
        self.value(&entry.value);
    }
}

/// A DUMP payload: type, value, RDB version (2 bytes LE), CRC-64 (8 bytes LE).
pub fn dump_payload(value: &Value, compress: bool) -> Vec<u8> {
    let mut w = Writer::new(compress);
    w.byte(Writer::type_of(value));
    w.value(value);
    w.buf.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&w.buf);
    w.buf.extend_from_slice(&crc.to_le_bytes());
    w.buf
}

/// Checks a DUMP payload's footer (Redis's `verifyDumpPayload`) and reads its
/// value. `Ok(None)`: a well-formed but empty collection.
pub fn restore_payload(p: &[u8]) -> Result<Option<Value>, RdbError> {
    // Like Redis, bytes after the value (covered by the checksum) are ignored.
    let mut r = Reader::new(payload_body(p)?);
    let t = r.u8()?;
    r.value(t)
}

/// The body of a DUMP-style payload (Redis's `verifyDumpPayload`): a footer
/// of the RDB version (2 bytes LE, at most ours) and the CRC-64 of all that
/// precedes the checksum (8 bytes LE).
fn payload_body(p: &[u8]) -> Result<&[u8], RdbError> {
    if p.len() < 10 {
        return Err(RdbError::Truncated);
    }
    let (body, footer) = p.split_at(p.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(RdbError::Version(version));
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    let stored = u64::from_le_bytes(crc);
    let computed = CRC64.checksum(&p[..p.len() - 8]);
    if stored != computed {
        return Err(RdbError::Checksum { stored, computed });
    }
    Ok(body)
}

/// Function libraries in a file: a FUNCTION2 record (the library's whole
/// code) each.
pub fn write_functions<C: AsRef<[u8]>>(w: &mut Writer, codes: &[C]) {
    for code in codes {
        w.byte(op::FUNCTION2);
        w.string(code.as_ref());
    }
}

/// A FUNCTION DUMP payload: the libraries' records and the DUMP footer.
pub fn functions_payload<C: AsRef<[u8]>>(codes: &[C], compress: bool) -> Vec<u8> {
    let mut w = Writer::new(compress);
    write_functions(&mut w, codes);
    w.buf.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&w.buf);
    w.buf.extend_from_slice(&crc.to_le_bytes());
    w.buf
}

/// The library codes of a FUNCTION RESTORE payload, or Redis's error text.
pub fn read_functions_payload(p: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let body =
        payload_body(p).map_err(|_| "DUMP payload version or checksum are wrong".to_string())?;
    let mut r = Reader::new(body);
    let mut codes = Vec::new();
    while !r.at_end() {
        let t = r.u8().map_err(|_| "can not read data type".to_string())?;
        if t != op::FUNCTION2 {
            return Err("given type is not a function".into());
        }
        let code = r
            .string()
            .map_err(|_| "failed loading the given functions payload".to_string())?;
        codes.push(code);
    }
    Ok(codes)
}

// ---------------------------------------------------------------- reading

/// A cursor over RDB bytes; every read is bounds-checked.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A string as stored: bytes, or an integer encoding (rendered in decimal).
enum Str<'a> {
    Raw(&'a [u8]),
    Owned(Vec<u8>),
}

impl Str<'_> {
    fn into_vec(self) -> Vec<u8> {
        match self {
            Str::Raw(b) => b.to_vec(),
            Str::Owned(v) => v,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Str::Raw(b) => b,
            Str::Owned(v) => v,
        }
    }
}

/// A length or, when `encoded`, a special string encoding number.
struct Len {
    n: u64,
    encoded: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        let end = self.pos.checked_add(n).ok_or(RdbError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(RdbError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, RdbError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32_le(&mut self) -> Result<u32, RdbError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    pub fn u64_le(&mut self) -> Result<u64, RdbError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn len_or_enc(&mut self) -> Result<Len, RdbError> {
        let b = self.u8()?;
        let n = match b >> 6 {
            0 => (b & 0x3F) as u64,
            1 => ((b as u64 & 0x3F) << 8) | self.u8()? as u64,
            2 => match b {
                0x80 => {
                    let mut x = [0u8; 4];
                    x.copy_from_slice(self.take(4)?);
                    u32::from_be_bytes(x) as u64
                }
                0x81 => {
                    let mut x = [0u8; 8];
                    x.copy_from_slice(self.take(8)?);
                    u64::from_be_bytes(x)
                }
                _ => return Err(corrupt(format!("unknown length encoding {b}"))),
            },
            _ => {
                return Ok(Len {
                    n: (b & 0x3F) as u64,
                    encoded: true,
                });
            }
        };
        Ok(Len { n, encoded: false })
    }

    /// A plain length (not a string encoding).
    pub fn length(&mut self) -> Result<u64, RdbError> {
        let l = self.len_or_enc()?;
        if l.encoded {
            return Err(corrupt("unexpected string encoding for a length"));
        }
        Ok(l.n)
    }

    /// A count of items that each take at least one byte: more than the bytes
    /// left means a corrupt length, refused before anything is allocated.
    fn count(&mut self) -> Result<usize, RdbError> {
        let n = self.length()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(RdbError::Truncated);
        }
        Ok(n as usize)
    }

    fn str(&mut self) -> Result<Str<'a>, RdbError> {
        let l = self.len_or_enc()?;
        if !l.encoded {
            let n = usize::try_from(l.n).map_err(|_| RdbError::Truncated)?;
            return Ok(Str::Raw(self.take(n)?));
        }
        let v: i64 = match l.n {
            0 => self.u8()? as i8 as i64,
            1 => {
                let b = self.take(2)?;
                i16::from_le_bytes([b[0], b[1]]) as i64
            }
            2 => self.u32_le()? as i32 as i64,
            3 => {
                let clen = usize::try_from(self.length()?).map_err(|_| RdbError::Truncated)?;
                let ulen = self.length()?;
                let data = self.take(clen)?;
                // `decompress` refuses a claimed length no input this short
                // could produce, before allocating it.
                let ulen = usize::try_from(ulen).map_err(|_| corrupt("LZF length out of range"))?;
                return lzf::decompress(data, ulen)
                    .map(Str::Owned)
                    .ok_or_else(|| corrupt("invalid LZF compressed string"));
            }
            e => return Err(corrupt(format!("unknown string encoding {e}"))),
        };
        Ok(Str::Owned(
            itoa::Buffer::new().format(v).as_bytes().to_vec(),
        ))
    }

    /// A string, decoded (integer encodings in decimal, LZF expanded).
    pub fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        Ok(self.str()?.into_vec())
    }

    /// Skips a string without decoding it.
    fn skip_string(&mut self) -> Result<(), RdbError> {
        let l = self.len_or_enc()?;
        if !l.encoded {
            let n = usize::try_from(l.n).map_err(|_| RdbError::Truncated)?;
            self.take(n)?;
            return Ok(());
        }
        match l.n {
            0 => self.take(1).map(|_| ()),
            1 => self.take(2).map(|_| ()),
            2 => self.take(4).map(|_| ()),
            3 => {
                let clen = usize::try_from(self.length()?).map_err(|_| RdbError::Truncated)?;
                self.length()?;
                self.take(clen).map(|_| ())
            }
            e => Err(corrupt(format!("unknown string encoding {e}"))),
        }
    }

    fn double_bin(&mut self) -> Result<f64, RdbError> {
        Ok(f64::from_le_bytes(self.u64_le()?.to_le_bytes()))
    }

    /// The old text double of zset type 3: a length byte, or 253/254/255 for
    /// nan, +inf, -inf.
    fn double_text(&mut self) -> Result<f64, RdbError> {
        let n = self.u8()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let s = self.take(n as usize)?;
                crate::num::parse_f64(s).ok_or_else(|| corrupt("invalid zset score"))
            }
        }
    }

    fn skip_double_text(&mut self) -> Result<(), RdbError> {
        let n = self.u8()?;
        if n < 253 {
            self.take(n as usize)?;
        }
        Ok(())
    }

    /// A value of type `t`; `Ok(None)` for an empty collection, which Redis
    /// skips with a warning.
    pub fn value(&mut self, t: u8) -> Result<Option<Value>, RdbError> {
        let v = match t {
            ty::STRING => Value::Str(self.string()?),
            ty::LIST => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.str()?);
                }
                Value::List(List::from_items(items.iter().map(Str::bytes)))
            }
            ty::SET => {
                let n = self.count()?;
                let mut s = Set::new();
                for _ in 0..n {
                    let m = self.str()?;
                    if !s.insert(m.bytes()) {
                        return Err(corrupt("duplicate set members detected"));
                    }
                }
                Value::Set(s)
            }
            ty::ZSET | ty::ZSET_2 => {
                let n = self.count()?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let m = self.string()?;
                    let s = if t == ty::ZSET_2 {
                        self.double_bin()?
                    } else {
                        self.double_text()?
                    };
                    pairs.push((m, s));
                }
                zset_of(pairs)?
            }
            ty::HASH => {
                let n = self.count()?;
                let mut h = Hash::new();
                for _ in 0..n {
                    let f = self.str()?;
                    let v = self.str()?;
                    h.convert_for([f.bytes(), v.bytes()]);
                    if !h.set(f.bytes(), v.bytes()) {
                        return Err(corrupt("duplicate hash fields detected"));
                    }
                }
                Value::Hash(h)
            }
            ty::LIST_QUICKLIST | ty::LIST_QUICKLIST_2 => {
                let nodes = self.count()?;
                let mut items: Vec<Vec<u8>> = Vec::new();
                for _ in 0..nodes {
                    // 1: a plain node (one big element); 2: a packed listpack.
                    let container = if t == ty::LIST_QUICKLIST_2 {
                        self.length()?
                    } else {
                        2
                    };
                    let blob = self.str()?;
                    match container {
                        1 => items.push(blob.into_vec()),
                        2 if t == ty::LIST_QUICKLIST_2 => {
                            items.extend(packed::listpack(blob.bytes()).map_err(packed_err)?)
                        }
                        2 => items.extend(packed::ziplist(blob.bytes()).map_err(packed_err)?),
                        _ => return Err(corrupt("quicklist integrity check failed")),
                    }
                }
                Value::List(List::from_items(items))
            }
            ty::LIST_ZIPLIST => {
                let blob = self.str()?;
                Value::List(List::from_items(
                    packed::ziplist(blob.bytes()).map_err(packed_err)?,
                ))
            }
            ty::SET_INTSET => {
                let blob = self.str()?;
                let mut s = Set::new();
                let mut b = itoa::Buffer::new();
                for m in packed::intset(blob.bytes()).map_err(packed_err)? {
                    s.insert(b.format(m).as_bytes());
                }
                Value::Set(s)
            }
            ty::SET_LISTPACK => {
                let blob = self.str()?;
                let mut s = Set::new();
                for m in packed::listpack(blob.bytes()).map_err(packed_err)? {
                    if !s.insert(&m) {
                        return Err(corrupt("duplicate set members detected"));
                    }
                }
                Value::Set(s)
            }
            ty::ZSET_ZIPLIST | ty::ZSET_LISTPACK => {
                let blob = self.str()?;
                let items = if t == ty::ZSET_ZIPLIST {
                    packed::ziplist(blob.bytes())
                } else {
                    packed::listpack(blob.bytes())
                }
                .map_err(packed_err)?;
                if items.len() % 2 != 0 {
                    return Err(corrupt("sorted set listpack with an odd number of items"));
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(m), Some(s)) = (it.next(), it.next()) {
                    let s =
                        crate::num::parse_f64(&s).ok_or_else(|| corrupt("invalid zset score"))?;
                    pairs.push((m, s));
                }
                zset_of(pairs)?
            }
            ty::HASH_ZIPLIST | ty::HASH_LISTPACK | ty::HASH_ZIPMAP => {
                let blob = self.str()?;
                let pairs: Vec<(Vec<u8>, Vec<u8>)> = if t == ty::HASH_ZIPMAP {
                    packed::zipmap(blob.bytes()).map_err(packed_err)?
                } else {
                    let items = if t == ty::HASH_ZIPLIST {
                        packed::ziplist(blob.bytes())
                    } else {
                        packed::listpack(blob.bytes())
                    }
                    .map_err(packed_err)?;
                    if items.len() % 2 != 0 {
                        return Err(corrupt("hash listpack with an odd number of items"));
                    }
                    let mut it = items.into_iter();
                    let mut v = Vec::new();
                    while let (Some(f), Some(x)) = (it.next(), it.next()) {
                        v.push((f, x));
                    }
                    v
                };
                let mut h = Hash::new();
                for (f, v) in &pairs {
                    h.convert_for([&f[..], &v[..]]);
                    if !h.set(f, v) {
                        return Err(corrupt("duplicate hash fields detected"));
                    }
                }
                Value::Hash(h)
            }
            ty::STREAM_LISTPACKS | ty::STREAM_LISTPACKS_2 | ty::STREAM_LISTPACKS_3 => {
                return Err(RdbError::Unsupported("stream keys".into()));
            }
            ty::MODULE | ty::MODULE_2 => {
                return Err(RdbError::Unsupported("module data types".into()));
            }
            t => return Err(corrupt(format!("unknown value type {t}"))),
        };
        let empty = match &v {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        };
        Ok((!empty).then_some(v))
    }

    /// Steps over a value of type `t` without building it (a key another shard
    /// loads). Packed blobs are skipped whole, unchecked: their owner checks them.
    pub fn skip_value(&mut self, t: u8) -> Result<(), RdbError> {
        match t {
            ty::STRING
            | ty::LIST_ZIPLIST
            | ty::SET_INTSET
            | ty::SET_LISTPACK
            | ty::ZSET_ZIPLIST
            | ty::ZSET_LISTPACK
            | ty::HASH_ZIPLIST
            | ty::HASH_LISTPACK
            | ty::HASH_ZIPMAP => self.skip_string(),
            ty::LIST | ty::SET => {
                for _ in 0..self.count()? {
                    self.skip_string()?;
                }
                Ok(())
            }
            ty::HASH => {
                for _ in 0..self.count()? {
                    self.skip_string()?;
                    self.skip_string()?;
                }
                Ok(())
            }
            ty::ZSET | ty::ZSET_2 => {
                for _ in 0..self.count()? {
                    self.skip_string()?;
                    if t == ty::ZSET_2 {
                        self.take(8)?;
                    } else {
                        self.skip_double_text()?;
                    }
                }
                Ok(())
            }
            ty::LIST_QUICKLIST | ty::LIST_QUICKLIST_2 => {
                for _ in 0..self.count()? {
                    if t == ty::LIST_QUICKLIST_2 {
                        self.length()?;
                    }
                    self.skip_string()?;
                }
                Ok(())
            }
            // Unknown to the skipper means unknown to the loader: same error.
            t => self.value(t).map(|_| ()),
        }
    }
}

fn packed_err(_: packed::Corrupt) -> RdbError {
    corrupt("packed value (listpack, ziplist, intset or zipmap) integrity check failed")
}

/// A sorted set from loaded pairs, refusing duplicate members and NaN scores
/// as Redis's loader does.
fn zset_of(mut pairs: Vec<(Vec<u8>, f64)>) -> Result<Value, RdbError> {
    if pairs.iter().any(|(_, s)| s.is_nan()) {
        return Err(corrupt("zset with NAN score detected"));
    }
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(corrupt("duplicate zset fields detected"));
    }
    Ok(Value::ZSet(ZSet::from_pairs(pairs)))
}

// ---------------------------------------------------------------- files

/// The start of a file: magic, version and the AUX fields Redis 7.0 writes.
pub fn write_header(w: &mut Writer, aux: &[(&str, Vec<u8>)]) {
    w.buf
        .extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    for (k, v) in aux {
        w.aux(k, v);
    }
}

/// `SELECTDB` and `RESIZEDB` opening one database's keys.
pub fn write_db_start(w: &mut Writer, db: usize, keys: u64, volatile: u64) {
    w.byte(op::SELECTDB);
    w.length(db as u64);
    w.byte(op::RESIZEDB);
    w.length(keys);
    w.length(volatile);
}

/// What a file said besides its keys.
#[derive(Debug, Default)]
pub struct FileInfo {
    pub version: u16,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Function libraries (FUNCTION2 records): their code, for the caller
    /// to install.
    pub functions: Vec<Vec<u8>>,
    pub keys: u64,
    pub expired_skipped: u64,
    pub empty_skipped: u64,
}

/// What the loader does with each key: `want` says whether this loader keeps
/// it (its shard owns it); kept keys go to `sink(db, key, entry)`.
pub trait Sink {
    fn want(&mut self, key: &[u8]) -> bool;
    fn put(&mut self, db: usize, key: Vec<u8>, entry: Entry) -> Result<(), RdbError>;
}

/// Reads a whole RDB file: checks its magic, version and (unless stored as 0)
/// its checksum before anything else, then hands every live key to `sink`.
/// Keys whose expiry is before `now` are skipped, as a master loading does.
pub fn load_file(data: &[u8], now: u64, sink: &mut dyn Sink) -> Result<FileInfo, RdbError> {
    let mut l = Loader::new(data, now)?;
    while !l.step(sink, usize::MAX)? {}
    Ok(l.info)
}

/// A file being read a few keys at a time ([`Loader::step`]), so a shard can
/// serve (`-LOADING`) between steps.
pub struct Loader<'a> {
    r: Reader<'a>,
    now: u64,
    db: usize,
    expire_at: u64,
    /// The next key's IDLE and FREQ records.
    idle: Option<u64>,
    freq: Option<u8>,
    pub info: FileInfo,
    /// Reading the RDB at the front of longer data (an AOF's preamble):
    /// bytes may follow the end-of-file marker.
    prefix: bool,
}

/// The length of the RDB file at the front of `data`, checksum included
/// (an AOF file's RDB preamble, followed by commands). Checks that
/// checksum; no key is built.
pub fn preamble_len(data: &[u8]) -> Result<usize, RdbError> {
    struct Skip;
    impl Sink for Skip {
        fn want(&mut self, _key: &[u8]) -> bool {
            false
        }
        fn put(&mut self, _db: usize, _key: Vec<u8>, _entry: Entry) -> Result<(), RdbError> {
            Ok(())
        }
    }
    let mut l = Loader::with_body(data, 0, false)?;
    l.prefix = true;
    while !l.step(&mut Skip, usize::MAX)? {}
    let end = l.position() + if l.info.version >= 5 { 8 } else { 0 };
    if end > data.len() {
        return Err(RdbError::Truncated);
    }
    Loader::new(&data[..end], 0)?;
    Ok(end)
}

impl<'a> Loader<'a> {
    /// Checks magic, version and checksum; no key is read yet.
    pub fn new(data: &'a [u8], now: u64) -> Result<Self, RdbError> {
        Loader::with_body(data, now, true)
    }

    /// `checked`: the file is all of `data`, its checksum in the last 8
    /// bytes (verified); else `data` may run on past the file's end.
    fn with_body(data: &'a [u8], now: u64, checked: bool) -> Result<Self, RdbError> {
        if data.len() < 9 || &data[..5] != b"REDIS" {
            return Err(corrupt("Wrong signature trying to load DB from file"));
        }
        let version = std::str::from_utf8(&data[5..9])
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| corrupt("invalid version number"))?;
        if !(1..=RDB_MAX_READ_VERSION).contains(&version) {
            return Err(RdbError::Version(version));
        }
        let body_end = if !checked {
            data.len()
        } else if version >= 5 {
            if data.len() < 9 + 1 + 8 {
                return Err(RdbError::Truncated);
            }
            let end = data.len() - 8;
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[end..]);
            let stored = u64::from_le_bytes(b);
            if stored != 0 {
                let computed = CRC64.checksum(&data[..end]);
                if stored != computed {
                    return Err(RdbError::Checksum { stored, computed });
                }
            }
            end
        } else {
            data.len()
        };
        let mut r = Reader::new(&data[..body_end]);
        r.take(9)?;
        Ok(Loader {
            r,
            now,
            db: 0,
            expire_at: 0,
            idle: None,
            freq: None,
            info: FileInfo {
                version,
                ..FileInfo::default()
            },
            prefix: false,
        })
    }

    /// How far into the file it has read, in bytes.
    pub fn position(&self) -> usize {
        self.r.position()
    }

    /// Reads records until `max_keys` keys have gone by (or the end); true
    /// once the whole file is read.
    pub fn step(&mut self, sink: &mut dyn Sink, max_keys: usize) -> Result<bool, RdbError> {
        // Access times and LFU minutes of the keys made here count from now.
        super::set_clock(self.now);
        let r = &mut self.r;
        let info = &mut self.info;
        let mut keys = 0usize;
        while keys < max_keys {
            let t = r.u8()?;
            match t {
                op::EOF => {
                    if !self.prefix && !r.at_end() {
                        return Err(corrupt("bytes after the end-of-file marker"));
                    }
                    return Ok(true);
                }
                op::SELECTDB => {
                    let n = r.length()?;
                    if n >= super::NUM_DBS as u64 {
                        return Err(corrupt(format!(
                            "FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting",
                            super::NUM_DBS
                        )));
                    }
                    self.db = n as usize;
                }
                op::RESIZEDB => {
                    r.length()?;
                    r.length()?;
                }
                op::AUX => {
                    let k = r.string()?;
                    let v = r.string()?;
                    info.aux.push((k, v));
                }
                op::EXPIRETIME_MS => self.expire_at = r.u64_le()?,
                op::EXPIRETIME => self.expire_at = r.u32_le()? as u64 * 1000,
                op::IDLE => self.idle = Some(r.length()?),
                op::FREQ => self.freq = Some(r.u8()?),
                op::SLOT_INFO => {
                    r.length()?;
                    r.length()?;
                    r.length()?;
                }
                op::FUNCTION2 => info.functions.push(r.string()?),
                op::FUNCTION_PRE_GA => {
                    return Err(RdbError::Unsupported(
                        "pre-release function records (Redis 7.0 RC)".into(),
                    ));
                }
                op::MODULE_AUX => {
                    return Err(RdbError::Unsupported("module auxiliary data".into()));
                }
                t => {
                    keys += 1;
                    let key = r.string()?;
                    let live = self.expire_at == 0 || self.expire_at > self.now;
                    if sink.want(&key) {
                        match r.value(t)? {
                            Some(v) if live => {
                                let mut e = Entry::new(v);
                                e.expire_at = self.expire_at;
                                e.set_lru_or_lfu(self.freq, self.idle);
                                sink.put(self.db, key, e)?;
                                info.keys += 1;
                            }
                            Some(_) => info.expired_skipped += 1,
                            None => info.empty_skipped += 1,
                        }
                    } else {
                        r.skip_value(t)?;
                    }
                    self.expire_at = 0;
                    (self.idle, self.freq) = (None, None);
                }
            }
        }
        Ok(false)
    }
}

/// The end of a file: EOF and the checksum (0 when `rdbchecksum no`).
pub fn write_footer(w: &mut Writer, checksum: bool) {
    w.byte(op::EOF);
    let crc = if checksum { CRC64.checksum(&w.buf) } else { 0 };
    w.buf.extend_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests;
