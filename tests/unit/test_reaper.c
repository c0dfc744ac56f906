/*
 * Unit tests: the reaper (reaper.c) with real children that exit at once.
 * Each child is waited for with waitid(WNOWAIT), which blocks until it has
 * exited without reaping it, so no case sleeps.
 */
#include "reaper.h"
#include "t.h"
#include "util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct seen {
    pid_t pid;
    int status;
    unsigned calls;
};

static void on_exit_fn(pid_t pid, int status, void *arg)
{
    struct seen *s = arg;

    s->pid = pid;
    s->status = status;
    s->calls++;
}

static pid_t child_exiting(int code)
{
    pid_t pid = fork();

    T_ASSERT(pid >= 0);
    if (pid == 0)
        _exit(code);
    return pid;
}

/* Block until `pid` has exited, leaving it to be reaped. */
static void wait_exited(pid_t pid)
{
    siginfo_t si;

    T_EQ_INT(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
}

static void test_child_status_given_once(void)
{
    struct reaper r = {0};
    struct seen s = {0};
    pid_t pid = child_exiting(7);

    T_EQ_INT(reaper_watch(&r, pid, on_exit_fn, &s), 0);
    T_EQ_INT(reaper_count(&r), 1);
    wait_exited(pid);
    reaper_reap(&r);
    T_EQ_INT(s.calls, 1);
    T_EQ_INT(s.pid, pid);
    T_ASSERT(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 7);
    T_EQ_INT(reaper_count(&r), 0);
    reaper_reap(&r); /* nothing left: no call, no error */
    T_EQ_INT(s.calls, 1);
    reaper_free(&r);
}

static void test_many_children_table_grows(void)
{
    enum { N = 150 }; /* past the first table and its first growth */
    struct reaper r = {0};
    static struct seen s[N];
    pid_t pids[N];

    for (int i = 0; i < N; i++) {
        pids[i] = child_exiting(i % 100);
        T_EQ_INT(reaper_watch(&r, pids[i], on_exit_fn, &s[i]), 0);
    }
    T_EQ_INT(reaper_count(&r), N);
    for (int i = 0; i < N; i++)
        wait_exited(pids[i]);
    reaper_reap(&r);
    T_EQ_INT(reaper_count(&r), 0);
    for (int i = 0; i < N; i++) {
        T_EQ_INT(s[i].calls, 1);
        T_EQ_INT(WEXITSTATUS(s[i].status), i % 100);
    }
    reaper_free(&r);
}

static pid_t child_pausing(void)
{
    pid_t pid = fork();

    T_ASSERT(pid >= 0);
    if (pid == 0)
        for (;;)
            pause();
    return pid;
}

static void test_children_coming_and_going_keep_the_table_small(void)
{
    /*
     * A thousand children come and go, 24 alive at any time, the oldest
     * killed and reaped as each new one starts: deletions among live
     * neighbours.  Each is told once, and the table stays its first size.
     */
    enum { N = 1000, ALIVE = 24 };
    struct reaper r = {0};
    static struct seen s[N];
    pid_t pids[N];

    for (int i = 0; i < N + ALIVE; i++) {
        if (i < N) {
            pids[i] = child_pausing();
            T_EQ_INT(reaper_watch(&r, pids[i], on_exit_fn, &s[i]), 0);
        }
        if (i >= ALIVE) {
            pid_t old = pids[i - ALIVE];
            T_EQ_INT(kill(old, SIGKILL), 0);
            wait_exited(old);
            reaper_reap(&r);
            T_EQ_INT(s[i - ALIVE].calls, 1);
            T_EQ_INT(s[i - ALIVE].pid, old);
        }
    }
    T_EQ_INT(reaper_count(&r), 0);
    T_EQ_INT(r.cap, 64);
    reaper_free(&r);
}

static void test_unknown_child_reaped(void)
{
    /* A child nobody watches is reaped all the same (no zombie), the others unharmed. */
    struct reaper r = {0};
    struct seen s = {0};
    pid_t stray = child_exiting(1), mine = child_exiting(2);
    siginfo_t si;

    T_EQ_INT(reaper_watch(&r, mine, on_exit_fn, &s), 0);
    wait_exited(stray);
    wait_exited(mine);
    reaper_reap(&r);
    T_EQ_INT(s.calls, 1);
    memset(&si, 0, sizeof(si));
    T_EQ_INT(waitid(P_PID, (id_t)stray, &si, WEXITED | WNOHANG), -1); /* gone: ECHILD */
    reaper_free(&r);
}

static struct reaper *chained_reaper;
static struct seen chained_second;

static void watch_another(pid_t pid, int status, void *arg)
{
    pid_t next = child_exiting(3);

    (void)pid, (void)status, (void)arg;
    /* Inside a child's function, watching another is allowed: its entry is already gone. */
    T_EQ_INT(reaper_watch(chained_reaper, next, on_exit_fn, &chained_second), 0);
    wait_exited(next);
}

static void test_function_may_watch_another(void)
{
    struct reaper r = {0};
    pid_t pid = child_exiting(0);

    chained_reaper = &r;
    T_EQ_INT(reaper_watch(&r, pid, watch_another, NULL), 0);
    wait_exited(pid);
    reaper_reap(&r); /* reaps the first, whose function starts the second, which is reaped too */
    T_EQ_INT(chained_second.calls, 1);
    T_EQ_INT(WEXITSTATUS(chained_second.status), 3);
    T_EQ_INT(reaper_count(&r), 0);
    reaper_free(&r);
}

static void test_forget_drops_the_parents_table(void)
{
    struct reaper r = {0}, copy;
    struct seen s = {0};

    T_EQ_INT(reaper_watch(&r, 999999, on_exit_fn, &s), 0);
    copy = r; /* what a forked process has: the parent's table */
    reaper_forget(&copy);
    T_EQ_INT(reaper_count(&copy), 0);
    T_ASSERT(copy.table == NULL);
    T_EQ_INT(reaper_count(&r), 1); /* the parent's is untouched */
    reaper_free(&r);
}

static const struct t_case cases[] = {
    T_CASE(test_child_status_given_once),
    T_CASE(test_many_children_table_grows),
    T_CASE(test_children_coming_and_going_keep_the_table_small),
    T_CASE(test_unknown_child_reaped),
    T_CASE(test_function_may_watch_another),
    T_CASE(test_forget_drops_the_parents_table),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
