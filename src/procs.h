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
 */
#ifndef USHER_PROCS_H
#define USHER_PROCS_H

#include <stddef.h>

struct accepted;
struct server;
struct svc;

/* model = fork: serve the accepted connection in a new process.  Returns 0 or -1 (logged). */
int procs_fork_connection(struct server *srv, struct svc *svc, const struct accepted *a);

/* Start the event workers and prefork pools the configuration in force asks for. */
int procs_start(struct server *srv);

/* After a reload: the old workers and pools stop gracefully, new ones start. */
void procs_reload(struct server *srv);

/* Signal every worker and prefork process / every fork-model connection process. */
void procs_signal_workers(int sig);
void procs_signal_conns(int sig);
void procs_signal_all(int sig);

/* In a new child: forget the parent's process records (no system call). */
void procs_forget(void);

#endif
