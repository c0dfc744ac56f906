/*
 * exec_probe: the program the exec-service tests run under usherd.  It is
 * not linked into anything: tests compile it at run time (h_compile), as a
 * plain program (no sanitizer: resource limits such as rlimit_as must not
 * trip over a sanitizer's reservations) and, for chroot, statically.
 *
 *   exec_probe report [ARGS...]   print what the process was given, then "end"
 *   exec_probe udp [DELAY_MS]     answer one datagram on fd 0, then linger
 *   exec_probe accept             accept one connection on fd 0 and report on it
 *   exec_probe cat                copy fd 0 to fd 1 until EOF (like cat, but
 *                                 indifferent to O_NONBLOCK on fd 0)
 *   exec_probe wrap PROG ARGS...  exec PROG with SIGPIPE, SIGUSR2, SIGTSTP,
 *                                 SIGTTIN, SIGTTOU ignored and SIGUSR2,
 *                                 SIGALRM, SIGWINCH blocked (what a careless
 *                                 parent might hand usherd)
 *
 * The report, one item per line, on stdout:
 *
 *   argv N TEXT              every argument, argv[0] too
 *   env NAME=VALUE           every environment variable, in order
 *   fd N TARGET              every open descriptor (/proc/self/fd; without
 *                            /proc, e.g. in a chroot: probed with fcntl, TARGET ?)
 *   fd0 sock=0|1 listening=0|1 nonblock=0|1
 *   pid N, ppid N, pgid N, sid N
 *   uid R E S, gid R E S, groups G...
 *   sigign HEX, sigblk HEX   SigIgn and SigBlk (from /proc/self/status, or computed)
 *   rlimit NAME SOFT HARD    cpu as nofile nproc fsize core data rss stack ("unlimited")
 *   umask MODE               the file creation mask, octal
 *   nice N
 *   cwd PATH
 *   rootdir NAME...          the entries of "/", sorted
 *   end
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void report_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;

    if (dir == NULL) {
        /* No /proc (a chroot): probe the low descriptors one by one. */
        for (int fd = 0; fd < 1024; fd++)
            if (fcntl(fd, F_GETFD) >= 0)
                printf("fd %d ?\n", fd);
        return;
    }
    while ((e = readdir(dir)) != NULL) {
        char path[300], target[512];
        ssize_t n;
        int fd;
        if (e->d_name[0] == '.')
            continue;
        fd = (int)strtol(e->d_name, NULL, 10);
        if (fd == dirfd(dir))
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        printf("fd %d %s\n", fd, target);
    }
    closedir(dir);
}

static void report_fd0(void)
{
    struct stat st;
    int listening = 0;
    socklen_t len = sizeof(listening);
    int sock = fstat(0, &st) == 0 && S_ISSOCK(st.st_mode);

    int flags = fcntl(0, F_GETFL);

    if (sock)
        getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
    printf("fd0 sock=%d listening=%d nonblock=%d\n", sock, listening,
           flags >= 0 && (flags & O_NONBLOCK) != 0);
}

static void report_ids(void)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg, groups[256];
    int n = getgroups(256, groups);

    printf("pid %ld\nppid %ld\npgid %ld\nsid %ld\n", (long)getpid(), (long)getppid(),
           (long)getpgid(0), (long)getsid(0));
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    printf("uid %u %u %u\ngid %u %u %u\ngroups", ru, eu, su, rg, eg, sg);
    for (int i = 0; i < n; i++)
        printf(" %u", groups[i]);
    printf("\n");
}

/* SigIgn and SigBlk as the kernel shows them, or computed without /proc. */
static void report_signals(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long ign = 0, blk = 0;
    sigset_t mask;

    if (f != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "SigIgn:", 7) == 0)
                printf("sigign %s", line + 7 + strspn(line + 7, " \t"));
            if (strncmp(line, "SigBlk:", 7) == 0)
                printf("sigblk %s", line + 7 + strspn(line + 7, " \t"));
        }
        fclose(f);
        return;
    }
    sigprocmask(SIG_BLOCK, NULL, &mask);
    for (int s = 1; s < 64; s++) {
        struct sigaction sa;
        if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
            ign |= 1ull << (s - 1);
        if (sigismember(&mask, s) == 1)
            blk |= 1ull << (s - 1);
    }
    printf("sigign %016llx\nsigblk %016llx\n", ign, blk);
}

static void print_limit(rlim_t v)
{
    if (v == RLIM_INFINITY)
        printf(" unlimited");
    else
        printf(" %llu", (unsigned long long)v);
}

static void report_limits(void)
{
    static const struct {
        const char *name;
        int resource;
    } limits[] = {{"cpu", RLIMIT_CPU},     {"as", RLIMIT_AS},       {"nofile", RLIMIT_NOFILE},
                  {"nproc", RLIMIT_NPROC}, {"fsize", RLIMIT_FSIZE}, {"core", RLIMIT_CORE},
                  {"data", RLIMIT_DATA},   {"rss", RLIMIT_RSS},     {"stack", RLIMIT_STACK}};

    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        struct rlimit rl;
        if (getrlimit(limits[i].resource, &rl) < 0)
            continue;
        printf("rlimit %s", limits[i].name);
        print_limit(rl.rlim_cur);
        print_limit(rl.rlim_max);
        printf("\n");
    }
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, 0);
    printf("nice %d\n", errno == 0 ? prio : 999);
    {
        mode_t mask = umask(0);
        umask(mask);
        printf("umask %03o\n", (unsigned)mask);
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void report_root(void)
{
    char cwd[1024], *names[256];
    int n = 0;
    DIR *dir;
    struct dirent *e;

    printf("cwd %s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
    if ((dir = opendir("/")) == NULL)
        return;
    while ((e = readdir(dir)) != NULL && n < 256)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            names[n++] = strdup(e->d_name);
    closedir(dir);
    qsort(names, (size_t)n, sizeof(names[0]), by_name);
    printf("rootdir");
    for (int i = 0; i < n; i++)
        printf(" %s", names[i]);
    printf("\n");
}

static int report(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        printf("argv %d %s\n", i, argv[i]);
    for (char **e = environ; *e != NULL; e++)
        printf("env %s\n", *e);
    report_fds();
    report_fd0();
    report_ids();
    report_signals();
    report_limits();
    report_root();
    printf("end\n");
    return fflush(stdout) == 0 ? 0 : 1;
}

static void pause_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The descriptors 0-9 that are open, as "0,1,2". */
static void open_fds(char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (int fd = 0; fd < 10 && len < size; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            len += (size_t)snprintf(buf + len, size - len, "%s%d", len ? "," : "", fd);
}

/* wait = yes on a datagram socket: one request, one answer, then linger. */
static int udp(long delay_ms)
{
    struct pollfd p = {.fd = 0, .events = POLLIN};
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof(from);
    char req[512], reply[1024], fds[64];
    const char *proto = getenv("PROTO");
    ssize_t n;

    if (poll(&p, 1, 5000) != 1)
        return 3; /* woken for nothing */
    n = recvfrom(0, req, sizeof(req) - 1, 0, (struct sockaddr *)&from, &fromlen);
    if (n < 0)
        return 4;
    req[n] = '\0';
    open_fds(fds, sizeof(fds));
    n = snprintf(reply, sizeof(reply), "pid=%ld PROTO=%s fds=%s got=%s", (long)getpid(),
                 proto ? proto : "-", fds, req);
    if (sendto(1, reply, (size_t)n, 0, (struct sockaddr *)&from, fromlen) < 0)
        return 5;
    pause_ms(delay_ms);
    return 0;
}

/* wait = yes on a stream socket: fd 0 listens; take one connection. */
static int accept_one(void)
{
    struct pollfd p = {.fd = 0, .events = POLLIN};
    char fds[64];
    int fd, listening = 0;
    socklen_t len = sizeof(listening);

    open_fds(fds, sizeof(fds)); /* before the accept: what usherd gave */
    getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
    if (poll(&p, 1, 5000) != 1)
        return 3;
    fd = accept(0, NULL, NULL);
    if (fd < 0)
        return 4;
    dprintf(fd, "pid=%ld PROTO=%s fds=%s listening=%d\n", (long)getpid(),
            getenv("PROTO") ? getenv("PROTO") : "-", fds, listening);
    close(fd);
    return 0;
}

/* cat, waiting with poll whenever a read would block. */
static int cat(void)
{
    char buf[65536];

    for (;;) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        ssize_t n = read(0, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            poll(&p, 1, -1);
            continue;
        }
        if (n <= 0)
            return n == 0 ? 0 : 1;
        for (ssize_t off = 0; off < n;) {
            struct pollfd q = {.fd = 1, .events = POLLOUT};
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                poll(&q, 1, -1);
                continue;
            }
            if (w < 0)
                return 1;
            off += w;
        }
    }
}

static int wrap(char **argv)
{
    static const int ignored[] = {SIGPIPE, SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU};
    static const int blocked[] = {SIGUSR2, SIGALRM, SIGWINCH};
    struct sigaction sa = {.sa_handler = SIG_IGN};
    sigset_t mask;

    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        sigaction(ignored[i], &sa, NULL);
    sigemptyset(&mask);
    for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++)
        sigaddset(&mask, blocked[i]);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    execv(argv[0], argv);
    fprintf(stderr, "exec_probe: unable to execute %s: %s\n", argv[0], strerror(errno));
    return 127;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "report") == 0)
        return report(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "udp") == 0)
        return udp(argc > 2 ? strtol(argv[2], NULL, 10) : 0);
    if (argc >= 2 && strcmp(argv[1], "accept") == 0)
        return accept_one();
    if (argc >= 2 && strcmp(argv[1], "cat") == 0)
        return cat();
    if (argc >= 3 && strcmp(argv[1], "wrap") == 0)
        return wrap(argv + 2);
    fprintf(stderr, "usage: exec_probe report|udp [MS]|accept|cat|wrap PROG [ARGS...]\n");
    return 2;
}
