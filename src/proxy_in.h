/*
 * proxy_in: a connection's PROXY protocol header (HAProxy's
 * proxy-protocol.txt, v1 or v2), read in the loop before anything else,
 * within proxy_timeout, whatever the segmentation.  The socket is peeked
 * and only the header's bytes are taken from it, so what follows the
 * header stays in the socket for the TLS handshake or the engine: nothing
 * is lost and nothing is handed over.
 *
 * A connection reading its header is open in its svc (SVC_USE_CONN) but
 * not admitted: the limits and access rules apply to the real client, once
 * the header has named it.  `done` gets the connection with a->peer the
 * real client (the balancer's own for LOCAL and UNKNOWN), a->via the
 * balancer, a->proxy the header's extras, a->opened true and a->key
 * still empty; the callee admits it.  A bad header or a timeout ends it
 * with end=proxy:bad_header or proxy:timeout.
 *
 * Memory while waiting: the parser (about 6 KiB, freed with the header).
 */
#ifndef USHER_PROXY_IN_H
#define USHER_PROXY_IN_H

#include "listener.h"
#include "pending.h"
#include "svc.h"

#include <sys/socket.h>

#define PROXY_ENV_MAX 5

/* What a header tells beyond the client's address, for exec programs. */
struct proxy_info {
    struct sockaddr_storage local; /* the address the client reached (TCPLOCALIP/PORT) */
    socklen_t local_len;           /* 0: none (LOCAL, UNKNOWN): the socket's own */
    char *env[PROXY_ENV_MAX + 1];  /* "PROXY_ALPN=h2", ...: NULL-ended, into text */
    char text[PROXY_ENV_MAX * 280];
};

/* The headers being read in a process (owned by its server). */
struct proxy_in_set {
    struct pending_set list;
};

/* The header is read: admit and serve a (see above; the callee takes it all). */
typedef void proxy_in_done_fn(void *arg, struct svc *svc, const struct accepted *a);

/*
 * Read the header of the accepted connection a (not admitted: a->key
 * empty) of `svc`.  Takes the socket.
 */
void proxy_in_start(struct proxy_in_set *ps, struct svc *svc, const struct accepted *a,
                    proxy_in_done_fn *done, void *arg);

/* Close every connection still reading its header, their lines saying end=`end`. */
void proxy_in_close_all(struct proxy_in_set *ps, const char *end);

/* In a new child process: forget the parent's (no system call). */
void proxy_in_forget(struct proxy_in_set *ps);

#endif
