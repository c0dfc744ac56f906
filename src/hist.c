/*
 * hist: log-bucketed histogram (see hist.h).
 */
#include "hist.h"

#include <stddef.h>

#define HIST_NBUCKETS ((HIST_POWERS - HIST_SUB_BITS + 1) * HIST_SUB)

static size_t bucket_of(uint64_t v)
{
    unsigned e;
    size_t idx;

    if (v < HIST_SUB)
        return (size_t)v;
    e = 63u - (unsigned)__builtin_clzll(v); /* v is in [2^e, 2^(e+1)) */
    idx =
        (size_t)(e - HIST_SUB_BITS + 1) * HIST_SUB + ((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
    return idx < HIST_NBUCKETS ? idx : HIST_NBUCKETS - 1;
}

/* The largest value that falls in bucket `idx`. */
static uint64_t bucket_top(size_t idx)
{
    unsigned e;
    uint64_t sub;

    if (idx < HIST_SUB)
        return idx;
    e = (unsigned)(idx / HIST_SUB) + HIST_SUB_BITS - 1;
    sub = idx % HIST_SUB;
    return ((HIST_SUB + sub + 1) << (e - HIST_SUB_BITS)) - 1;
}

void hist_record(struct hist *h, uint64_t value)
{
    h->buckets[bucket_of(value)]++;
    h->count++;
    if (value > h->max)
        h->max = value;
}

void hist_merge(struct hist *a, const struct hist *b)
{
    for (size_t i = 0; i < HIST_NBUCKETS; i++)
        a->buckets[i] += b->buckets[i];
    a->count += b->count;
    if (b->max > a->max)
        a->max = b->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->count == 0)
        return 0;
    rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    for (size_t i = 0; i < HIST_NBUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > rank) {
            uint64_t top = bucket_top(i);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}
