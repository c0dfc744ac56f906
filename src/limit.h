/*
 * limit: whether a service takes a new connection or datagram.
 *
 * In order: access rules (deny wins; with allow rules the peer must match
 * one), the service's open connections (max_conns), the address's open
 * connections (max_per_ip), the service's rate and the address's rate
 * (token buckets: `count` per `period`, bursts up to `count`).  Addresses
 * are IPv4 addresses or IPv6 /64 networks; IPv4-mapped peers arrive here
 * unmapped.  Unix peers have no address: only the service-wide limits
 * apply to them.
 *
 * The per-address table is bounded: entries without open connections are
 * dropped when room is needed (their rate history is the only loss), so no
 * stream of new addresses makes it grow past LIMIT_ADDRS_MAX.
 */
#ifndef USHER_LIMIT_H
#define USHER_LIMIT_H

#include "conf.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define LIMIT_ADDRS_MAX 65536

enum refusal {
    ADMITTED,
    REFUSED_DENIED,
    REFUSED_MAX_CONNS,
    REFUSED_MAX_PER_IP,
    REFUSED_RATE,
    REFUSED_RATE_PER_IP,
    REFUSAL_COUNT,
};

/* The end= text of a refusal: "denied", "refused:max_conns", ... */
const char *limit_refusal_text(enum refusal r);

/* The key a connection keeps to be released from its address's count. */
struct limit_key {
    uint8_t family; /* 0: none (not counted per address) */
    uint8_t bytes[8];
};

struct limit_entry;

/* A service's limit state; it lives with the service across reloads. */
struct limiter {
    int64_t tokens;  /* milli-tokens of the service's bucket */
    int64_t last_ms; /* of its last refill */
    bool primed;
    struct limit_entry *table;
    size_t cap, used, live; /* slots, slots ever used, entries */
};

/*
 * Decide for a connection (`stream`) or a datagram from `peer` at `now`,
 * the service having `conns_now` open connections.  An admitted connection
 * is counted against its address; *key (zeroed if not counted) must be
 * given back to limit_release when it ends.
 */
enum refusal limit_admit(struct limiter *lim, const struct svc_conf *sc, unsigned conns_now,
                         const struct sockaddr *peer, int64_t now, bool stream,
                         struct limit_key *key);

/*
 * The service's rate alone (wait = yes services, where the program takes
 * the connections itself): is a spawn allowed now?  Spends a token if so.
 */
bool limit_take_rate(struct limiter *lim, const struct svc_conf *sc, int64_t now);

/*
 * With workers = N each process enforces its share of the service-wide
 * limits: max_conns and rate divided by N (rounded up).  Per-address limits
 * apply in each process as they are.  Default 1.
 */
void limit_set_share(unsigned n);
unsigned limit_share(void);

/* An admitted connection has ended. */
void limit_release(struct limiter *lim, const struct limit_key *key);

void limit_free(struct limiter *lim);

#endif
