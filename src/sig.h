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

struct ev_loop;

typedef void sig_fn(int signo, void *arg);

/*
 * Catch `signals` (0-terminated list), ignore SIGPIPE, and watch the pipe in
 * `loop`.  Returns 0, or -1 with errno.
 */
int sig_init(struct ev_loop *loop, const int *signals, sig_fn *fn, void *arg);

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
 * For a child about to exec: back to default every disposition exec would
 * not reset (SIGPIPE, signals usherd inherited ignored) and those our
 * handlers hold.  Cheaper than sig_reset_child: only what was changed.
 * Async-signal-safe.
 */
void sig_defaults_for_exec(void);

#endif
