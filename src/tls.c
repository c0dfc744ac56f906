/*
 * tls: loading a service's certificates into OpenSSL contexts, the
 * handshake step, and what a TLS connection tells the log and its program
 * (see tls.h).
 *
 * The files are read into memory by us (bounded, with errno for the
 * message) and parsed from there, so one read gives both OpenSSL its input
 * and the digest a reload compares.  A key with a passphrase is refused
 * rather than prompted for: a daemon has nobody to ask.
 */
#include "tls.h"

#include "ev.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PEM_FILE_MAX   (1024 * 1024) /* a certificate chain or key file */
#define EXPIRY_WARN_S  (14 * 24 * 3600)
#define DIGEST_LEN     32
#define TICKETS_ISSUED 1 /* TLS 1.3 tickets per handshake: one resumes; each costs */

struct tls_pair {
    SSL_CTX *ctx;
    X509 *cert; /* the leaf, for SNI matching and expiry (owned by ctx) */
};

struct tls_ctx {
    struct tls_pair pair[TLS_PAIRS_MAX];
    size_t npairs;
    const unsigned char *alpn; /* the configuration's, which outlives every connection's use */
    size_t alpn_len;
    unsigned char digest[DIGEST_LEN];
};

/* Files */

/* "FILE:LINE: " of the configuration line that named `f`. */
static int where(const struct tls_conf *tc, int line, char *buf, size_t size)
{
    return snprintf(buf, size, "%s:%d: ", tc->file, line);
}

/* The last OpenSSL error, in its own words ("" if none), the queue emptied. */
static const char *ssl_reason(char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();

    buf[0] = '\0';
    if (e != 0) {
        const char *r = ERR_reason_error_string(e);
        snprintf(buf, size, "%s", r != NULL ? r : "unknown error");
    }
    ERR_clear_error();
    return buf;
}

/* The whole of `path`, NUL-terminated, into *out (freed by the caller). */
static int read_pem(const char *path, char **out, size_t *len)
{
    struct stat st;
    char *buf;
    ssize_t n;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > PEM_FILE_MAX) {
        int err = errno;
        close(fd);
        errno = S_ISREG(st.st_mode) ? (st.st_size > PEM_FILE_MAX ? EFBIG : err) : EINVAL;
        return -1;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        close(fd);
        return -1;
    }
    while (got < (size_t)st.st_size) {
        n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

/* Never prompt for a passphrase: a key that needs one fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf, (void)size, (void)rwflag, (void)arg;
    return -1;
}

/* A loader's state: the digest of everything read. */
struct loading {
    const struct tls_conf *tc;
    EVP_MD_CTX *md;
    char *err;
    size_t errlen;
};

static int load_error(struct loading *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "FILE:LINE: message" into the loader's err; returns -1. */
static int load_error(struct loading *ld, int line, const char *fmt, ...)
{
    int n = where(ld->tc, line, ld->err, ld->errlen);
    va_list ap;

    if (n >= 0 && (size_t)n < ld->errlen) {
        va_start(ap, fmt);
        vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/*
 * Read `f` (named by key `key`) into a read-only memory BIO over its text,
 * adding its bytes to the digest.  The text is the BIO's app data, freed
 * with it by close_bio.
 */
static BIO *open_file(struct loading *ld, const char *key, const struct tls_file *f)
{
    char *text, escaped[512];
    size_t len;
    BIO *bio;

    str_escape(escaped, sizeof(escaped), f->path, strlen(f->path));
    if (read_pem(f->path, &text, &len) < 0) {
        load_error(ld, f->line, "%s: %s: unable to read: %s", key, escaped, strerror(errno));
        return NULL;
    }
    EVP_DigestUpdate(ld->md, text, len + 1); /* the NUL parts one file from the next */
    bio = BIO_new_mem_buf(text, (int)len);
    if (bio == NULL || BIO_set_app_data(bio, text) != 1) {
        BIO_free(bio);
        free(text);
        load_error(ld, f->line, "%s: %s: out of memory", key, escaped);
        return NULL;
    }
    return bio;
}

static void close_bio(BIO *bio)
{
    char *text = BIO_get_app_data(bio);

    BIO_free(bio);
    free(text);
}

/* The certificate chain of pair i: the leaf, then the rest in order. */
static int load_chain(struct loading *ld, SSL_CTX *ctx, const struct tls_file *f, X509 **leaf)
{
    char reason[256], escaped[512];
    BIO *bio = open_file(ld, "tls_cert", f);
    X509 *x;
    int rc = -1;

    if (bio == NULL)
        return -1;
    str_escape(escaped, sizeof(escaped), f->path, strlen(f->path));
    x = PEM_read_bio_X509_AUX(bio, NULL, no_passphrase, NULL);
    if (x == NULL || SSL_CTX_use_certificate(ctx, x) != 1) {
        load_error(ld, f->line, "tls_cert: %s: no usable certificate: %s", escaped,
                   ssl_reason(reason, sizeof(reason)));
        X509_free(x);
        close_bio(bio);
        return -1;
    }
    *leaf = x;
    X509_free(x); /* the context holds it */
    rc = 0;
    while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
            X509_free(x);
            rc = load_error(ld, f->line, "tls_cert: %s: %s", escaped,
                            ssl_reason(reason, sizeof(reason)));
            break;
        }
    }
    ERR_clear_error(); /* the end of the file reads as an error */
    close_bio(bio);
    return rc;
}

static int load_key(struct loading *ld, SSL_CTX *ctx, const struct tls_file *key,
                    const struct tls_file *cert)
{
    char reason[256], escaped[512], cert_escaped[512];
    BIO *bio = open_file(ld, "tls_key", key);
    EVP_PKEY *pk;

    if (bio == NULL)
        return -1;
    str_escape(escaped, sizeof(escaped), key->path, strlen(key->path));
    pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    close_bio(bio);
    if (pk == NULL)
        return load_error(ld, key->line, "tls_key: %s: no usable private key (%s)", escaped,
                          ssl_reason(reason, sizeof(reason)));
    if (SSL_CTX_use_PrivateKey(ctx, pk) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        EVP_PKEY_free(pk);
        ssl_reason(reason, sizeof(reason));
        str_escape(cert_escaped, sizeof(cert_escaped), cert->path, strlen(cert->path));
        return load_error(ld, key->line, "tls_key: %s does not match the certificate %s", escaped,
                          cert_escaped);
    }
    EVP_PKEY_free(pk);
    return 0;
}

/* Client certificates: the CAs they must chain to, and the names sent in the request. */
static int load_client_ca(struct loading *ld, SSL_CTX *ctx)
{
    const struct tls_conf *tc = ld->tc;
    char reason[256], escaped[512];
    STACK_OF(X509_NAME) * names;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    BIO *bio = open_file(ld, "tls_client_ca", &tc->client_ca);
    X509 *x;
    int n = 0;

    if (bio == NULL)
        return -1;
    str_escape(escaped, sizeof(escaped), tc->client_ca.path, strlen(tc->client_ca.path));
    if ((names = sk_X509_NAME_new_null()) == NULL) {
        close_bio(bio);
        return load_error(ld, tc->client_ca.line, "tls_client_ca: %s: out of memory", escaped);
    }
    while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
        X509_NAME *name = X509_NAME_dup(X509_get_subject_name(x));
        if (X509_STORE_add_cert(store, x) != 1 || name == NULL || !sk_X509_NAME_push(names, name))
            X509_NAME_free(name);
        X509_free(x);
        n++;
    }
    ERR_clear_error();
    close_bio(bio);
    if (n == 0) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return load_error(ld, tc->client_ca.line, "tls_client_ca: %s: no certificate in it (%s)",
                          escaped, ssl_reason(reason, sizeof(reason)));
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    return 0;
}

/* Contexts */

static int verify_mode(enum tls_verify v)
{
    switch (v) {
    case TLS_VERIFY_REQUIRE:
        return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    case TLS_VERIFY_OPTIONAL:
        return SSL_VERIFY_PEER;
    case TLS_VERIFY_NONE:
        break;
    }
    return SSL_VERIFY_NONE;
}

/* The client's ALPN list against ours, in our order of preference. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    const struct tls_ctx *t = arg;
    unsigned char *chosen;

    (void)ssl;
    if (SSL_select_next_proto(&chosen, outlen, t->alpn, (unsigned)t->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no protocol in common: go on without one */
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

/* SNI: the first pair whose certificate names the host the client asked for. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
    const struct tls_ctx *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

    (void)alert;
    if (name == NULL || t->npairs < 2)
        return SSL_TLSEXT_ERR_OK;
    for (size_t i = 0; i < t->npairs; i++) {
        if (X509_check_host(t->pair[i].cert, name, strlen(name), 0, NULL) != 1)
            continue;
        if (i > 0 && SSL_set_SSL_CTX(ssl, t->pair[i].ctx) == NULL)
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        break;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* Every setting but the pair, the same on each context (SNI switches between them). */
static int configure(struct loading *ld, SSL_CTX *ctx, const char *name, struct tls_ctx *t)
{
    const struct tls_conf *tc = ld->tc;
    char reason[256];

    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, TICKETS_ISSUED);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)name,
                                   (unsigned)strnlen(name, SSL_MAX_SID_CTX_LENGTH));
    if (SSL_CTX_set_min_proto_version(ctx,
                                      tc->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION) != 1)
        return load_error(ld, 0, "tls_min: %s", ssl_reason(reason, sizeof(reason)));
    if (tc->ciphers != NULL && SSL_CTX_set_cipher_list(ctx, tc->ciphers) != 1)
        return load_error(ld, tc->ciphers_line, "tls_ciphers: '%s': %s", tc->ciphers,
                          ssl_reason(reason, sizeof(reason)));
    if (tc->ciphersuites != NULL && SSL_CTX_set_ciphersuites(ctx, tc->ciphersuites) != 1)
        return load_error(ld, tc->ciphersuites_line, "tls_ciphersuites: '%s': %s", tc->ciphersuites,
                          ssl_reason(reason, sizeof(reason)));
    SSL_CTX_set_verify(ctx, verify_mode(tc->verify), NULL);
    if (tc->client_ca.path != NULL && load_client_ca(ld, ctx) < 0)
        return -1;
    if (tc->alpn_len > 0)
        SSL_CTX_set_alpn_select_cb(ctx, on_alpn, t);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, t);
    return 0;
}

/*
 * A tls_ctx lives as long as its first SSL_CTX: every SSL made by tls_new
 * holds that one (as its session context, even after SNI switched it to
 * another pair), and the SNI and ALPN callbacks read the tls_ctx.  So the
 * tls_ctx is the first SSL_CTX's ex_data, freed with it, and freeing a
 * tls_ctx is dropping our reference to that SSL_CTX.
 */
static int ctx_index = -1;

static void on_ctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct tls_ctx *t = ptr;

    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (t == NULL)
        return;
    for (size_t i = 1; i < t->npairs; i++)
        SSL_CTX_free(t->pair[i].ctx);
    free(t);
}

/* The first context: it carries the tls_ctx from now on. */
static int adopt_first(struct tls_ctx *t, SSL_CTX *ctx)
{
    if (ctx_index < 0)
        ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, on_ctx_free);
    if (ctx_index < 0 || SSL_CTX_set_ex_data(ctx, ctx_index, t) != 1)
        return -1;
    return 0;
}

void tls_ctx_free(struct tls_ctx *t)
{
    if (t == NULL)
        return;
    if (t->npairs > 0)
        SSL_CTX_free(t->pair[0].ctx); /* the last SSL of it frees t (on_ctx_free) */
    else
        free(t);
}

static int load_pair(struct loading *ld, struct tls_ctx *t, size_t i, const char *name)
{
    const struct tls_conf *tc = ld->tc;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL)
        return load_error(ld, tc->cert[i].line, "tls_cert: out of memory");
    if (i == 0 && adopt_first(t, ctx) < 0) {
        SSL_CTX_free(ctx);
        return load_error(ld, tc->cert[i].line, "tls_cert: out of memory");
    }
    t->pair[i].ctx = ctx;
    t->npairs = i + 1;
    if (configure(ld, ctx, name, t) < 0 || load_chain(ld, ctx, &tc->cert[i], &t->pair[i].cert) < 0)
        return -1;
    return load_key(ld, ctx, &tc->key[i], &tc->cert[i]);
}

struct tls_ctx *tls_ctx_load(const struct tls_conf *tc, const char *name, char *err, size_t errlen)
{
    struct tls_ctx *t = calloc(1, sizeof(*t));
    struct loading ld = {.tc = tc, .err = err, .errlen = errlen};
    unsigned len = 0;

    ERR_clear_error();
    if (t == NULL || (ld.md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestInit_ex(ld.md, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "%s: TLS of [%s]: out of memory", tc->file, name);
        EVP_MD_CTX_free(ld.md);
        free(t);
        return NULL;
    }
    t->alpn = tc->alpn;
    t->alpn_len = tc->alpn_len;
    for (size_t i = 0; i < tc->ncert && i < tc->nkey; i++) {
        if (load_pair(&ld, t, i, name) < 0) {
            EVP_MD_CTX_free(ld.md);
            tls_ctx_free(t);
            return NULL;
        }
    }
    EVP_DigestFinal_ex(ld.md, t->digest, &len);
    EVP_MD_CTX_free(ld.md);
    return t;
}

bool tls_ctx_same(const struct tls_ctx *a, const struct tls_ctx *b)
{
    return a != NULL && b != NULL && memcmp(a->digest, b->digest, sizeof(a->digest)) == 0;
}

/* Checks */

static size_t add_warning(char *warn, size_t warnlen, size_t used, const struct tls_conf *tc,
                          int line, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A line "FILE:LINE: warning: message" added to warn[0..used); returns the new length. */
static size_t add_warning(char *warn, size_t warnlen, size_t used, const struct tls_conf *tc,
                          int line, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (used >= warnlen)
        return used;
    n = snprintf(warn + used, warnlen - used, "%s:%d: warning: ", tc->file, line);
    if (n < 0 || (size_t)n >= warnlen - used)
        return warnlen;
    used += (size_t)n;
    va_start(ap, fmt);
    n = vsnprintf(warn + used, warnlen - used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= warnlen - used)
        return warnlen;
    used += (size_t)n;
    if (used + 1 < warnlen) {
        warn[used++] = '\n';
        warn[used] = '\0';
    }
    return used;
}

/* Seconds from `now` to the certificate's notAfter (negative: past), via OpenSSL's calendar. */
static int64_t seconds_left(const X509 *x, int64_t now)
{
    ASN1_TIME *then = ASN1_TIME_new();
    const ASN1_TIME *end = X509_get0_notAfter(x);
    int days = 0, secs = 0;

    if (then == NULL || ASN1_TIME_set(then, (time_t)now) == NULL ||
        ASN1_TIME_diff(&days, &secs, then, end) != 1) {
        ASN1_TIME_free(then);
        return INT64_MAX;
    }
    ASN1_TIME_free(then);
    return (int64_t)days * 86400 + secs;
}

int tls_check(const struct tls_conf *tc, const char *name, int64_t now, char *warn, size_t warnlen,
              char *err, size_t errlen)
{
    struct tls_ctx *t = tls_ctx_load(tc, name, err, errlen);
    size_t used = 0;

    warn[0] = '\0';
    if (t == NULL)
        return -1;
    for (size_t i = 0; i < t->npairs; i++) {
        int64_t left = seconds_left(t->pair[i].cert, now);
        char days[32], escaped[512];
        struct stat st;
        str_escape(escaped, sizeof(escaped), tc->cert[i].path, strlen(tc->cert[i].path));
        snprintf(days, sizeof(days), "%lld", (long long)(left / 86400));
        if (left <= 0)
            used = add_warning(warn, warnlen, used, tc, tc->cert[i].line,
                               "tls_cert: %s has expired", escaped);
        else if (left < EXPIRY_WARN_S)
            used = add_warning(warn, warnlen, used, tc, tc->cert[i].line,
                               "tls_cert: %s expires in %s day(s)", escaped, days);
        str_escape(escaped, sizeof(escaped), tc->key[i].path, strlen(tc->key[i].path));
        if (stat(tc->key[i].path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
            used = add_warning(warn, warnlen, used, tc, tc->key[i].line,
                               "tls_key: %s may be read by %s (chmod 600 it)", escaped,
                               (st.st_mode & S_IROTH) ? "anyone" : "its group");
    }
    tls_ctx_free(t);
    return 0;
}

/* Connections */

SSL *tls_new(struct tls_ctx *t, int fd)
{
    SSL *ssl = SSL_new(t->pair[0].ctx);

    if (ssl == NULL)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

int tls_handshake(SSL *ssl, unsigned *want)
{
    int rc;

    ERR_clear_error();
    errno = 0; /* a socket error is read from errno: none left over from before */
    rc = SSL_do_handshake(ssl);
    if (rc == 1)
        return 1;
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        *want = EV_READ;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        *want = EV_WRITE;
        return 0;
    default:
        return -1;
    }
}

/* OpenSSL's reason as a word for the log: "packet length too long" -> packet_length_too_long. */
static void reason_word(const char *text, char *buf, size_t size)
{
    size_t n = 0;

    for (; *text != '\0' && n + 1 < size; text++) {
        char ch = *text;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        buf[n++] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ? ch : '_';
    }
    buf[n] = '\0';
}

static const struct {
    int reason;
    enum svc_tls_result result;
    const char *word;
} known_reasons[] = {
    {SSL_R_WRONG_VERSION_NUMBER, SVC_TLS_WRONG_VERSION, "wrong_version"},
    {SSL_R_UNSUPPORTED_PROTOCOL, SVC_TLS_WRONG_VERSION, "wrong_version"},
    {SSL_R_VERSION_TOO_LOW, SVC_TLS_WRONG_VERSION, "wrong_version"},
    {SSL_R_NO_SHARED_CIPHER, SVC_TLS_NO_SHARED_CIPHER, "no_shared_cipher"},
    {SSL_R_TLSV1_ALERT_UNKNOWN_CA, SVC_TLS_UNKNOWN_CA, "unknown_ca"},
    {SSL_R_SSLV3_ALERT_BAD_CERTIFICATE, SVC_TLS_BAD_CERTIFICATE, "bad_certificate"},
    {SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN, SVC_TLS_BAD_CERTIFICATE, "bad_certificate"},
    {SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, SVC_TLS_NO_CERTIFICATE, "no_certificate"},
    {SSL_R_UNEXPECTED_EOF_WHILE_READING, SVC_TLS_EOF, "eof"},
    {SSL_R_HTTP_REQUEST, SVC_TLS_WRONG_VERSION, "http_request"},
};

/* A client certificate that did not verify: unknown_ca when its issuer is not ours. */
static enum svc_tls_result verify_failure(SSL *ssl, char *buf, size_t size)
{
    long v = SSL_get_verify_result(ssl);

    if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
        v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT || v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
        v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) {
        snprintf(buf, size, "unknown_ca");
        return SVC_TLS_UNKNOWN_CA;
    }
    reason_word(X509_verify_cert_error_string(v), buf, size);
    return SVC_TLS_BAD_CERTIFICATE;
}

enum svc_tls_result tls_failure(SSL *ssl, char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();
    int reason = ERR_GET_REASON(e);
    const char *text;

    if (e == 0) { /* the socket's error, or its end without a word */
        int err = errno;
        ERR_clear_error();
        snprintf(buf, size, "%s", err != 0 ? errno_name(err) : "eof");
        /* A reset is the peer going away too, only less politely. */
        return err == 0 || err == ECONNRESET || err == EPIPE ? SVC_TLS_EOF : SVC_TLS_PROTOCOL;
    }
    ERR_clear_error();
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
        return verify_failure(ssl, buf, size);
    for (size_t i = 0; i < ARRAY_LEN(known_reasons); i++) {
        if (known_reasons[i].reason == reason) {
            snprintf(buf, size, "%s", known_reasons[i].word);
            return known_reasons[i].result;
        }
    }
    text = ERR_reason_error_string(e);
    reason_word(text != NULL ? text : "unknown", buf, size);
    return SVC_TLS_PROTOCOL;
}

/* The log's form of a name the client chose: escaped (spaces too: it is a
 * field's one word), "-" when absent. */
static void escaped_or_dash(const char *s, char *buf, size_t size)
{
    if (s == NULL || *s == '\0')
        snprintf(buf, size, "-");
    else
        str_escape_word(buf, size, s, strlen(s));
}

void tls_log_fields(SSL *ssl, char *buf, size_t size)
{
    char sni[300];

    buf[0] = '\0';
    if (ssl == NULL)
        return;
    escaped_or_dash(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), sni, sizeof(sni));
    snprintf(buf, size, " tls=%s cipher=%s sni=%s", SSL_get_version(ssl),
             SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)), sni);
}

/* Environment */

struct env_builder {
    struct tls_env *env;
    size_t n, used;
};

static void env_add(struct env_builder *b, const char *name, const char *value)
{
    struct tls_env *env = b->env;
    size_t room = sizeof(env->text) - b->used;
    int n;

    if (b->n == TLS_ENV_MAX || value == NULL || *value == '\0')
        return;
    n = snprintf(env->text + b->used, room, "%s=%s", name, value);
    if (n < 0 || (size_t)n >= room)
        return;
    env->vars[b->n++] = env->text + b->used;
    b->used += (size_t)n + 1;
}

/* RFC 2253 text of the peer's subject. */
static void subject_text(X509 *x, char *buf, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int n;

    buf[0] = '\0';
    if (bio == NULL)
        return;
    if (X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
        (n = BIO_read(bio, buf, (int)size - 1)) > 0)
        buf[n] = '\0';
    BIO_free(bio);
}

static void cert_hash_hex(X509 *x, char *buf, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    static const char hex[] = "0123456789abcdef";

    buf[0] = '\0';
    if (X509_digest(x, EVP_sha256(), md, &len) != 1 || size < 2 * (size_t)len + 1)
        return;
    for (unsigned i = 0; i < len; i++) {
        buf[2 * i] = hex[md[i] >> 4];
        buf[2 * i + 1] = hex[md[i] & 15];
    }
    buf[2 * len] = '\0';
}

void tls_env(SSL *ssl, struct tls_env *env)
{
    struct env_builder b = {.env = env};
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    char subject[1024], hash[2 * EVP_MAX_MD_SIZE + 1], proto[256], name[300];
    const char *sni;
    X509 *peer = SSL_get0_peer_certificate(ssl);

    env_add(&b, "SSL_PROTOCOL", SSL_get_version(ssl));
    env_add(&b, "SSL_CIPHER", SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
    sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (sni != NULL) { /* the client's bytes: escaped as the log escapes them */
        str_escape(name, sizeof(name), sni, strlen(sni));
        env_add(&b, "SSL_TLS_SNI_SERVERNAME", name);
    }
    if (peer != NULL && SSL_get_verify_result(ssl) == X509_V_OK) {
        subject_text(peer, subject, sizeof(subject));
        cert_hash_hex(peer, hash, sizeof(hash));
        env_add(&b, "SSL_PEER_CERT_SUBJECT", subject);
        env_add(&b, "SSL_PEER_CERT_HASH", hash);
    }
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (alpn_len > 0) {
        memcpy(proto, alpn, alpn_len < sizeof(proto) ? alpn_len : sizeof(proto) - 1);
        proto[alpn_len < sizeof(proto) ? alpn_len : sizeof(proto) - 1] = '\0';
        env_add(&b, "SSL_ALPN", proto);
    }
    env->vars[b.n] = NULL;
}
