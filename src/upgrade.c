/*
 * upgrade: the predecessor's and the successor's ends of a binary upgrade
 * (see upgrade.h).
 */
#include "upgrade.h"

#include "log.h"
#include "sd.h"
#include "sig.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPORT_MAX 1024 /* as daemon_report writes it: one write, within PIPE_BUF */

extern char **environ;

void upgrade_init(struct upgrade *u, struct ev_loop *loop, struct reaper *reaper,
                  upgrade_done_fn *done, void *arg)
{
    ssize_t n;

    memset(u, 0, sizeof(*u));
    u->loop = loop;
    u->reaper = reaper;
    u->done = done;
    u->arg = arg;
    u->report_fd = -1;
    /* The name the kernel has for our program now: a later replacement at that name is the new one.
     */
    n = readlink("/proc/self/exe", u->exe, sizeof(u->exe) - 1);
    u->exe[n > 0 ? n : 0] = '\0';
}

/* The attempt is over: tell, once, and stop listening for the successor's word. */
static void finish(struct upgrade *u, bool ok, const char *msg)
{
    pid_t pid = u->pid;

    ev_timer_stop(u->loop, &u->deadline);
    if (u->report_fd >= 0) {
        ev_io_del(u->loop, u->report_fd);
        close_quietly(u->report_fd);
        u->report_fd = -1;
    }
    u->pid = 0;
    if (ok)
        u->handed_to = pid;
    u->done(u->arg, pid, ok, msg);
}

static void on_report(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct upgrade *u = arg;
    char buf[REPORT_MAX + 1], msg[REPORT_MAX + 64];
    ssize_t n;

    (void)loop, (void)events;
    do
        n = read(fd, buf, REPORT_MAX);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        snprintf(msg, sizeof(msg), "the new usherd (pid %ld) exited before it was ready",
                 (long)u->pid);
        finish(u, false, msg);
        return;
    }
    buf[n] = '\0';
    if (buf[0] == 0) {
        finish(u, true, "ready");
        return;
    }
    snprintf(msg, sizeof(msg), "%s", n > 1 ? buf + 1 : "the new usherd failed to start");
    finish(u, false, msg);
}

static void on_deadline(struct ev_loop *loop, struct ev_timer *timer)
{
    struct upgrade *u = timer->arg;
    char msg[128];

    (void)loop;
    snprintf(msg, sizeof(msg), "the new usherd (pid %ld) was not ready after %d ms: killed",
             (long)u->pid, UPGRADE_TIMEOUT_MS);
    if (kill(u->pid, SIGKILL) < 0 && errno != ESRCH)
        log_warn("upgrade: unable to kill pid %ld", (long)u->pid);
    finish(u, false, msg);
}

/* The successor's end, whenever it comes: before it was ready, the reason is on the pipe. */
static void on_successor_exit(pid_t pid, int status, void *arg)
{
    struct upgrade *u = arg;
    char how[64];

    if (WIFSIGNALED(status))
        snprintf(how, sizeof(how), "signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof(how), "status %d", WEXITSTATUS(status));
    if (pid == u->pid) {
        /*
         * Still starting: its word, if it wrote one, is on the pipe; else
         * the exit is the answer (something else holding the pipe open
         * must not keep us waiting for the deadline).
         */
        char msg[160];
        on_report(u->loop, u->report_fd, EV_READ, u);
        if (pid != u->pid)
            return;
        snprintf(msg, sizeof(msg), "the new usherd (pid %ld) exited (%s) before it was ready",
                 (long)pid, how);
        finish(u, false, msg);
    } else if (pid == u->handed_to) {
        log_warnx("upgrade: the usherd that took over (pid %ld) has exited (%s)", (long)pid, how);
        u->handed_to = 0;
    } else {
        log_debug("upgrade: the new usherd (pid %ld) exited (%s)", (long)pid, how);
    }
}

/* "i,j,k" of the owned sockets, or "-". */
static void owned_text(const struct upgrade_spec *spec, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < spec->nfds && len < size; i++)
        if (spec->owned[i])
            len += (size_t)snprintf(buf + len, size - len, "%s%zu", len ? "," : "", i);
    if (len == 0 || len >= size)
        snprintf(buf, size, "-");
}

/*
 * In the forked child: `src[0..n)` onto 3..3+n, everything else closed.
 * Moved out of the way first, so no source is overwritten before it is read.
 */
static int place_fds(const int *src, size_t n)
{
    int high[SD_LISTEN_FDS_MAX + 2];
    int base = 3 + (int)n;

    for (size_t i = 0; i < n; i++)
        base = src[i] >= base ? src[i] + 1 : base;
    for (size_t i = 0; i < n; i++)
        if ((high[i] = fcntl(src[i], F_DUPFD_CLOEXEC, base)) < 0)
            return -1;
    for (size_t i = 0; i < n; i++)
        if (dup2(high[i], 3 + (int)i) < 0) /* without close-on-exec */
            return -1;
    return fd_close_from(3 + (int)n, NULL, 0);
}

/* The successor's environment, in the child (one thread: setenv is safe). */
static int set_env(const struct upgrade_spec *spec, size_t nsock, int report, int pidfile)
{
    size_t owned_size = spec->nfds * 6 + 2, len = 0; /* "4095," a socket at most, or "-" */
    char num[32], *names, *owned, *up;

    names = malloc(spec->nfds * 256 + 1);
    owned = malloc(owned_size);
    up = malloc(owned_size + 64);
    if (names == NULL || owned == NULL || up == NULL)
        return -1; /* the process is about to fail: nothing to free for */
    names[0] = '\0';
    for (size_t i = 0; i < spec->nfds; i++)
        len += (size_t)snprintf(names + len, 257, "%s%.255s", i ? ":" : "", spec->names[i]);
    owned_text(spec, owned, owned_size);
    snprintf(up, owned_size + 64, "%d %d %s", report, pidfile, owned);
    snprintf(num, sizeof(num), "%ld", (long)getpid());
    if (setenv("LISTEN_PID", num, 1) < 0 || setenv("LISTEN_FDNAMES", names, 1) < 0)
        return -1;
    snprintf(num, sizeof(num), "%zu", nsock);
    if (setenv("LISTEN_FDS", num, 1) < 0 || setenv(UPGRADE_ENV, up, 1) < 0)
        return -1;
    if (sd_notify_socket() != NULL && setenv("NOTIFY_SOCKET", sd_notify_socket(), 1) < 0)
        return -1;
    return 0;
}

/* The forked child: become the successor, or say why not on the report pipe. */
static void __attribute__((noreturn))
become_successor(const struct upgrade *u, const struct upgrade_spec *spec, int report)
{
    int src[SD_LISTEN_FDS_MAX + 2];
    size_t n = spec->nfds;
    char msg[REPORT_MAX];
    bool placed = false;
    int err;

    memcpy(src, spec->fds, n * sizeof(*src));
    src[n] = report;
    if (spec->pidfile_fd >= 0)
        src[n + 1] = spec->pidfile_fd;
    sig_reset_child();
    if (place_fds(src, n + 1 + (spec->pidfile_fd >= 0)) == 0) {
        placed = true;
        if (set_env(spec, n, 3 + (int)n, spec->pidfile_fd >= 0 ? 4 + (int)n : -1) == 0)
            execve(u->exe, spec->argv, environ);
    }
    err = errno;
    snprintf(msg, sizeof(msg), "%cusherd: unable to execute %.900s: %s", 1, u->exe, strerror(err));
    /* The pipe is at 3 + n once placed, else still where it was (or gone: then nobody hears). */
    if (write(placed ? 3 + (int)n : report, msg, strlen(msg)) < 0) {
        /* the predecessor sees the pipe close */
    }
    _exit(127);
}

int upgrade_start(struct upgrade *u, const struct upgrade_spec *spec, char *err, size_t errlen)
{
    int p[2];
    pid_t pid;

    if (u->exe[0] == '\0') {
        snprintf(err, errlen, "the program file of this usherd is unknown (no /proc/self/exe)");
        return -1;
    }
    if (spec->nfds > SD_LISTEN_FDS_MAX) {
        snprintf(err, errlen, "more than %d listening sockets to hand over", SD_LISTEN_FDS_MAX);
        return -1;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "unable to make a pipe: %s", strerror(errno));
        return -1;
    }
    if ((pid = fork()) < 0) {
        snprintf(err, errlen, "unable to fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        become_successor(u, spec, p[1]);
    }
    close(p[1]);
    if (fd_set_nonblock(p[0]) < 0 || ev_io_add(u->loop, p[0], EV_READ, on_report, u) < 0 ||
        reaper_watch(u->reaper, pid, on_successor_exit, u) < 0) {
        snprintf(err, errlen, "unable to watch the new usherd: %s", strerror(errno));
        ev_io_del(u->loop, p[0]);
        close(p[0]);
        kill(pid, SIGKILL); /* reaped as a child nobody knows */
        return -1;
    }
    u->pid = pid;
    u->report_fd = p[0];
    ev_timer_init(&u->deadline, on_deadline, u);
    ev_timer_start(u->loop, &u->deadline, UPGRADE_TIMEOUT_MS);
    log_info("upgrade: started %s as pid %ld, handing it %zu listening sockets", u->exe, (long)pid,
             spec->nfds);
    return 0;
}

void upgrade_abort(struct upgrade *u, const char *why)
{
    char msg[256];

    if (!upgrade_running(u))
        return;
    /* SIGTERM: its workers may have taken connections already; it stops as gracefully. */
    if (kill(u->pid, SIGTERM) < 0 && errno != ESRCH)
        log_warn("upgrade: unable to signal pid %ld", (long)u->pid);
    snprintf(msg, sizeof(msg), "%s: the new usherd (pid %ld) is told to stop", why, (long)u->pid);
    finish(u, false, msg);
}

/* One descriptor number of the variable: > 2. */
static int parse_fd(const char *text, int *fd)
{
    int64_t v;

    if (parse_i64(text, -1, INT32_MAX, &v) < 0 || (v >= 0 && v <= 2))
        return -1;
    *fd = (int)v;
    return 0;
}

int upgrade_take_env(struct upgrade_inherited *up)
{
    const char *text = getenv(UPGRADE_ENV);
    char copy[256], *save = NULL, *report, *pidfile, *owned;

    memset(up, 0, sizeof(*up));
    up->report_fd = up->pidfile_fd = -1;
    if (text == NULL)
        return 0;
    str_copy(copy, sizeof(copy), text);
    unsetenv(UPGRADE_ENV);
    report = strtok_r(copy, " ", &save);
    pidfile = strtok_r(NULL, " ", &save);
    owned = strtok_r(NULL, " ", &save);
    if (report == NULL || pidfile == NULL || owned == NULL ||
        parse_fd(report, &up->report_fd) < 0 || up->report_fd < 0 ||
        parse_fd(pidfile, &up->pidfile_fd) < 0)
        goto bad;
    /* strtok_r would take ",," as one comma: the list is ours, so exactly as written. */
    if (strstr(owned, ",,") != NULL || owned[0] == ',' || owned[strlen(owned) - 1] == ',')
        goto bad;
    if ((up->owned = calloc(SD_LISTEN_FDS_MAX, sizeof(*up->owned))) == NULL)
        return -1;
    for (char *s = NULL, *tok = strcmp(owned, "-") == 0 ? NULL : strtok_r(owned, ",", &s);
         tok != NULL; tok = strtok_r(NULL, ",", &s)) {
        int64_t i;
        if (up->nowned == SD_LISTEN_FDS_MAX || parse_i64(tok, 0, SD_LISTEN_FDS_MAX - 1, &i) < 0)
            goto bad;
        up->owned[up->nowned++] = (unsigned)i;
    }
    if (fd_set_cloexec(up->report_fd) < 0)
        goto bad;
    up->predecessor = getppid();
    up->upgrading = true;
    return 0;
bad:
    upgrade_inherited_free(up);
    up->report_fd = -1;
    errno = EINVAL;
    return -1;
}

void upgrade_inherited_free(struct upgrade_inherited *up)
{
    free(up->owned);
    up->owned = NULL;
}
