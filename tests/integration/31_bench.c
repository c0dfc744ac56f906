/*
 * usher bench (SPEC 10): every mode against the real usherd, its text and
 * JSON reports, and errors counted by kind rather than hidden in the rate;
 * --proxy against a usherd that wants the PROXY protocol (SPEC 13).
 */
#include "certs.h"
#include "harness.h"
#include "t.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_MS 20000

static const char conf[] = "[echo]\n"
                           "listen = tcp://127.0.0.1:0 udp://127.0.0.1:0 unix:@DIR@/e.sock\n"
                           "builtin = echo\n"
                           "[discard]\n"
                           "listen = udp://127.0.0.1:0\n"
                           "builtin = discard\n"
                           "[chargen]\n"
                           "listen = tcp://127.0.0.1:0\n"
                           "builtin = chargen\n";

static void bench(struct h_result *r, const char *const args[])
{
    const char *argv[24] = {h_usher(), "bench"};
    int n = 2;

    for (int i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    h_run(r, NULL, 0, RUN_MS, argv);
}

/* The number after `key` in a JSON text. */
static double json_number(const char *json, const char *key)
{
    char needle[64];

    snprintf(needle, sizeof(needle), "\"%s\":", key);
    return strtod(h_after(json, needle), NULL);
}

static void test_connect_mode(void)
{
    /* Scenario: connect mode, 4 connections, 300 transactions, close by reset.
     * Asserted: exit 0, all 300 done, no error, the report names the close. */
    struct h_daemon *d = h_start(conf, NULL);
    struct h_result r;

    bench(&r, (const char *[]){"-c", "4", "-n", "300", "--reset", "--json", "connect",
                               h_addr(d, "echo", "tcp://"), NULL});
    T_EQ_INT(r.exit_code, 0);
    T_EQ_INT((long long)json_number(r.out, "transactions"), 300);
    T_EQ_INT((long long)json_number(r.out, "total"), 0);
    T_CONTAINS(r.out, "\"reset\":true");
    T_ASSERT(json_number(r.out, "rate") > 0);
    T_ASSERT(json_number(r.out, "p50") > 0);
    h_result_free(&r);
}

static void test_pingpong_text_report(void)
{
    /* Scenario: pingpong over a unix socket for 0.5 s, text report.
     * Asserted: rate, latency percentiles and a zero error count are printed. */
    struct h_daemon *d = h_start(conf, NULL);
    struct h_result r;

    bench(&r, (const char *[]){"-c", "8", "-d", "0.5", "-s", "100", "pingpong",
                               h_addr(d, "echo", "unix:"), NULL});
    T_EQ_INT(r.exit_code, 0);
    T_CONTAINS(r.out, "usher bench pingpong unix:");
    T_CONTAINS(r.out, "8 connections");
    T_CONTAINS(r.out, "rate ");
    T_CONTAINS(r.out, "p50 ");
    T_CONTAINS(r.out, "p99.9 ");
    T_CONTAINS(r.out, "errors      0\n");
    T_EQ_STR(r.err, ""); /* no progress line when stderr is not a terminal */
    h_result_free(&r);
}

static void test_bulk_mode(void)
{
    /* Scenario: bulk for 0.5 s through echo.  Asserted: data flowed both ways. */
    struct h_daemon *d = h_start(conf, NULL);
    struct h_result r;

    bench(&r, (const char *[]){"-d", "0.5", "--json", "bulk", h_addr(d, "echo", "tcp://"), NULL});
    T_EQ_INT(r.exit_code, 0);
    T_ASSERT(json_number(r.out, "mb_per_s") > 1);
    T_EQ_INT((long long)json_number(r.out, "total"), 0);
    h_result_free(&r);
}

static void test_duration_takes_units(void)
{
    /* Scenario: -d 300ms, then -d 0.3, on pingpong.  Asserted: both run for
     * about 0.3 s (a unit must not be read as a number of seconds). */
    static const char *const durations[] = {"300ms", "0.3"};
    struct h_daemon *d = h_start(conf, NULL);

    for (size_t i = 0; i < ARRAY_LEN(durations); i++) {
        struct h_result r;
        double secs;

        bench(&r, (const char *[]){"-d", durations[i], "--json", "pingpong",
                                   h_addr(d, "echo", "tcp://"), NULL});
        T_EQ_INT(r.exit_code, 0);
        secs = json_number(r.out, "seconds");
        if (secs < 0.29 || secs > 0.3 + 2.0 * t_scale())
            T_FAIL("-d %s ran for %.3f s", durations[i], secs);
        h_result_free(&r);
    }
}

static void test_udp_mode(void)
{
    /* Scenario: udp mode with 8 outstanding requests, 500 in all.
     * Asserted: every request answered, none lost. */
    struct h_daemon *d = h_start(conf, NULL);
    struct h_result r;

    bench(&r, (const char *[]){"-c", "8", "-n", "500", "--json", "udp", h_addr(d, "echo", "udp://"),
                               NULL});
    T_EQ_INT(r.exit_code, 0);
    T_EQ_INT((long long)json_number(r.out, "transactions"), 500);
    T_EQ_INT((long long)json_number(r.out, "timeout"), 0);
    h_result_free(&r);
}

static void test_udp_loss_counted(void)
{
    /* Scenario: udp mode against discard, which never answers, with -w 100ms.
     * Asserted: no transaction, the losses counted as timeouts, exit 1. */
    struct h_daemon *d = h_start(conf, NULL);
    struct h_result r;

    bench(&r, (const char *[]){"-d", "0.5", "-w", "100ms", "--json", "udp",
                               h_addr(d, "discard", "udp://"), NULL});
    T_EQ_INT(r.exit_code, 1);
    T_EQ_INT((long long)json_number(r.out, "transactions"), 0);
    T_ASSERT(json_number(r.out, "timeout") >= 2);
    h_result_free(&r);
}

static void test_wrong_replies_counted(void)
{
    /* Scenario: pingpong against chargen, whose bytes are not an echo.
     * Asserted: mismatches counted, no transaction counted as done. */
    struct h_daemon *d = h_start(conf, NULL);
    struct h_result r;

    bench(&r, (const char *[]){"-d", "0.3", "--json", "pingpong", h_addr(d, "chargen", "tcp://"),
                               NULL});
    T_EQ_INT((long long)json_number(r.out, "transactions"), 0);
    T_ASSERT(json_number(r.out, "mismatch") >= 1);
    h_result_free(&r);
}

static void test_refused_counted(void)
{
    /* Scenario: connect mode to a port nobody listens on.
     * Asserted: connect errors counted, exit 1, and no spin (few errors per slot-tick). */
    struct h_result r;
    char addr[64];
    int port;

    port = h_free_port("tcp");
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", port);
    bench(&r, (const char *[]){"-d", "0.5", "--json", "connect", addr, NULL});
    T_EQ_INT(r.exit_code, 1);
    T_ASSERT(json_number(r.out, "connect") >= 1);
    T_ASSERT(json_number(r.out, "connect") <= 20);
    h_result_free(&r);
}

#define PROXY_CONF(version)                                                                        \
    "[echo]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/p.sock\nbuiltin = echo\n"                       \
    "proxy_protocol = " version "\nproxy_from = 127.0.0.1\nproxy_timeout = 300ms\n"

static void test_proxy_v2_connect(void)
{
    /* Scenario: connect mode with --proxy v2 against echo with
     * proxy_protocol = v2, then the same without --proxy.  Asserted: with
     * it, every transaction done and no error, and the line names as the
     * client the connection's own address (peer and via alike); without
     * it, nothing done, the refusals counted as errors and logged. */
    struct h_daemon *d = h_start(PROXY_CONF("v2"), NULL);
    struct h_result r;
    char *line;

    bench(&r, (const char *[]){"-c", "4", "-n", "200", "--reset", "--proxy", "v2", "--json",
                               "connect", h_addr(d, "echo", "tcp://"), NULL});
    T_EQ_INT(r.exit_code, 0);
    T_EQ_INT((long long)json_number(r.out, "transactions"), 200);
    T_EQ_INT((long long)json_number(r.out, "total"), 0);
    T_EQ_INT((long long)json_number(r.out, "proxy"), 2);
    h_result_free(&r);
    T_ASSERT(h_wait_log(d, "usherd: service=echo ", 2000));
    line = h_log_line(d, "usherd: service=echo ");
    T_CONTAINS(line, " via=127.0.0.1:");
    T_EQ_INT(strtol(h_after(line, " peer=127.0.0.1:"), NULL, 10),
             strtol(h_after(line, " via=127.0.0.1:"), NULL, 10));
    free(line);

    bench(&r, (const char *[]){"-d", "0.3", "-w", "300ms", "--reset", "--json", "connect",
                               h_addr(d, "echo", "tcp://"), NULL});
    T_EQ_INT(r.exit_code, 1);
    T_EQ_INT((long long)json_number(r.out, "transactions"), 0);
    T_ASSERT(json_number(r.out, "total") >= 1);
    T_EQ_INT((long long)json_number(r.out, "proxy"), 0);
    h_result_free(&r);
    T_ASSERT(h_wait_log(d, "end=proxy:bad_header", 2000));
}

static void test_proxy_v1_persistent_modes(void)
{
    /* Scenario: pingpong and bulk with --proxy v1 against proxy_protocol =
     * v1, and pingpong with --proxy v2 over a Unix socket (a LOCAL header:
     * a Unix address names no client).  Asserted: each ran, no error. */
    struct h_daemon *d = h_start(PROXY_CONF("any"), NULL);
    struct h_result r;

    bench(&r, (const char *[]){"-c", "4", "-d", "0.3", "--proxy", "v1", "--json", "pingpong",
                               h_addr(d, "echo", "tcp://"), NULL});
    T_EQ_INT(r.exit_code, 0);
    T_ASSERT(json_number(r.out, "transactions") > 4);
    T_EQ_INT((long long)json_number(r.out, "total"), 0);
    h_result_free(&r);

    bench(&r, (const char *[]){"-d", "0.3", "--proxy", "v1", "--json", "bulk",
                               h_addr(d, "echo", "tcp://"), NULL});
    T_EQ_INT(r.exit_code, 0);
    T_ASSERT(json_number(r.out, "mb_per_s") > 1);
    T_EQ_INT((long long)json_number(r.out, "total"), 0);
    h_result_free(&r);

    bench(&r, (const char *[]){"-c", "2", "-d", "0.3", "--proxy", "v2", "--json", "pingpong",
                               h_addr(d, "echo", "unix:"), NULL});
    T_EQ_INT(r.exit_code, 0);
    T_ASSERT(json_number(r.out, "transactions") > 2);
    T_EQ_INT((long long)json_number(r.out, "total"), 0);
    h_result_free(&r);
}

static void test_proxy_before_tls(void)
{
    /* Scenario: connect mode over tls:// with --proxy v2 against a TLS
     * listener with proxy_protocol = v2.  Asserted: the header goes before
     * the ClientHello: every handshake and echo done, the line has both the
     * balancer and the TLS fields. */
    const struct certs *c = certs_get();
    char *tls_conf = h_fmt("[echo]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = %s\n"
                           "tls_key = %s\nproxy_protocol = v2\nproxy_from = 127.0.0.1\n",
                           c->server.cert, c->server.key);
    struct h_daemon *d = h_start(tls_conf, NULL);
    struct h_result r;
    char *line;

    bench(&r, (const char *[]){"-c", "2", "-n", "20", "--proxy", "v2", "--ca", c->ca.cert, "--json",
                               "connect", h_addr(d, "echo", "tls://"), NULL});
    T_EQ_INT(r.exit_code, 0);
    T_EQ_INT((long long)json_number(r.out, "transactions"), 20);
    T_EQ_INT((long long)json_number(r.out, "handshakes"), 20);
    T_EQ_INT((long long)json_number(r.out, "total"), 0);
    h_result_free(&r);
    T_ASSERT(h_wait_log(d, "usherd: service=echo ", 2000));
    line = h_log_line(d, "usherd: service=echo ");
    T_CONTAINS(line, " via=127.0.0.1:");
    T_CONTAINS(line, " tls=TLSv1.3 ");
    free(line);
    free(tls_conf);
}

static void test_usage(void)
{
    /* Scenario: bad bench command lines.  Asserted: exit 2 with a message. */
    static const char *const bad[][4] = {
        {"connect", NULL},
        {"sideways", "tcp://127.0.0.1:7", NULL},
        {"-c", "0", "connect", "tcp://127.0.0.1:7"},
        {"udp", "tcp://127.0.0.1:7", NULL},
        {"connect", "udp://127.0.0.1:7", NULL},
        {"-d", "2x", "connect", "tcp://127.0.0.1:7"},
        {"-d", "0", "connect", "tcp://127.0.0.1:7"},
        {"--proxy", "v3", "connect", "tcp://127.0.0.1:7"},
        {"--proxy", "v2", "udp", "udp://127.0.0.1:7"},
    };

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct h_result r;
        bench(&r, (const char *[]){bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL});
        if (r.exit_code != 2 || strstr(r.err, "usher: bench:") == NULL)
            T_FAIL("case %zu: exit %d, stderr %s", i, r.exit_code, r.err);
        h_result_free(&r);
    }
}

static const struct t_case cases[] = {
    T_CASE(test_connect_mode),
    T_CASE(test_pingpong_text_report),
    T_CASE(test_bulk_mode),
    T_CASE(test_udp_mode),
    T_CASE(test_udp_loss_counted),
    T_CASE(test_wrong_replies_counted),
    T_CASE(test_refused_counted),
    T_CASE(test_proxy_v2_connect),
    T_CASE(test_proxy_v1_persistent_modes),
    T_CASE(test_proxy_before_tls),
    T_CASE(test_usage),
    T_CASE(test_duration_takes_units),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
