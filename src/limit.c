/*
 * limit: admission by access rules, counts and rates (see limit.h).
 *
 * Token buckets count milli-tokens: refilled by elapsed_ms * count * 1000
 * / period_ms, capped at count * 1000, one admission costs 1000.  Integer
 * arithmetic, no drift.  The clock is CLOCK_MONOTONIC, one for every
 * process; a process whose "now" is older than a bucket's last refill (its
 * loop round began earlier) adds nothing rather than turning the clock back.
 *
 * Both tables (a state's addresses, a process's holdings) are open
 * addressing with linear probing and backward-shift deletion: no
 * tombstones, so a fixed capacity never silts up.
 *
 * Keyed placement.  The addresses are chosen outside (a client's source
 * address; any source a UDP sender writes), so a fixed hash would let
 * anyone compute, offline, thousands of addresses with one home slot and
 * make every lookup of them scan a run that long under the lock (hash
 * flooding: 16384 of them cost 8192 probes a lookup, against 1 for as
 * many random ones).  A slot is therefore SipHash-2-4 of the address
 * under a 128-bit key drawn from getrandom(2) when the table's mapping is
 * made (a state's, and likewise a holdings record's): in the master,
 * before any fork, and kept in the mapping, so every process that shares
 * the table places alike.  A reload keeps a service's mapping, key and
 * entries together; a new state draws its own.  Should getrandom fail
 * (no such call; nothing else is expected with no flags), the key is a
 * mix of both clocks in nanoseconds, the pid and the mapping's address,
 * with a warning: the table works just as well, only someone who can
 * guess those could flood it, which is no reason to run without limits
 * or not at all.
 */
#include "limit.h"

#include "log.h"
#include "siphash.h"
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define TOKEN     1000
#define GLOBAL_ID 0

struct limit_entry {
    uint8_t family; /* 0: a free slot */
    uint8_t primed; /* its bucket has history (rate_per_ip): kept while idle */
    uint8_t bytes[8];
    uint32_t conns;
    int64_t tokens, last_ms;
};

/* A state, at the start of its shared mapping. */
struct limit_region {
    pthread_mutex_t mu; /* process-shared, robust; the global count uses atomics instead */
    size_t len;         /* of the mapping */
    uint32_t id;
    uint32_t cap;   /* slots of the table, a power of two; 0: no table */
    uint32_t max;   /* entries at most */
    uint32_t live;  /* entries */
    uint32_t conns; /* counted connections, all processes */
    uint8_t primed;
    uint8_t key[SIPHASH_KEY_LEN]; /* of the table's placement, drawn with the mapping */
    int64_t tokens, last_ms;
    struct limit_entry table[];
};

/* One record of a process's holdings: `n` connections in state `id` (family 0) or an address of it.
 */
struct hold {
    uint32_t id;
    uint8_t used;
    uint8_t family;
    uint8_t bytes[8];
    uint32_t n;
};

struct limit_holds {
    size_t len;
    uint32_t cap, live;
    uint8_t key[SIPHASH_KEY_LEN]; /* as a state's */
    struct hold e[];
};

static struct limit_holds *my_holds;

const char *limit_refusal_text(enum refusal r)
{
    static const char *const text[REFUSAL_COUNT] = {
        [ADMITTED] = "admitted",
        [REFUSED_DENIED] = "denied",
        [REFUSED_MAX_CONNS] = "refused:max_conns",
        [REFUSED_MAX_PER_IP] = "refused:max_per_ip",
        [REFUSED_RATE] = "refused:rate",
        [REFUSED_RATE_PER_IP] = "refused:rate_per_ip",
        [REFUSED_PROXY_UNTRUSTED] = "proxy:untrusted",
    };
    return r < REFUSAL_COUNT ? text[r] : "refused";
}

/* Mappings */

static void *map_shared(size_t len)
{
    void *p =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

/* A placement key for the table of the mapping at `map` (see the top). */
static void draw_key(uint8_t key[SIPHASH_KEY_LEN], const void *map)
{
    static bool warned;
    struct timespec rt, mono;
    uint64_t mix[2];
    size_t got = 0;

    while (got < SIPHASH_KEY_LEN) {
        ssize_t n = getrandom(key + got, SIPHASH_KEY_LEN - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        got += (size_t)n;
    }
    if (got == SIPHASH_KEY_LEN)
        return;
    if (!warned)
        log_warn("limits: getrandom: the address tables' keys come from the clocks and pid");
    warned = true;
    /* A clock that fails too (it cannot, for these two) leaves its zero: a weaker mix still. */
    if (clock_gettime(CLOCK_REALTIME, &rt) < 0)
        rt = (struct timespec){0};
    if (clock_gettime(CLOCK_MONOTONIC, &mono) < 0)
        mono = (struct timespec){0};
    mix[0] = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
    mix[1] = ((uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec) ^
             ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)map;
    memcpy(key, mix, SIPHASH_KEY_LEN);
}

/* Slots for `n` entries at a load of one half at most. */
static uint32_t slots_for(size_t n)
{
    uint32_t cap = 8;

    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

static int init_mutex(pthread_mutex_t *mu)
{
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);

    if (rc != 0)
        return rc;
    if ((rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED)) == 0 &&
        (rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST)) == 0)
        rc = pthread_mutex_init(mu, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc;
}

int limit_init(struct limiter *lim, uint32_t id, size_t addrs, struct limiter *global)
{
    uint32_t cap = addrs > 0 ? slots_for(addrs) : 0;
    size_t len = sizeof(struct limit_region) + cap * sizeof(struct limit_entry);
    struct limit_region *r = map_shared(len);
    int rc;

    memset(lim, 0, sizeof(*lim));
    if (r == NULL)
        return -1;
    if ((rc = init_mutex(&r->mu)) != 0) {
        munmap(r, len);
        errno = rc;
        return -1;
    }
    r->len = len;
    r->id = id;
    r->cap = cap;
    if (cap > 0)
        draw_key(r->key, r);
    r->max = (uint32_t)addrs;
    lim->r = r;
    lim->global = global;
    return 0;
}

void limit_free(struct limiter *lim)
{
    if (lim->r != NULL)
        munmap(lim->r, lim->r->len);
    memset(lim, 0, sizeof(*lim));
}

uint32_t limit_id(const struct limiter *lim)
{
    return lim->r != NULL ? lim->r->id : 0;
}

unsigned limit_conns(const struct limiter *lim)
{
    return lim->r != NULL ? __atomic_load_n(&lim->r->conns, __ATOMIC_RELAXED) : 0;
}

static void lock(struct limit_region *r)
{
    /* Its holder died: what it was changing may be half done; carry on with it. */
    if (pthread_mutex_lock(&r->mu) == EOWNERDEAD)
        pthread_mutex_consistent(&r->mu);
}

static void unlock(struct limit_region *r)
{
    pthread_mutex_unlock(&r->mu);
}

/* The count of all services: lock-free. */

static bool global_take(struct limiter *g, unsigned max)
{
    uint32_t c;

    if (g == NULL || g->r == NULL)
        return true;
    c = __atomic_load_n(&g->r->conns, __ATOMIC_RELAXED);
    do
        if (max != 0 && c >= max)
            return false;
    while (!__atomic_compare_exchange_n(&g->r->conns, &c, c + 1, true, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED));
    return true;
}

static void global_put(struct limiter *g, uint32_t n)
{
    uint32_t c;

    if (g == NULL || g->r == NULL)
        return;
    c = __atomic_load_n(&g->r->conns, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&g->r->conns, &c, c > n ? c - n : 0, true, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
        ;
}

/* Access rules and keys */

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

/* The home slot of (id, family, bytes) in a table of `cap` slots placed under `key`. */
static uint32_t hash(const uint8_t *key, uint32_t id, uint8_t family, const uint8_t *bytes,
                     uint32_t cap)
{
    uint8_t in[13];

    memcpy(in, &id, 4);
    in[4] = family;
    memcpy(in + 5, bytes, 8);
    return (uint32_t)siphash24(key, in, sizeof(in)) & (cap - 1);
}

/* Refill a bucket to `now`; is there a token? */
static bool bucket_has(int64_t *tokens, int64_t *last, uint8_t *primed, const struct conf_rate *r,
                       int64_t now)
{
    int64_t cap = (int64_t)r->count * TOKEN;

    if (!*primed) {
        *tokens = cap;
        *last = now;
        *primed = 1;
    } else if (now > *last) {
        int64_t elapsed = now - *last;
        /* 128 bits: a long pause times a large count would overflow 64. */
        int64_t add =
            elapsed >= r->period_ms ? cap : (int64_t)((__int128)elapsed * cap / r->period_ms);
        *tokens = add >= cap - *tokens ? cap : *tokens + add;
        *last = now;
    }
    return *tokens >= TOKEN;
}

/* The per-address table of a state (under its lock) */

static uint32_t home_of(const struct limit_region *r, const struct limit_entry *e)
{
    return hash(r->key, 0, e->family, e->bytes, r->cap);
}

static struct limit_entry *find(struct limit_region *r, const struct limit_key *k)
{
    uint32_t mask = r->cap - 1;

    if (r->cap == 0)
        return NULL;
    for (uint32_t i = hash(r->key, 0, k->family, k->bytes, r->cap); r->table[i].family != 0;
         i = (i + 1) & mask)
        if (r->table[i].family == k->family && memcmp(r->table[i].bytes, k->bytes, 8) == 0)
            return &r->table[i];
    return NULL;
}

bool limit_home(const struct limiter *lim, const struct sockaddr *peer, uint32_t *slot)
{
    struct limit_key k;

    if (lim->r == NULL || lim->r->cap == 0 || !key_of(peer, &k))
        return false;
    *slot = hash(lim->r->key, 0, k.family, k.bytes, lim->r->cap);
    return true;
}

/* Empty slot i, moving back the entries after it that would no longer be found. */
static void delete_at(struct limit_region *r, uint32_t i)
{
    uint32_t mask = r->cap - 1;

    for (uint32_t j = (i + 1) & mask; r->table[j].family != 0; j = (j + 1) & mask) {
        uint32_t home = home_of(r, &r->table[j]);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            r->table[i] = r->table[j];
            i = j;
        }
    }
    memset(&r->table[i], 0, sizeof(r->table[i]));
    r->live--;
}

/* An entry with no connection and no rate history is the same as none. */
static void drop_if_idle(struct limit_region *r, struct limit_entry *e)
{
    if (e->conns == 0 && !e->primed)
        delete_at(r, (uint32_t)(e - r->table));
}

/* Forget every address without open connections (re-checking a slot a deletion refilled). */
static void prune(struct limit_region *r)
{
    for (uint32_t i = 0; i < r->cap;) {
        if (r->table[i].family != 0 && r->table[i].conns == 0)
            delete_at(r, i);
        else
            i++;
    }
}

static struct limit_entry *find_or_add(struct limit_region *r, const struct limit_key *k)
{
    struct limit_entry *e = find(r, k);
    uint32_t i;

    if (e != NULL || r->cap == 0)
        return e;
    if (r->live >= r->max)
        prune(r);
    if (r->live >= r->max)
        return NULL; /* every address busy: refuse rather than grow */
    for (i = hash(r->key, 0, k->family, k->bytes, r->cap); r->table[i].family != 0;
         i = (i + 1) & (r->cap - 1))
        ;
    memset(&r->table[i], 0, sizeof(r->table[i]));
    r->table[i].family = k->family;
    memcpy(r->table[i].bytes, k->bytes, 8);
    r->live++;
    return &r->table[i];
}

/* This process's holdings (no lock: only this process writes them) */

static uint32_t hold_home(const struct limit_holds *h, const struct hold *e)
{
    return hash(h->key, e->id, e->family, e->bytes, h->cap);
}

static void hold_delete(struct limit_holds *h, uint32_t i)
{
    uint32_t mask = h->cap - 1;

    for (uint32_t j = (i + 1) & mask; h->e[j].used; j = (j + 1) & mask) {
        uint32_t home = hold_home(h, &h->e[j]);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            h->e[i] = h->e[j];
            i = j;
        }
    }
    memset(&h->e[i], 0, sizeof(h->e[i]));
    h->live--;
}

/* Room for `n` more records? */
static bool hold_room(uint32_t n)
{
    return my_holds == NULL || my_holds->live + n <= my_holds->cap / 2;
}

/* One connection more (+1) or less (-1) held in state `id`, at address `k` unless NULL. */
static void hold(uint32_t id, const struct limit_key *k, int delta)
{
    static const uint8_t none[8];
    struct limit_holds *h = my_holds;
    uint8_t family = k != NULL ? k->family : 0;
    const uint8_t *bytes = k != NULL ? k->bytes : none;
    uint32_t i;

    if (h == NULL)
        return;
    for (i = hash(h->key, id, family, bytes, h->cap); h->e[i].used; i = (i + 1) & (h->cap - 1))
        if (h->e[i].id == id && h->e[i].family == family && memcmp(h->e[i].bytes, bytes, 8) == 0)
            break;
    if (!h->e[i].used) {
        if (delta < 0)
            return;
        h->e[i] = (struct hold){.id = id, .used = 1, .family = family};
        memcpy(h->e[i].bytes, bytes, 8);
        h->live++;
    }
    if (delta > 0)
        h->e[i].n++;
    else if (--h->e[i].n == 0)
        hold_delete(h, i);
}

struct limit_holds *limit_holds_new(size_t cap)
{
    uint32_t slots = slots_for(cap);
    size_t len = sizeof(struct limit_holds) + slots * sizeof(struct hold);
    struct limit_holds *h = map_shared(len);

    if (h == NULL)
        return NULL;
    h->len = len;
    h->cap = slots;
    draw_key(h->key, h);
    return h;
}

void limit_holds_free(struct limit_holds *h)
{
    if (h != NULL)
        munmap(h, h->len);
}

void limit_set_holds(struct limit_holds *h)
{
    my_holds = h;
}

/* Admission */

/* The checks under the state's lock; *ep is the address's entry, if one was used. */
static enum refusal decide(struct limit_region *r, const struct svc_conf *sc,
                           const struct limit_key *addr, int64_t now, bool stream,
                           struct limit_entry **ep)
{
    struct limit_entry *e = NULL;

    *ep = NULL;
    if (stream && sc->max_conns && r->conns >= sc->max_conns)
        return REFUSED_MAX_CONNS;
    if (addr != NULL) {
        if ((e = *ep = find_or_add(r, addr)) == NULL)
            return sc->max_per_ip ? REFUSED_MAX_PER_IP : REFUSED_RATE_PER_IP;
        if (stream && sc->max_per_ip && e->conns >= sc->max_per_ip)
            return REFUSED_MAX_PER_IP;
    }
    if (sc->rate.count && !bucket_has(&r->tokens, &r->last_ms, &r->primed, &sc->rate, now))
        return REFUSED_RATE;
    if (e != NULL && sc->rate_per_ip.count &&
        !bucket_has(&e->tokens, &e->last_ms, &e->primed, &sc->rate_per_ip, now))
        return REFUSED_RATE_PER_IP;
    /* A full record of holdings: refuse rather than hold what a crash would leak. */
    if (stream && !hold_room(3))
        return e != NULL ? REFUSED_MAX_PER_IP : REFUSED_MAX_CONNS;
    return ADMITTED;
}

/* Admitted: only now are tokens spent and counts taken, so a refusal costs the peer nothing. */
static void commit(struct limit_region *r, const struct svc_conf *sc, struct limit_entry *e,
                   bool stream, struct limit_key *key)
{
    if (sc->rate.count)
        r->tokens -= TOKEN;
    if (e != NULL && sc->rate_per_ip.count)
        e->tokens -= TOKEN;
    if (!stream)
        return;
    __atomic_add_fetch(&r->conns, 1, __ATOMIC_RELAXED);
    key->counted = 1;
    hold(r->id, NULL, 1);
    if (e != NULL) {
        e->conns++;
        key->family = e->family;
        memcpy(key->bytes, e->bytes, 8);
        hold(r->id, key, 1);
    }
}

enum refusal limit_admit(struct limiter *lim, const struct svc_conf *sc, unsigned global_max,
                         const struct sockaddr *peer, int64_t now, bool stream,
                         struct limit_key *key)
{
    bool per_ip = (stream && sc->max_per_ip) || sc->rate_per_ip.count;
    struct limit_region *r = lim->r;
    struct limit_entry *e;
    struct limit_key k;
    enum refusal res;

    memset(key, 0, sizeof(*key));
    if (!access_allowed(&sc->access, peer))
        return REFUSED_DENIED;
    if (r == NULL)
        return ADMITTED; /* no state (out of memory at its making): no limits but access */
    if (!stream && !per_ip && sc->rate.count == 0)
        return ADMITTED; /* a datagram with no rate to spend: nothing to lock */
    per_ip = per_ip && key_of(peer, &k);
    if (stream && !global_take(lim->global, global_max))
        return REFUSED_MAX_CONNS;
    lock(r);
    res = decide(r, sc, per_ip ? &k : NULL, now, stream, &e);
    if (res == ADMITTED)
        commit(r, sc, e, stream, key);
    else if (e != NULL)
        drop_if_idle(r, e);
    unlock(r);
    if (stream && res != ADMITTED)
        global_put(lim->global, 1);
    else if (stream && lim->global != NULL)
        hold(limit_id(lim->global), NULL, 1);
    return res;
}

bool limit_take_rate(struct limiter *lim, const struct svc_conf *sc, int64_t now)
{
    struct limit_region *r = lim->r;
    bool ok;

    if (sc->rate.count == 0 || r == NULL)
        return true;
    lock(r);
    ok = bucket_has(&r->tokens, &r->last_ms, &r->primed, &sc->rate, now);
    if (ok)
        r->tokens -= TOKEN;
    unlock(r);
    return ok;
}

/* Take `n` connections off the state: its count, or an address's (family != 0). */
static void give(struct limit_region *r, uint8_t family, const uint8_t *bytes, uint32_t n)
{
    struct limit_key k = {.family = family};
    struct limit_entry *e;

    if (family == 0) {
        uint32_t c = __atomic_load_n(&r->conns, __ATOMIC_RELAXED);
        __atomic_store_n(&r->conns, c > n ? c - n : 0, __ATOMIC_RELAXED);
        return;
    }
    memcpy(k.bytes, bytes, 8);
    if ((e = find(r, &k)) == NULL)
        return;
    e->conns = e->conns > n ? e->conns - n : 0;
    drop_if_idle(r, e);
}

void limit_release(struct limiter *lim, const struct limit_key *key)
{
    struct limit_region *r = lim->r;

    if (!key->counted || r == NULL)
        return;
    lock(r);
    give(r, 0, NULL, 1);
    hold(r->id, NULL, -1);
    if (key->family != 0) {
        give(r, key->family, key->bytes, 1);
        hold(r->id, key, -1);
    }
    unlock(r);
    if (lim->global != NULL) {
        global_put(lim->global, 1);
        hold(limit_id(lim->global), NULL, -1);
    }
}

unsigned long limit_give_back(struct limit_holds *h, limit_lookup_fn *lookup, void *arg)
{
    unsigned long conns = 0;

    for (uint32_t i = 0; h != NULL && i < h->cap && h->live > 0; i++) {
        struct hold *e = &h->e[i];
        struct limiter *lim;
        if (!e->used)
            continue;
        if ((lim = lookup(e->id, arg)) != NULL && lim->r != NULL) {
            if (e->id == GLOBAL_ID) {
                global_put(lim, e->n);
            } else {
                lock(lim->r);
                give(lim->r, e->family, e->bytes, e->n);
                unlock(lim->r);
                conns += e->family == 0 ? e->n : 0;
            }
        }
        memset(e, 0, sizeof(*e));
        h->live--;
    }
    return conns;
}
