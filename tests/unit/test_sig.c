/*
 * Unit tests: signals into the loop (sig.c), and a signal caught by our
 * handlers in a child that has not yet exec'd.
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
static int noted; /* SIGUSR1 as the loop was given it */

static void on_signal(int signo, void *arg)
{
    (void)arg;
    if (signo == SIGUSR1)
        noted++;
    ev_break(loop);
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
#if !defined(__SANITIZE_ADDRESS__)
    T_CASE(test_memory_sharing_child_leaves_our_flags_alone),
#endif
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
