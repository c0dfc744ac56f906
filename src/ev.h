/*
 * ev: the event loop.  Descriptor callbacks and millisecond timers over
 * epoll, level-triggered.  No global loop: every call names its loop.
 *
 * Invariants:
 *  - A callback runs only while its descriptor is registered with a
 *    non-zero interest; deleting a descriptor inside any callback stops
 *    further calls for it in the same round.
 *  - Timers are owned by their callers (embedded in their structs); the
 *    loop only links them into its heap.  A timer fires once per start.
 *  - ev_now() is the time the current round began, so code in a round
 *    agrees on "now" and does not call the clock per event.
 */
#ifndef USHER_EV_H
#define USHER_EV_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;

enum {
    EV_READ = 1,
    EV_WRITE = 2,
    /* With ev_io_add: of several processes watching one socket, wake one (listeners). */
    EV_EXCLUSIVE = 4,
};

/* `events` says which of EV_READ / EV_WRITE are ready (errors count as both). */
typedef void ev_io_fn(struct ev_loop *loop, int fd, unsigned events, void *arg);

struct ev_timer;
typedef void ev_timer_fn(struct ev_loop *loop, struct ev_timer *timer);

/*
 * A timer is a node of the loop's pairing heap, links and all, so starting
 * one allocates nothing and cannot fail.
 */
struct ev_timer {
    int64_t when; /* deadline, ev_now() scale */
    bool active;
    struct ev_timer *child, *next; /* first child; next sibling */
    struct ev_timer *prev;         /* left sibling, or the parent of a first child */
    ev_timer_fn *fn;
    void *arg;
};

/* A new loop, or NULL with errno. */
struct ev_loop *ev_loop_new(void);
void ev_loop_free(struct ev_loop *loop);

/*
 * Register `fd` with interest `events` (EV_READ|EV_WRITE, or 0 for none yet).
 * Returns 0, or -1 with errno (ENOMEM, or epoll_ctl's).
 */
int ev_io_add(struct ev_loop *loop, int fd, unsigned events, ev_io_fn *fn, void *arg);

/* Change the interest of a registered descriptor.  Returns 0 or -1 with errno. */
int ev_io_set(struct ev_loop *loop, int fd, unsigned events);

/*
 * Hand a registered descriptor to a new owner: its interest set as
 * ev_io_set sets it, then `fn` and `arg` called instead of the old ones
 * (also for what the batch being dispatched still holds for it).  The
 * same as ev_io_del then ev_io_add, without taking it out of the epoll set
 * and putting it back.  Returns 0, or -1 with errno (EBADF: not
 * registered), the old owner's registration then unchanged.
 */
int ev_io_rebind(struct ev_loop *loop, int fd, unsigned events, ev_io_fn *fn, void *arg);

/* The current interest of a registered descriptor. */
unsigned ev_io_events(struct ev_loop *loop, int fd);

/* Forget `fd` (before closing it). */
void ev_io_del(struct ev_loop *loop, int fd);

void ev_timer_init(struct ev_timer *timer, ev_timer_fn *fn, void *arg);

/*
 * (Re)start `timer` to fire `after_ms` from ev_now() (a negative delay is
 * 0; the deadline saturates, so a huge delay means "never", not the past).
 */
void ev_timer_start(struct ev_loop *loop, struct ev_timer *timer, int64_t after_ms);
void ev_timer_stop(struct ev_loop *loop, struct ev_timer *timer);

static inline bool ev_timer_active(const struct ev_timer *timer)
{
    return timer->active;
}

/* Milliseconds (monotonic) at the start of the current round. */
int64_t ev_now(const struct ev_loop *loop);

/*
 * Signals that reach the loop only while it sleeps.  The process keeps
 * them blocked while the loop works; while it sleeps, `mask` is the
 * process's mask (epoll_pwait), unless a hold is on (ev_hold).  After
 * every wake-up, before anything else, `fn` is called to take what the
 * blocked signals left pending.  A NULL `mask` ends it.
 */
typedef void ev_wake_fn(struct ev_loop *loop, void *arg);
void ev_sleep_mask(struct ev_loop *loop, const sigset_t *mask, ev_wake_fn *fn, void *arg);

/*
 * For `ms` from now, sleep with the process's own mask: the blocked
 * signals wait, and the loop wakes by the end of the hold at the latest,
 * to take them.  A new hold extends the current one.
 */
void ev_hold(struct ev_loop *loop, int64_t ms);

/* Run rounds until ev_break().  Returns 0, or -1 with errno if epoll fails. */
int ev_run(struct ev_loop *loop);
void ev_break(struct ev_loop *loop);

/* The epoll descriptor, so a forked child can close it. */
int ev_backend_fd(const struct ev_loop *loop);

#endif
