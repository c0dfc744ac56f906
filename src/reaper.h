/*
 * reaper: the children of a process, by pid, and the function each one's
 * exit is told to.  On SIGCHLD, reaper_reap drains waitpid(-1, WNOHANG)
 * until nothing more has exited and calls each child's function.
 *
 * The table is a struct of whoever runs the loop (the server of each
 * process), never a file-scope global: a forked process forgets its
 * parent's children by resetting it (reaper_forget), with no system call.
 *
 * Invariants: count is the children watched and not yet reaped; a
 * child's function is called once, after its entry is gone, so it may
 * watch another child.
 */
#ifndef USHER_REAPER_H
#define USHER_REAPER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Called when a watched child has exited, with its wait status. */
typedef void reaper_fn(pid_t pid, int status, void *arg);

struct reaper_entry;

struct reaper {
    struct reaper_entry *table; /* open addressing; pid 0 free */
    size_t cap, count;
};

/* Have `fn` called at `pid`'s exit.  Returns 0 or -1 (ENOMEM). */
int reaper_watch(struct reaper *r, pid_t pid, reaper_fn *fn, void *arg);

/* On SIGCHLD: reap every exited child, calling its function (unknown ones are logged). */
void reaper_reap(struct reaper *r);

/* Children watched and not yet reaped. */
size_t reaper_count(const struct reaper *r);

/* Has `reaper` (a struct reaper *) a child watched?  For sig_hold's `expected`. */
bool reaper_watching(void *reaper);

/* Free the table (the children are not waited for). */
void reaper_free(struct reaper *r);

/* In a new child process: the table is the parent's (no free, no system call). */
void reaper_forget(struct reaper *r);

#endif
