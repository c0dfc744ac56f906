/*
 * ev: event loop over epoll (level-triggered) with a binary heap of timers.
 *
 * Descriptors are kept in a table indexed by fd.  An interest of 0 takes
 * the descriptor out of the epoll set altogether, so a peer's hang-up on a
 * descriptor we are not watching cannot wake the loop over and over.
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
    struct ev_timer **heap;
    size_t heap_len, heap_cap;
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
    free(loop->heap);
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

/* Timer heap: the earliest deadline at index 0. */

static void heap_place(struct ev_loop *loop, size_t i, struct ev_timer *t)
{
    loop->heap[i] = t;
    t->slot = i + 1;
}

static void heap_up(struct ev_loop *loop, size_t i)
{
    struct ev_timer *t = loop->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->when <= t->when)
            break;
        heap_place(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_place(loop, i, t);
}

static void heap_down(struct ev_loop *loop, size_t i)
{
    struct ev_timer *t = loop->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->heap_len)
            break;
        if (child + 1 < loop->heap_len && loop->heap[child + 1]->when < loop->heap[child]->when)
            child++;
        if (t->when <= loop->heap[child]->when)
            break;
        heap_place(loop, i, loop->heap[child]);
        i = child;
    }
    heap_place(loop, i, t);
}

void ev_timer_init(struct ev_timer *timer, ev_timer_fn *fn, void *arg)
{
    timer->when = 0;
    timer->slot = 0;
    timer->fn = fn;
    timer->arg = arg;
}

void ev_timer_stop(struct ev_loop *loop, struct ev_timer *timer)
{
    size_t i;
    struct ev_timer *last;

    if (timer->slot == 0)
        return;
    i = timer->slot - 1;
    timer->slot = 0;
    last = loop->heap[--loop->heap_len];
    if (last == timer)
        return;
    heap_place(loop, i, last);
    heap_up(loop, i);
    heap_down(loop, last->slot - 1);
}

int ev_timer_start(struct ev_loop *loop, struct ev_timer *timer, int64_t after_ms)
{
    if (timer->slot != 0) {
        int64_t old = timer->when;
        timer->when = loop->now + after_ms;
        if (timer->when < old)
            heap_up(loop, timer->slot - 1);
        else
            heap_down(loop, timer->slot - 1);
        return 0;
    }
    if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        struct ev_timer **heap = realloc(loop->heap, cap * sizeof(*heap));
        if (heap == NULL)
            return -1;
        loop->heap = heap;
        loop->heap_cap = cap;
    }
    timer->when = loop->now + after_ms;
    loop->heap[loop->heap_len++] = timer;
    heap_up(loop, loop->heap_len - 1);
    return 0;
}

/* epoll_wait's timeout: until the next timer, or forever. */
static int next_timeout(const struct ev_loop *loop)
{
    int64_t wait;

    if (loop->heap_len == 0)
        return -1;
    wait = loop->heap[0]->when - loop->now;
    if (wait <= 0)
        return 0;
    return wait > 60 * 60 * 1000 ? 60 * 60 * 1000 : (int)wait;
}

static void run_timers(struct ev_loop *loop)
{
    while (loop->heap_len > 0 && loop->heap[0]->when <= loop->now && !loop->stop) {
        struct ev_timer *t = loop->heap[0];
        ev_timer_stop(loop, t);
        t->fn(loop, t);
    }
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
        int n = epoll_wait(loop->epfd, loop->batch, EV_BATCH, next_timeout(loop));
        if (n < 0 && errno != EINTR)
            return -1;
        loop->now = now_ms();
        for (int i = 0; i < n && !loop->stop; i++)
            dispatch(loop, &loop->batch[i]);
        run_timers(loop);
    }
    return 0;
}
