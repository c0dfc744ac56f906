/*
 * relay: bytes both ways between two stream transports in the event loop:
 * a client's connection (plain or TLS) and a peer (an exec program's
 * socketpair, or a forward service's backend).  Half-closes pass both
 * ways: the end of one side's input shuts the other side's output (for
 * TLS: close_notify, then FIN).
 *
 * A reset of the client's is passed on: the peer's socket is closed with
 * a reset too (SO_LINGER 0), as a balancer passes an abort.
 *
 * Between two plain sockets the bytes go through a pipe per direction with
 * splice(2), never copied into usherd; otherwise through a buffer.  A
 * relay that ends with its pipes empty gives them to its pool, if it was
 * given one, for the next relay to take: a short connection then costs no
 * pipe2 and no four closes (the pool holds at most RELAY_POOL_PIPES).
 *
 * Backpressure: each direction holds at most RELAY_BUF bytes (in its
 * buffer, taken only while there is something in it, or its pipe), and a
 * side is read only when its direction is empty, so a receiver that stops
 * reading stalls its sender and memory stays bounded (an idle relay holds
 * no buffer).
 *
 * The relay ends when both directions are done, on an error, at the idle
 * or age limit it was given, or once the peer is gone (relay_peer_gone)
 * and what it sent has been delivered; a client that stops reading then
 * gets RELAY_LINGER_MS of no progress.
 */
#ifndef USHER_RELAY_H
#define USHER_RELAY_H

#include "io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAY_BUF        (64 * 1024)
#define RELAY_LINGER_MS  2000
#define RELAY_POOL_PIPES 64 /* 128 descriptors at most, idle */

struct ev_loop;
struct relay;

/* Empty pipes kept for the next relays (owned by the engine that starts them). */
struct relay_pool {
    int pipe[RELAY_POOL_PIPES][2]; /* read end, write end */
    size_t n;
};

struct relay_opts {
    int64_t idle_timeout_ms; /* nothing moved that long: end=timeout (0: none) */
    int64_t max_time_ms;     /* from the start: end=max_time (0: none) */
    int64_t started_ms;      /* when the connection began (ev_now's clock), for max_time */
    const void *preface;     /* sent to the peer before anything of the client's (copied) */
    size_t preface_len;      /* at most RELAY_BUF */
    struct relay_pool *pool; /* the pipes' pool, to take from and give back to (NULL: none) */
    bool peer_in_loop;       /* peer_fd is registered in the loop already: taken over as it is */
};

struct relay_result {
    uint64_t in, out; /* bytes from the client, to the client */
    const char *end;  /* "closed", "timeout", "max_time", "tls:eof" (truncated), "tls:REASON",
                         "error:ENAME" */
};

/* The relay has ended (its descriptors are closed): called once. */
typedef void relay_end_fn(void *arg, const struct relay_result *res);

/*
 * Relay between `client` (taken: its socket and SSL) and the socket
 * `peer_fd` (taken), as `opts` says (NULL: no limits, no preface).
 * Returns the relay, or NULL with errno (nothing taken: the caller still
 * owns and closes both, and with peer_in_loop still has peer_fd's
 * registration).
 */
struct relay *relay_start(struct ev_loop *loop, const struct io *client, int peer_fd,
                          const struct relay_opts *opts, relay_end_fn *end, void *arg);

/* The peer will read and write no more (its process exited). */
void relay_peer_gone(struct relay *r);

/* Close now, calling `end` with end=`why` (the stop). */
void relay_close_now(struct relay *r, const char *why);

/* Close now, without calling `end` (the process is going away). */
void relay_free(struct relay *r);

/* Close the pool's pipes (it can be used again: it is empty). */
void relay_pool_drain(struct relay_pool *pool);

#endif
