/*
 * io: the transport of a stream connection, plain or TLS, as the engines
 * (stream, relay) use it: read, write a list of buffers, end our side
 * (shutdown(SHUT_WR), or close_notify then SHUT_WR), close.
 *
 * TLS may need the other direction to make progress (a read that must
 * write, a write that must read): the engines ask io_events() which
 * socket events to wait for and io_ready() what those events allow, so
 * they never spin on a socket that is ready for the wrong thing.
 *
 * Invariants: a TLS read fills at most whole records (never leaving
 * plaintext buffered in OpenSSL that the loop would not be woken for), and
 * an end it met after some bytes is kept and asked for at once (io_events
 * wakes the loop for it, the socket may never be readable again); a
 * write that could not finish must be repeated with the same bytes first
 * (the engines keep the unwritten rest, which starts with them).
 */
#ifndef USHER_IO_H
#define USHER_IO_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct io {
    int fd;
    SSL *ssl;              /* NULL: plain */
    bool read_wants_write; /* the last TLS read waits for the socket to be writable */
    bool write_wants_read; /* the last TLS write waits for it to be readable */
    bool truncated;        /* TLS: the peer's EOF came without close_notify */
    bool shut_sent;        /* io_shutdown is done */
    bool eof;              /* TLS: the peer's end has been read */
    int failed;            /* TLS: the errno of a failed read, repeated after it */
    char error[64];        /* TLS: the reason of the last EPROTO (a tls_failure word) */
};

/*
 * Whether to read a new connection at once, before epoll says it is
 * readable: worth it while most such reads have found the request there
 * (a server that is not busy), not while they find nothing (a busy one
 * accepts connections as soon as they are made).  Zeroed: read first.
 */
struct first_read {
    int misses;       /* a score of the last reads that found nothing, 0 to 3 */
    unsigned skipped; /* connections not read at once since the last try */
};

/* Read this connection at once?  While a score of 2 or more says not, one in 16 still is. */
bool first_read_worth(struct first_read *fr);

/* What the read at once found: data (or the end), or nothing yet. */
void first_read_found(struct first_read *fr, bool found);

/* A transport over `fd` (ssl: after its handshake, or NULL for plain). */
void io_init(struct io *io, int fd, SSL *ssl);

/* Read: >0 bytes, 0 at EOF (see truncated), -1 with errno (EAGAIN; EPROTO: see error). */
ssize_t io_read(struct io *io, void *buf, size_t len);

/* Write the buffers in order: bytes taken (>= 0), or -1 with errno (EAGAIN when none). */
ssize_t io_writev(struct io *io, const struct iovec *iov, int niov);
ssize_t io_write(struct io *io, const void *buf, size_t len);

/* End our direction.  0 done, -1 with errno (EAGAIN: call again when io_events says). */
int io_shutdown(struct io *io);

/* The socket events to wait for, when the engine wants to read and/or write. */
unsigned io_events(const struct io *io, bool want_read, bool want_write);

/* What socket `events` let the engine do now. */
void io_ready(const struct io *io, unsigned events, bool *can_read, bool *can_write);

/* Free the TLS state and close the socket. */
void io_close(struct io *io);

#endif
