/*
 * The daemon's life and its signals (SPEC 8.3): SIGTERM and SIGINT stop it
 * gracefully within shutdown_timeout, a second SIGTERM at once; SIGUSR1
 * logs stats; SIGPIPE never kills it; SIGHUP does not either.
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
#include <sys/socket.h>
#include <unistd.h>

static const char conf_echo[] = "[global]\nshutdown_timeout = %s\n"
                                "[echo]\nlisten = tcp://127.0.0.1:0 udp://127.0.0.1:0 "
                                "unix:@DIR@/e.sock\nbuiltin = echo\n";

static struct h_daemon *start_echo(const char *shutdown_timeout)
{
    char conf[512];

    snprintf(conf, sizeof(conf), conf_echo, shutdown_timeout);
    return h_start(conf, NULL);
}

/* --- stopping -------------------------------------------------------------- */

static void test_sigterm_without_connections_exits_at_once(void)
{
    /* Scenario: an idle daemon gets SIGTERM.  Asserted: exit status 0 within
     * a second (nothing to wait for). */
    struct h_daemon *d = start_echo("10s");
    int64_t start;

    start = h_now_ms();
    h_kill(d, SIGTERM);
    if (!h_wait_exit(d, 1000))
        T_FAIL("still running 1 s after SIGTERM with no connections");
    T_EQ_INT(d->exit_status, 0);
    t_note("exited %lld ms after SIGTERM", (long long)(h_now_ms() - start));
}

static void test_graceful_stop_lets_connections_finish(void)
{
    /* Scenario: shutdown_timeout = 10s; an echo connection is open; SIGTERM.
     * Asserted: the TCP, UDP and Unix listeners close at once (new
     * connections refused, datagrams unanswered); the open connection keeps
     * echoing, slowly, for a second; when we end it, usherd logs it as
     * end=closed and exits 0 at once, long before the 10 s. */
    struct h_daemon *d = start_echo("10s");
    const char *tcp = h_addr(d, "echo", "tcp://"), *unix_addr = h_addr(d, "echo", "unix:");
    int fd = h_connect(tcp);
    char buf[16];
    int64_t ended;

    h_echo_roundtrip(fd, "before");
    h_kill(d, SIGTERM);
    h_wait_refused(tcp, 2000, "the stop signal");
    h_wait_refused(unix_addr, 2000, "the stop signal");
    if (h_dgram_exchange(h_addr(d, "echo", "udp://"), "late", 4, buf, sizeof(buf), 300) >= 0)
        T_FAIL("UDP still answered after SIGTERM");
    for (int i = 0; i < 10; i++) {
        usleep(100000); /* pacing: a slow exchange in flight */
        h_echo_roundtrip(fd, "still there?");
    }
    T_ASSERT(h_alive(d));
    T_EQ_INT(h_stream_exchange(fd, "bye", 3, buf, sizeof(buf), 5000), 3);
    ended = h_now_ms();
    if (!h_wait_exit(d, 2000))
        T_FAIL("still running 2 s after its last connection ended");
    T_EQ_INT(d->exit_status, 0);
    t_note("exited %lld ms after the last connection", (long long)(h_now_ms() - ended));
    T_CONTAINS(h_log_line(d, "usherd: service=echo "), "end=closed");
}

static void test_shutdown_timeout_closes_the_rest(void)
{
    /* Scenario: shutdown_timeout = 1s; an idle echo connection stays open
     * through SIGTERM.  Asserted: usherd closes it no sooner than ~1 s and
     * within a few, logs it end=shutdown, and exits 0. */
    struct h_daemon *d = start_echo("1s");
    int fd = h_connect(h_addr(d, "echo", "tcp://"));
    int64_t start, closed;

    h_echo_roundtrip(fd, "hello");
    start = h_now_ms();
    h_kill(d, SIGTERM);
    if (!h_wait_closed(fd, 5000))
        T_FAIL("the connection was still open 5 s after SIGTERM (shutdown_timeout = 1s)");
    closed = h_now_ms() - start;
    if (closed < 900)
        T_FAIL("closed %lld ms after SIGTERM, before shutdown_timeout", (long long)closed);
    if (!h_wait_exit(d, 3000))
        T_FAIL("not exited after shutdown_timeout");
    T_EQ_INT(d->exit_status, 0);
    T_CONTAINS(h_log_line(d, "usherd: service=echo "), "end=shutdown");
}

static void test_second_sigterm_stops_at_once(void)
{
    /* Scenario: shutdown_timeout = 30s; a connection open; SIGTERM, and once
     * the listener is closed, SIGTERM again.  Asserted: exit 0 within a
     * second of the second signal; the connection is closed, logged
     * end=shutdown. */
    struct h_daemon *d = start_echo("30s");
    const char *tcp = h_addr(d, "echo", "tcp://");
    int fd = h_connect(tcp);
    int64_t second;

    h_echo_roundtrip(fd, "hello");
    h_kill(d, SIGTERM);
    h_wait_refused(tcp, 2000, "the stop signal");
    T_ASSERT(h_alive(d));
    second = h_now_ms();
    h_kill(d, SIGTERM);
    if (!h_wait_exit(d, 1000))
        T_FAIL("still running 1 s after the second SIGTERM");
    T_EQ_INT(d->exit_status, 0);
    t_note("exited %lld ms after the second SIGTERM", (long long)(h_now_ms() - second));
    T_ASSERT(h_wait_closed(fd, 1000));
    T_CONTAINS(h_log_line(d, "usherd: service=echo "), "end=shutdown");
}

static void test_sigint_stops_gracefully_too(void)
{
    /* Scenario: as with SIGTERM, but SIGINT.  Asserted: listeners close, the
     * open connection is still served, and usherd exits 0 once it ends. */
    struct h_daemon *d = start_echo("10s");
    const char *tcp = h_addr(d, "echo", "tcp://");
    int fd = h_connect(tcp);
    char buf[8];

    h_echo_roundtrip(fd, "hello");
    h_kill(d, SIGINT);
    h_wait_refused(tcp, 2000, "the stop signal");
    h_echo_roundtrip(fd, "still served");
    T_EQ_INT(h_stream_exchange(fd, "bye", 3, buf, sizeof(buf), 5000), 3);
    if (!h_wait_exit(d, 2000))
        T_FAIL("still running 2 s after its last connection ended");
    T_EQ_INT(d->exit_status, 0);
}

static void test_second_signal_may_be_sigint(void)
{
    /* Scenario: SIGTERM with a connection open and shutdown_timeout = 30s,
     * then SIGINT (an operator's ^C).  Asserted: exit 0 within a second. */
    struct h_daemon *d = start_echo("30s");
    const char *tcp = h_addr(d, "echo", "tcp://");
    int fd = h_connect(tcp);

    h_echo_roundtrip(fd, "hello");
    h_kill(d, SIGTERM);
    h_wait_refused(tcp, 2000, "the stop signal");
    h_kill(d, SIGINT);
    if (!h_wait_exit(d, 1000))
        T_FAIL("still running 1 s after SIGINT followed SIGTERM");
    T_EQ_INT(d->exit_status, 0);
}

/* --- other signals --------------------------------------------------------- */

static void test_sigusr1_logs_stats_per_service(void)
{
    /* Scenario: echo and time services; two echo connections with 10 and 20
     * bytes there and back, the first closed, the second open; SIGUSR1.
     * Asserted: one stats line per service, exactly "stats service=echo
     * conns_now=1 conns_total=2 refused=0 bytes_in=30 bytes_out=30
     * dgrams_in=0 dgrams_out=0 dgrams_dropped=0 children=0" and a zero line
     * for time; usherd keeps running. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "[time]\nlisten = udp://127.0.0.1:0\nbuiltin = time\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://");
    int a = h_connect(echo), b;
    char *line;

    h_echo_roundtrip(a, "0123456789");
    close(a);
    T_ASSERT(h_wait_log(d, "usherd: service=echo ", 5000));
    b = h_connect(echo);
    h_echo_roundtrip(b, "01234567890123456789");
    line = h_stats(d, "echo");
    T_EQ_STR(strstr(line, "stats "),
             "stats service=echo conns_now=1 conns_total=2 refused=0 bytes_in=30 bytes_out=30 "
             "dgrams_in=0 dgrams_out=0 dgrams_dropped=0 children=0");
    line = h_log_line(d, "stats service=time ");
    T_ASSERT(line != NULL);
    T_EQ_STR(strstr(line, "stats "),
             "stats service=time conns_now=0 conns_total=0 refused=0 bytes_in=0 bytes_out=0 "
             "dgrams_in=0 dgrams_out=0 dgrams_dropped=0 children=0");
    T_EQ_INT(h_count_log(d, "stats service="), 2);
    h_echo_roundtrip(b, "alive");
    T_ASSERT(h_alive(d));
}

/* A connection failed: say whether usherd is still there. */
static void __attribute__((noreturn)) fail_dead(struct h_daemon *d, const char *svc, int i)
{
    const char *err = strerror(errno);
    bool alive = h_alive(d);

    T_FAIL("%s connection %d failed (%s); usherd %s (status %d: 128 + signal)", svc, i, err,
           alive ? "is alive" : "died", d->exit_status);
}

static void test_peer_going_away_mid_flood_is_survived(void)
{
    /* Scenario: 20 times over TCP and 20 over a Unix socket, a client reads a
     * little chargen and closes with data unread; 20 times a client floods
     * echo without reading and closes.  Writing to those sockets fails with
     * EPIPE or ECONNRESET, which raise SIGPIPE unless it is ignored.
     * Asserted: usherd is alive and serving afterwards, logged every chargen
     * connection as end=closed, and stops cleanly with exit 0. */
    struct h_daemon *d = h_start("[chargen]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/c.sock\n"
                                 "builtin = chargen\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/e.sock\n"
                                 "builtin = echo\n",
                                 NULL);
    static char flood[1 << 20];
    char buf[4096];

    for (int i = 0; i < 40; i++) {
        int fd = h_connect_raw(h_addr(d, "chargen", i % 2 ? "unix:" : "tcp://"));
        if (fd < 0 || read_full(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
            fail_dead(d, "chargen", i);
        close(fd);
    }
    for (int i = 0; i < 20; i++) {
        int fd = h_connect_raw(h_addr(d, "echo", i % 2 ? "unix:" : "tcp://"));
        if (fd < 0)
            fail_dead(d, "echo", i);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        for (int k = 0; k < 8; k++)
            if (send(fd, flood, sizeof(flood), MSG_NOSIGNAL) < 0)
                break;
        close(fd);
    }
    if (!h_wait_log_count(d, "usherd: service=chargen ", 40, 10000))
        T_FAIL("not all chargen connections ended (alive: %d):\n%s", h_alive(d), h_log(d));
    if (!h_wait_log_count(d, "usherd: service=echo ", 20, 10000))
        T_FAIL("not all echo connections ended (alive: %d)", h_alive(d));
    T_ASSERT(h_alive(d));
    T_EQ_INT(h_count_log(d, "usherd: service=chargen proto=tcp"), 20);
    T_EQ_INT(h_count_log(d, "usherd: service=chargen proto=unix"), 20);
    {
        int fd = h_connect(h_addr(d, "echo", "unix:"));
        h_echo_roundtrip(fd, "still here");
        close(fd);
    }
    {
        char *log = h_log(d);
        int closed = 0;
        for (char *p = log; (p = strstr(p, "usherd: service=chargen ")) != NULL; p++) {
            char *nl = strchr(p, '\n');
            if (nl != NULL && memmem(p, (size_t)(nl - p), "end=closed", 10) != NULL)
                closed++;
        }
        if (closed != 40)
            T_FAIL("%d of 40 chargen connections logged end=closed:\n%s", closed, log);
    }
    T_EQ_INT(h_stop(d), 0);
}

static void test_sighup_does_not_kill(void)
{
    /* Scenario: an echo connection is open; SIGHUP.  Asserted: usherd is still
     * running, the open connection still echoes, and new ones are served. */
    struct h_daemon *d = start_echo("10s");
    const char *tcp = h_addr(d, "echo", "tcp://");
    int fd = h_connect(tcp), other;

    h_echo_roundtrip(fd, "before");
    h_kill(d, SIGHUP);
    other = h_connect(tcp); /* served only after the signal was handled */
    h_echo_roundtrip(other, "new");
    h_echo_roundtrip(fd, "after");
    T_ASSERT(h_alive(d));
    close(fd);
    close(other);
    T_EQ_INT(h_stop(d), 0);
}

static const struct t_case cases[] = {
    T_CASE(test_sigterm_without_connections_exits_at_once),
    T_CASE(test_graceful_stop_lets_connections_finish),
    T_CASE(test_shutdown_timeout_closes_the_rest),
    T_CASE(test_second_sigterm_stops_at_once),
    T_CASE(test_sigint_stops_gracefully_too),
    T_CASE(test_second_signal_may_be_sigint),
    T_CASE(test_sigusr1_logs_stats_per_service),
    T_CASE(test_peer_going_away_mid_flood_is_survived),
    T_CASE(test_sighup_does_not_kill),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
