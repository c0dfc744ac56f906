/*
 * Resilience (SPEC 7, last paragraph): usherd never spins and never dies on
 * resource exhaustion, and slow or hostile clients cost the others nothing.
 * Out of descriptors (RLIMIT_NOFILE = 64 and 200 clients, at a service and
 * at the control socket), slowloris clients, clients that never read, a
 * storm of resets, and a stderr pipe nobody reads.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS 200

/* --- helpers --------------------------------------------------------------- */

/* Room for `n` more descriptors in this process. */
static void want_fds(rlim_t n)
{
    struct rlimit rl;

    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < n) {
        rl.rlim_cur = rl.rlim_max < n ? rl.rlim_max : n;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;

    return x < y ? -1 : x > y;
}

/* --- out of descriptors ---------------------------------------------------- */

/* echo under RLIMIT_NOFILE = 64 (soft and hard: usherd cannot raise it), after `global`. */
static struct h_daemon *start_starved_with(const char *global)
{
    static const char *const wrapper[] = {"prlimit", "--nofile=64:64", "--", NULL};

    h_need("prlimit", "util-linux");
    want_fds(CLIENTS + 100);
    return h_start_wrapped(h_fmt("%s[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", global),
                           wrapper);
}

static struct h_daemon *start_starved(void)
{
    return start_starved_with("");
}

static void test_out_of_descriptors_does_not_spin(void)
{
    /* Scenario: usherd with RLIMIT_NOFILE = 64; 200 clients connect and stay
     * (the kernel queues what usherd cannot accept).  Asserted: usherd logs
     * "unable to accept on ...: Too many open files; pausing 100 ms"; over
     * the next 3 s it uses well under 1 s of CPU (no busy loop on the
     * readable listener; < 300 ms, more for slow builds) and logs that
     * line at most once a second; it is still alive. */
    struct h_daemon *d = start_starved();
    const char *echo = h_addr(d, "echo", "tcp://127");
    static int fds[CLIENTS];
    long cpu0, cpu1;
    int lines0, lines1;

    for (int i = 0; i < CLIENTS; i++)
        fds[i] = h_connect(echo);
    if (!h_wait_log(d, "Too many open files; pausing 100 ms", 5000))
        T_FAIL("no EMFILE pause logged with 200 clients and 64 descriptors:\n%s", h_log(d));
    lines0 = h_count_log(d, "pausing 100 ms");
    cpu0 = h_cpu_ms(d->pid);
    usleep(3000000); /* the measurement window: usherd starved of descriptors */
    cpu1 = h_cpu_ms(d->pid);
    lines1 = h_count_log(d, "pausing 100 ms");
    t_note("3 s out of descriptors: %ld ms of CPU, %d pause lines", cpu1 - cpu0, lines1 - lines0);
    if (cpu1 - cpu0 > 300 * (long)t_scale())
        T_FAIL("usherd used %ld ms of CPU in 3 s while out of descriptors", cpu1 - cpu0);
    if (lines1 - lines0 > 4)
        T_FAIL("%d pause lines in 3 s (want at most one a second)", lines1 - lines0);
    T_ASSERT(h_alive(d));
    T_CONTAINS(h_log_line(d, "pausing 100 ms"), "usherd: warning: service=echo: unable to accept "
                                                "on tcp://127.0.0.1:");
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
}

static void test_out_of_descriptors_control_socket_does_not_spin(void)
{
    /* Scenario: the same, with control = DIR/ctl.sock; 200 clients take
     * every descriptor, then a client connects to the control socket (the
     * kernel queues it) and sends GET /status.  Asserted: usherd logs
     * "control: unable to accept: Too many open files; pausing 100 ms";
     * over the next 3 s it uses under 300 ms of CPU (more for slow builds)
     * and logs that line at most once a second; once the 200 clients have
     * gone, the waiting request is answered 200. */
    struct h_daemon *d = start_starved_with("[global]\ncontrol = @DIR@/ctl.sock\n");
    const char *echo = h_addr(d, "echo", "tcp://127");
    static int fds[CLIENTS];
    char reply[4096];
    long cpu0, cpu1;
    int lines0, lines1, ctl;

    for (int i = 0; i < CLIENTS; i++)
        fds[i] = h_connect(echo);
    T_ASSERT(h_wait_log(d, "Too many open files; pausing 100 ms", 5000));
    ctl = h_connect(h_fmt("unix:%s/ctl.sock", d->dir));
    h_send_str(ctl, "GET /status HTTP/1.1\r\nHost: usherd\r\nConnection: close\r\n\r\n");
    if (!h_wait_log(d, "control: unable to accept: Too many open files; pausing 100 ms", 5000))
        T_FAIL("no control socket pause logged out of descriptors:\n%s", h_log(d));
    lines0 = h_count_log(d, "control: unable to accept");
    cpu0 = h_cpu_ms(d->pid);
    usleep(3000000); /* the measurement window: a control client waiting, no descriptor free */
    cpu1 = h_cpu_ms(d->pid);
    lines1 = h_count_log(d, "control: unable to accept");
    t_note("3 s out of descriptors, a control client waiting: %ld ms of CPU, %d pause lines",
           cpu1 - cpu0, lines1 - lines0);
    if (cpu1 - cpu0 > 300 * (long)t_scale())
        T_FAIL("usherd used %ld ms of CPU in 3 s with a control client waiting", cpu1 - cpu0);
    if (lines1 - lines0 > 4)
        T_FAIL("%d control pause lines in 3 s (want at most one a second)", lines1 - lines0);
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    h_recv_all(ctl, reply, sizeof(reply));
    T_CONTAINS(reply, "HTTP/1.1 200 ");
    T_CONTAINS(reply, "\"services\"");
    close(ctl);
}

static void test_out_of_descriptors_serves_everyone_as_they_free(void)
{
    /* Scenario: usherd with RLIMIT_NOFILE = 64; 200 clients connect and send
     * a line each, then one more client does; each client closes as soon as
     * its echo is back (so descriptors keep freeing up).  Asserted: every
     * one of the 201 is served within 20 s (the last one's latency is
     * reported); afterwards 20 new connections are each served at once
     * (within 1 s): usherd has recovered. */
    struct h_daemon *d = start_starved();
    const char *echo = h_addr(d, "echo", "tcp://127");
    static struct pollfd p[CLIENTS + 1];
    int64_t start, last_ms = -1, deadline;
    int left = CLIENTS + 1;

    for (int i = 0; i <= CLIENTS; i++) {
        p[i].fd = h_connect(echo);
        p[i].events = POLLIN;
        h_send_str(p[i].fd, "hi\n");
        if (i == CLIENTS - 1)
            T_ASSERT(h_wait_log(d, "Too many open files", 5000));
    }
    start = h_now_ms();
    for (deadline = start + 20000 * (int64_t)t_scale(); left > 0;) {
        int ms = (int)(deadline - h_now_ms());
        if (ms <= 0 || poll(p, CLIENTS + 1, ms) < 0)
            T_FAIL("%d of %d clients not served within 20 s:\n%s", left, CLIENTS + 1, h_log(d));
        for (int i = 0; i <= CLIENTS; i++) {
            char buf[8];
            if (p[i].fd < 0 || p[i].revents == 0)
                continue;
            if (recv(p[i].fd, buf, 3, MSG_WAITALL) != 3 || memcmp(buf, "hi\n", 3) != 0)
                T_FAIL("client %d: no echo, or a wrong one", i);
            if (i == CLIENTS)
                last_ms = h_now_ms() - start;
            close(p[i].fd);
            p[i].fd = -1;
            left--;
        }
    }
    t_note("all 201 served in %lld ms; the client that came last waited %lld ms",
           (long long)(h_now_ms() - start), (long long)last_ms);
    for (int i = 0; i < 20; i++) {
        int fd = h_connect(echo);
        int64_t t0 = h_now_ms();
        h_echo_roundtrip(fd, "again\n");
        if (h_now_ms() - t0 > 1000 * (int64_t)t_scale())
            T_FAIL("after the crowd left, connection %d took %lld ms", i,
                   (long long)(h_now_ms() - t0));
        close(fd);
    }
}

/* --- slow clients ---------------------------------------------------------- */

/* One sum request on a new connection; its latency in microseconds. */
static long long sum_request_us(const char *addr)
{
    struct timespec a, b;
    char buf[8];
    int fd;

    clock_gettime(CLOCK_MONOTONIC, &a);
    fd = h_connect(addr);
    h_send_str(fd, "20 22\n");
    h_recv_exact(fd, buf, 3);
    clock_gettime(CLOCK_MONOTONIC, &b);
    close(fd);
    if (memcmp(buf, "42\n", 3) != 0)
        T_FAIL("sum 20 22: got \"%.3s\"", buf);
    return (b.tv_sec - a.tv_sec) * 1000000LL + (b.tv_nsec - a.tv_nsec) / 1000;
}

static void test_slowloris_does_not_slow_other_clients(void)
{
    /* Scenario: 100 connections to sum trickle one byte a second (never a
     * whole line) for 3 s; meanwhile a normal client makes sum requests on
     * new connections, one after the other.  Asserted: the normal client's
     * median latency stays under 100 ms (p50 and max reported); the slow
     * connections are all still open (their bytes are activity). */
    enum { SLOW = 100 };
    struct h_daemon *d = h_start("[sum]\nlisten = tcp://127.0.0.1:0\nbuiltin = sum\n", NULL);
    const char *sum = h_addr(d, "sum", "tcp://127");
    static int slow[SLOW];
    static long long lat[100000];
    static const char trickle[] = "1234";
    int n = 0, ticks = 0;
    int64_t start = h_now_ms(), next_tick = start;

    want_fds(SLOW + 100);
    for (int i = 0; i < SLOW; i++)
        slow[i] = h_connect(sum);
    while (ticks < 4) {
        if (h_now_ms() >= next_tick) {
            for (int i = 0; i < SLOW; i++)
                h_send(slow[i], &trickle[ticks], 1);
            ticks++;
            next_tick += 1000;
            continue;
        }
        if (n < (int)ARRAY_LEN(lat))
            lat[n++] = sum_request_us(sum);
        usleep(2000); /* pacing: a client that asks now and then, not a flood */
    }
    qsort(lat, (size_t)n, sizeof(lat[0]), cmp_ll);
    t_note("%d requests beside 100 slowloris connections: p50 %.2f ms, p99 %.2f ms, max %.2f ms", n,
           lat[n / 2] / 1000.0, lat[n * 99 / 100] / 1000.0, lat[n - 1] / 1000.0);
    if (lat[n / 2] > 100000)
        T_FAIL("median latency %.1f ms beside slowloris connections", lat[n / 2] / 1000.0);
    /* One line per normal request; one more would be a slowloris connection ended. */
    T_ASSERT(h_wait_log_count(d, "usherd: service=sum ", n, 5000));
    if (h_count_log(d, "usherd: service=sum ") != n)
        T_FAIL("a slowloris connection was ended:\n%s", h_log(d));
    for (int i = 0; i < SLOW; i++)
        close(slow[i]);
}

/* usherd's RSS, sampled every 50 ms until `n` lines containing `needle` are logged. */
static long peak_rss_until(struct h_daemon *d, const char *needle, int n, int ms)
{
    int64_t deadline = h_now_ms() + ms * (int64_t)t_scale();
    long peak = 0;

    for (;; usleep(50000)) {
        long rss = h_rss_kb(d->pid);
        if (rss > peak)
            peak = rss;
        if (h_count_log(d, needle) >= n)
            return peak;
        if (h_now_ms() > deadline)
            T_FAIL("only %d of %d \"%s\" lines within %d ms:\n%s", h_count_log(d, needle), n,
                   needle, ms, h_log(d));
    }
}

static void test_chargen_clients_that_never_read_time_out(void)
{
    /* Scenario: chargen with idle_timeout = 1s; 50 clients connect and never
     * read, so the socket buffers fill and usherd's writes stop.  Asserted:
     * all 50 end with end=timeout within a few seconds; usherd's RSS grows
     * by less than 4 MiB meanwhile (chargen output is not buffered in
     * usherd). */
    enum { N = 50 };
    struct h_daemon *d = h_start("[chargen]\nlisten = tcp://127.0.0.1:0\nbuiltin = chargen\n"
                                 "idle_timeout = 1s\n",
                                 NULL);
    const char *addr = h_addr(d, "chargen", "tcp://127");
    static int fds[N];
    long rss0 = h_rss_kb(d->pid), peak;
    int64_t start = h_now_ms();

    for (int i = 0; i < N; i++)
        fds[i] = h_connect(addr);
    peak = peak_rss_until(d, "end=timeout", N, 6000);
    t_note("%d non-reading chargen clients: RSS %ld -> peak %ld KiB; all timed out after %lld ms",
           N, rss0, peak, (long long)(h_now_ms() - start));
    if (peak - rss0 > 4096)
        T_FAIL("usherd grew by %ld KiB for %d clients that do not read", peak - rss0, N);
    T_EQ_INT(h_count_log(d, "usherd: service=chargen "), N);
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

static void test_echo_clients_that_never_read_time_out(void)
{
    /* Scenario: echo with idle_timeout = 1s; 10 clients each write until
     * their writes block (usherd stops reading once its replies back up),
     * never reading.  Asserted: all 10 end with end=timeout; usherd's RSS
     * grows by less than 8 MiB (what it holds per connection is bounded). */
    enum { N = 10 };
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "idle_timeout = 1s\n",
                                 NULL);
    const char *addr = h_addr(d, "echo", "tcp://127");
    static char chunk[65536];
    int fds[N];
    long rss0 = h_rss_kb(d->pid), peak;
    unsigned long long sent = 0;

    memset(chunk, 'e', sizeof(chunk));
    for (int i = 0; i < N; i++) {
        int64_t stalled = 0;
        fds[i] = h_connect(addr);
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        /* Write until nothing goes through for 200 ms: backpressure reached. */
        for (;;) {
            ssize_t n = send(fds[i], chunk, sizeof(chunk), MSG_NOSIGNAL);
            struct pollfd p = {.fd = fds[i], .events = POLLOUT};
            if (n > 0) {
                sent += (unsigned long long)n;
                stalled = 0;
                continue;
            }
            if (n < 0 && errno != EAGAIN)
                T_FAIL("client %d: send: %s", i, strerror(errno));
            if (stalled == 0)
                stalled = h_now_ms();
            if (h_now_ms() - stalled > 200)
                break;
            poll(&p, 1, 50);
        }
    }
    peak = peak_rss_until(d, "end=timeout", N, 8000);
    t_note("%d non-reading echo clients wrote %llu MiB: RSS %ld -> peak %ld KiB", N, sent >> 20,
           rss0, peak);
    if (peak - rss0 > 8192)
        T_FAIL("usherd grew by %ld KiB for %d clients that do not read", peak - rss0, N);
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

/* --- resets ------------------------------------------------------------------ */

static void test_reset_storm_leaves_the_daemon_serving(void)
{
    /* Scenario: 500 connections to echo, each reset (SO_LINGER 0, close) at
     * once after connecting.  Asserted: within 5 s usherd has ended every
     * connection it accepted (stats conns_now=0, one log line per accepted
     * connection), holds no more descriptors than before, and serves a
     * normal client. */
    enum { N = 500 };
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", NULL);
    const char *addr = h_addr(d, "echo", "tcp://127");
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    int base = h_count_fds(d->pid), fd;
    long long total = 0;
    char *stats = NULL;

    for (int i = 0; i < N; i++) {
        fd = h_connect(addr);
        T_ASSERT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
        close(fd);
    }
    for (int64_t deadline = h_now_ms() + 5000 * (int64_t)t_scale();; usleep(50000)) {
        free(stats);
        stats = h_stats(d, "echo");
        total = h_log_field(stats, "conns_total");
        if (h_log_field(stats, "conns_now") == 0 && total == N &&
            h_count_log(d, "usherd: service=echo ") == total && h_count_fds(d->pid) <= base)
            break;
        if (h_now_ms() > deadline)
            T_FAIL("5 s after 500 resets: %s; %d connection lines; %d descriptors (%d before)",
                   stats, h_count_log(d, "usherd: service=echo "), h_count_fds(d->pid), base);
    }
    t_note("500 resets: %d ended closed, %d with ECONNRESET", h_count_log(d, "end=closed"),
           h_count_log(d, "end=error:ECONNRESET"));
    fd = h_connect(addr);
    h_echo_roundtrip(fd, "still here\n");
    close(fd);
}

/* --- a stderr nobody reads --------------------------------------------------- */

/* Start usherd on `conf_path` with stderr the write end of a new pipe; *rd gets the read end. */
static pid_t spawn_with_stderr_pipe(const char *conf_path, int *rd)
{
    int pipefd[2];
    pid_t pid;

    T_ASSERT(pipe2(pipefd, O_CLOEXEC) == 0);
    pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        struct sigaction sa = {.sa_handler = SIG_DFL};
        sigaction(SIGPIPE, &sa, NULL); /* as from a shell, not as the runner has it */
        dup2(null, 0);
        dup2(null, 1);
        dup2(pipefd[1], 2);
        execl(h_usherd(), h_usherd(), "-f", conf_path, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    *rd = pipefd[0];
    return pid;
}

/* Append what the pipe holds now to buf (non-blocking reads). */
static void drain(int fd, char **buf, size_t *len, size_t *cap)
{
    ssize_t n;

    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (;;) {
        if (*len + 65536 + 1 > *cap) {
            *cap *= 2;
            if ((*buf = realloc(*buf, *cap)) == NULL)
                T_FAIL("out of memory");
        }
        if ((n = read(fd, *buf + *len, 65536)) <= 0)
            break;
        *len += (size_t)n;
    }
    (*buf)[*len] = '\0';
}

/* The sum of N over "usherd: warning: N log lines lost (stderr was full)" in text. */
static long lost_lines(const char *text)
{
    static const char head[] = "usherd: warning: ";
    const char *p = text;
    long sum = 0;

    while ((p = strstr(p, head)) != NULL) {
        char *end;
        long n = strtol(p + strlen(head), &end, 10);
        if (end != p + strlen(head) && strncmp(end, " log lines lost (stderr was full)", 33) == 0)
            sum += n;
        p += strlen(head);
    }
    return sum;
}

static void test_full_stderr_pipe_loses_lines_not_service(void)
{
    /* Scenario: usherd's stderr is a pipe we do not read; 3000 echo
     * connections over a Unix socket, each logging a line (far more than
     * the pipe holds).  Asserted: every connection is served at once (a
     * full log pipe does not block usherd); after we drain the pipe, the
     * next line is preceded by "warning: N log lines lost (stderr was
     * full)", and the lines read plus the N of such notes account for every
     * connection exactly. */
    enum { N = 3000 };
    char conf_path[512], sock[512], addr[600], conf[700];
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    int rd, lines = 0;
    long lost;
    pid_t pid;

    snprintf(conf_path, sizeof(conf_path), "%s/usherd.conf", h_tmpdir());
    snprintf(sock, sizeof(sock), "%s/e.sock", h_tmpdir());
    snprintf(addr, sizeof(addr), "unix:%s", sock);
    snprintf(conf, sizeof(conf), "[echo]\nlisten = unix:%s\nbuiltin = echo\n", sock);
    h_write_file(conf_path, conf);
    pid = spawn_with_stderr_pipe(conf_path, &rd);
    for (int64_t deadline = h_now_ms() + 10000 * (int64_t)t_scale(); access(sock, F_OK) != 0;
         usleep(5000))
        if (h_now_ms() > deadline)
            T_FAIL("usherd did not create %s", sock);
    for (int i = 0; i <= N; i++) {
        int fd;
        if (i == N)
            drain(rd, &text, &len, &cap); /* room again: the next line gets through */
        for (int64_t deadline = h_now_ms() + 5000; (fd = h_connect_raw(addr)) < 0; usleep(1000))
            if (h_now_ms() > deadline)
                T_FAIL("connection %d: %s", i, strerror(errno));
        h_echo_roundtrip(fd, "x\n");
        close(fd);
    }
    /* Every line, or the count of those lost, comes in (the last ones are logged late). */
    for (int64_t deadline = h_now_ms() + 5000 * (int64_t)t_scale();; usleep(5000)) {
        drain(rd, &text, &len, &cap);
        lines = 0;
        for (char *p = text; (p = strstr(p, "usherd: service=echo proto=unix")) != NULL; p++)
            lines++;
        lost = lost_lines(text);
        if (lines + lost >= N + 1 || h_now_ms() > deadline)
            break;
    }
    t_note("%d connections: %d lines came through, %ld reported lost", N + 1, lines, lost);
    if (strstr(text, "ERROR: AddressSanitizer") != NULL || strstr(text, "runtime error:") != NULL)
        T_FAIL("a sanitizer report:\n%s", text);
    if (lost <= 0 || lines + lost != N + 1)
        T_FAIL("%d lines + %ld reported lost, want %d (%zu bytes read)", lines, lost, N + 1, len);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    free(text);
}

static const struct t_case cases[] = {
    T_CASE(test_out_of_descriptors_does_not_spin),
    T_CASE(test_out_of_descriptors_control_socket_does_not_spin),
    T_CASE(test_out_of_descriptors_serves_everyone_as_they_free),
    T_CASE(test_slowloris_does_not_slow_other_clients),
    T_CASE(test_chargen_clients_that_never_read_time_out),
    T_CASE(test_echo_clients_that_never_read_time_out),
    T_CASE(test_reset_storm_leaves_the_daemon_serving),
    T_CASE(test_full_stderr_pipe_loses_lines_not_service),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
