/*
 * service: the running daemon.  A server holds the loop, the services of
 * the configuration in force, their listeners and every open connection;
 * it accepts connections, applies the global limits, keeps the counters and
 * runs the graceful stop.
 *
 * Invariants:
 *  - every open connection is on srv->conns and counted in srv->nconns and
 *    in its service's conns_now;
 *  - a listener is watched by the loop unless the server is stopping or
 *    accepting is paused after EMFILE/ENFILE.
 */
#ifndef USHER_SERVICE_H
#define USHER_SERVICE_H

#include "conf.h"
#include "ev.h"
#include "listener.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

struct builtin;
struct conn;
struct server;

struct svc_stats {
    uint64_t conns_total; /* accepted, refusals included */
    uint64_t refused;     /* by a limit */
    uint64_t bytes_in, bytes_out;
    uint64_t dgrams_in, dgrams_out, dgrams_dropped;
};

struct svc {
    const struct svc_conf *conf;
    const struct builtin *builtin;
    struct server *srv;
    unsigned conns_now;
    struct svc_stats stats;
    unsigned chargen_line; /* next line of the datagram chargen */
};

/* A listener serving a service. */
struct bound {
    struct listener l;
    struct svc *svc;
    struct server *srv;
    bool paused; /* out of descriptors: resume_timer brings it back */
    struct ev_timer resume_timer;
};

struct server {
    struct ev_loop *loop;
    struct conf *conf;
    struct svc *svcs;
    size_t nsvcs;
    struct bound *bound;
    size_t nbound;
    struct conn *conns; /* doubly linked, newest first */
    unsigned nconns;
    /* Ports of the UDP builtins, which must never get answers (loops). */
    uint16_t *udp_ports;
    size_t nudp_ports;
    /* The hosts' IPv4 broadcast addresses, never answered to or from. */
    struct in_addr *broadcasts;
    size_t nbroadcasts;
    bool stopping;
    struct ev_timer stop_timer;
};

/*
 * Build the services of `conf` and bind every listener, logging each as
 * "listening service=NAME addr=ADDR".  The server takes `conf`.
 * Returns 0, or -1 with a message in err and nothing left open or bound.
 */
int server_start(struct server *srv, struct ev_loop *loop, struct conf *conf, char *err,
                 size_t errlen);

/*
 * Begin the graceful stop: listeners close, connections get until
 * shutdown_timeout to finish, then the loop ends.  Called a second time,
 * or with `now`, it closes everything at once.
 */
void server_stop(struct server *srv, bool now);

/* Log one line of counters per service. */
void server_log_stats(struct server *srv);

/* Release everything (after the loop has ended). */
void server_free(struct server *srv);

/* A connection has opened / closed: the service's and server's accounting. */
void server_conn_opened(struct server *srv, struct conn *c);
void server_conn_closed(struct server *srv, struct conn *c);

/* Is `port` one of the UDP builtins' own ports? */
bool server_is_udp_builtin_port(const struct server *srv, uint16_t port);

#endif
