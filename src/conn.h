/*
 * conn: a stream connection served by a builtin in the event loop.
 *
 * Data flow: the loop reads into a shared scratch buffer and hands the
 * bytes to the builtin's input function, which answers into a struct out:
 * an iovec list over staged copies and over data it references (echo sends
 * the input itself back).  The out is flushed with one writev.  Whatever
 * the socket does not take is copied into the connection's pending buffer,
 * and the connection stops reading until that drains (backpressure): the
 * memory a connection holds is bounded by CONN_PENDING_MAX plus one read.
 *
 * An idle connection holds no buffer at all.
 */
#ifndef USHER_CONN_H
#define USHER_CONN_H

#include "builtin.h"
#include "ev.h"
#include "limit.h"
#include "out.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct server;
struct svc;

#define CONN_READ_MAX    (64 * 1024) /* one read */
#define CONN_PENDING_MAX (OUT_STAGE + CONN_READ_MAX + 64 * 1024)

/* A connection just accepted, as the services take it. */
struct accepted {
    int fd;
    int kind; /* enum addr_kind */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    struct limit_key key; /* counted against its address: give back at the end */
};

struct conn {
    struct conn *prev, *next;
    struct server *srv;
    struct svc *svc;
    int fd;
    int kind; /* enum addr_kind */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    struct limit_key key;
    int64_t started_ms, last_io_ms;
    uint64_t bytes_in, bytes_out;
    struct ev_timer timer; /* idle timeout, then the lingering close */
    char *pending;         /* output the socket has not taken yet */
    size_t pending_off, pending_len;
    char *held; /* input read but not yet answered (during backpressure) */
    size_t held_len;
    bool peer_eof;             /* the peer will send no more */
    bool lingering;            /* output done and shut down; draining the peer */
    struct builtin_session bs; /* bs.done: close once the output is flushed */
};

/*
 * Serve the accepted stream socket a->fd for `svc`.  Takes the socket
 * (closed on failure) and the address count.  Returns the connection, or
 * NULL (the failure is logged).
 */
struct conn *conn_start(struct server *srv, struct svc *svc, const struct accepted *a);

/* The builtin is done: close once the output has been flushed. */
void conn_finish(struct conn *c);

/* End now: log the connection's line with end=`end`, close and free it. */
void conn_close(struct conn *c, const char *end);

/*
 * A peer for the log: "127.0.0.1:5432", "[::1]:5432", or for Unix peers
 * (asked of the socket `fd`) "pid:N,uid:N".
 */
void conn_peer_text(int fd, const struct sockaddr_storage *peer, socklen_t peer_len, char *buf,
                    size_t size);

/*
 * The per-connection log line, "service=S proto=P peer=PEER duration_ms=N
 * in=N out=N end=END", also used for refusals that never became a conn.
 */
void conn_log_line(const struct svc *svc, int kind, const char *peer, int64_t duration_ms,
                   uint64_t in, uint64_t out, const char *end);

#endif
