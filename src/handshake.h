/*
 * handshake: what an accepted connection goes through before its engine:
 * the TLS handshake of a tls:// listener, non-blocking in the loop, bounded
 * by the service's tls_handshake_timeout.  Admission (access rules,
 * limits, rates) was done before, so a refused peer costs no cryptography.
 *
 * A connection in its handshake is open in its svc (SVC_USE_CONN): it
 * counts in the limits and holds up the stop like any other.  When the
 * handshake is done, `done` is given the connection with a->ssl set and
 * a->opened true (the engine takes both); when it fails, the connection
 * line says end=tls:REASON, the result is counted, and it is closed.
 *
 * Memory while waiting: the SSL object and OpenSSL's buffers for one
 * record; no CPU: the loop is woken only by the socket or the timer.
 */
#ifndef USHER_HANDSHAKE_H
#define USHER_HANDSHAKE_H

#include "listener.h"
#include "pending.h"
#include "svc.h"

/* The handshakes under way in a process (owned by its server). */
struct handshake_set {
    struct pending_set list;
};

/* The handshake is done: serve a (a->ssl, a->opened set; the callee takes it all). */
typedef void handshake_done_fn(void *arg, struct svc *svc, const struct accepted *a);

/*
 * Begin the handshake of the admitted connection a (a->tls set).  Takes
 * the socket and the admission (released, and the line logged, on failure).
 */
void handshake_start(struct handshake_set *hs, struct svc *svc, const struct accepted *a,
                     handshake_done_fn *done, void *arg);

/* Close every handshake under way, their lines saying end=`end`. */
void handshake_close_all(struct handshake_set *hs, const char *end);

/* In a new child process: forget the parent's (no system call). */
void handshake_forget(struct handshake_set *hs);

#endif
