/*
 * Listeners (SPEC 3.2, 11): binding failures, the "*" wildcard, host names,
 * and Unix socket files: stale ones replaced, live ones and other files
 * refused, removal at stop, mode/owner/group.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A socket of `type` bound to 127.0.0.1 on a free port (listening if a stream). */
static int hold_port(int type, int *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        (type == SOCK_STREAM && listen(fd, 8) < 0) ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        T_FAIL("holding a port: %s", strerror(errno));
    *port = ntohs(sin.sin_port);
    return fd;
}

/* A Unix socket of `type` bound at `path`; listening if `listening`. */
static int unix_socket_at(const char *path, int type, bool listening)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        (listening && type == SOCK_STREAM && listen(fd, 8) < 0))
        T_FAIL("unix socket at %s: %s", path, strerror(errno));
    return fd;
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static bool is_socket(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* An echo round trip of "ping" over a stream or datagram address. */
static void ping(const char *addr)
{
    char buf[8];

    if (strncmp(addr, "udp:", 4) == 0 || strncmp(addr, "unixgram:", 9) == 0) {
        if (h_dgram_exchange(addr, "ping", 4, buf, sizeof(buf), 2000) != 4 ||
            memcmp(buf, "ping", 4) != 0)
            T_FAIL("%s: no echo of a datagram", addr);
        return;
    }
    int fd = h_connect(addr);
    h_send_str(fd, "ping");
    h_recv_exact(fd, buf, 4);
    if (memcmp(buf, "ping", 4) != 0)
        T_FAIL("%s: wrong echo", addr);
    close(fd);
}

/* --- binding failures ------------------------------------------------------ */

static void test_tcp_port_in_use_exits_1(void)
{
    /* Scenario: a TCP port we hold, listened on by a service configured after
     * one with a Unix stream and a Unix datagram socket.  Asserted: exit 1,
     * "usherd: unable to bind tcp://127.0.0.1:PORT: Address already in
     * use", no "ready", and the socket files opened before the failure are
     * gone again. */
    int port, held = hold_port(SOCK_STREAM, &port);
    char conf[2048], want[128], a[100], b[100], *out;

    snprintf(a, sizeof(a), "%s/first.sock", h_tmpdir());
    snprintf(b, sizeof(b), "%s/first.dgram", h_tmpdir());
    snprintf(conf, sizeof(conf),
             "[first]\nlisten = unix:%s unixgram:%s\nbuiltin = echo\n"
             "[second]\nlisten = tcp://127.0.0.1:%d\nbuiltin = echo\n",
             a, b, port);
    T_EQ_INT(h_usherd_run(conf, &out, NULL), 1);
    snprintf(want, sizeof(want),
             "usherd: unable to bind tcp://127.0.0.1:%d: Address already in use\n", port);
    T_CONTAINS(out, want);
    if (strstr(out, "usherd: ready") != NULL)
        T_FAIL("usherd said ready:\n%s", out);
    if (exists(a) || exists(b))
        T_FAIL("a socket file was left behind (%s: %d, %s: %d)", a, exists(a), b, exists(b));
    close(held);
}

static void test_udp_port_in_use_exits_1(void)
{
    /* Scenario: a UDP port we hold.  Asserted: exit 1 and "usherd: error:
     * unable to bind udp://127.0.0.1:PORT: Address already in use". */
    int port, held = hold_port(SOCK_DGRAM, &port);
    char conf[256], want[128], *out;

    snprintf(conf, sizeof(conf), "[e]\nlisten = udp://127.0.0.1:%d\nbuiltin = echo\n", port);
    T_EQ_INT(h_usherd_run(conf, &out, NULL), 1);
    snprintf(want, sizeof(want),
             "usherd: unable to bind udp://127.0.0.1:%d: Address already in use\n", port);
    T_CONTAINS(out, want);
    close(held);
}

/* --- addresses ------------------------------------------------------------- */

static void test_listening_lines_name_each_address(void)
{
    /* Scenario: echo on TCP 127.0.0.1:0, [::1]:0, UDP 127.0.0.1:0 and a Unix
     * socket.  Asserted: one "listening service=echo addr=..." line each,
     * with the kernel's port (not 0) in the logged form, the path as given,
     * then "ready: 1 services, 4 listeners"; each address answers. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0 tcp://[::1]:0 "
                                 "udp://127.0.0.1:0 unix:@DIR@/e.sock\nbuiltin = echo\n",
                                 NULL);
    char want[512];

    T_EQ_INT(d->nlistens, 4);
    T_ASSERT(h_port(h_addr(d, "echo", "tcp://127.0.0.1:")) > 0);
    T_ASSERT(h_port(h_addr(d, "echo", "tcp://[::1]:")) > 0);
    T_ASSERT(h_port(h_addr(d, "echo", "udp://127.0.0.1:")) > 0);
    snprintf(want, sizeof(want), "unix:%s/e.sock", d->dir);
    T_EQ_STR(h_addr(d, "echo", "unix:"), want);
    T_EQ_INT(h_count_log(d, "usherd: ready: 1 services, 4 listeners\n"), 1);
    for (int i = 0; i < d->nlistens; i++)
        ping(d->listens[i].addr);
}

static void test_wildcard_serves_ipv4_and_ipv6(void)
{
    /* Scenario: echo on TCP and UDP "*" port 0.  Asserted: they are logged
     * with "*" as host and the bound port, and answer over 127.0.0.1 and ::1
     * alike (the UDP reply comes from the address the request went to, or a
     * connected client socket would not take it). */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://*:0 udp://*:0\nbuiltin = echo\n", NULL);
    static const char *const kinds[] = {"tcp", "udp"};

    for (size_t k = 0; k < ARRAY_LEN(kinds); k++) {
        char prefix[16], addr[64];
        int port;
        snprintf(prefix, sizeof(prefix), "%s://*:", kinds[k]);
        port = h_port(h_addr(d, "echo", prefix));
        T_ASSERT(port > 0);
        snprintf(addr, sizeof(addr), "%s://127.0.0.1:%d", kinds[k], port);
        ping(addr);
        snprintf(addr, sizeof(addr), "%s://[::1]:%d", kinds[k], port);
        ping(addr);
    }
}

static void test_host_name_is_resolved(void)
{
    /* Scenario: echo on tcp://localhost:0 and udp://localhost:0.  Asserted:
     * "localhost" is resolved at load: the listeners are logged with
     * addresses (127.0.0.1 among them), and each answers. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://localhost:0 udp://localhost:0\n"
                                 "builtin = echo\n",
                                 NULL);

    T_ASSERT(h_port(h_addr(d, "echo", "tcp://127.0.0.1:")) > 0);
    T_ASSERT(h_port(h_addr(d, "echo", "udp://127.0.0.1:")) > 0);
    for (int i = 0; i < d->nlistens; i++) {
        T_ASSERT(strstr(d->listens[i].addr, "localhost") == NULL);
        ping(d->listens[i].addr);
    }
}

/* --- Unix socket files ----------------------------------------------------- */

static void test_stale_socket_file_is_replaced(void)
{
    /* Scenario: socket files left at the paths by a process that is gone (a
     * stream and a datagram socket, bound and closed).  Asserted: usherd
     * starts, replaces them, and answers on both. */
    char sock[100], dgram[100], conf[1200];
    struct h_daemon *d;

    snprintf(sock, sizeof(sock), "%s/stale.sock", h_tmpdir());
    snprintf(dgram, sizeof(dgram), "%s/stale.dgram", h_tmpdir());
    close(unix_socket_at(sock, SOCK_STREAM, true));
    close(unix_socket_at(dgram, SOCK_DGRAM, false));
    T_ASSERT(is_socket(sock) && is_socket(dgram));
    snprintf(conf, sizeof(conf), "[echo]\nlisten = unix:%s unixgram:%s\nbuiltin = echo\n", sock,
             dgram);
    d = h_start(conf, NULL);
    ping(h_addr(d, "echo", "unix:"));
    ping(h_addr(d, "echo", "unixgram:"));
}

static void test_live_socket_is_refused(void)
{
    /* Scenario: a server of ours listens on the Unix stream path, and another
     * is bound on the Unix datagram path.  Asserted: usherd exits 1 with a
     * message naming the path, and leaves our sockets alone (the files stay,
     * and ours still takes connections). */
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};

    for (size_t i = 0; i < ARRAY_LEN(types); i++) {
        char path[100], conf[700], *out;
        int ours, client;
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(path, sizeof(path), "%s/live%zu", h_tmpdir(), i);
        ours = unix_socket_at(path, types[i], true);
        snprintf(conf, sizeof(conf), "[echo]\nlisten = %s:%s\nbuiltin = echo\n",
                 types[i] == SOCK_STREAM ? "unix" : "unixgram", path);
        T_EQ_INT(h_usherd_run(conf, &out, NULL), 1);
        T_CONTAINS(out, path);
        if (!is_socket(path))
            T_FAIL("usherd removed the live socket %s", path);
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
        client = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
        if (connect(client, (struct sockaddr *)&sun, sizeof(sun)) < 0)
            T_FAIL("our socket at %s no longer answers: %s", path, strerror(errno));
        close(client);
        close(ours);
    }
}

static void test_regular_file_is_refused_and_untouched(void)
{
    /* Scenario: a regular file holding data where the Unix socket should go.
     * Asserted: exit 1, a message naming the path, and the file is still
     * there with its content. */
    char path[100], conf[700], *out, buf[64] = {0};
    FILE *f;

    snprintf(path, sizeof(path), "%s/precious.txt", h_tmpdir());
    h_write_file(path, "precious data\n");
    snprintf(conf, sizeof(conf), "[echo]\nlisten = unix:%s\nbuiltin = echo\n", path);
    T_EQ_INT(h_usherd_run(conf, &out, NULL), 1);
    T_CONTAINS(out, path);
    f = fopen(path, "r");
    if (f == NULL)
        T_FAIL("%s is gone", path);
    if (fgets(buf, sizeof(buf), f) == NULL)
        buf[0] = '\0';
    fclose(f);
    T_EQ_STR(buf, "precious data\n");
}

static void test_socket_files_removed_on_stop(void)
{
    /* Scenario: echo on a Unix stream and a Unix datagram socket; SIGTERM.
     * Asserted: both files are sockets while usherd runs; after a clean exit
     * (status 0) both are gone. */
    struct h_daemon *d = h_start("[echo]\nlisten = unix:@DIR@/s.sock unixgram:@DIR@/s.dgram\n"
                                 "builtin = echo\n",
                                 NULL);
    const char *sock = h_addr(d, "echo", "unix:") + strlen("unix:");
    const char *dgram = h_addr(d, "echo", "unixgram:") + strlen("unixgram:");

    T_ASSERT(is_socket(sock));
    T_ASSERT(is_socket(dgram));
    T_EQ_INT(h_stop(d), 0);
    if (exists(sock) || exists(dgram))
        T_FAIL("left behind after stop: %s %s", exists(sock) ? sock : "",
               exists(dgram) ? dgram : "");
}

static void check_perms(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        T_FAIL("stat %s: %s", path, strerror(errno));
    if ((st.st_mode & 07777) != mode || st.st_uid != uid || st.st_gid != gid)
        T_FAIL("%s: mode %04o uid %u gid %u, want %04o %u %u", path, (unsigned)(st.st_mode & 07777),
               (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)mode, (unsigned)uid,
               (unsigned)gid);
}

static void test_socket_mode_owner_group_applied(void)
{
    /* Scenario: [a] with mode 0600, owner daemon, group daemon (uid/gid 1);
     * [b] with mode 0666 (wider than our umask 022 lets through) and numeric
     * owner/group 65534; each on a Unix stream and a datagram socket.
     * Asserted: the socket files have exactly those modes and owners. */
    struct h_daemon *d;
    char path[512];

    umask(022);
    d = h_start("[a]\nlisten = unix:@DIR@/a.sock unixgram:@DIR@/a.dgram\nbuiltin = echo\n"
                "mode = 0600\nowner = daemon\ngroup = daemon\n"
                "[b]\nlisten = unix:@DIR@/b.sock unixgram:@DIR@/b.dgram\nbuiltin = echo\n"
                "mode = 0666\nowner = 65534\ngroup = 65534\n",
                NULL);
    snprintf(path, sizeof(path), "%s/a.sock", d->dir);
    check_perms(path, 0600, 1, 1);
    snprintf(path, sizeof(path), "%s/a.dgram", d->dir);
    check_perms(path, 0600, 1, 1);
    snprintf(path, sizeof(path), "%s/b.sock", d->dir);
    check_perms(path, 0666, 65534, 65534);
    snprintf(path, sizeof(path), "%s/b.dgram", d->dir);
    check_perms(path, 0666, 65534, 65534);
    ping(h_addr(d, "a", "unix:"));
    ping(h_addr(d, "b", "unixgram:"));
}

static const struct t_case cases[] = {
    T_CASE(test_tcp_port_in_use_exits_1),
    T_CASE(test_udp_port_in_use_exits_1),
    T_CASE(test_listening_lines_name_each_address),
    T_CASE(test_wildcard_serves_ipv4_and_ipv6),
    T_CASE(test_host_name_is_resolved),
    T_CASE(test_stale_socket_file_is_replaced),
    T_CASE(test_live_socket_is_refused),
    T_CASE(test_regular_file_is_refused_and_untouched),
    T_CASE(test_socket_files_removed_on_stop),
    T_CASE(test_socket_mode_owner_group_applied),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
