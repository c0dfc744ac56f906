/*
 * client_tls: the client's connections, plain or TLS (OpenSSL 3), behind
 * one set of calls, so that the stream copy, the sum, sumbin and time
 * helpers and bench move bytes the same way over tcp:// and tls://.
 *
 *   client_tls_ctx_new   a context for the options of the command line:
 *                        TLS 1.2 at least, the server verified against the
 *                        system's CAs (or --ca) unless --insecure, a client
 *                        certificate (--cert, --key), ALPN (--alpn)
 *   client_conn_*        a connected socket with or without TLS on it:
 *                        handshake, recv, send, half-close, close
 *
 * Invariants.  The socket is non-blocking and the conn owns it.  recv,
 * send, shutdown and a handshake step never block: when one cannot go on
 * it fails with EAGAIN, and read_want or write_want (for recv and the
 * handshake, for send and shutdown) say which poll(2) events it waits
 * for; over TLS a read may wait to write and a write to read.  Decrypted
 * bytes OpenSSL holds (client_conn_pending) do not wake poll: callers
 * read them first.  A TLS failure fails with EPROTO, its cause in words
 * in `why` (OpenSSL's reason, and the certificate check's for a failed
 * verification); client_conn_strerror gives either kind of cause.  Over
 * TLS, a recv of 0 is the server's close_notify or its FIN (a server that
 * closes without close_notify is taken as done, as a TCP FIN would be).
 * Nothing here prints or exits.
 */
#ifndef USHER_CLIENT_TLS_H
#define USHER_CLIENT_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The TLS options of the command line; NULL strings are not given. */
struct client_tls_opts {
    const char *ca;         /* --ca FILE: these CAs instead of the system's */
    const char *cert, *key; /* --cert FILE --key FILE: a client certificate, both or neither */
    const char *servername; /* --servername NAME: SNI and the name checked, instead of the host */
    const char *alpn;       /* --alpn LIST: "h2,http/1.1" */
    bool insecure;          /* --insecure: no verification of the server at all */
};

/*
 * The command line's TLS options, shared by usher and usher bench: the
 * getopt_long entries (needs <getopt.h>), each returning its CLIENT_TLS_OPT_
 * value, which client_tls_opt_set stores.
 */
enum {
    CLIENT_TLS_OPT_CA = 256, /* past every option letter */
    CLIENT_TLS_OPT_INSECURE,
    CLIENT_TLS_OPT_CERT,
    CLIENT_TLS_OPT_KEY,
    CLIENT_TLS_OPT_SERVERNAME,
    CLIENT_TLS_OPT_ALPN,
};
#define CLIENT_TLS_LONGOPTS                                                                        \
    {"ca", required_argument, NULL, CLIENT_TLS_OPT_CA},                                            \
        {"insecure", no_argument, NULL, CLIENT_TLS_OPT_INSECURE},                                  \
        {"cert", required_argument, NULL, CLIENT_TLS_OPT_CERT},                                    \
        {"key", required_argument, NULL, CLIENT_TLS_OPT_KEY},                                      \
        {"servername", required_argument, NULL, CLIENT_TLS_OPT_SERVERNAME},                        \
    {                                                                                              \
        "alpn", required_argument, NULL, CLIENT_TLS_OPT_ALPN                                       \
    }

/* Store option `opt` (a getopt_long value) with its `arg`; false if it is not a TLS option. */
bool client_tls_opt_set(struct client_tls_opts *o, int opt, const char *arg);

/* Was any TLS option given?  (They go with tls:// addresses only.) */
bool client_tls_opts_given(const struct client_tls_opts *o);

/*
 * Check the options as the command line gives them: --cert and --key go
 * together, an --alpn list is 1 to 255-byte names separated by commas.
 * Returns 0, or -1 with a message in err.
 */
int client_tls_opts_check(const struct client_tls_opts *o, char *err, size_t errlen);

/*
 * A client context for `o` (checked already).  Files are read here: a
 * missing or bad --ca, --cert or --key is an error naming the file.
 * Returns the context (SSL_CTX_free it), or NULL with a message in err.
 */
SSL_CTX *client_tls_ctx_new(const struct client_tls_opts *o, char *err, size_t errlen);

struct client_conn {
    int fd;
    SSL *ssl;         /* NULL: plain */
    short read_want;  /* poll events the last recv or handshake step waits for */
    short write_want; /* ... and the last send or shutdown */
    bool broken;      /* a fatal TLS or socket error: no close_notify any more */
    char why[256];    /* the cause of the last EPROTO */
};

/* A plain conn over the connected, non-blocking `fd` (which it now owns). */
void client_conn_init(struct client_conn *c, int fd);

/*
 * Put TLS on c (a plain conn, not yet used): SNI is o->servername, else
 * `host` unless it is an IP literal; the certificate must match the same
 * name (or the IP literal) unless o->insecure.  Returns 0, or -1 with a
 * message in err (c is left plain).
 */
int client_conn_start_tls(struct client_conn *c, SSL_CTX *ctx, const struct client_tls_opts *o,
                          const char *host, char *err, size_t errlen);

/*
 * One step of the TLS handshake (nothing to do on a plain conn).  Returns
 * 0 when it is done, or -1 with errno: EAGAIN (wait for c->read_want),
 * EPROTO (c->why), or the socket's error (ECONNRESET, ECONNREFUSED...).
 */
int client_conn_handshake(struct client_conn *c);

/* The whole handshake, waiting until `deadline` (a now_ms() instant, -1: none); ETIMEDOUT. */
int client_conn_handshake_wait(struct client_conn *c, int64_t deadline);

/*
 * Up to `len` bytes: returns the count, 0 at the server's end of data, or
 * -1 with errno (EAGAIN: wait for c->read_want; EPROTO; ECONNRESET...).
 */
ssize_t client_conn_recv(struct client_conn *c, void *buf, size_t len);

/*
 * Send up to `len` (> 0) bytes: returns the count sent, or -1 with errno
 * (EAGAIN: wait for c->write_want and call again with at least the same
 * bytes, which may have moved; EPIPE: the server takes no more).
 */
ssize_t client_conn_send(struct client_conn *c, const void *buf, size_t len);

/*
 * Half-close: shutdown(SHUT_WR), or a TLS close_notify (sent once; the
 * server's data is still read after it).  Returns 0, or -1 with errno
 * (EAGAIN: call again after c->write_want; ENOTCONN, EPIPE: the
 * connection is gone, the next recv says how).
 */
int client_conn_shutdown(struct client_conn *c);

/* Bytes decrypted and waiting in OpenSSL, which poll does not see. */
bool client_conn_pending(const struct client_conn *c);

/* The cause of an error `err` of c: c->why for EPROTO, else strerror's. */
const char *client_conn_strerror(const struct client_conn *c, int err);

/*
 * Free the TLS state and close the socket.  A TLS server that closed
 * cleanly gets our close_notify if it has not had it (never waited for).
 */
void client_conn_close(struct client_conn *c);

/*
 * For the lockstep helpers: send all of `len` bytes, or receive at least
 * one, waiting until `deadline` (-1: none).  They return as send and recv
 * do (send_all: 0), ETIMEDOUT after the deadline.
 */
int client_conn_send_all(struct client_conn *c, const void *buf, size_t len, int64_t deadline);
ssize_t client_conn_recv_wait(struct client_conn *c, void *buf, size_t len, int64_t deadline);

#endif
