#!/bin/sh
# Run test binaries, add up their "# SUITE: N passed, M failed, K skipped"
# lines, and end with "N passed, M failed".  Exit 1 on any failure, or if a
# binary died without reporting.
#
#   tests/run.sh BIN... [--model=MODEL BIN...]...
#
# An argument --model=MODEL (fork, prefork:N, workers:N, event) runs the
# binaries after it with USHER_TEST_MODEL=MODEL: the harness rewrites their
# configs so that every builtin service runs under that model (see
# tests/lib/harness.h), and their suites report as NAME[model=MODEL].
#
# Environment: USHER_BUILD (where usherd and usher are), SANITIZE=1 (scale
# timeouts for the slower sanitizer build).

set -u
: "${USHER_BUILD:=build}"
export USHER_BUILD
if [ "${SANITIZE:-}" = 1 ]; then
    export T_SCALE=3
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=99${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
fi

passed=0
failed=0
skipped=0
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT

model=
for t in "$@"; do
    case "$t" in
    --model=*)
        model=${t#--model=}
        echo "== under model $model =="
        continue
        ;;
    esac
    USHER_TEST_MODEL="$model" "$t" >"$summary.out" 2>&1
    rc=$?
    cat "$summary.out"
    [ -n "$model" ] && t="$t (model $model)"
    line=$(grep '^# .*: [0-9]* passed, [0-9]* failed, [0-9]* skipped$' "$summary.out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $t: exited with status $rc without a summary"
        failed=$((failed + 1))
        continue
    fi
    p=$(echo "$line" | sed 's/.*: \([0-9]*\) passed.*/\1/')
    f=$(echo "$line" | sed 's/.* \([0-9]*\) failed.*/\1/')
    s=$(echo "$line" | sed 's/.* \([0-9]*\) skipped$/\1/')
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $t: exited with status $rc"
        failed=$((failed + 1))
    fi
done
rm -f "$summary.out"

[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
