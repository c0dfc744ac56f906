/*
 * service: the running daemon's services, listeners and connections
 * (see service.h).
 */
#include "service.h"

#include "builtin.h"
#include "conn.h"
#include "dgram.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACCEPT_BATCH    64  /* accepts per readiness event, for fairness */
#define ACCEPT_PAUSE_MS 100 /* rest after running out of descriptors */

static struct log_ratelimit accept_warn_rl;
static struct log_ratelimit refuse_rl;

void server_conn_opened(struct server *srv, struct conn *c)
{
    c->prev = NULL;
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    c->svc->conns_now++;
}

void server_conn_closed(struct server *srv, struct conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->nconns--;
    c->svc->conns_now--;
    if (srv->stopping && srv->nconns == 0)
        ev_break(srv->loop);
}

bool server_is_udp_builtin_port(const struct server *srv, uint16_t port)
{
    for (size_t i = 0; i < srv->nudp_ports; i++)
        if (srv->udp_ports[i] == port)
            return true;
    return false;
}

/* Accepted but over a limit: closed at once, logged (at most once a second). */
static void refuse(struct bound *b, int fd, const struct sockaddr_storage *peer, socklen_t peer_len,
                   const char *end)
{
    unsigned long suppressed;
    char text[ADDR_TEXT_MAX];

    b->svc->stats.refused++;
    if (!log_enabled(LOG_LVL_INFO) || !log_ratelimit(&refuse_rl, now_ms(), &suppressed)) {
        close_quietly(fd);
        return;
    }
    conn_peer_text(fd, peer, peer_len, text, sizeof(text));
    close_quietly(fd);
    conn_log_line(b->svc, b->l.kind, text, 0, 0, 0, end);
    if (suppressed > 0)
        log_info("%lu more connections refused in the last second (not logged one by one)",
                 suppressed);
}

static void on_resume(struct ev_loop *loop, struct ev_timer *t)
{
    struct bound *b = t->arg;

    b->paused = false;
    if (!b->srv->stopping && ev_io_set(loop, b->l.fd, EV_READ) < 0)
        log_warn("service=%s: unable to watch %s", b->svc->conf->name, b->l.name);
}

/*
 * Out of descriptors or memory: stop accepting for a moment rather than
 * spin on a listener that stays readable.  The pending connections wait in
 * the kernel's queue and are taken when resources come back.
 */
static void pause_accepting(struct bound *b, int err)
{
    unsigned long suppressed;

    if (log_ratelimit(&accept_warn_rl, now_ms(), &suppressed))
        log_warnx("service=%s: unable to accept on %s: %s; pausing %d ms", b->svc->conf->name,
                  b->l.name, strerror(err), ACCEPT_PAUSE_MS);
    b->paused = true;
    ev_io_set(b->srv->loop, b->l.fd, 0);
    if (ev_timer_start(b->srv->loop, &b->resume_timer, ACCEPT_PAUSE_MS) < 0)
        on_resume(b->srv->loop, &b->resume_timer);
}

static bool accept_error_is_transient(int err)
{
    /* The connection died before we took it, or a firewall said no. */
    return err == ECONNABORTED || err == EPROTO || err == EPERM || err == ENETDOWN ||
           err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
           err == EOPNOTSUPP || err == ENETUNREACH || err == EINTR;
}

static void on_accept(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct bound *b = arg;
    struct server *srv = b->srv;

    (void)loop, (void)fd, (void)events;
    for (int i = 0; i < ACCEPT_BATCH && !b->paused; i++) {
        struct sockaddr_storage peer;
        socklen_t peer_len;
        int cfd = listener_accept(&b->l, &peer, &peer_len);
        if (cfd < 0) {
            if (errno == EAGAIN || accept_error_is_transient(errno))
                break;
            pause_accepting(b, errno);
            break;
        }
        b->svc->stats.conns_total++;
        if (srv->conf->max_conns != 0 && srv->nconns >= srv->conf->max_conns) {
            refuse(b, cfd, &peer, peer_len, "refused:max_conns");
            continue;
        }
        conn_start(srv, b->svc, cfd, b->l.kind, &peer, peer_len);
    }
}

static int watch(struct server *srv, struct bound *b)
{
    ev_io_fn *fn = addr_kind_socktype(b->l.kind) == SOCK_STREAM ? on_accept : dgram_on_readable;

    ev_timer_init(&b->resume_timer, on_resume, b);
    return ev_io_add(srv->loop, b->l.fd, EV_READ, fn, b);
}

static void close_bound(struct server *srv, struct bound *b)
{
    if (b->l.fd < 0)
        return;
    ev_io_del(srv->loop, b->l.fd);
    ev_timer_stop(srv->loop, &b->resume_timer);
    listener_close(&b->l);
}

static void close_listeners(struct server *srv)
{
    for (size_t i = 0; i < srv->nbound; i++)
        close_bound(srv, &srv->bound[i]);
}

static bool missing_family(int err)
{
    return err == EADDRNOTAVAIL || err == EAFNOSUPPORT;
}

static int open_one(struct server *srv, struct svc *svc, const struct conf_listen *cl, char *err,
                    size_t errlen)
{
    const struct svc_conf *sc = svc->conf;
    struct listener_perms perms = {
        .mode = sc->sock_mode,
        .owner_set = sc->sock_owner_set,
        .group_set = sc->sock_group_set,
        .owner = sc->sock_owner,
        .group = sc->sock_group,
    };
    struct bound *b = &srv->bound[srv->nbound];

    if (listener_open(&b->l, &cl->addr, sc->backlog, &perms, err, errlen) < 0) {
        if (cl->optional && missing_family(errno)) {
            log_warnx("%s; skipped (no IPv6 here)", err);
            return 0;
        }
        return -1;
    }
    b->svc = svc;
    b->srv = srv;
    if (watch(srv, b) < 0) {
        snprintf(err, errlen, "unable to watch %s: %s", b->l.name, strerror(errno));
        listener_close(&b->l);
        return -1;
    }
    srv->nbound++;
    log_info("listening service=%s addr=%s", sc->name, b->l.name);
    return 0;
}

static int note_udp_port(struct server *srv, const struct bound *b)
{
    uint16_t port = addr_port((const struct sockaddr *)&b->l.bound);
    uint16_t *grown;

    if (b->l.kind != ADDR_UDP || server_is_udp_builtin_port(srv, port))
        return 0;
    grown = realloc(srv->udp_ports, (srv->nudp_ports + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    srv->udp_ports = grown;
    srv->udp_ports[srv->nudp_ports++] = port;
    return 0;
}

static size_t count_listens(const struct conf *conf)
{
    size_t n = 0;

    for (size_t i = 0; i < conf->nsvcs; i++)
        n += conf->svcs[i].nlistens;
    return n;
}

int server_start(struct server *srv, struct ev_loop *loop, struct conf *conf, char *err,
                 size_t errlen)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->conf = conf;
    srv->svcs = calloc(conf->nsvcs ? conf->nsvcs : 1, sizeof(*srv->svcs));
    srv->bound = calloc(count_listens(conf) + 1, sizeof(*srv->bound));
    if (srv->svcs == NULL || srv->bound == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < conf->nsvcs; i++) {
        struct svc *svc = &srv->svcs[srv->nsvcs++];
        svc->conf = &conf->svcs[i];
        svc->builtin = builtin_get(svc->conf->builtin);
        svc->srv = srv;
        for (size_t j = 0; j < svc->conf->nlistens; j++)
            if (open_one(srv, svc, &svc->conf->listens[j], err, errlen) < 0)
                goto fail;
    }
    for (size_t i = 0; i < srv->nbound; i++) {
        if (note_udp_port(srv, &srv->bound[i]) < 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (dgram_init(srv, err, errlen) < 0)
        goto fail;
    ev_timer_init(&srv->stop_timer, NULL, srv);
    return 0;
fail:
    close_listeners(srv);
    srv->conf = NULL; /* still the caller's on failure */
    server_free(srv);
    return -1;
}

static void close_all_connections(struct server *srv)
{
    while (srv->conns != NULL)
        conn_close(srv->conns, "shutdown");
}

static void on_stop_deadline(struct ev_loop *loop, struct ev_timer *t)
{
    struct server *srv = t->arg;

    log_info("shutdown_timeout reached: closing %u connections", srv->nconns);
    close_all_connections(srv);
    ev_break(loop);
}

void server_stop(struct server *srv, bool now)
{
    if (srv->stopping || now) {
        if (srv->stopping)
            log_info("stopping now: closing %u connections", srv->nconns);
        srv->stopping = true;
        close_listeners(srv);
        close_all_connections(srv);
        ev_break(srv->loop);
        return;
    }
    srv->stopping = true;
    close_listeners(srv);
    if (srv->nconns == 0) {
        log_info("stopping: no connections open");
        ev_break(srv->loop);
        return;
    }
    log_info("stopping: listeners closed, waiting up to %lld ms for %u connections",
             (long long)srv->conf->shutdown_timeout_ms, srv->nconns);
    srv->stop_timer.fn = on_stop_deadline;
    if (ev_timer_start(srv->loop, &srv->stop_timer, srv->conf->shutdown_timeout_ms) < 0)
        server_stop(srv, true);
}

void server_log_stats(struct server *srv)
{
    for (size_t i = 0; i < srv->nsvcs; i++) {
        const struct svc *svc = &srv->svcs[i];
        const struct svc_stats *s = &svc->stats;
        log_info("stats service=%s conns_now=%u conns_total=%llu refused=%llu bytes_in=%llu "
                 "bytes_out=%llu dgrams_in=%llu dgrams_out=%llu dgrams_dropped=%llu children=0",
                 svc->conf->name, svc->conns_now, (unsigned long long)s->conns_total,
                 (unsigned long long)s->refused, (unsigned long long)s->bytes_in,
                 (unsigned long long)s->bytes_out, (unsigned long long)s->dgrams_in,
                 (unsigned long long)s->dgrams_out, (unsigned long long)s->dgrams_dropped);
    }
}

void server_free(struct server *srv)
{
    close_all_connections(srv);
    close_listeners(srv);
    ev_timer_stop(srv->loop, &srv->stop_timer);
    dgram_free(srv);
    free(srv->svcs);
    free(srv->bound);
    free(srv->udp_ports);
    conf_free(srv->conf);
    memset(srv, 0, sizeof(*srv));
}
