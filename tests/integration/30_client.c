/*
 * The client, usher: stream copy, datagram exchange, the sum, sumbin and
 * time helpers, and its command line, against the real usherd (and, for
 * misbehaving servers, small servers written here).
 */
#include "harness.h"
#include "proto.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_MS 10000

/* Every service the tests use, on every kind of address. */
static const char *const CONF =
    "[echo]\n"
    "listen = tcp://127.0.0.1:0 tcp://[::1]:0 udp://127.0.0.1:0 unix:@DIR@/echo.sock "
    "unixgram:@DIR@/echo.dgram\n"
    "builtin = echo\n"
    "[daytime]\nlisten = tcp://127.0.0.1:0\nbuiltin = daytime\n"
    "[discard]\nlisten = tcp://127.0.0.1:0 udp://127.0.0.1:0\nbuiltin = discard\n"
    "[chargen]\nlisten = tcp://127.0.0.1:0\nbuiltin = chargen\n"
    "[time]\nlisten = tcp://127.0.0.1:0 udp://127.0.0.1:0\nbuiltin = time\n"
    "[sum]\nlisten = tcp://127.0.0.1:0 udp://127.0.0.1:0\nbuiltin = sum\n"
    "[sumbin]\nlisten = tcp://127.0.0.1:0 udp://127.0.0.1:0\nbuiltin = sumbin\n";

/* Mixed sum input, and what both helpers print for it. */
static const char SUM_INPUT[] = "1 2\n9223372036854775807 1\nfoo\n -5 3 \n";
static const char SUM_OUTPUT[] = "3\nerror: overflow\nerror: input\n-2\n";

/* Run usher with `input` on stdin and the arguments after it (NULL-ended). */
static void __attribute__((sentinel)) usher(struct h_result *r, const char *input, ...)
{
    const char *argv[16];
    int argc = 0;
    va_list ap;

    argv[argc++] = h_usher();
    va_start(ap, input);
    while (argc < 15 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    h_run(r, input, input ? strlen(input) : 0, RUN_MS, argv);
}

/* "tcp://127.0.0.1:43567" -> "43567" (the HOST PORT form needs the port alone). */
static const char *port_of(const char *addr)
{
    return strrchr(addr, ':') + 1;
}

/* A running usher whose stdin and stdout the test holds. */
struct child {
    pid_t pid;
    int in_fd, out_fd, err_fd; /* our ends */
};

static void child_start(struct child *c, const char *const argv[])
{
    int in[2], out[2], err[2];

    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
        T_FAIL("pipe: %s", strerror(errno));
    c->pid = fork();
    if (c->pid < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (c->pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    c->in_fd = in[1];
    c->out_fd = out[0];
    c->err_fd = err[0];
}

/* Wait up to `ms` for the child to exit; its exit code (fails the test if it does not). */
static int child_wait(struct child *c, int ms)
{
    int64_t deadline = h_now_ms() + ms * (int)t_scale();
    int status;

    do {
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid) {
            if (!WIFEXITED(status))
                T_FAIL("usher died of signal %d", WTERMSIG(status));
            return WEXITSTATUS(status);
        }
        usleep(2000);
    } while (h_now_ms() < deadline);
    kill(c->pid, SIGKILL);
    T_FAIL("usher still running after %d ms", ms * (int)t_scale());
}

/* Read fd to EOF within `ms`; returns the bytes (malloc'd, NUL-terminated). */
static char *read_to_eof(int fd, int ms, size_t *len)
{
    int64_t deadline = h_now_ms() + ms * (int)t_scale();
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - h_now_ms());
        ssize_t got;
        if (left <= 0 || poll(&p, 1, left) == 0)
            T_FAIL("no EOF within %d ms; got %zu bytes", ms * (int)t_scale(), n);
        if (n + 1024 > cap && (buf = realloc(buf, cap *= 2)) == NULL)
            T_FAIL("out of memory");
        got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            T_FAIL("read: %s", strerror(errno));
        if (got == 0)
            break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A socket of `type` bound to 127.0.0.1:0 (listening if a stream); its address in addr. */
static int local_socket(int type, char *addr, size_t size)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        T_FAIL("socket: %s", strerror(errno));
    if (type == SOCK_STREAM && listen(fd, 8) < 0)
        T_FAIL("listen: %s", strerror(errno));
    snprintf(addr, size, "%s://127.0.0.1:%u", type == SOCK_STREAM ? "tcp" : "udp",
             (unsigned)ntohs(sin.sin_port));
    return fd;
}

/* Datagrams waiting on fd, each read and dropped. */
static int count_datagrams(int fd)
{
    char buf[2048];
    int n = 0;

    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
        n++;
    return n;
}

/* Echo */

static void test_echo_tcp_v4(void)
{
    /* Scenario: two lines into usher tcp://127.0.0.1:P of echo.  Assert: the
     * same two lines out, exit 0, nothing on stderr. */
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, "hello\nworld\n", h_addr(d, "echo", "tcp://127"), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "hello\nworld\n");
    T_EQ_STR(r.err, "");
    h_result_free(&r);
}

static void test_echo_tcp_v6_host_port(void)
{
    /* Scenario: usher ::1 PORT (HOST PORT form, IPv6 without brackets) to
     * echo on [::1].  Assert: the input comes back, exit 0. */
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, "over ipv6\n", "::1", port_of(h_addr(d, "echo", "tcp://[::1]")), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "over ipv6\n");
    h_result_free(&r);
}

static void test_echo_tcp_v4_host_port(void)
{
    /* Scenario: usher 127.0.0.1 PORT.  Assert: the input comes back, exit 0. */
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, "host port\n", "127.0.0.1", port_of(h_addr(d, "echo", "tcp://127")), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "host port\n");
    h_result_free(&r);
}

static void test_echo_unix_stream(void)
{
    /* Scenario: usher unix:PATH of echo.  Assert: the input comes back, exit 0. */
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, "over unix\n", h_addr(d, "echo", "unix:"), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "over unix\n");
    h_result_free(&r);
}

static void test_half_close_reply_after_eof(void)
{
    /* Scenario: "1 2" without a newline to the sum service, which answers a
     * last line only at the client's EOF.  Assert: "3\n" is printed, so
     * usher half-closed at stdin's EOF and read on until the server closed. */
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, "1 2", h_addr(d, "sum", "tcp://"), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "3\n");
    h_result_free(&r);
}

/*
 * Feed `in` to c and collect its output at the same time.  Fails if nothing
 * moves either way for `stall_ms`: a deadlock, not a slow machine.
 */
static size_t pump(struct child *c, const unsigned char *in, size_t len, unsigned char *out,
                   size_t cap, int stall_ms)
{
    int64_t deadline = h_now_ms() + stall_ms * (int)t_scale();
    size_t off = 0, got = 0;

    fcntl(c->in_fd, F_SETFL, O_NONBLOCK); /* our ends only: the test must not block */
    for (;;) {
        struct pollfd p[2] = {{.fd = c->in_fd, .events = POLLOUT},
                              {.fd = c->out_fd, .events = POLLIN}};
        int left = (int)(deadline - h_now_ms());
        ssize_t n = 0;
        if (left <= 0 || poll(p, 2, left) == 0)
            T_FAIL("stuck: %zu of %zu bytes sent, %zu received", off, len, got);
        if (p[0].revents && (n = write(c->in_fd, in + off, len - off)) > 0 &&
            (off += (size_t)n) == len) {
            close(c->in_fd);
            c->in_fd = -1;
        }
        if (n > 0)
            deadline = h_now_ms() + stall_ms * (int)t_scale();
        if (p[1].revents == 0)
            continue;
        if ((n = read(c->out_fd, out + got, cap - got)) <= 0)
            return got;
        got += (size_t)n;
        deadline = h_now_ms() + stall_ms * (int)t_scale();
    }
}

static void test_large_transfer_both_ways(void)
{
    /* Scenario: 32 MiB of varied bytes through echo, far more than the
     * socket and pipe buffers on the way hold (a client that writes all
     * before reading stalls near 8 MiB).  Assert: no 5 s without progress,
     * exactly the same bytes back, exit 0. */
    enum { SIZE = 32 << 20 };
    struct h_daemon *d = h_start(CONF, NULL);
    const char *argv[] = {h_usher(), h_addr(d, "echo", "tcp://127"), NULL};
    unsigned char *in = malloc(SIZE), *out = malloc(SIZE + 1);
    uint32_t x = 12345;
    struct child c;
    size_t got;

    T_ASSERT(in != NULL && out != NULL);
    for (size_t i = 0; i < SIZE; i++) {
        x = x * 1103515245u + 12345u;
        in[i] = (unsigned char)(x >> 16);
    }
    child_start(&c, argv);
    got = pump(&c, in, SIZE, out, SIZE + 1, 5000);
    T_EQ_INT(got, SIZE);
    T_ASSERT(memcmp(in, out, SIZE) == 0);
    T_EQ_INT(child_wait(&c, 5000), 0);
    free(in);
    free(out);
}

static void test_server_closes_first(void)
{
    /* Scenario: daytime, which answers and closes, while usher's stdin is a
     * pipe the test keeps open.  Assert: usher prints the line and exits 0
     * without waiting for stdin. */
    struct h_daemon *d = h_start(CONF, NULL);
    const char *argv[] = {h_usher(), h_addr(d, "daytime", "tcp://"), NULL};
    struct child c;
    size_t len;
    char *out;

    child_start(&c, argv);
    out = read_to_eof(c.out_fd, 5000, &len);
    T_EQ_INT(child_wait(&c, 5000), 0);
    T_EQ_INT(len, 26); /* "Sat Nov 21 16:40:00 2026\r\n" */
    T_ASSERT(strcmp(out + 24, "\r\n") == 0);
    close(c.in_fd); /* only now */
    free(out);
}

static void test_stdout_closed_is_quiet(void)
{
    /* Scenario: chargen into usher, whose stdout reader reads a little and
     * goes away (as `| head -1` does).  Assert: usher exits 0 at once, and
     * says nothing on stderr. */
    struct h_daemon *d = h_start(CONF, NULL);
    const char *argv[] = {h_usher(), h_addr(d, "chargen", "tcp://"), NULL};
    struct child c;
    char buf[100];
    size_t len;
    char *err;

    child_start(&c, argv);
    h_set_timeout(c.out_fd, 5000);
    T_ASSERT(read(c.out_fd, buf, sizeof(buf)) > 0);
    close(c.out_fd);
    T_EQ_INT(child_wait(&c, 5000), 0);
    err = read_to_eof(c.err_fd, 1000, &len);
    T_EQ_STR(err, "");
    free(err);
}

static void test_idle_timeout(void)
{
    /* Scenario: -w 0.3 to discard, with stdin held open and silent: nothing
     * moves either way.  Assert: exit 1 within the bound, "timed out" naming
     * the address. */
    struct h_daemon *d = h_start(CONF, NULL);
    const char *addr = h_addr(d, "discard", "tcp://");
    const char *argv[] = {h_usher(), "-w", "0.3", addr, NULL};
    char want[256];
    struct child c;
    size_t len;
    char *err;

    child_start(&c, argv);
    T_EQ_INT(child_wait(&c, 5000), 1);
    err = read_to_eof(c.err_fd, 1000, &len);
    snprintf(want, sizeof(want), "usher: %s: timed out\n", addr);
    T_EQ_STR(err, want);
    close(c.in_fd);
    free(err);
}

/* Errors on streams */

static void test_connection_refused(void)
{
    /* Scenario: a TCP port bound by the test but not listening: connections
     * are refused.  Assert: exit 1, a message naming the address and the cause. */
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char addr[64], want[160];
    struct h_result r;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        T_FAIL("socket: %s", strerror(errno));
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
    usher(&r, "x\n", addr, NULL);
    T_EQ_INT(r.exit_code, 1);
    snprintf(want, sizeof(want), "usher: unable to connect to %s: Connection refused\n", addr);
    T_EQ_STR(r.err, want);
    T_EQ_STR(r.out, "");
    h_result_free(&r);
    close(fd);
}

static void test_port_out_of_range(void)
{
    /* Scenario: a port above 65535, as an address and as HOST PORT (TCP and
     * -u).  Assert: exit 2, a message naming the port and the range 0 to
     * 65535, and no connection to the port it would wrap to (89543 is
     * 24007 modulo 2^16). */
    static const char *const cases[][4] = {
        {"tcp://127.0.0.1:89543", NULL},
        {"127.0.0.1", "89543", NULL},
        {"-u", "127.0.0.1", "89543", NULL},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *argv[6] = {h_usher()};
        struct h_result r;
        for (int k = 0; k < 4 && cases[i][k] != NULL; k++)
            argv[k + 1] = cases[i][k];
        h_run(&r, "x\n", 2, RUN_MS, argv);
        if (r.exit_code != 2 ||
            strstr(r.err, "port '89543' is outside the range 0 to 65535") == NULL)
            T_FAIL("case %zu: exit %d, stderr \"%s\"", i, r.exit_code, r.err);
        T_EQ_STR(r.out, "");
        h_result_free(&r);
    }
}

/* Fill a listener's accept queue (backlog 0) so further connects wait. */
static void fill_queue(const struct sockaddr *sa, socklen_t len)
{
    for (int i = 0; i < 2; i++) {
        int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            T_FAIL("socket: %s", strerror(errno));
        if (connect(fd, sa, len) < 0 && errno != EINPROGRESS && errno != EAGAIN)
            T_FAIL("connect: %s", strerror(errno));
    }
}

static void check_connect_timeout(const char *addr)
{
    char want[256];
    struct h_result r;
    int64_t start = h_now_ms();

    usher(&r, "x\n", "-w", "0.3", addr, NULL);
    T_EQ_INT(r.exit_code, 1);
    snprintf(want, sizeof(want), "usher: unable to connect to %s: Connection timed out\n", addr);
    T_EQ_STR(r.err, want);
    T_ASSERT(h_now_ms() - start < 3000 * (int)t_scale());
    h_result_free(&r);
}

static void test_connect_timeout_tcp(void)
{
    /* Scenario: -w 0.3 to a TCP listener whose accept queue is full, so its
     * SYNs go unanswered.  Assert: exit 1 within the bound, "Connection timed out". */
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    char addr[64];
    int lfd = local_socket(SOCK_STREAM, addr, sizeof(addr));

    if (listen(lfd, 0) < 0 || getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
        T_FAIL("listen: %s", strerror(errno));
    fill_queue((struct sockaddr *)&sin, len);
    check_connect_timeout(addr);
}

static void test_connect_timeout_unix(void)
{
    /* Scenario: -w 0.3 to a Unix listener whose queue is full (a non-blocking
     * connect fails with EAGAIN there).  Assert: usher waits, then exit 1,
     * "Connection timed out". */
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char addr[200];
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/full.sock", h_tmpdir());
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(lfd, 0) < 0)
        T_FAIL("unix listener: %s", strerror(errno));
    fill_queue((struct sockaddr *)&sun, sizeof(sun));
    snprintf(addr, sizeof(addr), "unix:%s", sun.sun_path);
    check_connect_timeout(addr);
}

/* A server that reads a little of one connection, then resets it. */
static void reset_server(int lfd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    char buf[100];
    int fd = accept(lfd, NULL, NULL);

    if (fd < 0 || read_full(fd, buf, sizeof(buf)) != sizeof(buf))
        _exit(1);
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd); /* with a zero linger: RST, not FIN */
    _exit(0);
}

static void test_reset_mid_transfer(void)
{
    /* Scenario: 4 MiB to a server that reads 100 bytes and resets the
     * connection.  Assert: exit 1 and "ADDRESS: Connection reset by peer". */
    enum { SIZE = 4 << 20 };
    char addr[64], want[160];
    int lfd = local_socket(SOCK_STREAM, addr, sizeof(addr));
    char *input = malloc(SIZE + 1);
    struct h_result r;
    pid_t pid = fork();

    if (pid == 0)
        reset_server(lfd);
    T_ASSERT(pid > 0 && input != NULL);
    memset(input, 'x', SIZE);
    input[SIZE] = '\0';
    usher(&r, input, addr, NULL);
    T_EQ_INT(r.exit_code, 1);
    snprintf(want, sizeof(want), "usher: %s: Connection reset by peer\n", addr);
    T_EQ_STR(r.err, want);
    h_result_free(&r);
    free(input);
}

/* Datagrams */

static void test_udp_echo_lines(void)
{
    /* Scenario: three lines, the last without a newline, to UDP echo.
     * Assert: each line came back as its own datagram, printed as is. */
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, "one\ntwo\nthree", h_addr(d, "echo", "udp://"), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "one\ntwo\nthree");
    h_result_free(&r);
}

static void test_udp_host_port_flag(void)
{
    /* Scenario: usher -u 127.0.0.1 PORT to UDP echo.  Assert: the line comes back. */
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, "dgram\n", "-u", "127.0.0.1", port_of(h_addr(d, "echo", "udp://")), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "dgram\n");
    h_result_free(&r);
}

static void test_udp_empty_input(void)
{
    /* Scenario: empty stdin to UDP discard (which never answers).  Assert:
     * nothing sent, so nothing awaited: exit 0 at once. */
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, "", h_addr(d, "discard", "udp://"), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "");
    h_result_free(&r);
}

static void test_udp_no_reply(void)
{
    /* Scenario: a line to UDP discard, which never answers, with -w 0.3.
     * Assert: exit 1, "ADDRESS: no reply after 1 try". */
    struct h_daemon *d = h_start(CONF, NULL);
    const char *addr = h_addr(d, "discard", "udp://");
    char want[160];
    struct h_result r;

    usher(&r, "anyone?\n", "-w", "0.3", addr, NULL);
    T_EQ_INT(r.exit_code, 1);
    snprintf(want, sizeof(want), "usher: %s: no reply after 1 try\n", addr);
    T_EQ_STR(r.err, want);
    h_result_free(&r);
}

static void test_udp_retries_resend(void)
{
    /* Scenario: -r 2 -w 0.2 to a UDP socket the test owns and never answers.
     * Assert: exit 1 "no reply after 3 tries", and 3 datagrams arrived. */
    char addr[64];
    int fd = local_socket(SOCK_DGRAM, addr, sizeof(addr));
    struct h_result r;

    usher(&r, "ping\n", "-r", "2", "-w", "0.2", addr, NULL);
    T_EQ_INT(r.exit_code, 1);
    T_CONTAINS(r.err, "no reply after 3 tries");
    T_EQ_INT(count_datagrams(fd), 3);
    h_result_free(&r);
    close(fd);
}

/* A UDP server that ignores the first datagram and echoes the second. */
static void second_time_server(int fd)
{
    struct sockaddr_storage from;
    socklen_t len = sizeof(from);
    char buf[512];
    ssize_t n;

    if (recv(fd, buf, sizeof(buf), 0) < 0)
        _exit(1);
    n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
    if (n < 0 || sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len) < 0)
        _exit(1);
    _exit(0);
}

static void test_udp_retry_gets_reply(void)
{
    /* Scenario: -r 1 to a server that drops the first try and answers the
     * resend.  Assert: the reply is printed, exit 0. */
    char addr[64];
    int fd = local_socket(SOCK_DGRAM, addr, sizeof(addr));
    struct h_result r;
    pid_t pid = fork();

    if (pid == 0)
        second_time_server(fd);
    T_ASSERT(pid > 0);
    usher(&r, "again\n", "-r", "1", "-w", "0.3", addr, NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "again\n");
    h_result_free(&r);
}

static void test_udp_port_unreachable(void)
{
    /* Scenario: a UDP port with no socket: ICMP port unreachable.  Assert:
     * exit 1 with "Connection refused", well before the 5 s timeout. */
    char addr[64];
    int fd = local_socket(SOCK_DGRAM, addr, sizeof(addr));
    struct h_result r;
    int64_t start;

    close(fd); /* the port is free now */
    start = h_now_ms();
    usher(&r, "hello?\n", "-w", "5", addr, NULL);
    T_EQ_INT(r.exit_code, 1);
    T_CONTAINS(r.err, "Connection refused");
    T_ASSERT(h_now_ms() - start < 4000);
    h_result_free(&r);
}

static void test_unixgram_echo(void)
{
    /* Scenario: two lines to unixgram echo (usher must bind an address of
     * its own to get answers).  Assert: both come back, exit 0. */
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, "u1\nu2\n", h_addr(d, "echo", "unixgram:"), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "u1\nu2\n");
    h_result_free(&r);
}

static void test_unixgram_send_only(void)
{
    /* Scenario: a unixgram socket the test binds and never answers on (as
     * /dev/log); usher -n sends two lines, then usher --no-reply one, then
     * plain usher -w 0.3 one.  Asserted: with -n and --no-reply, exit 0,
     * nothing on stdout or stderr, and the datagrams "log one\n", "log
     * two\n", "log three\n" arrived (each line as read); without -n, exit
     * 1 and "ADDRESS: no reply after 1 try", as before. */
    char *path = h_fmt("%s/log.dgram", h_tmpdir()), *addr = h_fmt("unixgram:%s", path);
    int fd = h_listen_socket(addr, NULL, 0);
    static const char *const want[] = {"log one\n", "log two\n", "log three\n"};
    char buf[256];
    struct h_result r;

    usher(&r, "log one\nlog two\n", "-n", addr, NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "");
    T_EQ_STR(r.err, "");
    h_result_free(&r);
    usher(&r, "log three\n", "--no-reply", addr, NULL);
    T_EQ_INT(r.exit_code, 0);
    h_result_free(&r);
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        ssize_t n = h_recv_within(fd, buf, sizeof(buf) - 1, 1000);
        if (n < 0)
            T_FAIL("datagram %zu (\"%s\") did not arrive", i, want[i]);
        buf[n] = '\0';
        T_EQ_STR(buf, want[i]);
    }
    usher(&r, "answer me\n", "-w", "0.3", addr, NULL);
    T_EQ_INT(r.exit_code, 1);
    T_EQ_STR(r.err, h_fmt("usher: %s: no reply after 1 try\n", addr));
    h_result_free(&r);
    close(fd);
}

static void test_no_reply_is_for_datagrams(void)
{
    /* Scenario: -n with a stream address, and with a command.  Asserted:
     * exit 2 and a message naming why, touching no network. */
    struct h_result r;

    usher(&r, "x\n", "-n", "tcp://127.0.0.1:7", NULL);
    T_EQ_INT(r.exit_code, 2);
    T_CONTAINS(r.err, "usher: -n goes with a datagram address (udp://, unixgram:), not "
                      "tcp://127.0.0.1:7\n");
    h_result_free(&r);
    usher(&r, "1 2\n", "-n", "sum", "udp://127.0.0.1:7", NULL);
    T_EQ_INT(r.exit_code, 2);
    T_CONTAINS(r.err, "usher: -n goes with the plain copy, not usher sum\n");
    h_result_free(&r);
}

/* sum and sumbin */

static void check_sum(const char *cmd, const char *service, const char *prefix)
{
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, SUM_INPUT, cmd, h_addr(d, service, prefix), NULL);
    T_EQ_STR(r.out, SUM_OUTPUT);
    T_EQ_INT(r.exit_code, 1); /* some lines got an error reply */
    T_EQ_STR(r.err, "");
    h_result_free(&r);
    usher(&r, "40 2\n-1 -1", cmd, h_addr(d, service, prefix), NULL);
    T_EQ_STR(r.out, "42\n-2\n");
    T_EQ_INT(r.exit_code, 0);
    h_result_free(&r);
}

static void test_sum_tcp(void)
{
    /* Scenario: usher sum over TCP, mixed lines, then good lines only.
     * Assert: sums and error replies printed in order; exit 1 then 0. */
    check_sum("sum", "sum", "tcp://");
}

static void test_sum_udp(void)
{
    /* Scenario: usher sum over UDP, as for TCP.  Assert: the same output. */
    check_sum("sum", "sum", "udp://");
}

static void test_sumbin_tcp(void)
{
    /* Scenario: usher sumbin over TCP (binary protocol).  Assert: output
     * identical to usher sum's for the same input; exit 1 then 0. */
    check_sum("sumbin", "sumbin", "tcp://");
}

static void test_sumbin_udp(void)
{
    /* Scenario: usher sumbin over UDP.  Assert: the same output as sum. */
    check_sum("sumbin", "sumbin", "udp://");
}

static void test_sum_line_too_long(void)
{
    /* Scenario: a 2000-byte line to sum over TCP, then a good line.
     * Assert: "error: line too long", then the sum; the session went on. */
    struct h_daemon *d = h_start(CONF, NULL);
    char input[2100];
    struct h_result r;

    memset(input, '1', 2000);
    snprintf(input + 2000, sizeof(input) - 2000, "\n2 2\n");
    usher(&r, input, "sum", h_addr(d, "sum", "tcp://"), NULL);
    T_EQ_STR(r.out, "error: line too long\n4\n");
    T_EQ_INT(r.exit_code, 1);
    h_result_free(&r);
}

static void test_sumbin_bad_line_is_local(void)
{
    /* Scenario: usher sumbin with one unparsable line, to a UDP socket the
     * test owns.  Assert: "error: input" printed, exit 1, and no datagram
     * was sent: the binary protocol cannot carry a bad line. */
    char addr[64];
    int fd = local_socket(SOCK_DGRAM, addr, sizeof(addr));
    struct h_result r;

    usher(&r, "1 two\n", "sumbin", addr, NULL);
    T_EQ_STR(r.out, "error: input\n");
    T_EQ_INT(r.exit_code, 1);
    T_EQ_INT(count_datagrams(fd), 0);
    h_result_free(&r);
    close(fd);
}

/* time */

/* Parse "YYYY-MM-DDTHH:MM:SSZ\n" and check it is within 5 s of now. */
static void check_iso_now(const char *text)
{
    struct tm tm = {0};
    const char *end = strptime(text, "%Y-%m-%dT%H:%M:%SZ\n", &tm);
    time_t t;

    if (end == NULL || *end != '\0' || strlen(text) != 21)
        T_FAIL("not an ISO 8601 UTC time: \"%s\"", text);
    t = timegm(&tm);
    if (llabs((long long)(t - time(NULL))) > 5)
        T_FAIL("%s is %lld s away from now", text, (long long)(t - time(NULL)));
}

static void test_time_tcp(void)
{
    /* Scenario: usher time over TCP.  Assert: an ISO 8601 UTC time within
     * 5 s of ours, exit 0. */
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, NULL, "time", h_addr(d, "time", "tcp://"), NULL);
    T_EQ_INT(r.exit_code, 0);
    check_iso_now(r.out);
    h_result_free(&r);
}

static void test_time_udp(void)
{
    /* Scenario: usher time over UDP (HOST PORT with -u).  Assert: as over TCP. */
    struct h_daemon *d = h_start(CONF, NULL);
    struct h_result r;

    usher(&r, NULL, "time", "-u", "127.0.0.1", port_of(h_addr(d, "time", "udp://")), NULL);
    T_EQ_INT(r.exit_code, 0);
    check_iso_now(r.out);
    h_result_free(&r);
}

/* A stream server that sends `reply` and closes. */
static void reply_server(int lfd, const char *reply, size_t len)
{
    int fd = accept(lfd, NULL, NULL);

    if (fd < 0 || write_all(fd, reply, len) < 0)
        _exit(1);
    close(fd);
    _exit(0);
}

static void test_time_short_reply(void)
{
    /* Scenario: a "time server" that sends 3 bytes and closes.  Assert:
     * exit 1, "short reply", nothing on stdout. */
    char addr[64];
    int lfd = local_socket(SOCK_STREAM, addr, sizeof(addr));
    struct h_result r;
    pid_t pid = fork();

    if (pid == 0)
        reply_server(lfd, "abc", 3);
    T_ASSERT(pid > 0);
    usher(&r, NULL, "time", addr, NULL);
    T_EQ_INT(r.exit_code, 1);
    T_CONTAINS(r.err, "short reply");
    T_EQ_STR(r.out, "");
    h_result_free(&r);
}

/* Command line */

static void test_usage_errors(void)
{
    /* Scenario: malformed command lines.  Assert: each exits 2 with a
     * message and the usage on stderr, and touches no network. */
    static const char *const cases[][4] = {
        {NULL},
        {"-x", "tcp://127.0.0.1:7", NULL},
        {"-w", "soon", "tcp://127.0.0.1:7", NULL},
        {"-w", "0", "tcp://127.0.0.1:7", NULL},
        {"-r", "-1", "udp://127.0.0.1:7", NULL},
        {"-w", NULL},
        {"127.0.0.1", "7", "extra", NULL},
        {"ftp://127.0.0.1:7", NULL},
        {"-u", "unix:/tmp/x", NULL},
        {"tcp://*:7", NULL},
        {"sum", NULL},
        {"bench", "nosuchmode", "tcp://127.0.0.1:7", NULL},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *argv[6] = {h_usher()};
        struct h_result r;
        for (int k = 0; k < 4 && cases[i][k] != NULL; k++)
            argv[k + 1] = cases[i][k];
        h_run(&r, NULL, 0, RUN_MS, argv);
        if (r.exit_code != 2 || strncmp(r.err, "usher: ", 7) != 0)
            T_FAIL("case %zu (%s ...): exit %d, stderr \"%s\"", i, cases[i][0] ? cases[i][0] : "",
                   r.exit_code, r.err);
        h_result_free(&r);
    }
}

static void test_version(void)
{
    /* Scenario: usher -V and --version.  Assert: "usher VERSION" on stdout, exit 0. */
    struct h_result r;

    usher(&r, NULL, "-V", NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "usher " USHER_VERSION "\n");
    h_result_free(&r);
    usher(&r, NULL, "--version", NULL);
    T_EQ_STR(r.out, "usher " USHER_VERSION "\n");
    h_result_free(&r);
}

static void test_help(void)
{
    /* Scenario: usher -h.  Assert: the usage on stdout, exit 0. */
    struct h_result r;

    usher(&r, NULL, "-h", NULL);
    T_EQ_INT(r.exit_code, 0);
    T_CONTAINS(r.out, "usage: usher");
    h_result_free(&r);
}

static const struct t_case cases[] = {
    T_CASE(test_echo_tcp_v4),
    T_CASE(test_echo_tcp_v6_host_port),
    T_CASE(test_echo_tcp_v4_host_port),
    T_CASE(test_echo_unix_stream),
    T_CASE(test_half_close_reply_after_eof),
    T_CASE_TIMEOUT(test_large_transfer_both_ways, 90),
    T_CASE(test_server_closes_first),
    T_CASE(test_stdout_closed_is_quiet),
    T_CASE(test_idle_timeout),
    T_CASE(test_connection_refused),
    T_CASE(test_port_out_of_range),
    T_CASE(test_connect_timeout_tcp),
    T_CASE(test_connect_timeout_unix),
    T_CASE(test_reset_mid_transfer),
    T_CASE(test_udp_echo_lines),
    T_CASE(test_udp_host_port_flag),
    T_CASE(test_udp_empty_input),
    T_CASE(test_udp_no_reply),
    T_CASE(test_udp_retries_resend),
    T_CASE(test_udp_retry_gets_reply),
    T_CASE(test_udp_port_unreachable),
    T_CASE(test_unixgram_echo),
    T_CASE(test_unixgram_send_only),
    T_CASE(test_no_reply_is_for_datagrams),
    T_CASE(test_sum_tcp),
    T_CASE(test_sum_udp),
    T_CASE(test_sumbin_tcp),
    T_CASE(test_sumbin_udp),
    T_CASE(test_sum_line_too_long),
    T_CASE(test_sumbin_bad_line_is_local),
    T_CASE(test_time_tcp),
    T_CASE(test_time_udp),
    T_CASE(test_time_short_reply),
    T_CASE(test_usage_errors),
    T_CASE(test_version),
    T_CASE(test_help),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
