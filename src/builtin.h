/*
 * builtin: the built-in services as a table of behaviours, one row per
 * service, for streams (functions called by conn.c) and for datagrams
 * (one reply per request, called by dgram.c).
 *
 * Stream contract: `input` is called with at least one byte and an out with
 * room for at least BUILTIN_MIN_ROOM copied bytes and one reference; it
 * returns how many bytes it consumed, which is more than zero whenever it
 * was given that room.  `eof` is called once when the peer has shut down
 * its side; returning false closes the connection after the flush.
 */
#ifndef USHER_BUILTIN_H
#define USHER_BUILTIN_H

#include "conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct conn;
struct out;
struct svc;

#define BUILTIN_MIN_ROOM 64

struct builtin {
    const char *name;
    /* streams */
    void (*start)(struct conn *c, struct out *o);
    size_t (*input)(struct conn *c, const char *p, size_t n, struct out *o);
    bool (*eof)(struct conn *c, struct out *o);
    void (*fill)(struct conn *c, struct out *o); /* generators only: more output */
    void (*release)(struct conn *c);             /* free per-connection state */
    /* The peer ending the connection by reset or EPIPE is its normal end. */
    bool reset_is_normal;
    /*
     * datagrams: the request is buf[0..len); write the reply into buf
     * (room for `cap` bytes) and return its length, or -1 for no reply.
     */
    ssize_t (*datagram)(struct svc *svc, char *buf, size_t len, size_t cap);
};

const struct builtin *builtin_get(enum builtin_id id);

#endif
