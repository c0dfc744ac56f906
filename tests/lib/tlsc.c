/*
 * tlsc: the tests' own TLS client (see tlsc.h).  One connection, one
 * SSL_CTX; the socket non-blocking; each operation loops on SSL_ERROR_WANT_*
 * with poll until its deadline.
 */
#include "tlsc.h"

#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

static int scaled(int ms)
{
    return ms * (int)t_scale();
}

/* Wait for `events` on the socket until `deadline`; false on timeout. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int64_t left = deadline - h_now_ms();
        int r;
        if (left <= 0)
            return false;
        r = poll(&p, 1, (int)left);
        if (r > 0)
            return true;
        if (r < 0 && errno != EINTR)
            T_FAIL("poll: %s", strerror(errno));
    }
}

/* The events an SSL call that returned `ret` waits for; 0 if it failed for good. */
static short wants(const struct tlsc *c, int ret)
{
    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return POLLIN;
    case SSL_ERROR_WANT_WRITE:
        return POLLOUT;
    default:
        return 0;
    }
}

/* OpenSSL's queued errors as one line, emptying the queue. */
static void ssl_errors(char *buf, size_t cap)
{
    unsigned long e;
    size_t len = 0;

    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0 && len + 2 < cap) {
        char one[256];
        ERR_error_string_n(e, one, sizeof(one));
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? "; " : "", one);
    }
    if (len == 0)
        snprintf(buf, cap, "%s", errno ? strerror(errno) : "connection closed");
}

/* "h2,http/1.1" in ALPN's wire form (length-prefixed); returns its length. */
static size_t alpn_wire(const char *list, unsigned char *out, size_t cap)
{
    size_t len = 0;

    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n > 0 && n < 256 && len + n + 1 <= cap) {
            out[len++] = (unsigned char)n;
            memcpy(out + len, p, n);
            len += n;
        }
        p += n + (p[n] == ',');
    }
    return len;
}

static SSL_CTX *make_ctx(const struct tlsc_opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        T_FAIL("SSL_CTX_new failed");
    if (o->min_version && !SSL_CTX_set_min_proto_version(ctx, o->min_version))
        T_FAIL("SSL_CTX_set_min_proto_version %#x", o->min_version);
    if (o->max_version && !SSL_CTX_set_max_proto_version(ctx, o->max_version))
        T_FAIL("SSL_CTX_set_max_proto_version %#x", o->max_version);
    if (o->ca != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1)
            T_FAIL("cannot load the CA file %s", o->ca);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (o->cert != NULL && (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
                            SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1))
        T_FAIL("cannot load the client certificate %s / %s", o->cert, o->key);
    if (o->alpn != NULL) {
        unsigned char wire[256];
        size_t n = alpn_wire(o->alpn, wire, sizeof(wire));
        if (SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)n) != 0)
            T_FAIL("SSL_CTX_set_alpn_protos %s", o->alpn);
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

static void set_names(SSL *ssl, const struct tlsc_opts *o)
{
    if (o->sni != NULL && !SSL_set_tlsext_host_name(ssl, o->sni))
        T_FAIL("SSL_set_tlsext_host_name %s", o->sni);
    if (o->verify_name != NULL) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        int ok = strchr(o->verify_name, ':') != NULL ||
                         strspn(o->verify_name, "0123456789.") == strlen(o->verify_name)
                     ? X509_VERIFY_PARAM_set1_ip_asc(vp, o->verify_name)
                     : X509_VERIFY_PARAM_set1_host(vp, o->verify_name, 0);
        if (!ok)
            T_FAIL("cannot check the server's name against %s", o->verify_name);
    }
    if (o->session != NULL && !SSL_set_session(ssl, o->session))
        T_FAIL("SSL_set_session failed");
}

void tlsc_free(struct tlsc *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
    free(c);
}

struct tlsc *tlsc_try(const char *addr, const struct tlsc_opts *o, char *why, size_t cap)
{
    static const struct tlsc_opts none;
    struct tlsc *c = calloc(1, sizeof(*c));
    int64_t deadline;
    int ret;

    if (o == NULL)
        o = &none;
    deadline = h_now_ms() + scaled(o->ms ? o->ms : 5000);
    c->fd = h_connect_raw(addr);
    if (c->fd < 0) {
        snprintf(why, cap, "connect %s: %s", addr, strerror(errno));
        free(c);
        return NULL;
    }
    if (fd_set_nonblock(c->fd) < 0)
        T_FAIL("O_NONBLOCK: %s", strerror(errno));
    c->ctx = make_ctx(o);
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || !SSL_set_fd(c->ssl, c->fd))
        T_FAIL("SSL_new / SSL_set_fd failed");
    set_names(c->ssl, o);
    ERR_clear_error();
    while ((ret = SSL_connect(c->ssl)) != 1) {
        short ev = wants(c, ret);
        if (ev == 0 || !wait_fd(c->fd, ev, deadline)) {
            char errs[512];
            ssl_errors(errs, sizeof(errs));
            long vr = SSL_get_verify_result(c->ssl);
            snprintf(why, cap, "%s%s%s", ev == 0 ? errs : "handshake timed out",
                     vr != X509_V_OK ? "; verify: " : "",
                     vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
            tlsc_free(c);
            return NULL;
        }
    }
    return c;
}

struct tlsc *tlsc_connect(const char *addr, const struct tlsc_opts *o)
{
    char why[600];
    struct tlsc *c = tlsc_try(addr, o, why, sizeof(why));

    if (c == NULL)
        T_FAIL("TLS handshake with %s failed: %s", addr, why);
    return c;
}

void tlsc_send(struct tlsc *c, const void *data, size_t len, int ms)
{
    int64_t deadline = h_now_ms() + scaled(ms);
    size_t off = 0;

    while (off < len) {
        size_t chunk = len - off < 16384 ? len - off : 16384;
        int n = SSL_write(c->ssl, (const char *)data + off, (int)chunk);
        short ev;
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        ev = wants(c, n);
        if (ev == 0) {
            char errs[512];
            ssl_errors(errs, sizeof(errs));
            T_FAIL("SSL_write after %zu of %zu bytes: %s", off, len, errs);
        }
        if (!wait_fd(c->fd, ev, deadline))
            T_FAIL("SSL_write: %zu of %zu bytes sent in %d ms", off, len, scaled(ms));
    }
}

void tlsc_send_str(struct tlsc *c, const char *s)
{
    tlsc_send(c, s, strlen(s), 5000);
}

const char *tlsc_end_name(enum tlsc_end e)
{
    static const char *const names[] = {"data", "close_notify", "EOF without close_notify",
                                        "TLS error", "timeout"};

    return (size_t)e < ARRAY_LEN(names) ? names[e] : "?";
}

/* One SSL_read; TLSC_DATA with *n, or the end; *ev the events to wait for
 * when nothing could be read yet (then TLSC_TIMEOUT is returned). */
static enum tlsc_end read_once(struct tlsc *c, void *buf, size_t cap, size_t *n, short *ev)
{
    int r;

    ERR_clear_error();
    errno = 0;
    r = SSL_read(c->ssl, buf, cap > 1 << 30 ? 1 << 30 : (int)cap);
    *ev = 0;
    if (r > 0) {
        *n = (size_t)r;
        return TLSC_DATA;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        *ev = POLLIN;
        return TLSC_TIMEOUT;
    case SSL_ERROR_WANT_WRITE:
        *ev = POLLOUT;
        return TLSC_TIMEOUT;
    case SSL_ERROR_ZERO_RETURN:
        return TLSC_NOTIFY;
    case SSL_ERROR_SYSCALL:
        return errno == 0 ? TLSC_EOF : TLSC_ERROR;
    default:
        /* OpenSSL 3 reports a FIN without close_notify as an SSL error
         * "unexpected eof while reading". */
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            return TLSC_EOF;
        }
        return TLSC_ERROR;
    }
}

enum tlsc_end tlsc_read(struct tlsc *c, void *buf, size_t cap, size_t *n, int ms)
{
    int64_t deadline = h_now_ms() + scaled(ms);

    for (;;) {
        short ev;
        enum tlsc_end e = read_once(c, buf, cap, n, &ev);
        if (e != TLSC_TIMEOUT)
            return e;
        if (!wait_fd(c->fd, ev, deadline))
            return TLSC_TIMEOUT;
    }
}

void tlsc_recv_exact(struct tlsc *c, void *buf, size_t len, int ms)
{
    int64_t deadline = h_now_ms() + scaled(ms);
    size_t got = 0;

    while (got < len) {
        int left = (int)(deadline - h_now_ms());
        size_t n = 0;
        enum tlsc_end e = tlsc_read(c, (char *)buf + got, len - got, &n, left > 0 ? left : 1);
        if (e != TLSC_DATA)
            T_FAIL("reading %zu bytes: %s after %zu", len, tlsc_end_name(e), got);
        got += n;
    }
}

void tlsc_recv_line(struct tlsc *c, char *buf, size_t cap, int ms)
{
    int64_t deadline = h_now_ms() + scaled(ms);
    size_t len = 0;

    for (;;) {
        char ch;
        size_t n = 0;
        int left = (int)(deadline - h_now_ms());
        enum tlsc_end e = tlsc_read(c, &ch, 1, &n, left > 0 ? left : 1);
        if (e != TLSC_DATA)
            T_FAIL("reading a line: %s after \"%.*s\"", tlsc_end_name(e), (int)len, buf);
        if (ch == '\n')
            break;
        if (len + 1 < cap)
            buf[len++] = ch;
    }
    buf[len] = '\0';
}

size_t tlsc_recv_all(struct tlsc *c, char *buf, size_t cap, enum tlsc_end *end, int ms)
{
    int64_t deadline = h_now_ms() + scaled(ms);
    size_t got = 0;
    enum tlsc_end e;

    for (;;) {
        size_t n = 0;
        int left = (int)(deadline - h_now_ms());
        if (got == cap) {
            e = TLSC_DATA;
            break;
        }
        e = tlsc_read(c, buf + got, cap - got, &n, left > 0 ? left : 1);
        if (e == TLSC_TIMEOUT)
            T_FAIL("the stream did not end within %d ms (%zu bytes so far)", scaled(ms), got);
        if (e != TLSC_DATA)
            break;
        got += n;
    }
    if (got < cap)
        buf[got] = '\0';
    if (end != NULL)
        *end = e;
    return got;
}

void tlsc_close_notify(struct tlsc *c)
{
    int64_t deadline = h_now_ms() + scaled(5000);
    int r;

    /* 0: sent, the peer's not yet received; 1: both done. */
    while ((r = SSL_shutdown(c->ssl)) < 0) {
        short ev = wants(c, r);
        if (ev == 0 || !wait_fd(c->fd, ev, deadline)) {
            char errs[512];
            ssl_errors(errs, sizeof(errs));
            T_FAIL("SSL_shutdown: %s", errs);
        }
    }
}

void tlsc_fin(struct tlsc *c)
{
    if (shutdown(c->fd, SHUT_WR) < 0)
        T_FAIL("shutdown(SHUT_WR): %s", strerror(errno));
}

void tlsc_pattern(unsigned char *buf, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        size_t k = off + i;
        buf[i] = (unsigned char)(k ^ (k >> 8) * 31 ^ (k >> 16) * 7);
    }
}

/* The exchange's sending half: the chunk being written and what is left. */
struct sender {
    const unsigned char *data;
    size_t len, off;
    unsigned char chunk[16384];
    size_t chunk_len, chunk_off;
    EVP_MD_CTX *sha;
    bool closed;
};

/* Write what can be written now; false when nothing more can go yet. */
static bool send_some(struct tlsc *c, struct sender *s, short *ev)
{
    int n;

    if (s->chunk_off == s->chunk_len) {
        if (s->off == s->len)
            return false;
        s->chunk_len = s->len - s->off < sizeof(s->chunk) ? s->len - s->off : sizeof(s->chunk);
        if (s->data != NULL)
            memcpy(s->chunk, s->data + s->off, s->chunk_len);
        else
            tlsc_pattern(s->chunk, s->off, s->chunk_len);
        EVP_DigestUpdate(s->sha, s->chunk, s->chunk_len);
        s->off += s->chunk_len;
        s->chunk_off = 0;
    }
    ERR_clear_error();
    n = SSL_write(c->ssl, s->chunk + s->chunk_off, (int)(s->chunk_len - s->chunk_off));
    if (n > 0) {
        s->chunk_off += (size_t)n;
        return true;
    }
    *ev |= wants(c, n);
    if (wants(c, n) == 0) {
        char errs[512];
        ssl_errors(errs, sizeof(errs));
        T_FAIL("SSL_write after %zu of %zu bytes: %s", s->off - s->chunk_len + s->chunk_off, s->len,
               errs);
    }
    return false;
}

/* Once everything is sent: close_notify or a FIN, once. */
static void close_sending(struct tlsc *c, struct sender *s, bool fin, short *ev)
{
    int r;

    if (s->closed || s->off < s->len || s->chunk_off < s->chunk_len)
        return;
    if (fin) {
        tlsc_fin(c);
        s->closed = true;
        return;
    }
    r = SSL_shutdown(c->ssl);
    if (r >= 0) {
        s->closed = true;
        return;
    }
    if (wants(c, r) == 0) {
        char errs[512];
        ssl_errors(errs, sizeof(errs));
        T_FAIL("SSL_shutdown: %s", errs);
    }
    *ev |= wants(c, r);
}

void tlsc_exchange(struct tlsc *c, const void *data, size_t len, bool fin, char *out, size_t cap,
                   int ms, struct tlsc_xfer *x)
{
    struct sender s = {.data = data, .len = len, .sha = EVP_MD_CTX_new()};
    EVP_MD_CTX *got_sha = EVP_MD_CTX_new();
    int64_t deadline = h_now_ms() + scaled(ms);
    static unsigned char buf[65536];

    memset(x, 0, sizeof(*x));
    EVP_DigestInit_ex(s.sha, EVP_sha256(), NULL);
    EVP_DigestInit_ex(got_sha, EVP_sha256(), NULL);
    for (;;) {
        short ev = 0, rev = 0;
        size_t n = 0;
        enum tlsc_end e;
        while ((e = read_once(c, buf, sizeof(buf), &n, &rev)) == TLSC_DATA) {
            if (out != NULL) {
                if (x->got + n > cap)
                    T_FAIL("exchange: more than %zu bytes came back", cap);
                memcpy(out + x->got, buf, n);
            }
            EVP_DigestUpdate(got_sha, buf, n);
            x->got += n;
        }
        if (e != TLSC_TIMEOUT) {
            x->end = e;
            break;
        }
        ev |= rev;
        while (send_some(c, &s, &ev))
            ;
        close_sending(c, &s, fin, &ev);
        if (!wait_fd(c->fd, ev ? ev : POLLIN, deadline))
            T_FAIL("exchange: not done within %d ms: %zu of %zu bytes sent, %zu received",
                   scaled(ms), s.off, len, x->got);
    }
    x->sent = s.off - (s.chunk_len - s.chunk_off);
    if (out != NULL && x->got < cap)
        out[x->got] = '\0';
    EVP_DigestFinal_ex(s.sha, x->sent_sha256, NULL);
    EVP_DigestFinal_ex(got_sha, x->got_sha256, NULL);
    EVP_MD_CTX_free(s.sha);
    EVP_MD_CTX_free(got_sha);
}

const char *tlsc_version(const struct tlsc *c)
{
    return SSL_get_version(c->ssl);
}

const char *tlsc_cipher(const struct tlsc *c)
{
    const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);

    return ci ? SSL_CIPHER_standard_name(ci) : "";
}

char *tlsc_alpn(const struct tlsc *c)
{
    const unsigned char *p;
    unsigned len;

    SSL_get0_alpn_selected(c->ssl, &p, &len);
    return strndup(p ? (const char *)p : "", len);
}

bool tlsc_reused(const struct tlsc *c)
{
    return SSL_session_reused(c->ssl) == 1;
}

static X509 *peer(const struct tlsc *c)
{
    X509 *x = SSL_get1_peer_certificate(c->ssl);

    if (x == NULL)
        T_FAIL("the server sent no certificate");
    return x;
}

char *tlsc_peer_serial(const struct tlsc *c)
{
    X509 *x = peer(c);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = BN_bn2hex(bn), *s = strdup(hex);

    OPENSSL_free(hex);
    BN_free(bn);
    X509_free(x);
    return s;
}

char *tlsc_peer_cn(const struct tlsc *c)
{
    X509 *x = peer(c);
    char cn[256] = "";

    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    X509_free(x);
    return strdup(cn);
}

SSL_SESSION *tlsc_session(const struct tlsc *c)
{
    SSL_SESSION *s = SSL_get0_session(c->ssl), *copy;

    if (s == NULL || !SSL_SESSION_is_resumable(s))
        T_FAIL("no session to resume");
    /* A copy: freeing a connection that has not sent close_notify marks its
     * own session not resumable (OpenSSL's guard against truncated ones). */
    copy = SSL_SESSION_dup(s);
    if (copy == NULL)
        T_FAIL("SSL_SESSION_dup failed");
    return copy;
}

size_t tlsc_client_hello(unsigned char *buf, size_t cap, const char *sni)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    int n;

    if (ssl == NULL || rbio == NULL || wbio == NULL)
        T_FAIL("cannot make an SSL object");
    SSL_set_bio(ssl, rbio, wbio);
    if (sni != NULL)
        SSL_set_tlsext_host_name(ssl, sni);
    if (SSL_connect(ssl) != -1 || SSL_get_error(ssl, -1) != SSL_ERROR_WANT_READ)
        T_FAIL("SSL_connect into memory did not stop for the ServerHello");
    n = BIO_read(wbio, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n <= 0)
        T_FAIL("no ClientHello was written");
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return (size_t)n;
}

char *tlsc_hostport(const char *addr)
{
    const char *sep = strstr(addr, "://");

    return strdup(sep ? sep + 3 : addr);
}

void tlsc_s_client(struct h_result *r, const char *addr, const char *input, int ms,
                   const char *const *args)
{
    const char *argv[48] = {"openssl", "s_client", "-connect", tlsc_hostport(addr)};
    int n = 4;

    h_need("openssl", "openssl");
    for (; args != NULL && *args != NULL && n < 47; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    h_run(r, input, input ? strlen(input) : 0, ms, argv);
}
