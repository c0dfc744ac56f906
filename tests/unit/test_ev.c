/*
 * Unit tests: the event loop's descriptors and timers (ev.c).
 */
#include "ev.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define NTIMERS 500

static int64_t fired_at[NTIMERS];
static int fire_order[NTIMERS];
static int nfired;

static void record_timer(struct ev_loop *loop, struct ev_timer *t)
{
    int idx = (int)(intptr_t)t->arg;

    fired_at[idx] = t->when;
    fire_order[nfired++] = idx;
    if (nfired == NTIMERS)
        ev_break(loop);
}

static void test_timers_fire_in_deadline_order(void)
{
    /* 500 timers with scattered deadlines fire once each, earliest first. */
    struct ev_loop *loop = ev_loop_new();
    static struct ev_timer timers[NTIMERS];

    srand(42);
    for (int i = 0; i < NTIMERS; i++) {
        ev_timer_init(&timers[i], record_timer, (void *)(intptr_t)i);
        ev_timer_start(loop, &timers[i], rand() % 50);
    }
    T_EQ_INT(ev_run(loop), 0);
    T_EQ_INT(nfired, NTIMERS);
    for (int i = 1; i < NTIMERS; i++)
        T_ASSERT(fired_at[fire_order[i - 1]] <= fired_at[fire_order[i]]);
    for (int i = 0; i < NTIMERS; i++)
        T_ASSERT(!ev_timer_active(&timers[i]));
    ev_loop_free(loop);
}

static void count_timer(struct ev_loop *loop, struct ev_timer *t)
{
    (void)loop;
    (*(int *)t->arg)++;
}

static void stop_loop(struct ev_loop *loop, struct ev_timer *t)
{
    (void)t;
    ev_break(loop);
}

static void test_stopped_and_restarted_timers(void)
{
    /* A stopped timer never fires; restarting moves the deadline. */
    struct ev_loop *loop = ev_loop_new();
    struct ev_timer a, b, end;
    int na = 0, nb = 0;
    int64_t start = now_ms();

    ev_timer_init(&a, count_timer, &na);
    ev_timer_init(&b, count_timer, &nb);
    ev_timer_init(&end, stop_loop, NULL);
    ev_timer_start(loop, &a, 5);
    ev_timer_start(loop, &b, 5);
    ev_timer_stop(loop, &a);
    ev_timer_start(loop, &b, 60); /* pushed later */
    ev_timer_start(loop, &end, 40);
    ev_run(loop);
    T_EQ_INT(na, 0);
    T_EQ_INT(nb, 0); /* not yet: it was moved past the end */
    T_ASSERT(now_ms() - start >= 40);
    ev_timer_start(loop, &end, 100);
    ev_run(loop);
    T_EQ_INT(nb, 1);
    ev_loop_free(loop);
}

struct pipe_ctx {
    int reads;
    int other_fd;
    bool delete_other;
    bool keep_running; /* do not end the loop from the callback */
};

static void on_readable(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct pipe_ctx *ctx = arg;
    char c;

    T_ASSERT(events & EV_READ);
    T_EQ_INT(read(fd, &c, 1), 1);
    ctx->reads++;
    if (ctx->delete_other)
        ev_io_del(loop, ctx->other_fd);
    if (!ctx->keep_running)
        ev_break(loop);
}

static void test_io_readiness_and_interest(void)
{
    /* A readable pipe calls back; interest 0 silences it without unregistering. */
    struct ev_loop *loop = ev_loop_new();
    struct pipe_ctx ctx = {0};
    struct ev_timer end;
    int p[2];

    T_EQ_INT(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    T_EQ_INT(ev_io_add(loop, p[0], EV_READ, on_readable, &ctx), 0);
    T_EQ_INT(write(p[1], "xy", 2), 2);
    ev_run(loop);
    T_EQ_INT(ctx.reads, 1);
    T_EQ_INT(ev_io_set(loop, p[0], 0), 0);
    T_EQ_INT(ev_io_events(loop, p[0]), 0);
    ev_timer_init(&end, stop_loop, NULL);
    ev_timer_start(loop, &end, 30);
    ev_run(loop);
    T_EQ_INT(ctx.reads, 1); /* still one byte waiting, but not watched */
    T_EQ_INT(ev_io_set(loop, p[0], EV_READ), 0);
    ev_run(loop);
    T_EQ_INT(ctx.reads, 2);
    T_EQ_INT(ev_io_add(loop, p[0], EV_READ, on_readable, &ctx), -1);
    ev_io_del(loop, p[0]);
    close(p[0]);
    close(p[1]);
    ev_loop_free(loop);
}

static void test_rebind_hands_over(void)
{
    /* A descriptor registered (not watched) by one owner is handed to
     * another with EV_READ: only the new owner's callback runs; an
     * unregistered descriptor cannot be handed over. */
    struct ev_loop *loop = ev_loop_new();
    struct pipe_ctx old = {0}, taker = {0};
    int p[2];

    T_EQ_INT(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    T_EQ_INT(ev_io_add(loop, p[0], 0, on_readable, &old), 0);
    T_EQ_INT(write(p[1], "x", 1), 1);
    T_EQ_INT(ev_io_rebind(loop, p[0], EV_READ, on_readable, &taker), 0);
    T_EQ_INT((int)ev_io_events(loop, p[0]), EV_READ);
    ev_run(loop);
    T_EQ_INT(old.reads, 0);
    T_EQ_INT(taker.reads, 1);
    T_EQ_INT(ev_io_rebind(loop, p[1], EV_WRITE, on_readable, &taker), -1);
    T_EQ_INT(errno, EBADF);
    ev_io_del(loop, p[0]);
    close(p[0]);
    close(p[1]);
    ev_loop_free(loop);
}

static void test_delete_in_callback(void)
{
    /* Two ready pipes: the first callback deletes the other, which must not run. */
    struct ev_loop *loop = ev_loop_new();
    struct pipe_ctx a = {.keep_running = true}, b = {.keep_running = true};
    struct ev_timer end;
    int p[2], q[2];

    T_EQ_INT(pipe2(p, O_NONBLOCK), 0);
    T_EQ_INT(pipe2(q, O_NONBLOCK), 0);
    a.other_fd = q[0];
    a.delete_other = true;
    b.other_fd = p[0];
    b.delete_other = true;
    ev_io_add(loop, p[0], EV_READ, on_readable, &a);
    ev_io_add(loop, q[0], EV_READ, on_readable, &b);
    T_EQ_INT(write(p[1], "x", 1), 1);
    T_EQ_INT(write(q[1], "x", 1), 1);
    ev_timer_init(&end, stop_loop, NULL);
    ev_timer_start(loop, &end, 30);
    ev_run(loop);
    T_EQ_INT(a.reads + b.reads, 1);
    ev_loop_free(loop);
}

static void test_random_starts_and_stops_keep_heap_order(void)
{
    /*
     * Random starts, restarts and stops of 300 timers (moving deadlines both
     * ways, removing roots and inner nodes): exactly the timers left active
     * fire, once each, in deadline order.
     */
    enum { N = 300 };
    static struct ev_timer timers[N];
    struct ev_loop *loop = ev_loop_new();
    bool active[N] = {false};
    int expected = 0;

    srand(7);
    nfired = 0;
    for (int i = 0; i < N; i++)
        ev_timer_init(&timers[i], record_timer, (void *)(intptr_t)i);
    for (int op = 0; op < 5000; op++) {
        int i = rand() % N;
        if (rand() % 4 == 0) {
            ev_timer_stop(loop, &timers[i]);
            active[i] = false;
        } else {
            ev_timer_start(loop, &timers[i], rand() % 40);
            active[i] = true;
        }
        T_ASSERT(ev_timer_active(&timers[i]) == active[i]);
    }
    for (int i = 0; i < N; i++)
        expected += active[i];
    /* One more timer ends the loop after the others: record_timer stops at NTIMERS. */
    nfired = NTIMERS - expected;
    T_EQ_INT(ev_run(loop), 0);
    T_EQ_INT(nfired, NTIMERS);
    for (int k = NTIMERS - expected + 1; k < NTIMERS; k++)
        T_ASSERT(timers[fire_order[k - 1]].when <= timers[fire_order[k]].when);
    for (int k = NTIMERS - expected; k < NTIMERS; k++) {
        T_ASSERT(active[fire_order[k]]);
        active[fire_order[k]] = false; /* fired once, no more */
    }
    for (int i = 0; i < N; i++)
        T_ASSERT(!active[i] && !ev_timer_active(&timers[i]));
    ev_loop_free(loop);
}

static void test_huge_and_negative_delays_saturate(void)
{
    /*
     * A delay near INT64_MAX is "never", not an overflow into the past (that
     * would fire at once and spin); a negative delay fires at once.
     */
    struct ev_loop *loop = ev_loop_new();
    struct ev_timer never, later, now, end;
    int nnever = 0, nlater = 0, nnow = 0;

    ev_timer_init(&never, count_timer, &nnever);
    ev_timer_init(&later, count_timer, &nlater);
    ev_timer_init(&now, count_timer, &nnow);
    ev_timer_init(&end, stop_loop, NULL);
    ev_timer_start(loop, &never, INT64_MAX);
    ev_timer_start(loop, &later, INT64_MAX - 1);
    ev_timer_start(loop, &now, -5);
    ev_timer_start(loop, &end, 20);
    T_EQ_INT(never.when, INT64_MAX);
    T_EQ_INT(later.when, INT64_MAX);
    T_EQ_INT(ev_run(loop), 0);
    T_EQ_INT(nnow, 1);
    T_EQ_INT(nnever, 0);
    T_EQ_INT(nlater, 0);
    T_ASSERT(ev_timer_active(&never) && ev_timer_active(&later));
    ev_timer_stop(loop, &never);
    ev_timer_stop(loop, &later);
    ev_loop_free(loop);
}

static const struct t_case cases[] = {
    T_CASE(test_timers_fire_in_deadline_order),
    T_CASE(test_stopped_and_restarted_timers),
    T_CASE(test_random_starts_and_stops_keep_heap_order),
    T_CASE(test_huge_and_negative_delays_saturate),
    T_CASE(test_io_readiness_and_interest),
    T_CASE(test_delete_in_callback),
    T_CASE(test_rebind_hands_over),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
