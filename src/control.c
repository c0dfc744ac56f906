/*
 * control: `usherd -s`, through the control socket or with a signal (see
 * control.h).
 */
#include "control.h"

#include "json_parse.h"
#include "pidfile.h"
#include "upgrade.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define POLL_STEP_MS    20
#define ANSWER_MAX      (64 * 1024 * 1024)
#define ANSWER_WAIT_MS  30000                       /* a reload's, the counters' */
#define UPGRADE_WAIT_MS (UPGRADE_TIMEOUT_MS + 5000) /* the successor's start, and then some */

enum command { CMD_RELOAD, CMD_STOP, CMD_STATS, CMD_STATUS, CMD_UPGRADE };

static const struct {
    const char *name;
    int signo;           /* without the socket; 0: only look */
    const char *request; /* through the socket */
} commands[] = {
    [CMD_RELOAD] = {"reload", SIGHUP, "POST /reload"},
    [CMD_STOP] = {"stop", SIGTERM, "POST /stop"},
    [CMD_STATS] = {"stats", SIGUSR1, "GET /stats"},
    [CMD_STATUS] = {"status", 0, "GET /status"},
    [CMD_UPGRADE] = {"upgrade", SIGUSR2, "POST /upgrade"},
};

/* A response read whole (the daemon closes after it). */
struct answer {
    int status;
    char *body; /* NUL-terminated */
    size_t len;
};

/* The daemon's pid (> 0), or 0 after saying on stderr why there is none. */
static pid_t find_daemon(const char *pidfile)
{
    pid_t pid = pidfile_holder(pidfile);

    if (pid < 0 && errno == ELOOP) {
        fprintf(stderr, "usherd: pidfile %s is a symbolic link: refused (it is never followed)\n",
                pidfile);
        return 0;
    }
    if (pid < 0) {
        fprintf(stderr, "usherd: unable to read %s: %s\n", pidfile, strerror(errno));
        return 0;
    }
    if (pid == 0) {
        fprintf(stderr, "usherd: not running (%s is missing or held by no process)\n", pidfile);
        return 0;
    }
    return pid;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL); /* an EINTR only shortens one step of a bounded wait */
}

/*
 * Wait until `pid` has let go of the pidfile.  The lock goes with the
 * process (even before a parent reaps it, which kill(pid, 0) could not
 * tell), and a clean exit removes the file.
 */
static int wait_gone(const char *pidfile, pid_t pid, int64_t wait_ms)
{
    int64_t deadline = now_ms() + wait_ms;

    while (pidfile_holder(pidfile) == pid) {
        if (now_ms() >= deadline) {
            fprintf(stderr, "usherd: still running (pid %ld) after %lld ms\n", (long)pid,
                    (long long)wait_ms);
            return 1;
        }
        sleep_ms(POLL_STEP_MS);
    }
    return 0;
}

/* Without the socket, after SIGUSR2: wait until the pidfile names another holder. */
static int wait_upgraded(const char *pidfile, pid_t pid)
{
    int64_t deadline = now_ms() + UPGRADE_WAIT_MS;
    pid_t now;

    while ((now = pidfile_holder(pidfile)) == pid) {
        if (now_ms() >= deadline) {
            fprintf(stderr,
                    "usherd: pid %ld still holds %s after %d ms: the upgrade failed (its "
                    "log says why)\n",
                    (long)pid, pidfile, UPGRADE_WAIT_MS);
            return 1;
        }
        sleep_ms(POLL_STEP_MS);
    }
    if (now <= 0) {
        fprintf(stderr, "usherd: not running after the upgrade\n");
        return 1;
    }
    printf("upgraded: pid %ld -> %ld\n", (long)pid, (long)now);
    return 0;
}

/* Connected to the control socket `path`, or -1 (errno: nobody answers there). */
static int connect_control(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd;

    if (path == NULL || strlen(path) >= sizeof(sun.sun_path)) {
        errno = ENOENT;
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        close_quietly(fd);
        return -1;
    }
    return fd;
}

/*
 * Read until the daemon closes, within `wait_ms`.  Returns 0; or -1 with
 * errno ETIMEDOUT (nothing said), or after saying why.
 */
static int read_all(int fd, struct strbuf *b, int64_t wait_ms)
{
    int64_t deadline = now_ms() + wait_ms;
    char buf[16384];

    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        ssize_t n;
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        int ready = poll(&pfd, 1, (int)left);
        if (ready < 0 && errno != EINTR) {
            fprintf(stderr, "usherd: poll: %s\n", strerror(errno));
            return -1;
        }
        if (ready <= 0)
            continue; /* the deadline is looked at again */
        if ((n = read(fd, buf, sizeof(buf))) < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        /* Closed before a byte of answer: the request was never taken (a full daemon). */
        if (b->len == 0 && (n == 0 || (n < 0 && errno == ECONNRESET))) {
            errno = ECONNRESET;
            return -1;
        }
        if (n < 0) {
            fprintf(stderr, "usherd: reading the control socket: %s\n", strerror(errno));
            return -1;
        }
        if (n == 0)
            return 0;
        strbuf_add(b, buf, (size_t)n);
        if (b->failed) {
            fprintf(stderr, "usherd: the answer passes %d bytes\n", ANSWER_MAX);
            return -1;
        }
    }
}

/* "HTTP/1.1 NNN ...\r\nheaders\r\n\r\nbody": status and body.  Returns 0, or -1. */
static int parse_answer(struct strbuf *b, struct answer *a)
{
    char *end = b->p ? strstr(b->p, "\r\n\r\n") : NULL;

    if (end == NULL || strncmp(b->p, "HTTP/1.", 7) != 0 || b->len < 12 ||
        sscanf(b->p + 8, " %3d", &a->status) != 1) {
        fprintf(stderr, "usherd: the control socket's answer is not HTTP\n");
        return -1;
    }
    a->body = end + 4;
    a->len = b->len - (size_t)(a->body - b->p);
    return 0;
}

/* The whole request; MSG_NOSIGNAL: a daemon that closed on us is an error, not our death. */
static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/*
 * Ask `request` ("POST /reload") on the control socket `fd` (closed here),
 * waiting up to `wait_ms` for the answer.  Returns 0 with the answer (its
 * body in b); or -1 with errno ETIMEDOUT, ECONNRESET (the daemon closed
 * before answering: the request was not taken), or after saying why.
 */
static int ask(int fd, const char *request, int64_t wait_ms, struct strbuf *b, struct answer *a)
{
    char req[256];
    int n = snprintf(
        req, sizeof(req),
        "%s HTTP/1.1\r\nHost: usherd\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", request);
    int rc = -1;

    if (send_all(fd, req, (size_t)n) < 0) {
        if (errno == EPIPE)
            errno = ECONNRESET;
        if (errno != ECONNRESET)
            fprintf(stderr, "usherd: writing to the control socket: %s\n", strerror(errno));
    } else if (read_all(fd, b, wait_ms) == 0)
        rc = parse_answer(b, a);
    close_quietly(fd);
    return rc;
}

/* The pid in /status's JSON, or 0. */
static long status_pid(const struct answer *a)
{
    struct json_doc doc = {0};
    const struct json_value *v;
    uint64_t pid = 0;
    char err[128];

    if (json_parse(a->body, a->len, &doc, err, sizeof(err)) < 0)
        return 0;
    if (json_member(&doc, json_root(&doc), "pid", &v) < 0 || json_u64(v, &pid) < 0)
        pid = 0;
    json_free(&doc);
    return (long)pid;
}

/* What the answer to `cmd` means for the caller: printed, and the exit status. */
static int tell(enum command cmd, const struct answer *a, const char *pidfile, pid_t pid,
                int64_t stop_wait_ms)
{
    FILE *out = a->status == 200 ? stdout : stderr;

    if (cmd == CMD_STATUS && a->status == 200) {
        long shown = status_pid(a);
        printf("running (pid %ld)\n", shown > 0 ? shown : (long)pid);
        return 0;
    }
    if (a->len > 0 && !(cmd == CMD_STOP && a->status == 200)) { /* a stop is silent */
        if (out == stderr)
            fputs("usherd: ", stderr);
        fwrite(a->body, 1, a->len, out);
        if (a->body[a->len - 1] != '\n')
            fputc('\n', out);
    }
    if (a->status != 200)
        return 1;
    if (cmd == CMD_STOP && pid > 0)
        return wait_gone(pidfile, pid, stop_wait_ms);
    return 0;
}

static int by_signal(enum command cmd, const char *pidfile, int64_t stop_wait_ms);

/* Through the control socket `fd`: the request of `cmd`, its answer told. */
static int by_socket(enum command cmd, int fd, const char *pidfile, int64_t stop_wait_ms)
{
    int64_t started = now_ms(), wait_ms = cmd == CMD_STOP      ? stop_wait_ms
                                          : cmd == CMD_UPGRADE ? UPGRADE_WAIT_MS
                                                               : ANSWER_WAIT_MS;
    pid_t pid = pidfile_holder(pidfile);
    struct strbuf b;
    struct answer a;
    int rc = 1;

    strbuf_init(&b, ANSWER_MAX);
    if (ask(fd, commands[cmd].request, wait_ms, &b, &a) == 0) {
        rc = tell(cmd, &a, pidfile, pid, stop_wait_ms - (now_ms() - started));
    } else if (errno == ECONNRESET) {
        rc = by_signal(cmd, pidfile, stop_wait_ms); /* nobody took the request */
    } else if (errno == ETIMEDOUT && cmd == CMD_STOP && pid > 0) {
        fprintf(stderr, "usherd: still running (pid %ld) after %lld ms\n", (long)pid,
                (long long)wait_ms);
    } else if (errno == ETIMEDOUT) {
        fprintf(stderr, "usherd: no answer on the control socket after %lld ms\n",
                (long long)wait_ms);
    }
    strbuf_free(&b);
    return rc;
}

/*
 * Does `pid` catch `signo` (SigCgt of /proc/PID/status)?  True when that
 * cannot be read: then the signal is sent as asked.
 */
static bool catches(pid_t pid, int signo)
{
    char path[64], line[256];
    unsigned long long mask = ~0ULL;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    if ((f = fopen(path, "re")) == NULL)
        return true;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "SigCgt:", 7) == 0)
            mask = strtoull(line + 7, NULL, 16);
    fclose(f);
    return (mask >> (signo - 1)) & 1;
}

/* Without the socket: the signal, as before there was one. */
static int by_signal(enum command cmd, const char *pidfile, int64_t stop_wait_ms)
{
    pid_t pid = find_daemon(pidfile);

    if (pid == 0)
        return 1;
    /* SIGUSR2's default action ends a process: an usherd that does not catch it would die. */
    if (cmd == CMD_UPGRADE && !catches(pid, SIGUSR2)) {
        fprintf(stderr,
                "usherd: pid %ld does not catch SIGUSR2 (an usherd older than upgrades?): not "
                "signalled; restart it instead\n",
                (long)pid);
        return 1;
    }
    if (commands[cmd].signo == 0) {
        printf("running (pid %ld)\n", (long)pid);
        return 0;
    }
    if (kill(pid, commands[cmd].signo) < 0) {
        fprintf(stderr, "usherd: unable to signal pid %ld: %s\n", (long)pid, strerror(errno));
        return 1;
    }
    if (cmd == CMD_STOP)
        return wait_gone(pidfile, pid, stop_wait_ms);
    if (cmd == CMD_UPGRADE)
        return wait_upgraded(pidfile, pid);
    return 0;
}

int control_run(const char *command, const char *pidfile, const char *socket_path,
                int64_t stop_wait_ms)
{
    for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
        enum command cmd = (enum command)i;
        int fd;
        if (strcmp(commands[i].name, command) != 0)
            continue;
        if ((fd = connect_control(socket_path)) < 0)
            return by_signal(cmd, pidfile, stop_wait_ms);
        return by_socket(cmd, fd, pidfile, stop_wait_ms);
    }
    fprintf(stderr, "usherd: -s %s: expected reload, stop, stats, status or upgrade\n", command);
    return 2;
}
