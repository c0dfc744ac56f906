/*
 * Binary upgrade (SPEC 18): `usherd -s upgrade` starts the usherd binary
 * on disk as a new master on the same listening sockets; the old one
 * stops accepting only once the new one is ready, lets its connections
 * and children finish, and exits.  No connection is refused meanwhile;
 * the pidfile and the control socket name the new master; systemd hears
 * MAINPID=; a new binary that cannot start leaves the old one serving.
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
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define CTL_MS   45000 /* bound of -s upgrade: the successor's start, 30 s at most */
#define UPGRADES 5

static const char conf_echo[] = "[global]\npidfile = @DIR@/usherd.pid\nshutdown_timeout = 2s\n"
                                "[echo]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/echo.sock\n"
                                "builtin = echo\n"
                                "[reader]\nlisten = tcp://127.0.0.1:0\n"
                                "exec = /bin/sh -c 'read line; echo \"got $line\"'\n";

static const char *pidfile_of(const struct h_daemon *d)
{
    return h_fmt("%s/usherd.pid", d->dir);
}

/* A daemon whose successors the test does not know by pid: killed at exit through the pidfile. */
static struct h_daemon *start(const char *conf)
{
    struct h_daemon *d = h_start(conf, NULL);

    h_guard_pidfile(pidfile_of(d));
    return d;
}

static void ctl(struct h_result *r, const struct h_daemon *d, const char *command)
{
    const char *argv[] = {h_usherd(), "-s", command, "-p", pidfile_of(d), NULL};

    h_run(r, NULL, 0, CTL_MS, argv);
}

/* -s upgrade, which must succeed: the new master's pid. */
static pid_t upgrade_ok(const struct h_daemon *d, pid_t from)
{
    struct h_result r;
    long a = 0, b = 0;

    ctl(&r, d, "upgrade");
    if (r.exit_code != 0)
        T_FAIL("-s upgrade: exit %d: %s", r.exit_code, r.err);
    T_EQ_INT(sscanf(r.out, "upgraded: pid %ld -> %ld", &a, &b), 2);
    T_EQ_INT(a, from);
    T_ASSERT(b > 0 && b != a);
    return (pid_t)b;
}

/* -s status names `pid`, as the pidfile's lock holder does. */
static void assert_serving(const struct h_daemon *d, pid_t pid)
{
    struct h_result r;

    ctl(&r, d, "status");
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, h_fmt("running (pid %ld)\n", (long)pid));
    T_EQ_INT(h_lock_holder(pidfile_of(d)), pid);
}

/* Has `pid` exited?  A zombie has: whoever inherited it reaps it in its own time. */
static bool exited(pid_t pid)
{
    char *stat = h_read_file(h_fmt("/proc/%ld/stat", (long)pid));
    const char *paren = stat ? strrchr(stat, ')') : NULL;
    bool gone = paren == NULL || paren[1] == '\0' || paren[2] == 'Z' || paren[2] == 'X';

    free(stat);
    return gone;
}

static bool gone_within(pid_t pid, int ms)
{
    int64_t deadline = h_now_ms() + ms * (int64_t)t_scale();

    while (h_now_ms() < deadline) {
        if (exited(pid))
            return true;
        waitpid(pid, NULL, WNOHANG); /* the first master is the test's child */
        usleep(10000);
    }
    return false;
}

/*
 * The load: a process that connects, sends a line, reads it back and
 * closes, without pause, until `stop` has a byte; then writes "OK FAIL
 * FIRST-ERROR" on `result`.
 */
static void run_load(const char *addr, int stop, int result)
{
    unsigned long ok = 0, failed = 0;
    char first[200] = "-", line[300];

    for (;;) {
        struct pollfd pfd = {.fd = stop, .events = POLLIN};
        char buf[16];
        int fd;
        if (poll(&pfd, 1, 0) > 0)
            break;
        if ((fd = h_connect_raw(addr)) < 0) {
            if (failed++ == 0)
                snprintf(first, sizeof(first), "connect:%s", strerror(errno));
            continue;
        }
        h_set_timeout(fd, 5000);
        if (send(fd, "ping\n", 5, MSG_NOSIGNAL) != 5 || recv(fd, buf, 5, MSG_WAITALL) != 5 ||
            memcmp(buf, "ping\n", 5) != 0) {
            if (failed++ == 0)
                snprintf(first, sizeof(first), "exchange:%s", strerror(errno));
        } else {
            ok++;
        }
        close(fd);
    }
    snprintf(line, sizeof(line), "%lu %lu %s", ok, failed, first);
    if (write(result, line, strlen(line)) < 0)
        _exit(2);
    _exit(0);
}

static void test_upgrades_under_load_refuse_nothing(void)
{
    /* Scenario: echo on TCP and a Unix socket; one client process loops
     * connect, "ping\n", read it back, close, without pause, on TCP; the
     * test runs -s upgrade 5 times meanwhile.  Asserted: each exits 0 with
     * "upgraded: pid OLD -> NEW"; -s status and the pidfile then name NEW;
     * each OLD exits; the loop saw zero failures (and some successes);
     * the Unix socket answers after the last upgrade, and is removed at
     * the last master's stop, with the pidfile and the control socket. */
    struct h_daemon *d = start(conf_echo);
    const char *tcp = h_addr(d, "echo", "tcp"), *unix_path = h_fmt("%s/echo.sock", d->dir);
    int stop[2], result[2], fd, status;
    pid_t load, pid = d->pid, next;
    unsigned long ok = 0, failed = 0;
    char line[300] = "", first[200] = "";
    struct h_result r;
    ssize_t n;

    T_ASSERT(pipe(stop) == 0 && pipe(result) == 0);
    if ((load = fork()) == 0) {
        close(stop[1]);
        close(result[0]);
        run_load(tcp, stop[0], result[1]);
    }
    close(stop[0]);
    close(result[1]);
    for (int i = 0; i < UPGRADES; i++) {
        usleep(100000); /* some load before each */
        int64_t t0 = h_now_ms(), t1, t2;
        next = upgrade_ok(d, pid);
        t1 = h_now_ms();
        assert_serving(d, next);
        if (!gone_within(pid, 10000))
            T_FAIL("the old master (pid %ld) still runs after upgrade %d", (long)pid, i + 1);
        t2 = h_now_ms();
        t_note("upgrade %d: answered in %lld ms, the old master gone %lld ms later", i + 1,
               (long long)(t1 - t0), (long long)(t2 - t1));
        pid = next;
    }
    usleep(100000);
    T_ASSERT(write(stop[1], "x", 1) == 1);
    {
        struct pollfd pfd = {.fd = result[0], .events = POLLIN};
        T_ASSERT(poll(&pfd, 1, 10000) == 1);
    }
    n = read(result[0], line, sizeof(line) - 1);
    T_ASSERT(n > 0);
    line[n] = '\0';
    T_ASSERT(waitpid(load, &status, 0) == load);
    T_EQ_INT(sscanf(line, "%lu %lu %199s", &ok, &failed, first), 3);
    t_note("%d upgrades under load: %lu exchanges, %lu failed (first: %s)", UPGRADES, ok, failed,
           first);
    T_EQ_INT(failed, 0);
    T_ASSERT(ok > 0);
    fd = h_connect(h_fmt("unix:%s", unix_path));
    h_echo_roundtrip(fd, "after\n");
    close(fd);
    ctl(&r, d, "stop");
    T_EQ_INT(r.exit_code, 0);
    T_ASSERT(gone_within(pid, 10000));
    T_ASSERT(access(unix_path, F_OK) < 0);
    T_ASSERT(access(pidfile_of(d), F_OK) < 0);
    T_ASSERT(access(h_fmt("%s/usherd.sock", d->dir), F_OK) < 0);
}

static void test_exec_child_of_the_old_master_is_reaped_and_logged(void)
{
    /* Scenario: a connection to an exec service (a shell that reads a line
     * and answers it) is open; -s upgrade; then the client sends its line.
     * Asserted: the program, started by the old master, answers "got
     * hello"; the old master logs its end ("end=exit:0") after it logged
     * that the new one took over, and exits only then. */
    struct h_daemon *d = start(conf_echo);
    int fd = h_connect(h_addr(d, "reader", "tcp"));
    char buf[64];
    pid_t next;
    char *log;

    for (int i = 0; i < 500 && h_children(d->pid, NULL, 0) < 1; i++)
        usleep(10000);
    T_EQ_INT(h_children(d->pid, NULL, 0), 1); /* the program, started */
    next = upgrade_ok(d, d->pid);
    T_ASSERT(h_wait_log(d, h_fmt("upgrade: pid %ld has taken over", (long)next), 5000));
    T_ASSERT(kill(d->pid, 0) == 0); /* it waits for its child */
    h_send_str(fd, "hello\n");
    h_recv_line(fd, buf, sizeof(buf));
    T_EQ_STR(buf, "got hello");
    close(fd);
    T_ASSERT(h_wait_log(d, "usherd: service=reader proto=", 5000));
    log = h_log(d);
    T_ASSERT(strstr(log, "has taken over") < strstr(log, "usherd: service=reader proto="));
    T_ASSERT(strstr(strstr(log, "usherd: service=reader proto="), "end=exit:0") != NULL);
    free(log);
    T_ASSERT(h_wait_exit((struct h_daemon *)d, 5000));
    T_EQ_INT(d->exit_status, 0);
    assert_serving(d, next);
}

static void test_failed_successor_leaves_the_old_master_serving(void)
{
    /* Scenario: the configuration file is broken (an unknown key on line
     * 4) after the start; -s upgrade.  Asserted: exit 1, stderr carries
     * the new binary's "CONF:4: unknown key" and says the old pid goes on
     * serving; -s status, the pidfile and echo are still the old master's;
     * once fixed, -s upgrade succeeds. */
    struct h_daemon *d = start(conf_echo);
    char *text = h_read_file(d->conf_path), *broken;
    struct h_result r;
    int fd;

    broken = h_fmt("[global]\npidfile = %s\nshutdown_timeout = 2s\nbogus = 1\n%s", pidfile_of(d),
                   strstr(text, "[echo]"));
    h_write_file(d->conf_path, broken);
    ctl(&r, d, "upgrade");
    T_EQ_INT(r.exit_code, 1);
    T_EQ_STR(r.out, "");
    T_ASSERT(strstr(r.err, h_fmt("%s:4: unknown key 'bogus'", d->conf_path)) != NULL);
    T_ASSERT(strstr(r.err, h_fmt("pid %ld goes on serving", (long)d->pid)) != NULL);
    assert_serving(d, d->pid);
    fd = h_connect(h_addr(d, "echo", "tcp"));
    h_echo_roundtrip(fd, "still\n");
    close(fd);
    h_write_file(d->conf_path, text);
    upgrade_ok(d, d->pid);
    free(text);
}

static void test_successor_that_cannot_bind_leaves_the_pidfile(void)
{
    /* Scenario: a listen on an address the test holds open is added to the
     * configuration; -s upgrade.  Asserted: exit 1 with "Address already
     * in use"; the pidfile is still there, naming and locked by the old
     * master (the successor took it over before it failed, and must not
     * remove it), which answers -s status and echo. */
    struct h_daemon *d = start(conf_echo);
    char bound[160], *text = h_read_file(d->conf_path);
    int taken = h_listen_socket("tcp://127.0.0.1:0", bound, sizeof(bound));
    struct h_result r;
    int fd;

    h_write_file(d->conf_path, h_fmt("%s[taken]\nlisten = %s\nbuiltin = echo\n", text, bound));
    ctl(&r, d, "upgrade");
    T_EQ_INT(r.exit_code, 1);
    T_ASSERT(strstr(r.err, "Address already in use") != NULL);
    T_ASSERT(access(pidfile_of(d), F_OK) == 0);
    assert_serving(d, d->pid);
    fd = h_connect(h_addr(d, "echo", "tcp"));
    h_echo_roundtrip(fd, "still\n");
    close(fd);
    close(taken);
    free(text);
}

/* Put a new file in the place of the binary `copy` as an install would: renamed over it. */
static void replace_binary(const char *copy, const char *text, mode_t mode)
{
    const char *tmp = h_fmt("%s.new", copy);

    h_write_file(tmp, text);
    T_ASSERT(chmod(tmp, mode) == 0);
    T_ASSERT(rename(tmp, copy) == 0);
}

/* A usherd running from a copy of its binary, as start_copy made it. */
struct copy {
    const char *bin;     /* DIR/usherd-NAME: what replace_binary changes */
    const char *pidfile; /* DIR/NAME.pid */
    const char *sock;    /* DIR/NAME-echo.sock: its echo service */
    const char *control; /* DIR/NAME.sock: its control socket */
    const char *marker;  /* DIR/NAME.started: for the scripts that take its place */
    pid_t pid;
};

/*
 * Copy usherd to DIR/usherd-NAME and start it from there with -f
 * DIR/NAME.conf (echo on DIR/NAME-echo.sock) -p DIR/NAME.pid, its stderr
 * to DIR/NAME.log; killed through the pidfile at the end.
 */
static struct copy start_copy(const char *name)
{
    const char *dir = h_tmpdir(), *conf = h_fmt("%s/%s.conf", dir, name);
    const char *log = h_fmt("%s/%s.log", dir, name);
    struct copy c = {
        .bin = h_fmt("%s/usherd-%s", dir, name),
        .pidfile = h_fmt("%s/%s.pid", dir, name),
        .sock = h_fmt("%s/%s-echo.sock", dir, name),
        .control = h_fmt("%s/%s.sock", dir, name),
        .marker = h_fmt("%s/%s.started", dir, name),
    };

    h_write_file(conf, h_fmt("[echo]\nlisten = unix:%s\nbuiltin = echo\n", c.sock));
    T_ASSERT(system(h_fmt("cp '%s' '%s'", h_usherd(), c.bin)) == 0);
    if ((c.pid = fork()) == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(127);
        execl(c.bin, c.bin, "-f", conf, "-p", c.pidfile, (char *)NULL);
        _exit(127);
    }
    h_guard_pidfile(c.pidfile);
    if (!h_wait_file(log, "usherd: ready", 1, 10000))
        T_FAIL("the copy of usherd did not start: %s", h_read_file(log));
    return c;
}

/* usherd -s COMMAND -p for the copy `c`. */
static void ctl_copy(struct h_result *r, const struct copy *c, const char *command)
{
    const char *argv[] = {h_usherd(), "-s", command, "-p", c->pidfile, NULL};

    h_run(r, NULL, 0, CTL_MS, argv);
}

/* -s upgrade of `c` in a process of its own; its exit status 0 if `check` holds of the result. */
static pid_t upgrade_in_background(const struct copy *c, bool (*check)(const struct h_result *))
{
    pid_t pid = fork();

    if (pid == 0) {
        struct h_result r;
        ctl_copy(&r, c, "upgrade");
        _exit(check(&r) ? 0 : 1);
    }
    T_ASSERT(pid > 0);
    return pid;
}

static void assert_exited_0(pid_t pid)
{
    int status;

    T_ASSERT(waitpid(pid, &status, 0) == pid);
    T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_broken_binary_leaves_the_old_master_serving(void)
{
    /* Scenario: usherd runs from a copy of its binary; the copy is then
     * replaced (rename over it) by a script that exits 3 at once, then by
     * a file that is not executable; -s upgrade each time.  Asserted: exit
     * 1 both times, saying the new usherd "exited before it was ready",
     * then "unable to execute ... Permission denied"; the old master still
     * holds the pidfile and answers -s status; echo still works. */
    struct copy c = start_copy("copy");
    struct h_result r;
    int fd;

    replace_binary(c.bin, "#!/bin/sh\nexit 3\n", 0755);
    ctl_copy(&r, &c, "upgrade");
    T_EQ_INT(r.exit_code, 1);
    T_ASSERT(strstr(r.err, "exited before it was ready") != NULL);
    replace_binary(c.bin, "not a program\n", 0644);
    ctl_copy(&r, &c, "upgrade");
    T_EQ_INT(r.exit_code, 1);
    T_ASSERT(strstr(r.err, h_fmt("unable to execute %s: Permission denied", c.bin)) != NULL);
    ctl_copy(&r, &c, "status");
    T_EQ_STR(r.out, h_fmt("running (pid %ld)\n", (long)c.pid));
    T_EQ_INT(h_lock_holder(c.pidfile), c.pid);
    fd = h_connect(h_fmt("unix:%s", c.sock));
    h_echo_roundtrip(fd, "still\n");
    close(fd);
    kill(c.pid, SIGTERM);
    T_ASSERT(gone_within(c.pid, 10000));
}

static bool told_to_stop(const struct h_result *r)
{
    return r->exit_code == 1 && strstr(r->err, "is told to stop") != NULL;
}

static void test_stop_during_an_upgrade_stops_the_successor_too(void)
{
    /* Scenario: usherd runs from a copy of its binary, replaced by a script
     * that records its pid and then sleeps without ever reporting ready;
     * -s upgrade is started in the background; once the script runs, the
     * old master gets SIGTERM.  Asserted: -s upgrade exits 1 saying the
     * new usherd "is told to stop"; the script is gone (SIGTERM); the old
     * master exits, and nobody holds the pidfile. */
    struct copy c = start_copy("slow");
    pid_t ctl_pid, script;
    char *text;

    replace_binary(c.bin, h_fmt("#!/bin/sh\necho $$ > %s\nexec sleep 30\n", c.marker), 0755);
    ctl_pid = upgrade_in_background(&c, told_to_stop);
    T_ASSERT(h_wait_file(c.marker, "\n", 1, 10000));
    text = h_read_file(c.marker);
    script = (pid_t)strtol(text, NULL, 10);
    free(text);
    T_ASSERT(script > 0);
    kill(c.pid, SIGTERM);
    assert_exited_0(ctl_pid);
    T_ASSERT(gone_within(script, 10000));
    T_ASSERT(gone_within(c.pid, 10000));
    T_EQ_INT(h_lock_holder(c.pidfile), 0);
}

static void test_successor_that_dies_leaves_the_old_master_whole(void)
{
    /* Scenario: usherd runs from a copy of its binary, replaced by a script
     * that puts a dead socket in the place of the control socket (as a
     * successor that renamed its own and then died would), leaves a
     * process behind that holds the report pipe open, and exits 3.
     * Asserted: -s upgrade says at once (not after the 30 s deadline) that
     * the new usherd "exited (status 3)"; -s stats is then answered
     * through the control socket again (the table on stdout: the old
     * master made its socket anew at the name). */
    struct copy c;
    struct h_result r;
    int64_t started;

    h_need("python3", "python3");
    c = start_copy("dies");
    replace_binary(
        c.bin,
        h_fmt("#!/bin/sh\n"
              "python3 -c 'import os, socket, sys; s = socket.socket(socket.AF_UNIX); "
              "s.bind(sys.argv[1] + \".x\"); os.rename(sys.argv[1] + \".x\", sys.argv[1])' "
              "'%s'\n"
              "sleep 5 &\n"
              "exit 3\n",
              c.control),
        0755);
    started = h_now_ms();
    ctl_copy(&r, &c, "upgrade");
    t_note("-s upgrade answered in %lld ms", (long long)(h_now_ms() - started));
    T_EQ_INT(r.exit_code, 1);
    T_ASSERT(strstr(r.err, "exited (status 3)") != NULL);
    T_ASSERT(h_now_ms() - started < 20000);
    ctl_copy(&r, &c, "stats");
    T_EQ_INT(r.exit_code, 0);
    T_ASSERT(strncmp(r.out, "service ", 8) == 0);
}

static bool upgraded(const struct h_result *r)
{
    return r->exit_code == 0;
}

static void test_no_reload_while_an_upgrade_is_under_way(void)
{
    /* Scenario: usherd runs from a copy of its binary, replaced by a script
     * that waits 1 s and then executes the real usherd; -s upgrade in the
     * background; while the script waits, -s reload.  Asserted: the reload
     * exits 1 saying "an upgrade is under way"; the upgrade then succeeds
     * (its successor bound nothing the reload could have taken). */
    struct copy c = start_copy("late");
    struct h_result r;
    pid_t ctl_pid;

    replace_binary(
        c.bin, h_fmt("#!/bin/sh\necho $$ > %s\nsleep 1\nexec '%s' \"$@\"\n", c.marker, h_usherd()),
        0755);
    ctl_pid = upgrade_in_background(&c, upgraded);
    T_ASSERT(h_wait_file(c.marker, "\n", 1, 10000));
    ctl_copy(&r, &c, "reload");
    T_EQ_INT(r.exit_code, 1);
    T_ASSERT(strstr(r.err, "an upgrade is under way") != NULL);
    assert_exited_0(ctl_pid);
}

/* A datagram socket named in $NOTIFY_SOCKET for the daemons this case starts. */
static int notify_socket(void)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    T_ASSERT(fd >= 0);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify.sock", h_tmpdir());
    unlink(sun.sun_path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        T_FAIL("bind %s: %s", sun.sun_path, strerror(errno));
    setenv("NOTIFY_SOCKET", sun.sun_path, 1);
    return fd;
}

static void test_systemd_hears_the_new_mainpid(void)
{
    /* Scenario: NOTIFY_SOCKET names a test socket; usherd starts (READY=1);
     * -s upgrade; then the new master is reloaded.  Asserted: a message
     * "MAINPID=NEW" with READY=1 comes (from the old master, which systemd
     * listens to), and no STOPPING=1 after it; the new master's reload
     * notifications come too (it was handed NOTIFY_SOCKET). */
    int ns = notify_socket();
    struct h_daemon *d = start(conf_echo);
    char buf[4096];
    bool mainpid = false, stopping = false, reloading = false;
    struct h_result r;
    pid_t next;
    ssize_t n;

    unsetenv("NOTIFY_SOCKET");
    while ((n = h_recv_within(ns, buf, sizeof(buf) - 1, 100)) > 0)
        ; /* READY=1 of the start */
    next = upgrade_ok(d, d->pid);
    ctl(&r, d, "reload");
    T_EQ_INT(r.exit_code, 0);
    while ((n = h_recv_within(ns, buf, sizeof(buf) - 1, 1000)) > 0) {
        buf[n] = '\0';
        mainpid |= strstr(buf, h_fmt("MAINPID=%ld\n", (long)next)) != NULL &&
                   strstr(buf, "READY=1") != NULL;
        stopping |= mainpid && strstr(buf, "STOPPING=1") != NULL;
        reloading |= mainpid && strstr(buf, "RELOADING=1") != NULL;
    }
    T_ASSERT(mainpid);
    T_ASSERT(!stopping);
    T_ASSERT(reloading);
    close(ns);
}

static void test_upgrade_with_workers(void)
{
    /* Scenario: workers = 2; -s upgrade twice.  Asserted: each succeeds;
     * echo answers through the new master's workers; the old master and
     * its workers exit (only the new master's 2 workers are its children). */
    struct h_daemon *d = start("[global]\npidfile = @DIR@/usherd.pid\nworkers = 2\n"
                               "shutdown_timeout = 2s\n"
                               "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");
    const char *tcp = h_addr(d, "echo", "tcp");
    pid_t pid = d->pid;

    for (int i = 0; i < 2; i++) {
        pid_t next = upgrade_ok(d, pid);
        T_ASSERT(gone_within(pid, 10000));
        pid = next;
        for (int j = 0; j < 4; j++) {
            int fd = h_connect(tcp);
            h_echo_roundtrip(fd, "w\n");
            close(fd);
        }
    }
    T_EQ_INT(h_children(pid, NULL, 0), 2);
}

static const struct t_case cases[] = {
    T_CASE(test_upgrades_under_load_refuse_nothing),
    T_CASE(test_exec_child_of_the_old_master_is_reaped_and_logged),
    T_CASE(test_failed_successor_leaves_the_old_master_serving),
    T_CASE(test_successor_that_cannot_bind_leaves_the_pidfile),
    T_CASE(test_broken_binary_leaves_the_old_master_serving),
    T_CASE(test_stop_during_an_upgrade_stops_the_successor_too),
    T_CASE(test_no_reload_while_an_upgrade_is_under_way),
    T_CASE(test_successor_that_dies_leaves_the_old_master_whole),
    T_CASE(test_systemd_hears_the_new_mainpid),
    T_CASE(test_upgrade_with_workers),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
