/*
 * Exec services (SPEC 5, 3.3, 9): what a program run per connection is
 * given (environment, descriptors, session, signals, limits, priority),
 * where its stderr goes, max_time, reaping (no zombies, no leaked
 * descriptors), failures to start it, stop and reload with children
 * running, and the connection rate of a /bin/cat service (noted, not
 * asserted).
 *
 * Most cases run tests/lib/exec_probe.c (compiled at run time, see
 * h_exec_probe) as the service: it reports what it was given on the socket.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- helpers ---------------------------------------------------------------- */

/* A one-service config: [NAME] listening on LISTEN running EXEC, plus `extra` keys. */
static char *exec_conf(const char *name, const char *listen, const char *exec, const char *extra)
{
    return h_fmt("[%s]\nlisten = %s\nexec = %s\n%s", name, listen, exec, extra ? extra : "");
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `n` strings sorted and joined with "\n". */
static char *joined_sorted(char **items, size_t n)
{
    size_t len = 1;
    char *out;

    qsort(items, n, sizeof(*items), by_string);
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    out = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        strcat(out, items[i]);
        strcat(out, "\n");
    }
    return out;
}

/* The report's environment, one NAME=VALUE a line, sorted. */
static char *env_of(const char *report)
{
    char *items[256];
    size_t n = 0;

    for (const char *p = report; (p = strstr(p, "env ")) != NULL && n < 256; p++) {
        if (p != report && p[-1] != '\n')
            continue;
        items[n++] = strndup(p + 4, strcspn(p + 4, "\n"));
    }
    return joined_sorted(items, n);
}

/* The expected environment (NULL-ended list), the same way. */
static char *env_want(const char *first, ...) __attribute__((sentinel));
static char *env_want(const char *first, ...)
{
    char *items[64];
    size_t n = 0;
    va_list ap;

    va_start(ap, first);
    for (const char *s = first; s != NULL && n < 64; s = va_arg(ap, const char *))
        items[n++] = (char *)s;
    va_end(ap);
    return joined_sorted(items, n);
}

/* The descriptors of a report as "0 1 2". */
static char *fds_of(const char *report)
{
    char out[1024] = "";
    size_t len = 0;

    for (const char *p = report; (p = strstr(p, "\nfd ")) != NULL; p++)
        len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%d", len ? " " : "",
                                (int)strtol(p + 4, NULL, 10));
    return strdup(out);
}

/* The target of descriptor `fd` in a report ("socket:[123]"). */
static char *fd_target(const char *report, int fd)
{
    char key[32];
    const char *p;

    snprintf(key, sizeof(key), "\nfd %d ", fd);
    p = h_after(report, key);
    return strndup(p, strcspn(p, "\n"));
}

/* Read one line from the child (it says it has started). */
static void expect_line(int fd, const char *want)
{
    char buf[256];

    h_recv_line(fd, buf, sizeof(buf));
    T_EQ_STR(buf, want);
}

/* The probe's cat mode: a cat that does not mind a non-blocking socket, for
 * cases about something else than the socket's mode. */
static char *probe_cat(void)
{
    return h_fmt("%s cat", h_exec_probe(false));
}

/* The "children=N" of the service's stats line. */
static long long children(const struct h_daemon *d, const char *svc)
{
    return h_log_field(h_stats(d, svc), "children");
}

/* A mode-0755 shell script in the test's directory; returns its path. */
static char *script(const char *name, const char *body)
{
    char *path = h_fmt("%s/%s", h_tmpdir(), name);

    h_write_file(path, body);
    if (chmod(path, 0755) < 0)
        T_FAIL("chmod %s: %s", path, strerror(errno));
    return path;
}

/* --- environment ------------------------------------------------------------ */

static void test_env_tcp4_exact(void)
{
    /* Scenario: an exec service on tcp://127.0.0.1:0 runs the probe; the
     * test's own environment has an extra variable.  Asserted: the child's
     * environment is exactly PATH, PROTO=TCP, the four TCP* variables and
     * REMOTE_ADDR/REMOTE_PORT with the connection's addresses and ports, and
     * USHER_SERVICE; nothing of usherd's environment leaks in. */
    setenv("USHER_TEST_LEAK", "must-not-appear", 1);
    struct h_daemon *d = h_start(
        exec_conf("probe", "tcp://127.0.0.1:0", h_fmt("%s report", h_exec_probe(false)), NULL),
        NULL);
    const char *addr = h_addr(d, "probe", "tcp://127");
    int fd = h_connect(addr), cport = h_local_port(fd), sport = h_port(addr);
    char *report = h_probe_report_fd(fd);

    T_EQ_STR(env_of(report),
             env_want("PATH=/usr/local/bin:/usr/bin:/bin", "PROTO=TCP", "TCPREMOTEIP=127.0.0.1",
                      h_fmt("TCPREMOTEPORT=%d", cport), "TCPLOCALIP=127.0.0.1",
                      h_fmt("TCPLOCALPORT=%d", sport), "REMOTE_ADDR=127.0.0.1",
                      h_fmt("REMOTE_PORT=%d", cport), "USHER_SERVICE=probe", NULL));
    close(fd);
}

static void test_env_tcp6_adds_tcp6_variables(void)
{
    /* Scenario: the probe served on tcp://[::1]:0.  Asserted: PROTO=TCP6,
     * the TCP* variables and their TCP6* twins (as ucspi-tcp6 sets them)
     * with ::1 and the ports, REMOTE_ADDR/REMOTE_PORT; nothing else. */
    struct h_daemon *d = h_start(
        exec_conf("probe6", "tcp://[::1]:0", h_fmt("%s report", h_exec_probe(false)), NULL), NULL);
    const char *addr;
    int fd, cport, sport;
    char *report;

    if (d->nlistens == 0)
        t_skip("no IPv6 loopback here");
    addr = h_addr(d, "probe6", "tcp://[");
    fd = h_connect(addr);
    cport = h_local_port(fd);
    sport = h_port(addr);
    report = h_probe_report_fd(fd);
    T_EQ_STR(env_of(report),
             env_want("PATH=/usr/local/bin:/usr/bin:/bin", "PROTO=TCP6", "TCPREMOTEIP=::1",
                      h_fmt("TCPREMOTEPORT=%d", cport), "TCPLOCALIP=::1",
                      h_fmt("TCPLOCALPORT=%d", sport), "TCP6REMOTEIP=::1",
                      h_fmt("TCP6REMOTEPORT=%d", cport), "TCP6LOCALIP=::1",
                      h_fmt("TCP6LOCALPORT=%d", sport), "REMOTE_ADDR=::1",
                      h_fmt("REMOTE_PORT=%d", cport), "USHER_SERVICE=probe6", NULL));
    close(fd);
}

static void test_env_ipv4_mapped_peer_is_ipv4(void)
{
    /* Scenario: the probe on a wildcard listener ("*", one dual-stack
     * socket), reached over 127.0.0.1, so the kernel reports ::ffff:127.0.0.1.  Asserted: the
     * child sees PROTO=TCP and plain 127.0.0.1 (no TCP6* variables, no
     * ::ffff:), and the connection line says peer=127.0.0.1:PORT. */
    struct h_daemon *d = h_start(
        exec_conf("mapped", "tcp://*:0", h_fmt("%s report", h_exec_probe(false)), NULL), NULL);
    const char *addr = h_addr(d, "mapped", "tcp://*");
    int fd = h_connect(addr), cport = h_local_port(fd), sport = h_port(addr);
    char *report = h_probe_report_fd(fd), *line;

    T_EQ_STR(env_of(report),
             env_want("PATH=/usr/local/bin:/usr/bin:/bin", "PROTO=TCP", "TCPREMOTEIP=127.0.0.1",
                      h_fmt("TCPREMOTEPORT=%d", cport), "TCPLOCALIP=127.0.0.1",
                      h_fmt("TCPLOCALPORT=%d", sport), "REMOTE_ADDR=127.0.0.1",
                      h_fmt("REMOTE_PORT=%d", cport), "USHER_SERVICE=mapped", NULL));
    close(fd);
    line = h_wait_conn_line(d, "mapped", "end=exit:0", 5000);
    T_CONTAINS(line, h_fmt(" proto=tcp peer=127.0.0.1:%d ", cport));
}

static void test_env_unix_peer_credentials(void)
{
    /* Scenario: the probe on a unix: socket; the test connects.  Asserted:
     * PROTO=UNIX and IPCREMOTEEUID/EGID/PID are the test's own euid, egid
     * and pid; no TCP* variables; nothing else. */
    struct h_daemon *d = h_start(
        exec_conf("ipc", "unix:@DIR@/probe.sock", h_fmt("%s report", h_exec_probe(false)), NULL),
        NULL);
    char *report = h_probe_report(h_addr(d, "ipc", "unix:"));

    T_EQ_STR(env_of(report),
             env_want("PATH=/usr/local/bin:/usr/bin:/bin", "PROTO=UNIX",
                      h_fmt("IPCREMOTEEUID=%u", (unsigned)geteuid()),
                      h_fmt("IPCREMOTEEGID=%u", (unsigned)getegid()),
                      h_fmt("IPCREMOTEPID=%ld", (long)getpid()), "USHER_SERVICE=ipc", NULL));
}

static void test_env_entries_override_later_wins(void)
{
    /* Scenario: env = FOO=1, env = FOO=two words, env = EMPTY=, env =
     * PATH=/opt/bin.  Asserted: FOO=two words (the later entry wins, once),
     * EMPTY= is there, and PATH is replaced (env entries come last), each
     * name once. */
    struct h_daemon *d =
        h_start(exec_conf("envs", "tcp://127.0.0.1:0", h_fmt("%s report", h_exec_probe(false)),
                          "env = FOO=1\nenv = FOO=two words\nenv = EMPTY=\nenv = PATH=/opt/bin\n"),
                NULL);
    const char *addr = h_addr(d, "envs", "tcp://127");
    int fd = h_connect(addr), cport = h_local_port(fd), sport = h_port(addr);
    char *report = h_probe_report_fd(fd);

    T_EQ_STR(env_of(report), env_want("PATH=/opt/bin", "PROTO=TCP", "TCPREMOTEIP=127.0.0.1",
                                      h_fmt("TCPREMOTEPORT=%d", cport), "TCPLOCALIP=127.0.0.1",
                                      h_fmt("TCPLOCALPORT=%d", sport), "REMOTE_ADDR=127.0.0.1",
                                      h_fmt("REMOTE_PORT=%d", cport), "USHER_SERVICE=envs",
                                      "FOO=two words", "EMPTY=", NULL));
    close(fd);
}

/* --- the command line ------------------------------------------------------- */

static void test_exec_words_split_like_a_shell(void)
{
    /* Scenario: exec = PROBE report "two words" 'single $HOME' back\ slash
     * "q\"uote" '' x#y.  Asserted: argv is exactly those words, quotes
     * removed, no expansion, the empty word kept, '#' inside a word kept. */
    struct h_daemon *d = h_start(
        exec_conf("words", "tcp://127.0.0.1:0",
                  h_fmt("%s report \"two words\" 'single $HOME' back\\ slash \"q\\\"uote\" '' x#y",
                        h_exec_probe(false)),
                  NULL),
        NULL);
    char *report = h_probe_report(h_addr(d, "words", "tcp://127"));

    T_EQ_STR(h_probe_value(report, "argv 0"), h_exec_probe(false));
    T_EQ_STR(h_probe_value(report, "argv 1"), "report");
    T_EQ_STR(h_probe_value(report, "argv 2"), "two words");
    T_EQ_STR(h_probe_value(report, "argv 3"), "single $HOME");
    T_EQ_STR(h_probe_value(report, "argv 4"), "back slash");
    T_EQ_STR(h_probe_value(report, "argv 5"), "q\"uote");
    T_EQ_STR(h_probe_value(report, "argv 6"), "");
    T_EQ_STR(h_probe_value(report, "argv 7"), "x#y");
    T_ASSERT(h_line_value(report, "argv 8") == NULL);
}

static void test_program_without_slash_found_on_path(void)
{
    /* Scenario: exec = echo hello "from path" (no '/').  Asserted: echo is
     * found in /usr/local/bin:/usr/bin:/bin and its output arrives; the
     * child exits 0 and that is logged. */
    struct h_daemon *d =
        h_start(exec_conf("echo", "tcp://127.0.0.1:0", "echo hello \"from path\"", NULL), NULL);
    int fd = h_connect(h_addr(d, "echo", "tcp://127"));
    char buf[256];

    h_recv_all(fd, buf, sizeof(buf));
    T_EQ_STR(buf, "hello from path\n");
    close(fd);
    h_wait_conn_line(d, "echo", "end=exit:0", 5000);
}

static void test_exit_logged_as_connection_line(void)
{
    /* Scenario: exec = /bin/sh -c 'exit 3'; the test connects from a known
     * port.  Asserted: one line "usherd: service=three proto=tcp
     * peer=127.0.0.1:PORT duration_ms=N in=0 out=0 end=exit:3 pid=PID", N a
     * small number. */
    struct h_daemon *d =
        h_start(exec_conf("three", "tcp://127.0.0.1:0", "/bin/sh -c 'exit 3'", NULL), NULL);
    int fd = h_connect(h_addr(d, "three", "tcp://127")), port = h_local_port(fd);
    char *line, want[128];
    long long ms, pid;
    int len = 0;

    T_ASSERT(h_wait_closed(fd, 5000));
    line = h_wait_conn_line(d, "three", "end=exit:3", 5000);
    snprintf(want, sizeof(want),
             "usherd: service=three proto=tcp peer=127.0.0.1:%d duration_ms=", port);
    if (strncmp(line, want, strlen(want)) != 0 ||
        sscanf(line + strlen(want), "%lld in=0 out=0 end=exit:3 pid=%lld%n", &ms, &pid, &len) !=
            2 ||
        line[strlen(want) + (size_t)len] != '\0')
        T_FAIL("not the expected connection line: \"%s\"", line);
    T_ASSERT(ms >= 0 && ms < 5000 * (long long)t_scale());
    T_ASSERT(pid > 1);
    T_EQ_INT(h_count_log(d, "usherd: service=three proto="), 1);
}

/* --- descriptors, session, signals ------------------------------------------ */

static void test_child_has_exactly_fds_0_1_2(void)
{
    /* Scenario: usherd with several listeners, a log pipe and its event
     * loop open runs the probe.  Asserted: the child has exactly fds 0, 1,
     * 2; 0 and 1 are the connection's socket, 2 a pipe (stderr = log). */
    struct h_daemon *d = h_start(h_fmt("[probe]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/a.sock\n"
                                       "exec = %s report\n"
                                       "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                                       h_exec_probe(false)),
                                 NULL);
    char *report = h_probe_report(h_addr(d, "probe", "tcp://127"));

    T_ASSERT(h_count_fds(d->pid) > 5); /* there was something to leak */
    T_EQ_STR(fds_of(report), "0 1 2");
    T_CONTAINS(fd_target(report, 0), "socket:[");
    T_EQ_STR(fd_target(report, 1), fd_target(report, 0));
    T_CONTAINS(fd_target(report, 2), "pipe:[");
    T_CONTAINS(h_probe_value(report, "fd0"), "sock=1 listening=0 ");
}

static void test_child_socket_is_blocking(void)
{
    /* Scenario: the probe reports the file status flags of its fd 0 (the
     * connection).  Asserted: O_NONBLOCK is clear: a program written for
     * inetd or tcpserver reads and writes its socket in blocking mode
     * (usherd's own accepted socket is non-blocking; the child must not
     * inherit that). */
    struct h_daemon *d = h_start(
        exec_conf("blk", "tcp://127.0.0.1:0", h_fmt("%s report", h_exec_probe(false)), NULL), NULL);
    char *report = h_probe_report(h_addr(d, "blk", "tcp://127"));

    T_EQ_STR(h_probe_value(report, "fd0"), "sock=1 listening=0 nonblock=0");
}

static void test_cat_service_answers_after_a_pause(void)
{
    /* Scenario: exec = /bin/cat; the client connects, is quiet for 300 ms
     * (a slow human, a slow network), then sends a line.  Asserted: the
     * line comes back and, after the client's half-close, cat exits 0.  (On
     * a non-blocking socket cat's first read fails with EAGAIN and it
     * exits 1 without answering.) */
    struct h_daemon *d = h_start(exec_conf("cat", "tcp://127.0.0.1:0", "/bin/cat", NULL), NULL);
    int fd = h_connect(h_addr(d, "cat", "tcp://127"));
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[64];
    ssize_t n;

    usleep(300000); /* the pause is the scenario */
    if (send(fd, "hello\n", 6, MSG_NOSIGNAL) != 6)
        T_FAIL("send after the pause: %s; log:\n%s", strerror(errno), h_log(d));
    n = poll(&p, 1, 5000 * (int)t_scale()) == 1 ? recv(fd, buf, sizeof(buf) - 1, 0) : -2;
    if (n <= 0) {
        h_wait_log(d, "end=", 2000);
        T_FAIL("cat did not answer (%s); log:\n%s",
               n == 0    ? "EOF"
               : n == -2 ? "nothing in 5 s"
                         : strerror(errno),
               h_log(d));
    }
    buf[n] = '\0';
    T_EQ_STR(buf, "hello\n");
    shutdown(fd, SHUT_WR);
    h_wait_conn_line(d, "cat", "end=exit:0", 5000);
}

static char nr_open_saved[32];

static void restore_nr_open(void)
{
    int fd = open("/proc/sys/fs/nr_open", O_WRONLY | O_CLOEXEC);

    if (fd >= 0) {
        if (write(fd, nr_open_saved, strlen(nr_open_saved)) < 0) {
            /* nothing more to do at the end of a case */
        }
        close(fd);
    }
}

/*
 * RLIMIT_NOFILE = 2^30 for us and what we start.  Raising the hard limit
 * that far needs CAP_SYS_RESOURCE and fs.nr_open >= 2^30: nr_open is raised
 * only if that is what stands in the way, and restored at the end.
 */
static void nofile_2_30(void)
{
    const rlim_t big = 1u << 30;
    struct rlimit rl = {big, big};
    int fd;
    ssize_t n;

    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        return;
    if (errno != EPERM || (fd = open("/proc/sys/fs/nr_open", O_RDWR | O_CLOEXEC)) < 0)
        t_skip("setrlimit(RLIMIT_NOFILE, 2^30): %s", strerror(errno));
    n = read(fd, nr_open_saved, sizeof(nr_open_saved) - 1);
    nr_open_saved[n > 0 ? n : 0] = '\0';
    if (strtoull(nr_open_saved, NULL, 10) >= big) {
        close(fd);
        t_skip("setrlimit(RLIMIT_NOFILE, 2^30): %s (no CAP_SYS_RESOURCE?)", strerror(EPERM));
    }
    if (write(fd, "1073741824", 10) != 10) {
        close(fd);
        t_skip("unable to raise fs.nr_open to 2^30: %s", strerror(errno));
    }
    close(fd);
    t_at_end(restore_nr_open);
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        t_skip("setrlimit(RLIMIT_NOFILE, 2^30) with fs.nr_open = 2^30: %s (no "
               "CAP_SYS_RESOURCE?)",
               strerror(errno));
}

static void test_fds_0_1_2_under_nofile_2_30(void)
{
    /* Scenario: usherd starts with RLIMIT_NOFILE at 2^30 (fs.nr_open raised
     * for it) and runs the probe.  Asserted: usherd does run with that
     * limit, and the child still has exactly fds 0, 1, 2, and inherits the
     * 2^30 limit (no rlimit_nofile set). */
    struct h_daemon *d;
    struct rlimit rl;
    char *report;

    nofile_2_30();
    d = h_start(
        exec_conf("probe", "tcp://127.0.0.1:0", h_fmt("%s report", h_exec_probe(false)), NULL),
        NULL);
    if (prlimit(d->pid, RLIMIT_NOFILE, NULL, &rl) < 0)
        T_FAIL("prlimit: %s", strerror(errno));
    T_EQ_INT(rl.rlim_cur, 1u << 30);
    report = h_probe_report(h_addr(d, "probe", "tcp://127"));
    T_EQ_STR(fds_of(report), "0 1 2");
    T_EQ_STR(h_probe_value(report, "rlimit nofile"), "1073741824 1073741824");
}

/* Connect to `addr` and wait for the server to close; `n` times, up to `conc` at once. */
static void churn(const char *addr, int n, int conc, int ms)
{
    int fds[64], started = 0, done = 0;
    int64_t deadline = h_now_ms() + ms * (int)t_scale();

    if (conc > 64)
        conc = 64;
    while (done < n) {
        int batch = 0;
        for (; batch < conc && started < n; batch++, started++)
            fds[batch] = h_connect(addr);
        for (int i = 0; i < batch; i++) {
            int left = (int)(deadline - h_now_ms());
            if (left <= 0 || !h_wait_closed(fds[i], left / (int)t_scale() + 1))
                T_FAIL("connection %d of %d not closed by the server in time", done + i + 1, n);
            close(fds[i]);
        }
        done += batch;
    }
}

static void test_spawn_stays_fast_under_nofile_2_30(void)
{
    /* Scenario: usherd with RLIMIT_NOFILE = 2^30 serves /bin/true; 200
     * connections one after another.  Asserted: all are served and closed
     * within 10 s (a child looping over 2^30 descriptors would take seconds
     * each), and each logs end=exit:0. */
    struct h_daemon *d;
    int64_t t0;

    nofile_2_30();
    d = h_start(exec_conf("true", "tcp://127.0.0.1:0", "/bin/true", NULL), NULL);
    t0 = h_now_ms();
    churn(h_addr(d, "true", "tcp://127"), 200, 1, 10000);
    t_note("200 spawns under RLIMIT_NOFILE 2^30 in %lld ms", (long long)(h_now_ms() - t0));
    if (!h_wait_log_count(d, "end=exit:0", 200, 5000))
        T_FAIL("%d of 200 exits logged", h_count_log(d, "end=exit:0"));
}

static void test_child_has_own_session_and_group(void)
{
    /* Scenario: the probe reports its ids.  Asserted: pgid == sid == pid
     * (setsid: a session and process group of its own), different from
     * usherd's, and its parent is usherd. */
    struct h_daemon *d = h_start(
        exec_conf("sess", "tcp://127.0.0.1:0", h_fmt("%s report", h_exec_probe(false)), NULL),
        NULL);
    char *report = h_probe_report(h_addr(d, "sess", "tcp://127"));
    long pid = strtol(h_probe_value(report, "pid"), NULL, 10);

    T_EQ_INT(strtol(h_probe_value(report, "pgid"), NULL, 10), pid);
    T_EQ_INT(strtol(h_probe_value(report, "sid"), NULL, 10), pid);
    T_EQ_INT(strtol(h_probe_value(report, "ppid"), NULL, 10), d->pid);
    T_ASSERT(getsid(d->pid) != pid);
}

/* SigIgn or SigBlk of a process, from /proc. */
static unsigned long long sig_mask_of(pid_t pid, const char *which)
{
    char path[64], line[256];
    unsigned long long v = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    if ((f = fopen(path, "r")) == NULL)
        T_FAIL("%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, which, strlen(which)) == 0)
            v = strtoull(line + strlen(which) + 1, NULL, 16);
    fclose(f);
    return v;
}

static void test_child_signals_default_and_unblocked(void)
{
    /* Scenario: usherd is started with SIGPIPE, SIGUSR2, SIGTSTP, SIGTTIN
     * and SIGTTOU ignored and SIGUSR2, SIGALRM, SIGWINCH blocked (the probe's
     * "wrap" mode), so it inherits them.  Asserted: usherd did inherit the
     * ignored ones it does not catch itself (the setup worked; SIGUSR2 it
     * catches, for upgrades), and the child's SigIgn and SigBlk are both
     * zero: every disposition default, nothing blocked. */
    const char *probe = h_exec_probe(false);
    const char *wrapper[] = {probe, "wrap", NULL};
    struct h_daemon *d = h_start_wrapped(
        exec_conf("sigs", "tcp://127.0.0.1:0", h_fmt("%s report", probe), NULL), wrapper);
    char *report = h_probe_report(h_addr(d, "sigs", "tcp://127"));

    T_ASSERT(sig_mask_of(d->pid, "SigIgn:") & (1ull << (SIGTSTP - 1)));
    T_ASSERT(sig_mask_of(d->pid, "SigIgn:") & (1ull << (SIGTTOU - 1)));
    T_EQ_STR(h_probe_value(report, "sigign"), "0000000000000000");
    T_EQ_STR(h_probe_value(report, "sigblk"), "0000000000000000");
}

/* --- limits and priority ---------------------------------------------------- */

static void test_rlimits_applied(void)
{
    /* Scenario: rlimit_nofile = 64, rlimit_cpu = 5, rlimit_as = 256M,
     * rlimit_fsize = 1M, rlimit_core = unlimited, rlimit_nproc = 100.
     * Asserted: the child has each as its soft and hard limit, in the units
     * of setrlimit (bytes, seconds, counts; RLIM_INFINITY). */
    struct h_daemon *d = h_start(
        exec_conf("lim", "tcp://127.0.0.1:0", h_fmt("%s report", h_exec_probe(false)),
                  "rlimit_nofile = 64\nrlimit_cpu = 5\nrlimit_as = 256M\nrlimit_fsize = 1M\n"
                  "rlimit_core = unlimited\nrlimit_nproc = 100\n"),
        NULL);
    char *report = h_probe_report(h_addr(d, "lim", "tcp://127"));

    T_EQ_STR(h_probe_value(report, "rlimit nofile"), "64 64");
    T_EQ_STR(h_probe_value(report, "rlimit cpu"), "5 5");
    T_EQ_STR(h_probe_value(report, "rlimit as"), "268435456 268435456");
    T_EQ_STR(h_probe_value(report, "rlimit fsize"), "1048576 1048576");
    T_EQ_STR(h_probe_value(report, "rlimit core"), "unlimited unlimited");
    T_EQ_STR(h_probe_value(report, "rlimit nproc"), "100 100");
}

static void test_rlimit_cpu_stops_a_spinning_child(void)
{
    /* Scenario: rlimit_cpu = 1 on a shell spinning in a loop.  Asserted: the
     * kernel stops it after about a second of CPU: the connection closes
     * and the log says end=signal:9 (soft and hard limits are both 1 s,
     * and at the hard limit Linux sends SIGKILL) or end=signal:24 (SIGXCPU,
     * were the hard limit higher), no sooner than ~1 s. */
    struct h_daemon *d = h_start(exec_conf("spin", "tcp://127.0.0.1:0",
                                           "/bin/sh -c 'while :; do :; done'", "rlimit_cpu = 1\n"),
                                 NULL);
    int fd = h_connect(h_addr(d, "spin", "tcp://127"));

    char *line;

    if (!h_wait_closed(fd, 10000))
        T_FAIL("a child over rlimit_cpu = 1 still runs after 10 s");
    line = h_wait_conn_line(d, "spin", "end=signal:", 5000);
    if (strstr(line, "end=signal:9 ") == NULL && strstr(line, "end=signal:24 ") == NULL)
        T_FAIL("not stopped by the CPU limit: %s", line);
    if (h_log_field(line, "duration_ms") < 900)
        T_FAIL("stopped before a second of CPU: %s", line);
}

static void test_nice_applied(void)
{
    /* Scenario: nice = 7.  Asserted: the child runs at priority 7 (usherd
     * itself stays at 0). */
    struct h_daemon *d = h_start(exec_conf("nice", "tcp://127.0.0.1:0",
                                           h_fmt("%s report", h_exec_probe(false)), "nice = 7\n"),
                                 NULL);
    char *report = h_probe_report(h_addr(d, "nice", "tcp://127"));

    T_EQ_STR(h_probe_value(report, "nice"), "7");
    errno = 0;
    T_EQ_INT(getpriority(PRIO_PROCESS, (id_t)d->pid), 0);
}

/* --- max_time ----------------------------------------------------------------- */

static void test_max_time_terminates_the_process_group(void)
{
    /* Scenario: max_time = 1s on a shell that says "started" then runs
     * `sleep 100` as its child (which holds the socket too).  Asserted: the
     * connection closes between ~1 s and 1 s + slack after it opened (the
     * SIGTERM reached the whole process group, the sleep as well), a warning
     * names max_time, and the exit is logged end=signal:15. */
    struct h_daemon *d =
        h_start(exec_conf("slow", "tcp://127.0.0.1:0",
                          "/bin/sh -c 'echo started; sleep 100; echo never'", "max_time = 1s\n"),
                NULL);
    int64_t t0 = h_now_ms(), took;
    int fd = h_connect(h_addr(d, "slow", "tcp://127"));

    expect_line(fd, "started");
    if (!h_wait_closed(fd, 6000))
        T_FAIL("still open 6 s into max_time = 1s");
    took = h_now_ms() - t0;
    if (took < 900)
        T_FAIL("closed after %lld ms, before max_time = 1s", (long long)took);
    if (took > 1000 + 1500 * (int64_t)t_scale())
        T_FAIL("closed only after %lld ms with max_time = 1s", (long long)took);
    h_wait_conn_line(d, "slow", "end=signal:15 ", 3000);
    T_ASSERT(h_count_log(d, "max_time reached: SIGTERM to its process group") == 1);
}

static void test_max_time_sigkill_follows_an_ignored_term(void)
{
    /* Scenario: max_time = 1s on a script that traps TERM (says so on
     * stderr) and loops on.  Asserted: it gets SIGTERM at ~1 s (the trap's
     * line is in the log), then SIGKILL the grace period later (h_grace_ms):
     * the connection closes no sooner than 1 s + the grace and within that
     * + slack, end=signal:9. */
    const char *path = script("stubborn.sh", "#!/bin/sh\n"
                                             "trap 'echo caught TERM >&2' TERM\n"
                                             "echo started\n"
                                             "while :; do sleep 0.1; done\n");
    struct h_daemon *d =
        h_start(exec_conf("stubborn", "tcp://127.0.0.1:0", path, "max_time = 1s\n"), NULL);
    int64_t t0 = h_now_ms(), took;
    int fd = h_connect(h_addr(d, "stubborn", "tcp://127"));

    expect_line(fd, "started");
    if (!h_wait_closed(fd, 10000))
        T_FAIL("still open 10 s into max_time = 1s");
    took = h_now_ms() - t0;
    if (took < 1000 + h_grace_ms() - 100)
        T_FAIL("closed after %lld ms: no %d ms between SIGTERM and SIGKILL", (long long)took,
               h_grace_ms());
    if (took > 1000 + h_grace_ms() + 1500 * (int64_t)t_scale())
        T_FAIL("closed only after %lld ms (max_time 1 s + %d ms)", (long long)took, h_grace_ms());
    h_wait_conn_line(d, "stubborn", "end=signal:9 ", 3000);
    T_ASSERT(h_count_log(d, "stderr: caught TERM") >= 1);
    T_ASSERT(h_count_log(d, "SIGKILL") >= 1);
}

/* --- stderr ------------------------------------------------------------------- */

static void test_stderr_lines_logged_with_service_and_pid(void)
{
    /* Scenario: stderr = log (the default); the child writes "out" to the
     * socket and "line one", "line two" and an unterminated "partial" to
     * stderr.  Asserted: the client gets only "out"; the log has each
     * stderr line as "usherd: service=err pid=PID stderr: TEXT", PID being
     * the child's (as in its exit line), the partial one too. */
    struct h_daemon *d = h_start(
        exec_conf("err", "tcp://127.0.0.1:0",
                  "/bin/sh -c 'echo out; echo \"line one\" >&2; echo \"line two\" >&2; printf "
                  "partial >&2'",
                  NULL),
        NULL);
    int fd = h_connect(h_addr(d, "err", "tcp://127"));
    char buf[256], *line;
    long long pid;

    h_recv_all(fd, buf, sizeof(buf));
    T_EQ_STR(buf, "out\n");
    line = h_wait_conn_line(d, "err", "end=exit:0", 5000);
    pid = h_log_field(line, "pid");
    T_ASSERT(h_wait_log(d, h_fmt("usherd: service=err pid=%lld stderr: partial\n", pid), 3000));
    T_EQ_INT(h_count_log(d, h_fmt("usherd: service=err pid=%lld stderr: line one\n", pid)), 1);
    T_EQ_INT(h_count_log(d, h_fmt("usherd: service=err pid=%lld stderr: line two\n", pid)), 1);
}

static void test_stderr_to_socket(void)
{
    /* Scenario: stderr = socket; the child writes "out" to stdout, then
     * "err" to stderr.  Asserted: the client receives both, in order, and
     * the log has no stderr line. */
    struct h_daemon *d =
        h_start(exec_conf("sock", "tcp://127.0.0.1:0", "/bin/sh -c 'echo out; echo err >&2'",
                          "stderr = socket\n"),
                NULL);
    int fd = h_connect(h_addr(d, "sock", "tcp://127"));
    char buf[256];

    h_recv_all(fd, buf, sizeof(buf));
    T_EQ_STR(buf, "out\nerr\n");
    h_wait_conn_line(d, "sock", "end=exit:0", 5000);
    T_EQ_INT(h_count_log(d, "stderr:"), 0);
}

static void test_stderr_to_null(void)
{
    /* Scenario: stderr = null; the child writes "out" and "err" (stderr);
     * a second service with the probe and stderr = null reports its fd 2.
     * Asserted: only "out" reaches the client, nothing reaches the log,
     * and fd 2 is /dev/null. */
    struct h_daemon *d =
        h_start(h_fmt("%s%s",
                      exec_conf("null", "tcp://127.0.0.1:0", "/bin/sh -c 'echo out; echo err >&2'",
                                "stderr = null\n"),
                      exec_conf("nullprobe", "tcp://127.0.0.1:0",
                                h_fmt("%s report", h_exec_probe(false)), "stderr = null\n")),
                NULL);
    int fd = h_connect(h_addr(d, "null", "tcp://127"));
    char buf[256], *report;

    h_recv_all(fd, buf, sizeof(buf));
    T_EQ_STR(buf, "out\n");
    h_wait_conn_line(d, "null", "end=exit:0", 5000);
    T_EQ_INT(h_count_log(d, "stderr:"), 0);
    report = h_probe_report(h_addr(d, "nullprobe", "tcp://127"));
    T_EQ_STR(fd_target(report, 2), "/dev/null");
}

/* --- reaping and resources ---------------------------------------------------- */

static void test_thousand_connections_no_zombies_no_leaks(void)
{
    /* Scenario: 1000 connections to a /bin/true service, 20 at a time (so
     * SIGCHLDs coalesce).  Asserted: every child's exit is logged
     * end=exit:0, usherd has no zombie child left, its descriptor count is
     * back where it was after a first connection, and its stats say
     * children=0. */
    struct h_daemon *d = h_start(exec_conf("true", "tcp://127.0.0.1:0", "/bin/true", NULL), NULL);
    const char *addr = h_addr(d, "true", "tcp://127");
    int fds0, fds1 = -1, zombies;

    churn(addr, 1, 1, 5000);
    if (!h_wait_log_count(d, "end=exit:0", 1, 5000))
        T_FAIL("the first exit was not logged");
    fds0 = h_count_fds(d->pid);
    churn(addr, 1000, 20, 60000);
    if (!h_wait_log_count(d, "end=exit:0", 1001, 10000))
        T_FAIL("%d of 1001 exits logged", h_count_log(d, "end=exit:0"));
    zombies = h_count_zombies(d->pid);
    for (int64_t end = h_now_ms() + 5000 * t_scale(); h_now_ms() < end; usleep(10000))
        if ((fds1 = h_count_fds(d->pid)) == fds0)
            break;
    T_EQ_INT(zombies, 0);
    T_EQ_INT(fds1, fds0);
    T_EQ_INT(children(d, "true"), 0);
}

static void test_stats_count_running_children(void)
{
    /* Scenario: two connections to a cat service stay open, then close.
     * Asserted: SIGUSR1's stats line says children=2 while they run, and
     * children=0 once both have exited. */
    struct h_daemon *d = h_start(exec_conf("cat", "tcp://127.0.0.1:0", probe_cat(), NULL), NULL);
    const char *addr = h_addr(d, "cat", "tcp://127");
    int a = h_connect(addr), b = h_connect(addr);

    h_echo_roundtrip(a, "a");
    h_echo_roundtrip(b, "b");
    T_EQ_INT(children(d, "cat"), 2);
    close(a);
    close(b);
    if (!h_wait_log_count(d, "end=exit:0", 2, 5000))
        T_FAIL("the two exits were not logged:\n%s", h_log(d));
    T_EQ_INT(children(d, "cat"), 0);
}

/* --- failures to start the program -------------------------------------------- */

/* An echo builtin next to the exec service: proof that usherd still serves. */
#define ECHO_SECTION "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"

static void still_serving(const struct h_daemon *d)
{
    int fd = h_connect(h_addr(d, "echo", "tcp://127"));

    h_echo_roundtrip(fd, "still serving");
    close(fd);
}

static void test_missing_program_logged_and_closed(void)
{
    /* Scenario: exec = DIR/gone.sh, a program there when usherd starts and
     * removed before the connection.  Asserted: the connection is closed,
     * the log says "service=gone pid=PID: unable to execute DIR/gone.sh: No
     * such file or directory", the exit is logged end=exit:127 with that
     * pid, and usherd still serves (echo). */
    char *path = h_fmt("%s/gone.sh", h_tmpdir());
    struct h_daemon *d;
    char *line;
    int fd;

    h_write_file(path, "#!/bin/sh\nexit 0\n");
    T_ASSERT(chmod(path, 0755) == 0);
    d = h_start(h_fmt("%s%s", exec_conf("gone", "tcp://127.0.0.1:0", path, NULL), ECHO_SECTION),
                NULL);
    T_ASSERT(unlink(path) == 0);
    fd = h_connect(h_addr(d, "gone", "tcp://127"));
    if (!h_wait_closed(fd, 5000))
        T_FAIL("the connection of a missing program stays open");
    line = h_wait_conn_line(d, "gone", "end=exit:127", 5000);
    T_ASSERT(h_count_log(d, h_fmt("usherd: warning: service=gone pid=%lld: unable to execute "
                                  "%s: No such file or directory",
                                  h_log_field(line, "pid"), path)) == 1);
    still_serving(d);
}

static void test_program_not_executable_permission_denied(void)
{
    /* Scenario: exec = a script made mode 0644 after usherd started.
     * Asserted: the connection is closed, the log says "unable to execute
     * PATH: Permission denied", end=exit:126, and usherd still serves. */
    char *path = h_fmt("%s/not-executable", h_tmpdir());
    struct h_daemon *d;
    int fd;

    h_write_file(path, "#!/bin/sh\necho never\n");
    T_ASSERT(chmod(path, 0755) == 0);
    d = h_start(h_fmt("%s%s", exec_conf("noexec", "tcp://127.0.0.1:0", path, NULL), ECHO_SECTION),
                NULL);
    T_ASSERT(chmod(path, 0644) == 0);
    fd = h_connect(h_addr(d, "noexec", "tcp://127"));
    if (!h_wait_closed(fd, 5000))
        T_FAIL("the connection of a non-executable program stays open");
    h_wait_conn_line(d, "noexec", "end=exit:126", 5000);
    T_ASSERT(h_count_log(d, h_fmt("unable to execute %s: Permission denied", path)) == 1);
    still_serving(d);
}

static void test_check_finds_what_would_fail_at_run_time(void)
{
    /* Scenario: usherd -t on services whose every spawn would fail: a
     * program that does not exist, a bare name found nowhere on the search
     * path, a script without an execute bit, a directory as the program, a
     * unix: socket in a missing directory; then usherd started (no -t) on
     * the first.  Asserted: exit 2 and "FILE:LINE: cause" for each; a start
     * fails the same way, binding nothing. */
    const char *dir = h_tmpdir();
    char *script = h_fmt("%s/plain.sh", dir);
    const char *tcp = "tcp://127.0.0.1:0";
    struct {
        char *conf, *message;
    } bad[] = {
        {exec_conf("x", tcp, h_fmt("%s/no-such-program", dir), NULL),
         h_fmt(":3: exec: %s/no-such-program: No such file or directory", dir)},
        {exec_conf("x", tcp, "no-such-program-anywhere", NULL),
         ":3: exec: 'no-such-program-anywhere' not found in "
         "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        {exec_conf("x", tcp, script, NULL),
         h_fmt(":3: exec: %s: not executable: Permission denied", script)},
        {exec_conf("x", tcp, dir, NULL), h_fmt(":3: exec: %s: not a regular file", dir)},
        {h_fmt("[x]\nlisten = unix:%s/no-such-dir/sock\nbuiltin = echo\n", dir),
         h_fmt(":2: listen: unix:%s/no-such-dir/sock: directory %s/no-such-dir: No such file or "
               "directory",
               dir, dir)},
    };
    char *out;
    int code;

    h_write_file(script, "#!/bin/sh\nexit 0\n");
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        code = h_usherd_run(bad[i].conf, &out, "-t", NULL);
        if (code != 2 || strstr(out, bad[i].message) == NULL)
            T_FAIL("config %zu: exit %d, wanted 2 and \"%s\":\n%s", i, code, bad[i].message, out);
        free(out);
    }
    code = h_usherd_run(bad[0].conf, &out, NULL);
    T_EQ_INT(code, 2);
    T_CONTAINS(out, bad[0].message);
    free(out);
}

static void test_exec_config_errors_name_file_and_line(void)
{
    /* Scenario: configs that misuse exec keys, one error each, checked
     * with -t.  Asserted: exit 2 and "FILE:LINE: message" naming the
     * offending line. */
    static const struct {
        const char *conf, *message;
    } bad[] = {
        {"[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nmodel = event\n",
         ":4: model: an exec service runs a process per connection"},
        {"[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nidle_timeout = 5s\n",
         ":4: idle_timeout: usherd does not see an exec service's traffic"},
        {"[x]\nlisten = udp://127.0.0.1:0\nexec = /bin/cat\n",
         ":2: listen: udp://127.0.0.1:0: a datagram exec service needs wait = yes"},
        {"[x]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nuser = nobody\n",
         ":4: user: applies to exec services only"},
        {"[x]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nrlimit_cpu = 5\n",
         ":4: rlimit_cpu: applies to exec services only"},
        {"[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat \"open\n",
         ":3: exec: unterminated \" quote"},
        {"[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nstderr = tty\n",
         ":4: stderr: 'tty' is not log, socket or null"},
        {"[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nnice = 20\n",
         ":4: nice: '20' is not a whole number from -20 to 19"},
        {"[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nrlimit_nofile = lots\n",
         ":4: rlimit_nofile: 'lots' is not a count from 0 to 2147483647 or unlimited"},
        {"[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nenv = NOEQUALS\n",
         ":4: env: 'NOEQUALS' is not NAME=VALUE"},
        {"[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nchroot = relative/dir\n",
         ":4: chroot: 'relative/dir' must be an absolute path"},
        {"[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nwait = maybe\n", ":4: wait: "},
        {"[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nbuiltin = echo\n",
         ":4: builtin: [x] has an exec already"},
    };

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char *out;
        int code = h_usherd_run(bad[i].conf, &out, "-t", NULL);
        if (code != 2 || strstr(out, "usherd.conf") == NULL || strstr(out, bad[i].message) == NULL)
            T_FAIL("config %zu: exit %d, wanted 2 and \"usherd.conf%s\":\n%s", i, code,
                   bad[i].message, out);
        free(out);
    }
}

/* --- stop and reload with children running ------------------------------------ */

/*
 * The stop cases below run their children with stderr = null: a child's
 * stderr pipe still open when the loop ends is a case of its own
 * (test_stop_while_a_grandchild_holds_stderr).
 */
#define STDERR_NULL "stderr = null\n"

static pid_t grandchild;

static void kill_grandchild(void)
{
    if (grandchild > 0)
        kill(grandchild, SIGKILL);
}

static void test_stop_while_a_grandchild_holds_stderr(void)
{
    /* Scenario: the service's shell starts `sleep 30 &` and exits at once;
     * the sleep (usherd's grandchild) keeps the stderr pipe (stderr = log)
     * and the socket open.  The child's exit is logged; then SIGTERM.
     * Asserted: usherd stops and exits 0 (it has no child left to wait
     * for), rather than dying of a signal. */
    struct h_daemon *d = h_start(
        exec_conf("bg", "tcp://127.0.0.1:0", "/bin/sh -c 'sleep 30 & echo $!'", NULL), NULL);
    int fd = h_connect(h_addr(d, "bg", "tcp://127"));
    char buf[64];

    h_recv_line(fd, buf, sizeof(buf));
    grandchild = (pid_t)strtol(buf, NULL, 10);
    t_at_end(kill_grandchild);
    h_wait_conn_line(d, "bg", "end=exit:0", 5000);
    h_kill(d, SIGTERM);
    if (!h_wait_exit(d, 5000))
        T_FAIL("usherd still running 5 s after SIGTERM");
    if (d->exit_status != 0)
        T_FAIL("usherd ended with status %d%s; log:\n%s", d->exit_status,
               d->exit_status == 128 + SIGSEGV ? " (SIGSEGV)" : "", h_log(d));
}

static void test_stop_waits_then_terminates_children(void)
{
    /* Scenario: shutdown_timeout = 1s; a child (a shell running sleep 100)
     * is serving a connection; SIGTERM.  Asserted: usherd waits for it
     * (still there after 0.9 s), then SIGTERMs its process group at the
     * timeout: the connection closes, the exit is logged end=signal:15, and
     * usherd exits 0 within the timeout + slack. */
    struct h_daemon *d =
        h_start(h_fmt("[global]\nshutdown_timeout = 1s\n%s",
                      exec_conf("slow", "tcp://127.0.0.1:0", "/bin/sh -c 'echo started; sleep 100'",
                                STDERR_NULL)),
                NULL);
    int fd = h_connect(h_addr(d, "slow", "tcp://127"));
    int64_t t0, took;

    expect_line(fd, "started");
    t0 = h_now_ms();
    h_kill(d, SIGTERM);
    if (h_wait_exit(d, 900 / (int)t_scale()))
        T_FAIL("usherd exited at once, with a child running and shutdown_timeout = 1s");
    if (!h_wait_exit(d, 10000))
        T_FAIL("usherd still running 10 s after SIGTERM");
    took = h_now_ms() - t0;
    T_EQ_INT(d->exit_status, 0);
    if (took > 1000 + 1500 * (int64_t)t_scale())
        T_FAIL("usherd took %lld ms to stop with shutdown_timeout = 1s", (long long)took);
    T_ASSERT(h_wait_closed(fd, 2000));
    T_ASSERT(h_count_log(d, "end=signal:15 ") == 1);
}

static void test_stop_kills_children_that_ignore_term(void)
{
    /* Scenario: shutdown_timeout = 1s; the child ignores SIGTERM (trap ''
     * TERM, then exec sleep); SIGTERM to usherd.  Asserted: at the timeout
     * the child gets SIGTERM, the grace period later (h_grace_ms) SIGKILL:
     * usherd exits 0 after 1 s + the grace (not before), and the exit is
     * logged end=signal:9. */
    struct h_daemon *d = h_start(
        h_fmt("[global]\nshutdown_timeout = 1s\n%s",
              exec_conf("deaf", "tcp://127.0.0.1:0",
                        "/bin/sh -c \"trap '' TERM; echo started; exec sleep 100\"", STDERR_NULL)),
        NULL);
    int fd = h_connect(h_addr(d, "deaf", "tcp://127"));
    int64_t t0, took;

    expect_line(fd, "started");
    t0 = h_now_ms();
    h_kill(d, SIGTERM);
    if (!h_wait_exit(d, 10000))
        T_FAIL("usherd still running 10 s after SIGTERM");
    took = h_now_ms() - t0;
    T_EQ_INT(d->exit_status, 0);
    if (took < 1000 + h_grace_ms() - 100)
        T_FAIL("usherd stopped after %lld ms: no %d ms between SIGTERM and SIGKILL",
               (long long)took, h_grace_ms());
    if (took > 1000 + h_grace_ms() + 1500 * (int64_t)t_scale())
        T_FAIL("usherd took %lld ms to stop", (long long)took);
    T_ASSERT(h_count_log(d, "end=signal:9 ") == 1);
}

static void test_stop_ends_when_children_finish(void)
{
    /* Scenario: shutdown_timeout = 20s; a cat child serves a
     * connection; SIGTERM, then the client finishes (half-close).
     * Asserted: the child keeps serving during the stop, and usherd exits
     * 0 as soon as it has exited, long before the timeout; end=exit:0. */
    struct h_daemon *d =
        h_start(h_fmt("[global]\nshutdown_timeout = 20s\n%s",
                      exec_conf("cat", "tcp://127.0.0.1:0", probe_cat(), STDERR_NULL)),
                NULL);
    int fd = h_connect(h_addr(d, "cat", "tcp://127"));
    int64_t t0;

    h_echo_roundtrip(fd, "before");
    h_kill(d, SIGTERM);
    if (!h_wait_log(d, "stopping: listeners closed", 5000))
        T_FAIL("no stop begun:\n%s", h_log(d));
    h_echo_roundtrip(fd, "during the stop");
    t0 = h_now_ms();
    shutdown(fd, SHUT_WR);
    if (!h_wait_exit(d, 5000))
        T_FAIL("usherd still running 5 s after its last child could exit");
    T_EQ_INT(d->exit_status, 0);
    t_note("stopped %lld ms after the last child's client finished", (long long)(h_now_ms() - t0));
    T_ASSERT(h_count_log(d, "end=exit:0 ") == 1);
}

static void test_second_sigterm_kills_children_at_once(void)
{
    /* Scenario: shutdown_timeout = 20s, a child running; SIGTERM, then once
     * the stop has begun a second SIGTERM.  Asserted: usherd exits 0 within
     * a second or so of the second signal (not 20 s), the child killed:
     * end=signal:9. */
    struct h_daemon *d =
        h_start(h_fmt("[global]\nshutdown_timeout = 20s\n%s",
                      exec_conf("slow", "tcp://127.0.0.1:0", "/bin/sh -c 'echo started; sleep 100'",
                                STDERR_NULL)),
                NULL);
    int fd = h_connect(h_addr(d, "slow", "tcp://127"));

    expect_line(fd, "started");
    h_kill(d, SIGTERM);
    if (!h_wait_log(d, "stopping: listeners closed", 5000))
        T_FAIL("no stop begun:\n%s", h_log(d));
    h_kill(d, SIGTERM);
    if (!h_wait_exit(d, 1500))
        T_FAIL("usherd still running 1.5 s after a second SIGTERM");
    T_EQ_INT(d->exit_status, 0);
    T_ASSERT(h_count_log(d, "end=signal:9 ") == 1);
    T_ASSERT(h_wait_closed(fd, 2000));
}

static void test_reload_keeps_running_child(void)
{
    /* Scenario: a cat child serves a connection; the service's config
     * changes (an env entry) and SIGHUP.  Asserted: after the reload the
     * child still echoes on the same connection, and its exit is logged
     * normally (end=exit:0) when the client finishes. */
    struct h_daemon *d = h_start(exec_conf("cat", "tcp://127.0.0.1:0", probe_cat(), NULL), NULL);
    int fd = h_connect(h_addr(d, "cat", "tcp://127"));
    char buf[64];

    h_echo_roundtrip(fd, "before");
    h_write_file(d->conf_path,
                 exec_conf("cat", "tcp://127.0.0.1:0", probe_cat(), "env = CHANGED=1\n"));
    h_kill(d, SIGHUP);
    if (!h_wait_log(d, "reloaded ", 5000))
        T_FAIL("no reload logged:\n%s", h_log(d));
    h_echo_roundtrip(fd, "after");
    shutdown(fd, SHUT_WR);
    T_EQ_INT(h_recv_all(fd, buf, sizeof(buf)), 0);
    h_wait_conn_line(d, "cat", "end=exit:0", 5000);
}

static void test_reload_removing_service_keeps_child(void)
{
    /* Scenario: a cat child serves a connection on the unix: listener of
     * service "cat"; the reload removes that service altogether (an echo
     * service stays).  Asserted: the socket file's listener is gone (a new
     * connection is refused), but the running child keeps echoing and ends
     * normally, logged end=exit:0 under its service's name. */
    struct h_daemon *d = h_start(
        h_fmt("%s%s", exec_conf("cat", "unix:@DIR@/cat.sock", probe_cat(), NULL), ECHO_SECTION),
        NULL);
    const char *addr = h_addr(d, "cat", "unix:");
    int fd = h_connect(addr);

    h_echo_roundtrip(fd, "before");
    h_write_file(d->conf_path, ECHO_SECTION);
    h_kill(d, SIGHUP);
    if (!h_wait_log(d, "reloaded ", 5000))
        T_FAIL("no reload logged:\n%s", h_log(d));
    T_ASSERT(h_connect_raw(addr) < 0);
    h_echo_roundtrip(fd, "after");
    close(fd);
    h_wait_conn_line(d, "cat", "end=exit:0", 5000);
    still_serving(d);
}

static void test_reload_removing_exec_service_closes_its_own_listener(void)
{
    /* Scenario: services "cat" (exec) and "echo" (builtin) both listen on
     * tcp://127.0.0.1:0 (two ports chosen by the kernel); the reload
     * removes "cat" and leaves "echo" as it was.  Asserted: cat's port is
     * closed (refused) and echo keeps its own port: echo's listener is
     * unchanged, so it keeps its socket; the removed one closes. */
    struct h_daemon *d = h_start(
        h_fmt("%s%s", exec_conf("cat", "tcp://127.0.0.1:0", probe_cat(), NULL), ECHO_SECTION),
        NULL);
    char *cat_addr = strdup(h_addr(d, "cat", "tcp://127"));
    char *echo_addr = strdup(h_addr(d, "echo", "tcp://127"));
    int fd, refused = -1;

    h_write_file(d->conf_path, ECHO_SECTION);
    h_kill(d, SIGHUP);
    if (!h_wait_log(d, "reloaded ", 5000))
        T_FAIL("no reload logged:\n%s", h_log(d));
    fd = h_connect_raw(echo_addr);
    if (fd < 0)
        T_FAIL("echo's port %s is gone after a reload that left echo alone (%s); log:\n%s",
               echo_addr, strerror(errno), h_log(d));
    h_echo_roundtrip(fd, "echo keeps its port");
    close(fd);
    refused = h_connect_raw(cat_addr);
    if (refused >= 0)
        T_FAIL("the removed service's port %s still accepts; log:\n%s", cat_addr, h_log(d));
}

/* --- connection rate (measured, not asserted) --------------------------------- */

/* Connect, send a byte, read it back, half-close, wait for EOF, close; until `until`. */
static long cat_loop(const struct sockaddr_in *sin, int64_t until, long *errors)
{
    long n = 0;

    while (h_now_ms() < until) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char c = 'x';
        if (fd < 0 || connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0 ||
            write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1 || shutdown(fd, SHUT_WR) < 0 ||
            read(fd, &c, 1) != 0)
            (*errors)++;
        else
            n++;
        if (fd >= 0)
            close(fd);
    }
    return n;
}

/* `nclients` processes running cat_loop for `ms`; returns the connections done. */
static long cat_load(int port, int nclients, int ms, long *errors)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int p[2];
    long total = 0;
    pid_t pids[64];
    int64_t until = h_now_ms() + ms;

    if (pipe(p) < 0)
        T_FAIL("pipe: %s", strerror(errno));
    for (int i = 0; i < nclients; i++) {
        if ((pids[i] = fork()) < 0)
            T_FAIL("fork: %s", strerror(errno));
        if (pids[i] == 0) {
            long res[2] = {0, 0};
            res[0] = cat_loop(&sin, until, &res[1]);
            _exit(write(p[1], res, sizeof(res)) == sizeof(res) ? 0 : 1);
        }
    }
    close(p[1]);
    for (int i = 0; i < nclients; i++) {
        long res[2];
        if (read_full(p[0], res, sizeof(res)) != (ssize_t)sizeof(res))
            T_FAIL("a load client died");
        total += res[0];
        *errors += res[1];
    }
    for (int i = 0; i < nclients; i++)
        waitpid(pids[i], NULL, 0);
    close(p[0]);
    return total;
}

static void test_measure_cat_connection_rate(void)
{
    /* Scenario: a /bin/cat exec service; for ~3 s one client, then for ~3 s
     * 16 clients, each looping: connect, send a byte, read it back,
     * half-close, read EOF (cat has exited), close.  Noted: connections per
     * second either way, and failed round trips (not asserted).  Asserted:
     * every connection's end is logged. */
    struct h_daemon *d = h_start(exec_conf("cat", "tcp://127.0.0.1:0", "/bin/cat", NULL), NULL);
    int port = h_port(h_addr(d, "cat", "tcp://127"));
    long errors = 0, seq, par;

    seq = cat_load(port, 1, 3000, &errors);
    par = cat_load(port, 16, 3000, &errors);
    t_note("/bin/cat exec service: %ld conn/s sequential, %ld conn/s with 16 clients "
           "(%ld failed round trips, %d exits not 0)",
           seq / 3, par / 3, errors, h_count_log(d, "end=exit:") - h_count_log(d, "end=exit:0 "));
    if (!h_wait_log_count(d, "end=", (int)(seq + par + errors), 10000))
        T_FAIL("%d of %ld connection ends logged", h_count_log(d, "end="), seq + par + errors);
}

static const struct t_case cases[] = {
    T_CASE(test_env_tcp4_exact),
    T_CASE(test_env_tcp6_adds_tcp6_variables),
    T_CASE(test_env_ipv4_mapped_peer_is_ipv4),
    T_CASE(test_env_unix_peer_credentials),
    T_CASE(test_env_entries_override_later_wins),
    T_CASE(test_exec_words_split_like_a_shell),
    T_CASE(test_program_without_slash_found_on_path),
    T_CASE(test_exit_logged_as_connection_line),
    T_CASE(test_child_has_exactly_fds_0_1_2),
    T_CASE(test_child_socket_is_blocking),
    T_CASE(test_cat_service_answers_after_a_pause),
    T_CASE(test_fds_0_1_2_under_nofile_2_30),
    T_CASE(test_spawn_stays_fast_under_nofile_2_30),
    T_CASE(test_child_has_own_session_and_group),
    T_CASE(test_child_signals_default_and_unblocked),
    T_CASE(test_rlimits_applied),
    T_CASE(test_rlimit_cpu_stops_a_spinning_child),
    T_CASE(test_nice_applied),
    T_CASE(test_max_time_terminates_the_process_group),
    T_CASE(test_max_time_sigkill_follows_an_ignored_term),
    T_CASE(test_stderr_lines_logged_with_service_and_pid),
    T_CASE(test_stderr_to_socket),
    T_CASE(test_stderr_to_null),
    T_CASE_TIMEOUT(test_thousand_connections_no_zombies_no_leaks, 90),
    T_CASE(test_stats_count_running_children),
    T_CASE(test_missing_program_logged_and_closed),
    T_CASE(test_program_not_executable_permission_denied),
    T_CASE(test_check_finds_what_would_fail_at_run_time),
    T_CASE(test_exec_config_errors_name_file_and_line),
    T_CASE(test_stop_while_a_grandchild_holds_stderr),
    T_CASE(test_stop_waits_then_terminates_children),
    T_CASE(test_stop_kills_children_that_ignore_term),
    T_CASE(test_stop_ends_when_children_finish),
    T_CASE(test_second_sigterm_kills_children_at_once),
    T_CASE(test_reload_keeps_running_child),
    T_CASE(test_reload_removing_service_keeps_child),
    T_CASE(test_reload_removing_exec_service_closes_its_own_listener),
    T_CASE(test_measure_cat_connection_rate),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
