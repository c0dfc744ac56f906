/*
 * Unit tests: the tls_* keys (conf_tls.c) and loading them into OpenSSL
 * (tls.c): pairs, FILE:LINE errors, the reload digest and -t's warnings.
 * The certificates are made here with the openssl command.
 */
#include "conf.h"
#include "harness.h"
#include "t.h"
#include "tls.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct conf *parse(const char *text, char **errors)
{
    *errors = NULL;
    return conf_parse(text, "test.conf", errors);
}

static void test_keys_parsed(void)
{
    char *errors;
    struct conf *c = parse("[e]\nlisten = tls://127.0.0.1:0 tcp://127.0.0.1:0\nbuiltin = echo\n"
                           "tls_cert = /a.pem /b.pem\ntls_key = /a.key\ntls_key = /b.key\n"
                           "tls_client_ca = /ca.pem\ntls_verify = optional\ntls_min = 1.3\n"
                           "tls_ciphers = HIGH\ntls_ciphersuites = TLS_AES_128_GCM_SHA256\n"
                           "tls_alpn = h2, http/1.1\ntls_handshake_timeout = 250ms\n",
                           &errors);
    const struct tls_conf *tc;

    if (c == NULL)
        T_FAIL("errors: %s", errors);
    tc = c->svcs[0].tls;
    T_ASSERT(tc != NULL);
    T_ASSERT(c->svcs[0].listens[0].addr.tls);
    T_ASSERT(!c->svcs[0].listens[1].addr.tls);
    T_EQ_INT((int)tc->ncert, 2);
    T_EQ_INT((int)tc->nkey, 2);
    T_EQ_STR(tc->cert[1].path, "/b.pem");
    T_EQ_STR(tc->key[1].path, "/b.key");
    T_EQ_INT(tc->key[1].line, 6);
    T_EQ_STR(tc->client_ca.path, "/ca.pem");
    T_EQ_INT(tc->verify, TLS_VERIFY_OPTIONAL);
    T_EQ_INT(tc->min_version, 13);
    T_EQ_STR(tc->ciphers, "HIGH");
    T_EQ_INT(tc->ciphersuites_line, 11);
    T_EQ_INT((int)tc->alpn_len, 12);
    T_EQ_MEM(tc->alpn, "\x02h2\x08http/1.1", 12);
    T_EQ_INT((int)tc->handshake_timeout_ms, 250);
    conf_unref(c);
}

static void test_defaults(void)
{
    char *errors;
    struct conf *c = parse("[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\n"
                           "tls_cert = /a.pem\ntls_key = /a.key\n",
                           &errors);

    if (c == NULL)
        T_FAIL("errors: %s", errors);
    T_EQ_INT(c->svcs[0].tls->verify, TLS_VERIFY_NONE);
    T_EQ_INT(c->svcs[0].tls->min_version, 12);
    T_EQ_INT((int)c->svcs[0].tls->handshake_timeout_ms, 10000);
    T_ASSERT(c->svcs[0].tls->ciphers == NULL);
    conf_unref(c);
    c = parse("[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", &errors);
    T_ASSERT(c != NULL && c->svcs[0].tls == NULL);
    conf_unref(c);
}

static const struct {
    const char *text, *error;
} bad_cases[] = {
    {"[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\n",
     "test.conf:2: listen: tls://127.0.0.1:0: a tls:// listener needs tls_cert and tls_key"},
    {"[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = /a.pem\n",
     "test.conf:2: listen: tls://127.0.0.1:0: a tls:// listener needs tls_cert and tls_key"},
    {"[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = /a /b\ntls_key = /k\n",
     "test.conf:5: tls_key: 1 key(s) for 2 certificate(s); they pair by position"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\ntls_cert = /a\ntls_key = /k\n",
     "test.conf:1: [e]: tls_* keys, but no tls:// listener"},
    {"[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = a.pem\ntls_key = /k\n",
     "test.conf:4: tls_cert: 'a.pem' must be an absolute path"},
    {"[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = /a\ntls_key = /k\n"
     "tls_verify = require\n",
     "test.conf:6: tls_verify: optional and require need tls_client_ca"},
    {"[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = /a\ntls_key = /k\n"
     "tls_verify = maybe\n",
     "test.conf:6: tls_verify: 'maybe' is not none, optional or require"},
    {"[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = /a\ntls_key = /k\n"
     "tls_min = 1.0\n",
     "test.conf:6: tls_min: '1.0' is not 1.2 or 1.3"},
    {"[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = /a\ntls_key = /k\n"
     "tls_handshake_timeout = 0s\n",
     "test.conf:6: tls_handshake_timeout: '0s' is not a duration from 1ms to 1h"},
    {"[e]\nlisten = tls://127.0.0.1:0\nexec = /bin/cat\nwait = yes\ntls_cert = /a\n"
     "tls_key = /k\n",
     "test.conf:4: wait: a wait = yes program takes the listening socket itself"},
    {"[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = /a\ntls_key = /k\n"
     "tls_alpn = "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
     "test.conf:6: tls_alpn: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is longer than 255 bytes"},
    {"[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = /a\ntls_key = /k\n"
     "tls_min = 1.2\ntls_min = 1.3\n",
     "test.conf:7: tls_min: set twice in this section (first on line 6)"},
};

static void test_errors(void)
{
    for (size_t i = 0; i < ARRAY_LEN(bad_cases); i++) {
        char *errors;
        struct conf *c = parse(bad_cases[i].text, &errors);
        if (c != NULL)
            T_FAIL("case %zu accepted", i);
        if (errors == NULL || strstr(errors, bad_cases[i].error) == NULL)
            T_FAIL("case %zu: want \"%s\" in:\n%s", i, bad_cases[i].error, errors);
        free(errors);
    }
}

/* Loading: certificates made with the openssl command. */

static void need_openssl(void)
{
    if (system("openssl version >/dev/null 2>&1") != 0)
        t_skip("no openssl command");
}

/* A self-signed ECDSA P-256 pair for `cn`, valid `days`, as DIR/NAME.pem and DIR/NAME.key. */
static void make_pair(const char *name, const char *cn, int days)
{
    char *cmd = h_fmt("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                      "-nodes -keyout %s.key -out %s.pem -days %d -subj /CN=%s "
                      "-addext subjectAltName=DNS:%s >/dev/null 2>&1 && chmod 600 %s.key",
                      h_tmpdir(), name, name, days, cn, cn, name);

    if (system(cmd) != 0)
        T_FAIL("openssl req failed: %s", cmd);
    free(cmd);
}

static struct conf *pair_conf(const char *cert, const char *key)
{
    char *errors;
    char *text = h_fmt("[e]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\n"
                       "tls_cert = %s/%s\ntls_key = %s/%s\n",
                       h_tmpdir(), cert, h_tmpdir(), key);
    struct conf *c = parse(text, &errors);

    if (c == NULL)
        T_FAIL("errors: %s", errors);
    free(text);
    return c;
}

static void test_load_and_mismatch(void)
{
    char err[512];
    struct conf *c;
    struct tls_ctx *t;

    need_openssl();
    make_pair("one", "one.test", 30);
    make_pair("two", "two.test", 30);
    c = pair_conf("one.pem", "one.key");
    t = tls_ctx_load(c->svcs[0].tls, "e", err, sizeof(err));
    T_ASSERT(t != NULL);
    tls_ctx_free(t);
    conf_unref(c);
    c = pair_conf("one.pem", "two.key");
    T_ASSERT(tls_ctx_load(c->svcs[0].tls, "e", err, sizeof(err)) == NULL);
    T_CONTAINS(err, "test.conf:5: tls_key: ");
    T_CONTAINS(err, "two.key does not match the certificate ");
    conf_unref(c);
    c = pair_conf("missing.pem", "one.key");
    T_ASSERT(tls_ctx_load(c->svcs[0].tls, "e", err, sizeof(err)) == NULL);
    T_CONTAINS(err, "test.conf:4: tls_cert: ");
    T_CONTAINS(err, "missing.pem: unable to read: No such file or directory");
    conf_unref(c);
    c = pair_conf("one.key", "one.key");
    T_ASSERT(tls_ctx_load(c->svcs[0].tls, "e", err, sizeof(err)) == NULL);
    T_CONTAINS(err, "test.conf:4: tls_cert: ");
    T_CONTAINS(err, "no usable certificate");
    conf_unref(c);
}

/* A reload compares what was read: the same files, the same digest; a rewrite, another. */
static void test_digest_follows_the_files(void)
{
    char err[512];
    struct conf *c;
    struct tls_ctx *a, *b, *d;

    need_openssl();
    make_pair("dig", "dig.test", 30);
    c = pair_conf("dig.pem", "dig.key");
    a = tls_ctx_load(c->svcs[0].tls, "e", err, sizeof(err));
    b = tls_ctx_load(c->svcs[0].tls, "e", err, sizeof(err));
    T_ASSERT(a != NULL && b != NULL);
    T_ASSERT(tls_ctx_same(a, b));
    make_pair("dig", "dig.test", 30);
    d = tls_ctx_load(c->svcs[0].tls, "e", err, sizeof(err));
    T_ASSERT(d != NULL);
    T_ASSERT(!tls_ctx_same(a, d));
    T_ASSERT(!tls_ctx_same(a, NULL));
    tls_ctx_free(a);
    tls_ctx_free(b);
    tls_ctx_free(d);
    conf_unref(c);
}

static void test_check_warns(void)
{
    char err[512], warn[2048];
    char *key;
    struct conf *c;

    need_openssl();
    make_pair("soon", "soon.test", 5);
    c = pair_conf("soon.pem", "soon.key");
    T_EQ_INT(
        tls_check(c->svcs[0].tls, "e", (int64_t)time(NULL), warn, sizeof(warn), err, sizeof(err)),
        0);
    T_CONTAINS(warn, "test.conf:4: warning: tls_cert: ");
    T_CONTAINS(warn, "soon.pem expires in "); /* 4 or 5 days, by the second */
    T_ASSERT(strstr(warn, "tls_key") == NULL);
    /* Forty days on, it has expired. */
    T_EQ_INT(tls_check(c->svcs[0].tls, "e", (int64_t)time(NULL) + 40 * 86400, warn, sizeof(warn),
                       err, sizeof(err)),
             0);
    T_CONTAINS(warn, "soon.pem has expired");
    key = h_fmt("%s/soon.key", h_tmpdir());
    T_EQ_INT(chmod(key, 0644), 0);
    T_EQ_INT(
        tls_check(c->svcs[0].tls, "e", (int64_t)time(NULL), warn, sizeof(warn), err, sizeof(err)),
        0);
    T_CONTAINS(warn, "test.conf:5: warning: tls_key: ");
    T_CONTAINS(warn, "soon.key may be read by anyone (chmod 600 it)");
    free(key);
    conf_unref(c);
}

static const struct t_case cases[] = {
    T_CASE(test_keys_parsed),
    T_CASE(test_defaults),
    T_CASE(test_errors),
    T_CASE(test_load_and_mismatch),
    T_CASE(test_digest_follows_the_files),
    T_CASE(test_check_warns),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
