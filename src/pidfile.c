/*
 * pidfile: the single-instance lock and the pid it records (see pidfile.h).
 */
#include "pidfile.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIDFILE_RETRIES 5

void pidfile_default(char *buf, size_t size)
{
    const char *runtime = getenv("XDG_RUNTIME_DIR");

    if (geteuid() == 0)
        snprintf(buf, size, "/run/usherd.pid");
    else if (runtime != NULL && runtime[0] == '/')
        snprintf(buf, size, "%s/usherd.pid", runtime);
    else
        snprintf(buf, size, "/tmp/usherd-%lu.pid", (unsigned long)geteuid());
}

static struct flock whole_file(short type)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    return fl;
}

/* The pid written in the file, or 0. */
static pid_t read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    int64_t pid;

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return parse_i64(buf, 1, INT32_MAX, &pid) == 0 ? (pid_t)pid : 0;
}

/* Is the file we locked still the one at `path`?  (Its last owner may have
 * removed it between our open and our lock.)  The name is not followed. */
static bool still_linked(int fd, const char *path)
{
    struct stat a, b;

    return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* A regular file of ours, or -1 with errno EINVAL / EPERM (see pidfile_take). */
static int check_ours(int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return -1;
    }
    if (st.st_uid != geteuid()) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

/* O_NONBLOCK: a FIFO put at the name must not hold us in open(2). */
static int open_pidfile(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0644);

    if (fd >= 0 && check_ours(fd) < 0) {
        close_quietly(fd);
        return -1;
    }
    return fd;
}

int pidfile_take(struct pidfile *pf, const char *path, pid_t *holder)
{
    for (int attempt = 0; attempt < PIDFILE_RETRIES; attempt++) {
        struct flock fl = whole_file(F_WRLCK);
        int fd = open_pidfile(path);

        if (fd < 0)
            return -1;
        /*
         * An open file description's lock (not a process's): it belongs to
         * the descriptor, so a successor that inherits the descriptor at an
         * upgrade holds it too, with no moment when it is free.
         */
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
            int err = errno;
            if (err != EAGAIN && err != EACCES) {
                close(fd);
                errno = err;
                return -1;
            }
            fl = whole_file(F_WRLCK);
            *holder = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0
                          ? fl.l_pid
                          : read_pid(fd);
            close(fd);
            errno = EWOULDBLOCK;
            return -1;
        }
        if (!still_linked(fd, path)) {
            close(fd);
            continue;
        }
        pf->fd = fd;
        str_copy(pf->path, sizeof(pf->path), path);
        return pidfile_write(pf, getpid());
    }
    errno = EAGAIN;
    return -1;
}

int pidfile_write(struct pidfile *pf, pid_t pid)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);

    if (ftruncate(pf->fd, 0) < 0)
        return -1;
    if (pwrite(pf->fd, buf, (size_t)n, 0) != n)
        return -1;
    return 0;
}

int pidfile_adopt(struct pidfile *pf, int fd, const char *path)
{
    struct flock fl = whole_file(F_WRLCK);

    /* Ours only if it is the file at the name and its lock is this description's. */
    if (check_ours(fd) < 0 || !still_linked(fd, path) || fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        if (errno == 0 || errno == EAGAIN || errno == EACCES)
            errno = ESTALE;
        return -1;
    }
    if (fd_set_cloexec(fd) < 0)
        return -1;
    pf->fd = fd;
    str_copy(pf->path, sizeof(pf->path), path);
    return 0;
}

void pidfile_disown(struct pidfile *pf)
{
    if (pf->fd < 0)
        return;
    close(pf->fd);
    pf->fd = -1;
}

void pidfile_release(struct pidfile *pf)
{
    if (pf->fd < 0)
        return;
    /* Unlink while still holding the lock, so no one takes over a file that vanishes. */
    if (still_linked(pf->fd, pf->path))
        unlink(pf->path);
    close(pf->fd);
    pf->fd = -1;
}

pid_t pidfile_holder(const char *path)
{
    struct flock fl = whole_file(F_WRLCK);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    pid_t pid;

    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (fcntl(fd, F_GETLK, &fl) < 0) {
        close_quietly(fd);
        return -1;
    }
    if (fl.l_type == F_UNLCK) {
        close(fd);
        return 0;
    }
    /* l_pid is 0 for a holder in another pid namespace: trust the file then. */
    pid = fl.l_pid > 0 ? fl.l_pid : read_pid(fd);
    close(fd);
    return pid;
}
