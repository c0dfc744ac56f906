/*
 * client_status: `usher status ADDRESS`, usherd's status (SPEC 15) from a
 * `builtin = metrics` listener (tcp://, unix:, tls://), shown as a table,
 * watched, or passed on as JSON.
 *
 *   usher status ADDR           two samples, -i apart (default 1 s), and one
 *                               table of the second with the rates between them
 *   usher status --json ADDR    one sample, its JSON as received (once checked)
 *   usher status --watch ADDR   a sample every -i: on a terminal the table
 *                               redrawn in place (ANSI), elsewhere a table per
 *                               sample, one after another; until SIGINT or SIGTERM
 *
 * Each sample is one connection and one `GET /status` (Connection: close),
 * bounded by -w (default CLIENT_STATUS_WAIT_MS) for the connect and again
 * for the whole reply.  While watching, a failed sample after the first is
 * shown in place of the table and the next one is tried at the next tick;
 * the first must succeed.  SIGINT and SIGTERM end a watch at once, even in
 * the middle of a reply, with success.  Nothing here prints to stderr or
 * exits: failures come back as -1 with a message in err.
 */
#ifndef USHER_CLIENT_STATUS_H
#define USHER_CLIENT_STATUS_H

#include "client.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_STATUS_WAIT_MS     5000 /* -w not given */
#define CLIENT_STATUS_INTERVAL_MS 1000 /* -i not given */

struct client_status_opts {
    bool watch;          /* --watch */
    bool json;           /* --json */
    int64_t interval_ms; /* -i */
};

/*
 * Run `usher status` against t (a stream address).  Returns 0, or -1 with
 * a message in err ("tcp://127.0.0.1:9100: HTTP 404 Not Found").
 */
int client_status(const struct client_target *t, const struct client_status_opts *o, char *err,
                  size_t errlen);

#endif
