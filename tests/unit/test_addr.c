/*
 * Unit tests: address parsing, resolution, formatting, prefixes (addr.c).
 */
#include "addr.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *text;
    int rc;
    enum addr_kind kind;
    const char *host, *port, *path;
    const char *err; /* part of the message, for failures */
} parse_cases[] = {
    {"tcp://127.0.0.1:7", 0, ADDR_TCP, "127.0.0.1", "7", "", NULL},
    {"udp://[::1]:7", 0, ADDR_UDP, "::1", "7", "", NULL},
    {"tcp://*:0", 0, ADDR_TCP, "*", "0", "", NULL},
    {"tcp://localhost:echo", 0, ADDR_TCP, "localhost", "echo", "", NULL},
    {"unix:/run/x.sock", 0, ADDR_UNIX, "", "", "/run/x.sock", NULL},
    {"unixgram:/run/x.dgram", 0, ADDR_UNIXGRAM, "", "", "/run/x.dgram", NULL},
    {"unix:@abstract", 0, ADDR_UNIX, "", "", "@abstract", NULL},
    {"tcp://::1:7", -1, 0, NULL, NULL, NULL, "brackets"},
    {"tcp://127.0.0.1", -1, 0, NULL, NULL, NULL, "missing :PORT"},
    {"tcp://127.0.0.1:", -1, 0, NULL, NULL, NULL, "missing port"},
    {"tcp://:7", -1, 0, NULL, NULL, NULL, "missing host"},
    {"tcp://[::1:7", -1, 0, NULL, NULL, NULL, "[IPV6]:PORT"},
    {"sctp://1.2.3.4:5", -1, 0, NULL, NULL, NULL, "expected tcp://"},
    {"unix:", -1, 0, NULL, NULL, NULL, "empty"},
    {"127.0.0.1:7", -1, 0, NULL, NULL, NULL, "expected"},
    /* Ports: 0-65535, never wrapped as getaddrinfo's strtoul would. */
    {"tcp://127.0.0.1:65535", 0, ADDR_TCP, "127.0.0.1", "65535", "", NULL},
    {"udp://[::1]:00007", 0, ADDR_UDP, "::1", "00007", "", NULL},
    {"tcp://127.0.0.1:65536", -1, 0, NULL, NULL, NULL,
     "port '65536' is outside the range 0 to 65535"},
    {"tcp://127.0.0.1:99999", -1, 0, NULL, NULL, NULL,
     "port '99999' is outside the range 0 to 65535"},
    {"udp://[::1]:18446744073709551623", -1, 0, NULL, NULL, NULL, "0 to 65535"},
    {"tcp://127.0.0.1:-1", -1, 0, NULL, NULL, NULL, "port '-1' is not a number from 0 to 65535"},
    {"tcp://127.0.0.1:+7", -1, 0, NULL, NULL, NULL, "0 to 65535"},
    {"tcp://127.0.0.1: 7", -1, 0, NULL, NULL, NULL, "0 to 65535"},
    {"tcp://127.0.0.1:0x10", -1, 0, NULL, NULL, NULL, "0 to 65535"},
    {"tcp://127.0.0.1:7s", -1, 0, NULL, NULL, NULL, "0 to 65535"},
};

static void test_parse(void)
{
    for (size_t i = 0; i < ARRAY_LEN(parse_cases); i++) {
        struct addr_spec spec;
        char err[256] = "";
        int rc = addr_parse(parse_cases[i].text, &spec, err, sizeof(err));
        if (rc != parse_cases[i].rc)
            T_FAIL("addr_parse(\"%s\") = %d (%s)", parse_cases[i].text, rc, err);
        if (rc < 0) {
            if (strstr(err, parse_cases[i].err) == NULL)
                T_FAIL("addr_parse(\"%s\"): message \"%s\" lacks \"%s\"", parse_cases[i].text, err,
                       parse_cases[i].err);
            continue;
        }
        T_EQ_INT(spec.kind, parse_cases[i].kind);
        T_EQ_STR(spec.host, parse_cases[i].host);
        T_EQ_STR(spec.port, parse_cases[i].port);
        T_EQ_STR(spec.path, parse_cases[i].path);
    }
}

/* tls:// is TCP with the flag; resolving keeps it, and the scheme says it. */
static void test_parse_tls(void)
{
    struct addr_spec spec;
    struct addr a[4];
    char err[256] = "";

    T_EQ_INT(addr_parse("tls://127.0.0.1:443", &spec, err, sizeof(err)), 0);
    T_EQ_INT(spec.kind, ADDR_TCP);
    T_ASSERT(spec.tls);
    T_EQ_STR(spec.port, "443");
    T_EQ_INT(addr_resolve(&spec, true, a, 4, err, sizeof(err)), 1);
    T_ASSERT(a[0].tls);
    T_EQ_STR(addr_scheme(&a[0]), "tls");
    T_EQ_INT(addr_parse("tcp://127.0.0.1:443", &spec, err, sizeof(err)), 0);
    T_ASSERT(!spec.tls);
    T_EQ_INT(addr_resolve(&spec, true, &a[1], 1, err, sizeof(err)), 1);
    T_EQ_STR(addr_scheme(&a[1]), "tcp");
    /* The same socket either way: a reload may keep it. */
    T_ASSERT(addr_equal(&a[0], &a[1]));
    T_EQ_INT(addr_parse("tls://[::1]:99999", &spec, err, sizeof(err)), -1);
}

static void test_parse_long_path(void)
{
    /* sun_path holds 107 bytes and a NUL: one more is refused. */
    char text[200] = "unix:/";
    struct addr_spec spec;
    char err[256];

    memset(text + 6, 'a', 107);
    T_EQ_INT(addr_parse(text, &spec, err, sizeof(err)), -1);
    T_CONTAINS(err, "longer than");
    text[6 + 106] = '\0';
    T_EQ_INT(addr_parse(text, &spec, err, sizeof(err)), 0);
}

static void resolve_one(const char *text, bool passive, struct addr *a)
{
    struct addr_spec spec;
    char err[256];

    if (addr_parse(text, &spec, err, sizeof(err)) < 0 ||
        addr_resolve(&spec, passive, a, 1, err, sizeof(err)) < 1)
        T_FAIL("%s: %s", text, err);
}

static void test_resolve_and_format(void)
{
    /* Literals resolve to themselves and format back to the same text. */
    static const char *const texts[] = {
        "tcp://127.0.0.1:7",
        "udp://[::1]:10007",
        "unix:/tmp/x.sock",
        "unixgram:@abs",
    };
    for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
        struct addr a;
        char buf[ADDR_TEXT_MAX];
        resolve_one(texts[i], true, &a);
        T_EQ_INT(addr_format(a.kind, (struct sockaddr *)&a.ss, a.len, buf, sizeof(buf)), 0);
        T_EQ_STR(buf, texts[i]);
    }
}

/* Text that formats back differently, but to the same socket address. */
static const struct {
    const char *text, *formatted;
} format_cases[] = {
    /* As the fuzzer found it: the scope of a link-local address was dropped. */
    {"tcp://[::f:1f:1:f:0%02]:8", "tcp://[::f:1f:1:f:0%2]:8"},
    {"udp://[fe80::1%1]:7", "udp://[fe80::1%1]:7"},
    {"tcp://[::ffff:10.0.0.1]:80", "tcp://10.0.0.1:80"},
    {"tcp://127.1:echo", "tcp://127.0.0.1:7"},
};

static void test_format_round_trip(void)
{
    for (size_t i = 0; i < ARRAY_LEN(format_cases); i++) {
        struct addr a, back;
        char buf[ADDR_TEXT_MAX];
        resolve_one(format_cases[i].text, true, &a);
        T_EQ_INT(addr_format(a.kind, (struct sockaddr *)&a.ss, a.len, buf, sizeof(buf)), 0);
        T_EQ_STR(buf, format_cases[i].formatted);
        resolve_one(buf, true, &back);
        if (a.ss.ss_family == back.ss.ss_family && !addr_equal(&a, &back))
            T_FAIL("case %zu: %s resolves to another address than %s", i, buf,
                   format_cases[i].text);
    }
}

static void test_resolve_wildcard(void)
{
    /* "*" is [::] for listening (both families), and refused for connecting. */
    struct addr a;
    struct addr_spec spec;
    char err[256];

    resolve_one("tcp://*:7", true, &a);
    T_ASSERT(a.wildcard);
    T_EQ_INT(a.ss.ss_family, AF_INET6);
    T_EQ_INT(addr_port((struct sockaddr *)&a.ss), 7);
    addr_parse("tcp://*:7", &spec, err, sizeof(err));
    T_EQ_INT(addr_resolve(&spec, false, &a, 1, err, sizeof(err)), -1);
}

static void test_resolve_service_name(void)
{
    /* Ports may be service names from /etc/services (skipped without one). */
    struct addr_spec spec;
    struct addr a;
    char err[256];

    addr_parse("tcp://127.0.0.1:echo", &spec, err, sizeof(err));
    if (addr_resolve(&spec, true, &a, 1, err, sizeof(err)) < 0)
        t_skip("no 'echo' in the services database: %s", err);
    T_EQ_INT(addr_port((struct sockaddr *)&a.ss), 7);
}

static void test_resolve_bad_host(void)
{
    struct addr_spec spec;
    struct addr a;
    char err[256];

    addr_parse("tcp://no-such-host.invalid:7", &spec, err, sizeof(err));
    T_EQ_INT(addr_resolve(&spec, true, &a, 1, err, sizeof(err)), -1);
    T_CONTAINS(err, "no-such-host.invalid");
}

static void test_format_peer_unmaps(void)
{
    /* IPv4-mapped IPv6 peers are shown as IPv4. */
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(5432)};
    char buf[ADDR_TEXT_MAX];

    inet_pton(AF_INET6, "::ffff:192.0.2.1", &s6.sin6_addr);
    T_EQ_INT(addr_format_peer((struct sockaddr *)&s6, sizeof(s6), buf, sizeof(buf)), 0);
    T_EQ_STR(buf, "192.0.2.1:5432");
    inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
    addr_format_peer((struct sockaddr *)&s6, sizeof(s6), buf, sizeof(buf));
    T_EQ_STR(buf, "[2001:db8::1]:5432");
}

static void test_format_peer_unix_path_is_one_word(void)
{
    /* A Unix peer chooses its path: escaped, its spaces too (a log field's one word). */
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char buf[ADDR_TEXT_MAX];
    socklen_t len;

    snprintf(sun.sun_path, sizeof(sun.sun_path), "/tmp/a b=c\x1b");
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sun.sun_path) + 1);
    T_EQ_INT(addr_format_peer((struct sockaddr *)&sun, len, buf, sizeof(buf)), 0);
    T_EQ_STR(buf, "/tmp/a\\x20b=c\\x1b");
    sun.sun_path[0] = '\0'; /* abstract: "@" and the rest, its length without a NUL */
    T_EQ_INT(addr_format_peer((struct sockaddr *)&sun, len - 1, buf, sizeof(buf)), 0);
    T_EQ_STR(buf, "@tmp/a\\x20b=c\\x1b");
}

static bool match(const char *prefix, const char *ip)
{
    struct addr_prefix p;
    struct sockaddr_storage ss = {0};
    socklen_t len;
    char err[256];

    if (addr_prefix_parse(prefix, &p, err, sizeof(err)) < 0)
        T_FAIL("prefix %s: %s", prefix, err);
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &s6->sin6_addr);
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &s4->sin_addr);
        len = sizeof(*s4);
    }
    addr_unmap(&ss, &len);
    return addr_prefix_match(&p, (struct sockaddr *)&ss);
}

static void test_prefixes(void)
{
    T_ASSERT(match("10.0.0.0/8", "10.200.3.4"));
    T_ASSERT(!match("10.0.0.0/8", "11.0.0.1"));
    T_ASSERT(match("127.0.0.1", "127.0.0.1"));
    T_ASSERT(!match("127.0.0.1", "127.0.0.2"));
    T_ASSERT(match("192.168.1.128/25", "192.168.1.200"));
    T_ASSERT(!match("192.168.1.128/25", "192.168.1.100"));
    T_ASSERT(match("0.0.0.0/0", "8.8.8.8"));
    T_ASSERT(!match("0.0.0.0/0", "::1"));
    T_ASSERT(match("::1", "::1"));
    T_ASSERT(match("2001:db8::/32", "2001:db8:ffff::1"));
    T_ASSERT(!match("2001:db8::/32", "2001:db9::1"));
    /* IPv4-mapped peers match IPv4 rules, and mapped rules are IPv4 rules. */
    T_ASSERT(match("127.0.0.0/8", "::ffff:127.0.0.1"));
    T_ASSERT(match("::ffff:10.0.0.0/104", "10.1.2.3"));
}

static void test_prefix_errors(void)
{
    struct addr_prefix p;
    char err[256];

    T_EQ_INT(addr_prefix_parse("10.0.0.0/33", &p, err, sizeof(err)), -1);
    T_EQ_INT(addr_prefix_parse("::/129", &p, err, sizeof(err)), -1);
    T_EQ_INT(addr_prefix_parse("example.com", &p, err, sizeof(err)), -1);
    T_EQ_INT(addr_prefix_parse("/8", &p, err, sizeof(err)), -1);
    T_EQ_INT(addr_prefix_parse("10.0.0.0/", &p, err, sizeof(err)), -1);
}

static const struct t_case cases[] = {
    T_CASE(test_parse),
    T_CASE(test_parse_long_path),
    T_CASE(test_resolve_and_format),
    T_CASE(test_format_round_trip),
    T_CASE(test_resolve_wildcard),
    T_CASE(test_resolve_service_name),
    T_CASE(test_resolve_bad_host),
    T_CASE(test_format_peer_unmaps),
    T_CASE(test_format_peer_unix_path_is_one_word),
    T_CASE(test_prefixes),
    T_CASE(test_prefix_errors),
    T_CASE(test_parse_tls),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
