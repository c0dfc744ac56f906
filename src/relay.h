/*
 * relay: bytes both ways between two stream transports in the event loop:
 * a client's connection (plain or TLS) and a local peer (the socketpair of
 * an exec program).  Half-closes pass both ways: the end of one side's
 * input shuts the other side's output (for TLS: close_notify, then FIN).
 *
 * Backpressure: each direction has one buffer of at most RELAY_BUF bytes,
 * taken only while there is something in it; a side is read only when
 * its direction's buffer is empty, so a receiver that stops reading stalls
 * its sender and memory stays bounded (an idle relay holds no buffer).
 *
 * The relay ends when both directions are done, on an error, or once the
 * peer is gone (relay_peer_gone) and what it sent has been delivered; a
 * client that stops reading then gets RELAY_LINGER_MS of no progress.
 */
#ifndef USHER_RELAY_H
#define USHER_RELAY_H

#include "io.h"

#include <stdbool.h>
#include <stdint.h>

#define RELAY_BUF       (64 * 1024)
#define RELAY_LINGER_MS 2000

struct ev_loop;
struct relay;

struct relay_result {
    uint64_t in, out; /* bytes from the client, to the client */
    const char *end;  /* "closed", "tls:eof" (truncated), "tls:REASON", "error:ENAME" */
};

/* The relay has ended (its descriptors are closed): called once. */
typedef void relay_end_fn(void *arg, const struct relay_result *res);

/*
 * Relay between `client` (taken: its socket and SSL) and the socket
 * `peer_fd` (taken).  Returns the relay, or NULL with errno (nothing
 * taken: the caller still owns and closes both).
 */
struct relay *relay_start(struct ev_loop *loop, const struct io *client, int peer_fd,
                          relay_end_fn *end, void *arg);

/* The peer will read and write no more (its process exited). */
void relay_peer_gone(struct relay *r);

/* Close now, without calling `end` (the process is going away). */
void relay_free(struct relay *r);

#endif
