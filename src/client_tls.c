/*
 * client_tls: the client's connections, plain or TLS (see client_tls.h).
 *
 * Invariants.  Each OpenSSL call on a conn starts with an empty error
 * queue and errno 0, so that SSL_get_error tells a clean end (no errno)
 * from a socket error, and `why` names this failure, not an older one.
 * Nothing is left on the queue after a call returns.  The contexts make
 * SSL_write partial and let its buffer move between retries, as the copy
 * loop's buffers do; SIGPIPE is ignored by usher's main, so the writes
 * OpenSSL makes on the socket fail with EPIPE instead of killing us.
 */
#include "client_tls.h"

#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ALPN_WIRE_MAX 1024 /* more than any sane protocol list */

bool client_tls_opt_set(struct client_tls_opts *o, int opt, const char *arg)
{
    switch (opt) {
    case CLIENT_TLS_OPT_CA:
        o->ca = arg;
        return true;
    case CLIENT_TLS_OPT_INSECURE:
        o->insecure = true;
        return true;
    case CLIENT_TLS_OPT_CERT:
        o->cert = arg;
        return true;
    case CLIENT_TLS_OPT_KEY:
        o->key = arg;
        return true;
    case CLIENT_TLS_OPT_SERVERNAME:
        o->servername = arg;
        return true;
    case CLIENT_TLS_OPT_ALPN:
        o->alpn = arg;
        return true;
    default:
        return false;
    }
}

bool client_tls_opts_given(const struct client_tls_opts *o)
{
    return o->ca != NULL || o->cert != NULL || o->key != NULL || o->servername != NULL ||
           o->alpn != NULL || o->insecure;
}

/*
 * "h2,http/1.1" in ALPN's wire form, each name after its length byte.
 * Returns the length, or -1 with a message in err.
 */
static int alpn_wire(const char *list, unsigned char *wire, size_t cap, char *err, size_t errlen)
{
    size_t n = 0;
    const char *p = list;

    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > 255)
            return err_set(err, errlen,
                           "--alpn '%s': expected names of 1 to 255 bytes, "
                           "separated by commas",
                           list);
        if (n + 1 + len > cap)
            return err_set(err, errlen, "--alpn '%s': list too long", list);
        wire[n++] = (unsigned char)len;
        memcpy(wire + n, p, len);
        n += len;
        if (p[len] == '\0')
            return (int)n;
        p += len + 1;
    }
}

int client_tls_opts_check(const struct client_tls_opts *o, char *err, size_t errlen)
{
    unsigned char wire[ALPN_WIRE_MAX];

    if ((o->cert == NULL) != (o->key == NULL))
        return err_set(err, errlen, "%s", o->cert ? "--cert needs --key" : "--key needs --cert");
    if (o->alpn != NULL && alpn_wire(o->alpn, wire, sizeof(wire), err, errlen) < 0)
        return -1;
    if (o->servername != NULL && o->servername[0] == '\0')
        return err_set(err, errlen, "--servername: expected a name");
    return 0;
}

/* OpenSSL's reason for the oldest error on the queue, which is then emptied. */
static const char *queue_reason(void)
{
    unsigned long e = ERR_peek_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return reason != NULL ? reason : "unknown TLS error";
}

/* A failure to load `file` for `opt`: the system's reason if it cannot be read. */
static int file_failed(const char *opt, const char *file, char *err, size_t errlen)
{
    if (access(file, R_OK) < 0) {
        ERR_clear_error();
        return err_set(err, errlen, "%s %s: %s", opt, file, strerror(errno));
    }
    return err_set(err, errlen, "%s %s: %s", opt, file, queue_reason());
}

static int ctx_verify(SSL_CTX *ctx, const struct client_tls_opts *o, char *err, size_t errlen)
{
    if (o->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return 0;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (o->ca != NULL) {
        if (SSL_CTX_load_verify_file(ctx, o->ca) != 1)
            return file_failed("--ca", o->ca, err, errlen);
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return err_set(err, errlen, "unable to load the system's CAs: %s", queue_reason());
    }
    return 0;
}

static int ctx_identity(SSL_CTX *ctx, const struct client_tls_opts *o, char *err, size_t errlen)
{
    if (o->cert == NULL)
        return 0;
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1)
        return file_failed("--cert", o->cert, err, errlen);
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1)
        return file_failed("--key", o->key, err, errlen);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return err_set(err, errlen, "--key %s does not match --cert %s: %s", o->key, o->cert,
                       queue_reason());
    return 0;
}

static int ctx_alpn(SSL_CTX *ctx, const struct client_tls_opts *o, char *err, size_t errlen)
{
    unsigned char wire[ALPN_WIRE_MAX];
    int n;

    if (o->alpn == NULL)
        return 0;
    if ((n = alpn_wire(o->alpn, wire, sizeof(wire), err, errlen)) < 0)
        return -1;
    /* (The one OpenSSL call that returns 0 for success.) */
    if (SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)n) != 0)
        return err_set(err, errlen, "--alpn: %s", queue_reason());
    return 0;
}

SSL_CTX *client_tls_ctx_new(const struct client_tls_opts *o, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        err_set(err, errlen, "unable to set up TLS: %s", queue_reason());
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* A server that closes without close_notify has ended, as with a FIN on TCP. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        err_set(err, errlen, "unable to require TLS 1.2: %s", queue_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (ctx_verify(ctx, o, err, errlen) < 0 || ctx_identity(ctx, o, err, errlen) < 0 ||
        ctx_alpn(ctx, o, err, errlen) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Connections */

void client_conn_init(struct client_conn *c, int fd)
{
    c->fd = fd;
    c->ssl = NULL;
    c->read_want = POLLIN;
    c->write_want = POLLOUT;
    c->broken = false;
    c->why[0] = '\0';
}

static bool is_ip_literal(const char *host)
{
    unsigned char bin[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
}

/* SNI for a name (never for an IP literal, RFC 6066), and the check of the certificate. */
static int ssl_name(SSL *ssl, const char *name, bool verify)
{
    if (is_ip_literal(name))
        return verify ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) : 1;
    if (SSL_set_tlsext_host_name(ssl, name) != 1)
        return 0;
    if (!verify)
        return 1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(ssl, name);
}

int client_conn_start_tls(struct client_conn *c, SSL_CTX *ctx, const struct client_tls_opts *o,
                          const char *host, char *err, size_t errlen)
{
    const char *name = o->servername != NULL ? o->servername : host;
    SSL *ssl = SSL_new(ctx);

    if (ssl == NULL)
        return err_set(err, errlen, "unable to set up TLS: %s", queue_reason());
    if (SSL_set_fd(ssl, c->fd) != 1 || ssl_name(ssl, name, !o->insecure) != 1) {
        SSL_free(ssl);
        return err_set(err, errlen, "unable to set up TLS for %s: %s", name, queue_reason());
    }
    SSL_set_connect_state(ssl);
    c->ssl = ssl;
    return 0;
}

/* Before each OpenSSL call: see client_tls.c's invariants. */
static void tls_call_begin(void)
{
    ERR_clear_error();
    errno = 0;
}

/* The cause of an SSL_ERROR_SSL: the reason, and why the certificate was refused if it was. */
static void tls_describe(struct client_conn *c)
{
    unsigned long e = ERR_peek_error();
    long verify = SSL_get_verify_result(c->ssl);
    const char *reason = queue_reason();

    if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK)
        snprintf(c->why, sizeof(c->why), "%s: %s", reason, X509_verify_cert_error_string(verify));
    else
        snprintf(c->why, sizeof(c->why), "%s", reason);
}

/*
 * An OpenSSL call on c returned `ret`, a failure: -1 with errno, the wait
 * in *want for EAGAIN.  A clean end (close_notify, or a FIN without one)
 * returns 0 when `end_ok` (reads), else it is EPIPE (writes) or, in a
 * handshake, EPROTO.
 */
static int tls_failed(struct client_conn *c, int ret, short *want, bool end_ok, bool handshake)
{
    int saved = errno;

    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        *want = POLLIN;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *want = POLLOUT;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (saved != 0) {
            c->broken = true;
            errno = saved;
            return -1;
        }
        break;
    case SSL_ERROR_ZERO_RETURN:
        break;
    default:
        tls_describe(c);
        c->broken = true;
        errno = EPROTO;
        return -1;
    }
    /* The end of the data. */
    if (end_ok)
        return 0;
    if (handshake) {
        snprintf(c->why, sizeof(c->why), "the server closed the connection during the handshake");
        errno = EPROTO;
    } else {
        errno = EPIPE;
    }
    return -1;
}

int client_conn_handshake(struct client_conn *c)
{
    int ret;

    if (c->ssl == NULL || SSL_is_init_finished(c->ssl))
        return 0;
    tls_call_begin();
    ret = SSL_do_handshake(c->ssl);
    if (ret == 1)
        return 0;
    return tls_failed(c, ret, &c->read_want, false, true);
}

int client_conn_handshake_wait(struct client_conn *c, int64_t deadline)
{
    while (client_conn_handshake(c) < 0) {
        if (errno != EAGAIN || fd_wait(c->fd, c->read_want, deadline) < 0)
            return -1;
    }
    return 0;
}

ssize_t client_conn_recv(struct client_conn *c, void *buf, size_t len)
{
    size_t got;

    if (c->ssl == NULL) {
        for (;;) {
            ssize_t n = recv(c->fd, buf, len, 0);
            if (n >= 0 || errno != EINTR)
                return n;
        }
    }
    tls_call_begin();
    if (SSL_read_ex(c->ssl, buf, len, &got) == 1)
        return (ssize_t)got;
    return tls_failed(c, 0, &c->read_want, true, false);
}

ssize_t client_conn_send(struct client_conn *c, const void *buf, size_t len)
{
    size_t put;

    if (c->ssl == NULL) {
        for (;;) {
            ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
            if (n >= 0 || errno != EINTR)
                return n;
        }
    }
    tls_call_begin();
    if (SSL_write_ex(c->ssl, buf, len, &put) == 1)
        return (ssize_t)put;
    return tls_failed(c, 0, &c->write_want, false, false);
}

int client_conn_shutdown(struct client_conn *c)
{
    int ret;

    if (c->ssl == NULL)
        return shutdown(c->fd, SHUT_WR);
    tls_call_begin();
    /* 0: our close_notify is sent and theirs is yet to come, which recv will see. */
    if ((ret = SSL_shutdown(c->ssl)) >= 0)
        return 0;
    return tls_failed(c, ret, &c->write_want, false, false);
}

bool client_conn_pending(const struct client_conn *c)
{
    return c->ssl != NULL && SSL_pending(c->ssl) > 0;
}

const char *client_conn_strerror(const struct client_conn *c, int err)
{
    if (err == EPROTO && c->why[0] != '\0')
        return c->why;
    return strerror(err);
}

void client_conn_close(struct client_conn *c)
{
    if (c->ssl != NULL) {
        /* SSL_shutdown after a fatal error is forbidden; after their clean close it is polite. */
        if (!c->broken && (SSL_get_shutdown(c->ssl) &
                           (SSL_RECEIVED_SHUTDOWN | SSL_SENT_SHUTDOWN)) == SSL_RECEIVED_SHUTDOWN) {
            tls_call_begin();
            (void)SSL_shutdown(c->ssl);
        }
        SSL_free(c->ssl);
        ERR_clear_error();
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close_quietly(c->fd);
    c->fd = -1;
}

int client_conn_send_all(struct client_conn *c, const void *buf, size_t len, int64_t deadline)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = client_conn_send(c, p, len);
        if (n >= 0) {
            p += n;
            len -= (size_t)n;
        } else if (errno != EAGAIN || fd_wait(c->fd, c->write_want, deadline) < 0) {
            return -1;
        }
    }
    return 0;
}

ssize_t client_conn_recv_wait(struct client_conn *c, void *buf, size_t len, int64_t deadline)
{
    for (;;) {
        ssize_t n = client_conn_recv(c, buf, len);
        if (n >= 0 || errno != EAGAIN || fd_wait(c->fd, c->read_want, deadline) < 0)
            return n >= 0 ? n : -1;
    }
}
