/*
 * Stream connections (SPEC 6, 7, 9): idle timeout, backpressure with
 * bounded memory, resets, many at once, the global connection limit,
 * keepalive, and the per-connection log line.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- idle timeout ---------------------------------------------------------- */

static void test_idle_timeout_closes_and_logs_timeout(void)
{
    /* Scenario: echo with idle_timeout = 1s; one exchange, then silence.
     * Asserted: the daemon closes the connection no sooner than ~1 s after
     * the last byte and within a few seconds, and logs in=2 out=2
     * end=timeout. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "idle_timeout = 1s\n",
                                 NULL);
    int fd = h_connect(h_addr(d, "echo", "tcp://127"));
    int64_t last, waited;

    h_echo_roundtrip(fd, "hi");
    last = h_now_ms();
    if (!h_wait_closed(fd, 5000))
        T_FAIL("still open 5 s after the last byte, with idle_timeout = 1s");
    waited = h_now_ms() - last;
    if (waited < 900)
        T_FAIL("closed after %lld ms of quiet, before idle_timeout = 1s", (long long)waited);
    if (!h_wait_log(d, "end=timeout", 2000))
        T_FAIL("no end=timeout line:\n%s", h_log(d));
    T_CONTAINS(h_log_line(d, "end=timeout"), " in=2 out=2 end=timeout");
}

static void test_activity_keeps_connection_open(void)
{
    /* Scenario: idle_timeout = 1s; a byte every 250 ms for 3 s, each echoed.
     * Asserted: the connection is still open after 3 s (3 x the timeout),
     * with no log line yet; once we stop, it times out. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "idle_timeout = 1s\n",
                                 NULL);
    int fd = h_connect(h_addr(d, "echo", "tcp://127"));

    for (int i = 0; i < 12; i++) {
        usleep(250000); /* pacing: the activity under test */
        h_echo_roundtrip(fd, "x");
    }
    if (h_count_log(d, "usherd: service=echo ") != 0)
        T_FAIL("the connection ended while active:\n%s", h_log(d));
    if (!h_wait_closed(fd, 5000))
        T_FAIL("not closed after the activity stopped");
    T_ASSERT(h_wait_log(d, "in=12 out=12 end=timeout", 2000));
}

static void test_output_counts_as_activity(void)
{
    /* Scenario: chargen with idle_timeout = 1s; we never send, but read
     * without pause for 3 s; then stop reading.  Asserted: bytes going out
     * keep the connection alive (no close, no log line after 3 s); once
     * nothing moves either way, it ends with end=timeout. */
    struct h_daemon *d = h_start("[chargen]\nlisten = tcp://127.0.0.1:0\nbuiltin = chargen\n"
                                 "idle_timeout = 1s\n",
                                 NULL);
    int fd = h_connect(h_addr(d, "chargen", "tcp://127"));
    int64_t until = h_now_ms() + 3000;
    char buf[65536];

    while (h_now_ms() < until) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            T_FAIL("chargen stopped while we read: %s", n == 0 ? "EOF" : strerror(errno));
    }
    if (h_count_log(d, "usherd: service=chargen ") != 0)
        T_FAIL("the connection ended while sending:\n%s", h_log(d));
    if (!h_wait_log(d, "end=timeout", 10000))
        T_FAIL("a reader that stopped reading was not timed out:\n%s", h_log(d));
}

/* --- backpressure ---------------------------------------------------------- */

/* Byte `i` of the backpressure stream. */
static unsigned char stream_byte(uint64_t i)
{
    return (unsigned char)(i ^ (i >> 8) * 31 ^ (i >> 16) * 7);
}

static void fill_stream(unsigned char *buf, uint64_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = stream_byte(off + i);
}

static void test_backpressure_bounds_memory(void)
{
    /* Scenario: a client writes 50 MiB into echo without reading any of it.
     * Asserted: the writes block well short of 50 MiB (usherd stops reading
     * when its output backs up), usherd's RSS grows by less than 20 MiB;
     * then the client reads while writing the rest, and every one of the
     * 50 MiB comes back intact and in order, then EOF. */
    const uint64_t total = 50ull << 20;
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", NULL);
    int fd = h_connect(h_addr(d, "echo", "tcp://127"));
    unsigned char out[65536], in[65536], want[65536];
    uint64_t sent = 0, got = 0;
    long rss0, rss1;
    int64_t stalled_since = 0;

    h_echo_roundtrip(fd, "warm up");
    rss0 = h_rss_kb(d->pid);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    /* Phase 1: write only, until no write has gone through for a while. */
    for (;;) {
        size_t len = sizeof(out) < total - sent ? sizeof(out) : (size_t)(total - sent);
        ssize_t n;
        if (sent == total)
            T_FAIL("all 50 MiB went in without reading: no backpressure");
        fill_stream(out, sent, len);
        n = send(fd, out, len, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (uint64_t)n;
            stalled_since = 0;
            continue;
        }
        if (n < 0 && errno != EAGAIN)
            T_FAIL("send: %s", strerror(errno));
        if (stalled_since == 0)
            stalled_since = h_now_ms();
        if (h_now_ms() - stalled_since > 1000 * (int64_t)t_scale())
            break;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, 100);
    }
    rss1 = h_rss_kb(d->pid);
    t_note("writes blocked after %llu MiB; usherd RSS %ld -> %ld KiB",
           (unsigned long long)(sent >> 20), rss0, rss1);
    if (rss1 - rss0 > 20 * 1024)
        T_FAIL("usherd grew by %ld KiB while the client did not read", rss1 - rss0);
    /* Phase 2: read everything back while writing the rest. */
    while (got < total) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        if (poll(&p, 1, 10000 * (int)t_scale()) <= 0)
            T_FAIL("stalled at %llu bytes back of %llu sent", (unsigned long long)got,
                   (unsigned long long)sent);
        if ((p.revents & POLLOUT) && sent < total) {
            size_t len = sizeof(out) < total - sent ? sizeof(out) : (size_t)(total - sent);
            ssize_t n;
            fill_stream(out, sent, len);
            n = send(fd, out, len, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN)
                T_FAIL("send: %s", strerror(errno));
            if (n > 0)
                sent += (uint64_t)n;
            if (sent == total)
                shutdown(fd, SHUT_WR);
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, in, sizeof(in), 0);
            if (n == 0)
                T_FAIL("EOF after %llu of %llu bytes", (unsigned long long)got,
                       (unsigned long long)total);
            if (n < 0 && errno != EAGAIN)
                T_FAIL("recv: %s", strerror(errno));
            if (n > 0) {
                fill_stream(want, got, (size_t)n);
                if (memcmp(in, want, (size_t)n) != 0)
                    T_FAIL("echoed bytes differ near offset %llu", (unsigned long long)got);
                got += (uint64_t)n;
            }
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    T_ASSERT(h_wait_closed(fd, 5000));
}

/* --- resets ---------------------------------------------------------------- */

static void test_reset_mid_transfer_logged_and_survived(void)
{
    /* Scenario: a client sends 8 MiB to echo without reading, so usherd has
     * output pending, then resets the connection (SO_LINGER 0, close).
     * Asserted: usherd logs end=error:ECONNRESET for it and goes on serving
     * new connections. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", NULL);
    const char *addr = h_addr(d, "echo", "tcp://127");
    int fd = h_connect(addr), other;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    size_t chunk = 1 << 20, sent = 0;
    char *buf = calloc(1, chunk);

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    while (sent < (8u << 20)) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        ssize_t n = send(fd, buf, chunk, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (poll(&p, 1, 500) == 0)
            break; /* usherd's output backed up: it is mid-transfer */
    }
    T_ASSERT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    close(fd);
    if (!h_wait_log(d, "usherd: service=echo ", 5000))
        T_FAIL("the reset connection was not ended");
    T_CONTAINS(h_log_line(d, "usherd: service=echo "), "end=error:ECONNRESET");
    other = h_connect(addr);
    h_echo_roundtrip(other, "still serving");
    T_ASSERT(h_alive(d));
    free(buf);
}

/* --- many connections and the limit --------------------------------------- */

static void test_500_concurrent_connections(void)
{
    /* Scenario: 500 connections to echo open at once, each sends its own
     * message, then all replies are read.  Asserted: each gets exactly its
     * own bytes back; usherd holds them all at once (500 more descriptors);
     * after we close them, it logs 500 lines and its descriptor count goes
     * back to where it was. */
    enum { N = 500 };
    struct rlimit rl;
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/e.sock\n"
                                 "builtin = echo\n",
                                 NULL);
    static int fds[N];
    int base, peak;

    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < N + 100) {
        rl.rlim_cur = rl.rlim_max < N + 100 ? rl.rlim_max : N + 100;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    base = h_count_fds(d->pid);
    for (int i = 0; i < N; i++)
        fds[i] = h_connect(h_addr(d, "echo", i % 2 ? "unix:" : "tcp://127"));
    for (int i = 0; i < N; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "connection %03d says hi", i);
        h_send_str(fds[i], msg);
    }
    for (int i = 0; i < N; i++) {
        char msg[32], back[32];
        snprintf(msg, sizeof(msg), "connection %03d says hi", i);
        h_recv_exact(fds[i], back, strlen(msg));
        if (memcmp(back, msg, strlen(msg)) != 0)
            T_FAIL("connection %d got \"%.*s\"", i, (int)strlen(msg), back);
    }
    peak = h_count_fds(d->pid);
    if (peak < base + N)
        T_FAIL("usherd holds %d descriptors with %d connections open (%d before)", peak, N, base);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    if (!h_wait_log_count(d, "usherd: service=echo ", N, 10000))
        T_FAIL("only %d of %d connection lines", h_count_log(d, "usherd: service=echo "), N);
    T_EQ_INT(h_count_log(d, "end=closed"), N);
    for (int64_t until = h_now_ms() + 5000; h_count_fds(d->pid) != base; usleep(10000))
        if (h_now_ms() > until)
            T_FAIL("usherd holds %d descriptors after all closed, %d before", h_count_fds(d->pid),
                   base);
}

static void test_max_conns_refuses_the_excess(void)
{
    /* Scenario: [global] max_conns = 3; two connections to echo and one to
     * sum are served (the limit is for all services together).  A fourth, to
     * echo, is accepted and closed at once without a byte.  Asserted: its
     * log line "service=echo proto=tcp peer=127.0.0.1:PORT ... end=refused:
     * max_conns"; the three keep working; once one closes, a new one is
     * served; the stats line counts refused=1. */
    struct h_daemon *d = h_start("[global]\nmax_conns = 3\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "[sum]\nlisten = tcp://127.0.0.1:0\nbuiltin = sum\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    int a = h_connect(echo), b = h_connect(echo), c = h_connect(h_addr(d, "sum", "tcp://127"));
    int extra, late;
    char buf[16], peer[64], *stats;

    h_echo_roundtrip(a, "a");
    h_echo_roundtrip(b, "b");
    h_send_str(c, "1 2\n");
    h_recv_exact(c, buf, 2);
    T_EQ_MEM(buf, "3\n", 2);
    extra = h_connect(echo);
    if (!h_wait_closed(extra, 2000))
        T_FAIL("the connection over max_conns was not closed at once");
    snprintf(peer, sizeof(peer), "usherd: service=echo proto=tcp peer=127.0.0.1:%d ",
             h_local_port(extra));
    if (!h_wait_log(d, peer, 2000))
        T_FAIL("no log line for the refused connection:\n%s", h_log(d));
    T_CONTAINS(h_log_line(d, peer), "end=refused:max_conns");
    h_echo_roundtrip(a, "a again");
    h_echo_roundtrip(b, "b again");
    close(a);
    if (!h_wait_log(d, "end=closed", 2000))
        T_FAIL("closing connection a was not logged");
    late = h_connect(echo);
    h_echo_roundtrip(late, "room again");
    stats = h_stats(d, "echo");
    T_EQ_INT(h_log_field(stats, "refused"), 1);
    T_EQ_INT(h_log_field(stats, "conns_now"), 2);
    close(extra);
}

static void test_refused_unix_peer_logged_with_credentials(void)
{
    /* Scenario: max_conns = 1 over a Unix socket; one connection held, a
     * second refused.  Asserted: the refusal's line names the Unix peer as
     * every Unix connection line does, "service=echo proto=unix
     * peer=pid:OURPID,uid:OURUID ... end=refused:max_conns". */
    struct h_daemon *d = h_start("[global]\nmax_conns = 1\n"
                                 "[echo]\nlisten = unix:@DIR@/e.sock\nbuiltin = echo\n",
                                 NULL);
    const char *addr = h_addr(d, "echo", "unix:");
    int held = h_connect(addr), extra;
    char want[128], *line;

    h_echo_roundtrip(held, "mine");
    extra = h_connect(addr);
    T_ASSERT(h_wait_closed(extra, 2000));
    if (!h_wait_log(d, "end=refused:max_conns", 2000))
        T_FAIL("no refusal line:\n%s", h_log(d));
    line = h_log_line(d, "end=refused:max_conns");
    snprintf(want, sizeof(want), "usherd: service=echo proto=unix peer=pid:%ld,uid:%ld ",
             (long)getpid(), (long)getuid());
    if (strncmp(line, want, strlen(want)) != 0)
        T_FAIL("want a line starting \"%s\", got \"%s\"", want, line);
    close(extra);
    close(held);
}

static void test_refusals_logged_at_most_once_a_second(void)
{
    /* Scenario: max_conns = 1, one connection held; a burst of 20 refused
     * connections; then, over a second later, one more.  Asserted: the
     * burst is logged by at most one line per second it lasted; the later
     * refusal brings its own line plus a summary naming how many went
     * unlogged; stats count all 21 as refused. */
    struct h_daemon *d = h_start("[global]\nmax_conns = 1\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    int held = h_connect(echo), lines, fd;
    int64_t start, burst_ms;
    char *stats, *log, want[64];

    h_echo_roundtrip(held, "mine");
    start = h_now_ms();
    for (int i = 0; i < 20; i++) {
        fd = h_connect(echo);
        if (!h_wait_closed(fd, 2000))
            T_FAIL("refused connection %d not closed", i);
        close(fd);
    }
    burst_ms = h_now_ms() - start;
    T_ASSERT(h_wait_log(d, "end=refused:max_conns", 2000));
    lines = h_count_log(d, "end=refused:max_conns");
    if (lines > 1 + (int)(burst_ms / 1000))
        T_FAIL("%d refusal lines for a burst of %lld ms", lines, (long long)burst_ms);
    if (burst_ms >= 900)
        t_skip("the burst took %lld ms; too slow to check the summary count", (long long)burst_ms);
    usleep(1200000); /* pacing: let the one-second window pass */
    fd = h_connect(echo);
    T_ASSERT(h_wait_closed(fd, 2000));
    if (!h_wait_log_count(d, "end=refused:max_conns", 2, 2000))
        T_FAIL("the refusal after the quiet second was not logged:\n%s", h_log(d));
    log = h_log(d);
    snprintf(want, sizeof(want), "19 more");
    if (strstr(log, want) == NULL)
        T_FAIL("no summary of the 19 unlogged refusals:\n%s", log);
    stats = h_stats(d, "echo");
    T_EQ_INT(h_log_field(stats, "refused"), 21);
}

/* --- keepalive ------------------------------------------------------------- */

/* The keepalive timer (ms) ss shows for the server side of port `port`'s
 * connection, or -1 if it shows none. */
static long keepalive_timer_ms(int port)
{
    char filter[64];
    const char *argv[] = {"ss", "-tnoe", "state", "established", filter, NULL};
    struct h_result r;
    const char *t;
    long ms = 0;

    snprintf(filter, sizeof(filter), "( sport = :%d )", port);
    h_run(&r, NULL, 0, 10000, argv);
    if (r.exit_code != 0)
        T_FAIL("ss failed: %s", r.err);
    t = strstr(r.out, "timer:(keepalive,");
    if (t == NULL)
        return -1;
    t += strlen("timer:(keepalive,");
    while (*t != ',' && *t != ')' && *t != '\0') {
        char *end;
        long v = strtol(t, &end, 10);
        if (strncmp(end, "min", 3) == 0)
            ms += v * 60000, end += 3;
        else if (strncmp(end, "sec", 3) == 0)
            ms += v * 1000, end += 3;
        else if (strncmp(end, "ms", 2) == 0)
            ms += v, end += 2;
        else
            T_FAIL("cannot read ss's timer: %s", r.out);
        t = end;
    }
    return ms;
}

static void test_keepalive_on_accepted_connections(void)
{
    /* Scenario: three services: keepalive by default, keepalive = 30s, and
     * keepalive = no; one connection to each, seen from outside with
     * `ss -tnoe`.  Asserted: the default has a keepalive timer of at most
     * 300 s (and more than 250 s), 30s one of at most 30 s, "no" none. */
    struct h_daemon *d;
    int fds[3];
    long ms;

    h_need("ss", "iproute2");
    d = h_start("[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                "[b]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nkeepalive = 30s\n"
                "[c]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nkeepalive = no\n",
                NULL);
    fds[0] = h_connect(h_addr(d, "a", "tcp://127"));
    fds[1] = h_connect(h_addr(d, "b", "tcp://127"));
    fds[2] = h_connect(h_addr(d, "c", "tcp://127"));
    for (int i = 0; i < 3; i++)
        h_echo_roundtrip(fds[i], "accepted?");
    ms = keepalive_timer_ms(h_port(h_addr(d, "a", "tcp://127")));
    if (ms < 250000 || ms > 300000)
        T_FAIL("default keepalive: timer %ld ms, want 250-300 s", ms);
    ms = keepalive_timer_ms(h_port(h_addr(d, "b", "tcp://127")));
    if (ms < 0 || ms > 30000)
        T_FAIL("keepalive = 30s: timer %ld ms, want at most 30 s", ms);
    ms = keepalive_timer_ms(h_port(h_addr(d, "c", "tcp://127")));
    if (ms != -1)
        T_FAIL("keepalive = no: still a keepalive timer (%ld ms)", ms);
}

/* --- the connection's log line -------------------------------------------- */

/* Find the line starting `prefix` (fails if none within 5 s); checks that
 * the rest is "DURATION in=32 out=32 end=closed" with DURATION in range. */
static void check_conn_line(struct h_daemon *d, const char *prefix, long min_ms, long max_ms)
{
    char *line, *rest, *end;
    long dur;

    if (!h_wait_log(d, prefix, 5000))
        T_FAIL("no line \"%s...\":\n%s", prefix, h_log(d));
    line = h_log_line(d, prefix);
    rest = strstr(line, prefix) + strlen(prefix);
    dur = strtol(rest, &end, 10);
    if (end == rest || strcmp(end, " in=32 out=32 end=closed") != 0)
        T_FAIL("want \"%sN in=32 out=32 end=closed\", got \"%s\"", prefix, line);
    if (dur < min_ms || dur > max_ms)
        T_FAIL("duration_ms=%ld, want %ld..%ld: %s", dur, min_ms, max_ms, line);
}

static void test_connection_log_line_fields(void)
{
    /* Scenario: echo on TCP 127.0.0.1, TCP ::1, the TCP wildcard (reached
     * over 127.0.0.1) and a Unix socket; over each, 32 bytes there and back,
     * the connection held 200 ms, then closed.  Asserted: exactly
     * "usherd: service=echo proto=tcp peer=127.0.0.1:PORT duration_ms=N
     * in=32 out=32 end=closed", with [::1]:PORT for IPv6, 127.0.0.1 (not
     * ::ffff:127.0.0.1) through the wildcard, proto=unix and
     * peer=pid:OURPID,uid:OURUID for Unix; N between 200 and the time we
     * held it. */
    static const char *const prefixes[] = {"tcp://127", "tcp://[", "tcp://*", "unix:"};
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0 tcp://[::1]:0 tcp://*:0 "
                                 "unix:@DIR@/e.sock\nbuiltin = echo\n",
                                 NULL);
    const char *msg = "0123456789abcdef0123456789ABCDEF";

    for (size_t i = 0; i < ARRAY_LEN(prefixes); i++) {
        int fd = h_connect(h_addr(d, "echo", prefixes[i]));
        int64_t start = h_now_ms();
        char want[160];
        h_echo_roundtrip(fd, msg);
        if (i == 3)
            snprintf(want, sizeof(want),
                     "usherd: service=echo proto=unix peer=pid:%ld,uid:%ld duration_ms=",
                     (long)getpid(), (long)getuid());
        else
            snprintf(want, sizeof(want), "usherd: service=echo proto=tcp peer=%s:%d duration_ms=",
                     i == 1 ? "[::1]" : "127.0.0.1", h_local_port(fd));
        usleep(200000); /* pacing: a duration worth measuring */
        close(fd);
        check_conn_line(d, want, 200, (long)(h_now_ms() - start) + 50);
    }
}

static void test_quiet_mode_logs_no_connection_lines(void)
{
    /* Scenario: usherd -q (warnings and errors only) on a Unix socket; one
     * echo exchange, then SIGTERM.  Asserted: clean exit 0, and the log has
     * no per-connection line (nor any info line). */
    struct h_daemon *d =
        h_spawn("[echo]\nlisten = unix:@DIR@/q.sock\nbuiltin = echo\n", "-q", NULL);
    char addr[512], *log;
    int fd = -1;

    snprintf(addr, sizeof(addr), "unix:%s/q.sock", d->dir);
    for (int64_t until = h_now_ms() + 10000 * (int64_t)t_scale(); fd < 0; usleep(5000)) {
        fd = h_connect_raw(addr);
        if (fd < 0 && h_now_ms() > until)
            T_FAIL("usherd -q never came to listen on %s", addr);
        if (!h_alive(d))
            T_FAIL("usherd -q exited (%d):\n%s", d->exit_status, h_log(d));
    }
    h_echo_roundtrip(fd, "quiet please");
    close(fd);
    T_EQ_INT(h_stop(d), 0);
    log = h_log(d);
    if (strstr(log, "service=echo") != NULL || strstr(log, "listening") != NULL)
        T_FAIL("info lines with -q:\n%s", log);
}

static const struct t_case cases[] = {
    T_CASE(test_idle_timeout_closes_and_logs_timeout),
    T_CASE(test_activity_keeps_connection_open),
    T_CASE(test_output_counts_as_activity),
    T_CASE_TIMEOUT(test_backpressure_bounds_memory, 60),
    T_CASE(test_reset_mid_transfer_logged_and_survived),
    T_CASE(test_500_concurrent_connections),
    T_CASE(test_max_conns_refuses_the_excess),
    T_CASE(test_refused_unix_peer_logged_with_credentials),
    T_CASE(test_refusals_logged_at_most_once_a_second),
    T_CASE(test_keepalive_on_accepted_connections),
    T_CASE(test_connection_log_line_fields),
    T_CASE(test_quiet_mode_logs_no_connection_lines),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
