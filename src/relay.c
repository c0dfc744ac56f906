/*
 * relay: the two-way copy (see relay.h).
 *
 * Side 0 is the client, side 1 the peer; direction d carries what side d
 * reads to side 1 - d.  For each side the loop is asked for what its
 * transport needs: to read when its direction is empty and its input open,
 * to write when the other direction has bytes for it or its shutdown
 * waits for room.  One timer: the idle and age limits, or after the
 * peer's exit the linger.
 */
#include "relay.h"

#include "ev.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { CLIENT, PEER };

struct relay_end_ref {
    struct relay *r;
    int side;
};

struct relay {
    struct ev_loop *loop;
    struct io side[2];
    struct relay_end_ref ref[2]; /* the loop's arg for each side's descriptor */
    bool spliced;                /* both plain: through pipe[d], never copied */
    int pipe[2][2];              /* spliced: direction d's pipe (read end, write end) */
    bool spilled[2];             /* bytes were left in pipe[d]: not for the pool */
    char *buf[2];                /* copied: direction d's bytes, read from side d */
    size_t off[2], len[2];       /* len: bytes direction d holds (buffer or pipe) */
    uint64_t bytes[2];
    bool eof[2];      /* side d's input has ended (or is no longer wanted) */
    bool shut[2];     /* side d's output is shut down */
    bool shutting[2]; /* side d's shutdown waits for the socket */
    bool peer_gone;
    bool broken;         /* ended by an error: no close_notify */
    bool client_reset;   /* ... the client's reset: passed on to the peer */
    size_t preface_left; /* of the client's direction: ours, not counted as the client's */
    struct relay_opts opts;
    int64_t last_io_ms;
    struct ev_timer timer;
    relay_end_fn *end_fn;
    void *end_arg;
};

static void relay_close(struct relay *r, const char *end)
{
    struct relay_result res = {.in = r->bytes[CLIENT], .out = r->bytes[PEER], .end = end};
    relay_end_fn *fn = r->end_fn;
    void *arg = r->end_arg;
    char text[96];

    /* A truncated TLS input is the client's, whatever ended the relay after it. */
    if (r->side[CLIENT].truncated && strcmp(end, "closed") == 0)
        res.end = "tls:eof";
    snprintf(text, sizeof(text), "%s", res.end);
    res.end = text;
    r->end_fn = NULL;
    relay_free(r);
    if (fn != NULL)
        fn(arg, &res);
}

void relay_close_now(struct relay *r, const char *why)
{
    relay_close(r, why);
}

/* End on an error of side `s`: returns -1 (the relay is gone). */
static int relay_fail(struct relay *r, int s, int err)
{
    char end[96];

    r->broken = true;
    r->client_reset = s == CLIENT && (err == ECONNRESET || err == EPIPE);
    /*
     * After a TLS input cut short, OpenSSL refuses to write: the error that
     * follows is the truncation's, and the line says so.
     */
    if (r->side[CLIENT].truncated)
        snprintf(end, sizeof(end), "tls:eof");
    else if (err == EPROTO && r->side[s].ssl != NULL)
        snprintf(end, sizeof(end), "tls:%s", r->side[s].error);
    else
        snprintf(end, sizeof(end), "error:%s", errno_name(err));
    relay_close(r, end);
    return -1;
}

static bool dir_done(const struct relay *r, int d)
{
    return r->eof[d] && r->len[d] == 0 && r->shut[1 - d];
}

/* Finished?  Both ways done, or the peer gone and its output delivered.  -1 if closed. */
static int check_done(struct relay *r)
{
    if ((dir_done(r, CLIENT) && dir_done(r, PEER)) || (r->peer_gone && dir_done(r, PEER))) {
        relay_close(r, "closed");
        return -1;
    }
    return 0;
}

/* Shut side t's output (its sender is done).  0, or -1 if the relay is gone. */
static int shut_output(struct relay *r, int t)
{
    if (r->shut[t])
        return 0;
    if (io_shutdown(&r->side[t]) < 0) {
        if (errno == EAGAIN) {
            r->shutting[t] = true;
            return 0;
        }
        if (errno != EPIPE && errno != ECONNRESET && errno != ENOTCONN)
            return relay_fail(r, t, errno);
    }
    r->shutting[t] = false;
    r->shut[t] = true;
    return 0;
}

/* Move what direction d holds towards side t: bytes taken, or -1 with errno. */
static ssize_t write_out(struct relay *r, int d, int t)
{
    ssize_t n;

    if (!r->spliced)
        return io_write(&r->side[t], r->buf[d] + r->off[d], r->len[d]);
    do
        n = splice(r->pipe[d][0], NULL, r->side[t].fd, NULL, r->len[d],
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    while (n < 0 && errno == EINTR);
    return n;
}

/*
 * splice stops short of TCP urgent data (a byte sent with MSG_OOB) and
 * says EAGAIN while the socket stays readable, so the loop would call it
 * again at once, forever.  A plain read steps over the urgent byte, as
 * the copying relay's reads do, and what it gets goes into the empty pipe
 * (PIPE_BUF at most, which an empty pipe always takes whole).
 */
static ssize_t read_past_urgent(struct relay *r, int s)
{
    char buf[PIPE_BUF];
    ssize_t n;

    do
        n = read(r->side[s].fd, buf, sizeof(buf));
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n;
    if (write(r->pipe[s][1], buf, (size_t)n) != n) {
        errno = EIO;
        return -1;
    }
    return n;
}

/* Take what side s has into its (empty) direction: bytes, 0 at EOF, -1 with errno. */
static ssize_t read_in(struct relay *r, int s)
{
    ssize_t n;

    if (!r->spliced) {
        if (r->buf[s] == NULL && (r->buf[s] = malloc(RELAY_BUF)) == NULL) {
            errno = ENOMEM;
            return -1;
        }
        r->off[s] = 0;
        return io_read(&r->side[s], r->buf[s], RELAY_BUF);
    }
    do
        n = splice(r->side[s].fd, NULL, r->pipe[s][1], NULL, RELAY_BUF,
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return read_past_urgent(r, s);
    return n;
}

/* Write direction d's bytes to side 1 - d.  0, or -1 if the relay is gone. */
static int flush_dir(struct relay *r, int d)
{
    int t = 1 - d;

    while (r->len[d] > 0) {
        ssize_t n = write_out(r, d, t);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET) && t == PEER) {
            /* The peer no longer reads: what the client sends goes nowhere. */
            r->spilled[d] = r->spliced;
            r->len[d] = 0;
            r->eof[d] = true;
            r->shut[t] = true;
            break;
        }
        if (n < 0)
            return relay_fail(r, t, errno);
        r->off[d] += (size_t)n;
        r->len[d] -= (size_t)n;
        if (d == CLIENT && r->preface_left > 0) {
            size_t ours = r->preface_left < (size_t)n ? r->preface_left : (size_t)n;
            r->preface_left -= ours;
            n -= (ssize_t)ours;
        }
        r->bytes[d] += (uint64_t)n;
        r->last_io_ms = ev_now(r->loop);
    }
    free(r->buf[d]); /* an idle direction holds no memory */
    r->buf[d] = NULL;
    r->off[d] = 0;
    if (r->eof[d] && shut_output(r, t) < 0)
        return -1;
    return check_done(r);
}

/* Read side s into its (empty) direction, and pass it on.  0, or -1 if gone. */
static int fill_dir(struct relay *r, int s)
{
    ssize_t n = read_in(r, s);

    if (n < 0 && errno == EAGAIN)
        return 0;
    if (n < 0) {
        if (s == PEER && errno == ECONNRESET)
            n = 0; /* the peer went without reading all: its output is over */
        else
            return relay_fail(r, s, errno);
    }
    if (n == 0)
        r->eof[s] = true;
    r->len[s] = (size_t)n;
    if (n > 0)
        r->last_io_ms = ev_now(r->loop);
    return flush_dir(r, s);
}

/* The socket events side i waits for now. */
static unsigned side_events(const struct relay *r, int i)
{
    bool want_read = !r->eof[i] && r->len[i] == 0;
    bool want_write = r->len[1 - i] > 0 || r->shutting[i];

    return io_events(&r->side[i], want_read, want_write);
}

static int update_side(struct relay *r, int i)
{
    if (ev_io_set(r->loop, r->side[i].fd, side_events(r, i)) < 0)
        return relay_fail(r, i, errno);
    return 0;
}

static void on_io(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct relay_end_ref *ref = arg;
    struct relay *r = ref->r;
    int i = ref->side;
    bool can_read, can_write;

    (void)loop, (void)fd;
    io_ready(&r->side[i], events, &can_read, &can_write);
    if (can_write) {
        if (r->shutting[i] && shut_output(r, i) < 0)
            return;
        if (!r->shutting[i] && r->len[1 - i] > 0 && flush_dir(r, 1 - i) < 0)
            return;
    }
    if (can_read && !r->eof[i] && r->len[i] == 0 && fill_dir(r, i) < 0)
        return;
    if (update_side(r, CLIENT) == 0)
        update_side(r, PEER);
}

/* The earliest limit that applies now: the linger, or the idle and age limits. */
static void on_timer(struct ev_loop *loop, struct ev_timer *t)
{
    struct relay *r = t->arg;
    int64_t now = ev_now(loop), next = -1;

    if (r->peer_gone) {
        next = r->last_io_ms + grace_ms(RELAY_LINGER_MS) - now;
        if (next <= 0) {
            relay_close(r, "closed");
            return;
        }
    }
    if (r->opts.max_time_ms > 0) {
        int64_t left = r->opts.started_ms + r->opts.max_time_ms - now;
        if (left <= 0) {
            relay_close(r, "max_time");
            return;
        }
        next = next < 0 || left < next ? left : next;
    }
    if (r->opts.idle_timeout_ms > 0) {
        int64_t left = r->last_io_ms + r->opts.idle_timeout_ms - now;
        if (left <= 0) {
            relay_close(r, "timeout");
            return;
        }
        next = next < 0 || left < next ? left : next;
    }
    if (next >= 0)
        ev_timer_start(loop, t, next);
}

/* A pipe for one direction: the pool's last, or a new one.  0, or -1. */
static int take_pipe(struct relay_pool *pool, int fds[2])
{
    if (pool != NULL && pool->n > 0) {
        pool->n--;
        fds[0] = pool->pipe[pool->n][0];
        fds[1] = pool->pipe[pool->n][1];
        return 0;
    }
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC);
}

/* Between two plain sockets: a pipe each way for splice.  Without them, copies. */
static void try_splice(struct relay *r)
{
    if (r->side[CLIENT].ssl != NULL)
        return;
    if (take_pipe(r->opts.pool, r->pipe[0]) < 0)
        return;
    if (take_pipe(r->opts.pool, r->pipe[1]) < 0) {
        close(r->pipe[0][0]);
        close(r->pipe[0][1]);
        r->pipe[0][0] = r->pipe[0][1] = -1;
        return;
    }
    r->spliced = true;
}

/* The preface (a PROXY header) goes first to the peer, as bytes of the client's direction. */
static int put_preface(struct relay *r, const struct relay_opts *o)
{
    if (o == NULL || o->preface_len == 0)
        return 0;
    if (o->preface_len > RELAY_BUF) {
        errno = EINVAL;
        return -1;
    }
    if (r->spliced) {
        /* An empty pipe takes it whole (it is far below the pipe's size). */
        if (write(r->pipe[CLIENT][1], o->preface, o->preface_len) != (ssize_t)o->preface_len)
            return -1;
    } else {
        if ((r->buf[CLIENT] = malloc(RELAY_BUF)) == NULL)
            return -1;
        memcpy(r->buf[CLIENT], o->preface, o->preface_len);
    }
    r->len[CLIENT] = o->preface_len;
    r->preface_left = o->preface_len;
    return 0;
}

/*
 * Let the pipes go: to the pool those that are empty (len counts what a
 * spliced direction holds, and a spilled one was abandoned with bytes in
 * it), while it has room; the others closed.
 */
static void close_pipes(struct relay *r)
{
    struct relay_pool *pool = r->opts.pool;

    for (int d = 0; d < 2; d++) {
        if (r->pipe[d][0] < 0)
            continue;
        if (pool != NULL && pool->n < RELAY_POOL_PIPES && r->len[d] == 0 && !r->spilled[d]) {
            pool->pipe[pool->n][0] = r->pipe[d][0];
            pool->pipe[pool->n][1] = r->pipe[d][1];
            pool->n++;
        } else {
            close(r->pipe[d][0]);
            close(r->pipe[d][1]);
        }
        r->pipe[d][0] = r->pipe[d][1] = -1;
    }
}

void relay_pool_drain(struct relay_pool *pool)
{
    while (pool->n > 0) {
        pool->n--;
        close(pool->pipe[pool->n][0]);
        close(pool->pipe[pool->n][1]);
    }
}

static struct relay *relay_new(struct ev_loop *loop, const struct io *client, int peer_fd,
                               const struct relay_opts *opts, relay_end_fn *end, void *arg)
{
    struct relay *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->loop = loop;
    r->side[CLIENT] = *client;
    io_init(&r->side[PEER], peer_fd, NULL);
    memset(r->pipe, -1, sizeof(r->pipe));
    if (opts != NULL)
        r->opts = *opts;
    r->opts.preface = NULL;
    r->end_fn = end;
    r->end_arg = arg;
    r->last_io_ms = ev_now(loop);
    ev_timer_init(&r->timer, on_timer, r);
    try_splice(r);
    if (put_preface(r, opts) < 0) {
        int err = errno;
        r->spilled[CLIENT] = true; /* whatever the failed write left in it */
        close_pipes(r);
        free(r->buf[CLIENT]);
        free(r);
        errno = err;
        return NULL;
    }
    return r;
}

/* The first limit's timer, if there is one. */
static void arm_timer(struct relay *r)
{
    int64_t first = r->opts.idle_timeout_ms;

    if (r->opts.max_time_ms > 0) {
        int64_t left = r->opts.started_ms + r->opts.max_time_ms - ev_now(r->loop);
        if (left < 1)
            left = 1;
        if (first <= 0 || left < first)
            first = left;
    }
    if (first > 0)
        ev_timer_start(r->loop, &r->timer, first);
}

struct relay *relay_start(struct ev_loop *loop, const struct io *client, int peer_fd,
                          const struct relay_opts *opts, relay_end_fn *end, void *arg)
{
    struct relay *r = relay_new(loop, client, peer_fd, opts, end, arg);

    if (r == NULL)
        return NULL;
    for (int i = 0; i < 2; i++) {
        bool take = i == PEER && r->opts.peer_in_loop;
        r->ref[i] = (struct relay_end_ref){r, i};
        if ((take ? ev_io_rebind : ev_io_add)(loop, r->side[i].fd, side_events(r, i), on_io,
                                              &r->ref[i]) < 0) {
            int err = errno;
            if (i == 1)
                ev_io_del(loop, r->side[CLIENT].fd);
            close_pipes(r);
            free(r->buf[CLIENT]);
            free(r);
            errno = err;
            return NULL;
        }
    }
    arm_timer(r);
    return r;
}

void relay_peer_gone(struct relay *r)
{
    r->peer_gone = true;
    if (check_done(r) < 0)
        return;
    ev_timer_start(r->loop, &r->timer, grace_ms(RELAY_LINGER_MS));
}

void relay_free(struct relay *r)
{
    struct io *c = &r->side[CLIENT];

    /* A TLS client is told the end (close_notify) unless the connection broke. */
    if (c->ssl != NULL && !c->shut_sent && c->failed == 0 && !r->broken)
        io_shutdown(c);
    /*
     * The client's reset goes on as a reset, as a balancer passes an
     * abort: the peer learns the connection was cut, not ended, and no
     * closed connection to it is left waiting in TIME_WAIT here (one per
     * connection the client resets, which at a few thousand a second
     * would hold the ports to a backend for a minute each).
     */
    if (r->client_reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        if (setsockopt(r->side[PEER].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0) {
            /* a plain close then: the peer sees an end instead of the cut */
        }
    }
    for (int i = 0; i < 2; i++) {
        ev_io_del(r->loop, r->side[i].fd);
        io_close(&r->side[i]);
        free(r->buf[i]);
    }
    close_pipes(r);
    ev_timer_stop(r->loop, &r->timer);
    free(r);
}
