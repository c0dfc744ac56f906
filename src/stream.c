/*
 * stream: stream connections in the event loop (see stream.h).
 *
 * A connection's life: start (the builtin may answer at once), then rounds
 * of read -> input -> flush; at the peer's EOF the builtin says whether to
 * stay open.  When the builtin is finished, output is flushed, our side is
 * shut down and the peer is drained until it closes or CONN_LINGER_MS pass
 * ("lingering close"), so a peer that sent bytes we never read does not get
 * a reset that could destroy the answer it has not read yet.
 *
 * Interest in the loop follows the state: read while nothing is pending,
 * write while something is pending or a generator has more to give.
 */
#include "stream.h"

#include "builtin.h"
#include "log.h"
#include "tls.h"
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONN_LINGER_MS 2000
#define FILL_ROUNDS    4 /* generator flushes per writable event, for fairness */

static char scratch[STREAM_READ_MAX];
static struct out out_buf;

static struct out *out_next(void)
{
    out_reset(&out_buf);
    return &out_buf;
}

static const struct builtin *ops(const struct stream *c)
{
    return c->ops;
}

static struct ev_loop *loop_of(const struct stream *c)
{
    return c->svc->set->loop;
}

static void unlink_stream(struct stream *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->set->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
}

void stream_close(struct stream *c, const char *end)
{
    struct ev_loop *loop = loop_of(c);
    int64_t duration = now_ms() - c->started_ms;

    /* A TLS peer is told the end (close_notify) unless the connection broke. */
    if (c->io.ssl != NULL && !c->failed && !c->io.shut_sent)
        io_shutdown(&c->io);
    if (log_enabled(LOG_LVL_INFO)) {
        char peer[ADDR_TEXT_MAX], line_end[512], fields[400];
        struct accepted as = {.fd = c->io.fd, .peer = c->peer, .peer_len = c->peer_len};
        memcpy(as.via, c->via, sizeof(as.via));
        accepted_peer_text(&as, peer, sizeof(peer));
        tls_log_fields(c->io.ssl, fields, sizeof(fields));
        /* A TLS EOF without close_notify is a truncation, not a clean close. */
        if (c->io.truncated && strcmp(end, "closed") == 0)
            end = "tls:eof";
        snprintf(line_end, sizeof(line_end), "%s%s", end, fields);
        svc_log_line(c->svc, c->kind, peer, duration, c->bytes_in, c->bytes_out, line_end);
    }
    svc_count_ended(c->svc, duration);
    svc_unlist(c->svc, c->listed);
    ev_io_del(loop, c->io.fd);
    io_close(&c->io);
    ev_timer_stop(loop, &c->timer);
    if (ops(c)->release != NULL)
        ops(c)->release(&c->bs);
    free(c->pending);
    free(c->held);
    unlink_stream(c);
    svc_release(c->svc, &c->key, SVC_USE_CONN);
    free(c);
}

void stream_close_all(struct stream_set *set, const char *end)
{
    /* Closing one stream never closes another: the next one is still there. */
    for (struct stream *c = set->head, *next; c != NULL; c = next) {
        next = c->next;
        stream_close(c, end);
    }
}

/* End the connection after an I/O error; returns -1 (it is gone). */
static int fail(struct stream *c, int err)
{
    char end[96];

    c->failed = true;
    if (ops(c)->reset_is_normal && (err == ECONNRESET || err == EPIPE))
        snprintf(end, sizeof(end), "closed");
    else if (c->io.truncated) /* OpenSSL writes nothing after a truncated input */
        snprintf(end, sizeof(end), "tls:eof");
    else if (err == EPROTO && c->io.ssl != NULL)
        snprintf(end, sizeof(end), "tls:%s", c->io.error);
    else
        snprintf(end, sizeof(end), "error:%s", errno_name(err));
    stream_close(c, end);
    return -1;
}

static void account(struct stream *c, bool in, size_t n)
{
    c->last_io_ms = ev_now(loop_of(c));
    if (in) {
        c->bytes_in += n;
        svc_count_bytes(c->svc, n, 0);
    } else {
        c->bytes_out += n;
        svc_count_bytes(c->svc, 0, n);
    }
}

/* Keep what the socket did not take; the connection stops reading until it drains. */
static int keep_pending(struct stream *c, const struct out *o, size_t written)
{
    size_t rest = o->bytes - written;
    char *p;

    p = malloc(rest);
    if (p == NULL)
        return fail(c, ENOMEM);
    c->pending = p;
    c->pending_off = 0;
    c->pending_len = rest;
    for (int i = 0; i < o->niov; i++) {
        size_t len = o->iov[i].iov_len;
        if (written >= len) {
            written -= len;
            continue;
        }
        memcpy(p, (char *)o->iov[i].iov_base + written, len - written);
        p += len - written;
        written = 0;
    }
    return 0;
}

/* Send the round's output.  Returns 0, or -1 if the connection is gone. */
static int flush(struct stream *c, struct out *o)
{
    ssize_t n;

    if (o->bytes == 0)
        return 0;
    n = io_writev(&c->io, o->iov, o->niov);
    if (n < 0) {
        if (errno != EAGAIN)
            return fail(c, errno);
        n = 0;
    }
    if (n > 0)
        account(c, false, (size_t)n);
    if ((size_t)n == o->bytes)
        return 0;
    return keep_pending(c, o, (size_t)n);
}

/* Input left over when output backed up, answered once the output drains. */
static int hold(struct stream *c, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    c->held = malloc(n);
    if (c->held == NULL)
        return fail(c, ENOMEM);
    memcpy(c->held, p, n);
    c->held_len = n;
    return 0;
}

/* Shut our side, then drain the peer a while.  Returns 0, or -1 if the connection is gone. */
static int start_linger(struct stream *c)
{
    int64_t idle = c->svc->conf->idle_timeout_ms;

    if (io_shutdown(&c->io) < 0) {
        if (errno != EAGAIN)
            return fail(c, errno);
        c->shutting = true; /* the close_notify goes when the socket has room */
        return 0;
    }
    c->shutting = false;
    c->lingering = true;
    ev_timer_start(loop_of(c), &c->timer,
                   idle > 0 && idle < grace_ms(CONN_LINGER_MS) ? idle : grace_ms(CONN_LINGER_MS));
    return 0;
}

/* If the builtin is done and the output is out, move on to closing.  -1 if closed. */
static int check_finished(struct stream *c)
{
    if (!c->bs.done || c->lingering || c->shutting || c->pending_len > 0)
        return 0;
    if (c->peer_eof) {
        stream_close(c, "closed");
        return -1;
    }
    return start_linger(c);
}

void stream_finish(struct stream *c)
{
    c->bs.done = true;
}

/* Feed input to the builtin, flushing as it answers.  -1 if the connection is gone. */
static int process(struct stream *c, const char *p, size_t n)
{
    while (n > 0 && !c->bs.done) {
        struct out *o = out_next();
        size_t used = ops(c)->input(&c->bs, p, n, o);
        if (used == 0 && o->bytes == 0)
            return fail(c, ENOMEM); /* the builtin could not get memory */
        p += used;
        n -= used;
        if (flush(c, o) < 0)
            return -1;
        if (c->pending_len > 0)
            return hold(c, p, n);
    }
    return check_finished(c);
}

static int process_held(struct stream *c)
{
    char *held = c->held;
    size_t n = c->held_len;
    int rc;

    c->held = NULL;
    c->held_len = 0;
    rc = process(c, held, n);
    free(held);
    return rc;
}

static int on_eof(struct stream *c)
{
    struct out *o;

    c->peer_eof = true;
    if (c->lingering) {
        stream_close(c, "closed");
        return -1;
    }
    if (c->bs.done)
        return check_finished(c);
    o = out_next();
    if (!ops(c)->eof(&c->bs, o))
        stream_finish(c);
    if (flush(c, o) < 0)
        return -1;
    return check_finished(c);
}

static int on_readable(struct stream *c)
{
    ssize_t n;

    n = io_read(&c->io, scratch, sizeof(scratch));
    if (n < 0)
        return errno == EAGAIN ? 0 : fail(c, errno);
    if (n == 0)
        return on_eof(c);
    account(c, true, (size_t)n);
    if (c->lingering || c->bs.done)
        return 0; /* the answer is given; input is only drained */
    return process(c, scratch, (size_t)n);
}

static int generate(struct stream *c)
{
    for (int i = 0; i < FILL_ROUNDS && c->pending_len == 0; i++) {
        struct out *o = out_next();
        ops(c)->fill(&c->bs, o);
        if (flush(c, o) < 0)
            return -1;
    }
    return 0;
}

static int on_writable(struct stream *c)
{
    if (c->shutting)
        return start_linger(c);
    if (c->pending_len > 0) {
        ssize_t n = io_write(&c->io, c->pending + c->pending_off, c->pending_len);
        if (n < 0)
            return errno == EAGAIN ? 0 : fail(c, errno);
        account(c, false, (size_t)n);
        c->pending_off += (size_t)n;
        c->pending_len -= (size_t)n;
        if (c->pending_len > 0)
            return 0;
        free(c->pending);
        c->pending = NULL;
        c->pending_off = 0;
    }
    if (c->bs.done)
        return check_finished(c);
    if (c->held_len > 0 && process_held(c) < 0)
        return -1;
    if (ops(c)->fill != NULL && c->pending_len == 0 && !c->bs.done)
        return generate(c);
    return 0;
}

static int update_interest(struct stream *c)
{
    bool want_write = c->shutting || c->pending_len > 0 || (ops(c)->fill != NULL && !c->bs.done);
    bool want_read = c->lingering || (!c->peer_eof && c->pending_len == 0 && c->held_len == 0);

    if (ev_io_set(loop_of(c), c->io.fd, io_events(&c->io, want_read, want_write)) < 0)
        return fail(c, errno);
    return 0;
}

static void on_io(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct stream *c = arg;
    bool can_read, can_write;

    (void)loop, (void)fd;
    io_ready(&c->io, events, &can_read, &can_write);
    if (can_write && on_writable(c) < 0)
        return;
    if (can_read && (c->lingering || (c->pending_len == 0 && c->held_len == 0)) &&
        on_readable(c) < 0)
        return;
    update_interest(c);
}

/*
 * One timer per connection: the lingering close, or the earlier of the idle
 * deadline (pushed on by activity, checked lazily here rather than re-armed
 * on every byte) and the max_time deadline.
 */
static void on_timer(struct ev_loop *loop, struct ev_timer *t)
{
    struct stream *c = t->arg;
    const struct svc_conf *sc = c->svc->conf;
    int64_t now = ev_now(loop), next = -1;

    if (c->lingering) {
        stream_close(c, "closed");
        return;
    }
    if (sc->max_time_ms > 0) {
        int64_t left = c->started_ms + sc->max_time_ms - now;
        if (left <= 0) {
            stream_close(c, "max_time");
            return;
        }
        next = left;
    }
    if (sc->idle_timeout_ms > 0) {
        int64_t left = c->last_io_ms + sc->idle_timeout_ms - now;
        if (left <= 0) {
            stream_close(c, "timeout");
            return;
        }
        next = next < 0 || left < next ? left : next;
    }
    if (next >= 0)
        ev_timer_start(loop, t, next);
}

/* The first deadline of a new connection, if it has any. */
static void arm_timer(struct stream *c)
{
    const struct svc_conf *sc = c->svc->conf;
    int64_t first = sc->idle_timeout_ms;

    if (sc->max_time_ms > 0 && (first <= 0 || sc->max_time_ms < first))
        first = sc->max_time_ms;
    if (first > 0)
        ev_timer_start(loop_of(c), &c->timer, first);
}

static struct stream *stream_new(struct stream_set *set, struct svc *svc, const struct accepted *a)
{
    struct stream *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->set = set;
    c->svc = svc;
    c->ops = builtin_get(svc->conf->builtin);
    io_init(&c->io, a->fd, a->ssl);
    c->kind = a->kind;
    memcpy(&c->peer, &a->peer, a->peer_len);
    c->peer_len = a->peer_len;
    memcpy(c->via, a->via, sizeof(c->via));
    c->key = a->key;
    c->started_ms = now_ms();
    c->last_io_ms = ev_now(svc->set->loop);
    ev_timer_init(&c->timer, on_timer, c);
    return c;
}

/*
 * A client that speaks first has often sent its request by the time its
 * connection is accepted: reading it at once spares a round through epoll
 * (see first_read_worth for when it does not).  -1 if the connection is gone.
 */
static int read_first(struct stream *c)
{
    struct first_read *fr = &c->set->first_read;
    uint64_t before = c->bytes_in;
    int rc;

    if (ops(c)->start != NULL || c->bs.done || !first_read_worth(fr))
        return 0;
    /* After -1, c is gone: the read found the request, or the end. */
    rc = on_readable(c);
    first_read_found(fr, rc < 0 || c->bytes_in > before);
    return rc;
}

static void link_stream(struct stream *c)
{
    c->prev = NULL;
    c->next = c->set->head;
    if (c->set->head != NULL)
        c->set->head->prev = c;
    c->set->head = c;
}

struct stream *stream_start(struct stream_set *set, struct svc *svc, const struct accepted *a)
{
    struct stream *c = stream_new(set, svc, a);
    struct out *o;

    free(a->proxy); /* a builtin has no use for a PROXY header's extras */
    if (c == NULL || ev_io_add(svc->set->loop, a->fd, 0, on_io, c) < 0) {
        svc_warnx(svc, SVC_WARN_CONN, "service=%s: unable to take a connection: %s",
                  svc->conf->name, strerror(errno));
        free(c);
        SSL_free(a->ssl);
        close_quietly(a->fd);
        svc_release(svc, &a->key, a->opened ? SVC_USE_CONN : SVC_USE_NONE);
        return NULL;
    }
    link_stream(c);
    if (!a->opened)
        svc_opened(svc, SVC_USE_CONN);
    c->listed = svc_list(svc, (const struct sockaddr *)&c->peer, 0);
    c->bs.metrics = svc->set->metrics;
    arm_timer(c);
    o = out_next();
    if (ops(c)->start != NULL)
        ops(c)->start(&c->bs, o);
    if (flush(c, o) < 0 || check_finished(c) < 0 || read_first(c) < 0 || update_interest(c) < 0)
        return NULL;
    return c;
}
