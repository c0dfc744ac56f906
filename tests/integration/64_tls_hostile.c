/*
 * Hostile TLS peers (SPEC 12, 7, 9): plain text, random garbage, an
 * oversized record, a truncated ClientHello, hand-built SSLv3 and TLS 1.0
 * hellos, clients that stop mid-handshake (closed at
 * tls_handshake_timeout, end=tls:timeout), 1000 half-done handshakes while
 * a normal client is still served and the daemon's CPU time stays flat,
 * and a TLS 1.2 renegotiation, refused.  After each, the daemon serves a
 * normal client.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- helpers ---------------------------------------------------------------- */

/* echo on tls://127.0.0.1:0 with the server pair and `extra` keys. */
static struct h_daemon *start_echo(const char *extra)
{
    const struct certs *c = certs_get();

    return h_start(h_fmt("[echo]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\n"
                         "tls_cert = %s\ntls_key = %s\n%s",
                         c->server.cert, c->server.key, extra ? extra : ""),
                   NULL);
}

/* A normal, verified client gets its echo. */
static void expect_served(const char *addr)
{
    struct tlsc_opts o = {
        .ca = certs_get()->ca.cert, .verify_name = "localhost", .sni = "localhost"};
    struct tlsc *t = tlsc_connect(addr, &o);
    char line[64];

    tlsc_send_str(t, "still here\n");
    tlsc_recv_line(t, line, sizeof(line), 5000);
    T_EQ_STR(line, "still here");
    tlsc_close_notify(t);
    tlsc_free(t);
}

/*
 * Read what the daemon sends on the raw socket `fd` until it closes (5 s
 * bound): fails if it does not close, or if a handshake record (0x16: a
 * ServerHello) or application data comes; an alert (0x15) is fine.
 */
static void expect_closed_without_handshake(int fd, const char *what)
{
    unsigned char buf[4096];
    size_t got = 0;
    int64_t until = h_now_ms() + 5000 * (int64_t)t_scale();

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(until - h_now_ms());
        ssize_t n;
        if (left <= 0 || poll(&p, 1, left) <= 0)
            T_FAIL("%s: the connection was not closed within 5 s", what);
        n = recv(fd, buf + got, sizeof(buf) - got, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            break;
        if (n < 0)
            T_FAIL("%s: recv: %s", what, strerror(errno));
        if (got == 0 && buf[0] != 0x15)
            T_FAIL("%s: the daemon answered with a record of type 0x%02x, want none or an alert",
                   what, buf[0]);
        got += (size_t)n;
        if (got == sizeof(buf))
            T_FAIL("%s: more than %zu bytes came back", what, sizeof(buf));
    }
}

/* Read and drop whatever comes on the raw socket `fd`; true once the
 * daemon closes it (EOF or reset) within `ms` (scaled). */
static bool closed_after_reading(int fd, int ms)
{
    int64_t until = h_now_ms() + ms * (int64_t)t_scale();
    char buf[4096];

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(until - h_now_ms());
        ssize_t n;
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            T_FAIL("recv: %s", strerror(errno));
    }
}

/* The connection line of the client whose socket is `fd`; waits 5 s. */
static char *line_of(const struct h_daemon *d, int fd)
{
    char *want = h_fmt("usherd: service=echo proto=tcp peer=127.0.0.1:%d ", h_local_port(fd));

    if (!h_wait_log(d, want, 5000))
        T_FAIL("no line \"%s\":\n%s", want, h_log(d));
    return h_log_line(d, want);
}

/* Send `data` on a new raw connection; the daemon must close it without a
 * handshake and log end=`end`. */
static void expect_refused_bytes(const struct h_daemon *d, const char *addr, const void *data,
                                 size_t len, const char *what, const char *end)
{
    int fd = h_connect(addr);

    (void)send(fd, data, len, MSG_NOSIGNAL); /* the daemon may close before all is in */
    expect_closed_without_handshake(fd, what);
    T_CONTAINS(line_of(d, fd), h_fmt(" end=%s", end));
    close(fd);
}

/* --- bytes that are not TLS ------------------------------------------------------ */

static void test_plain_text_is_closed_without_a_handshake(void)
{
    /* Scenario: an HTTP request and a line of text, each on a new plain TCP
     * connection to a tls:// echo.  Asserted: neither is echoed nor gets a
     * handshake; both are closed, logged end=tls:http_request (plain HTTP on
     * a TLS port) and end=tls:wrong_version (a hello that is not TLS's), as
     * the README says; a TLS client is served afterwards. */
    struct h_daemon *d = start_echo(NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    static const char http[] = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
    static const char text[] = "hello, is this echo?\n";

    expect_refused_bytes(d, addr, http, strlen(http), "an HTTP request", "tls:http_request");
    expect_refused_bytes(d, addr, text, strlen(text), "a line of text", "tls:wrong_version");
    expect_served(addr);
}

static void test_random_garbage_is_closed(void)
{
    /* Scenario: 16 connections each send 4 KiB of pseudo-random bytes
     * (first byte not a TLS record type), one sends 4 KiB of zeros, one a
     * handshake record header announcing 65535 bytes (over TLS's limit).
     * Asserted: each is closed without a handshake and logged end=tls:
     * (wrong_version for the garbage: not a TLS hello); a TLS client is
     * served afterwards. */
    struct h_daemon *d = start_echo(NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    unsigned char junk[4096];
    unsigned seed = 12345;

    for (int k = 0; k < 16; k++) {
        for (size_t i = 0; i < sizeof(junk); i++) {
            seed = seed * 1103515245u + 12345u;
            junk[i] = (unsigned char)(seed >> 16);
        }
        if (junk[0] >= 0x14 && junk[0] <= 0x18)
            junk[0] = 0x80 | junk[0]; /* not a record type: garbage from its first byte */
        expect_refused_bytes(d, addr, junk, sizeof(junk), h_fmt("garbage %d", k),
                             "tls:wrong_version");
    }
    memset(junk, 0, sizeof(junk));
    expect_refused_bytes(d, addr, junk, sizeof(junk), "zeros", "tls:");
    memcpy(junk, "\x16\x03\x01\xff\xff", 5);
    for (size_t i = 5; i < sizeof(junk); i++)
        junk[i] = (unsigned char)i;
    expect_refused_bytes(d, addr, junk, sizeof(junk), "an oversized record", "tls:");
    expect_served(addr);
}

/* --- broken hellos -------------------------------------------------------------- */

static void test_truncated_client_hello_then_fin_is_eof(void)
{
    /* Scenario: half of a real ClientHello, then a FIN.  Asserted: closed
     * without a handshake, logged end=tls:eof; a TLS client is served. */
    struct h_daemon *d = start_echo(NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    unsigned char hello[2048];
    size_t len = tlsc_client_hello(hello, sizeof(hello), "localhost");
    int fd = h_connect(addr);

    h_send(fd, hello, len / 2);
    T_ASSERT(shutdown(fd, SHUT_WR) == 0);
    expect_closed_without_handshake(fd, "half a ClientHello and a FIN");
    T_CONTAINS(line_of(d, fd), " end=tls:eof");
    close(fd);
    expect_served(addr);
}

/* A ClientHello record as an SSLv3 or TLS 1.0 client sends it: record and
 * hello versions both `version` (0x0300, 0x0301), RSA and CBC suites, no
 * extensions. */
static size_t old_hello(unsigned char *out, unsigned version)
{
    /* ECDHE-ECDSA with AES-CBC first (the test certificate's key is ECDSA), then RSA ones. */
    static const unsigned char suites[] = {0xc0, 0x0a, 0xc0, 0x09, 0x00, 0x2f,
                                           0x00, 0x35, 0x00, 0x0a, 0xc0, 0x14};
    unsigned char body[128];
    size_t n = 0;

    body[n++] = (unsigned char)(version >> 8);
    body[n++] = (unsigned char)version;
    for (int i = 0; i < 32; i++)
        body[n++] = (unsigned char)(i * 7 + 1); /* client random */
    body[n++] = 0;                              /* no session id */
    body[n++] = 0;
    body[n++] = sizeof(suites);
    memcpy(body + n, suites, sizeof(suites));
    n += sizeof(suites);
    body[n++] = 1; /* one compression method: null */
    body[n++] = 0;
    out[0] = 0x16;
    out[1] = (unsigned char)(version >> 8);
    out[2] = (unsigned char)version;
    out[3] = (unsigned char)((n + 4) >> 8);
    out[4] = (unsigned char)(n + 4);
    out[5] = 1; /* client_hello */
    out[6] = 0;
    out[7] = (unsigned char)(n >> 8);
    out[8] = (unsigned char)n;
    memcpy(out + 9, body, n);
    return n + 9;
}

static void test_sslv3_and_tls10_hellos_are_refused(void)
{
    /* Scenario: hand-built ClientHellos of an SSLv3 client (0x0300) and of
     * a TLS 1.0 client (0x0301), each on a raw connection.  Asserted: no
     * ServerHello (at most an alert), closed, logged end=tls:wrong_version
     * (refused for its version, before any cipher is chosen: TLS 1.2 is the
     * floor); a TLS client is served afterwards. */
    struct h_daemon *d = start_echo(NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    unsigned char hello[256];
    size_t len;

    len = old_hello(hello, 0x0300);
    expect_refused_bytes(d, addr, hello, len, "an SSLv3 ClientHello", "tls:wrong_version");
    len = old_hello(hello, 0x0301);
    expect_refused_bytes(d, addr, hello, len, "a TLS 1.0 ClientHello", "tls:wrong_version");
    expect_served(addr);
}

/* --- stalled handshakes ----------------------------------------------------------- */

static void test_silent_client_closed_at_handshake_timeout(void)
{
    /* Scenario: tls_handshake_timeout = 300ms; one client connects and
     * sends nothing, another sends half a ClientHello and waits, a third a
     * whole ClientHello and never answers the server's flight.  Asserted:
     * the daemon closes each (within 5 s) and logs end=tls:timeout with a
     * duration of at least the timeout. */
    struct h_daemon *d = start_echo("tls_handshake_timeout = 300ms\n");
    const char *addr = h_addr(d, "echo", "tls://127");
    unsigned char hello[2048];
    size_t len = tlsc_client_hello(hello, sizeof(hello), "localhost");
    int fds[3];

    for (int i = 0; i < 3; i++)
        fds[i] = h_connect(addr);
    h_send(fds[1], hello, len / 2);
    h_send(fds[2], hello, len);
    for (int i = 0; i < 3; i++) {
        /* The third gets the server's flight first; then the close. */
        if (!closed_after_reading(fds[i], 5000))
            T_FAIL("client %d was not closed within 5 s of a 300 ms handshake timeout", i);
        char *line = line_of(d, fds[i]);
        T_CONTAINS(line, " end=tls:timeout");
        if (h_log_field(line, "duration_ms") < 250)
            T_FAIL("closed before the handshake timeout: %s", line);
        close(fds[i]);
    }
    expect_served(addr);
}

/* At least `n` descriptors for this process (and the daemons it starts), or skip. */
static void want_fds(rlim_t n)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        T_FAIL("getrlimit: %s", strerror(errno));
    if (rl.rlim_cur >= n)
        return;
    if (rl.rlim_max < n)
        t_skip("RLIMIT_NOFILE hard limit %llu is below %llu", (unsigned long long)rl.rlim_max,
               (unsigned long long)n);
    rl.rlim_cur = n;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        T_FAIL("setrlimit: %s", strerror(errno));
}

static void test_thousand_half_done_handshakes_do_not_starve_others(void)
{
    /* Scenario: tls_handshake_timeout = 20s; 1000 clients connect, half of
     * them send nothing, half send half a ClientHello, and all wait.  Then
     * a normal TLS client comes.  Asserted: the normal client is served
     * (handshake and echo within 5 s); over the next second, with the 1000
     * waiting, usherd uses almost no CPU (< 200 ms: no busy loop on
     * pending handshakes); usherd is still alive. */
    enum { N = 1000 };
    static int fds[N];
    struct h_daemon *d;
    const char *addr;
    unsigned char hello[2048];
    size_t len = tlsc_client_hello(hello, sizeof(hello), "localhost");
    long cpu0, cpu1;

    want_fds(N + 200);
    d = start_echo("tls_handshake_timeout = 20s\n");
    addr = h_addr(d, "echo", "tls://127");
    for (int i = 0; i < N; i++) {
        fds[i] = h_connect(addr);
        if (i % 2)
            h_send(fds[i], hello, len / 2);
    }
    expect_served(addr);
    cpu0 = h_cpu_ms(d->pid);
    usleep(1000000); /* the measurement window, the 1000 handshakes pending */
    cpu1 = h_cpu_ms(d->pid);
    t_note("1000 pending handshakes: %ld ms of CPU in 1 s", cpu1 - cpu0);
    if (cpu1 - cpu0 > 200 * (long)t_scale())
        T_FAIL("usherd used %ld ms of CPU in 1 s with 1000 handshakes pending", cpu1 - cpu0);
    expect_served(addr);
    T_ASSERT(h_alive(d));
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

static void test_thousand_half_done_handshakes_all_time_out(void)
{
    /* Scenario: tls_handshake_timeout = 1s; 1000 clients connect and send
     * nothing or half a ClientHello.  Asserted: all 1000 are logged
     * end=tls:timeout within 10 s; the daemon's descriptors come back to
     * what they were; a normal client is served. */
    enum { N = 1000 };
    static int fds[N];
    struct h_daemon *d;
    const char *addr;
    unsigned char hello[2048];
    size_t len = tlsc_client_hello(hello, sizeof(hello), "localhost");
    int fds0;

    want_fds(N + 200);
    d = start_echo("tls_handshake_timeout = 1s\n");
    addr = h_addr(d, "echo", "tls://127");
    fds0 = h_count_fds(d->pid);
    for (int i = 0; i < N; i++) {
        fds[i] = h_connect(addr);
        if (i % 2)
            h_send(fds[i], hello, len / 2);
    }
    if (!h_wait_log_count(d, "end=tls:timeout", N, 10000))
        T_FAIL("%d of %d pending handshakes logged end=tls:timeout within 10 s",
               h_count_log(d, "end=tls:timeout"), N);
    for (int64_t until = h_now_ms() + 5000; h_count_fds(d->pid) > fds0 && h_now_ms() < until;)
        usleep(10000);
    T_EQ_INT(h_count_fds(d->pid), fds0);
    expect_served(addr);
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

/* --- renegotiation ---------------------------------------------------------------- */

/* Ask for a renegotiation on the TLS 1.2 connection `t`, echoing
 * meanwhile; true if it completed. */
static bool renegotiated(struct tlsc *t)
{
    int64_t until = h_now_ms() + 3000 * (int64_t)t_scale();

    if (SSL_renegotiate(t->ssl) != 1)
        T_FAIL("SSL_renegotiate refused to start");
    for (;;) {
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        int r = SSL_do_handshake(t->ssl), err = SSL_get_error(t->ssl, r);
        if (r == 1 && !SSL_renegotiate_pending(t->ssl))
            return true;
        if (r <= 0 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
            return false; /* refused: an alert, or the connection ended */
        if (r == 1) {
            /* Still pending: the server has not answered; read what comes. */
            char buf[64];
            int n = SSL_read(t->ssl, buf, sizeof(buf));
            if (n <= 0) {
                err = SSL_get_error(t->ssl, n);
                if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
                    return false;
            }
        }
        if (h_now_ms() > until)
            return false; /* never answered: not renegotiated either */
        poll(&p, 1, 50);
    }
}

static void test_renegotiation_is_refused(void)
{
    /* Scenario: a TLS 1.2 client echoes a line, then asks to renegotiate
     * (SSL_renegotiate); then s_client -tls1_2 gets "R" on its input (its
     * renegotiate command).  Asserted: our client's renegotiation never
     * completes (refused with an alert, or ignored); s_client verifies the
     * chain only once (no second handshake); the daemon serves a new
     * client afterwards. */
    const struct certs *c = certs_get();
    struct h_daemon *d = start_echo(NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    struct tlsc_opts o = {.ca = c->ca.cert, .sni = "localhost", .max_version = TLS1_2_VERSION};
    struct tlsc *t = tlsc_connect(addr, &o);
    struct h_result r;
    char line[64];
    int handshakes = 0;

    T_EQ_STR(tlsc_version(t), "TLSv1.2");
    tlsc_send_str(t, "before\n");
    tlsc_recv_line(t, line, sizeof(line), 5000);
    if (renegotiated(t))
        T_FAIL("the daemon accepted a renegotiation");
    tlsc_free(t);

    const char *const args[] = {"-CAfile", c->ca.cert, "-tls1_2", NULL};
    tlsc_s_client(&r, addr, "R\n", 10000, args);
    char *out = h_fmt("%s%s", r.out, r.err);
    for (const char *p = out; (p = strstr(p, "depth=0 ")) != NULL; p++)
        handshakes++;
    if (strstr(out, "RENEGOTIATING") == NULL)
        t_note("s_client did not try to renegotiate: %s", out);
    if (handshakes > 1)
        T_FAIL("s_client completed %d handshakes on one connection: %s", handshakes, out);
    expect_served(addr);
}

static const struct t_case cases[] = {
    T_CASE(test_plain_text_is_closed_without_a_handshake),
    T_CASE(test_random_garbage_is_closed),
    T_CASE(test_truncated_client_hello_then_fin_is_eof),
    T_CASE(test_sslv3_and_tls10_hellos_are_refused),
    T_CASE(test_silent_client_closed_at_handshake_timeout),
    T_CASE_TIMEOUT(test_thousand_half_done_handshakes_do_not_starve_others, 60),
    T_CASE_TIMEOUT(test_thousand_half_done_handshakes_all_time_out, 60),
    T_CASE(test_renegotiation_is_refused),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
