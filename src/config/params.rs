//! Every parameter of Redis 7.0.15's configuration table (and corekv's own three),
//! with Redis's name, alias, flags, type, bounds and default. `CONFIG GET|SET`,
//! the config file, the command line and `CONFIG REWRITE` all read this table.
//!
//! `INERT` marks what corekv accepts, stores and reports but does not act on
//! yet; README's "accepted but not yet effective" list is generated from it.

/// Read-only after start-up ("can't set immutable config").
pub const IMMUTABLE: u16 = 1 << 0;
/// CONFIG SET needs `enable-protected-configs` ("can't set protected config").
pub const PROTECTED: u16 = 1 << 1;
/// Only an exact name finds it in CONFIG GET, never a pattern.
pub const HIDDEN: u16 = 1 << 2;
/// Refused with -LOADING while the dataset loads.
pub const DENY_LOADING: u16 = 1 << 3;
/// Several words: CONFIG SET splits the value on spaces, a config file line
/// may give them as separate arguments or as one quoted string.
pub const MULTI_ARG: u16 = 1 << 4;
/// An empty string means "not set" (CONFIG REWRITE leaves it out).
pub const NULL_IF_EMPTY: u16 = 1 << 5;
/// Accepted and reported, but corekv does not act on it yet.
pub const INERT: u16 = 1 << 6;

/// How a numeric value is written and read besides plain integers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NumFmt {
    Plain,
    /// `1k`, `1kb`, `1mb`...; shown in bytes.
    Memory,
    /// A memory value or `N%` (stored negative, as Redis does).
    MemoryPercent,
    Octal,
}

/// A string's extra rule, checked before it is stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StrRule {
    Any,
    /// A file name without a directory part (`dbfilename`).
    BaseName,
    /// As `BaseName`, and not empty; the names are for the error text.
    NonEmptyBaseName(&'static str, &'static str),
    /// `cluster-announce-hostname`.
    Hostname,
    /// `proc-title-template`: known `{variables}` only, not blank.
    ProcTitle,
}

/// Value kinds: Redis's config types, and its special parameters by name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// yes | no; `no_defrag` refuses yes with Redis's "no defrag" text.
    Bool {
        no_defrag: bool,
    },
    Str(StrRule),
    /// Names and their values; with `MULTI_ARG` several names OR together.
    Enum(&'static [(&'static str, u32)]),
    Num {
        min: i128,
        max: i128,
        /// Redis checks unsigned types (unsigned int, size_t, unsigned long
        /// long) as unsigned: `-1` is out of range, not a parse error.
        unsigned: bool,
        fmt: NumFmt,
    },
    Save,
    ClientOutputBufferLimit,
    OomScoreAdjValues,
    KeyspaceEvents,
    Bind,
    ReplicaOf,
    Dir,
    Percentiles,
}

/// One parameter.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub flags: u16,
    pub kind: Kind,
    /// The value as CONFIG GET shows it before anything sets it.
    pub default: &'static str,
}

impl Param {
    pub const fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    const fn new(name: &'static str, kind: Kind, default: &'static str) -> Param {
        Param {
            name,
            alias: None,
            flags: 0,
            kind,
            default,
        }
    }

    const fn alias(mut self, alias: &'static str) -> Param {
        self.alias = Some(alias);
        self
    }

    const fn flags(mut self, flags: u16) -> Param {
        self.flags |= flags;
        self
    }

    /// Accepted but not acted on (see the module doc).
    const fn inert(self) -> Param {
        self.flags(INERT)
    }

    const fn immutable(self) -> Param {
        self.flags(IMMUTABLE)
    }
}

const INT_MAX: i128 = i32::MAX as i128;
const INT_MIN: i128 = i32::MIN as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;

const fn boolean(name: &'static str, default: bool) -> Param {
    Param::new(
        name,
        Kind::Bool { no_defrag: false },
        if default { "yes" } else { "no" },
    )
}

const fn string(name: &'static str, default: &'static str) -> Param {
    Param::new(name, Kind::Str(StrRule::Any), default)
}

/// A string whose empty value means "not set" (Redis's `EMPTY_STRING_IS_NULL`).
const fn nullable(name: &'static str) -> Param {
    string(name, "").flags(NULL_IF_EMPTY)
}

const fn enumeration(
    name: &'static str,
    values: &'static [(&'static str, u32)],
    default: &'static str,
) -> Param {
    Param::new(name, Kind::Enum(values), default)
}

/// A signed integer in `min..=max`.
const fn int(name: &'static str, min: i128, max: i128, default: &'static str) -> Param {
    Param::new(
        name,
        Kind::Num {
            min,
            max,
            unsigned: false,
            fmt: NumFmt::Plain,
        },
        default,
    )
}

/// An unsigned integer in `min..=max` (checked as unsigned).
const fn uint(name: &'static str, min: i128, max: i128, default: &'static str) -> Param {
    Param::new(
        name,
        Kind::Num {
            min,
            max,
            unsigned: true,
            fmt: NumFmt::Plain,
        },
        default,
    )
}

/// A memory size (`1mb`...), signed or unsigned as Redis's C type.
const fn memory(
    name: &'static str,
    min: i128,
    max: i128,
    unsigned: bool,
    default: &'static str,
) -> Param {
    Param::new(
        name,
        Kind::Num {
            min,
            max,
            unsigned,
            fmt: NumFmt::Memory,
        },
        default,
    )
}

const fn special(name: &'static str, kind: Kind, default: &'static str) -> Param {
    Param::new(name, kind, default).flags(MULTI_ARG)
}

const YES_NO_LOCAL: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("local", 2)];
const SHUTDOWN_ON_SIG: &[(&str, u32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];
/// `shutdown-on-sig*` flags that cannot go together.
pub const SHUTDOWN_SAVE: u32 = 1;
pub const SHUTDOWN_NOSAVE: u32 = 2;
pub const SHUTDOWN_FORCE: u32 = 8;

/// corekv reads these itself, outside this table's parse (server start-up).
pub static PARAMS: &[Param] = &[
    // Booleans.
    boolean("rdbchecksum", true).immutable(),
    boolean("daemonize", false).immutable().inert(),
    boolean("io-threads-do-reads", false).immutable().inert(),
    boolean("always-show-logo", false).immutable().inert(),
    boolean("protected-mode", true).inert(),
    boolean("rdbcompression", true),
    boolean("rdb-del-sync-files", false).inert(),
    boolean("activerehashing", true).inert(),
    boolean("stop-writes-on-bgsave-error", true),
    boolean("set-proc-title", true).immutable().inert(),
    boolean("dynamic-hz", true).inert(),
    boolean("lazyfree-lazy-eviction", false).inert(),
    boolean("lazyfree-lazy-expire", false).inert(),
    boolean("lazyfree-lazy-server-del", false).inert(),
    boolean("lazyfree-lazy-user-del", false).inert(),
    boolean("lazyfree-lazy-user-flush", false).inert(),
    boolean("repl-disable-tcp-nodelay", false).inert(),
    boolean("repl-diskless-sync", true).inert(),
    boolean("aof-rewrite-incremental-fsync", true).inert(),
    boolean("no-appendfsync-on-rewrite", false).inert(),
    boolean("cluster-require-full-coverage", true).inert(),
    boolean("rdb-save-incremental-fsync", true).inert(),
    boolean("aof-load-truncated", true),
    boolean("aof-use-rdb-preamble", true).inert(),
    boolean("aof-timestamp-enabled", false).inert(),
    boolean("cluster-replica-no-failover", false)
        .alias("cluster-slave-no-failover")
        .inert(),
    boolean("replica-lazy-flush", false)
        .alias("slave-lazy-flush")
        .inert(),
    boolean("replica-serve-stale-data", true)
        .alias("slave-serve-stale-data")
        .inert(),
    boolean("replica-read-only", true)
        .alias("slave-read-only")
        .inert(),
    boolean("replica-ignore-maxmemory", true)
        .alias("slave-ignore-maxmemory")
        .inert(),
    boolean("jemalloc-bg-thread", true).inert(),
    // corekv has no active defragmentation: Redis's answer without it.
    Param::new("activedefrag", Kind::Bool { no_defrag: true }, "no"),
    boolean("syslog-enabled", false).immutable().inert(),
    boolean("cluster-enabled", false).immutable().inert(),
    boolean("appendonly", false).flags(DENY_LOADING),
    boolean("cluster-allow-reads-when-down", false).inert(),
    boolean("cluster-allow-pubsubshard-when-down", true).inert(),
    boolean("crash-log-enabled", true).inert(),
    boolean("crash-memcheck-enabled", true).inert(),
    boolean("use-exit-on-panic", false).flags(HIDDEN).inert(),
    boolean("disable-thp", true).immutable().inert(),
    boolean("cluster-allow-replica-migration", true).inert(),
    boolean("replica-announced", true).inert(),
    boolean("latency-tracking", true).inert(),
    boolean("aof-disable-auto-gc", false).inert(),
    boolean("replica-ignore-disk-write-errors", false).inert(),
    boolean("lua-enable-deprecated-api", false)
        .immutable()
        .flags(HIDDEN)
        .inert(),
    // Strings.
    string("aclfile", "").immutable().inert(),
    nullable("unixsocket").immutable().inert(),
    nullable("pidfile").immutable(),
    nullable("replica-announce-ip")
        .alias("slave-announce-ip")
        .inert(),
    nullable("masteruser").inert(),
    nullable("cluster-announce-ip").inert(),
    string("cluster-config-file", "nodes.conf")
        .immutable()
        .inert(),
    Param::new(
        "cluster-announce-hostname",
        Kind::Str(StrRule::Hostname),
        "",
    )
    .flags(NULL_IF_EMPTY)
    .inert(),
    string("syslog-ident", "redis").immutable().inert(),
    Param::new("dbfilename", Kind::Str(StrRule::BaseName), "dump.rdb").flags(PROTECTED),
    Param::new(
        "appendfilename",
        Kind::Str(StrRule::NonEmptyBaseName("appendfilename", "filename")),
        "appendonly.aof",
    )
    .immutable(),
    Param::new(
        "appenddirname",
        Kind::Str(StrRule::NonEmptyBaseName("appenddirname", "dirname")),
        "appendonlydir",
    )
    .immutable(),
    nullable("server_cpulist").immutable().inert(),
    nullable("bio_cpulist").immutable().inert(),
    nullable("aof_rewrite_cpulist").immutable().inert(),
    nullable("bgsave_cpulist").immutable().inert(),
    string("ignore-warnings", "").inert(),
    Param::new(
        "proc-title-template",
        Kind::Str(StrRule::ProcTitle),
        "{title} {listen-addr} {server-mode}",
    )
    .inert(),
    nullable("bind-source-addr").inert(),
    string("logfile", "").immutable(),
    nullable("masterauth").inert(),
    nullable("requirepass"),
    // Enums.
    enumeration(
        "supervised",
        &[("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)],
        "no",
    )
    .immutable()
    .inert(),
    enumeration(
        "syslog-facility",
        &[
            ("user", 8),
            ("local0", 128),
            ("local1", 136),
            ("local2", 144),
            ("local3", 152),
            ("local4", 160),
            ("local5", 168),
            ("local6", 176),
            ("local7", 184),
        ],
        "local0",
    )
    .immutable()
    .inert(),
    enumeration(
        "repl-diskless-load",
        &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)],
        "disabled",
    )
    .flags(DENY_LOADING)
    .inert(),
    enumeration(
        "loglevel",
        &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)],
        "notice",
    ),
    enumeration(
        "maxmemory-policy",
        &[
            ("volatile-lru", 0x001),
            ("volatile-lfu", 0x102),
            ("volatile-random", 0x300),
            ("volatile-ttl", 0x200),
            ("allkeys-lru", 0x405),
            ("allkeys-lfu", 0x506),
            ("allkeys-random", 0x604),
            ("noeviction", 0x700),
        ],
        "noeviction",
    ),
    enumeration(
        "appendfsync",
        &[("everysec", 1), ("always", 2), ("no", 0)],
        "everysec",
    ),
    enumeration(
        "oom-score-adj",
        &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)],
        "no",
    )
    .inert(),
    enumeration(
        "acl-pubsub-default",
        &[("allchannels", 8), ("resetchannels", 0)],
        "resetchannels",
    )
    .inert(),
    enumeration(
        "sanitize-dump-payload",
        &[("no", 0), ("yes", 1), ("clients", 2)],
        "no",
    )
    .inert(),
    enumeration("enable-protected-configs", YES_NO_LOCAL, "no").immutable(),
    enumeration("enable-debug-command", YES_NO_LOCAL, "no")
        .immutable()
        .inert(),
    enumeration("enable-module-command", YES_NO_LOCAL, "no")
        .immutable()
        .inert(),
    enumeration(
        "cluster-preferred-endpoint-type",
        &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)],
        "ip",
    )
    .inert(),
    enumeration(
        "propagation-error-behavior",
        &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)],
        "ignore",
    )
    .inert(),
    enumeration("shutdown-on-sigint", SHUTDOWN_ON_SIG, "default").flags(MULTI_ARG),
    enumeration("shutdown-on-sigterm", SHUTDOWN_ON_SIG, "default").flags(MULTI_ARG),
    // Integers.
    int("databases", 1, INT_MAX, "16").immutable().inert(),
    int("port", 0, 65535, "6379"),
    int("io-threads", 1, 128, "1").immutable().inert(),
    int("auto-aof-rewrite-percentage", 0, INT_MAX, "100"),
    int("cluster-replica-validity-factor", 0, INT_MAX, "10")
        .alias("cluster-slave-validity-factor")
        .inert(),
    int("list-max-listpack-size", INT_MIN, INT_MAX, "-2")
        .alias("list-max-ziplist-size")
        .inert(),
    int("tcp-keepalive", 0, INT_MAX, "300"),
    int("cluster-migration-barrier", 0, INT_MAX, "1").inert(),
    int("active-defrag-cycle-min", 1, 99, "1").inert(),
    int("active-defrag-cycle-max", 1, 99, "25").inert(),
    int("active-defrag-threshold-lower", 0, 1000, "10").inert(),
    int("active-defrag-threshold-upper", 0, 1000, "100").inert(),
    int("lfu-log-factor", 0, INT_MAX, "10"),
    int("lfu-decay-time", 0, INT_MAX, "1"),
    int("replica-priority", 0, INT_MAX, "100")
        .alias("slave-priority")
        .inert(),
    int("repl-diskless-sync-delay", 0, INT_MAX, "5").inert(),
    int("maxmemory-samples", 1, INT_MAX, "5").inert(),
    int("maxmemory-eviction-tenacity", 0, 100, "10").inert(),
    int("timeout", 0, INT_MAX, "0"),
    int("replica-announce-port", 0, 65535, "0")
        .alias("slave-announce-port")
        .inert(),
    int("tcp-backlog", 0, INT_MAX, "511").immutable(),
    int("cluster-port", 0, 65535, "0").immutable().inert(),
    int("cluster-announce-bus-port", 0, 65535, "0").inert(),
    int("cluster-announce-port", 0, 65535, "0").inert(),
    int("cluster-announce-tls-port", 0, 65535, "0").inert(),
    int("repl-timeout", 1, INT_MAX, "60").inert(),
    int("repl-ping-replica-period", 1, INT_MAX, "10")
        .alias("repl-ping-slave-period")
        .inert(),
    int("list-compress-depth", 0, INT_MAX, "0").inert(),
    int("rdb-key-save-delay", INT_MIN, INT_MAX, "0")
        .flags(HIDDEN)
        .inert(),
    int("key-load-delay", INT_MIN, INT_MAX, "0")
        .flags(HIDDEN)
        .inert(),
    int("active-expire-effort", 1, 10, "1").inert(),
    int("hz", 0, INT_MAX, "10"),
    int("min-replicas-to-write", 0, INT_MAX, "0")
        .alias("min-slaves-to-write")
        .inert(),
    int("min-replicas-max-lag", 0, INT_MAX, "10")
        .alias("min-slaves-max-lag")
        .inert(),
    int("watchdog-period", 0, INT_MAX, "0")
        .flags(HIDDEN)
        .inert(),
    int("shutdown-timeout", 0, INT_MAX, "10").inert(),
    int("repl-diskless-sync-max-replicas", 0, INT_MAX, "0").inert(),
    uint("maxclients", 1, UINT_MAX, "10000"),
    Param::new(
        "unixsocketperm",
        Kind::Num {
            min: 0,
            max: 0o777,
            unsigned: true,
            fmt: NumFmt::Octal,
        },
        "0",
    )
    .immutable()
    .inert(),
    uint("socket-mark-id", 0, UINT_MAX, "0").immutable().inert(),
    int("active-defrag-max-scan-fields", 1, LONG_MAX, "1000").inert(),
    int("slowlog-max-len", 0, LONG_MAX, "128").inert(),
    int("acllog-max-len", 0, LONG_MAX, "128").inert(),
    int("busy-reply-threshold", 0, LONG_MAX, "5000").alias("lua-time-limit"),
    int("cluster-node-timeout", 0, LONG_MAX, "15000").inert(),
    int("slowlog-log-slower-than", -1, LONG_MAX, "10000").inert(),
    int("latency-monitor-threshold", 0, LONG_MAX, "0").inert(),
    memory(
        "proto-max-bulk-len",
        1024 * 1024,
        LONG_MAX,
        false,
        "536870912",
    ),
    int("stream-node-max-entries", 0, LONG_MAX, "100").inert(),
    memory("repl-backlog-size", 1, LONG_MAX, false, "1048576").inert(),
    memory("maxmemory", 0, ULLONG_MAX, true, "0").inert(),
    memory("cluster-link-sendbuf-limit", 0, ULLONG_MAX, true, "0").inert(),
    uint("hash-max-listpack-entries", 0, LONG_MAX, "512").alias("hash-max-ziplist-entries"),
    uint("set-max-intset-entries", 0, LONG_MAX, "512"),
    uint("zset-max-listpack-entries", 0, LONG_MAX, "128").alias("zset-max-ziplist-entries"),
    memory("active-defrag-ignore-bytes", 1, LONG_MAX, true, "104857600").inert(),
    memory("hash-max-listpack-value", 0, LONG_MAX, true, "64").alias("hash-max-ziplist-value"),
    memory("stream-node-max-bytes", 0, LONG_MAX, true, "4096").inert(),
    memory("zset-max-listpack-value", 0, LONG_MAX, true, "64").alias("zset-max-ziplist-value"),
    memory("hll-sparse-max-bytes", 0, LONG_MAX, true, "3000"),
    uint("tracking-table-max-keys", 0, LONG_MAX, "1000000"),
    memory(
        "client-query-buffer-limit",
        1024 * 1024,
        LONG_MAX,
        true,
        "1073741824",
    ),
    Param::new(
        "maxmemory-clients",
        Kind::Num {
            min: -100,
            max: LONG_MAX,
            unsigned: false,
            fmt: NumFmt::MemoryPercent,
        },
        "0",
    )
    .inert(),
    int("repl-backlog-ttl", 0, LONG_MAX, "3600").inert(),
    memory("auto-aof-rewrite-min-size", 0, LONG_MAX, false, "67108864"),
    int(
        "loading-process-events-interval-bytes",
        1024,
        INT_MAX,
        "2097152",
    )
    .flags(HIDDEN)
    .inert(),
    // TLS (Debian's redis-server is built with it; corekv has no TLS).
    int("tls-port", 0, 65535, "0").inert(),
    int("tls-session-cache-size", 0, INT_MAX, "20480").inert(),
    int("tls-session-cache-timeout", 0, INT_MAX, "300").inert(),
    boolean("tls-cluster", false).inert(),
    boolean("tls-replication", false).inert(),
    enumeration(
        "tls-auth-clients",
        &[("no", 0), ("yes", 1), ("optional", 2)],
        "yes",
    )
    .inert(),
    boolean("tls-prefer-server-ciphers", false).inert(),
    boolean("tls-session-caching", true).inert(),
    nullable("tls-cert-file").inert(),
    nullable("tls-key-file").inert(),
    nullable("tls-key-file-pass").inert(),
    nullable("tls-client-cert-file").inert(),
    nullable("tls-client-key-file").inert(),
    nullable("tls-client-key-file-pass").inert(),
    nullable("tls-dh-params-file").inert(),
    nullable("tls-ca-cert-file").inert(),
    nullable("tls-ca-cert-dir").inert(),
    nullable("tls-protocols").inert(),
    nullable("tls-ciphers").inert(),
    nullable("tls-ciphersuites").inert(),
    // Special formats.
    Param::new("dir", Kind::Dir, "").flags(PROTECTED | DENY_LOADING),
    special("save", Kind::Save, "3600 1 300 100 60 10000"),
    special(
        "client-output-buffer-limit",
        Kind::ClientOutputBufferLimit,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    special("oom-score-adj-values", Kind::OomScoreAdjValues, "0 200 800").inert(),
    Param::new("notify-keyspace-events", Kind::KeyspaceEvents, ""),
    // corekv listens on loopback unless told otherwise (Redis: "* -::*", guarded
    // by protected mode, which corekv does not have).
    special("bind", Kind::Bind, "127.0.0.1"),
    special("replicaof", Kind::ReplicaOf, "")
        .alias("slaveof")
        .immutable()
        .inert(),
    special(
        "latency-tracking-info-percentiles",
        Kind::Percentiles,
        "50 99 99.9",
    )
    .inert(),
    // corekv's own, hidden so that `CONFIG GET *` lists Redis's names only.
    int("shards", 0, 256, "0").immutable().flags(HIDDEN),
    int("io-memory-kb", 64, INT_MAX, "256")
        .immutable()
        .flags(HIDDEN),
    int("spin-before-park-us", 0, INT_MAX, "0")
        .immutable()
        .flags(HIDDEN),
];
