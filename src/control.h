/*
 * control: `usherd -s reload|stop|stats|status|upgrade`, talking to the
 * running instance through its control socket (control_server.h) when it
 * answers there, else with a signal to the process holding its pidfile's
 * lock (a pidfile nobody holds is stale, whatever it says).
 *
 *   reload   POST /reload: the summary on stdout and 0, or the errors on
 *            stderr and 1 (the configuration in force stays); by signal:
 *            SIGHUP, and 0 once sent
 *   stop     POST /stop (or SIGTERM), then wait until the pidfile is let go
 *   stats    GET /stats: the counters table on stdout; by signal: SIGUSR1
 *            (the daemon logs them)
 *   status   "running (pid N)" on stdout and 0, or why not on stderr and 1
 *   upgrade  POST /upgrade: "upgraded: pid OLD -> NEW" and 0 once the new
 *            binary has taken over, or why not and 1; by signal: SIGUSR2,
 *            then wait until the pidfile names another process
 */
#ifndef USHER_CONTROL_H
#define USHER_CONTROL_H

#include <stdint.h>

/*
 * Carry out `command` against the daemon of `pidfile`, whose control
 * socket is `socket_path` (NULL: none).  `stop_wait_ms` bounds the wait
 * for a stop.  Prints what happened and returns the exit status: 0, 1
 * (not running, no permission, refused, still running after the wait) or
 * 2 (unknown command).
 */
int control_run(const char *command, const char *pidfile, const char *socket_path,
                int64_t stop_wait_ms);

#endif
