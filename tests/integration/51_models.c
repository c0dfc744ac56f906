/*
 * Concurrency models (SPEC 6): model = fork (a process per connection),
 * model = prefork:N (N processes, one connection at a time each, kept at
 * N), and [global] workers = N (N event loops under a master).  What is
 * asserted is seen from outside: which process holds the daemon's end of
 * a connection (/proc/net/tcp and /proc/PID/fd), the daemon's children
 * (/proc/PID/stat), what the clients see and what is logged.  The last case
 * measures the echo connection rate of each model (reported, not asserted).
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PIDS 64

static const char echo_fork[] = "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                "model = fork\n";
static const char echo_prefork[] = "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                   "model = prefork:2\n";
static const char echo_workers[] = "[global]\nworkers = 2\n"
                                   "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n";

/* --- helpers --------------------------------------------------------------- */

/* An echo round trip; false if the connection is closed instead (EOF, reset). */
static bool try_roundtrip(int fd, int ms)
{
    static const char msg[] = "ping\n";
    char buf[sizeof(msg)];
    size_t got = 0;
    int64_t deadline = h_now_ms() + ms * (int64_t)t_scale();

    if (send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL) < 0)
        return false;
    while (got < sizeof(msg) - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - h_now_ms());
        ssize_t n;
        if (left <= 0 || poll(&p, 1, left) <= 0)
            T_FAIL("no echo within %d ms", ms);
        n = recv(fd, buf + got, sizeof(msg) - 1 - got, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    T_ASSERT(memcmp(buf, msg, sizeof(msg) - 1) == 0);
    return true;
}

static void roundtrip(int fd)
{
    if (!try_roundtrip(fd, 5000))
        T_FAIL("the connection was closed, want an echo");
}

/* The child of the daemon that holds our connection `fd`; fails if none does. */
static pid_t owner(const struct h_daemon *d, int fd)
{
    pid_t pids[MAX_PIDS + 1];
    int n = h_daemon_children(d, pids, MAX_PIDS);
    pid_t who;

    pids[n] = d->pid;
    who = h_socket_owner(fd, pids, n + 1);
    if (who == 0)
        T_FAIL("no usherd process holds the connection");
    if (who == d->pid)
        T_FAIL("the master (pid %ld) holds the connection itself", (long)d->pid);
    return who;
}

/* The process lives, and is past usherd's crash window, the grace period (h_grace_ms):
 * restarted at once when killed. */
static void wait_older_than_crash_window(pid_t pid)
{
    long age = h_proc_age_ms(pid), want = h_grace_ms() + 100;

    if (age < 0)
        T_FAIL("process %ld is gone", (long)pid);
    if (age < want)
        usleep((useconds_t)(want - age) * 1000); /* pacing: the age is the precondition */
}

/* Does a process with this pid exist (not even a zombie)? */
static bool exists(pid_t pid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%ld", (long)pid);
    return access(path, F_OK) == 0;
}

/* Wait up to `ms` (not scaled) until none of the `n` processes `pids`
 * exists; fails with "process PID WHAT" for the first one still there. */
static void wait_gone(const pid_t *pids, int n, int ms, const char *what)
{
    for (int i = 0; i < n; i++)
        for (int64_t deadline = h_now_ms() + ms; exists(pids[i]); usleep(5000))
            if (h_now_ms() > deadline)
                T_FAIL("process %ld %s", (long)pids[i], what);
}

/* usherd exits 0 within 5 s of `after`, and its processes `pids` end with it. */
static void expect_clean_exit(struct h_daemon *d, const pid_t *pids, int n, const char *after)
{
    if (!h_wait_exit(d, 5000))
        T_FAIL("usherd did not exit within 5 s of %s:\n%s", after, h_log(d));
    T_EQ_INT(d->exit_status, 0);
    wait_gone(pids, n, 2000, "outlived usherd");
}

/*
 * SIGHUP to a daemon under `conf` (prefork:2 or workers = 2), changed (an
 * idle_timeout added to its last section, echo), with a connection X open
 * on one of its two processes.  Asserted: two new processes come while
 * X's stays (retiring) and X keeps echoing; a new connection goes
 * to a new process; once X closes (the new connection still open), the two
 * new ones are all that is left.
 * `procs` names the processes in messages ("pool processes", "workers").
 */
static void reload_keeps_open_connection(const char *conf, const char *procs)
{
    struct h_daemon *d = h_start(conf, NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t old[MAX_PIDS], now[MAX_PIDS], fresh[2], xo;
    int x, y, n, nfresh = 0;

    h_wait_children(d, 2, true, old, MAX_PIDS, 5000);
    x = h_connect(echo);
    roundtrip(x);
    xo = owner(d, x);
    h_write_file(d->conf_path, h_fmt("%sidle_timeout = 30s\n", conf));
    h_kill(d, SIGHUP);
    T_ASSERT(h_wait_log(d, "reloaded", 5000));
    /* The new processes, and the old one that still has X: 3 processes. */
    n = h_wait_children(d, 3, true, now, MAX_PIDS, 5000);
    for (int i = 0; i < n; i++)
        if (!h_pid_among(now[i], old, 2) && nfresh < 2)
            fresh[nfresh++] = now[i];
    if (nfresh != 2 || !h_pid_among(xo, now, n))
        T_FAIL("after the reload: %d new %s, X's process %s", nfresh, procs,
               h_pid_among(xo, now, n) ? "still there" : "gone");
    roundtrip(x);
    y = h_connect(echo);
    roundtrip(y);
    if (!h_pid_among(owner(d, y), fresh, 2))
        T_FAIL("a connection after the reload went to one of the old %s", procs);
    roundtrip(x);
    close(x);
    n = h_wait_children(d, 2, true, now, MAX_PIDS, 5000);
    if (!h_pid_among(fresh[0], now, n) || !h_pid_among(fresh[1], now, n))
        T_FAIL("the new %s are not the ones left", procs);
    close(y);
}

/* --- fork ------------------------------------------------------------------ */

static void test_fork_serves_each_connection_in_its_own_process(void)
{
    /* Scenario: echo with model = fork; 5 connections open at once, each
     * echoing.  Asserted: 5 children, each connection held by a different
     * one (not by the master); after we close them, 5 connection lines
     * (logged by the children) and no child left. */
    struct h_daemon *d = h_start(echo_fork, NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t owners[5], pids[MAX_PIDS];
    int fds[5];

    for (int i = 0; i < 5; i++) {
        fds[i] = h_connect(echo);
        roundtrip(fds[i]);
    }
    T_EQ_INT(h_daemon_children(d, pids, MAX_PIDS), 5);
    for (int i = 0; i < 5; i++) {
        owners[i] = owner(d, fds[i]);
        for (int j = 0; j < i; j++)
            if (owners[j] == owners[i])
                T_FAIL("connections %d and %d are both held by pid %ld", j, i, (long)owners[i]);
    }
    for (int i = 0; i < 5; i++)
        close(fds[i]);
    if (!h_wait_log_count(d, "usherd: service=echo proto=tcp", 5, 5000))
        T_FAIL("not 5 connection lines:\n%s", h_log(d));
    T_EQ_INT(h_count_log(d, "end=closed"), 5);
    h_wait_children(d, 0, true, pids, MAX_PIDS, 5000);
}

static void test_fork_leaves_no_zombies_after_200_connections(void)
{
    /* Scenario: model = fork; 200 connections in waves of 20 at once, each
     * echoing, then closed.  Asserted: 200 connection lines; within 5 s not
     * one child is left (a zombie would be one); stats conns_total=200
     * conns_now=0 children=0. */
    struct h_daemon *d = h_start(echo_fork, NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t pids[MAX_PIDS];
    char *stats;

    for (int wave = 0; wave < 10; wave++) {
        int fds[20];
        for (int i = 0; i < 20; i++)
            fds[i] = h_connect(echo);
        for (int i = 0; i < 20; i++) {
            roundtrip(fds[i]);
            close(fds[i]);
        }
    }
    if (!h_wait_log_count(d, "usherd: service=echo proto=tcp", 200, 10000))
        T_FAIL("%d of 200 connection lines", h_count_log(d, "usherd: service=echo proto=tcp"));
    h_wait_children(d, 0, true, pids, MAX_PIDS, 5000);
    stats = h_stats(d, "echo");
    T_EQ_INT(h_log_field(stats, "conns_total"), 200);
    T_EQ_INT(h_log_field(stats, "conns_now"), 0);
    T_EQ_INT(h_log_field(stats, "children"), 0);
}

static void test_fork_model_honours_max_conns(void)
{
    /* Scenario: model = fork with max_conns = 2; two connections held, a
     * third.  Asserted: the third is closed at once, logged
     * end=refused:max_conns; no third child was made; stats children=2. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = fork\nmax_conns = 2\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    int a = h_connect(echo), b = h_connect(echo), c;
    pid_t pids[MAX_PIDS];

    roundtrip(a);
    roundtrip(b);
    c = h_connect(echo);
    if (try_roundtrip(c, 5000))
        T_FAIL("a third connection was served with max_conns = 2");
    T_ASSERT(h_wait_log(d, "end=refused:max_conns", 5000));
    T_EQ_INT(h_daemon_children(d, pids, MAX_PIDS), 2);
    T_EQ_INT(h_log_field(h_stats(d, "echo"), "children"), 2);
    close(a), close(b), close(c);
}

static void test_fork_failure_closes_the_connection_and_recovers(void)
{
    /* Scenario: usherd runs as nobody with RLIMIT_NPROC leaving room for
     * itself and 2 connection processes (prlimit + setpriv); model = fork.
     * Two connections held, a third.  Asserted: the third cannot be forked:
     * it is closed at once, logged end=error:EAGAIN with a warning; the two
     * keep echoing; once one closes, a new connection is served. */
    static char nproc[32];
    static const char *wrapper[] = {
        "prlimit",        nproc, "setpriv", "--reuid=nobody", "--regid=nogroup",
        "--clear-groups", "--",  NULL};
    struct h_daemon *d;
    struct passwd *pw;
    const char *echo;
    int a, b, c, e;

    if (geteuid() != 0)
        t_skip("switching to nobody needs root");
    h_need("prlimit", "util-linux");
    h_need("setpriv", "util-linux");
    if ((pw = getpwnam("nobody")) == NULL || getgrnam("nogroup") == NULL)
        t_skip("no user nobody or group nogroup");
    /* Room for what nobody runs already, usherd, and 2 connection processes. */
    snprintf(nproc, sizeof(nproc), "--nproc=%d", h_processes_of(pw->pw_uid) + 3);
    d = h_start_wrapped(echo_fork, wrapper);
    echo = h_addr(d, "echo", "tcp://127");
    a = h_connect(echo);
    roundtrip(a);
    b = h_connect(echo);
    roundtrip(b);
    c = h_connect(echo);
    if (try_roundtrip(c, 5000))
        T_FAIL("a third connection process was forked despite RLIMIT_NPROC:\n%s", h_log(d));
    if (!h_wait_log(d, "end=error:EAGAIN", 5000))
        T_FAIL("no end=error:EAGAIN line:\n%s", h_log(d));
    T_CONTAINS(h_log(d), "unable to fork");
    roundtrip(a);
    roundtrip(b);
    close(a);
    if (!h_wait_log(d, "end=closed", 5000))
        T_FAIL("the closed connection was not logged");
    /* Its process has exited once the parent has reaped it; poll for a fork that works. */
    for (int64_t deadline = h_now_ms() + 5000 * (int64_t)t_scale();; usleep(20000)) {
        e = h_connect(echo);
        if (try_roundtrip(e, 5000))
            break;
        close(e);
        if (h_now_ms() > deadline)
            T_FAIL("no connection served within 5 s of a process slot coming free:\n%s", h_log(d));
    }
    T_ASSERT(h_alive(d));
    close(b), close(c), close(e);
}

static void test_fork_model_stats_count_bytes(void)
{
    /* Scenario: echo with model = fork; three connections each echo 1000
     * bytes and close; SIGUSR1.  Asserted: the stats line counts what the
     * connections moved, bytes_in=3000 bytes_out=3000, as the connection
     * lines (in=1000 out=1000) and the event model do: the counters are the
     * service's, whichever process did the work (SPEC 8.3). */
    struct h_daemon *d = h_start(echo_fork, NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    char buf[1000], back[1000], *stats;
    pid_t pids[MAX_PIDS];

    memset(buf, 'b', sizeof(buf));
    for (int i = 0; i < 3; i++) {
        int fd = h_connect(echo);
        h_send(fd, buf, sizeof(buf));
        h_recv_exact(fd, back, sizeof(back));
        close(fd);
    }
    if (!h_wait_log_count(d, "in=1000 out=1000 end=closed", 3, 5000))
        T_FAIL("not 3 connection lines with in=1000 out=1000:\n%s", h_log(d));
    /* A process logs its line before it exits: its bytes count once it is reaped. */
    h_wait_children(d, 0, true, pids, MAX_PIDS, 5000);
    stats = h_stats(d, "echo");
    T_EQ_INT(h_log_field(stats, "conns_total"), 3);
    if (h_log_field(stats, "bytes_in") != 3000 || h_log_field(stats, "bytes_out") != 3000)
        T_FAIL("after 3 fork-model connections of 1000 bytes each way: %s", stats);
}

static void test_fork_connection_cut_at_shutdown_is_logged(void)
{
    /* Scenario: model = fork and, beside it, an event-model echo, with
     * shutdown_timeout = 1s; one connection open on each; SIGTERM.
     * Asserted: at the timeout both are closed and usherd exits 0; each
     * connection gets its line (SPEC 9: one line per connection when it
     * ends), as the event model's does with end=shutdown. */
    struct h_daemon *d = h_start("[global]\nshutdown_timeout = 1s\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = fork\n"
                                 "[ev]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                                 NULL);
    int f = h_connect(h_addr(d, "echo", "tcp://127")), e = h_connect(h_addr(d, "ev", "tcp://127"));
    char want[96];

    roundtrip(f);
    roundtrip(e);
    h_kill(d, SIGTERM);
    T_ASSERT(h_wait_closed(f, 5000));
    T_ASSERT(h_wait_closed(e, 5000));
    if (!h_wait_exit(d, 5000))
        T_FAIL("usherd did not exit after shutdown_timeout");
    T_EQ_INT(d->exit_status, 0);
    T_CONTAINS(h_log_line(d, "usherd: service=ev proto=tcp"), "end=shutdown");
    snprintf(want, sizeof(want), "usherd: service=echo proto=tcp peer=127.0.0.1:%d ",
             h_local_port(f));
    if (h_log_line(d, want) == NULL)
        T_FAIL("no line for the fork-model connection cut at shutdown_timeout:\n%s", h_log(d));
    close(f), close(e);
}

/* --- prefork --------------------------------------------------------------- */

static void test_prefork_two_processes_one_connection_each(void)
{
    /* Scenario: echo with model = prefork:2; connections A and B, then C.
     * Asserted: exactly 2 children; A and B held by different ones; C gets
     * no echo while both are busy (300 ms); once A closes, C is served, by
     * the process that had A. */
    struct h_daemon *d = h_start(echo_prefork, NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t pids[MAX_PIDS], pa, pb;
    int a, b, c;
    char buf[8];

    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    a = h_connect(echo);
    roundtrip(a);
    b = h_connect(echo);
    roundtrip(b);
    pa = owner(d, a);
    pb = owner(d, b);
    if (pa == pb || !h_pid_among(pa, pids, 2) || !h_pid_among(pb, pids, 2))
        T_FAIL("A and B held by %ld and %ld; the pool is %ld and %ld", (long)pa, (long)pb,
               (long)pids[0], (long)pids[1]);
    c = h_connect(echo);
    h_send_str(c, "wait\n");
    if (h_recv_within(c, buf, sizeof(buf), 300) >= 0)
        T_FAIL("a third connection was served while both prefork processes were busy");
    close(a);
    h_recv_exact(c, buf, 5);
    T_EQ_MEM(buf, "wait\n", 5);
    T_EQ_INT(owner(d, c), pa);
    close(b), close(c);
}

static void test_prefork_killed_process_replaced_losing_only_its_connection(void)
{
    /* Scenario: prefork:2, processes older than the crash window;
     * A and B served, C waiting in the listen queue; SIGKILL to A's
     * process.  Asserted: A is closed; B keeps echoing; C is served (the
     * queue survives); the pool is back to 2 (a new pid) within 1 s; the
     * log says "service=echo prefork process K (pid P) was killed by signal
     * 9; starting another". */
    struct h_daemon *d = h_start(echo_prefork, NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t pids[MAX_PIDS], pa, after[MAX_PIDS];
    int a, b, c;
    char want[128];

    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    wait_older_than_crash_window(pids[0]);
    wait_older_than_crash_window(pids[1]);
    a = h_connect(echo);
    roundtrip(a);
    b = h_connect(echo);
    roundtrip(b);
    c = h_connect(echo);
    pa = owner(d, a);
    T_ASSERT(kill(pa, SIGKILL) == 0);
    if (!h_wait_closed(a, 2000))
        T_FAIL("A is still open after its process was killed");
    roundtrip(b);
    roundtrip(c);
    h_wait_children(d, 2, true, after, MAX_PIDS, 1000);
    if (h_pid_among(pa, after, 2))
        T_FAIL("the killed process %ld is still counted", (long)pa);
    snprintf(want, sizeof(want), "(pid %ld) was killed by signal 9; starting another", (long)pa);
    T_ASSERT(h_wait_log(d, want, 2000));
    T_CONTAINS(h_log_line(d, want), "usherd: warning: service=echo prefork process ");
    close(b), close(c);
}

static void test_prefork_process_dying_young_restarts_after_a_pause(void)
{
    /* Scenario: prefork:2; one process is killed right after start (younger
     * than the crash window, the grace period: h_grace_ms).  Asserted: the
     * log says it died "right after starting; restarting in GRACE ms"; the
     * replacement comes no sooner than 0.9 of that pause and within 3 s
     * (crash loops do not spin); the other process serves meanwhile. */
    struct h_daemon *d = h_start(echo_prefork, NULL);
    pid_t pids[MAX_PIDS];
    int64_t killed, back;
    int n;

    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    if (h_proc_age_ms(pids[0]) > h_grace_ms() / 2)
        t_skip("the pool took %ld ms to come up: near the crash window", h_proc_age_ms(pids[0]));
    T_ASSERT(kill(pids[0], SIGKILL) == 0);
    killed = h_now_ms();
    if (!h_wait_log(d, h_fmt("right after starting; restarting in %d ms", h_grace_ms()), 2000))
        T_FAIL("no restart pause logged:\n%s", h_log(d));
    roundtrip(h_connect(h_addr(d, "echo", "tcp://127")));
    for (;; usleep(5000)) {
        pid_t now[MAX_PIDS];
        n = h_daemon_children(d, now, MAX_PIDS);
        if (n == 2)
            break;
        if (h_now_ms() - killed > 3000 * (int64_t)t_scale())
            T_FAIL("the pool is at %d processes 3 s after the crash", n);
    }
    back = h_now_ms() - killed;
    if (back < h_grace_ms() * 9 / 10)
        T_FAIL("a process that died young was replaced after %lld ms, without a pause",
               (long long)back);
}

static void test_prefork_reload_replaces_pool_keeping_open_connection(void)
{
    /* Scenario: prefork:2; connection A open on pool process P; SIGHUP.
     * Asserted: two new pool processes come while P stays and A keeps
     * echoing; new connections go to the new processes; once A closes, P
     * exits and the two new ones are all that is left. */
    reload_keeps_open_connection(echo_prefork, "pool processes");
}

/* --- workers --------------------------------------------------------------- */

/* SIGSTOP, and wait until the process is stopped (off epoll's wait queue). */
static void stop_process(pid_t pid)
{
    char path[64], line[256];

    T_ASSERT(kill(pid, SIGSTOP) == 0);
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    for (int64_t deadline = h_now_ms() + 2000 * (int64_t)t_scale();; usleep(1000)) {
        FILE *f = fopen(path, "re");
        char state = '?';
        if (f == NULL)
            T_FAIL("process %ld is gone", (long)pid);
        while (fgets(line, sizeof(line), f) != NULL)
            if (strncmp(line, "State:", 6) == 0)
                sscanf(line + 6, " %c", &state);
        fclose(f);
        if (state == 'T')
            return;
        if (h_now_ms() > deadline)
            T_FAIL("process %ld not stopped 2 s after SIGSTOP (state %c)", (long)pid, state);
    }
}

/*
 * Open `n` connections into fds[] while worker `paused` is stopped, so that
 * the other worker takes them (a stopped process is not waiting in
 * epoll_wait, so EPOLLEXCLUSIVE wakes the next one); each is served before
 * `paused` continues.
 */
static void connect_while_stopped(const char *addr, pid_t paused, int *fds, int n)
{
    stop_process(paused);
    for (int i = 0; i < n; i++) {
        fds[i] = h_connect(addr);
        roundtrip(fds[i]);
    }
    T_ASSERT(kill(paused, SIGCONT) == 0);
}

static void test_workers_each_take_connections(void)
{
    /* Scenario: [global] workers = 2; 10 connections made while worker 1 is
     * stopped (SIGSTOP), then 10 while worker 2 is.  Asserted: exactly 2
     * children; every connection is served and held by the worker that ran
     * at the time, never by the master (which keeps the listeners): each
     * worker accepts on the shared listener, and one that does not run does
     * not hold up the service. */
    struct h_daemon *d = h_start(echo_workers, NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t pids[MAX_PIDS];
    int fds[20];

    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    connect_while_stopped(echo, pids[0], fds, 10);
    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    connect_while_stopped(echo, pids[1], fds + 10, 10);
    for (int i = 0; i < 20; i++) {
        pid_t who = owner(d, fds[i]), want = pids[i < 10 ? 1 : 0];
        if (who != want)
            T_FAIL("connection %d held by %ld, want worker %ld", i, (long)who, (long)want);
        roundtrip(fds[i]);
        close(fds[i]);
    }
}

static void test_worker_killed_replaced_losing_only_its_connections(void)
{
    /* Scenario: workers = 2, older than the crash window; 10 connections on
     * each worker (see connect_while_stopped); SIGKILL to worker A.
     * Asserted: exactly A's connections are closed, B's keep echoing; 2
     * workers again (a new pid) within 1 s; the log says "worker K (pid P)
     * was killed by signal 9; starting another"; new connections are served. */
    struct h_daemon *d = h_start(echo_workers, NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t pids[MAX_PIDS], after[MAX_PIDS], victim;
    int fds[20];
    char want[128];

    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    wait_older_than_crash_window(pids[0]);
    wait_older_than_crash_window(pids[1]);
    connect_while_stopped(echo, pids[1], fds, 10); /* on A = pids[0] */
    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    connect_while_stopped(echo, pids[0], fds + 10, 10); /* on B */
    victim = pids[0];
    T_EQ_INT(owner(d, fds[0]), victim);
    T_ASSERT(kill(victim, SIGKILL) == 0);
    for (int i = 0; i < 10; i++)
        if (!h_wait_closed(fds[i], 2000))
            T_FAIL("connection %d of the killed worker is still open", i);
    for (int i = 10; i < 20; i++)
        if (!try_roundtrip(fds[i], 5000))
            T_FAIL("connection %d of the other worker was lost", i);
    h_wait_children(d, 2, true, after, MAX_PIDS, 1000);
    if (h_pid_among(victim, after, 2))
        T_FAIL("the killed worker %ld is still counted", (long)victim);
    snprintf(want, sizeof(want), "(pid %ld) was killed by signal 9; starting another",
             (long)victim);
    T_ASSERT(h_wait_log(d, want, 2000));
    T_CONTAINS(h_log_line(d, want), "usherd: warning: worker ");
    for (int i = 0; i < 5; i++) {
        int fd = h_connect(echo);
        roundtrip(fd);
        close(fd);
    }
    for (int i = 0; i < 20; i++)
        close(fds[i]);
}

static void test_reload_replaces_workers_keeping_open_connections(void)
{
    /* Scenario: workers = 2; connection X open on an old worker; SIGHUP.
     * Asserted: two new workers come (new pids) while X's worker stays and
     * X keeps echoing; a new connection goes to a new worker; once X
     * closes, only the two new workers are left. */
    reload_keeps_open_connection(echo_workers, "workers");
}

static void test_sigterm_stops_master_and_workers_gracefully(void)
{
    /* Scenario: workers = 2 serving echo, plus a prefork:2 and a fork
     * service; a connection open on echo; SIGTERM.  Asserted: new
     * connections are refused soon (listeners closed), the open one keeps
     * echoing; once it closes, usherd exits 0 within a few seconds and none
     * of its processes is left. */
    struct h_daemon *d = h_start("[global]\nworkers = 2\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "[pf]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = prefork:2\n"
                                 "[fk]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = fork\n",
                                 NULL);
    char echo[160];
    pid_t pids[MAX_PIDS];
    int x, f, n;

    snprintf(echo, sizeof(echo), "%s", h_addr(d, "echo", "tcp://127"));
    n = h_wait_children(d, 4, true, pids, MAX_PIDS, 5000);
    x = h_connect(echo);
    roundtrip(x);
    f = h_connect(h_addr(d, "fk", "tcp://127"));
    roundtrip(f);
    close(f);
    h_kill(d, SIGTERM);
    h_wait_refused(echo, 3000, "SIGTERM");
    roundtrip(x);
    close(x);
    expect_clean_exit(d, pids, n, "its last connection closing");
}

static void test_sigterm_closes_worker_connections_at_shutdown_timeout(void)
{
    /* Scenario: workers = 2, shutdown_timeout = 1s; a connection open and
     * kept open; SIGTERM.  Asserted: the connection still echoes at first,
     * is closed by its worker about 1 s later (not before 0.8 s, within a
     * few), and usherd then exits 0 with no process left. */
    struct h_daemon *d = h_start("[global]\nworkers = 2\nshutdown_timeout = 1s\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                                 NULL);
    pid_t pids[MAX_PIDS];
    int x, n;
    int64_t sent;

    n = h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    x = h_connect(h_addr(d, "echo", "tcp://127"));
    roundtrip(x);
    h_kill(d, SIGTERM);
    sent = h_now_ms();
    roundtrip(x);
    if (!h_wait_closed(x, 5000))
        T_FAIL("the connection is still open 5 s after SIGTERM, shutdown_timeout = 1s");
    if (h_now_ms() - sent < 800)
        T_FAIL("closed %lld ms after SIGTERM, before shutdown_timeout = 1s",
               (long long)(h_now_ms() - sent));
    expect_clean_exit(d, pids, n, "shutdown_timeout");
}

static void test_workers_and_pool_stop_when_the_master_dies(void)
{
    /* Scenario: workers = 2 and a prefork:2 service, no connections; the
     * master is killed with SIGKILL (it cannot clean up).  Asserted: its 4
     * processes stop on their own within 2 s (they get SIGTERM when their
     * parent dies): nothing serves unsupervised. */
    struct h_daemon *d = h_start("[global]\nworkers = 2\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "[pf]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = prefork:2\n",
                                 NULL);
    pid_t pids[MAX_PIDS];
    int n = h_wait_children(d, 4, true, pids, MAX_PIDS, 5000);

    h_kill(d, SIGKILL);
    T_ASSERT(h_wait_exit(d, 5000));
    wait_gone(pids, n, 2000 * (int)t_scale(), "still runs 2 s after its master was killed");
}

static void test_stats_line_is_the_whole_daemons(void)
{
    /* Scenario: workers = 2 with an event echo, and a prefork:2 service pf;
     * 4 connections to echo, 2 to pf; SIGUSR1.  Asserted: the counters are
     * shared by every process, so exactly one untagged line per service,
     * "stats service=echo ... conns_total=4" and "stats service=pf ...
     * conns_total=2", and no per-process line. */
    struct h_daemon *d = h_start("[global]\nworkers = 2\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "[pf]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = prefork:2\n",
                                 NULL);
    pid_t pids[MAX_PIDS];
    char *line;

    h_wait_children(d, 4, true, pids, MAX_PIDS, 5000);
    for (int i = 0; i < 6; i++) {
        int fd = h_connect(h_addr(d, i < 4 ? "echo" : "pf", "tcp://127"));
        roundtrip(fd);
        close(fd);
    }
    T_ASSERT(h_wait_log_count(d, "end=closed", 6, 5000));
    line = h_stats(d, "echo");
    T_EQ_INT(h_log_field(line, "conns_total"), 4);
    T_EQ_INT(h_log_field(line, "bytes_in"), h_log_field(line, "bytes_out"));
    line = h_stats(d, "pf");
    T_EQ_INT(h_log_field(line, "conns_total"), 2);
    usleep(100000); /* pacing: any further line would be a duplicate; give it a chance */
    T_EQ_INT(h_count_log(d, "stats service=echo "), 2); /* one per SIGUSR1 (two were sent) */
    T_EQ_INT(h_count_log(d, "stats service=pf "), 2);
    T_EQ_INT(h_count_log(d, "stats worker="), 0);
    T_EQ_INT(h_count_log(d, "stats prefork="), 0);
}

/* Connect while `paused` is stopped; true if served (the other worker took it). */
static bool served_while_stopped(const char *addr, pid_t paused, int *fd)
{
    bool ok;

    stop_process(paused);
    *fd = h_connect(addr);
    ok = try_roundtrip(*fd, 5000);
    T_ASSERT(kill(paused, SIGCONT) == 0);
    return ok;
}

static void test_workers_share_max_conns(void)
{
    /* Scenario: workers = 2 and echo max_conns = 4: three connections held
     * while worker 2 is stopped, then three while worker 1 is.  Asserted:
     * the limit is the service's, not a worker's: worker 1 serves its 3,
     * worker 2 serves 1 and refuses the rest (end=refused:max_conns); 4
     * served in all, never more. */
    struct h_daemon *d = h_start("[global]\nworkers = 2\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "max_conns = 4\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t pids[MAX_PIDS];
    int fds[6], served[2] = {0, 0};

    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    for (int i = 0; i < 6; i++) {
        int w = i < 3 ? 0 : 1; /* the worker left running */
        if (i == 3)
            h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
        if (served_while_stopped(echo, pids[1 - w], &fds[i]))
            served[w]++;
    }
    if (served[0] != 3 || served[1] != 1)
        T_FAIL("the workers served %d and %d of 3 connections each, want 3 and 1 (max_conns = 4 "
               "for the service)",
               served[0], served[1]);
    T_ASSERT(h_wait_log(d, "end=refused:max_conns", 5000));
    for (int i = 0; i < 6; i++)
        close(fds[i]);
}

static void test_workers_share_global_max_conns(void)
{
    /* Scenario: workers = 2 and [global] max_conns = 2 (two services): with
     * worker 2 stopped, two connections to echo; then, with worker 1
     * stopped, one to other.  Asserted: worker 1 serves both, and worker 2
     * refuses the third (end=refused:max_conns): the limit counts the
     * connections of every worker. */
    struct h_daemon *d = h_start("[global]\nworkers = 2\nmax_conns = 2\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "[other]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                                 NULL);
    pid_t pids[MAX_PIDS];
    int a, b, c;

    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    if (!served_while_stopped(h_addr(d, "echo", "tcp://127"), pids[1], &a) ||
        !served_while_stopped(h_addr(d, "echo", "tcp://127"), pids[1], &b))
        T_FAIL("one of the first two connections was refused");
    if (served_while_stopped(h_addr(d, "other", "tcp://127"), pids[0], &c))
        T_FAIL("worker 2 served a third connection with [global] max_conns = 2");
    T_ASSERT(h_wait_log(d, "service=other proto=tcp", 5000));
    T_CONTAINS(h_log_line(d, "service=other proto=tcp"), "end=refused:max_conns");
    close(a), close(b), close(c);
}

static void test_workers_share_rate(void)
{
    /* Scenario: workers = 2 and echo rate = 4/s; a burst of 4 connections
     * with worker 2 stopped, then a burst of 4 with worker 1 stopped.
     * Asserted: worker 1 serves its 4 and worker 2 none (end=refused:rate):
     * one bucket for the service, whichever worker takes a connection. */
    struct h_daemon *d = h_start("[global]\nworkers = 2\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "rate = 4/s\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t pids[MAX_PIDS];
    int served[2] = {0, 0};
    int64_t start;

    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    start = h_now_ms();
    for (int w = 0; w < 2; w++) {
        stop_process(pids[1 - w]);
        for (int i = 0; i < 4; i++) {
            int fd = h_connect(echo);
            served[w] += try_roundtrip(fd, 5000);
            close(fd);
        }
        T_ASSERT(kill(pids[1 - w], SIGCONT) == 0);
    }
    if (h_now_ms() - start > 200)
        t_skip("the bursts took %lld ms: the bucket refilled meanwhile",
               (long long)(h_now_ms() - start));
    if (served[0] != 4 || served[1] != 0)
        T_FAIL("the workers served %d and %d of 4 connections each with rate = 4/s, want 4 "
               "and 0",
               served[0], served[1]);
    T_ASSERT(h_wait_log(d, "end=refused:rate", 5000));
}

/* --- limits across a prefork pool ------------------------------------------ */

/* Open `n` connections to `addr` one after another (each held); how many were served. */
static int served_of(const char *addr, int *fds, int n)
{
    int served = 0;

    for (int i = 0; i < n; i++) {
        fds[i] = h_connect(addr);
        served += try_roundtrip(fds[i], 5000);
    }
    return served;
}

static void test_prefork_max_per_ip_is_the_services(void)
{
    /* Scenario: echo with model = prefork:3 and max_per_ip = 2; three
     * connections from 127.0.0.1 held at once (one per process).
     * Asserted: 2 are served, the third refused (end=refused:max_per_ip):
     * the count is the pool's, not a process's. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = prefork:3\nmax_per_ip = 2\n",
                                 NULL);
    pid_t pids[MAX_PIDS];
    int fds[3];

    h_wait_children(d, 3, true, pids, MAX_PIDS, 5000);
    T_EQ_INT(served_of(h_addr(d, "echo", "tcp://127"), fds, 3), 2);
    T_ASSERT(h_wait_log(d, "end=refused:max_per_ip", 5000));
}

static void test_prefork_max_conns_and_global_max_conns_are_the_pools(void)
{
    /* Scenario: prefork:3 services, echo with max_conns = 2, and other
     * under [global] max_conns = 3; 3 connections held to echo, then 2 to
     * other.  Asserted: echo serves 2 (end=refused:max_conns), other 1 (the
     * global count, 2 + 1, is full), whichever processes take them. */
    struct h_daemon *d = h_start("[global]\nmax_conns = 3\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = prefork:3\nmax_conns = 2\n"
                                 "[other]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = prefork:3\n",
                                 NULL);
    pid_t pids[MAX_PIDS];
    int fds[3];

    h_wait_children(d, 6, true, pids, MAX_PIDS, 5000);
    T_EQ_INT(served_of(h_addr(d, "echo", "tcp://127"), fds, 3), 2);
    T_EQ_INT(served_of(h_addr(d, "other", "tcp://127"), fds, 2), 1);
    T_ASSERT(h_wait_log(d, "service=other proto=tcp", 5000));
    T_CONTAINS(h_log_line(d, "service=other proto=tcp"), "end=refused:max_conns");
}

static void test_prefork_rate_is_the_pools(void)
{
    /* Scenario: echo with model = prefork:3 and rate = 2/m; 6 connections
     * one after another, each closed after its echo.  Asserted: 2 are
     * served, 4 refused (end=refused:rate): one bucket for the pool. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = prefork:3\nrate = 2/m\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t pids[MAX_PIDS];
    int served = 0;

    h_wait_children(d, 3, true, pids, MAX_PIDS, 5000);
    for (int i = 0; i < 6; i++) {
        int fd = h_connect(echo);
        served += try_roundtrip(fd, 5000);
        close(fd);
    }
    T_EQ_INT(served, 2);
    T_ASSERT(h_wait_log_count(d, "end=refused:rate", 1, 5000));
}

static void test_prefork_killed_process_gives_back_its_connection(void)
{
    /* Scenario: echo with model = prefork:2 and max_per_ip = 1; A is served,
     * B (the same address) refused; the process holding A is killed
     * (SIGKILL: it releases nothing itself).  Asserted: the master gives
     * A's count back when it reaps the process (logged), and a new
     * connection from the address is served again. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = prefork:2\nmax_per_ip = 1\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    pid_t pids[MAX_PIDS];
    int a, b, c;

    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    a = h_connect(echo);
    roundtrip(a);
    b = h_connect(echo);
    if (try_roundtrip(b, 5000))
        T_FAIL("a second connection from the address was served with max_per_ip = 1");
    T_ASSERT(kill(owner(d, a), SIGKILL) == 0);
    if (!h_wait_log(d, "given back to the limits", 5000))
        T_FAIL("the dead process's connection was not given back:\n%s", h_log(d));
    c = h_connect(echo);
    if (!try_roundtrip(c, 5000))
        T_FAIL("a connection after the crash was refused: the address is locked out:\n%s",
               h_log(d));
    close(a), close(b), close(c);
}

static void test_stats_signal_right_after_reload_kills_no_worker(void)
{
    /* Scenario: workers = 2; 100 times: the configuration changes (so the
     * workers are replaced), the master is stopped (SIGSTOP), gets SIGHUP
     * and SIGUSR1 together (as "usherd -s reload; usherd -s stats" in a
     * script may do), and continues: it reloads, starting new workers,
     * then passes SIGUSR1 on to them at once.  Asserted: no worker
     * dies of it ("killed by signal 10"): a process must be able to take
     * the signals usherd sends it from the moment it exists. */
    struct h_daemon *d = h_start(echo_workers, NULL);
    pid_t pids[MAX_PIDS];

    h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    for (int round = 1; round <= 100; round++) {
        h_write_file(d->conf_path, h_fmt("%sidle_timeout = %ds\n", echo_workers, 10 + round));
        h_kill(d, SIGSTOP);
        h_kill(d, SIGHUP);
        h_kill(d, SIGUSR1);
        h_kill(d, SIGCONT);
        if (!h_wait_log_count(d, "reloaded", round, 5000))
            T_FAIL("reload %d not logged", round);
        if (h_count_log(d, "was killed by signal 10") > 0)
            T_FAIL("round %d: a worker died of the SIGUSR1 passed on right after the reload:\n%s",
                   round, h_log_line(d, "was killed by signal 10"));
        h_wait_children(d, 2, true, pids, MAX_PIDS, 5000);
    }
    T_EQ_INT(h_count_log(d, "was killed by signal"), 0);
}

/* --- the echo connection rate of each model ------------------------------- */

/*
 * One client process: connect, send a line, read it back, close, until
 * `until`.  Each client has its own source address 127.0.0.(2 + index),
 * its port picked at connect time, so that the client side's TIME_WAIT
 * sockets do not make the port search the bottleneck instead of usherd.
 */
static void __attribute__((noreturn)) rate_client(int port, int index, int64_t until, int out)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in from = {.sin_family = AF_INET};
    long counts[2] = {0, 0}; /* done, errors */

    to.sin_addr.s_addr = htonl(0x7f000001);
    from.sin_addr.s_addr = htonl(0x7f000002 + (uint32_t)index);
    while (h_now_ms() < until) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
        char buf[8];
        if (fd < 0) {
            counts[1]++;
            continue;
        }
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
        if (bind(fd, (struct sockaddr *)&from, sizeof(from)) == 0 &&
            connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 &&
            write_all(fd, "hello\n", 6) == 0 && read_full(fd, buf, 6) == 6)
            counts[0]++;
        else
            counts[1]++;
        close(fd);
    }
    _exit(write(out, counts, sizeof(counts)) == sizeof(counts) ? 0 : 1);
}

/* Connections per second served by the daemon `d` to 16 client processes over `ms`. */
static double measure_rate(struct h_daemon *d, int ms, long *errors)
{
    enum { CLIENTS = 16 };
    int port = h_port(h_addr(d, "echo", "tcp://127"));
    pid_t clients[CLIENTS];
    int pipefd[2];
    int64_t start = h_now_ms(), until = start + ms;
    long total = 0;

    *errors = 0;
    T_ASSERT(pipe(pipefd) == 0);
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = fork();
        if (clients[i] < 0)
            T_FAIL("fork: %s", strerror(errno));
        if (clients[i] == 0)
            rate_client(port, i, until, pipefd[1]);
    }
    close(pipefd[1]);
    for (int i = 0; i < CLIENTS; i++) {
        long counts[2];
        if (read_full(pipefd[0], counts, sizeof(counts)) != sizeof(counts))
            T_FAIL("a client process did not report");
        total += counts[0];
        *errors += counts[1];
    }
    close(pipefd[0]);
    for (int i = 0; i < CLIENTS; i++)
        waitpid(clients[i], NULL, 0);
    return (double)total * 1000.0 / (double)(h_now_ms() - start);
}

static void test_echo_connection_rate_of_each_model(void)
{
    /* Scenario: for each model (event, fork, prefork:2, workers = 2), an
     * echo service (logging one line per connection, as by default) and 16
     * client processes (on 127.0.0.2-17), each connecting, sending a line,
     * reading it back and closing, for 2.5 s.  Reported with t_note, for the release notes;
     * asserted only that each model served something. */
    static const struct {
        const char *name, *conf;
        int procs;
    } models[] = {
        {"event", "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", 0},
        {"fork", echo_fork, 0},
        {"prefork:2", echo_prefork, 2},
        {"workers = 2", echo_workers, 2},
    };

    for (size_t m = 0; m < ARRAY_LEN(models); m++) {
        struct h_daemon *d = h_start(models[m].conf, NULL);
        pid_t pids[MAX_PIDS];
        long errors;
        double rate;
        h_wait_children(d, models[m].procs, true, pids, MAX_PIDS, 5000);
        rate = measure_rate(d, 2500, &errors);
        t_note("model %-11s %8.0f connections/s (16 clients, %ld errors, %ld cores)",
               models[m].name, rate, errors, sysconf(_SC_NPROCESSORS_ONLN));
        if (rate <= 0)
            T_FAIL("model %s served nothing", models[m].name);
        h_stop(d);
    }
}

static const struct t_case cases[] = {
    T_CASE(test_fork_serves_each_connection_in_its_own_process),
    T_CASE(test_fork_leaves_no_zombies_after_200_connections),
    T_CASE(test_fork_model_honours_max_conns),
    T_CASE(test_fork_failure_closes_the_connection_and_recovers),
    T_CASE(test_fork_model_stats_count_bytes),
    T_CASE(test_fork_connection_cut_at_shutdown_is_logged),
    T_CASE(test_prefork_two_processes_one_connection_each),
    T_CASE(test_prefork_killed_process_replaced_losing_only_its_connection),
    T_CASE(test_prefork_process_dying_young_restarts_after_a_pause),
    T_CASE(test_prefork_reload_replaces_pool_keeping_open_connection),
    T_CASE(test_workers_each_take_connections),
    T_CASE(test_worker_killed_replaced_losing_only_its_connections),
    T_CASE(test_reload_replaces_workers_keeping_open_connections),
    T_CASE(test_sigterm_stops_master_and_workers_gracefully),
    T_CASE(test_sigterm_closes_worker_connections_at_shutdown_timeout),
    T_CASE(test_workers_and_pool_stop_when_the_master_dies),
    T_CASE(test_stats_line_is_the_whole_daemons),
    T_CASE(test_workers_share_max_conns),
    T_CASE(test_workers_share_global_max_conns),
    T_CASE(test_workers_share_rate),
    T_CASE(test_prefork_max_per_ip_is_the_services),
    T_CASE(test_prefork_max_conns_and_global_max_conns_are_the_pools),
    T_CASE(test_prefork_rate_is_the_pools),
    T_CASE(test_prefork_killed_process_gives_back_its_connection),
    T_CASE(test_stats_signal_right_after_reload_kills_no_worker),
    T_CASE_TIMEOUT(test_echo_connection_rate_of_each_model, 60),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
