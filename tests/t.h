/*
 * t: a small test runner.  Each test binary has a table of cases; every case
 * runs in its own forked process group under a timeout, and whatever it
 * started (a daemon, a client) is killed with the group when it ends.
 *
 *   static const struct t_case cases[] = {
 *       T_CASE(test_something),
 *       T_CASE_TIMEOUT(test_slow_thing, 60),
 *   };
 *   int main(int argc, char **argv) { return t_main(argc, argv, cases, ARRAY_LEN(cases)); }
 *
 * Output: one "ok", "FAIL" or "skip" line per case, then
 * "# SUITE: N passed, M failed, K skipped", which tests/run.sh adds up.
 * $T_SCALE multiplies every timeout (the sanitizer build sets it).
 * With $USHER_TEST_MODEL set (and not "event"), SUITE is "NAME[model=X]".
 * An argument selects the cases whose name contains it.
 */
#ifndef USHER_T_H
#define USHER_T_H

#include <stddef.h>
#include <string.h>

struct t_case {
    const char *name;
    void (*fn)(void);
    unsigned timeout_s; /* 0: the default (30 s, or $T_TIMEOUT) */
};

#define T_CASE(fn)                                                                                 \
    {                                                                                              \
#fn, fn, 0                                                                                 \
    }
#define T_CASE_TIMEOUT(fn, secs)                                                                   \
    {                                                                                              \
#fn, fn, secs                                                                              \
    }

int t_main(int argc, char **argv, const struct t_case *cases, size_t n);

/* End the current case as failed or skipped.  Never return. */
void t_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
void t_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Run `fn` when the current case ends, however it ends (at most 16). */
void t_at_end(void (*fn)(void));

/* $T_SCALE (default 1): sanitizer builds run slower and wait longer. */
unsigned t_scale(void);

/* Print a diagnostic line under the current case. */
void t_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define T_FAIL(...) t_fail(__FILE__, __LINE__, __VA_ARGS__)

#define T_ASSERT(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            t_fail(__FILE__, __LINE__, "assertion failed: %s", #cond);                             \
    } while (0)

#define T_EQ_INT(a, b)                                                                             \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        if (t_a_ != t_b_)                                                                          \
            t_fail(__FILE__, __LINE__, "%s == %s: got %lld, want %lld", #a, #b, t_a_, t_b_);       \
    } while (0)

#define T_EQ_STR(a, b)                                                                             \
    do {                                                                                           \
        const char *t_a_ = (a), *t_b_ = (b);                                                       \
        if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0)                               \
            t_fail(__FILE__, __LINE__, "%s == %s: got \"%s\", want \"%s\"", #a, #b,                \
                   t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                                \
    } while (0)

#define T_EQ_MEM(a, b, n)                                                                          \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0)                                                            \
            t_fail(__FILE__, __LINE__, "%s == %s: the %zu bytes differ", #a, #b, (size_t)(n));     \
    } while (0)

#define T_CONTAINS(hay, needle)                                                                    \
    do {                                                                                           \
        const char *t_h_ = (hay), *t_n_ = (needle);                                                \
        if (t_h_ == NULL || strstr(t_h_, t_n_) == NULL)                                            \
            t_fail(__FILE__, __LINE__, "%s does not contain \"%s\": \"%s\"", #hay, t_n_,           \
                   t_h_ ? t_h_ : "(null)");                                                        \
    } while (0)

#endif
