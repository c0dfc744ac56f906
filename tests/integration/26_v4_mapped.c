/*
 * IPv4 peers on dual-stack listeners (SPEC 5, 7): on tcp wildcard and udp wildcard
 * an IPv4 client arrives as ::ffff:a.b.c.d.  usherd must see it as the IPv4
 * address it is, on every path: access rules, per-address limits, the UDP
 * loop rule, an exec program's environment, and the log.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* An IPv4 UDP socket on `host` (a loopback address), on `port` (0: any). */
static int udp4_socket_on(const char *host, int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    T_EQ_INT(inet_pton(AF_INET, host, &sin.sin_addr), 1);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        T_FAIL("binding %s:%d: %s", host, port, strerror(errno));
    return fd;
}

static int udp4_socket(int port)
{
    return udp4_socket_on("127.0.0.1", port);
}

static int local_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    T_EQ_INT(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}

/* Send "ping" from `fd` to 127.0.0.1:port; was there an answer within `ms`? */
static bool answered(int fd, int port, int ms)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char buf[64];

    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sendto(fd, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to)) != 4)
        T_FAIL("sendto: %s", strerror(errno));
    if (poll(&pfd, 1, ms) <= 0)
        return false;
    return recv(fd, buf, sizeof(buf), 0) > 0;
}

static struct h_daemon *start_udp(const char *keys)
{
    return h_start(h_fmt("[echo]\nlisten = udp://*:0\nbuiltin = echo\n%s", keys), NULL);
}

static void test_udp_deny_applies_to_ipv4_peer(void)
{
    /* Scenario: echo on udp wildcard, deny = 127.0.0.1; a datagram from
     * 127.0.0.1.  Asserted: no answer, and the refusal is logged with
     * peer=127.0.0.1:PORT end=denied (not ::ffff:127.0.0.1). */
    struct h_daemon *d = start_udp("deny = 127.0.0.1\n");
    int fd = udp4_socket(0);

    T_ASSERT(!answered(fd, h_port(d->listens[0].addr), 300));
    T_ASSERT(h_wait_log(d, h_fmt("peer=127.0.0.1:%d", local_port(fd)), 2000));
    T_CONTAINS(h_wait_conn_line(d, "echo", "end=denied", 2000), "peer=127.0.0.1:");
    close(fd);
}

static void test_udp_ipv4_allow_rule_admits_ipv4_peer(void)
{
    /* Scenario: udp wildcard, allow = 127.0.0.0/8 (an IPv4 rule only).
     * Asserted: a datagram from 127.0.0.1 is answered. */
    struct h_daemon *d = start_udp("allow = 127.0.0.0/8\n");
    int fd = udp4_socket(0);

    T_ASSERT(answered(fd, h_port(d->listens[0].addr), 2000));
    close(fd);
}

static void test_udp_rate_per_ip_counts_ipv4_peer(void)
{
    /* Scenario: udp wildcard, rate_per_ip = 1/m; datagrams from 127.0.0.1
     * (twice, from two ports) and from 127.0.0.2.  Asserted: the first is
     * answered, the second is not (logged end=refused:rate_per_ip with
     * peer=127.0.0.1), and 127.0.0.2 has a bucket of its own: answered (a
     * mapped address would put every IPv4 peer in the one /64 ::ffff:0:0). */
    struct h_daemon *d = start_udp("rate_per_ip = 1/m\n");
    int a = udp4_socket(0), b = udp4_socket(0), other = udp4_socket_on("127.0.0.2", 0);
    int port = h_port(d->listens[0].addr);

    T_ASSERT(answered(a, port, 2000));
    T_ASSERT(!answered(b, port, 300));
    T_CONTAINS(h_wait_conn_line(d, "echo", "end=refused:rate_per_ip", 2000), "peer=127.0.0.1:");
    T_ASSERT(answered(other, port, 2000));
    close(a);
    close(b);
    close(other);
}

static void test_udp_loop_rule_sees_ipv4_source_port(void)
{
    /* Scenario: a client socket on 127.0.0.1:P, and usherd serving echo on
     * udp wildcard and a second UDP builtin on udp://127.0.0.2:P (so P is a UDP
     * builtin's port).  Asserted: a datagram from 127.0.0.1:P to the
     * wildcard echo is not answered (the loop rule), one from another port
     * is. */
    int loop_fd = udp4_socket(0), other = udp4_socket(0);
    int p = local_port(loop_fd);
    struct h_daemon *d = h_start(h_fmt("[echo]\nlisten = udp://*:0\nbuiltin = echo\n"
                                       "[twin]\nlisten = udp://127.0.0.2:%d\nbuiltin = discard\n",
                                       p),
                                 NULL);
    int port = h_port(h_addr(d, "echo", "udp://"));

    T_ASSERT(!answered(loop_fd, port, 300));
    T_ASSERT(answered(other, port, 2000));
    close(loop_fd);
    close(other);
}

static void test_tcp_deny_and_log_see_ipv4_peer(void)
{
    /* Scenario: echo on tcp wildcard, deny = 127.0.0.1; a connection from
     * 127.0.0.1.  Asserted: closed at once, logged end=denied with
     * peer=127.0.0.1. */
    struct h_daemon *d =
        h_start("[echo]\nlisten = tcp://*:0\nbuiltin = echo\ndeny = 127.0.0.1\n", NULL);
    int fd = h_connect(d->listens[0].addr);

    T_ASSERT(h_wait_closed(fd, 2000));
    T_CONTAINS(h_wait_conn_line(d, "echo", "end=denied", 2000), "peer=127.0.0.1:");
    close(fd);
}

static void test_tcp_max_per_ip_counts_ipv4_peer(void)
{
    /* Scenario: echo on tcp wildcard, max_per_ip = 1, allow = 127.0.0.1.
     * Asserted: the first connection from 127.0.0.1 is served, the second
     * is refused (refused:max_per_ip, peer=127.0.0.1). */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://*:0\nbuiltin = echo\nmax_per_ip = 1\n"
                                 "allow = 127.0.0.1\n",
                                 NULL);
    int a = h_connect(d->listens[0].addr), b;

    h_echo_roundtrip(a, "one\n");
    b = h_connect(d->listens[0].addr);
    T_ASSERT(h_wait_closed(b, 2000));
    T_CONTAINS(h_wait_conn_line(d, "echo", "end=refused:max_per_ip", 2000), "peer=127.0.0.1:");
    close(a);
    close(b);
}

static void test_exec_environment_has_ipv4_peer(void)
{
    /* Scenario: an exec service on tcp wildcard printing PROTO, TCPREMOTEIP and
     * REMOTE_ADDR.  Asserted: "TCP 127.0.0.1 127.0.0.1" (not TCP6 and not
     * ::ffff:127.0.0.1). */
    struct h_daemon *d = h_start("[env]\nlisten = tcp://*:0\n"
                                 "exec = /bin/sh -c 'echo $PROTO $TCPREMOTEIP $REMOTE_ADDR'\n",
                                 NULL);
    int fd = h_connect(d->listens[0].addr);
    char buf[128] = "";

    h_recv_all(fd, buf, sizeof(buf) - 1);
    T_EQ_STR(buf, "TCP 127.0.0.1 127.0.0.1\n");
    close(fd);
}

static const struct t_case cases[] = {
    T_CASE(test_udp_deny_applies_to_ipv4_peer),
    T_CASE(test_udp_ipv4_allow_rule_admits_ipv4_peer),
    T_CASE(test_udp_rate_per_ip_counts_ipv4_peer),
    T_CASE(test_udp_loop_rule_sees_ipv4_source_port),
    T_CASE(test_tcp_deny_and_log_see_ipv4_peer),
    T_CASE(test_tcp_max_per_ip_counts_ipv4_peer),
    T_CASE(test_exec_environment_has_ipv4_peer),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
