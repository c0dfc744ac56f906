/*
 * proxy_in: reading PROXY headers in the loop (see proxy_in.h).
 */
#include "proxy_in.h"

#include "ev.h"
#include "log.h"
#include "pending.h"
#include "proxy.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct proxy_in {
    struct pending p; /* first: the loop's callbacks get the record */
    proxy_in_done_fn *done;
    void *done_arg;
    struct proxy_parser parser;
};

/* The connection ends before its header was read: logged end=`end`, closed, released. */
static void end_early(struct proxy_in *h, const char *end)
{
    struct svc *svc = h->p.svc;
    struct limit_key none = {0};

    if (log_enabled(LOG_LVL_INFO)) {
        char peer[ADDR_TEXT_MAX];
        listener_peer_text(h->p.a.fd, &h->p.a.peer, h->p.a.peer_len, peer, sizeof(peer));
        pending_log_end(&h->p, peer, end);
    }
    svc_count_refused(svc, METRICS_PROXY);
    pending_detach(&h->p);
    close_quietly(h->p.a.fd);
    free(h);
    svc_release(svc, &none, SVC_USE_CONN);
}

static void env_add(struct proxy_info *pi, size_t *n, size_t *used, const char *name,
                    const struct proxy_text *t)
{
    size_t room = sizeof(pi->text) - *used;
    int len;

    if (!t->present || *n == PROXY_ENV_MAX)
        return;
    len = snprintf(pi->text + *used, room, "%s=%s", name, t->text);
    if (len < 0 || (size_t)len >= room)
        return;
    pi->env[(*n)++] = pi->text + *used;
    *used += (size_t)len + 1;
}

/* The extras of the header, for the engine: the destination and the TLVs as variables. */
static struct proxy_info *info_of(const struct proxy_result *r)
{
    struct proxy_info *pi = calloc(1, sizeof(*pi));
    size_t n = 0, used = 0;

    if (pi == NULL)
        return NULL;
    if (!r->local && r->family != AF_UNIX && r->dst_len <= sizeof(pi->local)) {
        memcpy(&pi->local, &r->dst, r->dst_len);
        pi->local_len = r->dst_len;
    }
    env_add(pi, &n, &used, "PROXY_ALPN", &r->alpn);
    env_add(pi, &n, &used, "PROXY_AUTHORITY", &r->authority);
    env_add(pi, &n, &used, "PROXY_UNIQUE_ID", &r->unique_id);
    env_add(pi, &n, &used, "PROXY_SSL_VERSION", &r->ssl_version);
    env_add(pi, &n, &used, "PROXY_SSL_CN", &r->ssl_cn);
    pi->env[n] = NULL;
    return pi;
}

/* The header is whole: the real client becomes the peer, the balancer the via. */
static void succeed(struct proxy_in *h)
{
    const struct proxy_result *r = &h->parser.result;
    struct accepted a = h->p.a;
    proxy_in_done_fn *done = h->done;
    void *arg = h->done_arg;
    struct svc *svc = h->p.svc;

    listener_peer_text(a.fd, &a.peer, a.peer_len, a.via, sizeof(a.via));
    if (!r->local && r->src_len <= sizeof(a.peer)) {
        memcpy(&a.peer, &r->src, r->src_len);
        a.peer_len = r->src_len;
        addr_unmap(&a.peer, &a.peer_len);
    }
    a.proxy = info_of(r);
    a.opened = true;
    pending_detach(&h->p);
    free(h);
    done(arg, svc, &a);
}

/* More of the header is to come: wait for it in the loop. */
static void wait_more(struct proxy_in *h)
{
    if (ev_io_set(pending_loop(&h->p), h->p.a.fd, EV_READ) < 0)
        end_early(h, "proxy:error");
}

/*
 * Peek, feed, and take from the socket exactly what the parser used: all
 * of it while the header goes on, only the header's end once it is whole.
 */
static void step(struct proxy_in *h)
{
    char buf[PROXY_V2_MAX];
    ssize_t n;
    size_t used;

    do
        n = recv(h->p.a.fd, buf, sizeof(buf), MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) {
        wait_more(h);
        return;
    }
    if (n <= 0) {
        end_early(h, n == 0 ? "proxy:bad_header" : "proxy:error");
        return;
    }
    used = proxy_feed(&h->parser, buf, (size_t)n);
    if (h->parser.state == PROXY_ERROR) {
        log_debug("service=%s: PROXY header refused: %s", h->p.svc->conf->name,
                  h->parser.detail != NULL ? h->parser.detail : "?");
        end_early(h, "proxy:bad_header");
        return;
    }
    if (used > 0) {
        ssize_t taken;
        do
            taken = recv(h->p.a.fd, buf, used, 0);
        while (taken < 0 && errno == EINTR);
        if (taken != (ssize_t)used) {
            end_early(h, "proxy:error"); /* what was just peeked is there to take */
            return;
        }
    }
    if (h->parser.state == PROXY_DONE)
        succeed(h);
    else
        wait_more(h);
}

static void on_io(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop, (void)fd, (void)events;
    step(arg);
}

static void on_timeout(struct ev_loop *loop, struct ev_timer *t)
{
    (void)loop;
    end_early(t->arg, "proxy:timeout");
}

void proxy_in_start(struct proxy_in_set *ps, struct svc *svc, const struct accepted *a,
                    proxy_in_done_fn *done, void *arg)
{
    struct proxy_in *h = malloc(sizeof(*h));

    if (h != NULL)
        memset(h, 0, offsetof(struct proxy_in, parser)); /* the parser: proxy_parser_init's */
    if (h == NULL || pending_start(&ps->list, &h->p, svc, a, on_io, on_timeout,
                                   svc->conf->proxy_timeout_ms) < 0) {
        svc_warnx(svc, SVC_WARN_CONN, "service=%s: unable to take a connection: %s",
                  svc->conf->name, strerror(h == NULL ? ENOMEM : errno));
        free(h);
        close_quietly(a->fd);
        return;
    }
    proxy_parser_init(&h->parser, (enum proxy_mode)svc->conf->proxy_protocol);
    h->done = done;
    h->done_arg = arg;
    svc_opened(svc, SVC_USE_CONN);
    /* A balancer sends the header as soon as it has connected: it is usually here already. */
    step(h);
}

void proxy_in_close_all(struct proxy_in_set *ps, const char *end)
{
    for (struct pending *p = ps->list.head, *next; p != NULL; p = next) {
        next = p->next;
        end_early((struct proxy_in *)p, end);
    }
}

void proxy_in_forget(struct proxy_in_set *ps)
{
    ps->list.head = NULL;
}
