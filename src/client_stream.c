/*
 * client_stream: the stream copy of `usher` (see client_stream.h).
 *
 * Invariants.  The socket is non-blocking; stdin and stdout are never made
 * so: O_NONBLOCK belongs to the open file, which the shell and the other
 * programs of a pipeline share.  So the copy reads stdin only when poll
 * says it is readable, and writes stdout only in pieces that cannot block
 * (see out_write).  The only wait is poll's, bounded by -w when given.
 * The connection is a client_conn, plain or TLS: the socket is polled for
 * what its last read and write wait for (over TLS a read may wait to
 * write), and bytes that OpenSSL holds decrypted are read without a wait.
 */
#include "client_stream.h"

#include "client_tls.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUF (64 * 1024) /* per direction */

/* Returned up the call chain to stop early, quietly, as a success: stdout's reader has gone. */
#define STOPPED 1

/* A write to stdout failed: EPIPE means the reader is done with us (`usher ... | head -1`). */
static int output_failed(char *err, size_t errlen)
{
    if (errno == EPIPE)
        return STOPPED;
    return err_set(err, errlen, "stdout: %s", strerror(errno));
}

struct buf {
    size_t head, tail; /* bytes [head, tail) wait to be written */
    char data[COPY_BUF];
};

static size_t buf_len(const struct buf *b)
{
    return b->tail - b->head;
}

/* Free space after the data, made as large as it can be. */
static size_t buf_room(struct buf *b)
{
    if (b->tail == sizeof(b->data) && b->head > 0) {
        memmove(b->data, b->data + b->head, buf_len(b));
        b->tail -= b->head;
        b->head = 0;
    }
    return sizeof(b->data) - b->tail;
}

static void buf_drop(struct buf *b, size_t n)
{
    b->head += n;
    if (b->head == b->tail)
        b->head = b->tail = 0;
}

/* How a write to stdout can be kept from blocking without touching its flags. */
enum out_kind {
    OUT_PIPE,   /* at most PIPE_BUF bytes per POLLOUT */
    OUT_SOCKET, /* send with MSG_DONTWAIT */
    OUT_OTHER,  /* regular file, terminal: writes complete */
};

struct stream {
    const char *name; /* the address, for messages */
    int64_t wait_ms;  /* -w, or -1 */
    struct client_conn *conn;
    enum out_kind out;
    bool in_done;    /* nothing more from stdin: EOF, or the server takes no more */
    bool shut;       /* our sending side is shut down */
    bool sock_eof;   /* the server closed: the copy ends once stdout has it all */
    int64_t last_io; /* when a byte last moved, for -w */
    struct buf up;   /* stdin -> socket */
    struct buf down; /* socket -> stdout */
};

enum { P_IN, P_SOCK, P_OUT };

/* An error on the connection, in the words of section 10: the address, then the cause. */
static int stream_failed(const struct stream *s, char *err, size_t errlen)
{
    if (errno == ETIMEDOUT)
        return err_set(err, errlen, "%s: timed out", s->name);
    return err_set(err, errlen, "%s: %s", s->name, client_conn_strerror(s->conn, errno));
}

static enum out_kind out_kind_of(int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return OUT_OTHER; /* the write will say what is wrong */
    if (S_ISSOCK(st.st_mode))
        return OUT_SOCKET;
    if (S_ISFIFO(st.st_mode))
        return OUT_PIPE;
    return OUT_OTHER;
}

static ssize_t out_write(enum out_kind kind, const char *p, size_t len)
{
    switch (kind) {
    case OUT_SOCKET:
        return send(STDOUT_FILENO, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    case OUT_PIPE:
        /* POLLOUT on a pipe promises room for PIPE_BUF bytes, not more. */
        return write(STDOUT_FILENO, p, len < PIPE_BUF ? len : PIPE_BUF);
    case OUT_OTHER:
        break;
    }
    return write_all(STDOUT_FILENO, p, len) < 0 ? -1 : (ssize_t)len;
}

/* Does the copy want to read from the server, or to send (data, or the half-close)? */
static bool wants_read(struct stream *s)
{
    return !s->sock_eof && buf_room(&s->down) > 0;
}

static bool wants_write(const struct stream *s)
{
    return !s->sock_eof && !s->shut && (buf_len(&s->up) > 0 || s->in_done);
}

static void stream_interest(struct stream *s, struct pollfd p[3])
{
    short sock = 0;

    for (int i = 0; i < 3; i++)
        p[i] = (struct pollfd){.fd = -1};
    if (!s->in_done && !s->sock_eof && buf_room(&s->up) > 0)
        p[P_IN] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
    if (wants_read(s))
        sock |= s->conn->read_want;
    if (wants_write(s))
        sock |= s->conn->write_want;
    /* Not polled at all when it wants nothing: a hang-up would wake us in a loop. */
    if (sock != 0)
        p[P_SOCK] = (struct pollfd){.fd = s->conn->fd, .events = sock};
    if (buf_len(&s->down) > 0)
        p[P_OUT] = (struct pollfd){.fd = STDOUT_FILENO, .events = POLLOUT};
}

static void moved(struct stream *s, struct buf *b, size_t n, bool in)
{
    if (in)
        b->tail += n;
    else
        buf_drop(b, n);
    s->last_io = now_ms();
}

static int sock_read(struct stream *s, char *err, size_t errlen)
{
    size_t room = buf_room(&s->down);
    ssize_t n;

    if (room == 0 || s->sock_eof)
        return 0;
    n = client_conn_recv(s->conn, s->down.data + s->down.tail, room);
    if (n > 0)
        moved(s, &s->down, (size_t)n, true);
    else if (n == 0)
        s->sock_eof = true;
    else if (errno != EAGAIN)
        return stream_failed(s, err, errlen);
    return 0;
}

static int sock_write(struct stream *s, char *err, size_t errlen)
{
    ssize_t n;

    if (s->sock_eof || s->shut || buf_len(&s->up) == 0)
        return 0;
    n = client_conn_send(s->conn, s->up.data + s->up.head, buf_len(&s->up));
    if (n >= 0) {
        moved(s, &s->up, (size_t)n, false);
        return 0;
    }
    if (errno == EAGAIN)
        return 0;
    if (errno == EPIPE) {
        /*
         * The server will take no more (it closed, and reset what we sent
         * after its FIN).  Not an error: what it sent is read up to its EOF.
         */
        s->up.head = s->up.tail = 0;
        s->in_done = s->shut = true;
        return 0;
    }
    return stream_failed(s, err, errlen);
}

static int in_read(struct stream *s, char *err, size_t errlen)
{
    size_t room = buf_room(&s->up);
    ssize_t n;

    if (s->in_done || room == 0)
        return 0;
    n = read(STDIN_FILENO, s->up.data + s->up.tail, room);
    if (n > 0)
        moved(s, &s->up, (size_t)n, true);
    else if (n == 0)
        s->in_done = true;
    else if (errno != EAGAIN && errno != EINTR)
        return err_set(err, errlen, "stdin: %s", strerror(errno));
    return 0;
}

static int out_flush(struct stream *s, char *err, size_t errlen)
{
    ssize_t n = out_write(s->out, s->down.data + s->down.head, buf_len(&s->down));

    if (n > 0)
        moved(s, &s->down, (size_t)n, false);
    else if (n < 0 && errno != EAGAIN && errno != EINTR)
        return output_failed(err, errlen);
    return 0;
}

/*
 * Once stdin has ended and all of it is sent, tell the server: half-close
 * (over TLS, close_notify, which may have to wait for room to be sent).
 */
static int maybe_shutdown(struct stream *s, char *err, size_t errlen)
{
    if (s->shut || !s->in_done || buf_len(&s->up) > 0)
        return 0;
    if (client_conn_shutdown(s->conn) < 0) {
        if (errno == EAGAIN)
            return 0;
        /* ENOTCONN, EPIPE: the connection is already gone; the next recv says how. */
        if (errno != ENOTCONN && errno != EPIPE)
            return stream_failed(s, err, errlen);
    }
    s->shut = true;
    return 0;
}

/* Did poll report what the socket's next read (or write) waits for? */
static bool sock_ready(short revents, short want)
{
    return (revents & (want | POLLERR | POLLHUP)) != 0;
}

/* Act on what poll reported: the socket's news first, stdin's last. */
static int stream_step(struct stream *s, const struct pollfd p[3], char *err, size_t errlen)
{
    short sock = p[P_SOCK].fd >= 0 ? p[P_SOCK].revents : 0;
    bool can_write = p[P_SOCK].fd >= 0 && wants_write(s) && sock_ready(sock, s->conn->write_want);
    int rc = 0;

    if ((p[P_SOCK].fd >= 0 && wants_read(s) && sock_ready(sock, s->conn->read_want)) ||
        client_conn_pending(s->conn))
        rc = sock_read(s, err, errlen);
    if (rc == 0 && p[P_OUT].revents != 0)
        rc = out_flush(s, err, errlen);
    if (rc == 0 && p[P_IN].revents != 0)
        rc = in_read(s, err, errlen);
    if (rc == 0 && can_write)
        rc = sock_write(s, err, errlen);
    return rc;
}

/* How long poll may wait: not at all while OpenSSL holds bytes we have room for. */
static int poll_timeout(struct stream *s)
{
    if (client_conn_pending(s->conn) && wants_read(s))
        return 0;
    return ms_until(s->wait_ms < 0 ? -1 : s->last_io + s->wait_ms);
}

static int stream_run(struct stream *s, char *err, size_t errlen)
{
    for (;;) {
        struct pollfd p[3];
        int timeout, rc;

        if (s->sock_eof && buf_len(&s->down) == 0)
            return 0;
        if (maybe_shutdown(s, err, errlen) < 0)
            return -1;
        stream_interest(s, p);
        timeout = poll_timeout(s);
        rc = poll(p, 3, timeout);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return err_set(err, errlen, "poll: %s", strerror(errno));
        if (rc == 0 && timeout != 0)
            return err_set(err, errlen, "%s: timed out", s->name);
        /* (rc 0 with timeout 0: nothing new, but OpenSSL holds bytes to read.) */
        if ((rc = stream_step(s, p, err, errlen)) != 0)
            return rc;
    }
}

int client_stream_copy(struct client_conn *conn, const char *name, int64_t wait_ms, char *err,
                       size_t errlen)
{
    struct stream *s = malloc(sizeof(*s));
    int rc;

    if (s == NULL)
        return err_set(err, errlen, "out of memory");
    s->name = name;
    s->wait_ms = wait_ms;
    s->conn = conn;
    s->out = out_kind_of(STDOUT_FILENO);
    s->in_done = s->shut = s->sock_eof = false;
    s->last_io = now_ms();
    s->up.head = s->up.tail = s->down.head = s->down.tail = 0;
    rc = stream_run(s, err, errlen);
    free(s);
    return rc < 0 ? -1 : 0;
}
