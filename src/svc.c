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
#include <sys/wait.h>

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

int svc_set_init(struct svc_set *set, struct ev_loop *loop, struct conf *conf,
                 struct metrics *metrics)
{
    memset(set, 0, sizeof(*set));
    set->loop = loop;
    set->metrics = metrics;
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
    /* Its counters: a slot of the shared table (none when all are taken: not counted). */
    if (st->refs == 0 && metrics_owner(set->metrics) &&
        (st->m = metrics_slot_take(set->metrics, sc->name)) == NULL)
        log_warnx("service=%s: no room left in the counters' table (%d services): not counted",
                  sc->name, METRICS_SVCS_MAX);
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
        if (metrics_owner(svc->set->metrics))
            metrics_slot_give_back(svc->set->metrics, svc->st->m);
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
    svc_set_publish(set);
}

static bool in_force(const struct svc_set *set, const struct svc_state *st)
{
    for (size_t i = 0; i < set->nsvcs; i++)
        if (set->svcs[i]->st == st)
            return true;
    return false;
}

/* "event", "fork", "prefork:4". */
static void model_text(const struct svc_conf *sc, char *buf, size_t size)
{
    if (sc->model == MODEL_PREFORK)
        snprintf(buf, size, "prefork:%u", sc->prefork);
    else
        snprintf(buf, size, "%s", sc->model == MODEL_FORK ? "fork" : "event");
}

static void describe(struct metrics_svc *m, const struct svc_conf *sc)
{
    char model[24], listen[METRICS_LISTEN_TEXT] = "";
    uint32_t kinds = sc->exec != NULL && sc->builtin == BUILTIN_NONE ? METRICS_HAS_EXEC : 0;
    size_t len = 0;

    for (size_t i = 0; i < sc->nlistens; i++) {
        const struct addr *a = &sc->listens[i].addr;
        int n = snprintf(listen + len, sizeof(listen) - len, "%s%s", i ? "\n" : "",
                         sc->listens[i].text);
        if (n > 0 && (size_t)n < sizeof(listen) - len)
            len += (size_t)n;
        if (a->kind == ADDR_TCP)
            kinds |= a->tls ? METRICS_HAS_TLS : METRICS_HAS_TCP;
        else if (a->kind == ADDR_UNIX)
            kinds |= METRICS_HAS_UNIX;
        else
            kinds |= METRICS_HAS_DGRAM;
    }
    model_text(sc, model, sizeof(model));
    metrics_slot_describe(m, model, listen, kinds);
}

void svc_set_publish(struct svc_set *set)
{
    if (!metrics_owner(set->metrics))
        return;
    for (struct svc *svc = set->retired; svc != NULL; svc = svc->next)
        if (svc->st->m != NULL && !in_force(set, svc->st))
            metrics_slot_list(svc->st->m, false);
    for (size_t i = 0; i < set->nsvcs; i++) {
        struct metrics_svc *m = set->svcs[i]->st->m;
        if (m == NULL)
            continue;
        describe(m, set->svcs[i]->conf);
        metrics_slot_list(m, true);
    }
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
                       enum metrics_proto proto, struct limit_key *key)
{
    struct svc_set *set = svc->set;
    enum refusal r = limit_admit(&svc->st->lim, svc->conf, stream ? set->conf->max_conns : 0, peer,
                                 ev_now(set->loop), stream, key);

    if (r == ADMITTED && stream && svc->st->m != NULL && proto < METRICS_PROTO_COUNT)
        metrics_add(&svc->st->m->conns[proto], 1);
    return r;
}

bool svc_admit_waiting(struct svc *svc)
{
    const struct svc_conf *sc = svc->conf;

    if (!limit_take_rate(&svc->st->lim, sc, ev_now(svc->set->loop)))
        return false;
    if (svc->st->m != NULL)
        metrics_add(&svc->st->m->conns[sc->nlistens > 0 && sc->listens[0].addr.kind == ADDR_UNIX
                                           ? METRICS_UNIX
                                           : METRICS_TCP],
                    1);
    return true;
}

void svc_opened(struct svc *svc, enum svc_use use)
{
    if (use == SVC_USE_CONN)
        svc->set->nconns++;
    else {
        svc->set->nchildren++;
        svc->st->children++;
        metrics_children(svc->set->metrics, svc->st->m, 1);
    }
    svc->conns++;
    svc->st->conns_now++;
    metrics_active(svc->set->metrics, svc->st->m, 1);
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
        metrics_children(set->metrics, svc->st->m, -1);
    }
    svc->st->conns_now--;
    metrics_active(set->metrics, svc->st->m, -1);
    if (--svc->conns == 0 && svc->retired)
        reap(set, svc);
    if (set->on_end != NULL)
        set->on_end(set, set->on_end_arg);
}

/* Log lines */

void svc_log_line(const struct svc *svc, int kind, const char *peer, int64_t duration_ms,
                  uint64_t in, uint64_t out, const char *end)
{
    if (!log_conn_wanted(svc->conf->log_conns, end))
        return;
    log_info("service=%s proto=%s peer=%s duration_ms=%lld in=%llu out=%llu end=%s",
             svc->conf->name, addr_kind_name(kind), peer, (long long)duration_ms,
             (unsigned long long)in, (unsigned long long)out, end);
}

/* The reason label of a limit's refusal. */
static enum metrics_reason reason_of(enum refusal r)
{
    switch (r) {
    case REFUSED_DENIED:
        return METRICS_DENIED;
    case REFUSED_MAX_CONNS:
        return METRICS_MAX_CONNS;
    case REFUSED_MAX_PER_IP:
        return METRICS_MAX_PER_IP;
    case REFUSED_RATE:
        return METRICS_RATE;
    case REFUSED_RATE_PER_IP:
        return METRICS_RATE_PER_IP;
    case REFUSED_PROXY_UNTRUSTED:
        return METRICS_PROXY;
    default:
        return METRICS_RESOURCES;
    }
}

static void count_refusal(struct svc *svc, int kind, enum refusal r)
{
    if (addr_kind_socktype(kind) == SOCK_DGRAM)
        svc_count_dgram_dropped(svc, r == REFUSED_DENIED ? METRICS_DROP_DENIED : METRICS_DROP_RATE,
                                1);
    else
        svc_count_refused(svc, reason_of(r));
}

void svc_refused(struct svc *svc, int kind, const char *peer, enum refusal r)
{
    struct svc_set *set = svc->set;
    struct svc_state *st = svc->st;
    int64_t now = ev_now(set->loop);

    count_refusal(svc, kind, r);
    if (!log_enabled(LOG_LVL_INFO) || svc->conf->log_conns == LOG_CONNS_NONE)
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

_Static_assert(SVC_TLS_RESULT_COUNT <= METRICS_TLS_MAX, "a slot counts every TLS result");

void svc_tls_counted(struct svc *svc, enum svc_tls_result r)
{
    struct metrics_svc *m = svc->st->m;

    if (r >= SVC_TLS_RESULT_COUNT || m == NULL)
        return;
    metrics_add(&m->tls[r], 1);
    if (r != SVC_TLS_OK)
        metrics_add(&m->refused[METRICS_TLS_FAIL], 1);
}

void svc_count_bytes(struct svc *svc, uint64_t in, uint64_t out)
{
    struct metrics_svc *m = svc->st->m;

    if (m == NULL)
        return;
    if (in > 0)
        metrics_add(&m->bytes_in, in);
    if (out > 0)
        metrics_add(&m->bytes_out, out);
}

void svc_count_refused(struct svc *svc, enum metrics_reason why)
{
    if (svc->st->m != NULL && why < METRICS_REASON_COUNT)
        metrics_add(&svc->st->m->refused[why], 1);
}

void svc_count_ended(struct svc *svc, int64_t duration_ms)
{
    metrics_observe_duration(svc->st->m, duration_ms);
}

void svc_count_dgram_in(struct svc *svc, uint64_t bytes)
{
    if (svc->st->m == NULL)
        return;
    metrics_add(&svc->st->m->udp_requests, 1);
    metrics_add(&svc->st->m->bytes_in, bytes);
}

void svc_count_dgram_out(struct svc *svc, uint64_t bytes)
{
    if (svc->st->m == NULL)
        return;
    metrics_add(&svc->st->m->dgrams_out, 1);
    metrics_add(&svc->st->m->bytes_out, bytes);
}

void svc_count_dgram_dropped(struct svc *svc, int why, uint64_t n)
{
    if (svc->st->m == NULL)
        return;
    metrics_add(&svc->st->m->dgrams_dropped, n);
    if (why >= 0 && why < METRICS_DROP_COUNT)
        metrics_add(&svc->st->m->udp_dropped[why], n);
}

void svc_count_exit(struct svc *svc, int status)
{
    enum metrics_exit how = WIFSIGNALED(status)                             ? METRICS_EXIT_SIGNAL
                            : WIFEXITED(status) && WEXITSTATUS(status) == 0 ? METRICS_EXIT_ZERO
                                                                            : METRICS_EXIT_NONZERO;

    if (svc->st->m != NULL)
        metrics_add(&svc->st->m->exits[how], 1);
}

void svc_count_spawn_failed(struct svc *svc)
{
    if (svc->st->m != NULL)
        metrics_add(&svc->st->m->spawn_failures, 1);
}

uint32_t svc_list(struct svc *svc, const struct sockaddr *peer, pid_t pid)
{
    return metrics_conn_add(svc->set->metrics, svc->st->m, peer, pid, now_ms());
}

void svc_unlist(struct svc *svc, uint32_t id)
{
    metrics_conn_remove(svc->set->metrics, id);
}

/* " tls_ok=N tls_failed=N" for a service with TLS listeners, else "". */
bool svc_stats_read(const struct svc *svc, struct svc_stats *st)
{
    const struct metrics_svc *m = svc->st->m;
    uint64_t admitted = 0, refused = 0;

    memset(st, 0, sizeof(*st));
    if (m == NULL)
        return false;
    for (int p = 0; p < METRICS_PROTO_COUNT; p++)
        admitted += metrics_read(&m->conns[p]);
    for (int r = 0; r < METRICS_REASON_COUNT; r++)
        refused += metrics_read(&m->refused[r]);
    st->conns_total = admitted + refused; /* connections: admitted or refused */
    /* Datagrams refused by the access rules or a rate count as refused too. */
    st->refused = refused + metrics_read(&m->udp_dropped[METRICS_DROP_DENIED]) +
                  metrics_read(&m->udp_dropped[METRICS_DROP_RATE]);
    st->conns_now = metrics_gauge(&m->active);
    st->bytes_in = metrics_read(&m->bytes_in);
    st->bytes_out = metrics_read(&m->bytes_out);
    st->dgrams_in = metrics_read(&m->udp_requests);
    st->dgrams_out = metrics_read(&m->dgrams_out);
    st->dgrams_dropped = metrics_read(&m->dgrams_dropped);
    st->children = metrics_gauge(&m->children);
    st->tls = svc->conf->tls != NULL;
    if (st->tls) {
        st->tls_ok = metrics_read(&m->tls[SVC_TLS_OK]);
        for (int r = SVC_TLS_OK + 1; r < SVC_TLS_RESULT_COUNT; r++)
            st->tls_failed += metrics_read(&m->tls[r]);
    }
    return true;
}

void svc_log_stats(const struct svc *svc)
{
    struct svc_stats st;
    char tls[64] = "";

    if (!svc_stats_read(svc, &st))
        return;
    if (st.tls)
        snprintf(tls, sizeof(tls), " tls_ok=%llu tls_failed=%llu", (unsigned long long)st.tls_ok,
                 (unsigned long long)st.tls_failed);
    log_info("stats service=%s conns_now=%lld conns_total=%llu refused=%llu bytes_in=%llu "
             "bytes_out=%llu dgrams_in=%llu dgrams_out=%llu dgrams_dropped=%llu children=%lld%s",
             svc->conf->name, (long long)st.conns_now, (unsigned long long)st.conns_total,
             (unsigned long long)st.refused, (unsigned long long)st.bytes_in,
             (unsigned long long)st.bytes_out, (unsigned long long)st.dgrams_in,
             (unsigned long long)st.dgrams_out, (unsigned long long)st.dgrams_dropped,
             (long long)st.children, tls);
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
        st->conns_now = st->children = 0; /* st->lim and st->m are shared: they stay */
        memset(st->refusal_logged_ms, 0, sizeof(st->refusal_logged_ms));
        memset(st->refusal_unlogged, 0, sizeof(st->refusal_unlogged));
    }
    set->retired = NULL; /* their connections are not ours */
    set->nconns = set->nchildren = 0;
}
