#!/usr/bin/env bash
# bench/run.sh: `make bench`.  usherd against a hand-written C reference
# (bench/ref_echo.c) and the classic super-servers, on loopback, with
# `usher bench` as the client; writes docs/benchmarks.md.
#
# Every figure is the median of BENCH_RUNS short runs (with min and max),
# taken in rounds: each round starts every target in turn, alone, on its
# own port, with a private config, checks it with two echo round trips,
# runs every workload once, and stops it.  A slow minute of a shared
# machine then falls on every target alike instead of on one target's
# figures.  Every process
# started here is killed by pid on the way out (trap EXIT) and the script
# checks that none is left.  The peers come from Debian: xinetd,
# openbsd-inetd and rlinetd conflict as installed packages, so they are
# fetched with `apt-get download` and unpacked with `dpkg -x` into
# build/bench/root, and run from there; ucspi-tcp and socat are installed.
# Needs root (apt-get, port 7 for openbsd-inetd's internal echo).
#
# Environment (all optional):
#   BENCH_RUNS     runs per figure, one per round (5)
#   BENCH_SECONDS  length of one run in seconds (1)
#   BENCH_ONLY     target names to run, space-separated (default: all)
#   BENCH_OUT      the report (docs/benchmarks.md)
#   CC, CFLAGS     to build the reference and the hold tool (make passes its own)
set -eu -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build/bench
USHER=$ROOT/build/usher
USHERD=$ROOT/build/usherd
RUNS=${BENCH_RUNS:-5}
SECS=${BENCH_SECONDS:-1}
ONLY=${BENCH_ONLY:-}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
CC=${CC:-cc}
CFLAGS=${CFLAGS:--O2 -g -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes}

PEER_ROOT=$B/root   # the dpkg -x'd peers
RESULTS=$B/results.tsv # workload target value p50 p99 errors, one line per run
SKIPS=$B/skips.tsv     # workload target reason
PROBLEMS=$B/problems.txt
SERVERS=$B/servers.md # each target's command line and config, for the report
PIDS=$B/pids          # "pid starttime" of every process started here
NEXT_PORT=24100

# The targets, in report order: name, kind (usher, ref or peer), description.
TARGETS="usherd-event usherd-workers2 usherd-fork usherd-prefork2 usherd-exec-cat ref
xinetd-echo xinetd-cat inetd-echo inetd-cat rlinetd-echo rlinetd-cat tcpserver-cat
socat-echo socat-cat"
declare -A KIND DESC
KIND=([usherd-event]=usher [usherd-workers2]=usher [usherd-fork]=usher [usherd-prefork2]=usher
    [usherd-exec-cat]=usher [ref]=ref [xinetd-echo]=peer [xinetd-cat]=peer [inetd-echo]=peer
    [inetd-cat]=peer [rlinetd-echo]=peer [rlinetd-cat]=peer [tcpserver-cat]=peer
    [socat-echo]=peer [socat-cat]=peer)
DESC=([usherd-event]='usherd, builtin echo, `model = event`'
    [usherd-workers2]='usherd, builtin echo, event, `workers = 2`'
    [usherd-fork]='usherd, builtin echo, `model = fork`'
    [usherd-prefork2]='usherd, builtin echo, `model = prefork:2`'
    [usherd-exec-cat]='usherd, `exec = /bin/cat`'
    [ref]='reference: bench/ref_echo.c'
    [xinetd-echo]='xinetd, internal echo'
    [xinetd-cat]='xinetd, /bin/cat'
    [inetd-echo]='openbsd-inetd, internal echo'
    [inetd-cat]='openbsd-inetd, /bin/cat'
    [rlinetd-echo]='rlinetd, internal echo (`loopback`)'
    [rlinetd-cat]='rlinetd, /bin/cat'
    [tcpserver-cat]='tcpserver (ucspi-tcp), /bin/cat'
    [socat-echo]='socat, `PIPE` (its echo)'
    [socat-cat]='socat, `EXEC:/bin/cat`')

# The workloads: name, then the usher bench arguments before the address.
WORKLOADS="connect1 connect16 pingpong1 pingpong64 bulk udp1 udp32 hold1000 hold10000"
declare -A WL_ARGS WL_TITLE
WL_ARGS=([connect1]="connect -c 1 -s 64 --reset" [connect16]="connect -c 16 -s 64 --reset"
    [pingpong1]="pingpong -c 1 -s 64" [pingpong64]="pingpong -c 64 -s 64" [bulk]="bulk -c 1"
    [udp1]="udp -c 1 -s 64" [udp32]="udp -c 32 -s 64")
WL_TITLE=([connect1]='connect, 1 client (connections/s)'
    [connect16]='connect, 16 clients (connections/s)'
    [pingpong1]='pingpong 64 B, 1 connection (round trips/s)'
    [pingpong64]='pingpong 64 B, 64 connections (round trips/s)'
    [bulk]='bulk, 1 connection (MB/s echoed back)'
    [udp1]='udp echo 64 B, 1 outstanding (round trips/s)'
    [udp32]='udp echo 64 B, 32 outstanding (round trips/s)'
    [hold1000]='memory, 1,000 idle connections (bytes per connection, lower is better)'
    [hold10000]='memory, 10,000 idle connections (bytes per connection, lower is better)')
TCP_OPTS="-w 2"     # a transaction stuck for 2 s is an error (and ends the run in time)
UDP_OPTS="-w 500ms" # a lost datagram is resent after 500 ms

say() { printf 'bench: %s\n' "$*"; }
problem() {
    say "problem: $*"
    printf -- '- %s\n' "$*" >>"$PROBLEMS"
}

# --- Processes ---------------------------------------------------------------

# The start time of a process (clock ticks after boot), which with its pid
# names it for good: a pid alone may be reused by someone else's process.
starttime() {
    local s
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
    s=${s##*) }
    set -- $s
    echo "${20}"
}

track() {
    local st
    st=$(starttime "$1") && echo "$1 $st" >>"$PIDS"
    return 0
}

# The state letter of a process (R, S, Z, ...), or nothing if it is gone.
pstate() {
    local s
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 0
    s=${s##*) }
    echo "${s%% *}"
}

# Is PID (started at ST) still running, and not a zombie?
alive() {
    local s want=$2
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
    s=${s##*) }
    set -- $s
    [ "$1" != Z ] && [ "${20}" = "$want" ]
}

# The descendants of a process, children first.
descendants() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { kids[$2] = kids[$2] " " $1 }
        END { n = split(kids[root], q, " "); for (i = 1; i <= n; i++) {
                  print q[i]; m = split(kids[q[i]], more, " ");
                  for (j = 1; j <= m; j++) q[++n] = more[j] } }'
}

# Signal every tracked process still running; pids are checked with their start time.
signal_tracked() {
    local pid st
    [ -f "$PIDS" ] || return 0
    while read -r pid st; do
        if alive "$pid" "$st"; then kill "-$1" "$pid" 2>/dev/null || true; fi
    done <"$PIDS"
}

# Collect the exit status of our children that have ended (never blocks);
# one killed by a signal we did not send (a crash on the way out) is a
# problem, said once (the shell gives a child's status to every wait).
declare -A REAPED
reap_tracked() {
    local pid st state status
    while read -r pid st; do
        [ -z "${REAPED[$pid $st]:-}" ] || continue
        state=$(pstate "$pid")
        [ -z "$state" ] || [ "$state" = Z ] || continue
        REAPED[$pid $st]=1
        status=0
        wait "$pid" 2>/dev/null || status=$?
        case $status in 0 | 127 | 130 | 137 | 143) ;; *)
            [ "$status" -le 128 ] ||
                problem "${T:-a server}, run ${ROUND:-?}: pid $pid ended with SIG$(kill -l $((status - 128))) when stopped" ;;
        esac
    done <"$PIDS"
}

tracked_alive() {
    local pid st
    [ -f "$PIDS" ] || return 0
    while read -r pid st; do
        if alive "$pid" "$st"; then echo "$pid"; fi
    done <"$PIDS"
}

# Wait up to $1 tenths of a second for every tracked process to be gone.
wait_tracked() {
    local i
    for ((i = 0; i < $1; i++)); do
        [ -z "$(tracked_alive)" ] && return 0
        sleep 0.1
    done
    return 1
}

# Start a server in the background: launch NAME COMMAND...; its output goes to NAME.log.
SRV_PIDS=""
RESTART=no
launch() {
    local log=$B/$1.log
    shift
    "$@" >>"$log" 2>&1 &
    track $!
    SRV_PIDS="$SRV_PIDS $!"
    [ "$RESTART" = no ] || return 0
    printf '    %s\n' "${*//$ROOT\//}" >>"$SERVERS"
    if [ -f "$B/config.md" ]; then
        cat "$B/config.md" >>"$SERVERS"
        rm -f "$B/config.md"
    fi
}

# Stop the current target: SIGTERM to its servers and everything they started, then SIGKILL.
stop_servers() {
    local pid d
    for pid in $SRV_PIDS; do
        for d in $(descendants "$pid"); do track "$d"; done
    done
    signal_tracked TERM
    if ! wait_tracked 30; then
        signal_tracked KILL
        wait_tracked 20 || true
    fi
    reap_tracked
    SRV_PIDS=""
}

# At exit, whatever happened: nothing of ours stays running.
cleanup() {
    local rc=$? left
    trap - EXIT INT TERM HUP
    [ -d "$B" ] || exit $rc
    stop_servers
    signal_tracked KILL
    wait_tracked 30 || true
    reap_tracked
    left=$(tracked_alive)
    if [ -n "$left" ]; then
        say "error: processes left behind:" $left
        exit 1
    fi
    say "no process left behind ($(wc -l <"$PIDS") started and stopped)"
    exit $rc
}

# --- Setup -------------------------------------------------------------------

build() {
    say "building usherd, usher, the reference and hold"
    make -C "$ROOT" -s SANITIZE= all
    # shellcheck disable=SC2086 # CFLAGS is a list of flags
    $CC $CFLAGS -D_GNU_SOURCE -o "$B/ref_echo" "$ROOT/bench/ref_echo.c"
    # shellcheck disable=SC2086
    $CC $CFLAGS -D_GNU_SOURCE -o "$B/hold" "$ROOT/bench/hold.c" -lssl -lcrypto
}

APT_UPDATED=no
apt() {
    if ! DEBIAN_FRONTEND=noninteractive apt-get -qq "$@" >>"$B/apt.log" 2>&1; then
        [ $APT_UPDATED = yes ] && return 1
        APT_UPDATED=yes
        apt-get -qq update >>"$B/apt.log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get -qq "$@" >>"$B/apt.log" 2>&1
    fi
}

# The three inetds conflict with each other as installed packages: unpack them privately.
unpack_peer() {
    local pkg=$1 deb
    deb=$(ls "$B/debs/${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        (cd "$B/debs" && apt download "$pkg") || { problem "$pkg: apt-get download failed (see build/bench/apt.log)"; return 0; }
        deb=$(ls "$B/debs/${pkg}"_*.deb | head -n 1)
    fi
    dpkg -x "$deb" "$PEER_ROOT"
    echo "$deb" >>"$B/debs/unpacked"
}

# Libraries the unpacked binaries lack: the lib* packages among their dependencies.
peer_libraries() {
    local missing=no bin pkgs
    for bin in "$PEER_ROOT"/usr/sbin/xinetd "$PEER_ROOT"/usr/sbin/inetd "$PEER_ROOT"/usr/sbin/rlinetd; do
        if [ -x "$bin" ] && ldd "$bin" | grep 'not found' >/dev/null; then missing=yes; fi
    done
    [ $missing = yes ] || return 0
    pkgs=$(for deb in $(cat "$B/debs/unpacked"); do dpkg-deb -f "$deb" Depends; done |
        tr ',|' '\n\n' | sed 's/(.*)//; s/:any//; s/ //g' | sort -u | grep '^lib' || true)
    say "installing the peers' libraries:" $pkgs
    # shellcheck disable=SC2086
    apt install -y --no-install-recommends $pkgs || problem "installing $pkgs failed"
}

install_peers() {
    say "installing the peers"
    command -v socat >/dev/null || apt install -y socat || problem "socat: apt-get install failed"
    command -v tcpserver >/dev/null || apt install -y ucspi-tcp || problem "ucspi-tcp: apt-get install failed"
    mkdir -p "$B/debs" "$PEER_ROOT"
    : >"$B/debs/unpacked"
    unpack_peer xinetd
    unpack_peer openbsd-inetd
    unpack_peer rlinetd
    peer_libraries
}

port_free() {
    [ -z "$(ss -Htuln "sport = :$1" 2>/dev/null)" ]
}

next_port() {
    while ! port_free $NEXT_PORT; do NEXT_PORT=$((NEXT_PORT + 1)); done
    PORT=$NEXT_PORT
    NEXT_PORT=$((NEXT_PORT + 1))
}

# --- Targets -----------------------------------------------------------------
# Each start_NAME starts one server on 127.0.0.1:$PORT (TCP, and UDP when it
# has a UDP echo), through launch, writes its config into build/bench/NAME.*
# (shown in the report) and marks with `skip` the workloads that do not apply.

skip() {
    [ "$RESTART" = yes ] || printf '%s\t%s\t%s\n' "$1" "$T" "$2" >>"$SKIPS"
}

# Show a config file in the report, after the command line that uses it.
show_config() {
    [ "$RESTART" = no ] || return 0
    { printf '\n    # %s\n' "${1#"$ROOT"/}"; sed 's/^/    /' "$1"; } >>"$B/config.md"
}

usherd_target() {
    local model_lines=$1 global_lines=$2
    cat >"$B/$T.conf" <<EOF
[global]
max_conns = 0
shutdown_timeout = 1s
$global_lines
[echo]
listen = tcp://127.0.0.1:$PORT udp://127.0.0.1:$PORT
builtin = echo
$model_lines
EOF
    show_config "$B/$T.conf"
    launch "$T" "$USHERD" -q -f "$B/$T.conf"
    UDP=yes
}

start_usherd_event() { usherd_target "model = event" ""; }
start_usherd_workers2() { usherd_target "model = event" "workers = 2"; }
start_usherd_fork() {
    usherd_target "model = fork" ""
    skip hold10000 "fork per connection: 10,000 connections would be 10,000 processes (see the notes)"
}
start_usherd_prefork2() {
    usherd_target "model = prefork:2" ""
    skip pingpong64 "a prefork process serves one connection at a time: 62 of the 64 would wait in the listen queue"
    skip hold "a prefork process serves one connection at a time: prefork:2 holds 2"
}
start_usherd_exec_cat() {
    cat >"$B/$T.conf" <<EOF
[global]
max_conns = 0
shutdown_timeout = 1s

[cat]
listen = tcp://127.0.0.1:$PORT
exec = /bin/cat
EOF
    show_config "$B/$T.conf"
    launch "$T" "$USHERD" -q -f "$B/$T.conf"
    fork_peer
}

start_ref() {
    launch "$T" "$B/ref_echo" "$PORT"
    UDP=yes
}

# What every fork-per-connection server without UDP echo skips.
fork_peer() {
    skip udp "no UDP echo"
    skip hold10000 "fork per connection: 10,000 connections would be 10,000 processes (see the notes)"
}

# xinetd: rate limits lifted (cps, instances, per_source), no per-connection logging.
xinetd_target() {
    show_config "$B/$T.conf"
    launch "$T" "$PEER_ROOT/usr/sbin/xinetd" -dontfork -f "$B/$T.conf" -filelog "$B/$T.xlog"
}

xinetd_defaults() {
    cat <<EOF
defaults
{
	instances      = UNLIMITED
	per_source     = UNLIMITED
	cps            = 1000000 1
	log_on_success =
	log_on_failure =
}
EOF
}

start_xinetd_echo() {
    need "$PEER_ROOT/usr/sbin/xinetd" || return 0
    { xinetd_defaults; for p in stream:tcp:no dgram:udp:yes; do
        IFS=: read -r type proto wait <<<"$p"
        cat <<EOF
service echo
{
	type        = INTERNAL UNLISTED
	id          = echo-$type
	socket_type = $type
	protocol    = $proto
	wait        = $wait
	user        = root
	bind        = 127.0.0.1
	port        = $PORT
}
EOF
    done; } >"$B/$T.conf"
    xinetd_target
    UDP=yes
    skip hold10000 "xinetd forks a process per connection, even for its internal echo (see the notes)"
}

start_xinetd_cat() {
    need "$PEER_ROOT/usr/sbin/xinetd" || return 0
    { xinetd_defaults; cat <<EOF
service cat
{
	type        = UNLISTED
	socket_type = stream
	protocol    = tcp
	wait        = no
	user        = root
	bind        = 127.0.0.1
	port        = $PORT
	server      = /bin/cat
}
EOF
    } >"$B/$T.conf"
    xinetd_target
    fork_peer
}

# openbsd-inetd: -i stays in the foreground, -R lifts the rate limit (256 a minute by default).
inetd_target() {
    show_config "$B/$T.conf"
    launch "$T" "$PEER_ROOT/usr/sbin/inetd" -i -q 511 -R 100000000 "$B/$T.conf"
}

start_inetd_echo() {
    need "$PEER_ROOT/usr/sbin/inetd" || return 0
    # An internal service must be named by its /etc/services name: port 7.
    PORT=7
    if ! port_free 7; then
        problem "inetd-echo: port 7 is in use: openbsd-inetd's internal echo not measured"
        return 0
    fi
    cat >"$B/$T.conf" <<EOF
127.0.0.1:echo	stream	tcp	nowait	root	internal
127.0.0.1:echo	dgram	udp	wait	root	internal
EOF
    inetd_target
    UDP=yes
    UDP_WHY="openbsd-inetd ignores UDP from loopback by design"
    skip hold10000 "openbsd-inetd forks a process per connection, even for its internal echo (see the notes)"
}

start_inetd_cat() {
    need "$PEER_ROOT/usr/sbin/inetd" || return 0
    cat >"$B/$T.conf" <<EOF
127.0.0.1:$PORT	stream	tcp	nowait	root	/bin/cat	cat
EOF
    inetd_target
    fork_peer
}

# rlinetd: instances lifted (40 by default), backlog 511 (5 by default), -d keeps it in the foreground.
rlinetd_target() {
    local parser
    parser=$(ls "$PEER_ROOT"/usr/lib/*/rlinetd/libparse.so | head -n 1)
    show_config "$B/$T.conf"
    launch "$T" "$PEER_ROOT/usr/sbin/rlinetd" -d -f "$B/$T.conf" -p "$parser"
}

rlinetd_defaults() {
    cat <<EOF
defaults {
  instances 1000000;
  backlog 511;
  interface 127.0.0.1;
  user "root";
}
EOF
}

start_rlinetd_echo() {
    need "$PEER_ROOT/usr/sbin/rlinetd" || return 0
    { rlinetd_defaults; cat <<EOF
service "echo-tcp" {
  port $PORT;
  protocol tcp;
  loopback;
}
service "echo-udp" {
  port $PORT;
  protocol udp;
  loopback;
}
EOF
    } >"$B/$T.conf"
    rlinetd_target
    UDP=yes
    skip hold10000 "rlinetd waits with select(), which cannot watch more than 1,024 descriptors"
}

start_rlinetd_cat() {
    need "$PEER_ROOT/usr/sbin/rlinetd" || return 0
    { rlinetd_defaults; cat <<EOF
service "cat" {
  port $PORT;
  protocol tcp;
  exec "/bin/cat";
}
EOF
    } >"$B/$T.conf"
    rlinetd_target
    fork_peer
}

# tcpserver: -c lifts the 40-connection limit; -H -R -l 0: no DNS or ident lookups.
start_tcpserver_cat() {
    need "$(command -v tcpserver || echo tcpserver)" || return 0
    launch "$T" tcpserver -c 100000 -b 511 -H -R -l 0 127.0.0.1 "$PORT" /bin/cat
    fork_peer
}

start_socat_echo() {
    need "$(command -v socat || echo socat)" || return 0
    launch "$T" socat "TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr,backlog=511" PIPE
    launch "$T-udp" socat "UDP-RECVFROM:$PORT,bind=127.0.0.1,fork" PIPE
    UDP=yes
    skip hold10000 "socat forks a process per connection (see the notes)"
}

start_socat_cat() {
    need "$(command -v socat || echo socat)" || return 0
    launch "$T" socat "TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr,backlog=511" EXEC:/bin/cat
    fork_peer
}

need() {
    [ -x "$1" ] && return 0
    problem "$T: $1 is not installed: not measured"
    NOT_STARTED=yes
    return 1
}

# Wait (bounded) until the server accepts connections.
wait_ready() {
    local i
    for ((i = 0; i < 50; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Two echo round trips over TCP (and one over UDP): is the target sane?
sanity() {
    local i got
    wait_ready || { died "does not accept connections"; return 1; }
    for i in 1 2; do
        got=$(printf 'ping %s\n' "$i" | "$USHER" -w 2 "tcp://127.0.0.1:$PORT" 2>&1 || true)
        [ "$got" = "ping $i" ] || { died "echo round trip $i failed (${got:-no reply})"; return 1; }
    done
    sleep 0.2
    servers_alive || { died "died during the echo check"; return 1; }
    if [ "$UDP" = yes ]; then
        got=$(printf 'ping\n' | "$USHER" -w 1 "udp://127.0.0.1:$PORT" 2>&1 || true)
        if [ "$got" != ping ]; then
            skip udp "no reply to a UDP echo${UDP_WHY:+: $UDP_WHY}"
            UDP=no
        fi
    else
        skip udp "no UDP echo"
    fi
}

servers_alive() {
    local pid
    for pid in $SRV_PIDS; do
        case $(pstate "$pid") in "" | Z) return 1 ;; esac
    done
}

# The target stopped working: say how (its exit status, the end of its log).
died() {
    local pid status why=$1 how="" state
    for pid in $SRV_PIDS; do
        state=$(pstate "$pid")
        [ -z "$state" ] || [ "$state" = Z ] || continue
        status=0
        wait "$pid" 2>/dev/null || status=$?
        if [ "$status" -gt 128 ]; then
            how=" (it was killed by SIG$(kill -l $((status - 128))))"
        elif [ "$status" -ne 127 ]; then how=" (it exited with status $status)"; fi
        break
    done
    problem "$T: $why$how: not measured further. Its log ends: '$(tail -n 2 "$B/$T.log" 2>/dev/null | tr -s '\n' ' ' | sed 's/ *$//')'"
    BROKEN="$why$how"
}

# --- Workloads ---------------------------------------------------------------

skipped() {
    awk -F'\t' -v w="$1" -v t="$T" '$2 == t && index(w, $1) == 1 { print $3; exit }' "$SKIPS"
}

record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

json_num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$2"; }

# One usher bench workload, once (run $ROUND).
bench_workload() {
    local wl=$1 addr opts field=rate json=$B/run.json value kinds
    case $wl in
    udp*) addr=udp://127.0.0.1:$PORT opts=$UDP_OPTS ;;
    *) addr=tcp://127.0.0.1:$PORT opts=$TCP_OPTS ;;
    esac
    [ "$wl" = bulk ] && field=mb_per_s
    # shellcheck disable=SC2086 # the arguments are lists of words
    "$USHER" bench --json -d "$SECS" $opts ${WL_ARGS[$wl]} "$addr" >"$json" 2>>"$B/bench.err" || true
    value=$(json_num "$field" "$json")
    if [ -z "$value" ]; then
        problem "$T, $wl, run $ROUND: usher bench gave no result: $(tail -n 1 "$B/bench.err")"
        return 0
    fi
    record "$wl" "$T" "$value" "$(json_num p50 "$json")" "$(json_num p99 "$json")" "$(json_num total "$json")"
    kinds=$(error_kinds "$json")
    [ -z "$kinds" ] || problem "$T, $wl, run $ROUND: usher bench counted errors:$kinds"
}

# The error kinds of one usher bench run that are not zero: " reset 3 short 1".
error_kinds() {
    sed -n 's/.*"errors":{\(.*\),"total".*/\1/p' "$1" | tr ',' '\n' | tr -d '"' |
        awk -F: '$2 > 0 { printf " %s %s", $1, $2 }'
}

# The sum of the PSS (kB) of the server's processes: itself and all it started.
pss_kb() {
    local pid files=""
    for pid in $SRV_PIDS; do
        files="$files /proc/$pid/smaps_rollup"
        for d in $(descendants "$pid"); do files="$files /proc/$d/smaps_rollup"; done
    done
    # shellcheck disable=SC2086
    # A process may end between the listing and the reading: not an error.
    { cat $files 2>/dev/null || true; } | awk '/^Pss:/ { s += $2 } END { print s + 0 }'
}

# Start the target afresh for one memory run (nothing new in the report),
# and serve one echo, so that what is set up once is in the baseline.
restart() {
    local was=$RESTART
    RESTART=yes
    "start_${T//-/_}"
    RESTART=$was
    wait_ready || return 1
    [ "$(printf 'x\n' | "$USHER" -w 2 "tcp://127.0.0.1:$PORT" 2>&1)" = x ] || return 1
    sleep 0.3 # a fork server's child for that echo exits
}

# Memory: PSS with N idle connections minus PSS with none, per connection,
# once (run $ROUND), on a freshly started server (memory a server keeps
# after its connections close would make the later runs look free).
hold_workload() {
    local wl=$1 n=${1#hold} before after hold_pid open
    if ! restart; then
        stop_servers
        problem "$T, $wl: did not start again for run $ROUND"
        return 0
    fi
    before=$(pss_kb)
    # Not a stale file from the last run: the child truncates it only after the fork.
    rm -f "$B/hold.out"
    "$B/hold" 127.0.0.1 "$PORT" "$n" >"$B/hold.out" 2>"$B/hold.err" &
    hold_pid=$!
    track $hold_pid
    if ! hold_ready $hold_pid; then
        kill $hold_pid 2>/dev/null || true
        wait $hold_pid 2>/dev/null || true
        stop_servers
        problem "$T, $wl, run $ROUND: $(cat "$B/hold.err")"
        return 0
    fi
    sleep 0.3 # let fork servers' children settle after their first echo
    after=$(pss_kb)
    open=$(still_open $hold_pid)
    kill $hold_pid
    wait $hold_pid 2>/dev/null || true
    stop_servers
    record "$wl" "$T" $(((after - before) * 1024 / n)) 0 0 $((n - open))
    [ "$open" -eq "$n" ] ||
        problem "$T, $wl, run $ROUND: the server closed $((n - open)) idle connections during the measurement, so the figure is too low"
}

# Wait (at most 2 minutes) until hold says ready; false if it failed or took too long.
hold_ready() {
    local i
    for ((i = 0; i < 1200; i++)); do
        grep -q '^ready' "$B/hold.out" 2>/dev/null && return 0
        case $(pstate "$1") in "" | Z) return 1 ;; esac
        sleep 0.1
    done
    echo "hold: not ready after 2 minutes" >>"$B/hold.err"
    return 1
}

# How many of its connections hold still has open (it answers SIGUSR1).
still_open() {
    local i
    kill -USR1 "$1"
    for ((i = 0; i < 50; i++)); do
        if grep -q '^open' "$B/hold.out"; then
            sed -n 's/^open \([0-9-]*\) of .*/\1/p' "$B/hold.out"
            return 0
        fi
        sleep 0.1
    done
    echo 0
}

run_workload() {
    local wl=$1 why
    why=$(skipped "$wl")
    if [ -n "$BROKEN" ]; then why="not run: $BROKEN"; fi
    if [ -n "$why" ]; then
        [ -z "$BROKEN" ] || skip "$wl" "$why"
        return 0
    fi
    case $wl in
    hold*) hold_workload "$wl" ;;
    *) bench_workload "$wl" ;;
    esac
    servers_alive || died "died during $wl"
    say "$(printf '%-16s %-10s' "$T" "$wl") $(summary "$wl" "$T" | cut -f1-3 | tr '\t' ' ') (median min max)"
}

# Round ROUND of target T: every workload once.  The first round also
# picks the target's port and records its command line, its config and the
# workloads it skips; a target that broke is not started again.
declare -A PORT_OF OUT_OF
run_target() {
    T=$1 ROUND=$2
    BROKEN="" UDP=no UDP_WHY="" NOT_STARTED=no
    [ -z "${OUT_OF[$T]:-}" ] || return 0
    if [ "$ROUND" = 1 ]; then
        next_port
        PORT_OF[$T]=$PORT
        printf '\n**%s** (%s)\n\n' "$T" "${DESC[$T]}" >>"$SERVERS"
        RESTART=no
    else
        PORT=${PORT_OF[$T]}
        RESTART=yes
    fi
    say "target $T, round $ROUND of $RUNS"
    "start_${T//-/_}"
    if [ $NOT_STARTED = yes ]; then
        for wl in $WORKLOADS; do skip "$wl" "not installed"; done
        OUT_OF[$T]="not installed"
        return 0
    fi
    if [ -z "$SRV_PIDS" ]; then
        for wl in $WORKLOADS; do skip "$wl" "not started"; done
        OUT_OF[$T]="not started"
        return 0
    fi
    sanity || true
    for wl in $WORKLOADS; do
        case $wl in hold*) ;; *) run_workload "$wl" ;; esac
    done
    stop_servers
    # The memory runs start the target afresh.
    for wl in $WORKLOADS; do
        case $wl in hold*) run_workload "$wl" ;; esac
    done
    [ -z "$BROKEN" ] || OUT_OF[$T]=$BROKEN
    RESTART=no
}

# After the last round: the server's log, and the workloads no run measured.
finish_target() {
    T=$1 RESTART=no
    for wl in $WORKLOADS; do
        [ -n "$(summary "$wl" "$T")" ] || [ -n "$(skipped "$wl")" ] ||
            skip "$wl" "no run gave a result (see the problems)"
    done
    check_log
}

# A server's log may say what went wrong even when the client saw nothing.
# (A reset or broken pipe is the client's doing: connect closes by reset.)
check_log() {
    local log=$B/$T.log lines
    [ -s "$log" ] || return 0
    lines=$(grep -i -e 'stderr:' -e 'warning' -e 'error' -e 'fatal' "$log" |
        grep -v -e 'Connection reset by peer' -e 'Broken pipe' || true)
    [ -z "$lines" ] ||
        problem "$T: $(wc -l <<<"$lines") warning or error lines in its log, e.g. '$(head -n 1 <<<"$lines")'"
}

# --- Results -----------------------------------------------------------------

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# "median min max p50 p99 errors runs" (tab-separated) of one workload and target, or nothing.
summary() {
    local rows
    rows=$(awk -F'\t' -v w="$1" -v t="$2" '$1 == w && $2 == t' "$RESULTS")
    [ -n "$rows" ] || return 0
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(cut -f3 <<<"$rows" | median)" \
        "$(cut -f3 <<<"$rows" | sort -g | head -n 1)" "$(cut -f3 <<<"$rows" | sort -g | tail -n 1)" \
        "$(cut -f4 <<<"$rows" | median)" "$(cut -f5 <<<"$rows" | median)" \
        "$(cut -f6 <<<"$rows" | awk '{ s += $1 } END { print s + 0 }')" "$(wc -l <<<"$rows")"
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a >= 0) printf "%.2f", a / b; else printf "—" }'
}

# "median name" of the best peer: the highest rate, or the least memory.
best_peer() {
    local wl=$1 t s best="" name=""
    for t in $TARGETS; do
        [ "${KIND[$t]}" = peer ] || continue
        s=$(summary "$wl" "$t" | cut -f1)
        [ -n "$s" ] || continue
        if [ -z "$best" ] || awk -v s="$s" -v b="$best" -v m="$wl" \
            'BEGIN { exit !(m ~ /^hold/ ? s < b : s > b) }'; then
            best=$s name=$t
        fi
    done
    echo "$best $name"
}

client_line() {
    local wl=$1
    case $wl in
    hold*) echo "build/bench/hold 127.0.0.1 PORT ${wl#hold}" ;;
    udp*) echo "build/usher bench --json -d $SECS $UDP_OPTS ${WL_ARGS[$wl]} udp://127.0.0.1:PORT" ;;
    *) echo "build/usher bench --json -d $SECS $TCP_OPTS ${WL_ARGS[$wl]} tcp://127.0.0.1:PORT" ;;
    esac
}

table() {
    local wl=$1 t s med min max p50 p99 err n ref bp bpname lat=yes notes="" why
    case $wl in bulk | hold*) lat=no ;; esac
    ref=$(summary "$wl" ref | cut -f1)
    read -r bp bpname <<<"$(best_peer "$wl")"
    printf '\n### %s\n\n`%s`; best peer: %s.\n\n' "${WL_TITLE[$wl]}" "$(client_line "$wl")" \
        "${bpname:-none measured}"
    if [ $lat = yes ]; then
        printf '| target | median | min | max | × reference | × best peer | p50 µs | p99 µs | errors |\n'
        printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
    else
        printf '| target | median | min | max | × reference | × best peer | errors |\n'
        printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
    fi
    for t in $TARGETS; do
        selected "$t" || continue
        s=$(summary "$wl" "$t")
        if [ -z "$s" ]; then
            why=$(awk -F'\t' -v w="$wl" -v t="$t" '$2 == t && index(w, $1) == 1 { print $3; exit }' "$SKIPS")
            notes="$notes- $t: ${why:-not measured}"$'\n'
            continue
        fi
        IFS=$'\t' read -r med min max p50 p99 err n <<<"$s"
        [ "$err" -eq 0 ] || notes="$notes- $t: $err errors in $n runs (see the problems below)"$'\n'
        printf '| %s | %.0f | %.0f | %.0f | %s | %s |' "$t" "$med" "$min" "$max" \
            "$(ratio "$med" "$ref")" "$(ratio "$med" "$bp")"
        [ $lat = no ] || printf ' %.0f | %.0f |' "$p50" "$p99"
        printf ' %s |\n' "$err"
    done
    [ -z "$notes" ] || printf '\nNot in the table, or with errors:\n\n%s' "$notes"
}

machine() {
    local mem peers
    mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    peers=$(for deb in $(cat "$B/debs/unpacked" 2>/dev/null); do
        dpkg-deb -W --showformat '${Package}_${Version} ' "$deb"
    done)
    peers="$peers$(dpkg-query -W -f '${Package}_${Version} ' ucspi-tcp socat 2>/dev/null || true)"
    echo '| | |'
    echo '| --- | --- |'
    echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
    echo "| cores (nproc) | $(nproc) |"
    echo "| CPU | $(grep -m 1 '^model name' /proc/cpuinfo | sed 's/.*: //') |"
    echo "| memory | $mem |"
    echo "| kernel | $(uname -r) |"
    echo "| usherd | $("$USHERD" -V 2>&1 | head -n 1), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' with local changes in src/') |"
    echo "| peers | $peers|"
    echo "| runs | $RUNS per figure, $SECS s each, in $RUNS rounds over all targets |"
    echo "| kernel settings | ip_local_port_range $(tr '\t' ' ' </proc/sys/net/ipv4/ip_local_port_range), tcp_tw_reuse $(cat /proc/sys/net/ipv4/tcp_tw_reuse), somaxconn $(cat /proc/sys/net/core/somaxconn), pid_max $(cat /proc/sys/kernel/pid_max), RLIMIT_NOFILE $(ulimit -Hn) |"
}

notes() {
    cat <<'NOTES'
- **Reading the tables.** Each figure is the median of the runs, with the
  lowest and highest run. The runs are taken in rounds: each round starts,
  measures and stops every target in turn, so each target's runs are spread
  over the whole bench and a slow spell of the machine touches all alike. "× reference" is the median over the reference's
  median, "× best peer" over the median of the best peer in the same table
  (highest rate; least memory for the memory tables, where a ratio above 1
  means more memory). p50 and p99 are the medians over the runs of each
  run's latency percentiles. Errors are added up over the runs: for UDP they
  are lost datagrams (no reply within 500 ms, then resent).
- **connect uses `--reset` for every target** (SO_LINGER 0: the client
  closes by reset). With a plain close each connection leaves the client's
  port in TIME_WAIT, and with one client address that caps connects near
  14,000/s on this kernel whatever the server does; the reset keeps the
  figure about the server. It also spares the server's side its TIME_WAIT
  where the server closes first.
- **The client and the server share the two cores**: `usher bench` is one
  process and one epoll loop and takes about one core, so a server with two
  processes (`workers = 2`, `prefork:2`) competes with the client. Nothing is
  pinned; every target runs the same way. Other work on the machine during
  the run shows as spread between min and max.
- **The reference** (`bench/ref_echo.c`, built with the project's CFLAGS) is
  one process, one level-triggered epoll loop: accept4 in a loop, one read
  and one write per readable event into a fixed 64 KiB buffer, unsent bytes
  kept per connection until EPOLLOUT, recvmmsg/sendmmsg in batches of 64 for
  UDP. It has no configuration, limits, timeouts or logging.
- **prefork:2** serves one connection per process at a time, by design: with
  64 persistent connections, 62 would wait in the listen queue for the whole
  run (they complete only when the client closes the first two), so the
  64-connection pingpong and the idle-connection figures are not measured.
- **Memory** is the sum of PSS (`/proc/PID/smaps_rollup`) over the server
  and every process it started, with N idle connections (each made one echo
  round trip, so each was accepted and is served) minus the same just
  before, divided by N. Each run starts the server afresh and has it serve
  one echo before the baseline is taken: memory that a server keeps after
  connections close (malloc's free lists) would make later runs on the
  same process look free. PSS is
  user-space memory: the kernel's own per-socket memory (a few KiB per TCP
  connection, the same whatever the server) is not in it. The reference
  keeps no user-space state for an idle connection, so its figure is about
  0 and a ratio to it is shown as "—" when it is 0 or less.
- **10,000 idle connections are measured for the event-loop servers only**
  (usherd event, `workers = 2`, the reference). For a fork-per-connection
  server (usherd `model = fork` and exec, and every peer: xinetd and
  openbsd-inetd fork even for their internal echo, socat and tcpserver fork
  per connection) 10,000 connections are 10,000 processes per run, five
  runs per target: with pid_max at 32,768 on a machine others use too, and
  the 15-minute budget of `make bench`, that is not reasonable; 1,000 shows
  the cost per connection just as well.
- **openbsd-inetd** names an internal service by its /etc/services name, so
  its internal echo listens on 127.0.0.1:7. It ignores UDP datagrams from
  loopback by design (a guard against loops and spoofing), so it has no UDP
  figure. `-R 100000000` lifts its limit of 256 invocations a minute.
- **xinetd**, after answering a datagram of a `wait = yes` internal service,
  drains and discards whatever else has arrived on the socket, and consults
  libwrap for every datagram: with back-to-back requests many datagrams are
  lost, and its UDP errors count them.
- **socat**'s UDP echo is a second socat (`UDP-RECVFROM:PORT,fork PIPE`),
  which forks a process per datagram.
- **rlinetd** listens with a backlog of 5 and allows 40 instances unless
  told otherwise; both are lifted (`backlog 511`, `instances 1000000`).
  Its parser module is loaded from the unpacked tree with `-p`.
NOTES
}

write_report() {
    local wl elapsed=$(($(date +%s) - START))
    mkdir -p "$(dirname "$OUT")"
    {
        echo '# Benchmarks'
        echo
        echo 'Written by `make bench` (bench/run.sh), which builds usherd, usher and a'
        echo 'hand-written reference echo server, installs the peers (xinetd,'
        echo 'openbsd-inetd, rlinetd, tcpserver from ucspi-tcp, socat), runs every'
        echo 'workload against every target on 127.0.0.1 with `usher bench` as the'
        echo 'client, and writes this file. It is not part of `make test` or CI. This'
        echo "run took $((elapsed / 60)) min $((elapsed % 60)) s."
        printf '\n## Machine\n\n'
        machine
        printf "\n## Commands\n\nThe client, for each workload (PORT is the target's port):\n\n"
        for wl in $WORKLOADS; do printf '    %s\n' "$(client_line "$wl")"; done
        printf '\nThe servers, each started alone, with its config:\n'
        cat "$SERVERS"
        printf '\n## Results\n'
        for wl in $WORKLOADS; do table "$wl"; done
        printf '\n## Notes\n\n'
        notes
        printf '\n## Problems seen in this run\n\n'
        if [ -s "$PROBLEMS" ]; then cat "$PROBLEMS"; else echo "None."; fi
    } >"$OUT.tmp"
    mv "$OUT.tmp" "$OUT"
    say "wrote ${OUT#"$ROOT"/}"
}

selected() {
    [ -z "$ONLY" ] && return 0
    case " $ONLY " in *" $1 "*) return 0 ;; esac
    return 1
}

main() {
    if [ "$(id -u)" != 0 ]; then
        say "needs root: it installs the peers with apt-get and binds port 7 for openbsd-inetd"
        exit 2
    fi
    START=$(date +%s)
    mkdir -p "$B"
    rm -f "$RESULTS" "$SKIPS" "$PROBLEMS" "$SERVERS" "$PIDS" "$B/config.md" "$B/bench.err" "$B"/*.log
    touch "$RESULTS" "$SKIPS" "$PIDS"
    trap cleanup EXIT
    trap 'exit 130' INT TERM HUP
    build
    install_peers
    for ((round = 1; round <= RUNS; round++)); do
        for t in $TARGETS; do
            if selected "$t"; then run_target "$t" "$round"; fi
        done
    done
    for t in $TARGETS; do
        if selected "$t"; then finish_target "$t"; fi
    done
    write_report
    say "done in $(($(date +%s) - START)) s"
}

main "$@"
