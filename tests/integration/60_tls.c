/*
 * TLS listeners (SPEC 12, with 3, 4, 6, 7, 9): tls:// services checked with
 * third-party clients (openssl s_client, gnutls-cli, socat) and the tests'
 * own OpenSSL client (tests/lib/tlsc.c): verification against the test CA,
 * SNI choosing among certificate pairs, ALPN, client certificates under
 * tls_verify = require and optional, TLS 1.2 and 1.3, tls_min, cipher
 * lists, resumption, every builtin over TLS byte for byte as over plain TCP
 * in each concurrency model, over IPv4 and IPv6, the connection line's TLS
 * fields, access rules and limits applied before any handshake, and the
 * configuration errors of `usherd -t`.
 *
 * Certificates are made at run time by tests/lib/certs.c (a throwaway CA).
 */
#include "certs.h"
#include "harness.h"
#include "t.h"
#include "tlsc.h"
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RFC868_OFFSET 2208988800u

static const char *const builtins[] = {"echo", "discard", "daytime", "chargen",
                                       "time", "sum",     "sumbin"};

/* --- helpers ---------------------------------------------------------------- */

/* The keys of a service that serves the test server certificate. */
static char *tls_keys(void)
{
    const struct certs *c = certs_get();

    return h_fmt("tls_cert = %s\ntls_key = %s\n", c->server.cert, c->server.key);
}

/* A one-service config: [NAME] builtin BUILTIN on tls://127.0.0.1:0, the
 * server pair, and `extra` keys. */
static char *tls_conf(const char *name, const char *builtin, const char *extra)
{
    return h_fmt("[%s]\nlisten = tls://127.0.0.1:0\nbuiltin = %s\n%s%s", name, builtin, tls_keys(),
                 extra ? extra : "");
}

/* Can we bind ::1 here? */
static bool have_ipv6(void)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

/* Verifying options: the test CA, the name `name` checked and sent as SNI. */
static struct tlsc_opts verified(const char *name)
{
    return (struct tlsc_opts){.ca = certs_get()->ca.cert, .verify_name = name, .sni = name};
}

/* s_client's output (stdout and stderr) for `addr` with `args`, stdin empty
 * (the -ign_eof ones wait for the server to close). */
static char *s_client(const char *addr, const char *first, ...) __attribute__((sentinel));
static char *s_client(const char *addr, const char *first, ...)
{
    const char *args[40];
    struct h_result r;
    va_list ap;
    int n = 0;

    va_start(ap, first);
    for (const char *a = first; a != NULL && n < 39; a = va_arg(ap, const char *))
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    tlsc_s_client(&r, addr, NULL, 10000, args);
    return h_fmt("%s%s", r.out, r.err);
}

/* Was the raw connection `fd` closed (EOF or reset) within 5 s before a
 * single byte came?  False if something came (a ServerHello). */
static bool closed_without_a_byte(int fd)
{
    char buf[256];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    if (poll(&p, 1, 5000 * (int)t_scale()) <= 0)
        T_FAIL("neither an answer nor a close within 5 s");
    n = recv(fd, buf, sizeof(buf), 0);
    return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

/* The whole stream of a TLS connection to a service that speaks first. */
static size_t tls_read_all(const char *addr, char *buf, size_t cap)
{
    struct tlsc_opts o = verified("localhost");
    struct tlsc *c = tlsc_connect(addr, &o);
    enum tlsc_end end;
    size_t n = tlsc_recv_all(c, buf, cap, &end, 5000);

    if (end != TLSC_NOTIFY)
        T_FAIL("%s: the stream ended with %s, want close_notify", addr, tlsc_end_name(end));
    tlsc_free(c);
    return n;
}

/* --- configuration ------------------------------------------------------------ */

/* usherd -t -f FILE on `conf` (stdout and stderr apart). */
struct check {
    int code;
    char *out, *err, *path;
};

static struct check check_conf(const char *conf)
{
    static int seq;
    struct check c = {.path = h_fmt("%s/t%d.conf", h_tmpdir(), ++seq)};
    struct h_result r;

    h_write_file(c.path, conf);
    const char *const argv[] = {h_usherd(), "-t", "-f", c.path, NULL};
    h_run(&r, NULL, 0, 10000, argv);
    c.code = r.exit_code;
    c.out = r.out;
    c.err = r.err;
    return c;
}

static void test_t_accepts_a_tls_service_without_warnings(void)
{
    /* Scenario: usherd -t on a tls:// echo with a valid pair (30 days left,
     * key mode 0600), a client CA, tls_verify, tls_min, cipher lists, ALPN
     * and a handshake timeout.  Asserted: exit 0, "configuration ok", and
     * no warning on stderr. */
    const struct certs *c = certs_get();
    struct check r = check_conf(h_fmt(
        "[echo]\nlisten = tls://127.0.0.1:0 tls://[::1]:0\nbuiltin = echo\n"
        "tls_cert = %s %s\ntls_key = %s %s\ntls_client_ca = %s\ntls_verify = optional\n"
        "tls_min = 1.2\ntls_ciphers = ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305\n"
        "tls_ciphersuites = TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n"
        "tls_alpn = h2 http/1.1\ntls_handshake_timeout = 300ms\n",
        c->server.cert, c->other.cert, c->server.key, c->other.key, c->ca.cert));

    if (r.code != 0)
        T_FAIL("usherd -t exited %d: %s%s", r.code, r.out, r.err);
    T_CONTAINS(h_fmt("%s%s", r.out, r.err), "configuration ok");
    if (strstr(r.err, "warn") != NULL)
        T_FAIL("warnings for a sound configuration: %s", r.err);
}

/* A configuration that -t must refuse: the error names the file and one of
 * `lines` (space-separated numbers; the first key that is wrong). */
struct bad_conf {
    const char *what;
    const char *text; /* %1$s ... the paths: server cert, server key, other key, CA, dir */
    const char *lines;
};

/* The text with the paths put in: @CERT@, @KEY@, @OTHERKEY@, @OTHERCERT@, @CA@, @DIR@. */
static char *with_paths(const char *text)
{
    const struct certs *c = certs_get();
    const char *keys[][2] = {{"@CERT@", c->server.cert},   {"@KEY@", c->server.key},
                             {"@OTHERKEY@", c->other.key}, {"@OTHERCERT@", c->other.cert},
                             {"@CA@", c->ca.cert},         {"@DIR@", c->dir}};
    char *out = strdup(text);

    for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
        char *at;
        while ((at = strstr(out, keys[k][0])) != NULL) {
            char *next =
                h_fmt("%.*s%s%s", (int)(at - out), out, keys[k][1], at + strlen(keys[k][0]));
            free(out);
            out = next;
        }
    }
    return out;
}

static const struct bad_conf bad_confs[] = {
    {"tls:// without a certificate", "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\n", "1 2"},
    {"tls_cert without tls_key",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\n", "1 2 4"},
    {"a relative certificate path",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = server.pem\ntls_key = @KEY@\n",
     "4"},
    {"a relative key path",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = server.key\n",
     "5"},
    {"a missing certificate file",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @DIR@/nothing.pem\n"
     "tls_key = @KEY@\n",
     "4"},
    {"a missing key file",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\n"
     "tls_key = @DIR@/nothing.key\n",
     "5"},
    {"a key that is not the certificate's",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = @OTHERKEY@\n",
     "4 5"},
    {"a key file that holds a certificate",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = @CERT@\n",
     "4 5"},
    {"two certificates, one key",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@ @OTHERCERT@\n"
     "tls_key = @KEY@\n",
     "4 5"},
    {"tls_verify = require without tls_client_ca",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = @KEY@\n"
     "tls_verify = require\n",
     "1 6"},
    {"tls_verify = optional without tls_client_ca",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = @KEY@\n"
     "tls_verify = optional\n",
     "1 6"},
    {"a tls_verify that is no mode",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = @KEY@\n"
     "tls_verify = sometimes\n",
     "6"},
    {"a missing tls_client_ca file",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = @KEY@\n"
     "tls_client_ca = @DIR@/nothing.pem\ntls_verify = require\n",
     "6"},
    {"tls_min = 1.1",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = @KEY@\n"
     "tls_min = 1.1\n",
     "6"},
    {"tls_ciphers naming no cipher",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = @KEY@\n"
     "tls_ciphers = NO-SUCH-CIPHER\n",
     "6"},
    {"tls_ciphersuites naming no suite",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = @KEY@\n"
     "tls_ciphersuites = TLS_NO_SUCH_SUITE\n",
     "6"},
    {"a handshake timeout over 365 days",
     "[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = @KEY@\n"
     "tls_handshake_timeout = 400d\n",
     "6"},
    {"tls keys on a service with no tls:// listener",
     "[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\ntls_cert = @CERT@\ntls_key = @KEY@\n",
     "1 2 4 5"},
    {"tls_verify on a service with no tls:// listener",
     "[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\ntls_verify = none\n", "1 2 4"},
};

static void test_t_refuses_bad_tls_configurations_with_file_and_line(void)
{
    /* Scenario: usherd -t on each configuration of a table, each wrong in
     * one way (a tls:// listener without a pair, relative or missing files,
     * a key that is not the certificate's, unpaired lists, tls_verify
     * without a CA, bad modes, versions, cipher lists and durations, TLS
     * keys where no listener speaks TLS).  Asserted: exit 2, and an error
     * "FILE:LINE:" naming the file and the line of the key at fault. */
    for (size_t i = 0; i < ARRAY_LEN(bad_confs); i++) {
        struct check r = check_conf(with_paths(bad_confs[i].text));
        char *all = h_fmt("%s%s", r.out, r.err), lines[32], *save = NULL;
        bool named = false;

        if (r.code != 2)
            T_FAIL("%s: usherd -t exited %d, want 2: %s", bad_confs[i].what, r.code, all);
        snprintf(lines, sizeof(lines), "%s", bad_confs[i].lines);
        for (char *l = strtok_r(lines, " ", &save); l != NULL; l = strtok_r(NULL, " ", &save))
            named |= strstr(all, h_fmt("%s:%s:", r.path, l)) != NULL;
        if (!named)
            T_FAIL("%s: no error at %s:{%s}: %s", bad_confs[i].what, r.path, bad_confs[i].lines,
                   all);
    }
}

/* --- the handshake ------------------------------------------------------------ */

static void test_s_client_verifies_the_server_against_the_ca(void)
{
    /* Scenario: daytime on tls://127.0.0.1; openssl s_client with the test
     * CA, -verify_return_error and -verify_hostname localhost, SNI
     * localhost, waiting for the server to close.  Asserted: verification
     * succeeds ("Verification: OK", "Verify return code: 0"), TLS 1.3 with
     * TLS_AES_256_GCM_SHA384 (OpenSSL's defaults on both ends), the
     * certificate is the server's (CN = localhost), and the daytime line
     * comes through.  The same against 127.0.0.1 as the checked name (the
     * IP in the SAN). */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(tls_conf("daytime", "daytime", NULL), NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");
    char *out = s_client(addr, "-CAfile", c->ca.cert, "-verify_return_error", "-verify_hostname",
                         "localhost", "-servername", "localhost", "-ign_eof", NULL);

    T_CONTAINS(out, "Verification: OK");
    T_CONTAINS(out, "Verify return code: 0 (ok)");
    T_CONTAINS(out, "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384");
    T_CONTAINS(out, "subject=CN = localhost");
    T_CONTAINS(out, " 20"); /* the year of the daytime line */
    out = s_client(addr, "-CAfile", c->ca.cert, "-verify_return_error", "-verify_ip", "127.0.0.1",
                   "-ign_eof", NULL);
    T_CONTAINS(out, "Verification: OK");
}

static void test_s_client_refuses_a_server_of_another_ca(void)
{
    /* Scenario: s_client trusting only the rogue CA, -verify_return_error.
     * Asserted: the client gives up (no "Verification: OK"); the daemon
     * logs the failed handshake with end=tls: and goes on serving. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(tls_conf("daytime", "daytime", NULL), NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");
    char *out = s_client(addr, "-CAfile", c->rogue_ca.cert, "-verify_return_error", NULL);
    char buf[64];

    if (strstr(out, "Verification: OK") != NULL)
        T_FAIL("s_client trusted a certificate of another CA: %s", out);
    h_wait_conn_line(d, "daytime", "end=tls:", 5000);
    T_EQ_INT(tls_read_all(addr, buf, sizeof(buf)), 26);
}

static void test_sni_chooses_the_matching_pair(void)
{
    /* Scenario: tls_cert = server.pem other.pem (keys paired by position).
     * Clients send SNI other.test, localhost, none, and an unknown name.
     * Asserted: other.test gets the other.test certificate (s_client
     * verifies it under that name); localhost, no SNI and the unknown name
     * get the first, CN=localhost; the connection lines say sni=other.test,
     * sni=localhost, sni=-. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(h_fmt("[daytime]\nlisten = tls://127.0.0.1:0\nbuiltin = daytime\n"
                                       "tls_cert = %s %s\ntls_key = %s %s\n",
                                       c->server.cert, c->other.cert, c->server.key, c->other.key),
                                 NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");
    struct tlsc_opts o = {.ca = c->ca.cert};
    struct tlsc *t;
    char *out = s_client(addr, "-CAfile", c->ca.cert, "-verify_return_error", "-servername",
                         "other.test", "-verify_hostname", "other.test", "-ign_eof", NULL);

    T_CONTAINS(out, "subject=CN = other.test");
    T_CONTAINS(out, "Verification: OK");
    T_CONTAINS(h_wait_conn_line(d, "daytime", "sni=other.test", 5000), "tls=TLSv1.3");

    o.sni = "other.test";
    t = tlsc_connect(addr, &o);
    T_EQ_STR(tlsc_peer_cn(t), "other.test");
    T_EQ_STR(tlsc_peer_serial(t), certs_serial(c->other.cert));
    tlsc_free(t);
    o.sni = "localhost";
    t = tlsc_connect(addr, &o);
    T_EQ_STR(tlsc_peer_cn(t), "localhost");
    tlsc_free(t);
    T_ASSERT(h_wait_log(d, "sni=localhost", 5000));
    o.sni = NULL;
    t = tlsc_connect(addr, &o);
    T_EQ_STR(tlsc_peer_cn(t), "localhost");
    tlsc_free(t);
    T_ASSERT(h_wait_log(d, "sni=-", 5000));
    o.sni = "unknown.test";
    t = tlsc_connect(addr, &o);
    T_EQ_STR(tlsc_peer_cn(t), "localhost");
    tlsc_free(t);
}

static void test_alpn_picks_the_servers_preference(void)
{
    /* Scenario: tls_alpn = h2 http/1.1.  s_client offers http/1.1 alone,
     * then h2,http/1.1, then nothing.  Asserted: http/1.1, then h2 (both
     * offered: the server's order wins), then "No ALPN negotiated".  Our
     * own client, offering http/1.1,h2, gets h2 too. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(tls_conf("daytime", "daytime", "tls_alpn = h2 http/1.1\n"), NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");
    struct tlsc_opts o = {.ca = c->ca.cert, .alpn = "http/1.1,h2"};
    struct tlsc *t;

    T_CONTAINS(s_client(addr, "-CAfile", c->ca.cert, "-alpn", "http/1.1", "-ign_eof", NULL),
               "ALPN protocol: http/1.1");
    T_CONTAINS(s_client(addr, "-CAfile", c->ca.cert, "-alpn", "h2,http/1.1", "-ign_eof", NULL),
               "ALPN protocol: h2");
    T_CONTAINS(s_client(addr, "-CAfile", c->ca.cert, "-ign_eof", NULL), "No ALPN negotiated");
    t = tlsc_connect(addr, &o);
    T_EQ_STR(tlsc_alpn(t), "h2");
    tlsc_free(t);
}

/* --- client certificates -------------------------------------------------------- */

/* Daytime over TLS with (or without) a client pair: true if the line came. */
static bool served_with(const char *addr, const struct certs_pair *client)
{
    struct tlsc_opts o = {.ca = certs_get()->ca.cert, .sni = "localhost"};
    struct tlsc *t;
    char why[600], buf[64];
    enum tlsc_end end;
    size_t n;

    if (client != NULL) {
        o.cert = client->cert;
        o.key = client->key;
    }
    t = tlsc_try(addr, &o, why, sizeof(why));
    if (t == NULL)
        return false; /* TLS 1.2 fails here; 1.3 at the first read */
    n = tlsc_recv_all(t, buf, sizeof(buf), &end, 5000);
    tlsc_free(t);
    if (n == 26 && end == TLSC_NOTIFY)
        return true;
    if (n != 0)
        T_FAIL("%zu bytes then %s: neither served nor refused", n, tlsc_end_name(end));
    return false;
}

static void test_tls_verify_require_wants_a_certificate_of_the_ca(void)
{
    /* Scenario: daytime with tls_verify = require and tls_client_ca = the
     * test CA.  Clients come with the CA's client certificate, with none,
     * and with one of another CA.  Asserted: only the first is served; the
     * others are logged end=tls:no_certificate and end=tls:unknown_ca; the
     * same with s_client -cert/-key (the daytime line, or none). */
    const struct certs *c = certs_get();
    struct h_daemon *d =
        h_start(tls_conf("daytime", "daytime",
                         h_fmt("tls_client_ca = %s\ntls_verify = require\n", c->ca.cert)),
                NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");
    char *out;

    if (!served_with(addr, &c->client))
        T_FAIL("a client certificate of the CA was refused:\n%s", h_log(d));
    if (served_with(addr, NULL))
        T_FAIL("a client without a certificate was served under tls_verify = require");
    /* Not the last line: the served client's may be written after it (its lingering close). */
    if (!h_wait_log(d, "end=tls:no_certificate", 5000))
        T_FAIL("no end=tls:no_certificate line:\n%s", h_log(d));
    if (served_with(addr, &c->rogue_client))
        T_FAIL("a client certificate of another CA was accepted");
    if (!h_wait_log(d, "end=tls:unknown_ca", 5000))
        T_FAIL("no end=tls:unknown_ca line:\n%s", h_log(d));

    out = s_client(addr, "-CAfile", c->ca.cert, "-cert", c->client.cert, "-key", c->client.key,
                   "-ign_eof", NULL);
    T_CONTAINS(out, "Verification: OK");
    T_CONTAINS(out, " 20");
    out = s_client(addr, "-CAfile", c->ca.cert, "-cert", c->rogue_client.cert, "-key",
                   c->rogue_client.key, "-ign_eof", NULL);
    if (strstr(out, "alert unknown ca") == NULL && strstr(out, "alert") == NULL)
        T_FAIL("s_client with a certificate of another CA got no alert: %s", out);
}

static void test_tls_verify_optional_takes_none_but_not_a_bad_one(void)
{
    /* Scenario: tls_verify = optional with the test CA.  Asserted: a client
     * without a certificate and one with the CA's are served; one with a
     * certificate of another CA is refused (a certificate shown must
     * verify), logged end=tls:unknown_ca. */
    const struct certs *c = certs_get();
    struct h_daemon *d =
        h_start(tls_conf("daytime", "daytime",
                         h_fmt("tls_client_ca = %s\ntls_verify = optional\n", c->ca.cert)),
                NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");

    if (!served_with(addr, NULL))
        T_FAIL("a client without a certificate was refused under tls_verify = optional");
    if (!served_with(addr, &c->client))
        T_FAIL("a client certificate of the CA was refused");
    if (served_with(addr, &c->rogue_client))
        T_FAIL("a client certificate of another CA was accepted under tls_verify = optional");
    /* Not the last line: a served client's may come after it (its lingering close). */
    if (!h_wait_log(d, "end=tls:unknown_ca", 5000))
        T_FAIL("no end=tls:unknown_ca line:\n%s", h_log(d));
}

static void test_tls_verify_none_asks_for_no_certificate(void)
{
    /* Scenario: the default, tls_verify = none.  Asserted: s_client is not
     * asked for a certificate ("No client certificate CA names sent") and
     * one of another CA offered anyway does no harm: served. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(tls_conf("daytime", "daytime", NULL), NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");

    T_CONTAINS(s_client(addr, "-CAfile", c->ca.cert, "-ign_eof", NULL),
               "No client certificate CA names sent");
    if (!served_with(addr, &c->rogue_client))
        T_FAIL("a certificate nobody asked for made the connection fail");
}

/* --- versions and ciphers ------------------------------------------------------- */

static void test_tls12_and_tls13_are_both_served(void)
{
    /* Scenario: s_client -tls1_2, then -tls1_3, against a default service.
     * Asserted: "New, TLSv1.2, Cipher is ECDHE-ECDSA-..." and "New,
     * TLSv1.3"; the connection lines say tls=TLSv1.2 and tls=TLSv1.3. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(tls_conf("daytime", "daytime", NULL), NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");

    T_CONTAINS(s_client(addr, "-CAfile", c->ca.cert, "-tls1_2", "-ign_eof", NULL),
               "New, TLSv1.2, Cipher is ECDHE-ECDSA-");
    T_CONTAINS(h_wait_conn_line(d, "daytime", "tls=TLSv1.2", 5000), "end=closed");
    T_CONTAINS(s_client(addr, "-CAfile", c->ca.cert, "-tls1_3", "-ign_eof", NULL),
               "New, TLSv1.3, Cipher is ");
    T_CONTAINS(h_wait_conn_line(d, "daytime", "tls=TLSv1.3", 5000), "end=closed");
}

static void test_tls_min_13_refuses_tls12(void)
{
    /* Scenario: tls_min = 1.3; s_client -tls1_2, our client capped at 1.2,
     * then s_client -tls1_3.  Asserted: both 1.2 clients fail to shake
     * hands, the daemon logging end=tls:wrong_version; 1.3 is served. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(tls_conf("daytime", "daytime", "tls_min = 1.3\n"), NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");
    struct tlsc_opts o = {.ca = c->ca.cert, .max_version = TLS1_2_VERSION};
    char why[600];
    char *out = s_client(addr, "-CAfile", c->ca.cert, "-tls1_2", "-ign_eof", NULL);

    if (strstr(out, "New, TLSv1.2") != NULL)
        T_FAIL("TLS 1.2 was served under tls_min = 1.3: %s", out);
    h_wait_conn_line(d, "daytime", "end=tls:wrong_version", 5000);
    if (tlsc_try(addr, &o, why, sizeof(why)) != NULL)
        T_FAIL("our TLS 1.2 client was served under tls_min = 1.3");
    T_CONTAINS(s_client(addr, "-CAfile", c->ca.cert, "-tls1_3", "-ign_eof", NULL), "New, TLSv1.3");
}

static void test_cipher_lists_choose_the_cipher(void)
{
    /* Scenario: tls_ciphers = ECDHE-ECDSA-CHACHA20-POLY1305 and
     * tls_ciphersuites = TLS_CHACHA20_POLY1305_SHA256.  Asserted: s_client
     * -tls1_2 gets ECDHE-ECDSA-CHACHA20-POLY1305, -tls1_3 gets
     * TLS_CHACHA20_POLY1305_SHA256 (cipher= in the log line too); a 1.2
     * client offering only ECDHE-ECDSA-AES128-SHA256 shares none: refused,
     * end=tls:no_shared_cipher. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(tls_conf("daytime", "daytime",
                                          "tls_ciphers = ECDHE-ECDSA-CHACHA20-POLY1305\n"
                                          "tls_ciphersuites = TLS_CHACHA20_POLY1305_SHA256\n"),
                                 NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");
    char *out;

    T_CONTAINS(s_client(addr, "-CAfile", c->ca.cert, "-tls1_2", "-ign_eof", NULL),
               "Cipher is ECDHE-ECDSA-CHACHA20-POLY1305");
    T_CONTAINS(s_client(addr, "-CAfile", c->ca.cert, "-tls1_3", "-ign_eof", NULL),
               "Cipher is TLS_CHACHA20_POLY1305_SHA256");
    T_CONTAINS(h_wait_conn_line(d, "daytime", "tls=TLSv1.3", 5000),
               "cipher=TLS_CHACHA20_POLY1305_SHA256");
    out = s_client(addr, "-CAfile", c->ca.cert, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256",
                   "-ign_eof", NULL);
    if (strstr(out, "New, TLSv1.2") != NULL)
        T_FAIL("a client sharing no cipher was served: %s", out);
    h_wait_conn_line(d, "daytime", "end=tls:no_shared_cipher", 5000);
}

/* --- resumption ----------------------------------------------------------------- */

/* s_client -sess_out, then -sess_in: the second says "Reused, VERSION". */
static void expect_resumed(const char *addr, const char *version_flag, const char *version)
{
    const struct certs *c = certs_get();
    char *sess = h_fmt("%s/session-%s.pem", h_tmpdir(), version_flag + 1);
    char *first =
        s_client(addr, "-CAfile", c->ca.cert, version_flag, "-sess_out", sess, "-ign_eof", NULL);
    char *second;

    T_CONTAINS(first, h_fmt("New, %s", version));
    second =
        s_client(addr, "-CAfile", c->ca.cert, version_flag, "-sess_in", sess, "-ign_eof", NULL);
    if (strstr(second, h_fmt("Reused, %s", version)) == NULL)
        T_FAIL("%s: the session was not resumed:\n%s", addr, second);
}

/* Resumption in TLS 1.3 and 1.2 (tickets) on a daytime service of `conf`,
 * ten times each, so that a multi-process model is seen from several of
 * its processes. */
static void resumption_in(const char *model_lines, const char *global)
{
    struct h_daemon *d = h_start(
        h_fmt("%s%s", global ? global : "", tls_conf("daytime", "daytime", model_lines)), NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");

    for (int i = 0; i < (global || model_lines ? 6 : 1); i++) {
        expect_resumed(addr, "-tls1_3", "TLSv1.3");
        expect_resumed(addr, "-tls1_2", "TLSv1.2");
    }
    /* Our own client: a session from one connection resumes on the next. */
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(addr, &o);
    char buf[64];
    enum tlsc_end end;
    tlsc_recv_all(t, buf, sizeof(buf), &end, 5000);
    o.session = tlsc_session(t);
    tlsc_free(t);
    t = tlsc_connect(addr, &o);
    if (!tlsc_reused(t))
        T_FAIL("our client's session was not resumed");
    tlsc_free(t);
    SSL_SESSION_free(o.session);
}

static void test_resumption_event(void)
{
    /* Scenario: s_client -sess_out then -sess_in, TLS 1.3 and 1.2, against
     * the event model.  Asserted: "Reused" both times. */
    resumption_in(NULL, NULL);
}

static void test_resumption_fork(void)
{
    /* The same under model = fork: each connection in its own process, the
     * ticket keys must be the parent's. */
    resumption_in("model = fork\n", NULL);
}

static void test_resumption_prefork(void)
{
    /* The same under model = prefork:2, six times each: a ticket of one
     * pool process is taken by the other. */
    resumption_in("model = prefork:2\n", NULL);
}

static void test_resumption_workers(void)
{
    /* The same under [global] workers = 2: a ticket of one worker is taken
     * by the other. */
    resumption_in(NULL, "[global]\nworkers = 2\n");
}

/* --- every builtin, every model -------------------------------------------------- */

/* A daemon serving every builtin on tcp://127.0.0.1, tls://127.0.0.1 and,
 * if `v6`, tls://[::1], with the model lines in each service and `global`. */
static struct h_daemon *start_builtins(const char *model, const char *global, bool v6)
{
    char *conf = strdup(global ? global : "");

    for (size_t i = 0; i < ARRAY_LEN(builtins); i++) {
        char *next = h_fmt("%s[%s]\nlisten = tcp://127.0.0.1:0 tls://127.0.0.1:0%s\n"
                           "builtin = %s\n%s%s",
                           conf, builtins[i], v6 ? " tls://[::1]:0" : "", builtins[i], tls_keys(),
                           model ? model : "");
        free(conf);
        conf = next;
    }
    return h_start(conf, NULL);
}

/* The RFC 868 value of 4 bytes. */
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A daytime line as a time; fails unless it is one. */
static time_t daytime_value(const char *addr, const char *line, size_t n)
{
    struct tm tm = {0};
    char *rest;

    if (n != 26)
        T_FAIL("%s: daytime sent %zu bytes", addr, n);
    rest = strptime(line, "%a %b %e %H:%M:%S %Y", &tm);
    if (rest == NULL || strcmp(rest, "\r\n") != 0)
        T_FAIL("%s: not a ctime line: %.24s", addr, line);
    tm.tm_isdst = -1;
    return mktime(&tm);
}

static void check_echo(const char *plain, const char *tls)
{
    size_t len = 256 << 10;
    unsigned char *data = malloc(len);
    char *back = malloc(len + 1), *tback = malloc(len + 1);
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(tls, &o);
    struct tlsc_xfer x;
    int fd = h_connect(plain);
    size_t n;

    tlsc_pattern(data, 0, len);
    n = h_stream_exchange(fd, data, len, back, len + 1, 20000);
    close(fd);
    tlsc_exchange(t, data, len, false, tback, len + 1, 20000, &x);
    tlsc_free(t);
    if (n != len || x.got != len || memcmp(back, tback, len) != 0 || memcmp(back, data, len) != 0)
        T_FAIL("%s: echo gave %zu bytes over TLS, %zu in plain, or different ones", tls, x.got, n);
    if (x.end != TLSC_NOTIFY)
        T_FAIL("%s: echo ended with %s, want close_notify", tls, tlsc_end_name(x.end));
    free(data), free(back), free(tback);
}

static void check_discard(const char *plain, const char *tls)
{
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(tls, &o);
    struct tlsc_xfer x;
    char back[16];

    (void)plain;
    tlsc_exchange(t, NULL, 64 << 10, false, back, sizeof(back), 10000, &x);
    tlsc_free(t);
    if (x.got != 0 || x.end != TLSC_NOTIFY)
        T_FAIL("%s: discard sent %zu bytes and ended with %s", tls, x.got, tlsc_end_name(x.end));
}

static void check_daytime(const char *plain, const char *tls)
{
    char a[64], b[64];
    int fd = h_connect(plain);
    size_t na = h_recv_all(fd, a, sizeof(a) - 1), nb = tls_read_all(tls, b, sizeof(b) - 1);
    time_t ta, tb;

    close(fd);
    a[na] = b[nb] = '\0';
    ta = daytime_value(plain, a, na);
    tb = daytime_value(tls, b, nb);
    if (tb - ta > 2 || ta - tb > 2)
        T_FAIL("%s says \"%.24s\", %s \"%.24s\"", tls, b, plain, a);
}

static void check_chargen(const char *plain, const char *tls)
{
    size_t len = 300 * 74;
    char *a = malloc(len), *b = malloc(len);
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(tls, &o);
    int fd = h_connect(plain);

    h_recv_exact(fd, a, len);
    close(fd);
    tlsc_recv_exact(t, b, len, 10000);
    tlsc_free(t);
    if (memcmp(a, b, len) != 0)
        T_FAIL("%s: chargen's 300 first lines differ from those over plain TCP", tls);
    free(a), free(b);
}

static void check_time(const char *plain, const char *tls)
{
    unsigned char a[8], b[8];
    int fd = h_connect(plain);
    size_t na = h_recv_all(fd, (char *)a, sizeof(a)), nb = tls_read_all(tls, (char *)b, sizeof(b));
    int32_t skew;

    close(fd);
    if (na != 4 || nb != 4)
        T_FAIL("%s: time sent %zu bytes (plain: %zu), want 4", tls, nb, na);
    skew = (int32_t)(be32(b) - be32(a));
    if (skew < -2 || skew > 2)
        T_FAIL("%s: time says %u, plain %u", tls, be32(b), be32(a));
    if (be32(b) - (uint32_t)((uint64_t)time(NULL) + RFC868_OFFSET) + 5u > 10u)
        T_FAIL("%s: time %u is far from ours", tls, be32(b));
}

/* Send `req`, close our half, and compare what comes back over both. */
static void check_same_reply(const char *plain, const char *tls, const void *req, size_t len,
                             const void *want, size_t want_len)
{
    char a[1024], b[1024];
    int fd = h_connect(plain);
    size_t na = h_stream_exchange(fd, req, len, a, sizeof(a), 10000);
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(tls, &o);
    struct tlsc_xfer x;

    close(fd);
    tlsc_exchange(t, req, len, false, b, sizeof(b), 10000, &x);
    tlsc_free(t);
    if (na != want_len || memcmp(a, want, want_len) != 0)
        T_FAIL("%s: the plain reply is not the expected one (%zu bytes)", plain, na);
    if (x.got != na || memcmp(a, b, na) != 0)
        T_FAIL("%s: %zu reply bytes over TLS differ from the %zu over plain TCP", tls, x.got, na);
}

static void check_sum(const char *plain, const char *tls)
{
    static const char req[] = "1 2\n-5 3\r\nfoo\n9223372036854775807 1\n 7 8 \n";
    static const char want[] = "3\n-2\nerror: input\nerror: overflow\n15\n";

    check_same_reply(plain, tls, req, strlen(req), want, strlen(want));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static void check_sumbin(const char *plain, const char *tls)
{
    unsigned char req[48], want[36] = {0};

    put64(req, 1), put64(req + 8, 2);
    put64(req + 16, (uint64_t)-7), put64(req + 24, 3);
    put64(req + 32, (uint64_t)INT64_MAX), put64(req + 40, 1);
    put64(want + 4, 3);
    put64(want + 16, (uint64_t)-4);
    want[27] = 1; /* status 1: overflow, sum 0 */
    check_same_reply(plain, tls, req, sizeof(req), want, sizeof(want));
}

static void (*const checks[])(const char *, const char *) = {
    check_echo, check_discard, check_daytime, check_chargen, check_time, check_sum, check_sumbin,
};

/* Every builtin over each TLS address of the daemon, against plain TCP. */
static void builtins_in(const char *model, const char *global)
{
    bool v6 = have_ipv6();
    struct h_daemon *d = start_builtins(model, global, v6);

    if (!v6)
        t_note("no IPv6 loopback here: IPv4 only");
    for (size_t i = 0; i < ARRAY_LEN(builtins); i++) {
        const char *plain = h_addr(d, builtins[i], "tcp://127");
        checks[i](plain, h_addr(d, builtins[i], "tls://127"));
        if (v6)
            checks[i](plain, h_addr(d, builtins[i], "tls://["));
    }
    /* Each was also logged with its TLS fields. */
    T_CONTAINS(h_wait_conn_line(d, "discard", "tls=TLSv1.3", 5000), "in=65536 out=0 end=closed");
}

static void test_builtins_over_tls_event(void)
{
    /* Scenario: echo, discard, daytime, chargen, time, sum and sumbin, each
     * on tcp://127.0.0.1, tls://127.0.0.1 and tls://[::1] (if there is an
     * IPv6 loopback), event model.  Asserted: over TLS each gives the very
     * bytes it gives over plain TCP (daytime and time within 2 s), and
     * ends with close_notify. */
    builtins_in(NULL, NULL);
}

static void test_builtins_over_tls_fork(void)
{
    /* The same under model = fork. */
    builtins_in("model = fork\n", NULL);
}

static void test_builtins_over_tls_prefork(void)
{
    /* The same under model = prefork:2. */
    builtins_in("model = prefork:2\n", NULL);
}

static void test_builtins_over_tls_workers(void)
{
    /* The same under [global] workers = 2. */
    builtins_in(NULL, "[global]\nworkers = 2\n");
}

static void test_ipv6_listener_with_s_client(void)
{
    /* Scenario: daytime on tls://[::1]:0; s_client -connect [::1]:PORT,
     * verifying the IP ::1 of the SAN.  Asserted: "listening service=daytime
     * addr=tls://[::1]:PORT", verification OK, peer=[::1]:PORT in the log line. */
    const struct certs *c = certs_get();
    struct h_daemon *d;
    const char *addr;

    if (!have_ipv6())
        t_skip("no IPv6 loopback here");
    d = h_start(h_fmt("[daytime]\nlisten = tls://[::1]:0\nbuiltin = daytime\n%s", tls_keys()),
                NULL);
    addr = h_addr(d, "daytime", "tls://[::1]:");
    T_CONTAINS(h_log(d), h_fmt("listening service=daytime addr=%s", addr));
    T_CONTAINS(s_client(addr, "-CAfile", c->ca.cert, "-verify_return_error", "-verify_ip", "::1",
                        "-ign_eof", NULL),
               "Verification: OK");
    T_CONTAINS(h_wait_conn_line(d, "daytime", "end=closed", 5000), "peer=[::1]:");
}

/* --- other clients -------------------------------------------------------------- */

static void test_gnutls_cli_talks_to_echo(void)
{
    /* Scenario: gnutls-cli (another TLS stack) with the test CA, checking
     * the name localhost, sends a line to echo and ends its input.
     * Asserted: the certificate is trusted, the line comes back, exit 0; the
     * daemon logs the connection end=closed with sni=localhost. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(tls_conf("echo", "echo", NULL), NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    struct h_result r;

    h_need("gnutls-cli", "gnutls-bin");
    char *ca = h_fmt("--x509cafile=%s", c->ca.cert), *port = h_fmt("--port=%d", h_port(addr));
    const char *const argv[] = {
        "gnutls-cli", ca,  port, "--verify-hostname=localhost", "--sni-hostname=localhost",
        "127.0.0.1",  NULL};
    h_run(&r, "hello from gnutls\n", 18, 10000, argv);
    if (r.exit_code != 0)
        T_FAIL("gnutls-cli exited %d: %s%s", r.exit_code, r.out, r.err);
    T_CONTAINS(r.out, "hello from gnutls\n");
    T_CONTAINS(h_fmt("%s%s", r.out, r.err), "The certificate is trusted");
    T_CONTAINS(h_wait_conn_line(d, "echo", "sni=localhost", 5000), "in=18 out=18");
}

static void test_gnutls_cli_tls12(void)
{
    /* Scenario: gnutls-cli limited to TLS 1.2 by its priority string, to
     * daytime.  Asserted: the daytime line, the log says tls=TLSv1.2. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(tls_conf("daytime", "daytime", NULL), NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");
    struct h_result r;

    h_need("gnutls-cli", "gnutls-bin");
    char *ca = h_fmt("--x509cafile=%s", c->ca.cert), *port = h_fmt("--port=%d", h_port(addr));
    const char *const argv[] = {"gnutls-cli",
                                ca,
                                port,
                                "--verify-hostname=localhost",
                                "--priority=NORMAL:-VERS-ALL:+VERS-TLS1.2",
                                "127.0.0.1",
                                NULL};
    h_run(&r, NULL, 0, 10000, argv);
    if (r.exit_code != 0)
        T_FAIL("gnutls-cli exited %d: %s%s", r.exit_code, r.out, r.err);
    T_CONTAINS(r.out, " 20");
    T_ASSERT(h_wait_log(d, "tls=TLSv1.2", 5000));
}

static void test_socat_talks_to_echo(void)
{
    /* Scenario: socat - OPENSSL:127.0.0.1:PORT,cafile=CA (a third client,
     * verifying by default), a line to echo, then EOF.  Asserted: the line
     * comes back, socat exits 0, and the connection is logged. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(tls_conf("echo", "echo", NULL), NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    struct h_result r;

    h_need("socat", "socat");
    char *target = h_fmt("OPENSSL:127.0.0.1:%d,cafile=%s", h_port(addr), c->ca.cert);
    const char *const argv[] = {"socat", "-t", "5", "-", target, NULL};
    h_run(&r, "hello from socat\n", 17, 10000, argv);
    if (r.exit_code != 0)
        T_FAIL("socat exited %d: %s%s", r.exit_code, r.out, r.err);
    T_EQ_STR(r.out, "hello from socat\n");
    T_CONTAINS(h_wait_conn_line(d, "echo", "tls=TLSv1.3", 5000), "in=17 out=17");
}

/* --- the log -------------------------------------------------------------------- */

static void test_connection_line_has_the_tls_fields(void)
{
    /* Scenario: echo over TLS 1.3 with SNI localhost: "hello" and
     * close_notify; then a connection without SNI.  Asserted: the start-up
     * line "listening service=echo addr=tls://127.0.0.1:PORT"; the
     * connection lines: proto=tcp, our peer port, in=5 out=5 (plaintext
     * bytes), end=closed, tls=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384
     * sni=localhost; then sni=-. */
    struct h_daemon *d = h_start(tls_conf("echo", "echo", NULL), NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    struct tlsc_opts o = verified("localhost");
    struct tlsc *t = tlsc_connect(addr, &o);
    struct tlsc_xfer x;
    char back[16], *line, *want;
    int port = h_local_port(t->fd);

    T_CONTAINS(h_log(d), h_fmt("listening service=echo addr=%s\n", addr));
    tlsc_exchange(t, "hello", 5, false, back, sizeof(back), 5000, &x);
    T_EQ_STR(back, "hello");
    tlsc_free(t);
    want = h_fmt("usherd: service=echo proto=tcp peer=127.0.0.1:%d ", port);
    if (!h_wait_log(d, want, 5000))
        T_FAIL("no line \"%s\":\n%s", want, h_log(d));
    line = h_log_line(d, want);
    T_CONTAINS(line, " in=5 out=5 end=closed");
    T_CONTAINS(line, " tls=TLSv1.3");
    T_CONTAINS(line, " cipher=TLS_AES_256_GCM_SHA384");
    T_CONTAINS(line, " sni=localhost");

    o.sni = NULL;
    t = tlsc_connect(addr, &o);
    port = h_local_port(t->fd);
    tlsc_exchange(t, "hi", 2, false, back, sizeof(back), 5000, &x);
    tlsc_free(t);
    want = h_fmt("usherd: service=echo proto=tcp peer=127.0.0.1:%d ", port);
    if (!h_wait_log(d, want, 5000))
        T_FAIL("no line \"%s\":\n%s", want, h_log(d));
    line = h_log_line(d, want);
    T_CONTAINS(line, " in=2 out=2 end=closed");
    T_CONTAINS(line, " sni=-");
}

/* --- limits and access rules ---------------------------------------------------- */

static void test_denied_peer_gets_no_server_hello(void)
{
    /* Scenario: echo on tls://127.0.0.1 with allow = 127.0.0.2.  s_client
     * (from 127.0.0.1) tries; a raw socket from 127.0.0.1 sends a
     * ClientHello; one from 127.0.0.2 does too.  Asserted: s_client fails
     * (no certificate seen); the denied raw socket is closed without a byte
     * (no ServerHello: the rule applies before any cryptography) and logged
     * end=denied; the allowed one gets a handshake record (0x16) back. */
    struct h_daemon *d = h_start(tls_conf("echo", "echo", "allow = 127.0.0.2\n"), NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    unsigned char hello[2048];
    size_t len = tlsc_client_hello(hello, sizeof(hello), "localhost");
    char *out = s_client(addr, "-CAfile", certs_get()->ca.cert, NULL);
    int fd;
    char reply[8];

    if (strstr(out, "Server certificate") != NULL || strstr(out, "New, TLS") != NULL)
        T_FAIL("a denied s_client shook hands: %s", out);
    fd = h_connect(addr);
    h_send(fd, hello, len);
    if (!closed_without_a_byte(fd))
        T_FAIL("a denied peer got an answer to its ClientHello");
    close(fd);
    T_ASSERT(h_wait_log(d, "end=denied", 5000));
    fd = h_connect_from("tcp://127.0.0.2:0", addr);
    if (fd < 0)
        T_FAIL("connect from 127.0.0.2: %s", strerror(errno));
    h_send(fd, hello, len);
    if (h_recv_within(fd, reply, 1, 5000) != 1 || reply[0] != 0x16)
        T_FAIL("the allowed peer got no handshake record back");
    close(fd);
}

static void test_max_conns_refuses_before_the_handshake(void)
{
    /* Scenario: echo on TLS with max_conns = 1; one TLS connection held
     * open (it echoes), then a second sends a ClientHello.  Asserted: the
     * second is closed without a byte, logged end=refused:max_conns; the
     * first still echoes; once it is gone, a new one shakes hands. */
    struct h_daemon *d = h_start(tls_conf("echo", "echo", "max_conns = 1\n"), NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    struct tlsc_opts o = verified("localhost");
    struct tlsc *first = tlsc_connect(addr, &o);
    unsigned char hello[2048];
    size_t len = tlsc_client_hello(hello, sizeof(hello), "localhost");
    char back[8];
    int fd;

    tlsc_send_str(first, "one\n");
    tlsc_recv_line(first, back, sizeof(back), 5000);
    fd = h_connect(addr);
    h_send(fd, hello, len);
    if (!closed_without_a_byte(fd))
        T_FAIL("a connection beyond max_conns got an answer to its ClientHello");
    close(fd);
    T_ASSERT(h_wait_log(d, "end=refused:max_conns", 5000));
    tlsc_send_str(first, "two\n");
    tlsc_recv_line(first, back, sizeof(back), 5000);
    T_EQ_STR(back, "two");
    tlsc_close_notify(first);
    tlsc_free(first);
    T_ASSERT(h_wait_log(d, "end=closed", 5000));
    first = tlsc_connect(addr, &o);
    tlsc_free(first);
}

static void test_rate_limit_refuses_before_the_handshake(void)
{
    /* Scenario: echo on TLS with rate = 1/s; three ClientHellos at once.
     * Asserted: at least one is closed without a byte and logged
     * end=refused:rate (the bucket holds fewer than three). */
    struct h_daemon *d = h_start(tls_conf("echo", "echo", "rate = 1/s\n"), NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    unsigned char hello[2048];
    size_t len = tlsc_client_hello(hello, sizeof(hello), "localhost");
    int refused = 0;

    for (int i = 0; i < 3; i++) {
        int fd = h_connect(addr);
        h_send(fd, hello, len);
        refused += closed_without_a_byte(fd);
        close(fd);
    }
    if (refused == 0)
        T_FAIL("three handshakes at once under rate = 1/s were all answered");
    T_ASSERT(h_wait_log(d, "end=refused:rate", 5000));
}

static const struct t_case cases[] = {
    T_CASE(test_t_accepts_a_tls_service_without_warnings),
    T_CASE_TIMEOUT(test_t_refuses_bad_tls_configurations_with_file_and_line, 60),
    T_CASE(test_s_client_verifies_the_server_against_the_ca),
    T_CASE(test_s_client_refuses_a_server_of_another_ca),
    T_CASE(test_sni_chooses_the_matching_pair),
    T_CASE(test_alpn_picks_the_servers_preference),
    T_CASE(test_tls_verify_require_wants_a_certificate_of_the_ca),
    T_CASE(test_tls_verify_optional_takes_none_but_not_a_bad_one),
    T_CASE(test_tls_verify_none_asks_for_no_certificate),
    T_CASE(test_tls12_and_tls13_are_both_served),
    T_CASE(test_tls_min_13_refuses_tls12),
    T_CASE(test_cipher_lists_choose_the_cipher),
    T_CASE(test_resumption_event),
    T_CASE_TIMEOUT(test_resumption_fork, 60),
    T_CASE_TIMEOUT(test_resumption_prefork, 60),
    T_CASE_TIMEOUT(test_resumption_workers, 60),
    T_CASE_TIMEOUT(test_builtins_over_tls_event, 60),
    T_CASE_TIMEOUT(test_builtins_over_tls_fork, 60),
    T_CASE_TIMEOUT(test_builtins_over_tls_prefork, 60),
    T_CASE_TIMEOUT(test_builtins_over_tls_workers, 60),
    T_CASE(test_ipv6_listener_with_s_client),
    T_CASE(test_gnutls_cli_talks_to_echo),
    T_CASE(test_gnutls_cli_tls12),
    T_CASE(test_socat_talks_to_echo),
    T_CASE(test_connection_line_has_the_tls_fields),
    T_CASE(test_denied_peer_gets_no_server_hello),
    T_CASE(test_max_conns_refuses_before_the_handshake),
    T_CASE(test_rate_limit_refuses_before_the_handshake),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
