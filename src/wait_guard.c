/*
 * wait_guard: the loop guard of wait = yes stream programs (see
 * wait_guard.h).
 */
#include "wait_guard.h"

#include <string.h>

int wait_guard_exit(struct wait_guard *g, int64_t now_ms, bool still_waiting)
{
    if (!still_waiting) {
        memset(g, 0, sizeof(*g)); /* it accepted: whatever came before is over */
        return 0;
    }
    if (g->nexits == WAIT_GUARD_EXITS) {
        memmove(g->exits_ms, g->exits_ms + 1, (WAIT_GUARD_EXITS - 1) * sizeof(*g->exits_ms));
        g->nexits--;
    }
    g->exits_ms[g->nexits++] = now_ms;
    if (g->nexits < WAIT_GUARD_EXITS || now_ms - g->exits_ms[0] > WAIT_GUARD_WINDOW_MS)
        return 0;
    g->nexits = 0; /* the next back-off needs as many exits again */
    if (g->backoff_ms == 0)
        g->backoff_ms = WAIT_GUARD_BACKOFF_MIN_MS;
    else if (g->backoff_ms < WAIT_GUARD_BACKOFF_MAX_MS / 2)
        g->backoff_ms *= 2;
    else
        g->backoff_ms = WAIT_GUARD_BACKOFF_MAX_MS;
    return g->backoff_ms;
}
