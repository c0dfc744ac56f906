/*
 * Unit tests: the builtins' stream machines and datagram answers
 * (builtin.c), driven with a struct out and a zeroed session as stream.c
 * drives them: no socket, no loop, no service.
 */
#include "builtin.h"
#include "proto.h"
#include "t.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct out out;

/* What a session answered, all rounds joined. */
struct reply {
    char data[8192];
    size_t len;
};

static void take(struct reply *r, const struct out *o)
{
    size_t bytes = 0;

    for (int i = 0; i < o->niov; i++) {
        T_ASSERT(r->len + o->iov[i].iov_len <= sizeof(r->data));
        memcpy(r->data + r->len, o->iov[i].iov_base, o->iov[i].iov_len);
        r->len += o->iov[i].iov_len;
        bytes += o->iov[i].iov_len;
    }
    T_EQ_INT(bytes, o->bytes);
}

/* One read: fresh outs until the builtin has taken it all. */
static void feed(const struct builtin *b, struct builtin_session *s, const char *p, size_t n,
                 struct reply *r)
{
    while (n > 0) {
        size_t used;
        out_reset(&out);
        used = b->input(s, p, n, &out);
        T_ASSERT(used > 0 && used <= n);
        take(r, &out);
        p += used;
        n -= used;
    }
}

/* The whole input in pieces of `cut` bytes (0: at once), then the peer's EOF. */
static struct reply serve(enum builtin_id id, const char *p, size_t n, size_t cut, bool *open)
{
    const struct builtin *b = builtin_get(id);
    struct builtin_session s;
    struct reply r = {.len = 0};

    memset(&s, 0, sizeof(s));
    out_reset(&out);
    if (b->start != NULL)
        b->start(&s, &out);
    take(&r, &out);
    while (n > 0) {
        size_t piece = cut == 0 || cut > n ? n : cut;
        feed(b, &s, p, piece, &r);
        p += piece;
        n -= piece;
    }
    out_reset(&out);
    *open = b->eof(&s, &out);
    take(&r, &out);
    if (b->release != NULL)
        b->release(&s);
    return r;
}

static void expect_reply(const char *name, const struct reply *r, const char *want, size_t wlen)
{
    if (r->len != wlen || memcmp(r->data, want, wlen) != 0)
        T_FAIL("%s: got %zu bytes \"%.*s\", want %zu bytes \"%.*s\"", name, r->len, (int)r->len,
               r->data, wlen, (int)wlen, want);
}

/* sum: a request stream, cut into pieces of `cut` bytes, and the replies wanted. */
static const struct {
    const char *name;
    const char *in;
    size_t cut;
    const char *want;
} sum_cases[] = {
    {"one line", "1 2\n", 0, "3\n"},
    {"CRLF", "1 2\r\n", 0, "3\n"},
    {"two lines in one read", "1 2\n3 4\n", 0, "3\n7\n"},
    {"split at every byte", "1 2\n-10 4\r\n", 1, "3\n-6\n"},
    {"split in threes", "100 200\n5 5\n", 3, "300\n10\n"},
    {"blanks around", "  7\t8  \n", 0, "15\n"},
    {"blank line", "\n", 0, "error: input\n"},
    {"only blanks", "   \n", 0, "error: input\n"},
    {"overflow", "9223372036854775807 1\n", 0, "error: overflow\n"},
    {"negative overflow", "-9223372036854775808 -1\n", 2, "error: overflow\n"},
    {"malformed", "a b\n", 0, "error: input\n"},
    {"three numbers", "1 2 3\n", 0, "error: input\n"},
    {"malformed then good", "x\n2 2\n", 1, "error: input\n4\n"},
    {"last line without newline", "5 6", 0, "11\n"},
    {"last line split, no newline", "5 6", 1, "11\n"},
    {"nothing", "", 0, ""},
};

static void test_sum_stream_table(void)
{
    for (size_t i = 0; i < ARRAY_LEN(sum_cases); i++) {
        bool open = true;
        struct reply r =
            serve(BUILTIN_SUM, sum_cases[i].in, strlen(sum_cases[i].in), sum_cases[i].cut, &open);
        expect_reply(sum_cases[i].name, &r, sum_cases[i].want, strlen(sum_cases[i].want));
        T_ASSERT(!open); /* sum closes at the peer's EOF */
    }
}

/* A line of `len` 'x' bytes, then `rest`. */
static size_t long_line(char *buf, size_t size, size_t len, const char *rest)
{
    T_ASSERT(len + strlen(rest) < size);
    memset(buf, 'x', len);
    memcpy(buf + len, rest, strlen(rest));
    return len + strlen(rest);
}

static void test_sum_too_long_then_recovers(void)
{
    /* One "line too long" per long line, whatever the cuts; the next line is served. */
    static const size_t cuts[] = {0, 1, 7, 1000, SUM_LINE_MAX + 1};
    const char *too_long = sum_error_text(SUM_ERR_TOO_LONG);
    char in[4096], want[128];
    size_t n = long_line(in, sizeof(in), SUM_LINE_MAX + 1, "\n1 2\n");

    snprintf(want, sizeof(want), "%s3\n", too_long);
    for (size_t i = 0; i < ARRAY_LEN(cuts); i++) {
        bool open;
        struct reply r = serve(BUILTIN_SUM, in, n, cuts[i], &open);
        expect_reply("too long, then 1 2", &r, want, strlen(want));
    }
}

static void test_sum_too_long_answered_before_newline(void)
{
    /* The answer comes as soon as the line is known too long, not at its newline. */
    const struct builtin *b = builtin_get(BUILTIN_SUM);
    struct builtin_session s;
    struct reply r = {.len = 0};
    char in[4096];
    size_t n = long_line(in, sizeof(in), SUM_LINE_MAX + 2, "");

    memset(&s, 0, sizeof(s));
    feed(b, &s, in, n, &r);
    expect_reply("too long", &r, sum_error_text(SUM_ERR_TOO_LONG),
                 strlen(sum_error_text(SUM_ERR_TOO_LONG)));
    /* More of the same line, then its end: nothing more; then a good line. */
    feed(b, &s, in, 100, &r);
    feed(b, &s, "\n8 9\n", 5, &r);
    T_EQ_INT(r.len, strlen(sum_error_text(SUM_ERR_TOO_LONG)) + 3);
    T_EQ_MEM(r.data + r.len - 3, "17\n", 3);
    b->release(&s);
}

static void test_sum_longest_line_with_cr(void)
{
    /* SUM_LINE_MAX bytes and "\r\n" is a line, not too long (the number is not valid). */
    char in[4096];
    size_t n = long_line(in, sizeof(in), SUM_LINE_MAX, "\r\n");
    bool open;
    struct reply r = serve(BUILTIN_SUM, in, n, 0, &open);

    expect_reply("longest line", &r, "error: input\n", 13);
}

static void test_sum_full_out_takes_less(void)
{
    /* With room for one reply only, input stops at the end of the first line. */
    const struct builtin *b = builtin_get(BUILTIN_SUM);
    struct builtin_session s;
    size_t used;

    memset(&s, 0, sizeof(s));
    out_reset(&out);
    out.staged = OUT_STAGE - SUM_REPLY_MAX; /* room for exactly one more reply */
    used = b->input(&s, "1 1\n2 2\n", 8, &out);
    T_EQ_INT(used, 4);
    T_EQ_INT(out.bytes, 2);
    b->release(&s);
}

/* sumbin */

static size_t records(unsigned char *buf, const int64_t (*pairs)[2], size_t n)
{
    for (size_t i = 0; i < n; i++)
        sumbin_request(pairs[i][0], pairs[i][1], buf + i * SUMBIN_REQUEST);
    return n * SUMBIN_REQUEST;
}

static void check_sumbin_reply(const unsigned char *reply, uint32_t want_status, int64_t want)
{
    uint32_t status;
    int64_t sum;

    sumbin_parse_reply(reply, &status, &sum);
    T_EQ_INT(status, want_status);
    T_EQ_INT(sum, want);
}

static void test_sumbin_split_at_every_byte(void)
{
    /* Two records fed as two pieces cut at every possible place: two replies. */
    static const int64_t pairs[2][2] = {{40, 2}, {-7, -8}};
    unsigned char in[2 * SUMBIN_REQUEST];
    size_t n = records(in, pairs, 2);

    for (size_t at = 1; at < n; at++) {
        const struct builtin *b = builtin_get(BUILTIN_SUMBIN);
        struct builtin_session s;
        struct reply r = {.len = 0};
        memset(&s, 0, sizeof(s));
        feed(b, &s, (const char *)in, at, &r);
        feed(b, &s, (const char *)in + at, n - at, &r);
        T_EQ_INT(r.len, 2 * SUMBIN_REPLY);
        check_sumbin_reply((unsigned char *)r.data, SUMBIN_OK, 42);
        check_sumbin_reply((unsigned char *)r.data + SUMBIN_REPLY, SUMBIN_OK, -15);
    }
}

static void test_sumbin_byte_by_byte(void)
{
    static const int64_t pairs[1][2] = {{1, 2}};
    unsigned char in[SUMBIN_REQUEST];
    size_t n = records(in, pairs, 1);
    bool open = true;
    struct reply r = serve(BUILTIN_SUMBIN, (const char *)in, n, 1, &open);

    T_EQ_INT(r.len, SUMBIN_REPLY);
    check_sumbin_reply((unsigned char *)r.data, SUMBIN_OK, 3);
    T_ASSERT(!open);
}

static void test_sumbin_overflow_status(void)
{
    static const int64_t pairs[3][2] = {{INT64_MAX, 1}, {INT64_MIN, -1}, {INT64_MAX, INT64_MIN}};
    unsigned char in[3 * SUMBIN_REQUEST];
    size_t n = records(in, pairs, 3);
    bool open;
    struct reply r = serve(BUILTIN_SUMBIN, (const char *)in, n, 5, &open);

    T_EQ_INT(r.len, 3 * SUMBIN_REPLY);
    check_sumbin_reply((unsigned char *)r.data, SUMBIN_OVERFLOW, 0);
    check_sumbin_reply((unsigned char *)r.data + SUMBIN_REPLY, SUMBIN_OVERFLOW, 0);
    check_sumbin_reply((unsigned char *)r.data + 2 * SUMBIN_REPLY, SUMBIN_OK, -1);
}

static void test_sumbin_partial_record_unanswered(void)
{
    static const int64_t pairs[1][2] = {{1, 2}};
    unsigned char in[SUMBIN_REQUEST];
    bool open;
    struct reply r;

    records(in, pairs, 1);
    r = serve(BUILTIN_SUMBIN, (const char *)in, SUMBIN_REQUEST - 1, 0, &open);
    T_EQ_INT(r.len, 0);
}

/* chargen */

static void test_chargen_stream_lines(void)
{
    /* The stream starts at line 0 and goes on with the cycle, line after line. */
    const struct builtin *b = builtin_get(BUILTIN_CHARGEN);
    const char *cycle = chargen_cycle();
    struct builtin_session s;
    struct reply r = {.len = 0};

    memset(&s, 0, sizeof(s));
    s.st.chargen_line = 17; /* start resets it */
    out_reset(&out);
    b->start(&s, &out);
    T_EQ_INT(out.bytes, 0);
    T_ASSERT(!s.done);
    out_reset(&out);
    b->fill(&s, &out);
    T_ASSERT(out.bytes >= (size_t)CHARGEN_CYCLE * CHARGEN_LINE);
    T_ASSERT(out.iov[0].iov_base == cycle); /* referenced, not copied */
    /* Byte k of the stream is byte k mod the cycle: the lines rotate and wrap. */
    for (int i = 0; i < out.niov && r.len + out.iov[i].iov_len <= sizeof(r.data); i++) {
        memcpy(r.data + r.len, out.iov[i].iov_base, out.iov[i].iov_len);
        r.len += out.iov[i].iov_len;
    }
    T_ASSERT(r.len >= (size_t)CHARGEN_CYCLE * CHARGEN_LINE);
    for (size_t k = 0; k < r.len; k++)
        if (r.data[k] != cycle[k % ((size_t)CHARGEN_CYCLE * CHARGEN_LINE)])
            T_FAIL("byte %zu: got %d", k, r.data[k]);
    T_ASSERT(b->eof(&s, &out)); /* the peer's EOF does not stop a generator */
    T_ASSERT(b->reset_is_normal);
}

static void test_chargen_datagram_rotation(void)
{
    /* Each datagram gets the next line; after CHARGEN_CYCLE lines the first again. */
    const struct builtin *b = builtin_get(BUILTIN_CHARGEN);
    unsigned cursor = 0;
    char buf[256];

    for (int i = 0; i <= CHARGEN_CYCLE; i++) {
        ssize_t n = b->datagram(&cursor, buf, 0, sizeof(buf));
        T_EQ_INT(n, CHARGEN_LINE);
        T_EQ_MEM(buf, chargen_cycle() + (size_t)(i % CHARGEN_CYCLE) * CHARGEN_LINE, CHARGEN_LINE);
    }
    T_EQ_INT(cursor, 1);
    T_EQ_INT(b->datagram(&cursor, buf, 0, CHARGEN_LINE - 1), -1);
    T_EQ_INT(cursor, 1); /* no room: no line spent */
}

/* The rest of the table */

static void test_echo_references_input(void)
{
    const struct builtin *b = builtin_get(BUILTIN_ECHO);
    struct builtin_session s;
    const char in[] = "hello";

    memset(&s, 0, sizeof(s));
    out_reset(&out);
    T_EQ_INT(b->input(&s, in, 5, &out), 5);
    T_EQ_INT(out.niov, 1);
    T_ASSERT(out.iov[0].iov_base == in);
    T_EQ_INT(out.staged, 0);
}

static void test_discard_answers_nothing(void)
{
    bool open = true;
    struct reply r = serve(BUILTIN_DISCARD, "anything\n", 9, 2, &open);
    char buf[16] = "x";

    T_EQ_INT(r.len, 0);
    T_ASSERT(!open);
    T_EQ_INT(builtin_get(BUILTIN_DISCARD)->datagram(NULL, buf, 1, sizeof(buf)), -1);
}

static void test_daytime_and_time_finish_at_start(void)
{
    static const enum builtin_id ids[] = {BUILTIN_DAYTIME, BUILTIN_TIME};

    for (size_t i = 0; i < ARRAY_LEN(ids); i++) {
        const struct builtin *b = builtin_get(ids[i]);
        struct builtin_session s;
        memset(&s, 0, sizeof(s));
        out_reset(&out);
        b->start(&s, &out);
        T_ASSERT(s.done);
        T_ASSERT(out.bytes > 0);
        if (ids[i] == BUILTIN_TIME)
            T_EQ_INT(out.bytes, 4);
        else
            T_EQ_MEM((char *)out.iov[0].iov_base + out.bytes - 2, "\r\n", 2);
    }
}

static void test_datagram_sum_and_sumbin(void)
{
    char buf[64];
    unsigned char rec[SUMBIN_REQUEST];

    memcpy(buf, "2 3\n", 4);
    T_EQ_INT(builtin_get(BUILTIN_SUM)->datagram(NULL, buf, 4, sizeof(buf)), 2);
    T_EQ_MEM(buf, "5\n", 2);
    memcpy(buf, "2 3", 3); /* the newline is optional */
    T_EQ_INT(builtin_get(BUILTIN_SUM)->datagram(NULL, buf, 3, sizeof(buf)), 2);
    sumbin_request(5, 6, rec);
    memcpy(buf, rec, sizeof(rec));
    T_EQ_INT(builtin_get(BUILTIN_SUMBIN)->datagram(NULL, buf, SUMBIN_REQUEST, sizeof(buf)),
             SUMBIN_REPLY);
    check_sumbin_reply((unsigned char *)buf, SUMBIN_OK, 11);
    T_EQ_INT(builtin_get(BUILTIN_SUMBIN)->datagram(NULL, buf, SUMBIN_REQUEST - 1, sizeof(buf)), -1);
    T_ASSERT(builtin_get(BUILTIN_COUNT) == NULL);
}

static const struct t_case cases[] = {
    T_CASE(test_sum_stream_table),
    T_CASE(test_sum_too_long_then_recovers),
    T_CASE(test_sum_too_long_answered_before_newline),
    T_CASE(test_sum_longest_line_with_cr),
    T_CASE(test_sum_full_out_takes_less),
    T_CASE(test_sumbin_split_at_every_byte),
    T_CASE(test_sumbin_byte_by_byte),
    T_CASE(test_sumbin_overflow_status),
    T_CASE(test_sumbin_partial_record_unanswered),
    T_CASE(test_chargen_stream_lines),
    T_CASE(test_chargen_datagram_rotation),
    T_CASE(test_echo_references_input),
    T_CASE(test_discard_answers_nothing),
    T_CASE(test_daytime_and_time_finish_at_start),
    T_CASE(test_datagram_sum_and_sumbin),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
