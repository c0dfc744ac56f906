#!/bin/sh
# Tests of `make install` and `make uninstall`: the systemd units land in
# the unit directory of the PREFIX with the installed path of usherd in
# them, systemd accepts them (systemd-analyze verify, skipped without it),
# the service unit stays hardened (systemd-analyze security), and uninstall
# leaves no file behind.  Prints "ok"/"FAIL" per case, then "# test_install:
# N passed, M failed, K skipped" for tests/run.sh.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
suite=test_install
passed=0
failed=0
skipped=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

ok() {
    echo "ok $1"
    passed=$((passed + 1))
}
fail() {
    echo "FAIL $1: $2"
    failed=$((failed + 1))
}
skip() {
    echo "skip $1: $2"
    skipped=$((skipped + 1))
}

# inst DESTDIR PREFIX TARGET: make TARGET there, quietly; its output in $tmp/make.out.
inst() {
    make -s -C "$root" "$3" DESTDIR="$1" PREFIX="$2" >"$tmp/make.out" 2>&1
}

case_usr_prefix_units() {
    # PREFIX=/usr: the units go to /usr/lib/systemd/system and name /usr/sbin/usherd.
    name=usr_prefix_units
    d=$tmp/usr-dest
    u=$d/usr/lib/systemd/system
    if ! inst "$d" /usr install; then
        fail $name "make install: $(cat "$tmp/make.out")"
    elif [ ! -f "$u/usherd.service" ] || [ ! -f "$u/usherd.socket" ]; then
        fail $name "no units in $u: $(find "$d" -type f)"
    elif ! grep -qx 'ExecStart=/usr/sbin/usherd -f /etc/usherd.conf -p /run/usherd/usherd.pid' \
        "$u/usherd.service" ||
        ! grep -qx 'ExecReload=/usr/sbin/usherd -s reload -p /run/usherd/usherd.pid' \
            "$u/usherd.service"; then
        fail $name "ExecStart, ExecReload: $(grep Exec "$u/usherd.service")"
    elif grep -q '@SBINDIR@\|/usr/local' "$u/usherd.service"; then
        fail $name "unsubstituted path: $(grep '@\|/usr/local' "$u/usherd.service")"
    elif [ ! -x "$d/usr/sbin/usherd" ] || [ ! -f "$d/usr/share/doc/usher/usherd.conf.example" ]; then
        fail $name "binary or example missing: $(find "$d" -type f)"
    else
        ok $name
    fi
}

case_uninstall_leaves_nothing() {
    # install then uninstall with the same DESTDIR and PREFIX: no file left.
    name=uninstall_leaves_nothing
    d=$tmp/un-dest
    if ! inst "$d" /usr install || ! inst "$d" /usr uninstall; then
        fail $name "make: $(cat "$tmp/make.out")"
    elif [ -n "$(find "$d" ! -type d)" ]; then
        fail $name "left behind: $(find "$d" ! -type d)"
    elif [ -e "$d/usr/share/doc/usher" ]; then
        fail $name "doc directory left behind"
    else
        ok $name
    fi
}

case_other_prefix_units() {
    # Any other PREFIX: PREFIX/lib/systemd/system, naming PREFIX/sbin/usherd;
    # there the paths in the units exist, so systemd can check them.
    name=other_prefix_units_verify
    p=$tmp/opt
    u=$p/lib/systemd/system
    if ! inst "" "$p" install; then
        fail $name "make install: $(cat "$tmp/make.out")"
    elif ! grep -qx "ExecStart=$p/sbin/usherd -f /etc/usherd.conf -p /run/usherd/usherd.pid" \
        "$u/usherd.service"; then
        fail $name "ExecStart: $(grep Exec "$u/usherd.service" 2>&1)"
    elif ! command -v systemd-analyze >/dev/null 2>&1; then
        skip $name "no systemd-analyze (Debian package systemd)"
    elif ! out=$(systemd-analyze verify --man=no "$u/usherd.service" "$u/usherd.socket" 2>&1) ||
        [ -n "$out" ]; then
        fail $name "systemd-analyze verify: $out"
    else
        ok $name
    fi
}

case_service_is_hardened() {
    # systemd-analyze security rates the installed unit 3.0 (9.6 before
    # hardening); anything above 4.0 means a sandboxing line was lost.
    name=service_is_hardened
    u=$tmp/opt/lib/systemd/system/usherd.service
    if ! command -v systemd-analyze >/dev/null 2>&1; then
        skip $name "no systemd-analyze (Debian package systemd)"
        return
    fi
    line=$(systemd-analyze security --offline=true "$u" 2>&1 | grep 'Overall exposure level')
    score=$(echo "$line" | sed -n 's/.*: \([0-9]*\.[0-9]\).*/\1/p')
    if [ -z "$score" ]; then
        fail $name "no score: $(systemd-analyze security --offline=true "$u" 2>&1 | tail -n 3)"
    elif [ "$(echo "$score" | tr -d .)" -gt 40 ]; then
        fail $name "exposure $score > 4.0"
    else
        echo "# $line"
        ok $name
    fi
}

case_usr_prefix_units
case_uninstall_leaves_nothing
case_other_prefix_units
case_service_is_hardened

echo "# $suite: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
