/*
 * stream: the engine of stream connections served by a builtin in the
 * event loop.  It stands on svc (admission was done by the caller; the
 * release at the end is its own) and knows no listener and no server.
 *
 * Data flow: the loop reads into a shared scratch buffer and hands the
 * bytes to the builtin's input function, which answers into a struct out:
 * an iovec list over staged copies and over data it references (echo sends
 * the input itself back).  The out is flushed with one writev.  Whatever
 * the socket does not take is copied into the connection's pending buffer,
 * and the connection stops reading until that drains (backpressure): the
 * memory a connection holds is bounded by STREAM_PENDING_MAX plus one read.
 *
 * An idle connection holds no buffer at all.
 *
 * Invariants: every open stream is on its stream_set's list and opened in
 * its svc (SVC_USE_CONN) until stream_close, which releases it.
 */
#ifndef USHER_STREAM_H
#define USHER_STREAM_H

#include "builtin.h"
#include "io.h"
#include "limit.h"
#include "listener.h"
#include "out.h"
#include "svc.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define STREAM_READ_MAX    (64 * 1024) /* one read */
#define STREAM_PENDING_MAX (OUT_STAGE + STREAM_READ_MAX + 64 * 1024)

struct stream_set;

struct stream {
    struct stream *prev, *next;
    struct stream_set *set;
    struct svc *svc;
    const struct builtin *ops; /* the service's builtin */
    struct io io;              /* the socket, plain or TLS */
    int kind;                  /* enum addr_kind */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char via[64]; /* behind a balancer: its address, for the line */
    struct limit_key key;
    int64_t started_ms, last_io_ms;
    uint64_t bytes_in, bytes_out;
    uint32_t listed;       /* in the open connections /status shows */
    struct ev_timer timer; /* idle timeout, then the lingering close */
    char *pending;         /* output the socket has not taken yet */
    size_t pending_off, pending_len;
    char *held; /* input read but not yet answered (during backpressure) */
    size_t held_len;
    bool peer_eof;             /* the peer will send no more */
    bool lingering;            /* output done and shut down; draining the peer */
    bool shutting;             /* output done, the shutdown (close_notify) waits for the socket */
    bool failed;               /* ended by an error: no close_notify */
    struct builtin_session bs; /* bs.done: close once the output is flushed */
};

/* The open streams of a process (owned by its server). */
struct stream_set {
    struct stream *head;          /* doubly linked, newest first */
    struct first_read first_read; /* how reading at accept has gone lately */
};

/*
 * Serve the accepted stream socket a->fd for `svc`, admitted (a->key),
 * over TLS if a->ssl is set (its handshake done).  Takes the socket and
 * its SSL (closed on failure) and the admission (released on failure;
 * with a->opened, the caller's SVC_USE_CONN is taken over).  Returns the
 * stream, or NULL (the failure is logged).
 */
struct stream *stream_start(struct stream_set *set, struct svc *svc, const struct accepted *a);

/* The builtin is done: close once the output has been flushed. */
void stream_finish(struct stream *c);

/* End now: log the connection's line with end=`end`, close, release and free it. */
void stream_close(struct stream *c, const char *end);

/* Close every stream of `set` with end=`end`. */
void stream_close_all(struct stream_set *set, const char *end);

#endif
