#!/usr/bin/env bash
# bench/metrics.sh: the cost of `builtin = metrics` (SPEC 17), run by
# `make bench` after bench/run.sh, or alone (`make bench-metrics`).
#
#   1. Scrape latency: one usherd (model event) with 100 echo services and
#      a metrics service, 10,000 idle connections held open on one of them
#      (bench/hold), then BENCH_SCRAPES scrapes of /metrics and of /status,
#      one connection each, timed by curl (time_total: connect to the last
#      byte).  Target: under 5 ms.
#   2. Scraping never slows serving: the echo connect rate (usher bench
#      connect -c 16, as in the main tables) in rounds that alternate
#      "unscraped" and "scraped 10 times a second" (a curl loop), medians
#      over the rounds.  Target: under 2 % lower.
#
# Writes its section of docs/benchmarks.md between two marker lines,
# keeping the rest of the file.  Every process started here is killed on
# the way out.
#
# Environment: BENCH_RUNS (rounds, 5), BENCH_SECONDS (length of a rate run,
# 2), BENCH_SCRAPES (100), BENCH_OUT (docs/benchmarks.md), CC, CFLAGS.
set -eu -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build/bench-metrics
USHER=$ROOT/build/usher
USHERD=$ROOT/build/usherd
RUNS=${BENCH_RUNS:-5}
SECS=${BENCH_SECONDS:-2}
SCRAPES=${BENCH_SCRAPES:-100}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
CC=${CC:-cc}
CFLAGS=${CFLAGS:--O2 -g}
BEGIN='<!-- metrics section: bench/metrics.sh rewrites it -->'
END='<!-- end of the metrics section -->'
PIDS=""

say() { printf 'bench-metrics: %s\n' "$*"; }

cleanup() {
    local pid
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    for pid in $PIDS; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

need() {
    command -v "$1" >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 || true
    fi
    command -v "$1" >/dev/null || { say "$1 (package $2) is missing"; exit 2; }
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
pct() { sort -g | awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i] }'; }

# The port usherd logged for service $1.
port_of() {
    sed -n "s/.*listening service=$1 addr=tcp:\/\/127.0.0.1:\([0-9]*\)$/\1/p" "$B/usherd.log" | head -n 1
}

start_usherd() {
    local i
    {
        printf '[global]\nmax_conns = 0\nshutdown_timeout = 1s\n'
        for ((i = 1; i <= 100; i++)); do
            printf '[echo%d]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nidle_timeout = 0\n' "$i"
        done
        printf '[metrics]\nlisten = tcp://127.0.0.1:0\nbuiltin = metrics\n'
    } >"$B/usherd.conf"
    : >"$B/usherd.log"
    "$USHERD" -f "$B/usherd.conf" >>"$B/usherd.log" 2>&1 &
    USHERD_PID=$!
    PIDS="$PIDS $USHERD_PID"
    for ((i = 0; i < 100; i++)); do
        grep -q 'ready' "$B/usherd.log" && break
        sleep 0.05
    done
    ECHO_PORT=$(port_of echo1)
    METRICS_PORT=$(port_of metrics)
    [ -n "$ECHO_PORT" ] && [ -n "$METRICS_PORT" ] || { say "usherd did not start"; cat "$B/usherd.log"; exit 1; }
}

# time_total of SCRAPES scrapes of $1, in ms, one per line.
scrape_times() {
    local i
    for ((i = 0; i < SCRAPES; i++)); do
        curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$METRICS_PORT$1" |
            awk '{ printf "%.3f\n", $1 * 1000 }'
    done
}

connect_rate() {
    "$USHER" bench --json -d "$SECS" -w 2 connect -c 16 -s 64 --reset "tcp://127.0.0.1:$ECHO_PORT" |
        sed -n 's/.*"rate":\([0-9.]*\).*/\1/p'
}

main() {
    local hold_pid scraper rate_plain="" rate_scraped="" r lines bytes
    mkdir -p "$B"
    need curl curl
    need python3 python3
    make -C "$ROOT" -s SANITIZE= all
    # shellcheck disable=SC2086 # CFLAGS: a list of flags
    $CC $CFLAGS -D_GNU_SOURCE -o "$B/hold" "$ROOT/bench/hold.c" -lssl -lcrypto
    start_usherd
    say "usherd pid $USHERD_PID: 100 echo services, metrics on port $METRICS_PORT"

    # 1. Scrape latency with 10,000 idle connections open.
    "$B/hold" 127.0.0.1 "$ECHO_PORT" 10000 >"$B/hold.out" 2>"$B/hold.err" &
    hold_pid=$!
    PIDS="$PIDS $hold_pid"
    for ((r = 0; r < 1200; r++)); do
        grep -q '^ready' "$B/hold.out" 2>/dev/null && break
        kill -0 "$hold_pid" 2>/dev/null || { say "hold failed: $(cat "$B/hold.err")"; exit 1; }
        sleep 0.1
    done
    curl -s "http://127.0.0.1:$METRICS_PORT/metrics" >"$B/metrics.txt"
    curl -s "http://127.0.0.1:$METRICS_PORT/status" >"$B/status.json"
    lines=$(wc -l <"$B/metrics.txt")
    bytes=$(wc -c <"$B/metrics.txt")
    ACTIVE=$(sed -n 's/^usherd_connections_active{service="echo1"} //p' "$B/metrics.txt")
    scrape_times /metrics >"$B/metrics.ms"
    scrape_times /status >"$B/status.ms"
    kill "$hold_pid"
    wait "$hold_pid" 2>/dev/null || true
    sleep 0.5

    # 2. The connect rate, unscraped and scraped 10 times a second, alternating.
    for ((r = 1; r <= RUNS; r++)); do
        rate_plain="$rate_plain $(connect_rate)"
        # One client on one kept-alive connection, as Prometheus scrapes.
        python3 -c '
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
while True:
    c.request("GET", "/metrics")
    c.getresponse().read()
    time.sleep(0.1)
' "$METRICS_PORT" &
        scraper=$!
        rate_scraped="$rate_scraped $(connect_rate)"
        kill "$scraper"
        wait "$scraper" 2>/dev/null || true
        say "round $r: unscraped ${rate_plain##* }/s, scraped ${rate_scraped##* }/s"
    done

    report "$lines" "$bytes" "$rate_plain" "$rate_scraped" >"$B/section.md"
    merge >"$OUT.tmp"
    mv "$OUT.tmp" "$OUT"
    say "wrote ${OUT#"$ROOT"/}"
}

report() {
    local lines=$1 bytes=$2 plain scraped mp ms cost
    plain=$(tr ' ' '\n' <<<"$3" | grep . | median)
    scraped=$(tr ' ' '\n' <<<"$4" | grep . | median)
    mp=$(median <"$B/metrics.ms")
    ms=$(median <"$B/status.ms")
    cost=$(awk -v a="$plain" -v b="$scraped" 'BEGIN { printf "%.1f", (a - b) / a * 100 }')
    echo "$BEGIN"
    echo '## Metrics'
    echo
    echo "Written by bench/metrics.sh on $(date -u '+%Y-%m-%d %H:%M UTC'), usherd commit"
    echo "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores,"
    echo "$(grep -m 1 '^model name' /proc/cpuinfo | sed 's/.*: //')."
    echo 'One usherd (model event) with 100 echo services and a `builtin = metrics`'
    echo 'service, all on 127.0.0.1.'
    echo
    echo "### Scrape latency, 100 services, 10,000 open connections"
    echo
    echo "bench/hold held 10,000 idle connections to one echo service (the scrape saw"
    echo "\`usherd_connections_active{service=\"echo1\"} ${ACTIVE:-?}\`); then $SCRAPES scrapes of"
    echo "each path, one connection each, timed by \`curl -w %{time_total}\` (connect to"
    echo "the last byte). /metrics was $lines lines, $bytes bytes; /status lists 1,000 of"
    echo "the connections."
    echo
    echo '| path | median ms | p90 ms | p99 ms | max ms | target |'
    echo '| --- | ---: | ---: | ---: | ---: | --- |'
    printf '| /metrics | %s | %s | %s | %s | under 5 ms: **%s** |\n' "$mp" "$(pct 90 <"$B/metrics.ms")" \
        "$(pct 99 <"$B/metrics.ms")" "$(sort -g "$B/metrics.ms" | tail -n 1)" \
        "$(awk -v m="$mp" 'BEGIN { print (m < 5 ? "met" : "not met") }')"
    printf '| /status | %s | %s | %s | %s | |\n' "$ms" "$(pct 90 <"$B/status.ms")" \
        "$(pct 99 <"$B/status.ms")" "$(sort -g "$B/status.ms" | tail -n 1)"
    echo
    echo "### The echo connect rate while scraped"
    echo
    echo "\`usher bench connect -c 16 -s 64 --reset\`, $SECS s a run, $RUNS rounds, each an"
    echo "unscraped run then a run while a client scrapes /metrics every 100 ms (about"
    echo "10 a second, on one kept-alive connection as Prometheus does), on the same usherd."
    echo
    echo '| | median connections/s | runs |'
    echo '| --- | ---: | --- |'
    echo "| unscraped | $plain |$3 |"
    echo "| scraped 10/s | $scraped |$4 |"
    echo
    echo "Cost of scraping: $cost % (target: under 2 %: **$(awk -v c="$cost" 'BEGIN { print (c < 2 ? "met" : "not met") }')**)."
    echo "The load generator, usherd and the scraper (python3) share the machine's two"
    echo "cores: the scraper's own CPU is part of what the scraped runs pay."
    echo "$END"
}

# The report with its metrics section replaced (or added at the end).
merge() {
    if [ ! -f "$OUT" ]; then
        printf '# Benchmarks\n\n'
        cat "$B/section.md"
    elif grep -qxF "$BEGIN" "$OUT"; then
        awk -v b="$BEGIN" -v e="$END" -v f="$B/section.md" '
            $0 == b { while ((getline line < f) > 0) print line; skip = 1; next }
            skip && $0 == e { skip = 0; next }
            !skip { print }' "$OUT"
    else
        cat "$OUT"
        echo
        cat "$B/section.md"
    fi
}

main "$@"
