/*
 * Unit tests: when a new connection is read at once (io.c, first_read).
 */
#include "io.h"
#include "t.h"
#include "util.h"

#include <string.h>

/* One step: what the read found ('+' data, '-' nothing), or '.' for a connection not read. */
struct step_case {
    const char *name;
    const char *steps; /* in order; each checked against first_read_worth */
};

static void run(const struct step_case *c)
{
    struct first_read fr = {0};

    for (size_t i = 0; c->steps[i] != '\0'; i++) {
        bool worth = first_read_worth(&fr);
        if (worth != (c->steps[i] != '.'))
            T_FAIL("%s: step %zu: read at once %s, expected %c", c->name, i, worth ? "yes" : "no",
                   c->steps[i]);
        if (worth)
            first_read_found(&fr, c->steps[i] == '+');
    }
}

static void test_steps(void)
{
    /* The 15 connections that go unread between two tries. */
#define SKIPPED "..............."
    static const struct step_case cases[] = {
        {"a fresh set reads first", "+"},
        {"reads that find data go on", "++++++++++++++++++++"},
        {"a miss now and then is forgiven", "+-+-+-+-+-+-+"},
        {"two misses in a row stop it, but for one connection in 16", "--" SKIPPED "-" SKIPPED "-"},
        {"a try that finds data brings it back", "--" SKIPPED "+++++"},
        {"after a third miss, two tries must find data",
         "--" SKIPPED "-" SKIPPED "+" SKIPPED "++++"},
        {"the score stops at three misses",
         "--" SKIPPED "-" SKIPPED "-" SKIPPED "-" SKIPPED "+" SKIPPED "++"},
        {"data found at once after a stop is one step back", "--" SKIPPED "+-" SKIPPED "+"},
    };
#undef SKIPPED

    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        run(&cases[i]);
}

static const struct t_case cases[] = {
    T_CASE(test_steps),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
