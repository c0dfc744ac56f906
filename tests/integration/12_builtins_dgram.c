/*
 * The built-in services over datagram sockets: UDP on IPv4, UDP on IPv6 and
 * Unix datagram sockets (SPEC section 4), and the rules that keep usherd
 * from answering privileged ports, its own UDP ports, broadcast and
 * multicast (counted in the SIGUSR1 stats line, never logged one by one).
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RFC868_OFFSET 2208988800u
#define CHARGEN_LINE  74
#define REPLY_MS      2000 /* a reply that comes, comes well within this */
#define SILENCE_MS    300  /* how long we listen for a reply that must not come */

static const char *const transports[] = {"udp://127", "udp://[", "unixgram:"};
static const char *const builtins[] = {"echo", "discard", "daytime", "chargen",
                                       "time", "sum",     "sumbin"};

/* One daemon serving every builtin on 127.0.0.1, ::1 and a Unix datagram socket. */
static struct h_daemon *start_all(const char *extra_arg)
{
    char conf[4096];
    size_t len = 0;

    for (size_t i = 0; i < ARRAY_LEN(builtins); i++)
        len += (size_t)snprintf(conf + len, sizeof(conf) - len,
                                "[%s]\nlisten = udp://127.0.0.1:0 udp://[::1]:0 "
                                "unixgram:@DIR@/%s.dgram\nbuiltin = %s\n",
                                builtins[i], builtins[i], builtins[i]);
    return h_start(conf, extra_arg, NULL);
}

/* One request, one reply within REPLY_MS; fails if none comes. */
static size_t ask(const char *addr, const void *req, size_t len, void *reply, size_t cap)
{
    ssize_t n = h_dgram_exchange(addr, req, len, reply, cap, REPLY_MS);

    if (n < 0)
        T_FAIL("%s: no reply to a %zu-byte request within %d ms", addr, len, REPLY_MS);
    return (size_t)n;
}

/* Send on a connected socket; fails on error. */
static void send_dgram(int fd, const void *buf, size_t len)
{
    if (send(fd, buf, len, 0) != (ssize_t)len)
        T_FAIL("send: %s", strerror(errno));
}

/* Assert that nothing arrives on `fd` within SILENCE_MS. */
static void expect_silence(int fd, const char *what)
{
    char buf[256];
    ssize_t n = h_recv_within(fd, buf, sizeof(buf), SILENCE_MS);

    if (n >= 0)
        T_FAIL("%s: got a %zd-byte reply, want none", what, n);
}

/* --- the services ---------------------------------------------------------- */

static void test_echo_returns_each_datagram(void)
{
    /* Scenario: datagrams of 0, 1, 100, 1400, 8000 and 60000 bytes to echo.
     * Asserted: each comes back as one datagram, byte for byte. */
    static const size_t sizes[] = {0, 1, 100, 1400, 8000, 60000};
    struct h_daemon *d = start_all(NULL);
    unsigned char *req = malloc(65536), *reply = malloc(65536);

    for (size_t i = 0; i < 65536; i++)
        req[i] = (unsigned char)(i * 13 + (i >> 8));
    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "echo", transports[t]);
        for (size_t s = 0; s < ARRAY_LEN(sizes); s++) {
            size_t n = ask(addr, req, sizes[s], reply, 65536);
            if (n != sizes[s] || memcmp(reply, req, n) != 0)
                T_FAIL("%s: a %zu-byte datagram came back as %zu bytes%s", addr, sizes[s], n,
                       n == sizes[s] ? ", different" : "");
        }
    }
    free(req);
    free(reply);
}

static void test_echo_keeps_datagram_boundaries(void)
{
    /* Scenario: three datagrams "a", "bb", "ccc" sent back to back on one
     * socket, then read.  Asserted: three replies, in order, same sizes.
     * Under a test model of N processes (prefork:N, workers:N) two processes
     * may take one each and answer in either order (UDP promises none):
     * then the three replies may come in any order, each whole. */
    static const char *const msgs[] = {"a", "bb", "ccc"};
    struct h_daemon *d = start_all(NULL);
    bool any_order = h_model_procs() > 1;

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "echo", transports[t]);
        int fd = h_connect(addr);
        bool seen[ARRAY_LEN(msgs)] = {false};
        for (size_t i = 0; i < ARRAY_LEN(msgs); i++)
            send_dgram(fd, msgs[i], strlen(msgs[i]));
        for (size_t i = 0; i < ARRAY_LEN(msgs); i++) {
            char buf[16];
            ssize_t n = h_recv_within(fd, buf, sizeof(buf), REPLY_MS);
            size_t m = i;
            if (any_order && n > 0 && (size_t)n <= ARRAY_LEN(msgs) && !seen[n - 1])
                m = (size_t)n - 1; /* the message of that length */
            if (n != (ssize_t)strlen(msgs[m]) || memcmp(buf, msgs[m], (size_t)n) != 0)
                T_FAIL("%s: reply %zu: got %zd bytes, want \"%s\"", addr, i, n, msgs[m]);
            seen[m] = true;
        }
        close(fd);
    }
}

static void test_discard_never_answers(void)
{
    /* Scenario: five datagrams to discard on each transport.  Asserted: no
     * reply on any; the stats line counts 15 in, 0 out, 0 dropped (not
     * answering is discard's job, not a drop). */
    struct h_daemon *d = start_all(NULL);
    int fds[ARRAY_LEN(transports)];
    char *stats;

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        fds[t] = h_connect(h_addr(d, "discard", transports[t]));
        for (int i = 0; i < 5; i++)
            send_dgram(fds[t], "drop me", 7);
    }
    for (size_t t = 0; t < ARRAY_LEN(transports); t++)
        expect_silence(fds[t], transports[t]);
    stats = h_stats(d, "discard");
    T_EQ_INT(h_log_field(stats, "dgrams_in"), 15);
    T_EQ_INT(h_log_field(stats, "dgrams_out"), 0);
    T_EQ_INT(h_log_field(stats, "dgrams_dropped"), 0);
    T_EQ_INT(h_log_field(stats, "bytes_in"), 15 * 7);
}

static void test_daytime_one_line_per_request(void)
{
    /* Scenario: an empty, a one-byte and a 100-byte request to daytime.
     * Asserted: each gets one 26-byte ctime line within 5 s of now. */
    static const size_t sizes[] = {0, 1, 100};
    struct h_daemon *d = start_all(NULL);
    char req[100];

    memset(req, 'q', sizeof(req));
    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "daytime", transports[t]);
        for (size_t s = 0; s < ARRAY_LEN(sizes); s++) {
            char reply[128], again[64];
            struct tm tm = {0};
            time_t before = time(NULL), when;
            size_t n = ask(addr, req, sizes[s], reply, sizeof(reply) - 1);
            char *rest;
            reply[n] = '\0';
            rest = n == 26 ? strptime(reply, "%a %b %e %H:%M:%S %Y", &tm) : NULL;
            if (rest == NULL || strcmp(rest, "\r\n") != 0)
                T_FAIL("%s: not a ctime line: \"%.*s\" (%zu bytes)", addr, (int)n, reply, n);
            strftime(again, sizeof(again), "%a %b %e %H:%M:%S %Y\r\n", &tm);
            T_EQ_STR(reply, again);
            tm.tm_isdst = -1;
            when = mktime(&tm);
            if (when < before - 5 || when > time(NULL) + 5)
                T_FAIL("%s: daytime is %lld s off", addr, (long long)(when - before));
        }
    }
}

static void test_time_four_bytes_per_request(void)
{
    /* Scenario: an empty and a 10-byte request to time.  Asserted: each gets
     * 4 bytes, big-endian seconds since 1900, within 5 s of our clock. */
    static const size_t sizes[] = {0, 10};
    struct h_daemon *d = start_all(NULL);

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "time", transports[t]);
        for (size_t s = 0; s < ARRAY_LEN(sizes); s++) {
            unsigned char reply[16];
            uint32_t now = (uint32_t)((uint64_t)time(NULL) + RFC868_OFFSET), value;
            size_t n = ask(addr, "0123456789", sizes[s], reply, sizeof(reply));
            int32_t skew;
            T_EQ_INT(n, 4);
            value = (uint32_t)reply[0] << 24 | (uint32_t)reply[1] << 16 | (uint32_t)reply[2] << 8 |
                    reply[3];
            skew = (int32_t)(value - now);
            if (skew < -5 || skew > 5)
                T_FAIL("%s: time is %d s off", addr, skew);
        }
    }
}

static void test_chargen_successive_lines(void)
{
    /* Scenario: 200 requests to chargen, taking turns over the three
     * transports of the one service.  Asserted: reply k is exactly line k of
     * the pattern (74 bytes; line 0 starts with a space), across the
     * 95-line cycle: successive requests get successive lines.  Under a test
     * model of N processes (prefork:N, workers:N) each process keeps its own
     * position, and which one takes a datagram is the kernel's choice: then
     * every reply must be a whole line of the pattern that continues one of
     * at most N sequences, each starting at line 0. */
    struct h_daemon *d = start_all(NULL);
    unsigned procs = h_model_procs(), nseq = 0;
    size_t next[256];

    for (size_t k = 0; k < 200; k++) {
        const char *addr = h_addr(d, "chargen", transports[k % ARRAY_LEN(transports)]);
        char reply[1024], want[CHARGEN_LINE];
        size_t n = ask(addr, "x", 1, reply, sizeof(reply)), line = k, s = 0;
        if (procs > 1) {
            line = n > 0 && reply[0] >= 0x20 && reply[0] < 0x7f ? (size_t)(reply[0] - 0x20) : 0;
            while (s < nseq && next[s] != line)
                s++;
            if (s == nseq && (line != 0 || nseq == procs || nseq == ARRAY_LEN(next)))
                T_FAIL("%s: request %zu: line %zu continues none of the %u sequences so far", addr,
                       k, line, nseq);
            if (s == nseq)
                nseq++;
            next[s] = (line + 1) % 95;
        }
        for (size_t i = 0; i < 72; i++)
            want[i] = (char)(0x20 + (line + i) % 95);
        want[72] = '\r';
        want[73] = '\n';
        if (n != CHARGEN_LINE || memcmp(reply, want, CHARGEN_LINE) != 0)
            T_FAIL("%s: request %zu: got %zu bytes \"%.*s\", want line %zu \"%.72s\"", addr, k, n,
                   (int)(n < 72 ? n : 72), reply, line, want);
    }
}

static void test_sum_one_line_per_datagram(void)
{
    /* Scenario: sum requests as datagrams, with and without "\n", with
     * "\r\n", blanks, bad input, overflow, 1024- and 1025-byte lines, and
     * two lines in one datagram.  Asserted: one reply line each, exact. */
    static const struct {
        const char *req, *reply;
    } x[] = {
        {"1 2", "3\n"},
        {"1 2\n", "3\n"},
        {"1 2\r\n", "3\n"},
        {" \t-4\t6 ", "2\n"},
        {"-9223372036854775808 9223372036854775807", "-1\n"},
        {"x", "error: input\n"},
        {"", "error: input\n"},
        {"1", "error: input\n"},
        {"9223372036854775808 0", "error: input\n"},
        {"1 2\n3 4\n", "error: input\n"},
        {"9223372036854775807 1", "error: overflow\n"},
        {"-9223372036854775808 -1\n", "error: overflow\n"},
    };
    struct h_daemon *d = start_all(NULL);
    char ok[1025], toolong[1026];

    memset(ok, ' ', sizeof(ok));
    ok[0] = '1';
    ok[1023] = '2';
    ok[1024] = '\n';
    memset(toolong, ' ', sizeof(toolong));
    toolong[0] = '1';
    toolong[1024] = '2';
    toolong[1025] = '\n';
    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sum", transports[t]);
        char reply[256];
        size_t n;
        for (size_t i = 0; i < ARRAY_LEN(x); i++) {
            n = ask(addr, x[i].req, strlen(x[i].req), reply, sizeof(reply) - 1);
            reply[n] = '\0';
            if (strcmp(reply, x[i].reply) != 0)
                T_FAIL("%s: \"%s\": got \"%s\", want \"%s\"", addr, x[i].req, reply, x[i].reply);
        }
        n = ask(addr, ok, sizeof(ok), reply, sizeof(reply) - 1);
        reply[n] = '\0';
        T_EQ_STR(reply, "3\n");
        n = ask(addr, toolong, sizeof(toolong), reply, sizeof(reply) - 1);
        reply[n] = '\0';
        T_EQ_STR(reply, "error: line too long\n");
    }
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static void test_sumbin_one_record_per_datagram(void)
{
    /* Scenario: 16-byte sumbin requests: plain, negative, and overflowing
     * both ways.  Asserted: 12-byte replies, status 0 + sum, or 1 + zero. */
    static const struct {
        int64_t a, b;
        uint32_t status;
        int64_t sum;
    } x[] = {
        {1, 2, 0, 3},         {-10, 3, 0, -7},       {INT64_MAX, INT64_MIN, 0, -1},
        {INT64_MAX, 1, 1, 0}, {INT64_MIN, -1, 1, 0},
    };
    struct h_daemon *d = start_all(NULL);

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sumbin", transports[t]);
        for (size_t i = 0; i < ARRAY_LEN(x); i++) {
            unsigned char req[16], want[12], reply[64];
            size_t n;
            put64(req, (uint64_t)x[i].a);
            put64(req + 8, (uint64_t)x[i].b);
            memset(want, 0, 4);
            want[3] = (unsigned char)x[i].status;
            put64(want + 4, (uint64_t)x[i].sum);
            n = ask(addr, req, sizeof(req), reply, sizeof(reply));
            if (n != 12 || memcmp(reply, want, 12) != 0)
                T_FAIL("%s: %lld + %lld: wrong %zu-byte reply", addr, (long long)x[i].a,
                       (long long)x[i].b, n);
        }
    }
}

static void test_sumbin_wrong_length_gets_no_reply(void)
{
    /* Scenario: datagrams of 0, 15, 17 and 32 bytes to sumbin, then one of 16
     * bytes, on one socket.  Asserted: the first and only reply is the 16-byte
     * request's (datagrams arrive in order, so the others got none). */
    static const size_t bad[] = {0, 15, 17, 32};
    struct h_daemon *d = start_all(NULL);
    unsigned char req[32], want[12] = {0};

    memset(req, 0, sizeof(req));
    req[7] = 20;
    req[15] = 22;
    want[11] = 42;
    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sumbin", transports[t]);
        int fd = h_connect(addr);
        unsigned char reply[64];
        ssize_t n;
        for (size_t i = 0; i < ARRAY_LEN(bad); i++)
            send_dgram(fd, req, bad[i]);
        send_dgram(fd, req, 16);
        n = h_recv_within(fd, reply, sizeof(reply), REPLY_MS);
        if (n != 12 || memcmp(reply, want, 12) != 0)
            T_FAIL("%s: first reply is %zd bytes, want the 12 of 20 + 22", addr, n);
        expect_silence(fd, addr);
        close(fd);
    }
}

/* --- who is never answered ------------------------------------------------- */

/* A free privileged UDP port on `host` ("127.0.0.1", "[::1]"), bound and
 * connected to `to`.  Returns the socket; *port gets the port. */
static int bind_privileged(const char *host, const char *to, int *port)
{
    for (*port = 1023; *port >= 600; (*port)--) {
        char local[64];
        int fd;
        snprintf(local, sizeof(local), "udp://%s:%d", host, *port);
        fd = h_connect_from(local, to);
        if (fd >= 0)
            return fd;
    }
    t_skip("no free privileged UDP port on %s", host);
}

static void test_privileged_source_port_not_answered(void)
{
    /* Scenario: "ping" to echo from UDP source port 1023 (or the highest
     * free one below 1024), on IPv4 and IPv6; then "ping" from an ephemeral
     * port.  Asserted: no reply to the privileged port, a reply to the
     * ephemeral one; stats: 4 in, 2 out, 2 dropped. */
    static const char *const hosts[] = {"127.0.0.1", "[::1]"};
    struct h_daemon *d = start_all(NULL);
    char *stats;

    for (size_t i = 0; i < ARRAY_LEN(hosts); i++) {
        const char *addr = h_addr(d, "echo", transports[i]);
        int port, priv = bind_privileged(hosts[i], addr, &port);
        char buf[16];
        send_dgram(priv, "ping", 4);
        T_EQ_INT(ask(addr, "ping", 4, buf, sizeof(buf)), 4);
        /* The ephemeral port's reply is in; one to the first would be too. */
        if (h_recv_within(priv, buf, sizeof(buf), 100) >= 0)
            T_FAIL("%s: echo answered source port %d", addr, port);
        close(priv);
    }
    stats = h_stats_settled(d, "echo", "dgrams_out", 2);
    T_EQ_INT(h_log_field(stats, "dgrams_in"), 4);
    T_EQ_INT(h_log_field(stats, "dgrams_out"), 2);
    T_EQ_INT(h_log_field(stats, "dgrams_dropped"), 2);
}

static void test_source_port_1024_is_answered(void)
{
    /* Scenario: "ping" to echo from source port 1024, the first unprivileged
     * one.  Asserted: it is answered (the rule is "below 1024"). */
    struct h_daemon *d = start_all(NULL);
    const char *addr = h_addr(d, "echo", "udp://127");
    int fd = h_connect_from("udp://127.0.0.1:1024", addr);
    char buf[16];

    if (fd < 0)
        t_skip("UDP port 1024 on 127.0.0.1 is busy: %s", strerror(errno));
    send_dgram(fd, "ping", 4);
    T_EQ_INT(h_recv_within(fd, buf, sizeof(buf), REPLY_MS), 4);
}

static void test_builtin_port_source_not_answered(void)
{
    /* Scenario: echo on udp 127.0.0.1 and ::1, chargen on udp 127.0.0.1 only.
     * Requests to echo from 127.0.0.2:<chargen's port>, from
     * 127.0.0.2:<echo's own port>, and from [::1]:<chargen's port> (the rule
     * is about the port, whatever the address), then from 127.0.0.2 on an
     * ephemeral port.  Asserted: only the last is answered; stats count the
     * three drops. */
    struct h_daemon *d = h_start("[echo]\nlisten = udp://127.0.0.1:0 udp://[::1]:0\n"
                                 "builtin = echo\n"
                                 "[chargen]\nlisten = udp://127.0.0.1:0\nbuiltin = chargen\n",
                                 NULL);
    const char *echo4 = h_addr(d, "echo", "udp://127"), *echo6 = h_addr(d, "echo", "udp://[");
    int chargen_port = h_port(h_addr(d, "chargen", "udp://127")), echo_port = h_port(echo4);
    char local[64], buf[128];
    int fds[3], fd;
    char *stats;

    snprintf(local, sizeof(local), "udp://127.0.0.2:%d", chargen_port);
    fds[0] = h_connect_from(local, echo4);
    snprintf(local, sizeof(local), "udp://127.0.0.2:%d", echo_port);
    fds[1] = h_connect_from(local, echo4);
    snprintf(local, sizeof(local), "udp://[::1]:%d", chargen_port);
    fds[2] = h_connect_from(local, echo6);
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 0)
            T_FAIL("binding client socket %d: %s", i, strerror(errno));
        send_dgram(fds[i], "loop?", 5);
    }
    fd = h_connect_from("udp://127.0.0.2:0", echo4);
    T_ASSERT(fd >= 0);
    send_dgram(fd, "fine", 4);
    T_EQ_INT(h_recv_within(fd, buf, sizeof(buf), REPLY_MS), 4);
    for (int i = 0; i < 3; i++)
        if (h_recv_within(fds[i], buf, sizeof(buf), i == 2 ? SILENCE_MS : 100) >= 0)
            T_FAIL("echo answered client %d, whose port is a builtin's", i);
    stats = h_stats_settled(d, "echo", "dgrams_out", 1);
    T_EQ_INT(h_log_field(stats, "dgrams_in"), 4);
    T_EQ_INT(h_log_field(stats, "dgrams_out"), 1);
    T_EQ_INT(h_log_field(stats, "dgrams_dropped"), 3);
}

/* Wait for the service's dgrams_in to reach `n`; false if it does not within 1 s. */
static bool wait_dgrams_in(struct h_daemon *d, const char *svc, long long n)
{
    int64_t deadline = h_now_ms() + 1000 * (int)t_scale();

    do {
        char *stats = h_stats(d, svc);
        long long got = h_log_field(stats, "dgrams_in");
        free(stats);
        if (got >= n)
            return true;
        usleep(50000);
    } while (h_now_ms() < deadline);
    return false;
}

/* An IPv4 broadcast address of an interface that is up, or false. */
static bool find_broadcast(struct in_addr *out)
{
    struct ifaddrs *ifs, *ifa;
    bool found = false;

    if (getifaddrs(&ifs) < 0)
        return false;
    for (ifa = ifs; ifa != NULL && !found; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET ||
            !(ifa->ifa_flags & IFF_BROADCAST) || !(ifa->ifa_flags & IFF_UP) ||
            ifa->ifa_broadaddr == NULL)
            continue;
        *out = ((struct sockaddr_in *)ifa->ifa_broadaddr)->sin_addr;
        found = true;
    }
    freeifaddrs(ifs);
    return found;
}

/*
 * After a datagram that must be dropped was sent to the chargen service `d`
 * serves on `prefix`: it must have arrived (else skip: this machine does not
 * loop such datagrams back), got no reply, been counted as dropped, and not
 * been served at all: the next request, from 127.0.0.1, still gets line 0.
 * (A reply with a broadcast or multicast source would fail in the kernel
 * anyway; the untouched chargen line shows usherd dropped it itself.)
 */
static void check_cast_dropped(struct h_daemon *d, int fd, const char *what)
{
    char addr[64], reply[128], *stats;
    int port = h_port(d->listens[0].addr);

    if (!wait_dgrams_in(d, "chargen", 1))
        t_skip("%s is not looped back to local sockets here", what);
    expect_silence(fd, what);
    snprintf(addr, sizeof(addr), "udp://127.0.0.1:%d", port);
    T_EQ_INT(ask(addr, "x", 1, reply, sizeof(reply)), CHARGEN_LINE);
    if (reply[0] != ' ')
        T_FAIL("after the %s datagram, chargen answers line %d, want line 0: it was served", what,
               reply[0] - ' ');
    stats = h_stats_settled(d, "chargen", "dgrams_out", 1);
    T_EQ_INT(h_log_field(stats, "dgrams_in"), 2);
    T_EQ_INT(h_log_field(stats, "dgrams_dropped"), 1);
    T_EQ_INT(h_log_field(stats, "dgrams_out"), 1);
}

static void test_broadcast_destination_not_answered(void)
{
    /* Scenario: chargen on the udp wildcard; a datagram sent to an
     * interface's broadcast address (looped back to local sockets).
     * Asserted: see check_cast_dropped. */
    struct h_daemon *d = h_start("[chargen]\nlisten = udp://*:0\nbuiltin = chargen\n", NULL);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)h_port(d->listens[0].addr))};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), on = 1;

    if (!find_broadcast(&to.sin_addr))
        t_skip("no IPv4 interface with a broadcast address is up");
    T_ASSERT(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on));
    if (sendto(fd, "bcast", 5, 0, (struct sockaddr *)&to, sizeof(to)) != 5)
        t_skip("cannot send to the broadcast address: %s", strerror(errno));
    check_cast_dropped(d, fd, "broadcast");
}

static void test_ipv4_multicast_destination_not_answered(void)
{
    /* Scenario: chargen on udp://0.0.0.0 (an IPv4 socket: Linux loops IPv4
     * multicast back to those, not to dual-stack ones); a datagram to the
     * all-hosts group 224.0.0.1.  Asserted: see check_cast_dropped. */
    struct h_daemon *d = h_start("[chargen]\nlisten = udp://0.0.0.0:0\nbuiltin = chargen\n", NULL);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)h_port(d->listens[0].addr))};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    unsigned char loop = 1;

    T_ASSERT(fd >= 0);
    inet_pton(AF_INET, "224.0.0.1", &to.sin_addr);
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
    if (sendto(fd, "mcast", 5, 0, (struct sockaddr *)&to, sizeof(to)) != 5)
        t_skip("cannot send to 224.0.0.1: %s", strerror(errno));
    check_cast_dropped(d, fd, "IPv4 multicast");
}

/* The index of an interface that is up and does multicast (not loopback), or 0. */
static unsigned multicast_ifindex(void)
{
    struct ifaddrs *ifs, *ifa;
    unsigned index = 0;

    if (getifaddrs(&ifs) < 0)
        return 0;
    for (ifa = ifs; ifa != NULL && index == 0; ifa = ifa->ifa_next)
        if ((ifa->ifa_flags & IFF_UP) && (ifa->ifa_flags & IFF_MULTICAST) &&
            !(ifa->ifa_flags & IFF_LOOPBACK))
            index = if_nametoindex(ifa->ifa_name);
    freeifaddrs(ifs);
    return index;
}

static void test_ipv6_multicast_destination_not_answered(void)
{
    /* Scenario: chargen on the udp wildcard; a datagram to the all-nodes
     * group ff02::1 on a multicast interface.  Asserted: see
     * check_cast_dropped. */
    struct h_daemon *d = h_start("[chargen]\nlisten = udp://*:0\nbuiltin = chargen\n", NULL);
    struct sockaddr_in6 to = {.sin6_family = AF_INET6,
                              .sin6_port = htons((uint16_t)h_port(d->listens[0].addr))};
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    to.sin6_scope_id = multicast_ifindex();
    if (to.sin6_scope_id == 0)
        t_skip("no multicast interface is up");
    T_ASSERT(fd >= 0);
    inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
    if (sendto(fd, "mcast", 5, 0, (struct sockaddr *)&to, sizeof(to)) != 5)
        t_skip("cannot send to ff02::1: %s", strerror(errno));
    check_cast_dropped(d, fd, "IPv6 multicast");
}

static void test_unbound_unixgram_sender_is_ignored(void)
{
    /* Scenario: a Unix datagram from a socket with no address (nothing to
     * answer to), then a normal request.  Asserted: usherd survives the
     * first and answers the second. */
    struct h_daemon *d = start_all(NULL);
    const char *addr = h_addr(d, "echo", "unixgram:");
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    char buf[16];

    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", addr + strlen("unixgram:"));
    T_ASSERT(fd >= 0);
    if (sendto(fd, "anon", 4, 0, (struct sockaddr *)&sun, sizeof(sun)) != 4)
        T_FAIL("sendto %s: %s", addr, strerror(errno));
    T_EQ_INT(ask(addr, "next", 4, buf, sizeof(buf)), 4);
    T_ASSERT(h_alive(d));
}

static void test_stats_line_counts_datagrams(void)
{
    /* Scenario: 3 echo requests of 10 bytes on each transport, then SIGUSR1.
     * Asserted: the echo stats line in full:
     * "stats service=echo conns_now=0 conns_total=0 refused=0 bytes_in=90
     * bytes_out=90 dgrams_in=9 dgrams_out=9 dgrams_dropped=0 children=0". */
    struct h_daemon *d = start_all(NULL);
    char *stats;

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "echo", transports[t]);
        for (int i = 0; i < 3; i++) {
            char buf[16];
            T_EQ_INT(ask(addr, "0123456789", 10, buf, sizeof(buf)), 10);
        }
    }
    stats = h_stats_settled(d, "echo", "dgrams_out", 9);
    T_EQ_STR(strstr(stats, "stats service="),
             "stats service=echo conns_now=0 conns_total=0 refused=0 bytes_in=90 bytes_out=90 "
             "dgrams_in=9 dgrams_out=9 dgrams_dropped=0 children=0");
}

static void test_requests_logged_only_when_verbose(void)
{
    /* Scenario: one UDP echo request to a normal daemon and to one run with
     * -v; each then ends a TCP connection, whose line shows the log has
     * caught up.  Asserted: no "proto=udp" line without -v; one naming the
     * peer's address and port with -v. */
    static const char conf[] = "[echo]\nlisten = udp://127.0.0.1:0 tcp://127.0.0.1:0\n"
                               "builtin = echo\n";
    for (int verbose = 0; verbose <= 1; verbose++) {
        struct h_daemon *d = h_start(conf, verbose ? "-v" : NULL, NULL);
        int fd = h_connect(h_addr(d, "echo", "udp://127"));
        struct sockaddr_in me;
        socklen_t len = sizeof(me);
        char buf[16], peer[64];
        int tcp;
        send_dgram(fd, "hi", 2);
        T_EQ_INT(h_recv_within(fd, buf, sizeof(buf), REPLY_MS), 2);
        getsockname(fd, (struct sockaddr *)&me, &len);
        tcp = h_connect(h_addr(d, "echo", "tcp://127"));
        close(tcp);
        if (!h_wait_log(d, "proto=tcp", 5000))
            T_FAIL("no TCP connection line");
        snprintf(peer, sizeof(peer), "service=echo proto=udp peer=127.0.0.1:%d",
                 ntohs(me.sin_port));
        if (h_count_log(d, "proto=udp") != verbose || h_count_log(d, peer) != verbose)
            T_FAIL("with%s -v, want %d \"%s\" lines:\n%s", verbose ? "" : "out", verbose, peer,
                   h_log(d));
        close(fd);
    }
}

static const struct t_case cases[] = {
    T_CASE(test_echo_returns_each_datagram),
    T_CASE(test_echo_keeps_datagram_boundaries),
    T_CASE(test_discard_never_answers),
    T_CASE(test_daytime_one_line_per_request),
    T_CASE(test_time_four_bytes_per_request),
    T_CASE(test_chargen_successive_lines),
    T_CASE(test_sum_one_line_per_datagram),
    T_CASE(test_sumbin_one_record_per_datagram),
    T_CASE(test_sumbin_wrong_length_gets_no_reply),
    T_CASE(test_privileged_source_port_not_answered),
    T_CASE(test_source_port_1024_is_answered),
    T_CASE(test_builtin_port_source_not_answered),
    T_CASE(test_broadcast_destination_not_answered),
    T_CASE(test_ipv4_multicast_destination_not_answered),
    T_CASE(test_ipv6_multicast_destination_not_answered),
    T_CASE(test_unbound_unixgram_sender_is_ignored),
    T_CASE(test_stats_line_counts_datagrams),
    T_CASE(test_requests_logged_only_when_verbose),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
