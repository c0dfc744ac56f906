/*
 * limit: admission by access rules, counts and rates (see limit.h).
 *
 * Token buckets count milli-tokens: refilled by elapsed_ms * count * 1000
 * / period_ms, capped at count * 1000, one admission costs 1000.  Integer
 * arithmetic, no drift.
 */
#include "limit.h"

#include "util.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN     1000
#define TOMBSTONE 0xff

struct limit_entry {
    struct limit_key key; /* family 0: free; TOMBSTONE: deleted */
    unsigned conns;
    int64_t tokens;
    int64_t last_ms;
    bool primed;
};

static unsigned share = 1;

void limit_set_share(unsigned n)
{
    share = n > 0 ? n : 1;
}

unsigned limit_share(void)
{
    return share;
}

/* A process's part of a service-wide count. */
static unsigned part(unsigned total)
{
    return total == 0 ? 0 : (total + share - 1) / share;
}

const char *limit_refusal_text(enum refusal r)
{
    static const char *const text[REFUSAL_COUNT] = {
        [ADMITTED] = "admitted",
        [REFUSED_DENIED] = "denied",
        [REFUSED_MAX_CONNS] = "refused:max_conns",
        [REFUSED_MAX_PER_IP] = "refused:max_per_ip",
        [REFUSED_RATE] = "refused:rate",
        [REFUSED_RATE_PER_IP] = "refused:rate_per_ip",
    };
    return r < REFUSAL_COUNT ? text[r] : "refused";
}

static bool access_allowed(const struct conf_access *acc, const struct sockaddr *peer)
{
    bool allowed = acc->nallow == 0;

    if (peer->sa_family != AF_INET && peer->sa_family != AF_INET6)
        return true;
    for (size_t i = 0; i < acc->ndeny; i++)
        if (addr_prefix_match(&acc->deny[i], peer))
            return false;
    for (size_t i = 0; i < acc->nallow && !allowed; i++)
        allowed = addr_prefix_match(&acc->allow[i], peer);
    return allowed;
}

/* The address of a peer as a key: IPv4 whole, IPv6 by its /64. */
static bool key_of(const struct sockaddr *peer, struct limit_key *key)
{
    memset(key, 0, sizeof(*key));
    if (peer->sa_family == AF_INET) {
        key->family = AF_INET;
        memcpy(key->bytes, &((const struct sockaddr_in *)peer)->sin_addr, 4);
        return true;
    }
    if (peer->sa_family == AF_INET6) {
        key->family = AF_INET6;
        memcpy(key->bytes, ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr, 8);
        return true;
    }
    return false;
}

/* Refill a bucket to `now`; is there a token? */
static bool bucket_has(int64_t *tokens, int64_t *last, bool *primed, const struct conf_rate *r,
                       int64_t now)
{
    int64_t cap = (int64_t)r->count * TOKEN;

    if (!*primed) {
        *tokens = cap;
        *primed = true;
    } else if (now > *last) {
        int64_t add = (now - *last) * (int64_t)r->count * TOKEN / r->period_ms;
        *tokens = add >= cap - *tokens ? cap : *tokens + add;
    }
    *last = now;
    return *tokens >= TOKEN;
}

static size_t hash_key(const struct limit_key *k, size_t cap)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < sizeof(k->bytes); i++)
        h = (h ^ k->bytes[i]) * 1099511628211ull;
    return (size_t)(h ^ k->family) & (cap - 1);
}

static bool same_key(const struct limit_key *a, const struct limit_key *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

static struct limit_entry *find(struct limiter *lim, const struct limit_key *key)
{
    if (lim->cap == 0)
        return NULL;
    for (size_t i = hash_key(key, lim->cap); lim->table[i].key.family != 0;
         i = (i + 1) & (lim->cap - 1))
        if (same_key(&lim->table[i].key, key))
            return &lim->table[i];
    return NULL;
}

/* Rebuild at `cap` slots, keeping only entries with open connections if `prune`. */
static int rebuild(struct limiter *lim, size_t cap, bool prune)
{
    struct limit_entry *t = calloc(cap, sizeof(*t));

    if (t == NULL)
        return -1;
    lim->live = 0;
    for (size_t i = 0; i < lim->cap; i++) {
        struct limit_entry *e = &lim->table[i];
        size_t j;
        if (e->key.family == 0 || e->key.family == TOMBSTONE || (prune && e->conns == 0))
            continue;
        for (j = hash_key(&e->key, cap); t[j].key.family != 0; j = (j + 1) & (cap - 1))
            ;
        t[j] = *e;
        lim->live++;
    }
    free(lim->table);
    lim->table = t;
    lim->cap = cap;
    lim->used = lim->live;
    return 0;
}

/* Room for one more entry: grow while below the bound, else forget idle addresses. */
static int make_room(struct limiter *lim)
{
    if ((lim->used + 1) * 2 <= lim->cap)
        return 0;
    if (lim->live < LIMIT_ADDRS_MAX)
        return rebuild(lim, lim->cap ? lim->cap * 2 : 64, false);
    if (rebuild(lim, lim->cap, true) < 0)
        return -1;
    return lim->live < LIMIT_ADDRS_MAX ? 0 : -1;
}

static struct limit_entry *find_or_add(struct limiter *lim, const struct limit_key *key)
{
    struct limit_entry *e = find(lim, key);
    size_t i;

    if (e != NULL || make_room(lim) < 0)
        return e;
    for (i = hash_key(key, lim->cap);
         lim->table[i].key.family != 0 && lim->table[i].key.family != TOMBSTONE;
         i = (i + 1) & (lim->cap - 1))
        ;
    if (lim->table[i].key.family == 0)
        lim->used++;
    memset(&lim->table[i], 0, sizeof(lim->table[i]));
    lim->table[i].key = *key;
    lim->live++;
    return &lim->table[i];
}

enum refusal limit_admit(struct limiter *lim, const struct svc_conf *sc, unsigned conns_now,
                         const struct sockaddr *peer, int64_t now, bool stream,
                         struct limit_key *key)
{
    bool per_ip = (stream && sc->max_per_ip) || sc->rate_per_ip.count;
    struct conf_rate rate = {part(sc->rate.count), sc->rate.period_ms};
    struct limit_entry *e = NULL;
    struct limit_key k;

    memset(key, 0, sizeof(*key));
    if (!access_allowed(&sc->access, peer))
        return REFUSED_DENIED;
    if (stream && sc->max_conns && conns_now >= part(sc->max_conns))
        return REFUSED_MAX_CONNS;
    if (per_ip && key_of(peer, &k)) {
        /* A full table of busy addresses: refuse rather than grow. */
        if ((e = find_or_add(lim, &k)) == NULL)
            return sc->max_per_ip ? REFUSED_MAX_PER_IP : REFUSED_RATE_PER_IP;
        if (stream && sc->max_per_ip && e->conns >= sc->max_per_ip)
            return REFUSED_MAX_PER_IP;
    }
    if (rate.count && !bucket_has(&lim->tokens, &lim->last_ms, &lim->primed, &rate, now))
        return REFUSED_RATE;
    if (e != NULL && sc->rate_per_ip.count &&
        !bucket_has(&e->tokens, &e->last_ms, &e->primed, &sc->rate_per_ip, now))
        return REFUSED_RATE_PER_IP;
    /* Admitted: only now are tokens spent, so a refusal costs the peer nothing. */
    if (rate.count)
        lim->tokens -= TOKEN;
    if (e != NULL && sc->rate_per_ip.count)
        e->tokens -= TOKEN;
    if (e != NULL && stream) {
        e->conns++;
        *key = k;
    }
    return ADMITTED;
}

bool limit_take_rate(struct limiter *lim, const struct svc_conf *sc, int64_t now)
{
    struct conf_rate rate = {part(sc->rate.count), sc->rate.period_ms};

    if (rate.count == 0)
        return true;
    if (!bucket_has(&lim->tokens, &lim->last_ms, &lim->primed, &rate, now))
        return false;
    lim->tokens -= TOKEN;
    return true;
}

void limit_release(struct limiter *lim, const struct limit_key *key)
{
    struct limit_entry *e;

    if (key->family == 0 || (e = find(lim, key)) == NULL || e->conns == 0)
        return;
    e->conns--;
}

void limit_free(struct limiter *lim)
{
    free(lim->table);
    memset(lim, 0, sizeof(*lim));
}
