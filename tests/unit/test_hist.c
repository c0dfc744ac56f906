/*
 * Unit tests: the log-bucketed latency histogram (hist.c).
 */
#include "hist.h"
#include "t.h"
#include "util.h"

#include <stdlib.h>

static struct hist h, g;

static void test_small_values_exact(void)
{
    /* Values below 128 are kept exactly. */
    for (uint64_t v = 0; v < 128; v++)
        hist_record(&h, v);
    T_EQ_INT(h.count, 128);
    T_EQ_INT(h.max, 127);
    T_EQ_INT(hist_quantile(&h, 0.0), 0);
    T_EQ_INT(hist_quantile(&h, 0.5), 64);
    T_EQ_INT(hist_quantile(&h, 1.0), 127);
}

static void test_relative_error_bounded(void)
{
    /* Any single value comes back within 1/64 above it, never below. */
    for (uint64_t v = 1; v < (1ull << 40); v = v * 3 + 7) {
        struct hist one = {0};
        uint64_t q;
        hist_record(&one, v);
        one.max = UINT64_MAX; /* let the bucket top show */
        q = hist_quantile(&one, 0.5);
        if (q < v || (double)(q - v) > (double)v / 64.0 + 1)
            T_FAIL("value %llu reported as %llu", (unsigned long long)v, (unsigned long long)q);
    }
}

static void test_quantiles_of_uniform(void)
{
    /* 1..100000 us: p50 near 50000, p99 near 99000, capped at the maximum. */
    for (uint64_t v = 1; v <= 100000; v++)
        hist_record(&h, v * 1000);
    T_ASSERT(llabs((long long)hist_quantile(&h, 0.5) - 50000000LL) < 50000000LL / 60);
    T_ASSERT(llabs((long long)hist_quantile(&h, 0.99) - 99000000LL) < 99000000LL / 60);
    T_EQ_INT(hist_quantile(&h, 1.0), 100000000);
}

static void test_merge(void)
{
    hist_record(&h, 10);
    hist_record(&g, 1000000);
    hist_merge(&h, &g);
    T_EQ_INT(h.count, 2);
    T_EQ_INT(h.max, 1000000);
    T_EQ_INT(hist_quantile(&h, 0.0), 10);
}

static void test_empty(void)
{
    T_EQ_INT(hist_quantile(&h, 0.99), 0);
}

static const struct t_case cases[] = {
    T_CASE(test_small_values_exact),
    T_CASE(test_relative_error_bounded),
    T_CASE(test_quantiles_of_uniform),
    T_CASE(test_merge),
    T_CASE(test_empty),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
