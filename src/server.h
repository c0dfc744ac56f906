/*
 * server: the policy of a running process.  A server holds the loop, the
 * services in force (a svc_set), their listeners and the engines' state
 * (streams, exec children, the reaper, the datagram guard); it accepts,
 * admits and dispatches each connection to its engine, applies a reload's
 * plan (reload.h) and runs the graceful stop.  The services themselves
 * (generations, counters, admission and release) are svc.h's; the process
 * models above (procs.h) reach it through struct server_procs.
 *
 * Invariants:
 *  - every open connection is on srv->streams and opened in srv->set;
 *  - a listener keeps its socket across reloads while its address stays in
 *    the configuration: there is never a moment without it.
 */
#ifndef USHER_SERVER_H
#define USHER_SERVER_H

#include "conf.h"
#include "dgram.h"
#include "ev.h"
#include "forward.h"
#include "handshake.h"
#include "proxy_in.h"
#include "limit.h"
#include "listener.h"
#include "log.h"
#include "reaper.h"
#include "spawn.h"
#include "stream.h"
#include "svc.h"
#include "wait_guard.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

struct server;
struct strbuf;

/* A listener serving a service. */
struct bound {
    struct listener l;
    struct svc *svc;
    struct server *srv;
    struct exec_child *holder; /* wait = yes: the child that has the socket now */
    struct tls_ctx *tls;       /* tls://: its service's TLS (the server owns it), else NULL */
    struct addr addr;          /* as configured: what a reload compares */
    bool paused;               /* out of descriptors: resume_timer brings it back */
    bool watched;              /* this process serves it */
    struct ev_timer resume_timer;
    struct wait_guard wait_guard; /* wait = yes on a stream: its program looping? */
};

/*
 * Which process serves what: the main process (the master when workers > 1)
 * serves wait = yes services always and the rest only without workers;
 * event workers serve all but prefork services; a prefork pool's process
 * serves its one service, one connection at a time; a fork-model child
 * serves the one connection it was made for.
 */
enum role {
    ROLE_MAIN,
    ROLE_WORKER,
    ROLE_POOL,
    ROLE_CONN,
};

/*
 * What the process models (procs.c, a layer above) install in the server,
 * so that the server never calls them by name.
 */
struct server_procs {
    /* model = fork: serve the admitted connection a->fd in a new process (takes it). */
    void (*fork_connection)(void *arg, struct svc *svc, const struct accepted *a);
    /* Signal every worker and prefork process / every fork-model connection process. */
    void (*signal_workers)(void *arg, int sig);
    void (*signal_conns)(void *arg, int sig);
    void *arg;
};

struct server {
    enum role role;
    const struct svc_state *pool_of; /* ROLE_POOL: the service served */
    unsigned max_in_flight;          /* connections at once; 0: no limit */
    unsigned worker_index;           /* ROLE_WORKER: 1..N, for the stats lines */
    struct ev_loop *loop;
    struct svc_set set;   /* the services in force, their counts and limits */
    struct tls_ctx **tls; /* per service of set.svcs: its TLS, or NULL */
    bool tls_changed;     /* the last reload read certificates or keys that differ */
    struct handshake_set handshakes;
    struct stream_set streams;
    struct forward_set forwards;
    struct proxy_in_set proxies; /* connections reading their PROXY header */
    struct spawn_set spawn;      /* exec children */
    struct reaper reaper;        /* every child of this process, by pid */
    struct bound **bound;
    size_t nbound;
    unsigned nworkers;         /* event workers and prefork processes */
    struct server_procs procs; /* installed from above; the stop signals through it */
    struct dgram_guard guard;  /* the UDP loop rule's ports and broadcast addresses */
    bool stopping;
    bool retiring; /* a worker or prefork process replaced by a reload */
    bool killing;  /* the stop has sent SIGKILL to the children */
    struct ev_timer stop_timer;
};

/*
 * Build the services of `conf` and bind every listener (or adopt the
 * matching inherited socket), logging each as "listening service=NAME
 * addr=ADDR".  The server takes a reference on `conf`.  Every inherited
 * socket must match a listen address.  Returns 0, or -1 with a message in
 * err and nothing left open or bound.
 */
int server_start(struct server *srv, struct ev_loop *loop, struct conf *conf,
                 struct metrics *metrics, struct inherited *inh, char *err, size_t errlen);

/*
 * Put `conf` in force: listeners whose address stays keep their socket,
 * removed ones close (their connections go on), new ones bind; new
 * connections get the new definitions.  All or nothing: if a new listener
 * cannot be bound, nothing changes.  Returns 0 with the summary line
 * (reload_summary) in msg, also logged; or -1 with the error in msg.
 * Takes a reference on `conf` on success.
 */
int server_reload(struct server *srv, struct conf *conf, char *msg, size_t msglen);

/*
 * Begin the graceful stop: listeners close, connections get until
 * shutdown_timeout to finish, then the loop ends.  Called a second time,
 * or with `now`, it closes everything at once.
 */
void server_stop(struct server *srv, bool now);

/*
 * A worker or prefork process replaced by a reload: take what is already
 * ours in the listen queues, close the listeners, and end the loop once
 * the open connections and exec children have ended by themselves (at
 * once if there are none).  A later server_stop still applies.
 */
void server_retire(struct server *srv);

/*
 * A worker or prefork process is dead: give back the connections its
 * holdings record in the limits of the services (and the global count).
 * Returns how many.
 */
unsigned long server_give_back(struct server *srv, struct limit_holds *holds);

/*
 * Serve the admitted connection `a` of `svc` in this process: its TLS
 * handshake first if it has one, then its engine (a program, a process of
 * its own for model = fork, or a stream here).  Takes the socket and the
 * admission.
 */
void server_serve(struct server *srv, struct svc *svc, const struct accepted *a);

/* Log one line of counters per service. */
void server_log_stats(struct server *srv);

/*
 * Upgrade: the listening sockets (and each one's service name, and
 * whether its Unix socket file is ours) into fds, names, owned; at most
 * max.  Returns the count.
 */
size_t server_listening(const struct server *srv, int *fds, const char **names, bool *owned,
                        size_t max);

/* Upgrade, in the successor: the socket files of the listeners on fds[0..n) are ours. */
void server_own_paths(struct server *srv, const int *fds, size_t n);

/*
 * Upgrade, in the predecessor, once the successor is ready: the socket
 * files are the successor's (a server_stop that follows never removes them).
 */
void server_hand_over(struct server *srv);

/* The same counters as a table, a header and a row per service, into b. */
void server_stats_table(struct server *srv, struct strbuf *b);

/* Release everything (after the loop has ended). */
void server_free(struct server *srv);

/*
 * In a freshly forked process: make this copy of the server run in `loop`
 * as `role`, forgetting the parent's connections, children and timers.
 * The listeners it does not serve are forgotten too (their descriptors
 * must already be closed: see server_served_fds).  No socket file is ever
 * removed by a child.
 */
void server_rebase(struct server *srv, struct ev_loop *loop, enum role role,
                   const struct svc_state *pool_of, unsigned worker_index);

/* The listening descriptors `role` serves, into fds (at most max).  Returns the count. */
size_t server_served_fds(const struct server *srv, enum role role, const struct svc_state *pool_of,
                         int *fds, size_t max);

/*
 * Does a process in `role` serve services like `sc` (`own_pool`: a pool
 * process of that very service), `workers` being [global] workers?  The
 * main process serves wait = yes services always and the rest only
 * without workers; event workers all but prefork services.
 */
bool server_serves(enum role role, unsigned workers, const struct svc_conf *sc, bool own_pool);

/* Stop watching the listener `b` for `ms` (a timer brings it back). */
void server_pause(struct bound *b, int ms);

/* If stopping and nothing of ours is left running, end the loop. */
void server_check_stopped(struct server *srv);

#endif
