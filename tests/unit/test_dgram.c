/*
 * Unit tests: the datagram loop rule (dgram_may_answer), a pure function
 * of the source, the destination and the guard tables the server fills:
 * no socket.
 */
#include "dgram.h"
#include "harness.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

static const struct {
    const char *what;
    const char *src;
    unsigned port;
    const char *dst; /* NULL: unknown */
    bool want;
} rows[] = {
    {"ordinary IPv4 client", "192.0.2.1", 40000, "127.0.0.1", true},
    {"destination unknown", "192.0.2.1", 40000, NULL, true},
    {"lowest unprivileged port", "192.0.2.1", 1024, NULL, true},
    {"privileged source port", "192.0.2.1", 1023, NULL, false},
    {"source port 0", "192.0.2.1", 0, NULL, false},
    {"source port 7 (echo)", "192.0.2.1", 7, NULL, false},
    {"a UDP builtin's port", "192.0.2.1", 10007, NULL, false},
    {"another UDP builtin's port", "192.0.2.1", 10019, "127.0.0.1", false},
    {"a port next to a builtin's", "192.0.2.1", 10008, NULL, true},
    {"limited broadcast source", "255.255.255.255", 40000, NULL, false},
    {"unspecified source", "0.0.0.0", 40000, NULL, false},
    {"multicast source", "224.0.0.1", 40000, NULL, false},
    {"multicast source, top of range", "239.255.255.255", 40000, NULL, false},
    {"host broadcast source", "192.168.1.255", 40000, NULL, false},
    {"other host broadcast source", "10.255.255.255", 40000, NULL, false},
    {"a .255 that is no broadcast here", "172.16.0.255", 40000, NULL, true},
    {"to the limited broadcast", "192.0.2.1", 40000, "255.255.255.255", false},
    {"to a host broadcast", "192.0.2.1", 40000, "192.168.1.255", false},
    {"to a multicast group", "192.0.2.1", 40000, "224.0.0.251", false},
    {"to the unspecified address", "192.0.2.1", 40000, "0.0.0.0", false},
    {"ordinary IPv6 client", "2001:db8::1", 40000, "::1", true},
    {"IPv6 link-local client", "fe80::1", 40000, "fe80::2", true},
    {"IPv6 privileged port", "2001:db8::1", 53, NULL, false},
    {"IPv6 from a builtin's port", "2001:db8::1", 10007, NULL, false},
    {"IPv6 unspecified source", "::", 40000, NULL, false},
    {"IPv6 multicast source", "ff02::1", 40000, NULL, false},
    {"IPv6 to a multicast group", "2001:db8::1", 40000, "ff02::1", false},
    {"IPv6 to the unspecified address", "2001:db8::1", 40000, "::", false},
    {"IPv6 to IPv4 destination (dual stack, unmapped)", "2001:db8::1", 40000, "127.0.0.1", true},
    {"Unix peer", "unix", 0, NULL, true},
    {"Unix peer, Unix destination", "unix", 0, "unix", true},
};

static void test_may_answer_matrix(void)
{
    uint16_t ports[] = {10007, 10019};
    struct in_addr bcast[2];
    struct dgram_guard g = {.ports = ports,
                            .nports = ARRAY_LEN(ports),
                            .cap = ARRAY_LEN(ports),
                            .broadcasts = bcast,
                            .nbroadcasts = 2};

    T_ASSERT(inet_pton(AF_INET, "192.168.1.255", &bcast[0]) == 1);
    T_ASSERT(inet_pton(AF_INET, "10.255.255.255", &bcast[1]) == 1);
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        struct sockaddr_storage src = h_sockaddr(rows[i].src, rows[i].port), dst;
        bool got;
        if (rows[i].dst != NULL)
            dst = h_sockaddr(rows[i].dst, 7);
        got = dgram_may_answer(&g, (struct sockaddr *)&src,
                               rows[i].dst ? (struct sockaddr *)&dst : NULL);
        if (got != rows[i].want)
            T_FAIL("%s (%s port %u to %s): got %d, want %d", rows[i].what, rows[i].src,
                   rows[i].port, rows[i].dst ? rows[i].dst : "?", got, rows[i].want);
    }
}

static void test_empty_guard_keeps_fixed_rules(void)
{
    /* No tables (no UDP listener, getifaddrs failed): the fixed rules still hold. */
    struct dgram_guard g = {0};
    struct sockaddr_storage ok = h_sockaddr("192.0.2.1", 10007), low = h_sockaddr("192.0.2.1", 100),
                            bc = h_sockaddr("255.255.255.255", 40000),
                            hb = h_sockaddr("192.168.1.255", 40000);

    T_ASSERT(dgram_may_answer(&g, (struct sockaddr *)&ok, NULL));
    T_ASSERT(!dgram_may_answer(&g, (struct sockaddr *)&low, NULL));
    T_ASSERT(!dgram_may_answer(&g, (struct sockaddr *)&bc, NULL));
    T_ASSERT(dgram_may_answer(&g, (struct sockaddr *)&hb, NULL));
}

static void test_guard_ports_once_each(void)
{
    /* The server's filling: reset with room, ports added once each, room respected. */
    struct dgram_guard g = {0};

    T_EQ_INT(dgram_guard_reset_ports(&g, 3), 0);
    dgram_guard_add_port(&g, 10007);
    dgram_guard_add_port(&g, 10007);
    dgram_guard_add_port(&g, 10013);
    T_EQ_INT(g.nports, 2);
    T_ASSERT(dgram_guard_has_port(&g, 10013));
    T_ASSERT(!dgram_guard_has_port(&g, 10019));
    T_EQ_INT(dgram_guard_reset_ports(&g, 0), 0);
    T_EQ_INT(g.nports, 0);
    T_ASSERT(!dgram_guard_has_port(&g, 10007));
    T_EQ_INT(dgram_guard_reset_ports(&g, 1), 0);
    dgram_guard_add_port(&g, 1);
    dgram_guard_add_port(&g, 2); /* past the room asked for: dropped, not overrun */
    T_EQ_INT(g.nports, 1);
    dgram_guard_free(&g);
    T_ASSERT(g.ports == NULL && g.nports == 0);
}

static const struct t_case cases[] = {
    T_CASE(test_may_answer_matrix),
    T_CASE(test_empty_guard_keeps_fixed_rules),
    T_CASE(test_guard_ports_once_each),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
