/*
 * Interoperability: real clients that nobody here wrote talk to usherd.
 * netcat-openbsd's nc, socat and rdate; each is installed on the fly when
 * missing (as root with apt-get), or the case is skipped saying why.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RUN_MS 10000

static struct h_daemon *start(void)
{
    return h_start("[echo]\nlisten = tcp://127.0.0.1:0 tcp://[::1]:0 udp://127.0.0.1:0 "
                   "unix:@DIR@/echo.sock unixgram:@DIR@/echo.dgram\nbuiltin = echo\n"
                   "[daytime]\nlisten = tcp://127.0.0.1:0\nbuiltin = daytime\n"
                   "[time]\nlisten = tcp://127.0.0.1:0 udp://127.0.0.1:0\nbuiltin = time\n",
                   NULL);
}

/* nc must be OpenBSD's: the traditional netcat has other options. */
static void need_openbsd_nc(void)
{
    const char *argv[] = {"nc", "-h", NULL};
    struct h_result r;

    h_need("nc", "netcat-openbsd");
    h_run(&r, NULL, 0, RUN_MS, argv);
    if (strstr(r.out, "OpenBSD") == NULL && strstr(r.err, "OpenBSD") == NULL)
        t_skip("nc is not OpenBSD netcat (package netcat-openbsd)");
    h_result_free(&r);
}

/* Run `argv` with `input`; it must exit 0 and print exactly `want`. */
static void expect_output(const char *const argv[], const char *input, size_t len, const char *want,
                          size_t want_len)
{
    struct h_result r;

    h_run(&r, input, len, RUN_MS, argv);
    if (r.exit_code != 0)
        T_FAIL("%s exited with %d: %s", argv[0], r.exit_code, r.err);
    if (r.out_len != want_len || memcmp(r.out, want, want_len) != 0)
        T_FAIL("%s printed %zu bytes, want %zu: \"%.*s\"", argv[0], r.out_len, want_len,
               (int)(r.out_len < 200 ? r.out_len : 200), r.out);
    h_result_free(&r);
}

/* Text of many numbered lines, `len` bytes. */
static char *text_of(size_t len)
{
    char *text = malloc(len + 1);
    size_t off = 0;

    for (int i = 0; off < len; i++)
        off += (size_t)snprintf(text + off, len + 1 - off, "line %06d of the interop test\n", i);
    return text;
}

static const char *host_port(const char *addr)
{
    return strstr(addr, "://") + 3;
}

/* Parse a date as printed by ctime/date ("Sat Nov 21 16:40:00 [UTC ]2026");
 * fails unless it is within `slack` seconds of now. */
static void check_date(const char *who, const char *text, int slack)
{
    static const char *const formats[] = {"%a %b %e %H:%M:%S %Y", "%a %b %e %H:%M:%S %Z %Y"};
    const char *start = strrchr(text, '\t') ? strrchr(text, '\t') + 1 : text;

    while (*start == ' ')
        start++;
    for (size_t f = 0; f < ARRAY_LEN(formats); f++) {
        struct tm tm = {0};
        char *end = strptime(start, formats[f], &tm);
        time_t when;
        if (end == NULL || (*end != '\0' && *end != '\r' && *end != '\n'))
            continue;
        tm.tm_isdst = -1;
        when = mktime(&tm);
        if (when < time(NULL) - slack || when > time(NULL) + slack)
            T_FAIL("%s: \"%s\" is %lld s from now", who, text, (long long)(when - time(NULL)));
        return;
    }
    T_FAIL("%s: cannot read a date in \"%s\"", who, text);
}

/* --- nc -------------------------------------------------------------------- */

static void test_nc_tcp_echo(void)
{
    /* Scenario: OpenBSD nc -N (half-close at stdin EOF) sends 64 KiB of text
     * to echo over TCP on IPv4, then a line over IPv6.  Asserted: nc prints
     * exactly what it sent and exits 0 (usherd closes after our EOF). */
    struct h_daemon *d;
    char *text = text_of(64 * 1024), port4[16], port6[16];

    need_openbsd_nc();
    d = start();
    snprintf(port4, sizeof(port4), "%d", h_port(h_addr(d, "echo", "tcp://127")));
    snprintf(port6, sizeof(port6), "%d", h_port(h_addr(d, "echo", "tcp://[")));
    {
        const char *argv[] = {"nc", "-N", "127.0.0.1", port4, NULL};
        expect_output(argv, text, strlen(text), text, strlen(text));
    }
    {
        const char *argv[] = {"nc", "-6", "-N", "::1", port6, NULL};
        expect_output(argv, "over IPv6\n", 10, "over IPv6\n", 10);
    }
    free(text);
}

static void test_nc_udp_echo(void)
{
    /* Scenario: nc -u sends a line to echo over UDP, waiting 1 s for more.
     * Asserted: it prints the line back, exit 0. */
    struct h_daemon *d;
    char port[16];

    need_openbsd_nc();
    d = start();
    snprintf(port, sizeof(port), "%d", h_port(h_addr(d, "echo", "udp://127")));
    const char *argv[] = {"nc", "-u", "-w", "1", "127.0.0.1", port, NULL};
    expect_output(argv, "hello over udp\n", 15, "hello over udp\n", 15);
}

static void test_nc_daytime(void)
{
    /* Scenario: nc -d (no stdin) connects to daytime.  Asserted: it prints one
     * ctime line within a few seconds of now, and exits 0 when usherd closes. */
    struct h_daemon *d;
    char port[16];
    struct h_result r;

    need_openbsd_nc();
    d = start();
    snprintf(port, sizeof(port), "%d", h_port(h_addr(d, "daytime", "tcp://127")));
    const char *argv[] = {"nc", "-d", "127.0.0.1", port, NULL};
    h_run(&r, NULL, 0, RUN_MS, argv);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_INT(r.out_len, 26);
    T_ASSERT(strcmp(r.out + 24, "\r\n") == 0);
    r.out[24] = '\0';
    check_date("nc daytime", r.out, 5);
}

static void test_nc_unix_stream_echo(void)
{
    /* Scenario: nc -U -N sends text to echo's Unix stream socket.  Asserted:
     * the same text back, exit 0. */
    struct h_daemon *d;
    char *text = text_of(16 * 1024);

    need_openbsd_nc();
    d = start();
    const char *argv[] = {"nc", "-N", "-U", h_addr(d, "echo", "unix:") + strlen("unix:"), NULL};
    expect_output(argv, text, strlen(text), text, strlen(text));
    free(text);
}

static void test_nc_unix_datagram_echo(void)
{
    /* Scenario: nc -uU sends a line to echo's Unix datagram socket (nc binds
     * a client path of its own for the reply).  Asserted: the line back. */
    struct h_daemon *d;

    need_openbsd_nc();
    d = start();
    const char *argv[] = {
        "nc", "-uU", "-w", "1", h_addr(d, "echo", "unixgram:") + strlen("unixgram:"), NULL};
    expect_output(argv, "dgram line\n", 11, "dgram line\n", 11);
}

/* --- socat ----------------------------------------------------------------- */

static void test_socat_tcp_echo(void)
{
    /* Scenario: socat - TCP:127.0.0.1:PORT and TCP6:[::1]:PORT with 64 KiB of
     * text on stdin.  Asserted: exactly the text back, exit 0. */
    struct h_daemon *d;
    char *text = text_of(64 * 1024), a4[64], a6[64];

    h_need("socat", "socat");
    d = start();
    snprintf(a4, sizeof(a4), "TCP:%s", host_port(h_addr(d, "echo", "tcp://127")));
    snprintf(a6, sizeof(a6), "TCP6:%s", host_port(h_addr(d, "echo", "tcp://[")));
    {
        const char *argv[] = {"socat", "-", a4, NULL};
        expect_output(argv, text, strlen(text), text, strlen(text));
    }
    {
        const char *argv[] = {"socat", "-", a6, NULL};
        expect_output(argv, text, strlen(text), text, strlen(text));
    }
    free(text);
}

static void test_socat_udp_echo(void)
{
    /* Scenario: socat - UDP:127.0.0.1:PORT with one line.  Asserted: the line
     * back, exit 0. */
    struct h_daemon *d;
    char addr[64];

    h_need("socat", "socat");
    d = start();
    snprintf(addr, sizeof(addr), "UDP:%s", host_port(h_addr(d, "echo", "udp://127")));
    const char *argv[] = {"socat", "-t", "1", "-", addr, NULL};
    expect_output(argv, "socat over udp\n", 15, "socat over udp\n", 15);
}

static void test_socat_unix_connect_echo(void)
{
    /* Scenario: socat - UNIX-CONNECT:PATH with 16 KiB of text.  Asserted:
     * the text back, exit 0. */
    struct h_daemon *d;
    char addr[512], *text = text_of(16 * 1024);

    h_need("socat", "socat");
    d = start();
    snprintf(addr, sizeof(addr), "UNIX-CONNECT:%s", h_addr(d, "echo", "unix:") + strlen("unix:"));
    const char *argv[] = {"socat", "-", addr, NULL};
    expect_output(argv, text, strlen(text), text, strlen(text));
    free(text);
}

static void test_socat_unix_sendto_echo(void)
{
    /* Scenario: socat - UNIX-SENDTO:PATH,bind=CLIENTPATH sends a line to
     * echo's Unix datagram socket from a bound client path.  Asserted: the
     * line comes back to that path and socat prints it, exit 0. */
    struct h_daemon *d;
    char addr[1024];

    h_need("socat", "socat");
    d = start();
    snprintf(addr, sizeof(addr), "UNIX-SENDTO:%s,bind=%s/client.dgram",
             h_addr(d, "echo", "unixgram:") + strlen("unixgram:"), h_tmpdir());
    const char *argv[] = {"socat", "-t", "1", "-", addr, NULL};
    expect_output(argv, "sendto line\n", 12, "sendto line\n", 12);
}

/* --- rdate ----------------------------------------------------------------- */

static void rdate(bool udp)
{
    struct h_daemon *d;
    char port[16];
    struct h_result r;

    h_need("rdate", "rdate");
    d = start();
    snprintf(port, sizeof(port), "%d", h_port(h_addr(d, "time", udp ? "udp://127" : "tcp://127")));
    const char *argv_tcp[] = {"rdate", "-p", "-o", port, "127.0.0.1", NULL};
    const char *argv_udp[] = {"rdate", "-p", "-u", "-o", port, "127.0.0.1", NULL};
    h_run(&r, NULL, 0, RUN_MS, udp ? argv_udp : argv_tcp);
    if (r.exit_code != 0)
        T_FAIL("rdate exited with %d: %s%s", r.exit_code, r.out, r.err);
    if (strchr(r.out, '\n') != NULL)
        *strchr(r.out, '\n') = '\0';
    check_date(udp ? "rdate -u" : "rdate", r.out, 60);
}

static void test_rdate_over_tcp(void)
{
    /* Scenario: rdate -p -o PORT 127.0.0.1 (RFC 868 over TCP).  Asserted: it
     * prints a date within a minute of now, exit 0. */
    rdate(false);
}

static void test_rdate_over_udp(void)
{
    /* Scenario: rdate -p -u -o PORT 127.0.0.1 (RFC 868 over UDP).  Asserted:
     * it prints a date within a minute of now, exit 0. */
    rdate(true);
}

static const struct t_case cases[] = {
    T_CASE_TIMEOUT(test_nc_tcp_echo, 120),
    T_CASE_TIMEOUT(test_nc_udp_echo, 120),
    T_CASE_TIMEOUT(test_nc_daytime, 120),
    T_CASE_TIMEOUT(test_nc_unix_stream_echo, 120),
    T_CASE_TIMEOUT(test_nc_unix_datagram_echo, 120),
    T_CASE_TIMEOUT(test_socat_tcp_echo, 120),
    T_CASE_TIMEOUT(test_socat_udp_echo, 120),
    T_CASE_TIMEOUT(test_socat_unix_connect_echo, 120),
    T_CASE_TIMEOUT(test_socat_unix_sendto_echo, 120),
    T_CASE_TIMEOUT(test_rdate_over_tcp, 120),
    T_CASE_TIMEOUT(test_rdate_over_udp, 120),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
