/*
 * spawn: exec services' children, from start to reaping (see spawn.h).
 *
 * A child's record lives until both its exit has been reaped and its
 * stderr pipe has reached EOF (a grandchild may hold the pipe longer than
 * the child lives).  Its connection line is written at the exit.
 *
 * Most programs a super-server runs are done in a few milliseconds and
 * write nothing to stderr.  So a child's stderr pipe joins the loop only
 * if the child is still running STDERR_WATCH_MS after its start; at the
 * exit it is read at once, before the connection line, and if that was
 * its EOF it never joined the loop at all: two epoll_ctl calls and a
 * wake-up per connection saved.
 */
#include "spawn.h"

#include "listener.h"
#include "log.h"
#include "proxy_in.h"
#include "relay.h"
#include "spawn_child.h"
#include "tls.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define KILL_GRACE_MS   2000 /* from SIGTERM to SIGKILL at max_time */
#define STDERR_LINE_MAX 1024 /* longer lines are logged in pieces */
#define STDERR_WATCH_MS 10   /* a child's stderr is read at its exit, or watched after this */
#define EXIT_HOLD_MS    2    /* after a start, a child's exit waits at most this for a wake-up */

/* Exec children */

struct exec_child {
    struct exec_child *prev, *next;
    struct spawn_set *sp;
    struct svc *svc; /* valid until the exit: a retired service goes with its last child */
    char name[64];   /* the service's, for stderr lines that come after the exit */
    pid_t pid;
    int kind;
    char peer[ADDR_TEXT_MAX];
    int64_t started_ms;
    spawn_done_fn *done; /* wait = yes: told at the exit (NULL: nobody to tell) */
    void *done_arg;
    struct ev_timer timer;     /* max_time: SIGTERM, then SIGKILL */
    struct ev_timer err_timer; /* STDERR_WATCH_MS: the stderr pipe joins the loop */
    bool term_sent;
    bool exited;
    bool left; /* let go at the stop (on_stop = leave) */
    struct limit_key key;
    uint32_t listed; /* in the open connections /status shows */
    /* TLS: the relay between the connection and the program's socketpair, while it runs. */
    struct relay *relay;
    bool relayed;         /* the connection was relayed: its line waits for the relay too */
    int status;           /* the exit status, kept while the relay finishes */
    uint64_t in, out;     /* the relay's counts */
    char relay_end[96];   /* how the relay ended ("" while it runs) */
    char tls_fields[400]; /* " tls=... cipher=... sni=..." */
    int err_fd;           /* read end of its stderr pipe, or -1 */
    size_t line_len;
    char line[STDERR_LINE_MAX];
};

void spawn_set_init(struct spawn_set *sp, struct ev_loop *loop, struct reaper *reaper)
{
    memset(sp, 0, sizeof(*sp));
    sp->loop = loop;
    sp->reaper = reaper;
    sp->null_fd = -1;
}

static void unlink_child(struct exec_child *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->sp->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
}

static void free_child(struct exec_child *c)
{
    unlink_child(c);
    free(c);
}

/* One line of the child's, escaped: its bytes are the program's, not ours. */
static void flush_line(struct exec_child *c)
{
    char text[STDERR_LINE_MAX * 2];

    if (c->line_len > 0) {
        str_escape(text, sizeof(text), c->line, c->line_len);
        log_info("service=%s pid=%ld stderr: %s", c->name, (long)c->pid, text);
    }
    c->line_len = 0;
}

/* The stderr pipe is done with (`c` stays). */
static void shut_stderr(struct exec_child *c)
{
    flush_line(c);
    ev_timer_stop(c->sp->loop, &c->err_timer);
    ev_io_del(c->sp->loop, c->err_fd); /* (nothing to do if it never joined) */
    close_quietly(c->err_fd);
    c->err_fd = -1;
}

/*
 * One read of the child's stderr, line by line into the log.  Returns 1
 * if there may be more, 0 when the pipe is empty for now, -1 after its EOF
 * (the pipe closed; `c` stays).
 */
static int read_stderr(struct exec_child *c)
{
    char buf[4096];
    ssize_t n;

    do
        n = read(c->err_fd, buf, sizeof(buf));
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return 0;
    if (n <= 0) {
        shut_stderr(c);
        return -1;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            flush_line(c);
            continue;
        }
        c->line[c->line_len++] = buf[i];
        if (c->line_len == sizeof(c->line))
            flush_line(c);
    }
    return 1;
}

static void on_stderr(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct exec_child *c = arg;

    (void)loop, (void)fd, (void)events;
    /* Finished (its line written, svc let go): a grandchild held the pipe past the exit. */
    if (read_stderr(c) < 0 && c->exited && c->svc == NULL)
        free_child(c);
}

/* The stderr pipe into the loop (a child still running, or a grandchild holding it). */
static void watch_stderr(struct exec_child *c)
{
    if (ev_io_events(c->sp->loop, c->err_fd) != 0)
        return;
    if (ev_io_add(c->sp->loop, c->err_fd, EV_READ, on_stderr, c) < 0)
        shut_stderr(c); /* unread, as if it had ended: the child's writes then fail */
}

static void on_err_timer(struct ev_loop *loop, struct ev_timer *t)
{
    (void)loop;
    watch_stderr(t->arg);
}

/* Once a second at most per service: one program that cannot start hides no other. */
static void warn_spawn(const struct svc *svc, pid_t pid, const char *err)
{
    if (pid > 0)
        svc_warnx(svc, SVC_WARN_SPAWN, "service=%s pid=%ld: %s", svc->conf->name, (long)pid, err);
    else
        svc_warnx(svc, SVC_WARN_SPAWN, "service=%s: %s", svc->conf->name, err);
}

static void on_max_time(struct ev_loop *loop, struct ev_timer *t)
{
    struct exec_child *c = t->arg;

    if (c->exited)
        return;
    if (!c->term_sent) {
        log_warnx("service=%s pid=%ld: max_time reached: SIGTERM to its process group",
                  c->svc->conf->name, (long)c->pid);
        kill(-c->pid, SIGTERM);
        c->term_sent = true;
        ev_timer_start(loop, t, grace_ms(KILL_GRACE_MS));
        return;
    }
    log_warnx("service=%s pid=%ld: still there %d ms after SIGTERM: SIGKILL", c->svc->conf->name,
              (long)c->pid, grace_ms(KILL_GRACE_MS));
    kill(-c->pid, SIGKILL);
}

static void end_text(int status, char *buf, size_t size)
{
    if (WIFEXITED(status))
        snprintf(buf, size, "exit:%d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "signal:%d", WTERMSIG(status));
    else
        snprintf(buf, size, "status:%d", status);
}

/*
 * The connection line, once the child has exited and (TLS) the relay has
 * ended: the relay's end if the connection ended badly (a truncated TLS
 * input is not a clean close), else the exit.
 */
static void finish(struct exec_child *c)
{
    char end[96];

    if (c->relayed && strcmp(c->relay_end, "closed") != 0)
        snprintf(end, sizeof(end), "%s", c->relay_end);
    else
        end_text(c->status, end, sizeof(end));
    if (log_enabled(LOG_LVL_INFO) && log_conn_wanted(c->svc->conf->log_conns, end))
        log_info("service=%s proto=%s peer=%s duration_ms=%lld in=%llu out=%llu end=%s pid=%ld%s",
                 c->svc->conf->name, addr_kind_name(c->kind), c->peer,
                 (long long)(now_ms() - c->started_ms), (unsigned long long)c->in,
                 (unsigned long long)c->out, end, (long)c->pid, c->tls_fields);
    svc_count_bytes(c->svc, c->in, c->out);
    svc_count_exit(c->svc, c->status);
    svc_count_ended(c->svc, now_ms() - c->started_ms);
    svc_unlist(c->svc, c->listed);
    svc_release(c->svc, &c->key, SVC_USE_CHILD);
    c->svc = NULL; /* it may have gone with this child */
    if (c->err_fd < 0)
        free_child(c);
}

static void on_exit_status(pid_t pid, int status, void *arg)
{
    struct exec_child *c = arg;
    char err[512];

    if (spawn_child_failure(pid, err, sizeof(err)))
        warn_spawn(c->svc, pid, err);
    c->status = status;
    c->exited = true;
    c->sp->n--;
    if (c->left)
        c->sp->nleft--;
    ev_timer_stop(c->sp->loop, &c->timer);
    /* What it wrote is all in the pipe: logged before its line.  (Still open: a grandchild's.) */
    if (c->err_fd >= 0) {
        int rc;
        ev_timer_stop(c->sp->loop, &c->err_timer);
        while ((rc = read_stderr(c)) > 0)
            ;
        if (rc == 0)
            watch_stderr(c);
    }
    if (c->done != NULL)
        c->done(c->done_arg, c->name);
    if (c->relay != NULL) {
        relay_peer_gone(c->relay); /* the line is written when the relay ends */
        return;
    }
    finish(c);
}

/* TLS: the relay has ended; the line waits for the exit if it has not come yet. */
static void on_relay_end(void *arg, const struct relay_result *res)
{
    struct exec_child *c = arg;

    c->relay = NULL;
    c->in = res->in;
    c->out = res->out;
    str_copy(c->relay_end, sizeof(c->relay_end), res->end);
    if (c->exited)
        finish(c);
}

/* Where the child's fd 2 goes: the write end of a log pipe, the socket (-1), /dev/null. */
static int stderr_target(struct exec_child *c, int *pipe_w)
{
    int *null_fd = &c->sp->null_fd;
    int p[2];

    *pipe_w = -1;
    switch (c->svc->conf->exec->stderr_to) {
    case STDERR_SOCKET:
        return -1;
    case STDERR_NULL:
        if (*null_fd < 0)
            *null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        return *null_fd;
    case STDERR_LOG:
        break;
    }
    /* Only our end stays non-blocking: the child makes its own block (err_nonblock). */
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        return *null_fd >= 0 ? *null_fd : -2;
    c->err_fd = p[0];
    *pipe_w = p[1];
    return p[1];
}

static struct exec_child *child_new(struct spawn_set *sp, struct svc *svc, int kind)
{
    struct exec_child *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->sp = sp;
    c->svc = svc;
    str_copy(c->name, sizeof(c->name), svc->conf->name);
    c->kind = kind;
    c->err_fd = -1;
    c->started_ms = now_ms();
    ev_timer_init(&c->timer, on_max_time, c);
    ev_timer_init(&c->err_timer, on_err_timer, c);
    return c;
}

/* What a child is started on. */
struct launch_on {
    int sock;     /* its fds 0 and 1 */
    int env_kind; /* the connection's kind for the environment (a balancer's client: TCP) */
    const struct sockaddr_storage *local; /* a PROXY header's destination, our end, or NULL */
    int addr_sock;                        /* the connection its environment names; -1: sock */
    bool connected;
    const struct sockaddr_storage *peer;
    socklen_t peer_len;
    char *const *extra_env; /* TLS: the SSL_* variables */
};

/* Start the child of `c`.  Returns 0, or -1 (nothing started, logged). */
static int launch(struct exec_child *c, const struct launch_on *on)
{
    struct spawn_req req = {.sc = c->svc->conf,
                            .sock = on->sock,
                            .addr_sock = on->addr_sock,
                            .extra_env = on->extra_env,
                            .local = on->local,
                            .kind = on->env_kind,
                            .connected = on->connected,
                            .peer = on->peer,
                            .peer_len = on->peer_len};
    char err[512];
    int pipe_w;
    pid_t pid;

    req.err_fd = stderr_target(c, &pipe_w);
    req.err_nonblock = pipe_w >= 0;
    if (req.err_fd == -2) {
        warn_spawn(c->svc, 0, "unable to make a stderr pipe");
        return -1;
    }
    if (spawn_child(&req, &pid, err, sizeof(err)) < 0)
        warn_spawn(c->svc, pid, err);
    close_quietly(pipe_w);
    if (pid < 0 || reaper_watch(c->sp->reaper, pid, on_exit_status, c) < 0) {
        int saved = pid < 0 ? errno : ENOMEM;
        if (pid > 0) /* started but untracked: do not leave it running unwatched */
            kill(-pid, SIGKILL);
        close_quietly(c->err_fd);
        c->err_fd = -1;
        errno = saved;
        return -1;
    }
    c->pid = pid;
    /* A short program is often done by our next wake-up: reap it then (sig_hold). */
    ev_hold(c->sp->loop, EXIT_HOLD_MS);
    return 0;
}

/* A launched child: count it, time it, read its stderr. */
static void track(struct exec_child *c)
{
    struct spawn_set *sp = c->sp;
    struct ev_loop *loop = sp->loop;

    c->next = sp->head;
    if (sp->head != NULL)
        sp->head->prev = c;
    sp->head = c;
    sp->n++;
    svc_opened(c->svc, SVC_USE_CHILD);
    if (c->svc->conf->max_time_ms > 0)
        ev_timer_start(loop, &c->timer, c->svc->conf->max_time_ms);
    if (c->err_fd >= 0)
        ev_timer_start(loop, &c->err_timer, STDERR_WATCH_MS);
}

/* The connection could not be served: logged, closed, given back.  Returns -1. */
static int not_served(struct exec_child *c, const struct accepted *a, int err)
{
    char end[48];

    snprintf(end, sizeof(end), "error:%s", errno_name(err));
    svc_log_line(c->svc, a->kind, c->peer, 0, 0, 0, end);
    SSL_free(a->ssl);
    close_quietly(a->fd);
    svc_release(c->svc, &a->key, a->opened ? SVC_USE_CONN : SVC_USE_NONE);
    free(c);
    return -1;
}

/* The extra variables of a connection: TLS's SSL_*, then a PROXY header's PROXY_*. */
struct extra_env {
    struct tls_env tls;
    char *vars[TLS_ENV_MAX + PROXY_ENV_MAX + 1];
};

static char *const *extra_env_of(const struct accepted *a, struct extra_env *x)
{
    size_t n = 0;

    if (a->ssl != NULL) {
        tls_env(a->ssl, &x->tls);
        for (size_t i = 0; x->tls.vars[i] != NULL; i++)
            x->vars[n++] = x->tls.vars[i];
    }
    for (size_t i = 0; a->proxy != NULL && a->proxy->env[i] != NULL; i++)
        x->vars[n++] = a->proxy->env[i];
    x->vars[n] = NULL;
    return n > 0 ? x->vars : NULL;
}

/* How the program of connection `a` is started, on `sock`. */
static struct launch_on launch_of(const struct accepted *a, int sock, struct extra_env *x)
{
    struct launch_on on = {.sock = sock,
                           .addr_sock = sock == a->fd ? -1 : a->fd,
                           .env_kind = a->kind,
                           .connected = true,
                           .peer = &a->peer,
                           .peer_len = a->peer_len,
                           .extra_env = extra_env_of(a, x)};

    /* A balancer's client is a TCP client, whatever the listener it came through. */
    if (a->peer.ss_family == AF_INET || a->peer.ss_family == AF_INET6)
        on.env_kind = ADDR_TCP;
    if (a->proxy != NULL && a->proxy->local_len > 0)
        on.local = &a->proxy->local;
    else if (a->local != NULL) /* the listener's one address: no getsockname */
        on.local = a->local;
    return on;
}

/* TLS: the program gets one end of a socketpair, the relay the other and the connection. */
static int launch_relayed(struct exec_child *c, const struct accepted *a)
{
    struct extra_env x;
    struct launch_on on;
    struct io client;
    int pair[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        return -1;
    on = launch_of(a, pair[1], &x);
    if (fd_set_nonblock(pair[0]) < 0 || launch(c, &on) < 0) {
        int err = errno;
        close(pair[0]);
        close(pair[1]);
        errno = err;
        return -1;
    }
    close(pair[1]); /* the program's end */
    io_init(&client, a->fd, a->ssl);
    tls_log_fields(a->ssl, c->tls_fields, sizeof(c->tls_fields));
    c->relayed = true;
    if ((c->relay = relay_start(c->sp->loop, &client, pair[0], NULL, on_relay_end, c)) == NULL) {
        /* The program runs: it gets EOF, and its exit is logged with this end. */
        snprintf(c->relay_end, sizeof(c->relay_end), "error:%s", errno_name(errno));
        close(pair[0]);
        SSL_free(a->ssl);
        close_quietly(a->fd);
    }
    return 0;
}

static int launch_direct(struct exec_child *c, const struct accepted *a)
{
    struct extra_env x;
    struct launch_on on = launch_of(a, a->fd, &x);

    return launch(c, &on);
}

int spawn_connection(struct spawn_set *sp, struct svc *svc, const struct accepted *a)
{
    struct exec_child *c = child_new(sp, svc, a->kind);
    int rc;

    if (c == NULL) {
        warn_spawn(svc, 0, "out of memory");
        SSL_free(a->ssl);
        free(a->proxy);
        close_quietly(a->fd);
        svc_release(svc, &a->key, a->opened ? SVC_USE_CONN : SVC_USE_NONE);
        return -1;
    }
    c->key = a->key;
    accepted_peer_text(a, c->peer, sizeof(c->peer));
    rc = a->ssl != NULL ? launch_relayed(c, a) : launch_direct(c, a);
    if (rc < 0) {
        int err = errno;
        svc_count_spawn_failed(svc);
        free(a->proxy);
        return not_served(c, a, err);
    }
    free(a->proxy); /* the program has what it needed of it */
    if (a->ssl == NULL)
        close(a->fd); /* the child has it: the connection ends when the child lets go */
    track(c);
    c->listed = svc_list(svc, (const struct sockaddr *)&a->peer, c->pid);
    if (a->opened) { /* the handshake's hold, now the child's (opened by track first) */
        struct limit_key none = {0};
        svc_release(svc, &none, SVC_USE_CONN);
    }
    return 0;
}

struct exec_child *spawn_waiting(struct spawn_set *sp, struct svc *svc, int fd, int kind,
                                 spawn_done_fn *done, void *arg)
{
    struct exec_child *c = child_new(sp, svc, kind);

    if (c == NULL) {
        warn_spawn(svc, 0, "out of memory");
        return NULL;
    }
    struct launch_on on = {.sock = fd, .addr_sock = -1, .env_kind = kind};

    snprintf(c->peer, sizeof(c->peer), "-");
    /* The program gets the socket as inetd gives it: blocking.  Ours again at its exit. */
    if (fcntl(fd, F_SETFL, 0) < 0 || launch(c, &on) < 0) {
        svc_count_spawn_failed(svc);
        fd_set_nonblock(fd);
        free(c);
        return NULL;
    }
    c->done = done;
    c->done_arg = arg;
    track(c);
    return c;
}

void spawn_unhook(struct exec_child *c)
{
    c->done = NULL;
}

void spawn_signal_all(const struct spawn_set *sp, int sig)
{
    for (struct exec_child *c = sp->head; c != NULL; c = c->next)
        if (!c->exited && !c->left)
            kill(-c->pid, sig);
}

static bool to_leave(const struct exec_child *c)
{
    return !c->exited && !c->left && c->svc->conf->exec->on_stop == ON_STOP_LEAVE;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(struct exec_child *const *)a)->name, (*(struct exec_child *const *)b)->name);
}

/* One line per service for the children in `left[0..n)`, sorted by service. */
static void log_left(struct exec_child **left, size_t n)
{
    qsort(left, n, sizeof(*left), by_name);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && strcmp(left[j]->name, left[i]->name) == 0; j++)
            ;
        log_info("stopping: leaving %zu %s of service=%s running", j - i,
                 j - i == 1 ? "child" : "children", left[i]->name);
    }
}

size_t spawn_leave(struct spawn_set *sp)
{
    struct exec_child **left = calloc(sp->n + 1, sizeof(*left));
    size_t n = 0;

    for (struct exec_child *c = sp->head; c != NULL; c = c->next) {
        if (!to_leave(c))
            continue;
        c->left = true;
        ev_timer_stop(sp->loop, &c->timer); /* no max_time: they are no longer ours to end */
        if (left != NULL)
            left[n] = c;
        n++;
    }
    sp->nleft += n;
    if (left != NULL)
        log_left(left, n);
    else if (n > 0)
        log_info("stopping: leaving %zu children running (on_stop = leave)", n);
    free(left);
    return n;
}

void spawn_set_free(struct spawn_set *sp)
{
    for (struct exec_child *c = sp->head, *next; c != NULL; c = next) {
        next = c->next;
        if (c->relay != NULL)
            relay_free(c->relay);
        if (c->err_fd >= 0) {
            ev_io_del(sp->loop, c->err_fd);
            close_quietly(c->err_fd);
        }
        ev_timer_stop(sp->loop, &c->timer);
        ev_timer_stop(sp->loop, &c->err_timer);
        free(c);
    }
    sp->head = NULL;
    sp->n = sp->nleft = 0;
    close_quietly(sp->null_fd);
    sp->null_fd = -1;
}

void spawn_set_forget(struct spawn_set *sp, struct ev_loop *loop)
{
    /* In a new child: the records, descriptors and children are the parent's. */
    spawn_child_forget();
    sp->head = NULL;
    sp->n = sp->nleft = 0;
    sp->null_fd = -1;
    sp->loop = loop;
}
