/*
 * Unit tests: the plan of a reload (reload_plan), pure: the listeners in
 * force are the listens of an "old" configuration (address and service),
 * the plan says which the new configuration keeps, opens and closes.
 * No socket is opened.
 */
#include "conf.h"
#include "reload.h"
#include "t.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HAVE_MAX 16

static struct conf *parse(const char *text)
{
    char *errors = NULL;
    struct conf *c = conf_parse(text, "test.conf", &errors);

    if (c == NULL)
        T_FAIL("parse: %s", errors ? errors : "?");
    return c;
}

/* The listeners in force under `old`: each listen, in order. */
static size_t have_of(const struct conf *old, struct reload_have *have)
{
    size_t n = 0;

    for (size_t i = 0; i < old->nsvcs; i++)
        for (size_t j = 0; j < old->svcs[i].nlistens && n < HAVE_MAX; j++)
            have[n++] = (struct reload_have){&old->svcs[i].listens[j].addr, old->svcs[i].name};
    return n;
}

/*
 * A row: the old and new configurations, the index kept by each new
 * listen in order (-1: opened), and the old listeners closed ("" none; a
 * string of '0'/'1' per old listener).
 */
static const struct {
    const char *what;
    const char *old, *now;
    int keep[4];
    const char *close;
} rows[] = {
    {"same address kept",
     "[a]\nlisten = tcp://127.0.0.1:7000\nbuiltin = echo\n",
     "[a]\nlisten = tcp://127.0.0.1:7000\nbuiltin = echo\nidle_timeout = 5s\n",
     {0},
     "0"},
    {"same address moves to another service",
     "[a]\nlisten = tcp://127.0.0.1:7000\nbuiltin = echo\n",
     "[b]\nlisten = tcp://127.0.0.1:7000\nbuiltin = discard\n",
     {0},
     "0"},
    {"port 0 kept for the same service",
     "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
     "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
     {0},
     "0"},
    {"port 0 not kept for another service",
     "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
     "[b]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
     {-1},
     "1"},
    {"removed address closes",
     "[a]\nlisten = tcp://127.0.0.1:7000\nlisten = tcp://127.0.0.1:7001\nbuiltin = echo\n",
     "[a]\nlisten = tcp://127.0.0.1:7001\nbuiltin = echo\n",
     {1},
     "10"},
    {"added address opens",
     "[a]\nlisten = tcp://127.0.0.1:7000\nbuiltin = echo\n",
     "[a]\nlisten = tcp://127.0.0.1:7000\nlisten = tcp://127.0.0.1:7002\nbuiltin = echo\n",
     {0, -1},
     "0"},
    {"tcp becomes udp: a new socket",
     "[a]\nlisten = tcp://127.0.0.1:7000\nbuiltin = echo\n",
     "[a]\nlisten = udp://127.0.0.1:7000\nbuiltin = echo\n",
     {-1},
     "1"},
    {"tcp and udp on one port, both kept",
     "[a]\nlisten = tcp://127.0.0.1:7000\nlisten = udp://127.0.0.1:7000\nbuiltin = echo\n",
     "[a]\nlisten = udp://127.0.0.1:7000\nlisten = tcp://127.0.0.1:7000\nbuiltin = echo\n",
     {1, 0},
     "00"},
    {"unix path kept",
     "[a]\nlisten = unix:/tmp/usher-test.sock\nbuiltin = echo\n",
     "[a]\nlisten = unix:/tmp/usher-test.sock\nbuiltin = echo\nmode = 0600\n",
     {0},
     "0"},
    {"unix path changed",
     "[a]\nlisten = unix:/tmp/usher-test.sock\nbuiltin = echo\n",
     "[a]\nlisten = unix:/tmp/usher-other.sock\nbuiltin = echo\n",
     {-1},
     "1"},
    {"two port-0 listeners, each its own service's",
     "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n[b]\nlisten = tcp://127.0.0.1:0\nbuiltin = "
     "discard\n",
     "[b]\nlisten = tcp://127.0.0.1:0\nbuiltin = discard\n[a]\nlisten = tcp://127.0.0.1:0\nbuiltin "
     "= echo\n",
     {1, 0},
     "00"},
    {"removed service closes all its listeners",
     "[a]\nlisten = tcp://127.0.0.1:7000\nbuiltin = echo\n[b]\nlisten = tcp://127.0.0.1:7001\n"
     "listen = udp://127.0.0.1:7001\nbuiltin = echo\n",
     "[a]\nlisten = tcp://127.0.0.1:7000\nbuiltin = echo\n",
     {0},
     "011"},
};

static void check_row(size_t r)
{
    struct conf *old = parse(rows[r].old), *now = parse(rows[r].now);
    struct reload_have have[HAVE_MAX];
    size_t nhave = have_of(old, have);
    struct reload_plan p;
    unsigned kept = 0, opened = 0, closed = 0;

    T_EQ_INT(reload_plan(have, nhave, now, &p), 0);
    T_EQ_INT(p.nhave, nhave);
    T_EQ_INT(strlen(rows[r].close), nhave);
    for (size_t i = 0; i < p.nsteps; i++) {
        long want = rows[r].keep[i],
             got = p.steps[i].keep == RELOAD_OPEN ? -1 : (long)p.steps[i].keep;
        if (got != want)
            T_FAIL("%s: listen %zu keeps %ld, want %ld", rows[r].what, i, got, want);
        kept += got >= 0;
        opened += got < 0;
        T_ASSERT(p.steps[i].svc < now->nsvcs);
        T_ASSERT(p.steps[i].listen < now->svcs[p.steps[i].svc].nlistens);
    }
    for (size_t i = 0; i < nhave; i++) {
        if (p.close[i] != (rows[r].close[i] == '1'))
            T_FAIL("%s: old listener %zu closes %d, want %c", rows[r].what, i, p.close[i],
                   rows[r].close[i]);
        closed += p.close[i];
    }
    T_EQ_INT(p.kept, kept);
    T_EQ_INT(p.to_open, opened);
    T_EQ_INT(p.to_close, closed);
    reload_plan_free(&p);
    conf_unref(old);
    conf_unref(now);
}

static void test_plan_table(void)
{
    for (size_t r = 0; r < ARRAY_LEN(rows); r++)
        check_row(r);
}

static void test_nothing_in_force_opens_all(void)
{
    struct conf *now = parse("[a]\nlisten = tcp://127.0.0.1:7000\nlisten = udp://127.0.0.1:7000\n"
                             "builtin = echo\n[b]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");
    struct reload_plan p;

    T_EQ_INT(reload_plan(NULL, 0, now, &p), 0);
    T_EQ_INT(p.nsteps, 3);
    T_EQ_INT(p.to_open, 3);
    T_EQ_INT(p.kept, 0);
    T_EQ_INT(p.to_close, 0);
    T_EQ_INT(p.steps[2].svc, 1);
    T_EQ_INT(p.steps[2].listen, 0);
    reload_plan_free(&p);
    conf_unref(now);
}

static void test_one_listener_kept_once(void)
{
    /* Two new listens of one address cannot both keep the one socket in force. */
    struct conf *old = parse("[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");
    struct reload_have have[1] = {{&old->svcs[0].listens[0].addr, "a"}};
    struct reload_have twice[2] = {have[0], have[0]};
    struct reload_plan p;

    T_EQ_INT(reload_plan(twice, 2, old, &p), 0);
    T_EQ_INT(p.steps[0].keep, 0);
    T_EQ_INT(p.kept, 1);
    T_ASSERT(!p.close[0]);
    T_ASSERT(p.close[1]); /* the second one in force is nobody's */
    reload_plan_free(&p);
    conf_unref(old);
}

static void test_plan_free_twice_is_harmless(void)
{
    struct conf *now = parse("[a]\nlisten = tcp://127.0.0.1:7000\nbuiltin = echo\n");
    struct reload_plan p;

    T_EQ_INT(reload_plan(NULL, 0, now, &p), 0);
    reload_plan_free(&p);
    reload_plan_free(&p);
    T_ASSERT(p.steps == NULL && p.close == NULL && p.nsteps == 0);
    conf_unref(now);
}

static const struct t_case cases[] = {
    T_CASE(test_plan_table),
    T_CASE(test_nothing_in_force_opens_all),
    T_CASE(test_one_listener_kept_once),
    T_CASE(test_plan_free_twice_is_harmless),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
