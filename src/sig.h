/*
 * sig: signals into the event loop by the self-pipe.
 *
 * The handlers only note the signal (a flag and a byte into a non-blocking
 * pipe); the loop wakes on the pipe and calls the owner's function once per
 * noted signal, outside any handler.  A burst of the same signal may be
 * delivered once: signals are not counted, as the kernel does not count them
 * either.  SIGPIPE is ignored: EPIPE is handled where it happens.
 */
#ifndef USHER_SIG_H
#define USHER_SIG_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct ev_loop;

typedef void sig_fn(int signo, void *arg);

/*
 * Catch `signals` (0-terminated list), ignore SIGPIPE, and watch the pipe in
 * `loop`.  Returns 0, or -1 with errno.
 */
int sig_init(struct ev_loop *loop, const int *signals, sig_fn *fn, void *arg);

/*
 * Hold `signo`, one of the caught signals (SIGCHLD): blocked while the loop
 * works and during its holds (ev_hold), let in while it sleeps otherwise.
 * After each wake-up, when `expected(arg)` says one may have come, a
 * pending `signo` is taken (sigtimedwait, no wait) and given to the
 * owner's function as if it had been caught.  So the exits of children
 * that end while usherd works, or just after it started them, are reaped
 * in one batch at the next wake-up, without a signal frame or a wake-up
 * of their own.  Returns 0, or -1 with errno.
 */
int sig_hold(struct ev_loop *loop, int signo, bool (*expected)(void *arg), void *arg);

/* Stop catching: default dispositions, pipe closed and out of the loop. */
void sig_shutdown(struct ev_loop *loop);

/*
 * For a forked child that runs on its own: every disposition back to
 * default and the pipe closed.  The mask is left alone: the parent blocks
 * signals around fork so that none reaches the child before it is ready,
 * and the child's sig_init unblocks them.  Async-signal-safe.
 */
void sig_reset_child(void);

/* Block every signal; the previous mask in *old (for around a fork). */
void sig_block_all(sigset_t *old);
void sig_restore(const sigset_t *old);

/*
 * For a child about to exec: the signals it must set back to SIG_DFL
 * (SIGPIPE, the signals usherd inherited ignored, those our handlers
 * hold), which exec alone would not all reset.  Returns how many, the list
 * in *signals; it is written by sig_init only, so a child that shares our
 * memory may read it while we run on.  The child sets them with the raw
 * rt_sigaction, which reaches 32 and 33 too.
 */
size_t sig_exec_defaults(const int **signals);

#endif
