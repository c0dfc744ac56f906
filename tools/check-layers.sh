#!/bin/sh
# check-layers: every `#include "..."` of src/ goes down the layering, or
# sideways within a layer without closing a cycle (STYLE.md, "Layers").
#
#   tools/check-layers.sh [SRC_DIR [EXCEPTIONS]]    (defaults: src, tools/layers.exceptions)
#
# A file's .c and .h are one module; the table below places each module in
# a layer (and names the other files that belong to it).  A file calls only
# its own layer or a lower one; a notice goes upward only through a function
# pointer installed from above, which needs no include.  The client's
# modules sit on the leaf libraries only, apart from the daemon's.
#
# Errors, one line each, "FILE:LINE: what": an include that goes up a layer
# or to the other program's side, an include that closes a cycle between
# modules of one layer, a file (or an included header) that the table does
# not place, and an exception that no longer occurs.  Exit 1 on any error.
#
# EXCEPTIONS lists the violations that are known and being fixed, one per
# line as `FILE -> INCLUDE` (e.g. `stream.c -> server.h`; # starts a
# comment).  They are not reported; one that no longer occurs is an error,
# "stale exception", so the list can only shrink.
set -u

src=${1:-src}
exceptions=${2:-tools/layers.exceptions}

if [ ! -d "$src" ]; then
    echo "check-layers: fatal: unable to read $src: not a directory" >&2
    exit 2
fi
if [ ! -r "$exceptions" ]; then
    echo "check-layers: fatal: unable to read $exceptions" >&2
    exit 2
fi

table=$(mktemp) || exit 2
trap 'rm -f "$table"' EXIT

# module       layer side    other files of the module
cat >"$table" <<'EOF'
util           0     any
log            0     any
logjson        0     any
logip          0     any
siphash        0     any
addr           0     any
proto          0     any
json_parse     0     any
proxy          0     any
ev             1     daemon
sig            1     daemon
conf           2     daemon  conf_keys conf_inetd conf_parse conf_tls conf_forward conf_xinetd conf_xinetd_keys conf_banner conf_print
listener       2     daemon
limit          2     daemon
wait_guard     2     daemon
metrics        2     daemon
http           2     daemon
pidfile        2     daemon
sd             2     daemon
daemon         2     daemon
reaper         2     daemon
svc            3     daemon
stream         4     daemon
out            4     daemon
dgram          4     daemon
spawn          4     daemon  spawn_child
builtin        4     daemon  builtin_metrics
metrics_render 4     daemon
forward        4     daemon
tls            4     daemon
io             4     daemon
pending        4     daemon
handshake      4     daemon
proxy_in       4     daemon
relay          4     daemon
server         5     daemon
reload         5     daemon
control_server 5     daemon
procs          6     daemon
upgrade        6     daemon
main           7     daemon
control        7     daemon
client         1     client
client_stream  1     client
bench          1     client
hist           1     client
client_tls     1     client
client_http    1     client
status         1     client
client_status  1     client
usher          2     client
EOF
# out (the builtins' reply) is a module of its own: stream drives the
# builtins and both fill an out, so it cannot be stream's without a cycle.

set --
for f in "$src"/*.c "$src"/*.h; do
    [ -e "$f" ] && set -- "$@" "$f"
done

awk -v src="$src" -v exceptions="$exceptions" '
function base(p) { sub(/.*\//, "", p); return p }
function stem(f) { f = base(f); sub(/\.[ch]$/, "", f); return f }
function lname(m,    code) {
    code = (side[m] == "client" ? "C" : "L") layer[m]
    return (side[m] == "client" ? cdesc[layer[m]] : ldesc[layer[m]]) " (" code ")"
}
function err(where, msg) { print where ": " msg; errors++ }
# A violation at edge i: reported, unless the exception list names it.
function violation(i, msg,    key) {
    key = base(e_file[i]) " -> " e_inc[i]
    if (key in exc) {
        used[key] = 1
        excepted++
        return
    }
    err(e_file[i] ":" e_line[i], key ": " msg)
}
# The modules from `from` to `to` over same-layer includes ("a -> b -> c"), or "".
function path(from, to,    q, head, tail, cur, m, p) {
    split("", seen)
    split("", par)
    head = tail = 1
    q[1] = from
    seen[from] = 1
    while (head <= tail) {
        cur = q[head++]
        if (cur == to) {
            p = to
            while (cur != from) {
                cur = par[cur]
                p = cur " -> " p
            }
            return p
        }
        for (m in mods)
            if (((cur, m) in adj) && !(m in seen)) {
                seen[m] = 1
                par[m] = cur
                q[++tail] = m
            }
    }
    return ""
}
BEGIN {
    for (i = 1; i < ARGC; i++)
        if (ARGV[i] == "phase=src")
            first_src = i + 1
    nfiles = first_src > 0 ? ARGC - first_src : 0
    ldesc[0] = "leaf"; ldesc[1] = "loop"; ldesc[2] = "mechanism"; ldesc[3] = "services"
    ldesc[4] = "engines"; ldesc[5] = "policy"; ldesc[6] = "processes"; ldesc[7] = "main"
    cdesc[1] = "client"; cdesc[2] = "client main"
}
phase == "table" && NF >= 3 {
    mods[$1] = 1
    layer[$1] = $2 + 0
    side[$1] = $3
    for (i = 1; i <= NF; i++)
        if (i != 2 && i != 3)
            mod_of[$i] = $1
    next
}
phase == "exceptions" {
    sub(/#.*/, "")
    if (NF == 0)
        next
    if (NF != 3 || $2 != "->") {
        err(FILENAME ":" FNR, "not `FILE -> INCLUDE`: " $0)
        next
    }
    exc[$1 " -> " $3] = FNR
    exc_order[++nexc] = $1 " -> " $3
    next
}
phase == "src" && /^[ \t]*#[ \t]*include[ \t]*"/ {
    inc = $0
    sub(/^[^"]*"/, "", inc)
    sub(/".*/, "", inc)
    n++
    e_file[n] = FILENAME
    e_line[n] = FNR
    e_inc[n] = inc
}
END {
    for (i = first_src; i > 0 && i < ARGC; i++)
        if (!(stem(ARGV[i]) in mod_of))
            err(ARGV[i], "not in the layer table of tools/check-layers.sh: place its module in a layer")
    for (i = 1; i <= n; i++) {
        a = mod_of[stem(e_file[i])]
        b = mod_of[stem(e_inc[i])]
        if (a == "")
            continue # reported above
        if (b == "") {
            violation(i, "includes a header that is in no layer")
            continue
        }
        if (a == b)
            continue
        if (side[b] != "any" && side[b] != side[a])
            violation(i, lname(a) " includes " lname(b) ", of the other program")
        else if (layer[b] > layer[a])
            violation(i, lname(a) " includes " lname(b) ", a layer up")
        else if (layer[b] == layer[a] && side[b] == side[a]) {
            adj[a, b] = 1
            same[i] = 1
        }
    }
    for (i = 1; i <= n; i++) {
        if (!(i in same))
            continue
        a = mod_of[stem(e_file[i])]
        p = path(mod_of[stem(e_inc[i])], a)
        if (p != "")
            violation(i, "closes a cycle in " lname(a) ": " a " -> " p)
    }
    for (i = 1; i <= nexc; i++)
        if (!(exc_order[i] in used) && !(exc_order[i] in stale)) {
            stale[exc_order[i]] = 1
            err(exceptions ":" exc[exc_order[i]], "stale exception: " exc_order[i] " no longer occurs; remove it")
        }
    if (errors > 0)
        exit 1
    printf "check-layers: %d files, %d includes: no violations", nfiles, n
    if (excepted > 0)
        printf " (%d excepted in %s)", excepted, exceptions
    printf "\n"
}
' phase=table "$table" phase=exceptions "$exceptions" phase=src "$@"
