/*
 * limit: whether a service takes a new connection or datagram.
 *
 * In order: access rules (deny wins; with allow rules the peer must match
 * one), the open connections of all services ([global] max_conns), the
 * service's open connections (max_conns), the address's open connections
 * (max_per_ip), the service's rate and the address's rate (token buckets:
 * `count` per `period`, bursts up to `count`).  Addresses are IPv4
 * addresses or IPv6 /64 networks; IPv4-mapped peers arrive here unmapped.
 * Unix peers have no address: only the service-wide limits apply to them.
 *
 * Service-wide in every model.  A limiter's state (counts, buckets, the
 * per-address table) lives in an anonymous MAP_SHARED mapping that the
 * master makes before it forks the processes that use it, so the event
 * workers, prefork processes and the master all admit against one state,
 * under a process-shared robust mutex (a process that dies holding it
 * leaves it to the next, which carries on); the count of all services is
 * a lock-free atomic.  The table has a fixed capacity (MAP_NORESERVE:
 * untouched pages cost nothing): entries without open connections are
 * dropped when room is needed (their rate history is the only loss), so
 * no stream of new addresses makes it hold more than LIMIT_ADDRS_MAX.
 *
 * Crash safety.  Each worker or prefork process records what it holds
 * (per limiter: its count and its per-address counts) in a limit_holds
 * mapping of its own, also made by the master before the fork; the
 * master, reaping a dead process, gives that back (limit_give_back), so
 * an address is never locked out for good by a crash.  The master itself
 * records nothing: when it dies, everything does.
 */
#ifndef USHER_LIMIT_H
#define USHER_LIMIT_H

#include "conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LIMIT_ADDRS_MAX 65536
/* The holdings a worker may record: counted addresses of all its services. */
#define LIMIT_HOLDS_MAX (2 * LIMIT_ADDRS_MAX)

enum refusal {
    ADMITTED,
    REFUSED_DENIED,
    REFUSED_MAX_CONNS,
    REFUSED_MAX_PER_IP,
    REFUSED_RATE,
    REFUSED_RATE_PER_IP,
    REFUSED_PROXY_UNTRUSTED, /* a PROXY header would come from outside proxy_from */
    REFUSAL_COUNT,
};

/* The end= text of a refusal: "denied", "refused:max_conns", ... */
const char *limit_refusal_text(enum refusal r);

/* What an admitted connection holds, to be given back by limit_release. */
struct limit_key {
    uint8_t family;  /* 0: not counted per address */
    uint8_t counted; /* counted in its service's and the global count */
    uint8_t bytes[8];
};

struct limit_region;
struct limit_holds;

/* A limit state; a service's lives with the service across reloads. */
struct limiter {
    struct limit_region *r; /* shared mapping; NULL: not made */
    struct limiter *global; /* the count of all services, or NULL */
};

/*
 * Map a new state, identified by `id` in the holdings (0 for the global
 * count, which has no table: `addrs` 0), with room for `addrs` addresses,
 * counting its connections in `global` too unless NULL.  Every process
 * forked afterwards shares it.  Returns 0, or -1 with errno (ENOMEM).
 */
int limit_init(struct limiter *lim, uint32_t id, size_t addrs, struct limiter *global);

/* This process's mapping of the state goes (the others keep theirs). */
void limit_free(struct limiter *lim);

/* The id given to limit_init. */
uint32_t limit_id(const struct limiter *lim);

/*
 * Decide for a connection (`stream`) or a datagram from `peer` at `now`
 * (ms, CLOCK_MONOTONIC, the same for every process), `global_max` being
 * [global] max_conns (0: none).  An admitted connection is counted (its
 * service, the global count, its address); *key must be given back to
 * limit_release when it ends.  A datagram is never counted (*key zeroed).
 */
enum refusal limit_admit(struct limiter *lim, const struct svc_conf *sc, unsigned global_max,
                         const struct sockaddr *peer, int64_t now, bool stream,
                         struct limit_key *key);

/*
 * The service's rate alone (wait = yes services, where the program takes
 * the connections itself): is a spawn allowed now?  Spends a token if so.
 */
bool limit_take_rate(struct limiter *lim, const struct svc_conf *sc, int64_t now);

/* An admitted connection has ended.  A zeroed key gives back nothing. */
void limit_release(struct limiter *lim, const struct limit_key *key);

/* Connections counted now in the state (all processes). */
unsigned limit_conns(const struct limiter *lim);

/*
 * The slot of the per-address table where the search for `peer` starts
 * (its home) into *slot: false if it has none (no table, a Unix peer).
 * The placement is keyed per state (limit.c), the same in every process;
 * for tests of that.
 */
bool limit_home(const struct limiter *lim, const struct sockaddr *peer, uint32_t *slot);

/*
 * Holdings: a mapping for `cap` records (a prefork process needs a few,
 * a worker LIMIT_HOLDS_MAX), made before the fork; NULL with errno.
 */
struct limit_holds *limit_holds_new(size_t cap);
void limit_holds_free(struct limit_holds *h);

/* In a worker or prefork process: record what is admitted here in `h`. */
void limit_set_holds(struct limit_holds *h);

/*
 * The process that recorded `h` is dead: give back everything it held,
 * in the limiter that `lookup` returns for each id (NULL: that state is
 * gone, nothing to give back).  Returns the connections given back.
 */
typedef struct limiter *limit_lookup_fn(uint32_t id, void *arg);
unsigned long limit_give_back(struct limit_holds *h, limit_lookup_fn *lookup, void *arg);

#endif
