#!/usr/bin/env python3
"""Snapshot benchmark: corekv vs redis-server on the same mixed dataset.

For each server: load the dataset (pipelined over one socket), then per round
time SAVE; time BGSAVE while redis-benchmark overwrites random string keys of
the dataset, sampling every 10 ms the memory the save costs (the server's RSS
growth plus the private dirty pages of Redis's fork child: what copy-on-write
really copied, not the pages the child shares) and comparing the writes' p99
latency and rate with the same load without a save; and time a restart on the
file until PING answers. Prints one markdown table of medians and ratios.

Usage: bench_persist.py COREKV_BINARY WORKDIR  (env PERSIST_KEYS, BENCH_ROUNDS)
Only loopback; every wait is bounded.
"""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

COREKV, WORK = sys.argv[1], sys.argv[2]
KEYS = int(os.environ.get("PERSIST_KEYS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def cmd(port, *args, timeout=600):
    r = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + [str(a) for a in args],
        capture_output=True, text=True, timeout=timeout)
    return r.stdout.strip()


def wait_pong(port, proc, limit=600):
    deadline = time.time() + limit
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on {port} exited: {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=limit) as s:
                s.settimeout(limit)
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"server on {port} did not answer PING")


def start(kind, port, d, shards):
    log = open(os.path.join(d, "server.log"), "ab")
    if kind == "redis":
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", d]
    else:
        argv = [COREKV, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--shards", str(shards), "--dir", d]
    p = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    t0 = time.time()
    wait_pong(port, p)
    return p, time.time() - t0


def stop(p):
    p.terminate()
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def load(port):
    """70% strings, 30% small collections (hash, list, set, zset of 10)."""
    s = socket.create_connection(("127.0.0.1", port))
    batch, sent = [], 0
    def flush():
        nonlocal batch
        if not batch:
            return
        s.sendall(b"".join(batch))
        want, got = len(batch), 0
        while got < want:
            d = s.recv(1 << 20)
            if not d:
                raise SystemExit("loader: connection closed")
            got += d.count(b"\r\n")
        batch = []
    for i in range(KEYS):
        k = i % 10
        if k < 7:
            # redis-benchmark's __rand_int__ is 12 digits: the load below
            # overwrites these keys.
            batch.append(enc("SET", f"s:{i:012d}", f"value-{i:026d}"))
        elif k == 7:
            batch.append(enc("HSET", f"h:{i}", *[x for j in range(10) for x in (f"f{j}", f"v{i}-{j}")]))
        elif k == 8:
            batch.append(enc("RPUSH", f"l:{i}", *[f"item-{i}-{j}" for j in range(10)]))
        elif i % 20 == 9:
            batch.append(enc("SADD", f"t:{i}", *[f"m{i}-{j}" for j in range(10)]))
        else:
            batch.append(enc("ZADD", f"z:{i}", *[x for j in range(10) for x in (j, f"m{i}-{j}")]))
        if len(batch) >= 2000:
            flush()
    flush()
    s.close()


def field_kb(path, name):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mem_kb(pid):
    """The server's RSS plus its children's private dirty pages, in KiB."""
    total = field_kb(f"/proc/{pid}/status", "VmRSS:")
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        kids = []
    for k in kids:
        total += field_kb(f"/proc/{k}/smaps_rollup", "Private_Dirty:")
    return total


def write_load(port):
    """Starts redis-benchmark overwriting random dataset strings."""
    n = max(KEYS // 2, 20000)
    return subprocess.Popen(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "10", "-n", str(n),
         "-r", str(KEYS), "--csv", "set", "s:__rand_int__", "overwritten-while-saving"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def load_result(proc):
    """(requests/s, p99 ms) from redis-benchmark's CSV."""
    out, _ = proc.communicate(timeout=900)
    row = [x.strip('"') for x in out.strip().splitlines()[-1].split('","')]
    return float(row[1]), float(row[6])


def bgsave(port, pid):
    """BGSAVE under write load: seconds, memory growth MB, base MB, rps, p99."""
    base = mem_kb(pid)
    peak = base
    load = write_load(port)
    time.sleep(0.2)
    t0 = time.time()
    cmd(port, "BGSAVE")
    deadline = t0 + 600
    secs = None
    while time.time() < deadline:
        peak = max(peak, mem_kb(pid))
        if secs is None:
            info = cmd(port, "INFO", "persistence")
            if "rdb_bgsave_in_progress:0" in info and time.time() - t0 > 0.01:
                if "rdb_last_bgsave_status:ok" not in info:
                    raise SystemExit("BGSAVE failed")
                secs = time.time() - t0
        if secs is not None and load.poll() is not None:
            break
        time.sleep(0.01)
    if secs is None:
        raise SystemExit("BGSAVE did not finish")
    rps, p99 = load_result(load)
    return secs, (peak - base) / 1024, base / 1024, rps, p99


def measure(kind, shards):
    d = os.path.join(WORK, f"persist-{kind}-{shards}")
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    port = free_port()
    p, _ = start(kind, port, d, shards)
    t0 = time.time()
    load(port)
    print(f"#   {kind}{'' if kind == 'redis' else f' --shards {shards}'}: loaded {cmd(port, 'DBSIZE')} keys in {time.time() - t0:.1f} s",
          file=sys.stderr)
    res = {k: [] for k in ("save", "bgsave", "rss", "load", "base", "size", "rps0", "p990", "rps", "p99")}
    for _ in range(ROUNDS):
        t0 = time.time()
        if cmd(port, "SAVE") != "OK":
            raise SystemExit(f"{kind}: SAVE failed")
        res["save"].append(time.time() - t0)
        rps0, p990 = load_result(write_load(port))
        res["rps0"].append(rps0)
        res["p990"].append(p990)
        secs, growth, base, rps, p99 = bgsave(port, p.pid)
        res["bgsave"].append(secs)
        res["rss"].append(growth)
        res["base"].append(base)
        res["rps"].append(rps)
        res["p99"].append(p99)
    res["size"].append(os.path.getsize(os.path.join(d, "dump.rdb")) / 1e6)
    saved_keys = int(cmd(port, "DBSIZE"))
    if cmd(port, "SAVE") != "OK":
        raise SystemExit(f"{kind}: SAVE failed")
    stop(p)
    for _ in range(ROUNDS):
        p, t = start(kind, port, d, shards)
        n = int(cmd(port, "DBSIZE"))
        if n != saved_keys:
            raise SystemExit(f"{kind}: {n} keys after restart, want {saved_keys}")
        res["load"].append(t)
        stop(p)
    return {k: statistics.median(v) for k, v in res.items()}


def main():
    r = measure("redis", 1)
    rows = [("redis-server", r)]
    for shards in (1, 2):
        rows.append((f"corekv --shards {shards}", measure("corekv", shards)))
    print()
    print(f"## Snapshots: {KEYS:,} keys (70% strings, 30% 10-element hashes/lists/sets/zsets), median of {ROUNDS} rounds")
    print()
    print("| server | file MB | SAVE s | ratio | load s | ratio | BGSAVE s (under writes) | memory before MB | memory growth during BGSAVE MB | SET p99 ms without / during BGSAVE | SET req/s without / during |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, x in rows:
        print(f"| {name} | {x['size']:.0f} | {x['save']:.2f} | {x['save'] / r['save']:.2f} | {x['load']:.2f} | {x['load'] / r['load']:.2f} | "
              f"{x['bgsave']:.2f} | {x['base']:.0f} | {x['rss']:.0f} | {x['p990']:.2f} / {x['p99']:.2f} | {x['rps0']:,.0f} / {x['rps']:,.0f} |")
    print()
    print("Writes: redis-benchmark -c 10 SET s:__rand_int__ over the dataset's string keys, the same load with and without a BGSAVE running. "
          "Memory growth: peak of the server's RSS plus its children's Private_Dirty (Redis's fork child: the pages copy-on-write copied), minus before. "
          "Load: restart on the file until PING answers.")


main()
