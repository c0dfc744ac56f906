#!/bin/sh
# Run libFuzzer targets, each for SECONDS, and fail if any of them finds a
# crash, a leak, a timeout or undefined behaviour.
#
#   tests/fuzz/run.sh BUILD SECONDS NAME...
#
# BUILD/fuzz_NAME is the target; tests/fuzz/corpus/NAME its seeds, read but
# never written: new inputs go to the scratch corpus BUILD/corpus/NAME, and
# what a failure leaves (crash-*, leak-*, timeout-*) to BUILD/artifacts/NAME/.
# Each target's execution count is printed, then the total.
set -u
[ $# -ge 3 ] || { echo "usage: $0 BUILD SECONDS NAME..." >&2; exit 2; }
build=$1
seconds=$2
shift 2

export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

failed=0
total=0
for name in "$@"; do
    bin=$build/fuzz_$name
    seeds=tests/fuzz/corpus/$name
    scratch=$build/corpus/$name
    artifacts=$build/artifacts/$name
    log=$build/fuzz_$name.log
    mkdir -p "$scratch" "$artifacts"
    "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$scratch" "$seeds" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    total=$((total + ${execs:-0}))
    if [ "$rc" -eq 0 ]; then
        echo "ok   fuzz_$name: ${execs:-?} executions in ${seconds}s"
    else
        failed=$((failed + 1))
        echo "FAIL fuzz_$name: exit $rc after ${execs:-?} executions (log: $log)"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*property failed|.*runtime error)' "$log" | head -n 5
        ls "$artifacts"
    fi
done
echo "fuzz: $total executions, $failed of $# targets failed"
[ "$failed" -eq 0 ]
