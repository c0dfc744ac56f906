/*
 * svc: the services of a process, the layer every engine (stream, dgram,
 * spawn, fork-model processes) stands on.  It owns the registry of the
 * configuration in force, its generations, the per-service counters, the
 * admission of a connection or datagram and its release, the
 * rate-limited refusal lines, the per-service warning limiters and the
 * stats lines.  It knows no listener, no engine and no process model.
 *
 * Generations.  A struct svc belongs to one configuration and never
 * changes: a connection keeps the svc it was accepted under, so a reload
 * cannot change a connection's behaviour under its feet.  A reload builds
 * new svcs; the old ones retire and are freed with their last connection.
 * What outlives generations, by service name, is the svc_state: counters,
 * open connections, the shared limits, the UDP chargen position.
 *
 * Admission and release.  An engine asks svc_admit; what it admitted it
 * counts with svc_opened once it has taken it on, and gives back with one
 * svc_release, whatever the end (a failure before svc_opened included:
 * then `use` is SVC_USE_NONE).  After each release of something opened,
 * the function the layer above installed (svc_set.on_end) is called: the
 * engines never call upward.
 *
 * Invariants:
 *  - set->nconns + set->nchildren is what is opened and not released;
 *  - a svc's conns counts its opened uses; a retired svc is on
 *    set->retired until its conns reach 0, then freed;
 *  - a state's refs counts the svcs (all generations) that share it.
 */
#ifndef USHER_SVC_H
#define USHER_SVC_H

#include "conf.h"
#include "ev.h"
#include "limit.h"
#include "log.h"
#include "metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Where run-time warnings about a service come from.  Each service has a
 * rate limiter per site (SPEC 9: one line a second at most for each site
 * and service), so one service's failures never hide another's.
 */
enum svc_warn {
    SVC_WARN_ACCEPT, /* accept failed: out of descriptors or memory */
    SVC_WARN_CONN,   /* an accepted connection could not be taken on */
    SVC_WARN_RECV,   /* a datagram listener could not receive */
    SVC_WARN_SPAWN,  /* an exec service's program did not start */
    SVC_WARN_FORK,   /* no process for a connection or a prefork slot */
    SVC_WARN_COUNT,
};

/* A service's life across reloads, shared by its generations. */
/* How TLS handshakes ended, as they are counted (the log says more). */
enum svc_tls_result {
    SVC_TLS_OK,
    SVC_TLS_TIMEOUT,
    SVC_TLS_WRONG_VERSION,
    SVC_TLS_NO_SHARED_CIPHER,
    SVC_TLS_UNKNOWN_CA,
    SVC_TLS_BAD_CERTIFICATE,
    SVC_TLS_NO_CERTIFICATE,
    SVC_TLS_EOF,
    SVC_TLS_PROTOCOL, /* any other failure */
    SVC_TLS_RESULT_COUNT,
};

/* "ok", "timeout", "wrong_version", ..., "protocol". */
const char *svc_tls_result_name(enum svc_tls_result r);

struct svc_state {
    unsigned refs;
    unsigned conns_now;    /* open connections here, all generations (children included) */
    unsigned children;     /* exec children running here */
    unsigned chargen_line; /* next line of the datagram chargen */
    struct metrics_svc *m; /* the counters, shared by all processes; NULL: none (table full) */
    struct limiter lim;
    /* Refusals are logged one a second per reason; the rest are summed up. */
    int64_t refusal_logged_ms[REFUSAL_COUNT];
    unsigned long refusal_unlogged[REFUSAL_COUNT];
    struct log_ratelimit warn_rl[SVC_WARN_COUNT];
};

struct svc_set;

/* A service of one configuration generation. */
struct svc {
    const struct svc_conf *conf;
    struct conf *cf; /* the configuration it belongs to (a reference) */
    struct svc_set *set;
    struct svc_state *st;
    unsigned conns;   /* opened uses of this generation */
    bool retired;     /* replaced by a reload; freed with its last connection */
    struct svc *next; /* in set->retired */
};

/* What an engine holds of a service: counted as an open connection either way. */
enum svc_use {
    SVC_USE_NONE,  /* admitted, never taken on (svc_release gives back the address only) */
    SVC_USE_CONN,  /* a connection served in this process's loop */
    SVC_USE_CHILD, /* a child process: an exec program or a fork-model connection */
};

/* Installed by the layer above: something opened has been released. */
typedef void svc_end_fn(struct svc_set *set, void *arg);

struct svc_set {
    struct ev_loop *loop;
    struct metrics *metrics; /* the shared counters (NULL: none, as in unit tests) */
    struct conf *conf;       /* in force (a reference) */
    struct svc **svcs;       /* one per service of conf */
    size_t nsvcs;
    struct svc *retired; /* older generations with connections still open */
    unsigned nconns;     /* SVC_USE_CONN opened here */
    unsigned nchildren;  /* SVC_USE_CHILD opened here */
    struct limiter glim; /* [global] max_conns: the count of all services, all processes */
    uint32_t limit_ids;  /* the last limiter id given to a service state */
    struct ev_timer refusal_timer; /* writes the refusal summaries */
    svc_end_fn *on_end;
    void *on_end_arg;
};

/*
 * An empty set in `loop` for `conf` (a reference is taken), with its
 * global count mapped.  Returns 0, or -1 with errno (ENOMEM).
 */
int svc_set_init(struct svc_set *set, struct ev_loop *loop, struct conf *conf,
                 struct metrics *metrics);

/* Free every svc (retired ones too) and the global count.  The set is zeroed. */
void svc_set_free(struct svc_set *set);

/*
 * A svc for `sc` of `cf`, continuing the state of the same-named service
 * in force (a new state's limits are mapped now, before the processes
 * that share them are forked).  NULL with errno (ENOMEM).
 */
struct svc *svc_new(struct svc_set *set, struct conf *cf, const struct svc_conf *sc);

/* Free a svc that never served (a reload given up). */
void svc_free(struct svc *svc);

/*
 * Put the generation svcs[0..n) of `conf` in force: the svcs in force
 * retire (freed at once when they have nothing open).  Takes the array.
 */
void svc_set_replace(struct svc_set *set, struct conf *conf, struct svc **svcs, size_t n);

/* The svc in force named `name`, or NULL. */
struct svc *svc_find(const struct svc_set *set, const char *name);

/*
 * The limits for a connection (`stream`: [global] max_conns, then the
 * service's own) or a datagram from `peer`, now.  An admitted connection
 * is counted under `proto` (ignored for datagrams).  ADMITTED: *key holds
 * what to give back with svc_release.
 */
enum refusal svc_admit(struct svc *svc, const struct sockaddr *peer, bool stream,
                       enum metrics_proto proto, struct limit_key *key);

/* wait = yes (the program accepts itself): may one start now?  Counts it if so. */
bool svc_admit_waiting(struct svc *svc);

/* An admitted connection taken on by an engine as `use` (not SVC_USE_NONE). */
void svc_opened(struct svc *svc, enum svc_use use);

/*
 * The end of an admission: gives back `key` (zeroed: nothing) and, for an
 * opened `use`, its counts; a retired svc may be freed here (do not use
 * `svc` after this call), then set->on_end is called.
 */
void svc_release(struct svc *svc, const struct limit_key *key, enum svc_use use);

/*
 * A connection or datagram refused by a limit: counted, and logged as its
 * connection line (end=REASON), at most once a second per service and
 * reason; the rest are summed up in one line a second later.
 */
void svc_refused(struct svc *svc, int kind, const char *peer, enum refusal r);

/*
 * The per-connection log line, "service=S proto=P peer=PEER duration_ms=N
 * in=N out=N end=END", also used for refusals that never became one;
 * written only if the service's log_connections wants it (log_conn_wanted).
 */
void svc_log_line(const struct svc *svc, int kind, const char *peer, int64_t duration_ms,
                  uint64_t in, uint64_t out, const char *end);

/*
 * A warning about `svc` from `site`, at most one a second per site and
 * service, saying how many were held back since the last one.
 */
void svc_warnx(const struct svc *svc, enum svc_warn site, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A TLS handshake of `svc` ended as `r`: counted (a failure as a refusal too). */
void svc_tls_counted(struct svc *svc, enum svc_tls_result r);

/*
 * Counting, in the counters shared by every process.  Bytes moved; a
 * refusal that no limit made (a bad PROXY header, no resources); a served
 * connection's end, for the duration histogram; datagrams in (all), out,
 * dropped (`why` one of metrics_drop, or -1 for another cause); an exec
 * child's end (its wait status) or its failure to start.
 */
void svc_count_bytes(struct svc *svc, uint64_t in, uint64_t out);
void svc_count_refused(struct svc *svc, enum metrics_reason why);
void svc_count_ended(struct svc *svc, int64_t duration_ms);
void svc_count_dgram_in(struct svc *svc, uint64_t bytes);
void svc_count_dgram_out(struct svc *svc, uint64_t bytes);
void svc_count_dgram_dropped(struct svc *svc, int why, uint64_t n);
void svc_count_exit(struct svc *svc, int status);
void svc_count_spawn_failed(struct svc *svc);

/*
 * Open connections as /status lists them: one of `svc` from `peer`
 * (NULL or a Unix peer: none) served by process `pid`; returns an id for
 * svc_unlist, 0 when not listed.
 */
uint32_t svc_list(struct svc *svc, const struct sockaddr *peer, pid_t pid);
void svc_unlist(struct svc *svc, uint32_t id);

/*
 * The owner of the counters (the master): the services of the
 * configuration in force are shown, with their model and addresses, and
 * no other.  Called when a configuration is put in force.
 */
void svc_set_publish(struct svc_set *set);

/* A service's counters, the whole daemon's (the shared table). */
struct svc_stats {
    int64_t conns_now, children;
    uint64_t conns_total, refused; /* connections admitted or refused; refused (datagrams too) */
    uint64_t bytes_in, bytes_out, dgrams_in, dgrams_out, dgrams_dropped;
    bool tls; /* a tls:// service: the handshakes' counts mean something */
    uint64_t tls_ok, tls_failed;
};

/* Read the counters of `svc`.  False (all zero) if it has no slot in the table. */
bool svc_stats_read(const struct svc *svc, struct svc_stats *st);

/* The stats line of `svc`, "stats service=S conns_now=N ...", from the shared counters. */
void svc_log_stats(const struct svc *svc);

/*
 * A worker or prefork process is dead: give back the connections its
 * holdings record, in the limits of the services this process knows (and
 * the global count).  Returns how many.
 */
unsigned long svc_give_back(struct svc_set *set, struct limit_holds *holds);

/*
 * In a freshly forked process: run in `loop`, forgetting the parent's
 * counts, retired generations and refusal records (the shared limits stay).
 */
void svc_set_forget(struct svc_set *set, struct ev_loop *loop);

#endif
