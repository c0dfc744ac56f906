/*
 * inetd.conf compatibility (SPEC 5.1): `usherd -I FILE` and `inetd =` in
 * [global]; internal (builtin) and program lines, service names through
 * /etc/services, tcp/udp/tcp6/udp6/tcp46/udp46/unix, host: prefixes,
 * wait/nowait[.max], user[:group], argv0 apart from the program; the
 * socket as the program's stderr; RPC and tcpmux lines skipped with a
 * warning naming FILE:LINE; errors naming FILE:LINE; a reload re-reads the
 * file.
 *
 * Serving cases run in a network namespace of their own (h_private_net), so
 * that the well-known ports of the internal services (echo 7, daytime 13,
 * ...) are free whatever else runs on the machine.  (The .max of
 * nowait.max is parsed but its enforcement is not tested here.)
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write `text` ("@PROBE@" -> the probe's path) to DIR/inetd.conf; returns its path. */
static char *write_inetd(const char *text)
{
    char *path = h_fmt("%s/inetd.conf", h_tmpdir()), *out = strdup(text), *at;

    while ((at = strstr(out, "@PROBE@")) != NULL) {
        char *next = h_fmt("%.*s%s%s", (int)(at - out), out, h_exec_probe(false), at + 7);
        free(out);
        out = next;
    }
    h_write_file(path, out);
    free(out);
    return path;
}

/* usherd -f (an empty [global]) -I FILE with the given inetd.conf text, in a private net. */
static struct h_daemon *start_inetd(const char *text)
{
    h_private_net();
    return h_start("[global]\n", "-I", write_inetd(text), NULL);
}

/* Did the daemon log "listening service=SVC addr=ADDR"? */
static void expect_listening(const struct h_daemon *d, const char *svc, const char *addr)
{
    for (int i = 0; i < d->nlistens; i++)
        if (strcmp(d->listens[i].service, svc) == 0 && strcmp(d->listens[i].addr, addr) == 0)
            return;
    T_FAIL("no \"listening service=%s addr=%s\":\n%s", svc, addr, h_log(d));
}

static void echo_roundtrip(const char *addr, const char *msg)
{
    int fd = h_connect(addr);

    h_echo_roundtrip(fd, msg);
    close(fd);
}

/* The env variable NAME of a report, or NULL. */
static char *report_env(const char *report, const char *name)
{
    char key[128];
    const char *p;

    snprintf(key, sizeof(key), "\nenv %s=", name);
    p = strstr(report, key);
    return p ? strndup(p + strlen(key), strcspn(p + strlen(key), "\n")) : NULL;
}

/* --- serving ------------------------------------------------------------------ */

static void test_internal_lines_serve_builtins(void)
{
    /* Scenario: an inetd.conf with a comment, a blank line, and internal
     * lines for echo (stream tcp nowait) and daytime (dgram udp wait).
     * Asserted: services echo-tcp on tcp://0.0.0.0:7 and daytime-udp on
     * udp://0.0.0.0:13 (ports from /etc/services); echo echoes, daytime
     * answers a datagram with one ctime line ending in "\r\n". */
    struct h_daemon *d = start_inetd("# the classic ones\n"
                                     "\n"
                                     "echo    stream  tcp  nowait  root  internal\n"
                                     "daytime dgram   udp  wait    root  internal  # trailing\n");
    char reply[128];
    ssize_t n;

    expect_listening(d, "echo-tcp", "tcp://0.0.0.0:7");
    expect_listening(d, "daytime-udp", "udp://0.0.0.0:13");
    T_EQ_INT(d->nlistens, 2);
    echo_roundtrip("tcp://127.0.0.1:7", "hello inetd");
    n = h_dgram_exchange("udp://127.0.0.1:13", "x", 1, reply, sizeof(reply) - 1, 5000);
    if (n != 26)
        T_FAIL("daytime answered %zd bytes, wanted 26 (a ctime line and CRLF)", n);
    reply[n] = '\0';
    T_ASSERT(strcmp(reply + 24, "\r\n") == 0);
}

static void test_program_line_runs_with_argv0_and_user_group(void)
{
    /* Scenario: "17200 stream tcp nowait nobody:nogroup PROBE in.probe
     * report --flag".  Asserted: service 17200-tcp on tcp://0.0.0.0:17200;
     * the program PROBE runs with argv[0] "in.probe" (as inetd gives it),
     * then "report", "--flag"; as nobody:nogroup; USHER_SERVICE=17200-tcp. */
    const struct passwd *pw = getpwnam("nobody");
    const struct group *gr = getgrnam("nogroup");
    struct h_daemon *d;
    char *report;

    if (pw == NULL || gr == NULL)
        t_skip("no user nobody or group nogroup here");
    d = start_inetd("17200 stream tcp nowait nobody:nogroup @PROBE@ in.probe report --flag\n");
    expect_listening(d, "17200-tcp", "tcp://0.0.0.0:17200");
    report = h_probe_report("tcp://127.0.0.1:17200");
    T_EQ_STR(h_probe_value(report, "argv 0"), "in.probe");
    T_EQ_STR(h_probe_value(report, "argv 1"), "report");
    T_EQ_STR(h_probe_value(report, "argv 2"), "--flag");
    T_ASSERT(h_line_value(report, "argv 3") == NULL);
    T_EQ_STR(h_probe_value(report, "uid"), h_fmt("%u %u %u", pw->pw_uid, pw->pw_uid, pw->pw_uid));
    T_EQ_STR(h_probe_value(report, "gid"), h_fmt("%u %u %u", gr->gr_gid, gr->gr_gid, gr->gr_gid));
    T_EQ_STR(report_env(report, "USHER_SERVICE"), "17200-tcp");
    T_EQ_STR(report_env(report, "PROTO"), "TCP");
}

static void test_program_line_without_args_uses_program_as_argv0(void)
{
    /* Scenario: "17200 stream tcp nowait root /bin/echo" (no argv at all).
     * Asserted: the program runs, with argv[0] = the program: echo prints
     * an empty line. */
    struct h_daemon *d = start_inetd("17200 stream tcp nowait root /bin/echo\n");
    int fd = h_connect("tcp://127.0.0.1:17200");
    char buf[64];

    (void)d;
    T_EQ_INT(h_recv_all(fd, buf, sizeof(buf)), 1);
    T_EQ_STR(buf, "\n");
}

static void test_ipv6_only_protos(void)
{
    /* Scenario: "echo stream tcp6" and "time dgram udp6" lines.  Asserted:
     * they listen on [::] only (IPV6_V6ONLY, as inetd's tcp6): echo answers
     * over ::1 and refuses 127.0.0.1; time answers a datagram over ::1
     * (4 bytes) and nothing comes over 127.0.0.1. */
    struct h_daemon *d = start_inetd("echo stream tcp6 nowait root internal\n"
                                     "time dgram udp6 wait root internal\n");
    char reply[16];

    expect_listening(d, "echo-tcp6", "tcp://[::]:7");
    expect_listening(d, "time-udp6", "udp://[::]:37");
    echo_roundtrip("tcp://[::1]:7", "six");
    T_ASSERT(h_connect_raw("tcp://127.0.0.1:7") < 0);
    T_EQ_INT(h_dgram_exchange("udp://[::1]:37", "x", 1, reply, sizeof(reply), 5000), 4);
    T_EQ_INT(h_dgram_exchange("udp://127.0.0.1:37", "x", 1, reply, sizeof(reply), 300), -1);
}

static void test_dual_stack_protos(void)
{
    /* Scenario: "echo stream tcp46" and "daytime dgram udp46" lines.
     * Asserted: they listen on "*" (both families): echo answers over
     * 127.0.0.1 and ::1, daytime over both too. */
    struct h_daemon *d = start_inetd("echo stream tcp46 nowait root internal\n"
                                     "daytime dgram udp46 wait root internal\n");
    char reply[64];

    expect_listening(d, "echo-tcp46", "tcp://*:7");
    expect_listening(d, "daytime-udp46", "udp://*:13");
    echo_roundtrip("tcp://127.0.0.1:7", "four");
    echo_roundtrip("tcp://[::1]:7", "six");
    T_EQ_INT(h_dgram_exchange("udp://127.0.0.1:13", "x", 1, reply, sizeof(reply), 5000), 26);
    T_EQ_INT(h_dgram_exchange("udp://[::1]:13", "x", 1, reply, sizeof(reply), 5000), 26);
}

static void test_host_prefix(void)
{
    /* Scenario: "127.0.0.1:echo stream tcp" and "::1:echo stream tcp6"
     * (a bare IPv6 literal, as inetd.conf writes it).  Asserted: they listen
     * on tcp://127.0.0.1:7 and tcp://[::1]:7 exactly, and both echo. */
    struct h_daemon *d = start_inetd("127.0.0.1:echo stream tcp nowait root internal\n"
                                     "::1:echo stream tcp6 nowait root internal\n");

    expect_listening(d, "echo-tcp", "tcp://127.0.0.1:7");
    expect_listening(d, "echo-tcp6", "tcp://[::1]:7");
    echo_roundtrip("tcp://127.0.0.1:7", "v4");
    echo_roundtrip("tcp://[::1]:7", "v6");
}

static void test_nowait_max_is_accepted(void)
{
    /* Scenario: "echo stream tcp nowait.50 root internal" (inetd's spawn
     * rate).  Asserted: the line is accepted and the service serves (the
     * limit itself is not tested here). */
    struct h_daemon *d = start_inetd("echo stream tcp nowait.50 root internal\n");

    expect_listening(d, "echo-tcp", "tcp://0.0.0.0:7");
    echo_roundtrip("tcp://127.0.0.1:7", "max");
}

static void test_udp_wait_program_line(void)
{
    /* Scenario: "17201 dgram udp wait root PROBE probe udp".  Asserted:
     * service 17201-udp on udp://0.0.0.0:17201; a datagram is answered by
     * the program, which got the socket (fds 0-2) and PROTO=UDP. */
    struct h_daemon *d = start_inetd("17201 dgram udp wait root @PROBE@ probe udp\n");
    char reply[256];
    ssize_t n;

    expect_listening(d, "17201-udp", "udp://0.0.0.0:17201");
    n = h_dgram_exchange("udp://127.0.0.1:17201", "ping", 4, reply, sizeof(reply) - 1, 5000);
    if (n <= 0)
        T_FAIL("no answer from the program:\n%s", h_log(d));
    reply[n] = '\0';
    T_CONTAINS(reply, " PROTO=UDP fds=0,1,2 got=ping");
}

static void test_unix_line(void)
{
    /* Scenario: "DIR/p.sock stream unix nowait root PROBE probe report".
     * Asserted: a service listening on unix:DIR/p.sock, named after the
     * path with "-unix"; its child sees PROTO=UNIX and our pid. */
    struct h_daemon *d;
    char *sock = h_fmt("%s/p.sock", h_tmpdir()), *report;
    const char *svc = NULL;

    d = h_start("[global]\n", "-I",
                write_inetd(h_fmt("%s stream unix nowait root @PROBE@ probe report\n", sock)),
                NULL);
    for (int i = 0; i < d->nlistens; i++)
        if (strcmp(d->listens[i].addr, h_fmt("unix:%s", sock)) == 0)
            svc = d->listens[i].service;
    if (svc == NULL)
        T_FAIL("nothing listens on unix:%s:\n%s", sock, h_log(d));
    T_ASSERT(strlen(svc) > 5 && strcmp(svc + strlen(svc) - 5, "-unix") == 0);
    report = h_probe_report(h_fmt("unix:%s", sock));
    T_EQ_STR(report_env(report, "PROTO"), "UNIX");
    T_EQ_STR(report_env(report, "IPCREMOTEPID"), h_fmt("%ld", (long)getpid()));
    T_EQ_STR(report_env(report, "USHER_SERVICE"), svc);
}

static void test_inetd_key_in_global(void)
{
    /* Scenario: no -I; the usherd.conf has "inetd = DIR/inetd.conf" in
     * [global] and a service of its own.  Asserted: the inetd.conf's
     * echo-tcp and the conf's own service both listen and serve. */
    char *path = write_inetd("echo stream tcp nowait root internal\n");
    struct h_daemon *d;

    h_private_net();
    d = h_start(
        h_fmt("[global]\ninetd = %s\n[own]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", path),
        NULL);
    expect_listening(d, "echo-tcp", "tcp://0.0.0.0:7");
    echo_roundtrip("tcp://127.0.0.1:7", "from inetd.conf");
    echo_roundtrip(h_addr(d, "own", "tcp://127"), "from usherd.conf");
}

static void test_reload_rereads_inetd_conf(void)
{
    /* Scenario: -I FILE with an echo line; a daytime stream line is added
     * to FILE, then SIGHUP.  Asserted: daytime-tcp now listens on port 13
     * and answers; echo still echoes (its socket kept). */
    struct h_daemon *d = start_inetd("echo stream tcp nowait root internal\n");
    char buf[64];
    int fd;

    echo_roundtrip("tcp://127.0.0.1:7", "before");
    write_inetd("echo stream tcp nowait root internal\n"
                "daytime stream tcp nowait root internal\n");
    h_kill(d, SIGHUP);
    if (!h_wait_log(d, "listening service=daytime-tcp addr=tcp://0.0.0.0:13", 5000))
        T_FAIL("daytime-tcp not added by the reload:\n%s", h_log(d));
    T_ASSERT(h_wait_log(d, "reloaded ", 5000));
    T_ASSERT(strstr(h_log_line(d, "reloaded "), "listeners kept 1") != NULL);
    fd = h_connect("tcp://127.0.0.1:13");
    T_EQ_INT(h_recv_all(fd, buf, sizeof(buf)), 26);
    echo_roundtrip("tcp://127.0.0.1:7", "after");
}

static void test_program_stderr_goes_to_the_socket(void)
{
    /* Scenario: "17201 stream tcp nowait root DIR/err.sh err.sh", the
     * script writing one line to stderr and one to stdout.  Asserted: the
     * client receives both lines, in order (fd 2 is the socket, as inetd
     * gives it), and nothing of them reaches usherd's log. */
    char *script = h_fmt("%s/err.sh", h_tmpdir()), buf[128];
    struct h_daemon *d;
    size_t n;
    int fd;

    h_write_file(script, "#!/bin/sh\necho to-stderr >&2\necho to-stdout\n");
    T_ASSERT(chmod(script, 0755) == 0);
    d = start_inetd(h_fmt("17201 stream tcp nowait root %s err.sh\n", script));
    fd = h_connect("tcp://127.0.0.1:17201");
    n = h_recv_all(fd, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    close(fd);
    T_EQ_STR(buf, "to-stderr\nto-stdout\n");
    T_EQ_INT(h_count_log(d, "to-stderr"), 0);
}

static void test_rpc_and_tcpmux_lines_are_skipped(void)
{
    /* Scenario: between an echo line (line 1) and a daytime line (line 5):
     * an rpc/udp line, a tcpmux line and a name/version (RPC) line with
     * proto udp.  Asserted: usherd starts; echo-tcp and daytime-tcp serve
     * and are the only listeners; one warning each for lines 2, 3 and 4,
     * naming FILE:LINE and the service. */
    struct h_daemon *d = start_inetd("echo stream tcp nowait root internal\n"
                                     "rstatd/1-3 dgram rpc/udp wait root /bin/cat rpc.rstatd\n"
                                     "tcpmux stream tcp nowait root internal\n"
                                     "sprayd/1 dgram udp wait root /bin/cat rpc.sprayd\n"
                                     "daytime stream tcp nowait root internal\n");
    const char *path = h_fmt("%s/inetd.conf", h_tmpdir());
    static const char *const want[] = {
        ":2: warning: rstatd/1-3: RPC services are not supported; line skipped",
        ":3: warning: tcpmux: tcpmux services are not supported; line skipped",
        ":4: warning: sprayd/1: RPC services are not supported; line skipped",
    };
    char buf[64];
    int fd;

    T_EQ_INT(d->nlistens, 2);
    expect_listening(d, "echo-tcp", "tcp://0.0.0.0:7");
    expect_listening(d, "daytime-tcp", "tcp://0.0.0.0:13");
    echo_roundtrip("tcp://127.0.0.1:7", "still served");
    fd = h_connect("tcp://127.0.0.1:13");
    T_EQ_INT(h_recv_all(fd, buf, sizeof(buf)), 26);
    close(fd);
    for (size_t i = 0; i < ARRAY_LEN(want); i++)
        if (h_count_log(d, h_fmt("%s%s", path, want[i])) != 1)
            T_FAIL("wanted once \"%s%s\":\n%s", path, want[i], h_log(d));
}

/* --- errors --------------------------------------------------------------------- */

static void test_errors_name_file_and_line(void)
{
    /* Scenario: inetd.conf files with one bad line each, after a comment
     * line, checked with -t -I FILE.  Asserted: exit 2 and
     * "FILE:2: message" for each. */
    static const struct {
        const char *line, *message;
    } bad[] = {
        {"no-such-service stream tcp nowait root internal",
         "service 'no-such-service': not in /etc/services for tcp"},
        {"echo stream sctp nowait root internal", "proto 'sctp': expected tcp, udp, tcp6"},
        {"echo dgram tcp wait root internal", "socket type dgram does not go with proto tcp"},
        {"echo raw tcp nowait root internal", "socket type 'raw' is not supported"},
        {"echo stream tcp sometimes root internal", "'sometimes': expected wait or nowait[.max]"},
        {"echo stream tcp nowait.x root internal",
         "'nowait.x': .max must be a count of spawns per minute from 1 to 1000000"},
        {"echo stream tcp nowait.1000001 root internal",
         "'nowait.1000001': .max must be a count of spawns per minute from 1 to 1000000"},
        {"17200 stream tcp nowait no-such-user /bin/cat cat", "user: no such user 'no-such-user'"},
        {"17200 dgram udp nowait root /bin/cat cat",
         "listen: udp://0.0.0.0:17200: a datagram exec service needs wait = yes"},
        {"echo stream tcp nowait", "expected: service socktype proto wait|nowait user program"},
        {"relative.sock stream unix nowait root /bin/cat cat",
         "a unix service must be an absolute path"},
        {"17200 stream tcp nowait root internal", "builtin: unknown service '17200'"},
        {"99999 stream tcp nowait root /bin/cat cat",
         "service: port '99999' is outside the range 0 to 65535"},
        {"127.0.0.1:-1 stream tcp nowait root /bin/cat cat",
         "service: port '-1' is not a number from 0 to 65535"},
    };

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char *path = write_inetd(h_fmt("# line 1\n%s\n", bad[i].line)), *out;
        int code = h_usherd_run("[global]\n", &out, "-t", "-I", path, NULL);
        char *want = h_fmt("%s:2: %s", path, bad[i].message);
        if (code != 2 || strstr(out, want) == NULL)
            T_FAIL("line \"%s\": exit %d, wanted 2 and \"%s\":\n%s", bad[i].line, code, want, out);
    }
}

static const struct t_case cases[] = {
    T_CASE(test_internal_lines_serve_builtins),
    T_CASE(test_program_line_runs_with_argv0_and_user_group),
    T_CASE(test_program_line_without_args_uses_program_as_argv0),
    T_CASE(test_ipv6_only_protos),
    T_CASE(test_dual_stack_protos),
    T_CASE(test_host_prefix),
    T_CASE(test_nowait_max_is_accepted),
    T_CASE(test_udp_wait_program_line),
    T_CASE(test_unix_line),
    T_CASE(test_inetd_key_in_global),
    T_CASE(test_reload_rereads_inetd_conf),
    T_CASE(test_program_stderr_goes_to_the_socket),
    T_CASE(test_rpc_and_tcpmux_lines_are_skipped),
    T_CASE(test_errors_name_file_and_line),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
