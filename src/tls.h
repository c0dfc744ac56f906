/*
 * tls: the TLS of a service, with OpenSSL 3.  A struct tls_ctx is what a
 * service's tls:// listeners hand each connection: one SSL_CTX per
 * certificate and key pair (the first is the default, the others are
 * switched to when the client's SNI names them), with the service's
 * versions, ciphers, ALPN and client verification, session tickets on
 * and the server-side session cache off (tickets carry the state, so a
 * worker or a forked process resumes what another started).
 *
 * The files are read here, at start and on every reload, before any
 * privilege is dropped (the children of exec services drop theirs; usherd
 * keeps the keys).  Errors name the configuration's FILE:LINE.
 *
 * Also the words a connection's end is told in (tls:REASON), its log
 * fields and the SSL_* environment of exec programs.
 *
 * Invariants: a tls_ctx is immutable once loaded; each SSL made from it
 * holds its own reference to the SSL_CTXs, so a reload may free the old
 * tls_ctx while its connections go on.
 */
#ifndef USHER_TLS_H
#define USHER_TLS_H

#include "conf.h"
#include "svc.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tls_ctx;

/*
 * Read and match every pair of `tc` (of service `name`) and build the
 * contexts.  Returns the tls_ctx, or NULL with "FILE:LINE: key: ..." in err.
 */
struct tls_ctx *tls_ctx_load(const struct tls_conf *tc, const char *name, char *err, size_t errlen);

void tls_ctx_free(struct tls_ctx *t);

/* Did two loads read the same bytes (every file of the pairs and the CA)? */
bool tls_ctx_same(const struct tls_ctx *a, const struct tls_ctx *b);

/*
 * usherd -t: load as tls_ctx_load does, then warn into `warn` (lines of
 * "FILE:LINE: warning: ...") of a certificate expired or expiring within
 * 14 days of `now` (seconds), and of a key file that group or others may
 * read.  Returns 0, or -1 with the error in err.
 */
int tls_check(const struct tls_conf *tc, const char *name, int64_t now, char *warn, size_t warnlen,
              char *err, size_t errlen);

/* A server-side SSL on the accepted socket `fd`, or NULL (out of memory). */
SSL *tls_new(struct tls_ctx *t, int fd);

/*
 * One step of the handshake.  Returns 1 when it is done, 0 when it waits
 * for the socket (*want: EV_READ or EV_WRITE), -1 when it failed (the
 * reason is tls_failure's).
 */
int tls_handshake(SSL *ssl, unsigned *want);

/*
 * Why the last operation on `ssl` failed (after tls_handshake returned -1,
 * or an I/O call of io.c): "wrong_version", "no_shared_cipher",
 * "unknown_ca", "no_certificate", "eof", ... into buf; the counter it
 * goes in comes back.
 */
enum svc_tls_result tls_failure(SSL *ssl, char *buf, size_t size);

/* " tls=TLSv1.3 cipher=NAME sni=NAME" for the connection line ("" without TLS). */
void tls_log_fields(SSL *ssl, char *buf, size_t size);

/* The SSL_* variables of an exec program, "NAME=VALUE" each.  At most TLS_ENV_MAX. */
#define TLS_ENV_MAX 6
struct tls_env {
    char *vars[TLS_ENV_MAX + 1]; /* NULL-ended, into text */
    char text[2048];
};
void tls_env(SSL *ssl, struct tls_env *env);

#endif
