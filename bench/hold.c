/*
 * hold: open N idle TCP connections to a server and keep them, for the
 * memory figures of `make bench`.
 *
 *   hold [-t CAFILE] IPV4-ADDRESS PORT N
 *
 * Each connection makes one echo round trip (one byte out, one byte back)
 * before the next is opened, so that each was accepted and is being served
 * (for a fork-per-connection server: its process is running).  With -t the
 * connections speak TLS 1.3: each makes a full handshake, verifying the
 * server's chain against CAFILE (not its name: hold measures, it does not
 * authenticate), and its round trip inside TLS; the server's session
 * tickets come before its echo, so an idle connection has nothing left in
 * flight.  Then hold prints `ready N` on stdout and waits until it is
 * killed.  At each SIGUSR1 it prints `open K of N`: how many of its
 * connections the server has not closed (a server that drops idle
 * connections would otherwise look cheap).  Every socket has SO_LINGER 0:
 * the kernel resets them at exit, and no client port is left in TIME_WAIT
 * to starve the next run.  The descriptor limit is raised to the hard
 * limit; fewer than N + 16 is an error.
 *
 * Exit status: 1 if a connection failed (the message says which and why),
 * 2 on a usage error; otherwise hold does not exit by itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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

static int fail(long i, long n, const char *what, const char *why)
{
    fprintf(stderr, "hold: fatal: connection %ld of %ld: %s: %s\n", i + 1, n, what, why);
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

/* A connected socket whose calls give up after ROUND_TRIP_TIMEOUT_S, or -1 with `what` set. */
static int tcp_connect(const struct sockaddr_in *sin, const char **what)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    struct timeval tv = {.tv_sec = ROUND_TRIP_TIMEOUT_S};
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
    return fd;
}

/* One byte each way in the clear.  0, or -1 with errno and `what` set. */
static int plain_round_trip(int fd, const char **what)
{
    char c = 'x';
    ssize_t n;

    *what = "send";
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1)
        return -1;
    *what = "no echo";
    n = recv(fd, &c, 1, 0);
    if (n == 0)
        errno = ECONNRESET;
    return n == 1 ? 0 : -1;
}

static SSL_CTX *tls_context(const char *cafile)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* The client's own buffers are not measured, but N of them need not be big. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

/* Why the OpenSSL call that returned r failed, in words; the error queue is emptied. */
static const char *ssl_why(const SSL *ssl, int r)
{
    int kind = ssl != NULL ? SSL_get_error(ssl, r) : SSL_ERROR_SSL;
    int saved = errno;
    unsigned long e = ERR_get_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    if (reason != NULL)
        return reason;
    switch (kind) {
    case SSL_ERROR_ZERO_RETURN:
        return "closed by the server (close_notify)";
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return "timed out";
    case SSL_ERROR_SYSCALL:
        return saved != 0 ? strerror(saved) : "connection closed";
    default:
        return "OpenSSL gave no reason";
    }
}

/* A full handshake on fd, then one byte each way inside TLS.  0, or -1 with `what` and `why`. */
static int tls_round_trip(SSL_CTX *ctx, int fd, SSL **out, const char **what, const char **why)
{
    char c = 'x';
    SSL *ssl = SSL_new(ctx);
    int r;

    *what = "TLS set-up";
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        *why = ssl_why(NULL, 0);
        SSL_free(ssl);
        return -1;
    }
    *out = ssl; /* kept, as a client's would be, for the life of the connection */
    *what = "TLS handshake";
    errno = 0;
    if ((r = SSL_connect(ssl)) != 1) {
        *why = ssl_why(ssl, r);
        return -1;
    }
    *what = "send";
    if ((r = SSL_write(ssl, &c, 1)) != 1) {
        *why = ssl_why(ssl, r);
        return -1;
    }
    *what = "no echo";
    if ((r = SSL_read(ssl, &c, 1)) != 1) {
        *why = ssl_why(ssl, r);
        return -1;
    }
    return 0;
}

/* Connection i: connected, one round trip made, its fd in *fd.  0, or -1 with `what` and `why`. */
static int open_one(const struct sockaddr_in *sin, SSL_CTX *ctx, SSL **ssl, int *fd,
                    const char **what, const char **why)
{
    if ((*fd = tcp_connect(sin, what)) < 0 || (ctx == NULL && plain_round_trip(*fd, what) < 0)) {
        *why = strerror(errno);
        return -1;
    }
    return ctx == NULL ? 0 : tls_round_trip(ctx, *fd, ssl, what, why);
}

static int usage(void)
{
    fprintf(stderr, "usage: hold [-t CAFILE] IPV4-ADDRESS PORT N\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sigaction sa = {.sa_handler = on_usr1};
    struct pollfd *pfds;
    SSL **ssls;
    SSL_CTX *ctx = NULL;
    sigset_t usr1, old;
    const char *what, *why, *cafile = NULL;
    char *end;
    long port, n;
    int opt;

    while ((opt = getopt(argc, argv, "t:")) != -1) {
        if (opt != 't')
            return usage();
        cafile = optarg;
    }
    argv += optind;
    if (argc - optind != 3 || inet_pton(AF_INET, argv[0], &sin.sin_addr) != 1 ||
        (port = strtol(argv[1], &end, 10)) < 1 || port > 65535 || *end != '\0' ||
        (n = strtol(argv[2], &end, 10)) < 1 || n > 1000000 || *end != '\0')
        return usage();
    sin.sin_port = htons((uint16_t)port);
    if (cafile != NULL && (ctx = tls_context(cafile)) == NULL) {
        fprintf(stderr, "hold: fatal: unable to set up TLS with %s: %s\n", cafile,
                ssl_why(NULL, 0));
        return 1;
    }
    if (raise_nofile(n) < 0) {
        fprintf(stderr, "hold: fatal: unable to have %ld descriptors: %s\n", n + 16,
                strerror(errno));
        return 1;
    }
    if ((pfds = calloc((size_t)n, sizeof(*pfds))) == NULL ||
        (ssls = calloc((size_t)n, sizeof(*ssls))) == NULL) {
        fprintf(stderr, "hold: fatal: out of memory\n");
        return 1;
    }
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    sigaction(SIGUSR1, &sa, NULL);
    for (long i = 0; i < n; i++) {
        if (open_one(&sin, ctx, &ssls[i], &pfds[i].fd, &what, &why) < 0)
            return fail(i, n, what, why);
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
