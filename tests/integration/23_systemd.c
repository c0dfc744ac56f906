/*
 * systemd (SPEC 8.4): sd_notify messages on $NOTIFY_SOCKET (a path or an
 * abstract name) at start, reload and stop; socket activation, through
 * systemd-socket-activate and through a launcher of our own: inherited
 * sockets are matched to `listen` addresses by family, type and address
 * and served instead of binding; one that matches nothing is a start-up
 * error naming it; sockets meant for another pid are left alone.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* --- sd_notify ----------------------------------------------------------------- */

/* A datagram socket for usherd's notifications, named in $NOTIFY_SOCKET for
 * the processes this case starts: DIR/notify.sock, or an abstract name. */
static int notify_socket(bool abstract)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char name[100];
    socklen_t len;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    T_ASSERT(fd >= 0);
    if (abstract) {
        snprintf(name, sizeof(name), "@usher-test-%ld-%lld", (long)getpid(), (long long)h_now_ms());
        memcpy(sun.sun_path + 1, name + 1, strlen(name) - 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
    } else {
        snprintf(name, sizeof(name), "%s/notify.sock", h_tmpdir());
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", name);
        len = sizeof(sun);
    }
    if (bind(fd, (struct sockaddr *)&sun, len) < 0)
        T_FAIL("bind %s: %s", name, strerror(errno));
    setenv("NOTIFY_SOCKET", name, 1);
    return fd;
}

/* The next notification (malloc'd), waiting up to `ms`; fails if none comes. */
static char *next_notify(int fd, int ms)
{
    char buf[4096];
    ssize_t n = h_recv_within(fd, buf, sizeof(buf) - 1, ms);

    if (n < 0)
        T_FAIL("no notification within %d ms", ms * (int)t_scale());
    buf[n] = '\0';
    return strdup(buf);
}

static int64_t monotonic_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void test_ready_is_sent_once_serving(void)
{
    /* Scenario: NOTIFY_SOCKET names a test socket; usherd starts (echo on a
     * fixed TCP port and a Unix socket).  Asserted: the first notification
     * is exactly "READY=1\nSTATUS=serving", and at that moment both
     * listeners take a connection at the first attempt. */
    int nfd = notify_socket(false);
    int port = h_free_port("tcp"), fd;
    char conf[512], addr[400];
    struct h_daemon *d;

    snprintf(conf, sizeof(conf),
             "[echo]\nlisten = tcp://127.0.0.1:%d unix:@DIR@/echo.sock\nbuiltin = echo\n", port);
    d = h_spawn(conf, NULL);
    T_EQ_STR(next_notify(nfd, 10000), "READY=1\nSTATUS=serving");
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", port);
    if ((fd = h_connect_raw(addr)) < 0)
        T_FAIL("connect %s after READY=1: %s", addr, strerror(errno));
    h_echo_roundtrip(fd, "ready");
    close(fd);
    snprintf(addr, sizeof(addr), "unix:%s/echo.sock", d->dir);
    if ((fd = h_connect_raw(addr)) < 0)
        T_FAIL("connect %s after READY=1: %s", addr, strerror(errno));
    close(fd);
}

static void test_abstract_notify_socket_is_used(void)
{
    /* Scenario: NOTIFY_SOCKET="@name", an abstract socket.  Asserted: the
     * READY=1 notification arrives there. */
    int nfd = notify_socket(true);

    h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", NULL);
    T_EQ_STR(next_notify(nfd, 10000), "READY=1\nSTATUS=serving");
}

static void test_reload_sends_reloading_then_ready(void)
{
    /* Scenario: after READY=1, SIGHUP.  Asserted: "RELOADING=1\n
     * MONOTONIC_USEC=N" with N on CLOCK_MONOTONIC between the signal and
     * its receipt, then "READY=1\nSTATUS=serving"; the reload is done. */
    int nfd = notify_socket(false);
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", NULL);
    int64_t before, after;
    long long usec;
    char *msg;

    T_EQ_STR(next_notify(nfd, 10000), "READY=1\nSTATUS=serving");
    before = monotonic_usec();
    h_kill(d, SIGHUP);
    msg = next_notify(nfd, 5000);
    after = monotonic_usec();
    if (sscanf(msg, "RELOADING=1\nMONOTONIC_USEC=%lld", &usec) != 1)
        T_FAIL("not a RELOADING=1 message: \"%s\"", msg);
    t_note("MONOTONIC_USEC %lld us after the signal", usec - (long long)before);
    T_ASSERT(usec >= before && usec <= after);
    T_EQ_STR(next_notify(nfd, 5000), "READY=1\nSTATUS=serving");
    T_ASSERT(h_wait_log(d, "usherd: reloaded ", 2000));
}

static void test_failed_reload_still_ends_with_ready(void)
{
    /* Scenario: after READY=1, the file is broken, SIGHUP.  Asserted:
     * RELOADING=1 then READY=1 all the same (the old configuration serves;
     * systemd must not wait for the reload forever). */
    int nfd = notify_socket(false);
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", NULL);
    char *msg;

    T_EQ_STR(next_notify(nfd, 10000), "READY=1\nSTATUS=serving");
    h_write_file(d->conf_path, "[echo]\nbogus = 1\n");
    h_kill(d, SIGHUP);
    msg = next_notify(nfd, 5000);
    T_ASSERT(strncmp(msg, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
    T_EQ_STR(next_notify(nfd, 5000), "READY=1\nSTATUS=serving");
    T_ASSERT(h_wait_log(d, "reload failed", 2000));
}

static void test_stop_sends_stopping(void)
{
    /* Scenario: after READY=1, SIGTERM.  Asserted: "STOPPING=1" arrives,
     * then usherd exits 0, with nothing more sent. */
    int nfd = notify_socket(false);
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", NULL);
    char buf[256];

    T_EQ_STR(next_notify(nfd, 10000), "READY=1\nSTATUS=serving");
    h_kill(d, SIGTERM);
    T_EQ_STR(next_notify(nfd, 5000), "STOPPING=1");
    T_ASSERT(h_wait_exit(d, 5000));
    T_EQ_INT(d->exit_status, 0);
    T_EQ_INT(h_recv_within(nfd, buf, sizeof(buf), 100), -1);
}

/* --- socket activation ------------------------------------------------------------ */

/* "socket:[INODE]" of a socket we hold. */
static void socket_link(int fd, char *buf, size_t cap)
{
    struct stat st;

    T_ASSERT(fstat(fd, &st) == 0);
    snprintf(buf, cap, "socket:[%lu]", (unsigned long)st.st_ino);
}

/* Assert that usherd's descriptor `n` is the socket `fd` of ours. */
static void same_socket(const struct h_daemon *d, int n, int fd)
{
    char want[64], got[128];

    socket_link(fd, want, sizeof(want));
    if (!h_fd_link(d->pid, n, got, sizeof(got)))
        T_FAIL("usherd has no fd %d", n);
    T_EQ_STR(got, want);
}

static void test_systemd_socket_activate_passes_its_listener(void)
{
    /* Scenario: `systemd-socket-activate -l 127.0.0.1:P usherd -f CONF`
     * with CONF listening on tcp://127.0.0.1:P; the first connection (which
     * makes it start usherd) sends "hello".  Asserted: that connection is
     * echoed (usherd serves the socket the kernel queued it on); usherd
     * logs "listening service=echo addr=tcp://127.0.0.1:P"; its fd 3 is
     * the socket listening on P (the inode in /proc/net/tcp). */
    static const char *const names[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS"};
    const char *wrapper[16];
    char conf[256], where[64], addr[80], want[160], link[128];
    int port = h_free_port("tcp"), n = 0, fd = -1;
    struct h_daemon *d;
    int64_t until;

    h_need("systemd-socket-activate", "systemd");
    snprintf(where, sizeof(where), "127.0.0.1:%d", port);
    snprintf(conf, sizeof(conf), "[echo]\nlisten = tcp://%s\nbuiltin = echo\n", where);
    wrapper[n++] = "systemd-socket-activate";
    wrapper[n++] = "-l";
    wrapper[n++] = where;
    for (size_t i = 0; i < ARRAY_LEN(names); i++) /* it passes on no environment but these */
        if (getenv(names[i]) != NULL) {
            wrapper[n++] = "-E";
            wrapper[n++] = names[i];
        }
    wrapper[n] = NULL;
    d = h_spawn_wrapped(conf, wrapper);
    snprintf(addr, sizeof(addr), "tcp://%s", where);
    for (until = h_now_ms() + 5000 * (int64_t)t_scale(); fd < 0; usleep(5000)) {
        fd = h_connect_raw(addr);
        if (fd < 0 && h_now_ms() > until)
            T_FAIL("nothing listens on %s after 5 s:\n%s", addr, h_log(d));
    }
    h_echo_roundtrip(fd, "hello");
    close(fd);
    h_wait_ready(d);
    snprintf(want, sizeof(want), "usherd: listening service=echo addr=%s", addr);
    T_EQ_STR(h_log_line(d, "listening service="), want);
    T_EQ_INT(h_count_log(d, "listening service="), 1);
    T_ASSERT(h_fd_link(d->pid, 3, link, sizeof(link)));
    snprintf(want, sizeof(want), "socket:[%lu]", h_tcp_listen_inode(port));
    T_EQ_STR(link, want);
    t_note("usherd fd 3 is %s, the socket listening on port %d", link, port);
}

static void test_inherited_sockets_are_matched_by_address(void)
{
    /* Scenario: a launcher passes three sockets, fds 3, 4, 5 (LISTEN_FDS=3,
     * LISTEN_FDNAMES=web:dns:local): TCP and UDP on 127.0.0.1 and a Unix
     * stream socket; the configuration lists them in another order (Unix,
     * UDP, TCP) across two services.  Asserted: usherd's fds 3, 4, 5 are
     * those very sockets (their inodes), each logged as listening, each
     * served; the test still holding them, a bind of its own could not
     * have worked. */
    char tcp[160], udp[160], unix_addr[400], conf[1024], buf[16];
    int fds[3], fd;
    struct h_daemon *d;

    snprintf(unix_addr, sizeof(unix_addr), "unix:%s/local.sock", h_tmpdir());
    fds[0] = h_listen_socket("tcp://127.0.0.1:0", tcp, sizeof(tcp));
    fds[1] = h_listen_socket("udp://127.0.0.1:0", udp, sizeof(udp));
    fds[2] = h_listen_socket(unix_addr, NULL, 0);
    snprintf(conf, sizeof(conf),
             "[local]\nlisten = %s\nbuiltin = echo\n[echo]\nlisten = %s %s\nbuiltin = echo\n",
             unix_addr, udp, tcp);
    d = h_wait_ready(h_spawn_activated(conf, fds, 3, "web:dns:local", 0));
    for (int i = 0; i < 3; i++)
        same_socket(d, 3 + i, fds[i]);
    T_EQ_STR(h_addr(d, "echo", "tcp://"), tcp);
    T_EQ_STR(h_addr(d, "echo", "udp://"), udp);
    T_EQ_STR(h_addr(d, "local", "unix:"), unix_addr);
    fd = h_connect(tcp);
    h_echo_roundtrip(fd, "tcp");
    close(fd);
    fd = h_connect(unix_addr);
    h_echo_roundtrip(fd, "unix");
    close(fd);
    T_EQ_INT(h_dgram_exchange(udp, "udp", 3, buf, sizeof(buf), 2000), 3);
}

static void test_wildcard_listen_adopts_any_address_socket(void)
{
    /* Scenario: the launcher passes a TCP socket bound to [::]:P (what
     * systemd makes of ListenStream=P); the configuration listens on the
     * wildcard host "*", port P.  Asserted: usherd serves that socket (its
     * fd 3), over IPv4 too. */
    char bound[160], conf[256], addr[64];
    struct h_daemon *d;
    int fds[1], fd;

    {
        int probe = socket(AF_INET6, SOCK_STREAM, 0);
        if (probe < 0)
            t_skip("no IPv6 here: %s", strerror(errno));
        close(probe);
    }
    fds[0] = h_listen_socket("tcp://[::]:0", bound, sizeof(bound));
    snprintf(conf, sizeof(conf), "[echo]\nlisten = tcp://*:%d\nbuiltin = echo\n", h_port(bound));
    d = h_wait_ready(h_spawn_activated(conf, fds, 1, NULL, 0));
    same_socket(d, 3, fds[0]);
    snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", h_port(bound));
    fd = h_connect(addr);
    h_echo_roundtrip(fd, "v4 via [::]");
    close(fd);
}

static void test_unmatched_inherited_socket_is_a_startup_error(void)
{
    /* Scenario: the launcher passes a TCP socket on 127.0.0.1:Q (named
     * "web") while the configuration listens on tcp://127.0.0.1:0 only.
     * Asserted: usherd exits 1 saying "usherd: inherited sockets match no
     * listen address: fd 3 tcp://127.0.0.1:Q name=web". */
    char bound[160], want[300];
    int fds[1];
    struct h_daemon *d;

    fds[0] = h_listen_socket("tcp://127.0.0.1:0", bound, sizeof(bound));
    d = h_spawn_activated("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", fds, 1, "web", 0);
    if (!h_wait_exit(d, 10000))
        T_FAIL("usherd still runs with an unmatched inherited socket");
    T_EQ_INT(d->exit_status, 1);
    snprintf(want, sizeof(want),
             "usherd: inherited sockets match no listen address: fd 3 %s name=web\n", bound);
    T_CONTAINS(h_log(d), want);
    T_EQ_INT(h_count_log(d, "usherd: ready"), 0);
}

static void run_with_listen_fds(const char *fds_value, struct h_result *r)
{
    char *conf = h_fmt("%s/usherd.conf", h_tmpdir());
    char *script =
        h_fmt("LISTEN_PID=$$ LISTEN_FDS='%s' exec '%s' -f '%s'", fds_value, h_usherd(), conf);
    const char *argv[] = {"/bin/sh", "-c", script, NULL};

    h_write_file(conf, "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");
    h_run(r, NULL, 0, 5000, argv);
}

static void test_listen_fds_beyond_open_descriptors_is_said_so(void)
{
    /* Scenario: LISTEN_PID is usherd's pid and LISTEN_FDS=1000, but no
     * descriptor from 3 on is open.  Asserted: exit 1 with "LISTEN_FDS=1000:
     * the descriptors from 3 on that it counts are not all open" (it is a
     * number; it used to be reported as not one). */
    struct h_result r;

    run_with_listen_fds("1000", &r);
    T_EQ_INT(r.exit_code, 1);
    T_CONTAINS(r.err, "usherd: LISTEN_FDS=1000: the descriptors from 3 on that it counts are "
                      "not all open");
    h_result_free(&r);
}

static void test_listen_fds_not_a_number_names_the_range(void)
{
    /* Scenario: LISTEN_FDS=5000 (above the limit) and LISTEN_FDS=x.
     * Asserted: exit 1 with "LISTEN_PID and LISTEN_FDS must be numbers: a
     * pid, and 0 to 4096 sockets". */
    static const char *const values[] = {"5000", "x", "-1"};
    struct h_result r;

    for (size_t i = 0; i < ARRAY_LEN(values); i++) {
        run_with_listen_fds(values[i], &r);
        T_EQ_INT(r.exit_code, 1);
        T_CONTAINS(r.err,
                   "LISTEN_PID and LISTEN_FDS must be numbers: a pid, and 0 to 4096 sockets");
        h_result_free(&r);
    }
}

static void test_sockets_for_another_pid_are_left_alone(void)
{
    /* Scenario: the launcher passes a TCP socket on Q, but LISTEN_PID names
     * another process (1); the configuration listens on 127.0.0.1:0 only.
     * Asserted: usherd starts without complaint
     * (the sockets were not for it), binds its own listener and serves. */
    char bound[160];
    int fds[1], fd;
    struct h_daemon *d;

    fds[0] = h_listen_socket("tcp://127.0.0.1:0", bound, sizeof(bound));
    d = h_wait_ready(h_spawn_activated("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", fds,
                                       1, "web", 1));
    T_ASSERT(strcmp(h_addr(d, "echo", "tcp://"), bound) != 0);
    T_EQ_INT(h_count_log(d, "inherited"), 0);
    fd = h_connect(h_addr(d, "echo", "tcp://"));
    h_echo_roundtrip(fd, "own socket");
    close(fd);
}

static void test_inherited_listener_is_kept_across_reload(void)
{
    /* Scenario: an activated TCP listener (fd 3); the file gains a second
     * service; SIGHUP.  Asserted: "listeners kept 1, opened 1, closed 0";
     * fd 3 is still the inherited socket, and it still serves. */
    char tcp[160], conf[512];
    int fds[1], fd;
    struct h_daemon *d;

    fds[0] = h_listen_socket("tcp://127.0.0.1:0", tcp, sizeof(tcp));
    snprintf(conf, sizeof(conf), "[echo]\nlisten = %s\nbuiltin = echo\n", tcp);
    d = h_wait_ready(h_spawn_activated(conf, fds, 1, NULL, 0));
    snprintf(conf, sizeof(conf),
             "[echo]\nlisten = %s\nbuiltin = echo\n[more]\nlisten = tcp://127.0.0.1:0\n"
             "builtin = echo\n",
             tcp);
    h_write_file(d->conf_path, conf);
    h_kill(d, SIGHUP);
    if (!h_wait_log(d, "usherd: reloaded ", 5000))
        T_FAIL("no reload:\n%s", h_log(d));
    T_CONTAINS(h_log_line(d, "usherd: reloaded "), "; listeners kept 1, opened 1, closed 0");
    same_socket(d, 3, fds[0]);
    fd = h_connect(tcp);
    h_echo_roundtrip(fd, "kept");
    close(fd);
}

static const struct t_case cases[] = {
    T_CASE(test_ready_is_sent_once_serving),
    T_CASE(test_abstract_notify_socket_is_used),
    T_CASE(test_reload_sends_reloading_then_ready),
    T_CASE(test_failed_reload_still_ends_with_ready),
    T_CASE(test_stop_sends_stopping),
    T_CASE(test_systemd_socket_activate_passes_its_listener),
    T_CASE(test_inherited_sockets_are_matched_by_address),
    T_CASE(test_wildcard_listen_adopts_any_address_socket),
    T_CASE(test_unmatched_inherited_socket_is_a_startup_error),
    T_CASE(test_listen_fds_beyond_open_descriptors_is_said_so),
    T_CASE(test_listen_fds_not_a_number_names_the_range),
    T_CASE(test_sockets_for_another_pid_are_left_alone),
    T_CASE(test_inherited_listener_is_kept_across_reload),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
