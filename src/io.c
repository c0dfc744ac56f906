/*
 * io: plain and TLS transports behind one set of calls (see io.h).
 */
#include "io.h"

#include "ev.h"
#include "svc.h"
#include "tls.h"
#include "util.h"

#include <errno.h>
#include <openssl/err.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TLS_RECORD_MAX 16384 /* plaintext of one record */
#define TLS_GATHER     16384 /* small buffers coalesced into one record */

static char gather[TLS_GATHER];

void io_init(struct io *io, int fd, SSL *ssl)
{
    memset(io, 0, sizeof(*io));
    io->fd = fd;
    io->ssl = ssl;
}

/* An OpenSSL call returned `rc` <= 0: set errno (and the flags) from what it says. */
static ssize_t ssl_failed(struct io *io, int rc, bool reading)
{
    int saved = errno;

    switch (SSL_get_error(io->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        if (!reading)
            io->write_wants_read = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (reading)
            io->read_wants_write = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN: /* close_notify */
        return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            if (saved == 0) { /* EOF with no close_notify (OpenSSL 1.1 style) */
                io->truncated = true;
                return 0;
            }
            errno = saved;
            return -1;
        }
        break;
    default:
        break;
    }
    if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        io->truncated = true;
        return 0;
    }
    tls_failure(io->ssl, io->error, sizeof(io->error));
    errno = EPROTO;
    return -1;
}

static ssize_t plain_read(struct io *io, void *buf, size_t len)
{
    ssize_t n;

    do
        n = read(io->fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

/*
 * Whole records while room for one more remains: nothing stays buffered
 * in OpenSSL unseen by the loop.  An end (EOF or error) met after some
 * bytes is kept for the next call.
 */
static ssize_t tls_read(struct io *io, char *buf, size_t len)
{
    size_t got = 0;

    if (io->eof)
        return 0;
    if (io->failed != 0) {
        errno = io->failed;
        return -1;
    }
    io->read_wants_write = false;
    do {
        int n;
        ssize_t rc;
        ERR_clear_error();
        errno = 0;
        n = SSL_read(io->ssl, buf + got, (int)(len - got > INT32_MAX ? INT32_MAX : len - got));
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        rc = ssl_failed(io, n, true);
        if (rc == 0)
            io->eof = true;
        else if (errno != EAGAIN)
            io->failed = errno;
        return got > 0 ? (ssize_t)got : rc;
    } while (len - got >= TLS_RECORD_MAX);
    return (ssize_t)got;
}

#define FIRST_MISSES_MAX 3 /* read first while fewer than 2 */
#define FIRST_READ_PROBE 16

bool first_read_worth(struct first_read *fr)
{
    if (fr->misses >= 2 && ++fr->skipped < FIRST_READ_PROBE)
        return false;
    fr->skipped = 0;
    return true;
}

void first_read_found(struct first_read *fr, bool found)
{
    if (found)
        fr->misses -= fr->misses > 0;
    else
        fr->misses += fr->misses < FIRST_MISSES_MAX;
}

ssize_t io_read(struct io *io, void *buf, size_t len)
{
    return io->ssl == NULL ? plain_read(io, buf, len) : tls_read(io, buf, len);
}

static ssize_t plain_writev(struct io *io, const struct iovec *iov, int niov)
{
    ssize_t n;

    do
        n = writev(io->fd, iov, niov);
    while (n < 0 && errno == EINTR);
    return n;
}

/*
 * The next piece to hand SSL_write, from buffer i at offset off: a big
 * buffer as it is, small ones copied together so that each is not a record
 * of its own.
 */
static const char *next_piece(const struct iovec *iov, int niov, int i, size_t off, size_t *len)
{
    size_t used = 0;

    if (iov[i].iov_len - off >= TLS_GATHER) {
        *len = iov[i].iov_len - off;
        return (const char *)iov[i].iov_base + off;
    }
    for (; i < niov && used < TLS_GATHER; i++, off = 0) {
        size_t n = iov[i].iov_len - off;
        if (n > TLS_GATHER - used)
            n = TLS_GATHER - used;
        memcpy(gather + used, (const char *)iov[i].iov_base + off, n);
        used += n;
    }
    *len = used;
    return gather;
}

static ssize_t tls_writev(struct io *io, const struct iovec *iov, int niov)
{
    size_t total = 0, off = 0;
    int i = 0;

    io->write_wants_read = false;
    while (i < niov) {
        size_t len;
        const char *p;
        int n;
        if (iov[i].iov_len - off == 0) {
            i++, off = 0;
            continue;
        }
        p = next_piece(iov, niov, i, off, &len);
        ERR_clear_error();
        errno = 0;
        n = SSL_write(io->ssl, p, (int)(len > INT32_MAX ? INT32_MAX : len));
        if (n <= 0) {
            if (ssl_failed(io, n, false) == 0) /* close_notify while writing: the peer is gone */
                errno = EPIPE;
            /* After some bytes, the error comes again at the next call. */
            return total > 0 ? (ssize_t)total : -1;
        }
        total += (size_t)n;
        /* Advance over what was taken. */
        for (size_t left = (size_t)n; left > 0 && i < niov;) {
            size_t here = iov[i].iov_len - off;
            if (left < here) {
                off += left;
                left = 0;
            } else {
                left -= here;
                i++, off = 0;
            }
        }
    }
    return (ssize_t)total;
}

ssize_t io_writev(struct io *io, const struct iovec *iov, int niov)
{
    return io->ssl == NULL ? plain_writev(io, iov, niov) : tls_writev(io, iov, niov);
}

ssize_t io_write(struct io *io, const void *buf, size_t len)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

    return io_writev(io, &iov, 1);
}

int io_shutdown(struct io *io)
{
    if (io->shut_sent)
        return 0;
    if (io->ssl != NULL) {
        int rc;
        io->write_wants_read = false;
        ERR_clear_error();
        rc = SSL_shutdown(io->ssl); /* 0: our close_notify is out, theirs not yet in */
        if (rc < 0) {
            int e = SSL_get_error(io->ssl, rc);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                io->write_wants_read = e == SSL_ERROR_WANT_READ;
                errno = EAGAIN;
                return -1;
            }
            ERR_clear_error(); /* the peer went first: nothing more to say */
        }
    }
    io->shut_sent = true;
    if (shutdown(io->fd, SHUT_WR) < 0 && errno != ENOTCONN)
        return -1;
    return 0;
}

/*
 * A TLS read that met the peer's end (or an error) after some bytes kept it
 * for the next call: the socket may never be readable again, so the next
 * read must not wait for it.  Waiting for writability instead wakes the
 * loop at once (a socket with room), and io_ready takes it as readable.
 */
static bool end_latched(const struct io *io)
{
    return io->ssl != NULL && (io->eof || io->failed != 0);
}

unsigned io_events(const struct io *io, bool want_read, bool want_write)
{
    unsigned ev = 0;

    if (want_read)
        ev |= io->read_wants_write || end_latched(io) ? EV_WRITE : EV_READ;
    if (want_write)
        ev |= io->write_wants_read ? EV_READ : EV_WRITE;
    return ev;
}

void io_ready(const struct io *io, unsigned events, bool *can_read, bool *can_write)
{
    *can_read = (events & (io->read_wants_write || end_latched(io) ? EV_WRITE : EV_READ)) != 0;
    *can_write = (events & (io->write_wants_read ? EV_READ : EV_WRITE)) != 0;
}

void io_close(struct io *io)
{
    if (io->ssl != NULL) {
        SSL_free(io->ssl);
        io->ssl = NULL;
    }
    close_quietly(io->fd);
    io->fd = -1;
}
