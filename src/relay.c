/*
 * relay: the two-way copy (see relay.h).
 *
 * Side 0 is the client, side 1 the peer; direction d carries what side d
 * reads to side 1 - d.  For each side the loop is asked for what its
 * transport needs: to read when its direction is empty and its input open,
 * to write when the other direction has bytes for it or its shutdown
 * waits for room.
 */
#include "relay.h"

#include "ev.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CLIENT, PEER };

struct relay_end_ref {
    struct relay *r;
    int side;
};

struct relay {
    struct ev_loop *loop;
    struct io side[2];
    struct relay_end_ref ref[2]; /* the loop's arg for each side's descriptor */
    char *buf[2];                /* direction d: read from side d, for side 1 - d */
    size_t off[2], len[2];
    uint64_t bytes[2];
    bool eof[2];      /* side d's input has ended (or is no longer wanted) */
    bool shut[2];     /* side d's output is shut down */
    bool shutting[2]; /* side d's shutdown waits for the socket */
    bool peer_gone;
    bool broken; /* ended by an error: no close_notify */
    int64_t last_io_ms;
    struct ev_timer linger;
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

/* End on an error of side `s`: returns -1 (the relay is gone). */
static int relay_fail(struct relay *r, int s, int err)
{
    char end[96];

    r->broken = true;
    if (err == EPROTO && r->side[s].ssl != NULL)
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
        if (errno != EPIPE && errno != ECONNRESET)
            return relay_fail(r, t, errno);
    }
    r->shutting[t] = false;
    r->shut[t] = true;
    return 0;
}

/* Write direction d's bytes to side 1 - d.  0, or -1 if the relay is gone. */
static int flush_dir(struct relay *r, int d)
{
    int t = 1 - d;

    while (r->len[d] > 0) {
        ssize_t n = io_write(&r->side[t], r->buf[d] + r->off[d], r->len[d]);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET) && t == PEER) {
            /* The program no longer reads: what the client sends goes nowhere. */
            r->len[d] = 0;
            r->eof[d] = true;
            r->shut[t] = true;
            break;
        }
        if (n < 0)
            return relay_fail(r, t, errno);
        r->off[d] += (size_t)n;
        r->len[d] -= (size_t)n;
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
    ssize_t n;

    if (r->buf[s] == NULL && (r->buf[s] = malloc(RELAY_BUF)) == NULL)
        return relay_fail(r, s, ENOMEM);
    n = io_read(&r->side[s], r->buf[s], RELAY_BUF);
    if (n < 0 && errno == EAGAIN)
        return 0;
    if (n < 0) {
        if (s == PEER && errno == ECONNRESET)
            n = 0; /* the program went without reading all: its output is over */
        else
            return relay_fail(r, s, errno);
    }
    if (n == 0)
        r->eof[s] = true;
    r->off[s] = 0;
    r->len[s] = (size_t)n;
    r->last_io_ms = ev_now(r->loop);
    return flush_dir(r, s);
}

static int update_side(struct relay *r, int i)
{
    bool want_read = !r->eof[i] && r->len[i] == 0;
    bool want_write = r->len[1 - i] > 0 || r->shutting[i];

    if (ev_io_set(r->loop, r->side[i].fd, io_events(&r->side[i], want_read, want_write)) < 0)
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

static void on_linger(struct ev_loop *loop, struct ev_timer *t)
{
    struct relay *r = t->arg;
    int64_t left = r->last_io_ms + grace_ms(RELAY_LINGER_MS) - ev_now(loop);

    if (left > 0) {
        ev_timer_start(loop, t, left);
        return;
    }
    relay_close(r, "closed");
}

struct relay *relay_start(struct ev_loop *loop, const struct io *client, int peer_fd,
                          relay_end_fn *end, void *arg)
{
    struct relay *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->loop = loop;
    r->side[CLIENT] = *client;
    io_init(&r->side[PEER], peer_fd, NULL);
    r->end_fn = end;
    r->end_arg = arg;
    r->last_io_ms = ev_now(loop);
    ev_timer_init(&r->linger, on_linger, r);
    for (int i = 0; i < 2; i++) {
        r->ref[i] = (struct relay_end_ref){r, i};
        if (ev_io_add(loop, r->side[i].fd, EV_READ, on_io, &r->ref[i]) < 0) {
            int err = errno;
            if (i == 1)
                ev_io_del(loop, r->side[CLIENT].fd);
            free(r);
            errno = err;
            return NULL;
        }
    }
    return r;
}

void relay_peer_gone(struct relay *r)
{
    r->peer_gone = true;
    if (check_done(r) < 0)
        return;
    ev_timer_start(r->loop, &r->linger, grace_ms(RELAY_LINGER_MS));
}

void relay_free(struct relay *r)
{
    struct io *c = &r->side[CLIENT];

    /* A TLS client is told the end (close_notify) unless the connection broke. */
    if (c->ssl != NULL && !c->shut_sent && c->failed == 0 && !r->broken)
        io_shutdown(c);
    for (int i = 0; i < 2; i++) {
        ev_io_del(r->loop, r->side[i].fd);
        io_close(&r->side[i]);
        free(r->buf[i]);
    }
    ev_timer_stop(r->loop, &r->linger);
    free(r);
}
