/*
 * harness: driving usherd, usher and other programs from C tests.
 */
#include "harness.h"

#include "addr.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define H_MAX_DAEMONS 16
#define H_START_MS    10000
#define H_MAX_SYSLOGS 8
#define H_MAX_GUARDS  8

static char tmpdir[256];
static struct h_daemon *daemons[H_MAX_DAEMONS];
static int ndaemons;
static struct h_syslog *syslogs[H_MAX_SYSLOGS];
static int nsyslogs;
/* Pidfiles whose lock holder dies with a timed-out case (h_guard_pidfile). */
static char guards[H_MAX_GUARDS][320];
static volatile sig_atomic_t nguards;

int64_t h_now_ms(void)
{
    return now_ms();
}

static int scaled(int ms)
{
    return ms * (int)t_scale();
}

/* $USHER_BUILD/name, absolute if it exists (tests may change directory). */
static const char *program(char *path, size_t size, const char *name)
{
    const char *build = getenv("USHER_BUILD");
    char given[512];

    snprintf(given, sizeof(given), "%s/%s", build ? build : "build", name);
    if (strlen(given) >= size || realpath(given, path) == NULL)
        snprintf(path, size, "%s", given);
    return path;
}

const char *h_usherd(void)
{
    static char path[PATH_MAX];

    return path[0] ? path : program(path, sizeof(path), "usherd");
}

const char *h_usher(void)
{
    static char path[PATH_MAX];

    return path[0] ? path : program(path, sizeof(path), "usher");
}

/* Before any case runs, and so before any test changes directory. */
__attribute__((constructor)) static void resolve_programs(void)
{
    h_usherd();
    h_usher();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* Does `path` hold a report from ASan, LSan or UBSan?  Says so. */
static bool sanitizer_report_in(const struct h_daemon *d, const char *path)
{
    static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                        "runtime error:"};
    char *log = h_read_file(path);
    bool found = false;

    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]) && !found; i++) {
        const char *at = strstr(log, marks[i]);
        if (at != NULL) {
            fprintf(stderr, "    usherd (pid %ld) reported a sanitizer error:\n%.4000s\n",
                    (long)d->pid, at);
            found = true;
        }
    }
    free(log);
    return found;
}

/* In the daemon's log, or in the files of a detached one (see h_start_detached). */
static bool sanitizer_report(const struct h_daemon *d)
{
    char pattern[400];
    bool found = sanitizer_report_in(d, d->log_path);
    glob_t g;

    snprintf(pattern, sizeof(pattern), "%s/sanitizer.*", d->dir);
    if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
        return found;
    for (size_t i = 0; i < g.gl_pathc; i++)
        found |= sanitizer_report_in(d, g.gl_pathv[i]);
    globfree(&g);
    return found;
}

/* A test on one /proc/PID (PID as its directory name). */
typedef bool proc_match(const char *pid, const void *arg);

/*
 * The processes that `match` takes: their count, and the first `max` pids
 * in `pids` unless it is NULL; -1 if /proc cannot be read.
 */
static int scan_procs(proc_match *match, const void *arg, pid_t *pids, int max)
{
    DIR *dir = opendir("/proc");
    struct dirent *e;
    int n = 0;

    if (dir == NULL)
        return -1;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9' || !match(e->d_name, arg))
            continue;
        if (pids != NULL && n < max)
            pids[n] = (pid_t)strtol(e->d_name, NULL, 10);
        n++;
    }
    closedir(dir);
    return n;
}

/* Which children of `parent`: any, only zombies, or only the living. */
struct child_filter {
    pid_t parent;
    enum { ANY_CHILD, ZOMBIE_CHILD, LIVE_CHILD } which;
};

static bool is_child(const char *pid, const void *arg)
{
    const struct child_filter *f = arg;
    char path[300], text[1024], *close_paren, state;
    long ppid;
    ssize_t len;
    int fd;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false; /* gone meanwhile */
    len = read_full(fd, text, sizeof(text) - 1);
    close(fd);
    if (len <= 0)
        return false;
    text[len] = '\0';
    /* "pid (comm) S ppid ...": comm may hold anything, ")" too. */
    close_paren = strrchr(text, ')');
    if (close_paren == NULL || sscanf(close_paren + 1, " %c %ld", &state, &ppid) != 2 ||
        ppid != (long)f->parent)
        return false;
    return f->which == ANY_CHILD || (state == 'Z') == (f->which == ZOMBIE_CHILD);
}

static int children_of(pid_t parent, int which, pid_t *pids, int max)
{
    struct child_filter f = {parent, which};

    return scan_procs(is_child, &f, pids, max);
}

/*
 * A daemon's exec children have sessions and process groups of their own,
 * out of reach of the runner's kill of the test's group: end them (and
 * their groups) by pid.
 */
static void kill_children(pid_t parent)
{
    pid_t pids[4096];
    int n = children_of(parent, LIVE_CHILD, pids, 4096);

    for (int i = 0; i < n && i < 4096; i++) {
        kill(-pids[i], SIGKILL);
        kill(pids[i], SIGKILL);
    }
}

/*
 * At the end of the case: daemons first (they may hold files), with their
 * exec children, then the directory.  A sanitizer report in any daemon's
 * log fails the case, even one that passed otherwise.
 */
static void cleanup(void)
{
    bool reported = false;

    for (int i = 0; i < ndaemons; i++)
        reported |= sanitizer_report(daemons[i]);
    for (int i = 0; i < ndaemons; i++) {
        if (daemons[i]->pid > 0) {
            kill(daemons[i]->pid, SIGSTOP); /* no new children meanwhile */
            kill_children(daemons[i]->pid);
            kill(daemons[i]->pid, SIGKILL);
            waitpid(daemons[i]->pid, NULL, 0);
            daemons[i]->pid = 0;
        }
    }
    /* A detached daemon nobody knew the pid of (its start failed half-way). */
    for (int i = 0; i < nguards; i++) {
        pid_t holder = h_lock_holder(guards[i]);
        if (holder > 0 && holder != getpid()) {
            kill(holder, SIGKILL);
            waitpid(holder, NULL, 0); /* ECHILD if it is not ours to reap */
        }
    }
    nguards = 0;
    for (int i = 0; i < ndaemons; i++)
        free(daemons[i]);
    ndaemons = 0;
    for (int i = 0; i < nsyslogs; i++) {
        h_syslog_stop(syslogs[i]);
        free(syslogs[i]);
    }
    nsyslogs = 0;
    if (tmpdir[0] != '\0')
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    tmpdir[0] = '\0';
    if (reported)
        _exit(1);
}

static void register_cleanup(void)
{
    static bool registered;

    if (!registered)
        t_at_end(cleanup);
    registered = true;
}

const char *h_tmpdir(void)
{
    if (tmpdir[0] != '\0')
        return tmpdir;
    /* Named after our process group, so the runner can sweep it after a timeout. */
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/usher-t%ld-XXXXXX", (long)getpgrp());
    if (mkdtemp(tmpdir) == NULL)
        T_FAIL("mkdtemp: %s", strerror(errno));
    chmod(tmpdir, 0755);
    register_cleanup();
    return tmpdir;
}

char *h_fmt(const char *f, ...)
{
    va_list ap;
    char *s;

    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0)
        T_FAIL("out of memory");
    va_end(ap);
    return s;
}

void h_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0 || write_all(fd, text, strlen(text)) < 0)
        T_FAIL("writing %s: %s", path, strerror(errno));
    close(fd);
}

/* Replace every "@DIR@" in `text` with `dir`, and "@SYSLOG@" with dir's syslog target. */
static char *expand(const char *text, const char *dir)
{
    size_t cap = strlen(text) * 2 + 4096, len = 0;
    char *out = malloc(cap);

    if (out == NULL)
        T_FAIL("out of memory");
    for (const char *p = text; *p;) {
        if (strncmp(p, "@DIR@", 5) == 0) {
            len += (size_t)snprintf(out + len, cap - len, "%s", dir);
            p += 5;
        } else if (strncmp(p, "@SYSLOG@", 8) == 0) {
            len += (size_t)snprintf(out + len, cap - len, "syslog:unix:%s/syslog.sock", dir);
            p += 8;
        } else {
            out[len++] = *p++;
        }
        if (len + 512 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            if (out == NULL)
                T_FAIL("out of memory");
        }
    }
    out[len] = '\0';
    return out;
}

/* The test model ---------------------------------------------------------- */

const char *h_model(void)
{
    const char *m = getenv("USHER_TEST_MODEL");

    return m != NULL && m[0] != '\0' ? m : "event";
}

/* N of "prefork:N" / "workers:N" in `model`, else 1. */
static unsigned model_procs(const char *model)
{
    const char *colon = strchr(model, ':');
    long n = colon != NULL ? strtol(colon + 1, NULL, 10) : 1;

    return n >= 1 && n <= 256 ? (unsigned)n : 1;
}

unsigned h_model_procs(void)
{
    return model_procs(h_model());
}

/* Does `line` set `key` ("builtin = echo" for "builtin")? */
static bool line_has_key(const char *line, size_t len, const char *key)
{
    size_t klen = strlen(key);

    while (len > 0 && (*line == ' ' || *line == '\t'))
        line++, len--;
    if (len <= klen || strncmp(line, key, klen) != 0)
        return false;
    for (line += klen, len -= klen; len > 0 && (*line == ' ' || *line == '\t'); line++, len--)
        ;
    return len > 0 && *line == '=';
}

static bool line_is_section(const char *line, size_t len, const char *name)
{
    while (len > 0 && (*line == ' ' || *line == '\t'))
        line++, len--;
    if (len == 0 || *line != '[')
        return false;
    return name == NULL || (len > strlen(name) + 1 && strncmp(line + 1, name, strlen(name)) == 0 &&
                            line[strlen(name) + 1] == ']');
}

/* Append `n` bytes to a growing buffer. */
static void append(char **buf, size_t *len, size_t *cap, const char *text, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        if (*buf == NULL)
            T_FAIL("out of memory");
    }
    memcpy(*buf + *len, text, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* "model = X" at the end of every builtin section without a model line. */
static char *add_service_model(const char *conf, const char *model)
{
    char *out = NULL, line[64];
    size_t len = 0, cap = 0;
    const char *sect = NULL; /* start of the current service section */
    bool builtin = false, has_model = false;

    snprintf(line, sizeof(line), "model = %s\n", model);
    append(&out, &len, &cap, "", 0);
    for (const char *p = conf;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
        bool end = n == 0, header = !end && line_is_section(p, n, NULL);
        if ((end || header) && sect != NULL && builtin && !has_model) {
            if (len > 0 && out[len - 1] != '\n')
                append(&out, &len, &cap, "\n", 1);
            append(&out, &len, &cap, line, strlen(line));
        }
        if (end)
            break;
        if (header) {
            sect = line_is_section(p, n, "global") ? NULL : p;
            builtin = has_model = false;
        } else if (sect != NULL) {
            builtin |= line_has_key(p, n, "builtin");
            has_model |= line_has_key(p, n, "model");
        }
        append(&out, &len, &cap, p, n);
        p += n;
    }
    return out;
}

/* "workers = N" in [global], made at the top if there is none. */
static char *add_workers(const char *conf, unsigned n)
{
    char *out = NULL, line[64];
    size_t len = 0, cap = 0;
    const char *global = NULL, *after = NULL;

    snprintf(line, sizeof(line), "workers = %u\n", n);
    for (const char *p = conf; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t ln = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
        if (global == NULL && line_is_section(p, ln, "global")) {
            global = p;
            after = p + ln;
        } else if (global != NULL && line_is_section(p, ln, NULL)) {
            break;
        } else if (global != NULL && line_has_key(p, ln, "workers")) {
            return strdup(conf); /* the test chose its own number */
        }
        p += ln;
    }
    append(&out, &len, &cap, "", 0);
    if (global == NULL) {
        append(&out, &len, &cap, "[global]\n", 9);
        append(&out, &len, &cap, line, strlen(line));
        append(&out, &len, &cap, conf, strlen(conf));
        return out;
    }
    append(&out, &len, &cap, conf, (size_t)(after - conf));
    if (len > 0 && out[len - 1] != '\n')
        append(&out, &len, &cap, "\n", 1);
    append(&out, &len, &cap, line, strlen(line));
    append(&out, &len, &cap, after, strlen(after));
    return out;
}

/* The config text rewritten for the test model (malloc'd); `applied` gets the model or "". */
static char *apply_model(const char *conf, char *applied, size_t size)
{
    const char *model = h_model();

    char *text;

    applied[0] = '\0';
    if (strcmp(model, "event") == 0)
        return strdup(conf);
    if (strcmp(model, "fork") == 0 || strncmp(model, "prefork:", 8) == 0)
        text = add_service_model(conf, model);
    else if (strncmp(model, "workers:", 8) == 0)
        text = add_workers(conf, model_procs(model));
    else
        T_FAIL("USHER_TEST_MODEL=%s: not event, fork, prefork:N or workers:N", model);
    /* Only a config the model changed runs under it (not one with its own workers line). */
    if (strcmp(text, conf) != 0)
        snprintf(applied, size, "%s", model);
    return text;
}

/* A daemon's record and directory; the config written with the test model if `model`. */
int h_grace_ms(void)
{
    return H_GRACE_MS * (int)t_scale();
}

static struct h_daemon *prepare_model(const char *conf, bool model)
{
    struct h_daemon *d = calloc(1, sizeof(*d));
    char *text, *rewritten, grace[16];

    if (d == NULL)
        T_FAIL("out of memory");
    /* For this daemon and whatever else the test starts (see h_grace_ms). */
    snprintf(grace, sizeof(grace), "%d", h_grace_ms());
    if (setenv(GRACE_TEST_ENV, grace, 1) < 0)
        T_FAIL("setenv %s: %s", GRACE_TEST_ENV, strerror(errno));
    if (ndaemons == H_MAX_DAEMONS)
        T_FAIL("too many daemons in one test");
    daemons[ndaemons++] = d;
    snprintf(d->dir, sizeof(d->dir), "%s/d%d", h_tmpdir(), ndaemons);
    if (mkdir(d->dir, 0755) < 0)
        T_FAIL("mkdir %s: %s", d->dir, strerror(errno));
    snprintf(d->log_path, sizeof(d->log_path), "%s/usherd.log", d->dir);
    if (conf == NULL)
        return d; /* no -f: usherd picks its own configuration */
    snprintf(d->conf_path, sizeof(d->conf_path), "%s/usherd.conf", d->dir);
    rewritten = model ? apply_model(conf, d->model, sizeof(d->model)) : strdup(conf);
    text = expand(rewritten, d->dir);
    h_write_file(d->conf_path, text);
    free(rewritten);
    free(text);
    if (strstr(conf, "@SYSLOG@") != NULL) {
        char sock[400];
        snprintf(sock, sizeof(sock), "unix:%s/syslog.sock", d->dir);
        h_syslog_start(sock, d->log_path);
    }
    return d;
}

static struct h_daemon *prepare(const char *conf)
{
    return prepare_model(conf, false);
}

/*
 * In a child about to exec: the dispositions and mask a program gets from
 * a shell.  The runner ignores SIGPIPE, and an ignored signal stays ignored
 * across exec: usherd must be seen to ignore it itself.
 */
static void reset_signals(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigset_t none;

    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Socket activation for spawn_argv (see h_spawn_activated). */
struct activation {
    const int *fds;
    int nfds;
    const char *names;
    pid_t listen_pid;
};

/* In the child: fds at 3, 4, ... and nothing else above 2; the LISTEN_* variables. */
static void activate(const struct activation *act)
{
    int moved[64];
    char text[32];

    if (act->nfds > 64)
        _exit(122);
    /* Out of the way first: a source may sit where another is going. */
    for (int i = 0; i < act->nfds; i++)
        if ((moved[i] = fcntl(act->fds[i], F_DUPFD_CLOEXEC, 100)) < 0)
            _exit(122);
    for (int i = 0; i < act->nfds; i++)
        if (dup2(moved[i], 3 + i) < 0)
            _exit(122);
    close_range(3 + (unsigned)act->nfds, ~0U, 0);
    snprintf(text, sizeof(text), "%ld", (long)(act->listen_pid ? act->listen_pid : getpid()));
    setenv("LISTEN_PID", text, 1);
    snprintf(text, sizeof(text), "%d", act->nfds);
    setenv("LISTEN_FDS", text, 1);
    if (act->names != NULL)
        setenv("LISTEN_FDNAMES", act->names, 1);
}

/* Start `wrapper...` (may be NULL) usherd [-f CONF] `extra...` with stderr to the log,
 * socket-activated if `act` is not NULL. */
static void spawn_act(struct h_daemon *d, const char *const *wrapper, const char *const *extra,
                      const struct activation *act)
{
    const char *argv[64];
    int argc = 0;
    bool wrapped = wrapper != NULL;

    for (; wrapper != NULL && *wrapper != NULL && argc < 40; wrapper++)
        argv[argc++] = *wrapper;
    argv[argc++] = h_usherd();
    if (d->conf_path[0] != '\0') {
        argv[argc++] = "-f";
        argv[argc++] = d->conf_path;
    }
    for (; *extra != NULL && argc < 62; extra++)
        argv[argc++] = *extra;
    argv[argc] = NULL;
    d->pid = fork();
    if (d->pid < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (d->pid == 0) {
        int log = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int null = open("/dev/null", O_RDONLY);
        reset_signals();
        if (log < 0 || null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
            _exit(120);
        if (act != NULL)
            activate(act);
        if (wrapped)
            execvp(argv[0], (char *const *)argv);
        else
            execv(argv[0], (char *const *)argv);
        _exit(121);
    }
}

static void spawn_argv(struct h_daemon *d, const char *const *wrapper, const char *const *extra)
{
    spawn_act(d, wrapper, extra, NULL);
}

static void spawn(struct h_daemon *d, va_list ap)
{
    const char *extra[48];
    int n = 0;
    const char *arg;

    while ((arg = va_arg(ap, const char *)) != NULL && n < 47)
        extra[n++] = arg;
    extra[n] = NULL;
    spawn_argv(d, NULL, extra);
}

void h_parse_listens(struct h_daemon *d)
{
    char *log = h_log(d), *line, *save = NULL;

    d->nlistens = 0;
    for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *svc = strstr(line, "listening service="), *addr;
        if (svc == NULL || d->nlistens == H_MAX_LISTENS)
            continue;
        addr = strstr(svc, " addr=");
        if (addr == NULL)
            continue;
        *addr = '\0';
        snprintf(d->listens[d->nlistens].service, sizeof(d->listens[0].service), "%s",
                 svc + strlen("listening service="));
        addr += strlen(" addr=");
        if (strstr(line, "{\"time\":\"") != NULL) /* log_format = json: msg ends at its quote */
            addr[strcspn(addr, "\"")] = '\0';
        snprintf(d->listens[d->nlistens].addr, sizeof(d->listens[0].addr), "%s", addr);
        d->nlistens++;
    }
    free(log);
}

struct h_daemon *h_spawn(const char *conf, ...)
{
    struct h_daemon *d = prepare_model(conf, true);
    va_list ap;

    va_start(ap, conf);
    spawn(d, ap);
    va_end(ap);
    return d;
}

int h_children(pid_t parent, pid_t *pids, int max)
{
    int n = children_of(parent, ANY_CHILD, pids, max);

    if (n < 0)
        T_FAIL("opendir /proc: %s", strerror(errno));
    return n;
}

static bool owned_by(const char *pid, const void *arg)
{
    char path[300];
    struct stat st;

    snprintf(path, sizeof(path), "/proc/%s", pid);
    return stat(path, &st) == 0 && st.st_uid == *(const uid_t *)arg;
}

int h_processes_of(uid_t uid)
{
    int n = scan_procs(owned_by, &uid, NULL, 0);

    if (n < 0)
        T_FAIL("opendir /proc: %s", strerror(errno));
    return n;
}

bool h_proc_settled(pid_t pid)
{
    char path[64], line[256];
    char state = '?';
    unsigned long long caught = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    if ((f = fopen(path, "re")) == NULL)
        return false;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "State:", 6) == 0)
            sscanf(line + 6, " %c", &state);
        else if (strncmp(line, "SigCgt:", 7) == 0)
            caught = strtoull(line + 7, NULL, 16);
    }
    fclose(f);
    return state == 'S' && (caught & (1ull << (SIGUSR1 - 1))) != 0;
}

/*
 * Under a multi-process test model: are the daemon's processes there, and
 * each in its loop?  (A process signalled before it has set up its signal
 * handling loses the signal, or dies of it: see h_proc_settled.)
 */
static bool model_procs_up(const struct h_daemon *d)
{
    pid_t pids[512];
    int n;

    if (d->model[0] == '\0' || strcmp(d->model, "fork") == 0)
        return true;
    n = h_children(d->pid, pids, (int)ARRAY_LEN(pids));
    if (n < (int)model_procs(d->model) || n > (int)ARRAY_LEN(pids))
        return false;
    for (int i = 0; i < n; i++)
        if (!h_proc_settled(pids[i]))
            return false;
    return true;
}

struct h_daemon *h_wait_ready(struct h_daemon *d)
{
    int64_t deadline = h_now_ms() + scaled(H_START_MS);

    while (h_now_ms() < deadline) {
        int status;
        /* On stderr "usherd: ready: ...", from syslog "usherd[PID]: ready: ...",
         * in JSON "msg":"ready: ..."; under a test model, its processes settled too. */
        if ((h_count_log(d, "usherd: ready") > 0 || h_count_log(d, "]: ready: ") > 0 ||
             h_count_log(d, "\"msg\":\"ready: ") > 0) &&
            model_procs_up(d)) {
            h_parse_listens(d);
            return d;
        }
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            char *log = h_log(d);
            d->pid = 0;
            T_FAIL("usherd exited during start-up (status %d):\n%s", status, log);
        }
        usleep(5000);
    }
    T_FAIL("usherd did not become ready%s within %d ms",
           model_procs_up(d) ? "" : " with the processes of the test model", scaled(H_START_MS));
}

struct h_daemon *h_start(const char *conf, ...)
{
    struct h_daemon *d = prepare_model(conf, true);
    va_list ap;

    va_start(ap, conf);
    spawn(d, ap);
    va_end(ap);
    return h_wait_ready(d);
}

struct h_daemon *h_start_wrapped(const char *conf, const char *const wrapper[])
{
    static const char *const none[] = {NULL};
    struct h_daemon *d = prepare_model(conf, true);

    spawn_argv(d, wrapper, none);
    return h_wait_ready(d);
}

struct h_daemon *h_spawn_wrapped(const char *conf, const char *const wrapper[])
{
    static const char *const none[] = {NULL};
    struct h_daemon *d = prepare(conf);

    spawn_argv(d, wrapper, none);
    return d;
}

int h_usherd_run(const char *conf, char **output, ...)
{
    struct h_daemon *d = prepare(conf);
    va_list ap;

    va_start(ap, output);
    spawn(d, ap);
    va_end(ap);
    if (!h_wait_exit(d, 10000))
        T_FAIL("usherd did not exit within 10 s");
    *output = h_log(d);
    return d->exit_status;
}

const char *h_addr(const struct h_daemon *d, const char *service, const char *prefix)
{
    for (int i = 0; i < d->nlistens; i++)
        if (strcmp(d->listens[i].service, service) == 0 &&
            strncmp(d->listens[i].addr, prefix, strlen(prefix)) == 0)
            return d->listens[i].addr;
    T_FAIL("no listener of service %s starting with %s", service, prefix);
}

char *h_read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    ssize_t n;

    if (text == NULL)
        T_FAIL("out of memory");
    text[0] = '\0';
    if (fd < 0)
        return text;
    /* To the end, whatever st_size says (0 for the files of /proc). */
    for (;;) {
        if (len + 1 == cap && (text = realloc(text, cap *= 2)) == NULL)
            T_FAIL("out of memory");
        n = read(fd, text + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    text[len] = '\0';
    return text;
}

char *h_log(const struct h_daemon *d)
{
    return h_read_file(d->log_path);
}

int h_count_file(const char *path, const char *needle)
{
    char *log = h_read_file(path);
    int n = 0;

    for (const char *p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(log);
    return n;
}

int h_count_log(const struct h_daemon *d, const char *needle)
{
    return h_count_file(d->log_path, needle);
}

bool h_wait_file(const char *path, const char *needle, int n, int ms)
{
    int64_t deadline = h_now_ms() + scaled(ms);

    do {
        if (h_count_file(path, needle) >= n)
            return true;
        usleep(5000);
    } while (h_now_ms() < deadline);
    return false;
}

bool h_wait_log(const struct h_daemon *d, const char *needle, int ms)
{
    return h_wait_file(d->log_path, needle, 1, ms);
}

bool h_wait_exit(struct h_daemon *d, int ms)
{
    int64_t deadline = h_now_ms() + scaled(ms);
    int status;

    if (d->pid <= 0)
        return true;
    do {
        pid_t r = waitpid(d->pid, &status, WNOHANG);
        if (r == d->pid) {
            d->pid = 0;
            d->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return true;
        }
        usleep(2000);
    } while (h_now_ms() < deadline);
    return false;
}

int h_stop(struct h_daemon *d)
{
    if (d->pid <= 0)
        return d->exit_status;
    if (kill(d->pid, SIGTERM) < 0)
        T_FAIL("kill usherd: %s", strerror(errno));
    if (!h_wait_exit(d, 15000))
        T_FAIL("usherd did not stop within 15 s of SIGTERM");
    if (d->exit_status >= 128)
        T_FAIL("usherd died of signal %d", d->exit_status - 128);
    return d->exit_status;
}

void h_set_timeout(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Parse an address as usherd logs it; "*" stands for loopback. */
static int resolve(const char *text, struct addr *a)
{
    struct addr_spec spec;
    char err[256];

    if (addr_parse(text, &spec, err, sizeof(err)) < 0)
        T_FAIL("bad address %s: %s", text, err);
    if (strcmp(spec.host, "*") == 0)
        snprintf(spec.host, sizeof(spec.host), "127.0.0.1");
    if (addr_resolve(&spec, false, a, 1, err, sizeof(err)) < 0)
        T_FAIL("cannot resolve %s: %s", text, err);
    return 0;
}

/* Is `port` that of a UDP listener of a daemon this test started? */
static bool daemon_udp_port(int port)
{
    for (int i = 0; i < ndaemons; i++)
        for (int j = 0; j < daemons[i]->nlistens; j++)
            if (strncmp(daemons[i]->listens[j].addr, "udp://", 6) == 0 &&
                h_port(daemons[i]->listens[j].addr) == port)
                return true;
    return false;
}

/* The local port of a socket, or -1. */
static int local_port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

int h_local_port(int fd)
{
    int port;

    errno = 0;
    if ((port = local_port_of(fd)) < 0)
        T_FAIL("no local port of descriptor %d: %s", fd,
               errno != 0 ? strerror(errno) : "not an IP socket");
    return port;
}

/* A socket of `target`'s kind connected to it; -1 with errno. */
static int connect_once(const struct addr *target)
{
    struct addr a = *target;
    int fd;

    fd = socket(a.ss.ss_family, addr_kind_socktype(a.kind) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    h_set_timeout(fd, scaled(10000));
    if (a.kind == ADDR_UNIXGRAM) {
        /* Autobind, so that replies have somewhere to go. */
        sa_family_t fam = AF_UNIX;
        if (bind(fd, (struct sockaddr *)&fam, sizeof(fam)) < 0) {
            close_quietly(fd);
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&a.ss, a.len) < 0) {
        close_quietly(fd);
        return -1;
    }
    return fd;
}

int h_connect_raw(const char *text)
{
    struct addr a;
    int fd, taken[8], ntaken = 0;

    resolve(text, &a);
    /*
     * A UDP client socket whose ephemeral port happens to be a port usherd
     * serves a UDP builtin on (the other address family's) would, rightly,
     * never be answered (SPEC 4, no loops): take another one.
     */
    while ((fd = connect_once(&a)) >= 0 && a.kind == ADDR_UDP && ntaken < 8 &&
           daemon_udp_port(local_port_of(fd)))
        taken[ntaken++] = fd; /* kept open meanwhile, so that the next port differs */
    while (ntaken > 0)
        close_quietly(taken[--ntaken]);
    return fd;
}

int h_connect(const char *addr)
{
    int fd = h_connect_raw(addr);

    if (fd < 0)
        T_FAIL("connect %s: %s", addr, strerror(errno));
    return fd;
}

void h_send(int fd, const void *buf, size_t len)
{
    if (write_all(fd, buf, len) < 0)
        T_FAIL("send: %s", strerror(errno));
}

void h_send_str(int fd, const char *s)
{
    h_send(fd, s, strlen(s));
}

void h_recv_exact(int fd, void *buf, size_t len)
{
    ssize_t n = read_full(fd, buf, len);

    if (n < 0)
        T_FAIL("recv: %s", strerror(errno));
    if ((size_t)n != len)
        T_FAIL("recv: got %zd bytes before EOF, wanted %zu", n, len);
}

void h_echo_roundtrip(int fd, const char *msg)
{
    size_t len = strlen(msg);
    char *buf = malloc(len + 1);

    if (buf == NULL)
        T_FAIL("out of memory");
    h_send(fd, msg, len);
    h_recv_exact(fd, buf, len);
    if (memcmp(buf, msg, len) != 0)
        T_FAIL("wrong echo of \"%s\": \"%.*s\"", msg, (int)len, buf);
    free(buf);
}

size_t h_recv_all(int fd, char *buf, size_t cap)
{
    ssize_t n = read_full(fd, buf, cap);

    if (n < 0)
        T_FAIL("recv: %s", strerror(errno));
    if ((size_t)n < cap)
        buf[n] = '\0';
    return (size_t)n;
}

void h_recv_line(int fd, char *buf, size_t cap)
{
    size_t len = 0;

    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            T_FAIL("recv line: %s", strerror(errno));
        if (n == 0)
            T_FAIL("recv line: EOF after %zu bytes", len);
        if (buf[len] == '\n') {
            buf[len] = '\0';
            return;
        }
        len++;
    }
    T_FAIL("recv line: longer than %zu bytes", cap);
}

void h_wait_refused(const char *addr, int ms, const char *after)
{
    int64_t until = h_now_ms() + scaled(ms);

    for (;;) {
        int fd = h_connect_raw(addr);
        if (fd < 0 && (errno == ECONNREFUSED || errno == ENOENT))
            return;
        /* Taken, or reset as the listener closed under it: not refused yet. */
        if (fd >= 0)
            close(fd);
        if (h_now_ms() > until)
            T_FAIL("%s still takes connections %g s after %s (%s)", addr, ms / 1000.0, after,
                   fd >= 0 ? "connected" : strerror(errno));
        usleep(5000);
    }
}

bool h_wait_closed(int fd, int ms)
{
    int64_t deadline = h_now_ms() + scaled(ms);
    char buf[4096];

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - h_now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
}

ssize_t h_dgram_exchange(const char *addr, const void *req, size_t len, void *reply, size_t cap,
                         int ms)
{
    int fd = h_connect(addr);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    if (send(fd, req, len, 0) != (ssize_t)len)
        T_FAIL("send to %s: %s", addr, strerror(errno));
    if (poll(&p, 1, scaled(ms)) <= 0) {
        close(fd);
        return -1;
    }
    n = recv(fd, reply, cap, 0);
    close(fd);
    return n;
}

static void pump(int *fds, struct h_result *r, const char *input, size_t input_len, int timeout_ms,
                 pid_t pid)
{
    size_t cap[2] = {4096, 4096}, in_off = 0;
    char *bufs[2] = {malloc(4096), malloc(4096)};
    size_t lens[2] = {0, 0};
    int64_t deadline = h_now_ms() + scaled(timeout_ms);

    while (fds[1] >= 0 || fds[2] >= 0) {
        struct pollfd p[3];
        int np = 0, left = (int)(deadline - h_now_ms());
        if (left <= 0) {
            kill(pid, SIGKILL);
            T_FAIL("program did not finish within %d ms; output so far: %.*s", scaled(timeout_ms),
                   (int)lens[0], bufs[0]);
        }
        for (int i = 0; i < 3; i++)
            if (fds[i] >= 0)
                p[np++] = (struct pollfd){.fd = fds[i], .events = i == 0 ? POLLOUT : POLLIN};
        if (poll(p, (nfds_t)np, left) < 0 && errno != EINTR)
            T_FAIL("poll: %s", strerror(errno));
        for (int k = 0; k < np; k++) {
            int i = p[k].fd == fds[0] ? 0 : p[k].fd == fds[1] ? 1 : 2;
            if (p[k].revents == 0)
                continue;
            if (i == 0) {
                ssize_t n = write(fds[0], input + in_off, input_len - in_off);
                if (n > 0)
                    in_off += (size_t)n;
                if ((n < 0 && errno != EAGAIN && errno != EINTR) || in_off == input_len) {
                    close(fds[0]);
                    fds[0] = -1;
                }
                continue;
            }
            if (lens[i - 1] + 4096 > cap[i - 1]) {
                cap[i - 1] *= 2;
                bufs[i - 1] = realloc(bufs[i - 1], cap[i - 1]);
            }
            ssize_t n = read(fds[i], bufs[i - 1] + lens[i - 1], 4095);
            if (n <= 0) {
                close(fds[i]);
                fds[i] = -1;
            } else {
                lens[i - 1] += (size_t)n;
            }
        }
    }
    if (fds[0] >= 0)
        close(fds[0]);
    bufs[0][lens[0]] = '\0';
    bufs[1][lens[1]] = '\0';
    r->out = bufs[0];
    r->out_len = lens[0];
    r->err = bufs[1];
    r->err_len = lens[1];
}

void h_run(struct h_result *r, const char *input, size_t input_len, int timeout_ms,
           const char *const argv[])
{
    int in[2], out[2], err[2], fds[3];
    pid_t pid;

    memset(r, 0, sizeof(*r));
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
        T_FAIL("pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        reset_signals();
        if (input == NULL) {
            int null = open("/dev/null", O_RDONLY);
            dup2(null, 0);
        } else {
            dup2(in[0], 0);
        }
        dup2(out[1], 1);
        dup2(err[1], 2);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    fds[0] = in[1];
    /* Never block feeding stdin while the program waits for us to read its output. */
    fd_set_nonblock(fds[0]);
    fds[1] = out[0];
    fds[2] = err[0];
    if (input == NULL) {
        close(fds[0]);
        fds[0] = -1;
    }
    pump(fds, r, input ? input : "", input_len, timeout_ms, pid);
    if (waitpid(pid, &r->status, 0) < 0)
        T_FAIL("waitpid: %s", strerror(errno));
    r->exit_code = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

void h_result_free(struct h_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

bool h_have(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[1024], *dirs, *save = NULL;

    if (path == NULL)
        return false;
    dirs = strdup(path);
    for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        snprintf(buf, sizeof(buf), "%s/%s", dir, prog);
        if (access(buf, X_OK) == 0) {
            free(dirs);
            return true;
        }
    }
    free(dirs);
    return false;
}

long h_rss_kb(pid_t pid)
{
    char path[64], line[256];
    FILE *f;
    long kb = -1;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* The fields of /proc/PID/stat after "(COMM)", split at blanks; false if it is gone. */
static bool proc_stat(pid_t pid, char *buf, size_t size, char **fields, int max, int *n)
{
    char path[64], *paren, *save = NULL;
    int fd;
    ssize_t len;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    len = read(fd, buf, size - 1);
    close(fd);
    if (len <= 0)
        return false;
    buf[len] = '\0';
    if ((paren = strrchr(buf, ')')) == NULL)
        return false;
    *n = 0;
    for (char *f = strtok_r(paren + 1, " \n", &save); f != NULL && *n < max;
         f = strtok_r(NULL, " \n", &save))
        fields[(*n)++] = f;
    return true;
}

long h_cpu_ms(pid_t pid)
{
    char buf[1024], *f[64];
    int n;
    long hz = sysconf(_SC_CLK_TCK);

    /* After the comm: state(0) ... utime(11) stime(12), in clock ticks. */
    if (!proc_stat(pid, buf, sizeof(buf), f, 64, &n) || n < 13 || hz <= 0)
        return -1;
    return (strtol(f[11], NULL, 10) + strtol(f[12], NULL, 10)) * 1000 / hz;
}

long h_proc_age_ms(pid_t pid)
{
    char buf[1024], *f[64], up[64];
    int n, fd;
    long hz = sysconf(_SC_CLK_TCK);
    ssize_t len;
    double uptime;

    /* starttime(19), in clock ticks since boot; /proc/uptime in seconds. */
    if (!proc_stat(pid, buf, sizeof(buf), f, 64, &n) || n < 20 || hz <= 0)
        return -1;
    if ((fd = open("/proc/uptime", O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    len = read(fd, up, sizeof(up) - 1);
    close(fd);
    if (len <= 0)
        return -1;
    up[len] = '\0';
    uptime = strtod(up, NULL);
    return (long)(uptime * 1000) - strtoll(f[19], NULL, 10) * 1000 / hz;
}

/* The inode of the socket in /proc/net/FILE from local port `lport` to remote port `rport`. */
static unsigned long tcp_inode(const char *file, int lport, int rport)
{
    char path[64], line[512];
    unsigned long inode = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/net/%s", file);
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    while (inode == 0 && fgets(line, sizeof(line), f) != NULL) {
        char local[64], remote[64], *lp, *rp;
        unsigned long ino;
        if (sscanf(line, " %*d: %63s %63s %*x %*s %*s %*s %*d %*d %lu", local, remote, &ino) != 3)
            continue;
        lp = strrchr(local, ':');
        rp = strrchr(remote, ':');
        if (lp != NULL && rp != NULL && strtol(lp + 1, NULL, 16) == lport &&
            strtol(rp + 1, NULL, 16) == rport)
            inode = ino;
    }
    fclose(f);
    return inode;
}

/* Does process `pid` have the socket `inode` open? */
static bool holds_socket(pid_t pid, unsigned long inode)
{
    char path[64], want[64];
    DIR *dir;
    struct dirent *e;
    bool found = false;

    snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    if ((dir = opendir(path)) == NULL)
        return false;
    while (!found && (e = readdir(dir)) != NULL) {
        char link[320], target[64];
        ssize_t len;
        snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
        len = readlink(link, target, sizeof(target) - 1);
        if (len > 0) {
            target[len] = '\0';
            found = strcmp(target, want) == 0;
        }
    }
    closedir(dir);
    return found;
}

pid_t h_socket_owner(int fd, const pid_t *pids, int n)
{
    struct sockaddr_storage me, peer;
    socklen_t mlen = sizeof(me), plen = sizeof(peer);
    unsigned long inode;
    int mport, pport;

    if (getsockname(fd, (struct sockaddr *)&me, &mlen) < 0 ||
        getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
        return 0;
    mport = ntohs(me.ss_family == AF_INET ? ((struct sockaddr_in *)&me)->sin_port
                                          : ((struct sockaddr_in6 *)&me)->sin6_port);
    pport = ntohs(peer.ss_family == AF_INET ? ((struct sockaddr_in *)&peer)->sin_port
                                            : ((struct sockaddr_in6 *)&peer)->sin6_port);
    /* The daemon's end: local port = the service's, remote port = ours. */
    inode = tcp_inode(me.ss_family == AF_INET ? "tcp" : "tcp6", pport, mport);
    if (inode == 0 && me.ss_family == AF_INET)
        inode = tcp_inode("tcp6", pport, mport); /* a dual-stack listener's mapped peer */
    for (int i = 0; inode != 0 && i < n; i++)
        if (holds_socket(pids[i], inode))
            return pids[i];
    return 0;
}

int h_count_fds(pid_t pid)
{
    char path[64];
    DIR *dir;
    struct dirent *e;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
    dir = opendir(path);
    if (dir == NULL)
        return -1;
    while ((e = readdir(dir)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    return n;
}

void h_kill(const struct h_daemon *d, int sig)
{
    if (d->pid <= 0)
        T_FAIL("usherd is not running (exit status %d); cannot send signal %d", d->exit_status,
               sig);
    if (kill(d->pid, sig) < 0)
        T_FAIL("kill usherd (signal %d): %s", sig, strerror(errno));
}

bool h_alive(struct h_daemon *d)
{
    int status;

    if (d->pid <= 0)
        return false;
    if (waitpid(d->pid, &status, WNOHANG) != d->pid)
        return true;
    d->pid = 0;
    d->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
}

bool h_wait_log_count(const struct h_daemon *d, const char *needle, int n, int ms)
{
    return h_wait_file(d->log_path, needle, n, ms);
}

char *h_log_line(const struct h_daemon *d, const char *needle)
{
    return h_file_line(d->log_path, needle);
}

char *h_wait_conn_line(const struct h_daemon *d, const char *svc, const char *what, int ms)
{
    char needle[256];
    int64_t deadline = h_now_ms() + scaled(ms);

    snprintf(needle, sizeof(needle), "usherd: service=%s proto=", svc);
    do {
        char *line = h_log_line(d, needle);
        if (line != NULL && strstr(line, what) != NULL)
            return line;
        free(line);
        usleep(5000);
    } while (h_now_ms() < deadline);
    T_FAIL("no \"%s ... %s\" line within %d ms:\n%s", needle, what, ms, h_log(d));
}

char *h_file_line(const char *path, const char *needle)
{
    char *log = h_read_file(path), *found = NULL;

    /* Complete lines only: the daemon may be writing the last one. */
    for (char *line = log, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        if (strstr(line, needle) != NULL)
            found = line;
    }
    found = found ? strdup(found) : NULL;
    free(log);
    return found;
}

/* How many complete lines of the log contain `needle`. */
static int count_complete(const struct h_daemon *d, const char *needle)
{
    char *log = h_log(d);
    int n = 0;

    for (char *line = log, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        if (strstr(line, needle) != NULL)
            n++;
    }
    free(log);
    return n;
}

/*
 * The complete lines containing `needle`, from the `first`-th (0-based) on,
 * at most `max`, into lines[] (each malloc'd).  Returns how many.
 */
static int collect_lines(const struct h_daemon *d, const char *needle, int first, char **lines,
                         int max)
{
    char *log = h_log(d);
    int seen = 0, n = 0;

    for (char *line = log, *nl; (nl = strchr(line, '\n')) != NULL && n < max; line = nl + 1) {
        *nl = '\0';
        if (strstr(line, needle) == NULL)
            continue;
        if (seen++ >= first)
            lines[n++] = strdup(line);
    }
    free(log);
    return n;
}

/* Sum the "key=number" fields after "service=NAME " of `n` stats lines into one line. */
static char *sum_stats(const char *service, char **lines, int n)
{
    char key[128], out[1024];
    size_t len;
    long long sums[32] = {0};
    char names[32][32];
    int nfields = 0;

    snprintf(key, sizeof(key), " service=%s ", service);
    for (int i = 0; i < n; i++) {
        char *p = strstr(lines[i], key), *save = NULL;
        int f = 0;
        if (p == NULL)
            T_FAIL("not a stats line of %s: %s", service, lines[i]);
        p += strlen(key);
        for (char *tok = strtok_r(p, " ", &save); tok != NULL && f < 32;
             tok = strtok_r(NULL, " ", &save), f++) {
            char *eq = strchr(tok, '=');
            if (eq == NULL)
                T_FAIL("stats field without a value: %s", tok);
            *eq = '\0';
            if (i == 0)
                snprintf(names[f], sizeof(names[f]), "%s", tok);
            else if (f >= nfields || strcmp(names[f], tok) != 0)
                T_FAIL("stats lines of %s disagree on field %d (%s)", service, f, tok);
            sums[f] += strtoll(eq + 1, NULL, 10);
        }
        if (i == 0)
            nfields = f;
    }
    len = (size_t)snprintf(out, sizeof(out), "usherd: stats service=%s", service);
    for (int f = 0; f < nfields && len < sizeof(out); f++)
        len += (size_t)snprintf(out + len, sizeof(out) - len, " %s=%lld", names[f], sums[f]);
    return strdup(out);
}

char *h_stats_settled(const struct h_daemon *d, const char *service, const char *field,
                      long long want)
{
    int64_t deadline = h_now_ms() + scaled(1000);
    char *line;

    while ((line = h_stats(d, service)) != NULL && h_log_field(line, field) != want &&
           h_now_ms() < deadline) {
        free(line);
        usleep(20000);
    }
    return line;
}

char *h_stats(const struct h_daemon *d, const char *service)
{
    char needle[128], any[128], *lines[256], *line;
    unsigned procs = d->model[0] != '\0' ? model_procs(d->model) : 1;
    int before, before_any, n;
    int64_t deadline;

    if (procs > 256)
        procs = 256;
    /* Untagged ("stats service=S ") and per-process ("stats worker=1 service=S ") lines. */
    snprintf(needle, sizeof(needle), "stats service=%s ", service);
    snprintf(any, sizeof(any), " service=%s conns_now=", service);
    before = count_complete(d, needle);
    before_any = count_complete(d, any);
    h_kill(d, SIGUSR1);
    /* One untagged line (a service the master serves), or one from each process. */
    for (deadline = h_now_ms() + scaled(5000);; usleep(2000)) {
        if (count_complete(d, needle) > before) {
            line = h_log_line(d, needle);
            if (line == NULL)
                T_FAIL("stats line for %s not found", service);
            return line;
        }
        if (procs > 1 && count_complete(d, any) >= before_any + (int)procs)
            break;
        if (h_now_ms() > deadline)
            T_FAIL("no \"%s\" line (or %u per-process ones, model %s) within 5 s of "
                   "SIGUSR1; the log:\n%s",
                   needle, procs, d->model[0] ? d->model : "event", h_log(d));
    }
    n = collect_lines(d, any, before_any, lines, (int)procs);
    line = sum_stats(service, lines, n);
    for (int i = 0; i < n; i++)
        free(lines[i]);
    return line;
}

const char *h_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);

    if (p == NULL)
        T_FAIL("no \"%s\" in:\n%s", key, text);
    return p + strlen(key);
}

long long h_log_field(const char *line, const char *name)
{
    char key[64];

    snprintf(key, sizeof(key), " %s=", name);
    return strtoll(h_after(line, key), NULL, 10);
}

int h_port(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    char *end;
    long port;

    if (colon == NULL)
        T_FAIL("no port in address %s", addr);
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        T_FAIL("bad port in address %s", addr);
    return (int)port;
}

/* A socket bound to `la` and connected to `ra`; -1 with errno. */
static int connect_from_once(const struct addr *la, const struct addr *ra)
{
    int fd, on = 1;

    fd = socket(ra->ss.ss_family, addr_kind_socktype(ra->kind) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    h_set_timeout(fd, scaled(10000));
    if (addr_kind_is_inet(la->kind))
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, (const struct sockaddr *)&la->ss, la->len) < 0 ||
        connect(fd, (const struct sockaddr *)&ra->ss, ra->len) < 0) {
        close_quietly(fd);
        return -1;
    }
    return fd;
}

int h_connect_from(const char *local, const char *remote)
{
    struct addr la, ra;
    int fd, taken[8], ntaken = 0;
    bool any_port;

    resolve(local, &la);
    resolve(remote, &ra);
    if (la.kind != ra.kind)
        T_FAIL("h_connect_from: %s and %s are not of one kind", local, remote);
    any_port = la.kind == ADDR_UDP && h_port(local) == 0;
    /* As h_connect_raw: an ephemeral UDP port must not be one usherd serves on. */
    while ((fd = connect_from_once(&la, &ra)) >= 0 && any_port && ntaken < 8 &&
           daemon_udp_port(local_port_of(fd)))
        taken[ntaken++] = fd;
    while (ntaken > 0)
        close_quietly(taken[--ntaken]);
    return fd;
}

ssize_t h_recv_within(int fd, void *buf, size_t cap, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    if (poll(&p, 1, scaled(ms)) <= 0)
        return -1;
    do
        n = recv(fd, buf, cap, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return -1;
    if (n < 0)
        T_FAIL("recv: %s", strerror(errno));
    return n;
}

/* One round of h_stream_exchange's writing; true once everything is sent. */
static bool exchange_send(int fd, const char *data, size_t len, size_t *off)
{
    ssize_t n = *off < len ? send(fd, data + *off, len - *off, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;

    if (n < 0 && errno != EAGAIN && errno != EINTR)
        T_FAIL("send: %s (after %zu of %zu bytes)", strerror(errno), *off, len);
    if (n > 0)
        *off += (size_t)n;
    if (*off < len)
        return false;
    if (shutdown(fd, SHUT_WR) < 0)
        T_FAIL("shutdown: %s", strerror(errno));
    return true;
}

size_t h_stream_exchange(int fd, const void *data, size_t len, char *out, size_t cap, int ms)
{
    int64_t deadline = h_now_ms() + scaled(ms);
    size_t off = 0, got = 0;
    bool sent = len == 0 ? exchange_send(fd, data, 0, &off) : false;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent ? 0 : POLLOUT)};
        int left = (int)(deadline - h_now_ms());
        char spare[1];
        ssize_t n;
        if (left <= 0)
            T_FAIL("exchange: not done within %d ms (sent %zu of %zu, received %zu)", scaled(ms),
                   off, len, got);
        if (poll(&p, 1, left) < 0 && errno != EINTR)
            T_FAIL("poll: %s", strerror(errno));
        if (!sent && (p.revents & POLLOUT))
            sent = exchange_send(fd, data, len, &off);
        if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        n = got < cap ? recv(fd, out + got, cap - got, MSG_DONTWAIT)
                      : recv(fd, spare, 1, MSG_DONTWAIT);
        if (n == 0)
            break;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0)
            T_FAIL("recv: %s (after %zu bytes)", strerror(errno), got);
        if (got == cap)
            T_FAIL("exchange: more than %zu bytes came back", cap);
        got += (size_t)n;
    }
    if (!sent)
        T_FAIL("exchange: the peer closed after %zu of %zu bytes were sent", off, len);
    if (got < cap)
        out[got] = '\0';
    return got;
}

/* Try to install `package` with apt-get within the time the case has left. */
static void install_package(const char *package)
{
    unsigned left = alarm(0);
    int bound_ms, status;
    int64_t deadline;
    pid_t pid;

    alarm(left);
    bound_ms = left > 20 ? (int)(left - 10) * 1000 : 10000;
    t_note("installing %s with apt-get (at most %d s)", package, bound_ms / 1000);
    pid = fork();
    if (pid < 0)
        return;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        setenv("DEBIAN_FRONTEND", "noninteractive", 1);
        execlp("apt-get", "apt-get", "install", "-y", "-qq", "--no-install-recommends", package,
               (char *)NULL);
        _exit(127);
    }
    for (deadline = h_now_ms() + bound_ms; h_now_ms() < deadline; usleep(20000))
        if (waitpid(pid, &status, WNOHANG) == pid)
            return;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

void h_need(const char *prog, const char *package)
{
    const char *why;

    if (h_have(prog))
        return;
    if (getenv("USHER_NO_INSTALL") != NULL)
        why = "USHER_NO_INSTALL is set";
    else if (geteuid() != 0)
        why = "not root, so not installing it";
    else if (!h_have("apt-get"))
        why = "no apt-get to install it with";
    else {
        install_package(package);
        why = "still missing after apt-get install";
    }
    if (!h_have(prog))
        t_skip("%s is not on PATH (Debian package %s); %s", prog, package, why);
}

/* --- socket activation, detached daemons, syslog ------------------------------ */

struct h_daemon *h_spawn_activated(const char *conf, const int *fds, int nfds, const char *names,
                                   pid_t listen_pid)
{
    static const char *const none[] = {NULL};
    struct activation act = {fds, nfds, names, listen_pid};
    struct h_daemon *d = prepare(conf);

    spawn_act(d, NULL, none, &act);
    return d;
}

pid_t h_lock_holder(const char *path)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    pid_t pid = 0;

    if (fd < 0)
        return 0;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
        pid = fl.l_pid;
    /* An open file description's lock has no pid (-1): the holder is the pid the file names. */
    if (pid < 0) {
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        pid = n > 0 ? (pid_t)strtol(buf, NULL, 10) : 0;
    }
    close(fd);
    return pid;
}

/*
 * SIGALRM (the runner's timeout) with detached daemons about: they are
 * outside the process group the runner kills, so kill them here, then die
 * of the signal as the runner expects.  Only async-signal-safe calls.
 */
static void on_timeout(int signo)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};

    /* Reaped too, where they are our children (subreaper): no zombies left behind. */
    for (int i = 0; i < ndaemons; i++)
        if (daemons[i]->detached && daemons[i]->pid > 0) {
            kill(daemons[i]->pid, SIGKILL);
            waitpid(daemons[i]->pid, NULL, 0);
        }
    for (int i = 0; i < nguards; i++) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        int fd = open(guards[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0 &&
            fl.l_pid != getpid()) {
            kill(fl.l_pid, SIGKILL);
            waitpid(fl.l_pid, NULL, 0);
        }
        close(fd);
    }
    sigemptyset(&dfl.sa_mask);
    sigaction(signo, &dfl, NULL);
    raise(signo); /* delivered, with the default action, when this returns */
}

void h_guard_pidfile(const char *path)
{
    static bool installed;

    if (!installed) {
        struct sigaction sa = {.sa_handler = on_timeout};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        installed = true;
        register_cleanup();
    }
    if (nguards == H_MAX_GUARDS)
        T_FAIL("h_guard_pidfile: more than %d pidfiles", H_MAX_GUARDS);
    snprintf(guards[nguards], sizeof(guards[0]), "%s", path);
    nguards++;
}

/* Point ASan's and UBSan's reports at `prefix`.PID files (the daemon's stderr is /dev/null). */
static void sanitizer_logs_to(const char *prefix, char *saved[2])
{
    static const char *const vars[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS"};

    for (int i = 0; i < 2; i++) {
        const char *old = getenv(vars[i]);
        char value[1024];
        saved[i] = old ? strdup(old) : NULL;
        snprintf(value, sizeof(value), "%s%slog_path=%s", old ? old : "", old && *old ? ":" : "",
                 prefix);
        setenv(vars[i], value, 1);
    }
}

static void sanitizer_logs_restore(char *saved[2])
{
    static const char *const vars[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS"};

    for (int i = 0; i < 2; i++) {
        if (saved[i] != NULL)
            setenv(vars[i], saved[i], 1);
        else
            unsetenv(vars[i]);
        free(saved[i]);
    }
}

struct h_daemon *h_start_detached(const char *conf, const char *pidfile, struct h_result *front,
                                  ...)
{
    struct h_daemon *d = prepare(conf);
    const char *argv[48];
    char prefix[400], *saved[2], *path, *expanded[48];
    int argc = 0, nexpanded = 0;
    va_list ap;

    d->detached = true;
    path = expand(pidfile, d->dir);
    snprintf(d->pidfile, sizeof(d->pidfile), "%s", path);
    free(path);
    h_guard_pidfile(d->pidfile);
    /* Orphans come to us, not to init: the daemon stays ours to wait for. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        T_FAIL("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
    argv[argc++] = h_usherd();
    if (d->conf_path[0] != '\0') {
        argv[argc++] = "-f";
        argv[argc++] = d->conf_path;
    }
    argv[argc++] = "-D";
    va_start(ap, front);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 46;)
        argv[argc++] = expanded[nexpanded++] = expand(a, d->dir);
    va_end(ap);
    argv[argc] = NULL;
    snprintf(prefix, sizeof(prefix), "%s/sanitizer", d->dir);
    sanitizer_logs_to(prefix, saved);
    h_run(front, NULL, 0, 10000, argv);
    sanitizer_logs_restore(saved);
    while (nexpanded > 0)
        free(expanded[--nexpanded]);
    if (front->exit_code != 0)
        return d;
    d->pid = h_lock_holder(d->pidfile);
    if (d->pid <= 0)
        T_FAIL("usherd -D exited 0, but nobody holds a lock on %s", d->pidfile);
    return d;
}

struct h_syslog *h_syslog_start(const char *addr, const char *file)
{
    struct h_syslog *s = calloc(1, sizeof(*s));
    struct addr_spec spec;
    struct addr a;
    struct sockaddr_storage bound;
    socklen_t len = sizeof(bound);
    char err[256];
    int fd, out, size = 1 << 20;

    if (s == NULL || nsyslogs == H_MAX_SYSLOGS)
        T_FAIL("h_syslog_start: out of memory or more than %d collectors", H_MAX_SYSLOGS);
    if (addr_parse(addr, &spec, err, sizeof(err)) < 0)
        T_FAIL("bad syslog address %s: %s", addr, err);
    if (spec.kind == ADDR_UNIX)
        spec.kind = ADDR_UNIXGRAM; /* syslog sockets take datagrams */
    if (addr_resolve(&spec, false, &a, 1, err, sizeof(err)) < 0)
        T_FAIL("cannot resolve %s: %s", addr, err);
    if (a.kind == ADDR_UNIXGRAM)
        unlink(spec.path);
    fd = socket(a.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a.ss, a.len) < 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &len) < 0)
        T_FAIL("syslog socket %s: %s", addr, strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (a.kind == ADDR_UNIXGRAM)
        snprintf(s->addr, sizeof(s->addr), "unix:%s", spec.path);
    else if (addr_format(a.kind, (struct sockaddr *)&bound, len, s->addr, sizeof(s->addr)) < 0)
        T_FAIL("cannot format the address of %s", addr);
    snprintf(s->target, sizeof(s->target), "syslog:%s", s->addr);
    snprintf(s->file, sizeof(s->file), "%s", file);
    out = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0)
        T_FAIL("open %s: %s", file, strerror(errno));
    s->pid = fork();
    if (s->pid < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (s->pid == 0) {
        static char buf[65536 + 1];
        int lo = fd < out ? fd : out, hi = fd < out ? out : fd;
        /* Hold nothing of the test's: a connection it closes must close. */
        close_range(3, (unsigned)lo - 1, 0);
        close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
        close_range((unsigned)hi + 1, ~0U, 0);
        for (;;) {
            ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                _exit(1);
            buf[n] = '\n';
            if (write(out, buf, (size_t)n + 1) < 0)
                _exit(1);
        }
    }
    close(fd);
    close(out);
    syslogs[nsyslogs++] = s;
    register_cleanup();
    return s;
}

void h_syslog_stop(struct h_syslog *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    if (strncmp(s->addr, "unix:", 5) == 0)
        unlink(s->addr + 5);
}

bool h_fd_link(pid_t pid, int fd, char *buf, size_t cap)
{
    char path[64];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)pid, fd);
    n = readlink(path, buf, cap - 1);
    if (n < 0)
        return false;
    buf[n] = '\0';
    return true;
}

int h_listen_socket(const char *text, char *bound, size_t cap)
{
    struct addr_spec spec;
    struct addr a;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char err[256];
    int fd;

    if (addr_parse(text, &spec, err, sizeof(err)) < 0)
        T_FAIL("bad address %s: %s", text, err);
    if (addr_resolve(&spec, true, &a, 1, err, sizeof(err)) < 0)
        T_FAIL("cannot resolve %s: %s", text, err);
    if (!addr_kind_is_inet(a.kind))
        unlink(spec.path);
    fd = socket(a.ss.ss_family, addr_kind_socktype(a.kind) | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a.ss, a.len) < 0 ||
        (addr_kind_socktype(a.kind) == SOCK_STREAM && listen(fd, 128) < 0) ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        T_FAIL("socket on %s: %s", text, strerror(errno));
    if (bound != NULL && addr_format(a.kind, (struct sockaddr *)&ss, len, bound, cap) < 0)
        T_FAIL("cannot format the address of %s", text);
    return fd;
}

int h_free_port(const char *kind)
{
    char text[64], bound[160];
    int fd;

    snprintf(text, sizeof(text), "%s://127.0.0.1:0", kind);
    fd = h_listen_socket(text, bound, sizeof(bound));
    close(fd);
    return h_port(bound);
}

unsigned long h_tcp_listen_inode(int port)
{
    char *text = h_read_file("/proc/net/tcp"), *save = NULL;
    unsigned long found = 0;

    /* "  0: 0100007F:1F90 00000000:0000 0A ... uid timeout inode ..." */
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        unsigned lport, state;
        unsigned long inode;
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*d %*d %lu", &lport, &state,
                   &inode) == 3 &&
            (int)lport == port && state == 0x0A)
            found = inode;
    }
    free(text);
    return found;
}

pid_t h_dead_pid(void)
{
    pid_t pid = fork();

    if (pid < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    return pid;
}

int h_count_zombies(pid_t parent)
{
    int n = children_of(parent, ZOMBIE_CHILD, NULL, 0);

    if (n < 0)
        T_FAIL("opendir /proc: %s", strerror(errno));
    return n;
}

const char *h_compile(const char *src, const char *name, const char *const flags[])
{
    const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
    const char *argv[48];
    char out[512];
    struct h_result r;
    int argc = 0;

    if (!h_have(cc))
        t_skip("no C compiler (%s) to build %s with", cc, src);
    if (access(src, R_OK) < 0)
        T_FAIL("%s: %s (tests run from the top of the source tree)", src, strerror(errno));
    snprintf(out, sizeof(out), "%s/%s", h_tmpdir(), name);
    argv[argc++] = cc;
    argv[argc++] = "-O1";
    argv[argc++] = "-o";
    argv[argc++] = out;
    argv[argc++] = src;
    for (; flags != NULL && *flags != NULL && argc < 46; flags++)
        argv[argc++] = *flags;
    argv[argc] = NULL;
    h_run(&r, NULL, 0, 60000, argv);
    if (r.exit_code != 0) {
        t_note("%s %s: exit %d: %s%s", cc, src, r.exit_code, r.out, r.err);
        h_result_free(&r);
        return NULL;
    }
    h_result_free(&r);
    return strdup(out);
}

void h_private_net(void)
{
    struct ifreq ifr;
    int fd;

    if (unshare(CLONE_NEWNET) < 0)
        t_skip("no network namespace of our own: unshare(CLONE_NEWNET): %s", strerror(errno));
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        T_FAIL("socket: %s", strerror(errno));
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        T_FAIL("SIOCGIFFLAGS lo: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        T_FAIL("SIOCSIFFLAGS lo up: %s", strerror(errno));
    close(fd);
}

const char *h_exec_probe(bool static_link)
{
    static const char *const static_flags[] = {"-static", NULL};
    static const char *paths[2];
    static pid_t made_by;

    if (made_by != getpid()) { /* a new case: a new directory */
        paths[0] = paths[1] = NULL;
        made_by = getpid();
    }
    if (paths[static_link] == NULL) {
        paths[static_link] =
            h_compile("tests/lib/exec_probe.c", static_link ? "exec_probe_static" : "exec_probe",
                      static_link ? static_flags : NULL);
        if (paths[static_link] == NULL && !static_link)
            T_FAIL("unable to compile tests/lib/exec_probe.c");
    }
    return paths[static_link];
}

char *h_line_value(const char *text, const char *key)
{
    size_t klen = strlen(key);

    for (const char *line = text; line != NULL && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            const char *v = line + klen + 1, *end = strchr(v, '\n');
            return strndup(v, end ? (size_t)(end - v) : strlen(v));
        }
    }
    return NULL;
}

char *h_probe_report_fd(int fd)
{
    size_t cap = 1 << 16, n;
    char *buf = malloc(cap);

    if (buf == NULL)
        T_FAIL("out of memory");
    n = h_recv_all(fd, buf, cap - 1);
    buf[n] = '\0';
    if (n < 4 || strcmp(buf + n - 4, "end\n") != 0)
        T_FAIL("incomplete report (%zu bytes): \"%s\"", n, buf);
    return buf;
}

char *h_probe_report(const char *addr)
{
    int fd = h_connect(addr);
    char *r = h_probe_report_fd(fd);

    close(fd);
    return r;
}

char *h_probe_value(const char *report, const char *key)
{
    char *v = h_line_value(report, key);

    if (v == NULL)
        T_FAIL("no \"%s\" in the report:\n%s", key, report);
    return v;
}

int h_daemon_children(const struct h_daemon *d, pid_t *pids, int max)
{
    int n = h_children(d->pid, pids, max);

    if (n > max)
        T_FAIL("usherd has %d children, more than the %d expected at most", n, max);
    return n;
}

int h_wait_children(const struct h_daemon *d, int n, bool settled, pid_t *pids, int max, int ms)
{
    int64_t deadline = h_now_ms() + ms * (int64_t)t_scale();

    for (;; usleep(5000)) {
        int got = h_daemon_children(d, pids, max);
        bool ready = true;
        for (int i = 0; i < got && settled && ready; i++)
            ready = h_proc_settled(pids[i]);
        if (got == n && ready)
            return got;
        if (h_now_ms() > deadline)
            T_FAIL("usherd has %d children (settled: %s), want %d after %d ms:\n%s", got,
                   ready ? "yes" : "no", n, ms, h_log(d));
    }
}

bool h_pid_among(pid_t pid, const pid_t *pids, int n)
{
    for (int i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

struct sockaddr_storage h_sockaddr(const char *ip, unsigned port)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strcmp(ip, "unix") == 0) {
        ss.ss_family = AF_UNIX;
    } else if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, ip, &s6->sin6_addr) != 1)
            T_FAIL("'%s' is not an IPv6 address", ip);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, ip, &s4->sin_addr) != 1)
            T_FAIL("'%s' is not an IPv4 address", ip);
    }
    return ss;
}
