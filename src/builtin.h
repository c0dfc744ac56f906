/*
 * builtin: the built-in services as a table of behaviours, one row per
 * service, for streams (driven by stream.c, or by a test) and for
 * datagrams (one reply per request, called by dgram.c).  A builtin sees
 * only its session and a struct out: no socket, no service, no loop.
 *
 * Stream contract: `input` is called with at least one byte and an out with
 * room for at least BUILTIN_MIN_ROOM copied bytes and one reference; it
 * returns how many bytes it consumed, which is more than zero whenever it
 * was given that room (0 with nothing added: it found no memory).  `eof` is
 * called once when the peer has shut down its side; returning false closes
 * the connection after the flush.  A builtin that has said all sets
 * s->done: the connection closes once its output is out.
 */
#ifndef USHER_BUILTIN_H
#define USHER_BUILTIN_H

#include "conf.h"
#include "out.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define BUILTIN_MIN_ROOM 64

/* State of the line- and record-oriented builtins. */
struct sum_state {
    char *line; /* partial request line, allocated on first need */
    size_t len;
    bool discarding; /* after "line too long": drop up to the next newline */
};

struct sumbin_state {
    unsigned char rec[16];
    size_t len;
};

struct metrics;
struct metrics_session;

/* One stream connection as its builtin sees it (zeroed at the start). */
struct builtin_session {
    bool done;               /* the builtin is finished: close once the output is flushed */
    struct metrics *metrics; /* the daemon's counters (builtin = metrics reads them) */
    union {
        struct sum_state sum;
        struct sumbin_state sumbin;
        unsigned chargen_line;
        struct metrics_session *http;
    } st;
};

struct builtin {
    const char *name;
    /* streams */
    void (*start)(struct builtin_session *s, struct out *o);
    size_t (*input)(struct builtin_session *s, const char *p, size_t n, struct out *o);
    bool (*eof)(struct builtin_session *s, struct out *o);
    void (*fill)(struct builtin_session *s, struct out *o); /* generators only: more output */
    void (*release)(struct builtin_session *s);             /* free per-session state */
    /* The peer ending the connection by reset or EPIPE is its normal end. */
    bool reset_is_normal;
    /*
     * datagrams: the request is buf[0..len); write the reply into buf
     * (room for `cap` bytes) and return its length, or -1 for no reply.
     * `cursor` is the service's position across datagrams (chargen's next
     * line); the builtins that keep none accept NULL.
     */
    ssize_t (*datagram)(unsigned *cursor, char *buf, size_t len, size_t cap);
};

/* The row of `id`, or NULL for an id out of range. */
const struct builtin *builtin_get(enum builtin_id id);

#endif
