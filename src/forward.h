/*
 * forward: a forward service's connections (xinetd's redirect, rinetd):
 * each admitted connection is relayed to the first of the service's
 * backends that accepts, tried in order, each for at most its
 * connect_timeout.  An engine beside stream and spawn: it stands on svc
 * (the connection is open there as SVC_USE_CONN until its line is
 * written) and on relay for the bytes (splice between plain sockets,
 * buffered when the client speaks TLS).  With forward_proxy_protocol, a
 * PROXY header naming the client goes to the backend first.
 *
 * While it connects, the client's socket is not watched: what the client
 * sends waits in the kernel, and is relayed once a backend answers.
 *
 * Lines: "... end=closed backend=tcp://B" (in/out are the client's bytes),
 * or when no backend could be reached "end=forward:ECONNREFUSED
 * backends=A,B", the last cause and every backend tried.
 */
#ifndef USHER_FORWARD_H
#define USHER_FORWARD_H

#include "listener.h"
#include "relay.h"
#include "svc.h"

struct forward;

/* The forward connections of a process (owned by its server). */
struct forward_set {
    struct forward *head;    /* doubly linked */
    struct relay_pool pipes; /* their relays' empty pipes, for the next ones */
};

/*
 * Serve the admitted connection `a` of the forward service `svc` (a->ssl:
 * its TLS, done).  Takes the socket, the SSL and the admission (with
 * a->opened, the caller's SVC_USE_CONN).
 */
void forward_start(struct forward_set *fs, struct svc *svc, const struct accepted *a);

/* Close every connection of `fs`, their lines saying end=`end`, and the pool's pipes. */
void forward_close_all(struct forward_set *fs, const char *end);

/* In a new child process: forget the parent's (no system call). */
void forward_forget(struct forward_set *fs);

#endif
