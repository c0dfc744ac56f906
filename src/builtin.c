/*
 * builtin: echo, discard, daytime, chargen, time, sum and sumbin.
 *
 * The wire formats live in proto.c; here is how each service drives a
 * session (what it does at start, with input, at the peer's EOF) and how
 * it answers a datagram.  Nothing here knows sockets, services or the
 * loop: the engines (stream.c, dgram.c) do the I/O.
 */
#include "builtin.h"

#include "builtin_metrics.h"

#include "proto.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Shared behaviours */

static size_t input_drop(struct builtin_session *s, const char *p, size_t n, struct out *o)
{
    (void)s, (void)p, (void)o;
    return n;
}

static bool eof_close(struct builtin_session *s, struct out *o)
{
    (void)s, (void)o;
    return false;
}

static bool eof_keep_open(struct builtin_session *s, struct out *o)
{
    (void)s, (void)o;
    return true;
}

static ssize_t dgram_none(unsigned *cursor, char *buf, size_t len, size_t cap)
{
    (void)cursor, (void)buf, (void)len, (void)cap;
    return -1;
}

/* echo (RFC 862): the input itself goes back out, uncopied. */

static size_t echo_input(struct builtin_session *s, const char *p, size_t n, struct out *o)
{
    (void)s;
    out_ref(o, p, n);
    return n;
}

static ssize_t echo_datagram(unsigned *cursor, char *buf, size_t len, size_t cap)
{
    (void)cursor, (void)buf, (void)cap;
    return (ssize_t)len;
}

/* daytime (RFC 867) and time (RFC 868): one answer, then close. */

static void daytime_start(struct builtin_session *s, struct out *o)
{
    char line[DAYTIME_MAX];
    size_t n = daytime_format(time(NULL), line, sizeof(line));

    out_copy(o, line, n);
    s->done = true;
}

static ssize_t daytime_datagram(unsigned *cursor, char *buf, size_t len, size_t cap)
{
    (void)cursor, (void)len;
    return (ssize_t)daytime_format(time(NULL), buf, cap);
}

static void time_encode(unsigned char out[4])
{
    put_be32(out, rfc868_from_unix((int64_t)time(NULL)));
}

static void time_start(struct builtin_session *s, struct out *o)
{
    unsigned char t[4];

    time_encode(t);
    out_copy(o, t, sizeof(t));
    s->done = true;
}

static ssize_t time_datagram(unsigned *cursor, char *buf, size_t len, size_t cap)
{
    (void)cursor, (void)len;
    if (cap < 4)
        return -1;
    time_encode((unsigned char *)buf);
    return 4;
}

/* chargen (RFC 864): the cycle of lines, sent by reference until the peer goes. */

#define CHARGEN_FILL_MAX (64 * 1024)

static void chargen_start(struct builtin_session *s, struct out *o)
{
    (void)o;
    s->st.chargen_line = 0;
}

static void chargen_fill(struct builtin_session *s, struct out *o)
{
    const char *cycle = chargen_cycle();
    size_t total = CHARGEN_CYCLE * CHARGEN_LINE;

    while (o->bytes < CHARGEN_FILL_MAX && out_room_ref(o)) {
        size_t off = (size_t)s->st.chargen_line * CHARGEN_LINE;
        out_ref(o, cycle + off, total - off);
        s->st.chargen_line = 0;
    }
}

static ssize_t chargen_datagram(unsigned *cursor, char *buf, size_t len, size_t cap)
{
    /* One line per request, each request the next line (as inetd does). */
    const char *line = chargen_cycle() + (size_t)*cursor * CHARGEN_LINE;

    (void)len;
    if (cap < CHARGEN_LINE)
        return -1;
    memcpy(buf, line, CHARGEN_LINE);
    *cursor = (*cursor + 1) % CHARGEN_CYCLE;
    return CHARGEN_LINE;
}

/* sum: one reply line per request line. */

static bool sum_reply(struct builtin_session *s, const char *line, size_t len, struct out *o)
{
    char reply[SUM_REPLY_MAX];

    (void)s;
    out_copy(o, reply, sum_answer(line, len, reply));
    return true;
}

/* Add input up to the next newline to the held line; true if the line ended. */
static bool sum_collect(struct sum_state *s, const char *p, size_t n, size_t *used)
{
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) : n;
    /* Keep one byte past the limit, plus a possible "\r", to tell "too long". */
    size_t room = SUM_LINE_MAX + 2 - s->len;

    *used = nl ? take + 1 : take;
    if (s->discarding)
        return nl != NULL;
    memcpy(s->line + s->len, p, take < room ? take : room);
    s->len += take < room ? take : room;
    return nl != NULL;
}

static bool sum_too_long(const struct sum_state *s)
{
    if (s->len > SUM_LINE_MAX + 1)
        return true;
    return s->len == SUM_LINE_MAX + 1 && s->line[SUM_LINE_MAX] != '\r';
}

static size_t sum_input(struct builtin_session *s, const char *p, size_t n, struct out *o)
{
    struct sum_state *sm = &s->st.sum;
    size_t done = 0;

    if (sm->line == NULL) {
        if ((sm->line = malloc(SUM_LINE_MAX + 2)) == NULL)
            return 0;
        sm->len = 0; /* so it is already; said here, the analyzer sees len within the new buffer */
    }
    while (done < n && out_room_copy(o, SUM_REPLY_MAX)) {
        size_t used;
        bool ended = sum_collect(sm, p + done, n - done, &used);
        done += used;
        if (!sm->discarding && sum_too_long(sm)) {
            /* Answer now, not at the newline that may never come. */
            out_copy(o, sum_error_text(SUM_ERR_TOO_LONG), strlen(sum_error_text(SUM_ERR_TOO_LONG)));
            sm->discarding = true;
            sm->len = 0;
        }
        if (!ended)
            continue;
        if (!sm->discarding)
            sum_reply(s, sm->line, sm->len, o);
        sm->discarding = false;
        sm->len = 0;
    }
    return done;
}

static bool sum_eof(struct builtin_session *s, struct out *o)
{
    struct sum_state *sm = &s->st.sum;

    /* A last line without its newline is still a request. */
    if (sm->line != NULL && sm->len > 0 && !sm->discarding)
        sum_reply(s, sm->line, sm->len, o);
    sm->len = 0;
    return false;
}

static void sum_release(struct builtin_session *s)
{
    free(s->st.sum.line);
    s->st.sum.line = NULL;
}

static ssize_t sum_datagram(unsigned *cursor, char *buf, size_t len, size_t cap)
{
    char reply[SUM_REPLY_MAX];
    size_t n;

    (void)cursor;
    /* The newline is optional in a datagram: the datagram is the line. */
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    n = sum_answer(buf, len, reply);
    if (n > cap)
        return -1;
    memcpy(buf, reply, n);
    return (ssize_t)n;
}

/* sumbin: 16-byte requests, 12-byte replies; records may arrive in pieces. */

static size_t sumbin_input(struct builtin_session *s, const char *p, size_t n, struct out *o)
{
    struct sumbin_state *sb = &s->st.sumbin;
    size_t done = 0;

    while (done < n && out_room_copy(o, SUMBIN_REPLY)) {
        size_t take = SUMBIN_REQUEST - sb->len;
        if (take > n - done)
            take = n - done;
        memcpy(sb->rec + sb->len, p + done, take);
        sb->len += take;
        done += take;
        if (sb->len == SUMBIN_REQUEST) {
            unsigned char reply[SUMBIN_REPLY];
            sumbin_answer(sb->rec, reply);
            out_copy(o, reply, sizeof(reply));
            sb->len = 0;
        }
    }
    return done;
}

static ssize_t sumbin_datagram(unsigned *cursor, char *buf, size_t len, size_t cap)
{
    unsigned char reply[SUMBIN_REPLY];

    (void)cursor;
    /* A datagram is one whole record; anything else gets no answer. */
    if (len != SUMBIN_REQUEST || cap < SUMBIN_REPLY)
        return -1;
    sumbin_answer((unsigned char *)buf, reply);
    memcpy(buf, reply, sizeof(reply));
    return SUMBIN_REPLY;
}

static const struct builtin builtins[BUILTIN_COUNT] = {
    [BUILTIN_ECHO] =
        {
            .name = "echo",
            .input = echo_input,
            .eof = eof_close,
            .datagram = echo_datagram,
        },
    [BUILTIN_DISCARD] =
        {
            .name = "discard",
            .input = input_drop,
            .eof = eof_close,
            .datagram = dgram_none,
        },
    [BUILTIN_DAYTIME] =
        {
            .name = "daytime",
            .start = daytime_start,
            .input = input_drop,
            .eof = eof_close,
            .datagram = daytime_datagram,
        },
    [BUILTIN_CHARGEN] =
        {
            .name = "chargen",
            .start = chargen_start,
            .input = input_drop,
            .eof = eof_keep_open,
            .fill = chargen_fill,
            .reset_is_normal = true,
            .datagram = chargen_datagram,
        },
    [BUILTIN_TIME] =
        {
            .name = "time",
            .start = time_start,
            .input = input_drop,
            .eof = eof_close,
            .datagram = time_datagram,
        },
    [BUILTIN_SUM] =
        {
            .name = "sum",
            .input = sum_input,
            .eof = sum_eof,
            .release = sum_release,
            .datagram = sum_datagram,
        },
    [BUILTIN_SUMBIN] =
        {
            .name = "sumbin",
            .input = sumbin_input,
            .eof = eof_close,
            .datagram = sumbin_datagram,
        },
    [BUILTIN_METRICS] =
        {
            .name = "metrics",
            .input = metrics_input,
            .eof = metrics_eof,
            .release = metrics_release,
            .datagram = NULL, /* HTTP over streams only: the configuration refuses datagrams */
        },
};

const struct builtin *builtin_get(enum builtin_id id)
{
    if (id < 0 || id >= BUILTIN_COUNT)
        return NULL;
    return &builtins[id];
}
