/*
 * pidfile: the single-instance lock.  A write lock (fcntl, an open file
 * description's lock) on the whole file, held for the daemon's life, and
 * the daemon's pid written in it.  A lock dies with the last descriptor of
 * its description: with the process that took it, or with the successor
 * it handed the descriptor to at an upgrade; so a pidfile nobody holds is
 * stale whatever pid it contains.
 */
#ifndef USHER_PIDFILE_H
#define USHER_PIDFILE_H

#include <limits.h>
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

/*
 * Upgrade, in the successor: take over the pidfile `path` through `fd`, a
 * descriptor of its predecessor's (inherited across exec), whose lock this
 * process then shares.  Returns 0, or -1 with errno (ESTALE: the file at
 * the name is no longer the one locked).
 */
int pidfile_adopt(struct pidfile *pf, int fd, const char *path);

/* Upgrade, in the predecessor: let go of the descriptor, leaving the file to the successor. */
void pidfile_disown(struct pidfile *pf);

/* Remove the file and drop the lock (clean exit). */
void pidfile_release(struct pidfile *pf);

/*
 * The pid holding the lock on `path`: > 0; 0 if nobody does (no file, or
 * a stale one); -1 with errno if the file cannot be read (ELOOP: it is a
 * symbolic link, which is never followed).
 */
pid_t pidfile_holder(const char *path);

#endif
