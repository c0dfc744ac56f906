/*
 * status: usherd's status document (SPEC 15, `GET /status`) as `usher
 * status` knows it: decoded from its JSON into a struct, the rates of two
 * samples, and the table a person reads.
 *
 *   {"version", "pid", "started", "config", "reloads",
 *    "services": [{"name", "listen": [...], "model", "active", "total",
 *                  "refused": {REASON: N}, "received_bytes", "sent_bytes",
 *                  "children"}],
 *    "connections": [{"service", "peer", "age_ms", "pid"}]}
 *
 * Decoding is strict about what it reads (every key above present once,
 * of its type; counters whole numbers up to 2^64-1; "config" and a
 * connection's "pid" may be null) and ignores keys it does not know, so
 * that a newer usherd's additions do not break an older client.
 *
 * Everything here is pure: no I/O but the FILE the table is printed to,
 * no clock but the times the caller passes.  Text from the document
 * (names, peers, reasons) is escaped as the log escapes it (str_escape)
 * before it reaches the table: a hostile server cannot send a terminal
 * escape through it.
 */
#ifndef USHER_STATUS_H
#define USHER_STATUS_H

#include "json_parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Connections listed in a table by default (the document lists up to 1,000). */
#define STATUS_CONNS_SHOWN 20

struct status_refusal {
    const char *reason;
    uint64_t count;
};

struct status_service {
    const char *name, *model;
    size_t nlisten;
    uint64_t active, total, received, sent, children;
    uint64_t refused; /* the sum of the reasons' counts (at most 2^64-1) */
    struct status_refusal *reasons;
    size_t nreasons;
};

struct status_conn {
    const char *service, *peer;
    uint64_t age_ms;
    bool has_pid;
    uint64_t pid;
};

struct status {
    struct json_doc doc; /* the strings below point into it */
    const char *version;
    const char *config; /* NULL: null (the embedded default) */
    uint64_t pid, reloads;
    double started; /* Unix time, seconds */
    struct status_service *services;
    size_t nservices;
    struct status_conn *conns;
    size_t nconns;
};

/*
 * Decode the JSON `text` of `len` bytes.  Returns 0 (status_free it), or
 * -1 with a message in err ("services[1].total: expected a whole number
 * from 0 to 2^64-1"; nothing to free).
 */
int status_decode(const char *text, size_t len, struct status *st, char *err, size_t errlen);

/* Free what status_decode made (a zeroed status is fine too). */
void status_free(struct status *st);

/* Per second, for one service, between two samples. */
struct status_rate {
    bool known; /* false: no earlier sample of it to compare with */
    double conns, received, sent;
};

/*
 * The rates of cur's services since `prev`, taken `elapsed_ms` earlier:
 * rates[i] for cur->services[i] (cur->nservices of them).  A rate is
 * known only if prev has a service of that name, both samples are of one
 * run of the daemon (the same "started"), none of its counters went
 * back, and elapsed_ms is above zero.
 */
void status_rates(const struct status *prev, const struct status *cur, int64_t elapsed_ms,
                  struct status_rate *rates);

struct status_view {
    const struct status_rate *rates; /* per service, or NULL: no rate columns */
    time_t now;                      /* Unix time, for the uptime */
    size_t max_conns;                /* connections listed at most */
    const char *title;               /* a first line (printed as it is), or NULL */
    const char *eol;                 /* ends every line: "\n", or on a terminal "\033[K\n" */
};

/*
 * Print the table: the title, a line for the daemon (version, pid,
 * uptime, reloads, config), one row per service (columns as wide as
 * their widest cell), a line of refusals by reason under a service that
 * has any, then up to v->max_conns connections.  Returns the number of
 * lines printed, or -1 with errno if the FILE failed.
 */
int status_format(FILE *out, const struct status *st, const struct status_view *v);

/*
 * How many connections the table can list in `rows` lines (a terminal's
 * height) after everything else it shows, a line to spare for the cursor.
 */
size_t status_conns_fitting(const struct status *st, const struct status_view *v, size_t rows);

/* "512 B", "1.5 KiB", "12 MiB" ... "16 EiB": `bytes` in binary units, 2 or 3 digits. */
void status_bytes(char *buf, size_t size, double bytes);

/* "42s", "12m 03s", "3h 04m", "5d 03h"; negative: "-". */
void status_duration(char *buf, size_t size, int64_t seconds);

#endif
