/*
 * The PROXY protocol in (SPEC 13): headers v1 and v2 from a trusted
 * balancer name the real client for the log (peer=REAL via=BALANCER),
 * the access rules, the per-address limits and the environment; what
 * follows the header is the service's; bad, late and untrusted headers
 * are refused with their reasons.  The headers are made here by hand (and
 * with the daemon's own encoder, checked against them).
 */
#include "certs.h"
#include "harness.h"
#include "proxy.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";

/* A v2 PROXY header, TCP over IPv4, `src`:sport -> `dst`:dport, then `tlvs`. */
static size_t v2_header(unsigned char *buf, const char *src, int sport, const char *dst, int dport,
                        const void *tlvs, size_t tlv_len, bool local)
{
    size_t len = 12 + (size_t)tlv_len;

    memcpy(buf, v2_sig, 12);
    buf[12] = local ? 0x20 : 0x21;
    buf[13] = 0x11; /* AF_INET, STREAM */
    buf[14] = (unsigned char)(len >> 8);
    buf[15] = (unsigned char)len;
    inet_pton(AF_INET, src, buf + 16);
    inet_pton(AF_INET, dst, buf + 20);
    buf[24] = (unsigned char)(sport >> 8);
    buf[25] = (unsigned char)sport;
    buf[26] = (unsigned char)(dport >> 8);
    buf[27] = (unsigned char)dport;
    if (tlv_len > 0)
        memcpy(buf + 28, tlvs, tlv_len);
    return 16 + len;
}

/* Closed without an answer: EOF, or a reset for bytes it never read, within 2 s. */
static bool closed_unanswered(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[64];
    ssize_t n;

    if (poll(&p, 1, 2000 * (int)t_scale()) <= 0)
        return false;
    n = recv(fd, buf, sizeof(buf), 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

#define ECHO_CONF                                                                                  \
    "[echo]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/echo.sock\nbuiltin = echo\n"                    \
    "proxy_protocol = any\nproxy_from = 127.0.0.1\nproxy_timeout = 300ms\n"

static void test_v1_names_the_client(void)
{
    /* Scenario: a v1 header, then data in the same segment.  Asserted: the
     * echo answers the data (nothing after the header is lost) and the line
     * says peer=REAL via=BALANCER. */
    struct h_daemon *d = h_start(ECHO_CONF, NULL);
    int fd = h_connect(h_addr(d, "echo", "tcp://"));
    char buf[16];

    h_send_str(fd, "PROXY TCP4 192.0.2.7 198.51.100.1 40000 7\r\nsame segment");
    h_recv_exact(fd, buf, 12);
    T_EQ_MEM(buf, "same segment", 12);
    close(fd);
    T_ASSERT(h_wait_log(d, "usherd: service=echo ", 2000));
    T_CONTAINS(h_log_line(d, "usherd: service=echo "), "peer=192.0.2.7:40000 via=127.0.0.1:");
}

static void test_v2_byte_by_byte(void)
{
    /* Scenario: a v2 header sent one byte per segment.  Asserted: served. */
    struct h_daemon *d = h_start(ECHO_CONF, NULL);
    int fd = h_connect(h_addr(d, "echo", "tcp://"));
    unsigned char hdr[64];
    size_t n = v2_header(hdr, "203.0.113.9", 5000, "198.51.100.1", 7, NULL, 0, false);
    char buf[8];

    for (size_t i = 0; i < n; i++) {
        h_send(fd, hdr + i, 1);
        usleep(2000); /* each byte its own segment */
    }
    h_echo_roundtrip(fd, "after");
    close(fd);
    T_ASSERT(h_wait_log(d, "usherd: service=echo ", 2000));
    T_CONTAINS(h_log_line(d, "usherd: service=echo "), "peer=203.0.113.9:5000 via=");
    (void)buf;
}

static void test_local_is_the_balancer(void)
{
    /* Scenario: v2 LOCAL (a balancer's health check) and v1 UNKNOWN.
     * Asserted: both served, with the balancer as the peer. */
    struct h_daemon *d = h_start(ECHO_CONF, NULL);
    unsigned char hdr[64];
    size_t n = v2_header(hdr, "0.0.0.0", 0, "0.0.0.0", 0, NULL, 0, true);
    int fd = h_connect(h_addr(d, "echo", "tcp://"));

    h_send(fd, hdr, n);
    h_echo_roundtrip(fd, "health");
    close(fd);
    fd = h_connect(h_addr(d, "echo", "tcp://"));
    h_send_str(fd, "PROXY UNKNOWN whatever follows\r\n");
    h_echo_roundtrip(fd, "unknown");
    close(fd);
    T_ASSERT(h_wait_log(d, "in=7 out=7", 2000));
    T_CONTAINS(h_log_line(d, "in=6 out=6"), "peer=127.0.0.1:");
    T_CONTAINS(h_log_line(d, "in=7 out=7"), "peer=127.0.0.1:");
}

static void test_unix_listener(void)
{
    /* Scenario: the same header over the Unix listener (its file's mode is the trust). */
    struct h_daemon *d = h_start(ECHO_CONF, NULL);
    int fd = h_connect(h_addr(d, "echo", "unix:"));

    h_send_str(fd, "PROXY TCP6 2001:db8::5 2001:db8::1 6000 7\r\n");
    h_echo_roundtrip(fd, "over unix");
    close(fd);
    T_ASSERT(h_wait_log(d, "usherd: service=echo ", 2000));
    T_CONTAINS(h_log_line(d, "usherd: service=echo "),
               "proto=unix peer=[2001:db8::5]:6000 via=pid:");
}

static const struct {
    const char *name;
    const char *bytes;
    size_t len;
} bad_headers[] = {
    {"plain text", "GET / HTTP/1.0\r\n\r\n", 18},
    {"v1 without CRLF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 31},
    {"v1 bad address", "PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n", 34},
    {"v1 port too big", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", 36},
    {"v1 too long",
     "PROXY TCP6 2001:0db8:0000:0000:0000:0000:0000:0001 2001:0db8:0000:0000:0000:0000:0000:0002 "
     "65535 65535 xxxxxxxxxxxxx\r\n",
     119},
    {"v2 wrong version", "\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c", 16},
    {"v2 wrong family", "\r\n\r\n\0\r\nQUIT\n\x21\x91\x00\x0c", 16},
    {"v2 too short for the family", "\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04\x01\x02\x03\x04", 20},
};

static void test_bad_headers_refused(void)
{
    /* Scenario: each bad header.  Asserted: the connection is closed with
     * nothing served and the line says end=proxy:bad_header; the daemon
     * goes on serving a good one afterwards. */
    struct h_daemon *d = h_start(ECHO_CONF, NULL);

    for (size_t i = 0; i < ARRAY_LEN(bad_headers); i++) {
        int fd = h_connect(h_addr(d, "echo", "tcp://"));
        h_send(fd, bad_headers[i].bytes, bad_headers[i].len);
        if (!closed_unanswered(fd))
            T_FAIL("%s: answered, or not closed", bad_headers[i].name);
        close(fd);
        if (!h_wait_file(d->log_path, "end=proxy:bad_header", (int)i + 1, 2000))
            T_FAIL("%s: no end=proxy:bad_header line:\n%s", bad_headers[i].name, h_log(d));
    }
    {
        int fd = h_connect(h_addr(d, "echo", "tcp://"));
        h_send_str(fd, "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n");
        h_echo_roundtrip(fd, "still serving");
        close(fd);
    }
}

static void test_bad_crc_refused_and_good_crc_served(void)
{
    struct h_daemon *d = h_start(ECHO_CONF, NULL);
    unsigned char tlv[7] = {0x03, 0x00, 0x04, 0, 0, 0, 0}, hdr[64];
    size_t n = v2_header(hdr, "192.0.2.3", 1234, "192.0.2.4", 7, tlv, sizeof(tlv), false);
    uint32_t crc = proxy_crc32c(0, hdr, n);
    int fd = h_connect(h_addr(d, "echo", "tcp://"));

    hdr[n - 4] = (unsigned char)(crc >> 24) ^ 0xff; /* wrong */
    h_send(fd, hdr, n);
    T_ASSERT(closed_unanswered(fd));
    close(fd);
    /* The CRC TLV holds the CRC32c in network order, computed with it zeroed. */
    hdr[n - 4] = (unsigned char)(crc >> 24);
    hdr[n - 3] = (unsigned char)(crc >> 16);
    hdr[n - 2] = (unsigned char)(crc >> 8);
    hdr[n - 1] = (unsigned char)crc;
    fd = h_connect(h_addr(d, "echo", "tcp://"));
    h_send(fd, hdr, n);
    h_echo_roundtrip(fd, "crc ok");
    close(fd);
    T_ASSERT(h_wait_log(d, "peer=192.0.2.3:1234", 2000));
    T_ASSERT(h_count_log(d, "end=proxy:bad_header") == 1);
}

static void test_timeout_and_silence(void)
{
    /* Scenario: half a header, then nothing; and a connection sending
     * nothing at all.  Asserted: both closed at proxy_timeout (300 ms). */
    struct h_daemon *d = h_start(ECHO_CONF, NULL);
    int a = h_connect(h_addr(d, "echo", "tcp://"));
    int b = h_connect(h_addr(d, "echo", "tcp://"));

    h_send_str(a, "PROXY TCP4 192.0.2.1 ");
    if (!h_wait_closed(a, 3000) || !h_wait_closed(b, 3000))
        T_FAIL("not closed at proxy_timeout");
    T_ASSERT(h_wait_file(d->log_path, "end=proxy:timeout", 2, 2000));
    close(a);
    close(b);
}

static void test_untrusted_balancer(void)
{
    /* Scenario: proxy_from names another network than ours.  Asserted: a
     * header from us is not believed: closed, end=proxy:untrusted, counted
     * as refused, the client never chose its own address. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "proxy_protocol = v1\nproxy_from = 10.0.0.0/8\n",
                                 NULL);
    int fd = h_connect(h_addr(d, "echo", "tcp://"));

    h_send_str(fd, "PROXY TCP4 10.0.0.5 10.0.0.1 1 7\r\nhi");
    T_ASSERT(closed_unanswered(fd));
    close(fd);
    T_ASSERT(h_wait_log(d, "end=proxy:untrusted", 2000));
    T_CONTAINS(h_log_line(d, "end=proxy:untrusted"), "peer=127.0.0.1:");
    T_ASSERT(h_count_log(d, "10.0.0.5") == 0);
}

static void test_rules_apply_to_the_real_client(void)
{
    /* Scenario: deny 192.0.2.66, max_per_ip = 1.  Asserted: a header naming
     * 192.0.2.66 is denied; a second connection naming the same client
     * while the first is open is refused by max_per_ip; another client
     * behind the same balancer is served. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "proxy_protocol = v1\nproxy_from = 127.0.0.1\n"
                                 "deny = 192.0.2.66\nmax_per_ip = 1\n",
                                 NULL);
    const char *addr = h_addr(d, "echo", "tcp://");
    int denied = h_connect(addr), first = h_connect(addr), second, other;

    h_send_str(denied, "PROXY TCP4 192.0.2.66 192.0.2.1 1 7\r\n");
    T_ASSERT(closed_unanswered(denied));
    h_send_str(first, "PROXY TCP4 192.0.2.10 192.0.2.1 1 7\r\n");
    h_echo_roundtrip(first, "one");
    second = h_connect(addr);
    h_send_str(second, "PROXY TCP4 192.0.2.10 192.0.2.1 2 7\r\n");
    T_ASSERT(closed_unanswered(second));
    other = h_connect(addr);
    h_send_str(other, "PROXY TCP4 192.0.2.11 192.0.2.1 3 7\r\n");
    h_echo_roundtrip(other, "two");
    T_ASSERT(h_wait_log(d, "end=denied", 2000));
    T_CONTAINS(h_log_line(d, "end=denied"), "peer=192.0.2.66:1 via=");
    T_ASSERT(h_wait_log(d, "end=refused:max_per_ip", 2000));
    close(denied);
    close(first);
    close(second);
    close(other);
}

static void test_exec_environment(void)
{
    /* Scenario: an exec service behind a v2 header with ALPN, AUTHORITY,
     * UNIQUE_ID and SSL (version, CN) TLVs.  Asserted: the program's
     * environment names the real client and the header's destination, and
     * has the PROXY_* variables. */
    const char *probe = h_exec_probe(false);
    char *conf = h_fmt("[p]\nlisten = tcp://127.0.0.1:0\nexec = %s report\nproxy_protocol = v2\n"
                       "proxy_from = 127.0.0.1\n",
                       probe);
    struct h_daemon *d = h_start(conf, NULL);
    static const unsigned char tlvs[] = {
        0x01, 0x00, 0x02, 'h',  '2',                                              /* ALPN */
        0x02, 0x00, 0x0b, 'e',  'x', 'a', 'm', 'p', 'l', 'e', '.', 'o', 'r', 'g', /* AUTHORITY */
        0x05, 0x00, 0x03, 'i',  'd', '7',                                         /* UNIQUE_ID */
        0x20, 0x00, 0x14, 0x01, 0,   0,   0,   0,             /* SSL: client SSL, verify 0 */
        0x21, 0x00, 0x07, 'T',  'L', 'S', 'v', '1', '.', '3', /* VERSION */
        0x22, 0x00, 0x02, 'c',  'n',                          /* CN */
    };
    unsigned char hdr[128];
    size_t n = v2_header(hdr, "192.0.2.44", 4444, "198.51.100.9", 8080, tlvs, sizeof(tlvs), false);
    int fd = h_connect(h_addr(d, "p", "tcp://"));
    char *report;

    h_send(fd, hdr, n);
    report = h_probe_report_fd(fd);
    T_CONTAINS(report, "env TCPREMOTEIP=192.0.2.44\n");
    T_CONTAINS(report, "env TCPREMOTEPORT=4444\n");
    T_CONTAINS(report, "env REMOTE_ADDR=192.0.2.44\n");
    T_CONTAINS(report, "env TCPLOCALIP=198.51.100.9\n");
    T_CONTAINS(report, "env TCPLOCALPORT=8080\n");
    T_CONTAINS(report, "env PROXY_ALPN=h2\n");
    T_CONTAINS(report, "env PROXY_AUTHORITY=example.org\n");
    T_CONTAINS(report, "env PROXY_UNIQUE_ID=id7\n");
    T_CONTAINS(report, "env PROXY_SSL_VERSION=TLSv1.3\n");
    T_CONTAINS(report, "env PROXY_SSL_CN=cn\n");
    close(fd);
    free(conf);
}

static void test_every_model(void)
{
    /* Scenario: the v1 header in front of echo under fork, prefork:2 and workers = 2. */
    static const char *const models[] = {"model = fork\n", "model = prefork:2\n", ""};
    static const char *const globals[] = {"", "", "[global]\nworkers = 2\n"};

    for (size_t i = 0; i < ARRAY_LEN(models); i++) {
        char *conf = h_fmt("%s[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n%s"
                           "proxy_protocol = v1\nproxy_from = 127.0.0.1\n",
                           globals[i], models[i]);
        struct h_daemon *d = h_start(conf, NULL);
        int fd = h_connect(h_addr(d, "echo", "tcp://"));
        h_send_str(fd, "PROXY TCP4 192.0.2.99 192.0.2.1 999 7\r\n");
        h_echo_roundtrip(fd, "model");
        close(fd);
        if (!h_wait_log(d, "peer=192.0.2.99:999 via=", 3000))
            T_FAIL("%s%s: no line for the real client:\n%s", globals[i], models[i], h_log(d));
        h_stop(d);
        free(conf);
    }
}

static void test_tls_after_the_header(void)
{
    /* Scenario: a tls:// listener with proxy_protocol = v1: the header, then
     * the ClientHello (as HAProxy sends them).  Asserted: the handshake and
     * an echo inside TLS work, and the line has both the real client and
     * the TLS fields. */
    const struct certs *c = certs_get();
    char *conf = h_fmt("[echo]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = %s\n"
                       "tls_key = %s\nproxy_protocol = v1\nproxy_from = 127.0.0.1\n",
                       c->server.cert, c->server.key);
    struct h_daemon *d = h_start(conf, NULL);
    const char *addr = h_addr(d, "echo", "tls://");
    char *tcp = h_fmt("tcp://%s", addr + strlen("tls://"));
    int fd = h_connect(tcp);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl;
    char buf[16];

    T_ASSERT(ctx != NULL && SSL_CTX_load_verify_locations(ctx, c->ca.cert, NULL) == 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    h_send_str(fd, "PROXY TCP4 192.0.2.77 192.0.2.1 7777 443\r\n");
    ssl = SSL_new(ctx);
    T_ASSERT(ssl != NULL && SSL_set_fd(ssl, fd) == 1);
    if (SSL_connect(ssl) != 1)
        T_FAIL("no TLS handshake after the PROXY header");
    T_EQ_INT(SSL_write(ssl, "inside tls", 10), 10);
    T_EQ_INT(SSL_read(ssl, buf, sizeof(buf)), 10);
    T_EQ_MEM(buf, "inside tls", 10);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    T_ASSERT(h_wait_log(d, "usherd: service=echo ", 3000));
    T_CONTAINS(h_log_line(d, "usherd: service=echo "), "peer=192.0.2.77:7777 via=127.0.0.1:");
    T_CONTAINS(h_log_line(d, "usherd: service=echo "), " tls=TLSv1.3 ");
    free(tcp);
    free(conf);
}

static void test_config_errors(void)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nproxy_protocol = v1\n",
         "a TCP listener needs proxy_from"},
        {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nproxy_protocol = v3\n",
         "proxy_protocol: 'v3' is not no, v1, v2 or any"},
        {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nproxy_from = 10.0.0.0/8\n",
         "proxy_from and proxy_timeout need proxy_protocol"},
        {"[e]\nlisten = udp://127.0.0.1:0\nbuiltin = echo\nproxy_protocol = v2\n"
         "proxy_from = 127.0.0.1\n",
         "the PROXY protocol is for stream listeners"},
        {"[e]\nlisten = unix:/nonexistent/x.sock\nbuiltin = echo\nproxy_protocol = v2\n"
         "proxy_timeout = 0ms\n",
         "proxy_timeout: '0ms' is not a duration from 1ms to 1h"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *out = NULL, *path = h_fmt("%s/p.conf", h_tmpdir());
        FILE *fp = fopen(path, "w");
        T_ASSERT(fp != NULL);
        fputs(cases[i].text, fp);
        fclose(fp);
        T_EQ_INT(h_usherd_run(NULL, &out, "-t", "-f", path, NULL), 2);
        T_CONTAINS(out, cases[i].error);
        free(out);
        free(path);
    }
}

static const struct t_case cases[] = {
    T_CASE(test_v1_names_the_client),
    T_CASE(test_v2_byte_by_byte),
    T_CASE(test_local_is_the_balancer),
    T_CASE(test_unix_listener),
    T_CASE(test_bad_headers_refused),
    T_CASE(test_bad_crc_refused_and_good_crc_served),
    T_CASE(test_timeout_and_silence),
    T_CASE(test_untrusted_balancer),
    T_CASE(test_rules_apply_to_the_real_client),
    T_CASE(test_exec_environment),
    T_CASE(test_every_model),
    T_CASE(test_tls_after_the_header),
    T_CASE(test_config_errors),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
