/*
 * handshake: TLS handshakes in the loop, from accept to the engine (see
 * handshake.h).
 */
#include "handshake.h"

#include "ev.h"
#include "pending.h"
#include "log.h"
#include "tls.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct handshake {
    struct pending p; /* first: the loop's callbacks get the handshake; p.a.ssl is its SSL */
    handshake_done_fn *done;
    void *done_arg;
};

/* The connection ends before its handshake did, its line saying end=`end`: closed, released. */
static void end_early(struct handshake *h, const char *end)
{
    struct svc *svc = h->p.svc;
    struct accepted *a = &h->p.a;

    if (log_enabled(LOG_LVL_INFO)) {
        char peer[ADDR_TEXT_MAX + 80];
        accepted_peer_text(a, peer, sizeof(peer));
        pending_log_end(&h->p, peer, end);
    }
    pending_detach(&h->p);
    SSL_free(a->ssl);
    free(a->proxy);
    close_quietly(a->fd);
    svc_release(svc, &a->key, SVC_USE_CONN);
    free(h);
}

/* The handshake failed (`result`, told as `why`): counted, logged end=tls:WHY, closed. */
static void fail(struct handshake *h, enum svc_tls_result result, const char *why)
{
    char end[96];

    svc_tls_counted(h->p.svc, result);
    snprintf(end, sizeof(end), "tls:%s", why);
    end_early(h, end);
}

static void succeed(struct handshake *h)
{
    struct accepted a = h->p.a;
    handshake_done_fn *done = h->done;
    void *arg = h->done_arg;
    struct svc *svc = h->p.svc;

    svc_tls_counted(svc, SVC_TLS_OK);
    pending_detach(&h->p);
    free(h);
    a.opened = true;
    done(arg, svc, &a);
}

static void step(struct handshake *h)
{
    unsigned want = 0;
    char why[64];
    int rc = tls_handshake(h->p.a.ssl, &want);

    if (rc == 1) {
        succeed(h);
        return;
    }
    if (rc < 0) {
        enum svc_tls_result r = tls_failure(h->p.a.ssl, why, sizeof(why));
        fail(h, r, why);
        return;
    }
    if (ev_io_set(pending_loop(&h->p), h->p.a.fd, want) < 0) {
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

void handshake_start(struct handshake_set *hs, struct svc *svc, const struct accepted *a,
                     handshake_done_fn *done, void *arg)
{
    struct handshake *h = calloc(1, sizeof(*h));
    struct accepted mine = *a;

    if (h == NULL || (mine.ssl = tls_new(a->tls, a->fd)) == NULL ||
        pending_start(&hs->list, &h->p, svc, &mine, on_io, on_timeout,
                      svc->conf->tls->handshake_timeout_ms) < 0) {
        svc_warnx(svc, SVC_WARN_CONN, "service=%s: unable to take a connection: %s",
                  svc->conf->name, strerror(h == NULL || mine.ssl == NULL ? ENOMEM : errno));
        SSL_free(mine.ssl);
        free(h);
        free(a->proxy);
        close_quietly(a->fd);
        svc_release(svc, &a->key, a->opened ? SVC_USE_CONN : SVC_USE_NONE);
        return;
    }
    h->done = done;
    h->done_arg = arg;
    if (!a->opened)
        svc_opened(svc, SVC_USE_CONN);
    /* The ClientHello is usually there already: no need to wait for the loop. */
    step(h);
}

void handshake_close_all(struct handshake_set *hs, const char *end)
{
    for (struct pending *p = hs->list.head, *next; p != NULL; p = next) {
        next = p->next;
        end_early((struct handshake *)p, end);
    }
}

void handshake_forget(struct handshake_set *hs)
{
    hs->list.head = NULL;
}
