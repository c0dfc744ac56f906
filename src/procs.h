/*
 * procs: the process models beyond the single event loop.
 *
 *   model = fork       a process per connection, running the builtin's code
 *                      in a loop of its own, for that one connection
 *   model = prefork:N  N processes made ahead, each accepting on the
 *                      service's shared listeners and serving one
 *                      connection at a time; one that dies is replaced
 *   workers = N        N event-loop processes under a master that keeps the
 *                      listeners, the signals, reload and the pidfile
 *
 * Listeners are shared, not duplicated with SO_REUSEPORT: each process
 * watches the same sockets with EPOLLEXCLUSIVE, so a connection wakes one
 * process, a reload never has a moment without the socket, and replacing
 * or losing a process never drops the connections waiting in a queue (a
 * SO_REUSEPORT socket takes its queue with it when it closes).
 *
 * A forked process closes every descriptor it was not made for, resets
 * signals, gets a loop of its own, and never touches its parent's (the
 * epoll instance is shared across fork: using it would change the
 * parent's interest list).  Workers get SIGTERM if the master dies.
 *
 * Reload.  A pool whose processes would do under the new configuration
 * exactly what they do now is kept as it is: a prefork pool whose
 * service's definition is unchanged, the event workers when every service
 * they serve is (and their number), and for both the [global] settings
 * they use (shutdown_timeout, max_conns, the log) and the UDP listeners
 * (the loop rule knows their ports).  Any other pool retires: its
 * processes get PROCS_RETIRE_SIGNAL, close their listeners, serve the
 * connections and exec children they have until those end by themselves
 * (idle_timeout, max_time: no shutdown_timeout, no signal to a child) and
 * exit once nothing is left, at once if nothing is; new processes take
 * the listeners meanwhile.  A reload storm is bounded: of one kind (the
 * workers, one service's prefork pool) at most PROCS_RETIRING_MAX
 * generations retire at once; past that the oldest is stopped as at
 * SIGTERM (its connections get shutdown_timeout, then close), logged.  So
 * at most (1 + PROCS_RETIRING_MAX) x N processes of a kind, plus those
 * stopping, which are gone shutdown_timeout + 2 s later at most.  The
 * master's SIGTERM stops the retiring processes too.
 */
#ifndef USHER_PROCS_H
#define USHER_PROCS_H

#include "log.h"

#include <signal.h>
#include <stddef.h>

/* Master to worker or prefork process: retire (SIGHUP is not it: killall -HUP usherd). */
#define PROCS_RETIRE_SIGNAL SIGUSR2
/* Retiring generations of one kind at most (see above). */
#define PROCS_RETIRING_MAX 3

struct conn_proc;
struct pool;
struct server;

/* The processes of the models, kept by the process that made them (main's, passed down). */
struct procs {
    struct server *srv;
    struct conn_proc *conn_procs;        /* model = fork: a process per connection */
    struct pool *pools;                  /* the event workers and the prefork pools, newest first */
    struct log_ratelimit worker_fork_rl; /* the workers are no service's */
};

/*
 * Start keeping the processes of `srv`, and install in it the functions
 * through which it forks a connection's process and signals them all.
 */
void procs_init(struct procs *pr, struct server *srv);

/*
 * Free the records (at exit, after the loop, before the server is freed):
 * the processes are not waited for, nor told anything.
 */
void procs_free(struct procs *pr);

/* Start the event workers and prefork pools the configuration in force asks for. */
int procs_start(struct procs *pr);

/* After a reload: pools that no longer fit the configuration retire, new ones start. */
void procs_reload(struct procs *pr);

#endif
