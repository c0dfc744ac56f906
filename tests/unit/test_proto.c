/*
 * Unit tests: wire formats of the built-in services (proto.c).
 */
#include "proto.h"
#include "t.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_chargen_first_lines(void)
{
    /* Line 0 starts with the space, each next line one character later. */
    const char *c = chargen_cycle();

    T_EQ_INT(c[0], ' ');
    T_EQ_INT(c[71], ' ' + 71);
    T_EQ_MEM(c + 72, "\r\n", 2);
    T_EQ_INT(c[CHARGEN_LINE], '!');
    T_EQ_INT(c[CHARGEN_LINE + 71], ' ' + 72);
}

static void test_chargen_rotation_wraps(void)
{
    /* Every line is 72 printable characters, rotating through all 95. */
    const char *c = chargen_cycle();

    for (int line = 0; line < CHARGEN_CYCLE; line++) {
        const char *p = c + line * CHARGEN_LINE;
        for (int i = 0; i < CHARGEN_WIDTH; i++)
            T_EQ_INT(p[i], ' ' + (line + i) % 95);
        T_EQ_MEM(p + CHARGEN_WIDTH, "\r\n", 2);
    }
    /* Line 94 wraps: it starts with '~' and goes on with ' '. */
    T_EQ_INT(c[94 * CHARGEN_LINE], '~');
    T_EQ_INT(c[94 * CHARGEN_LINE + 1], ' ');
}

static void test_rfc868_epoch(void)
{
    /* 1970-01-01 is 2208988800 seconds after 1900-01-01. */
    T_EQ_INT(rfc868_from_unix(0), 2208988800u);
    T_EQ_INT(rfc868_to_unix(2208988800u), 0);
}

static void test_rfc868_known_date(void)
{
    /* 2026-11-21T16:40:00Z = 1795279200 (Unix). */
    T_EQ_INT(rfc868_from_unix(1795279200), 1795279200u + 2208988800u);
    T_EQ_INT(rfc868_to_unix(rfc868_from_unix(1795279200)), 1795279200);
}

static void test_rfc868_wraps_in_2036(void)
{
    /* 2036-02-07T06:28:16Z is 2^32 seconds after 1900: the value wraps to 0,
     * and decoding puts small values after 2036. */
    int64_t wrap = ((int64_t)1 << 32) - 2208988800LL;

    T_EQ_INT(rfc868_from_unix(wrap), 0);
    T_EQ_INT(rfc868_from_unix(wrap + 5), 5);
    T_EQ_INT(rfc868_to_unix(5), wrap + 5);
}

static void test_big_endian(void)
{
    unsigned char b[8];

    put_be32(b, 0x01020304u);
    T_EQ_MEM(b, "\x01\x02\x03\x04", 4);
    T_EQ_INT(get_be32(b), 0x01020304u);
    put_be64(b, 0x0102030405060708ull);
    T_EQ_MEM(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    T_ASSERT(get_be64(b) == 0x0102030405060708ull);
}

static void test_daytime_layout(void)
{
    /* ctime layout: day of month padded with a blank, CRLF at the end. */
    char buf[DAYTIME_MAX];
    size_t n;

    setenv("TZ", "UTC", 1);
    tzset();
    n = daytime_format(1795279200, buf, sizeof(buf));
    T_EQ_INT(n, 26);
    buf[n] = '\0';
    T_EQ_STR(buf, "Sat Nov 21 16:40:00 2026\r\n");
    n = daytime_format(1793552400, buf, sizeof(buf)); /* 2026-11-01T17:00:00Z */
    buf[n] = '\0';
    T_EQ_STR(buf, "Sun Nov  1 17:00:00 2026\r\n");
}

/* One sum request line and its expected reply. */
static const struct {
    const char *line;
    const char *reply;
} sum_cases[] = {
    {"1 2", "3\n"},
    {"-5 +3", "-2\n"},
    {"  7\t8  ", "15\n"},
    {"7 8\r", "15\n"},
    {"0 0", "0\n"},
    {"9223372036854775807 0", "9223372036854775807\n"},
    {"-9223372036854775808 0", "-9223372036854775808\n"},
    {"9223372036854775807 1", "error: overflow\n"},
    {"-9223372036854775808 -1", "error: overflow\n"},
    {"9223372036854775807 -9223372036854775808", "-1\n"},
    {"9223372036854775808 0", "error: input\n"},
    {"", "error: input\n"},
    {"1", "error: input\n"},
    {"1 2 3", "error: input\n"},
    {"a b", "error: input\n"},
    {"1,2", "error: input\n"},
    {"12", "error: input\n"},
    {"- 1 2", "error: input\n"},
    {"1 2x", "error: input\n"},
    {"0x10 1", "error: input\n"},
    {"1\r2", "error: input\n"},
};

static void test_sum_lines(void)
{
    char reply[SUM_REPLY_MAX + 1];

    for (size_t i = 0; i < ARRAY_LEN(sum_cases); i++) {
        size_t n = sum_answer(sum_cases[i].line, strlen(sum_cases[i].line), reply);
        reply[n] = '\0';
        if (strcmp(reply, sum_cases[i].reply) != 0)
            T_FAIL("sum \"%s\": got \"%s\", want \"%s\"", sum_cases[i].line, reply,
                   sum_cases[i].reply);
    }
}

static void test_sum_line_length_limit(void)
{
    /* 1024 bytes before the newline are allowed (a "\r" does not count); 1025 are not. */
    char line[SUM_LINE_MAX + 2];
    char reply[SUM_REPLY_MAX + 1];
    size_t n;

    memset(line, ' ', sizeof(line));
    memcpy(line, "1 2", 3);
    n = sum_answer(line, SUM_LINE_MAX, reply);
    reply[n] = '\0';
    T_EQ_STR(reply, "3\n");
    line[SUM_LINE_MAX] = '\r';
    n = sum_answer(line, SUM_LINE_MAX + 1, reply);
    reply[n] = '\0';
    T_EQ_STR(reply, "3\n");
    line[SUM_LINE_MAX] = ' ';
    n = sum_answer(line, SUM_LINE_MAX + 1, reply);
    reply[n] = '\0';
    T_EQ_STR(reply, "error: line too long\n");
}

static void test_sumbin_roundtrip(void)
{
    /* XDR: big-endian on the wire whatever the host's order. */
    unsigned char req[SUMBIN_REQUEST], reply[SUMBIN_REPLY];
    uint32_t status;
    int64_t sum;

    sumbin_request(1, -3, req);
    T_EQ_MEM(req, "\0\0\0\0\0\0\0\x01\xff\xff\xff\xff\xff\xff\xff\xfd", 16);
    sumbin_answer(req, reply);
    T_EQ_MEM(reply, "\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xfe", 12);
    sumbin_parse_reply(reply, &status, &sum);
    T_EQ_INT(status, SUMBIN_OK);
    T_EQ_INT(sum, -2);
}

static void test_sumbin_overflow(void)
{
    /* Overflow: status 1 and a zero sum, in either direction. */
    unsigned char req[SUMBIN_REQUEST], reply[SUMBIN_REPLY];
    uint32_t status;
    int64_t sum;

    sumbin_request(INT64_MAX, 1, req);
    sumbin_answer(req, reply);
    T_EQ_MEM(reply, "\0\0\0\x01\0\0\0\0\0\0\0\0", 12);
    sumbin_request(INT64_MIN, -1, req);
    sumbin_answer(req, reply);
    sumbin_parse_reply(reply, &status, &sum);
    T_EQ_INT(status, SUMBIN_OVERFLOW);
    T_EQ_INT(sum, 0);
}

static const struct t_case cases[] = {
    T_CASE(test_chargen_first_lines),   T_CASE(test_chargen_rotation_wraps),
    T_CASE(test_rfc868_epoch),          T_CASE(test_rfc868_known_date),
    T_CASE(test_rfc868_wraps_in_2036),  T_CASE(test_big_endian),
    T_CASE(test_daytime_layout),        T_CASE(test_sum_lines),
    T_CASE(test_sum_line_length_limit), T_CASE(test_sumbin_roundtrip),
    T_CASE(test_sumbin_overflow),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
