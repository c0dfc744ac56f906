/*
 * spawn: programs as network services, and every child usherd has.
 *
 * For each connection of an exec service (or, with wait = yes, for the
 * listening socket itself) a child is started with the socket as fds 0 and
 * 1 and stderr to the log, the socket or /dev/null.  The child starts with
 * exactly fds 0, 1, 2, default signal dispositions and an empty mask, its
 * own session and process group, the configured chroot, priority,
 * resource limits, groups and ids (in that order, each call checked), and
 * a fresh environment (PROTO, the UCSPI TCP* / IPC* variables,
 * REMOTE_ADDR/REMOTE_PORT, USHER_SERVICE, then the service's env).  A
 * failure before exec reaches the parent through a close-on-exec pipe and
 * is logged at once.
 *
 * Children are made with clone(CLONE_VM | CLONE_VFORK): no copy of the
 * parent's page tables, the parent waits the few microseconds until the
 * exec.  Every child is reaped on SIGCHLD (through the reaper of the
 * spawn_set), and its end is logged in its connection line (end=exit:N or
 * end=signal:N).
 *
 * An engine on svc: a connection's child is opened in its svc
 * (SVC_USE_CHILD) and released at its exit.  The registry of children is
 * a struct spawn_set of the server's; a listener handed to a wait = yes
 * child comes back through the function its caller gave (spawn_waiting):
 * spawn knows no listener and never touches the loop's registration of one.
 */
#ifndef USHER_SPAWN_H
#define USHER_SPAWN_H

#include "listener.h"
#include "reaper.h"
#include "svc.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct exec_child;
struct ev_loop;

/* The exec children of a process. */
struct spawn_set {
    struct ev_loop *loop;
    struct reaper *reaper;
    struct exec_child *head; /* doubly linked, newest first */
    size_t n;                /* not yet exited */
    size_t nleft;            /* of those, let go by spawn_leave: the stop waits for none */
    int null_fd;             /* /dev/null for stderr = null, opened on first need */
};

/* An empty set whose children are reaped by `reaper`, timed in `loop`. */
void spawn_set_init(struct spawn_set *sp, struct ev_loop *loop, struct reaper *reaper);

/* Free every record (at exit, after the loop). */
void spawn_set_free(struct spawn_set *sp);

/* In a new child process: forget the parent's children and records (no system call). */
void spawn_set_forget(struct spawn_set *sp, struct ev_loop *loop);

/*
 * Serve the accepted socket a->fd, admitted for `svc`, with a child
 * running svc's program.  Takes the socket (usherd's copy is closed once
 * the child has it) and the admission (released on failure).  Returns 0,
 * or -1 if no child could be started (logged; the connection is closed).
 */
int spawn_connection(struct spawn_set *sp, struct svc *svc, const struct accepted *a);

/* wait = yes: called when the child of service `name` that had the listener has exited. */
typedef void spawn_done_fn(void *arg, const char *name);

/*
 * wait = yes: hand the listening socket `fd` (of kind `kind`) to a child
 * of `svc` (blocking, as inetd gives it); `done(arg)` is called at its
 * exit, to take the socket back.  The caller stops watching it meanwhile.
 * Returns the child, or NULL with errno (logged).
 */
struct exec_child *spawn_waiting(struct spawn_set *sp, struct svc *svc, int fd, int kind,
                                 spawn_done_fn *done, void *arg);

/* The listener given to `c` is going away: its exit must not come back to it. */
void spawn_unhook(struct exec_child *c);

/* Send `sig` to the process group of every exec child but those let go (the stop). */
void spawn_signal_all(const struct spawn_set *sp, int sig);

/*
 * The stop: let go of the running children of on_stop = leave services.
 * They are never signalled again (max_time included) and counted in
 * sp->nleft, not waited for; an exit before usherd's is still reaped and
 * logged.  Logs "stopping: leaving N children of service=NAME running"
 * per service.  Returns how many were let go now.
 */
size_t spawn_leave(struct spawn_set *sp);

#endif
