/*
 * hold: open N idle TCP connections to a server and keep them, for the
 * memory figures of `make bench`.
 *
 *   hold IPV4-ADDRESS PORT N
 *
 * Each connection makes one echo round trip (one byte out, one byte back)
 * before the next is opened, so that each was accepted and is being served
 * (for a fork-per-connection server: its process is running).  Then hold
 * prints `ready N` on stdout and waits until it is killed.  At each SIGUSR1
 * it prints `open K of N`: how many of its connections the server has not
 * closed (a server that drops idle connections would otherwise look
 * cheap).  Every socket has SO_LINGER 0: the kernel resets them at exit,
 * and no client port is left in TIME_WAIT to starve the next run.  The
 * descriptor limit is raised to the hard limit; fewer than N + 16 is an
 * error.
 *
 * Exit status: 1 if a connection failed (the message says which and why),
 * 2 on a usage error; otherwise hold does not exit by itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define ROUND_TRIP_TIMEOUT_S 5

static volatile sig_atomic_t asked;

static void on_usr1(int sig)
{
    (void)sig;
    asked = 1;
}

static int fail(long i, long n, const char *what)
{
    fprintf(stderr, "hold: fatal: connection %ld of %ld: %s: %s\n", i + 1, n, what,
            strerror(errno));
    return 1;
}

static int raise_nofile(long n)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)n + 16) {
        errno = EMFILE;
        return -1;
    }
    return 0;
}

/* How many of the connections are still open: not ended, reset or readable (at EOF). */
static long count_open(struct pollfd *pfds, long n)
{
    long open = 0;

    for (long i = 0; i < n; i++)
        pfds[i].revents = 0;
    if (poll(pfds, (nfds_t)n, 0) < 0)
        return -1;
    for (long i = 0; i < n; i++)
        if (pfds[i].revents == 0)
            open++;
    return open;
}

/* One connection, one byte each way.  Returns 0, or -1 with errno and `what` set. */
static int open_one(const struct sockaddr_in *sin, const char **what, int *out)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    struct timeval tv = {.tv_sec = ROUND_TRIP_TIMEOUT_S};
    char c = 'x';
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    *what = "socket";
    if (fd < 0)
        return -1;
    *what = "setsockopt";
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        return -1;
    *what = "connect";
    if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0)
        return -1;
    *what = "send";
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1)
        return -1;
    *what = "no echo";
    n = recv(fd, &c, 1, 0);
    if (n == 0)
        errno = ECONNRESET;
    *out = fd; /* it stays open: that is the point */
    return n == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sigaction sa = {.sa_handler = on_usr1};
    struct pollfd *pfds;
    sigset_t usr1, old;
    const char *what;
    char *end;
    long port, n;

    if (argc != 4 || inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1 ||
        (port = strtol(argv[2], &end, 10)) < 1 || port > 65535 || *end != '\0' ||
        (n = strtol(argv[3], &end, 10)) < 1 || n > 1000000 || *end != '\0') {
        fprintf(stderr, "usage: hold IPV4-ADDRESS PORT N\n");
        return 2;
    }
    sin.sin_port = htons((uint16_t)port);
    if (raise_nofile(n) < 0) {
        fprintf(stderr, "hold: fatal: unable to have %ld descriptors: %s\n", n + 16,
                strerror(errno));
        return 1;
    }
    if ((pfds = calloc((size_t)n, sizeof(*pfds))) == NULL) {
        fprintf(stderr, "hold: fatal: out of memory\n");
        return 1;
    }
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    sigaction(SIGUSR1, &sa, NULL);
    for (long i = 0; i < n; i++) {
        if (open_one(&sin, &what, &pfds[i].fd) < 0)
            return fail(i, n, what);
        pfds[i].events = POLLIN | POLLRDHUP;
    }
    printf("ready %ld\n", n);
    fflush(stdout);
    for (;;) {
        sigsuspend(&old); /* SIGUSR1 is blocked but here: none is missed */
        if (asked) {
            asked = 0;
            printf("open %ld of %ld\n", count_open(pfds, n), n);
            fflush(stdout);
        }
    }
}
