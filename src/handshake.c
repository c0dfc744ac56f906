/*
 * handshake: TLS handshakes in the loop, from accept to the engine (see
 * handshake.h).
 */
#include "handshake.h"

#include "ev.h"
#include "log.h"
#include "tls.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct handshake {
    struct handshake *prev, *next;
    struct handshake_set *set;
    struct svc *svc;
    struct accepted a; /* a.ssl: the handshake's */
    int64_t started_ms;
    struct ev_timer timer;
    handshake_done_fn *done;
    void *done_arg;
};

static struct ev_loop *loop_of(const struct handshake *h)
{
    return h->svc->set->loop;
}

static void unlink_handshake(struct handshake *h)
{
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        h->set->head = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
}

/* Out of the loop and the list: what is left is the connection itself. */
static void detach(struct handshake *h)
{
    ev_io_del(loop_of(h), h->a.fd);
    ev_timer_stop(loop_of(h), &h->timer);
    unlink_handshake(h);
}

/* The connection ends before its handshake did, its line saying end=`end`: closed, released. */
static void end_early(struct handshake *h, const char *end)
{
    struct svc *svc = h->svc;

    if (log_enabled(LOG_LVL_INFO)) {
        char peer[ADDR_TEXT_MAX];
        accepted_peer_text(&h->a, peer, sizeof(peer));
        svc_log_line(svc, h->a.kind, peer, now_ms() - h->started_ms, 0, 0, end);
    }
    detach(h);
    SSL_free(h->a.ssl);
    free(h->a.proxy);
    close_quietly(h->a.fd);
    svc_release(svc, &h->a.key, SVC_USE_CONN);
    free(h);
}

/* The handshake failed (`result`, told as `why`): counted, logged end=tls:WHY, closed. */
static void fail(struct handshake *h, enum svc_tls_result result, const char *why)
{
    char end[96];

    svc_tls_counted(h->svc, result);
    snprintf(end, sizeof(end), "tls:%s", why);
    end_early(h, end);
}

static void succeed(struct handshake *h)
{
    struct accepted a = h->a;
    handshake_done_fn *done = h->done;
    void *arg = h->done_arg;
    struct svc *svc = h->svc;

    svc_tls_counted(svc, SVC_TLS_OK);
    detach(h);
    free(h);
    a.opened = true;
    done(arg, svc, &a);
}

static void step(struct handshake *h)
{
    unsigned want = 0;
    char why[64];
    int rc = tls_handshake(h->a.ssl, &want);

    if (rc == 1) {
        succeed(h);
        return;
    }
    if (rc < 0) {
        enum svc_tls_result r = tls_failure(h->a.ssl, why, sizeof(why));
        fail(h, r, why);
        return;
    }
    if (ev_io_set(loop_of(h), h->a.fd, want) < 0) {
        snprintf(why, sizeof(why), "%s", errno_name(errno));
        fail(h, SVC_TLS_PROTOCOL, why);
    }
}

static void on_io(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop, (void)fd, (void)events;
    step(arg);
}

static void on_timeout(struct ev_loop *loop, struct ev_timer *t)
{
    (void)loop;
    fail(t->arg, SVC_TLS_TIMEOUT, "timeout");
}

static void link_handshake(struct handshake_set *hs, struct handshake *h)
{
    h->set = hs;
    h->prev = NULL;
    h->next = hs->head;
    if (hs->head != NULL)
        hs->head->prev = h;
    hs->head = h;
}

void handshake_start(struct handshake_set *hs, struct svc *svc, const struct accepted *a,
                     handshake_done_fn *done, void *arg)
{
    struct handshake *h = calloc(1, sizeof(*h));
    struct ev_loop *loop = svc->set->loop;

    if (h != NULL)
        h->a = *a;
    if (h == NULL || (h->a.ssl = tls_new(a->tls, a->fd)) == NULL ||
        ev_io_add(loop, a->fd, EV_READ, on_io, h) < 0) {
        svc_warnx(svc, SVC_WARN_CONN, "service=%s: unable to take a connection: %s",
                  svc->conf->name, strerror(errno != 0 ? errno : ENOMEM));
        if (h != NULL)
            SSL_free(h->a.ssl);
        free(h);
        free(a->proxy);
        close_quietly(a->fd);
        svc_release(svc, &a->key, a->opened ? SVC_USE_CONN : SVC_USE_NONE);
        return;
    }
    h->svc = svc;
    h->started_ms = now_ms();
    h->done = done;
    h->done_arg = arg;
    link_handshake(hs, h);
    if (!a->opened)
        svc_opened(svc, SVC_USE_CONN);
    ev_timer_init(&h->timer, on_timeout, h);
    ev_timer_start(loop, &h->timer, svc->conf->tls->handshake_timeout_ms);
    /* The ClientHello is usually there already: no need to wait for the loop. */
    step(h);
}

void handshake_close_all(struct handshake_set *hs, const char *end)
{
    for (struct handshake *h = hs->head, *next; h != NULL; h = next) {
        next = h->next;
        end_early(h, end);
    }
}

void handshake_forget(struct handshake_set *hs)
{
    hs->head = NULL;
}
