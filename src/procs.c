/*
 * procs: fork-per-connection, prefork pools and event workers (see procs.h).
 */
#include "procs.h"

#include "ev.h"
#include "limit.h"
#include "log.h"
#include "metrics.h"
#include "reaper.h"
#include "server.h"
#include "sig.h"
#include "stream.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define CRASH_WINDOW_MS  1000 /* a process dying younger than this is restarted after a pause */
#define RESPAWN_PAUSE_MS 1000
#define KEEP_FDS_MAX     60

/* Fork-model connection processes */

struct conn_proc {
    struct conn_proc *prev, *next;
    struct procs *pr;
    struct svc *svc;
    pid_t pid;
    struct limit_key key;
};

/* Pools: the event workers, or the processes of one prefork service */

struct pool {
    struct pool *next; /* newest first */
    struct procs *pr;
    struct server *srv;
    enum role role;
    struct svc_state *st; /* ROLE_POOL: the service */
    char svc_name[64];    /* ROLE_POOL: its name, what a reload looks it up by */
    struct conf *cf;      /* the configuration its processes were made from */
    char name[96];        /* "worker", "service=echo prefork process" */
    unsigned want;
    pid_t *pids; /* 0: an empty slot */
    int64_t *born;
    struct limit_holds **holds;    /* what each process holds in the shared limits */
    struct metrics_holds **mholds; /* and in the shared gauges */
    bool retiring; /* replaced by a reload: finishing its connections, not restarted */
    bool stopped;  /* retiring, and told to stop (PROCS_RETIRING_MAX passed) */
    struct ev_timer respawn;
};

/*
 * What every forked process does first: keep only `keep` (and 0-2), reset
 * signals, forget the parent's processes (its server forgets the rest in
 * server_rebase).
 */
static void become_child(struct procs *pr, const int *keep, size_t n)
{
    sig_reset_child();
    log_close();
    pr->conn_procs = NULL; /* the parent's records: its memory, its processes */
    pr->pools = NULL;
    limit_set_holds(NULL); /* the parent's record, not ours */
    if (fd_close_from(3, keep, n) < 0)
        _exit(111);
}

/* Once a second at most per service (`st`; NULL: the workers), errno saying why. */
static void warn_fork(struct procs *pr, struct svc_state *st, const char *what)
{
    struct log_ratelimit *rl = st != NULL ? &st->warn_rl[SVC_WARN_FORK] : &pr->worker_fork_rl;
    unsigned long suppressed;
    char note[48];
    int err = errno;

    if (log_ratelimit(rl, now_ms(), &suppressed))
        log_warnx("unable to fork %s: %s%s", what, strerror(err),
                  log_suppressed_note(note, sizeof(note), suppressed));
}

/* model = fork */

static void on_conn_signal(int signo, void *arg)
{
    struct server *srv = arg;

    /* The master's stop deadline: the connection ends, logged as such. */
    if (signo == SIGTERM || signo == SIGINT)
        server_stop(srv, true);
}

static void __attribute__((noreturn))
conn_main(struct procs *pr, struct svc *svc, const struct accepted *a)
{
    struct server *srv = pr->srv;
    static const int signals[] = {SIGTERM, SIGINT, 0};
    int keep[1] = {a->fd};
    struct accepted mine = *a;
    struct ev_loop *loop;

    become_child(pr, keep, 1);
    /* It counts into the shared counters itself; the gauges are its parent's. */
    metrics_mute_gauges();
    metrics_proc_self(srv->set.metrics, METRICS_ROLE_CONNECTION);
    if ((loop = ev_loop_new()) == NULL)
        _exit(111);
    server_rebase(srv, loop, ROLE_CONN, NULL, 0);
    srv->stopping = true; /* the loop ends with the connection */
    if (sig_init(loop, signals, on_conn_signal, srv) < 0)
        _exit(111);
    memset(&mine.key, 0, sizeof(mine.key)); /* the parent counts the address */
    mine.opened = false;                    /* and the parent's hold is the parent's */
    server_serve(srv, svc, &mine);          /* its TLS handshake, then its stream */
    if (srv->set.nconns > 0)
        ev_run(loop);
    metrics_proc_ending(srv->set.metrics);
    _exit(0);
}

static void unlink_conn_proc(struct conn_proc *cp)
{
    if (cp->prev != NULL)
        cp->prev->next = cp->next;
    else
        cp->pr->conn_procs = cp->next;
    if (cp->next != NULL)
        cp->next->prev = cp->prev;
}

static void on_conn_exit(pid_t pid, int status, void *arg)
{
    struct conn_proc *cp = arg;
    struct metrics *m = cp->svc->set->metrics;

    /* The process logged its own connection line, unless something killed it. */
    if (WIFSIGNALED(status)) {
        log_warnx("service=%s pid=%ld: connection process killed by signal %d", cp->svc->conf->name,
                  (long)pid, WTERMSIG(status));
        metrics_conns_of_dead(m, pid);
    }
    metrics_proc_gone(m, pid);
    unlink_conn_proc(cp);
    svc_release(cp->svc, &cp->key, SVC_USE_CHILD);
    free(cp);
}

/* The fork failed: the connection is refused, logged with the reason. */
static void fork_failed(struct procs *pr, struct svc *svc, const struct accepted *a, int err)
{
    char end[48], peer[ADDR_TEXT_MAX], what[96];

    snprintf(end, sizeof(end), "error:%s", errno_name(err));
    snprintf(what, sizeof(what), "service=%s connection process", svc->conf->name);
    errno = err;
    warn_fork(pr, svc->st, what);
    svc_count_refused(svc, METRICS_RESOURCES);
    accepted_peer_text(a, peer, sizeof(peer));
    svc_log_line(svc, a->kind, peer, 0, 0, 0, end);
    free(a->proxy);
    close_quietly(a->fd);
    svc_release(svc, &a->key, a->opened ? SVC_USE_CONN : SVC_USE_NONE);
}

static void fork_connection(void *arg, struct svc *svc, const struct accepted *a)
{
    struct procs *pr = arg;
    struct server *srv = pr->srv;
    struct conn_proc *cp = calloc(1, sizeof(*cp));
    sigset_t old;
    pid_t pid = -1;

    if (cp != NULL) {
        /* No signal may reach the child before it has its own handlers. */
        sig_block_all(&old);
        pid = fork();
        if (pid == 0)
            conn_main(pr, svc, a);
        sig_restore(&old);
    }
    if (pid < 0 || reaper_watch(&srv->reaper, pid, on_conn_exit, cp) < 0) {
        int err = pid < 0 ? errno : ENOMEM;
        if (pid > 0)
            kill(pid, SIGKILL);
        fork_failed(pr, svc, a, err);
        free(cp);
        return;
    }
    close(a->fd); /* the process has it */
    *cp =
        (struct conn_proc){.pr = pr, .svc = svc, .pid = pid, .key = a->key, .next = pr->conn_procs};
    if (pr->conn_procs != NULL)
        pr->conn_procs->prev = cp;
    pr->conn_procs = cp;
    svc_opened(svc, SVC_USE_CHILD);
    free(a->proxy);  /* the process has its copy */
    if (a->opened) { /* the PROXY header's hold, now the process's */
        struct limit_key none = {0};
        svc_release(svc, &none, SVC_USE_CONN);
    }
}

static void signal_conns(void *arg, int sig)
{
    struct procs *pr = arg;

    for (struct conn_proc *cp = pr->conn_procs; cp != NULL; cp = cp->next)
        kill(cp->pid, sig);
}

/* Workers and prefork processes */

static void on_worker_signal(int signo, void *arg)
{
    struct server *srv = arg;

    switch (signo) {
    case SIGTERM:
    case SIGINT:
        server_stop(srv, false);
        break;
    case SIGCHLD:
        reaper_reap(&srv->reaper);
        break;
    case PROCS_RETIRE_SIGNAL:
        server_retire(srv);
        break;
    default:
        /* SIGHUP, SIGUSR1 (killall -HUP usherd, say): the master's business (its stats
         * line is the whole daemon's). */
        break;
    }
}

static void __attribute__((noreturn))
worker_main(struct pool *pool, unsigned index, pid_t master, struct limit_holds *holds,
            struct metrics_holds *mholds)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGUSR1, SIGCHLD, SIGHUP, PROCS_RETIRE_SIGNAL,
                                  0};
    struct server *srv = pool->srv;
    int keep[KEEP_FDS_MAX];
    size_t n = server_served_fds(srv, pool->role, pool->st, keep, ARRAY_LEN(keep));
    struct ev_loop *loop;

    become_child(pool->pr, keep, n);
    /* A worker whose master is gone stops, instead of serving on unsupervised. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != master)
        _exit(0);
    if ((loop = ev_loop_new()) == NULL)
        _exit(111);
    server_rebase(srv, loop, pool->role, pool->st, index);
    limit_set_holds(holds);
    metrics_set_holds(mholds);
    metrics_proc_self(srv->set.metrics,
                      pool->role == ROLE_POOL ? METRICS_ROLE_PREFORK : METRICS_ROLE_WORKER);
    if (sig_init(loop, signals, on_worker_signal, srv) < 0 ||
        sig_hold(loop, SIGCHLD, reaper_watching, &srv->reaper) < 0)
        _exit(111);
    ev_run(loop);
    reaper_reap(&srv->reaper);
    metrics_proc_ending(srv->set.metrics);
    _exit(0);
}

static void start_one(struct pool *pool, unsigned slot)
{
    struct server *srv = pool->srv;
    pid_t master = getpid(), pid = -1;
    /* A prefork process serves one connection at a time: a few records are plenty. */
    struct limit_holds *holds = limit_holds_new(pool->role == ROLE_POOL ? 8 : LIMIT_HOLDS_MAX);
    struct metrics_holds *mholds = metrics_holds_new();
    sigset_t old;

    if (holds != NULL && mholds != NULL) {
        /* No signal may reach the worker before it has its own handlers (sig_init). */
        sig_block_all(&old);
        pid = fork();
        if (pid == 0)
            worker_main(pool, slot + 1, master, holds, mholds);
        sig_restore(&old);
    }
    if (pid < 0) {
        limit_holds_free(holds);
        metrics_holds_free(mholds);
        warn_fork(pool->pr, pool->st, pool->name);
        if (!ev_timer_active(&pool->respawn))
            ev_timer_start(srv->loop, &pool->respawn, grace_ms(RESPAWN_PAUSE_MS));
        return;
    }
    pool->holds[slot] = holds;
    pool->mholds[slot] = mholds;
    pool->pids[slot] = pid;
    pool->born[slot] = ev_now(srv->loop);
    srv->nworkers++;
}

static void on_worker_exit(pid_t pid, int status, void *arg);

static void fill(struct pool *pool)
{
    for (unsigned i = 0; i < pool->want; i++) {
        if (pool->pids[i] != 0)
            continue;
        start_one(pool, i);
        if (pool->pids[i] > 0 &&
            reaper_watch(&pool->srv->reaper, pool->pids[i], on_worker_exit, pool) < 0) {
            kill(pool->pids[i], SIGKILL); /* unwatched, it could not be replaced */
            pool->pids[i] = 0;
            pool->srv->nworkers--;
            limit_holds_free(pool->holds[i]);
            pool->holds[i] = NULL;
            metrics_holds_free(pool->mholds[i]);
            pool->mholds[i] = NULL;
        }
    }
}

static void on_respawn(struct ev_loop *loop, struct ev_timer *t)
{
    struct pool *pool = t->arg;

    (void)loop;
    if (!pool->retiring && !pool->srv->stopping)
        fill(pool);
}

static void pool_free(struct procs *pr, struct pool *pool)
{
    struct pool **pp = &pr->pools;

    while (*pp != NULL && *pp != pool)
        pp = &(*pp)->next;
    if (*pp == pool)
        *pp = pool->next;
    ev_timer_stop(pool->srv->loop, &pool->respawn);
    conf_unref(pool->cf);
    free(pool->pids);
    free(pool->born);
    free(pool->holds);
    free(pool->mholds);
    free(pool);
}

static bool pool_empty(const struct pool *pool)
{
    for (unsigned i = 0; i < pool->want; i++)
        if (pool->pids[i] != 0)
            return false;
    return true;
}

static void describe_status(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "was killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
}

static void on_worker_exit(pid_t pid, int status, void *arg)
{
    struct pool *pool = arg;
    struct server *srv = pool->srv;
    char how[64];
    unsigned slot = 0;
    unsigned long given;

    while (slot < pool->want && pool->pids[slot] != pid)
        slot++;
    if (slot == pool->want)
        return;
    pool->pids[slot] = 0;
    srv->nworkers--;
    /* What it held in the shared limits (nothing, if it ended its connections itself). */
    if ((given = server_give_back(srv, pool->holds[slot])) > 0)
        log_info("%s %u (pid %ld): %lu connections it held given back to the limits", pool->name,
                 slot + 1, (long)pid, given);
    limit_holds_free(pool->holds[slot]);
    pool->holds[slot] = NULL;
    /* Its gauges, its listed connections and its entry go with it. */
    metrics_give_back(srv->set.metrics, pool->mholds[slot]);
    metrics_holds_free(pool->mholds[slot]);
    pool->mholds[slot] = NULL;
    metrics_conns_of_dead(srv->set.metrics, pid);
    metrics_proc_gone(srv->set.metrics, pid);
    if (pool->retiring || srv->stopping) {
        if (pool->retiring && pool_empty(pool))
            pool_free(pool->pr, pool);
        server_check_stopped(srv);
        return;
    }
    describe_status(status, how, sizeof(how));
    /* A process that dies young would die again: restart it after a pause. */
    if (ev_now(srv->loop) - pool->born[slot] < grace_ms(CRASH_WINDOW_MS)) {
        log_warnx("%s %u (pid %ld) %s right after starting; restarting in %d ms", pool->name,
                  slot + 1, (long)pid, how, grace_ms(RESPAWN_PAUSE_MS));
        if (!ev_timer_active(&pool->respawn))
            ev_timer_start(srv->loop, &pool->respawn, grace_ms(RESPAWN_PAUSE_MS));
        return;
    }
    log_warnx("%s %u (pid %ld) %s; starting another", pool->name, slot + 1, (long)pid, how);
    fill(pool);
}

static struct pool *pool_new(struct procs *pr, enum role role, const struct svc *svc, unsigned want)
{
    struct server *srv = pr->srv;
    struct pool *pool = calloc(1, sizeof(*pool));

    if (pool == NULL || (pool->pids = calloc(want, sizeof(pid_t))) == NULL ||
        (pool->born = calloc(want, sizeof(int64_t))) == NULL ||
        (pool->holds = calloc(want, sizeof(*pool->holds))) == NULL ||
        (pool->mholds = calloc(want, sizeof(*pool->mholds))) == NULL) {
        if (pool != NULL) {
            free(pool->pids);
            free(pool->born);
            free(pool->holds);
        }
        free(pool);
        return NULL;
    }
    pool->pr = pr;
    pool->srv = srv;
    pool->role = role;
    pool->st = svc ? svc->st : NULL;
    pool->cf = conf_ref(srv->set.conf);
    pool->want = want;
    if (svc != NULL) {
        str_copy(pool->svc_name, sizeof(pool->svc_name), svc->conf->name);
        snprintf(pool->name, sizeof(pool->name), "service=%s prefork process", svc->conf->name);
    } else
        snprintf(pool->name, sizeof(pool->name), "worker");
    ev_timer_init(&pool->respawn, on_respawn, pool);
    pool->next = pr->pools;
    pr->pools = pool;
    return pool;
}

/* The pool in service (not retiring) of `role` (and, for ROLE_POOL, service `name`). */
static struct pool *live_pool(const struct procs *pr, enum role role, const char *name)
{
    for (struct pool *pool = pr->pools; pool != NULL; pool = pool->next)
        if (!pool->retiring && pool->role == role &&
            (role != ROLE_POOL || strcmp(pool->svc_name, name) == 0))
            return pool;
    return NULL;
}

int procs_start(struct procs *pr)
{
    struct server *srv = pr->srv;
    struct pool *pool;

    if (srv->set.conf->workers > 1 && live_pool(pr, ROLE_WORKER, NULL) == NULL) {
        if ((pool = pool_new(pr, ROLE_WORKER, NULL, srv->set.conf->workers)) == NULL)
            return -1;
        fill(pool);
    }
    for (size_t i = 0; i < srv->set.nsvcs; i++) {
        const struct svc *svc = srv->set.svcs[i];
        if (svc->conf->model != MODEL_PREFORK || live_pool(pr, ROLE_POOL, svc->conf->name) != NULL)
            continue;
        if ((pool = pool_new(pr, ROLE_POOL, svc, svc->conf->prefork)) == NULL)
            return -1;
        fill(pool);
    }
    return 0;
}

/* The [global] settings a worker or prefork process uses, the same in both? */
static bool globals_equal(const struct conf *a, const struct conf *b)
{
    return a->shutdown_timeout_ms == b->shutdown_timeout_ms && a->max_conns == b->max_conns &&
           a->log_set == b->log_set && a->log.kind == b->log.kind &&
           log_target_equal(&a->log, &b->log) && a->log_facility == b->log_facility &&
           a->log_format == b->log_format && a->log_ip == b->log_ip;
}

/* Does every service of `a` with a UDP listener have the same UDP listeners in `b`? */
static bool udp_listens_within(const struct conf *a, const struct conf *b)
{
    for (size_t i = 0; i < a->nsvcs; i++) {
        const struct svc_conf *sa = &a->svcs[i], *sb = conf_find(b, sa->name);
        size_t ia = 0, ib = 0;
        for (;; ia++, ib++) {
            while (ia < sa->nlistens && sa->listens[ia].addr.kind != ADDR_UDP)
                ia++;
            while (sb != NULL && ib < sb->nlistens && sb->listens[ib].addr.kind != ADDR_UDP)
                ib++;
            if (ia == sa->nlistens)
                break;
            if (sb == NULL || ib == sb->nlistens ||
                !addr_equal(&sa->listens[ia].addr, &sb->listens[ib].addr))
                return false;
        }
    }
    return true;
}

/* Is every service of `a` that workers serve the same in `b`? */
static bool worker_services_within(const struct conf *a, const struct conf *b)
{
    for (size_t i = 0; i < a->nsvcs; i++) {
        const struct svc_conf *was = conf_find(b, a->svcs[i].name);
        if (server_serves(ROLE_WORKER, a->workers, &a->svcs[i], false) &&
            (was == NULL || !conf_svc_equal(&a->svcs[i], was)))
            return false;
    }
    return true;
}

/* Does `pool` serve a TLS service of `conf`? */
static bool serves_tls(const struct pool *pool, const struct conf *conf)
{
    for (size_t i = 0; i < conf->nsvcs; i++) {
        const struct svc_conf *sc = &conf->svcs[i];
        bool own = pool->role == ROLE_POOL && strcmp(sc->name, pool->svc_name) == 0;
        if (sc->tls != NULL && server_serves(pool->role, conf->workers, sc, own))
            return true;
    }
    return false;
}

/*
 * Can the processes of `pool` go on serving under `conf`: is everything
 * they were made from that they use the same in it?  (The UDP loop rule
 * of every process knows the ports of all UDP listeners.)
 */
static bool pool_fits(const struct pool *pool, const struct conf *conf, bool tls_changed)
{
    const struct conf *was = pool->cf;

    if (!globals_equal(was, conf) || !udp_listens_within(was, conf) ||
        !udp_listens_within(conf, was))
        return false;
    /* Its processes hold the certificates they were forked with. */
    if (tls_changed && serves_tls(pool, conf))
        return false;
    if (pool->role == ROLE_POOL) {
        const struct svc_conf *now = conf_find(conf, pool->svc_name);
        const struct svc_conf *then = conf_find(was, pool->svc_name);
        return now != NULL && then != NULL && conf_svc_equal(now, then);
    }
    return conf->workers == pool->want && worker_services_within(was, conf) &&
           worker_services_within(conf, was);
}

/* The processes of `pool` finish what they have and go; none is restarted. */
static void retire(struct pool *pool)
{
    pool->retiring = true;
    ev_timer_stop(pool->srv->loop, &pool->respawn);
    for (unsigned i = 0; i < pool->want; i++)
        if (pool->pids[i] != 0)
            kill(pool->pids[i], PROCS_RETIRE_SIGNAL);
}

static bool same_kind(const struct pool *a, const struct pool *b)
{
    return a->role == b->role && (a->role != ROLE_POOL || strcmp(a->svc_name, b->svc_name) == 0);
}

/*
 * A reload storm must not pile up processes: past PROCS_RETIRING_MAX
 * retiring generations of one kind, the oldest get the graceful stop.
 */
static void bound_retiring(struct procs *pr)
{
    struct server *srv = pr->srv;

    for (struct pool *pool = pr->pools; pool != NULL; pool = pool->next) {
        unsigned newer = 0;
        if (!pool->retiring || pool->stopped)
            continue;
        for (struct pool *p = pr->pools; p != pool; p = p->next)
            newer += p->retiring && !p->stopped && same_kind(p, pool);
        if (newer < PROCS_RETIRING_MAX)
            continue;
        log_warnx("%d retiring generations of %s%s: the oldest stops, its connections get up to "
                  "%lld ms",
                  PROCS_RETIRING_MAX + 1, pool->role == ROLE_POOL ? pool->name : "workers",
                  pool->role == ROLE_POOL ? "es" : "",
                  (long long)srv->set.conf->shutdown_timeout_ms);
        pool->stopped = true;
        for (unsigned i = 0; i < pool->want; i++)
            if (pool->pids[i] != 0)
                kill(pool->pids[i], SIGTERM);
    }
}

void procs_reload(struct procs *pr)
{
    for (struct pool *pool = pr->pools; pool != NULL; pool = pool->next)
        if (!pool->retiring && !pool_fits(pool, pr->srv->set.conf, pr->srv->tls_changed))
            retire(pool);
    /* The retiring pools with no process left go now; the others with their last one. */
    for (struct pool *pool = pr->pools, *next; pool != NULL; pool = next) {
        next = pool->next;
        if (pool->retiring && pool_empty(pool))
            pool_free(pr, pool);
    }
    bound_retiring(pr);
    if (procs_start(pr) < 0)
        log_warnx("reload: out of memory starting the new workers");
}

static void signal_workers(void *arg, int sig)
{
    struct procs *pr = arg;

    for (struct pool *pool = pr->pools; pool != NULL; pool = pool->next)
        for (unsigned i = 0; i < pool->want; i++)
            if (pool->pids[i] != 0)
                kill(pool->pids[i], sig);
}

void procs_free(struct procs *pr)
{
    while (pr->pools != NULL)
        pool_free(pr, pr->pools);
    for (struct conn_proc *cp = pr->conn_procs, *next; cp != NULL; cp = next) {
        next = cp->next;
        free(cp);
    }
    pr->conn_procs = NULL;
}

void procs_init(struct procs *pr, struct server *srv)
{
    memset(pr, 0, sizeof(*pr));
    pr->srv = srv;
    srv->procs = (struct server_procs){.fork_connection = fork_connection,
                                       .signal_workers = signal_workers,
                                       .signal_conns = signal_conns,
                                       .arg = pr};
}
