/*
 * conn: stream connections in the event loop (see conn.h).
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
#include "conn.h"

#include "builtin.h"
#include "log.h"
#include "service.h"
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

static char scratch[CONN_READ_MAX];
static struct out out_buf;

static struct out *out_next(void)
{
    out_reset(&out_buf);
    return &out_buf;
}

static const struct builtin *ops(const struct conn *c)
{
    return c->svc->builtin;
}

void conn_peer_text(int fd, const struct sockaddr_storage *peer, socklen_t peer_len, char *buf,
                    size_t size)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (peer->ss_family != AF_UNIX) {
        if (addr_format_peer((const struct sockaddr *)peer, peer_len, buf, size) < 0)
            snprintf(buf, size, "?");
        return;
    }
    /* Unix peers are rarely bound to a name: who they are is in their credentials. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        snprintf(buf, size, "pid:%ld,uid:%lu", (long)cred.pid, (unsigned long)cred.uid);
    else
        snprintf(buf, size, "unix");
}

void conn_log_line(const struct svc *svc, int kind, const char *peer, int64_t duration_ms,
                   uint64_t in, uint64_t out, const char *end)
{
    log_info("service=%s proto=%s peer=%s duration_ms=%lld in=%llu out=%llu end=%s",
             svc->conf->name, addr_kind_name(kind), peer, (long long)duration_ms,
             (unsigned long long)in, (unsigned long long)out, end);
}

void conn_close(struct conn *c, const char *end)
{
    struct server *srv = c->srv;

    if (log_enabled(LOG_LVL_INFO)) {
        char peer[ADDR_TEXT_MAX];
        conn_peer_text(c->fd, &c->peer, c->peer_len, peer, sizeof(peer));
        conn_log_line(c->svc, c->kind, peer, now_ms() - c->started_ms, c->bytes_in, c->bytes_out,
                      end);
    }
    ev_io_del(srv->loop, c->fd);
    close_quietly(c->fd);
    ev_timer_stop(srv->loop, &c->timer);
    if (ops(c)->release != NULL)
        ops(c)->release(&c->bs);
    free(c->pending);
    free(c->held);
    server_conn_closed(srv, c);
    free(c);
}

/* End the connection after an I/O error; returns -1 (it is gone). */
static int fail(struct conn *c, int err)
{
    char end[48];

    if (ops(c)->reset_is_normal && (err == ECONNRESET || err == EPIPE))
        snprintf(end, sizeof(end), "closed");
    else
        snprintf(end, sizeof(end), "error:%s", errno_name(err));
    conn_close(c, end);
    return -1;
}

static void account(struct conn *c, bool in, size_t n)
{
    c->last_io_ms = ev_now(c->srv->loop);
    if (in) {
        c->bytes_in += n;
        c->svc->st->bytes_in += n;
    } else {
        c->bytes_out += n;
        c->svc->st->bytes_out += n;
    }
}

/* Keep what the socket did not take; the connection stops reading until it drains. */
static int keep_pending(struct conn *c, const struct out *o, size_t written)
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
static int flush(struct conn *c, struct out *o)
{
    ssize_t n;

    if (o->bytes == 0)
        return 0;
    do
        n = writev(c->fd, o->iov, o->niov);
    while (n < 0 && errno == EINTR);
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
static int hold(struct conn *c, const char *p, size_t n)
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
static int start_linger(struct conn *c)
{
    int64_t idle = c->svc->conf->idle_timeout_ms;

    if (shutdown(c->fd, SHUT_WR) < 0 && errno != ENOTCONN)
        return fail(c, errno);
    c->lingering = true;
    ev_timer_start(c->srv->loop, &c->timer,
                   idle > 0 && idle < grace_ms(CONN_LINGER_MS) ? idle : grace_ms(CONN_LINGER_MS));
    return 0;
}

/* If the builtin is done and the output is out, move on to closing.  -1 if closed. */
static int check_finished(struct conn *c)
{
    if (!c->bs.done || c->lingering || c->pending_len > 0)
        return 0;
    if (c->peer_eof) {
        conn_close(c, "closed");
        return -1;
    }
    return start_linger(c);
}

void conn_finish(struct conn *c)
{
    c->bs.done = true;
}

/* Feed input to the builtin, flushing as it answers.  -1 if the connection is gone. */
static int process(struct conn *c, const char *p, size_t n)
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

static int process_held(struct conn *c)
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

static int on_eof(struct conn *c)
{
    struct out *o;

    c->peer_eof = true;
    if (c->lingering) {
        conn_close(c, "closed");
        return -1;
    }
    if (c->bs.done)
        return check_finished(c);
    o = out_next();
    if (!ops(c)->eof(&c->bs, o))
        conn_finish(c);
    if (flush(c, o) < 0)
        return -1;
    return check_finished(c);
}

static int on_readable(struct conn *c)
{
    ssize_t n;

    do
        n = read(c->fd, scratch, sizeof(scratch));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? 0 : fail(c, errno);
    if (n == 0)
        return on_eof(c);
    account(c, true, (size_t)n);
    if (c->lingering || c->bs.done)
        return 0; /* the answer is given; input is only drained */
    return process(c, scratch, (size_t)n);
}

static int generate(struct conn *c)
{
    for (int i = 0; i < FILL_ROUNDS && c->pending_len == 0; i++) {
        struct out *o = out_next();
        ops(c)->fill(&c->bs, o);
        if (flush(c, o) < 0)
            return -1;
    }
    return 0;
}

static int on_writable(struct conn *c)
{
    if (c->pending_len > 0) {
        ssize_t n;
        do
            n = write(c->fd, c->pending + c->pending_off, c->pending_len);
        while (n < 0 && errno == EINTR);
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

static int update_interest(struct conn *c)
{
    unsigned events = 0;

    if (c->pending_len > 0 || (ops(c)->fill != NULL && !c->bs.done))
        events |= EV_WRITE;
    if (c->lingering || (!c->peer_eof && c->pending_len == 0 && c->held_len == 0))
        events |= EV_READ;
    if (ev_io_set(c->srv->loop, c->fd, events) < 0)
        return fail(c, errno);
    return 0;
}

static void on_io(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct conn *c = arg;

    (void)loop, (void)fd;
    if ((events & EV_WRITE) && on_writable(c) < 0)
        return;
    if ((events & EV_READ) && (c->lingering || (c->pending_len == 0 && c->held_len == 0)) &&
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
    struct conn *c = t->arg;
    const struct svc_conf *sc = c->svc->conf;
    int64_t now = ev_now(loop), next = -1;

    if (c->lingering) {
        conn_close(c, "closed");
        return;
    }
    if (sc->max_time_ms > 0) {
        int64_t left = c->started_ms + sc->max_time_ms - now;
        if (left <= 0) {
            conn_close(c, "max_time");
            return;
        }
        next = left;
    }
    if (sc->idle_timeout_ms > 0) {
        int64_t left = c->last_io_ms + sc->idle_timeout_ms - now;
        if (left <= 0) {
            conn_close(c, "timeout");
            return;
        }
        next = next < 0 || left < next ? left : next;
    }
    if (next >= 0)
        ev_timer_start(loop, t, next);
}

/* The first deadline of a new connection, if it has any. */
static void arm_timer(struct conn *c)
{
    const struct svc_conf *sc = c->svc->conf;
    int64_t first = sc->idle_timeout_ms;

    if (sc->max_time_ms > 0 && (first <= 0 || sc->max_time_ms < first))
        first = sc->max_time_ms;
    if (first > 0)
        ev_timer_start(c->srv->loop, &c->timer, first);
}

static struct conn *conn_new(struct server *srv, struct svc *svc, const struct accepted *a)
{
    struct conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->srv = srv;
    c->svc = svc;
    c->fd = a->fd;
    c->kind = a->kind;
    memcpy(&c->peer, &a->peer, a->peer_len);
    c->peer_len = a->peer_len;
    c->key = a->key;
    c->started_ms = now_ms();
    c->last_io_ms = ev_now(srv->loop);
    ev_timer_init(&c->timer, on_timer, c);
    return c;
}

struct conn *conn_start(struct server *srv, struct svc *svc, const struct accepted *a)
{
    struct conn *c = conn_new(srv, svc, a);
    struct out *o;

    if (c == NULL || ev_io_add(srv->loop, a->fd, 0, on_io, c) < 0) {
        unsigned long suppressed;
        char note[48];
        if (log_ratelimit(&svc->st->warn_rl[SVC_WARN_CONN], now_ms(), &suppressed))
            log_warnx("service=%s: unable to take a connection: %s%s", svc->conf->name,
                      strerror(errno), log_suppressed_note(note, sizeof(note), suppressed));
        free(c);
        close_quietly(a->fd);
        limit_release(&svc->st->lim, &a->key);
        return NULL;
    }
    server_conn_opened(srv, c);
    arm_timer(c);
    o = out_next();
    if (ops(c)->start != NULL)
        ops(c)->start(&c->bs, o);
    if (flush(c, o) < 0 || check_finished(c) < 0 || update_interest(c) < 0)
        return NULL;
    return c;
}
