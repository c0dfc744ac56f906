/*
 * Exec services over TLS (SPEC 12 with 5 and 9): the program gets
 * plaintext on fds 0 and 1 and the SSL_* environment; curl reads an HTTP
 * response from a shell script; 100 MB go through /bin/cat both ways
 * intact; the client's close_notify is EOF to the program, whose output
 * after it still arrives; a bare FIN is logged end=tls:eof; the program
 * closing its output ends the stream with close_notify; a program that
 * stops reading stalls the client without usherd growing; no process per
 * connection but the program; wait = yes with tls:// is refused.
 */
#include "certs.h"
#include "harness.h"
#include "t.h"
#include "tlsc.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- helpers ---------------------------------------------------------------- */

/* [NAME] on tls://127.0.0.1:0 running EXEC with the server pair, plus `extra`. */
static char *exec_tls_conf(const char *name, const char *exec, const char *extra)
{
    const struct certs *c = certs_get();

    return h_fmt("[%s]\nlisten = tls://127.0.0.1:0\nexec = %s\ntls_cert = %s\ntls_key = %s\n%s",
                 name, exec, c->server.cert, c->server.key, extra ? extra : "");
}

/* A mode-0755 shell script in the test's directory; returns its path. */
static char *script(const char *name, const char *body)
{
    char *path = h_fmt("%s/%s", h_tmpdir(), name);

    h_write_file(path, body);
    if (chmod(path, 0755) < 0)
        T_FAIL("chmod %s: %s", path, strerror(errno));
    return path;
}

static struct tlsc_opts verified(const char *name)
{
    return (struct tlsc_opts){.ca = certs_get()->ca.cert, .verify_name = name, .sni = name};
}

/* Everything the program sends, until close_notify (fails on another end). */
static char *read_to_close_notify(struct tlsc *t, size_t cap)
{
    char *buf = malloc(cap + 1);
    enum tlsc_end end;
    size_t n = tlsc_recv_all(t, buf, cap, &end, 10000);

    if (end != TLSC_NOTIFY)
        T_FAIL("the stream ended with %s after %zu bytes, want close_notify", tlsc_end_name(end),
               n);
    buf[n] = '\0';
    return buf;
}

/* The exec probe's report over TLS with options `o`. */
static char *probe_report_over_tls(const char *addr, const struct tlsc_opts *o)
{
    struct tlsc *t = tlsc_connect(addr, o);
    char *report = read_to_close_notify(t, 1 << 16);

    tlsc_free(t);
    if (strlen(report) < 4 || strcmp(report + strlen(report) - 4, "end\n") != 0)
        T_FAIL("incomplete report: %s", report);
    return report;
}

/* The value of environment variable `name` in a probe report, or NULL. */
static char *env_value(const char *report, const char *name)
{
    char *key = h_fmt("\nenv %s=", name);
    const char *p = strstr(report, key);

    if (p == NULL)
        return NULL;
    p += strlen(key);
    return strndup(p, strcspn(p, "\n"));
}

static void expect_env(const char *report, const char *name, const char *want)
{
    char *got = env_value(report, name);

    if (got == NULL)
        T_FAIL("no %s in the program's environment:\n%s", name, report);
    if (strcmp(got, want) != 0)
        T_FAIL("%s=%s, want %s", name, got, want);
}

static void expect_no_env(const char *report, const char *name)
{
    char *got = env_value(report, name);

    if (got != NULL)
        T_FAIL("%s=%s is set, want it absent", name, got);
}

/* --- HTTP over TLS with curl ------------------------------------------------------ */

/* An HTTP/1.0 server in sh: reads the request head, answers with what TLS
 * usherd says it runs (from the environment). */
static const char http_sh[] =
    "#!/bin/sh\n"
    "cr=$(printf '\\r')\n"
    "while IFS= read -r line; do\n"
    "    case \"$line\" in \"\"|\"$cr\") break ;; esac\n"
    "done\n"
    "body=\"hello over $SSL_PROTOCOL sni=${SSL_TLS_SNI_SERVERNAME:--} alpn=${SSL_ALPN:--}\"\n"
    "printf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: %d\\r\\n"
    "\\r\\n%s\\n' $((${#body} + 1)) \"$body\"\n";

static void test_curl_gets_an_http_response(void)
{
    /* Scenario: an exec service running a shell script that reads an HTTP
     * request and answers HTTP/1.0; curl --cacert CA to https://127.0.0.1
     * (the IP in the SAN, no SNI), then to https://localhost (SNI).
     * Asserted: curl exits 0 with the body "hello over TLSv1.3 sni=- ..."
     * and "... sni=localhost ..."; the connection lines say end=exit:0,
     * tls=TLSv1.3 and a pid. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(exec_tls_conf("http", script("http.sh", http_sh), NULL), NULL);
    const char *addr = h_addr(d, "http", "tls://127");
    int port = h_port(addr);
    struct h_result r;
    char *line;

    h_need("curl", "curl");
    char *url_ip = h_fmt("https://127.0.0.1:%d/", port);
    const char *const by_ip[] = {"curl",     "-sS",      "--max-time", "10",
                                 "--cacert", c->ca.cert, url_ip,       NULL};
    h_run(&r, NULL, 0, 15000, by_ip);
    if (r.exit_code != 0)
        T_FAIL("curl %s exited %d: %s", url_ip, r.exit_code, r.err);
    T_EQ_STR(r.out, "hello over TLSv1.3 sni=- alpn=-\n");
    line = h_wait_conn_line(d, "http", "end=exit:0", 5000);
    T_CONTAINS(line, " tls=TLSv1.3");
    T_CONTAINS(line, " pid=");

    char *resolve = h_fmt("localhost:%d:127.0.0.1", port),
         *url = h_fmt("https://localhost:%d/", port);
    const char *const by_name[] = {"curl",     "-sS",       "--max-time", "10", "--cacert",
                                   c->ca.cert, "--resolve", resolve,      url,  NULL};
    h_run(&r, NULL, 0, 15000, by_name);
    if (r.exit_code != 0)
        T_FAIL("curl %s exited %d: %s", url, r.exit_code, r.err);
    T_EQ_STR(r.out, "hello over TLSv1.3 sni=localhost alpn=-\n");
    T_CONTAINS(h_wait_conn_line(d, "http", "sni=localhost", 5000), "end=exit:0");
}

static void test_curl_negotiates_alpn_with_the_program(void)
{
    /* Scenario: the same script with tls_alpn = http/1.1; curl offers h2
     * and http/1.1.  Asserted: http/1.1 is chosen and the program sees
     * SSL_ALPN=http/1.1; curl, forced to TLS 1.2, gets SSL_PROTOCOL=TLSv1.2. */
    const struct certs *c = certs_get();
    struct h_daemon *d =
        h_start(exec_tls_conf("http", script("http.sh", http_sh), "tls_alpn = http/1.1\n"), NULL);
    int port = h_port(h_addr(d, "http", "tls://127"));
    struct h_result r;

    h_need("curl", "curl");
    char *resolve = h_fmt("localhost:%d:127.0.0.1", port),
         *url = h_fmt("https://localhost:%d/", port);
    const char *const argv[] = {"curl",     "-sS",       "--max-time", "10", "--cacert",
                                c->ca.cert, "--resolve", resolve,      url,  NULL};
    h_run(&r, NULL, 0, 15000, argv);
    if (r.exit_code != 0)
        T_FAIL("curl exited %d: %s", r.exit_code, r.err);
    T_EQ_STR(r.out, "hello over TLSv1.3 sni=localhost alpn=http/1.1\n");
    const char *const tls12[] = {"curl",     "-sS",       "--max-time", "10",  "--cacert",
                                 c->ca.cert, "--tlsv1.2", "--tls-max",  "1.2", "--resolve",
                                 resolve,    url,         NULL};
    h_run(&r, NULL, 0, 15000, tls12);
    if (r.exit_code != 0)
        T_FAIL("curl --tls-max 1.2 exited %d: %s", r.exit_code, r.err);
    T_EQ_STR(r.out, "hello over TLSv1.2 sni=localhost alpn=http/1.1\n");
}

/* --- bulk -------------------------------------------------------------------------- */

static void test_cat_carries_100_mb_both_ways(void)
{
    /* Scenario: exec = /bin/cat over TLS; our client sends 100 MB of a
     * pattern while reading, then close_notify, and reads to the end.
     * Asserted: 100 MB come back with the SHA-256 of those sent; the stream
     * ends with close_notify (cat exited at EOF); the connection line says
     * in=104857600 out=104857600 end=exit:0. */
    const size_t total = 100u << 20;
    struct h_daemon *d = h_start(exec_tls_conf("cat", "/bin/cat", NULL), NULL);
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(h_addr(d, "cat", "tls://127"), &o);
    struct tlsc_xfer x;
    int64_t start = h_now_ms();
    char *line;

    tlsc_exchange(t, NULL, total, false, NULL, 0, 90000, &x);
    t_note("100 MB both ways through cat over TLS in %lld ms", (long long)(h_now_ms() - start));
    tlsc_free(t);
    T_EQ_INT(x.sent, total);
    T_EQ_INT(x.got, total);
    if (memcmp(x.sent_sha256, x.got_sha256, 32) != 0)
        T_FAIL("the 100 MB that came back are not those sent");
    if (x.end != TLSC_NOTIFY)
        T_FAIL("the stream ended with %s, want close_notify", tlsc_end_name(x.end));
    line = h_wait_conn_line(d, "cat", "end=exit:0", 10000);
    T_CONTAINS(line, " in=104857600 out=104857600 ");
}

static void test_socat_through_cat(void)
{
    /* Scenario: socat - OPENSSL:...,cafile=CA to an exec /bin/cat, 1 MB of
     * text on its stdin.  Asserted: the same 1 MB on its stdout, exit 0. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(exec_tls_conf("cat", "/bin/cat", NULL), NULL);
    size_t len = 1 << 20;
    char *data = malloc(len + 1);
    struct h_result r;

    h_need("socat", "socat");
    for (size_t i = 0; i < len; i++)
        data[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 26);
    data[len] = '\0';
    char *target =
        h_fmt("OPENSSL:127.0.0.1:%d,cafile=%s", h_port(h_addr(d, "cat", "tls://127")), c->ca.cert);
    const char *const argv[] = {"socat", "-t", "5", "-", target, NULL};
    h_run(&r, data, len, 30000, argv);
    if (r.exit_code != 0)
        T_FAIL("socat exited %d: %s", r.exit_code, r.err);
    T_EQ_INT(r.out_len, len);
    T_ASSERT(memcmp(r.out, data, len) == 0);
}

/* --- the environment ---------------------------------------------------------------- */

static void test_env_with_client_certificate_sni_and_alpn(void)
{
    /* Scenario: the probe over TLS with tls_verify = optional (the test CA)
     * and tls_alpn = h2 http/1.1; our client shows the CA's client
     * certificate, sends SNI localhost and offers h2.  Asserted: the
     * program has SSL_PROTOCOL=TLSv1.3, SSL_CIPHER=TLS_AES_256_GCM_SHA384,
     * SSL_TLS_SNI_SERVERNAME=localhost, SSL_PEER_CERT_SUBJECT in RFC 2253
     * form and SSL_PEER_CERT_HASH the SHA-256 of the certificate's DER (as
     * openssl computes them), SSL_ALPN=h2, the TCP variables of the real
     * peer, and exactly fds 0, 1, 2, 0 and 1 one socket. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(
        exec_tls_conf("probe", h_fmt("%s report", h_exec_probe(false)),
                      h_fmt("tls_client_ca = %s\ntls_verify = optional\ntls_alpn = h2 http/1.1\n",
                            c->ca.cert)),
        NULL);
    struct tlsc_opts o = verified("localhost");
    char *report;

    o.cert = c->client.cert;
    o.key = c->client.key;
    o.alpn = "h2";
    report = probe_report_over_tls(h_addr(d, "probe", "tls://127"), &o);
    expect_env(report, "SSL_PROTOCOL", "TLSv1.3");
    expect_env(report, "SSL_CIPHER", "TLS_AES_256_GCM_SHA384");
    expect_env(report, "SSL_TLS_SNI_SERVERNAME", "localhost");
    expect_env(report, "SSL_PEER_CERT_SUBJECT", certs_subject(c->client.cert));
    expect_env(report, "SSL_PEER_CERT_SUBJECT", "CN=usher test client,O=usher tests");
    expect_env(report, "SSL_PEER_CERT_HASH", certs_sha256(c->client.cert));
    expect_env(report, "SSL_ALPN", "h2");
    expect_env(report, "TCPREMOTEIP", "127.0.0.1");
    expect_env(report, "USHER_SERVICE", "probe");
    T_CONTAINS(report, "\nfd 0 socket:[");
    T_ASSERT(strstr(report, "\nfd 3 ") == NULL);
    T_CONTAINS(h_probe_value(report, "fd0"), "sock=1 listening=0");
}

static void test_env_without_client_certificate_sni_or_alpn(void)
{
    /* Scenario: the probe over TLS (no client CA), our client with no
     * certificate, no SNI, no ALPN; then capped at TLS 1.2.  Asserted:
     * SSL_PROTOCOL and SSL_CIPHER are set (TLSv1.3, then TLSv1.2), and
     * SSL_TLS_SNI_SERVERNAME, SSL_PEER_CERT_SUBJECT, SSL_PEER_CERT_HASH and
     * SSL_ALPN are absent, not empty. */
    struct h_daemon *d =
        h_start(exec_tls_conf("probe", h_fmt("%s report", h_exec_probe(false)), NULL), NULL);
    const char *addr = h_addr(d, "probe", "tls://127");
    struct tlsc_opts o = {.ca = certs_get()->ca.cert};
    char *report = probe_report_over_tls(addr, &o);

    expect_env(report, "SSL_PROTOCOL", "TLSv1.3");
    expect_env(report, "SSL_CIPHER", "TLS_AES_256_GCM_SHA384");
    expect_no_env(report, "SSL_TLS_SNI_SERVERNAME");
    expect_no_env(report, "SSL_PEER_CERT_SUBJECT");
    expect_no_env(report, "SSL_PEER_CERT_HASH");
    expect_no_env(report, "SSL_ALPN");
    o.max_version = TLS1_2_VERSION;
    report = probe_report_over_tls(addr, &o);
    expect_env(report, "SSL_PROTOCOL", "TLSv1.2");
    T_ASSERT(env_value(report, "SSL_CIPHER") != NULL);
}

static void test_env_no_peer_variables_for_a_certificate_not_asked_for(void)
{
    /* Scenario: tls_verify = none (the default); the client shows a
     * certificate anyway.  Asserted: no SSL_PEER_CERT_* variables (none was
     * verified). */
    const struct certs *c = certs_get();
    struct h_daemon *d =
        h_start(exec_tls_conf("probe", h_fmt("%s report", h_exec_probe(false)), NULL), NULL);
    struct tlsc_opts o = verified("localhost");
    char *report;

    o.cert = c->client.cert;
    o.key = c->client.key;
    report = probe_report_over_tls(h_addr(d, "probe", "tls://127"), &o);
    expect_no_env(report, "SSL_PEER_CERT_SUBJECT");
    expect_no_env(report, "SSL_PEER_CERT_HASH");
}

/* --- half-closes ---------------------------------------------------------------------- */

static const char cat_then_more[] = "/bin/sh -c 'cat; echo after-eof'";

static void test_close_notify_is_eof_and_later_output_arrives(void)
{
    /* Scenario: exec sh -c 'cat; echo after-eof'; our client sends a line,
     * then close_notify, and reads on.  Asserted: the line comes back, then
     * "after-eof" (written by the program after its input ended), then
     * close_notify; logged end=exit:0 with in=5 out=15. */
    struct h_daemon *d = h_start(exec_tls_conf("half", cat_then_more, NULL), NULL);
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(h_addr(d, "half", "tls://127"), &o);
    struct tlsc_xfer x;
    char back[64];

    tlsc_exchange(t, "data\n", 5, false, back, sizeof(back), 10000, &x);
    tlsc_free(t);
    T_EQ_STR(back, "data\nafter-eof\n");
    if (x.end != TLSC_NOTIFY)
        T_FAIL("the stream ended with %s, want close_notify", tlsc_end_name(x.end));
    T_CONTAINS(h_wait_conn_line(d, "half", "end=exit:0", 5000), " in=5 out=15 ");
}

static void test_close_notify_with_the_line_still_open(void)
{
    /* Scenario: the same program; send a line, read its echo, wait, then
     * close_notify.  Asserted: the program did not see EOF before our
     * close_notify (no "after-eof" yet), and does after it. */
    struct h_daemon *d = h_start(exec_tls_conf("half", cat_then_more, NULL), NULL);
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(h_addr(d, "half", "tls://127"), &o);
    char line[64], *rest;
    size_t n;

    tlsc_send_str(t, "first\n");
    tlsc_recv_line(t, line, sizeof(line), 5000);
    T_EQ_STR(line, "first");
    if (tlsc_read(t, line, sizeof(line), &n, 300) != TLSC_TIMEOUT)
        T_FAIL("the program said something before our close_notify");
    tlsc_close_notify(t);
    rest = read_to_close_notify(t, 64);
    T_EQ_STR(rest, "after-eof\n");
    tlsc_free(t);
}

static void test_fin_without_close_notify_is_logged_truncated(void)
{
    /* Scenario: the same program; our client sends a line and then a bare
     * FIN (no close_notify).  Asserted: the program's input ends (it exits)
     * and the connection is logged end=tls:eof, not as a clean exit. */
    struct h_daemon *d = h_start(exec_tls_conf("half", cat_then_more, NULL), NULL);
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(h_addr(d, "half", "tls://127"), &o);
    char line[64];

    tlsc_send_str(t, "data\n");
    tlsc_recv_line(t, line, sizeof(line), 5000);
    tlsc_fin(t);
    T_CONTAINS(h_wait_conn_line(d, "half", "end=", 5000), "end=tls:eof");
    tlsc_free(t);
}

static void test_program_closing_its_output_sends_close_notify(void)
{
    /* Scenario: exec sh -c 'echo bye; exec >&- <&-; sleep 3': the program
     * closes its end of the socketpair and lives on.  Asserted: the client
     * reads "bye" then close_notify while the program still runs (within
     * 2 s, before the sleep is over). */
    struct h_daemon *d =
        h_start(exec_tls_conf("bye", "/bin/sh -c 'echo bye; exec >&- <&-; sleep 3'", NULL), NULL);
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(h_addr(d, "bye", "tls://127"), &o);
    enum tlsc_end end;
    char buf[64];
    size_t n = tlsc_recv_all(t, buf, sizeof(buf), &end, 2000);

    T_EQ_INT(n, 4);
    T_EQ_STR(buf, "bye\n");
    if (end != TLSC_NOTIFY)
        T_FAIL("the stream ended with %s, want close_notify", tlsc_end_name(end));
    tlsc_free(t);
}

static void test_program_gone_before_the_client_closes(void)
{
    /* Scenario: exec /bin/echo hi (it exits at once, its stderr closing);
     * our client reads "hi" and the server's close_notify, waits until the
     * program has certainly been reaped, then closes its end, ten times
     * over, one way (close_notify) or the other (bare FIN).  Asserted:
     * each connection is logged, under its own service name, with the
     * program's exit (end=exit:0; end=tls:eof if our FIN came first), and
     * usherd stays alive and serving: whatever order the program's exit,
     * its stderr's end and the relay's end come in, none of them touches
     * what another one freed. */
    struct h_daemon *d = h_start(exec_tls_conf("quick", "/bin/echo hi", NULL), NULL);
    const char *addr = h_addr(d, "quick", "tls://127");
    struct tlsc_opts o = verified("localhost");

    for (int i = 0; i < 10; i++) {
        struct tlsc *t = tlsc_connect(addr, &o);
        char *want =
            h_fmt("usherd: service=quick proto=tcp peer=127.0.0.1:%d ", h_local_port(t->fd));
        char *out = read_to_close_notify(t, 64), *line;
        T_EQ_STR(out, "hi\n");
        usleep(50000); /* pacing: the program's exit and stderr are handled first */
        if (i % 2)
            tlsc_fin(t);
        else
            tlsc_close_notify(t);
        if (!h_wait_log(d, want, 5000))
            T_FAIL("connection %d: no line \"%s\" (usherd %s):\n%s", i, want,
                   h_alive(d) ? "alive" : "gone", h_log(d));
        line = h_log_line(d, want);
        if (strstr(line, " end=exit:0 ") == NULL && strstr(line, " end=tls:eof ") == NULL)
            T_FAIL("connection %d: %s", i, line);
        tlsc_free(t);
        if (!h_alive(d))
            T_FAIL("usherd died after connection %d:\n%s", i, h_log(d));
    }
    T_EQ_INT(h_count_log(d, "usherd: service=quick proto=tcp "), 10);
}

/* --- back-pressure -------------------------------------------------------------------- */

/* Write the pattern into `t` until nothing has gone through for a second or
 * `total` is sent; returns the bytes sent.  Samples usherd's RSS into *peak. */
static size_t push_until_stalled(struct tlsc *t, size_t total, pid_t pid, long *peak)
{
    static unsigned char chunk[16384];
    size_t sent = 0, pending = 0;
    int64_t last_progress = h_now_ms();

    while (sent < total) {
        struct pollfd p = {.fd = t->fd, .events = POLLOUT | POLLIN};
        long rss = h_rss_kb(pid);
        int n;
        if (rss > *peak)
            *peak = rss;
        if (pending == 0) {
            pending = sizeof(chunk) < total - sent ? sizeof(chunk) : total - sent;
            tlsc_pattern(chunk, sent, pending);
        }
        n = SSL_write(t->ssl, chunk, (int)pending);
        if (n > 0) {
            sent += (size_t)n;
            pending -= (size_t)n;
            if (pending > 0)
                memmove(chunk, chunk + n, pending);
            last_progress = h_now_ms();
            continue;
        }
        int err = SSL_get_error(t->ssl, n);
        if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ)
            T_FAIL("SSL_write failed after %zu bytes (error %d)", sent, err);
        if (h_now_ms() - last_progress > 1000 * (int64_t)t_scale())
            break;
        poll(&p, 1, 100);
    }
    return sent;
}

static void test_program_that_stops_reading_stalls_the_client(void)
{
    /* Scenario: exec = sleep 30 (never reads its input); our client pushes
     * up to 50 MB into it.  Asserted: the writes stall well short of 50 MB
     * (usherd stops reading the TLS connection when the program's socketpair
     * is full), and usherd's RSS grows by less than 32 MiB throughout (it
     * buffers a bounded amount, whatever the client pushes). */
    const size_t total = 50u << 20;
    struct h_daemon *d = h_start(exec_tls_conf("stall", "/bin/sleep 30", NULL), NULL);
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(h_addr(d, "stall", "tls://127"), &o);
    long rss0 = h_rss_kb(d->pid), peak = rss0;
    size_t sent = push_until_stalled(t, total, d->pid, &peak);

    t_note("writes stalled after %zu KiB; usherd RSS %ld -> peak %ld KiB", sent >> 10, rss0, peak);
    if (sent >= total)
        T_FAIL("all 50 MB went into a program that reads nothing: no back-pressure");
    if (peak - rss0 > 32 * 1024)
        T_FAIL("usherd grew from %ld to %ld KiB while the program did not read", rss0, peak);
    tlsc_free(t);
}

/* --- processes and configuration ------------------------------------------------------ */

static void test_no_process_per_connection_but_the_program(void)
{
    /* Scenario: three TLS connections to exec /bin/cat, each echoing a
     * line, held open.  Asserted: usherd has exactly three children, each
     * running cat (the relay is usherd's event loop, not a process). */
    struct h_daemon *d = h_start(exec_tls_conf("cat", "/bin/cat", NULL), NULL);
    const char *addr = h_addr(d, "cat", "tls://127");
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t[3];
    pid_t pids[8];
    int n;

    for (int i = 0; i < 3; i++) {
        char line[32];
        t[i] = tlsc_connect(addr, &o);
        tlsc_send_str(t[i], "ping\n");
        tlsc_recv_line(t[i], line, sizeof(line), 5000);
        T_EQ_STR(line, "ping");
    }
    n = h_wait_children(d, 3, false, pids, 8, 5000);
    for (int i = 0; i < n; i++) {
        char *comm = h_read_file(h_fmt("/proc/%ld/comm", (long)pids[i]));
        if (strcmp(comm, "cat\n") != 0)
            T_FAIL("child %ld of usherd runs %s, want cat", (long)pids[i], comm);
    }
    for (int i = 0; i < 3; i++)
        tlsc_free(t[i]);
}

static void test_wait_yes_with_tls_is_refused(void)
{
    /* Scenario: usherd -t on an exec service with wait = yes on a tls://
     * listener.  Asserted: exit 2 and an error naming the file and the line
     * of wait or of the listener. */
    const struct certs *c = certs_get();
    char *path = h_fmt("%s/wait.conf", h_tmpdir()), *all;
    struct h_result r;

    h_write_file(path, h_fmt("[w]\nlisten = tls://127.0.0.1:0\nexec = /bin/cat\nwait = yes\n"
                             "tls_cert = %s\ntls_key = %s\n",
                             c->server.cert, c->server.key));
    const char *const argv[] = {h_usherd(), "-t", "-f", path, NULL};
    h_run(&r, NULL, 0, 10000, argv);
    all = h_fmt("%s%s", r.out, r.err);
    if (r.exit_code != 2)
        T_FAIL("usherd -t exited %d, want 2: %s", r.exit_code, all);
    if (strstr(all, h_fmt("%s:4:", path)) == NULL && strstr(all, h_fmt("%s:2:", path)) == NULL)
        T_FAIL("no error at %s:4 (wait) or :2 (listen): %s", path, all);
}

static const struct t_case cases[] = {
    T_CASE(test_curl_gets_an_http_response),
    T_CASE(test_curl_negotiates_alpn_with_the_program),
    T_CASE_TIMEOUT(test_cat_carries_100_mb_both_ways, 120),
    T_CASE(test_socat_through_cat),
    T_CASE(test_env_with_client_certificate_sni_and_alpn),
    T_CASE(test_env_without_client_certificate_sni_or_alpn),
    T_CASE(test_env_no_peer_variables_for_a_certificate_not_asked_for),
    T_CASE(test_close_notify_is_eof_and_later_output_arrives),
    T_CASE(test_close_notify_with_the_line_still_open),
    T_CASE(test_fin_without_close_notify_is_logged_truncated),
    T_CASE(test_program_closing_its_output_sends_close_notify),
    T_CASE(test_program_gone_before_the_client_closes),
    T_CASE_TIMEOUT(test_program_that_stops_reading_stalls_the_client, 60),
    T_CASE(test_no_process_per_connection_but_the_program),
    T_CASE(test_wait_yes_with_tls_is_refused),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
