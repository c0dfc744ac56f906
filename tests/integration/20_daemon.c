/*
 * --daemon and the pidfile (SPEC 8.1, 8.2): the detached daemon is a
 * session leader without a terminal, in "/", with the configured umask,
 * fds 0-2 on /dev/null and nothing inherited; the front process returns
 * only once the listeners are bound, and reports a failed start with its
 * reason and exit status (1, or 2 for a configuration error); the pidfile
 * is locked, single-instance, taken over when stale and removed on a clean
 * exit.
 *
 * Detached daemons leave the test's process group; h_start_detached makes
 * them the test's children (subreaper) and kills them when the case ends,
 * also on a timeout (see harness.h).
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* An echo service on TCP and a Unix socket, logging to the harness's syslog. */
static const char conf_echo[] = "[global]\nlog = @SYSLOG@\n"
                                "[echo]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/echo.sock\n"
                                "builtin = echo\n";

static struct h_daemon *detach_ok(const char *conf)
{
    struct h_result front;
    struct h_daemon *d =
        h_start_detached(conf, "@DIR@/usherd.pid", &front, "-p", "@DIR@/usherd.pid", NULL);

    if (front.exit_code != 0)
        T_FAIL("usherd -D exited %d: %s%s", front.exit_code, front.out, front.err);
    h_result_free(&front);
    return d;
}

/* Fields of /proc/PID/stat after the command name: state, ppid, pgrp, session, tty_nr. */
struct proc_stat {
    char state;
    long ppid, pgrp, session, tty_nr;
};

static void read_stat(pid_t pid, struct proc_stat *st)
{
    char path[64], *text, *paren;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    text = h_read_file(path);
    paren = strrchr(text, ')');
    if (paren == NULL || sscanf(paren + 1, " %c %ld %ld %ld %ld", &st->state, &st->ppid, &st->pgrp,
                                &st->session, &st->tty_nr) != 5)
        T_FAIL("cannot parse %s: \"%s\"", path, text);
    free(text);
}

/* The "Umask:" of /proc/PID/status, or -1. */
static int proc_umask(pid_t pid)
{
    char path[64], *text, *at;
    unsigned mask;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    text = h_read_file(path);
    at = strstr(text, "\nUmask:");
    if (at == NULL || sscanf(at + 7, " %o", &mask) != 1)
        T_FAIL("no Umask line in %s", path);
    free(text);
    return (int)mask;
}

static char *read_pidfile(const char *path)
{
    char *text = h_read_file(path);

    if (text[0] == '\0')
        T_FAIL("%s is missing or empty", path);
    return text;
}

/* --- detaching -------------------------------------------------------------- */

static void test_front_returns_once_listeners_are_bound(void)
{
    /* Scenario: usherd -D with a TCP listener on a fixed port and a Unix
     * socket.  Asserted: the front process exits 0 with no output, and a
     * connection to each address succeeds at the first attempt right after
     * that exit (no retry: the listeners were bound before it returned). */
    char conf[512], addr[64], sock[400];
    int port = h_free_port("tcp");
    struct h_daemon *d;
    int fd;

    snprintf(conf, sizeof(conf),
             "[global]\nlog = @SYSLOG@\n"
             "[echo]\nlisten = tcp://127.0.0.1:%d unix:@DIR@/echo.sock\nbuiltin = echo\n",
             port);
    {
        struct h_result front;
        d = h_start_detached(conf, "@DIR@/usherd.pid", &front, "-p", "@DIR@/usherd.pid", NULL);
        T_EQ_INT(front.exit_code, 0);
        T_EQ_STR(front.out, "");
        T_EQ_STR(front.err, "");
        h_result_free(&front);
    }
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", port);
    snprintf(sock, sizeof(sock), "unix:%s/echo.sock", d->dir);
    if ((fd = h_connect_raw(addr)) < 0)
        T_FAIL("connect %s right after the front exited: %s", addr, strerror(errno));
    h_echo_roundtrip(fd, "tcp");
    close(fd);
    if ((fd = h_connect_raw(sock)) < 0)
        T_FAIL("connect %s right after the front exited: %s", sock, strerror(errno));
    h_echo_roundtrip(fd, "unix");
    close(fd);
}

/*
 * Run `usherd -f CONF -D -p PIDFILE` as a shell on a terminal would: in a
 * session of its own whose controlling terminal is a fresh pty.  Returns
 * the front's wait status; *front_tty is its tty_nr (non-zero: it had a
 * terminal).
 */
static int start_on_terminal(const char *conf, const char *pidfile, long *front_tty)
{
    int report[2], status;
    pid_t pid;
    ssize_t n;

    if (pipe2(report, O_CLOEXEC) < 0)
        T_FAIL("pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        struct proc_stat st;
        int master, slave, null = open("/dev/null", O_RDWR);
        if (setsid() < 0 || (master = posix_openpt(O_RDWR | O_NOCTTY)) < 0 || grantpt(master) < 0 ||
            unlockpt(master) < 0)
            _exit(120);
        /* A session leader without a terminal that opens one gets it. */
        slave = open(ptsname(master), O_RDWR);
        if (slave < 0 || dup2(slave, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
            _exit(121);
        read_stat(getpid(), &st);
        if (write(report[1], &st.tty_nr, sizeof(st.tty_nr)) < 0)
            _exit(122);
        execl(h_usherd(), "usherd", "-f", conf, "-D", "-p", pidfile, (char *)NULL);
        _exit(123);
    }
    close(report[1]);
    n = read_full(report[0], front_tty, sizeof(*front_tty));
    close(report[0]);
    if (n != (ssize_t)sizeof(*front_tty))
        T_FAIL("the launcher failed before exec");
    if (waitpid(pid, &status, 0) < 0)
        T_FAIL("waitpid: %s", strerror(errno));
    return status;
}

static void test_detached_daemon_is_session_leader_without_terminal(void)
{
    /* Scenario: usherd -D started from a session whose controlling terminal
     * is a pty (as from a login shell).  Asserted: the front had the
     * terminal (tty_nr != 0); the daemon leads a session and a process
     * group of its own (sid == pgid == pid) and has no controlling
     * terminal (tty_nr 0 in /proc/PID/stat). */
    char conf[400], pidfile[400];
    struct proc_stat st;
    long front_tty = 0;
    pid_t pid;
    int status;

    snprintf(conf, sizeof(conf), "%s/usherd.conf", h_tmpdir());
    snprintf(pidfile, sizeof(pidfile), "%s/usherd.pid", h_tmpdir());
    h_write_file(conf, "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");
    h_guard_pidfile(pidfile); /* killed at the end, whatever happens */
    status = start_on_terminal(conf, pidfile, &front_tty);
    T_ASSERT(WIFEXITED(status));
    T_EQ_INT(WEXITSTATUS(status), 0);
    T_ASSERT(front_tty != 0);
    pid = h_lock_holder(pidfile);
    T_ASSERT(pid > 0);
    read_stat(pid, &st);
    t_note("front tty_nr %ld; daemon pid %ld sid %ld pgid %ld tty_nr %ld", front_tty, (long)pid,
           st.session, st.pgrp, st.tty_nr);
    T_EQ_INT(st.session, pid);
    T_EQ_INT(st.pgrp, pid);
    T_EQ_INT(st.tty_nr, 0);
}

static void test_detached_daemon_works_in_root_directory(void)
{
    /* Scenario: usherd -D started from the test's directory.  Asserted: the
     * daemon's working directory is "/" (it holds no mount point busy). */
    struct h_daemon *d;
    char cwd[512], path[64];
    ssize_t n;

    if (chdir(h_tmpdir()) < 0)
        T_FAIL("chdir: %s", strerror(errno));
    d = detach_ok(conf_echo);
    snprintf(path, sizeof(path), "/proc/%ld/cwd", (long)d->pid);
    n = readlink(path, cwd, sizeof(cwd) - 1);
    T_ASSERT(n > 0);
    cwd[n] = '\0';
    T_EQ_STR(cwd, "/");
}

static void test_detached_daemon_takes_umask_from_config(void)
{
    /* Scenario: `umask = 027` in [global]; the test runs with umask 077.
     * Asserted: the daemon's umask is 027, and its Unix socket file, made
     * with that umask, is srwxr-x--- (0750). */
    struct h_daemon *d;
    struct stat st;
    char sock[400];

    umask(077);
    d = detach_ok("[global]\nlog = @SYSLOG@\numask = 027\n"
                  "[echo]\nlisten = unix:@DIR@/echo.sock\nbuiltin = echo\n");
    T_EQ_INT(proc_umask(d->pid), 027);
    snprintf(sock, sizeof(sock), "%s/echo.sock", d->dir);
    T_ASSERT(stat(sock, &st) == 0);
    T_EQ_INT(st.st_mode & 0777, 0750);
}

static void test_detached_daemon_default_umask_is_022(void)
{
    /* Scenario: no umask in the configuration; the test runs with umask 077.
     * Asserted: the daemon does not inherit it: its umask is 022. */
    struct h_daemon *d;

    umask(077);
    d = detach_ok(conf_echo);
    T_EQ_INT(proc_umask(d->pid), 022);
}

/* The inode in "socket:[123]" / "pipe:[123]", or 0. */
static unsigned long link_inode(const char *link)
{
    const char *open = strchr(link, '[');

    return open ? strtoul(open + 1, NULL, 10) : 0;
}

static void test_detached_daemon_holds_only_its_own_descriptors(void)
{
    /* Scenario: the test opens a file and a pipe without close-on-exec, so
     * the front usherd inherits them, then starts usherd -D (TCP and Unix
     * listeners, logging to a syslog socket).  Asserted: in /proc/PID/fd
     * of the daemon, fds 0, 1, 2 are /dev/null; the rest is exactly its
     * own: 4 sockets (2 listeners, the syslog one, the control socket
     * beside the pidfile), the pidfile, one eventpoll and the two ends of
     * one pipe (the self-pipe); neither the file nor the pipe of the test
     * is there. */
    char leak_path[400], pidfile[400], link[512];
    int leak_fd, leak_pipe[2], sockets = 0, pidfiles = 0, epolls = 0, pipe_ends = 0;
    unsigned long self_pipe = 0;
    struct h_daemon *d;
    struct stat pst;

    snprintf(leak_path, sizeof(leak_path), "%s/leak", h_tmpdir());
    h_write_file(leak_path, "inherited\n");
    leak_fd = open(leak_path, O_RDONLY); /* no O_CLOEXEC, on purpose */
    T_ASSERT(leak_fd >= 0);
    T_ASSERT(pipe(leak_pipe) == 0); /* no O_CLOEXEC either */
    T_ASSERT(fstat(leak_pipe[0], &pst) == 0);
    d = detach_ok(conf_echo);
    h_wait_ready(d); /* the syslog socket is open once it has logged */
    snprintf(pidfile, sizeof(pidfile), "%s/usherd.pid", d->dir);
    for (int fd = 0; fd <= 2; fd++) {
        T_ASSERT(h_fd_link(d->pid, fd, link, sizeof(link)));
        if (strcmp(link, "/dev/null") != 0)
            T_FAIL("fd %d is %s, not /dev/null", fd, link);
    }
    for (int fd = 3; fd < 1024; fd++) {
        if (!h_fd_link(d->pid, fd, link, sizeof(link)))
            continue;
        if (strcmp(link, leak_path) == 0)
            T_FAIL("fd %d: the test's file %s was inherited", fd, link);
        if (strncmp(link, "socket:[", 8) == 0) {
            sockets++;
        } else if (strcmp(link, pidfile) == 0) {
            pidfiles++;
        } else if (strcmp(link, "anon_inode:[eventpoll]") == 0) {
            epolls++;
        } else if (strncmp(link, "pipe:[", 6) == 0) {
            if (link_inode(link) == (unsigned long)pst.st_ino)
                T_FAIL("fd %d: the test's pipe %s was inherited", fd, link);
            if (self_pipe != 0 && link_inode(link) != self_pipe)
                T_FAIL("fd %d: a second pipe %s", fd, link);
            self_pipe = link_inode(link);
            pipe_ends++;
        } else {
            T_FAIL("fd %d: unexpected %s", fd, link);
        }
    }
    t_note("%d sockets, %d pidfile, %d eventpoll, %d pipe ends (%d fds in all)", sockets, pidfiles,
           epolls, pipe_ends, h_count_fds(d->pid));
    T_EQ_INT(sockets, 4);
    T_EQ_INT(pidfiles, 1);
    T_EQ_INT(epolls, 1);
    T_EQ_INT(pipe_ends, 2);
    close(leak_fd);
}

static void test_detached_daemon_logs_to_syslog_under_its_own_pid(void)
{
    /* Scenario: usherd -D with `log = syslog:unix:PATH` (a test socket).
     * Asserted: the front prints nothing; the syslog socket receives the
     * start-up lines tagged "usherd[PID]" with the daemon's pid (not the
     * front's): starting, one listening line per listener, ready. */
    struct h_result front;
    struct h_daemon *d =
        h_start_detached(conf_echo, "@DIR@/usherd.pid", &front, "-p", "@DIR@/usherd.pid", NULL);
    char tag[64];

    T_EQ_INT(front.exit_code, 0);
    T_EQ_STR(front.out, "");
    T_EQ_STR(front.err, "");
    h_wait_ready(d);
    snprintf(tag, sizeof(tag), " usherd[%ld]: ", (long)d->pid);
    T_CONTAINS(h_log_line(d, "starting, configuration"), tag);
    T_CONTAINS(h_log_line(d, "listening service=echo addr=tcp://127.0.0.1:"), tag);
    T_CONTAINS(h_log_line(d, "listening service=echo addr=unix:"), tag);
    T_CONTAINS(h_log_line(d, "]: ready: "), tag);
    T_EQ_INT(h_count_log(d, "listening service="), 2);
}

static void test_detached_daemon_without_log_key_uses_syslog(void)
{
    /* Scenario: usherd -D with no `log` key, on a host without /dev/log.
     * Asserted: it tried syslog (/dev/log), not stderr: the front passes on
     * exactly the warning that the "syslog" target is unreachable, exits 0,
     * and the daemon serves. */
    struct h_result front;
    struct h_daemon *d;
    char sock[400];
    int fd;

    if (access("/dev/log", F_OK) == 0)
        t_skip("/dev/log exists here: the messages would go to the system's log");
    d = h_start_detached("[echo]\nlisten = unix:@DIR@/echo.sock\nbuiltin = echo\n",
                         "@DIR@/usherd.pid", &front, "-p", "@DIR@/usherd.pid", NULL);
    T_EQ_INT(front.exit_code, 0);
    T_EQ_STR(front.err, "usherd: warning: log target syslog unreachable: No such file or "
                        "directory; messages are lost until it is back\n");
    snprintf(sock, sizeof(sock), "unix:%s/echo.sock", d->dir);
    fd = h_connect(sock);
    h_echo_roundtrip(fd, "served");
    close(fd);
}

/* --- failed starts ---------------------------------------------------------- */

/* usherd -D (the log on @SYSLOG@, -p DIR/usherd.pid) told to listen on
 * 127.0.0.1:P, a port the test holds: `bound` gets its address, *taken the
 * socket holding it (the caller closes it at the end). */
static struct h_daemon *detach_on_taken_port(struct h_result *front, char *bound, size_t cap,
                                             int *taken)
{
    char conf[512];

    *taken = h_listen_socket("tcp://127.0.0.1:0", bound, cap);
    snprintf(conf, sizeof(conf), "[global]\nlog = @SYSLOG@\n[echo]\nlisten = %s\nbuiltin = echo\n",
             bound);
    return h_start_detached(conf, "@DIR@/usherd.pid", front, "-p", "@DIR@/usherd.pid", NULL);
}

static void test_bind_failure_exits_1_with_reason(void)
{
    /* Scenario: the test holds 127.0.0.1:P; usherd -D is told to listen
     * there.  Asserted: the front exits 1 and prints exactly "usherd: unable
     * to bind tcp://127.0.0.1:P: Address already in use"; no process holds
     * the pidfile afterwards. */
    char bound[160], want[256];
    struct h_result front;
    int taken;
    struct h_daemon *d = detach_on_taken_port(&front, bound, sizeof(bound), &taken);

    snprintf(want, sizeof(want), "usherd: unable to bind %s: Address already in use\n", bound);
    T_EQ_INT(front.exit_code, 1);
    T_EQ_STR(front.err, want);
    T_EQ_STR(front.out, "");
    T_EQ_INT(h_lock_holder(d->pidfile), 0);
    close(taken);
}

static void test_bind_failure_is_logged_to_syslog_too(void)
{
    /* Scenario: as above, the port taken, with the log on a syslog socket.
     * Asserted: the syslog receives the error too, "error: unable to bind
     * ADDR: Address already in use", at severity err (<27>: daemon*8+3). */
    char bound[160], want[256];
    struct h_result front;
    int taken;
    struct h_daemon *d = detach_on_taken_port(&front, bound, sizeof(bound), &taken);
    char *line;

    T_EQ_INT(front.exit_code, 1);
    snprintf(want, sizeof(want), "error: unable to bind %s: Address already in use", bound);
    if (!h_wait_log(d, want, 2000))
        T_FAIL("no \"%s\" in the syslog:\n%s", want, h_log(d));
    line = h_log_line(d, want);
    T_ASSERT(strncmp(line, "<27>", 4) == 0);
    close(taken);
}

static void test_failed_start_leaves_no_pidfile(void)
{
    /* Scenario: usherd -D takes its pidfile, then fails to bind (port taken).
     * Asserted: exit 1, and the pidfile it created is gone: a failed start
     * leaves nothing behind (main.c's contract for start-up failures; a
     * stale pidfile would name a dead pid). */
    char bound[160], conf[512];
    int taken = h_listen_socket("tcp://127.0.0.1:0", bound, sizeof(bound));
    struct h_result front;
    struct h_daemon *d;

    snprintf(conf, sizeof(conf), "[global]\nlog = @SYSLOG@\n[echo]\nlisten = %s\nbuiltin = echo\n",
             bound);
    d = h_start_detached(conf, "@DIR@/usherd.pid", &front, "-p", "@DIR@/usherd.pid", NULL);
    T_EQ_INT(front.exit_code, 1);
    if (access(d->pidfile, F_OK) == 0)
        T_FAIL("%s is still there after the failed start; it says \"%s\"", d->pidfile,
               h_read_file(d->pidfile));
    close(taken);
}

static void test_locked_pidfile_exits_1_with_holder(void)
{
    /* Scenario: a foreground usherd holds PIDFILE; usherd -D -p PIDFILE.
     * Asserted: the front exits 1 with exactly "usherd: already running
     * (pid N, PIDFILE)", N the first one's pid, which still holds the lock. */
    struct h_daemon *first;
    struct h_result front;
    struct h_daemon *d;
    char pidfile[400], want[600];

    snprintf(pidfile, sizeof(pidfile), "%s/shared.pid", h_tmpdir());
    first = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", "-p", pidfile, NULL);
    d = h_start_detached(conf_echo, pidfile, &front, "-p", pidfile, NULL);
    snprintf(want, sizeof(want), "usherd: already running (pid %ld, %s)\n", (long)first->pid,
             pidfile);
    T_EQ_INT(front.exit_code, 1);
    T_EQ_STR(front.err, want);
    T_EQ_INT(h_lock_holder(pidfile), first->pid);
    T_ASSERT(h_alive(first));
    T_EQ_INT(d->pid, 0);
}

static void test_config_error_exits_2_before_detaching(void)
{
    /* Scenario: usherd -D on a configuration with an unknown key on line 4.
     * Asserted: exit 2, "FILE:4: unknown key 'bogus'" on stderr, and no
     * pidfile was ever created (it failed before the fork and the lock). */
    struct h_result front;
    struct h_daemon *d =
        h_start_detached("[global]\nlog = @SYSLOG@\n[echo]\nbogus = 1\n"
                         "listen = tcp://127.0.0.1:0\nbuiltin = echo\n",
                         "@DIR@/usherd.pid", &front, "-p", "@DIR@/usherd.pid", NULL);
    char want[600];

    snprintf(want, sizeof(want), "%s:4: unknown key 'bogus'\n", d->conf_path);
    T_EQ_INT(front.exit_code, 2);
    T_EQ_STR(front.err, want);
    T_ASSERT(access(d->pidfile, F_OK) < 0 && errno == ENOENT);
}

static void test_pidfile_in_missing_directory_exits_1(void)
{
    /* Scenario: usherd -D -p DIR/missing/usherd.pid.  Asserted: exit 1 and
     * "usherd: unable to take the pidfile FILE: No such file or directory". */
    struct h_result front;
    struct h_daemon *d = h_start_detached(conf_echo, "@DIR@/missing/usherd.pid", &front, "-p",
                                          "@DIR@/missing/usherd.pid", NULL);
    char want[600];

    snprintf(want, sizeof(want),
             "usherd: unable to take the pidfile %s: No such file or "
             "directory\n",
             d->pidfile);
    T_EQ_INT(front.exit_code, 1);
    T_EQ_STR(front.err, want);
}

/* --- the pidfile -------------------------------------------------------------- */

static void test_pidfile_holds_pid_under_lock(void)
{
    /* Scenario: usherd -D -p FILE.  Asserted: FILE says "PID\n" and PID, the
     * daemon, holds a write lock on it. */
    struct h_daemon *d = detach_ok(conf_echo);
    char want[32];

    snprintf(want, sizeof(want), "%ld\n", (long)d->pid);
    T_EQ_STR(read_pidfile(d->pidfile), want);
    T_EQ_INT(h_lock_holder(d->pidfile), d->pid);
}

static void test_second_instance_is_refused_at_once(void)
{
    /* Scenario: a foreground usherd -p FILE runs; a second one (another
     * port) is started with the same -p.  Asserted: the second exits 1
     * within a second with exactly "usherd: already running (pid N, FILE)";
     * the first still holds the file. */
    struct h_daemon *first;
    char pidfile[400], want[600], conf[400];
    const char *argv[] = {h_usherd(), "-f", conf, "-p", pidfile, NULL};
    struct h_result r;
    int64_t start;

    snprintf(pidfile, sizeof(pidfile), "%s/usherd.pid", h_tmpdir());
    first = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", "-p", pidfile, NULL);
    snprintf(conf, sizeof(conf), "%s/second.conf", h_tmpdir());
    h_write_file(conf, "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");
    start = h_now_ms();
    h_run(&r, NULL, 0, 5000, argv);
    t_note("refused after %lld ms", (long long)(h_now_ms() - start));
    snprintf(want, sizeof(want), "usherd: already running (pid %ld, %s)\n", (long)first->pid,
             pidfile);
    T_EQ_INT(r.exit_code, 1);
    T_EQ_STR(r.err, want);
    T_ASSERT(h_now_ms() - start < 1000 * (int64_t)t_scale());
    T_EQ_INT(h_lock_holder(pidfile), first->pid);
}

static void take_over(const char *stale)
{
    struct h_daemon *d;
    struct h_result front;
    char pidfile[400], want[32];

    snprintf(pidfile, sizeof(pidfile), "%s/usherd.pid", h_tmpdir());
    h_write_file(pidfile, stale);
    d = h_start_detached(conf_echo, pidfile, &front, "-p", pidfile, NULL);
    T_EQ_INT(front.exit_code, 0);
    T_EQ_STR(front.err, ""); /* silently */
    snprintf(want, sizeof(want), "%ld\n", (long)d->pid);
    T_EQ_STR(read_pidfile(pidfile), want);
    T_EQ_INT(h_lock_holder(pidfile), d->pid);
    h_wait_ready(d);
    T_EQ_INT(h_count_log(d, "warning"), 0);
    T_EQ_INT(h_count_log(d, "error"), 0);
}

static void test_stale_pidfile_of_dead_pid_is_taken_over(void)
{
    /* Scenario: FILE names a pid that has exited, no lock on it; usherd -D
     * -p FILE.  Asserted: it starts (exit 0), silently (no output, no
     * warning or error logged), and FILE now holds its pid, locked. */
    char stale[32];

    snprintf(stale, sizeof(stale), "%ld\n", (long)h_dead_pid());
    take_over(stale);
}

static void test_stale_pidfile_of_unrelated_live_pid_is_taken_over(void)
{
    /* Scenario: FILE names a live process that is not usherd and holds no
     * lock (the test itself).  Asserted: as for a dead pid, the file is
     * taken over silently (and the test, alive, was not signalled). */
    char stale[32];

    snprintf(stale, sizeof(stale), "%ld\n", (long)getpid());
    take_over(stale);
}

static void test_pidfile_removed_on_clean_exit(void)
{
    /* Scenario: usherd -D, then SIGTERM.  Asserted: the daemon exits 0, and
     * its pidfile no longer exists. */
    struct h_daemon *d = detach_ok(conf_echo);

    T_ASSERT(access(d->pidfile, F_OK) == 0);
    T_EQ_INT(h_stop(d), 0);
    if (access(d->pidfile, F_OK) == 0)
        T_FAIL("%s is still there after a clean exit", d->pidfile);
}

static void test_relative_pidfile_removed_on_clean_exit(void)
{
    /* Scenario: usherd -D -p rel.pid, started in the test's directory (the
     * daemon then works in "/"); SIGTERM.  Asserted: exit 0, and the file
     * rel.pid it created in the test's directory is gone, as an absolute
     * one would be. */
    char pidfile[400];
    struct h_result front;
    struct h_daemon *d;

    if (chdir(h_tmpdir()) < 0)
        T_FAIL("chdir: %s", strerror(errno));
    snprintf(pidfile, sizeof(pidfile), "%s/rel.pid", h_tmpdir());
    d = h_start_detached(conf_echo, pidfile, &front, "-p", "rel.pid", NULL);
    T_EQ_INT(front.exit_code, 0);
    T_EQ_INT(h_lock_holder(pidfile), d->pid);
    T_EQ_INT(h_stop(d), 0);
    if (access(pidfile, F_OK) == 0)
        T_FAIL("%s is still there after a clean exit (it says \"%.*s\")", pidfile,
               (int)strcspn(h_read_file(pidfile), "\n"), h_read_file(pidfile));
}

static void test_pidfile_from_config_without_p(void)
{
    /* Scenario: usherd -D with `pidfile = DIR/conf.pid` in [global] and no
     * -p.  Asserted: that file holds the daemon's pid under its lock. */
    struct h_result front;
    struct h_daemon *d = h_start_detached("[global]\nlog = @SYSLOG@\npidfile = @DIR@/conf.pid\n"
                                          "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                                          "@DIR@/conf.pid", &front, NULL);
    char want[32];

    T_EQ_INT(front.exit_code, 0);
    snprintf(want, sizeof(want), "%ld\n", (long)d->pid);
    T_EQ_STR(read_pidfile(d->pidfile), want);
}

static void test_p_overrides_config_pidfile(void)
{
    /* Scenario: `pidfile = DIR/conf.pid` in [global] and -p DIR/opt.pid.
     * Asserted: the daemon uses opt.pid; conf.pid is never created. */
    struct h_result front;
    struct h_daemon *d = h_start_detached("[global]\nlog = @SYSLOG@\npidfile = @DIR@/conf.pid\n"
                                          "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                                          "@DIR@/opt.pid", &front, "-p", "@DIR@/opt.pid", NULL);
    char other[400];

    T_EQ_INT(front.exit_code, 0);
    T_EQ_INT(h_lock_holder(d->pidfile), d->pid);
    snprintf(other, sizeof(other), "%s/conf.pid", d->dir);
    T_ASSERT(access(other, F_OK) < 0);
}

static void test_foreground_takes_no_pidfile_unless_told(void)
{
    /* Scenario: a foreground usherd with neither -p nor `pidfile`.
     * Asserted: it holds no lock at all (/proc/locks names no lock of its
     * pid): no default pidfile is taken in the foreground. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", NULL);
    char *locks = h_read_file("/proc/locks"), *save = NULL;

    for (char *line = strtok_r(locks, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long pid;
        if (sscanf(line, "%*s %*s %*s %*s %ld", &pid) == 1 && pid == d->pid)
            T_FAIL("usherd holds a lock: %s", line);
    }
    free(locks);
}

static const struct t_case cases[] = {
    T_CASE(test_front_returns_once_listeners_are_bound),
    T_CASE(test_detached_daemon_is_session_leader_without_terminal),
    T_CASE(test_detached_daemon_works_in_root_directory),
    T_CASE(test_detached_daemon_takes_umask_from_config),
    T_CASE(test_detached_daemon_default_umask_is_022),
    T_CASE(test_detached_daemon_holds_only_its_own_descriptors),
    T_CASE(test_detached_daemon_logs_to_syslog_under_its_own_pid),
    T_CASE(test_detached_daemon_without_log_key_uses_syslog),
    T_CASE(test_bind_failure_exits_1_with_reason),
    T_CASE(test_bind_failure_is_logged_to_syslog_too),
    T_CASE(test_failed_start_leaves_no_pidfile),
    T_CASE(test_locked_pidfile_exits_1_with_holder),
    T_CASE(test_config_error_exits_2_before_detaching),
    T_CASE(test_pidfile_in_missing_directory_exits_1),
    T_CASE(test_pidfile_holds_pid_under_lock),
    T_CASE(test_second_instance_is_refused_at_once),
    T_CASE(test_stale_pidfile_of_dead_pid_is_taken_over),
    T_CASE(test_stale_pidfile_of_unrelated_live_pid_is_taken_over),
    T_CASE(test_pidfile_removed_on_clean_exit),
    T_CASE(test_relative_pidfile_removed_on_clean_exit),
    T_CASE(test_pidfile_from_config_without_p),
    T_CASE(test_p_overrides_config_pidfile),
    T_CASE(test_foreground_takes_no_pidfile_unless_told),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
