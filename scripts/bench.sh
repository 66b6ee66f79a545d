#!/usr/bin/env bash
# corekv vs redis-server throughput/CPU comparison with redis-benchmark.
#
# Usage:
#   scripts/bench.sh            full comparison (single-core pinned + 2-shard unpinned)
#   scripts/bench.sh smoke      only check that redis-benchmark's full default test list
#                               (no -t) runs against a 2-shard corekv without errors
#
# Environment:
#   BENCH_N       requests per redis-benchmark run at -P 16 (default 200000);
#                 -P 1 runs use BENCH_N_P1 (default 100000, or BENCH_N/2 if BENCH_N is set)
#   BENCH_N_P1    requests per run at -P 1
#   BENCH_ROUNDS  rounds per (pipeline, test, server) (default 3); the table shows medians
#   QUICK=1       tiny smoke-sized runs (N=5000/2000, 1 round) to test the script itself
#   SMOKE_ALL=1   (smoke mode) also run redis-benchmark's full default test list and
#                 report, without failing, which tests corekv does not support yet
#   SKIP_BUILD=1  do not run `cargo build --release`
#   BENCH_TESTS   space-separated tests (default: set get incr mset lpush lpop sadd hset
#                 zadd zrange lrange_100 evalsha evalsha2); "zrange" is `ZRANGE myzset 0 9
#                 WITHSCORES` over the sorted set the zadd test fills; "evalsha" is EVALSHA
#                 of `return redis.call('INCR', KEYS[1])` on one random key, "evalsha2" of a
#                 script incrementing two random keys (on two shards about half the time);
#                 the others are redis-benchmark -t names
#   BENCH_SECTIONS  "single twoshard pubsub persist aof" (default) or some of them; aof:
#                 SET throughput (-P 1 and -P 16, AOF_N requests, default 50000) with
#                 appendonly yes and appendfsync always / everysec, 2-shard corekv vs
#                 redis-server, each in a fresh directory; persist:
#                 scripts/bench_persist.py: SAVE, BGSAVE (time, RSS growth) and load
#                 time of PERSIST_KEYS keys (default 1000000; 20000 with QUICK) for
#                 redis-server and corekv with 1 and 2 shards; pubsub:
#                 PUBSUB_SUBS subscribers (default 8; raw-socket readers that discard
#                 what they get) on one channel, 1 and 8 publishing clients
#                 (redis-benchmark PUBLISH, -P 16, PUBSUB_N publishes, default 100000),
#                 2-shard corekv vs redis-server, nothing pinned: messages delivered per
#                 second and server CPU seconds per million delivered messages
#
# Only loopback is used; every wait loop and every client run is bounded by a timeout.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
MODE=${1:-full}
case "$MODE" in
full | smoke) ;;
*)
    echo "usage: $0 [full|smoke]" >&2
    exit 2
    ;;
esac

echo "# command: $(printf '%q ' "$0" "$@")(cwd=$ROOT)"
echo "# env: QUICK=${QUICK:-} BENCH_N=${BENCH_N:-} BENCH_N_P1=${BENCH_N_P1:-} BENCH_ROUNDS=${BENCH_ROUNDS:-} SMOKE_ALL=${SMOKE_ALL:-}"
echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(uname -srm)  cpus: $(nproc)"

# ---------------------------------------------------------------- prerequisites
missing=0
for tool in redis-server redis-benchmark redis-cli; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool not found" >&2
        missing=1
    fi
done
if [ "$missing" = 1 ]; then
    echo "install it with: sudo apt-get install -y redis-server redis-tools" >&2
    exit 1
fi
for tool in python3 taskset timeout; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "error: $tool not found" >&2
        exit 1
    }
done

if [ -z "${SKIP_BUILD:-}" ]; then
    echo "# building: cargo build --release"
    cargo build --release >&2
fi
COREKV="$ROOT/target/release/corekv"
[ -x "$COREKV" ] || {
    echo "error: $COREKV missing" >&2
    exit 1
}
echo "# corekv: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')  redis: $(redis-server --version | awk '{print $3}')"

NCPU=$(nproc)
if [ "$MODE" = full ] && [ "$NCPU" -lt 2 ]; then
    echo "error: the pinned comparison needs 2 CPUs (servers on core 0, client on core 1)" >&2
    exit 1
fi

# ---------------------------------------------------------------- process bookkeeping
WORK=$(mktemp -d "${TMPDIR:-/tmp}/corekv-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid i
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_ready() { # port pid name
    local i
    for i in $(seq 1 100); do
        if ! kill -0 "$2" 2>/dev/null; then
            echo "error: $3 exited during start-up; log:" >&2
            cat "$WORK/$3.log" >&2 || true
            exit 1
        fi
        if timeout 2 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; then
            return 0
        fi
        sleep 0.1
    done
    echo "error: $3 did not answer PING on port $1 within 10 s" >&2
    exit 1
}

stop_server() { # pid
    local i
    kill "$1" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$1" 2>/dev/null || true
}

# Starts a server; sets SERVER_PID. taskset execs the program, so $! is the server.
# args: name cpulist(or "") port cmd...
start_server() {
    local name=$1 cpus=$2 port=$3
    shift 3
    if [ -n "$cpus" ]; then
        taskset -c "$cpus" "$@" >"$WORK/$name.log" 2>&1 &
    else
        "$@" >"$WORK/$name.log" 2>&1 &
    fi
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_ready "$port" "$SERVER_PID" "$name"
}

CLK_TCK=$(getconf CLK_TCK)
# utime+stime (fields 14, 15 of /proc/PID/stat, all threads of the process) in ticks.
cpu_ticks() {
    local stat rest
    stat=$(cat "/proc/$1/stat")
    rest=${stat##*) } # drop "pid (comm) "; comm may contain spaces
    # shellcheck disable=SC2086
    set -- $rest # $1 is field 3 (state), so field 14 is $12 and field 15 is $13
    echo $((${12} + ${13}))
}

# ---------------------------------------------------------------- smoke mode
if [ "$MODE" = smoke ]; then
    PORT=$(free_port)
    start_server corekv "" "$PORT" "$COREKV" --port "$PORT" --shards 2 --bind 127.0.0.1 --save ""
    SMOKE_CMD=(redis-benchmark -h 127.0.0.1 -p "$PORT" -q -n "${SMOKE_N:-20000}")
    echo "# smoke: ${SMOKE_CMD[*]}"
    out="$WORK/smoke.txt"
    rc=0
    timeout 300 "${SMOKE_CMD[@]}" >"$out" 2>&1 || rc=$?
    # -q prints progress lines separated by CR; keep only the final lines.
    lines="$WORK/smoke.lines"
    tr '\r' '\n' <"$out" >"$lines"
    grep 'requests per second' "$lines" | sed 's/^ *//' || true
    fail=0
    [ "$rc" = 0 ] || {
        echo "FAIL: redis-benchmark exited with status $rc" >&2
        fail=1
    }
    if grep -Eiq 'ERR|error' "$lines"; then
        echo "FAIL: errors in redis-benchmark output:" >&2
        grep -Ei 'ERR|error' "$lines" | sort | uniq -c | head -20 >&2
        fail=1
    fi
    for t in PING_INLINE PING_MBULK SET GET INCR LPUSH RPUSH LPOP RPOP SADD HSET SPOP ZADD ZPOPMIN \
        'LRANGE_100 (first 100 elements)' 'LRANGE_300 (first 300 elements)' \
        'LRANGE_500 (first 500 elements)' 'LRANGE_600 (first 600 elements)' 'MSET (10 keys)'; do
        if ! grep -Fq "$t: " "$lines" || ! grep -F "$t: " "$lines" | grep -q 'requests per second'; then
            echo "FAIL: test $t did not complete" >&2
            fail=1
        fi
    done
    if [ -n "${SMOKE_ALL:-}" ]; then
        # redis-benchmark stops at the first error reply, so run the default tests one by one.
        echo "# informational: redis-benchmark's default tests one at a time (-q -n 2000)"
        for t in ping_inline ping_mbulk set get incr lpush rpush lpop rpop sadd hset spop zadd zpopmin lrange_100 lrange_300 lrange_500 lrange_600 mset; do
            timeout 120 redis-benchmark -h 127.0.0.1 -p "$PORT" -q -n 2000 -t "$t" >"$WORK/one.txt" 2>&1 || true
            tr '\r' '\n' <"$WORK/one.txt" >"$WORK/one.lines"
            if grep -Eiq 'ERR|error' "$WORK/one.lines"; then
                printf '  %-12s unsupported: %s\n' "$t" "$(grep -Ei -m1 'ERR|error' "$WORK/one.lines" | cut -c1-90)"
            elif grep -q 'requests per second' "$WORK/one.lines"; then
                printf '  %-12s ok\n' "$t"
            else
                printf '  %-12s no result\n' "$t"
            fi
        done
    fi
    if kill -0 "$SERVER_PID" 2>/dev/null; then :; else
        echo "FAIL: corekv died during the smoke run" >&2
        fail=1
    fi
    if [ "$fail" = 0 ]; then
        echo "smoke: OK (redis-benchmark's full default test list ran against a 2-shard corekv without errors)"
    fi
    exit "$fail"
fi

# ---------------------------------------------------------------- full benchmark
if [ -n "${QUICK:-}" ]; then
    N_P16=${BENCH_N:-5000}
    N_P1=${BENCH_N_P1:-2000}
    ROUNDS=${BENCH_ROUNDS:-1}
else
    N_P16=${BENCH_N:-200000}
    if [ -n "${BENCH_N:-}" ]; then
        N_P1=${BENCH_N_P1:-$((BENCH_N / 2))}
    else
        N_P1=${BENCH_N_P1:-100000}
    fi
    ROUNDS=${BENCH_ROUNDS:-3}
fi
read -r -a TESTS <<<"${BENCH_TESTS:-set get incr mset lpush lpop sadd hset zadd zrange lrange_100 evalsha evalsha2}"
# The scripts the evalsha tests call (SCRIPT LOAD into each server first).
SCRIPT1="return redis.call('INCR', KEYS[1])"
SCRIPT2="redis.call('INCR', KEYS[1]) return redis.call('INCR', KEYS[2])"
SHA1_1=$(printf '%s' "$SCRIPT1" | sha1sum | cut -d' ' -f1)
SHA1_2=$(printf '%s' "$SCRIPT2" | sha1sum | cut -d' ' -f1)
load_scripts() { # port
    timeout 10 redis-cli -h 127.0.0.1 -p "$1" SCRIPT LOAD "$SCRIPT1" >/dev/null
    timeout 10 redis-cli -h 127.0.0.1 -p "$1" SCRIPT LOAD "$SCRIPT2" >/dev/null
}
SECTIONS=${BENCH_SECTIONS:-single twoshard pubsub persist aof}
PIPELINES=(1 16)
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-600} # seconds per redis-benchmark run
RESULTS="$WORK/results.csv"           # section,pipeline,test,server,round,n,rps,cpu_s
: >"$RESULTS"

echo "# N: $N_P1 requests at -P 1, $N_P16 at -P 16; rounds: $ROUNDS; one redis-benchmark run per (test, server, round); servers alternate"

# args: section client_cpus("" = unpinned) redis_port redis_pid corekv_port corekv_pid
run_section() {
    local section=$1 ccpu=$2 rport=$3 rpid=$4 kport=$5 kpid=$6
    local round p t n srv port pid before after rps csv order
    local -a prefix=()
    [ -n "$ccpu" ] && prefix=(taskset -c "$ccpu")
    echo "# client: ${prefix[*]:-} redis-benchmark -h 127.0.0.1 -p PORT -t TEST -r 100000 -c 50 -n N -P PIPE --csv"
    for round in $(seq 1 "$ROUNDS"); do
        # Alternate which server goes first so slow drift (other load, thermal) is shared.
        if [ $((round % 2)) = 1 ]; then order="redis corekv"; else order="corekv redis"; fi
        for p in "${PIPELINES[@]}"; do
            if [ "$p" = 1 ]; then n=$N_P1; else n=$N_P16; fi
            for t in "${TESTS[@]}"; do
                for srv in $order; do
                    if [ "$srv" = redis ]; then port=$rport pid=$rpid; else port=$kport pid=$kpid; fi
                    csv="$WORK/run.csv"
                    local -a what=(-t "$t")
                    [ "$t" = zrange ] && what=(zrange myzset 0 9 WITHSCORES)
                    [ "$t" = evalsha ] && what=(evalsha "$SHA1_1" 1 "sc:__rand_int__")
                    [ "$t" = evalsha2 ] && what=(evalsha "$SHA1_2" 2 "sc:__rand_int__" "sd:__rand_int__")
                    case "$t" in evalsha*) load_scripts "$port" ;; esac
                    before=$(cpu_ticks "$pid")
                    if ! timeout "$RUN_TIMEOUT" "${prefix[@]}" redis-benchmark -h 127.0.0.1 -p "$port" \
                        -r 100000 -c 50 -n "$n" -P "$p" --csv "${what[@]}" >"$csv" 2>"$WORK/run.err"; then
                        echo "error: redis-benchmark -t $t -P $p against $srv failed:" >&2
                        cat "$WORK/run.err" "$csv" >&2
                        exit 1
                    fi
                    after=$(cpu_ticks "$pid")
                    if grep -Eiq 'ERR|error' "$csv" "$WORK/run.err"; then
                        echo "error: $srv returned errors for $t:" >&2
                        cat "$WORK/run.err" "$csv" >&2
                        exit 1
                    fi
                    # Last CSV row: "TEST","rps",... (LRANGE runs are preceded by the
                    # LPUSH row that fills the list).
                    rps=$(awk -F'","' 'NR > 1 { r = $2 } END { print r }' "$csv")
                    [ -n "$rps" ] || {
                        echo "error: no result from redis-benchmark ($srv $t P$p)" >&2
                        cat "$csv" >&2
                        exit 1
                    }
                    echo "$section,$p,$t,$srv,$round,$n,$rps,$(python3 -c "print(($after - $before) / $CLK_TCK)")" >>"$RESULTS"
                    printf '#   round %s P%-2s %-4s %-6s %10s req/s\n' "$round" "$p" "$t" "$srv" "$rps" >&2
                done
            done
        done
    done
}

print_table() { # section title
    echo
    echo "## $2"
    echo
    python3 - "$RESULTS" "$1" <<'EOF'
import csv, statistics, sys
path, section = sys.argv[1], sys.argv[2]
rows = [r for r in csv.reader(open(path)) if r and r[0] == section]
keys = []
data = {}
for sec, p, t, srv, rnd, n, rps, cpu in rows:
    k = (int(p), t)
    if k not in keys:
        keys.append(k)
    d = data.setdefault(k, {}).setdefault(srv, {"rps": [], "cpu": []})
    d["rps"].append(float(rps))
    # CPU seconds per million requests (MSET counts one request per MSET command).
    d["cpu"].append(float(cpu) / int(n) * 1e6)
print("| pipeline | test | redis req/s (median) | corekv req/s (median) | ratio | redis CPU s/1M | corekv CPU s/1M |")
print("|---|---|---:|---:|---:|---:|---:|")
for p, t in sorted(keys, key=lambda k: k[0]):  # stable: set, get, incr, mset
    r, c = data[(p, t)]["redis"], data[(p, t)]["corekv"]
    rr, cr = statistics.median(r["rps"]), statistics.median(c["rps"])
    rc, cc = statistics.median(r["cpu"]), statistics.median(c["cpu"])
    name = {"mset": "mset (10 keys)", "zrange": "zrange 0 9 withscores"}.get(t, t)
    print(f"| {p} | {name} | {rr:,.0f} | {cr:,.0f} | {cr / rr:.2f} | {rc:.2f} | {cc:.2f} |")
EOF
    echo
}

# --- Section 1: single core. Servers pinned to core 0, client pinned to core 1.
if [[ " $SECTIONS " == *" single "* ]]; then
RPORT=$(free_port)
REDIS_CMD=(redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no)
echo "# section 1 redis:  taskset -c 0 $(printf '%q ' "${REDIS_CMD[@]}")"
start_server redis1 0 "$RPORT" "${REDIS_CMD[@]}"
REDIS_PID=$SERVER_PID
KPORT=$(free_port)
COREKV_CMD=("$COREKV" --port "$KPORT" --shards 1 --bind 127.0.0.1 --save "")
echo "# section 1 corekv: taskset -c 0 $(printf '%q ' "${COREKV_CMD[@]}")"
start_server corekv1 0 "$KPORT" "${COREKV_CMD[@]}"
COREKV_PID=$SERVER_PID
run_section single 1 "$RPORT" "$REDIS_PID" "$KPORT" "$COREKV_PID"
stop_server "$COREKV_PID"
stop_server "$REDIS_PID"
fi

# --- Section 2: corekv with 2 shards vs redis, nothing pinned.
if [[ " $SECTIONS " == *" twoshard "* ]]; then
RPORT=$(free_port)
REDIS_CMD=(redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no)
echo "# section 2 redis:  $(printf '%q ' "${REDIS_CMD[@]}")"
start_server redis2 "" "$RPORT" "${REDIS_CMD[@]}"
REDIS_PID=$SERVER_PID
KPORT=$(free_port)
COREKV_CMD=("$COREKV" --port "$KPORT" --shards 2 --bind 127.0.0.1 --save "")
echo "# section 2 corekv: $(printf '%q ' "${COREKV_CMD[@]}")"
start_server corekv2 "" "$KPORT" "${COREKV_CMD[@]}"
COREKV_PID=$SERVER_PID
run_section twoshard "" "$RPORT" "$REDIS_PID" "$KPORT" "$COREKV_PID"
stop_server "$COREKV_PID"
stop_server "$REDIS_PID"
fi

# --- Section 3: pub/sub fan-out, corekv with 2 shards vs redis, nothing pinned.
PUBSUB_RESULTS="$WORK/pubsub.csv" # publishers,server,round,published,rps,cpu_s,subs
: >"$PUBSUB_RESULTS"
if [[ " $SECTIONS " == *" pubsub "* ]]; then
SUBS=${PUBSUB_SUBS:-8}
if [ -n "${QUICK:-}" ]; then PN=${PUBSUB_N:-5000}; else PN=${PUBSUB_N:-100000}; fi
RPORT=$(free_port)
start_server redis3 "" "$RPORT" redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no
REDIS_PID=$SERVER_PID
KPORT=$(free_port)
start_server corekv3 "" "$KPORT" "$COREKV" --port "$KPORT" --shards 2 --bind 127.0.0.1 --save ""
COREKV_PID=$SERVER_PID
echo "# section 3: $SUBS subscribers per server, redis-benchmark -c PUBLISHERS -P 16 -n $PN PUBLISH bench.ch <16 bytes>"
for port in "$RPORT" "$KPORT"; do
    for _ in $(seq 1 "$SUBS"); do
        # A subscriber that reads and discards (bounded: cleanup kills it).
        timeout 3600 python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$8\r\nbench.ch\r\n")
while s.recv(1 << 20):
    pass' "$port" &
        PIDS+=("$!")
    done
done
for port in "$RPORT" "$KPORT"; do
    n=0
    for _ in $(seq 1 100); do
        n=$(redis-cli -h 127.0.0.1 -p "$port" pubsub numsub bench.ch | tail -1)
        [ "$n" = "$SUBS" ] && break
        sleep 0.1
    done
    [ "$n" = "$SUBS" ] || {
        echo "error: $n of $SUBS subscribers reached port $port" >&2
        exit 1
    }
done
for round in $(seq 1 "$ROUNDS"); do
    for pubs in 1 8; do
        for srv in redis corekv; do
            if [ "$srv" = redis ]; then port=$RPORT pid=$REDIS_PID; else port=$KPORT pid=$COREKV_PID; fi
            before=$(cpu_ticks "$pid")
            timeout "$RUN_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$port" -c "$pubs" -n "$PN" -P 16 --csv \
                publish bench.ch 0123456789abcdef >"$WORK/ps.csv" 2>"$WORK/ps.err" || {
                echo "error: PUBLISH benchmark against $srv failed" >&2
                cat "$WORK/ps.err" >&2
                exit 1
            }
            after=$(cpu_ticks "$pid")
            rps=$(awk -F'","' 'NR > 1 { r = $2 } END { print r }' "$WORK/ps.csv")
            got=$(redis-cli -h 127.0.0.1 -p "$port" publish bench.ch x)
            [ "$got" = "$SUBS" ] || {
                echo "error: $srv lost subscribers ($got of $SUBS)" >&2
                exit 1
            }
            echo "$pubs,$srv,$round,$PN,$rps,$(python3 -c "print(($after - $before) / $CLK_TCK)"),$SUBS" >>"$PUBSUB_RESULTS"
            printf '#   round %s publishers %s %-6s %10s publishes/s\n' "$round" "$pubs" "$srv" "$rps" >&2
        done
    done
done
stop_server "$COREKV_PID"
stop_server "$REDIS_PID"
fi

[[ " $SECTIONS " == *" single "* ]] && print_table single "Single core: servers pinned to core 0 (corekv --shards 1), redis-benchmark pinned to core 1 (-c 50 -r 100000; N=$N_P1 at P1, $N_P16 at P16; median of $ROUNDS rounds)"
[[ " $SECTIONS " == *" twoshard "* ]] && print_table twoshard "Two shards: corekv --shards 2 vs redis-server, nothing pinned - client and servers share the 2 cores (-c 50 -r 100000; N=$N_P1 at P1, $N_P16 at P16; median of $ROUNDS rounds)"
if [[ " $SECTIONS " == *" pubsub "* ]]; then
    echo
    echo "## Pub/sub fan-out: corekv --shards 2 vs redis-server, nothing pinned ($SUBS subscribers on one channel, redis-benchmark PUBLISH -P 16, N=$PN; median of $ROUNDS rounds)"
    echo
    python3 - "$PUBSUB_RESULTS" <<'EOF'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
data = {}
for pubs, srv, rnd, n, rps, cpu, subs in rows:
    d = data.setdefault(int(pubs), {}).setdefault(srv, {"del": [], "cpu": []})
    d["del"].append(float(rps) * int(subs))
    d["cpu"].append(float(cpu) / (int(n) * int(subs)) * 1e6)
print("| publishers | redis delivered/s | corekv delivered/s | ratio | redis CPU s/1M delivered | corekv CPU s/1M delivered |")
print("|---:|---:|---:|---:|---:|---:|")
for pubs in sorted(data):
    r, c = data[pubs]["redis"], data[pubs]["corekv"]
    rr, cr = statistics.median(r["del"]), statistics.median(c["del"])
    print(f"| {pubs} | {rr:,.0f} | {cr:,.0f} | {cr / rr:.2f} | {statistics.median(r['cpu']):.2f} | {statistics.median(c['cpu']):.2f} |")
EOF
    echo
fi
if [[ " $SECTIONS " == *" persist "* ]]; then
    if [ -n "${QUICK:-}" ]; then export PERSIST_KEYS=${PERSIST_KEYS:-20000}; fi
    echo "# section 4: snapshots (scripts/bench_persist.py, PERSIST_KEYS=${PERSIST_KEYS:-1000000})"
    BENCH_ROUNDS=$ROUNDS timeout 3600 python3 "$ROOT/scripts/bench_persist.py" "$COREKV" "$WORK"
fi
if [[ " $SECTIONS " == *" aof "* ]]; then
    AOF_N=${AOF_N:-50000}
    [ -n "${QUICK:-}" ] && AOF_N=2000
    AOF_RESULTS="$WORK/aof.csv" # fsync,pipeline,server,round,n,rps
    : >"$AOF_RESULTS"
    echo "# section 5: SET with the append-only file on (redis-benchmark -t set -c 50 -r 100000 -n $AOF_N), corekv --shards 2 vs redis-server, nothing pinned"
    for fsync in always everysec; do
        for round in $(seq 1 "$ROUNDS"); do
            for srv in redis corekv; do
                dir="$WORK/aof-$srv-$fsync-$round"
                mkdir -p "$dir"
                port=$(free_port)
                if [ "$srv" = redis ]; then
                    start_server "aof-$srv" "" "$port" redis-server --port "$port" --bind 127.0.0.1 \
                        --save "" --appendonly yes --appendfsync "$fsync" --dir "$dir"
                else
                    start_server "aof-$srv" "" "$port" "$COREKV" --port "$port" --shards 2 \
                        --save "" --appendonly yes --appendfsync "$fsync" --dir "$dir"
                fi
                pid=$SERVER_PID
                for p in 1 16; do
                    if ! timeout "$RUN_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$port" -r 100000 -c 50 \
                        -n "$AOF_N" -P "$p" --csv -t set >"$WORK/run.csv" 2>"$WORK/run.err"; then
                        echo "error: redis-benchmark against $srv (appendfsync $fsync) failed" >&2
                        cat "$WORK/run.err" >&2
                        exit 1
                    fi
                    rps=$(awk -F'","' 'NR > 1 { r = $2 } END { print r }' "$WORK/run.csv")
                    echo "$fsync,$p,$srv,$round,$AOF_N,$rps" >>"$AOF_RESULTS"
                    printf '#   %-8s round %s P%-2s %-6s %10s req/s\n' "$fsync" "$round" "$p" "$srv" "$rps" >&2
                done
                stop_server "$pid"
                rm -rf "$dir"
            done
        done
    done
    python3 - "$AOF_RESULTS" <<'EOF'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
data = {}
for fsync, p, srv, rnd, n, rps in rows:
    data.setdefault((fsync, int(p)), {}).setdefault(srv, []).append(float(rps))
print("| appendfsync | pipeline | redis SET/s | corekv SET/s | ratio |")
print("|---|---:|---:|---:|---:|")
for (fsync, p) in sorted(data):
    r, c = statistics.median(data[(fsync, p)]["redis"]), statistics.median(data[(fsync, p)]["corekv"])
    print(f"| {fsync} | {p} | {r:,.0f} | {c:,.0f} | {c / r:.2f} |")
EOF
    echo
fi
echo "CPU s/1M = server utime+stime (/proc/PID/stat, all threads) during the redis-benchmark run, per million requests (an MSET of 10 keys is one request)."
echo "Raw results (section,pipeline,test,server,round,n,rps,cpu_s):"
sed 's/^/    /' "$RESULTS"
