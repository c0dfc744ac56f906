/*
 * server: the running daemon's listeners, accepting, dispatch and the
 * stop (see server.h).
 *
 * Dispatch: an accepted connection is admitted by its svc, then given to
 * one engine (stream, spawn, or the fork model installed by procs), which
 * owns it from there and releases it in its svc at the end; the server
 * hears of the end only through the svc_set's on_end (on_svc_end).
 *
 * A reload applies reload_plan()'s plan in two phases so that it is all or
 * nothing: prepare (new svcs; the listeners the plan keeps, and fresh ones
 * bound for the rest) and, only if every bind worked, commit (point the
 * kept listeners at the new svcs, close the ones the plan closes, retire
 * the old svcs).
 */
#include "server.h"

#include "dgram.h"
#include "forward.h"
#include "handshake.h"
#include "proxy_in.h"
#include "log.h"
#include "reload.h"
#include "spawn.h"
#include "stream.h"
#include "tls.h"
#include "util.h"
#include "wait_guard.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ACCEPT_BATCH    64   /* accepts per readiness event, for fairness */
#define ACCEPT_PAUSE_MS 100  /* rest after running out of descriptors */
#define STOP_KILL_MS    2000 /* at the stop deadline: from SIGTERM to SIGKILL for children */

static void free_svcs(struct svc **svcs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (svcs[i] != NULL)
            svc_free(svcs[i]);
    free(svcs);
}

/* Connections and children open in this process. */
static unsigned in_flight(const struct server *srv)
{
    return srv->set.nconns + srv->set.nchildren;
}

/* The process models above, through the functions they installed (none: none to tell). */
static void signal_workers(const struct server *srv, int sig)
{
    if (srv->procs.signal_workers != NULL)
        srv->procs.signal_workers(srv->procs.arg, sig);
}

static void signal_conns(const struct server *srv, int sig)
{
    if (srv->procs.signal_conns != NULL)
        srv->procs.signal_conns(srv->procs.arg, sig);
}

/* model = fork: the connection in a process of its own.  Takes the socket and the admission. */
static void fork_connection(struct server *srv, struct svc *svc, const struct accepted *a)
{
    if (srv->procs.fork_connection != NULL) {
        srv->procs.fork_connection(srv->procs.arg, svc, a);
        return;
    }
    free(a->proxy);
    close_quietly(a->fd);
    svc_release(svc, &a->key, a->opened ? SVC_USE_CONN : SVC_USE_NONE);
}

/* Connections */

static void watch_all(struct server *srv, unsigned events);

/* The children a stop waits for: all but those on_stop = leave let go. */
static unsigned waited_children(const struct server *srv)
{
    return srv->set.nchildren - (unsigned)srv->spawn.nleft;
}

/* Is the stop complete: nothing left of ours running? */
static bool all_gone(const struct server *srv)
{
    return srv->set.nconns == 0 && waited_children(srv) == 0 && srv->nworkers == 0;
}

void server_check_stopped(struct server *srv)
{
    if ((srv->stopping || srv->retiring) && all_gone(srv))
        ev_break(srv->loop);
}

/* Installed in the svc set: a connection or child has ended. */
static void on_svc_end(struct svc_set *set, void *arg)
{
    struct server *srv = arg;

    (void)set;
    /* One at a time (a prefork process): ready for the next. */
    if (srv->max_in_flight && in_flight(srv) == srv->max_in_flight - 1 && !srv->stopping &&
        !srv->retiring)
        watch_all(srv, EV_READ);
    server_check_stopped(srv);
}

/* Accepting */

/*
 * A banner of the service (conf_banner.c) to a connection: one
 * non-blocking send that never waits on the client; a banner is small
 * enough for the send buffer of a new connection, and a client that has
 * already gone simply misses it.
 */
static void send_banner(const struct svc_conf *sc, enum conf_banner_kind kind, int fd)
{
    const struct conf_banner *bn = &sc->banner[kind];

    if (bn->len > 0 && send(fd, bn->text, bn->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_debug("service=%s: banner not sent: %s", sc->name, strerror(errno));
}

/* Accepted but over a limit: closed at once, and noted. */
static void refuse(struct bound *b, struct accepted *a, enum refusal r)
{
    char text[ADDR_TEXT_MAX] = "";

    send_banner(b->svc->conf, BANNER_FAIL, a->fd);
    if (log_enabled(LOG_LVL_INFO))
        listener_peer_text(a->fd, &a->peer, a->peer_len, text, sizeof(text));
    close_quietly(a->fd);
    svc_refused(b->svc, a->kind, text, r);
}

static void on_resume(struct ev_loop *loop, struct ev_timer *t)
{
    struct bound *b = t->arg;

    b->paused = false;
    /* wait = yes: a program holding the socket has it until it exits (give_back). */
    if (!b->watched || b->srv->stopping || b->holder != NULL)
        return;
    if (b->srv->max_in_flight && in_flight(b->srv) >= b->srv->max_in_flight)
        return; /* busy: the end of the connection in hand resumes it */
    if (ev_io_set(loop, b->l.fd, EV_READ) < 0)
        log_warn("service=%s: unable to watch %s", b->svc->conf->name, b->l.name);
}

void server_pause(struct bound *b, int ms)
{
    b->paused = true;
    ev_io_set(b->srv->loop, b->l.fd, 0);
    ev_timer_start(b->srv->loop, &b->resume_timer, ms);
}

/*
 * Out of descriptors or memory: stop accepting for a moment rather than
 * spin on a listener that stays readable.  The pending connections wait in
 * the kernel's queue and are taken when resources come back.
 */
static void pause_accepting(struct bound *b, int err)
{
    svc_warnx(b->svc, SVC_WARN_ACCEPT, "service=%s: unable to accept on %s: %s; pausing %d ms",
              b->svc->conf->name, b->l.name, strerror(err), ACCEPT_PAUSE_MS);
    server_pause(b, ACCEPT_PAUSE_MS);
}

static bool accept_error_is_transient(int err)
{
    /* The connection died before we took it, or a firewall said no. */
    return err == ECONNABORTED || err == EPROTO || err == EPERM || err == ENETDOWN ||
           err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
           err == EOPNOTSUPP || err == ENETUNREACH || err == EINTR;
}

/* How a connection came, as the metrics count it. */
static enum metrics_proto proto_of(const struct accepted *a)
{
    if (a->kind == ADDR_UNIX)
        return METRICS_UNIX;
    return a->tls != NULL ? METRICS_TLS : METRICS_TCP;
}

/* The PROXY header has named the client: admitted as that client, or refused. */
static void on_proxy_done(void *arg, struct svc *svc, const struct accepted *a)
{
    struct accepted mine = *a;
    enum refusal r =
        svc_admit(svc, (const struct sockaddr *)&mine.peer, true, proto_of(&mine), &mine.key);

    if (r == ADMITTED) {
        send_banner(svc->conf, BANNER_SUCCESS, mine.fd);
        server_serve(arg, svc, &mine);
        return;
    }
    send_banner(svc->conf, BANNER_FAIL, mine.fd);
    if (log_enabled(LOG_LVL_INFO)) {
        char text[ADDR_TEXT_MAX + 80];
        accepted_peer_text(&mine, text, sizeof(text));
        svc_refused(svc, mine.kind, text, r);
    } else {
        svc_refused(svc, mine.kind, "", r);
    }
    free(mine.proxy);
    close_quietly(mine.fd);
    svc_release(svc, &mine.key, SVC_USE_CONN); /* the key is empty: the header's hold */
}

/* Is the balancer `peer` one proxy_from trusts?  (Unix listeners: the file's mode says.) */
static bool trusted_balancer(const struct svc_conf *sc, const struct accepted *a)
{
    if (a->kind != ADDR_TCP)
        return true;
    for (size_t i = 0; i < sc->nproxy_from; i++)
        if (addr_prefix_match(&sc->proxy_from[i], (const struct sockaddr *)&a->peer))
            return true;
    return false;
}

/* proxy_protocol: the header first, from a trusted balancer only. */
static void behind_balancer(struct bound *b, struct accepted *a)
{
    if (!trusted_balancer(b->svc->conf, a)) {
        refuse(b, a, REFUSED_PROXY_UNTRUSTED);
        return;
    }
    proxy_in_start(&b->srv->proxies, b->svc, a, on_proxy_done, b->srv);
}

static void on_accept(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct bound *b = arg;
    struct server *srv = b->srv;

    (void)loop, (void)fd, (void)events;
    for (int i = 0; i < ACCEPT_BATCH && !b->paused; i++) {
        struct accepted a = {.kind = b->l.kind};
        enum refusal r;
        /* A program is given its socket blocking, as inetd gives it; over TLS it gets a socketpair.
         */
        a.fd =
            listener_accept(&b->l, b->svc->conf->exec != NULL && !b->l.tls, &a.peer, &a.peer_len);
        if (a.fd < 0) {
            if (errno == EAGAIN || accept_error_is_transient(errno))
                break;
            pause_accepting(b, errno);
            break;
        }
        a.tls = b->tls;
        /* A program's environment names our end (SPEC 5); served at once, unless TLS or PROXY. */
        if (b->svc->conf->exec != NULL && a.tls == NULL && b->svc->conf->proxy_protocol == 0)
            a.local = listener_local(&b->l);
        send_banner(b->svc->conf, BANNER_FIRST, a.fd);
        if (b->svc->conf->proxy_protocol != 0) {
            behind_balancer(b, &a);
        } else {
            r = svc_admit(b->svc, (const struct sockaddr *)&a.peer, true, proto_of(&a), &a.key);
            if (r != ADMITTED) {
                refuse(b, &a, r);
            } else {
                send_banner(b->svc->conf, BANNER_SUCCESS, a.fd);
                server_serve(srv, b->svc, &a);
            }
        }
        if (srv->max_in_flight && in_flight(srv) >= srv->max_in_flight) {
            watch_all(srv, 0); /* busy: the other processes of the pool take the next */
            break;
        }
    }
}

static void on_handshake_done(void *arg, struct svc *svc, const struct accepted *a)
{
    server_serve(arg, svc, a);
}

void server_serve(struct server *srv, struct svc *svc, const struct accepted *a)
{
    const struct svc_conf *sc = svc->conf;
    /* model = fork: the connection's own process does its handshake too. */
    bool forks = sc->exec == NULL && sc->model == MODEL_FORK && srv->role != ROLE_CONN;

    if (a->tls != NULL && a->ssl == NULL && !forks)
        handshake_start(&srv->handshakes, svc, a, on_handshake_done, srv);
    else if (forks)
        fork_connection(srv, svc, a);
    else if (sc->forward != NULL)
        forward_start(&srv->forwards, svc, a);
    else if (sc->exec != NULL)
        spawn_connection(&srv->spawn, svc, a);
    else
        stream_start(&srv->streams, svc, a);
}

/* A datagram listener is readable: the engine takes it with the loop rule's tables. */
static void on_dgram(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct bound *b = arg;

    (void)loop, (void)fd, (void)events;
    dgram_serve(&b->l, b->svc, &b->srv->guard);
}

/* Has the listening socket a connection in its queue right now? */
static bool listener_has_waiting(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc;

    do
        rc = poll(&p, 1, 0);
    while (rc < 0 && errno == EINTR);
    return rc > 0 && (p.revents & POLLIN);
}

/*
 * A stream program that exits leaving a connection in the queue never
 * accepted (a nowait program set up as wait): after a few such exits the
 * listener rests (wait_guard.h) instead of starting the program in a loop.
 * Returns the rest in ms, 0 for none.
 */
static int wait_loop_backoff(struct bound *b, const char *name)
{
    bool waiting;
    int ms;

    if (addr_kind_socktype(b->l.kind) != SOCK_STREAM)
        return 0; /* datagram programs: their rate bounds them */
    waiting = listener_has_waiting(b->l.fd);
    ms = wait_guard_exit(&b->wait_guard, ev_now(b->srv->loop), waiting);
    if (ms > 0)
        log_warnx("service=%s looping: the program exits without accepting; %s rests %d s", name,
                  b->l.name, ms / 1000);
    return ms;
}

/* wait = yes: the child that had the listener has exited; it is ours again. */
static void on_wait_done(void *arg, const char *name)
{
    struct bound *b = arg;
    int rest_ms;

    b->holder = NULL;
    if (fd_set_nonblock(b->l.fd) < 0)
        log_warn("%s: unable to make it non-blocking again", b->l.name);
    if (b->srv->stopping)
        return;
    rest_ms = wait_loop_backoff(b, name);
    if (rest_ms > 0)
        server_pause(b, rest_ms);
    else if (ev_io_set(b->srv->loop, b->l.fd, EV_READ) < 0)
        log_warn("service=%s: unable to watch %s again", name, b->l.name);
}

/* wait = yes: the listener is ready; a child takes it and does the rest. */
static void on_wait_ready(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct bound *b = arg;

    (void)loop, (void)fd, (void)events;
    /* Over the rate: the program waits its turn (nobody to refuse: it accepts itself). */
    if (!svc_admit_waiting(b->svc)) {
        server_pause(b, (int)(b->svc->conf->rate.period_ms / b->svc->conf->rate.count) + 1);
        return;
    }
    b->holder = spawn_waiting(&b->srv->spawn, b->svc, b->l.fd, b->l.kind, on_wait_done, b);
    if (b->holder == NULL) {
        pause_accepting(b, errno); /* do not spin on a socket no child could take */
        return;
    }
    /* Until this child exits, the listener is its business, not ours. */
    ev_io_set(loop, b->l.fd, 0);
}

/* Listeners */

bool server_serves(enum role role, unsigned workers, const struct svc_conf *sc, bool own_pool)
{
    if (sc->model == MODEL_PREFORK)
        return role == ROLE_POOL && own_pool;
    if (sc->exec != NULL && sc->exec->wait)
        return role == ROLE_MAIN;
    return role == ROLE_WORKER || (role == ROLE_MAIN && workers <= 1);
}

/* Does a process in `role` (a pool's: of pool_of) serve `svc`? */
static bool serves(const struct server *srv, enum role role, const struct svc_state *pool_of,
                   const struct svc *svc)
{
    return server_serves(role, srv->set.conf->workers, svc->conf, svc->st == pool_of);
}

/* Register `b` in the loop if this process serves it. */
static int watch(struct server *srv, struct bound *b)
{
    const struct exec_conf *ex = b->svc->conf->exec;
    ev_io_fn *fn = addr_kind_socktype(b->l.kind) == SOCK_STREAM ? on_accept : on_dgram;
    /* wait = yes: while its program holds the socket, registered but not armed. */
    unsigned events = b->holder != NULL ? 0 : EV_READ;

    if (ex != NULL && ex->wait)
        fn = on_wait_ready;
    if (b->watched || !serves(srv, srv->role, srv->pool_of, b->svc))
        return 0;
    /* Several processes may watch one listener: wake one of them per connection. */
    if (ev_io_add(srv->loop, b->l.fd, events | EV_EXCLUSIVE, fn, b) < 0)
        return -1;
    b->watched = true;
    return 0;
}

static void unwatch(struct server *srv, struct bound *b)
{
    if (b->watched)
        ev_io_del(srv->loop, b->l.fd);
    b->watched = false;
}

/* Pause or resume every listener this process serves. */
static void watch_all(struct server *srv, unsigned events)
{
    for (size_t i = 0; i < srv->nbound; i++)
        if (srv->bound[i]->watched && !srv->bound[i]->paused)
            ev_io_set(srv->loop, srv->bound[i]->l.fd, events);
}

static void close_bound(struct server *srv, struct bound *b)
{
    if (b->holder != NULL)
        spawn_unhook(b->holder);
    b->holder = NULL;
    if (b->l.fd >= 0) {
        unwatch(srv, b);
        ev_timer_stop(srv->loop, &b->resume_timer);
        listener_close(&b->l);
    }
    free(b);
}

static void close_listeners(struct server *srv)
{
    for (size_t i = 0; i < srv->nbound; i++)
        close_bound(srv, srv->bound[i]);
    srv->nbound = 0;
}

static bool missing_family(int err)
{
    return err == EADDRNOTAVAIL || err == EAFNOSUPPORT;
}

/*
 * Open the listener of `cl`.  Returns the new bound (not yet watched), NULL
 * with err, or NULL with err empty when an optional address was skipped.
 */
static struct bound *open_bound(struct server *srv, struct svc *svc, const struct conf_listen *cl,
                                struct inherited *inh, char *err, size_t errlen)
{
    struct listener_perms perms = listener_perms_of(svc->conf);
    struct bound *b = calloc(1, sizeof(*b));

    err[0] = '\0';
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->svc = svc;
    b->srv = srv;
    b->addr = cl->addr;
    ev_timer_init(&b->resume_timer, on_resume, b);
    if (listener_adopt_inherited(inh, &cl->addr, svc->conf->name, &b->l) > 0) {
        listener_tune(&b->l, b->svc->conf);
        return b;
    }
    if (listener_open(&b->l, &cl->addr, svc->conf->backlog, &perms, err, errlen) < 0) {
        if (cl->optional && missing_family(errno)) {
            log_warnx("%s; skipped (no IPv6 here)", err);
            err[0] = '\0';
        }
        free(b);
        return NULL;
    }
    listener_tune(&b->l, b->svc->conf);
    return b;
}

static int add_bound(struct server *srv, struct bound *b)
{
    struct bound **grown = realloc(srv->bound, (srv->nbound + 1) * sizeof(*grown));

    if (grown == NULL)
        return -1;
    srv->bound = grown;
    srv->bound[srv->nbound++] = b;
    return 0;
}

/* The loop rule's ports: every UDP listener's. */
static int guard_ports(struct server *srv)
{
    if (dgram_guard_reset_ports(&srv->guard, srv->nbound) < 0)
        return -1;
    for (size_t i = 0; i < srv->nbound; i++) {
        const struct bound *b = srv->bound[i];
        if (b->l.kind == ADDR_UDP)
            dgram_guard_add_port(&srv->guard, addr_port((const struct sockaddr *)&b->l.bound));
    }
    return 0;
}

/* The TLS of each of svcs[0..n) that has any, into tls[] (n entries).  -1 with err. */
static int load_tls(struct svc **svcs, size_t n, struct tls_ctx **tls, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct svc_conf *sc = svcs[i]->conf;
        if (sc->tls != NULL && (tls[i] = tls_ctx_load(sc->tls, sc->name, err, errlen)) == NULL)
            return -1;
    }
    return 0;
}

static void free_tls(struct tls_ctx **tls, size_t n)
{
    for (size_t i = 0; tls != NULL && i < n; i++)
        tls_ctx_free(tls[i]);
    free(tls);
}

/* A listener's TLS: its service's, if the address is tls://. */
static void set_bound_tls(struct bound *b, bool tls, struct tls_ctx *ctx)
{
    listener_set_tls(&b->l, tls);
    b->tls = tls ? ctx : NULL;
}

static void log_listening(const struct bound *b)
{
    log_info("listening service=%s addr=%s", b->svc->conf->name, b->l.name);
}

int server_start(struct server *srv, struct ev_loop *loop, struct conf *conf,
                 struct metrics *metrics, struct inherited *inh, char *err, size_t errlen)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    ev_timer_init(&srv->stop_timer, NULL, srv);
    if (svc_set_init(&srv->set, loop, conf, metrics) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    srv->set.on_end = on_svc_end;
    srv->set.on_end_arg = srv;
    spawn_set_init(&srv->spawn, loop, &srv->reaper);
    if ((srv->tls = calloc(conf->nsvcs + 1, sizeof(*srv->tls))) == NULL)
        goto nomem;
    for (size_t i = 0; i < conf->nsvcs; i++) {
        struct svc *svc = svc_new(&srv->set, conf, &conf->svcs[i]);
        if (svc == NULL)
            goto nomem;
        srv->set.svcs[srv->set.nsvcs++] = svc;
        if (load_tls(&svc, 1, &srv->tls[i], err, errlen) < 0)
            goto fail;
        for (size_t j = 0; j < svc->conf->nlistens; j++) {
            struct bound *b = open_bound(srv, svc, &svc->conf->listens[j], inh, err, errlen);
            if (b == NULL && err[0] != '\0')
                goto fail;
            if (b == NULL)
                continue;
            set_bound_tls(b, svc->conf->listens[j].addr.tls, srv->tls[i]);
            if (add_bound(srv, b) < 0) {
                close_bound(srv, b);
                goto nomem;
            }
            if (watch(srv, b) < 0) {
                snprintf(err, errlen, "unable to watch %s: %s", b->l.name, strerror(errno));
                goto fail;
            }
            log_listening(b);
        }
    }
    if (listener_unmatched(inh, err, errlen) < 0)
        goto fail;
    svc_set_publish(&srv->set);
    if (guard_ports(srv) < 0)
        goto nomem;
    dgram_guard_learn(&srv->guard);
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    server_free(srv);
    return -1;
}

/* Reload */

/* A reload being applied: what it has made so far. */
struct reload {
    struct svc **svcs; /* new generation, one per service of the new conf */
    size_t nsvcs;
    struct tls_ctx **tls;    /* per new svc: its TLS, read now */
    struct bound **bound;    /* new listener set: kept ones and fresh ones */
    struct svc **owner;      /* the new svc each one serves */
    struct tls_ctx **tls_of; /* the TLS each one gets */
    bool *is_tls;            /* each one's address is tls:// */
    bool *fresh;             /* bound[i] was opened by this reload */
    size_t nbound;
    struct bound **closing; /* the listeners in force that the plan closes */
    size_t nclosing;
    unsigned opened;
};

static void reload_abort(struct server *srv, struct reload *r)
{
    for (size_t i = 0; i < r->nbound; i++)
        if (r->fresh[i])
            close_bound(srv, r->bound[i]);
    free_svcs(r->svcs, r->nsvcs);
    free_tls(r->tls, r->nsvcs);
    free(r->bound);
    free(r->owner);
    free(r->tls_of);
    free(r->is_tls);
    free(r->fresh);
    free(r->closing);
}

/* The plan, from what each listener in force was configured as and serves. */
static int plan(const struct server *srv, const struct conf *conf, struct reload_plan *p)
{
    struct reload_have *have = calloc(srv->nbound + 1, sizeof(*have));
    int rc;

    if (have == NULL)
        return -1;
    for (size_t i = 0; i < srv->nbound; i++)
        have[i] = (struct reload_have){&srv->bound[i]->addr, srv->bound[i]->svc->conf->name};
    rc = reload_plan(have, srv->nbound, conf, p);
    free(have);
    return rc;
}

/* The new svcs, and the plan's listeners: kept, or bound now (nothing else changes yet). */
static int reload_prepare(struct server *srv, struct conf *conf, const struct reload_plan *p,
                          struct reload *r, char *err, size_t errlen)
{
    r->svcs = calloc(conf->nsvcs + 1, sizeof(*r->svcs));
    r->bound = calloc(p->nsteps + 1, sizeof(*r->bound));
    r->owner = calloc(p->nsteps + 1, sizeof(*r->owner));
    r->fresh = calloc(p->nsteps + 1, sizeof(*r->fresh));
    r->closing = calloc(srv->nbound + 1, sizeof(*r->closing));
    r->tls = calloc(conf->nsvcs + 1, sizeof(*r->tls));
    r->tls_of = calloc(p->nsteps + 1, sizeof(*r->tls_of));
    r->is_tls = calloc(p->nsteps + 1, sizeof(*r->is_tls));
    if (r->svcs == NULL || r->bound == NULL || r->owner == NULL || r->fresh == NULL ||
        r->closing == NULL || r->tls == NULL || r->tls_of == NULL || r->is_tls == NULL)
        goto nomem;
    for (size_t i = 0; i < srv->nbound; i++)
        if (p->close[i])
            r->closing[r->nclosing++] = srv->bound[i];
    for (size_t i = 0; i < conf->nsvcs; i++)
        if ((r->svcs[r->nsvcs++] = svc_new(&srv->set, conf, &conf->svcs[i])) == NULL)
            goto nomem;
    /* Certificates and keys are read again, changed or not: before anything is bound. */
    if (load_tls(r->svcs, r->nsvcs, r->tls, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct reload_step *st = &p->steps[i];
        struct svc *svc = r->svcs[st->svc];
        struct bound *b;
        if (st->keep != RELOAD_OPEN)
            b = srv->bound[st->keep];
        else if ((b = open_bound(srv, svc, &svc->conf->listens[st->listen], NULL, err, errlen)) ==
                 NULL) {
            if (err[0] != '\0')
                return -1;
            continue; /* an optional address this host has no family for */
        }
        r->fresh[r->nbound] = st->keep == RELOAD_OPEN;
        r->owner[r->nbound] = svc;
        r->tls_of[r->nbound] = r->tls[st->svc];
        r->is_tls[r->nbound] = svc->conf->listens[st->listen].addr.tls;
        r->bound[r->nbound++] = b;
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Re-apply what may have changed on a kept listener. */
static void refresh_kept(struct bound *b)
{
    const struct svc_conf *sc = b->svc->conf;
    struct listener_perms perms = listener_perms_of(sc);

    if (addr_kind_socktype(b->l.kind) == SOCK_STREAM && listen(b->l.fd, sc->backlog) < 0)
        log_warn("%s: unable to change the backlog", b->l.name);
    listener_tune(&b->l, sc);
    if (listener_set_perms(&b->l, &perms) < 0)
        log_warn("%s: unable to change the socket file's mode, owner or group", b->l.name);
}

static void rewatch_kept(struct server *srv, struct bound *b)
{
    refresh_kept(b);
    /* The service's model may have changed who serves this listener. */
    ev_timer_stop(srv->loop, &b->resume_timer);
    b->paused = false;
    unwatch(srv, b);
    if (watch(srv, b) < 0)
        log_warn("unable to watch %s", b->l.name);
}

/* Does the reload `r` serve any service with other certificates or keys than before? */
static bool tls_differs(const struct server *srv, const struct reload *r)
{
    for (size_t i = 0; i < r->nsvcs; i++) {
        const struct svc *old = svc_find(&srv->set, r->svcs[i]->conf->name);
        struct tls_ctx *was = NULL;
        for (size_t j = 0; old != NULL && j < srv->set.nsvcs; j++)
            if (srv->set.svcs[j] == old)
                was = srv->tls[j];
        if (r->tls[i] != NULL && !tls_ctx_same(r->tls[i], was))
            return true;
    }
    return false;
}

static int reload_commit(struct server *srv, struct conf *conf, struct reload *r, char *err,
                         size_t errlen)
{
    /* Watch the fresh listeners first: if one cannot be, nothing has changed yet. */
    for (size_t i = 0; i < r->nbound; i++) {
        if (r->fresh[i] && watch(srv, r->bound[i]) < 0) {
            snprintf(err, errlen, "unable to watch %s: %s", r->bound[i]->l.name, strerror(errno));
            for (size_t j = 0; j < i; j++)
                if (r->fresh[j])
                    ev_io_del(srv->loop, r->bound[j]->l.fd);
            return -1;
        }
    }
    for (size_t i = 0; i < r->nclosing; i++) {
        log_info("closed service=%s addr=%s", r->closing[i]->svc->conf->name,
                 r->closing[i]->l.name);
        close_bound(srv, r->closing[i]);
    }
    for (size_t i = 0; i < r->nbound; i++) {
        r->bound[i]->svc = r->owner[i];
        set_bound_tls(r->bound[i], r->is_tls[i], r->tls_of[i]);
        if (r->fresh[i]) {
            log_listening(r->bound[i]);
            r->opened++;
        } else
            rewatch_kept(srv, r->bound[i]);
    }
    srv->tls_changed = tls_differs(srv, r);
    free_tls(srv->tls, srv->set.nsvcs);
    srv->tls = r->tls;
    svc_set_replace(&srv->set, conf, r->svcs, r->nsvcs);
    free(srv->bound);
    free(r->fresh);
    free(r->owner);
    free(r->tls_of);
    free(r->is_tls);
    free(r->closing);
    srv->bound = r->bound;
    srv->nbound = r->nbound;
    return 0;
}

int server_reload(struct server *srv, struct conf *conf, char *msg, size_t msglen)
{
    struct reload r;
    struct reload_plan p;
    struct conf *old;

    /* The plan first, apart from r: nothing is opened or changed before it is made. */
    if (plan(srv, conf, &p) < 0) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    memset(&r, 0, sizeof(r));
    old = conf_ref(srv->set.conf);
    if (reload_prepare(srv, conf, &p, &r, msg, msglen) < 0 ||
        reload_commit(srv, conf, &r, msg, msglen) < 0) {
        reload_abort(srv, &r);
        reload_plan_free(&p);
        conf_unref(old);
        return -1;
    }
    if (guard_ports(srv) < 0)
        log_warnx("out of memory: the UDP loop rule may miss a port");
    dgram_guard_learn(&srv->guard);
    reload_summary(old, conf, p.kept, r.opened, p.to_close, msg, msglen);
    log_info("%s", msg);
    reload_plan_free(&p);
    conf_unref(old);
    return 0;
}

/* Stop */

static void close_all_connections(struct server *srv)
{
    proxy_in_close_all(&srv->proxies, "shutdown");
    handshake_close_all(&srv->handshakes, "shutdown");
    forward_close_all(&srv->forwards, "shutdown");
    stream_close_all(&srv->streams, "shutdown");
}

/* The last step of a stop: whatever outlived SIGTERM gets SIGKILL. */
static void on_stop_kill(struct ev_loop *loop, struct ev_timer *t)
{
    struct server *srv = t->arg;
    unsigned left = waited_children(srv) + srv->nworkers;

    if (left > 0 && !srv->killing) {
        log_warnx("stopping: %u processes still running: SIGKILL", left);
        spawn_signal_all(&srv->spawn, SIGKILL);
        signal_conns(srv, SIGKILL);
        signal_workers(srv, SIGKILL);
        srv->killing = true;
        ev_timer_start(loop, t, grace_ms(STOP_KILL_MS));
        return;
    }
    if (left > 0)
        log_warnx("stopping: %u processes would not go; leaving them", left);
    ev_break(loop);
}

/*
 * Connections closed now, children told to go with `sig`; workers, which
 * had SIGTERM at the start of the stop, get it again (stop at once).  The
 * loop ends when all are gone, SIGKILL coming STOP_KILL_MS later.
 */
static void end_everything(struct server *srv, int sig)
{
    close_all_connections(srv);
    if (waited_children(srv) == 0 && srv->nworkers == 0) {
        ev_break(srv->loop);
        return;
    }
    log_info("stopping: %s to %u children, SIGTERM to %u workers",
             sig == SIGKILL ? "SIGKILL" : "SIGTERM", waited_children(srv), srv->nworkers);
    spawn_signal_all(&srv->spawn, sig);
    signal_conns(srv, sig);
    signal_workers(srv, SIGTERM);
    srv->killing = false;
    srv->stop_timer.fn = on_stop_kill;
    ev_timer_start(srv->loop, &srv->stop_timer, grace_ms(STOP_KILL_MS));
}

static void on_stop_deadline(struct ev_loop *loop, struct ev_timer *t)
{
    struct server *srv = t->arg;

    (void)loop;
    log_info("shutdown_timeout reached: closing %u connections", srv->set.nconns);
    end_everything(srv, SIGTERM);
}

void server_stop(struct server *srv, bool now)
{
    spawn_leave(&srv->spawn); /* on_stop = leave: neither waited for nor signalled */
    if (srv->stopping || now) {
        if (srv->stopping && srv->role == ROLE_MAIN)
            log_info("stopping now: closing %u connections", srv->set.nconns);
        srv->stopping = true;
        close_listeners(srv);
        ev_timer_stop(srv->loop, &srv->stop_timer);
        end_everything(srv, SIGKILL);
        return;
    }
    srv->stopping = true;
    close_listeners(srv);
    /* Workers stop as we do: their listeners first, their connections given time. */
    signal_workers(srv, SIGTERM);
    if (all_gone(srv)) {
        if (srv->role == ROLE_MAIN)
            log_info("stopping: no connections open");
        ev_break(srv->loop);
        return;
    }
    if (srv->role == ROLE_MAIN)
        log_info("stopping: listeners closed, waiting up to %lld ms for %u connections%s",
                 (long long)srv->set.conf->shutdown_timeout_ms,
                 srv->set.nconns + waited_children(srv), srv->nworkers ? " and the workers" : "");
    else
        log_debug("stopping: waiting up to %lld ms for %u connections",
                  (long long)srv->set.conf->shutdown_timeout_ms,
                  srv->set.nconns + waited_children(srv));
    srv->stop_timer.fn = on_stop_deadline;
    ev_timer_start(srv->loop, &srv->stop_timer, srv->set.conf->shutdown_timeout_ms);
}

/* Forked processes */

void server_retire(struct server *srv)
{
    if (srv->stopping || srv->retiring)
        return;
    srv->retiring = true;
    /*
     * A last look at the listeners still armed: a connection whose wake-up
     * came to this process (EPOLLEXCLUSIVE wakes one) is served here, not
     * left in the queue with nobody told of it.
     */
    for (size_t i = 0; i < srv->nbound; i++) {
        struct bound *b = srv->bound[i];
        if (!b->watched || b->paused || ev_io_events(srv->loop, b->l.fd) == 0)
            continue;
        if (addr_kind_socktype(b->l.kind) == SOCK_STREAM)
            on_accept(srv->loop, b->l.fd, EV_READ, b);
        else
            on_dgram(srv->loop, b->l.fd, EV_READ, b);
    }
    close_listeners(srv);
    log_debug("retiring: listeners closed, %u connections and %u children left", srv->set.nconns,
              srv->set.nchildren);
    server_check_stopped(srv);
}

size_t server_served_fds(const struct server *srv, enum role role, const struct svc_state *pool_of,
                         int *fds, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < srv->nbound && n < max; i++)
        if (srv->bound[i]->l.fd >= 0 && serves(srv, role, pool_of, srv->bound[i]->svc))
            fds[n++] = srv->bound[i]->l.fd;
    return n;
}

/* What a child must not keep from its parent: counts, buckets, connections. */
static void forget_parent(struct server *srv, struct ev_loop *loop)
{
    svc_set_forget(&srv->set, loop);
    srv->streams.head = NULL; /* the parent's connections */
    handshake_forget(&srv->handshakes);
    proxy_in_forget(&srv->proxies);
    forward_forget(&srv->forwards);
    spawn_set_forget(&srv->spawn, loop);
    reaper_forget(&srv->reaper);
    srv->nworkers = 0;
    srv->stopping = srv->retiring = srv->killing = false;
}

void server_rebase(struct server *srv, struct ev_loop *loop, enum role role,
                   const struct svc_state *pool_of, unsigned worker_index)
{
    size_t kept = 0;

    srv->loop = loop;
    srv->role = role;
    srv->pool_of = pool_of;
    srv->worker_index = worker_index;
    srv->max_in_flight = role == ROLE_POOL ? 1 : 0;
    ev_timer_init(&srv->stop_timer, NULL, srv);
    forget_parent(srv, loop);
    for (size_t i = 0; i < srv->nbound; i++) {
        struct bound *b = srv->bound[i];
        bool mine = serves(srv, role, pool_of, b->svc);
        b->paused = b->watched = false;
        b->holder = NULL;
        b->l.owns_path = false; /* the socket file is the parent's to remove */
        ev_timer_init(&b->resume_timer, on_resume, b);
        if (!mine) {
            b->l.fd = -1; /* closed by the caller; the struct is the parent's memory */
            continue;
        }
        srv->bound[kept++] = b;
        if (watch(srv, b) < 0)
            log_warn("unable to watch %s", b->l.name);
    }
    srv->nbound = kept;
}

void server_log_stats(struct server *srv)
{
    const struct metrics *m = srv->set.metrics;

    /* The counters are the whole daemon's: one line per service, whichever process logs them. */
    for (size_t i = 0; i < srv->set.nsvcs; i++)
        svc_log_stats(srv->set.svcs[i]);
    log_info("stats log_lines_lost=%llu",
             m != NULL ? (unsigned long long)metrics_read(&m->log_lines_dropped)
                       : (unsigned long long)log_lines_lost());
}

size_t server_listening(const struct server *srv, int *fds, const char **names, bool *owned,
                        size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < srv->nbound && n < max; i++, n++) {
        fds[n] = srv->bound[i]->l.fd;
        names[n] = srv->bound[i]->svc->conf->name;
        owned[n] = listener_owns_path(&srv->bound[i]->l);
    }
    return n;
}

void server_own_paths(struct server *srv, const int *fds, size_t n)
{
    for (size_t i = 0; i < srv->nbound; i++)
        for (size_t j = 0; j < n; j++)
            if (srv->bound[i]->l.fd == fds[j])
                listener_own_path(&srv->bound[i]->l);
}

void server_hand_over(struct server *srv)
{
    for (size_t i = 0; i < srv->nbound; i++)
        listener_disown(&srv->bound[i]->l);
}

void server_stats_table(struct server *srv, struct strbuf *b)
{
    const struct metrics *m = srv->set.metrics;
    int width = (int)strlen("service");

    for (size_t i = 0; i < srv->set.nsvcs; i++) {
        int len = (int)strlen(srv->set.svcs[i]->conf->name);
        width = len > width ? len : width;
    }
    strbuf_printf(b, "%-*s %9s %11s %9s %12s %12s %10s %10s %14s %8s %8s %10s\n", width, "service",
                  "conns_now", "conns_total", "refused", "bytes_in", "bytes_out", "dgrams_in",
                  "dgrams_out", "dgrams_dropped", "children", "tls_ok", "tls_failed");
    for (size_t i = 0; i < srv->set.nsvcs; i++) {
        struct svc_stats st;
        if (!svc_stats_read(srv->set.svcs[i], &st))
            continue;
        strbuf_printf(b, "%-*s %9lld %11llu %9llu %12llu %12llu %10llu %10llu %14llu %8lld", width,
                      srv->set.svcs[i]->conf->name, (long long)st.conns_now,
                      (unsigned long long)st.conns_total, (unsigned long long)st.refused,
                      (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
                      (unsigned long long)st.dgrams_in, (unsigned long long)st.dgrams_out,
                      (unsigned long long)st.dgrams_dropped, (long long)st.children);
        if (st.tls)
            strbuf_printf(b, " %8llu %10llu\n", (unsigned long long)st.tls_ok,
                          (unsigned long long)st.tls_failed);
        else
            strbuf_printf(b, " %8s %10s\n", "-", "-");
    }
    strbuf_printf(b, "log_lines_lost %llu\n",
                  m != NULL ? (unsigned long long)metrics_read(&m->log_lines_dropped)
                            : (unsigned long long)log_lines_lost());
}

void server_free(struct server *srv)
{
    close_all_connections(srv);
    close_listeners(srv);
    /* The children's records use the loop: before the caller lets it go. */
    spawn_set_free(&srv->spawn);
    reaper_free(&srv->reaper);
    if (srv->loop != NULL)
        ev_timer_stop(srv->loop, &srv->stop_timer);
    dgram_guard_free(&srv->guard);
    free_tls(srv->tls, srv->set.nsvcs);
    svc_set_free(&srv->set);
    free(srv->bound);
    memset(srv, 0, sizeof(*srv));
}

unsigned long server_give_back(struct server *srv, struct limit_holds *holds)
{
    return svc_give_back(&srv->set, holds);
}
