/*
 * wait_guard: a wait = yes stream program that exits without accepting.
 *
 * Such a program (a nowait program configured as wait, inetd.conf's
 * classic mistake) leaves the connection in the listener's queue, so the
 * listener is readable again at once and usherd would start the program
 * again, and again.  Each exit of the program is noted with whether the
 * listener still had a connection waiting; WAIT_GUARD_EXITS such exits in
 * a row within WAIT_GUARD_WINDOW_MS make the listener rest for a back-off
 * that starts at WAIT_GUARD_BACKOFF_MIN_MS and doubles, up to
 * WAIT_GUARD_BACKOFF_MAX_MS, while the program goes on looping.  An exit
 * after the program did accept ends the episode.  Pure logic: the caller
 * gives the time.
 */
#ifndef USHER_WAIT_GUARD_H
#define USHER_WAIT_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#define WAIT_GUARD_EXITS          5
#define WAIT_GUARD_WINDOW_MS      10000
#define WAIT_GUARD_BACKOFF_MIN_MS 1000
#define WAIT_GUARD_BACKOFF_MAX_MS 60000

struct wait_guard {
    int64_t exits_ms[WAIT_GUARD_EXITS]; /* the latest exits without accepting, oldest first */
    unsigned nexits;
    int backoff_ms; /* the last back-off of this episode, 0 before the first */
};

/*
 * The program exited at `now_ms`; `still_waiting`: the listener had a
 * connection in its queue then.  Returns how long to leave the listener
 * alone (ms), or 0 to watch it again at once.
 */
int wait_guard_exit(struct wait_guard *g, int64_t now_ms, bool still_waiting);

#endif
