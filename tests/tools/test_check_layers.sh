#!/bin/sh
# Tests of tools/check-layers.sh: each case writes a small src/ of empty
# modules into a temporary directory, with the includes the case is about,
# runs the checker on it, and asserts its exit status and the lines it
# prints.  One case runs it on the real tree and its exception list.
# Prints "ok"/"FAIL" per case, then "# test_check_layers: N passed, M failed,
# K skipped" for tests/run.sh.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
check=$root/tools/check-layers.sh
suite=test_check_layers
passed=0
failed=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# A fresh $tmp/src and an empty $tmp/exceptions.
fresh() {
    rm -rf "$tmp/src"
    mkdir "$tmp/src"
    : >"$tmp/exceptions"
}

# file FILE [INCLUDE...]: src/FILE, a comment line, then one include per line.
file() {
    f=$1
    shift
    printf '/* %s */\n' "$f" >"$tmp/src/$f"
    for inc in "$@"; do
        printf '#include "%s"\n' "$inc" >>"$tmp/src/$f"
    done
}

# run: the checker on $tmp/src; its output in $out, its status in $rc.
run() {
    out=$(cd "$tmp" && "$check" src exceptions 2>&1)
    rc=$?
}

# expect NAME RC [TEXT...]: the status was RC and the output holds every
# TEXT (every !TEXT: does not hold it).
expect() {
    name=$1
    want=$2
    shift 2
    why=
    [ "$rc" -eq "$want" ] || why="exit status $rc, want $want"
    for text in "$@"; do
        case "$text" in
        !*)
            case "$out" in
            *"${text#!}"*) why="${why:+$why; }\"${text#!}\" in the output" ;;
            esac
            ;;
        *)
            case "$out" in
            *"$text"*) ;;
            *) why="${why:+$why; }no \"$text\" in the output" ;;
            esac
            ;;
        esac
    done
    if [ -z "$why" ]; then
        echo "ok   $suite/$name"
        passed=$((passed + 1))
    else
        echo "FAIL $suite/$name: $why"
        printf '%s\n' "$out" | sed 's/^/    | /'
        failed=$((failed + 1))
    fi
}

# Down a layer, and sideways in one layer without a cycle: no error.
fresh
file util.h
file util.c util.h
file ev.h util.h
file ev.c ev.h util.h
file sig.c ev.h
file listener.c limit.h
file limit.h
file main.c conf.h ev.h
file conf.c conf_parse.h
file conf_inetd.c conf_parse.h
file conf_parse.h
file stream.c out.h
file out.h
run
expect includes_down_and_sideways_pass 0 "no violations"

# Up a layer: named with its file, its line and both layers.
fresh
file util.h
file ev.c util.h conf.h
run
expect include_up_a_layer_fails 1 "src/ev.c:3: ev.c -> conf.h: loop (L1) includes mechanism (L2), a layer up"

# From the leaf layer to anything above it.
fresh
file log.c sig.h
run
expect leaf_including_the_loop_fails 1 "src/log.c:2: log.c -> sig.h: leaf (L0) includes loop (L1)"

# A cycle between two modules of one layer, through a .c and a .h: both edges.
fresh
file listener.c limit.h
file limit.h listener.h
file listener.h
run
expect same_layer_cycle_fails 1 \
    "src/listener.c:2: listener.c -> limit.h: closes a cycle in mechanism (L2): listener -> limit -> listener" \
    "src/limit.h:2: limit.h -> listener.h: closes a cycle in mechanism (L2): limit -> listener -> limit"

# A longer cycle, of three modules.
fresh
file pidfile.c sd.h
file sd.c daemon.h
file daemon.c pidfile.h
run
expect three_module_cycle_fails 1 "closes a cycle in mechanism (L2): pidfile -> sd -> daemon -> pidfile"

# The files of one module include each other freely.
fresh
file spawn.c spawn.h spawn_child.h
file spawn_child.c spawn_child.h spawn.h
file spawn.h
file spawn_child.h
run
expect files_of_one_module_pass 0 "no violations"

# A file the table does not place, and a header that is in no layer.
fresh
file frobnicate.c util.h
file util.h
run
expect unknown_file_fails 1 "src/frobnicate.c: not in the layer table"
fresh
file ev.c nowhere.h
run
expect unknown_include_fails 1 "src/ev.c:2: ev.c -> nowhere.h: includes a header that is in no layer"

# The client's side takes nothing of the daemon's, nor the daemon the client's.
fresh
file bench.c conf.h
file procs.c client.h
run
expect crossing_sides_fails 1 \
    "src/bench.c:2: bench.c -> conf.h: client (C1) includes mechanism (L2), of the other program" \
    "src/procs.c:2: procs.c -> client.h: processes (L6) includes client (C1), of the other program"

# An include written with blanks around the hash is seen too.
fresh
printf '  #  include "procs.h"\n' >"$tmp/src/ev.c"
run
expect spaced_include_is_seen 1 "src/ev.c:1: ev.c -> procs.h"

# A violation the exception list names passes; one more does not.
fresh
file ev.c conf.h procs.h
printf '# known\nev.c -> conf.h\n' >"$tmp/exceptions"
run
expect excepted_violation_passes_others_fail 1 "src/ev.c:3: ev.c -> procs.h" "!ev.c -> conf.h"
fresh
file ev.c conf.h
printf 'ev.c -> conf.h\n' >"$tmp/exceptions"
run
expect excepted_violation_alone_passes 0 "no violations (1 excepted in exceptions)"

# An exception that no longer occurs is an error: the list only shrinks.
fresh
file ev.c util.h
file util.h
printf 'ev.c -> conf.h\n' >"$tmp/exceptions"
run
expect stale_exception_fails 1 "exceptions:1: stale exception: ev.c -> conf.h no longer occurs"

# A line of the list that is not `FILE -> INCLUDE`.
fresh
file util.h
printf 'ev.c includes conf.h\n' >"$tmp/exceptions"
run
expect malformed_exception_fails 1 "exceptions:1: not \`FILE -> INCLUDE\`"

# The tree as it is, with its exception list.
out=$(cd "$root" && "$check" src tools/layers.exceptions 2>&1)
rc=$?
expect the_tree_keeps_its_layers 0 "no violations"

echo "# $suite: $passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
