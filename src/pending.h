/*
 * pending: a connection between accept and its engine, waiting on its
 * socket with a deadline: reading its PROXY header (proxy_in) or doing its
 * TLS handshake (handshake).  Both stages embed a struct pending first, so
 * the loop's callbacks get the stage's record as their argument.
 *
 * Invariants: a started pending is registered in the loop, timed, and on
 * its set's list until pending_detach; it is watched for what its stage's
 * last step waits for (nothing before the first step).
 */
#ifndef USHER_PENDING_H
#define USHER_PENDING_H

#include "ev.h"
#include "listener.h"
#include "svc.h"

#include <stdint.h>

struct pending_set;

struct pending {
    struct pending *prev, *next;
    struct pending_set *set;
    struct svc *svc;
    struct accepted a;
    int64_t started_ms;
    struct ev_timer timer;
};

/* The connections of one stage in a process (owned by its server). */
struct pending_set {
    struct pending *head; /* doubly linked */
};

/*
 * Start `p` (the first member of the stage's record) for the connection
 * `a` of `svc`: its socket registered with `on_io` but not yet watched,
 * `on_timeout` after `timeout_ms`, both called with p as their argument.
 * The stage takes its first step at once, since what it waits for (the
 * PROXY header, the ClientHello) has usually come with the connection, and
 * asks with ev_io_set for what it still waits for: a connection whose
 * bytes are there costs the epoll set nothing.  Returns 0, or -1 with
 * errno (nothing started: the caller still has the connection).
 */
int pending_start(struct pending_set *ps, struct pending *p, struct svc *svc,
                  const struct accepted *a, ev_io_fn *on_io, ev_timer_fn *on_timeout,
                  int64_t timeout_ms);

/* Out of the loop and the list: what is left is the connection itself. */
void pending_detach(struct pending *p);

/* The connection's line, ending before its engine: peer `peer`, end=`end`. */
void pending_log_end(const struct pending *p, const char *peer, const char *end);

static inline struct ev_loop *pending_loop(const struct pending *p)
{
    return p->svc->set->loop;
}

#endif
