/*
 * spawn_child: the exact order of work in a child before exec.
 *
 *   signal dispositions back to default (a signal caught meanwhile acts as after exec)
 *   socket on fds 0 and 1, stderr target on 2
 *   setsid: its own session and process group
 *   chroot, priority, resource limits
 *   supplementary groups, gid, uid (raw syscalls: no lookup, no lock)
 *   every other descriptor closed (close_range: never a loop over 2^30)
 *   empty signal mask, execve
 *
 * A step that fails leaves {stage, errno} where the parent finds it and
 * the child _exits (127 no such program, 126 not executable, 111 any
 * other step): in the plan the two share (clone), or in a close-on-exec
 * pipe that an exec that succeeds closes empty (fork).
 *
 * The child is made with clone(CLONE_VM) on a stack of its own: it shares
 * our memory until it execs, so it only makes system calls (its own,
 * which leave our errno alone) and touches nothing but the plan it is
 * given.  We do not wait for its exec (see "Children that run on" below);
 * where that cannot be, with CLONE_VFORK we do.  Under AddressSanitizer,
 * whose bookkeeping a memory-sharing child would disturb, and where clone
 * is refused (valgrind), it is a plain fork.
 */
#include "spawn_child.h"

#include "addr.h"
#include "sig.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_STACK (64 * 1024)
#define ENV_SLOTS   32 /* variables usherd sets, besides the service's env */

enum stage {
    STAGE_FDS = 1,
    STAGE_SESSION,
    STAGE_CHROOT,
    STAGE_NICE,
    STAGE_RLIMIT,
    STAGE_GROUPS,
    STAGE_GID,
    STAGE_UID,
    STAGE_CLOSE,
    STAGE_EXEC,
};

static const char *const stage_text[] = {
    [STAGE_FDS] = "set up descriptors 0-2",
    [STAGE_SESSION] = "create a session",
    [STAGE_CHROOT] = "chroot",
    [STAGE_NICE] = "set the priority",
    [STAGE_RLIMIT] = "set a resource limit",
    [STAGE_GROUPS] = "set the supplementary groups",
    [STAGE_GID] = "set the group id",
    [STAGE_UID] = "set the user id",
    [STAGE_CLOSE] = "close descriptors",
    [STAGE_EXEC] = "execute",
};

static const int rlimit_resource[RLIM_COUNT] = {
    [RLIM_CPU] = RLIMIT_CPU,     [RLIM_AS] = RLIMIT_AS,       [RLIM_NOFILE] = RLIMIT_NOFILE,
    [RLIM_NPROC] = RLIMIT_NPROC, [RLIM_FSIZE] = RLIMIT_FSIZE, [RLIM_CORE] = RLIMIT_CORE,
    [RLIM_DATA] = RLIMIT_DATA,   [RLIM_RSS] = RLIMIT_RSS,     [RLIM_STACK] = RLIMIT_STACK,
};

/* Everything the child needs, prepared by the parent. */
struct plan {
    const struct exec_conf *ex;
    int sock, err_fd;
    int report_fd; /* -1 when the child shares our memory (clone): it reports in the plan */
    char **envp;
    bool err_nonblock; /* err_fd is a log pipe whose end is non-blocking: the child's must not be */
    bool run_on;       /* we run on beside the child (no CLONE_VFORK): errno is ours */
    bool root;
    volatile int stage, err; /* a failed step, as the child leaves it */
};

/* Environment */

static struct {
    char *strings; /* grows, never shrinks: no allocation per child */
    size_t cap, len;
    char **vars;
    size_t nvars, slots;
} env;

static int env_reserve(size_t bytes, size_t vars)
{
    if (env.len + bytes > env.cap) {
        size_t cap = env.cap ? env.cap : 4096;
        char *s;
        while (cap < env.len + bytes)
            cap *= 2;
        if ((s = realloc(env.strings, cap)) == NULL)
            return -1;
        env.strings = s;
        env.cap = cap;
    }
    if (env.nvars + vars + 1 > env.slots) {
        size_t slots = env.nvars + vars + 1 + ENV_SLOTS;
        char **v = realloc(env.vars, slots * sizeof(*v));
        if (v == NULL)
            return -1;
        env.vars = v;
        env.slots = slots;
    }
    return 0;
}

/*
 * NAME=VALUE, from its pieces.  Strings are stored as offsets until the
 * end: the buffer may move while it grows.  `ours`: a name usherd sets
 * once, before any other can come, so there is no earlier one to drop.
 */
static int env_put(const char *name, size_t nlen, const char *value, size_t vlen, bool ours)
{
    size_t need = nlen + vlen + 2;
    char *p;

    if (env_reserve(need, 1) < 0)
        return -1;
    /* A later setting of the same name wins: drop the earlier one. */
    for (size_t i = 0; !ours && i < env.nvars; i++) {
        const char *old = env.strings + (size_t)env.vars[i];
        if (strncmp(old, name, nlen) == 0 && old[nlen] == '=') {
            memmove(&env.vars[i], &env.vars[i + 1], (env.nvars - i - 1) * sizeof(*env.vars));
            env.nvars--;
            break;
        }
    }
    p = env.strings + env.len;
    memcpy(p, name, nlen);
    p[nlen] = '=';
    memcpy(p + nlen + 1, value, vlen);
    p[nlen + 1 + vlen] = '\0';
    env.vars[env.nvars++] = (char *)(uintptr_t)env.len;
    env.len += need;
    return 0;
}

static int env_add(const char *name, const char *value)
{
    return env_put(name, strlen(name), value, strlen(value), false);
}

static int env_ours(const char *name, const char *value)
{
    return env_put(name, strlen(name), value, strlen(value), true);
}

static int env_add_assignment(const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    size_t nlen = (size_t)(eq - assignment);

    /* (A name is cut at 255 bytes, as it always was.) */
    return env_put(assignment, nlen < 255 ? nlen : 255, eq + 1, strlen(eq + 1), false);
}

/* The decimal text of v into buf (24 bytes at least); returns its length. */
static size_t decimal(char *buf, unsigned long v)
{
    char tmp[24];
    size_t n = 0, len;

    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (len = 0; len < n; len++)
        buf[len] = tmp[n - 1 - len];
    buf[len] = '\0';
    return len;
}

static int env_ours_uint(const char *name, unsigned long v)
{
    char buf[24];
    size_t len = decimal(buf, v);

    return env_put(name, strlen(name), buf, len, true);
}

/* IP text and port of an (unmapped) address; IPv4 without inet_ntop's sprintf. */
static void ip_port(const struct sockaddr_storage *ss, char *ip, size_t size, unsigned *port)
{
    const void *a = ss->ss_family == AF_INET
                        ? (const void *)&((struct sockaddr_in *)ss)->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)ss)->sin6_addr;

    *port = addr_port((const struct sockaddr *)ss);
    if (ss->ss_family == AF_INET && size >= INET_ADDRSTRLEN) {
        const unsigned char *b = a;
        size_t n = 0;
        for (int i = 0; i < 4; i++) {
            n += decimal(ip + n, b[i]);
            ip[n++] = i < 3 ? '.' : '\0';
        }
        return;
    }
    if (inet_ntop(ss->ss_family, a, ip, (socklen_t)size) == NULL)
        snprintf(ip, size, "?");
}

/* tcpserver's variables (TCP6* too for IPv6, as ucspi-tcp6 has them) and systemd's. */
static int env_tcp(const struct spawn_env *e)
{
    char rip[INET6_ADDRSTRLEN], lip[INET6_ADDRSTRLEN];
    unsigned rport, lport = 0;
    bool v6 = e->peer->ss_family == AF_INET6;
    int rc = 0;

    ip_port(e->peer, rip, sizeof(rip), &rport);
    lip[0] = '\0';
    if (e->local != NULL)
        ip_port(e->local, lip, sizeof(lip), &lport);
    rc |= env_ours("PROTO", v6 ? "TCP6" : "TCP");
    for (int pass = 0; pass < (v6 ? 2 : 1); pass++) {
        static const char *const names[2][4] = {
            {"TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT"},
            {"TCP6REMOTEIP", "TCP6REMOTEPORT", "TCP6LOCALIP", "TCP6LOCALPORT"}};
        rc |= env_ours(names[pass][0], rip);
        rc |= env_ours_uint(names[pass][1], rport);
        rc |= env_ours(names[pass][2], lip);
        rc |= env_ours_uint(names[pass][3], lport);
    }
    rc |= env_ours("REMOTE_ADDR", rip);
    rc |= env_ours_uint("REMOTE_PORT", rport);
    return rc;
}

static int env_unix(const struct spawn_env *e)
{
    int rc = env_ours("PROTO", "UNIX");

    if (e->connected && e->cred != NULL) {
        rc |= env_ours_uint("IPCREMOTEEUID", e->cred->uid);
        rc |= env_ours_uint("IPCREMOTEEGID", e->cred->gid);
        rc |= env_ours_uint("IPCREMOTEPID", (unsigned long)e->cred->pid);
    }
    return rc;
}

char **spawn_child_env(const struct spawn_env *e)
{
    const struct exec_conf *ex = e->sc->exec;
    int rc;

    env.len = 0;
    env.nvars = 0;
    rc = env_ours("PATH", "/usr/local/bin:/usr/bin:/bin");
    if (e->kind == ADDR_TCP && e->connected)
        rc |= env_tcp(e);
    else if (e->kind == ADDR_TCP || e->kind == ADDR_UDP)
        rc |= env_ours("PROTO", e->kind == ADDR_TCP ? "TCP" : "UDP");
    else
        rc |= env_unix(e);
    for (size_t i = 0; e->extra != NULL && e->extra[i] != NULL; i++)
        rc |= env_add_assignment(e->extra[i]);
    rc |= env_add("USHER_SERVICE", e->sc->name);
    for (size_t i = 0; ex->user_env != NULL && ex->user_env[i] != NULL; i++)
        rc |= env_add_assignment(ex->user_env[i]);
    for (size_t i = 0; i < ex->nenv; i++)
        rc |= env_add_assignment(ex->env[i]);
    if (rc != 0 || env_reserve(0, 1) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < env.nvars; i++)
        env.vars[i] = env.strings + (size_t)env.vars[i];
    env.vars[env.nvars] = NULL;
    return env.vars;
}

/* The environment of the child of `req`: its socket's far and near ends asked here. */
static char **env_build(const struct spawn_req *req)
{
    struct spawn_env e = {.sc = req->sc,
                          .kind = req->kind,
                          .connected = req->connected,
                          .peer = req->peer,
                          .extra = req->extra_env};
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    int sock = req->addr_sock >= 0 ? req->addr_sock : req->sock;

    if (req->kind == ADDR_TCP && req->connected && req->local != NULL) {
        e.local = req->local;
    } else if (req->kind == ADDR_TCP && req->connected &&
               getsockname(sock, (struct sockaddr *)&local, &len) == 0) {
        addr_unmap(&local, &len);
        e.local = &local;
    }
    if (req->kind != ADDR_TCP && req->kind != ADDR_UDP && req->connected &&
        getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
        e.cred = &cred;
    return spawn_child_env(&e);
}

/*
 * System calls for the child.  A child that shares our memory while we
 * run on must not write errno (it is ours: the child has our thread
 * pointer), so on x86-64 it makes them itself; each returns the result or
 * -errno.  Elsewhere they go through syscall(), and errno, and the child
 * is only ever made with CLONE_VFORK (we are stopped until it execs).
 */
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define RUN_ON 1 /* children that run beside us are possible */
static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;

    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
#define RUN_ON 0
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long ret = syscall(n, a, b, c, d, e, f);

    return ret < 0 ? -errno : ret;
}
#endif

#define sys1(n, a)          sys6((n), (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b)       sys6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c)    sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* The child */

#define CHILD_ATTR __attribute__((noreturn))

static void CHILD_ATTR fail_stage(struct plan *pl, int stage, long rc)
{
    int report[2] = {stage, (int)-rc};

    /* Sharing our memory, the plan is enough; a forked child writes the pipe. */
    pl->stage = stage;
    pl->err = report[1];
    if (pl->report_fd >= 0)
        (void)sys3(SYS_write, pl->report_fd, report, sizeof(report));
    sys1(SYS_exit_group, stage == STAGE_EXEC ? (report[1] == ENOENT ? 127 : 126) : 111);
    __builtin_unreachable();
}

/* `from` onto `to`, not close-on-exec (dup2's, for the one case dup3 refuses). */
static long move_fd(int from, int to)
{
    if (from == to)
        return sys3(SYS_fcntl, to, F_SETFD, 0);
    return sys3(SYS_dup3, from, to, 0);
}

/* Back to default what exec would not reset: the raw call reaches 32 and 33 too. */
static void set_defaults(void)
{
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        uint64_t mask;
    } dfl = {.handler = SIG_DFL};
    const int *list;
    size_t n = sig_exec_defaults(&list);

    for (size_t i = 0; i < n; i++)
        (void)sys4(SYS_rt_sigaction, list[i], &dfl, NULL, sizeof(dfl.mask));
}

/* Descriptors above 2 but the report pipe: close_range (the /proc walk where it is missing). */
static long close_others(const struct plan *pl)
{
    long rc;

    if (pl->report_fd >= 0) /* a forked child: our memory is its own */
        return fd_close_from(3, &pl->report_fd, 1) < 0 ? -errno : 0;
    rc = sys3(SYS_close_range, 3, ~0U, 0);
    if (rc == -ENOSYS && !pl->run_on) /* we are stopped until it execs: errno is free */
        return fd_close_from_walk(3, NULL, 0) < 0 ? -errno : 0;
    return rc;
}

static void set_identity(struct plan *pl)
{
    const struct exec_conf *ex = pl->ex;
    long rc;

    if (ex->groups != NULL && pl->root &&
        (rc = sys2(SYS_setgroups, (size_t)ex->ngroups, ex->groups)) < 0)
        fail_stage(pl, STAGE_GROUPS, rc);
    if ((ex->group_set || ex->user_set) &&
        (rc = sys3(SYS_setresgid, ex->gid, ex->gid, ex->gid)) < 0)
        fail_stage(pl, STAGE_GID, rc);
    if (ex->user_set && (rc = sys3(SYS_setresuid, ex->uid, ex->uid, ex->uid)) < 0)
        fail_stage(pl, STAGE_UID, rc);
}

static void set_limits(struct plan *pl)
{
    const struct exec_conf *ex = pl->ex;
    long rc;

    if (ex->chroot != NULL &&
        ((rc = sys1(SYS_chroot, ex->chroot)) < 0 || (rc = sys1(SYS_chdir, "/")) < 0))
        fail_stage(pl, STAGE_CHROOT, rc);
    if (ex->nice_set && (rc = sys3(SYS_setpriority, PRIO_PROCESS, 0, ex->nice)) < 0)
        fail_stage(pl, STAGE_NICE, rc);
    if (ex->umask_set)
        (void)sys1(SYS_umask, ex->umask); /* cannot fail */
    for (int i = 0; i < RLIM_COUNT; i++) {
        struct rlimit rl = {ex->rlimit[i], ex->rlimit[i]};
        if (ex->rlimit_set[i] && (rc = sys4(SYS_prlimit64, 0, rlimit_resource[i], &rl, NULL)) < 0)
            fail_stage(pl, STAGE_RLIMIT, rc);
    }
}

/*
 * Only system calls, on the child's own stack, reading the plan and the
 * config and writing nothing of ours but the plan's report: it may run
 * while we do.  Made the stopped way or forked, it starts with every
 * signal blocked (the parent's doing) until the handlers it inherited are
 * gone; beside us, it does not, and a signal that one of those handlers
 * catches is given back its default action there (sig.c, not_ours).
 */
static int CHILD_ATTR child_main(void *arg)
{
    struct plan *pl = arg;
    const struct exec_conf *ex = pl->ex;
    uint64_t none = 0;
    long rc;

    set_defaults();
    if ((rc = move_fd(pl->sock, 0)) < 0 || (rc = move_fd(pl->sock, 1)) < 0 ||
        (rc = move_fd(pl->err_fd >= 0 ? pl->err_fd : pl->sock, 2)) < 0)
        fail_stage(pl, STAGE_FDS, rc);
    if (pl->err_fd >= 0 && pl->err_nonblock && (rc = sys3(SYS_fcntl, 2, F_SETFL, 0)) < 0)
        fail_stage(pl, STAGE_FDS, rc); /* a log pipe: its writes must wait, not fail */
    if ((rc = sys1(SYS_setsid, 0)) < 0)
        fail_stage(pl, STAGE_SESSION, rc);
    set_limits(pl);
    set_identity(pl);
    if ((rc = close_others(pl)) < 0)
        fail_stage(pl, STAGE_CLOSE, rc);
    (void)sys4(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
    rc = sys3(SYS_execve, ex->path, ex->argv, pl->envp);
    fail_stage(pl, STAGE_EXEC, rc);
}

/* The parent */

/* A child that failed before its exec: say why (and which program). */
static void say_failed(const struct exec_conf *ex, int stage, int err_no, char *err, size_t errlen)
{
    char path[PATH_MAX];

    /* The path is the config file's: escaped, for the log (SPEC 9). */
    path[0] = '\0';
    if (stage == STAGE_EXEC)
        str_escape(path, sizeof(path), ex->path, strlen(ex->path));
    snprintf(err, errlen, "unable to %s%s%s: %s", stage_text[stage], stage == STAGE_EXEC ? " " : "",
             path, strerror(err_no));
}

static pid_t failed(const struct plan *pl, int stage, int err_no, char *err, size_t errlen)
{
    say_failed(pl->ex, stage, err_no, err, errlen);
    errno = err_no;
    return -1;
}

#if !defined(__SANITIZE_ADDRESS__)
/*
 * clone(CLONE_VM | CLONE_VFORK): when it returns, the child has exec'd or
 * exited, and a failure is in the plan we share.  Returns -2 where clone
 * is refused (valgrind), for the caller to fork instead.
 */
static pid_t start_shared(struct plan *pl)
{
    static char stack[CHILD_STACK] __attribute__((aligned(64)));
    pid_t pid;

    pl->report_fd = -1;
    pl->run_on = false;
    pid = clone(child_main, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, pl);
    if (pid < 0 && (errno == EINVAL || errno == ENOSYS))
        return -2;
    return pid;
}
#endif

/*
 * Children that run on beside us.  A vfork-style child keeps us stopped
 * until it has exec'd, which costs a sleep and a wake-up per connection,
 * the largest part of what a connection costs us.  Instead, the child is
 * made with CLONE_VM alone, on a slot of its own (stack, plan and a copy
 * of its environment), and we run on at once.  CLONE_CHILD_CLEARTID has
 * the kernel zero the slot's `tid` when the child lets go of our memory
 * (at its exec, or its exit): then the slot is ours again.  A child that
 * failed before its exec leaves its report in the slot, kept until the
 * child is reaped (spawn_child_failure).  With every slot taken, the
 * child is made the stopped way.
 */
#if RUN_ON
#define SLOTS      16
#define SLOT_STACK (32 * 1024)

struct slot {
    int tid;   /* the kernel's: 0 once the child has exec'd or exited */
    pid_t pid; /* 0: free */
    struct plan plan;
    char *strings; /* the environment's copy, grown while the slot is free */
    size_t cap;
    char **vars;
    size_t nvars;
};

static struct slot slots[SLOTS];
static char slot_stacks[SLOTS][SLOT_STACK] __attribute__((aligned(64)));
static int run_on_ok = -1; /* close_range there (the /proc walk would write errno): 1 */

static bool let_go(const struct slot *s)
{
    return __atomic_load_n(&s->tid, __ATOMIC_ACQUIRE) == 0;
}

/* A free slot: one never used, or whose child has exec'd.  NULL: none. */
static struct slot *free_slot(void)
{
    if (run_on_ok < 0) /* an empty range: 0 where close_range is known */
        run_on_ok = syscall(SYS_close_range, ~0U, ~0U, 0) == 0;
    if (!run_on_ok)
        return NULL;
    for (size_t i = 0; i < SLOTS; i++) {
        struct slot *s = &slots[i];
        if (s->pid == 0 || (let_go(s) && s->plan.stage == 0)) {
            s->pid = 0;
            return s;
        }
    }
    return NULL;
}

/* The environment into the slot's own buffers.  -1: out of memory. */
static int copy_env(struct slot *s, char **envp)
{
    size_t n = 0, bytes = 0, off = 0;

    for (; envp[n] != NULL; n++)
        bytes += strlen(envp[n]) + 1;
    if (bytes > s->cap) {
        char *p = realloc(s->strings, bytes);
        if (p == NULL)
            return -1;
        s->strings = p;
        s->cap = bytes;
    }
    if (n + 1 > s->nvars) {
        char **v = realloc(s->vars, (n + 1) * sizeof(*v));
        if (v == NULL)
            return -1;
        s->vars = v;
        s->nvars = n + 1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(envp[i]) + 1;
        memcpy(s->strings + off, envp[i], len);
        s->vars[i] = s->strings + off;
        off += len;
    }
    s->vars[n] = NULL;
    return 0;
}

/* Start the child on slot `s`.  Returns its pid, -1 with errno, -2: make it the stopped way. */
static pid_t start_beside(struct slot *s, const struct plan *pl)
{
    pid_t pid;

    if (copy_env(s, pl->envp) < 0)
        return -2;
    s->plan = *pl;
    s->plan.envp = s->vars;
    s->plan.report_fd = -1;
    s->plan.run_on = true;
    s->tid = -1;
    pid = clone(child_main, slot_stacks[s - slots] + SLOT_STACK,
                CLONE_VM | CLONE_CHILD_CLEARTID | SIGCHLD, &s->plan, NULL, NULL, &s->tid);
    if (pid < 0) {
        s->tid = 0;
        return errno == EINVAL || errno == ENOSYS ? -2 : -1;
    }
    s->pid = pid;
    return pid;
}
#endif

bool spawn_child_failure(pid_t pid, char *err, size_t errlen)
{
#if RUN_ON
    for (size_t i = 0; i < SLOTS; i++) {
        struct slot *s = &slots[i];
        bool failed_early;
        if (s->pid != pid)
            continue;
        /* Reaped: it has let go of the slot. */
        failed_early = let_go(s) && s->plan.stage != 0;
        if (failed_early)
            say_failed(s->plan.ex, s->plan.stage, s->plan.err, err, errlen);
        s->pid = 0;
        s->plan.stage = 0;
        return failed_early;
    }
#endif
    (void)pid, (void)err, (void)errlen;
    return false;
}

void spawn_child_forget(void)
{
#if RUN_ON
    /* A new process: the slots' children were its parent's. */
    for (size_t i = 0; i < SLOTS; i++) {
        slots[i].pid = 0;
        slots[i].tid = 0;
        slots[i].plan.stage = 0;
    }
#endif
}

/* fork, the failure reported through a close-on-exec pipe.  The report in *stage, *err_no. */
static pid_t start_forked(struct plan *pl, int *stage, int *err_no)
{
    int rep[2], report[2];
    pid_t pid;

    if (pipe2(rep, O_CLOEXEC) < 0)
        return -1;
    pl->report_fd = rep[1];
    pl->run_on = false;
    pid = fork();
    if (pid == 0)
        child_main(pl);
    close(rep[1]);
    if (pid > 0 && read_full(rep[0], report, sizeof(report)) == (ssize_t)sizeof(report)) {
        *stage = report[0];
        *err_no = report[1];
    }
    close_quietly(rep[0]);
    return pid;
}

static bool is_root(void)
{
    static int root = -1; /* usherd's own ids do not change while it runs */

    if (root < 0)
        root = geteuid() == 0;
    return root;
}

pid_t spawn_child(const struct spawn_req *req, pid_t *pid_out, char *err, size_t errlen)
{
    struct plan pl = {.ex = req->sc->exec,
                      .sock = req->sock,
                      .err_fd = req->err_fd,
                      .err_nonblock = req->err_nonblock,
                      .root = is_root()};
    int stage = 0, err_no = 0, saved = 0;
    sigset_t old;
    pid_t pid = -2;

    *pid_out = -1;
    if ((pl.envp = env_build(req)) == NULL) {
        snprintf(err, errlen, "unable to prepare a child: %s", strerror(errno));
        return -1;
    }
#if RUN_ON
    /* Signals are not blocked for it: a handler of ours caught in it lets go (sig.c, not_ours). */
    struct slot *s = free_slot();
    if (s != NULL && (pid = start_beside(s, &pl)) == -1)
        saved = errno;
#endif
    if (pid == -2) {
        /* Stopped until it execs, or forked: no handler of ours may run in it. */
        sig_block_all(&old);
#if !defined(__SANITIZE_ADDRESS__)
        /* (AddressSanitizer's bookkeeping would not survive a child sharing its memory.) */
        pid = start_shared(&pl);
        stage = pl.stage;
        err_no = pl.err;
#endif
        if (pid == -2)
            pid = start_forked(&pl, &stage, &err_no);
        saved = errno;
        sig_restore(&old);
    }
    if (pid < 0) {
        snprintf(err, errlen, "unable to start a child: %s", strerror(saved));
        errno = saved;
        return -1;
    }
    *pid_out = pid;
    return stage != 0 ? failed(&pl, stage, err_no, err, errlen) : pid;
}
