/*
 * Controlling the running daemon (SPEC 2, 8.3, 11): `usherd -s status|
 * stop|reload|stats` finds it through the pidfile, named by -p or by the
 * `pidfile` of the configuration given with -f; says "running (pid N)";
 * says "not running" (exit 1) when the file is missing or stale, and then
 * signals nobody; stop waits until the daemon is gone, letting a slow
 * transfer finish, within shutdown_timeout + 5 s; a bad configuration or
 * command is a usage error (exit 2).
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CTL_MS 20000 /* bound of a control command: stop waits up to 15 s */

/* An echo service whose pidfile is named in the configuration. */
static const char conf_pidfile[] = "[global]\npidfile = @DIR@/usherd.pid\n"
                                   "shutdown_timeout = %s\n"
                                   "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n";

static struct h_daemon *start_with_pidfile(const char *shutdown_timeout)
{
    char conf[512];

    snprintf(conf, sizeof(conf), conf_pidfile, shutdown_timeout);
    return h_start(conf, NULL);
}

static const char *pidfile_of(const struct h_daemon *d)
{
    static char path[400];

    snprintf(path, sizeof(path), "%s/usherd.pid", d->dir);
    return path;
}

/* usherd -s COMMAND args... (NULL-ended), bounded; r has its output. */
static void ctl(struct h_result *r, const char *command, ...) __attribute__((sentinel));

static void ctl(struct h_result *r, const char *command, ...)
{
    const char *argv[16] = {h_usherd(), "-s", command};
    int argc = 3;
    va_list ap;

    va_start(ap, command);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 15;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    h_run(r, NULL, 0, CTL_MS, argv);
}

/* --- status --------------------------------------------------------------------- */

static void test_status_through_p(void)
{
    /* Scenario: usherd runs with -p FILE; usherd -s status -p FILE.
     * Asserted: exit 0, stdout exactly "running (pid N)\n", stderr empty. */
    char pidfile[400], want[64];
    struct h_daemon *d;
    struct h_result r;

    snprintf(pidfile, sizeof(pidfile), "%s/p.pid", h_tmpdir());
    d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", "-p", pidfile, NULL);
    ctl(&r, "status", "-p", pidfile, NULL);
    snprintf(want, sizeof(want), "running (pid %ld)\n", (long)d->pid);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, want);
    T_EQ_STR(r.err, "");
}

static void test_status_through_config(void)
{
    /* Scenario: the configuration names the pidfile; usherd runs on it;
     * usherd -s status -f CONF.  Asserted: exit 0, "running (pid N)\n". */
    struct h_daemon *d = start_with_pidfile("10s");
    struct h_result r;
    char want[64];

    ctl(&r, "status", "-f", d->conf_path, NULL);
    snprintf(want, sizeof(want), "running (pid %ld)\n", (long)d->pid);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, want);
    T_EQ_STR(r.err, "");
}

/* usherd -s COMMAND -p PIDFILE: exit 1, stdout empty, stderr exactly
 * "usherd: not running (PIDFILE is missing or held by no process)\n". */
static void expect_not_running(const char *command, const char *pidfile)
{
    char want[600];
    struct h_result r;

    ctl(&r, command, "-p", pidfile, NULL);
    snprintf(want, sizeof(want), "usherd: not running (%s is missing or held by no process)\n",
             pidfile);
    T_EQ_INT(r.exit_code, 1);
    T_EQ_STR(r.out, "");
    T_EQ_STR(r.err, want);
}

static void test_status_without_pidfile_says_not_running(void)
{
    /* Scenario: -s status -p FILE, FILE missing.  Asserted: exit 1, stdout
     * empty, stderr exactly "usherd: not running (FILE is missing or held
     * by no process)\n". */
    char pidfile[400];

    snprintf(pidfile, sizeof(pidfile), "%s/none.pid", h_tmpdir());
    expect_not_running("status", pidfile);
}

static void stale_says_not_running(const char *command, pid_t pid)
{
    char pidfile[400], text[32];

    snprintf(pidfile, sizeof(pidfile), "%s/stale.pid", h_tmpdir());
    snprintf(text, sizeof(text), "%ld\n", (long)pid);
    h_write_file(pidfile, text);
    expect_not_running(command, pidfile);
}

static void test_status_with_stale_pidfile_says_not_running(void)
{
    /* Scenario: FILE names a dead pid and nobody holds its lock; -s status
     * -p FILE.  Asserted: exit 1, "usherd: not running (FILE is missing or
     * held by no process)". */
    stale_says_not_running("status", h_dead_pid());
}

static void test_stop_with_stale_pidfile_signals_nobody(void)
{
    /* Scenario: FILE names a live process that is not usherd (the test) and
     * nobody holds its lock; -s stop -p FILE.  Asserted: exit 1, "not
     * running", and the process named was not sent SIGTERM (the test is
     * alive to check, SIGTERM being blocked and looked for). */
    sigset_t term, pending;

    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, NULL);
    stale_says_not_running("stop", getpid());
    sigpending(&pending);
    T_ASSERT(!sigismember(&pending, SIGTERM));
}

/* --- stop ------------------------------------------------------------------------ */

static void test_stop_through_config_of_detached_daemon(void)
{
    /* Scenario: usherd -D -f CONF (pidfile in CONF), then usherd -s stop
     * -f CONF.  Asserted: exit 0, no output; by then the daemon has exited
     * (status 0) and its pidfile is gone. */
    char conf[512];
    struct h_result front, r;
    struct h_daemon *d;

    snprintf(conf, sizeof(conf),
             "[global]\nlog = @SYSLOG@\npidfile = @DIR@/usherd.pid\nshutdown_timeout = 10s\n"
             "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");
    d = h_start_detached(conf, "@DIR@/usherd.pid", &front, NULL);
    T_EQ_INT(front.exit_code, 0);
    ctl(&r, "stop", "-f", d->conf_path, NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "");
    T_EQ_STR(r.err, "");
    T_ASSERT(access(d->pidfile, F_OK) < 0);
    if (!h_wait_exit(d, 1000))
        T_FAIL("-s stop returned while the daemon still runs");
    T_EQ_INT(d->exit_status, 0);
}

static void test_stop_waits_until_the_daemon_is_gone(void)
{
    /* Scenario: shutdown_timeout = 1s, an idle connection open; usherd -s
     * stop -p FILE.  Asserted: it returns 0 no sooner than ~1 s (the daemon
     * waited for the connection), and when it returns nobody holds FILE,
     * FILE is gone, and the daemon exits 0 at once. */
    struct h_daemon *d = start_with_pidfile("1s");
    int fd = h_connect(h_addr(d, "echo", "tcp://"));
    struct h_result r;
    int64_t start, took;

    h_echo_roundtrip(fd, "open");
    start = h_now_ms();
    ctl(&r, "stop", "-p", pidfile_of(d), NULL);
    took = h_now_ms() - start;
    t_note("-s stop returned %d after %lld ms", r.exit_code, (long long)took);
    T_EQ_INT(r.exit_code, 0);
    T_ASSERT(took >= 900);
    T_EQ_INT(h_lock_holder(pidfile_of(d)), 0);
    T_ASSERT(access(pidfile_of(d), F_OK) < 0);
    if (!h_wait_exit(d, 1000))
        T_FAIL("-s stop returned while the daemon still runs");
    T_EQ_INT(d->exit_status, 0);
}

/* Start usherd -s ARGS... in the background, output to DIR/ctl.out. */
static pid_t ctl_async(const char *const argv[])
{
    char out[400];
    pid_t pid;

    snprintf(out, sizeof(out), "%s/ctl.out", h_tmpdir());
    pid = fork();
    if (pid < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(120);
        execv(argv[0], (char *const *)argv);
        _exit(121);
    }
    return pid;
}

/* The exit code of `pid` if it ends within `ms` (unscaled), else -1 (killed). */
static int wait_ctl(pid_t pid, int ms)
{
    int64_t until = h_now_ms() + ms;
    int status;

    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (h_now_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(5000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_stop_lets_a_slow_transfer_finish(void)
{
    /* Scenario: shutdown_timeout = 10s; a client sends 256 KiB through echo
     * in 16 KiB pieces every 20 ms, reading the echo as it goes; after the
     * first pieces, usherd -s stop starts.  Asserted: new connections are
     * refused soon after, but the transfer completes, every byte echoed in
     * order; -s stop is still waiting when it ends, and returns 0 once the
     * client has closed; the connection is logged end=closed, and the
     * daemon exits 0. */
    enum { TOTAL = 256 * 1024, PIECE = 16 * 1024 };
    struct h_daemon *d = start_with_pidfile("10s");
    const char *addr = h_addr(d, "echo", "tcp://");
    const char *argv[] = {h_usherd(), "-s", "stop", "-p", pidfile_of(d), NULL};
    static char sent[TOTAL], got[TOTAL];
    int fd = h_connect(addr), code;
    size_t received = 0;
    pid_t ctl_pid = 0;

    for (size_t i = 0; i < TOTAL; i++)
        sent[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    for (size_t off = 0; off < TOTAL; off += PIECE) {
        h_send(fd, sent + off, PIECE);
        if (off == 2 * PIECE)
            ctl_pid = ctl_async(argv);
        usleep(20000); /* pacing: a slow client */
        while (received < off + PIECE) {
            ssize_t n = h_recv_within(fd, got + received, TOTAL - received, 5000);
            if (n <= 0)
                T_FAIL("the echo stopped after %zu of %zu bytes", received, off + PIECE);
            received += (size_t)n;
        }
        /* The stop is under way, the transfer paused meanwhile. */
        if (off == 4 * PIECE)
            h_wait_refused(addr, 5000, "-s stop began");
    }
    T_EQ_INT(received, TOTAL);
    T_EQ_MEM(got, sent, TOTAL);
    T_EQ_INT(waitpid(ctl_pid, NULL, WNOHANG), 0); /* still waiting */
    close(fd);
    code = wait_ctl(ctl_pid, 5000 * (int)t_scale());
    T_EQ_INT(code, 0);
    T_ASSERT(h_wait_exit(d, 2000));
    T_EQ_INT(d->exit_status, 0);
    T_CONTAINS(h_log_line(d, "usherd: service=echo "), "end=closed");
    T_CONTAINS(h_log_line(d, "usherd: service=echo "), " in=262144 out=262144 ");
}

static void test_stop_gives_up_after_shutdown_timeout_plus_5s(void)
{
    /* Scenario: shutdown_timeout = 0s; the daemon is stopped (SIGSTOP), so
     * it cannot act on SIGTERM; usherd -s stop -f CONF.  Asserted: after
     * about 5 s (shutdown_timeout + 5 s) it gives up: exit 1, "usherd:
     * still running (pid N) after 5000 ms". */
    struct h_daemon *d = start_with_pidfile("0s");
    struct h_result r;
    char want[128];
    int64_t start = h_now_ms(), took;

    h_kill(d, SIGSTOP);
    ctl(&r, "stop", "-f", d->conf_path, NULL);
    took = h_now_ms() - start;
    t_note("gave up after %lld ms", (long long)took);
    snprintf(want, sizeof(want), "usherd: still running (pid %ld) after 5000 ms\n", (long)d->pid);
    T_EQ_INT(r.exit_code, 1);
    T_EQ_STR(r.err, want);
    T_ASSERT(took >= 4900 && took < 8000);
    h_kill(d, SIGCONT); /* it goes on to stop, as asked */
    T_ASSERT(h_wait_exit(d, 5000));
    T_EQ_INT(d->exit_status, 0);
}

static void test_stop_with_p_and_f_bounds_the_wait_by_the_config(void)
{
    /* Scenario: as above (shutdown_timeout = 0s in CONF, the daemon
     * stopped), but usherd -s stop -p FILE -f CONF: the pidfile is named,
     * and so is the configuration.  Asserted: the wait is still bounded by
     * CONF's shutdown_timeout + 5 s: exit 1 "... after 5000 ms" within 8 s
     * (not the 15 s of the built-in 10 s default). */
    struct h_daemon *d = start_with_pidfile("0s");
    const char *argv[] = {h_usherd(), "-s", "stop", "-p", pidfile_of(d), "-f", d->conf_path, NULL};
    pid_t pid;
    int code;

    h_kill(d, SIGSTOP);
    pid = ctl_async(argv);
    code = wait_ctl(pid, 8000);
    if (code < 0) {
        char path[400];
        snprintf(path, sizeof(path), "%s/ctl.out", h_tmpdir());
        T_FAIL("usherd -s stop -p FILE -f CONF still waiting after 8 s, with shutdown_timeout = "
               "0s in CONF (bound: 5 s); output: \"%s\"",
               h_read_file(path));
    }
    T_EQ_INT(code, 1);
    h_kill(d, SIGCONT);
}

/* --- reload, stats, errors --------------------------------------------------------- */

static void test_reload_through_p(void)
{
    /* Scenario: -s reload -p FILE (the control socket beside FILE).
     * Asserted: exit 0, stdout the one summary line "reloaded CONF:
     * services 1 (added 0, removed 0, changed 0); listeners kept 1, opened
     * 0, closed 0", nothing on stderr; the daemon logs "control socket:
     * reloading". */
    struct h_daemon *d = start_with_pidfile("10s");
    struct h_result r;
    char want[600];

    ctl(&r, "reload", "-p", pidfile_of(d), NULL);
    snprintf(want, sizeof(want),
             "reloaded %s: services 1 (added 0, removed 0, changed 0); listeners kept 1, "
             "opened 0, closed 0\n",
             d->conf_path);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, want);
    T_EQ_STR(r.err, "");
    T_ASSERT(h_wait_log(d, "usherd: control socket: reloading ", 5000));
}

static void test_reload_summary_counts_the_changes(void)
{
    /* Scenario: a second service is added to CONF, then -s reload -f CONF.
     * Asserted: exit 0, the summary says "services 2 (added 1, ..." and
     * "opened 1"; the new service answers. */
    struct h_daemon *d = start_with_pidfile("10s");
    struct h_result r;
    int fd;

    /* @DIR@ is expanded by h_start only: the pidfile's real name. */
    h_write_file(d->conf_path, h_fmt("[global]\npidfile = %s\nshutdown_timeout = 10s\n"
                                     "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                     "[echo2]\nlisten = unix:%s/echo2.sock\nbuiltin = echo\n",
                                     pidfile_of(d), d->dir));
    ctl(&r, "reload", "-f", d->conf_path, NULL);
    T_EQ_INT(r.exit_code, 0);
    T_ASSERT(strstr(r.out, ": services 2 (added 1, removed 0, changed 0); listeners kept 1, "
                           "opened 1, closed 0\n") != NULL);
    fd = h_connect(h_fmt("unix:%s/echo2.sock", d->dir));
    h_echo_roundtrip(fd, "added\n");
    close(fd);
}

static void test_reload_of_a_broken_file_exits_1_with_file_line(void)
{
    /* Scenario: CONF gets an unknown key on its line 4, then -s reload -p
     * FILE (not -f: that would check CONF before asking).  Asserted: exit
     * 1, nothing on stdout, stderr names "CONF:4: unknown key 'bogus'" and
     * says the configuration in force stays; echo is still served; once
     * CONF is fixed, -s reload exits 0. */
    struct h_daemon *d = start_with_pidfile("10s");
    const char *echo = h_addr(d, "echo", "tcp");
    struct h_result r;
    int fd;

    h_write_file(d->conf_path, h_fmt("[global]\npidfile = %s\nshutdown_timeout = 10s\n"
                                     "bogus = 1\n[echo]\nlisten = tcp://127.0.0.1:0\n"
                                     "builtin = echo\n",
                                     pidfile_of(d)));
    ctl(&r, "reload", "-p", pidfile_of(d), NULL);
    T_EQ_INT(r.exit_code, 1);
    T_EQ_STR(r.out, "");
    T_ASSERT(strstr(r.err, h_fmt("%s:4: unknown key 'bogus'", d->conf_path)) != NULL);
    T_ASSERT(strstr(r.err, "the configuration in force stays") != NULL);
    fd = h_connect(echo);
    h_echo_roundtrip(fd, "still\n");
    close(fd);
    h_write_file(d->conf_path, h_fmt("[global]\npidfile = %s\nshutdown_timeout = 10s\n"
                                     "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                                     pidfile_of(d)));
    ctl(&r, "reload", "-p", pidfile_of(d), NULL);
    T_EQ_INT(r.exit_code, 0);
}

static void test_stats_through_config(void)
{
    /* Scenario: 3 echo connections, then -s stats -f CONF.  Asserted: exit
     * 0, stdout is the table: a header naming the columns, then the echo
     * row with conns_now 0 and conns_total 3, then log_lines_lost. */
    struct h_daemon *d = start_with_pidfile("10s");
    struct h_result r;
    const char *row;
    long long now, total;

    for (int i = 0; i < 3; i++) {
        int fd = h_connect(h_addr(d, "echo", "tcp"));
        h_echo_roundtrip(fd, "x\n");
        close(fd);
    }
    h_stats_settled(d, "echo", "conns_now", 0);
    ctl(&r, "stats", "-f", d->conf_path, NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.err, "");
    T_ASSERT(strncmp(r.out, "service ", 8) == 0);
    T_ASSERT(strstr(r.out, " conns_now conns_total ") != NULL);
    T_ASSERT((row = strstr(r.out, "\necho ")) != NULL);
    T_EQ_INT(sscanf(row + 6, "%lld %lld", &now, &total), 2);
    T_EQ_INT(now, 0);
    T_EQ_INT(total, 3);
    T_ASSERT(strstr(r.out, "\nlog_lines_lost 0\n") != NULL);
}

/* The echo service with `control = none`: no socket, -s signals. */
static struct h_daemon *start_without_control(void)
{
    return h_start("[global]\npidfile = @DIR@/usherd.pid\ncontrol = none\n"
                   "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                   NULL);
}

static void test_without_control_socket_reload_and_stats_signal(void)
{
    /* Scenario: control = none; -s reload -f CONF, -s stats -f CONF.
     * Asserted: no socket beside the pidfile; both exit 0 with no output;
     * the daemon logs "SIGHUP: reloading" and its "stats service=echo"
     * line (SIGHUP and SIGUSR1, as before the control socket). */
    struct h_daemon *d = start_without_control();
    struct h_result r;

    T_ASSERT(access(h_fmt("%s/usherd.sock", d->dir), F_OK) < 0);
    ctl(&r, "reload", "-f", d->conf_path, NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "");
    T_EQ_STR(r.err, "");
    T_ASSERT(h_wait_log(d, "usherd: SIGHUP: reloading ", 5000));
    ctl(&r, "stats", "-f", d->conf_path, NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "");
    T_ASSERT(h_wait_log(d, "usherd: stats service=echo conns_now=0 ", 5000));
}

static void test_control_socket_is_private_and_removed_at_stop(void)
{
    /* Scenario: usherd with -p DIR/usherd.pid; then -s stop.  Asserted:
     * DIR/usherd.sock is a socket of mode 0600 owned by usherd's user,
     * logged as "control socket DIR/usherd.sock"; after the stop it is
     * gone. */
    struct h_daemon *d = start_with_pidfile("10s");
    const char *sock = h_fmt("%s/usherd.sock", d->dir);
    struct h_result r;
    struct stat st;

    T_ASSERT(lstat(sock, &st) == 0);
    T_ASSERT(S_ISSOCK(st.st_mode));
    T_EQ_INT(st.st_mode & 07777, 0600);
    T_EQ_INT(st.st_uid, geteuid());
    T_ASSERT(h_wait_log(d, h_fmt("usherd: control socket %s\n", sock), 1000));
    ctl(&r, "stop", "-p", pidfile_of(d), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, "");
    T_ASSERT(lstat(sock, &st) < 0 && errno == ENOENT);
}

static void test_control_path_from_the_configuration(void)
{
    /* Scenario: control = DIR/ctl/admin.sock in [global] (no pidfile at
     * all: a foreground usherd takes none unless told); -s status -f CONF.
     * Asserted: the socket is there, and -s status answers through it
     * "running (pid N)", N the daemon's pid.  A relative `control` is a
     * configuration error naming it (-t: exit 2). */
    char dir[400], *out = NULL;
    struct h_daemon *d;
    struct h_result r;

    snprintf(dir, sizeof(dir), "%s/ctl", h_tmpdir());
    T_ASSERT(mkdir(dir, 0700) == 0 || errno == EEXIST);
    d = h_start(h_fmt("[global]\ncontrol = %s/admin.sock\n"
                      "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                      dir),
                NULL);
    ctl(&r, "status", "-f", d->conf_path, NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, h_fmt("running (pid %ld)\n", (long)d->pid));
    T_ASSERT(access(h_fmt("%s/admin.sock", dir), F_OK) == 0);
    T_EQ_INT(h_usherd_run("[global]\ncontrol = admin.sock\n", &out, "-t", NULL), 2);
    T_ASSERT(strstr(out, "control: 'admin.sock' must be an absolute path") != NULL);
    free(out);
}

static void test_control_path_never_replaces_another_file(void)
{
    /* Scenario: control = DIR/important.txt, a regular file; -t, then a
     * start.  Then a first usherd with control = DIR/admin.sock, and a
     * second one naming the same control socket.  Asserted: -t exits 2 and
     * the start exits 1, both saying "a file that is not a socket is
     * there", and the file is as it was; the second usherd exits 1 with
     * "another usherd answers there", and the first still answers -s
     * status through the socket. */
    const char *file = h_fmt("%s/important.txt", h_tmpdir());
    const char *sock = h_fmt("%s/admin2.sock", h_tmpdir());
    const char *echo = "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n";
    char *out = NULL, *text;
    struct h_daemon *d;
    struct h_result r;

    h_write_file(file, "precious\n");
    T_EQ_INT(h_usherd_run(h_fmt("[global]\ncontrol = %s\n%s", file, echo), &out, "-t", NULL), 2);
    T_ASSERT(strstr(out, "a file that is not a socket is there") != NULL);
    free(out);
    T_EQ_INT(h_usherd_run(h_fmt("[global]\ncontrol = %s\n%s", file, echo), &out, NULL), 1);
    T_ASSERT(strstr(out, "a file that is not a socket is there") != NULL);
    free(out);
    text = h_read_file(file);
    T_EQ_STR(text, "precious\n");
    free(text);
    d = h_start(h_fmt("[global]\ncontrol = %s\n%s", sock, echo), NULL);
    T_EQ_INT(h_usherd_run(h_fmt("[global]\ncontrol = %s\n%s", sock, echo), &out, NULL), 1);
    T_ASSERT(strstr(out, "another usherd answers there") != NULL);
    free(out);
    ctl(&r, "status", "-f", d->conf_path, NULL);
    T_EQ_STR(r.out, h_fmt("running (pid %ld)\n", (long)d->pid));
}

/* One request on the control socket of `d`, the whole answer (until it closes) into buf. */
static size_t control_request(const struct h_daemon *d, const char *req, char *buf, size_t cap)
{
    int fd = h_connect(h_fmt("unix:%s/usherd.sock", d->dir));
    size_t n;

    h_send_str(fd, req);
    n = h_recv_all(fd, buf, cap);
    close(fd);
    return n;
}

static void test_control_socket_speaks_http(void)
{
    /* Scenario: HTTP/1.1 requests on the control socket, Connection: close.
     * Asserted: GET /metrics 200 with usherd_connections_total; GET
     * /status 200 JSON naming the pid; GET /nope 404; GET /reload 405 with
     * "Allow: POST"; POST /metrics 405; a binary line 400. */
    static const struct {
        const char *line; /* the request line, or a whole request when it has no space */
        const char *status, *needle;
    } cases[] = {
        {"GET /metrics", "HTTP/1.1 200 ", "usherd_connections_total"},
        {"GET /status", "HTTP/1.1 200 ", "\"pid\":"},
        {"GET /nope", "HTTP/1.1 404 ", NULL},
        {"GET /reload", "HTTP/1.1 405 ", "\r\nAllow: POST\r\n"},
        {"POST /metrics", "HTTP/1.1 405 ", "\r\nAllow: GET, HEAD\r\n"},
        {"\x01\x02\x03garbage", "HTTP/1.1 400 ", NULL},
    };
    struct h_daemon *d = start_with_pidfile("10s");
    static char buf[65536];

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *req =
            strchr(cases[i].line, ' ') == NULL
                ? h_fmt("%s\r\n\r\n", cases[i].line)
                : h_fmt("%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", cases[i].line);
        control_request(d, req, buf, sizeof(buf));
        if (strncmp(buf, cases[i].status, strlen(cases[i].status)) != 0 ||
            (cases[i].needle != NULL && strstr(buf, cases[i].needle) == NULL))
            T_FAIL("%s: wanted %s%s, got: %.200s", cases[i].line, cases[i].status,
                   cases[i].needle ? "with its text" : "", buf);
    }
    control_request(d, "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
                    sizeof(buf));
    T_ASSERT(strstr(buf, h_fmt("\"pid\":%ld,", (long)d->pid)) != NULL);
    T_ASSERT(h_alive(d));
}

static void test_control_socket_bounds_its_connections(void)
{
    /* Scenario: 16 connections to the control socket, held open, then a
     * 17th that sends GET /status at once.  Asserted: the 17th gets no
     * answer while the 16 are held (it waits in the backlog, not
     * accepted); once one of the 16 closes, it is answered 200; each of
     * the other 15 still gets its answer. */
    struct h_daemon *d = start_with_pidfile("10s");
    const char *sock = h_fmt("unix:%s/usherd.sock", d->dir);
    const char *req = "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int fds[16], extra;
    char buf[4096];

    for (int i = 0; i < 16; i++)
        fds[i] = h_connect(sock);
    extra = h_connect(sock);
    h_send_str(extra, req);
    T_ASSERT(h_recv_within(extra, buf, sizeof(buf), 300) < 0);
    close(fds[0]);
    h_recv_all(extra, buf, sizeof(buf));
    T_ASSERT(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
    close(extra);
    for (int i = 1; i < 16; i++) {
        h_send_str(fds[i], req);
        h_recv_all(fds[i], buf, sizeof(buf));
        T_ASSERT(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
        close(fds[i]);
    }
}

static void test_slow_clients_do_not_keep_the_control_socket(void)
{
    /* Scenario: 16 connections hold every slot, each sending one byte of a
     * request head every 2 s and never finishing it; -s status meanwhile.
     * Asserted: -s status still answers "running (pid N)", exit 0: a
     * request must be complete within 10 s, however often bytes come, so
     * the slots free up (the client waits in the backlog meanwhile). */
    struct h_daemon *d = start_with_pidfile("10s");
    const char *sock = h_fmt("unix:%s/usherd.sock", d->dir);
    const char *argv[] = {h_usherd(), "-s", "status", "-p", pidfile_of(d), NULL};
    int fds[16], status;
    pid_t pid;

    for (int i = 0; i < 16; i++) {
        fds[i] = h_connect(sock);
        h_send_str(fds[i], "G");
    }
    if ((pid = fork()) == 0) {
        struct h_result r;
        h_run(&r, NULL, 0, CTL_MS, argv);
        _exit(r.exit_code == 0 && strstr(r.out, "running (pid ") == r.out ? 0 : 1);
    }
    pid_t done = 0;

    for (int round = 0; round < 10 && (done = waitpid(pid, &status, WNOHANG)) == 0; round++) {
        for (int i = 0; i < 16; i++)
            if (send(fds[i], "E", 1, MSG_NOSIGNAL) < 0) {
                /* closed by the daemon: that is the point */
            }
        sleep(2);
    }
    if (done != pid)
        T_ASSERT(waitpid(pid, &status, 0) == pid);
    T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 16; i++)
        close(fds[i]);
}

static void test_upgrade_by_signal_spares_a_process_that_would_die_of_it(void)
{
    /* Scenario: a pidfile locked by a process that does not catch SIGUSR2
     * (a python3 stand-in for an usherd older than upgrades, whose default
     * action for it is to die), no control socket; -s upgrade -p FILE.
     * Asserted: exit 1 saying it "does not catch SIGUSR2", and the process
     * is still alive. */
    const char *pidfile = h_fmt("%s/old.pid", h_tmpdir());
    const char *ready = h_fmt("%s/old.ready", h_tmpdir());
    struct h_result r;
    pid_t pid;

    h_need("python3", "python3");
    if ((pid = fork()) == 0) {
        execlp("python3", "python3", "-c",
               "import fcntl, os, sys, time\n"
               "f = open(sys.argv[1], 'w'); fcntl.lockf(f, fcntl.LOCK_EX)\n"
               "f.write('%d\\n' % os.getpid()); f.flush()\n"
               "open(sys.argv[2], 'w').write('ready\\n')\n"
               "time.sleep(30)\n",
               pidfile, ready, (char *)NULL);
        _exit(127);
    }
    T_ASSERT(h_wait_file(ready, "ready", 1, 10000));
    ctl(&r, "upgrade", "-p", pidfile, NULL);
    T_EQ_INT(r.exit_code, 1);
    T_ASSERT(strstr(r.err, "does not catch SIGUSR2") != NULL);
    T_ASSERT(kill(pid, 0) == 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_bad_config_is_a_usage_error(void)
{
    /* Scenario: -s status -f CONF, CONF with an unknown key on line 2.
     * Asserted: exit 2 and "CONF:2: unknown key 'bogus'" on stderr. */
    char conf[400], want[600];
    struct h_result r;

    snprintf(conf, sizeof(conf), "%s/bad.conf", h_tmpdir());
    h_write_file(conf, "[global]\nbogus = 1\n");
    ctl(&r, "status", "-f", conf, NULL);
    snprintf(want, sizeof(want), "%s:2: unknown key 'bogus'\n", conf);
    T_EQ_INT(r.exit_code, 2);
    T_EQ_STR(r.err, want);
}

static void test_unknown_command_is_a_usage_error(void)
{
    /* Scenario: -s restart -p FILE.  Asserted: exit 2, "usherd: -s restart:
     * expected reload, stop, stats, status or upgrade". */
    char pidfile[400];
    struct h_result r;

    snprintf(pidfile, sizeof(pidfile), "%s/none.pid", h_tmpdir());
    ctl(&r, "restart", "-p", pidfile, NULL);
    T_EQ_INT(r.exit_code, 2);
    T_EQ_STR(r.err, "usherd: -s restart: expected reload, stop, stats, status or upgrade\n");
}

static const struct t_case cases[] = {
    T_CASE(test_status_through_p),
    T_CASE(test_status_through_config),
    T_CASE(test_status_without_pidfile_says_not_running),
    T_CASE(test_status_with_stale_pidfile_says_not_running),
    T_CASE(test_stop_with_stale_pidfile_signals_nobody),
    T_CASE(test_stop_through_config_of_detached_daemon),
    T_CASE(test_stop_waits_until_the_daemon_is_gone),
    T_CASE(test_stop_lets_a_slow_transfer_finish),
    T_CASE(test_stop_gives_up_after_shutdown_timeout_plus_5s),
    T_CASE(test_stop_with_p_and_f_bounds_the_wait_by_the_config),
    T_CASE(test_reload_through_p),
    T_CASE(test_reload_summary_counts_the_changes),
    T_CASE(test_reload_of_a_broken_file_exits_1_with_file_line),
    T_CASE(test_stats_through_config),
    T_CASE(test_without_control_socket_reload_and_stats_signal),
    T_CASE(test_control_socket_is_private_and_removed_at_stop),
    T_CASE(test_control_path_from_the_configuration),
    T_CASE(test_control_path_never_replaces_another_file),
    T_CASE(test_control_socket_speaks_http),
    T_CASE(test_control_socket_bounds_its_connections),
    T_CASE(test_slow_clients_do_not_keep_the_control_socket),
    T_CASE(test_upgrade_by_signal_spares_a_process_that_would_die_of_it),
    T_CASE(test_bad_config_is_a_usage_error),
    T_CASE(test_unknown_command_is_a_usage_error),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
