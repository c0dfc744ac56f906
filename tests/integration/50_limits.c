/*
 * Limits and protection (SPEC 7): max_conns, max_per_ip (IPv6 by /64),
 * rate and rate_per_ip (token buckets), allow/deny over IPv4, IPv6 and
 * IPv4-mapped peers, the same rules for UDP requests, max_time, and the
 * rate limit on the refusal log lines.  Each limit is triggered and its
 * effect checked from the client's side (served, or closed at once without
 * a byte) and in the log and the SIGUSR1 stats line.
 *
 * The IPv6 /64 case adds 2001:db8:5a::1 and 2001:db8:5a::2 to lo (we are
 * root; skipped otherwise) and removes them when it ends.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define V6_NET "2001:db8:5a::"
#define V6_A   V6_NET "1"
#define V6_B   V6_NET "2"

/* --- helpers --------------------------------------------------------------- */

/*
 * Was the connection on `fd` (to an echo service) served?  Sends a line:
 * true if it comes back, false if the daemon closed the connection (EOF or
 * reset) without sending a byte.  Fails on anything else or after 5 s.
 */
static bool served(int fd)
{
    static const char msg[] = "are you there?\n";
    char buf[sizeof(msg)];
    size_t got = 0;
    int64_t deadline = h_now_ms() + 5000 * (int64_t)t_scale();

    /* A write into a connection the daemon already closed may fail: that is an answer too. */
    (void)send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL);
    while (got < sizeof(msg) - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - h_now_ms());
        ssize_t n;
        if (left <= 0 || poll(&p, 1, left) <= 0)
            T_FAIL("neither served nor closed within 5 s (%zu bytes back)", got);
        n = recv(fd, buf + got, sizeof(msg) - 1 - got, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            if (got > 0)
                T_FAIL("closed after %zu bytes of the echo", got);
            return false;
        }
        got += (size_t)n;
    }
    if (memcmp(buf, msg, sizeof(msg) - 1) != 0)
        T_FAIL("served, but the echo is wrong");
    return true;
}

/* A TCP connection from `local` ("tcp://127.0.0.2:0") to `remote`. */
static int connect_from(const char *local, const char *remote)
{
    int fd = h_connect_from(local, remote);

    if (fd < 0)
        T_FAIL("connect from %s to %s: %s", local, remote, strerror(errno));
    return fd;
}

/* Connect to `addr`; assert the connection is served (or refused) and return it. */
static int expect_served(const char *addr)
{
    int fd = h_connect(addr);

    if (!served(fd))
        T_FAIL("a connection to %s was refused, want served", addr);
    return fd;
}

/* The log line of the connection whose client end is `fd`, from `host`; waits 5 s. */
static char *line_of(struct h_daemon *d, int fd, const char *service, const char *host)
{
    char want[160];

    snprintf(want, sizeof(want), "usherd: service=%s proto=tcp peer=%s:%d ", service, host,
             h_local_port(fd));
    if (!h_wait_log(d, want, 5000))
        T_FAIL("no line \"%s...\" in the log:\n%s", want, h_log(d));
    return h_log_line(d, want);
}

/* Assert `fd` was refused, and logged from `host` with end=`end`. */
static void expect_refused(struct h_daemon *d, int fd, const char *service, const char *host,
                           const char *end)
{
    char want[64];

    if (served(fd))
        T_FAIL("a connection from %s:%d was served, want %s", host, h_local_port(fd), end);
    snprintf(want, sizeof(want), " in=0 out=0 end=%s", end);
    T_CONTAINS(line_of(d, fd, service, host), want);
}

/* --- max_conns, max_per_ip ------------------------------------------------- */

static void test_max_conns_refuses_beyond_the_service_limit(void)
{
    /* Scenario: echo with max_conns = 2 (and another service without a
     * limit).  Two connections held; a third to echo.  Asserted: the third
     * is closed at once without a byte and logged end=refused:max_conns
     * with its peer; the other service is not limited by echo's count; the
     * two held ones still echo; once one closes, a new one is served; stats:
     * refused=1, conns_now=2. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "max_conns = 2\n"
                                 "[other]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    int a = expect_served(echo), b = expect_served(echo), c = h_connect(echo), o, late;
    char *stats;

    expect_refused(d, c, "echo", "127.0.0.1", "refused:max_conns");
    o = expect_served(h_addr(d, "other", "tcp://127"));
    T_ASSERT(served(a));
    T_ASSERT(served(b));
    close(a);
    T_ASSERT(h_wait_log(d, "end=closed", 5000));
    late = expect_served(echo);
    stats = h_stats(d, "echo");
    T_EQ_INT(h_log_field(stats, "refused"), 1);
    T_EQ_INT(h_log_field(stats, "conns_now"), 2);
    close(b), close(c), close(o), close(late);
}

static void test_max_per_ip_counts_each_ipv4_address(void)
{
    /* Scenario: echo on 127.0.0.1 with max_per_ip = 2.  Two connections from
     * 127.0.0.2 held, a third from it, then two from 127.0.0.3.  Asserted:
     * the third from 127.0.0.2 is refused and logged end=refused:max_per_ip;
     * 127.0.0.3 has its own count (both served); after one of 127.0.0.2's
     * closes, it may connect again. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "max_per_ip = 2\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    int a1 = connect_from("tcp://127.0.0.2:0", echo), a2 = connect_from("tcp://127.0.0.2:0", echo);
    int a3, b1, b2, again;

    T_ASSERT(served(a1));
    T_ASSERT(served(a2));
    a3 = connect_from("tcp://127.0.0.2:0", echo);
    expect_refused(d, a3, "echo", "127.0.0.2", "refused:max_per_ip");
    b1 = connect_from("tcp://127.0.0.3:0", echo);
    b2 = connect_from("tcp://127.0.0.3:0", echo);
    T_ASSERT(served(b1));
    T_ASSERT(served(b2));
    close(a1);
    T_ASSERT(h_wait_log(d, "end=closed", 5000));
    again = connect_from("tcp://127.0.0.2:0", echo);
    if (!served(again))
        T_FAIL("127.0.0.2 was refused with only one connection left open:\n%s", h_log(d));
    close(a2), close(a3), close(b1), close(b2), close(again);
}

/* Run `ip` with these arguments; true if it exits 0. */
static bool ip_cmd(const char *const *args)
{
    const char *argv[16] = {"ip"};
    struct h_result r;
    bool ok;
    int n = 1;

    for (; *args != NULL && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    h_run(&r, NULL, 0, 10000, argv);
    ok = r.exit_code == 0;
    h_result_free(&r);
    return ok;
}

static void remove_v6_addrs(void)
{
    static const char *const del_a[] = {"-6", "addr", "del", V6_A "/64", "dev", "lo", NULL};
    static const char *const del_b[] = {"-6", "addr", "del", V6_B "/64", "dev", "lo", NULL};

    ip_cmd(del_a);
    ip_cmd(del_b);
}

/* Add V6_A and V6_B to lo for this case (removed at its end), or skip. */
static void add_v6_addrs(void)
{
    static const char *const add_a[] = {"-6",  "addr", "add",   V6_A "/64",
                                        "dev", "lo",   "nodad", NULL};
    static const char *const add_b[] = {"-6",  "addr", "add",   V6_B "/64",
                                        "dev", "lo",   "nodad", NULL};

    if (geteuid() != 0)
        t_skip("adding IPv6 addresses to lo needs root");
    h_need("ip", "iproute2");
    remove_v6_addrs(); /* left over by a case that timed out */
    t_at_end(remove_v6_addrs);
    if (!ip_cmd(add_a) || !ip_cmd(add_b))
        t_skip("cannot add %s and %s to lo (no IPv6, or not permitted)", V6_A, V6_B);
}

static void test_max_per_ip_groups_ipv6_by_64(void)
{
    /* Scenario: echo on [::] with max_per_ip = 2; 2001:db8:5a::1 and ::2
     * added to lo (one /64).  One connection from each address held, a
     * third from ::2, then one from ::1 (another /64).  Asserted: the third
     * is refused (end=refused:max_per_ip, peer [2001:db8:5a::2]) because
     * the two addresses count as one; ::1 is served; after one of the /64's
     * connections closes, the /64 may connect again. */
    struct h_daemon *d;
    char to[96], loop6[96];
    int a, b, c, other, again;

    add_v6_addrs();
    d = h_start("[echo]\nlisten = tcp://[::]:0\nbuiltin = echo\nmax_per_ip = 2\n", NULL);
    snprintf(to, sizeof(to), "tcp://[" V6_A "]:%d", h_port(h_addr(d, "echo", "tcp://[")));
    snprintf(loop6, sizeof(loop6), "tcp://[::1]:%d", h_port(to));
    a = connect_from("tcp://[" V6_A "]:0", to);
    b = connect_from("tcp://[" V6_B "]:0", to);
    T_ASSERT(served(a));
    T_ASSERT(served(b));
    c = connect_from("tcp://[" V6_B "]:0", to);
    expect_refused(d, c, "echo", "[" V6_B "]", "refused:max_per_ip");
    other = expect_served(loop6);
    close(a);
    T_ASSERT(h_wait_log(d, "end=closed", 5000));
    again = connect_from("tcp://[" V6_B "]:0", to);
    if (!served(again))
        T_FAIL("the /64 was refused with one connection open:\n%s", h_log(d));
    close(b), close(c), close(other), close(again);
}

static void test_deny_ipv6_prefix(void)
{
    /* Scenario: echo on [::] with deny = 2001:db8:5a::/64 (2001:db8:5a::1
     * and ::2 added to lo).  Asserted: connections from either address are
     * denied (the first logged with peer [2001:db8:5a::1]:PORT, end=denied),
     * one from ::1 is served. */
    struct h_daemon *d;
    char to[96], loop6[96];
    int a, b;

    add_v6_addrs();
    d = h_start("[echo]\nlisten = tcp://[::]:0\nbuiltin = echo\ndeny = " V6_NET "/64\n", NULL);
    snprintf(to, sizeof(to), "tcp://[" V6_A "]:%d", h_port(h_addr(d, "echo", "tcp://[")));
    snprintf(loop6, sizeof(loop6), "tcp://[::1]:%d", h_port(to));
    a = connect_from("tcp://[" V6_A "]:0", to);
    expect_refused(d, a, "echo", "[" V6_A "]", "denied");
    b = connect_from("tcp://[" V6_B "]:0", to);
    if (served(b))
        T_FAIL("%s was served with deny = %s/64", V6_B, V6_NET);
    close(expect_served(loop6));
    close(a), close(b);
}

/* --- rates ----------------------------------------------------------------- */

/*
 * `n` connections from `local` to the echo service at `addr`, one after
 * the other, each probed and closed.  Returns how many were served; the
 * refused ones must all come after the served ones (a bucket, once empty,
 * stays empty within the burst).  *ms gets the time the burst took.
 */
static int burst(const char *local, const char *addr, int n, int64_t *ms)
{
    int64_t start = h_now_ms();
    int ok = 0;
    bool refused = false;

    for (int i = 0; i < n; i++) {
        int fd = connect_from(local, addr);
        bool s = served(fd);
        close(fd);
        if (s && refused && h_now_ms() - start < 150)
            T_FAIL("connection %d served after a refusal within %lld ms", i,
                   (long long)(h_now_ms() - start));
        refused |= !s;
        ok += s;
    }
    *ms = h_now_ms() - start;
    return ok;
}

/* Served count of a burst, against a bucket of `count` per second. */
static void check_burst(int ok, int count, int64_t ms, const char *what)
{
    /* The bucket refills during the burst: count per second of it. */
    int most = count + (int)(ms * count / 1000) + 1;

    if (ok < count || ok > most)
        T_FAIL("%s: %d connections served in a burst of %lld ms, want %d..%d", what, ok,
               (long long)ms, count, most);
}

static void test_rate_bursts_refuses_then_recovers(void)
{
    /* Scenario: echo with rate = 5/s.  A burst of 12 connections; then,
     * after a second with no connections, another burst of 12.  Asserted:
     * each burst is served 5 times (plus what the bucket refilled while it
     * ran), the rest refused and logged end=refused:rate; the second burst
     * is served like the first (the bucket refilled); stats count the
     * refusals. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "rate = 5/s\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    int64_t ms1, ms2;
    int ok1 = burst("tcp://127.0.0.1:0", echo, 12, &ms1), ok2;
    char *stats;

    check_burst(ok1, 5, ms1, "first burst");
    if (!h_wait_log(d, "end=refused:rate", 2000))
        T_FAIL("no end=refused:rate line:\n%s", h_log(d));
    usleep(1100000); /* pacing: a quiet second, the behaviour under test */
    ok2 = burst("tcp://127.0.0.1:0", echo, 12, &ms2);
    check_burst(ok2, 5, ms2, "burst after a quiet second");
    stats = h_stats(d, "echo");
    T_EQ_INT(h_log_field(stats, "refused"), 24 - ok1 - ok2);
    T_EQ_INT(h_log_field(stats, "conns_total"), 24);
}

static void test_rate_per_minute_counts_a_minute(void)
{
    /* Scenario: echo with rate = 3/m.  A burst of 6, then a pause of 1.1 s,
     * then one more.  Asserted: 3 served, the rest refused (end=refused:
     * rate); a second later the bucket has refilled only 1/20 of a token, so
     * the last one is refused too (the period is a minute, not a second). */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "rate = 3/m\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    int64_t ms;
    int ok = burst("tcp://127.0.0.1:0", echo, 6, &ms), fd;

    T_EQ_INT(ok, 3);
    usleep(1100000); /* pacing: a second that would refill a per-second bucket */
    fd = h_connect(echo);
    if (served(fd))
        T_FAIL("rate = 3/m served a 4th connection 1.1 s after the 3rd");
    close(fd);
    T_ASSERT(h_wait_log(d, "end=refused:rate", 2000));
}

static void test_rate_per_ip_has_a_bucket_per_address(void)
{
    /* Scenario: echo with rate_per_ip = 3/s.  A burst of 8 from 127.0.0.2,
     * then at once a burst of 8 from 127.0.0.3.  Asserted: each address is
     * served 3 times (plus the refill), the rest refused and logged end=
     * refused:rate_per_ip; the second address is not affected by the first
     * one's empty bucket. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "rate_per_ip = 3/s\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    int64_t ms;
    int ok = burst("tcp://127.0.0.2:0", echo, 8, &ms);

    check_burst(ok, 3, ms, "127.0.0.2");
    ok = burst("tcp://127.0.0.3:0", echo, 8, &ms);
    check_burst(ok, 3, ms, "127.0.0.3, right after 127.0.0.2");
    if (!h_wait_log(d, "end=refused:rate_per_ip", 2000))
        T_FAIL("no end=refused:rate_per_ip line:\n%s", h_log(d));
}

static void test_rate_per_ip_groups_ipv6_by_64(void)
{
    /* Scenario: echo on [::] with rate_per_ip = 2/s (2001:db8:5a::1 and ::2
     * added to lo, one /64): one connection from each address, then a third
     * from ::1 of the /64, then one from the loopback ::1.  Asserted: the
     * third is refused (end=refused:rate_per_ip): the /64 shares one
     * bucket; the loopback, another /64, is served. */
    struct h_daemon *d;
    char to[96], loop6[96];
    int a, b, c;

    add_v6_addrs();
    d = h_start("[echo]\nlisten = tcp://[::]:0\nbuiltin = echo\nrate_per_ip = 2/s\n", NULL);
    snprintf(to, sizeof(to), "tcp://[" V6_A "]:%d", h_port(h_addr(d, "echo", "tcp://[")));
    snprintf(loop6, sizeof(loop6), "tcp://[::1]:%d", h_port(to));
    a = connect_from("tcp://[" V6_A "]:0", to);
    b = connect_from("tcp://[" V6_B "]:0", to);
    T_ASSERT(served(a));
    T_ASSERT(served(b));
    c = connect_from("tcp://[" V6_A "]:0", to);
    expect_refused(d, c, "echo", "[" V6_A "]", "refused:rate_per_ip");
    close(expect_served(loop6));
    close(a), close(b), close(c);
}

/* --- allow / deny ---------------------------------------------------------- */

static void test_allow_and_deny_ipv4(void)
{
    /* Scenario: echo on 127.0.0.1 with allow = 127.0.0.0/8 and deny =
     * 127.0.0.2 127.0.0.64/26 (two deny lines, one a prefix); connections
     * from 127.0.0.2 (first), .1, .3, .64, .127 and .128.  Asserted: .2,
     * .64 and .127 are denied (closed at once; the first logged with its
     * peer and end=denied, the others within its second summed up), the
     * others served: deny wins over allow, prefixes match; stats refused=3. */
    static const struct {
        const char *host;
        bool ok;
    } peers[] = {
        {"127.0.0.2", false},  {"127.0.0.1", true},    {"127.0.0.3", true},
        {"127.0.0.64", false}, {"127.0.0.127", false}, {"127.0.0.128", true},
    };
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "allow = 127.0.0.0/8\ndeny = 127.0.0.2\ndeny = 127.0.0.64/26\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");

    for (size_t i = 0; i < ARRAY_LEN(peers); i++) {
        char local[64];
        int fd;
        snprintf(local, sizeof(local), "tcp://%s:0", peers[i].host);
        fd = connect_from(local, echo);
        if (served(fd) != peers[i].ok)
            T_FAIL("a connection from %s was %s", peers[i].host,
                   peers[i].ok ? "refused, want served" : "served, want denied");
        if (i == 0)
            T_CONTAINS(line_of(d, fd, "echo", peers[i].host), "end=denied");
        close(fd);
    }
    T_EQ_INT(h_log_field(h_stats(d, "echo"), "refused"), 3);
}

static void test_allow_list_refuses_everyone_else(void)
{
    /* Scenario: echo on 127.0.0.1 and [::1] with only allow = 10.0.0.0/8
     * 192.168.1.1.  Asserted: connections from 127.0.0.1 and from ::1 are
     * both denied (logged end=denied); stats refused=2. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0 tcp://[::1]:0\n"
                                 "builtin = echo\nallow = 10.0.0.0/8 192.168.1.1\n",
                                 NULL);
    int v4 = h_connect(h_addr(d, "echo", "tcp://127"));
    int v6;

    expect_refused(d, v4, "echo", "127.0.0.1", "denied");
    v6 = h_connect(h_addr(d, "echo", "tcp://["));
    if (served(v6))
        T_FAIL("::1 was served with allow = 10.0.0.0/8 192.168.1.1");
    T_EQ_INT(h_log_field(h_stats(d, "echo"), "refused"), 2);
}

static void test_allow_and_deny_ipv6(void)
{
    /* Scenario: three services on [::1]: allow = ::1; deny = ::1/128;
     * allow = ::/0 with deny = fe80::/10.  Asserted: the first and third
     * serve a connection from ::1, the second denies it (logged with peer
     * [::1]:PORT and end=denied). */
    struct h_daemon *d = h_start("[a]\nlisten = tcp://[::1]:0\nbuiltin = echo\nallow = ::1\n"
                                 "[b]\nlisten = tcp://[::1]:0\nbuiltin = echo\ndeny = ::1/128\n"
                                 "[c]\nlisten = tcp://[::1]:0\nbuiltin = echo\nallow = ::/0\n"
                                 "deny = fe80::/10\n",
                                 NULL);
    int a = expect_served(h_addr(d, "a", "tcp://[")), b = h_connect(h_addr(d, "b", "tcp://["));
    int c;

    expect_refused(d, b, "b", "[::1]", "denied");
    c = expect_served(h_addr(d, "c", "tcp://["));
    close(a), close(b), close(c);
}

static void test_ipv4_mapped_peer_matches_ipv4_rules(void)
{
    /* Scenario: two services on the dual-stack wildcard listener (host *, port 0): one with
     * allow = 127.0.0.0/8, one with deny = 127.0.0.1.  Connections to each
     * over 127.0.0.1 (the peer is ::ffff:127.0.0.1 on the socket) and over
     * ::1.  Asserted: the allow service serves 127.0.0.1 and denies ::1
     * (not in 127.0.0.0/8); the deny service denies 127.0.0.1, logged as
     * peer=127.0.0.1 (not ::ffff:...), and serves ::1. */
    struct h_daemon *d = h_start("[allow]\nlisten = tcp://*:0\nbuiltin = echo\n"
                                 "allow = 127.0.0.0/8\n"
                                 "[deny]\nlisten = tcp://*:0\nbuiltin = echo\ndeny = 127.0.0.1\n",
                                 NULL);
    char v6[2][64];
    int fd;

    for (int i = 0; i < 2; i++)
        snprintf(v6[i], sizeof(v6[i]), "tcp://[::1]:%d",
                 h_port(h_addr(d, i == 0 ? "allow" : "deny", "tcp://*")));
    close(expect_served(h_addr(d, "allow", "tcp://*")));
    fd = h_connect(v6[0]);
    expect_refused(d, fd, "allow", "[::1]", "denied");
    close(fd);
    fd = h_connect(h_addr(d, "deny", "tcp://*"));
    expect_refused(d, fd, "deny", "127.0.0.1", "denied");
    close(fd);
    close(expect_served(v6[1]));
    if (h_count_log(d, "::ffff:") != 0)
        T_FAIL("a mapped address in the log:\n%s", h_log(d));
}

static void test_unix_peers_ignore_allow_and_deny(void)
{
    /* Scenario: echo on a Unix socket and 127.0.0.1 with allow = 10.0.0.0/8
     * and deny = 0.0.0.0/0 ::/0.  Asserted: the Unix connection is served
     * (a Unix peer has no address to match), the TCP one denied. */
    struct h_daemon *d = h_start("[echo]\nlisten = unix:@DIR@/e.sock tcp://127.0.0.1:0\n"
                                 "builtin = echo\nallow = 10.0.0.0/8\ndeny = 0.0.0.0/0 ::/0\n",
                                 NULL);
    int tcp;

    close(expect_served(h_addr(d, "echo", "unix:")));
    tcp = h_connect(h_addr(d, "echo", "tcp://127"));
    expect_refused(d, tcp, "echo", "127.0.0.1", "denied");
    close(tcp);
}

/* --- UDP ------------------------------------------------------------------- */

/* Send `n` "ping" datagrams on `fd` back to back; count the replies within 500 ms of quiet. */
static int udp_burst(int fd, int n)
{
    char buf[64];
    int replies = 0;

    for (int i = 0; i < n; i++)
        if (send(fd, "ping", 4, 0) != 4)
            T_FAIL("send: %s", strerror(errno));
    while (h_recv_within(fd, buf, sizeof(buf), 500) == 4)
        replies++;
    return replies;
}

static void test_udp_deny_drops_and_counts(void)
{
    /* Scenario: UDP echo with deny = 127.0.0.2; a request from 127.0.0.2,
     * then one from 127.0.0.1.  Asserted: no reply to the first, a reply to
     * the second; stats: dgrams_in=2 dgrams_out=1 dgrams_dropped=1
     * refused=1; the drop is logged as a proto=udp line with end=denied. */
    struct h_daemon *d = h_start("[echo]\nlisten = udp://127.0.0.1:0\nbuiltin = echo\n"
                                 "deny = 127.0.0.2\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "udp://127");
    int denied = h_connect_from("udp://127.0.0.2:0", echo), ok = h_connect(echo);
    char *stats;

    T_ASSERT(denied >= 0);
    T_EQ_INT(udp_burst(denied, 1), 0);
    T_EQ_INT(udp_burst(ok, 1), 1);
    stats = h_stats(d, "echo");
    T_EQ_INT(h_log_field(stats, "dgrams_in"), 2);
    T_EQ_INT(h_log_field(stats, "dgrams_out"), 1);
    T_EQ_INT(h_log_field(stats, "dgrams_dropped"), 1);
    T_EQ_INT(h_log_field(stats, "refused"), 1);
    T_CONTAINS(h_log_line(d, "end=denied"), "service=echo proto=udp peer=127.0.0.2:");
}

static void test_udp_rate_drops_the_excess(void)
{
    /* Scenario: UDP echo with rate = 3/s; 8 requests sent back to back.
     * Asserted: exactly 3 replies; stats: dgrams_in=8 dgrams_out=3
     * dgrams_dropped=5 refused=5; the drops are logged end=refused:rate
     * (one line, the rest summed up). */
    struct h_daemon *d = h_start("[echo]\nlisten = udp://127.0.0.1:0\nbuiltin = echo\n"
                                 "rate = 3/s\n",
                                 NULL);
    int fd = h_connect(h_addr(d, "echo", "udp://127"));
    char *stats;

    T_EQ_INT(udp_burst(fd, 8), 3);
    stats = h_stats(d, "echo");
    T_EQ_INT(h_log_field(stats, "dgrams_in"), 8);
    T_EQ_INT(h_log_field(stats, "dgrams_out"), 3);
    T_EQ_INT(h_log_field(stats, "dgrams_dropped"), 5);
    T_EQ_INT(h_log_field(stats, "refused"), 5);
    T_ASSERT(h_wait_log(d, "proto=udp", 2000));
    T_CONTAINS(h_log_line(d, "proto=udp"), "end=refused:rate");
}

static void test_udp_rate_per_ip_drops_per_address(void)
{
    /* Scenario: UDP echo with rate_per_ip = 2/s; 5 requests back to back
     * from 127.0.0.2, then 5 from 127.0.0.3.  Asserted: 2 replies to each
     * address; stats dgrams_dropped=6 refused=6. */
    struct h_daemon *d = h_start("[echo]\nlisten = udp://127.0.0.1:0\nbuiltin = echo\n"
                                 "rate_per_ip = 2/s\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "udp://127");
    int a = h_connect_from("udp://127.0.0.2:0", echo),
        b = h_connect_from("udp://127.0.0.3:0", echo);
    char *stats;

    T_ASSERT(a >= 0 && b >= 0);
    T_EQ_INT(udp_burst(a, 5), 2);
    T_EQ_INT(udp_burst(b, 5), 2);
    stats = h_stats(d, "echo");
    T_EQ_INT(h_log_field(stats, "dgrams_dropped"), 6);
    T_EQ_INT(h_log_field(stats, "refused"), 6);
}

/* --- max_time -------------------------------------------------------------- */

static void test_max_time_ends_a_busy_builtin_connection(void)
{
    /* Scenario: echo with max_time = 1s (idle_timeout far away); we keep it
     * busy with a byte every 100 ms.  Asserted: the daemon closes it about
     * 1 s after it began, though active (not before 900 ms), logged
     * end=max_time. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "max_time = 1s\nidle_timeout = 60s\n",
                                 NULL);
    int fd = h_connect(h_addr(d, "echo", "tcp://127"));
    int64_t start = h_now_ms(), limit = start + 1000 + 1500 * (int64_t)t_scale();
    char c;

    for (;;) {
        ssize_t n;
        (void)send(fd, "x", 1, MSG_NOSIGNAL);
        n = h_recv_within(fd, &c, 1, 1000);
        if (n <= 0)
            break; /* closed (EOF, or a reset of the byte in flight) */
        if (h_now_ms() > limit)
            T_FAIL("still served %lld ms after it began, max_time = 1s",
                   (long long)(h_now_ms() - start));
        usleep(100000); /* pacing: the activity */
    }
    if (h_now_ms() - start < 900)
        T_FAIL("closed after %lld ms, before max_time = 1s", (long long)(h_now_ms() - start));
    T_ASSERT(h_wait_log(d, "usherd: service=echo ", 5000));
    T_CONTAINS(h_log_line(d, "usherd: service=echo "), "end=max_time");
}

static void test_max_time_kills_an_exec_child_that_ignores_sigterm(void)
{
    /* Scenario: an exec service whose program ignores SIGTERM (a shell that
     * traps it and sleeps), max_time = 1s.  Asserted: at ~1 s usherd logs
     * "max_time reached: SIGTERM", the grace period later (h_grace_ms)
     * "SIGKILL"; the connection ends after 1 s + the grace, within that +
     * slack, and its line says end=signal:9. */
    struct h_daemon *d = h_start("[slow]\nlisten = tcp://127.0.0.1:0\n"
                                 "exec = /bin/sh -c \"trap '' TERM; echo up; sleep 30\"\n"
                                 "max_time = 1s\n",
                                 NULL);
    int fd = h_connect(h_addr(d, "slow", "tcp://127"));
    int64_t start = h_now_ms(), took;
    char line[16];

    h_recv_line(fd, line, sizeof(line));
    T_EQ_STR(line, "up");
    if (!h_wait_closed(fd, 8000))
        T_FAIL("still open 8 s after max_time = 1s:\n%s", h_log(d));
    took = h_now_ms() - start;
    if (took < 1000 + h_grace_ms() - 100 || took > 1000 + h_grace_ms() + 1500 * (int64_t)t_scale())
        T_FAIL("ended after %lld ms: want SIGTERM at 1 s, SIGKILL %d ms later", (long long)took,
               h_grace_ms());
    T_ASSERT(h_wait_log(d, "usherd: service=slow proto=tcp", 5000));
    T_CONTAINS(h_log(d), "max_time reached: SIGTERM");
    T_CONTAINS(h_log(d), "SIGKILL");
    T_CONTAINS(h_log_line(d, "usherd: service=slow proto=tcp"), "end=signal:9");
}

/* --- the refusal log and floods -------------------------------------------- */

/* Sum of N over "service=S: N more refused in the last second (end=E)" lines. */
static long summed_refusals(struct h_daemon *d, const char *service, const char *end, int *lines)
{
    char *log = h_log(d), head[96], tail[64];
    long sum = 0;

    snprintf(head, sizeof(head), "service=%s: ", service);
    snprintf(tail, sizeof(tail), " more refused in the last second (end=%s)", end);
    *lines = 0;
    for (char *line = log, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        char *h;
        *nl = '\0';
        if ((h = strstr(line, head)) != NULL && strstr(line, tail) != NULL) {
            sum += strtol(h + strlen(head), NULL, 10);
            (*lines)++;
        }
    }
    free(log);
    return sum;
}

static void test_refusal_flood_logged_once_a_second_with_summary(void)
{
    /* Scenario: echo with max_conns = 1, one connection held; a flood of
     * 200 connections, each refused, spread over ~2.5 s (one every 12 ms) so
     * that it spans several one-second windows.  Asserted: at most one
     * end=refused:max_conns line per second the flood lasted (plus one), and
     * no more summary lines "service=echo: N more refused in the last second
     * (end=refused:max_conns)" than that; lines + summed N = 200 exactly
     * once the last summary is in (~1 s after); stats refused=200. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "max_conns = 1\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    int held = expect_served(echo), lines = 0, summaries = 0;
    int64_t start = h_now_ms(), took, deadline;
    long summed = 0;

    for (int i = 0; i < 200; i++) {
        int fd = h_connect(echo);
        if (!h_wait_closed(fd, 2000))
            T_FAIL("refused connection %d not closed", i);
        close(fd);
        usleep(12000); /* pacing: a sustained flood */
    }
    took = h_now_ms() - start;
    for (deadline = h_now_ms() + 3000 * (int64_t)t_scale(); h_now_ms() < deadline; usleep(20000)) {
        lines = h_count_log(d, "end=refused:max_conns\n");
        summed = summed_refusals(d, "echo", "refused:max_conns", &summaries);
        if (lines + summed >= 200)
            break;
    }
    t_note("200 refusals in %lld ms: %d lines, %d summaries of %ld", (long long)took, lines,
           summaries, summed);
    if (lines + summed != 200)
        T_FAIL("%d lines + %ld summed up = %ld refusals, want 200:\n%s", lines, summed,
               lines + summed, h_log(d));
    if (lines > 2 + (int)(took / 1000) || summaries > 2 + (int)(took / 1000))
        T_FAIL("%d refusal lines and %d summaries for a flood of %lld ms", lines, summaries,
               (long long)took);
    T_EQ_INT(h_log_field(h_stats(d, "echo"), "refused"), 200);
    T_ASSERT(served(held));
}

static void test_flood_over_max_conns_leaves_connections_working(void)
{
    /* Scenario: echo with max_conns = 10, ten connections held; a flood of
     * 600 connections opened as fast as the kernel takes them (left open
     * until the daemon closes them), with an exchange on every held
     * connection after each 100.  Asserted: every exchange works during and
     * after the flood; all 600 are closed without a byte; stats:
     * refused=600, conns_now=10. */
    enum { HELD = 10, FLOOD = 600 };
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "max_conns = 10\n",
                                 NULL);
    const char *echo = h_addr(d, "echo", "tcp://127");
    static int held[HELD], flood[FLOOD];
    struct rlimit rl;
    char *stats;

    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < FLOOD + 100) {
        rl.rlim_cur = rl.rlim_max < FLOOD + 100 ? rl.rlim_max : FLOOD + 100;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    for (int i = 0; i < HELD; i++)
        held[i] = expect_served(echo);
    for (int i = 0; i < FLOOD; i++) {
        flood[i] = h_connect(echo);
        if (i % 100 == 99)
            for (int j = 0; j < HELD; j++)
                if (!served(held[j]))
                    T_FAIL("held connection %d lost during the flood (after %d)", j, i + 1);
    }
    for (int i = 0; i < FLOOD; i++) {
        char c;
        ssize_t n = h_recv_within(flood[i], &c, 1, 5000);
        if (n > 0)
            T_FAIL("flood connection %d got a byte", i);
        if (n < 0 && !h_wait_closed(flood[i], 1))
            T_FAIL("flood connection %d not closed within 5 s", i);
        close(flood[i]);
    }
    for (int j = 0; j < HELD; j++)
        if (!served(held[j]))
            T_FAIL("held connection %d lost after the flood", j);
    stats = h_stats(d, "echo");
    T_EQ_INT(h_log_field(stats, "refused"), FLOOD);
    T_EQ_INT(h_log_field(stats, "conns_now"), HELD);
}

static const struct t_case cases[] = {
    T_CASE(test_max_conns_refuses_beyond_the_service_limit),
    T_CASE(test_max_per_ip_counts_each_ipv4_address),
    T_CASE(test_max_per_ip_groups_ipv6_by_64),
    T_CASE(test_deny_ipv6_prefix),
    T_CASE(test_rate_bursts_refuses_then_recovers),
    T_CASE(test_rate_per_minute_counts_a_minute),
    T_CASE(test_rate_per_ip_has_a_bucket_per_address),
    T_CASE(test_rate_per_ip_groups_ipv6_by_64),
    T_CASE(test_allow_and_deny_ipv4),
    T_CASE(test_allow_list_refuses_everyone_else),
    T_CASE(test_allow_and_deny_ipv6),
    T_CASE(test_ipv4_mapped_peer_matches_ipv4_rules),
    T_CASE(test_unix_peers_ignore_allow_and_deny),
    T_CASE(test_udp_deny_drops_and_counts),
    T_CASE(test_udp_rate_drops_the_excess),
    T_CASE(test_udp_rate_per_ip_drops_per_address),
    T_CASE(test_max_time_ends_a_busy_builtin_connection),
    T_CASE(test_max_time_kills_an_exec_child_that_ignores_sigterm),
    T_CASE(test_refusal_flood_logged_once_a_second_with_summary),
    T_CASE(test_flood_over_max_conns_leaves_connections_working),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
