/*
 * Unit tests: a client address as log_ip shows it (logip.c): every mode
 * on IPv4, IPv6 and IPv4-mapped IPv6 addresses, as a table; the hash is
 * SipHash-2-4 of the address bytes (checked against values computed
 * apart), the same for one address whatever its port, different for
 * another address or another key; Unix peers are never changed; a buffer
 * too small is an error, never a cut address.
 */
#include "logip.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

/* The key 00 01 ... 0f. */
static const uint8_t key[LOGIP_KEY_LEN] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* An IPv4 or IPv6 (a ':' in it) socket address. */
static socklen_t sockaddr_of(const char *ip, unsigned port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(ip, ':') == NULL) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        T_ASSERT(inet_pton(AF_INET, ip, &s4->sin_addr) == 1);
        return sizeof(*s4);
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    T_ASSERT(inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1);
    return sizeof(*s6);
}

static const char *shown(enum log_ip mode, const uint8_t *k, const char *ip, unsigned port)
{
    static char buf[128];
    struct sockaddr_storage ss;
    socklen_t len = sockaddr_of(ip, port, &ss);

    T_EQ_INT(logip_format(mode, k, (struct sockaddr *)&ss, len, buf, sizeof(buf)), 0);
    return buf;
}

static void test_modes_by_name(void)
{
    static const struct {
        const char *name;
        int mode;
    } names[] = {
        {"full", LOG_IP_FULL}, {"truncate", LOG_IP_TRUNCATE},
        {"hash", LOG_IP_HASH}, {"none", LOG_IP_NONE},
        {"Full", -1},          {"", -1},
        {"hashed", -1},        {"truncate ", -1},
    };

    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        T_EQ_INT(logip_parse(names[i].name), names[i].mode);
        if (names[i].mode >= 0)
            T_EQ_STR(logip_name((enum log_ip)names[i].mode), names[i].name);
    }
}

static void test_every_mode_on_every_family(void)
{
    static const struct {
        enum log_ip mode;
        const char *ip;
        const char *want;
    } cases[] = {
        {LOG_IP_FULL, "192.0.2.7", "192.0.2.7:51234"},
        {LOG_IP_FULL, "2001:db8:1:2::7", "[2001:db8:1:2::7]:51234"},
        {LOG_IP_FULL, "::ffff:192.0.2.7", "192.0.2.7:51234"},
        {LOG_IP_TRUNCATE, "192.0.2.7", "192.0.2.0/24"},
        {LOG_IP_TRUNCATE, "10.255.255.255", "10.255.255.0/24"},
        {LOG_IP_TRUNCATE, "2001:db8:1:2::7", "2001:db8:1::/48"},
        {LOG_IP_TRUNCATE, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:ffff::/48"},
        {LOG_IP_TRUNCATE, "::1", "::/48"},
        {LOG_IP_TRUNCATE, "::ffff:192.0.2.7", "192.0.2.0/24"},
        {LOG_IP_HASH, "192.0.2.7", "h:c69bf1dbb3623ddd"},
        {LOG_IP_HASH, "::ffff:192.0.2.7", "h:c69bf1dbb3623ddd"},
        {LOG_IP_HASH, "2001:db8:1:2::7", "h:4bd36cc7cc33a56f"},
        {LOG_IP_NONE, "192.0.2.7", "-"},
        {LOG_IP_NONE, "2001:db8:1:2::7", "-"},
        {LOG_IP_NONE, "::ffff:192.0.2.7", "-"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *got = shown(cases[i].mode, key, cases[i].ip, 51234);
        if (strcmp(got, cases[i].want) != 0)
            T_FAIL("%s of %s: got \"%s\", want \"%s\"", logip_name(cases[i].mode), cases[i].ip, got,
                   cases[i].want);
    }
}

static void test_hash_is_stable_and_keyed(void)
{
    /* One address, any port: one value.  Another address, or another key: another value. */
    static const uint8_t other_key[LOGIP_KEY_LEN] = {1};
    char a[64], b[64];

    snprintf(a, sizeof(a), "%s", shown(LOG_IP_HASH, key, "198.51.100.1", 1));
    T_EQ_STR(shown(LOG_IP_HASH, key, "198.51.100.1", 65535), a);
    T_ASSERT(strcmp(shown(LOG_IP_HASH, key, "198.51.100.2", 1), a) != 0);
    T_ASSERT(strcmp(shown(LOG_IP_HASH, other_key, "198.51.100.1", 1), a) != 0);
    /* "h:" and 16 lowercase hex digits. */
    T_EQ_INT(strlen(a), 18);
    T_ASSERT(strncmp(a, "h:", 2) == 0 && strspn(a + 2, "0123456789abcdef") == 16);
    snprintf(b, sizeof(b), "%s", shown(LOG_IP_HASH, key, "2001:db8::1", 1));
    T_ASSERT(strcmp(a, b) != 0);
}

static void test_hash_without_a_key_hides_the_address(void)
{
    T_EQ_STR(shown(LOG_IP_HASH, NULL, "192.0.2.7", 80), "-");
}

static void test_unix_peers_are_shown_as_they_are(void)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    socklen_t len;
    char buf[128];

    snprintf(sun.sun_path, sizeof(sun.sun_path), "/tmp/client.sock");
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sun.sun_path) + 1);
    for (int mode = LOG_IP_FULL; mode <= LOG_IP_NONE; mode++) {
        T_EQ_INT(
            logip_format((enum log_ip)mode, key, (struct sockaddr *)&sun, len, buf, sizeof(buf)),
            0);
        T_EQ_STR(buf, "/tmp/client.sock");
    }
}

static void test_too_small_a_buffer_is_an_error(void)
{
    /* Never a cut address, which could pass for another one. */
    struct sockaddr_storage ss;
    socklen_t len = sockaddr_of("192.0.2.7", 80, &ss);
    char buf[8];

    for (int mode = LOG_IP_FULL; mode <= LOG_IP_HASH; mode++) {
        T_EQ_INT(logip_format((enum log_ip)mode, key, (struct sockaddr *)&ss, len, buf, 8), -1);
        T_EQ_STR(buf, "?");
    }
    T_EQ_INT(logip_format(LOG_IP_NONE, key, (struct sockaddr *)&ss, len, buf, 2), 0);
    T_EQ_STR(buf, "-");
    /* A socket address shorter than its family's: not an address. */
    T_EQ_INT(logip_format(LOG_IP_TRUNCATE, key, (struct sockaddr *)&ss, 4, buf, sizeof(buf)), -1);
}

static const struct t_case cases[] = {
    T_CASE(test_modes_by_name),
    T_CASE(test_every_mode_on_every_family),
    T_CASE(test_hash_is_stable_and_keyed),
    T_CASE(test_hash_without_a_key_hides_the_address),
    T_CASE(test_unix_peers_are_shown_as_they_are),
    T_CASE(test_too_small_a_buffer_is_an_error),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
