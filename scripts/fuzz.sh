#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ (the RESP parser, one-shot vs chunked, the store's
# dict against a HashMap model, and the RDB reader on DUMP payloads and files) for
# SECONDS each, in one of two modes:
#
#   libfuzzer  cargo-fuzz: coverage-guided libFuzzer with AddressSanitizer. Needs a
#              nightly toolchain (`rustup toolchain install nightly`), cargo-fuzz
#              (`cargo install cargo-fuzz`) and a C++ compiler.
#   stable     the stable driver (fuzz/examples/random.rs): the same target bodies
#              on inputs from per-target generators plus a byte mutator, no coverage
#              feedback. Needs only stable Rust.
#
# Usage: scripts/fuzz.sh [--libfuzzer|--stable] [SECONDS] [TARGET...]
#            Fuzz each TARGET (default: parser dict rdb) for SECONDS (default 60 with
#            libFuzzer, 30 stable). With no mode flag: libfuzzer when cargo-fuzz and
#            nightly are installed, else stable.
#        scripts/fuzz.sh --replay TARGET FILE|DIR...
#            Run TARGET once on each input (a crash reproducer from either mode,
#            a corpus directory) on stable; exit status 1 if any fails.
#        scripts/fuzz.sh --test
#            Stable: lock file check, format check, clippy and the fuzz crate's tests
#            (the target bodies on seeded random inputs and as proptest properties).
#            CI runs it.
#        scripts/fuzz.sh --sync-lock
#            Rewrite fuzz/Cargo.lock from the main Cargo.lock (keeping the pins of
#            the fuzz-only crates), after the main crate's dependencies changed.
#
# Env:   FUZZ_JOBS=N   parallel workers per target (default 1)
#        FUZZ_ARGS     extra libFuzzer flags, e.g. "-max_len=8192" (libfuzzer mode)
#        FUZZ_SEED=N   the stable driver's seed (default: from the clock; printed)
#        SKIP_BUILD=1  stable/replay modes: use the driver already built
#
# Corpora live in fuzz/corpus/<target>/ (libFuzzer writes them; the stable driver
# also mutates them), failing inputs go to fuzz/artifacts/<target>/ (both
# git-ignored). Replay one with `scripts/fuzz.sh --replay <target> FILE`, or with
# `cargo +nightly fuzz run <target> FILE`.
#
# Stable builds (--no-default-features: no libFuzzer) go to the main crate's target/
# with its [profile.release] (and the fuzz crate mirrors its dev-dependencies), so
# after `cargo test --release` they reuse its builds of every crates.io dependency:
# only corekv, the vendored glommio and the fuzz crate are compiled. cargo-fuzz
# builds go to fuzz/target/ (other flags entirely).
set -euo pipefail

cd "$(dirname "$0")/.."

MODE=auto
case "${1:-}" in
--libfuzzer | --nightly) MODE=libfuzzer && shift ;;
--stable) MODE=stable && shift ;;
--replay) MODE=replay && shift ;;
--test) MODE="test" && shift ;;
--sync-lock) MODE=sync-lock && shift ;;
-h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
    ;;
esac
JOBS=${FUZZ_JOBS:-1}

have_libfuzzer() {
    command -v cargo-fuzz >/dev/null 2>&1 &&
        rustup toolchain list 2>/dev/null | grep -q '^nightly'
}

if [ "$MODE" = auto ]; then
    if have_libfuzzer; then
        MODE=libfuzzer
    else
        MODE=stable
        echo "note: cargo-fuzz or a nightly toolchain is missing, so this runs the stable" \
            "driver (random inputs, no coverage feedback); see --help" >&2
    fi
fi

# fuzz/Cargo.lock policy: committed, complete (every cargo call here is --locked),
# and at the main Cargo.lock's version of every crate the two share, so that both
# crates are tested against the same dependencies (and builds can share target/).
lock_check() {
    python3 - <<'EOF' || return 1
import sys, tomllib
def versions(path):
    out = {}
    for p in tomllib.load(open(path, "rb"))["package"]:
        out.setdefault(p["name"], set()).add(p["version"])
    return out
main, fuzz = versions("Cargo.lock"), versions("fuzz/Cargo.lock")
bad = sorted(f"{n} {sorted(v)} (main: {sorted(main[n])})"
             for n, v in fuzz.items() if n in main and not v <= main[n])
if bad:
    sys.exit("error: fuzz/Cargo.lock differs from Cargo.lock: " + ", ".join(bad))
EOF
    cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null || {
        echo "error: fuzz/Cargo.lock is out of date (see cargo's message above)" >&2
        return 1
    }
}

lock_sync() {
    # The main lock file plus the fuzz-only entries of the current one; Cargo then
    # drops what the fuzz crate does not use and adds what is missing.
    python3 - <<'EOF'
import tomllib
main_text = open("Cargo.lock").read()
main = {(p["name"], p["version"]) for p in tomllib.load(open("Cargo.lock", "rb"))["package"]}
blocks = open("fuzz/Cargo.lock").read().split("\n[[package]]\n")[1:]
extra = [b for b, p in zip(blocks, tomllib.load(open("fuzz/Cargo.lock", "rb"))["package"])
         if (p["name"], p["version"]) not in main and p["name"] != "corekv-fuzz"]
open("fuzz/Cargo.lock", "w").write(
    main_text.rstrip("\n") + "\n" + "".join("\n[[package]]\n" + b.rstrip("\n") + "\n" for b in extra))
EOF
    cargo metadata --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
}

# Stable cargo for the fuzz crate: without libFuzzer, in target/ with the main crate's
# release profile (read from Cargo.toml; plain values only, as CARGO_PROFILE_RELEASE_*).
stable_cargo() {
    local profile
    profile=$(python3 - <<'EOF'
import tomllib
p = tomllib.load(open("Cargo.toml", "rb")).get("profile", {}).get("release", {})
for k, v in p.items():
    if isinstance(v, (str, int, bool)):
        v = str(v).lower() if isinstance(v, bool) else v
        print(f"CARGO_PROFILE_RELEASE_{k.upper().replace('-', '_')}={v}")
EOF
    )
    # shellcheck disable=SC2086 # one NAME=value per word
    env $profile cargo "$@"
}
stable_flags=(--release --locked --no-default-features --manifest-path fuzz/Cargo.toml --target-dir target)
DRIVER=target/release/examples/random

build_driver() {
    [ -n "${SKIP_BUILD:-}" ] || stable_cargo build "${stable_flags[@]}" --example random
}

case "$MODE" in
sync-lock)
    lock_sync
    lock_check
    git diff --stat -- fuzz/Cargo.lock
    exit 0
    ;;
test)
    echo "# command: $(printf '%q ' "$0" --test)"
    lock_check || {
        echo "fix: scripts/fuzz.sh --sync-lock, then commit fuzz/Cargo.lock" >&2
        exit 1
    }
    cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check
    # Clippy type-checks every target (the fuzz_targets binaries, the driver); only
    # the library's tests are built, as each release binary is a thin-LTO link.
    stable_cargo clippy "${stable_flags[@]}" --all-targets -- -D warnings
    stable_cargo test "${stable_flags[@]}" --lib
    exit 0
    ;;
replay)
    [ $# -ge 2 ] || {
        echo "usage: $0 --replay TARGET FILE|DIR..." >&2
        exit 2
    }
    build_driver
    exec "$DRIVER" --replay "$@"
    ;;
esac

if [ "$MODE" = stable ]; then
    SECS=${1:-30}
else
    SECS=${1:-60}
fi
shift || true
case "$SECS" in
'' | *[!0-9]*)
    echo "error: SECONDS must be a number, got '$SECS' (see --help)" >&2
    exit 2
    ;;
esac
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(parser dict rdb)
echo "# command: $(printf '%q ' "$0" "--$MODE" "$SECS" "${TARGETS[@]}")"

if [ "$MODE" = stable ]; then
    build_driver
    args=(--seconds "$SECS" --jobs "$JOBS" --corpus fuzz/corpus --artifacts fuzz/artifacts)
    [ -z "${FUZZ_SEED:-}" ] || args+=(--seed "$FUZZ_SEED")
    # The driver stops itself after SECONDS per target (plus up to 10 s minimizing a
    # failure); the outer timeout is a backstop against a hanging input.
    rc=0
    timeout $(((SECS + 30) * ${#TARGETS[@]} + 60)) "$DRIVER" "${args[@]}" "${TARGETS[@]}" || rc=$?
    [ "$rc" != 124 ] || echo "!! the stable driver timed out: an input hangs?" >&2
    exit "$rc"
fi

command -v cargo-fuzz >/dev/null 2>&1 || {
    echo "error: cargo-fuzz missing: cargo install cargo-fuzz (or use --stable)" >&2
    exit 1
}
rustup toolchain list 2>/dev/null | grep -q '^nightly' || {
    echo "error: no nightly toolchain: rustup toolchain install nightly (or use --stable)" >&2
    exit 1
}

status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "== $t: ${SECS}s"
    cargo +nightly fuzz build "$t"
    extra=()
    if [ "$JOBS" -gt 1 ]; then extra=(-jobs="$JOBS" -workers="$JOBS"); fi
    mkdir -p "fuzz/artifacts/$t"
    log="fuzz/artifacts/$t/fuzz.log"
    # -max_total_time bounds the run; the outer timeout is a backstop (build is done).
    set +e
    # shellcheck disable=SC2086
    timeout $((SECS + 120)) cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECS" -print_final_stats=1 "${extra[@]}" ${FUZZ_ARGS:-} \
        2>&1 | tee "$log" | grep -aE '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==|SUMMARY|Done [0-9]+ runs)|panicked|artifact_prefix|Test unit written'
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" != 0 ]; then
        echo "!! $t: fuzzer exited with status $rc (log: $log; reproducers: fuzz/artifacts/$t/)" >&2
        status=1
    else
        echo "== $t: OK, no crash (log: $log)"
    fi
done
exit "$status"
