#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/fuzz_targets/{parser,dict}.rs) for SECONDS each.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 seconds, targets parser dict)
# Env:   FUZZ_JOBS=N   parallel libFuzzer workers per target (default 1)
#        FUZZ_ARGS     extra libFuzzer flags, e.g. "-max_len=8192"
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain
# (`rustup toolchain install nightly`). Corpora go to fuzz/corpus/<target>/, crash
# reproducers to fuzz/artifacts/<target>/ (both git-ignored); replay one with
# `cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-...`.
set -euo pipefail

cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(parser dict)
JOBS=${FUZZ_JOBS:-1}

command -v cargo-fuzz >/dev/null 2>&1 || {
    echo "error: cargo-fuzz missing: cargo install cargo-fuzz" >&2
    exit 1
}
rustup toolchain list 2>/dev/null | grep -q '^nightly' || {
    echo "error: no nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
}

echo "# command: $(printf '%q ' "$0" "$SECS" "${TARGETS[@]}")"
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
