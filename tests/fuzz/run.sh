#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 30) on a scratch copy of its seed
# corpus. Builds nothing: build first with
#     cmake --preset fuzz && cmake --build --preset fuzz
# Exits non-zero if any target crashes, leaks, times out or is missing. Crash inputs are
# kept in build/fuzz/artifacts/<target>/.
#
# usage: tests/fuzz/run.sh [SECONDS]
#   BTT_FUZZ_BUILD   build directory (default: <repo>/build/fuzz)
#   BTT_FUZZ_JOBS    parallel jobs per target (default: 1)
set -u

secs=${1:-30}
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BTT_FUZZ_BUILD:-$repo/build/fuzz}
jobs=${BTT_FUZZ_JOBS:-1}
# every tests/fuzz/fuzz_<name>.c is a target
targets=()
for src in "$here"/fuzz_*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    targets+=("$name")
done
[ "${#targets[@]}" -ne 0 ] || { echo "no fuzz_*.c in $here" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/btt-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT

failed=()
for t in "${targets[@]}"; do
    bin=$build/$t
    [ -x "$bin" ] || bin=$build/tests/fuzz/$t
    if [ ! -x "$bin" ]; then
        echo "== $t: binary not found in $build (run: cmake --preset fuzz && cmake --build --preset fuzz)" >&2
        failed+=("$t(missing)")
        continue
    fi
    corpus=$work/$t/corpus
    arts=$work/$t/artifacts
    mkdir -p "$corpus" "$arts"
    if [ -d "$here/corpus/$t" ]; then cp -R "$here/corpus/$t/." "$corpus/"; fi

    echo "== $t: ${secs}s, seeds: $(ls "$corpus" | wc -l)"
    log=$work/$t/log
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    extra=()
    # -jobs makes libFuzzer write fuzz-N.log files in the current directory: run from $work
    if [ "$jobs" -gt 1 ]; then extra=(-jobs="$jobs" -workers="$jobs"); fi
    (cd "$work/$t" && "$bin" "$corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$arts/" "${extra[@]}") >"$log" 2>&1
    rc=$?
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb)' "$log" | sed 's/^/   /'
    grep -E '#[0-9]+ *(DONE|pulse)' "$log" | tail -n 1 | sed 's/^/   /'
    n_arts=$(find "$arts" -type f | wc -l)
    if [ "$rc" -ne 0 ] || [ "$n_arts" -ne 0 ]; then
        echo "   FAILED (exit $rc, $n_arts artifact(s))"
        grep -E 'ERROR: |SUMMARY: |check failed|mismatch|rejected' "$log" | head -n 20 | sed 's/^/   /'
        keep=$build/artifacts/$t
        mkdir -p "$keep"
        cp "$arts"/* "$keep"/ 2>/dev/null
        cp "$log" "$keep/log.txt"
        cp "$work/$t"/fuzz-*.log "$keep"/ 2>/dev/null
        echo "   artifacts and log kept in $keep"
        failed+=("$t")
    else
        echo "   ok"
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzzing failed: ${failed[*]}"
    exit 1
fi
echo "fuzzing passed: ${targets[*]} (${secs}s each)"
