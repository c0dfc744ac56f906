/*
 * metrics: the daemon's counters, in one table shared by all of usherd's
 * processes, so that any of them can answer for the whole daemon.
 *
 * The table is an anonymous MAP_SHARED mapping that the master makes once,
 * before its first fork: the event workers, prefork processes and
 * fork-model connection processes all inherit it at the same address.
 * Counters are 64-bit and only ever added to, with relaxed atomic adds (no
 * lock on any path a connection takes); a process that dies loses nothing
 * it has counted.  The table has fixed-size slots, one per service, and a
 * slot lives with the service's state: a reload keeps the slots of the
 * services that stay, and so their counts.
 *
 * Slots.  Only the master (the process that made the table) takes and
 * gives back slots, when a service first appears and when its last
 * generation goes.  A given-back slot is reused last (the one given back
 * longest ago first), so a retiring process that still counts into it
 * has long gone before another service gets it.  A slot is "listed" while
 * its service is in the configuration in force: a scrape shows the listed
 * slots only, so a removed service's series disappear with the reload.
 * Its name, model and addresses are written by the master under a
 * sequence count, which readers retry around.
 *
 * Gauges (open connections, running children) are adds and subtracts on
 * the same table.  A worker or prefork process records what it has added
 * in holdings of its own (a small mapping the master makes before the
 * fork, as for the limits); when such a process dies, the master takes its
 * holdings back out of the gauges.  A fork-model connection process counts
 * no gauge: its parent counts the connection.
 *
 * Open connections are listed too (for /status), in a fixed registry of
 * METRICS_CONNS_MAX entries that processes claim with a compare-and-swap;
 * when it is full, further connections are served but not listed.
 *
 * The process registry names usherd's own processes (not the programs of
 * exec services), for the process_* metrics, read from /proc at a scrape.
 */
#ifndef USHER_METRICS_H
#define USHER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define METRICS_SVCS_MAX    1024
#define METRICS_CONNS_MAX   4096
#define METRICS_PROCS_MAX   4096
#define METRICS_TLS_MAX     16 /* TLS handshake results a slot counts */
#define METRICS_LISTEN_TEXT 1024
#define METRICS_BUCKETS     11 /* connection duration, plus +Inf */

/* How a connection was taken: the proto label. */
enum metrics_proto {
    METRICS_TCP,
    METRICS_TLS,
    METRICS_UNIX,
    METRICS_PROTO_COUNT,
};

/* Why a connection was refused: the reason label. */
enum metrics_reason {
    METRICS_MAX_CONNS,
    METRICS_MAX_PER_IP,
    METRICS_RATE,
    METRICS_RATE_PER_IP,
    METRICS_DENIED,
    METRICS_PROXY,     /* untrusted, malformed or late PROXY header */
    METRICS_TLS_FAIL,  /* failed TLS handshake */
    METRICS_RESOURCES, /* no memory, descriptor or process to serve it */
    METRICS_REASON_COUNT,
};

/* Why a datagram was dropped. */
enum metrics_drop {
    METRICS_DROP_LOOP,
    METRICS_DROP_DENIED,
    METRICS_DROP_RATE,
    METRICS_DROP_COUNT,
};

/* How an exec child ended. */
enum metrics_exit {
    METRICS_EXIT_ZERO,
    METRICS_EXIT_NONZERO,
    METRICS_EXIT_SIGNAL,
    METRICS_EXIT_COUNT,
};

/* The kind of an usherd process. */
enum metrics_role {
    METRICS_ROLE_MASTER,
    METRICS_ROLE_WORKER,
    METRICS_ROLE_PREFORK,
    METRICS_ROLE_CONNECTION,
    METRICS_ROLE_COUNT,
};

/* What a service has, for the families a scrape shows it in. */
enum {
    METRICS_HAS_TCP = 1 << METRICS_TCP,
    METRICS_HAS_TLS = 1 << METRICS_TLS,
    METRICS_HAS_UNIX = 1 << METRICS_UNIX,
    METRICS_HAS_DGRAM = 1 << 3, /* udp or unixgram listeners */
    METRICS_HAS_EXEC = 1 << 4,  /* an exec service: children */
};

/* The upper bounds of the duration buckets, in seconds. */
extern const double metrics_bucket_bounds[METRICS_BUCKETS];

/* One service's counters. */
struct metrics_svc {
    uint32_t used;   /* taken by a service */
    uint32_t listed; /* in the configuration in force */
    uint32_t seq;    /* odd while the master writes the text fields */
    uint32_t kinds;  /* METRICS_HAS_* */
    uint64_t freed;  /* when given back (an order, not a time) */
    char name[64];
    char model[24];
    char listen[METRICS_LISTEN_TEXT]; /* the addresses, one per line */
    uint64_t conns[METRICS_PROTO_COUNT];
    int64_t active, children;
    uint64_t refused[METRICS_REASON_COUNT];
    uint64_t duration[METRICS_BUCKETS + 1]; /* per bucket (not cumulative); the last: +Inf */
    uint64_t duration_us;                   /* their sum */
    uint64_t bytes_in, bytes_out;
    uint64_t udp_requests, udp_dropped[METRICS_DROP_COUNT]; /* requests: every datagram in */
    uint64_t dgrams_out, dgrams_dropped; /* replies sent; every drop, for any cause */
    uint64_t exits[METRICS_EXIT_COUNT], spawn_failures;
    uint64_t tls[METRICS_TLS_MAX];
};

/* An open connection, as /status lists it. */
struct metrics_conn {
    uint32_t slot;      /* 0: free; else the service's slot + 1 */
    int32_t pid;        /* the process serving it (an exec service's program, say) */
    int32_t owner;      /* the usherd process that listed it, and unlists it */
    int64_t started_ms; /* CLOCK_MONOTONIC, the same for every process */
    uint16_t family;    /* AF_INET, AF_INET6, or 0 (a Unix peer) */
    uint16_t port;      /* host order */
    uint8_t addr[16];
};

struct metrics_proc {
    int32_t pid; /* 0: free */
    int32_t role;
};

struct metrics {
    size_t len; /* of the mapping */
    pid_t owner;
    int64_t start_time; /* Unix time, seconds */
    uint64_t reloads_ok, reloads_error;
    uint32_t last_reload_ok;
    uint64_t log_lines_dropped;
    uint64_t cpu_ended_ticks; /* of processes that have ended */
    uint64_t cpu_shown_ticks; /* the highest sum shown: the counter never goes back */
    uint64_t freed_order;
    uint32_t conns_used;
    char config[256]; /* the configuration file, for /status */
    struct metrics_proc procs[METRICS_PROCS_MAX];
    struct metrics_conn conns[METRICS_CONNS_MAX];
    struct metrics_svc svcs[METRICS_SVCS_MAX];
};

/*
 * Map a new table (the caller is its owner: only it takes slots), with the
 * start time now and `config` as its configuration's name.  NULL with errno.
 */
struct metrics *metrics_new(const char *config);
void metrics_free(struct metrics *m);

/* Is this process the table's owner (the master)? */
bool metrics_owner(const struct metrics *m);

/* The owner only: a free slot for service `name`, zeroed, or NULL (all taken). */
struct metrics_svc *metrics_slot_take(struct metrics *m, const char *name);
void metrics_slot_give_back(struct metrics *m, struct metrics_svc *s);

/* The owner only: the text of a slot (under its sequence count) and whether it is listed. */
void metrics_slot_describe(struct metrics_svc *s, const char *model, const char *listen,
                           uint32_t kinds);
void metrics_slot_list(struct metrics_svc *s, bool listed);

/* A consistent copy of a slot's text fields (a reader's side of the sequence count). */
void metrics_slot_text(const struct metrics_svc *s, char *name, char *model, char *listen,
                       uint32_t *kinds);

/* The index of a slot in its table. */
uint32_t metrics_slot_index(const struct metrics *m, const struct metrics_svc *s);

/* Counting (any process; a NULL slot counts nothing). */
void metrics_add(uint64_t *counter, uint64_t n);
uint64_t metrics_read(const uint64_t *counter);
void metrics_observe_duration(struct metrics_svc *s, int64_t ms);

/* Gauges: open connections, running children (+1 or -1), recorded in this process's holdings. */
void metrics_active(struct metrics *m, struct metrics_svc *s, int delta);
void metrics_children(struct metrics *m, struct metrics_svc *s, int delta);
int64_t metrics_gauge(const int64_t *gauge);

/* A fork-model connection process: its parent counts the gauges. */
void metrics_mute_gauges(void);

/*
 * Holdings of a worker or prefork process, made by the master before the
 * fork; metrics_set_holds in the new process; metrics_give_back in the
 * master once it is dead.
 */
struct metrics_holds;
struct metrics_holds *metrics_holds_new(void);
void metrics_holds_free(struct metrics_holds *h);
void metrics_set_holds(struct metrics_holds *h);
void metrics_give_back(struct metrics *m, const struct metrics_holds *h);

/*
 * Open connections: list one of slot `s` from `peer` served by `pid` (0:
 * this process); returns its entry + 1, or 0 when not listed (the
 * registry is full).
 */
uint32_t metrics_conn_add(struct metrics *m, const struct metrics_svc *s,
                          const struct sockaddr *peer, pid_t pid, int64_t now);
void metrics_conn_remove(struct metrics *m, uint32_t id);
/* A dead usherd process's connections (those it listed) are no longer open. */
void metrics_conns_of_dead(struct metrics *m, pid_t pid);

/* Processes: this one (at start, and first thing after a fork), as `role`; gone once reaped. */
void metrics_proc_self(struct metrics *m, enum metrics_role role);
void metrics_proc_gone(struct metrics *m, pid_t pid);
/* This process ends: its CPU time is added to that of the ended ones. */
void metrics_proc_ending(struct metrics *m);

/* The configuration: a reload's result. */
void metrics_reloaded(struct metrics *m, bool ok);

/* usherd's processes together, from /proc. */
struct metrics_procs_sample {
    unsigned by_role[METRICS_ROLE_COUNT];
    uint64_t open_fds, max_fds, rss_bytes;
    double cpu_seconds;
};
void metrics_procs_sample(struct metrics *m, struct metrics_procs_sample *out);

#endif
