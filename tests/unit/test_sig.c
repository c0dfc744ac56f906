/*
 * Unit tests: signals into the loop (sig.c), held signals (sig_hold with
 * the loop's holds), and a signal caught by our handlers in a child that
 * has not yet exec'd.
 */
#include "ev.h"
#include "sig.h"
#include "t.h"
#include "util.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct ev_loop *loop;
static int noted;        /* SIGUSR1 as the loop was given it */
static int64_t noted_at; /* ev_now() then */

static void on_signal(int signo, void *arg)
{
    (void)arg;
    if (signo == SIGUSR1) {
        noted++;
        noted_at = ev_now(loop);
    }
    ev_break(loop);
}

static bool yes(void *arg)
{
    (void)arg;
    return true;
}

static bool no(void *arg)
{
    (void)arg;
    return false;
}

static bool usr1_pending(void)
{
    sigset_t set;

    T_ASSERT(sigpending(&set) == 0);
    return sigismember(&set, SIGUSR1) == 1;
}

/* A timer that sends us SIGUSR1 while the loop works. */
static void send_usr1(struct ev_loop *l, struct ev_timer *t)
{
    (void)l, (void)t;
    T_ASSERT(kill(getpid(), SIGUSR1) == 0);
}

static void on_deadline(struct ev_loop *l, struct ev_timer *t)
{
    (void)t;
    ev_break(l);
}

/* Run the loop until a signal is noted or `ms` pass. */
static void run_for(int64_t ms)
{
    struct ev_timer deadline;

    ev_timer_init(&deadline, on_deadline, NULL);
    ev_timer_start(loop, &deadline, ms);
    ev_run(loop);
    ev_timer_stop(loop, &deadline);
}

static void set_up(void)
{
    static const int signals[] = {SIGUSR1, SIGCHLD, 0};

    noted = 0;
    loop = ev_loop_new();
    T_ASSERT(loop != NULL);
    T_ASSERT(sig_init(loop, signals, on_signal, NULL) == 0);
}

static void tear_down(void)
{
    sig_shutdown(loop);
    ev_loop_free(loop);
}

/* The child's end: killed by SIGUSR1, as it would have been after an exec. */
static void expect_killed_by_usr1(pid_t pid)
{
    int status;

    T_ASSERT(pid > 0);
    T_ASSERT(waitpid(pid, &status, __WALL) == pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGUSR1)
        T_FAIL("the child was not killed by SIGUSR1 (status %#x)", status);
}

static void test_signal_reaches_the_loop(void)
{
    set_up();
    T_ASSERT(kill(getpid(), SIGUSR1) == 0);
    run_for(2000);
    T_EQ_INT(noted, 1);
    tear_down();
}

static void test_forked_child_gets_the_default_action(void)
{
    /* A forked child still has our handlers: the signal it is sent must act as SIG_DFL. */
    pid_t pid;

    set_up();
    pid = fork();
    if (pid == 0) {
        kill(getpid(), SIGUSR1);
        _exit(0); /* not reached when the signal acted */
    }
    expect_killed_by_usr1(pid);
    run_for(100);
    T_EQ_INT(noted, 0);
    tear_down();
}

static void test_held_signal_waits_for_the_next_wake_up(void)
{
    /* Held, SIGUSR1 sent while we work stays pending; the loop's next
     * wake-up (a 0 ms deadline, in a hold) takes it and gives it to us. */
    set_up();
    T_EQ_INT(sig_hold(loop, SIGUSR1, yes, NULL), 0);
    T_ASSERT(kill(getpid(), SIGUSR1) == 0);
    T_ASSERT(usr1_pending());
    T_EQ_INT(noted, 0);
    ev_hold(loop, 1000);
    run_for(0);
    T_EQ_INT(noted, 1);
    T_ASSERT(!usr1_pending());
    tear_down();
}

static void test_hold_keeps_a_held_signal_out_of_the_sleep(void)
{
    /* A timer sends SIGUSR1 at 10 ms, within a 150 ms hold: the loop's
     * sleep is not cut short; the signal is taken when the hold ends. */
    struct ev_timer sender;
    int64_t start;

    set_up();
    T_EQ_INT(sig_hold(loop, SIGUSR1, yes, NULL), 0);
    start = ev_now(loop);
    ev_hold(loop, 150);
    ev_timer_init(&sender, send_usr1, NULL);
    ev_timer_start(loop, &sender, 10);
    run_for(5000);
    T_EQ_INT(noted, 1);
    if (noted_at - start < 149)
        T_FAIL("taken %lld ms after the start, within the 150 ms hold",
               (long long)(noted_at - start));
    tear_down();
}

static void test_unheld_sleep_lets_a_held_signal_in(void)
{
    /* No hold: SIGUSR1 sent at 10 ms is let in as the loop goes to sleep,
     * long before the 5 s deadline that would otherwise wake it. */
    struct ev_timer sender;
    int64_t start;

    set_up();
    T_EQ_INT(sig_hold(loop, SIGUSR1, yes, NULL), 0);
    start = ev_now(loop);
    ev_timer_init(&sender, send_usr1, NULL);
    ev_timer_start(loop, &sender, 10);
    run_for(5000);
    T_EQ_INT(noted, 1);
    if (noted_at - start >= 4000)
        T_FAIL("taken %lld ms after the start: the sleep did not let it in",
               (long long)(noted_at - start));
    tear_down();
}

static void test_held_signal_left_pending_when_not_expected(void)
{
    /* `expected` says none can have come: nothing is asked of the kernel,
     * and the signal stays pending (for the next sleep without a hold). */
    set_up();
    T_EQ_INT(sig_hold(loop, SIGUSR1, no, NULL), 0);
    T_ASSERT(kill(getpid(), SIGUSR1) == 0);
    ev_hold(loop, 1000);
    run_for(0);
    T_EQ_INT(noted, 0);
    T_ASSERT(usr1_pending());
    tear_down(); /* unblocked there: caught and noted, not the default action */
}

#if !defined(__SANITIZE_ADDRESS__)
static char child_stack[64 * 1024] __attribute__((aligned(64)));

static int shared_child(void *arg)
{
    (void)arg;
    syscall(SYS_kill, syscall(SYS_getpid), SIGUSR1);
    syscall(SYS_exit, 0);
    return 0;
}

static void test_memory_sharing_child_leaves_our_flags_alone(void)
{
    /* As spawn_child makes its children: CLONE_VM, signals not blocked.  The
     * child's signal must kill it and never be noted as ours. */
    pid_t pid;

    set_up();
    pid = clone(shared_child, child_stack + sizeof(child_stack), CLONE_VM | SIGCHLD, NULL);
    expect_killed_by_usr1(pid);
    run_for(100);
    T_EQ_INT(noted, 0);
    tear_down();
}
#endif

static const struct t_case cases[] = {
    T_CASE(test_signal_reaches_the_loop),
    T_CASE(test_forked_child_gets_the_default_action),
    T_CASE(test_held_signal_waits_for_the_next_wake_up),
    T_CASE(test_hold_keeps_a_held_signal_out_of_the_sleep),
    T_CASE(test_unheld_sleep_lets_a_held_signal_in),
    T_CASE(test_held_signal_left_pending_when_not_expected),
#if !defined(__SANITIZE_ADDRESS__)
    T_CASE(test_memory_sharing_child_leaves_our_flags_alone),
#endif
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
