/*
 * ev: event loop over epoll (level-triggered) with a pairing heap of timers.
 *
 * Descriptors are kept in a table indexed by fd.  An interest of 0 takes
 * the descriptor out of the epoll set altogether, so a peer's hang-up on a
 * descriptor we are not watching cannot wake the loop over and over.
 *
 * Signals the owner blocks may be let in only while the loop sleeps
 * (ev_sleep_mask, epoll_pwait): then none interrupts the work, and a hold
 * (ev_hold) keeps them out of a short sleep too, so that what they stand
 * for is taken at the next wake-up with whatever else woke the loop.
 */
#include "ev.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EV_BATCH 256

struct ev_fd {
    ev_io_fn *fn;
    void *arg;
    unsigned events;
    bool registered;
    bool in_epoll;
    bool exclusive;
};

struct ev_loop {
    int epfd;
    bool stop;
    int64_t now;
    struct ev_fd *fds;
    size_t nfds;
    struct ev_timer *timers; /* the heap's root: the earliest deadline */
    bool masked;             /* sleep with sleep_mask (ev_sleep_mask) */
    sigset_t sleep_mask;
    int64_t hold_until; /* until then, sleep with the process's own mask */
    ev_wake_fn *wake_fn;
    void *wake_arg;
    struct epoll_event batch[EV_BATCH];
};

struct ev_loop *ev_loop_new(void)
{
    struct ev_loop *loop = calloc(1, sizeof(*loop));

    if (loop == NULL)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    loop->now = now_ms();
    return loop;
}

void ev_loop_free(struct ev_loop *loop)
{
    if (loop == NULL)
        return;
    close_quietly(loop->epfd);
    free(loop->fds);
    free(loop);
}

int ev_backend_fd(const struct ev_loop *loop)
{
    return loop->epfd;
}

int64_t ev_now(const struct ev_loop *loop)
{
    return loop->now;
}

void ev_break(struct ev_loop *loop)
{
    loop->stop = true;
}

static int grow_fds(struct ev_loop *loop, int fd)
{
    size_t n = loop->nfds ? loop->nfds : 64;
    struct ev_fd *fds;

    while (n <= (size_t)fd)
        n *= 2;
    fds = realloc(loop->fds, n * sizeof(*fds));
    if (fds == NULL)
        return -1;
    memset(fds + loop->nfds, 0, (n - loop->nfds) * sizeof(*fds));
    loop->fds = fds;
    loop->nfds = n;
    return 0;
}

static uint32_t epoll_mask(unsigned events, bool exclusive)
{
    return (events & EV_READ ? EPOLLIN : 0) | (events & EV_WRITE ? EPOLLOUT : 0) |
           (exclusive ? EPOLLEXCLUSIVE : 0);
}

/* Bring the epoll set in line with the wanted interest of `fd`. */
static int sync_epoll(struct ev_loop *loop, int fd, unsigned events)
{
    struct ev_fd *e = &loop->fds[fd];
    struct epoll_event ev = {.events = epoll_mask(events, e->exclusive), .data.fd = fd};
    int op;

    if (events == 0)
        op = e->in_epoll ? EPOLL_CTL_DEL : -1;
    else
        op = e->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (op == EPOLL_CTL_MOD && e->exclusive) {
        /* The kernel refuses to modify an exclusive entry: take it out, put it back. */
        if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
            return -1;
        op = EPOLL_CTL_ADD;
    }
    if (op >= 0 && epoll_ctl(loop->epfd, op, fd, &ev) < 0)
        return -1;
    e->in_epoll = events != 0;
    e->events = events;
    return 0;
}

int ev_io_add(struct ev_loop *loop, int fd, unsigned events, ev_io_fn *fn, void *arg)
{
    struct ev_fd *e;

    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    if ((size_t)fd >= loop->nfds && grow_fds(loop, fd) < 0)
        return -1;
    e = &loop->fds[fd];
    if (e->registered) {
        errno = EEXIST;
        return -1;
    }
    e->fn = fn;
    e->arg = arg;
    e->in_epoll = false;
    /* EPOLLEXCLUSIVE cannot be modified, only added: interest is then READ or nothing. */
    e->exclusive = (events & EV_EXCLUSIVE) != 0;
    if (sync_epoll(loop, fd, events & ~(unsigned)EV_EXCLUSIVE) < 0)
        return -1;
    e->registered = true;
    return 0;
}

int ev_io_set(struct ev_loop *loop, int fd, unsigned events)
{
    if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].registered) {
        errno = EBADF;
        return -1;
    }
    if (loop->fds[fd].events == events)
        return 0;
    return sync_epoll(loop, fd, events);
}

int ev_io_rebind(struct ev_loop *loop, int fd, unsigned events, ev_io_fn *fn, void *arg)
{
    if (ev_io_set(loop, fd, events) < 0)
        return -1;
    loop->fds[fd].fn = fn;
    loop->fds[fd].arg = arg;
    return 0;
}

unsigned ev_io_events(struct ev_loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].registered)
        return 0;
    return loop->fds[fd].events;
}

void ev_io_del(struct ev_loop *loop, int fd)
{
    struct ev_fd *e;

    if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].registered)
        return;
    e = &loop->fds[fd];
    /* Cannot fail for a descriptor in the set; nothing to do if it did. */
    if (e->in_epoll)
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    memset(e, 0, sizeof(*e));
}

/*
 * Timers: a pairing heap whose links live in the timers themselves, the
 * earliest deadline at the root.  Insertion is one comparison; removing
 * the root or any node re-pairs that node's children (two passes,
 * amortised logarithmic).  Nothing here allocates.
 */

/* Two detached roots into one: the later one becomes the first child of the earlier. */
static struct ev_timer *meld(struct ev_timer *a, struct ev_timer *b)
{
    if (b->when < a->when) {
        struct ev_timer *t = a;
        a = b;
        b = t;
    }
    b->prev = a;
    b->next = a->child;
    if (a->child != NULL)
        a->child->prev = b;
    a->child = b;
    return a;
}

/* The sibling list from `first` into one heap: pairs left to right, then melds right to left. */
static struct ev_timer *merge_pairs(struct ev_timer *first)
{
    struct ev_timer *pairs = NULL, *root = NULL;

    while (first != NULL) {
        struct ev_timer *a = first, *b = first->next;
        first = b != NULL ? b->next : NULL;
        a->prev = a->next = NULL;
        if (b != NULL) {
            b->prev = b->next = NULL;
            a = meld(a, b);
        }
        a->next = pairs; /* a stack: the last pair on top */
        pairs = a;
    }
    while (pairs != NULL) {
        struct ev_timer *next = pairs->next;
        pairs->next = NULL;
        root = root == NULL ? pairs : meld(root, pairs);
        pairs = next;
    }
    return root;
}

/* Take an active timer out of the heap. */
static void heap_remove(struct ev_loop *loop, struct ev_timer *t)
{
    struct ev_timer *sub;

    if (t == loop->timers) {
        loop->timers = merge_pairs(t->child);
    } else {
        if (t->prev->child == t)
            t->prev->child = t->next;
        else
            t->prev->next = t->next;
        if (t->next != NULL)
            t->next->prev = t->prev;
        sub = merge_pairs(t->child);
        if (sub != NULL)
            loop->timers = meld(loop->timers, sub);
    }
    t->child = t->next = t->prev = NULL;
    t->active = false;
}

void ev_timer_init(struct ev_timer *timer, ev_timer_fn *fn, void *arg)
{
    memset(timer, 0, sizeof(*timer));
    timer->fn = fn;
    timer->arg = arg;
}

void ev_timer_stop(struct ev_loop *loop, struct ev_timer *timer)
{
    if (timer->active)
        heap_remove(loop, timer);
}

/* now + after, saturating: a deadline past the end of time is the end of time. */
static int64_t deadline(int64_t now, int64_t after_ms)
{
    if (after_ms <= 0)
        return now;
    return after_ms > INT64_MAX - now ? INT64_MAX : now + after_ms;
}

void ev_timer_start(struct ev_loop *loop, struct ev_timer *timer, int64_t after_ms)
{
    ev_timer_stop(loop, timer);
    timer->when = deadline(loop->now, after_ms);
    timer->active = true;
    loop->timers = loop->timers == NULL ? timer : meld(loop->timers, timer);
}

/* epoll_wait's timeout: until the next timer, or forever. */
static int next_timeout(const struct ev_loop *loop)
{
    int64_t wait;

    if (loop->timers == NULL)
        return -1;
    wait = loop->timers->when - loop->now;
    if (wait <= 0)
        return 0;
    return wait > 60 * 60 * 1000 ? 60 * 60 * 1000 : (int)wait;
}

static void run_timers(struct ev_loop *loop)
{
    while (loop->timers != NULL && loop->timers->when <= loop->now && !loop->stop) {
        struct ev_timer *t = loop->timers;
        heap_remove(loop, t);
        t->fn(loop, t);
    }
}

void ev_sleep_mask(struct ev_loop *loop, const sigset_t *mask, ev_wake_fn *fn, void *arg)
{
    loop->masked = mask != NULL;
    if (mask != NULL)
        loop->sleep_mask = *mask;
    loop->wake_fn = mask != NULL ? fn : NULL;
    loop->wake_arg = arg;
}

void ev_hold(struct ev_loop *loop, int64_t ms)
{
    int64_t until = deadline(loop->now, ms);

    if (until > loop->hold_until)
        loop->hold_until = until;
}

/* Sleep until something is ready: with the sleep mask, or held (see ev_sleep_mask). */
static int wait_ready(struct ev_loop *loop)
{
    int timeout = next_timeout(loop);
    int64_t held = loop->hold_until - loop->now;

    if (held > 60 * 60 * 1000)
        held = 60 * 60 * 1000;
    if (!loop->masked)
        return epoll_wait(loop->epfd, loop->batch, EV_BATCH, timeout);
    if (held > 0)
        return epoll_wait(loop->epfd, loop->batch, EV_BATCH,
                          timeout >= 0 && timeout < held ? timeout : (int)held);
    return epoll_pwait(loop->epfd, loop->batch, EV_BATCH, timeout, &loop->sleep_mask);
}

static void dispatch(struct ev_loop *loop, const struct epoll_event *ev)
{
    int fd = ev->data.fd;
    struct ev_fd *e;
    unsigned ready = 0;

    if ((size_t)fd >= loop->nfds)
        return;
    e = &loop->fds[fd];
    if (!e->registered || e->events == 0)
        return; /* deleted or paused earlier in this round */
    if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        ready |= EV_READ;
    if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        ready |= EV_WRITE;
    ready &= e->events;
    if (ready != 0)
        e->fn(loop, fd, ready, e->arg);
}

int ev_run(struct ev_loop *loop)
{
    loop->stop = false;
    while (!loop->stop) {
        int n = wait_ready(loop);
        if (n < 0 && errno != EINTR)
            return -1;
        loop->now = now_ms();
        if (loop->wake_fn != NULL)
            loop->wake_fn(loop, loop->wake_arg);
        for (int i = 0; i < n && !loop->stop; i++)
            dispatch(loop, &loop->batch[i]);
        run_timers(loop);
    }
    return 0;
}
