/*
 * fuzz_sum: the stream line machine of `sum` and the record decoder of
 * `sumbin` (builtin.c), driven as stream.c drives them, with the input cut
 * into pieces the fuzzer chooses.
 *
 * Input: byte 0 picks the service (bit 0: sumbin), byte 1 the number of
 * cuts (up to 15), then one byte per cut, the length of that piece (0: a
 * piece of one byte); the rest is what the peer sends.  A connection is a
 * zeroed struct builtin_session: a builtin knows nothing else.
 *
 * Properties: the replies are the same byte for byte whatever the cuts
 * (compared with the input given whole), and equal to an independent
 * model of the protocol: sum answers each line with sum_answer, and a line
 * longer than SUM_LINE_MAX (a trailing "\r" aside) with one "line too
 * long"; sumbin answers each whole 16-byte record with sumbin_answer.  The
 * datagram forms answer as the model does for one request.
 */
#include "builtin.h"
#include "out.h"
#include "fuzz.h"
#include "proto.h"

#include <stdlib.h>
#include <string.h>

#define CUTS_MAX 15

struct reply {
    char *data;
    size_t len, cap;
};

static void reply_add(struct reply *r, const void *p, size_t n)
{
    if (r->len + n > r->cap) {
        r->cap = (r->len + n) * 2;
        r->data = realloc(r->data, r->cap);
        fuzz_check(r->data != NULL);
    }
    memcpy(r->data + r->len, p, n);
    r->len += n;
}

static void reply_take(struct reply *r, const struct out *o)
{
    size_t bytes = 0;

    for (int i = 0; i < o->niov; i++) {
        reply_add(r, o->iov[i].iov_base, o->iov[i].iov_len);
        bytes += o->iov[i].iov_len;
    }
    fuzz_check(bytes == o->bytes);
}

static struct out out;

static struct out *out_next(void)
{
    out_reset(&out);
    return &out;
}

/* One read's worth, as stream.c's process(): fresh outs until it is all taken. */
static void feed(const struct builtin *b, struct builtin_session *c, const char *p, size_t n,
                 struct reply *r)
{
    while (n > 0) {
        struct out *o = out_next();
        size_t used = b->input(c, p, n, o);
        fuzz_check(used > 0 && used <= n);
        reply_take(r, o);
        p += used;
        n -= used;
    }
}

static struct reply serve(enum builtin_id id, const char *p, size_t n, const size_t *cuts,
                          size_t ncuts)
{
    const struct builtin *b = builtin_get(id);
    struct builtin_session *c = calloc(1, sizeof(*c));
    struct reply r = {0};
    struct out *o;

    fuzz_check(c != NULL);
    for (size_t i = 0; i < ncuts && n > 0; i++) {
        size_t take = cuts[i] < n ? cuts[i] : n;
        feed(b, c, p, take, &r);
        p += take;
        n -= take;
    }
    if (n > 0)
        feed(b, c, p, n, &r);
    o = out_next();
    fuzz_check(!b->eof(c, o));
    reply_take(&r, o);
    if (b->release != NULL)
        b->release(c);
    free(c);
    return r;
}

/* The sum protocol, line by line, written apart from builtin.c's machine. */
static struct reply model_sum(const char *p, size_t n)
{
    struct reply r = {0};

    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) : n;
        bool too_long = len > SUM_LINE_MAX + 1 || (len == SUM_LINE_MAX + 1 && p[len - 1] != '\r');
        char line[SUM_REPLY_MAX];

        if (too_long)
            reply_add(&r, sum_error_text(SUM_ERR_TOO_LONG),
                      strlen(sum_error_text(SUM_ERR_TOO_LONG)));
        else
            reply_add(&r, line, sum_answer(p, len, line));
        if (nl == NULL)
            break;
        p += len + 1;
        n -= len + 1;
    }
    return r;
}

static struct reply model_sumbin(const char *p, size_t n)
{
    struct reply r = {0};

    for (; n >= SUMBIN_REQUEST; p += SUMBIN_REQUEST, n -= SUMBIN_REQUEST) {
        unsigned char reply[SUMBIN_REPLY];
        sumbin_answer((const unsigned char *)p, reply);
        reply_add(&r, reply, sizeof(reply));
    }
    return r;
}

static void check_same(const struct reply *a, const struct reply *b, const char *what)
{
    if (a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0))
        return;
    fprintf(stderr, "fuzz_sum: %s: %zu bytes of replies against %zu\n", what, a->len, b->len);
    abort();
}

/* A datagram is one request: the same answer as the model gives it alone. */
static void check_datagram(enum builtin_id id, const char *p, size_t n)
{
    char buf[SUM_LINE_MAX + 64];
    size_t len = n < sizeof(buf) ? n : sizeof(buf);
    ssize_t got;
    struct reply want;

    memcpy(buf, p, len);
    got = builtin_get(id)->datagram(NULL, buf, len, sizeof(buf));
    if (id == BUILTIN_SUMBIN) {
        if (len != SUMBIN_REQUEST) {
            fuzz_check(got == -1);
            return;
        }
        want = model_sumbin(p, len);
    } else {
        if (len > 0 && p[len - 1] == '\n')
            len--;
        if (memchr(p, '\n', len) != NULL)
            return; /* the model's lines are not a datagram's */
        want = model_sum(p, len);
        if (len == 0)
            reply_add(&want, "error: input\n", 13);
    }
    fuzz_check(got >= 0 && (size_t)got == want.len && memcmp(buf, want.data, want.len) == 0);
    free(want.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cuts[CUTS_MAX], ncuts, n;
    enum builtin_id id;
    const char *p;
    struct reply whole, split, model;

    if (size < 2)
        return 0;
    id = (data[0] & 1) ? BUILTIN_SUMBIN : BUILTIN_SUM;
    ncuts = data[1] % (CUTS_MAX + 1);
    if (size < 2 + ncuts)
        return 0;
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = data[2 + i] ? data[2 + i] : 1;
    p = (const char *)data + 2 + ncuts;
    n = size - 2 - ncuts;
    whole = serve(id, p, n, NULL, 0);
    split = serve(id, p, n, cuts, ncuts);
    model = id == BUILTIN_SUM ? model_sum(p, n) : model_sumbin(p, n);
    check_same(&split, &whole, "cut against whole");
    check_same(&whole, &model, "whole against the model");
    check_datagram(id, p, n);
    free(whole.data);
    free(split.data);
    free(model.data);
    return 0;
}
