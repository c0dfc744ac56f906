/*
 * service: the running daemon's services, listeners and connections
 * (see service.h).
 *
 * A reload is mark and sweep, in two phases so that it is all or nothing:
 * prepare (new svcs; for each new address, the listener that already has it
 * or a freshly bound one) and, only if every bind worked, commit (point the
 * kept listeners at the new svcs, close the ones no longer wanted, retire
 * the old svcs).
 */
#include "service.h"

#include "builtin.h"
#include "stream.h"
#include "dgram.h"
#include "log.h"
#include "procs.h"
#include "spawn.h"
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

/* Connections */

static void watch_all(struct server *srv, unsigned events);

/* Is the stop complete: nothing left of ours running? */
static bool all_gone(const struct server *srv)
{
    return srv->set.nconns == 0 && srv->set.nchildren == 0 && srv->nworkers == 0;
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

/* Accepted but over a limit: closed at once, and noted. */
static void refuse(struct bound *b, struct accepted *a, enum refusal r)
{
    char text[ADDR_TEXT_MAX] = "";

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

static void on_accept(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct bound *b = arg;
    struct server *srv = b->srv;

    (void)loop, (void)fd, (void)events;
    for (int i = 0; i < ACCEPT_BATCH && !b->paused; i++) {
        struct accepted a = {.kind = b->l.kind};
        enum refusal r;
        a.fd = listener_accept(&b->l, b->svc->conf->exec != NULL, &a.peer, &a.peer_len);
        if (a.fd < 0) {
            if (errno == EAGAIN || accept_error_is_transient(errno))
                break;
            pause_accepting(b, errno);
            break;
        }
        r = svc_admit(b->svc, (const struct sockaddr *)&a.peer, true, &a.key);
        if (r != ADMITTED)
            refuse(b, &a, r);
        else if (b->svc->conf->exec != NULL)
            spawn_connection(&srv->spawn, b->svc, &a);
        else if (b->svc->conf->model == MODEL_FORK)
            procs_fork_connection(srv, b->svc, &a);
        else
            stream_start(&srv->streams, b->svc, &a);
        if (srv->max_in_flight && in_flight(srv) >= srv->max_in_flight) {
            watch_all(srv, 0); /* busy: the other processes of the pool take the next */
            break;
        }
    }
}

/* A datagram listener is readable: the engine takes it with the loop rule's tables. */
static void on_dgram(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct bound *b = arg;

    (void)loop, (void)fd, (void)events;
    dgram_serve(&b->l, b->svc, &b->srv->guard);
}

/* wait = yes: the child that had the listener has exited; it is ours again. */
static void on_wait_done(void *arg, const char *name)
{
    struct bound *b = arg;

    b->holder = NULL;
    if (fd_set_nonblock(b->l.fd) < 0)
        log_warn("%s: unable to make it non-blocking again", b->l.name);
    if (!b->srv->stopping && ev_io_set(b->srv->loop, b->l.fd, EV_READ) < 0)
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

/* Does a process in `role` serve the listener `b`? */
static bool serves(const struct server *srv, enum role role, const struct svc_state *pool_of,
                   const struct bound *b)
{
    const struct svc_conf *sc = b->svc->conf;

    if (sc->model == MODEL_PREFORK)
        return role == ROLE_POOL && b->svc->st == pool_of;
    if (sc->exec != NULL && sc->exec->wait)
        return role == ROLE_MAIN;
    return role == ROLE_WORKER || (role == ROLE_MAIN && srv->set.conf->workers <= 1);
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
    if (b->watched || !serves(srv, srv->role, srv->pool_of, b))
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
 * Options every accepted TCP connection should have, set once on the
 * listener: Linux's accepted sockets inherit them, which saves three
 * system calls per connection.  Keepalive, so connections from crashed or
 * rebooted hosts end; no Nagle delay for builtins' replies (a program's
 * socket is left as a program expects it).
 */
static void tune_listener(const struct bound *b)
{
    const struct svc_conf *sc = b->svc->conf;
    int on = sc->keepalive_ms > 0, idle_s = (int)(sc->keepalive_ms / 1000);
    int nodelay = sc->exec == NULL;

    if (b->l.kind != ADDR_TCP)
        return;
    if (setsockopt(b->l.fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) < 0 ||
        (on && setsockopt(b->l.fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s)) < 0) ||
        setsockopt(b->l.fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay)) < 0)
        log_warn("%s: unable to set keepalive and TCP_NODELAY", b->l.name);
}

static struct listener_perms perms_of(const struct svc_conf *sc)
{
    struct listener_perms perms = {
        .mode = sc->sock_mode,
        .owner_set = sc->sock_owner_set,
        .group_set = sc->sock_group_set,
        .owner = sc->sock_owner,
        .group = sc->sock_group,
    };
    return perms;
}

/* An inherited socket for `cl`, if systemd passed one. */
static int adopt(struct inherited *inh, const struct conf_listen *cl, struct listener *l)
{
    for (int i = 0; inh != NULL && i < inh->n; i++) {
        struct listener cand;
        if (inh->fds[i] < 0 || listener_adopt(&cand, inh->fds[i]) < 0)
            continue;
        if (!listener_matches(&cand, &cl->addr))
            continue;
        *l = cand;
        inh->fds[i] = -1;
        return 1;
    }
    return 0;
}

/*
 * Open the listener of `cl`.  Returns the new bound (not yet watched), NULL
 * with err, or NULL with err empty when an optional address was skipped.
 */
static struct bound *open_bound(struct server *srv, struct svc *svc, const struct conf_listen *cl,
                                struct inherited *inh, char *err, size_t errlen)
{
    struct listener_perms perms = perms_of(svc->conf);
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
    if (adopt(inh, cl, &b->l) > 0) {
        tune_listener(b);
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
    tune_listener(b);
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

static int unmatched_inherited(const struct inherited *inh, char *err, size_t errlen)
{
    size_t len = 0;

    err[0] = '\0';
    for (int i = 0; inh != NULL && i < inh->n; i++) {
        struct listener l;
        if (inh->fds[i] < 0)
            continue;
        if (len == 0)
            len += (size_t)snprintf(err, errlen, "inherited sockets match no listen address:");
        if (len < errlen && listener_adopt(&l, inh->fds[i]) == 0)
            len += (size_t)snprintf(err + len, errlen - len, " fd %d %s%s%s", inh->fds[i], l.name,
                                    inh->names && inh->names[i] ? " name=" : "",
                                    inh->names && inh->names[i] ? inh->names[i] : "");
        else if (len < errlen)
            len += (size_t)snprintf(err + len, errlen - len, " fd %d (not a socket we serve)",
                                    inh->fds[i]);
    }
    return len > 0 ? -1 : 0;
}

static void log_listening(const struct bound *b)
{
    log_info("listening service=%s addr=%s", b->svc->conf->name, b->l.name);
}

int server_start(struct server *srv, struct ev_loop *loop, struct conf *conf, struct inherited *inh,
                 char *err, size_t errlen)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    ev_timer_init(&srv->stop_timer, NULL, srv);
    if (svc_set_init(&srv->set, loop, conf) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    srv->set.on_end = on_svc_end;
    srv->set.on_end_arg = srv;
    spawn_set_init(&srv->spawn, loop, &srv->reaper);
    for (size_t i = 0; i < conf->nsvcs; i++) {
        struct svc *svc = svc_new(&srv->set, conf, &conf->svcs[i]);
        if (svc == NULL)
            goto nomem;
        srv->set.svcs[srv->set.nsvcs++] = svc;
        for (size_t j = 0; j < svc->conf->nlistens; j++) {
            struct bound *b = open_bound(srv, svc, &svc->conf->listens[j], inh, err, errlen);
            if (b == NULL && err[0] != '\0')
                goto fail;
            if (b == NULL)
                continue;
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
    if (unmatched_inherited(inh, err, errlen) < 0)
        goto fail;
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

/* The plan of a reload, built before anything changes. */
struct reload {
    struct svc **svcs; /* new generation, one per service of the new conf */
    size_t nsvcs;
    struct bound **bound; /* new listener set: kept ones and fresh ones */
    struct svc **owner;   /* the new svc each one serves */
    bool *fresh;          /* bound[i] was opened by this reload */
    size_t nbound;
    unsigned kept, opened, closed;
};

/*
 * The listener already serving address `a` for service `name`, if a
 * reload keeps it.  A port-0 address says nothing about which socket it
 * got: only the same service's is the same listener.
 */
static struct bound *find_bound(struct server *srv, const struct addr *a, const char *name,
                                const struct reload *r)
{
    bool any_port = addr_kind_is_inet(a->kind) && addr_port((const struct sockaddr *)&a->ss) == 0;

    for (size_t i = 0; i < srv->nbound; i++) {
        struct bound *b = srv->bound[i];
        bool taken = false;
        if (!addr_equal(&b->addr, a) || (any_port && strcmp(b->svc->conf->name, name) != 0))
            continue;
        for (size_t j = 0; j < r->nbound && !taken; j++)
            taken = r->bound[j] == b;
        if (!taken)
            return b;
    }
    return NULL;
}

static void reload_abort(struct server *srv, struct reload *r)
{
    for (size_t i = 0; i < r->nbound; i++)
        if (r->fresh[i])
            close_bound(srv, r->bound[i]);
    free_svcs(r->svcs, r->nsvcs);
    free(r->bound);
    free(r->owner);
    free(r->fresh);
}

static int reload_prepare(struct server *srv, struct conf *conf, struct reload *r, char *err,
                          size_t errlen)
{
    size_t total = 0;

    for (size_t i = 0; i < conf->nsvcs; i++)
        total += conf->svcs[i].nlistens;
    r->svcs = calloc(conf->nsvcs + 1, sizeof(*r->svcs));
    r->bound = calloc(total + 1, sizeof(*r->bound));
    r->owner = calloc(total + 1, sizeof(*r->owner));
    r->fresh = calloc(total + 1, sizeof(*r->fresh));
    if (r->svcs == NULL || r->bound == NULL || r->owner == NULL || r->fresh == NULL)
        goto nomem;
    for (size_t i = 0; i < conf->nsvcs; i++) {
        struct svc *svc = svc_new(&srv->set, conf, &conf->svcs[i]);
        if (svc == NULL)
            goto nomem;
        r->svcs[r->nsvcs++] = svc;
        for (size_t j = 0; j < svc->conf->nlistens; j++) {
            const struct conf_listen *cl = &svc->conf->listens[j];
            struct bound *b = find_bound(srv, &cl->addr, svc->conf->name, r);
            bool fresh = b == NULL;
            if (fresh && (b = open_bound(srv, svc, cl, NULL, err, errlen)) == NULL) {
                if (err[0] != '\0')
                    return -1;
                continue;
            }
            r->fresh[r->nbound] = fresh;
            r->owner[r->nbound] = svc;
            r->bound[r->nbound++] = b;
        }
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
    struct listener_perms perms = perms_of(sc);

    if (addr_kind_socktype(b->l.kind) == SOCK_STREAM && listen(b->l.fd, sc->backlog) < 0)
        log_warn("%s: unable to change the backlog", b->l.name);
    tune_listener(b);
    if (listener_set_perms(&b->l, &perms) < 0)
        log_warn("%s: unable to change the socket file's mode, owner or group", b->l.name);
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
    for (size_t i = 0; i < srv->nbound; i++) {
        bool kept = false;
        for (size_t j = 0; j < r->nbound && !kept; j++)
            kept = r->bound[j] == srv->bound[i];
        if (!kept) {
            log_info("closed service=%s addr=%s", srv->bound[i]->svc->conf->name,
                     srv->bound[i]->l.name);
            close_bound(srv, srv->bound[i]);
            r->closed++;
        }
    }
    for (size_t i = 0; i < r->nbound; i++) {
        r->bound[i]->svc = r->owner[i];
        if (r->fresh[i]) {
            log_listening(r->bound[i]);
            r->opened++;
        } else {
            refresh_kept(r->bound[i]);
            /* The service's model may have changed who serves this listener. */
            ev_timer_stop(srv->loop, &r->bound[i]->resume_timer);
            r->bound[i]->paused = false;
            unwatch(srv, r->bound[i]);
            if (watch(srv, r->bound[i]) < 0)
                log_warn("unable to watch %s", r->bound[i]->l.name);
            r->kept++;
        }
    }
    svc_set_replace(&srv->set, conf, r->svcs, r->nsvcs);
    free(srv->bound);
    free(r->fresh);
    free(r->owner);
    srv->bound = r->bound;
    srv->nbound = r->nbound;
    return 0;
}

/* "services: +new -gone ~changed" from the old and new definitions. */
static void log_reload_summary(const struct conf *old, const struct conf *conf,
                               const struct reload *r)
{
    unsigned added = 0, removed = 0, changed = 0;

    for (size_t i = 0; i < conf->nsvcs; i++) {
        const struct svc_conf *was = conf_find(old, conf->svcs[i].name);
        if (was == NULL)
            added++;
        else if (!conf_svc_equal(was, &conf->svcs[i]))
            changed++;
    }
    for (size_t i = 0; i < old->nsvcs; i++)
        if (conf_find(conf, old->svcs[i].name) == NULL)
            removed++;
    log_info("reloaded %s: services %zu (added %u, removed %u, changed %u); listeners kept %u, "
             "opened %u, closed %u",
             conf->path, conf->nsvcs, added, removed, changed, r->kept, r->opened, r->closed);
}

int server_reload(struct server *srv, struct conf *conf, char *err, size_t errlen)
{
    struct reload r;
    struct conf *old = conf_ref(srv->set.conf);

    memset(&r, 0, sizeof(r));
    if (reload_prepare(srv, conf, &r, err, errlen) < 0 ||
        reload_commit(srv, conf, &r, err, errlen) < 0) {
        reload_abort(srv, &r);
        conf_unref(old);
        return -1;
    }
    if (guard_ports(srv) < 0)
        log_warnx("out of memory: the UDP loop rule may miss a port");
    dgram_guard_learn(&srv->guard);
    log_reload_summary(old, conf, &r);
    conf_unref(old);
    return 0;
}

/* Stop */

static void close_all_connections(struct server *srv)
{
    stream_close_all(&srv->streams, "shutdown");
}

/* The last step of a stop: whatever outlived SIGTERM gets SIGKILL. */
static void on_stop_kill(struct ev_loop *loop, struct ev_timer *t)
{
    struct server *srv = t->arg;
    unsigned left = srv->set.nchildren + srv->nworkers;

    if (left > 0 && !srv->killing) {
        log_warnx("stopping: %u processes still running: SIGKILL", left);
        spawn_signal_all(&srv->spawn, SIGKILL);
        procs_signal_all(SIGKILL);
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
    if (srv->set.nchildren == 0 && srv->nworkers == 0) {
        ev_break(srv->loop);
        return;
    }
    log_info("stopping: %s to %u children, SIGTERM to %u workers",
             sig == SIGKILL ? "SIGKILL" : "SIGTERM", srv->set.nchildren, srv->nworkers);
    spawn_signal_all(&srv->spawn, sig);
    procs_signal_conns(sig);
    procs_signal_workers(SIGTERM);
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
    procs_signal_workers(SIGTERM);
    if (all_gone(srv)) {
        if (srv->role == ROLE_MAIN)
            log_info("stopping: no connections open");
        ev_break(srv->loop);
        return;
    }
    if (srv->role == ROLE_MAIN)
        log_info("stopping: listeners closed, waiting up to %lld ms for %u connections%s",
                 (long long)srv->set.conf->shutdown_timeout_ms,
                 srv->set.nconns + srv->set.nchildren, srv->nworkers ? " and the workers" : "");
    else
        log_debug("stopping: waiting up to %lld ms for %u connections",
                  (long long)srv->set.conf->shutdown_timeout_ms,
                  srv->set.nconns + srv->set.nchildren);
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
        if (srv->bound[i]->l.fd >= 0 && serves(srv, role, pool_of, srv->bound[i]))
            fds[n++] = srv->bound[i]->l.fd;
    return n;
}

/* What a child must not keep from its parent: counts, buckets, connections. */
static void forget_parent(struct server *srv, struct ev_loop *loop)
{
    svc_set_forget(&srv->set, loop);
    srv->streams.head = NULL; /* the parent's connections */
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
        bool mine = serves(srv, role, pool_of, b);
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

/* Does this process serve `svc` (so its counters mean something here)? */
static bool serves_service(const struct server *srv, const struct svc *svc)
{
    const struct svc_conf *sc = svc->conf;

    if (sc->model == MODEL_PREFORK)
        return srv->role == ROLE_POOL && svc->st == srv->pool_of;
    if (sc->exec != NULL && sc->exec->wait)
        return srv->role == ROLE_MAIN;
    return srv->role == ROLE_WORKER || (srv->role == ROLE_MAIN && srv->set.conf->workers <= 1);
}

void server_log_stats(struct server *srv)
{
    char tag[32] = "";

    if (srv->role == ROLE_MAIN)
        procs_signal_workers(SIGUSR1); /* each process counts its own */
    if (srv->role == ROLE_WORKER)
        snprintf(tag, sizeof(tag), "worker=%u ", srv->worker_index);
    else if (srv->role == ROLE_POOL)
        snprintf(tag, sizeof(tag), "prefork=%ld ", (long)getpid());
    for (size_t i = 0; i < srv->set.nsvcs; i++)
        if (serves_service(srv, srv->set.svcs[i]))
            svc_log_stats(srv->set.svcs[i], tag);
    /* Each process logs on its own, and loses its own lines. */
    log_info("stats %slog_lines_lost=%lu", tag, log_lines_lost());
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
    svc_set_free(&srv->set);
    free(srv->bound);
    memset(srv, 0, sizeof(*srv));
}

unsigned long server_give_back(struct server *srv, struct limit_holds *holds)
{
    return svc_give_back(&srv->set, holds);
}
