/*
 * Unit tests: checked number, duration and size parsing, and escaping
 * for the log (util.c).
 */
#include "t.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static const struct {
    const char *text;
    int64_t min, max;
    int rc, err;
    int64_t value;
} i64_cases[] = {
    {"0", 0, 10, 0, 0, 0},
    {"10", 0, 10, 0, 0, 10},
    {"11", 0, 10, -1, ERANGE, 0},
    {"-1", 0, 10, -1, ERANGE, 0},
    {"-9223372036854775808", INT64_MIN, INT64_MAX, 0, 0, INT64_MIN},
    {"9223372036854775807", INT64_MIN, INT64_MAX, 0, 0, INT64_MAX},
    {"9223372036854775808", INT64_MIN, INT64_MAX, -1, ERANGE, 0},
    {"", 0, 10, -1, EINVAL, 0},
    {" 1", 0, 10, -1, EINVAL, 0},
    {"1 ", 0, 10, -1, EINVAL, 0},
    {"1x", 0, 10, -1, EINVAL, 0},
    {"x", 0, 10, -1, EINVAL, 0},
};

static void test_parse_i64(void)
{
    for (size_t i = 0; i < ARRAY_LEN(i64_cases); i++) {
        int64_t v = 0;
        int rc;
        errno = 0;
        rc = parse_i64(i64_cases[i].text, i64_cases[i].min, i64_cases[i].max, &v);
        if (rc != i64_cases[i].rc || (rc < 0 && errno != i64_cases[i].err) ||
            (rc == 0 && v != i64_cases[i].value))
            T_FAIL("parse_i64(\"%s\"): rc %d errno %d value %lld", i64_cases[i].text, rc, errno,
                   (long long)v);
    }
}

static const struct {
    const char *text;
    int rc;
    int64_t ms;
} duration_cases[] = {
    {"0", 0, 0},
    {"30", 0, 30000},
    {"30s", 0, 30000},
    {"500ms", 0, 500},
    {"5m", 0, 300000},
    {"2h", 0, 7200000},
    {"", -1, 0},
    {"s", -1, 0},
    {"-1s", -1, 0},
    {"1.5s", -1, 0},
    {"10x", -1, 0},
    {"10 s", -1, 0},
    {"1d", -1, 0},
    {"99999999999999999999", -1, 0},
    {"9223372036854775807h", -1, 0},
};

static void test_parse_duration(void)
{
    for (size_t i = 0; i < ARRAY_LEN(duration_cases); i++) {
        int64_t ms = -7;
        int rc = parse_duration_ms(duration_cases[i].text, &ms);
        if (rc != duration_cases[i].rc || (rc == 0 && ms != duration_cases[i].ms))
            T_FAIL("parse_duration_ms(\"%s\"): rc %d, %lld ms", duration_cases[i].text, rc,
                   (long long)ms);
    }
}

static const struct {
    const char *text;
    int rc;
    uint64_t bytes;
} size_cases[] = {
    {"0", 0, 0},
    {"512", 0, 512},
    {"4K", 0, 4096},
    {"4k", 0, 4096},
    {"256M", 0, 256ull << 20},
    {"2G", 0, 2ull << 30},
    {"1MB", 0, 1ull << 20},
    {"1T", -1, 0},
    {"", -1, 0},
    {"-1", -1, 0},
    {"K", -1, 0},
    {"18446744073709551615", 0, UINT64_MAX},
    {"18446744073709551616", -1, 0},
    {"17179869184G", -1, 0},
};

static void test_parse_size(void)
{
    for (size_t i = 0; i < ARRAY_LEN(size_cases); i++) {
        uint64_t v = 7;
        int rc = parse_size(size_cases[i].text, &v);
        if (rc != size_cases[i].rc || (rc == 0 && v != size_cases[i].bytes))
            T_FAIL("parse_size(\"%s\"): rc %d, %llu", size_cases[i].text, rc,
                   (unsigned long long)v);
    }
}

static void test_str_copy(void)
{
    char buf[4];

    T_EQ_INT(str_copy(buf, sizeof(buf), "abc"), 0);
    T_EQ_STR(buf, "abc");
    T_EQ_INT(str_copy(buf, sizeof(buf), "abcd"), -1);
    T_EQ_INT(errno, ENAMETOOLONG);
    T_EQ_STR(buf, "abc");
}

/* Escaping outside bytes (SPEC 9): what goes in, what the log shows. */
static const struct {
    const char *in;
    size_t len; /* of `in`, NUL bytes included */
    const char *out;
} escape_cases[] = {
    {"plain text ~!", 13, "plain text ~!"},
    {"", 0, ""},
    {"a\\b", 3, "a\\\\b"},
    {"\x1b[31m", 5, "\\x1b[31m"},
    {"cr\rlf\n", 6, "cr\\x0dlf\\x0a"},
    {"nul\0after", 9, "nul\\x00after"},
    {"del\x7f", 4, "del\\x7f"},
    {"\xc3\xa9\xff\x80", 4, "\\xc3\\xa9\\xff\\x80"},
    {"tab\there", 8, "tab\\x09here"},
    {"\\x41", 4, "\\\\x41"}, /* a backslash that looks like an escape stays readable */
};

static void test_str_escape(void)
{
    for (size_t i = 0; i < ARRAY_LEN(escape_cases); i++) {
        char buf[64];
        size_t n = str_escape(buf, sizeof(buf), escape_cases[i].in, escape_cases[i].len);
        T_EQ_STR(buf, escape_cases[i].out);
        T_EQ_INT(n, strlen(escape_cases[i].out));
    }
}

static void test_str_escape_cuts_at_an_escape_and_says_so(void)
{
    char buf[10], tiny[3];

    /* "ab" + "\x1b" (6) fits with "..." (9 + NUL); the next escape does not. */
    T_EQ_INT(str_escape(buf, sizeof(buf),
                        "ab\x1b\x1b"
                        "cd",
                        6),
             12);
    T_EQ_STR(buf, "ab\\x1b...");
    /* Never half an escape: "abcde..." rather than "abcde\\...". */
    T_EQ_INT(str_escape(buf, sizeof(buf), "abcde\x1b\x1b", 7), 13);
    T_EQ_STR(buf, "abcde...");
    /* It fits exactly: no mark. */
    T_EQ_INT(str_escape(buf, sizeof(buf), "abcdefghi", 9), 9);
    T_EQ_STR(buf, "abcdefghi");
    /* No room for the mark: cut short, still terminated, never past the end. */
    memset(tiny, 'x', sizeof(tiny));
    T_EQ_INT(str_escape(tiny, sizeof(tiny), "\x1b", 1), 4);
    T_EQ_STR(tiny, "");
}

static void test_errno_name(void)
{
    T_EQ_STR(errno_name(ECONNRESET), "ECONNRESET");
    T_EQ_STR(errno_name(EPIPE), "EPIPE");
    T_EQ_STR(errno_name(99999), "E99999");
}

static const struct t_case cases[] = {
    T_CASE(test_parse_i64),  T_CASE(test_parse_duration),
    T_CASE(test_parse_size), T_CASE(test_str_copy),
    T_CASE(test_str_escape), T_CASE(test_str_escape_cuts_at_an_escape_and_says_so),
    T_CASE(test_errno_name),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
