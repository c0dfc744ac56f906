/*
 * daemon: becoming a daemon, the pidfile, and talking to systemd.
 *
 * Detaching follows the classic rules, with one refinement: the parent
 * does not exit at the fork but waits on a pipe until the daemon reports
 * that its start-up (pidfile, log, listeners) succeeded or why it failed,
 * so the command that started it learns the truth and its exit status.
 *
 * The pidfile is the single-instance lock: a write lock (fcntl) on the
 * whole file, held for the daemon's life.  A lock dies with its process, so
 * a pidfile nobody holds is stale whatever pid it contains.
 */
#ifndef USHER_DAEMON_H
#define USHER_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The default pidfile: /run/usherd.pid for root, else $XDG_RUNTIME_DIR/usherd.pid
 * or /tmp/usherd-UID.pid. */
void pidfile_default(char *buf, size_t size);

struct pidfile {
    int fd;
    char path[PATH_MAX];
};

/*
 * Open and lock `path`, then write our pid into it.  The path is never
 * resolved through a symbolic link, and the file must be a regular file
 * owned by our effective user: anything else at that name may belong to
 * someone who wants us to overwrite (and at exit remove) a file of theirs.
 * Returns 0; or -1 with errno EWOULDBLOCK and *holder set when another
 * live process holds it; ELOOP if `path` is a symbolic link; EPERM if the
 * file belongs to another user; EINVAL if it is not a regular file; or
 * another errno.
 */
int pidfile_take(struct pidfile *pf, const char *path, pid_t *holder);

/* Write `pid` (after a fork changed ours).  Returns 0 or -1 with errno. */
int pidfile_write(struct pidfile *pf, pid_t pid);

/* Remove the file and drop the lock (clean exit). */
void pidfile_release(struct pidfile *pf);

/*
 * The pid holding the lock on `path`: > 0; 0 if nobody does (no file, or
 * a stale one); -1 with errno if the file cannot be read (ELOOP: it is a
 * symbolic link, which is never followed).
 */
pid_t pidfile_holder(const char *path);

/*
 * Fork.  The parent waits for the child's report and exits with it (0, or
 * the status and message the child sent; 1 if it died without one); it
 * never returns.  The child becomes a session leader with no controlling
 * terminal, closes every inherited descriptor above 2 but the first
 * `keep_fds` from 3 (socket activation), and gets the report descriptor.
 * Returns the report descriptor in the child, or -1 with errno (no fork).
 */
int daemon_detach(int keep_fds);

/* In the child: tell the waiting parent (status 0 = started). */
void daemon_report(int report_fd, int status, const char *msg);

/* In the child, once started: chdir("/"), stdin/stdout/stderr on /dev/null. */
int daemon_settle(void);

/*
 * systemd's notify protocol (sd_notify without the library): the first
 * call reads NOTIFY_SOCKET and removes it from the environment; no-op when
 * it is unset.  `state` is e.g. "READY=1\nSTATUS=serving".
 */
void notify_systemd(const char *state);

/*
 * Socket activation: when LISTEN_PID is our pid, the number of descriptors
 * passed from 3 on (LISTEN_FDS), with their names (LISTEN_FDNAMES) in
 * *names (malloc'd, NULL entries where unnamed).  Removes the variables
 * from the environment.  Returns the count, 0 if none; -1 with errno
 * EINVAL when a variable is not a number in range (LISTEN_FDS 0 to
 * SD_LISTEN_FDS_MAX), or EBADF when a descriptor it counts is not open.
 */
#define SD_LISTEN_FDS_MAX 4096
int systemd_listen_fds(char ***names);

#endif
