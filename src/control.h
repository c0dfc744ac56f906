/*
 * control: `usherd -s reload|stop|stats|status`, talking to the running
 * instance found through its pidfile.  The process holding the pidfile's
 * lock is the daemon; a pidfile nobody holds is stale, whatever it says.
 */
#ifndef USHER_CONTROL_H
#define USHER_CONTROL_H

#include <stdint.h>

/*
 * Carry out `command` against the daemon of `pidfile`.  `stop_wait_ms`
 * bounds the wait for a stop.  Prints what happened (status: "running
 * (pid N)" on stdout) and returns the exit status: 0, 1 (not running, no
 * permission, still running after the wait) or 2 (unknown command).
 */
int control_run(const char *command, const char *pidfile, int64_t stop_wait_ms);

#endif
