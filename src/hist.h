/*
 * hist: a latency histogram with log-spaced buckets.  Values below 64 are
 * kept exactly; above, each power of two is cut in 64 buckets, so any
 * value is known to within 1/64 (1.6 %).  Fixed size, no allocation:
 * recording is an index and an increment.
 */
#ifndef USHER_HIST_H
#define USHER_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB      (1 << HIST_SUB_BITS)
#define HIST_POWERS   42 /* up to 2^42 ns: over an hour */

struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t buckets[(HIST_POWERS - HIST_SUB_BITS + 1) * HIST_SUB];
};

void hist_record(struct hist *h, uint64_t value);

/* Add b's counts to a's. */
void hist_merge(struct hist *a, const struct hist *b);

/* The value at quantile q (0..1): the top of its bucket, capped at the maximum.  0 if empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
