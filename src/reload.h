/*
 * reload: what a reload does to the listeners, as a plan computed before
 * anything changes (mark and sweep).  Pure: no socket, no loop, no
 * service; the server applies the plan (server_reload) and can undo it
 * all if a new listener cannot be bound.
 *
 * Rules.  Each listen address of the new configuration, in order, keeps
 * the first listener in force with the same configured address that no
 * earlier one kept; a port-0 address says nothing about which socket it
 * got, so there only the same service's listener is the same.  A listen
 * that keeps none opens a new one; a listener in force that none keeps
 * closes.  The kind is part of the address: tcp://A and udp://A differ.
 */
#ifndef USHER_RELOAD_H
#define USHER_RELOAD_H

#include "addr.h"
#include "conf.h"

#include <stdbool.h>
#include <stddef.h>

/* A listener in force, as a reload compares it. */
struct reload_have {
    const struct addr *addr; /* as configured */
    const char *service;     /* the service it serves now */
};

#define RELOAD_OPEN ((size_t)-1)

/* One listen of the new configuration: conf->svcs[svc].listens[listen]. */
struct reload_step {
    size_t svc, listen;
    size_t keep; /* the index of the listener in force it keeps, or RELOAD_OPEN */
};

struct reload_plan {
    struct reload_step *steps; /* every listen of the new configuration, in order */
    size_t nsteps;
    bool *close; /* per listener in force: true if no step keeps it */
    size_t nhave;
    unsigned kept, to_open, to_close;
};

/*
 * The plan from the listeners in force have[0..nhave) to `conf`.
 * Returns 0, or -1 with errno (ENOMEM; *plan then holds nothing).
 */
int reload_plan(const struct reload_have *have, size_t nhave, const struct conf *conf,
                struct reload_plan *plan);

void reload_plan_free(struct reload_plan *plan);

/*
 * The line a reload ends with, into buf: "reloaded PATH: services N
 * (added A, removed R, changed C); listeners kept K, opened O, closed X".
 */
void reload_summary(const struct conf *old, const struct conf *conf, unsigned kept, unsigned opened,
                    unsigned closed, char *buf, size_t size);

#endif
