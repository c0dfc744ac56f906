/*
 * tlsc: a small TLS client for the integration tests, on OpenSSL, so that
 * a test can drive a TLS connection byte by byte (partial writes, close_notify
 * or a bare FIN, a 100 MB stream hashed on the fly) where the third-party
 * clients (openssl s_client, gnutls-cli, socat, curl) cannot.
 *
 * Every call either succeeds or fails the current test (T_FAIL), except
 * tlsc_try, which reports a failed handshake instead.  Every wait is
 * bounded.  The socket is non-blocking; the TLS state machine is driven
 * with poll.
 */
#ifndef USHER_TLSC_H
#define USHER_TLSC_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct h_result;

struct tlsc_opts {
    const char *ca;          /* verify the server against this CA file; NULL: no verification */
    const char *verify_name; /* host name or IP the certificate must name; NULL: not checked */
    const char *sni;         /* server name sent; NULL: none */
    const char *cert, *key;  /* a client certificate; NULL: none */
    const char *alpn;        /* protocols offered, comma-separated ("h2,http/1.1"); NULL: none */
    int min_version;         /* TLS1_2_VERSION...; 0: OpenSSL's default */
    int max_version;         /* 0: OpenSSL's default */
    SSL_SESSION *session;    /* offered for resumption; NULL: none */
    int ms;                  /* handshake bound (scaled); 0: 5000 */
};

struct tlsc {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
};

/* Connect to `addr` ("tls://127.0.0.1:PORT", "tls://[::1]:PORT") and shake
 * hands; fails the test, saying why, if that fails. */
struct tlsc *tlsc_connect(const char *addr, const struct tlsc_opts *o);

/* The same, but a failed connect or handshake returns NULL with the reason
 * (OpenSSL's, and the verification's) in `why`: for clients that count
 * failures rather than stop at the first (in a child process, say). */
struct tlsc *tlsc_try(const char *addr, const struct tlsc_opts *o, char *why, size_t cap);

/* Send all `len` bytes, within `ms` (scaled). */
void tlsc_send(struct tlsc *c, const void *data, size_t len, int ms);
void tlsc_send_str(struct tlsc *c, const char *s);

/* How a read ended. */
enum tlsc_end {
    TLSC_DATA,   /* bytes came (tlsc_read) */
    TLSC_NOTIFY, /* the server sent close_notify */
    TLSC_EOF,    /* the TCP connection ended without close_notify */
    TLSC_ERROR,  /* a TLS error or a reset */
    TLSC_TIMEOUT,
};
const char *tlsc_end_name(enum tlsc_end e);

/* One read of at most `cap` bytes within `ms`: TLSC_DATA with *n set, or
 * how the stream ended. */
enum tlsc_end tlsc_read(struct tlsc *c, void *buf, size_t cap, size_t *n, int ms);

/* Read exactly `len` bytes (fails on an end or after `ms`). */
void tlsc_recv_exact(struct tlsc *c, void *buf, size_t len, int ms);

/* Read one "\n"-ended line (without it) into buf (fails after `ms`). */
void tlsc_recv_line(struct tlsc *c, char *buf, size_t cap, int ms);

/* Read until the stream ends (or `cap` bytes); returns the count and, in
 * *end, how it ended (NUL-terminated if room).  Fails after `ms`. */
size_t tlsc_recv_all(struct tlsc *c, char *buf, size_t cap, enum tlsc_end *end, int ms);

/* Send close_notify (our half-close). */
void tlsc_close_notify(struct tlsc *c);

/* shutdown(SHUT_WR) on the TCP socket, no close_notify: a truncation. */
void tlsc_fin(struct tlsc *c);

/*
 * A stream both ways at once: send `len` bytes (`data`, or if it is NULL
 * a fixed pattern), reading meanwhile; once all is sent, close_notify (or
 * a bare FIN if `fin`), then read until the stream ends.  What comes back
 * goes to `out` (up to `cap`; more fails the test) unless `out` is NULL,
 * when it is only counted and hashed.  Fails the test if it takes more
 * than `ms` (scaled).
 */
struct tlsc_xfer {
    size_t sent, got;
    unsigned char sent_sha256[32], got_sha256[32];
    enum tlsc_end end;
};
void tlsc_exchange(struct tlsc *c, const void *data, size_t len, bool fin, char *out, size_t cap,
                   int ms, struct tlsc_xfer *x);

/* The pattern tlsc_exchange sends when `data` is NULL, `len` bytes of it. */
void tlsc_pattern(unsigned char *buf, size_t off, size_t len);

/* What was agreed: "TLSv1.3", the cipher's standard name, the ALPN protocol
 * ("" if none), whether the session was resumed. */
const char *tlsc_version(const struct tlsc *c);
const char *tlsc_cipher(const struct tlsc *c);
char *tlsc_alpn(const struct tlsc *c);
bool tlsc_reused(const struct tlsc *c);

/* The server certificate's serial in upper-case hex ("1001") and subject
 * common name (malloc'd). */
char *tlsc_peer_serial(const struct tlsc *c);
char *tlsc_peer_cn(const struct tlsc *c);

/* The session, for a later tlsc_opts.session (SSL_SESSION_free it).  In TLS
 * 1.3 the ticket comes after the handshake: read something first. */
SSL_SESSION *tlsc_session(const struct tlsc *c);

/* Free the connection: no close_notify unless sent before; the socket closed. */
void tlsc_free(struct tlsc *c);

/*
 * The first flight of an OpenSSL client, made in memory without a
 * connection: a ClientHello record (TLS 1.2 to 1.3, SNI `sni` unless
 * NULL) for tests that send it, or half of it, over a raw socket.
 * Returns its length.
 */
size_t tlsc_client_hello(unsigned char *buf, size_t cap, const char *sni);

/* "127.0.0.1:PORT" or "[::1]:PORT" of an address as usherd logs it
 * ("tls://127.0.0.1:PORT"), for -connect options (malloc'd). */
char *tlsc_hostport(const char *addr);

/*
 * Run `openssl s_client -connect HOST:PORT ARGS...` (`args` NULL-ended),
 * `input` on its stdin (NULL: /dev/null), bounded by `ms`; its stdout and
 * stderr into *r.  Skips the test if openssl is missing.
 */
void tlsc_s_client(struct h_result *r, const char *addr, const char *input, int ms,
                   const char *const *args);

#endif
