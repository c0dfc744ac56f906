/*
 * Unit tests: every numeric key of the key table (conf_keys.c) against its
 * range.  The table below has an entry per numeric key; a numeric key in
 * the key table without one fails the test, so a new key cannot come
 * without its range cases.
 */
#include "conf.h"
#include "conf_parse.h"
#include "t.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUES_MAX 12

struct range_case {
    const char *key;
    enum conf_key_scope scope;
    const char *pre, *post;       /* around a number in the value: "prefork:", "/s" */
    const char *range;            /* what every refusal must say */
    const char *good[VALUES_MAX]; /* the boundaries and other values accepted */
    const char *bad[VALUES_MAX];  /* refused (besides `malformed`) */
};

#define DURATION_GOOD                                                                              \
    {                                                                                              \
        "0", "31536000", "31536000s", "525600m", "8760h", "31536000000ms", "500ms"                 \
    }
#define DURATION_BAD                                                                               \
    {                                                                                              \
        "-1", "31536001", "8761h", "31536000001ms", "9223372036854775807ms",                       \
            "18446744073709551615ms", "s", "5 s", "5sec", "5d"                                     \
    }
#define DURATION_RANGE "is not a duration from 0 to 365 days"
#define SIZE_GOOD                                                                                  \
    {                                                                                              \
        "0", "9223372036854775807", "8589934591G", "8796093022207M", "unlimited"                   \
    }
#define SIZE_BAD                                                                                   \
    {                                                                                              \
        "-1", "9223372036854775808", "8589934592G", "18446744073709551615", "5T", "5kk"            \
    }
#define SIZE_RANGE "is not a size from 0 to 2^63-1 bytes (K, M, G) or unlimited"
#define COUNTS_GOOD                                                                                \
    {                                                                                              \
        "0", "10000000"                                                                            \
    }
#define COUNTS_BAD                                                                                 \
    {                                                                                              \
        "-1", "10000001"                                                                           \
    }
#define COUNTS_RANGE "is not a whole number from 0 to 10000000"
#define ID_GOOD                                                                                    \
    {                                                                                              \
        "0", "4294967294"                                                                          \
    }
#define ID_BAD                                                                                     \
    {                                                                                              \
        "-1", "4294967295"                                                                         \
    }

static const struct range_case range_cases[] = {
    {"shutdown_timeout", IN_GLOBAL, "", "", DURATION_RANGE, DURATION_GOOD, DURATION_BAD},
    {"idle_timeout", IN_SERVICE, "", "", DURATION_RANGE, DURATION_GOOD, DURATION_BAD},
    {"max_time", IN_SERVICE, "", "", DURATION_RANGE, DURATION_GOOD, DURATION_BAD},
    {"proxy_timeout",
     IN_SERVICE,
     "",
     "",
     "is not a duration from 1ms to 1h",
     {"1ms", "1", "3600s", "60m", "1h", "250ms"},
     {"0", "0s", "3601s", "3600001ms", "-1", "2h", "9223372036854775807ms"}},
    {"connect_timeout",
     IN_SERVICE,
     "",
     "",
     "is not a duration from 1ms to 1h",
     {"1ms", "1", "3600s", "60m", "1h", "250ms"},
     {"0", "0s", "3601s", "3600001ms", "-1", "2h", "9223372036854775807ms"}},
    {"tls_handshake_timeout",
     IN_SERVICE,
     "",
     "",
     "is not a duration from 1ms to 1h",
     {"1ms", "1", "3600s", "60m", "1h", "250ms"},
     {"0", "0s", "3601s", "3600001ms", "-1", "2h", "9223372036854775807ms"}},
    {"rlimit_cpu",
     IN_SERVICE,
     "",
     "",
     "is not a duration from 0 to 365 days or unlimited",
     {"0", "31536000", "8760h", "unlimited"},
     {"-1", "31536001", "8761h", "9223372036854775807ms"}},
    {"keepalive",
     IN_SERVICE,
     "",
     "",
     "is not yes, no, or a duration from 1s to 32767s",
     {"1", "1s", "1000ms", "32767s", "yes", "no"},
     {"0", "999ms", "32768", "32767001ms", "9223372036854775807ms", "-1"}},
    {"rlimit_as", IN_SERVICE, "", "", SIZE_RANGE, SIZE_GOOD, SIZE_BAD},
    {"rlimit_fsize", IN_SERVICE, "", "", SIZE_RANGE, SIZE_GOOD, SIZE_BAD},
    {"rlimit_core", IN_SERVICE, "", "", SIZE_RANGE, SIZE_GOOD, SIZE_BAD},
    {"rlimit_data", IN_SERVICE, "", "", SIZE_RANGE, SIZE_GOOD, SIZE_BAD},
    {"rlimit_rss", IN_SERVICE, "", "", SIZE_RANGE, SIZE_GOOD, SIZE_BAD},
    {"rlimit_stack", IN_SERVICE, "", "", SIZE_RANGE, SIZE_GOOD, SIZE_BAD},
    {"rlimit_nofile",
     IN_SERVICE,
     "",
     "",
     "is not a count from 0 to 2147483647 or unlimited",
     {"0", "2147483647", "unlimited"},
     {"-1", "2147483648"}},
    {"rlimit_nproc",
     IN_SERVICE,
     "",
     "",
     "is not a count from 0 to 2147483647 or unlimited",
     {"0", "2147483647", "unlimited"},
     {"-1", "2147483648"}},
    {"max_conns", IN_GLOBAL, "", "", COUNTS_RANGE, COUNTS_GOOD, COUNTS_BAD},
    {"max_conns", IN_SERVICE, "", "", COUNTS_RANGE, COUNTS_GOOD, COUNTS_BAD},
    {"max_per_ip", IN_SERVICE, "", "", COUNTS_RANGE, COUNTS_GOOD, COUNTS_BAD},
    {"workers",
     IN_GLOBAL,
     "",
     "",
     "is not a whole number from 1 to 256",
     {"1", "256"},
     {"0", "257", "-1"}},
    {"backlog",
     IN_SERVICE,
     "",
     "",
     "is not a whole number from 1 to 65535",
     {"1", "65535"},
     {"0", "65536", "-1"}},
    {"nice",
     IN_SERVICE,
     "",
     "",
     "is not a whole number from -20 to 19",
     {"-20", "0", "19"},
     {"-21", "20"}},
    {"model",
     IN_SERVICE,
     "prefork:",
     "",
     "prefork:N with N from 1 to 1024",
     {"1", "1024"},
     {"0", "1025", "-1"}},
    {"rate",
     IN_SERVICE,
     "",
     "/s",
     "with N from 0 to 10000000",
     {"0", "10000000"},
     {"-1", "10000001"}},
    {"rate_per_ip",
     IN_SERVICE,
     "",
     "/m",
     "with N from 0 to 10000000",
     {"0", "10000000"},
     {"-1", "10000001"}},
    {"umask",
     IN_GLOBAL,
     "",
     "",
     "is not an octal mode from 000 to 777",
     {"0", "000", "777", "0777"},
     {"-1", "1000", "8", "0778"}},
    {"umask",
     IN_SERVICE,
     "",
     "",
     "is not an octal mode from 000 to 777",
     {"0", "000", "777", "0777"},
     {"-1", "1000", "8", "0778"}},
    {"mode",
     IN_SERVICE,
     "",
     "",
     "is not an octal mode from 000 to 777",
     {"0", "000", "777", "0777"},
     {"-1", "1000", "8", "0778"}},
    {"owner", IN_SERVICE, "", "", "(a user name, or a uid from 0 to 4294967294)", ID_GOOD, ID_BAD},
    {"group", IN_SERVICE, "", "", "(a group name, or a gid from 0 to 4294967294)", ID_GOOD, ID_BAD},
};

/*
 * Refused for every numeric key: too large for any type, not decimal, junk
 * before, inside or after (a no-break space, U+00A0, is not a blank).
 * Blanks around a whole value belong to the file's syntax and are trimmed
 * before the key sees it ("max_conns =  5  " is 5), so they are not here.
 */
static const char *const malformed[] = {
    "9223372036854775808",
    "18446744073709551616",
    "99999999999999999999999",
    "1e3",
    "0x10",
    "5x",
    "x5",
    "5 5",
    "5\xc2\xa0",
    "--5",
    "5.5",
    "+-5",
};

static const struct range_case *find_case(const struct conf_key *k)
{
    for (size_t i = 0; i < ARRAY_LEN(range_cases); i++)
        if (strcmp(range_cases[i].key, k->name) == 0 && range_cases[i].scope == k->scope)
            return &range_cases[i];
    return NULL;
}

static const struct conf_key *find_key(const char *name, enum conf_key_scope scope)
{
    const struct conf_key *k;

    for (size_t i = 0; (k = conf_key_at(i)) != NULL; i++)
        if (strcmp(k->name, name) == 0 && k->scope == scope)
            return k;
    return NULL;
}

/*
 * A file where `key = value` is line 2, in a section where every other key
 * is fine: [global], a builtin or an exec service with a unix: listener
 * (which mode, owner and group need), or for a tls_ key a tls:// one.
 */
static void conf_text(const struct conf_key *k, const char *value, char *buf, size_t size)
{
    const char *rest = k->exec_only ? "listen = unix:/tmp/x.sock\nexec = /bin/cat\n"
                                    : "listen = unix:/tmp/x.sock\nbuiltin = echo\n";

    if (strcmp(k->name, "proxy_timeout") == 0)
        rest = "listen = unix:/tmp/x.sock\nbuiltin = echo\nproxy_protocol = v2\n";
    if (strcmp(k->name, "connect_timeout") == 0)
        rest = "listen = tcp://127.0.0.1:0\nforward = tcp://127.0.0.1:7\n";
    if (strncmp(k->name, "tls_", 4) == 0)
        rest = "listen = tls://127.0.0.1:0\nbuiltin = echo\ntls_cert = /c.pem\ntls_key = /k.pem\n";

    if (k->scope == IN_GLOBAL)
        snprintf(buf, size, "[global]\n%s = %s\n[s]\n%s", k->name, value, rest);
    else
        snprintf(buf, size, "[s]\n%s = %s\n%s", k->name, value, rest);
}

static void format_value(const struct range_case *rc, const char *number, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s", rc->pre, number, rc->post);
}

static void expect_accepted(const struct conf_key *k, const char *value)
{
    char text[512], *errors = NULL;
    struct conf *c;

    conf_text(k, value, text, sizeof(text));
    c = conf_parse(text, "t.conf", &errors);
    if (c == NULL)
        T_FAIL("%s = %s refused:\n%s", k->name, value, errors ? errors : "(no message)");
    conf_unref(c);
}

static void expect_refused(const struct conf_key *k, const struct range_case *rc, const char *value)
{
    char text[512], want[256], escaped[400], quoted[420], *errors = NULL;
    struct conf *c;

    conf_text(k, value, text, sizeof(text));
    c = conf_parse(text, "t.conf", &errors);
    if (c != NULL)
        T_FAIL("%s = %s accepted", k->name, value);
    snprintf(want, sizeof(want), "t.conf:2: %s: ", k->name);
    /* Messages quote a value escaped, as they reach the terminal and the log. */
    str_escape(escaped, sizeof(escaped), value, strlen(value));
    snprintf(quoted, sizeof(quoted), "'%s'", escaped);
    if (errors == NULL || strncmp(errors, want, strlen(want)) != 0 ||
        strstr(errors, quoted) == NULL || strstr(errors, rc->range) == NULL)
        T_FAIL("%s = %s: want \"%s...%s...%s\" in:\n%s", k->name, value, want, quoted, rc->range,
               errors ? errors : "(none)");
    free(errors);
}

static void test_every_numeric_key_has_range_cases(void)
{
    /* A numeric key of the table without cases here, or cases for a key
     * that is not (or no longer) a numeric key of the table, fail. */
    const struct conf_key *k;

    for (size_t i = 0; (k = conf_key_at(i)) != NULL; i++)
        if (k->kind != KEY_TEXT && find_case(k) == NULL)
            T_FAIL("numeric key '%s' has no range cases in this test", k->name);
    for (size_t i = 0; i < ARRAY_LEN(range_cases); i++) {
        k = find_key(range_cases[i].key, range_cases[i].scope);
        if (k == NULL || k->kind == KEY_TEXT)
            T_FAIL("range cases for '%s', not a numeric key of the table", range_cases[i].key);
    }
}

static void test_boundaries_accepted(void)
{
    for (size_t i = 0; i < ARRAY_LEN(range_cases); i++) {
        const struct range_case *rc = &range_cases[i];
        const struct conf_key *k = find_key(rc->key, rc->scope);
        T_ASSERT(k != NULL);
        for (size_t j = 0; j < VALUES_MAX && rc->good[j] != NULL; j++) {
            char value[128];
            format_value(rc, rc->good[j], value, sizeof(value));
            expect_accepted(k, value);
        }
    }
}

static void test_out_of_range_refused_with_line_key_and_range(void)
{
    for (size_t i = 0; i < ARRAY_LEN(range_cases); i++) {
        const struct range_case *rc = &range_cases[i];
        const struct conf_key *k = find_key(rc->key, rc->scope);
        T_ASSERT(k != NULL);
        for (size_t j = 0; j < VALUES_MAX && rc->bad[j] != NULL; j++) {
            char value[128];
            format_value(rc, rc->bad[j], value, sizeof(value));
            expect_refused(k, rc, value);
        }
    }
}

static void test_malformed_refused_with_line_key_and_range(void)
{
    for (size_t i = 0; i < ARRAY_LEN(range_cases); i++) {
        const struct range_case *rc = &range_cases[i];
        const struct conf_key *k = find_key(rc->key, rc->scope);
        T_ASSERT(k != NULL);
        for (size_t j = 0; j < ARRAY_LEN(malformed); j++) {
            char value[128];
            format_value(rc, malformed[j], value, sizeof(value));
            expect_refused(k, rc, value);
        }
    }
}

static void test_blanks_around_a_value_are_the_files(void)
{
    /* The reader trims a value; what the key gets is the number alone. */
    char *errors = NULL;
    struct conf *c = conf_parse("[global]\nmax_conns = \t 5 \t\n", "t.conf", &errors);

    if (c == NULL)
        T_FAIL("refused:\n%s", errors);
    T_EQ_INT(c->max_conns, 5);
    conf_unref(c);
}

static const struct t_case cases[] = {
    T_CASE(test_every_numeric_key_has_range_cases),
    T_CASE(test_boundaries_accepted),
    T_CASE(test_out_of_range_refused_with_line_key_and_range),
    T_CASE(test_malformed_refused_with_line_key_and_range),
    T_CASE(test_blanks_around_a_value_are_the_files),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
