/*
 * sig: self-pipe signal delivery, and held signals (see sig.h).
 */
#include "sig.h"

#include "ev.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int pipe_rd = -1, pipe_wr = -1;
static volatile sig_atomic_t pending[NSIG];
static int caught[NSIG];
static int ncaught;
static sig_fn *owner_fn;
static void *owner_arg;
static pid_t owner_pid; /* the process whose loop the handlers wake (sig_init) */
/* Signals a child must get back at their default: ours, and those we inherited ignored. */
static int changed[NSIG];
static int nchanged;
/* Held signals (sig_hold): blocked but while the loop sleeps unheld. */
static sigset_t held;
static bool held_any;
static bool (*held_expected)(void *);
static void *held_arg;

/*
 * A child that shares our memory runs our handlers between its clone and
 * its exec, as the parent does not block signals around that clone (see
 * spawn_child): a signal caught there is the child's.  It gets back its
 * default action and is raised again, to act as the handler returns, as
 * it would have after the exec.  Neither call can fail here, and a call
 * that succeeds leaves errno (ours, in that shared memory) alone.
 */
static void not_ours(int signo, pid_t self)
{
    struct sigaction dfl;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    (void)sigaction(signo, &dfl, NULL);
    (void)kill(self, signo);
}

static void note_signal(int signo)
{
    pid_t self = getpid();
    int saved;
    char byte = (char)signo;

    if (self != owner_pid) {
        not_ours(signo, self);
        return;
    }
    saved = errno;

    /*
     * Already noted and not yet taken: its byte is in the pipe, or drain
     * has read the pipe and will take the flag after this (it clears a
     * flag before it acts on it).  One write per wake-up, not per signal.
     */
    if (pending[signo]) {
        errno = saved;
        return;
    }
    pending[signo] = 1;
    /* A full pipe already holds a wake-up; the flag carries the signal. */
    if (write(pipe_wr, &byte, 1) < 0) {
        /* nothing to do in a handler */
    }
    errno = saved;
}

static void drain(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    char buf[64];

    (void)loop, (void)events, (void)arg;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    for (int i = 0; i < ncaught; i++) {
        int signo = caught[i];
        if (!pending[signo])
            continue;
        pending[signo] = 0;
        owner_fn(signo, owner_arg);
    }
}

static int set_disposition(int signo, void (*handler)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = handler == SIG_IGN || handler == SIG_DFL ? 0 : SA_RESTART;
    if (signo == SIGCHLD && handler != SIG_IGN && handler != SIG_DFL)
        sa.sa_flags |= SA_NOCLDSTOP;
    return sigaction(signo, &sa, NULL);
}

/*
 * The kernel's sigaction, for the signals glibc keeps for itself (32 and
 * 33, which its sigaction refuses to show or touch): a parent such as GNU
 * make can hand them to us ignored, and an ignored signal survives exec.
 */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

static bool ignored_by_kernel(int signo)
{
    struct kernel_sigaction old;

    return syscall(SYS_rt_sigaction, signo, NULL, &old, sizeof(old.mask)) == 0 &&
           old.handler == SIG_IGN;
}

/* Ignored dispositions survive exec: note the ones we were given, for children. */
static void note_changed(const int *signals)
{
    nchanged = 0;
    for (int signo = 1; signo < NSIG; signo++) {
        bool ours = signo == SIGPIPE;
        for (int i = 0; signals[i] != 0 && !ours; i++)
            ours = signals[i] == signo;
        if (ours || ignored_by_kernel(signo))
            changed[nchanged++] = signo;
    }
}

/* After a wake-up: a held signal left pending is taken now, as if caught. */
static void take_held(struct ev_loop *loop, void *arg)
{
    static const struct timespec no_wait = {0, 0};
    int signo;

    (void)loop, (void)arg;
    if (!held_expected(held_arg))
        return;
    /* Not counted, as a caught one is not: one taken stands for all that came. */
    if ((signo = sigtimedwait(&held, NULL, &no_wait)) > 0)
        owner_fn(signo, owner_arg);
}

int sig_hold(struct ev_loop *loop, int signo, bool (*expected)(void *arg), void *arg)
{
    sigset_t one, sleep_mask;

    sigemptyset(&one);
    sigaddset(&one, signo);
    if (sigprocmask(SIG_BLOCK, &one, &sleep_mask) < 0)
        return -1;
    sigdelset(&sleep_mask, signo);
    sigaddset(&held, signo);
    held_any = true;
    held_expected = expected;
    held_arg = arg;
    ev_sleep_mask(loop, &sleep_mask, take_held, NULL);
    return 0;
}

/* No signal held any more: unblocked, the loop's sleep mask gone. */
static void unhold(struct ev_loop *loop)
{
    if (!held_any)
        return;
    ev_sleep_mask(loop, NULL, NULL, NULL);
    sigprocmask(SIG_UNBLOCK, &held, NULL);
    sigemptyset(&held);
    held_any = false;
}

size_t sig_exec_defaults(const int **signals)
{
    *signals = changed;
    return (size_t)nchanged;
}

int sig_init(struct ev_loop *loop, const int *signals, sig_fn *fn, void *arg)
{
    int fds[2];
    sigset_t none;

    note_changed(signals);
    /* A forked process's copy of its parent's hold is not its own. */
    sigemptyset(&held);
    held_any = false;

    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    pipe_rd = fds[0];
    pipe_wr = fds[1];
    owner_fn = fn;
    owner_arg = arg;
    owner_pid = getpid();
    if (ev_io_add(loop, pipe_rd, EV_READ, drain, NULL) < 0)
        goto fail;
    if (set_disposition(SIGPIPE, SIG_IGN) < 0)
        goto fail;
    for (ncaught = 0; signals[ncaught] != 0; ncaught++) {
        caught[ncaught] = signals[ncaught];
        if (set_disposition(signals[ncaught], note_signal) < 0)
            goto fail;
    }
    /* Whatever mask we inherited, these signals must get through. */
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        goto fail;
    return 0;
fail:
    sig_shutdown(loop);
    return -1;
}

void sig_shutdown(struct ev_loop *loop)
{
    unhold(loop);
    for (int i = 0; i < ncaught; i++)
        set_disposition(caught[i], SIG_DFL);
    ncaught = 0;
    if (pipe_rd >= 0) {
        ev_io_del(loop, pipe_rd);
        close_quietly(pipe_rd);
        close_quietly(pipe_wr);
    }
    pipe_rd = pipe_wr = -1;
}

void sig_reset_child(void)
{
    /* Every catchable signal, not only ours: a parent may have set others. */
    for (int signo = 1; signo < NSIG; signo++) {
        if (signo == SIGKILL || signo == SIGSTOP)
            continue;
        set_disposition(signo, SIG_DFL); /* EINVAL for the RT ones glibc keeps */
    }
    if (pipe_rd >= 0) {
        close(pipe_rd);
        close(pipe_wr);
    }
    pipe_rd = pipe_wr = -1;
    ncaught = 0;
}

void sig_block_all(sigset_t *old)
{
    sigset_t all;

    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, old);
}

void sig_restore(const sigset_t *old)
{
    sigprocmask(SIG_SETMASK, old, NULL);
}
