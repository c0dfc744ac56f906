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
# The TLS targets (usherd's own tls:// echo, and stunnel4 and haproxy as
# TLS fronts for usherd's plain echo) have their own workloads and their
# own section of the report, between two marker lines: a run of the TLS
# targets alone (BENCH_ONLY=tls) rewrites that section and keeps the rest
# of the file, and a run without them keeps the section it finds.  Their
# certificate (ECDSA P-256, self-signed) is made at run time in build/bench.
# The forwarding targets (usherd's `forward`, haproxy `mode tcp` and socat
# as TCP relays for usherd's plain echo, that echo alone, and the cost of
# the PROXY protocol in front of it) are a third family, with their own
# workloads and section in the same way (BENCH_ONLY=forward).
# The exec targets (usherd's exec services, with `stderr = log` and
# `stderr = null`, tcpserver, the inetds and socat running /bin/true and
# /bin/cat, and bench/floor_exec.c, the least a super-server can do) are
# a fourth (BENCH_ONLY=exec): connection rates, and the daemon's own CPU
# per connection from /proc/PID/schedstat.  That family also runs
# usherd's builtin echo and the reference again, alternating in its own
# rounds, for the builtins' ratios.
#
# Environment (all optional):
#   BENCH_RUNS     runs per figure, one per round (5)
#   BENCH_SECONDS  length of one run in seconds (1)
#   BENCH_ONLY     targets to run, space-separated (default: all); a
#                  family's name (`plain`, `tls`, `forward`, `exec`) names all its
#                  targets
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
PROBLEMS=$B/problems.txt # and problems-tls.txt for the TLS targets
SERVERS=$B/servers.md   # each target's command line and config, for the report (and servers-tls.md)
PIDS=$B/pids          # "pid starttime" of every process started here
NEXT_PORT=24100
CLK_TCK=$(getconf CLK_TCK)

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

# The TLS targets, each serving echo over TLS 1.3 with the same certificate.
TLS_TARGETS="usherd-tls usherd-tls-workers2 stunnel-tls haproxy-tls"
KIND+=([usherd-tls]=usher [usherd-tls-workers2]=usher [stunnel-tls]=peer [haproxy-tls]=peer)
DESC+=([usherd-tls]='usherd, `tls://`, builtin echo, `model = event`'
    [usherd-tls-workers2]='usherd, `tls://`, builtin echo, event, `workers = 2`'
    [stunnel-tls]='stunnel4 in front of usherd'"'"'s plain echo'
    [haproxy-tls]='haproxy `mode tcp`, `nbthread 2`, in front of usherd'"'"'s plain echo')
TLS_CERT=$B/tls-cert.pem       # self-signed: the clients' CA file too
TLS_KEY=$B/tls-key.pem
TLS_CERTKEY=$B/tls-certkey.pem # both in one file, as haproxy reads them

# The forwarding targets: four relays in front of the same plain echo (on
# $BACK_PORT, started with each), that echo alone, and the PROXY pair.
FWD_TARGETS="usherd-fwd usherd-fwd-workers2 haproxy-fwd socat-fwd direct usherd-echo usherd-echo-proxy2"
KIND+=([usherd-fwd]=usher [usherd-fwd-workers2]=usher [haproxy-fwd]=peer [socat-fwd]=peer
    [direct]=ref [usherd-echo]=usher [usherd-echo-proxy2]=usher)
DESC+=([usherd-fwd]='usherd, `forward`, `model = event`, in front of usherd'"'"'s plain echo'
    [usherd-fwd-workers2]='usherd, `forward`, event, `workers = 2`, in front of usherd'"'"'s plain echo'
    [haproxy-fwd]='haproxy `mode tcp`, `nbthread 2`, in front of usherd'"'"'s plain echo'
    [socat-fwd]='socat `TCP-LISTEN,fork TCP:`, in front of usherd'"'"'s plain echo'
    [direct]='usherd'"'"'s plain echo alone, the client straight to it: the limit'
    [usherd-echo]='usherd, builtin echo, `model = event`'
    [usherd-echo-proxy2]='usherd, builtin echo, event, `proxy_protocol = v2`, driven with `--proxy v2`')
# The exec targets: each runs PROGRAM (its name's last word, true or cat)
# per connection; x-echo and x-ref are the builtin echo and the reference
# again, for the builtins' ratios in rounds of their own.
EXEC_TARGETS="x-usherd-true x-usherd-null-true x-tcpserver-true x-floor-true x-xinetd-true x-inetd-true
x-rlinetd-true x-socat-true x-usherd-cat x-usherd-null-cat x-tcpserver-cat x-floor-cat x-xinetd-cat
x-inetd-cat x-rlinetd-cat x-socat-cat x-echo x-ref"
for t in $EXEC_TARGETS; do
    case $t in
    x-echo) KIND[$t]=usher DESC[$t]='usherd, builtin echo, `model = event`' ;;
    x-ref) KIND[$t]=ref DESC[$t]='reference: bench/ref_echo.c' ;;
    x-usherd-null-*) KIND[$t]=usher DESC[$t]="usherd, \`exec = /bin/${t##*-}\`, \`stderr = null\`" ;;
    x-usherd-*) KIND[$t]=usher DESC[$t]="usherd, \`exec = /bin/${t##*-}\`, \`stderr = log\` (the default)" ;;
    x-floor-*) KIND[$t]=ref DESC[$t]="the floor: bench/floor_exec.c, /bin/${t##*-}" ;;
    *) KIND[$t]=peer t2=${t#x-} DESC[$t]="${t2%-*}, /bin/${t##*-}" ;;
    esac
done
EXEC_USHERD="x-usherd-true x-usherd-null-true x-usherd-cat x-usherd-null-cat"

# The targets that are a front: started with the echo they relay to.
FRONTS="stunnel-tls haproxy-tls usherd-fwd usherd-fwd-workers2 haproxy-fwd socat-fwd"

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

# The TLS workloads.  connect closes with close_notify, then by reset (see the notes).
TLS_WORKLOADS="tls-connect16 tls-resume16 tls-pingpong64 tls-bulk tls-hold1000"
WL_ARGS+=([tls-connect16]="connect -c 16 -s 64 --reset" [tls-resume16]="connect -c 16 -s 64 --reset --resume"
    [tls-pingpong64]="pingpong -c 64 -s 64" [tls-bulk]="bulk -c 1")
WL_TITLE+=([tls-connect16]='full TLS 1.3 handshakes, 16 clients (handshakes/s)'
    [tls-resume16]='resumed TLS 1.3 handshakes, 16 clients (handshakes/s)'
    [tls-pingpong64]='pingpong 64 B inside TLS, 64 connections (round trips/s)'
    [tls-bulk]='bulk inside TLS, 1 connection (MB/s echoed back)'
    [tls-hold1000]='memory, 1,000 idle TLS connections (bytes per connection, lower is better)')
# The forwarding workloads (fwd-, for the relays and the echo alone) and
# the PROXY pair's (pxy-).
FWD_WORKLOADS="fwd-connect16 fwd-pingpong64 fwd-bulk fwd-hold1000"
PXY_WORKLOADS="pxy-connect16 pxy-connect1"
WL_ARGS+=([fwd-connect16]="connect -c 16 -s 64 --reset" [fwd-pingpong64]="pingpong -c 64 -s 64"
    [fwd-bulk]="bulk -c 1" [pxy-connect16]="connect -c 16 -s 64 --reset"
    [pxy-connect1]="connect -c 1 -s 64 --reset")
WL_TITLE+=([fwd-connect16]='connect, relay, close, 16 clients (connections/s)'
    [fwd-pingpong64]='pingpong 64 B through the relay, 64 connections (round trips/s)'
    [fwd-bulk]='bulk through the relay, 1 connection (MB/s echoed back)'
    [fwd-hold1000]='memory, 1,000 idle relayed connections (bytes per connection, lower is better)'
    [pxy-connect16]='connect, 16 clients, with and without a PROXY v2 header (connections/s)'
    [pxy-connect1]='connect, 1 client, with and without a PROXY v2 header (connections/s)')
# The exec workloads: connects (-s 0 for /bin/true, which says nothing; 64
# bytes echoed for /bin/cat), and the same with 4 clients for the
# daemon's CPU; the builtins' again for x-echo and x-ref.
EXEC_WORKLOADS="ex-cpu4 ex-connect1 ex-connect16"
ECHO_WORKLOADS="connect1 connect16 pingpong1 pingpong64 bulk udp1 udp32"
WL_ARGS+=([ex-cpu4]="connect -c 4 --reset" [ex-connect1]="connect -c 1 --reset"
    [ex-connect16]="connect -c 16 --reset")
WL_TITLE+=([ex-cpu4]='connect, 4 clients: the daemon'"'"'s own CPU per connection (connections/s)'
    [ex-connect1]='connect, 1 client (connections/s)'
    [ex-connect16]='connect, 16 clients (connections/s)')
TCP_OPTS="-w 2"     # a transaction stuck for 2 s is an error (and ends the run in time)
UDP_OPTS="-w 500ms" # a lost datagram is resent after 500 ms

say() { printf 'bench: %s\n' "$*"; }
problem() {
    say "problem: $*"
    printf -- '- %s\n' "$*" >>"$(family_file "$PROBLEMS")"
}

# The family of a target: plain, tls or forward (each has its own section of the report).
FAMILIES="plain tls forward exec"
family() {
    case " $TLS_TARGETS " in *" $1 "*) echo tls; return 0 ;; esac
    case $1 in x-*) echo exec; return 0 ;; esac
    case " $FWD_TARGETS " in *" $1 "*) echo forward; return 0 ;; esac
    echo plain
}

targets_of() {
    case $1 in
    tls) echo "$TLS_TARGETS" ;;
    forward) echo "$FWD_TARGETS" ;;
    exec) echo "$EXEC_TARGETS" ;;
    *) echo "$TARGETS" ;;
    esac
}

is_tls() { [ "$(family "$1")" = tls ]; }

is_front() {
    case " $FRONTS " in *" $1 "*) return 0 ;; esac
    return 1
}

# FILE, or its -FAMILY twin while a TLS or forwarding target is the current one.
family_file() {
    local fam
    fam=$(family "${T:-}")
    if [ "$fam" = plain ]; then echo "$1"; else echo "${1%.*}-$fam.${1##*.}"; fi
}

# The workloads of a target: each family has its own, and the PROXY pair theirs.
workloads_of() {
    case $1 in usherd-echo | usherd-echo-proxy2)
        echo "$PXY_WORKLOADS"
        return 0 ;;
    esac
    case $1 in x-echo | x-ref)
        echo "$ECHO_WORKLOADS"
        return 0 ;;
    esac
    case $(family "$1") in
    tls) echo "$TLS_WORKLOADS" ;;
    forward) echo "$FWD_WORKLOADS" ;;
    exec) echo "$EXEC_WORKLOADS" ;;
    *) echo "$WORKLOADS" ;;
    esac
}

# The options the client takes for target $1 on top of the workload's.
target_opts() {
    case $1 in
    usherd-echo-proxy2) echo "--proxy v2" ;;
    x-*-true) echo "-s 0" ;;
    x-*-cat) echo "-s 64" ;;
    esac
}

# Does the target want a header or handshake first (so that a bare connect is an error it logs)?
speaks_first() {
    is_tls "$1" || [ "$1" = usherd-echo-proxy2 ]
}

# Are the server's CPU and the client's recorded for this workload?
costed() {
    case $1 in tls-* | fwd-* | pxy-*) return 0 ;; esac
    return 1
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
    printf '    %s\n' "${*//$ROOT\//}" >>"$(family_file "$SERVERS")"
    if [ -f "$B/config.md" ]; then
        cat "$B/config.md" >>"$(family_file "$SERVERS")"
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
    say "building usherd, usher, the reference, the exec floor and hold"
    make -C "$ROOT" -s SANITIZE= all
    # shellcheck disable=SC2086 # CFLAGS is a list of flags
    $CC $CFLAGS -D_GNU_SOURCE -o "$B/ref_echo" "$ROOT/bench/ref_echo.c"
    # shellcheck disable=SC2086
    $CC $CFLAGS -D_GNU_SOURCE -o "$B/floor_exec" "$ROOT/bench/floor_exec.c"
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
    if any_selected $TLS_TARGETS; then install_tls_peers; fi
    if any_selected $FWD_TARGETS; then install_fwd_peers; fi
    any_selected $TARGETS $EXEC_TARGETS || return 0
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

# stunnel4 and haproxy are installed: they conflict with nothing here.  The
# haproxy package's own service, if one runs, is left alone: ours listens on
# its own port with its own config.
install_tls_peers() {
    say "installing the TLS peers, making the certificate"
    command -v stunnel4 >/dev/null || apt install -y stunnel4 || problem "stunnel4: apt-get install failed"
    command -v haproxy >/dev/null || apt install -y haproxy || problem "haproxy: apt-get install failed"
    make_certificate
}

# haproxy and socat, as for the TLS peers and the plain ones.
install_fwd_peers() {
    say "installing the forwarding peers"
    command -v haproxy >/dev/null || apt install -y haproxy || problem "haproxy: apt-get install failed"
    command -v socat >/dev/null || apt install -y socat || problem "socat: apt-get install failed"
}

# One ECDSA P-256 key and a self-signed certificate for 127.0.0.1, made
# afresh for each run and never kept in the tree; haproxy wants both in one file.
make_certificate() {
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$TLS_KEY" -out "$TLS_CERT" -days 2 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >>"$B/openssl.log" 2>&1 &&
        cat "$TLS_CERT" "$TLS_KEY" >"$TLS_CERTKEY") ||
        problem "openssl req failed to make the TLS certificate (see build/bench/openssl.log)"
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

# usherd on $B/$T.conf: the [global] of every usherd target, GLOBAL_LINES, then SERVICE (its section).
launch_usherd() {
    printf '[global]\nmax_conns = 0\nshutdown_timeout = 1s\n%s\n%s\n' "$1" "$2" >"$B/$T.conf"
    show_config "$B/$T.conf"
    launch "$T" "$USHERD" -q -f "$B/$T.conf"
}

usherd_target() {
    local model_lines=$1 global_lines=$2
    launch_usherd "$global_lines" "[echo]
listen = tcp://127.0.0.1:$PORT udp://127.0.0.1:$PORT
builtin = echo
$model_lines"
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
    x_usherd cat log # the exec family's usherd (below)
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

# The cat targets are the exec family's peers (x_PEER, below) serving
# /bin/cat, each forking per connection.
start_xinetd_cat() {
    x_xinetd cat
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
    x_inetd cat
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
    x_rlinetd cat
    fork_peer
}

# tcpserver: -c lifts the 40-connection limit; -H -R -l 0: no DNS or ident lookups.
start_tcpserver_cat() {
    x_tcpserver cat
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
    x_socat cat
    fork_peer
}

# --- TLS targets ---------------------------------------------------------------
# TLS 1.3 only, the certificate of make_certificate; everything else is each
# server's default (cipher suite, key exchange group and tickets are shown in
# the report as the server chose them).  A TLS front is started with the
# plain echo it relays to, usherd's on $BACK_PORT, as one target.

usherd_tls_target() {
    cat >"$B/$T.conf" <<EOF
[global]
max_conns = 0
shutdown_timeout = 1s
$1
[echo-tls]
listen = tls://127.0.0.1:$PORT
builtin = echo
model = event
tls_cert = $TLS_CERT
tls_key = $TLS_KEY
tls_min = 1.3
EOF
    show_config "$B/$T.conf"
    launch "$T" "$USHERD" -q -f "$B/$T.conf"
}

start_usherd_tls() { usherd_tls_target ""; }
start_usherd_tls_workers2() { usherd_tls_target "workers = 2"; }

# The plain echo behind a front, on port $1: usherd, one event loop.
backend_conf() {
    cat <<EOF
[global]
max_conns = 0
shutdown_timeout = 1s

[echo]
listen = tcp://127.0.0.1:$1
builtin = echo
model = event
EOF
}

# Start the echo behind the current front, on $BACK_PORT (BACK_PID).
start_backend() {
    backend_conf "$BACK_PORT" >"$B/$T-back.conf"
    show_config "$B/$T-back.conf"
    launch "$T-back" "$USHERD" -q -f "$B/$T-back.conf"
    BACK_PID=${SRV_PIDS##* }
    wait_ready "$BACK_PORT" || true # if not, the front's echo check says so
}

# stunnel4: a thread per connection (its Debian build is PTHREAD), no pid file, errors only.
start_stunnel_tls() {
    need "$(command -v stunnel4 || echo stunnel4)" || return 0
    start_backend
    cat >"$B/$T.conf" <<EOF
foreground = yes
pid =
debug = err

[echo-tls]
accept = 127.0.0.1:$PORT
connect = 127.0.0.1:$BACK_PORT
cert = $TLS_CERT
key = $TLS_KEY
sslVersionMin = TLSv1.3
EOF
    show_config "$B/$T.conf"
    launch "$T" stunnel4 "$B/$T.conf"
}

# haproxy: in the foreground (-db), one process of nbthread 2 threads (its
# default on 2 cores, written out); maxconn 4096 fits RLIMIT_NOFILE (it
# wants 2 descriptors a connection); no log lines.
start_haproxy_tls() {
    need "$(command -v haproxy || echo haproxy)" || return 0
    start_backend
    cat >"$B/$T.cfg" <<EOF
global
    nbthread 2
    maxconn 4096

defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend echo-tls
    bind 127.0.0.1:$PORT ssl crt $TLS_CERTKEY ssl-min-ver TLSv1.3
    default_backend echo

backend echo
    server echo 127.0.0.1:$BACK_PORT
EOF
    show_config "$B/$T.cfg"
    launch "$T" haproxy -db -f "$B/$T.cfg"
}

# --- Forwarding targets ----------------------------------------------------------
# Each front relays to the echo of start_backend, started with it as one
# target; `direct` is that echo alone, on the target's own port.

usherd_fwd_target() {
    start_backend
    launch_usherd "$1" "[fwd]
listen = tcp://127.0.0.1:$PORT
forward = tcp://127.0.0.1:$BACK_PORT
model = event"
}

start_usherd_fwd() { usherd_fwd_target ""; }
start_usherd_fwd_workers2() { usherd_fwd_target "workers = 2"; }

# haproxy: as for TLS (-db, nbthread 2, maxconn 4096), plain TCP both ways, no log lines.
start_haproxy_fwd() {
    need "$(command -v haproxy || echo haproxy)" || return 0
    start_backend
    cat >"$B/$T.cfg" <<EOF
global
    nbthread 2
    maxconn 4096

defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend fwd
    bind 127.0.0.1:$PORT
    default_backend echo

backend echo
    server echo 127.0.0.1:$BACK_PORT
EOF
    show_config "$B/$T.cfg"
    launch "$T" haproxy -db -f "$B/$T.cfg"
}

# socat: a process per connection, as its TCP relay is used.
start_socat_fwd() {
    need "$(command -v socat || echo socat)" || return 0
    start_backend
    launch "$T" socat "TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr,backlog=511" "TCP:127.0.0.1:$BACK_PORT"
}

start_direct() {
    backend_conf "$PORT" >"$B/$T.conf"
    show_config "$B/$T.conf"
    launch "$T" "$USHERD" -q -f "$B/$T.conf"
}

# The PROXY pair: the same echo without and with proxy_protocol = v2 (the lines $1).
usherd_echo_target() {
    cat >"$B/$T.conf" <<EOF
[global]
max_conns = 0
shutdown_timeout = 1s

[echo]
listen = tcp://127.0.0.1:$PORT
builtin = echo
model = event
EOF
    [ -z "$1" ] || printf '%s\n' "$1" >>"$B/$T.conf"
    show_config "$B/$T.conf"
    launch "$T" "$USHERD" -q -f "$B/$T.conf"
}

start_usherd_echo() { usherd_echo_target ""; }
start_usherd_echo_proxy2() { usherd_echo_target "proxy_protocol = v2
proxy_from = 127.0.0.1"; }

# --- Exec targets ----------------------------------------------------------------
# Each runs /bin/true or /bin/cat (the target name's last word) per
# connection on 127.0.0.1:$PORT, as the plain exec targets are set up.

# usherd: stderr = log (the default: a pipe per connection, lines tagged with the pid) or null.
x_usherd() {
    local stderr_line=
    [ "$2" = log ] || stderr_line=$'\nstderr = '"$2"
    launch_usherd "" "[x]
listen = tcp://127.0.0.1:$PORT
exec = /bin/$1$stderr_line"
}

x_tcpserver() {
    need "$(command -v tcpserver || echo tcpserver)" || return 0
    launch "$T" tcpserver -c 100000 -b 511 -H -R -l 0 127.0.0.1 "$PORT" "/bin/$1"
}

x_floor() { launch "$T" "$B/floor_exec" "$PORT" "/bin/$1"; }

x_xinetd() {
    need "$PEER_ROOT/usr/sbin/xinetd" || return 0
    { xinetd_defaults; cat <<EOF
service x
{
	type        = UNLISTED
	socket_type = stream
	protocol    = tcp
	wait        = no
	user        = root
	bind        = 127.0.0.1
	port        = $PORT
	server      = /bin/$1
}
EOF
    } >"$B/$T.conf"
    xinetd_target
}

x_inetd() {
    need "$PEER_ROOT/usr/sbin/inetd" || return 0
    printf '127.0.0.1:%s\tstream\ttcp\tnowait\troot\t/bin/%s\t%s\n' "$PORT" "$1" "$1" >"$B/$T.conf"
    inetd_target
}

x_rlinetd() {
    need "$PEER_ROOT/usr/sbin/rlinetd" || return 0
    { rlinetd_defaults; cat <<EOF
service "x" {
  port $PORT;
  protocol tcp;
  exec "/bin/$1";
}
EOF
    } >"$B/$T.conf"
    rlinetd_target
}

x_socat() {
    need "$(command -v socat || echo socat)" || return 0
    launch "$T" socat "TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr,backlog=511" "EXEC:/bin/$1"
}

for prog in true cat; do
    eval "start_x_usherd_$prog() { x_usherd $prog log; }"
    eval "start_x_usherd_null_$prog() { x_usherd $prog null; }"
    for peer in tcpserver floor xinetd inetd rlinetd socat; do
        eval "start_x_${peer}_$prog() { x_$peer $prog; }"
    done
done
start_x_echo() { usherd_target "model = event" ""; }
start_x_ref() { start_ref; }

need() {
    [ -x "$1" ] && return 0
    problem "$T: $1 is not installed: not measured"
    NOT_STARTED=yes
    return 1
}

# Wait (bounded) until the server accepts connections (on $PORT, or on $1).
wait_ready() {
    local i port=${1:-$PORT}
    for ((i = 0; i < 50; i++)); do
        if [ "$port" = "$PORT" ] && speaks_first "$T"; then
            # A connection closed before its handshake or header is an error the server logs.
            port_free "$port" || return 0
        else
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        fi
        sleep 0.1
    done
    return 1
}

# The target's stream address for the client, and the client's options for it.
stream_addr() {
    if is_tls "$T"; then echo "tls://127.0.0.1:$PORT"; else echo "tcp://127.0.0.1:$PORT"; fi
}
stream_opts() {
    if is_tls "$T"; then echo "--ca $TLS_CERT"; fi
}

# The stream echo of MSG through the target, as the client got it back.
# usher sends no PROXY header itself: for the PROXY target the header goes
# first from here, a v2 LOCAL (a balancer's health check, served as such).
echo_once() {
    # shellcheck disable=SC2046 # the options are a list of words
    { [ "$T" != usherd-echo-proxy2 ] || printf '\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00'
        printf '%s\n' "$1"; } | "$USHER" -w 2 $(stream_opts) "$(stream_addr)" 2>&1
}

# Two echo round trips over TCP or TLS (and one over UDP): is the target sane?
sanity() {
    local i got
    wait_ready || { died "does not accept connections"; return 1; }
    case $T in x-*-true)
        # /bin/true says nothing: two connections, each closed by the program.
        got=$("$USHER" bench --json -n 2 -c 1 -s 0 -w 2 connect "tcp://127.0.0.1:$PORT" 2>&1 || true)
        [ "$(json_num transactions <<<"$got")" = 2 ] ||
            { died "two connections to /bin/true did not both end with its close (${got:-no reply})"; return 1; }
        return 0 ;;
    esac
    for i in 1 2; do
        got=$(echo_once "ping $i" || true)
        [ "$got" = "ping $i" ] || { died "echo round trip $i failed (${got:-no reply})"; return 1; }
    done
    sleep 0.2
    servers_alive || { died "died during the echo check"; return 1; }
    if is_tls "$T"; then
        [ "$RESTART" = yes ] || tls_params
        return 0
    fi
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

# What the server chose, as openssl s_client saw it: a row of the report's
# table.  The tickets are counted after an echo, by when all have come.
tls_params() {
    local out proto cipher group tickets
    out=$( (printf 'ping\n'; sleep 0.5) | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" \
        -CAfile "$TLS_CERT" -verify_return_error 2>&1 || true)
    proto=$(sed -n 's/^ *Protocol *: *//p' <<<"$out" | head -n 1)
    cipher=$(sed -n 's/.*Cipher is \(.*\)/\1/p' <<<"$out" | head -n 1)
    group=$(sed -n 's/^Server Temp Key: \([^,]*\).*/\1/p' <<<"$out" | head -n 1)
    tickets=$(grep -c 'New Session Ticket arrived' <<<"$out" || true)
    printf '| %s | %s | %s | %s | %s |\n' "$T" "${proto:-?}" "${cipher:-?}" "${group:-?}" \
        "${tickets:-0}" >>"$B/tls-params.md"
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

json_num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" ${2:+"$2"}; }

# One usher bench workload, once (run $ROUND).
bench_workload() {
    local wl=$1 addr opts field=rate json=$B/run.json value kinds ticks0 ns0
    case $wl in
    udp*) addr=udp://127.0.0.1:$PORT opts=$UDP_OPTS ;;
    tls-*) addr=tls://127.0.0.1:$PORT opts="$TCP_OPTS --ca $TLS_CERT" ;;
    *) addr=tcp://127.0.0.1:$PORT opts="$TCP_OPTS $(target_opts "$T")" ;;
    esac
    case $wl in *bulk) field=mb_per_s ;; esac
    if costed "$wl"; then ticks0=$(server_ticks) && times >"$B/times.before"; fi
    case $wl in ex-*) ns0=$(daemon_ns) ;; esac
    # shellcheck disable=SC2086 # the arguments are lists of words
    "$USHER" bench --json -d "$SECS" $opts ${WL_ARGS[$wl]} "$addr" >"$json" 2>>"$B/bench.err" || true
    value=$(json_num "$field" "$json")
    if [ -z "$value" ]; then
        problem "$T, $wl, run $ROUND: usher bench gave no result: $(tail -n 1 "$B/bench.err")"
        return 0
    fi
    record "$wl" "$T" "$value" "$(json_num p50 "$json")" "$(json_num p99 "$json")" "$(json_num total "$json")"
    if costed "$wl"; then
        times >"$B/times.after"
        record_cpu "$wl" "$json" $(($(server_ticks) - ticks0))
    fi
    case $wl in ex-*)
        record "$wl:dcpu" "$T" "$(awk -v a="$ns0" -v b="$(daemon_ns)" -v n="$(json_num transactions "$json")" \
            'BEGIN { printf "%.1f", (n > 0 ? (b - a) / 1000 / n : 0) }')" 0 0 0 ;;
    esac
    kinds=$(error_kinds "$json")
    [ -z "$kinds" ] || problem "$T, $wl, run $ROUND: usher bench counted errors:$kinds"
}

# The run time (ns) of the daemon's own task so far (/proc/PID/schedstat):
# its first process's main thread, not the programs it starts (theirs is
# theirs), nor the processes a peer forks per connection.
daemon_ns() {
    # shellcheck disable=SC2086 # the pids, as words
    set -- $SRV_PIDS
    cut -d ' ' -f 1 "/proc/$1/schedstat" 2>/dev/null || echo 0
}

# CPU time (clock ticks) the server's processes have used so far: all
# their threads, the ones that ended too (an ended thread's time stays
# with its process), and the children they have waited for (socat's
# process per connection: its time goes to its parent when it ends).
server_ticks() {
    local pid s total=0
    for pid in $SRV_PIDS $(for p in $SRV_PIDS; do descendants "$p"; done); do
        { read -r s <"/proc/$pid/stat"; } 2>/dev/null || continue
        s=${s##*) }
        # shellcheck disable=SC2086 # the fields, as words
        set -- $s
        # utime, stime, cutime and cstime: fields 14 to 17
        total=$((total + ${12} + ${13} + ${14} + ${15}))
    done
    echo $total
}

# CPU seconds of the children this shell had waited for when `times >FILE`
# wrote FILE (only the shell itself knows: a subshell's count starts at 0).
children_cpu() {
    awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"
}

# What one TLS or forwarding run cost: the server's CPU per handshake,
# connection, round trip or MB (µs), the cores the server and the client
# used, and for --resume the share of handshakes the server resumed.
record_cpu() {
    local wl=$1 json=$2 ticks=$3 secs units cli
    secs=$(json_num seconds "$json")
    case $wl in
    tls-connect* | tls-resume*) units=$(json_num handshakes "$json") ;;
    *bulk) units=$(awk -v r="$(json_num mb_per_s "$json")" -v s="$secs" 'BEGIN { print r * s }') ;;
    *) units=$(json_num transactions "$json") ;;
    esac
    cli=$(awk -v a="$(children_cpu "$B/times.after")" -v b="$(children_cpu "$B/times.before")" \
        'BEGIN { print a - b }')
    awk -v t="$ticks" -v hz="$CLK_TCK" -v u="$units" -v s="$secs" -v c="$cli" 'BEGIN {
        printf "%.1f\t%.2f\t%.2f\n", (u > 0 ? t / hz * 1e6 / u : 0), t / hz / s, c / s }' |
        while IFS=$'\t' read -r per srv client; do
            record "$wl:cpu" "$T" "$per" 0 0 0
            record "$wl:srvcores" "$T" "$srv" 0 0 0
            record "$wl:clicores" "$T" "$client" 0 0 0
        done
    case $wl in *resume*)
        record "$wl:resumed" "$T" "$(awk -v r="$(json_num resumed "$json")" -v h="$(json_num handshakes "$json")" \
            'BEGIN { printf "%.1f", (h > 0 ? 100 * r / h : 0) }')" 0 0 0 ;;
    esac
}

# The error kinds of one usher bench run that are not zero: " reset 3 short 1".
error_kinds() {
    sed -n 's/.*"errors":{\(.*\),"total".*/\1/p' "$1" | tr ',' '\n' | tr -d '"' |
        awk -F: '$2 > 0 { printf " %s %s", $1, $2 }'
}

# The sum of the PSS (kB) of the server's processes (or of the pids given): itself and all it started.
pss_kb() {
    local pid files=""
    # shellcheck disable=SC2048 # pids: words
    for pid in ${*:-$SRV_PIDS}; do
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
    [ "$(echo_once x)" = x ] || return 1
    sleep 0.3 # a fork server's child for that echo exits
}

# Memory: PSS with N idle connections minus PSS with none, per connection,
# once (run $ROUND), on a freshly started server (memory a server keeps
# after its connections close would make the later runs look free).
hold_workload() {
    local wl=$1 n=${1##*hold} before after hold_pid open tls="" back0=0 back1=0 threads0
    BACK_PID=""
    if ! restart; then
        stop_servers
        problem "$T, $wl: did not start again for run $ROUND"
        return 0
    fi
    before=$(pss_kb) threads0=$(task_counts | cut -d ' ' -f 2)
    [ -z "$BACK_PID" ] || back0=$(pss_kb "$BACK_PID")
    is_tls "$T" && tls="-t $TLS_CERT"
    # Not a stale file from the last run: the child truncates it only after the fork.
    rm -f "$B/hold.out"
    # shellcheck disable=SC2086 # no option, or one and its file
    "$B/hold" $tls 127.0.0.1 "$PORT" "$n" >"$B/hold.out" 2>"$B/hold.err" &
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
    [ -z "$BACK_PID" ] || back1=$(pss_kb "$BACK_PID")
    [ "$(family "$T")" = plain ] || record_tasks "$wl"
    open=$(still_open $hold_pid)
    kill $hold_pid
    wait $hold_pid 2>/dev/null || true
    drained "$threads0"
    stop_servers
    [ -z "$BACK_PID" ] || record "$wl:back" "$T" $(((back1 - back0) * 1024 / n)) 0 0 0
    record "$wl" "$T" $(((after - before) * 1024 / n)) 0 0 $((n - open))
    [ "$open" -eq "$n" ] ||
        problem "$T, $wl, run $ROUND: the server closed $((n - open)) idle connections during the measurement, so the figure is too low"
}

# Wait (at most 5 s) until the server has no connection left on $PORT and
# no more threads than before (its $1): stunnel4, stopped while its
# threads still end their connections, can crash.
drained() {
    local i
    for ((i = 0; i < 50; i++)); do
        if [ -z "$(ss -Htn state established "sport = :$PORT" 2>/dev/null)" ] &&
            [ "$(task_counts | cut -d ' ' -f 2)" -le "$1" ]; then
            return 0
        fi
        sleep 0.1
    done
}

# "PROCESSES THREADS" of the server now.
task_counts() {
    local pid procs=0 threads=0 n
    for pid in $SRV_PIDS $(for p in $SRV_PIDS; do descendants "$p"; done); do
        n=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        [ -n "$n" ] || continue
        procs=$((procs + 1)) threads=$((threads + n))
    done
    echo "$procs $threads"
}

# How many processes and threads the server has, its idle connections open.
record_tasks() {
    local procs threads
    read -r procs threads <<<"$(task_counts)"
    record "$1:procs" "$T" "$procs" 0 0 0
    record "$1:threads" "$T" "$threads" 0 0 0
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
    *hold*) hold_workload "$wl" ;;
    *) bench_workload "$wl" ;;
    esac
    servers_alive || died "died during $wl"
    say "$(printf '%-16s %-10s' "$T" "$wl") $(summary "$wl" "$T" | cut -f1-3 | tr '\t' ' ') (median min max)"
}

# Round ROUND of target T: every workload once.  The first round also
# picks the target's port and records its command line, its config and the
# workloads it skips; a target that broke is not started again.
declare -A PORT_OF BACK_OF OUT_OF
run_target() {
    T=$1 ROUND=$2
    BROKEN="" UDP=no UDP_WHY="" NOT_STARTED=no
    local wl workloads
    workloads=$(workloads_of "$T")
    [ -z "${OUT_OF[$T]:-}" ] || return 0
    if [ "$ROUND" = 1 ]; then
        if is_front "$T"; then
            next_port
            BACK_OF[$T]=$PORT
        fi
        next_port
        PORT_OF[$T]=$PORT
        printf '\n**%s** (%s)\n\n' "$T" "${DESC[$T]}" >>"$(family_file "$SERVERS")"
        RESTART=no
    else
        PORT=${PORT_OF[$T]}
        RESTART=yes
    fi
    BACK_PORT=${BACK_OF[$T]:-}
    say "target $T, round $ROUND of $RUNS"
    "start_${T//-/_}"
    if [ $NOT_STARTED = yes ]; then
        for wl in $workloads; do skip "$wl" "not installed"; done
        OUT_OF[$T]="not installed"
        return 0
    fi
    if [ -z "$SRV_PIDS" ]; then
        for wl in $workloads; do skip "$wl" "not started"; done
        OUT_OF[$T]="not started"
        return 0
    fi
    sanity || true
    for wl in $workloads; do
        case $wl in *hold*) ;; *) run_workload "$wl" ;; esac
    done
    stop_servers
    # The memory runs start the target afresh.
    for wl in $workloads; do
        case $wl in *hold*) run_workload "$wl" ;; esac
    done
    [ -z "$BROKEN" ] || OUT_OF[$T]=$BROKEN
    RESTART=no
}

# Round $2 of the targets of family $1, timed (and the load average taken)
# for the family's section of the report.
declare -A ELAPSED LOAD0 LOAD1
family_round() {
    local fam=$1 round=$2 t t0
    family_selected "$fam" || return 0
    t0=$(date +%s)
    [ "$round" != 1 ] || LOAD0[$fam]=$(cut -d ' ' -f 1-3 /proc/loadavg)
    for t in $(targets_of "$fam"); do
        if selected "$t"; then run_target "$t" "$round"; fi
    done
    T=""
    ELAPSED[$fam]=$((${ELAPSED[$fam]:-0} + $(date +%s) - t0))
    LOAD1[$fam]=$(cut -d ' ' -f 1-3 /proc/loadavg)
}

# After the last round: the server's log, and the workloads no run measured.
finish_target() {
    T=$1 RESTART=no
    local wl
    for wl in $(workloads_of "$T"); do
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

# A table row's figures: med min max p50 p99 err n of workload $1 and target
# $2 set in the caller, or (status 1) the reason it was not measured added to
# the caller's notes.
measured() {
    local s why
    s=$(summary "$1" "$2")
    if [ -z "$s" ]; then
        why=$(awk -F'\t' -v w="$1" -v t="$2" '$2 == t && index(w, $1) == 1 { print $3; exit }' "$SKIPS")
        notes="$notes- $2: ${why:-not measured}"$'\n'
        return 1
    fi
    IFS=$'\t' read -r med min max p50 p99 err n <<<"$s"
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
    tls-hold*) echo "build/bench/hold -t build/bench/tls-cert.pem 127.0.0.1 PORT ${wl##*hold}" ;;
    tls-*) echo "build/usher bench --json -d $SECS $TCP_OPTS --ca build/bench/tls-cert.pem ${WL_ARGS[$wl]} tls://127.0.0.1:PORT" ;;
    *hold*) echo "build/bench/hold 127.0.0.1 PORT ${wl##*hold}" ;;
    pxy-*) echo "build/usher bench --json -d $SECS $TCP_OPTS [--proxy v2] ${WL_ARGS[$wl]} tcp://127.0.0.1:PORT" ;;
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
        measured "$wl" "$t" || continue
        [ "$err" -eq 0 ] || notes="$notes- $t: $err errors in $n runs (see the problems below)"$'\n'
        printf '| %s | %.0f | %.0f | %.0f | %s | %s |' "$t" "$med" "$min" "$max" \
            "$(ratio "$med" "$ref")" "$(ratio "$med" "$bp")"
        [ $lat = no ] || printf ' %.0f | %.0f |' "$p50" "$p99"
        printf ' %s |\n' "$err"
    done
    [ -z "$notes" ] || printf '\nNot in the table, or with errors:\n\n%s' "$notes"
}

# The first rows of every section's machine table, and the kernel's and usherd's.
machine_head() {
    echo '| | |'
    echo '| --- | --- |'
    echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
    echo "| cores (nproc) | $(nproc) |"
    echo "| CPU | $(grep -m 1 '^model name' /proc/cpuinfo | sed 's/.*: //') |"
}

machine_build() {
    echo "| kernel | $(uname -r) |"
    echo "| usherd | $("$USHERD" -V 2>&1 | head -n 1), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' with local changes in src/') |"
}

machine() {
    local mem peers
    mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    peers=$(for deb in $(cat "$B/debs/unpacked" 2>/dev/null); do
        dpkg-deb -W --showformat '${Package}_${Version} ' "$deb"
    done)
    peers="$peers$(dpkg-query -W -f '${Package}_${Version} ' ucspi-tcp socat 2>/dev/null || true)"
    machine_head
    echo "| memory | $mem |"
    machine_build
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

# --- The TLS section ---------------------------------------------------------

TLS_BEGIN='<!-- TLS section: bench/run.sh rewrites it; BENCH_ONLY=tls rewrites only it -->'
TLS_END='<!-- end of the TLS section -->'

# The median of one figure (nothing if not measured).
med() { summary "$1" "$2" | cut -f1; }

# A median as the table shows it: FORMAT, or "—" when not measured.
fmt() {
    # shellcheck disable=SC2059 # the format is the caller's
    if [ -n "$2" ]; then printf "$1" "$2"; else printf '—'; fi
}

# One workload's table in a family's section: the targets ROWS ($2), their
# ratio to each of REFS ($3, words "TARGET:LABEL", a column each), and
# what the runs cost the server and the client.
cost_table() {
    local wl=$1 rows=$2 refs=$3 t s med min max p50 p99 err n notes="" why per ref cols="" seps=""
    local resumed=""
    for ref in $refs; do cols="$cols × ${ref#*:} |" seps="$seps ---: |"; done
    case $wl in *resume*) resumed=yes ;; esac
    printf '\n#### %s\n\n`%s`\n\n' "${WL_TITLE[$wl]}" "$(client_line "$wl")"
    case $wl in
    *hold*)
        printf '| target | median | min | max |%s of which the usherd behind | processes, threads | closed by the server |\n' "$cols"
        printf '| --- | ---: | ---: | ---: |%s ---: | ---: | ---: |\n' "$seps" ;;
    *bulk)
        printf '| target | median | min | max |%s server CPU µs per MB | server cores | client cores | errors |\n' "$cols"
        printf '| --- | ---: | ---: | ---: |%s ---: | ---: | ---: | ---: |\n' "$seps" ;;
    *)
        case $wl in *pingpong*) per="round trip" ;; tls-*) per=handshake ;; *) per=connection ;; esac
        printf '| target | median | min | max |%s server CPU µs per %s | server cores | client cores |%s p50 µs | p99 µs | errors |\n' \
            "$cols" "$per" "${resumed:+ resumed |}"
        printf '| --- | ---: | ---: | ---: |%s ---: | ---: | ---: |%s ---: | ---: | ---: |\n' "$seps" \
            "${resumed:+ ---: |}" ;;
    esac
    for t in $rows; do
        selected "$t" || continue
        measured "$wl" "$t" || continue
        printf '| %s | %.0f | %.0f | %.0f |' "$t" "$med" "$min" "$max"
        for ref in $refs; do printf ' %s |' "$(ratio "$med" "$(med "$wl" "${ref%%:*}")")"; done
        case $wl in
        *hold*)
            printf ' %s | %s, %s | %s |\n' "$(fmt %.0f "$(med "$wl:back" "$t")")" \
                "$(fmt %.0f "$(med "$wl:procs" "$t")")" "$(fmt %.0f "$(med "$wl:threads" "$t")")" "$err"
            [ "$err" -eq 0 ] || notes="$notes- $t: the server closed $err idle connections in $n runs"$'\n'
            continue ;;
        esac
        [ "$err" -eq 0 ] || notes="$notes- $t: $err errors in $n runs (see the problems below)"$'\n'
        printf ' %s | %s | %s |' "$(fmt %.0f "$(med "$wl:cpu" "$t")")" \
            "$(fmt %.2f "$(med "$wl:srvcores" "$t")")" "$(fmt %.2f "$(med "$wl:clicores" "$t")")"
        [ -z "$resumed" ] || printf ' %s %% |' "$(fmt %.1f "$(med "$wl:resumed" "$t")")"
        case $wl in *bulk) ;; *) printf ' %.0f | %.0f |' "$p50" "$p99" ;; esac
        printf ' %s |\n' "$err"
    done
    [ -z "$notes" ] || printf '\nNot in the table, or with errors:\n\n%s' "$notes"
}

# The TLS targets' tables: their ratios to haproxy and stunnel4.
tls_table() { cost_table "$1" "$TLS_TARGETS" "haproxy-tls:haproxy stunnel-tls:stunnel4"; }

# One cell of the targets' table: usherd target T's median over PEER's on
# WL, against WANT; whether every run agrees or the runs' ranges overlap;
# and whether the client, not the servers, set both rates.
verdict() {
    local wl=$1 t=$2 peer=$3 want=$4 a b
    a=$(summary "$wl" "$t") b=$(summary "$wl" "$peer")
    if [ -z "$a" ] || [ -z "$b" ]; then
        echo "not measured"
        return 0
    fi
    awk -v a="$a" -v b="$b" -v w="$want" -v ca="$(med "$wl:clicores" "$t")" \
        -v cb="$(med "$wl:clicores" "$peer")" 'BEGIN {
        split(a, x, "\t"); split(b, y, "\t"); r = x[1] / y[1]
        how = "the runs overlap"
        if (x[2] >= w * y[3] || x[3] < w * y[2]) how = "every run"
        if (ca >= 0.9 && cb >= 0.9) how = how "; the client was the limit of both"
        # Two decimals, or three where two would round a miss up to the target.
        f = (r < w && sprintf("%.2f", r) + 0 >= w) ? "%.3f" : "%.2f"
        printf f "×: **%s** (%s)", r, (r >= w ? "met" : "not met"), how }'
}

tls_targets() {
    local t wl peer want what
    printf '| SPEC 17 asks | %s |\n' "$(for t in usherd-tls usherd-tls-workers2; do selected "$t" && printf '%s | ' "$t"; done | sed 's/ | $//')"
    printf '| --- |%s\n' "$(for t in usherd-tls usherd-tls-workers2; do selected "$t" && printf ' --- |'; done)"
    for what in "tls-connect16 haproxy-tls 1.0 full handshakes/s at least haproxy's" \
        "tls-connect16 stunnel-tls 1.3 full handshakes/s at least 1.3× stunnel4's" \
        "tls-bulk haproxy-tls 0.9 bulk MB/s at least 0.9× haproxy's"; do
        read -r wl peer want what <<<"$what"
        printf '| %s |' "$what"
        for t in usherd-tls usherd-tls-workers2; do
            selected "$t" && printf ' %s |' "$(verdict "$wl" "$t" "$peer" "$want")"
        done
        echo
    done
    printf '| (not in SPEC 17) server CPU per full handshake, over haproxy'"'"'s: lower is better |'
    for t in usherd-tls usherd-tls-workers2; do
        selected "$t" || continue
        printf ' %s× (%s µs, haproxy %s µs, stunnel4 %s µs) |' \
            "$(ratio "$(med tls-connect16:cpu "$t")" "$(med tls-connect16:cpu haproxy-tls)")" \
            "$(fmt %.0f "$(med tls-connect16:cpu "$t")")" "$(fmt %.0f "$(med tls-connect16:cpu haproxy-tls)")" \
            "$(fmt %.0f "$(med tls-connect16:cpu stunnel-tls)")"
    done
    echo
    printf '| idle TLS connection memory reported |'
    for t in usherd-tls usherd-tls-workers2; do
        selected "$t" || continue
        printf ' %s B (haproxy %s B, stunnel4 %s B) |' "$(fmt %.0f "$(med tls-hold1000 "$t")")" \
            "$(fmt %.0f "$(med tls-hold1000 haproxy-tls)")" "$(fmt %.0f "$(med tls-hold1000 stunnel-tls)")"
    done
    echo
}

tls_machine() {
    machine_head
    machine_build
    echo "| OpenSSL | $(dpkg-query -W -f '${Package}_${Version}' libssl3 2>/dev/null || openssl version) (every server and the client use it) |"
    echo "| peers | $(dpkg-query -W -f '${Package}_${Version} ' stunnel4 haproxy 2>/dev/null || true)|"
    echo "| runs | $RUNS per figure, $SECS s each, in $RUNS rounds over the TLS targets |"
    echo "| load average (1, 5, 15 min) | ${LOAD0[tls]:-?} before the first round, ${LOAD1[tls]:-?} after the last, which counts the bench's own work (stunnel4's 1,000 threads most of all): the first says how busy the machine was |"
}

tls_notes() {
    cat <<'NOTES'
- **Certificate and protocol.** One ECDSA P-256 key and a self-signed
  certificate for 127.0.0.1, made with `openssl req` at the start of each
  run (build/bench, never kept); every server is held to TLS 1.3
  (`tls_min = 1.3`, `sslVersionMin = TLSv1.3`, `ssl-min-ver TLSv1.3`) and
  otherwise left to its defaults, so the table above shows what each chose.
  The client verifies the chain and the address against that certificate.
- **Who uses the two cores.** usherd-tls is one process with one thread;
  usherd-tls-workers2 is usherd's main process and two worker processes,
  each one event loop. stunnel4 (Debian's build: `Threading:PTHREAD`) is
  one process with a thread per connection, so it uses both cores as soon
  as two connections are busy; haproxy is one process with `nbthread 2`
  threads, its default on two cores, written out. The plain echo behind
  stunnel4 and haproxy is usherd, one process, one event loop, and its CPU
  and memory are counted with the front's. The client, `usher bench`, is
  one process with one thread, and it does its own half of every
  handshake (its key share, and verifying the server's signature and
  chain) and of every encryption: when "client cores" is near 1.00 the
  client is what limits the rate, whatever the server, and "server CPU" is
  the figure that tells the servers apart. The memory table counts the
  processes and threads each target had with its 1,000 idle connections.
- **Server CPU** is the user and system time (`/proc/PID/stat`) of every
  process of the target, front and echo behind it, over the run, divided by
  the handshakes, round trips or megabytes echoed; "server cores" is that
  time over the run's length, "client cores" the same for `usher bench`.
  The kernel's clock tick is 10 ms, a few per cent of a 1-second run.
- **Full handshakes** (`connect`): each transaction is a TCP connect, a
  full TLS 1.3 handshake, 64 bytes echoed, close_notify, then a reset (as
  in the plain connect tables, so that no client port waits in TIME_WAIT).
  **Resumed** ones (`--resume`): each of the 16 client slots offers the
  ticket its last connection got; "resumed" is the share of handshakes the
  server did resume (the first of each slot is full, so it is just under
  100 % when every offer is taken).
- **A TLS front costs a second hop.** stunnel4 and haproxy decrypt and
  relay to the plain echo over loopback, and the echo comes back the same
  way: that is what a TLS front for a service does, and what SPEC 17
  compares usherd's own `tls://` with. usherd-tls serves the echo in the
  process that holds the TLS connection.
- **Memory** is PSS (`/proc/PID/smaps_rollup`) summed over every process of
  the target with 1,000 idle TLS connections (each made a full handshake
  and one echo), minus the same just before, over a server started afresh
  that has served one TLS echo, divided by 1,000. For stunnel4 and haproxy
  it includes the plain usherd echo behind them (its share is shown
  apart); stunnel4's per-connection threads count as far as their stacks
  are touched. The kernel's socket memory is not in it.
- **stunnel4** (5.68) logs `pthread_join() failed` when many of its
  connection threads end at once, and has crashed (SIGSEGV) when stopped
  just after the memory run: the script waits for its threads to end
  before stopping it, and a crash, which comes after the figures are
  taken, is listed in the problems.
NOTES
}

# The TLS section: `full` inside a whole report, `alone` when only the TLS targets ran.
tls_section() {
    local wl
    echo "$TLS_BEGIN"
    printf '## TLS\n\n'
    echo 'usherd'"'"'s own `tls://` echo against stunnel4 and haproxy as TLS fronts for'
    echo 'usherd'"'"'s plain echo, with `usher bench` over `tls://` as the client,'
    echo 'in rounds as above (SPEC 17: TLS 1.3, ECDSA P-256).'
    [ "$1" != alone ] || alone_note tls
    echo "The TLS rounds took $((${ELAPSED[tls]:-0} / 60)) min $((${ELAPSED[tls]:-0} % 60)) s."
    printf '\n### TLS machine\n\n'
    tls_machine
    printf "\n### TLS commands\n\nThe client, for each workload (PORT is the target's port):\n\n"
    for wl in $TLS_WORKLOADS; do printf '    %s\n' "$(client_line "$wl")"; done
    printf '\nWhat each server chose (`openssl s_client`, after one echo):\n\n'
    printf '| target | protocol | cipher suite | key exchange | session tickets per handshake |\n'
    printf '| --- | --- | --- | --- | ---: |\n'
    cat "$B/tls-params.md" 2>/dev/null || true
    printf '\nThe servers, each started alone, with its config:\n'
    cat "$(T=usherd-tls family_file "$SERVERS")" 2>/dev/null || true
    printf '\n### TLS results\n'
    for wl in $TLS_WORKLOADS; do tls_table "$wl"; done
    printf '\n### TLS targets\n\n'
    echo 'Medians over medians; "every run" when the lowest and highest runs'
    echo 'agree with the medians, "the runs overlap" when some pair of runs would'
    echo 'say otherwise.'
    echo
    tls_targets
    section_end TLS tls_notes usherd-tls "$TLS_END"
}

# The end of a family's section: WHAT's notes (NOTES, a function), the
# problems its runs met (those of MEMBER's family), and its END marker.
section_end() {
    local what=$1 notes=$2 member=$3 end=$4 probs
    printf '\n### Notes on the %s figures\n\n' "$what"
    "$notes"
    printf '\n### Problems seen in the %s runs\n\n' "$what"
    probs=$(T=$member family_file "$PROBLEMS")
    if [ -s "$probs" ]; then cat "$probs"; else echo "None."; fi
    echo "$end"
}

# --- The forwarding section ------------------------------------------------------

FWD_BEGIN='<!-- forwarding section: bench/run.sh rewrites it; BENCH_ONLY=forward rewrites only it -->'
FWD_END='<!-- end of the forwarding section -->'
FWD_ROWS="usherd-fwd usherd-fwd-workers2 haproxy-fwd socat-fwd direct"
PXY_ROWS="usherd-echo usherd-echo-proxy2"

# A forwarding workload's table: the relays and the echo alone, over haproxy, socat and direct.
fwd_table() {
    case $1 in
    *hold*) cost_table "$1" "$FWD_ROWS" "haproxy-fwd:haproxy socat-fwd:socat" ;;
    *) cost_table "$1" "$FWD_ROWS" "haproxy-fwd:haproxy socat-fwd:socat direct:direct" ;;
    esac
}

# The rounds' figures of WL for target $2, in the order the rounds ran, one a line.
round_values() {
    awk -F'\t' -v w="$1" -v t="$2" '$1 == w && $2 == t { print $3 }' "$RESULTS"
}

# The PROXY pair's cost on WL, against the 5 % of SPEC 17: the rate lost
# to the header, as the median of the rounds' own costs (each round runs
# the two back to back, so a slow spell of the machine falls on both),
# "every round" when all of them agree with the verdict; and the cost
# between the two medians, which a slow spell on one side can move.
proxy_verdict() {
    local wl=$1 a b
    a=$(summary "$wl" usherd-echo-proxy2) b=$(summary "$wl" usherd-echo)
    if [ -z "$a" ] || [ -z "$b" ]; then
        echo "not measured"
        return 0
    fi
    paste <(round_values "$wl" usherd-echo-proxy2) <(round_values "$wl" usherd-echo) |
        awk -v a="$a" -v b="$b" -F'\t' '
        $1 != "" && $2 > 0 { c[++n] = 100 * (1 - $1 / $2) }
        $1 == "" || $2 == "" { unpaired = 1 }
        END {
            split(a, x, "\t"); split(b, y, "\t"); between = 100 * (1 - x[1] / y[1])
            if (unpaired || n == 0) {
                printf "%.1f %% between the medians (%.0f/s against %.0f/s; the rounds do not pair): **%s**",
                    between, x[1], y[1], (between < 5 ? "met" : "not met")
                exit
            }
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (c[j] < c[i]) { t = c[i]; c[i] = c[j]; c[j] = t }
            cost = n % 2 ? c[(n + 1) / 2] : (c[n / 2] + c[n / 2 + 1]) / 2
            agree = 0
            for (i = 1; i <= n; i++) agree += ((c[i] < 5) == (cost < 5))
            printf "%.1f %%, the median of the %d rounds'"'"' costs (from %.1f to %.1f %%; between the medians, %.0f/s against %.0f/s: %.1f %%): **%s** (%s)",
                cost, n, c[1], c[n], x[1], y[1], between, (cost < 5 ? "met" : "not met"),
                (agree == n ? "every round" : agree " of " n " rounds agree") }'
}

# "+N.N % (A µs against B µs)": figure FIG of T over the same of REF.
more_than() {
    local fig=$1 t=$2 ref=$3 a b
    a=$(med "$fig" "$t") b=$(med "$fig" "$ref")
    if [ -z "$a" ] || [ -z "$b" ]; then
        echo "not measured"
        return 0
    fi
    awk -v a="$a" -v b="$b" -v u="$4" 'BEGIN {
        if (b > 0) printf "%+.1f %% (%.1f %s against %.1f %s)", 100 * (a / b - 1), a, u, b, u
        else printf "—" }'
}

fwd_targets() {
    local t wl peer want what
    printf '| SPEC 17 asks | target | measured |\n'
    printf '| --- | --- | --- |\n'
    for what in "fwd-connect16 haproxy-fwd 1.0 connect-relay-close rate, 16 clients, at least haproxy's" \
        "fwd-connect16 socat-fwd 3.0 connect-relay-close rate, 16 clients, at least 3× socat's" \
        "fwd-bulk haproxy-fwd 1.0 bulk MB/s at least haproxy's" \
        "fwd-bulk socat-fwd 3.0 bulk MB/s at least 3× socat's"; do
        read -r wl peer want what <<<"$what"
        for t in usherd-fwd usherd-fwd-workers2; do
            selected "$t" || continue
            printf '| %s | %s | %s |\n' "$what" "$t" "$(verdict "$wl" "$t" "$peer" "$want")"
        done
    done
    for wl in pxy-connect16 pxy-connect1; do
        printf '| PROXY v2 in front costs under 5 %%: the rate lost, connect, %s | usherd-echo-proxy2 | %s |\n' \
            "$(case $wl in *16) echo 16 clients ;; *) echo 1 client ;; esac)" "$(proxy_verdict "$wl")"
    done
    printf '| (not in SPEC 17) server CPU per connection with PROXY v2, over without, 16 clients | usherd-echo-proxy2 | %s |\n' \
        "$(more_than pxy-connect16:cpu usherd-echo-proxy2 usherd-echo µs)"
    for t in usherd-fwd usherd-fwd-workers2; do
        selected "$t" || continue
        printf '| (not in SPEC 17) pingpong through the relay, 64 connections, over haproxy'"'"'s | %s | %s |\n' \
            "$t" "$(verdict fwd-pingpong64 "$t" haproxy-fwd 1.0)"
        printf '| (not in SPEC 17) server CPU per relayed connection, front and echo, over haproxy'"'"'s | %s | %s |\n' \
            "$t" "$(more_than fwd-connect16:cpu "$t" haproxy-fwd µs)"
        printf '| (not in SPEC 17) memory per idle relayed connection, front and echo | %s | %s B (haproxy %s B, socat %s B, the echo alone %s B) |\n' \
            "$t" "$(fmt %.0f "$(med fwd-hold1000 "$t")")" "$(fmt %.0f "$(med fwd-hold1000 haproxy-fwd)")" \
            "$(fmt %.0f "$(med fwd-hold1000 socat-fwd)")" "$(fmt %.0f "$(med fwd-hold1000 direct)")"
    done
}

fwd_machine() {
    machine_head
    machine_build
    echo "| peers | $(dpkg-query -W -f '${Package}_${Version} ' haproxy socat 2>/dev/null || true)|"
    echo "| runs | $RUNS per figure, $SECS s each, in $RUNS rounds over the forwarding targets |"
    echo "| load average (1, 5, 15 min) | ${LOAD0[forward]:-?} before the first round, ${LOAD1[forward]:-?} after the last, which counts the bench's own work: the first says how busy the machine was |"
}

fwd_notes() {
    cat <<'NOTES'
- **One backend for all.** Every relay forwards to the same kind of
  backend: usherd's plain builtin echo, `model = event`, one process and
  one event loop, started with the relay as one target on a port of its
  own. `direct` is that echo alone with the client straight on it: what
  the machine does with no relay at all, the limit every relay is under.
  A relayed connection is two TCP connections on loopback (client to
  relay, relay to echo) and every byte crosses the relay twice, in and
  out, each way.
- **Who uses the two cores.** Client, relay and echo share the machine's
  two cores, and others may be using them too. usherd-fwd is one process
  with one event loop; usherd-fwd-workers2 is usherd's main process and
  two worker processes, each one event loop; haproxy is one process with
  `nbthread 2` threads (its default on two cores, written out); socat
  forks a process per connection, which relays with its own read/write
  loop. The client, `usher bench`, is one process with one thread: when
  "client cores" is near 1.00 the client is what limits the rate, and
  "server CPU" (relay and echo together) is the figure that tells the
  relays apart. A relay with two threads or processes competes with the
  client and the echo for the same two cores, and, when others use the
  machine too, the scheduler's fair share gives a target with more
  threads more of the cores: "server cores" shows how much each had, so a
  rate is best read with the server CPU per unit beside it.
- **Server CPU** is the user and system time (`/proc/PID/stat`) of every
  process of the target, relay and echo behind it, and of the children
  they have waited for (socat's per-connection processes), over the run,
  divided by the connections, round trips or megabytes echoed; "server
  cores" is that time over the run's length, "client cores" the same for
  `usher bench`. The kernel's clock tick is 10 ms, a few per cent of a
  1-second run.
- **connect** is, per transaction: a TCP connect to the relay, which
  connects to the echo, 64 bytes there and back through both, then the
  client's reset (as in the plain tables, so that no client port waits in
  TIME_WAIT). usherd and haproxy pass the reset on to the echo as a reset;
  socat closes its side normally.
- **bulk 3× socat's** is in SPEC 17's sentence, which this table reads as
  applying to both figures; for bulk it is out of any relay's reach here:
  socat's one process per connection copies with read and write at a few
  hundred MB/s, and the echo alone, with no relay at all, is only about
  3.5× that on these two cores.
- **The PROXY pair** is usherd's plain echo twice, the same process and
  config but for `proxy_protocol = v2` and `proxy_from = 127.0.0.1`, the
  second driven by `usher bench --proxy v2`: each connection first sends a
  28-byte v2 header naming its own address, in the same sendmsg as the
  request, as a balancer that has the client's first bytes sends them. The
  rate's cost counts the client's share too (a getsockname per
  connection), so it bounds the server's from above; the server CPU row
  gives the server's alone. The two are measured one after the other in
  each round, a second each, so the verdict takes the median of the
  rounds' own costs (a slow spell then falls on both sides of a pair)
  and gives their range: on a shared machine one round's cost moves by
  more than the 5 % asked, so only the median of several means much, and
  "every round" is rare.
- **Memory** is PSS (`/proc/PID/smaps_rollup`) summed over every process of
  the target with 1,000 idle relayed connections (each made one echo round
  trip), minus the same just before, over a target started afresh that
  has relayed one echo, divided by 1,000; the echo behind is in it (its
  share is shown apart). The kernel's socket memory, twice as many sockets
  for a relay, is not in it.
NOTES
}

# The forwarding section: `full` inside a whole report, `alone` when its targets ran without the plain ones.
fwd_section() {
    local wl probs
    echo "$FWD_BEGIN"
    printf '## Forwarding\n\n'
    echo 'usherd'"'"'s `forward` against haproxy `mode tcp` and socat as TCP relays'
    echo 'for the same plain echo, and that echo alone; then the cost of the PROXY'
    echo 'protocol v2 in front of a service (SPEC 17), with `usher bench` as the'
    echo 'client, in rounds as above.'
    [ "$1" != alone ] || alone_note forward
    echo "The forwarding rounds took $((${ELAPSED[forward]:-0} / 60)) min $((${ELAPSED[forward]:-0} % 60)) s."
    printf '\n### Forwarding machine\n\n'
    fwd_machine
    printf "\n### Forwarding commands\n\nThe client, for each workload (PORT is the target's port):\n\n"
    for wl in $FWD_WORKLOADS $PXY_WORKLOADS; do printf '    %s\n' "$(client_line "$wl")"; done
    printf '\n`--proxy v2` for usherd-echo-proxy2 only.\n'
    printf '\nThe servers, each started alone, with its config:\n'
    cat "$(T=usherd-fwd family_file "$SERVERS")" 2>/dev/null || true
    printf '\n### Forwarding results\n'
    for wl in $FWD_WORKLOADS; do fwd_table "$wl"; done
    printf '\n### The PROXY protocol'"'"'s cost\n'
    for wl in $PXY_WORKLOADS; do cost_table "$wl" "$PXY_ROWS" "usherd-echo:usherd-echo"; done
    printf '\n### Forwarding targets\n\n'
    echo 'Medians over medians; "every run" when the lowest and highest runs'
    echo 'agree with the medians, "the runs overlap" when some pair of runs would'
    echo 'say otherwise. The PROXY rows pair the rounds instead (see the notes).'
    echo
    fwd_targets
    section_end forwarding fwd_notes usherd-fwd "$FWD_END"
}

# --- The exec section ------------------------------------------------------------

EXEC_BEGIN='<!-- exec section: bench/run.sh rewrites it; BENCH_ONLY=exec rewrites only it -->'
EXEC_END='<!-- end of the exec section -->'
EXEC_PEERS="tcpserver xinetd inetd rlinetd socat"

# "median name" of the best exec peer running /bin/$2 on workload $1 (highest rate).
exec_best_peer() {
    local wl=$1 prog=$2 p s best="" name=""
    for p in $EXEC_PEERS; do
        s=$(med "$wl" "x-$p-$prog")
        [ -n "$s" ] || continue
        if [ -z "$best" ] || awk -v s="$s" -v b="$best" 'BEGIN { exit !(s > b) }'; then best=$s name=x-$p-$prog; fi
    done
    echo "$best $name"
}

# One exec workload's table for /bin/$2: rates and the daemon's CPU per connection.
exec_table() {
    local wl=$1 prog=$2 t s med min max p50 p99 err n notes="" why bp bpname
    read -r bp bpname <<<"$(exec_best_peer "$wl" "$prog")"
    printf '\n#### /bin/%s: %s\n\n`%s`; best peer: %s.\n\n' "$prog" "${WL_TITLE[$wl]}" \
        "$(client_line "$wl") ($(target_opts "x-x-$prog"))" "${bpname:-none measured}"
    printf '| target | median | min | max | × best peer | × floor | daemon CPU µs per connection | × tcpserver'"'"'s | × floor'"'"'s | p50 µs | p99 µs | errors |\n'
    printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
    for t in $EXEC_TARGETS; do
        case $t in *-"$prog") ;; *) continue ;; esac
        selected "$t" || continue
        measured "$wl" "$t" || continue
        [ "$err" -eq 0 ] || notes="$notes- $t: $err errors in $n runs (see the problems below)"$'\n'
        printf '| %s | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s | %.0f | %.0f | %s |\n' "$t" "$med" "$min" "$max" \
            "$(ratio "$med" "$bp")" "$(ratio "$med" "$(med "$wl" "x-floor-$prog")")" \
            "$(fmt %.1f "$(med "$wl:dcpu" "$t")")" \
            "$(ratio "$(med "$wl:dcpu" "$t")" "$(med "$wl:dcpu" "x-tcpserver-$prog")")" \
            "$(ratio "$(med "$wl:dcpu" "$t")" "$(med "$wl:dcpu" "x-floor-$prog")")" "$p50" "$p99" "$err"
    done
    [ -z "$notes" ] || printf '\nNot in the table, or with errors:\n\n%s' "$notes"
}

# The builtins' table: x-echo over x-ref, as the median of the medians and of the rounds' own ratios.
echo_table() {
    local wl a b
    printf '| workload | usherd, builtin echo (median) | reference (median) | × reference, medians | × reference, the median of the rounds'"'"' ratios (range) | at least 1.0× |\n'
    printf '| --- | ---: | ---: | ---: | ---: | --- |\n'
    for wl in $ECHO_WORKLOADS; do
        a=$(med "$wl" x-echo) b=$(med "$wl" x-ref)
        if [ -z "$a" ] || [ -z "$b" ]; then
            printf '| %s | — | — | — | — | not measured |\n' "$wl"
            continue
        fi
        paste <(round_values "$wl" x-echo) <(round_values "$wl" x-ref) |
            awk -F'\t' -v a="$a" -v b="$b" -v wl="$wl" '
            $1 != "" && $2 > 0 { r[++n] = $1 / $2 }
            END {
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
                m = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
                printf "| %s | %.0f | %.0f | %.2f | %.2f (%.2f to %.2f) | **%s** |\n", wl, a, b, a / b, m, r[1], r[n],
                    (a / b >= 1.0 ? "met" : "not met") }'
    done
}

# "R×: met/not met (A against B µs)": the daemon CPU of T over REF's on WL, against at most WANT.
cpu_verdict() {
    local wl=$1 t=$2 ref=$3 want=$4 a b
    a=$(med "$wl:dcpu" "$t") b=$(med "$wl:dcpu" "$ref")
    if [ -z "$a" ] || [ -z "$b" ]; then
        echo "not measured"
        return 0
    fi
    awk -v a="$a" -v b="$b" -v w="$want" 'BEGIN { r = a / b
        printf "%.2f× (%.1f against %.1f µs): **%s**", r, a, b, (r <= w ? "met" : "not met") }'
}

# "met/not met": T's median rate on WL above the best exec peer's for its program.
rate_verdict() {
    local wl=$1 t=$2 prog=${2##*-} a bp bpname
    a=$(med "$wl" "$t")
    read -r bp bpname <<<"$(exec_best_peer "$wl" "$prog")"
    if [ -z "$a" ] || [ -z "$bp" ]; then
        echo "not measured"
        return 0
    fi
    awk -v a="$a" -v b="$bp" -v n="$bpname" 'BEGIN {
        printf "%.2f× %s (%.0f/s against %.0f/s): **%s**", a / b, n, a, b, (a > b ? "met" : "not met") }'
}

exec_targets() {
    local t prog wl
    printf '| asked | target | measured |\n'
    printf '| --- | --- | --- |\n'
    for t in $EXEC_USHERD; do
        selected "$t" || continue
        prog=${t##*-}
        printf '| daemon CPU per connection at most 0.5× tcpserver'"'"'s, /bin/%s, 4 clients | %s | %s |\n' \
            "$prog" "$t" "$(cpu_verdict ex-cpu4 "$t" "x-tcpserver-$prog" 0.5)"
        printf '| daemon CPU per connection at most 1.3× the floor'"'"'s, /bin/%s, 4 clients | %s | %s |\n' \
            "$prog" "$t" "$(cpu_verdict ex-cpu4 "$t" "x-floor-$prog" 1.3)"
        for wl in ex-connect1 ex-connect16; do
            printf '| connection rate above every peer'"'"'s, /bin/%s, %s | %s | %s |\n' "$prog" \
                "$(case $wl in *16) echo 16 clients ;; *) echo 1 client ;; esac)" "$t" "$(rate_verdict "$wl" "$t")"
        done
    done
}

exec_machine() {
    machine_head
    machine_build
    echo "| peers | $(for deb in $(cat "$B/debs/unpacked" 2>/dev/null); do dpkg-deb -W --showformat '${Package}_${Version} ' "$deb"; done)$(dpkg-query -W -f '${Package}_${Version} ' ucspi-tcp socat 2>/dev/null || true)|"
    echo "| runs | $RUNS per figure, $SECS s each, in $RUNS rounds over the exec targets |"
    echo "| load average (1, 5, 15 min) | ${LOAD0[exec]:-?} before the first round, ${LOAD1[exec]:-?} after the last, which counts the bench's own work: the first says how busy the machine was |"
}

exec_notes() {
    cat <<'NOTES'
- **The machine was shared.** Others were building and testing on the
  same two cores during the run: every figure is the median of rounds
  that start, measure and stop each target in turn, so that a busy spell
  falls on all of them alike, and min and max show how much it moved.
- **The daemon's CPU** is the run time of the daemon's own task
  (`/proc/PID/schedstat`, first field, in nanoseconds) over the run,
  divided by the connections: for usherd, tcpserver, the floor and each
  inetd its one process; for socat the listening process (the processes
  it forks per connection run the relay and the exec, and are not
  counted). The programs' time is theirs, and so is what a child does
  between its clone and its exec. It is measured on every exec workload;
  the targets use the 4-client one.
- **The floor** (bench/floor_exec.c, built with the project's CFLAGS) is
  the least a super-server's process can do per connection: a blocking
  accept4, a vfork, in the child dup2 onto 0, 1 and 2 and execve with an
  empty environment, a close, and SIGCHLD ignored so that the kernel
  reaps. No environment, no log, no exit status, no limits.
- **usherd** runs with `-q` (no line per connection) and its defaults
  otherwise: `stderr = log` gives each child a pipe whose lines are
  logged tagged with its pid; `stderr = null` gives it /dev/null. Each
  child gets the SPEC 5 environment, its own session, exactly fds 0-2,
  and its exit status is reaped and counted.
- **/bin/true** says nothing and closes: the client (`-s 0`) connects
  and waits for that close. **/bin/cat** echoes 64 bytes, then the client
  resets the connection. Each connect closes by reset, as in the plain
  tables, so no client port waits in TIME_WAIT.
- **The builtins' ratios** come from rounds of their own, usherd's
  builtin echo (`model = event`) and the reference alternating within
  each, as the median of the medians and the median of the rounds' own
  ratios.
NOTES
}

# The exec section: `full` inside a whole report, `alone` when only the exec targets ran.
exec_section() {
    local wl prog probs
    echo "$EXEC_BEGIN"
    printf '## Exec services\n\n'
    echo 'usherd'"'"'s exec services against tcpserver, xinetd, openbsd-inetd,'
    echo 'rlinetd and socat running /bin/true and /bin/cat per connection, and'
    echo 'the floor; then usherd'"'"'s builtin echo against the reference, with'
    echo '`usher bench` as the client, in rounds as above.'
    [ "$1" != alone ] || alone_note exec
    echo "The exec rounds took $((${ELAPSED[exec]:-0} / 60)) min $((${ELAPSED[exec]:-0} % 60)) s."
    printf '\n### Exec machine\n\n'
    exec_machine
    printf '\n### Exec targets\n\n'
    exec_targets
    printf '\n### Builtin echo against the reference\n\n'
    echo_table
    printf "\n### Exec commands\n\nThe client, for each workload (PORT is the target's port; \`-s 0\` for /bin/true, \`-s 64\` for /bin/cat):\n\n"
    for wl in $EXEC_WORKLOADS; do printf '    %s\n' "$(client_line "$wl")"; done
    printf '\nThe servers, each started alone, with its config:\n'
    cat "$(T=x-ref family_file "$SERVERS")" 2>/dev/null || true
    printf '\n### Exec results\n'
    for wl in $EXEC_WORKLOADS; do
        for prog in true cat; do exec_table "$wl" "$prog"; done
    done
    section_end exec exec_notes x-ref "$EXEC_END"
}

# What a section written alone says of the rest of the file.
alone_note() {
    local what
    case $1 in tls) what="the TLS targets" ;; exec) what="the exec targets" ;; *) what="the forwarding targets" ;; esac
    echo "This section was written by a run of $what alone"
    echo "(\`BENCH_ONLY=$1 make bench\`), which rewrites only this section: the"
    echo 'figures of the other sections come from the earlier runs they describe'
    echo 'and were kept as they were.'
}

# The plain targets' report: everything but the TLS and forwarding sections.
plain_report() {
    local wl elapsed=$1
    echo '# Benchmarks'
    echo
    echo 'Written by `make bench` (bench/run.sh), which builds usherd, usher and a'
    echo 'hand-written reference echo server, installs the peers (xinetd,'
    echo 'openbsd-inetd, rlinetd, tcpserver from ucspi-tcp, socat; stunnel4 and'
    echo 'haproxy for the TLS section, haproxy and socat as TCP relays for the'
    echo 'forwarding section, both at the end), runs every workload against'
    echo 'every target on 127.0.0.1 with `usher bench` as the client, and writes'
    echo 'this file. It is not part of `make test` or CI. This'
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
}

# The markers around each family's section.
declare -A SECTION_BEGIN SECTION_END
SECTION_BEGIN=([tls]=$TLS_BEGIN [forward]=$FWD_BEGIN [exec]=$EXEC_BEGIN)
SECTION_END=([tls]=$TLS_END [forward]=$FWD_END [exec]=$EXEC_END)

# The section of family $1 (tls or forward): `full` inside a whole report, `alone` by itself.
section() {
    case $1 in
    tls) tls_section "$2" ;;
    forward) fwd_section "$2" ;;
    exec) exec_section "$2" ;;
    esac
}

# Family $1's section of the report file $2, markers included (nothing if it has none).
old_section() {
    [ -f "$2" ] || return 0
    awk -v b="${SECTION_BEGIN[$1]}" -v e="${SECTION_END[$1]}" '$0 == b { on = 1 } on { print } $0 == e { on = 0 }' "$2"
}

# The report file $2 with family $1's section replaced by the file $3 (or $3 added at its end).
merge_section() {
    local b=${SECTION_BEGIN[$1]} e=${SECTION_END[$1]} new=$3
    if grep -qxF "$b" "$2"; then
        awk -v b="$b" -v e="$e" -v f="$new" '
            $0 == b { while ((getline line < f) > 0) print line; skip = 1; next }
            skip && $0 == e { skip = 0; next }
            !skip { print }' "$2"
    else
        cat "$2"
        echo
        cat "$new"
    fi
}

# A run with plain targets writes the whole file (keeping the TLS and
# forwarding sections it finds if none of their targets ran); a run
# without plain targets rewrites only the sections of the families that
# ran, in the file there is.
write_report() {
    local elapsed=$(($(date +%s) - START)) old fam
    mkdir -p "$(dirname "$OUT")"
    if any_selected $TARGETS; then
        {
            plain_report "$elapsed"
            for fam in tls forward exec; do
                if family_selected "$fam"; then
                    echo
                    section "$fam" full
                else
                    old=$(old_section "$fam" "$OUT")
                    [ -z "$old" ] || printf '\n%s\n' "$old"
                fi
            done
        } >"$OUT.tmp"
    else
        if [ -f "$OUT" ]; then cp "$OUT" "$OUT.tmp"; else printf '# Benchmarks\n' >"$OUT.tmp"; fi
        for fam in tls forward exec; do
            family_selected "$fam" || continue
            section "$fam" alone >"$B/$fam-section.md"
            merge_section "$fam" "$OUT.tmp" "$B/$fam-section.md" >"$OUT.merged"
            mv "$OUT.merged" "$OUT.tmp"
        done
    fi
    mv "$OUT.tmp" "$OUT"
    say "wrote ${OUT#"$ROOT"/}"
}

selected() {
    [ -z "$ONLY" ] && return 0
    case " $ONLY " in *" $1 "* | *" $(family "$1") "*) return 0 ;; esac
    return 1
}

# Is any target of family $1 selected?
family_selected() {
    # shellcheck disable=SC2046 # the targets, as words
    any_selected $(targets_of "$1")
}

# Is any of the targets given selected?
any_selected() {
    local t
    for t in "$@"; do
        if selected "$t"; then return 0; fi
    done
    return 1
}

main() {
    if [ "$(id -u)" != 0 ]; then
        say "needs root: it installs the peers with apt-get and binds port 7 for openbsd-inetd"
        exit 2
    fi
    START=$(date +%s)
    mkdir -p "$B"
    rm -f "$RESULTS" "$SKIPS" "$PROBLEMS" "$SERVERS" "$PIDS" "$B/config.md" "$B/bench.err" "$B"/*.log \
        "$(T=usherd-tls family_file "$PROBLEMS")" "$(T=usherd-tls family_file "$SERVERS")" "$B/tls-params.md" \
        "$(T=usherd-fwd family_file "$PROBLEMS")" "$(T=usherd-fwd family_file "$SERVERS")" \
        "$(T=x-ref family_file "$PROBLEMS")" "$(T=x-ref family_file "$SERVERS")"
    touch "$RESULTS" "$SKIPS" "$PIDS"
    trap cleanup EXIT
    trap 'exit 130' INT TERM HUP
    build
    install_peers
    for ((round = 1; round <= RUNS; round++)); do
        for fam in $FAMILIES; do family_round "$fam" "$round"; done
    done
    for t in $TARGETS $TLS_TARGETS $FWD_TARGETS $EXEC_TARGETS; do
        if selected "$t"; then finish_target "$t"; fi
    done
    T=""
    write_report
    say "done in $(($(date +%s) - START)) s"
}

main "$@"
