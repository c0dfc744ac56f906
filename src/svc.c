/*
 * svc: the services of a process (see svc.h).
 */
#include "svc.h"

#include "addr.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFUSAL_LOG_MS 1000

/* The summary of what was not logged one by one, per service and reason. */
static void on_refusal_summary(struct ev_loop *loop, struct ev_timer *t)
{
    struct svc_set *set = t->arg;

    for (size_t i = 0; i < set->nsvcs; i++) {
        struct svc_state *st = set->svcs[i]->st;
        for (int r = 0; r < REFUSAL_COUNT; r++) {
            if (st->refusal_unlogged[r] == 0)
                continue;
            log_info("service=%s: %lu more refused in the last second (end=%s)",
                     set->svcs[i]->conf->name, st->refusal_unlogged[r],
                     limit_refusal_text((enum refusal)r));
            st->refusal_unlogged[r] = 0;
            st->refusal_logged_ms[r] = ev_now(loop);
        }
    }
}

int svc_set_init(struct svc_set *set, struct ev_loop *loop, struct conf *conf)
{
    memset(set, 0, sizeof(*set));
    set->loop = loop;
    ev_timer_init(&set->refusal_timer, on_refusal_summary, set);
    if ((set->svcs = calloc(conf->nsvcs + 1, sizeof(*set->svcs))) == NULL ||
        limit_init(&set->glim, 0, 0, NULL) < 0) {
        free(set->svcs);
        set->svcs = NULL;
        errno = ENOMEM;
        return -1;
    }
    set->conf = conf_ref(conf);
    return 0;
}

static struct svc_state *state_of(const struct svc_set *set, const char *name)
{
    const struct svc *svc = svc_find(set, name);

    return svc != NULL ? svc->st : NULL;
}

struct svc *svc_find(const struct svc_set *set, const char *name)
{
    for (size_t i = 0; i < set->nsvcs; i++)
        if (strcmp(set->svcs[i]->conf->name, name) == 0)
            return set->svcs[i];
    return NULL;
}

struct svc *svc_new(struct svc_set *set, struct conf *cf, const struct svc_conf *sc)
{
    struct svc *svc = calloc(1, sizeof(*svc));
    struct svc_state *st = state_of(set, sc->name);

    if (svc == NULL)
        return NULL;
    if (st == NULL && (st = calloc(1, sizeof(*st))) == NULL) {
        free(svc);
        return NULL;
    }
    /* A new state's limits: mapped now, before the processes that share them are forked. */
    if (st->refs == 0 && limit_init(&st->lim, ++set->limit_ids, LIMIT_ADDRS_MAX, &set->glim) < 0) {
        free(st);
        free(svc);
        return NULL;
    }
    st->refs++;
    svc->st = st;
    svc->conf = sc;
    svc->cf = conf_ref(cf);
    svc->set = set;
    return svc;
}

void svc_free(struct svc *svc)
{
    if (--svc->st->refs == 0) {
        limit_free(&svc->st->lim);
        free(svc->st);
    }
    conf_unref(svc->cf);
    free(svc);
}

/* Unlink from the retired list and free. */
static void reap(struct svc_set *set, struct svc *svc)
{
    struct svc **pp = &set->retired;

    while (*pp != NULL && *pp != svc)
        pp = &(*pp)->next;
    if (*pp == svc)
        *pp = svc->next;
    svc_free(svc);
}

static void retire(struct svc_set *set, struct svc *svc)
{
    if (svc->conns == 0) {
        svc_free(svc);
        return;
    }
    svc->retired = true;
    svc->next = set->retired;
    set->retired = svc;
}

void svc_set_replace(struct svc_set *set, struct conf *conf, struct svc **svcs, size_t n)
{
    for (size_t i = 0; i < set->nsvcs; i++)
        retire(set, set->svcs[i]);
    free(set->svcs);
    set->svcs = svcs;
    set->nsvcs = n;
    conf_ref(conf);
    conf_unref(set->conf);
    set->conf = conf;
}

void svc_set_free(struct svc_set *set)
{
    if (set->loop != NULL)
        ev_timer_stop(set->loop, &set->refusal_timer);
    for (size_t i = 0; i < set->nsvcs; i++)
        svc_free(set->svcs[i]);
    free(set->svcs);
    while (set->retired != NULL)
        reap(set, set->retired);
    limit_free(&set->glim);
    conf_unref(set->conf);
    memset(set, 0, sizeof(*set));
}

/* Admission and release */

enum refusal svc_admit(struct svc *svc, const struct sockaddr *peer, bool stream,
                       struct limit_key *key)
{
    struct svc_set *set = svc->set;

    if (stream)
        svc->st->conns_total++;
    return limit_admit(&svc->st->lim, svc->conf, stream ? set->conf->max_conns : 0, peer,
                       ev_now(set->loop), stream, key);
}

bool svc_admit_waiting(struct svc *svc)
{
    if (!limit_take_rate(&svc->st->lim, svc->conf, ev_now(svc->set->loop)))
        return false;
    svc->st->conns_total++;
    return true;
}

void svc_opened(struct svc *svc, enum svc_use use)
{
    if (use == SVC_USE_CONN)
        svc->set->nconns++;
    else {
        svc->set->nchildren++;
        svc->st->children++;
    }
    svc->conns++;
    svc->st->conns_now++;
}

void svc_release(struct svc *svc, const struct limit_key *key, enum svc_use use)
{
    struct svc_set *set = svc->set;

    limit_release(&svc->st->lim, key);
    if (use == SVC_USE_NONE)
        return;
    if (use == SVC_USE_CONN)
        set->nconns--;
    else {
        set->nchildren--;
        svc->st->children--;
    }
    svc->st->conns_now--;
    if (--svc->conns == 0 && svc->retired)
        reap(set, svc);
    if (set->on_end != NULL)
        set->on_end(set, set->on_end_arg);
}

/* Log lines */

void svc_log_line(const struct svc *svc, int kind, const char *peer, int64_t duration_ms,
                  uint64_t in, uint64_t out, const char *end)
{
    log_info("service=%s proto=%s peer=%s duration_ms=%lld in=%llu out=%llu end=%s",
             svc->conf->name, addr_kind_name(kind), peer, (long long)duration_ms,
             (unsigned long long)in, (unsigned long long)out, end);
}

void svc_refused(struct svc *svc, int kind, const char *peer, enum refusal r)
{
    struct svc_set *set = svc->set;
    struct svc_state *st = svc->st;
    int64_t now = ev_now(set->loop);

    st->refused++;
    if (!log_enabled(LOG_LVL_INFO))
        return;
    if (st->refusal_logged_ms[r] == 0 || now - st->refusal_logged_ms[r] >= REFUSAL_LOG_MS) {
        st->refusal_logged_ms[r] = now;
        svc_log_line(svc, kind, peer, 0, 0, 0, limit_refusal_text(r));
        return;
    }
    st->refusal_unlogged[r]++;
    if (!ev_timer_active(&set->refusal_timer))
        ev_timer_start(set->loop, &set->refusal_timer,
                       st->refusal_logged_ms[r] + REFUSAL_LOG_MS - now);
}

void svc_warnx(const struct svc *svc, enum svc_warn site, const char *fmt, ...)
{
    unsigned long suppressed;
    char msg[768], note[48];
    va_list ap;

    if (!log_ratelimit(&svc->st->warn_rl[site], now_ms(), &suppressed))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warnx("%s%s", msg, log_suppressed_note(note, sizeof(note), suppressed));
}

static const char *const tls_result_names[SVC_TLS_RESULT_COUNT] = {
    [SVC_TLS_OK] = "ok",
    [SVC_TLS_TIMEOUT] = "timeout",
    [SVC_TLS_WRONG_VERSION] = "wrong_version",
    [SVC_TLS_NO_SHARED_CIPHER] = "no_shared_cipher",
    [SVC_TLS_UNKNOWN_CA] = "unknown_ca",
    [SVC_TLS_BAD_CERTIFICATE] = "bad_certificate",
    [SVC_TLS_NO_CERTIFICATE] = "no_certificate",
    [SVC_TLS_EOF] = "eof",
    [SVC_TLS_PROTOCOL] = "protocol",
};

const char *svc_tls_result_name(enum svc_tls_result r)
{
    return r < SVC_TLS_RESULT_COUNT ? tls_result_names[r] : "?";
}

void svc_tls_counted(struct svc *svc, enum svc_tls_result r)
{
    if (r < SVC_TLS_RESULT_COUNT)
        svc->st->tls_handshakes[r]++;
}

/* " tls_ok=N tls_failed=N" for a service with TLS listeners, else "". */
static void tls_stats(const struct svc *svc, char *buf, size_t size)
{
    const struct svc_state *s = svc->st;
    unsigned long long failed = 0;

    buf[0] = '\0';
    if (svc->conf->tls == NULL)
        return;
    for (int r = SVC_TLS_OK + 1; r < SVC_TLS_RESULT_COUNT; r++)
        failed += s->tls_handshakes[r];
    snprintf(buf, size, " tls_ok=%llu tls_failed=%llu",
             (unsigned long long)s->tls_handshakes[SVC_TLS_OK], failed);
}

void svc_log_stats(const struct svc *svc, const char *tag)
{
    const struct svc_state *s = svc->st;
    char tls[64];

    tls_stats(svc, tls, sizeof(tls));
    log_info("stats %sservice=%s conns_now=%u conns_total=%llu refused=%llu bytes_in=%llu "
             "bytes_out=%llu dgrams_in=%llu dgrams_out=%llu dgrams_dropped=%llu children=%u%s",
             tag, svc->conf->name, s->conns_now, (unsigned long long)s->conns_total,
             (unsigned long long)s->refused, (unsigned long long)s->bytes_in,
             (unsigned long long)s->bytes_out, (unsigned long long)s->dgrams_in,
             (unsigned long long)s->dgrams_out, (unsigned long long)s->dgrams_dropped, s->children,
             tls);
}

/* Processes */

/* The state with limiter `id` among the services this process knows, or the global count. */
static struct limiter *limiter_of(uint32_t id, void *arg)
{
    struct svc_set *set = arg;

    if (id == limit_id(&set->glim))
        return &set->glim;
    for (size_t i = 0; i < set->nsvcs; i++)
        if (limit_id(&set->svcs[i]->st->lim) == id)
            return &set->svcs[i]->st->lim;
    for (struct svc *svc = set->retired; svc != NULL; svc = svc->next)
        if (limit_id(&svc->st->lim) == id)
            return &svc->st->lim;
    return NULL;
}

unsigned long svc_give_back(struct svc_set *set, struct limit_holds *holds)
{
    return limit_give_back(holds, limiter_of, set);
}

void svc_set_forget(struct svc_set *set, struct ev_loop *loop)
{
    set->loop = loop;
    ev_timer_init(&set->refusal_timer, on_refusal_summary, set);
    for (size_t i = 0; i < set->nsvcs; i++) {
        struct svc *svc = set->svcs[i];
        struct svc_state *st = svc->st;
        svc->conns = 0;
        st->conns_now = st->children = 0; /* st->lim is shared: it stays */
        st->conns_total = st->refused = st->bytes_in = st->bytes_out = 0;
        st->dgrams_in = st->dgrams_out = st->dgrams_dropped = 0;
        memset(st->refusal_logged_ms, 0, sizeof(st->refusal_logged_ms));
        memset(st->refusal_unlogged, 0, sizeof(st->refusal_unlogged));
    }
    set->retired = NULL; /* their connections are not ours */
    set->nconns = set->nchildren = 0;
}
