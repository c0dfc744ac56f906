/*
 * daemon: detaching, the pidfile lock, systemd notify and socket
 * activation (see daemon.h).
 */
#include "daemon.h"

#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
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
        if (fcntl(fd, F_SETLK, &fl) < 0) {
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

/* Close every descriptor from `first` up. */
static void close_from(int first)
{
    DIR *dir;
    struct dirent *e;

    if (close_range((unsigned)first, ~0U, 0) == 0)
        return;
    /* Older kernels: walk the descriptors that exist, not all 2^30 possible. */
    dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return;
    while ((e = readdir(dir)) != NULL) {
        int64_t fd;
        if (parse_i64(e->d_name, first, INT32_MAX, &fd) == 0 && fd != dirfd(dir))
            close((int)fd);
    }
    closedir(dir);
}

/* In the parent: wait for the child's word, print it, exit with it. */
static void __attribute__((noreturn)) wait_for_report(int fd, pid_t child)
{
    char buf[1024];
    ssize_t n = read_full(fd, buf, sizeof(buf) - 1);
    int status;

    if (n <= 0) {
        if (waitpid(child, &status, WNOHANG) == child && WIFSIGNALED(status))
            fprintf(stderr, "usherd: the daemon died during start-up (signal %d)\n",
                    WTERMSIG(status));
        else
            fprintf(stderr, "usherd: the daemon exited during start-up\n");
        _exit(1);
    }
    buf[n] = '\0';
    if (n > 1)
        fprintf(stderr, "%s\n", buf + 1);
    _exit((unsigned char)buf[0]);
}

int daemon_detach(int keep_fds)
{
    int p[2], report;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close_quietly(p[0]);
        close_quietly(p[1]);
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        wait_for_report(p[0], pid);
    }
    close(p[0]);
    if (setsid() < 0)
        return -1;
    /* Keep the report pipe just above the activation sockets, close the rest. */
    report = 3 + keep_fds;
    if (p[1] != report) {
        if (dup3(p[1], report, O_CLOEXEC) < 0)
            return -1;
        close(p[1]);
    }
    close_from(report + 1);
    return report;
}

void daemon_report(int report_fd, int status, const char *msg)
{
    char buf[1024];
    int n;

    if (report_fd < 0)
        return;
    n = snprintf(buf, sizeof(buf), "%c%s", (char)status, msg ? msg : "");
    if (n > (int)sizeof(buf) - 1)
        n = (int)sizeof(buf) - 1;
    if (write_all(report_fd, buf, (size_t)n) < 0) {
        /* The parent is gone; nobody is left to tell. */
    }
    close(report_fd);
}

int daemon_settle(void)
{
    int null;

    if (chdir("/") < 0)
        return -1;
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return -1;
    for (int fd = 0; fd <= 2; fd++)
        if (dup2(null, fd) < 0) {
            close_quietly(null);
            return -1;
        }
    if (null > 2)
        close(null);
    return 0;
}

void notify_systemd(const char *state)
{
    static bool initialised;
    static struct sockaddr_un sun;
    static socklen_t len;
    static int fd = -1;

    if (!initialised) {
        const char *path = getenv("NOTIFY_SOCKET");
        initialised = true;
        if (path == NULL || (path[0] != '/' && path[0] != '@') ||
            strlen(path) >= sizeof(sun.sun_path))
            return;
        sun.sun_family = AF_UNIX;
        memcpy(sun.sun_path, path, strlen(path));
        if (path[0] == '@')
            sun.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
        /* Our children are not systemd's business. */
        unsetenv("NOTIFY_SOCKET");
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    }
    if (fd < 0)
        return;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len) < 0) {
        /* systemd is not listening; there is no one else to tell. */
    }
}

static void unset_listen_env(void)
{
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
}

static char **split_names(const char *text, int n)
{
    char **names = calloc((size_t)n + 1, sizeof(*names));
    const char *p = text;

    if (names == NULL)
        return NULL;
    for (int i = 0; i < n && p != NULL; i++) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        names[i] = strndup(p, len);
        p = colon ? colon + 1 : NULL;
    }
    return names;
}

int systemd_listen_fds(char ***names)
{
    const char *pid_text = getenv("LISTEN_PID"), *fds_text = getenv("LISTEN_FDS");
    const char *names_text = getenv("LISTEN_FDNAMES");
    int64_t pid, n;

    *names = NULL;
    if (pid_text == NULL || fds_text == NULL)
        return 0;
    if (parse_i64(pid_text, 1, INT32_MAX, &pid) < 0 ||
        parse_i64(fds_text, 0, SD_LISTEN_FDS_MAX, &n) < 0) {
        unset_listen_env();
        errno = EINVAL;
        return -1;
    }
    unset_listen_env();
    if (pid != getpid())
        return 0; /* meant for another process */
    for (int fd = 3; fd < 3 + n; fd++)
        if (fd_set_cloexec(fd) < 0)
            return -1;
    *names = split_names(names_text ? names_text : "", (int)n);
    return (int)n;
}
