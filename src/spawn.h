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
 * exec.  Every child is reaped on SIGCHLD (child_reap), and its end is
 * logged in its connection line (end=exit:N or end=signal:N).
 */
#ifndef USHER_SPAWN_H
#define USHER_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct bound;
struct server;
struct svc;

/* Called when a watched child has exited, with its wait status. */
typedef void child_exit_fn(pid_t pid, int status, void *arg);

/* Have `fn` called at `pid`'s exit.  Returns 0 or -1 (ENOMEM). */
int child_watch(pid_t pid, child_exit_fn *fn, void *arg);

/* On SIGCHLD: reap every exited child, calling its function. */
void child_reap(void);

/* Children started and not yet reaped. */
size_t child_count(void);

/*
 * Serve the accepted socket a->fd with a child running svc's program.
 * Takes the socket (usherd's copy is closed once the child has it) and the
 * address count.  Returns 0,
 * or -1 if no child could be started (logged; the connection is closed).
 */
struct accepted;
int spawn_connection(struct server *srv, struct svc *svc, const struct accepted *a);

/*
 * wait = yes: hand the listening socket of `b` to a child and stop
 * watching it until the child exits.  Returns 0 or -1 (logged).
 */
int spawn_waiting(struct server *srv, struct bound *b);

/* A listener is going away: its waiting child must not come back to it. */
void spawn_forget_bound(struct bound *b);

/* Send `sig` to the process group of every exec child (the stop). */
void spawn_signal_all(int sig);

/* Exec children running, in all. */
size_t spawn_count(void);

/* Free every record (at exit, after the loop). */
void spawn_cleanup(void);

/* In a new child: forget the parent's children and records (no system call). */
void spawn_forget(void);

#endif
