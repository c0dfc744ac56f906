/*
 * pending: connections before their engine (see pending.h).
 */
#include "pending.h"

#include "log.h"
#include "util.h"

#include <errno.h>

int pending_start(struct pending_set *ps, struct pending *p, struct svc *svc,
                  const struct accepted *a, ev_io_fn *on_io, ev_timer_fn *on_timeout,
                  int64_t timeout_ms)
{
    struct ev_loop *loop = svc->set->loop;

    if (ev_io_add(loop, a->fd, 0, on_io, p) < 0)
        return -1;
    p->svc = svc;
    p->a = *a;
    p->started_ms = now_ms();
    p->set = ps;
    p->prev = NULL;
    p->next = ps->head;
    if (ps->head != NULL)
        ps->head->prev = p;
    ps->head = p;
    ev_timer_init(&p->timer, on_timeout, p);
    ev_timer_start(loop, &p->timer, timeout_ms);
    return 0;
}

void pending_detach(struct pending *p)
{
    ev_io_del(pending_loop(p), p->a.fd);
    ev_timer_stop(pending_loop(p), &p->timer);
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        p->set->head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
}

void pending_log_end(const struct pending *p, const char *peer, const char *end)
{
    svc_log_line(p->svc, p->a.kind, peer, now_ms() - p->started_ms, 0, 0, end);
}
