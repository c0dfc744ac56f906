/*
 * proto: wire formats of the built-in services.
 */
#include "proto.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define PRINTABLE_FIRST ' '
#define PRINTABLE_COUNT 95 /* ' ' .. '~' */

const char *chargen_cycle(void)
{
    static char cycle[CHARGEN_CYCLE * CHARGEN_LINE];
    static bool built;

    if (!built) {
        for (unsigned line = 0; line < CHARGEN_CYCLE; line++) {
            char *p = cycle + line * CHARGEN_LINE;
            for (unsigned i = 0; i < CHARGEN_WIDTH; i++)
                p[i] = (char)(PRINTABLE_FIRST + (line + i) % PRINTABLE_COUNT);
            p[CHARGEN_WIDTH] = '\r';
            p[CHARGEN_WIDTH + 1] = '\n';
        }
        built = true;
    }
    return cycle;
}

size_t daytime_format(time_t t, char *buf, size_t size)
{
    struct tm tm;
    size_t n;

    if (localtime_r(&t, &tm) == NULL)
        return 0;
    /* ctime(3)'s layout, day of month padded with a blank. */
    n = strftime(buf, size, "%a %b %e %H:%M:%S %Y\r\n", &tm);
    return n;
}

uint32_t rfc868_from_unix(int64_t unix_seconds)
{
    /* Modulo 2^32 by definition: the 1900 era ends in February 2036. */
    return (uint32_t)((uint64_t)unix_seconds + RFC868_UNIX_OFFSET);
}

int64_t rfc868_to_unix(uint32_t value)
{
    if (value >= RFC868_UNIX_OFFSET)
        return (int64_t)value - RFC868_UNIX_OFFSET;
    return (int64_t)value + ((int64_t)1 << 32) - RFC868_UNIX_OFFSET;
}

void put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t get_be64(const unsigned char *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Parse an optionally signed decimal int64 at *pp, advancing it. */
static bool parse_int(const char **pp, const char *end, int64_t *out)
{
    const char *p = *pp;
    bool neg = false;
    uint64_t v = 0, limit;

    if (p < end && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    if (p == end || *p < '0' || *p > '9')
        return false;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    *pp = p;
    return true;
}

enum sum_status sum_parse(const char *line, size_t len, int64_t *a, int64_t *b)
{
    const char *p = line, *end = line + len, *gap;

    if (len > 0 && line[len - 1] == '\r')
        end--;
    if ((size_t)(end - line) > SUM_LINE_MAX)
        return SUM_ERR_TOO_LONG;
    while (p < end && is_blank(*p))
        p++;
    while (end > p && is_blank(end[-1]))
        end--;
    if (!parse_int(&p, end, a))
        return SUM_ERR_INPUT;
    gap = p;
    while (p < end && is_blank(*p))
        p++;
    if (p == gap || !parse_int(&p, end, b) || p != end)
        return SUM_ERR_INPUT;
    return SUM_OK;
}

const char *sum_error_text(enum sum_status status)
{
    switch (status) {
    case SUM_ERR_OVERFLOW:
        return "error: overflow\n";
    case SUM_ERR_TOO_LONG:
        return "error: line too long\n";
    case SUM_ERR_INPUT:
    case SUM_OK:
        break;
    }
    return "error: input\n";
}

size_t sum_answer(const char *line, size_t len, char out[SUM_REPLY_MAX])
{
    enum sum_status st;
    int64_t a, b, sum;
    int n;

    st = sum_parse(line, len, &a, &b);
    if (st == SUM_OK && __builtin_add_overflow(a, b, &sum))
        st = SUM_ERR_OVERFLOW;
    if (st != SUM_OK) {
        const char *text = sum_error_text(st);
        size_t tlen = strlen(text);
        memcpy(out, text, tlen);
        return tlen;
    }
    n = snprintf(out, SUM_REPLY_MAX, "%lld\n", (long long)sum);
    return (size_t)n;
}

void sumbin_request(int64_t a, int64_t b, unsigned char out[SUMBIN_REQUEST])
{
    put_be64(out, (uint64_t)a);
    put_be64(out + 8, (uint64_t)b);
}

void sumbin_answer(const unsigned char req[SUMBIN_REQUEST], unsigned char out[SUMBIN_REPLY])
{
    int64_t a = (int64_t)get_be64(req), b = (int64_t)get_be64(req + 8), sum;

    if (__builtin_add_overflow(a, b, &sum)) {
        put_be32(out, SUMBIN_OVERFLOW);
        put_be64(out + 4, 0);
    } else {
        put_be32(out, SUMBIN_OK);
        put_be64(out + 4, (uint64_t)sum);
    }
}

void sumbin_parse_reply(const unsigned char reply[SUMBIN_REPLY], uint32_t *status, int64_t *sum)
{
    *status = get_be32(reply);
    *sum = (int64_t)get_be64(reply + 4);
}
