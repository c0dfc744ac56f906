/*
 * Reloads under the multi-process models (SPEC 6, 8.3): no connection is
 * ever dropped by a SIGHUP.  Workers and prefork pools whose configuration
 * did not change are kept as they are (the same processes); the others
 * retire: they close their listeners and serve what they have until it
 * ends by itself, and exit then.  A reload storm keeps at most
 * 1 + PROCS_RETIRING_MAX (3) generations of a pool; past that the oldest
 * gets the graceful stop (shutdown_timeout), the only case where a reload
 * may close a connection.  What is asserted is seen from outside: the
 * daemon's children (/proc), what the clients see, and what is logged
 * (never end=shutdown, never a program's end=signal).
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PIDS         64
#define RETIRING_MAX     3   /* PROCS_RETIRING_MAX */
#define SHUTDOWN_TIMEOUT 200 /* ms, in every configuration here */

/* --- helpers --------------------------------------------------------------- */

/* A configuration: [global] with shutdown_timeout and `global`, then `services`. */
static char *conf_of(const char *global, const char *services)
{
    return h_fmt("[global]\nshutdown_timeout = %dms\n%s%s", SHUTDOWN_TIMEOUT, global, services);
}

/* [echo] (event unless `model`), and [cat], an exec service echoing with /bin/cat. */
static char *echo_and_cat(const char *model, const char *echo_extra)
{
    return h_fmt("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n%s%s"
                 "[cat]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\n",
                 model, echo_extra);
}

/* The same processes (in any order)? */
static bool same_set(const pid_t *a, int na, const pid_t *b, int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++) {
        bool found = false;
        for (int j = 0; j < nb && !found; j++)
            found = a[i] == b[j];
        if (!found)
            return false;
    }
    return true;
}

/* SIGHUP, and wait until it is the `n`th reload logged. */
static void reload(const struct h_daemon *d, int n)
{
    h_kill(d, SIGHUP);
    if (!h_wait_log_count(d, "usherd: reloaded ", n, 5000))
        T_FAIL("reload %d not logged:\n%s", n, h_log(d));
}

/* Every connection in fds[] echoes. */
static void all_echo(const int *fds, int n, const char *after)
{
    for (int i = 0; i < n; i++)
        h_echo_roundtrip(fds[i], h_fmt("conn %d after %s\n", i, after));
}

/*
 * After a reload that replaced the pool: wait until the daemon has exactly
 * `n` children, `fresh` of them not among old[0..nold) (the new pool), and
 * return them.
 */
static int wait_new_pool(const struct h_daemon *d, const pid_t *old, int nold, int fresh, int n,
                         pid_t *pids)
{
    int64_t deadline = h_now_ms() + 5000 * (int64_t)t_scale();

    for (;; usleep(5000)) {
        int got = h_daemon_children(d, pids, MAX_PIDS), nfresh = 0;
        for (int i = 0; i < got; i++)
            nfresh += !h_pid_among(pids[i], old, nold);
        if (got == n && nfresh == fresh)
            return got;
        if (h_now_ms() > deadline)
            T_FAIL("usherd has %d children, %d new, want %d with %d new:\n%s", got, nfresh, n,
                   fresh, h_log(d));
    }
}

/* No connection was closed by a stop, no program signalled (waits 3 x shutdown_timeout). */
static void nothing_dropped(const struct h_daemon *d, const char *after)
{
    if (h_wait_log(d, "end=shutdown", 3 * SHUTDOWN_TIMEOUT))
        T_FAIL("a connection was closed after %s: %s", after, h_log_line(d, "end=shutdown"));
    if (h_count_log(d, "end=signal:") > 0)
        T_FAIL("a program was signalled after %s: %s", after, h_log_line(d, "end=signal:"));
}

/*
 * Under `conf_a`: connections to echo (2) and cat (1) open; 3 reloads of
 * the same file, then one to `conf_b`, then one back to `conf_a`.
 * Asserted: after each step every connection still echoes and nothing was
 * closed (end=shutdown) or signalled; after the connections close, the
 * daemon is back to `settled` children (the retired processes have gone).
 */
static void reloads_keep_connections(const char *conf_a, const char *conf_b, int settled)
{
    struct h_daemon *d = h_start(conf_a, NULL);
    pid_t pids[MAX_PIDS];
    int fds[3], fd, n = 0;

    h_wait_children(d, settled, false, pids, MAX_PIDS, 5000);
    fds[0] = h_connect(h_addr(d, "echo", "tcp://127"));
    fds[1] = h_connect(h_addr(d, "echo", "tcp://127"));
    fds[2] = h_connect(h_addr(d, "cat", "tcp://127"));
    all_echo(fds, 3, "the start");
    for (int i = 0; i < 3; i++)
        reload(d, ++n);
    nothing_dropped(d, "3 reloads of the same file");
    all_echo(fds, 3, "3 reloads of the same file");
    h_write_file(d->conf_path, conf_b);
    reload(d, ++n);
    nothing_dropped(d, "a changed configuration");
    all_echo(fds, 3, "a changed configuration");
    fd = h_connect(h_addr(d, "echo", "tcp://127"));
    h_echo_roundtrip(fd, "a new connection\n");
    close(fd);
    h_write_file(d->conf_path, conf_a);
    reload(d, ++n);
    nothing_dropped(d, "the configuration changed back");
    all_echo(fds, 3, "the configuration changed back");
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    h_wait_children(d, settled, false, pids, MAX_PIDS, 5000);
    T_EQ_INT(h_count_log(d, "end=shutdown"), 0);
    T_EQ_INT(h_stop(d), 0);
}

/* --- every model ----------------------------------------------------------- */

static void test_workers_reloads_keep_connections(void)
{
    /* Scenario: workers = 2, echo and an exec service (cat, served by the
     * workers); reloads_keep_connections, the change being echo's
     * idle_timeout. */
    reloads_keep_connections(conf_of("workers = 2\n", echo_and_cat("", "")),
                             conf_of("workers = 2\n", echo_and_cat("", "idle_timeout = 30s\n")), 2);
}

static void test_prefork_reloads_keep_connections(void)
{
    /* Scenario: echo with model = prefork:2 (workers = 1), cat served by the
     * main process; reloads_keep_connections, the change being echo's
     * idle_timeout (a new pool). */
    reloads_keep_connections(
        conf_of("", echo_and_cat("model = prefork:2\n", "")),
        conf_of("", echo_and_cat("model = prefork:2\n", "idle_timeout = 30s\n")), 2);
}

static void test_workers_and_prefork_reloads_keep_connections(void)
{
    /* Scenario: workers = 2 and echo with model = prefork:2 (cat served by
     * the workers); reloads_keep_connections, the change being echo's
     * idle_timeout: a new pool, the workers kept. */
    reloads_keep_connections(
        conf_of("workers = 2\n", echo_and_cat("model = prefork:2\n", "")),
        conf_of("workers = 2\n", echo_and_cat("model = prefork:2\n", "idle_timeout = 30s\n")), 4);
}

/* --- what is kept ---------------------------------------------------------- */

static void test_storm_of_unchanged_reloads_keeps_the_workers(void)
{
    /* Scenario: workers = 2, two echo connections open; 20 SIGHUPs of the
     * same file in a row.  Asserted: the two workers are the very ones
     * there were (no new process, none retiring), and both connections
     * still echo, none closed. */
    struct h_daemon *d = h_start(conf_of("workers = 2\n", echo_and_cat("", "")), NULL);
    pid_t before[MAX_PIDS], after[MAX_PIDS];
    int fds[2], n;

    h_wait_children(d, 2, false, before, MAX_PIDS, 5000);
    for (int i = 0; i < 2; i++) {
        fds[i] = h_connect(h_addr(d, "echo", "tcp://127"));
        h_echo_roundtrip(fds[i], "before\n");
    }
    for (int i = 1; i <= 20; i++)
        reload(d, i);
    n = h_daemon_children(d, after, MAX_PIDS);
    if (!same_set(before, 2, after, n))
        T_FAIL("%d processes after 20 reloads of the same file, not the 2 workers there were", n);
    nothing_dropped(d, "20 reloads of the same file");
    all_echo(fds, 2, "20 reloads of the same file");
    T_ASSERT(same_set(before, 2, after, h_daemon_children(d, after, MAX_PIDS)));
}

static void test_workers_kept_when_only_a_prefork_service_changes(void)
{
    /* Scenario: workers = 2 and echo with model = prefork:2; SIGHUP with
     * only echo's idle_timeout changed.  Asserted: the workers are the same
     * processes, the 2 pool processes are new ones. */
    struct h_daemon *d =
        h_start(conf_of("workers = 2\n", echo_and_cat("model = prefork:2\n", "")), NULL);
    pid_t before[MAX_PIDS], after[MAX_PIDS];
    int kept = 0;

    h_wait_children(d, 4, false, before, MAX_PIDS, 5000);
    h_write_file(d->conf_path, conf_of("workers = 2\n",
                                       echo_and_cat("model = prefork:2\n", "idle_timeout = 9s\n")));
    reload(d, 1);
    /* The new pool is forked after the reload is logged: wait for it (5 s at most). */
    for (int64_t deadline = h_now_ms() + 5000; h_now_ms() < deadline; usleep(20000)) {
        h_wait_children(d, 4, false, after, MAX_PIDS, 5000);
        kept = 0;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                kept += before[i] == after[j];
        if (kept == 2)
            break;
    }
    if (kept != 2)
        T_FAIL("%d of the 4 processes kept, want the 2 workers", kept);
}

/* --- a reload storm -------------------------------------------------------- */

static void test_storm_of_changed_reloads_is_bounded(void)
{
    /* Scenario: echo with model = prefork:2; 20 reloads, each changing
     * echo's idle_timeout (a new pool each time), one connection opened
     * before the first and after each (so every retiring pool holds one).
     * Asserted: after each reload the daemon settles at the new pool plus
     * one process per retiring pool, at most 3 of them: past that the
     * oldest gets the graceful stop (logged "retiring generations"), and
     * its connection is closed at shutdown_timeout; the connections of the
     * 3 youngest retiring pools and of the pool in service still echo. */
    struct h_daemon *d = h_start(conf_of("", echo_and_cat("model = prefork:2\n", "")), NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t pids[MAX_PIDS], old[MAX_PIDS];
    int fds[21], nold = 0;

    h_wait_children(d, 2, false, pids, MAX_PIDS, 5000);
    fds[0] = h_connect(echo);
    h_echo_roundtrip(fds[0], "generation 0\n");
    for (int i = 1; i <= 20; i++) {
        char *extra = h_fmt("idle_timeout = %ds\n", 10 + i);
        nold = h_daemon_children(d, old, MAX_PIDS);
        h_write_file(d->conf_path, conf_of("", echo_and_cat("model = prefork:2\n", extra)));
        reload(d, i);
        /* The new pool (2), one holder per retiring pool (at most 3): the
         * idle process of the pool just retired has gone, so the next
         * connection can only go to the new pool. */
        wait_new_pool(d, old, nold, 2, 2 + (i < RETIRING_MAX ? i : RETIRING_MAX), pids);
        fds[i] = h_connect(echo);
        h_echo_roundtrip(fds[i], "a new generation\n");
    }
    T_ASSERT(h_count_log(d, "retiring generations") > 0);
    for (int i = 20 - RETIRING_MAX; i <= 20; i++)
        h_echo_roundtrip(fds[i], "still here\n");
    for (int i = 0; i < 20 - RETIRING_MAX; i++)
        if (!h_wait_closed(fds[i], 2000))
            T_FAIL("the connection of retired pool %d is still open", i);
    T_EQ_INT(h_count_log(d, "end=shutdown"), 20 - RETIRING_MAX);
}

static void test_sigterm_stops_retiring_processes_too(void)
{
    /* Scenario: workers = 2; a connection open; SIGHUP with a changed
     * echo (the workers retire, the old one holding the connection stays);
     * SIGTERM.  Asserted: usherd and every process it had exit, the
     * connection being closed at shutdown_timeout (end=shutdown). */
    struct h_daemon *d = h_start(conf_of("workers = 2\n", echo_and_cat("", "")), NULL);
    pid_t pids[MAX_PIDS];
    int fd, n;

    h_wait_children(d, 2, false, pids, MAX_PIDS, 5000);
    fd = h_connect(h_addr(d, "echo", "tcp://127"));
    h_echo_roundtrip(fd, "hello\n");
    h_write_file(d->conf_path, conf_of("workers = 2\n", echo_and_cat("", "idle_timeout = 9s\n")));
    reload(d, 1);
    n = h_wait_children(d, 3, false, pids, MAX_PIDS, 5000);
    T_EQ_INT(h_stop(d), 0);
    T_ASSERT(h_wait_closed(fd, 2000));
    T_ASSERT(h_count_log(d, "end=shutdown") == 1);
    for (int i = 0; i < n; i++)
        for (int64_t deadline = h_now_ms() + 2000; kill(pids[i], 0) == 0; usleep(5000))
            if (h_now_ms() > deadline)
                T_FAIL("process %ld outlived usherd", (long)pids[i]);
}

static const struct t_case cases[] = {
    T_CASE(test_workers_reloads_keep_connections),
    T_CASE(test_prefork_reloads_keep_connections),
    T_CASE(test_workers_and_prefork_reloads_keep_connections),
    T_CASE(test_storm_of_unchanged_reloads_keeps_the_workers),
    T_CASE(test_workers_kept_when_only_a_prefork_service_changes),
    T_CASE(test_storm_of_changed_reloads_is_bounded),
    T_CASE(test_sigterm_stops_retiring_processes_too),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
