/*
 * upgrade: handing a running usherd over to the binary now on disk
 * without a moment when a listening socket is closed.
 *
 * The running master (the predecessor) forks and executes its own
 * program file again (the path /proc/self/exe named at start), as its
 * successor, passing it every listening socket the way systemd's socket
 * activation does (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES: descriptors 3
 * onwards), then a report pipe and the pidfile's descriptor, named in
 * USHERD_UPGRADE ("REPORT PIDFILE OWNED", OWNED the indexes of the
 * sockets whose Unix socket file the predecessor made, comma-separated,
 * or "-"), and NOTIFY_SOCKET when systemd gave one.  The successor starts
 * as usual on the inherited sockets, takes over the pidfile's lock (shared
 * through the descriptor: it is never free) and the control socket's
 * name, and reports on the pipe as a detached start does: a status byte,
 * 0 for ready, then a message.  Only then does the predecessor stop
 * accepting; until then both serve.  A successor that fails, dies or is
 * not ready in UPGRADE_TIMEOUT_MS (then killed) leaves the predecessor
 * serving as before.
 */
#ifndef USHER_UPGRADE_H
#define USHER_UPGRADE_H

#include "ev.h"
#include "reaper.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define UPGRADE_TIMEOUT_MS 30000
#define UPGRADE_ENV        "USHERD_UPGRADE"

/*
 * The outcome: `ok` with the successor's pid once it is ready, or not
 * with a message saying why ("usherd: ..." as the successor said it, or
 * what happened to it).
 */
typedef void upgrade_done_fn(void *arg, pid_t pid, bool ok, const char *msg);

struct upgrade {
    struct ev_loop *loop;
    struct reaper *reaper;
    char exe[PATH_MAX]; /* our program file, as it was named at start; "" if unknown */
    pid_t pid;          /* the successor while it starts, else 0 */
    pid_t handed_to;    /* the successor that took over, else 0 */
    int report_fd;      /* its report pipe, while it starts */
    struct ev_timer deadline;
    upgrade_done_fn *done;
    void *arg;
};

/* What the successor inherits. */
struct upgrade_spec {
    char *const *argv;        /* its command line (argv[0] shown; the program is u->exe) */
    const int *fds;           /* the listening sockets */
    const char *const *names; /* one per socket (LISTEN_FDNAMES), no ':' in them */
    const bool *owned;        /* per socket: its Unix socket file is ours */
    size_t nfds;
    int pidfile_fd; /* -1 if none */
};

/* At start (before any chdir): note our program file. */
void upgrade_init(struct upgrade *u, struct ev_loop *loop, struct reaper *reaper,
                  upgrade_done_fn *done, void *arg);

/* Is a successor starting? */
static inline bool upgrade_running(const struct upgrade *u)
{
    return u->pid > 0;
}

/*
 * Start the successor.  Returns 0 (done is called later, once), or -1
 * with the reason in err (nothing started).
 */
int upgrade_start(struct upgrade *u, const struct upgrade_spec *spec, char *err, size_t errlen);

/*
 * The stop came first: a successor still starting gets SIGTERM, and the
 * attempt ends as failed, `why` saying so.  Nothing if none is starting.
 */
void upgrade_abort(struct upgrade *u, const char *why);

/* What a successor was handed (upgrade_take_env). */
struct upgrade_inherited {
    bool upgrading;
    int report_fd;
    int pidfile_fd;  /* -1 if none */
    unsigned *owned; /* the indexes of the sockets whose files are ours (malloc'd), or NULL */
    size_t nowned;
    pid_t predecessor; /* our parent, that handed them over */
};

/*
 * In the successor, first of all: read and remove USHERD_UPGRADE.
 * Returns 0 (up->upgrading false when not started by an upgrade), or -1
 * with errno EINVAL if the variable is malformed.
 */
int upgrade_take_env(struct upgrade_inherited *up);

void upgrade_inherited_free(struct upgrade_inherited *up);

#endif
