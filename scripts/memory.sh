#!/usr/bin/env bash
# Memory comparison: RSS growth after loading many small hashes / sets / sorted sets
# into corekv and into redis-server (same data, same protocol stream, fresh servers).
#
# Usage: scripts/memory.sh            (1,000,000 keys per type)
# Environment:
#   MEM_KEYS=N     keys per type (default 1000000)
#   MEM_SHARDS=N   corekv shards (default 1: the per-core cost; memory does not
#                  depend on the shard count beyond a few MB of per-shard tables)
#   MEM_TYPES="hash set zset"  which types to load (default: all three)
#   SKIP_BUILD=1   do not run `cargo build --release`
#
# Each key holds 5 elements: HSET h:<i> f1 v<i>.. (field/value ~6 bytes), SADD s:<i> with
# 5 short string members, ZADD z:<i> with 5 members and integer scores. Loading goes
# through `redis-cli --pipe`. Only loopback is used; every wait is bounded.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
KEYS=${MEM_KEYS:-1000000}
SHARDS=${MEM_SHARDS:-1}
for tool in redis-server redis-cli python3 timeout; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "error: $tool not found (apt-get install -y redis-server redis-tools python3)" >&2
        exit 1
    }
done
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release >&2
fi
COREKV="$ROOT/target/release/corekv"
echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  keys per type: $KEYS  corekv shards: $SHARDS  redis: $(redis-server --version | awk '{print $3}')  corekv: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/corekv-mem.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

wait_ready() { # port pid
    local i
    for i in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || {
            echo "error: server exited" >&2
            exit 1
        }
        timeout 2 redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    echo "error: no PING reply on port $1" >&2
    exit 1
}

# RESP streams, generated once per type.
gen() { # type file
    python3 - "$1" "$KEYS" >"$2" <<'EOF'
import sys
kind, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)
buf = []
for i in range(n):
    if kind == "hash":
        buf.append(cmd("HSET", f"h:{i}", "f1", f"v{i}", "f2", "v2", "f3", "v3", "f4", "v4", "f5", "v5"))
    elif kind == "set":
        buf.append(cmd("SADD", f"s:{i}", "red", "green", "blue", f"m{i}", "tag"))
    else:
        buf.append(cmd("ZADD", f"z:{i}", 1, "a", 2, "b", 3, "c", 4, f"m{i}", 5, "e"))
    if len(buf) >= 10000:
        out.write(b"".join(buf))
        buf = []
out.write(b"".join(buf))
EOF
}

measure() { # name type port pid file -> prints "rss_before rss_after"
    local before after
    sleep 0.5
    before=$(rss_kb "$4")
    timeout 600 redis-cli -p "$3" --pipe <"$5" >"$WORK/pipe.out" 2>&1 || {
        echo "error: loading $2 into $1 failed:" >&2
        cat "$WORK/pipe.out" >&2
        exit 1
    }
    grep -q 'errors: 0' "$WORK/pipe.out" || {
        echo "error: $1 replied with errors loading $2:" >&2
        cat "$WORK/pipe.out" >&2
        exit 1
    }
    sleep 1
    after=$(rss_kb "$4")
    local n
    n=$(timeout 10 redis-cli -p "$3" dbsize)
    [ "$n" = "$KEYS" ] || {
        echo "error: $1 holds $n keys after loading $2, expected $KEYS" >&2
        exit 1
    }
    echo "$before $after"
}

RESULTS="$WORK/results"
: >"$RESULTS"
for type in ${MEM_TYPES:-hash set zset}; do
    gen "$type" "$WORK/$type.resp"
    for srv in redis corekv; do
        port=$(free_port)
        if [ "$srv" = redis ]; then
            redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
                >"$WORK/$srv.log" 2>&1 &
        else
            "$COREKV" --port "$port" --bind 127.0.0.1 --shards "$SHARDS" >"$WORK/$srv.log" 2>&1 &
        fi
        pid=$!
        PIDS+=("$pid")
        wait_ready "$port" "$pid"
        read -r before after < <(measure "$srv" "$type" "$port" "$pid" "$WORK/$type.resp")
        enc=$(timeout 10 redis-cli -p "$port" object encoding "${type:0:1}:1")
        echo "$type $srv $before $after $enc" >>"$RESULTS"
        echo "#   $type $srv: RSS ${before} kB -> ${after} kB (encoding $enc)" >&2
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -f "$WORK/$type.resp"
done

echo
echo "## Memory: RSS growth after loading $KEYS small keys of each type (5 elements each)"
echo
python3 - "$RESULTS" "$KEYS" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
data = {}
for t, srv, before, after, enc in rows:
    data.setdefault(t, {})[srv] = (int(after) - int(before), enc)
print("| type | redis RSS growth | corekv RSS growth | corekv/redis | redis bytes/key | corekv bytes/key | encodings (redis / corekv) |")
print("|---|---:|---:|---:|---:|---:|---|")
for t in ("hash", "set", "zset"):
    if t not in data:
        continue
    (r, re), (c, ce) = data[t]["redis"], data[t]["corekv"]
    print(f"| {t} | {r / 1024:,.0f} MiB | {c / 1024:,.0f} MiB | {c / r:.2f} | {r * 1024 / n:,.0f} | {c * 1024 / n:,.0f} | {re} / {ce} |")
EOF
