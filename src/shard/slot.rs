//! Key → slot → shard, with Redis Cluster's rule: `CRC16(key or its {hash tag}) mod 16384`.
//! Keeping Cluster's slots means hash tags co-locate keys exactly as clients expect,
//! and `key:000000012345`-style keys spread evenly (fxhash's low bits do not).

pub const SLOTS: u16 = 16384;

/// CRC16-CCITT (XModem), the variant Redis Cluster uses.
const fn crc16_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut j = 0;
        while j < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            j += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
}

static CRC16: [u16; 256] = crc16_table();

pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16[((crc >> 8) as u8 ^ b) as usize]
    })
}

/// The part of a key that is hashed: the content of the first non-empty `{...}`.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr::memchr(b'{', key)
        && let Some(len) = memchr::memchr(b'}', &key[open + 1..])
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// The Redis Cluster hash slot of a key (what `CLUSTER KEYSLOT` answers).
///
/// ```
/// use corekv::shard::slot::key_slot;
/// assert_eq!(key_slot(b"foo"), 12182);
/// // Keys sharing a {hash tag} share a slot, hence a shard.
/// assert_eq!(key_slot(b"{user:1}:name"), key_slot(b"{user:1}:email"));
/// ```
#[inline]
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS - 1)
}

/// Slots are split into contiguous ranges, one per shard, as Cluster nodes own ranges.
#[inline]
pub fn shard_of_slot(slot: u16, shards: usize) -> usize {
    slot as usize * shards / SLOTS as usize
}

#[inline]
pub fn shard_of(key: &[u8], shards: usize) -> usize {
    if shards == 1 {
        0
    } else {
        shard_of_slot(key_slot(key), shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_cluster() {
        // Values from CLUSTER KEYSLOT on Redis 7.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
    }

    #[test]
    fn benchmark_keys_spread() {
        let mut counts = [0usize; 4];
        for i in 0..100_000u64 {
            let k = format!("key:{:012}", i);
            counts[shard_of(k.as_bytes(), 4)] += 1;
        }
        for c in counts {
            assert!(c > 20_000 && c < 30_000, "{counts:?}");
        }
    }
}
