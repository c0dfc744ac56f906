/*
 * Unit tests: the loop guard of wait = yes stream programs (wait_guard.c),
 * on a fake clock.
 */
#include "t.h"
#include "util.h"
#include "wait_guard.h"

#include <string.h>

/* One exit of the program: after `gap_ms`, still_waiting or not; the back-off wanted. */
struct step {
    int gap_ms;
    bool still_waiting;
    int backoff_ms;
};

static void run(const char *name, const struct step *steps, size_t n)
{
    struct wait_guard g;
    int64_t now = 1000000;

    memset(&g, 0, sizeof(g));
    for (size_t i = 0; i < n; i++) {
        int got;
        now += steps[i].gap_ms;
        got = wait_guard_exit(&g, now, steps[i].still_waiting);
        if (got != steps[i].backoff_ms)
            T_FAIL("%s: exit %zu: back-off %d ms, wanted %d", name, i, got, steps[i].backoff_ms);
    }
}

static void test_fifth_quick_exit_without_accepting_backs_off(void)
{
    static const struct step s[] = {
        {10, true, 0}, {10, true, 0}, {10, true, 0}, {10, true, 0}, {10, true, 1000},
    };
    run("five quick", s, ARRAY_LEN(s));
}

static void test_backoff_doubles_up_to_the_maximum(void)
{
    struct step s[WAIT_GUARD_EXITS * 9];
    int want[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};

    for (size_t round = 0; round < ARRAY_LEN(want); round++)
        for (size_t i = 0; i < WAIT_GUARD_EXITS; i++)
            s[round * WAIT_GUARD_EXITS + i] =
                (struct step){i == 0 && round > 0 ? want[round - 1] : 5, true,
                              i == WAIT_GUARD_EXITS - 1 ? want[round] : 0};
    run("doubling", s, ARRAY_LEN(s));
}

static void test_an_accept_ends_the_episode(void)
{
    static const struct step s[] = {
        {10, true, 0},   {10, true, 0},    {10, true, 0}, {10, true, 0}, {10, true, 1000},
        {1000, true, 0}, {10, false, 0},   {10, true, 0}, {10, true, 0}, {10, true, 0},
        {10, true, 0},   {10, true, 1000}, /* back to the first back-off */
    };
    run("accept resets", s, ARRAY_LEN(s));
}

static void test_accepting_programs_never_back_off(void)
{
    struct step s[50];

    for (size_t i = 0; i < ARRAY_LEN(s); i++)
        s[i] = (struct step){1, false, 0};
    run("accepting", s, ARRAY_LEN(s));
}

static void test_slow_exits_never_back_off(void)
{
    /* Five in a row, but spread over more than the window: a busy service, not a loop. */
    static const struct step s[] = {
        {3000, true, 0}, {3000, true, 0}, {3000, true, 0}, {3000, true, 0},
        {3000, true, 0}, {3000, true, 0}, {3000, true, 0},
    };
    run("slow", s, ARRAY_LEN(s));
}

static void test_window_slides(void)
{
    /* A slow start, then five within the window: the last five count. */
    static const struct step s[] = {
        {0, true, 0},  {20000, true, 0}, {10, true, 0},
        {10, true, 0}, {10, true, 0},    {10, true, 1000},
    };
    run("sliding", s, ARRAY_LEN(s));
}

static const struct t_case cases[] = {
    T_CASE(test_fifth_quick_exit_without_accepting_backs_off),
    T_CASE(test_backoff_doubles_up_to_the_maximum),
    T_CASE(test_an_accept_ends_the_episode),
    T_CASE(test_accepting_programs_never_back_off),
    T_CASE(test_slow_exits_never_back_off),
    T_CASE(test_window_slides),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
